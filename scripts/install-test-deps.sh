#!/usr/bin/env bash
# Installs what the darkscrape tests need, once per machine; safe to run again.
#  - Debian packages: prometheus (server + promtool), prometheus-node-exporter, libsodium-dev,
#    valgrind (crates/node-exporter/scripts/build-small.sh records the functions that run),
#    iproute2 (the netclass test builds a network namespace with `ip netns`; it needs root),
#    nftables (tests/netns_firewall.rs closes its namespace to inbound connections with `nft`),
#    binutils (strip, readelf) and util-linux (unshare) for scripts/image-check.sh.
#  - A Python venv at .venv-peers with the real OpenZiti C SDK (openziti==0.6.0, C SDK 0.29.3)
#    and PyNaCl (libsodium), used as peers nobody here wrote.
#  - The Go SDK peer (tests/peers/go-peer, on github.com/openziti/sdk-golang as pinned in its
#    go.mod), built with Go >= 1.26 from the Go module proxy into a cache outside the
#    repository (DARKSCRAPE_PEER_CACHE, default ~/.cache/darkscrape-peers), keyed by the SDK
#    version and a hash of go.mod, go.sum and main.go: a second run builds nothing. The cold
#    build (module downloads included) took 113 s on the 2-core dev machine, 147 s with the
#    machine under a load of 7 (2026-12).
# Writes scripts/peers.env with the paths the tests read.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(prometheus prometheus-node-exporter libsodium-dev valgrind iproute2 nftables binutils util-linux)
missing=()
for p in "${DEBS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

VENV=.venv-peers
PY_PKGS=(openziti==0.6.0 PyNaCl==1.5.0)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import openziti, nacl' >/dev/null 2>&1; then
  echo "== creating $VENV with ${PY_PKGS[*]}"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "${PY_PKGS[@]}"
fi

# The Go SDK peer. GOMODCACHE and GOCACHE live in the same cache directory, so a fresh
# machine downloads modules once and the repository stays clean.
GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
if [ ! -x "$GO" ]; then
  echo "install-test-deps: Go (>= 1.26) not found on PATH nor at /usr/local/go/bin/go;" \
    "install it, then run this script again" >&2
  exit 1
fi
PEER_CACHE="${DARKSCRAPE_PEER_CACHE:-$HOME/.cache/darkscrape-peers}"
GO_PEER_SRC=tests/peers/go-peer
SDK_VERSION="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/openziti/sdk-golang") { print $(i + 1); exit } }' "$GO_PEER_SRC/go.mod")"
if [ -z "$SDK_VERSION" ]; then
  echo "install-test-deps: $GO_PEER_SRC/go.mod names no github.com/openziti/sdk-golang version" >&2
  exit 1
fi
SRC_HASH="$(cat "$GO_PEER_SRC/go.mod" "$GO_PEER_SRC/go.sum" "$GO_PEER_SRC/main.go" | sha256sum | cut -c1-12)"
GO_PEER="$PEER_CACHE/go-peer-sdk-golang-$SDK_VERSION-$SRC_HASH/go-peer"
if [ ! -x "$GO_PEER" ]; then
  echo "== building the Go SDK peer (sdk-golang $SDK_VERSION) into $(dirname "$GO_PEER")"
  mkdir -p "$PEER_CACHE"
  started=$SECONDS
  (
    cd "$GO_PEER_SRC"
    GOMODCACHE="$PEER_CACHE/gomod" GOCACHE="$PEER_CACHE/gocache" GOFLAGS="-trimpath -mod=readonly" \
      "$GO" build -o "$GO_PEER.partial" .
  )
  mv "$GO_PEER.partial" "$GO_PEER"
  echo "== Go SDK peer built in $((SECONDS - started)) s"
fi

cat > scripts/peers.env <<ENV
export DARKSCRAPE_PEER_PYTHON="$PWD/$VENV/bin/python"
export DARKSCRAPE_PROMTOOL="$(command -v promtool)"
export DARKSCRAPE_PROMETHEUS="$(command -v prometheus)"
export DARKSCRAPE_NODE_EXPORTER="$(command -v prometheus-node-exporter)"
export DARKSCRAPE_GO_PEER="$GO_PEER"
ENV

# ---- The image and manifest checks (scripts/image-check.sh, scripts/deploy-check.sh) ----
# Go for deploy-check (its Debian packages are in DEBS above), whose modules (kustomize, k8s.io API, schema and Pod Security code) go to Go's module
# cache once.
GO="$(command -v go || echo /usr/local/go/bin/go)"
if [ ! -x "$GO" ]; then
  echo "install-test-deps.sh: Go not found (expected /usr/local/go/bin/go); scripts/deploy-check.sh needs it" >&2
  exit 1
fi
(cd scripts/deploy-check && GOTOOLCHAIN=local "$GO" mod download)
