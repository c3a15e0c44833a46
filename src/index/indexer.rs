//! The background work that keeps every collection's index true to PostgreSQL.
//!
//! One task per collection follows the change log: it wakes on NOTIFY (a wake-up
//! signal only: notifications are lost while disconnected) or on a poll timer, reads
//! the changes of finished transactions (`txid` below the oldest transaction of this
//! database still running, see [`current_horizon`])
//! past its watermark in `(txid, seq)` order, re-reads the current rows of those
//! documents, replaces them in the index and commits with the new watermark in the
//! payload. A transaction that commits out of sequence order is never skipped: until
//! it ends, the horizon stays below it.
//!
//! A missing, unreadable or outdated index (other settings generation or analyzer) is
//! rebuilt from one `REPEATABLE READ` snapshot, recorded as the watermark, then caught
//! up from the change log. A rebuild writes a new generation while the old one keeps
//! answering searches; the registry swaps to the new one when it has caught up.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::TryStreamExt;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::index::audit::{Audit, Verdict};
use crate::index::bitsets::TermBitsets;
use crate::index::retention::{self, RetentionConfig};
use crate::index::source::ReadSource;
use crate::index::{
    AppliedChanges, CollectionIndex, IndexError, IndexSpec, IndexedRow, MergeScope, Watermark,
};
use crate::placement::Placement;
use crate::store::collections::{self as collection_store, CollectionRecord};
use crate::sync;

/// How often an idle indexer looks at the change log without a NOTIFY.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long an indexer gathers more changes after a wake-up before it commits: a
/// commit costs tens of milliseconds, so changes are batched.
const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// Changes read from the log per query.
const CHANGES_PER_READ: i64 = 5_000;
/// Documents per blocking call during a rebuild.
const REBUILD_CHUNK: usize = 2_000;
/// The NOTIFY channel the change-log triggers signal on.
pub const CHANNEL: &str = "sift_document_changes";

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("index task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The current index of every collection, by name: what searches read.
pub struct IndexRegistry {
    current: RwLock<HashMap<String, Arc<CollectionIndex>>>,
    /// Moves whenever an index is registered, for those waiting for one.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for IndexRegistry {
    fn default() -> Self {
        IndexRegistry {
            current: RwLock::default(),
            changes: tokio::sync::watch::channel(0).0,
        }
    }
}

impl IndexRegistry {
    pub fn get(&self, name: &str) -> Option<Arc<CollectionIndex>> {
        sync::read(&self.current).get(name).cloned()
    }

    /// The collection's index, waiting for its first build if need be.
    pub async fn wait_for(&self, name: &str) -> Arc<CollectionIndex> {
        let mut changes = self.changes.subscribe();
        loop {
            if let Some(index) = self.get(name) {
                return index;
            }
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits until collection `collection_id` (by its name) has an index; a former
    /// collection of the same name does not count.
    pub async fn wait_for_collection(&self, name: &str, collection_id: i64) {
        let mut changes = self.changes.subscribe();
        loop {
            if self
                .get(name)
                .is_some_and(|index| index.spec().collection_id == collection_id)
            {
                return;
            }
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits until collection `collection_id`'s index reads settings generation
    /// `generation` or a later one (an index taking new settings without a rebuild,
    /// [`CollectionIndex::retune`], or a new index).
    pub async fn wait_for_generation(&self, name: &str, collection_id: i64, generation: i64) {
        let mut changes = self.changes.subscribe();
        loop {
            if self.get(name).is_some_and(|index| {
                let spec = index.spec();
                spec.collection_id == collection_id && spec.settings_generation >= generation
            }) {
                return;
            }
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Tells those waiting that a registered index changed (took new settings).
    fn touched(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Every current index.
    pub fn all(&self) -> Vec<Arc<CollectionIndex>> {
        sync::read(&self.current).values().cloned().collect()
    }

    fn set(&self, index: Arc<CollectionIndex>) {
        sync::write(&self.current).insert(index.spec().name.clone(), index);
        self.changes.send_modify(|n| *n += 1);
    }

    fn remove(&self, name: &str, collection_id: i64) {
        let mut current = sync::write(&self.current);
        if current
            .get(name)
            .is_some_and(|i| i.spec().collection_id == collection_id)
        {
            current.remove(name);
        }
    }
}

/// Runs the indexers: one per collection, started and stopped as collections come
/// and go.
pub struct Indexer {
    db: PgPool,
    index_dir: PathBuf,
    registry: Arc<IndexRegistry>,
    /// Shared by every index: keys hold segment ids, which are unique.
    bitsets: Arc<TermBitsets>,
    /// Rings when collections change (create, settings, delete), so the manager need
    /// not wait for its next look.
    pub collections_changed: Arc<Notify>,
    wakers: RwLock<HashMap<i64, Arc<Notify>>>,
    /// Collections whose index was asked to be rebuilt (`POST .../reindex`).
    rebuild_requests: RwLock<HashSet<i64>>,
    /// Collections whose index is being rebuilt now.
    rebuilding: RwLock<HashSet<i64>>,
    /// Told of every change applied (the document caches' fences).
    observer: Arc<dyn AppliedChanges>,
    /// This replica, as it reports its progress for the change log's retention.
    replica: String,
    retention: RetentionConfig,
    /// How often an idle index's document count is compared with PostgreSQL's
    /// ([`audit`]); `None` never.
    audit_interval: Option<Duration>,
    /// The collections this replica indexes; the others are left to other replicas.
    placement: Placement,
    /// Where the change log and the documents are read: the primary or a standby.
    source: Arc<ReadSource>,
    stop: CancellationToken,
}

/// What the indexer is told at start, besides its database and registry.
pub struct IndexerSettings {
    pub index_dir: PathBuf,
    /// See [`retention::replica_id`].
    pub replica: String,
    pub retention: RetentionConfig,
    /// `SIFT_INDEX_AUDIT_INTERVAL` (see [`audit`]).
    pub audit_interval: Option<Duration>,
    pub placement: Placement,
    pub source: Arc<ReadSource>,
}

struct Running {
    spec_generation: i64,
    name: String,
    task: JoinHandle<()>,
}

impl Indexer {
    pub fn new(
        db: PgPool,
        settings: IndexerSettings,
        registry: Arc<IndexRegistry>,
        bitsets: Arc<TermBitsets>,
        observer: Arc<dyn AppliedChanges>,
        stop: CancellationToken,
    ) -> Arc<Indexer> {
        Arc::new(Indexer {
            db,
            index_dir: settings.index_dir,
            replica: settings.replica,
            retention: settings.retention,
            audit_interval: settings.audit_interval,
            placement: settings.placement,
            source: settings.source,
            registry,
            bitsets,
            collections_changed: Arc::new(Notify::new()),
            wakers: RwLock::new(HashMap::new()),
            rebuild_requests: RwLock::new(HashSet::new()),
            rebuilding: RwLock::new(HashSet::new()),
            observer,
            stop,
        })
    }

    /// Where indexers read: the primary, or a standby while it keeps up.
    pub fn source(&self) -> &ReadSource {
        &self.source
    }

    /// The cache of dense terms' doc sets every index of this process shares.
    pub fn bitsets(&self) -> &TermBitsets {
        &self.bitsets
    }

    /// Starts the manager and the NOTIFY listener; returns when `stop` is cancelled and
    /// every indexer has stopped.
    pub async fn run(self: Arc<Self>) {
        let listener = tokio::spawn(self.clone().listen());
        let heartbeat = tokio::spawn(self.clone().report_progress());
        let janitor = tokio::spawn(self.clone().trim_change_log());
        let mut running: HashMap<i64, Running> = HashMap::new();
        loop {
            match collection_store::list(&self.db).await {
                Ok(mut collections) => {
                    collections.retain(|c| self.placement.serves(&c.name));
                    self.reconcile(&mut running, collections)
                }
                Err(error) => tracing::warn!(error = %error, "indexer: cannot read collections"),
            }
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = self.collections_changed.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL * 4) => {}
            }
        }
        listener.abort();
        // These two stop between passes (never mid-statement), so a stopped replica
        // reports nothing more: awaited, not aborted.
        let _ = heartbeat.await;
        let _ = janitor.await;
        // The index is derived state: work not yet committed is replayed from the
        // watermark on the next start, so indexers stop where they are.
        for (_, r) in running {
            r.task.abort();
            let _ = r.task.await;
        }
    }

    fn reconcile(
        self: &Arc<Self>,
        running: &mut HashMap<i64, Running>,
        collections: Vec<CollectionRecord>,
    ) {
        let present: HashSet<i64> = collections.iter().map(|c| c.id).collect();
        running.retain(|id, r| {
            let keep = present.contains(id) && !r.task.is_finished();
            if !keep {
                r.task.abort();
                self.registry.remove(&r.name, *id);
                sync::write(&self.wakers).remove(id);
                if !present.contains(id) {
                    remove_collection_dir(&self.index_dir, &r.name, *id);
                }
            }
            keep
        });
        for record in collections {
            let wake = self.waker(record.id);
            match running.get(&record.id) {
                Some(r) if r.spec_generation == record.settings_generation => continue,
                // Settings changed: the running task notices and rebuilds.
                Some(_) => {
                    wake.notify_one();
                    if let Some(r) = running.get_mut(&record.id) {
                        r.spec_generation = record.settings_generation;
                    }
                    continue;
                }
                None => {}
            }
            let this = self.clone();
            let (id, name, generation) =
                (record.id, record.name.clone(), record.settings_generation);
            let task = tokio::spawn(async move { this.follow(id, name, wake).await });
            running.insert(
                id,
                Running {
                    spec_generation: generation,
                    name: record.name,
                    task,
                },
            );
        }
    }

    /// Reports, every heartbeat, how far each index of this replica has applied the
    /// change log; a collection being rebuilt reports `(0, 0)`, as [`retention::hold`]
    /// did when the build began.
    async fn report_progress(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.retention.heartbeat());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let rebuilding = sync::read(&self.rebuilding).clone();
            let mut progress: Vec<(i64, Watermark)> = self
                .registry
                .all()
                .iter()
                .filter(|index| !rebuilding.contains(&index.spec().collection_id))
                .map(|index| (index.spec().collection_id, index.progress().watermark))
                .collect();
            progress.extend(rebuilding.iter().map(|&id| (id, Watermark::default())));
            if let Err(error) = retention::report(&self.db, &self.replica, &progress).await {
                tracing::warn!(error = %error, "indexer: cannot report progress");
            }
        }
    }

    /// The change log's janitor (see [`retention`]), every `SIFT_CHANGE_LOG_TRIM_INTERVAL`.
    async fn trim_change_log(self: Arc<Self>) {
        let Some(interval) = self.retention.trim_interval else {
            return;
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let started = std::time::Instant::now();
            match retention::trim(&self.db, self.retention.replica_timeout).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(
                    deleted,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "indexer: change log trimmed"
                ),
                Err(error) => tracing::warn!(error = %error, "indexer: cannot trim the change log"),
            }
        }
    }

    fn waker(&self, collection_id: i64) -> Arc<Notify> {
        sync::write(&self.wakers)
            .entry(collection_id)
            .or_default()
            .clone()
    }

    /// Asks for a new generation of the collection's index, built from PostgreSQL while
    /// the current one keeps answering.
    pub fn request_rebuild(&self, collection_id: i64) {
        sync::write(&self.rebuild_requests).insert(collection_id);
        self.wake(collection_id);
    }

    /// Whether a rebuild of the collection's index is asked for or running.
    pub fn is_rebuilding(&self, collection_id: i64) -> bool {
        sync::read(&self.rebuild_requests).contains(&collection_id)
            || sync::read(&self.rebuilding).contains(&collection_id)
    }

    /// Wakes the indexer of a collection (after a write through the API, say).
    pub fn wake(&self, collection_id: i64) {
        let wake = sync::read(&self.wakers).get(&collection_id).cloned();
        if let Some(wake) = wake {
            wake.notify_one();
        }
    }

    async fn listen(self: Arc<Self>) {
        let mut delay = Duration::from_millis(200);
        loop {
            match PgListener::connect_with(&self.db).await {
                Ok(mut listener) => {
                    if let Err(error) = listener.listen(CHANNEL).await {
                        tracing::warn!(error = %error, "indexer: LISTEN failed; polling only");
                    } else {
                        delay = Duration::from_millis(200);
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(notification)) => {
                                    if let Ok(id) = notification.payload().parse::<i64>() {
                                        self.wake(id);
                                    }
                                }
                                // The connection was lost: notifications may have been
                                // missed, so wake everyone to look.
                                Ok(None) => self.wake_all(),
                                Err(error) => {
                                    tracing::warn!(error = %error, "indexer: notification listener failed");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(error = %error, "indexer: cannot connect the listener")
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    fn wake_all(&self) {
        for wake in sync::read(&self.wakers).values() {
            wake.notify_one();
        }
    }

    /// Follows one collection's change log until stopped or the collection is gone.
    async fn follow(self: Arc<Self>, collection_id: i64, name: String, wake: Arc<Notify>) {
        let mut failures = 0u32;
        let mut current: Option<Arc<CollectionIndex>> = None;
        let mut audit = Audit::new(self.audit_interval);
        loop {
            let outcome = self.step(collection_id, &mut current, &mut audit).await;
            match outcome {
                Ok(Step::Gone) => return,
                Ok(Step::Idle) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(collection = %name, error = %error, failures, "indexer: pass failed; will retry");
                }
            }
            let pause = if failures == 0 {
                POLL_INTERVAL
            } else {
                Duration::from_millis(200 * u64::from(failures.min(25)))
            };
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = wake.notified() => tokio::time::sleep(BATCH_WINDOW).await,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn step(
        &self,
        collection_id: i64,
        current: &mut Option<Arc<CollectionIndex>>,
        audit: &mut Audit,
    ) -> Result<Step, IndexerError> {
        let Some(record) = collection_store::find_by_id(&self.db, collection_id).await? else {
            return Ok(Step::Gone);
        };
        let spec = spec_of(&record);
        let requested = self
            .rebuild_requests
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&collection_id);
        let up_to_date = !requested && current.as_ref().is_some_and(|c| c.answers(&spec));
        if up_to_date
            && let Some(index) = current.as_ref()
            && index.spec().settings_generation != spec.settings_generation
            // Only settings read at query time changed: the index answers as it is.
            && index.retune(spec.clone())
        {
            tracing::info!(
                collection = %spec.name,
                generation = spec.settings_generation,
                "indexer: new settings apply without a rebuild"
            );
            self.registry.touched();
        }
        if !up_to_date {
            // First start: the index on disk, if it is still good. Otherwise (settings
            // changed, a rebuild was asked for, nothing usable on disk) build a new
            // generation beside the current one, which keeps answering meanwhile.
            let mut on_disk = match (current.is_none() && !requested, requested) {
                (true, _) => open_current(&self.index_dir, &spec, &self.bitsets).await?,
                _ => None,
            };
            if let Some(index) = &on_disk
                && retention::trimmed_past(
                    self.source.pool(),
                    collection_id,
                    index.progress().watermark,
                )
                .await?
            {
                // Away longer than the replica timeout: the changes it missed are gone.
                tracing::warn!(collection = %spec.name, "indexer: the change log was trimmed past the index on disk; rebuilding");
                on_disk = None;
            }
            let on_disk_used = on_disk.as_ref().map(|_| ());
            let index = match on_disk {
                Some(index) => index,
                None => {
                    self.mark_rebuilding(collection_id, true);
                    // Committed before the build's snapshot: the changes after it stay.
                    let built = match retention::hold(&self.db, &self.replica, collection_id).await
                    {
                        Ok(()) => self.rebuild(spec.clone()).await,
                        Err(error) => Err(error.into()),
                    };
                    self.mark_rebuilding(collection_id, false);
                    match built {
                        Ok(index) => index,
                        Err(error) => {
                            if requested {
                                // Try again on the next pass.
                                sync::write(&self.rebuild_requests).insert(collection_id);
                            }
                            return Err(error);
                        }
                    }
                }
            };
            let index = Arc::new(index);
            self.catch_up_whole(&index).await?;
            write_current_pointer(&self.index_dir, &spec, &index.dir)?;
            let previous = current.replace(index.clone());
            audit.replaced();
            self.registry.set(index.clone());
            if on_disk_used.is_none() {
                // A fresh build leaves many segments; merge them in the background
                // while the index already answers.
                merge_in_background(index, MergeScope::All, "build");
            }
            if let Some(previous) = previous {
                remove_generation(previous);
            }
            return Ok(Step::Idle);
        }
        if let Some(index) = current.as_ref() {
            let applied = self.catch_up_whole(index).await?;
            if applied && index.wants_policy_merge() {
                // Small commits pile up small segments: merge them as they come.
                merge_in_background(index.clone(), MergeScope::Policy, "policy");
            } else if !applied && index.wants_compaction() {
                // Idle after a burst of writes (a bulk import): merge what it left.
                merge_in_background(index.clone(), MergeScope::All, "idle");
            }
            if applied {
                audit.applied();
            } else {
                self.audit(index, audit).await;
            }
        }
        Ok(Step::Idle)
    }

    /// Runs the idle [`audit`] when it is due; a hole found twice asks for a rebuild.
    async fn audit(&self, index: &CollectionIndex, audit: &mut Audit) {
        let collection = index.spec().name.clone();
        let verdict = match audit.run(self.source.pool(), index).await {
            Ok(verdict) => verdict,
            Err(error) => {
                tracing::warn!(%collection, error = %error, "indexer: cannot audit the index");
                return;
            }
        };
        let outcome = match verdict {
            Verdict::Skipped => return,
            Verdict::Agrees => "agrees",
            Verdict::Suspect { .. } => "suspect",
            Verdict::Differs { .. } => "differs",
        };
        metrics::counter!("index_audits_total", "collection" => collection.clone(), "outcome" => outcome)
            .increment(1);
        match verdict {
            Verdict::Skipped | Verdict::Agrees => {}
            Verdict::Suspect {
                in_postgres,
                in_index,
            } => {
                tracing::info!(%collection, in_postgres, in_index, "indexer: the index and PostgreSQL count different documents; looking again before rebuilding")
            }
            Verdict::Differs {
                in_postgres,
                in_index,
            } => {
                tracing::error!(%collection, in_postgres, in_index, "indexer: the index does not hold the documents PostgreSQL has, though it has applied every change; rebuilding");
                self.describe_hole(index).await;
                self.request_rebuild(index.spec().collection_id);
            }
        }
    }

    /// Logs which documents an index that failed its audit lacks or holds beyond
    /// PostgreSQL's, with the change-log entries of a few of them still in the log and
    /// the index's watermark: what tells a hole left by writes made without the triggers
    /// (no entries) from changes the index skipped or lost (entries at or below the
    /// watermark, often one import batch: one transaction). Reads every id of both
    /// sides once, on this rare path only, before the rebuild replaces the generation.
    async fn describe_hole(&self, index: &CollectionIndex) {
        /// Ids named in the log line.
        const EXAMPLES: usize = 5;
        let collection = index.spec().name.clone();
        // Where the audit counted (a standby that had replayed as far as the index).
        let db = self.source.pool();
        let report = match crate::index::check::check(db, &self.index_dir, &collection).await {
            Ok(report) => report,
            Err(error) => {
                tracing::warn!(%collection, error = %error, "indexer: cannot tell which documents the index lacks");
                return;
            }
        };
        let examples: Vec<String> = report
            .missing
            .iter()
            .chain(&report.extra)
            .take(EXAMPLES)
            .cloned()
            .collect();
        let changes: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT document_id, txid::text, seq FROM document_changes
             WHERE collection_id = $1 AND document_id = ANY($2) ORDER BY txid, seq",
        )
        .bind(index.spec().collection_id)
        .bind(&examples)
        .fetch_all(db)
        .await
        .unwrap_or_default();
        let watermark = index.progress().watermark;
        tracing::error!(
            %collection,
            missing = report.missing.len(),
            extra = report.extra.len(),
            stale = report.stale.len(),
            examples = ?examples,
            changes = ?changes,
            watermark_txid = watermark.txid,
            watermark_seq = watermark.seq,
            "indexer: the documents the index lacks (or holds beyond PostgreSQL's), and their changes still in the log"
        );
    }

    /// [`catch_up`], then a look at whether the janitor trimmed changes it needed while
    /// it read (possible only for a replica it took for gone): then the index may have
    /// a hole, and a rebuild is asked for.
    async fn catch_up_whole(&self, index: &Arc<CollectionIndex>) -> Result<bool, IndexerError> {
        // One server for the whole pass: its horizon, its log, its record of trims.
        let read = self.source.pool().clone();
        let from = index.progress().watermark;
        let applied = catch_up(&read, index, self.observer.as_ref()).await?;
        let collection_id = index.spec().collection_id;
        if retention::trimmed_past(&read, collection_id, from).await? {
            tracing::warn!(collection = %index.spec().name, "indexer: the change log was trimmed past this index while it caught up; rebuilding");
            self.request_rebuild(collection_id);
            self.wake(collection_id);
        }
        Ok(applied)
    }

    fn mark_rebuilding(&self, collection_id: i64, on: bool) {
        {
            let mut rebuilding = sync::write(&self.rebuilding);
            if on {
                rebuilding.insert(collection_id);
            } else {
                rebuilding.remove(&collection_id);
            }
        }
    }

    /// Builds a new generation from one snapshot of the collection's documents.
    async fn rebuild(&self, spec: IndexSpec) -> Result<CollectionIndex, IndexerError> {
        let dir = generation_dir(&self.index_dir, &spec);
        let started = std::time::Instant::now();
        tracing::info!(collection = %spec.name, generation = %dir.display(), "indexer: building the index");
        let create_dir = dir.clone();
        let index = Arc::new(
            tokio::task::spawn_blocking({
                let bitsets = self.bitsets.clone();
                move || CollectionIndex::create(&create_dir, spec, bitsets)
            })
            .await??,
        );

        let mut tx = self.source.pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        // The first statement takes the snapshot; its xmin is the watermark: every
        // transaction below it is in the snapshot, and later changes are replayed.
        let xmin: String =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                .fetch_one(&mut *tx)
                .await?;
        let xmin = parse_xid(&xmin)?;
        // The watermark is the last change the snapshot holds, not the xmin itself:
        // an index that followed the log to the same point then has the same
        // watermark, so replicas agree on the epoch (and share cache entries).
        let last: Option<(String, i64)> = sqlx::query_as(
            "SELECT txid::text, seq FROM document_changes
             WHERE collection_id = $1 AND txid < $2::text::xid8
             ORDER BY txid DESC, seq DESC LIMIT 1",
        )
        .bind(index.spec().collection_id)
        .bind(xmin.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        // Changes the janitor trimmed are all in the snapshot (every replica applied
        // them, so their transactions had ended): the index starts past them even when
        // the log holds nothing below the snapshot any more.
        let trimmed: Option<(String, i64)> =
            sqlx::query_as("SELECT txid::text, seq FROM change_log_trims WHERE collection_id = $1")
                .bind(index.spec().collection_id)
                .fetch_optional(&mut *tx)
                .await?;
        let as_watermark = |found: Option<(String, i64)>| -> Result<Watermark, IndexerError> {
            Ok(match found {
                Some((txid, seq)) => Watermark {
                    txid: parse_xid(&txid)?,
                    seq,
                },
                None => Watermark::default(),
            })
        };
        let watermark = as_watermark(last)?.max(as_watermark(trimmed)?);
        let mut rows = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT id, body::text, version FROM documents WHERE collection_id = $1",
        )
        .bind(index.spec().collection_id)
        .fetch(&mut *tx);
        let mut chunk = Vec::with_capacity(REBUILD_CHUNK);
        let mut total = 0u64;
        // One chunk is applied on a blocking thread while the next is read and parsed,
        // so PostgreSQL and the index work at the same time. `waiting` is how long
        // reading waited for the index.
        let mut in_flight: Option<JoinHandle<Result<(), IndexError>>> = None;
        let mut waiting = Duration::ZERO;
        while let Some((id, body, version)) = rows.try_next().await? {
            chunk.push(IndexedRow::from_source(id, version, body));
            if chunk.len() >= REBUILD_CHUNK {
                total += chunk.len() as u64;
                if let Some(previous) = in_flight.take() {
                    let wait_started = std::time::Instant::now();
                    previous.await??;
                    waiting += wait_started.elapsed();
                }
                let (applying, rows) = (index.clone(), std::mem::take(&mut chunk));
                in_flight = Some(tokio::task::spawn_blocking(move || {
                    applying.apply(&[], &rows)
                }));
                if total % 100_000 < REBUILD_CHUNK as u64 {
                    tracing::info!(collection = %index.spec().name, documents = total, "indexer: building");
                }
            }
        }
        drop(rows);
        tx.commit().await?;
        if let Some(previous) = in_flight.take() {
            previous.await??;
        }
        total += chunk.len() as u64;
        apply_blocking(&index, Vec::new(), chunk).await?;
        let commit_started = std::time::Instant::now();
        let committing = index.clone();
        tokio::task::spawn_blocking(move || committing.commit(watermark, xmin)).await??;
        tracing::info!(
            collection = %index.spec().name,
            documents = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            waiting_for_index_ms = waiting.as_millis() as u64,
            commit_ms = commit_started.elapsed().as_millis() as u64,
            "indexer: index built"
        );
        Arc::try_unwrap(index)
            .map_err(|_| IndexerError::Index(IndexError::Other("index still shared".into())))
    }
}

enum Step {
    Idle,
    Gone,
}

fn spec_of(record: &CollectionRecord) -> IndexSpec {
    IndexSpec {
        collection_id: record.id,
        name: record.name.clone(),
        settings_generation: record.settings_generation,
        index_generation: record.index_generation,
        schema: record.schema.clone(),
        settings: record.settings.clone(),
    }
}

fn parse_xid(text: &str) -> Result<u64, IndexerError> {
    text.parse().map_err(|_| {
        IndexerError::Index(IndexError::Other(format!(
            "unexpected transaction id `{text}`"
        )))
    })
}

async fn apply_blocking(
    index: &Arc<CollectionIndex>,
    ids: Vec<String>,
    rows: Vec<IndexedRow>,
) -> Result<(), IndexerError> {
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.apply(&ids, &rows)).await??;
    Ok(())
}

/// The horizon of this database: every transaction below it that could have written
/// to the change log has ended.
///
/// The snapshot's xmin alone is cluster-wide: a transaction that holds a transaction id
/// in *another* database on the same server (a migration, a long batch job) would
/// pause every collection's indexing, though it can never write here. So the horizon is
/// the oldest running transaction id of the snapshot (`xip`) that belongs to a session
/// or prepared transaction of this database, else the snapshot's xmax. Nothing is
/// skipped: the statement's snapshot is taken before `pg_stat_activity` is read, so a
/// transaction of this database that was running at the snapshot is either still
/// listed (with its id) or has ended, and then the next statement sees its changes.
/// The ids there are 32 bits; a running id is within 2^31 of the snapshot's, so the
/// low 32 bits identify it.
///
/// On a hot standby (`pg_is_in_recovery()`) the primary's sessions are not listed, so
/// the horizon is the snapshot's xmin: the oldest transaction the replayed WAL says is
/// still running (see `index::source`). A transaction in another database of the
/// primary then holds indexing back while it runs.
pub async fn current_horizon(db: &PgPool) -> Result<u64, sqlx::Error> {
    let horizon: String = sqlx::query_scalar(
        "WITH snapshot AS (SELECT pg_current_snapshot() AS s),
              here AS (
                SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
                 WHERE datname = current_database() AND backend_xid IS NOT NULL
                UNION ALL
                SELECT transaction::text::bigint FROM pg_prepared_xacts
                 WHERE database = current_database())
         SELECT CASE WHEN pg_is_in_recovery() THEN (SELECT pg_snapshot_xmin(s) FROM snapshot)
                ELSE coalesce(
                  (SELECT min(x) FROM snapshot, pg_snapshot_xip(snapshot.s) AS x
                    WHERE (x::text::numeric % 4294967296)::bigint IN (SELECT xid FROM here)),
                  (SELECT pg_snapshot_xmax(s) FROM snapshot)) END::text",
    )
    .fetch_one(db)
    .await?;
    Ok(horizon.parse().unwrap_or(0))
}

/// Merges segments of `index` (see [`CollectionIndex::merge_segments`]) on the blocking
/// pool, while it answers.
fn merge_in_background(index: Arc<CollectionIndex>, scope: MergeScope, reason: &'static str) {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let segments = index.segment_count();
        match index.merge_segments(scope) {
            Ok(true) => tracing::info!(
                collection = %index.spec().name,
                reason,
                segments,
                after = index.segment_count(),
                merge_ms = started.elapsed().as_millis() as u64,
                "indexer: segments merged"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(collection = %index.spec().name, reason, error = %error, "indexer: merging segments failed")
            }
        }
    });
}

/// Applies every finished change past the watermark (telling `observer`), and commits
/// once; whether there was anything to apply.
pub async fn catch_up(
    db: &PgPool,
    index: &Arc<CollectionIndex>,
    observer: &dyn AppliedChanges,
) -> Result<bool, IndexerError> {
    let horizon = current_horizon(db).await?;
    let start = index.progress().watermark;
    let mut watermark = start;
    loop {
        let changes: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT seq, document_id, txid::text FROM document_changes
             WHERE collection_id = $1 AND txid < $2::text::xid8
               AND (txid, seq) > ($3::text::xid8, $4)
             ORDER BY txid, seq LIMIT $5",
        )
        .bind(index.spec().collection_id)
        .bind(horizon.to_string())
        .bind(watermark.txid.to_string())
        .bind(watermark.seq)
        .bind(CHANGES_PER_READ)
        .fetch_all(db)
        .await?;
        let Some((seq, _, txid)) = changes.last() else {
            break;
        };
        let next = Watermark {
            txid: parse_xid(txid)?,
            seq: *seq,
        };
        let applied: Vec<(String, u64)> = changes
            .iter()
            .map(|(_, id, txid)| Ok((id.clone(), parse_xid(txid)?)))
            .collect::<Result<_, IndexerError>>()?;
        observer.applied(index.spec().collection_id, &applied);
        let ids: Vec<String> = changes
            .iter()
            .map(|(_, id, _)| id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let rows: Vec<IndexedRow> = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT id, body::text, version FROM documents WHERE collection_id = $1 AND id = ANY($2)",
        )
        .bind(index.spec().collection_id)
        .bind(&ids)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(id, body, version)| IndexedRow::from_source(id, version, body))
        .collect();
        apply_blocking(index, ids, rows).await?;
        watermark = next;
        if (changes.len() as i64) < CHANGES_PER_READ {
            break;
        }
    }
    let applied = watermark != start;
    if applied {
        let committing = index.clone();
        tokio::task::spawn_blocking(move || committing.commit(watermark, horizon)).await??;
    } else {
        index.advance_horizon(horizon);
    }
    Ok(applied)
}

/// Changes written and not yet applied.
pub async fn lag(db: &PgPool, index: &CollectionIndex) -> Result<i64, sqlx::Error> {
    let watermark = index.progress().watermark;
    sqlx::query_scalar(
        "SELECT count(*) FROM document_changes WHERE collection_id = $1 AND (txid, seq) > ($2::text::xid8, $3)",
    )
    .bind(index.spec().collection_id)
    .bind(watermark.txid.to_string())
    .bind(watermark.seq)
    .fetch_one(db)
    .await
}

fn collection_dir(index_dir: &Path, name: &str) -> PathBuf {
    index_dir.join(name)
}

fn generation_dir(index_dir: &Path, spec: &IndexSpec) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f");
    collection_dir(index_dir, &spec.name).join(format!(
        "{}-g{}-{stamp}",
        spec.collection_id, spec.settings_generation
    ))
}

const CURRENT_POINTER: &str = "CURRENT";

async fn open_current(
    index_dir: &Path,
    spec: &IndexSpec,
    bitsets: &Arc<TermBitsets>,
) -> Result<Option<CollectionIndex>, IndexerError> {
    let pointer = collection_dir(index_dir, &spec.name).join(CURRENT_POINTER);
    let Ok(generation) = std::fs::read_to_string(&pointer) else {
        return Ok(None);
    };
    let dir = collection_dir(index_dir, &spec.name).join(generation.trim());
    let spec = spec.clone();
    let bitsets = bitsets.clone();
    let opened =
        tokio::task::spawn_blocking(move || CollectionIndex::open(&dir, spec, bitsets)).await?;
    match opened {
        Ok(index) => Ok(index),
        // Another writer (a process stopping, say) still holds the index: try later
        // rather than throw a good index away.
        Err(IndexError::Tantivy(tantivy::TantivyError::LockFailure(..))) => {
            Err(IndexerError::Index(IndexError::Other(
                "the index is locked by another writer".into(),
            )))
        }
        Err(error) => {
            tracing::warn!(error = %error, "indexer: the index on disk cannot be opened; rebuilding");
            Ok(None)
        }
    }
}

/// Points `CURRENT` at the generation, atomically (write a temporary file, rename).
fn write_current_pointer(
    index_dir: &Path,
    spec: &IndexSpec,
    dir: &Path,
) -> Result<(), IndexerError> {
    let collection = collection_dir(index_dir, &spec.name);
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let temporary = collection.join(format!("{CURRENT_POINTER}.tmp"));
    std::fs::write(&temporary, name).map_err(IndexError::from)?;
    std::fs::rename(&temporary, collection.join(CURRENT_POINTER)).map_err(IndexError::from)?;
    // Generations of this collection that are not current, such as a rebuild that
    // was interrupted, are left-overs.
    if let Ok(entries) = std::fs::read_dir(&collection) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && path != dir {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    }
    Ok(())
}

fn remove_generation(previous: Arc<CollectionIndex>) {
    // Searches holding the old generation keep their files open (mmap); on Unix the
    // files stay readable after removal until they close them.
    let dir = previous.dir.clone();
    drop(previous);
    let _ = std::fs::remove_dir_all(dir);
}

fn remove_collection_dir(index_dir: &Path, name: &str, collection_id: i64) {
    let dir = collection_dir(index_dir, name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let prefix = format!("{collection_id}-");
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
