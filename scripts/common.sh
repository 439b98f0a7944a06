# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Sourced, never run: it only defines functions and variables.
#
# Everything here works on a fresh Debian 12 machine with nothing but bash, coreutils,
# util-linux and python3, as root or as a user with sudo.

# The repository root (the parent of scripts/).
# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# Run a command as root: directly when we are root, with sudo when it is available.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (run as root, or install sudo)"
    fi
}

# Make cargo reachable (rustup puts it in ~/.cargo/bin, which a non-login shell may lack),
# and fail with a clear message when there is no Rust toolchain at all.
ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
        PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
        export PATH
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install the Rust toolchain (1.95 or newer) with rustup, then re-run"
}

# The bin directory of the newest PostgreSQL server installed from Debian's packages
# (/usr/lib/postgresql/<major>/bin), or nothing when none is installed.
pg_bin_dir() {
    local dir best="" best_major=0 major
    for dir in /usr/lib/postgresql/*/bin; do
        if [ ! -x "$dir/postgres" ] || [ ! -x "$dir/initdb" ] || [ ! -x "$dir/pg_ctl" ]; then continue; fi
        major=${dir#/usr/lib/postgresql/}
        major=${major%/bin}
        case $major in *[!0-9]*) continue ;; esac
        if [ "$major" -gt "$best_major" ]; then
            best_major=$major
            best=$dir
        fi
    done
    [ -n "$best" ] && printf '%s\n' "$best"
}

# Put the PostgreSQL server binaries and /usr/sbin (tcpdump) on PATH for the tests and tools.
export_tool_path() {
    local pgbin
    pgbin=$(pg_bin_dir || true)
    [ -n "$pgbin" ] && PATH="$pgbin:$PATH"
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac
    export PATH
}

# Seconds since $1 (a $SECONDS value), as "Ns".
elapsed() { printf '%ss' "$((SECONDS - $1))"; }
