//! `/v1/collections/{name}/documents` and `/v1/collections/{name}/documents/{id}`:
//! HTTP over [`crate::service::documents`] (create, replace, merge, read, delete, list).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, DocumentPath, Json, QueryParams};
use crate::routes::cached_json::{CachedJson, X_CACHE};
#[allow(unused_imports)] // `ListDocumentsParams` is named by the OpenAPI attributes.
use crate::service::documents::{
    DeleteDocuments, DeletedDocuments, Document, DocumentPage, ListDocumentsParams,
};
use crate::state::AppState;

/// The header carrying the consistency token of a write without a body (DELETE).
pub const CONSISTENCY_TOKEN_HEADER: &str = "x-consistency-token";

/// Whether an `If-None-Match` header names `etag` (or is `*`).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// Create a document
///
/// Stores a new document. Without an `id`, one is generated (a UUID v7). An `id` that
/// exists already answers 409; `PUT` replaces.
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/documents",
    tag = "documents",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    request_body(content = Object, description = "The document: a JSON object, `id` optional",
        example = json!({"title": "Wireless headphones", "category": "audio", "price": 59.9})),
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created", body = Document),
        (status = 400, description = "`invalid_json`, `invalid_document` or `invalid_document_id`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_document", "message": "field `price` must be a number (float), got a string", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 409, description = "`document_already_exists`, or `fields_changed` (the collection's fields kept changing during the write)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn create_document(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Document>), ApiError> {
    let document = state.create_document(&name, body).await?;
    Ok((StatusCode::CREATED, Json(document)))
}

/// Create or replace a document
///
/// Stores the document under the path's id, replacing any document with that id.
/// A body `id`, when given, must equal the path's.
#[utoipa::path(
    put,
    path = "/v1/collections/{name}/documents/{id}",
    tag = "documents",
    params(
        ("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"),
        ("id" = String, Path, description = "Document id", pattern = r"^[A-Za-z0-9_-]{1,511}$", example = "sku-1042"),
    ),
    request_body(content = Object, description = "The whole document",
        example = json!({"title": "Wireless headphones", "category": "audio", "price": 49.9})),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Replaced", body = Document),
        (status = 201, description = "Created", body = Document),
        (status = 400, description = "`invalid_json`, `invalid_document` or `invalid_document_id`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 409, description = "`fields_changed`: the collection's fields kept changing during the write; nothing was stored", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn put_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Document>), ApiError> {
    let (document, created) = state.put_document(&name, &id, body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(document)))
}

/// Merge into a document
///
/// Applies a JSON merge patch (RFC 7386): keys in the body replace the stored ones,
/// `null` removes a key, nested objects merge. The result is validated against the
/// schema; the `id` cannot change.
#[utoipa::path(
    patch,
    path = "/v1/collections/{name}/documents/{id}",
    tag = "documents",
    params(
        ("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"),
        ("id" = String, Path, description = "Document id", pattern = r"^[A-Za-z0-9_-]{1,511}$", example = "sku-1042"),
    ),
    request_body(content = Object, description = "A JSON merge patch", example = json!({"price": 39.9, "onSale": null})),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The merged document", body = Document),
        (status = 400, description = "`invalid_json`, `invalid_document` or `invalid_document_id`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found` or `document_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 409, description = "`fields_changed`: the collection's fields kept changing during the write; nothing was stored", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn patch_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
    Json(patch): Json<Value>,
) -> Result<Json<Document>, ApiError> {
    Ok(Json(state.patch_document(&name, &id, patch).await?))
}

/// Get a document
///
/// Read through the caches (L1 in process, then Redis), never older than a write
/// acknowledged before the request began. The `ETag` changes with every write; send
/// it back in `If-None-Match` to get 304 when the document has not changed.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}/documents/{id}",
    tag = "documents",
    params(
        ("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"),
        ("id" = String, Path, description = "Document id", pattern = r"^[A-Za-z0-9_-]{1,511}$", example = "sku-1042"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier read: 304 if it still matches"),
    ),
    responses(
        (status = 200, description = "The document, with where it came from in `cache`", body = Document,
            headers(
                ("etag" = String, description = "The document's version tag"),
                ("x-cache" = String, description = "`l1`, `l2` or `miss`"),
            )),
        (status = 304, description = "Not modified: the `If-None-Match` tag is current"),
        (status = 400, description = "`invalid_collection_name` or `invalid_document_id`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found` or `document_not_found`", body = ErrorResponse,
            example = json!({"error": {"code": "document_not_found", "message": "document `sku-1042` not found in collection `products`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn get_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cached = state.document(&name, &id).await?;
    let etag = HeaderValue::from_str(&cached.etag).map_err(ApiError::internal)?;
    if none_match(&headers, &cached.etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag);
        response
            .headers_mut()
            .insert(X_CACHE, HeaderValue::from_static(cached.origin.as_str()));
        return Ok(response);
    }
    let mut body = CachedJson::new(&cached.json, cached.origin, None);
    body.headers.insert(header::ETAG, etag);
    Ok(body.into_response())
}

/// Delete a document
#[utoipa::path(
    delete,
    path = "/v1/collections/{name}/documents/{id}",
    tag = "documents",
    params(
        ("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"),
        ("id" = String, Path, description = "Document id", pattern = r"^[A-Za-z0-9_-]{1,511}$", example = "sku-1042"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted; the `x-consistency-token` header is the write's consistency token",
            headers(("x-consistency-token" = String, description = "Pass as `after` to a search to be sure it no longer finds the document"))),
        (status = 400, description = "`invalid_collection_name` or `invalid_document_id`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found` or `document_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: a form or plain-text body (writes take JSON or no body)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn delete_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    let txid = state.delete_document(&name, &id).await?;
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&txid) {
        headers.insert(CONSISTENCY_TOKEN_HEADER, value);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

/// Delete documents in bulk
///
/// Deletes the documents named by `ids` (those that exist), or every document matching
/// `filter` (the search filter syntax, on filterable fields). Large deletes go in
/// transactions of 1,000 documents, each reaching the index and the caches as any
/// write does; the answer's token covers them all. Retrying is safe.
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/documents:delete",
    tag = "documents",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    request_body(content = DeleteDocuments, description = "`ids` or `filter`, exactly one",
        examples(
            ("by filter" = (value = json!({"filter": "category = audio AND price < 10"}))),
            ("by ids" = (value = json!({"ids": ["sku-1", "sku-2"]}))),
        )),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "How many were deleted, and a consistency token", body = DeletedDocuments),
        (status = 400, description = "`invalid_collection_name`, `invalid_request_body` (neither or both of `ids` and `filter`, too many ids), `invalid_document_id`, `invalid_filter`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: a form or plain-text body (writes take JSON or no body)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`: the batches deleted before stay deleted; retrying is safe", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn delete_documents(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    Json(request): Json<DeleteDocuments>,
) -> Result<Json<DeletedDocuments>, ApiError> {
    Ok(Json(state.delete_documents(&name, request).await?))
}

/// List documents
///
/// Reads from PostgreSQL, newest first by default, with equality filters on keyword
/// fields given as `field=value` query parameters.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}/documents",
    tag = "documents",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"), ListDocumentsParams),
    responses(
        (status = 200, description = "One page of documents (an empty `data` past the last page)", body = DocumentPage),
        (status = 400, description = "`invalid_query_parameter` or `invalid_collection_name`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_query_parameter", "message": "query parameter `limit` must be a whole number from 1 to 100, got `500`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `database_unavailable`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn list_documents(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> Result<Json<DocumentPage>, ApiError> {
    Ok(Json(state.list_documents(&name, pairs).await?))
}
