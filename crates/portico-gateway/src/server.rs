//! The reference gateway's server: its settings, startup (state, router assembly, the gate
//! around every route) and the in-process handle `ReferenceGateway`.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use super::error::ApiError;
use super::faults::{Controls, RandomFaults, ScriptedFault};
use super::inference::{self, DataPlane};
use super::state::AppState;
use super::stats::{RequestRecord, Stats};
use super::store::Provisioner;
use super::upstream::{self, EgressPolicy};
use super::{control_routes, gate, handlers};

/// Settings of a reference gateway.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The admin bearer token.
    pub token: SecretString,
    /// Server-side rate limit in calls per second; beyond it `429` with `Retry-After`.
    pub rate_limit: Option<f64>,
    /// How long database provisioning and deprovisioning take.
    pub provision_delay: Duration,
    /// Probability of a random `503`.
    pub fault_rate: f64,
    /// Latency added to every call.
    pub fault_latency: Duration,
    /// Host reported for simulated databases.
    pub database_host: String,
    /// Base URL written into model endpoints; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
    /// Upstreams the gateway may call besides the providers' public APIs
    /// (`--allow-upstream`): host names, `*.suffix`, IP addresses or CIDR networks. Link-local
    /// and cloud metadata addresses are never called.
    pub allow_upstream: Vec<String>,
    /// Development setting: base URL used for a provider's models that set no
    /// `upstream.baseUrl`, by provider name (`openai`, `anthropic`, ...), e.g. a local stand-in
    /// upstream. Its host is allowed.
    pub provider_base_urls: HashMap<String, String>,
    /// Longest silence of an upstream during a call (connect: 5 s).
    pub upstream_timeout: Duration,
    /// Time limit of the upstream check a model write makes.
    pub upstream_check_timeout: Duration,
}

impl GatewayConfig {
    /// A gateway on `127.0.0.1:0` with `token`, no limits, faults or delays.
    pub fn new(token: SecretString) -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token,
            rate_limit: None,
            provision_delay: Duration::ZERO,
            fault_rate: 0.0,
            fault_latency: Duration::ZERO,
            database_host: "127.0.0.1".into(),
            public_url: None,
            allow_upstream: Vec::new(),
            provider_base_urls: HashMap::new(),
            upstream_timeout: Duration::from_secs(120),
            upstream_check_timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("rate_limit", &self.rate_limit)
            .field("provision_delay", &self.provision_delay)
            .field("allow_upstream", &self.allow_upstream)
            .field("provider_base_urls", &self.provider_base_urls)
            .finish_non_exhaustive()
    }
}

/// Why a reference gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayStartError {
    /// The listening address could not be bound.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A setting is invalid (an allowed upstream, the upstream client).
    #[error("invalid gateway setting: {0}")]
    Config(String),
}

/// A running reference gateway. Dropping it stops the server.
pub struct ReferenceGateway {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ReferenceGateway {
    /// Binds and serves on the current tokio runtime, with simulated databases.
    pub async fn start(config: GatewayConfig) -> Result<Self, GatewayStartError> {
        Self::start_with_provisioner(config, None).await
    }

    pub(crate) async fn start_with_provisioner(
        config: GatewayConfig,
        provisioner: Option<Arc<dyn Provisioner>>,
    ) -> Result<Self, GatewayStartError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| GatewayStartError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| GatewayStartError::Bind {
                addr: config.listen,
                source,
            })?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        let mut controls = Controls {
            random: RandomFaults {
                rate: config.fault_rate,
                latency_ms: config.fault_latency.as_millis() as u64,
            },
            ..Controls::default()
        };
        controls.set_rate_limit(config.rate_limit);
        let mut egress = EgressPolicy::new(config.allow_upstream.iter().map(String::as_str))
            .map_err(GatewayStartError::Config)?;
        for base in config.provider_base_urls.values() {
            egress.allow_url_host(base);
        }
        let egress = Arc::new(egress);
        let http = upstream::http_client(egress.clone(), config.upstream_timeout)
            .map_err(GatewayStartError::Config)?;
        let data = DataPlane::new(
            http,
            egress,
            config.provider_base_urls.clone(),
            config.upstream_check_timeout,
        );
        let state = Arc::new(AppState::new(
            &config.token,
            public_url,
            config.provision_delay,
            config.database_host.clone(),
            provisioner,
            controls,
            data,
        ));
        let router = handlers::routes()
            .merge(inference::routes())
            .merge(control_routes::routes())
            .fallback(|| async { ApiError::not_found("no such route") })
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                gate::gate,
            ))
            .with_state(state.clone());
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "reference gateway stopped serving");
            }
        });
        tracing::info!(%addr, "reference gateway listening");
        Ok(ReferenceGateway {
            addr,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls by operation and status, and objects held (what `GET /v1/admin/stats` answers).
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Requests that arrived and have not been answered yet.
    pub fn in_flight(&self) -> u64 {
        self.state.in_flight()
    }

    /// The most recent requests (up to 65,536), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests()
    }

    /// Sets the probability of a random `503` (with `Retry-After: 1`).
    pub fn set_fault_rate(&self, rate: f64) {
        self.state.with_controls(|c| c.random.rate = rate);
    }

    /// Sets the latency added to every call.
    pub fn set_fault_latency(&self, latency: Duration) {
        self.state
            .with_controls(|c| c.random.latency_ms = latency.as_millis() as u64);
    }

    /// Queues a scripted answer.
    pub fn push_fault(&self, fault: ScriptedFault) {
        self.state.with_controls(|c| c.scripted.push_back(fault));
    }

    /// Removes scripted answers, random faults and latency (not the rate limit).
    pub fn clear_faults(&self) {
        self.state.with_controls(|c| {
            c.scripted.clear();
            c.random = RandomFaults::default();
        });
    }

    /// Sets (or with `None` removes) the server-side rate limit.
    pub fn set_rate_limit(&self, qps: Option<f64>) {
        self.state.with_controls(|c| c.set_rate_limit(qps));
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ReferenceGateway {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
