//! Documents: create, replace, merge, read (through the caches), delete and list.
//! Every write is one PostgreSQL transaction (the change-log trigger records it for the
//! index), followed by one after-write step ([`App::after_write`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::cache::{CacheOrigin, CachedDocument, LoadedDocument};
use crate::db;
use crate::error::ApiError;
use crate::schema::{
    CollectionName, CollectionSchema, DocumentId, FieldType, document_identity, truncate,
};
use crate::state::App;
use crate::store::documents::{
    self as store, Direction, DocumentRecord, Guarded, ListQuery, SortKey,
};

/// Largest `limit` of a document listing.
pub const MAX_LIST_LIMIT: u32 = 100;
/// `limit` when none is given.
pub const DEFAULT_LIST_LIMIT: u32 = 20;
/// Deepest page a listing serves: OFFSET costs grow with it.
pub const MAX_LIST_PAGE: u32 = 100_000;
/// How many times a document write reads the collection again when its fields keep
/// changing under it (each time means a schema change committed in between).
const FIELDS_CHANGED_ATTEMPTS: usize = 3;

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
    #[param(minimum = 1, maximum = 100000, example = 1)]
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
                    if value.contains('\0') {
                        return Err(ApiError::InvalidQueryParameter(format!(
                            "query parameter `{field}` contains a NUL character (\\u0000); remove it"
                        )));
                    }
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

/// The transaction that wrote `record` (a write's returned row always says).
fn written_by(record: &store::DocumentRecord) -> &str {
    record.txid.as_deref().unwrap_or_default()
}

impl App {
    /// After transaction `txid`'s write to documents `ids` of a collection has
    /// committed: wake the collection's indexer, and invalidate the documents' cached
    /// reads (L1, L2 and the other replicas), before the write is acknowledged.
    pub async fn after_write<'a>(
        &self,
        collection_id: i64,
        ids: impl IntoIterator<Item = &'a str>,
        txid: &str,
    ) {
        self.indexer.wake(collection_id);
        let keys = ids
            .into_iter()
            .map(|id| self.caches.keys.document(collection_id, id))
            .collect();
        // A transaction id PostgreSQL gave back always parses; were it not to, the
        // largest fence refuses every cached read of these keys (safe, only slower).
        let txid = txid.parse().unwrap_or(u64::MAX);
        self.caches.invalidate_documents(keys, txid).await;
    }

    /// Stores a new document; an id is generated (UUID v7) when the body has none.
    ///
    /// Like every document write, it is checked against the collection's fields as
    /// they are when it is stored: the write carries the fields it was checked against
    /// ([`FieldsGuard`](crate::store::collections::FieldsGuard)), and when a schema
    /// change committed in between it stores nothing and is checked again.
    #[tracing::instrument(skip_all, fields(collection = %name))]
    pub async fn create_document(
        &self,
        name: &CollectionName,
        body: Value,
    ) -> Result<Document, ApiError> {
        let (mut id, mut body, generated) = document_identity(body, None)?;
        for _ in 0..FIELDS_CHANGED_ATTEMPTS {
            let collection = self.collection(name).await?;
            collection.schema.validate_document(&body)?;
            let guard = &collection.stored_fields;
            let mut record =
                db::retry(|| store::insert(&self.db, collection.id, guard, id.as_str(), &body))
                    .await?;
            if matches!(record, Guarded::Written(None)) && generated {
                // A generated id collided: practically impossible with UUID v7, but the
                // unique constraint is what decides, so take a new one and try once more.
                id = DocumentId::generate();
                body.insert("id".into(), Value::String(id.as_str().to_owned()));
                record =
                    db::retry(|| store::insert(&self.db, collection.id, guard, id.as_str(), &body))
                        .await?;
            }
            let Guarded::Written(record) = record else {
                continue;
            };
            let record = record.ok_or_else(|| ApiError::DocumentAlreadyExists(id.to_string()))?;
            self.after_write(collection.id, [id.as_str()], written_by(&record))
                .await;
            return Ok(record.into());
        }
        Err(fields_changed(name))
    }

    /// Creates or replaces the document `id`; the flag says whether it was created.
    #[tracing::instrument(skip_all, fields(collection = %name, id = %id))]
    pub async fn put_document(
        &self,
        name: &CollectionName,
        id: &DocumentId,
        body: Value,
    ) -> Result<(Document, bool), ApiError> {
        let (id, body, _) = document_identity(body, Some(id))?;
        for _ in 0..FIELDS_CHANGED_ATTEMPTS {
            let collection = self.collection(name).await?;
            collection.schema.validate_document(&body)?;
            let guard = &collection.stored_fields;
            let written =
                db::retry(|| store::upsert(&self.db, collection.id, guard, id.as_str(), &body))
                    .await?;
            let Guarded::Written((record, created)) = written else {
                continue;
            };
            self.after_write(collection.id, [id.as_str()], written_by(&record))
                .await;
            return Ok((record.into(), created));
        }
        Err(fields_changed(name))
    }

    /// Applies a JSON merge patch (RFC 7386) to the document `id`, under a row lock.
    #[tracing::instrument(skip_all, fields(collection = %name, id = %id))]
    pub async fn patch_document(
        &self,
        name: &CollectionName,
        id: &DocumentId,
        patch: Value,
    ) -> Result<Document, ApiError> {
        if !patch.is_object() {
            return Err(ApiError::InvalidDocument(
                "a merge patch must be a JSON object".into(),
            ));
        }
        for _ in 0..FIELDS_CHANGED_ATTEMPTS {
            let collection = self.collection(name).await?;
            let schema = &collection.schema;
            let change = |mut current: Value| {
                json_patch::merge(&mut current, &patch);
                let (_, body, _) = document_identity(current, Some(id))?;
                schema.validate_document(&body)?;
                Ok::<_, ApiError>(body)
            };
            let guard = &collection.stored_fields;
            let written = db::retry(|| {
                store::update_with(&self.db, collection.id, guard, id.as_str(), change)
            })
            .await?;
            let Guarded::Written(record) = written else {
                continue;
            };
            let record = record.ok_or_else(|| not_found(name, id))??;
            self.after_write(collection.id, [id.as_str()], written_by(&record))
                .await;
            return Ok(record.into());
        }
        Err(fields_changed(name))
    }

    /// Reads the document `id` through the caches: its `ETag` and JSON.
    #[tracing::instrument(skip_all, fields(collection = %name, id = %id))]
    pub async fn document(
        &self,
        name: &CollectionName,
        id: &DocumentId,
    ) -> Result<CachedDocument, ApiError> {
        let collection = self.collection(name).await?;
        let key = self.caches.keys.document(collection.id, id.as_str());
        self.caches
            .document(key, || async {
                let Some((record, read_at)) =
                    db::retry(|| store::find(&self.db, collection.id, id.as_str())).await?
                else {
                    return Ok::<_, ApiError>(None);
                };
                let etag = etag(collection.id, &record);
                let json =
                    serde_json::to_vec(&Document::from(record)).map_err(ApiError::internal)?;
                Ok(Some(LoadedDocument {
                    etag,
                    json,
                    read_at,
                }))
            })
            .await?
            .ok_or_else(|| not_found(name, id))
    }

    /// Deletes the document `id`; the deleting transaction's id (a consistency token).
    #[tracing::instrument(skip_all, fields(collection = %name, id = %id))]
    pub async fn delete_document(
        &self,
        name: &CollectionName,
        id: &DocumentId,
    ) -> Result<String, ApiError> {
        let collection = self.collection(name).await?;
        let txid = db::retry(|| store::delete(&self.db, collection.id, id.as_str()))
            .await?
            .ok_or_else(|| not_found(name, id))?;
        self.after_write(collection.id, [id.as_str()], &txid).await;
        Ok(txid)
    }

    /// One page of the collection's documents, from PostgreSQL.
    pub async fn list_documents(
        &self,
        name: &CollectionName,
        pairs: Vec<(String, String)>,
    ) -> Result<DocumentPage, ApiError> {
        let collection = self.collection(name).await?;
        let query = parse_list_query(&collection.schema, pairs)?;
        let (rows, total) = db::retry(|| store::list(&self.db, collection.id, &query)).await?;
        let limit = i64::from(query.limit);
        Ok(DocumentPage {
            data: rows.into_iter().map(Document::from).collect(),
            total,
            page: query.page,
            limit: query.limit,
            total_pages: (total + limit - 1) / limit,
        })
    }
}

/// A write that found the collection's fields changed under it every time it tried.
fn fields_changed(name: &CollectionName) -> ApiError {
    ApiError::FieldsChanged(format!(
        "the fields of collection `{name}` changed {FIELDS_CHANGED_ATTEMPTS} times while the document was being written; nothing was stored"
    ))
}

fn not_found(name: &CollectionName, id: &DocumentId) -> ApiError {
    ApiError::DocumentNotFound {
        collection: name.to_string(),
        id: id.to_string(),
    }
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

/// Ids a bulk delete may name at once.
pub const MAX_DELETE_IDS: usize = 10_000;
/// Documents one transaction of a bulk delete removes: a delete by filter of a large
/// collection goes in bounded transactions (and bounded cache invalidations).
const DELETE_BATCH: usize = 1_000;

/// The body of `POST .../documents:delete`: `ids` or `filter`, exactly one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"filter": "category = audio AND price < 10"}))]
pub struct DeleteDocuments {
    /// Documents to delete, 1 to 10,000 ids; ids that do not exist are skipped.
    #[schema(min_items = 1, max_items = 10000, example = json!(["sku-1", "sku-2"]))]
    pub ids: Option<Vec<String>>,
    /// A filter expression, as in search (`category = audio AND price < 10`): every
    /// matching document is deleted.
    #[schema(example = "category = audio AND price < 10", max_length = 2048)]
    pub filter: Option<String>,
}

/// What a bulk delete did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"deleted": 42, "consistencyToken": "1042"}))]
pub struct DeletedDocuments {
    /// Documents deleted.
    pub deleted: u64,
    /// The last deleting transaction's id, as `after` to a search; absent when nothing
    /// was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_token: Option<String>,
}

impl App {
    /// Deletes the documents named by `ids`, or those matching `filter`, in
    /// transactions of at most [`DELETE_BATCH`] documents; each batch is acknowledged to
    /// the index and the caches like any write before the next.
    #[tracing::instrument(skip_all, fields(collection = %name))]
    pub async fn delete_documents(
        &self,
        name: &CollectionName,
        request: DeleteDocuments,
    ) -> Result<DeletedDocuments, ApiError> {
        let collection = self.collection(name).await?;
        let mut deleted = 0u64;
        let mut token = None;
        match (request.ids, request.filter) {
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > MAX_DELETE_IDS {
                    return Err(ApiError::InvalidRequestBody(format!(
                        "`ids` must hold 1 to {MAX_DELETE_IDS} ids, e.g. {{\"ids\": [\"sku-1\"]}}"
                    )));
                }
                let ids: Vec<String> = ids
                    .iter()
                    .map(|id| DocumentId::parse(id).map(DocumentId::into_string))
                    .collect::<Result<_, _>>()?;
                for chunk in ids.chunks(DELETE_BATCH) {
                    let selection = store::Selection::Ids(chunk);
                    let (gone, txid) = db::retry(|| {
                        store::delete_selected(&self.db, collection.id, &selection, i64::MAX)
                    })
                    .await?;
                    if let Some(txid) = txid {
                        self.after_write(collection.id, gone.iter().map(String::as_str), &txid)
                            .await;
                        deleted += gone.len() as u64;
                        token = Some(txid);
                    }
                }
            }
            (None, Some(filter)) => {
                if filter.trim().is_empty() {
                    return Err(ApiError::InvalidFilter(
                        "`filter` is empty: to delete every document, delete the collection".into(),
                    ));
                }
                let filter = crate::search::filter::parse(&filter, &collection.schema)
                    .map_err(ApiError::InvalidFilter)?;
                let condition = |query: &mut sqlx::QueryBuilder<sqlx::Postgres>| {
                    crate::search::sql_engine::push_filter(query, &filter)
                };
                let selection = store::Selection::Where(&condition);
                loop {
                    let (gone, txid) = db::retry(|| {
                        store::delete_selected(
                            &self.db,
                            collection.id,
                            &selection,
                            DELETE_BATCH as i64,
                        )
                    })
                    .await?;
                    let Some(txid) = txid else { break };
                    self.after_write(collection.id, gone.iter().map(String::as_str), &txid)
                        .await;
                    deleted += gone.len() as u64;
                    token = Some(txid);
                    if gone.len() < DELETE_BATCH {
                        break;
                    }
                }
            }
            _ => {
                return Err(ApiError::InvalidRequestBody(
                    "give `ids` or `filter`, one of them: {\"ids\": [\"sku-1\"]} or {\"filter\": \"price < 10\"}".into(),
                ));
            }
        }
        metrics::counter!("documents_deleted_total").increment(deleted);
        Ok(DeletedDocuments {
            deleted,
            consistency_token: token,
        })
    }
}
