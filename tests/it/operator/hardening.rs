//! Hardening against what a careless or hostile user can do with a resource: point its
//! connection Secret at someone else's Secret, give two resources one Secret name, name it so
//! the gateway can never hold it, move its external name, deploy it with a wrong admin token,
//! delete many at once. Each scenario failed before the fix it names.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use portico_api::{AIModel, CONDITION_READY, ManagedDatabase};
use portico_gateway_client::ErrorClass;

use super::failures::{event_reasons, wait_synced_false};
use super::{
    Env, GATEWAY_TOKEN, HasConditions, NS, Options, aimodel, database, model_spec, put_secret,
};
use crate::support::eventually;

/// An AIModel spec without a provider key (nothing to read first).
fn keyless_spec() -> serde_json::Value {
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    spec
}

/// Everything of a Secret that a takeover would change.
fn fingerprint(secret: &Secret) -> String {
    serde_json::to_string(&(
        &secret.metadata.resource_version,
        &secret.metadata.labels,
        &secret.metadata.owner_references,
        &secret.metadata.annotations,
        &secret.data,
        &secret.type_,
    ))
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_secret_is_never_taken_over() {
    let env = Env::start().await;
    put_secret(&env.client, NS, "victim", &[("password", "hunter2")]).await;
    let before = fingerprint(&env.secret("victim").await.expect("victim exists"));

    let mut spec = keyless_spec();
    spec["writeConnectionSecretToRef"] = serde_json::json!({"name": "victim"});
    env.create::<AIModel>(aimodel("thief", spec)).await;
    let thief = wait_synced_false::<AIModel>(&env, "thief", "ConnectionSecretConflict").await;
    let ready = thief.condition(CONDITION_READY).expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "ConnectionSecretConflict")
    );
    assert!(ready.message.contains("victim"), "{}", ready.message);
    assert_eq!(
        env.gateway_calls_any("upsertModel"),
        0,
        "nothing is provisioned for a resource whose Secret is not its own"
    );
    let after = fingerprint(&env.secret("victim").await.expect("victim exists"));
    assert_eq!(before, after, "the foreign Secret changed");

    // Deleting the resource leaves the victim alone (no owner reference was ever added).
    env.api::<AIModel>()
        .delete("thief", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone::<AIModel>("thief").await;
    let still = env.secret("victim").await.expect("victim survives");
    assert_eq!(fingerprint(&still), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_secret_that_goes_away_frees_the_resource() {
    let env = Env::start().await;
    put_secret(&env.client, NS, "taken-conn", &[("x", "y")]).await;
    env.create::<AIModel>(aimodel("taken", keyless_spec()))
        .await;
    wait_synced_false::<AIModel>(&env, "taken", "ConnectionSecretConflict").await;
    kube::Api::<Secret>::namespaced(env.client.clone(), NS)
        .delete("taken-conn", &DeleteParams::default())
        .await
        .expect("delete the blocking Secret");
    // No spec change: the Secret watch reopens it.
    env.wait_ready::<AIModel>("taken").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_and_a_database_of_one_name_do_not_fight_over_one_secret() {
    let env = Env::start_with(Options {
        poll_interval: Duration::from_millis(500),
        ..Options::default()
    })
    .await;
    env.create::<AIModel>(aimodel("twin", keyless_spec())).await;
    env.wait_ready::<AIModel>("twin").await;
    env.create::<ManagedDatabase>(database("twin", 1)).await;
    wait_synced_false::<ManagedDatabase>(&env, "twin", "ConnectionSecretConflict").await;

    let secret = env.secret("twin-conn").await.expect("the model's Secret");
    let keys_issued = env.gateway_calls_any("upsertModelKey");
    // Several drift checks of the model later, nothing has moved.
    let checks = env.gateway_calls_any("getModel");
    eventually("three more drift checks", || async {
        (env.gateway_calls_any("getModel") >= checks + 3).then_some(())
    })
    .await;
    let now = env.secret("twin-conn").await.expect("the model's Secret");
    assert_eq!(
        fingerprint(&now),
        fingerprint(&secret),
        "the Secret was rewritten"
    );
    assert_eq!(
        env.gateway_calls_any("upsertModelKey"),
        keys_issued,
        "key reissued"
    );
    assert_eq!(
        env.gateway_calls_any("upsertDatabase"),
        0,
        "database provisioned"
    );
    assert_eq!(env.gateway_calls_any("deleteModelKey"), 0, "key revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_the_gateway_cannot_hold_are_refused_at_admission() {
    let env = Env::start().await;
    let object: AIModel =
        serde_json::from_value(aimodel("summarizer.v2", keyless_spec())).expect("manifest");
    let error = env
        .api::<AIModel>()
        .create(&PostParams::default(), &object)
        .await
        .expect_err("a dotted name is refused");
    let kube::Error::Api(status) = error else {
        panic!("an API error, got {error}");
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status
            .message
            .starts_with(r#"AIModel.portico.dev "summarizer.v2" is invalid: "#)
            && status.message.contains(portico_api::GATEWAY_NAME_MESSAGE),
        "{}",
        status.message
    );
    let too_long = "a".repeat(64);
    let object: ManagedDatabase = serde_json::from_value(database(&too_long, 1)).expect("manifest");
    let error = env
        .api::<ManagedDatabase>()
        .create(&PostParams::default(), &object)
        .await
        .expect_err("a 64-character name is refused");
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 422),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_that_can_never_exist_at_the_gateway_still_deletes() {
    let env = Env::start().await;
    // An external name the gateway refuses: no finalizer is ever added for it.
    let mut odd = aimodel("odd", keyless_spec());
    odd["metadata"]["annotations"] =
        serde_json::json!({"portico.dev/external-name": "Not_A_Label"});
    env.create::<AIModel>(odd).await;
    let model = wait_synced_false::<AIModel>(&env, "odd", "InvalidSpec").await;
    assert!(
        !model
            .metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == portico_api::FINALIZER),
        "a finalizer for an object that cannot exist"
    );
    // One that got the finalizer anyway (created before the admission rule, say).
    let mut stuck = aimodel("stuck", keyless_spec());
    stuck["metadata"]["annotations"] =
        serde_json::json!({"portico.dev/external-name": "also.not.a.label"});
    stuck["metadata"]["finalizers"] = serde_json::json!([portico_api::FINALIZER]);
    env.create::<AIModel>(stuck).await;
    for name in ["odd", "stuck"] {
        env.api::<AIModel>()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
        env.wait_gone::<AIModel>(name).await;
    }
    assert_eq!(env.gateway_calls_any("deleteModel"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_external_name_is_refused_and_nothing_leaks() {
    let env = Env::start().await;
    env.create::<AIModel>(aimodel("mover", keyless_spec()))
        .await;
    env.wait_ready::<AIModel>("mover").await;
    let secret = env.secret("mover-conn").await.expect("connection Secret");

    let patch = serde_json::json!({"metadata": {"annotations": {
        "portico.dev/external-name": "elsewhere"
    }}});
    env.api::<AIModel>()
        .patch("mover", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    let model = wait_synced_false::<AIModel>(&env, "mover", "ExternalNameImmutable").await;
    // The gateway object it has is still the one it shows, and still works.
    let ready = model.condition(CONDITION_READY).expect("Ready");
    assert_eq!(ready.status, "True", "{ready:?}");
    assert_eq!(
        model
            .status
            .as_ref()
            .and_then(|s| s.external_name.as_deref()),
        Some("mover")
    );
    let gone = env
        .gateway_admin
        .get_model(NS, "elsewhere")
        .await
        .expect_err("nothing is created under the new name");
    assert_eq!(gone.class(), ErrorClass::NotFound);
    let now = env.secret("mover-conn").await.expect("connection Secret");
    assert_eq!(fingerprint(&now), fingerprint(&secret), "the Secret moved");

    // Deletion deprovisions the object that exists, not the one asked for.
    env.api::<AIModel>()
        .delete("mover", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone::<AIModel>("mover").await;
    let error = env
        .gateway_admin
        .get_model(NS, "mover")
        .await
        .expect_err("the old model is deprovisioned");
    assert_eq!(error.class(), ErrorClass::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_admin_token_costs_one_call_not_one_per_object() {
    let env = Env::start_with(Options {
        token_in_secret: "not-the-admin-token".into(),
        ..Options::default()
    })
    .await;
    let names: Vec<String> = (0..8).map(|i| format!("blocked-{i}")).collect();
    for name in &names {
        env.create::<AIModel>(aimodel(name, keyless_spec())).await;
    }
    for name in &names {
        wait_synced_false::<AIModel>(&env, name, "Unauthorized").await;
    }
    assert_eq!(
        env.gateway.stats().count("upsertModel", 401),
        1,
        "one refused call, then none with the same token"
    );
    put_secret(
        &env.client,
        "portico-system",
        "gateway-admin",
        &[("token", GATEWAY_TOKEN)],
    )
    .await;
    for name in &names {
        env.wait_ready::<AIModel>(name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_many_at_once_deprovisions_each_exactly_once() {
    let env = Env::start_with(Options {
        gateway_qps: 2000.0,
        gateway_burst: 500,
        ..Options::default()
    })
    .await;
    let count = 150;
    for i in 0..count {
        env.create::<AIModel>(aimodel(&format!("bulk-{i:03}"), keyless_spec()))
            .await;
    }
    let api = env.api::<AIModel>();
    eventually("every model Ready", || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let ready = list
                .items
                .iter()
                .filter(|m| {
                    m.condition(CONDITION_READY)
                        .is_some_and(|c| c.status == "True")
                })
                .count();
            (ready == count).then_some(())
        }
    })
    .await;
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .expect("delete them all");
    eventually("every model gone", || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            list.items.is_empty().then_some(())
        }
    })
    .await;
    // Garbage collection of the connection Secrets comes after: let it finish before counting.
    eventually("every connection Secret collected", || async {
        let secrets = kube::Api::<Secret>::namespaced(env.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .ok()?;
        (!secrets.items.iter().any(|s| {
            s.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("bulk-"))
        }))
        .then_some(())
    })
    .await;
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for request in env.gateway.requests() {
        if request.operation == "deleteModel" {
            *deletes.entry(request.path.clone()).or_default() += 1;
        }
    }
    assert_eq!(deletes.len(), count, "every model deprovisioned");
    let twice: Vec<_> = deletes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "deprovisioned more than once: {twice:?}");
    // (Events are listed from both event APIs: each counts once per API.)
    let events = event_reasons(&env, "bulk-000").await;
    let count_of = |reason: &str| events.iter().filter(|r| *r == reason).count();
    assert_eq!(
        count_of("Deprovisioned"),
        count_of("Provisioned"),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_is_exclusive() {
    let env = Env::start().await;
    env.create::<AIModel>(aimodel("original", keyless_spec()))
        .await;
    env.wait_ready::<AIModel>("original").await;
    let secret = env
        .secret("original-conn")
        .await
        .expect("connection Secret");

    let mut intruder = aimodel("intruder", keyless_spec());
    intruder["metadata"]["annotations"] =
        serde_json::json!({"portico.dev/external-name": "original"});
    env.create::<AIModel>(intruder).await;
    let refused = wait_synced_false::<AIModel>(&env, "intruder", "Conflict").await;
    let synced = refused
        .condition(portico_api::CONDITION_SYNCED)
        .expect("Synced");
    assert!(
        synced.message.contains("owned_by_another"),
        "{}",
        synced.message
    );
    assert_eq!(
        env.gateway_calls_any("deleteModelKey"),
        0,
        "a key was revoked"
    );
    assert_eq!(
        env.gateway_calls_any("upsertModelKey"),
        1,
        "a key was issued"
    );

    env.api::<AIModel>()
        .delete("intruder", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone::<AIModel>("intruder").await;
    let model = env
        .gateway_admin
        .get_model(NS, "original")
        .await
        .expect("the original's model survives the intruder's deletion");
    assert!(
        model
            .value
            .owner
            .as_deref()
            .is_some_and(|owner| owner.starts_with("default/team-a/original/")),
        "{:?}",
        model.value.owner
    );
    let now = env
        .secret("original-conn")
        .await
        .expect("connection Secret");
    assert_eq!(fingerprint(&now), fingerprint(&secret));
    env.wait_ready::<AIModel>("original").await;
}

/// A second cluster: its own API server and operator (`--cluster-name west`) on the same
/// gateway.
async fn second_cluster(env: &Env) -> (kube_sandbox::ApiServer, kube::Client) {
    let apiserver = kube_sandbox::ApiServer::start(kube_sandbox::ApiServerConfig::default())
        .await
        .expect("second API server");
    let client = apiserver.kube_client().expect("client");
    portico_testbed::stack::install_crds(&client)
        .await
        .expect("CRDs");
    for namespace in ["portico-system", NS] {
        portico_testbed::stack::create_namespace(&client, namespace)
            .await
            .expect("namespace");
    }
    put_secret(
        &client,
        "portico-system",
        "gateway-admin",
        &[("token", GATEWAY_TOKEN)],
    )
    .await;
    let ctx = portico_operator::controller::ContextBuilder::new(
        client.clone(),
        portico_gateway_client::GatewayClientConfig::new(env.gateway.url()),
        env.token_secret.clone(),
    )
    .config(portico_operator::controller::OperatorConfig {
        cluster_name: "west".into(),
        instance: "west".into(),
        ..portico_operator::controller::OperatorConfig::default()
    })
    .build()
    .expect("west's context");
    tokio::spawn(portico_operator::controller::run(
        ctx,
        tokio_util::sync::CancellationToken::new(),
    ));
    (apiserver, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_on_one_gateway_never_touch_each_others_objects() {
    let env = Env::start_with(Options {
        cluster_name: "east".into(),
        ..Options::default()
    })
    .await;
    env.create::<AIModel>(aimodel("shared-name", keyless_spec()))
        .await;
    env.wait_ready::<AIModel>("shared-name").await;

    let (_west_server, west) = second_cluster(&env).await;
    let west_models = kube::Api::<AIModel>::namespaced(west.clone(), NS);
    let object: AIModel =
        serde_json::from_value(aimodel("shared-name", keyless_spec())).expect("manifest");
    west_models
        .create(&PostParams::default(), &object)
        .await
        .expect("west creates its namesake");
    let refused = eventually("west's namesake to be refused", || {
        let api = west_models.clone();
        async move {
            let model = api.get("shared-name").await.ok()?;
            let synced = model.condition(portico_api::CONDITION_SYNCED)?;
            (synced.reason == "Conflict").then_some(synced.message.clone())
        }
    })
    .await;
    assert!(refused.contains("east/team-a/shared-name/"), "{refused}");

    // West deletes its namesake: east's model stays, with its key.
    west_models
        .delete("shared-name", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("west's namesake gone", || {
        let api = west_models.clone();
        async move { matches!(api.get_opt("shared-name").await, Ok(None)).then_some(()) }
    })
    .await;
    let model = env
        .gateway_admin
        .get_model(NS, "shared-name")
        .await
        .expect("east's model survives");
    assert!(
        model
            .value
            .owner
            .as_deref()
            .is_some_and(|owner| owner.starts_with("east/")),
        "{:?}",
        model.value.owner
    );
    assert_eq!(env.gateway_calls_any("deleteModelKey"), 0);
    env.wait_ready::<AIModel>("shared-name").await;
}
