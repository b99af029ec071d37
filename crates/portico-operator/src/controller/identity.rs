//! The gateway identity of a resource: the external name it is provisioned under, why a change
//! of it is refused, and whether the gateway can hold it at all. The decisions are pure and
//! table-tested; the kinds and the reconcile frame ask here before any gateway call.

use kube::ResourceExt;
use portico_api::EXTERNAL_NAME_ANNOTATION;

use super::status::CommonStatus;
use super::{Kind, ReconcileError};

/// The longest name the gateway accepts (a DNS label).
const MAX_GATEWAY_NAME: usize = 63;

/// The external name a resource asks for: `portico.dev/external-name` when set (adopting an
/// existing gateway object), otherwise its own name. Gateway paths are namespaced like
/// Kubernetes, so namespace + name is already unique and deterministic.
pub(crate) fn requested<K: Kind>(obj: &K) -> String {
    obj.annotations()
        .get(EXTERNAL_NAME_ANNOTATION)
        .filter(|value| !value.is_empty())
        .cloned()
        .unwrap_or_else(|| obj.name_any())
}

/// Whether the gateway accepts `name` as an object name: a DNS label, 1 to 63 lowercase
/// letters, digits and `-`, starting and ending with a letter or digit (no dots, unlike
/// Kubernetes object names).
pub(crate) fn is_gateway_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let alphanumeric =
        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    !bytes.is_empty()
        && bytes.len() <= MAX_GATEWAY_NAME
        && bytes.iter().all(allowed)
        && alphanumeric(bytes.first())
        && alphanumeric(bytes.last())
}

/// The name to provision under, given the one asked for and the one status recorded (the
/// gateway object that exists): the requested name when it is valid and unchanged.
pub(crate) fn decide_apply_name(
    requested: &str,
    recorded: Option<&str>,
) -> Result<String, ReconcileError> {
    if !is_gateway_name(requested) {
        return Err(ReconcileError::InvalidSpec(format!(
            "{requested:?} cannot name a gateway object: it must be a DNS label (1 to 63 \
             lowercase letters, digits and '-', no dots); rename the resource or set \
             portico.dev/external-name"
        )));
    }
    match recorded {
        Some(recorded) if recorded != requested => Err(ReconcileError::ExternalNameChanged {
            from: recorded.to_owned(),
            to: requested.to_owned(),
        }),
        _ => Ok(requested.to_owned()),
    }
}

/// The name to deprovision, given the one asked for and the one status recorded: the object
/// really provisioned when status knows it, else the requested name; `None` when no gateway
/// object can exist under it.
pub(crate) fn decide_cleanup_name(requested: &str, recorded: Option<&str>) -> Option<String> {
    match recorded {
        Some(recorded) if is_gateway_name(recorded) => Some(recorded.to_owned()),
        _ => is_gateway_name(requested).then(|| requested.to_owned()),
    }
}

/// [`decide_apply_name`] for a resource.
pub(crate) fn apply_name<K: Kind>(obj: &K) -> Result<String, ReconcileError> {
    decide_apply_name(
        &requested(obj),
        obj.status().and_then(CommonStatus::external_name),
    )
}

/// [`decide_cleanup_name`] for a resource.
pub(crate) fn cleanup_name<K: Kind>(obj: &K) -> Option<String> {
    decide_cleanup_name(
        &requested(obj),
        obj.status().and_then(CommonStatus::external_name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_names_are_dns_labels() {
        let long = "a".repeat(63);
        let too_long = "a".repeat(64);
        for name in ["a", "summarizer", "m-1", "0abc", long.as_str()] {
            assert!(is_gateway_name(name), "{name}");
        }
        for name in [
            "",
            "a.b",
            "Summarizer",
            "-a",
            "a-",
            "a_b",
            "a b",
            "ä",
            too_long.as_str(),
        ] {
            assert!(!is_gateway_name(name), "{name:?}");
        }
    }

    #[test]
    fn apply_name_table() {
        let ok = |requested: &str, recorded| decide_apply_name(requested, recorded).ok();
        assert_eq!(ok("m", None), Some("m".into()));
        assert_eq!(ok("m", Some("m")), Some("m".into()));
        assert_eq!(ok("a.b", None), None);
        let changed = decide_apply_name("new", Some("old"));
        assert!(matches!(
            changed,
            Err(ReconcileError::ExternalNameChanged { ref from, ref to }) if from == "old" && to == "new"
        ));
        assert_eq!(
            decide_apply_name("a.b", Some("a")).map_err(|e| e.reason()),
            Err("InvalidSpec")
        );
    }

    #[test]
    fn cleanup_name_table() {
        assert_eq!(decide_cleanup_name("m", None), Some("m".into()));
        // The object really provisioned, not the one asked for since.
        assert_eq!(decide_cleanup_name("new", Some("old")), Some("old".into()));
        // Nothing can exist under a name the gateway refuses.
        assert_eq!(decide_cleanup_name("a.b", None), None);
        assert_eq!(decide_cleanup_name("a.b", Some("a")), Some("a".into()));
    }
}
