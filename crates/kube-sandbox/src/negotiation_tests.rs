//! Unit tests of `Accept` negotiation against the headers real clients send, and of the
//! metadata views.

use std::sync::Arc;

use serde_json::json;

use super::super::discovery::fixtures::{builtin_types, crd_types};
use super::*;

const KUBE_RS_METADATA: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const KUBE_RS_METADATA_LIST: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
const CLIENT_GO_METADATA_LIST: &str = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
const NOT_ACCEPTABLE: &str = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf";

fn builtin(accept: &str) -> Result<Negotiated, ApiError> {
    negotiate(Some(accept), false)
}

fn custom(accept: &str) -> Result<Negotiated, ApiError> {
    negotiate(Some(accept), true)
}

fn ok(media_type: MediaType, view: View) -> Result<Negotiated, ApiError> {
    Ok(Negotiated { media_type, view })
}

fn refused(message: &str) -> Result<Negotiated, ApiError> {
    Err(ApiError::new(406, "NotAcceptable", message))
}

const JSON_FULL: Result<Negotiated, ApiError> = Ok(Negotiated {
    media_type: MediaType::Json,
    view: View::Full,
});

fn served(group: &str, kind: &str) -> Served {
    let rt = builtin_types()
        .into_iter()
        .chain(crd_types())
        .find(|rt| rt.group == group && rt.kind == kind)
        .unwrap_or_else(|| panic!("{group}/{kind} is a fixture type"));
    Served {
        events_v1: group == "events.k8s.io",
        storage_key: Arc::from(format!("{group}/{}", rt.plural)),
        schema: None,
        rt,
    }
}

#[test]
fn no_accept_header_is_json_unconverted() {
    assert_eq!(negotiate(None, false), JSON_FULL);
    assert_eq!(negotiate(Some(""), true), JSON_FULL);
    assert_eq!(builtin("application/json"), JSON_FULL);
    assert_eq!(builtin("*/*"), JSON_FULL);
    assert_eq!(builtin("application/*"), JSON_FULL);
}

#[test]
fn kube_rs_metadata_requests_get_partial_object_metadata() {
    let metadata = View::Metadata { version: "v1" };
    let list = View::MetadataList { version: "v1" };
    assert_eq!(
        builtin(KUBE_RS_METADATA),
        ok(MediaType::Json, metadata.clone())
    );
    assert_eq!(custom(KUBE_RS_METADATA), ok(MediaType::Json, metadata));
    assert_eq!(
        builtin(KUBE_RS_METADATA_LIST),
        ok(MediaType::Json, list.clone())
    );
    let with_fallback = format!("{KUBE_RS_METADATA_LIST},application/json");
    assert_eq!(builtin(&with_fallback), ok(MediaType::Json, list));
    // Spaces around parameters and clauses do not matter; v1beta1 is served too.
    assert_eq!(
        builtin(" application/json ; as=PartialObjectMetadata ; g=meta.k8s.io ; v=v1beta1 "),
        ok(MediaType::Json, View::Metadata { version: "v1beta1" })
    );
}

#[test]
fn client_go_metadata_requests_land_on_protobuf_with_the_same_view() {
    let list = View::MetadataList { version: "v1" };
    assert_eq!(
        builtin(CLIENT_GO_METADATA_LIST),
        ok(MediaType::Protobuf, list.clone())
    );
    // Custom resources serve converted views in protobuf too.
    assert_eq!(
        custom(CLIENT_GO_METADATA_LIST),
        ok(MediaType::Protobuf, list)
    );
}

#[test]
fn kubectl_get_asks_for_a_table() {
    assert_eq!(
        builtin(KUBECTL_GET),
        ok(MediaType::Json, View::Table { version: "v1" })
    );
    assert_eq!(
        custom("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
        ok(MediaType::Json, View::Table { version: "v1beta1" })
    );
    assert_eq!(
        builtin("*/*;as=Table;g=meta.k8s.io;v=v1"),
        ok(MediaType::Json, View::Table { version: "v1" })
    );
}

#[test]
fn the_first_acceptable_clause_wins() {
    // Plain JSON first: no table, however many table clauses follow.
    assert_eq!(
        builtin("application/json,application/json;as=Table;v=v1;g=meta.k8s.io"),
        JSON_FULL
    );
    // A table cannot be protobuf: that clause is skipped for the next.
    assert_eq!(
        builtin("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"),
        JSON_FULL
    );
    // An unknown conversion is skipped for the fallback.
    assert_eq!(
        builtin("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2,application/json"),
        JSON_FULL
    );
    assert_eq!(
        builtin(
            "application/json;as=Secret;g=;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
        ),
        ok(MediaType::Json, View::Metadata { version: "v1" })
    );
}

#[test]
fn quality_and_specificity_order_the_clauses_as_goautoneg_does() {
    assert_eq!(
        builtin(&format!("application/json;q=0.5,{KUBE_RS_METADATA}")),
        ok(MediaType::Json, View::Metadata { version: "v1" })
    );
    // A concrete type goes ahead of `*/*` whatever its q (goautoneg's comparison).
    assert_eq!(
        builtin("*/*,application/yaml;q=0.5"),
        ok(MediaType::Yaml, View::Full)
    );
    // q=0 does not refuse a media type, and a q that does not parse reads as 0.
    assert_eq!(builtin("application/json;q=0"), JSON_FULL);
    assert_eq!(
        builtin("application/json;q=high,application/yaml"),
        ok(MediaType::Yaml, View::Full)
    );
}

#[test]
fn nothing_acceptable_is_406_with_kube_apiservers_wording() {
    for accept in [
        "text/html",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2",
        "application/json;as=PartialObjectMetadata;g=example.com;v=v1",
        "application/json;as=Table",
        "application/json;as=Secret;g=;v=v1",
        "application/json;sv=v2",
        "application/json;stream=follow",
        "application",
    ] {
        assert_eq!(builtin(accept), refused(NOT_ACCEPTABLE), "{accept}");
    }
}

#[test]
fn custom_resources_are_not_served_as_plain_protobuf() {
    assert_eq!(
        builtin("application/vnd.kubernetes.protobuf"),
        ok(MediaType::Protobuf, View::Full)
    );
    assert_eq!(
        custom("application/vnd.kubernetes.protobuf"),
        refused(NOT_ACCEPTABLE)
    );
    assert_eq!(
        custom("application/vnd.kubernetes.protobuf,application/json"),
        JSON_FULL
    );
    assert_eq!(
        custom(&format!(
            "application/vnd.kubernetes.protobuf;{}",
            "as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
        )),
        ok(MediaType::Protobuf, View::Metadata { version: "v1" })
    );
}

#[test]
fn a_watch_must_land_on_a_streaming_media_type() {
    assert_eq!(
        negotiate_watch(Some("application/yaml"), false),
        refused(
            "only the following media types are accepted: application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch"
        )
    );
    assert_eq!(
        negotiate_watch(
            Some("application/yaml;stream=watch,application/json"),
            false
        ),
        JSON_FULL
    );
    assert_eq!(
        negotiate_watch(Some("application/json;stream=watch"), false),
        JSON_FULL
    );
    assert_eq!(
        negotiate_watch(Some(KUBE_RS_METADATA), true),
        ok(MediaType::Json, View::Metadata { version: "v1" })
    );
    assert_eq!(
        negotiate_watch(Some("text/html"), false),
        refused(NOT_ACCEPTABLE)
    );
}

#[test]
fn conversions_that_do_not_fit_name_the_go_type() {
    assert_eq!(
        list_not_convertible(&served("", "Secret")).message,
        "you requested PartialObjectMetadata, but the requested object is a list (*core.SecretList)"
    );
    assert_eq!(
        object_not_convertible(
            &served("apiextensions.k8s.io", "CustomResourceDefinition"),
            false
        )
        .message,
        "you requested PartialObjectMetadataList, but the requested object is not a list (*apiextensions.CustomResourceDefinition)"
    );
    assert_eq!(
        object_not_convertible(&served("coordination.k8s.io", "Lease"), false).message,
        "you requested PartialObjectMetadataList, but the requested object is not a list (*coordination.Lease)"
    );
    assert_eq!(
        list_not_convertible(&served("events.k8s.io", "Event")).message,
        "you requested PartialObjectMetadata, but the requested object is a list (*core.EventList)"
    );
    assert_eq!(
        list_not_convertible(&served("portico.dev", "AIModel")).message,
        "you requested PartialObjectMetadata, but the requested object is a list (*unstructured.UnstructuredList)"
    );
    let error = object_not_convertible(&served("", "ConfigMap"), true);
    assert_eq!((error.code, error.reason), (406, "NotAcceptable"));
    assert!(error.message.ends_with("(*autoscaling.Scale)"));
}

#[test]
fn partial_object_metadata_keeps_only_the_metadata() {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "s", "namespace": "default", "labels": {"a": "b"}},
        "data": {"password": "c2VjcmV0"},
    });
    assert_eq!(
        partial_object_metadata("v1", &secret),
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"name": "s", "namespace": "default", "labels": {"a": "b"}},
        })
    );
    let list = partial_object_metadata_list(
        "v1",
        [&secret],
        json!({"resourceVersion": "7", "continue": "abc"}),
    );
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        list["metadata"],
        json!({"resourceVersion": "7", "continue": "abc"})
    );
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert!(!list.to_string().contains("c2VjcmV0"));
    // Go encodes the nil items of an empty list as null.
    let empty = partial_object_metadata_list("v1", [], json!({"resourceVersion": "7"}));
    assert_eq!(empty["items"], Value::Null);
}

#[test]
fn a_table_moves_to_the_requested_version() {
    let table = json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "rows": [{"cells": ["x"], "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {}}}],
    });
    let moved = table_in_version(table, "v1beta1");
    assert_eq!(moved["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        moved["rows"][0]["object"]["apiVersion"],
        "meta.k8s.io/v1beta1"
    );
}
