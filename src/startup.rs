//! Building and running the service: connect, migrate, assemble the HTTP stack, serve,
//! and shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

use tokio::sync::Semaphore;

use crate::cache::{Caches, invalidation};
use crate::config::{Config, CorsOrigins};
use crate::index::bitsets::TermBitsets;
use crate::index::indexer::{IndexRegistry, Indexer, IndexerSettings};
use crate::index::retention;
use crate::index::source::ReadSource;
use crate::middleware::{
    REQUEST_ID_HEADER, panic_response, render_errors, require_api_key, route_not_found,
    track_metrics,
};
use crate::rate_limit::RateLimiter;
use crate::server::{self, ConnectionLimits};
use crate::state::{App, AppState};
use crate::{db, demo, routes, telemetry};
use tokio_util::task::TaskTracker;

use crate::analytics::Analytics;

/// Why the service could not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create the index directory {path}: {source}")]
    IndexDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to PostgreSQL ({target}): {source}")]
    Database { target: String, source: sqlx::Error },
    #[error("cannot apply database migrations: {0}")]
    Migrations(#[from] sqlx::migrate::MigrateError),
    #[error("invalid Redis configuration: {0}")]
    Redis(String),
    #[error("cannot load the demo collection: {0}")]
    Demo(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// Cancelled to begin a graceful shutdown (by a signal in `sift serve`, by the
    /// test in tests).
    shutdown: CancellationToken,
    /// Stops the indexers, after the server has stopped.
    indexer_stop: CancellationToken,
    indexer_task: tokio::task::JoinHandle<()>,
    /// Stops the task that follows other replicas' cache invalidations.
    invalidations_stop: CancellationToken,
    /// Stops the search analytics task, which writes what it holds first.
    analytics_stop: CancellationToken,
    analytics_task: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects to PostgreSQL (and Redis when configured), applies migrations, and
    /// binds the listener. With `bind` on port 0 the system picks a free port.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        std::fs::create_dir_all(&config.index_dir).map_err(|source| StartupError::IndexDir {
            path: config.index_dir.display().to_string(),
            source,
        })?;
        let target = format!(
            "{}:{}/{}",
            config.database.get_host(),
            config.database.get_port(),
            config.database.get_database().unwrap_or("")
        );
        let db = db::connect(config.database.clone(), &config.db_pool)
            .await
            .map_err(|source| StartupError::Database { target, source })?;
        db::migrate_up(&db).await?;

        let redis = match &config.redis_url {
            Some(url) => {
                let mut redis_config = deadpool_redis::Config::from_url(url.clone());
                redis_config.pool = Some(deadpool_redis::PoolConfig::new(config.redis_pool_size));
                Some(
                    redis_config
                        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                        .map_err(|e| StartupError::Redis(e.to_string()))?,
                )
            }
            None => None,
        };

        if config.api_key.is_none() {
            tracing::warn!(
                "SIFT_API_KEY is not set: anyone who can reach this service can write and delete data"
            );
        }
        if config.demo {
            demo::load(&db)
                .await
                .map_err(|e| StartupError::Demo(e.to_string()))?;
        }

        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| StartupError::Bind {
                    address: config.bind,
                    source,
                })?;
        let caches = Arc::new(Caches::new(&config.cache, redis.clone()));
        // Trust no cached document read before this process started: an earlier one may
        // have died between a commit and its invalidation. Every transaction that ended
        // before now is below the snapshot's xmax (not its xmin: an older one may still
        // be running while a younger one has committed).
        let next_txid = next_txid(&db)
            .await
            .map_err(|source| StartupError::Database {
                target: "the next transaction id".into(),
                source,
            })?;
        caches.fence_all(next_txid.saturating_sub(1));
        let indexes = Arc::new(IndexRegistry::default());
        let indexer_stop = CancellationToken::new();
        let source = Arc::new(match &config.standby {
            Some(standby) => ReadSource::with_standbys(
                db.clone(),
                standby
                    .databases
                    .iter()
                    .map(|options| {
                        (
                            format!("{}:{}", options.get_host(), options.get_port()),
                            db::connect_lazy(options.clone(), &config.db_pool),
                        )
                    })
                    .collect(),
                standby.max_lag_bytes,
                standby.fallback,
            ),
            None => ReadSource::primary(db.clone()),
        });
        tokio::spawn({
            let (source, stop) = (source.clone(), indexer_stop.clone());
            async move { source.watch(stop).await }
        });
        let replica =
            retention::replica_id(&config.index_dir).map_err(|source| StartupError::IndexDir {
                path: config.index_dir.display().to_string(),
                source,
            })?;
        let indexer = Indexer::new(
            db.clone(),
            IndexerSettings {
                index_dir: config.index_dir.clone(),
                replica,
                retention: config.retention,
                audit_interval: config.index_audit_interval,
                placement: config.placement.clone(),
                source,
            },
            indexes.clone(),
            Arc::new(TermBitsets::new(config.index_bitset_cache_bytes)),
            caches.clone(),
            indexer_stop.clone(),
        );
        let indexer_task = tokio::spawn(indexer.clone().run());
        let search_permits = Arc::new(Semaphore::new(config.max_searches));
        let invalidations_stop = CancellationToken::new();
        if let (Some(url), Some(_)) = (&config.redis_url, &caches.l2) {
            tokio::spawn(invalidation::follow(
                caches.clone(),
                url.clone(),
                invalidations_stop.clone(),
            ));
        }
        let analytics_stop = CancellationToken::new();
        let (analytics, analytics_task) = match config.analytics {
            Some(settings) => {
                let (analytics, task) =
                    Analytics::start(db.clone(), settings, analytics_stop.clone());
                (Some(analytics), Some(task))
            }
            None => (None, None),
        };
        let rate_limiter = config.rate_limit.map(|limit| {
            Arc::new(RateLimiter::new(
                limit,
                caches.l2.clone(),
                &config.cache.key_prefix,
            ))
        });
        let state = AppState(Arc::new(App {
            db,
            redis,
            config,
            metrics: telemetry::metrics_handle(),
            started_at: Instant::now(),
            indexes,
            indexer,
            search_permits,
            caches,
            key_grants: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(crate::service::keys::KEY_CACHE_TTL)
                .build(),
            rate_limiter,
            background: TaskTracker::new(),
            fts_rebuilds: Arc::default(),
            planner_statistics: Default::default(),
            analytics,
        }));
        let router = router(state.clone());
        Ok(Application {
            listener,
            router,
            state,
            shutdown: CancellationToken::new(),
            indexer_stop,
            indexer_task,
            invalidations_stop,
            analytics_stop,
            analytics_task,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Cancel this token to shut the service down gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops accepting, lets
    /// in-flight requests finish within the shutdown timeout, and closes the pools in
    /// the reverse order of acquisition.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            listener,
            router,
            state,
            shutdown,
            indexer_stop,
            indexer_task,
            invalidations_stop,
            analytics_stop,
            analytics_task,
        } = self;
        let grace = state.config.shutdown_timeout;
        let limits = ConnectionLimits {
            header_read_timeout: state.config.header_read_timeout,
            max_connections: state.config.max_connections,
        };
        let mut server = tokio::spawn(server::serve(listener, router, limits, shutdown.clone()));
        let result = tokio::select! {
            joined = &mut server => joined.map_err(std::io::Error::other),
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "in-flight requests did not finish within the shutdown timeout; closing them");
                server.abort();
                Ok(())
            }
        };
        // Background work (full-text index rebuilds) gets what is left of the grace.
        state.background.close();
        if tokio::time::timeout(grace, state.background.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = state.background.len(),
                "background work did not finish within the shutdown timeout; abandoning it"
            );
        }
        indexer_stop.cancel();
        let _ = indexer_task.await;
        invalidations_stop.cancel();
        analytics_stop.cancel();
        if let Some(task) = analytics_task {
            let _ = task.await;
        }
        if let Some(redis) = &state.redis {
            redis.close();
        }
        state.db.close().await;
        tracing::info!("stopped");
        result
    }
}

/// The first transaction id not yet assigned (`xmax` of a fresh snapshot): every
/// transaction that has ended is below it.
async fn next_txid(db: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let xmax: String = sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
        .fetch_one(db)
        .await?;
    // Unparsable (never seen): the largest fence, so nothing cached is trusted.
    Ok(xmax.parse().unwrap_or(u64::MAX))
}

/// Waits for SIGTERM or SIGINT, then cancels `token`.
pub async fn cancel_on_signal(token: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
    token.cancel();
}

fn cors_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.clone()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::HEAD,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(REQUEST_ID_HEADER),
            ])
            .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER)])
            .max_age(Duration::from_secs(600)),
    )
}

/// The whole HTTP stack. Outermost first: request id → trace span → request id echoed
/// → compression → CORS → error bodies → admission (`SIFT_MAX_REQUESTS`) → body
/// decompression → panic catcher → metrics → rate limit → auth → routes
/// (which carry the body limit and, except imports, the request timeout).
pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let (api, spec) = routes::api_routes()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .merge(routes::import_routes())
        .split_for_parts();
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    let router = api
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .merge(routes::page::routes())
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(from_fn_with_state(state.clone(), require_api_key))
        .layer(from_fn_with_state(
            state.clone(),
            crate::middleware::placement,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            crate::middleware::rate_limit,
        ))
        .layer(from_fn(crate::middleware::refuse_form_writes))
        .layer(from_fn_with_state(state.clone(), track_metrics))
        .layer(CatchPanicLayer::custom(panic_response))
        // `Content-Encoding: gzip` bodies (an NDJSON import compresses about tenfold)
        // are decompressed as they stream in; the body limits apply to what comes out.
        // Another encoding is 415.
        .layer(RequestDecompressionLayer::new())
        .layer(from_fn_with_state(
            Arc::new(Semaphore::new(config.max_requests)),
            crate::middleware::admit,
        ))
        .layer(from_fn(render_errors));
    let router = match cors_layer(&config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(from_fn(crate::middleware::bound_request_id))
        .layer(from_fn(crate::middleware::security_headers))
        .with_state(state)
}
