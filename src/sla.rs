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
    /// A miss that the generator's own limits explain: the target holds on service time (from the actual send,
    /// without the dispatcher's lag) or without the requests the generator never sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generator_bound: bool,
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
    /// The exit code this verdict calls for, the one place where it is decided: 2 a scoped target matched no
    /// request; 0 every target held (or only undecided ones, when `undecided_passes`); 1 a target missed that
    /// the generator cannot explain, or one could not be decided; 3 every miss is generator-bound.
    pub fn exit_code(&self, undecided_passes: bool) -> u8 {
        if !self.unmatched_scopes.is_empty() {
            2
        } else if self.passed || (self.insufficient_data && undecided_passes) {
            0
        } else if self.failed().any(|t| !t.generator_bound) {
            1
        } else if self.failed().next().is_some() {
            3
        } else {
            1
        }
    }

    /// Some target missed, and the generator's own limits explain every miss.
    pub fn generator_bound(&self) -> bool {
        self.failed().next().is_some() && self.failed().all(|t| t.generator_bound)
    }

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
            generator_bound: false,
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
            generator_bound: false,
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
        generator_bound: false,
    }
}

/// An availability target on `ok` of `total`. A 100% target is a promise of no failure at all, which no
/// interval can show from a sample: it is judged on the count, and more requests could never settle it.
fn availability_target(name: String, limit: crate::units::Ratio, ok: u64, total: u64) -> TargetResult {
    if total == 0 {
        return TargetResult::without_data(name, limit.to_string(), "no requests were scheduled");
    }
    let (judgement, more_requests) = if limit.0 >= 1.0 {
        (if ok == total { Judgement::Pass } else { Judgement::Fail }, None)
    } else {
        judge_share(ok, total, limit.0)
    };
    let (lo, hi) = wilson(ok, total);
    let note = match judgement {
        Judgement::InsufficientData => Some("too few requests to tell".into()),
        _ if limit.0 >= 1.0 => Some("100% allows no failure: judged on the count".into()),
        _ => None,
    };
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
        note,
        generator_bound: false,
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
                // A window that failed decides the target: more requests could not change that.
                more_requests: (judgement == Judgement::InsufficientData)
                    .then(|| per_window.iter().filter_map(|w| w[k].more_requests).max())
                    .flatten(),
                note: Some(format!("worst of {} windows: {}; {failing} missed", per_window.len(), window_text(worst))),
                ..w.clone()
            }
        })
        .collect()
}

/// Marks the run-wide targets that did not pass but would without what the generator itself added: latency
/// judged on service time (from the actual send, so without the dispatcher's lag), availability without the
/// requests never sent. Only then can the generator explain the result; any other miss is the target's.
fn mark_generator_bound(targets: &mut [TargetResult], limits: &Limits, result: &RunResult) {
    let c = result.counts;
    let sent = crate::measure::Counts { total: c.total - c.not_sent, not_sent: 0, ..c };
    let without_generator = scope_targets("", limits, sent, &result.service_time);
    for (t, alone) in targets.iter_mut().zip(without_generator) {
        if t.judgement != Judgement::Pass && alone.judgement == Judgement::Pass {
            t.generator_bound = true;
            let why = match t.measured_ratio {
                Some(_) => "it holds without the requests the generator never sent",
                None => "it holds on service time: the generator's lag explains the miss",
            };
            t.note = Some(why.into());
        }
    }
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
    mark_generator_bound(&mut targets, &sla.overall(), result);
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
                generator_bound: false,
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
            generator_bound: false,
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

    /// A run of `n` requests due 10 ms apart: each lags `lag_ms` before it is sent and takes `service_ms`;
    /// the first `not_sent` are never sent, and the next `errors` fail with a 503.
    fn run(n: u64, lag_ms: u64, service_ms: u64, not_sent: u64, errors: u64) -> RunResult {
        use crate::measure::Recorder;
        use crate::sample::{ErrorKind, Outcome, Sample};
        let mut r = Recorder::new(std::sync::Arc::default(), &["t".to_string()], &["c".to_string()], &[], None);
        for i in 0..n {
            let intended = Duration::from_millis(10 * i);
            let sample = if i < not_sent {
                Sample::not_sent(intended, intended)
            } else {
                let sent = intended + Duration::from_millis(lag_ms);
                let outcome = if i < not_sent + errors { Outcome::Error(ErrorKind::Status(503)) } else { Outcome::Ok };
                Sample {
                    sent: Some(sent),
                    done: sent + Duration::from_millis(service_ms),
                    outcome,
                    ..Sample::not_sent(intended, intended)
                }
            };
            r.record(&sample);
        }
        r.finish().unwrap()
    }

    fn sla(text: &str) -> Sla {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_latency_miss_that_holds_on_service_time_is_the_generators() {
        // Every request lagged 500 ms and was served in 5 ms: p99 of 505 ms against 100 ms misses, but the
        // target alone answered in 5 ms.
        let v = evaluate(&sla("p99 = \"100ms\""), &run(1_000, 500, 5, 0, 0));
        let t = &v.targets[0];
        assert_eq!((t.judgement, t.generator_bound), (Judgement::Fail, true));
        assert!(t.note.as_deref().unwrap().contains("service time"));
        assert!(v.generator_bound());
        assert_eq!(v.exit_code(false), 3);
        // Served in 200 ms: it misses on service time too, so the miss is the target's, whatever the lag.
        let v = evaluate(&sla("p99 = \"100ms\""), &run(1_000, 500, 200, 0, 0));
        assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Fail, false));
        assert!(!v.generator_bound());
        assert_eq!(v.exit_code(false), 1);
        // No lag and a fast target: nothing to explain.
        let v = evaluate(&sla("p99 = \"100ms\""), &run(1_000, 0, 5, 0, 0));
        assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Pass, false));
        assert_eq!(v.exit_code(false), 0);
    }

    #[test]
    fn an_availability_miss_from_unsent_requests_is_the_generators_and_from_errors_the_targets() {
        // 100 of 20,000 never sent, the rest all fine: 99.5% against 99.9% misses; without them it is 19,900 of
        // 19,900, whose Wilson lower bound (0.9998) clears 99.9%.
        let v = evaluate(&sla("availability = \"99.9%\""), &run(20_000, 0, 5, 100, 0));
        assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Fail, true));
        assert_eq!(v.exit_code(false), 3);
        // 100 unsent and 100 errors: 99.9% fails even without the unsent (1,800 of 1,900 = 94.7%).
        let v = evaluate(&sla("availability = \"99.9%\""), &run(2_000, 0, 5, 100, 100));
        assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Fail, false));
        assert_eq!(v.exit_code(false), 1);
        // One real miss among generator-bound ones decides: exit 1.
        let v = evaluate(&sla("availability = \"99.9%\"\np99 = \"100ms\""), &run(20_000, 500, 200, 100, 0));
        assert_eq!(v.targets.iter().map(|t| t.generator_bound).collect::<Vec<_>>(), [true, false]);
        assert_eq!(v.exit_code(false), 1);
    }

    #[test]
    fn the_exit_code_follows_the_verdict_and_the_undecided_policy() {
        // 200 requests without failure cannot show 99.9%: undecided.
        let undecided = evaluate(&sla("availability = \"99.9%\""), &run(200, 0, 5, 0, 0));
        assert!(undecided.insufficient_data && !undecided.passed);
        assert_eq!((undecided.exit_code(false), undecided.exit_code(true)), (1, 0));
        // A failed target next to an undecided one: the policy for undecided data never turns it into a pass.
        let mixed = evaluate(&sla("availability = \"99.9%\"\np99 = \"1ms\""), &run(200, 0, 5, 0, 0));
        assert_eq!(
            mixed.targets.iter().map(|t| t.judgement).collect::<Vec<_>>(),
            [Judgement::InsufficientData, Judgement::Fail]
        );
        assert!(!mixed.insufficient_data, "a failure is not insufficient data");
        assert_eq!((mixed.exit_code(false), mixed.exit_code(true)), (1, 1));
        let mut unmatched = evaluate(&sla("p90 = \"1s\""), &run(200, 0, 5, 0, 0));
        assert_eq!(unmatched.exit_code(false), 0);
        unmatched.unmatched_scopes.push("sla.tier.nope".into());
        assert_eq!(unmatched.exit_code(true), 2);
    }

    #[test]
    fn a_100_percent_target_is_judged_on_the_count_and_never_asks_for_more() {
        let clean = evaluate(&sla("availability = \"100%\""), &run(40, 0, 5, 0, 0));
        assert_eq!((clean.targets[0].judgement, clean.targets[0].more_requests), (Judgement::Pass, None));
        let one_error = evaluate(&sla("availability = \"100%\""), &run(40, 0, 5, 0, 1));
        assert_eq!((one_error.targets[0].judgement, one_error.targets[0].more_requests), (Judgement::Fail, None));
        assert_eq!(one_error.targets[0].measured_ratio, Some(39.0 / 40.0));
    }

    #[test]
    fn a_window_target_that_clearly_failed_asks_for_no_more_requests_and_names_the_worst_window() {
        use crate::measure::Recorder;
        use crate::sample::{ErrorKind, Outcome, Sample};
        let mut r = Recorder::new(std::sync::Arc::default(), &["t".to_string()], &["c".to_string()], &[], None);
        r.watch_windows(&[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]);
        // 100 requests a window; window 1..2 has 30 errors, window 2..3 has 2, window 0..1 none.
        for w in 0..3u64 {
            for i in 0..100u64 {
                let intended = Duration::from_millis(1000 * w + 10 * i);
                let failed = (w == 1 && i < 30) || (w == 2 && i < 2);
                let outcome = if failed { Outcome::Error(ErrorKind::Status(500)) } else { Outcome::Ok };
                let sent = intended;
                r.record(&Sample {
                    sent: Some(sent),
                    done: sent + Duration::from_millis(5),
                    outcome,
                    ..Sample::not_sent(intended, intended)
                });
            }
        }
        let v = evaluate(&sla("availability = \"90%\"\nwindow = \"1s\""), &r.finish().unwrap());
        let t = v.targets.iter().find(|t| t.name == "availability in every window").unwrap();
        assert_eq!(t.judgement, Judgement::Fail);
        assert_eq!(t.more_requests, None, "a clear failure is not settled by more requests");
        assert_eq!(t.measured_ratio, Some(0.70), "the worst window's availability");
        assert!(t.note.as_deref().unwrap().contains("1s..2s") && t.note.as_deref().unwrap().contains("1 missed"));
    }
}
