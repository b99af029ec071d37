//! What a ManagedDatabase reconcile or cleanup must do, decided from the spec, the status and
//! what the gateway last answered: no I/O, no Kubernetes types beyond the CRD types.
//! Table-tested below.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use portico_api::{DeletionPolicy, Engine, ManagedDatabaseSpec, ManagedDatabaseStatus, Phase};
use portico_gateway_client::{self as gateway, DatabasePhase};
use secrecy::{ExposeSecret, SecretString};

/// The gateway call that brings the database to the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DatabaseStep {
    /// Write the database (PUT): status does not describe this generation under this name.
    Upsert,
    /// Read the database (GET) and write only if it drifted or is gone.
    CheckDrift,
}

/// Where provisioning stands, from the gateway's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// The gateway is still working: show `phase` and look again later.
    Wait {
        /// Provisioning for a database never Ready yet, else Updating.
        phase: Phase,
    },
    /// The gateway gave up on the database.
    Failed,
    /// Usable: write the full connection Secret and report Ready.
    Ready,
}

/// Where the password of the connection Secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PasswordSource {
    /// The gateway issued it in this answer (it shows a password once).
    Issued,
    /// The connection Secret holds it.
    Stored,
    /// Lost with the connection Secret: ask the gateway for a new one.
    Rotate,
}

/// What a deletion must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cleanup {
    /// `deletionPolicy: Orphan`: leave the gateway database.
    Orphan,
    /// The gateway no longer has it: the finalizer may go.
    Gone,
    /// Ask the gateway to delete it.
    RequestDeletion,
    /// A deletion is already under way (e.g. asked for before a restart): follow it.
    FollowDeletion,
}

/// Upsert unless status already describes this generation under this external name.
pub(super) fn database_step(
    status: Option<&ManagedDatabaseStatus>,
    generation: i64,
    external_name: &str,
) -> DatabaseStep {
    let described = status.is_some_and(|status| {
        status.observed_generation == Some(generation)
            && status.external_name.as_deref() == Some(external_name)
    });
    if described {
        DatabaseStep::CheckDrift
    } else {
        DatabaseStep::Upsert
    }
}

/// After a drift check: `found` is the gateway's copy of the spec (`None`: it is gone).
pub(super) fn after_drift_check(
    found: Option<&gateway::DatabaseSpec>,
    desired: &gateway::DatabaseSpec,
) -> DatabaseStep {
    match found {
        Some(observed) if observed == desired => DatabaseStep::CheckDrift,
        _ => DatabaseStep::Upsert,
    }
}

/// Where provisioning stands, given the gateway's phase and whether the object was Ready.
pub(super) fn progress(phase: DatabasePhase, was_ready: bool) -> Progress {
    match phase {
        DatabasePhase::Pending | DatabasePhase::Provisioning | DatabasePhase::Deleting => {
            Progress::Wait {
                phase: if was_ready {
                    Phase::Updating
                } else {
                    Phase::Provisioning
                },
            }
        }
        DatabasePhase::Failed => Progress::Failed,
        DatabasePhase::Ready => Progress::Ready,
    }
}

/// Where the password comes from.
pub(super) fn password_source(issued_now: bool, stored: bool) -> PasswordSource {
    match (issued_now, stored) {
        (true, _) => PasswordSource::Issued,
        (false, true) => PasswordSource::Stored,
        (false, false) => PasswordSource::Rotate,
    }
}

/// What a deletion does next, given the policy and the gateway's phase (`None`: gone).
pub(super) fn cleanup(policy: DeletionPolicy, observed: Option<DatabasePhase>) -> Cleanup {
    match (policy, observed) {
        (DeletionPolicy::Orphan, _) => Cleanup::Orphan,
        (DeletionPolicy::Delete, None) => Cleanup::Gone,
        (DeletionPolicy::Delete, Some(DatabasePhase::Deleting)) => Cleanup::FollowDeletion,
        (DeletionPolicy::Delete, Some(_)) => Cleanup::RequestDeletion,
    }
}

/// The gateway's form of the spec.
pub(super) fn desired_database(spec: &ManagedDatabaseSpec) -> gateway::DatabaseSpec {
    gateway::DatabaseSpec {
        engine: spec.engine.as_str().to_owned(),
        version: spec.version.clone(),
        database_name: spec.database_name.clone(),
        storage_gb: spec.storage_gb,
        replicas: spec.replicas,
    }
}

/// `postgresql://user:password@host:port/database` (or `mysql://…`), with user and password
/// percent-encoded so any character survives.
pub(super) fn connection_uri(
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

    fn status(generation: i64, name: &str) -> ManagedDatabaseStatus {
        ManagedDatabaseStatus {
            observed_generation: Some(generation),
            external_name: Some(name.into()),
            ..ManagedDatabaseStatus::default()
        }
    }

    fn spec() -> ManagedDatabaseSpec {
        ManagedDatabaseSpec {
            engine: Engine::PostgreSQL,
            version: "16".into(),
            database_name: "orders".into(),
            storage_gb: 10,
            replicas: 1,
            write_connection_secret_to_ref: None,
            deletion_policy: DeletionPolicy::Delete,
        }
    }

    #[test]
    fn database_step_table() {
        let observed = status(2, "db");
        let cases = [
            ("new object", None, 1, "db", DatabaseStep::Upsert),
            (
                "spec changed",
                Some(&observed),
                3,
                "db",
                DatabaseStep::Upsert,
            ),
            (
                "external name moved",
                Some(&observed),
                2,
                "other",
                DatabaseStep::Upsert,
            ),
            (
                "described",
                Some(&observed),
                2,
                "db",
                DatabaseStep::CheckDrift,
            ),
        ];
        for (case, status, generation, name, step) in cases {
            assert_eq!(database_step(status, generation, name), step, "{case}");
        }
    }

    #[test]
    fn drift_table() {
        let desired = desired_database(&spec());
        let mut resized = desired.clone();
        resized.storage_gb = 20;
        assert_eq!(
            after_drift_check(Some(&desired), &desired),
            DatabaseStep::CheckDrift
        );
        assert_eq!(
            after_drift_check(Some(&resized), &desired),
            DatabaseStep::Upsert
        );
        assert_eq!(after_drift_check(None, &desired), DatabaseStep::Upsert);
    }

    #[test]
    fn progress_table() {
        let cases = [
            (
                DatabasePhase::Pending,
                false,
                Progress::Wait {
                    phase: Phase::Provisioning,
                },
            ),
            (
                DatabasePhase::Provisioning,
                false,
                Progress::Wait {
                    phase: Phase::Provisioning,
                },
            ),
            (
                DatabasePhase::Provisioning,
                true,
                Progress::Wait {
                    phase: Phase::Updating,
                },
            ),
            (
                DatabasePhase::Deleting,
                true,
                Progress::Wait {
                    phase: Phase::Updating,
                },
            ),
            (DatabasePhase::Failed, false, Progress::Failed),
            (DatabasePhase::Failed, true, Progress::Failed),
            (DatabasePhase::Ready, false, Progress::Ready),
            (DatabasePhase::Ready, true, Progress::Ready),
        ];
        for (phase, was_ready, expected) in cases {
            assert_eq!(
                progress(phase, was_ready),
                expected,
                "{phase:?} {was_ready}"
            );
        }
    }

    #[test]
    fn password_source_table() {
        assert_eq!(password_source(true, true), PasswordSource::Issued);
        assert_eq!(password_source(true, false), PasswordSource::Issued);
        assert_eq!(password_source(false, true), PasswordSource::Stored);
        assert_eq!(password_source(false, false), PasswordSource::Rotate);
    }

    #[test]
    fn cleanup_table() {
        use DatabasePhase::*;
        let cases = [
            (DeletionPolicy::Orphan, Some(Ready), Cleanup::Orphan),
            (DeletionPolicy::Orphan, None, Cleanup::Orphan),
            (DeletionPolicy::Delete, None, Cleanup::Gone),
            (
                DeletionPolicy::Delete,
                Some(Deleting),
                Cleanup::FollowDeletion,
            ),
            (
                DeletionPolicy::Delete,
                Some(Ready),
                Cleanup::RequestDeletion,
            ),
            (
                DeletionPolicy::Delete,
                Some(Provisioning),
                Cleanup::RequestDeletion,
            ),
            (
                DeletionPolicy::Delete,
                Some(Failed),
                Cleanup::RequestDeletion,
            ),
        ];
        for (policy, observed, expected) in cases {
            assert_eq!(
                cleanup(policy, observed),
                expected,
                "{policy:?} {observed:?}"
            );
        }
    }

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
