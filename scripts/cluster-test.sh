#!/usr/bin/env bash
# sift past one machine, tested with real processes: a PostgreSQL primary and a
# streaming standby, Redis, three sift replicas and HAProxy in front.
#
#   r1, r2: indexers on the standby, serving `notes` only (SIFT_COLLECTIONS=notes)
#   r3:     indexers on the primary, serving every collection
#   HAProxy: /v1/collections/shop-... to r3, everything else to r1, r2, r3; a replica
#            is in rotation only while /ready answers 200
#
# Under a bounded write+search load through the proxy (PUTs, each followed by a search
# with after=<its token> that must find it), r1 is killed with SIGKILL and restarted
# with its index directory gone (it rebuilds), and the standby is restarted; nothing is
# promoted. Then: every acknowledged write is
# stored, every replica converges (`sift check` clean for each collection it serves),
# and the search throughput of one replica and of the three is measured.
#
# Usage: scripts/cluster-test.sh [sift binary]   (default: target/debug/sift)
# Bounded: about 90 s. Prints the figures at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/provision.sh
sift_bin="$(realpath "${1:-target/debug/sift}")"
[ -x "$sift_bin" ] || die "no sift binary at $sift_bin (cargo build first)"
command -v haproxy >/dev/null 2>&1 || apt_install haproxy
source scripts/pg-pair.sh
pair_start
load="python3 scripts/cluster/load.py"
LOAD_SECONDS="${SIFT_CLUSTER_LOAD_SECONDS:-20}"
primary_url="postgres://postgres@127.0.0.1:$primary_port/sift"
standby_url="postgres://postgres@127.0.0.1:$standby_port/sift"
prefix="cluster-test-$$-$(date +%s)"

declare -A port pid
for r in r1 r2 r3 proxy; do port[$r]=$(free_port); done

start_replica() {
  local r=$1; shift
  env "$@" DATABASE_URL="$primary_url" REDIS_URL="$REDIS_URL" SIFT_REDIS_KEY_PREFIX="$prefix" \
    SIFT_BIND="127.0.0.1:${port[$r]}" SIFT_INDEX_DIR="$work/$r" SIFT_LOG_FORMAT=json \
    SIFT_CONSISTENCY_TIMEOUT=20s \
    "$sift_bin" serve >>"$work/$r.log" 2>&1 &
  pid[$r]=$!
  track "${pid[$r]}"
}
replica_args() {
  case $1 in
    r1 | r2) echo "SIFT_DATABASE_REPLICA_URL=$standby_url SIFT_COLLECTIONS=notes" ;;
    r3) echo "SIFT_COLLECTIONS=*" ;;
  esac
}
ready() { curl -fsS "http://127.0.0.1:${port[$1]}/ready"; }
for r in r1 r2 r3; do
  # shellcheck disable=SC2046
  start_replica $r $(replica_args $r)
done
for r in r1 r2 r3; do await "$r ready" ready $r; done

cat >"$work/haproxy.cfg" <<CFG
global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A request a replica never answered (killed) goes to another; writes are PUTs.
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
    default-server inter 300ms fall 1 rise 2
frontend sift
    bind 127.0.0.1:${port[proxy]}
    acl shop path_reg ^/v1/collections/shop-[a-z0-9_-]*(/|:|\$)
    use_backend shop if shop
    default_backend all
backend shop
    option httpchk GET /ready
    http-check expect status 200
    server r3 127.0.0.1:${port[r3]} check
backend all
    option httpchk GET /ready
    http-check expect status 200
    server r1 127.0.0.1:${port[r1]} check
    server r2 127.0.0.1:${port[r2]} check
    server r3 127.0.0.1:${port[r3]} check
CFG
haproxy -c -q -f "$work/haproxy.cfg" || die "haproxy refuses its configuration"
haproxy -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
track $!
base="http://127.0.0.1:${port[proxy]}"
await "the proxy" curl -fsS "$base/ready"

for name in notes shop-a; do
  curl -fsS -X POST "$base/v1/collections" -H 'content-type: application/json' \
    -d "{\"name\": \"$name\", \"fields\": [{\"name\": \"title\", \"type\": \"text\"}]}" >/dev/null
done
searchable() { curl -fsS "http://127.0.0.1:${port[$1]}/v1/collections/$2/search?q=x" ; }
for r in r1 r2 r3; do await "$r: notes" searchable $r notes; done
await "r3: shop-a" searchable r3 shop-a

say "load through the proxy for $LOAD_SECONDS s: kill -9 r1 at 5 s, start it without its index at 8 s, restart the standby at 12 s"
$load write "$base" "$LOAD_SECONDS" 2 "$work/acked" >"$work/load.json" &
load_pid=$!
track $load_pid
sleep 5
kill -9 "${pid[r1]}"
wait "${pid[r1]}" 2>/dev/null || true
killed_at=$(date +%s.%N)
sleep 3
# Its index goes too: it comes back rebuilding, and the proxy keeps it out until /ready.
rm -rf "${work:?}/r1"
# shellcheck disable=SC2046
start_replica r1 $(replica_args r1)
await "r1 ready again" ready r1
r1_back=$(python3 -c "import time; print(round(time.time() - $killed_at, 2))")
sleep 4
stop_cluster standby fast
start_cluster standby "$standby_port"
wait $load_pid || die "the load failed: $(cat "$work/load.json")"
report=$(cat "$work/load.json")
say "load: $report"

# Every acknowledged write is stored (read back through the proxy).
verified=$($load verify "$base" "$work/acked") || die "acknowledged writes are missing: $verified"

# Every replica converges: its index equals PostgreSQL for each collection it serves.
converge_started=$(date +%s.%N)
check() { "$sift_bin" check "$2" --database-url "$primary_url" --index-dir "$work/$1"; }
for r in r1 r2 r3; do await "$r converges on notes" check $r notes; done
await "r3 converges on shop-a" check r3 shop-a
converged=$(python3 -c "import time; print(round(time.time() - $converge_started, 2))")

# Search throughput: one replica directly, then the three through the proxy.
one=$($load search "http://127.0.0.1:${port[r3]}" notes 5 4)
three=$($load search "$base" notes 5 4)

python3 - "$report" "$verified" "$one" "$three" "$r1_back" "$converged" <<'PY'
import json, sys
load, verified, one, three = (json.loads(a) for a in sys.argv[1:5])
r1_back, converged = sys.argv[5:7]
print("cluster test figures:")
print(f"  writes acknowledged: {load['acknowledged']} of {load['writes']} attempted; stored: {verified['acknowledged'] - verified['missing_count']}")
print(f"  client-visible errors: {load['write_errors']} writes, {load['search_errors']} searches; after= searches that missed their write: {load['not_found']}")
print(f"  statuses: {load['statuses']}")
print(f"  r1 killed with SIGKILL, restarted at 3 s without its index: rebuilt and ready {r1_back} s after the kill")
print(f"  convergence after the load: every replica clean within {converged} s")
print(f"  search throughput on notes, 4 clients: 1 replica {one['searches_per_second']}/s, 3 replicas behind HAProxy {three['searches_per_second']}/s (x{three['searches_per_second'] / one['searches_per_second']:.2f})")
assert load["not_found"] == 0, "an after= search missed its write"
assert load["search_errors"] == 0, "searches failed"
assert verified["missing_count"] == 0
PY
say "cluster test passed"
