//! The background work kube-controller-manager and the apiextensions controllers would do:
//! garbage collection by owner references (background, orphan, foreground), namespace
//! termination and CRD instance cleanup.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::object::{finalizers, is_deleting, meta_str, owner_uids};
use super::store::{Background, CRDS, NAMESPACES, Served, StorageKey, Store};
use super::verbs::{
    self, CRD_CLEANUP_FINALIZER, DeleteOptions, FOREGROUND_FINALIZER, ORPHAN_FINALIZER,
};

/// The served type that writes a storage key (its storage version, never the Event conversion).
fn served_for(store: &Store, key: &StorageKey) -> Option<Served> {
    let served = store.served();
    let candidates: Vec<&Served> = served
        .iter()
        .filter(|s| &s.storage_key == key && !s.events_v1)
        .collect();
    candidates
        .iter()
        .find(|s| s.rt.storage)
        .or(candidates.first())
        .map(|s| (*s).clone())
}

/// Runs until the store is dropped.
pub async fn run(store: Arc<Store>, mut work: mpsc::UnboundedReceiver<Background>) {
    let mut foreground_owners: HashMap<String, (StorageKey, String, String)> = HashMap::new();
    while let Some(item) = work.recv().await {
        match item {
            Background::Removed {
                object,
                namespace,
                storage_key,
            } => {
                let uid = meta_str(&object.value, "uid").to_string();
                collect_dependents(&store, &uid);
                for owner in owner_uids(&object.value) {
                    if let Some((key, ns, name)) = foreground_owners.get(&owner).cloned()
                        && store.dependents(&owner).is_empty()
                    {
                        foreground_owners.remove(&owner);
                        if let Some(served) = served_for(&store, &key) {
                            let _ = verbs::remove_finalizer(
                                &store,
                                &served,
                                &ns,
                                &name,
                                FOREGROUND_FINALIZER,
                            );
                        }
                    }
                }
                if !namespace.is_empty()
                    && store
                        .get(&Arc::from(NAMESPACES), "", &namespace)
                        .is_some_and(|ns| is_deleting(&ns.value))
                {
                    clean_namespace(&store, &namespace);
                }
                if storage_key.as_ref() != CRDS
                    && let Some(crd) =
                        served_for(&store, &storage_key).and_then(|s| s.rt.crd_name.clone())
                    && store
                        .get(&Arc::from(CRDS), "", &crd)
                        .is_some_and(|c| is_deleting(&c.value))
                {
                    clean_crd(&store, &crd);
                }
            }
            Background::OwnerMissing(uid) => collect_dependents(&store, &uid),
            Background::NamespaceTerminating(namespace) => clean_namespace(&store, &namespace),
            Background::CrdTerminating(name) => clean_crd(&store, &name),
            Background::Finalize {
                storage_key,
                namespace,
                name,
            } => {
                let Some(served) = served_for(&store, &storage_key) else {
                    continue;
                };
                let Some(object) = store.get(&storage_key, &namespace, &name) else {
                    continue;
                };
                let uid = meta_str(&object.value, "uid").to_string();
                let held = finalizers(&object.value);
                if held.iter().any(|f| f == ORPHAN_FINALIZER) {
                    for (key, (ns, dependent)) in store.dependents(&uid) {
                        if let Some(dependent_type) = served_for(&store, &key) {
                            let _ = verbs::remove_owner_reference(
                                &store,
                                &dependent_type,
                                &ns,
                                &dependent,
                                &uid,
                            );
                        }
                    }
                    let _ = verbs::remove_finalizer(
                        &store,
                        &served,
                        &namespace,
                        &name,
                        ORPHAN_FINALIZER,
                    );
                }
                if held.iter().any(|f| f == FOREGROUND_FINALIZER) {
                    if store.dependents(&uid).is_empty() {
                        let _ = verbs::remove_finalizer(
                            &store,
                            &served,
                            &namespace,
                            &name,
                            FOREGROUND_FINALIZER,
                        );
                    } else {
                        foreground_owners.insert(uid.clone(), (storage_key, namespace, name));
                        for (key, (ns, dependent)) in store.dependents(&uid) {
                            if let Some(dependent_type) = served_for(&store, &key) {
                                let options = DeleteOptions {
                                    propagation: verbs::Propagation::Foreground,
                                    ..DeleteOptions::default()
                                };
                                let _ = verbs::delete(
                                    &store,
                                    &dependent_type,
                                    &ns,
                                    &dependent,
                                    &options,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Deletes the dependents of a gone owner; a dependent with other owners only loses the
/// reference.
fn collect_dependents(store: &Store, owner_uid: &str) {
    for (key, (namespace, name)) in store.dependents(owner_uid) {
        let Some(served) = served_for(store, &key) else {
            continue;
        };
        let Some(dependent) = store.get(&key, &namespace, &name) else {
            continue;
        };
        let owners = owner_uids(&dependent.value);
        if owners.iter().any(|uid| uid != owner_uid) {
            let _ = verbs::remove_owner_reference(store, &served, &namespace, &name, owner_uid);
        } else if !is_deleting(&dependent.value) {
            let _ = verbs::delete(store, &served, &namespace, &name, &DeleteOptions::default());
        }
    }
}

fn clean_namespace(store: &Store, namespace: &str) {
    let Some(ns) = store.get(&Arc::from(NAMESPACES), "", namespace) else {
        return;
    };
    if !is_deleting(&ns.value) {
        return;
    }
    for key in store.storage_keys() {
        if key.as_ref() == NAMESPACES || key.as_ref() == CRDS {
            continue;
        }
        let Some(served) = served_for(store, &key) else {
            continue;
        };
        if !served.rt.namespaced {
            continue;
        }
        let (objects, _) = store.list(&key, Some(namespace), None);
        for object in objects {
            if !is_deleting(&object.value) {
                let name = meta_str(&object.value, "name").to_string();
                let _ = verbs::delete(store, &served, namespace, &name, &DeleteOptions::default());
            }
        }
    }
    if !store.namespace_has_content(namespace)
        && let Some(served) = served_for(store, &Arc::from(NAMESPACES))
    {
        let _ = verbs::remove_finalizer(store, &served, "", namespace, "kubernetes");
    }
}

fn clean_crd(store: &Store, crd_name: &str) {
    let Some(crd) = store.get(&Arc::from(CRDS), "", crd_name) else {
        return;
    };
    if !is_deleting(&crd.value) {
        return;
    }
    let served = store.served();
    let Some(instances) = served
        .iter()
        .find(|s| s.rt.crd_name.as_deref() == Some(crd_name))
    else {
        // No served version left: nothing can hold instances.
        if let Some(crd_type) = served_for(store, &Arc::from(CRDS)) {
            let _ = verbs::remove_finalizer(store, &crd_type, "", crd_name, CRD_CLEANUP_FINALIZER);
        }
        return;
    };
    let (objects, _) = store.list(&instances.storage_key, None, None);
    let remaining = objects.len();
    for object in objects {
        if !is_deleting(&object.value) {
            let namespace = meta_str(&object.value, "namespace").to_string();
            let name = meta_str(&object.value, "name").to_string();
            let _ = verbs::delete(
                store,
                instances,
                &namespace,
                &name,
                &DeleteOptions::default(),
            );
        }
    }
    let (left, _) = store.list(&instances.storage_key, None, None);
    if (remaining == 0 || left.is_empty())
        && let Some(crd_type) = served_for(store, &Arc::from(CRDS))
    {
        let _ = verbs::remove_finalizer(store, &crd_type, "", crd_name, CRD_CLEANUP_FINALIZER);
    }
}
