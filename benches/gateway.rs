//! Throughput and latency of the reference gateway, driven over loopback HTTP both raw (reqwest)
//! and through `GatewayClient`. Run with `cargo bench --bench gateway`; figures go to
//! `docs/benchmarks.md` ("Reference gateway").
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portico_gateway::{GatewayConfig, ReferenceGateway};
use portico_gateway_client::{GatewayClient, GatewayClientConfig, ModelSpec};
use secrecy::SecretString;

const TOKEN: &str = "bench-token";
const CONCURRENCY: usize = 32;
const RUN_FOR: Duration = Duration::from_secs(5);

fn spec() -> ModelSpec {
    ModelSpec {
        provider: "openai".into(),
        upstream_model: "gpt-4o-mini".into(),
        provider_credential: Some(SecretString::from("sk-bench")),
        prompt_template: None,
        parameters: None,
        limits: None,
        upstream: None,
    }
}

struct Figures {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn print(&mut self, name: &str) {
        self.latencies.sort();
        let pick = |q: f64| {
            let index = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies.get(index).copied().unwrap_or_default()
        };
        println!(
            "{name:<44} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} requests, {} concurrent)",
            self.requests as f64 / self.elapsed.as_secs_f64(),
            pick(0.5).as_secs_f64() * 1000.0,
            pick(0.99).as_secs_f64() * 1000.0,
            self.requests,
            CONCURRENCY,
        );
    }
}

/// Runs `call` from `CONCURRENCY` tasks for `RUN_FOR`.
async fn drive<F, Fut>(call: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (call, stop) = (call.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let begun = Instant::now();
                assert!(call(worker * 1_000_000 + n).await, "a request failed");
                latencies.push(begun.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    tokio::time::sleep(RUN_FOR).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("worker"));
    }
    Figures {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    }
}

fn main() {
    portico_telemetry::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let gateway = ReferenceGateway::start(GatewayConfig::new(SecretString::from(TOKEN)))
            .await
            .expect("gateway");
        let client = GatewayClient::new(
            GatewayClientConfig {
                qps: 1_000_000.0,
                burst: 1_000_000,
                ..GatewayClientConfig::new(gateway.url())
            },
            SecretString::from(TOKEN),
        )
        .expect("client");
        for i in 0..100 {
            client
                .upsert_model("bench", &format!("model-{i}"), &spec())
                .await
                .expect("seed model");
        }
        let http = reqwest::Client::new();
        let base = gateway.url();
        println!(
            "reference gateway on {} ({} CPUs)",
            base,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );

        let (h, b) = (http.clone(), base.clone());
        drive(move |n| {
            let (http, base) = (h.clone(), b.clone());
            async move {
                http.get(format!(
                    "{base}/v1/namespaces/bench/models/model-{}",
                    n % 100
                ))
                .bearer_auth(TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            }
        })
        .await
        .print("raw reqwest GET model");

        let (h, b) = (http.clone(), base.clone());
        let body = serde_json::json!({"provider": "openai", "upstreamModel": "gpt-4o-mini"});
        drive(move |n| {
            let (http, base, body) = (h.clone(), b.clone(), body.clone());
            async move {
                http.put(format!(
                    "{base}/v1/namespaces/bench/models/model-{}",
                    n % 100
                ))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
        .print("raw reqwest PUT model (upsert)");

        let c = client.clone();
        drive(move |n| {
            let client = c.clone();
            async move {
                client
                    .get_model("bench", &format!("model-{}", n % 100))
                    .await
                    .is_ok()
            }
        })
        .await
        .print("GatewayClient get_model");

        let c = client.clone();
        drive(move |n| {
            let client = c.clone();
            async move {
                client
                    .upsert_model("bench", &format!("model-{}", n % 100), &spec())
                    .await
                    .is_ok()
            }
        })
        .await
        .print("GatewayClient upsert_model");

        let stats = gateway.stats();
        println!("gateway holds {} models", stats.objects.models);
        gateway.shutdown().await;
    });
}
