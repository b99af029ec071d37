//! The `deploy/` kustomize base: it renders with `kubectl kustomize`, applies server-side with
//! `kubectl apply -k` against the sandbox, asks for what a hardened Deployment should, and its
//! RBAC grants exactly the verbs and resources the operator really uses — measured by running
//! `portico run` through both kinds' lifecycles and reading which requests the sandbox received
//! from it (told apart by its `User-Agent`).

use std::collections::BTreeSet;
use std::path::Path;

use portico_api::{AIModel, ManagedDatabase};
use serde_json::Value;

use super::OperatorProcess;
use crate::kubectl::harness::Sandbox;
use crate::operator::{NS, Options, aimodel, database, model_spec, put_secret};

fn deploy_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// `kubectl kustomize deploy/`, parsed into its documents.
fn rendered(sandbox: &Sandbox) -> Vec<Value> {
    let dir = deploy_dir();
    let yaml = sandbox.ok(&["kustomize", dir.to_str().expect("UTF-8 path")]);
    serde_saphyr::from_multiple::<Value>(&yaml).expect("kustomize output is YAML")
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("deploy/ renders no {kind} {name}"))
}

#[test]
fn deploy_base_renders_hardened_and_applies_server_side() {
    let sandbox = Sandbox::start();
    let docs = rendered(&sandbox);
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "CustomResourceDefinition",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/: {kinds:?}");
    }
    find(&docs, "CustomResourceDefinition", "aimodels.portico.dev");
    find(
        &docs,
        "CustomResourceDefinition",
        "manageddatabases.portico.dev",
    );

    let deployment = find(&docs, "Deployment", "portico");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "portico");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--leader-election"), "{args:?}");
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    // The gateway URL and token Secret come from the generated ConfigMap.
    let config_name = container["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .expect("envFrom a ConfigMap");
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == config_name)
        .expect("the referenced ConfigMap is rendered (with its hash suffix)");
    assert!(config["data"]["PORTICO_GATEWAY_URL"].is_string());
    assert_eq!(
        config["data"]["PORTICO_GATEWAY_TOKEN_SECRET"],
        "portico-system/gateway-admin"
    );
    let service = find(&docs, "Service", "portico-metrics");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);

    let dir = deploy_dir();
    let applied = sandbox.ok(&[
        "apply",
        "--server-side",
        "-k",
        dir.to_str().expect("UTF-8 path"),
    ]);
    assert!(
        applied.contains("deployment.apps/portico serverside-applied"),
        "{applied}"
    );
    assert!(
        applied.contains("customresourcedefinition.apiextensions.k8s.io/aimodels.portico.dev"),
        "{applied}"
    );
    let replicas = sandbox.ok(&[
        "get",
        "deployment",
        "portico",
        "-n",
        "portico-system",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas, "2");
    // Applying again changes nothing and fails nothing (idempotent, no field conflicts).
    sandbox.ok(&[
        "apply",
        "--server-side",
        "-k",
        dir.to_str().expect("UTF-8 path"),
    ]);
}

/// `(verb, resource)` pairs an RBAC rule list grants, resources spelled as the sandbox counts
/// them: `plural`, or `plural.group`, then `/subresource`.
fn granted(rules: &Value) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for rule in rules.as_array().expect("rules") {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        for group in strings("apiGroups") {
            for resource in strings("resources") {
                assert!(
                    !resource.contains('*') && !group.contains('*'),
                    "no wildcards in least-privilege RBAC"
                );
                let (plural, sub) = match resource.split_once('/') {
                    Some((plural, sub)) => (plural.to_string(), format!("/{sub}")),
                    None => (resource.clone(), String::new()),
                };
                let qualified = if group.is_empty() {
                    format!("{plural}{sub}")
                } else {
                    format!("{plural}.{group}{sub}")
                };
                for verb in strings("verbs") {
                    assert_ne!(verb, "*", "no wildcard verbs");
                    pairs.insert((verb, qualified.clone()));
                }
            }
        }
    }
    pairs
}

fn pair(verb: &str, resource: &str) -> (String, String) {
    (verb.to_string(), resource.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_grants_exactly_what_the_operator_uses() {
    let (env, _dir, kubeconfig) = super::env_for_processes(Options {
        provision_delay: std::time::Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let operator = OperatorProcess::run(
        &kubeconfig,
        &env.gateway.url(),
        "rbac-0",
        &["--leader-election", "--retry-period", "500ms"],
        &[],
    );
    operator.metrics_addr().await;

    // Every path the operator has: provision both kinds, rotate a referenced Secret, lose a
    // connection Secret, deprovision both.
    env.create::<AIModel>(aimodel("rbac-model", model_spec()))
        .await;
    env.create::<ManagedDatabase>(database("rbac-db", 5)).await;
    env.wait_ready::<AIModel>("rbac-model").await;
    env.wait_ready::<ManagedDatabase>("rbac-db").await;
    put_secret(
        &env.client,
        NS,
        "provider-key",
        &[("apiKey", "sk-rotated-0001")],
    )
    .await;
    let secrets =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), NS);
    secrets
        .delete("rbac-model-conn", &Default::default())
        .await
        .expect("connection Secret deleted");
    crate::support::eventually("the connection Secret to be written again", || async {
        env.secret("rbac-model-conn").await.map(|_| ())
    })
    .await;
    env.api::<AIModel>()
        .delete("rbac-model", &Default::default())
        .await
        .expect("model deleted");
    env.api::<ManagedDatabase>()
        .delete("rbac-db", &Default::default())
        .await
        .expect("database deleted");
    env.wait_gone::<AIModel>("rbac-model").await;
    env.wait_gone::<ManagedDatabase>("rbac-db").await;

    let used = env.apiserver.stats().used_by("portico");
    assert!(
        !used.is_empty(),
        "the operator's requests carry its User-Agent"
    );

    let rbac_text =
        std::fs::read_to_string(deploy_dir().join("rbac.yaml")).expect("deploy/rbac.yaml");
    let rbac = serde_saphyr::from_multiple::<Value>(&rbac_text).expect("rbac.yaml is YAML");
    let rules_of = |kind: &str| {
        rbac.iter()
            .find(|doc| doc["kind"] == kind)
            .map(|doc| granted(&doc["rules"]))
            .unwrap_or_else(|| panic!("deploy/rbac.yaml has a {kind}"))
    };
    let cluster = rules_of("ClusterRole");
    let namespaced = rules_of("Role");
    let all: BTreeSet<_> = cluster.union(&namespaced).cloned().collect();
    for (verb, resource) in &used {
        assert!(
            all.contains(&(verb.clone(), resource.clone())),
            "the operator used `{verb} {resource}`, which deploy/rbac.yaml does not grant"
        );
        if resource.starts_with("leases") {
            assert!(
                namespaced.contains(&(verb.clone(), resource.clone())),
                "leases belong to the namespaced Role only"
            );
        }
    }
    // Needed without showing up as a request of their own:
    let implied: BTreeSet<_> = [
        // server-side apply of a Secret that does not exist yet is authorized as create;
        pair("create", "secrets"),
        // ownerReferences with blockOwnerDeletion need update on the owner's finalizers;
        pair("update", "aimodels.portico.dev/finalizers"),
        pair("update", "manageddatabases.portico.dev/finalizers"),
    ]
    .into();
    assert!(
        used.contains(&pair("patch", "secrets")),
        "connection Secrets are applied"
    );
    assert!(used.contains(&pair("create", "events.events.k8s.io")));
    for grant in &all {
        assert!(
            used.contains(grant) || implied.contains(grant),
            "deploy/rbac.yaml grants `{} {}`, which the operator never uses",
            grant.0,
            grant.1
        );
    }
}
