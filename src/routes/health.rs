//! `/live`, `/ready` and `/health`: liveness, readiness and a detailed health report.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::breaker::BreakerState;
use crate::db;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::Json;
use crate::state::AppState;

/// How long `/health` and `/ready` wait for a dependency before calling it down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A simple status answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: String,
}

/// The state of one dependency.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyHealth {
    /// `ok`, `degraded` or `down`.
    #[schema(example = "ok")]
    pub status: String,
    /// How long the check took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why the status is not `ok`; no internal detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Free bytes (the index directory's disk only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    /// The shared cache's circuit breaker (Redis only): `closed` (in use), `open`
    /// (Redis skipped after repeated failures) or `half-open` (probing).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "closed")]
    pub breaker: Option<String>,
    /// Bytes of WAL the standby has still to replay (the standby only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<u64>,
}

/// The dependencies checked by `/health`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthChecks {
    pub postgres: DependencyHealth,
    /// Absent when `REDIS_URL` is not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<DependencyHealth>,
    pub index_disk: DependencyHealth,
    /// Absent when `SIFT_DATABASE_REPLICA_URL` is not set: `ok` while the indexers read
    /// from a standby (`lagBytes` is its lag), `degraded` while none is fit (it does not
    /// answer, is not in recovery, or lags more than `SIFT_STANDBY_MAX_LAG`); `message`
    /// says what is wrong with each standby not read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<DependencyHealth>,
}

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "status": "ok", "version": "0.1.0", "uptimeSeconds": 42,
    "checks": {
        "postgres": {"status": "ok", "latencyMs": 0.6},
        "redis": {"status": "ok", "latencyMs": 0.2, "breaker": "closed"},
        "indexDisk": {"status": "ok", "freeBytes": 53687091200u64}
    }
}))]
pub struct Health {
    /// `ok`; `degraded` when Redis or the disk has a problem (the service still serves);
    /// `down` when PostgreSQL does not answer.
    pub status: String,
    pub version: String,
    pub uptime_seconds: u64,
    pub checks: HealthChecks,
}

fn ms(since: Instant) -> Option<f64> {
    Some((since.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

/// Liveness
///
/// Answers 200 while the process runs; checks nothing else.
#[utoipa::path(get, path = "/live", tag = "operations",
    responses((status = 200, description = "The process runs", body = Status)))]
pub async fn live() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// Readiness
///
/// 200 when PostgreSQL answers a query, every migration of this version is applied and
/// every collection has an index to search (a collection whose first index is still
/// being built would answer `index_not_ready`); 503 otherwise, so a load balancer sends
/// no traffic here.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, description = "`not_ready`", body = ErrorResponse,
            example = json!({"error": {"code": "not_ready", "message": "the index of collection `products` is still being built", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    if let Some(reason) = state.indexer.source().not_ready() {
        return Err(ApiError::NotReady(reason));
    }
    match tokio::time::timeout(CHECK_TIMEOUT, db::migrations_applied(&state.db)).await {
        Ok(Ok(true)) => {
            let building =
                match tokio::time::timeout(CHECK_TIMEOUT, state.collections_without_index(3)).await
                {
                    Ok(Ok(building)) => building,
                    Ok(Err(_)) | Err(_) => {
                        return Err(ApiError::NotReady("the database does not answer".into()));
                    }
                };
            if let Some(first) = building.first() {
                return Err(ApiError::NotReady(format!(
                    "the index of collection `{first}` is still being built{}",
                    if building.len() > 1 {
                        " (and others)"
                    } else {
                        ""
                    }
                )));
            }
            Ok(Json(Status {
                status: "ready".into(),
            }))
        }
        Ok(Ok(false)) => Err(ApiError::NotReady(
            "database migrations are not applied".into(),
        )),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(ApiError::NotReady("the database does not answer".into()))
        }
        Err(_) => Err(ApiError::NotReady("the database does not answer".into())),
    }
}

async fn check_postgres(state: &AppState) -> DependencyHealth {
    let started = Instant::now();
    let result = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.db),
    )
    .await;
    match result {
        Ok(Ok(_)) => DependencyHealth {
            status: "ok".into(),
            latency_ms: ms(started),
            message: None,
            free_bytes: None,
            breaker: None,
            lag_bytes: None,
        },
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "health: postgres check failed");
            DependencyHealth {
                status: "down".into(),
                latency_ms: ms(started),
                message: Some("query failed".into()),
                free_bytes: None,
                breaker: None,
                lag_bytes: None,
            }
        }
        Err(_) => DependencyHealth {
            status: "down".into(),
            latency_ms: ms(started),
            message: Some("timed out".into()),
            free_bytes: None,
            breaker: None,
            lag_bytes: None,
        },
    }
}

async fn check_redis(state: &AppState, pool: &deadpool_redis::Pool) -> DependencyHealth {
    let started = Instant::now();
    let ping = async {
        let mut connection = pool.get().await.map_err(|e| e.to_string())?;
        deadpool_redis::redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map_err(|e| e.to_string())
    };
    let breaker = state.caches.l2.as_ref().map(|l2| l2.breaker_state());
    let mut health = match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => DependencyHealth {
            status: "ok".into(),
            latency_ms: ms(started),
            message: None,
            free_bytes: None,
            breaker: None,
            lag_bytes: None,
        },
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "health: redis check failed");
            DependencyHealth {
                status: "degraded".into(),
                latency_ms: ms(started),
                message: Some("unreachable; running without the shared cache".into()),
                free_bytes: None,
                breaker: None,
                lag_bytes: None,
            }
        }
        Err(_) => DependencyHealth {
            status: "degraded".into(),
            latency_ms: ms(started),
            message: Some("timed out; running without the shared cache".into()),
            free_bytes: None,
            breaker: None,
            lag_bytes: None,
        },
    };
    if let Some(breaker) = breaker {
        if breaker != BreakerState::Closed && health.status == "ok" {
            health.status = "degraded".into();
            health.message =
                Some("recovering: the shared cache is skipped until a probe succeeds".into());
        }
        health.breaker = Some(breaker.as_str().into());
    }
    health
}

fn check_disk(state: &AppState) -> DependencyHealth {
    match nix::sys::statvfs::statvfs(&state.config.index_dir) {
        Ok(stats) => {
            // The field types differ between platforms (u32 or u64); on Linux they are u64.
            #[allow(clippy::useless_conversion)]
            let free = u64::from(stats.blocks_available())
                .saturating_mul(u64::from(stats.fragment_size()));
            let low = free < state.config.disk_min_free;
            DependencyHealth {
                status: if low { "degraded" } else { "ok" }.into(),
                latency_ms: None,
                message: low.then(|| "free space is below SIFT_DISK_MIN_FREE".into()),
                free_bytes: Some(free),
                breaker: None,
                lag_bytes: None,
            }
        }
        Err(error) => {
            tracing::warn!(error = %error, "health: index directory check failed");
            DependencyHealth {
                status: "degraded".into(),
                latency_ms: None,
                message: Some("the index directory cannot be read".into()),
                free_bytes: None,
                breaker: None,
                lag_bytes: None,
            }
        }
    }
}

/// Health
///
/// Overall status and, per dependency (PostgreSQL, Redis when configured, the index
/// directory's disk), status and latency. 503 when PostgreSQL is down.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "`ok` or `degraded`", body = Health),
        (status = 503, description = "`down`: PostgreSQL does not answer", body = Health),
    ))]
pub async fn health(State(state): State<AppState>) -> Response {
    let redis = async {
        match &state.redis {
            Some(pool) => Some(check_redis(&state, pool).await),
            None => None,
        }
    };
    let (postgres, redis) = tokio::join!(check_postgres(&state), redis);
    let index_disk = check_disk(&state);
    let standby = state
        .indexer
        .source()
        .standby_summary()
        .map(|standby| DependencyHealth {
            status: if standby.in_use.is_some() {
                "ok"
            } else {
                "degraded"
            }
            .into(),
            latency_ms: None,
            message: (!standby.problems.is_empty()).then(|| standby.problems.join("; ")),
            free_bytes: None,
            breaker: None,
            lag_bytes: standby.lag_bytes,
        });
    let status = if postgres.status != "ok" {
        "down"
    } else if redis.as_ref().is_some_and(|r| r.status != "ok")
        || index_disk.status != "ok"
        || standby.as_ref().is_some_and(|s| s.status != "ok")
    {
        "degraded"
    } else {
        "ok"
    };
    let code = if status == "down" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let report = Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: state.started_at.elapsed().as_secs(),
        checks: HealthChecks {
            postgres,
            redis,
            index_disk,
            standby,
        },
    };
    (code, Json(report)).into_response()
}
