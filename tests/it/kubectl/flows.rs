//! kubectl flows an operator's users run: apply CRDs and custom resources, read them back
//! through printer columns, YAML, describe and explain, wait for conditions, patch, apply
//! server-side, delete with and without finalizers, and list built-in kinds.

use std::process::Stdio;
use std::time::Duration;

use super::harness::{Sandbox, crds_dir, table_rows};

const WAIT: Duration = Duration::from_secs(30);

const SUMMARIZER: &str = r#"
apiVersion: portico.dev/v1alpha1
kind: AIModel
metadata:
  name: summarizer
  namespace: default
  labels:
    team: search
spec:
  provider: openai
  model: gpt-4o-mini
  limits:
    requestsPerMinute: 600
    tokensPerMinute: 200000
  parameters:
    temperature: 0.2
    maxTokens: 1024
  promptTemplate:
    system: You summarize support tickets in three sentences.
    template: "Summarize: {{ticket}}"
    variables:
      - name: ticket
        description: The ticket body.
        required: true
  providerCredentials:
    name: openai-credentials
    key: apiKey
"#;

const ORDERS_DB: &str = r#"
apiVersion: portico.dev/v1alpha1
kind: ManagedDatabase
metadata:
  name: orders
  namespace: default
spec:
  engine: PostgreSQL
  version: "16"
  storageGB: 20
  databaseName: orders
  writeConnectionSecretToRef:
    name: orders-conn
"#;

/// Whether `kubectl describe` output has a `label:` line with `value` (column alignment varies).
fn has_field(described: &str, label: &str, value: &str) -> bool {
    described.lines().any(|line| {
        line.trim_start()
            .strip_prefix(label)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|rest| rest.trim() == value)
    })
}

/// A sandbox with the project's CRDs applied and established.
fn sandbox_with_crds() -> Sandbox {
    let sandbox = Sandbox::start();
    let out = sandbox.ok(&["apply", "-f", &crds_dir()]);
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/aimodels.portico.dev created"),
        "{out}"
    );
    sandbox.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/aimodels.portico.dev",
        "crd/manageddatabases.portico.dev",
        "--timeout=30s",
    ]);
    sandbox
}

#[test]
fn custom_resources_read_back_through_printer_columns_yaml_describe_and_explain() {
    let sandbox = sandbox_with_crds();
    let resources = sandbox.ok(&["api-resources", "--api-group=portico.dev"]);
    assert!(
        resources.contains("aimodels") && resources.contains("aim"),
        "{resources}"
    );

    let out = sandbox.ok_with_stdin(&["apply", "-f", "-"], SUMMARIZER);
    assert!(
        out.contains("aimodel.portico.dev/summarizer created"),
        "{out}"
    );
    sandbox.ok_with_stdin(&["apply", "-f", "-"], ORDERS_DB);

    let rows = table_rows(&sandbox.ok(&["get", "aimodels"]));
    assert_eq!(
        rows[0],
        ["NAME", "PROVIDER", "MODEL", "PHASE", "READY", "AGE"]
    );
    assert_eq!(rows[1][..3], ["summarizer", "openai", "gpt-4o-mini"]);

    let rows = table_rows(&sandbox.ok(&["get", "mdb", "orders"]));
    assert_eq!(
        rows[0],
        [
            "NAME", "ENGINE", "VERSION", "STORAGE", "PHASE", "READY", "AGE"
        ]
    );
    assert_eq!(rows[1][..4], ["orders", "PostgreSQL", "16", "20"]);

    let categories = sandbox.ok(&["get", "portico"]);
    assert!(
        categories.contains("aimodel.portico.dev/summarizer")
            && categories.contains("manageddatabase.portico.dev/orders"),
        "{categories}"
    );

    let yaml = sandbox.ok(&["get", "aim", "summarizer", "-o", "yaml"]);
    assert!(yaml.contains("model: gpt-4o-mini"), "{yaml}");
    assert!(
        yaml.contains("deletionPolicy: Delete"),
        "defaulted field shows:\n{yaml}"
    );
    assert!(yaml.contains("uid: "), "{yaml}");

    let described = sandbox.ok(&["describe", "aimodel", "summarizer"]);
    assert!(has_field(&described, "Name", "summarizer"), "{described}");
    assert!(has_field(&described, "Provider", "openai"), "{described}");
    assert!(
        has_field(&described, "Requests Per Minute", "600"),
        "{described}"
    );

    let rows = table_rows(&sandbox.ok(&["get", "crd"]));
    assert_eq!(rows[0], ["NAME", "CREATED", "AT"]);
    assert_eq!(rows[1][0], "aimodels.portico.dev");

    let explained = sandbox.ok(&["explain", "aimodel.spec"]);
    assert!(explained.contains("KIND:       AIModel"), "{explained}");
    assert!(
        explained.contains("Desired state of an AI model exposed through the gateway."),
        "{explained}"
    );
    assert!(
        explained.contains("provider\t<string> -required-"),
        "{explained}"
    );
    let explained = sandbox.ok(&["explain", "aimodel.spec.limits.requestsPerMinute"]);
    assert!(
        explained.contains("Requests allowed per minute."),
        "{explained}"
    );
}

#[test]
fn wait_returns_once_ready_is_set_through_the_status_subresource() {
    let sandbox = sandbox_with_crds();
    sandbox.ok_with_stdin(&["apply", "-f", "-"], SUMMARIZER);
    let waiter = sandbox
        .command(&[
            "wait",
            "--for=condition=Ready",
            "aimodel/summarizer",
            "--timeout=60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl wait starts");
    let mut watcher = sandbox
        .command(&["get", "aimodels", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl get --watch starts");
    let watched = lines_of(watcher.stdout.take().expect("piped stdout"));
    let header = watched
        .recv_timeout(WAIT)
        .expect("watch prints the table header");
    assert!(header.starts_with("NAME"), "{header}");
    let status = r#"{"status":{"phase":"Ready","observedGeneration":1,"conditions":[
        {"type":"Ready","status":"True","reason":"Provisioned","message":"model is served",
         "lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;
    sandbox.ok(&[
        "patch",
        "aimodel",
        "summarizer",
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ]);
    let output = waiter.wait_with_output().expect("kubectl wait finishes");
    assert!(
        output.status.success(),
        "wait failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("condition met"));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let rows = table_rows(&sandbox.ok(&["get", "aim", "summarizer"]));
    assert_eq!(rows[1][3..5], ["Ready", "True"]);

    // The watch streams Table rows too: the status change shows up as a new row.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = watched
            .recv_timeout(left)
            .expect("the watch shows the Ready row");
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.get(3..5) == Some(&["Ready", "True"][..]) {
            break;
        }
    }
    let _ = watcher.kill();
    let output = watcher.wait_with_output().expect("watcher ends");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Lines of a child's output, as they arrive.
fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

#[test]
fn client_side_apply_merge_and_json_patches_change_the_object() {
    let sandbox = sandbox_with_crds();
    sandbox.ok_with_stdin(&["apply", "-f", "-"], SUMMARIZER);
    // A second apply computes a three-way patch (a JSON merge patch for custom resources).
    let edited = SUMMARIZER.replace("maxTokens: 1024", "maxTokens: 2048");
    let out = sandbox.ok_with_stdin(&["apply", "-f", "-"], &edited);
    assert!(
        out.contains("aimodel.portico.dev/summarizer configured"),
        "{out}"
    );
    let out = sandbox.ok_with_stdin(&["apply", "-f", "-"], &edited);
    assert!(
        out.contains("aimodel.portico.dev/summarizer unchanged"),
        "{out}"
    );

    sandbox.ok(&[
        "patch",
        "aim",
        "summarizer",
        "--type=merge",
        "-p",
        r#"{"spec":{"model":"gpt-4o"}}"#,
    ]);
    sandbox.ok(&[
        "patch",
        "aim",
        "summarizer",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/provider","value":"mistral"}]"#,
    ]);
    let fields = sandbox.ok(&[
        "get",
        "aim",
        "summarizer",
        "-o",
        "jsonpath={.spec.provider} {.spec.model} {.spec.parameters.maxTokens} {.metadata.generation}",
    ]);
    assert_eq!(fields, "mistral gpt-4o 2048 4");
}

#[test]
fn server_side_apply_creates_and_updates() {
    let sandbox = sandbox_with_crds();
    let apply = [
        "apply",
        "--server-side",
        "--field-manager=platform-team",
        "-f",
        "-",
    ];
    let out = sandbox.ok_with_stdin(&apply, ORDERS_DB);
    assert!(
        out.contains("manageddatabase.portico.dev/orders serverside-applied"),
        "{out}"
    );
    let grown = ORDERS_DB.replace("storageGB: 20", "storageGB: 50");
    sandbox.ok_with_stdin(&apply, &grown);
    let rows = table_rows(&sandbox.ok(&["get", "mdb", "orders"]));
    assert_eq!(rows[1][..4], ["orders", "PostgreSQL", "16", "50"]);
    let managers = sandbox.ok(&[
        "get",
        "mdb",
        "orders",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert_eq!(managers, "platform-team");
}

#[test]
fn apply_leaves_validation_to_the_server() {
    let sandbox = sandbox_with_crds();
    // kubectl found `fieldValidation` in the OpenAPI document, so it sends `Strict` and prints
    // the server's verdict instead of validating on its own.
    let unknown = SUMMARIZER.replace(
        "  model: gpt-4o-mini\n",
        "  model: gpt-4o-mini\n  colour: blue\n",
    );
    let output = sandbox.output_with_stdin(&["apply", "-f", "-"], &unknown);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("Error from server (BadRequest)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"unknown field "spec.colour""#),
        "{stderr}"
    );

    let output = sandbox.output_with_stdin(&["apply", "--validate=warn", "-f", "-"], &unknown);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"Warning: unknown field "spec.colour""#),
        "{stderr}"
    );

    let invalid = SUMMARIZER.replace("provider: openai", "provider: openia");
    let output = sandbox.output_with_stdin(&["apply", "-f", "-"], &invalid);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(r#"spec.provider: Unsupported value: "openia""#),
        "{stderr}"
    );
}

#[test]
fn delete_waits_for_finalizers() {
    let sandbox = sandbox_with_crds();
    sandbox.ok_with_stdin(&["apply", "-f", "-"], ORDERS_DB);
    let out = sandbox.ok(&["delete", "manageddatabase", "orders"]);
    assert!(
        out.contains("manageddatabase.portico.dev \"orders\" deleted"),
        "{out}"
    );
    let gone = sandbox.output(&["get", "mdb", "orders"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));

    let held = SUMMARIZER.replace(
        "  labels:\n",
        "  finalizers:\n    - portico.dev/cleanup\n  labels:\n",
    );
    sandbox.ok_with_stdin(&["apply", "-f", "-"], &held);
    sandbox.ok(&["delete", "aim", "summarizer", "--wait=false"]);
    let deletion = sandbox.ok(&[
        "get",
        "aim",
        "summarizer",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!deletion.is_empty(), "object stays, marked for deletion");
    sandbox.ok(&[
        "patch",
        "aim",
        "summarizer",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    sandbox.poll(&["get", "aim", "summarizer"], WAIT, |output| {
        !output.status.success() && String::from_utf8_lossy(&output.stderr).contains("NotFound")
    });
}

#[test]
fn built_in_kinds_list_with_kube_columns() {
    let sandbox = Sandbox::start();
    // Applied manifests go as JSON; `kubectl create <kind>` (protobuf) is covered in builtins.rs.
    let manifests = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: Secret
metadata:
  name: openai-credentials
  namespace: team-a
type: Opaque
stringData:
  apiKey: sk-test
  org: acme
"#;
    let out = sandbox.ok_with_stdin(&["apply", "-f", "-"], manifests);
    assert!(out.contains("namespace/team-a created"), "{out}");
    let rows = table_rows(&sandbox.ok(&["get", "namespaces"]));
    assert_eq!(rows[0], ["NAME", "STATUS", "AGE"]);
    assert!(
        rows.iter().any(|row| row[..2] == ["team-a", "Active"]),
        "{rows:?}"
    );
    let rows = table_rows(&sandbox.ok(&["get", "secrets", "-n", "team-a"]));
    assert_eq!(rows[0], ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(rows[1][..3], ["openai-credentials", "Opaque", "2"]);
    let version = sandbox.ok(&["version", "-o", "json"]);
    assert!(version.contains("\"serverVersion\""), "{version}");
}
