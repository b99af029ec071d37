//! Discovery documents (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//! `/apis/{group}/{version}`) built from the served resource types.

use serde_json::{Value, json};

use super::registry::ResourceType;

/// `/version`.
pub fn version() -> Value {
    json!({"major": "1", "minor": "34", "gitVersion": "v1.34.0-portico-sandbox", "platform": "linux/amd64"})
}

/// `/api`: the core group's versions (`APIVersions`).
pub fn core_api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
}

/// `/apis`: every named group (`APIGroupList`).
pub fn api_group_list(_types: &[ResourceType]) -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
}

/// `/apis/{group}` (`APIGroup`), or `None` when no type is served in that group.
pub fn api_group(_types: &[ResourceType], _group: &str) -> Option<Value> {
    None
}

/// `/api/v1` or `/apis/{group}/{version}` (`APIResourceList`), or `None` when nothing is served
/// there. `group` is empty for the core group.
pub fn api_resource_list(_types: &[ResourceType], _group: &str, _version: &str) -> Option<Value> {
    None
}
