//! The reference gateway's HTTP server: routing, the per-request gate (trace continuation, rate
//! limit, faults, auth, counting) and the in-process handle `ReferenceGateway`.
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::faults::{Controls, RandomFaults, RateLimitSetting, ScriptedFault};
use super::store::{Provisioner, Store};
use super::wire::{ErrorBody, ErrorDetail};
use super::{handlers, store};

/// Settings of a reference gateway.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The admin bearer token.
    pub token: SecretString,
    /// Server-side rate limit in calls per second; beyond it `429` with `Retry-After`.
    pub rate_limit: Option<f64>,
    /// How long database provisioning and deprovisioning take.
    pub provision_delay: Duration,
    /// Probability of a random `503`.
    pub fault_rate: f64,
    /// Latency added to every call.
    pub fault_latency: Duration,
    /// Host reported for simulated databases.
    pub database_host: String,
    /// Base URL written into model endpoints; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
}

impl GatewayConfig {
    /// A gateway on `127.0.0.1:0` with `token`, no limits, faults or delays.
    pub fn new(token: SecretString) -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token,
            rate_limit: None,
            provision_delay: Duration::ZERO,
            fault_rate: 0.0,
            fault_latency: Duration::ZERO,
            database_host: "127.0.0.1".into(),
            public_url: None,
        }
    }
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("rate_limit", &self.rate_limit)
            .field("provision_delay", &self.provision_delay)
            .finish_non_exhaustive()
    }
}

/// Why a reference gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayStartError {
    /// The listening address could not be bound.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// One request as the gateway saw it arrive, for tests that check what reached the server and
/// when.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// operationId (`unknown` for unmatched routes).
    pub operation: &'static str,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// When the request arrived.
    pub arrived: Instant,
    /// The `traceparent` header as received.
    pub traceparent: Option<String>,
    /// The trace id the gateway served it under.
    pub trace_id: String,
    /// Status answered.
    pub status: u16,
}

/// `GET /v1/admin/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Calls by operation and status, sorted.
    pub requests: Vec<RequestCount>,
    /// Objects held.
    pub objects: ObjectCounts,
}

/// Calls of one operation answered with one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    /// operationId.
    pub operation: &'static str,
    /// Status.
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// Objects held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCounts {
    /// Models.
    pub models: u64,
    /// Unrevoked keys.
    pub model_keys: u64,
    /// Databases, including those being deleted.
    pub databases: u64,
}

impl Stats {
    /// Calls of `operation` answered with `status`.
    pub fn count(&self, operation: &str, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.operation == operation && r.status == status)
            .map(|r| r.count)
            .sum()
    }
}

const REQUEST_LOG_CAPACITY: usize = 65_536;

/// Shared by every request.
pub(crate) struct AppState {
    token_digest: [u8; 32],
    pub(crate) public_url: String,
    pub(crate) store: Mutex<Store>,
    pub(crate) provision_delay: Duration,
    pub(crate) database_host: String,
    pub(crate) provisioner: Option<Arc<dyn Provisioner>>,
    controls: Mutex<Controls>,
    counts: Mutex<HashMap<(&'static str, u16), u64>>,
    requests: Mutex<VecDeque<RequestRecord>>,
    in_flight: std::sync::atomic::AtomicU64,
}

impl AppState {
    pub(crate) fn stats(&self) -> Stats {
        let mut requests: Vec<RequestCount> = self
            .counts
            .lock()
            .map(|counts| {
                counts
                    .iter()
                    .map(|(&(operation, status), &count)| RequestCount {
                        operation,
                        status,
                        count,
                    })
                    .collect()
            })
            .unwrap_or_default();
        requests.sort_by(|a, b| (a.operation, a.status).cmp(&(b.operation, b.status)));
        let objects = self
            .store
            .lock()
            .map(|store| store.counts())
            .unwrap_or(ObjectCounts {
                models: 0,
                model_keys: 0,
                databases: 0,
            });
        Stats { requests, objects }
    }

    pub(crate) fn with_controls<T>(&self, f: impl FnOnce(&mut Controls) -> T) -> Option<T> {
        self.controls
            .lock()
            .ok()
            .map(|mut controls| f(&mut controls))
    }
}

/// A running reference gateway. Dropping it stops the server.
pub struct ReferenceGateway {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ReferenceGateway {
    /// Binds and serves on the current tokio runtime, with simulated databases.
    pub async fn start(config: GatewayConfig) -> Result<Self, GatewayStartError> {
        Self::start_with_provisioner(config, None).await
    }

    pub(crate) async fn start_with_provisioner(
        config: GatewayConfig,
        provisioner: Option<Arc<dyn Provisioner>>,
    ) -> Result<Self, GatewayStartError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| GatewayStartError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| GatewayStartError::Bind {
                addr: config.listen,
                source,
            })?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        let mut controls = Controls {
            random: RandomFaults {
                rate: config.fault_rate,
                latency_ms: config.fault_latency.as_millis() as u64,
            },
            ..Controls::default()
        };
        controls.set_rate_limit(config.rate_limit);
        let state = Arc::new(AppState {
            token_digest: store::digest(config.token.expose_secret()),
            public_url,
            store: Mutex::new(Store::default()),
            provision_delay: config.provision_delay,
            database_host: config.database_host.clone(),
            provisioner,
            controls: Mutex::new(controls),
            counts: Mutex::new(HashMap::new()),
            requests: Mutex::new(VecDeque::new()),
            in_flight: std::sync::atomic::AtomicU64::new(0),
        });
        let router = handlers::routes()
            .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
            .with_state(state.clone());
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "reference gateway stopped serving");
            }
        });
        tracing::info!(%addr, "reference gateway listening");
        Ok(ReferenceGateway {
            addr,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls by operation and status, and objects held (what `GET /v1/admin/stats` answers).
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Requests that arrived and have not been answered yet.
    pub fn in_flight(&self) -> u64 {
        self.state
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most recent requests (up to 65,536), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state
            .requests
            .lock()
            .map(|log| log.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sets the probability of a random `503` (with `Retry-After: 1`).
    pub fn set_fault_rate(&self, rate: f64) {
        self.state.with_controls(|c| c.random.rate = rate);
    }

    /// Sets the latency added to every call.
    pub fn set_fault_latency(&self, latency: Duration) {
        self.state
            .with_controls(|c| c.random.latency_ms = latency.as_millis() as u64);
    }

    /// Queues a scripted answer.
    pub fn push_fault(&self, fault: ScriptedFault) {
        self.state.with_controls(|c| c.scripted.push_back(fault));
    }

    /// Removes scripted answers, random faults and latency (not the rate limit).
    pub fn clear_faults(&self) {
        self.state.with_controls(|c| {
            c.scripted.clear();
            c.random = RandomFaults::default();
        });
    }

    /// Sets (or with `None` removes) the server-side rate limit.
    pub fn set_rate_limit(&self, qps: Option<f64>) {
        self.state.with_controls(|c| c.set_rate_limit(qps));
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ReferenceGateway {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

tokio::task_local! {
    static TRACE_ID: String;
}

/// An error answer with the contract's `Error` body; the trace id is filled in from the request
/// being served.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<ErrorDetail>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// An error of `status` with the code the contract lists for it.
    pub(crate) fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            422 => "invalid",
            429 => "rate_limited",
            503 => "unavailable",
            500..=599 => "internal",
            _ => "bad_request",
        };
        ApiError::new(status, code, message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn conflict(message: impl Into<String>, details: Vec<ErrorDetail>) -> Self {
        ApiError {
            details,
            ..ApiError::new(StatusCode::CONFLICT, "conflict", message)
        }
    }

    pub(crate) fn invalid(details: Vec<ErrorDetail>) -> Self {
        let fields: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
        ApiError {
            message: format!("invalid value of {}", fields.join(", ")),
            details,
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "")
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub(crate) fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retryable = matches!(self.status.as_u16(), 408 | 429 | 500..=599);
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            retryable,
            retry_after_seconds: self.retry_after,
            details: self.details,
            trace_id: TRACE_ID.try_with(Clone::clone).ok(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

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
        ("GET", ["v1", "admin", "stats"]) => "getStats",
        (_, ["v1", "admin", "faults", ..]) => "adminFaults",
        (_, ["v1", "admin", "rate-limit"]) => "adminRateLimit",
        _ => "unknown",
    }
}

/// Controls must stay reachable whatever faults or limits are in force.
fn is_control(operation: &str) -> bool {
    matches!(operation, "adminFaults" | "adminRateLimit")
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

/// Counts a request as in flight until dropped (also when the client goes away mid-request).
struct InFlight<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a std::sync::atomic::AtomicU64) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The per-request gate around every route.
async fn gate(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let _in_flight = InFlight::enter(&state.in_flight);
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
    if let Ok(mut counts) = state.counts.lock() {
        *counts.entry((operation, status)).or_default() += 1;
    }
    if let Ok(mut log) = state.requests.lock() {
        if log.len() == REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(RequestRecord {
            operation,
            method: method.to_string(),
            path,
            arrived,
            traceparent,
            trace_id,
            status,
        });
    }
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
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "rate limit exceeded",
            )
            .retry_after(seconds)
            .into_response();
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
    if operation != "createChatCompletion" {
        let authorised = bearer_token(request.headers())
            .is_some_and(|token| store::digest(token) == state.token_digest);
        if !authorised {
            return ApiError::unauthorized("a valid admin bearer token is required")
                .into_response();
        }
    }
    next.run(request).await
}

/// The bearer token of a request, if it carries one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Admin control routes (not part of the contract; see `docs/gateway-api.md`).
pub(crate) fn control_routes() -> Router<Arc<AppState>> {
    use axum::routing::{post, put};
    Router::new()
        .route(
            "/v1/admin/faults",
            put(put_random_faults).delete(delete_faults),
        )
        .route("/v1/admin/faults/scripted", post(post_scripted_fault))
        .route("/v1/admin/rate-limit", put(put_rate_limit))
}

fn parse_control<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

async fn put_random_faults(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let faults: RandomFaults = parse_control(&body)?;
    if !(0.0..=1.0).contains(&faults.rate) {
        return Err(ApiError::invalid(vec![ErrorDetail {
            field: "rate".into(),
            reason: "must be between 0 and 1".into(),
        }]));
    }
    state.with_controls(|c| c.random = faults);
    Ok(axum::Json(faults).into_response())
}

async fn delete_faults(State(state): State<Arc<AppState>>) -> StatusCode {
    state.with_controls(|c| {
        c.scripted.clear();
        c.random = RandomFaults::default();
    });
    StatusCode::NO_CONTENT
}

async fn post_scripted_fault(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fault: ScriptedFault = parse_control(&body)?;
    if !(100..=599).contains(&fault.status) {
        return Err(ApiError::invalid(vec![ErrorDetail {
            field: "status".into(),
            reason: "must be an HTTP status (100 to 599)".into(),
        }]));
    }
    state.with_controls(|c| c.scripted.push_back(fault.clone()));
    Ok((StatusCode::CREATED, axum::Json(fault)).into_response())
}

async fn put_rate_limit(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let setting: RateLimitSetting = parse_control(&body)?;
    state.with_controls(|c| c.set_rate_limit(setting.qps));
    Ok(axum::Json(setting).into_response())
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

    #[test]
    fn bearer_tokens_need_the_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }
}
