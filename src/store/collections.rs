//! The `collections` table.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;

use crate::schema::{CollectionSettings, FieldDefinition};

/// A row of `collections`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CollectionRecord {
    pub id: i64,
    pub name: String,
    pub fields: Json<Vec<FieldDefinition>>,
    pub settings: Json<CollectionSettings>,
    pub settings_generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts a collection; `None` when the name is taken. The unique constraint
/// decides, so two concurrent creates cannot both succeed.
pub async fn insert(
    pool: &PgPool,
    name: &str,
    fields: &[FieldDefinition],
    settings: &CollectionSettings,
) -> Result<Option<CollectionRecord>, sqlx::Error> {
    sqlx::query_as("INSERT INTO collections (name, fields, settings) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING RETURNING id, name, fields, settings, settings_generation, created_at, updated_at")
    .bind(name)
    .bind(Json(fields))
    .bind(Json(settings))
    .fetch_optional(pool)
    .await
}

pub async fn list(pool: &PgPool) -> Result<Vec<CollectionRecord>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, fields, settings, settings_generation, created_at, updated_at FROM collections ORDER BY name")
        .fetch_all(pool)
        .await
}

pub async fn find(pool: &PgPool, name: &str) -> Result<Option<CollectionRecord>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, fields, settings, settings_generation, created_at, updated_at FROM collections WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// Changes a collection's fields and settings in one transaction, holding the row
/// lock while `change` computes the new values from the current ones, so concurrent
/// changes apply one after the other instead of overwriting each other. Moves the
/// settings generation. The outer `Result` is the database's, the inner the change's.
pub async fn update<E>(
    pool: &PgPool,
    name: &str,
    change: impl Fn(&CollectionRecord) -> Result<(Vec<FieldDefinition>, CollectionSettings), E>,
) -> Result<Option<Result<CollectionRecord, E>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let current: Option<CollectionRecord> =
        sqlx::query_as("SELECT id, name, fields, settings, settings_generation, created_at, updated_at FROM collections WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let (fields, settings) = match change(&current) {
        Ok(values) => values,
        Err(error) => return Ok(Some(Err(error))),
    };
    let updated: CollectionRecord = sqlx::query_as("UPDATE collections SET fields = $2, settings = $3, settings_generation = settings_generation + 1
         WHERE id = $1 RETURNING id, name, fields, settings, settings_generation, created_at, updated_at")
    .bind(current.id)
    .bind(Json(&fields))
    .bind(Json(&settings))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(Ok(updated)))
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

/// The number of documents of a collection in Postgres.
pub async fn document_count(pool: &PgPool, collection_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM documents WHERE collection_id = $1")
        .bind(collection_id)
        .fetch_one(pool)
        .await
}

pub async fn find_by_id(pool: &PgPool, id: i64) -> Result<Option<CollectionRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, fields, settings, settings_generation, created_at, updated_at FROM collections WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
