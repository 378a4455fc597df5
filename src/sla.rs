//! SLA targets and the verdict: each target's limit, the measured value, pass or fail.

use crate::measure::{ms, RunResult};
use crate::scenario::Sla;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    /// `availability`, `p50` … `p99.9`, `max`.
    pub name: String,
    /// The limit as written, e.g. `"800ms"` or `"99.9%"`.
    pub limit: String,
    /// Latency targets: the measured value in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_ms: Option<f64>,
    /// Availability: the measured ratio (0..1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_ratio: Option<f64>,
    pub passed: bool,
    /// Why the target failed when no value could be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub targets: Vec<TargetResult>,
}

impl Verdict {
    pub fn failed(&self) -> impl Iterator<Item = &TargetResult> {
        self.targets.iter().filter(|t| !t.passed)
    }
}

/// The latency targets a scenario may set, with their quantiles (`max` is the largest value).
pub fn latency_limits(sla: &Sla) -> Vec<(&'static str, f64, Duration)> {
    [
        ("p50", 0.50, sla.p50),
        ("p90", 0.90, sla.p90),
        ("p95", 0.95, sla.p95),
        ("p99", 0.99, sla.p99),
        ("p99.9", 0.999, sla.p99_9),
        ("max", 1.0, sla.max),
    ]
    .into_iter()
    .filter_map(|(n, q, limit)| limit.map(|l| (n, q, l.0)))
    .collect()
}

/// Judges a run against the scenario's SLA. A target with nothing to measure fails: no data is no evidence.
pub fn evaluate(sla: &Sla, result: &RunResult) -> Verdict {
    let mut targets = Vec::new();
    if let Some(limit) = sla.availability {
        let measured = result.availability();
        targets.push(TargetResult {
            name: "availability".into(),
            limit: limit.to_string(),
            measured_ms: None,
            measured_ratio: measured,
            passed: measured.is_some_and(|a| a >= limit.0),
            note: measured.is_none().then(|| "no requests were scheduled".into()),
        });
    }
    for (name, quantile, limit) in latency_limits(sla) {
        let h = &result.latency;
        let measured =
            (!h.is_empty()).then(|| ms(if quantile >= 1.0 { h.max() } else { h.value_at_quantile(quantile) }));
        targets.push(TargetResult {
            name: name.into(),
            limit: crate::units::HumanDuration(limit).to_string(),
            measured_ms: measured,
            measured_ratio: None,
            passed: measured.is_some_and(|m| m <= limit.as_secs_f64() * 1000.0),
            note: measured.is_none().then(|| "no request was sent, so no latency was measured".into()),
        });
    }
    Verdict { passed: targets.iter().all(|t| t.passed), targets }
}
