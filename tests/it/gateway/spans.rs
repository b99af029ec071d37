//! The span of every `GatewayClient` call carries the OpenTelemetry HTTP-client attributes, on
//! success and on failure, as seen by a capturing subscriber scoped to the test's thread.
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use portico_gateway_client::{GatewayClient, GatewayClientConfig};
use secrecy::SecretString;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span's name and its fields' values, as text.
#[derive(Debug, Clone, Default)]
struct SpanFields {
    name: &'static str,
    values: BTreeMap<String, String>,
}

impl SpanFields {
    fn get(&self, field: &str) -> Option<&str> {
        self.values.get(field).map(String::as_str)
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.values
            .insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.values
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

/// Keeps the fields of every span closed while it is installed.
#[derive(Clone, Default)]
struct Capture {
    closed: Arc<Mutex<Vec<SpanFields>>>,
}

impl Capture {
    /// The closed spans named `gateway.call` (the gateway's own spans share the thread).
    fn calls(&self) -> Vec<SpanFields> {
        self.closed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|span| span.name == "gateway.call")
            .cloned()
            .collect()
    }
}

impl<S> Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields {
            name: attrs.metadata().name(),
            values: BTreeMap::new(),
        };
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(fields) = span.extensions_mut().remove::<SpanFields>()
        {
            self.closed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(fields);
        }
    }
}

/// Installs a capturing subscriber as this thread's default until the guard drops. The tests
/// run on a current-thread runtime, so every span of the calls they await lands here, while
/// the process-wide subscriber of `crate::support` keeps serving the other tests' threads.
fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    (capture, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn call_spans_carry_the_http_client_attributes() {
    let gateway = super::gateway().await;
    let client = super::client(&gateway);
    let (capture, _guard) = capture();
    let port = gateway.addr().port().to_string();

    client
        .upsert_model("team-a", "summarizer", &super::model_spec())
        .await
        .expect("create");
    client
        .get_model("team-a", "missing")
        .await
        .expect_err("404");

    let calls = capture.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let created = &calls[0];
    assert_eq!(created.get("http.request.method"), Some("PUT"));
    assert_eq!(
        created.get("url.template"),
        Some("/v1/namespaces/{ns}/models/{name}")
    );
    assert_eq!(
        created.get("url.full"),
        Some(format!("{}/v1/namespaces/team-a/models/summarizer", gateway.url()).as_str())
    );
    assert_eq!(created.get("server.address"), Some("127.0.0.1"));
    assert_eq!(created.get("server.port"), Some(port.as_str()));
    assert_eq!(created.get("http.response.status_code"), Some("201"));
    assert_eq!(created.get("gateway.operation"), Some("upsertModel"));
    assert_eq!(created.get("error.type"), None, "{created:?}");

    let missing = &calls[1];
    assert_eq!(missing.get("http.request.method"), Some("GET"));
    assert_eq!(missing.get("http.response.status_code"), Some("404"));
    assert_eq!(missing.get("error.type"), Some("404"));
    assert_eq!(missing.get("otel.status_code"), Some("ERROR"));
}

#[tokio::test]
async fn a_call_without_an_answer_records_its_error_type() {
    super::init();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    let client = GatewayClient::new(
        GatewayClientConfig::new(format!("http://{addr}")),
        SecretString::from(super::TOKEN),
    )
    .expect("client builds");
    let (capture, _guard) = capture();

    client
        .get_model("team-a", "m")
        .await
        .expect_err("nothing listens");

    let calls = capture.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call.get("error.type"), Some("connect"));
    assert_eq!(call.get("http.response.status_code"), None);
    assert_eq!(
        call.get("server.port"),
        Some(addr.port().to_string().as_str())
    );
    assert_eq!(
        call.get("url.template"),
        Some("/v1/namespaces/{ns}/models/{name}")
    );
}
