# syntax=docker/dockerfile:1
# Portico operator image: `docker build -t ghcr.io/portico-dev/portico:0.1.0 .`
# The binary is built without the `dev-tools` feature: it links the operator and the CRD types,
# never the sandbox API server, the gateway server, the bench or the soak (a test checks
# `cargo tree` of exactly this build). The gateway has its own image: Dockerfile.gateway.
# Build stage: the release binary (rustls with ring, so no OpenSSL is needed at run time).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY crates ./crates
COPY xtask ./xtask
COPY src ./src
COPY openapi ./openapi
COPY crds ./crds
COPY examples ./examples
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --package portico --no-default-features --bin portico

# Run stage: glibc only, no shell, non-root (uid 65532), read-only root filesystem friendly.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/portico /usr/local/bin/portico
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portico"]
CMD ["run", "--leader-election"]
