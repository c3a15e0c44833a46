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

# A second replica with a list of standbys, the first of which does not exist, that
# keeps off the primary: while no standby keeps up, /ready answers 503.
strict_port=$(free_port)
nowhere_port=$(free_port)
env -u REDIS_URL \
  DATABASE_URL="postgres://postgres@127.0.0.1:$primary_port/sift" \
  SIFT_DATABASE_REPLICA_URL="postgres://postgres@127.0.0.1:$nowhere_port/sift,postgres://postgres@127.0.0.1:$standby_port/sift" \
  SIFT_STANDBY_FALLBACK=not-ready SIFT_DB_ACQUIRE_TIMEOUT=1s \
  SIFT_BIND="127.0.0.1:$strict_port" SIFT_INDEX_DIR="$work/strict-index" SIFT_LOG_FORMAT=json \
  "$sift_bin" serve >"$work/strict.log" 2>&1 &
track $!
strict="http://127.0.0.1:$strict_port"
strict_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$strict/ready")" = "$1" ]; }
await "the strict replica ready on the second standby of its list" strict_ready 200

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

# A transaction that commits out of order: it takes its id and writes first, then an
# import with later ids commits while it is still open. Were the standby's horizon to
# pass the open transaction, the indexer would move its watermark beyond that write and
# never apply it.
psql_at "$primary_port" -d sift -v ON_ERROR_STOP=1 >"$work/late.out" <<'SQL' &
BEGIN;
SELECT pg_current_xact_id();
INSERT INTO documents (collection_id, id, body)
  SELECT id, 'late', '{"id": "late", "title": "standby note late"}' FROM collections WHERE name = 'notes';
SELECT pg_sleep(3);
COMMIT;
SQL
late_pid=$!
track $late_pid
await "the late transaction to begin" grep -q . "$work/late.out"
token=$(import_notes 5000 50)
wait $late_pid || die "the late transaction failed"
late_token=$(head -n 1 "$work/late.out")
# The import's token is answered once the horizon passes the open transaction too.
await "the import that committed first to be searchable" total_is "$token" 5051
await "the write that committed last to be searchable" total_is "$late_token" 5051
say "a transaction that committed after later ones was applied, not skipped"

say "stopping the standby"
stop_cluster standby immediate
token=$(import_notes 5050 100)
started=$(date +%s.%N)
await "writes searchable with the standby gone" total_is "$token" 5151
say "with the standby gone, writes searchable after $(python3 -c "import time; print(round(time.time() - $started, 2))") s"
await "/health to say the standby is not in use" standby_is degraded
await "the strict replica to answer /ready with 503" strict_ready 503

say "starting the standby again"
start_cluster standby "$standby_port"
await "the indexers to read from the standby again" standby_is ok
await "the strict replica ready again" strict_ready 200
say "the replica that keeps off the primary was out of rotation while no standby kept up"
token=$(import_notes 5150 100)
await "writes searchable through the standby again" total_is "$token" 5251
[ "$(total_after "$token")" = 5251 ] || die "a write was lost"
say "standby test passed: 5251 of 5251 notes searchable"
