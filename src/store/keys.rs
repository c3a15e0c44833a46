//! The `api_keys` table: digests of keys, never keys.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A stored key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub id: uuid::Uuid,
    pub name: String,
    pub description: Option<String>,
    pub key_prefix: String,
    pub actions: Vec<String>,
    pub collections: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// What the key was derived with (with the admin key and the id).
    pub key_salt: Option<Vec<u8>>,
}

macro_rules! columns {
    () => {
        "id, name, description, key_prefix, actions, collections, expires_at, created_at, key_salt"
    };
}

/// What a new key is made of.
pub struct NewKey<'a> {
    pub id: uuid::Uuid,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub digest: &'a [u8],
    pub prefix: &'a str,
    pub actions: &'a [String],
    pub collections: &'a [String],
    pub expires_at: Option<DateTime<Utc>>,
    pub salt: &'a [u8],
}

pub async fn insert(pool: &PgPool, key: &NewKey<'_>) -> Result<KeyRecord, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO api_keys (id, name, description, key_digest, key_prefix, actions, collections, expires_at, key_salt)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        columns!()
    ))
    .bind(key.id)
    .bind(key.name)
    .bind(key.description)
    .bind(key.digest)
    .bind(key.prefix)
    .bind(key.actions)
    .bind(key.collections)
    .bind(key.expires_at)
    .bind(key.salt)
    .fetch_one(pool)
    .await
}

pub async fn list(pool: &PgPool) -> Result<Vec<KeyRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await
}

pub async fn find(pool: &PgPool, id: uuid::Uuid) -> Result<Option<KeyRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn find_by_digest(
    pool: &PgPool,
    digest: &[u8],
) -> Result<Option<KeyRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE key_digest = $1"
    ))
    .bind(digest)
    .fetch_optional(pool)
    .await
}

/// Deletes a key; whether it existed.
pub async fn delete(pool: &PgPool, id: uuid::Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}
