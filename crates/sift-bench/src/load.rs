//! `sift-bench load`: searches under many concurrent clients, over HTTP against a
//! running sift, to see how it behaves past saturation.
//!
//! Each level runs `clients` closed-loop clients for `duration`, each sending the next
//! query of the list as soon as its previous answer came. Accepted answers (2xx) and
//! refused ones (503, 429) are counted and timed apart, because what matters past
//! saturation is both: accepted searches should stay fast, and the excess should be
//! refused fast. A refused client waits `--backoff-ms` before its next request (a
//! well-behaved client honours `Retry-After`; 0 makes a refusal storm).
//!
//! wrk reports one latency distribution for every status together, which hides
//! exactly this; hence a tool of our own (reqwest + hdrhistogram).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Mutex;

/// The options of `sift-bench load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The sift to load
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The collection searched
    #[arg(long)]
    pub collection: String,
    /// Queries, one per line (the first column of a TSV is skipped when it has three or
    /// more columns: the judgments format); without it, a few built-in words
    #[arg(long)]
    pub queries: Option<std::path::PathBuf>,
    /// Concurrent clients per level, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    pub clients: Vec<usize>,
    /// How long each level runs, in seconds
    #[arg(long, default_value = "10")]
    pub duration: u64,
    /// How long a refused client waits before its next request, in milliseconds
    #[arg(long, default_value = "100")]
    pub backoff_ms: u64,
    /// Extra query parameters for every search, such as `cache=false`
    #[arg(long, default_value = "")]
    pub extra: String,
    /// Write the levels as JSON here too
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// What one level measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    pub clients: usize,
    pub accepted: u64,
    pub refused: u64,
    pub errors: u64,
    pub accepted_per_second: f64,
    pub accepted_p50_ms: f64,
    pub accepted_p99_ms: f64,
    pub refused_p50_ms: f64,
    pub refused_p99_ms: f64,
}

struct Tally {
    accepted: Histogram<u64>,
    refused: Histogram<u64>,
    errors: u64,
}

fn histogram() -> Histogram<u64> {
    // Microseconds, up to a minute, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

fn read_queries(args: &LoadArgs) -> anyhow::Result<Vec<String>> {
    let Some(path) = &args.queries else {
        return Ok([
            "lamp",
            "desk lamp",
            "kettle",
            "garden",
            "book",
            "chair",
            "light",
            "table",
        ]
        .map(String::from)
        .to_vec());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let queries: Vec<String> = text
        .lines()
        .skip_while(|line| line.starts_with("qid\t"))
        .filter_map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            let query = if columns.len() >= 3 {
                columns[2]
            } else {
                columns[0]
            };
            (!query.trim().is_empty()).then(|| query.to_owned())
        })
        .collect();
    if queries.is_empty() {
        bail!("no queries in {}", path.display());
    }
    Ok(queries)
}

/// Runs one level: `clients` closed-loop clients for `duration`.
async fn level(
    client: &reqwest::Client,
    args: &LoadArgs,
    queries: &Arc<Vec<String>>,
    clients: usize,
) -> Level {
    let tally = Arc::new(Mutex::new(Tally {
        accepted: histogram(),
        refused: histogram(),
        errors: 0,
    }));
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let base = format!(
        "{}/v1/collections/{}/search",
        args.url.trim_end_matches('/'),
        args.collection
    );
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let (client, tally, queries, base) =
                (client.clone(), tally.clone(), queries.clone(), base.clone());
            let (extra, backoff) = (args.extra.clone(), Duration::from_millis(args.backoff_ms));
            tokio::spawn(async move {
                let mut next = n * 7919;
                while Instant::now() < deadline {
                    let q = &queries[next % queries.len()];
                    next += 1;
                    let mut url = reqwest::Url::parse(&base).expect("valid base url");
                    url.query_pairs_mut().append_pair("q", q);
                    let mut url = url.to_string();
                    if !extra.is_empty() {
                        url.push('&');
                        url.push_str(&extra);
                    }
                    let started = Instant::now();
                    let outcome = match client.get(&url).send().await {
                        Ok(response) => {
                            let status = response.status();
                            let complete = response.bytes().await.is_ok();
                            (complete, status)
                        }
                        Err(_) => (false, reqwest::StatusCode::INTERNAL_SERVER_ERROR),
                    };
                    let micros = started.elapsed().as_micros().max(1) as u64;
                    let refused = matches!(outcome.1.as_u16(), 503 | 429);
                    {
                        let mut tally = tally.lock().await;
                        match outcome {
                            (true, status) if status.is_success() => {
                                let _ = tally.accepted.record(micros);
                            }
                            (true, _) if refused => {
                                let _ = tally.refused.record(micros);
                            }
                            _ => tally.errors += 1,
                        }
                    }
                    if refused {
                        tokio::time::sleep(backoff).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let tally = tally.lock().await;
    Level {
        clients,
        accepted: tally.accepted.len(),
        refused: tally.refused.len(),
        errors: tally.errors,
        accepted_per_second: tally.accepted.len() as f64 / args.duration as f64,
        accepted_p50_ms: ms(&tally.accepted, 0.5),
        accepted_p99_ms: ms(&tally.accepted, 0.99),
        refused_p50_ms: ms(&tally.refused, 0.5),
        refused_p99_ms: ms(&tally.refused, 0.99),
    }
}

/// Runs every level in turn and prints a markdown table.
pub async fn run(args: LoadArgs) -> anyhow::Result<Vec<Level>> {
    let queries = Arc::new(read_queries(&args)?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let mut levels = Vec::new();
    println!(
        "| clients | accepted/s | accepted p50 ms | accepted p99 ms | refused | refused p50 ms | refused p99 ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &clients in &args.clients {
        let result = level(&client, &args, &queries, clients).await;
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {} |",
            result.clients,
            result.accepted_per_second,
            result.accepted_p50_ms,
            result.accepted_p99_ms,
            result.refused,
            result.refused_p50_ms,
            result.refused_p99_ms,
            result.errors
        );
        levels.push(result);
    }
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&levels)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(levels)
}
