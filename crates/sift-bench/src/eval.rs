//! `sift-bench eval`: relevance measured on judged queries, like Elasticsearch's
//! `_rank_eval`, over HTTP against a running sift.
//!
//! Judgments are TSV, `qid <TAB> set <TAB> query <TAB> document id [<TAB> grade]`,
//! with a header line: one row per relevant document (several rows with one `qid` for
//! several), the grade 1 when absent. Per set and engine it reports Recall@10 (a
//! relevant document in the top 10), MRR@10, nDCG@10 (gain 2^grade - 1), how many
//! answers were empty, and the latency percentiles, one client, sequential, after a
//! warm-up; as markdown and JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Serialize;

/// The options of `sift-bench eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The sift to ask
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The collection searched
    #[arg(long)]
    pub collection: String,
    /// The judgments (TSV: qid, set, query, document id, optional grade)
    #[arg(long)]
    pub judgments: PathBuf,
    /// Engines to compare, comma-separated (index, fts, ilike)
    #[arg(long, value_delimiter = ',', default_value = "index")]
    pub engines: Vec<String>,
    /// Queries per set on `fts` and `ilike` (a scan of a large table takes seconds); 0: all
    #[arg(long, default_value = "0")]
    pub sql_sample: usize,
    /// Extra query parameters for every search, such as `matchingStrategy=last`
    #[arg(long, default_value = "")]
    pub extra: String,
    /// An API key, when reads need one
    #[arg(long, env = "SIFT_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Write `<out>.md` and `<out>.json` (default: print markdown only)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A line of text put above the tables (what was measured, on which build)
    #[arg(long, default_value = "")]
    pub label: String,
}

/// One judged query.
struct Judged {
    set: String,
    query: String,
    /// Document id → grade.
    relevant: BTreeMap<String, u32>,
}

/// The figures of one set on one engine.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetFigures {
    pub engine: String,
    pub set: String,
    pub queries: usize,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
    pub ndcg_at_10: f64,
    pub empty: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// `fts` without its GIN index answers the same by scanning, in seconds a query on a
/// large collection: say so (the collection's settings are the user's to change).
async fn warn_unless_fts_index_ready(client: &reqwest::Client, args: &EvalArgs) {
    let mut request = client.get(format!(
        "{}/v1/collections/{}",
        args.url.trim_end_matches('/'),
        args.collection
    ));
    if let Some(key) = &args.key {
        request = request.bearer_auth(key);
    }
    let status = match request.send().await {
        Ok(response) => response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|body| body["stats"]["ftsIndex"].as_str().map(str::to_owned)),
        Err(_) => None,
    };
    if status.as_deref() != Some("ready") {
        eprintln!(
            "note: the GIN index behind `fts` is {} on `{}`, so `fts` scans (slow, same answers); \
             PATCH the collection with {{\"ftsIndex\": true}} and wait for stats.ftsIndex \"ready\" to measure it indexed",
            status.as_deref().unwrap_or("unknown"),
            args.collection
        );
    }
}

fn read_judgments(path: &PathBuf) -> anyhow::Result<Vec<Judged>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut by_qid: BTreeMap<String, Judged> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('\t').collect();
        if parts.len() < 4 {
            bail!(
                "{}:{}: expected qid, set, query, document id",
                path.display(),
                n + 1
            );
        }
        let grade = match parts.get(4) {
            Some(g) => g
                .trim()
                .parse()
                .with_context(|| format!("{}:{}: grade", path.display(), n + 1))?,
            None => 1,
        };
        let entry = by_qid.entry(parts[0].to_owned()).or_insert_with(|| {
            order.push(parts[0].to_owned());
            Judged {
                set: parts[1].to_owned(),
                query: parts[2].to_owned(),
                relevant: BTreeMap::new(),
            }
        });
        entry.relevant.insert(parts[3].to_owned(), grade);
    }
    Ok(order
        .into_iter()
        .filter_map(|q| by_qid.remove(&q))
        .collect())
}

/// DCG of grades in rank order (gain 2^g - 1, discount log2(rank + 1)).
fn dcg(grades: impl IntoIterator<Item = u32>) -> f64 {
    grades
        .into_iter()
        .enumerate()
        .map(|(rank, g)| (2f64.powi(g as i32) - 1.0) / (rank as f64 + 2.0).log2())
        .sum()
}

pub async fn run(args: EvalArgs) -> anyhow::Result<Vec<SetFigures>> {
    let judged = read_judgments(&args.judgments)?;
    if judged.is_empty() {
        bail!("no judged queries in {}", args.judgments.display());
    }
    let client = reqwest::Client::new();
    let base = format!(
        "{}/v1/collections/{}/search",
        args.url.trim_end_matches('/'),
        args.collection
    );
    let search = |query: &str, engine: &str| {
        let mut request = client.get(&base).query(&[
            ("q", query),
            ("limit", "10"),
            ("engine", engine),
            ("cache", "false"),
            ("highlight", "false"),
        ]);
        if let Some(key) = &args.key {
            request = request.bearer_auth(key);
        }
        let url_extra = args.extra.clone();
        let http = client.clone();
        async move {
            let mut request = request.build()?;
            if !url_extra.is_empty() {
                let url = request.url_mut();
                let joined = match url.query() {
                    Some(q) => format!("{q}&{url_extra}"),
                    None => url_extra,
                };
                url.set_query(Some(&joined));
            }
            let started = Instant::now();
            let response = http.execute(request).await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let took = started.elapsed();
            if !status.is_success() {
                bail!("{status}: {body}");
            }
            let ids: Vec<String> = body["hits"]
                .as_array()
                .map(|hits| {
                    hits.iter()
                        .filter_map(|h| h["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Ok::<_, anyhow::Error>((ids, took))
        }
    };
    if args.engines.iter().any(|e| e == "fts") {
        warn_unless_fts_index_ready(&client, &args).await;
    }
    let mut figures = Vec::new();
    for engine in &args.engines {
        // A warm-up, shorter on the engines that scan.
        let warm_up = if engine == "index" { 30 } else { 3 };
        for j in judged.iter().take(warm_up) {
            search(&j.query, engine).await?;
        }
        let mut sets: Vec<&str> = Vec::new();
        for j in &judged {
            if !sets.contains(&j.set.as_str()) {
                sets.push(&j.set);
            }
        }
        for set in sets {
            let mut queries: Vec<&Judged> = judged.iter().filter(|j| j.set == set).collect();
            if engine != "index" && args.sql_sample > 0 {
                queries.truncate(args.sql_sample);
            }
            let mut latency = Histogram::<u64>::new(3)?;
            let (mut found, mut reciprocal, mut ndcg, mut empty) = (0usize, 0.0, 0.0, 0usize);
            for j in &queries {
                let (ids, took) = search(&j.query, engine)
                    .await
                    .with_context(|| format!("{engine}: {:?}", j.query))?;
                latency.record((took.as_micros() as u64).max(1))?;
                if ids.is_empty() {
                    empty += 1;
                }
                let grades: Vec<u32> = ids
                    .iter()
                    .map(|id| j.relevant.get(id).copied().unwrap_or(0))
                    .collect();
                if let Some(rank) = grades.iter().position(|&g| g > 0) {
                    found += 1;
                    reciprocal += 1.0 / (rank as f64 + 1.0);
                }
                let mut ideal: Vec<u32> = j.relevant.values().copied().collect();
                ideal.sort_unstable_by(|a, b| b.cmp(a));
                ideal.truncate(10);
                let best = dcg(ideal);
                if best > 0.0 {
                    ndcg += dcg(grades) / best;
                }
            }
            let n = queries.len().max(1) as f64;
            let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
            let row = SetFigures {
                engine: engine.clone(),
                set: set.to_owned(),
                queries: queries.len(),
                recall_at_10: found as f64 / n,
                mrr_at_10: reciprocal / n,
                ndcg_at_10: ndcg / n,
                empty,
                p50_ms: ms(0.5),
                p95_ms: ms(0.95),
                p99_ms: ms(0.99),
            };
            eprintln!(
                "{:6} {:4} {:4} R@10 {:.3} MRR@10 {:.3} nDCG@10 {:.3} empty {:3} p50 {:.2} ms p99 {:.2} ms",
                row.engine,
                row.set,
                row.queries,
                row.recall_at_10,
                row.mrr_at_10,
                row.ndcg_at_10,
                row.empty,
                row.p50_ms,
                row.p99_ms
            );
            figures.push(row);
        }
    }
    let markdown = markdown(&args, &figures);
    match &args.out {
        Some(out) => {
            std::fs::write(out.with_extension("md"), &markdown)?;
            std::fs::write(
                out.with_extension("json"),
                serde_json::to_string_pretty(&figures)?,
            )?;
        }
        None => print!("{markdown}"),
    }
    Ok(figures)
}

fn markdown(args: &EvalArgs, figures: &[SetFigures]) -> String {
    let mut out = String::new();
    if !args.label.is_empty() {
        out.push_str(&format!("{}\n\n", args.label));
    }
    out.push_str(&format!(
        "`sift-bench eval --collection {} --judgments {} --engines {}{}`\n\n",
        args.collection,
        args.judgments.display(),
        args.engines.join(","),
        if args.extra.is_empty() {
            String::new()
        } else {
            format!(" --extra '{}'", args.extra)
        }
    ));
    out.push_str("| engine | set | queries | Recall@10 | MRR@10 | nDCG@10 | empty | p50 ms | p95 ms | p99 ms |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for f in figures {
        out.push_str(&format!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {} | {:.2} | {:.2} | {:.2} |\n",
            f.engine,
            f.set,
            f.queries,
            f.recall_at_10,
            f.mrr_at_10,
            f.ndcg_at_10,
            f.empty,
            f.p50_ms,
            f.p95_ms,
            f.p99_ms
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcg_discounts_by_rank_and_gains_by_grade() {
        assert!((dcg([1]) - 1.0).abs() < 1e-9);
        assert!((dcg([0, 1]) - 1.0 / 3f64.log2()).abs() < 1e-9);
        assert!((dcg([2]) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn judgments_group_by_query_with_grades() {
        let path = std::env::temp_dir().join(format!("judged-{}.tsv", std::process::id()));
        std::fs::write(
            &path,
            "qid\tset\tquery\ttarget_id\nq1\tKI\tlamp\ta\nq1\tKI\tlamp\tb\t2\nq2\tTY\tlmap\ta\n",
        )
        .expect("write");
        let judged = read_judgments(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        assert_eq!(judged.len(), 2);
        assert_eq!(judged[0].relevant.get("b"), Some(&2));
        assert_eq!(judged[0].relevant.get("a"), Some(&1));
        assert_eq!(judged[1].set, "TY");
    }
}
