//! The `sift` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: a search allocates and frees many small
/// vectors (postings, candidates, bitsets), and glibc's malloc/free took about 11% of a
/// typo query's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A `.env` file in the working directory, when present, fills in variables the
    // environment does not set.
    let _ = dotenvy::dotenv();
    sift::cli::run(sift::cli::Cli::parse()).await
}
