//! Before/after comparison: percentiles side by side, and a regression verdict that knows the noise.
//!
//! Each run's latency comes from its interval log (one histogram per second). The spread of a percentile is
//! estimated by a bootstrap over those intervals: resample each run's seconds with replacement, recompute the
//! percentile from the merged resample, and take the 2.5% and 97.5% points of the relative change. A metric
//! has "regressed" only when its change is past the tolerance *and* the interval excludes no change;
//! "improved" is the mirror; anything else is "no significant change". Availability uses a two-proportion
//! z-test on the summaries' counts.

mod bootstrap;

use crate::hlog::{self, Log};
use bootstrap::Bootstrap;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One side of a comparison.
pub struct Side {
    pub label: String,
    pub log: Log,
    /// The run's summary.json, when there is one.
    pub summary: Option<serde_json::Value>,
}

impl Side {
    /// The run's generator fell behind (its summary says `generator.overloaded`): its latency is partly the
    /// generator's, so a change cannot be blamed on the target.
    pub fn generator_bound(&self) -> bool {
        self.summary.as_ref().is_some_and(|s| s["generator"]["overloaded"] == true)
    }

    /// How long the run was, from its summary; intervals that end after it are partial (the answers that came
    /// after the schedule ended) and do not count towards [`MIN_INTERVALS`].
    fn duration_s(&self) -> Option<f64> {
        self.summary.as_ref().and_then(|s| s["duration_s"].as_f64())
    }

    /// The run's own policy for undecided data (`[sla] insufficient_data = "pass"`), from its summary.
    pub fn undecided_passes(&self) -> bool {
        self.summary.as_ref().is_some_and(|s| s["scenario"]["sla"]["insufficient_data"] == "pass")
    }
}

/// Why one side of a comparison could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{given}: no interval log at {log} (give a results folder, its summary.json, or an .hlog file)")]
    NoLog { given: PathBuf, log: PathBuf },
    #[error(transparent)]
    Log(#[from] hlog::LogError),
    #[error("{path}: {source}")]
    Summary { path: PathBuf, source: std::io::Error },
    #[error("{path}: not JSON: {source}")]
    NotJson { path: PathBuf, source: serde_json::Error },
}

/// Reads a results directory, a summary.json (its folder's latency.hlog is used) or an .hlog file.
pub fn load(path: &Path) -> Result<Side, LoadError> {
    let (hlog_path, summary_path): (PathBuf, Option<PathBuf>) = if path.is_dir() {
        (path.join("latency.hlog"), Some(path.join("summary.json")))
    } else if path.extension().is_some_and(|e| e == "json") {
        let dir = path.parent().unwrap_or(Path::new("."));
        (dir.join("latency.hlog"), Some(path.to_path_buf()))
    } else {
        (path.to_path_buf(), None)
    };
    if !hlog_path.exists() {
        return Err(LoadError::NoLog { given: path.to_path_buf(), log: hlog_path });
    }
    let log = hlog::read(&hlog_path)?;
    let summary = match summary_path.filter(|p| p.exists()) {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|source| LoadError::Summary { path: p.clone(), source })?;
            Some(serde_json::from_str(&text).map_err(|source| LoadError::NotJson { path: p.clone(), source })?)
        }
        None => None,
    };
    Ok(Side { label: path.display().to_string(), log, summary })
}

pub use crate::scenario::Tolerances;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Regressed,
    Improved,
    NoSignificantChange,
    /// Too few intervals to estimate the noise.
    InsufficientData,
}

impl Change {
    pub fn text(&self) -> &'static str {
        match self {
            Change::Regressed => "regressed",
            Change::Improved => "improved",
            Change::NoSignificantChange => "no significant change",
            Change::InsufficientData => "insufficient data",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    pub metric: String,
    pub before: f64,
    pub after: f64,
    /// after − before (ms, or percentage points for availability).
    pub delta: f64,
    /// after / before − 1 (latency only).
    pub relative: Option<f64>,
    /// 95% interval of the relative change (latency) or of the difference in points (availability).
    pub ci: Option<(f64, f64)>,
    pub tolerance: Option<f64>,
    pub change: Change,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub before: String,
    pub after: String,
    pub rows: Vec<MetricRow>,
    /// Per-tier p99 where both runs have the tier, judged like the overall p99.
    pub tiers: Vec<MetricRow>,
    /// Some metric is worse beyond its tolerance and the noise (and neither run was generator-bound).
    pub regressed: bool,
    /// Some metric could not be judged: too few whole intervals on a side.
    pub insufficient_data: bool,
    /// The sides whose generator fell behind ("before", "after"): no regression is called then.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generator_bound: Vec<String>,
}

impl Comparison {
    /// 3 either run was generator-bound (the change may be the generator's); 1 regressed, or a metric could
    /// not be judged (unless `undecided_passes`, as for the SLA verdict); 0 otherwise.
    pub fn exit_code(&self, undecided_passes: bool) -> u8 {
        if !self.generator_bound.is_empty() {
            3
        } else if self.regressed || (self.insufficient_data && !undecided_passes) {
            1
        } else {
            0
        }
    }

    /// The conclusion in one line.
    pub fn conclusion(&self) -> String {
        if !self.generator_bound.is_empty() {
            format!(
                "NOT JUDGED: the generator fell behind on the {} run, so a change may be its own; rerun with \
                 less load per process or on a quieter machine",
                self.generator_bound.join(" and ")
            )
        } else if self.regressed {
            "REGRESSED: at least one metric is worse beyond its tolerance and the noise".into()
        } else if self.insufficient_data {
            format!("INSUFFICIENT DATA: fewer than {MIN_INTERVALS} whole one-second intervals on a side; run longer")
        } else {
            "no regression".into()
        }
    }
}

/// The quantiles compared, with their names.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999)];
const RESAMPLES: usize = 1000;
/// Fewer one-second intervals than this on either side: too few to estimate the noise, so no verdict.
pub const MIN_INTERVALS: usize = 5;

pub fn compare(before: &Side, after: &Side, tol: &Tolerances) -> Comparison {
    let mut rows = Vec::new();
    let boot = Bootstrap::of_series(before, after, hlog::OVERALL);
    let cis = boot.relative_cis();
    let (points_b, points_a) = (boot.points(0), boot.points(1));
    for (i, (name, _)) in QUANTILES.iter().enumerate() {
        let ci = cis.as_ref().map(|c| c[i]);
        rows.push(latency_row(name, points_b[i], points_a[i], ci, tol.latency.get(*name).copied()));
    }
    rows.push(latency_row("max", boot.max(0), boot.max(1), None, None));
    if let (Some(sb), Some(sa)) = (&before.summary, &after.summary) {
        if let (Some(cb), Some(ca)) = (counts(sb), counts(sa)) {
            let availability = availability_row(cb, ca, tol.availability_pp);
            // The error rate is availability's complement: the same test, the same verdict.
            let error_rate = MetricRow {
                metric: "error rate".into(),
                before: 100.0 - availability.before,
                after: 100.0 - availability.after,
                delta: -availability.delta,
                relative: None,
                ci: availability.ci.map(|(lo, hi)| (-hi, -lo)),
                tolerance: availability.tolerance,
                change: availability.change,
            };
            rows.extend([availability, error_rate]);
        }
    }
    // Each tier's p99 with its own bootstrap interval and the p99 tolerance, as the overall p99.
    let p99 = QUANTILES.iter().position(|(n, _)| *n == "p99").unwrap_or(2);
    let mut tiers = Vec::new();
    for tag in before.log.series.keys().filter(|t| t.starts_with("tier.") && after.log.series.contains_key(*t)) {
        let boot = Bootstrap::of_series(before, after, tag);
        let ci = boot.relative_cis().map(|c| c[p99]);
        let name = format!("{} p99", &tag[5..]);
        tiers.push(latency_row(&name, boot.points(0)[p99], boot.points(1)[p99], ci, tol.latency.get("p99").copied()));
    }
    let generator_bound: Vec<String> = [("before", before), ("after", after)]
        .into_iter()
        .filter(|(_, side)| side.generator_bound())
        .map(|(label, _)| label.to_string())
        .collect();
    let all = || rows.iter().chain(&tiers);
    let regressed = generator_bound.is_empty() && all().any(|r| r.change == Change::Regressed);
    let insufficient_data = all().any(|r| r.change == Change::InsufficientData);
    Comparison {
        before: before.label.clone(),
        after: after.label.clone(),
        rows,
        tiers,
        regressed,
        insufficient_data,
        generator_bound,
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn latency_row(name: &str, before: f64, after: f64, ci: Option<(f64, f64)>, tolerance: Option<f64>) -> MetricRow {
    let relative = (before > 0.0).then(|| after / before - 1.0);
    let change = match (relative, ci, tolerance) {
        (Some(r), Some((lo, hi)), Some(t)) => {
            if r > t && lo > 0.0 {
                Change::Regressed
            } else if r < -t && hi < 0.0 {
                Change::Improved
            } else {
                Change::NoSignificantChange
            }
        }
        (_, None, Some(_)) => Change::InsufficientData,
        _ => Change::NoSignificantChange,
    };
    MetricRow { metric: name.into(), before, after, delta: after - before, relative, ci, tolerance, change }
}

/// (ok, total) from a summary.json.
fn counts(summary: &serde_json::Value) -> Option<(f64, f64)> {
    Some((summary["counts"]["ok"].as_f64()?, summary["counts"]["total"].as_f64()?))
}

fn availability_row((ok_b, n_b): (f64, f64), (ok_a, n_a): (f64, f64), tolerance_pp: f64) -> MetricRow {
    let (pb, pa) = (ok_b / n_b.max(1.0), ok_a / n_a.max(1.0));
    let delta_pp = (pa - pb) * 100.0;
    // Two-proportion z-test with the pooled proportion; the 95% interval of the difference uses each side's own.
    let se = ((pb * (1.0 - pb) / n_b.max(1.0)) + (pa * (1.0 - pa) / n_a.max(1.0))).sqrt() * 100.0;
    let ci = (delta_pp - 1.96 * se, delta_pp + 1.96 * se);
    let change = if n_b < 1.0 || n_a < 1.0 {
        Change::InsufficientData
    } else if delta_pp < -tolerance_pp && ci.1 < 0.0 {
        Change::Regressed
    } else if delta_pp > tolerance_pp && ci.0 > 0.0 {
        Change::Improved
    } else {
        Change::NoSignificantChange
    };
    MetricRow {
        metric: "availability".into(),
        before: pb * 100.0,
        after: pa * 100.0,
        delta: delta_pp,
        relative: None,
        ci: Some(ci),
        tolerance: Some(tolerance_pp),
        change,
    }
}

fn series<'a>(side: &'a Side, tag: &str) -> &'a [hlog::Interval] {
    side.log.series.get(tag).map(Vec::as_slice).unwrap_or_default()
}

fn histograms(intervals: &[hlog::Interval]) -> Vec<&Histogram<u64>> {
    intervals.iter().map(|i| &i.histogram).collect()
}

/// Intervals that end within a run of `duration_s` (all of them when the length is not known).
fn whole_intervals(intervals: &[hlog::Interval], duration_s: Option<f64>) -> usize {
    match duration_s {
        Some(d) => intervals.iter().filter(|i| (i.start + i.length).as_secs_f64() <= d + 1e-6).count(),
        None => intervals.len(),
    }
}

fn cell(v: f64, availability: bool) -> String {
    if availability {
        format!("{v:.3}%")
    } else if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else {
        format!("{v:.2}ms")
    }
}

fn row_cells(r: &MetricRow) -> [String; 7] {
    let availability = r.metric == "availability" || r.metric == "error rate";
    let delta = if availability { format!("{:+.3}pp", r.delta) } else { format!("{:+.2}ms", r.delta) };
    let relative = r.relative.map(|x| format!("{:+.1}%", x * 100.0)).unwrap_or_default();
    let ci = match (r.ci, availability) {
        (Some((lo, hi)), true) => format!("[{lo:+.3}, {hi:+.3}]pp"),
        (Some((lo, hi)), false) => format!("[{:+.1}%, {:+.1}%]", lo * 100.0, hi * 100.0),
        (None, _) => String::new(),
    };
    [
        r.metric.clone(),
        cell(r.before, availability),
        cell(r.after, availability),
        delta,
        relative,
        ci,
        r.change.text().into(),
    ]
}

const HEADINGS: [&str; 7] = ["metric", "before", "after", "delta", "relative", "95% interval", "verdict"];

/// The comparison as a terminal table.
pub fn terminal(c: &Comparison) -> String {
    let mut out = format!("\nslacheck compare\n  before: {}\n  after:  {}\n\n", c.before, c.after);
    let rows = std::iter::once(HEADINGS.map(String::from)).chain(c.rows.iter().chain(&c.tiers).map(row_cells));
    for [m, b, a, d, r, ci, v] in rows {
        let _ = writeln!(out, "  {m:<16}{b:>11}{a:>11}{d:>12}{r:>9}{ci:>20}  {v}");
    }
    let _ = writeln!(out, "\n  {}", c.conclusion());
    out
}

/// The comparison as a Markdown table.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "### slacheck compare — {}\n\nbefore: `{}`  \nafter: `{}`\n\n| {} |\n|---|---:|---:|---:|---:|---:|---|\n",
        match c.exit_code(false) {
            0 => format!("✅ {}", c.conclusion()),
            _ if c.regressed => format!("❌ {}", c.conclusion()),
            _ => format!("⚠️ {}", c.conclusion()),
        },
        c.before,
        c.after,
        HEADINGS.join(" | ")
    );
    for r in c.rows.iter().chain(&c.tiers) {
        let _ = writeln!(out, "| {} |", row_cells(r).join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, LogNormal};

    /// A log of `seconds` intervals of `per_second` lognormal latencies (median 20 ms) times `scale`.
    fn side(seed: u64, seconds: usize, per_second: usize, scale: f64) -> Side {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let dist = LogNormal::new((20_000f64).ln(), 0.6).unwrap();
        let mut log = Log::default();
        for s in 0..seconds {
            let mut h = crate::measure::new_histogram();
            for _ in 0..per_second {
                h.record((dist.sample(&mut rng) * scale) as u64).unwrap();
            }
            log.series.entry(String::new()).or_default().push(hlog::Interval {
                start: std::time::Duration::from_secs(s as u64),
                length: std::time::Duration::from_secs(1),
                histogram: h,
            });
        }
        Side { label: format!("seed {seed}"), log, summary: None }
    }

    fn change(c: &Comparison, metric: &str) -> Change {
        c.rows.iter().find(|r| r.metric == metric).unwrap().change
    }

    #[test]
    fn identical_runs_show_no_change() {
        let a = side(1, 30, 400, 1.0);
        let c = compare(&a, &a, &Tolerances::default());
        assert!(!c.regressed);
        for r in &c.rows {
            assert_eq!(r.delta, 0.0);
            assert!(matches!(r.change, Change::NoSignificantChange));
        }
    }

    #[test]
    fn a_thirty_percent_slowdown_is_a_regression_and_the_reverse_an_improvement() {
        let (before, after) = (side(1, 30, 400, 1.0), side(2, 30, 400, 1.3));
        let c = compare(&before, &after, &Tolerances::default());
        assert!(c.regressed);
        assert_eq!(change(&c, "p99"), Change::Regressed);
        assert_eq!(change(&c, "p50"), Change::Regressed);
        let r = compare(&after, &before, &Tolerances::default());
        assert_eq!(change(&r, "p99"), Change::Improved);
        assert!(!r.regressed);
    }

    #[test]
    fn noise_between_runs_of_the_same_scenario_raises_no_alarm() {
        for seed in 0..10 {
            let c = compare(&side(100 + seed, 30, 400, 1.0), &side(200 + seed, 30, 400, 1.0), &Tolerances::default());
            assert!(!c.regressed, "false alarm at seed {seed}: {:?}", c.rows);
        }
    }

    #[test]
    fn a_few_intervals_are_not_enough_to_judge() {
        let c = compare(&side(1, MIN_INTERVALS - 1, 400, 1.0), &side(2, 30, 400, 2.0), &Tolerances::default());
        assert_eq!(change(&c, "p99"), Change::InsufficientData);
        assert!(!c.regressed);
    }

    #[test]
    fn availability_is_judged_with_a_proportion_test() {
        let r = availability_row((99_950.0, 100_000.0), (99_700.0, 100_000.0), 0.05);
        assert_eq!(r.change, Change::Regressed);
        let r = availability_row((999.0, 1000.0), (998.0, 1000.0), 0.05);
        assert_eq!(r.change, Change::NoSignificantChange, "1 in 1,000 more errors is within the noise");
    }

    #[test]
    fn tolerances_parse() {
        let t = Tolerances::parse("p99=15%,availability=0.1pp").unwrap();
        assert_eq!((t.latency["p99"], t.availability_pp), (0.15, 0.1));
        assert!(Tolerances::parse("p42=1%").is_err());
        assert!(Tolerances::parse("availability=1%").is_err());
    }

    /// `side`, with a tier `name` whose latencies are `tier_scale` times the overall ones, and a summary.
    fn with_tier(mut s: Side, name: &str, tier_scale: f64, summary: serde_json::Value) -> Side {
        let intervals: Vec<hlog::Interval> = s.log.series[""]
            .iter()
            .map(|i| {
                let mut h = crate::measure::new_histogram();
                for v in i.histogram.iter_recorded() {
                    let value = (v.value_iterated_to() as f64 * tier_scale) as u64;
                    h.record_n(value, v.count_at_value()).unwrap();
                }
                hlog::Interval { histogram: h, ..i.clone() }
            })
            .collect();
        s.log.series.insert(format!("tier.{name}"), intervals);
        s.summary = Some(summary);
        s
    }

    #[test]
    fn a_tier_that_slowed_beyond_its_tolerance_regresses_even_when_the_whole_did_not() {
        let summary = serde_json::json!({ "duration_s": 30.0 });
        let before = with_tier(side(1, 30, 400, 1.0), "fallback", 1.0, summary.clone());
        // The whole is the same distribution; the tier is 25% slower.
        let after = with_tier(side(1, 30, 400, 1.0), "fallback", 1.25, summary);
        let c = compare(&before, &after, &Tolerances::default());
        let tier = &c.tiers[0];
        assert_eq!(tier.metric, "fallback p99");
        assert!((tier.relative.unwrap() - 0.25).abs() < 0.01, "{:?}", tier.relative);
        assert_eq!(tier.tolerance, Some(0.10));
        let (lo, hi) = tier.ci.unwrap();
        assert!(lo > 0.0 && lo < 0.25 && hi > 0.25, "the interval holds +25%: {lo} {hi}");
        assert_eq!(tier.change, Change::Regressed);
        assert_eq!(change(&c, "p99"), Change::NoSignificantChange);
        assert!(c.regressed);
        assert_eq!(c.exit_code(false), 1);
    }

    #[test]
    fn a_generator_bound_side_is_not_judged_and_exits_3() {
        let overloaded = serde_json::json!({ "duration_s": 30.0, "generator": { "overloaded": true } });
        let fine = serde_json::json!({ "duration_s": 30.0, "generator": { "overloaded": false } });
        let before = with_tier(side(1, 30, 400, 1.0), "t", 1.0, fine);
        let after = with_tier(side(2, 30, 400, 1.3), "t", 1.3, overloaded);
        let c = compare(&before, &after, &Tolerances::default());
        assert_eq!(change(&c, "p99"), Change::Regressed, "the rows still show the change");
        assert!(!c.regressed, "but no regression is called");
        assert_eq!(c.generator_bound, ["after"]);
        assert_eq!(c.exit_code(false), 3);
        assert!(c.conclusion().starts_with("NOT JUDGED"), "{}", c.conclusion());
    }

    #[test]
    fn what_cannot_be_judged_fails_unless_the_run_lets_undecided_data_pass() {
        let c = compare(&side(1, 3, 400, 1.0), &side(2, 3, 400, 3.0), &Tolerances::default());
        assert!(c.insufficient_data && !c.regressed);
        assert_eq!((c.exit_code(false), c.exit_code(true)), (1, 0));
        let same = compare(&side(1, 30, 400, 1.0), &side(2, 30, 400, 1.0), &Tolerances::default());
        assert!(!same.insufficient_data);
        assert_eq!(same.exit_code(false), 0);
    }

    #[test]
    fn a_partial_last_interval_is_not_counted_as_a_whole_one() {
        // A 4 s run whose answers ran into a fifth second: five intervals, four of them whole.
        let short = |seed| Side { summary: Some(serde_json::json!({ "duration_s": 4.01 })), ..side(seed, 5, 400, 1.0) };
        let c = compare(&short(1), &side(2, 30, 400, 2.0), &Tolerances::default());
        assert_eq!(change(&c, "p99"), Change::InsufficientData);
        // Five whole seconds are enough.
        let five = |seed| Side { summary: Some(serde_json::json!({ "duration_s": 5.0 })), ..side(seed, 5, 400, 1.0) };
        let c = compare(&five(1), &side(2, 30, 400, 2.0), &Tolerances::default());
        assert_eq!(change(&c, "p99"), Change::Regressed);
        assert_eq!(whole_intervals(&side(1, 5, 1, 1.0).log.series[""], Some(4.01)), 4);
        assert_eq!(whole_intervals(&side(1, 5, 1, 1.0).log.series[""], None), 5);
    }
}
