//! Ready means callable: a model whose upstream refuses or fails the gateway's check is not
//! Ready, gets no API key and no connection Secret, and becomes Ready once the cause is gone (a
//! fixed provider key, an upstream that answers again) with no other change.
//!
//! The reference gateway does not call upstreams, so a stand-in in front of it does what a
//! checking gateway does: it forwards every call, and answers `upsertModel` and `getModel` with
//! an `upstreamCheck` made at the PUT (with the credential sent, or the one it holds) and
//! repeated, unchanged, by GETs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{Method, StatusCode, header};
use portico_api::{AIModel, CONDITION_READY, CONDITION_SYNCED, Phase};
use portico_gateway::{GatewayConfig, ReferenceGateway};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Env, GATEWAY_TOKEN, HasConditions, NS, Options, aimodel, model_spec, put_secret};
use crate::support::{self, eventually};

/// The provider key the upstream accepts.
const GOOD_KEY: &str = "sk-upstream-accepts-5e2d";
/// A key the upstream refuses.
const REVOKED_KEY: &str = "sk-upstream-revoked-91c0";
/// What the upstream says to a refused key.
const REFUSED: &str = "401 from upstream: Incorrect API key provided";
/// What the gateway says of an upstream that does not answer.
const UNREACHABLE: &str = "connect to api.openai.com:443: connection refused";

/// What the stand-in knows: the upstream's state and each model's credential and last check.
struct StandIn {
    http: reqwest::Client,
    gateway: String,
    reachable: AtomicBool,
    models: Mutex<HashMap<String, (Option<String>, Value)>>,
}

impl StandIn {
    /// The check a PUT makes with `credential`.
    fn check(&self, credential: Option<&str>) -> Value {
        let now = jiff::Timestamp::now().to_string();
        if !self.reachable.load(Ordering::SeqCst) {
            json!({"state": "Failed", "reason": "UpstreamUnreachable", "message": UNREACHABLE, "checkedAt": now})
        } else if credential == Some(GOOD_KEY) {
            json!({"state": "Passed", "checkedAt": now})
        } else {
            json!({"state": "Failed", "reason": "UpstreamUnauthorized", "message": REFUSED, "checkedAt": now})
        }
    }
}

/// `/v1/namespaces/{ns}/models/{name}`: the model itself (not its keys or usage).
fn is_model_path(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(segments.as_slice(), ["v1", "namespaces", _, "models", _])
}

async fn forward(State(stand_in): State<Arc<StandIn>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return status_only(StatusCode::BAD_REQUEST);
    };
    let path = parts.uri.path().to_owned();
    let model = is_model_path(&path);
    let target = format!(
        "{}{}",
        stand_in.gateway,
        parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let mut outgoing = stand_in
        .http
        .request(parts.method.clone(), target)
        .body(body.clone());
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(answer) = outgoing.send().await else {
        return status_only(StatusCode::BAD_GATEWAY);
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(mut bytes) = answer.bytes().await.map(|b| b.to_vec()) else {
        return status_only(StatusCode::BAD_GATEWAY);
    };
    if model
        && status.is_success()
        && (parts.method == Method::PUT || parts.method == Method::GET)
        && let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes)
    {
        let mut models = stand_in.models.lock().expect("stand-in state");
        let check = if parts.method == Method::PUT {
            let sent = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|spec| spec["providerCredential"].as_str().map(str::to_owned));
            let held = models.get(&path).and_then(|(held, _)| held.clone());
            let credential = sent.or(held);
            let check = stand_in.check(credential.as_deref());
            models.insert(path.clone(), (credential, check.clone()));
            Some(check)
        } else {
            // GETs never check: they repeat the last check.
            models.get(&path).map(|(_, check)| check.clone())
        };
        if let Some(check) = check {
            answer["upstreamCheck"] = check;
        }
        bytes = serde_json::to_vec(&answer).expect("JSON renders");
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| status_only(StatusCode::BAD_GATEWAY))
}

fn status_only(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// The reference gateway, the stand-in in front of it, and the operator calling the stand-in.
async fn start() -> (Env, Arc<StandIn>) {
    support::init();
    let mut config = GatewayConfig::new(SecretString::from(GATEWAY_TOKEN));
    config.provision_delay = Duration::from_millis(50);
    let gateway = ReferenceGateway::start(config)
        .await
        .expect("reference gateway starts");
    let stand_in = Arc::new(StandIn {
        http: reqwest::Client::new(),
        gateway: gateway.url().trim_end_matches('/').to_owned(),
        reachable: AtomicBool::new(true),
        models: Mutex::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("stand-in binds");
    let address = listener.local_addr().expect("stand-in address");
    let app = Router::new().fallback(forward).with_state(stand_in.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let options = Options {
        gateway_url: Some(format!("http://{address}")),
        ..Options::default()
    };
    (Env::start_with_gateway(options, gateway).await, stand_in)
}

/// Waits until `name` is not Ready for the reason `reason`, and returns it.
async fn wait_unready(env: &Env, name: &str, reason: &str) -> AIModel {
    let api = env.api::<AIModel>();
    eventually(&format!("{name} to be not Ready ({reason})"), || {
        let api = api.clone();
        async move {
            let model = api.get(name).await.ok()?;
            let ready = model.condition(CONDITION_READY)?;
            (ready.status == "False" && ready.reason == reason).then_some(model)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_provider_key_is_not_ready_until_the_secret_is_fixed() {
    let (env, _stand_in) = start().await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", REVOKED_KEY)]).await;
    env.create::<AIModel>(aimodel("callable", model_spec()))
        .await;

    let model = wait_unready(&env, "callable", "UpstreamUnauthorized").await;
    let ready = model.condition(CONDITION_READY).expect("Ready");
    let synced = model.condition(CONDITION_SYNCED).expect("Synced");
    assert_eq!(
        (synced.status.as_str(), synced.reason.as_str()),
        ("False", "UpstreamUnauthorized")
    );
    // The message names the call, with its trace id, and what the upstream said.
    assert!(
        ready
            .message
            .contains("PUT /v1/namespaces/team-a/models/callable")
            && ready.message.contains(" -> 20")
            && ready.message.contains("(trace ")
            && ready.message.contains(REFUSED),
        "{}",
        ready.message
    );
    let status = model.status.clone().expect("status");
    assert_eq!(status.phase, Some(Phase::Failed));
    let trace = status
        .last_operation
        .as_ref()
        .and_then(|op| op.trace_id.clone())
        .expect("the call is recorded with its trace id");
    assert!(ready.message.contains(&trace), "{}", ready.message);
    // Not callable: no key issued, no connection Secret written.
    assert_eq!(
        env.gateway_calls_any("upsertModelKey"),
        0,
        "a key was issued"
    );
    assert!(env.secret("callable-conn").await.is_none());
    let generation = model.metadata.generation;
    let puts = env.gateway_calls_any("upsertModel");

    // Only the Secret changes: the operator writes the model again, the gateway checks again.
    put_secret(&env.client, NS, "provider-key", &[("apiKey", GOOD_KEY)]).await;
    let model = env.wait_ready::<AIModel>("callable").await;
    assert_eq!(model.metadata.generation, generation, "the spec changed");
    let ready = model.condition(CONDITION_READY).expect("Ready");
    assert_eq!(ready.reason, "Available");
    let secret = env
        .secret("callable-conn")
        .await
        .expect("the connection Secret is written once callable");
    assert!(
        secret
            .data
            .as_ref()
            .is_some_and(|data| data.contains_key("apiKey"))
    );
    // A refusal is not retried on its own: one write before the fix, one after it.
    assert_eq!(env.gateway_calls_any("upsertModel"), puts + 1);
    assert_eq!(env.gateway_calls_any("upsertModelKey"), 1);

    // A Ready model whose key is revoked turns not Ready at the re-check; the connection
    // Secret written while it was callable stays, and no new key is issued.
    put_secret(&env.client, NS, "provider-key", &[("apiKey", REVOKED_KEY)]).await;
    let model = wait_unready(&env, "callable", "UpstreamUnauthorized").await;
    assert_eq!(
        model.status.as_ref().and_then(|status| status.phase),
        Some(Phase::Failed)
    );
    assert!(env.secret("callable-conn").await.is_some());
    assert_eq!(env.gateway_calls_any("upsertModelKey"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_retried_with_writes_until_it_answers() {
    let (env, stand_in) = start().await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", GOOD_KEY)]).await;
    stand_in.reachable.store(false, Ordering::SeqCst);
    env.create::<AIModel>(aimodel("flaky", model_spec())).await;

    let model = wait_unready(&env, "flaky", "UpstreamUnreachable").await;
    let ready = model.condition(CONDITION_READY).expect("Ready");
    assert!(ready.message.contains(UNREACHABLE), "{}", ready.message);
    assert!(env.secret("flaky-conn").await.is_none());
    let generation = model.metadata.generation;
    // Retried with backoff, each attempt a write (the gateway checks only at a PUT).
    let puts = env.gateway_calls_any("upsertModel");
    eventually("a retried write", || {
        let retried = env.gateway_calls_any("upsertModel") > puts;
        async move { retried.then_some(()) }
    })
    .await;
    assert_eq!(env.gateway_calls_any("getModel"), 0, "a retry only read");
    assert_eq!(
        env.gateway_calls_any("upsertModelKey"),
        0,
        "a key was issued"
    );

    // The upstream answers again: Ready with no change at all.
    stand_in.reachable.store(true, Ordering::SeqCst);
    let model = env.wait_ready::<AIModel>("flaky").await;
    assert_eq!(model.metadata.generation, generation, "the spec changed");
    assert!(env.secret("flaky-conn").await.is_some());
}

/// The same story against the gateway's real check: the gateway calls the (stand-in) provider
/// with the key from the AIModel's Secret, the provider refuses it, the model is not Ready; the
/// Secret is fixed, and it becomes Ready with no other change — and its key calls the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_real_check_keeps_a_wrong_key_from_being_ready() {
    let provider = portico_testbed::upstream::StandInUpstream::start()
        .await
        .expect("stand-in provider");
    provider.require_key(Some("sk-right"));
    let mut config = GatewayConfig::new(SecretString::from(GATEWAY_TOKEN));
    provider.serve_providers_of(&mut config);
    let gateway = ReferenceGateway::start(config)
        .await
        .expect("reference gateway starts");
    let env = Env::start_with_gateway(Options::default(), gateway).await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", "sk-wrong")]).await;
    env.create::<AIModel>(aimodel("checked", model_spec()))
        .await;
    let model = wait_unready(&env, "checked", "UpstreamUnauthorized").await;
    assert!(
        env.secret("checked-conn").await.is_none(),
        "a Secret for an uncallable model"
    );
    let ready = model.condition(CONDITION_READY).expect("Ready");
    assert!(ready.message.contains("trace "), "{}", ready.message);

    put_secret(&env.client, NS, "provider-key", &[("apiKey", "sk-right")]).await;
    let ready = env.wait_ready::<AIModel>("checked").await;
    assert_eq!(ready.metadata.generation, model.metadata.generation);
    let secret = env.secret("checked-conn").await.expect("connection Secret");
    let key = SecretString::from(super::secret_string(&secret, "apiKey"));
    let client_model = super::secret_string(&secret, "model");
    let answer = env
        .gateway_admin
        .chat_completion(&key, &client_model, "hello")
        .await
        .expect("the issued key calls the model");
    assert!(answer.value.content.contains("hello"), "{:?}", answer.value);
    assert!(
        provider.requests().iter().any(|r| r
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some("Bearer sk-right")),
        "the provider saw the fixed key"
    );
}
