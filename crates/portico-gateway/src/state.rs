//! What every request shares: `AppState` (the store, fault controls, call counts and request
//! log, the admin token's digest) and bearer-token authentication.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, header};
use secrecy::{ExposeSecret, SecretString};

use super::faults::Controls;
use super::inference::DataPlane;
use super::stats::{ObjectCounts, RequestCount, RequestRecord, Stats};
use super::store::{Provisioner, Store, digest};

const REQUEST_LOG_CAPACITY: usize = 65_536;

/// Shared by every request.
pub(crate) struct AppState {
    token_digest: [u8; 32],
    pub(crate) public_url: String,
    pub(crate) store: Mutex<Store>,
    pub(crate) provision_delay: Duration,
    pub(crate) database_host: String,
    pub(crate) provisioner: Option<Arc<dyn Provisioner>>,
    controls: Mutex<Controls>,
    counts: Mutex<HashMap<(&'static str, u16), u64>>,
    requests: Mutex<VecDeque<RequestRecord>>,
    in_flight: AtomicU64,
    /// The data plane: upstream client, egress policy, limits, usage.
    pub(crate) data: DataPlane,
}

impl AppState {
    /// Fresh state: an empty store, no calls counted. Only the admin token's digest is kept.
    pub(crate) fn new(
        admin_token: &SecretString,
        public_url: String,
        provision_delay: Duration,
        database_host: String,
        provisioner: Option<Arc<dyn Provisioner>>,
        controls: Controls,
        data: DataPlane,
    ) -> Self {
        AppState {
            token_digest: digest(admin_token.expose_secret()),
            public_url,
            store: Mutex::new(Store::default()),
            provision_delay,
            database_host,
            provisioner,
            controls: Mutex::new(controls),
            counts: Mutex::new(HashMap::new()),
            requests: Mutex::new(VecDeque::new()),
            in_flight: AtomicU64::new(0),
            data,
        }
    }

    /// Calls by operation and status, sorted, and the objects held.
    pub(crate) fn stats(&self) -> Stats {
        let mut requests: Vec<RequestCount> = self
            .counts
            .lock()
            .map(|counts| {
                counts
                    .iter()
                    .map(|(&(operation, status), &count)| RequestCount {
                        operation,
                        status,
                        count,
                    })
                    .collect()
            })
            .unwrap_or_default();
        requests.sort_by(|a, b| (a.operation, a.status).cmp(&(b.operation, b.status)));
        let objects = self
            .store
            .lock()
            .map(|store| store.counts())
            .unwrap_or(ObjectCounts {
                models: 0,
                model_keys: 0,
                databases: 0,
            });
        Stats { requests, objects }
    }

    /// Runs `f` on the fault controls; `None` when their lock is poisoned.
    pub(crate) fn with_controls<T>(&self, f: impl FnOnce(&mut Controls) -> T) -> Option<T> {
        self.controls
            .lock()
            .ok()
            .map(|mut controls| f(&mut controls))
    }

    /// Whether the request carries the admin bearer token.
    pub(crate) fn admits_admin(&self, headers: &HeaderMap) -> bool {
        bearer_token(headers).is_some_and(|token| digest(token) == self.token_digest)
    }

    /// Counts an answered request by operation and status, and appends it to the request log
    /// (which keeps the most recent 65,536).
    pub(crate) fn record(&self, record: RequestRecord) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((record.operation, record.status)).or_default() += 1;
        }
        if let Ok(mut log) = self.requests.lock() {
            if log.len() == REQUEST_LOG_CAPACITY {
                log.pop_front();
            }
            log.push_back(record);
        }
    }

    /// The most recent requests, oldest first.
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.requests
            .lock()
            .map(|log| log.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Counts a request as in flight until the returned guard drops.
    pub(crate) fn enter_request(&self) -> InFlight<'_> {
        InFlight::enter(&self.in_flight)
    }

    /// Requests that arrived and have not been answered yet.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Counts a request as in flight until dropped (also when the client goes away mid-request).
pub(crate) struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The bearer token of a request, if it carries one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;

    #[test]
    fn bearer_tokens_need_the_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }
}
