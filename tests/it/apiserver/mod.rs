//! Sandbox API server scenarios through a real `kube::Client`.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use kube_sandbox::{ApiServer, ApiServerConfig};
use serde_json::json;

mod metadata;
mod more;
mod protocol;
mod rebinding;

/// A server with the project's CRDs installed, and a client for it.
pub(crate) async fn start() -> (ApiServer, kube::Client) {
    start_with(ApiServerConfig::default()).await
}

pub(crate) async fn start_with(config: ApiServerConfig) -> (ApiServer, kube::Client) {
    crate::support::init();
    let server = ApiServer::start(config).await.expect("server starts");
    let client = server.kube_client().expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in portico_api::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("CRD created");
    }
    (server, client)
}

pub(crate) fn aimodels(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("portico.dev", "v1alpha1", "AIModel");
    Api::namespaced_with(client.clone(), namespace, &ApiResource::from_gvk(&gvk))
}

pub(crate) fn aimodel(name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "AIModel",
        "metadata": {"name": name},
        "spec": {"provider": "openai", "model": "gpt-4o-mini"},
    }))
    .expect("valid object")
}

pub(crate) fn api_error(error: kube::Error) -> Box<kube::core::Status> {
    match error {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Polls `check` until it returns `Some`, or fails after a deadline.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn crud_on_core_kinds_and_standard_namespaces() {
    let (server, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|ns| ns.metadata.name)
        .collect();
    for expected in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} in {names:?}"
        );
    }

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "conn"},
        "stringData": {"apiKey": "s3cret"},
        "data": {"other": "eA=="},
    }))
    .expect("secret");
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    let data = created.data.expect("data");
    assert_eq!(data["apiKey"].0, b"s3cret");
    assert_eq!(data["other"].0, b"x");
    assert!(created.string_data.is_none());
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());

    let duplicate = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect_err("exists");
    let status = api_error(duplicate);
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(status.message, "secrets \"conn\" already exists");

    let missing = secrets.get("nope").await.expect_err("missing");
    let status = api_error(missing);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "secrets \"nope\" not found");

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let generated: ConfigMap = serde_json::from_value(json!({
        "metadata": {"generateName": "settings-"}, "data": {"a": "1"}
    }))
    .expect("configmap");
    let generated = configmaps
        .create(&PostParams::default(), &generated)
        .await
        .expect("create");
    let name = generated.metadata.name.clone().expect("name");
    assert!(
        name.starts_with("settings-") && name.len() == "settings-".len() + 5,
        "{name}"
    );

    let dry: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).expect("cm");
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    configmaps
        .create(&params, &dry)
        .await
        .expect("dry-run create");
    assert!(
        configmaps.get_opt("dry").await.expect("get").is_none(),
        "dry run stores nothing"
    );

    let in_missing_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "absent");
    let status = api_error(
        in_missing_ns
            .create(&PostParams::default(), &dry)
            .await
            .expect_err("ns"),
    );
    assert_eq!(status.message, "namespaces \"absent\" not found");

    let bad: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).expect("cm");
    let status = api_error(
        configmaps
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("bad"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{}",
        status.message
    );

    let deleted = secrets
        .delete("conn", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(deleted.is_right(), "a Status body once gone");
    assert!(secrets.get_opt("conn").await.expect("get").is_none());
    assert!(server.stats().count("create", "secrets") >= 2);
}

#[tokio::test]
async fn custom_resources_served_once_crd_is_established() {
    let (server, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("aimodels.portico.dev").await.expect("crd");
    let status = crd.status.expect("status");
    let conditions = status.conditions.expect("conditions");
    for kind in ["Established", "NamesAccepted"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == kind && c.status == "True"),
            "{kind} in {conditions:?}"
        );
    }
    let accepted = status.accepted_names.expect("acceptedNames");
    assert_eq!(accepted.plural, "aimodels");
    assert_eq!(accepted.list_kind.as_deref(), Some("AIModelList"));
    assert!(
        server
            .types()
            .iter()
            .any(|t| t.plural == "aimodels" && t.status_subresource)
    );

    let models = aimodels(&client, "default");
    let created = models
        .create(&PostParams::default(), &aimodel("summarizer"))
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let rv: u64 = created
        .metadata
        .resource_version
        .clone()
        .expect("rv")
        .parse()
        .expect("numeric");

    let mut update = created.clone();
    update.data["spec"]["model"] = json!("gpt-4o");
    let updated = models
        .replace("summarizer", &PostParams::default(), &update)
        .await
        .expect("update");
    let rv2: u64 = updated
        .metadata
        .resource_version
        .clone()
        .expect("rv")
        .parse()
        .expect("numeric");
    assert!(rv2 > rv, "resourceVersion increases");
    assert_eq!(updated.metadata.generation, Some(2));

    // Stale resourceVersion → 409 Conflict with kube's wording.
    let stale = models
        .replace("summarizer", &PostParams::default(), &update)
        .await
        .expect_err("stale");
    let status = api_error(stale);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on aimodels.portico.dev \"summarizer\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // An identical update is not a write.
    let writes = server.stats().committed_writes;
    let same = models
        .replace("summarizer", &PostParams::default(), &updated)
        .await
        .expect("no-op");
    assert_eq!(
        same.metadata.resource_version,
        updated.metadata.resource_version
    );
    assert_eq!(server.stats().committed_writes, writes);

    let status = api_error(models.get("nope").await.expect_err("missing"));
    assert_eq!(status.message, "aimodels.portico.dev \"nope\" not found");

    // Deleting the CRD deletes its objects and stops serving them.
    crds.delete("aimodels.portico.dev", &DeleteParams::default())
        .await
        .expect("delete crd");
    eventually("CRD gone", || {
        let crds = crds.clone();
        async move {
            crds.get_opt("aimodels.portico.dev")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(!server.types().iter().any(|t| t.plural == "aimodels"));
    let status = api_error(
        models
            .list(&ListParams::default())
            .await
            .expect_err("not served"),
    );
    assert_eq!(status.code, 404);
    crds.create(&PostParams::default(), &portico_api::crds()[0])
        .await
        .expect("recreate");
    assert!(
        models
            .list(&ListParams::default())
            .await
            .expect("served again")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let (_server, client) = start().await;
    let models = aimodels(&client, "default");
    let mut object = aimodel("sep");
    object.data["status"] = json!({"phase": "Ready"});
    let created = models
        .create(&PostParams::default(), &object)
        .await
        .expect("create");
    assert!(
        created.data.get("status").is_none(),
        "create ignores status"
    );

    let status_patch = json!({"status": {"phase": "Provisioning", "observedGeneration": 1}});
    let patched = models
        .patch_status("sep", &PatchParams::default(), &Patch::Merge(&status_patch))
        .await
        .expect("status patch");
    assert_eq!(patched.data["status"]["phase"], "Provisioning");
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status writes keep generation"
    );

    // Spec changes through /status are ignored.
    let sneaky = json!({"spec": {"model": "other"}, "status": {"phase": "Ready"}});
    let patched = models
        .patch_status("sep", &PatchParams::default(), &Patch::Merge(&sneaky))
        .await
        .expect("status patch");
    assert_eq!(patched.data["spec"]["model"], "gpt-4o-mini");
    assert_eq!(patched.data["status"]["phase"], "Ready");

    // Status changes through the main resource are ignored; spec bumps generation.
    let main = json!({"spec": {"model": "gpt-4o"}, "status": {"phase": "Failed"}});
    let patched = models
        .patch("sep", &PatchParams::default(), &Patch::Merge(&main))
        .await
        .expect("patch");
    assert_eq!(patched.data["status"]["phase"], "Ready");
    assert_eq!(patched.metadata.generation, Some(2));

    // Metadata-only changes do not bump generation.
    let labels = json!({"metadata": {"labels": {"team": "a"}}});
    let patched = models
        .patch("sep", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .expect("patch");
    assert_eq!(patched.metadata.generation, Some(2));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_server, client) = start().await;
    let models = aimodels(&client, "default");
    let mut object = aimodel("held");
    object.metadata.finalizers = Some(vec!["portico.dev/finalizer".to_string()]);
    models
        .create(&PostParams::default(), &object)
        .await
        .expect("create");

    let deleted = models
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let pending = deleted.left().expect("the object while finalizers remain");
    assert!(pending.metadata.deletion_timestamp.is_some());

    let add = json!({"metadata": {"finalizers": ["portico.dev/finalizer", "other"]}});
    let status = api_error(
        models
            .patch("held", &PatchParams::default(), &Patch::Merge(&add))
            .await
            .expect_err("add"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.contains("metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"other\"}"),
        "{}",
        status.message
    );

    let remove = json!({"metadata": {"finalizers": null}});
    models
        .patch("held", &PatchParams::default(), &Patch::Merge(&remove))
        .await
        .expect("remove");
    assert!(
        models.get_opt("held").await.expect("get").is_none(),
        "gone with its last finalizer"
    );
}

#[tokio::test]
async fn raw_watch_resource_versions_bookmarks_and_expiry() {
    let config = ApiServerConfig {
        bookmark_interval: Duration::from_millis(100),
        ..ApiServerConfig::default()
    };
    let (server, client) = start_with(config).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "one"}})).expect("cm");
    let first = configmaps
        .create(&PostParams::default(), &first)
        .await
        .expect("create");
    let from = first.metadata.resource_version.clone().expect("rv");

    let params = WatchParams::default().timeout(10);
    let mut stream = configmaps
        .watch(&params, &from)
        .await
        .expect("watch")
        .boxed();
    let second: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "two"}})).expect("cm");
    configmaps
        .create(&PostParams::default(), &second)
        .await
        .expect("create");
    configmaps
        .delete("one", &DeleteParams::default())
        .await
        .expect("delete");

    let mut seen = Vec::new();
    let mut bookmark = false;
    while seen.len() < 2 || !bookmark {
        match stream.try_next().await.expect("event").expect("open") {
            WatchEvent::Added(cm) => {
                seen.push(format!("ADDED {}", cm.metadata.name.unwrap_or_default()))
            }
            WatchEvent::Deleted(cm) => {
                seen.push(format!("DELETED {}", cm.metadata.name.unwrap_or_default()))
            }
            WatchEvent::Bookmark(_) => bookmark = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        ["ADDED two", "DELETED one"],
        "only changes after the start version, in order"
    );

    // resourceVersion=0 starts with the current state.
    let mut initial = configmaps
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .expect("watch")
        .boxed();
    match initial.try_next().await.expect("event").expect("open") {
        WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("two")),
        other => panic!("unexpected {other:?}"),
    }

    server.faults().compact();
    let mut expired = configmaps
        .watch(&WatchParams::default(), &from)
        .await
        .expect("watch")
        .boxed();
    match expired.try_next().await.expect("event").expect("open") {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn runtime_watcher_recovers_from_expired_versions() {
    let config = ApiServerConfig {
        bookmark_interval: Duration::from_millis(100),
        ..ApiServerConfig::default()
    };
    let (server, client) = start_with(config).await;
    let models = aimodels(&client, "default");
    let events = watcher(models.clone(), watcher::Config::default().any_semantic()).boxed();
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let pump = tokio::spawn(async move {
        let mut events = events;
        while let Some(event) = events.next().await {
            let label = match event {
                Ok(watcher::Event::Init) => "init".to_string(),
                Ok(watcher::Event::InitDone) => "init-done".to_string(),
                Ok(watcher::Event::InitApply(o)) => {
                    format!("init-apply {}", o.metadata.name.unwrap_or_default())
                }
                Ok(watcher::Event::Apply(o)) => {
                    format!("apply {}", o.metadata.name.unwrap_or_default())
                }
                Ok(watcher::Event::Delete(o)) => {
                    format!("delete {}", o.metadata.name.unwrap_or_default())
                }
                Err(error) => format!("error {error}"),
            };
            if sender.send(label).is_err() {
                break;
            }
        }
    });
    let mut expect = async |wanted: &str| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let next = tokio::time::timeout_at(deadline, received.recv()).await;
            let label = next.expect("watcher event in time").expect("stream open");
            if label == wanted {
                return;
            }
        }
    };
    expect("init-done").await;
    models
        .create(&PostParams::default(), &aimodel("a"))
        .await
        .expect("create");
    expect("apply a").await;

    server.faults().compact();
    server.faults().close_watches();
    models
        .create(&PostParams::default(), &aimodel("b"))
        .await
        .expect("create");
    // The watcher re-watches from an expired version, gets 410 and relists.
    expect("init").await;
    expect("init-apply b").await;
    expect("init-done").await;
    models
        .create(&PostParams::default(), &aimodel("c"))
        .await
        .expect("create");
    expect("apply c").await;
    pump.abort();
}

#[tokio::test]
async fn label_and_field_selectors_with_pagination() {
    let (_server, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (index, tier) in ["web", "web", "db", "cache", "web"].iter().enumerate() {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("cm-{index}"), "labels": {"tier": tier, "idx": index.to_string()}},
        }))
        .expect("cm");
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    let names = |list: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|cm| cm.metadata.name)
            .collect()
    };
    let cases = [
        ("tier=web", vec!["cm-0", "cm-1", "cm-4"]),
        ("tier==db", vec!["cm-2"]),
        ("tier!=web", vec!["cm-2", "cm-3"]),
        ("tier in (db,cache)", vec!["cm-2", "cm-3"]),
        ("tier notin (web,db)", vec!["cm-3"]),
        ("idx", vec!["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]),
        ("!idx", vec![]),
    ];
    for (selector, expected) in cases {
        let list = configmaps
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list");
        assert_eq!(names(list), expected, "{selector}");
    }
    let by_name = configmaps
        .list(&ListParams::default().fields("metadata.name=cm-3"))
        .await
        .expect("list");
    assert_eq!(names(by_name), ["cm-3"]);
    let not_name = configmaps
        .list(&ListParams::default().fields("metadata.name!=cm-3"))
        .await
        .expect("list");
    assert_eq!(names(not_name).len(), 4);
    let bad = configmaps
        .list(&ListParams::default().fields("spec.foo=x"))
        .await
        .expect_err("bad");
    assert_eq!(api_error(bad).code, 400);

    let mut pages = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = configmaps.list(&params).await.expect("page");
        let token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        pages.push(names(page));
        match token {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(
        pages,
        vec![vec!["cm-0", "cm-1"], vec!["cm-2", "cm-3"], vec!["cm-4"]]
    );

    let everywhere: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(
        everywhere
            .list(&ListParams::default())
            .await
            .expect("all")
            .items
            .len(),
        5
    );
}
