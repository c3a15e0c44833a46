#!/usr/bin/env bash
# Starts sift with the demo collection loaded, provisioning PostgreSQL and Redis when
# DATABASE_URL / REDIS_URL do not answer, and prints the URLs once it is ready.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/provision.sh
command -v curl >/dev/null 2>&1 || apt_install curl

# Our own database on the provisioned server, unless the caller named one.
if [[ "$DATABASE_URL" == "postgres://postgres@127.0.0.1:$SIFT_PG_PORT/postgres" ]]; then
  psql "$DATABASE_URL" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'sift'" | grep -q 1 \
    || psql "$DATABASE_URL" -qc "CREATE DATABASE sift" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$SIFT_PG_PORT/sift"
fi

export SIFT_BIND="${SIFT_BIND:-127.0.0.1:8080}"
export SIFT_DEMO="${SIFT_DEMO:-true}"
export SIFT_LOG_FORMAT="${SIFT_LOG_FORMAT:-pretty}"

say "building sift (release)"
cargo build --locked --release --bin sift
./target/release/sift serve &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

base="http://$SIFT_BIND"
for _ in $(seq 1 100); do
  if curl -fsS "$base/ready" >/dev/null 2>&1; then break; fi
  kill -0 $pid 2>/dev/null || { wait $pid; exit $?; }
  sleep 0.2
done
curl -fsS "$base/ready" >/dev/null 2>&1 || die "sift did not become ready at $base"
cat >&2 <<MSG

  sift is running with the demo collection "products".
    Search page:   $base/
    Swagger UI:    $base/docs/
    OpenAPI:       $base/openapi.json
    Health:        $base/health
  Stop with Ctrl+C.

MSG
wait $pid
