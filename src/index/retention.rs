//! Retention of the change log (`document_changes`): without it the log grows by a
//! row per write for ever, though an index needs only the changes past its watermark.
//!
//! * Every replica reports, per collection, how far its index has applied the log
//!   ([`report`], a heartbeat into `index_progress`). While it builds an index it
//!   reports `(0, 0)` ([`hold`]): the build reads a snapshot and then the changes after
//!   it, which must still be there.
//! * A janitor ([`trim`]), on one replica at a time (an advisory lock), deletes per
//!   collection the changes every *live* replica has applied (heard from within
//!   `SIFT_REPLICA_TIMEOUT`), in short transactions, and records how far it went in
//!   `change_log_trims` first.
//! * A replica that was away longer than that may find the log trimmed past its
//!   watermark ([`trimmed_past`]): it rebuilds from PostgreSQL instead of missing
//!   changes. So an absent replica never holds the log back for ever, and never serves
//!   an index with a hole in it.
//!
//! A collection no live replica reports is not trimmed: nothing says what was applied.

use std::path::Path;
use std::time::Duration;

use sqlx::PgPool;

use crate::index::Watermark;

/// Changes deleted per transaction, so a large trim never holds a long one.
pub const TRIM_BATCH: i64 = 10_000;
/// Progress rows of replicas not heard from for this many replica timeouts are deleted:
/// such a replica holds nothing back already, and one that comes back finds how far the
/// log was trimmed in `change_log_trims`, not here. (Each new pod of a Deployment with
/// an emptyDir index is a new replica, so these rows would otherwise pile up.)
const FORGET_AFTER_TIMEOUTS: f64 = 10.0;
/// The advisory lock that makes one replica at a time the janitor ("sift" + "log").
const JANITOR_LOCK: i64 = 0x0073_6966_746c_6f67;

/// `SIFT_CHANGE_LOG_TRIM_INTERVAL` and `SIFT_REPLICA_TIMEOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// How often the janitor looks; `None` never trims (the log grows).
    pub trim_interval: Option<Duration>,
    /// A replica not heard from for this long no longer holds back the trim.
    pub replica_timeout: Duration,
}

impl RetentionConfig {
    /// How often progress is reported: often enough that a live replica is never
    /// taken for gone.
    pub fn heartbeat(&self) -> Duration {
        (self.replica_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(10))
    }
}

/// This replica's id: a UUID kept in the index directory, so a restarted process is
/// the same replica and two processes with their own directories are two.
pub fn replica_id(index_dir: &Path) -> std::io::Result<String> {
    let path = index_dir.join("replica-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if uuid::Uuid::parse_str(id.trim()).is_ok() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    std::fs::create_dir_all(index_dir)?;
    let id = uuid::Uuid::new_v4().to_string();
    let temporary = index_dir.join("replica-id.tmp");
    std::fs::write(&temporary, &id)?;
    std::fs::rename(&temporary, &path)?;
    Ok(id)
}

/// Records how far this replica's indexes have applied the log: one statement for
/// every collection it serves.
pub async fn report(
    db: &PgPool,
    replica: &str,
    progress: &[(i64, Watermark)],
) -> Result<(), sqlx::Error> {
    if progress.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = progress.iter().map(|(id, _)| *id).collect();
    let txids: Vec<String> = progress.iter().map(|(_, w)| w.txid.to_string()).collect();
    let seqs: Vec<i64> = progress.iter().map(|(_, w)| w.seq).collect();
    // A collection deleted meanwhile is skipped (the join), not a foreign-key error.
    sqlx::query(
        "INSERT INTO index_progress (replica, collection_id, txid, seq, seen_at)
         SELECT $1, p.id, p.txid::xid8, p.seq, now()
           FROM UNNEST($2::bigint[], $3::text[], $4::bigint[]) AS p (id, txid, seq)
           JOIN collections c ON c.id = p.id
         ON CONFLICT (replica, collection_id)
         DO UPDATE SET txid = EXCLUDED.txid, seq = EXCLUDED.seq, seen_at = EXCLUDED.seen_at",
    )
    .bind(replica)
    .bind(&ids)
    .bind(&txids)
    .bind(&seqs)
    .execute(db)
    .await?;
    Ok(())
}

/// Holds back the trim of a collection while this replica builds its index: called
/// (and committed) before the build takes its snapshot.
pub async fn hold(db: &PgPool, replica: &str, collection_id: i64) -> Result<(), sqlx::Error> {
    report(db, replica, &[(collection_id, Watermark::default())]).await
}

/// Whether the log of a collection has been trimmed past `watermark`: changes after it
/// may be gone, so an index at that watermark can't catch up from the log.
pub async fn trimmed_past(
    db: &PgPool,
    collection_id: i64,
    watermark: Watermark,
) -> Result<bool, sqlx::Error> {
    let past: Option<bool> = sqlx::query_scalar(
        "SELECT (txid, seq) > ($2::text::xid8, $3) FROM change_log_trims WHERE collection_id = $1",
    )
    .bind(collection_id)
    .bind(watermark.txid.to_string())
    .bind(watermark.seq)
    .fetch_optional(db)
    .await?;
    Ok(past == Some(true))
}

/// One janitor pass: deletes, per collection, the changes every live replica has
/// applied. Returns how many were deleted; 0 when another replica holds the lock.
pub async fn trim(db: &PgPool, replica_timeout: Duration) -> Result<u64, sqlx::Error> {
    // A session-level lock on one pooled connection, released before it goes back.
    let mut lock = db.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(JANITOR_LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(0);
    }
    let trimmed = trim_locked(db, replica_timeout).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(JANITOR_LOCK)
        .execute(&mut *lock)
        .await;
    if unlocked.is_err() {
        // Don't hand a connection that may still hold the lock back to the pool.
        lock.detach();
    }
    trimmed
}

async fn trim_locked(db: &PgPool, replica_timeout: Duration) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM index_progress WHERE seen_at < now() - make_interval(secs => $1)")
        .bind(replica_timeout.as_secs_f64() * FORGET_AFTER_TIMEOUTS)
        .execute(db)
        .await?;
    // Per collection, the lowest watermark of the replicas heard from lately, where it
    // is past what was trimmed already.
    let horizons: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT h.collection_id, h.txid::text, h.seq FROM (
            SELECT DISTINCT ON (collection_id) collection_id, txid, seq FROM index_progress
             WHERE seen_at > now() - make_interval(secs => $1)
             ORDER BY collection_id, txid, seq) AS h
          LEFT JOIN change_log_trims t ON t.collection_id = h.collection_id
         WHERE t.collection_id IS NULL OR (h.txid, h.seq) > (t.txid, t.seq)",
    )
    .bind(replica_timeout.as_secs_f64())
    .fetch_all(db)
    .await?;
    let mut deleted = 0u64;
    for (collection_id, txid, seq) in horizons {
        loop {
            let mut tx = db.begin().await?;
            // Recorded before the rows go, in the same transaction: a replica that
            // reads the log and then this record can tell whether it missed any.
            sqlx::query(
                "INSERT INTO change_log_trims (collection_id, txid, seq)
                 SELECT $1, $2::text::xid8, $3 WHERE EXISTS (SELECT 1 FROM collections WHERE id = $1)
                 ON CONFLICT (collection_id) DO UPDATE SET txid = EXCLUDED.txid, seq = EXCLUDED.seq,
                   trimmed_at = now()
                 WHERE (change_log_trims.txid, change_log_trims.seq) < (EXCLUDED.txid, EXCLUDED.seq)",
            )
            .bind(collection_id)
            .bind(&txid)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            let gone = sqlx::query(
                "DELETE FROM document_changes WHERE seq IN (
                    SELECT seq FROM document_changes
                     WHERE collection_id = $1 AND (txid, seq) <= ($2::text::xid8, $3)
                     ORDER BY txid, seq LIMIT $4)",
            )
            .bind(collection_id)
            .bind(&txid)
            .bind(seq)
            .bind(TRIM_BATCH)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            deleted += gone;
            if gone < TRIM_BATCH as u64 {
                break;
            }
        }
    }
    if deleted > 0 {
        metrics::counter!("change_log_trimmed_total").increment(deleted);
    }
    Ok(deleted)
}
