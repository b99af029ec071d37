//! The `deploy/` kustomize base: it renders with `kubectl kustomize`, applies server-side with
//! `kubectl apply -k` against the sandbox, asks for what a hardened Deployment should, holds no
//! CustomResourceDefinition (so `kubectl delete -k deploy/` leaves the CRDs and every resource
//! alone), and its RBAC grants exactly what the operator really uses — measured by running
//! `portico run` through both kinds' lifecycles and reading which requests the sandbox received
//! from it (told apart by its `User-Agent`), each judged as the RBAC authorizer would.
//!
//! Contract of this file, shared with `namespaced.rs`: `kustomize` (render a kustomization with
//! the real kubectl), `grants_to_operator` and `Grant` (what a rendered install's bindings give
//! the operator's ServiceAccount, and whether that allows a request), `every_path` (drive a
//! running operator through every path it has) with `implied_requests`, and
//! `assert_grants_exactly` (nothing used is missing, nothing granted is unused).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use kube_sandbox::RequestAttributes;
use portico_api::{AIModel, ManagedDatabase};
use serde_json::Value;

use super::OperatorProcess;
use crate::kubectl::harness::{Sandbox, crds_dir};
use crate::operator::{Env, NS, Options, aimodel, database, model_spec, put_secret};

/// A path inside the repository.
pub(super) fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn deploy_dir() -> PathBuf {
    repo_path("deploy")
}

/// `kubectl kustomize <dir>`, parsed into its documents; kubectl must succeed without a word on
/// stderr (deprecated kustomize fields are reported there).
pub(super) fn kustomize(dir: &Path) -> Vec<Value> {
    let output = std::process::Command::new(crate::kubectl::harness::kubectl())
        .arg("kustomize")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .expect("kubectl runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "kubectl kustomize {} failed or warned:\n{stderr}",
        dir.display()
    );
    let yaml = String::from_utf8(output.stdout).expect("UTF-8 output");
    serde_saphyr::from_multiple::<Value>(&yaml).expect("kustomize output is YAML")
}

pub(super) fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} is rendered"))
}

pub(super) fn kinds(docs: &[Value]) -> BTreeSet<&str> {
    docs.iter().filter_map(|d| d["kind"].as_str()).collect()
}

#[test]
fn deploy_base_renders_hardened_and_applies_server_side() {
    let sandbox = Sandbox::start();
    let docs = kustomize(&deploy_dir());
    let kinds = kinds(&docs);
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
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/: {kinds:?}");
    }
    // The CRDs are installed on their own (crds/): deleting this base must not delete them.
    assert!(
        !kinds.contains("CustomResourceDefinition"),
        "deploy/ renders CRDs, so `kubectl delete -k deploy/` would delete every resource: {kinds:?}"
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
    // Cluster-wide: nothing sets --namespace.
    assert!(
        container["env"]
            .as_array()
            .is_none_or(|env| env.iter().all(|var| var["name"] != "PORTICO_NAMESPACE")),
        "the base watches every namespace"
    );
    // The gateway URL and token Secret come from the generated ConfigMap.
    let config = config_of(&docs, container);
    assert!(config["data"]["PORTICO_GATEWAY_URL"].is_string());
    assert_eq!(
        config["data"]["PORTICO_GATEWAY_TOKEN_SECRET"],
        "portico-system/gateway-admin"
    );
    let service = find(&docs, "Service", "portico-metrics");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);

    let dir = deploy_dir();
    let dir = dir.to_str().expect("UTF-8 path");
    let applied = sandbox.ok(&["apply", "--server-side", "-k", dir]);
    assert!(
        applied.contains("deployment.apps/portico serverside-applied"),
        "{applied}"
    );
    assert!(!applied.contains("customresourcedefinition"), "{applied}");
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
    sandbox.ok(&["apply", "--server-side", "-k", dir]);
}

/// The ConfigMap a container takes its environment from (rendered with its hash suffix).
pub(super) fn config_of<'a>(docs: &'a [Value], container: &Value) -> &'a Value {
    let name = container["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .expect("envFrom a ConfigMap");
    docs.iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == name)
        .expect("the referenced ConfigMap is rendered")
}

#[test]
fn deleting_the_install_keeps_the_crds_and_every_resource() {
    let sandbox = Sandbox::start();
    sandbox.ok(&["apply", "--server-side", "-f", &crds_dir()]);
    let dir = deploy_dir();
    let dir = dir.to_str().expect("UTF-8 path");
    sandbox.ok(&["apply", "--server-side", "-k", dir]);
    sandbox.ok(&["create", "namespace", NS]);
    // A resource as the operator leaves it: carrying the finalizer, which nobody will remove
    // once the operator is gone.
    let mut model = aimodel("kept", model_spec());
    model["metadata"]["finalizers"] = serde_json::json!([portico_api::FINALIZER]);
    sandbox.ok_with_stdin(
        &["apply", "--server-side", "-f", "-"],
        &serde_json::to_string(&model).expect("JSON"),
    );

    // --ignore-not-found: the sandbox terminates a namespace at once, so the objects listed
    // after it are gone by the time kubectl deletes them (a cluster takes a moment).
    let deleted = sandbox.ok(&["delete", "-k", dir, "--wait=false", "--ignore-not-found"]);
    assert!(
        deleted.contains(r#"namespace "portico-system" deleted"#),
        "{deleted}"
    );
    assert!(!deleted.contains("customresourcedefinition"), "{deleted}");
    // The install goes: its namespace is terminated, contents first.
    sandbox.poll(
        &["get", "namespace", "portico-system"],
        std::time::Duration::from_secs(30),
        |output| !output.status.success(),
    );
    // The CRDs and the resource stay, not even marked for deletion.
    for crd in ["aimodels.portico.dev", "manageddatabases.portico.dev"] {
        let deleting = sandbox.ok(&[
            "get",
            "crd",
            crd,
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ]);
        assert_eq!(deleting, "", "CRD {crd} is being deleted");
    }
    let deleting = sandbox.ok(&[
        "get",
        "aimodel",
        "kept",
        "-n",
        NS,
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert_eq!(deleting, "", "the AIModel is being deleted");
}

/// One rule of a Role or ClusterRole, resources spelled as the sandbox counts them: `plural`, or
/// `plural.group`, then `/subresource`.
#[derive(Debug)]
struct Rule {
    verbs: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
}

impl Rule {
    /// As the RBAC authorizer matches a rule: verb, resource, and — when the rule names
    /// resources — the request's name (a request without one, such as a POST create or an
    /// unselective list, never matches such a rule).
    fn allows(&self, request: &RequestAttributes) -> bool {
        self.verbs.contains(&request.verb)
            && self.resources.contains(&request.resource)
            && (self.resource_names.is_empty()
                || request
                    .name
                    .as_ref()
                    .is_some_and(|name| self.resource_names.contains(name)))
    }
}

/// What one binding gives the operator's ServiceAccount: a role's rules, in the binding's
/// namespace (RoleBinding) or everywhere (ClusterRoleBinding).
#[derive(Debug)]
pub(super) struct Grant {
    /// `Kind/name` of the role, for messages.
    pub role: String,
    /// `None` for a ClusterRoleBinding.
    pub namespace: Option<String>,
    rules: Vec<Rule>,
}

impl Grant {
    /// Whether this grant allows a request.
    pub fn allows(&self, request: &RequestAttributes) -> bool {
        self.in_scope(request) && self.rules.iter().any(|rule| rule.allows(request))
    }

    fn in_scope(&self, request: &RequestAttributes) -> bool {
        self.namespace.is_none() || self.namespace == request.namespace
    }

    /// Every resource the grant mentions.
    pub fn resources(&self) -> BTreeSet<&str> {
        self.rules
            .iter()
            .flat_map(|rule| rule.resources.iter().map(String::as_str))
            .collect()
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn rules_of(role: &Value) -> Vec<Rule> {
    let mut rules = Vec::new();
    for rule in role["rules"].as_array().expect("rules") {
        let verbs = strings(&rule["verbs"]);
        assert!(!verbs.iter().any(|v| v == "*"), "no wildcard verbs");
        let mut resources = Vec::new();
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                assert!(
                    !resource.contains('*') && !group.contains('*'),
                    "no wildcards in least-privilege RBAC"
                );
                let (plural, sub) = match resource.split_once('/') {
                    Some((plural, sub)) => (plural.to_string(), format!("/{sub}")),
                    None => (resource.clone(), String::new()),
                };
                resources.push(if group.is_empty() {
                    format!("{plural}{sub}")
                } else {
                    format!("{plural}.{group}{sub}")
                });
            }
        }
        rules.push(Rule {
            verbs,
            resources,
            resource_names: strings(&rule["resourceNames"]),
        });
    }
    rules
}

/// The grants the rendered `docs` give ServiceAccount `portico` in `namespace`: every binding
/// naming it (a RoleBinding's subject without a namespace means the binding's own), with the
/// rules of the role it refers to, which must be rendered too.
pub(super) fn grants_to_operator(docs: &[Value], namespace: &str) -> Vec<Grant> {
    let mut grants = Vec::new();
    for binding in docs {
        let cluster_wide = match binding["kind"].as_str() {
            Some("ClusterRoleBinding") => true,
            Some("RoleBinding") => false,
            _ => continue,
        };
        let binding_namespace = binding["metadata"]["namespace"].as_str();
        let names_operator = binding["subjects"].as_array().is_some_and(|subjects| {
            subjects.iter().any(|subject| {
                let subject_namespace = subject["namespace"]
                    .as_str()
                    .or(binding_namespace.filter(|_| !cluster_wide));
                subject["kind"] == "ServiceAccount"
                    && subject["name"] == "portico"
                    && subject_namespace == Some(namespace)
            })
        });
        if !names_operator {
            continue;
        }
        let role_kind = binding["roleRef"]["kind"].as_str().expect("roleRef.kind");
        let role_name = binding["roleRef"]["name"].as_str().expect("roleRef.name");
        let role = docs
            .iter()
            .find(|doc| {
                doc["kind"] == role_kind
                    && doc["metadata"]["name"] == role_name
                    && (role_kind == "ClusterRole"
                        || doc["metadata"]["namespace"].as_str() == binding_namespace)
            })
            .unwrap_or_else(|| panic!("{role_kind} {role_name} is bound but not rendered"));
        grants.push(Grant {
            role: format!("{role_kind}/{role_name}"),
            namespace: if cluster_wide {
                None
            } else {
                Some(binding_namespace.expect("a RoleBinding's namespace").into())
            },
            rules: rules_of(role),
        });
    }
    grants
}

/// Requests the operator needs allowed although it never sends them as such, for the objects
/// `every_path` creates in `namespace`: server-side apply of a connection Secret that does not
/// exist yet is also authorized as `create`; an ownerReference with `blockOwnerDeletion` needs
/// `update` on the owner's `finalizers`.
pub(super) fn implied_requests(namespace: &str) -> BTreeSet<RequestAttributes> {
    let request = |verb: &str, resource: &str, name: &str| RequestAttributes {
        verb: verb.into(),
        resource: resource.into(),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
    };
    [
        request("create", "secrets", "rbac-model-conn"),
        request("create", "secrets", "rbac-db-conn"),
        request("update", "aimodels.portico.dev/finalizers", "rbac-model"),
        request(
            "update",
            "manageddatabases.portico.dev/finalizers",
            "rbac-db",
        ),
    ]
    .into()
}

/// Drives the operator running against `env` through every path it has: provision both kinds,
/// rotate a referenced Secret, lose a connection Secret, deprovision both. Returns the requests
/// the sandbox received from it.
pub(super) async fn every_path(env: &Env) -> BTreeSet<RequestAttributes> {
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

    let used = env.apiserver.stats().requests_of("portico");
    assert!(
        !used.is_empty(),
        "the operator's requests carry its User-Agent"
    );
    let has = |verb: &str, resource: &str| {
        used.iter()
            .any(|r| r.verb == verb && r.resource == resource)
    };
    assert!(has("patch", "secrets"), "connection Secrets are applied");
    assert!(has("create", "events.events.k8s.io"), "events are created");
    used
}

/// Every request in `used` and `implied` is allowed by some grant, and every verb a grant gives
/// on a resource is needed by one of them (under the same resourceNames and namespace).
pub(super) fn assert_grants_exactly(
    grants: &[Grant],
    used: &BTreeSet<RequestAttributes>,
    implied: &BTreeSet<RequestAttributes>,
    install: &str,
) {
    assert!(
        !grants.is_empty(),
        "{install} binds nothing to the operator"
    );
    let needed: BTreeSet<&RequestAttributes> = used.iter().chain(implied).collect();
    for request in &needed {
        assert!(
            grants.iter().any(|grant| grant.allows(request)),
            "the operator needs `{} {}` (namespace {:?}, name {:?}), which {install} does not \
             allow; grants: {grants:#?}",
            request.verb,
            request.resource,
            request.namespace,
            request.name,
        );
    }
    for grant in grants {
        for rule in &grant.rules {
            for verb in &rule.verbs {
                for resource in &rule.resources {
                    let needs = needed.iter().any(|request| {
                        &request.verb == verb
                            && &request.resource == resource
                            && grant.in_scope(request)
                            && rule.allows(request)
                    });
                    assert!(
                        needs,
                        "{install}'s {} grants `{verb} {resource}` (resourceNames {:?}), which \
                         the operator never uses",
                        grant.role, rule.resource_names
                    );
                }
            }
        }
    }
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
        // As in the Deployment: the Lease lives in the operator's own namespace.
        &[("POD_NAMESPACE", "portico-system")],
    );
    operator.metrics_addr().await;
    let used = every_path(&env).await;

    let docs = kustomize(&deploy_dir());
    let grants = grants_to_operator(&docs, "portico-system");
    for grant in &grants {
        if grant.namespace.is_none() {
            assert!(
                !grant.resources().contains("leases.coordination.k8s.io"),
                "leases belong to the namespaced Role only"
            );
        }
    }
    assert_grants_exactly(&grants, &used, &implied_requests(NS), "deploy/");
}
