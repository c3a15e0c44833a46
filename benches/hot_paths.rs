//! Criterion micro-benchmarks of the hot paths of a search, on a prebuilt in-memory
//! corpus (20,000 generated reviews; no PostgreSQL needed):
//! query building, a search on the index (a few words; one common word), cache key
//! computation, serializing a
//! response, building the index documents of reviews, and the text analysis tantivy
//! runs on them (its stemmer against sift's memo of stems).
//!
//! `cargo bench --bench hot_paths`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sift::cache::keys::Keys;
use sift::index::{CollectionIndex, IndexSpec, IndexedRow, Watermark};
use sift::schema::{CollectionSchema, CollectionSettings, FieldDefinition};
use sift::search::query::{self, Matching};
use sift::search::{SearchParams, SearchRequest, index_engine};
use sift_datagen::{Corpus, Generator};

const DOCUMENTS: u64 = 20_000;

fn corpus_index(dir: &std::path::Path) -> CollectionIndex {
    let schema = Corpus::Reviews.schema("bench");
    let fields: Vec<FieldDefinition> =
        serde_json::from_value(schema["fields"].clone()).expect("fields");
    let schema = CollectionSchema::parse(fields).expect("schema");
    let spec = IndexSpec {
        collection_id: 1,
        name: "bench".into(),
        settings_generation: 1,
        index_generation: 1,
        schema,
        settings: CollectionSettings::default(),
    };
    let bitsets = std::sync::Arc::new(sift::index::bitsets::TermBitsets::new(64 << 20));
    let index = CollectionIndex::create(dir, spec, bitsets).expect("index");
    let mut generator = Generator::new(Corpus::Reviews, 42);
    let rows: Vec<IndexedRow> = (0..DOCUMENTS).map(|n| review(&mut generator, n)).collect();
    index.apply(&[], &rows).expect("apply");
    index
        .commit(Watermark { txid: 1, seq: 1 }, 2)
        .expect("commit");
    index
        .merge_segments(sift::index::MergeScope::All)
        .expect("merge");
    index
}

/// Generated review `n` as the indexer gets it (id `r{n}`).
fn review(generator: &mut Generator, n: u64) -> IndexedRow {
    let mut line = Vec::new();
    generator.write_document(n, &mut line);
    IndexedRow::from_source(
        format!("r{n}"),
        1,
        String::from_utf8_lossy(&line).trim().to_owned(),
    )
}

fn request(index: &CollectionIndex, q: &str) -> SearchRequest {
    SearchParams {
        q: Some(q.into()),
        limit: Some(10),
        ..SearchParams::default()
    }
    .validate(&index.spec().schema)
    .expect("valid")
}

fn hot_paths(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("sift-hot-paths-{}", std::process::id()));
    let index = corpus_index(&dir);
    let searcher = index.reader.searcher();
    let queries = ["great qualty", "battery charg", "kitchen knife sharp"];

    c.bench_function("query building (typo expansion, prefix)", |b| {
        b.iter(|| {
            for q in queries {
                black_box(query::plan(
                    &index,
                    &searcher,
                    q,
                    Matching {
                        typos: true,
                        prefix: true,
                    },
                    None,
                ));
            }
        })
    });

    let requests: Vec<SearchRequest> = queries.iter().map(|q| request(&index, q)).collect();
    c.bench_function("index search, 10 hits with highlights", |b| {
        b.iter(|| {
            for r in &requests {
                black_box(index_engine::search(&index, r).expect("search"));
            }
        })
    });

    // One common word: thousands of matching reviews in one bucket, every one of them
    // described and ranked by the rules (below `EXACT_RANK_LIMIT`).
    let broad: Vec<SearchRequest> = ["great ", "battery", "works "]
        .iter()
        .map(|q| request(&index, q))
        .collect();
    for r in &broad {
        let found = index_engine::search(&index, r).expect("search");
        assert!(found.total > 1_000, "{:?} matches {}", r.q, found.total);
    }
    c.bench_function(
        "index search, one common word (thousands of matches)",
        |b| {
            b.iter(|| {
                for r in &broad {
                    black_box(index_engine::search(&index, r).expect("search"));
                }
            })
        },
    );

    let keys = Keys::new("sift");
    let epoch = index.epoch();
    c.bench_function("cache key (normalize + SHA-256)", |b| {
        b.iter(|| {
            for r in &requests {
                black_box(keys.search(epoch, &r.fingerprint()));
            }
        })
    });

    let response = index_engine::search(&index, &requests[0]).expect("search");
    c.bench_function("response serialization (10 hits)", |b| {
        b.iter(|| black_box(serde_json::to_vec(&response).expect("json")))
    });
    let json = serde_json::to_vec(&response).expect("json");
    c.bench_function("cached response splice (tookMs, cache)", |b| {
        b.iter(|| {
            black_box(sift::routes::cached_json::CachedJson::new(
                &json,
                sift::cache::CacheOrigin::L1,
                Some(0.012),
            ))
        })
    });

    // What the indexer does for every document before tantivy indexes it: the words,
    // type-ahead prefixes, heads and words as written of each text field.
    let mut generator = Generator::new(Corpus::Reviews, 7);
    let rows: Vec<IndexedRow> = (0..100).map(|n| review(&mut generator, n)).collect();
    let mut normalizer = sift::index::analysis::normalizer();
    // The text analysis tantivy runs on every text value it indexes, with tantivy's
    // English stemmer and with sift's memo in front of the same stemmer (the memo
    // warm, as it is a few documents into a segment).
    let texts: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            let body: serde_json::Value = serde_json::from_str(&row.source).expect("json");
            ["title", "productName", "body"]
                .into_iter()
                .filter_map(move |f| body[f].as_str().map(str::to_owned))
        })
        .collect();
    {
        use sift::index::analysis::{MAX_WORD_BYTES, MemoStemmer};
        use tantivy::tokenizer::{
            AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
            StopWordFilter, TextAnalyzer, TokenStream,
        };
        let base = || {
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .filter(StopWordFilter::new(Language::English).expect("English stop words"))
        };
        let mut analyzers = [
            (
                "tantivy stemmer",
                base().filter(Stemmer::new(Language::English)).build(),
            ),
            ("memo stemmer", base().filter(MemoStemmer).build()),
        ];
        for (name, analyzer) in &mut analyzers {
            c.bench_function(&format!("text analysis (100 reviews), {name}"), |b| {
                b.iter(|| {
                    let mut terms = 0usize;
                    for text in &texts {
                        let mut stream = analyzer.token_stream(text);
                        while stream.advance() {
                            terms += stream.token().text.len();
                        }
                    }
                    black_box(terms)
                })
            });
        }
    }
    {
        // Cutting text into words alone, the first step of every analyzer: sift's word
        // tokenizer (pairs of characters in Chinese, Japanese and Korean) against
        // tantivy's `SimpleTokenizer`, which it replaced, on the same English text.
        use sift::index::tokenizer::WordTokenizer;
        use tantivy::tokenizer::{SimpleTokenizer, TokenStream, Tokenizer};
        fn cut<T: Tokenizer>(tokenizer: &mut T, texts: &[String]) -> usize {
            let mut bytes = 0;
            for text in texts {
                let mut stream = tokenizer.token_stream(text);
                while stream.advance() {
                    bytes += stream.token().text.len();
                }
            }
            bytes
        }
        let mut simple = SimpleTokenizer::default();
        let mut words = WordTokenizer::default();
        assert_eq!(cut(&mut simple, &texts), cut(&mut words, &texts));
        c.bench_function("word cutting (100 reviews), tantivy SimpleTokenizer", |b| {
            b.iter(|| black_box(cut(&mut simple, &texts)))
        });
        c.bench_function("word cutting (100 reviews), sift WordTokenizer", |b| {
            b.iter(|| black_box(cut(&mut words, &texts)))
        });
    }
    c.bench_function("index document building (100 reviews)", |b| {
        b.iter(|| {
            for row in &rows {
                black_box(index.fields.document(
                    &mut normalizer,
                    &row.id,
                    row.version,
                    &row.body,
                    &row.source,
                ));
            }
        })
    });

    drop(searcher);
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = hot_paths
}
criterion_main!(benches);
