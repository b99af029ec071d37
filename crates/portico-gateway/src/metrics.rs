//! The gateway's Prometheus registry and the series of its data plane, served at `GET /metrics`:
//! inference requests by model, provider and status class, their duration, the time to the
//! first chunk of streams, and input/output tokens per model and per key (the key's name, never
//! its secret).
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The content type of the exposition.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    model: String,
    provider: String,
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
    provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyTokenLabels {
    model: String,
    key: String,
    direction: &'static str,
}

type HistogramFamily = Family<ModelLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 10 ms to about 5.5 min.
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

/// What one forwarded request used, as the series count it.
pub(crate) struct Finished<'a> {
    pub model: &'a str,
    pub provider: &'static str,
    pub key: &'a str,
    pub duration: Duration,
    pub first_chunk: Option<Duration>,
    pub input: u64,
    pub output: u64,
}

/// The registry and its series.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    first_token: HistogramFamily,
    tokens: Family<TokenLabels, Counter>,
    key_tokens: Family<KeyTokenLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portico_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let first_token: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let tokens = Family::<TokenLabels, Counter>::default();
        let key_tokens = Family::<KeyTokenLabels, Counter>::default();
        registry.register(
            "inference_requests",
            "Chat completion requests by model (namespace/name), provider and status class",
            requests.clone(),
        );
        registry.register_with_unit(
            "inference_request_duration",
            "Time from the upstream call to the end of the answer (streams: the last chunk)",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            "inference_time_to_first_token",
            "Time from the upstream call to the first chunk passed on (streams only)",
            Unit::Seconds,
            first_token.clone(),
        );
        registry.register(
            "inference_tokens",
            "Tokens the providers reported, by model and direction (input, output)",
            tokens.clone(),
        );
        registry.register(
            "key_tokens",
            "Tokens the providers reported, by model, key name and direction",
            key_tokens.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            first_token,
            tokens,
            key_tokens,
        }
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Counts an answered request; `model` and `provider` are empty when the key was not
    /// recognised.
    pub(crate) fn request(&self, model: &str, provider: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                model: model.to_string(),
                provider: provider.to_string(),
                status_class: status_class(status),
            })
            .inc();
    }

    /// Records a forwarded request once its answer ended.
    pub(crate) fn finished(&self, done: Finished<'_>) {
        let labels = ModelLabels {
            model: done.model.to_string(),
            provider: done.provider.to_string(),
        };
        self.duration
            .get_or_create(&labels)
            .observe(done.duration.as_secs_f64());
        if let Some(first) = done.first_chunk {
            self.first_token
                .get_or_create(&labels)
                .observe(first.as_secs_f64());
        }
        for (direction, count) in [("input", done.input), ("output", done.output)] {
            self.tokens
                .get_or_create(&TokenLabels {
                    model: done.model.to_string(),
                    direction,
                })
                .inc_by(count);
            self.key_tokens
                .get_or_create(&KeyTokenLabels {
                    model: done.model.to_string(),
                    key: done.key.to_string(),
                    direction,
                })
                .inc_by(count);
        }
    }

    /// The exposition text.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_and_labelled() {
        let metrics = Metrics::default();
        metrics.request("a/m", "openai", 200);
        metrics.request("", "", 401);
        metrics.finished(Finished {
            model: "a/m",
            provider: "openai",
            key: "default",
            duration: Duration::from_millis(20),
            first_chunk: Some(Duration::from_millis(5)),
            input: 3,
            output: 4,
        });
        let text = metrics.encode().expect("encodes");
        for line in [
            r#"portico_gateway_inference_requests_total{model="a/m",provider="openai",status_class="2xx"} 1"#,
            r#"portico_gateway_inference_requests_total{model="",provider="",status_class="4xx"} 1"#,
            r#"portico_gateway_inference_request_duration_seconds_count{model="a/m",provider="openai"} 1"#,
            r#"portico_gateway_inference_time_to_first_token_seconds_count{model="a/m",provider="openai"} 1"#,
            r#"portico_gateway_inference_tokens_total{model="a/m",direction="output"} 4"#,
            r#"portico_gateway_key_tokens_total{model="a/m",key="default",direction="input"} 3"#,
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
