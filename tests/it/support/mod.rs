//! Shared test fixtures: process setup (TLS provider, the one global tracing subscriber with
//! captured logs and OpenTelemetry trace ids), polling helpers, and throw-away servers.

// Each scenario module uses the fixtures it needs; not every fixture is used by every build.
#![allow(dead_code)]

pub mod postgres;

use std::future::Future;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

fn log_buffer() -> &'static Mutex<Vec<u8>> {
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Where captured log lines go: an in-memory buffer every test can search.
struct CapturedLogs;

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Process-wide setup every test calls first: the TLS provider, and one global subscriber that
/// (a) captures every log line at debug level and above, so tests can prove what never reaches
/// the logs, and (b) gives spans OpenTelemetry trace ids, so gateway calls carry `traceparent`.
/// It must be global: thread-local subscribers race over tracing's per-callsite cache.
pub fn init() {
    portico_telemetry::tls::install_crypto_provider();
    static TRACING: std::sync::Once = std::sync::Once::new();
    TRACING.call_once(|| {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let logs = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| CapturedLogs)
            .with_filter(tracing_subscriber::EnvFilter::new("debug"));
        let _ = tracing_subscriber::registry()
            .with(logs)
            .with(portico_gateway_client::trace_id_layer())
            .try_init();
    });
}

/// Everything logged so far by any test in this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(
        &log_buffer()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
    .into_owned()
}

/// Polls `check` until it yields `Some`, failing the test with `what` after `timeout`. Polling
/// with a deadline, not sleeping: the test proceeds the moment the condition holds.
pub async fn eventually_within<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `eventually_within` with a generous default deadline (the machine is shared and slow).
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, Duration::from_secs(30), check).await
}
