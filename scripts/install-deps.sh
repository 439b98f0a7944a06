#!/usr/bin/env bash
# Install the Debian packages hotspot-radius needs to run and to test, and only those missing.
#
#   scripts/install-deps.sh           run + test set: PostgreSQL server (+ contrib), Redis,
#                                     radclient, the FreeRADIUS dictionary tree, FreeRADIUS
#                                     itself (the RadSec proxy of tests/it/radsec.rs), tcpdump,
#                                     python3 (scripts), promtool and systemd-analyze (check the
#                                     alert rules and the systemd unit)
#   scripts/install-deps.sh --bench   also FreeRADIUS's PostgreSQL module and tshark, for the
#                                     comparison benchmark
#   scripts/install-deps.sh --check   install nothing; list what is missing, exit 1 if any
#
# Idempotent: each package is detected by the file it provides, so a machine where
# everything is present makes no network call (no `apt-get update`). Installing never
# starts the system services the packages ship (a temporary policy-rc.d forbids it): the
# project starts its own PostgreSQL and Redis under ./.run (scripts/run.sh) or in temp
# directories (the tests), never the system instances.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bench=0
check_only=0
for arg in "$@"; do
    case $arg in
        --bench) bench=1 ;;
        --check) check_only=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) die "unknown option '$arg' (try --help)" ;;
    esac
done

# "package|probe" pairs: a probe is a path that exists once the package is installed.
# Probes are files, not dpkg records, so binaries already on the image count as present.
required=(
    "postgresql|pg_server"
    "postgresql-contrib|pg_contrib"
    "postgresql-client|/usr/bin/psql"
    "redis-server|/usr/bin/redis-server"
    "redis-tools|/usr/bin/redis-cli"
    "openssl|/usr/bin/openssl" # the TLS tests (tests/it/tls.rs) make their certificates with it
    "freeradius-utils|/usr/bin/radclient"
    "freeradius-common|/usr/share/freeradius/dictionary"
    "pgbouncer|/usr/sbin/pgbouncer" # tests/it/pgbouncer.rs starts its own, in transaction pooling
    # The RadSec interop test runs it as a proxy in a temp dir; the system service is never
    # started (policy-rc.d below) and is disabled for the next boot.
    "freeradius|/usr/sbin/freeradius"
    "tcpdump|/usr/bin/tcpdump"
    "python3|/usr/bin/python3"
    "prometheus|/usr/bin/promtool"
    "systemd|/usr/bin/systemd-analyze"
)
if [ "$bench" -eq 1 ]; then
    required+=(
        "freeradius-postgresql|freeradius_sql_pg"
        "tshark|/usr/bin/tshark"
    )
fi
# The admin status page is tested in a real headless browser (tests/it/status_page.rs).
required+=(
    "chromium|/usr/bin/chromium"
    "chromium-driver|/usr/bin/chromedriver"
)

present() {
    case $1 in
        pg_server) [ -n "$(pg_bin_dir || true)" ] ;;
        pg_contrib) compgen -G '/usr/share/postgresql/*/extension/pg_stat_statements.control' >/dev/null ;;
        freeradius_sql_pg) compgen -G '/usr/lib/freeradius/rlm_sql_postgresql.so' >/dev/null ||
            compgen -G '/usr/lib/*/freeradius/rlm_sql_postgresql.so' >/dev/null ;;
        /usr/bin/*) [ -x "$1" ] || [ -x "/usr/sbin/${1#/usr/bin/}" ] || [ -x "/bin/${1#/usr/bin/}" ] ;;
        *) [ -e "$1" ] ;;
    esac
}

missing=()
for entry in "${required[@]}"; do
    present "${entry#*|}" || missing+=("${entry%%|*}")
done

if [ "${#missing[@]}" -eq 0 ]; then
    say "install-deps: all required packages are present, nothing to install"
elif [ "$check_only" -eq 1 ]; then
    say "install-deps: missing: ${missing[*]}"
    exit 1
else
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages (${missing[*]}) and no apt-get: this script supports Debian 12"
    say "install-deps: installing ${missing[*]}"
    t0=$SECONDS

    # Forbid service start-up while installing (invoke-rc.d and deb-systemd-invoke both obey
    # policy-rc.d). Leave an existing policy alone; remove ours on exit.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\n# hotspot-radius install-deps: do not start services\nexit 101\n' > $policy && chmod 755 $policy"
        trap 'as_root rm -f "$policy"' EXIT
    fi

    apt_get() {
        as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a \
            apt-get -q -y -o DPkg::Lock::Timeout=300 "$@"
    }
    for attempt in 1 2 3; do
        if apt_get update && apt_get install --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}"; then
            break
        fi
        [ "$attempt" -eq 3 ] && die "apt-get failed to install: ${missing[*]}"
        warn "apt-get failed (attempt $attempt of 3), retrying in 5s"
        sleep 5
    done

    # A system FreeRADIUS enabled for the next boot would take UDP 1812/1813 from us.
    if [ -d /run/systemd/system ] && [[ " ${missing[*]} " == *" freeradius "* ]]; then
        as_root systemctl disable freeradius.service >/dev/null 2>&1 || true
    fi
    # Nor a system PgBouncer (the tests start their own on free ports): not started above
    # (policy-rc.d), and not enabled for the next boot.
    if [ -d /run/systemd/system ] && [[ " ${missing[*]} " == *" pgbouncer "* ]]; then
        as_root systemctl disable pgbouncer.service >/dev/null 2>&1 || true
    fi

    still=()
    for entry in "${required[@]}"; do
        present "${entry#*|}" || still+=("${entry%%|*}")
    done
    [ "${#still[@]}" -eq 0 ] || die "still missing after apt-get install: ${still[*]}"
    say "install-deps: installed ${missing[*]} in $(elapsed "$t0")"
fi

# PostgreSQL refuses to run as root: the tests and scripts/run.sh run it as `postgres`.
# The Debian package creates that user; binaries on an image without the package may not.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1 && [ "$check_only" -eq 0 ]; then
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /bin/bash postgres
    say "install-deps: created system user 'postgres'"
fi

ensure_cargo
