//! Malformed gateway answers (HTML pages, truncated JSON, wrong types, missing fields, huge
//! bodies, wrong content types, slowloris bodies…): each must end as a `Synced=False` condition
//! with a reason, without crashing the operator or retrying in a hot loop, and every object must
//! recover once the gateway behaves again.

use std::collections::BTreeMap;
use std::time::Duration;

use portico_api::{AIModel, CONDITION_SYNCED, ManagedDatabase};
use portico_gateway::{FaultBody, ScriptedFault};

use crate::operator::{
    Env, HasConditions, NS, PROVIDER_KEY, aimodel, database, model_spec, put_secret,
};
use crate::support::{captured_logs, eventually_within};

const MALFORMED: &str = "GatewayMalformedResponse";
const UNAVAILABLE: &str = "GatewayUnavailable";
const RATE_LIMITED: &str = "RateLimited";

/// One malformed answer, served to every call of `operation` on one object.
struct Variant {
    operation: &'static str,
    status: u16,
    body: FaultBody,
    /// Reasons the `Synced` condition may end with.
    reasons: &'static [&'static str],
}

const fn variant(
    operation: &'static str,
    status: u16,
    body: FaultBody,
    reasons: &'static [&'static str],
) -> Variant {
    Variant {
        operation,
        status,
        body,
        reasons,
    }
}

fn variants() -> Vec<Variant> {
    use FaultBody::*;
    vec![
        variant("upsertModel", 200, Html, &[MALFORMED]),
        variant("upsertModel", 200, Truncated, &[MALFORMED]),
        variant("upsertModel", 200, Empty, &[MALFORMED]),
        variant("upsertModel", 200, Garbage, &[MALFORMED]),
        variant("upsertModel", 200, WrongTypes, &[MALFORMED]),
        variant("upsertModel", 201, WrongTypes, &[MALFORMED]),
        variant("upsertModel", 200, MissingFields, &[MALFORMED]),
        variant("upsertModel", 200, Null, &[MALFORMED]),
        variant("upsertModel", 200, Array, &[MALFORMED]),
        variant("upsertModel", 200, Huge, &[MALFORMED]),
        variant("upsertModel", 200, WrongContentType, &[MALFORMED]),
        variant("upsertModel", 200, OctetStream, &[MALFORMED]),
        variant("upsertModel", 200, BadEncoding, &[MALFORMED, UNAVAILABLE]),
        variant("upsertModel", 200, Trickle, &[UNAVAILABLE]),
        variant("upsertModel", 200, ShortBody, &[MALFORMED, UNAVAILABLE]),
        variant("upsertModel", 503, Html, &[UNAVAILABLE]),
        variant("upsertModel", 502, Html, &[UNAVAILABLE]),
        variant("upsertModel", 500, Truncated, &[UNAVAILABLE]),
        variant("upsertModel", 504, Empty, &[UNAVAILABLE]),
        variant("upsertModel", 503, Garbage, &[UNAVAILABLE]),
        variant("upsertModel", 500, Huge, &[UNAVAILABLE]),
        variant("upsertModel", 503, Trickle, &[UNAVAILABLE]),
        variant("upsertModel", 429, Html, &[RATE_LIMITED]),
        variant("upsertModel", 200, Json, &[MALFORMED]),
        variant("upsertModelKey", 200, MissingFields, &[MALFORMED]),
        variant("upsertModelKey", 201, WrongTypes, &[MALFORMED]),
        variant("upsertModelKey", 200, Huge, &[MALFORMED]),
        variant("upsertDatabase", 200, WrongTypes, &[MALFORMED]),
        variant("upsertDatabase", 202, MissingFields, &[MALFORMED]),
        variant("upsertDatabase", 200, Html, &[MALFORMED]),
        variant("upsertDatabase", 200, Trickle, &[UNAVAILABLE]),
    ]
}

fn object_name(index: usize, operation: &str) -> String {
    match operation {
        "upsertDatabase" => format!("d{index:02}"),
        _ => format!("m{index:02}"),
    }
}

fn gateway_path(index: usize, operation: &str) -> String {
    match operation {
        "upsertDatabase" => format!(
            "/namespaces/{NS}/databases/{}",
            object_name(index, operation)
        ),
        _ => format!("/namespaces/{NS}/models/{}", object_name(index, operation)),
    }
}

/// Gateway calls on the object's own paths (so `/models/m01` excludes `m011`, which never exists
/// as all names have two digits).
fn calls_on(env: &Env, path: &str) -> usize {
    env.gateway
        .requests()
        .iter()
        .filter(|r| r.path.contains(path))
        .count()
}

async fn synced_reason(env: &Env, name: &str, operation: &str) -> Option<String> {
    let condition = if operation == "upsertDatabase" {
        let object = env.api::<ManagedDatabase>().get(name).await.ok()?;
        object.condition(CONDITION_SYNCED).cloned()
    } else {
        let object = env.api::<AIModel>().get(name).await.ok()?;
        object.condition(CONDITION_SYNCED).cloned()
    }?;
    (condition.status == "False").then_some(condition.reason)
}

#[tokio::test]
async fn malformed_gateway_answers_end_as_conditions_without_hot_loops() {
    let panics_before = portico_testbed::soak::panic_count();
    let mut env = Env::start().await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    let variants = variants();
    assert!(variants.len() >= 20, "at least 20 malformed answers");
    for (index, v) in variants.iter().enumerate() {
        env.gateway.push_fault(
            ScriptedFault::new(v.operation, v.status)
                .body(v.body)
                .times(1_000_000)
                .on_path(gateway_path(index, v.operation)),
        );
    }
    for (index, v) in variants.iter().enumerate() {
        let name = object_name(index, v.operation);
        if v.operation == "upsertDatabase" {
            env.create::<ManagedDatabase>(database(&name, 5)).await;
        } else {
            env.create::<AIModel>(aimodel(&name, model_spec())).await;
        }
    }

    // Every object ends with a reason that names the failure.
    let mut reasons = BTreeMap::new();
    for (index, v) in variants.iter().enumerate() {
        let name = object_name(index, v.operation);
        let reason = eventually_within(
            &format!(
                "{name} ({} {} {:?}) Synced=False",
                v.operation, v.status, v.body
            ),
            Duration::from_secs(90),
            || async {
                synced_reason(&env, &name, v.operation)
                    .await
                    .filter(|reason| v.reasons.contains(&reason.as_str()))
            },
        )
        .await;
        reasons.insert(name, reason);
    }

    // No hot loop: over an observation window each object's gateway calls stay few. Backoff
    // (100 ms doubling to 2 s here) allows a handful; a hot loop makes hundreds.
    let before: Vec<usize> = (0..variants.len())
        .map(|i| calls_on(&env, &gateway_path(i, variants[i].operation)))
        .collect();
    let window = Duration::from_secs(4);
    tokio::time::sleep(window).await;
    for (index, v) in variants.iter().enumerate() {
        let calls = calls_on(&env, &gateway_path(index, v.operation)) - before[index];
        assert!(
            calls <= 20,
            "{} ({} {} {:?}): {calls} gateway calls in {window:?} is a hot loop",
            object_name(index, v.operation),
            v.operation,
            v.status,
            v.body
        );
    }

    // The gateway behaves again: everything recovers, so the operator is alive and well.
    env.gateway.clear_faults();
    for (index, v) in variants.iter().enumerate() {
        let name = object_name(index, v.operation);
        if v.operation == "upsertDatabase" {
            env.wait_ready::<ManagedDatabase>(&name).await;
        } else {
            env.wait_ready::<AIModel>(&name).await;
        }
    }
    env.stop_operator().await;
    let logs = captured_logs();
    assert!(!logs.contains("panicked"), "a panic was logged");
    // Regression: a body shorter than its `Content-Length` made hyper panic inside the gateway.
    assert_eq!(
        portico_testbed::soak::panic_count(),
        panics_before,
        "something panicked (operator, gateway or API server)"
    );
    assert!(!logs.contains(PROVIDER_KEY), "the provider key was logged");
    eprintln!("malformed answers and their reasons: {reasons:?}");
}

/// The same on the paths that do not write: drift-check GETs of Ready objects, and the DELETE
/// (and the GETs that follow it) of objects being deleted. A drift check that gets garbage must
/// end as a reason, not a loop; a deletion that gets garbage must stay visible (deletionTimestamp
/// and a reason) and complete once the gateway behaves, never leaving an object stuck.
#[tokio::test]
async fn malformed_answers_to_drift_checks_and_deletions_end_as_conditions() {
    use FaultBody::*;
    use kube::api::DeleteParams;
    let panics_before = portico_testbed::soak::panic_count();
    let env = Env::start_with(crate::operator::Options {
        poll_interval: Duration::from_millis(300),
        provision_delay: Duration::from_millis(100),
        ..crate::operator::Options::default()
    })
    .await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    // (operation, status, body, reasons, kind): models are m.., databases d...
    let drift: Vec<Variant> = vec![
        variant("getModel", 200, Html, &[MALFORMED]),
        variant("getModel", 200, Truncated, &[MALFORMED]),
        variant("getModel", 200, WrongTypes, &[MALFORMED]),
        variant("getModel", 200, Huge, &[MALFORMED]),
        variant("getModel", 500, Html, &[UNAVAILABLE]),
        variant("getModel", 200, Trickle, &[UNAVAILABLE]),
        variant("getDatabase", 200, MissingFields, &[MALFORMED]),
        variant("getDatabase", 503, Garbage, &[UNAVAILABLE]),
    ];
    let deletion: Vec<Variant> = vec![
        variant("deleteModel", 500, Html, &[UNAVAILABLE]),
        variant("deleteModel", 503, Truncated, &[UNAVAILABLE]),
        variant("deleteModel", 429, Html, &[RATE_LIMITED]),
        variant("deleteDatabase", 200, Garbage, &[MALFORMED]),
        variant("deleteDatabase", 202, WrongTypes, &[MALFORMED]),
    ];
    let is_database = |operation: &str| operation.ends_with("Database");
    let name_of = |prefix: &str, index: usize, operation: &str| {
        format!(
            "{}{prefix}{index:02}",
            if is_database(operation) { "d" } else { "m" }
        )
    };
    let path_of = |name: &str, operation: &str| {
        let collection = if is_database(operation) {
            "databases"
        } else {
            "models"
        };
        format!("/namespaces/{NS}/{collection}/{name}")
    };
    let all: Vec<(String, &Variant)> = drift
        .iter()
        .enumerate()
        .map(|(i, v)| (name_of("g", i, v.operation), v))
        .chain(
            deletion
                .iter()
                .enumerate()
                .map(|(i, v)| (name_of("x", i, v.operation), v)),
        )
        .collect();
    for (name, v) in &all {
        if is_database(v.operation) {
            env.create::<ManagedDatabase>(database(name, 5)).await;
        } else {
            env.create::<AIModel>(aimodel(name, model_spec())).await;
        }
    }
    for (name, v) in &all {
        if is_database(v.operation) {
            env.wait_ready::<ManagedDatabase>(name).await;
        } else {
            env.wait_ready::<AIModel>(name).await;
        }
    }
    for (name, v) in &all {
        env.gateway.push_fault(
            ScriptedFault::new(v.operation, v.status)
                .body(v.body)
                .times(1_000_000)
                .on_path(path_of(name, v.operation)),
        );
    }
    for (name, v) in all
        .iter()
        .filter(|(_, v)| v.operation.starts_with("delete"))
    {
        let params = DeleteParams::default();
        if is_database(v.operation) {
            env.api::<ManagedDatabase>()
                .delete(name, &params)
                .await
                .expect("deleted");
        } else {
            env.api::<AIModel>()
                .delete(name, &params)
                .await
                .expect("deleted");
        }
    }

    for (name, v) in &all {
        let kind_operation = if is_database(v.operation) {
            "upsertDatabase"
        } else {
            "upsertModel"
        };
        eventually_within(
            &format!(
                "{name} ({} {} {:?}) Synced=False",
                v.operation, v.status, v.body
            ),
            Duration::from_secs(90),
            || async {
                synced_reason(&env, name, kind_operation)
                    .await
                    .filter(|reason| v.reasons.contains(&reason.as_str()))
            },
        )
        .await;
    }
    let before: Vec<usize> = all
        .iter()
        .map(|(n, v)| calls_on(&env, &path_of(n, v.operation)))
        .collect();
    let window = Duration::from_secs(4);
    tokio::time::sleep(window).await;
    for ((name, v), before) in all.iter().zip(before) {
        let calls = calls_on(&env, &path_of(name, v.operation)) - before;
        assert!(
            calls <= 20,
            "{name} ({} {} {:?}): {calls} gateway calls in {window:?} is a hot loop",
            v.operation,
            v.status,
            v.body
        );
    }
    // Objects being deleted are still there, visibly deleting.
    for (name, v) in all
        .iter()
        .filter(|(_, v)| v.operation.starts_with("delete"))
    {
        let deleting = if is_database(v.operation) {
            env.api::<ManagedDatabase>()
                .get(name)
                .await
                .map(|o| o.metadata.deletion_timestamp)
        } else {
            env.api::<AIModel>()
                .get(name)
                .await
                .map(|o| o.metadata.deletion_timestamp)
        };
        assert!(
            matches!(deleting, Ok(Some(_))),
            "{name} is held by its finalizer while the gateway fails"
        );
    }

    env.gateway.clear_faults();
    for (name, v) in &all {
        let deleted = v.operation.starts_with("delete");
        match (is_database(v.operation), deleted) {
            (true, true) => env.wait_gone::<ManagedDatabase>(name).await,
            (false, true) => env.wait_gone::<AIModel>(name).await,
            (true, false) => {
                eventually_within(
                    &format!("{name} Synced again"),
                    Duration::from_secs(60),
                    || async {
                        let object = env.api::<ManagedDatabase>().get(name).await.ok()?;
                        (object.condition(CONDITION_SYNCED)?.status == "True").then_some(())
                    },
                )
                .await
            }
            (false, false) => {
                eventually_within(
                    &format!("{name} Synced again"),
                    Duration::from_secs(60),
                    || async {
                        let object = env.api::<AIModel>().get(name).await.ok()?;
                        (object.condition(CONDITION_SYNCED)?.status == "True").then_some(())
                    },
                )
                .await
            }
        }
    }
    // Nothing deleted is left at the gateway.
    for (name, v) in all
        .iter()
        .filter(|(_, v)| v.operation.starts_with("delete"))
    {
        let gone = if is_database(v.operation) {
            env.gateway_admin
                .get_database(NS, name)
                .await
                .err()
                .map(|e| e.class())
        } else {
            env.gateway_admin
                .get_model(NS, name)
                .await
                .err()
                .map(|e| e.class())
        };
        assert_eq!(
            gone,
            Some(portico_gateway_client::ErrorClass::NotFound),
            "{name} left at the gateway"
        );
    }
    assert_eq!(
        portico_testbed::soak::panic_count(),
        panics_before,
        "something panicked"
    );
}
