//! Plain domain types of the gateway contract: what callers send and get back. They convert to
//! and from the generated types through their shared JSON form, so the generated code's
//! constraint checks apply before anything is sent.
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

fn expose_optional<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// Desired state of a model at the gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Upstream provider: `openai`, `anthropic`, `mistral`, `google`, `azure-openai`,
    /// `bedrock`, `ollama` or `custom`.
    pub provider: String,
    /// The provider's model name.
    pub upstream_model: String,
    /// The provider's API key; write-only (always `None` in answers).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_optional"
    )]
    pub provider_credential: Option<SecretString>,
    /// Prompt template applied to every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<PromptTemplate>,
    /// Sampling parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ModelParameters>,
    /// Rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ModelLimits>,
    /// Where and how the gateway calls the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

/// Where and how the gateway calls the provider (`baseUrl` required for `custom`, `ollama`
/// and `azure-openai`; the Azure fields for `azure-openai`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upstream {
    /// Base URL of the provider's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Azure OpenAI deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_deployment: Option<String>,
    /// Azure OpenAI `api-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_api_version: Option<String>,
}

/// The gateway's last authenticated call to a model's upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamCheck {
    /// `Passed`, `Failed` or `Unchecked`.
    pub state: String,
    /// Why it failed (`UpstreamUnauthorized`, `UpstreamUnreachable`, …).
    #[serde(default)]
    pub reason: Option<String>,
    /// What the upstream or the gateway said.
    #[serde(default)]
    pub message: Option<String>,
}

/// A system prompt and a user template (`{{input}}` stands for the user's message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptTemplate {
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// User prompt template.
    pub template: String,
    /// Declared variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<PromptVariable>,
}

/// A variable of a prompt template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptVariable {
    /// Name used in `{{name}}` placeholders.
    pub name: String,
    /// What it means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether requests must supply it.
    #[serde(default)]
    pub required: bool,
}

/// Sampling parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelParameters {
    /// Temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Maximum tokens per request, 1 to 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
}

/// Rate limits for a model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelLimits {
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<i64>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<i64>,
}

/// A model as the gateway holds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    /// Owning namespace.
    pub namespace: String,
    /// Name in the namespace.
    pub name: String,
    /// Increases when the spec changes.
    pub generation: i64,
    /// Lifecycle phase (`Ready`).
    pub phase: String,
    /// URL clients send chat completions to.
    pub endpoint: String,
    /// What clients put in a chat completion's `model` field.
    pub client_model: String,
    /// The stored spec (without the provider credential).
    pub spec: ModelSpec,
    /// Who manages it (`<cluster>/<namespace>/<name>/<uid>`), when a resource claimed it.
    #[serde(default)]
    pub owner: Option<String>,
    /// The gateway's last check of the upstream, when it made one.
    #[serde(default)]
    pub upstream_check: Option<UpstreamCheck>,
}

/// An API key issued for a model.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKey {
    /// Namespace of the model.
    pub namespace: String,
    /// The model the key is valid for.
    pub model: String,
    /// Name of the key.
    pub name: String,
    /// Identifier of the key, safe to record.
    pub id: String,
    /// The key itself: only in the answer that issued it.
    #[serde(default)]
    pub secret: Option<SecretString>,
}

/// Desired state of a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// `PostgreSQL` or `MySQL`; immutable.
    pub engine: String,
    /// Engine version, e.g. `16`.
    pub version: String,
    /// Database name on the server; immutable.
    pub database_name: String,
    /// Storage in GB, 1 to 1000.
    #[serde(rename = "storageGB")]
    pub storage_gb: i64,
    /// Read replicas, 0 to 5.
    #[serde(default)]
    pub replicas: i64,
}

/// Lifecycle phase of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatabasePhase {
    /// Accepted, not started.
    Pending,
    /// Being created.
    Provisioning,
    /// Usable.
    Ready,
    /// Being deprovisioned.
    Deleting,
    /// Provisioning failed (see the database's `message`).
    Failed,
}

/// Where clients connect to a database (never the password).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DatabaseConnection {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Database name on the server.
    pub database: String,
    /// Login role.
    pub username: String,
}

/// Login credentials of a database; the gateway shows them only when it issues them.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseCredentials {
    /// Login role.
    pub username: String,
    /// Its password.
    pub password: SecretString,
}

/// A database as the gateway holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct Database {
    /// Owning namespace.
    pub namespace: String,
    /// Name in the namespace.
    pub name: String,
    /// Increases when the spec changes.
    pub generation: i64,
    /// Lifecycle phase.
    pub phase: DatabasePhase,
    /// Why it failed, or what it waits for.
    #[serde(default)]
    pub message: Option<String>,
    /// The stored spec.
    pub spec: DatabaseSpec,
    /// Connection details, once known.
    #[serde(default)]
    pub connection: Option<DatabaseConnection>,
    /// Credentials: only in the answer that created the database.
    #[serde(default)]
    pub credentials: Option<DatabaseCredentials>,
    /// Who manages it (`<cluster>/<namespace>/<name>/<uid>`), when a resource claimed it.
    #[serde(default)]
    pub owner: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, ordered by name.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last one.
    pub continue_token: Option<String>,
}

/// The answer of a chat completion: the first choice's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAnswer {
    /// The completion's id.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// The assistant's message.
    pub content: String,
}

/// The gateway's counters (`GET /v1/admin/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStats {
    /// Calls by operation and status.
    pub requests: Vec<RequestCount>,
    /// Objects held.
    pub objects: ObjectCounts,
}

/// Calls of one operation answered with one status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RequestCount {
    /// operationId.
    pub operation: String,
    /// HTTP status.
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// Objects a gateway holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCounts {
    /// Models.
    pub models: u64,
    /// Unrevoked keys.
    pub model_keys: u64,
    /// Databases, including those being deleted.
    pub databases: u64,
}
