//! `GET` and `POST /v1/collections/{name}/search`: HTTP over
//! [`App::search`](crate::state::App::search), which owns the engines, caches and the
//! bounded search queue.

use axum::Extension;
use axum::extract::State;

use crate::access::TenantFilter;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json, QueryParams};
use crate::routes::cached_json::CachedJson;
use crate::search::SearchParams;
#[allow(unused_imports)] // `SearchAnswer` is named by the OpenAPI attributes.
use crate::service::search::SearchAnswer;
use crate::state::AppState;

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
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"), SearchParams),
    responses(
        (status = 200, description = "Hits, total, facets, timing and where the answer came from", body = SearchAnswer,
            headers(("x-cache" = String, description = "`l1`, `l2` or `miss`, as the `cache` field"))),
        (status = 400, description = "`invalid_query_parameter`, `invalid_search_query`, `invalid_filter`, `invalid_sort`, `invalid_facets` or `invalid_collection_name`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_filter", "message": "`filter`: unknown field `colour`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `index_not_ready`, `search_queue_full` or `database_unavailable`; see `Retry-After`", body = ErrorResponse),
        (status = 504, description = "`consistency_timeout`: the write named by `after` was not indexed in time", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn search_get(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    QueryParams(params): QueryParams<SearchParams>,
    tenant: Option<Extension<TenantFilter>>,
) -> Result<CachedJson, ApiError> {
    let tenant = tenant.map(|Extension(filter)| filter);
    Ok(state.search(&name, params, tenant.as_ref()).await?.into())
}

/// Search a collection (JSON body)
///
/// The same search as `GET`, with the parameters in a JSON body (handy for long
/// filters).
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/search",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    request_body(content = SearchParams, example = json!({"q": "wireless headph", "filter": "price < 100", "facets": "category", "limit": 10})),
    responses(
        (status = 200, description = "Hits, total, facets, timing and where the answer came from", body = SearchAnswer,
            headers(("x-cache" = String, description = "`l1`, `l2` or `miss`, as the `cache` field"))),
        (status = 400, description = "`invalid_json`, `invalid_request_body`, `invalid_query_parameter`, `invalid_search_query`, `invalid_filter`, `invalid_sort` or `invalid_facets`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `index_not_ready`, `search_queue_full` or `database_unavailable`; see `Retry-After`", body = ErrorResponse),
        (status = 504, description = "`consistency_timeout`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn search_post(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    tenant: Option<Extension<TenantFilter>>,
    Json(params): Json<SearchParams>,
) -> Result<CachedJson, ApiError> {
    let tenant = tenant.map(|Extension(filter)| filter);
    Ok(state.search(&name, params, tenant.as_ref()).await?.into())
}
