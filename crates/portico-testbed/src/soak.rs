//! The `portico soak` command: a seeded, reproducible chaos run against the sandbox (API server,
//! reference gateway and operator replicas in one process). A random workload of creates,
//! updates, deletes and Secret rotations runs under injected faults; afterwards, with the faults
//! cleared, the invariants (no orphans, no duplicates, no stuck deletions, matching connection
//! Secrets, no panics, no leaked secrets) must hold within a bound. See `docs/reliability.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stack::{Stack, StackBuilder};

use portico_api::{AIModel, CONDITION_READY, CONDITION_SYNCED, ManagedDatabase};
use portico_gateway::{GatewayConfig, ScriptedFault};
use portico_gateway_client::{GatewayClient, GatewayClientConfig};
use portico_operator::controller::gate::GatePolicy;
use portico_operator::controller::{Context, OperatorConfig, RunError};
use portico_operator::leader::LeaderElectionConfig;

/// Namespace the soak's objects live in.
pub const SOAK_NAMESPACE: &str = "soak";
const SYSTEM_NAMESPACE: &str = "portico-system";
const PROVIDER_SECRET: &str = "provider-key";
/// `Synced` reasons that end a reconcile until an input changes.
const TERMINAL_REASONS: [&str; 5] = [
    "CredentialsMissing",
    "InvalidSpec",
    "ProvisioningFailed",
    "Unauthorized",
    "Conflict",
];

/// Flags of `portico soak`.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Seed of the random workload and faults; the same seed replays the same decisions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long the workload and the faults run.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Operator replicas running at once, killed and restarted independently; they elect a
    /// leader through a Lease, as `portico run --leader-election` does.
    #[arg(long, default_value_t = 2)]
    pub replicas: usize,
    /// Most custom resources alive at once.
    #[arg(long, default_value_t = 24)]
    pub max_objects: usize,
    /// Probability of a gateway `503` while the 503 fault is on.
    #[arg(long, default_value_t = 0.2)]
    pub fault_rate: f64,
    /// Latency the gateway adds to every call while the 503 fault is on.
    #[arg(long, default_value = "40ms", value_parser = humantime::parse_duration)]
    pub fault_latency: Duration,
    /// Time allowed, once the faults are cleared, for every invariant to hold.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub settle_timeout: Duration,
}

impl Default for SoakArgs {
    fn default() -> Self {
        Self {
            seed: 1,
            duration: Duration::from_secs(60),
            replicas: 2,
            max_objects: 24,
            fault_rate: 0.2,
            fault_latency: Duration::from_millis(40),
            settle_timeout: Duration::from_secs(120),
        }
    }
}

/// Why a soak could not run.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// The test stack (API server, gateway, CRDs, namespaces, token Secret) did not start.
    #[error("failed to start the sandbox: {0}")]
    Stack(String),
    /// A client could not be built.
    #[error("failed to build a gateway client: {0}")]
    Client(String),
}

/// What a soak did and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakReport {
    /// The seed.
    pub seed: u64,
    /// Workload operations by type.
    pub operations: BTreeMap<&'static str, u64>,
    /// Faults injected by type.
    pub faults: BTreeMap<&'static str, u64>,
    /// Operator replica starts after the first ones (after kills and graceful stops).
    pub restarts: u64,
    /// Times the leader Lease changed hands (its `leaseTransitions`).
    pub leader_changes: i64,
    /// Samples (one per workload step) in which more than one running replica was leading.
    pub leader_overlaps: u64,
    /// Workload requests the API server refused (conflicts and the like; not violations).
    pub workload_errors: u64,
    /// Custom resources alive at the end, and deleted during the run.
    pub survivors: usize,
    /// Custom resources deleted during the run.
    pub deleted: usize,
    /// Gateway calls by operation and status during the whole run.
    pub gateway_calls: BTreeMap<String, u64>,
    /// Time from clearing the faults until every invariant held.
    pub settle_seconds: f64,
    /// Invariants that did not hold (empty when the soak passed).
    pub violations: Vec<String>,
}

impl SoakReport {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "soak seed {}", self.seed)?;
        let total: u64 = self.operations.values().sum();
        writeln!(f, "operations ({total}):")?;
        for (name, count) in &self.operations {
            writeln!(f, "  {name:<28} {count}")?;
        }
        let total: u64 = self.faults.values().sum();
        writeln!(f, "faults injected ({total}):")?;
        for (name, count) in &self.faults {
            writeln!(f, "  {name:<28} {count}")?;
        }
        writeln!(f, "operator restarts: {}", self.restarts)?;
        writeln!(
            f,
            "leader changes: {} (samples with two leaders: {})",
            self.leader_changes, self.leader_overlaps
        )?;
        writeln!(f, "workload requests refused: {}", self.workload_errors)?;
        writeln!(
            f,
            "resources: {} surviving, {} deleted",
            self.survivors, self.deleted
        )?;
        let calls: u64 = self.gateway_calls.values().sum();
        writeln!(f, "gateway calls: {calls}")?;
        writeln!(f, "settled in {:.1}s", self.settle_seconds)?;
        if self.violations.is_empty() {
            writeln!(f, "result: PASS (every invariant held)")
        } else {
            writeln!(f, "result: FAIL ({} violations)", self.violations.len())?;
            for violation in &self.violations {
                writeln!(f, "  - {violation}")?;
            }
            Ok(())
        }
    }
}

/// Where the soak reads the log lines written during the run, to search them for panics and
/// secret values.
pub type LogSource = Arc<dyn Fn() -> String + Send + Sync>;

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Panics in this process so far outside test code (counting starts at the first call).
pub fn panic_count() -> u64 {
    install_panic_counter();
    PANICS.load(Ordering::SeqCst)
}

/// Counts panics process-wide (then lets the previous hook report them). A failing assertion of
/// another test in the same test binary (code under `tests/`) is not the soak's business.
fn install_panic_counter() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_tests = info
                .location()
                .is_some_and(|location| location.file().starts_with("tests/"));
            if !in_tests {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Model,
    Database,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Tracked {
    kind: Kind,
    name: String,
}

struct Replica {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
    metrics: Arc<portico_operator::metrics::Metrics>,
}

/// The sandbox and the operator replicas of one soak.
struct Sandbox {
    stack: Stack,
    admin: GatewayClient,
    replicas: Vec<Option<Replica>>,
    panicked_replicas: u64,
}

impl Sandbox {
    async fn start() -> Result<Self, SoakError> {
        let token = SecretString::from(format!("soak-admin-{:016x}", rand::random::<u64>()));
        let mut gateway_config = GatewayConfig::new(token.clone());
        gateway_config.provision_delay = Duration::from_millis(200);
        let stack = StackBuilder::new(token)
            .gateway(gateway_config)
            .namespace(SOAK_NAMESPACE)
            .start()
            .await
            .map_err(|e| SoakError::Stack(format!("{e:#}")))?;
        let admin = stack
            .admin_client()
            .map_err(|e| SoakError::Client(e.to_string()))?;
        Ok(Sandbox {
            stack,
            admin,
            replicas: Vec::new(),
            panicked_replicas: 0,
        })
    }

    fn operator_context(&self, index: usize) -> Result<Arc<Context>, SoakError> {
        #[allow(clippy::needless_update)]
        let config = OperatorConfig {
            namespace: None,
            concurrency: 8,
            gate: GatePolicy {
                poll_interval: Duration::from_secs(10),
                backoff_base: Duration::from_millis(100),
                backoff_max: Duration::from_secs(2),
                terminal_hold: Duration::from_secs(3600),
            },
            instance: format!("soak-{index}"),
            ..OperatorConfig::default()
        };
        self.stack
            .context_builder(GatewayClientConfig {
                qps: 200.0,
                burst: 100,
                timeout: Duration::from_secs(5),
                ..self.stack.gateway_client_config()
            })
            .config(config)
            .build()
            .map_err(|e| SoakError::Client(e.to_string()))
    }

    fn start_replica(&mut self, index: usize) -> Result<(), SoakError> {
        let ctx = self.operator_context(index)?;
        let metrics = ctx.metrics.clone();
        let shutdown = CancellationToken::new();
        // Every replica campaigns for the Lease, as `portico run --leader-election` does, with
        // durations short enough that a killed leader is replaced within seconds.
        let election = LeaderElectionConfig {
            namespace: SYSTEM_NAMESPACE.into(),
            lease_name: "portico-leader".into(),
            identity: format!("soak-{index}_{:016x}", rand::random::<u64>()),
            lease_duration: Duration::from_secs(2),
            renew_deadline: Duration::from_millis(1500),
            retry_period: Duration::from_millis(250),
        };
        let task = tokio::spawn(portico_operator::operator::run_with_leader_election(
            self.stack.client.clone(),
            ctx,
            election,
            shutdown.clone(),
            Duration::from_secs(10),
        ));
        if self.replicas.len() <= index {
            self.replicas.resize_with(index + 1, || None);
        }
        self.replicas[index] = Some(Replica {
            shutdown,
            task,
            metrics,
        });
        Ok(())
    }

    /// Stops a replica: abruptly (as SIGKILL: in-flight reconciles are dropped wherever they
    /// are) or gracefully (as SIGTERM).
    async fn stop_replica(&mut self, index: usize, abrupt: bool) {
        let Some(replica) = self.replicas.get_mut(index).and_then(Option::take) else {
            return;
        };
        if abrupt {
            replica.task.abort();
        } else {
            replica.shutdown.cancel();
        }
        match tokio::time::timeout(Duration::from_secs(30), replica.task).await {
            Ok(Err(join_error)) if join_error.is_panic() => self.panicked_replicas += 1,
            Ok(Ok(Err(error))) => tracing::warn!(%error, replica = index, "replica failed"),
            _ => {}
        }
    }

    /// Running replicas that currently lead.
    fn leaders(&self) -> usize {
        self.replicas
            .iter()
            .flatten()
            .filter(|replica| !replica.task.is_finished() && replica.metrics.readiness.is_leading())
            .count()
    }

    fn is_running(&self, index: usize) -> bool {
        self.replicas.get(index).is_some_and(Option::is_some)
    }
}

async fn put_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), kube::Error> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            [(
                key.to_string(),
                k8s_openapi::ByteString(value.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply("portico-soak").force(),
            &Patch::Apply(&secret),
        )
        .await
        .map(|_| ())
}

/// The workload's memory: what exists, what was deleted, which values are secret.
struct Workload {
    rng: StdRng,
    next_id: u64,
    live: BTreeMap<Tracked, bool>,
    deleted: BTreeSet<Tracked>,
    orphaned: BTreeSet<Tracked>,
    provider_keys: Vec<SecretString>,
    report: SoakReport,
}

impl Workload {
    fn count_operation(&mut self, name: &'static str) {
        *self.report.operations.entry(name).or_default() += 1;
    }

    fn count_fault(&mut self, name: &'static str) {
        *self.report.faults.entry(name).or_default() += 1;
    }

    fn new_provider_key(&mut self) -> SecretString {
        let key = SecretString::from(format!("sk-soak-{:016x}", self.rng.random::<u64>()));
        self.provider_keys.push(key.clone());
        key
    }

    fn pick_live(&mut self) -> Option<Tracked> {
        if self.live.is_empty() {
            return None;
        }
        let index = self.rng.random_range(0..self.live.len());
        self.live.keys().nth(index).cloned()
    }
}

fn model_manifest(name: &str, orphan: bool, temperature: f64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "AIModel",
        "metadata": {"name": name, "namespace": SOAK_NAMESPACE},
        "spec": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "providerCredentials": {"name": PROVIDER_SECRET, "key": "apiKey"},
            "promptTemplate": {"template": "Answer: {{input}}"},
            "parameters": {"temperature": temperature},
            "deletionPolicy": if orphan { "Orphan" } else { "Delete" },
        },
    })
}

fn database_manifest(name: &str, orphan: bool, storage_gb: i64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "ManagedDatabase",
        "metadata": {"name": name, "namespace": SOAK_NAMESPACE},
        "spec": {
            "engine": "PostgreSQL",
            "version": "16",
            "databaseName": format!("{name}-db"),
            "storageGB": storage_gb,
            "deletionPolicy": if orphan { "Orphan" } else { "Delete" },
        },
    })
}

/// Runs a soak with its own sandbox and returns what it did and found. `logs` reads the log
/// lines written so far (the soak searches them for panics and secret values).
pub async fn run_soak(args: &SoakArgs, logs: LogSource) -> Result<SoakReport, SoakError> {
    portico_telemetry::tls::install_crypto_provider();
    install_panic_counter();
    let panics_before = PANICS.load(Ordering::SeqCst);
    let logs_before = logs().len();
    let mut sandbox = Sandbox::start().await?;
    let mut work = Workload {
        rng: StdRng::seed_from_u64(args.seed),
        next_id: 0,
        live: BTreeMap::new(),
        deleted: BTreeSet::new(),
        orphaned: BTreeSet::new(),
        provider_keys: Vec::new(),
        report: SoakReport {
            seed: args.seed,
            ..SoakReport::default()
        },
    };
    let key = work.new_provider_key();
    put_secret(
        &sandbox.stack.client,
        SOAK_NAMESPACE,
        PROVIDER_SECRET,
        "apiKey",
        key.expose_secret(),
    )
    .await
    .map_err(|e| SoakError::Stack(e.to_string()))?;
    let replicas = args.replicas.max(1);
    for index in 0..replicas {
        sandbox.start_replica(index)?;
    }

    let deadline = Instant::now() + args.duration;
    let mut gateway_faults_on = false;
    while Instant::now() < deadline {
        step(&mut sandbox, &mut work, args, &mut gateway_faults_on).await?;
        if sandbox.leaders() > 1 {
            work.report.leader_overlaps += 1;
        }
        let pause = work.rng.random_range(10..60);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        // A stopped replica comes back after a while, as a pod would be rescheduled.
        for index in 0..replicas {
            if !sandbox.is_running(index) && work.rng.random_bool(0.3) {
                sandbox.start_replica(index)?;
                work.report.restarts += 1;
            }
        }
    }

    // Faults clear; every replica runs; the provider Secret exists (one last rotation).
    sandbox.stack.gateway.clear_faults();
    sandbox.stack.apiserver.faults().clear();
    for index in 0..replicas {
        if !sandbox.is_running(index) {
            sandbox.start_replica(index)?;
            work.report.restarts += 1;
        }
    }
    let key = work.new_provider_key();
    if put_secret(
        &sandbox.stack.client,
        SOAK_NAMESPACE,
        PROVIDER_SECRET,
        "apiKey",
        key.expose_secret(),
    )
    .await
    .is_err()
    {
        work.report.workload_errors += 1;
    }
    work.count_operation("rotate provider secret");

    let settle_start = Instant::now();
    let settle_deadline = settle_start + args.settle_timeout;
    let mut violations = loop {
        let violations = check_invariants(&sandbox, &work).await;
        if violations.is_empty() || Instant::now() > settle_deadline {
            break violations;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    work.report.settle_seconds = settle_start.elapsed().as_secs_f64();

    for index in 0..replicas {
        sandbox.stop_replica(index, false).await;
    }
    violations.extend(check_leaks(&sandbox, &work, &logs, logs_before).await);
    let panics = PANICS.load(Ordering::SeqCst) - panics_before;
    if panics > 0 || sandbox.panicked_replicas > 0 {
        violations.push(format!(
            "{panics} panics ({} replicas ended by a panic)",
            sandbox.panicked_replicas
        ));
    }
    if work.report.leader_overlaps > 0 {
        violations.push(format!(
            "two replicas led at once in {} samples",
            work.report.leader_overlaps
        ));
    }
    work.report.leader_changes = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(
        sandbox.stack.client.clone(),
        SYSTEM_NAMESPACE,
    )
    .get_opt("portico-leader")
    .await
    .ok()
    .flatten()
    .and_then(|lease| lease.spec)
    .and_then(|spec| spec.lease_transitions)
    .map_or(0, i64::from);
    work.report.violations = violations;
    work.report.survivors = work.live.len();
    work.report.deleted = work.deleted.len();
    work.report.gateway_calls = sandbox
        .stack
        .gateway
        .stats()
        .requests
        .iter()
        .map(|r| (format!("{} {}", r.operation, r.status), r.count))
        .collect();
    // Watches still open (the token watchers of stopped replicas) would hold the graceful
    // shutdown forever: end them first, and bound the wait.
    sandbox.stack.apiserver.faults().close_watches();
    let shutdown = async {
        sandbox.stack.apiserver.shutdown().await;
        sandbox.stack.gateway.shutdown().await;
    };
    if tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .is_err()
    {
        tracing::warn!("the sandbox did not shut down within 10s; leaving it");
    }
    Ok(work.report)
}

/// One random step of the workload or of the fault schedule.
async fn step(
    sandbox: &mut Sandbox,
    work: &mut Workload,
    args: &SoakArgs,
    gateway_faults_on: &mut bool,
) -> Result<(), SoakError> {
    let client = sandbox.stack.client.clone();
    let models: Api<AIModel> = Api::namespaced(client.clone(), SOAK_NAMESPACE);
    let databases: Api<ManagedDatabase> = Api::namespaced(client.clone(), SOAK_NAMESPACE);
    let roll = work.rng.random_range(0..100);
    let refused = match roll {
        // Creates (kept below the object limit).
        0..=24 if work.live.len() < args.max_objects => {
            work.next_id += 1;
            let kind = if work.rng.random_bool(0.6) {
                Kind::Model
            } else {
                Kind::Database
            };
            let orphan = work.rng.random_bool(0.1);
            let tracked = match kind {
                Kind::Model => Tracked {
                    kind,
                    name: format!("m-{:04}", work.next_id),
                },
                Kind::Database => Tracked {
                    kind,
                    name: format!("d-{:04}", work.next_id),
                },
            };
            let result = match kind {
                Kind::Model => {
                    let manifest = model_manifest(&tracked.name, orphan, 0.5);
                    match serde_json::from_value::<AIModel>(manifest) {
                        Ok(object) => models
                            .create(&PostParams::default(), &object)
                            .await
                            .map(|_| ()),
                        Err(_) => Ok(()),
                    }
                }
                Kind::Database => {
                    let manifest = database_manifest(&tracked.name, orphan, 5);
                    match serde_json::from_value::<ManagedDatabase>(manifest) {
                        Ok(object) => databases
                            .create(&PostParams::default(), &object)
                            .await
                            .map(|_| ()),
                        Err(_) => Ok(()),
                    }
                }
            };
            work.count_operation(match kind {
                Kind::Model => "create model",
                Kind::Database => "create database",
            });
            let refused = result.is_err();
            if !refused {
                work.live.insert(tracked, orphan);
                // Kill a replica while the new object is being provisioned.
                if work.rng.random_bool(0.15) {
                    let wait = work.rng.random_range(0..80);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    let index = work.rng.random_range(0..sandbox.replicas.len().max(1));
                    if sandbox.is_running(index) {
                        sandbox.stop_replica(index, true).await;
                        work.count_fault("kill mid-provision");
                    }
                }
            }
            refused
        }
        // Spec updates.
        25..=44 => match work.pick_live() {
            Some(tracked) => {
                let result = match tracked.kind {
                    Kind::Model => {
                        let temperature = f64::from(work.rng.random_range(0..=20u8)) / 10.0;
                        let patch = serde_json::json!({"spec": {"parameters": {"temperature": temperature}}});
                        models
                            .patch(
                                &tracked.name,
                                &PatchParams::default(),
                                &Patch::Merge(&patch),
                            )
                            .await
                            .map(|_| ())
                    }
                    Kind::Database => {
                        let storage: i64 = work.rng.random_range(5..=50);
                        let patch = serde_json::json!({"spec": {"storageGB": storage}});
                        databases
                            .patch(
                                &tracked.name,
                                &PatchParams::default(),
                                &Patch::Merge(&patch),
                            )
                            .await
                            .map(|_| ())
                    }
                };
                work.count_operation("update spec");
                result.is_err()
            }
            None => false,
        },
        // Deletes.
        45..=59 => match work.pick_live() {
            Some(tracked) => {
                let result = match tracked.kind {
                    Kind::Model => models
                        .delete(&tracked.name, &DeleteParams::default())
                        .await
                        .map(|_| ()),
                    Kind::Database => databases
                        .delete(&tracked.name, &DeleteParams::default())
                        .await
                        .map(|_| ()),
                };
                work.count_operation("delete");
                let refused = result.is_err();
                if !refused {
                    if work.live.remove(&tracked) == Some(true) {
                        work.orphaned.insert(tracked.clone());
                    }
                    work.deleted.insert(tracked);
                    // Kill a replica while the deletion is being processed.
                    if work.rng.random_bool(0.15) {
                        let wait = work.rng.random_range(0..80);
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                        let index = work.rng.random_range(0..sandbox.replicas.len().max(1));
                        if sandbox.is_running(index) {
                            sandbox.stop_replica(index, true).await;
                            work.count_fault("kill mid-deletion");
                        }
                    }
                }
                refused
            }
            None => false,
        },
        // Provider Secret: rotations and, rarely, deletions (it comes back at a later rotation).
        60..=65 => {
            let key = work.new_provider_key();
            work.count_operation("rotate provider secret");
            put_secret(
                &client,
                SOAK_NAMESPACE,
                PROVIDER_SECRET,
                "apiKey",
                key.expose_secret(),
            )
            .await
            .is_err()
        }
        66..=67 => {
            work.count_operation("delete provider secret");
            Api::<Secret>::namespaced(client.clone(), SOAK_NAMESPACE)
                .delete(PROVIDER_SECRET, &DeleteParams::default())
                .await
                .is_err()
        }
        // Connection Secret deletions: the operator must write them again.
        68..=70 => {
            if let Some(tracked) = work.pick_live() {
                work.count_operation("delete connection secret");
                let _ = Api::<Secret>::namespaced(client.clone(), SOAK_NAMESPACE)
                    .delete(&format!("{}-conn", tracked.name), &DeleteParams::default())
                    .await;
            }
            false
        }
        // Faults.
        71..=76 => {
            *gateway_faults_on = !*gateway_faults_on;
            if *gateway_faults_on {
                sandbox.stack.gateway.set_fault_rate(args.fault_rate);
                sandbox.stack.gateway.set_fault_latency(args.fault_latency);
                work.count_fault("gateway 503s + latency on");
            } else {
                sandbox.stack.gateway.set_fault_rate(0.0);
                sandbox.stack.gateway.set_fault_latency(Duration::ZERO);
            }
            false
        }
        77..=80 => {
            let count = work.rng.random_range(5..40);
            sandbox
                .stack
                .gateway
                .push_fault(ScriptedFault::new("*", 429).times(count).retry_after(1));
            work.count_fault("429 burst");
            false
        }
        81..=85 => {
            sandbox.stack.apiserver.faults().close_watches();
            work.count_fault("watch drop");
            false
        }
        86..=88 => {
            sandbox.stack.apiserver.faults().compact();
            sandbox.stack.apiserver.faults().close_watches();
            work.count_fault("410 compaction");
            false
        }
        89..=93 => {
            let index = work.rng.random_range(0..sandbox.replicas.len().max(1));
            if sandbox.is_running(index) {
                let abrupt = work.rng.random_bool(0.7);
                sandbox.stop_replica(index, abrupt).await;
                work.count_fault(if abrupt {
                    "operator kill"
                } else {
                    "operator graceful stop"
                });
            }
            false
        }
        _ => false,
    };
    if refused {
        work.report.workload_errors += 1;
    }
    Ok(())
}

/// The invariants that must hold once the faults are cleared; each violation as one line.
async fn check_invariants(sandbox: &Sandbox, work: &Workload) -> Vec<String> {
    let mut violations = Vec::new();
    let models: Api<AIModel> = Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    let databases: Api<ManagedDatabase> =
        Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    let (model_list, database_list) = match (
        models.list(&ListParams::default()).await,
        databases.list(&ListParams::default()).await,
    ) {
        (Ok(m), Ok(d)) => (m.items, d.items),
        _ => return vec!["the custom resources could not be listed".into()],
    };
    let gateway_models = match list_gateway(sandbox, Kind::Model).await {
        Some(names) => names,
        None => return vec!["the gateway's models could not be listed".into()],
    };
    let gateway_databases = match list_gateway(sandbox, Kind::Database).await {
        Some(names) => names,
        None => return vec!["the gateway's databases could not be listed".into()],
    };

    let mut cr_names: BTreeSet<Tracked> = BTreeSet::new();
    for model in &model_list {
        cr_names.insert(Tracked {
            kind: Kind::Model,
            name: model.name_any(),
        });
    }
    for database in &database_list {
        cr_names.insert(Tracked {
            kind: Kind::Database,
            name: database.name_any(),
        });
    }
    // Deleted CRs are gone from Kubernetes; survivors are all there.
    for tracked in &work.deleted {
        if cr_names.contains(tracked) {
            violations.push(format!("{tracked:?} was deleted but still exists"));
        }
    }
    for tracked in work.live.keys() {
        if !cr_names.contains(tracked) {
            violations.push(format!("{tracked:?} disappeared without a delete"));
        }
    }
    // No orphans, no duplicates: gateway objects and Delete-policy CRs match one to one.
    for (kind, gateway_names) in [
        (Kind::Model, &gateway_models),
        (Kind::Database, &gateway_databases),
    ] {
        let mut seen = BTreeSet::new();
        for name in gateway_names {
            let tracked = Tracked {
                kind,
                name: name.clone(),
            };
            if !seen.insert(name.clone()) {
                violations.push(format!("gateway holds {tracked:?} twice"));
            }
            if !cr_names.contains(&tracked) && !work.orphaned.contains(&tracked) {
                violations.push(format!(
                    "gateway object {tracked:?} has no custom resource (its calls: {})",
                    call_history(sandbox, &tracked)
                ));
            }
        }
    }
    for (tracked, orphan) in &work.live {
        let at_gateway = match tracked.kind {
            Kind::Model => gateway_models.contains(&tracked.name),
            Kind::Database => gateway_databases.contains(&tracked.name),
        };
        if !orphan && !at_gateway && cr_names.contains(tracked) {
            violations.push(format!("{tracked:?} has no gateway object"));
        }
    }
    // Every survivor is Ready for its generation or has a terminal reason; none is stuck
    // deleting.
    for model in &model_list {
        check_survivor(
            &mut violations,
            "AIModel",
            &model.name_any(),
            model.metadata.deletion_timestamp.is_some(),
            model.metadata.generation,
            model.status.as_ref().and_then(|s| s.observed_generation),
            model
                .status
                .as_ref()
                .map(|s| s.conditions.as_slice())
                .unwrap_or(&[]),
        );
    }
    for database in &database_list {
        check_survivor(
            &mut violations,
            "ManagedDatabase",
            &database.name_any(),
            database.metadata.deletion_timestamp.is_some(),
            database.metadata.generation,
            database.status.as_ref().and_then(|s| s.observed_generation),
            database
                .status
                .as_ref()
                .map(|s| s.conditions.as_slice())
                .unwrap_or(&[]),
        );
    }
    if violations.is_empty() {
        violations.extend(check_connection_secrets(sandbox, &model_list, &database_list).await);
    }
    violations
}

/// The gateway calls made on one object's path, in order, as `operation status` items: the
/// evidence of how an orphan or a duplicate came about.
fn call_history(sandbox: &Sandbox, tracked: &Tracked) -> String {
    let segment = match tracked.kind {
        Kind::Model => "models",
        Kind::Database => "databases",
    };
    let path = format!("/v1/namespaces/{SOAK_NAMESPACE}/{segment}/{}", tracked.name);
    sandbox
        .stack
        .gateway
        .requests()
        .iter()
        .filter(|r| r.path == path || r.path.starts_with(&format!("{path}/")))
        .map(|r| format!("{} {}", r.operation, r.status))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_survivor(
    violations: &mut Vec<String>,
    kind: &str,
    name: &str,
    deleting: bool,
    generation: Option<i64>,
    observed_generation: Option<i64>,
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) {
    if deleting {
        violations.push(format!("{kind} {name} is stuck with a deletionTimestamp"));
        return;
    }
    let ready = conditions
        .iter()
        .any(|c| c.type_ == CONDITION_READY && c.status == "True")
        && observed_generation == generation;
    let terminal = conditions.iter().any(|c| {
        c.type_ == CONDITION_SYNCED
            && c.status == "False"
            && TERMINAL_REASONS.contains(&c.reason.as_str())
    });
    if !ready && !terminal {
        let synced = conditions
            .iter()
            .find(|c| c.type_ == CONDITION_SYNCED)
            .map(|c| format!("{}/{}", c.status, c.reason))
            .unwrap_or_else(|| "none".into());
        violations.push(format!(
            "{kind} {name} is neither Ready nor terminal (Synced {synced}, generation {generation:?}, observed {observed_generation:?})"
        ));
    }
}

/// Names of the gateway's objects of one kind in the soak namespace (databases being deleted
/// included: they still exist).
async fn list_gateway(sandbox: &Sandbox, kind: Kind) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut continue_token: Option<String> = None;
    loop {
        let next = match kind {
            Kind::Model => {
                let page = sandbox
                    .admin
                    .list_models(SOAK_NAMESPACE, Some(500), continue_token.as_deref())
                    .await
                    .ok()?
                    .value;
                names.extend(page.items.into_iter().map(|m| m.name));
                page.continue_token
            }
            Kind::Database => {
                let page = sandbox
                    .admin
                    .list_databases(SOAK_NAMESPACE, Some(500), continue_token.as_deref())
                    .await
                    .ok()?
                    .value;
                names.extend(page.items.into_iter().map(|d| d.name));
                page.continue_token
            }
        };
        match next {
            Some(token) if !token.is_empty() => continue_token = Some(token),
            _ => return Some(names),
        }
    }
}

fn secret_text(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

/// Connection Secrets match the gateway: a model's key is accepted by the chat endpoint; a
/// database's host, port, database and user are the gateway's.
async fn check_connection_secrets(
    sandbox: &Sandbox,
    models: &[AIModel],
    databases: &[ManagedDatabase],
) -> Vec<String> {
    let secrets: Api<Secret> = Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    let mut violations = Vec::new();
    for model in models {
        let ready = model.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == CONDITION_READY && c.status == "True")
        });
        if !ready {
            continue;
        }
        let name = model.name_any();
        let Ok(Some(secret)) = secrets.get_opt(&format!("{name}-conn")).await else {
            violations.push(format!("AIModel {name} has no connection Secret"));
            continue;
        };
        let (Some(key), Some(client_model)) = (
            secret_text(&secret, "apiKey"),
            secret_text(&secret, "model"),
        ) else {
            violations.push(format!("AIModel {name}'s connection Secret lacks keys"));
            continue;
        };
        let key = SecretString::from(key);
        if let Err(error) = sandbox
            .admin
            .chat_completion(&key, &client_model, "ping")
            .await
        {
            violations.push(format!(
                "AIModel {name}: the chat endpoint refuses the Secret's apiKey ({})",
                error.code()
            ));
        }
    }
    for database in databases {
        let ready = database.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == CONDITION_READY && c.status == "True")
        });
        if !ready {
            continue;
        }
        let name = database.name_any();
        let Ok(Some(secret)) = secrets.get_opt(&format!("{name}-conn")).await else {
            violations.push(format!("ManagedDatabase {name} has no connection Secret"));
            continue;
        };
        let Ok(found) = sandbox.admin.get_database(SOAK_NAMESPACE, &name).await else {
            violations.push(format!("ManagedDatabase {name} is not at the gateway"));
            continue;
        };
        let Some(connection) = found.value.connection else {
            violations.push(format!(
                "ManagedDatabase {name} has no connection at the gateway"
            ));
            continue;
        };
        let expected = [
            ("host", connection.host.clone()),
            ("port", connection.port.to_string()),
            ("database", connection.database.clone()),
            ("username", connection.username.clone()),
        ];
        for (key, value) in expected {
            if secret_text(&secret, key).as_deref() != Some(value.as_str()) {
                violations.push(format!(
                    "ManagedDatabase {name}: connection Secret key {key} differs from the gateway"
                ));
            }
        }
        if secret_text(&secret, "password").is_none_or(|p| p.is_empty()) {
            violations.push(format!(
                "ManagedDatabase {name}: connection Secret has no password"
            ));
        }
    }
    violations
}

/// No secret value (provider keys, the gateway token, issued API keys and passwords) in logs,
/// statuses or events; no panic in the logs.
async fn check_leaks(
    sandbox: &Sandbox,
    work: &Workload,
    logs: &LogSource,
    logs_before: usize,
) -> Vec<String> {
    let mut secrets: Vec<(String, SecretString)> = work
        .provider_keys
        .iter()
        .map(|k| ("a provider key".to_string(), k.clone()))
        .collect();
    secrets.push(("the gateway token".into(), sandbox.stack.token.clone()));
    let secret_api: Api<Secret> = Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    if let Ok(list) = secret_api.list(&ListParams::default()).await {
        for secret in list.items {
            for key in ["apiKey", "password", "uri"] {
                if let Some(value) = secret_text(&secret, key).filter(|v| v.len() >= 8) {
                    secrets.push((
                        format!("{key} of Secret {}", secret.name_any()),
                        SecretString::from(value),
                    ));
                }
            }
        }
    }
    let mut places: Vec<(&str, String)> = Vec::new();
    let all_logs = logs();
    let run_logs = all_logs.get(logs_before..).unwrap_or(&all_logs).to_string();
    places.push(("logs", run_logs));
    let models: Api<AIModel> = Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    let databases: Api<ManagedDatabase> =
        Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    let mut statuses = String::new();
    if let Ok(list) = models.list(&ListParams::default()).await {
        for model in list.items {
            statuses.push_str(&serde_json::to_string(&model.status).unwrap_or_default());
        }
    }
    if let Ok(list) = databases.list(&ListParams::default()).await {
        for database in list.items {
            statuses.push_str(&serde_json::to_string(&database.status).unwrap_or_default());
        }
    }
    places.push(("statuses", statuses));
    let mut events = String::new();
    let core_events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    if let Ok(list) = core_events.list(&ListParams::default()).await {
        events.push_str(&serde_json::to_string(&list.items).unwrap_or_default());
    }
    let new_events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(sandbox.stack.client.clone(), SOAK_NAMESPACE);
    if let Ok(list) = new_events.list(&ListParams::default()).await {
        events.push_str(&serde_json::to_string(&list.items).unwrap_or_default());
    }
    places.push(("events", events));

    let mut violations = Vec::new();
    for (place, text) in &places {
        for (what, secret) in &secrets {
            if text.contains(secret.expose_secret()) {
                violations.push(format!("{what} appears in the {place}"));
            }
        }
    }
    if let Some((_, text)) = places.first()
        && text.contains("panicked")
    {
        violations.push("a panic appears in the logs".into());
    }
    violations
}

/// In-memory copy of the log lines the `portico soak` command writes.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `portico soak`: prints the report; fails when an invariant did not hold.
pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .try_init();
    let source = buffer.clone();
    let logs: LogSource = Arc::new(move || {
        String::from_utf8_lossy(
            &source
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
        .into_owned()
    });
    eprintln!(
        "portico soak: seed {}, {:?} of workload and faults, {} replicas",
        args.seed, args.duration, args.replicas
    );
    let report = run_soak(&args, logs).await?;
    print!("{report}");
    if report.passed() {
        Ok(())
    } else {
        anyhow::bail!("{} invariants did not hold", report.violations.len())
    }
}
