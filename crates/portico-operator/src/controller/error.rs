//! Reconcile errors: one variant per step that can fail, each with the condition reason users
//! see, whether retrying can help, and a category for metrics.

use std::time::Duration;

use crate::credentials::CredentialsError;
use portico_gateway_client::{CallRecord, ErrorClass, GatewayError, GatewayErrorKind};

/// Why a reconcile did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A referenced Secret or key is missing.
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
    /// The connection Secret could not be read or written.
    #[error("failed to write the connection secret: {0}")]
    ConnectionSecret(#[source] kube::Error),
    /// The status could not be written.
    #[error("failed to update status: {0}")]
    Status(#[source] kube::Error),
    /// The finalizer could not be added or removed.
    #[error("failed to update the finalizer: {0}")]
    Finalizer(String),
}

impl From<GatewayError> for ReconcileError {
    fn from(error: GatewayError) -> Self {
        ReconcileError::Gateway(Box::new(error))
    }
}

impl ReconcileError {
    /// The `Synced` condition's reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Credentials(_) => "CredentialsMissing",
            ReconcileError::InvalidSpec(_) => "InvalidSpec",
            ReconcileError::ExternalFailed(_) => "ProvisioningFailed",
            ReconcileError::ConnectionSecret(_)
            | ReconcileError::Status(_)
            | ReconcileError::Finalizer(_) => "KubernetesError",
            ReconcileError::Gateway(error) => match error.kind() {
                GatewayErrorKind::NoToken => "Unauthorized",
                GatewayErrorKind::InvalidRequest(_) => "InvalidSpec",
                GatewayErrorKind::Timeout | GatewayErrorKind::Connect(_) => "GatewayUnavailable",
                GatewayErrorKind::MalformedResponse(_) => "GatewayMalformedResponse",
                GatewayErrorKind::Status { status, .. } => match status {
                    401 | 403 => "Unauthorized",
                    409 => "Conflict",
                    400 | 422 => "InvalidSpec",
                    404 => "NotFound",
                    429 => "RateLimited",
                    // A success or redirect status the contract does not declare here: the
                    // gateway answered outside its contract.
                    100..=399 => "GatewayMalformedResponse",
                    _ => "GatewayUnavailable",
                },
            },
        }
    }

    /// Whether retrying without a change of inputs can succeed, and not before when.
    pub fn retry(&self) -> Retry {
        match self {
            ReconcileError::Credentials(CredentialsError::Kube { .. }) => Retry::After(None),
            ReconcileError::Credentials(_)
            | ReconcileError::InvalidSpec(_)
            | ReconcileError::ExternalFailed(_) => Retry::OnChange,
            ReconcileError::Gateway(error) => match error.class() {
                ErrorClass::Retryable { retry_after } => Retry::After(retry_after),
                ErrorClass::Terminal => Retry::OnChange,
                // A 404 where the object should exist: it will be recreated on the next pass.
                ErrorClass::NotFound => Retry::After(None),
            },
            ReconcileError::ConnectionSecret(_)
            | ReconcileError::Status(_)
            | ReconcileError::Finalizer(_) => Retry::After(None),
        }
    }

    /// The gateway call this error came from, if any.
    pub fn call(&self) -> Option<&CallRecord> {
        match self {
            ReconcileError::Gateway(error) => Some(error.call()),
            _ => None,
        }
    }

    /// Metrics label: which step failed.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Credentials(_) => "credentials",
            ReconcileError::InvalidSpec(_) => "validate",
            ReconcileError::Gateway(_) | ReconcileError::ExternalFailed(_) => "gateway",
            ReconcileError::ConnectionSecret(_) => "connection_secret",
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
