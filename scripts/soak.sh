#!/usr/bin/env bash
# Soak benchmark (not a test): the embedded lab, reflectz, the node exporter and the federate
# gateway as separate release processes on loopback, and the soak driver
# (examples/soak_driver.rs) keeping --streams echo streams open (a line on each every
# --echo-interval seconds, every reply checked) while it scrapes every second: reflectz's
# metrics over the overlay and the node exporter through the gateway's scrape proxy.
#
# Every --sample-secs (default 60) it samples the resident memory (VmRSS) of every process
# and prints a row; at the end it prints the curve again and checks that each process ends
# within ±10% of the level it had at the reference point: 5 minutes into a 30-minute run,
# scaled for other lengths (a sixth of the run; 1 minute of a 6-minute run).
#
#   scripts/soak.sh                      # 30 minutes, 1,000 streams
#   scripts/soak.sh --minutes 6          # a trial run
#   options: --minutes N --streams N --echo-interval SECS --sample-secs SECS --keep-dir
#
# Exits non-zero when a process dies, the driver saw an echo failure, a closed stream or
# 1% or more failed scrapes, or a process ends outside ±10% of its reference RSS. Needs
# cargo (it builds the release binaries) and python3 (to pick free loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=30
STREAMS=1000
ECHO_INTERVAL=5
SAMPLE_SECS=60
KEEP_DIR=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --streams) STREAMS="$2"; shift 2 ;;
    --echo-interval) ECHO_INTERVAL="$2"; shift 2 ;;
    --sample-secs) SAMPLE_SECS="$2"; shift 2 ;;
    --keep-dir) KEEP_DIR=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$MINUTES" "$STREAMS" "$ECHO_INTERVAL" "$SAMPLE_SECS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: '$n' is not a positive integer" >&2; exit 2; }
done
DURATION=$((MINUTES * 60))
REFERENCE=$((DURATION / 6))
if [ "$REFERENCE" -lt "$SAMPLE_SECS" ]; then
  echo "soak.sh: the reference point (${REFERENCE}s, a sixth of the run) comes before the" \
    "first sample (${SAMPLE_SECS}s): run longer or sample more often" >&2
  exit 2
fi

echo "== building the release binaries (darkscrape, examples/soak_driver)"
cargo build --release --quiet --bin darkscrape --example soak_driver
BIN="$PWD/target/release/darkscrape"
DRIVER="$PWD/target/release/examples/soak_driver"

DIR="$(mktemp -d "${TMPDIR:-/tmp}/darkscrape-soak.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$KEEP_DIR" -eq 1 ]; then echo "== logs kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

read -r CTRL_PORT ROUTER_PORT GW_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

setup() { # setup COMMAND...: runs it with its output in $DIR/setup.log, shown on failure
  "$@" >>"$DIR/setup.log" 2>&1 || { cat "$DIR/setup.log" >&2; exit 1; }
}
setup "$BIN" lab init "$DIR/lab"
cat >"$DIR/lab/lab.toml" <<EOF
[controller]
address = "127.0.0.1:$CTRL_PORT"

[router]
address = "127.0.0.1:$ROUTER_PORT"

[[identity]]
name = "reflectz"
roles = ["workload"]

[[identity]]
name = "node"
roles = ["workload"]

[[identity]]
name = "scraper"
roles = ["scraper"]

[[identity]]
name = "client"
roles = ["client"]

[[service]]
name = "echo"
roles = ["soak-echo"]

[[service]]
name = "reflect-metrics"
roles = ["soak-metrics"]

[[service]]
name = "node-metrics"
roles = ["soak-metrics"]

[[service_policy]]
name = "workloads-bind"
type = "Bind"
identities = ["#workload"]
services = ["#soak-echo", "#soak-metrics"]

[[service_policy]]
name = "client-dials"
type = "Dial"
identities = ["#client"]
services = ["#soak-echo", "#soak-metrics"]

[[service_policy]]
name = "gateway-scrapes"
type = "Dial"
identities = ["#scraper"]
services = ["#soak-metrics"]
EOF
for name in reflectz node scraper client; do
  setup "$BIN" lab identity "$DIR/lab" "$name" --out "$DIR/$name.json"
done

NAMES=(lab reflectz node-exporter gateway driver)
start() { # start NAME COMMAND...: runs it in the background, log in $DIR/NAME.log
  local name="$1"; shift
  "$@" >"$DIR/$name.out" 2>"$DIR/$name.log" &
  PIDS+=("$!")
}
start lab "$BIN" lab run "$DIR/lab"
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$CTRL_PORT") 2>/dev/null && break
  sleep 0.2
done
start reflectz "$BIN" reflectz --identity "$DIR/reflectz.json" --service echo \
  --metrics-service reflect-metrics --max-connections $((STREAMS + 64))
start node-exporter "$BIN" node-exporter --identity "$DIR/node.json" --service node-metrics
start gateway "$BIN" federate --identity "$DIR/scraper.json" --listen "127.0.0.1:$GW_PORT"
start driver "$DRIVER" --identity "$DIR/client.json" --echo-service echo \
  --metrics-service reflect-metrics --metrics-terminator reflectz \
  --node-service node-metrics --gateway "127.0.0.1:$GW_PORT" \
  --streams "$STREAMS" --echo-interval "$ECHO_INTERVAL"
DRIVER_PID="${PIDS[4]}"

echo "== opening $STREAMS streams (logs in $DIR)"
for _ in $(seq 1 600); do
  grep -q '^ready' "$DIR/driver.out" && break
  kill -0 "$DRIVER_PID" 2>/dev/null || break
  sleep 0.5
done
if ! grep -q '^ready' "$DIR/driver.out"; then
  echo "soak.sh: the driver did not open its $STREAMS streams within 300 s:" >&2
  tail -n 20 "$DIR/driver.log" >&2
  KEEP_DIR=1
  exit 1
fi

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
echo "== soaking for $MINUTES min, RSS (MiB) every ${SAMPLE_SECS}s; reference at ${REFERENCE}s"
HEADER="$(printf '%8s' elapsed; printf ' %14s' "${NAMES[@]}")"
echo "$HEADER"
CURVE="$DIR/curve.tsv"
: >"$CURVE"
DEAD=""
START=$(date +%s)
for ((t = 0; t <= DURATION; t += SAMPLE_SECS)); do
  now=$(date +%s)
  [ $((START + t)) -gt "$now" ] && sleep $((START + t - now))
  row="$t"
  for i in "${!NAMES[@]}"; do
    kib="$(rss_kib "${PIDS[$i]}")"
    if [ -z "$kib" ]; then
      DEAD="$DEAD ${NAMES[$i]}"
      kib=0
    fi
    row="$row	$kib"
  done
  echo "$row" >>"$CURVE"
  awk -F'\t' '{ printf "%5d:%02d", $1 / 60, $1 % 60; for (i = 2; i <= NF; i++) printf " %14.1f", $i / 1024; print "" }' <<<"$row"
  [ -n "$DEAD" ] && break
done

kill -TERM "$DRIVER_PID" 2>/dev/null || true
DRIVER_STATUS=0
for _ in $(seq 1 300); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.2; done
wait "$DRIVER_PID" || DRIVER_STATUS=$?
SUMMARY="$(grep '^summary' "$DIR/driver.out" || echo 'summary missing')"

echo
echo "== the curve (RSS in MiB)"
echo "$HEADER"
awk -F'\t' '{ printf "%5d:%02d", $1 / 60, $1 % 60; for (i = 2; i <= NF; i++) printf " %14.1f", $i / 1024; print "" }' "$CURVE"
echo
echo "== end against the reference (${REFERENCE}s), bound ±10%"
VERDICT=0
if ! awk -F'\t' -v ref="$REFERENCE" -v names="${NAMES[*]}" '
  BEGIN { n = split(names, name, " ") }
  $1 >= ref && !have_ref { for (i = 2; i <= NF; i++) r[i] = $i; have_ref = 1; ref_t = $1 }
  { for (i = 2; i <= NF; i++) e[i] = $i; end_t = $1 }
  END {
    bad = !have_ref
    for (i = 2; i <= n + 1; i++) {
      d = r[i] > 0 ? (e[i] - r[i]) * 100 / r[i] : 1000
      ok = (d >= -10 && d <= 10)
      printf "%-14s %8.1f MiB at %4ds -> %8.1f MiB at %4ds  %+6.1f%%  %s\n", name[i - 1], r[i] / 1024, ref_t, e[i] / 1024, end_t, d, ok ? "ok" : "OUT OF BOUNDS"
      if (!ok) bad = 1
    }
    exit bad
  }' "$CURVE"; then
  VERDICT=1
fi
echo "== driver: $SUMMARY (exit $DRIVER_STATUS)"
if [ -n "$DEAD" ]; then
  echo "soak.sh: died during the run:$DEAD (logs kept in $DIR)" >&2
  KEEP_DIR=1
  VERDICT=1
fi
if [ "$DRIVER_STATUS" -ne 0 ]; then
  echo "soak.sh: the driver saw failures; its log: $DIR/driver.log" >&2
  KEEP_DIR=1
  VERDICT=1
fi
[ "$VERDICT" -eq 0 ] && echo "== soak passed" || echo "== soak FAILED"
exit "$VERDICT"
