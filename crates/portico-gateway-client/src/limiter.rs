//! The limiter every clone of a `GatewayClient` shares: a governor rate limit plus a pause that a
//! `429`/`503` with `Retry-After` imposes on every caller.
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::metrics::GatewayMetrics;

/// Cheap to clone; clones share one limit and one pause.
#[derive(Clone)]
pub(crate) struct SharedLimiter {
    inner: Arc<LimiterState>,
}

struct LimiterState {
    rate: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
    metrics: GatewayMetrics,
}

impl SharedLimiter {
    /// A limiter admitting `qps` calls per second on average and `burst` at once.
    pub(crate) fn new(qps: f64, burst: u32, metrics: GatewayMetrics) -> Option<Self> {
        if !(qps.is_finite() && qps > 0.0) {
            return None;
        }
        let period = Duration::from_secs_f64(1.0 / qps);
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst.max(1))?);
        Some(SharedLimiter {
            inner: Arc::new(LimiterState {
                rate: RateLimiter::direct(quota),
                paused_until: Mutex::new(None),
                metrics,
            }),
        })
    }

    /// Makes every caller wait until `wait` from now (never shortens an existing pause);
    /// `status` is the answer that asked for it.
    pub(crate) fn pause_for(&self, wait: Duration, status: u16) {
        self.inner.metrics.observe_pause(status);
        // Delays are bounded where they are parsed; an Instant that cannot hold the sum is
        // still no reason to panic.
        let Some(until) = Instant::now().checked_add(wait) else {
            return;
        };
        if let Ok(mut paused) = self.inner.paused_until.lock()
            && paused.is_none_or(|current| current < until)
        {
            *paused = Some(until);
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        let paused = self.inner.paused_until.lock().ok()?;
        paused.filter(|until| *until > Instant::now())
    }

    /// Waits for the pause (if any) and a rate-limit cell; returns how long that took.
    pub(crate) async fn acquire(&self) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(until) = self.paused_until() {
                tokio::time::sleep_until(until).await;
            }
            self.inner.rate.until_ready().await;
            // A pause imposed while this caller waited for its cell still applies to it.
            if self.paused_until().is_none() {
                return start.elapsed();
            }
        }
    }
}
