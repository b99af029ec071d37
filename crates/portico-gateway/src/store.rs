//! What the reference gateway holds: models, their keys (stored as digests), databases and their
//! lifecycle, and the provisioner that makes databases real.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::BoxFuture;
use rand::Rng;
use secrecy::SecretString;

use super::stats::ObjectCounts;
use super::wire::{DatabaseConnection, DatabasePhase, DatabaseSpec, ModelSpec, UpstreamCheck};

/// Makes databases real (`--postgres-url`); without one they are simulated.
pub(crate) trait Provisioner: Send + Sync {
    /// Creates (or updates) the database and its login role; answers host and port.
    fn provision<'a>(
        &'a self,
        database: &'a str,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(String, u16), String>>;
    /// Sets the role's password.
    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Drops the database and the role (idempotent).
    fn deprovision<'a>(
        &'a self,
        database: &'a str,
        username: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// SHA-256 of a secret: keys and the admin token are compared and stored only as digests.
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref());
    out
}

pub(crate) fn random_string(length: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// `(namespace, name)`.
pub(crate) type ObjectKey = (String, String);

pub(crate) struct ModelEntry {
    pub spec: ModelSpec,
    /// The spec's JSON without the credential, for change detection.
    pub spec_json: serde_json::Value,
    pub credential_digest: Option<[u8; 32]>,
    pub generation: i64,
    pub keys: BTreeMap<String, KeyEntry>,
    /// The resource that manages it (`<cluster>/<namespace>/<name>/<uid>`), once one claimed it.
    pub owner: Option<String>,
    /// The last upstream check.
    pub upstream_check: UpstreamCheck,
    /// Unix time (seconds) the model was created.
    pub created: i64,
}

pub(crate) struct KeyEntry {
    pub id: String,
    pub digest: [u8; 32],
}

/// Which model and key a key digest belongs to.
#[derive(Clone)]
pub(crate) struct KeyOwner {
    pub namespace: String,
    pub model: String,
    /// The key's name.
    pub key: String,
}

pub(crate) struct DatabaseEntry {
    pub spec: DatabaseSpec,
    pub generation: i64,
    pub phase: DatabasePhase,
    pub message: Option<String>,
    pub connection: Option<DatabaseConnection>,
    pub username: String,
    pub password: SecretString,
    /// Bumped by every new password, so provisioning can tell it used an outdated one.
    pub password_version: u64,
    /// Tells a recreated database from the one a background task was started for.
    pub incarnation: u64,
    /// Held while the provisioner works on this database, so provisioning, password changes
    /// and deprovisioning never overlap.
    pub work: Arc<tokio::sync::Mutex<()>>,
    /// The resource that manages it (`<cluster>/<namespace>/<name>/<uid>`), once one claimed it.
    pub owner: Option<String>,
}

#[derive(Default)]
pub(crate) struct Store {
    pub models: BTreeMap<ObjectKey, ModelEntry>,
    pub keys: HashMap<[u8; 32], KeyOwner>,
    pub databases: BTreeMap<ObjectKey, DatabaseEntry>,
    pub next_incarnation: u64,
}

impl Store {
    pub fn counts(&self) -> ObjectCounts {
        ObjectCounts {
            models: self.models.len() as u64,
            model_keys: self.keys.len() as u64,
            databases: self.databases.len() as u64,
        }
    }

    /// Removes a model and revokes its keys; whether it existed.
    pub fn remove_model(&mut self, key: &ObjectKey) -> bool {
        match self.models.remove(key) {
            Some(entry) => {
                for issued in entry.keys.values() {
                    self.keys.remove(&issued.digest);
                }
                true
            }
            None => false,
        }
    }
}

/// The login role of a database: `<namespace>_<name>` (`_` never occurs in either, so the
/// mapping is unambiguous), prefixed with `u_` where PostgreSQL reserves the name (`pg_…`), and
/// shortened with a digest suffix to PostgreSQL's 63-byte limit.
pub(crate) fn role_name(namespace: &str, name: &str) -> String {
    let prefix = if namespace == "pg" { "u_" } else { "" };
    let full = format!("{prefix}{namespace}_{name}");
    if full.len() <= 63 {
        return full;
    }
    let suffix: String = digest(&full)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}_{suffix}", &full[..54])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_fit_postgres() {
        assert_eq!(role_name("team-a", "orders"), "team-a_orders");
        assert_eq!(role_name("pg", "orders"), "u_pg_orders");
        let long = role_name(&"a".repeat(63), &"b".repeat(63));
        assert_eq!(long.len(), 63);
        assert_ne!(long, role_name(&"a".repeat(63), &"c".repeat(63)));
    }
}
