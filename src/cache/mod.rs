//! Two cache levels in front of search, suggest and document reads.
//!
//! * L1 is a moka cache inside the process, weighed by entry size, with a TTL.
//! * L2 is Redis, shared by every replica ([`redis`]), with a TTL, behind a timeout
//!   and a circuit breaker ([`breaker`]): Redis failing costs at most the timeout and
//!   is never an error.
//!
//! Why searches are never stale: their keys carry the collection's **epoch**
//! (collection id, settings generation and the watermark the index has applied), which
//! moves on every index commit, so an entry can only be found while the index is at
//! the point that produced it. Replicas at the same point compute the same key and
//! share L2 entries.
//!
//! Document reads have two defences, a fast one and one that holds by construction.
//!
//! * **Invalidation** (fast): a write, after it commits, moves the invalidation
//!   counter of each key it touched and deletes the entries, in L1 and L2, then tells
//!   the other replicas over Redis pub/sub ([`invalidation`]) and waits (briefly) for
//!   each to acknowledge before it answers. A reader notes the counter before it reads
//!   PostgreSQL and fills only if the counter has not moved, so a read that started
//!   before a write can't put the old document back. A replica that is not subscribed
//!   (Redis down) does not use L1 for documents at all.
//! * **Fences** (by construction): invalidation is a message, and a message can be
//!   lost (the writer dies after its commit, Redis times out). The change log can't
//!   be: every replica's indexer reads it, and tells the caches of each change it
//!   applies ([`crate::index::AppliedChanges`]). So:
//!   - an L1 entry remembers the key's invalidation counter when its read began, and
//!     is served only while the counter has not moved since; the indexer moves it too;
//!   - an L2 entry outlives any process, so it carries the xmin of the PostgreSQL
//!     snapshot it was read in (every transaction below it had ended and is
//!     reflected), and each process keeps, per stripe of keys, the newest transaction
//!     it knows changed a document there (its *fence*: from its own writes, other
//!     replicas' messages and its indexer). An L2 entry is served only if it was read
//!     after the fence (`xmin > fence`). A process starts with every fence at the
//!     newest transaction id assigned, so it trusts no L2 entry filled before it
//!     started.
//!
//! So a lost invalidation is repaired on each replica when its indexer applies the
//! change (its index lag: the same bound as a search's freshness), and a crash leaves
//! nothing stale behind. A fence is conservative: while a write transaction that
//! began before the last write to a stripe is still open, that stripe's L2 entries
//! read meanwhile are misses. Counters and fences are striped ([`STRIPES`] per
//! process, and counters in Redis), so their memory is bounded however many documents
//! are written; a shared stripe only costs a skipped fill or a miss.

pub mod breaker;
pub mod invalidation;
pub mod keys;
pub mod redis;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::ops::compute::Op;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cache::invalidation::Invalidations;
use crate::cache::redis::RedisCache;

/// Where a response came from; the `cache` field and the `X-Cache` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheOrigin {
    /// This process's memory.
    L1,
    /// Redis, shared by the replicas.
    L2,
    /// Computed for this request (or not cacheable: `ilike` and `fts` never are).
    #[default]
    Miss,
}

impl CacheOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOrigin::L1 => "l1",
            CacheOrigin::L2 => "l2",
            CacheOrigin::Miss => "miss",
        }
    }
}

/// The cache settings (defaults in `config::defaults`).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// L1 capacity in bytes; 0 turns L1 off.
    pub l1_capacity_bytes: u64,
    pub l1_ttl: Duration,
    /// Whether Redis is used as L2 (when `REDIS_URL` is set).
    pub l2_enabled: bool,
    pub l2_ttl: Duration,
    /// Bound on every Redis call.
    pub redis_timeout: Duration,
    /// First part of every Redis key and channel, so several deployments (or tests)
    /// can share one Redis.
    pub key_prefix: String,
}

/// A value in L1.
#[derive(Debug, Clone)]
enum Entry {
    /// A search or suggest response, serialized once (what L2 holds too), with where
    /// it came from when it was filled.
    Response {
        json: Arc<[u8]>,
        origin: CacheOrigin,
    },
    /// A document read, with its `ETag`, and the key's invalidation counter when the
    /// read began: it is served only while the counter still holds that value.
    Document {
        etag: Arc<str>,
        json: Arc<[u8]>,
        seen: u64,
    },
}

impl Entry {
    fn weight(&self) -> u32 {
        let payload = match self {
            Entry::Response { json, .. } => json.len(),
            Entry::Document { json, etag, .. } => json.len() + etag.len(),
        };
        u32::try_from(payload + 64).unwrap_or(u32::MAX)
    }
}

/// Invalidation counters per process and in Redis. A power of two.
pub const STRIPES: usize = 4096;

/// The stripe of a key: FNV-1a, the same in every process (Redis counters are shared).
pub fn stripe(key: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash as usize) & (STRIPES - 1)
}

/// A cached answer: its JSON and where it came from.
pub struct Cached {
    pub json: Arc<[u8]>,
    pub origin: CacheOrigin,
}

/// A document as read from PostgreSQL, for the caches.
pub struct LoadedDocument {
    pub etag: String,
    pub json: Vec<u8>,
    /// The xmin of the snapshot it was read in: every transaction below it had ended,
    /// and is reflected in `json`.
    pub read_at: u64,
}

/// A cached document read.
pub struct CachedDocument {
    pub etag: Arc<str>,
    pub json: Arc<[u8]>,
    pub origin: CacheOrigin,
}

/// The caches of one process.
pub struct Caches {
    l1: Option<moka::future::Cache<String, Entry>>,
    /// L2, when Redis is configured and L2 is on.
    pub l2: Option<Arc<RedisCache>>,
    /// Cross-replica invalidation of document reads.
    pub invalidations: Arc<Invalidations>,
    pub keys: keys::Keys,
    /// This process's invalidation counters for document keys, by [`stripe`].
    counters: Box<[AtomicU64]>,
    /// By [`stripe`]: the newest transaction this process knows changed a document
    /// whose key is in the stripe. L2 entries read before it are not served (see the
    /// module's doc): unlike an invalidation, a fence can't be lost.
    fences: Box<[AtomicU64]>,
}

impl Caches {
    pub fn new(config: &CacheConfig, redis: Option<deadpool_redis::Pool>) -> Caches {
        let l1 = (config.l1_capacity_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(config.l1_capacity_bytes)
                .weigher(|key: &String, value: &Entry| {
                    value
                        .weight()
                        .saturating_add(u32::try_from(key.len()).unwrap_or(u32::MAX))
                })
                .time_to_live(config.l1_ttl)
                .build()
        });
        let l2 = redis
            .filter(|_| config.l2_enabled)
            .map(|pool| Arc::new(RedisCache::new(pool, config.redis_timeout, config.l2_ttl)));
        let keys = keys::Keys::new(&config.key_prefix);
        let invalidations = Arc::new(Invalidations::new(&keys, config.redis_timeout));
        Caches {
            l1,
            l2,
            invalidations,
            keys,
            counters: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            // Until `fence_all` runs at startup, no document entry is trusted.
            fences: (0..STRIPES).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }

    /// Sets every fence to `txid`: at startup, with the newest transaction that may
    /// have ended (the snapshot's xmax less one), so nothing filled before this process
    /// started is served (a write acknowledged just before
    /// a crash may not have been invalidated).
    pub fn fence_all(&self, txid: u64) {
        for fence in self.fences.iter() {
            fence.store(txid, Ordering::Release);
        }
    }

    /// Records that transaction `txid` changed the document under `key`.
    pub fn fence(&self, key: &str, txid: u64) {
        self.fences[stripe(key)].fetch_max(txid, Ordering::AcqRel);
    }

    /// Whether an L2 entry of `stripe` read at `read_at` reflects every change this
    /// process knows of.
    fn trusted(&self, stripe: usize, read_at: u64) -> bool {
        read_at > self.fences[stripe].load(Ordering::Acquire)
    }

    /// Entries and weighed bytes in L1, for `/metrics`.
    pub fn l1_size(&self) -> (u64, u64) {
        match &self.l1 {
            Some(l1) => (l1.entry_count(), l1.weighted_size()),
            None => (0, 0),
        }
    }

    /// A search or suggest answer: L1, then L2, then `compute`, which fills both.
    /// Concurrent identical misses in this process compute once; the others wait for
    /// that result and report `l1`.
    ///
    /// The error is shared (an `Arc`) because the waiters of a single-flight all get
    /// the one computation's error.
    pub async fn response<F, Fut, E>(
        &self,
        kind: &'static str,
        key: String,
        compute: F,
    ) -> Result<Cached, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, E>>,
        E: From<UnexpectedEntry> + Send + Sync + 'static,
    {
        let l2_key = key.clone();
        let load = async move {
            let key = l2_key;
            if let Some(l2) = &self.l2
                && let Some(json) = l2.get(&key).await
            {
                record(kind, CacheOrigin::L2);
                return Ok(Entry::Response {
                    json: json.into(),
                    origin: CacheOrigin::L2,
                });
            }
            let json = compute().await?;
            if let Some(l2) = &self.l2 {
                l2.set(&key, &json).await;
            }
            record(kind, CacheOrigin::Miss);
            Ok::<_, E>(Entry::Response {
                json: json.into(),
                origin: CacheOrigin::Miss,
            })
        };
        let Some(l1) = &self.l1 else {
            return match load.await.map_err(Arc::new)? {
                Entry::Response { json, origin } => Ok(Cached { json, origin }),
                _ => Err(Arc::new(E::from(UnexpectedEntry))),
            };
        };
        let entry = l1.entry(key).or_try_insert_with(load).await?;
        let fresh = entry.is_fresh();
        match entry.into_value() {
            Entry::Response { json, origin } => {
                let origin = if fresh { origin } else { CacheOrigin::L1 };
                if !fresh {
                    record(kind, CacheOrigin::L1);
                }
                Ok(Cached { json, origin })
            }
            _ => Err(Arc::new(E::from(UnexpectedEntry))),
        }
    }

    /// Whether L1 may hold document reads: only while this process hears the other
    /// replicas' invalidations (always, without Redis: there is no one to hear).
    fn documents_in_l1(&self) -> Option<&moka::future::Cache<String, Entry>> {
        let l1 = self.l1.as_ref()?;
        if self.l2.is_some() && !self.invalidations.is_live() {
            return None;
        }
        Some(l1)
    }

    /// A document read: L1, then L2, then `load` (PostgreSQL), which fills both unless
    /// a write moved the key's counter meanwhile. An L2 entry older than the key's
    /// fence is passed over. `Ok(None)` when `load` found nothing.
    pub async fn document<F, Fut, E>(
        &self,
        key: String,
        load: F,
    ) -> Result<Option<CachedDocument>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<LoadedDocument>, E>>,
    {
        let stripe = stripe(&key);
        let l1 = self.documents_in_l1();
        if let Some(l1) = l1
            && let Some(Entry::Document { etag, json, seen }) = l1.get(&key).await
            && self.counters[stripe].load(Ordering::Acquire) == seen
        {
            record("document", CacheOrigin::L1);
            return Ok(Some(CachedDocument {
                etag,
                json,
                origin: CacheOrigin::L1,
            }));
        }
        let seen_here = self.counters[stripe].load(Ordering::Acquire);
        let counter_key = self.keys.document_counter(stripe);
        let mut seen_l2 = None;
        if let Some(l2) = &self.l2
            && let Some((value, counter)) = l2.get_guarded(&key, &counter_key).await
        {
            match value.as_deref().and_then(split_document) {
                Some((read_at, etag, json)) if self.trusted(stripe, read_at) => {
                    let (etag, json): (Arc<str>, Arc<[u8]>) = (etag.into(), json.into());
                    if let Some(l1) = l1 {
                        self.fill_document(l1, key, stripe, seen_here, &etag, &json)
                            .await;
                    }
                    record("document", CacheOrigin::L2);
                    return Ok(Some(CachedDocument {
                        etag,
                        json,
                        origin: CacheOrigin::L2,
                    }));
                }
                Some(_) => metrics::counter!("cache_l2_fenced_total").increment(1),
                None => {}
            }
            seen_l2 = Some(counter);
        }
        let Some(LoadedDocument {
            etag,
            json,
            read_at,
        }) = load().await?
        else {
            return Ok(None);
        };
        if let (Some(l2), Some(seen)) = (&self.l2, &seen_l2) {
            let read_at = read_at.to_string();
            let mut value = Vec::with_capacity(read_at.len() + 1 + etag.len() + 1 + json.len());
            value.extend_from_slice(read_at.as_bytes());
            value.push(b'\n');
            value.extend_from_slice(etag.as_bytes());
            value.push(b'\n');
            value.extend_from_slice(&json);
            l2.fill_if_unchanged(&key, &counter_key, seen.as_deref(), &value)
                .await;
        }
        let (etag, json): (Arc<str>, Arc<[u8]>) = (etag.into(), json.into());
        if let Some(l1) = l1 {
            self.fill_document(l1, key, stripe, seen_here, &etag, &json)
                .await;
        }
        record("document", CacheOrigin::Miss);
        Ok(Some(CachedDocument {
            etag,
            json,
            origin: CacheOrigin::Miss,
        }))
    }

    /// Puts a document in L1 unless the key's counter moved from `seen`. The check
    /// runs under the entry's lock and an invalidation moves the counter before it
    /// removes the entry, so a fill either sees the move or is removed after it.
    async fn fill_document(
        &self,
        l1: &moka::future::Cache<String, Entry>,
        key: String,
        stripe: usize,
        seen: u64,
        etag: &Arc<str>,
        json: &Arc<[u8]>,
    ) {
        l1.entry(key)
            .and_compute_with(|_| {
                let unchanged = self.counters[stripe].load(Ordering::Acquire) == seen;
                std::future::ready(if unchanged {
                    Op::Put(Entry::Document {
                        etag: etag.clone(),
                        json: json.clone(),
                        seen,
                    })
                } else {
                    Op::Nop
                })
            })
            .await;
    }

    /// After transaction `txid`'s write to the documents `keys` has committed: their
    /// fences and counters move and their entries go, in L1 and L2; then the other
    /// replicas are told and (briefly) awaited.
    pub async fn invalidate_documents(&self, keys: Vec<String>, txid: u64) {
        self.drop_local(&keys, txid).await;
        if let Some(l2) = &self.l2 {
            let pairs: Vec<(String, String)> = keys
                .iter()
                .map(|key| (key.clone(), self.keys.document_counter(stripe(key))))
                .collect();
            l2.invalidate(&pairs).await;
            self.invalidations.broadcast(l2, keys, txid).await;
        }
    }

    /// Invalidates document keys changed by transaction `txid` in this process only
    /// (also on a message from another replica).
    pub async fn drop_local(&self, keys: &[String], txid: u64) {
        for key in keys {
            self.fence(key, txid);
            self.counters[stripe(key)].fetch_add(1, Ordering::AcqRel);
        }
        if let Some(l1) = &self.l1 {
            for key in keys {
                l1.invalidate(key).await;
            }
        }
    }

    /// Empties L1 of documents (and everything else): after this process may have
    /// missed invalidations.
    pub fn clear_l1(&self) {
        if let Some(l1) = &self.l1 {
            l1.invalidate_all();
        }
    }
}

/// An L1 entry of the wrong kind under a key: a bug (search, suggest and document keys
/// have distinct namespaces), reported as an internal error, never a panic.
#[derive(Debug, thiserror::Error)]
#[error("cache: unexpected entry kind")]
pub struct UnexpectedEntry;

fn record(kind: &'static str, origin: CacheOrigin) {
    match origin {
        CacheOrigin::L1 | CacheOrigin::L2 => {
            metrics::counter!("cache_hits_total", "level" => origin.as_str(), "kind" => kind)
                .increment(1)
        }
        CacheOrigin::Miss => metrics::counter!("cache_misses_total", "kind" => kind).increment(1),
    }
}

/// `<read_at>\n<etag>\n<json>`, as L2 holds a document.
fn split_document(value: &[u8]) -> Option<(u64, &str, &[u8])> {
    let first = value.iter().position(|b| *b == b'\n')?;
    let read_at = std::str::from_utf8(&value[..first]).ok()?.parse().ok()?;
    let rest = &value[first + 1..];
    let second = rest.iter().position(|b| *b == b'\n')?;
    let etag = std::str::from_utf8(&rest[..second]).ok()?;
    Some((read_at, etag, &rest[second + 1..]))
}

impl crate::index::AppliedChanges for Caches {
    /// Fences the changed keys and moves their counters (their L1 entries are no longer
    /// served), whether or not an invalidation already did.
    fn applied(&self, collection_id: i64, changes: &[(String, u64)]) {
        for (id, txid) in changes {
            let key = self.keys.document(collection_id, id);
            self.fence(&key, *txid);
            self.counters[stripe(&key)].fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caches() -> Caches {
        Caches::new(
            &CacheConfig {
                l1_capacity_bytes: 1 << 20,
                l1_ttl: Duration::from_secs(60),
                l2_enabled: false,
                l2_ttl: Duration::from_secs(60),
                redis_timeout: Duration::from_millis(20),
                key_prefix: "unit".into(),
            },
            None,
        )
    }

    #[test]
    fn nothing_is_trusted_before_the_fences_are_set_at_startup() {
        let caches = caches();
        assert!(!caches.trusted(stripe("k"), u64::MAX - 1));
        caches.fence_all(99);
        assert!(
            caches.trusted(stripe("k"), 100),
            "read after every ended write"
        );
        assert!(!caches.trusted(stripe("k"), 99), "99 may have been running");
    }

    #[test]
    fn a_change_the_indexer_applies_fences_the_key_even_when_its_invalidation_was_lost() {
        let caches = caches();
        caches.fence_all(10);
        let key = caches.keys.document(7, "lamp");
        assert!(caches.trusted(stripe(&key), 20));
        crate::index::AppliedChanges::applied(&caches, 7, &[("lamp".into(), 25)]);
        assert!(!caches.trusted(stripe(&key), 20), "read before the change");
        assert!(
            !caches.trusted(stripe(&key), 25),
            "read while it may have been open"
        );
        assert!(caches.trusted(stripe(&key), 26));
        // A change known later with an older transaction id never lowers the fence.
        caches.fence(&key, 22);
        assert!(!caches.trusted(stripe(&key), 25));
    }

    #[tokio::test]
    async fn an_l1_entry_is_not_served_once_the_indexer_applied_a_change_to_it() {
        let caches = caches();
        caches.fence_all(10);
        let key = caches.keys.document(7, "lamp");
        let read = |body: &'static str| {
            caches.document(key.clone(), move || async move {
                Ok::<_, std::convert::Infallible>(Some(LoadedDocument {
                    etag: "\"e\"".into(),
                    json: body.as_bytes().to_vec(),
                    read_at: 20,
                }))
            })
        };
        let origin = |d: Result<Option<CachedDocument>, std::convert::Infallible>| {
            let d = d.expect("infallible").expect("found");
            (String::from_utf8(d.json.to_vec()).expect("utf-8"), d.origin)
        };
        assert_eq!(origin(read("v1").await), ("v1".into(), CacheOrigin::Miss));
        assert_eq!(origin(read("v2").await), ("v1".into(), CacheOrigin::L1));
        crate::index::AppliedChanges::applied(&caches, 7, &[("lamp".into(), 25)]);
        assert_eq!(origin(read("v2").await), ("v2".into(), CacheOrigin::Miss));
        assert_eq!(origin(read("v3").await), ("v2".into(), CacheOrigin::L1));
    }

    #[test]
    fn l2_values_split_into_snapshot_etag_and_body() {
        assert_eq!(
            split_document(b"42\n\"e\"\n{\"a\":1}"),
            Some((42, "\"e\"", &b"{\"a\":1}"[..]))
        );
        assert_eq!(
            split_document(b"\"e\"\n{}"),
            None,
            "the old format is a miss"
        );
    }
}
