//! The OpenAI chat-completions wire format: what a request may ask for and the bodies a provider sends back (the
//! other APIs' bodies are in [`crate::apis`]).

use serde::Deserialize;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

/// The parts of a chat-completions request that shape the answer. Everything else is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// The Responses API's answer length.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
}

impl ChatRequest {
    /// Reads a request body leniently: a body that is not JSON still gets an answer for the default model.
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    pub fn model(&self) -> &str {
        self.model.as_deref().unwrap_or("mock-small")
    }

    pub fn completion_tokens(&self, default: u32) -> u32 {
        self.asked().map(|m| m.min(default)).unwrap_or(default).max(1)
    }

    /// The answer length asked for, by whichever key the API uses.
    pub fn asked(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens).or(self.max_output_tokens)
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A rough prompt-token count: about four bytes per token.
pub fn prompt_tokens(body: &[u8]) -> u32 {
    (body.len() / 4).max(1) as u32
}

/// The word the mock answers with, token after token.
pub const TOKEN: &str = "ok ";

/// The whole text of an answer of `tokens` tokens, as a client gathers it (the chunks' contents in order).
pub fn answer_text(tokens: u32) -> String {
    TOKEN.repeat(tokens.max(1) as usize)
}

pub fn completion(id: u64, model: &str, prompt_tokens: u32, completion_tokens: u32) -> String {
    json!({
        "id": format!("chatcmpl-mock-{id}"),
        "object": "chat.completion",
        "created": now_secs(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": TOKEN.repeat(completion_tokens as usize) },
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    })
    .to_string()
}

/// One SSE event carrying `tokens` tokens (chunk `index`; the first also carries the role).
pub fn chunk_event(id: u64, model: &str, index: u32, tokens: u32) -> String {
    let content = TOKEN.repeat(tokens.max(1) as usize);
    let delta =
        if index == 0 { json!({ "role": "assistant", "content": content }) } else { json!({ "content": content }) };
    let chunk = json!({
        "id": format!("chatcmpl-mock-{id}"),
        "object": "chat.completion.chunk",
        "created": now_secs(),
        "model": model,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": null }]
    });
    format!("data: {chunk}\n\n")
}

/// The closing chunk with `finish_reason`, then (optionally) a usage chunk, then `[DONE]`.
pub fn stream_end(id: u64, model: &str, prompt_tokens: u32, completion_tokens: u32, usage: bool) -> String {
    let mut out = String::new();
    let finish = json!({
        "id": format!("chatcmpl-mock-{id}"),
        "object": "chat.completion.chunk",
        "created": now_secs(),
        "model": model,
        "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }]
    });
    out.push_str(&format!("data: {finish}\n\n"));
    if usage {
        let u = json!({
            "id": format!("chatcmpl-mock-{id}"),
            "object": "chat.completion.chunk",
            "created": now_secs(),
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens
            }
        });
        out.push_str(&format!("data: {u}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

/// An in-stream error, as providers send when they fail after the headers.
pub const ERROR_EVENT: &str =
    "event: error\ndata: {\"error\": {\"message\": \"injected by mock-upstream\", \"type\": \"server_error\"}}\n\n";
pub const MALFORMED_CHUNK: &str = "data: {\"id\": \"chatcmpl-mock\", \"choices\": [{\"delta\": \n\n";
pub const MALFORMED_BODY: &str = "{\"id\": \"chatcmpl-mock\", \"object\": \"chat.completion\", \"choices\": [";

pub fn error_body(status: u16, message: &str) -> String {
    let kind = if status == 429 { "rate_limit_exceeded" } else { "server_error" };
    json!({ "error": { "message": message, "type": kind, "code": status } }).to_string()
}

pub fn models(names: &[String]) -> String {
    let data: Vec<_> = names
        .iter()
        .map(|m| json!({ "id": m, "object": "model", "created": 0, "owned_by": "mock-upstream" }))
        .collect();
    json!({ "object": "list", "data": data }).to_string()
}
