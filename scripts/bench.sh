#!/usr/bin/env bash
# Runs `sift bench` (ILIKE, full-text search and the index, cached and not, on generated
# corpora) against real PostgreSQL and Redis, provisioned like the tests. Arguments go to
# `sift bench` (see `sift bench --help`); results land in benches/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/provision.sh
say "building sift (release)"
cargo build --release --locked --quiet
exec target/release/sift bench "$@"
