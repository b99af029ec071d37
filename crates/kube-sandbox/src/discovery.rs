//! Discovery and OpenAPI GETs (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//! `/apis/{group}/{version}`, `/openapi/v2`, `/openapi/v3/...`) answered from the served
//! resource types, in the content type the client's `Accept` header asks for.
//!
//! `/api` and `/apis` are served both as the legacy documents (`APIVersions`, `APIGroupList`) and
//! as aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`), which client-go
//! asks for first; the latter saves kubectl one request per group version.

use serde_json::{Value, json};

use super::openapi;
use super::registry::ResourceType;
pub use super::served_api::DiscoveryResponse;
use super::served_api::{GIT_VERSION, JSON, MAJOR, MINOR, groups};

/// The negotiated content type of aggregated discovery; the response must carry it verbatim for
/// client-go to parse the body as aggregated.
pub const AGGREGATED_DISCOVERY_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether `path` is one this module answers (the HTTP layer routes it here before resource
/// paths; e.g. `/apis/portico.dev/v1alpha1` is discovery, `/apis/portico.dev/v1alpha1/aimodels`
/// is not).
pub fn is_discovery_path(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["version"]
            | ["api"]
            | ["api", _]
            | ["apis"]
            | ["apis", _]
            | ["apis", _, _]
            | ["openapi", ..]
    )
}

/// Answers a GET of a discovery or OpenAPI path. `None` means nothing is served there, and the
/// caller answers with a `NotFound` Status.
pub fn handle(
    types: &[ResourceType],
    path: &str,
    accept: Option<&str>,
) -> Option<DiscoveryResponse> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => Some(DiscoveryResponse::json(&version())),
        ["api"] => Some(if accepts_aggregated(accept) {
            DiscoveryResponse::json_as(&aggregated_list(types, true), AGGREGATED_DISCOVERY_V2)
        } else {
            DiscoveryResponse::json(&api_versions(types))
        }),
        ["api", version] => {
            resource_list(types, "", version).map(|list| DiscoveryResponse::json(&list))
        }
        ["apis"] => Some(if accepts_aggregated(accept) {
            DiscoveryResponse::json_as(&aggregated_list(types, false), AGGREGATED_DISCOVERY_V2)
        } else {
            DiscoveryResponse::json(&api_group_list(types))
        }),
        ["apis", group] => api_group(types, group).map(|group| DiscoveryResponse::json(&group)),
        ["apis", group, version] => {
            resource_list(types, group, version).map(|list| DiscoveryResponse::json(&list))
        }
        ["openapi", rest @ ..] => openapi::handle(types, rest, accept),
        _ => None,
    }
}

/// Whether the `Accept` header asks for aggregated discovery v2 ahead of any plain JSON.
fn accepts_aggregated(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or_default();
        let mut group = None;
        let mut version = None;
        let mut as_kind = None;
        let mut refused = false;
        for parameter in parts {
            let Some((key, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim() {
                "g" => group = Some(value),
                "v" => version = Some(value),
                "as" => as_kind = Some(value),
                "q" => refused = value.parse::<f32>().is_ok_and(|q| q <= 0.0),
                _ => {}
            }
        }
        if refused {
            continue;
        }
        let aggregated = media_type.eq_ignore_ascii_case(JSON)
            && group == Some("apidiscovery.k8s.io")
            && version == Some("v2")
            && as_kind == Some("APIGroupDiscoveryList");
        if aggregated {
            return true;
        }
        let plain = as_kind.is_none()
            && (media_type.eq_ignore_ascii_case(JSON)
                || media_type == "*/*"
                || media_type == "application/*");
        if plain {
            return false;
        }
    }
    false
}

fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn api_versions(types: &[ResourceType]) -> Value {
    let versions: Vec<String> = groups(types)
        .into_iter()
        .find(|(group, _)| group.is_empty())
        .map(|(_, versions)| versions)
        .unwrap_or_default();
    json!({
        "kind": "APIVersions",
        "versions": versions,
        "serverAddressByClientCIDRs": [],
    })
}

fn group_document(group: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|version| json!({"groupVersion": format!("{group}/{version}"), "version": version}))
        .collect();
    json!({
        "name": group,
        "versions": entries,
        "preferredVersion": entries.first().cloned().unwrap_or(Value::Null),
    })
}

fn api_group_list(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = groups(types)
        .iter()
        .filter(|(group, _)| !group.is_empty())
        .map(|(group, versions)| group_document(group, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn api_group(types: &[ResourceType], group: &str) -> Option<Value> {
    let (name, versions) = groups(types)
        .into_iter()
        .find(|(name, _)| !name.is_empty() && name == group)?;
    let mut document = group_document(&name, &versions);
    if let Value::Object(fields) = &mut document {
        fields.insert("kind".into(), "APIGroup".into());
        fields.insert("apiVersion".into(), "v1".into());
    }
    Some(document)
}

const SUBRESOURCE_VERBS: [&str; 3] = ["get", "patch", "update"];

fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for resource_type in served {
        let mut resource = json!({
            "name": resource_type.plural,
            "singularName": resource_type.singular,
            "namespaced": resource_type.namespaced,
            "kind": resource_type.kind,
            "verbs": resource_type.verbs,
        });
        if let Value::Object(fields) = &mut resource {
            if !resource_type.short_names.is_empty() {
                fields.insert("shortNames".into(), json!(resource_type.short_names));
            }
            if !resource_type.categories.is_empty() {
                fields.insert("categories".into(), json!(resource_type.categories));
            }
            fields.insert(
                "storageVersionHash".into(),
                storage_version_hash(types, resource_type).into(),
            );
        }
        resources.push(resource);
        if resource_type.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", resource_type.plural),
                "singularName": "",
                "namespaced": resource_type.namespaced,
                "kind": resource_type.kind,
                "verbs": SUBRESOURCE_VERBS,
            }));
        }
        if resource_type.scale_subresource.is_some() {
            resources.push(json!({
                "name": format!("{}/scale", resource_type.plural),
                "singularName": "",
                "namespaced": resource_type.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": SUBRESOURCE_VERBS,
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let mut list = json!({
        "kind": "APIResourceList",
        "groupVersion": group_version,
        "resources": resources,
    });
    // kube-apiserver omits apiVersion on the core group's list only.
    if !group.is_empty()
        && let Value::Object(fields) = &mut list
    {
        fields.insert("apiVersion".into(), "v1".into());
    }
    Some(list)
}

/// kube-apiserver's `storageVersionHash`: the first 8 bytes of the SHA-256 of the storage
/// version's `group/version/kind`, base64-encoded. Every served version reports the same hash, so
/// storage migrators notice when the storage version changes.
fn storage_version_hash(types: &[ResourceType], resource_type: &ResourceType) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let storage_version = types
        .iter()
        .find(|t| t.group == resource_type.group && t.kind == resource_type.kind && t.storage)
        .map_or(resource_type.version.as_str(), |t| t.version.as_str());
    let digest = sha2::Sha256::digest(format!(
        "{}/{}/{}",
        resource_type.group, storage_version, resource_type.kind
    ));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

fn aggregated_resource(resource_type: &ResourceType) -> Value {
    let response_kind = json!({
        "group": resource_type.group,
        "version": resource_type.version,
        "kind": resource_type.kind,
    });
    let mut subresources = Vec::new();
    if resource_type.status_subresource {
        subresources.push(json!({
            "subresource": "status",
            "responseKind": response_kind,
            "verbs": SUBRESOURCE_VERBS,
        }));
    }
    if resource_type.scale_subresource.is_some() {
        subresources.push(json!({
            "subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": SUBRESOURCE_VERBS,
        }));
    }
    let mut resource = json!({
        "resource": resource_type.plural,
        "responseKind": response_kind,
        "scope": if resource_type.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource_type.singular,
        "verbs": resource_type.verbs,
    });
    if let Value::Object(fields) = &mut resource {
        if !resource_type.short_names.is_empty() {
            fields.insert("shortNames".into(), json!(resource_type.short_names));
        }
        if !resource_type.categories.is_empty() {
            fields.insert("categories".into(), json!(resource_type.categories));
        }
        if !subresources.is_empty() {
            fields.insert("subresources".into(), Value::Array(subresources));
        }
    }
    resource
}

/// `APIGroupDiscoveryList` of the core group (`legacy`, served at `/api`) or of every named group
/// (served at `/apis`).
fn aggregated_list(types: &[ResourceType], legacy: bool) -> Value {
    let items: Vec<Value> = groups(types)
        .into_iter()
        .filter(|(group, _)| group.is_empty() == legacy)
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|version| {
                    let resources: Vec<Value> = types
                        .iter()
                        .filter(|t| t.group == group && t.version == *version)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if group.is_empty() {
                json!({})
            } else {
                json!({"name": group})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "discovery_fixtures.rs"]
pub(crate) mod fixtures;
