//! ManagedDatabase reconcile steps: plan (pure, `plan.rs`) → apply (upsert the gateway database
//! only when the spec or the gateway copy changed; store credentials the moment the gateway
//! issues them; follow provisioning, honouring `Retry-After`; write the connection Secret when
//! Ready) → update status (the shared Ready tail). Nothing in the spec points elsewhere, so there
//! is nothing to dereference. Cleanup asks for deletion and follows it until the database is gone.

mod plan;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use portico_api::{CONDITION_READY, ManagedDatabase, ManagedDatabaseStatus, Phase};
use portico_gateway_client::{CallRecord, Database, ErrorClass, FailureCause, GatewayClient};
use secrecy::SecretString;

use self::plan::{Cleanup, DatabaseStep, PasswordSource, Progress};
use super::{
    ReadyOutcome, cannot_exist, connection_secret_name, finish_ready, left_to_its_owner,
    never_provisioned, orphan, owned_client, owner_reference, read_connection_secret,
    write_connection_secret, write_status,
};
use crate::controller::connection_secret::ConnectionSecret;
use crate::controller::identity;
use crate::controller::status::{self, is_ready};
use crate::controller::{Context, Kind, ReconcileError, Scope, publish};
use crate::credentials::secret_value;

/// How soon to look again at a database the gateway is still working on, when it gave no
/// `Retry-After`.
const DEFAULT_PROGRESS_WAIT: Duration = Duration::from_secs(2);

impl Kind for ManagedDatabase {
    const KIND: &'static str = "ManagedDatabase";
    type Status = ManagedDatabaseStatus;

    fn status(&self) -> Option<&ManagedDatabaseStatus> {
        self.status.as_ref()
    }

    fn secret_version_sent(&self, _name: &str) -> Option<&str> {
        None
    }

    fn connection_secret(&self) -> String {
        connection_secret_name(self, self.spec.write_connection_secret_to_ref.as_ref())
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
        let current = obj.status.as_ref();
        let external = identity::apply_name(&*obj)?;
        let desired = plan::desired_database(&obj.spec);
        // Dereference: the connection Secret, which must be this resource's to write, before
        // anything is provisioned for it.
        let owner = owner_reference(&*obj)?;
        let secret_name =
            connection_secret_name(&*obj, obj.spec.write_connection_secret_to_ref.as_ref());
        let mut existing = read_connection_secret(&ctx, ns, &secret_name, &owner).await?;
        let gateway = owned_client(&*obj, &ctx);
        // Plan.
        let step = plan::database_step(current, scope.generation, &external);
        // Apply: the gateway database.
        let mut status = current.cloned().unwrap_or_default();
        let mut last_write: Option<CallRecord> = None;
        let (database, retry_after) =
            ensure_database(&gateway, ns, &external, &desired, step, &mut last_write).await?;
        if let Some(call) = &last_write {
            status::record_call(&mut status, call);
        }
        // Apply: credentials the gateway shows once are stored before anything else can fail.
        let issued = database
            .credentials
            .as_ref()
            .map(|issued| (issued.username.clone(), issued.password.clone()));
        if let Some((username, password)) = &issued {
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
            if write_connection_secret(&ctx, &partial, existing.as_ref()).await? {
                // What the full write below compares against.
                existing = read_connection_secret(&ctx, ns, &secret_name, &owner).await?;
            }
        }
        let was_ready = current.is_some_and(is_ready);
        status.observed_generation = Some(scope.generation);
        status.external_name = Some(external.clone());

        match plan::progress(database.phase, was_ready) {
            Progress::Wait { phase } => {
                status.phase = Some(phase);
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
                write_status::<ManagedDatabase>(&ctx, scope, current, &status).await?;
                let wait = ctx.gates.record_progress(
                    scope.key.clone(),
                    scope.inputs,
                    retry_after.unwrap_or(DEFAULT_PROGRESS_WAIT),
                    Instant::now(),
                );
                Ok(Action::requeue(wait))
            }
            Progress::Failed => Err(ReconcileError::ExternalFailed(
                database
                    .message
                    .clone()
                    .unwrap_or_else(|| "no reason given".into()),
            )),
            Progress::Ready => {
                let Some(connection) = database.connection.clone() else {
                    return Err(ReconcileError::ExternalFailed(
                        "the gateway reports the database Ready without connection details".into(),
                    ));
                };
                let stored = existing
                    .as_ref()
                    .and_then(|secret| secret_value(secret, "password"));
                let (username, password) = match (
                    plan::password_source(issued.is_some(), stored.is_some()),
                    issued,
                    stored,
                ) {
                    (PasswordSource::Issued, Some(issued), _) => issued,
                    (PasswordSource::Stored, _, Some(password)) => {
                        (connection.username.clone(), password)
                    }
                    _ => {
                        // The password was lost with the connection Secret: issue a new one.
                        let response = gateway.rotate_database_credentials(ns, &external).await?;
                        status::record_call(&mut status, &response.call);
                        last_write = Some(response.call);
                        (response.value.username, response.value.password)
                    }
                };
                let uri = plan::connection_uri(obj.spec.engine, &username, &password, &connection);
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
                write_connection_secret(&ctx, &full, existing.as_ref()).await?;
                status.host = Some(connection.host.clone());
                status.port = Some(i32::from(connection.port));
                status.database = Some(connection.database.clone());
                status.username = Some(username);
                let provisioned_note = Some(ready_note(&status));
                finish_ready(
                    &*obj,
                    &ctx,
                    scope,
                    ReadyOutcome {
                        current,
                        status,
                        last_write: last_write.as_ref(),
                        message: format!(
                            "database {} is available at {}:{}",
                            connection.database, connection.host, connection.port
                        ),
                        provisioned_note,
                    },
                )
                .await
            }
        }
    }

    async fn cleanup(
        obj: Arc<Self>,
        ctx: Arc<Context>,
        scope: &Scope,
    ) -> Result<Option<Action>, ReconcileError> {
        if obj.spec.deletion_policy == portico_api::DeletionPolicy::Orphan {
            return Ok(orphan(&*obj, &ctx, "database").await);
        }
        let ns = scope.namespace.as_str();
        let Some(external) = identity::cleanup_name(&*obj) else {
            return Ok(never_provisioned(&*obj, &ctx).await);
        };
        // Look first: a deletion already under way (e.g. before a restart) is followed, not
        // requested again.
        let gateway = owned_client(&*obj, &ctx);
        let (observed, retry_after) = match gateway.get_database(ns, &external).await {
            Ok(found) => (Some(found.value.phase), found.retry_after),
            Err(error) if cannot_exist(&error) => {
                return deprovisioned(&obj, &ctx, error.call()).await;
            }
            Err(error) => return Err(error.into()),
        };
        let (call, retry_after) = match plan::cleanup(obj.spec.deletion_policy, observed) {
            Cleanup::Orphan | Cleanup::Gone => return Ok(None),
            Cleanup::FollowDeletion => (None, retry_after),
            Cleanup::RequestDeletion => match gateway.delete_database(ns, &external).await {
                Ok(response) => (Some(response.call), response.retry_after),
                // Another resource's object (an adoption that was refused): never ours.
                Err(error) if error.cause() == FailureCause::Conflict => {
                    return Ok(left_to_its_owner(&*obj, &ctx, &error).await);
                }
                Err(error) if cannot_exist(&error) => {
                    return deprovisioned(&obj, &ctx, error.call()).await;
                }
                Err(error) => return Err(error.into()),
            },
        };
        let current = obj.status.as_ref();
        let mut status = current.cloned().unwrap_or_default();
        status.phase = Some(Phase::Deleting);
        if let Some(call) = &call {
            status::record_call(&mut status, call);
            status::set_synced(&mut status, Some(call), scope.generation);
        }
        write_status::<ManagedDatabase>(&ctx, scope, current, &status).await?;
        let wait = ctx.gates.record_progress(
            scope.key.clone(),
            scope.inputs,
            retry_after.unwrap_or(DEFAULT_PROGRESS_WAIT),
            Instant::now(),
        );
        Ok(Some(Action::requeue(wait)))
    }
}

/// Brings the gateway database to the spec: a drift check when the plan allows, else (or on
/// drift) an upsert. Returns the database and the gateway's `Retry-After`.
async fn ensure_database(
    gateway: &GatewayClient,
    ns: &str,
    external: &str,
    desired: &portico_gateway_client::DatabaseSpec,
    step: DatabaseStep,
    last_write: &mut Option<CallRecord>,
) -> Result<(Database, Option<Duration>), ReconcileError> {
    if step == DatabaseStep::CheckDrift {
        let found = match gateway.get_database(ns, external).await {
            Ok(found) => Some(found),
            Err(error) if error.class() == ErrorClass::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        let spec = found.as_ref().map(|found| &found.value.spec);
        match (plan::after_drift_check(spec, desired), found) {
            (DatabaseStep::CheckDrift, Some(found)) => return Ok((found.value, found.retry_after)),
            (_, Some(_)) => {
                tracing::info!(database = %external, "gateway database drifted from the spec; updating")
            }
            (_, None) => {
                tracing::info!(database = %external, "gateway database is gone; recreating")
            }
        }
    }
    let response = gateway.upsert_database(ns, external, desired).await?;
    *last_write = Some(response.call);
    Ok((response.value, response.retry_after))
}

/// The `Deprovisioned` event of a database the gateway no longer has.
async fn deprovisioned(
    obj: &ManagedDatabase,
    ctx: &Context,
    call: &CallRecord,
) -> Result<Option<Action>, ReconcileError> {
    publish(
        ctx,
        obj,
        EventType::Normal,
        "Deprovisioned",
        call.to_string(),
    )
    .await;
    Ok(None)
}

/// The `Provisioned` note of a database: the call that asked for it, which may have been made
/// reconciles ago, and that it is ready now.
fn ready_note(status: &ManagedDatabaseStatus) -> String {
    status
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
        .unwrap_or_else(|| "database is ready".into())
}

fn plain(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}
