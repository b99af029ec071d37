//! `GatewayClient`: the operator's one way to call the gateway. Adds the rotating bearer token,
//! the shared rate limit and `Retry-After` pauses, a span per call with OpenTelemetry HTTP-client
//! attributes and an injected `traceparent`, and maps every answer to domain types or a
//! classified `GatewayError`, both with a `CallRecord`.
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use progenitor_client::{Error as ProgenitorError, ResponseValue};
use reqwest::header::{HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::breaker::{Admission, CredentialBreaker};
use super::error::{CallRecord, ErrorDetail, GatewayError, GatewayErrorKind};
use super::generated::{self, types};
use super::hooks::{CallHooks, Observed, bounded_server_delay, parse_retry_after};
use super::limiter::SharedLimiter;
use super::metrics::GatewayMetrics;
use super::types::{
    ApiKey, ChatAnswer, Database, DatabaseCredentials, DatabaseSpec, GatewayStats, Model,
    ModelSpec, Page,
};

/// Supplies the gateway's admin token at the moment of each call, so a rotated token is used on
/// the next call without rebuilding the client.
pub trait TokenSource: Send + Sync {
    /// The current token, or `None` when there is none (calls then fail without being sent).
    fn token(&self) -> Option<SecretString>;
}

/// A fixed token.
impl TokenSource for SecretString {
    fn token(&self) -> Option<SecretString> {
        Some(self.clone())
    }
}

/// The token an operator keeps up to date from a watched Secret.
impl TokenSource for watch::Receiver<Option<SecretString>> {
    fn token(&self) -> Option<SecretString> {
        self.borrow().clone()
    }
}

/// Settings of a `GatewayClient`.
#[derive(Debug, Clone)]
pub struct GatewayClientConfig {
    /// Base URL of the gateway, e.g. `http://127.0.0.1:8080` (no trailing path needed).
    pub base_url: String,
    /// Calls per second the shared limiter allows on average.
    pub qps: f64,
    /// Calls the shared limiter allows at once.
    pub burst: u32,
    /// Time allowed for one request, from sending to the end of the answer's body.
    pub timeout: Duration,
    /// Time allowed for establishing a connection.
    pub connect_timeout: Duration,
    /// Where calls, limiter waits and pauses are counted.
    pub metrics: GatewayMetrics,
    /// TLS settings for an `https` gateway.
    pub tls: GatewayTls,
}

/// TLS settings of the gateway connection.
#[derive(Debug, Clone, Default)]
pub struct GatewayTls {
    /// PEM bundle of the CAs to trust. When set, only these are trusted (not the platform's
    /// roots), as kubectl's `--certificate-authority` does: a private gateway's CA should not
    /// widen to every public one, nor a public one vouch for the private gateway.
    pub ca_bundle: Option<Vec<u8>>,
    /// PEM client certificate chain and private key, for mutual TLS. Secret: it never reaches
    /// a log line.
    pub client_identity: Option<SecretString>,
}

impl GatewayClientConfig {
    /// Defaults (50 qps, burst 50, 10 s timeout, 5 s connect timeout) for `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        GatewayClientConfig {
            base_url: base_url.into(),
            qps: 50.0,
            burst: 50,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            metrics: GatewayMetrics::default(),
            tls: GatewayTls::default(),
        }
    }
}

/// The HTTP client under the generated one.
///
/// Redirects are never followed: a 307/308 re-sends the request body — a provider credential
/// included — to wherever the answer points, another origin too. A redirect is an answer
/// outside the contract, reported as such.
fn http_client(config: &GatewayClientConfig) -> Result<reqwest::Client, GatewayConfigError> {
    let mut builder = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("portico/", env!("CARGO_PKG_VERSION")));
    if let Some(bundle) = &config.tls.ca_bundle {
        let certificates = reqwest::Certificate::from_pem_bundle(bundle)
            .map_err(|error| GatewayConfigError::Tls(format!("CA bundle: {error}")))?;
        if certificates.is_empty() {
            return Err(GatewayConfigError::Tls(
                "CA bundle: no PEM certificate found".into(),
            ));
        }
        builder = builder.tls_certs_only(certificates);
    }
    if let Some(identity) = &config.tls.client_identity {
        // The error names neither the key nor its bytes.
        let identity =
            reqwest::Identity::from_pem(identity.expose_secret().as_bytes()).map_err(|_| {
                GatewayConfigError::Tls(
                    "client certificate and key: expected PEM certificate(s) and a private key"
                        .into(),
                )
            })?;
        builder = builder.identity(identity);
    }
    Ok(builder.build()?)
}

/// Why a `GatewayClient` could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid gateway url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// qps must be a positive number and burst at least 1.
    #[error("invalid rate limit: qps {qps}, burst {burst} (qps must be > 0)")]
    InvalidRateLimit {
        /// qps given.
        qps: f64,
        /// burst given.
        burst: u32,
    },
    /// The CA bundle or the client identity is not usable PEM.
    #[error("invalid gateway TLS setting: {0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A successful call: the value and the call record.
#[derive(Debug, Clone)]
pub struct GatewayResponse<T> {
    /// What the gateway answered.
    pub value: T,
    /// The call.
    pub call: CallRecord,
    /// `Retry-After` of an accepted (`202`) answer: when to look again.
    pub retry_after: Option<Duration>,
}

impl<T> GatewayResponse<T> {
    /// Whether the gateway created the object (`201`, or `202` for a database create).
    pub fn created(&self) -> bool {
        matches!(self.call.http_status, Some(201 | 202))
    }
}

/// The result of every `GatewayClient` call.
pub type GatewayResult<T> = Result<GatewayResponse<T>, GatewayError>;

/// Typed client of the gateway contract. Cheap to clone: clones share the HTTP connection pool,
/// the rate limiter and the token source.
#[derive(Clone)]
pub struct GatewayClient {
    shared: Arc<Shared>,
    /// The resource the calls are made for (see [`GatewayClient::owned_by`]).
    owner: Option<Arc<Owner>>,
}

/// The resource a gateway object is managed by, sent as the `owner` query parameter of writes,
/// deletions and key operations: the gateway records the first owner and refuses another one
/// (`409`, code `owned_by_another`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The operator's cluster identity (`--cluster-name`).
    pub cluster: String,
    /// The resource's namespace.
    pub namespace: String,
    /// The resource's name.
    pub name: String,
    /// The resource's uid: what the gateway compares.
    pub uid: String,
}

impl std::fmt::Display for Owner {
    /// `<cluster>/<namespace>/<name>/<uid>`, the contract's `OwnerRef`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.cluster, self.namespace, self.name, self.uid
        )
    }
}

struct Shared {
    base_url: String,
    display_url: String,
    server_address: String,
    server_port: u16,
    http: reqwest::Client,
    limiter: SharedLimiter,
    token: Arc<dyn TokenSource>,
    breaker: CredentialBreaker,
    metrics: GatewayMetrics,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

/// The static facts of one operation.
struct Op {
    id: &'static str,
    method: &'static str,
    template: &'static str,
}

const UPSERT_MODEL: Op = op("upsertModel", "PUT", "/v1/namespaces/{ns}/models/{name}");
const GET_MODEL: Op = op("getModel", "GET", "/v1/namespaces/{ns}/models/{name}");
const DELETE_MODEL: Op = op("deleteModel", "DELETE", "/v1/namespaces/{ns}/models/{name}");
const LIST_MODELS: Op = op("listModels", "GET", "/v1/namespaces/{ns}/models");
const UPSERT_MODEL_KEY: Op = op(
    "upsertModelKey",
    "PUT",
    "/v1/namespaces/{ns}/models/{model}/keys/{key}",
);
const DELETE_MODEL_KEY: Op = op(
    "deleteModelKey",
    "DELETE",
    "/v1/namespaces/{ns}/models/{model}/keys/{key}",
);
const UPSERT_DATABASE: Op = op(
    "upsertDatabase",
    "PUT",
    "/v1/namespaces/{ns}/databases/{name}",
);
const GET_DATABASE: Op = op("getDatabase", "GET", "/v1/namespaces/{ns}/databases/{name}");
const DELETE_DATABASE: Op = op(
    "deleteDatabase",
    "DELETE",
    "/v1/namespaces/{ns}/databases/{name}",
);
const LIST_DATABASES: Op = op("listDatabases", "GET", "/v1/namespaces/{ns}/databases");
const ROTATE_DATABASE_CREDENTIALS: Op = op(
    "rotateDatabaseCredentials",
    "POST",
    "/v1/namespaces/{ns}/databases/{name}/credentials",
);
const CREATE_CHAT_COMPLETION: Op = op("createChatCompletion", "POST", "/v1/chat/completions");
const GET_STATS: Op = op("getStats", "GET", "/v1/admin/stats");

const fn op(id: &'static str, method: &'static str, template: &'static str) -> Op {
    Op {
        id,
        method,
        template,
    }
}

type GeneratedResult<T> = Result<ResponseValue<T>, ProgenitorError<types::Error>>;

/// Which bearer credential a call carries.
enum Bearer<'a> {
    /// The admin token from the token source.
    Admin,
    /// A model API key (chat completions).
    ModelKey(&'a SecretString),
}

impl GatewayClient {
    /// Builds a client; `token` is asked for the admin token before every call.
    pub fn new(
        config: GatewayClientConfig,
        token: impl TokenSource + 'static,
    ) -> Result<Self, GatewayConfigError> {
        Self::with_token_source(config, Arc::new(token))
    }

    /// Builds a client around a shared token source.
    pub fn with_token_source(
        config: GatewayClientConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, GatewayConfigError> {
        let mut url =
            reqwest::Url::parse(&config.base_url).map_err(|e| GatewayConfigError::InvalidUrl {
                url: config.base_url.clone(),
                reason: e.to_string(),
            })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(GatewayConfigError::InvalidUrl {
                url: config.base_url.clone(),
                reason: "the scheme must be http or https".into(),
            });
        }
        let server_address = url.host_str().unwrap_or_default().to_string();
        // `url.full` goes into spans: never with credentials embedded in the URL.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let display_url = url.as_str().trim_end_matches('/').to_string();
        let server_port = url.port_or_known_default().unwrap_or(80);
        let limiter = SharedLimiter::new(config.qps, config.burst, config.metrics.clone()).ok_or(
            GatewayConfigError::InvalidRateLimit {
                qps: config.qps,
                burst: config.burst,
            },
        )?;
        let http = http_client(&config)?;
        Ok(GatewayClient {
            owner: None,
            shared: Arc::new(Shared {
                base_url: config.base_url.trim_end_matches('/').to_string(),
                display_url,
                server_address,
                server_port,
                http,
                limiter,
                token,
                breaker: CredentialBreaker::new(),
                metrics: config.metrics,
            }),
        })
    }

    /// The same client, making its writes, deletions and key operations for `owner` (the
    /// gateway refuses them for an object another resource owns). Cheap: shares everything.
    pub fn owned_by(&self, owner: Owner) -> GatewayClient {
        GatewayClient {
            shared: self.shared.clone(),
            owner: Some(Arc::new(owner)),
        }
    }

    /// The owner parameter of this client's calls.
    fn owner_arg(&self) -> Result<Option<types::OwnerRef>, GatewayErrorKind> {
        self.owner
            .as_ref()
            .map(|owner| {
                owner
                    .to_string()
                    .parse()
                    .map_err(|e| GatewayErrorKind::InvalidRequest(format!("owner {owner}: {e}")))
            })
            .transpose()
    }

    /// The gateway's base URL (without any credentials it contained).
    pub fn url(&self) -> &str {
        &self.shared.display_url
    }

    /// Creates or updates a model (`201` created, `200` existed).
    pub async fn upsert_model(
        &self,
        ns: &str,
        name: &str,
        spec: &ModelSpec,
    ) -> GatewayResult<Model> {
        let path = format!("/v1/namespaces/{ns}/models/{name}");
        let args = (
            object_name("ns", ns),
            object_name("name", name),
            to_generated::<types::ModelSpec>("spec", spec),
        );
        let owner = self.owner_arg();
        self.execute(&UPSERT_MODEL, path, Bearer::Admin, async move |client| {
            let (ns, name, body) = (args.0?, args.1?, args.2?);
            let owner = owner?;
            Ok(client.upsert_model(&ns, &name, owner.as_ref(), &body).await)
        })
        .await
    }

    /// Reads a model.
    pub async fn get_model(&self, ns: &str, name: &str) -> GatewayResult<Model> {
        let path = format!("/v1/namespaces/{ns}/models/{name}");
        let args = (object_name("ns", ns), object_name("name", name));
        self.execute(&GET_MODEL, path, Bearer::Admin, async move |client| {
            let (ns, name) = (args.0?, args.1?);
            Ok(client.get_model(&ns, &name).await)
        })
        .await
    }

    /// Deletes a model and revokes its keys; `NotFound` means it was already gone.
    pub async fn delete_model(&self, ns: &str, name: &str) -> GatewayResult<()> {
        let path = format!("/v1/namespaces/{ns}/models/{name}");
        let args = (object_name("ns", ns), object_name("name", name));
        let owner = self.owner_arg();
        self.execute(&DELETE_MODEL, path, Bearer::Admin, async move |client| {
            let (ns, name) = (args.0?, args.1?);
            let owner = owner?;
            Ok(client.delete_model(&ns, &name, owner.as_ref()).await)
        })
        .await
    }

    /// Lists one page of a namespace's models.
    pub async fn list_models(
        &self,
        ns: &str,
        limit: Option<u32>,
        continue_token: Option<&str>,
    ) -> GatewayResult<Page<Model>> {
        let path = format!("/v1/namespaces/{ns}/models");
        let ns_arg = object_name("ns", ns);
        let continue_arg = continue_token
            .map(|token| to_generated::<types::ListModelsContinue>("continue", &token))
            .transpose();
        let limit = limit.and_then(std::num::NonZeroU32::new);
        let response = self
            .execute(&LIST_MODELS, path, Bearer::Admin, async move |client| {
                let (ns, continue_) = (ns_arg?, continue_arg?);
                Ok(client.list_models(&ns, continue_.as_ref(), limit).await)
            })
            .await?;
        convert_page::<types::ModelList, Model>(response)
    }

    /// Issues an API key for a model (`201` with the secret; `200` without it when it existed).
    pub async fn upsert_model_key(
        &self,
        ns: &str,
        model: &str,
        key: &str,
    ) -> GatewayResult<ApiKey> {
        let path = format!("/v1/namespaces/{ns}/models/{model}/keys/{key}");
        let args = (
            object_name("ns", ns),
            object_name("model", model),
            object_name("key", key),
        );
        let owner = self.owner_arg();
        self.execute(
            &UPSERT_MODEL_KEY,
            path,
            Bearer::Admin,
            async move |client| {
                let (ns, model, key) = (args.0?, args.1?, args.2?);
                let owner = owner?;
                Ok(client
                    .upsert_model_key(&ns, &model, &key, owner.as_ref())
                    .await)
            },
        )
        .await
    }

    /// Revokes an API key; `NotFound` means it was already gone.
    pub async fn delete_model_key(&self, ns: &str, model: &str, key: &str) -> GatewayResult<()> {
        let path = format!("/v1/namespaces/{ns}/models/{model}/keys/{key}");
        let args = (
            object_name("ns", ns),
            object_name("model", model),
            object_name("key", key),
        );
        let owner = self.owner_arg();
        self.execute(
            &DELETE_MODEL_KEY,
            path,
            Bearer::Admin,
            async move |client| {
                let (ns, model, key) = (args.0?, args.1?, args.2?);
                let owner = owner?;
                Ok(client
                    .delete_model_key(&ns, &model, &key, owner.as_ref())
                    .await)
            },
        )
        .await
    }

    /// Creates or updates a database: `202` with credentials on create (see
    /// `GatewayResponse::retry_after`), `200` without them afterwards.
    pub async fn upsert_database(
        &self,
        ns: &str,
        name: &str,
        spec: &DatabaseSpec,
    ) -> GatewayResult<Database> {
        let path = format!("/v1/namespaces/{ns}/databases/{name}");
        let args = (
            object_name("ns", ns),
            object_name("name", name),
            to_generated::<types::DatabaseSpec>("spec", spec),
        );
        let owner = self.owner_arg();
        self.execute(&UPSERT_DATABASE, path, Bearer::Admin, async move |client| {
            let (ns, name, body) = (args.0?, args.1?, args.2?);
            let owner = owner?;
            Ok(client
                .upsert_database(&ns, &name, owner.as_ref(), &body)
                .await)
        })
        .await
    }

    /// Reads a database (phase and connection details, never the password).
    pub async fn get_database(&self, ns: &str, name: &str) -> GatewayResult<Database> {
        let path = format!("/v1/namespaces/{ns}/databases/{name}");
        let args = (object_name("ns", ns), object_name("name", name));
        self.execute(&GET_DATABASE, path, Bearer::Admin, async move |client| {
            let (ns, name) = (args.0?, args.1?);
            Ok(client.get_database(&ns, &name).await)
        })
        .await
    }

    /// Starts deprovisioning a database (`202`, phase `Deleting`); `NotFound` means it is gone.
    pub async fn delete_database(&self, ns: &str, name: &str) -> GatewayResult<Database> {
        let path = format!("/v1/namespaces/{ns}/databases/{name}");
        let args = (object_name("ns", ns), object_name("name", name));
        let owner = self.owner_arg();
        self.execute(&DELETE_DATABASE, path, Bearer::Admin, async move |client| {
            let (ns, name) = (args.0?, args.1?);
            let owner = owner?;
            Ok(client.delete_database(&ns, &name, owner.as_ref()).await)
        })
        .await
    }

    /// Lists one page of a namespace's databases.
    pub async fn list_databases(
        &self,
        ns: &str,
        limit: Option<u32>,
        continue_token: Option<&str>,
    ) -> GatewayResult<Page<Database>> {
        let path = format!("/v1/namespaces/{ns}/databases");
        let ns_arg = object_name("ns", ns);
        let continue_arg = continue_token
            .map(|token| to_generated::<types::ListDatabasesContinue>("continue", &token))
            .transpose();
        let limit = limit.and_then(std::num::NonZeroU32::new);
        let response = self
            .execute(&LIST_DATABASES, path, Bearer::Admin, async move |client| {
                let (ns, continue_) = (ns_arg?, continue_arg?);
                Ok(client.list_databases(&ns, continue_.as_ref(), limit).await)
            })
            .await?;
        convert_page::<types::DatabaseList, Database>(response)
    }

    /// Issues a new password for a database's login role (the old one stops working).
    pub async fn rotate_database_credentials(
        &self,
        ns: &str,
        name: &str,
    ) -> GatewayResult<DatabaseCredentials> {
        let path = format!("/v1/namespaces/{ns}/databases/{name}/credentials");
        let args = (object_name("ns", ns), object_name("name", name));
        let owner = self.owner_arg();
        self.execute(
            &ROTATE_DATABASE_CREDENTIALS,
            path,
            Bearer::Admin,
            async move |client| {
                let (ns, name) = (args.0?, args.1?);
                let owner = owner?;
                Ok(client
                    .rotate_database_credentials(&ns, &name, owner.as_ref())
                    .await)
            },
        )
        .await
    }

    /// Sends one user message to a model as a client would, authorised by `key`; `model` is the
    /// model's `client_model`.
    pub async fn chat_completion(
        &self,
        key: &SecretString,
        model: &str,
        message: &str,
    ) -> GatewayResult<ChatAnswer> {
        let body = to_generated::<types::ChatCompletionRequest>(
            "request",
            &serde_json::json!({
                "model": model,
                "messages": [{"role": "user", "content": message}],
            }),
        );
        let response = self
            .execute_raw(
                &CREATE_CHAT_COMPLETION,
                "/v1/chat/completions".to_string(),
                Bearer::ModelKey(key),
                async move |client| {
                    let body = body?;
                    Ok(client.create_chat_completion(&body).await)
                },
            )
            .await?;
        let completion: types::ChatCompletion = response.value;
        let content = completion
            .choices
            .first()
            .map(|choice| choice.message.content.to_string())
            .unwrap_or_default();
        Ok(GatewayResponse {
            value: ChatAnswer {
                id: completion.id,
                model: completion.model,
                content,
            },
            call: response.call,
            retry_after: response.retry_after,
        })
    }

    /// Reads the gateway's counters.
    pub async fn stats(&self) -> GatewayResult<GatewayStats> {
        self.execute(
            &GET_STATS,
            "/v1/admin/stats".to_string(),
            Bearer::Admin,
            async move |client| Ok(client.get_stats().await),
        )
        .await
    }

    /// Runs one call and converts its generated answer to the domain type `D`.
    async fn execute<G, D>(
        &self,
        op: &'static Op,
        path: String,
        bearer: Bearer<'_>,
        send: impl AsyncFnOnce(&generated::Client) -> Result<GeneratedResult<G>, GatewayErrorKind>,
    ) -> GatewayResult<D>
    where
        G: Serialize,
        D: DeserializeOwned,
    {
        let response = self.execute_raw(op, path, bearer, send).await?;
        let value = from_generated::<G, D>(&response.value)
            .map_err(|kind| GatewayError::new(kind, response.call.clone()))?;
        Ok(GatewayResponse {
            value,
            call: response.call,
            retry_after: response.retry_after,
        })
    }

    /// Runs one call: token, span, limiter, request, classification.
    async fn execute_raw<G>(
        &self,
        op: &'static Op,
        path: String,
        bearer: Bearer<'_>,
        send: impl AsyncFnOnce(&generated::Client) -> Result<GeneratedResult<G>, GatewayErrorKind>,
    ) -> GatewayResult<G> {
        let shared = &self.shared;
        let span = tracing::info_span!(
            "gateway.call",
            otel.name = %format_args!("{} {}", op.method, op.template),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            gateway.operation = op.id,
            http.request.method = op.method,
            url.template = op.template,
            url.full = %format_args!("{}{}", shared.display_url, path),
            server.address = %shared.server_address,
            server.port = shared.server_port,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let (traceparent, trace_id) = trace_context(&span);
        let mut call = CallRecord {
            operation: op.id,
            method: op.method,
            path,
            http_status: None,
            trace_id,
            limiter_wait: Duration::ZERO,
            latency: Duration::ZERO,
        };
        let admin_token = match bearer {
            Bearer::Admin => shared.token.token(),
            Bearer::ModelKey(_) => None,
        };
        let token = match bearer {
            Bearer::Admin => admin_token.clone(),
            Bearer::ModelKey(key) => Some(key.clone()),
        };
        let Some(authorization) = token.as_ref().and_then(bearer_header) else {
            let result = Err(GatewayError::new(GatewayErrorKind::NoToken, call));
            record_outcome(&span, &result);
            return result;
        };
        // The admin token passes the credential breaker; a probe holds its permit to the end.
        let _probe = match &admin_token {
            Some(token) => match shared.breaker.admit(token).await {
                Admission::Go(permit) => permit,
                Admission::Refused => {
                    let result = Err(GatewayError::new(GatewayErrorKind::TokenRefused, call));
                    record_outcome(&span, &result);
                    return result;
                }
            },
            None => None,
        };
        let span_for_result = span.clone();
        async move {
            call.limiter_wait = shared.limiter.acquire().await;
            let started = tokio::time::Instant::now();
            let client = generated::Client::new_with_client(
                &shared.base_url,
                shared.http.clone(),
                CallHooks::new(authorization, traceparent, shared.limiter.clone()),
            );
            let outcome = send(&client).await;
            call.latency = started.elapsed();
            let observed = progenitor_client::ClientInfo::inner(&client).observed();
            call.http_status = observed.status;
            let result = match outcome {
                Err(kind) => Err(GatewayError::new(kind, call)),
                Ok(Ok(response)) => {
                    call.http_status = Some(response.status().as_u16());
                    let retry_after = parse_retry_after(response.headers().get(RETRY_AFTER));
                    Ok(GatewayResponse {
                        value: response.into_inner(),
                        call,
                        retry_after,
                    })
                }
                Ok(Err(error)) => {
                    let kind = classify(error, observed);
                    if let GatewayErrorKind::Status { status, .. } = &kind {
                        call.http_status = Some(*status);
                    }
                    Err(GatewayError::new(kind, call))
                }
            };
            record_outcome(&span_for_result, &result);
            let call = match &result {
                Ok(response) => &response.call,
                Err(error) => error.call(),
            };
            if let Some(token) = &admin_token {
                shared.breaker.record(token, call.http_status);
            }
            shared.metrics.observe_call(
                call.operation,
                call.http_status,
                call.latency,
                call.limiter_wait,
            );
            result
        }
        .instrument(span)
        .await
    }
}

fn record_outcome<T>(span: &tracing::Span, result: &GatewayResult<T>) {
    let (status, error) = match result {
        Ok(response) => (response.call.http_status, None),
        Err(error) => (error.call().http_status, Some(error.code().to_string())),
    };
    if let Some(status) = status {
        span.record("http.response.status_code", status);
    }
    if let Some(error) = error {
        let error_type = status.map(|s| s.to_string()).unwrap_or(error);
        span.record("error.type", error_type.as_str());
        span.record("otel.status_code", "ERROR");
    }
}

/// The `traceparent` to send and the trace id to record, from the span's OpenTelemetry context
/// (none when no OpenTelemetry layer is installed).
fn trace_context(span: &tracing::Span) -> (Option<HeaderValue>, Option<String>) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() {
        return (None, None);
    }
    struct Capture(Option<String>);
    impl Injector for Capture {
        fn set(&mut self, key: &str, value: String) {
            if key.eq_ignore_ascii_case("traceparent") {
                self.0 = Some(value);
            }
        }
    }
    let mut capture = Capture(None);
    TraceContextPropagator::new().inject_context(&context, &mut capture);
    let traceparent = capture.0.and_then(|v| HeaderValue::from_str(&v).ok());
    (traceparent, Some(span_context.trace_id().to_string()))
}

fn bearer_header(token: &SecretString) -> Option<HeaderValue> {
    let token = token.expose_secret().trim();
    if token.is_empty() {
        return None;
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn object_name(field: &str, value: &str) -> Result<types::ObjectName, GatewayErrorKind> {
    value
        .parse()
        .map_err(|e| GatewayErrorKind::InvalidRequest(format!("{field} {value:?}: {e}")))
}

/// Converts a domain value to its generated twin, applying the generated constraint checks.
fn to_generated<G: DeserializeOwned>(
    what: &str,
    value: &impl Serialize,
) -> Result<G, GatewayErrorKind> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| GatewayErrorKind::InvalidRequest(format!("{what}: {e}")))
}

fn from_generated<G: Serialize, D: DeserializeOwned>(value: &G) -> Result<D, GatewayErrorKind> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| GatewayErrorKind::MalformedResponse(e.to_string()))
}

/// The generated list types share this shape; so do the domain pages.
#[derive(serde::Deserialize)]
struct WirePage<T> {
    items: Vec<T>,
    #[serde(rename = "continue", default)]
    continue_: Option<String>,
}

fn convert_page<G: Serialize, D: DeserializeOwned>(
    response: GatewayResponse<G>,
) -> GatewayResult<Page<D>> {
    let page = from_generated::<G, WirePage<D>>(&response.value)
        .map_err(|kind| GatewayError::new(kind, response.call.clone()))?;
    Ok(GatewayResponse {
        value: Page {
            items: page.items,
            continue_token: page.continue_,
        },
        call: response.call,
        retry_after: response.retry_after,
    })
}

/// Maps a generated client error to a domain error. `observed` holds what the post hook saw on
/// the raw response, which the generated error may have lost.
fn classify(error: ProgenitorError<types::Error>, observed: Observed) -> GatewayErrorKind {
    let observed_retry_after = observed.retry_after;
    // An error status whose body is not the declared JSON: keep the status and Retry-After.
    let unparsable = |reason: String| match observed.status {
        Some(status) if status >= 400 => GatewayErrorKind::Status {
            status,
            code: "unparsable_error_body".into(),
            message: format!(
                "the gateway's error body could not be read as the declared JSON: {reason}"
            ),
            details: Vec::new(),
            retry_after: observed_retry_after,
        },
        _ => GatewayErrorKind::MalformedResponse(reason),
    };
    match error {
        ProgenitorError::ErrorResponse(response) => {
            let status = response.status().as_u16();
            let retry_after = parse_retry_after(response.headers().get(RETRY_AFTER))
                .or(observed_retry_after)
                .or(response
                    .retry_after_seconds
                    .and_then(|seconds| bounded_server_delay(seconds as f64)));
            let body = response.into_inner();
            GatewayErrorKind::Status {
                status,
                code: body.code,
                message: body.message,
                details: body
                    .details
                    .into_iter()
                    .map(|d| ErrorDetail {
                        field: d.field,
                        reason: d.reason,
                    })
                    .collect(),
                retry_after,
            }
        }
        ProgenitorError::ResponseBodyError(error) if !error.is_timeout() => {
            unparsable(with_causes(&error))
        }
        ProgenitorError::CommunicationError(error) | ProgenitorError::ResponseBodyError(error) => {
            if error.is_timeout() {
                GatewayErrorKind::Timeout
            } else if error.is_connect() {
                GatewayErrorKind::Connect(error.to_string())
            } else if error.is_body() || error.is_decode() {
                GatewayErrorKind::MalformedResponse(error.to_string())
            } else {
                GatewayErrorKind::Connect(error.to_string())
            }
        }
        ProgenitorError::InvalidResponsePayload(bytes, error) => {
            unparsable(format!("{error} ({} bytes)", bytes.len()))
        }
        ProgenitorError::UnexpectedResponse(response) => {
            let status = response.status().as_u16();
            GatewayErrorKind::Status {
                status,
                code: "unexpected_status".into(),
                message: format!("the contract does not declare status {status} here"),
                details: Vec::new(),
                retry_after: parse_retry_after(response.headers().get(RETRY_AFTER))
                    .or(observed_retry_after),
            }
        }
        ProgenitorError::InvalidRequest(message) => GatewayErrorKind::InvalidRequest(message),
        ProgenitorError::InvalidUpgrade(error) => GatewayErrorKind::Connect(error.to_string()),
        // Only the hooks raise these (a body over the size limit): keep an error status.
        ProgenitorError::Custom(message) => unparsable(message),
    }
}

/// An error with its causes: reqwest's own message for a body it could not read is only
/// "error decoding response body", the reason is in its sources.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut previous = text.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        // Wrapped reqwest errors repeat their outer message; say it once.
        let message = cause.to_string();
        if message != previous {
            text.push_str(": ");
            text.push_str(&message);
        }
        previous = message;
        source = cause.source();
    }
    text
}
