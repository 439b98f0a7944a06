#!/usr/bin/env bash
# THE run command: installs what is missing, builds the release binary, starts a private
# PostgreSQL and Redis under ./.run/, migrates and seeds a demo NAS and user, then runs
# `hotspot-radius serve` in the foreground. Ctrl-C stops the server, then the PostgreSQL
# and Redis this script started.
#
#   scripts/run.sh [OPTIONS] [-- SERVE-ARGS...]
#   scripts/run.sh --services-only [--detach]   only PostgreSQL + Redis + database; prints
#                                               the URLs; --detach leaves them running
#   scripts/run.sh --stop                       stop services left running under ./.run
#
#   --listen IP       address for RADIUS auth (1812/udp) and accounting (1813/udp);
#                     default 127.0.0.1, use 0.0.0.0 for real routers on the network
#   --auth-port N     RADIUS auth port (default 1812); accounting uses N+1 unless --acct-port
#   --acct-port N     RADIUS accounting port (default 1813)
#   --admin IP:PORT   metrics/health HTTP listener; default 127.0.0.1:9812
#   --bin PATH        use this hotspot-radius binary instead of building the release one
#   SERVE-ARGS        passed to `hotspot-radius serve` (e.g. -- --config config/my.toml)
#
# PostgreSQL: port 5432 unless busy (then a free one), 127.0.0.1 only, data in ./.run/pg,
# run as user `postgres` when this script runs as root. Redis: port 6379 unless busy,
# 127.0.0.1 only, data in ./.run/redis. Services already running from an earlier run are
# reused (and then left running). Connection URLs are written to ./.run/env for other
# terminals: `. .run/env; target/release/hotspot-radius nas list`.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RUN_DIR="$REPO_ROOT/.run"
DB_NAME=hotspot_radius
DB_USER=hotspot_radius
DB_PASSWORD=hotspot_radius # loopback-only development instance
BIN="$REPO_ROOT/target/release/hotspot-radius"

listen=127.0.0.1
auth_port=1812
acct_port=""
admin=127.0.0.1:9812
mode=serve
detach=0
build=1
serve_args=()

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --listen) listen=${2:?--listen needs an IP address}; shift ;;
            --auth-port) auth_port=${2:?--auth-port needs a port}; shift ;;
            --acct-port) acct_port=${2:?--acct-port needs a port}; shift ;;
            --admin) admin=${2:?--admin needs IP:PORT}; shift ;;
            --bin) BIN=$(readlink -f -- "${2:?--bin needs a path}"); build=0; shift ;;
            --services-only) mode=services ;;
            --detach) detach=1 ;;
            --stop) mode=stop ;;
            -h | --help) usage; exit 0 ;;
            --) shift; serve_args=("$@"); break ;;
            *) die "unknown option '$1' (try --help)" ;;
        esac
        shift
    done
    [ "$detach" -eq 0 ] || [ "$mode" = services ] || die "--detach goes with --services-only"
    [ -n "$acct_port" ] || acct_port=$((auth_port + 1))
}

# ---------------------------------------------------------------------------------------
# Ports

# Exit 0 when PROTO (tcp|udp) port PORT can be bound on IP, i.e. nothing holds it.
port_free() {
    python3 - "$1" "$2" "$3" <<'PY'
import socket, sys
ip, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
if proto == "tcp":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
try:
    s.bind((ip, port))
except OSError:
    sys.exit(1)
PY
}

# A TCP port on 127.0.0.1 that nothing uses now.
free_tcp_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PREFERRED if free on 127.0.0.1, else any free port.
pick_port() {
    if port_free 127.0.0.1 "$1" tcp; then echo "$1"; else free_tcp_port; fi
}

# ---------------------------------------------------------------------------------------
# PostgreSQL

PG_BIN=""
PGDATA=""
PG_PORT=""
PG_PWFILE="" # next to the data directory, so the two never part
PG_AS=() # prefix that runs a command as the PostgreSQL OS user
started_pg=0

pg_setup_paths() {
    PG_BIN=$(pg_bin_dir || true)
    [ -n "$PG_BIN" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (package: postgresql); run scripts/install-deps.sh"
    mkdir -p "$RUN_DIR"
    PGDATA="$RUN_DIR/pg"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "user 'postgres' missing (package: postgresql); run scripts/install-deps.sh"
        PG_AS=(runuser -u postgres --)
        chmod 755 "$RUN_DIR"
        # The server runs as `postgres`, which must be able to reach the data directory.
        # A checkout under a private home (/root is 0700) is not reachable: keep the data
        # in /var/tmp instead, one directory per checkout.
        if ! "${PG_AS[@]}" test -x "$RUN_DIR"; then
            local key
            key=$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)
            mkdir -p "/var/tmp/hotspot-radius-$key"
            chmod 755 "/var/tmp/hotspot-radius-$key"
            PGDATA="/var/tmp/hotspot-radius-$key/pg"
            say "run: $RUN_DIR is not reachable by user postgres; PostgreSQL data in $PGDATA"
        fi
    fi
    PG_PWFILE="$(dirname "$PGDATA")/pg-superuser.password"
}

# A PostgreSQL server binary, as the PostgreSQL OS user, from / (the checkout may be private).
pg() { (cd / && "${PG_AS[@]}" "$PG_BIN/$1" "${@:2}"); }

pg_running() {
    [ -f "$PGDATA/postmaster.pid" ] && pg pg_ctl -D "$PGDATA" status >/dev/null 2>&1
}

# Superuser psql over TCP (the password file keeps this independent of socket paths).
psql_super() {
    PGOPTIONS="-c client_min_messages=warning" PGPASSWORD=$(cat "$PG_PWFILE") "$(psql_cmd)" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
        -U postgres "$@"
}

psql_cmd() {
    if [ -x "$PG_BIN/psql" ]; then echo "$PG_BIN/psql"; else echo psql; fi
}

pg_init() {
    [ -f "$PGDATA/PG_VERSION" ] && return 0
    say "run: initdb $PGDATA"
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    umask 077
    python3 -c 'import secrets; print(secrets.token_hex(16))' >"$PG_PWFILE"
    umask 022
    if [ "${#PG_AS[@]}" -gt 0 ]; then
        chown postgres:postgres "$PGDATA"
        chown postgres "$PG_PWFILE"
    fi
    pg initdb -D "$PGDATA" -U postgres --pwfile="$PG_PWFILE" --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 --no-instructions >"$RUN_DIR/initdb.log" 2>&1 ||
        { cat "$RUN_DIR/initdb.log" >&2; die "initdb failed"; }
    # Unix socket in the data directory, when its path fits in a sockaddr_un.
    local sockdir="$PGDATA"
    [ "${#PGDATA}" -le 90 ] || sockdir=""
    {
        echo "# hotspot-radius scripts/run.sh"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$sockdir'"
        echo "log_min_duration_statement = 500"
        if compgen -G "$(dirname "$PG_BIN")/lib/pg_stat_statements.so" >/dev/null; then
            echo "shared_preload_libraries = 'pg_stat_statements'"
        fi
    } | "${PG_AS[@]}" tee -a "$PGDATA/postgresql.conf" >/dev/null
}

pg_start() {
    pg_setup_paths
    pg_init
    if pg_running; then
        PG_PORT=$(sed -n 4p "$PGDATA/postmaster.pid")
        say "run: reusing PostgreSQL already running on 127.0.0.1:$PG_PORT"
        return 0
    fi
    rm -f "$PGDATA/postmaster.pid" # stale, from a killed run
    PG_PORT=$(pick_port 5432)
    say "run: starting PostgreSQL on 127.0.0.1:$PG_PORT"
    pg pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" -o "-p $PG_PORT" -w -t 60 start >/dev/null ||
        { tail -20 "$PGDATA/server.log" >&2; die "PostgreSQL did not start (log: $PGDATA/server.log)"; }
    started_pg=1
}

pg_stop() {
    [ -n "$PGDATA" ] && pg_running || return 0
    say "run: stopping PostgreSQL"
    pg pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null || warn "pg_ctl stop failed"
}

# The application role and database (idempotent).
pg_create_db() {
    psql_super -d postgres <<SQL
SELECT 'CREATE ROLE $DB_USER LOGIN PASSWORD ''$DB_PASSWORD'''
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
SQL
    if compgen -G "$(dirname "$PG_BIN")/lib/pg_stat_statements.so" >/dev/null; then
        psql_super -d "$DB_NAME" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
    fi
    DATABASE_URL="postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME"
    export DATABASE_URL
}

# ---------------------------------------------------------------------------------------
# Redis

REDIS_DIR="$RUN_DIR/redis"
REDIS_PORT=""
started_redis=0

redis_pid() {
    local pid
    pid=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/comm" 2>/dev/null &&
        echo "$pid"
}

redis_ping() {
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

redis_start() {
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found (package: redis-server); run scripts/install-deps.sh"
    mkdir -p "$REDIS_DIR"
    if redis_pid >/dev/null && REDIS_PORT=$(cat "$REDIS_DIR/port" 2>/dev/null) && redis_ping "$REDIS_PORT"; then
        say "run: reusing Redis already running on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    REDIS_PORT=$(pick_port 6379)
    say "run: starting Redis on 127.0.0.1:$REDIS_PORT"
    rm -f "$REDIS_DIR/redis.pid"
    echo "$REDIS_PORT" >"$REDIS_DIR/port"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
        --dir "$REDIS_DIR" --daemonize yes --pidfile "$REDIS_DIR/redis.pid" \
        --logfile "$REDIS_DIR/redis.log" --save "300 1" --appendonly no ||
        die "redis-server failed to start (log: $REDIS_DIR/redis.log)"
    local i
    for i in $(seq 50); do
        redis_ping "$REDIS_PORT" && break
        [ "$i" -eq 50 ] && die "Redis did not answer PING (log: $REDIS_DIR/redis.log)"
        sleep 0.2
    done
    started_redis=1
}

redis_stop() {
    local pid i
    pid=$(redis_pid) || return 0
    say "run: stopping Redis"
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    warn "Redis (pid $pid) did not exit after 10s"
}

# ---------------------------------------------------------------------------------------
# Lifecycle

sleeper=""

stop_started() {
    [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
    [ "$started_redis" -eq 1 ] && redis_stop
    [ "$started_pg" -eq 1 ] && pg_stop
    started_redis=0
    started_pg=0
}

services_up() {
    pg_start
    redis_start
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
    export REDIS_URL
    # The accounting journal (records fsync'd while PostgreSQL is away) lives with the
    # demo's data, not under /var/lib.
    HOTSPOT_RADIUS_JOURNAL_DIR="$RUN_DIR/journal"
    export HOTSPOT_RADIUS_JOURNAL_DIR
    pg_create_db
    cat >"$RUN_DIR/env" <<ENV
# Written by scripts/run.sh: the services it started under .run/
export DATABASE_URL='$DATABASE_URL'
export REDIS_URL='$REDIS_URL'
export HOTSPOT_RADIUS_JOURNAL_DIR='$HOTSPOT_RADIUS_JOURNAL_DIR'
ENV
}

seed() {
    "$(psql_cmd)" -X -q -v ON_ERROR_STOP=1 -1 -v nas_address=127.0.0.1 -v nas_name=demo \
        -v demo_secret=testing123 -f "$REPO_ROOT/scripts/demo-seed.sql" "$DATABASE_URL"
}

check_listen_ports() {
    local port
    for port in "$auth_port" "$acct_port"; do
        port_free "$listen" "$port" udp ||
            die "UDP $listen:$port is in use (a system FreeRADIUS? stop it, or use --auth-port/--acct-port)"
    done
    port_free "${admin%:*}" "${admin##*:}" tcp || die "TCP $admin (admin) is in use; pick another with --admin IP:PORT"
}

print_try() {
    local s=127.0.0.1
    [ "$listen" = 0.0.0.0 ] || s=$listen
    cat <<EOF

hotspot-radius: auth $listen:$auth_port/udp, acct $listen:$acct_port/udp, admin http://$admin
Demo NAS 127.0.0.1 (secret testing123), demo user 'demo' / 'demo-password' (group basic:
Mikrotik-Rate-Limit 2M/5M, Session-Timeout 3600, Acct-Interim-Interval 300).
In another terminal try (radtest sends a Message-Authenticator, after which this NAS must
always send one, so the radclient line asks for one too):
  radtest demo demo-password $s:$auth_port 0 testing123
  echo 'User-Name=demo,User-Password=demo-password,Message-Authenticator=0x00' | radclient -x $s:$auth_port auth testing123
  echo 'User-Name=demo,Acct-Status-Type=Start,Acct-Session-Id=demo-1,NAS-IP-Address=127.0.0.1' | radclient -x $s:$acct_port acct testing123
  . .run/env && ${BIN#"$REPO_ROOT"/} sessions
  ${BIN#"$REPO_ROOT"/} test-auth --server $s:$auth_port --secret testing123 --user demo --password demo-password --method chap
  curl -s http://$admin/metrics | grep '^radius_'       # or open http://$admin/ (status page)
  . .run/env && ${BIN#"$REPO_ROOT"/} nas list
Ctrl-C stops the server, then PostgreSQL and Redis.

EOF
}

# Run the server as a child (not exec) so the trap can stop the services afterwards.
# SIGINT/SIGTERM to this script are forwarded to the server as SIGTERM (graceful drain).
serve() {
    local child status
    "$BIN" serve --auth-addr "$listen:$auth_port" --acct-addr "$listen:$acct_port" --admin-addr "$admin" \
        "${serve_args[@]}" &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
    while :; do
        status=0
        wait "$child" || status=$?
        kill -0 "$child" 2>/dev/null || break # a trapped signal interrupted wait
    done
    trap - INT TERM
    return "$status"
}

main() {
    parse_args "$@"
    cd "$REPO_ROOT"
    if [ "$mode" = stop ]; then
        pg_setup_paths
        started_pg=1 started_redis=1 stop_started
        rm -f "$RUN_DIR/env"
        return 0
    fi

    "$REPO_ROOT/scripts/install-deps.sh"
    ensure_cargo
    export_tool_path
    if [ "$mode" = serve ]; then
        check_listen_ports
        [ "$build" -eq 1 ] || [ -x "$BIN" ] || die "--bin $BIN: not an executable file"
    fi

    if [ "$mode" = serve ] && [ "$build" -eq 1 ]; then
        say "run: cargo build --release --locked"
        SQLX_OFFLINE=true cargo build --release --locked --bin hotspot-radius
    fi

    trap stop_started EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    services_up

    if [ "$mode" = services ]; then
        say "run: services up; connection URLs (also in .run/env):"
        say "  DATABASE_URL=$DATABASE_URL"
        say "  REDIS_URL=$REDIS_URL"
        if [ "$detach" -eq 1 ]; then
            started_pg=0 started_redis=0 # leave them running
            say "run: left running; stop with scripts/run.sh --stop"
            return 0
        fi
        say "run: Ctrl-C stops them"
        while :; do
            sleep 3600 &
            sleeper=$!
            wait "$sleeper" # a trapped signal interrupts wait at once
        done
    fi

    say "run: migrate"
    "$BIN" migrate
    say "run: seeding demo NAS and user"
    seed
    export RUST_LOG="${RUST_LOG:-info}"
    print_try
    serve
}

main "$@"
