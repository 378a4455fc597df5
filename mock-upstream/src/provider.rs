//! A provider at run time: its fault models applied to each request, its stats, and its control knobs.
//!
//! `Provider::decide` is the whole fault logic, as plain code with no I/O, so the hyper server, the wiremock
//! responder and the tests all share it. Decisions are deterministic for a given seed and request order.

use crate::config::{Latency, OutageMode, ProviderConfig, StreamFaultKind};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to do with one chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Answer normally after `delay` (for streams: time to first token).
    Answer { delay: Duration, malformed: bool, stream_fault: Option<StreamFaultKind> },
    /// Answer with an error status after `delay`.
    Error { status: u16, delay: Duration, retry_after: Option<u32> },
    /// Close the connection without answering.
    Reset,
    /// Never answer.
    Hang,
}

/// Why a request was failed on purpose, as counted in `/__stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Outage,
    Error,
    RateLimited,
    Tail,
    Malformed,
    StreamStall,
    StreamTruncate,
    StreamMalformed,
    StreamError,
}

/// A change made through `POST /__control`. Absent fields leave the setting as it is.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// `"start"` or `"stop"` a manual outage.
    pub outage: Option<String>,
    pub mode: Option<OutageMode>,
    pub status: Option<u16>,
    /// Replace the random error rate (0.0 ..= 1.0).
    pub error_rate: Option<f64>,
}

/// Counters served by `GET /__stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub provider: String,
    pub requests: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_model: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, u64>,
    pub resets: u64,
    pub hangs: u64,
    /// Answer tokens generated (a streamed answer's as each chunk is made, a whole answer's when complete).
    #[serde(default)]
    pub tokens_out: u64,
    /// Answers whose client went away before they ended (generation stopped then).
    #[serde(default)]
    pub hung_up: u64,
    /// The answer tokens of those answers: generated for a client that did not read them to the end.
    #[serde(default)]
    pub tokens_hung_up: u64,
    /// Prompt tokens of the requests answered (each answer's usage reports them: `prompt_tokens`, or a
    /// response's `input_tokens`).
    #[serde(default)]
    pub tokens_in: u64,
    /// Requests answered, by API: `chat`, `completions`, `embeddings`, `responses`.
    #[serde(default)]
    pub by_endpoint: BTreeMap<String, u64>,
}

struct State {
    rng: Pcg64Mcg,
    bucket_tokens: f64,
    bucket_at: Instant,
    manual_outage: Option<(OutageMode, u16)>,
    error_rate: f64,
    stats: Stats,
}

pub struct Provider {
    pub config: ProviderConfig,
    /// How answers are timed by their tokens, when the config asks for it.
    pub tokens: Option<crate::tokens::TokenModel>,
    /// What was produced for each request id.
    pub ledger: crate::ledger::Ledger,
    started: Instant,
    state: Mutex<State>,
    /// Each answer's time as its model set it, and how late it left against that (see [`Timing`]).
    timing: Mutex<Timing>,
}

/// How long answers took by this provider's own model, and how late they were against it (µs, one value per
/// answer, error or stream that ended). Both histograms resize to fit: their size grows with the logarithm of
/// the longest value, not with the count.
///
/// In-process, a provider shares the generator's CPU, and a starved runtime makes it late: slacheck then knows
/// how much of a latency miss is its own, not the target's.
#[derive(Debug, Clone)]
pub struct Timing {
    /// From when a request began to wait its turn (the queue of `concurrency`) to when its model had it end.
    pub modelled: hdrhistogram::Histogram<u64>,
    /// From when an answer was due to end (a whole answer, an error, a stream's last event) to when its task ran.
    pub lateness: hdrhistogram::Histogram<u64>,
}

impl Default for Timing {
    fn default() -> Self {
        let new = || hdrhistogram::Histogram::new(2).expect("2 significant figures are valid");
        Timing { modelled: new(), lateness: new() }
    }
}

impl Provider {
    /// A provider; the error names a tokenizer file that cannot be used.
    pub fn new(config: ProviderConfig) -> Result<Self, String> {
        Self::starting_at(config, Instant::now())
    }

    /// A provider whose outage windows count from `started` (shared by every provider of one run).
    pub fn starting_at(config: ProviderConfig, started: Instant) -> Result<Self, String> {
        let tokens = crate::tokens::TokenModel::of(&config)?;
        Ok(Self::assemble(config, tokens, started))
    }

    /// As [`Provider::starting_at`], with its token model made beforehand (loading a tokenizer takes a while).
    pub(crate) fn assemble(
        config: ProviderConfig,
        tokens: Option<crate::tokens::TokenModel>,
        started: Instant,
    ) -> Self {
        let burst = config.rate_limit.as_ref().map(bucket_size).unwrap_or(0.0);
        let state = State {
            rng: Pcg64Mcg::seed_from_u64(config.seed),
            bucket_tokens: burst,
            bucket_at: started,
            manual_outage: None,
            error_rate: config.errors.as_ref().map(|e| e.rate.0).unwrap_or(0.0),
            stats: Stats { provider: config.name.clone(), ..Stats::default() },
        };
        Provider {
            config,
            tokens,
            ledger: Default::default(),
            started,
            state: Mutex::new(state),
            timing: Mutex::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Decides the fate of one chat-completions request arriving at `now` for `model`.
    pub fn decide(&self, now: Instant, model: &str, streaming: bool) -> Decision {
        let cfg = &self.config;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.stats.requests += 1;
        *st.stats.by_model.entry(model.to_string()).or_default() += 1;
        let since_start = now.saturating_duration_since(self.started);

        let window = cfg.outages.iter().find(|o| o.window.contains(since_start));
        let outage = st.manual_outage.or_else(|| window.map(|o| (o.mode, o.status)));
        let decision = if let Some((mode, status)) = outage {
            count(&mut st.stats.faults, FaultKind::Outage);
            match mode {
                OutageMode::Status => Decision::Error { status, delay: Duration::ZERO, retry_after: None },
                OutageMode::Reset => Decision::Reset,
                OutageMode::Hang => Decision::Hang,
                OutageMode::Stall => {
                    let until = window.map(|w| w.window.end.saturating_sub(since_start)).unwrap_or_default();
                    let delay = until + sample(&cfg.latency, &mut st.rng);
                    Decision::Answer { delay, malformed: false, stream_fault: None }
                }
            }
        } else if !take_token(cfg, &mut st, now) {
            count(&mut st.stats.faults, FaultKind::RateLimited);
            Decision::Error { status: 429, delay: Duration::ZERO, retry_after: Some(1) }
        } else {
            // Draw every random value each time, so one fault's setting does not shift another's sequence.
            let latency_model = if streaming { &cfg.stream.ttft } else { &cfg.latency };
            let mut delay = sample(latency_model, &mut st.rng);
            let tail_hit = cfg.tail.as_ref().map(|t| st.rng.random_range(0..t.one_in) == 0).unwrap_or(false);
            let error_draw: f64 = st.rng.random();
            let status_draw: usize = st.rng.random_range(0..usize::MAX);
            let malformed_draw: f64 = st.rng.random();
            let stream_draw: f64 = st.rng.random();
            if tail_hit {
                delay = cfg.tail.as_ref().map(|t| t.latency.0).unwrap_or(delay);
                count(&mut st.stats.faults, FaultKind::Tail);
            }
            if error_draw < st.error_rate {
                count(&mut st.stats.faults, FaultKind::Error);
                let statuses = cfg.errors.as_ref().map(|e| e.statuses.as_slice()).unwrap_or(&[500]);
                let status = statuses[status_draw % statuses.len()];
                Decision::Error { status, delay, retry_after: (status == 429).then_some(1) }
            } else {
                let malformed = !streaming && cfg.malformed_rate.map(|r| malformed_draw < r.0).unwrap_or(false);
                if malformed {
                    count(&mut st.stats.faults, FaultKind::Malformed);
                }
                let stream_fault =
                    cfg.stream_faults.as_ref().filter(|f| streaming && stream_draw < f.rate.0).map(|f| f.kind);
                if let Some(kind) = stream_fault {
                    count(
                        &mut st.stats.faults,
                        match kind {
                            StreamFaultKind::Stall => FaultKind::StreamStall,
                            StreamFaultKind::Truncate => FaultKind::StreamTruncate,
                            StreamFaultKind::Malformed => FaultKind::StreamMalformed,
                            StreamFaultKind::Error => FaultKind::StreamError,
                        },
                    );
                }
                Decision::Answer { delay, malformed, stream_fault }
            }
        };
        match &decision {
            Decision::Answer { .. } => *st.stats.by_status.entry("200".into()).or_default() += 1,
            Decision::Error { status, .. } => *st.stats.by_status.entry(status.to_string()).or_default() += 1,
            Decision::Reset => st.stats.resets += 1,
            Decision::Hang => st.stats.hangs += 1,
        }
        decision
    }

    /// Draws one inter-token gap of a stream.
    pub fn inter_token_gap(&self) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        sample(&self.config.stream.inter_token, &mut st.rng)
    }

    /// Applies a control request and returns a one-line description of the change.
    pub fn control(&self, c: &Control) -> Result<String, String> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut changes = Vec::new();
        match c.outage.as_deref() {
            Some("start") => {
                let mode = c.mode.unwrap_or_default();
                if mode == OutageMode::Stall {
                    return Err("mode \"stall\" needs a scheduled window (outages = [...]); use \"hang\" here".into());
                }
                let status = c.status.unwrap_or(503);
                st.manual_outage = Some((mode, status));
                changes.push(format!("outage started (mode {mode:?}, status {status})"));
            }
            Some("stop") => {
                st.manual_outage = None;
                changes.push("outage stopped".to_string());
            }
            Some(other) => return Err(format!("outage must be \"start\" or \"stop\", not {other:?}")),
            None => {}
        }
        if let Some(rate) = c.error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("error_rate must lie in 0.0..=1.0, not {rate}"));
            }
            st.error_rate = rate;
            changes.push(format!("error rate set to {rate}"));
        }
        if changes.is_empty() {
            return Err("nothing to change: give outage and/or error_rate".into());
        }
        Ok(format!("provider {}: {}", self.config.name, changes.join(", ")))
    }

    /// Counts answer tokens generated.
    pub fn count_tokens(&self, tokens: u64) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).stats.tokens_out += tokens;
    }

    /// Counts an answer of `api` to a prompt of `tokens` tokens.
    pub fn count_prompt(&self, api: crate::apis::Api, tokens: u32) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.stats.tokens_in += u64::from(tokens);
        *st.stats.by_endpoint.entry(format!("{api:?}").to_lowercase()).or_default() += 1;
    }

    /// Counts an answer whose client went away before it ended, after `tokens` of it were generated.
    pub fn count_hang_up(&self, tokens: u64) {
        let stats = &mut self.state.lock().unwrap_or_else(|p| p.into_inner()).stats;
        stats.hung_up += 1;
        stats.tokens_hung_up += tokens;
    }

    /// Records that an answer its model had end at `due` was ready to leave at `ready`.
    pub fn count_late(&self, due: Instant, ready: Instant) {
        let late = micros(ready.saturating_duration_since(due));
        let _ = self.timing.lock().unwrap_or_else(|p| p.into_inner()).lateness.record(late);
    }

    pub(crate) fn count_modelled(&self, took: Duration) {
        let _ = self.timing.lock().unwrap_or_else(|p| p.into_inner()).modelled.record(micros(took));
    }

    /// The answers' modelled times and lateness so far.
    pub fn timing(&self) -> Timing {
        self.timing.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).stats.clone()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn count(map: &mut BTreeMap<String, u64>, kind: FaultKind) {
    let key = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    *map.entry(key).or_default() += 1;
}

fn bucket_size(r: &crate::config::RateLimit) -> f64 {
    r.burst.map(f64::from).unwrap_or(r.rate.per_second.max(1.0))
}

fn take_token(cfg: &ProviderConfig, st: &mut State, now: Instant) -> bool {
    let Some(limit) = &cfg.rate_limit else { return true };
    let elapsed = now.saturating_duration_since(st.bucket_at).as_secs_f64();
    st.bucket_at = st.bucket_at.max(now);
    st.bucket_tokens = (st.bucket_tokens + elapsed * limit.rate.per_second).min(bucket_size(limit));
    if st.bucket_tokens >= 1.0 {
        st.bucket_tokens -= 1.0;
        true
    } else {
        false
    }
}

/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// Draws one value from a latency model.
pub fn sample(model: &Latency, rng: &mut impl Rng) -> Duration {
    let secs = match model {
        Latency::Fixed { value } => return value.0,
        Latency::Uniform { min, max } => {
            if max == min {
                return min.0;
            }
            rng.random_range(min.0.as_secs_f64()..max.0.as_secs_f64())
        }
        Latency::Normal { mean, stddev } => Normal::new(mean.0.as_secs_f64(), stddev.0.as_secs_f64())
            .map(|d| d.sample(rng))
            .unwrap_or(mean.0.as_secs_f64()),
        Latency::Lognormal { p50, p99 } => {
            let mu = p50.0.as_secs_f64().ln();
            let sigma = (p99.0.as_secs_f64().ln() - mu) / Z99;
            LogNormal::new(mu, sigma.max(0.0)).map(|d| d.sample(rng)).unwrap_or(p50.0.as_secs_f64())
        }
    };
    Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Errors, Outage, RateLimit};
    use crate::units::{HumanDuration, Rate, Ratio};

    fn ms(v: u64) -> HumanDuration {
        HumanDuration(Duration::from_millis(v))
    }

    #[test]
    fn lognormal_matches_its_percentiles() {
        let model = Latency::Lognormal { p50: ms(20), p99: ms(200) };
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let mut v: Vec<f64> = (0..100_000).map(|_| sample(&model, &mut rng).as_secs_f64()).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p50 = v[50_000];
        let p99 = v[99_000];
        assert!((p50 - 0.020).abs() < 0.020 * 0.03, "p50 {p50}");
        assert!((p99 - 0.200).abs() < 0.200 * 0.05, "p99 {p99}");
    }

    #[test]
    fn error_rate_and_status_mix_follow_the_config() {
        let mut cfg = ProviderConfig::named("p");
        cfg.errors = Some(Errors { rate: Ratio(0.1), statuses: vec![500, 503] });
        let p = Provider::new(cfg).unwrap();
        let now = Instant::now();
        let n = 50_000;
        let errors: Vec<u16> = (0..n)
            .filter_map(|_| match p.decide(now, "m", false) {
                Decision::Error { status, .. } => Some(status),
                _ => None,
            })
            .collect();
        let rate = errors.len() as f64 / n as f64;
        // Binomial sd at n=50,000, p=0.1 is 0.0013; allow about four of them.
        assert!((rate - 0.1).abs() < 0.005, "rate {rate}");
        let share_500 = errors.iter().filter(|s| **s == 500).count() as f64 / errors.len() as f64;
        assert!((share_500 - 0.5).abs() < 0.03, "share of 500s {share_500}");
    }

    #[test]
    fn same_seed_gives_same_decisions() {
        let mut cfg = ProviderConfig::named("p");
        cfg.errors = Some(Errors { rate: Ratio(0.3), statuses: vec![500, 502, 503, 429] });
        cfg.latency = Latency::Uniform { min: ms(1), max: ms(50) };
        let (a, b) = (Provider::new(cfg.clone()).unwrap(), Provider::new(cfg).unwrap());
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(a.decide(now, "m", false), b.decide(now, "m", false));
        }
    }

    #[test]
    fn outage_window_fails_everything_inside_it_only() {
        let mut cfg = ProviderConfig::named("p");
        cfg.outages = vec![Outage { window: "1s..2s".parse().unwrap(), mode: OutageMode::Reset, status: 503 }];
        let start = Instant::now();
        let p = Provider::starting_at(cfg, start).unwrap();
        assert!(matches!(p.decide(start, "m", false), Decision::Answer { .. }));
        assert_eq!(p.decide(start + Duration::from_millis(1500), "m", false), Decision::Reset);
        assert!(matches!(p.decide(start + Duration::from_secs(2), "m", false), Decision::Answer { .. }));
    }

    #[test]
    fn stall_window_holds_requests_until_it_ends() {
        let mut cfg = ProviderConfig::named("p");
        cfg.latency = Latency::Fixed { value: ms(5) };
        cfg.outages = vec![Outage { window: "1s..3s".parse().unwrap(), mode: OutageMode::Stall, status: 503 }];
        let start = Instant::now();
        let p = Provider::starting_at(cfg, start).unwrap();
        let at = |t: u64| p.decide(start + Duration::from_millis(t), "m", false);
        assert_eq!(at(500), Decision::Answer { delay: Duration::from_millis(5), malformed: false, stream_fault: None });
        assert_eq!(
            at(2500),
            Decision::Answer { delay: Duration::from_millis(505), malformed: false, stream_fault: None }
        );
    }

    #[test]
    fn token_bucket_admits_its_rate() {
        let mut cfg = ProviderConfig::named("p");
        cfg.rate_limit = Some(RateLimit { rate: Rate::per_second(100.0), burst: Some(10) });
        let start = Instant::now();
        let p = Provider::starting_at(cfg, start).unwrap();
        // 1,000 requests/s offered for 10 s against a 100/s bucket of 10: 10 + 100 × 10 admitted.
        let admitted = (0..10_000)
            .filter(|i| {
                let t = start + Duration::from_millis(*i);
                matches!(p.decide(t, "m", false), Decision::Answer { .. })
            })
            .count();
        assert!((1005..=1012).contains(&admitted), "admitted {admitted}");
    }

    #[test]
    fn control_starts_and_stops_an_outage() {
        let p = Provider::new(ProviderConfig::named("p")).unwrap();
        let c = Control { outage: Some("start".into()), status: Some(502), ..Control::default() };
        p.control(&c).unwrap();
        assert!(matches!(p.decide(Instant::now(), "m", false), Decision::Error { status: 502, .. }));
        p.control(&Control { outage: Some("stop".into()), ..Control::default() }).unwrap();
        assert!(matches!(p.decide(Instant::now(), "m", false), Decision::Answer { .. }));
        assert!(p.control(&Control::default()).is_err());
        let s = p.stats();
        assert_eq!(s.requests, 2);
        assert_eq!(s.by_status.get("502"), Some(&1));
    }
}
