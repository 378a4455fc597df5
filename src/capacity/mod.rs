//! Capacity search (`slacheck capacity`): the highest offered rate at which every SLA target still holds.
//!
//! The scenario's target, request mix, failover and `[sla]` stay; its `[load]` rate is replaced by a constant
//! rate per step, with the scenario's arrival process (uniform or Poisson), open loop. The search doubles the rate
//! from `min` until a step misses a target, then bisects between the last rate that held and the first that did
//! not until they are within `precision` of each other. Each step is a normal run with its own results folder;
//! requests due in its warm-up are counted but not judged. A step is judged by the rule `run` uses: it is
//! "generator-bound" only when every target it missed holds without what the generator caused (on service time,
//! or without the requests not sent); such a step says nothing about the target, so the search stops there and
//! says so. A step the generator may have spoiled (see [`judge_again`]) is run again at the same rate, once.

mod plan;
mod report;

pub use plan::{requests_to_decide, start, start_line, Start};
pub use report::{conclusion, markdown, step_line, terminal};

use crate::report::{fmt_ms, Formats};
use crate::run::{self, Overrides, RunError, RunOptions};
use crate::scenario::LoadedScenario;
use crate::units::Rate;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::scenario::CapacitySettings as Settings;

/// What one step showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepOutcome {
    /// Every target held.
    Held,
    /// A target was missed.
    Missed,
    /// No target was missed, but some could not be decided from the step's requests; counted as not held.
    Undecided,
    /// The generator could not keep the rate: this step says nothing about the target.
    GeneratorBound,
    /// A signal stopped the step: it is not judged (its first seconds say nothing of the whole step).
    Interrupted,
}

impl StepOutcome {
    fn label(self) -> &'static str {
        match self {
            StepOutcome::Held => "held",
            StepOutcome::Missed => "MISSED",
            StepOutcome::Undecided => "undecided",
            StepOutcome::GeneratorBound => "GENERATOR-BOUND",
            StepOutcome::Interrupted => "interrupted",
        }
    }
}

/// One step of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub rate_per_s: f64,
    /// How long it was judged (after the warm-up): `step_duration`, or until a signal stopped it.
    pub duration_s: f64,
    pub outcome: StepOutcome,
    /// Requests judged (after the warm-up).
    pub requests: u64,
    pub availability: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    #[serde(rename = "p99.9_ms")]
    pub p99_9_ms: f64,
    /// Errors (a status, a broken connection, a malformed body), timeouts apart.
    pub errors: u64,
    #[serde(default)]
    pub timeouts: u64,
    pub not_sent: u64,
    /// Seconds spent before this step waiting for the target to recover from the step before.
    #[serde(default)]
    pub settled_s: f64,
    pub lag_p99_ms: f64,
    /// The generator fell behind in this step (requests not sent, or dispatched later than `lag_limit`): its
    /// figures may understate the target, though only a miss the generator explains makes it generator-bound.
    #[serde(default)]
    pub generator_fell_behind: bool,
    /// Why the generator fell behind and what to do, the run's own hint (`generator.hint` in its summary.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_hint: Option<String>,
    /// More than 1% of the step's requests were dispatched later than `lag_limit`: the generator's own delay.
    #[serde(default)]
    pub dispatcher_late: bool,
    /// This step repeats the one before, which the generator may have spoiled (see `judge_again`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
    /// The targets missed or undecided, with what was measured.
    pub missed: Vec<String>,
    /// The step's own results folder.
    pub dir: PathBuf,
}

/// The search's result: `capacity.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityReport {
    pub schema_version: u32,
    pub scenario: String,
    pub min_per_s: f64,
    pub max_per_s: f64,
    pub step_duration_s: f64,
    pub warmup_s: f64,
    pub precision: f64,
    /// The highest rate at which every target held.
    pub knee_per_s: Option<f64>,
    pub knee_per_min: Option<f64>,
    /// The lowest rate at which a target was missed (or undecided), and which.
    pub first_failing_per_s: Option<f64>,
    pub first_failing_missed: Vec<String>,
    /// The rate the generator could not keep, if that ended the search.
    pub generator_bound_per_s: Option<f64>,
    /// Every step up to `max` held: the capacity is above it.
    pub held_at_max: bool,
    /// A signal (SIGINT, SIGTERM, SIGHUP) stopped the search: `knee_per_s` is then a lower bound on the knee.
    pub interrupted: bool,
    /// The exit code of the signal that stopped it (130, 143, 129).
    #[serde(skip)]
    pub signal_exit_code: Option<u8>,
    /// Where the search started, and why there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Start>,
    pub p99_limit_ms: Option<f64>,
    pub availability_target: Option<f64>,
    pub steps: Vec<Step>,
}

impl CapacityReport {
    /// 0 a knee was found (or every rate up to `max` held); 1 even the first rate missed a target; 3 the generator
    /// was the limit; 130, 143 or 129 interrupted by SIGINT, SIGTERM or SIGHUP.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            self.signal_exit_code.unwrap_or(130)
        } else if self.generator_bound_per_s.is_some() {
            3
        } else if self.knee_per_s.is_none() {
            1
        } else {
            0
        }
    }
}

/// Runs the search from `begin` (see [`start`], which refuses a search whose steps cannot decide), writing each step's
/// results under `out` and `capacity.json`, `capacity.md` and the plot into it. `on_step` sees each step as it
/// finishes; a step longer than [`PROGRESS_EVERY`] says how far it is on stderr.
pub async fn search(
    loaded: &LoadedScenario,
    settings: &Settings,
    begin: &Start,
    out: &Path,
    on_step: &(dyn Fn(&Step) + Sync),
) -> Result<CapacityReport, RunError> {
    std::fs::create_dir_all(out).map_err(|source| RunError::Io { path: out.to_path_buf(), source })?;
    let limits = loaded.scenario.sla.overall();
    let mut report = CapacityReport {
        schema_version: 1,
        scenario: loaded.scenario.name.clone(),
        min_per_s: settings.min,
        max_per_s: settings.max,
        step_duration_s: settings.step_duration.as_secs_f64(),
        warmup_s: settings.warmup.as_secs_f64(),
        precision: settings.precision,
        knee_per_s: None,
        knee_per_min: None,
        first_failing_per_s: None,
        first_failing_missed: Vec::new(),
        generator_bound_per_s: None,
        held_at_max: false,
        interrupted: false,
        signal_exit_code: None,
        start: Some(begin.clone()),
        p99_limit_ms: limits.latency().into_iter().find(|l| l.0 == "p99").map(|l| l.2.as_secs_f64() * 1000.0),
        availability_target: limits.availability.map(|a| a.0),
        steps: Vec::new(),
    };
    let (mut held, mut failed): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = begin.rate_per_s;
    // Growth, then bisection; each step either narrows the interval or ends the search.
    loop {
        // A step after one that missed starts only once the target has drained the queue that step left.
        let settled_s = match (report.steps.first(), report.steps.last()) {
            (Some(first), Some(last)) if last.outcome != StepOutcome::Held => {
                settle(loaded, settings, out, report.steps.len() + 1, first.p50_ms).await?
            }
            _ => (0.0, None),
        };
        if let (_, Some(signal)) = settled_s {
            report.interrupted = true;
            report.signal_exit_code = Some(signal);
            break;
        }
        let (mut step, signal) = run_step(loaded, settings, out, report.steps.len() + 1, rate).await?;
        step.settled_s = settled_s.0;
        step.again = judge_again(&report.steps);
        on_step(&step);
        let (outcome, missed) = (step.outcome, step.missed.clone());
        report.steps.push(step);
        if signal.is_some() {
            report.interrupted = true;
            report.signal_exit_code = signal;
            break;
        }
        if judge_again(&report.steps) {
            continue; // the same rate again, once; the search goes on from its outcome
        }
        if matches!(outcome, StepOutcome::Missed | StepOutcome::Undecided) {
            report.first_failing_missed = missed;
        }
        match outcome {
            StepOutcome::GeneratorBound => {
                report.generator_bound_per_s = Some(rate);
                break;
            }
            StepOutcome::Held => held = Some(rate),
            StepOutcome::Missed | StepOutcome::Undecided => failed = Some(rate),
            StepOutcome::Interrupted => unreachable!("only a stopped step is interrupted"),
        }
        rate = match (held, failed) {
            (Some(lo), None) if lo >= settings.max => {
                report.held_at_max = true;
                break;
            }
            (Some(lo), None) => (lo * 2.0).min(settings.max),
            (None, Some(_)) => break, // even the first rate did not hold
            (Some(lo), Some(hi)) if (hi - lo) / lo <= settings.precision => break,
            (Some(lo), Some(hi)) => (lo + hi) / 2.0,
            (None, None) => unreachable!("a step either held or not"),
        };
    }
    report.knee_per_s = held;
    report.knee_per_min = held.map(|r| r * 60.0);
    report.first_failing_per_s = failed;
    report::write_files(&report, out)?;
    Ok(report)
}

/// A step's outcome under the rule `run` uses ([`crate::sla::Verdict::outcome`]): generator-bound only when every
/// missed target holds without what the generator caused (on service time, or without the requests not sent). A
/// generator that fell behind while the target missed on its own, or held anyway, does not hide that.
fn step_outcome(v: &crate::sla::Verdict) -> StepOutcome {
    use crate::sla::Outcome;
    match v.outcome(false) {
        Outcome::Pass => StepOutcome::Held,
        Outcome::GeneratorBound => StepOutcome::GeneratorBound,
        Outcome::Undecided => StepOutcome::Undecided,
        // A target missed, or a scoped target no request reached.
        Outcome::Fail | Outcome::Usage | Outcome::NoVerdict | Outcome::Interrupted => StepOutcome::Missed,
    }
}

/// Whether the last step is run again at the same rate, once (a step that is itself a repeat never is): when it
/// was undecided while the generator fell behind, or missed while the generator dispatched late. A late
/// dispatcher sends its backlog at once, and such a burst can overrun a target's burst allowance (a token
/// bucket) that the offered rate would not: the step is then the generator's stall, not evidence about the
/// target. Requests not sent alone do not repeat a missed step: they are the target's doing when it slows and
/// `max_in_flight` fills, which is what an overloaded step looks like.
fn judge_again(steps: &[Step]) -> bool {
    let Some(last) = steps.last() else { return false };
    !last.again
        && match last.outcome {
            StepOutcome::Undecided => last.generator_fell_behind,
            StepOutcome::Missed => last.dispatcher_late,
            _ => false,
        }
}

/// How often a step says how far it is, on stderr.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// One step: the scenario at a constant `rate` for warm-up + step duration, into `out/step-NN-<rate>`. Returns
/// the step and the exit code of the signal that stopped it, if one did.
async fn run_step(
    loaded: &LoadedScenario,
    settings: &Settings,
    out: &Path,
    number: usize,
    rate: f64,
) -> Result<(Step, Option<u8>), RunError> {
    // A rate below the start's needs longer to decide; the search never goes there, but a step is never judged
    // on fewer requests than that.
    let judged = settings.step_duration.max(Duration::from_secs_f64(requests_to_decide(loaded) as f64 / rate));
    let overrides = Overrides { rate: Some(Rate::per_second(rate)), duration: Some(settings.warmup + judged) };
    let plan = loaded.clone().with_overrides(&overrides)?;
    let dir = out.join(format!("step-{number:02}-{rate:.0}-per-s"));
    let formats = Formats { hlog: true, parquet: false, svg: false, png: false, junit: false, md: false, html: false };
    let opts = RunOptions { out: Some(dir.clone()), formats, warmup: settings.warmup, ..RunOptions::default() };
    let (planned, warmup_s) = (settings.warmup + judged, settings.warmup.as_secs_f64());
    let progress = tokio::spawn(async move {
        let began = Instant::now();
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            every.tick().await;
            eprintln!(
                "capacity: step {number} at {rate:.1}/s: {:.0} s of {:.0} s ({} s warm-up, then {:.0} s judged)",
                began.elapsed().as_secs_f64(),
                planned.as_secs_f64(),
                report::round(warmup_s),
                judged.as_secs_f64()
            );
        }
    });
    let outcome = run::run(&plan, &opts).await;
    progress.abort();
    let outcome = outcome?;
    let signal = outcome.interrupted.map(|stop| stop.exit_code());
    let s = &outcome.summary;
    let v = &s.verdict;
    // A stopped step is not judged: its first seconds could hold where the whole step would not (a queue builds).
    let stepped = if signal.is_some() { StepOutcome::Interrupted } else { step_outcome(v) };
    let measured = |t: &crate::sla::TargetResult| match (t.measured_ms, t.measured_ratio) {
        (Some(ms), _) => format!("{} {} (limit {})", t.name, fmt_ms(ms), t.limit),
        (None, Some(r)) => format!("{} {:.3}% (target {})", t.name, r * 100.0, t.limit),
        _ => format!("{} (limit {})", t.name, t.limit),
    };
    let mut missed: Vec<String> = v.failed().map(measured).collect();
    missed.extend(v.undecided().map(|t| format!("{} undecided", measured(t))));
    missed.extend(v.unmatched_scopes.iter().map(|u| format!("{u}: no request reached it")));
    if stepped == StepOutcome::GeneratorBound || s.generator.overloaded {
        missed.push(format!(
            "generator: {} not sent, dispatcher lag p99 {} (limit {})",
            s.counts.not_sent,
            fmt_ms(s.lag_ms.p99),
            fmt_ms(s.generator.lag_limit_ms)
        ));
    }
    let step = Step {
        rate_per_s: rate,
        // What was really judged: every request due after the warm-up was, at `rate`, until the schedule ended or
        // a signal stopped it.
        duration_s: if signal.is_some() { s.counts.total as f64 / rate } else { judged.as_secs_f64() },
        outcome: stepped,
        requests: s.counts.total,
        availability: s.availability,
        p50_ms: s.latency_ms.p50,
        p99_ms: s.latency_ms.p99,
        p99_9_ms: s.latency_ms.p99_9,
        errors: s.counts.error,
        timeouts: s.counts.timeout,
        not_sent: s.counts.not_sent,
        settled_s: 0.0,
        lag_p99_ms: s.lag_ms.p99,
        generator_fell_behind: s.generator.overloaded,
        dispatcher_late: s.generator.dispatcher_late,
        generator_hint: s.generator.hint.clone(),
        again: false,
        missed,
        dir,
    };
    Ok((step, signal))
}

/// The longest wait for a target to recover between steps.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// Waits until the target answers about as fast as in the first step again: one-second probes at the lowest
/// rate of the search, until their p50 is within 1.5 times the first step's (plus a millisecond) with nothing
/// failed, or [`SETTLE_LIMIT`] passes. A target whose queue is still full after an overloaded step would
/// otherwise start the next step behind, and the knee would move with the warm-up alone. Returns the seconds
/// waited, and the exit code of a signal that stopped a probe; the probes' results stay in `out/settle-NN-K`.
async fn settle(
    loaded: &LoadedScenario,
    settings: &Settings,
    out: &Path,
    number: usize,
    first_p50_ms: f64,
) -> Result<(f64, Option<u8>), RunError> {
    let began = Instant::now();
    let probe_rate = settings.min.min(10.0);
    let overrides = Overrides { rate: Some(Rate::per_second(probe_rate)), duration: Some(Duration::from_secs(1)) };
    let plan = loaded.clone().with_overrides(&overrides)?;
    let formats = Formats { hlog: false, parquet: false, svg: false, png: false, junit: false, md: false, html: false };
    for probe in 1.. {
        let dir = out.join(format!("settle-{number:02}-{probe}"));
        let opts = RunOptions { out: Some(dir), formats: formats.clone(), ..RunOptions::default() };
        let outcome = run::run(&plan, &opts).await?;
        let s = &outcome.summary;
        let recovered = s.counts.ok == s.counts.total && s.latency_ms.p50 <= 1.5 * first_p50_ms + 1.0;
        if let Some(stop) = outcome.interrupted {
            return Ok((began.elapsed().as_secs_f64(), Some(stop.exit_code())));
        }
        if recovered || began.elapsed() >= SETTLE_LIMIT {
            break;
        }
    }
    Ok((began.elapsed().as_secs_f64(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(outcome: StepOutcome, fell_behind: bool, dispatcher_late: bool, again: bool) -> Step {
        Step {
            rate_per_s: 100.0,
            duration_s: 3.0,
            outcome,
            requests: 300,
            availability: None,
            p50_ms: 0.0,
            p99_ms: 0.0,
            p99_9_ms: 0.0,
            errors: 0,
            timeouts: 0,
            not_sent: 0,
            settled_s: 0.0,
            lag_p99_ms: 0.0,
            generator_fell_behind: fell_behind,
            generator_hint: None,
            dispatcher_late,
            again,
            missed: Vec::new(),
            dir: PathBuf::new(),
        }
    }

    #[test]
    fn a_step_the_generator_may_have_spoiled_is_judged_again_once_wherever_it_falls() {
        use StepOutcome::*;
        let held = step(Held, false, false, false);
        let again = |s: Step| judge_again(&[held.clone(), s]);
        // Undecided while the generator fell behind in any way (late, or requests not sent): again.
        assert!(again(step(Undecided, true, false, false)));
        assert!(again(step(Undecided, true, true, false)));
        // Missed while the dispatcher was late: again; missed with requests not sent only (max_in_flight filled
        // because the target slowed): that is overload, judged as it is.
        assert!(again(step(Missed, true, true, false)));
        assert!(!again(step(Missed, true, false, false)));
        // The generator kept up: the outcome stands.
        assert!(!again(step(Undecided, false, false, false)));
        assert!(!again(step(Missed, false, false, false)));
        // A repeat is never repeated, and a step that held or was the generator's is not either.
        assert!(!again(step(Undecided, true, true, true)));
        assert!(!again(step(Missed, true, true, true)));
        assert!(!again(step(Held, true, true, false)));
        assert!(!again(step(GeneratorBound, true, true, false)));
        assert!(!again(step(Interrupted, true, true, false)));
        // The first step too, and nothing before any step.
        assert!(judge_again(&[step(Undecided, true, false, false)]));
        assert!(!judge_again(&[]));
    }
}
