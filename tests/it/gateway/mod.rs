//! Gateway contract scenarios: `GatewayClient` against a real `portico gateway` on loopback.

mod binary;
mod conformance;
mod dataplane;
mod dataplane_faults;
mod postgres;
mod spans;
mod transport;

use std::time::{Duration, Instant};

use portico_gateway::{FaultBody, GatewayConfig, HUGE_BODY_BYTES, ReferenceGateway, ScriptedFault};
use portico_gateway_client::{
    DatabasePhase, DatabaseSpec, ErrorClass, GatewayClient, GatewayClientConfig,
    MAX_RESPONSE_BODY_BYTES, ModelParameters, ModelSpec, PromptTemplate,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

const TOKEN: &str = "test-admin-token";

/// Process-wide setup of these scenarios: the test support's, plus an OpenTelemetry layer (no
/// exporter) as the global subscriber so spans carry trace ids. It has to be global: a
/// thread-local default races with other tests over tracing's per-callsite interest cache.
fn init() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    crate::support::init();
    static TRACING: std::sync::Once = std::sync::Once::new();
    TRACING.call_once(|| {
        // Another scenario module may have installed a global subscriber first; then its
        // layers decide whether spans get trace ids, and the trace test says so.
        let _ = tracing_subscriber::registry()
            .with(portico_gateway_client::trace_id_layer())
            .try_init();
    });
}

async fn gateway_with(mut config: GatewayConfig) -> ReferenceGateway {
    init();
    // Models call a local stand-in provider (it echoes the last user message), which lives as
    // long as the test's runtime.
    portico_testbed::upstream::StandInUpstream::start()
        .await
        .expect("stand-in upstream starts")
        .serve_providers_of(&mut config);
    ReferenceGateway::start(config)
        .await
        .expect("reference gateway starts")
}

async fn gateway() -> ReferenceGateway {
    gateway_with(GatewayConfig::new(SecretString::from(TOKEN))).await
}

fn client_config(gateway: &ReferenceGateway) -> GatewayClientConfig {
    GatewayClientConfig {
        qps: 1000.0,
        burst: 100,
        ..GatewayClientConfig::new(gateway.url())
    }
}

fn client(gateway: &ReferenceGateway) -> GatewayClient {
    GatewayClient::new(client_config(gateway), SecretString::from(TOKEN)).expect("client builds")
}

fn model_spec() -> ModelSpec {
    ModelSpec {
        provider: "openai".into(),
        upstream_model: "gpt-4o-mini".into(),
        provider_credential: Some(SecretString::from("sk-upstream")),
        prompt_template: Some(PromptTemplate {
            system: Some("Be brief.".into()),
            template: "Summarize: {{input}}".into(),
            variables: Vec::new(),
        }),
        parameters: Some(ModelParameters {
            temperature: Some(0.2),
            max_tokens: Some(256),
            top_p: None,
        }),
        limits: None,
        upstream: None,
    }
}

fn database_spec() -> DatabaseSpec {
    DatabaseSpec {
        engine: "PostgreSQL".into(),
        version: "16".into(),
        database_name: "orders".into(),
        storage_gb: 10,
        replicas: 0,
    }
}

/// Arrival of the `index`-th request of `operation` at the gateway.
fn arrival(gateway: &ReferenceGateway, operation: &str, index: usize) -> Instant {
    gateway
        .requests()
        .iter()
        .filter(|r| r.operation == operation)
        .nth(index)
        .map(|r| r.arrived)
        .expect("the gateway recorded the request")
}

#[tokio::test]
async fn second_identical_upsert_answers_200_with_the_same_generation() {
    let gateway = gateway().await;
    let client = client(&gateway);
    let first = client
        .upsert_model("team-a", "summarizer", &model_spec())
        .await
        .expect("create");
    assert_eq!(first.call.http_status, Some(201));
    assert!(first.created());
    assert_eq!(first.value.generation, 1);
    assert_eq!(first.call.method, "PUT");
    assert_eq!(first.call.path, "/v1/namespaces/team-a/models/summarizer");
    assert!(first.value.spec.provider_credential.is_none());

    let second = client
        .upsert_model("team-a", "summarizer", &model_spec())
        .await
        .expect("unchanged upsert");
    assert_eq!(second.call.http_status, Some(200));
    assert_eq!(second.value.generation, 1);

    let mut changed = model_spec();
    changed.provider_credential = Some(SecretString::from("sk-rotated"));
    let third = client
        .upsert_model("team-a", "summarizer", &changed)
        .await
        .expect("credential change");
    assert_eq!(third.call.http_status, Some(200));
    assert_eq!(
        third.value.generation, 2,
        "a new credential is a spec change"
    );

    let read = client.get_model("team-a", "summarizer").await.expect("get");
    assert_eq!(read.value.generation, 2);
    assert_eq!(read.value.client_model, "team-a/summarizer");
    let page = client
        .list_models("team-a", None, None)
        .await
        .expect("list");
    assert_eq!(page.value.items.len(), 1);
    assert_eq!(gateway.stats().objects.models, 1);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_terminal_401() {
    let gateway = gateway().await;
    let wrong = GatewayClient::new(client_config(&gateway), SecretString::from("not-the-token"))
        .expect("client builds");
    let error = wrong.get_model("team-a", "missing").await.expect_err("401");
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.code(), "unauthorized");
    assert_eq!(error.class(), ErrorClass::Terminal);
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("not-the-token"), "token leaked: {shown}");

    // A rotated token is used on the next call, without a new client.
    let (rotate, tokens) = watch::channel(None::<SecretString>);
    let rotating = GatewayClient::new(client_config(&gateway), tokens).expect("client builds");
    let before = gateway.requests().len();
    let error = rotating
        .get_model("team-a", "missing")
        .await
        .expect_err("no token");
    assert_eq!(error.code(), "no_token");
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert_eq!(
        gateway.requests().len(),
        before,
        "no request without a token"
    );
    rotate.send_replace(Some(SecretString::from(TOKEN)));
    let error = rotating
        .get_model("team-a", "missing")
        .await
        .expect_err("404");
    assert_eq!(error.class(), ErrorClass::NotFound);
}

#[tokio::test]
async fn invalid_values_surface_422_details() {
    let gateway = gateway().await;
    let client = client(&gateway);
    let mut spec = model_spec();
    spec.parameters = Some(ModelParameters {
        temperature: Some(7.5),
        max_tokens: Some(256),
        top_p: None,
    });
    let error = client
        .upsert_model("team-a", "summarizer", &spec)
        .await
        .expect_err("422");
    assert_eq!(error.status(), Some(422));
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert_eq!(error.code(), "invalid");
    assert!(
        error
            .details()
            .iter()
            .any(|d| d.field == "parameters.temperature"),
        "details: {:?}",
        error.details()
    );
}

#[tokio::test]
async fn changing_a_database_engine_is_a_terminal_conflict() {
    let gateway = gateway().await;
    let client = client(&gateway);
    client
        .upsert_database("team-a", "orders", &database_spec())
        .await
        .expect("create");
    let mut mysql = database_spec();
    mysql.engine = "MySQL".into();
    let error = client
        .upsert_database("team-a", "orders", &mysql)
        .await
        .expect_err("409");
    assert_eq!(error.status(), Some(409));
    assert_eq!(error.class(), ErrorClass::Terminal);
    assert!(error.details().iter().any(|d| d.field == "engine"));
}

#[tokio::test]
async fn a_429_pauses_every_clone_until_retry_after() {
    let gateway = gateway().await;
    let client = client(&gateway);
    let other = client.clone();
    gateway.push_fault(ScriptedFault::new("getModel", 429).retry_after(1));
    let error = client
        .get_model("team-a", "missing")
        .await
        .expect_err("429");
    assert_eq!(
        error.class(),
        ErrorClass::Retryable {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    let refused_at = arrival(&gateway, "getModel", 0);
    let _ = other.get_model("team-a", "missing").await;
    let next_at = arrival(&gateway, "getModel", 1);
    assert!(
        next_at >= refused_at + Duration::from_secs(1),
        "the gateway saw the next request {:?} after the 429",
        next_at - refused_at
    );
}

#[tokio::test]
async fn a_503_with_retry_after_pauses_every_clone_until_then() {
    let gateway = gateway().await;
    let client = client(&gateway);
    let other = client.clone();
    gateway.push_fault(ScriptedFault::new("getModel", 503).retry_after(1));
    let error = client
        .get_model("team-a", "missing")
        .await
        .expect_err("503");
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.code(), "unavailable");
    assert_eq!(
        error.class(),
        ErrorClass::Retryable {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    let refused_at = arrival(&gateway, "getModel", 0);
    // Another operation through a clone: the pause belongs to the shared limiter, not to the
    // operation or the clone that was refused.
    let _ = other.list_models("team-a", None, None).await;
    let next_at = arrival(&gateway, "listModels", 0);
    assert!(
        next_at >= refused_at + Duration::from_secs(1),
        "the gateway saw the next request {:?} after the 503",
        next_at - refused_at
    );
}

#[tokio::test]
async fn an_html_429_still_honours_retry_after() {
    let gateway = gateway().await;
    let client = client(&gateway);
    gateway.push_fault(
        ScriptedFault::new("getDatabase", 429)
            .retry_after(1)
            .body(FaultBody::Html),
    );
    let error = client
        .get_database("team-a", "orders")
        .await
        .expect_err("429");
    assert_eq!(error.status(), Some(429));
    assert_eq!(
        error.class(),
        ErrorClass::Retryable {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    let refused_at = arrival(&gateway, "getDatabase", 0);
    let _ = client.clone().list_databases("team-a", None, None).await;
    let next_at = arrival(&gateway, "listDatabases", 0);
    assert!(next_at >= refused_at + Duration::from_secs(1));
}

#[tokio::test]
async fn a_503_is_retryable_and_malformed_answers_are_classified() {
    let gateway = gateway().await;
    let client = client(&gateway);
    gateway.push_fault(ScriptedFault::new("getModel", 503));
    let error = client.get_model("team-a", "m").await.expect_err("503");
    assert_eq!(error.status(), Some(503));
    assert!(matches!(error.class(), ErrorClass::Retryable { .. }));

    gateway.push_fault(ScriptedFault::new("getModel", 500).body(FaultBody::Truncated));
    let error = client.get_model("team-a", "m").await.expect_err("500");
    assert_eq!(error.status(), Some(500));
    assert!(matches!(error.class(), ErrorClass::Retryable { .. }));

    gateway.push_fault(ScriptedFault::new("getStats", 200).body(FaultBody::Garbage));
    let error = client.stats().await.expect_err("garbage 200");
    assert_eq!(error.code(), "malformed_response");
    assert!(matches!(error.class(), ErrorClass::Retryable { .. }));
}

#[tokio::test]
async fn a_slow_gateway_times_out_as_retryable() {
    let gateway = gateway().await;
    let client = GatewayClient::new(
        GatewayClientConfig {
            timeout: Duration::from_millis(200),
            ..client_config(&gateway)
        },
        SecretString::from(TOKEN),
    )
    .expect("client builds");
    gateway.set_fault_latency(Duration::from_secs(5));
    let error = client.get_model("team-a", "m").await.expect_err("timeout");
    gateway.clear_faults();
    assert_eq!(error.code(), "timeout");
    assert_eq!(error.call().http_status, None);
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
}

#[tokio::test]
async fn nothing_listening_is_a_retryable_connection_error() {
    init();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    let client = GatewayClient::new(
        GatewayClientConfig::new(format!("http://{addr}")),
        SecretString::from(TOKEN),
    )
    .expect("client builds");
    let error = client
        .get_model("team-a", "m")
        .await
        .expect_err("nothing listens");
    assert_eq!(error.code(), "connect", "{error}");
    assert_eq!(error.status(), None);
    assert_eq!(error.call().http_status, None);
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
}

#[tokio::test]
async fn bodies_announced_over_the_limit_are_refused_unread() {
    assert!(HUGE_BODY_BYTES as u64 > MAX_RESPONSE_BODY_BYTES);
    let gateway = gateway().await;
    let client = client(&gateway);

    gateway.push_fault(ScriptedFault::new("getModel", 200).body(FaultBody::Huge));
    let error = client.get_model("team-a", "m").await.expect_err("huge 200");
    assert_eq!(error.code(), "malformed_response");
    assert_eq!(error.call().http_status, Some(200));
    assert_eq!(error.class(), ErrorClass::Retryable { retry_after: None });
    // Only the check of the announced length, made before reading, says so.
    assert!(
        error
            .message()
            .contains(&format!("announced a body of {HUGE_BODY_BYTES} bytes")),
        "{error}"
    );

    // An error status keeps its class and Retry-After, whatever its body.
    gateway.push_fault(
        ScriptedFault::new("getModel", 503)
            .retry_after(2)
            .body(FaultBody::Huge),
    );
    let error = client.get_model("team-a", "m").await.expect_err("huge 503");
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.code(), "unparsable_error_body");
    assert_eq!(
        error.class(),
        ErrorClass::Retryable {
            retry_after: Some(Duration::from_secs(2))
        }
    );
}

#[tokio::test]
async fn unannounced_bodies_are_cut_off_at_the_limit() {
    let gateway = gateway().await;
    let client = client(&gateway);

    gateway.push_fault(ScriptedFault::new("getModel", 200).body(FaultBody::HugeStream));
    let error = client
        .get_model("team-a", "m")
        .await
        .expect_err("huge chunked 200");
    assert_eq!(error.code(), "malformed_response");
    assert!(
        error
            .message()
            .contains(&format!("limit of {MAX_RESPONSE_BODY_BYTES} bytes")),
        "{error}"
    );

    gateway.push_fault(ScriptedFault::new("getModel", 500).body(FaultBody::HugeStream));
    let error = client
        .get_model("team-a", "m")
        .await
        .expect_err("huge chunked 500");
    assert_eq!(error.status(), Some(500));
    assert!(matches!(error.class(), ErrorClass::Retryable { .. }));

    // The cap keeps the client's timeout on the body: a trickled body still times out.
    let impatient = GatewayClient::new(
        GatewayClientConfig {
            timeout: Duration::from_millis(600),
            ..client_config(&gateway)
        },
        SecretString::from(TOKEN),
    )
    .expect("client builds");
    gateway.push_fault(ScriptedFault::new("getModel", 200).body(FaultBody::Trickle));
    let error = impatient
        .get_model("team-a", "m")
        .await
        .expect_err("trickled body");
    assert_eq!(error.code(), "timeout", "{error}");

    // Answers under the limit pass through the cap untouched.
    let created = client
        .upsert_model("team-a", "m", &model_spec())
        .await
        .expect("create");
    assert_eq!(created.value.name, "m");
}

#[tokio::test]
async fn traceparent_carries_the_callers_trace_id() {
    use tracing::Instrument;
    let gateway = gateway().await;
    let client = client(&gateway);
    let reconcile = tracing::info_span!("reconcile");
    let error = client
        .get_model("team-a", "missing")
        .instrument(reconcile)
        .await
        .expect_err("404");
    let trace_id = error.call().trace_id.clone().expect("a trace id");
    assert_eq!(trace_id.len(), 32);
    let seen = gateway
        .requests()
        .into_iter()
        .find(|r| r.operation == "getModel")
        .expect("request recorded");
    let traceparent = seen.traceparent.expect("traceparent sent");
    assert!(
        traceparent.contains(&trace_id),
        "{traceparent} vs {trace_id}"
    );
    assert_eq!(seen.trace_id, trace_id, "the gateway continued the trace");
    assert!(error.call().to_string().contains(&trace_id));
}

#[tokio::test]
async fn the_gateway_echoes_the_trace_id_of_the_callers_traceparent() {
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let gateway = gateway().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/namespaces/team-a/models/missing", gateway.url());
    let answer = http
        .get(&url)
        .bearer_auth(TOKEN)
        .header("traceparent", &traceparent)
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.expect("error body");
    assert_eq!(body["traceId"], TRACE_ID);
    let seen = gateway
        .requests()
        .into_iter()
        .find(|r| r.operation == "getModel")
        .expect("request recorded");
    assert_eq!(seen.traceparent.as_deref(), Some(traceparent.as_str()));
    assert_eq!(seen.trace_id, TRACE_ID);
    assert_eq!(seen.status, 404);

    // A malformed traceparent is ignored, as W3C Trace Context requires: the request is served
    // under a new trace, whose id the error body and the log agree on.
    let answer = http
        .get(&url)
        .bearer_auth(TOKEN)
        .header("traceparent", "00-not-a-trace-01")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.expect("error body");
    let echoed = body["traceId"].as_str().expect("a trace id").to_string();
    assert_eq!(echoed.len(), 32);
    assert_ne!(echoed, TRACE_ID);
    let seen = gateway
        .requests()
        .into_iter()
        .filter(|r| r.operation == "getModel")
        .nth(1)
        .expect("request recorded");
    assert_eq!(seen.trace_id, echoed);
}

#[tokio::test]
async fn chat_completions_need_an_issued_key_until_it_is_revoked() {
    let gateway = gateway().await;
    let client = client(&gateway);
    let model = client
        .upsert_model("team-a", "summarizer", &model_spec())
        .await
        .expect("model")
        .value;
    let issued = client
        .upsert_model_key("team-a", "summarizer", "default")
        .await
        .expect("key");
    assert_eq!(issued.call.http_status, Some(201));
    let key = issued.value.secret.expect("the secret is shown on create");
    let again = client
        .upsert_model_key("team-a", "summarizer", "default")
        .await
        .expect("key again");
    assert_eq!(again.call.http_status, Some(200));
    assert!(again.value.secret.is_none());
    assert_eq!(again.value.id, issued.value.id);

    let answer = client
        .chat_completion(&key, &model.client_model, "the quarterly numbers")
        .await
        .expect("completion");
    assert_eq!(answer.value.content, "Summarize: the quarterly numbers");

    let wrong_model = client
        .chat_completion(&key, "team-a/other", "hi")
        .await
        .expect_err("403");
    assert_eq!(wrong_model.status(), Some(403));

    client
        .delete_model_key("team-a", "summarizer", "default")
        .await
        .expect("revoke");
    let error = client
        .chat_completion(&key, &model.client_model, "hi")
        .await
        .expect_err("401");
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.class(), ErrorClass::Terminal);

    // Deleting a model revokes its keys.
    let second = client
        .upsert_model_key("team-a", "summarizer", "second")
        .await
        .expect("key")
        .value
        .secret
        .expect("secret");
    client
        .delete_model("team-a", "summarizer")
        .await
        .expect("delete");
    let error = client
        .chat_completion(&second, &model.client_model, "hi")
        .await
        .expect_err("401");
    assert_eq!(error.status(), Some(401));
    assert_eq!(gateway.stats().objects.model_keys, 0);
    let gone = client
        .delete_model("team-a", "summarizer")
        .await
        .expect_err("already gone");
    assert_eq!(gone.class(), ErrorClass::NotFound);
}

async fn poll_phase(
    client: &GatewayClient,
    name: &str,
    until: impl Fn(Option<DatabasePhase>) -> bool,
) -> Vec<Option<DatabasePhase>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let phase = match client.get_database("team-a", name).await {
            Ok(response) => Some(response.value.phase),
            Err(error) if error.class() == ErrorClass::NotFound => None,
            Err(error) => panic!("unexpected error: {error}"),
        };
        if seen.last() != Some(&phase) {
            seen.push(phase);
        }
        if until(phase) {
            return seen;
        }
        assert!(Instant::now() < deadline, "phases so far: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn databases_go_pending_provisioning_ready_and_deleting_then_gone() {
    let gateway = gateway_with(GatewayConfig {
        provision_delay: Duration::from_millis(1200),
        ..GatewayConfig::new(SecretString::from(TOKEN))
    })
    .await;
    let client = client(&gateway);
    let created = client
        .upsert_database("team-a", "orders", &database_spec())
        .await
        .expect("create");
    assert_eq!(created.call.http_status, Some(202));
    assert_eq!(created.value.phase, DatabasePhase::Pending);
    // The provisioning delay in whole seconds, rounded up.
    assert_eq!(created.retry_after, Some(Duration::from_secs(2)));
    let credentials = created.value.credentials.expect("credentials on create");
    assert!(!credentials.password.expose_secret().is_empty());

    // Pending for the first quarter of the delay (300 ms), Provisioning for the rest (900 ms):
    // polls every 20 ms see each phase unless the machine stalls for most of a second.
    let mut phases = vec![Some(DatabasePhase::Pending)];
    phases.extend(poll_phase(&client, "orders", |p| p == Some(DatabasePhase::Ready)).await);
    phases.dedup();
    assert_eq!(
        phases,
        [
            Some(DatabasePhase::Pending),
            Some(DatabasePhase::Provisioning),
            Some(DatabasePhase::Ready)
        ]
    );
    let ready = client.get_database("team-a", "orders").await.expect("get");
    let connection = ready.value.connection.expect("connection details");
    assert_eq!(connection.database, "orders");
    assert_eq!(connection.username, credentials.username);
    assert!(
        ready.value.credentials.is_none(),
        "GET never shows the password"
    );

    let again = client
        .upsert_database("team-a", "orders", &database_spec())
        .await
        .expect("unchanged");
    assert_eq!(again.call.http_status, Some(200));
    assert_eq!(again.value.generation, 1);
    assert!(again.value.credentials.is_none());

    let rotated = client
        .rotate_database_credentials("team-a", "orders")
        .await
        .expect("rotate");
    assert_ne!(
        rotated.value.password.expose_secret(),
        credentials.password.expose_secret()
    );

    let deleting = client
        .delete_database("team-a", "orders")
        .await
        .expect("delete");
    assert_eq!(deleting.call.http_status, Some(202));
    assert_eq!(deleting.value.phase, DatabasePhase::Deleting);
    let phases = poll_phase(&client, "orders", |p| p.is_none()).await;
    assert!(
        phases
            .iter()
            .all(|p| matches!(p, Some(DatabasePhase::Deleting) | None)),
        "{phases:?}"
    );
}

#[tokio::test]
async fn without_a_provision_delay_a_database_is_ready_at_once() {
    let gateway = gateway().await;
    let client = client(&gateway);
    let created = client
        .upsert_database("team-a", "orders", &database_spec())
        .await
        .expect("create");
    assert_eq!(created.call.http_status, Some(202));
    let read = client.get_database("team-a", "orders").await.expect("get");
    assert_eq!(read.value.phase, DatabasePhase::Ready);
    assert!(read.value.connection.is_some());
}

#[tokio::test]
async fn the_server_rate_limit_answers_429_with_retry_after() {
    let gateway = gateway_with(GatewayConfig {
        rate_limit: Some(2.0),
        ..GatewayConfig::new(SecretString::from(TOKEN))
    })
    .await;
    let http = reqwest::Client::new();
    let mut limited = None;
    for _ in 0..10 {
        let response = http
            .get(format!("{}/v1/admin/stats", gateway.url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answer");
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the limit was hit");
    assert!(limited.headers().contains_key("retry-after"));
    let body: serde_json::Value = limited.json().await.expect("error body");
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["retryable"], true);
    gateway.set_rate_limit(None);
    assert!(gateway.stats().count("getStats", 429) >= 1);
}

#[tokio::test]
async fn faults_and_limits_are_controllable_over_http() {
    let gateway = gateway().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", gateway.url());
    let scripted = http
        .post(url("/v1/admin/faults/scripted"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "operation": "getStats", "status": 503, "count": 2,
            "retryAfterSeconds": 7, "body": "empty"
        }))
        .send()
        .await
        .expect("scripted fault accepted");
    assert_eq!(scripted.status(), 201);
    for _ in 0..2 {
        let answer = http
            .get(url("/v1/admin/stats"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 503);
        assert_eq!(answer.headers()["retry-after"], "7");
    }
    let stats: serde_json::Value = http
        .get(url("/v1/admin/stats"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("stats body");
    let served_503 = stats["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["operation"] == "getStats" && r["status"] == 503)
        .map(|r| r["count"].clone());
    assert_eq!(served_503, Some(serde_json::json!(2)));

    let unauthorised = http
        .put(url("/v1/admin/faults"))
        .json(&serde_json::json!({"rate": 1.0}))
        .send()
        .await
        .expect("answer");
    assert_eq!(unauthorised.status(), 401);
    let all_fail = http
        .put(url("/v1/admin/faults"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"rate": 1.0}))
        .send()
        .await
        .expect("answer");
    assert_eq!(all_fail.status(), 200);
    let client = client(&gateway);
    let error = client
        .get_model("team-a", "m")
        .await
        .expect_err("random 503");
    assert_eq!(error.status(), Some(503));
    let cleared = http
        .delete(url("/v1/admin/faults"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(cleared.status(), 204);
    let limited = http
        .put(url("/v1/admin/rate-limit"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"qps": 0.001}))
        .send()
        .await
        .expect("answer");
    assert_eq!(limited.status(), 200);
    // A burst of one: the first call passes, the next is refused with Retry-After.
    let _ = client.clone().stats().await;
    let error = reqwest::Client::new()
        .get(url("/v1/admin/stats"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(error.status(), 429);
    let retry_after: u64 = error.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("integer seconds");
    assert!(retry_after >= 1);
}
