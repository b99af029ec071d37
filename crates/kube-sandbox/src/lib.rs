//! An in-process server speaking the Kubernetes REST API for the resources an operator needs:
//! namespaces, Secrets, ConfigMaps, Events, Leases, CRDs and the custom resources they define,
//! plus the kinds `deploy/` applies (ServiceAccounts, Services, Deployments, RBAC), stored
//! without controllers.
//!
//! HTTP on loopback. Bearer-token auth is on when [`ApiServerConfig::token`] is set; the CLI
//! leaves it off (kubectl sends credentials only over https, and the server is loopback-only),
//! so every request addressed to the server is admitted. Requests addressed to another host (a
//! web page reaching the server through DNS rebinding) are refused: see [`loopback_host`].
//!
//! Contract: a Kubernetes-compatible API server that knows nothing of Portico's kinds (any CRD
//! is served from its definition); of our crates it imports only `portico-telemetry`. A
//! development and test tool: never linked into the operator or gateway images.
#![forbid(unsafe_code)]

pub mod controllers;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod http;
pub mod loopback_host;
pub mod managed;
pub mod negotiation;
pub mod object;
pub mod openapi;
pub mod protobuf;
pub mod registry;
pub mod schema;
pub mod selector;
mod served_api;
pub mod store;
pub mod strategic;
pub mod table;
pub mod verbs;
pub mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

pub use error::ApiError;
pub use faults::{FaultRule, Faults, RequestAttributes, StatsSnapshot};
pub use registry::ResourceType;
pub use store::Store;

/// How to run an API server.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Address to bind (`127.0.0.1:0` picks a free port). Requests must name a loopback host
    /// ([`loopback_host`]), so on any other address the server answers only `403`s.
    pub listen: SocketAddr,
    /// Bearer token every request must present; `None` admits all.
    pub token: Option<SecretString>,
    /// How many change events the watch history retains; older versions answer `410 Gone`.
    pub history_limit: usize,
    /// How often watchers that allow bookmarks get one.
    pub bookmark_interval: Duration,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            history_limit: 20_000,
            bookmark_interval: Duration::from_secs(5),
        }
    }
}

/// Why the server could not start or serve a helper.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// Binding the listen address failed.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Building a kube client failed.
    #[error("failed to build a kube client: {0}")]
    Client(#[from] kube::Error),
    /// The server URL did not parse as a URI.
    #[error("failed to parse the server url {0}")]
    Url(String),
    /// Writing the kubeconfig failed.
    #[error("failed to write the kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// The cause.
        message: String,
    },
    /// A standard object could not be created at start.
    #[error("failed to seed the store: {0}")]
    Seed(#[from] ApiError),
}

/// A running API server.
pub struct ApiServer {
    addr: SocketAddr,
    token: Option<SecretString>,
    store: Arc<Store>,
    faults: Arc<Faults>,
    stats: Arc<faults::Stats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    controllers: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

const STANDARD_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

impl ApiServer {
    /// Binds, seeds the standard namespaces and serves until [`ApiServer::shutdown`] or drop.
    pub async fn start(config: ApiServerConfig) -> Result<Self, ApiServerError> {
        let (store, work) = Store::new(config.history_limit);
        let namespaces = store
            .find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::new(500, "InternalError", "namespaces are not served"))?;
        let seed_options = verbs::WriteOptions {
            field_manager: "kube-apiserver".into(),
            ..verbs::WriteOptions::default()
        };
        for name in STANDARD_NAMESPACES {
            verbs::create(
                &store,
                &namespaces,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                &seed_options,
            )?;
        }
        let faults = Arc::new(Faults::new(store.clone()));
        let stats = Arc::new(faults::Stats::default());
        let app = Arc::new(http::AppState {
            store: store.clone(),
            faults: faults.clone(),
            stats: stats.clone(),
            token: config.token.clone(),
            watch: watch::WatchSettings {
                bookmark_interval: config.bookmark_interval,
            },
        });
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ApiServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ApiServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let router = axum::Router::new().fallback(http::dispatch).with_state(app);
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = signal.await;
            });
            if let Err(error) = served.await {
                tracing::error!(%error, "sandbox API server stopped");
            }
        });
        let controllers = tokio::spawn(controllers::run(store.clone(), work));
        Ok(Self {
            addr,
            token: config.token,
            store,
            faults,
            stats,
            shutdown: Some(shutdown),
            task,
            controllers,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The store (for in-process inspection).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The currently served resource types.
    pub fn types(&self) -> Vec<ResourceType> {
        self.store.served().iter().map(|s| s.rt.clone()).collect()
    }

    /// Fault injection.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Request counts by verb and resource, and committed writes.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot(self.store.writes())
    }

    /// A kube client for this server, default namespace `default`.
    pub fn kube_client(&self) -> Result<kube::Client, ApiServerError> {
        let uri: ::http::Uri = self
            .url()
            .parse()
            .map_err(|_| ApiServerError::Url(self.url()))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".to_string();
        config.auth_info.token = self.token.clone();
        Ok(kube::Client::try_from(config)?)
    }

    /// Writes a kubeconfig (server URL, token, one context `sandbox`, namespace `default`).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), ApiServerError> {
        let mut user = json!({});
        if let Some(token) = &self.token {
            user["token"] = json!(token.expose_secret());
        }
        let kubeconfig = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url()}}],
            "users": [{"name": "sandbox", "user": user}],
            "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": "default"}}],
            "current-context": "sandbox",
            "preferences": {},
        });
        let failed = |message: String| ApiServerError::Kubeconfig {
            path: path.display().to_string(),
            message,
        };
        let text = serde_saphyr::to_string(&kubeconfig).map_err(|e| failed(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| failed(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(())
    }

    /// Stops accepting requests, ends open watches and waits for the server task.
    pub async fn shutdown(mut self) {
        self.faults.close_watches();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.task).await;
        self.controllers.abort();
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.faults.close_watches();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.controllers.abort();
    }
}
