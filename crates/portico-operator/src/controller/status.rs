//! Status bookkeeping shared by both kinds: conditions, phase, the last gateway call, and the
//! rule that status is written only when it differs from what is stored.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use portico_api::{
    AIModelStatus, CONDITION_READY, CONDITION_SYNCED, LastOperation, ManagedDatabaseStatus, Phase,
    find_condition, set_condition,
};
use portico_gateway_client::CallRecord;

/// Longest condition message written; gateway messages can be arbitrarily long.
const MAX_MESSAGE_CHARS: usize = 1024;

/// The status fields both kinds share.
pub(crate) trait CommonStatus: Default + Clone + PartialEq + Serialize {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn phase(&self) -> Option<Phase>;
    fn phase_mut(&mut self) -> &mut Option<Phase>;
    fn last_operation_mut(&mut self) -> &mut Option<LastOperation>;
    fn observed_generation(&self) -> Option<i64>;
    fn external_name(&self) -> Option<&str>;
}

macro_rules! common_status {
    ($status:ty) => {
        impl CommonStatus for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn phase(&self) -> Option<Phase> {
                self.phase
            }
            fn phase_mut(&mut self) -> &mut Option<Phase> {
                &mut self.phase
            }
            fn last_operation_mut(&mut self) -> &mut Option<LastOperation> {
                &mut self.last_operation
            }
            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }
            fn external_name(&self) -> Option<&str> {
                self.external_name.as_deref()
            }
        }
    };
}
common_status!(AIModelStatus);
common_status!(ManagedDatabaseStatus);

/// Whether the `Ready` condition is `True`.
pub(crate) fn is_ready(status: &impl CommonStatus) -> bool {
    find_condition(status.conditions(), CONDITION_READY).is_some_and(|c| c.status == "True")
}

/// Whether the status says the last reconcile brought `generation` fully in sync: Ready, Synced
/// and observed at that generation.
pub(crate) fn in_sync(status: Option<&impl CommonStatus>, generation: Option<i64>) -> bool {
    status.is_some_and(|status| {
        is_ready(status)
            && status.observed_generation() == generation
            && find_condition(status.conditions(), CONDITION_SYNCED)
                .is_some_and(|c| c.status == "True")
    })
}

/// Reason of the `Synced` condition, if any.
pub(crate) fn synced_reason(status: &impl CommonStatus) -> Option<String> {
    find_condition(status.conditions(), CONDITION_SYNCED).map(|c| c.reason.clone())
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

fn truncate(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

/// Sets a condition (keeping `lastTransitionTime` while its status is unchanged).
pub(crate) fn set(
    status: &mut impl CommonStatus,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    generation: i64,
) {
    set_condition(
        status.conditions_mut(),
        Condition {
            type_: type_.into(),
            status: if value { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: truncate(message),
            observed_generation: Some(generation),
            last_transition_time: now(),
        },
    );
}

/// Records a gateway call as `lastOperation`.
pub(crate) fn record_call(status: &mut impl CommonStatus, call: &CallRecord) {
    *status.last_operation_mut() = Some(LastOperation {
        method: call.method.to_string(),
        path: call.path.clone(),
        http_status: call.http_status.map(i32::from),
        trace_id: call.trace_id.clone(),
        at: now(),
    });
}

/// Marks the last reconcile as successful; the message names the call that made it so.
pub(crate) fn set_synced(
    status: &mut impl CommonStatus,
    call: Option<&CallRecord>,
    generation: i64,
) {
    let message = match call {
        Some(call) => call.to_string(),
        None => existing_synced_message(status)
            .unwrap_or_else(|| "the gateway object matches the spec".into()),
    };
    set(
        status,
        CONDITION_SYNCED,
        true,
        "ReconcileSuccess",
        &message,
        generation,
    );
}

fn existing_synced_message(status: &impl CommonStatus) -> Option<String> {
    find_condition(status.conditions(), CONDITION_SYNCED)
        .filter(|c| c.status == "True")
        .map(|c| c.message.clone())
}

/// Writes `desired` as the object's status unless it equals `current`. Returns whether it wrote.
pub(crate) async fn write_if_changed<K, S>(
    api: &Api<K>,
    name: &str,
    current: Option<&S>,
    desired: &S,
) -> kube::Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: CommonStatus,
{
    if current == Some(desired) {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": desired });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn synced_message_names_the_call_and_trace() {
        let mut status = AIModelStatus::default();
        let call = CallRecord {
            operation: "upsertModel",
            method: "PUT",
            path: "/v1/namespaces/a/models/m".into(),
            http_status: Some(201),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            limiter_wait: Default::default(),
            latency: Default::default(),
        };
        set_synced(&mut status, Some(&call), 3);
        let synced = find_condition(&status.conditions, CONDITION_SYNCED).expect("set");
        assert_eq!(
            synced.message,
            "PUT /v1/namespaces/a/models/m -> 201 (trace 4bf92f3577b34da6a3ce929d0e0e4736)"
        );
        assert_eq!(synced.observed_generation, Some(3));
        assert!(!is_ready(&status));
    }
}
