//! Per-call hooks of the generated client: they add the bearer token and `traceparent` before the
//! request leaves, read status and `Retry-After` from the raw response before the generated code
//! parses (and possibly loses) it, and bound the size of the body it will read.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use progenitor_client::{ClientHooks, ClientInfo as _, Error, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue, RETRY_AFTER};

use super::limiter::SharedLimiter;

/// What the raw response said, kept even when its body turns out not to be the declared JSON.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Observed {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
}

/// The inner value of one generated client, built for exactly one call.
#[derive(Clone)]
pub struct CallHooks {
    authorization: HeaderValue,
    traceparent: Option<HeaderValue>,
    limiter: SharedLimiter,
    observed: Arc<Mutex<Observed>>,
}

impl CallHooks {
    pub(crate) fn new(
        authorization: HeaderValue,
        traceparent: Option<HeaderValue>,
        limiter: SharedLimiter,
    ) -> Self {
        CallHooks {
            authorization,
            traceparent,
            limiter,
            observed: Arc::new(Mutex::new(Observed::default())),
        }
    }

    pub(crate) fn observed(&self) -> Observed {
        self.observed.lock().map(|o| *o).unwrap_or_default()
    }
}

// The generated code never shows the hooks; this Debug keeps the token out of any future one.
impl std::fmt::Debug for CallHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallHooks").finish_non_exhaustive()
    }
}

/// The longest delay a gateway can impose (`Retry-After` in a header or `retryAfterSeconds` in
/// a body): a longer one is cut to this. A pause longer than five minutes (the operator's
/// longest backoff) is indistinguishable from an outage, which backoff handles; an unbounded
/// one could stall the operator for ever, or overflow the clock.
pub const MAX_SERVER_DELAY: Duration = Duration::from_secs(300);

/// A delay the server asked for, in seconds, bounded: anything that is not a finite,
/// non-negative number counts as absent; anything longer than [`MAX_SERVER_DELAY`] is cut to it.
pub fn bounded_server_delay(seconds: f64) -> Option<Duration> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        seconds.min(MAX_SERVER_DELAY.as_secs_f64()),
    ))
}

/// Parses `Retry-After` as delta-seconds (the only form the contract uses), bounded; an
/// HTTP-date or any other text counts as absent.
pub fn parse_retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    bounded_server_delay(text.parse().ok()?)
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The largest answer body the client reads. Real answers are a few KiB; without a bound, a
/// misbehaving gateway or proxy could make every retry download (and buffer) megabytes.
pub const MAX_RESPONSE_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// Why a body was cut off while it was being read (one that did not announce its length).
#[derive(Debug, thiserror::Error)]
#[error("the answer's body exceeded the client's limit of {MAX_RESPONSE_BODY_BYTES} bytes")]
struct BodyTooLarge;

/// Makes reading a body that did not announce its length (chunked) fail once it exceeds
/// `MAX_RESPONSE_BODY_BYTES`; bodies that announce it are refused in `post` before any is read.
///
/// The rebuilt response keeps status, version and headers but not `Response::url()`, which
/// neither the generated code nor the wrapper reads.
fn cap_unannounced_body(response: reqwest::Response) -> reqwest::Response {
    if response.content_length().is_some() {
        return response;
    }
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.version_mut() = response.version();
    *head.headers_mut() = response.headers().clone();
    let limit = usize::try_from(MAX_RESPONSE_BODY_BYTES).unwrap_or(usize::MAX);
    let mut received = 0usize;
    let capped = response.bytes_stream().map(
        move |chunk| -> Result<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>> {
            let chunk = chunk?;
            received = received.saturating_add(chunk.len());
            if received > limit {
                return Err(Box::new(BodyTooLarge));
            }
            Ok(chunk)
        },
    );
    reqwest::Response::from(head.map(|()| reqwest::Body::wrap_stream(capped)))
}

impl ClientHooks<CallHooks> for super::generated::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let hooks = progenitor_client::ClientInfo::inner(self);
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, hooks.authorization.clone());
        if let Some(traceparent) = &hooks.traceparent {
            headers.insert(TRACEPARENT, traceparent.clone());
        }
        Ok(())
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
        _info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let hooks = progenitor_client::ClientInfo::inner(self);
        if let Ok(response) = result {
            let status = response.status().as_u16();
            let retry_after = parse_retry_after(response.headers().get(RETRY_AFTER));
            if let (429 | 503, Some(wait)) = (status, retry_after) {
                hooks.limiter.pause_for(wait, status);
            }
            if let Ok(mut observed) = hooks.observed.lock() {
                *observed = Observed {
                    status: Some(status),
                    retry_after,
                };
            }
            // Refused before the generated code reads it; dropping the unread response closes
            // the connection instead of downloading the rest.
            if let Some(length) = response.content_length()
                && length > MAX_RESPONSE_BODY_BYTES
            {
                return Err(Error::Custom(format!(
                    "the answer announced a body of {length} bytes, more than the client's \
                     limit of {MAX_RESPONSE_BODY_BYTES}; it was not read"
                )));
            }
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let response = self.client().execute(request).await?;
        Ok(cap_unannounced_body(response))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn retry_after_is_bounded_and_garbage_is_absent() {
        let parse = |text: &str| parse_retry_after(Some(&HeaderValue::from_str(text).ok()?));
        assert_eq!(parse("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        for huge in ["1e20", "18446744073709551615", "1e308", "86400"] {
            assert_eq!(parse(huge), Some(MAX_SERVER_DELAY), "{huge}");
        }
        for garbage in [
            "",
            "-1",
            "NaN",
            "inf",
            "-inf",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "1,5",
        ] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
        assert_eq!(parse_retry_after(None), None);
    }

    proptest! {
        /// No byte string a server sends as `Retry-After` panics or yields more than the cap.
        #[test]
        fn any_retry_after_header_is_safe(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let parsed = parse_retry_after(Some(&value));
                prop_assert!(parsed.is_none_or(|delay| delay <= MAX_SERVER_DELAY));
            }
        }

        /// Numbers of any size and sign, as text the way servers write them.
        #[test]
        fn any_number_is_bounded(seconds in any::<f64>()) {
            let parsed = bounded_server_delay(seconds);
            prop_assert!(parsed.is_none_or(|delay| delay <= MAX_SERVER_DELAY));
            prop_assert_eq!(parsed.is_some(), seconds.is_finite() && seconds >= 0.0);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                prop_assert!(parse_retry_after(Some(&value)).is_none_or(|d| d <= MAX_SERVER_DELAY));
            }
        }
    }
}
