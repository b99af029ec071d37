//! Process-wide TLS setup: the one rustls crypto provider every HTTP client in the process uses.

/// Installs ring as rustls' process-wide crypto provider.
///
/// kube, reqwest and the OTLP exporter each build rustls configurations; with more than one
/// provider compiled in (or none selected) rustls panics at client creation, so the provider is
/// chosen once, before any client exists. Calling it again is harmless.
pub fn install_crypto_provider() {
    // An Err only means a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
