//! `sift-bench run`: the `ILIKE`-versus-index experiment, reproducible in one command.
//!
//! For each corpus size: a sift on port 0 in this process (so its memory is this
//! process's), a collection of generated documents imported over HTTP (or reused when
//! it already holds that many), the index built and then rebuilt from PostgreSQL (build
//! throughput), write-to-visible latency, then the same query workload against every
//! engine: in process (the engine call only) and over HTTP with closed-loop clients.
//! Results go to `<out>/<corpus>.json` and `.md`, with SVG plots ([`plot`]).

pub mod eval;
pub mod load;
pub mod plot;
pub mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;

use sift::cache::{CacheConfig, Caches};
use sift::config::Config;
use sift::search::{SearchParams, SearchRequest, index_engine, sql_engine};
use sift::startup::Application;
use sift_datagen::queries::{Frequency, Query, workload};
use sift_datagen::{Corpus, Generator, Rng, Zipf};

/// The options of `sift-bench run`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Which generated corpus to use
    #[arg(long, value_enum, default_value = "reviews")]
    pub corpus: Corpus,
    /// Collection sizes to measure, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "50000,200000,1000000")]
    pub sizes: Vec<u64>,
    /// Seed of the corpus and the queries
    #[arg(long, default_value = "42")]
    pub seed: u64,
    /// Queries in the workload (cycling through frequency, word count and variant)
    #[arg(long, default_value = "90")]
    pub queries: usize,
    /// How many of them also run on `ilike` and `fts` in process (a scan of millions of
    /// rows takes seconds)
    #[arg(long, default_value = "18")]
    pub sql_queries: usize,
    /// Seconds each HTTP load (engine × concurrency) runs
    #[arg(long, default_value = "5")]
    pub http_seconds: u64,
    /// Closed-loop HTTP clients, comma-separated (`ilike` and `fts` run at 8 at most)
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub concurrency: Vec<usize>,
    /// Where the report, JSON and plots go
    #[arg(long, default_value = "benches/results")]
    pub out: PathBuf,
    /// Index directory of the benchmark's sift
    #[arg(long, default_value = "./bench-index")]
    pub index_dir: PathBuf,
    /// PostgreSQL URL (required); collections `bench-<corpus>-<size>` are created there
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Redis URL (optional; without it there is no L2 to measure)
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
}

/// Draws the plots of a report written by [`run`] again (after a change to the plots),
/// next to it: `<dir>/<corpus>-latency.svg` and `-scaling.svg`.
pub fn replot(json: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(json).with_context(|| format!("{}", json.display()))?;
    let report: Report = serde_json::from_str(&text).context("not a sift-bench report")?;
    let dir = json.parent().unwrap_or(std::path::Path::new("."));
    plot::latency_distribution(&dir.join(format!("{}-latency.svg", report.corpus)), &report)?;
    plot::scaling(&dir.join(format!("{}-scaling.svg", report.corpus)), &report)?;
    Ok(())
}

/// Latency figures of one measurement, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub count: u64,
    /// Requests per second (loads over time only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_second: Option<f64>,
    pub errors: u64,
    /// (percentile, ms) points for plotting the distribution.
    pub curve: Vec<(f64, f64)>,
}

impl Latency {
    /// From a histogram of microseconds.
    fn from(h: &Histogram<u64>, elapsed: Option<Duration>, errors: u64) -> Latency {
        let at = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let curve = [
            0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0,
        ]
        .iter()
        .map(|q| (q * 100.0, at(*q)))
        .collect();
        Latency {
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: h.max() as f64 / 1000.0,
            count: h.len(),
            per_second: elapsed.map(|e| h.len() as f64 / e.as_secs_f64()),
            errors,
            curve,
        }
    }
}

/// One engine under one HTTP load.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRow {
    pub engine: String,
    pub concurrency: usize,
    pub latency: Latency,
}

/// Everything measured at one corpus size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SizeRun {
    pub documents: u64,
    /// The collection already held the corpus, so nothing was imported.
    pub reused: bool,
    pub import_seconds: Option<f64>,
    pub import_per_second: Option<f64>,
    /// From the import's start until the index holds every document: what a user
    /// waits for before searching what they loaded.
    #[serde(default)]
    pub import_searchable_per_second: Option<f64>,
    /// PostgreSQL's own `COPY` of the same NDJSON lines into a table of one `jsonb`
    /// column, no index, no trigger, in the same run: the floor any import is
    /// measured against.
    #[serde(default)]
    pub raw_copy_per_second: Option<f64>,
    pub index_build_seconds: f64,
    pub index_build_per_second: f64,
    pub index_size_bytes: u64,
    /// Resident memory of this process (the service and the load generator).
    pub rss_bytes: u64,
    pub write_to_visible: Latency,
    /// Engine → latency of the engine call, in process.
    pub in_process: BTreeMap<String, Latency>,
    /// Engine → query frequency → p50, in process.
    pub in_process_p50_by_frequency: BTreeMap<String, BTreeMap<String, f64>>,
    pub http: Vec<HttpRow>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub corpus: String,
    pub seed: u64,
    pub date: String,
    pub command: String,
    pub machine: report::Machine,
    pub queries: Vec<Query>,
    pub sql_queries: usize,
    pub http_seconds: u64,
    pub runs: Vec<SizeRun>,
}

/// Engines measured in process, in display order.
pub const ENGINES: [&str; 5] = ["ilike", "fts", "index", "index+L1", "index+L2"];

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let url = args
        .database_url
        .clone()
        .context("DATABASE_URL is required (scripts/provision.sh sets it)")?;
    let options = PgConnectOptions::from_str(&url).context("DATABASE_URL is not valid")?;
    if args.sizes.is_empty() || args.queries == 0 {
        bail!("give at least one size and one query");
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let queries = workload(args.seed, args.queries);
    let mut runs = Vec::new();
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    for size in sizes {
        eprintln!("== {} documents", size);
        runs.push(run_size(&args, options.clone(), size, &queries).await?);
    }
    let pool = sift::db::connect(
        options,
        &sift::db::PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await?;
    let machine = report::machine(&pool, args.redis_url.as_deref()).await;
    pool.close().await;
    let report = Report {
        corpus: args.corpus.name().into(),
        seed: args.seed,
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        command: report::command_line(&args),
        machine,
        queries,
        sql_queries: args.sql_queries,
        http_seconds: args.http_seconds,
        runs,
    };
    report::write(&args.out, &report)?;
    eprintln!(
        "wrote {}/{}.md, .json and plots",
        args.out.display(),
        args.corpus.name()
    );
    Ok(())
}

fn histogram() -> Histogram<u64> {
    // Microseconds, from 1 µs to an hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn micros(since: Instant) -> u64 {
    (since.elapsed().as_micros() as u64).max(1)
}

async fn run_size(
    args: &BenchArgs,
    options: PgConnectOptions,
    size: u64,
    queries: &[Query],
) -> anyhow::Result<SizeRun> {
    let name = format!("bench-{}-{size}", args.corpus.name());
    let mut config = Config::for_database(options, args.index_dir.clone());
    config.redis_url = args.redis_url.clone();
    config.db_pool.max_connections = 16;
    config.max_searches = 1024;
    config.request_timeout = Duration::from_secs(600);
    config.consistency_timeout = Duration::from_secs(60);
    config.log_filter = "warn".into();
    // Keys of this run's own: entries of an earlier run would turn misses into hits.
    config.cache.key_prefix = format!("sift-bench-{}", uuid::Uuid::new_v4().simple());
    let cache_config = config.cache.clone();
    let application = Application::build(config).await?;
    let state = application.state();
    let base = format!("http://127.0.0.1:{}", application.port());
    let shutdown = application.shutdown_token();
    let server = tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(900))
        .build()?;

    // The collection: reused when it holds the corpus already.
    let collection_url = format!("{base}/v1/collections/{name}");
    let existing = client.get(&collection_url).send().await?;
    let reused = if existing.status().is_success() {
        let body: Value = existing.json().await?;
        let documents = body["stats"]["documents"].as_u64().unwrap_or(0);
        // A run cut short may have left some of the write-to-visible documents.
        if (size..=size + VISIBLE_WRITES).contains(&documents) {
            remove_visible_writes(&client, &base, &name).await?;
            true
        } else {
            client.delete(&collection_url).send().await?;
            false
        }
    } else {
        false
    };
    let (mut import_seconds, mut import_per_second) = (None, None);
    let (mut import_searchable_per_second, mut raw_copy_per_second) = (None, None);
    if !reused {
        let created = client
            .post(format!("{base}/v1/collections"))
            .json(&args.corpus.schema(&name))
            .send()
            .await?;
        if !created.status().is_success() {
            bail!("cannot create {name}: {}", created.text().await?);
        }
        let started = Instant::now();
        let imported = import(&client, &base, &name, args.corpus, args.seed, size).await?;
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "imported {imported} documents in {elapsed:.1} s ({:.0}/s)",
            imported as f64 / elapsed
        );
        import_seconds = Some(elapsed);
        import_per_second = Some(imported as f64 / elapsed);
        wait_for_index(&state, &name, size, None).await?;
        let searchable = started.elapsed().as_secs_f64();
        eprintln!(
            "searchable {searchable:.1} s after the import began ({:.0}/s)",
            imported as f64 / searchable
        );
        import_searchable_per_second = Some(imported as f64 / searchable);
        let copy = raw_copy(&state.db, args.corpus, args.seed, size).await?;
        eprintln!(
            "raw COPY of the same lines: {copy:.1} s ({:.0}/s)",
            size as f64 / copy
        );
        raw_copy_per_second = Some(size as f64 / copy);
    }
    // `fts` is measured with its GIN index, built after the import as a user would
    // turn it on (the collection is created without it: it slows every write).
    let started = Instant::now();
    let patched = client
        .patch(&collection_url)
        .json(&serde_json::json!({"ftsIndex": true}))
        .send()
        .await?;
    if !patched.status().is_success() {
        bail!("cannot turn on ftsIndex: {}", patched.text().await?);
    }
    let collection_id: i64 = sqlx::query_scalar("SELECT id FROM collections WHERE name = $1")
        .bind(&name)
        .fetch_one(&state.db)
        .await?;
    while !sift::search::sql_engine::fts_index_ready(&state.db, collection_id).await? {
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the GIN index for fts was not built within an hour");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "GIN index for fts ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Fresh statistics, as autovacuum would gather soon: without them PostgreSQL
    // may not use the full-text GIN index for `fts`.
    sqlx::query("ANALYZE documents").execute(&state.db).await?;
    let index = wait_for_index(&state, &name, size, None).await?;
    // Build throughput: a rebuild from PostgreSQL, the whole collection in one snapshot.
    let started = Instant::now();
    let reindexed = client
        .post(format!("{collection_url}/reindex"))
        .send()
        .await?;
    if !reindexed.status().is_success() {
        bail!("reindex failed: {}", reindexed.text().await?);
    }
    let index = wait_for_index(&state, &name, size, Some(&index)).await?;
    let build = started.elapsed().as_secs_f64();
    eprintln!(
        "rebuilt the index in {build:.1} s ({:.0}/s)",
        size as f64 / build
    );
    // Queries run on the merged index, as in steady state.
    let merging = Instant::now();
    while index.reader.searcher().segment_readers().len() > 1
        && merging.elapsed() < Duration::from_secs(900)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let index = state.indexes.get(&name).unwrap_or(index);

    let write_to_visible = write_to_visible(&client, &base, &name, args.corpus).await?;

    // In process.
    let schema = index.spec().schema.clone();
    let requests: Vec<SearchRequest> = queries
        .iter()
        .map(|q| {
            SearchParams {
                q: Some(q.text.clone()),
                limit: Some(10),
                ..SearchParams::default()
            }
            .validate(&schema)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
        })
        .collect::<Result<_, _>>()?;
    let mut in_process = BTreeMap::new();
    let mut by_frequency: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut per_engine: BTreeMap<&str, Vec<(Frequency, u64)>> = BTreeMap::new();
    for request in requests.iter().take(10) {
        index_engine::search(&index, request)?; // warm the file cache
    }
    let progress = bar(queries.len() as u64 * 4, "queries in process");
    for (query, request) in queries.iter().zip(&requests) {
        let started = Instant::now();
        index_engine::search(&index, request)?;
        per_engine
            .entry("index")
            .or_default()
            .push((query.frequency, micros(started)));
        progress.inc(1);
    }
    let collection_id = index.spec().collection_id;
    for (query, request) in queries.iter().zip(&requests).take(args.sql_queries) {
        for engine in ["ilike", "fts"] {
            let mut request = request.clone();
            request.engine = if engine == "ilike" {
                sift::search::Engine::Ilike
            } else {
                sift::search::Engine::Fts
            };
            let started = Instant::now();
            sql_engine::search(&state.db, collection_id, &schema, &request).await?;
            per_engine
                .entry(engine)
                .or_default()
                .push((query.frequency, micros(started)));
        }
        progress.inc(1);
    }
    let l2_only = Caches::new(
        &CacheConfig {
            l1_capacity_bytes: 0,
            ..cache_config.clone()
        },
        state.redis.clone(),
    );
    for (query, request) in queries.iter().zip(&requests) {
        let compute = || async {
            let response =
                index_engine::search(&index, request).map_err(sift::error::ApiError::internal)?;
            serde_json::to_vec(&response).map_err(sift::error::ApiError::internal)
        };
        let key = state
            .caches
            .keys
            .search(index.epoch(), &request.fingerprint());
        // The first call fills L1 and L2; the second is the L1 hit measured.
        state
            .caches
            .response("search", key.clone(), compute)
            .await?;
        let started = Instant::now();
        let hit = state
            .caches
            .response("search", key.clone(), compute)
            .await?;
        std::hint::black_box(sift::routes::cached_json::CachedJson::new(
            &hit.json,
            hit.origin,
            Some(0.0),
        ));
        per_engine
            .entry("index+L1")
            .or_default()
            .push((query.frequency, micros(started)));
        if state.redis.is_some() {
            let started = Instant::now();
            let hit = l2_only.response("search", key, compute).await?;
            std::hint::black_box(sift::routes::cached_json::CachedJson::new(
                &hit.json,
                hit.origin,
                Some(0.0),
            ));
            per_engine
                .entry("index+L2")
                .or_default()
                .push((query.frequency, micros(started)));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    drop(l2_only);
    for (engine, samples) in &per_engine {
        let mut all = histogram();
        let mut split: BTreeMap<Frequency, Histogram<u64>> = BTreeMap::new();
        for (frequency, us) in samples {
            all.record(*us)?;
            split
                .entry(*frequency)
                .or_insert_with(histogram)
                .record(*us)?;
        }
        in_process.insert(engine.to_string(), Latency::from(&all, None, 0));
        by_frequency.insert(
            engine.to_string(),
            split
                .iter()
                .map(|(f, h)| {
                    (
                        f.as_str().to_owned(),
                        h.value_at_quantile(0.5) as f64 / 1000.0,
                    )
                })
                .collect(),
        );
    }

    // Over HTTP.
    let mut http = Vec::new();
    for &clients in &args.concurrency {
        for engine in ["ilike", "fts", "index (uncached)", "index (cached)"] {
            if clients > 8 && (engine == "ilike" || engine == "fts") {
                continue;
            }
            let latency = http_load(
                &client,
                &base,
                &name,
                queries,
                engine,
                clients,
                Duration::from_secs(args.http_seconds),
            )
            .await?;
            eprintln!(
                "http {engine:>16} × {clients:>2}: {:>8.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors",
                latency.per_second.unwrap_or(0.0),
                latency.p50_ms,
                latency.p99_ms,
                latency.errors
            );
            http.push(HttpRow {
                engine: engine.into(),
                concurrency: clients,
                latency,
            });
        }
    }

    let run = SizeRun {
        documents: size,
        reused,
        import_seconds,
        import_per_second,
        import_searchable_per_second,
        raw_copy_per_second,
        index_build_seconds: build,
        index_build_per_second: size as f64 / build,
        index_size_bytes: index.size_bytes(),
        rss_bytes: report::rss_bytes(),
        write_to_visible,
        in_process,
        in_process_p50_by_frequency: by_frequency,
        http,
    };
    drop(index);
    shutdown.cancel();
    let _ = server.await;
    drop(state);
    Ok(run)
}

fn bar(length: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>20} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// Seconds PostgreSQL's `COPY` takes to load the corpus's NDJSON lines, as generated for
/// the import, into a table of one `jsonb` column (parsed as sift's `body` is, without
/// its key, index or change-log trigger); the table is dropped afterwards.
async fn raw_copy(
    pool: &sqlx::PgPool,
    corpus: Corpus,
    seed: u64,
    size: u64,
) -> anyhow::Result<f64> {
    let mut connection = pool.acquire().await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_raw_copy; CREATE TABLE bench_raw_copy (body jsonb NOT NULL)",
    )
    .execute(&mut *connection)
    .await?;
    // Generated first, so the time is PostgreSQL's alone.
    let mut lines = Vec::with_capacity(size as usize * 900);
    let mut generator = Generator::new(corpus, seed);
    for n in 0..size {
        generator.write_document(n, &mut lines);
    }
    let started = Instant::now();
    // CSV whose quote and delimiter bytes valid JSON text cannot hold: each line
    // arrives verbatim.
    let mut copy = connection
        .copy_in_raw("COPY bench_raw_copy (body) FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')")
        .await?;
    for chunk in lines.chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    let copied = copy.finish().await?;
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(copied == size, "COPY loaded {copied} of {size} lines");
    sqlx::raw_sql("DROP TABLE bench_raw_copy")
        .execute(&mut *connection)
        .await?;
    Ok(elapsed)
}

/// Streams a generated corpus into the import endpoint; returns the documents imported.
async fn import(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    corpus: Corpus,
    seed: u64,
    size: u64,
) -> anyhow::Result<u64> {
    let progress = bar(size, "importing");
    // Each chunk carries how many documents have been generated up to its end; the bar
    // moves when the HTTP client takes a chunk to send, so it shows the import's speed
    // (the server reads the body as fast as it stores it), not the generator's.
    let (sender, receiver) = tokio::sync::mpsc::channel::<(Vec<u8>, u64)>(2);
    let producer = std::thread::spawn(move || {
        let mut generator = Generator::new(corpus, seed);
        let mut chunk = Vec::with_capacity(1 << 20);
        for n in 0..size {
            generator.write_document(n, &mut chunk);
            if (chunk.len() >= 1 << 20 || n + 1 == size)
                && sender
                    .blocking_send((std::mem::take(&mut chunk), n + 1))
                    .is_err()
            {
                return;
            }
        }
    });
    let sent_progress = progress.clone();
    let stream = futures::stream::unfold(receiver, move |mut receiver| {
        let progress = sent_progress.clone();
        async move {
            let (chunk, generated) = receiver.recv().await?;
            progress.set_position(generated);
            Some((Ok::<_, std::io::Error>(chunk), receiver))
        }
    });
    let response = client
        .post(format!("{base}/v1/collections/{name}/documents:import"))
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await?;
    let _ = producer.join();
    progress.finish_and_clear();
    let status = response.status();
    let report: Value = response.json().await?;
    if !status.is_success() || report["failed"].as_u64() != Some(0) {
        bail!("import failed ({status}): {report}");
    }
    report["imported"]
        .as_u64()
        .context("the import report has no count")
}

/// Waits until the collection's index (a new generation, when `previous` is given) holds
/// `size` documents.
async fn wait_for_index(
    state: &sift::state::AppState,
    name: &str,
    size: u64,
    previous: Option<&Arc<sift::index::CollectionIndex>>,
) -> anyhow::Result<Arc<sift::index::CollectionIndex>> {
    let started = Instant::now();
    // A rebuild writes a new generation that is not visible until it is swapped in:
    // a spinner with the time it takes, rather than a bar full from the start (the
    // current generation already holds every document).
    let progress = match previous {
        None => bar(size, "indexing"),
        Some(_) => {
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template("{msg:>20} {spinner} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            spinner.set_message("rebuilding");
            spinner.enable_steady_tick(Duration::from_millis(200));
            spinner
        }
    };
    loop {
        if let Some(index) = state.indexes.get(name) {
            let fresh = previous.is_none_or(|p| !Arc::ptr_eq(p, &index));
            let docs = index.num_docs();
            if previous.is_none() {
                progress.set_position(docs.min(size));
            }
            if fresh && docs >= size {
                progress.finish_and_clear();
                return Ok(index);
            }
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the index of {name} did not reach {size} documents in an hour");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes the write-to-visible step makes (and removes again, so the next run can
/// reuse the collection).
const VISIBLE_WRITES: u64 = 100;

fn visible_write_id(n: u64) -> String {
    format!("visible-{n}")
}

/// Deletes the documents of the write-to-visible step (those that exist).
async fn remove_visible_writes(
    client: &reqwest::Client,
    base: &str,
    name: &str,
) -> anyhow::Result<()> {
    for n in 0..VISIBLE_WRITES {
        let response = client
            .delete(format!(
                "{base}/v1/collections/{name}/documents/{}",
                visible_write_id(n)
            ))
            .send()
            .await?;
        if !(response.status().is_success() || response.status() == 404) {
            bail!(
                "cannot delete {}: {}",
                visible_write_id(n),
                response.status()
            );
        }
    }
    Ok(())
}

/// A steady 20 writes per second; each acknowledged write is then searched with its
/// consistency token, which answers once the write is visible. The documents are
/// deleted afterwards.
async fn write_to_visible(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    corpus: Corpus,
) -> anyhow::Result<Latency> {
    let mut visible = histogram();
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    let text_field = match corpus {
        Corpus::Reviews => "body",
        Corpus::Products => "description",
    };
    for n in 0..VISIBLE_WRITES {
        ticker.tick().await;
        let marker = format!(
            "zzmark{n}q{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let written: Value = client
            .put(format!(
                "{base}/v1/collections/{name}/documents/{}",
                visible_write_id(n)
            ))
            .json(&json!({ text_field: marker }))
            .send()
            .await?
            .json()
            .await?;
        let acknowledged = Instant::now();
        let token = written["consistencyToken"].as_str().unwrap_or_default();
        let found: Value = client
            .get(format!("{base}/v1/collections/{name}/search"))
            .query(&[
                ("q", marker.as_str()),
                ("fuzzy", "false"),
                ("after", token),
                ("cache", "false"),
                ("limit", "1"),
            ])
            .send()
            .await?
            .json()
            .await?;
        if found["total"] != 1 {
            bail!("write {n} was not found: {found}");
        }
        visible.record(micros(acknowledged))?;
    }
    remove_visible_writes(client, base, name).await?;
    Ok(Latency::from(&visible, None, 0))
}

/// Closed-loop clients for `duration`: each sends its next query when the last one is
/// answered; queries drawn with a Zipf-like frequency from the workload.
async fn http_load(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    queries: &[Query],
    engine: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Latency> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url) = (
            client.clone(),
            format!("{base}/v1/collections/{name}/search"),
        );
        let texts: Vec<String> = queries.iter().map(|q| q.text.clone()).collect();
        let engine = engine.to_owned();
        tasks.push(tokio::spawn(async move {
            let zipf = Zipf::new(texts.len());
            let mut rng = Rng::new(c as u64 + 1);
            let mut latency = histogram();
            let mut errors = 0u64;
            let (engine_param, cache) = match engine.as_str() {
                "index (uncached)" => ("index", "false"),
                "index (cached)" => ("index", "true"),
                other => (if other == "ilike" { "ilike" } else { "fts" }, "false"),
            };
            while started.elapsed() < duration {
                let q = &texts[zipf.sample(&mut rng).min(texts.len() - 1)];
                let sent = Instant::now();
                let response = client
                    .get(&url)
                    .query(&[
                        ("q", q.as_str()),
                        ("limit", "10"),
                        ("engine", engine_param),
                        ("cache", cache),
                    ])
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        if r.bytes().await.is_err() {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
                latency.record(micros(sent))?;
            }
            Ok::<_, anyhow::Error>((latency, errors))
        }));
    }
    let mut all = histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await??;
        all.add(&h)?;
        errors += e;
    }
    Ok(Latency::from(&all, Some(started.elapsed()), errors))
}
