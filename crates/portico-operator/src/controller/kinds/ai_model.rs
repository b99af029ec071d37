//! AIModel reconcile steps: dereference the provider key → upsert the gateway model (only when
//! the spec, the key or the gateway copy changed) → keep one issued API key → write the
//! connection Secret → status. Cleanup deletes the gateway model (its keys go with it).

use std::sync::Arc;
use std::time::Instant;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use secrecy::SecretString;

use super::{
    HasStatus, connection_secret_name, owner_reference, read_credential, record_failure_for,
};
use crate::controller::connection_secret::{self, ConnectionSecret};
use crate::controller::status::{self, is_ready};
use crate::controller::{Context, Kind, ReconcileError, Scope, external_name, publish};
use portico_api::{AIModel, AIModelSpec, CONDITION_READY, DeletionPolicy, Phase};
use portico_gateway_client::{self as gateway, CallRecord, ErrorClass};

/// Name of the one API key Portico issues per model. A fixed name means a crash between
/// issuing a key and storing it can never leave a second key behind.
const KEY_NAME: &str = "portico";

impl Kind for AIModel {
    const KIND: &'static str = "AIModel";

    fn phase(&self) -> Option<Phase> {
        self.status.as_ref().and_then(|status| status.phase)
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

    fn in_sync(&self) -> bool {
        status::in_sync(self.status.as_ref(), self.metadata.generation)
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
        let current = obj.status_ref();
        let mut status = current.cloned().unwrap_or_default();
        let external = external_name(&*obj);

        let quiet = status.observed_generation == Some(scope.generation)
            && status.external_name.as_deref() == Some(external.as_str())
            && is_ready(&status);
        // The provider key is read when it may be sent; a drift check of an object whose key
        // has not changed (the Secret watch keeps its version) does without the read.
        let cached_version = obj
            .spec
            .provider_credentials
            .as_ref()
            .and_then(|selector| ctx.secret_version(ns, &selector.name));
        let key_unchanged = match &obj.spec.provider_credentials {
            None => status.provider_credentials_version.is_none(),
            Some(_) => {
                cached_version.is_some() && cached_version == status.provider_credentials_version
            }
        };
        let mut credential = None;
        let mut credentials_version = status.provider_credentials_version.clone();
        if !(quiet && key_unchanged) {
            (credential, credentials_version) = read_provider_key(&ctx, ns, &obj.spec).await?;
        }
        let visible = gateway_spec(&obj.spec, None);

        // Writes only when something we know of changed; otherwise a GET checks for drift.
        let must_upsert = !quiet || status.provider_credentials_version != credentials_version;
        let observed = if must_upsert {
            None
        } else {
            match ctx.gateway.get_model(ns, &external).await {
                Ok(found) if visible_spec_matches(&found.value.spec, &visible) => Some(found.value),
                Ok(_) => {
                    tracing::info!(model = %external, "gateway model drifted from the spec; updating");
                    None
                }
                Err(error) if error.class() == ErrorClass::NotFound => {
                    tracing::info!(model = %external, "gateway model is gone; recreating");
                    None
                }
                Err(error) => return Err(error.into()),
            }
        };
        let mut last_write: Option<CallRecord> = None;
        let mut model_created = false;
        let model = match observed {
            Some(model) => model,
            None => {
                if credential.is_none() && obj.spec.provider_credentials.is_some() {
                    (credential, credentials_version) =
                        read_provider_key(&ctx, ns, &obj.spec).await?;
                }
                let desired = gateway_spec(&obj.spec, credential.take());
                let response = ctx.gateway.upsert_model(ns, &external, &desired).await?;
                status::record_call(&mut status, &response.call);
                model_created = response.created();
                last_write = Some(response.call);
                response.value
            }
        };

        let secret_name =
            connection_secret_name(&*obj, obj.spec.write_connection_secret_to_ref.as_ref());
        let existing = connection_secret::fetch(&ctx.client, ns, &secret_name)
            .await
            .map_err(ReconcileError::ConnectionSecret)?;
        // A newly created gateway model has no keys, whatever an old Secret still holds.
        let kept_key = existing
            .as_ref()
            .and_then(|secret| connection_secret::existing_value(secret, "apiKey"))
            .filter(|_| !model_created);
        let api_key = match kept_key {
            Some(key) => key,
            None => {
                let (id, key, call) = issue_key(&ctx, ns, &external).await?;
                status::record_call(&mut status, &call);
                last_write = Some(call);
                status.key_id = Some(id);
                key
            }
        };
        let desired_secret = ConnectionSecret {
            namespace: ns.to_owned(),
            name: secret_name,
            owner: owner_reference(&*obj)?,
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
        connection_secret::ensure(&ctx.client, &desired_secret, existing.as_ref())
            .await
            .map_err(ReconcileError::ConnectionSecret)?;

        let was_ready = current.is_some_and(is_ready);
        status.phase = Some(Phase::Ready);
        status.observed_generation = Some(scope.generation);
        status.external_name = Some(external.clone());
        status.endpoint = Some(model.endpoint.clone());
        status.provider_credentials_version = credentials_version;
        status::set_synced(&mut status, last_write.as_ref(), scope.generation);
        status::set(
            &mut status,
            CONDITION_READY,
            true,
            "Available",
            &format!("model {ns}/{external} is served at {}", model.endpoint),
            scope.generation,
        );
        let api = ctx.api::<AIModel>(ns);
        status::write_if_changed(&api, &scope.name, current, &status)
            .await
            .map_err(ReconcileError::Status)?;
        if !was_ready {
            ctx.observe_ready(&*obj);
        }
        if let Some(call) = &last_write {
            let reason = if was_ready { "Updated" } else { "Provisioned" };
            publish(&ctx, &*obj, EventType::Normal, reason, call.to_string()).await;
        }
        let wait = ctx
            .gates
            .record_success(scope.key.clone(), scope.inputs, Instant::now());
        Ok(Action::requeue(wait))
    }

    async fn cleanup(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> Result<Option<Action>, ReconcileError> {
        if obj.spec.deletion_policy == DeletionPolicy::Orphan {
            publish(
                &ctx,
                &*obj,
                EventType::Normal,
                "Orphaned",
                "deletionPolicy is Orphan: the gateway model is left in place".into(),
            )
            .await;
            return Ok(None);
        }
        let external = external_name(&*obj);
        let note = match ctx.gateway.delete_model(&scope.namespace, &external).await {
            Ok(response) => response.call.to_string(),
            Err(error) if error.class() == ErrorClass::NotFound => error.call().to_string(),
            Err(error) => return Err(error.into()),
        };
        publish(&ctx, &*obj, EventType::Normal, "Deprovisioned", note).await;
        tracing::info!(model = %external, namespace = %obj.namespace().unwrap_or_default(), "deprovisioned");
        Ok(None)
    }

    async fn record_failure(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        error: &ReconcileError,
    ) -> Result<(), kube::Error> {
        record_failure_for(obj, ctx, error).await
    }
}

/// Reads the provider key the spec references (and its Secret's version, which is remembered
/// for later drift checks).
async fn read_provider_key(
    ctx: &Context,
    ns: &str,
    spec: &AIModelSpec,
) -> Result<(Option<SecretString>, Option<String>), ReconcileError> {
    let Some(selector) = &spec.provider_credentials else {
        return Ok((None, None));
    };
    let (value, version) = read_credential(ctx, ns, &selector.name, &selector.key).await?;
    ctx.note_secret_version(ns, &selector.name, version.as_deref());
    Ok((Some(value), version))
}

/// Issues the model's API key. If the key exists but its value was lost (the connection Secret
/// was deleted, or the operator stopped before storing it), it is revoked and issued again:
/// the gateway returns a key's value only once.
async fn issue_key(
    ctx: &Context,
    ns: &str,
    model: &str,
) -> Result<(String, SecretString, CallRecord), ReconcileError> {
    let response = ctx.gateway.upsert_model_key(ns, model, KEY_NAME).await?;
    if let Some(secret) = response.value.secret {
        return Ok((response.value.id, secret, response.call));
    }
    match ctx.gateway.delete_model_key(ns, model, KEY_NAME).await {
        Ok(_) => {}
        Err(error) if error.class() == ErrorClass::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    let response = ctx.gateway.upsert_model_key(ns, model, KEY_NAME).await?;
    match response.value.secret {
        Some(secret) => Ok((response.value.id, secret, response.call)),
        None => Err(ReconcileError::ExternalFailed(format!(
            "the gateway issued key {KEY_NAME} without its value [{}]",
            response.call
        ))),
    }
}

/// The gateway's form of the spec.
fn gateway_spec(spec: &AIModelSpec, credential: Option<SecretString>) -> gateway::ModelSpec {
    gateway::ModelSpec {
        provider: spec.provider.as_str().to_owned(),
        upstream_model: spec.model.clone(),
        provider_credential: credential,
        prompt_template: spec
            .prompt_template
            .as_ref()
            .map(|template| gateway::PromptTemplate {
                system: template.system.clone(),
                template: template.template.clone(),
                variables: template
                    .variables
                    .iter()
                    .map(|variable| gateway::PromptVariable {
                        name: variable.name.clone(),
                        description: variable.description.clone(),
                        required: variable.required,
                    })
                    .collect(),
            }),
        parameters: spec
            .parameters
            .as_ref()
            .map(|parameters| gateway::ModelParameters {
                temperature: parameters.temperature,
                max_tokens: parameters.max_tokens,
                top_p: parameters.top_p,
            }),
        limits: spec.limits.as_ref().map(|limits| gateway::ModelLimits {
            requests_per_minute: limits.requests_per_minute,
            tokens_per_minute: limits.tokens_per_minute,
        }),
    }
}

/// Whether the gateway's copy matches the desired spec in everything the gateway shows (the
/// provider credential is write-only; its changes are tracked by Secret version instead).
fn visible_spec_matches(observed: &gateway::ModelSpec, desired: &gateway::ModelSpec) -> bool {
    observed.provider == desired.provider
        && observed.upstream_model == desired.upstream_model
        && observed.prompt_template == desired.prompt_template
        && observed.parameters.clone().unwrap_or_default()
            == desired.parameters.clone().unwrap_or_default()
        && observed.limits.clone().unwrap_or_default() == desired.limits.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_api::{ModelParameters, Provider};

    fn spec() -> AIModelSpec {
        AIModelSpec {
            provider: Provider::OpenAi,
            model: "gpt-4o-mini".into(),
            provider_credentials: None,
            prompt_template: None,
            parameters: Some(ModelParameters {
                temperature: Some(0.2),
                max_tokens: None,
                top_p: None,
            }),
            limits: None,
            write_connection_secret_to_ref: None,
            deletion_policy: DeletionPolicy::Delete,
        }
    }

    #[test]
    fn credential_does_not_count_as_drift() {
        let desired = gateway_spec(&spec(), Some(SecretString::from("sk-1")));
        let observed = gateway_spec(&spec(), None);
        assert!(visible_spec_matches(&observed, &desired));
    }

    #[test]
    fn changed_parameter_is_drift() {
        let desired = gateway_spec(&spec(), None);
        let mut changed = spec();
        changed.parameters = None;
        assert!(!visible_spec_matches(
            &gateway_spec(&changed, None),
            &desired
        ));
    }
}
