//! The operator's Prometheus registry and the series it owns: reconciles by kind and result,
//! reconcile duration, time from creation to Ready, objects by kind and phase (counted from the
//! controllers' caches at scrape time), leadership, plus the gateway client's series.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::{Registry, Unit};

use portico_gateway_client::{AtomicHistogram, GatewayMetrics};

/// How a reconcile ended, as the `result` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// It did its work (which may have been a drift check that found nothing to do).
    Success,
    /// It failed; the reason is in status and `portico_reconcile_failures_total`.
    Error,
    /// Nothing was due (backoff, terminal hold or quiet window), so it returned at once.
    Skipped,
}

impl ReconcileResult {
    fn as_str(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
            ReconcileResult::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    kind: &'static str,
    reason: &'static str,
    category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    kind: &'static str,
    phase: String,
}

/// Counts of cached objects by phase, for one kind; called at scrape time.
type PhaseCounter = Box<dyn Fn() -> BTreeMap<String, i64> + Send + Sync>;

/// The `portico_objects` gauge: each running controller registers a counter over its cache
/// while it runs, so the figures are exact at scrape time and nothing is kept per object.
#[derive(Default)]
struct ObjectsByPhase {
    kinds: Mutex<BTreeMap<&'static str, PhaseCounter>>,
}

impl std::fmt::Debug for ObjectsByPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectsByPhase").finish_non_exhaustive()
    }
}

impl Collector for ObjectsByPhase {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let family = Family::<PhaseLabels, Gauge>::default();
        let kinds = self
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (kind, count) in kinds.iter() {
            for (phase, n) in count() {
                family.get_or_create(&PhaseLabels { kind, phase }).set(n);
            }
        }
        drop(kinds);
        let metric = encoder.encode_descriptor(
            "portico_objects",
            "Custom resources in the leader's cache, by kind and status phase (None: no status yet)",
            None,
            family.metric_type(),
        )?;
        family.encode(metric)
    }
}

/// The controllers' series.
#[derive(Debug, Clone)]
pub struct ControllerMetrics {
    reconciles: Family<ResultLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<KindLabels, AtomicHistogram>,
    time_to_ready: Family<KindLabels, AtomicHistogram>,
    objects: Arc<ObjectsByPhase>,
    leader: Gauge,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            reconciles: Family::default(),
            failures: Family::default(),
            // 1 ms … ~65 s.
            duration: Family::new_with_constructor(|| {
                AtomicHistogram::new(exponential_buckets(0.001, 2.0, 17))
            }),
            // 0.25 s … ~2.3 h: models are ready in a second, databases may take many minutes.
            time_to_ready: Family::new_with_constructor(|| {
                AtomicHistogram::new(exponential_buckets(0.25, 2.0, 16))
            }),
            objects: Arc::default(),
            leader: Gauge::default(),
        }
    }
}

impl ControllerMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "portico_reconciles",
            "Reconciles by kind and result (success, error, skipped: nothing was due)",
            self.reconciles.clone(),
        );
        registry.register(
            "portico_reconcile_failures",
            "Failed reconciles by kind, condition reason and error category",
            self.failures.clone(),
        );
        registry.register_with_unit(
            "portico_reconcile_duration",
            "Duration of reconciles that did work (skipped ones excluded), by kind",
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register_with_unit(
            "portico_time_to_ready",
            "Time from an object's creation to it becoming Ready, by kind",
            Unit::Seconds,
            self.time_to_ready.clone(),
        );
        registry.register(
            "portico_leader",
            "1 while this replica holds the leader lease (or runs without leader election)",
            self.leader.clone(),
        );
        registry.register_collector(Box::new(self.objects.clone()));
    }

    /// Records one reconcile.
    pub fn observe_reconcile(&self, kind: &'static str, result: ReconcileResult, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabels {
                kind,
                result: result.as_str(),
            })
            .inc();
        if result != ReconcileResult::Skipped {
            self.duration
                .get_or_create(&KindLabels { kind })
                .observe(took.as_secs_f64());
        }
    }

    /// Records why a reconcile failed.
    pub fn observe_failure(
        &self,
        kind: &'static str,
        reason: &'static str,
        category: &'static str,
    ) {
        self.failures
            .get_or_create(&FailureLabels {
                kind,
                reason,
                category,
            })
            .inc();
    }

    /// Records that an object became Ready `age` after its creation.
    pub fn observe_ready(&self, kind: &'static str, age: Duration) {
        self.time_to_ready
            .get_or_create(&KindLabels { kind })
            .observe(age.as_secs_f64());
    }

    /// Counts `kind`'s objects by phase with `count` at every scrape, until `forget_objects`.
    pub fn count_objects(
        &self,
        kind: &'static str,
        count: impl Fn() -> BTreeMap<String, i64> + Send + Sync + 'static,
    ) {
        self.objects
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(kind, Box::new(count));
    }

    /// Stops counting `kind`'s objects (its controller stopped).
    pub fn forget_objects(&self, kind: &'static str) {
        self.objects
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(kind);
    }

    /// Stops counting every kind's objects (the controllers were dropped).
    pub fn forget_all_objects(&self) {
        self.objects
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Sets the leadership gauge.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

/// Kinds the operator runs a controller for; `/readyz` waits for all their caches.
const CONTROLLED_KINDS: usize = 2;

/// What `/readyz` answers: a standby replica is ready (it is waiting for the lease, as it
/// should); the leader is ready once every controller's cache has been filled by its first list.
#[derive(Debug, Default)]
pub struct Readiness {
    leading: AtomicBool,
    synced: Mutex<BTreeSet<&'static str>>,
}

impl Readiness {
    /// Whether this replica runs the controllers (always, without leader election). Each
    /// start of leading begins with empty caches.
    pub fn set_leading(&self, leading: bool) {
        self.synced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        self.leading.store(leading, Ordering::SeqCst);
    }

    /// Whether this replica runs the controllers.
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// `kind`'s cache holds the first full list.
    pub fn cache_synced(&self, kind: &'static str) {
        self.synced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(kind);
    }

    /// `kind`'s controller stopped; its cache is gone.
    pub fn cache_stopped(&self, kind: &'static str) {
        self.synced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(kind);
    }

    /// Whether `/readyz` should answer 200, and why not otherwise.
    pub fn check(&self) -> Result<&'static str, String> {
        if !self.leading.load(Ordering::SeqCst) {
            return Ok("standby: waiting for the leader lease");
        }
        let synced = self
            .synced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if synced.len() >= CONTROLLED_KINDS {
            Ok("leading: caches synced")
        } else {
            Err(format!(
                "leading: caches not synced yet (synced: {})",
                synced.iter().copied().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

/// Every series of one operator process, the registry that exposes them, and readiness.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// What `/readyz` answers.
    pub readiness: Readiness,
    /// The controllers' series.
    pub controller: ControllerMetrics,
    /// The gateway client's series.
    pub gateway: GatewayMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding fresh controller and gateway series.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let controller = ControllerMetrics::default();
        controller.register(&mut registry);
        let gateway = GatewayMetrics::registered(&mut registry);
        Self {
            registry,
            readiness: Readiness::default(),
            controller,
            gateway,
        }
    }

    /// Whether this replica runs the controllers: one fact for readiness and the leader gauge;
    /// a replica that stops leading drops its object counts with its caches.
    pub fn set_leading(&self, leading: bool) {
        self.readiness.set_leading(leading);
        self.controller.set_leader(leading);
        if !leading {
            self.controller.forget_all_objects();
        }
    }

    /// The OpenMetrics text exposition of every series.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standby_is_ready_and_the_leader_once_both_caches_synced() {
        let readiness = Readiness::default();
        assert!(readiness.check().is_ok());
        readiness.set_leading(true);
        assert!(readiness.check().is_err());
        readiness.cache_synced("AIModel");
        assert!(readiness.check().unwrap_err().contains("AIModel"));
        readiness.cache_synced("ManagedDatabase");
        assert!(readiness.check().is_ok());
        readiness.cache_stopped("AIModel");
        assert!(readiness.check().is_err());
    }

    #[test]
    fn objects_are_counted_at_scrape_time_and_forgotten_on_stop() {
        let metrics = Metrics::new();
        let phases = Arc::new(Mutex::new(BTreeMap::from([("Ready".to_string(), 3)])));
        let source = phases.clone();
        metrics.controller.count_objects("AIModel", move || {
            source.lock().map(|p| p.clone()).unwrap_or_default()
        });
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains(r#"portico_objects{kind="AIModel",phase="Ready"} 3"#),
            "{text}"
        );
        phases
            .lock()
            .expect("not poisoned")
            .insert("Ready".into(), 5);
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains(r#"portico_objects{kind="AIModel",phase="Ready"} 5"#),
            "{text}"
        );
        metrics.controller.forget_objects("AIModel");
        let text = metrics.encode().expect("encodes");
        assert!(!text.contains(r#"portico_objects{"#), "{text}");
    }

    #[test]
    fn skipped_reconciles_are_counted_but_not_timed() {
        let metrics = Metrics::new();
        let c = &metrics.controller;
        c.observe_reconcile("AIModel", ReconcileResult::Skipped, Duration::ZERO);
        c.observe_reconcile(
            "AIModel",
            ReconcileResult::Success,
            Duration::from_millis(4),
        );
        let text = metrics.encode().expect("encodes");
        assert!(text.contains(r#"portico_reconciles_total{kind="AIModel",result="skipped"} 1"#));
        assert!(text.contains(r#"portico_reconciles_total{kind="AIModel",result="success"} 1"#));
        assert!(text.contains(r#"portico_reconcile_duration_seconds_count{kind="AIModel"} 1"#));
    }
}
