//! The data plane against local stand-in providers on loopback (OpenAI's and Anthropic's real
//! wire formats): what reached the upstream (credential, model, system prompt, parameters,
//! traceparent), what the client got back (translation both ways, SSE chunks in order, usage,
//! error mapping, Retry-After), the allow-list, the upstream check and the model's limits.
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use portico_gateway::{GatewayConfig, ReferenceGateway};
use portico_testbed::upstream::{ScriptedAnswer, StandInUpstream};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::TOKEN;

pub(super) struct Setup {
    pub(super) gateway: ReferenceGateway,
    pub(super) upstream: StandInUpstream,
    pub(super) http: reqwest::Client,
}

async fn setup(allow: &[&str]) -> Setup {
    setup_with(allow, |_| {}).await
}

/// A stand-in upstream and a gateway allowed to call `allow`, its config adjusted by `adjust`.
pub(super) async fn setup_with(allow: &[&str], adjust: impl FnOnce(&mut GatewayConfig)) -> Setup {
    super::init();
    let upstream = StandInUpstream::start().await.expect("stand-in starts");
    let mut config = GatewayConfig {
        allow_upstream: allow.iter().map(|s| s.to_string()).collect(),
        ..GatewayConfig::new(SecretString::from(TOKEN))
    };
    adjust(&mut config);
    let gateway = ReferenceGateway::start(config).await.expect("gateway");
    Setup {
        gateway,
        upstream,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    pub(super) async fn put_model(&self, name: &str, spec: Value) -> (u16, Value) {
        let response = self
            .http
            .put(format!(
                "{}/v1/namespaces/team-a/models/{name}",
                self.gateway.url()
            ))
            .bearer_auth(TOKEN)
            .json(&spec)
            .send()
            .await
            .expect("PUT model");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    pub(super) async fn key(&self, model: &str) -> String {
        let response: Value = self
            .http
            .put(format!(
                "{}/v1/namespaces/team-a/models/{model}/keys/default",
                self.gateway.url()
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("PUT key")
            .json()
            .await
            .expect("JSON");
        response["secret"].as_str().expect("secret").to_string()
    }

    pub(super) async fn chat(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.gateway.url()))
            .bearer_auth(key)
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .json(&body)
            .send()
            .await
            .expect("POST chat")
    }
}

pub(super) fn openai_spec(base_url: &str) -> Value {
    json!({
        "provider": "custom",
        "upstreamModel": "gpt-4o-mini",
        "providerCredential": "sk-upstream-secret",
        "upstream": {"baseUrl": base_url},
        "promptTemplate": {
            "system": "Be brief.",
            "template": "Summarize for {{audience}}: {{input}}",
            "variables": [{"name": "audience", "required": true}],
        },
        "parameters": {"temperature": 0.2, "maxTokens": 100},
    })
}

#[tokio::test]
async fn openai_compatible_upstream_gets_the_model_applied_and_the_answer_comes_back() {
    let s = setup(&["127.0.0.1"]).await;
    let (status, model) = s
        .put_model("sum", openai_spec(&s.upstream.base_url()))
        .await;
    assert_eq!(status, 201, "{model}");
    assert_eq!(model["upstreamCheck"]["state"], "Passed", "{model}");
    let key = s.key("sum").await;

    let response = s
        .chat(
            &key,
            json!({
                "model": "team-a/sum",
                "messages": [{"role": "user", "content": "the numbers"}],
                "max_tokens": 5000,
                "prompt_variables": {"audience": "executives"},
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Summarize for executives: the numbers"
    );
    assert_eq!(answer["model"], "team-a/sum");
    assert_eq!(answer["usage"]["completion_tokens"], 5);

    let seen = s.upstream.requests();
    let chat = seen
        .iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("the chat call reached the upstream");
    assert_eq!(
        chat.headers["authorization"].to_str().expect("ascii"),
        "Bearer sk-upstream-secret"
    );
    assert_eq!(chat.body["model"], "gpt-4o-mini");
    assert_eq!(
        chat.body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(chat.body["temperature"], 0.2);
    assert_eq!(
        chat.body["max_tokens"], 100,
        "clamped to the model's maxTokens"
    );
    assert!(chat.body.get("prompt_variables").is_none());
    let traceparent = chat.headers["traceparent"].to_str().expect("ascii");
    assert!(
        traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "the caller's trace continues upstream: {traceparent}"
    );

    // A missing required variable is a 400 naming it, in OpenAI's shape.
    let response = s
        .chat(
            &key,
            json!({"model": "team-a/sum", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["param"], "prompt_variables.audience");
    assert_eq!(error["error"]["type"], "invalid_request_error");

    // The key's holder sees its model and usage; the admin sees the model's.
    let models: Value = s
        .http
        .get(format!("{}/v1/models", s.gateway.url()))
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET /v1/models")
        .json()
        .await
        .expect("JSON");
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "team-a/sum");
    let usage: Value = s
        .http
        .get(format!("{}/v1/usage", s.gateway.url()))
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET /v1/usage")
        .json()
        .await
        .expect("JSON");
    assert_eq!(usage["usage"]["requests"], 1, "{usage}");
    assert_eq!(usage["usage"]["outputTokens"], 5, "{usage}");
    let admin: Value = s
        .http
        .get(format!(
            "{}/v1/namespaces/team-a/models/sum/usage",
            s.gateway.url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET usage")
        .json()
        .await
        .expect("JSON");
    assert_eq!(admin["keys"][0]["key"], "default", "{admin}");

    // No provider key in any answer.
    let text = serde_json::to_string(&model).expect("text");
    assert!(!text.contains("sk-upstream-secret"));
}

pub(super) fn sse_data(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|data| {
            if data == "[DONE]" {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(data).expect("chunk is JSON")
            }
        })
        .collect()
}

#[tokio::test]
async fn streams_pass_chunks_in_order_with_usage_only_when_asked() {
    let s = setup(&["127.0.0.1"]).await;
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["provider"] = json!("openai");
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    let (status, _) = s.put_model("chat", spec).await;
    assert_eq!(status, 201);
    let key = s.key("chat").await;
    for include_usage in [false, true] {
        let mut body = json!({
            "model": "team-a/chat",
            "messages": [{"role": "user", "content": "one two three"}],
            "stream": true,
        });
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        let response = s.chat(&key, body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().expect("ascii"),
            "text/event-stream"
        );
        let chunks = sse_data(&response.text().await.expect("body"));
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "one two three");
        assert_eq!(chunks.last(), Some(&json!("[DONE]")));
        let usage = chunks.iter().find(|c| c["usage"].is_object());
        assert_eq!(usage.is_some(), include_usage, "{chunks:?}");
        if let Some(usage) = usage {
            assert_eq!(usage["usage"]["completion_tokens"], 3);
        }
        assert!(
            chunks
                .iter()
                .filter(|c| c.is_object())
                .all(|c| c["model"] == "team-a/chat" && c["object"] == "chat.completion.chunk")
        );
    }
    // The gateway asked the upstream for usage even when the client did not.
    let seen = s.upstream.requests();
    assert!(
        seen.iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .all(|r| r.body["stream_options"]["include_usage"] == true)
    );
}

#[tokio::test]
async fn upstream_errors_map_to_openai_errors() {
    let s = setup(&["127.0.0.1"]).await;
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    s.put_model("err", spec).await;
    let key = s.key("err").await;
    let body = json!({"model": "team-a/err", "messages": [{"role": "user", "content": "hi"}]});

    s.upstream.push_answer(ScriptedAnswer {
        status: 429,
        headers: vec![("retry-after".into(), "7".into())],
        body: r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#
            .into(),
    });
    let response = s.chat(&key, body.clone()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");

    s.upstream.push_answer(ScriptedAnswer {
        status: 500,
        headers: Vec::new(),
        body: "{}".into(),
    });
    let response = s.chat(&key, body.clone()).await;
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "upstream_error");

    s.upstream.push_answer(ScriptedAnswer {
        status: 401,
        headers: Vec::new(),
        body: r#"{"error":{"message":"Incorrect API key provided: sk-upstream-secret"}}"#.into(),
    });
    let response = s.chat(&key, body.clone()).await;
    assert_eq!(response.status(), 502, "the caller's key was fine");
    let text = response.text().await.expect("body");
    assert!(!text.contains("sk-upstream-secret"), "{text}");

    let response = s.chat("pk-not-issued", body).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn upstreams_outside_the_allow_list_are_recorded_and_refused() {
    // Allowing the metadata range does not make it callable.
    let s = setup(&["169.254.0.0/16"]).await;
    let (status, model) = s
        .put_model("local", openai_spec(&s.upstream.base_url()))
        .await;
    assert_eq!(status, 201);
    assert_eq!(model["upstreamCheck"]["state"], "Failed");
    assert_eq!(model["upstreamCheck"]["reason"], "UpstreamNotAllowed");
    let (_, metadata) = s
        .put_model("meta", openai_spec("http://169.254.169.254/v1"))
        .await;
    assert_eq!(metadata["upstreamCheck"]["reason"], "UpstreamNotAllowed");
    let key = s.key("local").await;
    let response = s
        .chat(
            &key,
            json!({"model": "team-a/local", "messages": [{"role": "user", "content": "hi"}],
                   "prompt_variables": {"audience": "x"}}),
        )
        .await;
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["code"], "upstream_not_allowed");
    assert!(
        s.upstream.requests().is_empty(),
        "nothing reached the upstream"
    );

    // What the gateway cannot serve is refused at PUT.
    let (status, refused) = s
        .put_model(
            "gemini",
            json!({"provider": "google", "upstreamModel": "gemini-2.0"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(refused["details"][0]["field"], "provider");
    let (status, _) = s
        .put_model("own", json!({"provider": "custom", "upstreamModel": "m"}))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn requests_beyond_the_models_limit_get_429_with_retry_after() {
    let s = setup(&["127.0.0.1"]).await;
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    spec["limits"] = json!({"requestsPerMinute": 1});
    s.put_model("tiny", spec).await;
    let key = s.key("tiny").await;
    let body = json!({"model": "team-a/tiny", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(s.chat(&key, body.clone()).await.status(), 200);
    let response = s.chat(&key, body).await;
    assert_eq!(response.status(), 429);
    let seconds: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(seconds >= 1);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn answers_beyond_the_models_tokens_per_minute_get_429_with_retry_after() {
    let s = setup(&["127.0.0.1"]).await;
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    // For `openai` the gateway asks streams for usage. The stand-in counts words: "one two
    // three" is 3 prompt and 3 completion tokens.
    spec["provider"] = json!("openai");
    spec["limits"] = json!({"tokensPerMinute": 5});
    s.put_model("tokens", spec).await;
    let key = s.key("tokens").await;
    let body = |stream: bool| {
        json!({"model": "team-a/tokens", "stream": stream,
               "messages": [{"role": "user", "content": "one two three"}]})
    };
    // Under the limit (nothing used yet): admitted, and its 6 tokens (streamed, reported in
    // the usage chunk the gateway asked for) fill the window.
    let response = s.chat(&key, body(true)).await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("the stream ends");
    for stream in [false, true] {
        let response = s.chat(&key, body(stream)).await;
        assert_eq!(response.status(), 429, "stream: {stream}");
        let seconds: u64 = response.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["code"], "rate_limit_exceeded", "{error}");
        assert_eq!(error["error"]["type"], "rate_limit_error", "{error}");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains("tokensPerMinute"), "{message}");
    }
    assert_eq!(
        s.upstream
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .count(),
        1,
        "refused requests never reach the upstream"
    );
    // A larger limit is a fresh window.
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    spec["provider"] = json!("openai");
    spec["limits"] = json!({"tokensPerMinute": 1000});
    s.put_model("tokens", spec).await;
    assert_eq!(s.chat(&key, body(false)).await.status(), 200);
}

#[tokio::test]
async fn the_metrics_scrape_counts_requests_durations_and_tokens_never_keys() {
    let s = setup(&["127.0.0.1"]).await;
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["provider"] = json!("openai");
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    s.put_model("met", spec).await;
    let key = s.key("met").await;
    for stream in [false, true] {
        let response = s
            .chat(
                &key,
                json!({"model": "team-a/met", "stream": stream,
                       "messages": [{"role": "user", "content": "one two three"}]}),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.text().await.expect("the answer ends");
    }
    let refused = s
        .chat(
            "pk-not-issued",
            json!({"model": "team-a/met", "messages": []}),
        )
        .await;
    assert_eq!(refused.status(), 401);

    let url = format!("{}/metrics", s.gateway.url());
    let anonymous = s.http.get(&url).send().await.expect("GET /metrics");
    assert_eq!(anonymous.status(), 401, "the scrape needs the admin token");
    let response = s
        .http
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.expect("text");
    for line in [
        r#"portico_gateway_inference_requests_total{model="team-a/met",provider="openai",status_class="2xx"} 2"#,
        r#"portico_gateway_inference_requests_total{model="",provider="",status_class="4xx"} 1"#,
        r#"portico_gateway_inference_request_duration_seconds_count{model="team-a/met",provider="openai"} 2"#,
        r#"portico_gateway_inference_time_to_first_token_seconds_count{model="team-a/met",provider="openai"} 1"#,
        r#"portico_gateway_inference_tokens_total{model="team-a/met",direction="input"} 6"#,
        r#"portico_gateway_inference_tokens_total{model="team-a/met",direction="output"} 6"#,
        r#"portico_gateway_key_tokens_total{model="team-a/met",key="default",direction="output"} 6"#,
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    assert!(!text.contains("sk-upstream-secret"), "{text}");
    assert!(!text.contains(&key), "{text}");
}

// ---- Anthropic ----

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A stand-in for Anthropic's Messages API.
async fn anthropic_stand_in() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let router = axum::Router::new()
        .route(
            "/v1/models",
            axum::routing::get(|| async { axum::Json(json!({"data": [], "has_more": false})) }),
        )
        .route(
            "/v1/messages",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let record = record.clone();
                async move {
                    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    record
                        .lock()
                        .expect("lock")
                        .push((headers, request.clone()));
                    if request["stream"] == true {
                        let events = [
                            ("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}})),
                            ("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
                            ("ping", json!({"type": "ping"})),
                            ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}})),
                            ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}})),
                            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                            ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": {"output_tokens": 2}})),
                            ("message_stop", json!({"type": "message_stop"})),
                        ];
                        let text: String = events
                            .iter()
                            .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
                            .collect();
                        return axum::response::Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(Body::from(text))
                            .expect("response");
                    }
                    axum::response::Response::builder()
                        .header("content-type", "application/json")
                        .body(Body::from(
                            json!({
                                "id": "msg_2", "type": "message", "role": "assistant",
                                "model": "claude-test",
                                "content": [{"type": "text", "text": "Hi!"}],
                                "stop_reason": "end_turn", "stop_sequence": null,
                                "usage": {"input_tokens": 10, "output_tokens": 3},
                            })
                            .to_string(),
                        ))
                        .expect("response")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

#[tokio::test]
async fn anthropic_is_translated_both_ways_streaming_or_not() {
    let s = setup(&["127.0.0.1"]).await;
    let (url, seen) = anthropic_stand_in().await;
    let (status, model) = s
        .put_model(
            "claude",
            json!({
                "provider": "anthropic",
                "upstreamModel": "claude-test",
                "providerCredential": "sk-ant-secret",
                "upstream": {"baseUrl": url},
                "promptTemplate": {"system": "Be kind.", "template": "{{input}}"},
            }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(model["upstreamCheck"]["state"], "Passed", "{model}");
    let key = s.key("claude").await;

    let response = s
        .chat(
            &key,
            json!({"model": "team-a/claude", "messages": [
                {"role": "system", "content": "Answer in English."},
                {"role": "user", "content": "hello"},
            ]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "Hi!");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})
    );
    {
        let seen = seen.lock().expect("lock");
        let (headers, request) = seen.last().expect("the call reached the upstream");
        assert_eq!(headers["x-api-key"], "sk-ant-secret");
        assert_eq!(headers["anthropic-version"], "2023-06-01");
        assert!(headers.get("traceparent").is_some());
        assert_eq!(request["model"], "claude-test");
        assert_eq!(request["system"], "Be kind.\n\nAnswer in English.");
        assert_eq!(
            request["messages"],
            json!([{"role": "user", "content": "hello"}])
        );
        assert_eq!(request["max_tokens"], 4096);
    }

    let response = s
        .chat(
            &key,
            json!({"model": "team-a/claude", "stream": true,
                   "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let chunks = sse_data(&response.text().await.expect("body"));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello there");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| f.is_string())
        .collect();
    assert_eq!(finish, [&json!("length")]);
    let usage = &chunks[chunks.len() - 2];
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14})
    );
    assert_eq!(chunks.last(), Some(&json!("[DONE]")));
}

/// A real client nobody here wrote: the official `openai` Python package (installed by
/// `cargo xtask install`) drives the gateway with issued keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_works_with_an_issued_key() {
    let s = setup(&["127.0.0.1"]).await;
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    s.put_model("sdk", spec.clone()).await;
    spec["limits"] = json!({"requestsPerMinute": 1});
    s.put_model("sdk-limited", spec).await;
    let key = s.key("sdk").await;
    let limited = s.key("sdk-limited").await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/gateway/openai_sdk.py"
    );
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([
            s.gateway.url().as_str(),
            &key,
            "team-a/sdk",
            &limited,
            "team-a/sdk-limited",
        ])
        .output()
        .await
        .expect("python3 runs (install the SDK with `pip install openai`)");
    assert!(
        output.status.success(),
        "the openai SDK failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
