//! `portico sandbox`: the test stack (Kubernetes-API-compatible server, gateway, CRDs, token
//! Secret) and the operator in one process, with a kubeconfig for kubectl; `--demo` walks the
//! whole story and exits. A development tool: never in the operator's image.

mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use kube_sandbox as apiserver;
use portico_gateway as gateway;
use portico_operator::controller::OperatorConfig;
use portico_operator::controller::gate::GatePolicy;
use rand::Rng;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::stack::StackBuilder;
pub use crate::stack::{GATEWAY_TOKEN_SECRET, install_crds};

/// Flags of `portico sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Run only the Kubernetes API server (no gateway, no operator).
    #[arg(long, env = "PORTICO_SANDBOX_APISERVER_ONLY")]
    pub apiserver_only: bool,
    /// Address the API server listens on (loopback only: it speaks plain HTTP without auth).
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
    /// Address the reference gateway listens on (loopback; port 0 picks a free one).
    #[arg(
        long,
        env = "PORTICO_SANDBOX_GATEWAY_LISTEN",
        default_value = "127.0.0.1:0"
    )]
    pub gateway_listen: SocketAddr,
    /// Provision PostgreSQL databases for real on this server (an admin connection URL);
    /// without it, databases are simulated in memory.
    #[arg(long, env = "PORTICO_SANDBOX_POSTGRES_URL", value_name = "URL")]
    pub postgres_url: Option<SecretString>,
    /// How long the gateway takes to provision a database.
    #[arg(long, env = "PORTICO_SANDBOX_PROVISION_DELAY", default_value = "1s", value_parser = humantime::parse_duration)]
    pub provision_delay: Duration,
    /// How often the operator compares Ready resources with the gateway.
    #[arg(long, env = "PORTICO_SANDBOX_POLL_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Run the whole story and exit: apply the examples, follow them to Ready, call the model,
    /// delete everything. Exits 0 only if every step worked.
    #[arg(long)]
    pub demo: bool,
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Runs `portico sandbox` until SIGINT or SIGTERM (or, with `--demo`, until the demo ends).
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    // Logs go to stderr, warnings only unless `RUST_LOG` says otherwise, so the sandbox's own
    // output stays readable; spans get trace ids (and are exported when OTLP is configured).
    let telemetry = portico_telemetry::init(
        "portico-sandbox",
        portico_telemetry::LogFormat::Text,
        "warn",
    );
    let result = run_sandbox(args).await;
    telemetry.shutdown();
    result
}

async fn run_sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    for (what, addr) in [
        ("API server", args.listen),
        ("gateway", args.gateway_listen),
    ] {
        if !addr.ip().is_loopback() {
            anyhow::bail!(
                "the sandbox {what} speaks plain HTTP without authentication and only listens on loopback; {addr} is not a loopback address"
            );
        }
    }
    // No token: kubectl sends credentials only to https servers, and the server is loopback-only.
    let config = apiserver::ApiServerConfig {
        listen: args.listen,
        token: None,
        history_limit: args.watch_history,
        ..apiserver::ApiServerConfig::default()
    };
    if args.apiserver_only {
        let server = apiserver::ApiServer::start(config)
            .await
            .context("failed to start the API server")?;
        server.write_kubeconfig(&args.kubeconfig)?;
        let kubeconfig = std::fs::canonicalize(&args.kubeconfig).unwrap_or(args.kubeconfig.clone());
        println!("sandbox ready: kubeconfig={}", kubeconfig.display());
        wait_for_signal().await?;
        server.shutdown().await;
        return Ok(());
    }

    let token = SecretString::from(random_token());
    let mut gateway_config = gateway::GatewayConfig::new(token.clone());
    gateway_config.listen = args.gateway_listen;
    gateway_config.provision_delay = args.provision_delay;
    let stack = StackBuilder::new(token);
    let stack = match &args.postgres_url {
        Some(url) => stack.gateway_with_postgres(gateway_config, url.clone()),
        None => stack.gateway(gateway_config),
    }
    .apiserver(config)
    .start()
    .await?;
    stack.apiserver.write_kubeconfig(&args.kubeconfig)?;
    let kubeconfig = std::fs::canonicalize(&args.kubeconfig).unwrap_or(args.kubeconfig.clone());
    let client = stack.client.clone();
    let gateway_url = stack.gateway.url();
    let ctx = stack
        .context_builder(stack.gateway_client_config())
        .config(OperatorConfig {
            gate: GatePolicy {
                poll_interval: args.poll_interval,
                ..GatePolicy::default()
            },
            instance: "sandbox".into(),
            ..OperatorConfig::default()
        })
        .build()?;
    let shutdown = CancellationToken::new();
    let mut operator = tokio::spawn(portico_operator::controller::run(ctx, shutdown.clone()));

    println!("sandbox ready: kubeconfig={}", kubeconfig.display());
    println!(
        "gateway: {gateway_url} (admin token in Secret {}/{})",
        GATEWAY_TOKEN_SECRET.0, GATEWAY_TOKEN_SECRET.1
    );
    let work = async {
        if args.demo {
            demo::run(&client, &gateway_url).await
        } else {
            println!(
                "\nnext:\n  export KUBECONFIG={}\n  kubectl apply -f examples/provider-key-secret.yaml -f examples/aimodel.yaml\n  kubectl wait --for=condition=Ready aimodel/summarizer\n  kubectl get aimodels\n  kubectl describe aimodel summarizer\n\nCtrl-C stops the sandbox.",
                kubeconfig.display()
            );
            wait_for_signal().await
        }
    };
    // An operator that stops on its own ends the sandbox at once, saying why, rather than
    // leaving a server that silently provisions nothing.
    let result = tokio::select! {
        result = work => result,
        stopped = &mut operator => {
            let why = match stopped {
                Ok(Ok(())) => "it returned".to_string(),
                Ok(Err(error)) => error.to_string(),
                Err(error) => error.to_string(),
            };
            Err(anyhow::anyhow!("the operator stopped unexpectedly: {why}"))
        }
    };
    shutdown.cancel();
    if operator.is_finished() {
        stack.shutdown().await;
        return result;
    }
    match tokio::time::timeout(Duration::from_secs(30), operator).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => eprintln!("portico: the operator stopped with an error: {error}"),
        Ok(Err(error)) => eprintln!("portico: the operator task failed: {error}"),
        Err(_) => eprintln!("portico: the operator did not stop within 30s"),
    }
    stack.shutdown().await;
    result
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
