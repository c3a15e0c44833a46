//! `/v1/collections/{name}/documents` and `/v1/collections/{name}/documents/{id}`:
//! create, replace, merge, read, delete and list documents. Every write is one
//! PostgreSQL transaction; the change-log trigger records it for the index.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::cache::{CacheOrigin, CachedJson, X_CACHE};
use crate::db;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, DocumentPath, Json, QueryParams};
use crate::routes::collections::load as load_collection;
use crate::schema::{CollectionSchema, DocumentId, FieldType, document_identity, truncate};
use crate::state::AppState;
use crate::store::documents::{self as store, Direction, DocumentRecord, ListQuery, SortKey};
use crate::store::is_foreign_key_violation;

/// Largest `limit` of a document listing.
pub const MAX_LIST_LIMIT: u32 = 100;
/// `limit` when none is given.
pub const DEFAULT_LIST_LIMIT: u32 = 20;
/// Deepest page a listing serves: OFFSET costs grow with it.
pub const MAX_LIST_PAGE: u32 = 100_000;

/// A document with what PostgreSQL knows about it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11",
    "version": 1,
    "createdAt": "2026-11-21T10:00:00Z",
    "updatedAt": "2026-11-21T10:00:00Z",
    "document": {"id": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11", "title": "Wireless headphones", "category": "audio", "price": 59.9}
}))]
pub struct Document {
    pub id: String,
    /// Starts at 1 and grows by one on every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The document as stored, `id` included; fields the schema does not declare are
    /// kept and returned.
    #[schema(value_type = Object)]
    pub document: Value,
    /// On writes: pass as `after` to a search to be sure it sees this write.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "1042")]
    pub consistency_token: Option<String>,
    /// On reads: where the answer came from, `l1`, `l2` or `miss` (as `X-Cache`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "miss")]
    pub cache: Option<CacheOrigin>,
}

impl From<DocumentRecord> for Document {
    fn from(record: DocumentRecord) -> Self {
        Document {
            id: record.id,
            version: record.version,
            created_at: record.created_at,
            updated_at: record.updated_at,
            document: record.body.0,
            consistency_token: record.txid,
            cache: None,
        }
    }
}

/// The `ETag` of a stored document: it changes with every write, and a re-created
/// collection or document never reuses one.
pub fn etag(collection_id: i64, record: &DocumentRecord) -> String {
    format!(
        "\"{collection_id}-{}-{}\"",
        record.version,
        record.updated_at.timestamp_micros()
    )
}

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

/// Tells the caches that documents changed, once the write has committed.
async fn invalidate(state: &AppState, collection_id: i64, id: &str) {
    let key = state.caches.keys.document(collection_id, id);
    state.caches.invalidate_documents(vec![key]).await;
}

/// The header carrying the consistency token of a write without a body (DELETE).
pub const CONSISTENCY_TOKEN_HEADER: &str = "x-consistency-token";

/// A page of documents.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentPage {
    pub data: Vec<Document>,
    /// Documents matching the filters, on all pages.
    pub total: i64,
    pub page: u32,
    pub limit: u32,
    pub total_pages: i64,
}

/// Query parameters of `GET /v1/collections/{name}/documents`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // Documents the parameters; the values are parsed by `parse_list_query`.
pub struct ListDocumentsParams {
    /// Page number, from 1 (default 1, at most 100000).
    #[param(minimum = 1, example = 1)]
    page: Option<u32>,
    /// Documents per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    limit: Option<u32>,
    /// `createdAt` (default), `updatedAt`, `id`, or a field declared `sortable`.
    #[param(example = "createdAt")]
    sort_by: Option<String>,
    /// `asc` or `desc` (default `desc`: newest first).
    #[param(example = "desc")]
    sort_order: Option<String>,
    /// Equality filters on keyword fields, as `field=value` (e.g. `category=audio`);
    /// several are combined with AND.
    #[param(style = Form, explode, value_type = Option<Object>)]
    filters: Option<HashMap<String, String>>,
}

fn parse_number(name: &str, raw: &str, min: u32, max: u32) -> Result<u32, ApiError> {
    match raw.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::InvalidQueryParameter(format!(
            "query parameter `{name}` must be a whole number from {min} to {max}, got `{}`",
            truncate(raw, 40)
        ))),
    }
}

/// Turns the raw query pairs into a [`ListQuery`], naming the parameter at fault.
pub fn parse_list_query(
    schema: &CollectionSchema,
    pairs: Vec<(String, String)>,
) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        page: 1,
        limit: DEFAULT_LIST_LIMIT,
        sort: SortKey::CreatedAt,
        direction: Direction::Desc,
        filters: Vec::new(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "page" => query.page = parse_number("page", &value, 1, MAX_LIST_PAGE)?,
            "limit" => query.limit = parse_number("limit", &value, 1, MAX_LIST_LIMIT)?,
            "sortBy" => {
                query.sort = match value.as_str() {
                    "createdAt" => SortKey::CreatedAt,
                    "updatedAt" => SortKey::UpdatedAt,
                    "id" => SortKey::Id,
                    field => match schema.field(field) {
                        Some(f) if f.sortable => SortKey::Field(f.name.clone()),
                        _ => {
                            return Err(ApiError::InvalidQueryParameter(format!(
                                "query parameter `sortBy`: `{}` is not createdAt, updatedAt, id or a sortable field",
                                truncate(field, 80)
                            )));
                        }
                    },
                }
            }
            "sortOrder" => {
                query.direction = match value.to_ascii_lowercase().as_str() {
                    "asc" => Direction::Asc,
                    "desc" => Direction::Desc,
                    _ => {
                        return Err(ApiError::InvalidQueryParameter(format!(
                            "query parameter `sortOrder` must be `asc` or `desc`, got `{}`",
                            truncate(&value, 40)
                        )));
                    }
                }
            }
            field => match schema.field(field) {
                Some(f) if f.field_type == FieldType::Keyword => {
                    query.filters.push((f.name.clone(), value))
                }
                Some(_) => {
                    return Err(ApiError::InvalidQueryParameter(format!(
                        "query parameter `{field}`: only keyword fields can be filtered in a document list"
                    )));
                }
                None => {
                    return Err(ApiError::InvalidQueryParameter(format!(
                        "unknown query parameter `{}`: expected page, limit, sortBy, sortOrder or a keyword field",
                        truncate(field, 80)
                    )));
                }
            },
        }
    }
    Ok(query)
}

fn validate(schema: &CollectionSchema, body: &Map<String, Value>) -> Result<(), ApiError> {
    schema
        .validate_document(body)
        .map_err(ApiError::InvalidDocument)
}

/// A write that raced with the deletion of the collection reads as "not found".
fn collection_gone(name: &str) -> impl Fn(sqlx::Error) -> ApiError + '_ {
    move |error| {
        if is_foreign_key_violation(&error) {
            ApiError::CollectionNotFound(name.to_owned())
        } else {
            ApiError::from(error)
        }
    }
}

/// Create a document
///
/// Stores a new document. Without an `id`, one is generated (a UUID v7). An `id` that
/// exists already answers 409; `PUT` replaces.
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/documents",
    tag = "documents",
    params(("name" = String, Path, description = "Collection name", example = "products")),
    request_body(content = Object, description = "The document: a JSON object, `id` optional",
        example = json!({"title": "Wireless headphones", "category": "audio", "price": 59.9})),
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created", body = Document),
        (status = 400, description = "`invalid_json`, `invalid_document` or `invalid_document_id`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_document", "message": "field `price` must be a number (float), got a string", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 409, description = "`document_already_exists`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn create_document(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Document>), ApiError> {
    let collection = load_collection(&state, &name).await?;
    let schema = CollectionSchema::from_stored(collection.fields.0);
    let (mut id, mut body, generated) = document_identity(body, None)?;
    validate(&schema, &body)?;
    let mut record = db::retry(|| store::insert(&state.db, collection.id, id.as_str(), &body))
        .await
        .map_err(collection_gone(name.as_str()))?;
    if record.is_none() && generated {
        // A generated id collided: practically impossible with UUID v7, but the unique
        // constraint is what decides, so take a new one and try once more.
        id = DocumentId::generate();
        body.insert("id".into(), Value::String(id.as_str().to_owned()));
        record = db::retry(|| store::insert(&state.db, collection.id, id.as_str(), &body))
            .await
            .map_err(collection_gone(name.as_str()))?;
    }
    let record = record.ok_or_else(|| ApiError::DocumentAlreadyExists(id.to_string()))?;
    state.indexer.wake(collection.id);
    invalidate(&state, collection.id, id.as_str()).await;
    Ok((StatusCode::CREATED, Json(record.into())))
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
        ("name" = String, Path, description = "Collection name", example = "products"),
        ("id" = String, Path, description = "Document id", example = "sku-1042"),
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
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn put_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Document>), ApiError> {
    let collection = load_collection(&state, &name).await?;
    let schema = CollectionSchema::from_stored(collection.fields.0);
    let (id, body, _) = document_identity(body, Some(&id))?;
    validate(&schema, &body)?;
    let (record, created) =
        db::retry(|| store::upsert(&state.db, collection.id, id.as_str(), &body))
            .await
            .map_err(collection_gone(name.as_str()))?;
    state.indexer.wake(collection.id);
    invalidate(&state, collection.id, id.as_str()).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(record.into())))
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
        ("name" = String, Path, description = "Collection name", example = "products"),
        ("id" = String, Path, description = "Document id", example = "sku-1042"),
    ),
    request_body(content = Object, description = "A JSON merge patch", example = json!({"price": 39.9, "onSale": null})),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The merged document", body = Document),
        (status = 400, description = "`invalid_json`, `invalid_document` or `invalid_document_id`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found` or `document_not_found`", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn patch_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
    Json(patch): Json<Value>,
) -> Result<Json<Document>, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::InvalidDocument(
            "a merge patch must be a JSON object".into(),
        ));
    }
    let collection = load_collection(&state, &name).await?;
    let schema = CollectionSchema::from_stored(collection.fields.0);
    let change = |mut current: Value| {
        json_patch::merge(&mut current, &patch);
        let (_, body, _) = document_identity(current, Some(&id))?;
        validate(&schema, &body)?;
        Ok::<_, ApiError>(body)
    };
    let record = db::retry(|| store::update_with(&state.db, collection.id, id.as_str(), change))
        .await?
        .ok_or_else(|| ApiError::DocumentNotFound {
            collection: name.to_string(),
            id: id.to_string(),
        })??;
    state.indexer.wake(collection.id);
    invalidate(&state, collection.id, id.as_str()).await;
    Ok(Json(record.into()))
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
        ("name" = String, Path, description = "Collection name", example = "products"),
        ("id" = String, Path, description = "Document id", example = "sku-1042"),
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
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn get_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let collection = load_collection(&state, &name).await?;
    let key = state.caches.keys.document(collection.id, id.as_str());
    let cached = state
        .caches
        .document(key, || async {
            let Some(record) =
                db::retry(|| store::find(&state.db, collection.id, id.as_str())).await?
            else {
                return Ok(None);
            };
            let etag = etag(collection.id, &record);
            let json = serde_json::to_vec(&Document::from(record)).map_err(ApiError::internal)?;
            Ok(Some((etag, json)))
        })
        .await?
        .ok_or_else(|| ApiError::DocumentNotFound {
            collection: name.to_string(),
            id: id.to_string(),
        })?;
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
        ("name" = String, Path, description = "Collection name", example = "products"),
        ("id" = String, Path, description = "Document id", example = "sku-1042"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted; the `x-consistency-token` header is the write's consistency token",
            headers(("x-consistency-token" = String, description = "Pass as `after` to a search to be sure it no longer finds the document"))),
        (status = 400, description = "`invalid_collection_name` or `invalid_document_id`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found` or `document_not_found`", body = ErrorResponse),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn delete_document(
    State(state): State<AppState>,
    DocumentPath(name, id): DocumentPath,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    let collection = load_collection(&state, &name).await?;
    if let Some(txid) = db::retry(|| store::delete(&state.db, collection.id, id.as_str())).await? {
        state.indexer.wake(collection.id);
        invalidate(&state, collection.id, id.as_str()).await;
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&txid) {
            headers.insert(CONSISTENCY_TOKEN_HEADER, value);
        }
        Ok((StatusCode::NO_CONTENT, headers))
    } else {
        Err(ApiError::DocumentNotFound {
            collection: name.to_string(),
            id: id.to_string(),
        })
    }
}

/// List documents
///
/// Reads from PostgreSQL, newest first by default, with equality filters on keyword
/// fields given as `field=value` query parameters.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}/documents",
    tag = "documents",
    params(("name" = String, Path, description = "Collection name", example = "products"), ListDocumentsParams),
    responses(
        (status = 200, description = "One page of documents (an empty `data` past the last page)", body = DocumentPage),
        (status = 400, description = "`invalid_query_parameter` or `invalid_collection_name`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_query_parameter", "message": "query parameter `limit` must be a whole number from 1 to 100, got `500`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn list_documents(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> Result<Json<DocumentPage>, ApiError> {
    let collection = load_collection(&state, &name).await?;
    let schema = CollectionSchema::from_stored(collection.fields.0);
    let query = parse_list_query(&schema, pairs)?;
    let (rows, total) = db::retry(|| store::list(&state.db, collection.id, &query)).await?;
    let limit = i64::from(query.limit);
    Ok(Json(DocumentPage {
        data: rows.into_iter().map(Document::from).collect(),
        total,
        page: query.page,
        limit: query.limit,
        total_pages: (total + limit - 1) / limit,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldDefinition;
    use serde_json::json;

    fn schema() -> CollectionSchema {
        let fields: Vec<FieldDefinition> = serde_json::from_value(json!([
            {"name": "title", "type": "text"},
            {"name": "category", "type": "keyword"},
            {"name": "price", "type": "float", "sortable": true}
        ]))
        .expect("fields");
        CollectionSchema::parse(fields).expect("schema")
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_page_one_twenty_newest_first() {
        let query = parse_list_query(&schema(), vec![]).expect("valid");
        assert_eq!((query.page, query.limit), (1, 20));
        assert_eq!(
            (query.sort, query.direction),
            (SortKey::CreatedAt, Direction::Desc)
        );
    }

    #[test]
    fn parameters_are_parsed_and_named_when_wrong() {
        let query = parse_list_query(
            &schema(),
            pairs(&[
                ("page", "3"),
                ("limit", "100"),
                ("sortBy", "price"),
                ("sortOrder", "asc"),
                ("category", "audio"),
            ]),
        )
        .expect("valid");
        assert_eq!(query.sort, SortKey::Field("price".into()));
        assert_eq!(
            query.filters,
            vec![("category".to_string(), "audio".to_string())]
        );
        for (bad, named) in [
            (("limit", "101"), "`limit`"),
            (("limit", "0"), "`limit`"),
            (("page", "x"), "`page`"),
            (("sortBy", "title"), "`sortBy`"),
            (("sortOrder", "up"), "`sortOrder`"),
            (("price", "3"), "`price`"),
            (("colour", "red"), "`colour`"),
        ] {
            let error = parse_list_query(&schema(), pairs(&[bad])).expect_err("invalid");
            assert!(error.to_string().contains(named), "{bad:?}: {error}");
        }
    }
}
