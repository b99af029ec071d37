//! The operator's controllers: one kube-runtime controller per kind, sharing a `Context`. Each
//! reconcile runs the same frame: gate (is a gateway call due?) → finalizer → the kind's steps
//! (dereference → plan → apply → update status, in `kinds`) or cleanup. Failures become a
//! `Synced=False` condition with a reason and a per-object backoff.

pub mod connection_secret;
mod error;
pub mod gate;
mod identity;
mod kinds;
mod status;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use error::{ReconcileError, Retry, UpstreamCheckFailure, UpstreamReason, gateway_reason};
use gate::{Inputs, ObjectKey};

pub use crate::context::{Context, ContextBuilder, OperatorConfig};
use crate::metrics::ReconcileResult;
use portico_api::{AIModel, FINALIZER, ManagedDatabase, PAUSED_ANNOTATION};

/// The annotation `kubectl apply` stores the applied manifest in.
const KUBECTL_LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Why the operator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A CRD is not installed in the cluster.
    #[error(
        "the {kind} CRD ({crd}) is not installed in this cluster; install the CRDs first: kubectl apply -f crds/"
    )]
    CrdMissing {
        /// Kind whose CRD is missing.
        kind: &'static str,
        /// CRD name.
        crd: &'static str,
    },
    /// The Kubernetes API could not be reached.
    #[error("failed to reach the Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
}

/// Fails with one plain line when the CRDs are not installed.
pub async fn ensure_crds_installed(
    client: &Client,
    namespace: Option<&str>,
) -> Result<(), RunError> {
    probe::<AIModel>(client, namespace, "AIModel", "aimodels.portico.dev").await?;
    probe::<ManagedDatabase>(
        client,
        namespace,
        "ManagedDatabase",
        "manageddatabases.portico.dev",
    )
    .await
}

async fn probe<K>(
    client: &Client,
    namespace: Option<&str>,
    kind: &'static str,
    crd: &'static str,
) -> Result<(), RunError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Err(RunError::CrdMissing { kind, crd })
        }
        Err(error) => Err(RunError::Kube(error)),
    }
}

/// Runs both controllers until `shutdown` is cancelled; in-flight reconciles finish first.
pub async fn run(ctx: Arc<Context>, shutdown: CancellationToken) -> Result<(), RunError> {
    ensure_crds_installed(&ctx.client, ctx.config.namespace.as_deref()).await?;
    // A new run (a new leadership term) starts from what status says: memory of an earlier
    // term may describe objects another leader has since changed or deleted.
    ctx.gates.clear();
    ctx.versions().clear();
    tracing::info!(
        namespace = ctx.config.namespace.as_deref().unwrap_or("<all>"),
        "starting controllers"
    );
    futures::join!(
        run_kind::<AIModel>(ctx.clone(), shutdown.clone()),
        run_kind::<ManagedDatabase>(ctx.clone(), shutdown.clone()),
    );
    Ok(())
}

/// What a kind contributes to the shared reconcile flow.
pub(crate) trait Kind:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// Kind name, e.g. `AIModel`.
    const KIND: &'static str;
    /// The kind's status type.
    type Status: status::CommonStatus + Send + Sync;
    /// The status, if the object has one yet.
    fn status(&self) -> Option<&Self::Status>;
    /// The phase its status shows, if any.
    fn phase(&self) -> Option<portico_api::Phase> {
        self.status().and_then(status::CommonStatus::phase)
    }
    /// Whether status says the current generation is in sync (Ready, Synced, observed).
    fn in_sync(&self) -> bool {
        status::in_sync(self.status(), self.meta().generation)
    }
    /// Secrets in the object's namespace (other than its connection Secret) whose change must
    /// re-run it.
    fn referenced_secrets(&self) -> Vec<&str>;
    /// Name of the connection Secret it writes.
    fn connection_secret(&self) -> String;
    /// The `resourceVersion` of referenced Secret `name` that the gateway last received, as
    /// status records it (`None`: not known, so any version counts as a change).
    fn secret_version_sent(&self, name: &str) -> Option<&str>;
    /// Status fields a failure still records besides its conditions: what the gateway holds
    /// although the reconcile failed. None by default.
    fn note_failure(_status: &mut Self::Status, _error: &ReconcileError) {}
    /// Brings the gateway object and the connection Secret to the spec.
    fn apply(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> impl Future<Output = Result<Action, ReconcileError>> + Send;
    /// Deprovisions (or orphans) the gateway object. `Ok(None)` means it is gone and the
    /// finalizer may go; `Ok(Some(action))` means look again later.
    fn cleanup(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> impl Future<Output = Result<Option<Action>, ReconcileError>> + Send;
}

/// Identity and helpers of the object being reconciled.
pub(crate) struct Scope {
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub key: ObjectKey,
    pub inputs: Inputs,
}

impl Scope {
    fn of<K: Kind>(obj: &K, ctx: &Context) -> Self {
        let namespace = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        Self {
            key: ObjectKey {
                kind: K::KIND,
                namespace: namespace.clone(),
                name: name.clone(),
            },
            inputs: Inputs {
                generation: obj.meta().generation.unwrap_or_default(),
                token_version: ctx.token.version(),
                deleting: obj.meta().deletion_timestamp.is_some(),
                external_name: {
                    use std::hash::{Hash, Hasher};
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    identity::requested(obj).hash(&mut hasher);
                    hasher.finish()
                },
            },
            generation: obj.meta().generation.unwrap_or_default(),
            namespace,
            name,
        }
    }
}

fn is_paused<K: Resource>(obj: &K) -> bool {
    obj.annotations()
        .get(PAUSED_ANNOTATION)
        .is_some_and(|value| value == "true")
}

/// Publishes an event about an object; failures are logged, never fatal.
pub(crate) async fn publish<K: Kind>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder().publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(%error, reason, "failed to publish event");
    }
}

async fn reconcile<K: Kind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let scope = Scope::of(&*obj, &ctx);
    // A root span per reconcile (not a child of kube-runtime's "reconciling object" span): its
    // trace id is the one written to status and events, and the gateway calls below are its
    // children.
    let span = tracing::info_span!(
        parent: None,
        "reconcile",
        kind = K::KIND,
        namespace = %scope.namespace,
        name = %scope.name,
        generation = scope.generation,
    );
    let started = Instant::now();
    let metrics = ctx.metrics.clone();
    let (action, result) = reconcile_steps(obj, ctx, scope).instrument(span).await;
    metrics
        .controller
        .observe_reconcile(K::KIND, result, started.elapsed());
    Ok(action)
}

async fn reconcile_steps<K: Kind>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    scope: Scope,
) -> (Action, ReconcileResult) {
    let deleting = scope.inputs.deleting;
    let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);
    if deleting && !has_finalizer {
        return (Action::await_change(), ReconcileResult::Skipped);
    }
    // A cached copy from before our finalizer went (a requeue that outran the watch, e.g. from
    // the garbage-collected connection Secret): deprovisioned already, exactly once.
    if deleting && ctx.gates.is_finalized(&scope.key, obj.uid().as_deref()) {
        return (Action::await_change(), ReconcileResult::Skipped);
    }
    // Paused objects are left alone, but deletion still deprovisions and releases them.
    if is_paused(&*obj) && !deleting {
        tracing::debug!("paused; not reconciling");
        return (Action::await_change(), ReconcileResult::Skipped);
    }
    if !deleting
        && has_finalizer
        && obj.in_sync()
        && referenced_secrets_unchanged(&*obj, &ctx, &scope.namespace)
        && let Some(wait) =
            ctx.gates
                .defer_first_check(scope.key.clone(), scope.inputs, Instant::now())
    {
        // In sync before this process started: its first drift check is spread over the poll
        // interval rather than made by every object at once.
        tracing::trace!(
            gate_wait_ms = wait.as_millis() as u64,
            "first drift check deferred"
        );
        return (Action::requeue(wait), ReconcileResult::Skipped);
    }
    if let Some(wait) = ctx
        .gates
        .closed_for(&scope.key, scope.inputs, Instant::now())
    {
        // `portico bench` tells these apart from reconciles that did work by this field.
        tracing::trace!(gate_wait_ms = wait.as_millis() as u64, "gate closed");
        return (Action::requeue(wait), ReconcileResult::Skipped);
    }
    let api: Api<K> = ctx.api(&scope.namespace);
    // A name the gateway cannot hold, or a changed external name, is refused before anything
    // else: no finalizer for an object that can never exist at the gateway, no call for a move.
    let identity = if deleting {
        Ok(())
    } else {
        identity::apply_name(&*obj).map(|_| ())
    };
    let result = if let Err(error) = identity {
        Err(error)
    } else if !deleting && !has_finalizer {
        // Before any external call, so that nothing is ever created that deletion would miss.
        // The update re-triggers this object.
        set_finalizer(&api, &*obj, true)
            .await
            .map(|()| Action::await_change())
    } else if deleting {
        match K::cleanup(obj.clone(), ctx.clone(), &scope).await {
            Ok(Some(action)) => Ok(action),
            Ok(None) => set_finalizer(&api, &*obj, false).await.map(|()| {
                ctx.gates
                    .record_finalized(scope.key.clone(), obj.uid().unwrap_or_default());
                Action::await_change()
            }),
            Err(error) => Err(error),
        }
    } else {
        K::apply(obj.clone(), ctx.clone(), &scope).await
    };
    match result {
        Ok(action) => (action, ReconcileResult::Success),
        Err(error) => (
            handle_failure(obj, ctx, &scope, error).await,
            ReconcileResult::Error,
        ),
    }
}

/// Whether no referenced Secret is known to differ from the version the gateway last received.
/// A Secret the watch has not delivered yet counts as unchanged: when it arrives, the watch
/// compares it and opens the gate if it did change.
fn referenced_secrets_unchanged<K: Kind>(obj: &K, ctx: &Context, namespace: &str) -> bool {
    obj.referenced_secrets()
        .iter()
        .all(|name| match ctx.secret_version(namespace, name) {
            None => true,
            Some(version) => obj.secret_version_sent(name) == Some(version.as_str()),
        })
}

/// Adds or removes our finalizer with a merge patch guarded by the object's resourceVersion, so
/// a concurrent change makes it fail (and retry) instead of clobbering another finalizer.
async fn set_finalizer<K: Kind>(
    api: &Api<K>,
    obj: &K,
    present: bool,
) -> Result<(), ReconcileError> {
    let mut finalizers: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| f.as_str() != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.into());
    }
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": obj.resource_version(),
        }
    });
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: nothing left to hold.
        Err(kube::Error::Api(status)) if status.code == 404 && !present => Ok(()),
        Err(error) => Err(ReconcileError::Finalizer(error)),
    }
}

/// Records the failure (status, event, backoff) and decides when to look again.
async fn handle_failure<K: Kind>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    scope: &Scope,
    error: ReconcileError,
) -> Action {
    let now = Instant::now();
    let wait = match error.retry() {
        Retry::After(retry_after) => {
            ctx.gates
                .record_retryable(scope.key.clone(), scope.inputs, retry_after, now)
        }
        Retry::OnChange => ctx
            .gates
            .record_terminal(scope.key.clone(), scope.inputs, now),
    };
    ctx.metrics
        .controller
        .observe_failure(K::KIND, error.reason(), error.category());
    tracing::warn!(
        error = %error,
        reason = error.reason(),
        category = error.category(),
        retry_in_ms = wait.as_millis() as u64,
        "reconcile failed"
    );
    if let Err(status_error) = kinds::record_failure(&*obj, &ctx, &error).await {
        tracing::warn!(error = %status_error, "failed to record the failure in status");
    }
    Action::requeue(wait)
}

fn error_policy<K: Kind>(_obj: Arc<K>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    // Reconcile turns its own failures into requeues; only a bug reaches this point.
    tracing::error!(error = %error, "unexpected reconcile error");
    Action::requeue(Duration::from_secs(5))
}

async fn run_kind<K: Kind>(ctx: Arc<Context>, shutdown: CancellationToken) {
    let (objects_api, secrets_api): (Api<K>, Api<PartialObjectMeta<Secret>>) =
        match &ctx.config.namespace {
            Some(ns) => (
                Api::namespaced(ctx.client.clone(), ns),
                Api::namespaced(ctx.client.clone(), ns),
            ),
            None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
        };
    let (reader, writer) = reflector::store::<K>();
    let counted = reader.clone();
    ctx.metrics.controller.count_objects(K::KIND, move || {
        let mut phases = std::collections::BTreeMap::new();
        for obj in counted.state() {
            let phase = obj.phase().map_or("None", |phase| phase.as_str());
            *phases.entry(phase.to_string()).or_insert(0) += 1;
        }
        phases
    });
    let forget_ctx = ctx.clone();
    let objects = watcher(objects_api, watcher::Config::default().any_semantic())
        .default_backoff()
        // managedFields can more than double an object's size, and `kubectl apply` keeps a full
        // copy of the manifest in an annotation; nothing here reads either, and every write is
        // a patch, so the cached copy can go without them.
        .modify(|obj| {
            obj.managed_fields_mut().clear();
            obj.annotations_mut().remove(KUBECTL_LAST_APPLIED);
        })
        .map_ok(move |event| {
            match &event {
                watcher::Event::Delete(obj) => forget_ctx.gates.forget(&ObjectKey {
                    kind: K::KIND,
                    namespace: obj.namespace().unwrap_or_default(),
                    name: obj.name_any(),
                }),
                watcher::Event::InitDone => forget_ctx.metrics.readiness.cache_synced(K::KIND),
                _ => {}
            }
            event
        })
        .reflect(writer)
        .touched_objects();
    let store = reader.clone();
    let mapper_ctx = ctx.clone();
    let concurrency = ctx.config.concurrency;
    Controller::for_stream(objects, reader)
        .watches_stream(secret_triggers::<K>(secrets_api), move |secret| {
            let deleted = secret.metadata.deletion_timestamp.is_some();
            objects_to_requeue::<K>(&store, &mapper_ctx, &secret, deleted)
        })
        .reconcile_all_on(token_changes(ctx.token.receiver()))
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile::<K>, error_policy::<K>, ctx.clone())
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, kind = K::KIND, "controller event");
            }
        })
        .await;
    ctx.metrics.readiness.cache_stopped(K::KIND);
    ctx.metrics.controller.forget_objects(K::KIND);
    tracing::info!(kind = K::KIND, "controller stopped");
}

/// Secrets, metadata only (their data never enters the operator's memory), that may require a
/// reconcile: any change of a Secret we did not write, and the deletion of one we did (its
/// owner must write it again, re-issuing the credential). A deleted Secret comes out with a
/// `deletionTimestamp`, so the mapper can tell a deletion from a change.
fn secret_triggers<K: Kind>(
    api: Api<PartialObjectMeta<Secret>>,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send {
    watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .try_filter_map(|event| async move {
            Ok(match event {
                watcher::Event::Apply(meta) | watcher::Event::InitApply(meta) => {
                    (owner_of::<K>(&meta).is_none()).then_some(meta)
                }
                watcher::Event::Delete(mut meta) => {
                    if meta.metadata.deletion_timestamp.is_none() {
                        meta.metadata.deletion_timestamp =
                            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                                jiff::Timestamp::now(),
                            ));
                    }
                    Some(meta)
                }
                watcher::Event::Init | watcher::Event::InitDone => None,
            })
        })
}

/// The object of kind `K` that owns a Secret, if any.
fn owner_of<K: Kind>(meta: &PartialObjectMeta<Secret>) -> Option<String> {
    meta.owner_references()
        .iter()
        .find(|owner| {
            owner.kind == K::KIND
                && owner
                    .api_version
                    .starts_with(&format!("{}/", portico_api::GROUP))
        })
        .map(|owner| owner.name.clone())
}

/// Objects to reconcile because a Secret changed; their gates are opened so the change is acted
/// on now rather than at the next poll. A referenced Secret counts as changed only when its
/// version differs from the one the gateway last received: the watch's (re)lists replay every
/// Secret, and must not trigger a drift check of every object that references one.
fn objects_to_requeue<K: Kind>(
    store: &Store<K>,
    ctx: &Context,
    secret: &PartialObjectMeta<Secret>,
    deleted: bool,
) -> Vec<ObjectRef<K>> {
    let namespace = secret.namespace().unwrap_or_default();
    let secret_name = secret.name_any();
    let version = secret.resource_version();
    let mut names: Vec<String> = owner_of::<K>(secret).into_iter().collect();
    let referencing: Vec<Arc<K>> = store
        .state()
        .into_iter()
        .filter(|obj| obj.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|obj| obj.referenced_secrets().contains(&secret_name.as_str()))
        .collect();
    // Every Secret we did not write is remembered, referenced yet or not: an object first seen
    // after its Secret compares versions at once (see `reconcile_steps`), one seen before is
    // compared here.
    if owner_of::<K>(secret).is_none() {
        let seen = (!deleted).then_some(version.as_deref()).flatten();
        ctx.note_secret_version(&namespace, &secret_name, seen);
    }
    if deleted && owner_of::<K>(secret).is_none() {
        // A Secret that stood in the way of a connection Secret is gone: the objects it blocked
        // can write theirs now.
        names.extend(
            store
                .state()
                .into_iter()
                .filter(|obj| obj.namespace().as_deref() == Some(namespace.as_str()))
                .filter(|obj| obj.connection_secret() == secret_name)
                .map(|obj| obj.name_any()),
        );
    }
    names.extend(
        referencing
            .iter()
            .filter(|obj| deleted || obj.secret_version_sent(&secret_name) != version.as_deref())
            .map(|obj| obj.name_any()),
    );
    names
        .into_iter()
        .map(|name| {
            ctx.gates.open(&ObjectKey {
                kind: K::KIND,
                namespace: namespace.clone(),
                name: name.clone(),
            });
            ObjectRef::new(&name).within(&namespace)
        })
        .collect()
}

/// Fires once per gateway-token change.
fn token_changes(
    receiver: tokio::sync::watch::Receiver<Option<secrecy::SecretString>>,
) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.changed().await.ok()?;
        Some(((), receiver))
    })
}
