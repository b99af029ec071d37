//! Sandbox API server scenarios about metadata-only requests (`as=PartialObjectMetadata[List]`)
//! and the `Accept` negotiation they share with tables: through kube-rs's metadata API and its
//! runtime watcher, and on the wire, where a Secret's `data` must never show.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ListParams, PartialObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use kube_sandbox::ApiServer;
use serde_json::{Value, json};

use super::{aimodel, aimodels, api_error, start};

const METADATA: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const METADATA_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
const NOT_ACCEPTABLE: &str = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
/// `hunter2`, as the stored Secret's `data` carries it.
const PASSWORD_B64: &str = "aHVudGVyMg==";

fn secret(name: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "vault"}},
        "stringData": {"password": "hunter2"},
    }))
    .expect("secret")
}

async fn create_secrets(client: &kube::Client, names: &[&str]) -> Api<Secret> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    for name in names {
        secrets
            .create(&PostParams::default(), &secret(name))
            .await
            .expect("secret created");
    }
    secrets
}

/// A response as it came over the wire.
struct Raw {
    status: u16,
    content_type: String,
    text: String,
    body: Value,
}

async fn send(
    server: &ApiServer,
    method: reqwest::Method,
    path: &str,
    accept: Option<&str>,
    body: Option<(&str, Value)>,
) -> Raw {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.url()));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some((content_type, body)) = body {
        request = request
            .header("content-type", content_type)
            .body(serde_json::to_vec(&body).expect("json"));
    }
    let response = request.send().await.expect("response");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).expect("a JSON body");
    Raw {
        status,
        content_type,
        text,
        body,
    }
}

async fn get(server: &ApiServer, path: &str, accept: Option<&str>) -> Raw {
    send(server, reqwest::Method::GET, path, accept, None).await
}

/// Fails unless `object` is a `PartialObjectMetadata` of `name` and nothing else.
fn assert_partial(object: &Value, name: &str) {
    assert_eq!(object["kind"], "PartialObjectMetadata", "{object}");
    assert_eq!(object["apiVersion"], "meta.k8s.io/v1", "{object}");
    assert_eq!(object["metadata"]["name"], name, "{object}");
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["apiVersion", "kind", "metadata"], "{object}");
}

/// Fails if the Secret's data (its key or its value) shows anywhere in `text`.
fn assert_no_data(text: &str) {
    assert!(!text.contains("\"data\""), "data leaked: {text}");
    assert!(!text.contains(PASSWORD_B64), "the password leaked: {text}");
}

fn assert_not_acceptable(raw: &Raw, message: &str) {
    assert_eq!(raw.status, 406, "{}", raw.text);
    assert_eq!(raw.body["kind"], "Status");
    assert_eq!(raw.body["reason"], "NotAcceptable");
    assert_eq!(raw.body["code"], 406);
    assert_eq!(raw.body["message"], message);
}

/// A raw watch, read line by line.
struct RawWatch {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl RawWatch {
    async fn open(server: &ApiServer, query: &str, accept: &str) -> Self {
        let response = reqwest::Client::new()
            .get(format!(
                "{}{SECRETS}?watch=true&timeoutSeconds=20&{query}",
                server.url()
            ))
            .header("accept", accept)
            .send()
            .await
            .expect("watch response");
        assert_eq!(response.status().as_u16(), 200);
        Self {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next event, and its raw text.
    async fn next(&mut self) -> (Value, String) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.buffer.drain(..=end).collect();
                    let text = String::from_utf8(line).expect("UTF-8");
                    let event = serde_json::from_str(&text).expect("a JSON event");
                    return (event, text);
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .expect("chunk")
                    .expect("the watch stays open");
                self.buffer.extend_from_slice(&chunk);
            }
        })
        .await
        .expect("an event in time")
    }
}

#[tokio::test]
async fn get_metadata_returns_partial_object_metadata_without_data() {
    let (server, client) = start().await;
    let secrets = create_secrets(&client, &["creds"]).await;

    let meta = secrets.get_metadata("creds").await.expect("get_metadata");
    assert_eq!(meta.metadata.name.as_deref(), Some("creds"));
    assert_eq!(
        meta.metadata
            .labels
            .unwrap_or_default()
            .get("app")
            .map(String::as_str),
        Some("vault")
    );
    let types = meta.types.expect("type fields");
    assert_eq!(
        (types.kind.as_str(), types.api_version.as_str()),
        ("PartialObjectMetadata", "meta.k8s.io/v1")
    );
    // `Api<PartialObjectMeta<K>>` asks for metadata only by itself.
    let partial: Api<PartialObjectMeta<Secret>> = Api::namespaced(client.clone(), "default");
    let meta = partial.get("creds").await.expect("get");
    assert_eq!(meta.metadata.name.as_deref(), Some("creds"));

    let path = format!("{SECRETS}/creds");
    for accept in [
        METADATA.to_string(),
        format!("{METADATA},application/json"),
        // client-go's metadata client leads with protobuf; the sandbox answers that in JSON.
        format!(
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,{METADATA},application/json"
        ),
        format!("text/html;q=0.9,{METADATA}"),
    ] {
        let raw = get(&server, &path, Some(&accept)).await;
        assert_eq!(raw.status, 200, "{accept}: {}", raw.text);
        assert_eq!(raw.content_type, "application/json");
        assert_partial(&raw.body, "creds");
        assert_no_data(&raw.text);
    }

    // A plain JSON request (or none at all) still gets the whole Secret.
    for accept in [Some("application/json"), None, Some("*/*")] {
        let raw = get(&server, &path, accept).await;
        assert_eq!(raw.status, 200);
        assert_eq!(raw.body["kind"], "Secret");
        assert_eq!(raw.body["data"]["password"], PASSWORD_B64);
    }

    // A list view of one object, after it was found, is 406 as in kube-apiserver.
    assert_not_acceptable(
        &get(&server, &path, Some(METADATA_LIST)).await,
        "you requested PartialObjectMetadataList, but the requested object is not a list (*core.Secret)",
    );
    // A missing object is 404 whatever the view.
    let missing = api_error(secrets.get_metadata("nope").await.expect_err("404"));
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    // An `as=` the server does not serve, with nothing to fall back to, is 406.
    for accept in [
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2",
        "application/json;as=PartialObjectMetadata;g=example.com;v=v1",
        "application/json;as=Secret;g=;v=v1",
    ] {
        assert_not_acceptable(&get(&server, &path, Some(accept)).await, NOT_ACCEPTABLE);
    }
    // With a fallback, the fallback is served.
    let raw = get(
        &server,
        &path,
        Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2,application/json"),
    )
    .await;
    assert_eq!(raw.body["kind"], "Secret");
}

#[tokio::test]
async fn list_metadata_returns_a_partial_object_metadata_list_without_data() {
    let (server, client) = start().await;
    let secrets = create_secrets(&client, &["a", "b", "c"]).await;

    let list = secrets
        .list_metadata(&ListParams::default().labels("app=vault"))
        .await
        .expect("list_metadata");
    assert_eq!(list.types.kind, "PartialObjectMetadataList");
    assert_eq!(list.types.api_version, "meta.k8s.io/v1");
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|item| item.metadata.name.clone())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(list.metadata.resource_version.is_some());

    // kube-rs's header with a plain JSON fallback, as on the wire.
    let raw = get(
        &server,
        &format!("{SECRETS}?labelSelector=app%3Dvault"),
        Some(&format!("{METADATA_LIST},application/json")),
    )
    .await;
    assert_eq!(raw.status, 200, "{}", raw.text);
    assert_eq!(raw.body["kind"], "PartialObjectMetadataList");
    assert_eq!(raw.body["apiVersion"], "meta.k8s.io/v1");
    assert!(raw.body["metadata"]["resourceVersion"].is_string());
    let items = raw.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    for (item, name) in items.iter().zip(["a", "b", "c"]) {
        assert_partial(item, name);
    }
    assert_no_data(&raw.text);

    // Pages carry the continue token; the rest comes with it.
    let first = get(&server, &format!("{SECRETS}?limit=2"), Some(METADATA_LIST)).await;
    assert_eq!(first.body["items"].as_array().map(Vec::len), Some(2));
    let token = first.body["metadata"]["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    let rest = get(
        &server,
        &format!("{SECRETS}?limit=2&continue={token}"),
        Some(METADATA_LIST),
    )
    .await;
    assert_eq!(rest.body["items"][0]["metadata"]["name"], "c");
    assert_no_data(&format!("{}{}", first.text, rest.text));

    // An empty list has `items: null`, as kube-apiserver's Go encoding gives it; kube-rs copes.
    let empty = get(
        &server,
        &format!("{SECRETS}?labelSelector=app%3Dnone"),
        Some(METADATA_LIST),
    )
    .await;
    assert_eq!(empty.body["items"], Value::Null);
    let none = secrets
        .list_metadata(&ListParams::default().labels("app=none"))
        .await
        .expect("empty list_metadata");
    assert!(none.items.is_empty());

    // An object view of a list is 406.
    assert_not_acceptable(
        &get(&server, SECRETS, Some(METADATA)).await,
        "you requested PartialObjectMetadata, but the requested object is a list (*core.SecretList)",
    );
    // A plain list still has everything.
    let full = get(&server, SECRETS, Some("application/json")).await;
    assert_eq!(full.body["kind"], "SecretList");
    assert_eq!(full.body["items"][0]["data"]["password"], PASSWORD_B64);
}

#[tokio::test]
async fn metadata_watches_send_partial_object_metadata_and_bookmarks() {
    let (server, client) = start().await;
    let secrets = create_secrets(&client, &["before"]).await;

    // kube-rs's watch_metadata.
    let from = secrets
        .list_metadata(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let mut events = secrets
        .watch_metadata(&WatchParams::default().timeout(20), &from)
        .await
        .expect("watch_metadata")
        .boxed();

    // A raw metadata watch with the initial events and their closing bookmark.
    let mut wire = RawWatch::open(
        &server,
        "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
        METADATA,
    )
    .await;
    let (added, text) = wire.next().await;
    assert_eq!(added["type"], "ADDED");
    assert_partial(&added["object"], "before");
    assert_no_data(&text);
    let (bookmark, _) = wire.next().await;
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(bookmark["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    // A plain watch next to it still sees whole objects.
    let mut plain = RawWatch::open(&server, "", "application/json").await;
    let (plain_added, _) = plain.next().await;
    assert_eq!(plain_added["object"]["kind"], "Secret");
    assert_eq!(plain_added["object"]["data"]["password"], PASSWORD_B64);

    secrets
        .create(&PostParams::default(), &secret("after"))
        .await
        .expect("create");
    let (added, text) = wire.next().await;
    assert_eq!(added["type"], "ADDED");
    assert_partial(&added["object"], "after");
    assert_no_data(&text);
    secrets
        .patch(
            "after",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"rotated": "yes"}}})),
        )
        .await
        .expect("patch");
    let (modified, text) = wire.next().await;
    assert_eq!(modified["type"], "MODIFIED");
    assert_partial(&modified["object"], "after");
    assert_eq!(modified["object"]["metadata"]["labels"]["rotated"], "yes");
    assert_no_data(&text);

    loop {
        match events.try_next().await.expect("event").expect("open") {
            WatchEvent::Added(meta) => {
                assert_eq!(meta.metadata.name.as_deref(), Some("after"));
                assert_eq!(
                    meta.types.map(|t| t.kind).as_deref(),
                    Some("PartialObjectMetadata")
                );
                break;
            }
            WatchEvent::Bookmark(_) => {}
            other => panic!("expected ADDED, got {other:?}"),
        }
    }

    // The runtime watcher over `Api<PartialObjectMeta<K>>` lists and watches metadata only.
    let partial: Api<PartialObjectMeta<Secret>> = Api::namespaced(client.clone(), "default");
    let mut applied = watcher(partial, watcher::Config::default())
        .applied_objects()
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let meta = tokio::time::timeout(Duration::from_secs(10), applied.try_next())
            .await
            .expect("in time")
            .expect("watcher")
            .expect("open");
        seen.push(meta.metadata.name.unwrap_or_default());
    }
    seen.sort();
    assert_eq!(seen, ["after", "before"]);

    // kube-apiserver cannot turn a watch event into a list: it logs that and sends the object
    // unconverted. So does the sandbox (fidelity, not a recommendation).
    let mut as_list = RawWatch::open(&server, "", METADATA_LIST).await;
    let (event, _) = as_list.next().await;
    assert_eq!(event["object"]["kind"], "Secret");
}

#[tokio::test]
async fn tables_and_metadata_share_one_negotiation() {
    let (server, client) = start().await;
    create_secrets(&client, &["creds"]).await;

    // kubectl get: a Table whose rows carry metadata only.
    let table = get(&server, SECRETS, Some(KUBECTL_GET)).await;
    assert_eq!(table.body["kind"], "Table");
    assert_eq!(table.body["apiVersion"], "meta.k8s.io/v1");
    assert_partial(&table.body["rows"][0]["object"], "creds");
    assert_no_data(&table.text);
    let table = get(
        &server,
        SECRETS,
        Some("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
    )
    .await;
    assert_eq!(table.body["apiVersion"], "meta.k8s.io/v1beta1");

    // The first acceptable clause wins: plain JSON first means no table.
    let list = get(
        &server,
        SECRETS,
        Some("application/json,application/json;as=Table;v=v1;g=meta.k8s.io"),
    )
    .await;
    assert_eq!(list.body["kind"], "SecretList");
    // A table cannot be protobuf, so that clause gives way to the next.
    let list = get(
        &server,
        SECRETS,
        Some("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"),
    )
    .await;
    assert_eq!(list.body["kind"], "SecretList");
    // A higher q goes first.
    let metadata = get(
        &server,
        SECRETS,
        Some(&format!(
            "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,{METADATA_LIST}"
        )),
    )
    .await;
    assert_eq!(metadata.body["kind"], "PartialObjectMetadataList");

    // Nothing acceptable: 406.
    for accept in ["application/json;as=Table", "text/html"] {
        assert_not_acceptable(&get(&server, SECRETS, Some(accept)).await, NOT_ACCEPTABLE);
    }
    // A watch cannot be YAML.
    assert_not_acceptable(
        &get(
            &server,
            &format!("{SECRETS}?watch=true"),
            Some("application/yaml"),
        )
        .await,
        "only the following media types are accepted: application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch",
    );
}

#[tokio::test]
async fn custom_resources_and_writes_honour_metadata_requests() {
    let (server, client) = start().await;
    let models = aimodels(&client, "default");
    models
        .create(&PostParams::default(), &aimodel("gpt"))
        .await
        .expect("create");

    let meta = models.get_metadata("gpt").await.expect("get_metadata");
    assert_eq!(meta.metadata.name.as_deref(), Some("gpt"));
    let list = models
        .list_metadata(&ListParams::default())
        .await
        .expect("list_metadata");
    assert_eq!(list.items.len(), 1);
    let path = "/apis/portico.dev/v1alpha1/namespaces/default/aimodels";
    let raw = get(&server, &format!("{path}/gpt"), Some(METADATA)).await;
    assert_partial(&raw.body, "gpt");
    assert!(!raw.text.contains("\"spec\""));
    // Custom resources have no protobuf form of their own, only of the metadata views.
    assert_not_acceptable(
        &get(&server, path, Some("application/vnd.kubernetes.protobuf")).await,
        NOT_ACCEPTABLE,
    );
    let raw = get(
        &server,
        path,
        Some("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
    )
    .await;
    assert_eq!(raw.body["kind"], "PartialObjectMetadataList");
    assert_eq!(
        raw.body["items"][0]["metadata"]["name"], "gpt",
        "{}",
        raw.text
    );

    // Writes answer in the negotiated view too (kube-rs's patch_metadata).
    let secrets = create_secrets(&client, &["creds"]).await;
    let patched = secrets
        .patch_metadata(
            "creds",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "gold"}}})),
        )
        .await
        .expect("patch_metadata");
    assert_eq!(
        patched
            .metadata
            .labels
            .unwrap_or_default()
            .get("tier")
            .map(String::as_str),
        Some("gold")
    );
    let created = send(
        &server,
        reqwest::Method::POST,
        SECRETS,
        Some(METADATA),
        Some((
            "application/json",
            json!({"metadata": {"name": "posted"}, "stringData": {"password": "hunter2"}}),
        )),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_partial(&created.body, "posted");
    assert_no_data(&created.text);
    let stored = secrets.get("posted").await.expect("stored in full");
    assert!(
        stored
            .data
            .is_some_and(|data| data.contains_key("password"))
    );
    // A delete that removes the object answers a `Status`, which is never converted.
    let deleted = send(
        &server,
        reqwest::Method::DELETE,
        &format!("{SECRETS}/posted"),
        Some(METADATA),
        None,
    )
    .await;
    assert_eq!(deleted.body["kind"], "Status");
    assert_eq!(deleted.body["status"], "Success");
}
