//! Collections: create, list, read with statistics, change settings, delete, rebuild.
//! The request and response shapes live here too, since the service takes and returns
//! them; `routes::collections` only adds HTTP and the OpenAPI description.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;

use crate::access::{Action, Reach};
use crate::db;
use crate::error::ApiError;
use crate::index::{self, indexer};
use crate::schema::{
    CollectionName, CollectionSchema, CollectionSettings, FieldDefinition, MatchingStrategy,
    TypoTolerance,
};
use crate::search::{ranking, sql_engine};
use crate::state::App;
use crate::store::collections::{self as store, CollectionRecord, Generation};

/// The body of `POST /v1/collections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "name": "catalog",
    "fields": [
        {"name": "title", "type": "text", "boost": 3.0},
        {"name": "description", "type": "text"},
        {"name": "category", "type": "keyword", "facet": true},
        {"name": "price", "type": "float", "sortable": true, "filterable": true}
    ]
}))]
pub struct CreateCollection {
    /// `^[a-z0-9_-]{1,64}$`
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
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
    /// Replaces the field list (the rules are those of `POST /v1/collections`): add a
    /// field, make one `filterable`, `sortable` or a `facet`, change its type, or drop
    /// it (stored documents keep its values). Fields added or changing type are checked
    /// against every stored document first; if any does not fit, the change is refused
    /// (409 `schema_conflict`, with the count and three ids). The index is rebuilt in
    /// the background as for any settings change, the current one answering meanwhile.
    /// `boosts`, when also given, apply to the new fields.
    pub fields: Option<Vec<FieldDefinition>>,
    /// New boosts of text fields, by field name.
    pub boosts: Option<BTreeMap<String, f64>>,
    pub typo_tolerance: Option<TypoTolerance>,
    pub synonyms: Option<BTreeMap<String, Vec<String>>>,
    /// Replaces the stop word list; `[]` means no stop words. Left out, the current
    /// list (by default the English one) stays.
    pub stop_words: Option<Vec<String>>,
    /// Build the index for `match=substring` (rebuilds the index).
    pub substring_index: Option<bool>,
    /// Replaces the ranking rules; `null` goes back to the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub ranking_rules: Option<Option<Vec<String>>>,
    /// The default matching strategy of searches.
    pub matching_strategy: Option<MatchingStrategy>,
    /// Build (`true`) or drop (`false`) the GIN index behind `engine=fts`, in the
    /// background. Alone in a request, it leaves the search index as it is.
    pub fts_index: Option<bool>,
}

/// A key that is present (even as `null`) is `Some`: `null` means "back to the default".
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Settings rules that need the schema: the ranking rules name sortable fields.
fn validate_settings(
    settings: &CollectionSettings,
    schema: &CollectionSchema,
) -> Result<(), ApiError> {
    settings.validate()?;
    if let Some(rules) = &settings.ranking_rules {
        ranking::parse_rules(rules, schema).map_err(ApiError::InvalidSettings)?;
    }
    Ok(())
}

impl UpdateCollection {
    /// Whether the change reaches the search index, which then moves to a new settings
    /// generation: every key does but `ftsIndex`, which is PostgreSQL's. Only those
    /// that change what is indexed (fields, stop words, the substring index) rebuild it.
    fn reaches_search_index(&self) -> bool {
        let UpdateCollection {
            fields,
            boosts,
            typo_tolerance,
            synonyms,
            stop_words,
            substring_index,
            ranking_rules,
            matching_strategy,
            fts_index: _,
        } = self;
        fields.is_some()
            || boosts.is_some()
            || typo_tolerance.is_some()
            || synonyms.is_some()
            || stop_words.is_some()
            || substring_index.is_some()
            || ranking_rules.is_some()
            || matching_strategy.is_some()
    }

    /// The collection's fields and settings with this change applied, validated.
    fn apply(
        &self,
        current: &CollectionRecord,
    ) -> Result<(CollectionSchema, CollectionSettings), ApiError> {
        let schema = match &self.fields {
            Some(fields) => CollectionSchema::parse(fields.clone())?,
            None => current.schema.clone(),
        };
        let schema = match &self.boosts {
            Some(boosts) => schema.with_boosts(boosts)?,
            None => schema,
        };
        let mut settings = current.settings.clone();
        if let Some(typo) = &self.typo_tolerance {
            settings.typo_tolerance = typo.clone();
        }
        if let Some(synonyms) = &self.synonyms {
            settings.synonyms = synonyms.clone();
        }
        if let Some(stop_words) = &self.stop_words {
            settings.stop_words = Some(stop_words.clone());
        }
        if let Some(substring_index) = self.substring_index {
            settings.substring_index = substring_index;
        }
        if let Some(rules) = &self.ranking_rules {
            settings.ranking_rules = rules.clone();
        }
        if let Some(strategy) = self.matching_strategy {
            settings.matching_strategy = strategy;
        }
        if let Some(fts_index) = self.fts_index {
            settings.fts_index = fts_index;
        }
        validate_settings(&settings, &schema)?;
        Ok((schema, settings))
    }
}

/// Figures about a collection: PostgreSQL's and the index's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionStats {
    /// Documents in PostgreSQL, exact: counts kept in each writing transaction
    /// (plain-SQL writes included), read in constant time whatever the collection's size.
    pub documents: i64,
    /// Documents in the search index.
    pub indexed_documents: i64,
    /// Bytes the search index takes on disk.
    pub index_size_bytes: u64,
    /// Segments of the search index. After a bulk import the indexer merges them into
    /// one once it is idle: each segment costs every typo lookup a dictionary walk.
    pub index_segments: u64,
    /// How far the index has applied the change log (a transaction id), if at all.
    pub watermark: Option<String>,
    /// Changes written to PostgreSQL and not yet in the index.
    pub lag: i64,
    /// `building` until the first index is ready; `rebuilding` while a new generation is
    /// built; otherwise `ready`.
    pub index_status: IndexStatus,
    /// The GIN index behind `engine=fts` (the `ftsIndex` setting): `off`, `building`
    /// (`engine=fts` scans meanwhile) or `ready`.
    pub fts_index: FtsIndexStatus,
}

/// The state of the PostgreSQL full-text index of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FtsIndexStatus {
    /// `ftsIndex` is off: `engine=fts` scans.
    Off,
    /// `ftsIndex` is on and the index is being built (`CREATE INDEX CONCURRENTLY`).
    Building,
    Ready,
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
    "stats": {"documents": 120, "indexedDocuments": 120, "indexSizeBytes": 48213, "watermark": "1042", "lag": 0, "indexStatus": "ready", "ftsIndex": "off"}
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
            fields: record.schema.fields().to_vec(),
            settings: record.settings,
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

/// How long creating a collection waits for its (empty) index.
const NEW_INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl App {
    /// Collections whose first index is not built yet (a rebuild of a later generation
    /// does not count: the current one answers meanwhile); at most `limit` names.
    pub async fn collections_without_index(&self, limit: usize) -> Result<Vec<String>, ApiError> {
        let records = db::retry(|| store::list(&self.db)).await?;
        Ok(records
            .into_iter()
            // Another replica's collections are not this one's to build.
            .filter(|record| self.config.placement.serves(&record.name))
            .filter(|record| {
                self.indexes
                    .get(&record.name)
                    .is_none_or(|index| index.spec().collection_id != record.id)
            })
            .map(|record| record.name)
            .take(limit)
            .collect())
    }
    /// Reads a collection or answers 404.
    pub async fn collection(&self, name: &CollectionName) -> Result<CollectionRecord, ApiError> {
        db::retry(|| store::find(&self.db, name.as_str()))
            .await?
            .ok_or_else(|| ApiError::CollectionNotFound(name.to_string()))
    }

    /// Validates and stores a new collection; its first index is built in the background.
    #[tracing::instrument(skip_all, fields(collection = %request.name))]
    pub async fn create_collection(
        &self,
        request: CreateCollection,
    ) -> Result<Collection, ApiError> {
        let name = CollectionName::parse(&request.name)?;
        let schema = CollectionSchema::parse(request.fields)?;
        validate_settings(&request.settings, &schema)?;
        let record = db::retry(|| {
            store::insert(&self.db, name.as_str(), schema.fields(), &request.settings)
        })
        .await?
        .ok_or_else(|| ApiError::CollectionAlreadyExists(name.to_string()))?;
        // The GIN index behind `engine=fts`, when asked for. The collection is empty, so
        // this is quick.
        if request.settings.fts_index
            && let Err(error) = sql_engine::create_fts_index(&self.db, record.id, &schema).await
        {
            tracing::warn!(error = %error, "cannot create the full-text index; engine=fts will scan");
        }
        self.indexer.collections_changed.notify_one();
        // An empty collection's index takes milliseconds to make: wait for it (bounded),
        // so a search right after the 201 is answered rather than 503 `index_not_ready`.
        // A collection placed on other replicas is indexed there, not here.
        let indexed = if self.config.placement.serves(name.as_str()) {
            tokio::time::timeout(
                NEW_INDEX_WAIT,
                self.indexes.wait_for_collection(name.as_str(), record.id),
            )
            .await
            .is_ok()
        } else {
            true
        };
        if !indexed {
            tracing::warn!(
                "the new collection's index is not ready yet; searches answer 503 until it is"
            );
        }
        tracing::info!("collection created");
        Ok(record.into())
    }

    /// Every collection, by name, without statistics.
    /// The collections `reach` may read (`collections.read` on their names).
    pub async fn list_collections(&self, reach: &Reach) -> Result<CollectionList, ApiError> {
        let now = Utc::now();
        let data: Vec<Collection> = db::retry(|| store::list(&self.db))
            .await?
            .into_iter()
            .filter(|record| reach.allows(Action::CollectionsRead, record.name.as_str(), now))
            .map(Collection::from)
            .collect();
        Ok(CollectionList {
            total: data.len(),
            data,
        })
    }

    /// One collection with its statistics.
    pub async fn collection_with_stats(
        &self,
        name: &CollectionName,
    ) -> Result<Collection, ApiError> {
        let record = self.collection(name).await?;
        let documents = db::retry(|| store::document_count(&self.db, record.id)).await?;
        let fts_index = if !record.settings.fts_index {
            FtsIndexStatus::Off
        } else if db::retry(|| sql_engine::fts_index_ready(&self.db, record.id)).await? {
            FtsIndexStatus::Ready
        } else {
            FtsIndexStatus::Building
        };
        let index = self
            .indexes
            .get(name.as_str())
            .filter(|index| index.spec().collection_id == record.id);
        let stats = match index {
            Some(index) => {
                let lag = db::retry(|| indexer::lag(&self.db, &index)).await?;
                let progress = index.progress();
                CollectionStats {
                    documents,
                    indexed_documents: i64::try_from(index.num_docs()).unwrap_or(i64::MAX),
                    index_size_bytes: index.size_bytes(),
                    index_segments: index.segment_count() as u64,
                    watermark: Some(progress.watermark.txid.to_string()),
                    lag,
                    index_status: if self.indexer.is_rebuilding(index.spec().collection_id) {
                        IndexStatus::Rebuilding
                    } else {
                        IndexStatus::Ready
                    },
                    fts_index,
                }
            }
            None => CollectionStats {
                documents,
                indexed_documents: 0,
                index_size_bytes: 0,
                index_segments: 0,
                watermark: None,
                lag: 0,
                index_status: IndexStatus::Building,
                fts_index,
            },
        };
        let mut collection = Collection::from(record);
        collection.stats = Some(stats);
        Ok(collection)
    }

    /// Changes settings (a new settings generation). What is read at query time
    /// (ranking rules, matching strategy, typo tolerance, synonyms, boosts) applies as
    /// soon as each index follows the generation, without a rebuild; a change of what is
    /// indexed rebuilds the index in the background while the old one answers. New
    /// boosts also rebuild the full-text index, concurrently, in a tracked background
    /// task.
    #[tracing::instrument(skip_all, fields(collection = %name))]
    pub async fn update_collection(
        &self,
        name: &CollectionName,
        request: UpdateCollection,
    ) -> Result<Collection, ApiError> {
        let record = db::retry(|| {
            store::update(&self.db, name.as_str(), |current| {
                let (schema, settings) = request.apply(current)?;
                let generation = if !request.reaches_search_index() {
                    Generation::Kept
                } else if index::fingerprint(&schema, &settings)
                    == index::fingerprint(&current.schema, &current.settings)
                {
                    // Read at query time only: the index as it is answers for them.
                    Generation::Settings
                } else {
                    Generation::Index
                };
                Ok::<_, ApiError>((schema.fields().to_vec(), settings, generation))
            })
        })
        .await?
        .ok_or_else(|| ApiError::CollectionNotFound(name.to_string()))??;
        self.indexer.collections_changed.notify_one();
        // Settings read at query time apply without a rebuild: wait (a little) until
        // this replica's index reads them, so that a search sent after the answer
        // finds them. A rebuild is not waited for: the old index answers meanwhile.
        let retuned = self
            .indexes
            .get(name.as_str())
            .filter(|index| {
                index.spec().collection_id == record.id
                    && index.built_generation() >= record.index_generation
            })
            .is_some();
        if retuned && self.config.placement.serves(name.as_str()) {
            let applied = tokio::time::timeout(
                NEW_INDEX_WAIT,
                self.indexes.wait_for_generation(
                    name.as_str(),
                    record.id,
                    record.settings_generation,
                ),
            )
            .await
            .is_ok();
            if !applied {
                tracing::warn!("the index does not read the new settings yet");
            }
        }
        // New boosts or fields change the indexed expression: build it again.
        let expression_changed = request.boosts.is_some() || request.fields.is_some();
        if request.fts_index.is_some() || (record.settings.fts_index && expression_changed) {
            self.reconcile_fts_index(record.id, expression_changed);
        }
        tracing::info!(
            generation = record.settings_generation,
            "collection settings changed"
        );
        Ok(record.into())
    }

    /// Deletes a collection with its documents.
    #[tracing::instrument(skip_all, fields(collection = %name))]
    pub async fn delete_collection(&self, name: &CollectionName) -> Result<(), ApiError> {
        let id = db::retry(|| store::delete(&self.db, name.as_str()))
            .await?
            .ok_or_else(|| ApiError::CollectionNotFound(name.to_string()))?;
        if let Err(error) = sql_engine::drop_fts_index(&self.db, id).await {
            tracing::warn!(error = %error, "cannot drop the full-text index");
        }
        self.indexer.collections_changed.notify_one();
        tracing::info!("collection deleted");
        Ok(())
    }

    /// Asks for a rebuild of the collection's index from PostgreSQL.
    #[tracing::instrument(skip_all, fields(collection = %name))]
    pub async fn reindex(&self, name: &CollectionName) -> Result<(), ApiError> {
        // Recorded in PostgreSQL by moving the settings generation (fields and settings
        // unchanged): an index of an older generation is rebuilt by whichever process
        // follows the collection, so an accepted reindex survives a crash or restart.
        let record = db::retry(|| {
            store::update(&self.db, name.as_str(), |current| {
                Ok::<_, ApiError>((
                    current.schema.fields().to_vec(),
                    current.settings.clone(),
                    Generation::Index,
                ))
            })
        })
        .await?
        .ok_or_else(|| ApiError::CollectionNotFound(name.to_string()))??;
        self.indexer.request_rebuild(record.id);
        self.indexer.collections_changed.notify_one();
        tracing::info!(
            generation = record.settings_generation,
            "index rebuild requested"
        );
        Ok(())
    }

    /// Makes the collection's full-text index what its settings say, as they are when
    /// this task's turn comes (so changes made in quick succession end in the last
    /// one's state): built from the current fields and boosts when missing or
    /// `outdated` (`CREATE INDEX CONCURRENTLY`, so writes to the shared `documents`
    /// table go on), or dropped. One at a time, in a background task that shutdown
    /// waits for.
    fn reconcile_fts_index(&self, collection_id: i64, outdated: bool) {
        let (db, lock) = (self.db.clone(), self.fts_rebuilds.clone());
        self.background.spawn(
            async move {
                let _one_at_a_time = lock.lock().await;
                let outcome = match store::find_by_id(&db, collection_id).await {
                    Ok(Some(record)) if record.settings.fts_index => {
                        match sql_engine::fts_index_ready(&db, collection_id).await {
                            Ok(true) if !outdated => Ok(()),
                            Ok(_) => {
                                sql_engine::rebuild_fts_index(&db, collection_id, &record.schema)
                                    .await
                            }
                            Err(error) => Err(error),
                        }
                    }
                    Ok(Some(_)) => sql_engine::drop_fts_index(&db, collection_id).await,
                    // Gone: its index went with it.
                    Ok(None) => Ok(()),
                    Err(error) => Err(error),
                };
                if let Err(error) = outcome {
                    tracing::warn!(error = %error, "cannot build or drop the full-text index");
                }
            }
            .in_current_span(),
        );
    }
}
