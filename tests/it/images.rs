//! What the images link: `cargo tree` of exactly the build each Dockerfile runs. The operator
//! image carries the operator and the CRD types, never the sandbox API server, the gateway
//! server, the bench or the soak; the gateway image carries the gateway, never the operator or
//! the development tools.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The arguments of the Dockerfile's `cargo build` (everything after `cargo build`).
fn build_arguments(dockerfile: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dockerfile);
    let text = std::fs::read_to_string(&path).expect("the Dockerfile reads");
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("RUN cargo build"))
        .unwrap_or_else(|| panic!("{dockerfile} has a `RUN cargo build` line"));
    line.trim_start_matches("RUN cargo build")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The workspace crates the build links: `cargo tree` with the same package and feature
/// arguments (`--bin` and `--release` do not change the dependency graph; normal edges only,
/// as a binary links).
fn linked_workspace_crates(arguments: &[String]) -> BTreeSet<String> {
    let mut tree_arguments = Vec::new();
    let mut iter = arguments.iter();
    while let Some(argument) = iter.next() {
        match argument.as_str() {
            "--release" | "--locked" => {}
            "--bin" => {
                iter.next();
            }
            "--package" | "-p" | "--features" | "-F" => {
                tree_arguments.push(argument.clone());
                tree_arguments.push(iter.next().expect("a value follows").clone());
            }
            "--no-default-features" | "--all-features" => tree_arguments.push(argument.clone()),
            other => panic!("the test does not know what `{other}` does to the graph"),
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--locked", "--offline", "--edges", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .args(&tree_arguments)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        // Workspace crates are the ones cargo prints with their path.
        .filter(|line| line.contains(env!("CARGO_MANIFEST_DIR")))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_operator_image_links_the_operator_only() {
    let arguments = build_arguments("Dockerfile");
    assert!(
        arguments.iter().any(|a| a == "--no-default-features"),
        "the operator image builds without dev-tools: {arguments:?}"
    );
    let linked = linked_workspace_crates(&arguments);
    let expected: BTreeSet<String> = [
        "portico",
        "portico-api",
        "portico-gateway-client",
        "portico-operator",
        "portico-telemetry",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(linked, expected);
}

#[test]
fn the_gateway_image_links_the_gateway_only() {
    let linked = linked_workspace_crates(&build_arguments("Dockerfile.gateway"));
    let expected: BTreeSet<String> = ["portico-gateway", "portico-telemetry"]
        .map(str::to_owned)
        .into();
    assert_eq!(linked, expected);
}

#[test]
fn the_development_build_links_the_tools() {
    // The control: without `--no-default-features` the same check does see the tools, so the
    // assertions above can fail.
    let linked = linked_workspace_crates(&["--package".into(), "portico".into()]);
    for tool in ["kube-sandbox", "portico-testbed", "portico-gateway"] {
        assert!(linked.contains(tool), "{tool} in {linked:?}");
    }
}
