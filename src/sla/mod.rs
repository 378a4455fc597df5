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
    /// Count targets (`max_episode_errors`): the measured count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_count: Option<u64>,
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

/// What a run came to, in the one vocabulary that the README's exit-code table, summary.json's `outcome`, the
/// GitHub Action's `verdict` output and `--help` share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every target held (exit 0).
    Pass,
    /// A target was missed (exit 1).
    Fail,
    /// A target could not be decided from the data, and none was missed (exit 1).
    Undecided,
    /// A bad command line or scenario, or a scoped target that no request reached (exit 2).
    Usage,
    /// The run could not be carried out or its results written (exit 3).
    #[default]
    NoVerdict,
    /// Every missed target holds without what the generator itself caused (exit 3).
    GeneratorBound,
    /// Stopped by a signal (exit 130, 143 or 129: SIGINT, SIGTERM, SIGHUP); results partial.
    Interrupted,
}

impl Outcome {
    /// Its exit code; an interrupted run exits with its signal's, 130 for SIGINT (143 SIGTERM, 129 SIGHUP).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail | Outcome::Undecided => 1,
            Outcome::Usage => 2,
            Outcome::NoVerdict | Outcome::GeneratorBound => 3,
            Outcome::Interrupted => 130,
        }
    }

    /// Its word: `pass`, `fail`, `undecided`, `usage`, `no-verdict`, `generator-bound`, `interrupted`.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Undecided => "undecided",
            Outcome::Usage => "usage",
            Outcome::NoVerdict => "no-verdict",
            Outcome::GeneratorBound => "generator-bound",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl Verdict {
    /// What this verdict comes to, the one place where it is decided: usage, a scoped target matched no
    /// request; pass, every target held (or only undecided ones, when `undecided_passes`); fail, a target missed
    /// that the generator cannot explain; generator-bound, every miss is the generator's; else undecided.
    pub fn outcome(&self, undecided_passes: bool) -> Outcome {
        if !self.unmatched_scopes.is_empty() {
            Outcome::Usage
        } else if self.passed || (self.insufficient_data && undecided_passes) {
            Outcome::Pass
        } else if self.failed().any(|t| !t.generator_bound) {
            Outcome::Fail
        } else if self.failed().next().is_some() {
            Outcome::GeneratorBound
        } else {
            Outcome::Undecided
        }
    }

    /// The exit code this verdict calls for: its [`Outcome`]'s.
    pub fn exit_code(&self, undecided_passes: bool) -> u8 {
        self.outcome(undecided_passes).exit_code()
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
    wilson_at(k as f64 / n as f64, n as f64)
}

/// The Wilson score interval of an observed share `p` over `n` trials.
fn wilson_at(p: f64, n: f64) -> (f64, f64) {
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Judges "at least `target` of `n` trials succeed" from `k` successes; with, when it is undecided, about how
/// many more trials at the same observed share would settle it.
fn judge_share(k: u64, n: u64, target: f64) -> (Judgement, Option<u64>) {
    // With no trials the interval is (0, 1), which decides nothing for a target between 0 and 1.
    let (lo, hi) = wilson(k, n);
    if lo >= target {
        return (Judgement::Pass, None);
    }
    if hi < target {
        return (Judgement::Fail, None);
    }
    let p = if n == 0 { 1.0 } else { k as f64 / n as f64 };
    (Judgement::InsufficientData, trials_to_settle(p, target).map(|needed| needed.saturating_sub(n)))
}

/// The fewest trials whose Wilson interval at the observed share `p` lies wholly on one side of `target`: the
/// same rule that judges, so that the advice and the verdict agree. None when `p` is the target itself (no
/// number of trials could settle it) or when it would take more than 2^40.
fn trials_to_settle(p: f64, target: f64) -> Option<u64> {
    if p == target {
        return None;
    }
    let settled = |n: u64| {
        let (lo, hi) = wilson_at(p, n as f64);
        if p > target {
            lo >= target
        } else {
            hi < target
        }
    };
    // The interval narrows as n grows: double until settled (40 doublings at most), then bisect.
    let mut enough = 1u64;
    for _ in 0..40 {
        if settled(enough) {
            break;
        }
        enough *= 2;
    }
    if !settled(enough) {
        return None;
    }
    let mut short = enough / 2;
    while enough - short > 1 {
        let mid = (short + enough) / 2;
        if settled(mid) {
            enough = mid
        } else {
            short = mid
        }
    }
    Some(enough)
}

/// How a target judged in every window ends its name (`p99 in every window`).
const IN_EVERY_WINDOW: &str = " in every window";

impl TargetResult {
    /// A target judged in every window: its `more_requests` are what one window needs, so a longer run (more
    /// windows) would not settle it; a higher rate or wider windows would.
    pub fn is_per_window(&self) -> bool {
        self.name.ends_with(IN_EVERY_WINDOW)
    }

    /// A target with nothing to judge it on: a failure, never a pass, with the reason.
    fn without_data(name: String, limit: String, note: &str) -> Self {
        TargetResult {
            name,
            limit,
            measured_ms: None,
            measured_ratio: None,
            measured_count: None,
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
            measured_count: None,
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
        measured_count: None,
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
        measured_count: None,
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
        // Requests whose client hung up on purpose are neither successes nor failures of the target.
        targets.push(availability_target(name("availability"), limit, counts.ok, counts.judged()));
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
    let window_text = |i: usize| {
        let w = &result.windows[i];
        format!("{}..{}", crate::units::fmt_seconds(w.start_s), crate::units::fmt_seconds(w.end_s))
    };
    (0..first.len())
        .map(|k| {
            let judgements: Vec<Judgement> = per_window.iter().map(|w| w[k].judgement).collect();
            let judgement = if judgements.contains(&Judgement::Fail) {
                Judgement::Fail
            } else if judgements.contains(&Judgement::InsufficientData) {
                Judgement::InsufficientData
            } else {
                Judgement::Pass
            };
            let failing = judgements.iter().filter(|j| **j == Judgement::Fail).count();
            // The window shown is the worst of those judged as the target is (the lowest availability, or the
            // highest latency), so that its figures and interval bear out the verdict: an undecided target shows
            // an undecided window, not a worse one that passed.
            let badness = |t: &TargetResult| t.measured_ratio.map(|r| -r).or(t.measured_ms).unwrap_or(f64::INFINITY);
            let worst = (0..per_window.len())
                .filter(|i| judgements[*i] == judgement)
                .max_by(|a, b| badness(&per_window[*a][k]).total_cmp(&badness(&per_window[*b][k])))
                .unwrap_or(0);
            let which = if judgement == Judgement::InsufficientData { "worst undecided" } else { "worst" };
            let w = &per_window[worst][k];
            TargetResult {
                name: format!("{}{IN_EVERY_WINDOW}", first[k].name),
                judgement,
                passed: judgement == Judgement::Pass,
                // A window that failed decides the target: more requests could not change that.
                more_requests: (judgement == Judgement::InsufficientData)
                    .then(|| per_window.iter().filter_map(|w| w[k].more_requests).max())
                    .flatten(),
                note: Some(format!(
                    "{which} of {} windows: {}; {failing} missed",
                    per_window.len(),
                    window_text(worst)
                )),
                ..w.clone()
            }
        })
        .collect()
}

/// Marks the run-wide targets that did not pass but would without what the generator itself added: latency
/// judged on service time (from the actual send, so without the dispatcher's lag), availability without the
/// requests never sent, and latency without the lateness of an in-process mock (which shares the generator's
/// CPU). Only then can the generator explain the result; any other miss is the target's.
fn mark_generator_bound(targets: &mut [TargetResult], limits: &Limits, result: &RunResult) {
    mark_held_without_generator(targets, limits, result.counts, &result.service_time);
    let Some(mocks) = result.mock_timing.as_ref().filter(|m| !m.lateness.is_empty()) else { return };
    // Latency targets follow availability in scope_targets' order.
    let latency_targets = targets.iter_mut().skip(usize::from(limits.availability.is_some()));
    for (t, (name, q, limit)) in latency_targets.zip(limits.latency()) {
        if t.judgement != Judgement::Pass && !t.generator_bound {
            if let Some(why) = mock_lateness::explains(name, q, limit, &result.service_time, mocks) {
                t.generator_bound = true;
                t.note = Some(why);
            }
        }
    }
}

/// Marks a scope's missed targets that hold on what the target alone decides as the generator's: availability
/// without the requests the generator never sent, latency on `generator_free` (service time, without the lag).
fn mark_held_without_generator(
    targets: &mut [TargetResult],
    limits: &Limits,
    counts: crate::measure::Counts,
    generator_free: &Histogram<u64>,
) {
    let sent = crate::measure::Counts { total: counts.total - counts.not_sent, not_sent: 0, ..counts };
    let without_generator = scope_targets("", limits, sent, generator_free);
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

/// `goodput_min`: the share of scheduled requests that were good (those cancelled by their client left out),
/// judged like availability. Generator-bound
/// when it holds without the requests the generator never sent.
fn goodput_target(sla: &Sla, result: &RunResult) -> Option<TargetResult> {
    let limit = sla.goodput_min?;
    let good = result.goodput.overall.good;
    let mut target = availability_target("goodput".into(), limit, good, result.counts.judged());
    let sent = result.counts.judged() - result.counts.not_sent;
    if target.judgement != Judgement::Pass
        && result.counts.not_sent > 0
        && availability_target(String::new(), limit, good, sent).judgement == Judgement::Pass
    {
        target.generator_bound = true;
        target.note = Some("it holds without the requests the generator never sent".into());
    }
    Some(target)
}

/// Judges a run against the scenario's SLA. A target with nothing to measure fails: no data is no evidence.
pub fn evaluate(sla: &Sla, result: &RunResult) -> Verdict {
    let mut targets = scope_targets("", &sla.overall(), result.counts, &result.latency);
    mark_generator_bound(&mut targets, &sla.overall(), result);
    targets.extend(goodput_target(sla, result));
    let mut unmatched_scopes = Vec::new();
    for (name, limits) in &sla.class {
        match result.classes.iter().find(|(n, _)| n == name) {
            Some((_, g)) if g.counts.total > 0 => {
                let mut class = scope_targets(&format!("class {name}"), limits, g.counts, &g.latency);
                // A class has no service-time histogram: only its availability can be the generator's.
                mark_held_without_generator(&mut class, limits, g.counts, &g.latency);
                targets.extend(class);
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
                measured_count: None,
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
    targets.extend(episodes::episode_targets(sla, &result.episodes, result.elapsed.as_secs_f64() * 1000.0));
    let failed = targets.iter().any(|t| t.judgement == Judgement::Fail);
    let undecided = targets.iter().any(|t| t.judgement == Judgement::InsufficientData);
    let passed = !failed && !undecided && unmatched_scopes.is_empty();
    Verdict { passed, insufficient_data: undecided && !failed, unmatched_scopes, targets }
}

mod episodes;
mod mock_lateness;
#[cfg(test)]
mod tests;
