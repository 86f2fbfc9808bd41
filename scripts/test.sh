#!/usr/bin/env bash
# The darkscrape test command (README "Run the tests"; CI runs exactly this).
# On a fresh machine it first installs what the tests need, then runs the format check,
# clippy with warnings as errors, every test of the workspace, and the small node-exporter
# build that the README documents.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
# shellcheck source=/dev/null
source scripts/peers.env

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo doc (public API docs build without warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo build (binaries the tests run as child processes)"
cargo build --bin darkscrape --example custom_exporter
echo "== cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc
echo "== the small node-exporter build (built, served dark under valgrind, relinked, run)"
crates/node-exporter/scripts/build-small.sh --scrapes 1

# ---- The container image and the Kubernetes manifests (Dockerfile, deploy/) ----
echo "== the image's runtime contents, run in an empty root (needs root: unshare, chroot)"
scripts/image-check.sh
echo "== the Kubernetes manifests: rendered, schema-validated, security rules"
scripts/deploy-check.sh
