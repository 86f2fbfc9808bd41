#!/usr/bin/env bash
# node-exporter's cost benchmark in one command: CPU per scrape and peak RSS of Debian's
# node_exporter 1.5.0 against ours, in one run (method: examples/bench_vs_node_exporter.rs).
#
#   crates/node-exporter/scripts/bench.sh [--scrapes N] [--rounds R]
#
# Builds what it measures, then runs the benchmark:
#   * target/release/darkscrape                       (`darkscrape node-exporter`)
#   * target/dist-small/darkscrape-node-exporter      (exporter-only binary, profile dist-small)
#   * target/x86_64-unknown-linux-gnu/dist-small/darkscrape-node-exporter
#                                                     (the same, glibc linked statically,
#                                                     not position-independent)
# The first build of the two dist-small binaries takes several minutes (whole-program LTO).
set -euo pipefail
cd "$(dirname "$0")/../../.."

# shellcheck source=/dev/null
source scripts/peers.env

cargo build --release --bin darkscrape
cargo build --profile dist-small -p node-exporter --bin darkscrape-node-exporter
# Static glibc and a fixed load address (no PIE, as Debian's node_exporter binary: no
# start-up relocations, see the crate docs for the trade-off), only for the target's own
# code (with --target, build scripts and proc macros are built for the host without these
# flags). Cargo joins them with the `[target.cfg(..)]` rustflags of .cargo/config.toml,
# which RUSTFLAGS would replace.
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --profile dist-small --target x86_64-unknown-linux-gnu -p node-exporter --bin darkscrape-node-exporter
cargo run --release -p node-exporter --example bench_vs_node_exporter -- "$@"
