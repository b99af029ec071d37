//! The sandbox: a Kubernetes-API-compatible server and a reference gateway, for first runs, tests
//! and benchmarks. Never imported by the operator's own code paths.

pub mod apiserver;
pub mod gateway;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use rand::Rng;
use secrecy::SecretString;

/// Flags of `portico sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Run only the Kubernetes API server (no gateway, no operator).
    #[arg(long, env = "PORTICO_SANDBOX_APISERVER_ONLY")]
    pub apiserver_only: bool,
    /// Address the API server listens on (loopback).
    #[arg(long, env = "PORTICO_SANDBOX_LISTEN", default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Where to write the kubeconfig for kubectl and clients.
    #[arg(
        long,
        env = "PORTICO_SANDBOX_KUBECONFIG",
        default_value = "sandbox.kubeconfig"
    )]
    pub kubeconfig: PathBuf,
    /// Change events the watch history keeps; older resource versions answer 410 Gone.
    #[arg(long, env = "PORTICO_SANDBOX_WATCH_HISTORY", default_value_t = 20_000)]
    pub watch_history: usize,
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Runs `portico sandbox` until SIGINT or SIGTERM.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    if !args.apiserver_only {
        anyhow::bail!(
            "the full sandbox (API server, gateway and operator in one process) is not available yet; run `portico sandbox --apiserver-only`"
        );
    }
    let config = apiserver::ApiServerConfig {
        listen: args.listen,
        token: Some(SecretString::from(random_token())),
        history_limit: args.watch_history,
        ..apiserver::ApiServerConfig::default()
    };
    let server = apiserver::ApiServer::start(config)
        .await
        .context("failed to start the API server")?;
    server.write_kubeconfig(&args.kubeconfig)?;
    println!("sandbox ready: kubeconfig={}", args.kubeconfig.display());
    wait_for_signal().await?;
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate =
            signal(SignalKind::terminate()).context("failed to listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("failed to listen for SIGINT")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("failed to listen for SIGINT")?;
    Ok(())
}
