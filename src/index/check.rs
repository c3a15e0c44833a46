//! `sift check <collection>`: compares PostgreSQL with the index on disk, document by
//! document (ids and versions), and lists the differences.
//!
//! It reads the current generation without taking the writer lock, so it can run
//! beside a serving process; while writes are arriving, the index may legitimately
//! trail by the changes not yet applied (see `lag` in the collection's stats).

use std::collections::HashMap;
use std::path::Path;

use sqlx::PgPool;
use tantivy::schema::Value as _;
use tantivy::{Index, TantivyDocument};

use crate::store::collections as collection_store;

/// What differs between PostgreSQL and the index.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub in_postgres: usize,
    pub in_index: usize,
    /// In PostgreSQL, not in the index.
    pub missing: Vec<String>,
    /// In the index, not in PostgreSQL.
    pub extra: Vec<String>,
    /// In both, with other versions: (id, PostgreSQL's, the index's).
    pub stale: Vec<(String, i64, i64)>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.stale.is_empty()
    }
}

/// Compares the collection `name` in PostgreSQL with its index under `index_dir`.
pub async fn check(db: &PgPool, index_dir: &Path, name: &str) -> anyhow::Result<CheckReport> {
    let Some(collection) = collection_store::find(db, name).await? else {
        anyhow::bail!("collection `{name}` does not exist");
    };
    let pointer = index_dir.join(name).join("CURRENT");
    let generation = std::fs::read_to_string(&pointer)
        .map_err(|e| anyhow::anyhow!("no index for `{name}` at {}: {e}", pointer.display()))?;
    let dir = index_dir.join(name).join(generation.trim());
    let indexed = tokio::task::spawn_blocking(move || read_index(&dir)).await??;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, version FROM documents WHERE collection_id = $1")
            .bind(collection.id)
            .fetch_all(db)
            .await?;
    let mut report = CheckReport {
        in_postgres: rows.len(),
        in_index: indexed.len(),
        ..CheckReport::default()
    };
    let mut remaining = indexed;
    for (id, version) in rows {
        match remaining.remove(&id) {
            None => report.missing.push(id),
            Some(indexed_version) if indexed_version != version => {
                report.stale.push((id, version, indexed_version))
            }
            Some(_) => {}
        }
    }
    report.extra = remaining.into_keys().collect();
    report.missing.sort();
    report.extra.sort();
    report.stale.sort();
    Ok(report)
}

fn read_index(dir: &Path) -> anyhow::Result<HashMap<String, i64>> {
    let index = Index::open_in_dir(dir)?;
    let schema = index.schema();
    let id_field = schema.get_field("_id")?;
    let version_field = schema.get_field("_version")?;
    let reader = index.reader()?;
    let searcher = reader.searcher();
    let mut out = HashMap::new();
    for segment in searcher.segment_readers() {
        let store = segment.get_store_reader(64)?;
        for doc_id in segment.doc_ids_alive() {
            let doc: TantivyDocument = store.get(doc_id)?;
            let id = doc
                .get_first(id_field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            let version = doc
                .get_first(version_field)
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            out.insert(id, i64::try_from(version).unwrap_or(i64::MAX));
        }
    }
    Ok(out)
}
