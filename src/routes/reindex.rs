//! `POST /v1/collections/{name}/reindex`: rebuild a collection's index from PostgreSQL
//! ([`crate::state::App::reindex`]).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json};
use crate::state::AppState;

/// A rebuild was started.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"collection": "products", "status": "rebuilding"}))]
pub struct ReindexStarted {
    pub collection: String,
    /// `rebuilding`; follow it in `GET /v1/collections/{name}` (`stats.indexStatus`).
    pub status: String,
}

/// Rebuild the index
///
/// Builds a new generation of the collection's index from one snapshot of PostgreSQL,
/// catches it up with the change log, and swaps it in. The current index keeps
/// answering searches until the swap. The request moves `settingsGeneration` in
/// PostgreSQL, so a rebuild accepted before a crash or restart is done after it.
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/reindex",
    tag = "collections",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    security(("admin_key" = [])),
    responses(
        (status = 202, description = "The rebuild started; `stats.indexStatus` is `rebuilding` until the swap", body = ReindexStarted),
        (status = 400, description = "`invalid_collection_name`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: a form or plain-text body (writes take JSON or no body)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn reindex(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
) -> Result<(StatusCode, Json<ReindexStarted>), ApiError> {
    state.reindex(&name).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReindexStarted {
            collection: name.to_string(),
            status: "rebuilding".into(),
        }),
    ))
}
