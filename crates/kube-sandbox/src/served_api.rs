//! What discovery and OpenAPI both describe the served API with: the response type they answer
//! in, the Kubernetes version the sandbox reports, and the served groups with their versions in
//! kube-apiserver's preference order.

use std::cmp::Ordering;

use serde_json::Value;

use super::registry::ResourceType;

/// A discovery or OpenAPI answer, ready to send with status 200.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryResponse {
    /// `Content-Type` of the body.
    pub content_type: String,
    /// The serialized body.
    pub body: Vec<u8>,
}

impl DiscoveryResponse {
    /// A JSON body with the plain `application/json` content type.
    pub(crate) fn json(value: &Value) -> Self {
        Self::json_as(value, JSON)
    }

    /// A JSON body sent with `content_type` (e.g. a negotiated `application/json;g=...`).
    pub(crate) fn json_as(value: &Value, content_type: &str) -> Self {
        Self {
            content_type: content_type.to_owned(),
            body: value.to_string().into_bytes(),
        }
    }
}

/// The plain JSON media type.
pub(crate) const JSON: &str = "application/json";

/// The Kubernetes version the sandbox reports at `/version`. Matches the kubectl the project tests
/// with (1.32), so `kubectl version` prints no skew warning.
pub(crate) const MAJOR: &str = "1";
pub(crate) const MINOR: &str = "32";
pub(crate) const GIT_VERSION: &str = "v1.32.0-portico";

/// Orders API versions the way kube-apiserver does: GA before beta before alpha, higher numbers
/// first, anything else last in lexical order.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn key(version: &str) -> Option<(u8, u64, u64)> {
        let rest = version.strip_prefix('v')?;
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: u64 = rest[..digits_end].parse().ok()?;
        let tail = &rest[digits_end..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (level, number) = if let Some(number) = tail.strip_prefix("beta") {
            (1, number)
        } else if let Some(number) = tail.strip_prefix("alpha") {
            (0, number)
        } else {
            return None;
        };
        Some((level, major, number.parse().ok()?))
    }
    match (key(a), key(b)) {
        (Some(a), Some(b)) => b.cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Groups in order of first appearance, each with its versions, preferred first.
pub(crate) fn groups(types: &[ResourceType]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for resource_type in types {
        let index = match groups.iter().position(|(g, _)| *g == resource_type.group) {
            Some(index) => index,
            None => {
                groups.push((resource_type.group.clone(), Vec::new()));
                groups.len() - 1
            }
        };
        let versions = &mut groups[index].1;
        if !versions.contains(&resource_type.version) {
            versions.push(resource_type.version.clone());
        }
    }
    for (_, versions) in &mut groups {
        versions.sort_by(|a, b| compare_versions(a, b));
    }
    groups
}
