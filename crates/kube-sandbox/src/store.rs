//! The in-memory object store: one global resource version, a bounded event history that
//! watchers read from (so a watch never misses or reorders events), the served types, and an
//! owner index for garbage collection.
//!
//! Writers compute a new object outside the lock from the object they read, then commit under
//! the write lock only if that object is still current (kube's GuaranteedUpdate loop). Events are
//! recorded under the same lock that assigns their resource version, so history order is commit
//! order.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::error::ApiError;
use super::object::{is_deleting, meta_str, metadata_mut, owner_uids};
use super::registry::{ResourceType, builtin_types, crd_types};
use super::schema::StructuralSchema;

/// Where objects of a resource are kept: `group/plural` (versions share storage).
pub type StorageKey = Arc<str>;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

/// A stored object and its JSON, serialized at most once and shared by every reader.
#[derive(Debug)]
pub struct StoredObject {
    /// The object.
    pub value: Value,
    json: OnceLock<Bytes>,
}

impl StoredObject {
    /// Wraps an object.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            json: OnceLock::new(),
        }
    }

    /// The object as JSON.
    pub fn json(&self) -> &Bytes {
        self.json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&self.value).unwrap_or_default()))
    }

    /// `metadata.resourceVersion` as a number.
    pub fn resource_version(&self) -> u64 {
        meta_str(&self.value, "resourceVersion")
            .parse()
            .unwrap_or(0)
    }
}

/// The kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as history records it.
#[derive(Debug)]
pub struct ChangeEvent {
    /// The resource version the change was committed at.
    pub resource_version: u64,
    /// Which resource.
    pub storage_key: StorageKey,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub event_type: EventType,
    /// The object after the change (its last state for `DELETED`).
    pub object: Arc<StoredObject>,
    /// The object before the change, so selector watches can see objects leave their selection.
    pub previous: Option<Arc<StoredObject>>,
}

/// A served resource type with what the server derives from it.
#[derive(Debug, Clone)]
pub struct Served {
    /// The type, as discovery and tables see it.
    pub rt: ResourceType,
    /// Where its objects are stored.
    pub storage_key: StorageKey,
    /// The structural schema of a custom resource version.
    pub schema: Option<Arc<StructuralSchema>>,
    /// events.k8s.io/v1 Events: stored in core/v1 form, converted on the way in and out.
    pub events_v1: bool,
}

impl Served {
    fn new(rt: ResourceType) -> Self {
        let events_v1 = rt.group == "events.k8s.io" && rt.plural == "events";
        let storage_key: StorageKey = if events_v1 {
            Arc::from("/events")
        } else {
            Arc::from(format!("{}/{}", rt.group, rt.plural))
        };
        let schema = rt
            .schema
            .clone()
            .and_then(|schema| StructuralSchema::new(schema).ok())
            .map(Arc::new);
        Self {
            rt,
            storage_key,
            schema,
            events_v1,
        }
    }

    /// Whether this is a custom resource.
    pub fn is_custom(&self) -> bool {
        self.rt.crd_name.is_some()
    }
}

/// Storage key of namespaces.
pub const NAMESPACES: &str = "/namespaces";
/// Storage key of CustomResourceDefinitions.
pub const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Work the background controllers pick up after a commit.
#[derive(Debug, Clone)]
pub enum Background {
    /// An object is gone: collect its dependents, re-check its namespace and CRD.
    Removed {
        /// Its last state.
        object: Arc<StoredObject>,
        /// Its namespace (empty when cluster-scoped).
        namespace: String,
        /// Where it was stored.
        storage_key: StorageKey,
    },
    /// An object began deleting with a garbage-collector finalizer (`orphan`,
    /// `foregroundDeletion`).
    Finalize {
        /// Where it is stored.
        storage_key: StorageKey,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// An object names an owner UID no stored object has: collect it as if the owner just went.
    OwnerMissing(String),
    /// A namespace began terminating: delete its content.
    NamespaceTerminating(String),
    /// A CRD began terminating: delete its custom resources.
    CrdTerminating(String),
}

/// What a writer decided, given the current object.
#[derive(Debug)]
pub enum Mutation {
    /// Store this object (create or replace).
    Put(Value),
    /// Remove the object; the value is its last state.
    Remove(Value),
    /// Nothing to write; answer with the current object.
    Unchanged(Arc<StoredObject>),
}

/// A committed (or dry-run) write.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The object as stored (or as it would have been).
    pub object: Arc<StoredObject>,
    /// Whether the object was created.
    pub created: bool,
    /// Whether the object was removed.
    pub removed: bool,
}

struct State {
    resource_version: u64,
    objects: HashMap<StorageKey, BTreeMap<ObjectKey, Arc<StoredObject>>>,
    history: VecDeque<Arc<ChangeEvent>>,
    /// Versions below this one are no longer in `history`.
    compacted: u64,
    history_limit: usize,
    served: Arc<Vec<Served>>,
    /// owner UID → dependents.
    dependents: HashMap<String, HashSet<(StorageKey, ObjectKey)>>,
    /// UIDs of the objects stored now.
    uids: HashSet<String>,
}

/// The store shared by the HTTP layer and the background controllers.
pub struct Store {
    state: RwLock<State>,
    latest: watch::Sender<u64>,
    background: mpsc::UnboundedSender<Background>,
    writes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Why a watch cannot start or continue at a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// The version asked for.
    pub requested: u64,
    /// The oldest version still served.
    pub oldest: u64,
}

impl Store {
    /// An empty store with the built-in types and the standard namespaces.
    pub fn new(history_limit: usize) -> (Arc<Self>, mpsc::UnboundedReceiver<Background>) {
        let (background, receiver) = mpsc::unbounded_channel();
        let (latest, _) = watch::channel(0);
        let state = State {
            resource_version: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            history_limit: history_limit.max(1),
            served: Arc::new(builtin_types().into_iter().map(Served::new).collect()),
            dependents: HashMap::new(),
            uids: HashSet::new(),
        };
        let store = Arc::new(Self {
            state: RwLock::new(state),
            latest,
            background,
            writes: std::sync::atomic::AtomicU64::new(0),
        });
        (store, receiver)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The served types.
    pub fn served(&self) -> Arc<Vec<Served>> {
        self.read().served.clone()
    }

    /// The served type at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Served> {
        self.read()
            .served
            .iter()
            .find(|s| s.rt.group == group && s.rt.version == version && s.rt.plural == plural)
            .cloned()
    }

    /// The newest resource version.
    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    /// Number of committed writes (creates, updates, deletes) since start.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A receiver that wakes on every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// One object.
    pub fn get(&self, key: &StorageKey, namespace: &str, name: &str) -> Option<Arc<StoredObject>> {
        self.read()
            .objects
            .get(key)
            .and_then(|objects| objects.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Objects of a resource, in a namespace or all, starting after `after`, with the version
    /// they were read at. Filtering happens outside the lock.
    pub fn list(
        &self,
        key: &StorageKey,
        namespace: Option<&str>,
        after: Option<&ObjectKey>,
    ) -> (Vec<Arc<StoredObject>>, u64) {
        use std::ops::Bound;
        let state = self.read();
        let Some(objects) = state.objects.get(key) else {
            return (Vec::new(), state.resource_version);
        };
        let lower = match (after, namespace) {
            (Some(after), _) => Bound::Excluded(after.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let items = objects
            .range((lower, Bound::Unbounded))
            .take_while(|((ns, _), _)| namespace.is_none_or(|wanted| wanted == ns))
            .map(|(_, object)| object.clone())
            .collect();
        (items, state.resource_version)
    }

    /// Up to `limit` objects that `select` accepts, in key order after `after`, whether more
    /// follow, and the version they were read at. Selection runs under the read lock, so a page
    /// costs what it returns, not the size of the resource.
    pub fn page(
        &self,
        key: &StorageKey,
        namespace: Option<&str>,
        after: Option<&ObjectKey>,
        limit: usize,
        select: impl Fn(&Value) -> bool,
    ) -> (Vec<Arc<StoredObject>>, bool, u64) {
        use std::ops::Bound;
        let state = self.read();
        let Some(objects) = state.objects.get(key) else {
            return (Vec::new(), false, state.resource_version);
        };
        let lower = match (after, namespace) {
            (Some(after), _) => Bound::Excluded(after.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut matching = objects
            .range((lower, Bound::Unbounded))
            .take_while(|((ns, _), _)| namespace.is_none_or(|wanted| wanted == ns))
            .map(|(_, object)| object)
            .filter(|object| select(&object.value));
        let items: Vec<_> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        (items, more, state.resource_version)
    }

    /// Whether any object of any resource lives in `namespace`.
    pub fn namespace_has_content(&self, namespace: &str) -> bool {
        let state = self.read();
        state.objects.iter().any(|(key, objects)| {
            key.as_ref() != NAMESPACES
                && objects
                    .range((namespace.to_string(), String::new())..)
                    .next()
                    .is_some_and(|((ns, _), _)| ns == namespace)
        })
    }

    /// The dependents of an owner UID.
    pub fn dependents(&self, uid: &str) -> Vec<(StorageKey, ObjectKey)> {
        self.read()
            .dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Storage keys with at least one object.
    pub fn storage_keys(&self) -> Vec<StorageKey> {
        self.read().objects.keys().cloned().collect()
    }

    /// Change events after `after` (at most `max`), and the newest version they cover.
    pub fn events_after(
        &self,
        after: u64,
        max: usize,
    ) -> Result<(Vec<Arc<ChangeEvent>>, u64), Expired> {
        let state = self.read();
        if after < state.compacted {
            return Err(Expired {
                requested: after,
                oldest: state.compacted,
            });
        }
        let start = state
            .history
            .partition_point(|event| event.resource_version <= after);
        let events: Vec<_> = state.history.range(start..).take(max).cloned().collect();
        let covered = match events.last() {
            Some(last) if events.len() == max => last.resource_version,
            _ => state.resource_version,
        };
        Ok((events, covered))
    }

    /// Whether a version is older than the retained history.
    pub fn check_not_expired(&self, version: u64) -> Result<(), Expired> {
        let state = self.read();
        if version < state.compacted {
            Err(Expired {
                requested: version,
                oldest: state.compacted,
            })
        } else {
            Ok(())
        }
    }

    /// Forgets all history: every version issued so far becomes too old to watch from.
    pub fn compact(&self) {
        let mut state = self.write();
        state.resource_version += 1;
        state.compacted = state.resource_version;
        state.history.clear();
        let rv = state.resource_version;
        drop(state);
        self.latest.send_replace(rv);
    }

    /// Reads the current object, lets `decide` compute the change outside the lock, and commits
    /// it if the object is still current; otherwise decides again.
    pub fn mutate(
        &self,
        served: &Served,
        namespace: &str,
        name: &str,
        dry_run: bool,
        mut decide: impl FnMut(Option<&Arc<StoredObject>>) -> Result<Mutation, ApiError>,
    ) -> Result<Committed, ApiError> {
        let key = (namespace.to_string(), name.to_string());
        loop {
            let current = self.get(&served.storage_key, namespace, name);
            let mutation = decide(current.as_ref())?;
            if dry_run {
                if current.is_none() && served.rt.namespaced {
                    check_namespace_accepts(&self.read(), namespace)?;
                }
                return Ok(match mutation {
                    Mutation::Put(value) => Committed {
                        object: Arc::new(StoredObject::new(value)),
                        created: current.is_none(),
                        removed: false,
                    },
                    Mutation::Remove(value) => Committed {
                        object: Arc::new(StoredObject::new(value)),
                        created: false,
                        removed: true,
                    },
                    Mutation::Unchanged(object) => Committed {
                        object,
                        created: false,
                        removed: false,
                    },
                });
            }
            if let Mutation::Unchanged(object) = mutation {
                return Ok(Committed {
                    object,
                    created: false,
                    removed: false,
                });
            }
            let mut state = self.write();
            let now_current = state
                .objects
                .get(&served.storage_key)
                .and_then(|objects| objects.get(&key));
            let same = match (&current, now_current) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            };
            if !same {
                continue;
            }
            if current.is_none() && served.rt.namespaced {
                check_namespace_accepts(&state, namespace)?;
            }
            let committed = self.commit(&mut state, served, key, current, mutation);
            let rv = state.resource_version;
            drop(state);
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.latest.send_replace(rv);
            return Ok(committed);
        }
    }

    fn commit(
        &self,
        state: &mut State,
        served: &Served,
        key: ObjectKey,
        previous: Option<Arc<StoredObject>>,
        mutation: Mutation,
    ) -> Committed {
        state.resource_version += 1;
        let rv = state.resource_version;
        let (mut value, removed) = match mutation {
            Mutation::Put(value) => (value, false),
            Mutation::Remove(value) => (value, true),
            Mutation::Unchanged(object) => {
                return Committed {
                    object,
                    created: false,
                    removed: false,
                };
            }
        };
        metadata_mut(&mut value).insert("resourceVersion".into(), Value::from(rv.to_string()));
        let object = Arc::new(StoredObject::new(value));
        let storage_key = served.storage_key.clone();
        let created = previous.is_none();

        let old_owners = previous
            .as_ref()
            .map(|p| owner_uids(&p.value))
            .unwrap_or_default();
        let new_owners = if removed {
            Vec::new()
        } else {
            owner_uids(&object.value)
        };
        for uid in old_owners.iter().filter(|uid| !new_owners.contains(uid)) {
            if let Some(set) = state.dependents.get_mut(uid) {
                set.remove(&(storage_key.clone(), key.clone()));
                if set.is_empty() {
                    state.dependents.remove(uid);
                }
            }
        }
        for uid in new_owners.iter().filter(|uid| !old_owners.contains(uid)) {
            state
                .dependents
                .entry(uid.clone())
                .or_default()
                .insert((storage_key.clone(), key.clone()));
        }

        let uid = meta_str(&object.value, "uid").to_string();
        if removed {
            state.uids.remove(&uid);
        } else if created {
            state.uids.insert(uid);
        }
        for owner in new_owners.iter().filter(|uid| !old_owners.contains(uid)) {
            if !state.uids.contains(owner) {
                let _ = self
                    .background
                    .send(Background::OwnerMissing(owner.clone()));
            }
        }

        let objects = state.objects.entry(storage_key.clone()).or_default();
        if removed {
            objects.remove(&key);
        } else {
            objects.insert(key.clone(), object.clone());
        }
        let event_type = match (removed, created) {
            (true, _) => EventType::Deleted,
            (false, true) => EventType::Added,
            (false, false) => EventType::Modified,
        };
        state.history.push_back(Arc::new(ChangeEvent {
            resource_version: rv,
            storage_key: storage_key.clone(),
            event_type,
            object: object.clone(),
            previous: previous.clone(),
        }));
        while state.history.len() > state.history_limit {
            if let Some(dropped) = state.history.pop_front() {
                state.compacted = dropped.resource_version;
            }
        }

        let began_deleting = !removed
            && is_deleting(&object.value)
            && !previous.as_ref().is_some_and(|p| is_deleting(&p.value));
        if storage_key.as_ref() == CRDS {
            state.served = Arc::new(served_types(state));
            if began_deleting {
                let _ = self
                    .background
                    .send(Background::CrdTerminating(key.1.clone()));
            }
        }
        if storage_key.as_ref() == NAMESPACES && began_deleting {
            let _ = self
                .background
                .send(Background::NamespaceTerminating(key.1.clone()));
        }
        if began_deleting
            && super::object::finalizers(&object.value)
                .iter()
                .any(|f| f == "orphan" || f == "foregroundDeletion")
        {
            let _ = self.background.send(Background::Finalize {
                storage_key: storage_key.clone(),
                namespace: key.0.clone(),
                name: key.1.clone(),
            });
        }
        if removed {
            let _ = self.background.send(Background::Removed {
                object: object.clone(),
                namespace: key.0.clone(),
                storage_key,
            });
        }
        Committed {
            object,
            created,
            removed,
        }
    }
}

fn check_namespace_accepts(state: &State, namespace: &str) -> Result<(), ApiError> {
    let found = state
        .objects
        .get(NAMESPACES)
        .and_then(|namespaces| namespaces.get(&(String::new(), namespace.to_string())));
    match found {
        None => Err(ApiError::namespace_not_found(namespace)),
        Some(ns) if is_deleting(&ns.value) => Err(ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
            details: serde_json::json!({"name": namespace, "kind": "namespaces", "causes": [{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {namespace} is being terminated"),
                "field": "metadata.namespace",
            }]}),
        }),
        Some(_) => Ok(()),
    }
}

/// Built-in types plus the served versions of every established CRD.
fn served_types(state: &State) -> Vec<Served> {
    let mut served: Vec<Served> = builtin_types().into_iter().map(Served::new).collect();
    if let Some(crds) = state.objects.get(CRDS) {
        for crd in crds.values() {
            served.extend(crd_types(&crd.value).into_iter().map(Served::new));
        }
    }
    served
}
