//! Fault injection for tests (fail the next N matching requests, close every open watch, expire
//! every issued resource version) and request statistics by verb and resource.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::store::Store;

/// One armed failure.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Requests whose path contains this fail.
    pub path: String,
    /// Only this verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`), or any.
    pub verb: Option<String>,
    /// HTTP code of the failure.
    pub code: u16,
    /// How many more requests fail.
    pub remaining: u32,
}

/// The fault switchboard of one server.
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    closer: watch::Sender<u64>,
    store: Arc<Store>,
}

impl Faults {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        let (closer, _) = watch::channel(0);
        Self {
            rules: Mutex::new(Vec::new()),
            closer,
            store,
        }
    }

    /// Fails the next `count` requests whose path contains `path` (and of `verb`, if given)
    /// with `code` and a Status body.
    pub fn fail_next(&self, count: u32, path: &str, verb: Option<&str>, code: u16) {
        self.lock().push(FaultRule {
            path: path.to_string(),
            verb: verb.map(str::to_string),
            code,
            remaining: count,
        });
    }

    /// Disarms every pending failure.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Ends every open watch (clients see the stream close, as when an apiserver restarts).
    pub fn close_watches(&self) {
        self.closer.send_modify(|epoch| *epoch += 1);
    }

    /// Forgets the event history: watching from any resource version issued so far answers
    /// `410 Gone` (reason `Expired`), as after an etcd compaction.
    pub fn compact(&self) {
        self.store.compact();
    }

    pub(crate) fn watch_closer(&self) -> watch::Receiver<u64> {
        self.closer.subscribe()
    }

    /// The code to fail this request with, consuming one armed failure.
    pub(crate) fn take(&self, path: &str, verb: &str) -> Option<u16> {
        let mut rules = self.lock();
        let index = rules.iter().position(|rule| {
            rule.remaining > 0
                && path.contains(&rule.path)
                && rule.verb.as_deref().is_none_or(|v| v == verb)
        })?;
        let rule = &mut rules[index];
        rule.remaining -= 1;
        let code = rule.code;
        if rule.remaining == 0 {
            rules.remove(index);
        }
        Some(code)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Request counters.
#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<HashMap<(&'static str, String), u64>>,
    by_agent: Mutex<HashMap<(String, &'static str, String), u64>>,
}

impl Stats {
    /// Counts a request; `agent` is the product of its `User-Agent` (`portico` of
    /// `portico/0.1.0`), empty without one.
    pub(crate) fn count(&self, verb: &'static str, resource: &str, agent: &str) {
        *self
            .by_agent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry((agent.to_string(), verb, resource.to_string()))
            .or_default() += 1;
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match requests.get_mut(&(verb, resource.to_string())) {
            Some(counter) => *counter += 1,
            None => {
                requests.insert((verb, resource.to_string()), 1);
            }
        }
    }

    pub(crate) fn snapshot(&self, writes: u64) -> StatsSnapshot {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let by_agent = self
            .by_agent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        StatsSnapshot {
            requests: requests
                .iter()
                .map(|((v, r), n)| ((v.to_string(), r.clone()), *n))
                .collect(),
            by_agent: by_agent
                .iter()
                .map(|((a, v, r), n)| ((a.clone(), v.to_string(), r.clone()), *n))
                .collect(),
            committed_writes: writes,
        }
    }
}

/// Request counts at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// `(verb, resource)` → requests, resource as `plural` or `plural/subresource`, with the
    /// group appended for non-core groups (`aimodels.portico.dev/status`).
    pub requests: BTreeMap<(String, String), u64>,
    /// `(agent, verb, resource)` → requests, agent being the `User-Agent` product (empty when
    /// the client sent none).
    pub by_agent: BTreeMap<(String, String, String), u64>,
    /// Writes that changed the store (no-op updates are not counted).
    pub committed_writes: u64,
}

const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

impl StatsSnapshot {
    /// Requests of one verb on one resource.
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.requests
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Write requests (create, update, patch, delete, deletecollection) on resources whose name
    /// starts with `resource` (so `aimodels.portico.dev` includes its `/status`).
    pub fn write_requests(&self, resource: &str) -> u64 {
        self.requests
            .iter()
            .filter(|((verb, name), _)| {
                WRITE_VERBS.contains(&verb.as_str()) && name.starts_with(resource)
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// The `(verb, resource)` pairs a client whose `User-Agent` product is `agent` used.
    pub fn used_by(&self, agent: &str) -> std::collections::BTreeSet<(String, String)> {
        self.by_agent
            .keys()
            .filter(|(a, _, _)| a == agent)
            .map(|(_, verb, resource)| (verb.clone(), resource.clone()))
            .collect()
    }

    /// All write requests.
    pub fn total_write_requests(&self) -> u64 {
        self.write_requests("")
    }
}
