//! AIModel reconcile steps: dereference (the provider-key Secret's known version) → plan (pure,
//! `plan.rs`) → apply (read the key when needed, upsert the gateway model only when the spec, the
//! key or the gateway copy changed, stop if the gateway's check of the upstream failed, keep one
//! issued API key, write the connection Secret) → update status (the shared Ready tail). Ready
//! means callable: no key is issued and no connection Secret written for a model whose upstream
//! check failed. Cleanup deletes the gateway model (its keys go with it).

mod plan;

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use portico_api::{AIModel, AIModelSpec, AIModelStatus, DeletionPolicy};
use portico_gateway_client::{CallRecord, ErrorClass, FailureCause, GatewayClient, Model};
use secrecy::SecretString;

use self::plan::{KeyStep, ModelStep, Observed, Plan};
use super::{
    ReadyOutcome, cannot_exist, connection_secret_name, finish_ready, left_to_its_owner,
    never_provisioned, orphan, owned_client, owner_reference, read_connection_secret,
    write_connection_secret,
};
use crate::controller::connection_secret::ConnectionSecret;
use crate::controller::identity;
use crate::controller::status;
use crate::controller::{Context, Kind, ReconcileError, Scope, UpstreamCheckFailure, publish};
use crate::credentials::secret_value;

/// Name of the one API key Portico issues per model. A fixed name means a crash between
/// issuing a key and storing it can never leave a second key behind.
const KEY_NAME: &str = "portico";

impl Kind for AIModel {
    const KIND: &'static str = "AIModel";
    type Status = AIModelStatus;

    fn status(&self) -> Option<&AIModelStatus> {
        self.status.as_ref()
    }

    fn secret_version_sent(&self, name: &str) -> Option<&str> {
        let referenced = self.spec.provider_credentials.as_ref()?;
        (referenced.name == name)
            .then(|| {
                self.status
                    .as_ref()?
                    .provider_credentials_version
                    .as_deref()
            })
            .flatten()
    }

    fn connection_secret(&self) -> String {
        connection_secret_name(self, self.spec.write_connection_secret_to_ref.as_ref())
    }

    /// A failed upstream check still tells what the gateway holds: the model under its name,
    /// and the provider key it checked, so that only a new version of the key's Secret (not
    /// every replay of the same one) triggers the re-check.
    fn note_failure(status: &mut AIModelStatus, error: &ReconcileError) {
        if let ReconcileError::UpstreamCheckFailed(failure) = error {
            status.external_name = Some(failure.external_name.clone());
            status
                .provider_credentials_version
                .clone_from(&failure.credentials_version);
        }
    }

    fn referenced_secrets(&self) -> Vec<&str> {
        self.spec
            .provider_credentials
            .iter()
            .map(|selector| selector.name.as_str())
            .collect()
    }

    async fn apply(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> Result<Action, ReconcileError> {
        let ns = scope.namespace.as_str();
        let current = obj.status.as_ref();
        let external = identity::apply_name(&*obj)?;

        // Dereference: what the Secret watch knows of the provider key (no read).
        let key_version_seen = obj
            .spec
            .provider_credentials
            .as_ref()
            .and_then(|selector| ctx.secret_version(ns, &selector.name));
        // Plan.
        let plan = plan::plan(&Observed {
            spec: &obj.spec,
            status: current,
            generation: scope.generation,
            external_name: &external,
            key_version_seen: key_version_seen.as_deref(),
        });
        // Dereference: the connection Secret, which must be this resource's to write, before
        // anything is provisioned for it.
        let owner = owner_reference(&*obj)?;
        let secret_name =
            connection_secret_name(&*obj, obj.spec.write_connection_secret_to_ref.as_ref());
        let existing = read_connection_secret(&ctx, ns, &secret_name, &owner).await?;
        // Apply.
        let mut status = current.cloned().unwrap_or_default();
        let mut writes = Writes::default();
        let mut key = ProviderKey::as_sent(current);
        if plan.read_key {
            key = ProviderKey::read(&ctx, ns, &obj.spec).await?;
        }
        let sent = current.and_then(|status| status.provider_credentials_version.as_deref());
        let gateway = owned_client(&*obj, &ctx);
        let target = Target {
            ctx: &ctx,
            gateway: &gateway,
            spec: &obj.spec,
            ns,
            external: &external,
        };
        let (model, call) = ensure_model(&target, plan, sent, &mut key, &mut writes).await?;
        // Ready means callable: a model whose upstream refused or failed the gateway's check
        // gets no key and no connection Secret.
        if let Some((reason, message)) = plan::upstream_failure(model.upstream_check.as_ref()) {
            return Err(ReconcileError::UpstreamCheckFailed(Box::new(
                UpstreamCheckFailure {
                    reason,
                    message,
                    call,
                    external_name: external.clone(),
                    credentials_version: key.version.clone(),
                },
            )));
        }
        let stored_key = existing
            .as_ref()
            .and_then(|secret| secret_value(secret, "apiKey"));
        let api_key = match (
            plan::key_step(stored_key.is_some(), writes.model_created),
            stored_key,
        ) {
            (KeyStep::Keep, Some(key)) => key,
            _ => {
                let (id, key) = issue_key(&gateway, ns, &external, &mut writes).await?;
                status.key_id = Some(id);
                key
            }
        };
        let desired_secret = ConnectionSecret {
            namespace: ns.to_owned(),
            name: secret_name,
            owner,
            entries: [
                (
                    "endpoint".to_string(),
                    SecretString::from(model.endpoint.clone()),
                ),
                (
                    "model".to_string(),
                    SecretString::from(model.client_model.clone()),
                ),
                ("apiKey".to_string(), api_key),
            ]
            .into(),
        };
        write_connection_secret(&ctx, &desired_secret, existing.as_ref()).await?;

        // Update status.
        for call in &writes.calls {
            status::record_call(&mut status, call);
        }
        status.observed_generation = Some(scope.generation);
        status.external_name = Some(external.clone());
        status.endpoint = Some(model.endpoint.clone());
        status.provider_credentials_version = key.version;
        let last_write = writes.calls.last();
        finish_ready(
            &*obj,
            &ctx,
            scope,
            ReadyOutcome {
                current,
                status,
                last_write,
                message: format!("model {ns}/{external} is served at {}", model.endpoint),
                provisioned_note: last_write.map(ToString::to_string),
            },
        )
        .await
    }

    async fn cleanup(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> Result<Option<Action>, ReconcileError> {
        if obj.spec.deletion_policy == DeletionPolicy::Orphan {
            return Ok(orphan(&*obj, &ctx, "model").await);
        }
        let Some(external) = identity::cleanup_name(&*obj) else {
            return Ok(never_provisioned(&*obj, &ctx).await);
        };
        let note = match owned_client(&*obj, &ctx)
            .delete_model(&scope.namespace, &external)
            .await
        {
            Ok(response) => response.call.to_string(),
            // Another resource's object (an adoption that was refused): never ours to delete.
            Err(error) if error.cause() == FailureCause::Conflict => {
                return Ok(left_to_its_owner(&*obj, &ctx, &error).await);
            }
            // Gone, or a name the gateway refuses and so cannot hold: nothing to deprovision.
            Err(error) if cannot_exist(&error) => error.call().to_string(),
            Err(error) => return Err(error.into()),
        };
        publish(&ctx, &*obj, EventType::Normal, "Deprovisioned", note).await;
        tracing::info!(model = %external, namespace = %obj.namespace().unwrap_or_default(), "deprovisioned");
        Ok(None)
    }
}

/// The model a reconcile works on.
#[derive(Clone, Copy)]
struct Target<'a> {
    ctx: &'a Context,
    /// The gateway client acting for this resource.
    gateway: &'a GatewayClient,
    spec: &'a AIModelSpec,
    ns: &'a str,
    external: &'a str,
}

/// The gateway writes of one reconcile, in order.
#[derive(Default)]
struct Writes {
    calls: Vec<CallRecord>,
    model_created: bool,
}

/// The provider key as far as this reconcile knows it: its value once read, and the version of
/// the Secret it came from.
struct ProviderKey {
    value: Option<SecretString>,
    version: Option<String>,
    read: bool,
}

impl ProviderKey {
    /// Not read: the version status says the gateway last received.
    fn as_sent(status: Option<&AIModelStatus>) -> Self {
        Self {
            value: None,
            version: status.and_then(|status| status.provider_credentials_version.clone()),
            read: false,
        }
    }

    /// Reads the key the spec references (and remembers its Secret's version for later drift
    /// checks).
    async fn read(ctx: &Context, ns: &str, spec: &AIModelSpec) -> Result<Self, ReconcileError> {
        let Some(selector) = &spec.provider_credentials else {
            return Ok(Self {
                value: None,
                version: None,
                read: true,
            });
        };
        let (value, version) =
            crate::credentials::read_key(&ctx.client, ns, &selector.name, &selector.key)
                .await
                .map_err(ReconcileError::Credentials)?;
        ctx.note_secret_version(ns, &selector.name, version.as_deref());
        Ok(Self {
            value: Some(value),
            version,
            read: true,
        })
    }
}

/// Brings the gateway model to the spec: a drift check when the plan allows, else (or on drift)
/// an upsert carrying the provider key. Returns the model with the call that returned it.
async fn ensure_model(
    target: &Target<'_>,
    plan: Plan,
    sent: Option<&str>,
    key: &mut ProviderKey,
    writes: &mut Writes,
) -> Result<(Model, CallRecord), ReconcileError> {
    let Target {
        ctx,
        gateway,
        spec,
        ns,
        external,
    } = *target;
    let step = plan.model_step(sent, key.version.as_deref());
    if step == ModelStep::CheckDrift {
        let visible = plan::desired_model(spec, None);
        let found = match gateway.get_model(ns, external).await {
            Ok(found) => Some((found.value, found.call)),
            Err(error) if error.class() == ErrorClass::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        match (
            plan::after_drift_check(found.as_ref().map(|(m, _)| &m.spec), &visible),
            found,
        ) {
            (ModelStep::CheckDrift, Some(found)) => return Ok(found),
            (_, Some(_)) => {
                tracing::info!(model = %external, "gateway model drifted from the spec; updating")
            }
            (_, None) => tracing::info!(model = %external, "gateway model is gone; recreating"),
        }
    }
    if !key.read && spec.provider_credentials.is_some() {
        *key = ProviderKey::read(ctx, ns, spec).await?;
    }
    let desired = plan::desired_model(spec, key.value.take());
    let response = gateway.upsert_model(ns, external, &desired).await?;
    writes.model_created = response.created();
    writes.calls.push(response.call.clone());
    Ok((response.value, response.call))
}

/// Issues the model's API key. If the key exists but its value was lost (the connection Secret
/// was deleted, or the operator stopped before storing it), it is revoked and issued again:
/// the gateway returns a key's value only once.
async fn issue_key(
    gateway: &GatewayClient,
    ns: &str,
    model: &str,
    writes: &mut Writes,
) -> Result<(String, SecretString), ReconcileError> {
    let response = gateway.upsert_model_key(ns, model, KEY_NAME).await?;
    if let Some(secret) = response.value.secret {
        writes.calls.push(response.call);
        return Ok((response.value.id, secret));
    }
    match gateway.delete_model_key(ns, model, KEY_NAME).await {
        Ok(_) => {}
        Err(error) if error.class() == ErrorClass::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    let response = gateway.upsert_model_key(ns, model, KEY_NAME).await?;
    match response.value.secret {
        Some(secret) => {
            writes.calls.push(response.call);
            Ok((response.value.id, secret))
        }
        None => Err(ReconcileError::ExternalFailed(format!(
            "the gateway issued key {KEY_NAME} without its value [{}]",
            response.call
        ))),
    }
}
