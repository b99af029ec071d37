//! A local stand-in for an OpenAI-compatible model provider, speaking the real wire format
//! (`GET /v1/models`, `POST /v1/chat/completions` with and without `stream`): it answers with
//! the last user message, records what reached it, and plays scripted answers first (also
//! misbehaviours: silence, a stream that stalls, a stream cut mid-way). It serves Azure OpenAI's
//! deployment path too. The sandbox, the soak, the bench and the tests point the gateway's
//! `openai` provider at it, so nothing needs the internet.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A request as it reached the stand-in.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// Request path.
    pub path: String,
    /// Its query string (empty for none).
    pub query: String,
    /// Its headers (credentials included: tests check them).
    pub headers: HeaderMap,
    /// Its JSON body (`null` for none).
    pub body: Value,
}

/// An answer played instead of the echo.
#[derive(Debug, Clone)]
pub struct ScriptedAnswer {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body (sent as is, `application/json` unless a header says otherwise).
    pub body: String,
}

/// A misbehaviour played instead of the echo.
#[derive(Debug, Clone)]
pub enum Misbehaviour {
    /// Never answers (not even the headers).
    Silence,
    /// Answers `200 text/event-stream`, sends these events, then neither sends more nor ends.
    StalledStream(Vec<String>),
    /// Answers `200 text/event-stream`, sends these events, then, once
    /// [`StandInUpstream::cut_stream`] is called, breaks the connection (the chunked body never
    /// ends properly).
    CutStream(Vec<String>),
}

enum Script {
    Answer(ScriptedAnswer),
    Misbehave(Misbehaviour),
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<SeenRequest>>,
    script: Mutex<VecDeque<Script>>,
    /// Streamed answers whose body the server dropped before its end (the caller went away).
    dropped_streams: AtomicU64,
    /// Lets a `CutStream` break.
    cut: tokio::sync::Notify,
    /// When set, the only API key accepted (`Authorization: Bearer …` or `api-key`), as a real
    /// provider checks it: anything else is `401` in OpenAI's error shape.
    required_key: Mutex<Option<String>>,
}

/// Whether a request carries the required key (always, when none is required).
fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let Ok(required) = shared.required_key.lock() else {
        return false;
    };
    let Some(required) = required.as_deref() else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let api_key = headers.get("api-key").and_then(|v| v.to_str().ok());
    bearer == Some(required) || api_key == Some(required)
}

/// A provider's answer to a refused key.
fn refused_key() -> Response {
    let mut response = axum::Json(json!({"error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": null,
        "code": "invalid_api_key",
    }}))
    .into_response();
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
}

/// Counts a streamed answer dropped before its end.
struct DropGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.dropped_streams.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A running stand-in; it serves until the runtime that started it ends.
#[derive(Clone)]
pub struct StandInUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl StandInUpstream {
    /// Starts one on `127.0.0.1:0`.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("failed to bind the stand-in upstream")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let router = axum::Router::new()
            .route("/v1/models", axum::routing::get(models))
            .route("/v1/chat/completions", axum::routing::post(chat))
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                axum::routing::post(chat),
            )
            .with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "the stand-in upstream stopped");
            }
        });
        Ok(StandInUpstream { addr, shared })
    }

    /// Its base URL, as a provider's (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Its root URL (`http://127.0.0.1:PORT`), as an Azure OpenAI resource's.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What reached it, oldest first.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared
            .seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// Accepts only `key` from now on (`None`: any key), as a real provider checks its keys.
    pub fn require_key(&self, key: Option<&str>) {
        if let Ok(mut required) = self.shared.required_key.lock() {
            *required = key.map(str::to_owned);
        }
    }

    /// Queues an answer for the next chat completion.
    pub fn push_answer(&self, answer: ScriptedAnswer) {
        if let Ok(mut script) = self.shared.script.lock() {
            script.push_back(Script::Answer(answer));
        }
    }

    /// Queues a misbehaviour for the next chat completion.
    pub fn push_misbehaviour(&self, misbehaviour: Misbehaviour) {
        if let Ok(mut script) = self.shared.script.lock() {
            script.push_back(Script::Misbehave(misbehaviour));
        }
    }

    /// Lets the (next) `CutStream` misbehaviour break its connection.
    pub fn cut_stream(&self) {
        self.shared.cut.notify_one();
    }

    /// Streamed answers whose body was dropped before its end: the caller closed the
    /// connection (or the stream broke).
    pub fn dropped_streams(&self) -> u64 {
        self.shared.dropped_streams.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` streamed answers were dropped, polling until `deadline`
    /// passes; false if they were not.
    pub async fn wait_dropped_streams(&self, count: u64, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if self.dropped_streams() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.dropped_streams() >= count
    }

    /// Points `config`'s OpenAI-compatible providers (`openai`, `mistral`, `ollama`, `custom`)
    /// at this stand-in where the config sets no base URL of its own (a development setting).
    pub fn serve_providers_of(&self, config: &mut portico_gateway::GatewayConfig) {
        for provider in ["openai", "mistral", "ollama", "custom"] {
            config
                .provider_base_urls
                .entry(provider.to_string())
                .or_insert_with(|| self.base_url());
        }
    }
}

fn record(shared: &Shared, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Ok(mut seen) = shared.seen.lock() {
        seen.push(SeenRequest {
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            headers: headers.clone(),
            body,
        });
    }
}

async fn models(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    record(&shared, &uri, &headers, &Bytes::new());
    if !authorised(&shared, &headers) {
        return refused_key();
    }
    axum::Json(json!({
        "object": "list",
        "data": [{"id": "stand-in", "object": "model", "created": 0, "owned_by": "portico"}],
    }))
    .into_response()
}

fn scripted(answer: ScriptedAnswer) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            header::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// An event stream: `events`, then (`cut`) an error that breaks the connection or (not `cut`)
/// nothing, forever. The guard counts the body as dropped unless it broke on purpose.
fn misbehaving_stream(shared: Arc<Shared>, events: Vec<String>, cut: bool) -> Response {
    let guard = DropGuard {
        shared,
        finished: false,
    };
    let head = futures::stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<_, std::io::Error>(Bytes::from(e))),
    );
    let tail = futures::stream::unfold(Some(guard), move |guard| async move {
        let mut guard = guard?;
        if cut {
            guard.shared.cut.notified().await;
            guard.finished = true;
            return Some((
                Err(std::io::Error::other("the stand-in cut the stream")),
                None,
            ));
        }
        std::future::pending::<()>().await;
        drop(guard);
        None
    });
    let mut response = Response::new(Body::from_stream(futures::StreamExt::chain(head, tail)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    response
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, &uri, &headers, &body);
    if !authorised(&shared, &headers) {
        return refused_key();
    }
    match shared.script.lock().ok().and_then(|mut s| s.pop_front()) {
        Some(Script::Answer(answer)) => return scripted(answer),
        Some(Script::Misbehave(Misbehaviour::Silence)) => {
            std::future::pending::<()>().await;
        }
        Some(Script::Misbehave(Misbehaviour::StalledStream(events))) => {
            return misbehaving_stream(shared.clone(), events, false);
        }
        Some(Script::Misbehave(Misbehaviour::CutStream(events))) => {
            return misbehaving_stream(shared.clone(), events, true);
        }
        None => {}
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let content = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let model = request["model"].as_str().unwrap_or("stand-in").to_string();
    let prompt_tokens: usize = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .map(|c| c.split_whitespace().count())
        .sum();
    let completion_tokens = content.split_whitespace().count();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    let id = "chatcmpl-standin";
    if request["stream"] == true {
        let chunk = |delta: Value, finish: Value| {
            format!(
                "data: {}\n\n",
                json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            )
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        let words: Vec<&str> = content.split_inclusive(' ').collect();
        for word in words {
            events.push(chunk(json!({"content": word}), Value::Null));
        }
        events.push(chunk(json!({}), json!("stop")));
        if request["stream_options"]["include_usage"] == true {
            events.push(format!(
                "data: {}\n\n",
                json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [], "usage": usage})
            ));
        }
        events.push("data: [DONE]\n\n".to_string());
        let stream = futures::stream::iter(
            events
                .into_iter()
                .map(|e| Ok::<_, std::io::Error>(Bytes::from(e))),
        );
        let mut response = Response::new(Body::from_stream(stream));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        return response;
    }
    axum::Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
        "usage": usage,
    }))
    .into_response()
}
