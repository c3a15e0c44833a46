//! Search and suggest: which collection and index, validation against its schema, the
//! consistency wait, the caches, and the bounded queue in front of the blocking pool.
//!
//! Index searches run on the blocking pool behind a bounded permit queue
//! (`SIFT_MAX_SEARCHES`): when it is full, the answer is 503 `search_queue_full`, so a
//! flood of searches cannot starve the async runtime. The request's span goes along
//! to the blocking thread, so a slow search's log lines carry the request id.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::access::TenantFilter;
use crate::cache::CacheOrigin;
use crate::error::ApiError;
use crate::index::CollectionIndex;
use crate::schema::{CollectionName, FieldDefinition, FieldType};
use crate::search::filter::Filter;
use crate::search::highlight::HighlightOptions;
use crate::search::{
    Engine, SearchParams, SearchRequest, SearchResponse, index_engine, normalize_query, sql_engine,
};
use crate::service::elapsed_ms;
use crate::state::App;

/// A tenant token's filter joined to the request's own: both must match. Joined as
/// parsed filters, never as text, so no request filter can escape the tenant's.
pub(crate) fn with_tenant(
    own: Option<Filter>,
    tenant: &TenantFilter,
    schema: &crate::schema::CollectionSchema,
) -> Result<Filter, ApiError> {
    let forced = crate::search::filter::parse(&tenant.0, schema).map_err(|message| {
        ApiError::InvalidFilter(format!("the tenant token's filter: {message}"))
    })?;
    Ok(match own {
        Some(own) => Filter::And(vec![forced, own]),
        None => forced,
    })
}

/// A JSON answer for the HTTP layer: the body (maybe from a cache), where it came
/// from, and this request's time to splice into `tookMs` (none: keep the body's).
#[derive(Debug, Clone)]
pub struct Answer {
    pub json: Arc<[u8]>,
    pub origin: CacheOrigin,
    pub took_ms: Option<f64>,
}

/// The answer to a search as the API sends it: the engine's answer and where it came
/// from.
// The engines know nothing of caches: the `cache` field is spliced into the bytes by
// the HTTP layer (`CachedJson`); this type only describes the result for OpenAPI.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "hits": [{"id": "sku-0042", "score": 7.31, "document": {"id": "sku-0042", "title": "Acme wireless headphones", "category": "audio"},
              "highlights": {"title": "Acme <mark>wireless</mark> <mark>headph</mark>ones"}}],
    "total": 1, "offset": 0, "limit": 20,
    "facets": {"category": [{"value": "audio", "count": 1}]},
    "engine": "index", "tookMs": 0.42, "cache": "miss"
}))]
pub struct SearchAnswer {
    #[serde(flatten)]
    pub response: SearchResponse,
    /// Where the answer came from: `l1` (this process's memory), `l2` (Redis) or
    /// `miss` (computed now; `ilike` and `fts` are never cached).
    pub cache: CacheOrigin,
}

/// Largest `limit` of suggestions.
pub const MAX_SUGGESTIONS: usize = 20;
/// Longest `q` of a suggestion, in characters.
pub const MAX_SUGGEST_CHARS: usize = 100;

/// The parameters of `GET /v1/collections/{name}/suggest`.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// What has been typed so far.
    #[param(example = "wireless headph", max_length = 100)]
    #[validate(length(max = 100, message = "`q` is longer than 100 characters"))]
    pub q: String,
    /// Completions to return, 1 to 20 (default 5).
    #[param(minimum = 1, maximum = 20, example = 5)]
    #[validate(range(min = 1, max = 20, message = "`limit` must be from 1 to 20"))]
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

/// Completions, best first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"suggestions": [{"id": "sku-0042", "text": "Acme wireless headphones",
    "highlighted": "Acme <mark>wireless</mark> <mark>headph</mark>ones"}], "tookMs": 0.31, "cache": "l1"}))]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
    /// Time spent answering, in milliseconds, server side. The last field but one: a
    /// cached answer gets this request's time spliced in here.
    pub took_ms: f64,
    /// Where the answer came from: `l1`, `l2` or `miss`.
    pub cache: CacheOrigin,
}

impl App {
    /// Answers a search on collection `name` with the engine the request names.
    #[tracing::instrument(name = "search", skip_all, fields(collection = %name, engine))]
    pub async fn search(
        &self,
        name: &CollectionName,
        params: SearchParams,
        tenant: Option<&TenantFilter>,
    ) -> Result<Answer, ApiError> {
        let started = Instant::now();
        // The index knows the schema: no database round trip for index searches.
        let index = self.indexes.get(name.as_str());
        let spec = index.as_ref().map(|index| index.spec());
        let loaded;
        let (collection_id, schema) = match &spec {
            Some(spec) => (spec.collection_id, &spec.schema),
            None => {
                loaded = self.collection(name).await?;
                (loaded.id, &loaded.schema)
            }
        };
        let use_cache = params.cache.unwrap_or(true);
        let mut request = params.validate(schema)?;
        if let Some(tenant) = tenant {
            request.filter = Some(with_tenant(request.filter.take(), tenant, schema)?);
            // A disjunctive facet drops the request's conditions on itself, never the
            // tenant's: each facet's own filter gets the tenant's joined as well.
            for (_, own) in &mut request.disjunctive {
                *own = Some(with_tenant(own.take(), tenant, schema)?);
            }
        }
        tracing::Span::current().record("engine", request.engine.as_str());
        // Counted once answered (placeholder searches, with no words, are page loads
        // and facet clicks, not queries).
        let query = normalize_query(&request.q);
        let answer: Answer = match request.engine {
            Engine::Index => {
                let index = self.index_for(name, index.clone(), request.after).await?;
                let (json, origin) = if use_cache {
                    // The epoch is read before searching: the searcher is at least there.
                    let key = self
                        .caches
                        .keys
                        .search(index.epoch(), &request.fingerprint());
                    let cached = self
                        .caches
                        .response("search", key, || async {
                            let response = self.search_index(index, request).await?;
                            metrics::histogram!("search_duration_seconds", "engine" => "index")
                                .record(response.took_ms / 1000.0);
                            serde_json::to_vec(&response).map_err(ApiError::internal)
                        })
                        .await
                        .map_err(ApiError::from_shared)?;
                    (cached.json, cached.origin)
                } else {
                    let response = self.search_index(index, request).await?;
                    let json = serde_json::to_vec(&response).map_err(ApiError::internal)?;
                    (json.into(), CacheOrigin::Miss)
                };
                Answer {
                    json,
                    origin,
                    took_ms: Some(elapsed_ms(started)),
                }
            }
            Engine::Ilike | Engine::Fts => {
                let _permit = self.search_permit()?;
                let response =
                    sql_engine::search(&self.db, collection_id, schema, &request).await?;
                metrics::histogram!("search_duration_seconds", "engine" => response.engine.as_str())
                    .record(response.took_ms / 1000.0);
                let json = serde_json::to_vec(&response).map_err(ApiError::internal)?;
                Answer {
                    json: json.into(),
                    origin: CacheOrigin::Miss,
                    took_ms: None,
                }
            }
        };
        if let Some(analytics) = &self.analytics
            && !query.is_empty()
        {
            analytics.record(crate::analytics::Event::Search {
                collection_id,
                query,
                answer: answer.json.clone(),
            });
        }
        Ok(answer)
    }

    /// Type-ahead completions on collection `name`: the display field (the text field
    /// with the highest boost) of the best matching documents, the typed part marked.
    #[tracing::instrument(name = "suggest", skip_all, fields(collection = %name))]
    pub async fn suggest(
        &self,
        name: &CollectionName,
        params: SuggestParams,
        tenant: Option<&TenantFilter>,
    ) -> Result<Answer, ApiError> {
        let started = Instant::now();
        params.validate().map_err(|errors| {
            match crate::validation::first_error(&errors, &["q"]) {
                Some((field, message)) if field == "q" => ApiError::InvalidSearchQuery(message),
                Some((_, message)) => ApiError::InvalidQueryParameter(message),
                None => ApiError::InvalidQueryParameter("invalid parameters".into()),
            }
        })?;
        let limit = params.limit.unwrap_or(5);
        let Some(index) = self.indexes.get(name.as_str()) else {
            // Distinguish a missing collection from one whose index is being built.
            self.collection(name).await?;
            return Err(ApiError::IndexNotReady(name.to_string()));
        };
        let filter = tenant
            .map(|tenant| with_tenant(None, tenant, &index.spec().schema))
            .transpose()?;
        let fingerprint = format!(
            "q={}\u{1f}limit={limit}\u{1f}filter={filter:?}",
            normalize_query(&params.q)
        );
        let key = self.caches.keys.suggest(index.epoch(), &fingerprint);
        let cached = self
            .caches
            .response("suggest", key, || async {
                let suggestions = self
                    .compute_suggestions(index, params.q, limit, filter)
                    .await?;
                serde_json::to_vec(&suggestions).map_err(ApiError::internal)
            })
            .await
            .map_err(ApiError::from_shared)?;
        Ok(Answer {
            json: cached.json,
            origin: cached.origin,
            took_ms: Some(elapsed_ms(started)),
        })
    }

    /// The index to search: the collection's current one, after waiting (bounded) for
    /// the write named by `after`.
    async fn index_for(
        &self,
        name: &CollectionName,
        index: Option<Arc<CollectionIndex>>,
        after: Option<u64>,
    ) -> Result<Arc<CollectionIndex>, ApiError> {
        let timeout = self.config.consistency_timeout;
        let timed_out = |_| ApiError::ConsistencyTimeout(timeout.as_millis() as u64);
        let index = match (index, after) {
            (Some(index), _) => index,
            // A token names a write: wait for the collection's first index too.
            (None, Some(_)) => tokio::time::timeout(timeout, self.indexes.wait_for(name.as_str()))
                .await
                .map_err(timed_out)?,
            (None, None) => return Err(ApiError::IndexNotReady(name.to_string())),
        };
        let Some(token) = after else {
            return Ok(index);
        };
        let mut progress = index.subscribe();
        self.indexer.wake(index.spec().collection_id);
        match tokio::time::timeout(timeout, progress.wait_for(|p| p.horizon > token)).await {
            // `Err` inside: the generation was replaced while waiting; the new one has
            // caught up further.
            Ok(_) => {}
            Err(elapsed) => return Err(timed_out(elapsed)),
        }
        // A rebuild may have swapped generations while waiting.
        Ok(self.indexes.get(name.as_str()).unwrap_or(index))
    }

    /// A place in the bounded search queue, or 503 `search_queue_full`.
    pub(crate) fn search_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.search_permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::SearchQueueFull)
    }

    /// Runs a search on an index on the blocking pool, holding a place in the queue.
    async fn search_index(
        &self,
        index: Arc<CollectionIndex>,
        request: SearchRequest,
    ) -> Result<SearchResponse, ApiError> {
        let permit = self.search_permit()?;
        metrics::counter!("search_index_runs_total", "collection" => index.spec().name.clone())
            .increment(1);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| index_engine::search(&index, &request))
        })
        .in_current_span()
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
    }

    /// Runs the suggestion search on the index.
    async fn compute_suggestions(
        &self,
        index: Arc<CollectionIndex>,
        q: String,
        limit: usize,
        filter: Option<Filter>,
    ) -> Result<Suggestions, ApiError> {
        let display = display_field(index.spec().schema.fields());
        let request = SearchRequest {
            filter,
            highlight: Some(HighlightOptions {
                typed_part_only: true,
                ..HighlightOptions::default()
            }),
            // More hits than asked: several documents often share a title, and a
            // suggestion list shows each text once.
            ..SearchRequest::index(q, (limit * SUGGEST_OVERFETCH).min(100))
        };
        let response = self.search_index(index, request).await?;
        let mut seen = std::collections::HashSet::new();
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
            .filter(|suggestion| seen.insert(suggestion.text.trim().to_lowercase()))
            .take(limit)
            .collect();
        Ok(Suggestions {
            suggestions,
            took_ms: response.took_ms,
            cache: CacheOrigin::Miss,
        })
    }
}

/// How many hits a suggestion list looks at per suggestion it shows (repeated texts are
/// shown once).
const SUGGEST_OVERFETCH: usize = 4;

/// The text field with the highest boost (the first of equals): what suggestions show.
fn display_field(fields: &[FieldDefinition]) -> String {
    let text: Vec<&FieldDefinition> = fields
        .iter()
        .filter(|f| f.field_type == FieldType::Text)
        .collect();
    // A field named like a title says what a document is; boosts say what matters for
    // ranking (boosting `author` must not title every card with an author).
    ["title", "name", "label", "heading"]
        .iter()
        .find_map(|wanted| text.iter().find(|f| f.name.eq_ignore_ascii_case(wanted)))
        .or_else(|| text.first())
        .map(|f| f.name.clone())
        .unwrap_or_default()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: serde_json::Value) -> Vec<FieldDefinition> {
        serde_json::from_value(json).expect("fields")
    }

    #[test]
    fn the_display_field_is_the_title_not_the_most_boosted_field() {
        let boosted_author = fields(serde_json::json!([
            {"name": "author", "type": "text", "boost": 5.0},
            {"name": "title", "type": "text"},
            {"name": "body", "type": "text", "boost": 2.0}
        ]));
        assert_eq!(display_field(&boosted_author), "title");
        let no_title = fields(serde_json::json!([
            {"name": "sku", "type": "keyword"},
            {"name": "summary", "type": "text"},
            {"name": "notes", "type": "text", "boost": 9.0}
        ]));
        assert_eq!(
            display_field(&no_title),
            "summary",
            "the first text field declared"
        );
    }
}
