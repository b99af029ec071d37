//! The `Context` every reconcile shares, and the one builder that makes it: `portico run`, the
//! sandbox, the soak, the bench and the tests all wire the operator through [`ContextBuilder`],
//! so what they exercise is the production wiring (token watch, gateway client reporting to
//! the process's metrics, gates, event reporter).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::NamespaceResourceScope;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, Resource};
use portico_gateway_client::{GatewayClient, GatewayClientConfig, GatewayConfigError};

use crate::controller::gate::{GatePolicy, Gates};
use crate::credentials::{GatewayToken, SecretRef};
use crate::metrics::Metrics;

/// Settings of the operator.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    /// Reconciles running at once, per kind.
    pub concurrency: u16,
    /// Timing of drift checks, backoff and terminal holds.
    pub gate: GatePolicy,
    /// Name the operator reports events as (e.g. the pod name).
    pub instance: String,
    /// This cluster's identity at the gateway: recorded with every object it provisions, so
    /// operators of several clusters sharing one gateway never change or delete each other's.
    pub cluster_name: String,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            namespace: None,
            concurrency: 16,
            gate: GatePolicy::default(),
            instance: "portico".into(),
            cluster_name: "default".into(),
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Gateway client (with its shared rate limiter).
    pub gateway: GatewayClient,
    /// The gateway admin token, kept current.
    pub token: GatewayToken,
    /// Per-object scheduling memory.
    pub gates: Gates,
    /// Settings.
    pub config: OperatorConfig,
    /// Metrics and readiness of this process.
    pub metrics: Arc<Metrics>,
    reporter: Reporter,
    /// `resourceVersion` of referenced Secrets, as last seen by the Secret watch or a read:
    /// a drift check compares it with what status says the gateway received, instead of
    /// reading the Secret every poll interval.
    secret_versions: Mutex<HashMap<(String, String), String>>,
}

impl Context {
    pub(crate) fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// A recorder per event, on purpose: kube-runtime's recorder folds a repeated reason for
    /// the same object (within six minutes) into a series that keeps the *first* note — which
    /// would hide the trace id of the latest call — and caches every event it sent meanwhile.
    pub(crate) fn recorder(&self) -> Recorder {
        Recorder::new(self.client.clone(), self.reporter.clone())
    }

    pub(crate) fn versions(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        // A poisoned map is still a set of hints; a wrong hint costs one Secret read.
        self.secret_versions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last seen `resourceVersion` of a referenced Secret, if known.
    pub(crate) fn secret_version(&self, namespace: &str, name: &str) -> Option<String> {
        self.versions()
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Remembers a referenced Secret's `resourceVersion` (from a read or a watch event).
    pub(crate) fn note_secret_version(&self, namespace: &str, name: &str, version: Option<&str>) {
        let key = (namespace.to_owned(), name.to_owned());
        match version {
            Some(version) => {
                self.versions().insert(key, version.to_owned());
            }
            None => {
                self.versions().remove(&key);
            }
        }
    }
}

/// Builds the operator's [`Context`]: the only way to make one.
///
/// The gateway admin token is watched in its Secret, and the gateway client is built on that
/// watch and reports to the context's metrics (a fresh registry unless [`Self::metrics`] gives
/// the process's own).
pub struct ContextBuilder {
    client: Client,
    gateway: GatewayClientConfig,
    token_secret: SecretRef,
    config: OperatorConfig,
    metrics: Option<Arc<Metrics>>,
}

impl ContextBuilder {
    /// A context for the cluster behind `client`, calling the gateway as `gateway` says, with
    /// the admin token read from `token_secret`.
    pub fn new(client: Client, gateway: GatewayClientConfig, token_secret: SecretRef) -> Self {
        Self {
            client,
            gateway,
            token_secret,
            config: OperatorConfig::default(),
            metrics: None,
        }
    }

    /// The operator's settings (default: [`OperatorConfig::default`]).
    pub fn config(mut self, config: OperatorConfig) -> Self {
        self.config = config;
        self
    }

    /// Reports to `metrics` (the registry the process serves on `/metrics`).
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Starts the token watch and builds the gateway client and the context.
    pub fn build(self) -> Result<Arc<Context>, GatewayConfigError> {
        let metrics = self.metrics.unwrap_or_else(|| Arc::new(Metrics::new()));
        let token = GatewayToken::watch(self.client.clone(), self.token_secret);
        let gateway = GatewayClient::new(
            GatewayClientConfig {
                metrics: metrics.gateway.clone(),
                ..self.gateway
            },
            token.receiver(),
        )?;
        let reporter = Reporter {
            controller: "portico".into(),
            instance: Some(self.config.instance.clone()),
        };
        Ok(Arc::new(Context {
            reporter,
            secret_versions: Mutex::default(),
            gates: Gates::new(self.config.gate),
            client: self.client,
            gateway,
            token,
            config: self.config,
            metrics,
        }))
    }
}
