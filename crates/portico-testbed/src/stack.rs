//! The test stack, built in one place: the sandbox API server, the gateway, Portico's CRDs
//! (installed and Established), namespaces, and the gateway admin token in its Secret. The
//! sandbox command, the soak, the bench and the integration tests all start it through
//! [`StackBuilder`], and build operator contexts on it with the operator's own
//! [`ContextBuilder`], so what they exercise is the production wiring.

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube_sandbox::{ApiServer, ApiServerConfig};
use portico_gateway::{GatewayConfig, ReferenceGateway};
use portico_gateway_client::{GatewayClient, GatewayClientConfig};
use portico_operator::controller::ContextBuilder;
use portico_operator::credentials::{GATEWAY_TOKEN_KEY, SecretRef};
use secrecy::{ExposeSecret, SecretString};

use crate::upstream::StandInUpstream;

/// Field manager of the stack's own writes.
const FIELD_MANAGER: &str = "portico-testbed";
/// Namespace and name of the Secret holding the gateway admin token.
pub const GATEWAY_TOKEN_SECRET: (&str, &str) = ("portico-system", "gateway-admin");

/// What to start.
pub struct StackBuilder {
    token: SecretString,
    apiserver: ApiServerConfig,
    gateway: GatewaySource,
    namespaces: Vec<String>,
    token_in_secret: Option<SecretString>,
    install_crds: bool,
}

enum GatewaySource {
    Start(GatewayConfig),
    StartWithPostgres(GatewayConfig, SecretString),
    Running(ReferenceGateway),
}

/// A running stack.
pub struct Stack {
    /// The Kubernetes-compatible API server.
    pub apiserver: ApiServer,
    /// The gateway.
    pub gateway: ReferenceGateway,
    /// A client of the API server.
    pub client: kube::Client,
    /// The admin token the gateway accepts.
    pub token: SecretString,
    /// Where the operator reads the admin token.
    pub token_secret: SecretRef,
    /// The stand-in provider the gateway's OpenAI-compatible providers call (none for a
    /// gateway that was already running).
    pub upstream: Option<StandInUpstream>,
}

impl StackBuilder {
    /// A stack whose gateway accepts `token`, which is also what the token Secret holds.
    pub fn new(token: SecretString) -> Self {
        Self {
            apiserver: ApiServerConfig::default(),
            gateway: GatewaySource::Start(GatewayConfig::new(token.clone())),
            token,
            namespaces: Vec::new(),
            token_in_secret: None,
            install_crds: true,
        }
    }

    /// The API server's settings.
    pub fn apiserver(mut self, config: ApiServerConfig) -> Self {
        self.apiserver = config;
        self
    }

    /// The gateway's settings (its token is the stack's).
    pub fn gateway(mut self, mut config: GatewayConfig) -> Self {
        config.token = self.token.clone();
        self.gateway = GatewaySource::Start(config);
        self
    }

    /// A gateway that provisions databases on the PostgreSQL server at `admin_url`.
    pub fn gateway_with_postgres(
        mut self,
        mut config: GatewayConfig,
        admin_url: SecretString,
    ) -> Self {
        config.token = self.token.clone();
        self.gateway = GatewaySource::StartWithPostgres(config, admin_url);
        self
    }

    /// A gateway already running (it must accept the stack's token).
    pub fn running_gateway(mut self, gateway: ReferenceGateway) -> Self {
        self.gateway = GatewaySource::Running(gateway);
        self
    }

    /// Another namespace to create (the token Secret's is always created).
    pub fn namespace(mut self, name: impl Into<String>) -> Self {
        self.namespaces.push(name.into());
        self
    }

    /// What the token Secret holds, when it should differ from the gateway's token.
    pub fn token_in_secret(mut self, value: SecretString) -> Self {
        self.token_in_secret = Some(value);
        self
    }

    /// Whether to install Portico's CRDs (default: yes).
    pub fn install_crds(mut self, install: bool) -> Self {
        self.install_crds = install;
        self
    }

    /// Starts the gateway and the API server, then installs the CRDs, the namespaces and the
    /// token Secret.
    pub async fn start(self) -> anyhow::Result<Stack> {
        // Models call a local stand-in provider: the stack needs no internet.
        let mut upstream = None;
        let gateway = match self.gateway {
            GatewaySource::Start(mut config) => {
                let stand_in = StandInUpstream::start().await?;
                stand_in.serve_providers_of(&mut config);
                upstream = Some(stand_in);
                ReferenceGateway::start(config)
                    .await
                    .context("failed to start the gateway")?
            }
            GatewaySource::StartWithPostgres(mut config, url) => {
                let stand_in = StandInUpstream::start().await?;
                stand_in.serve_providers_of(&mut config);
                upstream = Some(stand_in);
                ReferenceGateway::start_with_postgres(config, &url).await?
            }
            GatewaySource::Running(gateway) => gateway,
        };
        let apiserver = ApiServer::start(self.apiserver)
            .await
            .context("failed to start the API server")?;
        let client = apiserver.kube_client()?;
        if self.install_crds {
            install_crds(&client).await?;
        }
        let (token_namespace, token_name) = GATEWAY_TOKEN_SECRET;
        create_namespace(&client, token_namespace).await?;
        for namespace in &self.namespaces {
            create_namespace(&client, namespace).await?;
        }
        let in_secret = self.token_in_secret.unwrap_or_else(|| self.token.clone());
        put_secret(
            &client,
            token_namespace,
            token_name,
            GATEWAY_TOKEN_KEY,
            in_secret.expose_secret(),
        )
        .await
        .context("failed to store the gateway token Secret")?;
        Ok(Stack {
            apiserver,
            gateway,
            client,
            token: self.token,
            token_secret: SecretRef {
                namespace: token_namespace.into(),
                name: token_name.into(),
            },
            upstream,
        })
    }
}

impl Stack {
    /// The operator's context builder for this stack, calling the gateway as `gateway` says
    /// (its URL is the stack's).
    pub fn context_builder(&self, gateway: GatewayClientConfig) -> ContextBuilder {
        ContextBuilder::new(
            self.client.clone(),
            GatewayClientConfig {
                base_url: self.gateway.url(),
                ..gateway
            },
            self.token_secret.clone(),
        )
    }

    /// Client settings for this stack's gateway.
    pub fn gateway_client_config(&self) -> GatewayClientConfig {
        GatewayClientConfig::new(self.gateway.url())
    }

    /// An admin client of the gateway for assertions, with a limit no test reaches.
    pub fn admin_client(&self) -> anyhow::Result<GatewayClient> {
        Ok(GatewayClient::new(
            GatewayClientConfig {
                qps: 1000.0,
                burst: 1000,
                ..self.gateway_client_config()
            },
            self.token.clone(),
        )?)
    }

    /// Stops the gateway and the API server.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        self.apiserver.shutdown().await;
    }
}

/// Installs (server-side applies) Portico's CRDs and waits until each is `Established`.
pub async fn install_crds(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in portico_api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("failed to install CRD {name}"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let established = api
                .get(&name)
                .await?
                .status
                .and_then(|status| status.conditions)
                .is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "CRD {name} was not established within 10s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Creates a namespace (server-side apply: an existing one is fine).
pub async fn create_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&namespace),
        )
        .await
        .with_context(|| format!("failed to create namespace {name}"))?;
    Ok(())
}

/// Writes a one-key Secret (server-side apply).
pub async fn put_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), kube::Error> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            [(
                key.to_string(),
                k8s_openapi::ByteString(value.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
    Ok(())
}
