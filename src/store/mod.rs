//! Queries against PostgreSQL, one module per table family. Every query is
//! parameterized; the few SQL fragments chosen at run time (sort column and
//! direction) come from fixed lists in code, never from input.

pub mod collections;
pub mod documents;
pub mod json_field;
pub mod keys;

/// True when the error is a foreign-key violation: a document write raced with the
/// deletion of its collection.
pub fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}
