//! What a capacity search shows: a line per step as it goes, the table by rate, the conclusion, and the files
//! (`capacity.json`, `capacity.md`, the plot).

use super::{CapacityReport, Step, StepOutcome};
use crate::report::{fmt_ms, write_atomic};
use crate::run::RunError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Up to two decimals, without trailing zeros.
pub(super) fn round(x: f64) -> String {
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
        line.push_str("  (again: the generator fell behind in the step before)");
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
            let _ = write!(
                out,
                "even the lowest rate tried, {}, did not hold: {}",
                fmt_rate(f),
                r.first_failing_missed.join("; ")
            );
        }
        (None, None) if r.interrupted => out.push_str("no step was judged to the end before the search was stopped"),
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
        let at = r.steps.last().map(|s| format!(" during the step at {}", fmt_rate(s.rate_per_s))).unwrap_or_default();
        let _ = write!(out, "\nINTERRUPTED{at}: the search stopped early; ");
        match r.knee_per_s {
            Some(k) => {
                let _ = write!(out, "the knee is at least {}, the highest rate that held so far", fmt_rate(k));
            }
            None => out.push_str("no rate held so far, so nothing is known of the knee"),
        }
    }
    out
}

/// The table of steps and the conclusion, for the terminal and `capacity.md`.
pub fn markdown(r: &CapacityReport) -> String {
    let mut out = format!(
        "# Capacity: {}\n\nSteps of {} s after a {} s warm-up, from {} up to {}, precision {}%.\n\n",
        r.scenario,
        round(r.step_duration_s),
        round(r.warmup_s),
        fmt_rate(r.min_per_s),
        fmt_rate(r.max_per_s),
        round(r.precision * 100.0)
    );
    if let Some(start) = r.start.as_ref().filter(|s| s.rate_per_s > r.min_per_s) {
        let _ = writeln!(
            out,
            "A step needs about {} requests to decide {}: {} s at the minimum rate; the search started at {}.\n",
            start.requests_to_decide,
            start.strictest,
            round(start.at_min_s),
            fmt_rate(start.rate_per_s)
        );
    }
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

pub(super) fn write_files(r: &CapacityReport, out: &Path) -> Result<(), RunError> {
    let io = |path: PathBuf| move |source| RunError::Io { path, source };
    let json = serde_json::to_vec_pretty(r)?;
    write_atomic(&out.join("capacity.json"), &json).map_err(io(out.join("capacity.json")))?;
    write_atomic(&out.join("capacity.md"), markdown(r).as_bytes()).map_err(io(out.join("capacity.md")))?;
    let chart = crate::plot::Chart::Capacity {
        title: r.scenario.clone(),
        steps: r
            .steps
            .iter()
            .filter(|s| !matches!(s.outcome, StepOutcome::GeneratorBound | StepOutcome::Interrupted))
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

    #[test]
    fn rates_read_in_both_units_and_rounding_drops_trailing_zeros() {
        assert_eq!(fmt_rate(300.0), "300.0/s (18000/min)");
        assert_eq!([round(2.0), round(2.5), round(2.346), round(0.004)], ["2", "2.5", "2.35", "0"]);
    }
}
