# syntax=docker/dockerfile:1
# Portico operator image: `docker build -t ghcr.io/portico-dev/portico:0.1.0 .`
# Build stage: the release binary (rustls with ring, so no OpenSSL is needed at run time).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY openapi ./openapi
COPY examples ./examples
COPY src ./src
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin portico

# Run stage: glibc only, no shell, non-root (uid 65532), read-only root filesystem friendly.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/portico /usr/local/bin/portico
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portico"]
CMD ["run", "--leader-election"]
