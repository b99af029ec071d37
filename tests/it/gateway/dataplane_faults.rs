//! The data plane when the other side misbehaves, and Azure OpenAI's addressing: a client that
//! goes away mid-stream (the upstream call is dropped), an upstream that never answers (`504`),
//! one that stalls or breaks mid-stream (a terminal error event, then `[DONE]`), and what reached
//! an Azure OpenAI stand-in. Waits poll with deadlines; no timing is asserted.
use std::time::Duration;

use futures::StreamExt;
use portico_testbed::upstream::Misbehaviour;
use serde_json::{Value, json};

use super::dataplane::{Setup, openai_spec, setup_with, sse_data};

/// Generous bound on anything the tests wait for: failing beats hanging.
const DEADLINE: Duration = Duration::from_secs(20);

fn chunk(content: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 0,
               "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    )
}

async fn echo_model(s: &Setup, name: &str) -> String {
    let mut spec = openai_spec(&s.upstream.base_url());
    spec["promptTemplate"] = json!({"template": "{{input}}"});
    let (status, model) = s.put_model(name, spec).await;
    assert_eq!(status, 201, "{model}");
    s.key(name).await
}

fn request(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream,
           "messages": [{"role": "user", "content": "hello there"}]})
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_cancels_the_upstream_call() {
    let s = setup_with(&["127.0.0.1"], |_| {}).await;
    let key = echo_model(&s, "gone").await;
    s.upstream
        .push_misbehaviour(Misbehaviour::StalledStream(vec![chunk("Hel"), chunk("lo")]));

    // A client of its own, so nothing else holds its connection.
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/chat/completions", s.gateway.url()))
        .bearer_auth(&key)
        .json(&request("team-a/gone", true))
        .send()
        .await
        .expect("POST chat");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = String::new();
    while !received.contains("lo") {
        let next = tokio::time::timeout(DEADLINE, body.next())
            .await
            .expect("the first chunks arrive")
            .expect("the stream is open")
            .expect("a chunk");
        received.push_str(&String::from_utf8_lossy(&next));
    }
    assert_eq!(
        s.upstream.dropped_streams(),
        0,
        "the upstream answer is still being relayed"
    );

    // The client goes away: the gateway drops its upstream call.
    drop(body);
    drop(client);
    assert!(
        s.upstream.wait_dropped_streams(1, DEADLINE).await,
        "the upstream never saw its answer dropped"
    );

    // What was relayed is accounted for.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let usage: Value = s
            .http
            .get(format!("{}/v1/usage", s.gateway.url()))
            .bearer_auth(&key)
            .send()
            .await
            .expect("GET usage")
            .json()
            .await
            .expect("JSON");
        if usage["usage"]["requests"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cancelled request was never accounted: {usage}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_upstream_that_never_answers_gets_504() {
    let s = setup_with(&["127.0.0.1"], |config| {
        config.upstream_timeout = Duration::from_millis(300);
    })
    .await;
    let key = echo_model(&s, "silent").await;
    for stream in [false, true] {
        s.upstream.push_misbehaviour(Misbehaviour::Silence);
        let response =
            tokio::time::timeout(DEADLINE, s.chat(&key, request("team-a/silent", stream)))
                .await
                .expect("the gateway answers instead of hanging");
        assert_eq!(response.status(), 504, "stream: {stream}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["code"], "upstream_timeout", "{error}");
        assert_eq!(error["error"]["type"], "upstream_error", "{error}");
    }
}

/// The events of a stream read to its end (bounded by the deadline).
async fn read_stream(response: reqwest::Response) -> Vec<Value> {
    let text = tokio::time::timeout(DEADLINE, response.text())
        .await
        .expect("the stream ends instead of hanging")
        .expect("the stream ends cleanly");
    sse_data(&text)
}

fn content(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn an_upstream_stream_cut_midway_ends_with_an_error_event() {
    let s = setup_with(&["127.0.0.1"], |_| {}).await;
    let key = echo_model(&s, "cut").await;
    s.upstream
        .push_misbehaviour(Misbehaviour::CutStream(vec![chunk("Hel"), chunk("lo")]));
    let response = s.chat(&key, request("team-a/cut", true)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while !text.contains("lo") {
        let next = tokio::time::timeout(DEADLINE, body.next())
            .await
            .expect("the first chunks arrive")
            .expect("the stream is open")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&next));
    }
    s.upstream.cut_stream();
    while let Some(next) = tokio::time::timeout(DEADLINE, body.next())
        .await
        .expect("the stream ends instead of hanging")
    {
        text.push_str(&String::from_utf8_lossy(
            &next.expect("the stream ends cleanly"),
        ));
    }
    let chunks = sse_data(&text);
    assert_eq!(content(&chunks), "Hello", "{chunks:?}");
    let n = chunks.len();
    assert!(n >= 2, "{chunks:?}");
    assert_eq!(
        chunks[n - 2]["error"]["code"],
        "upstream_error",
        "{chunks:?}"
    );
    assert_eq!(chunks[n - 2]["error"]["type"], "upstream_error");
    assert_eq!(chunks[n - 1], json!("[DONE]"));
}

#[tokio::test]
async fn an_upstream_stream_that_stalls_ends_with_a_timeout_event() {
    let s = setup_with(&["127.0.0.1"], |config| {
        config.upstream_timeout = Duration::from_millis(300);
    })
    .await;
    let key = echo_model(&s, "stall").await;
    s.upstream
        .push_misbehaviour(Misbehaviour::StalledStream(vec![chunk("Hel")]));
    let response = s.chat(&key, request("team-a/stall", true)).await;
    assert_eq!(response.status(), 200);
    let chunks = read_stream(response).await;
    assert_eq!(content(&chunks), "Hel", "{chunks:?}");
    let n = chunks.len();
    assert_eq!(
        chunks[n - 2]["error"]["code"],
        "upstream_timeout",
        "{chunks:?}"
    );
    assert_eq!(chunks[n - 1], json!("[DONE]"));
    // The gateway let go of the stalled upstream call.
    assert!(s.upstream.wait_dropped_streams(1, DEADLINE).await);
}

#[tokio::test]
async fn azure_openai_is_called_on_its_deployment_with_its_api_key_header() {
    let s = setup_with(&["127.0.0.1"], |_| {}).await;
    let (status, model) = s
        .put_model(
            "azure",
            json!({
                "provider": "azure-openai",
                "upstreamModel": "gpt-4o",
                "providerCredential": "sk-azure-secret",
                "upstream": {
                    "baseUrl": s.upstream.root_url(),
                    "azureDeployment": "my-deployment",
                    "azureApiVersion": "2024-10-21",
                },
                "promptTemplate": {"template": "{{input}}"},
            }),
        )
        .await;
    assert_eq!(status, 201, "{model}");
    assert_eq!(model["upstreamCheck"]["state"], "Passed", "{model}");
    let key = s.key("azure").await;

    for stream in [false, true] {
        let response = s.chat(&key, request("team-a/azure", stream)).await;
        assert_eq!(response.status(), 200, "stream: {stream}");
        let text = if stream {
            content(&read_stream(response).await)
        } else {
            let answer: Value = response.json().await.expect("JSON");
            assert_eq!(answer["model"], "team-a/azure");
            answer["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(text, "hello there");
    }

    let seen = s.upstream.requests();
    assert_eq!(seen.len(), 3, "the check and two calls: {seen:?}");
    for request in &seen {
        assert_eq!(
            request.path,
            "/openai/deployments/my-deployment/chat/completions"
        );
        assert_eq!(request.query, "api-version=2024-10-21");
        assert_eq!(request.headers["api-key"], "sk-azure-secret");
        assert!(
            request.headers.get("authorization").is_none(),
            "no Authorization header: {:?}",
            request.headers
        );
    }
    let last = &seen[2];
    assert_eq!(last.body["stream"], true);
    assert_eq!(last.body["stream_options"]["include_usage"], true);
    assert_eq!(
        last.body["messages"],
        json!([{"role": "user", "content": "hello there"}])
    );
}
