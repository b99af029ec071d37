//! Resource types for unit tests of discovery, OpenAPI and Table rendering: the project's CRDs
//! and the built-in kinds, built by hand so these tests do not depend on the registry's code.

use serde_json::Value;

use super::super::registry::{PrinterColumn, ResourceType, ScaleSubresource};

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn verbs() -> Vec<String> {
    ALL_VERBS.iter().map(|v| (*v).to_owned()).collect()
}

/// Realistic CustomResourceDefinitions for tests: the ones under the repository's `crds/`, read
/// as data (this crate knows no kind of its own; any CRD would do, and these are real ones).
pub(crate) fn sample_crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    [
        include_str!("../../../crds/aimodels.portico.dev.yaml"),
        include_str!("../../../crds/manageddatabases.portico.dev.yaml"),
    ]
    .into_iter()
    .map(|text| serde_saphyr::from_str(text).expect("the sample CRDs parse"))
    .collect()
}

/// The served versions of the sample CRDs.
pub(crate) fn crd_types() -> Vec<ResourceType> {
    let mut types = Vec::new();
    for crd in sample_crds() {
        let spec = &crd.spec;
        for version in &spec.versions {
            let printer_columns = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|column| PrinterColumn {
                    name: column.name.clone(),
                    type_: column.type_.clone(),
                    format: column.format.clone(),
                    description: column.description.clone(),
                    priority: column.priority.unwrap_or(0),
                    json_path: column.json_path.clone(),
                })
                .collect();
            let subresources = version.subresources.as_ref();
            types.push(ResourceType {
                group: spec.group.clone(),
                version: version.name.clone(),
                kind: spec.names.kind.clone(),
                list_kind: spec
                    .names
                    .list_kind
                    .clone()
                    .unwrap_or_else(|| format!("{}List", spec.names.kind)),
                plural: spec.names.plural.clone(),
                singular: spec.names.singular.clone().unwrap_or_default(),
                short_names: spec.names.short_names.clone().unwrap_or_default(),
                categories: spec.names.categories.clone().unwrap_or_default(),
                namespaced: spec.scope == "Namespaced",
                verbs: verbs(),
                status_subresource: subresources.is_some_and(|s| s.status.is_some()),
                scale_subresource: subresources.and_then(|s| s.scale.as_ref()).map(|scale| {
                    ScaleSubresource {
                        spec_replicas_path: scale.spec_replicas_path.clone(),
                        status_replicas_path: scale.status_replicas_path.clone(),
                        label_selector_path: scale.label_selector_path.clone(),
                    }
                }),
                schema: version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    .map(|s| serde_json::to_value(s).expect("schema serializes")),
                printer_columns,
                crd_name: crd.metadata.name.clone(),
                storage: version.storage,
            });
        }
    }
    types
}

fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceType {
    ResourceType {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        list_kind: format!("{kind}List"),
        plural: plural.to_owned(),
        singular: kind.to_lowercase(),
        short_names: Vec::new(),
        categories: Vec::new(),
        namespaced,
        verbs: verbs(),
        status_subresource: false,
        scale_subresource: None,
        schema: None,
        printer_columns: Vec::new(),
        crd_name: None,
        storage: true,
    }
}

/// The built-in kinds the sandbox serves.
pub(crate) fn builtin_types() -> Vec<ResourceType> {
    let mut namespaces = builtin("", "v1", "Namespace", "namespaces", false);
    namespaces.short_names = vec!["ns".into()];
    namespaces.status_subresource = true;
    let mut configmaps = builtin("", "v1", "ConfigMap", "configmaps", true);
    configmaps.short_names = vec!["cm".into()];
    let mut events = builtin("", "v1", "Event", "events", true);
    events.short_names = vec!["ev".into()];
    let mut crds = builtin(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    );
    crds.short_names = vec!["crd".into(), "crds".into()];
    crds.status_subresource = true;
    vec![
        namespaces,
        builtin("", "v1", "Secret", "secrets", true),
        configmaps,
        events,
        builtin("events.k8s.io", "v1", "Event", "events", true),
        builtin("coordination.k8s.io", "v1", "Lease", "leases", true),
        crds,
    ]
}

/// Built-in kinds followed by the project's CRDs, as the server serves them.
pub(crate) fn all_types() -> Vec<ResourceType> {
    let mut types = builtin_types();
    types.extend(crd_types());
    types
}

/// Parses a response body as JSON.
pub(crate) fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("body is JSON")
}
