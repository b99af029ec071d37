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

/// What a caller should do about an error. Follows from the [`FailureCause`].
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

/// Why a call failed, classified once: every status code and every failure without a status
/// maps to exactly one cause here, and what callers decide (retry or not, the condition reason
/// users see) follows from the cause, never from a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCause {
    /// No admin token was available, so nothing was sent.
    NoToken,
    /// 401 or 403: the gateway refused the token.
    Unauthorized,
    /// 400 or 422, or a request that could not be built: the values break the contract.
    Invalid,
    /// 409: the request conflicts with the gateway's state.
    Conflict,
    /// 404 or 410: the object does not exist (any more).
    NotFound,
    /// 429: the gateway throttles this client.
    RateLimited,
    /// 408 or 5xx, a timeout, or a connection that failed: the gateway is not serving now.
    Unavailable,
    /// An answer outside the contract: an informational, redirect or success status on the
    /// error path, a status beyond 599, or a success body that is not the declared one.
    Malformed,
    /// Any other 4xx: refused for a reason that retrying will not change.
    Rejected,
}

impl FailureCause {
    /// The cause an error status stands for.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 => FailureCause::Unauthorized,
            400 | 422 => FailureCause::Invalid,
            409 => FailureCause::Conflict,
            404 | 410 => FailureCause::NotFound,
            429 => FailureCause::RateLimited,
            408 | 500..=599 => FailureCause::Unavailable,
            400..=499 => FailureCause::Rejected,
            _ => FailureCause::Malformed,
        }
    }

    /// What a caller should do about a failure of this cause.
    pub fn class(self, retry_after: Option<Duration>) -> ErrorClass {
        match self {
            FailureCause::NoToken
            | FailureCause::Unauthorized
            | FailureCause::Invalid
            | FailureCause::Conflict
            | FailureCause::Rejected => ErrorClass::Terminal,
            FailureCause::NotFound => ErrorClass::NotFound,
            FailureCause::RateLimited | FailureCause::Unavailable | FailureCause::Malformed => {
                ErrorClass::Retryable { retry_after }
            }
        }
    }
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
    /// The gateway refused this admin token before, so no request was sent (the token Secret
    /// must change first).
    #[error(
        "the gateway refused this admin token; no call is made with it until the token Secret \
         changes"
    )]
    TokenRefused,
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
    /// An error of `kind` for `call` (the client builds these; tests of callers may too).
    pub fn new(kind: GatewayErrorKind, call: CallRecord) -> Self {
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
            GatewayErrorKind::TokenRefused => "token_refused",
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

    /// Why the call failed.
    pub fn cause(&self) -> FailureCause {
        match &self.inner.0 {
            GatewayErrorKind::NoToken => FailureCause::NoToken,
            GatewayErrorKind::TokenRefused => FailureCause::Unauthorized,
            GatewayErrorKind::InvalidRequest(_) => FailureCause::Invalid,
            GatewayErrorKind::Status { status, .. } => FailureCause::of_status(*status),
            GatewayErrorKind::Timeout | GatewayErrorKind::Connect(_) => FailureCause::Unavailable,
            GatewayErrorKind::MalformedResponse(_) => FailureCause::Malformed,
        }
    }

    /// What the caller should do about it.
    pub fn class(&self) -> ErrorClass {
        self.cause().class(self.retry_after())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_classes() {
        for status in [400, 401, 403, 409, 422] {
            assert_eq!(
                FailureCause::of_status(status).class(None),
                ErrorClass::Terminal,
                "{status}"
            );
        }
        let wait = Some(Duration::from_secs(3));
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                FailureCause::of_status(status).class(wait),
                ErrorClass::Retryable { retry_after: wait },
                "{status}"
            );
        }
        assert_eq!(
            FailureCause::of_status(404).class(None),
            ErrorClass::NotFound
        );
    }

    /// Every status, and every failure without one, in one table: cause and class.
    #[test]
    fn every_status_has_one_cause_and_class() {
        use FailureCause::*;
        let wait = Some(Duration::from_secs(7));
        let retry = ErrorClass::Retryable { retry_after: wait };
        let cases: &[(u16, FailureCause, ErrorClass)] = &[
            (100, Malformed, retry),
            (200, Malformed, retry),
            (204, Malformed, retry),
            (302, Malformed, retry),
            (307, Malformed, retry),
            (400, Invalid, ErrorClass::Terminal),
            (401, Unauthorized, ErrorClass::Terminal),
            (403, Unauthorized, ErrorClass::Terminal),
            (404, NotFound, ErrorClass::NotFound),
            (405, Rejected, ErrorClass::Terminal),
            (408, Unavailable, retry),
            (409, Conflict, ErrorClass::Terminal),
            (410, NotFound, ErrorClass::NotFound),
            (413, Rejected, ErrorClass::Terminal),
            (422, Invalid, ErrorClass::Terminal),
            (429, RateLimited, retry),
            (451, Rejected, ErrorClass::Terminal),
            (500, Unavailable, retry),
            (502, Unavailable, retry),
            (503, Unavailable, retry),
            (504, Unavailable, retry),
            (599, Unavailable, retry),
            (600, Malformed, retry),
            (999, Malformed, retry),
        ];
        for &(status, cause, class) in cases {
            let error = GatewayError::new(
                GatewayErrorKind::Status {
                    status,
                    code: "x".into(),
                    message: "x".into(),
                    details: Vec::new(),
                    retry_after: wait,
                },
                call(Some(status)),
            );
            assert_eq!((error.cause(), error.class()), (cause, class), "{status}");
        }
        let without_status: [(GatewayErrorKind, FailureCause, ErrorClass); 5] = [
            (GatewayErrorKind::NoToken, NoToken, ErrorClass::Terminal),
            (
                GatewayErrorKind::InvalidRequest("bad".into()),
                Invalid,
                ErrorClass::Terminal,
            ),
            (
                GatewayErrorKind::Timeout,
                Unavailable,
                ErrorClass::Retryable { retry_after: None },
            ),
            (
                GatewayErrorKind::Connect("refused".into()),
                Unavailable,
                ErrorClass::Retryable { retry_after: None },
            ),
            (
                GatewayErrorKind::MalformedResponse("not json".into()),
                Malformed,
                ErrorClass::Retryable { retry_after: None },
            ),
        ];
        for (kind, cause, class) in without_status {
            let error = GatewayError::new(kind, call(None));
            assert_eq!((error.cause(), error.class()), (cause, class));
        }
    }

    fn call(http_status: Option<u16>) -> CallRecord {
        CallRecord {
            operation: "upsertModel",
            method: "PUT",
            path: "/v1/namespaces/team-a/models/summarizer".into(),
            http_status,
            trace_id: None,
            limiter_wait: Duration::ZERO,
            latency: Duration::ZERO,
        }
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
