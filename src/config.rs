//! Typed configuration, validated before anything starts.
//!
//! Every setting comes from an environment variable or the matching CLI flag (clap
//! reads both; `sift serve --help` lists them). The raw values arrive as strings and
//! are checked all at once, so a misconfigured process prints every problem, one line
//! each, and exits with status 2 instead of failing on the first.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::Args;
use sqlx::postgres::PgConnectOptions;
use tracing_subscriber::EnvFilter;

use crate::cache::CacheConfig;
use crate::db::PoolSettings;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for production log collectors.
    Json,
    /// Readable, coloured lines, for a terminal.
    Pretty,
}

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers at all: only same-origin pages (and non-browser clients).
    None,
    /// Any origin (`*`).
    Any,
    /// Exactly these origins.
    List(Vec<HeaderValue>),
}

/// Every default, once: clap shows them in `--help`, and [`ServeArgs::default`] (so
/// [`Config::for_database`]) parses the same strings.
pub mod defaults {
    pub const BIND: &str = "127.0.0.1:8080";
    pub const DB_MAX_CONNECTIONS: &str = "10";
    pub const DB_ACQUIRE_TIMEOUT: &str = "3s";
    pub const REDIS_POOL_SIZE: &str = "16";
    pub const REQUEST_TIMEOUT: &str = "30s";
    pub const HEADER_READ_TIMEOUT: &str = "10s";
    pub const BODY_IDLE_TIMEOUT: &str = "30s";
    pub const MAX_CONNECTIONS: &str = "1024";
    pub const MAX_REQUESTS: &str = "256";
    pub const RATE_LIMIT: &str = "off";
    pub const REQUIRE_KEY_FOR_READS: &str = "false";
    pub const RATE_LIMIT_BURST: &str = "auto";
    pub const TRUSTED_PROXIES: &str = "";
    pub const BODY_LIMIT: &str = "1MiB";
    pub const CORS_ORIGINS: &str = "";
    pub const LOG_FORMAT: &str = "auto";
    pub const LOG_LEVEL: &str = "info";
    pub const SLOW_REQUEST_THRESHOLD: &str = "1s";
    pub const SHUTDOWN_TIMEOUT: &str = "30s";
    pub const DISK_MIN_FREE: &str = "1GiB";
    /// Twice the cores (see [`super::parse_max_searches`]).
    pub const MAX_SEARCHES: &str = "auto";
    pub const CONSISTENCY_TIMEOUT: &str = "5s";
    pub const INDEX_BITSET_CACHE: &str = "128MiB";
    pub const ANALYTICS_RETENTION: &str = "30d";
    pub const ANALYTICS_FLUSH_INTERVAL: &str = "5s";
    pub const CACHE_L1_SIZE: &str = "64MiB";
    pub const CACHE_L1_TTL: &str = "60s";
    pub const CACHE_L2: &str = "true";
    pub const CACHE_L2_TTL: &str = "5m";
    pub const REDIS_TIMEOUT: &str = "20ms";
    pub const REDIS_KEY_PREFIX: &str = "sift";
    pub const DEMO: &str = "false";
    pub const INDEX_DIR: &str = "./index";
    pub const CHANGE_LOG_TRIM_INTERVAL: &str = "1m";
    pub const REPLICA_TIMEOUT: &str = "10m";
    pub const INDEX_AUDIT_INTERVAL: &str = "1m";
    pub const COLLECTIONS: &str = "*";
    pub const STANDBY_MAX_LAG: &str = "64MiB";
    pub const STANDBY_FALLBACK: &str = "primary";
}

/// The flags and environment variables of `sift serve`, as given.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// PostgreSQL URL, such as postgres://user:password@localhost:5432/sift (required)
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Hot standbys of the PostgreSQL primary, comma-separated: indexers read the change log and documents from the first that keeps up (optional)
    #[arg(long, env = "SIFT_DATABASE_REPLICA_URL", hide_env_values = true)]
    pub database_replica_url: Option<String>,

    /// The most WAL the standby may have left to replay before indexers read from the primary instead
    #[arg(long, env = "SIFT_STANDBY_MAX_LAG", default_value = defaults::STANDBY_MAX_LAG)]
    pub standby_max_lag: String,

    /// When no standby keeps up: `primary` (indexers read from the primary) or `not-ready` (/ready answers 503)
    #[arg(long, env = "SIFT_STANDBY_FALLBACK", default_value = defaults::STANDBY_FALLBACK)]
    pub standby_fallback: String,

    /// Redis URL, such as redis://127.0.0.1:6379 (optional: without it sift runs without the shared cache)
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Address and port to listen on
    #[arg(long, env = "SIFT_BIND", default_value = defaults::BIND)]
    pub bind: String,

    /// Directory holding the search indexes (one folder per collection)
    #[arg(long, env = "SIFT_INDEX_DIR", default_value = defaults::INDEX_DIR)]
    pub index_dir: PathBuf,

    /// Most PostgreSQL connections in the pool
    #[arg(long, env = "SIFT_DB_MAX_CONNECTIONS", default_value = defaults::DB_MAX_CONNECTIONS)]
    pub db_max_connections: String,

    /// How long a request waits for a free PostgreSQL connection before answering 503
    #[arg(long, env = "SIFT_DB_ACQUIRE_TIMEOUT", default_value = defaults::DB_ACQUIRE_TIMEOUT)]
    pub db_acquire_timeout: String,

    /// Most Redis connections in the pool
    #[arg(long, env = "SIFT_REDIS_POOL_SIZE", default_value = defaults::REDIS_POOL_SIZE)]
    pub redis_pool_size: String,

    /// Longest a request may take before it is answered 408 (imports are exempt)
    #[arg(long, env = "SIFT_REQUEST_TIMEOUT", default_value = defaults::REQUEST_TIMEOUT)]
    pub request_timeout: String,

    /// Longest a client may take to send a request's headers, or to start its next request
    /// on a kept-alive connection, before the connection is closed
    #[arg(long, env = "SIFT_HEADER_READ_TIMEOUT", default_value = defaults::HEADER_READ_TIMEOUT)]
    pub header_read_timeout: String,

    /// Longest a request body (an import) may send nothing before it is cut with 408
    #[arg(long, env = "SIFT_BODY_IDLE_TIMEOUT", default_value = defaults::BODY_IDLE_TIMEOUT)]
    pub body_idle_timeout: String,

    /// Most open client connections; more wait in the kernel's accept queue
    #[arg(long, env = "SIFT_MAX_CONNECTIONS", default_value = defaults::MAX_CONNECTIONS)]
    pub max_connections: String,

    /// Most API requests in flight; more are answered 503 `server_busy` at once (health,
    /// readiness and metrics are exempt)
    #[arg(long, env = "SIFT_MAX_REQUESTS", default_value = defaults::MAX_REQUESTS)]
    pub max_requests: String,

    /// Require a key (the admin key or an API key with the action) for reads too:
    /// search, reading documents and collections
    #[arg(long, env = "SIFT_REQUIRE_KEY_FOR_READS", default_value = defaults::REQUIRE_KEY_FOR_READS, num_args = 0..=1, default_missing_value = "true")]
    pub require_key_for_reads: String,

    /// API requests a second per client (its API key, else its address), or `off`; past
    /// it 429 `rate_limited` with Retry-After. Shared by replicas through Redis when there
    /// is one. The admin key is never limited
    #[arg(long, env = "SIFT_RATE_LIMIT", default_value = defaults::RATE_LIMIT)]
    pub rate_limit: String,

    /// Requests a client may send at once before the rate applies (`auto`: one second's
    /// worth); counted per process when Redis is unreachable
    #[arg(long, env = "SIFT_RATE_LIMIT_BURST", default_value = defaults::RATE_LIMIT_BURST)]
    pub rate_limit_burst: String,

    /// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR ranges,
    /// comma-separated (default: none, the TCP peer is the client). A request from one
    /// is counted by the rate limit as the nearest address in the header that is not a
    /// trusted proxy
    #[arg(long, env = "SIFT_TRUSTED_PROXIES", default_value = defaults::TRUSTED_PROXIES)]
    pub trusted_proxies: String,

    /// Largest request body, and largest line of an NDJSON import (e.g. 1MiB, 512KiB, 1048576)
    #[arg(long, env = "SIFT_BODY_LIMIT", default_value = defaults::BODY_LIMIT)]
    pub body_limit: String,

    /// Origins allowed to call the API from a browser, comma-separated, or `*` (default: none)
    #[arg(long, env = "SIFT_CORS_ORIGINS", default_value = defaults::CORS_ORIGINS)]
    pub cors_origins: String,

    /// Log format: json, pretty, or auto (pretty on a terminal, json otherwise)
    #[arg(long, env = "SIFT_LOG_FORMAT", default_value = defaults::LOG_FORMAT)]
    pub log_format: String,

    /// Log level or filter directives, such as info or sift=debug,tower_http=info
    #[arg(long, env = "SIFT_LOG_LEVEL", default_value = defaults::LOG_LEVEL)]
    pub log_level: String,

    /// Admin API key; when set, every write needs `Authorization: Bearer <key>` (at least 16 characters)
    #[arg(long, env = "SIFT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Requests slower than this are logged at warn level
    #[arg(long, env = "SIFT_SLOW_REQUEST_THRESHOLD", default_value = defaults::SLOW_REQUEST_THRESHOLD)]
    pub slow_request_threshold: String,

    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish
    #[arg(long, env = "SIFT_SHUTDOWN_TIMEOUT", default_value = defaults::SHUTDOWN_TIMEOUT)]
    pub shutdown_timeout: String,

    /// `/health` reports the index directory as degraded below this much free space
    #[arg(long, env = "SIFT_DISK_MIN_FREE", default_value = defaults::DISK_MIN_FREE)]
    pub disk_min_free: String,

    /// Index searches running at once (`auto`: twice the cores); more are answered 503
    /// `search_queue_full` at once, with Retry-After
    #[arg(long, env = "SIFT_MAX_SEARCHES", default_value = defaults::MAX_SEARCHES)]
    pub max_searches: String,

    /// Longest a search with `after=<token>` waits for the index to apply that write before answering 504
    #[arg(long, env = "SIFT_CONSISTENCY_TIMEOUT", default_value = defaults::CONSISTENCY_TIMEOUT)]
    pub consistency_timeout: String,

    /// How long search analytics are kept (hourly counts per query); `off` records none
    #[arg(long, env = "SIFT_ANALYTICS_RETENTION", default_value = defaults::ANALYTICS_RETENTION)]
    pub analytics_retention: String,

    /// How often recorded searches and clicks are written to PostgreSQL, in one statement
    #[arg(long, env = "SIFT_ANALYTICS_FLUSH_INTERVAL", default_value = defaults::ANALYTICS_FLUSH_INTERVAL)]
    pub analytics_flush_interval: String,

    /// Memory for the index's cached doc sets of common terms, which make exact totals of broad searches cheap
    #[arg(long, env = "SIFT_INDEX_BITSET_CACHE", default_value = defaults::INDEX_BITSET_CACHE)]
    pub index_bitset_cache: String,

    /// Memory for the in-process cache (L1) of searches, suggestions and document reads; 0 turns it off
    #[arg(long, env = "SIFT_CACHE_L1_SIZE", default_value = defaults::CACHE_L1_SIZE)]
    pub cache_l1_size: String,

    /// How long an L1 entry lives
    #[arg(long, env = "SIFT_CACHE_L1_TTL", default_value = defaults::CACHE_L1_TTL)]
    pub cache_l1_ttl: String,

    /// Use Redis (`REDIS_URL`) as the shared cache (L2)
    #[arg(long, env = "SIFT_CACHE_L2", default_value = defaults::CACHE_L2, num_args = 0..=1, default_missing_value = "true")]
    pub cache_l2: String,

    /// How long an L2 entry lives
    #[arg(long, env = "SIFT_CACHE_L2_TTL", default_value = defaults::CACHE_L2_TTL)]
    pub cache_l2_ttl: String,

    /// Longest any Redis call may take; a slower Redis is treated as a cache miss
    #[arg(long, env = "SIFT_REDIS_TIMEOUT", default_value = defaults::REDIS_TIMEOUT)]
    pub redis_timeout: String,

    /// First part of every Redis key and channel (`<prefix>:v2:...`), so deployments can share a Redis
    #[arg(long, env = "SIFT_REDIS_KEY_PREFIX", default_value = defaults::REDIS_KEY_PREFIX)]
    pub redis_key_prefix: String,

    /// How often the change log is trimmed of what every live replica has applied; `off` keeps it all
    #[arg(long, env = "SIFT_CHANGE_LOG_TRIM_INTERVAL", default_value = defaults::CHANGE_LOG_TRIM_INTERVAL)]
    pub change_log_trim_interval: String,

    /// A replica not heard from for this long no longer holds back the change log's trim (it rebuilds when it comes back)
    #[arg(long, env = "SIFT_REPLICA_TIMEOUT", default_value = defaults::REPLICA_TIMEOUT)]
    pub replica_timeout: String,

    /// How often, at most, an idle index that applied writes has its document count compared with PostgreSQL's (a difference seen twice rebuilds it); `off` never
    #[arg(long, env = "SIFT_INDEX_AUDIT_INTERVAL", default_value = defaults::INDEX_AUDIT_INTERVAL)]
    pub index_audit_interval: String,

    /// Collections this replica indexes and serves: names and prefix patterns (shop-*), comma-separated; others answer 421
    #[arg(long, env = "SIFT_COLLECTIONS", default_value = defaults::COLLECTIONS)]
    pub collections: String,

    /// Create and fill the demo collection `products` at start when it does not exist
    #[arg(long, env = "SIFT_DEMO", default_value = defaults::DEMO, num_args = 0..=1, default_missing_value = "true")]
    pub demo: String,
}

impl Default for ServeArgs {
    /// Every setting at its default; no database or Redis URL, no API key.
    fn default() -> Self {
        ServeArgs {
            database_url: None,
            database_replica_url: None,
            standby_max_lag: defaults::STANDBY_MAX_LAG.into(),
            standby_fallback: defaults::STANDBY_FALLBACK.into(),
            redis_url: None,
            api_key: None,
            index_dir: PathBuf::from(defaults::INDEX_DIR),
            bind: defaults::BIND.into(),
            db_max_connections: defaults::DB_MAX_CONNECTIONS.into(),
            db_acquire_timeout: defaults::DB_ACQUIRE_TIMEOUT.into(),
            redis_pool_size: defaults::REDIS_POOL_SIZE.into(),
            request_timeout: defaults::REQUEST_TIMEOUT.into(),
            header_read_timeout: defaults::HEADER_READ_TIMEOUT.into(),
            body_idle_timeout: defaults::BODY_IDLE_TIMEOUT.into(),
            max_connections: defaults::MAX_CONNECTIONS.into(),
            max_requests: defaults::MAX_REQUESTS.into(),
            rate_limit: defaults::RATE_LIMIT.into(),
            require_key_for_reads: defaults::REQUIRE_KEY_FOR_READS.into(),
            rate_limit_burst: defaults::RATE_LIMIT_BURST.into(),
            trusted_proxies: defaults::TRUSTED_PROXIES.into(),
            body_limit: defaults::BODY_LIMIT.into(),
            cors_origins: defaults::CORS_ORIGINS.into(),
            log_format: defaults::LOG_FORMAT.into(),
            log_level: defaults::LOG_LEVEL.into(),
            slow_request_threshold: defaults::SLOW_REQUEST_THRESHOLD.into(),
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT.into(),
            disk_min_free: defaults::DISK_MIN_FREE.into(),
            max_searches: defaults::MAX_SEARCHES.into(),
            consistency_timeout: defaults::CONSISTENCY_TIMEOUT.into(),
            index_bitset_cache: defaults::INDEX_BITSET_CACHE.into(),
            analytics_retention: defaults::ANALYTICS_RETENTION.into(),
            analytics_flush_interval: defaults::ANALYTICS_FLUSH_INTERVAL.into(),
            cache_l1_size: defaults::CACHE_L1_SIZE.into(),
            cache_l1_ttl: defaults::CACHE_L1_TTL.into(),
            cache_l2: defaults::CACHE_L2.into(),
            cache_l2_ttl: defaults::CACHE_L2_TTL.into(),
            redis_timeout: defaults::REDIS_TIMEOUT.into(),
            redis_key_prefix: defaults::REDIS_KEY_PREFIX.into(),
            change_log_trim_interval: defaults::CHANGE_LOG_TRIM_INTERVAL.into(),
            replica_timeout: defaults::REPLICA_TIMEOUT.into(),
            index_audit_interval: defaults::INDEX_AUDIT_INTERVAL.into(),
            collections: defaults::COLLECTIONS.into(),
            demo: defaults::DEMO.into(),
        }
    }
}

/// The validated configuration of a running service.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: PgConnectOptions,
    pub redis_url: Option<String>,
    pub bind: SocketAddr,
    pub index_dir: PathBuf,
    pub db_pool: PoolSettings,
    pub redis_pool_size: usize,
    pub request_timeout: Duration,
    /// Bound on reading a request's headers, and on an idle kept-alive connection: a
    /// client that sends nothing can't hold a connection for ever.
    pub header_read_timeout: Duration,
    /// Bound on a pause in a streamed body (imports have no overall timeout).
    pub body_idle_timeout: Duration,
    /// Open connections at most; the rest wait in the kernel's accept queue.
    pub max_connections: usize,
    /// API requests in flight at most; the excess is refused at once (503).
    pub max_requests: usize,
    /// Requests a second per client, when limited.
    pub rate_limit: Option<crate::rate_limit::RateLimitConfig>,
    /// Proxies whose `X-Forwarded-For` names the client (`SIFT_TRUSTED_PROXIES`); from
    /// any other peer the header is ignored, since a client can send it.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether reads need a key too (they are open by default).
    pub require_key_for_reads: bool,
    pub body_limit: usize,
    pub cors_origins: CorsOrigins,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub api_key: Option<String>,
    pub slow_request_threshold: Duration,
    pub shutdown_timeout: Duration,
    pub disk_min_free: u64,
    pub max_searches: usize,
    pub consistency_timeout: Duration,
    /// Bytes of dense-term bitsets kept for counting matches (`SIFT_INDEX_BITSET_CACHE`).
    pub index_bitset_cache_bytes: u64,
    /// The change log's janitor and the replica heartbeat it relies on.
    pub retention: crate::index::retention::RetentionConfig,
    /// `SIFT_INDEX_AUDIT_INTERVAL`: see [`crate::index::audit`]; `None` never audits.
    pub index_audit_interval: Option<Duration>,
    /// The collections this replica serves (`SIFT_COLLECTIONS`).
    pub placement: crate::placement::Placement,
    /// Standbys the indexers read from while one keeps up (`SIFT_DATABASE_REPLICA_URL`).
    pub standby: Option<StandbyConfig>,
    /// Search analytics, unless `SIFT_ANALYTICS_RETENTION=off`.
    pub analytics: Option<crate::analytics::AnalyticsConfig>,
    pub cache: CacheConfig,
    pub demo: bool,
}

/// Hot standbys of the primary, for the indexers to read from.
#[derive(Debug, Clone)]
pub struct StandbyConfig {
    /// In order of preference.
    pub databases: Vec<PgConnectOptions>,
    /// `SIFT_STANDBY_MAX_LAG`
    pub max_lag_bytes: u64,
    /// `SIFT_STANDBY_FALLBACK`
    pub fallback: crate::index::source::Fallback,
}

/// One problem with the configuration, naming the variable and the flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem(pub String);

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects problems while every value is checked.
struct Checker {
    problems: Vec<ConfigProblem>,
}

impl Checker {
    fn check<T>(&mut self, env: &str, flag: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.problems
                    .push(ConfigProblem(format!("{env} (--{flag}): {message}")));
                None
            }
        }
    }
}

impl ServeArgs {
    /// Validates every value; on failure returns all the problems found. Each section
    /// checks its own values and records what is wrong; the configuration exists only
    /// when every section does and nothing was recorded.
    pub fn validate(&self) -> Result<Config, Vec<ConfigProblem>> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        let storage = self.storage(&mut c);
        let server = self.server(&mut c);
        let logging = self.logging(&mut c);
        let search = self.search(&mut c);
        let cache = self.cache_config(&mut c);
        let demo = c.check("SIFT_DEMO", "demo", parse_bool(&self.demo));
        let config = (|| {
            let (storage, server, logging, search) = (storage?, server?, logging?, search?);
            Some(Config {
                database: storage.database,
                redis_url: storage.redis_url,
                index_dir: storage.index_dir,
                db_pool: storage.db_pool,
                redis_pool_size: storage.redis_pool_size,
                disk_min_free: storage.disk_min_free,
                retention: storage.retention,
                index_audit_interval: storage.index_audit_interval,
                placement: storage.placement,
                standby: storage.standby,
                bind: server.bind,
                request_timeout: server.request_timeout,
                header_read_timeout: server.header_read_timeout,
                body_idle_timeout: server.body_idle_timeout,
                max_connections: server.max_connections,
                max_requests: server.max_requests,
                rate_limit: server.rate_limit,
                trusted_proxies: server.trusted_proxies,
                require_key_for_reads: server.require_key_for_reads,
                body_limit: server.body_limit,
                cors_origins: server.cors_origins,
                api_key: server.api_key,
                slow_request_threshold: server.slow_request_threshold,
                shutdown_timeout: server.shutdown_timeout,
                log_format: logging.0,
                log_filter: logging.1,
                max_searches: search.max_searches,
                consistency_timeout: search.consistency_timeout,
                index_bitset_cache_bytes: search.index_bitset_cache_bytes,
                analytics: search.analytics,
                cache: cache?,
                demo: demo?,
            })
        })();
        match config {
            Some(config) if c.problems.is_empty() => Ok(config),
            _ => Err(c.problems),
        }
    }

    /// Where data lives: PostgreSQL, Redis, the index directory, and their limits.
    fn storage(&self, c: &mut Checker) -> Option<Storage> {
        let database = c.check(
            "DATABASE_URL",
            "database-url",
            match self.database_url.as_deref().map(str::trim) {
                None | Some("") => Err("is required: set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/sift".into()),
                Some(url) => parse_database_url(url),
            },
        );
        let redis_url = c.check(
            "REDIS_URL",
            "redis-url",
            match self.redis_url.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(url) => parse_redis_url(url).map(Some),
            },
        );
        let index_dir = c.check(
            "SIFT_INDEX_DIR",
            "index-dir",
            parse_index_dir(&self.index_dir),
        );
        let max_connections = c.check(
            "SIFT_DB_MAX_CONNECTIONS",
            "db-max-connections",
            parse_count(&self.db_max_connections, 1, 1000),
        );
        let acquire_timeout = c.check(
            "SIFT_DB_ACQUIRE_TIMEOUT",
            "db-acquire-timeout",
            parse_duration(&self.db_acquire_timeout),
        );
        let redis_pool_size = c.check(
            "SIFT_REDIS_POOL_SIZE",
            "redis-pool-size",
            parse_count(&self.redis_pool_size, 1, 1000),
        );
        let disk_min_free = c.check(
            "SIFT_DISK_MIN_FREE",
            "disk-min-free",
            parse_bytes(&self.disk_min_free),
        );
        let trim_interval = c.check(
            "SIFT_CHANGE_LOG_TRIM_INTERVAL",
            "change-log-trim-interval",
            parse_duration_or_off(&self.change_log_trim_interval),
        );
        let replica_timeout = c.check(
            "SIFT_REPLICA_TIMEOUT",
            "replica-timeout",
            parse_duration(&self.replica_timeout).and_then(|timeout| {
                if timeout >= Duration::from_secs(1) {
                    Ok(timeout)
                } else {
                    Err("must be at least 1s: a live replica reports every quarter of it".into())
                }
            }),
        );
        let index_audit_interval = c.check(
            "SIFT_INDEX_AUDIT_INTERVAL",
            "index-audit-interval",
            parse_duration_or_off(&self.index_audit_interval),
        );
        let placement = c.check(
            "SIFT_COLLECTIONS",
            "collections",
            crate::placement::Placement::parse(&self.collections),
        );
        let standby = c.check(
            "SIFT_DATABASE_REPLICA_URL",
            "database-replica-url",
            match self.database_replica_url.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(urls) => urls
                    .split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(parse_database_url)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
            },
        );
        let standby_fallback = c.check(
            "SIFT_STANDBY_FALLBACK",
            "standby-fallback",
            match self.standby_fallback.trim() {
                "primary" => Ok(crate::index::source::Fallback::Primary),
                "not-ready" => Ok(crate::index::source::Fallback::NotReady),
                other => Err(format!("`{other}` is not `primary` or `not-ready`")),
            },
        );
        let standby_max_lag = c.check(
            "SIFT_STANDBY_MAX_LAG",
            "standby-max-lag",
            parse_bytes(&self.standby_max_lag),
        );
        let (standby, standby_max_lag, standby_fallback) =
            (standby?, standby_max_lag?, standby_fallback?);
        Some(Storage {
            standby: standby.map(|databases| StandbyConfig {
                databases,
                max_lag_bytes: standby_max_lag,
                fallback: standby_fallback,
            }),
            placement: placement?,
            database: database?,
            redis_url: redis_url?,
            index_dir: index_dir?,
            db_pool: PoolSettings {
                max_connections: max_connections? as u32,
                acquire_timeout: acquire_timeout?,
            },
            redis_pool_size: redis_pool_size? as usize,
            disk_min_free: disk_min_free?,
            retention: crate::index::retention::RetentionConfig {
                trim_interval: trim_interval?,
                replica_timeout: replica_timeout?,
            },
            index_audit_interval: index_audit_interval?,
        })
    }

    /// The HTTP server: address, limits, timeouts, CORS, the admin key.
    fn server(&self, c: &mut Checker) -> Option<Server> {
        let bind = c.check(
            "SIFT_BIND",
            "bind",
            SocketAddr::from_str(self.bind.trim()).map_err(|_| {
                format!(
                    "`{}` is not an address and port such as 127.0.0.1:8080",
                    self.bind
                )
            }),
        );
        let request_timeout = c.check(
            "SIFT_REQUEST_TIMEOUT",
            "request-timeout",
            parse_duration(&self.request_timeout),
        );
        let header_read_timeout = c.check(
            "SIFT_HEADER_READ_TIMEOUT",
            "header-read-timeout",
            parse_duration(&self.header_read_timeout),
        );
        let body_idle_timeout = c.check(
            "SIFT_BODY_IDLE_TIMEOUT",
            "body-idle-timeout",
            parse_duration(&self.body_idle_timeout),
        );
        let max_connections = c.check(
            "SIFT_MAX_CONNECTIONS",
            "max-connections",
            parse_count(&self.max_connections, 1, 1_000_000),
        );
        let max_requests = c.check(
            "SIFT_MAX_REQUESTS",
            "max-requests",
            parse_count(&self.max_requests, 1, 1_000_000),
        );
        let require_key_for_reads = c.check(
            "SIFT_REQUIRE_KEY_FOR_READS",
            "require-key-for-reads",
            parse_bool(&self.require_key_for_reads),
        );
        let rate_limit = c.check(
            "SIFT_RATE_LIMIT",
            "rate-limit",
            parse_rate_limit(&self.rate_limit, &self.rate_limit_burst),
        );
        let trusted_proxies = c.check(
            "SIFT_TRUSTED_PROXIES",
            "trusted-proxies",
            parse_trusted_proxies(&self.trusted_proxies),
        );
        let body_limit = c.check(
            "SIFT_BODY_LIMIT",
            "body-limit",
            parse_bytes(&self.body_limit)
                .and_then(|b| usize::try_from(b).map_err(|_| "is too large".to_string())),
        );
        let cors_origins = c.check(
            "SIFT_CORS_ORIGINS",
            "cors-origins",
            parse_cors(&self.cors_origins),
        );
        let api_key = c.check(
            "SIFT_API_KEY",
            "api-key",
            parse_api_key(self.api_key.as_deref()),
        );
        let slow_request_threshold = c.check(
            "SIFT_SLOW_REQUEST_THRESHOLD",
            "slow-request-threshold",
            parse_duration(&self.slow_request_threshold),
        );
        let shutdown_timeout = c.check(
            "SIFT_SHUTDOWN_TIMEOUT",
            "shutdown-timeout",
            parse_duration(&self.shutdown_timeout),
        );
        Some(Server {
            bind: bind?,
            request_timeout: request_timeout?,
            header_read_timeout: header_read_timeout?,
            body_idle_timeout: body_idle_timeout?,
            max_connections: max_connections? as usize,
            max_requests: max_requests? as usize,
            rate_limit: rate_limit?,
            trusted_proxies: trusted_proxies?,
            require_key_for_reads: require_key_for_reads?,
            body_limit: body_limit?,
            cors_origins: cors_origins?,
            api_key: api_key?,
            slow_request_threshold: slow_request_threshold?,
            shutdown_timeout: shutdown_timeout?,
        })
    }

    /// Log format and filter.
    fn logging(&self, c: &mut Checker) -> Option<(LogFormat, String)> {
        let format = c.check(
            "SIFT_LOG_FORMAT",
            "log-format",
            parse_log_format(&self.log_format),
        );
        let filter = c.check(
            "SIFT_LOG_LEVEL",
            "log-level",
            parse_log_filter(&self.log_level),
        );
        Some((format?, filter?))
    }

    /// The search queue, read-your-writes wait and the index's bitset cache.
    fn search(&self, c: &mut Checker) -> Option<Search> {
        let max_searches = c.check(
            "SIFT_MAX_SEARCHES",
            "max-searches",
            parse_max_searches(&self.max_searches),
        );
        let consistency_timeout = c.check(
            "SIFT_CONSISTENCY_TIMEOUT",
            "consistency-timeout",
            parse_duration(&self.consistency_timeout),
        );
        let index_bitset_cache_bytes = c.check(
            "SIFT_INDEX_BITSET_CACHE",
            "index-bitset-cache",
            parse_bytes(&self.index_bitset_cache),
        );
        let retention = c.check(
            "SIFT_ANALYTICS_RETENTION",
            "analytics-retention",
            parse_duration_or_off(&self.analytics_retention),
        );
        let flush_interval = c.check(
            "SIFT_ANALYTICS_FLUSH_INTERVAL",
            "analytics-flush-interval",
            parse_duration(&self.analytics_flush_interval),
        );
        let (retention, flush_interval) = (retention?, flush_interval?);
        Some(Search {
            max_searches: max_searches? as usize,
            consistency_timeout: consistency_timeout?,
            index_bitset_cache_bytes: index_bitset_cache_bytes?,
            analytics: retention.map(|retention| crate::analytics::AnalyticsConfig {
                retention,
                flush_interval,
            }),
        })
    }
}

/// The storage section of the configuration, validated.
struct Storage {
    database: PgConnectOptions,
    redis_url: Option<String>,
    index_dir: PathBuf,
    db_pool: PoolSettings,
    redis_pool_size: usize,
    disk_min_free: u64,
    retention: crate::index::retention::RetentionConfig,
    index_audit_interval: Option<Duration>,
    placement: crate::placement::Placement,
    standby: Option<StandbyConfig>,
}

/// The server section of the configuration, validated.
struct Server {
    bind: SocketAddr,
    request_timeout: Duration,
    header_read_timeout: Duration,
    body_idle_timeout: Duration,
    max_connections: usize,
    max_requests: usize,
    rate_limit: Option<crate::rate_limit::RateLimitConfig>,
    trusted_proxies: Vec<ipnet::IpNet>,
    require_key_for_reads: bool,
    body_limit: usize,
    cors_origins: CorsOrigins,
    api_key: Option<String>,
    slow_request_threshold: Duration,
    shutdown_timeout: Duration,
}

/// The search section of the configuration, validated.
struct Search {
    max_searches: usize,
    consistency_timeout: Duration,
    index_bitset_cache_bytes: u64,
    analytics: Option<crate::analytics::AnalyticsConfig>,
}

fn parse_index_dir(dir: &std::path::Path) -> Result<PathBuf, String> {
    if dir.as_os_str().is_empty() {
        Err("must not be empty".into())
    } else if dir.exists() && !dir.is_dir() {
        Err(format!("`{}` exists and is not a directory", dir.display()))
    } else {
        Ok(dir.to_path_buf())
    }
}

fn parse_log_format(raw: &str) -> Result<LogFormat, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "json" => Ok(LogFormat::Json),
        "pretty" => Ok(LogFormat::Pretty),
        "auto" | "" => Ok(if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        }),
        other => Err(format!("`{other}` is not one of json, pretty, auto")),
    }
}

fn parse_api_key(key: Option<&str>) -> Result<Option<String>, String> {
    match key {
        None | Some("") => Ok(None),
        Some(key) if key.chars().count() < 16 => Err("must be at least 16 characters long".into()),
        Some(key) if key.chars().any(char::is_whitespace) => {
            Err("must not contain whitespace".into())
        }
        Some(key) => Ok(Some(key.to_owned())),
    }
}

impl ServeArgs {
    /// The cache settings, or `None` after recording what is wrong with them.
    fn cache_config(&self, c: &mut Checker) -> Option<CacheConfig> {
        let l1_capacity_bytes = c.check(
            "SIFT_CACHE_L1_SIZE",
            "cache-l1-size",
            parse_bytes_or_zero(&self.cache_l1_size),
        );
        let l1_ttl = c.check(
            "SIFT_CACHE_L1_TTL",
            "cache-l1-ttl",
            parse_duration(&self.cache_l1_ttl),
        );
        let l2_enabled = c.check("SIFT_CACHE_L2", "cache-l2", parse_bool(&self.cache_l2));
        let l2_ttl = c.check(
            "SIFT_CACHE_L2_TTL",
            "cache-l2-ttl",
            parse_duration(&self.cache_l2_ttl),
        );
        let redis_timeout = c.check(
            "SIFT_REDIS_TIMEOUT",
            "redis-timeout",
            parse_duration(&self.redis_timeout).and_then(|d| {
                if (Duration::from_millis(1)..=Duration::from_secs(10)).contains(&d) {
                    Ok(d)
                } else {
                    Err("must be from 1ms to 10s".into())
                }
            }),
        );
        let prefix = self.redis_key_prefix.trim();
        let key_prefix = c.check(
            "SIFT_REDIS_KEY_PREFIX",
            "redis-key-prefix",
            if prefix.is_empty() || prefix.len() > 64 || prefix.chars().any(|ch| ch.is_whitespace())
            {
                Err("must be 1 to 64 characters without spaces".into())
            } else {
                Ok(prefix.to_owned())
            },
        );
        Some(CacheConfig {
            l1_capacity_bytes: l1_capacity_bytes?,
            l1_ttl: l1_ttl?,
            l2_enabled: l2_enabled?,
            l2_ttl: l2_ttl?,
            redis_timeout: redis_timeout?,
            key_prefix: key_prefix?,
        })
    }
}

impl Config {
    /// A configuration for tests and tools: the given database, everything else at its
    /// default ([`defaults`], the same values `sift serve` starts with), listening on
    /// port 0 (any free port) and logging readably.
    pub fn for_database(database: PgConnectOptions, index_dir: PathBuf) -> Config {
        let args = ServeArgs {
            // Replaced below; given so that the defaults validate as a whole.
            database_url: Some("postgres://localhost/sift".into()),
            bind: "127.0.0.1:0".into(),
            log_format: "pretty".into(),
            index_dir,
            ..ServeArgs::default()
        };
        let mut config = args
            .validate()
            .expect("the defaults are valid: `defaults_are_valid` tests them");
        config.database = database;
        config
    }
}

/// Parses a PostgreSQL URL without connecting.
pub fn parse_database_url(url: &str) -> Result<PgConnectOptions, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("must start with postgres:// or postgresql://".into());
    }
    // sqlx's messages may quote the URL, password included: say only what is wrong.
    PgConnectOptions::from_str(url).map_err(|_| "is not a valid PostgreSQL URL".into())
}

fn parse_redis_url(url: &str) -> Result<String, String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://"))
    {
        return Err("must start with redis://, rediss:// or unix://".into());
    }
    deadpool_redis::redis::parse_redis_url(url)
        .map(|_| url.to_owned())
        .ok_or_else(|| "is not a valid Redis URL".into())
}

/// A level (`info`) or filter directives (`info,sift=debug`). A bare word must be a
/// level: `EnvFilter` would take a typo such as `inof` as a target name and log nothing.
fn parse_log_filter(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let error = || {
        format!(
            "`{raw}` is not a level (error, warn, info, debug, trace, off) or filter such as info,sift=debug"
        )
    };
    let is_level = |word: &str| {
        matches!(
            word.to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug" | "trace" | "off"
        )
    };
    let bare_words_are_levels = raw
        .split(',')
        .filter(|directive| !directive.contains('='))
        .all(|word| is_level(word.trim()));
    if raw.is_empty() || !bare_words_are_levels {
        return Err(error());
    }
    EnvFilter::try_new(raw)
        .map(|_| raw.to_owned())
        .map_err(|_| error())
}

/// `SIFT_MAX_SEARCHES`: a number, or `auto`, twice the cores. A search is CPU work on
/// the blocking pool; with many more running than there are cores, the threads that
/// parse requests and answer refusals get a small share of the CPU, so every request
/// queues before it is even refused and latency grows with the number of clients.
/// Measured with `sift-bench load` (README, "Overload"): 4 on 2 cores kept accepted
/// p99 within 4x of unloaded at 256 clients at ~95% of peak throughput; 64 let it
/// reach 100x.
fn parse_max_searches(raw: &str) -> Result<u64, String> {
    if raw.trim().eq_ignore_ascii_case("auto") {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        return Ok(2 * cores as u64);
    }
    parse_count(raw, 1, 100_000).map_err(|message| format!("{message}, or auto"))
}

/// `SIFT_RATE_LIMIT` (`off` or requests a second) with `SIFT_RATE_LIMIT_BURST` (`auto`
/// or a count).
fn parse_rate_limit(
    rate: &str,
    burst: &str,
) -> Result<Option<crate::rate_limit::RateLimitConfig>, String> {
    if rate.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let per_second =
        parse_count(rate, 1, 1_000_000).map_err(|message| format!("{message}, or off"))?;
    let burst = if burst.trim().eq_ignore_ascii_case("auto") {
        per_second
    } else {
        parse_count(burst, 1, 1_000_000).map_err(|message| {
            format!("SIFT_RATE_LIMIT_BURST (--rate-limit-burst): {message}, or auto")
        })?
    };
    let non_zero = |n: u64| {
        std::num::NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX))
            .ok_or_else(|| "must be at least 1".to_string())
    };
    Ok(Some(crate::rate_limit::RateLimitConfig {
        per_second: non_zero(per_second)?,
        burst: non_zero(burst)?,
    }))
}

/// `SIFT_TRUSTED_PROXIES`: addresses (`10.0.0.7`, `::1`) and CIDR ranges (`10.0.0.0/8`),
/// comma-separated; empty for none.
fn parse_trusted_proxies(raw: &str) -> Result<Vec<ipnet::IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{part}` is not an IP address or CIDR range"))
        })
        .collect()
}

fn parse_count(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("`{raw}` is not a whole number from {min} to {max}")),
    }
}

/// Parses `30s`, `500ms`, `1m`; must be positive.
/// A duration, or `off` (or `0`) for none.
fn parse_duration_or_off(raw: &str) -> Result<Option<Duration>, String> {
    match raw.trim() {
        "off" | "0" => Ok(None),
        other => parse_duration(other).map(Some),
    }
}

pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    match humantime::parse_duration(raw.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "`{raw}` is not a positive duration such as 500ms, 30s or 2m"
        )),
    }
}

/// Parses a byte size: a plain number of bytes, or with a unit (KB, MB, GB are powers
/// of 1000; KiB, MiB, GiB powers of 1024). Written by hand: three units do not need a
/// crate.
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    let error = || format!("`{raw}` is not a size such as 1048576, 512KiB, 1MiB or 1GB");
    let trimmed = raw.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| error())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return Err(error()),
    };
    number
        .checked_mul(multiplier)
        .filter(|n| *n > 0)
        .ok_or_else(error)
}

/// A size where `0` means none (the in-process cache turned off).
pub fn parse_bytes_or_zero(raw: &str) -> Result<u64, String> {
    if raw.trim() == "0" {
        return Ok(0);
    }
    parse_bytes(raw)
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("`{raw}` is not true or false")),
    }
}

fn parse_cors(raw: &str) -> Result<CorsOrigins, String> {
    let origins: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(CorsOrigins::None);
    }
    if origins == ["*"] {
        return Ok(CorsOrigins::Any);
    }
    origins
        .into_iter()
        .map(|origin| {
            let valid_scheme = origin.starts_with("http://") || origin.starts_with("https://");
            match HeaderValue::from_str(origin) {
                Ok(value) if valid_scheme && !origin.ends_with('/') => Ok(value),
                _ => Err(format!(
                    "`{origin}` is not an origin such as https://app.example.com (or use `*` alone)"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn args(flags: &[&str]) -> ServeArgs {
        let mut argv = vec!["sift"];
        argv.extend_from_slice(flags);
        Wrapper::try_parse_from(argv).expect("parses").args
    }

    #[test]
    fn defaults_are_valid_and_the_same_for_clap_and_tools() {
        // What `sift serve` starts with (clap fills in the defaults)...
        let parsed = args(&["--database-url", "postgres://localhost/sift"])
            .validate()
            .expect("defaults are valid");
        // ...and what tests and tools start with.
        let tools = Config::for_database(parsed.database.clone(), "./index".into());
        assert_eq!(parsed.disk_min_free, tools.disk_min_free);
        assert_eq!(
            parsed.db_pool.max_connections,
            tools.db_pool.max_connections
        );
        assert_eq!(
            parsed.cache.l1_capacity_bytes,
            tools.cache.l1_capacity_bytes
        );
        assert_eq!(parsed.max_searches, tools.max_searches);
        assert_eq!(parsed.body_limit, tools.body_limit);
        assert_eq!(tools.bind.port(), 0);
    }

    #[test]
    fn trusted_proxies_are_addresses_and_ranges() {
        assert_eq!(parse_trusted_proxies(""), Ok(Vec::new()));
        let parsed = parse_trusted_proxies("10.0.0.0/8, 192.168.1.7,::1").expect("valid");
        let expected: Vec<ipnet::IpNet> = ["10.0.0.0/8", "192.168.1.7/32", "::1/128"]
            .iter()
            .map(|n| n.parse().expect("net"))
            .collect();
        assert_eq!(parsed, expected);
        let refused = parse_trusted_proxies("10.0.0.0/8,proxy.local").expect_err("a name");
        assert!(refused.contains("`proxy.local`"), "{refused}");
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("2000"), Ok(2000));
        assert_eq!(parse_bytes("1GB"), Ok(1_000_000_000));
        assert!(parse_bytes("0").is_err());
        assert_eq!(parse_bytes_or_zero("0"), Ok(0));
        assert_eq!(parse_bytes_or_zero("2MiB"), Ok(2 << 20));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("99999999999999999999GiB").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn log_filters() {
        assert!(parse_log_filter("info").is_ok());
        assert!(parse_log_filter("warn,sift=debug,tower_http=info").is_ok());
        assert!(parse_log_filter("inof").is_err());
        assert!(parse_log_filter("").is_err());
        assert!(parse_log_filter("sift=loud").is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = args(&[
            "--database-url",
            "",
            "--bind",
            "nowhere",
            "--body-limit",
            "big",
            "--api-key",
            "short",
        ])
        .validate()
        .expect_err("invalid");
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].starts_with("DATABASE_URL (--database-url): is required"));
        assert!(text.iter().any(|p| p.starts_with("SIFT_BIND (--bind)")));
        assert!(
            text.iter()
                .any(|p| p.starts_with("SIFT_BODY_LIMIT (--body-limit)"))
        );
        assert!(
            text.iter()
                .any(|p| p.starts_with("SIFT_API_KEY (--api-key)"))
        );
    }

    #[test]
    fn secrets_are_not_echoed() {
        let problems = args(&["--database-url", "mysql://root:hunter2@db/x"])
            .validate()
            .expect_err("invalid");
        assert!(problems.iter().all(|p| !p.0.contains("hunter2")));
    }

    #[test]
    fn valid_configuration() {
        let config = args(&[
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/sift",
            "--cors-origins",
            "https://a.example, http://localhost:3000",
            "--log-format",
            "json",
        ])
        .validate()
        .expect("valid");
        assert_eq!(config.bind.port(), 8080);
        assert_eq!(config.body_limit, 1 << 20);
        assert!(matches!(config.cors_origins, CorsOrigins::List(ref l) if l.len() == 2));
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(!config.demo);
    }
}
