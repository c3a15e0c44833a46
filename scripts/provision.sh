#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer, and exports DATABASE_URL and REDIS_URL.
#
# Sourced by scripts/serve.sh and scripts/test.sh. A DATABASE_URL or REDIS_URL that
# answers is used as it is. Otherwise a private PostgreSQL cluster and Redis server
# are started from the machine's packages (installed with apt-get when missing),
# on their own ports, with their data under $SIFT_STATE_DIR (default
# /tmp/sift-<uid>); nothing already running on the machine is relied on or touched.

SIFT_STATE_DIR="${SIFT_STATE_DIR:-${TMPDIR:-/tmp}/sift-$(id -u)}"
SIFT_PG_PORT="${SIFT_PG_PORT:-54329}"
SIFT_REDIS_PORT="${SIFT_REDIS_PORT:-63799}"

say() { printf '\033[1;34m[sift]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[sift]\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install it yourself, or run as root)"; fi
}

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself, or set DATABASE_URL/REDIS_URL"
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 \
    || die "apt-get install $* failed"
}

pg_bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

postgres_answers() { command -v psql >/dev/null 2>&1 && psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1; }
redis_answers() { command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -u "$1" PING 2>/dev/null)" = "PONG" ]; }

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    command -v psql >/dev/null 2>&1 || apt_install postgresql-client
    if postgres_answers "$DATABASE_URL"; then
      say "using PostgreSQL at DATABASE_URL"
      return
    fi
    say "DATABASE_URL does not answer; starting a local PostgreSQL instead"
  fi
  local bin
  bin=$(pg_bin_dir) || true
  if [ -z "$bin" ]; then
    apt_install postgresql postgresql-client
    bin=$(pg_bin_dir) || die "PostgreSQL binaries not found after installing"
  fi
  local data="$SIFT_STATE_DIR/pg" url="postgres://postgres@127.0.0.1:$SIFT_PG_PORT/postgres"
  # PostgreSQL refuses to run as root: run it as the `postgres` user the package made.
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "the postgres system user is missing (reinstall the postgresql package)"
    run=(runuser -u postgres --)
  fi
  mkdir -p "$SIFT_STATE_DIR"
  chmod 755 "$SIFT_STATE_DIR"
  if ! postgres_answers "$url"; then
    if [ ! -s "$data/PG_VERSION" ]; then
      say "creating a PostgreSQL cluster in $data"
      mkdir -p "$data"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$data"
      "${run[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >/dev/null \
        || die "initdb failed"
    fi
    say "starting PostgreSQL on 127.0.0.1:$SIFT_PG_PORT"
    "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $SIFT_PG_PORT -k $data -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || die "PostgreSQL did not start; see $data/server.log"
  fi
  postgres_answers "$url" || die "PostgreSQL on port $SIFT_PG_PORT does not answer; see $data/server.log"
  export DATABASE_URL="$url"
}

ensure_redis() {
  if [ -n "${REDIS_URL:-}" ]; then
    command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
    if redis_answers "$REDIS_URL"; then
      say "using Redis at REDIS_URL"
      return
    fi
    say "REDIS_URL does not answer; starting a local Redis instead"
  fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
  local url="redis://127.0.0.1:$SIFT_REDIS_PORT" dir="$SIFT_STATE_DIR/redis"
  if ! redis_answers "$url"; then
    mkdir -p "$dir"
    say "starting Redis on 127.0.0.1:$SIFT_REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$SIFT_REDIS_PORT" --daemonize yes --save "" --appendonly no \
      --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >/dev/null \
      || die "Redis did not start; see $dir/redis.log"
    for _ in $(seq 1 50); do redis_answers "$url" && break; sleep 0.1; done
  fi
  redis_answers "$url" || die "Redis on port $SIFT_REDIS_PORT does not answer; see $dir/redis.log"
  export REDIS_URL="$url"
}

ensure_postgres
ensure_redis
