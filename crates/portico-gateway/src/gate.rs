//! The per-request gate around every route: names the operation, continues the caller's trace,
//! applies the rate limit, faults and admin auth, and counts and logs the answer.
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::error::{ApiError, TRACE_ID};
use super::state::AppState;
use super::stats::RequestRecord;

/// The operationId a request addresses, from its method and path.
fn operation_of(method: &Method, path: &str) -> &'static str {
    let mut segments = [""; 8];
    let mut count = 0;
    for segment in path.trim_start_matches('/').split('/') {
        if count == segments.len() {
            return "unknown";
        }
        segments[count] = segment;
        count += 1;
    }
    let segments = &segments[..count];
    match (method.as_str(), segments) {
        ("GET", ["v1", "namespaces", _, "models"]) => "listModels",
        ("PUT", ["v1", "namespaces", _, "models", _]) => "upsertModel",
        ("GET", ["v1", "namespaces", _, "models", _]) => "getModel",
        ("DELETE", ["v1", "namespaces", _, "models", _]) => "deleteModel",
        ("PUT", ["v1", "namespaces", _, "models", _, "keys", _]) => "upsertModelKey",
        ("DELETE", ["v1", "namespaces", _, "models", _, "keys", _]) => "deleteModelKey",
        ("GET", ["v1", "namespaces", _, "databases"]) => "listDatabases",
        ("PUT", ["v1", "namespaces", _, "databases", _]) => "upsertDatabase",
        ("GET", ["v1", "namespaces", _, "databases", _]) => "getDatabase",
        ("DELETE", ["v1", "namespaces", _, "databases", _]) => "deleteDatabase",
        ("POST", ["v1", "namespaces", _, "databases", _, "credentials"]) => {
            "rotateDatabaseCredentials"
        }
        ("POST", ["v1", "chat", "completions"]) => "createChatCompletion",
        ("GET", ["v1", "models"]) => "listClientModels",
        ("GET", ["v1", "usage"]) => "getKeyUsage",
        ("GET", ["v1", "namespaces", _, "models", _, "usage"]) => "getModelUsage",
        ("GET", ["v1", "admin", "stats"]) => "getStats",
        ("GET", ["metrics"]) => "getMetrics",
        (_, ["v1", "admin", "faults", ..]) => "adminFaults",
        (_, ["v1", "admin", "rate-limit"]) => "adminRateLimit",
        _ => "unknown",
    }
}

/// Operations authorised by a model's issued key (not the admin token); their errors carry
/// OpenAI's `error` object.
fn is_data_plane(operation: &str) -> bool {
    matches!(
        operation,
        "createChatCompletion" | "listClientModels" | "getKeyUsage"
    )
}

/// Controls (and the metrics scrape) must stay reachable whatever faults or limits are in force.
fn is_control(operation: &str) -> bool {
    matches!(operation, "adminFaults" | "adminRateLimit" | "getMetrics")
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

fn random_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>().max(1))
}

/// The per-request gate around every route.
pub(crate) async fn gate(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let arrived = Instant::now();
    let _in_flight = state.enter_request();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let operation = operation_of(&method, &path);
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    let parent_span = parent.span().span_context().clone();
    let span = tracing::info_span!(
        "gateway.serve",
        otel.name = %format_args!("{method} {operation}"),
        otel.kind = "server",
        http.request.method = %method,
        url.path = %path,
        gateway.operation = operation,
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    let trace_id = if parent_span.is_valid() {
        let _ = span.set_parent(parent);
        parent_span.trace_id().to_string()
    } else {
        let own = span.context().span().span_context().clone();
        if own.is_valid() {
            own.trace_id().to_string()
        } else {
            random_trace_id()
        }
    };
    span.record("trace_id", trace_id.as_str());
    let response = TRACE_ID
        .scope(
            trace_id.clone(),
            admit(state.clone(), operation, path.clone(), request, next),
        )
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 400 {
        tracing::info!(parent: &span, %trace_id, status, operation, "request refused");
    } else {
        tracing::debug!(parent: &span, %trace_id, status, operation, "request served");
    }
    state.record(RequestRecord {
        operation,
        method: method.to_string(),
        path,
        arrived,
        traceparent,
        trace_id,
        status,
    });
    response
}

/// Rate limit, faults and auth, then the route.
async fn admit(
    state: Arc<AppState>,
    operation: &'static str,
    path: String,
    request: Request,
    next: Next,
) -> Response {
    if !is_control(operation) {
        let decision = state.with_controls(|controls| {
            let limited = controls.limiter.as_ref().and_then(|limiter| {
                limiter.check().err().map(|not_until| {
                    let wait = not_until.wait_time_from(governor::clock::Clock::now(
                        &governor::clock::DefaultClock::default(),
                    ));
                    wait.as_secs_f64().ceil().max(1.0) as u64
                })
            });
            (
                limited,
                controls.take_scripted(operation, &path),
                controls.random,
            )
        });
        let Some((limited, scripted, random)) = decision else {
            return ApiError::internal("fault controls are unavailable").into_response();
        };
        if let Some(seconds) = limited {
            let error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "rate limit exceeded",
            )
            .retry_after(seconds);
            return if is_data_plane(operation) {
                error.for_openai().into_response()
            } else {
                error.into_response()
            };
        }
        if let Some(fault) = scripted {
            return fault.response();
        }
        if random.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(random.latency_ms)).await;
        }
        if random.rate > 0.0 && rand::random::<f64>() < random.rate {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "injected random fault",
            )
            .retry_after(1)
            .into_response();
        }
    }
    if !is_data_plane(operation) && !state.admits_admin(request.headers()) {
        return ApiError::unauthorized("a valid admin bearer token is required").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_recognised_from_method_and_path() {
        assert_eq!(
            operation_of(&Method::PUT, "/v1/namespaces/a/models/b/keys/c"),
            "upsertModelKey"
        );
        assert_eq!(
            operation_of(&Method::POST, "/v1/namespaces/a/databases/b/credentials"),
            "rotateDatabaseCredentials"
        );
        assert_eq!(operation_of(&Method::GET, "/v1/admin/stats"), "getStats");
        assert_eq!(
            operation_of(&Method::PATCH, "/v1/namespaces/a/models/b"),
            "unknown"
        );
        assert_eq!(
            operation_of(&Method::GET, "/a/b/c/d/e/f/g/h/i/j"),
            "unknown"
        );
    }
}
