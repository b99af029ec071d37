//! Adapts `postgres::PostgresProvisioner` to the store's `Provisioner` (`--postgres-url`).
use std::sync::Arc;

use secrecy::SecretString;

use super::store::Provisioner;

/// Connects to the PostgreSQL server at `admin_url`.
pub(super) async fn connect(_admin_url: &SecretString) -> anyhow::Result<Arc<dyn Provisioner>> {
    anyhow::bail!("--postgres-url needs the PostgreSQL provisioner, which is not built in yet")
}
