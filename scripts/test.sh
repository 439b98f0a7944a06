#!/usr/bin/env bash
# THE test command: installs what the tests need, then runs every test.
#
#   scripts/test.sh                 unit, integration, bench-smoke and doc tests
#   scripts/test.sh FILTER [ARGS]   the same, passing FILTER and ARGS to the test binaries
#                                   (e.g. `scripts/test.sh udp_access --nocapture`)
#
# Integration tests start their own PostgreSQL and Redis on free loopback ports in temp
# directories and stop them afterwards; this script only makes sure the packages are
# installed (scripts/install-deps.sh). SQLX_OFFLINE=true: queries are checked against the
# committed .sqlx/ data, so no database is needed to compile. Exits non-zero on any failure.
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/install-deps.sh"
ensure_cargo
export_tool_path
export SQLX_OFFLINE=true
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

t0=$SECONDS
say "test: cargo test --locked --workspace --all-targets"
cargo test --locked --workspace --all-targets -- "$@"
say "test: all-targets passed in $(elapsed "$t0")"

# --all-targets does not include documentation tests.
t1=$SECONDS
say "test: cargo test --locked --workspace --doc"
cargo test --locked --workspace --doc -- "$@"
say "test: doc tests passed in $(elapsed "$t1"); total $(elapsed "$t0")"
