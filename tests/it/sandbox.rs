//! The first-run experience, as a newcomer meets it: the `portico sandbox` binary with `--demo`,
//! and a scripted kubectl session (apply the examples, wait, get, describe, delete) against a
//! running `portico sandbox`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::kubectl::harness::kubectl;

fn portico() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portico"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

#[test]
fn demo_runs_the_whole_story_and_exits_zero() {
    crate::support::init();
    let dir = tempfile::tempdir().expect("temp dir");
    let output = portico()
        .args([
            "sandbox",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--provision-delay",
            "200ms",
        ])
        .arg("--kubeconfig")
        .arg(dir.path().join("kubeconfig"))
        .output()
        .expect("portico sandbox --demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for step in [
        "aimodel/summarizer applied",
        "phase=Ready",
        "secret/summarizer-conn: endpoint=http://127.0.0.1:",
        "-> 200 (trace ",
        "answer: Summarise in three bullet points: Portico provisions",
        "aimodel/summarizer: deprovisioned at the gateway",
        "manageddatabase/orders-db: deprovisioned at the gateway",
        "demo complete: every step succeeded",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}

/// A running `portico sandbox`, stopped with SIGTERM on drop.
struct RunningSandbox {
    child: Child,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl RunningSandbox {
    fn start() -> Self {
        crate::support::init();
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = portico()
            .args([
                "sandbox",
                "--listen",
                "127.0.0.1:0",
                "--provision-delay",
                "200ms",
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("portico sandbox starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("a line before exit")
            .expect("readable stdout");
        assert!(first.starts_with("sandbox ready: kubeconfig="), "{first}");
        // Then the gateway's address and what to run next.
        let mut banner = vec![first];
        for line in lines.by_ref() {
            let line = line.expect("readable stdout");
            let last = line.contains("Ctrl-C stops the sandbox");
            banner.push(line);
            if last {
                break;
            }
        }
        let banner = banner.join("\n");
        for expected in [
            "gateway: http://127.0.0.1:",
            "admin token in Secret portico-system/gateway-admin",
            "export KUBECONFIG=",
            "kubectl apply -f examples/provider-key-secret.yaml -f examples/aimodel.yaml",
            "kubectl wait --for=condition=Ready aimodel/summarizer",
        ] {
            assert!(
                banner.contains(expected),
                "missing {expected:?} in:\n{banner}"
            );
        }
        // Keep draining stdout so the sandbox never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            kubeconfig,
            dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        let output = Command::new(kubectl())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn stdout(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.kubectl(args).stdout).into_owned()
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn scripted_kubectl_session_against_portico_sandbox() {
    let sandbox = RunningSandbox::start();
    assert!(Path::new(&sandbox.kubeconfig).is_file());
    // The generated admin token is in the Secret the banner names.
    let token = sandbox.stdout(&[
        "get",
        "secret",
        "-n",
        "portico-system",
        "gateway-admin",
        "-o",
        "jsonpath={.data.token}",
    ]);
    assert!(token.len() > 20, "a generated token: {token}");
    sandbox.kubectl(&[
        "apply",
        "-f",
        "examples/provider-key-secret.yaml",
        "-f",
        "examples/aimodel.yaml",
        "-f",
        "examples/manageddatabase.yaml",
    ]);
    sandbox.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "aimodel/summarizer",
        "manageddatabase/orders-db",
        "--timeout=60s",
    ]);

    let table = sandbox.stdout(&["get", "aimodels"]);
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "PROVIDER", "MODEL", "PHASE", "READY", "AGE"] {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.starts_with("summarizer"))
        .unwrap_or_else(|| panic!("no summarizer row in:\n{table}"));
    for cell in ["openai", "gpt-4o-mini", "Ready", "True"] {
        assert!(row.contains(cell), "{row}");
    }
    let databases = sandbox.stdout(&["get", "mdb"]);
    assert!(
        databases.contains("orders-db") && databases.contains("PostgreSQL"),
        "{databases}"
    );

    let described = sandbox.stdout(&["describe", "aimodel", "summarizer"]);
    assert!(described.contains("Synced"), "{described}");
    assert!(described.contains("(trace "), "{described}");
    assert!(
        described.contains("Provisioned"),
        "events shown: {described}"
    );

    let key = sandbox.stdout(&[
        "get",
        "secret",
        "summarizer-conn",
        "-o",
        "jsonpath={.data.apiKey}",
    ]);
    assert!(!key.trim().is_empty(), "the connection Secret holds a key");

    sandbox.kubectl(&[
        "delete",
        "-f",
        "examples/aimodel.yaml",
        "-f",
        "examples/manageddatabase.yaml",
        "--timeout=60s",
    ]);
    let after = sandbox.kubectl(&["get", "aimodels,manageddatabases"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&after.stdout),
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(text.contains("No resources found"), "{text}");
}
