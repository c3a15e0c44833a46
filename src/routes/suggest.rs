//! `GET /v1/collections/{name}/suggest`: type-ahead completions, built for one
//! request per keystroke: the best matching documents' display field (the text field
//! with the highest boost) with the typed part marked.

use std::time::Instant;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::cache::keys::Epoch;
use crate::cache::{CacheOrigin, CachedJson, elapsed_ms};
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, QueryParams};
use crate::schema::FieldType;
use crate::search::SearchRequest;
use crate::search::highlight::HighlightOptions;
use crate::state::AppState;

/// Largest `limit` of suggestions.
pub const MAX_SUGGESTIONS: usize = 20;
/// Longest `q`, in characters.
pub const MAX_SUGGEST_CHARS: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// What has been typed so far.
    #[param(example = "wireless headph")]
    pub q: String,
    /// Completions to return, 1 to 20 (default 5).
    #[param(minimum = 1, maximum = 20, example = 5)]
    pub limit: Option<usize>,
}

/// One completion.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    /// The document it comes from.
    pub id: String,
    /// The display field's text.
    pub text: String,
    /// The same text, HTML-escaped, with the typed part in `<mark>`.
    pub highlighted: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"suggestions": [{"id": "sku-0042", "text": "Acme wireless headphones",
    "highlighted": "Acme <mark>wireless</mark> <mark>headph</mark>ones"}], "tookMs": 0.31, "cache": "l1"}))]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
    /// Time spent answering, in milliseconds, server side.
    pub took_ms: f64,
    /// Where the answer came from: `l1`, `l2` or `miss`.
    pub cache: CacheOrigin,
}

/// Type-ahead suggestions
///
/// Completions for what was typed: the display field (the text field with the
/// highest boost) of the best matching documents, with typo tolerance and the last
/// word as a prefix, the typed part marked.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}/suggest",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", example = "products"), SuggestParams),
    responses(
        (status = 200, description = "Completions, best first", body = Suggestions,
            headers(("x-cache" = String, description = "`l1`, `l2` or `miss`, as the `cache` field"))),
        (status = 400, description = "`invalid_query_parameter`, `invalid_search_query` or `invalid_collection_name`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 503, description = "`index_not_ready` or `search_queue_full`; see `Retry-After`", body = ErrorResponse),
    )
)]
pub async fn suggest(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    QueryParams(params): QueryParams<SuggestParams>,
) -> Result<CachedJson, ApiError> {
    let started = Instant::now();
    if params.q.chars().count() > MAX_SUGGEST_CHARS {
        return Err(ApiError::InvalidSearchQuery(format!(
            "`q` is longer than {MAX_SUGGEST_CHARS} characters"
        )));
    }
    let limit = params.limit.unwrap_or(5);
    if !(1..=MAX_SUGGESTIONS).contains(&limit) {
        return Err(ApiError::InvalidQueryParameter(format!(
            "`limit` must be from 1 to {MAX_SUGGESTIONS}, got {limit}"
        )));
    }
    let Some(index) = state.indexes.get(name.as_str()) else {
        // Distinguish a missing collection from one whose index is being built.
        crate::routes::collections::load(&state, &name).await?;
        return Err(ApiError::IndexNotReady(name.to_string()));
    };
    let key = state
        .caches
        .keys
        .suggest(Epoch::of(&index), &params.q, limit);
    let cached = state
        .caches
        .response("suggest", key, || async {
            let suggestions = compute(&state, index, params.q, limit).await?;
            serde_json::to_vec(&suggestions).map_err(ApiError::internal)
        })
        .await?;
    Ok(CachedJson::new(
        &cached.json,
        cached.origin,
        Some(elapsed_ms(started)),
    ))
}

/// Runs the suggestion search on the index.
async fn compute(
    state: &AppState,
    index: std::sync::Arc<crate::index::CollectionIndex>,
    q: String,
    limit: usize,
) -> Result<Suggestions, ApiError> {
    let display = index
        .spec
        .schema
        .fields()
        .iter()
        .filter(|f| f.field_type == FieldType::Text)
        .fold(
            None::<&crate::schema::FieldDefinition>,
            |best, f| match best {
                Some(b) if b.boost >= f.boost => Some(b),
                _ => Some(f),
            },
        )
        .map(|f| f.name.clone())
        .unwrap_or_default();
    let request = SearchRequest {
        highlight: Some(HighlightOptions {
            typed_part_only: true,
            ..HighlightOptions::default()
        }),
        ..SearchRequest::index(q, limit)
    };
    let response = crate::routes::search::search_index(state, index, request).await?;
    let suggestions = response
        .hits
        .into_iter()
        .filter_map(|hit| {
            let text = match &hit.document[&display] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => return None,
            };
            let highlighted = hit
                .highlights
                .get(&display)
                .cloned()
                .unwrap_or_else(|| html_escape(&text));
            Some(Suggestion {
                id: hit.id,
                text,
                highlighted,
            })
        })
        .collect();
    Ok(Suggestions {
        suggestions,
        took_ms: response.took_ms,
        cache: CacheOrigin::Miss,
    })
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
