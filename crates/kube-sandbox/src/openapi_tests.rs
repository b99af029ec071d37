//! Unit tests of the OpenAPI documents: what `kubectl apply` and `kubectl explain` look up.

use serde_json::Value;

use super::super::discovery::fixtures::{all_types, body_json};
use super::super::discovery::handle as discovery_handle;

fn get(path: &str, accept: Option<&str>) -> Value {
    let response = discovery_handle(&all_types(), path, accept).expect("path is served");
    assert_eq!(response.content_type, "application/json");
    body_json(&response.body)
}

/// The schema whose `x-kubernetes-group-version-kind` names `kind`, as `kubectl explain` finds it.
fn schema_of<'a>(document: &'a Value, group: &str, kind: &str) -> &'a Value {
    document["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .values()
        .find(|schema| {
            schema["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|gvks| {
                    gvks.iter()
                        .any(|g| g["group"] == group && g["kind"] == kind)
                })
        })
        .expect("schema tagged with the kind")
}

/// The PATCH operation of `kind`, as kubectl's field-validation probe finds it.
fn patch_operation<'a>(document: &'a Value, kind: &str) -> &'a Value {
    document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .filter_map(|path| path.get("patch"))
        .find(|patch| patch["x-kubernetes-group-version-kind"]["kind"] == kind)
        .expect("patch operation of the kind")
}

fn resolve<'a>(document: &'a Value, reference: &str) -> &'a Value {
    let name = reference
        .strip_prefix("#/components/schemas/")
        .expect("local reference");
    &document["components"]["schemas"][name]
}

#[test]
fn index_lists_every_group_version_with_a_hash() {
    let index = get("/openapi/v3", None);
    let paths = index["paths"].as_object().expect("paths");
    for key in [
        "api/v1",
        "apis/portico.dev/v1alpha1",
        "apis/apiextensions.k8s.io/v1",
    ] {
        let url = paths[key]["serverRelativeURL"].as_str().expect("url");
        assert!(
            url.starts_with(&format!("/openapi/v3/{key}?hash=")),
            "{url}"
        );
        let path = url.split('?').next().expect("path");
        assert!(
            discovery_handle(&all_types(), path, None).is_some(),
            "{path} served"
        );
    }
}

#[test]
fn custom_resource_patch_advertises_field_validation_and_no_strategic_merge() {
    let document = get("/openapi/v3/apis/portico.dev/v1alpha1", None);
    assert_eq!(document["openapi"], "3.0.0");
    let patch = patch_operation(&document, "AIModel");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["group"],
        "portico.dev"
    );
    let parameters = patch["parameters"].as_array().expect("parameters");
    assert!(
        parameters
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    let content = patch["requestBody"]["content"]
        .as_object()
        .expect("content");
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(content.contains_key("application/apply-patch+yaml"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));
    assert!(
        document["paths"]
            .get("/apis/portico.dev/v1alpha1/namespaces/{namespace}/aimodels/{name}/status")
            .is_some()
    );
}

#[test]
fn custom_resource_schema_carries_descriptions_and_metadata() {
    let document = get("/openapi/v3/apis/portico.dev/v1alpha1", None);
    let model = schema_of(&document, "portico.dev", "AIModel");
    assert!(
        model["properties"]["spec"]["properties"]["provider"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("provider"))
    );
    assert!(model["properties"]["apiVersion"]["description"].is_string());
    let metadata_ref = model["properties"]["metadata"]["allOf"][0]["$ref"]
        .as_str()
        .expect("metadata refers to ObjectMeta");
    assert!(resolve(&document, metadata_ref)["properties"]["name"].is_object());
    let list = schema_of(&document, "portico.dev", "AIModelList");
    let item_ref = list["properties"]["items"]["items"]["$ref"]
        .as_str()
        .expect("items");
    assert_eq!(resolve(&document, item_ref)["title"], "AIModel");
}

#[test]
fn every_reference_resolves() {
    let index = get("/openapi/v3", None);
    for entry in index["paths"].as_object().expect("paths").values() {
        let url = entry["serverRelativeURL"].as_str().expect("url");
        let document = get(url, None);
        let mut refs = Vec::new();
        super::collect_refs(&document, &mut refs);
        for reference in refs {
            assert!(
                document["components"]["schemas"].get(&reference).is_some(),
                "{url}: {reference} missing"
            );
        }
    }
}

#[test]
fn built_in_kinds_have_described_schemas() {
    let document = get("/openapi/v3/api/v1", None);
    let secret = schema_of(&document, "", "Secret");
    assert!(secret["properties"]["data"]["description"].is_string());
    let namespace_patch = patch_operation(&document, "Namespace");
    let content = namespace_patch["requestBody"]["content"]
        .as_object()
        .expect("content");
    assert!(content.contains_key("application/strategic-merge-patch+json"));
    assert!(
        document["paths"].get("/api/v1/namespaces/{name}").is_some(),
        "namespaces are cluster scoped"
    );
    let crds = get("/openapi/v3/apis/apiextensions.k8s.io/v1", None);
    schema_of(&crds, "apiextensions.k8s.io", "CustomResourceDefinition");
}

#[test]
fn v2_is_json_only() {
    let protobuf = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    assert!(discovery_handle(&all_types(), "/openapi/v2", Some(protobuf)).is_none());
    let document = get("/openapi/v2", Some("application/json"));
    assert_eq!(document["swagger"], "2.0");
    let definitions = document["definitions"].as_object().expect("definitions");
    assert!(definitions.contains_key("dev.portico.v1alpha1.AIModel"));
    assert!(!document.to_string().contains("#/components/"));
}

#[test]
fn unknown_group_versions_are_not_served() {
    assert!(discovery_handle(&all_types(), "/openapi/v3/apis/portico.dev/v9", None).is_none());
    assert!(discovery_handle(&all_types(), "/openapi/v4", None).is_none());
}

/// Client-side `kubectl apply` computes strategic merge patches from these extensions (the
/// full table is unit-tested with `strategic::annotate_schemas`).
#[test]
fn built_in_schemas_carry_patch_strategies() {
    let document = get("/openapi/v3/api/v1", None);
    let meta = &document["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
        ["properties"];
    assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
    assert!(
        meta["finalizers"]
            .get("x-kubernetes-patch-merge-key")
            .is_none()
    );
    assert_eq!(
        meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
        "uid"
    );
    assert!(meta["labels"].get("x-kubernetes-patch-strategy").is_none());
}
