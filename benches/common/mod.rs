//! What the benchmarks share: a database of their own on the `DATABASE_URL` server,
//! dropped afterwards whatever happened.

use std::future::Future;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// Reads a number from the environment, or the default.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `bench` against a fresh database, then drops it.
pub async fn with_database<F, Fut>(bench: F) -> anyhow::Result<()>
where
    F: FnOnce(PgConnectOptions) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if let Ok(filter) = std::env::var("SIFT_LOG_LEVEL") {
        sift::telemetry::init_tracing(sift::config::LogFormat::Pretty, &filter);
    }
    let admin = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("set DATABASE_URL (scripts/provision.sh does)"))?;
    let name = format!("sift_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin_connection = PgConnection::connect(&admin).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin_connection)
        .await?;
    let options = PgConnectOptions::from_str(&admin)?.database(&name);
    let result = bench(options).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin_connection)
    .await?;
    result
}
