//! Each API's body around a request's messages (`endpoint` of its tier): chat's `messages`, the Responses API's
//! `input` items (the same role-and-content objects), or, for legacy completions' `prompt` and embeddings'
//! `input`, one text: the messages' contents joined by a blank line.
//!
//! Chat and responses bodies are pieces shared with every request (a prefix, a dataset's line) between a head
//! and a tail made once; a text body is made whole per attempt, since the messages must be read to be joined.

use crate::scenario::Api;
use bytes::Bytes;
use serde_json::{json, Value};

/// The body's opening, up to its messages: `{"max_tokens":N,"messages":[` or `{"max_output_tokens":N,"input":[`.
pub(super) fn head(api: Api, max_tokens: u32) -> Bytes {
    match api {
        Api::Responses => Bytes::from(format!("{{\"max_output_tokens\":{max_tokens},\"input\":[")),
        _ => Bytes::from(format!("{{\"max_tokens\":{max_tokens},\"messages\":[")),
    }
}

/// The body's end after its messages: the array's end, `"model"` and the stream keys (chat asks for usage in
/// the stream's last chunk; a response's usage comes in its `response.completed` event).
pub(super) fn tail(api: Api, model: &str, stream: bool) -> Bytes {
    let stream = match (stream, api) {
        (false, _) => "",
        (true, Api::Responses) => r#","stream":true"#,
        (true, _) => r#","stream":true,"stream_options":{"include_usage":true}"#,
    };
    Bytes::from(format!("],\"model\":{}{stream}}}", Value::from(model)))
}

/// A completions or embeddings body whose text is the contents of `messages` (JSON objects separated by commas,
/// as a chat body carries them), joined by a blank line.
pub(super) fn text(api: Api, messages: &[&[u8]], model: &str, max_tokens: u32, stream: bool) -> Bytes {
    let mut array = Vec::with_capacity(messages.iter().map(|m| m.len()).sum::<usize>() + 2);
    array.push(b'[');
    messages.iter().for_each(|m| array.extend_from_slice(m));
    array.push(b']');
    let parsed: Vec<Value> = serde_json::from_slice(&array).unwrap_or_default();
    let contents: Vec<String> = parsed.iter().map(|m| content_text(&m["content"])).collect();
    whole(api, model, &contents.join("\n\n"), max_tokens, stream)
}

/// A whole body of `text` for `api`: a fixed prompt's, or a text body's.
pub(super) fn whole(api: Api, model: &str, text: &str, max_tokens: u32, stream: bool) -> Bytes {
    let mut body = match api {
        Api::Chat => {
            json!({ "model": model, "messages": [{ "role": "user", "content": text }], "max_tokens": max_tokens })
        }
        Api::Completions => json!({ "model": model, "prompt": text, "max_tokens": max_tokens }),
        Api::Embeddings => return Bytes::from(json!({ "model": model, "input": text }).to_string()),
        Api::Responses => {
            json!({ "model": model, "input": [{ "role": "user", "content": text }], "max_output_tokens": max_tokens })
        }
    };
    if stream {
        body["stream"] = true.into();
        if api != Api::Responses {
            body["stream_options"] = json!({ "include_usage": true });
        }
    }
    Bytes::from(body.to_string())
}

/// A message's content as text: a string, or the `text` of its parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bodies_join_the_contents_of_the_messages() {
        let system = br#"{"role":"system","content":"Be brief."},"#;
        let user = br#"{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":" there"}]}"#;
        let body = text(Api::Completions, &[system, user], "m", 7, true);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["prompt"], "Be brief.\n\nHi there");
        assert_eq!((v["max_tokens"].as_u64(), v["model"].as_str()), (Some(7), Some("m")));
        assert_eq!(v["stream_options"]["include_usage"], true);
        let body = text(Api::Embeddings, &[user], "e", 7, false);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({ "model": "e", "input": "Hi there" }), "no answer length, no stream");
    }

    #[test]
    fn a_responses_body_is_input_items_with_max_output_tokens() {
        let mut body = head(Api::Responses, 9).to_vec();
        body.extend_from_slice(br#"{"role":"user","content":"Hi"}"#);
        body.extend_from_slice(&tail(Api::Responses, "r", true));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let expected = json!({ "max_output_tokens": 9, "input": [{ "role": "user", "content": "Hi" }], "model": "r", "stream": true });
        assert_eq!(v, expected);
    }
}
