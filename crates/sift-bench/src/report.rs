//! The benchmark's outputs: machine facts, a markdown report and the JSON it is made
//! from.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{BenchArgs, ENGINES, Report, plot};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: u64,
    pub os: String,
    pub postgres: String,
    pub redis: Option<String>,
}

pub async fn machine(pool: &PgPool, redis_url: Option<&str>) -> Machine {
    let postgres = sqlx::query_scalar::<_, String>("SHOW server_version")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|_| "unknown".into());
    let redis = match redis_url {
        Some(url) => redis_version(url).await,
        None => None,
    };
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: meminfo("MemTotal:").unwrap_or(0),
        os: std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| std::env::consts::OS.into()),
        postgres,
        redis,
    }
}

async fn redis_version(url: &str) -> Option<String> {
    let client = deadpool_redis::redis::Client::open(url).ok()?;
    let mut connection = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = deadpool_redis::redis::cmd("INFO")
        .arg("server")
        .query_async(&mut connection)
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .map(|v| v.trim().to_owned())
}

fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resident memory of this process.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// The command that reproduces a run with these options.
pub fn command_line(args: &BenchArgs) -> String {
    let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    format!(
        "sift-bench run --corpus {} --sizes {} --seed {} --queries {} --sql-queries {} --http-seconds {} --concurrency {}",
        args.corpus.name(),
        join(&args.sizes),
        args.seed,
        args.queries,
        args.sql_queries,
        args.http_seconds,
        args.concurrency
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Writes `<corpus>.json`, `<corpus>.md` and the plots into `out`.
pub fn write(out: &Path, report: &Report) -> anyhow::Result<()> {
    let stem = &report.corpus;
    std::fs::write(
        out.join(format!("{stem}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    plot::latency_distribution(&out.join(format!("{stem}-latency.svg")), report)?;
    plot::scaling(&out.join(format!("{stem}-scaling.svg")), report)?;
    std::fs::write(out.join(format!("{stem}.md")), markdown(report))?;
    Ok(())
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The markdown report.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let m = &report.machine;
    let _ = writeln!(
        md,
        "# sift-bench run: corpus `{}`, {}\n",
        report.corpus, report.date
    );
    let _ = writeln!(md, "Reproduce: `{}`\n", report.command);
    let _ = writeln!(
        md,
        "Machine: {} cores, {:.1} GiB, {}; PostgreSQL {}; Redis {}. The service, PostgreSQL, Redis and the load generator share the machine.\n",
        m.cores,
        m.memory_bytes as f64 / (1u64 << 30) as f64,
        m.os,
        m.postgres,
        m.redis.as_deref().unwrap_or("not used"),
    );
    let _ = writeln!(
        md,
        "Workload: {} queries drawn from the corpus vocabulary (common, medium and rare words; 1–3 words; exact, with a typo, or with the last word cut to a prefix); `ilike` and `fts` run the first {} of them in process. HTTP loads run {} s each with closed-loop clients picking queries with a Zipf-like frequency.\n",
        report.queries.len(),
        report.sql_queries,
        report.http_seconds
    );

    let _ = writeln!(md, "## Headline: in-process latency, p50 / p99 (ms)\n");
    let mut header = String::from("| documents |");
    let mut rule = String::from("|---|");
    for engine in ENGINES {
        let _ = write!(header, " {engine} |");
        rule.push_str("---|");
    }
    header.push_str(" ilike / index (p50) | fts / index (p50) |");
    rule.push_str("---|---|");
    let _ = writeln!(md, "{header}\n{rule}");
    for run in &report.runs {
        let mut row = format!("| {} |", run.documents);
        for engine in ENGINES {
            match run.in_process.get(engine) {
                Some(l) => {
                    let _ = write!(row, " {} / {} |", ms(l.p50_ms), ms(l.p99_ms));
                }
                None => row.push_str(" – |"),
            }
        }
        let ratio = |engine: &str| match (run.in_process.get(engine), run.in_process.get("index")) {
            (Some(a), Some(b)) if b.p50_ms > 0.0 => format!("{:.0}×", a.p50_ms / b.p50_ms),
            _ => "–".into(),
        };
        let _ = write!(row, " {} | {} |", ratio("ilike"), ratio("fts"));
        let _ = writeln!(md, "{row}");
    }

    let _ = writeln!(md, "\n## p50 by query frequency, in process (ms)\n");
    let _ = writeln!(
        md,
        "| documents | engine | common | medium | rare |\n|---|---|---|---|---|"
    );
    for run in &report.runs {
        for engine in ["ilike", "fts", "index"] {
            if let Some(split) = run.in_process_p50_by_frequency.get(engine) {
                let cell = |f: &str| split.get(f).map_or("–".into(), |v| ms(*v));
                let _ = writeln!(
                    md,
                    "| {} | {engine} | {} | {} | {} |",
                    run.documents,
                    cell("common"),
                    cell("medium"),
                    cell("rare")
                );
            }
        }
    }

    let _ = writeln!(md, "\n## Over HTTP\n");
    let _ = writeln!(
        md,
        "| documents | engine | clients | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|---|---|---|"
    );
    for run in &report.runs {
        for row in &run.http {
            let l = &row.latency;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                run.documents,
                row.engine,
                row.concurrency,
                l.per_second.unwrap_or(0.0),
                ms(l.p50_ms),
                ms(l.p95_ms),
                ms(l.p99_ms),
                ms(l.max_ms),
                l.errors
            );
        }
    }

    let _ = writeln!(md, "\n## Ingest, index and resources\n");
    let _ = writeln!(
        md,
        "| documents | import (docs/s) | import + searchable (docs/s) | raw COPY (docs/s) | import / COPY | index rebuild (docs/s) | write → visible p50 / p99 ms | index on disk | process RSS |\n|---|---|---|---|---|---|---|---|---|"
    );
    for run in &report.runs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.0} ({:.1} s) | {} / {} | {:.1} MiB | {:.0} MiB |",
            run.documents,
            run.import_per_second
                .map_or("reused".into(), |v| format!("{v:.0}")),
            run.import_searchable_per_second
                .map_or("–".into(), |v| format!("{v:.0}")),
            run.raw_copy_per_second
                .map_or("–".into(), |v| format!("{v:.0}")),
            run.import_per_second
                .zip(run.raw_copy_per_second)
                .map_or("–".into(), |(i, c)| format!("{:.2}", i / c)),
            run.index_build_per_second,
            run.index_build_seconds,
            ms(run.write_to_visible.p50_ms),
            ms(run.write_to_visible.p99_ms),
            run.index_size_bytes as f64 / (1u64 << 20) as f64,
            run.rss_bytes as f64 / (1u64 << 20) as f64,
        );
    }
    let _ = writeln!(
        md,
        "\n![latency distribution]({0}-latency.svg)\n\n![p50 and p99 against corpus size]({0}-scaling.svg)",
        report.corpus
    );
    md
}
