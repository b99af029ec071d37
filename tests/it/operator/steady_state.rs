//! Quiet steady state and restarts: Ready resources cost no writes at either end across poll
//! intervals or an operator restart; paused resources are left alone yet still delete; secret
//! values never reach logs, status or events.

use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use portico_api::{AIModel, ManagedDatabase, Phase};

use super::{
    Env, GATEWAY_TOKEN, NS, Options, PROVIDER_KEY, aimodel, database, model_spec, put_secret,
    secret_string,
};
use crate::support::{captured_logs, eventually};

const GATEWAY_WRITES: [&str; 7] = [
    "upsertModel",
    "deleteModel",
    "upsertModelKey",
    "deleteModelKey",
    "upsertDatabase",
    "deleteDatabase",
    "rotateDatabaseCredentials",
];

fn gateway_writes(env: &Env) -> usize {
    env.gateway
        .requests()
        .iter()
        .filter(|r| GATEWAY_WRITES.contains(&r.operation))
        .count()
}

/// Drift-check GETs of one object so far.
fn gets_of(env: &Env, operation: &str, name: &str) -> usize {
    let suffix = format!("/{name}");
    env.gateway
        .requests()
        .iter()
        .filter(|r| r.operation == operation && r.path.ends_with(&suffix))
        .count()
}

#[tokio::test]
async fn ready_resources_cost_no_writes_across_poll_intervals_and_a_restart() {
    let mut env = Env::start_with(Options {
        poll_interval: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    let names = ["quiet-a", "quiet-b", "quiet-c"];
    for name in names {
        env.create::<AIModel>(aimodel(name, model_spec())).await;
    }
    env.create::<ManagedDatabase>(database("quiet-db", 10))
        .await;
    for name in names {
        env.wait_ready::<AIModel>(name).await;
    }
    env.wait_ready::<ManagedDatabase>("quiet-db").await;

    let gateway_before = gateway_writes(&env);
    let apiserver_before = env.apiserver.stats().total_write_requests();
    let gets_before: Vec<usize> = names.iter().map(|n| gets_of(&env, "getModel", n)).collect();
    let db_gets_before = gets_of(&env, "getDatabase", "quiet-db");
    let secret_reads_before = env.apiserver.stats().count("get", "secrets");
    // Evidence that at least three poll intervals passed: three drift checks of every object.
    eventually("three drift checks of every object", || async {
        let models_checked = names
            .iter()
            .zip(&gets_before)
            .all(|(name, before)| gets_of(&env, "getModel", name) >= before + 3);
        let database_checked = gets_of(&env, "getDatabase", "quiet-db") >= db_gets_before + 3;
        (models_checked && database_checked).then_some(())
    })
    .await;
    assert_eq!(
        gateway_writes(&env),
        gateway_before,
        "gateway writes in steady state"
    );
    // A drift check reads one Secret (the connection Secret); the provider key's version comes
    // from the Secret watch, not from a read every poll interval.
    let drift_checks = names
        .iter()
        .zip(&gets_before)
        .map(|(name, before)| gets_of(&env, "getModel", name) - before)
        .sum::<usize>()
        + (gets_of(&env, "getDatabase", "quiet-db") - db_gets_before);
    let secret_reads = env.apiserver.stats().count("get", "secrets") - secret_reads_before;
    assert!(
        secret_reads as usize <= drift_checks,
        "{secret_reads} Secret reads for {drift_checks} drift checks"
    );
    assert_eq!(
        env.apiserver.stats().total_write_requests(),
        apiserver_before,
        "API server writes in steady state"
    );

    // A restart re-checks everything with reads only.
    env.stop_operator().await;
    let gets_before: Vec<usize> = names.iter().map(|n| gets_of(&env, "getModel", n)).collect();
    env.start_operator();
    eventually("every object checked after the restart", || async {
        names
            .iter()
            .zip(&gets_before)
            .all(|(name, before)| gets_of(&env, "getModel", name) > *before)
            .then_some(())
    })
    .await;
    assert_eq!(
        gateway_writes(&env),
        gateway_before,
        "gateway writes after restart"
    );
    assert_eq!(
        env.apiserver.stats().total_write_requests(),
        apiserver_before,
        "API server writes after restart"
    );
    assert_eq!(env.gateway_calls("upsertModelKey", 201), names.len() as u64);
}

#[tokio::test]
async fn paused_resources_are_left_alone_but_still_delete() {
    let env = Env::start_with(Options {
        poll_interval: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    env.create::<AIModel>(aimodel("paused", spec.clone())).await;
    env.create::<AIModel>(aimodel("clock", spec)).await;
    env.wait_ready::<AIModel>("paused").await;
    env.wait_ready::<AIModel>("clock").await;

    env.api::<AIModel>()
        .patch(
            "paused",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"annotations": {"portico.dev/paused": "true"}},
                "spec": {"model": "gpt-4o"},
            })),
        )
        .await
        .expect("paused and changed");
    // A drift check already under way when the pause landed may still finish: count from one
    // poll interval later.
    let clock_gets = gets_of(&env, "getModel", "clock");
    eventually("one poll interval", || async {
        (gets_of(&env, "getModel", "clock") > clock_gets).then_some(())
    })
    .await;
    let paused_gets = gets_of(&env, "getModel", "paused");
    let clock_gets = gets_of(&env, "getModel", "clock");
    eventually(
        "three poll intervals (seen on the unpaused model)",
        || async { (gets_of(&env, "getModel", "clock") >= clock_gets + 3).then_some(()) },
    )
    .await;
    assert_eq!(
        gets_of(&env, "getModel", "paused"),
        paused_gets,
        "paused: not polled"
    );
    let at_gateway = env
        .gateway_admin
        .get_model(NS, "paused")
        .await
        .expect("exists");
    assert_eq!(
        at_gateway.value.spec.upstream_model, "gpt-4o-mini",
        "paused: not updated"
    );

    env.api::<AIModel>()
        .delete("paused", &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone::<AIModel>("paused").await;
    env.gateway_admin
        .get_model(NS, "paused")
        .await
        .expect_err("deprovisioned despite the pause");
}

#[tokio::test]
async fn secret_values_never_reach_logs_status_or_events() {
    let env = Env::start().await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    env.create::<AIModel>(aimodel("private", model_spec()))
        .await;
    env.create::<ManagedDatabase>(database("private-db", 5))
        .await;
    env.wait_ready::<AIModel>("private").await;
    env.wait_ready::<ManagedDatabase>("private-db").await;
    let api_key = secret_string(&env.secret("private-conn").await.expect("conn"), "apiKey");
    let password = secret_string(
        &env.secret("private-db-conn").await.expect("conn"),
        "password",
    );
    // Exercise error paths too: a failure message must not carry secrets either.
    env.gateway
        .push_fault(portico_gateway::ScriptedFault::new("upsertModel", 500));
    env.api::<AIModel>()
        .patch(
            "private",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"model": "gpt-4o"}})),
        )
        .await
        .expect("spec patched");
    env.wait_ready::<AIModel>("private").await;

    let statuses = serde_json::to_string(&(
        env.api::<AIModel>()
            .list(&ListParams::default())
            .await
            .expect("list")
            .items,
        env.api::<ManagedDatabase>()
            .list(&ListParams::default())
            .await
            .expect("list")
            .items,
    ))
    .expect("serializable");
    let events = serde_json::to_string(&(
        kube::Api::<Event>::namespaced(env.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .expect("core events")
            .items,
        kube::Api::<k8s_openapi::api::events::v1::Event>::namespaced(env.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .expect("events.k8s.io")
            .items,
    ))
    .expect("serializable");
    assert!(
        events.contains("Provisioned"),
        "events were recorded: {events}"
    );
    let logs = captured_logs();
    assert!(!logs.is_empty(), "logs were captured");
    for (what, value) in [
        ("provider key", PROVIDER_KEY),
        ("issued API key", api_key.as_str()),
        ("database password", password.as_str()),
        ("gateway token", GATEWAY_TOKEN),
    ] {
        assert!(!logs.contains(value), "{what} leaked into the logs");
        assert!(!statuses.contains(value), "{what} leaked into a status");
        assert!(!events.contains(value), "{what} leaked into an event");
    }
    let model = env.api::<AIModel>().get("private").await.expect("get");
    assert_eq!(model.status.and_then(|s| s.phase), Some(Phase::Ready));
}
