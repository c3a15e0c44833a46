#!/usr/bin/env bash
# A replica whose indexers read from a PostgreSQL hot standby, tested with real processes:
# a primary and a streaming standby (pg_basebackup -R) on private ports, from the
# machine's packages, and a sift with DATABASE_URL on the primary and
# SIFT_DATABASE_REPLICA_URL on the standby. Checks that every write becomes searchable
# (after= waits for the standby's replay), that losing the standby sends the indexers
# to the primary without losing a write, and that its return brings them back.
#
# Usage: scripts/standby-test.sh [sift binary]   (default: target/debug/sift)
# Bounded: about a minute; every wait gives up after 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/provision.sh

sift_bin="$(realpath "${1:-target/debug/sift}")"
[ -x "$sift_bin" ] || die "no sift binary at $sift_bin (cargo build first)"
source scripts/pg-pair.sh
pair_start
sift_port=$(free_port)

say "sift on 127.0.0.1:$sift_port, indexers reading from the standby"
env -u REDIS_URL \
  DATABASE_URL="postgres://postgres@127.0.0.1:$primary_port/sift" \
  SIFT_DATABASE_REPLICA_URL="postgres://postgres@127.0.0.1:$standby_port/sift" \
  SIFT_BIND="127.0.0.1:$sift_port" SIFT_INDEX_DIR="$work/index" SIFT_LOG_FORMAT=json \
  SIFT_CONSISTENCY_TIMEOUT=20s \
  "$sift_bin" serve >"$work/sift.log" 2>&1 &
track $!
base="http://127.0.0.1:$sift_port"
await "sift ready" curl -fsS "$base/ready"

# The standby's state as /health reports it: ok (in use) or degraded.
standby_status() { curl -sS "$base/health" | python3 -c 'import json, sys; print(json.load(sys.stdin)["checks"]["standby"]["status"])'; }
standby_is() { [ "$(standby_status)" = "$1" ]; }
await "the indexers to read from the standby" standby_is ok

curl -fsS -X POST "$base/v1/collections" -H 'content-type: application/json' \
  -d '{"name": "notes", "fields": [{"name": "title", "type": "text"}]}' >/dev/null
# Imports `count` documents numbered from `first`; prints the consistency token.
import_notes() {
  python3 -c 'import json, sys; first, count = map(int, sys.argv[1:]); print("\n".join(json.dumps({"id": f"n{i}", "title": f"standby note {i}"}) for i in range(first, first + count)))' "$1" "$2" \
    | curl -fsS -X POST "$base/v1/collections/notes/documents:import" -H 'content-type: application/x-ndjson' --data-binary @- \
    | python3 -c 'import json, sys; r = json.load(sys.stdin); assert r["failed"] == 0, r; print(r["consistencyToken"])'
}
# The total of a search that waits for `token`.
total_after() { curl -fsS "$base/v1/collections/notes/search?q=standby&after=$1&cache=false" | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])'; }
total_is() { [ "$(total_after "$1")" = "$2" ]; }

started=$(date +%s.%N)
token=$(import_notes 0 5000)
await "5000 notes searchable through the standby" total_is "$token" 5000
say "5000 notes searchable through the standby after $(python3 -c "import time; print(round(time.time() - $started, 2))") s"
# The change log and the documents were read on the standby (its own scan counters).
read_on_standby() { [ "$(psql_at "$standby_port" -d sift -c "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables WHERE relname IN ('document_changes', 'documents')")" -gt 0 ]; }
await "the standby to show the indexer's reads" read_on_standby

say "stopping the standby"
stop_cluster standby immediate
token=$(import_notes 5000 100)
started=$(date +%s.%N)
await "writes searchable with the standby gone" total_is "$token" 5100
say "with the standby gone, writes searchable after $(python3 -c "import time; print(round(time.time() - $started, 2))") s"
await "/health to say the standby is not in use" standby_is degraded

say "starting the standby again"
start_cluster standby "$standby_port"
await "the indexers to read from the standby again" standby_is ok
token=$(import_notes 5100 100)
await "writes searchable through the standby again" total_is "$token" 5200
[ "$(total_after "$token")" = 5200 ] || die "a write was lost"
say "standby test passed: 5200 of 5200 notes searchable"
