//! SLA targets and the verdict: each target's limit, the measured value, pass or fail.

use crate::measure::{ms, RunResult};
use crate::scenario::{Limits, Sla};
use crate::units::HumanDuration;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub targets: Vec<TargetResult>,
}

impl Verdict {
    pub fn failed(&self) -> impl Iterator<Item = &TargetResult> {
        self.targets.iter().filter(|t| !t.passed)
    }
}

/// Targets for one scope: its availability and latency percentiles. `prefix` names the scope ("" overall).
fn scope_targets(
    prefix: &str,
    limits: &Limits,
    availability: Option<f64>,
    latency: &Histogram<u64>,
) -> Vec<TargetResult> {
    let mut targets = Vec::new();
    let name = |n: &str| if prefix.is_empty() { n.to_string() } else { format!("{prefix} {n}") };
    if let Some(limit) = limits.availability {
        targets.push(TargetResult {
            name: name("availability"),
            limit: limit.to_string(),
            measured_ms: None,
            measured_ratio: availability,
            passed: availability.is_some_and(|a| a >= limit.0),
            note: availability.is_none().then(|| "no requests were scheduled".into()),
        });
    }
    for (n, quantile, limit) in limits.latency() {
        let measured = (!latency.is_empty())
            .then(|| ms(if quantile >= 1.0 { latency.max() } else { latency.value_at_quantile(quantile) }));
        targets.push(TargetResult {
            name: name(n),
            limit: HumanDuration(limit).to_string(),
            measured_ms: measured,
            measured_ratio: None,
            passed: measured.is_some_and(|m| m <= limit.as_secs_f64() * 1000.0),
            note: measured.is_none().then(|| "no request was sent, so no latency was measured".into()),
        });
    }
    targets
}

/// The longest run of consecutive timeline seconds in which some request failed.
pub fn longest_error_burst(result: &RunResult) -> Duration {
    let (mut longest, mut current) = (0u64, 0u64);
    for row in &result.timeline {
        current = if row.error + row.timeout + row.not_sent > 0 { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    Duration::from_secs(longest)
}

/// Judges a run against the scenario's SLA. A target with nothing to measure fails: no data is no evidence.
pub fn evaluate(sla: &Sla, result: &RunResult) -> Verdict {
    let mut targets = scope_targets("", &sla.overall(), result.availability(), &result.latency);
    for (name, limits) in &sla.class {
        if let Some((_, g)) = result.classes.iter().find(|(n, _)| n == name) {
            targets.extend(scope_targets(&format!("class {name}"), limits, g.availability(), &g.latency));
        }
    }
    for (name, limits) in &sla.tier {
        if let Some((_, t)) = result.tiers.iter().find(|(n, _)| n == name) {
            targets.extend(scope_targets(
                &format!("tier {name}"),
                limits,
                t.attempts.availability(),
                &t.attempts.latency,
            ));
        }
    }
    for (name, q, limit) in [("ttft_p50", 0.5, sla.ttft_p50), ("ttft_p99", 0.99, sla.ttft_p99)] {
        let Some(limit) = limit else { continue };
        let h = &result.stream.ttft;
        let measured = (!h.is_empty()).then(|| ms(h.value_at_quantile(q)));
        targets.push(TargetResult {
            name: name.into(),
            limit: limit.to_string(),
            measured_ms: measured,
            measured_ratio: None,
            passed: measured.is_some_and(|m| m <= limit.0.as_secs_f64() * 1000.0),
            note: measured.is_none().then(|| "no streamed answer reached its first token".into()),
        });
    }
    if let Some(limit) = sla.failover_added_p99 {
        let h = &result.failover.added;
        let measured = if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(0.99)) };
        targets.push(TargetResult {
            name: "failover_added_p99".into(),
            limit: limit.to_string(),
            measured_ms: Some(measured),
            measured_ratio: None,
            passed: measured <= limit.0.as_secs_f64() * 1000.0,
            note: h.is_empty().then(|| "no request needed a second attempt".into()),
        });
    }
    if let Some(limit) = sla.max_error_burst {
        let burst = longest_error_burst(result);
        targets.push(TargetResult {
            name: "max_error_burst".into(),
            limit: limit.to_string(),
            measured_ms: Some(burst.as_secs_f64() * 1000.0),
            measured_ratio: None,
            passed: burst <= limit.0,
            note: None,
        });
    }
    Verdict { passed: targets.iter().all(|t| t.passed), targets }
}
