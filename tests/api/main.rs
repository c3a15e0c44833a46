//! Integration tests over HTTP against a real PostgreSQL (and Redis where it matters),
//! one database per test. One binary, so it is linked once.

mod analytics;
mod architecture;
mod auth;
mod browser;
mod cache;
mod collections;
mod config;
mod crash;
mod distinct;
mod documents;
mod errors;
mod facet_search;
mod facets;
mod filters;
mod geo;
mod health;
mod helpers;
mod highlights;
mod hostile_input;
mod import;
mod indexing;
mod keys;
mod migrations;
mod multi_search;
mod nested_fields;
mod observability;
mod openapi;
mod overload;
mod rate_limit;
mod relevance;
mod schemathesis;
mod scripts;
mod search;
mod shutdown;
mod substring;
