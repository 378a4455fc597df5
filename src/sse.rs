//! Reading an OpenAI-style Server-Sent Events stream as it arrives: when the first token came, how many
//! tokens, and whether the stream ended properly.
//!
//! Chat and legacy completions streams send chunks (`choices[].delta.content`, `choices[].text`) and end with
//! `data: [DONE]`; a Responses API stream sends typed events and ends with `response.completed` (or
//! `response.incomplete`, an answer cut at `max_output_tokens`), whose `response.usage` counts its tokens.
//!
//! A stream counts as failed when it carries an error event (`event: error`, an `error` object in a chunk,
//! `response.failed`), a chunk that is not JSON, or ends before its end. Content and reasoning deltas are
//! tokens; the number of tokens is taken from the final `usage` when the stream sends one, because one chunk
//! may carry several tokens.
//!
//! Parsing is linear in the body's length: each byte is scanned for an event separator once, and consumed
//! events leave the buffer in one move per piece. One event is capped at [`MAX_EVENT`] bytes: a body that
//! never separates its events would otherwise grow the buffer without bound.

pub use crate::sample::StreamFault;
use crate::scenario::Api;
use std::time::Instant;

/// The largest event (bytes between two blank lines) a stream may send; past it the stream is malformed.
pub const MAX_EVENT: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct SseReader {
    /// The start of an event whose separator has not arrived yet.
    buffer: Vec<u8>,
    /// Set when one event passed [`MAX_EVENT`]: the rest of the stream is not worth reading.
    pub overflowed: bool,
    pub first_token: Option<Instant>,
    pub last_token: Option<Instant>,
    /// The longest wait between two events that carried tokens (events that came in one piece: none).
    pub largest_gap: Option<std::time::Duration>,
    /// Data events carrying content or reasoning.
    pub token_events: u64,
    pub usage: Option<(u64, u64)>,
    pub done: bool,
    pub fault: Option<StreamFault>,
    /// Characters of content: in all, and in the first chunk that had any.
    chars: u64,
    first_chars: u64,
    /// The answer's content, gathered when it is `Some` at the start (a conversation's turn needs it).
    pub text: Option<String>,
    /// The API whose events these are.
    pub api: Api,
}

#[derive(serde::Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}
#[derive(serde::Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    /// A legacy completion's text.
    #[serde(default)]
    text: Option<String>,
}
#[derive(serde::Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
}
/// Usage as the APIs report it: chat, completions and embeddings count `prompt_tokens` (and
/// `completion_tokens`), the Responses API `input_tokens` and `output_tokens`.
#[derive(Debug, serde::Deserialize)]
pub struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

impl Usage {
    /// (input, output) tokens as `api` reports them (embeddings have no output); none when its keys are missing.
    pub fn tokens(&self, api: Api) -> Option<(u64, u64)> {
        match api {
            Api::Chat | Api::Completions => Some((self.prompt_tokens?, self.completion_tokens?)),
            Api::Embeddings => Some((self.prompt_tokens?, 0)),
            Api::Responses => Some((self.input_tokens?, self.output_tokens?)),
        }
    }
}

/// One Responses API event: its type, a text delta, and the response it closes.
#[derive(serde::Deserialize)]
struct ResponseEvent {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    delta: Option<String>,
    #[serde(default)]
    response: Option<ClosedResponse>,
}
#[derive(serde::Deserialize)]
struct ClosedResponse {
    #[serde(default)]
    usage: Option<Usage>,
}

impl SseReader {
    /// A reader of `api`'s events.
    pub fn of(api: Api) -> Self {
        SseReader { api, ..SseReader::default() }
    }

    /// Takes the next piece of the body, received at `at`.
    pub fn feed(&mut self, bytes: &[u8], at: Instant) {
        if self.overflowed {
            return;
        }
        // A separator may straddle the previous piece and this one: look back three bytes, no further.
        let mut scan = self.buffer.len().saturating_sub(3);
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.extend_from_slice(bytes);
        let mut consumed = 0;
        while let Some((end, separator)) = find_event_end(&buffer, scan) {
            self.event(&buffer[consumed..end], at);
            consumed = end + separator;
            scan = consumed;
        }
        buffer.drain(..consumed);
        if buffer.len() > MAX_EVENT {
            self.fault.get_or_insert(StreamFault::Malformed);
            self.overflowed = true;
            buffer = Vec::new();
        }
        self.buffer = buffer;
    }

    fn event(&mut self, event: &[u8], at: Instant) {
        let Ok(text) = std::str::from_utf8(event) else {
            self.fault.get_or_insert(StreamFault::Malformed);
            return;
        };
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.starts_with("event:") && line[6..].trim() == "error" {
                self.fault.get_or_insert(StreamFault::ErrorEvent);
            }
            let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
            if data == "[DONE]" {
                // A Responses API stream ends with its `response.completed` event (a gateway may add this).
                self.done |= self.api != Api::Responses;
                continue;
            }
            if self.api == Api::Responses {
                self.response_event(data, at);
                continue;
            }
            match serde_json::from_str::<Chunk>(data) {
                Err(_) => {
                    self.fault.get_or_insert(StreamFault::Malformed);
                }
                Ok(chunk) => {
                    if chunk.error.is_some() {
                        self.fault.get_or_insert(StreamFault::ErrorEvent);
                    }
                    if let Some(u) = chunk.usage.as_ref().and_then(|u| u.tokens(self.api)) {
                        self.usage = Some(u);
                    }
                    let content = |c: &Choice| c.delta.as_ref().and_then(|d| d.content.clone()).or(c.text.clone());
                    if let Some(text) = &mut self.text {
                        chunk.choices.iter().filter_map(content).for_each(|c| text.push_str(&c));
                    }
                    let count = |t: &Option<String>| t.as_deref().map_or(0, |s| s.chars().count());
                    let chars: usize = chunk
                        .choices
                        .iter()
                        .map(|c| {
                            let delta = c.delta.as_ref();
                            count(&c.text)
                                + delta.map_or(0, |d| {
                                    count(&d.content) + count(&d.reasoning_content) + count(&d.reasoning)
                                })
                        })
                        .sum();
                    self.arrived(chars, at);
                }
            }
        }
    }

    /// One event of a Responses API stream: a text delta (of the answer, its reasoning or a refusal), its end
    /// with usage, or its failure.
    fn response_event(&mut self, data: &str, at: Instant) {
        let Ok(event) = serde_json::from_str::<ResponseEvent>(data) else {
            self.fault.get_or_insert(StreamFault::Malformed);
            return;
        };
        match event.kind.as_str() {
            "response.output_text.delta" => {
                let delta = event.delta.unwrap_or_default();
                if let Some(text) = &mut self.text {
                    text.push_str(&delta);
                }
                self.arrived(delta.chars().count(), at);
            }
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" | "response.refusal.delta" => {
                self.arrived(event.delta.map_or(0, |d| d.chars().count()), at);
            }
            "response.completed" | "response.incomplete" => {
                self.done = true;
                let usage = event.response.and_then(|r| r.usage).and_then(|u| u.tokens(Api::Responses));
                self.usage = usage.or(self.usage);
            }
            "response.failed" | "error" => {
                self.fault.get_or_insert(StreamFault::ErrorEvent);
            }
            _ => {}
        }
    }

    /// Accounts an event that carried `chars` characters of tokens (none: not a token event), received at `at`.
    fn arrived(&mut self, chars: usize, at: Instant) {
        if chars == 0 {
            return;
        }
        if self.first_token.is_none() {
            self.first_chars = chars as u64;
        }
        self.chars += chars as u64;
        if let Some(last) = self.last_token {
            let gap = at.saturating_duration_since(last);
            self.largest_gap = Some(self.largest_gap.map_or(gap, |g| g.max(gap)));
        }
        self.first_token.get_or_insert(at);
        self.last_token = Some(at);
        self.token_events += 1;
    }

    /// The stream's fault, once its body has ended.
    pub fn finish(&mut self) -> Option<StreamFault> {
        if !self.buffer.iter().all(u8::is_ascii_whitespace) {
            let rest = std::mem::take(&mut self.buffer);
            self.event(&rest, self.last_token.unwrap_or_else(Instant::now));
        }
        if self.fault.is_none() && !self.done {
            self.fault = Some(StreamFault::Truncated);
        }
        self.fault
    }

    /// Tokens generated: the usage count if the stream gave one, else the token events.
    pub fn tokens(&self) -> u64 {
        self.usage.map(|u| u.1).unwrap_or(self.token_events)
    }

    /// Tokens that came after the first chunk, which decode speed is measured on: a first chunk carrying
    /// several tokens arrives at the first-token time and would inflate it. Without a tokenizer the first
    /// chunk's share is taken by characters.
    pub fn tokens_after_first(&self) -> f64 {
        if self.chars == 0 {
            return 0.0;
        }
        self.tokens() as f64 * (1.0 - self.first_chars as f64 / self.chars as f64)
    }
}

/// (end of the event, length of the separator) of the first complete event whose separator starts at or after
/// `from`: a blank line, `\n\n` or `\r\n\r\n`.
fn find_event_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(offset) = buf.get(i..).and_then(|rest| rest.iter().position(|b| *b == b'\n')) {
        i += offset;
        if buf.get(i + 1) == Some(&b'\n') {
            return Some((i, 2));
        }
        if i >= 1 && buf[i - 1] == b'\r' && buf.get(i + 1..i + 3) == Some(b"\r\n") {
            return Some((i - 1, 4));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn read(pieces: &[&str]) -> SseReader {
        read_from(Instant::now(), pieces)
    }

    fn read_from(t0: Instant, pieces: &[&str]) -> SseReader {
        let mut r = SseReader::default();
        for (i, p) in pieces.iter().enumerate() {
            r.feed(p.as_bytes(), t0 + Duration::from_millis(10 * i as u64));
        }
        r.finish();
        r
    }

    #[test]
    fn tokens_first_token_and_done_are_read_across_split_chunks() {
        let t0 = Instant::now();
        let r = read_from(t0, &[
            ": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel",
            "lo wor\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7,\"total_tokens\":10}}\n\ndata: [DONE]\n\n",
        ]);
        assert_eq!(r.fault, None);
        assert_eq!(r.token_events, 2, "the role-only chunk is not a token; reasoning is");
        assert_eq!(r.tokens(), 7, "usage wins over counted events");
        // "Hello wor" (9 characters) came first, then "hmm" (3): a quarter of the 7 tokens came after.
        assert!((r.tokens_after_first() - 7.0 * 0.25).abs() < 1e-9);
        // The first content ("Hel…") completes in the third piece, fed at t0 + 20 ms; the last token in it too.
        assert_eq!(r.first_token.unwrap() - t0, Duration::from_millis(20));
        assert_eq!(r.last_token.unwrap() - t0, Duration::from_millis(20));
        assert!(r.done);
    }

    #[test]
    fn a_legacy_completions_stream_counts_its_texts() {
        let mut r = SseReader { text: Some(String::new()), ..SseReader::of(Api::Completions) };
        r.feed(
            b"data: {\"choices\":[{\"text\":\"ok \",\"index\":0}]}\n\ndata: {\"choices\":[{\"text\":\"go\"}]}\n\n",
            Instant::now(),
        );
        r.feed(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
            Instant::now(),
        );
        assert_eq!((r.finish(), r.token_events, r.usage, r.text.as_deref()), (None, 2, Some((4, 2)), Some("ok go")));
    }

    #[test]
    fn a_responses_stream_counts_its_deltas_and_ends_with_its_completed_event() {
        let t0 = Instant::now();
        let event = |kind: &str, more: &str| format!("event: {kind}\ndata: {{\"type\":\"{kind}\"{more}}}\n\n");
        let opening = event("response.created", ",\"response\":{\"usage\":null}");
        let deltas = [
            event("response.output_text.delta", ",\"delta\":\"Hel\""),
            event("response.output_text.delta", ",\"delta\":\"lo\""),
        ];
        let usage = ",\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":3,\"total_tokens\":8}}";
        let mut r = SseReader { text: Some(String::new()), ..SseReader::of(Api::Responses) };
        r.feed(opening.as_bytes(), t0);
        assert_eq!(r.first_token, None, "the opening events carry no token");
        r.feed(deltas[0].as_bytes(), t0 + Duration::from_millis(10));
        r.feed(deltas[1].as_bytes(), t0 + Duration::from_millis(30));
        assert_eq!(r.finish(), Some(StreamFault::Truncated), "no response.completed yet");
        let mut r = SseReader { text: Some(String::new()), ..SseReader::of(Api::Responses) };
        for (i, piece) in [opening.clone(), deltas[0].clone(), deltas[1].clone(), event("response.completed", usage)]
            .iter()
            .enumerate()
        {
            r.feed(piece.as_bytes(), t0 + Duration::from_millis(10 * i as u64));
        }
        assert_eq!((r.finish(), r.token_events, r.tokens(), r.usage), (None, 2, 3, Some((5, 3))));
        assert_eq!(r.text.as_deref(), Some("Hello"));
        assert_eq!(
            (r.first_token.unwrap() - t0, r.largest_gap),
            (Duration::from_millis(10), Some(Duration::from_millis(10)))
        );
        // A failed response is an error event, whatever follows.
        let mut failed = SseReader::of(Api::Responses);
        failed.feed(format!("{}{}", deltas[0], event("response.failed", "")).as_bytes(), t0);
        assert_eq!(failed.finish(), Some(StreamFault::ErrorEvent));
    }

    #[test]
    fn faults_are_told_apart() {
        let truncated = read(&["data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"]);
        assert_eq!(truncated.fault, Some(StreamFault::Truncated));
        let malformed = read(&["data: {\"choices\": [\n\ndata: [DONE]\n\n"]);
        assert_eq!(malformed.fault, Some(StreamFault::Malformed));
        let error = read(&["event: error\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [DONE]\n\n"]);
        assert_eq!(error.fault, Some(StreamFault::ErrorEvent));
        let error_object = read(&["data: {\"error\":{\"message\":\"x\"}}\n\ndata: [DONE]\n\n"]);
        assert_eq!(error_object.fault, Some(StreamFault::ErrorEvent));
    }

    #[test]
    fn separators_split_across_pieces_and_crlf_separators_are_found() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n";
        // Every way of cutting the body in two gives the same two token events.
        for cut in 0..=body.len() {
            let r = read(&[&body[..cut], &body[cut..]]);
            assert_eq!((r.token_events, r.fault, r.done), (2, None, true), "cut at {cut}");
        }
        // And so does a byte at a time.
        let bytes: Vec<String> = body.chars().map(String::from).collect();
        let r = read(&bytes.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!((r.token_events, r.fault, r.done), (2, None, true));
    }

    #[test]
    fn an_event_that_never_ends_is_malformed_once_past_the_cap_and_frees_its_buffer() {
        let mut r = SseReader::default();
        let piece = vec![b'x'; 4096];
        let mut fed = 0;
        while !r.overflowed {
            r.feed(&piece, Instant::now());
            fed += piece.len();
            assert!(fed <= MAX_EVENT + piece.len(), "no overflow after {fed} bytes");
        }
        assert_eq!(fed, MAX_EVENT + 4096, "the cap is {MAX_EVENT} bytes: overflow on the first piece past it");
        assert_eq!(r.fault, Some(StreamFault::Malformed));
        assert!(r.buffer.capacity() == 0, "the buffer is released");
    }

    #[test]
    fn a_blank_line_at_the_very_start_of_a_piece_ends_the_event_before_it() {
        let r = read(&["data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n", "\ndata: [DONE]\n", "\n"]);
        assert_eq!((r.token_events, r.fault, r.done), (1, None, true));
    }
}
