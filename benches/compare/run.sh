#!/usr/bin/env bash
# Side-by-side benchmark: FreeRADIUS 3.2 (rlm_sql on PostgreSQL, and the `files` backend)
# against hotspot-radius on the same PostgreSQL (+ Redis), driven by `hotspot-radius bench`.
# Loopback only; bounded in time; stops everything it started. See README.md beside it.
#
# Usage: benches/compare/run.sh [--targets "fr-sql fr-files ours ours-local"] [--users N]
#          [--duration S] [--warmup S] [--loads "pap chap acct hotspot"] [--conc "16 64"]
#          [--bin PATH] [--fr-threads "4 8 16 32"] [--rounds N] [--sockets N]
#          [--schema ours|freeradius] [--keep]
# --fr-threads takes a list: every FreeRADIUS target runs at each thread-pool size (logging
# off), and ours is compared with FreeRADIUS at its best per load and round. --rounds
# repeats everything back to back and reports the median and spread of the ratio.
# --sockets is the number of client sockets `bench` sends from (1 = one NAS source port).
# With the hotspot load, every user also gets Simultaneous-Use := 1 and a quota
# (Max-Daily-Session, Max-Total-Octets), FreeRADIUS fr-sql checks them (session { sql },
# sqlcounter), and after the loads each target runs a login-only phase whose SQL
# statements are counted with pg_stat_statements (LOGIN_REQUESTS logins, default 10000).
# Environment: HR_BIN (default target/release/hotspot-radius), BENCH_CMD (default "$HR_BIN
# bench"), OUR_SERVE_ARGS (extra flags for `serve`), PG_BIN (default
# /usr/lib/postgresql/15/bin), FR_CONF (default /etc/freeradius/3.0).
set -euo pipefail

USERS=100000
DURATION=10
WARMUP=3
LOADS="pap chap acct hotspot"
CONC="16 64"
TARGETS="fr-sql fr-files ours"
SCHEMA=ours
KEEP=0
SECRET=benchsecret
HR_BIN=${HR_BIN:-target/release/hotspot-radius}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
FR_CONF=${FR_CONF:-/etc/freeradius/3.0}
THREADS=${FR_THREADS:-16}   # FreeRADIUS thread pool (start = max) and rlm_sql pool size
FR_THREAD_LIST=""
ROUNDS=1
SOCKETS=""

while [ $# -gt 0 ]; do
  case "$1" in
    --targets) TARGETS=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --loads) LOADS=$2; shift 2 ;;
    --conc) CONC=$2; shift 2 ;;
    --bin) HR_BIN=$2; shift 2 ;;
    --fr-threads) FR_THREAD_LIST=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --sockets) SOCKETS=$2; shift 2 ;;
    --schema) SCHEMA=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BENCH_CMD=${BENCH_CMD:-"$HR_BIN bench"}
# The hotspot mix: Simultaneous-Use and quota rows for every user, checked by both servers.
HOTSPOT=0
case " $LOADS " in *" hotspot "*) HOTSPOT=1 ;; esac
MAX_DAILY_SESSION=86400            # seconds a day
MAX_TOTAL_OCTETS=10737418240       # 10 GiB
LOGIN_REQUESTS=${LOGIN_REQUESTS:-10000}

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1: install the Debian package $2" >&2; exit 1; }; }
need freeradius freeradius
need perl perl
need redis-server redis-server
[ -x "$PG_BIN/initdb" ] || { echo "missing $PG_BIN/initdb: install the Debian package postgresql-15" >&2; exit 1; }
[ -e /usr/lib/freeradius/rlm_sql_postgresql.so ] || { echo "missing rlm_sql_postgresql: install the Debian package freeradius-postgresql" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (PostgreSQL is started as user postgres)" >&2; exit 1; }
read -r -a BENCH <<<"$BENCH_CMD"

WORK=$(mktemp -d /tmp/hr-compare.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_STARTED=0
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$PG_STARTED" = 1 ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1; fi
  if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

# A free port (TCP and UDP) on 127.0.0.1.
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

PGPORT=$(free_port)
REDISPORT=$(free_port)
log() { echo "[$(date +%T)] $*" >&2; }

# ---- PostgreSQL with pg_stat_statements ----
log "PostgreSQL on 127.0.0.1:$PGPORT"
mkdir -p "$WORK/pg" "$WORK/pgsock"
chown postgres:postgres "$WORK/pg" "$WORK/pgsock"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pgsock/pg.log" -w -o \
  "-p $PGPORT -k $WORK/pgsock -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c max_connections=200" start >/dev/null
PG_STARTED=1
psql_() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$WORK/pgsock" -p "$PGPORT" "$@"; }
psql_ -d postgres -c "CREATE ROLE radius LOGIN PASSWORD 'radius'" -c "CREATE DATABASE radius OWNER radius"
psql_ -d radius -c "CREATE EXTENSION pg_stat_statements"
DATABASE_URL="postgres://radius:radius@127.0.0.1:$PGPORT/radius"
export DATABASE_URL

if [ "$SCHEMA" = ours ]; then
  log "schema: hotspot-radius migrate"
  "$HR_BIN" migrate
else
  log "schema: FreeRADIUS schema.sql (--schema freeradius)"
  { echo "SET ROLE radius;"; cat "$FR_CONF/mods-config/sql/main/postgresql/schema.sql"; } | psql_ -d radius -f - >/dev/null
fi

log "seeding $USERS users in 10 groups"
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
INSERT INTO nas (nasname, shortname, type, secret) VALUES ('127.0.0.1', 'bench', 'other', '$SECRET');"
if [ "$HOTSPOT" = 1 ]; then
  log "hotspot load: Simultaneous-Use := 1, Max-Daily-Session := $MAX_DAILY_SESSION, Max-Total-Octets := $MAX_TOTAL_OCTETS for every user"
  psql_ -d radius -c "SET ROLE radius" -c "
  INSERT INTO radcheck (username, attribute, op, value)
    SELECT 'user' || i, a.attribute, ':=', a.value FROM generate_series(0, $USERS - 1) AS i,
      (VALUES ('Simultaneous-Use', '1'), ('Max-Daily-Session', '$MAX_DAILY_SESSION'),
              ('Max-Total-Octets', '$MAX_TOTAL_OCTETS')) AS a(attribute, value);"
fi
psql_ -d radius -c "ANALYZE"

# ---- FreeRADIUS configuration ----
# A private copy of the packaged configuration. Changes (everything else is the Debian default):
#  - listens on 127.0.0.1 only, on free ports; inner-tunnel disabled;
#  - runs as root (no user/group switch) with logs and pid in the work dir;
#  - thread pool start_servers = max_servers = $THREADS (spares $THREADS), so no thread is
#    spawned during a run; max_requests raised to 65536;
#  - rlm_sql: postgresql dialect/driver on our database, pool of $THREADS connections;
#  - clients.conf: only 127.0.0.1 with the bench secret;
#  - with the hotspot load, fr-sql only: `sql` in the default site's session {} section
#    (stock Simultaneous-Use: rlm_sql's simul_count_query on radacct), the sqlcounter
#    module enabled with `dailycounter` (stock, Max-Daily-Session) and a `totaloctets`
#    counter (Max-Total-Octets, defined in the copy's dictionary) after sql in authorize.
#  Kept defaults: reject_delay = 1 (no rejects in these loads), status_server, the default
#  site's authorize/accounting/post-auth (detail file, radpostauth insert, ...).
make_fr_conf() { # $1 = dir, $2 = sql|files, $3 = auth port, $4 = acct port
  local d=$1
  rm -rf "$d"  # a later round starts from the stock config again
  cp -a "$FR_CONF" "$d"
  rm -f "$d/sites-enabled/inner-tunnel"
  mkdir -p "$d/log" "$d/run" "$d/log/radacct"
  perl -0pi -e "s/^logdir = .*\$/logdir = $(printf '%s' "$d/log" | sed 's/\//\\\//g')/m;
    s/^run_dir = .*\$/run_dir = $(printf '%s' "$d/run" | sed 's/\//\\\//g')/m;
    s/^(\s*)(user|group) = freerad/\$1#\$2 = freerad/mg;
    s/^(\s*)start_servers = \d+/\${1}start_servers = $THREADS/m;
    s/^(\s*)max_servers = \d+/\${1}max_servers = $THREADS/m;
    s/^(\s*)min_spare_servers = \d+/\${1}min_spare_servers = $THREADS/m;
    s/^(\s*)max_spare_servers = \d+/\${1}max_spare_servers = $THREADS/m;
    s/^max_requests = \d+/max_requests = 65536/m;" "$d/radiusd.conf"
  # The default site's listen sections are replaced by IPv4 loopback auth/acct on our ports.
  perl -0pi -e "s/^listen \{.*?^\}\n//gms;
    s/^server default \{\n/server default {\nlisten {\n\ttype = auth\n\tipaddr = 127.0.0.1\n\tport = $3\n}\nlisten {\n\ttype = acct\n\tipaddr = 127.0.0.1\n\tport = $4\n}\n/m;" \
    "$d/sites-available/default"
  cat >"$d/clients.conf" <<EOF
client bench {
	ipaddr = 127.0.0.1
	secret = $SECRET
}
EOF
  if [ "$2" = sql ]; then
    ln -sf ../mods-available/sql "$d/mods-enabled/sql"
    perl -0pi -e "s/dialect = \"sqlite\"/dialect = \"postgresql\"/;
      s/driver = \"rlm_sql_null\"/driver = \"rlm_sql_postgresql\"/;
      s/^\s*radius_db = \"radius\"/\tradius_db = \"host=127.0.0.1 port=$PGPORT dbname=radius user=radius password=radius\"/m;
      s/\\\$\{thread\[pool\]\.start_servers\}/$THREADS/; s/\\\$\{thread\[pool\]\.min_spare_servers\}/$THREADS/;
      s/\\\$\{thread\[pool\]\.max_servers\}/$THREADS/; s/\\\$\{thread\[pool\]\.max_spare_servers\}/$THREADS/;" \
      "$d/mods-available/sql"
    if [ "$HOTSPOT" = 1 ]; then
      # Stock Simultaneous-Use via radacct: uncomment sql in session {}.
      perl -0pi -e 's/^(session \{\n(?:(?!^\}).)*?)^#(\tsql\n)/$1$2/ms' "$d/sites-available/default"
      grep -Pzq '(?s)\nsession \{\n(?:(?!\n\}).)*\n\tsql\n' "$d/sites-available/default" ||
        { echo "could not enable sql in the session section of $d/sites-available/default" >&2; exit 1; }
      # Quotas: the stock daily session-time counter and a total-octets counter.
      ln -sf ../mods-available/sqlcounter "$d/mods-enabled/sqlcounter"
      cat >>"$d/mods-available/sqlcounter" <<'EOF'

# hotspot-radius bench: total octets (input + output) ever used, against Max-Total-Octets.
sqlcounter totaloctets {
	sql_module_instance = sql
	dialect = ${modules.sql.dialect}
	counter_name = Total-Octets-Used
	check_name = Max-Total-Octets
	key = User-Name
	reset = never
	query = "SELECT SUM(AcctInputOctets + AcctOutputOctets) FROM radacct WHERE UserName='%{${key}}'"
}
EOF
      printf '\nATTRIBUTE\tMax-Total-Octets\t3190\tinteger64\n' >>"$d/dictionary"
      perl -0pi -e 's/^(authorize \{\n(?:(?!^\}).)*?^\t-sql\n)/$1\tdailycounter\n\ttotaloctets\n/ms' \
        "$d/sites-available/default"
      grep -Pzq '(?s)\nauthorize \{\n(?:(?!\n\}).)*\n\t-sql\n\tdailycounter\n' "$d/sites-available/default" ||
        { echo "could not add the sqlcounters to authorize in $d/sites-available/default" >&2; exit 1; }
    fi
  else
    rm -f "$d/mods-enabled/sql"
    # The same users and replies as the database, in a users file.
    awk -v n="$USERS" 'BEGIN { for (i = 0; i < n; i++)
      printf "user%d Cleartext-Password := \"pass%d\"\n\tMikrotik-Rate-Limit = \"2M/4M\",\n\tSession-Timeout = 3600,\n\tAcct-Interim-Interval = 300\n\n", i, i }' \
      >"$d/mods-config/files/authorize"
  fi
}

AUTHPORT=0; ACCTPORT=0; SERVER_PID=0

wait_ready() { # retry one accepted PAP request for up to 60 s
  local i
  for i in $(seq 1 120); do
    if "${BENCH[@]}" --mode pap --server 127.0.0.1 --auth-port "$AUTHPORT" --acct-port "$ACCTPORT" \
        --secret "$SECRET" --users "$USERS" --requests 1 --timeout 0.5 --expect accept --json >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "server exited; see $WORK" >&2; KEEP=1; return 1; fi
    sleep 0.5
  done
  echo "server not answering after 60 s" >&2; KEEP=1; return 1
}

start_target() { # $1 = target name, fr-* optionally with @THREADS
  AUTHPORT=$(free_port); ACCTPORT=$(free_port)
  local name=${1%@*}
  if [ "$name" != "$1" ]; then THREADS=${1#*@}; fi
  case "$name" in
    fr-sql|fr-files)
      local d="$WORK/$1"
      make_fr_conf "$d" "${name#fr-}" "$AUTHPORT" "$ACCTPORT"
      freeradius -f -d "$d" -l "$d/log/radius.log" &
      SERVER_PID=$! ;;
    ours|ours-local)
      # ours-local: no Redis (in-process caches and session store; one instance only).
      local redis_url=""
      if [ "$name" = ours ]; then
        if [ -z "${REDIS_PID:-}" ]; then
          redis-server --port "$REDISPORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
          REDIS_PID=$!; PIDS+=("$REDIS_PID")
        fi
        redis_url="redis://127.0.0.1:$REDISPORT"
      fi
      OUR_ADMIN=$(free_port)
      env ${redis_url:+REDIS_URL="$redis_url"} RADIUS_SECRET="$SECRET" \
        HOTSPOT_RADIUS_JOURNAL_DIR="$WORK/journal" "$HR_BIN" serve \
        --auth-addr "127.0.0.1:$AUTHPORT" --acct-addr "127.0.0.1:$ACCTPORT" --admin-addr "127.0.0.1:$OUR_ADMIN" \
        ${OUR_SERVE_ARGS:-} >"$WORK/ours.log" 2>&1 &
      SERVER_PID=$! ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
  esac
  PIDS+=("$SERVER_PID")
  wait_ready
}

stop_target() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
jget() { sed -n "s/^ *\"$1\": \([-0-9.e+]*\).*/\1/p" "$2" | head -1; }
sql_calls() {
  psql_ -d radius -At -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'radius')
      AND query NOT ILIKE '%pg_stat_statements%'"
}
# The statements behind sql_calls, most called first (calls, then the query's start).
sql_top() {
  psql_ -d radius -At -F ' ' -c "SELECT calls, left(regexp_replace(query, '\s+', ' ', 'g'), 110)
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'radius')
      AND query NOT ILIKE '%pg_stat_statements%'
    ORDER BY calls DESC LIMIT 12"
}
HZ=$(getconf CLK_TCK)
# Our accounting batches: "<sum> <count>" of radius_accounting_batch_size so far.
batch_stats() {
  curl -s "http://127.0.0.1:$OUR_ADMIN/metrics" 2>/dev/null | awk '
    /^radius_accounting_batch_size_sum/ { s = $2 } /^radius_accounting_batch_size_count/ { c = $2 }
    END { printf "%s %s\n", s + 0, c + 0 }'
}

# Expand FreeRADIUS targets over the thread-pool sizes asked for.
if [ -n "$FR_THREAD_LIST" ]; then
  expanded=""
  for t in $TARGETS; do
    case "$t" in
      fr-*) for n in $FR_THREAD_LIST; do expanded="$expanded $t@$n"; done ;;
      *) expanded="$expanded $t" ;;
    esac
  done
  TARGETS=$expanded
fi
SOCKET_ARGS=()
[ -n "$SOCKETS" ] && SOCKET_ARGS=(--sockets "$SOCKETS")

RESULTS="$WORK/results.md"
{
  echo "| round | server | load | outstanding | req/s | p50 ms | p99 ms | SQL/req | CPU % | CPU µs/req | RSS MB | errors | rejects | sessions/s |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$RESULTS"
LOGINS="$WORK/logins.md"
{
  echo "| round | server | logins | accepts | rejects | SQL statements | SQL per login |"
  echo "|---:|---|---:|---:|---:|---:|---:|"
} >"$LOGINS"
REJECTED=""

# Login-only phase (hotspot mix): LOGIN_REQUESTS CHAP logins, each user at most once
# (sequential), warm caches, no accounting; pg_stat_statements counts every statement the
# database ran meanwhile (the measurement's own queries excluded).
login_phase() { # $1 = round, $2 = target
  local n=$LOGIN_REQUESTS out="$WORK/$2-logins.json" calls
  [ "$n" -gt "$USERS" ] && n=$USERS
  sleep 1   # let accounting writes still queued from the last load land before the reset
  psql_ -d radius -At -c "SELECT pg_stat_statements_reset()" >/dev/null
  "${BENCH[@]}" --mode chap --server 127.0.0.1 --auth-port "$AUTHPORT" --acct-port "$ACCTPORT" \
    --secret "$SECRET" --users "$USERS" --user-order sequential --requests "$n" \
    --concurrency 64 --timeout 2 --json >"$out" 2>/dev/null || true
  calls=$(sql_calls)
  sql_top >"$WORK/$2-login-sql.txt"
  awk -v r="$1" -v t="$2" -v rep="$(jget replies "$out")" -v acc="$(jget accepts "$out")" \
      -v rej="$(jget rejects "$out")" -v calls="$calls" 'BEGIN {
    printf "| %s | %s | %d | %d | %d | %d | %.3f |\n", r, t, rep, acc, rej, calls, (rep > 0 ? calls / rep : 0) }' >>"$LOGINS"
  log "$2 login phase: $(tail -1 "$LOGINS")"
  if [ "$(jget rejects "$out")" != 0 ]; then REJECTED="$REJECTED $2/login-phase"; fi
}

for round in $(seq 1 "$ROUNDS"); do
for target in $TARGETS; do
  log "round $round: starting $target"
  start_target "$target"
  # Warm every target once with each user (sequential PAP): the issue measures warm caches,
  # and FreeRADIUS gets the same pass (it warms PostgreSQL's buffers for rlm_sql).
  log "$target: warming with one request per user"
  "${BENCH[@]}" --mode pap --server 127.0.0.1 --auth-port "$AUTHPORT" --acct-port "$ACCTPORT" \
    --secret "$SECRET" --users "$USERS" --user-order sequential --requests "$USERS" \
    --concurrency 64 --timeout 2 --json >/dev/null 2>&1 || true
  for load in $LOADS; do
    for c in $CONC; do
      common=(--mode "$load" --server 127.0.0.1 --auth-port "$AUTHPORT" --acct-port "$ACCTPORT"
              --secret "$SECRET" --users "$USERS" --concurrency "$c" --timeout 2 "${SOCKET_ARGS[@]}")
      # The hotspot mix: CHAP login, then Start, 3 Interim-Updates, Stop.
      [ "$load" = hotspot ] && common+=(--hotspot-auth chap --interims 3)
      "${BENCH[@]}" "${common[@]}" --duration "$WARMUP" --json >/dev/null 2>&1 || true
      psql_ -d radius -At -c "SELECT pg_stat_statements_reset()" >/dev/null
      case "$target" in ours*) b0=$(batch_stats) ;; esac
      t0=$(cpu_ticks "$SERVER_PID"); s0=$(date +%s.%N)
      out="$WORK/$target-$load-$c.json"
      "${BENCH[@]}" "${common[@]}" --duration "$DURATION" --json >"$out" 2>/dev/null || true
      t1=$(cpu_ticks "$SERVER_PID"); s1=$(date +%s.%N)
      calls=$(sql_calls)
      replies=$(jget replies "$out"); tput=$(jget throughput "$out")
      p50=$(jget p50 "$out"); p99=$(jget p99 "$out")
      errs=$(( $(jget timeouts "$out") + $(jget bad_replies "$out") ))
      rejs=$(jget rejects "$out")
      sps=-; [ "$load" = hotspot ] && sps=$(jget sessions_per_s "$out")
      if [ "$load" = hotspot ] && [ "${rejs:-0}" != 0 ]; then REJECTED="$REJECTED $target/$load/c=$c"; fi
      awk -v r="$round" -v t="$target" -v l="$load" -v c="$c" -v tp="$tput" -v p50="$p50" -v p99="$p99" \
          -v calls="$calls" -v rep="$replies" -v dt=$((t1 - t0)) -v hz="$HZ" -v s0="$s0" -v s1="$s1" \
          -v rss="$(rss_mb "$SERVER_PID")" -v e="$errs" -v rj="$rejs" -v sps="$sps" 'BEGIN {
        printf "| %s | %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %.0f | %.1f | %s | %s | %s | %s |\n",
          r, t, l, c, tp, p50 / 1000, p99 / 1000, (rep > 0 ? calls / rep : 0), 100 * dt / hz / (s1 - s0),
          (rep > 0 ? 1e6 * dt / hz / rep : 0), rss, e, rj, (sps == "-" ? "-" : sprintf("%.0f", sps)) }' >>"$RESULTS"
      log "$target $load c=$c: $(tail -1 "$RESULTS")"
      case "$target" in ours*)
        read -r bs0 bc0 <<<"$b0"; read -r bs1 bc1 <<<"$(batch_stats)"
        awk -v t="$target" -v s0="$bs0" -v s1="$bs1" -v c0="$bc0" -v c1="$bc1" 'BEGIN { c = c1 - c0; if (c > 0)
          printf "    %s: %d accounting batches, %.1f records per batch\n", t, c, (s1 - s0) / c }' ;;
      esac
    done
  done
  [ "$HOTSPOT" = 1 ] && login_phase "$round" "$target"
  stop_target
done
done

echo
echo "users=$USERS duration=${DURATION}s warmup=${WARMUP}s cores=$(nproc) rounds=$ROUNDS sockets=${SOCKETS:-bench default} FreeRADIUS threads=${FR_THREAD_LIST:-$THREADS}"
cat "$RESULTS"
if [ "$HOTSPOT" = 1 ]; then
  echo
  echo "SQL statements during a login-only phase (CHAP, warm caches, each user once; pg_stat_statements calls in the radius database):"
  cat "$LOGINS"
  for f in "$WORK"/*-login-sql.txt; do
    [ -s "$f" ] || continue
    echo "  statements, $(basename "$f" -login-sql.txt) (calls, query):"
    sed 's/^/    /' "$f"
  done
fi
if [ -n "$REJECTED" ]; then
  echo
  echo "!!! Access-Rejects in the hotspot mix:$REJECTED"
  echo "!!! Every bench session should be accepted (each user has one session at a time): the"
  echo "!!! setup is wrong (users, passwords, a stale open session, or an exhausted quota), and"
  echo "!!! those rows do not measure the hotspot mix."
fi
# Ours against each FreeRADIUS backend at its best thread pool, per round, load and
# concurrency; then the median and spread of the ratios over the rounds.
echo
awk -F'|' 'NR > 2 {
    r = $2 + 0; t = $3; l = $4; c = $5 + 0; tp = $6 + 0; cpu = $11 + 0
    gsub(/ /, "", t); gsub(/ /, "", l)
    k = l SUBSEP c
    if (t == "ours") { ours[r, k] = tp; ourcpu[r, k] = cpu; keys[k] = 1; rounds[r] = 1 }
    else if (t !~ /^ours/) { split(t, a, "@"); b = a[1]
      if (tp > best[r, b, k]) { best[r, b, k] = tp; bestcpu[r, b, k] = cpu; bestt[r, b, k] = a[2] }
      backends[b] = 1 }
  }
  END {
    for (b in backends) for (k in keys) {
      n = 0; line = ""
      for (r in rounds) if (best[r, b, k] > 0 && ours[r, k] > 0) {
        x[++n] = ours[r, k] / best[r, b, k]
        line = line sprintf(" r%d: %.2fx (%.0f vs %.0f/s at %s threads; CPU %.1f vs %.1f us/req)", r, x[n], ours[r, k], best[r, b, k], bestt[r, b, k], ourcpu[r, k], bestcpu[r, b, k])
      }
      if (n == 0) continue
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { y = x[i]; x[i] = x[j]; x[j] = y }
      med = (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
      split(k, kk, SUBSEP)
      printf "ours / best %s, %s c=%s: median %.2fx, range %.2f-%.2fx over %d round(s);%s\n", b, kk[1], kk[2], med, x[1], x[n], n, line
    }
  }' "$RESULTS"
