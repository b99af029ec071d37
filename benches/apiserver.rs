//! Throughput of the sandbox API server over real HTTP on loopback: concurrent creates and
//! updates, full and paginated lists of 10,000 objects, and watch fan-out to several watchers.
//! Run with `cargo bench --bench apiserver`; figures go to `docs/benchmarks.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube_sandbox::{ApiServer, ApiServerConfig};
use serde_json::json;

const OBJECTS: usize = 10_000;
const VALUE_BYTES: usize = 2_000;
const CONCURRENCY: usize = 32;
const WATCHERS: usize = 8;
const WATCHED_UPDATES: usize = 5_000;

fn configmap(name: &str, payload: &str, round: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "bench", "shard": (round % 10).to_string()}},
        "data": {"payload": payload, "round": round.to_string()},
    }))
    .unwrap_or_default()
}

async fn run_concurrently<F, Fut>(total: usize, operation: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let operation = Arc::new(operation);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let operation = operation.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                if index >= total {
                    break;
                }
                operation(index).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    started.elapsed()
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

async fn bench() {
    let server = ApiServer::start(ApiServerConfig::default())
        .await
        .expect("server starts");
    let base = format!("{}/api/v1/namespaces/default/configmaps", server.url());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let payload: Arc<str> = Arc::from("x".repeat(VALUE_BYTES));

    let elapsed = {
        let (http, base, payload) = (http.clone(), base.clone(), payload.clone());
        run_concurrently(OBJECTS, move |index| {
            let (http, base, payload) = (http.clone(), base.clone(), payload.clone());
            async move {
                let response = http
                    .post(&base)
                    .header("content-type", "application/json")
                    .body(configmap(&format!("cm-{index:05}"), &payload, 0))
                    .send()
                    .await
                    .expect("create");
                assert_eq!(response.status(), 201);
                let _ = response.bytes().await;
            }
        })
        .await
    };
    println!(
        "create: {OBJECTS} ConfigMaps of ~{VALUE_BYTES} B, {CONCURRENCY} concurrent clients: {:.0} creates/s",
        per_second(OBJECTS, elapsed)
    );

    let lists = 20;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..lists {
        let body = http
            .get(&base)
            .send()
            .await
            .expect("list")
            .bytes()
            .await
            .expect("body");
        bytes += body.len();
    }
    let elapsed = started.elapsed();
    println!(
        "list: all {OBJECTS} objects ({:.1} MB per list): {:.1} lists/s, {:.0} MB/s, {:.1} ms per list",
        bytes as f64 / lists as f64 / 1e6,
        per_second(lists, elapsed),
        bytes as f64 / 1e6 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / lists as f64
    );

    let started = Instant::now();
    let mut pages = 0;
    let mut token = String::new();
    loop {
        let url = format!("{base}?limit=500&continue={token}");
        let page: serde_json::Value = http
            .get(&url)
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("json");
        pages += 1;
        match page["metadata"]["continue"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_string(),
            _ => break,
        }
    }
    println!(
        "list: paginated (limit=500): {pages} pages in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    let started = Instant::now();
    for _ in 0..lists {
        let body = http
            .get(format!("{base}?labelSelector=shard%3D3"))
            .send()
            .await
            .expect("list");
        let _ = body.bytes().await;
    }
    println!(
        "list: label selector matching none of {OBJECTS}: {:.1} ms per list",
        started.elapsed().as_secs_f64() * 1000.0 / lists as f64
    );

    // Watch fan-out: WATCHERS watchers from the current version, WATCHED_UPDATES updates.
    let from: serde_json::Value = http
        .get(format!("{base}?limit=1"))
        .send()
        .await
        .expect("rv")
        .json()
        .await
        .expect("json");
    let from = from["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let received = Arc::new(AtomicU64::new(0));
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let response = http
            .get(format!(
                "{base}?watch=true&resourceVersion={from}&timeoutSeconds=600"
            ))
            .send()
            .await
            .expect("watch");
        let received = received.clone();
        watchers.push(tokio::spawn(async move {
            let mut stream = response.bytes_stream();
            let mut seen = 0usize;
            while let Some(Ok(chunk)) = stream.next().await {
                let lines = chunk.iter().filter(|b| **b == b'\n').count();
                seen += lines;
                received.fetch_add(lines as u64, Ordering::Relaxed);
                if seen >= WATCHED_UPDATES {
                    break;
                }
            }
        }));
    }
    let writes_elapsed = {
        let (http, base, payload) = (http.clone(), base.clone(), payload.clone());
        run_concurrently(WATCHED_UPDATES, move |index| {
            let (http, base, payload) = (http.clone(), base.clone(), payload.clone());
            async move {
                let name = format!("cm-{:05}", index % OBJECTS);
                let response = http
                    .put(format!("{base}/{name}"))
                    .header("content-type", "application/json")
                    .body(configmap(&name, &payload, index + 1))
                    .send()
                    .await
                    .expect("update");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await;
            }
        })
        .await
    };
    let started = Instant::now();
    for watcher in watchers {
        let _ = watcher.await;
    }
    let drained = started.elapsed();
    let total = writes_elapsed + drained;
    println!(
        "update with {WATCHERS} watchers: {:.0} updates/s; all {} events delivered {:.0} ms after the last write ({:.0} events/s across watchers)",
        per_second(WATCHED_UPDATES, writes_elapsed),
        received.load(Ordering::Relaxed),
        drained.as_secs_f64() * 1000.0,
        received.load(Ordering::Relaxed) as f64 / total.as_secs_f64()
    );
    server.shutdown().await;
}

fn main() {
    portico_telemetry::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}
