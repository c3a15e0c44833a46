//! The `documents` table. Each function is one statement or one transaction, so the
//! caller can run it again on a transient failure; the change-log triggers record
//! every write in the same transaction.

use crate::schema::CollectionSchema;
use crate::store::collections::FieldsGuard;
use crate::store::json_field::PushField;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

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

/// What a write guarded by the collection's fields ([`FieldsGuard`]) did.
#[derive(Debug)]
pub enum Guarded<T> {
    Written(T),
    /// Nothing was written: the collection's fields are no longer the ones the
    /// document was checked against, or the collection is gone. Read it again.
    FieldsChanged,
}

/// The rows of `collections` a guarded write locks in share mode: the collection, if
/// its fields are still `$guard`. A schema change locks the row for update, so it
/// waits for the writes in flight, and a write that waited re-reads the row and finds
/// the new fields.
macro_rules! guard {
    ($id:literal, $guard:literal) => {
        concat!(
            "SELECT c.id FROM collections c WHERE c.id = ",
            $id,
            " AND c.fields = ",
            $guard,
            " FOR SHARE"
        )
    };
}

/// Whether the collection still has the guarded fields (after a write that wrote
/// nothing, to tell a conflict from a schema change).
async fn guard_holds(
    pool: &PgPool,
    collection_id: i64,
    guard: &FieldsGuard,
) -> Result<bool, sqlx::Error> {
    let holds: Option<bool> =
        sqlx::query_scalar("SELECT fields = $2 FROM collections WHERE id = $1")
            .bind(collection_id)
            .bind(Json(&guard.0))
            .fetch_optional(pool)
            .await?;
    Ok(holds == Some(true))
}

/// Inserts a new document; `None` when the id exists already.
pub async fn insert(
    pool: &PgPool,
    collection_id: i64,
    guard: &FieldsGuard,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Guarded<Option<DocumentRecord>>, sqlx::Error> {
    let record: Option<DocumentRecord> = sqlx::query_as(concat!(
        "INSERT INTO documents (collection_id, id, body) SELECT g.id, $3, $4 FROM (",
        guard!("$1", "$2"),
        ") AS g
         ON CONFLICT (collection_id, id) DO NOTHING
         RETURNING id, body, version, created_at, updated_at, pg_current_xact_id()::text AS txid"
    ))
    .bind(collection_id)
    .bind(Json(&guard.0))
    .bind(id)
    .bind(Json(body))
    .fetch_optional(pool)
    .await?;
    match record {
        Some(record) => Ok(Guarded::Written(Some(record))),
        None if guard_holds(pool, collection_id, guard).await? => Ok(Guarded::Written(None)),
        None => Ok(Guarded::FieldsChanged),
    }
}

/// Creates or replaces a document; the flag says whether it was created.
pub async fn upsert(
    pool: &PgPool,
    collection_id: i64,
    guard: &FieldsGuard,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Guarded<(DocumentRecord, bool)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        record: DocumentRecord,
        created: bool,
    }
    let row: Option<Row> = sqlx::query_as(concat!(
        "INSERT INTO documents (collection_id, id, body) SELECT g.id, $3, $4 FROM (",
        guard!("$1", "$2"),
        ") AS g
         ON CONFLICT (collection_id, id) DO UPDATE SET body = EXCLUDED.body
         RETURNING id, body, version, created_at, updated_at, pg_current_xact_id()::text AS txid, (xmax = 0) AS created"
    ))
    .bind(collection_id)
    .bind(Json(&guard.0))
    .bind(id)
    .bind(Json(body))
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => Guarded::Written((row.record, row.created)),
        None => Guarded::FieldsChanged,
    })
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
    guard: &FieldsGuard,
    id: &str,
    change: impl Fn(Value) -> Result<Map<String, Value>, E>,
) -> Result<Guarded<Option<Result<DocumentRecord, E>>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let guarded: Option<i64> = sqlx::query_scalar(guard!("$1", "$2"))
        .bind(collection_id)
        .bind(Json(&guard.0))
        .fetch_optional(&mut *tx)
        .await?;
    if guarded.is_none() {
        return Ok(Guarded::FieldsChanged);
    }
    let current: Option<Json<Value>> = sqlx::query_scalar(
        "SELECT body FROM documents WHERE collection_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(collection_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Json(current)) = current else {
        return Ok(Guarded::Written(None));
    };
    let body = match change(current) {
        Ok(body) => body,
        Err(error) => return Ok(Guarded::Written(Some(Err(error)))),
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
    Ok(Guarded::Written(Some(Ok(record))))
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
    guard: &FieldsGuard,
    ids: &[String],
    bodies: &[String],
) -> Result<Guarded<String>, sqlx::Error> {
    let (txid, guarded): (String, bool) = sqlx::query_as(concat!(
        "WITH g AS (",
        guard!("$1", "$2"),
        "), written AS (
            INSERT INTO documents (collection_id, id, body)
            SELECT g.id, t.id, t.body::jsonb FROM g, UNNEST($3::text[], $4::text[]) AS t (id, body)
            ON CONFLICT (collection_id, id) DO UPDATE SET body = EXCLUDED.body
            RETURNING 1
         )
         SELECT pg_current_xact_id()::text, EXISTS (SELECT 1 FROM g) FROM (SELECT count(*) FROM written) AS c"
    ))
    .bind(collection_id)
    .bind(Json(&guard.0))
    .bind(ids)
    .bind(bodies)
    .fetch_one(pool)
    .await?;
    Ok(if guarded {
        Guarded::Written(txid)
    } else {
        Guarded::FieldsChanged
    })
}

/// Documents that do not fit fields they were never checked against (a schema change):
/// how many, and the first few with what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Misfits {
    pub count: u64,
    /// Up to [`MISFIT_EXAMPLES`]: (document id, the problem).
    pub examples: Vec<(String, String)>,
}

/// How many misfit documents a refused schema change names.
pub const MISFIT_EXAMPLES: usize = 3;

/// Checks the stored documents of a collection against `fields` (a schema holding only
/// the fields to check), in the caller's transaction. Only documents holding the
/// top-level key of some field are read; a body that is not an object (written with
/// plain SQL) has no fields to misfit.
pub async fn misfits(
    connection: &mut PgConnection,
    collection_id: i64,
    fields: &CollectionSchema,
) -> Result<Misfits, sqlx::Error> {
    let mut keys: Vec<&str> = fields
        .fields()
        .iter()
        .map(|f| f.name.split('.').next().unwrap_or(&f.name))
        .collect();
    keys.dedup();
    let mut rows = sqlx::query_as::<_, (String, Json<Value>)>(
        "SELECT id, body FROM documents WHERE collection_id = $1 AND body ?| $2 ORDER BY id",
    )
    .bind(collection_id)
    .bind(&keys)
    .fetch(connection);
    let mut found = Misfits {
        count: 0,
        examples: Vec::new(),
    };
    while let Some((id, Json(body))) = rows.try_next().await? {
        let Value::Object(body) = body else {
            continue;
        };
        if let Err(problem) = fields.validate_document(&body) {
            found.count += 1;
            if found.examples.len() < MISFIT_EXAMPLES {
                found.examples.push((id, problem.to_string()));
            }
        }
    }
    Ok(found)
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

/// One page of documents and the total that match: without filters, the collection's
/// kept count ([`document_count`](super::collections::document_count)); a `count(*)`
/// would read every row (0.3-0.5 s at 822,679 documents) for each page.
pub async fn list(
    pool: &PgPool,
    collection_id: i64,
    query: &ListQuery,
) -> Result<(Vec<DocumentRecord>, i64), sqlx::Error> {
    let total: i64 = if query.filters.is_empty() {
        super::collections::document_count(pool, collection_id).await?
    } else {
        let mut count = QueryBuilder::new("SELECT count(*) FROM documents");
        push_filters(&mut count, collection_id, &query.filters);
        count.build_query_scalar().fetch_one(pool).await?
    };

    let mut select =
        QueryBuilder::new("SELECT id, body, version, created_at, updated_at FROM documents");
    push_filters(&mut select, collection_id, &query.filters);
    // The columns are NOT NULL: a plain direction lets the default order (newest
    // first) walk `documents_collection_created_at_idx` and `id` the primary key; with
    // `NULLS LAST`, which the index does not have, every row of the collection was read
    // and sorted for each page (0.5 s at 822,679 documents). A body field may be null.
    let direction = match query.direction {
        Direction::Asc => " ASC",
        Direction::Desc => " DESC",
    };
    select.push(" ORDER BY ");
    match &query.sort {
        SortKey::CreatedAt => select.push("created_at").push(direction),
        SortKey::UpdatedAt => select.push("updated_at").push(direction),
        SortKey::Id => select.push("id").push(direction),
        SortKey::Field(field) => select.push_json(field).push(direction).push(" NULLS LAST"),
    };
    select.push(", id").push(direction);
    let offset = i64::from(query.page.saturating_sub(1)) * i64::from(query.limit);
    select
        .push(" LIMIT ")
        .push_bind(i64::from(query.limit))
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = select.build_query_as().fetch_all(pool).await?;
    Ok((rows, total))
}

/// Runs `ANALYZE documents` when `written` rows reach `floor` plus `fraction` of the
/// rows the planner counted at the last one (`pg_class.reltuples`, -1 before any);
/// whether it ran. `ANALYZE` samples the table and takes a lock that writes and reads
/// do not wait for.
pub async fn analyze_documents_if_due(
    pool: &PgPool,
    written: u64,
    floor: u64,
    fraction: f64,
) -> Result<bool, sqlx::Error> {
    let known: f32 = sqlx::query_scalar(
        "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'documents'::regclass",
    )
    .fetch_one(pool)
    .await?;
    if (written as f64) < floor as f64 + fraction * f64::from(known) {
        return Ok(false);
    }
    sqlx::query("ANALYZE documents").execute(pool).await?;
    Ok(true)
}
