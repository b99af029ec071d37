//! ManagedDatabase through the operator: asynchronous provisioning followed to Ready, updates,
//! deletion followed until the gateway reports it gone, a restart mid-provisioning, and a real
//! PostgreSQL database whose connection URI works with psql.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use portico_api::{ManagedDatabase, Phase};
use portico_gateway::{GatewayConfig, ReferenceGateway};
use portico_gateway_client::ErrorClass;
use secrecy::SecretString;

use super::{Env, GATEWAY_TOKEN, NS, Options, database, secret_string};
use crate::support::eventually;
use crate::support::postgres::TempPostgres;

async fn wait_phase(env: &Env, name: &str, phase: Phase) -> ManagedDatabase {
    let api = env.api::<ManagedDatabase>();
    eventually(&format!("{name} in phase {phase:?}"), || {
        let api = api.clone();
        async move {
            let object = api.get(name).await.ok()?;
            (object.status.as_ref()?.phase == Some(phase)).then_some(object)
        }
    })
    .await
}

#[tokio::test]
async fn database_provisions_updates_and_deprovisions() {
    let env = Env::start_with(Options {
        provision_delay: Duration::from_millis(800),
        ..Options::default()
    })
    .await;
    env.create::<ManagedDatabase>(database("orders", 20)).await;
    wait_phase(&env, "orders", Phase::Provisioning).await;
    let ready = env.wait_ready::<ManagedDatabase>("orders").await;
    // While it provisioned, the operator looked again no sooner than the gateway's Retry-After
    // (1 s for an 800 ms delay), not in a loop.
    let looks: Vec<_> = env
        .gateway
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/v1/namespaces/{NS}/databases/orders"))
        .map(|r| r.arrived)
        .collect();
    for pair in looks.windows(2) {
        assert!(
            pair[1].duration_since(pair[0]) >= Duration::from_millis(950),
            "looked again after {:?}, before the Retry-After",
            pair[1].duration_since(pair[0])
        );
    }
    let status = ready.status.expect("status");
    assert_eq!(status.database.as_deref(), Some("orders-db"));
    assert!(status.host.is_some() && status.port.is_some() && status.username.is_some());

    let secret = env.secret("orders-conn").await.expect("connection secret");
    for key in ["host", "port", "database", "username", "password", "uri"] {
        assert!(!secret_string(&secret, key).is_empty(), "{key} present");
    }
    let password = secret_string(&secret, "password");
    let uri = secret_string(&secret, "uri");
    assert!(uri.starts_with("postgresql://"), "{uri}");

    env.api::<ManagedDatabase>()
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"storageGB": 40}})),
        )
        .await
        .expect("spec patched");
    // Resizing is work at the gateway: the database shows Updating, then Ready again.
    wait_phase(&env, "orders", Phase::Updating).await;
    let updated = env.wait_ready::<ManagedDatabase>("orders").await;
    assert_eq!(updated.status.and_then(|s| s.observed_generation), Some(2));
    let at_gateway = env
        .gateway_admin
        .get_database(NS, "orders")
        .await
        .expect("exists");
    assert_eq!(at_gateway.value.spec.storage_gb, 40);
    let secret = env.secret("orders-conn").await.expect("connection secret");
    assert_eq!(
        secret_string(&secret, "password"),
        password,
        "password kept"
    );

    env.api::<ManagedDatabase>()
        .delete("orders", &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone::<ManagedDatabase>("orders").await;
    let error = env
        .gateway_admin
        .get_database(NS, "orders")
        .await
        .expect_err("deprovisioned");
    assert_eq!(error.class(), ErrorClass::NotFound);
}

#[tokio::test]
async fn restart_mid_provisioning_creates_nothing_twice() {
    let mut env = Env::start_with(Options {
        provision_delay: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    env.create::<ManagedDatabase>(database("inventory", 10))
        .await;
    wait_phase(&env, "inventory", Phase::Provisioning).await;
    env.stop_operator().await;
    env.start_operator();
    env.wait_ready::<ManagedDatabase>("inventory").await;

    assert_eq!(env.gateway_calls_any("upsertDatabase"), 1, "created once");
    assert_eq!(
        env.gateway_calls_any("rotateDatabaseCredentials"),
        0,
        "password kept"
    );
    assert_eq!(env.gateway.stats().objects.databases, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_postgresql_database_is_usable_with_psql() {
    crate::support::init();
    let server = TempPostgres::start().await.expect("throw-away PostgreSQL");
    let mut config = GatewayConfig::new(SecretString::from(GATEWAY_TOKEN));
    config.provision_delay = Duration::from_millis(100);
    let gateway =
        ReferenceGateway::start_with_postgres(config, &SecretString::from(server.admin_tcp_url()))
            .await
            .expect("gateway with --postgres-url");
    let env = Env::start_with_gateway(Options::default(), gateway).await;
    env.create::<ManagedDatabase>(database("ledger", 1)).await;
    env.wait_ready::<ManagedDatabase>("ledger").await;

    let uri = secret_string(&env.secret("ledger-conn").await.expect("secret"), "uri");
    let psql = server.bin("psql");
    let output = tokio::process::Command::new(&psql)
        .args([uri.as_str(), "-v", "ON_ERROR_STOP=1", "-c"])
        .arg("CREATE TABLE entries (id int); INSERT INTO entries VALUES (1); SELECT count(*) FROM entries;")
        .output()
        .await
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql with the Secret's uri failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    env.api::<ManagedDatabase>()
        .delete("ledger", &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone::<ManagedDatabase>("ledger").await;
    let output = tokio::process::Command::new(&psql)
        .args([uri.as_str(), "-c", "SELECT 1"])
        .output()
        .await
        .expect("psql runs");
    assert!(!output.status.success(), "the database is dropped");
}

/// Adoption of an existing gateway database through `portico.dev/external-name` (its password
/// was never seen, so one is issued), a lost connection Secret (a new password is issued), and
/// deletion with `deletionPolicy: Orphan` (the gateway database stays).
#[tokio::test]
async fn database_adoption_lost_password_and_orphan() {
    let env = Env::start_with(Options {
        provision_delay: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let spec = portico_gateway_client::DatabaseSpec {
        engine: "PostgreSQL".into(),
        version: "16".into(),
        database_name: "adopter-db".into(),
        storage_gb: 5,
        replicas: 0,
    };
    env.gateway_admin
        .upsert_database(NS, "legacy", &spec)
        .await
        .expect("created at the gateway directly");
    let mut manifest = database("adopter", 5);
    manifest["metadata"]["annotations"] =
        serde_json::json!({"portico.dev/external-name": "legacy"});
    env.create::<ManagedDatabase>(manifest).await;
    let adopted = env.wait_ready::<ManagedDatabase>("adopter").await;
    assert_eq!(
        adopted.status.and_then(|s| s.external_name).as_deref(),
        Some("legacy")
    );
    assert_eq!(
        env.gateway.stats().objects.databases,
        1,
        "adopted, not created"
    );
    assert_eq!(env.gateway_calls_any("rotateDatabaseCredentials"), 1);
    let first = secret_string(
        &env.secret("adopter-conn").await.expect("connection Secret"),
        "password",
    );

    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), NS)
        .delete("adopter-conn", &DeleteParams::default())
        .await
        .expect("connection Secret deleted");
    let second = eventually("the connection Secret to be written again", || async {
        let secret = env.secret("adopter-conn").await?;
        let password = secret_string(&secret, "password");
        (!password.is_empty()).then_some(password)
    })
    .await;
    assert_ne!(second, first, "a new password was issued");
    assert_eq!(env.gateway_calls_any("rotateDatabaseCredentials"), 2);

    env.api::<ManagedDatabase>()
        .patch(
            "adopter",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"deletionPolicy": "Orphan"}})),
        )
        .await
        .expect("policy changed");
    env.wait_ready::<ManagedDatabase>("adopter").await;
    env.api::<ManagedDatabase>()
        .delete("adopter", &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone::<ManagedDatabase>("adopter").await;
    let kept = env
        .gateway_admin
        .get_database(NS, "legacy")
        .await
        .expect("orphaned at the gateway");
    assert_eq!(kept.value.spec.database_name, "adopter-db");
    assert_eq!(env.gateway_calls_any("deleteDatabase"), 0);
}
