//! OpenAI ⇄ Anthropic Messages translation: a chat completion request as a Messages request
//! (system messages → `system`, `max_tokens` always set, stop sequences), a Messages answer as
//! a chat completion (stop reasons, usage), and Anthropic's event stream as
//! `chat.completion.chunk`s.
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::inference::{Outcome, SseEvent, completion_id, sse_data};

/// `max_tokens` sent when neither the request nor the model's `parameters.maxTokens` sets one
/// (Anthropic requires it).
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 4096;

/// OpenAI's finish reason for an Anthropic stop reason.
pub(crate) fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A Messages request from an OpenAI-shaped chat request (the model already applied).
pub(crate) fn request(body: &Map<String, Value>) -> Result<Value, ApiError> {
    for field in ["tools", "tool_choice", "functions", "response_format"] {
        if body.contains_key(field) {
            return Err(ApiError::bad_request(format!(
                "{field} is not translated for anthropic models by this gateway"
            ))
            .param(field));
        }
    }
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for message in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let content = text_of(message.get("content").unwrap_or(&Value::Null));
        match role {
            "system" | "developer" => system.push(content),
            "user" | "assistant" => messages.push(json!({"role": role, "content": content})),
            other => {
                return Err(ApiError::bad_request(format!(
                    "messages with role {other:?} are not translated for anthropic models"
                ))
                .param("messages"));
            }
        }
    }
    let max_tokens = body
        .get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut out = Map::new();
    out.insert(
        "model".into(),
        body.get("model").cloned().unwrap_or(Value::Null),
    );
    out.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        out.insert("system".into(), Value::String(system.join("\n\n")));
    }
    out.insert("max_tokens".into(), json!(max_tokens));
    if let Some(temperature) = body.get("temperature").and_then(Value::as_f64) {
        // Anthropic's range is 0 to 1, OpenAI's 0 to 2: clamped.
        out.insert("temperature".into(), json!(temperature.min(1.0)));
    }
    if let Some(top_p) = body.get("top_p").and_then(Value::as_f64) {
        out.insert("top_p".into(), json!(top_p));
    }
    match body.get("stop") {
        Some(Value::String(stop)) => {
            out.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) => {
            out.insert("stop_sequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), Value::Bool(true));
    }
    if let Some(user) = body.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(out))
}

/// A chat completion from a Messages answer.
pub(crate) fn response(message: &Value) -> Value {
    let content = text_of(message.get("content").unwrap_or(&Value::Null));
    let stop = message
        .get("stop_reason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    let input = message
        .pointer("/usage/input_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let output = message
        .pointer("/usage/output_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({
        "id": message.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(completion_id),
        "object": "chat.completion",
        "created": jiff::Timestamp::now().as_second(),
        "model": message.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason(stop),
        }],
        "usage": {
            "prompt_tokens": input,
            "completion_tokens": output,
            "total_tokens": input + output,
        },
    })
}

/// Anthropic's stream events as OpenAI chunks.
pub(crate) struct StreamTranslator {
    id: String,
    created: i64,
    client_model: String,
    include_usage: bool,
    finished: bool,
}

impl StreamTranslator {
    pub(crate) fn new(client_model: String, include_usage: bool) -> Self {
        StreamTranslator {
            id: completion_id(),
            created: jiff::Timestamp::now().as_second(),
            client_model,
            include_usage,
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        sse_data(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.client_model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }))
    }

    pub(crate) fn event(&mut self, event: SseEvent, out: &mut String, outcome: &mut Outcome) {
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            return;
        };
        let kind = event
            .event
            .clone()
            .or_else(|| data.get("type").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        match kind.as_str() {
            "message_start" => {
                if let Some(id) = data.pointer("/message/id").and_then(Value::as_str) {
                    self.id = id.to_string();
                }
                if let Some(model) = data.pointer("/message/model").and_then(Value::as_str) {
                    outcome.response_model = Some(model.to_string());
                }
                if let Some(input) = data
                    .pointer("/message/usage/input_tokens")
                    .and_then(Value::as_u64)
                {
                    outcome.input = input;
                }
                if let Some(output) = data
                    .pointer("/message/usage/output_tokens")
                    .and_then(Value::as_u64)
                {
                    outcome.output = output;
                }
                out.push_str(&self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_delta" => {
                if let Some(text) = data.pointer("/delta/text").and_then(Value::as_str) {
                    out.push_str(&self.chunk(json!({"content": text}), None));
                }
            }
            "message_delta" => {
                if let Some(output) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    outcome.output = output;
                }
                if let Some(input) = data.pointer("/usage/input_tokens").and_then(Value::as_u64) {
                    outcome.input = input;
                }
                if let Some(stop) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    let reason = finish_reason(stop);
                    outcome.finish.push(reason.to_string());
                    self.finished = true;
                    out.push_str(&self.chunk(json!({}), Some(reason)));
                }
            }
            "error" => {
                let message = data
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream failed mid-stream");
                out.push_str(&sse_data(&json!({"error": {
                    "message": message,
                    "type": "upstream_error",
                    "param": null,
                    "code": "upstream_error",
                }})));
            }
            _ => {}
        }
    }

    /// The usage chunk (when the client asked for it); `[DONE]` follows.
    pub(crate) fn finish(&mut self, out: &mut String, outcome: &mut Outcome) {
        if self.include_usage {
            out.push_str(&sse_data(&json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.client_model,
                "choices": [],
                "usage": {
                    "prompt_tokens": outcome.input,
                    "completion_tokens": outcome.output,
                    "total_tokens": outcome.input + outcome.output,
                },
            })));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_messages_and_max_tokens_are_translated() {
        let body = json!({
            "model": "claude-x",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            "temperature": 1.5,
            "stop": "END",
        });
        let Value::Object(body) = body else {
            panic!("object")
        };
        let translated = request(&body).expect("translates");
        assert_eq!(translated["system"], "Be brief.");
        assert_eq!(
            translated["messages"],
            json!([{"role": "user", "content": "hi"}])
        );
        assert_eq!(translated["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(translated["temperature"], 1.0);
        assert_eq!(translated["stop_sequences"], json!(["END"]));
        let answer = response(&json!({
            "id": "msg_1", "model": "claude-x", "stop_reason": "max_tokens",
            "content": [{"type": "text", "text": "Hello"}],
            "usage": {"input_tokens": 3, "output_tokens": 2},
        }));
        assert_eq!(answer["choices"][0]["finish_reason"], "length");
        assert_eq!(answer["usage"]["total_tokens"], 5);
    }
}
