#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL and Redis (provisioned when
# DATABASE_URL / REDIS_URL do not answer). Each integration test makes its own
# database, so the suite can run beside anything else on the same server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/provision.sh
# The cache tests start Redis servers of their own (to stop one mid-test).
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
# The browser tests drive Debian's Chromium through Debian's chromedriver.
{ [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; } || apt_install chromium chromium-driver
say "running the tests"
exec cargo test --locked --workspace "$@"
