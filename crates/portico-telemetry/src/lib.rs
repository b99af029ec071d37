//! Process telemetry shared by every Portico binary (imports no crate of ours): the tracing subscriber (text or JSON log lines on stderr, each carrying
//! the `trace_id` and `span_id` of the span it was logged in), the OpenTelemetry tracer that
//! gives every span a W3C trace id and, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, exports spans over OTLP/HTTP (protobuf), and
//! the W3C `traceparent` propagator.
//!
//! The standard OpenTelemetry variables apply: `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` (resource), `OTEL_EXPORTER_OTLP_HEADERS` and `…_TIMEOUT`
//! (exporter), `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (sampling), `OTEL_BSP_*`
//! (batching), and `OTEL_TRACES_EXPORTER=none` turns export off.

#![forbid(unsafe_code)]

pub mod tls;

use std::sync::{Arc, OnceLock};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the tracer provider alive until `shutdown`, which flushes buffered spans.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes buffered spans and stops the tracer. Blocking (the exporter's HTTP client is);
    /// call it last, after the work that made spans has ended.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("portico: failed to flush spans: {error}");
        }
    }
}

/// Whether the environment asks for OTLP export.
pub fn otlp_export_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let disabled = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The tracer provider of a Portico process: resource from the environment (service name
/// `default_service_name` unless `OTEL_SERVICE_NAME` says otherwise), sampler from the
/// environment, and an OTLP/HTTP batch exporter when one is configured.
pub fn tracer_provider(default_service_name: &'static str) -> SdkTracerProvider {
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(default_service_name);
    }
    let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
    if otlp_export_configured() {
        // Endpoint, headers and timeout come from the OTEL_EXPORTER_OTLP_* variables.
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(error) => eprintln!("portico: OTLP export disabled: {error}"),
        }
    }
    builder.build()
}

/// Installs the global subscriber: `RUST_LOG`-style filtering (`default_level` when unset), log lines on
/// stderr in the given format with trace and span ids, and an OpenTelemetry layer so spans
/// carry W3C trace ids (and are exported when configured). Also installs the W3C trace-context
/// propagator. A second call in one process keeps the first subscriber.
pub fn init(
    default_service_name: &'static str,
    format: LogFormat,
    default_level: &str,
) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = tracer_provider(default_service_name);
    let tracer = provider.tracer(default_service_name);
    opentelemetry::global::set_tracer_provider(provider.clone());
    // Per-layer filters: `RUST_LOG` chooses what is logged, never which spans exist, so trace
    // ids reach status and events even when only warnings are logged.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let (ids, logs) = log_layer(format, std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(ids)
        .with(logs.with_filter(filter))
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(tracing_subscriber::filter::filter_fn(exported)),
        )
        .try_init();
    Telemetry { provider }
}

/// Whether a span goes to OpenTelemetry: info level and above (debug spans of dependencies
/// stay out), except kube-runtime's own per-reconcile span, which would otherwise be exported
/// as a second, childless trace beside every `reconcile` root.
fn exported(metadata: &tracing::Metadata<'_>) -> bool {
    *metadata.level() <= tracing::Level::INFO
        && !(metadata.is_span() && metadata.target().starts_with("kube_runtime"))
}

/// The log layer for `format` writing to `writer`, and the layer that lets it find the
/// OpenTelemetry ids of spans (install both in the same subscriber).
pub fn log_layer<S, W>(
    format: LogFormat,
    writer: W,
) -> (DispatchCapture, Box<dyn Layer<S> + Send + Sync + 'static>)
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let capture = DispatchCapture::default();
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
            .event_format(WithTraceIds {
                inner: tracing_subscriber::fmt::format().with_ansi(false),
                dispatch: capture.0.clone(),
                json: false,
            })
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .event_format(WithTraceIds {
                inner: tracing_subscriber::fmt::format().json(),
                dispatch: capture.0.clone(),
                json: true,
            })
            .boxed(),
    };
    (capture, layer)
}

/// Remembers the dispatcher it is installed in, so the log format can ask the OpenTelemetry
/// layer for a span's context (which needs the dispatcher, and the current-dispatcher lookup
/// is not available while an event is being dispatched).
#[derive(Clone, Default)]
pub struct DispatchCapture(Arc<OnceLock<WeakDispatch>>);

impl<S: Subscriber> Layer<S> for DispatchCapture {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }

    fn on_event(&self, _event: &Event<'_>, _ctx: Context<'_, S>) {}
}

/// Wraps a log format and adds `trace_id` and `span_id` of the event's span to each line.
struct WithTraceIds<F> {
    inner: F,
    dispatch: Arc<OnceLock<WeakDispatch>>,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let ids = self.ids(ctx, event);
        let Some((trace_id, span_id)) = ids else {
            return writer.write_str(&line);
        };
        let body = line.trim_end_matches('\n');
        if self.json {
            match body.strip_suffix('}') {
                Some(open) => writeln!(
                    writer,
                    r#"{open},"trace_id":"{trace_id}","span_id":"{span_id}"}}"#
                ),
                None => writeln!(writer, "{body}"),
            }
        } else {
            writeln!(writer, "{body} trace_id={trace_id} span_id={span_id}")
        }
    }
}

impl<F> WithTraceIds<F> {
    fn ids<S, N>(&self, ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Option<(String, String)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let span = match event.parent() {
            Some(id) => ctx.span(id),
            None if event.is_contextual() => ctx.lookup_current(),
            None => None,
        }?;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let context = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        let span_context = context.span().span_context().clone();
        span_context.is_valid().then(|| {
            (
                span_context.trace_id().to_string(),
                span_context.span_id().to_string(),
            )
        })
    }
}

/// Trace id (32 lowercase hex digits) of the current span, if it has a valid one.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(format: LogFormat) -> (String, String, String) {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let (ids, logs) = log_layer(format, move || sink.clone());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(ids)
            .with(logs)
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("reconcile", name = "m");
            let _entered = span.enter();
            tracing::info!(answer = 42, "inside");
            let context = span.context();
            let span_context = context.span().span_context().clone();
            (
                span_context.trace_id().to_string(),
                span_context.span_id().to_string(),
            )
        });
        let text = String::from_utf8_lossy(&buffer.0.lock().expect("buffer")).into_owned();
        (text, trace_id, span_id)
    }

    #[test]
    fn text_lines_carry_the_span_ids() {
        let (text, trace_id, span_id) = logged(LogFormat::Text);
        assert_eq!(trace_id.len(), 32);
        assert!(
            text.trim_end()
                .ends_with(&format!("trace_id={trace_id} span_id={span_id}")),
            "{text}"
        );
        assert!(text.contains("inside"), "{text}");
    }

    #[test]
    fn json_lines_carry_the_span_ids() {
        let (text, trace_id, span_id) = logged(LogFormat::Json);
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["trace_id"], trace_id.as_str());
        assert_eq!(line["span_id"], span_id.as_str());
        assert_eq!(line["fields"]["answer"], 42);
    }
}
