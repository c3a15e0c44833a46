//! `GET` and `POST /v1/collections/{name}/search`.
//!
//! Index searches run on the blocking pool behind a bounded permit queue
//! (`SIFT_MAX_SEARCHES`): when it is full, the answer is 503 `search_queue_full` with
//! `Retry-After`, so a flood of searches cannot starve the async runtime.

use std::sync::Arc;

use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use crate::cache::keys::Epoch;
use crate::cache::{CacheOrigin, CachedJson, X_CACHE, elapsed_ms};

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json, QueryParams};
use crate::index::CollectionIndex;
use crate::routes::collections::load as load_collection;
use crate::schema::{CollectionName, CollectionSchema};
use crate::search::{
    Engine, RequestProblem, SearchParams, SearchRequest, SearchResponse, index_engine, sql_engine,
};
use crate::state::AppState;

impl From<RequestProblem> for ApiError {
    fn from(problem: RequestProblem) -> Self {
        match problem {
            RequestProblem::Query(m) => ApiError::InvalidSearchQuery(m),
            RequestProblem::Filter(m) => ApiError::InvalidFilter(m),
            RequestProblem::Sort(m) => ApiError::InvalidSort(m),
            RequestProblem::Facets(m) => ApiError::InvalidFacets(m),
            RequestProblem::Parameter(m) => ApiError::InvalidQueryParameter(m),
        }
    }
}

/// Waits until the index has applied every transaction up to `token`.
async fn wait_for(state: &AppState, index: &CollectionIndex, token: u64) -> Result<(), ApiError> {
    let timeout = state.config.consistency_timeout;
    let mut progress = index.subscribe();
    state.indexer.wake(index.spec.collection_id);
    let reached = tokio::time::timeout(timeout, progress.wait_for(|p| p.horizon > token)).await;
    match reached {
        Ok(Ok(_)) => Ok(()),
        // The generation was replaced while waiting; the new one has caught up further.
        Ok(Err(_)) => Ok(()),
        Err(_) => Err(ApiError::ConsistencyTimeout(timeout.as_millis() as u64)),
    }
}

/// A place in the bounded search queue, or 503 `search_queue_full`.
fn search_permit(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    state
        .search_permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::SearchQueueFull)
}

/// Runs a search on an index on the blocking pool, holding a place in the queue.
/// Shared by search and suggest.
pub(crate) async fn search_index(
    state: &AppState,
    index: Arc<CollectionIndex>,
    request: SearchRequest,
) -> Result<SearchResponse, ApiError> {
    let permit = search_permit(state)?;
    metrics::counter!("search_index_runs_total", "collection" => index.spec.name.clone())
        .increment(1);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        index_engine::search(&index, &request)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| match error {
        index_engine::SearchError::SubstringNotEnabled => {
            ApiError::InvalidQueryParameter(error.to_string())
        }
        index_engine::SearchError::TooBroad(_) => ApiError::InvalidSearchQuery(error.to_string()),
        index_engine::SearchError::Index(_) => ApiError::internal(error),
    })
}

async fn run(
    state: AppState,
    name: CollectionName,
    params: SearchParams,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // The index knows the schema: no database round trip for index searches.
    let index = state.indexes.get(name.as_str());
    let loaded: CollectionSchema;
    let (collection_id, schema): (i64, &CollectionSchema) = match &index {
        Some(index) => (index.spec.collection_id, &index.spec.schema),
        None => {
            let record = load_collection(&state, &name).await?;
            loaded = CollectionSchema::from_stored(record.fields.0);
            (record.id, &loaded)
        }
    };
    let use_cache = params.cache.unwrap_or(true);
    let request: SearchRequest = params.validate(schema)?;
    match request.engine {
        Engine::Index => {
            let index: Arc<CollectionIndex> = match (&index, request.after) {
                (Some(index), _) => index.clone(),
                // A token names a write: wait for the collection's first index too.
                (None, Some(_)) => {
                    let timeout = state.config.consistency_timeout;
                    tokio::time::timeout(timeout, state.indexes.wait_for(name.as_str()))
                        .await
                        .map_err(|_| ApiError::ConsistencyTimeout(timeout.as_millis() as u64))?
                }
                (None, None) => return Err(ApiError::IndexNotReady(name.to_string())),
            };
            if let Some(token) = request.after {
                wait_for(&state, &index, token).await?;
            }
            // A rebuild may have swapped generations while waiting.
            let index = state.indexes.get(name.as_str()).unwrap_or(index);
            if !use_cache {
                let response = search_index(&state, index, request).await?;
                let json = serde_json::to_vec(&response).map_err(ApiError::internal)?;
                return Ok(
                    CachedJson::new(&json, CacheOrigin::Miss, Some(elapsed_ms(started)))
                        .into_response(),
                );
            }
            // The epoch is read before searching: the searcher is at least there.
            let key = state.caches.keys.search(Epoch::of(&index), &request);
            let cached = state
                .caches
                .response("search", key, || async {
                    let response = search_index(&state, index, request).await?;
                    metrics::histogram!("search_duration_seconds", "engine" => "index")
                        .record(response.took_ms / 1000.0);
                    serde_json::to_vec(&response).map_err(ApiError::internal)
                })
                .await?;
            Ok(
                CachedJson::new(&cached.json, cached.origin, Some(elapsed_ms(started)))
                    .into_response(),
            )
        }
        Engine::Ilike | Engine::Fts => {
            let _permit = search_permit(&state)?;
            let response = sql_engine::search(&state.db, collection_id, schema, &request).await?;
            metrics::histogram!("search_duration_seconds", "engine" => engine_label(response.engine))
                .record(response.took_ms / 1000.0);
            let mut response = Json(response).into_response();
            response.headers_mut().insert(
                X_CACHE,
                HeaderValue::from_static(CacheOrigin::Miss.as_str()),
            );
            Ok(response)
        }
    }
}

fn engine_label(engine: Engine) -> &'static str {
    match engine {
        Engine::Index => "index",
        Engine::Ilike => "ilike",
        Engine::Fts => "fts",
    }
}

/// Search a collection
///
/// Ranked search. With `engine=index` (default): BM25 over the text fields weighted by
/// boost, typo tolerance by word length, the last word as a prefix, highlights,
/// filters, facets and sorting. `engine=ilike` and `engine=fts` answer the same
/// request from PostgreSQL (an `ILIKE` scan; full-text search), in the same shape, for
/// comparison.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}/search",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", example = "products"), SearchParams),
    responses(
        (status = 200, description = "Hits, total, facets, timing and where the answer came from", body = SearchResponse,
            headers(("x-cache" = String, description = "`l1`, `l2` or `miss`, as the `cache` field"))),
        (status = 400, description = "`invalid_query_parameter`, `invalid_search_query`, `invalid_filter`, `invalid_sort`, `invalid_facets` or `invalid_collection_name`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_filter", "message": "`filter`: unknown field `colour`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 503, description = "`index_not_ready`, `search_queue_full` or `database_unavailable`; see `Retry-After`", body = ErrorResponse),
        (status = 504, description = "`consistency_timeout`: the write named by `after` was not indexed in time", body = ErrorResponse),
    )
)]
pub async fn search_get(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Response, ApiError> {
    run(state, name, params).await
}

/// Search a collection (JSON body)
///
/// The same search as `GET`, with the parameters in a JSON body (handy for long
/// filters).
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/search",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", example = "products")),
    request_body(content = SearchParams, example = json!({"q": "wireless headph", "filter": "price < 100", "facets": "category", "limit": 10})),
    responses(
        (status = 200, description = "Hits, total, facets, timing and where the answer came from", body = SearchResponse,
            headers(("x-cache" = String, description = "`l1`, `l2` or `miss`, as the `cache` field"))),
        (status = 400, description = "`invalid_json`, `invalid_request_body`, `invalid_query_parameter`, `invalid_search_query`, `invalid_filter`, `invalid_sort` or `invalid_facets`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 503, description = "`index_not_ready`, `search_queue_full` or `database_unavailable`; see `Retry-After`", body = ErrorResponse),
        (status = 504, description = "`consistency_timeout`", body = ErrorResponse),
    )
)]
pub async fn search_post(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    Json(params): Json<SearchParams>,
) -> Result<Response, ApiError> {
    run(state, name, params).await
}
