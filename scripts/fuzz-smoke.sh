#!/usr/bin/env bash
# Run every fuzz target for a bounded time, coverage-guided, on the stable toolchain:
# the targets are built with LLVM's SanitizerCoverage (the instrumentation libFuzzer
# steers by; plain stable `-C` flags, no nightly, no cargo-fuzz) but without AddressSanitizer,
# so it finds panics, aborts, hangs and runaway memory, not silent memory errors (the
# code is safe Rust). A crash stops the run and its input is left in fuzz/artifacts/.
#
#   scripts/fuzz-smoke.sh            each target for FUZZ_SECONDS (default 15) seconds
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh
set -euo pipefail
# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT/fuzz"
ensure_cargo

seconds=${FUZZ_SECONDS:-15}
target_dir="$REPO_ROOT/target/fuzz-sancov"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
locked=()
[ -f Cargo.lock ] && locked=(--locked)
# An explicit --target keeps RUSTFLAGS off the build scripts (which cannot link the
# coverage hooks libFuzzer provides).
host=$(rustc -vV | sed -n 's/^host: //p')
say "fuzz-smoke: building the targets with coverage instrumentation ($host)"
cargo build --release "${locked[@]}" --target-dir "$target_dir" --target "$host" --bins

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^hotspot-radius-fuzz$')
mkdir -p artifacts
for t in $targets; do
    corpus=$(mktemp -d)
    # Seeds where there are any (hex files for decode_packet), as raw bytes.
    if [ -d "seeds/$t" ]; then
        for f in "seeds/$t"/*; do
            case $f in
                *.hex) python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("".join(open(sys.argv[1]).read().split())))' \
                    "$f" >"$corpus/$(basename "$f" .hex)" ;;
                *) cp "$f" "$corpus/" ;;
            esac
        done
    fi
    say "fuzz-smoke: $t for ${seconds}s"
    if ! "$target_dir/$host/release/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t-" -print_final_stats=1 "$corpus" 2>"$corpus.log"; then
        tail -40 "$corpus.log" >&2
        rm -rf "$corpus"
        die "fuzz target $t failed; the input is in fuzz/artifacts/"
    fi
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$corpus.log" | tail -2 | sed "s/^/  $t: /"
    rm -rf "$corpus" "$corpus.log"
done
say "fuzz-smoke: no crash in any target"
