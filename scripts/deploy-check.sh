#!/usr/bin/env bash
# Renders and validates the Kubernetes manifests (deploy/) offline:
#
#   scripts/deploy-check.sh
#
#  1. builds scripts/deploy-check (Go; kustomize's engine, the Kubernetes API schema that
#     k8s.io/client-go ships, and the API server's Pod Security admission code; modules and
#     build cache in Go's own caches, outside the repository) and runs its tests, which
#     prove that each security rule rejects a pod breaking it;
#  2. renders deploy/ (every component) and the three deployments deploy/cluster-a,
#     deploy/cluster-b and deploy/central, validates every object against the schema and
#     every pod against the security rules (scripts/deploy-check/rules.go);
#  3. checks each rendered Prometheus configuration with promtool (Debian prometheus).
# Renderings are written to target/deploy-rendered/ for reading.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "deploy-check.sh: $*" >&2; exit 1; }
# The machine's Go; go.mod names no newer one, so nothing is fetched as a toolchain.
export GOTOOLCHAIN=local
go="$(command -v go || echo /usr/local/go/bin/go)"
[ -x "$go" ] || fail "Go not found (expected /usr/local/go/bin/go)"
promtool="${DARKSCRAPE_PROMTOOL:-$(command -v promtool || true)}"
[ -n "$promtool" ] || fail "promtool not found (Debian prometheus; scripts/install-test-deps.sh installs it)"

target_dir="${CARGO_TARGET_DIR:-target}"
out="$(realpath -m "$target_dir/deploy-rendered")"
bin="$(realpath -m "$target_dir/deploy-check/deploy-check")"
(cd scripts/deploy-check && "$go" build -o "$bin" . && "$go" vet . && "$go" test -count=1 .)

rm -rf "$out"
"$bin" -out "$out" deploy deploy/cluster-a deploy/cluster-b deploy/central
configs=("$out"/*.prometheus.yml)
[ -e "${configs[0]}" ] || fail "no Prometheus configuration was rendered"
for config in "${configs[@]}"; do
    "$promtool" check config "$config" > "$out/promtool.log" 2>&1 ||
        { cat "$out/promtool.log" >&2; fail "promtool check config $config failed"; }
done
echo "deploy-check.sh: ${#configs[@]} rendered Prometheus configurations pass promtool check config; renderings in $out"
