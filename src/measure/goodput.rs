//! Goodput and tokens: the requests that succeeded and met every per-request objective of `[sla] goodput`
//! (AIPerf's and DistServe's goodput), and the input and output tokens delivered, overall, per class and per tier.

use crate::sample::{Outcome, Sample};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What makes one request good, besides succeeding (`[sla] goodput`); an absent objective is not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Objectives {
    /// Time to first token, from the intended send time.
    pub ttft: Option<Duration>,
    /// The mean gap between the tokens of the answer after its first chunk.
    pub inter_token: Option<Duration>,
    /// End-to-end latency, from the intended send time.
    pub latency: Option<Duration>,
}

impl Objectives {
    /// Whether `s` succeeded and met every objective. A whole (not streamed) answer's first token came with
    /// the answer, so its time to first token is its latency; an answer with no token after its first chunk has
    /// no gap to miss.
    pub fn met_by(&self, s: &Sample) -> bool {
        if s.outcome != Outcome::Ok {
            return false;
        }
        let latency = s.done.saturating_sub(s.intended);
        let first_token = s.stream.and_then(|t| t.first_token).map_or(latency, |t| t.saturating_sub(s.intended));
        let gap = s.stream.and_then(|t| t.decode()).map(|(decode, tokens)| decode.div_f64(tokens));
        self.latency.is_none_or(|limit| latency <= limit)
            && self.ttft.is_none_or(|limit| first_token <= limit)
            && self.inter_token.is_none_or(|limit| gap.is_none_or(|g| g <= limit))
    }
}

/// Good requests and tokens of one slice of the traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// Requests that met `[sla] goodput` (0 when it sets no objective).
    pub good: u64,
    /// Prompt tokens of the answered requests: slacheck's count of the content it sent, else the answer's
    /// `usage.prompt_tokens`.
    pub input_tokens: u64,
    /// Answer tokens: `usage.completion_tokens`, else the tokens counted in the stream.
    pub output_tokens: u64,
}

impl Delivered {
    /// Counts `s`; `good` is whether it met the objectives.
    pub fn add(&mut self, s: &Sample, good: bool) {
        self.good += u64::from(good);
        if s.outcome == Outcome::Ok {
            let (input, output) = tokens_of(s);
            self.input_tokens += input;
            self.output_tokens += output;
        }
    }

    pub fn merge(&mut self, other: &Delivered) {
        self.good += other.good;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// (input, output) tokens of an answered request.
pub fn tokens_of(s: &Sample) -> (u64, u64) {
    let usage = s.tokens;
    let input = s.input_tokens.map(u64::from).or(usage.map(|(p, _)| p)).unwrap_or(0);
    let output = usage.map(|(_, c)| c).or(s.stream.map(|t| t.tokens)).unwrap_or(0);
    (input, output)
}

/// Goodput and tokens, overall and by class and serving tier (indices as in [`Sample`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Goodput {
    /// `[sla] goodput` set objectives, so `good` counts mean something.
    pub judged: bool,
    pub overall: Delivered,
    pub classes: Vec<Delivered>,
    pub tiers: Vec<Delivered>,
}

impl Goodput {
    pub fn new(judged: bool, classes: usize, tiers: usize) -> Self {
        let none = Delivered::default();
        Goodput { judged, overall: none, classes: vec![none; classes], tiers: vec![none; tiers] }
    }

    /// Counts `s`, which was good or not.
    pub fn add(&mut self, s: &Sample, good: bool) {
        self.overall.add(s, good);
        if let Some(class) = self.classes.get_mut(s.class as usize) {
            class.add(s, good);
        }
        if let Some(tier) = s.served.and_then(|t| self.tiers.get_mut(t as usize)) {
            tier.add(s, good);
        }
    }

    pub fn merge(&mut self, other: &Goodput) {
        self.judged |= other.judged;
        self.overall.merge(&other.overall);
        for (a, b) in self.classes.iter_mut().zip(&other.classes).chain(self.tiers.iter_mut().zip(&other.tiers)) {
            a.merge(b);
        }
    }
}
