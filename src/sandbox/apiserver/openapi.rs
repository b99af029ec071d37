//! OpenAPI documents (v2 at `/openapi/v2`, v3 at `/openapi/v3` and
//! `/openapi/v3/{api|apis/group}/{version}`) that `kubectl apply` and `kubectl explain` read.

use serde_json::{Value, json};

use super::registry::ResourceType;

/// `/openapi/v2`: one Swagger 2.0 document for everything served.
pub fn v2_document(_types: &[ResourceType]) -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.34.0"}, "paths": {}, "definitions": {}})
}

/// `/openapi/v3`: the index of group-version documents.
pub fn v3_index(_types: &[ResourceType]) -> Value {
    json!({"paths": {}})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`, or `None` when nothing is served
/// there. `group` is empty for the core group.
pub fn v3_group_version(_types: &[ResourceType], _group: &str, _version: &str) -> Option<Value> {
    None
}
