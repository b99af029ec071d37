//! `Table` (meta.k8s.io/v1) responses for `kubectl get`, built from printer columns.

use serde_json::Value;

use super::registry::ResourceType;

/// Whether an `Accept` header asks for a `Table` (`application/json;as=Table;v=v1;g=meta.k8s.io`).
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// Renders objects (one for a get, many for a list) as a `Table`. `list_metadata` is the list's
/// `metadata` (resourceVersion, continue) or `null` for a single object; `include_object` is the
/// `includeObject` query parameter (`None`, `Metadata` (kubectl's default) or `Object`).
pub fn to_table(
    _resource_type: &ResourceType,
    _objects: &[Value],
    _list_metadata: Value,
    _include_object: &str,
) -> Value {
    serde_json::json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "columnDefinitions": [], "rows": []})
}
