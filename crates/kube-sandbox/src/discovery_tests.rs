//! Unit tests of discovery documents against the project's CRDs and the built-in kinds.

use std::cmp::Ordering;

use serde_json::Value;

use super::super::served_api::compare_versions;
use super::fixtures::{all_types, body_json};
use super::*;

const KUBECTL_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json;q=0.9";

fn get(path: &str, accept: Option<&str>) -> (String, Value) {
    let response = handle(&all_types(), path, accept).expect("path is served");
    (response.content_type, body_json(&response.body))
}

#[test]
fn version_reports_a_kubernetes_version() {
    let (content_type, body) = get("/version", None);
    assert_eq!(content_type, "application/json");
    assert_eq!(body["major"], "1");
    assert!(
        body["gitVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1."))
    );
}

#[test]
fn legacy_api_lists_the_core_version() {
    let (content_type, body) = get("/api", Some("application/json, */*"));
    assert_eq!(content_type, "application/json");
    assert_eq!(body["kind"], "APIVersions");
    assert_eq!(body["versions"], serde_json::json!(["v1"]));
}

#[test]
fn legacy_apis_lists_groups_with_preferred_versions() {
    let (_, body) = get("/apis", None);
    assert_eq!(body["kind"], "APIGroupList");
    let groups = body["groups"].as_array().expect("groups");
    let portico = groups
        .iter()
        .find(|g| g["name"] == "portico.dev")
        .expect("portico.dev listed");
    assert_eq!(
        portico["preferredVersion"]["groupVersion"],
        "portico.dev/v1alpha1"
    );
    assert!(
        groups.iter().all(|g| g["name"] != ""),
        "the core group is not in /apis"
    );
}

#[test]
fn group_document_names_its_versions() {
    let (_, body) = get("/apis/apiextensions.k8s.io", None);
    assert_eq!(body["kind"], "APIGroup");
    assert_eq!(
        body["versions"][0]["groupVersion"],
        "apiextensions.k8s.io/v1"
    );
    assert!(handle(&all_types(), "/apis/unknown.example.com", None).is_none());
}

#[test]
fn resource_list_carries_names_verbs_and_subresources() {
    let (_, body) = get("/apis/portico.dev/v1alpha1", None);
    assert_eq!(body["kind"], "APIResourceList");
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["groupVersion"], "portico.dev/v1alpha1");
    let resources = body["resources"].as_array().expect("resources");
    let aimodels = resources
        .iter()
        .find(|r| r["name"] == "aimodels")
        .expect("aimodels");
    assert_eq!(aimodels["singularName"], "aimodel");
    assert_eq!(aimodels["kind"], "AIModel");
    assert_eq!(aimodels["namespaced"], true);
    assert_eq!(aimodels["shortNames"], serde_json::json!(["aim"]));
    assert_eq!(aimodels["categories"], serde_json::json!(["portico"]));
    assert!(
        aimodels["verbs"]
            .as_array()
            .expect("verbs")
            .contains(&"watch".into())
    );
    let types = all_types();
    let aimodel = types.iter().find(|t| t.kind == "AIModel").expect("AIModel");
    assert_eq!(
        aimodels["storageVersionHash"],
        storage_version_hash(&types, aimodel)
    );
    let status = resources
        .iter()
        .find(|r| r["name"] == "aimodels/status")
        .expect("status subresource listed");
    assert_eq!(
        status["verbs"],
        serde_json::json!(["get", "patch", "update"])
    );
    assert!(handle(&all_types(), "/apis/portico.dev/v9", None).is_none());
}

#[test]
fn storage_version_hash_is_kubes() {
    let types = all_types();
    let secret = types.iter().find(|t| t.kind == "Secret").expect("secret");
    // sha256("/v1/Secret")[..8], base64: the value kube-apiserver reports for secrets.
    assert_eq!(storage_version_hash(&types, secret), "S6u1pOWzb84=");
}

#[test]
fn core_resource_list_has_no_api_version() {
    let (_, body) = get("/api/v1", None);
    assert_eq!(body["groupVersion"], "v1");
    assert!(body.get("apiVersion").is_none());
    let resources = body["resources"].as_array().expect("resources");
    let namespaces = resources
        .iter()
        .find(|r| r["name"] == "namespaces")
        .expect("ns");
    assert_eq!(namespaces["namespaced"], false);
}

#[test]
fn aggregated_discovery_is_served_when_asked_for() {
    let (content_type, body) = get("/apis", Some(KUBECTL_ACCEPT));
    assert_eq!(content_type, AGGREGATED_DISCOVERY_V2);
    assert_eq!(body["kind"], "APIGroupDiscoveryList");
    assert_eq!(body["apiVersion"], "apidiscovery.k8s.io/v2");
    let portico = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["metadata"]["name"] == "portico.dev")
        .expect("portico.dev");
    let version = &portico["versions"][0];
    assert_eq!(version["version"], "v1alpha1");
    assert_eq!(version["freshness"], "Current");
    let aimodels = version["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == "aimodels")
        .expect("aimodels");
    assert_eq!(aimodels["scope"], "Namespaced");
    assert_eq!(aimodels["singularResource"], "aimodel");
    assert_eq!(aimodels["responseKind"]["kind"], "AIModel");
    assert_eq!(aimodels["subresources"][0]["subresource"], "status");

    let (content_type, core) = get("/api", Some(KUBECTL_ACCEPT));
    assert_eq!(content_type, AGGREGATED_DISCOVERY_V2);
    let core_versions = &core["items"][0]["versions"];
    assert_eq!(core_versions[0]["version"], "v1");
    assert_eq!(core["items"].as_array().map(Vec::len), Some(1));
}

#[test]
fn accept_negotiation_respects_order_and_refusals() {
    assert!(accepts_aggregated(Some(KUBECTL_ACCEPT)));
    assert!(!accepts_aggregated(Some(
        "application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )));
    assert!(!accepts_aggregated(Some(
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0"
    )));
    assert!(!accepts_aggregated(Some(
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    )));
    assert!(!accepts_aggregated(None));
}

#[test]
fn versions_sort_like_kube() {
    let mut versions = vec!["v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1", "v10"];
    versions.sort_by(|a, b| compare_versions(a, b));
    assert_eq!(
        versions,
        ["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
    );
    assert_eq!(compare_versions("v1", "v1"), Ordering::Equal);
}

#[test]
fn paths_outside_discovery_are_not_served() {
    assert!(handle(&all_types(), "/healthz", None).is_none());
    assert!(is_discovery_path("/apis/portico.dev/v1alpha1"));
    assert!(!is_discovery_path("/apis/portico.dev/v1alpha1/aimodels"));
}
