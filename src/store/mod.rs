//! Queries against PostgreSQL, one module per table family. Every query is
//! parameterized; the few SQL fragments chosen at run time (sort column and
//! direction) come from fixed lists in code, never from input.

pub mod collections;
pub mod documents;
pub mod json_field;
pub mod keys;
