//! The resource types the sandbox API server serves: built-in kinds and those CRDs define. Shared
//! vocabulary of the store, the HTTP layer, discovery, OpenAPI and Table rendering.

use serde_json::Value;

/// One served resource type (a group/version/resource), built in or defined by a CRD.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// API version within the group, e.g. `v1` or `v1alpha1`.
    pub version: String,
    /// Kind, e.g. `AIModel`.
    pub kind: String,
    /// Kind of lists of this resource, e.g. `AIModelList`.
    pub list_kind: String,
    /// Plural resource name used in URLs, e.g. `aimodels`.
    pub plural: String,
    /// Singular name, e.g. `aimodel`.
    pub singular: String,
    /// Short names for kubectl, e.g. `aim`.
    pub short_names: Vec<String>,
    /// Categories for kubectl, e.g. `portico` (so `kubectl get portico` works).
    pub categories: Vec<String>,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Verbs served, as discovery lists them (`get`, `list`, `watch`, `create`, ...).
    pub verbs: Vec<String>,
    /// Whether `/status` is served (status writes separated from spec writes).
    pub status_subresource: bool,
    /// `/scale`, when the CRD declares it.
    pub scale_subresource: Option<ScaleSubresource>,
    /// The version's `openAPIV3Schema` (custom resources), used for validation, defaulting,
    /// pruning, `kubectl explain` and OpenAPI documents. `None` for built-in kinds.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns`, for Table responses.
    pub printer_columns: Vec<PrinterColumn>,
    /// Name of the defining CRD (`<plural>.<group>`); `None` for built-in kinds.
    pub crd_name: Option<String>,
    /// Whether this version is the CRD's storage version (always true for built-ins).
    pub storage: bool,
}

impl ResourceType {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (or just `plural` for the core group): how kube-apiserver names a resource
    /// in error messages.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Kind.group` (or just `Kind` for the core group): how kube-apiserver names a kind in
    /// `Invalid` messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

/// A CRD's scale subresource paths.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSubresource {
    /// JSON path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas_path: String,
    /// JSON path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas_path: String,
    /// JSON path of the label selector, if any.
    pub label_selector_path: Option<String>,
}

/// One `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: `integer`, `number`, `string`, `boolean` or `date`.
    pub type_: String,
    /// Optional OpenAPI format.
    pub format: Option<String>,
    /// Column description.
    pub description: Option<String>,
    /// 0 shows in the default view; higher only with `-o wide`.
    pub priority: i32,
    /// JSONPath evaluated against each object, e.g. `.status.phase`.
    pub json_path: String,
}

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

fn builtin(
    group: &str,
    kind: &str,
    plural: &str,
    short_names: &[&str],
    namespaced: bool,
    status_subresource: bool,
) -> ResourceType {
    ResourceType {
        group: group.to_string(),
        version: "v1".to_string(),
        kind: kind.to_string(),
        list_kind: format!("{kind}List"),
        plural: plural.to_string(),
        singular: kind.to_lowercase(),
        short_names: short_names.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        namespaced,
        verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
        status_subresource,
        scale_subresource: None,
        schema: None,
        printer_columns: Vec::new(),
        crd_name: None,
        storage: true,
    }
}

/// The built-in kinds every sandbox serves. Workload and RBAC kinds (Deployment, Service,
/// ServiceAccount, roles and bindings) are stored and served so manifests such as `deploy/`
/// apply as they would to a cluster; nothing runs them.
pub fn builtin_types() -> Vec<ResourceType> {
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        false,
        true,
    );
    crd.categories = vec!["api-extensions".to_string()];
    let mut namespaces = builtin("", "Namespace", "namespaces", &["ns"], false, true);
    // kube-apiserver serves no deletecollection on namespaces.
    namespaces.verbs.retain(|verb| verb != "deletecollection");
    vec![
        namespaces,
        builtin("", "Secret", "secrets", &[], true, false),
        builtin("", "ConfigMap", "configmaps", &["cm"], true, false),
        builtin("", "Event", "events", &["ev"], true, false),
        builtin("events.k8s.io", "Event", "events", &["ev"], true, false),
        builtin("coordination.k8s.io", "Lease", "leases", &[], true, false),
        builtin(
            "",
            "ServiceAccount",
            "serviceaccounts",
            &["sa"],
            true,
            false,
        ),
        builtin("", "Service", "services", &["svc"], true, true),
        builtin("apps", "Deployment", "deployments", &["deploy"], true, true),
        builtin(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterroles",
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            false,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "Role",
            "roles",
            &[],
            true,
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebindings",
            &[],
            true,
            false,
        ),
        crd,
    ]
}

fn string_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn strings_at(value: &Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The served versions a CRD (as JSON) defines, one `ResourceType` each.
pub fn crd_types(crd: &Value) -> Vec<ResourceType> {
    let group = string_at(crd, "/spec/group").unwrap_or_default();
    let kind = string_at(crd, "/spec/names/kind").unwrap_or_default();
    let plural = string_at(crd, "/spec/names/plural").unwrap_or_default();
    let list_kind = string_at(crd, "/spec/names/listKind").unwrap_or_else(|| format!("{kind}List"));
    let singular = string_at(crd, "/spec/names/singular")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = string_at(crd, "/spec/scope").as_deref() != Some("Cluster");
    let crd_name = string_at(crd, "/metadata/name");
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned();
    versions
        .unwrap_or_default()
        .iter()
        .filter(|version| {
            version
                .get("served")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        })
        .map(|version| {
            let printer_columns = version
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|columns| {
                    columns
                        .iter()
                        .map(|column| PrinterColumn {
                            name: string_at(column, "/name").unwrap_or_default(),
                            type_: string_at(column, "/type").unwrap_or_default(),
                            format: string_at(column, "/format"),
                            description: string_at(column, "/description"),
                            priority: column.get("priority").and_then(Value::as_i64).unwrap_or(0)
                                as i32,
                            json_path: string_at(column, "/jsonPath").unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let scale_subresource =
                version
                    .pointer("/subresources/scale")
                    .map(|scale| ScaleSubresource {
                        spec_replicas_path: string_at(scale, "/specReplicasPath")
                            .unwrap_or_default(),
                        status_replicas_path: string_at(scale, "/statusReplicasPath")
                            .unwrap_or_default(),
                        label_selector_path: string_at(scale, "/labelSelectorPath"),
                    });
            ResourceType {
                group: group.clone(),
                version: string_at(version, "/name").unwrap_or_default(),
                kind: kind.clone(),
                list_kind: list_kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                short_names: strings_at(crd, "/spec/names/shortNames"),
                categories: strings_at(crd, "/spec/names/categories"),
                namespaced,
                verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
                status_subresource: version.pointer("/subresources/status").is_some(),
                scale_subresource,
                schema: version.pointer("/schema/openAPIV3Schema").cloned(),
                printer_columns,
                crd_name: crd_name.clone(),
                storage: version
                    .get("storage")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }
        })
        .collect()
}
