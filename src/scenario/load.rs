//! The `[load]` table: the profile's keys, arrivals, limits of the generator. `profile` builds the schedule.

use crate::units::{HumanDuration, Rate};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced requests (wrk2's constant throughput).
    #[default]
    Uniform,
    /// A Poisson process with the profile's rate: independent arrivals, as real users make them.
    Poisson,
    /// Gaps drawn from a gamma distribution of this burstiness (its shape; vLLM's `--burstiness`, AIPerf's
    /// `--arrival-smoothness`), with the profile's rate: 1 is Poisson, below 1 burstier (clustered requests and
    /// long silences), above 1 more even. The gaps' coefficient of variation is 1/√burstiness.
    Gamma(Burstiness),
}

/// A gamma shape: above 0 (0 has no distribution) and at most 1,000 (gaps then vary by 3%: nearly uniform).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(try_from = "f64", into = "f64")]
pub struct Burstiness(f64);

impl Burstiness {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Burstiness {
    type Error = String;

    fn try_from(b: f64) -> Result<Self, String> {
        if b > 0.0 && b <= 1000.0 {
            Ok(Burstiness(b))
        } else {
            Err(format!("burstiness {b} is not above 0 and at most 1000 (1 is Poisson, below 1 burstier)"))
        }
    }
}

impl From<Burstiness> for f64 {
    fn from(b: Burstiness) -> f64 {
        b.0
    }
}

/// The offered load. Which keys a profile needs is listed in `scenarios/README.md`; the others must be absent.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
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
    /// Open loop over at most this many connections to each endpoint (as oha's `-c`), opened before the run. A
    /// request due while every one is busy waits for one, first come first served, and its latency still counts
    /// from its intended time; requests waiting past `max_in_flight` are not sent. Over HTTP/2 each of them
    /// carries up to `streams_per_connection` requests at once (default 1, so N is still the most requests at
    /// once). Absent: a connection per request in flight over HTTP/1.1, one connection per endpoint over HTTP/2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// HTTP/2 only (`target.http = "2"`): the most requests at once on one connection, as streams (h2load's `-m`,
    /// oha's `-p`). With `max_connections` or `connections` it defaults to 1 (oha's and h2load's default), so
    /// those keep meaning the most requests at once, and a closed loop of N then goes over N / this many
    /// connections, rounded up. Without either, the one connection per endpoint carries as many as the server
    /// allows (its SETTINGS_MAX_CONCURRENT_STREAMS); the rest wait for a stream, their latency counted from when
    /// they were due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_per_connection: Option<usize>,
    /// The most memory the prompts may hold: shared prefixes and datasets for the whole run, and the request
    /// bodies in flight. A scenario whose prompts need more at `max_in_flight` is refused before it runs; while
    /// it runs, a request whose body would pass it is not sent.
    #[serde(default = "default_max_request_memory")]
    pub max_request_memory: crate::units::ByteSize,
    /// Dispatcher lag p99 beyond which the run warns that the generator, not the target, was the bottleneck.
    #[serde(default = "default_lag_limit")]
    pub lag_limit: HumanDuration,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
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
/// Fits a CI runner (7 GB on GitHub's) with room for the rest of the run.
fn default_max_request_memory() -> crate::units::ByteSize {
    crate::units::ByteSize(1 << 30)
}
fn default_lag_limit() -> HumanDuration {
    HumanDuration(Duration::from_millis(10))
}
