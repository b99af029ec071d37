//! Real PostgreSQL provisioning against a throw-away server.
//!
//! Each test starts its own server (about a second), so tests stay independent and can run in
//! parallel.

use std::process::Command;

use portico_gateway::postgres::{self, PostgresError, PostgresProvisioner};
use secrecy::SecretString;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::support::postgres::TempPostgres;

async fn start() -> (TempPostgres, PostgresProvisioner) {
    crate::support::init();
    let server = TempPostgres::start().await.expect("start postgres");
    let provisioner = postgres::connect(&server.admin_url())
        .await
        .expect("connect as admin over the unix socket");
    (server, provisioner)
}

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

/// Logs in over TCP with a password, as a tenant would.
async fn login(
    server: &TempPostgres,
    database: &str,
    user: &str,
    password: &str,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::Config::new()
        .host(server.host())
        .port(server.port())
        .dbname(database)
        .user(user)
        .password(password)
        .connect(NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn admin(server: &TempPostgres) -> Client {
    let (client, connection) = tokio_postgres::connect(&server.admin_url(), NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    client
}

async fn database_exists(admin: &Client, database: &str) -> bool {
    admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await
        .expect("query pg_database")
        .is_some()
}

async fn role_exists(admin: &Client, role: &str) -> bool {
    admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .expect("query pg_roles")
        .is_some()
}

fn assert_auth_failed(result: Result<Client, tokio_postgres::Error>) {
    let error = result.expect_err("login must fail");
    assert_eq!(
        error.code(),
        Some(&SqlState::INVALID_PASSWORD),
        "unexpected error: {error:?}"
    );
}

#[tokio::test]
async fn provisioned_role_logs_in_over_tcp_owns_its_database_and_reprovisioning_is_idempotent() {
    let (server, provisioner) = start().await;
    let endpoint = provisioner
        .provision("orders", "orders_owner", &secret("Tr0ub4dor3"))
        .await
        .expect("provision");
    assert_eq!(endpoint.port, server.port());
    assert_eq!(endpoint.host, server.socket_dir().to_string_lossy());

    let tenant = login(&server, "orders", "orders_owner", "Tr0ub4dor3")
        .await
        .expect("tenant login over TCP");
    tenant
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'widget')")
        .await
        .expect("create table and insert");
    let name: String = tenant
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .expect("select")
        .get(0);
    assert_eq!(name, "widget");
    assert_auth_failed(login(&server, "orders", "orders_owner", "wrong").await);

    let uri = format!(
        "postgresql://orders_owner:Tr0ub4dor3@{}:{}/orders",
        server.host(),
        server.port()
    );
    let psql = Command::new(server.bin("psql"))
        .arg(&uri)
        .args(["-XAtc", "select count(*) from items"])
        .env_remove("PGPASSWORD")
        .output()
        .expect("run psql");
    assert!(
        psql.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&psql.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&psql.stdout).trim(), "1");

    provisioner
        .provision("orders", "orders_owner", &secret("Tr0ub4dor3"))
        .await
        .expect("provision again");
    let again = login(&server, "orders", "orders_owner", "Tr0ub4dor3")
        .await
        .expect("login after re-provision");
    let count: i64 = again
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .expect("data survives re-provision")
        .get(0);
    assert_eq!(count, 1);

    // Tenants are isolated: another provisioned role cannot even connect to this database.
    provisioner
        .provision("billing", "billing_owner", &secret("other-pass"))
        .await
        .expect("provision a second tenant");
    let intruder = login(&server, "orders", "billing_owner", "other-pass").await;
    assert_eq!(
        intruder.err().and_then(|e| e.code().cloned()),
        Some(SqlState::INSUFFICIENT_PRIVILEGE)
    );
    // A database someone else owns is not handed over to the requester.
    let takeover = provisioner
        .provision("orders", "billing_owner", &secret("changed-pass"))
        .await;
    assert!(
        matches!(takeover, Err(PostgresError::DatabaseOwnedByOtherRole { ref owner, .. }) if owner == "orders_owner"),
        "{takeover:?}"
    );
    // The refused call changed nothing: the requester's role kept its password.
    login(&server, "billing", "billing_owner", "other-pass")
        .await
        .expect("billing_owner still has its password");
}

#[tokio::test]
async fn set_password_rotates_credentials() {
    let (server, provisioner) = start().await;
    provisioner
        .provision("app", "app_user", &secret("first-password"))
        .await
        .expect("provision");
    login(&server, "app", "app_user", "first-password")
        .await
        .expect("first password works");

    provisioner
        .set_password("app_user", &secret("second-password"))
        .await
        .expect("set password");
    assert_auth_failed(login(&server, "app", "app_user", "first-password").await);
    login(&server, "app", "app_user", "second-password")
        .await
        .expect("second password works");

    // Provisioning with another password re-keys the existing role as well.
    provisioner
        .provision("app", "app_user", &secret("third-password"))
        .await
        .expect("re-provision with a new password");
    assert_auth_failed(login(&server, "app", "app_user", "second-password").await);
    login(&server, "app", "app_user", "third-password")
        .await
        .expect("third password works");

    // The server logs every statement, yet only SCRAM verifiers ever reached it.
    let log = server.log();
    assert!(
        log.contains("ALTER ROLE \"app_user\""),
        "statement logging is on"
    );
    for password in ["first-password", "second-password", "third-password"] {
        assert!(
            !log.contains(password),
            "{password} leaked into the server log"
        );
    }

    let missing = provisioner
        .set_password("nobody", &secret("x"))
        .await
        .expect_err("no such role");
    assert_eq!(missing.sql_state(), Some("42704"));
}

#[tokio::test]
async fn deprovision_drops_database_and_role_even_with_open_sessions_and_is_repeatable() {
    let (server, provisioner) = start().await;
    let admin = admin(&server).await;
    provisioner
        .provision("reports", "reports_owner", &secret("pw-reports"))
        .await
        .expect("provision");
    let open_session = login(&server, "reports", "reports_owner", "pw-reports")
        .await
        .expect("login");
    open_session
        .batch_execute("CREATE TABLE t (x int)")
        .await
        .expect("create table");

    provisioner
        .deprovision("reports", "reports_owner")
        .await
        .expect("deprovision with a session still open");
    assert!(!database_exists(&admin, "reports").await);
    assert!(!role_exists(&admin, "reports_owner").await);
    assert!(open_session.simple_query("SELECT 1").await.is_err());
    let after = login(&server, "reports", "reports_owner", "pw-reports").await;
    assert!(after.is_err(), "login after deprovision must fail");

    provisioner
        .deprovision("reports", "reports_owner")
        .await
        .expect("deprovision again");
    provisioner
        .deprovision("never-existed", "never_existed")
        .await
        .expect("deprovision of nothing");
}

#[tokio::test]
async fn hostile_names_are_quoted_and_odd_passwords_work() {
    let (server, provisioner) = start().await;
    let admin = admin(&server).await;
    let database = "db\"; DROP DATABASE postgres; --";
    let user = "u'\"; DROP ROLE postgres; --";
    let password = "pa'ss\"wo\\rd\\'; --$$ é";
    provisioner
        .provision(database, user, &secret(password))
        .await
        .expect("provision hostile names");
    assert!(database_exists(&admin, database).await);
    assert!(role_exists(&admin, user).await);
    assert!(database_exists(&admin, "postgres").await);
    assert!(role_exists(&admin, "postgres").await);
    let tenant = login(&server, database, user, password)
        .await
        .expect("login with hostile names and password");
    let current: String = tenant
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("current_user")
        .get(0);
    assert_eq!(current, user);
    assert_auth_failed(login(&server, database, user, "pa'ss\"wo\\rd").await);
    provisioner
        .deprovision(database, user)
        .await
        .expect("deprovision hostile names");
    assert!(!database_exists(&admin, database).await);
    assert!(database_exists(&admin, "postgres").await);

    for (database, user) in [
        ("", "ok_user"),
        ("ok_db", ""),
        (&"d".repeat(64) as &str, "ok_user"),
        ("line\nbreak", "ok_user"),
        ("ok_db", "nul\0byte"),
        ("ok_db", "pg_monitor"),
        ("ok_db", "public"),
    ] {
        let result = provisioner.provision(database, user, &secret("x")).await;
        assert!(
            matches!(result, Err(PostgresError::InvalidName { .. })),
            "{database:?}/{user:?}: {result:?}"
        );
    }
    assert!(!role_exists(&admin, "ok_user").await);
}

#[tokio::test]
async fn admin_role_and_system_databases_are_never_touched() {
    let (server, provisioner) = start().await;
    let admin = admin(&server).await;
    let hijack = provisioner
        .provision("mine", "postgres", &secret("hijacked"))
        .await;
    assert!(
        matches!(hijack, Err(PostgresError::ProtectedRole(_))),
        "{hijack:?}"
    );
    let rekey = provisioner
        .set_password("postgres", &secret("hijacked"))
        .await;
    assert!(
        matches!(rekey, Err(PostgresError::ProtectedRole(_))),
        "{rekey:?}"
    );
    // The admin's TCP password is unchanged.
    login(&server, "postgres", "postgres", server.admin_password())
        .await
        .expect("admin password untouched");

    for database in ["postgres", "template1"] {
        let dropped = provisioner.deprovision(database, "someone").await;
        assert!(
            matches!(dropped, Err(PostgresError::ProtectedDatabase(_))),
            "{dropped:?}"
        );
        assert!(database_exists(&admin, database).await);
    }
    let claimed = provisioner
        .provision("template1", "claimer", &secret("x"))
        .await;
    assert!(
        matches!(claimed, Err(PostgresError::ProtectedDatabase(_))),
        "{claimed:?}"
    );
}

#[tokio::test]
async fn admin_url_over_tcp_works_and_errors_never_show_the_password() {
    crate::support::init();
    let server = TempPostgres::start().await.expect("start postgres");
    let provisioner = postgres::connect(&server.admin_tcp_url())
        .await
        .expect("connect as admin over TCP with a password");
    assert_eq!(provisioner.endpoint().host, "127.0.0.1");
    assert_eq!(provisioner.endpoint().port, server.port());
    assert!(!format!("{provisioner:?}").contains(server.admin_password()));
    provisioner
        .provision("tcp_db", "tcp_user", &secret("tcp-pass"))
        .await
        .expect("provision over a TCP admin connection");
    login(&server, "tcp_db", "tcp_user", "tcp-pass")
        .await
        .expect("tenant login");

    let wrong = format!(
        "postgres://postgres:NotTheRealPassword@127.0.0.1:{}/postgres",
        server.port()
    );
    let error = postgres::connect(&wrong)
        .await
        .expect_err("wrong admin password");
    assert_eq!(error.sql_state(), Some("28P01"), "{error}");
    assert!(!error.is_transient());
    assert!(
        error.to_string().starts_with("failed to connect"),
        "{error}"
    );
    assert!(!error.to_string().contains("NotTheRealPassword"));
    assert!(!format!("{error:?}").contains("NotTheRealPassword"));

    let garbled = postgres::connect("host=127.0.0.1 port=nope password=SecretInGarbage")
        .await
        .expect_err("garbled conninfo");
    assert!(
        matches!(garbled, PostgresError::InvalidAdminUrl),
        "{garbled:?}"
    );
    assert!(!format!("{garbled} {garbled:?}").contains("SecretInGarbage"));
}

#[tokio::test]
async fn provisioner_reconnects_after_its_admin_connection_is_killed_and_tolerates_races() {
    let (server, provisioner) = start().await;
    let admin = admin(&server).await;
    provisioner
        .provision("first", "first_user", &secret("pw1"))
        .await
        .expect("provision");
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'portico-gateway'",
            &[],
        )
        .await
        .expect("terminate the provisioner's connection")
        .get(0);
    assert_eq!(killed, 1);
    provisioner
        .provision("second", "second_user", &secret("pw2"))
        .await
        .expect("provision after the admin connection was killed");
    login(&server, "second", "second_user", "pw2")
        .await
        .expect("login");

    // Clones share one connection and serialise; concurrent identical calls all succeed.
    let calls = (0..4).map(|_| {
        let provisioner = provisioner.clone();
        async move {
            provisioner
                .provision("shared", "shared_user", &secret("pw3"))
                .await
        }
    });
    for result in futures::future::join_all(calls).await {
        result.expect("concurrent provision");
    }
    login(&server, "shared", "shared_user", "pw3")
        .await
        .expect("login");
}
