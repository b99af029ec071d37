//! Failure handling: missing credentials, invalid specs (rejected by the API server, or by the
//! gateway), rate limiting, gateway outages, a rotated gateway token, and missing CRDs. Each
//! must end in a condition with a reason, never a crash or a hot loop.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use portico_api::{AIModel, CONDITION_SYNCED, ManagedDatabase, Phase};
use portico_gateway::ScriptedFault;

use super::{
    Env, GATEWAY_TOKEN, HasConditions, NS, Options, PROVIDER_KEY, aimodel, database, model_spec,
    put_secret,
};
use crate::support::eventually;

/// Waits until the object's `Synced` condition is `False` with `reason`.
pub(super) async fn wait_synced_false<K>(env: &Env, name: &str, reason: &str) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + HasConditions,
{
    let api = env.api::<K>();
    eventually(&format!("{name} Synced=False/{reason}"), || {
        let api = api.clone();
        async move {
            let object = api.get(name).await.ok()?;
            let synced = object.condition(CONDITION_SYNCED)?;
            (synced.status == "False" && synced.reason == reason).then_some(object)
        }
    })
    .await
}

/// Event reasons recorded for an object.
pub(super) async fn event_reasons(env: &Env, name: &str) -> Vec<String> {
    let events: Vec<Event> = kube::Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .map(|list| list.items)
        .unwrap_or_default();
    let events_v1: Vec<k8s_openapi::api::events::v1::Event> =
        kube::Api::<k8s_openapi::api::events::v1::Event>::namespaced(env.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .map(|list| list.items)
            .unwrap_or_default();
    events
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter_map(|e| e.reason)
        .chain(
            events_v1
                .into_iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                .filter_map(|e| e.reason),
        )
        .collect()
}

/// Arrival times of the gateway's requests for one operation.
fn arrivals(env: &Env, operation: &str) -> Vec<Instant> {
    env.gateway
        .requests()
        .iter()
        .filter(|r| r.operation == operation)
        .map(|r| r.arrived)
        .collect()
}

#[tokio::test]
async fn missing_credentials_secret_then_ready_once_it_exists() {
    let env = Env::start().await;
    env.create::<AIModel>(aimodel("needs-key", model_spec()))
        .await;
    let model = wait_synced_false::<AIModel>(&env, "needs-key", "CredentialsMissing").await;
    let synced = model.condition(CONDITION_SYNCED).expect("Synced");
    assert!(
        synced.message.contains("provider-key"),
        "{}",
        synced.message
    );
    assert_eq!(model.status.and_then(|s| s.phase), Some(Phase::Failed));
    assert_eq!(
        env.gateway_calls_any("upsertModel"),
        0,
        "nothing sent without credentials"
    );

    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    env.wait_ready::<AIModel>("needs-key").await;
}

#[tokio::test]
async fn invalid_specs_are_rejected_by_the_api_server_with_422() {
    let env = Env::start().await;
    let mut spec = model_spec();
    spec["parameters"]["temperature"] = 5.into();
    let object: AIModel = serde_json::from_value(aimodel("too-hot", spec)).expect("typed");
    let error = env
        .api::<AIModel>()
        .create(&PostParams::default(), &object)
        .await
        .expect_err("rejected");
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert!(
        status.message.contains("spec.parameters.temperature"),
        "{}",
        status.message
    );

    let object: ManagedDatabase = serde_json::from_value(database("tiny", 0)).expect("typed");
    let error = env
        .api::<ManagedDatabase>()
        .create(&PostParams::default(), &object)
        .await
        .expect_err("rejected");
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("spec.storageGB: Invalid value: 0"),
        "{}",
        status.message
    );
    assert!(
        env.gateway.requests().is_empty(),
        "nothing reached the gateway"
    );
}

#[tokio::test]
async fn gateway_422_is_terminal_without_a_hot_loop_until_the_spec_changes() {
    let env = Env::start().await;
    env.gateway
        .push_fault(ScriptedFault::new("upsertModel", 422).times(1000));
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    env.create::<AIModel>(aimodel("rejected", spec)).await;
    let model = wait_synced_false::<AIModel>(&env, "rejected", "InvalidSpec").await;
    assert_eq!(model.status.and_then(|s| s.phase), Some(Phase::Failed));
    assert_eq!(env.gateway_calls_any("upsertModel"), 1);

    // Events that re-trigger reconciles (metadata changes) must not re-send the request.
    for round in 0..3 {
        env.api::<AIModel>()
            .patch(
                "rejected",
                &PatchParams::default(),
                &Patch::Merge(
                    serde_json::json!({"metadata": {"labels": {"round": round.to_string()}}}),
                ),
            )
            .await
            .expect("label patched");
    }
    // An observation window, not a wait for success: a hot loop would show up as more calls.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.gateway_calls_any("upsertModel"),
        1,
        "no retry without a change"
    );

    // A spec change is a new input: the gateway is asked again at once.
    env.gateway.clear_faults();
    env.api::<AIModel>()
        .patch(
            "rejected",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"model": "gpt-4o"}})),
        )
        .await
        .expect("spec patched");
    env.wait_ready::<AIModel>("rejected").await;
    assert_eq!(env.gateway_calls_any("upsertModel"), 2);
}

#[tokio::test]
async fn rate_limited_then_ready_honouring_retry_after() {
    let env = Env::start().await;
    env.gateway.push_fault(
        ScriptedFault::new("upsertModel", 429)
            .times(2)
            .retry_after(1),
    );
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    env.create::<AIModel>(aimodel("limited", spec)).await;
    env.wait_ready::<AIModel>("limited").await;

    let times = arrivals(&env, "upsertModel");
    assert_eq!(times.len(), 3, "two 429s, then success");
    for pair in times.windows(2) {
        assert!(
            pair[1].duration_since(pair[0]) >= Duration::from_millis(950),
            "a retry came before Retry-After elapsed: {:?}",
            pair[1].duration_since(pair[0])
        );
    }
    assert!(
        event_reasons(&env, "limited")
            .await
            .iter()
            .any(|r| r == "RateLimited")
    );
}

/// A 429 storm: the gateway admits 2 calls/s, twelve models want 24 calls at once. Every model
/// goes through `RateLimited` and ends Ready; no model retries before its `Retry-After`; and the
/// operator never sends more than its own limiter (5/s) allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_ends_ready_within_the_limiter() {
    let env = Env::start_with(Options {
        gateway_qps: 5.0,
        gateway_burst: 1,
        ..Options::default()
    })
    .await;
    env.gateway.set_rate_limit(Some(2.0));
    let started = Instant::now();
    let names: Vec<String> = (0..12).map(|i| format!("storm-{i:02}")).collect();
    for name in &names {
        let mut spec = model_spec();
        spec["providerCredentials"] = serde_json::Value::Null;
        env.create::<AIModel>(aimodel(name, spec)).await;
    }
    for name in &names {
        env.wait_ready::<AIModel>(name).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = env.gateway.requests();
    let limited = requests.iter().filter(|r| r.status == 429).count();
    assert!(limited > 0, "the gateway limit was hit");
    let calls = requests.len() as f64;
    assert!(
        calls <= 2.0 + 5.0 * elapsed,
        "{calls} calls in {elapsed:.2}s exceeds the operator's 5 qps limiter"
    );
    // Per object: after a 429, its next call waits out the Retry-After (whole seconds).
    for name in &names {
        let path = format!("/v1/namespaces/{NS}/models/{name}");
        let own: Vec<_> = requests
            .iter()
            .filter(|r| r.operation == "upsertModel" && r.path == path)
            .collect();
        for pair in own.windows(2) {
            if pair[0].status == 429 {
                let gap = pair[1].arrived.duration_since(pair[0].arrived);
                assert!(
                    gap >= Duration::from_millis(950),
                    "{name} retried after {gap:?}"
                );
            }
        }
    }
    let mut rate_limited = 0;
    for name in &names {
        if event_reasons(&env, name)
            .await
            .iter()
            .any(|r| r == "RateLimited")
        {
            rate_limited += 1;
        }
    }
    assert!(rate_limited > 0, "RateLimited was reported");
}

#[tokio::test]
async fn gateway_outage_is_retried_with_growing_backoff() {
    let env = Env::start().await;
    env.gateway
        .push_fault(ScriptedFault::new("upsertModel", 503).times(3));
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    env.create::<AIModel>(aimodel("flaky", spec)).await;
    env.wait_ready::<AIModel>("flaky").await;

    let times = arrivals(&env, "upsertModel");
    assert_eq!(times.len(), 4, "three 503s, then success");
    // Backoff base 100 ms with equal jitter: the n-th retry waits at least 50 ms · 2^n.
    for (n, pair) in times.windows(2).enumerate() {
        let gap = pair[1].duration_since(pair[0]);
        let floor = Duration::from_millis(50 << n);
        assert!(
            gap >= floor,
            "retry {n} after {gap:?}, expected at least {floor:?}"
        );
    }
    assert!(
        event_reasons(&env, "flaky")
            .await
            .iter()
            .any(|r| r == "GatewayUnavailable")
    );
}

#[tokio::test]
async fn client_side_limiter_bounds_the_call_rate() {
    let env = Env::start_with(Options {
        gateway_qps: 10.0,
        gateway_burst: 1,
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    for index in 0..8 {
        let mut spec = model_spec();
        spec["providerCredentials"] = serde_json::Value::Null;
        env.create::<AIModel>(aimodel(&format!("limited-{index}"), spec))
            .await;
    }
    for index in 0..8 {
        env.wait_ready::<AIModel>(&format!("limited-{index}")).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let calls = env.gateway.requests().len() as f64;
    // Each model costs two calls (model, key): 16 calls at 10/s cannot finish in under 1.5 s.
    assert!(calls >= 16.0, "{calls} calls");
    assert!(
        calls <= 1.0 + 10.0 * elapsed + 1.0,
        "{calls} calls in {elapsed:.2}s exceeds the 10 qps limiter"
    );
}

#[tokio::test]
async fn rotated_gateway_token_takes_effect_without_a_restart() {
    let env = Env::start_with(Options {
        token_in_secret: "stale-token-not-accepted".into(),
        ..Options::default()
    })
    .await;
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    env.create::<AIModel>(aimodel("rotation", spec)).await;
    wait_synced_false::<AIModel>(&env, "rotation", "Unauthorized").await;

    put_secret(
        &env.client,
        "portico-system",
        "gateway-admin",
        &[("token", GATEWAY_TOKEN)],
    )
    .await;
    env.wait_ready::<AIModel>("rotation").await;
}

#[tokio::test]
async fn missing_crds_are_reported_in_one_plain_line() {
    let env = Env::start_with(Options {
        install_crds: false,
        ..Options::default()
    })
    .await;
    let error = portico_operator::controller::ensure_crds_installed(&env.client, None)
        .await
        .expect_err("CRDs are missing");
    let message = error.to_string();
    assert!(message.contains("aimodels.portico.dev"), "{message}");
    assert!(message.contains("kubectl apply -f crds/"), "{message}");

    // The binary says the same in one line and exits non-zero.
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    env.apiserver
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args([
            "run",
            "--gateway-url",
            &env.gateway.url(),
            "--gateway-token-secret",
            "portico-system/gateway-admin",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "off")
        .output()
        .await
        .expect("portico runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one plain line, got: {stderr}");
    assert!(lines[0].contains("kubectl apply -f crds/"), "{stderr}");
}
