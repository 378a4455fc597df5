//! The configuration of fake providers: what each serves and which faults it injects.
//!
//! The same `ProviderConfig` is read from a standalone `providers.toml` and from a slacheck scenario's
//! `[[mock.providers]]` tables. Every table rejects unknown keys.

use crate::units::{HumanDuration, Rate, Ratio, Window};
use serde::{Deserialize, Serialize};
use slacheck_common::tokenizer_file::TokenizerChoice;
use std::time::Duration;

/// A standalone config file: `[[providers]]` tables, each bound on its own loopback port.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

/// One fake provider.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name sent back in the `x-upstream` header of every response.
    pub name: String,
    /// Loopback port for the standalone server; 0 (the default) picks a free one.
    #[serde(default)]
    pub port: u16,
    /// Models listed by `GET /v1/models`. Requests for any model are served (the model is echoed).
    #[serde(default = "default_models")]
    pub models: Vec<String>,
    /// Seed of this provider's random faults; the same seed gives the same sequence of decisions.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Time before a non-streaming response (and before the first token of a stream).
    #[serde(default)]
    pub latency: Latency,
    /// A rare extra-slow response, e.g. a cold start: `tail = { one_in = 1000, latency = "14s" }`.
    pub tail: Option<Tail>,
    /// Random errors: `errors = { rate = "1%", statuses = [500, 502, 503, 429] }`.
    pub errors: Option<Errors>,
    /// Windows, relative to the provider's start, in which every request fails.
    #[serde(default)]
    pub outages: Vec<Outage>,
    /// Token bucket; requests beyond it get 429 with `Retry-After`.
    pub rate_limit: Option<RateLimit>,
    /// At most this many answers are worked on at once; the others wait their turn (first come, first served),
    /// so past `concurrency / latency` requests per second the queue, and latency, grow without bound. Served
    /// by the hyper server only (the wiremock responder has no way to queue).
    pub concurrency: Option<u32>,
    /// Streaming (`"stream": true`) shape.
    #[serde(default)]
    pub stream: StreamShape,
    /// Faults inside a stream: `stream_faults = { rate = "1%", kind = "truncate" }`.
    pub stream_faults: Option<StreamFaults>,
    /// Share of successful responses whose body is malformed JSON.
    pub malformed_rate: Option<Ratio>,
    /// Completion tokens in each answer (a token-aware provider: when the request names no `max_tokens`).
    #[serde(default = "default_completion_tokens")]
    pub completion_tokens: u32,
    /// Count prompt tokens with this tokenizer (`o200k_base`, `cl100k_base`, or the served model's own
    /// `{ file = "tokenizer.json" }`, relative to the file that declares the provider) and answer with exactly
    /// `max_tokens` tokens; implied by the per-token times below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TokenizerChoice>,
    /// Prefill time per prompt token, before the first token: time to first token grows with the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_per_token: Option<HumanDuration>,
    /// Decode time per answer token: between a stream's tokens, and added to a whole answer's latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_per_token: Option<HumanDuration>,
    /// A prompt cache: the tokens of a system message seen before prefill at this rate instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_prefill_per_token: Option<HumanDuration>,
}

fn default_models() -> Vec<String> {
    vec!["mock-small".into(), "mock-large".into()]
}
fn default_seed() -> u64 {
    1
}
fn default_completion_tokens() -> u32 {
    16
}

impl ProviderConfig {
    /// A provider with no faults and a few milliseconds of latency.
    pub fn named(name: &str) -> Self {
        ProviderConfig {
            name: name.to_string(),
            port: 0,
            models: default_models(),
            seed: default_seed(),
            latency: Latency::default(),
            tail: None,
            errors: None,
            outages: Vec::new(),
            rate_limit: None,
            concurrency: None,
            stream: StreamShape::default(),
            stream_faults: None,
            malformed_rate: None,
            completion_tokens: default_completion_tokens(),
            tokenizer: None,
            prefill_per_token: None,
            decode_per_token: None,
            cached_prefill_per_token: None,
        }
    }

    /// The same provider with its files (a tokenizer file) taken relative to `dir`, the folder of the file
    /// that declares it.
    pub fn resolved(mut self, dir: &std::path::Path) -> Self {
        self.tokenizer = self.tokenizer.map(|t| t.resolved(dir));
        self
    }

    /// Checks what serde cannot: relations between values, and that a tokenizer file loads (it is then kept for
    /// the process's life, so the provider's requests never read it again). Returns (field path, message).
    pub fn check(&self) -> Result<(), (String, String)> {
        let at = |field: &str| format!("{}.{field}", self.name);
        self.latency.check().map_err(|m| (at("latency"), m))?;
        self.stream.ttft.check().map_err(|m| (at("stream.ttft"), m))?;
        self.stream.inter_token.check().map_err(|m| (at("stream.inter_token"), m))?;
        if let Some(t) = &self.tail {
            if t.one_in == 0 {
                return Err((at("tail.one_in"), "must be at least 1".into()));
            }
        }
        if let Some(e) = &self.errors {
            if e.statuses.is_empty() {
                return Err((at("errors.statuses"), "list at least one status".into()));
            }
            if let Some(s) = e.statuses.iter().find(|s| !(400..=599).contains(*s)) {
                return Err((at("errors.statuses"), format!("{s} is not an error status (400-599)")));
            }
        }
        if let Some(r) = &self.rate_limit {
            if r.rate.per_second <= 0.0 {
                return Err((at("rate_limit.rate"), "must be above zero".into()));
            }
        }
        if self.name.trim().is_empty() {
            return Err(("name".into(), "a provider needs a name".into()));
        }
        if let Some(t) = &self.tokenizer {
            t.load().map_err(|m| (at("tokenizer"), m))?;
        }
        Ok(())
    }
}

/// A latency distribution.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Latency {
    /// Always the same: `{ dist = "fixed", value = "20ms" }`.
    Fixed { value: HumanDuration },
    /// Uniform between min and max.
    Uniform { min: HumanDuration, max: HumanDuration },
    /// Normal, clamped at zero.
    Normal { mean: HumanDuration, stddev: HumanDuration },
    /// Log-normal given its median and 99th percentile: `{ dist = "lognormal", p50 = "20ms", p99 = "200ms" }`.
    Lognormal { p50: HumanDuration, p99: HumanDuration },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed { value: HumanDuration(Duration::from_millis(2)) }
    }
}

impl Latency {
    pub fn check(&self) -> Result<(), String> {
        match self {
            Latency::Uniform { min, max } if max < min => Err("max must not be below min".into()),
            Latency::Lognormal { p50, p99 } if p99 < p50 => Err("p99 must not be below p50".into()),
            Latency::Lognormal { p50, .. } if p50.0.is_zero() => Err("p50 must be above zero".into()),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tail {
    /// One request in this many takes `latency` instead.
    pub one_in: u64,
    pub latency: HumanDuration,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    pub rate: Ratio,
    /// Statuses drawn uniformly; 429 responses carry `Retry-After: 1`.
    #[serde(default = "default_error_statuses")]
    pub statuses: Vec<u16>,
}

fn default_error_statuses() -> Vec<u16> {
    vec![500, 502, 503, 429]
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub window: Window,
    #[serde(default)]
    pub mode: OutageMode,
    /// The status returned when `mode = "status"`.
    #[serde(default = "default_outage_status")]
    pub status: u16,
}

fn default_outage_status() -> u16 {
    503
}

/// How a provider fails during an outage.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// Answer with an error status.
    #[default]
    Status,
    /// Close the connection without an answer.
    Reset,
    /// Never answer; the client's timeout decides.
    Hang,
    /// Hold every request until the window ends, then answer normally (a pause, like a long GC or a
    /// failover that blocks). Only for scheduled windows, not for `/__control`.
    Stall,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub rate: Rate,
    /// Bucket size; defaults to one second's worth of tokens.
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamShape {
    /// Time to first token.
    #[serde(default)]
    pub ttft: Latency,
    /// Time between tokens.
    #[serde(default = "default_inter_token")]
    pub inter_token: Latency,
    /// Send a final chunk with `usage` before `[DONE]`.
    #[serde(default = "yes")]
    pub usage: bool,
    /// Tokens in the first chunk (servers often send several at once).
    #[serde(default = "one_token")]
    pub first_chunk_tokens: u32,
}

fn one_token() -> u32 {
    1
}

fn default_inter_token() -> Latency {
    Latency::Fixed { value: HumanDuration(Duration::from_millis(1)) }
}
fn yes() -> bool {
    true
}

impl Default for StreamShape {
    fn default() -> Self {
        StreamShape { ttft: Latency::default(), inter_token: default_inter_token(), usage: true, first_chunk_tokens: 1 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamFaults {
    pub rate: Ratio,
    pub kind: StreamFaultKind,
    /// How long a stalled stream stops before going on.
    #[serde(default = "default_stall")]
    pub stall: HumanDuration,
}

fn default_stall() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamFaultKind {
    /// Stop sending for `stall`, then go on.
    Stall,
    /// End the stream halfway, without `[DONE]`.
    Truncate,
    /// Send one chunk that is not valid JSON.
    Malformed,
    /// Send an error event (`event: error`) halfway and end the stream.
    Error,
}
