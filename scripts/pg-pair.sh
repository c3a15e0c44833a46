#!/usr/bin/env bash
# Helpers for tests with real processes: a PostgreSQL primary and a streaming hot
# standby (pg_basebackup -R) on private ports, from the machine's packages, in a
# scratch directory removed on exit. Sourced after scripts/provision.sh by
# scripts/standby-test.sh and scripts/cluster-test.sh.
#
# After `pair_start`: $work, $bin, $primary_port, $standby_port, and a database `sift`
# on the primary, replicated to the standby. Processes started with `track PID` are
# killed on exit.

command -v python3 >/dev/null 2>&1 || apt_install python3
bin=$(pg_bin_dir) || true
if [ -z "$bin" ]; then
  apt_install postgresql postgresql-client
  bin=$(pg_bin_dir) || die "PostgreSQL binaries not found after installing"
fi

# A port that is free now and stays out of the way of others: picked at random below the
# kernel's ephemeral range, because a port that bind(0) handed out is handed out again to
# the next process binding port 0 (the tests running beside this script), and a server
# started a moment later then fails with "Address already in use". A port this script
# handed out before is never handed out again (`$work/ports`): nothing listens on it yet
# when the next is picked, and two replicas given one port once made a replica answer
# for another (CI, session 35).
free_port() {
  python3 - "$work/ports" <<'PY'
import random, socket, sys
taken_file = sys.argv[1]
try:
    taken = set(open(taken_file).read().split())
except OSError:
    taken = set()
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
def free(port):
    if str(port) in taken:
        return False
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
for _ in range(200):
    port = random.randrange(10000, max(low, 10001))
    if free(port):
        break
else:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if str(port) not in taken:
            break
with open(taken_file, "a") as f:
    f.write(f"{port}\n")
print(port)
PY
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sift-pair.XXXXXX")
chmod 755 "$work"
# PostgreSQL refuses to run as root: run it as the `postgres` user the package made.
run=()
if [ "$(id -u)" -eq 0 ]; then
  run=(runuser -u postgres --)
  chown postgres: "$work"
fi
tracked=()
track() { tracked+=("$1"); }
pair_cleanup() {
  for pid in "${tracked[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for cluster in standby primary; do
    [ -s "$work/$cluster/postmaster.pid" ] && "${run[@]}" "$bin/pg_ctl" -D "$work/$cluster" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap pair_cleanup EXIT

# Waits up to 60 s for a command to succeed, or fails naming what it waited for.
await() {
  local what=$1; shift
  for _ in $(seq 1 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  for log in "$work"/*.log; do [ -f "$log" ] && { echo "== $log" >&2; tail -n 15 "$log" >&2; }; done
  die "timed out waiting: $what"
}

psql_at() { local port=$1; shift; psql -h 127.0.0.1 -p "$port" -U postgres -Atq "$@"; }

start_cluster() {
  local name=$1 port=$2
  "${run[@]}" "$bin/pg_ctl" -D "$work/$name" -l "$work/$name.log" -w -t 60 \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c hot_standby_feedback=on -c fsync=off -c max_connections=200" \
    start >/dev/null || { cat "$work/$name.log" >&2; die "$name did not start"; }
}

stop_cluster() { "${run[@]}" "$bin/pg_ctl" -D "$work/$1" -m "${2:-fast}" stop >/dev/null; }

pair_start() {
  primary_port=$(free_port)
  standby_port=$(free_port)
  say "primary on 127.0.0.1:$primary_port, standby on 127.0.0.1:$standby_port"
  "${run[@]}" "$bin/initdb" -D "$work/primary" -U postgres -A trust -E UTF8 --no-locale >/dev/null
  start_cluster primary "$primary_port"
  psql_at "$primary_port" -c "CREATE DATABASE sift"
  "${run[@]}" "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
    -D "$work/standby" -R -X stream -c fast
  start_cluster standby "$standby_port"
  [ "$(psql_at "$standby_port" -d sift -c 'SELECT pg_is_in_recovery()')" = t ] || die "the standby is not in recovery"
}
