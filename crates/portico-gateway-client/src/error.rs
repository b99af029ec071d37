//! Gateway call errors, their class (what a caller should do about them) and the record of the
//! call that produced them.
use std::fmt;
use std::time::Duration;

/// What one gateway call was, for status fields, condition messages and metrics. Never holds
/// a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The contract's operationId, e.g. `upsertModel`.
    pub operation: &'static str,
    /// HTTP method, e.g. `PUT`.
    pub method: &'static str,
    /// The concrete request path, e.g. `/v1/namespaces/team-a/models/summarizer`.
    pub path: String,
    /// Status the gateway answered with; `None` when no response arrived.
    pub http_status: Option<u16>,
    /// W3C trace id (32 hex digits) of the call's span, when an OpenTelemetry context exists.
    pub trace_id: Option<String>,
    /// Time spent waiting for the shared limiter (rate limit and `Retry-After` pauses).
    pub limiter_wait: Duration,
    /// Time from sending the request to having the parsed answer.
    pub latency: Duration,
}

impl fmt::Display for CallRecord {
    /// `PUT /v1/namespaces/team-a/models/summarizer -> 201 (trace 4bf92f…)`, with the full trace id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> ", self.method, self.path)?;
        match self.http_status {
            Some(status) => write!(f, "{status}")?,
            None => f.write_str("no response")?,
        }
        if let Some(trace_id) = &self.trace_id {
            write!(f, " (trace {trace_id})")?;
        }
        Ok(())
    }
}

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retrying the same request will not help (invalid spec, bad credentials, conflict): wait
    /// for the input to change.
    Terminal,
    /// Retrying later may succeed; wait at least `retry_after` when the gateway said so.
    Retryable {
        /// The gateway's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The object does not exist at the gateway (for a delete: already gone).
    NotFound,
}

/// One invalid field named by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    /// JSON path of the field, e.g. `parameters.temperature`.
    pub field: String,
    /// Why the gateway refused it.
    pub reason: String,
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayErrorKind {
    /// The token provider had no token, so no request was sent.
    #[error("no gateway token is available (the token Secret is missing or empty)")]
    NoToken,
    /// The request could not be built from the given values (they violate the contract).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The gateway answered with an error status. `code`, `message` and `details` come from its
    /// `Error` body when it sent one.
    #[error("gateway answered {status} {code}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The gateway's error code, or `unparsable_error_body` when the body was not the
        /// declared JSON.
        code: String,
        /// The gateway's message.
        message: String,
        /// Invalid fields.
        details: Vec<ErrorDetail>,
        /// `Retry-After` (header, else the body's `retryAfterSeconds`).
        retry_after: Option<Duration>,
    },
    /// No answer within the per-request timeout.
    #[error("the gateway did not answer in time")]
    Timeout,
    /// The connection could not be made or broke.
    #[error("failed to reach the gateway: {0}")]
    Connect(String),
    /// A success status whose body was not what the contract declares.
    #[error("the gateway's answer was malformed: {0}")]
    MalformedResponse(String),
}

/// A failed gateway call: why, and the call record.
///
/// Neither `Display` nor `Debug` can show the token: it is never stored here.
#[derive(Clone)]
pub struct GatewayError {
    // Boxed: results travel through every reconcile, and the error is the rare, large side.
    inner: Box<(GatewayErrorKind, CallRecord)>,
}

impl fmt::Debug for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayError")
            .field("kind", &self.inner.0)
            .field("call", &self.inner.1)
            .finish()
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failed to call the gateway: {} [{}]",
            self.inner.0, self.inner.1
        )
    }
}

impl std::error::Error for GatewayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner.0)
    }
}

impl GatewayError {
    pub(crate) fn new(kind: GatewayErrorKind, call: CallRecord) -> Self {
        GatewayError {
            inner: Box::new((kind, call)),
        }
    }

    /// Why the call failed.
    pub fn kind(&self) -> &GatewayErrorKind {
        &self.inner.0
    }

    /// The call that failed.
    pub fn call(&self) -> &CallRecord {
        &self.inner.1
    }

    /// The HTTP status, if a response arrived.
    pub fn status(&self) -> Option<u16> {
        match &self.inner.0 {
            GatewayErrorKind::Status { status, .. } => Some(*status),
            _ => self.inner.1.http_status,
        }
    }

    /// The gateway's error code (`invalid`, `conflict`, …) or a local one (`no_token`,
    /// `invalid_request`, `timeout`, `connect`, `malformed_response`).
    pub fn code(&self) -> &str {
        match &self.inner.0 {
            GatewayErrorKind::NoToken => "no_token",
            GatewayErrorKind::InvalidRequest(_) => "invalid_request",
            GatewayErrorKind::Status { code, .. } => code,
            GatewayErrorKind::Timeout => "timeout",
            GatewayErrorKind::Connect(_) => "connect",
            GatewayErrorKind::MalformedResponse(_) => "malformed_response",
        }
    }

    /// The human-readable message (the gateway's, when it sent one).
    pub fn message(&self) -> String {
        match &self.inner.0 {
            GatewayErrorKind::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Invalid fields named by the gateway.
    pub fn details(&self) -> &[ErrorDetail] {
        match &self.inner.0 {
            GatewayErrorKind::Status { details, .. } => details,
            _ => &[],
        }
    }

    /// `Retry-After` as the gateway sent it.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.inner.0 {
            GatewayErrorKind::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// What the caller should do about it.
    pub fn class(&self) -> ErrorClass {
        match &self.inner.0 {
            GatewayErrorKind::NoToken | GatewayErrorKind::InvalidRequest(_) => ErrorClass::Terminal,
            GatewayErrorKind::Status {
                status,
                retry_after,
                ..
            } => class_of_status(*status, *retry_after),
            GatewayErrorKind::Timeout
            | GatewayErrorKind::Connect(_)
            | GatewayErrorKind::MalformedResponse(_) => ErrorClass::Retryable { retry_after: None },
        }
    }
}

/// The class an error status belongs to.
pub fn class_of_status(status: u16, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        404 | 410 => ErrorClass::NotFound,
        408 | 429 | 500..=599 => ErrorClass::Retryable { retry_after },
        400..=499 => ErrorClass::Terminal,
        // Informational, redirect or unexpected success statuses on an error path: a gateway or
        // proxy misbehaving, which may pass.
        _ => ErrorClass::Retryable { retry_after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_classes() {
        for status in [400, 401, 403, 409, 422] {
            assert_eq!(
                class_of_status(status, None),
                ErrorClass::Terminal,
                "{status}"
            );
        }
        let wait = Some(Duration::from_secs(3));
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                class_of_status(status, wait),
                ErrorClass::Retryable { retry_after: wait },
                "{status}"
            );
        }
        assert_eq!(class_of_status(404, None), ErrorClass::NotFound);
    }

    #[test]
    fn the_call_record_reads_as_a_condition_message() {
        let call = CallRecord {
            operation: "upsertModel",
            method: "PUT",
            path: "/v1/namespaces/team-a/models/summarizer".into(),
            http_status: Some(201),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            limiter_wait: Duration::ZERO,
            latency: Duration::ZERO,
        };
        assert_eq!(
            call.to_string(),
            "PUT /v1/namespaces/team-a/models/summarizer -> 201 \
             (trace 4bf92f3577b34da6a3ce929d0e0e4736)"
        );
        let error = GatewayError::new(
            GatewayErrorKind::Timeout,
            CallRecord {
                http_status: None,
                trace_id: None,
                ..call
            },
        );
        assert_eq!(
            error.to_string(),
            "failed to call the gateway: the gateway did not answer in time \
             [PUT /v1/namespaces/team-a/models/summarizer -> no response]"
        );
    }
}
