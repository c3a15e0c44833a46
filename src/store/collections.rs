//! The `collections` table. Functions return [`CollectionRecord`]s, with the schema
//! and settings already decoded, so no caller handles raw `jsonb`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;

use crate::schema::{CollectionSchema, CollectionSettings, FieldDefinition};
use crate::store::documents::{self, Misfits};

/// Every column of `collections`, as [`Row`] reads them: a macro, so that statements are
/// `concat!`-ed at compile time and stay `&'static str` (sqlx's `SqlSafeStr`).
macro_rules! columns {
    () => {
        "id, name, fields, fields AS stored_fields, settings, settings_generation, index_generation, created_at, updated_at"
    };
}

/// A stored collection.
#[derive(Debug, Clone)]
pub struct CollectionRecord {
    pub id: i64,
    pub name: String,
    /// Validated when it was written, so it is not validated again on reading.
    pub schema: CollectionSchema,
    pub settings: CollectionSettings,
    /// Moves on every settings change: searches cached before it are not answered again.
    pub settings_generation: i64,
    /// The settings generation of the last change the search index itself had to follow
    /// (fields, stop words, the substring index, a reindex): an index built at this
    /// generation or a later one answers the collection, whatever the settings read at
    /// query time (ranking rules, typo tolerance, ...) became since.
    pub index_generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The `fields` column as stored. A document write passes it back as its guard
    /// ([`FieldsGuard`]): PostgreSQL compares it with the column itself, so how this
    /// version of sift would serialize the fields does not matter.
    pub stored_fields: FieldsGuard,
}

/// The fields a document was validated against, as stored. A write that carries it
/// stores nothing when the collection's fields have changed since (or the collection
/// is gone), so no document checked against old fields slips in after a schema change.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldsGuard(pub(crate) Value);

/// A row of `collections` as PostgreSQL returns it.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    fields: Json<Vec<FieldDefinition>>,
    /// The same column, undecoded: the guard of document writes.
    stored_fields: Json<Value>,
    settings: Json<CollectionSettings>,
    settings_generation: i64,
    index_generation: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for CollectionRecord {
    fn from(row: Row) -> Self {
        CollectionRecord {
            id: row.id,
            name: row.name,
            schema: CollectionSchema::from_stored(row.fields.0),
            stored_fields: FieldsGuard(row.stored_fields.0),
            settings: row.settings.0,
            settings_generation: row.settings_generation,
            index_generation: row.index_generation,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Inserts a collection; `None` when the name is taken. The unique constraint
/// decides, so two concurrent creates cannot both succeed.
pub async fn insert(
    pool: &PgPool,
    name: &str,
    fields: &[FieldDefinition],
    settings: &CollectionSettings,
) -> Result<Option<CollectionRecord>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "INSERT INTO collections (name, fields, settings) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING RETURNING ",
        columns!(),
        ""
    ))
    .bind(name)
    .bind(Json(fields))
    .bind(Json(settings))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(CollectionRecord::from))
}

pub async fn list(pool: &PgPool) -> Result<Vec<CollectionRecord>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM collections ORDER BY name"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(CollectionRecord::from).collect())
}

pub async fn find(pool: &PgPool, name: &str) -> Result<Option<CollectionRecord>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM collections WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(CollectionRecord::from))
}

/// Which generations a change of a collection moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Neither: nothing a search reads changed (`ftsIndex` alone, which is PostgreSQL's).
    Kept,
    /// The settings generation: what searches read at query time changed, so answers
    /// cached before are not used again; the index stays as it is.
    Settings,
    /// Both: the index must be built again.
    Index,
}

/// Changes a collection's fields and settings in one transaction, holding the row
/// lock while `change` computes the new values from the current ones, so concurrent
/// changes apply one after the other instead of overwriting each other. `change` also
/// says which generations the change moves ([`Generation`]). The outer `Result` is the
/// database's, the inner the change's.
///
/// When fields are added or change type, the stored documents are checked against
/// them under the same lock, and any that do not fit refuse the change
/// ([`Misfits`]). The lock is what makes the check whole: a document write holds a
/// share lock on the row ([`FieldsGuard`]), so the check waits for writes in flight
/// and writes that come after it see the new fields.
pub async fn update<E>(
    pool: &PgPool,
    name: &str,
    change: impl Fn(
        &CollectionRecord,
    ) -> Result<(Vec<FieldDefinition>, CollectionSettings, Generation), E>,
) -> Result<Option<Result<CollectionRecord, E>>, sqlx::Error>
where
    E: From<Misfits>,
{
    let mut tx = pool.begin().await?;
    let current: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM collections WHERE name = $1 FOR UPDATE"
    ))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current.map(CollectionRecord::from) else {
        return Ok(None);
    };
    let (fields, settings, generation) = match change(&current) {
        Ok(values) => values,
        Err(error) => return Ok(Some(Err(error))),
    };
    let unchecked = current.schema.unchecked_by(&fields);
    if !unchecked.fields().is_empty() {
        let misfits = documents::misfits(&mut tx, current.id, &unchecked).await?;
        if misfits.count > 0 {
            return Ok(Some(Err(E::from(misfits))));
        }
    }
    let updated: Row = sqlx::query_as(concat!(
        "UPDATE collections SET fields = $2, settings = $3,
             settings_generation = settings_generation + $4,
             index_generation = CASE WHEN $5 THEN settings_generation + 1 ELSE index_generation END
         WHERE id = $1 RETURNING ",
        columns!(),
        ""
    ))
    .bind(current.id)
    .bind(Json(&fields))
    .bind(Json(&settings))
    .bind(i64::from(generation != Generation::Kept))
    .bind(generation == Generation::Index)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(Ok(updated.into())))
}

/// Deletes a collection with its documents; its id, or `None` when it did not exist.
pub async fn delete(pool: &PgPool, name: &str) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> =
        sqlx::query_scalar("DELETE FROM collections WHERE name = $1 RETURNING id")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = id {
        // Changes of documents that no longer belong to anything.
        sqlx::query("DELETE FROM document_changes WHERE collection_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The number of documents of a collection in Postgres: the sum of the counts the
/// `documents` triggers keep (migration `document_counts`), not a `count(*)`, which
/// reads every row of the collection.
pub async fn document_count(pool: &PgPool, collection_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(documents), 0)::bigint FROM document_counts WHERE collection_id = $1",
    )
    .bind(collection_id)
    .fetch_one(pool)
    .await
}

pub async fn find_by_id(pool: &PgPool, id: i64) -> Result<Option<CollectionRecord>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM collections WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(CollectionRecord::from))
}
