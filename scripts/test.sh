#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL and Redis (provisioned when
# DATABASE_URL / REDIS_URL do not answer). Each integration test makes its own
# database, so the suite can run beside anything else on the same server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/provision.sh
say "running the tests"
exec cargo test --locked "$@"
