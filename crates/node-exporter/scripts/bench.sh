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
#                                                     not position-independent, text laid
#                                                     out by scripts/build-small.sh)
# The first build of the two dist-small binaries takes several minutes (whole-program LTO).
set -euo pipefail
cd "$(dirname "$0")/../../.."

# shellcheck source=/dev/null
source scripts/peers.env

cargo build --release --bin darkscrape
cargo build --profile dist-small -p node-exporter --bin darkscrape-node-exporter
# Static glibc, a fixed load address and the functions that run laid out together (needs
# valgrind; see that script).
crates/node-exporter/scripts/build-small.sh
cargo run --release -p node-exporter --example bench_vs_node_exporter -- "$@"
