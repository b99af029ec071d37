//! The sandbox: a Kubernetes-API-compatible server and a reference gateway, for first runs, tests
//! and benchmarks. Never imported by the operator's own code paths.

pub mod apiserver;
pub mod gateway;

/// Flags of `portico sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {}

/// Runs `portico sandbox` until SIGINT or SIGTERM.
pub async fn run(_args: SandboxArgs) -> anyhow::Result<()> {
    anyhow::bail!("portico sandbox is not implemented yet")
}
