//! The `[sla]` table: availability and latency limits, scoped limits, windows and success statuses.

use crate::units::{HumanDuration, Ratio};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The promise to check. Absent targets are not checked.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
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
    /// In every failover episode (see `failover_episodes`), isolated failures included: the longest error
    /// burst, from the first of a run of failed requests' intended send to the last one's completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_burst: Option<HumanDuration>,
    /// In every failover episode (inferred from the requests, see `failover_episodes`): the longest time from
    /// its first anomaly to the first success served elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time_to_failover: Option<HumanDuration>,
    /// The most requests that failed in any one episode (what users saw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_episode_errors: Option<u64>,
    /// The longest time from an episode's last anomaly to its primary serving again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time_to_recover: Option<HumanDuration>,
    /// What makes one request good, besides succeeding: `goodput = { ttft = "500ms", inter_token = "50ms",
    /// latency = "10s" }` (each optional). The run reports goodput, the share and rate of good requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<GoodputSpec>,
    /// The least share of scheduled requests that must be good (`[sla] goodput`), judged like availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_min: Option<Ratio>,
    /// Targets for one request class (`[sla.class.analysis]`): its end-to-end latency and availability.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub class: BTreeMap<String, Limits>,
    /// Targets for one tier (`[sla.tier.default]`): its attempts' own latency and availability, before failover.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tier: BTreeMap<String, Limits>,
}

/// The per-request objectives of goodput.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodputSpec {
    /// Time to first token, from the intended send time (a whole answer's: its latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft: Option<HumanDuration>,
    /// The mean gap between a streamed answer's tokens after its first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_token: Option<HumanDuration>,
    /// End-to-end latency, from the intended send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<HumanDuration>,
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

impl schemars::JsonSchema for WindowSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WindowSpec".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let duration = generator.subschema_for::<HumanDuration>();
        schemars::json_schema!({
            "description": "Judge targets in every window of this length (at least 1s), or \"burst\" for each burst.",
            "anyOf": [{ "const": "burst" }, duration],
        })
    }
}

/// What an undecided target does to the exit code.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InsufficientData {
    #[default]
    Fail,
    Pass,
}

/// Availability and latency limits for one scope.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
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
            max_time_to_failover: None,
            max_episode_errors: None,
            max_time_to_recover: None,
            goodput: None,
            goodput_min: None,
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

impl schemars::JsonSchema for StatusPattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusPattern".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A status code such as 200, or a class such as \"2xx\".",
            "anyOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^([1-5]xx|[1-5][0-9][0-9])$" },
            ],
        })
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
