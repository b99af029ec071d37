//! Reconcile errors: one variant per step that can fail, each keeping its source, with the
//! condition reason users see, whether retrying can help, and a category for metrics.
//!
//! Gateway failures arrive already classified ([`FailureCause`], next to the gateway error type):
//! this file maps causes to reasons, and never looks at a status code.

use std::time::Duration;

use portico_gateway_client::{CallRecord, ErrorClass, FailureCause, GatewayError};

use crate::credentials::CredentialsError;

/// Why a reconcile did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A referenced Secret or key is missing, or could not be read.
    #[error("failed to read provider credentials: {0}")]
    Credentials(#[source] CredentialsError),
    /// The spec passes the schema but cannot be sent to the gateway.
    #[error("failed to validate the spec: {0}")]
    InvalidSpec(String),
    /// A gateway call failed (boxed: the call record makes it large).
    #[error("{0}")]
    Gateway(#[source] Box<GatewayError>),
    /// The gateway reported the external object as failed.
    #[error("the gateway reports the object as failed: {0}")]
    ExternalFailed(String),
    /// The gateway holds the model, but its check of the upstream with the credential failed:
    /// the model is not callable (boxed: the call record makes it large).
    #[error("{0}")]
    UpstreamCheckFailed(Box<UpstreamCheckFailure>),
    /// The connection Secret exists and another owner controls it: it is left untouched.
    #[error(
        "secret {namespace}/{name} is not controlled by this resource ({holder}); it is left \
         untouched: name another secret in writeConnectionSecretToRef"
    )]
    ConnectionSecretConflict {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// Who controls it, as far as its metadata says.
        holder: String,
    },
    /// `portico.dev/external-name` was changed after the gateway object was provisioned.
    #[error(
        "portico.dev/external-name changed from {from:?} to {to:?}; the gateway object keeps its \
         name (to adopt another, delete this resource with deletionPolicy Orphan and create a \
         new one)"
    )]
    ExternalNameChanged {
        /// The name the gateway object has.
        from: String,
        /// The name asked for now.
        to: String,
    },
    /// The connection Secret could not be read.
    #[error("failed to read the connection secret: {0}")]
    ConnectionSecretRead(#[source] kube::Error),
    /// The connection Secret could not be written.
    #[error("failed to write the connection secret: {0}")]
    ConnectionSecretWrite(#[source] kube::Error),
    /// The status could not be written.
    #[error("failed to update status: {0}")]
    Status(#[source] kube::Error),
    /// The finalizer could not be added or removed.
    #[error("failed to update the finalizer: {0}")]
    Finalizer(#[source] kube::Error),
}

/// Why the gateway's check of a model's upstream failed (`upstreamCheck.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamReason {
    /// The upstream refused the credential.
    Unauthorized,
    /// The upstream did not answer.
    Unreachable,
    /// The gateway's administrator does not allow this upstream.
    NotAllowed,
    /// The upstream refused the call for another reason (e.g. an unknown model or deployment).
    Rejected,
    /// The upstream failed.
    Error,
    /// A reason this operator does not know (or none): handled like a failing upstream.
    Other,
}

impl UpstreamReason {
    /// The reason as the gateway words it; unknown and absent reasons are [`Self::Other`].
    pub fn parse(reason: Option<&str>) -> Self {
        match reason {
            Some("UpstreamUnauthorized") => UpstreamReason::Unauthorized,
            Some("UpstreamUnreachable") => UpstreamReason::Unreachable,
            Some("UpstreamNotAllowed") => UpstreamReason::NotAllowed,
            Some("UpstreamRejected") => UpstreamReason::Rejected,
            Some("UpstreamError") => UpstreamReason::Error,
            _ => UpstreamReason::Other,
        }
    }

    /// The condition reason (the gateway's word for the known ones).
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamReason::Unauthorized => "UpstreamUnauthorized",
            UpstreamReason::Unreachable => "UpstreamUnreachable",
            UpstreamReason::NotAllowed => "UpstreamNotAllowed",
            UpstreamReason::Rejected => "UpstreamRejected",
            UpstreamReason::Error => "UpstreamError",
            UpstreamReason::Other => "UpstreamCheckFailed",
        }
    }
}

/// A failed upstream check: what the gateway said, the call that told it, and what it was
/// checked with.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the gateway's check of the upstream failed ({}): {message} [{call}]", reason.as_str())]
pub struct UpstreamCheckFailure {
    /// Why it failed.
    pub reason: UpstreamReason,
    /// What the upstream or the gateway said.
    pub message: String,
    /// The gateway call whose answer carried the check.
    pub call: CallRecord,
    /// The gateway model's name.
    pub external_name: String,
    /// The `resourceVersion` of the provider-key Secret whose value the gateway holds (and
    /// checked with): a later change of the Secret is what a re-check needs.
    pub credentials_version: Option<String>,
}

impl From<GatewayError> for ReconcileError {
    fn from(error: GatewayError) -> Self {
        ReconcileError::Gateway(Box::new(error))
    }
}

/// The `Synced` reason of a gateway failure of this cause.
pub fn gateway_reason(cause: FailureCause) -> &'static str {
    match cause {
        FailureCause::NoToken | FailureCause::Unauthorized => "Unauthorized",
        FailureCause::Invalid => "InvalidSpec",
        FailureCause::Conflict => "Conflict",
        FailureCause::NotFound => "NotFound",
        FailureCause::RateLimited => "RateLimited",
        FailureCause::Unavailable => "GatewayUnavailable",
        FailureCause::Malformed => "GatewayMalformedResponse",
        FailureCause::Rejected => "GatewayRejected",
    }
}

impl ReconcileError {
    /// The `Synced` condition's reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Credentials(_) => "CredentialsMissing",
            ReconcileError::InvalidSpec(_) => "InvalidSpec",
            ReconcileError::ExternalFailed(_) => "ProvisioningFailed",
            ReconcileError::UpstreamCheckFailed(failure) => failure.reason.as_str(),
            ReconcileError::ConnectionSecretConflict { .. } => "ConnectionSecretConflict",
            ReconcileError::ExternalNameChanged { .. } => "ExternalNameImmutable",
            ReconcileError::ConnectionSecretRead(_)
            | ReconcileError::ConnectionSecretWrite(_)
            | ReconcileError::Status(_)
            | ReconcileError::Finalizer(_) => "KubernetesError",
            ReconcileError::Gateway(error) => gateway_reason(error.cause()),
        }
    }

    /// Whether retrying without a change of inputs can succeed, and not before when.
    pub fn retry(&self) -> Retry {
        match self {
            ReconcileError::Credentials(CredentialsError::Kube { .. }) => Retry::After(None),
            ReconcileError::Credentials(_)
            | ReconcileError::InvalidSpec(_)
            | ReconcileError::ExternalFailed(_)
            | ReconcileError::ConnectionSecretConflict { .. }
            | ReconcileError::ExternalNameChanged { .. } => Retry::OnChange,
            // A refusal stands until the spec or the provider key changes (a new Secret version
            // makes the next reconcile write the model again, and the gateway checks again); an
            // upstream that did not answer or failed may recover: retried with backoff, each
            // attempt a write (the object is not Ready), so the gateway checks again.
            ReconcileError::UpstreamCheckFailed(failure) => match failure.reason {
                UpstreamReason::Unauthorized
                | UpstreamReason::NotAllowed
                | UpstreamReason::Rejected => Retry::OnChange,
                UpstreamReason::Unreachable | UpstreamReason::Error | UpstreamReason::Other => {
                    Retry::After(None)
                }
            },
            ReconcileError::Gateway(error) => match error.class() {
                ErrorClass::Retryable { retry_after } => Retry::After(retry_after),
                ErrorClass::Terminal => Retry::OnChange,
                // A 404 where the object should exist: it will be recreated on the next pass.
                ErrorClass::NotFound => Retry::After(None),
            },
            ReconcileError::ConnectionSecretRead(_)
            | ReconcileError::ConnectionSecretWrite(_)
            | ReconcileError::Status(_)
            | ReconcileError::Finalizer(_) => Retry::After(None),
        }
    }

    /// Whether the failure means the resource cannot be used as it is, whatever it was before
    /// (its connection Secret is not its own, or its upstream cannot be called): `Ready` turns
    /// `False` even if it was `True`.
    pub fn makes_unready(&self) -> bool {
        matches!(
            self,
            ReconcileError::ConnectionSecretConflict { .. }
                | ReconcileError::UpstreamCheckFailed(_)
        )
    }

    /// The gateway call this error came from, if any.
    pub fn call(&self) -> Option<&CallRecord> {
        match self {
            ReconcileError::Gateway(error) => Some(error.call()),
            ReconcileError::UpstreamCheckFailed(failure) => Some(&failure.call),
            _ => None,
        }
    }

    /// Metrics label: which step failed.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Credentials(_) => "credentials",
            ReconcileError::InvalidSpec(_) | ReconcileError::ExternalNameChanged { .. } => {
                "validate"
            }
            ReconcileError::Gateway(_) | ReconcileError::ExternalFailed(_) => "gateway",
            ReconcileError::UpstreamCheckFailed(_) => "upstream",
            ReconcileError::ConnectionSecretRead(_)
            | ReconcileError::ConnectionSecretWrite(_)
            | ReconcileError::ConnectionSecretConflict { .. } => "connection_secret",
            ReconcileError::Status(_) => "status",
            ReconcileError::Finalizer(_) => "finalizer",
        }
    }
}

/// When a failed reconcile may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Retry with backoff, not before the given delay.
    After(Option<Duration>),
    /// Terminal: wait for the spec, a referenced Secret or the token to change.
    OnChange,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use portico_gateway_client::GatewayErrorKind;

    use super::*;

    fn gateway_error(kind: GatewayErrorKind) -> ReconcileError {
        let call = CallRecord {
            operation: "upsertModel",
            method: "PUT",
            path: "/v1/namespaces/team-a/models/m".into(),
            http_status: None,
            trace_id: None,
            limiter_wait: Duration::ZERO,
            latency: Duration::ZERO,
        };
        GatewayError::new(kind, call).into()
    }

    fn status(status: u16, retry_after: Option<Duration>) -> ReconcileError {
        gateway_error(GatewayErrorKind::Status {
            status,
            code: "x".into(),
            message: "x".into(),
            details: Vec::new(),
            retry_after,
        })
    }

    /// Status → reason → retry, for every class of status the gateway can answer.
    #[test]
    fn every_status_maps_to_one_reason_and_retry() {
        let wait = Some(Duration::from_secs(4));
        let cases: &[(u16, &str, Retry)] = &[
            (200, "GatewayMalformedResponse", Retry::After(wait)),
            (302, "GatewayMalformedResponse", Retry::After(wait)),
            (400, "InvalidSpec", Retry::OnChange),
            (401, "Unauthorized", Retry::OnChange),
            (403, "Unauthorized", Retry::OnChange),
            (404, "NotFound", Retry::After(None)),
            (405, "GatewayRejected", Retry::OnChange),
            (408, "GatewayUnavailable", Retry::After(wait)),
            (409, "Conflict", Retry::OnChange),
            // 410 Gone: NotFound for the class and for the reason alike.
            (410, "NotFound", Retry::After(None)),
            (422, "InvalidSpec", Retry::OnChange),
            (429, "RateLimited", Retry::After(wait)),
            (500, "GatewayUnavailable", Retry::After(wait)),
            (502, "GatewayUnavailable", Retry::After(wait)),
            (503, "GatewayUnavailable", Retry::After(wait)),
            (504, "GatewayUnavailable", Retry::After(wait)),
            (600, "GatewayMalformedResponse", Retry::After(wait)),
        ];
        for &(code, reason, retry) in cases {
            let error = status(code, wait);
            assert_eq!((error.reason(), error.retry()), (reason, retry), "{code}");
            assert_eq!(error.category(), "gateway");
            assert!(error.call().is_some());
        }
    }

    #[test]
    fn failures_without_a_status_map_to_one_reason_and_retry() {
        let cases = [
            (GatewayErrorKind::NoToken, "Unauthorized", Retry::OnChange),
            (
                GatewayErrorKind::InvalidRequest("bad".into()),
                "InvalidSpec",
                Retry::OnChange,
            ),
            (
                GatewayErrorKind::Timeout,
                "GatewayUnavailable",
                Retry::After(None),
            ),
            (
                GatewayErrorKind::Connect("refused".into()),
                "GatewayUnavailable",
                Retry::After(None),
            ),
            (
                GatewayErrorKind::MalformedResponse("not json".into()),
                "GatewayMalformedResponse",
                Retry::After(None),
            ),
        ];
        for (kind, reason, retry) in cases {
            let error = gateway_error(kind);
            assert_eq!((error.reason(), error.retry()), (reason, retry));
        }
    }

    fn upstream_failure(reason: Option<&str>) -> ReconcileError {
        ReconcileError::UpstreamCheckFailed(Box::new(UpstreamCheckFailure {
            reason: UpstreamReason::parse(reason),
            message: "401 from upstream: invalid api key".into(),
            call: CallRecord {
                operation: "upsertModel",
                method: "PUT",
                path: "/v1/namespaces/team-a/models/m".into(),
                http_status: Some(200),
                trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
                limiter_wait: Duration::ZERO,
                latency: Duration::ZERO,
            },
            external_name: "m".into(),
            credentials_version: Some("7".into()),
        }))
    }

    /// Check reason → condition reason → retry: refusals wait for a change, an upstream that
    /// may recover is retried; every one makes the object unready and names the call.
    #[test]
    fn every_upstream_check_reason_maps_to_one_reason_and_retry() {
        let cases = [
            (
                Some("UpstreamUnauthorized"),
                "UpstreamUnauthorized",
                Retry::OnChange,
            ),
            (
                Some("UpstreamNotAllowed"),
                "UpstreamNotAllowed",
                Retry::OnChange,
            ),
            (
                Some("UpstreamRejected"),
                "UpstreamRejected",
                Retry::OnChange,
            ),
            (
                Some("UpstreamUnreachable"),
                "UpstreamUnreachable",
                Retry::After(None),
            ),
            (Some("UpstreamError"), "UpstreamError", Retry::After(None)),
            (
                Some("SomethingNew"),
                "UpstreamCheckFailed",
                Retry::After(None),
            ),
            (None, "UpstreamCheckFailed", Retry::After(None)),
        ];
        for (gateway_reason, reason, retry) in cases {
            let error = upstream_failure(gateway_reason);
            assert_eq!(
                (error.reason(), error.retry()),
                (reason, retry),
                "{gateway_reason:?}"
            );
            assert_eq!(error.category(), "upstream");
            assert!(error.makes_unready(), "{gateway_reason:?}");
            assert_eq!(error.call().map(|call| call.operation), Some("upsertModel"));
        }
        assert_eq!(
            upstream_failure(Some("UpstreamUnauthorized")).to_string(),
            "the gateway's check of the upstream failed (UpstreamUnauthorized): 401 from \
             upstream: invalid api key [PUT /v1/namespaces/team-a/models/m -> 200 (trace \
             4bf92f3577b34da6a3ce929d0e0e4736)]"
        );
    }

    #[test]
    fn kubernetes_failures_keep_their_source_and_say_what_failed() {
        let api_error = || {
            kube::Error::Api(
                kube::core::Status::failure("secrets \"x\" is forbidden", "Forbidden")
                    .with_code(403)
                    .boxed(),
            )
        };
        let read = ReconcileError::ConnectionSecretRead(api_error());
        let write = ReconcileError::ConnectionSecretWrite(api_error());
        let finalizer = ReconcileError::Finalizer(api_error());
        assert!(
            read.to_string()
                .starts_with("failed to read the connection secret")
        );
        assert!(
            write
                .to_string()
                .starts_with("failed to write the connection secret")
        );
        for error in [&read, &write, &finalizer] {
            assert!(error.source().is_some(), "{error}");
            assert_eq!(error.reason(), "KubernetesError");
            assert_eq!(error.retry(), Retry::After(None));
        }
        assert_eq!(finalizer.category(), "finalizer");
        assert_eq!(read.category(), "connection_secret");
    }

    #[test]
    fn credential_failures_are_terminal_unless_the_api_failed() {
        let missing = ReconcileError::Credentials(CredentialsError::SecretNotFound {
            namespace: "ns".into(),
            name: "key".into(),
        });
        assert_eq!(
            (missing.reason(), missing.retry()),
            ("CredentialsMissing", Retry::OnChange)
        );
        assert_eq!(missing.category(), "credentials");
    }
}
