//! `portico gateway` as a process: every flag documented, and the served contract reachable on the
//! address it prints.
use std::process::Stdio;

use secrecy::SecretString;
use tokio::io::AsyncBufReadExt;

const PORTICO: &str = env!("CARGO_BIN_EXE_portico");

#[test]
fn help_documents_every_flag() {
    let output = std::process::Command::new(PORTICO)
        .args(["gateway", "--help"])
        .output()
        .expect("portico runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--token ",
        "--token-file",
        "--rate-limit",
        "--provision-delay",
        "--fault-rate",
        "--fault-latency",
        "--postgres-url",
        "--database-host",
        "--public-url",
        "--log-format",
        "--allow-upstream",
        "--upstream-timeout",
        "--dev-provider-base-url",
    ] {
        let line = help
            .lines()
            .find(|line| line.trim_start().starts_with(flag.trim_end()))
            .unwrap_or_else(|| panic!("{flag} missing from:\n{help}"));
        assert!(line.len() > 40, "{flag} is not explained: {line}");
    }
}

#[tokio::test]
async fn the_process_serves_the_contract_with_a_token_file() {
    super::init();
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", super::TOKEN)).expect("token file");
    let mut child = tokio::process::Command::new(PORTICO)
        .args(["gateway", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .env_remove("PORTICO_GATEWAY_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("portico gateway starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = lines
        .next_line()
        .await
        .expect("stdout readable")
        .expect("a first line");
    let url = first
        .rsplit(' ')
        .next()
        .expect("the line ends with the URL")
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let client = portico_gateway_client::GatewayClient::new(
        portico_gateway_client::GatewayClientConfig::new(url),
        SecretString::from(super::TOKEN),
    )
    .expect("client");
    let created = client
        .upsert_database("team-a", "orders", &super::database_spec())
        .await
        .expect("create through the process");
    assert_eq!(created.call.http_status, Some(202));
    child.start_kill().expect("stop the gateway");
    let _ = child.wait().await;
}
