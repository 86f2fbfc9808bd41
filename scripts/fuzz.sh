#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]
# Run every cargo-fuzz target in fuzz/fuzz_targets (or the TARGETs named) for SECONDS each
# (default 60) and print the number of executions libFuzzer reports. Installs cargo-fuzz if it is missing.
# The writable corpus is fuzz/corpus/<target> (not committed); fuzz/seeds/<target> holds
# committed starting inputs, read only.
# Works on the stable toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# cargo-fuzz is run from the project root and finds the fuzz crate in ./fuzz.
cd "$root"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
status=0
shopt -s nullglob
targets=(fuzz/fuzz_targets/*.rs)
if [ "$#" -gt 1 ]; then
    targets=()
    for name in "${@:2}"; do
        if [ ! -f "fuzz/fuzz_targets/$name.rs" ]; then
            echo "fuzz.sh: no target $name in fuzz/fuzz_targets" >&2
            exit 1
        fi
        targets+=("fuzz/fuzz_targets/$name.rs")
    done
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz.sh: no targets in fuzz/fuzz_targets" >&2
    exit 1
fi
for file in "${targets[@]}"; do
    target="$(basename "$file" .rs)"
    log="$(mktemp)"
    mkdir -p "fuzz/corpus/$target"
    seeds=()
    if [ -d "fuzz/seeds/$target" ]; then
        seeds=("fuzz/seeds/$target")
    fi
    echo "== $target: ${seconds}s"
    if cargo fuzz run "$target" "fuzz/corpus/$target" "${seeds[@]}" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
        tail -n 40 "$log"
    fi
    execs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n1)"
    echo "$target: $result, executions: ${execs:-unknown}"
    rm -f "$log"
done
exit "$status"
