//! The gateway server: a server implementing `openapi/gateway.yaml` (`portico gateway`, and the
//! `portico-gateway` binary of the gateway image), used by development, tests, benchmarks and
//! the sandbox. See `docs/gateway-api.md`.
//!
//! Contract: owns its wire types; of our crates it imports only `portico-telemetry` (not the
//! CRD types, not the operator, not the client).
#![forbid(unsafe_code)]

mod anthropic;
mod control_routes;
mod error;
mod faults;
mod gate;
mod handlers;
mod inference;
mod metrics;
mod ownership;
pub mod postgres;
mod server;
mod state;
mod stats;
mod store;
mod upstream;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;

pub use faults::{
    FaultBody, HUGE_BODY_BYTES, RandomFaults, RateLimitSetting, ScriptedFault, TRICKLE_INTERVAL,
};
pub use server::{GatewayConfig, GatewayStartError, ReferenceGateway};
pub use stats::{ObjectCounts, RequestCount, RequestRecord, Stats};
pub use upstream::DEFAULT_ALLOWED_UPSTREAMS;

/// Flags of `portico gateway`.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "PORTICO_GATEWAY_LISTEN"
    )]
    pub listen: SocketAddr,
    /// The admin bearer token; requests without it get 401 with the `Error` body. Prefer
    /// --token-file or the environment variable: command lines are visible to other users.
    #[arg(
        long,
        value_name = "T",
        env = "PORTICO_GATEWAY_TOKEN",
        hide_env_values = true,
        value_parser = parse_secret,
        conflicts_with = "token_file",
        required_unless_present = "token_file"
    )]
    pub token: Option<SecretString>,
    /// File holding the admin bearer token (surrounding whitespace is ignored).
    #[arg(long, value_name = "F", env = "PORTICO_GATEWAY_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Server-side rate limit in requests per second; beyond it, 429 with `Retry-After`.
    #[arg(long, value_name = "QPS", env = "PORTICO_GATEWAY_RATE_LIMIT")]
    pub rate_limit: Option<f64>,
    /// Milliseconds databases take to provision (Pending for the first quarter, then
    /// Provisioning, then Ready) and to deprovision (Deleting → gone); 0 makes simulated
    /// databases Ready at once.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub provision_delay: u64,
    /// Probability (0 to 1) that a request is answered 503 with `Retry-After: 1`.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Milliseconds of latency added to every request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub fault_latency: u64,
    /// Admin connection URL of a PostgreSQL server: PostgreSQL databases are then really
    /// created there (a database plus a login role). Without it, databases are simulated.
    #[arg(
        long,
        value_name = "URL",
        env = "PORTICO_GATEWAY_POSTGRES_URL",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub postgres_url: Option<SecretString>,
    /// Host reported in the connection details of simulated databases.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub database_host: String,
    /// Base URL clients reach this gateway at, used in model endpoints; defaults to
    /// `http://<listen address>`.
    #[arg(long, value_name = "URL", env = "PORTICO_GATEWAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log line format, text or json (logs go to stderr; with OTEL_EXPORTER_OTLP_ENDPOINT set,
    /// spans are exported over OTLP/HTTP, continuing the callers' traces).
    #[arg(
        long,
        env = "PORTICO_LOG_FORMAT",
        value_enum,
        default_value = "text",
        hide_possible_values = true
    )]
    pub log_format: portico_telemetry::LogFormat,
    /// An upstream (host name, `*.suffix`, IP or CIDR) models may call besides the providers'
    /// public APIs (api.openai.com, api.mistral.ai, api.anthropic.com, *.openai.azure.com);
    /// repeatable. Names are checked on the addresses they resolve to; link-local and cloud
    /// metadata addresses are never called.
    #[arg(
        long = "allow-upstream",
        value_name = "HOST",
        env = "PORTICO_GATEWAY_ALLOW_UPSTREAM",
        value_delimiter = ','
    )]
    pub allow_upstream: Vec<String>,
    /// Seconds an upstream may stay silent during a call before the gateway answers 504.
    #[arg(long, value_name = "S", default_value_t = 120)]
    pub upstream_timeout: u64,
    /// Development setting: the base URL of a provider's models that set no
    /// `upstream.baseUrl`, as PROVIDER=URL (e.g. `openai=http://127.0.0.1:9000/v1`, a local
    /// stand-in); its host is allowed. Repeatable.
    #[arg(long, value_name = "P=URL", value_parser = parse_override)]
    pub dev_provider_base_url: Vec<(String, String)>,
}

fn parse_override(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(provider, url)| (provider.trim().to_string(), url.trim().to_string()))
        .ok_or_else(|| "expected PROVIDER=URL".to_string())
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value.to_string()))
}

impl GatewayArgs {
    /// The server configuration these flags describe (reads `--token-file`).
    pub fn config(&self) -> anyhow::Result<GatewayConfig> {
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => token.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read the token file {}", path.display()))?;
                SecretString::from(text.trim().to_string())
            }
            (None, None) => anyhow::bail!("an admin token is required (--token or --token-file)"),
        };
        if !(0.0..=1.0).contains(&self.fault_rate) {
            anyhow::bail!("--fault-rate must be between 0 and 1");
        }
        if let Some(qps) = self.rate_limit
            && !(qps.is_finite() && qps > 0.0)
        {
            anyhow::bail!("--rate-limit must be a positive number");
        }
        Ok(GatewayConfig {
            listen: self.listen,
            token,
            rate_limit: self.rate_limit,
            provision_delay: Duration::from_millis(self.provision_delay),
            fault_rate: self.fault_rate,
            fault_latency: Duration::from_millis(self.fault_latency),
            database_host: self.database_host.clone(),
            public_url: self.public_url.clone(),
            allow_upstream: self.allow_upstream.clone(),
            provider_base_urls: self.dev_provider_base_url.iter().cloned().collect(),
            upstream_timeout: Duration::from_secs(self.upstream_timeout.max(1)),
            upstream_check_timeout: Duration::from_secs(5),
        })
    }
}

/// Runs `portico gateway` until SIGINT or SIGTERM.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries only the "listening on" line, which scripts and tests
    // read.
    let telemetry = portico_telemetry::init("portico-gateway", args.log_format, "info");
    let result = serve_until_signal(args).await;
    telemetry.shutdown();
    result
}

async fn serve_until_signal(args: GatewayArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let gateway = match &args.postgres_url {
        None => ReferenceGateway::start(config).await?,
        Some(url) => ReferenceGateway::start_with_postgres(config, url).await?,
    };
    println!("portico gateway listening on {}", gateway.url());
    wait_for_signal().await?;
    gateway.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("failed to listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("failed to listen for SIGINT"),
        _ = terminate.recv() => Ok(()),
    }
}

impl ReferenceGateway {
    /// Starts a gateway whose PostgreSQL databases are really provisioned on the server at
    /// `admin_url`.
    pub async fn start_with_postgres(
        config: GatewayConfig,
        admin_url: &SecretString,
    ) -> anyhow::Result<Self> {
        let provisioner = postgres_backend::connect(admin_url).await?;
        Ok(Self::start_with_provisioner(config, Some(provisioner)).await?)
    }
}

mod postgres_backend;
