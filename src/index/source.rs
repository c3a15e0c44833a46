//! Where the indexers read the change log and the documents: the primary
//! (`DATABASE_URL`), or a hot standby of it (`SIFT_DATABASE_REPLICA_URL`, one or a
//! comma-separated list: the first that is fit) while the standby answers and has
//! replayed the primary's WAL to within `SIFT_STANDBY_MAX_LAG`; when none is, the
//! primary, or (`SIFT_STANDBY_FALLBACK=not-ready`) `/ready` answers 503. Writes, the
//! collections table, the heartbeat and the janitor always go to the primary.
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

/// What the last check found of a standby.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StandbyState {
    /// Whether it is fit to read from (answers, in recovery, within the lag bound).
    pub in_use: bool,
    /// Bytes of WAL the standby has still to replay, when both answered.
    pub lag_bytes: Option<u64>,
    /// What is wrong, when it is not fit.
    pub problem: Option<String>,
}

/// What indexers do when no standby is fit to read from (`SIFT_STANDBY_FALLBACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Read from the primary meanwhile (the default).
    Primary,
    /// Keep off the primary: stay on the first standby and answer `/ready` with 503,
    /// so a load balancer sends the searches to replicas whose standby keeps up.
    NotReady,
}

struct Standby {
    /// `host:port`, for logs, `/health` and metrics (never the URL: it may hold a password).
    name: String,
    pool: PgPool,
    state: RwLock<StandbyState>,
}

/// The servers indexers read from.
pub struct ReadSource {
    primary: PgPool,
    standbys: Vec<Standby>,
    max_lag_bytes: u64,
    fallback: Fallback,
}

/// The standbys as `/health` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbySummary {
    /// The standby read from, if any.
    pub in_use: Option<String>,
    pub lag_bytes: Option<u64>,
    /// Why each standby not read from is not (`host:port: what`).
    pub problems: Vec<String>,
}

impl ReadSource {
    /// Reads from the primary only.
    pub fn primary(primary: PgPool) -> ReadSource {
        ReadSource {
            primary,
            standbys: Vec::new(),
            max_lag_bytes: 0,
            fallback: Fallback::Primary,
        }
    }

    /// Reads from the first of `standbys` (name, pool) that keeps within
    /// `max_lag_bytes` of the primary, else as `fallback` says. A standby is not read
    /// from before a check has found it fit.
    pub fn with_standbys(
        primary: PgPool,
        standbys: Vec<(String, PgPool)>,
        max_lag_bytes: u64,
        fallback: Fallback,
    ) -> ReadSource {
        ReadSource {
            primary,
            standbys: standbys
                .into_iter()
                .map(|(name, pool)| Standby {
                    name,
                    pool,
                    state: RwLock::new(StandbyState {
                        in_use: false,
                        lag_bytes: None,
                        problem: Some("not checked yet".into()),
                    }),
                })
                .collect(),
            max_lag_bytes,
            fallback,
        }
    }

    fn fit(&self) -> Option<&Standby> {
        self.standbys
            .iter()
            .find(|standby| sync::read(&standby.state).in_use)
    }

    /// The pool an indexer pass reads from.
    pub fn pool(&self) -> &PgPool {
        match (self.fit(), self.fallback, self.standbys.first()) {
            (Some(standby), _, _) => &standby.pool,
            (None, Fallback::NotReady, Some(first)) => &first.pool,
            _ => &self.primary,
        }
    }

    /// Why this replica should not take searches: with `SIFT_STANDBY_FALLBACK=not-ready`,
    /// while no standby is fit to read from.
    pub fn not_ready(&self) -> Option<String> {
        (self.fallback == Fallback::NotReady && !self.standbys.is_empty() && self.fit().is_none())
            .then(|| {
                "no standby keeps up with the primary (SIFT_STANDBY_FALLBACK=not-ready)".into()
            })
    }

    /// The standbys' state, when any is configured.
    pub fn standby_summary(&self) -> Option<StandbySummary> {
        if self.standbys.is_empty() {
            return None;
        }
        let fit = self.fit();
        Some(StandbySummary {
            in_use: fit.map(|standby| standby.name.clone()),
            lag_bytes: fit.and_then(|standby| sync::read(&standby.state).lag_bytes),
            problems: self
                .standbys
                .iter()
                .filter_map(|standby| {
                    let state = sync::read(&standby.state);
                    state
                        .problem
                        .as_ref()
                        .map(|problem| format!("{}: {problem}", standby.name))
                })
                .collect(),
        })
    }

    /// Checks the standbys every second until `stop`; returns at once without any.
    pub async fn watch(&self, stop: CancellationToken) {
        if self.standbys.is_empty() {
            return;
        }
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let before = self.fit().map(|standby| standby.name.clone());
            for standby in &self.standbys {
                let state = self.check(standby).await;
                if let Some(lag) = state.lag_bytes {
                    metrics::gauge!("standby_lag_bytes", "standby" => standby.name.clone())
                        .set(lag as f64);
                }
                *sync::write(&standby.state) = state;
            }
            let after = self.fit().map(|standby| standby.name.clone());
            metrics::gauge!("standby_in_use").set(if after.is_some() { 1.0 } else { 0.0 });
            if before != after {
                match &after {
                    Some(name) => tracing::info!(standby = %name, "indexers read from a standby"),
                    None => tracing::warn!(
                        fallback = ?self.fallback,
                        problems = ?self.standby_summary().map(|s| s.problems),
                        "no standby is fit to read from"
                    ),
                }
            }
        }
    }

    async fn check(&self, standby: &Standby) -> StandbyState {
        match self.lag_of(standby).await {
            Ok(lag) if lag <= self.max_lag_bytes => StandbyState {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://127.0.0.1:1/none")
            .expect("a lazy pool")
    }

    fn source(fallback: Fallback) -> ReadSource {
        ReadSource::with_standbys(
            lazy(),
            vec![("a:1".into(), lazy()), ("b:2".into(), lazy())],
            100,
            fallback,
        )
    }

    fn set(source: &ReadSource, at: usize, in_use: bool) {
        *sync::write(&source.standbys[at].state) = StandbyState {
            in_use,
            lag_bytes: Some(if in_use { 10 } else { 500 }),
            problem: (!in_use).then(|| "behind".into()),
        };
    }

    #[tokio::test]
    async fn the_first_fit_standby_is_read_else_the_fallback() {
        let primary_first = source(Fallback::Primary);
        assert!(
            std::ptr::eq(primary_first.pool(), &primary_first.primary),
            "none checked yet"
        );
        assert_eq!(primary_first.not_ready(), None);
        set(&primary_first, 1, true);
        assert!(std::ptr::eq(
            primary_first.pool(),
            &primary_first.standbys[1].pool
        ));
        set(&primary_first, 0, true);
        assert!(std::ptr::eq(
            primary_first.pool(),
            &primary_first.standbys[0].pool
        ));
        set(&primary_first, 0, false);
        let summary = primary_first.standby_summary().expect("standbys");
        assert_eq!(summary.in_use.as_deref(), Some("b:2"));
        assert_eq!(summary.lag_bytes, Some(10));
        assert_eq!(summary.problems, ["a:1: behind"]);

        let not_ready = source(Fallback::NotReady);
        set(&not_ready, 0, false);
        set(&not_ready, 1, false);
        assert!(
            std::ptr::eq(not_ready.pool(), &not_ready.standbys[0].pool),
            "keeps off the primary"
        );
        assert!(not_ready.not_ready().is_some());
        set(&not_ready, 1, true);
        assert_eq!(not_ready.not_ready(), None);
        assert!(ReadSource::primary(lazy()).standby_summary().is_none());
    }
}
