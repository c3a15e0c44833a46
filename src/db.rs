//! PostgreSQL plumbing: the pool, the embedded migrations, and the retry policy for
//! transient failures.
//!
//! Postgres is the source of truth for every collection and document, so a write is
//! one transaction, and a transaction that failed for a reason that may not recur
//! (lost connection, serialization failure, deadlock) is run again a few times with
//! exponential backoff and jitter. Errors that will recur (constraint violations, bad
//! input) are never retried.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The schema migrations, embedded in the binary so `sift serve` can apply them.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Pool sizing; comes from the configuration.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails with 503,
    /// so an exhausted pool fails fast instead of queueing without bound.
    pub acquire_timeout: Duration,
}

fn pool_options(settings: &PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(300)))
}

/// Connects a pool and checks that the server answers.
pub async fn connect(
    options: PgConnectOptions,
    settings: &PoolSettings,
) -> Result<PgPool, sqlx::Error> {
    pool_options(settings)
        .connect_with(options.application_name("sift"))
        .await
}

/// A pool that connects when first used: for a standby, which may be down at start
/// without keeping the service from starting.
pub fn connect_lazy(options: PgConnectOptions, settings: &PoolSettings) -> PgPool {
    pool_options(settings).connect_lazy_with(options.application_name("sift"))
}

/// Applies pending migrations.
pub async fn migrate_up(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Reverts every applied migration, newest first.
pub async fn migrate_down(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.undo(pool, 0).await
}

/// The version of the newest migration this binary knows.
pub fn latest_migration() -> i64 {
    MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Whether the database has every migration of this binary applied.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .or_else(|error| match &error {
                // The table does not exist before the first migration.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                _ => Err(error),
            })?;
    Ok(applied == Some(latest_migration()))
}

/// True when the error means the database could not be reached or did not answer,
/// as opposed to answering with an error.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code == "57P01" || code == "57P03"),
        _ => false,
    }
}

/// True when running the same transaction again may succeed.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        // PoolTimedOut already waited the acquire timeout; retrying would multiply it.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => false,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(code.as_ref(), "40001" | "40P01") || code.starts_with("08") || code == "57P01"
        }),
        other => is_unavailable(other),
    }
}

/// The backoff for transient failures: about 100, 200 and 400 ms, with jitter so that
/// clients that failed together do not retry together.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_factor(2.0)
        .with_max_times(3)
        .with_jitter()
}

/// Runs `operation` (one whole transaction) and runs it again on transient failures.
pub async fn retry<T, F, Fut>(operation: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    operation
        .retry(backoff())
        .sleep(tokio::time::sleep)
        .when(is_transient)
        .notify(|error, delay| {
            tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "transient database error, retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_transient_and_pool_timeouts_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_transient(&io));
        assert!(is_unavailable(&io));
        assert!(!is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_after_three_retries_and_never_retries_permanent_errors() {
        let mut calls = 0;
        let result: Result<(), _> = retry(|| {
            calls += 1;
            async {
                Err(sqlx::Error::Io(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                )))
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 4);

        let mut calls = 0;
        let result: Result<(), _> = retry(|| {
            calls += 1;
            async { Err(sqlx::Error::RowNotFound) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
