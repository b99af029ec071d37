//! The two kinds' reconcile steps (each kind: dereference → plan → apply → update status, the
//! plan a pure function in its `plan.rs`), and what both share, written once: connection-Secret
//! naming, reading and writing; the Ready tail; the Orphan cleanup; failure recording.

mod ai_model;
mod managed_database;

use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use portico_api::{CONDITION_READY, CONDITION_SYNCED, ConnectionSecretRef, Phase};
use portico_gateway_client::{CallRecord, FailureCause, GatewayClient, GatewayError, Owner};

use super::connection_secret::{self, ConnectionSecret};
use super::status::{self, CommonStatus, is_ready};
use super::{Context, Kind, ReconcileError, Retry, Scope, publish};

/// Name of the connection Secret: `writeConnectionSecretToRef.name`, else `<name>-conn`.
fn connection_secret_name<K: Resource>(obj: &K, reference: Option<&ConnectionSecretRef>) -> String {
    reference
        .map(|r| r.name.clone())
        .unwrap_or_else(|| format!("{}-conn", obj.name_any()))
}

fn owner_reference<K: Kind>(obj: &K) -> Result<OwnerReference, ReconcileError> {
    obj.controller_owner_ref(&()).ok_or_else(|| {
        ReconcileError::InvalidSpec(
            "the object has no name or uid to own its connection Secret".into(),
        )
    })
}

/// The connection Secret as it is now, when it is this resource's to write: absent, or
/// controlled by `owner`. A Secret another owner controls (another resource, a user, nobody) is
/// a conflict, and is never read for credentials nor written.
async fn read_connection_secret(
    ctx: &Context,
    namespace: &str,
    name: &str,
    owner: &OwnerReference,
) -> Result<Option<Secret>, ReconcileError> {
    let secret = crate::credentials::read_secret(&ctx.client, namespace, name)
        .await
        .map_err(ReconcileError::ConnectionSecretRead)?;
    match secret {
        Some(secret) if !controlled_by(&secret, &owner.uid) => {
            Err(ReconcileError::ConnectionSecretConflict {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                holder: holder(&secret),
            })
        }
        secret => Ok(secret),
    }
}

/// Whether `uid` is the Secret's controller (the owner reference with `controller: true`).
fn controlled_by(secret: &Secret, uid: &str) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.controller == Some(true) && owner.uid == uid)
}

/// Who controls a Secret, for the conflict message.
fn holder(secret: &Secret) -> String {
    let owners = secret.metadata.owner_references.iter().flatten();
    match owners
        .clone()
        .find(|owner| owner.controller == Some(true))
        .or_else(|| owners.clone().next())
    {
        Some(owner) => format!("controlled by {} {}", owner.kind, owner.name),
        None => "it has no owner: it was created by someone else".into(),
    }
}

/// Writes the connection Secret unless `existing` already holds exactly `desired`; returns
/// whether it wrote.
async fn write_connection_secret(
    ctx: &Context,
    desired: &ConnectionSecret,
    existing: Option<&Secret>,
) -> Result<bool, ReconcileError> {
    connection_secret::ensure(&ctx.client, desired, existing)
        .await
        .map_err(ReconcileError::ConnectionSecretWrite)
}

/// Writes the status when it differs from what the object shows.
async fn write_status<K: Kind>(
    ctx: &Context,
    scope: &Scope,
    current: Option<&K::Status>,
    desired: &K::Status,
) -> Result<(), ReconcileError> {
    let api = ctx.api::<K>(&scope.namespace);
    status::write_if_changed(&api, &scope.name, current, desired)
        .await
        .map(|_| ())
        .map_err(ReconcileError::Status)
}

/// What the Ready tail writes and tells.
struct ReadyOutcome<'a, S> {
    /// Status as the object shows it.
    current: Option<&'a S>,
    /// Status with the kind's outputs filled in.
    status: S,
    /// The last gateway write of this reconcile, if any.
    last_write: Option<&'a CallRecord>,
    /// The `Ready` condition's message.
    message: String,
    /// The `Provisioned` event's note, when the object becomes Ready now.
    provisioned_note: Option<String>,
}

/// The shared Ready tail: phase, `Synced` and `Ready` conditions, one status write when it
/// changed, the time-to-Ready metric and a `Provisioned` or `Updated` event, then the next drift
/// check.
async fn finish_ready<K: Kind>(
    obj: &K,
    ctx: &Context,
    scope: &Scope,
    outcome: ReadyOutcome<'_, K::Status>,
) -> Result<Action, ReconcileError> {
    let ReadyOutcome {
        current,
        mut status,
        last_write,
        message,
        provisioned_note,
    } = outcome;
    let was_ready = current.is_some_and(is_ready);
    *status.phase_mut() = Some(Phase::Ready);
    status::set_synced(&mut status, last_write, scope.generation);
    status::set(
        &mut status,
        CONDITION_READY,
        true,
        "Available",
        &message,
        scope.generation,
    );
    write_status::<K>(ctx, scope, current, &status).await?;
    if !was_ready {
        observe_ready(ctx, obj);
        if let Some(note) = provisioned_note {
            publish(ctx, obj, EventType::Normal, "Provisioned", note).await;
        }
    } else if let Some(call) = last_write {
        publish(ctx, obj, EventType::Normal, "Updated", call.to_string()).await;
    }
    let wait = ctx
        .gates
        .record_success(scope.key.clone(), scope.inputs, Instant::now());
    Ok(Action::requeue(wait))
}

/// Whether a failed deprovisioning call shows that no gateway object exists: it is gone, or the
/// gateway refuses its name (so it can never have held it).
fn cannot_exist(error: &GatewayError) -> bool {
    matches!(
        error.cause(),
        FailureCause::NotFound | FailureCause::Invalid
    )
}

/// The cleanup of a resource whose name no gateway object can have: nothing to deprovision.
async fn never_provisioned<K: Kind>(obj: &K, ctx: &Context) -> Option<Action> {
    publish(
        ctx,
        obj,
        EventType::Normal,
        "Deprovisioned",
        format!(
            "nothing to deprovision: {:?} cannot name a gateway object",
            super::identity::requested(obj)
        ),
    )
    .await;
    None
}

/// The gateway client acting for `obj`: its writes, deletions and key operations name the
/// resource as owner, so the gateway refuses them on an object another resource owns (in this
/// cluster or another one sharing the gateway).
fn owned_client<K: Kind>(obj: &K, ctx: &Context) -> GatewayClient {
    ctx.gateway.owned_by(Owner {
        cluster: ctx.config.cluster_name.clone(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
    })
}

/// The cleanup of a resource whose gateway object belongs to another resource (its adoption
/// was refused): the object is left to its owner; the finalizer may go.
async fn left_to_its_owner<K: Kind>(
    obj: &K,
    ctx: &Context,
    error: &GatewayError,
) -> Option<Action> {
    publish(
        ctx,
        obj,
        EventType::Normal,
        "LeftToOwner",
        format!("the gateway object is another resource's; left in place: {error}"),
    )
    .await;
    None
}

/// Records an object's first transition to Ready since its creation (time-to-Ready metric).
fn observe_ready<K: Kind>(ctx: &Context, obj: &K) {
    let Some(created) = obj.meta().creation_timestamp.as_ref() else {
        return;
    };
    let age = jiff::Timestamp::now().duration_since(created.0);
    if let Ok(age) = std::time::Duration::try_from(age) {
        ctx.metrics.controller.observe_ready(K::KIND, age);
    }
}

/// The shared Orphan cleanup: the gateway object stays; the finalizer may go.
async fn orphan<K: Kind>(obj: &K, ctx: &Context, what: &str) -> Option<Action> {
    publish(
        ctx,
        obj,
        EventType::Normal,
        "Orphaned",
        format!("deletionPolicy is Orphan: the gateway {what} is left in place"),
    )
    .await;
    None
}

/// Shared failure bookkeeping: `Synced=False` with the reason and the call, `Ready=False` unless
/// the external object is still usable, the phase, and a Warning event when the reason is new.
pub(super) async fn record_failure<K: Kind>(
    obj: &K,
    ctx: &Context,
    error: &ReconcileError,
) -> Result<(), kube::Error> {
    let current = obj.status();
    let mut status = current.cloned().unwrap_or_default();
    K::note_failure(&mut status, error);
    let generation = obj.meta().generation.unwrap_or_default();
    let reason = error.reason();
    let message = error.to_string();
    let reason_is_new = status::synced_reason(&status).as_deref() != Some(reason);
    if let Some(call) = error.call() {
        status::record_call(&mut status, call);
    }
    status::set(
        &mut status,
        CONDITION_SYNCED,
        false,
        reason,
        &message,
        generation,
    );
    if !status::is_ready(&status) || error.makes_unready() {
        status::set(
            &mut status,
            CONDITION_READY,
            false,
            reason,
            &message,
            generation,
        );
    }
    let deleting = obj.meta().deletion_timestamp.is_some();
    let phase = status.phase_mut();
    *phase = Some(failure_phase(
        deleting,
        error.retry(),
        error.makes_unready(),
        *phase,
    ));
    let api = ctx.api::<K>(&obj.namespace().unwrap_or_default());
    status::write_if_changed(&api, &obj.name_any(), current, &status).await?;
    if reason_is_new {
        publish(ctx, obj, EventType::Warning, reason, message).await;
    }
    Ok(())
}

/// The phase a failure leaves: Deleting while deleting, Failed when only a change can help,
/// otherwise what it was (Pending for a new object, and for a Ready one the failure makes
/// unready).
fn failure_phase(deleting: bool, retry: Retry, unready: bool, current: Option<Phase>) -> Phase {
    match (deleting, retry, current) {
        (true, _, _) => Phase::Deleting,
        (false, Retry::OnChange, _) => Phase::Failed,
        (false, Retry::After(_), Some(Phase::Ready)) if unready => Phase::Pending,
        (false, Retry::After(_), Some(existing)) => existing,
        (false, Retry::After(_), None) => Phase::Pending,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn owned_by(owners: Vec<(&str, &str, bool)>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                owner_references: Some(
                    owners
                        .into_iter()
                        .map(|(kind, uid, controller)| OwnerReference {
                            api_version: "portico.dev/v1alpha1".into(),
                            kind: kind.into(),
                            name: "x".into(),
                            uid: uid.into(),
                            controller: Some(controller),
                            block_owner_deletion: None,
                        })
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn only_a_secret_we_control_is_ours() {
        assert!(controlled_by(
            &owned_by(vec![("AIModel", "u1", true)]),
            "u1"
        ));
        // Another resource of the same name (an AIModel and a ManagedDatabase `x`).
        let other = owned_by(vec![("ManagedDatabase", "u2", true)]);
        assert!(!controlled_by(&other, "u1"));
        assert_eq!(holder(&other), "controlled by ManagedDatabase x");
        // Listed, but not as the controller.
        assert!(!controlled_by(
            &owned_by(vec![("AIModel", "u1", false)]),
            "u1"
        ));
        // A user's Secret.
        let user = Secret::default();
        assert!(!controlled_by(&user, "u1"));
        assert!(holder(&user).contains("no owner"));
    }

    #[test]
    fn failure_phase_table() {
        let later = Retry::After(Some(Duration::from_secs(1)));
        let cases = [
            (
                true,
                Retry::OnChange,
                false,
                Some(Phase::Ready),
                Phase::Deleting,
            ),
            (true, later, true, None, Phase::Deleting),
            (
                false,
                Retry::OnChange,
                false,
                Some(Phase::Ready),
                Phase::Failed,
            ),
            (
                false,
                Retry::OnChange,
                true,
                Some(Phase::Ready),
                Phase::Failed,
            ),
            (false, Retry::OnChange, false, None, Phase::Failed),
            (false, later, false, Some(Phase::Ready), Phase::Ready),
            (false, later, true, Some(Phase::Ready), Phase::Pending),
            (false, later, true, Some(Phase::Failed), Phase::Failed),
            (
                false,
                later,
                false,
                Some(Phase::Provisioning),
                Phase::Provisioning,
            ),
            (false, later, false, None, Phase::Pending),
            (false, later, true, None, Phase::Pending),
        ];
        for (deleting, retry, unready, current, expected) in cases {
            assert_eq!(
                failure_phase(deleting, retry, unready, current),
                expected,
                "{deleting} {retry:?} {unready} {current:?}"
            );
        }
    }
}
