//! `cargo xtask`: the project's own tasks, in Rust so that they run wherever cargo does.
//!
//! - `cargo xtask install`: installs the tools the test suite drives for real, where missing —
//!   kubectl (≥ 1.27), the PostgreSQL server binaries, schemathesis and the `openai` package.
//! - `cargo xtask test`: `install`, then `cargo fmt --check`, `cargo clippy --all-targets
//!   -- -D warnings` and `cargo test` (every crate of the workspace). Extra arguments go to
//!   `cargo test`. This is the README's test command and exactly what CI runs.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// schemathesis version the conformance tests are written against.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Oldest kubectl whose OpenAPI v3 handling the kubectl tests rely on.
const KUBECTL_MIN_MINOR: u32 = 27;
/// A hung test must fail the run, not consume the whole CI budget.
const TEST_TIMEOUT: &str = "40m";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("install") => install(),
        Some("test") => install().and_then(|()| test(&args[1..])),
        _ => {
            Err("usage: cargo xtask install | cargo xtask test [-- <cargo test arguments>]".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The gates and the suite, run from the workspace root.
fn test(extra: &[String]) -> Result<(), String> {
    let root = workspace_root()?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["fmt", "--check"]))?;
    run(Command::new("cargo").current_dir(&root).args([
        "clippy",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    let mut cargo_test = if on_path("timeout") {
        let mut command = Command::new("timeout");
        command.args([TEST_TIMEOUT, "cargo"]);
        command
    } else {
        Command::new("cargo")
    };
    cargo_test
        .current_dir(&root)
        .args(["test", "--locked"])
        .args(extra);
    run(&mut cargo_test)
}

/// Installs what is missing: Debian packages for kubectl and PostgreSQL, schemathesis and the
/// openai package from PyPI.
fn install() -> Result<(), String> {
    let mut packages = Vec::new();
    if !on_path("kubectl") {
        packages.push("kubernetes-client");
    }
    if !on_path("initdb") && !postgres_bin_dir_has("initdb") {
        packages.push("postgresql");
    }
    if !on_path("psql") {
        packages.push("postgresql-client");
    }
    if !packages.is_empty() {
        println!("installing Debian packages: {}", packages.join(" "));
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq"])
            .args(&packages))?;
    }
    if output_of("schemathesis", &["--version"]).is_none_or(|v| !v.contains(SCHEMATHESIS_VERSION)) {
        println!("installing schemathesis {SCHEMATHESIS_VERSION}");
        run(Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
        ]))?;
        if on_path("pyenv") {
            run(Command::new("pyenv").arg("rehash"))?;
        }
    }
    // The official OpenAI SDK drives the gateway's data plane in tests/it/gateway/dataplane.rs.
    let has_openai = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_openai {
        println!("installing the openai Python package");
        run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "openai"]))?;
    }
    let minor = kubectl_minor();
    if minor < KUBECTL_MIN_MINOR {
        return Err(format!(
            "kubectl 1.{KUBECTL_MIN_MINOR} or newer is required (found minor version {minor}); \
             install it and put it on PATH (or set $KUBECTL)"
        ));
    }
    for (tool, args) in [
        ("kubectl", &["version", "--client"][..]),
        ("psql", &["--version"][..]),
        ("schemathesis", &["--version"][..]),
    ] {
        if let Some(version) = output_of(tool, args) {
            println!("{}", version.lines().next().unwrap_or_default());
        }
    }
    Ok(())
}

/// kubectl's client minor version, 0 when unknown.
fn kubectl_minor() -> u32 {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let Some(text) = output_of(&kubectl, &["version", "--client", "-o", "json"]) else {
        return 0;
    };
    // `"minor": "32"` (sometimes `"32+"`): the digits after the key.
    text.split("\"minor\"")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

fn postgres_bin_dir_has(tool: &str) -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| {
            versions
                .flatten()
                .any(|version| version.path().join("bin").join(tool).exists())
        })
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

fn output_of(tool: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(tool).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|error| format!("failed to start {command:?}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

fn workspace_root() -> Result<PathBuf, String> {
    // xtask/ sits in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "xtask has no parent directory".into())
}
