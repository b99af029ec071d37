//! The `portico run` command: its flags, the clients it builds (Kubernetes, gateway, token
//! watch), and the operator's lifetime from start to graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::controller::gate::GatePolicy;
use crate::controller::{Context, OperatorConfig, RunError};
use crate::credentials::{GatewayToken, SecretRef};
use crate::gateway::{GatewayClient, GatewayClientConfig, GatewayConfigError};

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
    /// How long a terminal failure (invalid spec, bad credentials) waits before one unprompted
    /// retry; a change of the spec, a referenced Secret or the token retries at once.
    #[arg(long, env = "PORTICO_TERMINAL_RETRY", default_value = "30m", value_parser = humantime::parse_duration)]
    pub terminal_retry: Duration,
    /// Longest backoff between retries of a retryable failure.
    #[arg(long, env = "PORTICO_MAX_BACKOFF", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_backoff: Duration,
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
    /// The operator could not run.
    #[error(transparent)]
    Run(#[from] RunError),
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
            instance: std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "portico".into()),
        }
    }

    /// The gateway client settings these flags describe.
    pub fn gateway_config(&self) -> GatewayClientConfig {
        GatewayClientConfig {
            qps: self.gateway_qps,
            burst: self.gateway_burst,
            timeout: self.gateway_timeout,
            ..GatewayClientConfig::new(self.gateway_url.clone())
        }
    }
}

/// Builds the operator's context from flags and a Kubernetes client.
pub fn context(client: kube::Client, args: &RunArgs) -> Result<Arc<Context>, StartError> {
    let token = GatewayToken::watch(client.clone(), args.gateway_token_secret.clone());
    let gateway = GatewayClient::new(args.gateway_config(), token.receiver())?;
    Ok(Arc::new(Context::new(
        client,
        gateway,
        token,
        args.operator_config(),
    )))
}

/// Runs `portico run` until SIGINT or SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), StartError> {
    let client = kube::Client::try_default()
        .await
        .map_err(StartError::KubeConfig)?;
    let ctx = context(client, &args)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    crate::controller::run(ctx, shutdown).await?;
    Ok(())
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
