//! The reference gateway with `--postgres-url`: databases created through `GatewayClient` are
//! real on a throw-away PostgreSQL server, and deleting them drops them.
use std::time::{Duration, Instant};

use portico_gateway::{GatewayConfig, ReferenceGateway};
use portico_gateway_client::{DatabasePhase, ErrorClass};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::NoTls;

use crate::support::postgres::TempPostgres;

async fn login(
    host: &str,
    port: u16,
    database: &str,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::Config::new()
        .host(host)
        .port(port)
        .dbname(database)
        .user(user)
        .password(password)
        .connect(NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_databases_accept_logins_until_deleted() {
    super::init();
    let server = TempPostgres::start().await.expect("throw-away PostgreSQL");
    let gateway = ReferenceGateway::start_with_postgres(
        GatewayConfig::new(SecretString::from(super::TOKEN)),
        &SecretString::from(server.admin_tcp_url()),
    )
    .await
    .expect("gateway with --postgres-url");
    let client = super::client(&gateway);
    let created = client
        .upsert_database("team-a", "orders", &super::database_spec())
        .await
        .expect("create");
    assert_eq!(created.call.http_status, Some(202));
    let credentials = created.value.credentials.expect("credentials on create");

    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let database = client
            .get_database("team-a", "orders")
            .await
            .expect("get")
            .value;
        match database.phase {
            DatabasePhase::Ready => break database,
            DatabasePhase::Pending | DatabasePhase::Provisioning => {}
            other => panic!("unexpected phase {other:?}: {:?}", database.message),
        }
        assert!(Instant::now() < deadline, "not Ready in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let connection = ready.connection.expect("connection details");
    assert_eq!(connection.port, server.port());
    let tenant = login(
        &connection.host,
        connection.port,
        &connection.database,
        &connection.username,
        credentials.password.expose_secret(),
    )
    .await
    .expect("the tenant logs in with the issued password");
    tenant
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1)")
        .await
        .expect("the tenant owns its database");
    drop(tenant);

    let rotated = client
        .rotate_database_credentials("team-a", "orders")
        .await
        .expect("rotate")
        .value;
    login(
        &connection.host,
        connection.port,
        &connection.database,
        &connection.username,
        credentials.password.expose_secret(),
    )
    .await
    .expect_err("the old password stops working");
    login(
        &connection.host,
        connection.port,
        &connection.database,
        &rotated.username,
        rotated.password.expose_secret(),
    )
    .await
    .expect("the new password works");

    client
        .delete_database("team-a", "orders")
        .await
        .expect("delete");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.get_database("team-a", "orders").await {
            Err(error) if error.class() == ErrorClass::NotFound => break,
            Ok(_) => {}
            Err(error) => panic!("unexpected error: {error}"),
        }
        assert!(Instant::now() < deadline, "not gone in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    login(
        &connection.host,
        connection.port,
        &connection.database,
        &rotated.username,
        rotated.password.expose_secret(),
    )
    .await
    .expect_err("the role and database are gone");
}
