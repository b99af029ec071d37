//! Adapts `postgres::PostgresProvisioner` to the store's `Provisioner` (`--postgres-url`).
use std::sync::Arc;

use anyhow::Context as _;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use super::postgres::{self, PostgresProvisioner};
use super::store::Provisioner;

/// Connects to the PostgreSQL server at `admin_url`.
pub(super) async fn connect(admin_url: &SecretString) -> anyhow::Result<Arc<dyn Provisioner>> {
    let provisioner = postgres::connect(admin_url.expose_secret())
        .await
        .context("failed to connect to the PostgreSQL server of --postgres-url")?;
    Ok(Arc::new(provisioner))
}

impl Provisioner for PostgresProvisioner {
    fn provision<'a>(
        &'a self,
        database: &'a str,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(String, u16), String>> {
        async move {
            PostgresProvisioner::provision(self, database, username, password)
                .await
                .map(|endpoint| (endpoint.host, endpoint.port))
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move {
            PostgresProvisioner::set_password(self, username, password)
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn deprovision<'a>(
        &'a self,
        database: &'a str,
        username: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move {
            PostgresProvisioner::deprovision(self, database, username)
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }
}
