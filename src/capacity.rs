//! Capacity search (`slacheck capacity`): the highest offered rate at which every SLA target still holds.
//!
//! The scenario's target, request mix, failover and `[sla]` stay; its `[load]` rate is replaced by a constant
//! rate per step, with the scenario's arrival process (uniform or Poisson), open loop. The search doubles the rate
//! from `min` until a step misses a target, then bisects between the last rate that held and the first that did
//! not until they are within `precision` of each other. Each step is a normal run with its own results folder;
//! requests due in its warm-up are counted but not judged. A step is judged by the rule `run` uses: it is
//! "generator-bound" only when every target it missed holds without what the generator caused (on service time,
//! or without the requests not sent); such a step says nothing about the target, so the search stops there and
//! says so. A first step left undecided while the generator fell behind is run again at the same rate, once.

use crate::report::{fmt_ms, write_atomic, Formats};
use crate::run::{self, Overrides, RunError, RunOptions};
use crate::scenario::LoadedScenario;
use crate::units::Rate;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

impl StepOutcome {
    fn label(self) -> &'static str {
        match self {
            StepOutcome::Held => "held",
            StepOutcome::Missed => "MISSED",
            StepOutcome::Undecided => "undecided",
            StepOutcome::GeneratorBound => "GENERATOR-BOUND",
        }
    }
}

/// One step of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub rate_per_s: f64,
    /// How long it was judged (after the warm-up): `step_duration`, or longer at low rates.
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
    /// This step repeats the first one, which was left undecided while the generator fell behind.
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
    /// Ctrl-C stopped the search.
    pub interrupted: bool,
    pub p99_limit_ms: Option<f64>,
    pub availability_target: Option<f64>,
    pub steps: Vec<Step>,
}

impl CapacityReport {
    /// 0 a knee was found (or every rate up to `max` held); 1 even `min` missed a target; 3 the generator was the
    /// limit; 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            130
        } else if self.generator_bound_per_s.is_some() {
            3
        } else if self.knee_per_s.is_none() {
            1
        } else {
            0
        }
    }
}

/// Runs the search, writing each step's results under `out` and `capacity.json`, `capacity.md` and the plot into
/// it. `on_step` sees each step as it finishes.
pub async fn search(
    loaded: &LoadedScenario,
    settings: &Settings,
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
        p99_limit_ms: limits.latency().into_iter().find(|l| l.0 == "p99").map(|l| l.2.as_secs_f64() * 1000.0),
        availability_target: limits.availability.map(|a| a.0),
        steps: Vec::new(),
    };
    let (mut held, mut failed): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = settings.min;
    // Growth, then bisection; each step either narrows the interval or ends the search.
    loop {
        // A step after one that missed starts only once the target has drained the queue that step left.
        let settled_s = match (report.steps.first(), report.steps.last()) {
            (Some(first), Some(last)) if last.outcome != StepOutcome::Held => {
                settle(loaded, settings, out, report.steps.len() + 1, first.p50_ms).await?
            }
            _ => 0.0,
        };
        let (mut step, interrupted) = run_step(loaded, settings, out, report.steps.len() + 1, rate).await?;
        step.settled_s = settled_s;
        step.again = report.steps.len() == 1 && judge_again(&report.steps);
        on_step(&step);
        let outcome = step.outcome;
        if matches!(outcome, StepOutcome::Missed | StepOutcome::Undecided) {
            report.first_failing_missed = step.missed.clone();
        }
        report.steps.push(step);
        if interrupted {
            report.interrupted = true;
            break;
        }
        if judge_again(&report.steps) {
            continue; // the same rate again, once; the search goes on from its outcome
        }
        match outcome {
            StepOutcome::GeneratorBound => {
                report.generator_bound_per_s = Some(rate);
                break;
            }
            StepOutcome::Held => held = Some(rate),
            StepOutcome::Missed | StepOutcome::Undecided => failed = Some(rate),
        }
        rate = match (held, failed) {
            (Some(lo), None) if lo >= settings.max => {
                report.held_at_max = true;
                break;
            }
            (Some(lo), None) => (lo * 2.0).min(settings.max),
            (None, Some(_)) => break, // even `min` did not hold
            (Some(lo), Some(hi)) if (hi - lo) / lo <= settings.precision => break,
            (Some(lo), Some(hi)) => (lo + hi) / 2.0,
            (None, None) => unreachable!("a step either held or not"),
        };
    }
    report.knee_per_s = held;
    report.knee_per_min = held.map(|r| r * 60.0);
    report.first_failing_per_s = failed;
    write_files(&report, out)?;
    Ok(report)
}

/// About how many requests a step needs for its run-wide targets to be decided when they hold with some margin:
/// with none over the limit, "a share q within the limit" is shown at 95% confidence after about
/// 1.96² · q / (1 − q) requests (the Wilson bound); half as many again leave room for a few misses. A step at a
/// low rate runs longer than `step_duration` to get them (a p99 target needs about 570 requests, a 99.9% one
/// about 5,800): otherwise every low step would be "undecided", and the search could not start.
pub fn requests_to_decide(loaded: &LoadedScenario) -> u64 {
    let limits = loaded.scenario.sla.overall();
    let shares = limits.latency().into_iter().map(|(_, q, _)| q).chain(limits.availability.map(|a| a.0));
    shares.filter(|q| *q < 1.0).map(|q| (1.5 * 1.96f64.powi(2) * q / (1.0 - q)).ceil() as u64).max().unwrap_or(0)
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

/// The first step, undecided while the generator fell behind (a stalled machine), is judged again at the same
/// rate, once: a stall says nothing about the target, and the search cannot start without a first step.
fn judge_again(steps: &[Step]) -> bool {
    matches!(steps, [first] if first.outcome == StepOutcome::Undecided && first.generator_fell_behind)
}

/// One step: the scenario at a constant `rate` for warm-up + step duration, into `out/step-NN-<rate>`.
async fn run_step(
    loaded: &LoadedScenario,
    settings: &Settings,
    out: &Path,
    number: usize,
    rate: f64,
) -> Result<(Step, bool), RunError> {
    let judged = settings.step_duration.max(Duration::from_secs_f64(requests_to_decide(loaded) as f64 / rate));
    let overrides = Overrides { rate: Some(Rate::per_second(rate)), duration: Some(settings.warmup + judged) };
    let plan = loaded.clone().with_overrides(&overrides)?;
    let dir = out.join(format!("step-{number:02}-{rate:.0}-per-s"));
    let formats = Formats { hlog: true, parquet: false, svg: false, png: false, junit: false, md: false, html: false };
    let opts = RunOptions { out: Some(dir.clone()), formats, warmup: settings.warmup, ..RunOptions::default() };
    let outcome = run::run(&plan, &opts).await?;
    let s = &outcome.summary;
    let v = &s.verdict;
    let stepped = step_outcome(v);
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
        duration_s: judged.as_secs_f64(),
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
        generator_hint: s.generator.hint.clone(),
        again: false,
        missed,
        dir,
    };
    Ok((step, outcome.interrupted.is_some()))
}

/// The longest wait for a target to recover between steps.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// Waits until the target answers about as fast as in the first step again: one-second probes at the lowest
/// rate of the search, until their p50 is within 1.5 times the first step's (plus a millisecond) with nothing
/// failed, or [`SETTLE_LIMIT`] passes. A target whose queue is still full after an overloaded step would
/// otherwise start the next step behind, and the knee would move with the warm-up alone. Returns the seconds
/// waited; the probes' results stay in `out/settle-NN-K`.
async fn settle(
    loaded: &LoadedScenario,
    settings: &Settings,
    out: &Path,
    number: usize,
    first_p50_ms: f64,
) -> Result<f64, RunError> {
    let began = std::time::Instant::now();
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
        if recovered || outcome.interrupted.is_some() || began.elapsed() >= SETTLE_LIMIT {
            break;
        }
    }
    Ok(began.elapsed().as_secs_f64())
}

/// Up to two decimals, without trailing zeros.
fn round(x: f64) -> String {
    let t = format!("{x:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn fmt_rate(per_s: f64) -> String {
    format!("{per_s:.1}/s ({:.0}/min)", per_s * 60.0)
}

/// One line per step, as the search goes.
pub fn step_line(step: &Step) -> String {
    let mut line = format!(
        "  {:>12}  {:<15}  availability {:>9}  p99 {:>9}  errors {}  timeouts {}{}{}",
        format!("{:.1}/s", step.rate_per_s),
        step.outcome.label(),
        step.availability.map_or("-".into(), |a| format!("{:.3}%", a * 100.0)),
        fmt_ms(step.p99_ms),
        step.errors,
        step.timeouts,
        if step.not_sent > 0 { format!("  not sent {}", step.not_sent) } else { String::new() },
        if step.settled_s > 0.0 {
            format!("  (after {:.1} s for the target to recover)", step.settled_s)
        } else {
            String::new()
        }
    );
    if step.again {
        line.push_str("  (again: the first step was undecided while the generator fell behind)");
    } else if step.generator_fell_behind && step.outcome != StepOutcome::GeneratorBound {
        line.push_str("  (the generator fell behind; the outcome is the target's)");
    }
    line
}

/// The verdict of the search in a sentence or two.
pub fn conclusion(r: &CapacityReport) -> String {
    let mut out = String::new();
    match (r.knee_per_s, r.first_failing_per_s) {
        (Some(k), Some(f)) => {
            let _ = write!(out, "capacity: {} held every SLA target; {} did not", fmt_rate(k), fmt_rate(f));
            if !r.first_failing_missed.is_empty() {
                let _ = write!(out, " ({})", r.first_failing_missed.join("; "));
            }
        }
        (Some(k), None) if r.held_at_max => {
            let _ = write!(out, "capacity: at least {}: every step up to --max held", fmt_rate(k));
        }
        (Some(k), None) => {
            let _ = write!(out, "capacity: at least {} held every SLA target", fmt_rate(k));
        }
        (None, Some(f)) => {
            let _ = write!(out, "even --min {} missed: {}", fmt_rate(f), r.first_failing_missed.join("; "));
        }
        (None, None) => out.push_str("no step held every target"),
    }
    if let Some(g) = r.generator_bound_per_s {
        let last = r.steps.last();
        let why = last.and_then(|s| s.missed.last().cloned()).unwrap_or_default();
        let hint = last.and_then(|s| s.generator_hint.clone()).unwrap_or_else(|| "shard the load (--shard)".into());
        let _ = write!(
            out,
            "\nGENERATOR-BOUND at {}: slacheck could not keep this rate ({why}); the target's capacity is not \
             known above the last rate that held: {hint}.",
            fmt_rate(g)
        );
    }
    if r.interrupted {
        out.push_str("\nINTERRUPTED: the search stopped early");
    }
    out
}

/// The table of steps and the conclusion, for the terminal and `capacity.md`.
pub fn markdown(r: &CapacityReport) -> String {
    let mut out = format!(
        "# Capacity: {}\n\nSteps of at least {} s after a {} s warm-up, from {} up to {}, precision {}%.\n\n",
        r.scenario,
        round(r.step_duration_s),
        round(r.warmup_s),
        fmt_rate(r.min_per_s),
        fmt_rate(r.max_per_s),
        round(r.precision * 100.0)
    );
    out.push_str(
        "| offered req/s | req/min | outcome | judged for | requests | availability | p50 | p99 | p99.9 | errors | timeouts | not sent | recovery wait |\n",
    );
    out.push_str("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut steps = r.steps.clone();
    steps.sort_by(|a, b| a.rate_per_s.total_cmp(&b.rate_per_s));
    for s in &steps {
        let _ = writeln!(
            out,
            "| {:.1} | {:.0} | {} | {} s | {} | {} | {} | {} | {} | {} | {} | {} | {} s |",
            s.rate_per_s,
            s.rate_per_s * 60.0,
            s.outcome.label(),
            round(s.duration_s),
            s.requests,
            s.availability.map_or("-".into(), |a| format!("{:.3}%", a * 100.0)),
            fmt_ms(s.p50_ms),
            fmt_ms(s.p99_ms),
            fmt_ms(s.p99_9_ms),
            s.errors,
            s.timeouts,
            s.not_sent,
            round(s.settled_s)
        );
    }
    let _ = writeln!(out, "\n{}", conclusion(r));
    out
}

/// The steps by rate as a terminal table, and the conclusion (capacity.md has the Markdown).
pub fn terminal(r: &CapacityReport) -> String {
    let mut steps = r.steps.clone();
    steps.sort_by(|a, b| a.rate_per_s.total_cmp(&b.rate_per_s));
    let mut out = format!(
        "  {:>12} {:>10}  {:<15} {:>12} {:>9} {:>9} {:>7} {:>8} {:>8}\n",
        "offered", "per minute", "outcome", "availability", "p50", "p99", "errors", "timeouts", "not sent"
    );
    for s in &steps {
        let _ = writeln!(
            out,
            "  {:>12} {:>10}  {:<15} {:>12} {:>9} {:>9} {:>7} {:>8} {:>8}",
            format!("{:.1}/s", s.rate_per_s),
            format!("{:.0}/min", s.rate_per_s * 60.0),
            s.outcome.label(),
            s.availability.map_or("-".into(), |a| format!("{:.3}%", a * 100.0)),
            fmt_ms(s.p50_ms),
            fmt_ms(s.p99_ms),
            s.errors,
            s.timeouts,
            s.not_sent
        );
    }
    let _ = writeln!(out, "\n  {}", conclusion(r).replace('\n', "\n  "));
    out
}

fn write_files(r: &CapacityReport, out: &Path) -> Result<(), RunError> {
    let io = |path: PathBuf| move |source| RunError::Io { path, source };
    let json = serde_json::to_vec_pretty(r)?;
    write_atomic(&out.join("capacity.json"), &json).map_err(io(out.join("capacity.json")))?;
    write_atomic(&out.join("capacity.md"), markdown(r).as_bytes()).map_err(io(out.join("capacity.md")))?;
    let chart = crate::plot::Chart::Capacity {
        title: r.scenario.clone(),
        steps: r
            .steps
            .iter()
            .filter(|s| s.outcome != StepOutcome::GeneratorBound)
            .map(|s| (s.rate_per_s, s.p99_ms, s.availability, s.outcome == StepOutcome::Held))
            .collect(),
        p99_limit_ms: r.p99_limit_ms,
        availability_target: r.availability_target,
        knee: r.knee_per_s,
    };
    crate::plot::render(out, "capacity", &chart, true, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(sla: &str) -> LoadedScenario {
        let source = format!(
            "name = \"c\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n[sla]\n{sla}\n"
        );
        LoadedScenario { scenario: toml::from_str(&source).unwrap(), path: "c.toml".into(), source }
    }

    #[test]
    fn a_step_runs_long_enough_to_decide_its_strictest_share() {
        // 1.5 × 1.96² × q / (1 − q): p99 → 1.5 × 3.8416 × 99 = 570.5, so 571; 99.9% → × 999 = 5,756.6, so 5,757.
        assert_eq!(requests_to_decide(&loaded("p99 = \"1s\"")), 571);
        assert_eq!(requests_to_decide(&loaded("p99 = \"1s\"\navailability = \"99.9%\"")), 5_757);
        // p50: 1.5 × 3.8416 × 1 = 5.76, so 6. A max, or a 100% target, is decided by its first miss: none needed.
        assert_eq!(requests_to_decide(&loaded("p50 = \"1s\"\nmax = \"2s\"")), 6);
        assert_eq!(requests_to_decide(&loaded("availability = \"100%\"")), 0);
    }

    #[test]
    fn rates_read_in_both_units_and_rounding_drops_trailing_zeros() {
        assert_eq!(fmt_rate(300.0), "300.0/s (18000/min)");
        assert_eq!([round(2.0), round(2.5), round(2.346), round(0.004)], ["2", "2.5", "2.35", "0"]);
    }
}
