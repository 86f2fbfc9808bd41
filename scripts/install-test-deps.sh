#!/usr/bin/env bash
# Installs what the darkscrape tests need, once per machine; safe to run again.
#  - Debian packages: prometheus (server + promtool), prometheus-node-exporter, libsodium-dev,
#    valgrind (crates/node-exporter/scripts/build-small.sh records the functions that run),
#    iproute2 (the netclass test builds a network namespace with `ip netns`; it needs root).
#  - A Python venv at .venv-peers with the real OpenZiti C SDK (openziti==0.6.0, C SDK 0.29.3)
#    and PyNaCl (libsodium), used as peers nobody here wrote.
# Writes scripts/peers.env with the paths the tests read.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(prometheus prometheus-node-exporter libsodium-dev valgrind iproute2)
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

cat > scripts/peers.env <<ENV
export DARKSCRAPE_PEER_PYTHON="$PWD/$VENV/bin/python"
export DARKSCRAPE_PROMTOOL="$(command -v promtool)"
export DARKSCRAPE_PROMETHEUS="$(command -v prometheus)"
export DARKSCRAPE_NODE_EXPORTER="$(command -v prometheus-node-exporter)"
ENV

# ---- The image and manifest checks (scripts/image-check.sh, scripts/deploy-check.sh) ----
# binutils (strip, readelf) and util-linux (unshare) for the image; Go for deploy-check,
# whose modules (kustomize, k8s.io API, schema and Pod Security code) go to Go's module
# cache once.
IMAGE_DEBS=(binutils util-linux)
missing=()
for p in "${IMAGE_DEBS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
GO="$(command -v go || echo /usr/local/go/bin/go)"
if [ ! -x "$GO" ]; then
  echo "install-test-deps.sh: Go not found (expected /usr/local/go/bin/go); scripts/deploy-check.sh needs it" >&2
  exit 1
fi
(cd scripts/deploy-check && GOTOOLCHAIN=local "$GO" mod download)
