//! The reference gateway's side of the contract: request and answer bodies as serde types, and
//! validation of every constraint `openapi/gateway.yaml` declares (a `422` names the field).
use std::sync::LazyLock;

use regex::Regex;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

/// One invalid field.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDetail {
    /// JSON path of the field.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// The contract's `Error` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// OpenAI's error object, on the data plane's answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OpenAiError>,
}

/// OpenAI's `error` object: what OpenAI's SDKs read from an error answer.
#[derive(Debug, Clone, Serialize)]
pub struct OpenAiError {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: &'static str,
}

/// Present optional fields must not be `null`: the contract declares none as nullable.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provider {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "mistral")]
    Mistral,
    #[serde(rename = "google")]
    Google,
    #[serde(rename = "azure-openai")]
    AzureOpenAi,
    #[serde(rename = "bedrock")]
    Bedrock,
    #[serde(rename = "ollama")]
    Ollama,
    #[serde(rename = "custom")]
    Custom,
}

/// `ModelSpec`. The credential is never serialized back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    pub provider: Provider,
    pub upstream_model: String,
    #[serde(default, deserialize_with = "present", skip_serializing)]
    pub provider_credential: Option<SecretString>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_template: Option<PromptTemplate>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters: Option<ModelParameters>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub limits: Option<ModelLimits>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub upstream: Option<Upstream>,
}

/// `Upstream`: where and how the provider is called.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upstream {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub azure_deployment: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub azure_api_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptTemplate {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub system: Option<String>,
    pub template: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub variables: Option<Vec<PromptVariable>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptVariable {
    pub name: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelParameters {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub temperature: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<i64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_p: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelLimits {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub requests_per_minute: Option<i64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tokens_per_minute: Option<i64>,
}

/// `Model`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub phase: &'static str,
    pub endpoint: String,
    pub client_model: String,
    pub spec: ModelSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub upstream_check: UpstreamCheck,
}

/// `UpstreamCheck`: the result of the last authenticated call to the upstream.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamCheck {
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
}

impl UpstreamCheck {
    pub fn unchecked() -> Self {
        UpstreamCheck {
            state: "Unchecked",
            reason: None,
            message: None,
            checked_at: None,
        }
    }

    pub fn passed(&self) -> bool {
        self.state == "Passed"
    }
}

/// `ApiKey`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub namespace: String,
    pub model: String,
    pub name: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Engine {
    PostgreSQL,
    MySQL,
}

impl Engine {
    pub fn default_port(self) -> u16 {
        match self {
            Engine::PostgreSQL => 5432,
            Engine::MySQL => 3306,
        }
    }
}

/// `DatabaseSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    pub engine: Engine,
    pub version: String,
    pub database_name: String,
    #[serde(rename = "storageGB")]
    pub storage_gb: i64,
    #[serde(default)]
    pub replicas: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DatabasePhase {
    Pending,
    Provisioning,
    Ready,
    Deleting,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseConnection {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseCredentials {
    pub username: String,
    pub password: String,
}

/// `Database`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub phase: DatabasePhase,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub spec: DatabaseSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<DatabaseConnection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<DatabaseCredentials>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `ModelList` and `DatabaseList`.
#[derive(Debug, Clone, Serialize)]
pub struct List<T> {
    pub items: Vec<T>,
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// `ChatCompletionRequest`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, deserialize_with = "present")]
    pub temperature: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub max_tokens: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub top_p: Option<f64>,
    /// Typed so that a value of the wrong type is a `422` naming it; the data plane reads the
    /// raw body.
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "present")]
    pub stream: Option<bool>,
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "present")]
    pub prompt_variables: Option<std::collections::HashMap<String, String>>,
}

static OBJECT_NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").ok());
static VERSION: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^[0-9]+(\.[0-9]+)*$").ok());
static VARIABLE_NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").ok());

/// Collects every constraint violation of one request.
#[derive(Debug, Default)]
pub struct Violations(pub Vec<ErrorDetail>);

impl Violations {
    fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ErrorDetail {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// Length in characters (code points), as JSON Schema counts.
    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let length = value.chars().count();
        if length < min || length > max {
            self.push(
                field,
                format!("must be {min} to {max} characters long, is {length}"),
            );
        }
    }

    fn pattern(&mut self, field: &str, value: &str, regex: &LazyLock<Option<Regex>>, text: &str) {
        if !regex.as_ref().is_some_and(|r| r.is_match(value)) {
            self.push(field, format!("must match {text}"));
        }
    }

    /// An object name (path parameter): a DNS label.
    pub fn object_name(&mut self, field: &str, value: &str) {
        let before = self.0.len();
        self.length(field, value, 1, 63);
        if self.0.len() == before {
            self.pattern(
                field,
                value,
                &OBJECT_NAME,
                "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            );
        }
    }

    fn number(&mut self, field: &str, value: Option<f64>, min: f64, max: f64) {
        if let Some(value) = value
            && !(value.is_finite() && (min..=max).contains(&value))
        {
            self.push(field, format!("must be between {min} and {max}"));
        }
    }

    fn integer(&mut self, field: &str, value: Option<i64>, min: i64, max: i64) {
        if let Some(value) = value
            && !(min..=max).contains(&value)
        {
            self.push(field, format!("must be between {min} and {max}"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ModelSpec {
    pub fn validate(&self, v: &mut Violations) {
        v.length("upstreamModel", &self.upstream_model, 1, 253);
        if let Some(credential) = &self.provider_credential {
            use secrecy::ExposeSecret;
            v.length("providerCredential", credential.expose_secret(), 1, 4096);
        }
        if let Some(template) = &self.prompt_template {
            if let Some(system) = &template.system {
                v.length("promptTemplate.system", system, 0, 32768);
            }
            v.length("promptTemplate.template", &template.template, 1, 32768);
            let variables = template.variables.as_deref().unwrap_or_default();
            if variables.len() > 64 {
                v.push("promptTemplate.variables", "must have at most 64 items");
            }
            for (i, variable) in variables.iter().enumerate() {
                let field = format!("promptTemplate.variables[{i}].name");
                let before = v.0.len();
                v.length(&field, &variable.name, 1, 63);
                if v.0.len() == before {
                    v.pattern(
                        &field,
                        &variable.name,
                        &VARIABLE_NAME,
                        "^[A-Za-z_][A-Za-z0-9_]*$",
                    );
                }
                if let Some(description) = &variable.description {
                    let field = format!("promptTemplate.variables[{i}].description");
                    v.length(&field, description, 0, 1024);
                }
            }
        }
        if let Some(parameters) = &self.parameters {
            v.number("parameters.temperature", parameters.temperature, 0.0, 2.0);
            v.integer("parameters.maxTokens", parameters.max_tokens, 1, 1_000_000);
            v.number("parameters.topP", parameters.top_p, 0.0, 1.0);
        }
        if let Some(upstream) = &self.upstream {
            if let Some(base_url) = &upstream.base_url {
                v.length("upstream.baseUrl", base_url, 1, 2048);
            }
            if let Some(deployment) = &upstream.azure_deployment {
                v.length("upstream.azureDeployment", deployment, 1, 253);
            }
            if let Some(version) = &upstream.azure_api_version {
                v.length("upstream.azureApiVersion", version, 1, 64);
            }
        }
        if let Some(limits) = &self.limits {
            v.integer(
                "limits.requestsPerMinute",
                limits.requests_per_minute,
                1,
                1_000_000,
            );
            v.integer(
                "limits.tokensPerMinute",
                limits.tokens_per_minute,
                1,
                1_000_000_000,
            );
        }
    }
}

impl DatabaseSpec {
    pub fn validate(&self, v: &mut Violations) {
        let before = v.0.len();
        v.length("version", &self.version, 1, 16);
        if v.0.len() == before {
            v.pattern("version", &self.version, &VERSION, r"^[0-9]+(\.[0-9]+)*$");
        }
        let before = v.0.len();
        v.length("databaseName", &self.database_name, 3, 63);
        if v.0.len() == before {
            v.pattern(
                "databaseName",
                &self.database_name,
                &OBJECT_NAME,
                "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            );
        }
        v.integer("storageGB", Some(self.storage_gb), 1, 1000);
        v.integer("replicas", Some(self.replicas), 0, 5);
    }
}

impl ChatCompletionRequest {
    pub fn validate(&self, v: &mut Violations) {
        v.length("model", &self.model, 1, 127);
        if self.messages.is_empty() || self.messages.len() > 256 {
            v.push("messages", "must have 1 to 256 items");
        }
        for (i, message) in self.messages.iter().enumerate() {
            v.length(
                &format!("messages[{i}].content"),
                &message.content,
                0,
                65536,
            );
        }
        v.number("temperature", self.temperature, 0.0, 2.0);
        v.integer("max_tokens", self.max_tokens, 1, 1_000_000);
        v.number("top_p", self.top_p, 0.0, 1.0);
    }
}
