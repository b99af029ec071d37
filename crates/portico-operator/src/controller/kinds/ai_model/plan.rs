//! What an AIModel reconcile must do, decided from the spec, the status and the observed Secret
//! version alone: no I/O, no Kubernetes types beyond the CRD types. Table-tested below.

use portico_api::{AIModelSpec, AIModelStatus};
use portico_gateway_client as gateway;
use secrecy::SecretString;

use crate::controller::UpstreamReason;
use crate::controller::status::is_ready;

/// What the plan looks at.
#[derive(Debug, Clone, Copy)]
pub(super) struct Observed<'a> {
    pub spec: &'a AIModelSpec,
    pub status: Option<&'a AIModelStatus>,
    pub generation: i64,
    pub external_name: &'a str,
    /// The provider-key Secret's `resourceVersion` as the Secret watch last saw it.
    pub key_version_seen: Option<&'a str>,
}

/// The first decisions of a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Status already shows this generation Ready under this external name: only drift or a
    /// changed key can require a write.
    pub quiet: bool,
    /// Read the provider key first: its value may have to be sent, or its version to be
    /// compared. A quiet object whose key version is known unchanged does without the read.
    pub read_key: bool,
}

/// The gateway call that brings the model to the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ModelStep {
    /// Write the model (PUT): something we know of changed.
    Upsert,
    /// Read the model (GET) and write only if it drifted or is gone.
    CheckDrift,
}

/// What to do about the issued API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyStep {
    /// The connection Secret holds the key of the existing gateway model.
    Keep,
    /// Issue the key (again): the model is new, or its key's value was lost.
    Issue,
}

/// The plan for an observed object.
pub(super) fn plan(observed: &Observed<'_>) -> Plan {
    let status = observed.status;
    let quiet = status.is_some_and(|status| {
        status.observed_generation == Some(observed.generation)
            && status.external_name.as_deref() == Some(observed.external_name)
            && is_ready(status)
    });
    let sent = status.and_then(|status| status.provider_credentials_version.as_deref());
    let key_unchanged = match &observed.spec.provider_credentials {
        None => sent.is_none(),
        Some(_) => observed.key_version_seen.is_some() && observed.key_version_seen == sent,
    };
    Plan {
        quiet,
        read_key: !(quiet && key_unchanged),
    }
}

impl Plan {
    /// Once the key's version is known (`key_version`: read now, or what status recorded when
    /// no read was needed; `sent`: what the gateway last received): write, or check for drift.
    pub(super) fn model_step(&self, sent: Option<&str>, key_version: Option<&str>) -> ModelStep {
        if !self.quiet || sent != key_version {
            ModelStep::Upsert
        } else {
            ModelStep::CheckDrift
        }
    }
}

/// After a drift check: `found` is the gateway's copy (`None`: it is gone).
pub(super) fn after_drift_check(
    found: Option<&gateway::ModelSpec>,
    desired: &gateway::ModelSpec,
) -> ModelStep {
    match found {
        Some(observed) if visible_spec_matches(observed, desired) => ModelStep::CheckDrift,
        _ => ModelStep::Upsert,
    }
}

/// Whether the key in the connection Secret can be kept. A newly created gateway model has no
/// keys, whatever an old Secret still holds.
pub(super) fn key_step(stored_key: bool, model_created: bool) -> KeyStep {
    if stored_key && !model_created {
        KeyStep::Keep
    } else {
        KeyStep::Issue
    }
}

/// The gateway's form of the spec.
pub(super) fn desired_model(
    spec: &AIModelSpec,
    credential: Option<SecretString>,
) -> gateway::ModelSpec {
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
        upstream: spec
            .upstream
            .as_ref()
            .map(|upstream| gateway::Upstream {
                base_url: upstream.base_url.clone(),
                azure_deployment: upstream.azure.as_ref().map(|a| a.deployment.clone()),
                azure_api_version: upstream.azure.as_ref().map(|a| a.api_version.clone()),
            })
            .filter(|upstream| *upstream != gateway::Upstream::default()),
    }
}

/// Whether the gateway's last check of the upstream failed, and why: `Passed`, `Unchecked`
/// and no check at all (a gateway that does not check) count as callable.
pub(super) fn upstream_failure(
    check: Option<&gateway::UpstreamCheck>,
) -> Option<(UpstreamReason, String)> {
    let check = check.filter(|check| check.state == "Failed")?;
    Some((
        UpstreamReason::parse(check.reason.as_deref()),
        check
            .message
            .clone()
            .filter(|message| !message.trim().is_empty())
            .unwrap_or_else(|| "the gateway gave no detail".into()),
    ))
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
        && observed.upstream.clone().unwrap_or_default()
            == desired.upstream.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use portico_api::{
        AzureUpstream, CONDITION_READY, DeletionPolicy, ModelParameters, Phase, Provider,
        SecretKeySelector, Upstream,
    };

    use super::*;

    fn spec(with_key: bool) -> AIModelSpec {
        AIModelSpec {
            provider: Provider::OpenAi,
            model: "gpt-4o-mini".into(),
            upstream: None,
            provider_credentials: with_key.then(|| SecretKeySelector {
                name: "provider-key".into(),
                key: "apiKey".into(),
            }),
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

    fn status(ready: bool, generation: i64, name: &str, sent: Option<&str>) -> AIModelStatus {
        status_because(ready, "Test", generation, name, sent)
    }

    fn status_because(
        ready: bool,
        reason: &str,
        generation: i64,
        name: &str,
        sent: Option<&str>,
    ) -> AIModelStatus {
        AIModelStatus {
            phase: Some(if ready { Phase::Ready } else { Phase::Pending }),
            observed_generation: Some(generation),
            external_name: Some(name.into()),
            provider_credentials_version: sent.map(Into::into),
            conditions: vec![Condition {
                type_: CONDITION_READY.into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: reason.into(),
                message: String::new(),
                observed_generation: Some(generation),
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            }],
            ..AIModelStatus::default()
        }
    }

    #[test]
    fn plan_table() {
        let ready = status(true, 2, "m", Some("7"));
        let ready_without_key = status(true, 2, "m", None);
        let not_ready = status(false, 2, "m", Some("7"));
        // A failed upstream check leaves the object not Ready, with the key it was checked with
        // recorded as sent: the next attempt writes again (the gateway checks again), whether
        // the key changed or not.
        let upstream_failed = status_because(false, "UpstreamUnreachable", 2, "m", Some("7"));
        let (with_key, without_key) = (spec(true), spec(false));
        let seen = |spec, status, generation, external_name, key_version_seen| Observed {
            spec,
            status,
            generation,
            external_name,
            key_version_seen,
        };
        // (case, what is observed, (quiet, read_key))
        let cases = [
            (
                "new object",
                seen(&with_key, None, 1, "m", None),
                (false, true),
            ),
            (
                "not ready",
                seen(&with_key, Some(&not_ready), 2, "m", Some("7")),
                (false, true),
            ),
            (
                "upstream failed, key same",
                seen(&with_key, Some(&upstream_failed), 2, "m", Some("7")),
                (false, true),
            ),
            (
                "upstream failed, key fixed",
                seen(&with_key, Some(&upstream_failed), 2, "m", Some("8")),
                (false, true),
            ),
            (
                "spec changed",
                seen(&with_key, Some(&ready), 3, "m", Some("7")),
                (false, true),
            ),
            (
                "name moved",
                seen(&with_key, Some(&ready), 2, "x", Some("7")),
                (false, true),
            ),
            (
                "key same",
                seen(&with_key, Some(&ready), 2, "m", Some("7")),
                (true, false),
            ),
            (
                "key rotated",
                seen(&with_key, Some(&ready), 2, "m", Some("8")),
                (true, true),
            ),
            (
                "key unknown",
                seen(&with_key, Some(&ready), 2, "m", None),
                (true, true),
            ),
            (
                "no key",
                seen(&without_key, Some(&ready_without_key), 2, "m", None),
                (true, false),
            ),
            (
                "key dropped",
                seen(&without_key, Some(&ready), 2, "m", None),
                (true, true),
            ),
        ];
        for (case, observed, (quiet, read_key)) in cases {
            assert_eq!(plan(&observed), Plan { quiet, read_key }, "{case}");
        }
    }

    #[test]
    fn model_step_table() {
        let quiet = Plan {
            quiet: true,
            read_key: true,
        };
        let busy = Plan {
            quiet: false,
            read_key: true,
        };
        let cases = [
            (quiet, Some("7"), Some("7"), ModelStep::CheckDrift),
            (quiet, None, None, ModelStep::CheckDrift),
            (quiet, Some("7"), Some("8"), ModelStep::Upsert),
            (quiet, None, Some("8"), ModelStep::Upsert),
            (busy, Some("7"), Some("7"), ModelStep::Upsert),
            (busy, None, None, ModelStep::Upsert),
        ];
        for (plan, sent, version, step) in cases {
            assert_eq!(
                plan.model_step(sent, version),
                step,
                "{plan:?} {sent:?} {version:?}"
            );
        }
    }

    #[test]
    fn key_step_table() {
        assert_eq!(key_step(true, false), KeyStep::Keep);
        assert_eq!(key_step(true, true), KeyStep::Issue);
        assert_eq!(key_step(false, false), KeyStep::Issue);
        assert_eq!(key_step(false, true), KeyStep::Issue);
    }

    #[test]
    fn drift_table() {
        let desired = desired_model(&spec(false), Some(SecretString::from("sk-1")));
        let same = desired_model(&spec(false), None);
        let mut changed_spec = spec(false);
        changed_spec.parameters = None;
        let changed = desired_model(&changed_spec, None);
        // The credential is write-only: its absence in the gateway's copy is not drift.
        assert_eq!(
            after_drift_check(Some(&same), &desired),
            ModelStep::CheckDrift
        );
        assert_eq!(
            after_drift_check(Some(&changed), &desired),
            ModelStep::Upsert
        );
        assert_eq!(after_drift_check(None, &desired), ModelStep::Upsert);
    }

    fn azure_spec(base_url: &str, deployment: &str) -> AIModelSpec {
        AIModelSpec {
            provider: Provider::AzureOpenAi,
            upstream: Some(Upstream {
                base_url: Some(base_url.into()),
                azure: Some(AzureUpstream {
                    deployment: deployment.into(),
                    api_version: "2024-10-21".into(),
                }),
            }),
            ..spec(true)
        }
    }

    #[test]
    fn upstream_maps_to_the_gateway_and_counts_as_drift() {
        let desired = desired_model(&azure_spec("https://r.openai.azure.com", "gpt4o"), None);
        assert_eq!(
            desired.upstream,
            Some(gateway::Upstream {
                base_url: Some("https://r.openai.azure.com".into()),
                azure_deployment: Some("gpt4o".into()),
                azure_api_version: Some("2024-10-21".into()),
            })
        );
        // No upstream, or an empty one, sends none.
        assert_eq!(desired_model(&spec(true), None).upstream, None);
        let empty = AIModelSpec {
            upstream: Some(Upstream::default()),
            ..spec(true)
        };
        assert_eq!(desired_model(&empty, None).upstream, None);
        // Drift: another URL or deployment at the gateway is rewritten; the same is not; an
        // empty upstream at the gateway is the same as none.
        let same = desired_model(&azure_spec("https://r.openai.azure.com", "gpt4o"), None);
        let moved = desired_model(&azure_spec("https://x.openai.azure.com", "gpt4o"), None);
        let redeployed = desired_model(&azure_spec("https://r.openai.azure.com", "other"), None);
        assert_eq!(
            after_drift_check(Some(&same), &desired),
            ModelStep::CheckDrift
        );
        assert_eq!(after_drift_check(Some(&moved), &desired), ModelStep::Upsert);
        assert_eq!(
            after_drift_check(Some(&redeployed), &desired),
            ModelStep::Upsert
        );
        let mut none_at_gateway = desired_model(&spec(true), None);
        let plain = desired_model(&spec(true), None);
        none_at_gateway.upstream = Some(gateway::Upstream::default());
        assert_eq!(
            after_drift_check(Some(&none_at_gateway), &plain),
            ModelStep::CheckDrift
        );
        assert_eq!(after_drift_check(Some(&plain), &desired), ModelStep::Upsert);
    }

    #[test]
    fn only_a_failed_check_is_a_failure() {
        let check =
            |state: &str, reason: Option<&str>, message: Option<&str>| gateway::UpstreamCheck {
                state: state.into(),
                reason: reason.map(Into::into),
                message: message.map(Into::into),
            };
        assert_eq!(upstream_failure(None), None);
        assert_eq!(upstream_failure(Some(&check("Passed", None, None))), None);
        assert_eq!(
            upstream_failure(Some(&check("Unchecked", None, None))),
            None
        );
        assert_eq!(
            upstream_failure(Some(&check(
                "Failed",
                Some("UpstreamUnauthorized"),
                Some("401: invalid api key")
            ))),
            Some((UpstreamReason::Unauthorized, "401: invalid api key".into()))
        );
        assert_eq!(
            upstream_failure(Some(&check("Failed", Some("UpstreamUnreachable"), None))),
            Some((
                UpstreamReason::Unreachable,
                "the gateway gave no detail".into()
            ))
        );
        assert_eq!(
            upstream_failure(Some(&check("Failed", None, Some(" ")))),
            Some((UpstreamReason::Other, "the gateway gave no detail".into()))
        );
    }
}
