//! `POST /v1/collections/{name}/documents:import`: bulk NDJSON import; HTTP over
//! [`App::import`](crate::state::App::import), which streams the body line by line.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json};
use crate::service::import::{ImportFormat, ImportReport};
use crate::state::AppState;

/// The import format a `Content-Type` names, if any.
fn format_of(headers: &HeaderMap) -> Option<ImportFormat> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())?;
    match media.as_str() {
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" => {
            Some(ImportFormat::Ndjson)
        }
        "application/json" => Some(ImportFormat::JsonArray),
        "text/csv" => Some(ImportFormat::Csv),
        _ => None,
    }
}

/// Import documents (NDJSON, JSON array or CSV)
///
/// One JSON document per line (`Content-Type: application/x-ndjson`), a JSON array of
/// documents (`application/json`), or CSV (`text/csv`: a header row naming the fields,
/// then one document a row; cells are typed by the schema, an empty cell leaves the
/// field out). Each document is created or replaced by its `id` (generated when
/// absent). Documents that are not valid JSON objects or break the schema are reported
/// (with their line, or element of the array, and their id) and skipped; all others
/// are stored.
/// The body is streamed, so its size has no limit, but each line must fit the body
/// limit. Safe to retry: importing the same lines twice leaves the same documents.
/// A body sent with `Content-Encoding: gzip` is decompressed as it streams in. A line
/// that is one JSON string is read as the NDJSON lines it holds: that is how Swagger
/// UI's "Try it out" sends this example (JSON-encoded, as for any JSON-like media type).
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/documents:import",
    tag = "documents",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    request_body(description = "One JSON document per line, a JSON array of documents, or CSV with a header row",
        content(
            (String = "application/x-ndjson",
                example = "{\"id\": \"sku-1\", \"title\": \"Wireless headphones\", \"price\": 59.9}\n{\"id\": \"sku-2\", \"title\": \"USB-C cable\", \"price\": 9.5}\n"),
            (Vec<Object> = "application/json",
                example = json!([{"id": "sku-1", "title": "Wireless headphones", "price": 59.9}, {"id": "sku-2", "title": "USB-C cable", "price": 9.5}])),
            (String = "text/csv",
                example = "id,title,price\nsku-1,Wireless headphones,59.9\nsku-2,USB-C cable,9.5\n"),
        )),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "What was imported and which lines failed", body = ImportReport),
        (status = 400, description = "`invalid_collection_name`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 409, description = "`fields_changed`: the collection's fields changed during the import; the batches before were stored, and the message says how many documents", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse,
            example = json!({"error": {"code": "unsupported_media_type", "message": "expected `Content-Type: application/x-ndjson`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 503, description = "`server_busy`, `database_unavailable`: batches stored before it stay stored; retrying the import is safe", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn import_documents(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    let Some(format) = format_of(&headers) else {
        return Err(ApiError::UnsupportedMediaType(
            "expected `Content-Type: application/x-ndjson` (one document a line), `application/json` (an array of documents) or `text/csv` (a header row, then a document a row)".into(),
        ));
    };
    Ok(Json(
        state
            .0
            .import(&name, format, body.into_data_stream())
            .await?,
    ))
}
