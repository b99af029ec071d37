//! Prometheus metrics of gateway calls: requests by operation and status class, request
//! duration, time spent waiting for the shared limiter, and `Retry-After` pauses. Cheap to clone;
//! clones share the same series. A client built without a registry still counts, unseen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

/// A histogram whose observation is a few atomic adds. prometheus-client's own takes a mutex per
/// observation, and every gateway call, from every task, observes the same two histograms.
#[derive(Debug, Clone)]
pub struct AtomicHistogram {
    inner: Arc<AtomicHistogramInner>,
}

#[derive(Debug)]
struct AtomicHistogramInner {
    /// Upper bounds, ascending, the last one +Inf.
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative).
    counts: Vec<AtomicU64>,
    /// Sum of observations in nanounits, so that it can be added atomically.
    sum_nanos: AtomicU64,
}

impl AtomicHistogram {
    /// A histogram with these upper bounds (+Inf is added).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds.into_iter().filter(|b| b.is_finite()).collect();
        bounds.push(f64::INFINITY);
        let counts = bounds.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(AtomicHistogramInner {
                bounds,
                counts,
                sum_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Records one observation (negative and NaN values count as 0).
    pub fn observe(&self, value: f64) {
        let value = if value.is_nan() { 0.0 } else { value.max(0.0) };
        let inner = &self.inner;
        let bucket = inner
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(inner.bounds.len() - 1);
        inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        inner
            .sum_nanos
            .fetch_add((value * 1e9) as u64, Ordering::Relaxed);
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.inner;
        // Per-bucket counts: the encoder makes them cumulative.
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .zip(&inner.counts)
            .map(|(bound, count)| (*bound, count.load(Ordering::Relaxed)))
            .collect();
        // The count is the buckets' total, so that a scrape racing an observation stays
        // consistent with its +Inf bucket.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    /// `2xx`, `4xx`, `5xx`… or `error` when no response arrived (timeout, connection).
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PauseLabels {
    status: &'static str,
}

/// The gateway client's series.
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<OperationLabels, AtomicHistogram>,
    limiter_wait: AtomicHistogram,
    pauses: Family<PauseLabels, Counter>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            // 5 ms … ~20 s: a loopback call takes well under 5 ms, a slow gateway seconds.
            duration: Family::new_with_constructor(|| {
                AtomicHistogram::new(exponential_buckets(0.005, 2.0, 13))
            }),
            // 1 ms … ~65 s: the rate limit spaces calls by milliseconds, a Retry-After by seconds.
            limiter_wait: AtomicHistogram::new(exponential_buckets(0.001, 2.0, 17)),
            pauses: Family::default(),
        }
    }
}

impl GatewayMetrics {
    /// Fresh series, registered in `registry`.
    pub fn registered(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "portico_gateway_requests",
            "Gateway calls by operation and status class (error: no response)",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "portico_gateway_request_duration",
            "Time from sending a gateway call to its parsed answer, by operation",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        registry.register_with_unit(
            "portico_gateway_limiter_wait",
            "Time a gateway call waited for the shared rate limiter and Retry-After pauses",
            Unit::Seconds,
            metrics.limiter_wait.clone(),
        );
        registry.register(
            "portico_gateway_retry_after_pauses",
            "Pauses of every gateway caller imposed by a 429 or 503 with Retry-After, by status",
            metrics.pauses.clone(),
        );
        metrics
    }

    /// Records one finished call.
    pub(crate) fn observe_call(
        &self,
        operation: &'static str,
        status: Option<u16>,
        latency: std::time::Duration,
        limiter_wait: std::time::Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                operation,
                status_class: status_class(status),
            })
            .inc();
        self.duration
            .get_or_create(&OperationLabels { operation })
            .observe(latency.as_secs_f64());
        self.limiter_wait.observe(limiter_wait.as_secs_f64());
    }

    /// Records a pause imposed on every caller.
    pub(crate) fn observe_pause(&self, status: u16) {
        let status = match status {
            429 => "429",
            503 => "503",
            _ => "other",
        };
        self.pauses.get_or_create(&PauseLabels { status }).inc();
    }
}

fn status_class(status: Option<u16>) -> &'static str {
    match status {
        None => "error",
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_operation_and_class() {
        let mut registry = Registry::default();
        let metrics = GatewayMetrics::registered(&mut registry);
        let ms = std::time::Duration::from_millis;
        metrics.observe_call("upsertModel", Some(201), ms(3), ms(0));
        metrics.observe_call("upsertModel", Some(200), ms(3), ms(0));
        metrics.observe_call("getModel", None, ms(3), ms(0));
        metrics.observe_pause(429);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(text.contains(
            r#"portico_gateway_requests_total{operation="upsertModel",status_class="2xx"} 2"#
        ));
        assert!(text.contains(
            r#"portico_gateway_requests_total{operation="getModel",status_class="error"} 1"#
        ));
        assert!(text.contains(r#"portico_gateway_retry_after_pauses_total{status="429"} 1"#));
        assert!(text.contains("portico_gateway_limiter_wait_seconds_count 3"));
    }

    #[test]
    fn atomic_histograms_encode_like_prometheus_histograms() {
        let mut registry = Registry::default();
        let histogram = AtomicHistogram::new([0.1, 1.0]);
        registry.register("h", "help", histogram.clone());
        for value in [0.05, 0.1, 0.5, 3.0, f64::NAN] {
            histogram.observe(value);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("# TYPE h histogram"), "{text}");
        assert!(text.contains("h_bucket{le=\"0.1\"} 3"), "{text}");
        assert!(text.contains("h_bucket{le=\"1.0\"} 4"), "{text}");
        assert!(text.contains("h_bucket{le=\"+Inf\"} 5"), "{text}");
        assert!(text.contains("h_count 5"), "{text}");
        assert!(text.contains("h_sum 3.65"), "{text}");
    }
}
