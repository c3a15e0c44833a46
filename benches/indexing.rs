//! What indexing a review costs, against tantivy alone in the same run: the floor
//! under any change to sift's index documents.
//!
//! Each variant indexes the same 2,000 generated reviews into a fresh in-memory index,
//! with as many writer threads as sift's indexer uses (one per core, up to four), and
//! commits:
//! - `tantivy alone`: the three text fields with tantivy's default tokenizer and
//!   positions, nothing else (what tantivy's own examples index);
//! - `sift, without type-ahead prefixes`: sift's index document less its prefix fields;
//! - `sift, type-ahead off on the body`: the collection with `"typeAhead": false` on
//!   the review's body (its title and product name keep their prefixes);
//! - `sift`: the document sift's indexer writes (stems with positions, type-ahead
//!   prefixes, heads, words as written, presence markers, the stored source).
//!
//! The documents are built before the clock starts: this measures tantivy's work only.
//! Building them is `index document building` in `hot_paths`.
//!
//! `cargo bench --bench indexing`

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sift::index::IndexedRow;
use sift::index::analysis::{TEXT_ANALYZER, normalizer, text_analyzer};
use sift::index::fields::IndexFields;
use sift::schema::{CollectionSchema, FieldDefinition};
use sift_datagen::{Corpus, Generator};
use tantivy::schema::{Schema, TEXT};
use tantivy::{Index, TantivyDocument};

const REVIEWS: u64 = 2_000;
const TEXT_FIELDS: [&str; 3] = ["title", "productName", "body"];

/// Writer threads and memory as sift's indexer has them.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// Indexes `docs` into a fresh in-memory index of `schema` and commits.
fn index_all(schema: &Schema, sift_analyzer: bool, docs: Vec<TantivyDocument>) -> u64 {
    let index = Index::create_in_ram(schema.clone());
    if sift_analyzer {
        index
            .tokenizers()
            .register(TEXT_ANALYZER, text_analyzer(None));
    }
    let threads = threads();
    let mut writer = index
        .writer_with_num_threads::<TantivyDocument>(threads, 64 * 1024 * 1024 * threads)
        .expect("writer");
    for doc in docs {
        writer.add_document(doc).expect("add");
    }
    writer.commit().expect("commit")
}

fn indexing(c: &mut Criterion) {
    let schema = Corpus::Reviews.schema("bench");
    let fields: Vec<FieldDefinition> =
        serde_json::from_value(schema["fields"].clone()).expect("fields");
    let schema = CollectionSchema::parse(fields).expect("schema");
    let sift_fields = IndexFields::build(&schema, false);
    let mut generator = Generator::new(Corpus::Reviews, 42);
    let rows: Vec<IndexedRow> = (0..REVIEWS)
        .map(|n| {
            let mut line = Vec::new();
            generator.write_document(n, &mut line);
            IndexedRow::from_source(
                format!("r{n}"),
                1,
                String::from_utf8_lossy(&line).trim().to_owned(),
            )
        })
        .collect();

    // tantivy alone: the text fields, its default tokenizer, positions.
    let mut plain_builder = Schema::builder();
    let plain_fields: Vec<_> = TEXT_FIELDS
        .iter()
        .map(|name| plain_builder.add_text_field(name, TEXT))
        .collect();
    let plain_schema = plain_builder.build();
    let plain_docs: Vec<TantivyDocument> = rows
        .iter()
        .map(|row| {
            let mut doc = TantivyDocument::default();
            for (name, field) in TEXT_FIELDS.iter().zip(&plain_fields) {
                if let Some(text) = row.body.get(*name).and_then(|v| v.as_str()) {
                    doc.add_text(*field, text);
                }
            }
            doc
        })
        .collect();

    let mut normalizer = normalizer();
    let mut documents_of = |fields: &IndexFields| -> Vec<TantivyDocument> {
        rows.iter()
            .map(|row| {
                fields.document(
                    &mut normalizer,
                    &row.id,
                    row.version,
                    &row.body,
                    &row.source,
                )
            })
            .collect()
    };
    let sift_docs = documents_of(&sift_fields);
    let mut body_off = Corpus::Reviews.schema("bench")["fields"].clone();
    for field in body_off.as_array_mut().expect("fields") {
        if field["name"] == "body" {
            field["typeAhead"] = serde_json::json!(false);
        }
    }
    let body_off_schema = CollectionSchema::parse(
        serde_json::from_value::<Vec<FieldDefinition>>(body_off).expect("fields"),
    )
    .expect("schema");
    let body_off_fields = IndexFields::build(&body_off_schema, false);
    let body_off_docs = documents_of(&body_off_fields);
    let prefix_fields: Vec<_> = sift_fields.prefixes.values().copied().collect();
    let unprefixed_docs: Vec<TantivyDocument> = sift_docs
        .iter()
        .map(|doc| {
            let mut kept = TantivyDocument::default();
            for (field, value) in doc.field_values() {
                if !prefix_fields.contains(&field) {
                    kept.add_field_value(field, value);
                }
            }
            kept
        })
        .collect();

    let mut group = c.benchmark_group(format!("indexing {REVIEWS} reviews"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let variants: [(&str, &Schema, bool, &Vec<TantivyDocument>); 4] = [
        ("tantivy alone", &plain_schema, false, &plain_docs),
        (
            "sift, without type-ahead prefixes",
            &sift_fields.schema,
            true,
            &unprefixed_docs,
        ),
        (
            "sift, type-ahead off on the body",
            &body_off_fields.schema,
            true,
            &body_off_docs,
        ),
        ("sift", &sift_fields.schema, true, &sift_docs),
    ];
    for (name, schema, sift_analyzer, docs) in variants {
        group.bench_function(name, |b| {
            b.iter_batched(
                || docs.clone(),
                |docs| index_all(schema, sift_analyzer, docs),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, indexing);
criterion_main!(benches);
