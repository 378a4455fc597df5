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
        let gap = s.inter_token();
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

/// Tokens of the requests that were sent and got no successful answer: the prompts slacheck made for them, and
/// the answer tokens that came before they failed (a stream cut short by a timeout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Unanswered {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Delivered {
    /// Counts one request: whether it was good, and its (input, output) tokens.
    fn add(&mut self, good: bool, (input, output): (u64, u64)) {
        self.good += u64::from(good);
        self.input_tokens += input;
        self.output_tokens += output;
    }

    pub fn merge(&mut self, other: &Delivered) {
        self.good += other.good;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// (input, output) tokens of an answered request; none of one that was not answered.
pub fn tokens_of(s: &Sample) -> (u64, u64) {
    if s.outcome != Outcome::Ok {
        return (0, 0);
    }
    let input = s.input_tokens.map(u64::from).or(s.tokens.map(|(p, _)| p)).unwrap_or(0);
    (input, s.output_tokens().unwrap_or(0))
}

/// Goodput and tokens, overall and by class and serving tier (indices as in [`Sample`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Goodput {
    /// `[sla] goodput` set objectives, so `good` counts mean something.
    pub judged: bool,
    pub overall: Delivered,
    pub classes: Vec<Delivered>,
    pub tiers: Vec<Delivered>,
    #[serde(default)]
    pub unanswered: Unanswered,
}

impl Goodput {
    pub fn new(judged: bool, classes: usize, tiers: usize) -> Self {
        let none = Delivered::default();
        let unanswered = Unanswered::default();
        Goodput { judged, overall: none, classes: vec![none; classes], tiers: vec![none; tiers], unanswered }
    }

    /// Counts `s`, which was good or not; returns its tokens, counted once here for every slice.
    pub fn add(&mut self, s: &Sample, good: bool) -> (u64, u64) {
        if s.outcome != Outcome::Ok && s.sent.is_some() {
            self.unanswered.input_tokens += s.input_tokens.map_or(0, u64::from);
            self.unanswered.output_tokens += s.output_tokens().unwrap_or(0);
        }
        let tokens = tokens_of(s);
        self.overall.add(good, tokens);
        if let Some(class) = self.classes.get_mut(s.class as usize) {
            class.add(good, tokens);
        }
        if let Some(tier) = s.served.and_then(|t| self.tiers.get_mut(t as usize)) {
            tier.add(good, tokens);
        }
        tokens
    }

    pub fn merge(&mut self, other: &Goodput) {
        self.judged |= other.judged;
        self.overall.merge(&other.overall);
        self.unanswered.input_tokens += other.unanswered.input_tokens;
        self.unanswered.output_tokens += other.unanswered.output_tokens;
        for (a, b) in self.classes.iter_mut().zip(&other.classes).chain(self.tiers.iter_mut().zip(&other.tiers)) {
            a.merge(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{ErrorKind, StreamTiming};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A request due at 1 s that ended `latency_ms` later.
    fn answered(latency_ms: u64) -> Sample {
        let mut s = Sample::not_sent(ms(1000), ms(1000 + latency_ms));
        s.outcome = Outcome::Ok;
        s.sent = Some(ms(1000));
        s
    }

    fn streamed(latency_ms: u64, first_token_ms: u64, decode_ms: u64, tokens_after_first: f64) -> Sample {
        let mut s = answered(latency_ms);
        s.stream = Some(StreamTiming {
            headers: ms(1001),
            first_token: Some(ms(1000 + first_token_ms)),
            last_token: Some(ms(1000 + first_token_ms + decode_ms)),
            tokens: tokens_after_first as u64 + 1,
            tokens_after_first,
            largest_gap: None,
        });
        s
    }

    #[test]
    fn a_request_is_good_when_it_succeeded_within_every_objective_edges_included() {
        let latency = Objectives { latency: Some(ms(500)), ..Default::default() };
        assert!(latency.met_by(&answered(500)));
        assert!(!latency.met_by(&answered(501)));
        let mut failed = answered(10);
        failed.outcome = Outcome::Error(ErrorKind::Status(503));
        assert!(!latency.met_by(&failed), "a failure is never good");
        assert!(!Objectives::default().met_by(&failed));
        assert!(Objectives::default().met_by(&answered(10_000)), "no objective: every success");
        // Time to first token counts from the intended time; a whole answer's first token is its latency.
        let ttft = Objectives { ttft: Some(ms(200)), ..Default::default() };
        assert!(ttft.met_by(&streamed(3000, 200, 2000, 100.0)));
        assert!(!ttft.met_by(&streamed(3000, 201, 2000, 100.0)));
        assert!(ttft.met_by(&answered(200)) && !ttft.met_by(&answered(201)));
        // The gap: 2,000 ms over 100 tokens is 20 ms a token.
        let gap = Objectives { inter_token: Some(ms(20)), ..Default::default() };
        assert!(gap.met_by(&streamed(3000, 100, 2000, 100.0)));
        assert!(!gap.met_by(&streamed(3000, 100, 2001, 100.0)));
        assert!(gap.met_by(&streamed(3000, 100, 0, 0.0)), "one chunk: no gap to miss");
        assert!(gap.met_by(&answered(3000)), "a whole answer has no gaps");
        // Every objective must hold.
        let all = Objectives { ttft: Some(ms(200)), inter_token: Some(ms(20)), latency: Some(ms(2500)) };
        assert!(all.met_by(&streamed(2500, 100, 2000, 100.0)));
        assert!(!all.met_by(&streamed(2501, 100, 2000, 100.0)));
        assert!(!all.met_by(&streamed(2500, 300, 2000, 100.0)));
        assert!(!all.met_by(&streamed(2500, 100, 2200, 100.0)));
    }

    #[test]
    fn tokens_are_slacheck_s_count_else_the_usage_and_the_stream() {
        let mut s = answered(10);
        assert_eq!(tokens_of(&s), (0, 0));
        s.tokens = Some((7, 3));
        assert_eq!(tokens_of(&s), (7, 3));
        s.input_tokens = Some(5);
        assert_eq!(tokens_of(&s), (5, 3), "slacheck's count of what it sent comes first");
        let mut st = streamed(100, 10, 50, 9.0);
        assert_eq!(tokens_of(&st), (0, 10), "no usage: the stream's tokens");
        st.tokens = Some((4, 12));
        assert_eq!(tokens_of(&st), (4, 12));
    }

    #[test]
    fn good_requests_and_tokens_add_up_by_class_and_serving_tier_and_merge() {
        let mut g = Goodput::new(true, 2, 2);
        let mut a = answered(10);
        a.class = 1;
        a.served = Some(0);
        a.tokens = Some((7, 3));
        g.add(&a, true);
        let mut failed = answered(10);
        failed.outcome = Outcome::Timeout;
        failed.tokens = Some((100, 100));
        g.add(&failed, false);
        let one = Delivered { good: 1, input_tokens: 7, output_tokens: 3 };
        assert_eq!((g.overall, g.classes[1], g.tiers[0]), (one, one, one), "a failure adds no tokens");
        assert_eq!((g.classes[0], g.tiers[1]), (Delivered::default(), Delivered::default()));
        let mut merged = Goodput::new(false, 2, 2);
        merged.merge(&g);
        merged.merge(&g);
        let two = Delivered { good: 2, input_tokens: 14, output_tokens: 6 };
        assert_eq!((merged.judged, merged.overall, merged.classes[1], merged.tiers[0]), (true, two, two, two));
    }
}
