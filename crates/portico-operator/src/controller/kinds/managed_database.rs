//! ManagedDatabase reconcile steps: upsert the gateway database (only when the spec or the
//! gateway copy changed) → store credentials the moment the gateway issues them → follow
//! provisioning, honouring `Retry-After` → write the connection Secret when Ready → status.
//! Cleanup asks for deletion and follows it until the gateway reports the database gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};

use super::{HasStatus, connection_secret_name, owner_reference, record_failure_for};
use crate::controller::connection_secret::{self, ConnectionSecret};
use crate::controller::status::{self, is_ready};
use crate::controller::{Context, Kind, ReconcileError, Scope, external_name, publish};
use portico_api::{CONDITION_READY, DeletionPolicy, Engine, ManagedDatabase, Phase};
use portico_gateway_client::{self as gateway, CallRecord, DatabasePhase, ErrorClass};

/// How soon to look again at a database the gateway is still working on, when it gave no
/// `Retry-After`.
const DEFAULT_PROGRESS_WAIT: Duration = Duration::from_secs(2);

impl Kind for ManagedDatabase {
    const KIND: &'static str = "ManagedDatabase";

    fn phase(&self) -> Option<Phase> {
        self.status.as_ref().and_then(|status| status.phase)
    }

    fn secret_version_sent(&self, _name: &str) -> Option<&str> {
        None
    }

    fn in_sync(&self) -> bool {
        status::in_sync(self.status.as_ref(), self.metadata.generation)
    }

    fn referenced_secrets(&self) -> Vec<&str> {
        Vec::new()
    }

    async fn apply(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> Result<Action, ReconcileError> {
        let ns = scope.namespace.as_str();
        let current = obj.status_ref();
        let mut status = current.cloned().unwrap_or_default();
        let external = external_name(&*obj);
        let desired = gateway::DatabaseSpec {
            engine: obj.spec.engine.as_str().to_owned(),
            version: obj.spec.version.clone(),
            database_name: obj.spec.database_name.clone(),
            storage_gb: obj.spec.storage_gb,
            replicas: obj.spec.replicas,
        };

        let must_upsert = status.observed_generation != Some(scope.generation)
            || status.external_name.as_deref() != Some(external.as_str());
        let observed = if must_upsert {
            None
        } else {
            match ctx.gateway.get_database(ns, &external).await {
                Ok(found) if found.value.spec == desired => Some((found.value, found.retry_after)),
                Ok(_) => {
                    tracing::info!(database = %external, "gateway database drifted from the spec; updating");
                    None
                }
                Err(error) if error.class() == ErrorClass::NotFound => {
                    tracing::info!(database = %external, "gateway database is gone; recreating");
                    None
                }
                Err(error) => return Err(error.into()),
            }
        };
        let mut last_write: Option<CallRecord> = None;
        let (database, retry_after) = match observed {
            Some(found) => found,
            None => {
                let response = ctx.gateway.upsert_database(ns, &external, &desired).await?;
                status::record_call(&mut status, &response.call);
                last_write = Some(response.call);
                (response.value, response.retry_after)
            }
        };

        let secret_name =
            connection_secret_name(&*obj, obj.spec.write_connection_secret_to_ref.as_ref());
        let mut existing = connection_secret::fetch(&ctx.client, ns, &secret_name)
            .await
            .map_err(ReconcileError::ConnectionSecret)?;
        let owner = owner_reference(&*obj)?;
        let mut credentials = database
            .credentials
            .as_ref()
            .map(|issued| (issued.username.clone(), issued.password.clone()));
        if let Some((username, password)) = &credentials {
            // The gateway shows a password once: store it before anything else can fail.
            let partial = ConnectionSecret {
                namespace: ns.to_owned(),
                name: secret_name.clone(),
                owner: owner.clone(),
                entries: [
                    ("database".to_string(), plain(&database.spec.database_name)),
                    ("username".to_string(), plain(username)),
                    ("password".to_string(), password.clone()),
                ]
                .into(),
            };
            let wrote = connection_secret::ensure(&ctx.client, &partial, existing.as_ref())
                .await
                .map_err(ReconcileError::ConnectionSecret)?;
            if wrote {
                // What the full write below compares against.
                existing = connection_secret::fetch(&ctx.client, ns, &secret_name)
                    .await
                    .map_err(ReconcileError::ConnectionSecret)?;
            }
        }
        let was_ready = current.is_some_and(is_ready);
        status.observed_generation = Some(scope.generation);
        status.external_name = Some(external.clone());

        match database.phase {
            DatabasePhase::Pending | DatabasePhase::Provisioning | DatabasePhase::Deleting => {
                let wait = retry_after.unwrap_or(DEFAULT_PROGRESS_WAIT);
                status.phase = Some(if was_ready {
                    Phase::Updating
                } else {
                    Phase::Provisioning
                });
                status::set_synced(&mut status, last_write.as_ref(), scope.generation);
                if !was_ready {
                    let message = database
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("the gateway is provisioning {ns}/{external}"));
                    status::set(
                        &mut status,
                        CONDITION_READY,
                        false,
                        "Provisioning",
                        &message,
                        scope.generation,
                    );
                }
                write_status(&ctx, scope, current, &status).await?;
                let wait = ctx.gates.record_progress(
                    scope.key.clone(),
                    scope.inputs,
                    wait,
                    Instant::now(),
                );
                Ok(Action::requeue(wait))
            }
            DatabasePhase::Failed => Err(ReconcileError::ExternalFailed(
                database
                    .message
                    .clone()
                    .unwrap_or_else(|| "no reason given".into()),
            )),
            DatabasePhase::Ready => {
                let Some(connection) = database.connection.clone() else {
                    return Err(ReconcileError::ExternalFailed(
                        "the gateway reports the database Ready without connection details".into(),
                    ));
                };
                if credentials.is_none() {
                    let stored = existing
                        .as_ref()
                        .and_then(|secret| connection_secret::existing_value(secret, "password"));
                    credentials = match stored {
                        Some(password) => Some((connection.username.clone(), password)),
                        None => {
                            // The password was lost with the connection Secret: issue a new one.
                            let response = ctx
                                .gateway
                                .rotate_database_credentials(ns, &external)
                                .await?;
                            status::record_call(&mut status, &response.call);
                            last_write = Some(response.call);
                            Some((response.value.username, response.value.password))
                        }
                    };
                }
                let (username, password) = credentials.unwrap_or_else(|| {
                    (
                        connection.username.clone(),
                        SecretString::from(String::new()),
                    )
                });
                let uri = connection_uri(obj.spec.engine, &username, &password, &connection);
                let full = ConnectionSecret {
                    namespace: ns.to_owned(),
                    name: secret_name,
                    owner,
                    entries: [
                        ("host".to_string(), plain(&connection.host)),
                        ("port".to_string(), plain(&connection.port.to_string())),
                        ("database".to_string(), plain(&connection.database)),
                        ("username".to_string(), plain(&username)),
                        ("password".to_string(), password),
                        ("uri".to_string(), uri),
                    ]
                    .into(),
                };
                connection_secret::ensure(&ctx.client, &full, existing.as_ref())
                    .await
                    .map_err(ReconcileError::ConnectionSecret)?;
                status.phase = Some(Phase::Ready);
                status.host = Some(connection.host.clone());
                status.port = Some(i32::from(connection.port));
                status.database = Some(connection.database.clone());
                status.username = Some(username);
                status::set_synced(&mut status, last_write.as_ref(), scope.generation);
                status::set(
                    &mut status,
                    CONDITION_READY,
                    true,
                    "Available",
                    &format!(
                        "database {} is available at {}:{}",
                        connection.database, connection.host, connection.port
                    ),
                    scope.generation,
                );
                write_status(&ctx, scope, current, &status).await?;
                if !was_ready {
                    ctx.observe_ready(&*obj);
                    let note = status
                        .last_operation
                        .as_ref()
                        .map(|op| {
                            format!(
                                "{} {} -> ready (trace {})",
                                op.method,
                                op.path,
                                op.trace_id.as_deref().unwrap_or("none")
                            )
                        })
                        .unwrap_or_else(|| "database is ready".into());
                    publish(&ctx, &*obj, EventType::Normal, "Provisioned", note).await;
                } else if let Some(call) = &last_write {
                    publish(&ctx, &*obj, EventType::Normal, "Updated", call.to_string()).await;
                }
                let wait =
                    ctx.gates
                        .record_success(scope.key.clone(), scope.inputs, Instant::now());
                Ok(Action::requeue(wait))
            }
        }
    }

    async fn cleanup(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> Result<Option<Action>, ReconcileError> {
        if obj.spec.deletion_policy == DeletionPolicy::Orphan {
            publish(
                &ctx,
                &*obj,
                EventType::Normal,
                "Orphaned",
                "deletionPolicy is Orphan: the gateway database is left in place".into(),
            )
            .await;
            return Ok(None);
        }
        let ns = scope.namespace.as_str();
        let external = external_name(&*obj);
        let current = obj.status_ref();
        // Look first: a deletion already under way (e.g. before a restart) is followed, not
        // requested again.
        let (call, retry_after) = match ctx.gateway.get_database(ns, &external).await {
            Err(error) if error.class() == ErrorClass::NotFound => {
                publish(
                    &ctx,
                    &*obj,
                    EventType::Normal,
                    "Deprovisioned",
                    error.call().to_string(),
                )
                .await;
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
            Ok(found) if found.value.phase == DatabasePhase::Deleting => (None, found.retry_after),
            Ok(_) => match ctx.gateway.delete_database(ns, &external).await {
                Ok(response) => (Some(response.call), response.retry_after),
                Err(error) if error.class() == ErrorClass::NotFound => {
                    publish(
                        &ctx,
                        &*obj,
                        EventType::Normal,
                        "Deprovisioned",
                        error.call().to_string(),
                    )
                    .await;
                    return Ok(None);
                }
                Err(error) => return Err(error.into()),
            },
        };
        let mut status = current.cloned().unwrap_or_default();
        status.phase = Some(Phase::Deleting);
        if let Some(call) = &call {
            status::record_call(&mut status, call);
            status::set_synced(&mut status, Some(call), scope.generation);
        }
        write_status(&ctx, scope, current, &status).await?;
        let wait = ctx.gates.record_progress(
            scope.key.clone(),
            scope.inputs,
            retry_after.unwrap_or(DEFAULT_PROGRESS_WAIT),
            Instant::now(),
        );
        Ok(Some(Action::requeue(wait)))
    }

    async fn record_failure(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        error: &ReconcileError,
    ) -> Result<(), kube::Error> {
        record_failure_for(obj, ctx, error).await
    }
}

async fn write_status(
    ctx: &Context,
    scope: &Scope,
    current: Option<&portico_api::ManagedDatabaseStatus>,
    desired: &portico_api::ManagedDatabaseStatus,
) -> Result<(), ReconcileError> {
    let api = ctx.api::<ManagedDatabase>(&scope.namespace);
    status::write_if_changed(&api, &scope.name, current, desired)
        .await
        .map(|_| ())
        .map_err(ReconcileError::Status)
}

fn plain(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

/// `postgresql://user:password@host:port/database` (or `mysql://…`), with user and password
/// percent-encoded so any character survives.
fn connection_uri(
    engine: Engine,
    username: &str,
    password: &SecretString,
    connection: &gateway::DatabaseConnection,
) -> SecretString {
    let scheme = match engine {
        Engine::PostgreSQL => "postgresql",
        Engine::MySQL => "mysql",
    };
    SecretString::from(format!(
        "{scheme}://{}:{}@{}:{}/{}",
        utf8_percent_encode(username, NON_ALPHANUMERIC),
        utf8_percent_encode(password.expose_secret(), NON_ALPHANUMERIC),
        connection.host,
        connection.port,
        utf8_percent_encode(&connection.database, NON_ALPHANUMERIC),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encodes_reserved_characters() {
        let connection = gateway::DatabaseConnection {
            host: "127.0.0.1".into(),
            port: 5432,
            database: "orders".into(),
            username: "app".into(),
        };
        let uri = connection_uri(
            Engine::PostgreSQL,
            "app",
            &SecretString::from("p@ss:w/rd"),
            &connection,
        );
        assert_eq!(
            uri.expose_secret(),
            "postgresql://app:p%40ss%3Aw%2Frd@127.0.0.1:5432/orders"
        );
    }
}
