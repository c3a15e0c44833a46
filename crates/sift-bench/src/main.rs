//! `sift-bench`: the benchmark tooling, kept out of the server's binary and dependency
//! tree. `sift-bench datagen` writes generated corpora as NDJSON; `sift-bench run`
//! measures `ILIKE`, full-text search and the index on them; `sift-bench eval`
//! measures relevance on judged queries; `sift-bench load` loads a running sift with
//! concurrent clients.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sift_datagen::Corpus;

/// sift's benchmark tooling.
#[derive(Debug, Parser)]
#[command(name = "sift-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write generated documents as NDJSON (deterministic for a seed), or a corpus's schema
    Datagen {
        /// Which corpus
        #[arg(long, value_enum, default_value = "reviews")]
        corpus: Corpus,
        /// How many documents
        #[arg(long, default_value = "50000")]
        count: u64,
        /// Seed: the same seed gives the same documents
        #[arg(long, default_value = "42")]
        seed: u64,
        /// Write here instead of stdout
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Print the corpus's collection schema (for POST /v1/collections) instead
        #[arg(long)]
        schema: bool,
    },
    /// Measure ILIKE, full-text search and the index (uncached, L1, L2) on generated corpora
    Run(Box<sift_bench::BenchArgs>),
    /// Measure relevance (Recall@10, MRR@10, nDCG@10, empty answers, latency) on judged queries
    Eval(Box<sift_bench::eval::EvalArgs>),
    /// Load a running sift with concurrent searching clients; accepted and refused answers timed apart
    Load(Box<sift_bench::load::LoadArgs>),
    /// Draw the plots of a `run` report again, beside its JSON
    Plot {
        /// The report's JSON (e.g. benches/results/reviews.json)
        report: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // A `.env` file in the working directory, when present, fills in variables the
    // environment does not set (DATABASE_URL, REDIS_URL), as for `sift` itself.
    let _ = dotenvy::dotenv();
    match Cli::parse().command {
        Command::Datagen {
            corpus,
            count,
            seed,
            output,
            schema,
        } => datagen(corpus, count, seed, output, schema),
        Command::Eval(args) => match sift_bench::eval::run(*args).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("sift-bench eval: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Load(args) => match sift_bench::load::run(*args).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("sift-bench load: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Plot { report } => match sift_bench::replot(&report) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("sift-bench plot: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => match sift_bench::run(*args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("sift-bench run: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn datagen(
    corpus: Corpus,
    count: u64,
    seed: u64,
    output: Option<std::path::PathBuf>,
    schema: bool,
) -> ExitCode {
    if schema {
        println!("{:#}", corpus.schema(corpus.name()));
        return ExitCode::SUCCESS;
    }
    let result = match &output {
        Some(path) => std::fs::File::create(path).and_then(|file| {
            sift_datagen::generate(corpus, seed, count, &mut std::io::BufWriter::new(file))
        }),
        None => sift_datagen::generate(corpus, seed, count, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is a normal way to stop.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sift-bench datagen: {error}");
            ExitCode::FAILURE
        }
    }
}
