//! The scenario file: what to load, how hard, and which SLA must hold.
//!
//! A scenario is TOML read with serde; every table rejects unknown keys, and every problem (syntax, a bad value,
//! a missing field, values that contradict each other) is reported with the file, line, column and field.
//! The format is documented key by key in `scenarios/README.md`.

use crate::units::{ByteSize, HumanDuration, Rate, Ratio};
use mock_upstream::tomlfile::{self, FileError};
use mock_upstream::ProviderConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub target: Target,
    pub load: Load,
    #[serde(default)]
    pub sla: Sla,
    /// Model tiers routed client-side (`[[tiers]]`); without them every request goes to `target`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierSpec>,
    /// Request classes and their share of the traffic (`[[classes]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassSpec>,
    #[serde(default)]
    pub failover: FailoverSpec,
    /// Where a gateway says which upstream served a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<ServedBy>,
    /// Defaults for `slacheck compare` and `run --baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareSpec>,
    /// Defaults for `slacheck capacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacitySpec>,
    /// Fake providers started in-process (`[[mock.providers]]`), for `target.mock` or a tier's `mock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<MockSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A real endpoint, e.g. `https://gateway.example.com/v1/chat/completions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The name of an in-process mock provider (`"default"`: a fault-free one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A file whose bytes are the body, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<PathBuf>,
    /// Name of the environment variable holding the API key (sent as `Authorization: Bearer …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub http: HttpVersion,
    /// The longest response body read; a longer one fails as `body too large` and its connection is dropped.
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
}

/// Bodies of LLM answers are kilobytes; 16 MiB leaves room for any real one and bounds what a broken upstream
/// can make the generator hold.
fn default_max_body() -> ByteSize {
    ByteSize(16 << 20)
}

/// `[compare]`: how much worse a run may get than its baseline.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// As `--max-regression`, e.g. `"p99=10%,p99.9=20%,availability=0.05pp"`.
    pub max_regression: String,
}

/// `[capacity]`: how `slacheck capacity` searches (each key also has a command-line flag, which wins).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    /// The first rate tried (default 10/s).
    pub min: Option<Rate>,
    /// The highest rate tried (default 1,000,000/min).
    pub max: Option<Rate>,
    /// How long each step is measured, after its warm-up (default 10s).
    pub step_duration: Option<HumanDuration>,
    /// The start of each step that is not measured (default 2s).
    pub warmup: Option<HumanDuration>,
    /// Stop when the last rate that held and the first that did not are this close, relative (default 5%).
    pub precision: Option<Ratio>,
}

/// A model tier: where its requests go, which model they name, what its tokens cost.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<String>,
    /// Several endpoints in regions, instead of one `url` or `mock`; requests are split by weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointSpec>,
    pub model: String,
    /// Per attempt on this tier; default: `target.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// US dollars per million input (prompt) tokens.
    #[serde(default)]
    pub price_input: f64,
    /// US dollars per million output (completion) tokens.
    #[serde(default)]
    pub price_output: f64,
}

/// One endpoint of a tier, in a region.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<String>,
    /// Relative share of the tier's requests.
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// A kind of request, its share of the traffic and where it starts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    pub name: String,
    /// Relative share of the traffic (e.g. 90 and 10).
    pub weight: f64,
    /// The tier it is sent to first.
    pub tier: String,
    /// Tiers tried after it, in order; default: the tiers after `tier` in `failover.chain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<String>>,
    /// User messages, taken in turn.
    #[serde(default = "default_prompts")]
    pub prompts: Vec<String>,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub stream: bool,
}

fn default_prompts() -> Vec<String> {
    vec!["ping".into()]
}
fn default_max_tokens() -> u32 {
    16
}

/// When and how a request moves on to the next tier.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Tier order for failover, e.g. `["default", "fallback"]`.
    #[serde(default)]
    pub chain: Vec<String>,
    /// Statuses that trigger a retry or failover.
    #[serde(default = "default_failover_statuses")]
    pub on_status: Vec<u16>,
    /// Fail over when an attempt times out (its tier's timeout).
    #[serde(default = "yes")]
    pub on_timeout: bool,
    /// Fail over when the connection fails or breaks.
    #[serde(default = "yes")]
    pub on_transport: bool,
    /// Give up on an attempt that takes longer than this and try the next tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_budget: Option<HumanDuration>,
    /// Extra attempts on the same tier before moving on.
    #[serde(default)]
    pub retries: u32,
    /// First backoff before a retry; doubled each time, with full jitter, up to `backoff_cap`.
    #[serde(default = "default_backoff")]
    pub backoff: HumanDuration,
    #[serde(default = "default_backoff_cap")]
    pub backoff_cap: HumanDuration,
    /// Header carrying one key per logical request, the same on each of its attempts.
    #[serde(default = "default_idempotency_header")]
    pub idempotency_header: String,
    /// Hedging: when the first tier has not answered after this long, send a duplicate to the next tier and
    /// keep the first success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_after: Option<HumanDuration>,
    /// At most this share of requests is hedged (default 10%).
    #[serde(default = "default_hedge_share")]
    pub hedge_max_share: Ratio,
}

fn default_hedge_share() -> Ratio {
    Ratio(0.1)
}

fn yes() -> bool {
    true
}
fn default_failover_statuses() -> Vec<u16> {
    vec![429, 500, 502, 503, 504]
}
fn default_backoff() -> HumanDuration {
    HumanDuration(Duration::from_millis(50))
}
fn default_backoff_cap() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_idempotency_header() -> String {
    "idempotency-key".into()
}

impl Default for FailoverSpec {
    fn default() -> Self {
        FailoverSpec {
            enabled: true,
            chain: Vec::new(),
            on_status: default_failover_statuses(),
            on_timeout: true,
            on_transport: true,
            latency_budget: None,
            retries: 0,
            backoff: default_backoff(),
            backoff_cap: default_backoff_cap(),
            idempotency_header: default_idempotency_header(),
            hedge_after: None,
            hedge_max_share: default_hedge_share(),
        }
    }
}

/// Where the serving upstream is read from a response: a header, or a JSON pointer into the body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum ServedBy {
    Header(String),
    Json(String),
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1 (the default).
    #[default]
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 (over TLS by ALPN, or cleartext with prior knowledge).
    #[serde(rename = "2")]
    Http2,
}

fn default_method() -> String {
    "POST".into()
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    Constant,
    Ramp,
    Steps,
    Burst,
    Spike,
    Sine,
    Trace,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced requests (wrk2's constant throughput).
    #[default]
    Uniform,
    /// A Poisson process with the profile's rate: independent arrivals, as real users make them.
    Poisson,
}

/// The offered load. Which keys a profile needs is listed in `scenarios/README.md`; the others must be absent.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub profile: ProfileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Rate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_every: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike_at: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplitude: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<HumanDuration>,
    /// A CSV or JSONL file of request offsets or per-second rates, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<PathBuf>,
    #[serde(default)]
    pub arrivals: Arrivals,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Requests in flight at most; a request due while the cap is reached is counted as not sent.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Closed loop with this many connections (wrk2's model): each free connection takes the next request of
    /// the schedule and waits for its answer. Latency still counts from the intended time, so a stall shows;
    /// service time is what a closed-loop tool without correction would report. Absent: open loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    /// Dispatcher lag p99 beyond which the run warns that the generator, not the target, was the bottleneck.
    #[serde(default = "default_lag_limit")]
    pub lag_limit: HumanDuration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub rate: Rate,
    #[serde(rename = "for")]
    pub lasts: HumanDuration,
}

fn default_seed() -> u64 {
    1
}
fn default_max_in_flight() -> usize {
    10_000
}
fn default_lag_limit() -> HumanDuration {
    HumanDuration(Duration::from_millis(10))
}

/// The promise to check. Absent targets are not checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<HumanDuration>,
    #[serde(default, rename = "p99.9", skip_serializing_if = "Option::is_none")]
    pub p99_9: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<HumanDuration>,
    /// Statuses that count as success: numbers (`200`) or classes (`"2xx"`). Default: `["2xx"]`.
    #[serde(default = "default_success")]
    pub success_statuses: Vec<StatusPattern>,
    /// Also judge the run-wide targets in every window: a duration (`"1m"`) or `"burst"` (each burst of a burst
    /// profile). The report names the worst window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
    /// Whether a target that the data cannot decide fails the run (the default) or passes it with a warning.
    #[serde(default)]
    pub insufficient_data: InsufficientData,
    /// Time to first token (streams), from the intended send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99: Option<HumanDuration>,
    /// p99 of the latency failover added (end-to-end minus the serving attempt's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_added_p99: Option<HumanDuration>,
    /// Longest run of consecutive seconds in which some request failed (timeline resolution: 1 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_burst: Option<HumanDuration>,
    /// Targets for one request class (`[sla.class.analysis]`): its end-to-end latency and availability.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub class: BTreeMap<String, Limits>,
    /// Targets for one tier (`[sla.tier.default]`): its attempts' own latency and availability, before failover.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tier: BTreeMap<String, Limits>,
}

/// Windows in which targets are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    Every(Duration),
    Burst,
}

impl<'de> Deserialize<'de> for WindowSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "burst" {
            return Ok(WindowSpec::Burst);
        }
        let d: HumanDuration = text.parse().map_err(|e: String| {
            serde::de::Error::custom(format!("{e}; or \"burst\" for each burst of a burst profile"))
        })?;
        if d.0 < Duration::from_secs(1) {
            return Err(serde::de::Error::custom(
                "a window must be at least 1s, the resolution of the timeline windows are counted on",
            ));
        }
        Ok(WindowSpec::Every(d.0))
    }
}

impl Serialize for WindowSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            WindowSpec::Every(d) => s.collect_str(&HumanDuration(*d)),
            WindowSpec::Burst => s.serialize_str("burst"),
        }
    }
}

/// What an undecided target does to the exit code.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InsufficientData {
    #[default]
    Fail,
    Pass,
}

/// Availability and latency limits for one scope.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<HumanDuration>,
    #[serde(default, rename = "p99.9", skip_serializing_if = "Option::is_none")]
    pub p99_9: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<HumanDuration>,
}

impl Limits {
    /// The latency limits that are set, with their quantiles (`max` is quantile 1).
    pub fn latency(&self) -> Vec<(&'static str, f64, Duration)> {
        [
            ("p50", 0.50, self.p50),
            ("p90", 0.90, self.p90),
            ("p95", 0.95, self.p95),
            ("p99", 0.99, self.p99),
            ("p99.9", 0.999, self.p99_9),
            ("max", 1.0, self.max),
        ]
        .into_iter()
        .filter_map(|(n, q, limit)| limit.map(|l| (n, q, l.0)))
        .collect()
    }
}

impl Sla {
    /// The run-wide limits.
    pub fn overall(&self) -> Limits {
        Limits {
            availability: self.availability,
            p50: self.p50,
            p90: self.p90,
            p95: self.p95,
            p99: self.p99,
            p99_9: self.p99_9,
            max: self.max,
        }
    }
}

impl Default for Sla {
    fn default() -> Self {
        Sla {
            availability: None,
            p50: None,
            p90: None,
            p95: None,
            p99: None,
            p99_9: None,
            max: None,
            success_statuses: default_success(),
            insufficient_data: InsufficientData::Fail,
            window: None,
            ttft_p50: None,
            ttft_p99: None,
            failover_added_p99: None,
            max_error_burst: None,
            class: BTreeMap::new(),
            tier: BTreeMap::new(),
        }
    }
}

fn default_success() -> Vec<StatusPattern> {
    vec![StatusPattern::Class(2)]
}

/// A status code or a class of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Code(u16),
    Class(u16),
}

impl StatusPattern {
    pub fn matches(&self, status: u16) -> bool {
        match *self {
            StatusPattern::Code(c) => c == status,
            StatusPattern::Class(c) => status / 100 == c,
        }
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(i64),
            Text(String),
        }
        let bad = || serde::de::Error::custom("expected a status code such as 200 or a class such as \"2xx\"");
        match Raw::deserialize(d)? {
            Raw::Code(c) if (100..=599).contains(&c) => Ok(StatusPattern::Code(c as u16)),
            Raw::Text(t) if t.len() == 3 && t.ends_with("xx") => match t[..1].parse::<u16>() {
                Ok(c) if (1..=5).contains(&c) => Ok(StatusPattern::Class(c)),
                _ => Err(bad()),
            },
            Raw::Text(t) => {
                t.parse::<u16>().ok().filter(|c| (100..=599).contains(c)).map(StatusPattern::Code).ok_or_else(bad)
            }
            Raw::Code(_) => Err(bad()),
        }
    }
}

impl Serialize for StatusPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StatusPattern::Code(c) => s.serialize_u16(*c),
            StatusPattern::Class(c) => s.collect_str(&format_args!("{c}xx")),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MockSection {
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

/// A scenario read from disk, with what is needed to report problems against its text.
/// The most windows `[sla] window` may cut a run into: each keeps a full-range histogram (about 190 KB).
pub const MAX_WINDOWS: usize = 1_000;

/// The largest request body file: every request carries a copy, and real prompts are far smaller.
pub const MAX_BODY_FILE: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    pub path: PathBuf,
    pub source: String,
}

impl LoadedScenario {
    /// Reads, parses and checks a scenario file.
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let (scenario, source) = tomlfile::read::<Scenario>(path)?;
        let loaded = LoadedScenario { scenario, path: path.to_path_buf(), source };
        loaded.check()?;
        Ok(loaded)
    }

    /// An error about `field`, placed where it is written in this file.
    pub fn error(&self, field: &str, message: impl Into<String>) -> FileError {
        tomlfile::error_at(&self.path, &self.source, field, message)
    }

    /// The bytes of `target.body_file`: a regular file of at most [`MAX_BODY_FILE`] bytes.
    pub fn body_file_bytes(&self, file: &Path) -> Result<Vec<u8>, FileError> {
        tomlfile::read_regular(&self.resolve(file), MAX_BODY_FILE).map_err(|e| self.error("target.body_file", e))
    }

    /// A path written in the scenario, taken relative to the scenario file's folder.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(relative)
    }

    /// The windows `[sla] window` asks for, as (start s, end s) within a run of `duration`.
    pub fn sla_windows(&self, duration: Duration) -> Vec<(f64, f64)> {
        let end = duration.as_secs_f64();
        let load = &self.scenario.load;
        match self.scenario.sla.window {
            None => Vec::new(),
            Some(WindowSpec::Every(w)) => {
                let w = w.as_secs_f64();
                (0..).map(|k| k as f64 * w).take_while(|s| *s < end).map(|s| (s, (s + w).min(end))).collect()
            }
            Some(WindowSpec::Burst) => {
                let (every, lasts) = match (load.burst_every, load.burst_for) {
                    (Some(e), Some(f)) => (e.0.as_secs_f64(), f.0.as_secs_f64()),
                    _ => return Vec::new(),
                };
                (0..)
                    .map(|k| k as f64 * every + every - lasts)
                    .take_while(|s| *s < end)
                    .map(|s| (s, (s + lasts).min(end)))
                    .collect()
            }
        }
    }

    /// The mock providers to start for this scenario (none when every target is a real URL).
    pub fn mock_providers(&self) -> Vec<ProviderConfig> {
        let s = &self.scenario;
        let tier_mocks = s.tiers.iter().any(|t| t.mock.is_some() || t.endpoints.iter().any(|e| e.mock.is_some()));
        if s.target.mock.is_none() && !tier_mocks {
            return Vec::new();
        }
        let declared = s.mock.as_ref().map(|m| m.providers.clone()).unwrap_or_default();
        if declared.is_empty() {
            vec![ProviderConfig::named("default")]
        } else {
            declared
        }
    }

    /// Applies `key.path=value` settings (values in TOML syntax; bare words are strings) and checks again.
    pub fn with_settings(mut self, settings: &[String]) -> Result<Self, FileError> {
        if settings.is_empty() {
            return Ok(self);
        }
        let cli_error = |field: &str, message: String| FileError {
            file: "--set".into(),
            line: None,
            column: None,
            field: field.to_string(),
            message,
        };
        let mut table: toml::Table = toml::from_str(&self.source).map_err(|e| cli_error("", e.to_string()))?;
        for setting in settings {
            let (key, raw) = setting
                .split_once('=')
                .ok_or_else(|| cli_error(setting, "expected KEY=VALUE, e.g. failover.enabled=false".into()))?;
            let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.to_string()));
            let parts: Vec<&str> = key.trim().split('.').collect();
            let mut at = &mut table;
            for part in &parts[..parts.len() - 1] {
                at = at
                    .entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| cli_error(key, format!("`{part}` is not a table")))?;
            }
            at.insert(parts[parts.len() - 1].to_string(), value);
        }
        self.scenario = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| cli_error("", e.message().to_string()))?;
        self.check()?;
        Ok(self)
    }

    fn check(&self) -> Result<(), FileError> {
        let s = &self.scenario;
        if s.name.trim().is_empty() || s.name.contains(['/', '\\']) {
            return Err(self.error("name", "give a non-empty name without slashes (it names the results folder)"));
        }
        self.check_target()?;
        self.check_routing()?;
        let profile = crate::profile::Profile::from_scenario(self)?;
        self.check_sla()?;
        self.check_windows(profile.duration)?;
        Ok(())
    }

    /// `[sla] window` must not cut a run of `duration` into more than [`MAX_WINDOWS`] windows: each holds a
    /// histogram for the whole run.
    pub fn check_windows(&self, duration: Duration) -> Result<(), FileError> {
        if let Some(WindowSpec::Every(w)) = self.scenario.sla.window {
            let count = (duration.as_secs_f64() / w.as_secs_f64()).ceil();
            if count > MAX_WINDOWS as f64 {
                return Err(self.error(
                    "sla.window",
                    format!(
                        "a run of {} in windows of {} makes {count} windows; at most {MAX_WINDOWS} are judged (each \
                         keeps a histogram): give a longer window",
                        HumanDuration(duration),
                        HumanDuration(w)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The tiers each class tries, in order (indices into `tiers`). Without classes: one class starting at the
    /// first tier of the chain (or the first tier).
    pub fn class_orders(&self) -> Vec<Vec<usize>> {
        let s = &self.scenario;
        let index = |name: &str| s.tiers.iter().position(|t| t.name == name);
        let chain: Vec<usize> = s.failover.chain.iter().filter_map(|n| index(n)).collect();
        let order_from = |first: usize, fallbacks: Option<&Vec<String>>| -> Vec<usize> {
            let rest: Vec<usize> = match fallbacks {
                Some(list) => list.iter().filter_map(|n| index(n)).collect(),
                None => chain.iter().skip_while(|t| **t != first).skip(1).copied().collect(),
            };
            std::iter::once(first).chain(rest).collect()
        };
        if s.classes.is_empty() {
            return vec![order_from(chain.first().copied().unwrap_or(0), None)];
        }
        s.classes.iter().map(|c| order_from(index(&c.tier).unwrap_or(0), c.fallbacks.as_ref())).collect()
    }

    fn check_routing(&self) -> Result<(), FileError> {
        let s = &self.scenario;
        let providers: Vec<String> = self.mock_providers().into_iter().map(|p| p.name).collect();
        let tier_names: Vec<&str> = s.tiers.iter().map(|t| t.name.as_str()).collect();
        if s.tiers.is_empty() {
            if !s.classes.is_empty() {
                return Err(self.error("classes", "[[classes]] route to [[tiers]]; declare the tiers too"));
            }
            if !s.failover.chain.is_empty() {
                return Err(self.error("failover.chain", "a failover chain needs [[tiers]]"));
            }
        }
        for (i, t) in s.tiers.iter().enumerate() {
            let at = |f: &str| format!("tiers[{i}].{f}");
            if tier_names.iter().filter(|n| **n == t.name).count() > 1 {
                return Err(self.error(&at("name"), format!("two tiers are named {:?}", t.name)));
            }
            if t.endpoints.is_empty() {
                self.check_place(&format!("tiers[{i}]"), &t.url, &t.mock, &providers)?;
            } else if t.url.is_some() || t.mock.is_some() {
                return Err(self.error(&at("endpoints"), "set `endpoints` or a single `url`/`mock`, not both"));
            }
            for (j, e) in t.endpoints.iter().enumerate() {
                let at = format!("tiers[{i}].endpoints[{j}]");
                self.check_place(&at, &e.url, &e.mock, &providers)?;
                if e.region.trim().is_empty() {
                    return Err(self.error(&format!("{at}.region"), "name the region, e.g. \"us-east\""));
                }
                if !(e.weight > 0.0 && e.weight.is_finite()) {
                    return Err(self.error(&format!("{at}.weight"), "must be above zero"));
                }
            }
            if t.price_input < 0.0 || t.price_output < 0.0 {
                return Err(self.error(&at("price_input"), "prices cannot be negative"));
            }
        }
        if !s.tiers.is_empty() && (s.target.url.is_some() || s.target.mock.is_some()) {
            return Err(
                self.error("target", "with [[tiers]], each tier names its `url` or `mock`; remove them from [target]")
            );
        }
        for (i, name) in s.failover.chain.iter().enumerate() {
            if !tier_names.contains(&name.as_str()) {
                return Err(self
                    .error(&format!("failover.chain[{i}]"), format!("no tier named {name:?}; tiers: {tier_names:?}")));
            }
        }
        for (i, c) in s.classes.iter().enumerate() {
            if !tier_names.contains(&c.tier.as_str()) {
                return Err(self.error(
                    &format!("classes[{i}].tier"),
                    format!("no tier named {:?}; tiers: {tier_names:?}", c.tier),
                ));
            }
            for (j, f) in c.fallbacks.iter().flatten().enumerate() {
                if !tier_names.contains(&f.as_str()) {
                    return Err(self.error(&format!("classes[{i}].fallbacks[{j}]"), format!("no tier named {f:?}")));
                }
            }
            if !(c.weight > 0.0 && c.weight.is_finite()) {
                return Err(self.error(&format!("classes[{i}].weight"), "must be above zero"));
            }
            if c.prompts.is_empty() {
                return Err(self.error(&format!("classes[{i}].prompts"), "list at least one prompt"));
            }
        }
        if let Some(c) = &s.compare {
            crate::compare::Tolerances::parse(&c.max_regression)
                .map_err(|e| self.error("compare.max_regression", e))?;
        }
        if let Some(c) = &s.capacity {
            crate::capacity::Settings::default().with_spec(c).check().map_err(|(field, e)| self.error(field, e))?;
        }
        if reqwest::header::HeaderName::from_bytes(s.failover.idempotency_header.as_bytes()).is_err() {
            return Err(self.error("failover.idempotency_header", "not a valid header name"));
        }
        if s.failover.backoff_cap < s.failover.backoff {
            return Err(self.error("failover.backoff_cap", "must not be below `backoff`"));
        }
        Ok(())
    }

    /// Checks that a place requests go to (`at` = `tiers[0]` or `tiers[0].endpoints[1]`) has one valid `url`
    /// or names a declared mock provider.
    fn check_place(
        &self,
        at: &str,
        url: &Option<String>,
        mock: &Option<String>,
        providers: &[String],
    ) -> Result<(), FileError> {
        match (url, mock) {
            (None, None) => Err(self.error(at, "set `url` or `mock`")),
            (Some(_), Some(_)) => Err(self.error(&format!("{at}.mock"), "set either `url` or `mock`, not both")),
            (Some(u), None) => reqwest::Url::parse(u)
                .map(|_| ())
                .map_err(|e| self.error(&format!("{at}.url"), format!("not a valid URL ({e})"))),
            (None, Some(m)) if !providers.contains(m) => {
                Err(self.error(&format!("{at}.mock"), format!("no mock provider named {m:?}; declared: {providers:?}")))
            }
            _ => Ok(()),
        }
    }

    fn check_target(&self) -> Result<(), FileError> {
        let t = &self.scenario.target;
        match (&t.url, &t.mock) {
            (None, None) if !self.scenario.tiers.is_empty() => {}
            (None, None) => {
                return Err(self.error("target", "set `url` (a real endpoint) or `mock` (an in-process mock provider)"))
            }
            (Some(_), Some(_)) => return Err(self.error("target.mock", "set either `url` or `mock`, not both")),
            (Some(url), None) => {
                let parsed = reqwest::Url::parse(url).map_err(|e| {
                    self.error(
                        "target.url",
                        format!(
                            "not a valid URL ({e}); expected e.g. \"https://gateway.example.com/v1/chat/completions\""
                        ),
                    )
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(self.error("target.url", "the URL must start with http:// or https://"));
                }
            }
            (None, Some(name)) => {
                let providers = self.mock_providers();
                if !providers.iter().any(|p| &p.name == name) {
                    let names: Vec<_> = providers.iter().map(|p| p.name.as_str()).collect();
                    return Err(self.error(
                        "target.mock",
                        format!("no mock provider named {name:?}; declared: {names:?} (with no [[mock.providers]], use \"default\")"),
                    ));
                }
            }
        }
        if self.mock_providers().is_empty() && self.scenario.mock.is_some() {
            return Err(
                self.error("mock", "[[mock.providers]] are only started for `target.mock`; remove them or set it")
            );
        }
        for (i, p) in self.scenario.mock.iter().flat_map(|m| m.providers.iter()).enumerate() {
            if let Err((field, message)) = p.check() {
                let field = field.split_once('.').map(|(_, f)| f.to_string()).unwrap_or(field);
                return Err(self.error(&format!("mock.providers[{i}].{field}"), message));
            }
            let run = self.scenario.load.duration.map(|d| d.0);
            if let Some((j, o)) = p.outages.iter().enumerate().find(|(_, o)| run.is_some_and(|d| o.window.start >= d)) {
                return Err(self.error(
                    &format!("mock.providers[{i}].outages[{j}]"),
                    format!("the window {} starts after the run ends (load.duration)", o.window),
                ));
            }
            if p.port != 0 {
                return Err(self.error(
                    &format!("mock.providers[{i}].port"),
                    "in-process providers take a free port; remove `port`",
                ));
            }
        }
        if t.body.is_some() && t.body_file.is_some() {
            return Err(self.error("target.body_file", "set either `body` or `body_file`, not both"));
        }
        if let Some(file) = &t.body_file {
            self.body_file_bytes(file)?;
        }
        if reqwest::Method::from_bytes(t.method.as_bytes()).is_err() {
            return Err(self.error("target.method", format!("{:?} is not an HTTP method", t.method)));
        }
        for (name, value) in &t.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(self.error(&format!("target.headers.{name}"), "not a valid HTTP header name and value"));
            }
            if name.eq_ignore_ascii_case("authorization") {
                return Err(self.error(
                    &format!("target.headers.{name}"),
                    "do not write credentials in the scenario; name an environment variable with `api_key_env`",
                ));
            }
        }
        if let Some(var) = &t.api_key_env {
            if var.is_empty() || var.contains('=') {
                return Err(self.error(
                    "target.api_key_env",
                    "give the name of an environment variable, e.g. \"GATEWAY_API_KEY\"",
                ));
            }
        }
        if t.timeout.0.is_zero() {
            return Err(self.error("target.timeout", "must be above zero"));
        }
        let load = &self.scenario.load;
        if load.max_in_flight == 0 {
            return Err(self.error("load.max_in_flight", "must be at least 1"));
        }
        match load.connections {
            Some(0) => return Err(self.error("load.connections", "must be at least 1")),
            Some(c) if c > load.max_in_flight => {
                return Err(
                    self.error("load.connections", format!("must not exceed max_in_flight ({})", load.max_in_flight))
                )
            }
            _ => {}
        }
        Ok(())
    }

    /// Names of the tiers and classes a run will have (the implicit ones without `[[tiers]]` / `[[classes]]`).
    pub fn tier_and_class_names(&self) -> (Vec<String>, Vec<String>) {
        let s = &self.scenario;
        let tiers = if s.tiers.is_empty() {
            vec![s.target.mock.clone().unwrap_or_else(|| "target".into())]
        } else {
            s.tiers.iter().map(|t| t.name.clone()).collect()
        };
        let classes = if s.classes.is_empty() {
            vec!["default".into()]
        } else {
            s.classes.iter().map(|c| c.name.clone()).collect()
        };
        (tiers, classes)
    }

    fn check_sla(&self) -> Result<(), FileError> {
        let sla = &self.scenario.sla;
        let (tiers, classes) = self.tier_and_class_names();
        let mut scopes = vec![("sla".to_string(), sla.overall())];
        for (kind, map, names) in [("class", &sla.class, &classes), ("tier", &sla.tier, &tiers)] {
            for (name, limits) in map {
                // A target on a scope that no request can match would pass silently: refuse it.
                if !names.contains(name) {
                    return Err(self.error(
                        &format!("sla.{kind}.{name}"),
                        format!("no {kind} is named {name:?}; the run has {names:?}"),
                    ));
                }
                scopes.push((format!("sla.{kind}.{name}"), limits.clone()));
            }
        }
        // Written limits must not contradict each other: a higher percentile cannot have a lower limit.
        for (path, limits) in &scopes {
            let written = limits.latency();
            for pair in written.windows(2) {
                let ((lo_name, _, lo), (hi_name, _, hi)) = (pair[0], pair[1]);
                if hi < lo {
                    let key = if hi_name.contains('.') { format!("\"{hi_name}\"") } else { hi_name.to_string() };
                    return Err(self.error(
                        &format!("{path}.{key}"),
                        format!(
                            "{hi_name} = {} is below {lo_name} = {}; a higher percentile cannot have a lower limit",
                            HumanDuration(hi),
                            HumanDuration(lo)
                        ),
                    ));
                }
            }
        }
        // A target on a metric the run cannot produce would pass or fail on nothing: refuse it.
        let streams = s_streams(&self.scenario);
        for (key, set) in [("ttft_p50", sla.ttft_p50.is_some()), ("ttft_p99", sla.ttft_p99.is_some())] {
            if set && !streams {
                return Err(self.error(
                    &format!("sla.{key}"),
                    "time to first token needs streamed requests: a class with `stream = true`, or \"stream\": true in target.body",
                ));
            }
        }
        if sla.window == Some(WindowSpec::Burst) && self.scenario.load.profile != ProfileKind::Burst {
            return Err(
                self.error("sla.window", "\"burst\" windows need `load.profile = \"burst\"`; give a duration instead")
            );
        }
        if sla.success_statuses.is_empty() {
            return Err(self.error("sla.success_statuses", "list at least one status that counts as success"));
        }
        Ok(())
    }
}

/// Whether a scenario sends streamed requests.
fn s_streams(s: &Scenario) -> bool {
    let body_streams = s
        .target
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .is_some_and(|v| v["stream"] == serde_json::Value::Bool(true));
    body_streams || s.classes.iter().any(|c| c.stream)
}
