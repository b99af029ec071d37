//! `portico-gateway`: the gateway server as a binary of its own, the entry point of the gateway
//! image. The same server runs as `portico gateway` in the development CLI.
#![forbid(unsafe_code)]

use clap::Parser;

/// The Portico gateway: the admin API the operator drives (`openapi/gateway.yaml`) and the
/// endpoint provisioned models are called through.
#[derive(Debug, Parser)]
#[command(name = "portico-gateway", version, about)]
struct Cli {
    #[command(flatten)]
    args: portico_gateway::GatewayArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portico_telemetry::tls::install_crypto_provider();
    match portico_gateway::run(Cli::parse().args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portico-gateway: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
