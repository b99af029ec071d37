//! `portico bench`: N AIModels against the sandbox API server and the reference gateway, with
//! the operator in a child process (its RSS is then its own, and a restart is a real kill).
//! Measures convergence, the rate-limit bound, the quiet steady state, memory, a crash restart
//! and reconcile latency; prints `key=value` lines and a `summary:` line; fails on a missed target.

mod operator_child;
mod proc_status;
mod timing;

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use kube_sandbox::{ApiServer, ApiServerConfig, StatsSnapshot};

use crate::stack::{Stack, StackBuilder, put_secret};
use portico_api::{AIModel, CONDITION_READY};
use portico_gateway::{GatewayConfig, ReferenceGateway, Stats as GatewayStats};
pub use timing::{ReconcileStats, ReconcileTimes};

/// Namespace the benchmark's AIModels live in.
const NAMESPACE: &str = "bench";
/// Gateway operations that change something.
const GATEWAY_WRITES: [&str; 7] = [
    "upsertModel",
    "deleteModel",
    "upsertModelKey",
    "deleteModelKey",
    "upsertDatabase",
    "deleteDatabase",
    "rotateDatabaseCredentials",
];
/// Targets (issue 7).
const RATIO_TARGET: f64 = 1.10;
const THROTTLED_FRACTION_TARGET: f64 = 0.01;
const RSS_TARGET_MIB: f64 = 100.0;

/// Flags of `portico bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Number of AIModels.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// The reference gateway's server-side limit in calls per second (0 = unlimited); the
    /// operator's own limiter is set just under it.
    #[arg(long, default_value_t = 0.0)]
    pub gateway_rate: f64,
    /// The operator's drift-check interval; the steady state is observed for
    /// `--steady-intervals` of these.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Poll intervals observed in the steady state.
    #[arg(long, default_value_t = 3)]
    pub steady_intervals: u32,
    /// Reconciles running at once in the operator.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// The operator's gateway limiter in calls per second (default: 98% of --gateway-rate,
    /// or effectively unlimited).
    #[arg(long)]
    pub operator_qps: Option<f64>,
    /// The operator's gateway limiter burst (default: a quarter of a second's calls, ≥ 1).
    #[arg(long)]
    pub operator_burst: Option<u32>,
    /// AIModel creations in flight at once.
    #[arg(long, default_value_t = 32)]
    pub create_concurrency: usize,
    /// Longest wait for convergence (and for the restart to resume).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Skip the kill-and-restart phase.
    #[arg(long)]
    pub skip_restart: bool,
    /// Give every AIModel the `kubectl.kubernetes.io/last-applied-configuration` annotation that
    /// `kubectl apply` writes (a copy of the manifest), as objects in real clusters usually have.
    #[arg(long)]
    pub last_applied: bool,
    /// Internal: run as the operator child process.
    #[arg(long, hide = true)]
    pub operator_child: bool,
    /// Internal (child): the sandbox API server.
    #[arg(long, hide = true)]
    pub apiserver_url: Option<String>,
    /// Internal (child): the reference gateway.
    #[arg(long, hide = true)]
    pub gateway_url: Option<String>,
}

impl BenchArgs {
    fn rate_limit(&self) -> Option<f64> {
        (self.gateway_rate.is_finite() && self.gateway_rate > 0.0).then_some(self.gateway_rate)
    }

    fn operator_qps(&self) -> f64 {
        self.operator_qps
            .unwrap_or_else(|| self.rate_limit().map_or(1_000_000.0, |rate| rate * 0.98))
    }

    fn operator_burst(&self) -> u32 {
        self.operator_burst
            .unwrap_or_else(|| ((self.operator_qps() / 4.0).floor() as u32).clamp(1, 10_000))
    }
}

/// Runs the benchmark (or, with `--operator-child`, its operator process).
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.operator_child {
        let settings = operator_child::ChildSettings {
            apiserver_url: args
                .apiserver_url
                .clone()
                .context("--apiserver-url is required")?,
            gateway_url: args
                .gateway_url
                .clone()
                .context("--gateway-url is required")?,
            poll_interval: args.poll_interval,
            concurrency: args.concurrency,
            gateway_qps: args.operator_qps(),
            gateway_burst: args.operator_burst(),
        };
        return operator_child::run(settings).await;
    }
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .try_init();
    if cfg!(debug_assertions) {
        eprintln!(
            "portico bench: this is a debug build; its figures are not comparable (build with --release)"
        );
    }
    let report = Bench::start(&args).await?.measure().await?;
    report.print();
    let missed = report.missed();
    if missed.is_empty() {
        Ok(())
    } else {
        bail!("targets missed: {}", missed.join("; "))
    }
}

/// The operator child process and its control pipes.
struct OperatorProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    pid: u32,
}

impl OperatorProcess {
    fn spawn(
        args: &BenchArgs,
        apiserver: &ApiServer,
        gateway: &ReferenceGateway,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("failed to find the portico executable")?;
        let mut child = tokio::process::Command::new(exe)
            .arg("bench")
            .arg("--operator-child")
            .args(["--apiserver-url", &apiserver.url()])
            .args(["--gateway-url", &gateway.url()])
            .arg("--poll-interval")
            .arg(humantime::format_duration(args.poll_interval).to_string())
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--operator-qps", &args.operator_qps().to_string()])
            .args(["--operator-burst", &args.operator_burst().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("failed to start the operator process")?;
        let pid = child.id().context("the operator process has no pid")?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("no stdout pipe")?).lines();
        Ok(Self {
            child,
            stdin,
            stdout,
            pid,
        })
    }

    fn memory(&self) -> anyhow::Result<proc_status::Memory> {
        proc_status::Memory::of_pid(self.pid)
    }

    async fn reconcile_stats(&mut self) -> anyhow::Result<ReconcileStats> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the operator's stdin is closed")?;
        stdin.write_all(b"stats\n").await?;
        stdin.flush().await?;
        let line = tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .context("the operator did not answer `stats`")??
            .context("the operator exited")?;
        Ok(serde_json::from_str(&line)?)
    }

    /// SIGKILL: what a crash or an OOM kill does.
    async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Closes stdin, which the operator takes as SIGTERM; returns how long it took to stop.
    async fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        drop(self.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .context("the operator did not stop within 60 s")??;
        if !status.success() {
            bail!("the operator exited with {status}");
        }
        Ok(started.elapsed())
    }
}

/// The sandbox, the watcher of readiness and the operator.
struct Bench<'a> {
    args: &'a BenchArgs,
    stack: Stack,
    ready: tokio::sync::watch::Receiver<usize>,
    operator: Option<OperatorProcess>,
}

/// One reading of both servers' counters.
struct Counters {
    gateway: GatewayStats,
    apiserver: StatsSnapshot,
}

impl Counters {
    fn gateway_calls(&self, operation: &str) -> u64 {
        self.gateway
            .requests
            .iter()
            .filter(|r| r.operation == operation)
            .map(|r| r.count)
            .sum()
    }

    fn gateway_total(&self, filter: impl Fn(&str, u16) -> bool) -> u64 {
        self.gateway
            .requests
            .iter()
            .filter(|r| filter(r.operation, r.status))
            .map(|r| r.count)
            .sum()
    }

    fn gateway_writes(&self) -> u64 {
        self.gateway_total(|operation, _| GATEWAY_WRITES.contains(&operation))
    }
}

/// Differences between two readings.
struct Delta<'a> {
    before: &'a Counters,
    after: &'a Counters,
}

impl Delta<'_> {
    fn gateway(&self, filter: impl Fn(&str, u16) -> bool + Copy) -> u64 {
        self.after.gateway_total(filter) - self.before.gateway_total(filter)
    }

    fn gateway_by_operation(&self) -> BTreeMap<String, u64> {
        let mut operations: BTreeMap<String, u64> = BTreeMap::new();
        for request in &self.after.gateway.requests {
            operations.entry(request.operation.to_string()).or_default();
        }
        operations
            .into_keys()
            .map(|operation| {
                let count =
                    self.after.gateway_calls(&operation) - self.before.gateway_calls(&operation);
                (operation, count)
            })
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    fn gateway_writes(&self) -> u64 {
        self.after.gateway_writes() - self.before.gateway_writes()
    }

    fn apiserver_writes(&self) -> u64 {
        self.after.apiserver.total_write_requests() - self.before.apiserver.total_write_requests()
    }

    fn apiserver_requests(&self) -> BTreeMap<(String, String), u64> {
        self.after
            .apiserver
            .requests
            .iter()
            .map(|(key, after)| {
                let before = self
                    .before
                    .apiserver
                    .requests
                    .get(key)
                    .copied()
                    .unwrap_or(0);
                (key.clone(), after - before)
            })
            .filter(|(_, count)| *count > 0)
            .collect()
    }
}

impl<'a> Bench<'a> {
    async fn start(args: &'a BenchArgs) -> anyhow::Result<Bench<'a>> {
        let mut gateway_config = GatewayConfig::new(operator_child::gateway_token());
        gateway_config.rate_limit = args.rate_limit();
        let stack = StackBuilder::new(operator_child::gateway_token())
            .gateway(gateway_config)
            .apiserver(ApiServerConfig {
                // Every object changes a handful of times while converging; a history that
                // holds all of it keeps a slow watcher from being sent back to relist (410).
                history_limit: (args.count * 20).max(20_000),
                ..ApiServerConfig::default()
            })
            .namespace(NAMESPACE)
            .start()
            .await?;
        put_secret(
            &stack.client,
            NAMESPACE,
            "provider-key",
            "apiKey",
            "sk-bench-provider-key",
        )
        .await?;
        let ready = watch_readiness(&stack.client);
        Ok(Bench {
            args,
            stack,
            ready,
            operator: None,
        })
    }

    fn counters(&self) -> Counters {
        Counters {
            gateway: self.stack.gateway.stats(),
            apiserver: self.stack.apiserver.stats(),
        }
    }

    /// Starts an operator process and waits until its watches are open.
    async fn start_operator(&mut self) -> anyhow::Result<()> {
        let watches = |bench: &Self| {
            let stats = bench.stack.apiserver.stats();
            stats.count("watch", "aimodels.portico.dev")
                + stats.count("watch", "manageddatabases.portico.dev")
        };
        let before = watches(self);
        self.operator = Some(OperatorProcess::spawn(
            self.args,
            &self.stack.apiserver,
            &self.stack.gateway,
        )?);
        wait_for(
            "the operator to open its watches",
            Duration::from_secs(60),
            || (watches(self) >= before + 2).then_some(()),
        )
        .await?;
        Ok(())
    }

    fn operator(&mut self) -> anyhow::Result<&mut OperatorProcess> {
        self.operator.as_mut().context("no operator running")
    }

    async fn create_models(&self) -> anyhow::Result<()> {
        let api: Api<AIModel> = Api::namespaced(self.stack.client.clone(), NAMESPACE);
        futures::stream::iter(0..self.args.count)
            .map(|index| {
                let api = api.clone();
                async move {
                    let model: AIModel =
                        serde_json::from_value(model_manifest(index, self.args.last_applied))?;
                    api.create(&PostParams::default(), &model).await?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(self.args.create_concurrency.max(1))
            .try_collect::<()>()
            .await
    }

    /// Waits until the API server's write count has not moved for a second (events are
    /// published after the status write that makes an object Ready).
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = self.stack.apiserver.stats().total_write_requests();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.stack.apiserver.stats().total_write_requests();
            if now == last {
                return;
            }
            last = now;
        }
    }

    async fn measure(mut self) -> anyhow::Result<Report> {
        let args = self.args;
        let n = args.count as f64;
        let mut report = Report::new(args);
        let own_memory_before = proc_status::Memory::of_self()?;
        self.start_operator().await?;
        // The operator's footprint with empty caches, for the per-CR cost.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let baseline = self.operator()?.memory()?;
        report.put("operator_baseline_rss_mib", mib(baseline.rss_kib));

        // Convergence.
        let before_create = self.counters();
        let operator_pid = self.operator()?.pid;
        let operator_cpu_before = proc_status::cpu_seconds(Some(operator_pid))?;
        let sandbox_cpu_before = proc_status::cpu_seconds(None)?;
        let started = Instant::now();
        self.create_models().await?;
        let created_in = started.elapsed();
        let mut ready = self.ready.clone();
        tokio::time::timeout(args.timeout, ready.wait_for(|ready| *ready >= args.count))
            .await
            .context("timed out waiting for every AIModel to be Ready")??;
        let convergence = started.elapsed();
        let operator_cpu = proc_status::cpu_seconds(Some(operator_pid))? - operator_cpu_before;
        let sandbox_cpu = proc_status::cpu_seconds(None)? - sandbox_cpu_before;
        self.settle().await;
        let converged = self.counters();
        let convergence_stats = self.operator()?.reconcile_stats().await?;
        let delta = Delta {
            before: &before_create,
            after: &converged,
        };
        let calls = delta.gateway(|_, status| status != 429);
        let throttled = delta.gateway(|_, status| status == 429);
        let calls_per_cr = calls as f64 / n;
        report.put("count", args.count);
        report.put("gateway_rate", args.gateway_rate);
        report.put("operator_qps", args.operator_qps());
        report.put("operator_burst", args.operator_burst());
        report.put("concurrency", args.concurrency);
        report.put("create_seconds", secs(created_in));
        report.put("convergence_seconds", secs(convergence));
        // Where the two cores went while converging: the operator process, and this process
        // (the sandbox API server, the reference gateway and the bench's own watch).
        report.put("convergence_operator_cpu_seconds", operator_cpu);
        report.put("convergence_sandbox_cpu_seconds", sandbox_cpu);
        report.put("operator_cpu_ms_per_cr", operator_cpu * 1000.0 / n);
        report.put(
            "reconciles_per_second",
            convergence_stats.worked as f64 / convergence.as_secs_f64(),
        );
        report.put("reconciles_per_cr", convergence_stats.worked as f64 / n);
        report.put(
            "gated_reconciles_per_cr",
            convergence_stats.gated as f64 / n,
        );
        report.put("gateway_calls_per_cr", calls_per_cr);
        for (operation, count) in delta.gateway_by_operation() {
            report.put(
                &format!("gateway_calls_per_cr.{operation}"),
                count as f64 / n,
            );
        }
        report.put("gateway_429", throttled);
        let throttled_fraction = throttled as f64 / (calls + throttled).max(1) as f64;
        report.put("gateway_429_fraction", throttled_fraction);
        // The bench's own creates are not the operator's writes.
        let operator_writes = delta.apiserver_writes().saturating_sub(args.count as u64);
        report.put("apiserver_writes_per_cr", operator_writes as f64 / n);
        for ((verb, resource), count) in delta.apiserver_requests() {
            let own = if verb == "create" && resource == "aimodels.portico.dev" {
                args.count as u64
            } else {
                0
            };
            if count > own {
                report.put(
                    &format!("apiserver_requests_per_cr.{verb}.{resource}"),
                    (count - own) as f64 / n,
                );
            }
        }
        if let Some(rate) = args.rate_limit() {
            let bound = n * calls_per_cr / rate;
            let ratio = convergence.as_secs_f64() / bound;
            report.put("convergence_bound_seconds", bound);
            report.put("convergence_ratio", ratio);
            report.check(
                "convergence_ratio",
                ratio <= RATIO_TARGET,
                format!("{ratio:.3} > {RATIO_TARGET}"),
            );
            report.check(
                "gateway_429_fraction",
                throttled_fraction <= THROTTLED_FRACTION_TARGET,
                format!("{throttled_fraction:.4} > {THROTTLED_FRACTION_TARGET}"),
            );
        }

        // Steady state.
        let window = args.poll_interval * args.steady_intervals.max(1);
        if let Some(rate) = args.rate_limit()
            && n / args.poll_interval.as_secs_f64() > rate
        {
            tracing::warn!(
                "{} drift checks per second exceed the gateway limit of {rate}/s; raise --poll-interval",
                n / args.poll_interval.as_secs_f64()
            );
        }
        let operator_cpu_before = proc_status::cpu_seconds(Some(operator_pid))?;
        tokio::time::sleep(window).await;
        let steady = self.counters();
        let steady_operator_cpu =
            proc_status::cpu_seconds(Some(operator_pid))? - operator_cpu_before;
        let delta = Delta {
            before: &converged,
            after: &steady,
        };
        let intervals = f64::from(args.steady_intervals.max(1));
        report.put("steady_seconds", secs(window));
        report.put(
            "steady_operator_cpu_percent",
            steady_operator_cpu * 100.0 / window.as_secs_f64(),
        );
        report.put("steady_gateway_writes", delta.gateway_writes());
        report.put("steady_apiserver_writes", delta.apiserver_writes());
        report.put(
            "steady_gateway_gets_per_interval",
            delta.gateway(|operation, _| operation.starts_with("get")) as f64 / intervals,
        );
        let apiserver_gets: u64 = delta
            .apiserver_requests()
            .iter()
            .filter(|((verb, _), _)| verb == "get")
            .map(|(_, count)| count)
            .sum();
        report.put(
            "steady_apiserver_gets_per_interval",
            apiserver_gets as f64 / intervals,
        );
        report.put(
            "steady_gateway_429",
            delta.gateway(|_, status| status == 429),
        );
        report.check(
            "steady_gateway_writes",
            delta.gateway_writes() == 0,
            format!("{} > 0", delta.gateway_writes()),
        );
        report.check(
            "steady_apiserver_writes",
            delta.apiserver_writes() == 0,
            format!("{} > 0", delta.apiserver_writes()),
        );

        // Memory and latency, with N Ready objects cached.
        let memory = self.operator()?.memory()?;
        let peak = mib(memory.hwm_kib);
        report.put("peak_rss_mib", peak);
        report.put("rss_mib", mib(memory.rss_kib));
        report.put(
            "rss_per_cr_kib",
            memory.hwm_kib.saturating_sub(baseline.rss_kib) as f64 / n,
        );
        report.check(
            "peak_rss_mib",
            peak <= RSS_TARGET_MIB,
            format!("{peak:.1} > {RSS_TARGET_MIB}"),
        );
        let stats = self.operator()?.reconcile_stats().await?;
        report.put("reconcile_p50_ms", stats.own_p50_ms);
        report.put("reconcile_p99_ms", stats.own_p99_ms);
        report.put("reconcile_total_p50_ms", stats.total_p50_ms);
        report.put("reconcile_total_p99_ms", stats.total_p99_ms);
        report.put("reconcile_gateway_p50_ms", stats.gateway_p50_ms);
        report.put("reconcile_gateway_p99_ms", stats.gateway_p99_ms);
        report.put("reconciles_worked", stats.worked);
        report.put("reconciles_gated", stats.gated);

        // Crash restart with N Ready objects.
        if !args.skip_restart {
            self.operator
                .take()
                .context("no operator running")?
                .kill()
                .await?;
            let before = self.counters();
            let started = Instant::now();
            self.start_operator().await?;
            // Resumed: the new process has taken every object in hand once (an object that was
            // in sync only has its first drift check scheduled, somewhere in the poll interval).
            let deadline = started + args.timeout;
            loop {
                let stats = self.operator()?.reconcile_stats().await?;
                if stats.worked + stats.gated >= args.count as u64 {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "timed out waiting for the restarted operator to take every object in hand"
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let resumed = started.elapsed();
            // Re-checked: every object made its first drift check (one getModel each). The
            // busiest second shows whether they came as one burst or spread out.
            let target = before.gateway_calls("getModel") + args.count as u64;
            let mut samples: std::collections::VecDeque<(Instant, u64)> = Default::default();
            let mut peak_per_second = 0u64;
            loop {
                let gets = Counters {
                    gateway: self.stack.gateway.stats(),
                    apiserver: StatsSnapshot::default(),
                }
                .gateway_calls("getModel");
                let now = Instant::now();
                samples.push_back((now, gets));
                while samples
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > Duration::from_secs(1))
                {
                    samples.pop_front();
                }
                if let Some((_, oldest)) = samples.front() {
                    peak_per_second = peak_per_second.max(gets - oldest);
                }
                if gets >= target {
                    break;
                }
                if now >= deadline {
                    bail!("timed out waiting for the restarted operator to re-check every object");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let rechecked = started.elapsed();
            self.settle().await;
            let after = self.counters();
            let delta = Delta {
                before: &before,
                after: &after,
            };
            report.put("restart_resume_seconds", secs(resumed));
            report.put("restart_recheck_seconds", secs(rechecked));
            report.put("restart_peak_gets_per_second", peak_per_second);
            report.put("restart_gateway_writes", delta.gateway_writes());
            report.put("restart_apiserver_writes", delta.apiserver_writes());
            report.put(
                "restart_gateway_gets_per_cr",
                delta.gateway(|operation, _| operation.starts_with("get")) as f64 / n,
            );
            report.check(
                "restart_gateway_writes",
                delta.gateway_writes() == 0,
                format!("{} > 0", delta.gateway_writes()),
            );
            let restarted = self.operator()?.memory()?;
            report.put("restart_peak_rss_mib", mib(restarted.hwm_kib));
        }
        let stopped_in = self
            .operator
            .take()
            .context("no operator running")?
            .stop()
            .await?;
        report.put("shutdown_seconds", secs(stopped_in));
        let own_memory = proc_status::Memory::of_self()?;
        report.put("sandbox_peak_rss_mib", mib(own_memory.hwm_kib));
        report.put(
            "sandbox_rss_growth_mib",
            mib(own_memory.hwm_kib.saturating_sub(own_memory_before.rss_kib)),
        );
        Ok(report)
    }
}

/// Keeps a count of the AIModels whose `Ready` condition is `True` for their generation.
fn watch_readiness(client: &kube::Client) -> tokio::sync::watch::Receiver<usize> {
    let (sender, receiver) = tokio::sync::watch::channel(0usize);
    let api: Api<AIModel> = Api::namespaced(client.clone(), NAMESPACE);
    tokio::spawn(async move {
        let mut ready: HashSet<String> = HashSet::new();
        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(model) | watcher::Event::InitApply(model)) => {
                    let name = model.metadata.name.clone().unwrap_or_default();
                    if is_ready(&model) {
                        ready.insert(name);
                    } else {
                        ready.remove(&name);
                    }
                }
                Ok(watcher::Event::Delete(model)) => {
                    ready.remove(&model.metadata.name.clone().unwrap_or_default());
                }
                Ok(watcher::Event::Init) => ready.clear(),
                Ok(watcher::Event::InitDone) => {}
                Err(error) => {
                    tracing::warn!(%error, "readiness watch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            sender.send_replace(ready.len());
        }
    });
    receiver
}

fn is_ready(model: &AIModel) -> bool {
    let Some(status) = &model.status else {
        return false;
    };
    status.observed_generation == model.metadata.generation
        && status
            .conditions
            .iter()
            .any(|c| c.type_ == CONDITION_READY && c.status == "True")
}

fn model_manifest(index: usize, last_applied: bool) -> serde_json::Value {
    let mut manifest = serde_json::json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "AIModel",
        "metadata": {"name": format!("model-{index:05}"), "namespace": NAMESPACE},
        "spec": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "providerCredentials": {"name": "provider-key", "key": "apiKey"},
            "promptTemplate": {
                "system": "You summarise text.",
                "template": "Summarise: {{input}}",
            },
            "parameters": {"temperature": 0.2},
            "limits": {"requestsPerMinute": 600},
        },
    });
    if last_applied {
        let applied = manifest.to_string();
        manifest["metadata"]["annotations"] =
            serde_json::json!({ "kubectl.kubernetes.io/last-applied-configuration": applied });
    }
    manifest
}

async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The metrics in the order measured, and the targets missed.
struct Report {
    lines: Vec<(String, String)>,
    missed: Vec<String>,
    label: String,
}

impl Report {
    fn new(args: &BenchArgs) -> Self {
        let rate = args
            .rate_limit()
            .map_or("unlimited".to_string(), |rate| format!("{rate}/s"));
        Self {
            lines: Vec::new(),
            missed: Vec::new(),
            label: format!(
                "n={} gateway_rate={rate} poll_interval={}{}",
                args.count,
                humantime::format_duration(args.poll_interval),
                if args.last_applied {
                    " last_applied"
                } else {
                    ""
                }
            ),
        }
    }

    fn put(&mut self, key: &str, value: impl Into<MetricValue>) {
        self.lines.push((key.to_string(), value.into().0));
    }

    fn check(&mut self, key: &str, passed: bool, why: String) {
        if !passed {
            self.missed.push(format!("{key} {why}"));
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn missed(&self) -> &[String] {
        &self.missed
    }

    fn print(&self) {
        let build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        println!("build={build}");
        for (key, value) in &self.lines {
            println!("{key}={value}");
        }
        let headline: Vec<String> = [
            "convergence_seconds",
            "convergence_ratio",
            "gateway_calls_per_cr",
            "apiserver_writes_per_cr",
            "steady_gateway_writes",
            "steady_apiserver_writes",
            "peak_rss_mib",
            "restart_gateway_writes",
            "reconcile_p50_ms",
            "reconcile_p99_ms",
        ]
        .iter()
        .filter_map(|key| self.get(key).map(|value| format!("{key}={value}")))
        .collect();
        let verdict = if self.missed.is_empty() {
            "PASS".to_string()
        } else {
            format!("FAIL ({})", self.missed.join("; "))
        };
        println!("summary: {verdict} {} {}", self.label, headline.join(" "));
    }
}

/// A metric formatted for a `key=value` line.
struct MetricValue(String);

impl From<f64> for MetricValue {
    fn from(value: f64) -> Self {
        Self(format!("{value:.3}"))
    }
}

impl From<u64> for MetricValue {
    fn from(value: u64) -> Self {
        Self(value.to_string())
    }
}

impl From<usize> for MetricValue {
    fn from(value: usize) -> Self {
        Self(value.to_string())
    }
}

impl From<u32> for MetricValue {
    fn from(value: u32) -> Self {
        Self(value.to_string())
    }
}

impl From<u16> for MetricValue {
    fn from(value: u16) -> Self {
        Self(value.to_string())
    }
}
