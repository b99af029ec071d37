//! A sandbox API server process with its own kubeconfig, and a `kubectl` runner that keeps
//! kubectl's caches in the test's temporary directory (never `~/.kube`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube_sandbox::{ApiServer, ApiServerConfig};

/// Where kubectl (v1.32) usually lives; `$KUBECTL` or the first `kubectl` on `PATH` win.
const DEFAULT_KUBECTL: &str = "/usr/bin/kubectl";

/// The kubectl binary the tests drive. A missing binary fails the test rather than skip it.
pub(crate) fn kubectl() -> PathBuf {
    let from_env = std::env::var_os("KUBECTL").map(PathBuf::from);
    let from_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("kubectl"))
            .find(|candidate| candidate.is_file())
    });
    let found = from_env
        .or(from_path)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KUBECTL));
    assert!(
        found.is_file(),
        "kubectl is missing ({}): these tests need the real kubectl (v1.32) installed",
        found.display()
    );
    found
}

/// A sandbox API server on `127.0.0.1:0` with a kubeconfig in a temporary directory.
///
/// The server runs without a bearer token: kubectl (client-go's kubeconfig loader) sends
/// credentials only to `https` servers, so a token on this plain-HTTP server would lock it out.
pub struct Sandbox {
    // Dropped first: the server shuts down inside its runtime.
    server: Option<ApiServer>,
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

impl Sandbox {
    pub fn start() -> Self {
        crate::support::init();
        let kubectl = kubectl();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let server = runtime
            .block_on(ApiServer::start(ApiServerConfig::default()))
            .expect("sandbox API server starts");
        let dir = tempfile::tempdir().expect("temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        Self {
            server: Some(server),
            runtime,
            dir,
            kubeconfig,
            kubectl,
        }
    }

    /// A kubectl command against this sandbox, with caches under the temporary directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.kubectl);
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null());
        command
    }

    /// Runs kubectl, returning its output whatever the exit status.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("kubectl runs")
    }

    /// Runs kubectl and returns stdout, asserting success and a silent stderr (discovery
    /// fallbacks and deprecation notices show up there).
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.output(args);
        check_clean(args, &output);
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Runs kubectl with `input` on stdin (for `-f -`), returning its output whatever the exit
    /// status.
    pub fn output_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("stdin written");
        child.wait_with_output().expect("kubectl finishes")
    }

    /// Runs kubectl with `input` on stdin (for `-f -`), like [`Sandbox::ok`].
    pub fn ok_with_stdin(&self, args: &[&str], input: &str) -> String {
        let output = self.output_with_stdin(args, input);
        check_clean(args, &output);
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Polls `kubectl args` until `done` accepts its output, failing after `timeout`.
    pub fn poll(&self, args: &[&str], timeout: Duration, done: impl Fn(&Output) -> bool) -> Output {
        let deadline = Instant::now() + timeout;
        loop {
            let output = self.output(args);
            if done(&output) {
                return output;
            }
            assert!(
                Instant::now() < deadline,
                "kubectl {} never reached the expected state; last stdout:\n{}\nstderr:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

fn check_clean(args: &[&str], output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubectl {} failed ({}):\nstdout:\n{}\nstderr:\n{stderr}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.trim().is_empty(),
        "kubectl {} wrote to stderr:\n{stderr}",
        args.join(" ")
    );
}

/// The `crds/` directory of the repository.
pub fn crds_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crds")
        .display()
        .to_string()
}

/// Splits a kubectl table into rows of whitespace-separated cells (header first).
pub fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}
