//! The demo collection `products`, embedded in the binary and loaded by
//! `sift serve --demo` when the collection does not exist, so a first start shows
//! something to search.

use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::schema::{CollectionSchema, CollectionSettings, FieldDefinition, document_identity};
use crate::store;

const SCHEMA: &str = include_str!("../demo/products.schema.json");
const DOCUMENTS: &str = include_str!("../demo/products.ndjson");

#[derive(Deserialize)]
struct DemoSchema {
    name: String,
    fields: Vec<FieldDefinition>,
}

/// Creates and fills the demo collection unless it exists already.
pub async fn load(pool: &PgPool) -> anyhow::Result<()> {
    let demo: DemoSchema = serde_json::from_str(SCHEMA)?;
    let schema = CollectionSchema::parse(demo.fields).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(collection) = store::collections::insert(
        pool,
        &demo.name,
        schema.fields(),
        &CollectionSettings::default(),
    )
    .await?
    else {
        tracing::info!(collection = %demo.name, "demo collection exists already; left as it is");
        return Ok(());
    };
    let mut ids = Vec::new();
    let mut bodies: Vec<String> = Vec::new();
    for line in DOCUMENTS.lines().filter(|l| !l.trim().is_empty()) {
        let (id, body, _) = document_identity(serde_json::from_str(line)?, None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        schema
            .validate_document(&body)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        ids.push(id.into_string());
        bodies.push(Value::Object(body).to_string());
    }
    let written = store::documents::upsert_batch(
        pool,
        collection.id,
        &collection.stored_fields,
        &ids,
        &bodies,
    )
    .await?;
    if let store::documents::Guarded::FieldsChanged = written {
        anyhow::bail!("the demo collection changed while it was being loaded");
    }
    tracing::info!(collection = %demo.name, documents = ids.len(), "demo collection loaded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_matches_its_schema() {
        let demo: DemoSchema = serde_json::from_str(SCHEMA).expect("schema parses");
        let schema = CollectionSchema::parse(demo.fields).expect("schema is valid");
        let mut count = 0;
        for line in DOCUMENTS.lines() {
            let (_, body, generated) =
                document_identity(serde_json::from_str(line).expect("json"), None)
                    .expect("identity");
            assert!(!generated);
            schema.validate_document(&body).expect("valid document");
            count += 1;
        }
        assert_eq!(count, 240);
    }
}
