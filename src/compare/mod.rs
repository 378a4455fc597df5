//! Before/after comparison: percentiles side by side, and a regression verdict that knows the noise.
//!
//! Each run's latency comes from its interval log (one histogram per second). The spread of a percentile is
//! estimated by a bootstrap over those intervals: resample each run's seconds with replacement, recompute the
//! percentile from the merged resample, and take the 2.5% and 97.5% points of the relative change. A metric
//! has "regressed" only when its change is past the tolerance *and* the interval excludes no change;
//! "improved" is the mirror; a change the interval separates from none but within the tolerance is "within
//! tolerance"; anything else is "no significant change". Availability compares the summaries'
//! counts with Newcombe's interval for a difference of two proportions.

mod bootstrap;
mod pairing;

use crate::hlog::{self, Log};
use crate::sla::wilson;
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
    /// A real change (the interval excludes none), within the tolerance: not a regression, nor noise.
    WithinTolerance,
    /// Too few intervals to estimate the noise.
    InsufficientData,
}

impl Change {
    pub fn text(&self) -> &'static str {
        match self {
            Change::Regressed => "regressed",
            Change::Improved => "improved",
            Change::NoSignificantChange => "no significant change",
            Change::WithinTolerance => "within tolerance",
            Change::InsufficientData => "insufficient data",
        }
    }
}

/// compare.json's `outcome`: exit 0 no regression, 1 regressed (and insufficient data, unless the after run's
/// `[sla] insufficient_data = "pass"`), 3 not judged (a side interrupted, or its generator fell behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompareOutcome {
    NoRegression,
    Regressed,
    InsufficientData,
    NotJudged,
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
    /// The conclusion in one word, as the exit code reads it: the single field a script checks.
    pub outcome: CompareOutcome,
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
    /// The sides that were interrupted (`"complete": false`): not judged unless `incomplete_allowed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
    /// Interrupted sides are judged anyway (`--allow-incomplete`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete_allowed: bool,
    /// Both runs are the same test (scenario name, profile and rate, target, SLA targets); `None` when a side has
    /// no summary.json to tell. A pair that is not is still judged, with a warning.
    pub comparable: Option<bool>,
    /// What differs between the two tests, one phrase per aspect.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

impl Comparison {
    /// Judges interrupted sides too (`--allow-incomplete`): their numbers cover only the part that ran.
    pub fn allowing_incomplete(mut self) -> Self {
        self.incomplete_allowed = true;
        self.regressed = self.judged() && self.rows.iter().chain(&self.tiers).any(|r| r.change == Change::Regressed);
        self.outcome = self.settled();
        self
    }

    fn settled(&self) -> CompareOutcome {
        if !self.judged() {
            CompareOutcome::NotJudged
        } else if self.regressed {
            CompareOutcome::Regressed
        } else if self.insufficient_data {
            CompareOutcome::InsufficientData
        } else {
            CompareOutcome::NoRegression
        }
    }

    /// Whether a regression can be called: no side's generator fell behind, and no side was interrupted (or
    /// that is allowed).
    fn judged(&self) -> bool {
        self.generator_bound.is_empty() && !self.incomplete_refused()
    }

    fn incomplete_refused(&self) -> bool {
        !self.incomplete.is_empty() && !self.incomplete_allowed
    }

    /// 3 a run was interrupted (unless allowed) or generator-bound (the change may be the generator's); 1
    /// regressed, or a metric could not be judged (unless `undecided_passes`, as for the SLA verdict); 0
    /// otherwise.
    pub fn exit_code(&self, undecided_passes: bool) -> u8 {
        if !self.judged() {
            3
        } else if self.regressed || (self.insufficient_data && !undecided_passes) {
            1
        } else {
            0
        }
    }

    /// What the reader must know before trusting the conclusion: the runs are not the same test, or one was
    /// interrupted and judged anyway.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.comparable == Some(false) {
            warnings.push(format!("these runs are not the same test: {}", self.differences.join("; ")));
        }
        if self.incomplete_allowed && !self.incomplete.is_empty() {
            warnings.push(format!(
                "the {} run was interrupted: its numbers cover only the part that ran (judged: --allow-incomplete)",
                self.incomplete.join(" and ")
            ));
        }
        warnings
    }

    /// The conclusion in one line.
    pub fn conclusion(&self) -> String {
        if self.incomplete_refused() {
            format!(
                "NOT JUDGED: the {} run was interrupted (\"complete\": false), so it covers only part of its \
                 schedule; run it again, or pass --allow-incomplete to judge it anyway",
                self.incomplete.join(" and ")
            )
        } else if !self.generator_bound.is_empty() {
            format!(
                "NOT JUDGED: the generator fell behind on the {} run, so a change may be its own; rerun with \
                 less load per process or on a quieter machine",
                self.generator_bound.join(" and ")
            )
        } else if self.regressed {
            let worse: Vec<String> = self
                .rows
                .iter()
                .chain(&self.tiers)
                .filter(|r| r.change == Change::Regressed)
                .map(MetricRow::regression)
                .collect();
            format!("REGRESSED beyond tolerance and noise: {}", worse.join(", "))
        } else if self.insufficient_data {
            format!("INSUFFICIENT DATA: fewer than {MIN_INTERVALS} whole one-second intervals on a side; run longer")
        } else {
            "no regression".into()
        }
    }
}

/// The quantiles compared, with their names.
const QUANTILES: [(&str, f64); 5] = [("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999)];
/// Where p99 is in [`QUANTILES`]: tiers are compared on it.
const P99: usize = 3;
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
    let p99 = P99;
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
    let incomplete = pairing::incomplete(before, after);
    let differences = pairing::differences(before, after);
    let all = || rows.iter().chain(&tiers);
    let judged = generator_bound.is_empty() && incomplete.is_empty();
    let regressed = judged && all().any(|r| r.change == Change::Regressed);
    let insufficient_data = all().any(|r| r.change == Change::InsufficientData);
    let mut comparison = Comparison {
        outcome: CompareOutcome::NotJudged,
        before: before.label.clone(),
        after: after.label.clone(),
        rows,
        tiers,
        regressed,
        insufficient_data,
        generator_bound,
        incomplete,
        incomplete_allowed: false,
        comparable: differences.as_ref().map(Vec::is_empty),
        differences: differences.unwrap_or_default(),
    };
    comparison.outcome = comparison.settled();
    comparison
}

impl MetricRow {
    /// What a regressed row says in the conclusion: its change against its tolerance, e.g. "p99 +14.2% (tolerance
    /// 10%)", "availability -0.500pp (tolerance 0.05pp)".
    fn regression(&self) -> String {
        let tolerance = self.tolerance.unwrap_or_default();
        match self.relative {
            Some(r) => {
                format!("{} {}% (tolerance {}%)", self.metric, signed(r * 100.0, 1), round_pct(tolerance * 100.0))
            }
            None => format!("{} {}pp (tolerance {}pp)", self.metric, signed(self.delta, 3), round_pct(tolerance)),
        }
    }
}

/// A tolerance as written: "10", "0.05", "2.5".
fn round_pct(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
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
            } else if lo > 0.0 || hi < 0.0 {
                Change::WithinTolerance
            } else {
                Change::NoSignificantChange
            }
        }
        (_, None, Some(_)) => Change::InsufficientData,
        _ => Change::NoSignificantChange,
    };
    MetricRow { metric: name.into(), before, after, delta: after - before, relative, ci, tolerance, change }
}

/// (ok, judged) as the run's own availability counts them: a request its client hung up on purpose is neither
/// (`cancelled`, absent from summaries before hang-ups existed).
fn counts(summary: &serde_json::Value) -> Option<(f64, f64)> {
    let c = &summary["counts"];
    let cancelled = c["cancelled"].as_f64().unwrap_or(0.0);
    Some((c["ok"].as_f64()?, c["total"].as_f64()? - cancelled))
}

fn availability_row((ok_b, n_b): (f64, f64), (ok_a, n_a): (f64, f64), tolerance_pp: f64) -> MetricRow {
    let (pb, pa) = (ok_b / n_b.max(1.0), ok_a / n_a.max(1.0));
    let delta_pp = (pa - pb) * 100.0;
    let (lo, hi) = newcombe((ok_b, n_b), (ok_a, n_a));
    let ci = (lo * 100.0, hi * 100.0);
    let change = if n_b < 1.0 || n_a < 1.0 {
        Change::InsufficientData
    } else if delta_pp < -tolerance_pp && ci.1 < 0.0 {
        Change::Regressed
    } else if delta_pp > tolerance_pp && ci.0 > 0.0 {
        Change::Improved
    } else if ci.0 > 0.0 || ci.1 < 0.0 {
        Change::WithinTolerance
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

/// The 95% interval of after − before for two proportions: Newcombe's hybrid score interval, built from each
/// side's Wilson interval. Unlike the textbook Wald interval, it stays honest near 100%, where availability
/// lives: a side with no failure still has a width, so 1,000 clean requests against 995 of 1,000 is not
/// "certain". The change counts when the interval excludes zero.
fn newcombe((ok_b, n_b): (f64, f64), (ok_a, n_a): (f64, f64)) -> (f64, f64) {
    let (pb, pa) = (ok_b / n_b.max(1.0), ok_a / n_a.max(1.0));
    let ((lb, ub), (la, ua)) = (wilson(ok_b as u64, n_b as u64), wilson(ok_a as u64, n_a as u64));
    let d = pa - pb;
    (d - ((pa - la).powi(2) + (ub - pb).powi(2)).sqrt(), d + ((ua - pa).powi(2) + (pb - lb).powi(2)).sqrt())
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

/// `v` with its sign and `decimals` decimals; a value that rounds to zero is `+0.000`, never `-0.000`.
fn signed(v: f64, decimals: usize) -> String {
    let text = format!("{v:+.decimals$}");
    if text[1..].chars().all(|c| c == '0' || c == '.') {
        format!("{:+.decimals$}", 0.0)
    } else {
        text
    }
}

fn row_cells(r: &MetricRow) -> [String; 7] {
    let availability = r.metric == "availability" || r.metric == "error rate";
    let delta = if availability { format!("{}pp", signed(r.delta, 3)) } else { format!("{}ms", signed(r.delta, 2)) };
    let relative = r.relative.map(|x| format!("{}%", signed(x * 100.0, 1))).unwrap_or_default();
    let ci = match (r.ci, availability) {
        (Some((lo, hi)), true) => format!("[{}, {}]pp", signed(lo, 3), signed(hi, 3)),
        (Some((lo, hi)), false) => format!("[{}%, {}%]", signed(lo * 100.0, 1), signed(hi * 100.0, 1)),
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
    let mut out = format!("\nslacheck compare\n  before: {}\n  after:  {}\n", c.before, c.after);
    for warning in c.warnings() {
        let _ = writeln!(out, "  WARNING: {warning}");
    }
    out.push('\n');
    let rows = std::iter::once(HEADINGS.map(String::from)).chain(c.rows.iter().chain(&c.tiers).map(row_cells));
    for [m, b, a, d, r, ci, v] in rows {
        // One space at least between columns, so that a wide value never runs into its neighbour.
        let _ = writeln!(out, "  {m:<15} {b:>10} {a:>10} {d:>11} {r:>8} {ci:>19}  {v}");
    }
    let _ = writeln!(out, "\n  {}", c.conclusion());
    out
}

/// The comparison as a Markdown table.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "### slacheck compare — {}\n\nbefore: `{}`  \nafter: `{}`\n\n",
        match c.exit_code(false) {
            0 => format!("✅ {}", c.conclusion()),
            _ if c.regressed => format!("❌ {}", c.conclusion()),
            _ => format!("⚠️ {}", c.conclusion()),
        },
        c.before,
        c.after,
    );
    for warning in c.warnings() {
        let _ = writeln!(out, "> ⚠️ Warning: {warning}\n");
    }
    let _ = writeln!(out, "| {} |\n|---|---:|---:|---:|---:|---:|---|", HEADINGS.join(" | "));
    for r in c.rows.iter().chain(&c.tiers) {
        let _ = writeln!(out, "| {} |", row_cells(r).join(" | "));
    }
    out
}

#[cfg(test)]
mod tests;
