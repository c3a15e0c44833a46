//! `POST /v1/multi-search`: several searches in one round trip, or one merged list;
//! HTTP over [`App::multi_search`](crate::state::App::multi_search).

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::access::{Reach, TenantFilter};
use crate::error::{ApiError, ErrorResponse};
use crate::extract::Json;
#[allow(unused_imports)] // Named by the OpenAPI attributes.
use crate::service::multi_search::{FederatedResults, MultiSearchRequest, MultiSearchResults};
use crate::state::AppState;

/// Several searches at once
///
/// Up to 10 searches, across collections, each the body of a collection search plus
/// its `collection`, answered in one round trip: one result per search, in order.
/// With `federation`, the hits of every search are merged into one list, ordered by
/// ranking score (the ranking rules' verdict in (0, 1], on the same scale in every
/// collection) times each search's `federationOptions.weight`; each hit says where it
/// comes from. A key must be allowed to search every collection named.
#[utoipa::path(
    post,
    path = "/v1/multi-search",
    tag = "search",
    request_body(content = MultiSearchRequest, examples(
        ("searches" = (summary = "Two searches, two results", value = json!({"queries": [
            {"collection": "products", "q": "wireless", "limit": 3},
            {"collection": "products", "q": "lamp", "filter": "price < 100", "limit": 3}]}))),
        ("federated" = (summary = "Two searches, one merged list", value = json!({"federation": {"limit": 5}, "queries": [
            {"collection": "products", "q": "wireless"},
            {"collection": "products", "q": "lamp", "federationOptions": {"weight": 0.5}}]}))),
    )),
    responses(
        (status = 200, description = "One result per search (`results`), or with `federation` one merged list (`hits`)", body = MultiSearchResults),
        (status = 400, description = "`invalid_json`, `invalid_request_body` or a search's own 400; the message names the search (`queries[1]`)", body = ErrorResponse),
        (status = 403, description = "`forbidden`: the key may not search one of the collections", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `index_not_ready`, `search_queue_full` or `database_unavailable`; see `Retry-After`", body = ErrorResponse),
        (status = 504, description = "`consistency_timeout`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn multi_search(
    State(state): State<AppState>,
    // Required: set by the key check on every request it lets through; missing, the
    // request fails rather than reaching every collection.
    Extension(reach): Extension<Reach>,
    tenant: Option<Extension<TenantFilter>>,
    Json(request): Json<MultiSearchRequest>,
) -> Result<Response, ApiError> {
    let tenant = tenant.map(|Extension(filter)| filter);
    let answer = state.multi_search(request, &reach, tenant.as_ref()).await?;
    Ok(axum::Json(answer).into_response())
}
