//! The service layer: what each endpoint does, as methods on [`App`](crate::state::App),
//! free of HTTP. A handler in [`crate::routes`] extracts, calls one of these, and
//! responds; a test or tool can call them without a server.
//!
//! * [`analytics`]: the analytics report and the clicks pages report.
//! * [`collections`]: create, list, read with statistics, change, delete, rebuild.
//! * [`documents`]: the document writes (each followed by one after-write step) and
//!   reads through the caches.
//! * [`import`]: streamed NDJSON imports in batched upserts.
//! * [`facet_search`]: the values of a facet that begin with what was typed.
//! * [`multi_search`]: several searches at once, or merged into one list.
//! * [`search`]: search and suggest: validation, the consistency wait, the caches and
//!   the bounded queue in front of the blocking pool.

pub mod analytics;
pub mod collections;
pub mod documents;
pub mod facet_search;
pub mod import;
pub mod keys;
pub mod multi_search;
pub mod search;

/// Milliseconds since `started`, to the microsecond.
pub fn elapsed_ms(started: std::time::Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
}
