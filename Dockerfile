# syntax=docker/dockerfile:1
# Build: docker build -t aiops .
# Run:   docker run -d --name aiops -p 8060:8060 -v aiops-data:/data \
#          -e AIOPS_ADMIN_EMAIL=you@example.com -e AIOPS_ADMIN_PASSWORD=change-me-now aiops
#        (without the two variables, `docker logs aiops` shows a one-time setup link)

# Where the binary comes from: `source` (default) builds it here from the source tree in a Rust
# image; `prebuilt` takes the one `bash packaging/build-static.sh` made on the host
# (target/x86_64-unknown-linux-musl/release/aiops), for machines without a Rust image:
#   bash packaging/build-static.sh && docker build --build-arg BINARY=prebuilt -t aiops .
ARG BINARY=source

# 1a. The static musl binary, built from source.
FROM rust:1-bookworm AS binary-source
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN bash packaging/build-static.sh \
    && cp target/x86_64-unknown-linux-musl/release/aiops /aiops

# 1b. The static musl binary, built on the host beforehand.
FROM scratch AS binary-prebuilt
COPY target/x86_64-unknown-linux-musl/release/aiops /aiops

FROM binary-${BINARY} AS binary

# 2. The runtime: the binary plus what agents and playbooks use at run time.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git tmux openssh-client ansible sudo bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /bin/sh aiops \
    && mkdir -p /data && chown aiops:aiops /data
COPY --from=binary /aiops /usr/local/bin/aiops
USER aiops
WORKDIR /data
VOLUME ["/data"]
ENV AIOPS_DATA_DIR=/data \
    AIOPS_BIND=0.0.0.0:8060
EXPOSE 8060
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/aiops", "health", "--url", "http://127.0.0.1:8060"]
ENTRYPOINT ["/usr/local/bin/aiops"]
CMD ["serve"]
