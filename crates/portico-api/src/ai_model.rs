//! The `AIModel` custom resource: an AI model served through the gateway, with its prompt
//! template, sampling parameters and limits.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::ValidationRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    ConnectionSecretRef, DeletionPolicy, LastOperation, Phase, SecretKeySelector, conditions_schema,
};

/// Desired state of an AI model exposed through the gateway.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "portico.dev",
    version = "v1alpha1",
    kind = "AIModel",
    plural = "aimodels",
    singular = "aimodel",
    namespaced,
    status = "AIModelStatus",
    shortname = "aim",
    category = "portico",
    doc = "An AI model provisioned through the Portico gateway. Portico writes its endpoint and an \
           issued API key into the connection Secret.",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider","description":"Upstream model provider."}"#,
    printcolumn = r#"{"name":"Model","type":"string","jsonPath":".spec.model","description":"Upstream model name."}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Lifecycle phase."}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the model is usable."}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AIModelSpec {
    /// Upstream provider the gateway routes requests to.
    pub provider: Provider,
    /// Provider's model name, e.g. `gpt-4o-mini` or `claude-sonnet-4` (for `azure-openai`, the
    /// model the deployment serves).
    #[schemars(length(min = 1, max = 253))]
    pub model: String,
    /// Where and how the gateway calls the provider. `baseURL` is required for `custom`,
    /// `ollama` and `azure-openai`, `azure` for `azure-openai` (and only there); `openai`,
    /// `anthropic` and `mistral` default to the provider's public API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
    /// Secret key holding the upstream provider's API key, handed to the gateway. Optional for
    /// providers that need none (e.g. `ollama`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_credentials: Option<SecretKeySelector>,
    /// Prompt template the gateway applies to every request to this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<PromptTemplate>,
    /// Sampling parameters applied by the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ModelParameters>,
    /// Rate limits the gateway enforces for this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ModelLimits>,
    /// Secret to write the connection details to (keys `endpoint`, `model`, `apiKey`). Defaults
    /// to `<name>-conn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<ConnectionSecretRef>,
    /// What happens to the gateway model when this resource is deleted.
    #[serde(default)]
    #[schemars(extend("default" = "Delete"))]
    pub deletion_policy: DeletionPolicy,
}

/// Upstream AI model provider.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Provider {
    /// OpenAI.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Mistral AI.
    #[serde(rename = "mistral")]
    Mistral,
    /// Google (Gemini). Not supported by the gateway: refused at admission.
    #[serde(rename = "google")]
    Google,
    /// Azure OpenAI Service (`upstream.baseURL` and `upstream.azure` required).
    #[serde(rename = "azure-openai")]
    AzureOpenAi,
    /// Amazon Bedrock. Not supported by the gateway: refused at admission.
    #[serde(rename = "bedrock")]
    Bedrock,
    /// A self-hosted Ollama server (`upstream.baseURL` required).
    #[serde(rename = "ollama")]
    Ollama,
    /// Any other OpenAI-compatible upstream, e.g. vLLM (`upstream.baseURL` required).
    #[serde(rename = "custom")]
    Custom,
}

impl Provider {
    /// The provider's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Mistral => "mistral",
            Provider::Google => "google",
            Provider::AzureOpenAi => "azure-openai",
            Provider::Bedrock => "bedrock",
            Provider::Ollama => "ollama",
            Provider::Custom => "custom",
        }
    }
}

/// Where and how the gateway calls the provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upstream {
    /// Base URL of the provider's API: `http` or `https`, a host name or IPv4 address, an
    /// optional port and path, no query or fragment; e.g. `https://my-resource.openai.azure.com`,
    /// `http://vllm.models.svc:8000/v1` or `http://ollama.models.svc:11434`. The gateway calls
    /// only upstreams its administrator allows.
    #[serde(rename = "baseURL", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), extend("x-kubernetes-validations" = [{
        "rule": BASE_URL_RULE,
        "message": BASE_URL_MESSAGE,
    }]))]
    pub base_url: Option<String>,
    /// The Azure OpenAI deployment to call; only for `azure-openai`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureUpstream>,
}

/// An Azure OpenAI deployment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureUpstream {
    /// Name of the deployment, as created in the Azure OpenAI resource.
    #[schemars(length(min = 1, max = 253))]
    pub deployment: String,
    /// The `api-version` the gateway sends, e.g. `2024-10-21`.
    #[schemars(length(min = 1, max = 64))]
    pub api_version: String,
}

/// The CEL rule on `upstream.baseURL`: an http or https URL without query or fragment.
pub const BASE_URL_RULE: &str =
    "self.matches('^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[^ ?#]*)?$')";
/// The message of [`BASE_URL_RULE`].
pub const BASE_URL_MESSAGE: &str = "baseURL must be an http or https URL with a host, an optional port and path, and no query or fragment";

/// Message of the rule refusing providers the gateway does not serve.
pub const UNSUPPORTED_PROVIDER_MESSAGE: &str = "providers google and bedrock are not supported by the gateway: use openai, anthropic, mistral, azure-openai, ollama or custom";
/// Message of the rule requiring a base URL for self-hosted providers.
pub const BASE_URL_REQUIRED_MESSAGE: &str =
    "providers custom and ollama require upstream.baseURL (where the gateway calls the model)";
/// Message of the rule requiring the Azure fields.
pub const AZURE_REQUIRED_MESSAGE: &str = "provider azure-openai requires upstream.baseURL (the resource's endpoint) and upstream.azure (deployment and apiVersion)";
/// Message of the rule keeping the Azure fields to Azure.
pub const AZURE_ONLY_MESSAGE: &str = "upstream.azure applies only to provider azure-openai";

/// The provider rules on `spec` (CEL, checked at admission as kube-apiserver does): which
/// upstream fields each provider needs, and the providers the gateway does not serve.
pub fn spec_rules() -> Vec<ValidationRule> {
    [
        (
            "!(self.provider in ['google', 'bedrock'])",
            UNSUPPORTED_PROVIDER_MESSAGE,
        ),
        (
            "!(self.provider in ['custom', 'ollama']) || (has(self.upstream) && has(self.upstream.baseURL))",
            BASE_URL_REQUIRED_MESSAGE,
        ),
        (
            "self.provider != 'azure-openai' || (has(self.upstream) && has(self.upstream.baseURL) && has(self.upstream.azure))",
            AZURE_REQUIRED_MESSAGE,
        ),
        (
            "self.provider == 'azure-openai' || !has(self.upstream) || !has(self.upstream.azure)",
            AZURE_ONLY_MESSAGE,
        ),
    ]
    .into_iter()
    .map(|(rule, message)| ValidationRule {
        rule: rule.into(),
        message: Some(message.into()),
        ..ValidationRule::default()
    })
    .collect()
}

/// A prompt template: an optional system prompt and a user template with `{{variable}}`
/// placeholders.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptTemplate {
    /// System prompt sent before every conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32768))]
    pub system: Option<String>,
    /// User prompt template; `{{name}}` placeholders are filled from the request's variables.
    #[schemars(length(min = 1, max = 32768))]
    pub template: String,
    /// Variables the template uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub variables: Vec<PromptVariable>,
}

/// A variable of a prompt template.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptVariable {
    /// Name used in `{{name}}` placeholders.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    )]
    pub name: String,
    /// What the variable means, for people writing requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Whether a request must supply this variable.
    #[serde(default)]
    pub required: bool,
}

/// Sampling parameters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelParameters {
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Maximum tokens generated per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 1_000_000))]
    pub max_tokens: Option<i64>,
    /// Nucleus sampling probability mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: Option<f64>,
}

/// Rate limits enforced by the gateway for this model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelLimits {
    /// Requests allowed per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 1_000_000))]
    pub requests_per_minute: Option<i64>,
    /// Tokens allowed per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 1_000_000_000))]
    pub tokens_per_minute: Option<i64>,
}

/// Observed state of an AI model.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AIModelStatus {
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Name of the model at the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// Chat-completions endpoint clients call (also in the connection Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `resourceVersion` of the provider-credentials Secret whose value the gateway last
    /// received. The gateway never returns the credential, so this is how a changed Secret is
    /// told from an unchanged one without sending it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_credentials_version: Option<String>,
    /// Identifier (not the value) of the API key issued for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The most recent gateway call, with its trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_operation: Option<LastOperation>,
    /// `Ready` and `Synced` conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}
