//! Per-call hooks of the generated client: they add the bearer token and `traceparent` before the
//! request leaves, and read status and `Retry-After` from the raw response before the generated
//! code parses (and possibly loses) it.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use progenitor_client::{ClientHooks, Error, OperationInfo};
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

/// Parses `Retry-After` as delta-seconds (the only form the contract uses).
pub(crate) fn parse_retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    let seconds: f64 = text.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

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
        }
        Ok(())
    }
}
