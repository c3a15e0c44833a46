//! A declared field's place in a document's `jsonb` body, as SQL: a top-level name
//! (`body -> 'title'`) or a dot path into nested objects (`body #> '{author,name}'`).
//! One place, so the document list, the `ilike`/`fts` engines and the filters agree on
//! what a path means.

use sqlx::{Postgres, QueryBuilder};

/// A declared field's value in a row's `body`, by its name or path, for queries built
/// with [`QueryBuilder`]. The name is bound, never inlined.
pub trait PushField {
    /// The field's JSON: `body -> 'f'`, or `(body #> '{author,name}')` for a path.
    fn push_json(&mut self, field: &str) -> &mut Self;
    /// The field's text, as `->>` gives it: `body ->> 'f'` or `(body #>> '{a,b}')`.
    fn push_text(&mut self, field: &str) -> &mut Self;
    /// Whether the body has the field (its value `null` included).
    fn push_has(&mut self, field: &str) -> &mut Self;
}

impl PushField for QueryBuilder<Postgres> {
    fn push_json(&mut self, field: &str) -> &mut Self {
        if field.contains('.') {
            self.push("(body #> ").push_bind(path_of(field)).push(")")
        } else {
            self.push("body -> ").push_bind(field.to_owned())
        }
    }

    fn push_text(&mut self, field: &str) -> &mut Self {
        if field.contains('.') {
            self.push("(body #>> ").push_bind(path_of(field)).push(")")
        } else {
            self.push("body ->> ").push_bind(field.to_owned())
        }
    }

    fn push_has(&mut self, field: &str) -> &mut Self {
        if field.contains('.') {
            // `#>` is SQL NULL where the path is missing, JSON `null` where it holds one.
            self.push("((body #> ")
                .push_bind(path_of(field))
                .push(") IS NOT NULL)")
        } else {
            self.push("(body ? ").push_bind(field.to_owned()).push(")")
        }
    }
}

/// A field path as PostgreSQL's `text[]` path (`author.name` → `{author,name}`).
fn path_of(field: &str) -> Vec<String> {
    field.split('.').map(str::to_owned).collect()
}
