//! The `sift` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // A `.env` file in the working directory, when present, fills in variables the
    // environment does not set.
    let _ = dotenvy::dotenv();
    sift::cli::run(sift::cli::Cli::parse()).await
}
