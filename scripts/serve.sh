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

# A port already taken would answer the readiness poll below for another server.
host="${SIFT_BIND%:*}" port="${SIFT_BIND##*:}"
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  holder=$(ss -ltnpH "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\).*/\1/p' | head -n 1)
  die "port $port on $host is already in use${holder:+ by $holder}; stop it, or choose another with SIFT_BIND=127.0.0.1:8081 $0"
fi

# Say, on the way out, what keeps running.
private_note() {
  case "$DATABASE_URL $REDIS_URL" in
    *":$SIFT_PG_PORT/"*|*":$SIFT_REDIS_PORT"*)
      say "the private PostgreSQL/Redis under $SIFT_STATE_DIR keep running (for the next start); scripts/stop.sh stops them" ;;
  esac
}

say "building sift (release)"
cargo build --locked --release --bin sift
"${CARGO_TARGET_DIR:-target}/release/sift" serve &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; private_note' INT TERM

base="http://$SIFT_BIND"
for _ in $(seq 1 600); do
  if curl -fsS "$base/ready" >/dev/null 2>&1; then break; fi
  kill -0 $pid 2>/dev/null || { wait $pid; exit $?; }
  sleep 0.2
done
curl -fsS "$base/ready" >/dev/null 2>&1 || die "sift did not become ready at $base"
kill -0 $pid 2>/dev/null || { wait $pid; exit $?; }
cat >&2 <<MSG

  sift is running with the demo collection "products".
    Search page:   $base/
    Swagger UI:    $base/docs/
    OpenAPI:       $base/openapi.json
    Health:        $base/health
  Stop with Ctrl+C (scripts/stop.sh then stops a private PostgreSQL/Redis).

MSG
wait $pid
