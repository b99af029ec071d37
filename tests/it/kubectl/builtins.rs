//! kubectl on built-in kinds: imperative `kubectl create <kind>` (which client-go sends as
//! protobuf) and client-side `kubectl apply` updates (strategic merge patches computed from the
//! OpenAPI patch strategies).

use serde_json::{Value, json};

use super::harness::Sandbox;

#[test]
fn imperative_create_commands_succeed_with_protobuf_bodies() {
    let sandbox = Sandbox::start();
    // `-v=8` shows the request headers: the body really is protobuf.
    let output = sandbox.output(&["create", "namespace", "team-b", "-v=8"]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "{log}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "namespace/team-b created"
    );
    let created = [
        (
            vec![
                "create",
                "secret",
                "generic",
                "creds",
                "--from-literal=apiKey=sk-test",
                "--from-literal=org=acme",
            ],
            "secret/creds created",
        ),
        (
            vec![
                "create",
                "configmap",
                "settings",
                "--from-literal=mode=fast",
            ],
            "configmap/settings created",
        ),
        (
            vec![
                "create",
                "deployment",
                "web",
                "--image=nginx:1.27",
                "--port=8080",
                "--replicas=0",
            ],
            "deployment.apps/web created",
        ),
        (
            vec!["create", "serviceaccount", "runner"],
            "serviceaccount/runner created",
        ),
    ];
    for (args, expected) in created {
        let args: Vec<&str> = args.into_iter().chain(["-n", "team-b"]).collect();
        assert_eq!(sandbox.ok(&args).trim(), expected);
    }

    let phase = sandbox.ok(&[
        "get",
        "namespace",
        "team-b",
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(phase, "Active");
    let secret = sandbox.ok(&[
        "get",
        "secret",
        "creds",
        "-n",
        "team-b",
        "-o",
        "jsonpath={.type} {.data.apiKey} {.data.org}",
    ]);
    // kubectl sends an empty type; kube-apiserver defaults it.
    assert_eq!(secret, "Opaque c2stdGVzdA== YWNtZQ==");
    let configmap = sandbox.ok(&[
        "get",
        "configmap",
        "settings",
        "-n",
        "team-b",
        "-o",
        "jsonpath={.data.mode}",
    ]);
    assert_eq!(configmap, "fast");
    // `--replicas=0` is a pointer set to zero in Go, so it must survive as 0 (not default to 1).
    let deployment = sandbox.ok(&[
        "get",
        "deployment",
        "web",
        "-n",
        "team-b",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} \
         {.spec.template.spec.containers[0].ports[0].containerPort} \
         {.spec.selector.matchLabels.app}",
    ]);
    assert_eq!(deployment, "0 nginx:1.27 8080 web");

    let again = sandbox.output(&["create", "configmap", "settings", "-n", "team-b"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("configmaps \"settings\" already exists"),
        "{stderr}"
    );
}

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        args: ["--port", "8080"]
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: MODE
          value: production
        resources:
          limits: {cpu: 500m}
      - name: sidecar
        image: busybox:1.36
"#;

fn containers(sandbox: &Sandbox) -> Value {
    let out = sandbox.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers}",
    ]);
    serde_json::from_str(&out).expect("containers as JSON")
}

#[test]
fn client_side_apply_updates_a_deployment_by_merge_keys() {
    let sandbox = Sandbox::start();
    let out = sandbox.ok_with_stdin(&["apply", "-f", "-"], WEB);
    assert_eq!(out.trim(), "deployment.apps/web created");

    let changed = WEB.replace("nginx:1.27", "nginx:1.28").replace(
        "          value: production\n",
        "          value: production\n        - name: LOG_LEVEL\n          value: debug\n",
    );
    let output = sandbox.output_with_stdin(&["apply", "-f", "-", "-v=8"], &changed);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    // kubectl names only what changed, by merge key, as it does against a real cluster.
    assert!(
        log.contains("Content-Type: application/strategic-merge-patch+json"),
        "{log}"
    );
    assert!(log.contains("$setElementOrder/containers"), "{log}");
    assert!(log.contains("$setElementOrder/env"), "{log}");
    assert_eq!(
        containers(&sandbox),
        json!([
            {
                "args": ["--port", "8080"],
                "env": [
                    {"name": "MODE", "value": "production"},
                    {"name": "LOG_LEVEL", "value": "debug"},
                ],
                "image": "nginx:1.28",
                "name": "app",
                "ports": [{"containerPort": 8080, "name": "http"}],
                "resources": {"limits": {"cpu": "500m"}},
            },
            {"image": "busybox:1.36", "name": "sidecar"},
        ])
    );
    let out = sandbox.ok_with_stdin(&["apply", "-f", "-"], &changed);
    assert_eq!(out.trim(), "deployment.apps/web unchanged");

    // Dropping an env var and a container sends `$patch: delete` elements.
    let trimmed = changed
        .replace("        - name: MODE\n          value: production\n", "")
        .replace("      - name: sidecar\n        image: busybox:1.36\n", "");
    let out = sandbox.ok_with_stdin(&["apply", "-f", "-"], &trimmed);
    assert_eq!(out.trim(), "deployment.apps/web configured");
    let now = containers(&sandbox);
    assert_eq!(now.as_array().map(Vec::len), Some(1), "{now}");
    assert_eq!(
        now[0]["env"],
        json!([{"name": "LOG_LEVEL", "value": "debug"}])
    );
    assert_eq!(
        now[0]["ports"],
        json!([{"containerPort": 8080, "name": "http"}])
    );
}
