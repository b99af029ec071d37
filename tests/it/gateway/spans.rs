//! The span of every `GatewayClient` call carries the OpenTelemetry HTTP-client attributes, on
//! success and on failure, as seen by a capturing subscriber scoped to the test's thread; each
//! inference request the gateway forwards has one GenAI span continuing the caller's trace.
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

/// Keeps every log line written.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps every span the OpenTelemetry pipeline ends.
#[derive(Debug, Clone, Default)]
struct Exported(Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

impl opentelemetry_sdk::trace::SpanExporter for Exported {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(batch);
        Ok(())
    }
}

fn attribute(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

#[tokio::test]
async fn each_inference_request_has_one_genai_span_continuing_the_callers_trace() {
    use opentelemetry::trace::{SpanKind, TracerProvider as _};
    use serde_json::json;

    let s = super::dataplane::setup_with(&["127.0.0.1"], |_| {}).await;
    let mut spec = super::dataplane::openai_spec(&s.upstream.base_url());
    spec["provider"] = json!("openai");
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    let (status, _) = s.put_model("traced", spec).await;
    assert_eq!(status, 201);
    let key = s.key("traced").await;

    let exported = Exported::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exported.clone())
        .build();
    // Every log line too, at every level, with its spans' fields.
    let logs = Logs::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(logs.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
        );
    let guard = tracing::subscriber::set_default(subscriber);
    for stream in [false, true] {
        let response = s
            .chat(
                &key,
                json!({"model": "team-a/traced", "stream": stream,
                       "messages": [{"role": "user", "content": "one two three"}]}),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.text().await.expect("the answer ends");
    }
    // An upstream refusing the credential, quoting it.
    s.upstream
        .push_answer(portico_testbed::upstream::ScriptedAnswer {
            status: 401,
            headers: Vec::new(),
            body: r#"{"error":{"message":"Incorrect API key provided: sk-upstream-secret"}}"#
                .into(),
        });
    let refused = s
        .chat(
            &key,
            json!({"model": "team-a/traced", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(refused.status(), 502);
    drop(guard);
    let logged = logs.text();
    assert!(
        logged.contains("request refused"),
        "the log was captured: {logged}"
    );
    assert!(
        !logged.contains("sk-upstream-secret") && !logged.contains(&key),
        "a credential in the log: {logged}"
    );

    let spans = exported
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let chats: Vec<_> = spans
        .iter()
        .filter(|span| attribute(span, "gen_ai.operation.name").is_some())
        .collect();
    assert_eq!(chats.len(), 3, "one span per inference request: {chats:#?}");
    assert_eq!(
        attribute(chats[2], "error.type").as_deref(),
        Some("upstream_error")
    );
    let caller_trace = "0af7651916cd43dd8448eb211c80319c";
    let seen: Vec<_> = s
        .upstream
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    assert_eq!(seen.len(), 3);
    for (span, upstream) in chats.iter().zip(&seen).take(2) {
        assert_eq!(span.name, "chat gpt-4o-mini");
        assert_eq!(span.span_kind, SpanKind::Client);
        assert_eq!(
            attribute(span, "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        assert_eq!(attribute(span, "gen_ai.system").as_deref(), Some("openai"));
        assert_eq!(
            attribute(span, "gen_ai.request.model").as_deref(),
            Some("gpt-4o-mini")
        );
        assert_eq!(
            attribute(span, "gen_ai.response.model").as_deref(),
            Some("gpt-4o-mini")
        );
        assert_eq!(
            attribute(span, "gen_ai.usage.input_tokens").as_deref(),
            Some("3")
        );
        assert_eq!(
            attribute(span, "gen_ai.usage.output_tokens").as_deref(),
            Some("3")
        );
        assert_eq!(
            attribute(span, "gen_ai.response.finish_reasons").as_deref(),
            Some("stop")
        );
        assert_eq!(
            attribute(span, "server.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(attribute(span, "error.type"), None);
        // The caller's trace continues in the span and upstream, under the span.
        let context = &span.span_context;
        assert_eq!(context.trace_id().to_string(), caller_trace);
        let traceparent = upstream.headers["traceparent"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert_eq!(
            traceparent,
            format!("00-{caller_trace}-{}-01", context.span_id()),
            "the upstream continues the span"
        );
    }
    // No credential in any span.
    for span in &spans {
        for kv in &span.attributes {
            let value = kv.value.as_str();
            assert!(
                !value.contains("sk-upstream-secret") && !value.contains(&key),
                "{} carries a credential",
                kv.key
            );
        }
        assert!(!span.name.contains("sk-upstream-secret"));
    }
    let _ = provider.shutdown();
}
