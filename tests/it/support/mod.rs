//! Shared test fixtures: process setup and throw-away servers.

// Each scenario module uses the fixtures it needs; not every fixture is used by every build.
#![allow(dead_code)]

pub mod postgres;

/// Process-wide setup every test calls first (TLS provider).
pub fn init() {
    portico::tls::install_crypto_provider();
}
