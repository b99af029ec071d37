//! The `portico` command line: the operator and the CRD printer, plus (feature `dev-tools`, on
//! by default) the gateway server, the sandbox, the benchmarks and the chaos soak. The operator
//! image builds without `dev-tools`, so its binary links none of them.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

/// Portico provisions AI models and managed databases through an API gateway, driven by
/// Kubernetes custom resources.
#[derive(Debug, Parser)]
#[command(name = "portico", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator: reconcile AIModel and ManagedDatabase resources against the gateway.
    Run(Box<RunCommand>),
    /// Print the CustomResourceDefinitions generated from the Rust types (what `crds/` holds).
    Crd(CrdArgs),
    /// Run the gateway: a server for `openapi/gateway.yaml` (also shipped as `portico-gateway`).
    #[cfg(feature = "dev-tools")]
    Gateway(portico_gateway::GatewayArgs),
    /// Run the sandbox: a Kubernetes-API-compatible server (and, unless told otherwise, the
    /// reference gateway and the operator) in one process, with a kubeconfig for kubectl.
    #[cfg(feature = "dev-tools")]
    Sandbox(portico_testbed::sandbox::SandboxArgs),
    /// Run a seeded chaos soak against an in-process sandbox: random creates, updates, deletes
    /// and Secret rotations under gateway 503s, latency, 429 bursts, watch drops, 410
    /// compactions and operator kills; then check that no object is orphaned, duplicated, stuck
    /// or leaking a secret. Exits non-zero when an invariant fails. See docs/reliability.md.
    #[cfg(feature = "dev-tools")]
    Soak(portico_testbed::soak::SoakArgs),
    /// Benchmark the operator against the sandbox: convergence, rate-limit bound, steady state,
    /// memory, restart and reconcile latency, as `key=value` lines (build with --release).
    #[cfg(feature = "dev-tools")]
    Bench(portico_testbed::bench::BenchArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portico_telemetry::tls::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(command) => run_operator(*command).await,
        Command::Crd(args) => print_crds(args),
        #[cfg(feature = "dev-tools")]
        Command::Gateway(args) => portico_gateway::run(args).await,
        #[cfg(feature = "dev-tools")]
        Command::Sandbox(args) => portico_testbed::sandbox::run(args).await,
        #[cfg(feature = "dev-tools")]
        Command::Soak(args) => portico_testbed::soak::run(args).await,
        #[cfg(feature = "dev-tools")]
        Command::Bench(args) => portico_testbed::bench::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portico: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[derive(Debug, clap::Args)]
struct RunCommand {
    #[command(flatten)]
    operator: portico_operator::operator::RunArgs,
    /// Log line format.
    #[arg(long, env = "PORTICO_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: portico_telemetry::LogFormat,
}

async fn run_operator(command: RunCommand) -> anyhow::Result<()> {
    let telemetry = portico_telemetry::init("portico-operator", command.log_format, "info");
    let result = portico_operator::operator::run(command.operator).await;
    telemetry.shutdown();
    Ok(result?)
}

#[derive(Debug, clap::Args)]
struct CrdArgs {
    /// Write one file per CRD (`<plural>.<group>.yaml`) into this directory instead of printing.
    #[arg(long, value_name = "DIR", conflicts_with = "reference")]
    write_dir: Option<std::path::PathBuf>,
    /// Print the Markdown field reference (what `docs/crd-reference.md` holds) instead of YAML.
    #[arg(long)]
    reference: bool,
}

fn print_crds(args: CrdArgs) -> anyhow::Result<()> {
    if args.reference {
        print!("{}", portico_api::crd_reference());
        return Ok(());
    }
    match args.write_dir {
        None => print!("{}", portico_api::crds_yaml()?),
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for crd in portico_api::crds() {
                let path = dir.join(portico_api::crd_file_name(&crd));
                std::fs::write(&path, portico_api::crd_yaml(&crd)?)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
