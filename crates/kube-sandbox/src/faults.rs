//! Fault injection for tests (fail the next N matching requests, close every open watch, expire
//! every issued resource version) and request statistics by verb and resource, plus, per
//! client, the attributes an RBAC authorizer would judge each request by.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// What Kubernetes' RBAC authorizer judges a resource request by (its `RequestInfo`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestAttributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub verb: String,
    /// `plural`, or `plural.group` for non-core groups, then `/subresource` if any.
    pub resource: String,
    /// The namespace in the path; `None` for a cluster-scoped resource or a request across all
    /// namespaces (which only a ClusterRole can allow).
    pub namespace: Option<String>,
    /// The name in the path; for `list`, `watch` and `deletecollection`, the one a
    /// `metadata.name=` field selector pins (as the API server's `RequestInfo` does, so
    /// `resourceNames` can allow them); `None` otherwise (a `create` by POST has none).
    pub name: Option<String>,
}

/// Request counters.
#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<HashMap<(&'static str, String), u64>>,
    by_agent: Mutex<HashMap<(String, &'static str, String), u64>>,
    attributes: Mutex<HashMap<String, BTreeSet<RequestAttributes>>>,
}

impl Stats {
    /// Counts a request; `agent` is the product of its `User-Agent` (`portico` of
    /// `portico/0.1.0`), empty without one; `namespace` and `name` as [`RequestAttributes`]
    /// has them.
    pub(crate) fn count(
        &self,
        verb: &'static str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
        agent: &str,
    ) {
        self.attributes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(agent.to_string())
            .or_default()
            .insert(RequestAttributes {
                verb: verb.to_string(),
                resource: resource.to_string(),
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
            });
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
        let attributes = self
            .attributes
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
            attributes_by_agent: attributes
                .iter()
                .map(|(agent, set)| (agent.clone(), set.clone()))
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
    /// agent → the distinct [`RequestAttributes`] of its requests.
    pub attributes_by_agent: BTreeMap<String, BTreeSet<RequestAttributes>>,
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

    /// The distinct [`RequestAttributes`] of the requests a client whose `User-Agent` product
    /// is `agent` made (namespace and name included: what a Role or `resourceNames` must cover).
    pub fn requests_of(&self, agent: &str) -> BTreeSet<RequestAttributes> {
        self.attributes_by_agent
            .get(agent)
            .cloned()
            .unwrap_or_default()
    }

    /// All write requests.
    pub fn total_write_requests(&self) -> u64 {
        self.write_requests("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(verb: &str, ns: Option<&str>, name: Option<&str>) -> RequestAttributes {
        RequestAttributes {
            verb: verb.into(),
            resource: "secrets".into(),
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
        }
    }

    #[test]
    fn request_attributes_are_kept_per_agent() {
        let stats = Stats::default();
        stats.count("list", "secrets", None, None, "portico");
        stats.count("list", "secrets", None, None, "portico");
        stats.count("watch", "secrets", Some("a"), Some("token"), "portico");
        stats.count("get", "secrets", Some("b"), Some("key"), "kubectl");
        let snapshot = stats.snapshot(0);
        assert_eq!(
            snapshot.requests_of("portico"),
            BTreeSet::from([
                attributes("list", None, None),
                attributes("watch", Some("a"), Some("token")),
            ])
        );
        assert_eq!(
            snapshot.requests_of("kubectl"),
            BTreeSet::from([attributes("get", Some("b"), Some("key"))])
        );
        assert!(snapshot.requests_of("nobody").is_empty());
        assert_eq!(snapshot.count("list", "secrets"), 2);
    }
}
