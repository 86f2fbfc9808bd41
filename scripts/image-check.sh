#!/usr/bin/env bash
# Proves the container image's runtime stage is complete without a container engine:
#
#   scripts/image-check.sh          (as root: it uses unshare, mount and chroot)
#
#  1. The Dockerfile is read: its build stage must run exactly scripts/build-image.sh into
#     /image, and its runtime stage must be `FROM scratch` + that tree, a numeric non-root
#     USER, the darkscrape ENTRYPOINT and no EXPOSE. So the tree built in step 2 is the
#     image's whole file system, made by the same command with the same flags.
#  2. scripts/build-image.sh builds that tree here; it must hold the two binaries and
#     nothing else, both without a program interpreter or shared libraries.
#  3. Each command runs in a copy of that tree as its root (chroot), as the image's user
#     (65532:65532), with no /etc, /dev or library, in a private mount namespace that adds
#     only what the Kubernetes manifests mount: the identity secret (read-only), a writable
#     health-file directory, /proc, and for the node exporter the host's /proc, /sys and /
#     read-only under /host. The embedded lab overlay runs outside, on loopback:
#     - `darkscrape node-exporter --once` and `darkscrape-node-exporter --once` scrape the
#       host (the main collectors must succeed; promtool checks the output);
#     - `darkscrape reflectz` binds echo and metrics services on the lab: a line comes back
#       as "you sent me: ...", its metrics answer over the overlay, `darkscrape probe` passes
#       on its health file in the root, and after SIGTERM the file is gone and the probe
#       fails;
#     - `darkscrape-node-exporter` serves dark with --health-file: scraped over the overlay,
#       probe passes; once the lab is gone the file is no longer refreshed and the probe
#       fails.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "image-check.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (unshare --mount, mount, chroot)"
promtool="${DARKSCRAPE_PROMTOOL:-$(command -v promtool || true)}"
[ -n "$promtool" ] || fail "promtool not found (Debian prometheus; scripts/install-test-deps.sh installs it)"

# ---- 1. the Dockerfile builds with build-image.sh and ships exactly its output
# Instructions with continuation lines joined, comments and blank lines dropped.
instructions="$(sed -e 's/[[:space:]]*$//' Dockerfile | awk '
    /^[[:space:]]*#/ { next }
    { line = line $0 }
    /\\$/ { sub(/\\$/, "", line); next }
    line != "" { gsub(/[[:space:]]+/, " ", line); print line; line = "" }')"
expected="FROM docker.io/library/rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/src/target scripts/build-image.sh /image
FROM scratch
COPY --from=build /image/ /
ENV PATH=/usr/local/bin
USER 65532:65532
ENTRYPOINT [\"/usr/local/bin/darkscrape\"]
CMD [\"--help\"]"
if [ "$instructions" != "$expected" ]; then
    diff <(echo "$expected") <(echo "$instructions") >&2 || true
    fail "the Dockerfile's instructions (right) are not the ones this check proves (left):" \
        "change both together"
fi
rustc_version="$(rustc --version | awk '{ print $2 }')"
grep -q "rust:$rustc_version-" Dockerfile ||
    fail "the Dockerfile's rust image is not this toolchain ($rustc_version): the chroot would test another build"
echo "== image-check: the Dockerfile runs scripts/build-image.sh and ships only its output"

# ---- 2. the runtime stage's contents, built the same way
image="${CARGO_TARGET_DIR:-target}/image-root"
scripts/build-image.sh "$image"
contents="$(cd "$image" && find . -mindepth 1 | sort | tr '\n' ' ')"
[ "$contents" = "./usr ./usr/local ./usr/local/bin ./usr/local/bin/darkscrape ./usr/local/bin/darkscrape-node-exporter " ] ||
    fail "unexpected image contents: $contents"
for bin in darkscrape darkscrape-node-exporter; do
    elf="$image/usr/local/bin/$bin"
    if readelf -l "$elf" | grep -q 'Requesting program interpreter'; then fail "$bin needs a program interpreter"; fi
    if readelf -d "$elf" | grep -q '(NEEDED)'; then fail "$bin needs shared libraries"; fi
done
echo "== image-check: image contents: $(cd "$image/usr/local/bin" && stat -c '%n %s bytes' darkscrape darkscrape-node-exporter | paste -sd ';' | sed 's/;/; /')"

# ---- 3. run it in an empty root
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

root="$work/root"
cp -a "$image" "$root"
# Mount points only (empty directories the mounts below cover), as a container runtime
# creates them for a pod's volumes.
mkdir -p "$root/proc" "$root/host/proc" "$root/host/sys" "$root/host/root" \
    "$root/var/run/secrets/darkscrape" "$root/run/darkscrape"
mkdir -p "$work/secret" "$work/health"
chown 65532:65532 "$work/health"
uid=65532:65532

# in_image [--host] CMD ARGS...: runs CMD (a path in the image) in the root as the image's
# user. --host adds the host's /proc, /sys and / under /host (the DaemonSet's volumes).
# It execs: call it as `in_image ... &` or `( in_image ... )`.
in_image() {
    local host=0
    if [ "$1" = --host ]; then host=1; shift; fi
    # exec: a caller's `in_image ... &` gets the pid of the command itself (unshare, sh
    # and chroot each exec the next), so signals reach it.
    exec unshare --mount --propagation private sh -euc '
        root=$1 work=$2 host=$3 uid=$4; shift 4
        mount -t proc proc "$root/proc"
        mount --bind -o ro "$work/secret" "$root/var/run/secrets/darkscrape"
        mount --bind "$work/health" "$root/run/darkscrape"
        if [ "$host" = 1 ]; then
            mount --bind -o ro /proc "$root/host/proc"
            mount --bind -o ro /sys "$root/host/sys"
            mount --bind -o ro / "$root/host/root"
        fi
        exec chroot --userspec="$uid" "$root" "$@"' \
        in_image "$root" "$work" "$host" "$uid" "$@"
}

# node exporter, one scrape
for cmd in "/usr/local/bin/darkscrape node-exporter" "/usr/local/bin/darkscrape-node-exporter"; do
    # shellcheck disable=SC2086
    ( in_image --host $cmd --once --path.procfs=/host/proc --path.sysfs=/host/sys \
        --path.rootfs=/host/root ) > "$work/scrape.txt" 2> "$work/scrape.log" ||
        { cat "$work/scrape.log" >&2; fail "$cmd --once failed in the image root"; }
    for collector in cpu meminfo loadavg filesystem netdev diskstats stat uname; do
        grep -q "^node_scrape_collector_success{collector=\"$collector\"} 1\$" "$work/scrape.txt" ||
            fail "$cmd --once: collector $collector did not succeed in the image root"
    done
    for metric in node_load1 node_memory_MemTotal_bytes node_cpu_seconds_total node_filesystem_size_bytes; do
        grep -q "^$metric" "$work/scrape.txt" || fail "$cmd --once: no $metric"
    done
    # Exit 3 is lint findings only; the ones node_exporter's own names draw are expected
    # (as in crates/node-exporter/tests/support/promtool.rs), any other fails.
    status=0
    "$promtool" check metrics < "$work/scrape.txt" > "$work/promtool.log" 2>&1 || status=$?
    unexpected="$(grep -v -E -e "^node_(memory|netstat|sockstat)_[^ ]* metric names should be written in 'snake_case' not 'camelCase'\$" \
        -e '^node_entropy_[^ ]* use base unit "bytes" instead of "bits"$' "$work/promtool.log" || true)"
    if [ "$status" -ne 0 ] && [ "$status" -ne 3 ] || [ -n "$unexpected" ]; then
        echo "$unexpected" >&2
        fail "$cmd --once: promtool check metrics failed (exit $status)"
    fi
    failed="$(grep '^node_scrape_collector_success{.*} 0$' "$work/scrape.txt" | sed 's/.*collector="\([^"]*\)".*/\1/' | paste -sd, || true)"
    echo "== image-check: $cmd --once in the image root: $(grep -c '^node_' "$work/scrape.txt") samples${failed:+ (collectors with nothing to read here: $failed)}"
done

# the lab, outside the root, on free loopback ports
darkscrape="$image/usr/local/bin/darkscrape"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$darkscrape" lab init "$work/lab" > "$work/init.log" 2>&1 || { cat "$work/init.log" >&2; exit 1; }
sed -i -e "s/127.0.0.1:1280/127.0.0.1:$(free_port)/" -e "s/127.0.0.1:3022/127.0.0.1:$(free_port)/" \
    "$work/lab/lab.toml"
cat >> "$work/lab/lab.toml" << 'TOML'

[[service]]
name = "reflect-metrics"
roles = ["demo"]
encryption_required = false
TOML
"$darkscrape" lab run "$work/lab" > "$work/lab.log" 2>&1 &
lab=$!
pids+=("$lab")
"$darkscrape" lab identity "$work/lab" reflectz --out "$work/secret/identity.json" 2> "$work/id.log" ||
    { cat "$work/id.log" >&2; fail "lab identity failed"; }
"$darkscrape" lab identity "$work/lab" client --out "$work/client.json" 2> /dev/null
chmod 0444 "$work/secret/identity.json"

probe() { ( in_image /usr/local/bin/darkscrape probe --health-file /run/darkscrape/health --max-age 15 ); }
wait_healthy() { # $1: pid of the process, $2: its log
    for _ in $(seq 300); do
        [ -e "$work/health/health" ] && return 0
        kill -0 "$1" 2> /dev/null || { cat "$2" >&2; fail "it exited before it was healthy"; }
        sleep 0.1
    done
    cat "$2" >&2
    fail "no health file after 30 s"
}
stop() { # $1: pid, $2: log; SIGTERM must end it with status 0
    kill -TERM "$1"
    local status=0
    wait "$1" || status=$?
    [ "$status" -eq 0 ] || { cat "$2" >&2; fail "it exited with status $status after SIGTERM"; }
}

# reflectz
in_image /usr/local/bin/darkscrape reflectz --identity /var/run/secrets/darkscrape/identity.json \
    --service echo --metrics-service reflect-metrics --health-file /run/darkscrape/health \
    > "$work/reflectz.log" 2>&1 &
reflectz=$!
pids+=("$reflectz")
wait_healthy "$reflectz" "$work/reflectz.log"
probe > "$work/probe.log" 2>&1 || { cat "$work/probe.log" "$work/reflectz.log" >&2; fail "probe failed on reflectz's health file"; }
reply="$(echo "hello from outside" | timeout 30 "$darkscrape" dial --identity "$work/client.json" --service echo 2> "$work/dial.log")" ||
    { cat "$work/dial.log" "$work/reflectz.log" >&2; fail "dialing reflectz's echo failed"; }
[ "$reply" = "you sent me: hello from outside" ] || fail "reflectz answered $reply"
printf 'GET /metrics HTTP/1.0\r\n\r\n' | timeout 30 "$darkscrape" dial --identity "$work/client.json" \
    --service reflect-metrics --terminator-identity reflectz > "$work/metrics.txt" 2> "$work/dial.log" ||
    { cat "$work/dial.log" >&2; fail "scraping reflectz's metrics failed"; }
grep -q '^reflect_total_connections 1' "$work/metrics.txt" ||
    fail "reflectz's metrics do not count the echo connection: $(head -c 400 "$work/metrics.txt")"
stop "$reflectz" "$work/reflectz.log"
[ ! -e "$work/health/health" ] || fail "reflectz left its health file after SIGTERM"
if probe > "$work/probe.log" 2>&1; then fail "probe passed after reflectz stopped"; fi
echo "== image-check: reflectz in the image root: echoed, served metrics, probe passed; after SIGTERM: $(cat "$work/probe.log")"

# node exporter served dark
in_image --host /usr/local/bin/darkscrape-node-exporter --identity /var/run/secrets/darkscrape/identity.json \
    --service echo --bind-using-identity --path.procfs=/host/proc --path.sysfs=/host/sys \
    --path.rootfs=/host/root --health-file /run/darkscrape/health > "$work/node.log" 2>&1 &
node=$!
pids+=("$node")
wait_healthy "$node" "$work/node.log"
probe > "$work/probe.log" 2>&1 || { cat "$work/probe.log" "$work/node.log" >&2; fail "probe failed on the node exporter's health file"; }
printf 'GET /metrics HTTP/1.0\r\n\r\n' | timeout 30 "$darkscrape" dial --identity "$work/client.json" \
    --service echo --terminator-identity reflectz > "$work/node.txt" 2> "$work/dial.log" ||
    { cat "$work/dial.log" "$work/node.log" >&2; fail "scraping the node exporter failed"; }
grep -q '^node_scrape_collector_success{collector="cpu"} 1' "$work/node.txt" ||
    fail "the node exporter's dark scrape has no successful cpu collector: $(head -c 400 "$work/node.txt")"
# The overlay goes away: the service is bound nowhere, the file is no longer refreshed
# (every 5 s while bound) and the probe fails once it is older than --max-age.
kill "$lab"
wait "$lab" 2> /dev/null || true
stale=""
for _ in $(seq 40); do
    if ! ( in_image /usr/local/bin/darkscrape probe --health-file /run/darkscrape/health --max-age 7 ) > "$work/probe.log" 2>&1; then
        stale="$(cat "$work/probe.log")"
        break
    fi
    sleep 0.5
done
[ -n "$stale" ] || { cat "$work/node.log" >&2; fail "the probe still passed 20 s after the overlay went away"; }
grep -q "unhealthy: the health file is no longer refreshed" "$work/node.log" ||
    fail "the node exporter did not log why its health file is no longer refreshed"
stop "$node" "$work/node.log"
echo "== image-check: darkscrape-node-exporter in the image root: served dark, scraped, probe passed; without the overlay: $stale"
echo "== image-check: passed"
