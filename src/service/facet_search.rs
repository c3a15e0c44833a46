//! `POST /v1/collections/{name}/facet-search`: the values of a keyword facet that
//! begin with what was typed, counted over a search's matches (see
//! [`crate::search::facet_search`]). Not cached: a filter panel's box asks once per
//! keystroke, and each answer is one pass over the matches.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;
use validator::Validate;

use crate::access::TenantFilter;
use crate::error::ApiError;
use crate::schema::{CollectionName, FieldType};
use crate::search::{FacetCount, SearchParams, facet_search};
use crate::service::elapsed_ms;
use crate::service::search::with_tenant;
use crate::state::App;

/// What to look for among a facet's values, and over which documents.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"facetName": "category", "facetQuery": "aud", "q": "", "limit": 10}))]
pub struct FacetSearchParams {
    /// A keyword field declared `facet`.
    #[schema(example = "category")]
    pub facet_name: String,
    /// What was typed of a value: each word the start of a word of the value, with typos
    /// as the collection allows them. Empty: every value.
    #[schema(example = "aud", max_length = 100)]
    #[validate(length(max = 100, message = "`facetQuery` is longer than 100 characters"))]
    pub facet_query: Option<String>,
    /// The search whose matches are counted: words as in a search (default: every
    /// document).
    #[schema(example = "", max_length = 512)]
    pub q: Option<String>,
    /// A filter on the documents counted, as in a search.
    #[schema(example = "price < 100")]
    pub filter: Option<String>,
    /// Values to return, 1 to 100 (default 10), the most frequent first.
    #[schema(minimum = 1, maximum = 100, example = 10)]
    #[validate(range(min = 1, max = 100, message = "`limit` must be from 1 to 100"))]
    pub limit: Option<usize>,
}

/// The values found, most frequent first (equal counts by value).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"facetHits": [{"value": "audio", "count": 12}], "facetQuery": "aud", "tookMs": 0.4}))]
pub struct FacetSearchAnswer {
    pub facet_hits: Vec<FacetCount>,
    pub facet_query: String,
    pub took_ms: f64,
}

impl App {
    /// Searches the values of a facet of collection `name`.
    #[tracing::instrument(name = "facet_search", skip_all, fields(collection = %name))]
    pub async fn facet_search(
        &self,
        name: &CollectionName,
        params: FacetSearchParams,
        tenant: Option<&TenantFilter>,
    ) -> Result<FacetSearchAnswer, ApiError> {
        let started = Instant::now();
        params.validate().map_err(|errors| {
            ApiError::InvalidRequestBody(
                crate::validation::first_error(&errors, &["facet_query", "limit"])
                    .map(|(_, message)| message)
                    .unwrap_or_else(|| "invalid facet search".into()),
            )
        })?;
        let Some(index) = self.indexes.get(name.as_str()) else {
            // Distinguish a missing collection from one whose index is being built.
            self.collection(name).await?;
            return Err(ApiError::IndexNotReady(name.to_string()));
        };
        let schema = &index.spec().schema;
        let facet = match schema.field(&params.facet_name) {
            Some(f) if f.facet && f.field_type == FieldType::Keyword => f.name.clone(),
            _ => {
                return Err(ApiError::InvalidFacets(format!(
                    "`facetName`: `{}` is not a keyword field declared with \"facet\": true",
                    crate::schema::truncate(&params.facet_name, 40)
                )));
            }
        };
        // The documents counted are a search's: its checks (length, NUL, the filter).
        let mut request = SearchParams {
            q: params.q,
            filter: params.filter,
            limit: Some(1),
            highlight: Some(false),
            ..SearchParams::default()
        }
        .validate(schema)?;
        if let Some(tenant) = tenant {
            request.filter = Some(with_tenant(request.filter.take(), tenant, schema)?);
        }
        let facet_query = params.facet_query.unwrap_or_default();
        let limit = params.limit.unwrap_or(10);
        let permit = self.search_permit()?;
        let span = tracing::Span::current();
        let typed = facet_query.clone();
        let facet_hits = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| facet_search::facet_search(&index, &request, &facet, &typed, limit))
        })
        .in_current_span()
        .await
        .map_err(ApiError::internal)??;
        Ok(FacetSearchAnswer {
            facet_hits,
            facet_query,
            took_ms: elapsed_ms(started),
        })
    }
}
