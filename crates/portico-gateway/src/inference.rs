//! The data plane: `POST /v1/chat/completions` forwarded to the model's provider (prompt
//! template, parameter defaults and bounds, per-model limits, OpenAI ⇄ Anthropic translation,
//! streaming), `GET /v1/models` and `GET /v1/usage` for key holders, the admin's usage view, and
//! the GenAI span of each inference request. Errors carry OpenAI's `error` object.
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::anthropic;
use super::error::ApiError;
use super::handlers::{Params, body, lock, names};
use super::metrics::{Finished, Metrics, OPENMETRICS};
use super::state::{AppState, bearer_token};
use super::store::{KeyOwner, ObjectKey, digest, random_string};
use super::upstream::{self, EgressPolicy, Refusal, Target, WireFormat};
use super::wire::{ChatCompletionRequest, ModelLimits, ModelSpec, PromptTemplate, Violations};

/// Largest upstream answer read whole (non-streaming answers, error bodies).
const MAX_UPSTREAM_BODY: usize = 16 * 1024 * 1024;
/// Largest error body read from an upstream.
const MAX_UPSTREAM_ERROR_BODY: usize = 64 * 1024;
/// Largest streamed answer passed on.
const MAX_UPSTREAM_STREAM: usize = 64 * 1024 * 1024;

/// What the data plane shares: the upstream client, the egress policy, limits and usage.
pub(crate) struct DataPlane {
    pub http: reqwest::Client,
    pub egress: Arc<EgressPolicy>,
    /// Development base URLs by provider name (`GatewayConfig::provider_base_urls`).
    pub overrides: HashMap<String, String>,
    pub check_timeout: Duration,
    usage: Mutex<UsageBook>,
    limiters: Mutex<HashMap<ObjectKey, Limiter>>,
    /// The Prometheus series of `GET /metrics`.
    pub metrics: Metrics,
}

impl DataPlane {
    pub(crate) fn new(
        http: reqwest::Client,
        egress: Arc<EgressPolicy>,
        overrides: HashMap<String, String>,
        check_timeout: Duration,
    ) -> Self {
        DataPlane {
            http,
            egress,
            overrides,
            check_timeout,
            usage: Mutex::new(UsageBook::default()),
            limiters: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
        }
    }

    /// Forgets a deleted model's usage and limits.
    pub(crate) fn forget(&self, key: &ObjectKey) {
        if let Ok(mut usage) = self.usage.lock() {
            usage.models.remove(key);
            usage
                .keys
                .retain(|(ns, model, _), _| !(ns == &key.0 && model == &key.1));
        }
        if let Ok(mut limiters) = self.limiters.lock() {
            limiters.remove(key);
        }
    }
}

pub(crate) fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/v1/chat/completions", post(create_chat_completion))
        .route("/v1/models", get(list_client_models))
        .route("/v1/usage", get(get_key_usage))
        .route("/metrics", get(get_metrics))
        .route(
            "/v1/namespaces/{ns}/models/{name}/usage",
            get(get_model_usage),
        )
}

async fn get_metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let text = state
        .data
        .metrics
        .encode()
        .map_err(|_| ApiError::internal("the metrics could not be encoded"))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS))],
        text,
    )
        .into_response())
}

async fn get_model_usage(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let key = (ns, name);
    if !lock(&state)?.models.contains_key(&key) {
        return Err(ApiError::not_found(format!(
            "model {}/{} not found",
            key.0, key.1
        )));
    }
    Ok((StatusCode::OK, axum::Json(model_usage(&state, &key)?)).into_response())
}

// ---- usage ----

/// Requests and tokens.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageCounts {
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
}

impl UsageCounts {
    fn add(&mut self, input: u64, output: u64) {
        self.requests += 1;
        self.input_tokens += input;
        self.output_tokens += output;
    }
}

#[derive(Default)]
struct UsageBook {
    models: HashMap<ObjectKey, UsageCounts>,
    keys: HashMap<(String, String, String), UsageCounts>,
}

// ---- limits ----

type DirectLimiter = governor::DefaultDirectRateLimiter;

/// A model's limits: requests per minute (governor) and tokens per minute (a one-minute
/// window of the tokens answers used).
#[derive(Default)]
struct Limiter {
    requests: Option<(i64, DirectLimiter)>,
    tokens: Option<(i64, VecDeque<(Instant, u64)>)>,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Limiter {
    fn configure(&mut self, limits: Option<&ModelLimits>) {
        let rpm = limits.and_then(|l| l.requests_per_minute);
        match rpm {
            Some(rpm) if self.requests.as_ref().map(|r| r.0) != Some(rpm) => {
                let per_minute = NonZeroU32::new(u32::try_from(rpm).unwrap_or(u32::MAX).max(1))
                    .unwrap_or(NonZeroU32::MIN);
                self.requests = Some((
                    rpm,
                    governor::RateLimiter::direct(governor::Quota::per_minute(per_minute)),
                ));
            }
            Some(_) => {}
            None => self.requests = None,
        }
        let tpm = limits.and_then(|l| l.tokens_per_minute);
        match tpm {
            Some(tpm) if self.tokens.as_ref().map(|t| t.0) != Some(tpm) => {
                self.tokens = Some((tpm, VecDeque::new()));
            }
            Some(_) => {}
            None => self.tokens = None,
        }
    }

    /// Whether a request may go now (`now`: the window's clock, injectable for tests);
    /// otherwise the seconds to wait and the limit reached.
    fn admit(&mut self, now: Instant) -> Result<(), (u64, &'static str)> {
        if let Some((limit, window)) = &mut self.tokens {
            let limit = u64::try_from(*limit).unwrap_or(0);
            let age = |at: Instant| now.saturating_duration_since(at);
            while window.front().is_some_and(|(at, _)| age(*at) >= MINUTE) {
                window.pop_front();
            }
            let mut used: u64 = window.iter().map(|(_, n)| n).sum();
            if used >= limit {
                // Until enough of the oldest answers leave the window to get under the limit.
                let mut wait = MINUTE;
                for (at, tokens) in window.iter() {
                    used = used.saturating_sub(*tokens);
                    if used < limit {
                        wait = MINUTE.saturating_sub(age(*at));
                        break;
                    }
                }
                return Err((wait.as_secs_f64().ceil().max(1.0) as u64, "tokensPerMinute"));
            }
        }
        if let Some((_, limiter)) = &self.requests
            && let Err(not_until) = limiter.check()
        {
            use governor::clock::Clock as _;
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            return Err((
                wait.as_secs_f64().ceil().max(1.0) as u64,
                "requestsPerMinute",
            ));
        }
        Ok(())
    }

    fn spend(&mut self, now: Instant, tokens: u64) {
        if let Some((_, window)) = &mut self.tokens
            && tokens > 0
        {
            window.push_back((now, tokens));
        }
    }
}

// ---- authorisation ----

/// The model and key an issued key belongs to.
fn caller(state: &AppState, headers: &HeaderMap) -> Result<KeyOwner, ApiError> {
    let presented = bearer_token(headers)
        .ok_or_else(|| ApiError::unauthorized("a model API key is required"))?;
    lock(state)?
        .keys
        .get(&digest(presented))
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))
}

// ---- GET /v1/models, GET /v1/usage, admin usage ----

pub(crate) async fn list_client_models(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    let answer = (|| {
        let owner = caller(&state, &headers)?;
        let store = lock(&state)?;
        let entry = store
            .models
            .get(&(owner.namespace.clone(), owner.model.clone()))
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
        Ok::<_, ApiError>(json!({
            "object": "list",
            "data": [{
                "id": format!("{}/{}", owner.namespace, owner.model),
                "object": "model",
                "created": entry.created,
                "owned_by": owner.namespace,
            }],
        }))
    })();
    match answer {
        Ok(list) => (StatusCode::OK, axum::Json(list)).into_response(),
        Err(error) => error.for_openai().into_response(),
    }
}

pub(crate) async fn get_key_usage(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    let answer = (|| {
        let owner = caller(&state, &headers)?;
        let counts = state
            .data
            .usage
            .lock()
            .map_err(|_| ApiError::internal("usage is unavailable"))?
            .keys
            .get(&(
                owner.namespace.clone(),
                owner.model.clone(),
                owner.key.clone(),
            ))
            .copied()
            .unwrap_or_default();
        Ok::<_, ApiError>(json!({
            "namespace": owner.namespace,
            "model": owner.model,
            "key": owner.key,
            "usage": counts,
        }))
    })();
    match answer {
        Ok(usage) => (StatusCode::OK, axum::Json(usage)).into_response(),
        Err(error) => error.for_openai().into_response(),
    }
}

/// Requests and tokens of one model, in total and by key (admin).
fn model_usage(state: &AppState, key: &ObjectKey) -> Result<Value, ApiError> {
    let usage = state
        .data
        .usage
        .lock()
        .map_err(|_| ApiError::internal("usage is unavailable"))?;
    let total = usage.models.get(key).copied().unwrap_or_default();
    let mut keys: Vec<Value> = usage
        .keys
        .iter()
        .filter(|((ns, model, _), _)| ns == &key.0 && model == &key.1)
        .map(|((_, _, name), counts)| json!({"key": name, "usage": counts}))
        .collect();
    keys.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    Ok(json!({
        "namespace": key.0,
        "name": key.1,
        "usage": total,
        "keys": keys,
    }))
}

// ---- POST /v1/chat/completions ----

pub(crate) async fn create_chat_completion(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let mut labels = (String::new(), "");
    let response = match chat(state.clone(), headers, bytes, &mut labels).await {
        Ok(response) => response,
        Err(error) => error.for_openai().into_response(),
    };
    state
        .data
        .metrics
        .request(&labels.0, labels.1, response.status().as_u16());
    response
}

/// What is sent upstream, in OpenAI's format, and what the client asked of the answer.
struct Prepared {
    body: Map<String, Value>,
    stream: bool,
    include_usage: bool,
}

/// `labels`: the model (`namespace/name`) and provider the metrics count the request under,
/// set once the key is recognised.
async fn chat(
    state: Arc<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
    labels: &mut (String, &'static str),
) -> Result<Response, ApiError> {
    let owner = caller(&state, &headers)?;
    let request: ChatCompletionRequest = body(&bytes)?;
    let mut violations = Violations::default();
    request.validate(&mut violations);
    if !violations.is_empty() {
        return Err(ApiError::invalid(violations.0));
    }
    let client_model = format!("{}/{}", owner.namespace, owner.model);
    if request.model != client_model {
        return Err(ApiError::forbidden(format!(
            "the API key is not valid for model {:?}",
            request.model
        ))
        .param("model"));
    }
    let model_key: ObjectKey = (owner.namespace.clone(), owner.model.clone());
    let spec = lock(&state)?
        .models
        .get(&model_key)
        .map(|entry| entry.spec.clone())
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
    *labels = (client_model.clone(), upstream::provider_name(spec.provider));
    let target = upstream::target(&spec, &state.data.overrides).map_err(|(field, reason)| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("the model's upstream cannot be called: {field} {reason}"),
        )
    })?;
    let raw: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not a JSON object: {e}")))?;
    let prepared = prepare(&spec, &target, raw)?;
    let upstream_body = match target.wire {
        WireFormat::OpenAi => Value::Object(prepared.body.clone()),
        WireFormat::Anthropic => anthropic::request(&prepared.body)?,
    };
    {
        let mut limiters = state
            .data
            .limiters
            .lock()
            .map_err(|_| ApiError::internal("limits are unavailable"))?;
        let limiter = limiters.entry(model_key.clone()).or_default();
        limiter.configure(spec.limits.as_ref());
        if let Err((seconds, which)) = limiter.admit(Instant::now()) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("the model's {which} limit is reached; retry after {seconds}s"),
            )
            .retry_after(seconds)
            .openai_code("rate_limit_exceeded"));
        }
    }
    state
        .data
        .egress
        .admit(&target.chat)
        .await
        .map_err(|refusal| match refusal {
            Refusal::NotAllowed(message) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_not_allowed",
                format!("the gateway may not call this model's upstream: {message}"),
            ),
            Refusal::Unreachable(message) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            }
        })?;

    let host = target.chat.host_str().unwrap_or_default().to_string();
    let span = tracing::info_span!(
        "gen_ai.chat",
        otel.name = %format_args!("chat {}", spec.upstream_model),
        otel.kind = "client",
        gen_ai.operation.name = "chat",
        gen_ai.system = upstream::gen_ai_system(target.provider),
        gen_ai.request.model = %spec.upstream_model,
        gen_ai.response.model = tracing::field::Empty,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        gen_ai.response.finish_reasons = tracing::field::Empty,
        server.address = %host,
        error.type = tracing::field::Empty,
    );
    let mut outcome = Outcome {
        state: state.clone(),
        model: model_key,
        key: owner.key.clone(),
        span: span.clone(),
        input: 0,
        output: 0,
        finish: Vec::new(),
        response_model: None,
        provider: upstream::provider_name(spec.provider),
        started: Instant::now(),
        first_chunk: None,
    };
    let mut call = state
        .data
        .http
        .post(target.chat.clone())
        .json(&upstream_body);
    for (name, value) in &target.auth {
        call = call.header(name.clone(), value.clone());
    }
    if prepared.stream {
        call = call.header(header::ACCEPT, "text/event-stream");
    }
    if let Some(traceparent) = traceparent(&span, &headers) {
        call = call.header("traceparent", traceparent);
    }
    let sent = {
        let _entered = span.enter();
        call.send()
    };
    let response = match sent.await {
        Ok(response) => response,
        Err(error) => {
            let failure = send_failure(error, &host);
            span.record("error.type", failure.code);
            return Err(failure);
        }
    };
    let credential = spec
        .provider_credential
        .as_ref()
        .map(|c| c.expose_secret().to_string());
    if !response.status().is_success() {
        let failure = upstream_failure(response, credential.as_deref(), &host).await;
        span.record("error.type", failure.code);
        return Err(failure);
    }
    if prepared.stream {
        let translator = match target.wire {
            WireFormat::OpenAi => Translator::OpenAi {
                client_model,
                strip_usage: !prepared.include_usage,
            },
            WireFormat::Anthropic => Translator::Anthropic(anthropic::StreamTranslator::new(
                client_model,
                prepared.include_usage,
            )),
        };
        let stream = relay(response, translator, outcome);
        let mut answer = Response::new(Body::from_stream(stream));
        let headers = answer.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(answer);
    }
    let text = read_limited(response, MAX_UPSTREAM_BODY)
        .await
        .map_err(|message| ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", message))?;
    let parsed: Value = serde_json::from_slice(&text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("{host} answered a body that is not JSON: {e}"),
        )
    })?;
    let mut completion = match target.wire {
        WireFormat::OpenAi => parsed,
        WireFormat::Anthropic => anthropic::response(&parsed),
    };
    outcome.observe(&completion);
    if let Some(object) = completion.as_object_mut() {
        object.insert("model".into(), Value::String(client_model));
    }
    Ok((StatusCode::OK, axum::Json(completion)).into_response())
}

/// Applies the model to a client's request: the prompt template, parameter defaults and bounds,
/// the upstream model name.
fn prepare(
    spec: &ModelSpec,
    target: &Target,
    mut body: Map<String, Value>,
) -> Result<Prepared, ApiError> {
    let variables = match body.remove("prompt_variables") {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ApiError::bad_request("prompt_variables must be an object")
                .param("prompt_variables"));
        }
    };
    let mut messages = match body.remove("messages") {
        Some(Value::Array(messages)) => messages,
        _ => return Err(ApiError::bad_request("messages must be an array").param("messages")),
    };
    if let Some(template) = &spec.prompt_template {
        if let Some(last_user) = messages
            .iter_mut()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        {
            let input = last_user
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let rendered = render(template, &input, &variables)?;
            last_user["content"] = Value::String(rendered);
        }
        if let Some(system) = template.system.as_deref().filter(|s| !s.is_empty()) {
            messages.insert(0, json!({"role": "system", "content": system}));
        }
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("model".into(), Value::String(spec.upstream_model.clone()));
    if let Some(parameters) = &spec.parameters {
        if let Some(temperature) = parameters.temperature {
            body.entry("temperature").or_insert(json!(temperature));
        }
        if let Some(top_p) = parameters.top_p {
            body.entry("top_p").or_insert(json!(top_p));
        }
        if let Some(limit) = parameters.max_tokens {
            // The model's maxTokens is a default and a ceiling: larger requests are clamped.
            let mut asked = false;
            for field in ["max_tokens", "max_completion_tokens"] {
                if let Some(requested) = body.get(field).and_then(Value::as_i64) {
                    asked = true;
                    if requested > limit {
                        body.insert(field.into(), json!(limit));
                    }
                }
            }
            if !asked {
                body.insert("max_tokens".into(), json!(limit));
            }
        }
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    if !stream {
        body.remove("stream_options");
    } else if !include_usage
        && target.wire == WireFormat::OpenAi
        && matches!(
            target.provider,
            super::wire::Provider::OpenAi | super::wire::Provider::AzureOpenAi
        )
    {
        // Ask for usage to account for it; the usage chunk is not passed on.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Prepared {
        body,
        stream,
        include_usage,
    })
}

/// The user template with `{{input}}` and the declared variables substituted in one pass (text
/// substituted is never read as a placeholder again); a missing required variable is a `400`.
fn render(
    template: &PromptTemplate,
    input: &str,
    variables: &Map<String, Value>,
) -> Result<String, ApiError> {
    let mut values: HashMap<&str, String> = HashMap::new();
    values.insert("input", input.to_string());
    for declared in template.variables.as_deref().unwrap_or_default() {
        match variables.get(&declared.name) {
            Some(Value::String(text)) => {
                values.insert(&declared.name, text.clone());
            }
            Some(Value::Null) | None if declared.required => {
                return Err(ApiError::bad_request(format!(
                    "the prompt variable {:?} is required (send it in prompt_variables)",
                    declared.name
                ))
                .param(format!("prompt_variables.{}", declared.name)));
            }
            Some(Value::Null) | None => {
                values.insert(&declared.name, String::new());
            }
            Some(other) => {
                values.insert(&declared.name, other.to_string());
            }
        }
    }
    let text = &template.template;
    let mut out = String::with_capacity(text.len() + input.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match values.get(name) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The `traceparent` sent upstream: the inference span's, a child of the caller's span; the
/// caller's own when no OpenTelemetry layer gives spans ids.
fn traceparent(span: &tracing::Span, headers: &HeaderMap) -> Option<String> {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    let context = span.context();
    if context.span().span_context().is_valid() {
        let mut carrier: HashMap<String, String> = HashMap::new();
        opentelemetry_sdk::propagation::TraceContextPropagator::new()
            .inject_context(&context, &mut carrier);
        if let Some(value) = carrier.remove("traceparent") {
            return Some(value);
        }
    }
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn send_failure(error: reqwest::Error, host: &str) -> ApiError {
    if error.is_timeout() {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            format!("{host} did not answer in time"),
        )
    } else {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("cannot reach {host}: {}", upstream::error_chain(error)),
        )
    }
}

/// Reads at most `limit` bytes of an answer.
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if e.is_timeout() {
                "the upstream stopped answering".to_string()
            } else {
                format!(
                    "reading the upstream's answer failed: {}",
                    upstream::error_chain(e)
                )
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(format!("the upstream's answer exceeds {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The upstream's error message (OpenAI's and Anthropic's `error.message`), with the
/// credential redacted.
fn upstream_message(body: &[u8], credential: Option<&str>) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value
        .get("error")
        .and_then(|e| e.get("message").or(Some(e)))
        .and_then(Value::as_str)
        .or_else(|| value.get("message").and_then(Value::as_str))?;
    let mut message = match credential.filter(|c| c.len() >= 4) {
        Some(credential) => message.replace(credential, "[redacted]"),
        None => message.to_string(),
    };
    message.truncate(1000);
    Some(message)
}

/// An upstream's error answer as the gateway's: 429 (with its `Retry-After`), 400 for requests
/// the upstream found invalid, 502 for everything else (its refusal of the credential too: the
/// caller's key was fine), 504 for its timeouts.
async fn upstream_failure(
    response: reqwest::Response,
    credential: Option<&str>,
    host: &str,
) -> ApiError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil() as u64);
    let body = read_limited(response, MAX_UPSTREAM_ERROR_BODY)
        .await
        .unwrap_or_default();
    let detail = upstream_message(&body, credential)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    match status.as_u16() {
        429 => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("{host} is rate limiting{detail}"),
        )
        .retry_after(retry_after.unwrap_or(1))
        .openai_code("rate_limit_exceeded"),
        400 | 413 | 422 => ApiError::bad_request(format!("{host} refused the request{detail}"))
            .openai_code("upstream_bad_request"),
        401 | 403 => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("{host} refused the model's provider credential ({status})"),
        ),
        408 | 504 => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            format!("{host} timed out ({status})"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("{host} answered {status}{detail}"),
        ),
    }
}

// ---- outcome: usage, limits, span ----

/// What one inference request used; recorded once, when dropped (at the end of the answer, or
/// when the client went away mid-stream).
pub(crate) struct Outcome {
    state: Arc<AppState>,
    model: ObjectKey,
    key: String,
    span: tracing::Span,
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) finish: Vec<String>,
    pub(crate) response_model: Option<String>,
    provider: &'static str,
    /// When the upstream call started.
    started: Instant,
    /// When a stream's first chunk was passed on.
    first_chunk: Option<Instant>,
}

impl Outcome {
    /// Reads usage, finish reasons and the model from an OpenAI-shaped completion or chunk.
    pub(crate) fn observe(&mut self, value: &Value) {
        if let Some(usage) = value.get("usage").filter(|u| u.is_object()) {
            self.input = usage
                .get("prompt_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(self.input);
            self.output = usage
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(self.output);
        }
        if let Some(model) = value.get("model").and_then(Value::as_str)
            && self.response_model.is_none()
        {
            self.response_model = Some(model.to_string());
        }
        for choice in value
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish.push(reason.to_string());
            }
        }
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        self.span.record("gen_ai.usage.input_tokens", self.input);
        self.span.record("gen_ai.usage.output_tokens", self.output);
        if let Some(model) = &self.response_model {
            self.span.record("gen_ai.response.model", model.as_str());
        }
        if !self.finish.is_empty() {
            self.span
                .record("gen_ai.response.finish_reasons", self.finish.join(","));
        }
        let data = &self.state.data;
        data.metrics.finished(Finished {
            model: &format!("{}/{}", self.model.0, self.model.1),
            provider: self.provider,
            key: &self.key,
            duration: self.started.elapsed(),
            first_chunk: self
                .first_chunk
                .map(|at| at.saturating_duration_since(self.started)),
            input: self.input,
            output: self.output,
        });
        if let Ok(mut usage) = data.usage.lock() {
            usage
                .models
                .entry(self.model.clone())
                .or_default()
                .add(self.input, self.output);
            usage
                .keys
                .entry((self.model.0.clone(), self.model.1.clone(), self.key.clone()))
                .or_default()
                .add(self.input, self.output);
        }
        if let Ok(mut limiters) = data.limiters.lock()
            && let Some(limiter) = limiters.get_mut(&self.model)
        {
            limiter.spend(Instant::now(), self.input + self.output);
        }
    }
}

// ---- streaming ----

/// Splits a Server-Sent Events byte stream into events (`event:` name and joined `data:`).
#[derive(Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
}

pub(crate) struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseParser {
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        loop {
            let lf = find(&self.buffer, b"\n\n").map(|i| (i, 2));
            let crlf = find(&self.buffer, b"\r\n\r\n").map(|i| (i, 4));
            let end = match (lf, crlf) {
                (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
                (a, b) => a.or(b),
            };
            let Some((at, len)) = end else { break };
            let block: Vec<u8> = self.buffer.drain(..at + len).collect();
            let text = String::from_utf8_lossy(&block[..at]);
            let mut event = None;
            let mut data: Vec<&str> = Vec::new();
            for line in text.lines() {
                if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                } else if let Some(value) = line.strip_prefix("event:") {
                    event = Some(value.trim().to_string());
                }
            }
            if !data.is_empty() || event.is_some() {
                events.push(SseEvent {
                    event,
                    data: data.join("\n"),
                });
            }
        }
        events
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One `data:` event.
pub(crate) fn sse_data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// Turns upstream events into the OpenAI chunks passed on.
enum Translator {
    OpenAi {
        client_model: String,
        strip_usage: bool,
    },
    Anthropic(anthropic::StreamTranslator),
}

impl Translator {
    fn event(&mut self, event: SseEvent, out: &mut String, outcome: &mut Outcome) {
        match self {
            Translator::OpenAi {
                client_model,
                strip_usage,
            } => {
                let data = event.data.trim();
                if data == "[DONE]" || data.is_empty() {
                    return;
                }
                let Ok(mut chunk) = serde_json::from_str::<Value>(data) else {
                    out.push_str(&format!("data: {data}\n\n"));
                    return;
                };
                outcome.observe(&chunk);
                if let Some(object) = chunk.as_object_mut() {
                    if *strip_usage {
                        let usage_only = object
                            .get("choices")
                            .and_then(Value::as_array)
                            .is_some_and(Vec::is_empty)
                            && object.get("usage").is_some_and(Value::is_object);
                        if usage_only {
                            return;
                        }
                        object.remove("usage");
                    }
                    if object.contains_key("model") {
                        object.insert("model".into(), Value::String(client_model.clone()));
                    }
                }
                out.push_str(&sse_data(&chunk));
            }
            Translator::Anthropic(translator) => translator.event(event, out, outcome),
        }
    }

    fn finish(&mut self, out: &mut String, outcome: &mut Outcome) {
        if let Translator::Anthropic(translator) = self {
            translator.finish(out, outcome);
        }
        out.push_str("data: [DONE]\n\n");
    }
}

struct Relay {
    upstream: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: SseParser,
    translator: Translator,
    outcome: Outcome,
    read: usize,
    done: bool,
}

fn stream_error(code: &str, message: &str) -> String {
    sse_data(
        &json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": code}}),
    )
}

/// The answer's body: upstream events translated as they arrive. Dropping it (the client went
/// away) drops the upstream answer, which closes the upstream connection.
fn relay(
    response: reqwest::Response,
    translator: Translator,
    outcome: Outcome,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let relay = Relay {
        upstream: Box::pin(response.bytes_stream()),
        parser: SseParser::default(),
        translator,
        outcome,
        read: 0,
        done: false,
    };
    futures::stream::unfold(relay, |mut relay| async move {
        if relay.done {
            return None;
        }
        loop {
            let mut out = String::new();
            match relay.upstream.next().await {
                Some(Ok(chunk)) => {
                    relay.read += chunk.len();
                    if relay.read > MAX_UPSTREAM_STREAM {
                        out.push_str(&stream_error(
                            "upstream_error",
                            "the upstream's answer is too large",
                        ));
                        out.push_str("data: [DONE]\n\n");
                        relay.done = true;
                    } else {
                        for event in relay.parser.push(&chunk) {
                            relay.translator.event(event, &mut out, &mut relay.outcome);
                        }
                        if !out.is_empty() && relay.outcome.first_chunk.is_none() {
                            relay.outcome.first_chunk = Some(Instant::now());
                        }
                    }
                }
                Some(Err(error)) => {
                    let (code, message) = if error.is_timeout() {
                        (
                            "upstream_timeout",
                            "the upstream stopped answering".to_string(),
                        )
                    } else {
                        (
                            "upstream_error",
                            format!(
                                "the upstream's stream broke: {}",
                                upstream::error_chain(error)
                            ),
                        )
                    };
                    relay.outcome.span.record("error.type", code);
                    out.push_str(&stream_error(code, &message));
                    out.push_str("data: [DONE]\n\n");
                    relay.done = true;
                }
                None => {
                    relay.translator.finish(&mut out, &mut relay.outcome);
                    relay.done = true;
                }
            }
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), relay));
            }
            if relay.done {
                return None;
            }
        }
    })
}

/// A fresh completion id.
pub(crate) fn completion_id() -> String {
    format!("chatcmpl-{}", random_string(24))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tpm(limit: i64) -> Limiter {
        let mut limiter = Limiter::default();
        limiter.configure(Some(&ModelLimits {
            requests_per_minute: None,
            tokens_per_minute: Some(limit),
        }));
        limiter
    }

    #[test]
    fn the_token_window_refuses_while_full_and_frees_up_as_time_passes() {
        let t0 = Instant::now();
        let at = |seconds: u64| t0 + Duration::from_secs(seconds);
        let mut limiter = tpm(10);
        assert_eq!(limiter.admit(at(0)), Ok(()));
        limiter.spend(at(0), 6);
        assert_eq!(limiter.admit(at(5)), Ok(()), "6 of 10 used");
        limiter.spend(at(10), 6);
        // 12 of 10 used: the first answer leaves the window at 60 s, leaving 6.
        assert_eq!(limiter.admit(at(20)), Err((40, "tokensPerMinute")));
        assert_eq!(limiter.admit(at(59)), Err((1, "tokensPerMinute")));
        assert_eq!(limiter.admit(at(60)), Ok(()));
        // Both answers are needed to get under a limit of 5: until the second leaves at 70 s.
        let mut limiter = tpm(5);
        limiter.spend(at(0), 6);
        limiter.spend(at(10), 6);
        assert_eq!(limiter.admit(at(30)), Err((40, "tokensPerMinute")));
        assert_eq!(limiter.admit(at(69)), Err((1, "tokensPerMinute")));
        assert_eq!(limiter.admit(at(70)), Ok(()));
    }

    #[test]
    fn changing_the_token_limit_resets_the_window() {
        let t0 = Instant::now();
        let mut limiter = tpm(5);
        limiter.spend(t0, 50);
        assert!(limiter.admit(t0).is_err());
        limiter.configure(Some(&ModelLimits {
            requests_per_minute: None,
            tokens_per_minute: Some(100),
        }));
        assert_eq!(limiter.admit(t0), Ok(()));
    }
}
