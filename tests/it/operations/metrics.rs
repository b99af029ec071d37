//! `/metrics`, `/healthz` and `/readyz` of a `portico run` process: the series exist, and their
//! values move with what the operator does (reconciles, gateway calls by operation and status
//! class, limiter waits, Retry-After pauses, time to Ready, objects by phase).

use portico_api::AIModel;
use portico_gateway::ScriptedFault;

use super::{OperatorProcess, scrape, sum, value};
use crate::operator::{Options, aimodel, model_spec};
use crate::support::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_reconciles_and_gateway_calls() {
    let (env, _dir, kubeconfig) = super::env_for_processes(Options::default()).await;
    let operator = OperatorProcess::run(&kubeconfig, &env.gateway.url(), "metrics-0", &[], &[]);
    let addr = operator.metrics_addr().await;
    let http = reqwest::Client::new();

    let healthz = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(healthz.status(), 200);
    eventually("/readyz to answer 200 once the caches synced", || {
        let http = http.clone();
        async move {
            let response = http
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        }
    })
    .await;

    let before = scrape(addr).await;
    assert_eq!(
        value(&before, "portico_leader"),
        1.0,
        "runs without election"
    );
    assert_eq!(sum(&before, "portico_gateway_requests_total", &[]), 0.0);

    env.create::<AIModel>(aimodel("counted", model_spec()))
        .await;
    env.wait_ready::<AIModel>("counted").await;
    let ready = eventually("the objects gauge to show the Ready model", || async {
        let series = scrape(addr).await;
        (value(&series, r#"portico_objects{kind="AIModel",phase="Ready"}"#) == 1.0)
            .then_some(series)
    })
    .await;
    assert!(
        sum(
            &ready,
            "portico_reconciles_total",
            &[r#"kind="AIModel""#, r#"result="success""#]
        ) >= 2.0,
        "finalizer pass and provisioning pass: {ready:?}"
    );
    let upserts = r#"portico_gateway_requests_total{operation="upsertModel",status_class="2xx"}"#;
    assert_eq!(value(&ready, upserts), 1.0);
    assert_eq!(
        value(
            &ready,
            r#"portico_gateway_requests_total{operation="upsertModelKey",status_class="2xx"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &ready,
            r#"portico_gateway_request_duration_seconds_count{operation="upsertModel"}"#
        ),
        1.0
    );
    assert!(value(&ready, "portico_gateway_limiter_wait_seconds_count") >= 2.0);
    assert_eq!(
        value(
            &ready,
            r#"portico_time_to_ready_seconds_count{kind="AIModel"}"#
        ),
        1.0
    );
    assert!(
        value(
            &ready,
            r#"portico_reconcile_duration_seconds_count{kind="AIModel"}"#
        ) >= 2.0
    );

    // A 429 with Retry-After on the next upsert: counted as a 4xx, a pause, and a RateLimited
    // failure; the retry then succeeds.
    env.gateway
        .push_fault(ScriptedFault::new("upsertModel", 429).retry_after(1));
    let api = env.api::<AIModel>();
    api.patch(
        "counted",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"model": "gpt-4o"}})),
    )
    .await
    .expect("spec updated");
    env.wait_ready::<AIModel>("counted").await;
    let after = eventually("the retried upsert to be counted", || async {
        let series = scrape(addr).await;
        (value(&series, upserts) == 2.0).then_some(series)
    })
    .await;
    assert_eq!(
        value(
            &after,
            r#"portico_gateway_requests_total{operation="upsertModel",status_class="4xx"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"portico_gateway_retry_after_pauses_total{status="429"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"portico_reconcile_failures_total{kind="AIModel",reason="RateLimited",category="gateway"}"#
        ),
        1.0
    );
    assert!(
        sum(&after, "portico_reconciles_total", &[r#"result="error""#]) >= 1.0,
        "{after:?}"
    );
    drop(operator);
}
