//! Where the indexers read the change log and the documents: the primary
//! (`DATABASE_URL`), or a hot standby of it (`SIFT_DATABASE_REPLICA_URL`) while the
//! standby answers and has replayed the primary's WAL to within
//! `SIFT_STANDBY_MAX_LAG`. Writes, the collections table, the heartbeat and the janitor
//! always go to the primary.
//!
//! Why reading from a standby keeps every guarantee: the indexer applies only changes
//! of transactions below its horizon, and on a standby the horizon is the xmin of the
//! standby's own snapshot (see `indexer::current_horizon`). A standby builds snapshots
//! from the transactions the primary's WAL says are running, and counts every
//! transaction id it has not seen end, up to the newest it has seen, as running. So a
//! transaction below that xmin has committed or aborted in the replayed WAL, and its
//! rows and change-log entries are there to read: nothing is skipped, however far
//! behind the standby is. Lag only delays: a consistency token (a primary transaction
//! id) is answered once the standby has replayed it, or once the indexer has gone back
//! to the primary because the standby fell too far behind or stopped answering.
//!
//! Every pass of an indexer reads from one server, both its horizon and its changes; a
//! switch between servers happens between passes. That is safe both ways: the primary
//! is ahead of the standby, and a standby behind the index's watermark only has
//! nothing new to give until it catches up.

use std::sync::RwLock;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::sync;

/// How often the standby's replay position is compared with the primary's.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a check of either server may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the last check found of the standby.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StandbyState {
    /// Whether indexers read from it now.
    pub in_use: bool,
    /// Bytes of WAL the standby has still to replay, when both answered.
    pub lag_bytes: Option<u64>,
    /// What is wrong, when it is not in use.
    pub problem: Option<String>,
}

struct Standby {
    pool: PgPool,
    max_lag_bytes: u64,
    state: RwLock<StandbyState>,
}

/// The servers indexers read from.
pub struct ReadSource {
    primary: PgPool,
    standby: Option<Standby>,
}

impl ReadSource {
    /// Reads from the primary only.
    pub fn primary(primary: PgPool) -> ReadSource {
        ReadSource {
            primary,
            standby: None,
        }
    }

    /// Reads from `standby` while it keeps within `max_lag_bytes` of the primary. It is
    /// not used before the first check has found it so.
    pub fn with_standby(primary: PgPool, standby: PgPool, max_lag_bytes: u64) -> ReadSource {
        ReadSource {
            primary,
            standby: Some(Standby {
                pool: standby,
                max_lag_bytes,
                state: RwLock::new(StandbyState {
                    in_use: false,
                    lag_bytes: None,
                    problem: Some("not checked yet".into()),
                }),
            }),
        }
    }

    /// The pool an indexer pass reads from.
    pub fn pool(&self) -> &PgPool {
        match &self.standby {
            Some(standby) if sync::read(&standby.state).in_use => &standby.pool,
            _ => &self.primary,
        }
    }

    /// The standby's state, when one is configured.
    pub fn standby_state(&self) -> Option<StandbyState> {
        self.standby
            .as_ref()
            .map(|standby| sync::read(&standby.state).clone())
    }

    /// Checks the standby every second until `stop`; returns at once without one.
    pub async fn watch(&self, stop: CancellationToken) {
        let Some(standby) = &self.standby else {
            return;
        };
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let state = match self.lag_of(standby).await {
                Ok(lag) if lag <= standby.max_lag_bytes => StandbyState {
                    in_use: true,
                    lag_bytes: Some(lag),
                    problem: None,
                },
                Ok(lag) => StandbyState {
                    in_use: false,
                    lag_bytes: Some(lag),
                    problem: Some(format!(
                        "{lag} bytes of WAL behind the primary, more than SIFT_STANDBY_MAX_LAG"
                    )),
                },
                Err(problem) => StandbyState {
                    in_use: false,
                    lag_bytes: None,
                    problem: Some(problem),
                },
            };
            metrics::gauge!("standby_in_use").set(if state.in_use { 1.0 } else { 0.0 });
            if let Some(lag) = state.lag_bytes {
                metrics::gauge!("standby_lag_bytes").set(lag as f64);
            }
            let previous = std::mem::replace(&mut *sync::write(&standby.state), state.clone());
            if previous.in_use != state.in_use {
                match &state.problem {
                    None => {
                        tracing::info!(lag_bytes = ?state.lag_bytes, "indexers read from the standby")
                    }
                    Some(problem) => {
                        tracing::warn!(%problem, "indexers read from the primary: the standby is not usable")
                    }
                }
            }
        }
    }

    /// How many bytes of WAL the standby has still to replay.
    async fn lag_of(&self, standby: &Standby) -> Result<u64, String> {
        let replayed: Option<Option<String>> = tokio::time::timeout(
            CHECK_TIMEOUT,
            sqlx::query_scalar("SELECT pg_last_wal_replay_lsn()::text WHERE pg_is_in_recovery()")
                .fetch_optional(&standby.pool),
        )
        .await
        .map_err(|_| "the standby did not answer in time".to_owned())?
        .map_err(|_| "the standby does not answer".to_owned())?;
        let Some(Some(replayed)) = replayed else {
            // Promoted, or not a standby at all: its log may part from the primary's.
            return Err("the server is not a standby in recovery".into());
        };
        let lag: i64 = tokio::time::timeout(
            CHECK_TIMEOUT,
            sqlx::query_scalar(
                "SELECT greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn), 0)::bigint",
            )
            .bind(&replayed)
            .fetch_one(&self.primary),
        )
        .await
        .map_err(|_| "the primary did not answer in time".to_owned())?
        .map_err(|_| "the primary does not answer".to_owned())?;
        Ok(lag.max(0) as u64)
    }
}
