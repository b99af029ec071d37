//! Conformance: schemathesis (PyPI) generates requests from `openapi/gateway.yaml` and checks
//! every answer of the `portico gateway` process against it, for every operation, with auth.
//!
//! CI installs it with the pip line in `docs/gateway-api.md`; without it this test fails.
use std::path::Path;
use std::process::Stdio;

use portico_gateway_client::{GatewayClient, GatewayClientConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncBufReadExt;

/// Every operation of the contract.
const OPERATIONS: [&str; 16] = [
    "listModels",
    "upsertModel",
    "getModel",
    "deleteModel",
    "upsertModelKey",
    "deleteModelKey",
    "listDatabases",
    "upsertDatabase",
    "getDatabase",
    "deleteDatabase",
    "rotateDatabaseCredentials",
    "createChatCompletion",
    "listClientModels",
    "getKeyUsage",
    "getModelUsage",
    "getStats",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_gateway_conforming() {
    super::init();
    // The shipped binary, as a user would start it. No provisioning delay (its default):
    // schemathesis' stateful checks expect a deleted database to be gone (use_after_free) right
    // after the 202, which the delay-free simulation guarantees.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let token_file = scratch.path().join("token");
    std::fs::write(&token_file, super::TOKEN).expect("token file");
    // Models call a local stand-in provider (a development setting of the gateway).
    let upstream = portico_testbed::upstream::StandInUpstream::start()
        .await
        .expect("stand-in upstream starts");
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["gateway", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .args(
            ["openai", "mistral", "ollama", "custom"]
                .iter()
                .flat_map(|provider| {
                    [
                        "--dev-provider-base-url".to_string(),
                        format!("{provider}={}", upstream.base_url()),
                    ]
                }),
        )
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("portico gateway starts");
    let stdout = gateway.stdout.take().expect("piped stdout");
    let first = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("readable stdout")
        .expect("a line before exit");
    let url = first
        .strip_prefix("portico gateway listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .trim()
        .to_string();
    // The spec's chat example addresses team-a/summarizer: give it a model and a key.
    let client = GatewayClient::new(
        GatewayClientConfig {
            qps: 1000.0,
            burst: 1000,
            ..GatewayClientConfig::new(url.clone())
        },
        SecretString::from(super::TOKEN),
    )
    .expect("client builds");
    client
        .upsert_model("team-a", "summarizer", &super::model_spec())
        .await
        .expect("model for the chat example");
    let key = client
        .upsert_model_key("team-a", "summarizer", "conformance")
        .await
        .expect("key for the chat example")
        .value
        .secret
        .expect("key secret");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Schemathesis keeps a cache in its working directory: give it a throw-away one.
    let output = tokio::process::Command::new("schemathesis")
        .current_dir(scratch.path())
        .env("PORTICO_ADMIN_TOKEN", super::TOKEN)
        .env("PORTICO_MODEL_KEY", key.expose_secret())
        .arg("--config-file")
        .arg(root.join("tests/it/gateway/schemathesis.toml"))
        .arg("run")
        .arg(root.join("openapi/gateway.yaml"))
        .args(["--url", &url])
        .args(["--checks", "all"])
        .args(["--max-examples", "25"])
        .args(["--generation-database", "none"])
        .args(["--no-color", "--suppress-health-check", "too_slow"])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "failed to run schemathesis ({error}); install it with \
                 `pip install schemathesis==4.32.5`"
            )
        });
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "schemathesis failed:\n{report}");

    let stats = client.stats().await.expect("GET /v1/admin/stats").value;
    for operation in OPERATIONS {
        let authorised: u64 = stats
            .requests
            .iter()
            .filter(|r| r.operation == operation && (200..300).contains(&r.status))
            .map(|r| r.count)
            .sum();
        assert!(
            authorised > 0,
            "schemathesis never got a success from {operation}:\n{stats:?}\n{report}"
        );
    }
}
