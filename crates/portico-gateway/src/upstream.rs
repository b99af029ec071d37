//! Calls to model providers: which upstreams the administrator allows (host names and networks,
//! checked on resolved addresses; link-local and cloud metadata addresses never), the HTTP client
//! that enforces it (no redirects, no proxies, bounded connect and read times), where and how each
//! provider is called, and the upstream check a model write makes.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;

use super::wire::{ModelSpec, Provider, UpstreamCheck};

/// Provider hosts allowed without any `--allow-upstream`.
pub const DEFAULT_ALLOWED_UPSTREAMS: [&str; 4] = [
    "api.openai.com",
    "api.mistral.ai",
    "api.anthropic.com",
    "*.openai.azure.com",
];

/// Host names that are cloud metadata services: never called.
const METADATA_HOSTS: [&str; 2] = ["metadata.google.internal", "metadata.goog"];

/// The `anthropic-version` header the gateway speaks.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Why an upstream may not or could not be called.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// The administrator does not allow it (or it is a forbidden address).
    NotAllowed(String),
    /// Its name does not resolve.
    Unreachable(String),
}

impl Refusal {
    pub(crate) fn message(&self) -> &str {
        match self {
            Refusal::NotAllowed(message) | Refusal::Unreachable(message) => message,
        }
    }
}

/// The upstreams the administrator allows.
#[derive(Debug, Clone, Default)]
pub(crate) struct EgressPolicy {
    names: Vec<String>,
    suffixes: Vec<String>,
    nets: Vec<IpNet>,
}

/// Link-local and metadata addresses: never called, whatever the allow-list says.
fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4 == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4));
            }
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || v6.is_unspecified()
        }
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl EgressPolicy {
    /// A policy allowing the default provider hosts plus `entries` (`HOST`, `*.SUFFIX`, an IP
    /// address or a CIDR network).
    pub(crate) fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut policy = EgressPolicy::default();
        for entry in DEFAULT_ALLOWED_UPSTREAMS.into_iter().chain(entries) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            if let Ok(net) = entry.parse::<IpNet>() {
                policy.nets.push(net);
            } else if let Ok(ip) = normalise_host(entry).parse::<IpAddr>() {
                policy.nets.push(IpNet::from(ip));
            } else if let Some(suffix) = entry.strip_prefix("*.") {
                policy.suffixes.push(format!(".{}", normalise_host(suffix)));
            } else if entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                policy.names.push(normalise_host(entry));
            } else {
                return Err(format!(
                    "allowed upstream {entry:?} is neither a host name, *.suffix, an IP address nor a CIDR network"
                ));
            }
        }
        Ok(policy)
    }

    /// Adds the host of `url` (a development override the administrator configured).
    pub(crate) fn allow_url_host(&mut self, url: &str) {
        if let Ok(url) = Url::parse(url)
            && let Some(host) = url.host_str()
        {
            let host = normalise_host(host);
            match host.parse::<IpAddr>() {
                Ok(ip) => self.nets.push(IpNet::from(ip)),
                Err(_) => self.names.push(host),
            }
        }
    }

    fn name_allowed(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.names.contains(&host) || self.suffixes.iter().any(|s| host.ends_with(s))
    }

    fn address_allowed(&self, ip: IpAddr, name_allowed: bool) -> bool {
        !forbidden(ip) && (name_allowed || self.nets.iter().any(|net| net.contains(&ip)))
    }

    /// The addresses of `host` that may be called.
    async fn allowed_addresses(&self, host: &str) -> Result<Vec<SocketAddr>, Refusal> {
        let host = normalise_host(host);
        if METADATA_HOSTS.contains(&host.as_str()) {
            return Err(Refusal::NotAllowed(format!(
                "{host} is a cloud metadata service, which the gateway never calls"
            )));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return if self.address_allowed(ip, false) {
                Ok(vec![SocketAddr::new(ip, 0)])
            } else {
                Err(Refusal::NotAllowed(format!(
                    "upstream address {ip} is not allowed by this gateway (--allow-upstream)"
                )))
            };
        }
        let name_allowed = self.name_allowed(&host);
        if !name_allowed && self.nets.is_empty() {
            return Err(Refusal::NotAllowed(format!(
                "upstream host {host} is not allowed by this gateway (--allow-upstream)"
            )));
        }
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|error| Refusal::Unreachable(format!("cannot resolve {host}: {error}")))?
            .collect();
        let allowed: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|addr| self.address_allowed(addr.ip(), name_allowed))
            .collect();
        if allowed.is_empty() {
            return Err(Refusal::NotAllowed(format!(
                "upstream host {host} resolves to no address this gateway allows (--allow-upstream; link-local and metadata addresses never)"
            )));
        }
        Ok(allowed)
    }

    /// Whether `url` may be called: scheme http(s), and a host (or every address it resolves to
    /// that would be used) the policy allows. The client's resolver checks again at connect time.
    pub(crate) async fn admit(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::NotAllowed(format!(
                "upstream scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Refusal::NotAllowed("the upstream URL has no host".into()))?;
        self.allowed_addresses(host).await.map(|_| ())
    }
}

/// Resolves names to the addresses the policy allows only, so a name that later resolves to a
/// forbidden address (DNS rebinding) is not called either.
struct GuardedResolver(Arc<EgressPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy.allowed_addresses(&host).await.map_err(
                |refusal| -> Box<dyn std::error::Error + Send + Sync> {
                    refusal.message().to_string().into()
                },
            )?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client every upstream call goes through: the policy's resolver, no redirects, no proxy.
pub(crate) fn http_client(
    policy: Arc<EgressPolicy>,
    read_timeout: Duration,
) -> Result<reqwest::Client, String> {
    portico_telemetry::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver(policy)))
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(read_timeout)
        .build()
        .map_err(|error| format!("cannot build the upstream HTTP client: {error}"))
}

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireFormat {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// Where and how a model's provider is called.
#[derive(Clone)]
pub(crate) struct Target {
    pub wire: WireFormat,
    pub provider: Provider,
    /// The chat endpoint.
    pub chat: Url,
    /// The endpoint of the upstream check.
    pub check: Url,
    /// Whether the check is a (one-token) chat call rather than a GET.
    pub check_is_chat: bool,
    /// Authentication headers (marked sensitive, never logged).
    pub auth: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("wire", &self.wire)
            .field("chat", &self.chat.as_str())
            .finish_non_exhaustive()
    }
}

/// The `gen_ai.system` value of a provider (OpenTelemetry GenAI conventions).
pub(crate) fn gen_ai_system(provider: Provider) -> &'static str {
    match provider {
        Provider::OpenAi | Provider::Ollama | Provider::Custom => "openai",
        Provider::Anthropic => "anthropic",
        Provider::Mistral => "mistral_ai",
        Provider::AzureOpenAi => "az.ai.openai",
        Provider::Google => "gcp.gemini",
        Provider::Bedrock => "aws.bedrock",
    }
}

/// The provider's name in the contract.
pub(crate) fn provider_name(provider: Provider) -> &'static str {
    match provider {
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

fn parse_base(field: &str, base: &str) -> Result<Url, (String, String)> {
    let url = Url::parse(base.trim_end_matches('/'))
        .map_err(|error| (field.to_string(), format!("is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err((
            field.to_string(),
            "must be an http or https URL with a host".to_string(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err((
            field.to_string(),
            "must not carry credentials (use providerCredential)".to_string(),
        ));
    }
    Ok(url)
}

fn join(base: &Url, path: &str) -> Result<Url, (String, String)> {
    let text = format!("{}{}", base.as_str().trim_end_matches('/'), path);
    Url::parse(&text).map_err(|error| ("upstream.baseUrl".to_string(), error.to_string()))
}

fn sensitive(value: &str) -> Result<HeaderValue, (String, String)> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        (
            "providerCredential".to_string(),
            "must be printable ASCII (it is sent in an HTTP header)".to_string(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Where and how `spec`'s provider is called; `Err((field, reason))` when the spec cannot be
/// served (a `422` at PUT). `overrides` are the development base URLs by provider name.
pub(crate) fn target(
    spec: &ModelSpec,
    overrides: &HashMap<String, String>,
) -> Result<Target, (String, String)> {
    let upstream = spec.upstream.clone().unwrap_or_default();
    let name = provider_name(spec.provider);
    let configured = upstream
        .base_url
        .clone()
        .or_else(|| overrides.get(name).cloned());
    let default_base = match spec.provider {
        Provider::OpenAi => Some("https://api.openai.com/v1"),
        Provider::Mistral => Some("https://api.mistral.ai/v1"),
        Provider::Anthropic => Some("https://api.anthropic.com"),
        Provider::AzureOpenAi | Provider::Ollama | Provider::Custom => None,
        Provider::Google | Provider::Bedrock => {
            return Err((
                "provider".into(),
                format!("provider {name} is not supported by this gateway"),
            ));
        }
    };
    let base = match configured.as_deref().or(default_base) {
        Some(base) => parse_base("upstream.baseUrl", base)?,
        None => {
            return Err((
                "upstream.baseUrl".into(),
                format!("is required for provider {name}"),
            ));
        }
    };
    let credential = spec
        .provider_credential
        .as_ref()
        .map(|c| c.expose_secret().to_string());
    let mut auth = Vec::new();
    let target = match spec.provider {
        Provider::AzureOpenAi => {
            let mut missing = None;
            let deployment = upstream.azure_deployment.clone().unwrap_or_else(|| {
                missing = Some("upstream.azureDeployment");
                String::new()
            });
            let version = upstream.azure_api_version.clone().unwrap_or_else(|| {
                missing = missing.or(Some("upstream.azureApiVersion"));
                String::new()
            });
            if let Some(field) = missing {
                return Err((field.into(), "is required for provider azure-openai".into()));
            }
            if let Some(credential) = &credential {
                auth.push((HeaderName::from_static("api-key"), sensitive(credential)?));
            }
            let deployment = percent_segment(&deployment);
            let mut chat = join(
                &base,
                &format!("/openai/deployments/{deployment}/chat/completions"),
            )?;
            chat.query_pairs_mut().append_pair("api-version", &version);
            Target {
                wire: WireFormat::OpenAi,
                provider: spec.provider,
                check: chat.clone(),
                check_is_chat: true,
                chat,
                auth,
            }
        }
        Provider::Anthropic => {
            if let Some(credential) = &credential {
                auth.push((HeaderName::from_static("x-api-key"), sensitive(credential)?));
            }
            auth.push((
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(ANTHROPIC_VERSION),
            ));
            Target {
                wire: WireFormat::Anthropic,
                provider: spec.provider,
                chat: join(&base, "/v1/messages")?,
                check: join(&base, "/v1/models")?,
                check_is_chat: false,
                auth,
            }
        }
        _ => {
            if let Some(credential) = &credential {
                auth.push((
                    reqwest::header::AUTHORIZATION,
                    sensitive(&format!("Bearer {credential}"))?,
                ));
            }
            Target {
                wire: WireFormat::OpenAi,
                provider: spec.provider,
                chat: join(&base, "/chat/completions")?,
                check: join(&base, "/models")?,
                check_is_chat: false,
                auth,
            }
        }
    };
    Ok(target)
}

fn percent_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

fn failed(reason: &'static str, message: impl Into<String>) -> UpstreamCheck {
    let mut message: String = message.into();
    message.truncate(1000);
    UpstreamCheck {
        state: "Failed",
        reason: Some(reason),
        message: Some(message),
        checked_at: Some(now_rfc3339()),
    }
}

/// One cheap authenticated call to the upstream (GET of the model list; for Azure a one-token
/// completion on the deployment), bounded by `timeout`. The answer's body is never reported
/// (it may quote the credential); only its status.
pub(crate) async fn check(
    client: &reqwest::Client,
    policy: &EgressPolicy,
    target: &Target,
    upstream_model: &str,
    timeout: Duration,
) -> UpstreamCheck {
    if let Err(refusal) = policy.admit(&target.check).await {
        return match refusal {
            Refusal::NotAllowed(message) => failed("UpstreamNotAllowed", message),
            Refusal::Unreachable(message) => failed("UpstreamUnreachable", message),
        };
    }
    let mut request = if target.check_is_chat {
        client.post(target.check.clone()).json(&serde_json::json!({
            "model": upstream_model,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        }))
    } else {
        client.get(target.check.clone())
    };
    for (name, value) in &target.auth {
        request = request.header(name.clone(), value.clone());
    }
    let host = target.check.host_str().unwrap_or_default().to_string();
    match request.timeout(timeout).send().await {
        Ok(response) => {
            let status = response.status();
            match status.as_u16() {
                200..=299 => UpstreamCheck {
                    state: "Passed",
                    reason: None,
                    message: Some(format!("{host} answered {status}")),
                    checked_at: Some(now_rfc3339()),
                },
                401 | 403 => failed(
                    "UpstreamUnauthorized",
                    format!("{host} refused the provider credential ({status})"),
                ),
                300..=499 => failed("UpstreamRejected", format!("{host} answered {status}")),
                _ => failed("UpstreamError", format!("{host} answered {status}")),
            }
        }
        Err(error) if error.is_timeout() => failed(
            "UpstreamUnreachable",
            format!("{host} did not answer within {}s", timeout.as_secs_f64()),
        ),
        Err(error) => failed(
            "UpstreamUnreachable",
            format!("cannot reach {host}: {}", error_chain(error)),
        ),
    }
}

/// An error with its causes, without the URL (it may carry a query the caller should not see).
pub(crate) fn error_chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_addresses_are_forbidden() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.1.1",
        ] {
            assert!(forbidden(ip.parse().expect("ip")), "{ip}");
        }
        assert!(!forbidden("10.0.0.1".parse().expect("ip")));
        let policy = EgressPolicy::new(["169.254.0.0/16", "10.0.0.0/8"]).expect("policy");
        assert!(!policy.address_allowed("169.254.169.254".parse().expect("ip"), true));
        assert!(policy.address_allowed("10.1.2.3".parse().expect("ip"), false));
        assert!(!policy.address_allowed("192.168.1.1".parse().expect("ip"), false));
        assert!(policy.name_allowed("my-res.openai.azure.com"));
        assert!(!policy.name_allowed("openai.azure.com.evil.example"));
    }
}
