//! `/v1/keys` and `/v1/keys/{id}`: API keys, over [`crate::service::keys`]. Only the
//! admin key (`SIFT_API_KEY`) may manage keys.

use axum::extract::State;
use axum::http::StatusCode;

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Json, KeyPath};
use crate::service::keys::{CreateKey, CreatedKey, KeyInfo, KeyList};
use crate::state::AppState;

/// Create an API key
///
/// A key granting `actions` on `collections` until `expiresAt`. The answer is the only
/// time the key is shown: only its SHA-256 digest is stored. A key with only `search`
/// is safe to ship in a web page.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    request_body = CreateKey,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = CreatedKey),
        (status = 400, description = "`invalid_json` or `invalid_request_body`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`: not the admin key", body = ErrorResponse),
        (status = 403, description = "`forbidden`: keys are managed with the admin key", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    Json(request): Json<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.create_key(request).await?)))
}

/// List API keys
///
/// Every key, without the keys themselves (their first characters tell them apart).
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Every key", body = KeyList),
        (status = 401, description = "`unauthorized`: not the admin key", body = ErrorResponse),
        (status = 403, description = "`forbidden`: keys are managed with the admin key", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn list_keys(State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(state.list_keys().await?))
}

/// Get an API key
#[utoipa::path(
    get,
    path = "/v1/keys/{id}",
    tag = "keys",
    params(("id" = uuid::Uuid, Path, description = "Key id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The key, without the key itself", body = KeyInfo),
        (status = 400, description = "`invalid_request_body`: not a key id", body = ErrorResponse),
        (status = 401, description = "`unauthorized`: not the admin key", body = ErrorResponse),
        (status = 403, description = "`forbidden`: keys are managed with the admin key", body = ErrorResponse),
        (status = 404, description = "`key_not_found`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn get_key(
    State(state): State<AppState>,
    KeyPath(id): KeyPath,
) -> Result<Json<KeyInfo>, ApiError> {
    Ok(Json(state.key(id).await?))
}

/// Revoke an API key
///
/// The key stops working at once on this replica, within 5 seconds on the others.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    params(("id" = uuid::Uuid, Path, description = "Key id")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`invalid_request_body`: not a key id", body = ErrorResponse),
        (status = 401, description = "`unauthorized`: not the admin key", body = ErrorResponse),
        (status = 403, description = "`forbidden`: keys are managed with the admin key", body = ErrorResponse),
        (status = 404, description = "`key_not_found`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn delete_key(
    State(state): State<AppState>,
    KeyPath(id): KeyPath,
) -> Result<StatusCode, ApiError> {
    state.delete_key(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
