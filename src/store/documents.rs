//! The `documents` table. Each function is one statement or one transaction, so the
//! caller can run it again on a transient failure; the change-log triggers record
//! every write in the same transaction.

use crate::store::json_field::PushField;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder};

/// A row of `documents`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRecord {
    pub id: String,
    pub body: Json<Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The writing transaction's id, on rows returned by writes: the consistency token.
    #[sqlx(default)]
    pub txid: Option<String>,
}

/// Inserts a new document; `None` when the id exists already.
pub async fn insert(
    pool: &PgPool,
    collection_id: i64,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Option<DocumentRecord>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO documents (collection_id, id, body) VALUES ($1, $2, $3)
         ON CONFLICT (collection_id, id) DO NOTHING
         RETURNING id, body, version, created_at, updated_at, pg_current_xact_id()::text AS txid",
    )
    .bind(collection_id)
    .bind(id)
    .bind(Json(body))
    .fetch_optional(pool)
    .await
}

/// Creates or replaces a document; the flag says whether it was created.
pub async fn upsert(
    pool: &PgPool,
    collection_id: i64,
    id: &str,
    body: &Map<String, Value>,
) -> Result<(DocumentRecord, bool), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        record: DocumentRecord,
        created: bool,
    }
    let row: Row = sqlx::query_as(
        "INSERT INTO documents (collection_id, id, body) VALUES ($1, $2, $3)
         ON CONFLICT (collection_id, id) DO UPDATE SET body = EXCLUDED.body
         RETURNING id, body, version, created_at, updated_at, pg_current_xact_id()::text AS txid, (xmax = 0) AS created",
    )
    .bind(collection_id)
    .bind(id)
    .bind(Json(body))
    .fetch_one(pool)
    .await?;
    Ok((row.record, row.created))
}

/// One document, with the xmin of the snapshot it was read in (every transaction
/// below it had ended, so its writes are reflected): what the caches fence against.
pub async fn find(
    pool: &PgPool,
    collection_id: i64,
    id: &str,
) -> Result<Option<(DocumentRecord, u64)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        record: DocumentRecord,
        read_at: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, body, version, created_at, updated_at,
                pg_snapshot_xmin(pg_current_snapshot())::text AS read_at
         FROM documents WHERE collection_id = $1 AND id = $2",
    )
    .bind(collection_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    // An unparsable xmin (never seen) reads as 0: older than any fence, so not cached.
    Ok(row.map(|row| (row.record, row.read_at.parse().unwrap_or(0))))
}

/// Applies `change` to the current body under a row lock and stores the result, in one
/// transaction. `None` when the document does not exist; the inner `Result` is the
/// change's own verdict (such as a schema violation), which rolls back.
pub async fn update_with<E>(
    pool: &PgPool,
    collection_id: i64,
    id: &str,
    change: impl Fn(Value) -> Result<Map<String, Value>, E>,
) -> Result<Option<Result<DocumentRecord, E>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let current: Option<Json<Value>> = sqlx::query_scalar(
        "SELECT body FROM documents WHERE collection_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(collection_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Json(current)) = current else {
        return Ok(None);
    };
    let body = match change(current) {
        Ok(body) => body,
        Err(error) => return Ok(Some(Err(error))),
    };
    let record: DocumentRecord = sqlx::query_as(
        "UPDATE documents SET body = $3 WHERE collection_id = $1 AND id = $2
         RETURNING id, body, version, created_at, updated_at, pg_current_xact_id()::text AS txid",
    )
    .bind(collection_id)
    .bind(id)
    .bind(Json(&body))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(Ok(record)))
}

/// Deletes a document; the deleting transaction's id, or `None` when it did not exist.
pub async fn delete(
    pool: &PgPool,
    collection_id: i64,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM documents WHERE collection_id = $1 AND id = $2 RETURNING pg_current_xact_id()::text",
    )
    .bind(collection_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Which documents a bulk delete takes.
pub enum Selection<'a> {
    /// These ids (those that exist).
    Ids(&'a [String]),
    /// The documents for which the condition `push` appends holds (SQL over `body`).
    Where(&'a (dyn Fn(&mut QueryBuilder<Postgres>) + Sync)),
}

/// Deletes, in one transaction, the documents of `selection` (at most `limit` of
/// those a condition selects); the ids deleted and the transaction's id (`None` when
/// nothing was).
pub async fn delete_selected(
    pool: &PgPool,
    collection_id: i64,
    selection: &Selection<'_>,
    limit: i64,
) -> Result<(Vec<String>, Option<String>), sqlx::Error> {
    let mut query = QueryBuilder::new("DELETE FROM documents WHERE collection_id = ");
    query.push_bind(collection_id);
    match selection {
        Selection::Ids(ids) => {
            query
                .push(" AND id = ANY(")
                .push_bind(ids.to_vec())
                .push(")");
        }
        Selection::Where(push) => {
            // A subquery with a limit: a large delete goes in bounded transactions.
            query
                .push(" AND id IN (SELECT id FROM documents WHERE collection_id = ")
                .push_bind(collection_id)
                .push(" AND ");
            push(&mut query);
            query.push(" LIMIT ").push_bind(limit).push(")");
        }
    }
    query.push(" RETURNING id, pg_current_xact_id()::text");
    let rows: Vec<(String, String)> = query.build_query_as().fetch_all(pool).await?;
    let txid = rows.first().map(|(_, txid)| txid.clone());
    Ok((rows.into_iter().map(|(id, _)| id).collect(), txid))
}

/// Creates or replaces many documents in one statement (one transaction), returning
/// the transaction's id. Ids must be
/// distinct within the batch; bodies are JSON text, which PostgreSQL parses, so a
/// validated import line is not serialized a second time.
pub async fn upsert_batch(
    pool: &PgPool,
    collection_id: i64,
    ids: &[String],
    bodies: &[String],
) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "WITH written AS (
            INSERT INTO documents (collection_id, id, body)
            SELECT $1, t.id, t.body::jsonb FROM UNNEST($2::text[], $3::text[]) AS t (id, body)
            ON CONFLICT (collection_id, id) DO UPDATE SET body = EXCLUDED.body
            RETURNING 1
         )
         SELECT pg_current_xact_id()::text FROM (SELECT count(*) FROM written) AS c",
    )
    .bind(collection_id)
    .bind(ids)
    .bind(bodies)
    .fetch_one(pool)
    .await
}

/// What documents can be listed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
    Id,
    /// A sortable field of the body.
    Field(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A page of a document listing, parsed and validated.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub page: u32,
    pub limit: u32,
    pub sort: SortKey,
    pub direction: Direction,
    /// Equality on keyword fields: (field, value). A keyword field holding an array
    /// matches when the array contains the value.
    pub filters: Vec<(String, String)>,
}

fn push_filters(
    builder: &mut QueryBuilder<Postgres>,
    collection_id: i64,
    filters: &[(String, String)],
) {
    builder
        .push(" WHERE collection_id = ")
        .push_bind(collection_id);
    for (field, value) in filters {
        builder
            .push(" AND (")
            .push_json(field)
            .push(" = to_jsonb(")
            .push_bind(value.as_str())
            .push("::text) OR ")
            .push_json(field)
            .push(" @> jsonb_build_array(")
            .push_bind(value.as_str())
            .push("::text))");
    }
}

/// One page of documents and the total that match.
pub async fn list(
    pool: &PgPool,
    collection_id: i64,
    query: &ListQuery,
) -> Result<(Vec<DocumentRecord>, i64), sqlx::Error> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM documents");
    push_filters(&mut count, collection_id, &query.filters);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut select =
        QueryBuilder::new("SELECT id, body, version, created_at, updated_at FROM documents");
    push_filters(&mut select, collection_id, &query.filters);
    let direction = match query.direction {
        Direction::Asc => " ASC NULLS LAST",
        Direction::Desc => " DESC NULLS LAST",
    };
    select.push(" ORDER BY ");
    match &query.sort {
        SortKey::CreatedAt => select.push("created_at"),
        SortKey::UpdatedAt => select.push("updated_at"),
        SortKey::Id => select.push("id"),
        SortKey::Field(field) => select.push_json(field),
    };
    select.push(direction).push(", id").push(direction);
    let offset = i64::from(query.page.saturating_sub(1)) * i64::from(query.limit);
    select
        .push(" LIMIT ")
        .push_bind(i64::from(query.limit))
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = select.build_query_as().fetch_all(pool).await?;
    Ok((rows, total))
}
