# syntax=docker/dockerfile:1
# The darkscrape image: `darkscrape` (every subcommand; the entrypoint) and
# `darkscrape-node-exporter`, both static executables, on an empty base. Nothing else is in
# it: no shell, no libraries, no /etc. It exposes no port, because nothing in it listens
# (the one exception, `darkscrape federate --listen`, binds loopback for a Prometheus in the
# same pod). Identity files come from a mounted secret, e.g.
#   docker run --rm -v $PWD/reflectz.json:/var/run/secrets/darkscrape/identity.json:ro \
#     darkscrape reflectz --identity /var/run/secrets/darkscrape/identity.json --service reflect
# scripts/image-check.sh builds this runtime stage's contents with the same script and runs
# them in an empty root as the same user; it also checks that this file still says so.

FROM docker.io/library/rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
# The same command scripts/image-check.sh runs: both binaries, static glibc, into /image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/build-image.sh /image

FROM scratch
COPY --from=build /image/ /
ENV PATH=/usr/local/bin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/darkscrape"]
CMD ["--help"]
