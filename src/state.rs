//! The shared state every handler gets: one [`App`] behind an `Arc`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::config::Config;

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
