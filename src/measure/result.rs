//! What a run measured: counts, histograms by slice, the timeline, failover, outages, streams and windows,
//! and the exact merge of two results (shards).

use super::counts::add_counts;
pub use super::counts::{Counts, TimelineRow};
use super::histogram::{micros, new_histogram};
use crate::sample::{Outcome, Sample, StreamTiming};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Counts and latency of one slice of the traffic (a tier, class or upstream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub counts: Counts,
    pub errors: BTreeMap<String, u64>,
    #[serde(with = "super::as_text")]
    pub latency: Histogram<u64>,
    /// An upstream's attempts that failed before another upstream served the request, as a gateway's served-by
    /// list reports them (nginx's `"A, B"`: A failed). Not requests: they are outside `counts`.
    #[serde(default)]
    pub failed_attempts: u64,
}

impl Default for Group {
    fn default() -> Self {
        Group { counts: Counts::default(), errors: BTreeMap::new(), latency: new_histogram(), failed_attempts: 0 }
    }
}

impl Group {
    pub(super) fn add(&mut self, outcome: &Outcome, latency: Option<Duration>) {
        self.counts.add(outcome);
        if let Outcome::Error(k) = outcome {
            *self.errors.entry(k.label()).or_default() += 1;
        }
        if let Some(l) = latency {
            self.latency.saturating_record(micros(l));
        }
    }

    /// Successes among its requests and its failed attempts: without a served-by list (no failed attempts
    /// reported), `ok / judged` of its requests.
    pub fn availability(&self) -> Option<f64> {
        let tries = self.counts.judged() + self.failed_attempts;
        (tries > 0).then(|| self.counts.ok as f64 / tries as f64)
    }
}

/// Per-tier attempts and what they cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TierStats {
    /// Every attempt on this tier, with its own latency: availability as the tier delivered it.
    pub attempts: Group,
    /// Logical requests this tier answered, with their end-to-end latency.
    pub served: Group,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Time to first token of the streamed answers it served, from the intended send time.
    #[serde(with = "super::option_as_text")]
    pub ttft: Option<Histogram<u64>>,
    /// Mean gap between tokens of each streamed answer it served (as [`StreamStats::inter_token`]).
    #[serde(default, with = "super::option_as_text")]
    pub inter_token: Option<Histogram<u64>>,
    /// Tokens after the first chunk of its streamed answers, and the time they took: its decode rate.
    #[serde(default)]
    pub decode_tokens: f64,
    #[serde(default)]
    pub decode_time: Duration,
    /// Hedge-race attempts sent here and cancelled when the other tier answered first: they reached the
    /// provider, but their outcome is unknown, so they are not in `attempts` or its availability.
    #[serde(default)]
    pub hedged_away: u64,
}

impl TierStats {
    /// A logical request this tier answered: its count, stream timing and tokens. Its end-to-end latency is the
    /// recorder's to add, a second's at a time.
    pub(super) fn serve(&mut self, s: &Sample) {
        self.served.add(&s.outcome, None);
        if let Some(first) = s.stream.and_then(|st| st.first_token) {
            self.ttft.get_or_insert_with(new_histogram).saturating_record(micros(first.saturating_sub(s.intended)));
        }
        if let Some((decode, tokens)) = s.stream.and_then(|st| st.decode()) {
            self.inter_token.get_or_insert_with(new_histogram).saturating_record(micros(decode.div_f64(tokens)));
            self.decode_tokens += tokens;
            self.decode_time += decode;
        }
        if let Some((p, c)) = s.tokens {
            self.prompt_tokens += p;
            self.completion_tokens += c;
        }
    }
}

/// Streaming: time to first token and between tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamStats {
    /// Streamed requests that received headers.
    pub requests: u64,
    /// From the intended send time to the first content token (open loop, like latency).
    #[serde(with = "super::as_text")]
    pub ttft: Histogram<u64>,
    /// From the actual send to the first content token.
    #[serde(with = "super::as_text")]
    pub ttft_from_send: Histogram<u64>,
    /// From the intended send time to the response headers (before any token).
    #[serde(with = "super::as_text")]
    pub headers: Histogram<u64>,
    /// Mean gap between tokens of each answer: (last − first token) / tokens after the first chunk.
    #[serde(with = "super::as_text")]
    pub inter_token: Histogram<u64>,
    pub tokens: u64,
    /// Tokens after each answer's first chunk, and the time they took: the decode rate.
    pub decode_tokens: f64,
    pub decode_time: Duration,
}

impl StreamStats {
    /// One sent request's stream: when its headers, first token and last token came.
    pub(super) fn observe(&mut self, t: &StreamTiming, intended: Duration, sent: Duration) {
        self.requests += 1;
        self.headers.saturating_record(micros(t.headers.saturating_sub(intended)));
        if let Some(first) = t.first_token {
            self.ttft.saturating_record(micros(first.saturating_sub(intended)));
            self.ttft_from_send.saturating_record(micros(first.saturating_sub(sent)));
            self.tokens += t.tokens;
            if let Some((decode, tokens)) = t.decode() {
                self.inter_token.saturating_record(micros(decode.div_f64(tokens)));
                self.decode_tokens += tokens;
                self.decode_time += decode;
            }
        }
    }
}

impl Default for StreamStats {
    fn default() -> Self {
        StreamStats {
            requests: 0,
            ttft: new_histogram(),
            ttft_from_send: new_histogram(),
            headers: new_histogram(),
            inter_token: new_histogram(),
            tokens: 0,
            decode_tokens: 0.0,
            decode_time: Duration::ZERO,
        }
    }
}

/// One window of `[sla] window`: its counts and latency, by intended send time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowStats {
    pub start_s: f64,
    pub end_s: f64,
    pub counts: Counts,
    #[serde(with = "super::as_text")]
    pub latency: Histogram<u64>,
}

/// What happened around one scheduled outage of a tier's provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageStats {
    /// Intended send times (s) of the first and last user-visible failure due in the window.
    #[serde(default, rename = "failures_s", skip_serializing_if = "Option::is_none")]
    pub(super) failures: Option<(f64, f64)>,
    pub tier: String,
    /// The mock provider whose outage it is (the tier's `mock`; absent from summaries before schema 9).
    #[serde(default)]
    pub provider: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Requests due during the window whose first attempt went to this tier.
    pub requests_due: u64,
    /// …of which tried another tier, and of which failed as the user saw it.
    pub failed_over: u64,
    pub user_errors: u64,
    /// From the window's start to the first failover attempt being sent.
    pub first_failover_after_s: Option<f64>,
    /// From the first to the last user-visible failure due in the window (0: none or one). Not an episode's
    /// error burst (every request failing), hence its name in summary.json (before schema 3: `error_burst_s`).
    #[serde(rename = "user_errors_span_s", alias = "error_burst_s")]
    pub error_burst_s: f64,
    /// From the window's end to the first request the tier served again.
    pub back_to_tier_after_s: Option<f64>,
}

impl OutageStats {
    pub(super) fn observe(&mut self, tier: u16, s: &Sample, sent: Duration) {
        let Some(first) = s.attempts.first() else { return };
        if first.tier != tier {
            return;
        }
        let (start, end) = (Duration::from_secs_f64(self.start_s), Duration::from_secs_f64(self.end_s));
        if s.intended >= start && s.intended < end {
            self.requests_due += 1;
            if s.attempts.iter().any(|a| a.tier != tier) {
                self.failed_over += 1;
                let at = (sent + first.elapsed).saturating_sub(start).as_secs_f64();
                self.first_failover_after_s = Some(self.first_failover_after_s.map_or(at, |t| t.min(at)));
            }
            if s.outcome != Outcome::Ok {
                self.user_errors += 1;
                let t = s.intended.as_secs_f64();
                self.failures = Some(self.failures.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                self.error_burst_s = self.failures.map(|(a, b)| b - a).unwrap_or(0.0);
            }
        }
        if s.intended >= end && s.served == Some(tier) {
            let after = (s.intended - end).as_secs_f64();
            self.back_to_tier_after_s = Some(self.back_to_tier_after_s.map_or(after, |t| t.min(after)));
        }
    }
}

/// How failover behaved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailoverStats {
    /// Logical requests that needed more than one attempt.
    pub retried: u64,
    /// Logical requests that tried more than one tier, or that the gateway said (or was seen) to fail over.
    pub failed_over: u64,
    /// …of which were inferred: served by another upstream than their class's primary, with nothing to say so.
    #[serde(default)]
    pub inferred: u64,
    /// …of which ended successfully.
    pub rescued: u64,
    /// Requests that failed on their first attempt and succeeded on a retry of the same tier.
    #[serde(default)]
    pub retry_rescued: u64,
    /// Why each extra attempt was made.
    pub reasons: BTreeMap<String, u64>,
    /// For requests that succeeded after more than one attempt: end-to-end latency minus the serving attempt's.
    #[serde(with = "super::as_text")]
    pub added: Histogram<u64>,
    /// Logical requests whose first attempt succeeded (availability before failover and retries).
    pub first_attempt_ok: u64,
    /// Hedges sent, and how many of them gave the answer kept.
    pub hedged: u64,
    pub hedge_won: u64,
    /// (intended, done) of the first and last request that failed over, for outage analysis.
    pub first_at: Option<Duration>,
    pub last_at: Option<Duration>,
}

impl FailoverStats {
    /// One logical request's attempts: retries, hedges, rescues, and the latency failover added. True when it
    /// tried more than one tier.
    pub(super) fn observe(&mut self, s: &Sample, e2e: Duration) -> bool {
        if let Some(won) = s.hedge {
            self.hedged += 1;
            self.hedge_won += won as u64;
        }
        // A gateway that says it failed over internally answered after its own second attempt.
        if s.attempts.first().is_some_and(|a| a.outcome == Outcome::Ok) && !s.gateway_failed_over {
            self.first_attempt_ok += 1;
        }
        if s.attempts.len() > 1 {
            self.retried += 1;
            for a in &s.attempts[..s.attempts.len() - 1] {
                *self.reasons.entry(a.reason()).or_default() += 1;
            }
            if let (Some(last), Outcome::Ok) = (s.attempts.last(), &s.outcome) {
                self.added.saturating_record(micros(e2e.saturating_sub(last.elapsed)));
            }
        }
        if !s.failed_over() {
            self.retry_rescued += (s.attempts.len() > 1 && s.outcome == Outcome::Ok) as u64;
            return false;
        }
        self.failed_over += 1;
        self.rescued += (s.outcome == Outcome::Ok) as u64;
        self.first_at = Some(self.first_at.map_or(s.intended, |t| t.min(s.intended)));
        self.last_at = Some(self.last_at.map_or(s.intended, |t| t.max(s.intended)));
        true
    }
}

impl Default for FailoverStats {
    fn default() -> Self {
        FailoverStats {
            retried: 0,
            failed_over: 0,
            inferred: 0,
            rescued: 0,
            retry_rescued: 0,
            reasons: BTreeMap::new(),
            added: new_histogram(),
            first_attempt_ok: 0,
            hedged: 0,
            hedge_won: 0,
            first_at: None,
            last_at: None,
        }
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub counts: Counts,
    #[serde(with = "super::as_text")]
    pub latency: Histogram<u64>,
    #[serde(with = "super::as_text")]
    pub service_time: Histogram<u64>,
    #[serde(with = "super::as_text")]
    pub lag: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    pub timeline: Vec<TimelineRow>,
    /// Time from the start of the run to the last sample.
    pub elapsed: Duration,
    /// The latest intended send time of any request: past the schedule's end when a conversation's later turns
    /// were due after it (each is due when the previous answer ended, plus the think time).
    #[serde(default)]
    pub last_due: Duration,
    /// By tier name, in the scenario's order.
    pub tiers: Vec<(String, TierStats)>,
    /// By class name (end-to-end latency of sent requests).
    pub classes: Vec<(String, Group)>,
    /// By serving upstream (from the response, or the tier's name): the first [`MAX_UPSTREAMS`] names seen,
    /// and [`OTHER_UPSTREAMS`] for the rest.
    pub upstreams: BTreeMap<String, Group>,
    /// Requests counted under [`OTHER_UPSTREAMS`] because the served-by value had more names than tracked.
    #[serde(default)]
    pub upstreams_beyond_cap: u64,
    /// Answers without the served-by value although `served_by` is set (counted as `unknown`).
    #[serde(default)]
    pub served_by_missing: u64,
    /// Attempts by region (their own outcome and latency), when tiers have regional endpoints.
    pub regions: Vec<(String, Group)>,
    pub failover: FailoverStats,
    pub outages: Vec<OutageStats>,
    /// Failover episodes inferred from the requests (see [`super::episodes`]), and whom they took as primary.
    /// A merge of shards leaves them out: each shard saw only some of the requests.
    #[serde(default)]
    pub episodes: super::episodes::Episodes,
    pub stream: StreamStats,
    /// Goodput and tokens, overall, by class and by serving tier.
    #[serde(default)]
    pub goodput: super::Goodput,
    /// How attempts began: connecting, and the wait for the answer's head.
    #[serde(default)]
    pub phases: super::PhaseStats,
    /// Conversations: sessions, and each turn number's latency (empty without conversational classes).
    #[serde(default)]
    pub sessions: super::Sessions,
    /// Requests whose client hung up on purpose, and the tokens generated for them after it.
    #[serde(default)]
    pub cancellations: super::Cancellations,
    pub windows: Vec<WindowStats>,
    /// Requests due in the warm-up (see [`Recorder::exclude_warmup`]): counted here and nowhere else.
    #[serde(default)]
    pub warmup: Counts,
    /// How long the warm-up was.
    #[serde(default)]
    pub warmup_time: Duration,
    /// How slacheck's in-process mock providers kept to their latency models; `None` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_timing: Option<super::MockTiming>,
}

impl RunResult {
    pub fn availability(&self) -> Option<f64> {
        self.counts.availability()
    }

    /// Adds another run's measurements of the same scenario (a shard of the same run) into this one. Exact:
    /// histograms and counters add, first and last times take the extremes. The timeline's per-second
    /// percentiles cannot be added; they are cleared, for the caller to recompute from the merged interval log.
    pub fn merge(&mut self, other: &RunResult) -> Result<(), ResultMergeError> {
        let names = |a: &[(String, TierStats)]| a.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let group_names = |a: &[(String, Group)]| a.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        if names(&self.tiers) != names(&other.tiers)
            || group_names(&self.classes) != group_names(&other.classes)
            || group_names(&self.regions) != group_names(&other.regions)
            || self.outages.len() != other.outages.len()
            || self.windows.len() != other.windows.len()
        {
            return Err(ResultMergeError::Shape);
        }
        add_counts(&mut self.counts, &other.counts);
        add_counts(&mut self.warmup, &other.warmup);
        add_histogram(&mut self.latency, &other.latency)?;
        add_histogram(&mut self.service_time, &other.service_time)?;
        add_histogram(&mut self.lag, &other.lag)?;
        add_map(&mut self.errors, &other.errors);
        self.goodput.merge(&other.goodput);
        self.phases.merge(&other.phases).map_err(|e| ResultMergeError::Histogram(e.to_string()))?;
        self.sessions.merge(&other.sessions).map_err(|e| ResultMergeError::Histogram(format!("{e:?}")))?;
        self.cancellations.merge(&other.cancellations);
        if let (Some(a), Some(b)) = (self.mock_timing.as_mut(), &other.mock_timing) {
            a.merge(b).map_err(|e| ResultMergeError::Histogram(format!("{e:?}")))?;
        }
        self.elapsed = self.elapsed.max(other.elapsed);
        self.last_due = self.last_due.max(other.last_due);
        let mut rows: BTreeMap<u64, TimelineRow> =
            std::mem::take(&mut self.timeline).into_iter().map(|r| (r.t_s, r)).collect();
        for r in &other.timeline {
            let row = rows.entry(r.t_s).or_insert_with(|| TimelineRow { t_s: r.t_s, ..Default::default() });
            row.offered += r.offered;
            row.ok += r.ok;
            row.error += r.error;
            row.timeout += r.timeout;
            row.not_sent += r.not_sent;
            row.cancelled += r.cancelled;
            row.sent += r.sent;
            row.failovers += r.failovers;
            row.good += r.good;
            row.input_tokens += r.input_tokens;
            row.output_tokens += r.output_tokens;
            for (name, n) in &r.served_by {
                *row.served_by.entry(name.clone()).or_default() += n;
            }
        }
        self.timeline = rows.into_values().map(|r| TimelineRow { p50_ms: None, p99_ms: None, ..r }).collect();
        for ((_, a), (_, b)) in self.tiers.iter_mut().zip(&other.tiers) {
            a.attempts.merge(&b.attempts)?;
            a.served.merge(&b.served)?;
            a.prompt_tokens += b.prompt_tokens;
            a.completion_tokens += b.completion_tokens;
            for (x, y) in [(&mut a.ttft, &b.ttft), (&mut a.inter_token, &b.inter_token)] {
                match (x.as_mut(), y) {
                    (Some(x), Some(y)) => add_histogram(x, y)?,
                    (None, Some(y)) => *x = Some(y.clone()),
                    _ => {}
                }
            }
            a.decode_tokens += b.decode_tokens;
            a.decode_time += b.decode_time;
            a.hedged_away += b.hedged_away;
        }
        for ((_, a), (_, b)) in self.classes.iter_mut().zip(&other.classes) {
            a.merge(b)?;
        }
        for ((_, a), (_, b)) in self.regions.iter_mut().zip(&other.regions) {
            a.merge(b)?;
        }
        self.episodes = Default::default();
        self.upstreams_beyond_cap += other.upstreams_beyond_cap;
        self.served_by_missing += other.served_by_missing;
        for (name, b) in &other.upstreams {
            self.upstreams.entry(name.clone()).or_default().merge(b)?;
        }
        self.failover.merge(&other.failover)?;
        for (a, b) in self.outages.iter_mut().zip(&other.outages) {
            a.merge(b);
        }
        self.stream.merge(&other.stream)?;
        for (a, b) in self.windows.iter_mut().zip(&other.windows) {
            add_counts(&mut a.counts, &b.counts);
            add_histogram(&mut a.latency, &b.latency)?;
        }
        Ok(())
    }
}

fn add_histogram(a: &mut Histogram<u64>, b: &Histogram<u64>) -> Result<(), ResultMergeError> {
    a.add(b).map_err(|e| ResultMergeError::Histogram(format!("{e:?}")))
}

/// Why two results of one scenario could not be added.
#[derive(Debug, thiserror::Error)]
pub enum ResultMergeError {
    #[error("the runs have different tiers, classes, regions, outages or SLA windows")]
    Shape,
    #[error("histograms do not add: {0}")]
    Histogram(String),
}

fn add_map(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
    for (k, v) in b {
        *a.entry(k.clone()).or_default() += v;
    }
}

fn min_of<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y < x { y } else { x }),
        (x, y) => x.or(y),
    }
}

fn max_of<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y } else { x }),
        (x, y) => x.or(y),
    }
}

impl Group {
    fn merge(&mut self, other: &Group) -> Result<(), ResultMergeError> {
        add_counts(&mut self.counts, &other.counts);
        add_map(&mut self.errors, &other.errors);
        self.failed_attempts += other.failed_attempts;
        add_histogram(&mut self.latency, &other.latency)
    }
}

impl FailoverStats {
    fn merge(&mut self, o: &FailoverStats) -> Result<(), ResultMergeError> {
        self.retried += o.retried;
        self.failed_over += o.failed_over;
        self.inferred += o.inferred;
        self.rescued += o.rescued;
        self.retry_rescued += o.retry_rescued;
        add_map(&mut self.reasons, &o.reasons);
        add_histogram(&mut self.added, &o.added)?;
        self.first_attempt_ok += o.first_attempt_ok;
        self.hedged += o.hedged;
        self.hedge_won += o.hedge_won;
        self.first_at = min_of(self.first_at, o.first_at);
        self.last_at = max_of(self.last_at, o.last_at);
        Ok(())
    }
}

impl OutageStats {
    fn merge(&mut self, o: &OutageStats) {
        self.requests_due += o.requests_due;
        self.failed_over += o.failed_over;
        self.user_errors += o.user_errors;
        self.first_failover_after_s = min_of(self.first_failover_after_s, o.first_failover_after_s);
        self.failures = match (self.failures, o.failures) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, y) => x.or(y),
        };
        self.error_burst_s = self.failures.map(|(a, b)| b - a).unwrap_or(0.0);
        self.back_to_tier_after_s = min_of(self.back_to_tier_after_s, o.back_to_tier_after_s);
    }
}

impl StreamStats {
    fn merge(&mut self, o: &StreamStats) -> Result<(), ResultMergeError> {
        self.requests += o.requests;
        add_histogram(&mut self.ttft, &o.ttft)?;
        add_histogram(&mut self.ttft_from_send, &o.ttft_from_send)?;
        add_histogram(&mut self.headers, &o.headers)?;
        add_histogram(&mut self.inter_token, &o.inter_token)?;
        self.tokens += o.tokens;
        self.decode_tokens += o.decode_tokens;
        self.decode_time += o.decode_time;
        Ok(())
    }
}

/// US dollars for these token counts at per-million prices: a run's, a tier's or one request's.
pub fn cost_usd(prompt_tokens: u64, completion_tokens: u64, price_input: f64, price_output: f64) -> f64 {
    (prompt_tokens as f64 * price_input + completion_tokens as f64 * price_output) / 1_000_000.0
}
