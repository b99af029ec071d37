//! The HTTP face of the API server: routing Kubernetes REST paths to the verbs, query parameter
//! and body decoding, Status/list responses in the view the `Accept` header negotiates (whole,
//! `Table` or `PartialObjectMetadata`, see `negotiation`), the loopback `Host` check, auth,
//! faults and statistics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use super::discovery;
use super::error::ApiError;
use super::faults::{Faults, Stats};
use super::loopback_host;
use super::negotiation::{self, View};
use super::object::meta_str;
use super::protobuf;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{Served, Store, StoredObject};
use super::table;
use super::verbs::{
    self, DeleteOptions, FieldValidation, PatchBody, Propagation, Subresource, WriteOptions,
};
use super::watch::{self, WatchRequest, WatchSettings, WatchView};

/// Everything a request handler needs.
pub struct AppState {
    pub(crate) store: Arc<Store>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) token: Option<secrecy::SecretString>,
    pub(crate) watch: WatchSettings,
}

const MAX_BODY: usize = 32 * 1024 * 1024;

type Params = HashMap<String, String>;

fn json_response(status: u16, body: Bytes, warnings: &[String]) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for warning in warnings {
        let text = format!(
            "299 - {}",
            serde_json::to_string(warning).unwrap_or_default()
        );
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn value_response(status: u16, value: &Value) -> Response {
    json_response(
        status,
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        &[],
    )
}

fn error_response(error: &ApiError) -> Response {
    let mut response = value_response(error.code, &error.to_status());
    if error.code == 429 || error.code == 503 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A parsed resource path.
struct Target {
    served: Served,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Subresource,
    watch_path: bool,
}

fn parse_target(store: &Store, path: &str) -> Result<Target, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, mut rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::path_not_found()),
    };
    let mut watch_path = false;
    if let ["watch", tail @ ..] = rest {
        watch_path = true;
        rest = tail;
    }
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !matches!(*plural, "status" | "finalize") && tail.len() <= 2 =>
        {
            (
                Some(*ns),
                *plural,
                tail.first().copied(),
                tail.get(1).copied(),
            )
        }
        [plural, tail @ ..] if tail.len() <= 2 => {
            (None, *plural, tail.first().copied(), tail.get(1).copied())
        }
        _ => return Err(ApiError::path_not_found()),
    };
    let served = store
        .find(group, version, plural)
        .ok_or_else(ApiError::path_not_found)?;
    if served.rt.namespaced {
        if namespace.is_none() && name.is_some() {
            return Err(ApiError::path_not_found());
        }
    } else if namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    let subresource = match sub {
        None => Subresource::Main,
        Some("status") if served.rt.status_subresource => Subresource::Status,
        Some("scale") if served.rt.scale_subresource.is_some() => Subresource::Scale,
        Some("finalize") if served.storage_key.as_ref() == super::store::NAMESPACES => {
            Subresource::Main
        }
        Some(_) => return Err(ApiError::path_not_found()),
    };
    Ok(Target {
        served,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource,
        watch_path,
    })
}

fn flag(params: &Params, key: &str) -> bool {
    params.get(key).is_some_and(|v| v == "true" || v == "1")
}

fn write_options(params: &Params, headers: &HeaderMap) -> Result<WriteOptions, ApiError> {
    let field_validation = match params.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            )));
        }
    };
    let field_manager = params.get("fieldManager").cloned().unwrap_or_else(|| {
        // kube-apiserver derives a manager from the user agent's program name.
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|agent| agent.split('/').next())
            .filter(|name| !name.is_empty())
            .unwrap_or("unknown")
            .to_string()
    });
    Ok(WriteOptions {
        dry_run: params.get("dryRun").is_some_and(|v| v == "All"),
        field_manager,
        field_validation,
        force: flag(params, "force"),
    })
}

fn parse_json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: {error}"
        ))
    })
}

/// The request body's media type: `Content-Type` without parameters, lower-cased.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a create, update or delete body by its `Content-Type`, as kube-apiserver's
/// `NegotiateInputSerializer` does (no `Content-Type` means JSON). Protobuf is what client-go's
/// generated clients always send for built-in kinds (`kubectl create namespace|secret|…`);
/// custom resources have no protobuf form, so there it is a `415`, as in kube-apiserver.
fn decode_body(headers: &HeaderMap, body: &Bytes, protobuf: bool) -> Result<Value, ApiError> {
    match media_type(headers).as_str() {
        "" | "application/json" => parse_json_body(body),
        "application/yaml" => parse_yaml_or_json(body),
        PROTOBUF if protobuf => protobuf::decode(body),
        _ if protobuf => Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
            PROTOBUF,
        ])),
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
        ])),
    }
}

/// Whether objects of this type may come as protobuf: the built-in kinds the protobuf schema
/// covers.
fn takes_protobuf(served: &Served) -> bool {
    served.rt.crd_name.is_none() && protobuf::supports(&served.rt.api_version(), &served.rt.kind)
}

/// Patch types kube-apiserver takes for built-in kinds, in the order its 415 lists them.
const BUILTIN_PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// Patch types for custom resources (and their subresources): no strategic merge, because a
/// custom resource carries no patch strategies.
const CUSTOM_PATCH_TYPES: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

fn patch_body(served: &Served, headers: &HeaderMap, body: &Bytes) -> Result<PatchBody, ApiError> {
    let builtin = served.rt.crd_name.is_none();
    let unsupported = || {
        ApiError::unsupported_media_type(if builtin {
            &BUILTIN_PATCH_TYPES
        } else {
            &CUSTOM_PATCH_TYPES
        })
    };
    Ok(match media_type(headers).as_str() {
        "application/merge-patch+json" => PatchBody::Merge(parse_json_body(body)?),
        "application/strategic-merge-patch+json" if builtin => {
            PatchBody::Strategic(parse_json_body(body)?)
        }
        "application/json-patch+json" => PatchBody::Json(
            serde_json::from_slice(body)
                .map_err(|error| ApiError::bad_request(error.to_string()))?,
        ),
        "application/apply-patch+yaml" | "application/apply-patch+json" => {
            PatchBody::Apply(parse_yaml_or_json(body)?)
        }
        _ => return Err(unsupported()),
    })
}

fn parse_yaml_or_json(body: &Bytes) -> Result<Value, ApiError> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Ok(value);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|error| ApiError::bad_request(format!("error decoding YAML: {error}")))
}

/// The `Accept` header (the first one, as Go's `Header.Get` reads it).
fn accept(headers: &HeaderMap) -> Option<std::borrow::Cow<'_, str>> {
    headers
        .get(header::ACCEPT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
}

/// The `includeObject` of a `Table`: `Metadata` unless the request says otherwise.
fn include_object(params: &Params) -> &str {
    params
        .get("includeObject")
        .map(String::as_str)
        .unwrap_or("Metadata")
}

/// A stored object in the negotiated view.
fn object_response(
    status: u16,
    served: &Served,
    object: &StoredObject,
    view: &View,
    params: &Params,
    warnings: &[String],
) -> Result<Response, ApiError> {
    match view {
        View::Full => Ok(json_response(
            status,
            verbs::present_bytes(served, object),
            warnings,
        )),
        other => value_view(status, served, &object.value, other, params, warnings),
    }
}

/// An object in the negotiated view; `object` is the stored form (presented here).
fn value_view(
    status: u16,
    served: &Served,
    object: &Value,
    view: &View,
    params: &Params,
    warnings: &[String],
) -> Result<Response, ApiError> {
    let rendered = match view {
        View::Full => verbs::present_value(served, object),
        View::Metadata { version } => negotiation::partial_object_metadata(version, object),
        View::MetadataList { .. } => {
            return Err(negotiation::object_not_convertible(served, false));
        }
        View::Table { version } => {
            let shown = verbs::present_value(served, object);
            let table = table::to_table(&served.rt, &[shown], Value::Null, include_object(params));
            negotiation::table_in_version(table, version)
        }
    };
    Ok(json_response(
        status,
        Bytes::from(serde_json::to_vec(&rendered).unwrap_or_default()),
        warnings,
    ))
}

/// A `Scale` in the negotiated view (a `Table` of a scale is not rendered: the scale itself is).
fn scale_response(served: &Served, scale: &Value, view: &View) -> Result<Response, ApiError> {
    match view {
        View::Metadata { version } => Ok(value_response(
            200,
            &negotiation::partial_object_metadata(version, scale),
        )),
        View::MetadataList { .. } => Err(negotiation::object_not_convertible(served, true)),
        View::Full | View::Table { .. } => Ok(value_response(200, scale)),
    }
}

/// A list in the negotiated view.
fn list_response(
    served: &Served,
    items: &[Arc<StoredObject>],
    metadata: Value,
    view: &View,
    params: &Params,
) -> Result<Response, ApiError> {
    match view {
        View::Full => Ok(json_response(200, list_body(served, items, metadata), &[])),
        View::MetadataList { version } => Ok(value_response(
            200,
            &negotiation::partial_object_metadata_list(
                version,
                items.iter().map(|item| &item.value),
                metadata,
            ),
        )),
        View::Metadata { .. } => Err(negotiation::list_not_convertible(served)),
        View::Table { version } => {
            let shown: Vec<Value> = items
                .iter()
                .map(|o| verbs::present_value(served, &o.value))
                .collect();
            let table = table::to_table(&served.rt, &shown, metadata, include_object(params));
            Ok(value_response(
                200,
                &negotiation::table_in_version(table, version),
            ))
        }
    }
}

/// Entry point of every request.
pub async fn dispatch(
    State(app): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Before anything else, health checks included: a page reaching the server through DNS
    // rebinding gets nothing.
    if let Err(refusal) = loopback_host::check(&headers, &uri) {
        let mut response = error_response(&refusal);
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        return response;
    }
    let path = uri.path().to_string();
    if matches!(path.as_str(), "/healthz" | "/readyz" | "/livez")
        || path.starts_with("/healthz/")
        || path.starts_with("/readyz/")
        || path.starts_with("/livez/")
    {
        return (StatusCode::OK, "ok").into_response();
    }
    if let Some(token) = &app.token {
        use secrecy::ExposeSecret;
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(token.expose_secret()) {
            return error_response(&ApiError::unauthorized());
        }
    }
    let params: Params = Query::<Params>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => return error_response(&ApiError::bad_request(error.to_string())),
    };
    if path == "/debug/faults" && method == Method::POST {
        return debug_faults(&app, &body);
    }
    if method == Method::GET && discovery::is_discovery_path(&path) {
        let types: Vec<_> = app.store.served().iter().map(|s| s.rt.clone()).collect();
        return match discovery::handle(
            &types,
            &path,
            headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
        ) {
            Some(answer) => {
                let mut response = Response::new(Body::from(answer.body));
                if let Ok(value) = HeaderValue::from_str(&answer.content_type) {
                    response.headers_mut().insert(header::CONTENT_TYPE, value);
                }
                response
            }
            None => error_response(&ApiError::path_not_found()),
        };
    }
    match handle_resource(&app, &method, &path, &params, &headers, body).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

fn debug_faults(app: &AppState, body: &Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error_response(&ApiError::bad_request("expected a JSON fault request"));
    };
    match request.get("action").and_then(Value::as_str) {
        Some("fail") => {
            let path = request.get("path").and_then(Value::as_str).unwrap_or("");
            let verb = request.get("verb").and_then(Value::as_str);
            let code = request.get("code").and_then(Value::as_u64).unwrap_or(500) as u16;
            let count = request.get("count").and_then(Value::as_u64).unwrap_or(1) as u32;
            app.faults.fail_next(count, path, verb, code);
        }
        Some("closeWatches") => app.faults.close_watches(),
        Some("compact") => app.faults.compact(),
        Some("clear") => app.faults.clear(),
        _ => {
            return error_response(&ApiError::bad_request(
                "action must be one of fail, closeWatches, compact, clear",
            ));
        }
    }
    value_response(
        200,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    )
}

fn verb_of(method: &Method, target: &Target, params: &Params) -> Result<&'static str, ApiError> {
    let named = target.name.is_some();
    Ok(match (method.as_str(), named) {
        ("GET", true) if target.watch_path || flag(params, "watch") => "watch",
        ("GET", true) => "get",
        ("GET", false) if target.watch_path || flag(params, "watch") => "watch",
        ("GET", false) => "list",
        ("POST", false) if target.namespace.is_some() || !target.served.rt.namespaced => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) if target.namespace.is_some() || !target.served.rt.namespaced => {
            "deletecollection"
        }
        _ => return Err(ApiError::method_not_allowed()),
    })
}

async fn handle_resource(
    app: &AppState,
    method: &Method,
    path: &str,
    params: &Params,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let target = parse_target(&app.store, path)?;
    let verb = verb_of(method, &target, params)?;
    let mut resource = target.served.rt.qualified_resource();
    match target.subresource {
        Subresource::Status => resource.push_str("/status"),
        Subresource::Scale => resource.push_str("/scale"),
        Subresource::Main => {}
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split('/').next())
        .unwrap_or_default();
    // RBAC reads a list's or watch's name from a `metadata.name=` field selector.
    let name = match verb {
        "list" | "watch" | "deletecollection" => params.get("fieldSelector").and_then(|selector| {
            FieldSelector::parse(selector, &target.served.rt.group, &target.served.rt.plural)
                .ok()
                .and_then(|fields| fields.pinned_name().map(str::to_string))
        }),
        _ => target.name.clone(),
    };
    app.stats.count(
        verb,
        &resource,
        target.namespace.as_deref(),
        name.as_deref(),
        agent,
    );
    if let Some(code) = app.faults.take(path, verb) {
        return Err(ApiError::injected(code));
    }
    if !target.served.rt.verbs.iter().any(|v| v == verb) {
        return Err(ApiError::method_not_allowed());
    }
    let served = &target.served;
    let namespace = target.namespace.clone().unwrap_or_default();
    let name = target.name.clone().unwrap_or_default();
    // Every verb negotiates its response before it runs, as kube-apiserver's handlers do.
    let accept = accept(headers);
    let negotiated = if verb == "watch" {
        negotiation::negotiate_watch(accept.as_deref(), served.is_custom())?
    } else {
        negotiation::negotiate(accept.as_deref(), served.is_custom())?
    };
    let view = &negotiated.view;
    match verb {
        "get" => {
            let object = app
                .store
                .get(&served.storage_key, &namespace, &name)
                .ok_or_else(|| ApiError::not_found(&served.rt, &name))?;
            if target.subresource == Subresource::Scale {
                return scale_response(served, &verbs::scale_view(served, &object), view);
            }
            object_response(200, served, &object, view, params, &[])
        }
        "list" => list(app, served, target.namespace.as_deref(), params, view),
        "watch" => {
            let mut fields = FieldSelector::parse(
                params
                    .get("fieldSelector")
                    .map(String::as_str)
                    .unwrap_or(""),
                &served.rt.group,
                &served.rt.plural,
            )?;
            if let Some(name) = &target.name {
                fields = FieldSelector::parse(
                    &format!("metadata.name={name}"),
                    &served.rt.group,
                    &served.rt.plural,
                )?;
            }
            let timeout = params
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1800));
            let view = match view {
                View::Full => WatchView::Full,
                View::Table { version } => WatchView::Table {
                    version,
                    include_object: include_object(params).to_string(),
                },
                View::Metadata { version } => WatchView::Metadata { version },
                View::MetadataList { .. } => {
                    // kube-apiserver cannot convert an event's object to a list: it logs the
                    // failure and sends the object unconverted.
                    tracing::debug!(
                        "a watch asked for PartialObjectMetadataList; events are sent unconverted"
                    );
                    WatchView::Full
                }
            };
            let request = WatchRequest {
                namespace: target.namespace.clone(),
                resource_version: params.get("resourceVersion").cloned(),
                send_initial_events: flag(params, "sendInitialEvents"),
                bookmarks: flag(params, "allowWatchBookmarks"),
                timeout,
                labels: LabelSelector::parse(
                    params
                        .get("labelSelector")
                        .map(String::as_str)
                        .unwrap_or(""),
                )?,
                fields,
                view,
            };
            let receiver = watch::start(
                app.store.clone(),
                served.clone(),
                request,
                &app.watch,
                app.faults.watch_closer(),
            );
            let stream = futures::stream::unfold(receiver, |mut receiver| async move {
                receiver
                    .recv()
                    .await
                    .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), receiver))
            });
            let mut response = Response::new(Body::from_stream(stream));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        "create" => {
            let options = write_options(params, headers)?;
            let written = verbs::create(
                &app.store,
                served,
                &namespace,
                decode_body(headers, &body, takes_protobuf(served))?,
                &options,
            )?;
            object_response(
                201,
                served,
                &written.committed.object,
                view,
                params,
                &written.warnings,
            )
        }
        "update" => {
            let options = write_options(params, headers)?;
            let written = verbs::update(
                &app.store,
                served,
                &namespace,
                &name,
                decode_body(headers, &body, takes_protobuf(served))?,
                target.subresource,
                &options,
            )?;
            if target.subresource == Subresource::Scale {
                return scale_response(
                    served,
                    &verbs::scale_view(served, &written.committed.object),
                    view,
                );
            }
            object_response(
                200,
                served,
                &written.committed.object,
                view,
                params,
                &written.warnings,
            )
        }
        "patch" => {
            let options = write_options(params, headers)?;
            let patch_body = patch_body(served, headers, &body)?;
            let written = verbs::patch(
                &app.store,
                served,
                &namespace,
                &name,
                &patch_body,
                target.subresource,
                &options,
            )?;
            if target.subresource == Subresource::Scale {
                return scale_response(
                    served,
                    &verbs::scale_view(served, &written.committed.object),
                    view,
                );
            }
            let status = if written.committed.created { 201 } else { 200 };
            object_response(
                status,
                served,
                &written.committed.object,
                view,
                params,
                &written.warnings,
            )
        }
        "delete" => {
            let options = delete_options(params, headers, &body)?;
            let deleted = verbs::delete(&app.store, served, &namespace, &name, &options)?;
            let object = &deleted.committed.object;
            if deleted.committed.removed {
                // A `Status` is never converted.
                Ok(value_response(200, &success_status(served, object)))
            } else {
                // kube-apiserver answers 200 with the object while finalizers hold it (202 only
                // when a client explicitly asked for orphanDependents=false).
                object_response(200, served, object, view, params, &[])
            }
        }
        "deletecollection" => {
            let options = delete_options(params, headers, &body)?;
            let (objects, _) = select(app, served, target.namespace.as_deref(), params)?;
            let mut items = Vec::new();
            for object in objects {
                let namespace = meta_str(&object.value, "namespace").to_string();
                let name = meta_str(&object.value, "name").to_string();
                match verbs::delete(&app.store, served, &namespace, &name, &options) {
                    Ok(deleted) => items.push(deleted.committed.object),
                    Err(error) if error.code == 404 => {}
                    Err(error) => return Err(error),
                }
            }
            let list_rv = app.store.resource_version();
            list_response(
                served,
                &items,
                json!({"resourceVersion": list_rv.to_string()}),
                view,
                params,
            )
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn success_status(served: &Served, object: &StoredObject) -> Value {
    let mut details = json!({
        "name": meta_str(&object.value, "name"),
        "kind": served.rt.plural,
        "uid": meta_str(&object.value, "uid"),
    });
    if !served.rt.group.is_empty() {
        details["group"] = json!(served.rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

fn delete_options(
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<DeleteOptions, ApiError> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        // DeleteOptions has a protobuf form whatever the resource.
        decode_body(headers, body, true)?
    };
    let policy = params
        .get("propagationPolicy")
        .cloned()
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            body.get("orphanDependents")
                .and_then(Value::as_bool)
                .filter(|orphan| *orphan)
                .map(|_| "Orphan".to_string())
        });
    let propagation = match policy.as_deref() {
        None | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid propagationPolicy {other:?}"
            )));
        }
    };
    let dry_run = params.get("dryRun").is_some_and(|v| v == "All")
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|d| d == "All"));
    Ok(DeleteOptions {
        dry_run,
        propagation,
        uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        resource_version: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Objects matching the request's selectors, and the version they were read at.
fn select(
    app: &AppState,
    served: &Served,
    namespace: Option<&str>,
    params: &Params,
) -> Result<(Vec<Arc<StoredObject>>, u64), ApiError> {
    let labels = LabelSelector::parse(
        params
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or(""),
    )?;
    let fields = FieldSelector::parse(
        params
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or(""),
        &served.rt.group,
        &served.rt.plural,
    )?;
    let (objects, rv) = app.store.list(&served.storage_key, namespace, None);
    if labels.is_empty() && fields.is_empty() {
        return Ok((objects, rv));
    }
    Ok((
        objects
            .into_iter()
            .filter(|o| labels.matches(&o.value) && fields.matches(&o.value))
            .collect(),
        rv,
    ))
}

fn list_body(served: &Served, items: &[Arc<StoredObject>], metadata: Value) -> Bytes {
    let mut buffer =
        BytesMut::with_capacity(256 + items.iter().map(|o| o.json().len() + 1).sum::<usize>());
    let head = json!({"kind": served.rt.list_kind, "apiVersion": served.rt.api_version(), "metadata": metadata});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    // Reopen the head object to append `items`.
    buffer.put_slice(&head[..head.len().saturating_sub(1)]);
    buffer.put_slice(b",\"items\":[");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            buffer.put_u8(b',');
        }
        buffer.put_slice(&verbs::present_bytes(served, item));
    }
    buffer.put_slice(b"]}");
    buffer.freeze()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: (String, String),
}

fn list(
    app: &AppState,
    served: &Served,
    namespace: Option<&str>,
    params: &Params,
    view: &View,
) -> Result<Response, ApiError> {
    let labels = LabelSelector::parse(
        params
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or(""),
    )?;
    let fields = FieldSelector::parse(
        params
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or(""),
        &served.rt.group,
        &served.rt.plural,
    )?;
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let token = match params.get("continue").filter(|c| !c.is_empty()) {
        None => None,
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|raw| serde_json::from_slice::<ContinueToken>(&raw).ok())
                .ok_or_else(|| ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
            if app.store.check_not_expired(decoded.rv).is_err() {
                return Err(ApiError::new(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            Some(decoded)
        }
    };
    let select = |value: &Value| labels.matches(value) && fields.matches(value);
    let (items, more, read_at) = match fields.pinned_name() {
        Some(name) if namespace.is_some() || !served.rt.namespaced => {
            let found = app
                .store
                .get(&served.storage_key, namespace.unwrap_or(""), name)
                .filter(|object| select(&object.value));
            (
                found.into_iter().collect(),
                false,
                app.store.resource_version(),
            )
        }
        _ => app.store.page(
            &served.storage_key,
            namespace,
            token.as_ref().map(|t| &t.start),
            limit.unwrap_or(usize::MAX),
            select,
        ),
    };
    let list_rv = token.as_ref().map(|t| t.rv).unwrap_or(read_at);
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if more && let Some(last) = items.last() {
        let start = (
            meta_str(&last.value, "namespace").to_string(),
            meta_str(&last.value, "name").to_string(),
        );
        let raw = serde_json::to_vec(&ContinueToken { rv: list_rv, start }).unwrap_or_default();
        metadata["continue"] = json!(base64::engine::general_purpose::STANDARD.encode(raw));
    }
    list_response(served, &items, metadata, view, params)
}
