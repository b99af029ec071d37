//! The two kinds' reconcile steps, and what they share: reading credentials with their Secret's
//! version, connection-Secret names, and the failure bookkeeping.

mod ai_model;
mod managed_database;

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::status::{self, CommonStatus};
use super::{Context, Kind, ReconcileError, Retry, publish};
use crate::credentials::CredentialsError;
use portico_api::{CONDITION_READY, CONDITION_SYNCED, ConnectionSecretRef, Phase};

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

/// Reads a provider credential and the `resourceVersion` of the Secret it came from.
async fn read_credential(
    ctx: &Context,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<(secrecy::SecretString, Option<String>), ReconcileError> {
    let secret = super::connection_secret::fetch(&ctx.client, namespace, name)
        .await
        .map_err(|source| {
            ReconcileError::Credentials(CredentialsError::Kube {
                namespace: namespace.into(),
                name: name.into(),
                source,
            })
        })?
        .ok_or_else(|| {
            ReconcileError::Credentials(CredentialsError::SecretNotFound {
                namespace: namespace.into(),
                name: name.into(),
            })
        })?;
    let value = crate::credentials::secret_value(&secret, key).ok_or_else(|| {
        ReconcileError::Credentials(CredentialsError::KeyMissing {
            namespace: namespace.into(),
            name: name.into(),
            key: key.into(),
        })
    })?;
    Ok((value, secret.resource_version()))
}

/// Shared failure bookkeeping: `Synced=False` with the reason and the call, `Ready=False` unless
/// the external object is still usable, the phase, and a Warning event when the reason is new.
async fn record_failure<K, S>(
    obj: &K,
    ctx: &Context,
    current: Option<&S>,
    error: &ReconcileError,
) -> Result<(), kube::Error>
where
    K: Kind,
    S: CommonStatus,
{
    let mut status = current.cloned().unwrap_or_default();
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
    if !status::is_ready(&status) {
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
    *phase = Some(match (deleting, error.retry(), *phase) {
        (true, _, _) => Phase::Deleting,
        (false, Retry::OnChange, _) => Phase::Failed,
        (false, Retry::After(_), Some(existing)) => existing,
        (false, Retry::After(_), None) => Phase::Pending,
    });
    let api = ctx.api::<K>(&obj.namespace().unwrap_or_default());
    status::write_if_changed(&api, &obj.name_any(), current, &status).await?;
    if reason_is_new {
        publish(ctx, obj, EventType::Warning, reason, message).await;
    }
    Ok(())
}

/// Records a failure for any kind (the trait's entry point).
pub(super) async fn record_failure_for<K: Kind + HasStatus>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    error: &ReconcileError,
) -> Result<(), kube::Error> {
    record_failure(&*obj, &ctx, obj.status_ref(), error).await
}

/// Access to a kind's status.
pub(super) trait HasStatus {
    type Status: CommonStatus;
    fn status_ref(&self) -> Option<&Self::Status>;
}

impl HasStatus for portico_api::AIModel {
    type Status = portico_api::AIModelStatus;
    fn status_ref(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
}

impl HasStatus for portico_api::ManagedDatabase {
    type Status = portico_api::ManagedDatabaseStatus;
    fn status_ref(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
}
