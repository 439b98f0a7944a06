#!/usr/bin/env bash
# Build and run docker/compose.yml end to end, check it, and tear it down:
#   image builds → postgres/redis healthy → migrate and seed complete → server ready
#   (/readyz) → radclient from this host gets an Access-Accept and an Accounting-Response →
#   the session is listed → Prometheus scrapes the server and loaded the alert rules →
#   Grafana has the provisioned dashboard.
#
#   scripts/compose-smoke.sh            run it (needs a Docker daemon and registry access)
#   scripts/compose-smoke.sh --if-docker
#                                       the same, but exit 0 with a notice when there is no
#                                       reachable Docker daemon (how .ci/run calls it)
#   KEEP=1 scripts/compose-smoke.sh     leave the stack running afterwards
#
# Uses the project name `hotspot-radius-smoke` and removes its containers and volumes at
# the end, so an operator's own `hotspot-radius` stack is never touched. Needs the host's
# UDP 1812/1813 and TCP 9812/9090/3000 free on loopback.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

if_docker=0
[ "${1:-}" = --if-docker ] && if_docker=1

if ! docker info >/dev/null 2>&1; then
    if [ "$if_docker" -eq 1 ]; then
        say "compose-smoke: skipped: no reachable Docker daemon on this machine (docker info failed)"
        exit 0
    fi
    die "no reachable Docker daemon (docker info failed)"
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
else
    die "neither 'docker compose' nor 'docker-compose' is installed"
fi
command -v radclient >/dev/null || die "radclient is missing (scripts/install-deps.sh installs it)"

dc() { "${compose[@]}" -p hotspot-radius-smoke -f docker/compose.yml "$@"; }
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        warn "failed; the last log lines of each service follow"
        dc logs --tail 40 || true
    fi
    if [ "${KEEP:-0}" != 1 ]; then
        dc down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    exit "$status"
}
trap cleanup EXIT

# Poll CMD until it succeeds, at most N seconds.
wait_for() {
    local what=$1 n=$2
    shift 2
    for _ in $(seq "$n"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "$what: not after ${n}s"
}

t0=$SECONDS
say "compose-smoke: building and starting the stack"
dc up --build -d
wait_for "server ready (/readyz)" 180 curl -fsS http://127.0.0.1:9812/readyz

say "compose-smoke: Access-Request from the host (arrives from the gateway 172.28.0.1, the seeded NAS)"
reply=$(echo 'User-Name=demo,User-Password=demo-password,Message-Authenticator=0x00' |
    radclient -r 3 -t 3 -x 127.0.0.1:1812 auth testing123 2>&1) || die "no Access-Accept: $reply"
grep -q 'Access-Accept' <<<"$reply" || die "expected Access-Accept, got: $reply"
grep -q 'Mikrotik-Rate-Limit' <<<"$reply" || die "the demo package's rate limit is missing: $reply"

say "compose-smoke: Accounting-Request Start"
reply=$(echo 'User-Name=demo,Acct-Status-Type=Start,Acct-Session-Id=smoke-1,NAS-IP-Address=172.28.0.1,Framed-IP-Address=10.5.50.2' |
    radclient -r 3 -t 3 -x 127.0.0.1:1813 acct testing123 2>&1) || die "no Accounting-Response: $reply"
grep -q 'Accounting-Response' <<<"$reply" || die "expected Accounting-Response, got: $reply"
dc exec -T hotspot-radius hotspot-radius sessions --user demo | grep -q smoke-1 ||
    die "the session is not listed by 'hotspot-radius sessions'"

say "compose-smoke: Prometheus scrapes the server and has the alert rules"
wait_for "Prometheus target up" 60 sh -c \
    "curl -fsS 'http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22hotspot-radius%22%7D' | grep -q '\"1\"\\]'"
curl -fsS http://127.0.0.1:9090/api/v1/rules | grep -q HotspotRadiusInvalidationListenerDown ||
    die "Prometheus did not load docker/prometheus/alerts.yml"

say "compose-smoke: Grafana has the provisioned dashboard"
wait_for "Grafana dashboard" 60 sh -c \
    "curl -fsS -u admin:\${GRAFANA_ADMIN_PASSWORD:-admin} http://127.0.0.1:3000/api/dashboards/uid/hotspot-radius | grep -q '\"title\":\"hotspot-radius\"'"

say "compose-smoke: all checks passed in $(elapsed "$t0")"
