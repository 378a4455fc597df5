//! SLA targets and the verdict: each target's limit, what was measured, how sure that is, and the judgement.
//!
//! A percentile target "p99 ≤ L" holds exactly when at least 99% of requests take at most L, so it is judged
//! as a proportion, like availability: k of n requests were within the limit, and the Wilson 95% interval of
//! k/n decides. **pass**: the whole interval clears the target; **fail**: the whole interval misses it;
//! **insufficient data**: the interval straddles it — too few requests to tell (1 minute at 833 req/s leaves
//! only ~50 requests beyond p99.9). The summary then says about how many more requests would settle it.

use crate::measure::{ms, RunResult};
use crate::scenario::{Limits, Sla};
use crate::units::HumanDuration;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// z for a two-sided 95% interval.
const Z: f64 = 1.959_964;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Pass,
    Fail,
    InsufficientData,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TargetResult {
    /// `availability`, `p50` … `p99.9`, `max`, scoped names like `class analysis p99`, `ttft_p99`, …
    pub name: String,
    /// The limit as written, e.g. `"800ms"` or `"99.9%"`.
    pub limit: String,
    /// Latency targets: the measured value in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_ms: Option<f64>,
    /// Availability: the measured ratio (0..1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_ratio: Option<f64>,
    /// 95% interval: of the percentile's value (ms; `null` upper bound when the data cannot bound it), or of
    /// the availability ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, Option<f64>)>,
    /// Requests measured for this target, and about how many more would settle an undecided one.
    #[serde(default)]
    pub samples: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_requests: Option<u64>,
    pub judgement: Judgement,
    /// True only for a pass.
    pub passed: bool,
    /// Why, when there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Verdict {
    /// Every target passed.
    pub passed: bool,
    /// Some target could not be decided (and none failed).
    #[serde(default)]
    pub insufficient_data: bool,
    /// Scoped targets (`[sla.tier.X]`, `[sla.class.X]`) whose scope no request reached: an error, never a pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched_scopes: Vec<String>,
    pub targets: Vec<TargetResult>,
}

impl Verdict {
    pub fn failed(&self) -> impl Iterator<Item = &TargetResult> {
        self.targets.iter().filter(|t| t.judgement == Judgement::Fail)
    }
    pub fn undecided(&self) -> impl Iterator<Item = &TargetResult> {
        self.targets.iter().filter(|t| t.judgement == Judgement::InsufficientData)
    }
}

/// The Wilson score interval of k successes in n trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Judges "at least `target` of `n` trials succeed" from `k` successes; with the number of trials that would
/// settle it at the same observed rate when it is undecided.
fn judge_share(k: u64, n: u64, target: f64) -> (Judgement, Option<u64>) {
    let (lo, hi) = wilson(k, n);
    if n > 0 && lo >= target {
        return (Judgement::Pass, None);
    }
    if n > 0 && hi < target {
        return (Judgement::Fail, None);
    }
    let p = if n == 0 { 1.0 } else { k as f64 / n as f64 };
    let needed = if p >= 1.0 {
        // All successes: n/(n + z²) ≥ target.
        target * Z * Z / (1.0 - target).max(1e-12)
    } else if (p - target).abs() < 1e-12 {
        f64::INFINITY
    } else {
        Z * Z * p * (1.0 - p) / (p - target).powi(2)
    };
    let more = needed.is_finite().then(|| (needed.ceil() as u64).saturating_sub(n));
    (Judgement::InsufficientData, more)
}

impl TargetResult {
    /// A target with nothing to judge it on: a failure, never a pass, with the reason.
    fn without_data(name: String, limit: String, note: &str) -> Self {
        TargetResult {
            name,
            limit,
            measured_ms: None,
            measured_ratio: None,
            interval: None,
            samples: 0,
            more_requests: None,
            judgement: Judgement::Fail,
            passed: false,
            note: Some(note.into()),
        }
    }
}

/// A latency target "quantile `q` ≤ `limit`" on a histogram.
fn percentile_target(name: String, q: f64, limit: Duration, h: &Histogram<u64>, empty_note: &str) -> TargetResult {
    let limit_text = HumanDuration(limit).to_string();
    let n = h.len();
    if n == 0 {
        return TargetResult::without_data(name, limit_text, empty_note);
    }
    let limit_us = limit.as_micros() as u64;
    if q >= 1.0 {
        // The maximum is an observed fact, not an estimate: one request over the limit misses it.
        let judgement = if h.max() <= limit_us { Judgement::Pass } else { Judgement::Fail };
        return TargetResult {
            name,
            limit: limit_text,
            measured_ms: Some(ms(h.max())),
            measured_ratio: None,
            interval: None,
            samples: n,
            more_requests: None,
            judgement,
            passed: judgement == Judgement::Pass,
            note: None,
        };
    }
    let within = h.count_between(0, limit_us);
    let (judgement, more_requests) = judge_share(within, n, q);
    // Order-statistic interval of the percentile's value, for display.
    let spread = Z * (n as f64 * q * (1.0 - q)).sqrt();
    let rank = |r: f64| (r / n as f64).clamp(0.0, 1.0);
    let lo = ms(h.value_at_quantile(rank((n as f64 * q - spread).floor())));
    let hi_rank = (n as f64 * q + spread).ceil() + 1.0;
    let hi = (hi_rank <= n as f64).then(|| ms(h.value_at_quantile(rank(hi_rank))));
    let note = (judgement == Judgement::InsufficientData).then(|| {
        format!("{} of {n} requests beyond the percentile: too few to tell", n - (n as f64 * q).floor() as u64)
    });
    TargetResult {
        name,
        limit: limit_text,
        measured_ms: Some(ms(h.value_at_quantile(q))),
        measured_ratio: None,
        interval: Some((lo, hi)),
        samples: n,
        more_requests,
        judgement,
        passed: judgement == Judgement::Pass,
        note,
    }
}

/// An availability target on `ok` of `total`.
fn availability_target(name: String, limit: crate::units::Ratio, ok: u64, total: u64) -> TargetResult {
    if total == 0 {
        return TargetResult::without_data(name, limit.to_string(), "no requests were scheduled");
    }
    let (judgement, more_requests) = judge_share(ok, total, limit.0);
    let (lo, hi) = wilson(ok, total);
    TargetResult {
        name,
        limit: limit.to_string(),
        measured_ms: None,
        measured_ratio: Some(ok as f64 / total as f64),
        interval: Some((lo, Some(hi))),
        samples: total,
        more_requests,
        judgement,
        passed: judgement == Judgement::Pass,
        note: (judgement == Judgement::InsufficientData).then(|| "too few requests to tell".into()),
    }
}

/// Targets for one scope: its availability and latency percentiles. `prefix` names the scope ("" overall).
fn scope_targets(
    prefix: &str,
    limits: &Limits,
    counts: crate::measure::Counts,
    latency: &Histogram<u64>,
) -> Vec<TargetResult> {
    let name = |n: &str| if prefix.is_empty() { n.to_string() } else { format!("{prefix} {n}") };
    let mut targets = Vec::new();
    if let Some(limit) = limits.availability {
        targets.push(availability_target(name("availability"), limit, counts.ok, counts.total));
    }
    for (n, quantile, limit) in limits.latency() {
        targets.push(percentile_target(
            name(n),
            quantile,
            limit,
            latency,
            "no request was sent, so no latency was measured",
        ));
    }
    targets
}

/// The run-wide targets judged in every window: a window that misses fails the target; the worst one is named.
fn window_targets(limits: &Limits, result: &RunResult) -> Vec<TargetResult> {
    let per_window: Vec<Vec<TargetResult>> =
        result.windows.iter().map(|w| scope_targets("", limits, w.counts, &w.latency)).collect();
    let Some(first) = per_window.first() else { return Vec::new() };
    let window_text = |i: usize| format!("{:.0}s..{:.0}s", result.windows[i].start_s, result.windows[i].end_s);
    (0..first.len())
        .map(|k| {
            // Worst: the lowest availability, or the highest latency.
            let badness = |t: &TargetResult| t.measured_ratio.map(|r| -r).or(t.measured_ms).unwrap_or(f64::INFINITY);
            let worst = (0..per_window.len())
                .max_by(|a, b| badness(&per_window[*a][k]).total_cmp(&badness(&per_window[*b][k])))
                .unwrap_or(0);
            let judgements: Vec<Judgement> = per_window.iter().map(|w| w[k].judgement).collect();
            let judgement = if judgements.contains(&Judgement::Fail) {
                Judgement::Fail
            } else if judgements.contains(&Judgement::InsufficientData) {
                Judgement::InsufficientData
            } else {
                Judgement::Pass
            };
            let failing = judgements.iter().filter(|j| **j == Judgement::Fail).count();
            let w = &per_window[worst][k];
            TargetResult {
                name: format!("{} in every window", first[k].name),
                judgement,
                passed: judgement == Judgement::Pass,
                more_requests: per_window.iter().filter_map(|w| w[k].more_requests).max(),
                note: Some(format!("worst of {} windows: {}; {failing} missed", per_window.len(), window_text(worst))),
                ..w.clone()
            }
        })
        .collect()
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
    let mut targets = scope_targets("", &sla.overall(), result.counts, &result.latency);
    let mut unmatched_scopes = Vec::new();
    for (name, limits) in &sla.class {
        match result.classes.iter().find(|(n, _)| n == name) {
            Some((_, g)) if g.counts.total > 0 => {
                targets.extend(scope_targets(&format!("class {name}"), limits, g.counts, &g.latency))
            }
            _ => unmatched_scopes.push(format!("sla.class.{name}")),
        }
    }
    for (name, limits) in &sla.tier {
        match result.tiers.iter().find(|(n, _)| n == name) {
            Some((_, t)) if t.attempts.counts.total > 0 => {
                targets.extend(scope_targets(&format!("tier {name}"), limits, t.attempts.counts, &t.attempts.latency))
            }
            _ => unmatched_scopes.push(format!("sla.tier.{name}")),
        }
    }
    for (name, q, limit) in [("ttft_p50", 0.5, sla.ttft_p50), ("ttft_p99", 0.99, sla.ttft_p99)] {
        if let Some(limit) = limit {
            let empty = "no streamed answer reached its first token";
            targets.push(percentile_target(name.into(), q, limit.0, &result.stream.ttft, empty));
        }
    }
    if !result.windows.is_empty() {
        targets.extend(window_targets(&sla.overall(), result));
    }
    if let Some(limit) = sla.failover_added_p99 {
        let h = &result.failover.added;
        if h.is_empty() {
            // Nothing was added: the promise holds trivially, and the note says why.
            targets.push(TargetResult {
                name: "failover_added_p99".into(),
                limit: limit.to_string(),
                measured_ms: Some(0.0),
                measured_ratio: None,
                interval: None,
                samples: 0,
                more_requests: None,
                judgement: Judgement::Pass,
                passed: true,
                note: Some("no request needed a second attempt".into()),
            });
        } else {
            targets.push(percentile_target("failover_added_p99".into(), 0.99, limit.0, h, ""));
        }
    }
    if let Some(limit) = sla.max_error_burst {
        let burst = longest_error_burst(result);
        let judgement = if burst <= limit.0 { Judgement::Pass } else { Judgement::Fail };
        targets.push(TargetResult {
            name: "max_error_burst".into(),
            limit: limit.to_string(),
            measured_ms: Some(burst.as_secs_f64() * 1000.0),
            measured_ratio: None,
            interval: None,
            samples: result.timeline.len() as u64,
            more_requests: None,
            judgement,
            passed: judgement == Judgement::Pass,
            note: None,
        });
    }
    let failed = targets.iter().any(|t| t.judgement == Judgement::Fail);
    let undecided = targets.iter().any(|t| t.judgement == Judgement::InsufficientData);
    let passed = !failed && !undecided && unmatched_scopes.is_empty();
    Verdict { passed, insufficient_data: undecided && !failed, unmatched_scopes, targets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_a_textbook_value() {
        // 81 of 263: Wilson 95% interval ≈ (0.2553, 0.3662).
        let (lo, hi) = wilson(81, 263);
        assert!((lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4, "{lo} {hi}");
    }

    #[test]
    fn wilson_intervals_cover_the_true_share_about_95_percent_of_the_time() {
        use rand::{Rng, SeedableRng};
        // Binomial draws with a fixed seed: n = 2,000 trials at p = 0.99, 4,000 times.
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(42);
        let covered = (0..4_000)
            .filter(|_| {
                let k = (0..2_000).filter(|_| rng.random::<f64>() < 0.99).count() as u64;
                let (lo, hi) = wilson(k, 2_000);
                lo <= 0.99 && 0.99 <= hi
            })
            .count();
        let coverage = covered as f64 / 4_000.0;
        // Wilson's coverage at these n and p is close to nominal; the sd of the estimate is 0.0034.
        assert!((0.93..=0.97).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn shares_pass_fail_or_need_more_data() {
        // 99.97% of 100,000 against 99.9%: clearly above.
        assert_eq!(judge_share(99_970, 100_000, 0.999).0, Judgement::Pass);
        // 99.5% of 100,000: clearly below.
        assert_eq!(judge_share(99_500, 100_000, 0.999).0, Judgement::Fail);
        // 1,000 requests without an error cannot show 99.9%: about 3,800 are needed, so ~2,800 more.
        let (j, more) = judge_share(1_000, 1_000, 0.999);
        assert_eq!(j, Judgement::InsufficientData);
        let more = more.unwrap();
        assert!((2_700..2_900).contains(&more), "{more}");
    }

    #[test]
    fn a_percentile_target_is_judged_on_the_share_within_its_limit() {
        let mut h = crate::measure::new_histogram();
        // 10,000 requests: 9,950 at 10 ms, 50 at 900 ms. p99 = 10 ms; p99.9 = 900 ms.
        h.record_n(10_000, 9_950).unwrap();
        h.record_n(900_000, 50).unwrap();
        let p99 = percentile_target("p99".into(), 0.99, Duration::from_millis(100), &h, "");
        assert_eq!(p99.judgement, Judgement::Pass);
        let p999 = percentile_target("p99.9".into(), 0.999, Duration::from_millis(100), &h, "");
        assert_eq!(p999.judgement, Judgement::Fail);
        // 100 requests all fast: p99.9 ≤ 100 ms cannot be shown from them.
        let mut few = crate::measure::new_histogram();
        few.record_n(10_000, 100).unwrap();
        let t = percentile_target("p99.9".into(), 0.999, Duration::from_millis(100), &few, "");
        assert_eq!(t.judgement, Judgement::InsufficientData);
        assert!(t.more_requests.unwrap() > 3_000);
    }
}
