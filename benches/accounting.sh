#!/usr/bin/env bash
# Accounting group commit, measured against a running PostgreSQL (e.g. the one
# `scripts/run.sh --services-only --detach` starts; its URL is in .run/env).
#
# Usage: benches/accounting.sh [--bin PATH] [--writers N] [--max-wait-ms N] [--duration S]
#                              [--keep-rows]
# Starts `hotspot-radius serve` on 127.0.0.1:28112-28114 with a private journal, runs
# `bench --mode acct` (64 outstanding) against it, and prints throughput, p99, the batch
# size and commit latency the writers reached, and the server's CPU per request. radacct is
# truncated first unless --keep-rows (to measure with a large table already in place).
# Loopback only; bounded in time; stops the server it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=target/release/hotspot-radius WRITERS=2 WAIT=0 DURATION=15 KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
        --bin) BIN=$2; shift 2 ;;
        --writers) WRITERS=$2; shift 2 ;;
        --max-wait-ms) WAIT=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --keep-rows) KEEP=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
: "${DATABASE_URL:?set DATABASE_URL (e.g. . .run/env)}"
work=$(mktemp -d /tmp/hr-acctbench.XXXXXX)
cat >"$work/server.toml" <<TOML
[server]
auth_addr = "127.0.0.1:28112"
acct_addr = "127.0.0.1:28113"
[admin]
addr = "127.0.0.1:28114"
[database]
url = "$DATABASE_URL"
pool_size = 8
[accounting]
journal_dir = "$work/journal"
writers = $WRITERS
max_wait_ms = $WAIT
[postauth]
log = "off"
[[nas]]
address = "127.0.0.1"
secret = "bench"
TOML
"$BIN" --config "$work/server.toml" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
sleep 1.5
kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
[ "$KEEP" = 1 ] || psql "$DATABASE_URL" -qAt -c "TRUNCATE radacct"
ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
t0=$(ticks)
"$BIN" bench --mode acct --server 127.0.0.1 --auth-port 28112 --acct-port 28113 --secret bench \
    --concurrency 64 --duration "$DURATION" --json >"$work/bench.json" 2>/dev/null
t1=$(ticks)
metrics=$(curl -s http://127.0.0.1:28114/metrics)
get() { sed -n "s/^ *\"$1\": \([0-9.]*\).*/\1/p" "$work/bench.json" | head -1; }
replies=$(get replies)
awk -v tput="$(get throughput)" -v p99="$(get p99)" -v rep="$replies" -v dt=$((t1 - t0)) \
    -v hz="$(getconf CLK_TCK)" -v w="$WRITERS" -v m="$metrics" 'BEGIN {
    n = split(m, lines, "\n")
    for (i = 1; i <= n; i++) {
        split(lines[i], f, " ")
        if (f[1] == "radius_accounting_batch_size_sum") bs = f[2]
        if (f[1] == "radius_accounting_batch_size_count") bc = f[2]
        if (f[1] == "radius_accounting_commit_seconds_sum") cs = f[2]
        if (f[1] == "radius_accounting_commit_seconds_count") cc = f[2]
    }
    printf "writers=%d: %.0f records/s, p99 %.2f ms, %.1f records per batch, %.2f ms per commit, server %.1f us CPU per request\n",
        w, tput, p99 / 1000, (bc > 0 ? bs / bc : 0), (cc > 0 ? 1000 * cs / cc : 0), (rep > 0 ? 1e6 * dt / hz / rep : 0)
}'
