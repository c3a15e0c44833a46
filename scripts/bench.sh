#!/usr/bin/env bash
# Runs `sift-bench run` (ILIKE, full-text search and the index, cached and not, on generated
# corpora) against real PostgreSQL and Redis, provisioned like the tests. Arguments go to
# `sift-bench run` (see `sift-bench run --help`); results land in benches/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/provision.sh
say "building sift-bench (release)"
cargo build --release --locked --quiet -p sift-bench
exec "${CARGO_TARGET_DIR:-target}/release/sift-bench" run "$@"
