//! Sandbox API server scenarios: patch types, server-side apply, garbage collection, namespaces,
//! validation wiring, Events, faults and the CLI.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret};
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde_json::{Value, json};

use super::{aimodel, aimodels, api_error, eventually, start};

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    let (_server, client) = start().await;
    let models = aimodels(&client, "default");
    models
        .create(&PostParams::default(), &aimodel("p"))
        .await
        .expect("create");

    let merge =
        json!({"spec": {"parameters": {"temperature": 0.5}}, "metadata": {"labels": {"a": "1"}}});
    let patched = models
        .patch("p", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .expect("merge");
    assert_eq!(patched.data["spec"]["parameters"]["temperature"], 0.5);
    assert_eq!(patched.data["spec"]["model"], "gpt-4o-mini");

    let operations: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/model", "value": "gpt-4o-mini"},
        {"op": "replace", "path": "/spec/model", "value": "gpt-4o"},
    ]))
    .expect("patch");
    let patched = models
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::<Value>::Json(operations),
        )
        .await
        .expect("json patch");
    assert_eq!(patched.data["spec"]["model"], "gpt-4o");

    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/model", "value": "something-else"},
        {"op": "replace", "path": "/spec/model", "value": "never"},
    ]))
    .expect("patch");
    let error = models
        .patch("p", &PatchParams::default(), &Patch::<Value>::Json(failing))
        .await
        .expect_err("test op fails");
    let status = api_error(error);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        models.get("p").await.expect("get").data["spec"]["model"],
        "gpt-4o"
    );

    // Custom resources carry no patch strategies, so kube-apiserver takes no strategic merge
    // patch for them.
    let strategic = json!({"spec": {"limits": {"requestsPerMinute": 60}}});
    let status = api_error(
        models
            .patch("p", &PatchParams::default(), &Patch::Strategic(&strategic))
            .await
            .expect_err("no strategic merge for custom resources"),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (415, "UnsupportedMediaType")
    );
    assert_eq!(
        status.message,
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );

    // A resourceVersion in a patch is a precondition.
    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"model": "x"}});
    let status = api_error(
        models
            .patch("p", &PatchParams::default(), &Patch::Merge(&stale))
            .await
            .expect_err("stale"),
    );
    assert_eq!(status.reason, "Conflict");

    let missing = models
        .patch("absent", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .expect_err("404");
    assert_eq!(api_error(missing).code, 404);
}

#[tokio::test]
async fn server_side_apply_ownership_conflicts_and_force() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let applied = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
        "data": {"a": "1", "b": "2"},
    });
    let created = configmaps
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .expect("create on apply");
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(managers, [("alice".to_string(), "Apply".to_string())]);

    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "changed"}});
    let status = api_error(
        configmaps
            .patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&bob))
            .await
            .expect_err("conflict"),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .data.a"
    );
    let causes = status.details.expect("details").causes;
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".data.a");

    // Same value: shared ownership, no conflict.
    let shared = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"b": "2"}});
    configmaps
        .patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&shared))
        .await
        .expect("shared");

    let forced = configmaps
        .patch(
            "ssa",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&bob),
        )
        .await
        .expect("force");
    assert_eq!(forced.data.as_ref().expect("data")["a"], "changed");

    // bob's forced apply no longer sets `b`, so alice is its only owner; when alice drops `a`
    // (now bob's) and `b`, `a` stays and `b` is removed.
    let alice_empty = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"c": "3"}});
    let after = configmaps
        .patch(
            "ssa",
            &PatchParams::apply("alice"),
            &Patch::Apply(&alice_empty),
        )
        .await
        .expect("alice reapplies");
    let data = after.data.expect("data");
    assert_eq!(data.get("a").map(String::as_str), Some("changed"));
    assert!(
        !data.contains_key("b"),
        "a field nobody applies any more is removed: {data:?}"
    );
    assert_eq!(data.get("c").map(String::as_str), Some("3"));

    // Apply on a custom resource's status subresource.
    let models = aimodels(&client, "default");
    let model = json!({"apiVersion": "portico.dev/v1alpha1", "kind": "AIModel", "metadata": {"name": "m"},
        "spec": {"provider": "openai", "model": "gpt-4o-mini"}});
    let created = models
        .patch("m", &PatchParams::apply("portico"), &Patch::Apply(&model))
        .await
        .expect("apply cr");
    assert_eq!(created.metadata.generation, Some(1));
    let status = json!({"apiVersion": "portico.dev/v1alpha1", "kind": "AIModel", "status": {"phase": "Ready"}});
    let updated = models
        .patch_status(
            "m",
            &PatchParams::apply("portico").force(),
            &Patch::Apply(&status),
        )
        .await
        .expect("apply status");
    assert_eq!(updated.data["status"]["phase"], "Ready");
    assert_eq!(updated.metadata.generation, Some(1));
}

#[tokio::test]
async fn garbage_collection_background_and_orphan() {
    let (_server, client) = start().await;
    let models = aimodels(&client, "default");
    let owner = models
        .create(&PostParams::default(), &aimodel("owner"))
        .await
        .expect("create");
    let uid = owner.metadata.uid.clone().expect("uid");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    for name in ["owned-1", "owned-2"] {
        let secret: Secret = serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "portico.dev/v1alpha1", "kind": "AIModel", "name": "owner", "uid": uid,
            "controller": true, "blockOwnerDeletion": true,
        }]}}))
        .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create");
    }
    models
        .delete("owner", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("dependents collected", || {
        let secrets = secrets.clone();
        async move {
            secrets
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
                .is_empty()
                .then_some(())
        }
    })
    .await;

    let owner = models
        .create(&PostParams::default(), &aimodel("keeper"))
        .await
        .expect("create");
    let uid = owner.metadata.uid.clone().expect("uid");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "orphan", "ownerReferences": [{
            "apiVersion": "portico.dev/v1alpha1", "kind": "AIModel", "name": "keeper", "uid": uid,
        }]}}))
        .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    models
        .delete("keeper", &DeleteParams::orphan())
        .await
        .expect("delete orphan");
    eventually("owner gone", || {
        let models = models.clone();
        async move {
            models
                .get_opt("keeper")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        }
    })
    .await;
    let kept = secrets.get("orphan").await.expect("dependent kept");
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );

    // An owner that does not exist is treated as gone.
    let dangling: Secret = serde_json::from_value(json!({"metadata": {"name": "dangling", "ownerReferences": [{
        "apiVersion": "portico.dev/v1alpha1", "kind": "AIModel", "name": "ghost", "uid": "no-such-uid",
    }]}}))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &dangling)
        .await
        .expect("create");
    eventually("dangling dependent collected", || {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt("dangling")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn namespace_deletion_terminates_and_honours_finalizers() {
    let (_server, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "team-a"}})).expect("ns");
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );

    let models = aimodels(&client, "team-a");
    let mut held = aimodel("held");
    held.metadata.finalizers = Some(vec!["portico.dev/finalizer".into()]);
    models
        .create(&PostParams::default(), &held)
        .await
        .expect("create");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).expect("cm");
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");

    namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .expect("delete");
    let terminating = namespaces.get("team-a").await.expect("still there");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    let status = api_error(
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .expect_err("closed"),
    );
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    eventually("content deleted", || {
        let configmaps = configmaps.clone();
        async move {
            configmaps
                .get_opt("c")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        }
    })
    .await;
    let pending = models.get("held").await.expect("held by its finalizer");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(namespaces.get_opt("team-a").await.expect("get").is_some());

    let remove = json!({"metadata": {"finalizers": null}});
    models
        .patch("held", &PatchParams::default(), &Patch::Merge(&remove))
        .await
        .expect("release");
    eventually("namespace gone", || {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .get_opt("team-a")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn custom_resource_validation_answers_422_invalid() {
    let (_server, client) = start().await;
    let gvk = kube::api::GroupVersionKind::gvk("portico.dev", "v1alpha1", "ManagedDatabase");
    let databases: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &kube::api::ApiResource::from_gvk(&gvk),
    );
    let object: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "portico.dev/v1alpha1", "kind": "ManagedDatabase", "metadata": {"name": "db"},
        "spec": {"engine": "PostgreSQL", "version": "16", "databaseName": "app", "storageGB": 0},
    }))
    .expect("object");
    let status = api_error(
        databases
            .create(&PostParams::default(), &object)
            .await
            .expect_err("invalid"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status
            .message
            .starts_with("ManagedDatabase.portico.dev \"db\" is invalid: "),
        "{}",
        status.message
    );
    let details = status.details.expect("details");
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("db", "portico.dev", "ManagedDatabase")
    );
    assert!(
        details.causes.iter().any(|c| c.field == "spec.storageGB"),
        "{:?}",
        details.causes
    );
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields() {
    let (_server, client) = start().await;
    let url = "/apis/portico.dev/v1alpha1/namespaces/default/aimodels?fieldValidation=Strict";
    let body = json!({"apiVersion": "portico.dev/v1alpha1", "kind": "AIModel", "metadata": {"name": "s"},
        "spec": {"provider": "openai", "model": "m", "foo": 1}});
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("request");
    let status = api_error(client.request::<Value>(request).await.expect_err("strict"));
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        status.message,
        "strict decoding error: unknown field \"spec.foo\""
    );

    let url = "/apis/portico.dev/v1alpha1/namespaces/default/aimodels?fieldValidation=Warn";
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("request");
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .expect("warned");
    assert_eq!(response.status(), 201);
    let warning = response.headers().get("warning").expect("warning header");
    assert_eq!(
        warning.to_str().expect("ascii"),
        r#"299 - "unknown field \"spec.foo\"""#
    );
}

#[tokio::test]
async fn events_in_both_groups_and_involved_object_selector() {
    let (_server, client) = start().await;
    let modern: Api<EventsV1> = Api::namespaced(client.clone(), "default");
    let event: EventsV1 = serde_json::from_value(json!({
        "metadata": {"name": "summarizer.1"},
        "eventTime": "2026-11-25T04:00:00.000000Z",
        "reportingController": "portico.dev/operator",
        "reportingInstance": "portico-0",
        "action": "Provision",
        "reason": "Provisioned",
        "type": "Normal",
        "note": "PUT /v1/models -> 201",
        "regarding": {"apiVersion": "portico.dev/v1alpha1", "kind": "AIModel", "name": "summarizer", "namespace": "default", "uid": "u-1"},
    }))
    .expect("event");
    modern
        .create(&PostParams::default(), &event)
        .await
        .expect("create");
    let core: Api<Event> = Api::namespaced(client.clone(), "default");
    let other: Event = serde_json::from_value(json!({
        "metadata": {"name": "other.1"}, "message": "x", "reason": "R",
        "involvedObject": {"kind": "AIModel", "name": "other", "namespace": "default"},
    }))
    .expect("event");
    core.create(&PostParams::default(), &other)
        .await
        .expect("create");

    let selected = core
        .list(
            &ListParams::default()
                .fields("involvedObject.kind=AIModel,involvedObject.name=summarizer"),
        )
        .await
        .expect("list");
    assert_eq!(selected.items.len(), 1);
    assert_eq!(
        selected.items[0].message.as_deref(),
        Some("PUT /v1/models -> 201")
    );
    assert_eq!(
        selected.items[0].involved_object.uid.as_deref(),
        Some("u-1")
    );
    let back = modern.get("other.1").await.expect("other as events.k8s.io");
    assert_eq!(back.note.as_deref(), Some("x"));
    assert_eq!(
        back.regarding.and_then(|r| r.name).as_deref(),
        Some("other")
    );

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "portico-leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}))
    .expect("lease");
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("lease");
    let patch = json!({"spec": {"holderIdentity": "b"}});
    let patched = leases
        .patch(
            "portico-leader",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("b")
    );
}

#[tokio::test]
async fn injected_faults_fail_requests_with_status_bodies() {
    let (server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // kube's client retries 429/503 on its own, so these use codes it hands back at once.
    server
        .faults()
        .fail_next(2, "/configmaps", Some("list"), 500);
    for _ in 0..2 {
        let status = api_error(
            configmaps
                .list(&ListParams::default())
                .await
                .expect_err("500"),
        );
        assert_eq!(
            (status.code, status.reason.as_str()),
            (500, "InternalError")
        );
    }
    configmaps
        .list(&ListParams::default())
        .await
        .expect("third succeeds");

    // The same through the debug endpoint.
    let request = http::Request::post("/debug/faults")
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&json!({"action": "fail", "path": "/configmaps/x", "code": 403}))
                .expect("json"),
        )
        .expect("request");
    client.request::<Value>(request).await.expect("armed");
    let status = api_error(configmaps.get("x").await.expect_err("403"));
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        api_error(configmaps.get("x").await.expect_err("404")).code,
        404
    );
    assert_eq!(server.stats().count("get", "configmaps"), 2);

    // Table responses are wired for kubectl.
    let request = http::Request::get("/apis/portico.dev/v1alpha1/namespaces/default/aimodels")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .expect("request");
    let table: Value = client.request(request).await.expect("table");
    assert_eq!(table["kind"], "Table");
}

#[tokio::test]
async fn cli_serves_until_terminated() {
    crate::support::init();
    let directory = tempfile::tempdir().expect("tempdir");
    let kubeconfig = directory.path().join("kubeconfig");
    // Plain HTTP without auth: anything but loopback is refused.
    let refused = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args([
            "sandbox",
            "--apiserver-only",
            "--listen",
            "0.0.0.0:0",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args([
            "sandbox",
            "--apiserver-only",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("joined")
    .expect("read");
    assert_eq!(
        line.trim_end(),
        format!("sandbox ready: kubeconfig={}", kubeconfig.display())
    );

    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).expect("client");
    let namespaces: Api<Namespace> = Api::all(client);
    assert!(namespaces.get("default").await.is_ok());

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joined")
        .expect("exit");
    assert!(status.success(), "{status:?}");
}

fn widget_crd(versions: Value) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": versions,
        },
    }))
    .expect("crd")
}

fn widget_version(name: &str, storage: bool) -> Value {
    json!({
        "name": name, "served": true, "storage": storage,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
    })
}

#[tokio::test]
async fn crd_updates_change_what_is_served_and_scale_works() {
    let (server, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let created = crds
        .create(
            &PostParams::default(),
            &widget_crd(json!([widget_version("v1", true)])),
        )
        .await
        .expect("crd");
    assert!(
        !server
            .types()
            .iter()
            .any(|t| t.group == "example.com" && t.version == "v2")
    );

    let widgets = |version: &str| {
        let gvk = GroupVersionKind::gvk("example.com", version, "Widget");
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            "default",
            &ApiResource::from_gvk(&gvk),
        )
    };
    let widget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"replicas": 1},
    }))
    .expect("widget");
    widgets("v1")
        .create(&PostParams::default(), &widget)
        .await
        .expect("create");

    let mut updated = created.clone();
    updated.spec.versions = serde_json::from_value(json!([
        widget_version("v1", true),
        widget_version("v2", false)
    ]))
    .expect("versions");
    crds.replace("widgets.example.com", &PostParams::default(), &updated)
        .await
        .expect("update crd");
    let seen = widgets("v2").get("w").await.expect("served as v2");
    assert_eq!(seen.types.expect("types").api_version, "example.com/v2");

    // The scale subresource reads and writes spec.replicas.
    let request = http::Request::get("/apis/example.com/v1/namespaces/default/widgets/w/scale")
        .body(Vec::new())
        .expect("request");
    let scale: Value = client.request(request).await.expect("scale");
    assert_eq!(
        (scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()),
        (Some("Scale"), Some(1))
    );
    let request = http::Request::patch("/apis/example.com/v1/namespaces/default/widgets/w/scale")
        .header("content-type", "application/merge-patch+json")
        .body(serde_json::to_vec(&json!({"spec": {"replicas": 3}})).expect("json"))
        .expect("request");
    let scale: Value = client.request(request).await.expect("scale patch");
    assert_eq!(scale["spec"]["replicas"], 3);
    let widget = widgets("v1").get("w").await.expect("get");
    assert_eq!(widget.data["spec"]["replicas"], 3);
    assert_eq!(widget.metadata.generation, Some(2));
}

#[tokio::test]
async fn deletecollection_dry_run_and_selector_watches() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let params = kube::api::WatchParams::default()
        .labels("tier=web")
        .timeout(10);
    let mut watch = configmaps.watch(&params, "0").await.expect("watch").boxed();
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"tier": tier}}}))
                .expect("cm");
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    let relabel = json!({"metadata": {"labels": {"tier": "db"}}});
    configmaps
        .patch("a", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .expect("relabel");

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = watch.try_next().await.expect("event").expect("open");
        let label = match event {
            kube::api::WatchEvent::Added(cm) => {
                format!("ADDED {}", cm.metadata.name.unwrap_or_default())
            }
            kube::api::WatchEvent::Modified(cm) => {
                format!("MODIFIED {}", cm.metadata.name.unwrap_or_default())
            }
            kube::api::WatchEvent::Deleted(cm) => {
                format!("DELETED {}", cm.metadata.name.unwrap_or_default())
            }
            kube::api::WatchEvent::Bookmark(_) => continue,
            kube::api::WatchEvent::Error(status) => panic!("error {status:?}"),
        };
        seen.push(label);
    }
    assert_eq!(
        seen,
        ["ADDED a", "ADDED c", "DELETED a"],
        "leaving the selection is a DELETED"
    );

    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let change = json!({"data": {"k": "v"}});
    let previewed = configmaps
        .patch("b", &dry, &Patch::Merge(&change))
        .await
        .expect("dry patch");
    assert_eq!(previewed.data.expect("data")["k"], "v");
    assert!(
        configmaps.get("b").await.expect("get").data.is_none(),
        "dry run stores nothing"
    );

    let deleted = configmaps
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=db"),
        )
        .await
        .expect("deletecollection");
    let names: Vec<String> = deleted
        .left()
        .expect("list of deleted objects")
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let left: Vec<String> = configmaps
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "owner"}})).expect("cm");
    let owner = configmaps
        .create(&PostParams::default(), &owner)
        .await
        .expect("create");
    let dependent: ConfigMap = serde_json::from_value(json!({"metadata": {
        "name": "dependent",
        "finalizers": ["example.com/hold"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner.metadata.uid.clone().expect("uid"), "blockOwnerDeletion": true}],
    }}))
    .expect("cm");
    configmaps
        .create(&PostParams::default(), &dependent)
        .await
        .expect("create");
    configmaps
        .delete("owner", &DeleteParams::foreground())
        .await
        .expect("delete");
    eventually("dependent deleting", || {
        let configmaps = configmaps.clone();
        async move {
            let dependent = configmaps.get("dependent").await.expect("get");
            dependent
                .metadata
                .deletion_timestamp
                .is_some()
                .then_some(())
        }
    })
    .await;
    let owner = configmaps.get("owner").await.expect("owner waits");
    assert!(
        owner
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string())
    );
    let release = json!({"metadata": {"finalizers": null}});
    configmaps
        .patch(
            "dependent",
            &PatchParams::default(),
            &Patch::Merge(&release),
        )
        .await
        .expect("release");
    eventually("owner gone", || {
        let configmaps = configmaps.clone();
        async move {
            configmaps
                .get_opt("owner")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn concurrent_writes_reach_a_watcher_complete_and_in_order() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for index in 0..4 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{index}")}})).expect("cm");
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    let start_rv = configmaps
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let mut watch = configmaps
        .watch(&kube::api::WatchParams::default().timeout(30), &start_rv)
        .await
        .expect("watch")
        .boxed();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let configmaps = configmaps.clone();
            tokio::spawn(async move {
                for round in 0..50 {
                    let patch = json!({"data": {format!("w{writer}"): round.to_string()}});
                    configmaps
                        .patch(
                            &format!("c{}", round % 4),
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await
                        .expect("patch");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut last = start_rv.parse::<u64>().expect("numeric");
    let mut modified = 0;
    while modified < 400 {
        match watch.try_next().await.expect("event").expect("open") {
            kube::api::WatchEvent::Modified(cm) => {
                let rv: u64 = cm
                    .metadata
                    .resource_version
                    .expect("rv")
                    .parse()
                    .expect("numeric");
                assert_eq!(rv, last + 1, "no event missed or reordered");
                last = rv;
                modified += 1;
            }
            kube::api::WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn streaming_list_watch_and_timeout() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "present"}})).expect("cm");
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");

    let mut stream = configmaps
        .watch(&kube::api::WatchParams::streaming_lists().timeout(1), "")
        .await
        .expect("watch")
        .boxed();
    match stream.try_next().await.expect("event").expect("open") {
        kube::api::WatchEvent::Added(cm) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("present"))
        }
        other => panic!("unexpected {other:?}"),
    }
    match stream.try_next().await.expect("event").expect("open") {
        kube::api::WatchEvent::Bookmark(bookmark) => assert_eq!(
            bookmark
                .metadata
                .annotations
                .get("k8s.io/initial-events-end")
                .map(String::as_str),
            Some("true")
        ),
        other => panic!("unexpected {other:?}"),
    }
    // timeoutSeconds=1 ends the stream.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while stream.try_next().await.expect("event").is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the watch ends at its timeout");
}

#[tokio::test]
async fn health_endpoints_and_invalid_crds() {
    let (_server, client) = start().await;
    for path in ["/healthz", "/readyz", "/livez"] {
        let request = http::Request::get(path).body(Vec::new()).expect("request");
        assert_eq!(client.request_text(request).await.expect("healthy"), "ok");
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut misnamed = widget_crd(json!([widget_version("v1", true)]));
    misnamed.metadata.name = Some("wrong.example.com".into());
    let status = api_error(
        crds.create(&PostParams::default(), &misnamed)
            .await
            .expect_err("invalid"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "CustomResourceDefinition.apiextensions.k8s.io \"wrong.example.com\" is invalid: metadata.name: Invalid value: \"wrong.example.com\": must be spec.names.plural+\".\"+spec.group"
    );
    let details = status.details.expect("details");
    assert_eq!(details.kind, "CustomResourceDefinition");
    assert_eq!(details.causes[0].field, "metadata.name");
}

#[tokio::test]
async fn labels_are_validated_like_kube() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "l", "labels": {"tier": "not valid"}}}))
            .expect("cm");
    let status = api_error(
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .expect_err("invalid"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.starts_with("ConfigMap \"l\" is invalid: metadata.labels: Invalid value: \"not valid\": a valid label must be an empty string"),
        "{}",
        status.message
    );
}
