//! Observability, high availability and deployment, tested on the shipped binary: `portico run`
//! (and `portico gateway`) as real child processes against a sandbox API server and a reference
//! gateway on loopback — the metrics endpoint, leader election between processes, OTLP export
//! across processes, SIGTERM — and the `deploy/` kustomize base and its namespaced component
//! through the real kubectl.
//!
//! Contract of this file: `OperatorProcess` (spawn a `portico` command, read its log, find its
//! metrics address, signal it) and `scrape` (parse `/metrics` into series → value).

mod deploy;
mod leader;
mod metrics;
mod namespaced;
mod trace_export;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::operator::{Env, NS, Options, PROVIDER_KEY, put_secret};
use crate::support::eventually_within;

/// A sandbox API server and reference gateway with no operator inside the test process, the
/// kubeconfig a `portico` child process needs to reach them, and the provider-key Secret the
/// example models reference. Keep the directory alive as long as the processes run.
pub(crate) async fn env_for_processes(
    options: Options,
) -> (Env, tempfile::TempDir, std::path::PathBuf) {
    let env = Env::start_with(Options {
        in_process_operator: false,
        ..options
    })
    .await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    env.apiserver
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    (env, dir, kubeconfig)
}

/// Path of the `portico` binary cargo built for these tests.
pub(crate) const PORTICO: &str = env!("CARGO_BIN_EXE_portico");

/// A `portico` child process whose stderr (its log) is collected.
pub(crate) struct OperatorProcess {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl OperatorProcess {
    /// Starts `portico run` against the sandbox `kubeconfig` and the gateway at `gateway_url`,
    /// with the metrics endpoint on a free loopback port, plus `extra` flags and `env`.
    pub fn run(
        kubeconfig: &Path,
        gateway_url: &str,
        instance: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::run_with_token_secret(
            kubeconfig,
            gateway_url,
            "portico-system/gateway-admin",
            instance,
            extra,
            env,
        )
    }

    /// [`OperatorProcess::run`], reading the gateway token from `token_secret`
    /// (`NAMESPACE/NAME`) instead of the stack's `portico-system/gateway-admin`.
    pub fn run_with_token_secret(
        kubeconfig: &Path,
        gateway_url: &str,
        token_secret: &str,
        instance: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut args = vec![
            "run",
            "--gateway-url",
            gateway_url,
            "--gateway-token-secret",
            token_secret,
            "--metrics-addr",
            "127.0.0.1:0",
            "--gateway-qps",
            "500",
            "--gateway-burst",
            "100",
            "--max-backoff",
            "2s",
        ];
        args.extend_from_slice(extra);
        let mut command = Command::new(PORTICO);
        command
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", instance)
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command)
    }

    /// Starts any `portico` command line; stdout and stderr both go to its log.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("portico starts");
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            collect_lines(stdout, log.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            collect_lines(stderr, log.clone());
        }
        Self { child, log }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The address its metrics endpoint listens on (from its startup log line).
    pub async fn metrics_addr(&self) -> SocketAddr {
        eventually_within(
            "the operator to log its metrics address",
            Duration::from_secs(60),
            || async {
                let log = self.log();
                let line = log.lines().find(|line| line.contains("serving /metrics"))?;
                let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
                addr.parse().ok()
            },
        )
        .await
    }

    /// Sends SIGTERM (as the kubelet does on pod deletion).
    pub fn terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered");
    }

    /// Sends SIGKILL: no cleanup of any kind.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL delivered");
    }

    /// Waits for the process to exit, failing the test after `timeout`.
    pub async fn exited(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("exit status"),
            Err(_) => panic!(
                "portico did not exit within {timeout:?}; its log:\n{}",
                self.log()
            ),
        }
    }
}

fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: Arc<Mutex<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// `/metrics` as `series → value`, the series spelled as exposed (`name{label="v",…}`).
pub(crate) type Series = BTreeMap<String, f64>;

/// Scrapes and parses an OpenMetrics text exposition.
pub(crate) async fn scrape(addr: SocketAddr) -> Series {
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .error_for_status()
        .expect("/metrics answers 200")
        .text()
        .await
        .expect("metrics body");
    parse_exposition(&body)
}

fn parse_exposition(body: &str) -> Series {
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of one series, 0 when absent.
pub(crate) fn value(series: &Series, name: &str) -> f64 {
    series.get(name).copied().unwrap_or(0.0)
}

/// Sum of every series of a metric whose labels include all of `labels` (e.g. `kind="AIModel"`).
pub(crate) fn sum(series: &Series, metric: &str, labels: &[&str]) -> f64 {
    series
        .iter()
        .filter(|(name, _)| {
            name.strip_prefix(metric)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('{'))
        })
        .filter(|(name, _)| labels.iter().all(|label| name.contains(label)))
        .map(|(_, value)| value)
        .sum()
}

#[test]
fn exposition_lines_parse_into_series() {
    let series = parse_exposition(
        "# TYPE x counter\nx_total{a=\"1\"} 3\nx_total{a=\"2\"} 4.5\ny 1\n# EOF\n",
    );
    assert_eq!(value(&series, r#"x_total{a="1"}"#), 3.0);
    assert_eq!(sum(&series, "x_total", &[]), 7.5);
    assert_eq!(sum(&series, "x_total", &[r#"a="2""#]), 4.5);
    assert_eq!(sum(&series, "y", &[]), 1.0);
}
