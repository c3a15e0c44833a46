//! The idle audit: once the indexer has caught up, the index must hold as many
//! documents as the collection has in PostgreSQL. The watermark says which changes were
//! applied, not that applying them worked: a write made with the change-log triggers
//! disabled, a lost segment or a bug would leave a hole that nothing else would ever
//! notice (search keeps answering without the documents). The audit notices and asks
//! for a rebuild, which heals whatever made the hole.
//!
//! Cheap enough to run while serving: one `count(*)` (an index-only scan of the primary
//! key), only after the index applied writes, at most once per
//! `SIFT_INDEX_AUDIT_INTERVAL`, and only while no change is waiting.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::index::{CollectionIndex, Watermark};

/// What one look found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not due, or PostgreSQL is not at the index's point (changes are waiting, or a
    /// standby has not replayed as far): nothing to compare.
    Skipped,
    /// The counts agree.
    Agrees,
    /// The counts differ for the first time at this point: looked at again next time
    /// before anything is done.
    Suspect { in_postgres: i64, in_index: u64 },
    /// The counts differed twice at the same point, with nothing written between: the
    /// index has a hole (or documents PostgreSQL no longer has).
    Differs { in_postgres: i64, in_index: u64 },
}

/// The audit of one collection's index, kept by its indexer task.
#[derive(Debug)]
pub struct Audit {
    /// `None`: never audit (`SIFT_INDEX_AUDIT_INTERVAL=off`).
    interval: Option<Duration>,
    /// Whether writes were applied (or an index was opened) since the counts last
    /// agreed: a quiet index is not looked at again.
    due: bool,
    last: Option<Instant>,
    /// The first mismatch, kept until it is seen again at the same point (the same
    /// generation and watermark) or the counts agree.
    suspect: Option<(PathBuf, Watermark, i64, u64)>,
}

impl Audit {
    pub fn new(interval: Option<Duration>) -> Audit {
        Audit {
            interval,
            due: true,
            last: None,
            suspect: None,
        }
    }

    /// The index applied writes: look again when it is next idle.
    pub fn applied(&mut self) {
        self.due = true;
    }

    /// A new generation took over (a rebuild): it is looked at afresh.
    pub fn replaced(&mut self) {
        self.due = true;
        self.suspect = None;
    }

    /// Compares the counts if an audit is due. Call only while the index is idle (its
    /// last pass applied nothing), from the task that commits to it, so the watermark
    /// and the document count read here belong together.
    pub async fn run(
        &mut self,
        db: &PgPool,
        index: &CollectionIndex,
    ) -> Result<Verdict, sqlx::Error> {
        let Some(interval) = self.interval else {
            return Ok(Verdict::Skipped);
        };
        if !self.due || self.last.is_some_and(|last| last.elapsed() < interval) {
            return Ok(Verdict::Skipped);
        }
        self.last = Some(Instant::now());
        let watermark = index.progress().watermark;
        let in_index = index.num_docs();
        let Some(in_postgres) = count_at(db, index.spec().collection_id, watermark).await? else {
            return Ok(Verdict::Skipped);
        };
        if u64::try_from(in_postgres).ok() == Some(in_index) {
            self.due = false;
            self.suspect = None;
            return Ok(Verdict::Agrees);
        }
        let point = (index.dir.clone(), watermark, in_postgres, in_index);
        if self.suspect.as_ref() == Some(&point) {
            self.suspect = None;
            // Looked at again after the rebuild this leads to.
            return Ok(Verdict::Differs {
                in_postgres,
                in_index,
            });
        }
        self.suspect = Some(point);
        Ok(Verdict::Suspect {
            in_postgres,
            in_index,
        })
    }
}

/// The collection's document count in PostgreSQL exactly at `watermark`, or `None` when
/// the database is not at that point.
///
/// One statement, so one snapshot: its xmin past the watermark's transaction means every
/// change up to the watermark is visible, and no visible change past the watermark means
/// nothing the index has not applied is counted. (A write still in progress is invisible
/// to both halves.)
async fn count_at(
    db: &PgPool,
    collection_id: i64,
    watermark: Watermark,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CASE WHEN pg_snapshot_xmin(pg_current_snapshot()) > $2::text::xid8
                      AND NOT EXISTS (SELECT 1 FROM document_changes
                                       WHERE collection_id = $1
                                         AND (txid, seq) > ($2::text::xid8, $3))
                THEN (SELECT count(*) FROM documents WHERE collection_id = $1) END",
    )
    .bind(collection_id)
    .bind(watermark.txid.to_string())
    .bind(watermark.seq)
    .fetch_one(db)
    .await
}
