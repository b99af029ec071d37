//! The `portico run` command: its flags, the clients it builds (Kubernetes, gateway, token
//! watch), the metrics endpoint, leader election, and the operator's lifetime from start to a
//! bounded graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::controller::gate::GatePolicy;
use crate::controller::{Context, ContextBuilder, OperatorConfig, RunError};
use crate::credentials::SecretRef;
use crate::http::HealthServer;
use crate::leader::{Elector, LeaderElectionConfig};
use crate::metrics::Metrics;
use portico_gateway_client::{GatewayClientConfig, GatewayConfigError, GatewayTls};
use secrecy::SecretString;

/// Flags of `portico run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Base URL of the gateway's admin API.
    #[arg(long, env = "PORTICO_GATEWAY_URL", value_name = "URL")]
    pub gateway_url: String,
    /// Secret holding the gateway admin token under key `token`, as NAMESPACE/NAME. It is
    /// watched: a rotated token is used on the next call, without a restart.
    #[arg(
        long,
        env = "PORTICO_GATEWAY_TOKEN_SECRET",
        value_name = "NAMESPACE/NAME"
    )]
    pub gateway_token_secret: SecretRef,
    /// Gateway calls per second, shared by all reconciles (the client-side rate limit).
    #[arg(long, env = "PORTICO_GATEWAY_QPS", default_value_t = 20.0)]
    pub gateway_qps: f64,
    /// Gateway calls allowed in a burst above the steady rate.
    #[arg(long, env = "PORTICO_GATEWAY_BURST", default_value_t = 40)]
    pub gateway_burst: u32,
    /// Time allowed for one gateway call.
    #[arg(long, env = "PORTICO_GATEWAY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub gateway_timeout: Duration,
    /// PEM bundle of the CAs that sign an `https` gateway's certificate; when given, only these
    /// are trusted.
    #[arg(long, env = "PORTICO_GATEWAY_CA_FILE", value_name = "PATH")]
    pub gateway_ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS with the gateway; needs
    /// `--gateway-client-key`.
    #[arg(
        long,
        env = "PORTICO_GATEWAY_CLIENT_CERT",
        value_name = "PATH",
        requires = "gateway_client_key"
    )]
    pub gateway_client_cert: Option<PathBuf>,
    /// PEM private key of `--gateway-client-cert`.
    #[arg(
        long,
        env = "PORTICO_GATEWAY_CLIENT_KEY",
        value_name = "PATH",
        requires = "gateway_client_cert"
    )]
    pub gateway_client_key: Option<PathBuf>,
    /// How often a Ready resource is compared with its gateway object (one GET; no writes
    /// unless it drifted).
    #[arg(long, env = "PORTICO_POLL_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Reconciles running at once, per kind.
    #[arg(long, env = "PORTICO_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "PORTICO_NAMESPACE", value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// This cluster's identity at the gateway, recorded as the owner of every object the
    /// operator provisions: operators of clusters sharing one gateway never change or delete
    /// each other's objects. Keep it stable for the life of the cluster.
    #[arg(
        long,
        env = "PORTICO_CLUSTER_NAME",
        default_value = "default",
        value_name = "NAME"
    )]
    pub cluster_name: String,
    /// How long a terminal failure (invalid spec, bad credentials) waits before one unprompted
    /// retry; a change of the spec, a referenced Secret or the token retries at once.
    #[arg(long, env = "PORTICO_TERMINAL_RETRY", default_value = "30m", value_parser = humantime::parse_duration)]
    pub terminal_retry: Duration,
    /// Longest backoff between retries of a retryable failure.
    #[arg(long, env = "PORTICO_MAX_BACKOFF", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_backoff: Duration,
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "PORTICO_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// On SIGTERM, how long in-flight reconciles may take to finish before they are abandoned.
    #[arg(long, env = "PORTICO_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// Elect one leader among replicas through a coordination.k8s.io/v1 Lease; only the leader
    /// reconciles.
    #[arg(long, env = "PORTICO_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the leader Lease (default: $POD_NAMESPACE, else portico-system).
    #[arg(
        long,
        env = "PORTICO_LEADER_ELECTION_NAMESPACE",
        value_name = "NAMESPACE"
    )]
    pub leader_election_namespace: Option<String>,
    /// Name of the leader Lease.
    #[arg(
        long,
        env = "PORTICO_LEADER_ELECTION_LEASE_NAME",
        default_value = "portico-leader"
    )]
    pub leader_election_lease_name: String,
    /// How long a leader's Lease stays valid without renewal: the longest a failed leader's
    /// replacement waits.
    #[arg(long, env = "PORTICO_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps reconciling while it cannot renew its Lease.
    #[arg(long, env = "PORTICO_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: Duration,
    /// How often candidates try to take the Lease and the leader renews it.
    #[arg(long, env = "PORTICO_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: Duration,
}

/// Why `portico run` could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No usable Kubernetes configuration.
    #[error("failed to load a Kubernetes configuration (KUBECONFIG or in-cluster): {0}")]
    KubeConfig(#[source] kube::Error),
    /// The gateway client could not be built.
    #[error("failed to configure the gateway client: {0}")]
    Gateway(#[from] GatewayConfigError),
    /// A TLS file of the gateway connection could not be read.
    #[error("failed to read {path}: {source}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The operator could not run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The leader-election settings do not fit together.
    #[error("invalid leader election settings: {0}")]
    LeaderElection(String),
    /// The metrics endpoint could not listen.
    #[error("failed to listen on the metrics address {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RunArgs {
    /// The operator settings these flags describe.
    pub fn operator_config(&self) -> OperatorConfig {
        OperatorConfig {
            namespace: self.namespace.clone(),
            concurrency: self.concurrency.max(1),
            gate: GatePolicy {
                poll_interval: self.poll_interval,
                backoff_max: self.max_backoff,
                terminal_hold: self.terminal_retry,
                ..GatePolicy::default()
            },
            instance: instance_name(),
            cluster_name: self.cluster_name.clone(),
        }
    }

    /// The leader-election settings these flags describe; the identity is the instance name
    /// plus a random suffix, so two processes on one host (or a restarted container) never
    /// mistake each other's Lease for their own.
    pub fn leader_election_config(&self) -> LeaderElectionConfig {
        LeaderElectionConfig {
            namespace: self
                .leader_election_namespace
                .clone()
                .or_else(|| std::env::var("POD_NAMESPACE").ok())
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| "portico-system".into()),
            lease_name: self.leader_election_lease_name.clone(),
            identity: format!("{}_{}", instance_name(), uuid::Uuid::new_v4().simple()),
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        }
    }

    /// The gateway client settings these flags describe (reads the TLS files they name).
    pub fn gateway_config(&self) -> Result<GatewayClientConfig, StartError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| StartError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let ca_bundle = self.gateway_ca_file.as_ref().map(read).transpose()?;
        let client_identity = match (&self.gateway_client_cert, &self.gateway_client_key) {
            (Some(cert), Some(key)) => {
                // reqwest takes the chain and the key as one PEM document.
                let mut pem = read(cert)?;
                pem.push(b'\n');
                pem.extend(read(key)?);
                Some(SecretString::from(
                    String::from_utf8_lossy(&pem).into_owned(),
                ))
            }
            _ => None,
        };
        Ok(GatewayClientConfig {
            qps: self.gateway_qps,
            burst: self.gateway_burst,
            timeout: self.gateway_timeout,
            tls: GatewayTls {
                ca_bundle,
                client_identity,
            },
            ..GatewayClientConfig::new(self.gateway_url.clone())
        })
    }
}

/// The name events and the leader Lease report this replica as: `$POD_NAME`, else
/// `$HOSTNAME`, else `portico`.
fn instance_name() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "portico".into())
}

/// Builds the operator's context from flags and a Kubernetes client, reporting to `metrics`.
pub fn context(
    client: kube::Client,
    args: &RunArgs,
    metrics: Arc<Metrics>,
) -> Result<Arc<Context>, StartError> {
    Ok(ContextBuilder::new(
        client,
        args.gateway_config()?,
        args.gateway_token_secret.clone(),
    )
    .config(args.operator_config())
    .metrics(metrics)
    .build()?)
}

/// Runs `portico run` until SIGINT or SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), StartError> {
    let mut config = kube::Config::infer()
        .await
        .map_err(|error| StartError::KubeConfig(kube::Error::InferConfig(error)))?;
    // Audit logs (and the sandbox's request counts) tell the operator's requests apart by it.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("portico/", env!("CARGO_PKG_VERSION"))),
    ));
    let client = kube::Client::try_from(config).map_err(StartError::KubeConfig)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    run_until(client, args, shutdown).await
}

/// Runs the operator with `client` until `shutdown`: the metrics endpoint, then the controllers
/// (directly, or whenever this replica leads); on shutdown, in-flight reconciles get
/// `--shutdown-timeout` to finish and the Lease is released.
pub async fn run_until(
    client: kube::Client,
    args: RunArgs,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let election = args.leader_election.then(|| args.leader_election_config());
    if let Some(config) = &election {
        config.validate().map_err(StartError::LeaderElection)?;
    }
    // A missing CRD is a plain one-line failure before anything else starts.
    crate::controller::ensure_crds_installed(&client, args.namespace.as_deref()).await?;
    let metrics = Arc::new(Metrics::new());
    let ctx = context(client.clone(), &args, metrics.clone())?;
    let server_stop = CancellationToken::new();
    let server = HealthServer::start(args.metrics_addr, metrics.clone(), server_stop.clone())
        .await
        .map_err(|source| StartError::Metrics {
            addr: args.metrics_addr,
            source,
        })?;
    tracing::info!(addr = %server.addr(), "serving /metrics, /healthz and /readyz");
    let result = match election {
        None => {
            metrics.set_leading(true);
            run_bounded(ctx, shutdown, args.shutdown_timeout).await
        }
        Some(config) => {
            run_with_leader_election(client, ctx, config, shutdown, args.shutdown_timeout)
                .await
                .map_err(StartError::from)
        }
    };
    server_stop.cancel();
    server.stopped().await;
    result
}

/// Runs the controllers whenever this replica holds the leader Lease, until `shutdown`; then
/// gives in-flight reconciles `bound` to finish and releases the Lease. Leadership is reported
/// in the context's metrics and readiness.
pub async fn run_with_leader_election(
    client: kube::Client,
    ctx: Arc<Context>,
    config: LeaderElectionConfig,
    shutdown: CancellationToken,
    bound: Duration,
) -> Result<(), RunError> {
    let failure: Arc<Mutex<Option<RunError>>> = Arc::default();
    let metrics = ctx.metrics.clone();
    let on_leading = move |leading: bool| metrics.set_leading(leading);
    let work_failure = failure.clone();
    Elector::new(client, config)
        .run(shutdown, bound, on_leading, |stop| {
            let ctx = ctx.clone();
            let failure = work_failure.clone();
            async move {
                if let Err(error) = crate::controller::run(ctx, stop).await
                    && let Ok(mut slot) = failure.lock()
                {
                    *slot = Some(error);
                }
            }
        })
        .await;
    let failed = failure.lock().ok().and_then(|mut slot| slot.take());
    match failed {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Runs the controllers until `shutdown`, then gives in-flight reconciles `bound` to finish.
async fn run_bounded(
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    bound: Duration,
) -> Result<(), StartError> {
    let controllers = crate::controller::run(ctx, shutdown.clone());
    tokio::pin!(controllers);
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(bound).await;
    };
    tokio::select! {
        result = &mut controllers => Ok(result?),
        () = deadline => {
            tracing::warn!(?bound, "in-flight reconciles did not finish in time; abandoning them");
            Ok(())
        }
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown requested; finishing in-flight reconciles");
    token.cancel();
}
