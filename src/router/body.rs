//! Reading an answer's body: counted piece by piece under the size cap and the attempt's deadline, kept only
//! when it is parsed later (usage, a served-by field).

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
    pub(super) usage: Option<Usage>,
}
#[derive(serde::Deserialize)]
pub(super) struct Usage {
    pub(super) prompt_tokens: u64,
    pub(super) completion_tokens: u64,
}

/// The answer's text in a JSON body: a chat completion's `choices[0].message.content`.
pub(super) fn answer_text(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        choices: Vec<Choice>,
    }
    #[derive(serde::Deserialize)]
    struct Choice {
        message: Message,
    }
    #[derive(serde::Deserialize)]
    struct Message {
        #[serde(default)]
        content: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    answer.choices.into_iter().next().map(|c| c.message.content.unwrap_or_default())
}
