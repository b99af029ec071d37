//! Per-request cost of discovery, OpenAPI and Table rendering in the sandbox API server, with the
//! built-in kinds plus the project's CRDs and 20 more generated CRD groups (`cargo bench --bench
//! discovery`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use kube_sandbox::registry::{ResourceType, builtin_types, crd_types};
use kube_sandbox::{discovery, table};
use serde_json::{Value, json};

const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

/// Median time of `run` over enough iterations to fill about half a second.
fn measure(name: &str, mut run: impl FnMut()) {
    run();
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(500) || samples.len() < 5 {
        let t = Instant::now();
        run();
        samples.push(t.elapsed());
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    println!(
        "{name:<48} median {median:>12.3?}  ({} runs)",
        samples.len()
    );
}

fn served_types() -> Vec<ResourceType> {
    let mut types = builtin_types();
    for crd in portico_api::crds() {
        let crd = serde_json::to_value(&crd).expect("CRD serializes");
        types.extend(crd_types(&crd));
        // Twenty more groups shaped like the project's, as a busier cluster would have.
        for n in 0..10 {
            let mut copy = crd.clone();
            let group = format!("bench{n}.example.com");
            copy["spec"]["group"] = group.clone().into();
            let plural = copy["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            copy["metadata"]["name"] = format!("{plural}.{group}").into();
            types.extend(crd_types(&copy));
        }
    }
    types
}

fn model(n: usize) -> Value {
    json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "AIModel",
        "metadata": {
            "name": format!("model-{n}"),
            "namespace": "default",
            "uid": format!("00000000-0000-0000-0000-{n:012}"),
            "resourceVersion": n.to_string(),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"team": "search"},
        },
        "spec": {"provider": "openai", "model": "gpt-4o-mini"},
        "status": {
            "phase": "Ready",
            "conditions": [
                {"type": "Synced", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
        },
    })
}

fn main() {
    portico_telemetry::tls::install_crypto_provider();
    let types = served_types();
    println!("{} served resource types", types.len());
    measure("GET /apis (aggregated discovery)", || {
        black_box(discovery::handle(&types, "/apis", Some(AGGREGATED)));
    });
    measure("GET /apis/portico.dev/v1alpha1", || {
        black_box(discovery::handle(
            &types,
            "/apis/portico.dev/v1alpha1",
            None,
        ));
    });
    measure("GET /openapi/v3 (index, hashes every document)", || {
        black_box(discovery::handle(&types, "/openapi/v3", None));
    });
    measure("GET /openapi/v3/apis/portico.dev/v1alpha1", || {
        black_box(discovery::handle(
            &types,
            "/openapi/v3/apis/portico.dev/v1alpha1",
            None,
        ));
    });
    measure("GET /openapi/v3/api/v1", || {
        black_box(discovery::handle(&types, "/openapi/v3/api/v1", None));
    });
    let aimodels = types
        .iter()
        .find(|t| t.kind == "AIModel")
        .expect("AIModel served");
    let objects: Vec<Value> = (0..1000).map(model).collect();
    measure("Table of 1000 AIModels (5 printer columns)", || {
        black_box(table::to_table(aimodels, &objects, json!({}), "Metadata"));
    });
}
