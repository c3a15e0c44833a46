//! `/v1/collections` and `/v1/collections/{name}`: create, list, read, change and
//! delete collections.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json};
use crate::index::indexer;
use crate::schema::{
    CollectionName, CollectionSchema, CollectionSettings, FieldDefinition, TypoTolerance,
};
use crate::search::sql_engine;
use crate::state::AppState;
use crate::store::collections::{self as store, CollectionRecord};

/// The body of `POST /v1/collections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "name": "products",
    "fields": [
        {"name": "title", "type": "text", "boost": 3.0},
        {"name": "description", "type": "text"},
        {"name": "category", "type": "keyword", "facet": true},
        {"name": "price", "type": "float", "sortable": true, "filterable": true}
    ]
}))]
pub struct CreateCollection {
    /// `^[a-z0-9_-]{1,64}$`
    pub name: String,
    /// At least one `text` field.
    pub fields: Vec<FieldDefinition>,
    #[serde(default)]
    pub settings: CollectionSettings,
}

/// The body of `PATCH /v1/collections/{name}`: every key is optional, and a present
/// key replaces that setting.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"boosts": {"title": 5.0}, "synonyms": {"tv": ["television"]}}))]
pub struct UpdateCollection {
    /// New boosts of text fields, by field name.
    pub boosts: Option<BTreeMap<String, f64>>,
    pub typo_tolerance: Option<TypoTolerance>,
    pub synonyms: Option<BTreeMap<String, Vec<String>>>,
    /// Replaces the stop word list; `[]` means no stop words. Left out, the current
    /// list (by default the English one) stays.
    pub stop_words: Option<Vec<String>>,
    /// Build the index for `match=substring` (rebuilds the index).
    pub substring_index: Option<bool>,
}

/// Figures about a collection: PostgreSQL's and the index's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionStats {
    /// Documents in PostgreSQL.
    pub documents: i64,
    /// Documents in the search index.
    pub indexed_documents: i64,
    /// Bytes the search index takes on disk.
    pub index_size_bytes: u64,
    /// How far the index has applied the change log (a transaction id), if at all.
    pub watermark: Option<String>,
    /// Changes written to PostgreSQL and not yet in the index.
    pub lag: i64,
    /// `building` until the first index is ready; `rebuilding` while a new generation is
    /// built; otherwise `ready`.
    pub index_status: IndexStatus,
}

/// Whether the collection's index can answer searches.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IndexStatus {
    /// The first index is being built; searches answer 503 `index_not_ready`.
    Building,
    /// A new generation is being built; the current one answers.
    Rebuilding,
    Ready,
}

/// A collection as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "name": "products",
    "fields": [{"name": "title", "type": "text", "boost": 3.0}, {"name": "category", "type": "keyword", "facet": true}],
    "settings": {"typoTolerance": {"enabled": true, "oneTypoMinLength": 5, "twoTyposMinLength": 9}, "synonyms": {}},
    "settingsGeneration": 1,
    "createdAt": "2026-11-21T10:00:00Z",
    "updatedAt": "2026-11-21T10:00:00Z",
    "stats": {"documents": 120, "indexedDocuments": 120, "indexSizeBytes": 48213, "watermark": "1042", "lag": 0, "indexStatus": "ready"}
}))]
pub struct Collection {
    pub name: String,
    pub fields: Vec<FieldDefinition>,
    pub settings: CollectionSettings,
    /// Moves on every settings change.
    pub settings_generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Present on `GET /v1/collections/{name}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<CollectionStats>,
}

impl From<CollectionRecord> for Collection {
    fn from(record: CollectionRecord) -> Self {
        Collection {
            name: record.name,
            fields: record.fields.0,
            settings: record.settings.0,
            settings_generation: record.settings_generation,
            created_at: record.created_at,
            updated_at: record.updated_at,
            stats: None,
        }
    }
}

/// The list of collections.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionList {
    pub data: Vec<Collection>,
    pub total: usize,
}

/// Reads a collection or answers 404.
pub async fn load(state: &AppState, name: &CollectionName) -> Result<CollectionRecord, ApiError> {
    db::retry(|| store::find(&state.db, name.as_str()))
        .await?
        .ok_or_else(|| ApiError::CollectionNotFound(name.to_string()))
}

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
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn create_collection(
    State(state): State<AppState>,
    Json(request): Json<CreateCollection>,
) -> Result<(StatusCode, Json<Collection>), ApiError> {
    let name = CollectionName::parse(&request.name)?;
    let schema = CollectionSchema::parse(request.fields)?;
    request
        .settings
        .validate()
        .map_err(ApiError::InvalidSettings)?;
    let record =
        db::retry(|| store::insert(&state.db, name.as_str(), schema.fields(), &request.settings))
            .await?
            .ok_or_else(|| ApiError::CollectionAlreadyExists(name.to_string()))?;
    // The GIN index behind `engine=fts`. The collection is empty, so this is quick.
    if let Err(error) = sql_engine::create_fts_index(&state.db, record.id, &schema).await {
        tracing::warn!(collection = %name, error = %error, "cannot create the full-text index; engine=fts will scan");
    }
    state.indexer.collections_changed.notify_one();
    tracing::info!(collection = %name, "collection created");
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// List collections
///
/// Every collection, by name, without statistics (ask for one collection to get them).
#[utoipa::path(
    get,
    path = "/v1/collections",
    tag = "collections",
    responses(
        (status = 200, description = "All collections (an empty list when there are none)", body = CollectionList),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn list_collections(
    State(state): State<AppState>,
) -> Result<Json<CollectionList>, ApiError> {
    let data: Vec<Collection> = db::retry(|| store::list(&state.db))
        .await?
        .into_iter()
        .map(Collection::from)
        .collect();
    Ok(Json(CollectionList {
        total: data.len(),
        data,
    }))
}

/// Get a collection
///
/// The collection with its statistics: documents in PostgreSQL and in the index,
/// index size, watermark and lag.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}",
    tag = "collections",
    params(("name" = String, Path, description = "Collection name", example = "products")),
    responses(
        (status = 200, description = "The collection", body = Collection),
        (status = 400, description = "`invalid_collection_name`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse,
            example = json!({"error": {"code": "collection_not_found", "message": "collection `products` not found", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn get_collection(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
) -> Result<Json<Collection>, ApiError> {
    let record = load(&state, &name).await?;
    let documents = db::retry(|| store::document_count(&state.db, record.id)).await?;
    let index = state
        .indexes
        .get(name.as_str())
        .filter(|index| index.spec.collection_id == record.id);
    let stats = match index {
        Some(index) => {
            let lag = db::retry(|| indexer::lag(&state.db, &index)).await?;
            let progress = index.progress();
            CollectionStats {
                documents,
                indexed_documents: i64::try_from(index.num_docs()).unwrap_or(i64::MAX),
                index_size_bytes: index.size_bytes(),
                watermark: Some(progress.watermark.txid.to_string()),
                lag,
                index_status: if state.indexer.is_rebuilding(index.spec.collection_id) {
                    IndexStatus::Rebuilding
                } else {
                    IndexStatus::Ready
                },
            }
        }
        None => CollectionStats {
            documents,
            indexed_documents: 0,
            index_size_bytes: 0,
            watermark: None,
            lag: 0,
            index_status: IndexStatus::Building,
        },
    };
    let mut collection = Collection::from(record);
    collection.stats = Some(stats);
    Ok(Json(collection))
}

/// Change a collection's settings
///
/// Changes boosts, typo tolerance, synonyms or stop words; keys left out keep their
/// value. Moves the settings generation.
#[utoipa::path(
    patch,
    path = "/v1/collections/{name}",
    tag = "collections",
    params(("name" = String, Path, description = "Collection name", example = "products")),
    request_body = UpdateCollection,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The changed collection", body = Collection),
        (status = 400, description = "`invalid_json`, `invalid_request_body`, `invalid_collection_name` or `invalid_settings`", body = ErrorResponse,
            example = json!({"error": {"code": "invalid_settings", "message": "boosts: the collection has no field `titel`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn update_collection(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    Json(request): Json<UpdateCollection>,
) -> Result<Json<Collection>, ApiError> {
    let change = |current: &CollectionRecord| {
        let schema = CollectionSchema::from_stored(current.fields.0.clone());
        let schema = match &request.boosts {
            Some(boosts) => schema.with_boosts(boosts)?,
            None => schema,
        };
        let mut settings = current.settings.0.clone();
        if let Some(typo) = &request.typo_tolerance {
            settings.typo_tolerance = typo.clone();
        }
        if let Some(synonyms) = &request.synonyms {
            settings.synonyms = synonyms.clone();
        }
        if let Some(stop_words) = &request.stop_words {
            settings.stop_words = Some(stop_words.clone());
        }
        if let Some(substring_index) = request.substring_index {
            settings.substring_index = substring_index;
        }
        settings.validate().map_err(ApiError::InvalidSettings)?;
        Ok::<_, ApiError>((schema.fields().to_vec(), settings))
    };
    let record = db::retry(|| store::update(&state.db, name.as_str(), change))
        .await?
        .ok_or_else(|| ApiError::CollectionNotFound(name.to_string()))??;
    state.indexer.collections_changed.notify_one();
    if request.boosts.is_some() {
        // The full-text index weighs fields by boost: build it again, in the background.
        let (db, id, schema) = (
            state.db.clone(),
            record.id,
            CollectionSchema::from_stored(record.fields.0.clone()),
        );
        tokio::spawn(async move {
            if let Err(error) = sql_engine::create_fts_index(&db, id, &schema).await {
                tracing::warn!(collection_id = id, error = %error, "cannot rebuild the full-text index");
            }
        });
    }
    tracing::info!(collection = %name, generation = record.settings_generation, "collection settings changed");
    Ok(Json(record.into()))
}

/// Delete a collection
///
/// Deletes the collection and all its documents.
#[utoipa::path(
    delete,
    path = "/v1/collections/{name}",
    tag = "collections",
    params(("name" = String, Path, description = "Collection name", example = "products")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_collection_name`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 503, description = "`database_unavailable`", body = ErrorResponse),
    )
)]
pub async fn delete_collection(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
) -> Result<StatusCode, ApiError> {
    if let Some(id) = db::retry(|| store::delete(&state.db, name.as_str())).await? {
        if let Err(error) = sql_engine::drop_fts_index(&state.db, id).await {
            tracing::warn!(collection = %name, error = %error, "cannot drop the full-text index");
        }
        state.indexer.collections_changed.notify_one();
        tracing::info!(collection = %name, "collection deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::CollectionNotFound(name.to_string()))
    }
}
