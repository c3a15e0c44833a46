//! `/metrics`: the Prometheus text exposition.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Prometheus metrics
///
/// Requests by route, method and status; latency histograms by route; requests in
/// flight; database pool connections; errors by code; import outcomes; cache hits by
/// level, misses, Redis errors and timeouts, breaker state, L1 entries and bytes;
/// index searches run (`search_index_runs_total`, by collection); entries and bytes of
/// the cached doc sets of common terms (`search_bitset_cache_*`).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4",
        body = String, example = "http_requests_total{method=\"GET\",route=\"/v1/collections\",status=\"200\"} 3\n")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Pool figures are read when scraped rather than tracked on every checkout.
    let size = f64::from(state.db.size());
    let idle = state.db.num_idle() as f64;
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("db_pool_connections", "state" => "in_use").set((size - idle).max(0.0));
    let (entries, bytes) = state.caches.l1_size();
    metrics::gauge!("cache_l1_entries").set(entries as f64);
    metrics::gauge!("cache_l1_bytes").set(bytes as f64);
    let (entries, bytes) = state.indexer.bitsets().size();
    metrics::gauge!("search_bitset_cache_entries").set(entries as f64);
    metrics::gauge!("search_bitset_cache_bytes").set(bytes as f64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
