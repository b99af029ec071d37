//! Prometheus metrics of gateway calls: requests by operation and status class, request
//! duration, time spent waiting for the shared limiter, and `Retry-After` pauses. Cheap to clone;
//! clones share the same series. A client built without a registry still counts, unseen.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

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
    duration: Family<OperationLabels, Histogram>,
    limiter_wait: Histogram,
    pauses: Family<PauseLabels, Counter>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            // 5 ms … ~20 s: a loopback call takes well under 5 ms, a slow gateway seconds.
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 13))
            }),
            // 1 ms … ~65 s: the rate limit spaces calls by milliseconds, a Retry-After by seconds.
            limiter_wait: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
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
}
