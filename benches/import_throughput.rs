//! Bulk import throughput: N small documents streamed as NDJSON over HTTP into a real
//! sift, against the baseline of PostgreSQL's own `COPY` of the same rows into a table
//! of the same shape without triggers, in the same run. The ratio is the figure to
//! watch; absolute numbers move with the machine. Then the collection's stats and the
//! first page of its documents are read, against one document by id.
//!
//! `DATABASE_URL=postgres://... cargo bench --bench import_throughput`
//! (`SIFT_BENCH_DOCS` sets N, default 1,000,000). Creates and drops its own database.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use sift::config::Config;
use sift::startup::Application;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// Lines per chunk of the streamed body.
const CHUNK: usize = 2_000;
/// Reads of each path timed after the import.
const READS: usize = 21;

fn document(n: usize) -> String {
    const CATEGORIES: [&str; 5] = ["audio", "home", "outdoor", "kitchen", "computers"];
    const WORDS: [&str; 12] = [
        "wireless",
        "compact",
        "premium",
        "headphones",
        "kettle",
        "lamp",
        "backpack",
        "quiet",
        "portable",
        "steel",
        "charger",
        "speaker",
    ];
    json!({
        "id": format!("doc-{n}"),
        "title": format!("{} {} {}", WORDS[n % 12], WORDS[(n / 12) % 12], WORDS[(n / 144) % 12]),
        "category": CATEGORIES[n % 5],
        "price": (n % 10_000) as f64 / 10.0,
        "stock": n % 100,
    })
    .to_string()
}

fn chunk(from: usize, to: usize) -> String {
    let mut out = String::with_capacity((to - from) * 110);
    for n in from..to {
        out.push_str(&document(n));
        out.push('\n');
    }
    out
}

async fn copy_baseline(options: &PgConnectOptions, total: usize) -> anyhow::Result<Duration> {
    let mut connection = PgConnection::connect_with(options).await?;
    sqlx::raw_sql(
        "CREATE TABLE baseline_documents (collection_id bigint NOT NULL, id text NOT NULL, body jsonb NOT NULL,
         version bigint NOT NULL DEFAULT 1, created_at timestamptz NOT NULL DEFAULT now(),
         updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (collection_id, id))",
    )
    .execute(&mut connection)
    .await?;
    let started = Instant::now();
    let mut copy = connection
        .copy_in_raw("COPY baseline_documents (collection_id, id, body) FROM STDIN WITH (FORMAT csv, QUOTE '''')")
        .await?;
    let mut from = 0;
    while from < total {
        let to = (from + CHUNK * 5).min(total);
        let mut rows = String::with_capacity((to - from) * 130);
        for n in from..to {
            // CSV with ' as the quote character: the JSON has no single quotes.
            rows.push_str(&format!("1,doc-{n},'{}'\n", document(n)));
        }
        copy.send(rows.into_bytes()).await?;
        from = to;
    }
    copy.finish().await?;
    Ok(started.elapsed())
}

#[path = "common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = common::env_number("SIFT_BENCH_DOCS", 1_000_000);
    common::with_database(|options| run(options, total)).await
}

async fn run(options: PgConnectOptions, total: usize) -> anyhow::Result<()> {
    let index_dir =
        std::env::temp_dir().join(format!("sift-bench-{}", uuid::Uuid::new_v4().simple()));
    let application =
        Application::build(Config::for_database(options.clone(), index_dir.clone())).await?;
    let base = format!("http://127.0.0.1:{}", application.port());
    let shutdown = application.shutdown_token();
    let server = tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/v1/collections"))
        .json(&json!({"name": "bench", "fields": [
                {"name": "title", "type": "text"}, {"name": "category", "type": "keyword"},
                {"name": "price", "type": "float"}, {"name": "stock", "type": "integer"}]}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "create collection: {}",
        response.status()
    );

    let body = futures::stream::iter((0..total).step_by(CHUNK))
        .map(move |from| Ok::<_, std::io::Error>(chunk(from, (from + CHUNK).min(total))));
    let started = Instant::now();
    let report: serde_json::Value = client
        .post(format!("{base}/v1/collections/bench/documents:import"))
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await?
        .json()
        .await?;
    let sift_elapsed = started.elapsed();
    anyhow::ensure!(report["imported"] == total, "import report: {report}");
    // Reading the collection just filled: its stats and the first page of its
    // documents (neither may read every row), against one document by id.
    let mut reads = Vec::new();
    for path in [
        "/v1/collections/bench/documents/doc-1".to_owned(),
        "/v1/collections/bench".to_owned(),
        "/v1/collections/bench/documents?limit=20".to_owned(),
    ] {
        let mut times = Vec::with_capacity(READS);
        for _ in 0..READS {
            let started = Instant::now();
            let response = client.get(format!("{base}{path}")).send().await?;
            anyhow::ensure!(response.status() == 200, "{path}: {}", response.status());
            response.bytes().await?;
            times.push(started.elapsed());
        }
        times.sort_unstable();
        reads.push((path, times[READS / 2]));
    }
    shutdown.cancel();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(index_dir);

    let copy_elapsed = copy_baseline(&options, total).await?;
    let sift_rate = total as f64 / sift_elapsed.as_secs_f64();
    let copy_rate = total as f64 / copy_elapsed.as_secs_f64();
    println!("import_throughput documents={total}");
    println!(
        "  sift import over HTTP : {:>8.2} s  {:>10.0} documents/s",
        sift_elapsed.as_secs_f64(),
        sift_rate
    );
    println!(
        "  baseline: COPY        : {:>8.2} s  {:>10.0} documents/s",
        copy_elapsed.as_secs_f64(),
        copy_rate
    );
    println!("  ratio sift / COPY     : {:>8.2}", sift_rate / copy_rate);
    let by_id = reads[0].1.as_secs_f64();
    for (path, median) in &reads {
        println!(
            "  GET {path:<41}: {:>8.2} ms (median of {READS})  {:>6.1} x one document by id",
            median.as_secs_f64() * 1000.0,
            median.as_secs_f64() / by_id
        );
    }
    Ok::<_, anyhow::Error>(())
}
