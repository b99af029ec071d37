//! Reconcile timing for `portico bench`, taken from the operator's own tracing spans: each
//! `reconcile` span's wall time, minus the `gateway.call` spans under it (limiter wait plus the
//! HTTP exchange), is the operator's own latency. Reconciles that stopped at the gate (marked by
//! the controller's `gate_wait_ms` event) are only counted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::span;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

const RECONCILE_SPAN: &str = "reconcile";
const GATEWAY_SPAN: &str = "gateway.call";
const GATE_CLOSED_FIELD: &str = "gate_wait_ms";

/// A tracing layer collecting reconcile timings; clones share the samples.
#[derive(Debug, Clone, Default)]
pub struct ReconcileTimes {
    samples: Arc<Mutex<Samples>>,
}

/// Microseconds, kept as `u32` so that the samples barely move the operator's RSS.
#[derive(Debug, Default)]
struct Samples {
    own: Vec<u32>,
    total: Vec<u32>,
    gateway: Vec<u32>,
    gated: u64,
}

struct Timing {
    started: Instant,
    gateway: Duration,
    gated: bool,
}

/// Percentiles of the reconciles that passed the gate, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReconcileStats {
    /// Reconciles that passed the gate (did work).
    pub worked: u64,
    /// Reconciles that stopped at the gate (nothing due).
    pub gated: u64,
    /// p50 of the time spent outside gateway calls.
    pub own_p50_ms: f64,
    /// p99 of the time spent outside gateway calls.
    pub own_p99_ms: f64,
    /// p50 of the whole reconcile.
    pub total_p50_ms: f64,
    /// p99 of the whole reconcile.
    pub total_p99_ms: f64,
    /// p50 of the time spent in gateway calls (limiter wait included).
    pub gateway_p50_ms: f64,
    /// p99 of the time spent in gateway calls (limiter wait included).
    pub gateway_p99_ms: f64,
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

fn percentile_ms(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

impl ReconcileTimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Samples> {
        self.samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Percentiles of everything recorded so far.
    pub fn stats(&self) -> ReconcileStats {
        let (mut own, mut total, mut gateway, gated) = {
            let samples = self.lock();
            (
                samples.own.clone(),
                samples.total.clone(),
                samples.gateway.clone(),
                samples.gated,
            )
        };
        own.sort_unstable();
        total.sort_unstable();
        gateway.sort_unstable();
        ReconcileStats {
            worked: own.len() as u64,
            gated,
            own_p50_ms: percentile_ms(&own, 0.50),
            own_p99_ms: percentile_ms(&own, 0.99),
            total_p50_ms: percentile_ms(&total, 0.50),
            total_p99_ms: percentile_ms(&total, 0.99),
            gateway_p50_ms: percentile_ms(&gateway, 0.50),
            gateway_p99_ms: percentile_ms(&gateway, 0.99),
        }
    }
}

impl<S> Layer<S> for ReconcileTimes
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let name = attrs.metadata().name();
        if name != RECONCILE_SPAN && name != GATEWAY_SPAN {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Timing {
                started: Instant::now(),
                gateway: Duration::ZERO,
                gated: false,
            });
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().fields().field(GATE_CLOSED_FIELD).is_none() {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        if let Some(reconcile) = scope.into_iter().find(|s| s.name() == RECONCILE_SPAN)
            && let Some(timing) = reconcile.extensions_mut().get_mut::<Timing>()
        {
            timing.gated = true;
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(timing) = span.extensions_mut().remove::<Timing>() else {
            return;
        };
        let elapsed = timing.started.elapsed();
        match span.name() {
            GATEWAY_SPAN => {
                if let Some(reconcile) = span.scope().skip(1).find(|s| s.name() == RECONCILE_SPAN)
                    && let Some(parent) = reconcile.extensions_mut().get_mut::<Timing>()
                {
                    parent.gateway += elapsed;
                }
            }
            RECONCILE_SPAN => {
                let mut samples = self.lock();
                if timing.gated {
                    samples.gated += 1;
                } else {
                    samples
                        .own
                        .push(micros(elapsed.saturating_sub(timing.gateway)));
                    samples.total.push(micros(elapsed));
                    samples.gateway.push(micros(timing.gateway));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn gateway_time_is_subtracted_and_gated_reconciles_only_counted() {
        let times = ReconcileTimes::default();
        let subscriber = tracing_subscriber::registry().with(times.clone());
        tracing::subscriber::with_default(subscriber, || {
            let reconcile = tracing::info_span!("reconcile");
            reconcile.in_scope(|| {
                let call = tracing::info_span!("gateway.call");
                call.in_scope(|| std::hint::black_box((0..10_000u64).sum::<u64>()));
            });
            drop(reconcile);
            let gated = tracing::info_span!("reconcile");
            gated.in_scope(|| tracing::trace!(gate_wait_ms = 5u64, "gate closed"));
        });
        let stats = times.stats();
        assert_eq!((stats.worked, stats.gated), (1, 1));
        assert!(stats.total_p50_ms >= stats.gateway_p50_ms);
        assert!(stats.own_p50_ms <= stats.total_p50_ms);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&sorted, 0.50), 50.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.99), 0.0);
    }
}
