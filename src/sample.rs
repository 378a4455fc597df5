//! The record every request ends as: its times, its outcome, its attempts and its stream timing.
//!
//! A leaf: the engine and the router produce [`Sample`]s, the measurement folds them, and this module imports
//! nothing of slacheck.

use std::time::Duration;

/// What went wrong inside a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFault {
    /// An error event or an error object in a chunk.
    ErrorEvent,
    /// A data line that is not JSON.
    Malformed,
    /// The stream ended without `[DONE]`.
    Truncated,
}

/// What happened to one scheduled request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a success status and a complete body.
    Ok,
    /// Answered with a failure status, or the connection or body failed.
    Error(ErrorKind),
    /// No complete answer within the scenario's timeout.
    Timeout,
    /// Never sent: the in-flight cap was reached when it was due.
    NotSent,
    /// The client hung up before the answer ended, as the class's `cancel` asked: neither a success nor a failure
    /// of the target.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Status(u16),
    Connect,
    /// The TLS handshake failed, and why, in a few words (`certificate expired`, `unknown issuer`, …).
    Tls(&'static str),
    /// The connection broke or the body could not be read.
    Transport,
    /// The run was interrupted while the request was in flight.
    Interrupted,
    /// A success status whose JSON body does not parse.
    MalformedBody,
    /// A body longer than `target.max_body`: the connection was dropped at the limit.
    BodyTooLarge,
    /// A stream that failed: an error event, a malformed chunk, or no `[DONE]`; before or after its first token.
    Stream {
        fault: StreamFault,
        after_first_token: bool,
    },
}

impl ErrorKind {
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Status(s) => format!("status {s}"),
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Tls(reason) => format!("tls: {reason}"),
            ErrorKind::Transport => "transport".into(),
            ErrorKind::Interrupted => "interrupted".into(),
            ErrorKind::MalformedBody => "malformed body".into(),
            ErrorKind::BodyTooLarge => "body too large".into(),
            ErrorKind::Stream { fault, after_first_token } => format!(
                "stream {} {} first token",
                match fault {
                    StreamFault::ErrorEvent => "error event",
                    StreamFault::Malformed => "malformed chunk",
                    StreamFault::Truncated => "truncated",
                },
                if *after_first_token { "after" } else { "before" }
            ),
        }
    }
}

/// One logical request: its times (offsets from the start of the run), its outcome and its attempts.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its number in the whole schedule (shards included): the request id's suffix.
    pub request: u64,
    pub intended: Duration,
    /// When it was actually sent (absent if not sent).
    pub sent: Option<Duration>,
    /// When it finished (answered, failed, timed out or was given up).
    pub done: Duration,
    pub outcome: Outcome,
    /// Index of its request class.
    pub class: u16,
    /// Index of the tier that answered it successfully.
    pub served: Option<u16>,
    /// The upstream that served it: from the response (see `served_by`), or without `served_by` the tier that
    /// answered last. None: no one is known (counted as `unknown`).
    pub upstream: Option<String>,
    /// `served_by` is set and an answer came without its value.
    pub served_by_missing: bool,
    /// The gateway's own marker (`served_by.failed_over`) says it failed over internally.
    pub gateway_failed_over: bool,
    /// The upstreams a gateway's served-by list names before the one that served (nginx's `"A, B"`): each an
    /// attempt that failed there. Empty without a list.
    pub gateway_tried: Vec<String>,
    /// The HTTP status of the last answer, when a status line came.
    pub status: Option<u16>,
    /// The last answer's values of `target.capture_headers`, in their order (empty when none are named).
    pub captured: Vec<Option<String>>,
    /// (prompt, completion) tokens of the answer, from its `usage`.
    pub tokens: Option<(u64, u64)>,
    /// The tokens of the message content slacheck made or counted (none for fixed prompts): without the chat
    /// template a provider adds to `usage.prompt_tokens`.
    pub input_tokens: Option<u32>,
    pub attempts: Vec<Attempt>,
    /// For a streamed answer (the last attempt's): when its tokens came.
    pub stream: Option<StreamTiming>,
    /// A hedge was sent: Some(true) if the hedge's answer was the one kept.
    pub hedge: Option<bool>,
    /// The tier of a hedge race's losing attempt, dropped when the other answered first: it reached the provider
    /// (and counts as an attempt on it), but its outcome is unknown, so it is not in `attempts`.
    pub hedged_away: Option<u16>,
    /// A conversation's turn: its session, its number and how many the session planned.
    pub session: Option<SessionTurn>,
}

/// Where a request stands in its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTurn {
    /// The session's number in the schedule.
    pub session: u64,
    /// From 0.
    pub turn: u32,
    /// Turns the session planned (it ends earlier when a turn fails).
    pub turns: u32,
}

/// Token timing of one streamed answer, as offsets from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamTiming {
    /// When the response headers arrived.
    pub headers: Duration,
    pub first_token: Option<Duration>,
    pub last_token: Option<Duration>,
    /// Tokens generated (from the stream's usage, else counted content events).
    pub tokens: u64,
    /// Of those, the ones after the first chunk (see [`crate::sse::SseReader::tokens_after_first`]).
    pub tokens_after_first: f64,
    /// The longest wait between two chunks that carried tokens; none with fewer than two.
    pub largest_gap: Option<Duration>,
}

impl StreamTiming {
    /// The decode phase: from the first to the last token, and the tokens after the first chunk; none when the
    /// answer had no token after its first chunk.
    pub fn decode(&self) -> Option<(Duration, f64)> {
        match (self.first_token, self.last_token) {
            (Some(first), Some(last)) if self.tokens_after_first >= 1.0 => {
                Some((last.saturating_sub(first), self.tokens_after_first))
            }
            _ => None,
        }
    }
}

impl Sample {
    /// A request that was due but never sent.
    pub fn not_sent(intended: Duration, done: Duration) -> Self {
        Sample {
            request: 0,
            intended,
            sent: None,
            done,
            outcome: Outcome::NotSent,
            class: 0,
            served: None,
            upstream: None,
            served_by_missing: false,
            gateway_failed_over: false,
            gateway_tried: Vec::new(),
            status: None,
            captured: Vec::new(),
            tokens: None,
            input_tokens: None,
            attempts: Vec::new(),
            stream: None,
            hedge: None,
            hedged_away: None,
            session: None,
        }
    }

    /// The answer's tokens as they came: its `usage.completion_tokens`, else the tokens counted in its stream (a
    /// stream cut short by a timeout or an error has the ones it sent). None: no usage and no streamed token.
    pub fn output_tokens(&self) -> Option<u64> {
        self.tokens.map(|(_, c)| c).or(self.stream.map(|t| t.tokens).filter(|n| *n > 0))
    }

    /// The mean gap between its streamed tokens after the first chunk (what `[sla] goodput`'s `inter_token`
    /// judges); none for a whole answer or one without a token after its first chunk.
    pub fn inter_token(&self) -> Option<Duration> {
        self.stream.and_then(|t| t.decode()).map(|(decode, tokens)| decode.div_f64(tokens))
    }

    /// It went to more than one tier, or the gateway says it failed over internally.
    pub fn failed_over(&self) -> bool {
        let first_tier = self.attempts.first().map(|a| a.tier);
        self.gateway_failed_over || self.attempts.iter().any(|a| Some(a.tier) != first_tier)
    }
}

/// One try of a logical request on one tier.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub tier: u16,
    /// Region of the endpoint it went to, if the tier has regions.
    pub region: Option<u16>,
    pub outcome: Outcome,
    /// Its own latency, from its send to its end.
    pub elapsed: Duration,
    /// It was cut short by the failover latency budget.
    pub over_budget: bool,
    /// How its connection and answer began, when its answer's head came.
    pub phases: Option<Phases>,
}

/// The phases of one attempt before its body: opening a connection (only when this attempt opened one, on the
/// lean path: the TCP connect, then for https the TLS handshake) and the time from sending to the answer's
/// status line and headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Waiting for one of `load.max_connections`' connections to be free, before sending; none without that
    /// cap.
    pub wait: Option<Duration>,
    pub connect: Option<Duration>,
    pub tls: Option<Duration>,
    pub headers: Duration,
}

impl Attempt {
    /// Why another attempt followed this one.
    pub fn reason(&self) -> String {
        match &self.outcome {
            // A timeout that the failover latency budget set: counted as a timeout (the tier's `timeout`), so
            // named as one.
            Outcome::Timeout if self.over_budget => "timeout (latency budget)".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Error(k) => k.label(),
            Outcome::Ok => "ok".into(),
            Outcome::NotSent => "not sent".into(),
            Outcome::Cancelled => "cancelled".into(),
        }
    }
}
