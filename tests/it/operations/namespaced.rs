//! The namespace-scoped install: the component `deploy/components/namespaced/`, through its
//! example overlay `examples/namespaced-install/` (namespace team-a). It renders with
//! `kubectl kustomize` holding nothing cluster-scoped, applies server-side into an existing
//! namespace, and its Roles grant exactly what `portico run` — started with the environment the
//! rendered Deployment gives it, so `--namespace` comes from the pod's own namespace — requests
//! through both kinds' lifecycles, every one of those requests inside that namespace.

use std::collections::BTreeSet;

use serde_json::Value;

use super::OperatorProcess;
use super::deploy::{
    assert_grants_exactly, config_of, every_path, find, grants_to_operator, implied_requests,
    kinds, kustomize, repo_path,
};
use crate::kubectl::harness::Sandbox;
use crate::operator::{GATEWAY_TOKEN, NS, Options, put_secret};

/// The example overlay, which installs into `NS`.
const OVERLAY: &str = "examples/namespaced-install";

fn rendered() -> Vec<Value> {
    kustomize(&repo_path(OVERLAY))
}

/// The variables of the rendered operator container that come from the pod's own namespace
/// (`fieldRef: metadata.namespace`), as the kubelet would set them in `namespace`.
fn namespace_env(docs: &[Value], namespace: &str) -> Vec<(String, String)> {
    let deployment = find(docs, "Deployment", "portico");
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter(|var| var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace")
        .filter_map(|var| Some((var["name"].as_str()?.to_string(), namespace.to_string())))
        .collect()
}

#[test]
fn namespaced_install_renders_nothing_cluster_scoped_and_applies_server_side() {
    let docs = rendered();
    let kinds = kinds(&docs);
    for kind in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {OVERLAY}: {kinds:?}");
    }
    // Nothing cluster-scoped: no ClusterRole or ClusterRoleBinding, no CRD, and no Namespace
    // (the namespace is the user's: `kubectl delete -k` must not delete it).
    for kind in [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Namespace",
    ] {
        assert!(!kinds.contains(kind), "{OVERLAY} renders a {kind}");
    }
    for doc in &docs {
        assert_eq!(
            doc["metadata"]["namespace"], NS,
            "{} {} is outside {NS}",
            doc["kind"], doc["metadata"]["name"]
        );
    }
    // Both Roles are bound to the ServiceAccount of this namespace.
    let grants = grants_to_operator(&docs, NS);
    let roles: BTreeSet<&str> = grants.iter().map(|g| g.role.as_str()).collect();
    assert_eq!(
        roles,
        BTreeSet::from(["Role/portico", "Role/portico-leader-election"]),
        "{grants:#?}"
    );
    assert!(grants.iter().all(|g| g.namespace.as_deref() == Some(NS)));
    // --namespace is the pod's namespace; the token Secret is in it.
    let names: Vec<String> = namespace_env(&docs, NS)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(
        names.iter().any(|name| name == "PORTICO_NAMESPACE"),
        "PORTICO_NAMESPACE is not the pod's namespace: {names:?}"
    );
    let container =
        &find(&docs, "Deployment", "portico")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        config_of(&docs, container)["data"]["PORTICO_GATEWAY_TOKEN_SECRET"],
        format!("{NS}/gateway-admin")
    );

    // A namespace admin's apply: into a namespace that exists already.
    let sandbox = Sandbox::start();
    sandbox.ok(&["create", "namespace", NS]);
    let dir = repo_path(OVERLAY);
    let dir = dir.to_str().expect("UTF-8 path");
    let applied = sandbox.ok(&["apply", "--server-side", "-k", dir]);
    for object in [
        "role.rbac.authorization.k8s.io/portico serverside-applied",
        "rolebinding.rbac.authorization.k8s.io/portico serverside-applied",
        "deployment.apps/portico serverside-applied",
    ] {
        assert!(applied.contains(object), "{applied}");
    }
    let watched = sandbox.ok(&[
        "get",
        "deployment",
        "portico",
        "-n",
        NS,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[?(@.name==\"PORTICO_NAMESPACE\")].valueFrom.fieldRef.fieldPath}",
    ]);
    assert_eq!(watched, "metadata.namespace");
    // Idempotent, and the base's portico-system was never needed.
    sandbox.ok(&["apply", "--server-side", "-k", dir]);
    let output = sandbox.output(&["get", "namespace", "portico-system"]);
    assert!(!output.status.success(), "portico-system was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_roles_grant_exactly_what_the_operator_uses_in_its_namespace() {
    let (env, _dir, kubeconfig) = super::env_for_processes(Options {
        provision_delay: std::time::Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let docs = rendered();
    let container =
        &find(&docs, "Deployment", "portico")["spec"]["template"]["spec"]["containers"][0];
    let token_secret = config_of(&docs, container)["data"]["PORTICO_GATEWAY_TOKEN_SECRET"]
        .as_str()
        .expect("the token Secret is configured")
        .to_string();
    let (token_namespace, token_name) = token_secret.split_once('/').expect("NAMESPACE/NAME");
    put_secret(
        &env.client,
        token_namespace,
        token_name,
        &[("token", GATEWAY_TOKEN)],
    )
    .await;
    // The environment the kubelet would give the rendered Deployment's pod in NS.
    let pod_env = namespace_env(&docs, NS);
    let pod_env: Vec<(&str, &str)> = pod_env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let operator = OperatorProcess::run_with_token_secret(
        &kubeconfig,
        &env.gateway.url(),
        &token_secret,
        "rbac-ns-0",
        &["--leader-election", "--retry-period", "500ms"],
        &pod_env,
    );
    operator.metrics_addr().await;
    let used = every_path(&env).await;

    // A Role can allow only requests inside its namespace: the start-up CRD check, the
    // informers, the Secret watches, the token watch and the Lease included.
    for request in &used {
        assert_eq!(
            request.namespace.as_deref(),
            Some(NS),
            "the operator sent `{} {}` outside {NS} (name {:?}); no Role in {NS} can allow it.\n\
             Its log:\n{}",
            request.verb,
            request.resource,
            request.name,
            operator.log()
        );
    }
    let grants = grants_to_operator(&docs, NS);
    assert_grants_exactly(&grants, &used, &implied_requests(NS), OVERLAY);
}
