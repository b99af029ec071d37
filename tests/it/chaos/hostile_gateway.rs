//! Whatever a gateway sends — any status, any `Retry-After`, any body — the client answers with
//! a value or an error: no panic, and no delay beyond `MAX_SERVER_DELAY`. Property-tested over
//! real HTTP against a server that answers what each case says; then the operator end to end
//! with a `Retry-After` that used to crash it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use portico_api::{AIModel, CONDITION_SYNCED};
use portico_gateway::ScriptedFault;
use portico_gateway_client::{
    DatabaseSpec, GatewayClient, GatewayClientConfig, MAX_SERVER_DELAY, ModelSpec,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use secrecy::SecretString;

use crate::operator::{Env, HasConditions, aimodel, model_spec};
use crate::support::eventually;

/// One answer the test server gives.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    retry_after: Option<Vec<u8>>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

/// A `Retry-After` value: numbers of every size and sign, dates, garbage bytes.
fn retry_after() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(|n| Some(n.to_string().into_bytes())),
        any::<f64>().prop_map(|n| Some(n.to_string().into_bytes())),
        prop::sample::select(vec![
            "1e20",
            "1e308",
            "-1",
            "NaN",
            "inf",
            "0",
            "0.001",
            "18446744073709551616",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Some),
    ]
}

/// A body: contract-shaped JSON with hostile values, or arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<u64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|n| serde_json::json!(n)),
        Just(serde_json::json!("12")),
        Just(serde_json::Value::Null),
    ];
    prop_oneof![
        number
            .clone()
            .prop_map(|n| serde_json::to_vec(&serde_json::json!({
                "code": "throttled", "message": "slow down", "retryable": true,
                "retryAfterSeconds": n,
            }))
            .unwrap_or_default()),
        number.prop_map(|n| serde_json::to_vec(&serde_json::json!({
            "namespace": "ns", "name": "m", "generation": n,
            "spec": {"provider": "openai", "upstreamModel": "x"},
            "endpoint": "http://gw", "clientModel": "ns/m",
            "phase": "Ready", "id": "k", "secret": n,
        }))
        .unwrap_or_default()),
        prop::collection::vec(any::<u8>(), 0..512),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    let status = prop_oneof![
        prop::sample::select(vec![
            200u16, 201, 202, 204, 301, 307, 308, 400, 401, 404, 409, 410, 422, 429, 500, 502, 503,
            504,
        ]),
        100u16..1000,
    ];
    let content_type = prop::sample::select(vec![
        Some("application/json"),
        Some("text/html"),
        Some("application/json; charset=utf-16"),
        None,
    ]);
    (status, retry_after(), content_type, body()).prop_map(
        |(status, retry_after, content_type, body)| Answer {
            status,
            retry_after,
            content_type,
            body,
        },
    )
}

/// Starts a server that gives `answer`'s current value to every request.
async fn hostile_server(answer: Arc<Mutex<Answer>>) -> String {
    let app = axum::Router::new().fallback(move || {
        let answer = answer.lock().map(|a| a.clone()).ok();
        async move {
            let Some(answer) = answer else {
                return Response::new(Body::empty());
            };
            let mut response = Response::new(Body::from(answer.body));
            *response.status_mut() =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::IM_A_TEAPOT);
            if let Some(value) = answer
                .retry_after
                .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
            {
                response.headers_mut().insert("retry-after", value);
            }
            if let Some(content_type) = answer.content_type {
                response
                    .headers_mut()
                    .insert("content-type", HeaderValue::from_static(content_type));
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener binds");
    let url = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Calls one operation with a fresh client (a `Retry-After` pauses the client that saw it).
async fn call(url: &str, operation: usize) -> Result<Option<Duration>, String> {
    let client = GatewayClient::new(
        GatewayClientConfig {
            timeout: Duration::from_secs(5),
            ..GatewayClientConfig::new(url)
        },
        SecretString::from("token"),
    )
    .map_err(|e| e.to_string())?;
    let model = ModelSpec {
        provider: "openai".into(),
        upstream_model: "x".into(),
        provider_credential: None,
        prompt_template: None,
        parameters: None,
        limits: None,
        upstream: None,
    };
    let database = DatabaseSpec {
        engine: "PostgreSQL".into(),
        version: "16".into(),
        database_name: "db".into(),
        storage_gb: 1,
        replicas: 0,
    };
    // Every error's and every answer's delay is what the property is about.
    macro_rules! delay {
        ($result:expr) => {
            match $result {
                Ok(response) => Ok(response.retry_after),
                Err(error) => Ok(error.retry_after()),
            }
        };
    }
    match operation {
        0 => delay!(client.get_model("ns", "m").await),
        1 => delay!(client.upsert_model("ns", "m", &model).await),
        2 => delay!(client.delete_model("ns", "m").await),
        3 => delay!(client.upsert_model_key("ns", "m", "k").await),
        4 => delay!(client.get_database("ns", "d").await),
        5 => delay!(client.upsert_database("ns", "d", &database).await),
        6 => delay!(client.delete_database("ns", "d").await),
        _ => delay!(client.rotate_database_credentials("ns", "d").await),
    }
}

#[test]
fn no_gateway_answer_panics_the_client_or_stalls_it_unboundedly() {
    crate::support::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let current = Arc::new(Mutex::new(Answer {
        status: 200,
        retry_after: None,
        content_type: None,
        body: Vec::new(),
    }));
    let url = runtime.block_on(hostile_server(current.clone()));
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(answer(), 0usize..8), |(answer, operation)| {
        if let Ok(mut slot) = current.lock() {
            *slot = answer;
        }
        let delay = runtime
            .block_on(call(&url, operation))
            .map_err(TestCaseError::fail)?;
        prop_assert!(
            delay.is_none_or(|d| d <= MAX_SERVER_DELAY),
            "delay {delay:?} beyond the cap"
        );
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// A `Retry-After` of 2^64 − 1 seconds used to panic inside the call (a `Duration` cannot hold
/// it). Now it is capped: the object shows `RateLimited` and the operator keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_is_capped_not_a_crash() {
    let env = Env::start().await;
    env.gateway.push_fault(
        ScriptedFault::new("upsertModel", 429)
            .times(1)
            .retry_after(u64::MAX),
    );
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    env.create::<AIModel>(aimodel("patient", spec)).await;
    let api = env.api::<AIModel>();
    eventually("the 429 to show as RateLimited", || {
        let api = api.clone();
        async move {
            let model = api.get("patient").await.ok()?;
            let synced = model.condition(CONDITION_SYNCED)?;
            (synced.reason == "RateLimited").then_some(())
        }
    })
    .await;
    assert!(
        env.operator_running(),
        "the operator stopped after an absurd Retry-After"
    );
}
