//! Types shared by both custom resources: references, policies, phases, the last gateway call,
//! and the status-condition rules (one condition per type, `lastTransitionTime` kept while the
//! status is unchanged).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every Portico resource.
pub const GROUP: &str = "portico.dev";
/// Finalizer that holds a resource until its gateway object is deprovisioned.
pub const FINALIZER: &str = "portico.dev/finalizer";
/// Annotation naming an existing gateway object to adopt instead of a derived name.
pub const EXTERNAL_NAME_ANNOTATION: &str = "portico.dev/external-name";
/// Annotation that stops reconciling (`"true"`); deletion still completes.
pub const PAUSED_ANNOTATION: &str = "portico.dev/paused";

/// Condition type: the external resource is usable and the connection Secret is written.
pub const CONDITION_READY: &str = "Ready";
/// Condition type: the last reconcile against the gateway succeeded.
pub const CONDITION_SYNCED: &str = "Synced";

/// A key of a Secret in the resource's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// Name of the Secret, in the same namespace as the resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Where the connection Secret (endpoint and credentials) is written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSecretRef {
    /// Name of the Secret to write, in the same namespace as the resource. It is owned by the
    /// resource and garbage-collected with it.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
}

/// What happens to the gateway object when the resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Deprovision the gateway object, confirm it is gone, then release the resource.
    #[default]
    Delete,
    /// Release the resource and leave the gateway object in place.
    Orphan,
}

/// Lifecycle phase of a Portico resource, as shown by `kubectl get`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Accepted, no gateway call has succeeded yet.
    Pending,
    /// The gateway is creating the external object.
    Provisioning,
    /// The external object is usable and the connection Secret is written.
    Ready,
    /// A spec change is being applied at the gateway.
    Updating,
    /// Deletion has begun; the gateway object is being deprovisioned.
    Deleting,
    /// The last reconcile failed with an error that retrying will not fix.
    Failed,
}

impl Phase {
    /// The name as it appears in status and printer columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Ready => "Ready",
            Phase::Updating => "Updating",
            Phase::Deleting => "Deleting",
            Phase::Failed => "Failed",
        }
    }
}

/// The most recent call made to the gateway for this resource, so a gateway admin can go from
/// `kubectl describe` to the trace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastOperation {
    /// HTTP method of the call, e.g. `PUT`.
    pub method: String,
    /// Request path of the call, e.g. `/v1/namespaces/team-a/models/summarizer`.
    pub path: String,
    /// HTTP status the gateway answered with; absent when no response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// W3C trace id (32 hex digits) of the call's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// When the call was made (RFC 3339).
    pub at: Time,
}

/// Schema of a `conditions` list: a list-map keyed by `type`, as Kubernetes API conventions ask.
pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    let object = schema.ensure_object();
    object.insert("x-kubernetes-list-type".into(), "map".into());
    object.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    object.insert(
        "description".into(),
        "Current state of the resource: `Ready` (usable, connection Secret written) and `Synced` \
         (the last reconcile against the gateway succeeded; its reason names the failure class \
         and its message the last gateway call with its trace id)."
            .into(),
    );
    schema
}

/// Sets `condition` in `conditions`, replacing the one of the same type.
///
/// `lastTransitionTime` is kept from the existing condition when its status does not change, so
/// that it records when the status last flipped, not when it was last written. Returns whether
/// anything but that timestamp changed.
pub fn set_condition(conditions: &mut Vec<Condition>, condition: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            let status_same = existing.status == condition.status;
            let changed = !status_same
                || existing.reason != condition.reason
                || existing.message != condition.message
                || existing.observed_generation != condition.observed_generation;
            if changed {
                let last_transition_time = if status_same {
                    existing.last_transition_time.clone()
                } else {
                    condition.last_transition_time.clone()
                };
                *existing = Condition {
                    last_transition_time,
                    ..condition
                };
            }
            changed
        }
        None => {
            conditions.push(condition);
            true
        }
    }
}

/// The condition of the given type, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(status: &str, reason: &str, at: i64) -> Condition {
        Condition {
            type_: CONDITION_READY.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(jiff::Timestamp::from_second(at).unwrap_or_default()),
        }
    }

    #[test]
    fn transition_time_is_kept_while_status_is_unchanged() {
        let mut conditions = vec![condition("False", "Provisioning", 100)];
        assert!(set_condition(
            &mut conditions,
            condition("False", "RateLimited", 200)
        ));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason, "RateLimited");
        assert_eq!(conditions[0].last_transition_time.0.as_second(), 100);

        assert!(set_condition(
            &mut conditions,
            condition("True", "Available", 300)
        ));
        assert_eq!(conditions[0].last_transition_time.0.as_second(), 300);
    }

    #[test]
    fn identical_condition_is_not_a_change() {
        let mut conditions = vec![condition("True", "Available", 100)];
        assert!(!set_condition(
            &mut conditions,
            condition("True", "Available", 999)
        ));
        assert_eq!(conditions[0].last_transition_time.0.as_second(), 100);
    }
}
