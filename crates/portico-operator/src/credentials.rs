//! Every Secret read of the operator: provider keys (with the version of the Secret they came
//! from), connection Secrets as they are now, and the gateway admin token kept current by a
//! watch. Values exist only as `SecretString`. (Writing connection Secrets is
//! `controller::connection_secret`'s.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher;
use kube::{Api, Client};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

/// Key of the gateway token inside `--gateway-token-secret`.
pub const GATEWAY_TOKEN_KEY: &str = "token";

/// Why a credential could not be read. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The referenced Secret does not exist.
    #[error("secret {namespace}/{name} not found")]
    SecretNotFound {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
    },
    /// The Secret exists but lacks the key, or the value is empty or not UTF-8.
    #[error("secret {namespace}/{name} has no usable key {key:?}")]
    KeyMissing {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// The missing key.
        key: String,
    },
    /// The Kubernetes API could not be asked.
    #[error("failed to read secret {namespace}/{name}: {source}")]
    Kube {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// What the API said.
        #[source]
        source: kube::Error,
    },
}

/// Reads one key of a Secret as a `SecretString`, with the Secret's `resourceVersion` (which
/// tells later whether the value may have changed).
pub async fn read_key(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<(SecretString, Option<String>), CredentialsError> {
    let secret = read_secret(client, namespace, name)
        .await
        .map_err(|source| CredentialsError::Kube {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })?
        .ok_or_else(|| CredentialsError::SecretNotFound {
            namespace: namespace.into(),
            name: name.into(),
        })?;
    let value = secret_value(&secret, key).ok_or_else(|| CredentialsError::KeyMissing {
        namespace: namespace.into(),
        name: name.into(),
        key: key.into(),
    })?;
    Ok((value, secret.metadata.resource_version.clone()))
}

/// A Secret as it is now, if it exists (a connection Secret before it is compared and written).
pub async fn read_secret(
    client: &Client,
    namespace: &str,
    name: &str,
) -> kube::Result<Option<Secret>> {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
}

/// The value of `key` in a Secret's `data` (or `stringData`, which a server may not have merged
/// yet), when present, non-empty and UTF-8.
pub fn secret_value(secret: &Secret, key: &str) -> Option<SecretString> {
    let from_data = secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok());
    let value = from_data.or_else(|| {
        secret
            .string_data
            .as_ref()
            .and_then(|data| data.get(key).cloned())
    })?;
    let trimmed = value.trim_end_matches(['\n', '\r']);
    (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned()))
}

/// `NAMESPACE/NAME` of a Secret given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub name: String,
}

impl std::str::FromStr for SecretRef {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.split_once('/') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => Ok(Self {
                namespace: namespace.into(),
                name: name.into(),
            }),
            _ => Err(format!("expected NAMESPACE/NAME, got {value:?}")),
        }
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The gateway admin token, kept current from its Secret.
///
/// `receiver()` always holds the latest token (`None` while the Secret or its key is missing);
/// `version()` increases on every change, so reconcilers can tell that a terminal
/// `Unauthorized` may now succeed.
#[derive(Clone)]
pub struct GatewayToken {
    receiver: watch::Receiver<Option<SecretString>>,
    version: Arc<AtomicU64>,
    // The watch runs as long as any handle exists (the operator's context holds one).
    _watch: Option<Arc<AbortOnDrop>>,
}

/// Stops the token watch when the last `GatewayToken` handle goes.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl GatewayToken {
    /// A token that never changes (tests, or a token given directly).
    pub fn fixed(token: Option<SecretString>) -> Self {
        let (_sender, receiver) = watch::channel(token);
        Self {
            receiver,
            version: Arc::new(AtomicU64::new(0)),
            _watch: None,
        }
    }

    /// Watches the Secret and keeps the token current while any handle exists. Returns once
    /// the watch is started; the first value arrives as soon as the Secret is listed.
    pub fn watch(client: Client, secret: SecretRef) -> Self {
        let (sender, receiver) = watch::channel(None);
        let version = Arc::new(AtomicU64::new(0));
        let task_version = version.clone();
        let api: Api<Secret> = Api::namespaced(client, &secret.namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={}", secret.name));
        let task = tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, config));
            while let Some(event) = events.next().await {
                let token = match event {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        secret_value(&s, GATEWAY_TOKEN_KEY)
                    }
                    Ok(watcher::Event::Delete(_)) => None,
                    Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
                    Err(error) => {
                        tracing::warn!(%error, secret = %secret, "gateway token watch failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let changed = sender.send_if_modified(|current: &mut Option<SecretString>| {
                    let differs = match (&*current, &token) {
                        (Some(a), Some(b)) => a.expose_secret() != b.expose_secret(),
                        (None, None) => false,
                        _ => true,
                    };
                    if differs {
                        *current = token.clone();
                    }
                    differs
                });
                if changed {
                    task_version.fetch_add(1, Ordering::SeqCst);
                    tracing::info!(secret = %secret, present = token.is_some(), "gateway token changed");
                }
            }
        });
        Self {
            receiver,
            version,
            _watch: Some(Arc::new(AbortOnDrop(task.abort_handle()))),
        }
    }

    /// The channel holding the current token.
    pub fn receiver(&self) -> watch::Receiver<Option<SecretString>> {
        self.receiver.clone()
    }

    /// Increases on every token change.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn secret_value_prefers_data_and_trims_newlines() {
        let secret = Secret {
            data: Some([("token".to_string(), ByteString(b"abc\n".to_vec()))].into()),
            ..Secret::default()
        };
        let value = secret_value(&secret, "token").expect("present");
        assert_eq!(value.expose_secret(), "abc");
        assert!(secret_value(&secret, "other").is_none());
    }

    #[test]
    fn empty_value_counts_as_missing() {
        let secret = Secret {
            data: Some([("token".to_string(), ByteString(Vec::new()))].into()),
            ..Secret::default()
        };
        assert!(secret_value(&secret, "token").is_none());
    }

    #[test]
    fn secret_ref_parses_namespace_and_name() {
        let parsed: SecretRef = "portico-system/gateway-admin".parse().expect("valid");
        assert_eq!(parsed.namespace, "portico-system");
        assert_eq!(parsed.name, "gateway-admin");
        assert!("no-slash".parse::<SecretRef>().is_err());
        assert!("/name".parse::<SecretRef>().is_err());
    }
}
