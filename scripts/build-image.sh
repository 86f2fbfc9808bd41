#!/usr/bin/env bash
# Builds the container image's runtime contents: the one command the Dockerfile's build
# stage runs (`RUN scripts/build-image.sh /image`) and the one scripts/image-check.sh runs
# to test that same tree in an empty root, so the two cannot drift.
#
#   scripts/build-image.sh OUT_DIR
#
# OUT_DIR becomes the image's whole file system (the runtime stage is `FROM scratch` plus
# `COPY --from=build OUT_DIR /`):
#   OUT_DIR/usr/local/bin/darkscrape                 every subcommand (entrypoint)
#   OUT_DIR/usr/local/bin/darkscrape-node-exporter   the node exporter alone (smaller RSS)
# Nothing else (symbol tables stripped): both binaries link glibc statically (no loader, no libraries), read no
# file under /etc except /etc/hosts and /etc/resolv.conf (which Kubernetes and container
# engines mount) and carry no CA store (an identity file carries its own CA bundle).
#
# Build flags, for both binaries in one cargo invocation (they share every dependency):
#   --profile dist-small                 LTO, one codegen unit, optimised for size (Cargo.toml)
#   -C target-feature=+crt-static        glibc linked statically: a static-pie executable
# The target is named explicitly so the flags reach only the target's code, not build
# scripts or proc macros (which run on the build host); .cargo/config.toml's flags are
# joined with them. CARGO_TARGET_DIR, when set, is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:?usage: scripts/build-image.sh OUT_DIR}"
target=x86_64-unknown-linux-gnu
profile=dist-small
target_dir="${CARGO_TARGET_DIR:-target}"

CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --profile "$profile" --target "$target" \
    -p darkscrape -p node-exporter --bin darkscrape --bin darkscrape-node-exporter

rm -rf "$out"
mkdir -p "$out/usr/local/bin"
for bin in darkscrape darkscrape-node-exporter; do
    # Symbol tables only serve backtraces (there are no line tables in dist-small) and
    # make up a sixth of the file: left out of the image.
    strip -o "$out/usr/local/bin/$bin" "$target_dir/$target/$profile/$bin"
    chmod 0555 "$out/usr/local/bin/$bin"
done
echo "build-image.sh: $out/usr/local/bin: $(cd "$out/usr/local/bin" && ls -l | awk 'NR > 1 { printf "%s %s bytes; ", $9, $5 }')"
