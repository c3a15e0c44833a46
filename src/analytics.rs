//! Search analytics: which queries are searched, which find nothing, which lead to a
//! click, per collection and per hour, kept in PostgreSQL for `SIFT_ANALYTICS_RETENTION`.
//!
//! Never on a search's path: a search hands its answer (a shared pointer to the bytes,
//! no copy, no parsing) to a bounded channel with `try_send`, and drops the event when
//! the channel is full (counted in `analytics_dropped_total`) rather than wait. One task
//! reads the channel, counts in memory, and every `SIFT_ANALYTICS_FLUSH_INTERVAL`
//! writes the counts in one upsert and trims what is older than the retention. At
//! shutdown it writes what it holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events waiting for the counting task; more are dropped, never waited for.
const CHANNEL_CAPACITY: usize = 65_536;
/// Distinct (collection, hour, query) counts held before an early write.
const MAX_PENDING: usize = 10_000;

/// `SIFT_ANALYTICS_RETENTION` and `SIFT_ANALYTICS_FLUSH_INTERVAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyticsConfig {
    pub retention: Duration,
    pub flush_interval: Duration,
}

/// Something to count.
#[derive(Debug)]
pub enum Event {
    /// A search of `query` (normalized) and its answer's JSON, read off the request path
    /// for its `total`.
    Search {
        collection_id: i64,
        query: String,
        answer: Arc<[u8]>,
    },
    /// The page reported a click on a hit of `query`.
    Click { collection_id: i64, query: String },
}

/// The sending side, held by the service.
#[derive(Debug, Clone)]
pub struct Analytics {
    sender: mpsc::Sender<Event>,
}

impl Analytics {
    /// Starts the counting task; it stops (after a last write) when `stop` is cancelled.
    pub fn start(
        db: PgPool,
        config: AnalyticsConfig,
        stop: CancellationToken,
    ) -> (Analytics, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let task = tokio::spawn(run(db, config, receiver, stop));
        (Analytics { sender }, task)
    }

    /// Hands an event on, or drops it when the channel is full.
    pub fn record(&self, event: Event) {
        if self.sender.try_send(event).is_err() {
            metrics::counter!("analytics_dropped_total").increment(1);
        }
    }
}

/// Counts of one (collection, hour, query).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    searches: i64,
    empty: i64,
    clicks: i64,
}

type Key = (i64, DateTime<Utc>, String);

/// The `total` of a search answer: the top-level field, whatever the hits hold.
fn total_of(answer: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Total {
        total: u64,
    }
    serde_json::from_slice::<Total>(answer)
        .ok()
        .map(|t| t.total)
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(chrono::Duration::hours(1)).unwrap_or(at)
}

fn count(pending: &mut HashMap<Key, Counts>, event: Event, now: DateTime<Utc>) {
    let hour = hour_of(now);
    match event {
        Event::Search {
            collection_id,
            query,
            answer,
        } => {
            let counts = pending.entry((collection_id, hour, query)).or_default();
            counts.searches += 1;
            if total_of(&answer) == Some(0) {
                counts.empty += 1;
            }
        }
        Event::Click {
            collection_id,
            query,
        } => {
            pending
                .entry((collection_id, hour, query))
                .or_default()
                .clicks += 1
        }
    }
}

async fn run(
    db: PgPool,
    config: AnalyticsConfig,
    mut receiver: mpsc::Receiver<Event>,
    stop: CancellationToken,
) {
    let mut pending: HashMap<Key, Counts> = HashMap::new();
    let mut ticker = tokio::time::interval(config.flush_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            event = receiver.recv() => match event {
                Some(event) => {
                    count(&mut pending, event, Utc::now());
                    if pending.len() >= MAX_PENDING {
                        write(&db, &mut pending).await;
                    }
                }
                None => break,
            },
            _ = ticker.tick() => {
                write(&db, &mut pending).await;
                trim(&db, config.retention).await;
            }
        }
    }
    while let Ok(event) = receiver.try_recv() {
        count(&mut pending, event, Utc::now());
    }
    write(&db, &mut pending).await;
}

/// Adds the pending counts to the table in one statement. On failure they are kept and
/// tried again at the next flush (up to [`MAX_PENDING`] keys; past that, the oldest
/// hour's are let go rather than grow without bound).
async fn write(db: &PgPool, pending: &mut HashMap<Key, Counts>) {
    if pending.is_empty() {
        return;
    }
    let mut collections = Vec::with_capacity(pending.len());
    let mut buckets = Vec::with_capacity(pending.len());
    let mut queries = Vec::with_capacity(pending.len());
    let (mut searches, mut empty, mut clicks) = (Vec::new(), Vec::new(), Vec::new());
    for ((collection, bucket, query), counts) in pending.iter() {
        collections.push(*collection);
        buckets.push(*bucket);
        queries.push(query.clone());
        searches.push(counts.searches);
        empty.push(counts.empty);
        clicks.push(counts.clicks);
    }
    // A collection deleted since its searches were counted has no row to point at.
    let written = sqlx::query(
        "INSERT INTO search_analytics (collection_id, bucket, query, searches, empty, clicks)
         SELECT t.* FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
             AS t (collection_id, bucket, query, searches, empty, clicks)
         WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = t.collection_id)
         ON CONFLICT (collection_id, bucket, query) DO UPDATE SET
             searches = search_analytics.searches + EXCLUDED.searches,
             empty = search_analytics.empty + EXCLUDED.empty,
             clicks = search_analytics.clicks + EXCLUDED.clicks",
    )
    .bind(&collections)
    .bind(&buckets)
    .bind(&queries)
    .bind(&searches)
    .bind(&empty)
    .bind(&clicks)
    .execute(db)
    .await;
    match written {
        Ok(_) => {
            metrics::counter!("analytics_rows_written_total").increment(pending.len() as u64);
            pending.clear();
        }
        Err(error) => {
            tracing::warn!(%error, pending = pending.len(), "search analytics not written; retrying at the next flush");
            if pending.len() >= MAX_PENDING
                && let Some(oldest) = pending.keys().map(|k| k.1).min()
            {
                pending.retain(|k, _| k.1 != oldest);
            }
        }
    }
}

/// Deletes the hours past the retention.
async fn trim(db: &PgPool, retention: Duration) {
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return;
    };
    let cutoff = Utc::now() - retention;
    if let Err(error) = sqlx::query("DELETE FROM search_analytics WHERE bucket < $1")
        .bind(cutoff)
        .execute(db)
        .await
    {
        tracing::warn!(%error, "search analytics past the retention not trimmed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_empty_answers_and_clicks_are_counted_per_hour_and_query() {
        let mut pending = HashMap::new();
        let at = |h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
                .and_then(|d| d.and_hms_opt(h, m, 0))
                .map(|t| t.and_utc())
                .expect("time")
        };
        let search = |query: &str, answer: &str| Event::Search {
            collection_id: 1,
            query: query.into(),
            answer: Arc::from(answer.as_bytes()),
        };
        let tricky = r#"{"hits":[{"id":"a","document":{"total":0}}],"total":3,"offset":0}"#;
        count(&mut pending, search("lamp", tricky), at(9, 5));
        count(
            &mut pending,
            search("lamp", r#"{"hits":[],"total":0}"#),
            at(9, 55),
        );
        count(
            &mut pending,
            search("lamp", r#"{"hits":[],"total":0}"#),
            at(10, 1),
        );
        count(
            &mut pending,
            Event::Click {
                collection_id: 1,
                query: "lamp".into(),
            },
            at(9, 30),
        );
        assert_eq!(
            pending.get(&(1, at(9, 0), "lamp".to_owned())),
            Some(&Counts {
                searches: 2,
                empty: 1,
                clicks: 1
            }),
            "a document's own `total` is not the answer's"
        );
        assert_eq!(
            pending.get(&(1, at(10, 0), "lamp".to_owned())),
            Some(&Counts {
                searches: 1,
                empty: 1,
                clicks: 0
            })
        );
    }
}
