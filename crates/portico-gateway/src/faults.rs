//! Runtime fault control of the reference gateway: random `503`s, added latency, scripted
//! answers ("the next N calls of operation X, optionally on path P, answer S with body kind K",
//! including malformed bodies: wrong types, missing fields, huge, mislabelled, trickled) and the
//! server-side rate limit. Resilience and chaos tests drive these in-process or over
//! `/v1/admin/…`.
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// How the body of a scripted answer is malformed (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultBody {
    /// The contract's `Error` JSON.
    #[default]
    Json,
    /// An HTML page, as a proxy in front of a gateway would send.
    Html,
    /// JSON cut off in the middle.
    Truncated,
    /// No body at all.
    Empty,
    /// Bytes that are not JSON, labelled `application/json`.
    Garbage,
    /// Well-formed JSON whose fields have the wrong types (numbers for strings, and so on).
    WrongTypes,
    /// An empty JSON object: every required field is missing.
    MissingFields,
    /// `null`.
    Null,
    /// A JSON array where an object is declared.
    Array,
    /// A body of `HUGE_BODY_BYTES` bytes: one JSON string far larger than any real answer.
    Huge,
    /// The same body sent chunked, without `Content-Length`, so a client learns its size only
    /// by reading it.
    HugeStream,
    /// Plain text labelled `text/plain`.
    WrongContentType,
    /// A JSON body labelled `application/octet-stream`.
    OctetStream,
    /// A JSON body announced as gzip-compressed although it is not.
    BadEncoding,
    /// A body trickled one byte every `TRICKLE_INTERVAL` (slowloris), never finishing in time.
    Trickle,
    /// Part of a body, then the connection is cut.
    ShortBody,
}

/// Size of a `FaultBody::Huge` answer.
pub const HUGE_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Pause between two bytes of a `FaultBody::Trickle` answer.
pub const TRICKLE_INTERVAL: Duration = Duration::from_millis(400);
/// Bytes a `FaultBody::Trickle` answer sends before it ends.
const TRICKLE_BYTES: usize = 400;

/// "The next `count` answers to `operation` are `status` with `Retry-After` and this body."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptedFault {
    /// operationId the fault applies to (`upsertModel`, …), or `*` for every operation.
    pub operation: String,
    /// Status to answer with.
    pub status: u16,
    /// How many answers to replace.
    #[serde(default = "one")]
    pub count: u32,
    /// `Retry-After` header value in seconds, if any.
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
    /// Body kind.
    #[serde(default)]
    pub body: FaultBody,
    /// Only requests whose path contains this string (e.g. `/models/m07-`), or every path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
}

fn one() -> u32 {
    1
}

impl ScriptedFault {
    /// One answer of `status` to `operation` with a JSON body and no `Retry-After`.
    pub fn new(operation: impl Into<String>, status: u16) -> Self {
        ScriptedFault {
            operation: operation.into(),
            status,
            count: 1,
            retry_after_seconds: None,
            body: FaultBody::Json,
            path_contains: None,
        }
    }

    /// Applies only to requests whose path contains `fragment`.
    pub fn on_path(mut self, fragment: impl Into<String>) -> Self {
        self.path_contains = Some(fragment.into());
        self
    }

    fn matches(&self, operation: &str, path: &str) -> bool {
        (self.operation == operation || self.operation == "*")
            && self
                .path_contains
                .as_deref()
                .is_none_or(|fragment| path.contains(fragment))
    }

    /// Applies to the next `count` answers.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    /// Uses this body kind.
    pub fn body(mut self, body: FaultBody) -> Self {
        self.body = body;
        self
    }

    pub(crate) fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = match self.body {
            FaultBody::Json => ApiError::with_status(status, "injected fault").into_response(),
            FaultBody::Html => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!(
                    "<html><head><title>{status}</title></head><body><h1>{status}</h1>\
                     <hr><center>proxy</center></body></html>"
                ),
            )
                .into_response(),
            FaultBody::Truncated => (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"code":"unavailable","message":"the gateway is overl"#,
            )
                .into_response(),
            FaultBody::Empty => status.into_response(),
            FaultBody::Garbage => (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                "\u{1f}\u{8b}not json at all",
            )
                .into_response(),
            FaultBody::WrongTypes => json_text(status, WRONG_TYPES),
            FaultBody::MissingFields => json_text(status, "{}"),
            FaultBody::Null => json_text(status, "null"),
            FaultBody::Array => json_text(status, r#"[{"name":"x"}]"#),
            FaultBody::Huge => {
                let mut body = String::with_capacity(HUGE_BODY_BYTES);
                body.push_str(r#"{"name":""#);
                body.extend(std::iter::repeat_n('x', HUGE_BODY_BYTES.saturating_sub(12)));
                body.push_str(r#"",""#);
                json_text(status, body)
            }
            FaultBody::HugeStream => {
                const CHUNK: usize = 64 * 1024;
                let chunk = bytes::Bytes::from(vec![b'x'; CHUNK]);
                let chunks = std::iter::once(bytes::Bytes::from_static(br#"{"name":""#))
                    .chain(std::iter::repeat_n(chunk, HUGE_BODY_BYTES / CHUNK))
                    .map(Ok::<_, std::convert::Infallible>);
                json_text(
                    status,
                    axum::body::Body::from_stream(futures::stream::iter(chunks)),
                )
            }
            FaultBody::WrongContentType => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "OK",
            )
                .into_response(),
            FaultBody::OctetStream => (
                status,
                [(header::CONTENT_TYPE, "application/octet-stream")],
                WRONG_TYPES,
            )
                .into_response(),
            FaultBody::BadEncoding => (
                status,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                "{\"name\":\"not gzip\"}",
            )
                .into_response(),
            FaultBody::Trickle => {
                let bytes = futures::stream::unfold(0usize, |sent| async move {
                    if sent >= TRICKLE_BYTES {
                        return None;
                    }
                    tokio::time::sleep(TRICKLE_INTERVAL).await;
                    let chunk = if sent == 0 { &b"{"[..] } else { &b" "[..] };
                    Some((
                        Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(chunk)),
                        sent + 1,
                    ))
                });
                (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    axum::body::Body::from_stream(bytes),
                )
                    .into_response()
            }
            FaultBody::ShortBody => {
                // A stream that fails mid-body: the server aborts the connection. (A lying
                // `Content-Length` header would trip hyper's own assertion in debug builds.)
                let chunks = futures::stream::iter([
                    Ok(bytes::Bytes::from_static(br#"{"name":"cut"#)),
                    Err(std::io::Error::other("injected: body cut short")),
                ]);
                (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    axum::body::Body::from_stream(chunks),
                )
                    .into_response()
            }
        };
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A body where every usual field of the contract's objects has the wrong JSON type.
const WRONG_TYPES: &str = r#"{"name":42,"namespace":["a"],"provider":{"x":1},"model":true,"phase":7,"endpoint":false,"id":[],"key":1.5,"engine":null,"host":{},"port":"five","database":0,"username":[],"password":{},"storageGB":"ten","items":"none","code":3,"message":{},"retryable":"maybe"}"#;

fn json_text(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

/// Random faults and latency (`PUT /v1/admin/faults`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RandomFaults {
    /// Probability (0 to 1) that a call answers `503` with `Retry-After: 1`.
    #[serde(default)]
    pub rate: f64,
    /// Latency added to every call, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
}

/// The server-side rate limit (`PUT /v1/admin/rate-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RateLimitSetting {
    /// Calls per second admitted; `null` removes the limit.
    pub qps: Option<f64>,
}

/// Mutable fault state, behind one lock.
#[derive(Default)]
pub(crate) struct Controls {
    pub random: RandomFaults,
    pub scripted: VecDeque<ScriptedFault>,
    pub limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Controls {
    /// Takes one scripted answer for `operation` on `path`, if any.
    pub fn take_scripted(&mut self, operation: &str, path: &str) -> Option<ScriptedFault> {
        let index = self
            .scripted
            .iter()
            .position(|f| f.matches(operation, path))?;
        let fault = self.scripted.get_mut(index)?;
        fault.count = fault.count.saturating_sub(1);
        let taken = fault.clone();
        if fault.count == 0 {
            self.scripted.remove(index);
        }
        Some(taken)
    }

    /// Installs (or with `None` removes) the rate limit: `qps` per second, burst of one
    /// second's worth.
    pub fn set_rate_limit(&mut self, qps: Option<f64>) {
        self.limiter = qps.and_then(limiter_for);
    }
}

fn limiter_for(qps: f64) -> Option<Arc<DefaultDirectRateLimiter>> {
    if !(qps.is_finite() && qps > 0.0) {
        return None;
    }
    let burst = NonZeroU32::new((qps.ceil() as u32).max(1))?;
    let quota = Quota::with_period(Duration::from_secs_f64(1.0 / qps))?.allow_burst(burst);
    Some(Arc::new(RateLimiter::direct(quota)))
}
