//! The reference gateway: a server implementing `openapi/gateway.yaml`.

pub mod postgres;

/// Flags of `portico gateway`.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {}

/// Runs `portico gateway` until SIGINT or SIGTERM.
pub async fn run(_args: GatewayArgs) -> anyhow::Result<()> {
    anyhow::bail!("portico gateway is not implemented yet")
}
