//! Leader election between real `portico run --leader-election` processes sharing one sandbox:
//! exactly one reconciles; killing it (SIGKILL) hands over within the lease duration plus a few
//! seconds; SIGTERM releases the Lease for an immediate handover; and no gateway object is ever
//! created twice.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use portico_api::AIModel;

use super::{OperatorProcess, scrape, sum, value};
use crate::operator::{Env, NS, Options, aimodel, model_spec};
use crate::support::{eventually, eventually_within};

/// Short durations, so the test takes seconds (production defaults: 15s, 10s, 2s).
const LEASE_SECONDS: u64 = 4;
const ELECTION: &[&str] = &[
    "--leader-election",
    "--lease-duration",
    "4s",
    "--renew-deadline",
    "3s",
    "--retry-period",
    "500ms",
];

fn replica(kubeconfig: &Path, env: &Env, name: &str) -> OperatorProcess {
    OperatorProcess::run(kubeconfig, &env.gateway.url(), name, ELECTION, &[])
}

async fn holder(env: &Env) -> Option<String> {
    Api::<Lease>::namespaced(env.client.clone(), "portico-system")
        .get_opt("portico-leader")
        .await
        .ok()
        .flatten()
        .and_then(|lease| lease.spec)
        .and_then(|spec| spec.holder_identity)
        .filter(|holder| !holder.is_empty())
}

async fn wait_for_holder(env: &Env, prefix: &str, within: Duration) -> String {
    eventually_within(&format!("{prefix} to hold the lease"), within, || async {
        holder(env)
            .await
            .filter(|holder| holder.starts_with(&format!("{prefix}_")))
    })
    .await
}

async fn create_ready_models(env: &Env, names: &[&str]) {
    for name in names {
        env.create::<AIModel>(aimodel(name, model_spec())).await;
    }
    for name in names {
        env.wait_ready::<AIModel>(name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_reconciles_and_a_standby_takes_over() {
    let (env, _dir, kubeconfig) = super::env_for_processes(Options::default()).await;

    let mut a = replica(&kubeconfig, &env, "replica-a");
    wait_for_holder(&env, "replica-a", Duration::from_secs(60)).await;
    let mut b = replica(&kubeconfig, &env, "replica-b");
    let (a_addr, b_addr) = (a.metrics_addr().await, b.metrics_addr().await);
    // A standby is ready: it is doing what it should (waiting for the lease).
    let readyz = reqwest::get(format!("http://{b_addr}/readyz"))
        .await
        .expect("GET /readyz");
    assert_eq!(readyz.status(), 200);

    create_ready_models(&env, &["ha-1", "ha-2", "ha-3"]).await;
    let (a_series, b_series) = (scrape(a_addr).await, scrape(b_addr).await);
    assert_eq!(value(&a_series, "portico_leader"), 1.0);
    assert_eq!(value(&b_series, "portico_leader"), 0.0);
    assert!(sum(&a_series, "portico_reconciles_total", &[]) > 0.0);
    assert_eq!(
        sum(&b_series, "portico_reconciles_total", &[]),
        0.0,
        "the standby must not reconcile"
    );
    assert_eq!(sum(&b_series, "portico_gateway_requests_total", &[]), 0.0);

    // SIGKILL the leader: no release, so the standby waits out the lease.
    let killed = Instant::now();
    a.kill().await;
    wait_for_holder(&env, "replica-b", Duration::from_secs(LEASE_SECONDS + 10)).await;
    eprintln!("takeover after SIGKILL: {:?}", killed.elapsed());
    create_ready_models(&env, &["ha-4", "ha-5"]).await;
    assert_eq!(value(&scrape(b_addr).await, "portico_leader"), 1.0);

    // SIGTERM the new leader with a candidate waiting: it stops cleanly and releases the
    // Lease, so the candidate takes over without waiting out a lease duration.
    let c = replica(&kubeconfig, &env, "replica-c");
    let c_addr = c.metrics_addr().await;
    b.terminate();
    let status = b.exited(Duration::from_secs(30)).await;
    assert!(status.success(), "replica-b exits 0: {status}\n{}", b.log());
    assert!(b.log().contains("released the leader lease"), "{}", b.log());
    assert!(
        !holder(&env)
            .await
            .is_some_and(|holder| holder.starts_with("replica-b_")),
        "the lease was released"
    );
    wait_for_holder(&env, "replica-c", Duration::from_secs(LEASE_SECONDS + 10)).await;
    create_ready_models(&env, &["ha-6"]).await;
    eventually("replica-c to report leading", || async {
        (value(&scrape(c_addr).await, "portico_leader") == 1.0).then_some(())
    })
    .await;

    // Across three leaders, every model was created (and issued its key) exactly once.
    let requests = env.gateway.requests();
    for name in ["ha-1", "ha-2", "ha-3", "ha-4", "ha-5", "ha-6"] {
        let path = format!("/v1/namespaces/{NS}/models/{name}");
        let created = |operation: &str, path: &str| {
            requests
                .iter()
                .filter(|r| r.operation == operation && r.path == path && r.status == 201)
                .count()
        };
        assert_eq!(created("upsertModel", &path), 1, "{name} created once");
        assert_eq!(
            created("upsertModelKey", &format!("{path}/keys/portico")),
            1,
            "{name}'s key issued once"
        );
    }
}
