//! The operator side of `portico bench`: the operator exactly as `portico run` builds it, in its
//! own process (so that its RSS is its own), against the bench's sandbox. It answers `stats` on
//! stdin with one JSON line of reconcile timings, and stops gracefully when stdin closes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::timing::ReconcileTimes;
use portico_gateway_client::GatewayClientConfig;
use portico_operator::controller::gate::GatePolicy;
use portico_operator::controller::{Context, ContextBuilder, OperatorConfig};
use portico_operator::credentials::SecretRef;

/// Namespace and name of the Secret holding the gateway admin token.
pub(crate) const TOKEN_SECRET_NAMESPACE: &str = crate::stack::GATEWAY_TOKEN_SECRET.0;
pub(crate) const TOKEN_SECRET_NAME: &str = crate::stack::GATEWAY_TOKEN_SECRET.1;

/// What the child needs to know.
#[derive(Debug, Clone)]
pub(crate) struct ChildSettings {
    pub apiserver_url: String,
    pub gateway_url: String,
    pub poll_interval: Duration,
    pub concurrency: u16,
    pub gateway_qps: f64,
    pub gateway_burst: u32,
}

fn install_tracing(times: ReconcileTimes) {
    let controller_and_gateway = tracing_subscriber::filter::filter_fn(|metadata| {
        let target = metadata.target();
        target.starts_with("portico_operator::controller")
            || target.starts_with("portico_gateway_client")
    });
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::registry()
        .with(times.with_filter(controller_and_gateway))
        .with(logs)
        .try_init();
}

fn context(settings: &ChildSettings) -> anyhow::Result<Arc<Context>> {
    let uri: http::Uri = settings
        .apiserver_url
        .parse()
        .context("failed to parse the API server url")?;
    let client = kube::Client::try_from(kube::Config::new(uri))?;
    let gateway = GatewayClientConfig {
        qps: settings.gateway_qps,
        burst: settings.gateway_burst,
        timeout: Duration::from_secs(30),
        ..GatewayClientConfig::new(settings.gateway_url.clone())
    };
    let token_secret = SecretRef {
        namespace: TOKEN_SECRET_NAMESPACE.into(),
        name: TOKEN_SECRET_NAME.into(),
    };
    let config = OperatorConfig {
        namespace: None,
        concurrency: settings.concurrency.max(1),
        gate: GatePolicy {
            poll_interval: settings.poll_interval,
            ..GatePolicy::default()
        },
        instance: "bench".into(),
        ..OperatorConfig::default()
    };
    Ok(ContextBuilder::new(client, gateway, token_secret)
        .config(config)
        .build()?)
}

/// Runs the operator until stdin closes.
pub(crate) async fn run(settings: ChildSettings) -> anyhow::Result<()> {
    let times = ReconcileTimes::default();
    install_tracing(times.clone());
    let ctx = context(&settings)?;
    let shutdown = CancellationToken::new();
    let operator = tokio::spawn(portico_operator::controller::run(ctx, shutdown.clone()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "stats" {
            let mut answer = serde_json::to_string(&times.stats())?;
            answer.push('\n');
            stdout.write_all(answer.as_bytes()).await?;
            stdout.flush().await?;
        }
    }
    shutdown.cancel();
    operator.await??;
    Ok(())
}

/// The token the bench's gateway accepts (not a secret: both ends live in this process tree).
pub(crate) fn gateway_token() -> SecretString {
    SecretString::from("bench-gateway-admin-token")
}
