//! sift: a search service with PostgreSQL as the source of truth.
//!
//! The binary (`main.rs`) only parses the command line; everything else is here so
//! that tests can build the same application on port 0.
//!
//! # Layout
//!
//! Calls go one way, top to bottom (`tests/api/architecture.rs` checks it; the
//! picture is in `docs/architecture.md`):
//!
//! * HTTP: [`startup`] (the application, middleware stack, shutdown), [`server`] (the
//!   connection loop and its bounds), [`middleware`],
//!   [`routes`] (one module per path family: extract, call the service, respond),
//!   [`extract`].
//! * The service layer: [`service`], methods on [`state::App`] that do what each
//!   endpoint does; [`error`] maps every domain error to a stable code.
//! * The domain: [`access`] (what an API key grants), [`placement`] (which collections
//!   this replica serves), [`analytics`] (search counts,
//!   batched off the request path), [`search`] (request, filter language, engines), [`index`] (tantivy,
//!   the indexer following the change log, match bitsets), [`cache`] (L1 and L2),
//!   [`store`] (SQL), [`schema`] (names, ids, field types, document validation).
//! * Plumbing: [`config`], [`db`], [`telemetry`], [`validation`], [`sync`], [`demo`],
//!   [`rate_limit`],
//!   [`cli`].
//!
//! The benchmark tooling lives in the workspace crates `crates/sift-datagen` and
//! `crates/sift-bench`.

pub mod access;
pub mod analytics;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod extract;
pub mod index;
pub mod middleware;
pub mod placement;
pub mod rate_limit;
pub mod routes;
pub mod schema;
pub mod search;
pub mod server;
pub mod service;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod validation;
