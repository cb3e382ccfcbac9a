# Static musl build of aiops, then a minimal runtime image with git and tmux.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --target x86_64-unknown-linux-musl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates git tmux openssh-client \
    && rm -rf /var/lib/apt/lists/* && useradd --system --create-home --home-dir /var/lib/aiops aiops
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/aiops /usr/local/bin/aiops
USER aiops
WORKDIR /var/lib/aiops
ENV AIOPS_DATA_DIR=/var/lib/aiops AIOPS_BIND=0.0.0.0:8060
EXPOSE 8060
ENTRYPOINT ["/usr/local/bin/aiops"]
CMD ["serve"]
