//! Logs and metrics: the tracing subscriber and the process-wide Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global tracing subscriber: JSON lines in production, readable lines
/// on a terminal. Logs go to stderr so stdout stays free for command output
/// (`sift openapi`).
pub fn init_tracing(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    // A second call (tests build many apps in one process) keeps the first subscriber.
    drop(result);
}

/// Latency buckets in seconds, from 100 µs to 10 s, fine enough to read p50/p95/p99
/// of both cached lookups and imports.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use. The `metrics` crate
/// has one global recorder per process, so several apps in one test binary share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; /metrics may be empty");
            }
            describe_metrics();
            handle
        })
        .clone()
}

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency, by method and route"
    );
    describe_gauge!("http_requests_in_flight", "HTTP requests being served now");
    describe_counter!("http_errors_total", "Error responses, by error code");
    describe_counter!(
        "analytics_rows_written_total",
        "Search analytics rows (collection, hour, query) written to PostgreSQL"
    );
    describe_gauge!(
        "standby_in_use",
        "1 while indexers read from the standby (SIFT_DATABASE_REPLICA_URL), 0 while they read from the primary"
    );
    describe_gauge!(
        "standby_lag_bytes",
        "Bytes of WAL the standby has still to replay, at the last check"
    );
    describe_counter!(
        "index_audits_total",
        "Idle audits of an index's document count against PostgreSQL's, by outcome: agrees, suspect (differs once), differs (twice at the same point: the index is rebuilt)"
    );
    describe_counter!(
        "change_log_trimmed_total",
        "Change-log rows deleted by the janitor once every live replica had applied them"
    );
    describe_counter!(
        "analytics_dropped_total",
        "Search analytics events dropped because the counting task's channel was full"
    );
    describe_gauge!(
        "db_pool_connections",
        "PostgreSQL pool connections, by state (in_use, idle)"
    );
    describe_counter!(
        "import_documents_total",
        "Documents received by imports, by outcome (imported, failed)"
    );
    describe_counter!(
        "documents_deleted_total",
        "Documents deleted by bulk deletes (POST .../documents:delete)"
    );
    describe_histogram!(
        "search_duration_seconds",
        Unit::Seconds,
        "Search time inside the service (cache misses), by engine"
    );
    describe_counter!(
        "search_index_runs_total",
        "Searches run on a collection's index (not answered from a cache), by collection"
    );
    describe_gauge!(
        "search_bitset_cache_entries",
        "Doc sets of common terms cached for exact totals"
    );
    describe_gauge!(
        "search_bitset_cache_bytes",
        Unit::Bytes,
        "Memory of the cached doc sets of common terms"
    );
    describe_counter!(
        "cache_hits_total",
        "Cache hits, by level (l1, l2) and kind (search, suggest, document)"
    );
    describe_counter!("cache_misses_total", "Cache misses, by kind");
    describe_counter!(
        "cache_l2_errors_total",
        "Redis calls that failed, by kind (error, timeout)"
    );
    describe_counter!(
        "cache_l2_skipped_total",
        "Redis calls skipped while the circuit breaker was open"
    );
    describe_gauge!(
        "http_connections_open",
        "Client connections open (at most SIFT_MAX_CONNECTIONS)"
    );
    describe_counter!(
        "http_rate_limited_total",
        "API requests answered 429 rate_limited (SIFT_RATE_LIMIT)"
    );
    describe_counter!(
        "http_requests_refused_total",
        "API requests answered 503 server_busy (SIFT_MAX_REQUESTS in flight)"
    );
    describe_counter!(
        "cache_l2_fenced_total",
        "L2 document entries passed over: read before a change this process knows of"
    );
    describe_gauge!(
        "cache_l2_breaker_open",
        "Redis circuit breaker: 0 closed, 0.5 half-open, 1 open"
    );
    describe_gauge!("cache_l1_entries", "Entries in the in-process cache (L1)");
    describe_gauge!(
        "cache_l1_bytes",
        Unit::Bytes,
        "Weighed size of the in-process cache (L1)"
    );
    describe_counter!(
        "cache_invalidation_ack_timeouts_total",
        "Document writes that answered before every replica acknowledged the invalidation"
    );
}
