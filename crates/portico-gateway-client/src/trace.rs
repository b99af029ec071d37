//! Trace ids without an exporter: an OpenTelemetry layer for `tracing` backed by an SDK tracer
//! provider that exports nothing. Calls made under it get real W3C trace ids and send
//! `traceparent`; an application that exports traces installs its own layer instead.
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetryLayer;

/// A `tracing` layer giving every span an OpenTelemetry context (and so a trace id), exporting
/// nothing. Install it with `tracing_subscriber::registry().with(trace_id_layer())`.
///
/// Without some OpenTelemetry layer, `GatewayClient` sends no `traceparent` and records no trace
/// id.
pub fn trace_id_layer<S>() -> OpenTelemetryLayer<S, Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let provider = SdkTracerProvider::builder().build();
    tracing_opentelemetry::layer().with_tracer(provider.tracer("portico"))
}
