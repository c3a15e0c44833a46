//! The shared state every handler gets: one [`App`] behind an `Arc`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::cache::Caches;
use crate::config::Config;
use crate::index::indexer::{IndexRegistry, Indexer};

/// Everything the service holds for the lifetime of the process.
pub struct App {
    /// The PostgreSQL pool. Postgres is the source of truth for collections and
    /// documents; every write is one transaction on a connection from here.
    pub db: PgPool,
    /// The Redis pool, when `REDIS_URL` is set. Only ever an optimisation (the shared
    /// cache), never needed for correctness, so its absence or failure degrades and
    /// does not fail requests.
    pub redis: Option<deadpool_redis::Pool>,
    /// The validated configuration.
    pub config: Config,
    /// Renders the process-wide Prometheus registry for `/metrics`.
    pub metrics: PrometheusHandle,
    /// When the process started, for `/health`'s uptime.
    pub started_at: Instant,
    /// The current index of each collection, for searches.
    pub indexes: Arc<IndexRegistry>,
    /// Keeps the indexes in step with PostgreSQL; told when collections change.
    pub indexer: Arc<Indexer>,
    /// Searches running or waiting for a blocking thread. Bounded so that a flood of
    /// searches is answered 503 instead of queueing without end and starving the
    /// runtime.
    pub search_permits: Arc<Semaphore>,
    /// L1 (in process) and L2 (Redis) caches of searches, suggestions and document
    /// reads. Shared with the task that follows other replicas' invalidations.
    pub caches: Arc<Caches>,
    /// Presented keys' grants (or their absence) by digest, for a few seconds
    /// (`service::keys::KEY_CACHE_TTL`): a request with a key costs no database round
    /// trip, and a revocation reaches every replica within that time.
    pub key_grants: moka::future::Cache<[u8; 32], Option<Arc<crate::access::Grant>>>,
    /// The per-client rate limit (`SIFT_RATE_LIMIT`), when on.
    pub rate_limiter: Option<Arc<crate::rate_limit::RateLimiter>>,
    /// Work that outlives the request that started it (full-text index rebuilds).
    /// Shutdown closes it and waits for it, within the shutdown timeout, so a rebuild
    /// is not cut off halfway by a clean stop.
    pub background: TaskTracker,
    /// One full-text index build or drop at a time: two would race for the temporary name.
    pub fts_rebuilds: Arc<tokio::sync::Mutex<()>>,
    /// When imports have `documents` analyzed (see `refresh_planner_statistics` in
    /// `service::import`).
    pub planner_statistics: PlannerStatistics,
    /// Counts searches and clicks for `/analytics`, off the request path; `None` with
    /// `SIFT_ANALYTICS_RETENTION=off`.
    pub analytics: Option<crate::analytics::Analytics>,
}

/// Rows imported since this replica last had `documents` analyzed, and whether an
/// `ANALYZE` is running. Counted here, not read from `pg_stat_user_tables`, whose
/// counters a backend may publish seconds after its commit.
#[derive(Default)]
pub struct PlannerStatistics {
    pub imported_since: std::sync::atomic::AtomicU64,
    pub analyzing: std::sync::atomic::AtomicBool,
}

/// The axum state: cheap to clone, one `App` behind it.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
