//! Per-object memory of when an object may next call the gateway: the quiet window after a
//! successful sync (drift is checked once per poll interval), exponential backoff with jitter
//! after a retryable failure (never sooner than the gateway's `Retry-After`), and a long hold
//! after a terminal failure. kube's `error_policy` keeps no per-object state, and our own status
//! writes re-trigger reconciles, so without this a failing object would call the gateway on
//! every watch event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// Identifies one custom resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// Kind, e.g. `AIModel`.
    pub kind: &'static str,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// What the gate compares to decide whether a remembered outcome still applies: a new
/// generation, a new gateway token, a new external name or the start of deletion all open it
/// at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    /// `metadata.generation` of the object.
    pub generation: i64,
    /// Version of the gateway token (changes when the token Secret rotates).
    pub token_version: u64,
    /// Whether the object is being deleted.
    pub deleting: bool,
    /// Hash of the external name the object asks for (an annotation: no new generation).
    pub external_name: u64,
}

/// Timing policy of the gate.
#[derive(Debug, Clone, Copy)]
pub struct GatePolicy {
    /// How long a successful sync is trusted before drift is checked again.
    pub poll_interval: Duration,
    /// First retry delay after a retryable failure.
    pub backoff_base: Duration,
    /// Longest retry delay after repeated retryable failures.
    pub backoff_max: Duration,
    /// How long a terminal failure is held before it is tried again anyway (a safety net: the
    /// usual way out is a spec, Secret or token change).
    pub terminal_hold: Duration,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(300),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            terminal_hold: Duration::from_secs(1800),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Synced,
    Retryable {
        attempts: u32,
    },
    Terminal,
    /// Opened by a change the object depends on (a Secret): due now, whatever the inputs.
    Opened,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The inputs the outcome holds for; `None` for an opened gate.
    inputs: Option<Inputs>,
    outcome: Outcome,
    until: Instant,
}

/// The gates of every object a controller handles.
#[derive(Debug, Default)]
pub struct Gates {
    policy: GatePolicy,
    entries: Mutex<HashMap<ObjectKey, Entry>>,
    /// Objects whose finalizer this process removed, by uid, until the watch reports them gone.
    finalized: Mutex<HashMap<ObjectKey, String>>,
}

impl Gates {
    /// Gates with the given timing policy.
    pub fn new(policy: GatePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::default(),
            finalized: Mutex::default(),
        }
    }

    /// The timing policy.
    pub fn policy(&self) -> GatePolicy {
        self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Entry>> {
        // A poisoned map only means a panic elsewhere mid-update; the entries are still usable
        // hints, and losing them costs at most one extra gateway call per object.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Some(wait)` when the object should not call the gateway before `wait` has passed;
    /// `None` when it may call now.
    pub fn closed_for(&self, key: &ObjectKey, inputs: Inputs, now: Instant) -> Option<Duration> {
        let entries = self.lock();
        let entry = entries.get(key)?;
        let holds = match (entry.outcome, entry.inputs) {
            // A new admin token changes nothing about an object in sync: re-checking them all
            // would be a burst of N gateway calls at every rotation (and at start, when the
            // token's first load races the first reconciles).
            (Outcome::Synced, Some(held)) => {
                held.generation == inputs.generation
                    && held.deleting == inputs.deleting
                    && held.external_name == inputs.external_name
            }
            (_, held) => held == Some(inputs),
        };
        if !holds || entry.until <= now {
            return None;
        }
        Some(entry.until - now)
    }

    /// The first sight of an object that was already in sync before this process started (a
    /// restart, a new leader): instead of checking it for drift at once — every object at the
    /// same moment, a burst of N gateway GETs that would starve new work behind a rate limit —
    /// its first drift check is scheduled at a random point of the next poll interval. Returns
    /// that wait, or `None` when the object has been seen (or opened) before.
    ///
    /// Changes made while no operator ran still act at once: a new generation or deletion opens
    /// the gate (other inputs), and the Secret watch opens it for a changed Secret.
    pub fn defer_first_check(
        &self,
        key: ObjectKey,
        inputs: Inputs,
        now: Instant,
    ) -> Option<Duration> {
        let mut entries = self.lock();
        if entries.contains_key(&key) {
            return None;
        }
        let wait = self
            .policy
            .poll_interval
            .mul_f64(rand::rng().random::<f64>());
        entries.insert(
            key,
            Entry {
                inputs: Some(inputs),
                outcome: Outcome::Synced,
                until: now + wait,
            },
        );
        Some(wait)
    }

    /// Whether the last recorded outcome for these inputs was a success.
    pub fn is_synced(&self, key: &ObjectKey, inputs: Inputs) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|e| e.inputs == Some(inputs) && matches!(e.outcome, Outcome::Synced))
    }

    /// Records a successful sync; returns when drift should next be checked.
    pub fn record_success(&self, key: ObjectKey, inputs: Inputs, now: Instant) -> Duration {
        let wait = self.policy.poll_interval;
        self.lock().insert(
            key,
            Entry {
                inputs: Some(inputs),
                outcome: Outcome::Synced,
                until: now + wait,
            },
        );
        wait
    }

    /// Records a success that needs a prompt follow-up (e.g. a database still provisioning):
    /// the next look comes after `wait`, and the failure count is reset.
    pub fn record_progress(
        &self,
        key: ObjectKey,
        inputs: Inputs,
        wait: Duration,
        now: Instant,
    ) -> Duration {
        self.lock().insert(
            key,
            Entry {
                inputs: Some(inputs),
                outcome: Outcome::Retryable { attempts: 0 },
                until: now + wait,
            },
        );
        wait
    }

    /// Records a retryable failure; returns the delay before the next attempt: exponential in
    /// the number of consecutive failures, with jitter, and at least `retry_after`.
    pub fn record_retryable(
        &self,
        key: ObjectKey,
        inputs: Inputs,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> Duration {
        let mut entries = self.lock();
        let attempts = match entries.get(&key) {
            Some(Entry {
                inputs: Some(previous),
                outcome: Outcome::Retryable { attempts },
                ..
            }) if *previous == inputs => attempts.saturating_add(1),
            _ => 1,
        };
        let wait = backoff_delay(self.policy, attempts, retry_after, &mut rand::rng());
        entries.insert(
            key,
            Entry {
                inputs: Some(inputs),
                outcome: Outcome::Retryable { attempts },
                until: now + wait,
            },
        );
        wait
    }

    /// Records a terminal failure; returns the hold before it is tried again unprompted.
    pub fn record_terminal(&self, key: ObjectKey, inputs: Inputs, now: Instant) -> Duration {
        let wait = self.policy.terminal_hold;
        self.lock().insert(
            key,
            Entry {
                inputs: Some(inputs),
                outcome: Outcome::Terminal,
                until: now + wait,
            },
        );
        wait
    }

    /// Opens the gate: the next reconcile of this object calls the gateway (used when a
    /// referenced Secret changes). Unlike forgetting the object, this is never mistaken for a
    /// first sight, so the change is acted on at once.
    pub fn open(&self, key: &ObjectKey) {
        self.lock().insert(
            key.clone(),
            Entry {
                inputs: None,
                outcome: Outcome::Opened,
                until: Instant::now(),
            },
        );
    }

    /// Forgets every object (a new leadership term starts from what status says).
    pub fn clear(&self) {
        self.lock().clear();
        self.finalized().clear();
    }

    /// Forgets an object that is gone.
    pub fn forget(&self, key: &ObjectKey) {
        self.lock().remove(key);
        self.finalized().remove(key);
    }

    /// Records that the object with `uid` was deprovisioned and its finalizer removed: until the
    /// watch reports it gone, a cached copy that still shows the finalizer is not cleaned up
    /// again.
    pub fn record_finalized(&self, key: ObjectKey, uid: String) {
        self.lock().remove(&key);
        self.finalized().insert(key, uid);
    }

    /// Whether this object (this uid: a recreated namesake is another object) was finalized.
    pub fn is_finalized(&self, key: &ObjectKey, uid: Option<&str>) -> bool {
        uid.is_some_and(|uid| self.finalized().get(key).is_some_and(|done| done == uid))
    }

    fn finalized(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, String>> {
        // Poisoning cannot leave the map inconsistent: every change is one insert or remove.
        self.finalized
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of objects remembered (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no object is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `base · 2^(attempts-1)`, capped, with "equal jitter" (half fixed, half random) so that many
/// objects failing together do not retry in lockstep; never less than `retry_after`.
fn backoff_delay(
    policy: GatePolicy,
    attempts: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let raw = policy
        .backoff_base
        .saturating_mul(1u32 << exponent)
        .min(policy.backoff_max);
    let half = raw / 2;
    let jitter = half.mul_f64(rng.random::<f64>());
    let delay = half + jitter;
    match retry_after {
        Some(floor) if floor > delay => floor,
        _ => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ObjectKey {
        ObjectKey {
            kind: "AIModel",
            namespace: "ns".into(),
            name: "m".into(),
        }
    }

    fn inputs(generation: i64) -> Inputs {
        Inputs {
            generation,
            token_version: 0,
            deleting: false,
            external_name: 0,
        }
    }

    #[test]
    fn a_new_external_name_opens_a_synced_gate() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        gates.record_success(key(), inputs(1), now);
        assert!(gates.closed_for(&key(), inputs(1), now).is_some());
        let moved = Inputs {
            external_name: 7,
            ..inputs(1)
        };
        assert_eq!(gates.closed_for(&key(), moved, now), None);
    }

    fn policy() -> GatePolicy {
        GatePolicy {
            poll_interval: Duration::from_secs(60),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(16),
            terminal_hold: Duration::from_secs(600),
        }
    }

    #[test]
    fn unknown_object_may_call() {
        let gates = Gates::new(policy());
        assert_eq!(gates.closed_for(&key(), inputs(1), Instant::now()), None);
    }

    #[test]
    fn success_closes_until_the_poll_interval_and_a_new_generation_opens() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        gates.record_success(key(), inputs(1), now);
        let wait = gates.closed_for(&key(), inputs(1), now + Duration::from_secs(10));
        assert_eq!(wait, Some(Duration::from_secs(50)));
        assert_eq!(gates.closed_for(&key(), inputs(2), now), None);
        assert_eq!(
            gates.closed_for(&key(), inputs(1), now + Duration::from_secs(61)),
            None
        );
    }

    #[test]
    fn retryable_failures_back_off_exponentially_within_jitter_bounds() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        for attempt in 1..=6u32 {
            let wait = gates.record_retryable(key(), inputs(1), None, now);
            let raw = Duration::from_secs(1u64 << (attempt - 1)).min(Duration::from_secs(16));
            assert!(
                wait >= raw / 2 && wait <= raw,
                "attempt {attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let gates = Gates::new(policy());
        let wait = gates.record_retryable(
            key(),
            inputs(1),
            Some(Duration::from_secs(30)),
            Instant::now(),
        );
        assert_eq!(wait, Duration::from_secs(30));
    }

    #[test]
    fn terminal_failure_holds_until_inputs_change() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        gates.record_terminal(key(), inputs(1), now);
        assert!(
            gates
                .closed_for(&key(), inputs(1), now + Duration::from_secs(300))
                .is_some()
        );
        let rotated = Inputs {
            token_version: 1,
            ..inputs(1)
        };
        assert_eq!(gates.closed_for(&key(), rotated, now), None);
        gates.open(&key());
        assert_eq!(gates.closed_for(&key(), inputs(1), now), None);
    }

    #[test]
    fn first_checks_are_spread_over_the_poll_interval_once() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        let waits: Vec<Duration> = (0..200)
            .filter_map(|i| {
                let key = ObjectKey {
                    name: format!("m{i}"),
                    ..key()
                };
                gates.defer_first_check(key, inputs(1), now)
            })
            .collect();
        assert_eq!(waits.len(), 200);
        assert!(waits.iter().all(|w| *w <= policy().poll_interval));
        // Spread, not a burst: the waits cover most of the interval.
        let (min, max) = (waits.iter().min(), waits.iter().max());
        assert!(min < Some(&Duration::from_secs(10)) && max > Some(&Duration::from_secs(50)));
        // Only the first sight is deferred.
        assert!(gates.defer_first_check(key(), inputs(1), now).is_some());
        assert_eq!(gates.defer_first_check(key(), inputs(1), now), None);
    }

    #[test]
    fn an_opened_gate_is_not_a_first_sight() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        gates.open(&key());
        assert_eq!(gates.defer_first_check(key(), inputs(1), now), None);
        assert_eq!(gates.closed_for(&key(), inputs(1), now), None);
    }

    #[test]
    fn a_new_token_reopens_failures_but_not_the_quiet_window() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        let rotated = Inputs {
            token_version: 1,
            ..inputs(1)
        };
        gates.record_success(key(), inputs(1), now);
        assert!(gates.closed_for(&key(), rotated, now).is_some());
        gates.record_retryable(key(), inputs(1), None, now);
        assert_eq!(gates.closed_for(&key(), rotated, now), None);
    }

    #[test]
    fn a_new_generation_resets_the_failure_count() {
        let gates = Gates::new(policy());
        let now = Instant::now();
        for _ in 0..5 {
            gates.record_retryable(key(), inputs(1), None, now);
        }
        let wait = gates.record_retryable(key(), inputs(2), None, now);
        assert!(wait <= Duration::from_secs(1));
    }
}
