//! Reading an OpenAI-style Server-Sent Events stream as it arrives: when the first token came, how many
//! tokens, and whether the stream ended properly.
//!
//! A stream counts as failed when it carries an error event (`event: error`, or an `error` object in a
//! chunk), a chunk that is not JSON, or ends without `data: [DONE]`. Content and reasoning deltas are tokens;
//! the number of tokens is taken from the final `usage` when the stream sends one, because one chunk may
//! carry several tokens.
//!
//! Parsing is linear in the body's length: each byte is scanned for an event separator once, and consumed
//! events leave the buffer in one move per piece. One event is capped at [`MAX_EVENT`] bytes: a body that
//! never separates its events would otherwise grow the buffer without bound.

pub use crate::sample::StreamFault;
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
#[derive(serde::Deserialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl SseReader {
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
                self.done = true;
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
                    if let Some(u) = chunk.usage {
                        self.usage = Some((u.prompt_tokens, u.completion_tokens));
                    }
                    if let Some(text) = &mut self.text {
                        let content = chunk.choices.iter().filter_map(|c| c.delta.as_ref()?.content.as_deref());
                        content.for_each(|c| text.push_str(c));
                    }
                    let chars: usize = chunk
                        .choices
                        .iter()
                        .filter_map(|c| c.delta.as_ref())
                        .flat_map(|d| [&d.content, &d.reasoning_content, &d.reasoning])
                        .map(|t| t.as_deref().map_or(0, |s| s.chars().count()))
                        .sum();
                    if chars > 0 {
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
                }
            }
        }
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
