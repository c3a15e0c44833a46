#!/usr/bin/env bash
# Stops the private PostgreSQL and Redis that scripts/serve.sh and scripts/test.sh start
# when DATABASE_URL / REDIS_URL do not answer (data under $SIFT_STATE_DIR, default
# /tmp/sift-<uid>). Servers sift did not start are never touched. The data stays; the
# next serve.sh or test.sh starts them again.
set -euo pipefail
SIFT_STATE_DIR="${SIFT_STATE_DIR:-${TMPDIR:-/tmp}/sift-$(id -u)}"
SIFT_REDIS_PORT="${SIFT_REDIS_PORT:-63799}"
say() { printf '\033[1;34m[sift]\033[0m %s\n' "$*" >&2; }

stopped=0
data="$SIFT_STATE_DIR/pg"
if [ -s "$data/postmaster.pid" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  run=()
  [ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
  say "stopping the private PostgreSQL ($data)"
  "${run[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  stopped=1
fi
pidfile="$SIFT_STATE_DIR/redis/redis.pid"
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "stopping the private Redis (port $SIFT_REDIS_PORT)"
  redis-cli -p "$SIFT_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$(cat "$pidfile")"
  stopped=1
fi
[ "$stopped" = 1 ] || say "no private PostgreSQL or Redis is running"
