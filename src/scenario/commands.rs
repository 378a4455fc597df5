//! Settings of the commands above `run`, as plain data checked here: the capacity search and compare's
//! tolerances. Their logic stays in `capacity` and `compare`, which import this, never the reverse.

use crate::units::{HumanDuration, Rate, Ratio};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// `[compare]`: how much worse a run may get than its baseline.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// As `--max-regression`, e.g. `"p99=10%,p99.9=20%,availability=0.05pp"`.
    pub max_regression: String,
}

/// `[capacity]`: how `slacheck capacity` searches (each key also has a command-line flag, which wins).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
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

/// How `slacheck capacity` searches: `[capacity]` over the defaults, then the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacitySettings {
    /// Requests per second.
    pub min: f64,
    pub max: f64,
    pub step_duration: Duration,
    pub warmup: Duration,
    /// Relative width at which the bisection stops.
    pub precision: f64,
}

impl Default for CapacitySettings {
    fn default() -> Self {
        CapacitySettings {
            min: 10.0,
            max: 1_000_000.0 / 60.0,
            step_duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            precision: 0.05,
        }
    }
}

impl CapacitySettings {
    /// These settings with the scenario's `[capacity]` keys applied.
    pub fn with_spec(mut self, spec: &CapacitySpec) -> Self {
        self.min = spec.min.map_or(self.min, |r| r.per_second);
        self.max = spec.max.map_or(self.max, |r| r.per_second);
        self.step_duration = spec.step_duration.map_or(self.step_duration, |d| d.0);
        self.warmup = spec.warmup.map_or(self.warmup, |d| d.0);
        self.precision = spec.precision.map_or(self.precision, |p| p.0);
        self
    }

    /// Checks the settings; an error names the `[capacity]` key (or flag) at fault.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.min <= 0.0 {
            return Err(("capacity.min", "must be above zero".into()));
        }
        if self.max < self.min {
            return Err(("capacity.max", format!("must not be below min ({})", Rate::per_second(self.min))));
        }
        if self.step_duration < Duration::from_secs(1) {
            return Err(("capacity.step_duration", "must be at least 1s".into()));
        }
        if !(self.precision > 0.0 && self.precision < 1.0) {
            return Err(("capacity.precision", "must lie between 0% and 100% (exclusive)".into()));
        }
        Ok(())
    }
}

/// How much worse a metric may get before it counts as a regression.
#[derive(Debug, Clone)]
pub struct Tolerances {
    /// Relative, by percentile name (`p50`, `p90`, `p95`, `p99`, `p99.9`).
    pub latency: BTreeMap<String, f64>,
    /// Availability, in percentage points.
    pub availability_pp: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        let latency = [("p50", 0.10), ("p90", 0.10), ("p95", 0.10), ("p99", 0.10), ("p99.9", 0.20)];
        Tolerances { latency: latency.iter().map(|(k, v)| (k.to_string(), *v)).collect(), availability_pp: 0.05 }
    }
}

/// A `--max-regression` (or `[compare] max_regression`) item that does not parse, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToleranceError(String);

impl Tolerances {
    /// Parses `p99=10%,p99.9=20%,availability=0.05pp` over the defaults.
    pub fn parse(text: &str) -> Result<Self, ToleranceError> {
        let mut t = Tolerances::default();
        let refuse = |message: String| ToleranceError(message);
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) =
                item.split_once('=').ok_or_else(|| refuse(format!("{item:?}: expected METRIC=LIMIT")))?;
            if key == "availability" {
                let pp = value
                    .strip_suffix("pp")
                    .ok_or_else(|| refuse(format!("{item:?}: availability takes points, e.g. 0.05pp")))?;
                t.availability_pp = pp.parse().map_err(|_| refuse(format!("{item:?}: not a number of points")))?;
            } else if t.latency.contains_key(key) {
                let ratio: crate::units::Ratio = value.parse().map_err(|e| refuse(format!("{item:?}: {e}")))?;
                t.latency.insert(key.to_string(), ratio.0);
            } else {
                return Err(refuse(format!("{key:?}: unknown metric; use p50, p90, p95, p99, p99.9 or availability")));
            }
        }
        Ok(t)
    }
}
