#!/usr/bin/env bash
# Builds the smallest darkscrape-node-exporter: dist-small profile, glibc linked statically,
# not position-independent, and the functions it runs laid out next to each other.
#
#   crates/node-exporter/scripts/build-small.sh [--scrapes N]
#
# Output: target/x86_64-unknown-linux-gnu/dist-small/darkscrape-node-exporter
#
# Why the layout matters: the kernel maps program text in 64 KiB blocks around each page
# fault, and the functions a process runs are scattered over the whole text by default, so
# nearly all of it ends up resident although well under half of it ever runs. This script
#   1. builds the binary,
#   2. runs it under valgrind's callgrind on a lab overlay (`darkscrape lab`), serving
#      scrapes in the text, gzip and OpenMetrics formats fetched with `darkscrape dial`,
#      so start-up, log-in, binding and serving are all recorded,
#   3. writes the names of every function that ran to an ordering file next to the binary,
#   4. links again with `--symbol-ordering-file` (lld, the default linker of this target),
#      which puts those functions first.
# A function that did not run in step 2 (an error path, a collector that had nothing to
# read here) still works; its block is mapped when it first runs. The ordering file holds
# symbol names of this exact build, so the script makes it anew each time.
#
# Needs valgrind (Debian: apt-get install valgrind) and python3 (to pick free ports).
set -euo pipefail
cd "$(dirname "$0")/../../.."

scrapes=3
while [ $# -gt 0 ]; do
    case "$1" in
        --scrapes) scrapes="${2:?--scrapes needs a number}"; shift 2 ;;
        *) echo "usage: $0 [--scrapes N]" >&2; exit 2 ;;
    esac
done
if ! command -v valgrind > /dev/null; then
    echo "build-small.sh: valgrind not found; it records which functions the exporter runs" \
        "(Debian: apt-get install valgrind)" >&2
    exit 1
fi

target=x86_64-unknown-linux-gnu
target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir/$target"
order="$(realpath "$target_dir/$target")/darkscrape-node-exporter.text-order"
[ -f "$order" ] || : > "$order"
bin="$target_dir/$target/dist-small/darkscrape-node-exporter"
darkscrape="$target_dir/release/darkscrape"

build() {
    # Only for the target's own code (with --target, build scripts and proc macros are
    # built for the host without these flags); joined with .cargo/config.toml's flags.
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static \
-C relocation-model=static -C link-arg=-Wl,--symbol-ordering-file=$order \
-C link-arg=-Wl,--no-warn-symbol-ordering" \
        cargo build --profile dist-small --target "$target" -p node-exporter \
        --bin darkscrape-node-exporter
}

build
cargo build --release --bin darkscrape

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# (Its message names the default ports; the lab runs on the free ones written below.)
"$darkscrape" lab init "$work/lab" > "$work/init.log" 2>&1 || { cat "$work/init.log" >&2; exit 1; }
sed -i -e "s/127.0.0.1:1280/127.0.0.1:$(free_port)/" -e "s/127.0.0.1:3022/127.0.0.1:$(free_port)/" \
    "$work/lab/lab.toml"
"$darkscrape" lab run "$work/lab" > "$work/lab.log" 2>&1 &
pids+=($!)
"$darkscrape" lab identity "$work/lab" reflectz --out "$work/host.json" 2> /dev/null
"$darkscrape" lab identity "$work/lab" scraper --out "$work/scraper.json" 2> /dev/null

valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --demangle=no \
    "$bin" --identity "$work/host.json" --service echo --bind-using-identity \
    > "$work/host.log" 2>&1 &
host=$!
pids+=("$host")

scrape() {
    printf 'GET /metrics HTTP/1.1\r\nHost: node\r\nAccept: %s\r\nAccept-Encoding: %s\r\nConnection: close\r\n\r\n' \
        "$1" "$2" \
        | timeout 60 "$darkscrape" dial --identity "$work/scraper.json" --service echo \
            --terminator-identity reflectz 2> /dev/null | head -c 12
}
# Under valgrind the exporter needs a while to start; wait for its first answer.
for attempt in $(seq 120); do
    if [ "$(scrape 'text/plain' 'identity')" = "HTTP/1.1 200" ]; then break; fi
    if [ "$attempt" = 120 ]; then
        echo "build-small.sh: the exporter under valgrind did not answer; its log:" >&2
        cat "$work/host.log" >&2
        exit 1
    fi
    sleep 1
done
for _ in $(seq "$scrapes"); do
    for accept in 'text/plain' 'application/openmetrics-text;version=1.0.0'; do
        for encoding in identity gzip; do
            [ "$(scrape "$accept" "$encoding")" = "HTTP/1.1 200" ] || {
                echo "build-small.sh: a scrape under valgrind failed" >&2
                exit 1
            }
        done
    done
done
kill -INT "$host"
wait "$host" || true

# callgrind names a function once (`fn=(id) name` or `cfn=(id) name`) and refers to it by
# id afterwards; every function named there ran. Keep those the binary defines.
awk '/^c?fn=\([0-9]+\) / { sub(/^c?fn=\([0-9]+\) /, ""); print }' "$work/callgrind.out" \
    | sort -u > "$work/ran"
nm --defined-only "$bin" | awk '{ print $3 }' | sort -u > "$work/defined"
comm -12 "$work/ran" "$work/defined" > "$order"
if [ ! -s "$order" ]; then
    echo "build-small.sh: callgrind recorded none of the binary's functions" >&2
    exit 1
fi
echo "build-small.sh: $(wc -l < "$order") functions ran; linking them first"

# The ordering file is not a cargo input: make cargo link again.
touch crates/node-exporter/src/bin/darkscrape-node-exporter.rs
build
# The relinked binary runs: one scrape of one collector to stdout.
"$bin" --once --collector.disable-defaults --collector.loadavg | grep '^node_load1 ' > /dev/null || {
    echo "build-small.sh: the relinked $bin does not scrape" >&2
    exit 1
}
echo "build-small.sh: $bin"
