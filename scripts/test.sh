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
# schemathesis, pinned, in a virtualenv of its own (tests/api/schemathesis.rs runs it).
SCHEMATHESIS_VERSION=4.32.5
if ! target/schemathesis/bin/st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into target/schemathesis"
  command -v python3 >/dev/null 2>&1 || apt_install python3
  mkdir -p target
  python3 -m venv target/schemathesis 2>/dev/null || { apt_install python3-venv; python3 -m venv target/schemathesis; }
  target/schemathesis/bin/pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
# kubernetes-validate (pinned, schemas included, offline) checks deploy/kubernetes
# (tests/api/deploy.rs); systemd-analyze checks the systemd unit.
KUBERNETES_VALIDATE_VERSION=1.37.0
if ! target/schemathesis/bin/kubernetes-validate --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION"; then
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into target/schemathesis"
  target/schemathesis/bin/pip install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
command -v systemd-analyze >/dev/null 2>&1 || apt_install systemd
say "running the tests"
exec cargo test --locked --workspace "$@"
