//! The OpenAI APIs a provider answers beside chat completions, by path: legacy completions (`/v1/completions`),
//! embeddings (`/v1/embeddings`) and the Responses API (`/v1/responses`), whole and (but for embeddings)
//! streamed, with the usage each reports: `prompt_tokens`/`completion_tokens`, `prompt_tokens` alone, or
//! `input_tokens`/`output_tokens`. The chat shapes are in [`crate::openai`].
//!
//! A streamed response is a sequence of typed events, each with its `sequence_number`: `response.created`,
//! `response.in_progress`, the message item and its text part opened, one `response.output_text.delta` per
//! chunk, then the text, part and item closed and `response.completed` with the usage; no `data: [DONE]`.

use crate::openai::{self, TOKEN};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which API a request asked for, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Chat,
    Completions,
    Embeddings,
    Responses,
}

impl Api {
    /// The API served on `path`, if any.
    pub fn of_path(path: &str) -> Option<Api> {
        match path {
            "/v1/chat/completions" => Some(Api::Chat),
            "/v1/completions" => Some(Api::Completions),
            "/v1/embeddings" => Some(Api::Embeddings),
            "/v1/responses" => Some(Api::Responses),
            _ => None,
        }
    }

    /// Whether its answers stream when asked to (embeddings never do).
    pub fn streams(self) -> bool {
        self != Api::Embeddings
    }

    /// Whether its answers have output tokens.
    pub fn generates(self) -> bool {
        self != Api::Embeddings
    }
}

/// The length of the embedding vectors when the request names no `dimensions`, and the most it may name.
pub const DIMENSIONS: usize = 8;
pub const MAX_DIMENSIONS: usize = 4096;

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A whole legacy completion of `completion_tokens` tokens.
pub fn completion(id: u64, model: &str, prompt_tokens: u32, completion_tokens: u32) -> String {
    let choice = json!({ "index": 0, "text": TOKEN.repeat(completion_tokens as usize), "logprobs": null, "finish_reason": "length" });
    text_completion(id, model, choice, Some(usage(prompt_tokens, completion_tokens))).to_string()
}

/// One streamed legacy-completion chunk carrying `tokens` tokens.
pub fn completion_chunk(id: u64, model: &str, tokens: u32) -> String {
    let choice =
        json!({ "index": 0, "text": TOKEN.repeat(tokens.max(1) as usize), "logprobs": null, "finish_reason": null });
    format!("data: {}\n\n", text_completion(id, model, choice, None))
}

/// The closing completion chunk, the usage chunk when asked (`stream_options.include_usage`), and `[DONE]`.
pub fn completion_end(id: u64, model: &str, prompt_tokens: u32, completion_tokens: u32, usage_chunk: bool) -> String {
    let finish = json!({ "index": 0, "text": "", "logprobs": null, "finish_reason": "length" });
    let mut out = format!("data: {}\n\n", text_completion(id, model, finish, None));
    if usage_chunk {
        let mut last = text_completion(id, model, Value::Null, Some(usage(prompt_tokens, completion_tokens)));
        last["choices"] = json!([]);
        out.push_str(&format!("data: {last}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn text_completion(id: u64, model: &str, choice: Value, usage: Option<Value>) -> Value {
    let mut v = json!({
        "id": format!("cmpl-mock-{id}"),
        "object": "text_completion",
        "created": now_secs(),
        "model": model,
        "choices": [choice],
    });
    if let Some(u) = usage {
        v["usage"] = u;
    }
    v
}

fn usage(prompt_tokens: u32, completion_tokens: u32) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens
    })
}

/// An embeddings answer: one vector per input (a text, or each of a list), of the `dimensions` asked (default
/// [`DIMENSIONS`], at most [`MAX_DIMENSIONS`]), as floats or, with `encoding_format = "base64"` (the Python
/// SDK's default), as little-endian f32 bytes in base64.
pub fn embeddings(body: &[u8], model: &str, prompt_tokens: u32) -> String {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let inputs = match &request["input"] {
        Value::Array(items) if items.iter().all(|i| !i.is_number()) => items.len().max(1),
        _ => 1,
    };
    let dimensions = request["dimensions"].as_u64().map_or(DIMENSIONS, |d| (d as usize).clamp(1, MAX_DIMENSIONS));
    let base64 = request["encoding_format"] == "base64";
    let data: Vec<Value> = (0..inputs)
        .map(|index| {
            // A unit vector along one axis per input: deterministic, and normalised as OpenAI's are.
            let vector: Vec<f32> = (0..dimensions).map(|d| if d == index % dimensions { 1.0 } else { 0.0 }).collect();
            let embedding = match base64 {
                true => Value::from(encode_base64(&vector.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>())),
                false => json!(vector),
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens }
    })
    .to_string()
}

/// Standard base64 with padding.
fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

/// A response object: `in_progress` with no output yet, or `completed` with its message and usage.
fn response(id: u64, model: &str, done: Option<(u32, u32)>) -> Value {
    let (status, output, usage) = match done {
        None => ("in_progress", json!([]), Value::Null),
        Some((input, output)) => {
            ("completed", json!([message(id, output, "completed")]), response_usage(input, output))
        }
    };
    json!({
        "id": format!("resp_mock{id}"),
        "object": "response",
        "created_at": now_secs(),
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "temperature": 1.0,
        "text": { "format": { "type": "text" } },
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {}
    })
}

fn response_usage(input: u32, output: u32) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": output,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": input + output
    })
}

/// The answer's message item, with `tokens` tokens of text.
fn message(id: u64, tokens: u32, status: &str) -> Value {
    json!({
        "type": "message",
        "id": format!("msg_mock{id}"),
        "status": status,
        "role": "assistant",
        "content": [text_part(&openai::answer_text(tokens))]
    })
}

fn text_part(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

/// A whole response of `output_tokens` tokens.
pub fn response_whole(id: u64, model: &str, input_tokens: u32, output_tokens: u32) -> String {
    response(id, model, Some((input_tokens, output_tokens))).to_string()
}

/// One event of a streamed response: `event: <type>` and its data, numbered `sequence`.
fn event(kind: &str, sequence: u32, mut data: Value) -> String {
    data["type"] = kind.into();
    data["sequence_number"] = sequence.into();
    format!("event: {kind}\ndata: {data}\n\n")
}

/// The events sent before the first token (sequence numbers 0 to 3): the response created and in progress,
/// its message item and text part opened.
pub fn response_opening(id: u64, model: &str) -> String {
    let item_id = format!("msg_mock{id}");
    let mut out = event("response.created", 0, json!({ "response": response(id, model, None) }));
    out.push_str(&event("response.in_progress", 1, json!({ "response": response(id, model, None) })));
    let mut item =
        json!({ "type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": [] });
    out.push_str(&event("response.output_item.added", 2, json!({ "output_index": 0, "item": item.take() })));
    let part = json!({ "item_id": item_id, "output_index": 0, "content_index": 0, "part": text_part("") });
    out.push_str(&event("response.content_part.added", 3, part));
    out
}

/// Chunk `index` (from 0) of a streamed response: a text delta of `tokens` tokens.
pub fn response_delta(id: u64, index: u32, tokens: u32) -> String {
    let data = json!({
        "item_id": format!("msg_mock{id}"),
        "output_index": 0,
        "content_index": 0,
        "delta": TOKEN.repeat(tokens.max(1) as usize),
        "logprobs": []
    });
    event("response.output_text.delta", 4 + index, data)
}

/// The events after `chunks` deltas: the text, part and item done, then `response.completed` with the usage.
pub fn response_end(id: u64, model: &str, chunks: u32, input_tokens: u32, output_tokens: u32) -> String {
    let (item_id, text, next) = (format!("msg_mock{id}"), openai::answer_text(output_tokens), 4 + chunks);
    let at = json!({ "item_id": item_id, "output_index": 0, "content_index": 0 });
    let with = |key: &str, value: Value| {
        let mut v = at.clone();
        v[key] = value;
        v
    };
    let mut out = event("response.output_text.done", next, with("text", text.clone().into()));
    out.push_str(&event("response.content_part.done", next + 1, with("part", text_part(&text))));
    let item = json!({ "output_index": 0, "item": message(id, output_tokens, "completed") });
    out.push_str(&event("response.output_item.done", next + 2, item));
    let done = json!({ "response": response(id, model, Some((input_tokens, output_tokens))) });
    out.push_str(&event("response.completed", next + 3, done));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_the_standard_alphabet_with_padding() {
        // RFC 4648's test vectors.
        for (input, output) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(encode_base64(input.as_bytes()), output);
        }
        // 1.0f32 is 0x3F800000, little-endian 00 00 80 3F.
        assert_eq!(encode_base64(&1.0f32.to_le_bytes()), "AACAPw==");
    }

    #[test]
    fn embeddings_answer_each_input_with_prompt_tokens_alone() {
        let body = br#"{"model":"e","input":["a","b","c"],"dimensions":4}"#;
        let v: Value = serde_json::from_str(&embeddings(body, "e", 6)).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 3);
        assert_eq!(v["data"][2]["embedding"], json!([0.0, 0.0, 1.0, 0.0]));
        assert_eq!(v["usage"], json!({ "prompt_tokens": 6, "total_tokens": 6 }));
    }

    #[test]
    fn a_streamed_response_numbers_its_events_in_order_and_completes_with_usage() {
        let mut stream = response_opening(7, "r");
        (0..3).for_each(|i| stream.push_str(&response_delta(7, i, 1)));
        stream.push_str(&response_end(7, "r", 3, 5, 3));
        let events: Vec<Value> =
            stream.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
        let numbers: Vec<u64> = events.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>());
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        assert_eq!(
            (last["response"]["usage"]["input_tokens"].as_u64(), last["response"]["usage"]["output_tokens"].as_u64()),
            (Some(5), Some(3))
        );
        let deltas: String = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, openai::answer_text(3));
    }
}
