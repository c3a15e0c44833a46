//! `GET /v1/collections/{name}/analytics` and `POST /v1/collections/{name}/events`;
//! HTTP over [`App::analytics_report`](crate::state::App::analytics_report) and
//! [`App::record_event`](crate::state::App::record_event).

use axum::extract::State;
use axum::http::StatusCode;

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json, QueryParams};
use crate::service::analytics::{AnalyticsParams, AnalyticsReport, EventAccepted, SearchEvent};
use crate::state::AppState;

/// Search analytics
///
/// What was searched in a window of hours: totals, the most searched queries, the
/// queries that found nothing, clicks and click-through. Counted per hour and per
/// query (lower-cased), written in batches off the search path, kept for
/// `SIFT_ANALYTICS_RETENTION`.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}/analytics",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"), AnalyticsParams),
    responses(
        (status = 200, description = "Counts over the window", body = AnalyticsReport),
        (status = 400, description = "`invalid_query_parameter` or `invalid_collection_name`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 503, description = "`server_busy` or `database_unavailable`; see `Retry-After`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn analytics(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    QueryParams(params): QueryParams<AnalyticsParams>,
) -> Result<axum::Json<AnalyticsReport>, ApiError> {
    Ok(axum::Json(state.analytics_report(&name, params).await?))
}

/// Report a click
///
/// The page tells which hit of a search was opened, for click-through in the
/// analytics. Accepted at once (202) and counted off the request path.
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/events",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    request_body = SearchEvent,
    responses(
        (status = 202, description = "Accepted", body = EventAccepted),
        (status = 400, description = "`invalid_json`, `invalid_request_body` or `invalid_collection_name`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    Json(event): Json<SearchEvent>,
) -> Result<(StatusCode, axum::Json<EventAccepted>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(state.record_event(&name, event).await?),
    ))
}
