//! Real PostgreSQL provisioning for the reference gateway (`--postgres-url`): a database plus a
//! login role per managed database.
//!
//! The admin connects with the URL it is given (TCP or unix socket) and needs to be a superuser,
//! or a role with CREATEDB and CREATEROLE. Passwords never travel in SQL text: the provisioner
//! sends a SCRAM-SHA-256 verifier computed on this side, so a statement log shows no secret.
//! Names come from users and are always quoted as identifiers; databases and roles the admin
//! relies on (system databases, superusers, the admin role) are refused.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

/// `DROP DATABASE … WITH (FORCE)` exists since PostgreSQL 13.
const MINIMUM_SERVER_VERSION_NUM: i32 = 130_000;
/// PostgreSQL silently truncates longer identifiers (NAMEDATALEN - 1), which would make two
/// different requested names land on the same object.
const MAX_IDENTIFIER_BYTES: usize = 63;
const DEFAULT_PORT: u16 = 5432;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SYSTEM_DATABASES: [&str; 3] = ["postgres", "template0", "template1"];
/// Role names PostgreSQL reserves or treats as keywords in role specifications.
const RESERVED_ROLE_NAMES: [&str; 6] = [
    "public",
    "none",
    "current_user",
    "session_user",
    "current_role",
    "system_user",
];

/// Where clients of a provisioned database connect: a TCP host, or for a unix socket the
/// directory that holds it, plus the port (which also names the socket file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresEndpoint {
    pub host: String,
    pub port: u16,
}

/// Failures of the provisioner. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("failed to parse the PostgreSQL admin connection string")]
    InvalidAdminUrl,
    #[error("failed to find a host in the PostgreSQL admin connection string")]
    MissingHost,
    #[error("failed to connect to PostgreSQL as admin: {message}{}", sql_state_suffix(.sql_state))]
    Connect {
        sql_state: Option<String>,
        message: String,
    },
    #[error("failed to use PostgreSQL server version {version}: version 13 or newer is required")]
    UnsupportedServerVersion { version: i32 },
    #[error("failed to accept {kind} name {name:?}: {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("failed to manage role {0:?}: it is a superuser or the admin role itself")]
    ProtectedRole(String),
    #[error("failed to manage database {0:?}: it is a system database or the admin's own database")]
    ProtectedDatabase(String),
    #[error(
        "failed to manage database {database:?}: it is owned by role {owner:?}, not {requested:?}"
    )]
    DatabaseOwnedByOtherRole {
        database: String,
        owner: String,
        requested: String,
    },
    #[error("failed to {action}: {message}{}", sql_state_suffix(.sql_state))]
    Sql {
        action: String,
        sql_state: Option<String>,
        message: String,
    },
}

fn sql_state_suffix(sql_state: &Option<String>) -> String {
    sql_state
        .as_ref()
        .map(|code| format!(" (SQLSTATE {code})"))
        .unwrap_or_default()
}

impl PostgresError {
    /// The five-character SQLSTATE the server reported, when the failure came from the server.
    pub fn sql_state(&self) -> Option<&str> {
        match self {
            PostgresError::Connect { sql_state, .. } | PostgresError::Sql { sql_state, .. } => {
                sql_state.as_deref()
            }
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed (server unreachable, restarting,
    /// out of connections, or an object briefly in use), as opposed to a request that can never
    /// work as given.
    pub fn is_transient(&self) -> bool {
        match self {
            PostgresError::Connect { sql_state, .. } => match sql_state.as_deref() {
                None => true,
                Some(code) => is_transient_sql_state(code),
            },
            PostgresError::Sql { sql_state, .. } => match sql_state.as_deref() {
                // No SQLSTATE: the connection broke mid-call.
                None => true,
                Some(code) => is_transient_sql_state(code),
            },
            _ => false,
        }
    }

    fn from_sql(action: impl Into<String>, error: &tokio_postgres::Error) -> Self {
        let (sql_state, message) = describe(error);
        PostgresError::Sql {
            action: action.into(),
            sql_state,
            message,
        }
    }

    fn from_connect(error: &tokio_postgres::Error) -> Self {
        let (sql_state, message) = describe(error);
        PostgresError::Connect { sql_state, message }
    }
}

fn is_transient_sql_state(code: &str) -> bool {
    // 08 connection exception, 53 insufficient resources, 57P0x shutdown/cannot connect now,
    // 40001/40P01 serialization failure/deadlock, 55006 object in use, 55P03 lock not available.
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "40001" | "40P01" | "55006" | "55P03")
}

/// The SQLSTATE and a readable message. `tokio_postgres::Error`'s own Display is only its kind
/// ("db error"), so the server's message or the I/O cause is pulled out here.
fn describe(error: &tokio_postgres::Error) -> (Option<String>, String) {
    if let Some(db_error) = error.as_db_error() {
        let mut message = db_error.message().to_owned();
        if let Some(detail) = db_error.detail() {
            message.push_str(" (");
            message.push_str(detail);
            message.push(')');
        }
        return (Some(db_error.code().code().to_owned()), message);
    }
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    (None, message)
}

/// Creates, re-keys and drops databases and their login roles on one PostgreSQL server.
/// Cheap to clone; clones share one admin connection, which is re-opened when it has died.
/// Calls are serialised: each is a check-then-act sequence that must not interleave with another.
#[derive(Clone)]
pub struct PostgresProvisioner {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    endpoint: PostgresEndpoint,
    client: Mutex<Option<Client>>,
}

impl fmt::Debug for PostgresProvisioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresProvisioner")
            .field("admin_user", &self.inner.config.get_user())
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

/// Parses the admin URL (`postgres://…` or `key=value` conninfo, including `host=/socket/dir`),
/// opens the admin connection and checks the server version.
pub async fn connect(admin_url: &str) -> Result<PostgresProvisioner, PostgresError> {
    // The parser's own error can quote fragments of the input, which may hold the password.
    let mut config = Config::from_str(admin_url).map_err(|_| PostgresError::InvalidAdminUrl)?;
    if config.get_application_name().is_none() {
        config.application_name("portico-gateway");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    let endpoint = endpoint_of(&config)?;
    let client = open_admin_connection(&config).await?;
    let version_text = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .map_err(|error| PostgresError::from_sql("read the server version", &error))?
        .try_get::<_, String>(0)
        .map_err(|error| PostgresError::from_sql("read the server version", &error))?;
    let version = version_text.trim().parse::<i32>().unwrap_or(0);
    if version < MINIMUM_SERVER_VERSION_NUM {
        return Err(PostgresError::UnsupportedServerVersion { version });
    }
    Ok(PostgresProvisioner {
        inner: Arc::new(Inner {
            config,
            endpoint,
            client: Mutex::new(Some(client)),
        }),
    })
}

fn endpoint_of(config: &Config) -> Result<PostgresEndpoint, PostgresError> {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(dir)) => dir.to_string_lossy().into_owned(),
        None => config
            .get_hostaddrs()
            .first()
            .map(ToString::to_string)
            .ok_or(PostgresError::MissingHost)?,
    };
    let port = config.get_ports().first().copied().unwrap_or(DEFAULT_PORT);
    Ok(PostgresEndpoint { host, port })
}

async fn open_admin_connection(config: &Config) -> Result<Client, PostgresError> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|error| PostgresError::from_connect(&error))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            let (sql_state, message) = describe(&error);
            tracing::warn!(?sql_state, %message, "postgres admin connection ended");
        }
    });
    Ok(client)
}

impl PostgresProvisioner {
    /// What clients should connect to, as parsed from the admin URL.
    pub fn endpoint(&self) -> &PostgresEndpoint {
        &self.inner.endpoint
    }

    /// Replaces the endpoint handed to clients, for when the admin reaches the server another
    /// way than clients do (for example a local unix socket versus a service address).
    pub fn with_endpoint(self, endpoint: PostgresEndpoint) -> Self {
        PostgresProvisioner {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                endpoint,
                client: Mutex::new(None),
            }),
        }
    }

    /// Ensures the role exists with LOGIN and exactly this password, and that the database exists
    /// owned by it. Running it again with the same arguments changes nothing but the password's
    /// salt; with another password, it re-keys the role.
    pub async fn provision(
        &self,
        database: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<PostgresEndpoint, PostgresError> {
        validate_database_name(database)?;
        validate_role_name(username)?;
        let verifier = password_verifier(password);
        let mut session = self.session().await?;
        let first = provision_on(admin_client(&session)?, database, username, &verifier).await;
        if self.reconnected_after_failure(&mut session, &first).await? {
            provision_on(admin_client(&session)?, database, username, &verifier).await?;
        } else {
            first?;
        }
        Ok(self.inner.endpoint.clone())
    }

    /// Gives an existing managed role a new password; connections already open stay open.
    pub async fn set_password(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), PostgresError> {
        validate_role_name(username)?;
        let verifier = password_verifier(password);
        let mut session = self.session().await?;
        let first = set_password_on(admin_client(&session)?, username, &verifier).await;
        if self.reconnected_after_failure(&mut session, &first).await? {
            set_password_on(admin_client(&session)?, username, &verifier).await
        } else {
            first
        }
    }

    /// Drops the database (disconnecting its sessions) and then the role. Missing objects are
    /// fine, so it can be repeated.
    pub async fn deprovision(&self, database: &str, username: &str) -> Result<(), PostgresError> {
        validate_database_name(database)?;
        validate_role_name(username)?;
        let mut session = self.session().await?;
        let first = deprovision_on(admin_client(&session)?, database, username).await;
        if self.reconnected_after_failure(&mut session, &first).await? {
            deprovision_on(admin_client(&session)?, database, username).await
        } else {
            first
        }
    }

    async fn session(&self) -> Result<MutexGuard<'_, Option<Client>>, PostgresError> {
        let mut guard = self.inner.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(open_admin_connection(&self.inner.config).await?);
        }
        Ok(guard)
    }

    /// After a failed call: when the admin connection itself died meanwhile (server restart,
    /// terminated backend), opens a new one and says the call should run once more. Every
    /// operation here is idempotent, so the repeat is safe.
    async fn reconnected_after_failure<T>(
        &self,
        session: &mut MutexGuard<'_, Option<Client>>,
        outcome: &Result<T, PostgresError>,
    ) -> Result<bool, PostgresError> {
        let connection_died = session.as_ref().is_none_or(Client::is_closed);
        match outcome {
            Err(error) if connection_died && error.is_transient() => {
                **session = Some(open_admin_connection(&self.inner.config).await?);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn admin_client<'a>(
    session: &'a MutexGuard<'_, Option<Client>>,
) -> Result<&'a Client, PostgresError> {
    session.as_ref().ok_or_else(|| PostgresError::Connect {
        sql_state: None,
        message: "connection closed".to_owned(),
    })
}

async fn provision_on(
    client: &Client,
    database: &str,
    username: &str,
    verifier: &str,
) -> Result<(), PostgresError> {
    // Refuse a database that belongs to someone else before touching any role.
    ensure_not_protected_database(client, database).await?;
    if let Some(owner) = database_owner(client, database).await? {
        ensure_owned_by(database, owner, username)?;
    }
    ensure_login_role(client, username, verifier).await?;
    ensure_database(client, database, username).await
}

fn ensure_owned_by(database: &str, owner: String, username: &str) -> Result<(), PostgresError> {
    if owner == username {
        Ok(())
    } else {
        Err(PostgresError::DatabaseOwnedByOtherRole {
            database: database.to_owned(),
            owner,
            requested: username.to_owned(),
        })
    }
}

async fn set_password_on(
    client: &Client,
    username: &str,
    verifier: &str,
) -> Result<(), PostgresError> {
    match role_state(client, username).await? {
        RoleState::Missing => Err(PostgresError::Sql {
            action: format!("set the password of role {username:?}"),
            sql_state: Some(SqlState::UNDEFINED_OBJECT.code().to_owned()),
            message: format!("role {username:?} does not exist"),
        }),
        RoleState::Protected => Err(PostgresError::ProtectedRole(username.to_owned())),
        RoleState::Managed => alter_role_password(client, username, verifier).await,
    }
}

async fn deprovision_on(
    client: &Client,
    database: &str,
    username: &str,
) -> Result<(), PostgresError> {
    drop_database(client, database, username).await?;
    drop_role(client, username).await
}

enum RoleState {
    Missing,
    /// A superuser or the admin itself: never re-keyed or dropped through this API.
    Protected,
    Managed,
}

async fn role_state(client: &Client, username: &str) -> Result<RoleState, PostgresError> {
    let row = client
        .query_opt(
            "SELECT rolsuper OR rolname = current_user FROM pg_roles WHERE rolname = $1",
            &[&username],
        )
        .await
        .map_err(|error| PostgresError::from_sql(format!("look up role {username:?}"), &error))?;
    let Some(row) = row else {
        return Ok(RoleState::Missing);
    };
    let protected: bool = row
        .try_get(0)
        .map_err(|error| PostgresError::from_sql(format!("look up role {username:?}"), &error))?;
    Ok(if protected {
        RoleState::Protected
    } else {
        RoleState::Managed
    })
}

async fn ensure_login_role(
    client: &Client,
    username: &str,
    verifier: &str,
) -> Result<(), PostgresError> {
    match role_state(client, username).await? {
        RoleState::Protected => Err(PostgresError::ProtectedRole(username.to_owned())),
        RoleState::Managed => alter_role_password(client, username, verifier).await,
        RoleState::Missing => {
            let statement = format!(
                "CREATE ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}",
                quote_identifier(username),
                quote_literal(verifier)
            );
            match client.batch_execute(&statement).await {
                Ok(()) => Ok(()),
                // Created concurrently by someone else since the lookup: converge on it.
                Err(error) if error.code() == Some(&SqlState::DUPLICATE_OBJECT) => {
                    alter_role_password(client, username, verifier).await
                }
                Err(error) => Err(PostgresError::from_sql(
                    format!("create role {username:?}"),
                    &error,
                )),
            }
        }
    }
}

async fn alter_role_password(
    client: &Client,
    username: &str,
    verifier: &str,
) -> Result<(), PostgresError> {
    let statement = format!(
        "ALTER ROLE {} WITH LOGIN PASSWORD {}",
        quote_identifier(username),
        quote_literal(verifier)
    );
    client.batch_execute(&statement).await.map_err(|error| {
        PostgresError::from_sql(format!("set the password of role {username:?}"), &error)
    })
}

async fn database_owner(client: &Client, database: &str) -> Result<Option<String>, PostgresError> {
    let row = client
        .query_opt(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .map_err(|error| {
            PostgresError::from_sql(format!("look up database {database:?}"), &error)
        })?;
    row.map(|row| row.try_get::<_, String>(0))
        .transpose()
        .map_err(|error| PostgresError::from_sql(format!("look up database {database:?}"), &error))
}

async fn ensure_not_protected_database(
    client: &Client,
    database: &str,
) -> Result<(), PostgresError> {
    let admin_database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|error| PostgresError::from_sql("read the admin's database", &error))?;
    if SYSTEM_DATABASES.contains(&database) || admin_database == database {
        return Err(PostgresError::ProtectedDatabase(database.to_owned()));
    }
    Ok(())
}

async fn ensure_database(
    client: &Client,
    database: &str,
    username: &str,
) -> Result<(), PostgresError> {
    let owner = match database_owner(client, database).await? {
        Some(owner) => owner,
        None => {
            // CREATE DATABASE cannot run inside a transaction block, so it goes alone.
            let statement = format!(
                "CREATE DATABASE {} OWNER {}",
                quote_identifier(database),
                quote_identifier(username)
            );
            match client.batch_execute(&statement).await {
                Ok(()) => username.to_owned(),
                Err(error) if error.code() == Some(&SqlState::DUPLICATE_DATABASE) => {
                    database_owner(client, database).await?.unwrap_or_default()
                }
                Err(error) => {
                    return Err(PostgresError::from_sql(
                        format!("create database {database:?}"),
                        &error,
                    ));
                }
            }
        }
    };
    ensure_owned_by(database, owner, username)?;
    // New databases let every role connect; a tenant's database is for its owner only.
    let statement = format!(
        "REVOKE ALL ON DATABASE {} FROM PUBLIC",
        quote_identifier(database)
    );
    client.batch_execute(&statement).await.map_err(|error| {
        PostgresError::from_sql(format!("restrict access to database {database:?}"), &error)
    })
}

async fn drop_database(
    client: &Client,
    database: &str,
    username: &str,
) -> Result<(), PostgresError> {
    ensure_not_protected_database(client, database).await?;
    match database_owner(client, database).await? {
        None => return Ok(()),
        Some(owner) => ensure_owned_by(database, owner, username)?,
    }
    let statement = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(database)
    );
    client
        .batch_execute(&statement)
        .await
        .map_err(|error| PostgresError::from_sql(format!("drop database {database:?}"), &error))
}

async fn drop_role(client: &Client, username: &str) -> Result<(), PostgresError> {
    match role_state(client, username).await? {
        RoleState::Missing => Ok(()),
        RoleState::Protected => Err(PostgresError::ProtectedRole(username.to_owned())),
        RoleState::Managed => {
            // Objects or grants the role holds in the admin's database would block DROP ROLE.
            let role = quote_identifier(username);
            let statement = format!("DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}");
            match client.batch_execute(&statement).await {
                Ok(()) => Ok(()),
                Err(error) if error.code() == Some(&SqlState::UNDEFINED_OBJECT) => Ok(()),
                Err(error) => Err(PostgresError::from_sql(
                    format!("drop role {username:?}"),
                    &error,
                )),
            }
        }
    }
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for this password. Handing the server the
/// verifier keeps the password itself out of SQL text and server logs; it works with both the
/// `scram-sha-256` and `md5` methods of pg_hba.conf (md5 falls over to SCRAM for such roles).
fn password_verifier(password: &SecretString) -> String {
    postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes())
}

fn validate_database_name(name: &str) -> Result<(), PostgresError> {
    validate_identifier("database", name)
}

fn validate_role_name(name: &str) -> Result<(), PostgresError> {
    validate_identifier("role", name)?;
    let invalid = |reason| PostgresError::InvalidName {
        kind: "role",
        name: name.to_owned(),
        reason,
    };
    if name.starts_with("pg_") {
        return Err(invalid("the pg_ prefix is reserved for system roles"));
    }
    if RESERVED_ROLE_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(invalid("the name is reserved"));
    }
    Ok(())
}

fn validate_identifier(kind: &'static str, name: &str) -> Result<(), PostgresError> {
    let invalid = |reason| PostgresError::InvalidName {
        kind,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(invalid("it is longer than 63 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("it contains a control character"));
    }
    Ok(())
}

/// A double-quoted SQL identifier: embedded double quotes are doubled, nothing else is special.
fn quote_identifier(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for character in name.chars() {
        if character == '"' {
            quoted.push('"');
        }
        quoted.push(character);
    }
    quoted.push('"');
    quoted
}

/// A string literal that means the same whatever `standard_conforming_strings` is set to:
/// quotes are doubled, and when a backslash occurs the escape-string form `E'…'` is used with
/// backslashes doubled (the same rule as PostgreSQL's own `quote_literal`).
fn quote_literal(value: &str) -> String {
    let has_backslash = value.contains('\\');
    let mut quoted = String::with_capacity(value.len() + 3);
    if has_backslash {
        quoted.push('E');
    }
    quoted.push('\'');
    for character in value.chars() {
        if character == '\'' || character == '\\' {
            quoted.push(character);
        }
        quoted.push(character);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_embedded_quotes() {
        assert_eq!(quote_identifier("orders"), "\"orders\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_identifier("x\"; DROP ROLE postgres; --"),
            "\"x\"\"; DROP ROLE postgres; --\""
        );
    }

    #[test]
    fn literals_double_quotes_and_switch_to_escape_form_for_backslashes() {
        assert_eq!(quote_literal("plain"), "'plain'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b'c"), "E'a\\\\b''c'");
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_database_name("orders-db").is_ok());
        assert!(validate_database_name("we\"ird; name").is_ok());
        assert!(validate_database_name("").is_err());
        assert!(validate_database_name(&"x".repeat(64)).is_err());
        assert!(validate_database_name("new\nline").is_err());
        assert!(validate_database_name("nul\0byte").is_err());
        assert!(validate_role_name("pg_monitor").is_err());
        assert!(validate_role_name("PUBLIC").is_err());
        assert!(validate_role_name("app_user").is_ok());
    }

    #[test]
    fn verifier_is_scram_and_never_the_password() {
        let verifier = password_verifier(&SecretString::from("s3cr'et\\".to_owned()));
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!verifier.contains("s3cr"));
        assert_eq!(quote_literal(&verifier), format!("'{verifier}'"));
    }

    #[test]
    fn endpoint_comes_from_url_or_conninfo() {
        let url = Config::from_str("postgres://admin:pw@db.example:6543/postgres").expect("url");
        assert_eq!(
            endpoint_of(&url).expect("endpoint"),
            PostgresEndpoint {
                host: "db.example".into(),
                port: 6543
            }
        );
        let socket = Config::from_str("host=/tmp/pg user=postgres").expect("conninfo");
        assert_eq!(
            endpoint_of(&socket).expect("endpoint"),
            PostgresEndpoint {
                host: "/tmp/pg".into(),
                port: 5432
            }
        );
        assert!(matches!(
            endpoint_of(&Config::new()),
            Err(PostgresError::MissingHost)
        ));
    }

    #[tokio::test]
    async fn malformed_admin_url_does_not_echo_the_password() {
        let error = connect("postgres://admin:hunter2@[::1/postgres")
            .await
            .expect_err("malformed");
        assert!(matches!(error, PostgresError::InvalidAdminUrl), "{error:?}");
        assert!(!error.to_string().contains("hunter2"));
        assert!(!format!("{error:?}").contains("hunter2"));
    }
}
