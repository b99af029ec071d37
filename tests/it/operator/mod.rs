//! Operator scenarios: the sandbox API server, the reference gateway and the operator in one
//! process, talking over real HTTP on loopback. Each test builds its own `Env`.

mod callable;
mod database;
mod failures;
mod hardening;
mod lifecycle;
mod steady_state;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, Resource};
use kube_sandbox::ApiServer;
use portico_api::{AIModel, CONDITION_READY, ManagedDatabase};
use portico_gateway::{GatewayConfig, ReferenceGateway};
use portico_gateway_client::{GatewayClient, GatewayClientConfig};
use portico_operator::controller::gate::GatePolicy;
use portico_operator::controller::{Context, ContextBuilder, OperatorConfig, RunError};
use portico_operator::credentials::SecretRef;
use portico_testbed::stack::{Stack, StackBuilder};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::{self, eventually};

/// The gateway admin token every `Env` uses.
pub(crate) const GATEWAY_TOKEN: &str = "gw-admin-3f9c1d7e5b2a4c68";
/// A provider API key handed to the gateway through a Secret.
pub(crate) const PROVIDER_KEY: &str = "sk-provider-7d41e09b2c6f4a85";
/// Namespace the test objects live in.
pub(crate) const NS: &str = "team-a";

/// Knobs of an `Env`.
pub(crate) struct Options {
    pub poll_interval: Duration,
    pub provision_delay: Duration,
    pub gateway_qps: f64,
    pub gateway_burst: u32,
    /// What the token Secret holds (the gateway accepts only `GATEWAY_TOKEN`).
    pub token_in_secret: String,
    /// Whether to install the CRDs.
    pub install_crds: bool,
    /// Whether to run an operator inside the test process (tests of `portico run` as a child
    /// process turn it off).
    pub in_process_operator: bool,
    /// The operator's cluster identity at the gateway.
    pub cluster_name: String,
    /// Where the operator calls the gateway, when not the reference gateway itself (a stand-in
    /// in front of it).
    pub gateway_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(300),
            provision_delay: Duration::from_millis(300),
            gateway_qps: 500.0,
            gateway_burst: 100,
            token_in_secret: GATEWAY_TOKEN.into(),
            install_crds: true,
            in_process_operator: true,
            cluster_name: "default".into(),
            gateway_url: None,
        }
    }
}

struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
}

/// One sandbox API server, one reference gateway and (usually) one running operator.
pub(crate) struct Env {
    pub apiserver: ApiServer,
    pub gateway: ReferenceGateway,
    pub client: Client,
    /// An admin client of the gateway for assertions (not the operator's).
    pub gateway_admin: GatewayClient,
    /// Where the operator reads the gateway admin token.
    pub token_secret: SecretRef,
    pub options: Options,
    operator: Option<Running>,
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Env {
        let mut gateway_config = GatewayConfig::new(SecretString::from(GATEWAY_TOKEN));
        gateway_config.provision_delay = options.provision_delay;
        // Models call a local stand-in provider, which lives as long as the test's runtime.
        portico_testbed::upstream::StandInUpstream::start()
            .await
            .expect("stand-in upstream starts")
            .serve_providers_of(&mut gateway_config);
        let gateway = ReferenceGateway::start(gateway_config)
            .await
            .expect("reference gateway starts");
        Self::start_with_gateway(options, gateway).await
    }

    pub async fn start_with_gateway(options: Options, gateway: ReferenceGateway) -> Env {
        support::init();
        // The stack the sandbox, the soak and the bench start, built the same way.
        let stack = StackBuilder::new(SecretString::from(GATEWAY_TOKEN))
            .running_gateway(gateway)
            .install_crds(options.install_crds)
            .namespace(NS)
            .token_in_secret(SecretString::from(options.token_in_secret.clone()))
            .start()
            .await
            .expect("test stack starts");
        let gateway_admin = stack.admin_client().expect("gateway admin client");
        let Stack {
            apiserver,
            gateway,
            client,
            token_secret,
            ..
        } = stack;
        let mut env = Env {
            apiserver,
            gateway,
            client,
            gateway_admin,
            token_secret,
            options,
            operator: None,
        };
        if env.options.install_crds && env.options.in_process_operator {
            env.start_operator();
        }
        env
    }

    /// The operator's context, built as `portico run` builds it (metrics included).
    pub fn operator_context(&self) -> Arc<Context> {
        let config = OperatorConfig {
            namespace: None,
            concurrency: 8,
            gate: GatePolicy {
                poll_interval: self.options.poll_interval,
                backoff_base: Duration::from_millis(100),
                backoff_max: Duration::from_secs(2),
                terminal_hold: Duration::from_secs(3600),
            },
            instance: "it".into(),
            cluster_name: self.options.cluster_name.clone(),
        };
        ContextBuilder::new(
            self.client.clone(),
            GatewayClientConfig {
                qps: self.options.gateway_qps,
                burst: self.options.gateway_burst,
                timeout: Duration::from_secs(5),
                ..GatewayClientConfig::new(
                    self.options
                        .gateway_url
                        .clone()
                        .unwrap_or_else(|| self.gateway.url()),
                )
            },
            self.token_secret.clone(),
        )
        .config(config)
        .build()
        .expect("operator's context")
    }

    /// Whether the in-process operator is still running (it has neither stopped nor panicked).
    pub fn operator_running(&self) -> bool {
        self.operator
            .as_ref()
            .is_some_and(|running| !running.task.is_finished())
    }

    pub fn start_operator(&mut self) {
        assert!(self.operator.is_none(), "operator already running");
        let shutdown = CancellationToken::new();
        let ctx = self.operator_context();
        let task = tokio::spawn(portico_operator::controller::run(ctx, shutdown.clone()));
        self.operator = Some(Running { shutdown, task });
    }

    /// Stops the operator the way SIGTERM does and waits until it has.
    pub async fn stop_operator(&mut self) {
        let running = self.operator.take().expect("operator running");
        running.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), running.task)
            .await
            .expect("operator stops in time")
            .expect("operator task did not panic")
            .expect("operator ran without error");
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    pub async fn create<K>(&self, manifest: serde_json::Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let object: K = serde_json::from_value(manifest).expect("manifest matches the type");
        self.api::<K>()
            .create(&PostParams::default(), &object)
            .await
            .expect("create succeeds")
    }

    /// Waits until the object's `Ready` condition is `True` for its current generation.
    pub async fn wait_ready<K>(&self, name: &str) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + HasConditions,
    {
        let api = self.api::<K>();
        eventually(&format!("{name} to be Ready"), || {
            let api = api.clone();
            async move {
                let object = api.get(name).await.ok()?;
                let generation = object.meta().generation;
                let ready = object.condition(CONDITION_READY)?;
                (ready.status == "True" && object.observed_generation() == generation)
                    .then_some(object)
            }
        })
        .await
    }

    /// Waits until the object no longer exists.
    pub async fn wait_gone<K>(&self, name: &str)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        eventually(&format!("{name} to be gone"), || {
            let api = api.clone();
            async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) }
        })
        .await
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        Api::<Secret>::namespaced(self.client.clone(), NS)
            .get_opt(name)
            .await
            .expect("secret read")
    }

    /// Gateway calls of one operation answered with one status.
    pub fn gateway_calls(&self, operation: &str, status: u16) -> u64 {
        self.gateway.stats().count(operation, status)
    }

    /// Gateway calls of one operation, any status.
    pub fn gateway_calls_any(&self, operation: &str) -> u64 {
        self.gateway
            .requests()
            .iter()
            .filter(|record| record.operation == operation)
            .count() as u64
    }
}

/// Read access to the status conditions of both kinds.
pub(crate) trait HasConditions {
    fn conditions(&self) -> &[Condition];
    fn observed_generation(&self) -> Option<i64>;
    fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions().iter().find(|c| c.type_ == type_)
    }
}

impl HasConditions for AIModel {
    fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or(&[])
    }
    fn observed_generation(&self) -> Option<i64> {
        self.status.as_ref().and_then(|s| s.observed_generation)
    }
}

impl HasConditions for ManagedDatabase {
    fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or(&[])
    }
    fn observed_generation(&self) -> Option<i64> {
        self.status.as_ref().and_then(|s| s.observed_generation)
    }
}

/// Creates or replaces a Secret with the given string data.
pub(crate) async fn put_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    data: &[(&str, &str)],
) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        k8s_openapi::ByteString(v.as_bytes().to_vec()),
                    )
                })
                .collect(),
        ),
        ..Secret::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = kube::api::PatchParams::apply("it").force();
    api.patch(name, &params, &kube::api::Patch::Apply(&secret))
        .await
        .expect("secret written");
}

/// String value of a key of a Secret.
pub(crate) fn secret_string(secret: &Secret, key: &str) -> String {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .unwrap_or_else(|| panic!("secret has key {key}"));
    String::from_utf8(bytes.0.clone()).expect("utf-8 value")
}

/// An AIModel manifest.
pub(crate) fn aimodel(name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "AIModel",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

/// The usual AIModel spec: provider key from Secret `provider-key`.
pub(crate) fn model_spec() -> serde_json::Value {
    serde_json::json!({
        "provider": "openai",
        "model": "gpt-4o-mini",
        "providerCredentials": {"name": "provider-key", "key": "apiKey"},
        "promptTemplate": {
            "system": "You summarise text.",
            "template": "Summarise: {{input}}",
        },
        "parameters": {"temperature": 0.2},
        "limits": {"requestsPerMinute": 600},
    })
}

/// A ManagedDatabase manifest.
pub(crate) fn database(name: &str, storage_gb: i64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "ManagedDatabase",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "engine": "PostgreSQL",
            "version": "16",
            "databaseName": format!("{name}-db"),
            "storageGB": storage_gb,
        },
    })
}
