//! sift: a search service with PostgreSQL as the source of truth.
//!
//! The binary (`main.rs`) only parses the command line; everything else is here so
//! that tests can build the same application on port 0.

pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod extract;
pub mod index;
pub mod middleware;
pub mod routes;
pub mod schema;
pub mod search;
pub mod service;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod validation;
