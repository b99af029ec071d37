//! Writing the connection Secret a custom resource's users read (endpoint and credentials):
//! owned by the resource so garbage collection removes it, and written only when its contents
//! differ. Reading it is `credentials`'.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use secrecy::{ExposeSecret, SecretString};

/// Field manager Portico writes with.
pub const FIELD_MANAGER: &str = "portico";
/// Label on every connection Secret Portico writes.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "portico");

/// The desired contents of a connection Secret.
pub struct ConnectionSecret {
    /// Namespace (the owner's).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The owning custom resource.
    pub owner: OwnerReference,
    /// Keys and values; every value is treated as secret.
    pub entries: BTreeMap<String, SecretString>,
}

/// Writes the Secret unless `existing` already holds exactly these entries, the managed-by label
/// and the owner reference. Returns whether it wrote.
pub async fn ensure(
    client: &Client,
    desired: &ConnectionSecret,
    existing: Option<&Secret>,
) -> kube::Result<bool> {
    if existing.is_some_and(|secret| matches(secret, desired)) {
        return Ok(false);
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(desired.name.clone()),
            namespace: Some(desired.namespace.clone()),
            labels: Some(
                [(
                    MANAGED_BY_LABEL.0.to_string(),
                    MANAGED_BY_LABEL.1.to_string(),
                )]
                .into(),
            ),
            owner_references: Some(vec![desired.owner.clone()]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(
            desired
                .entries
                .iter()
                .map(|(key, value)| {
                    (
                        key.clone(),
                        ByteString(value.expose_secret().as_bytes().to_vec()),
                    )
                })
                .collect(),
        ),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), &desired.namespace)
        .patch(
            &desired.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
    Ok(true)
}

fn matches(existing: &Secret, desired: &ConnectionSecret) -> bool {
    let labelled = existing
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(MANAGED_BY_LABEL.0))
        .is_some_and(|value| value == MANAGED_BY_LABEL.1);
    let owned = existing
        .metadata
        .owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.uid == desired.owner.uid));
    let empty = BTreeMap::new();
    let data = existing.data.as_ref().unwrap_or(&empty);
    let same_data = data.len() == desired.entries.len()
        && desired.entries.iter().all(|(key, value)| {
            data.get(key)
                .is_some_and(|bytes| bytes.0 == value.expose_secret().as_bytes())
        });
    labelled && owned && same_data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> ConnectionSecret {
        ConnectionSecret {
            namespace: "ns".into(),
            name: "m-conn".into(),
            owner: OwnerReference {
                api_version: "portico.dev/v1alpha1".into(),
                kind: "AIModel".into(),
                name: "m".into(),
                uid: "uid-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
            entries: [
                ("endpoint".to_string(), SecretString::from("http://gw")),
                ("apiKey".to_string(), SecretString::from("k-1")),
            ]
            .into(),
        }
    }

    fn existing(api_key: &str, owner_uid: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                labels: Some([("app.kubernetes.io/managed-by".into(), "portico".into())].into()),
                owner_references: Some(vec![OwnerReference {
                    uid: owner_uid.into(),
                    ..desired().owner
                }]),
                ..ObjectMeta::default()
            },
            data: Some(
                [
                    ("endpoint".to_string(), ByteString(b"http://gw".to_vec())),
                    (
                        "apiKey".to_string(),
                        ByteString(api_key.as_bytes().to_vec()),
                    ),
                ]
                .into(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn identical_secret_needs_no_write() {
        assert!(matches(&existing("k-1", "uid-1"), &desired()));
    }

    #[test]
    fn changed_value_or_foreign_owner_needs_a_write() {
        assert!(!matches(&existing("k-2", "uid-1"), &desired()));
        assert!(!matches(&existing("k-1", "uid-other"), &desired()));
    }
}
