//! One trace from `kubectl apply` to the gateway: `portico run` and `portico gateway` run as
//! separate processes exporting OTLP/HTTP to an in-test receiver (decoded with
//! `opentelemetry-proto`). The operator's reconcile span is the parent of its gateway-call
//! spans, the gateway's server spans are children of those across the process boundary, the
//! trace id in the CR's status and events is one of them, the standard OTEL_* variables are
//! honoured, spans are flushed on SIGTERM, and no secret appears in any span.
//!
//! Also here: SIGTERM while a reconcile is waiting on the gateway lets that reconcile finish.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as Any, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use portico_api::{AIModel, CONDITION_SYNCED};
use prost::Message;
use tokio::process::Command;

use super::{OperatorProcess, PORTICO};
use crate::operator::{
    GATEWAY_TOKEN, HasConditions, NS, Options, PROVIDER_KEY, aimodel, model_spec, secret_string,
};
use crate::support::eventually;

/// One span as the receiver got it.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: Vec<(String, String)>,
    /// Every string in the span: name, attribute keys and values, event names and attributes.
    strings: Vec<String>,
}

impl ReceivedSpan {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    tenant_headers: Vec<String>,
}

/// An OTLP/HTTP (protobuf) trace receiver on `127.0.0.1:0`.
struct OtlpReceiver {
    url: String,
    received: Arc<Mutex<Received>>,
}

fn text(value: &Option<Any>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

async fn collect(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut received = received.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tenant) = headers.get("x-tenant").and_then(|v| v.to_str().ok()) {
        received.tenant_headers.push(tenant.to_string());
    }
    for resource_spans in request.resource_spans {
        let resource = pairs(
            &resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        let service = resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                let attributes = pairs(&span.attributes);
                let mut strings = vec![span.name.clone()];
                for (k, v) in &attributes {
                    strings.push(k.clone());
                    strings.push(v.clone());
                }
                for event in &span.events {
                    strings.push(event.name.clone());
                    for (k, v) in pairs(&event.attributes) {
                        strings.push(k);
                        strings.push(v);
                    }
                }
                received.spans.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name.clone(),
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes,
                    strings,
                });
            }
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl OtlpReceiver {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(collect))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver binds");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, received }
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .spans
            .clone()
    }
}

/// `portico gateway` as a child process with the admin token in a file.
fn gateway_process(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> OperatorProcess {
    let token_file = dir.join("gateway-token");
    std::fs::write(&token_file, GATEWAY_TOKEN).expect("token file written");
    let mut command = Command::new(PORTICO);
    command
        .args(["gateway", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    for (key, value) in env {
        command.env(key, value);
    }
    OperatorProcess::spawn(command)
}

async fn gateway_url(gateway: &OperatorProcess) -> String {
    eventually("the gateway to print its address", || async {
        let log = gateway.log();
        let line = log.lines().find(|l| l.contains("listening on"))?;
        Some(line.split("listening on ").nth(1)?.trim().to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_operator_and_gateway_and_reaches_status() {
    let (env, dir, kubeconfig) = super::env_for_processes(Options::default()).await;
    let receiver = OtlpReceiver::start().await;
    // A ten-minute batch delay: spans can only arrive through the flush on SIGTERM.
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=portico-it"),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ];
    let mut gateway_env = otel.to_vec();
    gateway_env.push(("OTEL_SERVICE_NAME", "edge-gateway"));
    // The model's provider: a local stand-in (the gateway checks the upstream at provisioning).
    let provider = portico_testbed::upstream::StandInUpstream::start()
        .await
        .expect("stand-in provider");
    let provider_url = format!("openai={}", provider.base_url());
    let mut gateway = gateway_process(
        dir.path(),
        &["--dev-provider-base-url", &provider_url],
        &gateway_env,
    );
    let url = gateway_url(&gateway).await;
    let mut operator = OperatorProcess::run(&kubeconfig, &url, "traced-0", &[], &otel);
    operator.metrics_addr().await;

    env.create::<AIModel>(aimodel("traced", model_spec())).await;
    let model = env.wait_ready::<AIModel>("traced").await;
    assert!(
        receiver.spans().is_empty(),
        "OTEL_BSP_SCHEDULE_DELAY is honoured: nothing exported before shutdown"
    );
    let status = model.status.clone().expect("status");
    let status_trace = status
        .last_operation
        .as_ref()
        .and_then(|op| op.trace_id.clone())
        .expect("lastOperation carries a trace id");
    let synced = model.condition(CONDITION_SYNCED).expect("Synced condition");
    assert!(synced.message.contains(&status_trace), "{}", synced.message);
    let events = Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .expect("events listed");
    assert!(
        events
            .items
            .iter()
            .any(|event| event.reason.as_deref() == Some("Provisioned")
                && event
                    .note
                    .as_deref()
                    .is_some_and(|note| note.contains(&status_trace))),
        "the Provisioned event names the trace: {:?}",
        events.items.iter().map(|e| &e.note).collect::<Vec<_>>()
    );
    let api_key = secret_string(
        &env.secret("traced-conn").await.expect("connection Secret"),
        "apiKey",
    );

    operator.terminate();
    gateway.terminate();
    let operator_status = operator.exited(Duration::from_secs(30)).await;
    let gateway_status = gateway.exited(Duration::from_secs(30)).await;
    assert!(operator_status.success(), "{}", operator.log());
    assert!(gateway_status.success(), "{}", gateway.log());
    let spans = receiver.spans();
    let services: std::collections::BTreeSet<_> =
        spans.iter().map(|s| s.service.as_str()).collect();
    assert!(services.contains("portico-operator"), "{services:?}");
    assert!(
        services.contains("edge-gateway"),
        "OTEL_SERVICE_NAME is honoured: {services:?}"
    );
    assert!(
        receiver
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tenant_headers
            .iter()
            .all(|t| t == "portico-it"),
        "OTEL_EXPORTER_OTLP_HEADERS is honoured"
    );

    // The operator: a reconcile root span with the object's identity …
    let reconcile = spans
        .iter()
        .find(|s| {
            s.service == "portico-operator" && s.name == "reconcile" && s.trace_id == status_trace
        })
        .unwrap_or_else(|| panic!("a reconcile span of trace {status_trace}: {spans:#?}"));
    assert!(
        reconcile.parent_span_id.is_empty(),
        "reconcile is a root span"
    );
    assert_eq!(reconcile.attribute("kind"), Some("AIModel"));
    assert_eq!(reconcile.attribute("namespace"), Some(NS));
    assert_eq!(reconcile.attribute("name"), Some("traced"));
    assert_eq!(reconcile.attribute("generation"), Some("1"));
    // … whose children are the gateway calls, with the HTTP-client attributes …
    let upsert = spans
        .iter()
        .find(|s| {
            s.parent_span_id == reconcile.span_id
                && s.name == "PUT /v1/namespaces/{ns}/models/{name}"
        })
        .unwrap_or_else(|| panic!("an upsertModel child span: {spans:#?}"));
    assert_eq!(upsert.kind, SpanKind::Client as i32);
    assert_eq!(upsert.trace_id, status_trace);
    assert_eq!(upsert.attribute("http.request.method"), Some("PUT"));
    assert_eq!(
        upsert.attribute("url.template"),
        Some("/v1/namespaces/{ns}/models/{name}")
    );
    assert_eq!(upsert.attribute("http.response.status_code"), Some("201"));
    assert_eq!(upsert.attribute("server.address"), Some("127.0.0.1"));
    assert!(upsert.attribute("server.port").is_some());
    // … and the gateway's server span continues the trace in the other process.
    let served = spans
        .iter()
        .find(|s| s.service == "edge-gateway" && s.parent_span_id == upsert.span_id)
        .unwrap_or_else(|| panic!("a gateway span under the upsert call: {spans:#?}"));
    assert_eq!(served.trace_id, status_trace);
    assert_eq!(served.kind, SpanKind::Server as i32);

    for secret in [GATEWAY_TOKEN, PROVIDER_KEY, api_key.as_str()] {
        for span in &spans {
            assert!(
                !span.strings.iter().any(|s| s.contains(secret)),
                "a secret value reached span {span:#?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_reconcile_in_flight_finish() {
    let (env, _dir, kubeconfig) = super::env_for_processes(Options::default()).await;
    env.gateway.set_fault_latency(Duration::from_millis(1500));
    let mut operator =
        OperatorProcess::run(&kubeconfig, &env.gateway.url(), "graceful-0", &[], &[]);
    operator.metrics_addr().await;
    env.create::<AIModel>(aimodel("in-flight", model_spec()))
        .await;
    eventually("a gateway call to be in flight", || async {
        (env.gateway.in_flight() > 0).then_some(())
    })
    .await;
    operator.terminate();
    let status = operator.exited(Duration::from_secs(60)).await;
    assert!(status.success(), "{}", operator.log());
    // The reconcile that was waiting on the gateway ran to its end: model, key, Secret, status.
    let model = env.api::<AIModel>().get("in-flight").await.expect("model");
    let ready = model
        .condition(portico_api::CONDITION_READY)
        .map(|c| c.status.clone());
    assert_eq!(ready.as_deref(), Some("True"), "{}", operator.log());
    assert!(env.secret("in-flight-conn").await.is_some());
    assert_eq!(env.gateway.in_flight(), 0);
}
