//! The `portico` command line: the operator, the CRD printer, the reference gateway, the sandbox,
//! the benchmarks and the chaos soak.
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
    Run(RunCommand),
    /// Print the CustomResourceDefinitions generated from the Rust types (what `crds/` holds).
    Crd(CrdArgs),
    /// Run the reference gateway: a server for `openapi/gateway.yaml`.
    Gateway(portico::sandbox::gateway::GatewayArgs),
    /// Run the sandbox: a Kubernetes-API-compatible server (and, unless told otherwise, the
    /// reference gateway and the operator) in one process, with a kubeconfig for kubectl.
    Sandbox(portico::sandbox::SandboxArgs),
    /// Run a seeded chaos soak against an in-process sandbox: random creates, updates, deletes
    /// and Secret rotations under gateway 503s, latency, 429 bursts, watch drops, 410
    /// compactions and operator kills; then check that no object is orphaned, duplicated, stuck
    /// or leaking a secret. Exits non-zero when an invariant fails. See docs/reliability.md.
    Soak(portico::soak::SoakArgs),
    /// Benchmark the operator against the sandbox: convergence, rate-limit bound, steady state,
    /// memory, restart and reconcile latency, as `key=value` lines (build with --release).
    Bench(portico::bench::BenchArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portico::tls::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(command) => run_operator(command).await,
        Command::Crd(args) => print_crds(args),
        Command::Gateway(args) => portico::sandbox::gateway::run(args).await,
        Command::Sandbox(args) => portico::sandbox::run(args).await,
        Command::Soak(args) => portico::soak::run(args).await,
        Command::Bench(args) => portico::bench::run(args).await,
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
    operator: portico::operator::RunArgs,
    /// Log line format.
    #[arg(long, env = "PORTICO_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: portico::telemetry::LogFormat,
}

async fn run_operator(command: RunCommand) -> anyhow::Result<()> {
    let telemetry = portico::telemetry::init("portico-operator", command.log_format, "info");
    let result = portico::operator::run(command.operator).await;
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
        print!("{}", portico::api::crd_reference());
        return Ok(());
    }
    match args.write_dir {
        None => print!("{}", portico::api::crds_yaml()?),
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for crd in portico::api::crds() {
                let path = dir.join(portico::api::crd_file_name(&crd));
                std::fs::write(&path, portico::api::crd_yaml(&crd)?)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
