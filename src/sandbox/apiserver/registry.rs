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
