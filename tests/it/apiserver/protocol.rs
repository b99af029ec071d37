//! Sandbox API server scenarios about the wire protocol: body media types (415), strategic
//! merge patch on built-in kinds, 405, watches across namespaces, narrowed by
//! `metadata.namespace`, or started without a resource version, and the debug endpoint's
//! `closeWatches` and `compact` actions.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

use super::{aimodel, aimodels, api_error, start};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body.to_vec())
        .expect("request")
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).expect("configmap")
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace created");
}

/// The name and namespace of an `ADDED` event; any other event fails the test.
fn added(event: WatchEvent<ConfigMap>) -> (String, String) {
    match event {
        WatchEvent::Added(cm) => (
            cm.metadata.namespace.unwrap_or_default(),
            cm.metadata.name.unwrap_or_default(),
        ),
        other => panic!("expected ADDED, got {other:?}"),
    }
}

#[tokio::test]
async fn bodies_in_formats_the_server_cannot_decode_answer_415() {
    let (_server, client) = start().await;
    let status = api_error(
        client
            .request::<Value>(request("POST", CONFIGMAPS, "text/plain", b"a=b"))
            .await
            .expect_err("text is no object format"),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (415, "UnsupportedMediaType")
    );
    assert!(status.is_failure());
    assert_eq!(
        status.message,
        "the body of the request was in an unknown format - accepted media types include: \
         application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );

    // Custom resources have no protobuf form.
    let models = "/apis/portico.dev/v1alpha1/namespaces/default/aimodels";
    let status = api_error(
        client
            .request::<Value>(request("POST", models, PROTOBUF, b"k8s\0"))
            .await
            .expect_err("no protobuf for custom resources"),
    );
    assert_eq!(status.code, 415);
    assert!(
        status
            .message
            .ends_with("accepted media types include: application/json, application/yaml"),
        "{}",
        status.message
    );

    // A body that claims to be protobuf but is not is a bad request, and creates nothing.
    let status = api_error(
        client
            .request::<Value>(request("POST", CONFIGMAPS, PROTOBUF, b"{}"))
            .await
            .expect_err("not protobuf"),
    );
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));

    // YAML bodies are decoded.
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n";
    let created: Value = client
        .request(request("POST", CONFIGMAPS, "application/yaml", yaml))
        .await
        .expect("created from YAML");
    assert_eq!(created["data"]["a"], "b");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let names: Vec<_> = configmaps
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    assert_eq!(names, ["from-yaml"]);

    // Patch types: four for built-in kinds, three (no strategic merge) for custom resources.
    let status = api_error(
        client
            .request::<Value>(request(
                "PATCH",
                &format!("{CONFIGMAPS}/from-yaml"),
                "application/x-unknown",
                b"{}",
            ))
            .await
            .expect_err("unknown patch type"),
    );
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            415,
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, \
             application/strategic-merge-patch+json, application/apply-patch+yaml"
        )
    );
    aimodels(&client, "default")
        .create(&PostParams::default(), &aimodel("m"))
        .await
        .expect("create");
    let status = api_error(
        client
            .request::<Value>(request(
                "PATCH",
                &format!("{models}/m"),
                "application/strategic-merge-patch+json",
                b"{}",
            ))
            .await
            .expect_err("no strategic merge for custom resources"),
    );
    assert_eq!(status.code, 415);
    assert!(!status.message.contains("strategic"), "{}", status.message);
}

#[tokio::test]
async fn strategic_merge_patches_merge_lists_by_their_keys() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    configmaps
        .create(&PostParams::default(), &configmap("held"))
        .await
        .expect("create");
    // Two controllers each add their finalizer; a JSON merge patch would keep only the last.
    for finalizer in ["example.com/first", "example.com/second"] {
        let patch = json!({"metadata": {"finalizers": [finalizer]}});
        configmaps
            .patch("held", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .expect("strategic patch");
    }
    let mut finalizers = configmaps
        .get("held")
        .await
        .expect("get")
        .metadata
        .finalizers
        .unwrap_or_default();
    finalizers.sort();
    assert_eq!(finalizers, ["example.com/first", "example.com/second"]);
    let removal =
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/first"]}});
    let patched = configmaps
        .patch("held", &PatchParams::default(), &Patch::Strategic(&removal))
        .await
        .expect("deletion list");
    assert_eq!(
        patched.metadata.finalizers.unwrap_or_default(),
        ["example.com/second"]
    );
    let cleared = json!({"metadata": {"finalizers": null}});
    configmaps
        .patch("held", &PatchParams::default(), &Patch::Strategic(&cleared))
        .await
        .expect("null clears");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {
                        "name": "app",
                        "image": "app:1",
                        "ports": [{"containerPort": 8080}],
                        "env": [{"name": "A", "value": "1"}],
                    },
                    {"name": "sidecar", "image": "side:1"},
                ]},
            },
        },
    }))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create");
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]},
    ]}}}});
    let patched = deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .expect("strategic patch");
    let template = serde_json::to_value(patched.spec.template).expect("json");
    let containers = &template["spec"]["containers"];
    assert_eq!(containers[0]["name"], "app");
    assert_eq!(containers[0]["image"], "app:2");
    assert_eq!(containers[0]["ports"], json!([{"containerPort": 8080}]));
    let mut env: Vec<String> = containers[0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|var| var["name"].as_str().map(str::to_owned))
        .collect();
    env.sort();
    assert_eq!(env, ["A", "B"]);
    assert_eq!(containers[1], json!({"name": "sidecar", "image": "side:1"}));

    // An element without its merge key is an error kube-apiserver answers with a 500.
    let keyless = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let status = api_error(
        deployments
            .patch("web", &PatchParams::default(), &Patch::Strategic(&keyless))
            .await
            .expect_err("no merge key"),
    );
    assert_eq!(status.code, 500);
    assert!(
        status
            .message
            .contains("does not contain declared merge key: name"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn methods_a_path_does_not_serve_answer_405_with_a_status() {
    let (_server, client) = start().await;
    for (method, path) in [
        // kube-apiserver serves no deletecollection of namespaces.
        ("DELETE", "/api/v1/namespaces"),
        ("POST", "/api/v1/namespaces/default/configmaps/named"),
        ("PUT", CONFIGMAPS),
    ] {
        let status = api_error(
            client
                .request::<Value>(request(method, path, "application/json", b"{}"))
                .await
                .expect_err("405"),
        );
        assert_eq!(
            (status.code, status.reason.as_str(), status.message.as_str()),
            (
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource"
            ),
            "{method} {path}"
        );
        assert!(status.is_failure());
    }
}

#[tokio::test]
async fn a_cluster_wide_watch_sees_every_namespace() {
    let (_server, client) = start().await;
    create_namespace(&client, "team-a").await;
    let all: Api<ConfigMap> = Api::all(client.clone());
    let from = all
        .list_metadata(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list version");
    let mut events = all
        .watch(&WatchParams::default().timeout(10), &from)
        .await
        .expect("watch")
        .boxed();
    for namespace in ["default", "team-a"] {
        Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .create(
                &PostParams::default(),
                &configmap(&format!("in-{namespace}")),
            )
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(added(
            events.try_next().await.expect("event").expect("open"),
        ));
    }
    assert_eq!(
        seen,
        [
            ("default".to_string(), "in-default".to_string()),
            ("team-a".to_string(), "in-team-a".to_string()),
        ]
    );
}

#[tokio::test]
async fn a_namespace_field_selector_narrows_lists_and_watches() {
    let (_server, client) = start().await;
    create_namespace(&client, "team-a").await;
    for namespace in ["default", "team-a"] {
        Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .create(
                &PostParams::default(),
                &configmap(&format!("in-{namespace}")),
            )
            .await
            .expect("create");
    }
    let all: Api<ConfigMap> = Api::all(client.clone());
    let listed = |list: kube::api::ObjectList<ConfigMap>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|cm| cm.metadata.name)
            .collect()
    };
    let selected = all
        .list(&ListParams::default().fields("metadata.namespace=team-a"))
        .await
        .expect("list");
    let from = selected.metadata.resource_version.clone().expect("version");
    assert_eq!(listed(selected), ["in-team-a"]);
    let others = all
        .list(&ListParams::default().fields("metadata.namespace!=team-a"))
        .await
        .expect("list");
    assert_eq!(listed(others), ["in-default"]);

    let mut events = all
        .watch(
            &WatchParams::default()
                .fields("metadata.namespace=team-a")
                .timeout(10),
            &from,
        )
        .await
        .expect("watch")
        .boxed();
    // Committed in this order, so an unfiltered watch would see `default`'s first.
    for namespace in ["default", "team-a"] {
        Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &configmap("later"))
            .await
            .expect("create");
    }
    assert_eq!(
        added(events.try_next().await.expect("event").expect("open")),
        ("team-a".to_string(), "later".to_string())
    );
}

#[tokio::test]
async fn a_watch_without_a_resource_version_starts_with_the_current_objects() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b"] {
        configmaps
            .create(&PostParams::default(), &configmap(name))
            .await
            .expect("create");
    }
    // No resourceVersion and no sendInitialEvents: kube-rs always sends a version, so raw.
    let watch = http::Request::get(format!("{CONFIGMAPS}?watch=true&timeoutSeconds=10"))
        .body(Vec::new())
        .expect("request");
    let mut events = client
        .request_events::<ConfigMap>(watch)
        .await
        .expect("watch")
        .boxed();
    let mut initial = Vec::new();
    while initial.len() < 2 {
        initial.push(added(events.try_next().await.expect("event").expect("open")).1);
    }
    initial.sort();
    assert_eq!(initial, ["a", "b"]);
    configmaps
        .create(&PostParams::default(), &configmap("c"))
        .await
        .expect("create");
    assert_eq!(
        added(events.try_next().await.expect("event").expect("open")).1,
        "c",
        "changes follow the initial state"
    );
}

async fn debug_action(client: &kube::Client, action: Value) -> Result<Value, kube::Error> {
    client
        .request::<Value>(request(
            "POST",
            "/debug/faults",
            "application/json",
            &serde_json::to_vec(&action).expect("json"),
        ))
        .await
}

#[tokio::test]
async fn the_debug_endpoint_closes_watches_and_compacts_history() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let from = configmaps
        .create(&PostParams::default(), &configmap("one"))
        .await
        .expect("create")
        .metadata
        .resource_version
        .expect("version");

    let mut open = configmaps
        .watch(&WatchParams::default().timeout(60), &from)
        .await
        .expect("watch")
        .boxed();
    let answer = debug_action(&client, json!({"action": "closeWatches"}))
        .await
        .expect("closeWatches");
    assert_eq!(answer["status"], "Success");
    // The stream ends well before its 60 s timeout; the bound only keeps a failure from hanging.
    let ended = tokio::time::timeout(Duration::from_secs(10), open.try_next())
        .await
        .expect("the watch ends once closed");
    assert!(
        ended.expect("clean end").is_none(),
        "no event, just the end"
    );

    configmaps
        .create(&PostParams::default(), &configmap("two"))
        .await
        .expect("create");
    debug_action(&client, json!({"action": "compact"}))
        .await
        .expect("compact");
    let mut expired = configmaps
        .watch(&WatchParams::default(), &from)
        .await
        .expect("watch")
        .boxed();
    match expired.try_next().await.expect("event").expect("open") {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected 410 Expired, got {other:?}"),
    }

    let status = api_error(
        debug_action(&client, json!({"action": "explode"}))
            .await
            .expect_err("unknown action"),
    );
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            400,
            "action must be one of fail, closeWatches, compact, clear"
        )
    );
}
