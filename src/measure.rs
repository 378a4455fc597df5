//! Samples and their recording: HdrHistograms, counts and the per-second timeline.
//!
//! Every scheduled request becomes exactly one [`Sample`] with one [`Outcome`], so
//! total = ok + error + timeout + not_sent holds by construction, and it holds per timeline row too (rows
//! count outcomes by the second the request was due). Latency counts from the intended send time (no
//! coordinated omission); service time from the actual send; lag is actual minus intended.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Histogram range: 1 µs to 1 hour, 3 significant digits. Values are in microseconds.
pub const HIST_MAX_US: u64 = 3_600_000_000;

/// The most served-by names tracked apart, each with its own histogram: a header that carries a pod name or
/// a request id would otherwise grow memory with every distinct value.
pub const MAX_UPSTREAMS: usize = 64;

/// Where the requests of served-by names past [`MAX_UPSTREAMS`] are counted.
pub const OTHER_UPSTREAMS: &str = "(other)";

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Status(u16),
    Connect,
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
        fault: crate::sse::StreamFault,
        after_first_token: bool,
    },
}

impl ErrorKind {
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Status(s) => format!("status {s}"),
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Transport => "transport".into(),
            ErrorKind::Interrupted => "interrupted".into(),
            ErrorKind::MalformedBody => "malformed body".into(),
            ErrorKind::BodyTooLarge => "body too large".into(),
            ErrorKind::Stream { fault, after_first_token } => format!(
                "stream {} {} first token",
                match fault {
                    crate::sse::StreamFault::ErrorEvent => "error event",
                    crate::sse::StreamFault::Malformed => "malformed chunk",
                    crate::sse::StreamFault::Truncated => "truncated",
                },
                if *after_first_token { "after" } else { "before" }
            ),
        }
    }
}

/// One logical request: its times (offsets from the start of the run), its outcome and its attempts.
#[derive(Debug, Clone)]
pub struct Sample {
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
    /// The upstream that served it: from the response (see `served_by`) or the serving tier's name.
    pub upstream: Option<String>,
    /// (prompt, completion) tokens of the answer, from its `usage`.
    pub tokens: Option<(u64, u64)>,
    pub attempts: Vec<Attempt>,
    /// For a streamed answer (the last attempt's): when its tokens came.
    pub stream: Option<StreamTiming>,
    /// A hedge was sent: Some(true) if the hedge's answer was the one kept.
    pub hedge: Option<bool>,
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
            intended,
            sent: None,
            done,
            outcome: Outcome::NotSent,
            class: 0,
            served: None,
            upstream: None,
            tokens: None,
            attempts: Vec::new(),
            stream: None,
            hedge: None,
        }
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
}

impl Attempt {
    /// Why another attempt followed this one.
    pub fn reason(&self) -> String {
        match &self.outcome {
            Outcome::Timeout if self.over_budget => "latency budget".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Error(k) => k.label(),
            Outcome::Ok => "ok".into(),
            Outcome::NotSent => "not sent".into(),
        }
    }
}

/// Counts and latency of one slice of the traffic (a tier, class or upstream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub counts: Counts,
    pub errors: BTreeMap<String, u64>,
    #[serde(with = "crate::hlog::as_text")]
    pub latency: Histogram<u64>,
}

impl Default for Group {
    fn default() -> Self {
        Group { counts: Counts::default(), errors: BTreeMap::new(), latency: new_histogram() }
    }
}

impl Group {
    fn add(&mut self, outcome: &Outcome, latency: Option<Duration>) {
        self.counts.total += 1;
        match outcome {
            Outcome::Ok => self.counts.ok += 1,
            Outcome::Error(k) => {
                self.counts.error += 1;
                *self.errors.entry(k.label()).or_default() += 1;
            }
            Outcome::Timeout => self.counts.timeout += 1,
            Outcome::NotSent => self.counts.not_sent += 1,
        }
        if let Some(l) = latency {
            self.latency.saturating_record(micros(l));
        }
    }

    pub fn availability(&self) -> Option<f64> {
        (self.counts.total > 0).then(|| self.counts.ok as f64 / self.counts.total as f64)
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
    #[serde(with = "crate::hlog::option_as_text")]
    pub ttft: Option<Histogram<u64>>,
    /// Mean gap between tokens of each streamed answer it served (as [`StreamStats::inter_token`]).
    #[serde(default, with = "crate::hlog::option_as_text")]
    pub inter_token: Option<Histogram<u64>>,
    /// Tokens after the first chunk of its streamed answers, and the time they took: its decode rate.
    #[serde(default)]
    pub decode_tokens: f64,
    #[serde(default)]
    pub decode_time: Duration,
}

/// Streaming: time to first token and between tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamStats {
    /// Streamed requests that received headers.
    pub requests: u64,
    /// From the intended send time to the first content token (open loop, like latency).
    #[serde(with = "crate::hlog::as_text")]
    pub ttft: Histogram<u64>,
    /// From the actual send to the first content token.
    #[serde(with = "crate::hlog::as_text")]
    pub ttft_from_send: Histogram<u64>,
    /// From the intended send time to the response headers (before any token).
    #[serde(with = "crate::hlog::as_text")]
    pub headers: Histogram<u64>,
    /// Mean gap between tokens of each answer: (last − first token) / tokens after the first chunk.
    #[serde(with = "crate::hlog::as_text")]
    pub inter_token: Histogram<u64>,
    pub tokens: u64,
    /// Tokens after each answer's first chunk, and the time they took: the decode rate.
    pub decode_tokens: f64,
    pub decode_time: Duration,
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
    #[serde(with = "crate::hlog::as_text")]
    pub latency: Histogram<u64>,
}

/// What happened around one scheduled outage of a tier's provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageStats {
    /// Intended send times (s) of the first and last user-visible failure due in the window.
    #[serde(default, rename = "failures_s", skip_serializing_if = "Option::is_none")]
    failures: Option<(f64, f64)>,
    pub tier: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Requests due during the window whose first attempt went to this tier.
    pub requests_due: u64,
    /// …of which tried another tier, and of which failed as the user saw it.
    pub failed_over: u64,
    pub user_errors: u64,
    /// From the window's start to the first failover attempt being sent.
    pub first_failover_after_s: Option<f64>,
    /// From the first to the last user-visible failure due in the window (0: none or one).
    pub error_burst_s: f64,
    /// From the window's end to the first request the tier served again.
    pub back_to_tier_after_s: Option<f64>,
}

impl OutageStats {
    fn observe(&mut self, tier: u16, s: &Sample, sent: Duration) {
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
    /// Logical requests that tried more than one tier.
    pub failed_over: u64,
    /// …of which ended successfully.
    pub rescued: u64,
    /// Why each extra attempt was made.
    pub reasons: BTreeMap<String, u64>,
    /// For requests that succeeded after more than one attempt: end-to-end latency minus the serving attempt's.
    #[serde(with = "crate::hlog::as_text")]
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

impl Default for FailoverStats {
    fn default() -> Self {
        FailoverStats {
            retried: 0,
            failed_over: 0,
            rescued: 0,
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

/// Counters a progress display reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub finished: AtomicU64,
    pub failed: AtomicU64,
    pub last_p99_us: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
    pub not_sent: u64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimelineRow {
    pub t_s: u64,
    /// Requests due in this second, and what became of them.
    pub offered: u64,
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
    pub not_sent: u64,
    /// Requests actually sent in this second: the achieved rate.
    pub sent: u64,
    /// Requests due in this second that tried more than one tier.
    pub failovers: u64,
    /// Latency percentiles of the requests that finished in this second.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub counts: Counts,
    #[serde(with = "crate::hlog::as_text")]
    pub latency: Histogram<u64>,
    #[serde(with = "crate::hlog::as_text")]
    pub service_time: Histogram<u64>,
    #[serde(with = "crate::hlog::as_text")]
    pub lag: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    pub timeline: Vec<TimelineRow>,
    /// Time from the start of the run to the last sample.
    pub elapsed: Duration,
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
    /// Attempts by region (their own outcome and latency), when tiers have regional endpoints.
    pub regions: Vec<(String, Group)>,
    pub failover: FailoverStats,
    pub outages: Vec<OutageStats>,
    pub stream: StreamStats,
    pub windows: Vec<WindowStats>,
    /// Requests due in the warm-up (see [`Recorder::exclude_warmup`]): counted here and nowhere else.
    #[serde(default)]
    pub warmup: Counts,
    /// How long the warm-up was.
    #[serde(default)]
    pub warmup_time: Duration,
}

impl RunResult {
    pub fn availability(&self) -> Option<f64> {
        (self.counts.total > 0).then(|| self.counts.ok as f64 / self.counts.total as f64)
    }

    /// Adds another run's measurements of the same scenario (a shard of the same run) into this one. Exact:
    /// histograms and counters add, first and last times take the extremes. The timeline's per-second
    /// percentiles cannot be added; they are cleared, for the caller to recompute from the merged interval log.
    pub fn merge(&mut self, other: &RunResult) -> Result<(), String> {
        let names = |a: &[(String, TierStats)]| a.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let group_names = |a: &[(String, Group)]| a.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        if names(&self.tiers) != names(&other.tiers)
            || group_names(&self.classes) != group_names(&other.classes)
            || group_names(&self.regions) != group_names(&other.regions)
            || self.outages.len() != other.outages.len()
            || self.windows.len() != other.windows.len()
        {
            return Err("the runs have different tiers, classes, regions, outages or SLA windows".into());
        }
        add_counts(&mut self.counts, &other.counts);
        add_counts(&mut self.warmup, &other.warmup);
        add_histogram(&mut self.latency, &other.latency)?;
        add_histogram(&mut self.service_time, &other.service_time)?;
        add_histogram(&mut self.lag, &other.lag)?;
        add_map(&mut self.errors, &other.errors);
        self.elapsed = self.elapsed.max(other.elapsed);
        let mut rows: BTreeMap<u64, TimelineRow> =
            std::mem::take(&mut self.timeline).into_iter().map(|r| (r.t_s, r)).collect();
        for r in &other.timeline {
            let row = rows.entry(r.t_s).or_insert_with(|| TimelineRow { t_s: r.t_s, ..Default::default() });
            row.offered += r.offered;
            row.ok += r.ok;
            row.error += r.error;
            row.timeout += r.timeout;
            row.not_sent += r.not_sent;
            row.sent += r.sent;
            row.failovers += r.failovers;
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
        }
        for ((_, a), (_, b)) in self.classes.iter_mut().zip(&other.classes) {
            a.merge(b)?;
        }
        for ((_, a), (_, b)) in self.regions.iter_mut().zip(&other.regions) {
            a.merge(b)?;
        }
        self.upstreams_beyond_cap += other.upstreams_beyond_cap;
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

fn add_histogram(a: &mut Histogram<u64>, b: &Histogram<u64>) -> Result<(), String> {
    a.add(b).map_err(|e| format!("histograms do not add: {e:?}"))
}

fn add_counts(a: &mut Counts, b: &Counts) {
    a.total += b.total;
    a.ok += b.ok;
    a.error += b.error;
    a.timeout += b.timeout;
    a.not_sent += b.not_sent;
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
    fn merge(&mut self, other: &Group) -> Result<(), String> {
        add_counts(&mut self.counts, &other.counts);
        add_map(&mut self.errors, &other.errors);
        add_histogram(&mut self.latency, &other.latency)
    }
}

impl FailoverStats {
    fn merge(&mut self, o: &FailoverStats) -> Result<(), String> {
        self.retried += o.retried;
        self.failed_over += o.failed_over;
        self.rescued += o.rescued;
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
    fn merge(&mut self, o: &StreamStats) -> Result<(), String> {
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

/// Folds samples into histograms and counters; owns all measurement state of a run.
pub struct Recorder {
    result: RunResult,
    rows: BTreeMap<u64, TimelineRow>,
    /// This second's histograms, by interval-log tag: overall latency first, then service, lag, tiers, classes.
    interval: Vec<(String, Histogram<u64>)>,
    interval_second: u64,
    /// Where each closed interval goes (latency.hlog).
    hlog: Option<crate::hlog::HlogSink>,
    hlog_error: Option<std::io::Error>,
    live: Arc<Live>,
    /// Tier of each watched outage in `result.outages`.
    watched: Vec<u16>,
    /// Requests due before this are warm-up: counted apart, not measured.
    warmup: Duration,
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, HIST_MAX_US)
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Recorder {
    /// A recorder for a run with these tier and class names (indices as in [`Sample`]); each second's
    /// histograms go to `hlog` if given.
    pub fn new(
        live: Arc<Live>,
        tiers: &[String],
        classes: &[String],
        regions: &[String],
        hlog: Option<crate::hlog::HlogSink>,
    ) -> Self {
        let tags = [crate::hlog::OVERALL.to_string(), "service".into(), "lag".into()]
            .into_iter()
            .chain(tiers.iter().map(|t| format!("tier.{t}")))
            .chain(classes.iter().map(|c| format!("class.{c}")));
        Recorder {
            result: RunResult {
                counts: Counts::default(),
                latency: new_histogram(),
                service_time: new_histogram(),
                lag: new_histogram(),
                errors: BTreeMap::new(),
                timeline: Vec::new(),
                elapsed: Duration::ZERO,
                tiers: tiers.iter().map(|t| (t.clone(), TierStats::default())).collect(),
                classes: classes.iter().map(|c| (c.clone(), Group::default())).collect(),
                upstreams: BTreeMap::new(),
                upstreams_beyond_cap: 0,
                regions: regions.iter().map(|r| (r.clone(), Group::default())).collect(),
                failover: FailoverStats::default(),
                outages: Vec::new(),
                stream: StreamStats::default(),
                windows: Vec::new(),
                warmup: Counts::default(),
                warmup_time: Duration::ZERO,
            },
            rows: BTreeMap::new(),
            interval: tags.map(|t| (t, new_histogram())).collect(),
            interval_second: 0,
            hlog,
            hlog_error: None,
            live,
            watched: Vec::new(),
            warmup: Duration::ZERO,
        }
    }

    /// Leaves requests due in the first `warmup` of the run out of every measurement (they are only counted, in
    /// [`RunResult::warmup`]): a capacity step judges the steady state, not the target's or the client's start.
    pub fn exclude_warmup(&mut self, warmup: Duration) {
        self.warmup = warmup;
        self.result.warmup_time = warmup;
    }

    /// Also counts each request in the window (start s, end s) its intended time falls in.
    pub fn watch_windows(&mut self, windows: &[(f64, f64)]) {
        self.result.windows = windows
            .iter()
            .map(|(a, b)| WindowStats { start_s: *a, end_s: *b, counts: Counts::default(), latency: new_histogram() })
            .collect();
    }

    /// Watches a scheduled outage of tier `tier` from `start` to `end` (offsets from the start of the run).
    pub fn watch_outage(&mut self, tier: u16, name: &str, start: Duration, end: Duration) {
        self.watched.push(tier);
        self.result.outages.push(OutageStats {
            failures: None,
            tier: name.to_string(),
            start_s: start.as_secs_f64(),
            end_s: end.as_secs_f64(),
            requests_due: 0,
            failed_over: 0,
            user_errors: 0,
            first_failover_after_s: None,
            error_burst_s: 0.0,
            back_to_tier_after_s: None,
        });
    }

    pub fn record(&mut self, s: &Sample) {
        if s.intended < self.warmup {
            let w = &mut self.result.warmup;
            w.total += 1;
            match &s.outcome {
                Outcome::Ok => w.ok += 1,
                Outcome::Error(_) => w.error += 1,
                Outcome::Timeout => w.timeout += 1,
                Outcome::NotSent => w.not_sent += 1,
            }
            self.live.finished.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let r = &mut self.result;
        r.counts.total += 1;
        r.elapsed = r.elapsed.max(s.done);
        let due_row = self
            .rows
            .entry(s.intended.as_secs())
            .or_insert_with(|| TimelineRow { t_s: s.intended.as_secs(), ..Default::default() });
        due_row.offered += 1;
        match &s.outcome {
            Outcome::Ok => {
                r.counts.ok += 1;
                due_row.ok += 1;
            }
            Outcome::Error(kind) => {
                r.counts.error += 1;
                due_row.error += 1;
                *r.errors.entry(kind.label()).or_default() += 1;
            }
            Outcome::Timeout => {
                r.counts.timeout += 1;
                due_row.timeout += 1;
            }
            Outcome::NotSent => {
                r.counts.not_sent += 1;
                due_row.not_sent += 1;
            }
        }
        if s.outcome != Outcome::Ok {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.live.finished.fetch_add(1, Ordering::Relaxed);
        let t = s.intended.as_secs_f64();
        let window = r.windows.partition_point(|w| w.start_s <= t).checked_sub(1).filter(|i| t < r.windows[*i].end_s);
        if let Some(w) = window.map(|i| &mut r.windows[i]) {
            w.counts.total += 1;
            match s.outcome {
                Outcome::Ok => w.counts.ok += 1,
                Outcome::Error(_) => w.counts.error += 1,
                Outcome::Timeout => w.counts.timeout += 1,
                Outcome::NotSent => w.counts.not_sent += 1,
            }
            if s.sent.is_some() {
                w.latency.saturating_record(micros(s.done.saturating_sub(s.intended)));
            }
        }
        let Some(sent) = s.sent else { return };
        let sent_second = sent.as_secs();
        self.rows.entry(sent_second).or_insert_with(|| TimelineRow { t_s: sent_second, ..Default::default() }).sent +=
            1;
        // Every sent request has a latency, failures and timeouts included: leaving them out would flatter the tail.
        let latency = micros(s.done.saturating_sub(s.intended));
        r.latency.saturating_record(latency);
        r.service_time.saturating_record(micros(s.done.saturating_sub(sent)));
        r.lag.saturating_record(micros(sent.saturating_sub(s.intended)));
        let done_second = s.done.as_secs();
        if done_second > self.interval_second {
            self.close_interval();
            self.interval_second = done_second;
        }
        let service = micros(s.done.saturating_sub(sent));
        let lag = micros(sent.saturating_sub(s.intended));
        let tiers = self.result.tiers.len();
        let series = [Some(0), Some(1), Some(2), s.served.map(|t| 3 + t as usize), Some(3 + tiers + s.class as usize)];
        for (i, value) in series.into_iter().zip([latency, service, lag, latency, latency]) {
            if let Some((_, h)) = i.and_then(|i| self.interval.get_mut(i)) {
                h.saturating_record(value);
            }
        }
        self.record_routing(s);
    }

    /// Per tier, class and upstream, and failover.
    fn record_routing(&mut self, s: &Sample) {
        let r = &mut self.result;
        let e2e = s.done.saturating_sub(s.intended);
        if let Some((_, class)) = r.classes.get_mut(s.class as usize) {
            class.add(&s.outcome, Some(e2e));
        }
        for a in &s.attempts {
            if let Some((_, tier)) = r.tiers.get_mut(a.tier as usize) {
                tier.attempts.add(&a.outcome, Some(a.elapsed));
            }
            if let Some((_, region)) = a.region.and_then(|i| r.regions.get_mut(i as usize)) {
                region.add(&a.outcome, Some(a.elapsed));
            }
        }
        if let Some(t) = s.served {
            if let Some((_, tier)) = r.tiers.get_mut(t as usize) {
                tier.served.add(&s.outcome, Some(e2e));
                if let Some(first) = s.stream.and_then(|st| st.first_token) {
                    tier.ttft
                        .get_or_insert_with(new_histogram)
                        .saturating_record(micros(first.saturating_sub(s.intended)));
                }
                if let Some((decode, tokens)) = s.stream.and_then(|st| st.decode()) {
                    tier.inter_token
                        .get_or_insert_with(new_histogram)
                        .saturating_record(micros(decode.div_f64(tokens)));
                    tier.decode_tokens += tokens;
                    tier.decode_time += decode;
                }
                if let Some((p, c)) = s.tokens {
                    tier.prompt_tokens += p;
                    tier.completion_tokens += c;
                }
            }
        }
        if let Some(u) = &s.upstream {
            // Look up before inserting: a new key is a copy of the name, once per upstream rather than per sample.
            // Past MAX_UPSTREAMS names (a header carrying a pod name or a request id), the rest share one group.
            let full = r.upstreams.len() >= MAX_UPSTREAMS;
            match r.upstreams.get_mut(u) {
                Some(g) => g.add(&s.outcome, Some(e2e)),
                None if !full => r.upstreams.entry(u.clone()).or_default().add(&s.outcome, Some(e2e)),
                None => {
                    r.upstreams_beyond_cap += 1;
                    r.upstreams.entry(OTHER_UPSTREAMS.into()).or_default().add(&s.outcome, Some(e2e))
                }
            }
        }
        if let (Some(t), Some(sent)) = (&s.stream, s.sent) {
            let st = &mut r.stream;
            st.requests += 1;
            st.headers.saturating_record(micros(t.headers.saturating_sub(s.intended)));
            if let Some(first) = t.first_token {
                st.ttft.saturating_record(micros(first.saturating_sub(s.intended)));
                st.ttft_from_send.saturating_record(micros(first.saturating_sub(sent)));
                st.tokens += t.tokens;
                if let Some((decode, tokens)) = t.decode() {
                    st.inter_token.saturating_record(micros(decode.div_f64(tokens)));
                    st.decode_tokens += tokens;
                    st.decode_time += decode;
                }
            }
        }
        if let Some(sent) = s.sent {
            for (outage, tier) in r.outages.iter_mut().zip(&self.watched) {
                outage.observe(*tier, s, sent);
            }
        }
        let f = &mut r.failover;
        if let Some(won) = s.hedge {
            f.hedged += 1;
            f.hedge_won += won as u64;
        }
        if s.attempts.first().is_some_and(|a| a.outcome == Outcome::Ok) {
            f.first_attempt_ok += 1;
        }
        if s.attempts.len() > 1 {
            f.retried += 1;
            for a in &s.attempts[..s.attempts.len() - 1] {
                *f.reasons.entry(a.reason()).or_default() += 1;
            }
            if let (Some(last), Outcome::Ok) = (s.attempts.last(), &s.outcome) {
                f.added.saturating_record(micros(e2e.saturating_sub(last.elapsed)));
            }
        }
        let first_tier = s.attempts.first().map(|a| a.tier);
        if s.attempts.iter().any(|a| Some(a.tier) != first_tier) {
            f.failed_over += 1;
            if s.outcome == Outcome::Ok {
                f.rescued += 1;
            }
            f.first_at = Some(f.first_at.map_or(s.intended, |t| t.min(s.intended)));
            f.last_at = Some(f.last_at.map_or(s.intended, |t| t.max(s.intended)));
            let second = s.intended.as_secs();
            self.rows.entry(second).or_insert_with(|| TimelineRow { t_s: second, ..Default::default() }).failovers += 1;
        }
    }

    fn close_interval(&mut self) {
        let overall = &self.interval[0].1;
        if overall.is_empty() {
            return;
        }
        let t = self.interval_second;
        let row = self.rows.entry(t).or_insert_with(|| TimelineRow { t_s: t, ..Default::default() });
        row.p50_ms = Some(ms(overall.value_at_quantile(0.50)));
        let p99 = overall.value_at_quantile(0.99);
        row.p99_ms = Some(ms(p99));
        self.live.last_p99_us.store(p99, Ordering::Relaxed);
        for (tag, h) in &mut self.interval {
            if let (Some(sink), false) = (&mut self.hlog, h.is_empty()) {
                if let Err(e) = sink.write(h, Duration::from_secs(t), Duration::from_secs(1), tag) {
                    self.hlog_error.get_or_insert(e);
                }
            }
            h.reset();
        }
    }

    /// Closes the last interval and the interval log; fails only if the log could not be written.
    pub fn finish(mut self) -> Result<RunResult, std::io::Error> {
        self.close_interval();
        if let Some(e) = self.hlog_error.take() {
            return Err(e);
        }
        if let Some(sink) = self.hlog.take() {
            sink.finish()?;
        }
        // Fill gaps so the timeline has one row per second.
        let last = self.rows.keys().next_back().copied();
        if let Some(last) = last {
            for t in 0..=last {
                self.rows.entry(t).or_insert_with(|| TimelineRow { t_s: t, ..Default::default() });
            }
        }
        self.result.timeline = self.rows.into_values().collect();
        Ok(self.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(intended_ms: u64, sent_ms: Option<u64>, done_ms: u64, outcome: Outcome) -> Sample {
        Sample {
            sent: sent_ms.map(Duration::from_millis),
            outcome,
            ..Sample::not_sent(Duration::from_millis(intended_ms), Duration::from_millis(done_ms))
        }
    }

    #[test]
    fn merging_two_halves_gives_the_whole_exactly() {
        let tiers = ["a".to_string(), "b".to_string()];
        let recorder = || Recorder::new(Arc::default(), &tiers, &["c".to_string()], &[], None);
        let (mut whole, mut even, mut odd) = (recorder(), recorder(), recorder());
        for i in 0..2_000u64 {
            let outcome = match i % 17 {
                0 => Outcome::Error(ErrorKind::Status(503)),
                1 => Outcome::Timeout,
                2 => Outcome::NotSent,
                _ => Outcome::Ok,
            };
            let sent = (outcome != Outcome::NotSent).then_some(i * 3);
            let done = i * 3 + 1 + (i * 7919) % 400;
            let mut s = sample(i * 3, sent, done, outcome.clone());
            if sent.is_some() {
                let tier = (i % 3 == 0) as u16;
                s.attempts = vec![Attempt {
                    tier,
                    region: None,
                    outcome: outcome.clone(),
                    elapsed: Duration::from_millis(done - i * 3),
                    over_budget: false,
                }];
                s.served = (outcome == Outcome::Ok).then_some(tier);
                s.tokens = Some((10, i % 50));
            }
            whole.record(&s);
            if i % 2 == 0 { &mut even } else { &mut odd }.record(&s);
        }
        let whole = whole.finish().unwrap();
        let mut merged = even.finish().unwrap();
        merged.merge(&odd.finish().unwrap()).unwrap();
        assert_eq!(merged.counts, whole.counts);
        assert_eq!(merged.latency, whole.latency);
        assert_eq!(merged.service_time, whole.service_time);
        assert_eq!(merged.errors, whole.errors);
        for ((_, m), (_, w)) in merged.tiers.iter().zip(&whole.tiers) {
            assert_eq!((m.attempts.counts, m.served.counts), (w.attempts.counts, w.served.counts));
            assert_eq!(m.attempts.latency, w.attempts.latency);
            assert_eq!((m.prompt_tokens, m.completion_tokens), (w.prompt_tokens, w.completion_tokens));
        }
        assert_eq!(merged.classes[0].1.latency, whole.classes[0].1.latency);
        let rows = |r: &RunResult| r.timeline.iter().map(|t| (t.t_s, t.offered, t.ok, t.sent)).collect::<Vec<_>>();
        assert_eq!(rows(&merged), rows(&whole));
        // And the measurements survive their JSON form unchanged.
        let back: RunResult = serde_json::from_str(&serde_json::to_string(&merged).unwrap()).unwrap();
        assert_eq!((back.counts, &back.latency, &back.lag), (merged.counts, &merged.latency, &merged.lag));
    }

    #[test]
    fn every_sample_is_counted_once_overall_and_per_row() {
        let mut r = Recorder::new(Arc::default(), &[], &[], &[], None);
        r.record(&sample(0, Some(0), 10, Outcome::Ok));
        r.record(&sample(500, Some(501), 1600, Outcome::Error(ErrorKind::Status(503))));
        r.record(&sample(900, None, 900, Outcome::NotSent));
        r.record(&sample(1200, Some(1200), 2300, Outcome::Timeout));
        let res = r.finish().unwrap();
        let c = res.counts;
        assert_eq!((c.total, c.ok, c.error, c.timeout, c.not_sent), (4, 1, 1, 1, 1));
        assert_eq!(c.total, c.ok + c.error + c.timeout + c.not_sent);
        for row in &res.timeline {
            assert_eq!(row.offered, row.ok + row.error + row.timeout + row.not_sent);
        }
        assert_eq!(res.timeline[0].offered, 3);
        assert_eq!(res.errors.get("status 503"), Some(&1));
        // Latency counts from the intended time: 1,100 ms for the second request though it was sent 1 ms late.
        assert!((ms(res.latency.max()) - 1100.0).abs() < 2.0);
        assert_eq!(res.latency.len(), 3);
    }
}
