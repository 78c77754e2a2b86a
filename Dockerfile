# Fabrique's container image: `docker build -t fabrique .` from the repository root.
#
# Two stages: the build (Rust toolchain, the whole workspace) and the runtime (Debian slim, the
# one binary, CA certificates for TLS to identity providers and GPU backends). The runtime runs as
# an unprivileged user and writes only under /var/lib/fabrique (its data directory: spill
# journals, the knowledge index, uploaded files), so it runs with a read-only root filesystem
# (`docker run --read-only -v fabrique-data:/var/lib/fabrique …`; Kubernetes:
# `readOnlyRootFilesystem: true`, deploy/base/deployment.yaml).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin fabrique \
    && install -D -m 0755 target/release/fabrique /out/fabrique

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fabrique \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/fabrique --no-create-home fabrique \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/fabrique
COPY --from=build /out/fabrique /usr/local/bin/fabrique
USER 10001:10001
WORKDIR /var/lib/fabrique
EXPOSE 8080
# SIGTERM drains (readiness off, streams finished within `server.drain_timeout_secs`); SIGHUP
# reloads the configuration.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/fabrique"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/fabrique"]
