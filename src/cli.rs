//! The command line: `sift serve`, `sift migrate up|down`, `sift openapi`, `sift check`.
//! The benchmark tooling (`sift-bench datagen`, `sift-bench run`) is a crate of its own,
//! `crates/sift-bench`, so that the server does not carry its dependencies.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, ServeArgs, parse_database_url};
use crate::startup::{Application, cancel_on_signal};
use crate::{db, routes, telemetry};

/// sift: ranked, typo-tolerant search over PostgreSQL data.
#[derive(Debug, Parser)]
#[command(name = "sift", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (applies pending migrations first)
    Serve(Box<ServeArgs>),
    /// Apply or revert the database migrations
    Migrate {
        #[command(subcommand)]
        direction: MigrateDirection,
        /// PostgreSQL URL (required)
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
        database_url: Option<String>,
    },
    /// Print the OpenAPI document (JSON) to stdout
    Openapi,
    /// Compare a collection in PostgreSQL with its index; exit 1 listing any difference
    Check {
        /// The collection's name
        collection: String,
        /// PostgreSQL URL (required)
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Directory holding the search indexes
        #[arg(long, env = "SIFT_INDEX_DIR", default_value = "./index")]
        index_dir: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateDirection {
    /// Apply every pending migration
    Up,
    /// Revert every applied migration (drops sift's tables and their data)
    Down,
}

/// Exit status for configuration errors, as for command-line usage errors.
const EXIT_CONFIG: u8 = 2;

/// Runs the command line; returns the process exit status.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Openapi => {
            print!("{}", routes::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Migrate {
            direction,
            database_url,
        } => migrate(direction, database_url).await,
        Command::Serve(args) => serve(*args).await,
        Command::Check {
            collection,
            database_url,
            index_dir,
        } => check(&collection, database_url, &index_dir).await,
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = match args.validate() {
        Ok(config) => config,
        Err(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            eprintln!("see `sift serve --help` for every setting");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init_tracing(config.log_format, &config.log_filter);
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(error = %error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    if let Some(address) = application.local_addr() {
        tracing::info!(
            address = %address,
            swagger_ui = %format!("http://{address}/docs/"),
            openapi = %format!("http://{address}/openapi.json"),
            "sift is listening"
        );
    }
    tokio::spawn(cancel_on_signal(application.shutdown_token()));
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Connects for a one-off command, or says why not (with the exit status).
async fn connect_for_command(database_url: Option<String>) -> Result<sqlx::PgPool, ExitCode> {
    let options = match database_url.as_deref().map(str::trim) {
        None | Some("") => Err("is required".to_string()),
        Some(url) => parse_database_url(url),
    };
    let options = match options {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("error: DATABASE_URL (--database-url): {problem}");
            return Err(ExitCode::from(EXIT_CONFIG));
        }
    };
    let settings = db::PoolSettings {
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(10),
    };
    db::connect(options, &settings).await.map_err(|error| {
        eprintln!("error: cannot connect to PostgreSQL: {error}");
        ExitCode::FAILURE
    })
}

async fn check(
    collection: &str,
    database_url: Option<String>,
    index_dir: &std::path::Path,
) -> ExitCode {
    let pool = match connect_for_command(database_url).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let result = crate::index::check::check(&pool, index_dir, collection).await;
    pool.close().await;
    match result {
        Ok(report) => {
            println!(
                "{collection}: {} documents in PostgreSQL, {} in the index",
                report.in_postgres, report.in_index
            );
            const SHOWN: usize = 20;
            for id in report.missing.iter().take(SHOWN) {
                println!("missing from the index: {id}");
            }
            for id in report.extra.iter().take(SHOWN) {
                println!("in the index, not in PostgreSQL: {id}");
            }
            for (id, postgres, indexed) in report.stale.iter().take(SHOWN) {
                println!("stale in the index: {id} (version {indexed}, PostgreSQL has {postgres})");
            }
            if report.is_clean() {
                println!("clean");
                ExitCode::SUCCESS
            } else {
                println!(
                    "{} missing, {} extra, {} stale",
                    report.missing.len(),
                    report.extra.len(),
                    report.stale.len()
                );
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(direction: MigrateDirection, database_url: Option<String>) -> ExitCode {
    telemetry::init_tracing(LogFormat::Pretty, "info");
    let pool = match connect_for_command(database_url).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let result = match direction {
        MigrateDirection::Up => db::migrate_up(&pool).await,
        MigrateDirection::Down => db::migrate_down(&pool).await,
    };
    pool.close().await;
    match result {
        Ok(()) => {
            eprintln!(
                "migrations {}",
                match direction {
                    MigrateDirection::Up => "applied",
                    MigrateDirection::Down => "reverted",
                }
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
