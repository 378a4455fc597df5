//! Reading an answer's body: counted piece by piece under the size cap and the attempt's deadline, kept only
//! when it is parsed later (usage, a served-by field).

use crate::scenario::Api;
use bytes::{Bytes, BytesMut};

/// How reading a response ended.
pub(super) enum Read {
    /// The whole body arrived (`body` holds it only when it is parsed later).
    Whole {
        status: u16,
        upstream: Option<String>,
        /// Upstreams a served-by list names before the one that served: each a failed attempt.
        tried: Vec<String>,
        failed_over: bool,
        body: Bytes,
        json: bool,
    },
    /// Reading stopped early, with the response's status.
    Ended(u16, ReadEnd),
}

pub(super) enum ReadEnd {
    /// The body passed `max_body`.
    TooLarge,
    /// One stream event passed [`crate::sse::MAX_EVENT`].
    StreamOverflow,
    /// The attempt's time ran out between two pieces of the body.
    Deadline,
    /// The client hung up after the tokens its class's `cancel` allows.
    HungUp,
}

/// Counts a body's bytes as they arrive, keeping them only when asked, and stops at the size cap or deadline.
pub(super) struct BodyRead {
    pub(super) max: usize,
    pub(super) read: usize,
    /// The bytes, for a body that is parsed later; `None` when they are only counted.
    pub(super) kept: Option<BytesMut>,
    pub(super) deadline: tokio::time::Instant,
}

impl BodyRead {
    /// Takes one piece; `Some` when reading must stop. The deadline is checked here as well as by the timer
    /// around the whole exchange, so that a body whose pieces are always ready still ends on time.
    pub(super) fn account(&mut self, chunk: &[u8]) -> Option<ReadEnd> {
        self.read = self.read.saturating_add(chunk.len());
        if self.read > self.max {
            return Some(ReadEnd::TooLarge);
        }
        if tokio::time::Instant::now() >= self.deadline {
            return Some(ReadEnd::Deadline);
        }
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(chunk);
        }
        None
    }
}

pub(super) fn json_pointer(body: &[u8], pointer: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct WithUsage {
    pub(super) usage: Option<crate::sse::Usage>,
}

/// The answer's text in a JSON body: a chat completion's `choices[0].message.content`, a legacy completion's
/// `choices[0].text`, or a response's `output_text` parts (what the SDKs call `output_text`); embeddings have
/// none.
pub(super) fn answer_text(body: &[u8], api: Api) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        choices: Vec<Choice>,
        #[serde(default)]
        output: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Choice {
        #[serde(default)]
        message: Option<Message>,
        #[serde(default)]
        text: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Message {
        #[serde(default)]
        content: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        content: Vec<Part>,
    }
    #[derive(serde::Deserialize)]
    struct Part {
        #[serde(default, rename = "type")]
        kind: String,
        #[serde(default)]
        text: String,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    let first = answer.choices.into_iter().next();
    match api {
        Api::Chat => first.map(|c| c.message.and_then(|m| m.content).unwrap_or_default()),
        Api::Completions => first.map(|c| c.text.unwrap_or_default()),
        Api::Responses => {
            let parts = answer.output.into_iter().flat_map(|i| i.content);
            Some(parts.filter(|p| p.kind == "output_text").map(|p| p.text).collect())
        }
        Api::Embeddings => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_s_answer_text_is_found_where_it_puts_it() {
        let chat = br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#;
        let completion = br#"{"choices":[{"text":"hello","index":0}]}"#;
        let response = br#"{"output":[{"type":"reasoning","content":[]},{"type":"message","content":[
            {"type":"output_text","text":"a"},{"type":"refusal","refusal":"no"},{"type":"output_text","text":"b"}]}]}"#;
        assert_eq!(answer_text(chat, Api::Chat).as_deref(), Some("hi"));
        assert_eq!(answer_text(completion, Api::Completions).as_deref(), Some("hello"));
        assert_eq!(answer_text(response, Api::Responses).as_deref(), Some("ab"));
        assert_eq!(answer_text(br#"{"data":[]}"#, Api::Embeddings), None);
    }
}
