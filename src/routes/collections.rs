//! `/v1/collections` and `/v1/collections/{name}`: HTTP over
//! [`crate::service::collections`] (create, list, read, change and delete).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;

use crate::access::Reach;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json};
use crate::service::collections::{Collection, CollectionList, CreateCollection, UpdateCollection};
use crate::state::AppState;

/// Create a collection
///
/// Validates the schema (name, unique field names, known types, boosts in (0, 100],
/// at least one `text` field) and stores it.
#[utoipa::path(
    post,
    path = "/v1/collections",
    tag = "collections",
    request_body = CreateCollection,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created", body = Collection),
        (status = 400, description = "`invalid_json`, `invalid_request_body`, `invalid_collection_name` or `invalid_schema`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_schema", "message": "a collection needs at least one field of type `text`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 409, description = "`collection_already_exists`", body = ErrorResponse,
            example = json!({"error": {"code": "collection_already_exists", "message": "collection `products` already exists", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn create_collection(
    State(state): State<AppState>,
    Json(request): Json<CreateCollection>,
) -> Result<(StatusCode, Json<Collection>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.create_collection(request).await?),
    ))
}

/// List collections
///
/// The collections the request may read, by name, without statistics (ask for one
/// collection to get them): every collection for the admin key (or when reads are open
/// and no key is sent); for an API key, those its `collections` patterns match, when it
/// grants `collections.read`, as Meilisearch lists only the indexes a key reaches.
#[utoipa::path(
    get,
    path = "/v1/collections",
    tag = "collections",
    responses(
        (status = 200, description = "The collections the request may read (an empty list when there are none)", body = CollectionList),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn list_collections(
    State(state): State<AppState>,
    // Required: set by the key check on every request it lets through; missing, the
    // request fails rather than listing every collection.
    Extension(reach): Extension<Reach>,
) -> Result<Json<CollectionList>, ApiError> {
    Ok(Json(state.list_collections(&reach).await?))
}

/// Get a collection
///
/// The collection with its statistics: documents in PostgreSQL and in the index,
/// index size, watermark and lag.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}",
    tag = "collections",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    responses(
        (status = 200, description = "The collection", body = Collection),
        (status = 400, description = "`invalid_collection_name`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse,
            example = json!({"error": {"code": "collection_not_found", "message": "collection `products` not found", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn get_collection(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
) -> Result<Json<Collection>, ApiError> {
    Ok(Json(state.collection_with_stats(&name).await?))
}

/// Change a collection's settings
///
/// Changes fields, boosts, typo tolerance, synonyms, stop words, ranking rules or the
/// matching strategy; keys left out keep their value. Moves the settings generation.
/// What is read at query time (ranking rules, matching strategy, typo tolerance,
/// synonyms, boosts, a field made filterable, sortable or a facet) applies without a
/// rebuild: the answer comes once this replica's index reads it (up to 5 s). A change
/// of what is indexed (fields added, dropped or retyped, `typeAhead`, `searchable`,
/// stop words, the substring index) rebuilds the index from PostgreSQL in the
/// background while the current one answers, so nothing is re-imported.
/// Fields added or changing type are first checked against every stored document
/// (writes to the collection wait meanwhile); a change some document does not fit is
/// refused with 409 `schema_conflict`, giving the count and three ids.
#[utoipa::path(
    patch,
    path = "/v1/collections/{name}",
    tag = "collections",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    request_body = UpdateCollection,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The changed collection", body = Collection),
        (status = 400, description = "`invalid_json`, `invalid_request_body`, `invalid_collection_name`, `invalid_schema` (new `fields` break a rule) or `invalid_settings`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_settings", "message": "boosts: the collection has no field `titel`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 409, description = "`schema_conflict`: stored documents do not fit the new fields", body = ErrorResponse,
            example = json!({"error": {"code": "schema_conflict", "message": "4 stored documents do not fit the new fields, such as `a1` (field `code` must be an integer, got a string), `a2` (field `code` must be an integer, got a string), `a3` (field `code` must be an integer, got a string); change or delete them first, or keep the field as it was", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn update_collection(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    Json(request): Json<UpdateCollection>,
) -> Result<Json<Collection>, ApiError> {
    Ok(Json(state.update_collection(&name, request).await?))
}

/// Delete a collection
///
/// Deletes the collection and all its documents.
#[utoipa::path(
    delete,
    path = "/v1/collections/{name}",
    tag = "collections",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_collection_name`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: a form or plain-text body (writes take JSON or no body)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn delete_collection(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
) -> Result<StatusCode, ApiError> {
    state.delete_collection(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
