//! Search latency of the index against `ILIKE` and PostgreSQL full-text search on the
//! same collection in the same run, index build throughput, and write-to-visible
//! latency under a steady write load.
//!
//! `DATABASE_URL=postgres://... cargo bench --bench search`
//! (`SIFT_BENCH_DOCS` sets the collection size, default 1,000,000 documents of about
//! 60 words; `SIFT_BENCH_SQL_QUERIES` how many of the queries also run on `ilike` and
//! `fts`, default 20, since a scan of a million rows takes seconds). Creates and drops
//! its own database.
//!
//! Documents are made of pseudo-words built from syllables, drawn with a Zipf-like
//! frequency, so common and rare terms behave like real text. Queries are 1 to 3
//! words drawn from the same distribution; the last is cut to a prefix of 3 to 5
//! characters, and every third query has a typo (two letters swapped) in a long word.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use sift::config::Config;
use sift::schema::{CollectionSchema, CollectionSettings, FieldDefinition};
use sift::search::{SearchParams, index_engine, sql_engine};
use sift::startup::Application;
use sift_datagen::Rng;
use sqlx::postgres::PgConnectOptions;

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mer", "tin", "sa", "ru", "ven", "dor", "pi", "qua", "ble", "ston", "ar", "el",
    "mi", "no", "tra", "gen", "ho", "lu", "fen", "bar", "ce", "di", "ox", "ran", "sel", "tum",
    "vi", "wel", "zo", "pra",
];

fn vocabulary(rng: &mut Rng, size: usize) -> Vec<String> {
    let mut words = std::collections::BTreeSet::new();
    while words.len() < size {
        let parts = 2 + rng.below(3);
        let word: String = (0..parts)
            .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
            .collect();
        words.insert(word);
    }
    let mut words: Vec<String> = words.into_iter().collect();
    // Shuffle so frequency rank does not follow alphabetical order.
    for i in (1..words.len()).rev() {
        let j = rng.below(i + 1);
        words.swap(i, j);
    }
    words
}

/// Draws a word index with a Zipf-like (s ≈ 1) frequency: rank r has weight 1/r.
fn zipf(rng: &mut Rng, n: usize) -> usize {
    let x = rng.unit();
    (((n as f64).powf(x)) as usize).saturating_sub(1).min(n - 1)
}

fn sentence(rng: &mut Rng, words: &[String], count: usize) -> String {
    (0..count)
        .map(|_| words[zipf(rng, words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn summary(name: &str, h: &Histogram<u64>) -> String {
    format!(
        "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
        percentile(h, 0.5),
        percentile(h, 0.95),
        percentile(h, 0.99),
        h.max() as f64 / 1000.0,
        h.len()
    )
}

#[path = "common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = common::env_number("SIFT_BENCH_DOCS", 1_000_000);
    let sql_queries = common::env_number("SIFT_BENCH_SQL_QUERIES", 20);
    common::with_database(|options| run(options, total, sql_queries)).await
}

async fn run(options: PgConnectOptions, total: usize, sql_queries: usize) -> anyhow::Result<()> {
    let mut rng = Rng::new(0x5eed_5eed_5eed_5eed);
    let words = vocabulary(&mut rng, 20_000);
    let pool = sift::db::connect(
        options.clone(),
        &sift::db::PoolSettings {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
        },
    )
    .await?;
    sift::db::migrate_up(&pool).await?;
    let fields: Vec<FieldDefinition> = serde_json::from_value(json!([
        {"name": "title", "type": "text", "boost": 3.0},
        {"name": "body", "type": "text"},
        {"name": "category", "type": "keyword", "facet": true},
        {"name": "rating", "type": "integer", "filterable": true},
        {"name": "loc", "type": "geo"}
    ]))?;
    let schema = CollectionSchema::parse(fields).map_err(|e| anyhow::anyhow!("{e}"))?;
    let collection = sift::store::collections::insert(
        &pool,
        "bench",
        schema.fields(),
        &CollectionSettings::default(),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("collection exists"))?;

    // Load with COPY (the change-log triggers fire as for any write).
    let started = Instant::now();
    let mut connection = pool.acquire().await?;
    let mut copy = connection
        .copy_in_raw(
            "COPY documents (collection_id, id, body) FROM STDIN WITH (FORMAT csv, QUOTE '''')",
        )
        .await?;
    let categories = [
        "books", "music", "garden", "tools", "games", "sports", "toys", "food",
    ];
    let mut chunk = String::new();
    for n in 0..total {
        let title_words = 3 + rng.below(4);
        let body_words = 50 + rng.below(20);
        let doc = json!({
            "id": format!("d{n}"),
            "title": sentence(&mut rng, &words, title_words),
            "body": sentence(&mut rng, &words, body_words),
            "category": categories[rng.below(categories.len())],
            "rating": 1 + rng.below(5),
            // Points over Europe, for the geo rows.
            "loc": {"lat": 36.0 + rng.below(3_000) as f64 / 100.0, "lng": -10.0 + rng.below(4_000) as f64 / 100.0},
        });
        chunk.push_str(&format!("{},d{n},'{}'\n", collection.id, doc));
        if chunk.len() > 4 << 20 {
            copy.send(std::mem::take(&mut chunk).into_bytes()).await?;
        }
    }
    copy.send(chunk.into_bytes()).await?;
    copy.finish().await?;
    drop(connection);
    let load_elapsed = started.elapsed();
    let started = Instant::now();
    sql_engine::create_fts_index(&pool, collection.id, &schema).await?;
    let fts_index_elapsed = started.elapsed();
    sqlx::query("ANALYZE documents").execute(&pool).await?;

    // Start the service: its indexer builds the index from PostgreSQL.
    let index_dir =
        std::env::temp_dir().join(format!("sift-bench-{}", uuid::Uuid::new_v4().simple()));
    let mut config = Config::for_database(options.clone(), index_dir.clone());
    config.consistency_timeout = Duration::from_secs(10);
    config.redis_url = std::env::var("REDIS_URL").ok();
    // Keys of this run's own: the collection id repeats across bench databases.
    config.cache.key_prefix = format!("sift-bench-{}", uuid::Uuid::new_v4().simple());
    let cache_config = config.cache.clone();
    let started = Instant::now();
    let application = Application::build(config).await?;
    let state = application.state();
    let base = format!("http://127.0.0.1:{}", application.port());
    let shutdown = application.shutdown_token();
    let server = tokio::spawn(application.run_until_stopped());
    let index = loop {
        if let Some(index) = state.indexes.get("bench") {
            break index;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let build_elapsed = started.elapsed();
    // The service merges a fresh build's segments in the background; measure queries
    // on the merged index, as they run in steady state.
    let merge_started = Instant::now();
    while index.reader.searcher().segment_readers().len() > 1
        && merge_started.elapsed() < Duration::from_secs(600)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let merge_elapsed = merge_started.elapsed();
    let index_bytes = index.size_bytes();
    let segments = index.reader.searcher().segment_readers().len();

    // Queries.
    let mut queries = Vec::new();
    for q in 0..200 {
        let count = 1 + rng.below(3);
        let mut parts: Vec<String> = (0..count)
            .map(|_| words[zipf(&mut rng, words.len())].clone())
            .collect();
        if q % 3 == 0
            && let Some(long) = parts.iter_mut().find(|w| w.len() >= 6)
        {
            let mut chars: Vec<char> = long.chars().collect();
            chars.swap(2, 3);
            *long = chars.into_iter().collect();
        }
        if let Some(last) = parts.last_mut() {
            let cut = (3 + rng.below(3)).min(last.len());
            last.truncate(cut);
        }
        queries.push(parts.join(" "));
    }
    let request_for = |q: &str, engine: &str| {
        SearchParams {
            q: Some(q.to_owned()),
            limit: Some(10),
            engine: engine.parse().ok(),
            ..SearchParams::default()
        }
        .validate(&schema)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
    };

    let mut index_latency = Histogram::<u64>::new(3)?;
    let mut index_on_sql_subset = Histogram::<u64>::new(3)?;
    // Warm up: the first searches fault the index files into memory.
    for q in queries.iter().take(20) {
        index_engine::search(&index, &request_for(q, "index")?)?;
    }
    for (n, q) in queries.iter().enumerate() {
        let request = request_for(q, "index")?;
        let started = Instant::now();
        index_engine::search(&index, &request)?;
        let micros = started.elapsed().as_micros() as u64;
        index_latency.record(micros.max(1))?;
        if n < sql_queries {
            index_on_sql_subset.record(micros.max(1))?;
        }
    }
    // The same queries again: the bitsets of common terms are now cached, as in a
    // service that has been answering for a while.
    let mut index_warm = Histogram::<u64>::new(3)?;
    for q in &queries {
        let request = request_for(q, "index")?;
        let started = Instant::now();
        index_engine::search(&index, &request)?;
        index_warm.record((started.elapsed().as_micros() as u64).max(1))?;
    }
    // Query features beside a plain search, in the same run, in turn per query so that
    // the machine's drift hits each alike: in process, except the multi-search, which
    // is the service call (validation, queue, JSON) against one search the same way.
    let features: [(&str, SearchParams); 9] = [
        ("plain search", SearchParams::default()),
        (
            "facets=category",
            SearchParams {
                facets: Some("category".into()),
                ..SearchParams::default()
            },
        ),
        (
            "disjunctive facets (filter on category and rating)",
            SearchParams {
                filter: Some("category IN [books, music] AND rating >= 3".into()),
                disjunctive_facets: Some("category".into()),
                ..SearchParams::default()
            },
        ),
        (
            "distinct=category",
            SearchParams {
                distinct: Some("category".into()),
                ..SearchParams::default()
            },
        ),
        (
            "filter IN + TO + EXISTS",
            SearchParams {
                filter: Some(
                    "category IN [books, music] AND rating 2 TO 4 AND rating EXISTS".into(),
                ),
                ..SearchParams::default()
            },
        ),
        (
            "geo radius (200 km around Paris)",
            SearchParams {
                filter: Some("_geoRadius(48.8566, 2.3522, 200000)".into()),
                ..SearchParams::default()
            },
        ),
        (
            "geo sort (nearest Paris first)",
            SearchParams {
                sort: Some("_geoPoint(48.8566, 2.3522):asc".into()),
                ..SearchParams::default()
            },
        ),
        (
            "showRankingScore",
            SearchParams {
                show_ranking_score: Some(true),
                ..SearchParams::default()
            },
        ),
        (
            "showRankingScoreDetails",
            SearchParams {
                show_ranking_score_details: Some(true),
                ..SearchParams::default()
            },
        ),
    ];
    let mut feature_latency: Vec<Histogram<u64>> = features
        .iter()
        .map(|_| Histogram::<u64>::new(3))
        .collect::<Result<_, _>>()?;
    let mut recording = Histogram::<u64>::new(3)?;
    let analytics = state
        .analytics
        .clone()
        .ok_or_else(|| anyhow::anyhow!("analytics are on by default"))?;
    let (mut one_search, mut three_searches) =
        (Histogram::<u64>::new(3)?, Histogram::<u64>::new(3)?);
    let bench_name =
        sift::schema::CollectionName::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    for q in &queries {
        for ((_, params), histogram) in features.iter().zip(feature_latency.iter_mut()) {
            let request = SearchParams {
                q: Some(q.clone()),
                limit: Some(10),
                ..params.clone()
            }
            .validate(&schema)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let started = Instant::now();
            std::hint::black_box(index_engine::search(&index, &request)?);
            histogram.record((started.elapsed().as_micros() as u64).max(1))?;
        }
        let uncached = |q: &str| SearchParams {
            q: Some(q.to_owned()),
            limit: Some(10),
            cache: Some(false),
            ..SearchParams::default()
        };
        let started = Instant::now();
        let answer = state
            .search(&bench_name, uncached(q), None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        one_search.record((started.elapsed().as_micros() as u64).max(1))?;
        // What analytics add to a search: handing its answer to the counting task.
        let started = Instant::now();
        analytics.record(sift::analytics::Event::Search {
            collection_id: collection.id,
            query: q.clone(),
            answer: answer.json.clone(),
        });
        recording.record((started.elapsed().as_nanos() as u64).max(1))?;
        let multi: sift::service::multi_search::MultiSearchRequest = serde_json::from_value(
            json!({
                "queries": [
                    {"collection": "bench", "q": q, "limit": 10, "cache": false},
                    {"collection": "bench", "q": q, "limit": 10, "cache": false, "filter": "rating >= 3"},
                    {"collection": "bench", "q": q, "limit": 10, "cache": false, "facets": "category"},
                ]
            }),
        )?;
        let started = Instant::now();
        std::hint::black_box(
            state
                .multi_search(multi, &sift::access::Reach::Everything, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        three_searches.record((started.elapsed().as_micros() as u64).max(1))?;
    }

    let mut ilike_latency = Histogram::<u64>::new(3)?;
    let mut fts_latency = Histogram::<u64>::new(3)?;
    for q in queries.iter().take(sql_queries) {
        for (engine, histogram) in [("ilike", &mut ilike_latency), ("fts", &mut fts_latency)] {
            let request = request_for(q, engine)?;
            let started = Instant::now();
            sql_engine::search(&pool, collection.id, &schema, &request).await?;
            histogram.record((started.elapsed().as_micros() as u64).max(1))?;
        }
    }

    // Caches, server side: the same queries as a miss (key, index search, JSON, L2
    // fill), an L1 hit, and an L2 hit (a second cache set with L1 off, sharing Redis).
    let caches: &sift::cache::Caches = &state.caches;
    let with_redis = state.redis.is_some();
    let l2_only = sift::cache::Caches::new(
        &sift::cache::CacheConfig {
            l1_capacity_bytes: 0,
            ..cache_config.clone()
        },
        state.redis.clone(),
    );
    let mut cache_miss = Histogram::<u64>::new(3)?;
    let mut l1_hit = Histogram::<u64>::new(3)?;
    let mut l2_hit = Histogram::<u64>::new(3)?;
    let mut l2_origins = 0usize;
    for q in &queries {
        let request = request_for(q, "index")?;
        let compute = || async {
            let response =
                index_engine::search(&index, &request).map_err(sift::error::ApiError::internal)?;
            serde_json::to_vec(&response).map_err(sift::error::ApiError::internal)
        };
        for (histogram, caches) in [
            (&mut cache_miss, caches),
            (&mut l1_hit, caches),
            (&mut l2_hit, &l2_only),
        ] {
            let started = Instant::now();
            let key = caches.keys.search(index.epoch(), &request.fingerprint());
            let cached = caches
                .response("search", key, compute)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let body =
                sift::routes::cached_json::CachedJson::new(&cached.json, cached.origin, Some(0.0));
            std::hint::black_box(body);
            histogram.record((started.elapsed().as_nanos() as u64 / 1000).max(1))?;
            if cached.origin == sift::cache::CacheOrigin::L2 {
                l2_origins += 1;
            }
        }
    }

    // Over HTTP: closed-loop clients, each sending its next query as soon as the last
    // answered, queries drawn with a Zipf-like frequency from the 200.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let mut http_rows = Vec::new();
    for clients in [8usize, 64] {
        let run_for = Duration::from_secs(common::env_number("SIFT_BENCH_HTTP_SECONDS", 10) as u64);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (client, base, queries) = (client.clone(), base.clone(), queries.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(c as u64 + 1);
                let mut latency = Histogram::<u64>::new(3)?;
                let (mut errors, mut hits) = (0u64, 0u64);
                while started.elapsed() < run_for {
                    let q = &queries[zipf(&mut rng, queries.len())];
                    let sent = Instant::now();
                    let response = client
                        .get(format!("{base}/v1/collections/bench/search"))
                        .query(&[("q", q.as_str()), ("limit", "10")])
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() => {
                            if r.headers().get("x-cache").is_some_and(|v| v != "miss") {
                                hits += 1;
                            }
                            r.bytes().await?;
                        }
                        _ => errors += 1,
                    }
                    latency.record((sent.elapsed().as_micros() as u64).max(1))?;
                }
                Ok::<_, anyhow::Error>((latency, errors, hits))
            }));
        }
        let mut latency = Histogram::<u64>::new(3)?;
        let (mut errors, mut hits) = (0u64, 0u64);
        for task in tasks {
            let (h, e, k) = task.await??;
            latency.add(&h)?;
            errors += e;
            hits += k;
        }
        let elapsed = started.elapsed().as_secs_f64();
        http_rows.push(format!(
            "| {clients} | {:.0} | {:.3} | {:.3} | {:.3} | {:.1}% | {errors} |",
            latency.len() as f64 / elapsed,
            percentile(&latency, 0.5),
            percentile(&latency, 0.99),
            latency.max() as f64 / 1000.0,
            100.0 * hits as f64 / latency.len().max(1) as f64,
        ));
    }

    // Write-to-visible: a steady 20 writes per second; each write's token is then
    // searched with `after`, which answers once the write is visible.
    let mut visible = Histogram::<u64>::new(3)?;
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    for n in 0..200 {
        ticker.tick().await;
        let written: serde_json::Value = client
            .put(format!("{base}/v1/collections/bench/documents/w{n}"))
            .json(&json!({"title": format!("fresh zzmarker{n}"), "body": "new", "category": "books", "rating": 3}))
            .send()
            .await?
            .json()
            .await?;
        let acknowledged = Instant::now();
        let token = written["consistencyToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let found: serde_json::Value = client
            .get(format!("{base}/v1/collections/bench/search?q=zzmarker{n}%20&fuzzy=false&after={token}&limit=1"))
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(
            found["hits"][0]["id"] == format!("w{n}").as_str(),
            "write {n} not found: {found}"
        );
        visible.record((acknowledged.elapsed().as_micros() as u64).max(1))?;
    }
    shutdown.cancel();
    let _ = server.await;
    drop(l2_only);
    drop(index);
    drop(state);
    let _ = std::fs::remove_dir_all(&index_dir);
    pool.close().await;

    let p50 = |h: &Histogram<u64>| percentile(h, 0.5);
    println!(
        "search benchmark: {total} documents (~60 words), {} queries ({sql_queries} also on ilike and fts)",
        queries.len()
    );
    println!();
    println!("| what | value |");
    println!("|---|---|");
    println!(
        "| load with COPY | {:.1} s ({:.0} documents/s) |",
        load_elapsed.as_secs_f64(),
        total as f64 / load_elapsed.as_secs_f64()
    );
    println!(
        "| GIN index for fts | {:.1} s |",
        fts_index_elapsed.as_secs_f64()
    );
    println!(
        "| index build from PostgreSQL | {:.1} s ({:.0} documents/s) |",
        build_elapsed.as_secs_f64(),
        total as f64 / build_elapsed.as_secs_f64()
    );
    println!(
        "| index size on disk | {:.1} MiB |",
        index_bytes as f64 / (1 << 20) as f64
    );
    println!("| index segments | {segments} |");
    println!(
        "| background merge of the fresh build's segments | {:.1} s |",
        merge_elapsed.as_secs_f64()
    );
    println!();
    println!("| engine (in process) | p50 ms | p95 ms | p99 ms | max ms | queries |");
    println!("|---|---|---|---|---|---|");
    println!("{}", summary("index, all queries", &index_latency));
    println!(
        "{}",
        summary("index, all queries again (bitsets cached)", &index_warm)
    );
    println!("{}", summary("index, the SQL subset", &index_on_sql_subset));
    println!("{}", summary("fts", &fts_latency));
    println!("{}", summary("ilike", &ilike_latency));
    println!();
    println!("| ratio at p50 (same queries) | value |");
    println!("|---|---|");
    println!(
        "| ilike / index | {:.0}x |",
        p50(&ilike_latency) / p50(&index_on_sql_subset)
    );
    println!(
        "| fts / index | {:.0}x |",
        p50(&fts_latency) / p50(&index_on_sql_subset)
    );
    println!();
    println!(
        "| query feature (in process, the 200 queries, limit 10) | p50 ms | p99 ms | p50 / plain |"
    );
    println!("|---|---|---|---|");
    let plain = p50(&feature_latency[0]);
    for ((name, _), histogram) in features.iter().zip(&feature_latency) {
        println!(
            "| {name} | {:.3} | {:.3} | {:.2}x |",
            p50(histogram),
            percentile(histogram, 0.99),
            p50(histogram) / plain
        );
    }
    println!(
        "| one search through the service (uncached) | {:.3} | {:.3} | 1.00x |",
        p50(&one_search),
        percentile(&one_search, 0.99)
    );
    println!(
        "| analytics: recording a search (in the service's search above; p50 and p99 in µs) | {:.3} µs | {:.3} µs | {:.4}x of one search |",
        p50(&recording),
        percentile(&recording, 0.99),
        p50(&recording) / 1000.0 / p50(&one_search)
    );
    println!(
        "| multi-search of 3 (plain, filtered, faceted; uncached) | {:.3} | {:.3} | {:.2}x of one search |",
        p50(&three_searches),
        percentile(&three_searches, 0.99),
        p50(&three_searches) / p50(&one_search)
    );
    println!();
    println!(
        "| cache, server side (Redis: {}) | p50 ms | p95 ms | p99 ms | max ms | queries |",
        if with_redis {
            "yes"
        } else {
            "no: set REDIS_URL"
        }
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "{}",
        summary("miss: key + index search + JSON + L2 fill", &cache_miss)
    );
    println!("{}", summary("L1 hit", &l1_hit));
    println!(
        "{}",
        summary(
            &format!("L2 hit ({l2_origins} of {} from Redis)", queries.len()),
            &l2_hit
        )
    );
    println!();
    println!(
        "| HTTP clients (closed loop, Zipf mix of the 200 queries) | requests/s | p50 ms | p99 ms | max ms | cached | errors |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &http_rows {
        println!("{row}");
    }
    println!();
    println!(
        "| write to visible (20 writes/s, over HTTP) | p50 ms | p95 ms | p99 ms | max ms | writes |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "{}",
        summary("acknowledged write → found by search", &visible)
    );
    Ok(())
}
