#!/usr/bin/env bash
# Scale, measured: many users, thousands of routers, several instances on one PostgreSQL
# and one Redis, and a cold start of every instance while the routers keep sending.
# Loopback only; bounded in time; stops everything it started. The figures and how to read
# them: README.md, "Sizing and capacity (measured)".
#
# Usage: benches/scale/run.sh [--users N] [--warm N] [--active N] [--nas N]
#          [--instances 1|2] [--duration S] [--cold S] [--rate R] [--conc N] [--bin PATH]
#          [--keep]
#  --users     users seeded in PostgreSQL (default 1000000), in 10 packages
#  --warm      users logged in once, in order, on instance 1 to measure memory per cached
#              profile (RSS and Redis used_memory before/after; default 200000)
#  --active    the users the timed phases pick from, at random (default: --warm); they
#              are the ones in L2 after warming
#  --nas       routers: requests leave from this many loopback addresses 127.1.0.1.. (one
#              `nas` row 127.1.0.0/16 covers them; default 5000)
#  --instances server processes (default 2), each with its own bench process
#  --duration  seconds of the steady-state run (default 20)
#  --cold      seconds of each cold-start run (default 30); the instances are restarted
#              3 s into it
#  --cold-users the users logging in during a cold-start run, at random (default 20000)
#  --rate      open-loop requests/s per instance in the cold-start runs (default 2000)
#  --conc      outstanding requests per bench in the closed-loop runs (default 64)
# Environment: HR_BIN (default target/release/hotspot-radius), PG_BIN (default
# /usr/lib/postgresql/15/bin), OUT (default /tmp/hr-scale-out: results.txt and the
# per-second CSV of each cold start are copied there).
set -euo pipefail

USERS=1000000
WARM=200000
ACTIVE=""
NAS=5000
INSTANCES=2
DURATION=20
COLD=30
COLD_USERS=20000
RATE=2000
CONC=64
KEEP=0
SECRET=scalesecret
HR_BIN=${HR_BIN:-target/release/hotspot-radius}
OUT=${OUT:-/tmp/hr-scale-out}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS=$2; shift 2 ;;
    --warm) WARM=$2; shift 2 ;;
    --active) ACTIVE=$2; shift 2 ;;
    --nas) NAS=$2; shift 2 ;;
    --instances) INSTANCES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --cold) COLD=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --cold-users) COLD_USERS=$2; shift 2 ;;
    --conc) CONC=$2; shift 2 ;;
    --bin) HR_BIN=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ACTIVE=${ACTIVE:-$WARM}
case "$INSTANCES" in 1|2) ;; *) echo "--instances is 1 or 2" >&2; exit 2 ;; esac
[ "$NAS" -ge 1 ] && [ "$NAS" -le 65000 ] || { echo "--nas is 1..65000 (127.1.0.0/16)" >&2; exit 2; }
[ "$WARM" -le "$USERS" ] && [ "$ACTIVE" -le "$USERS" ] || { echo "--warm and --active must not exceed --users" >&2; exit 2; }

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1: install the Debian package $2" >&2; exit 1; }; }
need redis-server redis-server
need redis-cli redis-tools
need curl curl
need ss iproute2
[ -x "$PG_BIN/initdb" ] || { echo "missing $PG_BIN/initdb: install the Debian package postgresql-15" >&2; exit 1; }
[ -x "$HR_BIN" ] || { echo "missing $HR_BIN: cargo build --release" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (PostgreSQL is started as user postgres)" >&2; exit 1; }

# The routers: NAS consecutive addresses from 127.1.0.1.
last=$(( NAS ))
SOURCES="127.1.0.1-127.1.$(( last / 256 )).$(( last % 256 ))"

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/hr-scale.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_STARTED=0
SERVER_PIDS=()
cleanup() {
  set +e
  for p in "${SERVER_PIDS[@]}" "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${SERVER_PIDS[@]}" "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$PG_STARTED" = 1 ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1; fi
  if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

used_ports=" "
free_port() {
  local p
  while :; do
    p=$(( (RANDOM % 20000) + 30000 ))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! (ss -Hlnu; ss -Hlnt) 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then
      used_ports="$used_ports$p "
      echo "$p"; return
    fi
  done
}
log() { echo "[$(date +%T)] $*" >&2; }
RESULTS="$WORK/results.txt"
say() { echo "$*" | tee -a "$RESULTS"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

PGPORT=$(free_port)
REDISPORT=$(free_port)
say "scale run $(date -u +%FT%TZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "users $USERS, warmed $WARM, active $ACTIVE, routers $NAS ($SOURCES), instances $INSTANCES"

# ---- PostgreSQL (pg_stat_statements) and Redis ----
log "PostgreSQL on 127.0.0.1:$PGPORT, Redis on 127.0.0.1:$REDISPORT"
mkdir -p "$WORK/pg" "$WORK/pgsock"
chown postgres:postgres "$WORK/pg" "$WORK/pgsock"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pgsock/pg.log" -w -o \
  "-p $PGPORT -k $WORK/pgsock -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c max_connections=200" start >/dev/null
PG_STARTED=1
psql_() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$WORK/pgsock" -p "$PGPORT" "$@"; }
psql_ -d postgres -c "CREATE ROLE radius LOGIN PASSWORD 'radius'" -c "CREATE DATABASE radius OWNER radius"
psql_ -d radius -c "CREATE EXTENSION pg_stat_statements"
export DATABASE_URL="postgres://radius:radius@127.0.0.1:$PGPORT/radius"
redis-server --port "$REDISPORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
export REDIS_URL="redis://127.0.0.1:$REDISPORT"
rcli() { redis-cli -p "$REDISPORT" "$@"; }
for _ in $(seq 1 50); do rcli ping >/dev/null 2>&1 && break; sleep 0.1; done

"$HR_BIN" migrate >/dev/null

log "seeding $USERS users in 10 packages, and the routers' network"
t0=$(now)
psql_ -d radius -c "SET ROLE radius" -c "
INSERT INTO radcheck (username, attribute, op, value)
  SELECT 'user' || i, 'Cleartext-Password', ':=', 'pass' || i FROM generate_series(0, $USERS - 1) AS i;
INSERT INTO radusergroup (username, groupname, priority)
  SELECT 'user' || i, 'pkg' || (i % 10), 1 FROM generate_series(0, $USERS - 1) AS i;
INSERT INTO radgroupreply (groupname, attribute, op, value)
  SELECT 'pkg' || g, a.attribute, ':=', a.value
  FROM generate_series(0, 9) AS g,
       (VALUES ('Mikrotik-Rate-Limit', '2M/4M'), ('Session-Timeout', '3600'),
               ('Acct-Interim-Interval', '300')) AS a(attribute, value);
INSERT INTO nas (nasname, shortname, type, secret) VALUES ('127.1.0.0/16', 'routers', 'other', '$SECRET');
ANALYZE;"
say "seeding $USERS users (radcheck + radusergroup, generate_series) and ANALYZE: $(elapsed "$t0") s; database size $(psql_ -d radius -At -c "SELECT pg_size_pretty(pg_database_size('radius'))")"

# ---- the instances ----
# All routers are one `nas` entry here (127.1.0.0/16), so they share one miss budget
# (max_misses_per_nas): raised so that a cold start is limited by PostgreSQL, not by it.
cat >"$WORK/server.toml" <<EOF
[server]
max_misses_per_nas = 4096

[cache]
l1_capacity = $(( USERS + USERS / 10 ))
# Longer than the whole run, so that users warmed first are still cached at its end.
l1_ttl_secs = 3600
EOF

declare -a AUTH ADMIN
for i in $(seq 1 "$INSTANCES"); do AUTH[$i]=$(free_port); ADMIN[$i]=$(free_port); done

start_instance() { # $1 = instance number
  local i=$1
  mkdir -p "$WORK/journal$i"
  RADIUS_SECRET="$SECRET" HOTSPOT_RADIUS_JOURNAL_DIR="$WORK/journal$i" "$HR_BIN" --config "$WORK/server.toml" serve \
    --auth-addr "127.0.0.1:${AUTH[$i]}" --acct-addr "127.0.0.1:$(free_port)" --admin-addr "127.0.0.1:${ADMIN[$i]}" \
    >>"$WORK/server$i.log" 2>&1 &
  SERVER_PIDS[$i]=$!
}
stop_instance() {
  local i=$1
  kill "${SERVER_PIDS[$i]}" 2>/dev/null || true
  wait "${SERVER_PIDS[$i]}" 2>/dev/null || true
}
wait_ready() { # $1 = instance; /readyz for up to 60 s
  local i=$1 n
  for n in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:${ADMIN[$i]}/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "${SERVER_PIDS[$i]}" 2>/dev/null || { echo "instance $i exited; see $WORK/server$i.log" >&2; KEEP=1; exit 1; }
    sleep 0.1
  done
  echo "instance $i not ready after 60 s" >&2; KEEP=1; exit 1
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
redis_mem() { rcli info memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
# radius_cache_lookups_total of instance $1 as "l1hit l1miss l2hit l2miss dbhit dbmiss".
tiers() {
  curl -s "http://127.0.0.1:${ADMIN[$1]}/metrics" 2>/dev/null | awk '
    /^radius_cache_lookups_total\{/ {
      t = $0; sub(/.*tier="/, "", t); sub(/".*/, "", t)
      r = $0; sub(/.*result="/, "", r); sub(/".*/, "", r)
      v[t "_" r] = $NF }
    END { printf "%d %d %d %d %d %d\n", v["l1_hit"], v["l1_miss"], v["l2_hit"], v["l2_miss"], v["db_hit"], v["db_miss"] }'
}
# Sum of `tiers` over the instances.
tiers_all() {
  local i
  for i in $(seq 1 "$INSTANCES"); do tiers "$i"; done |
    awk '{ for (k = 1; k <= 6; k++) s[k] += $k } END { printf "%d %d %d %d %d %d\n", s[1], s[2], s[3], s[4], s[5], s[6] }'
}
jget() { sed -n "s/^ *\"$1\": \([-0-9.e+]*\).*/\1/p" "$2" | head -1; }
bench() { # $1 = instance, then bench arguments
  local i=$1; shift
  "$HR_BIN" bench --mode pap --server 127.0.0.1 --auth-port "${AUTH[$i]}" --secret "$SECRET" \
    --source-addrs "$SOURCES" "$@"
}

for i in $(seq 1 "$INSTANCES"); do start_instance "$i"; done
for i in $(seq 1 "$INSTANCES"); do wait_ready "$i"; done
# One login each, so that lazily created state exists before the baseline.
for i in $(seq 1 "$INSTANCES"); do bench "$i" --users 1 --requests 1 --expect accept --json >/dev/null; done
sleep 1

# ---- (a) memory per cached profile ----
log "warming $WARM users on instance 1 (sequential, closed loop $CONC)"
rss0=$(rss_kb "${SERVER_PIDS[1]}"); red0=$(redis_mem)
t0=$(now)
bench 1 --users "$WARM" --user-order sequential --requests "$WARM" --concurrency "$CONC" \
  --timeout 2 --retries 3 --json >"$WORK/warm.json" 2>"$WORK/warm.err" || true
warm_s=$(elapsed "$t0")
sleep 2
rss1=$(rss_kb "${SERVER_PIDS[1]}"); red1=$(redis_mem)
say "warm: $(jget accepts "$WORK/warm.json") accepts, $(jget rejects "$WORK/warm.json") rejects, $(jget timeouts "$WORK/warm.json") timeouts of $WARM in $warm_s s ($(jget throughput "$WORK/warm.json") misses/s, L2 and PostgreSQL)"
say "$(awk -v a="$rss0" -v b="$rss1" -v n="$WARM" 'BEGIN { printf "memory per cached profile (instance RSS): %.0f bytes (RSS %.0f -> %.0f MB for %d users)", (b - a) * 1024 / n, a / 1024, b / 1024, n }')"
say "$(awk -v a="$red0" -v b="$red1" -v n="$WARM" 'BEGIN { printf "Redis L2 per user (used_memory): %.0f bytes (%.0f -> %.0f MB)", (b - a) / n, a / 1048576, b / 1048576 }')"
if [ "$INSTANCES" = 2 ]; then
  log "warming the same users on instance 2 (from L2)"
  t0=$(now)
  bench 2 --users "$WARM" --user-order sequential --requests "$WARM" --concurrency "$CONC" \
    --timeout 2 --retries 3 --json >"$WORK/warm2.json" 2>/dev/null || true
  say "warm instance 2 from L2: $WARM users in $(elapsed "$t0") s ($(jget throughput "$WORK/warm2.json") L2 loads/s)"
fi

# ---- (b) steady state ----
log "steady state: $DURATION s, random users of $ACTIVE, $NAS routers, closed loop $CONC per instance"
t0s=$(tiers_all)
declare -a C0
for i in $(seq 1 "$INSTANCES"); do C0[$i]=$(cpu_ticks "${SERVER_PIDS[$i]}"); done
BP=()
for i in $(seq 1 "$INSTANCES"); do
  bench "$i" --users "$ACTIVE" --duration "$DURATION" --concurrency "$CONC" --json \
    --report "$WORK/steady$i.csv" >"$WORK/steady$i.json" 2>/dev/null &
  BP+=("$!")
done
for p in "${BP[@]}"; do wait "$p" || true; done
ticks=0
for i in $(seq 1 "$INSTANCES"); do ticks=$(( ticks + $(cpu_ticks "${SERVER_PIDS[$i]}") - C0[$i] )); done
t1s=$(tiers_all)
total=0; thr=0; rej=0; p99=""
for i in $(seq 1 "$INSTANCES"); do
  total=$(( total + $(jget replies "$WORK/steady$i.json") ))
  rej=$(( rej + $(jget rejects "$WORK/steady$i.json") ))
  thr=$(awk -v a="$thr" -v b="$(jget throughput "$WORK/steady$i.json")" 'BEGIN { print a + b }')
  p99="$p99 $(jget p99 "$WORK/steady$i.json")"
done
say "steady state: $thr req/s over $INSTANCES instance(s) ($total replies, $rej rejects), p99 per instance (us):$p99"
say "$(awk -v t="$ticks" -v hz="$HZ" -v n="$total" -v d="$DURATION" 'BEGIN { printf "server CPU: %.1f us per request (%.0f %% of one core over the run)", t / hz * 1e6 / (n > 0 ? n : 1), t / hz * 100 / d }')"
say "$(echo "$t0s $t1s" | awk '{ for (k = 1; k <= 6; k++) d[k] = $(k + 6) - $k; l1 = d[1] + d[2]
  printf "cache tiers during the run: L1 hit %d miss %d (hit ratio %.4f), L2 hit %d miss %d, PostgreSQL %d", d[1], d[2], (l1 > 0 ? d[1] / l1 : 0), d[3], d[4], d[5] + d[6] }')"


# ---- (c) cold starts ----
# Per-second db/l2 lookups are sampled from /metrics while bench runs open loop; the
# instances are all restarted 3 s in. p99 per second comes from bench's CSV report.
# Note: an instance's first LISTEN invalidates the shared L2 (rows may have changed while
# no server listened), so a restart empties L2 as well as L1: "restart" and
# "restart-redis-flushed" differ only by the FLUSHDB. bench uses 4 sockets (1,024
# identifiers) so that requests in flight while the instances are down do not stop it.
cold_run() { # $1 = label, $2 = "flush" to empty Redis (L2) before the restart
  local label=$1 flush=${2:-} i
  log "cold start ($label): open loop $RATE req/s per instance, $COLD_USERS users, for $COLD s, restart at 3 s"
  BP=()
  for i in $(seq 1 "$INSTANCES"); do
    bench "$i" --users "$COLD_USERS" --duration "$COLD" --rate "$RATE" --sockets 4 --timeout 1 --retries 2 --json \
      --report "$WORK/cold-$label-$i.csv" >"$WORK/cold-$label-$i.json" 2>/dev/null &
    BP+=("$!")
  done
  sleep 3
  local stopping; stopping=$(now)
  for i in $(seq 1 "$INSTANCES"); do kill "${SERVER_PIDS[$i]}" 2>/dev/null || true; done
  for i in $(seq 1 "$INSTANCES"); do stop_instance "$i"; done
  say "cold start ($label): instances stopped (SIGTERM, graceful) in $(elapsed "$stopping") s"
  if [ "$flush" = flush ]; then
    # Only the profile cache (l2 keys); the signing key lives in PostgreSQL.
    rcli flushdb >/dev/null
  fi
  local restarted; restarted=$(now)
  for i in $(seq 1 "$INSTANCES"); do start_instance "$i"; done
  for i in $(seq 1 "$INSTANCES"); do wait_ready "$i"; done
  say "cold start ($label): instances ready $(elapsed "$restarted") s after the restart began"
  # The counters of the new processes start at 0 when they start.
  echo "$restarted 0 0 0 0 0 0" >"$WORK/cold-$label-tiers.txt"
  while kill -0 "${BP[0]}" 2>/dev/null; do
    echo "$(now) $(tiers_all)" >>"$WORK/cold-$label-tiers.txt"
    sleep 1
  done
  for p in "${BP[@]}"; do wait "$p" || true; done
  local rej=0 to=0 acc=0 sk=0 rt=0
  for i in $(seq 1 "$INSTANCES"); do
    rej=$(( rej + $(jget rejects "$WORK/cold-$label-$i.json") ))
    to=$(( to + $(jget timeouts "$WORK/cold-$label-$i.json") ))
    acc=$(( acc + $(jget accepts "$WORK/cold-$label-$i.json") ))
    sk=$(( sk + $(jget skipped "$WORK/cold-$label-$i.json") ))
    rt=$(( rt + $(jget retransmits "$WORK/cold-$label-$i.json") ))
  done
  say "cold start ($label): $acc accepts, $rej rejects, $to timeouts (after 2 retries), $rt retransmissions, $sk not sent (no free identifier)"
  if [ "$rej" != 0 ]; then
    say "!!!!!!!! FAIL: $rej FALSE REJECTS during the cold start ($label) !!!!!!!!"
  fi
  # Loads per second after the restart (db and l2 tiers), from the samples.
  say "$(awk '{ if (NR > 1) { dt = $1 - t; db = ($6 + $7 - pdb) / dt; l2 = ($4 + $5 - pl2) / dt; l2h = ($4 - pl2h) / dt
        if (db > maxdb) maxdb = db; if (l2h > maxl2) maxl2 = l2h }
      t = $1; pdb = $6 + $7; pl2 = $4 + $5; pl2h = $4 }
    END { printf "cold start: peak PostgreSQL loads %.0f/s, peak L2 hits %.0f/s (per-second samples of /metrics)", maxdb, maxl2 }' \
    "$WORK/cold-$label-tiers.txt") ($label)"
  # p99 per second of instance 1 (the last, partial second left out): before the restart
  # (second 2), the worst after it, and from when on it stays under 1 ms.
  say "$(awk -F, -v end="$COLD" 'NR > 1 && $1 == 2 { before = $11 }
    NR > 1 && $1 >= 3 && $1 < end { s = $1; p = $11
      if (p == "" || p + 0 >= 1000) last_over = s
      if (first_under == "" && s > 3 && p != "" && p + 0 < 1000) first_under = s - 3
      if (p != "" && p + 0 > worst) worst = p }
    END { back = (last_over == "" ? "0" : (last_over == end - 1 ? "never, within the run" : last_over - 3 + 1))
      printf "cold start: p99 %s us the second before the restart, worst p99 %d us after it, first under 1 ms again %s s after the restart, under 1 ms for good from second %s (of %d)",
      before, worst, (first_under == "" ? "never" : first_under), back, end - 3 }' "$WORK/cold-$label-1.csv") ($label; instance 1)"
  cp "$WORK/cold-$label-1.csv" "$OUT/cold-$label.csv"
  say "per-second samples (instance 1): $OUT/cold-$label.csv"
}

cold_run restart
cold_run restart-redis-flushed flush

say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "done; results:"
cat "$RESULTS" >&2
cp "$RESULTS" "$OUT/results.txt"
for i in $(seq 1 "$INSTANCES"); do cp "$WORK/server$i.log" "$OUT/server$i.log"; done
