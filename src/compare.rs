//! Before/after comparison: percentiles side by side, and a regression verdict that knows the noise.
//!
//! Each run's latency comes from its interval log (one histogram per second). The spread of a percentile is
//! estimated by a bootstrap over those intervals: resample each run's seconds with replacement, recompute the
//! percentile from the merged resample, and take the 2.5% and 97.5% points of the relative change. A metric
//! has "regressed" only when its change is past the tolerance *and* the interval excludes no change;
//! "improved" is the mirror; anything else is "no significant change". Availability uses a two-proportion
//! z-test on the summaries' counts.

use crate::hlog::{self, Log};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One side of a comparison.
pub struct Side {
    pub label: String,
    pub log: Log,
    /// The run's summary.json, when there is one.
    pub summary: Option<serde_json::Value>,
}

/// Reads a results directory, a summary.json (its folder's latency.hlog is used) or an .hlog file.
pub fn load(path: &Path) -> Result<Side, String> {
    let (hlog_path, summary_path): (PathBuf, Option<PathBuf>) = if path.is_dir() {
        (path.join("latency.hlog"), Some(path.join("summary.json")))
    } else if path.extension().is_some_and(|e| e == "json") {
        let dir = path.parent().unwrap_or(Path::new("."));
        (dir.join("latency.hlog"), Some(path.to_path_buf()))
    } else {
        (path.to_path_buf(), None)
    };
    if !hlog_path.exists() {
        return Err(format!(
            "{}: no interval log at {} (give a results folder, its summary.json, or an .hlog file)",
            path.display(),
            hlog_path.display()
        ));
    }
    let log = hlog::read(&hlog_path)?;
    let summary = match summary_path.filter(|p| p.exists()) {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            Some(serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", p.display()))?)
        }
        None => None,
    };
    Ok(Side { label: path.display().to_string(), log, summary })
}

/// How much worse a metric may get before it counts as a regression.
#[derive(Debug, Clone)]
pub struct Tolerances {
    /// Relative, by percentile name (`p50`, `p90`, `p99`, `p99.9`).
    pub latency: BTreeMap<String, f64>,
    /// Availability, in percentage points.
    pub availability_pp: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        let latency = [("p50", 0.10), ("p90", 0.10), ("p99", 0.10), ("p99.9", 0.20)];
        Tolerances { latency: latency.iter().map(|(k, v)| (k.to_string(), *v)).collect(), availability_pp: 0.05 }
    }
}

impl Tolerances {
    /// Parses `p99=10%,p99.9=20%,availability=0.05pp` over the defaults.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut t = Tolerances::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| format!("{item:?}: expected METRIC=LIMIT"))?;
            if key == "availability" {
                let pp = value
                    .strip_suffix("pp")
                    .ok_or_else(|| format!("{item:?}: availability takes points, e.g. 0.05pp"))?;
                t.availability_pp = pp.parse().map_err(|_| format!("{item:?}: not a number of points"))?;
            } else if t.latency.contains_key(key) {
                let ratio: crate::units::Ratio = value.parse().map_err(|e| format!("{item:?}: {e}"))?;
                t.latency.insert(key.to_string(), ratio.0);
            } else {
                return Err(format!("{key:?}: unknown metric; use p50, p90, p99, p99.9 or availability"));
            }
        }
        Ok(t)
    }
}

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
    /// Per-tier p99 where both runs have the tier.
    pub tiers: Vec<MetricRow>,
    pub regressed: bool,
}

/// The quantiles compared, with their names.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999)];
const RESAMPLES: usize = 1000;
/// Fewer one-second intervals than this on either side: too few to estimate the noise, so no verdict.
pub const MIN_INTERVALS: usize = 5;

pub fn compare(before: &Side, after: &Side, tol: &Tolerances) -> Comparison {
    let mut rows = Vec::new();
    let empty = Vec::new();
    let b = before.log.series.get(hlog::OVERALL).unwrap_or(&empty);
    let a = after.log.series.get(hlog::OVERALL).unwrap_or(&empty);
    let b_hists: Vec<&Histogram<u64>> = b.iter().map(|i| &i.histogram).collect();
    let a_hists: Vec<&Histogram<u64>> = a.iter().map(|i| &i.histogram).collect();
    let boot = Bootstrap::new(&b_hists, &a_hists);
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
    let mut tiers = Vec::new();
    for tag in before.log.series.keys().filter(|t| t.starts_with("tier.")) {
        if let (Some(hb), Some(ha)) = (before.log.total(tag), after.log.total(tag)) {
            let (vb, va) = (ms(hb.value_at_quantile(0.99)), ms(ha.value_at_quantile(0.99)));
            tiers.push(latency_row(&format!("{} p99", &tag[5..]), vb, va, None, None));
        }
    }
    let regressed = rows.iter().any(|r| r.change == Change::Regressed);
    Comparison { before: before.label.clone(), after: after.label.clone(), rows, tiers, regressed }
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

/// Interval histograms of both runs as sparse counts over one shared, sorted list of values, so that a
/// resample is a sum of small vectors rather than of whole histograms.
struct Bootstrap {
    values: Vec<u64>,
    /// [run][interval] → (value index, count)
    intervals: [Vec<Vec<(u32, u64)>>; 2],
}

impl Bootstrap {
    fn new(before: &[&Histogram<u64>], after: &[&Histogram<u64>]) -> Self {
        let mut values: Vec<u64> = before
            .iter()
            .chain(after)
            .flat_map(|h| h.iter_recorded().map(|v| h.highest_equivalent(v.value_iterated_to())))
            .collect();
        values.sort_unstable();
        values.dedup();
        let sparse = |hs: &[&Histogram<u64>]| -> Vec<Vec<(u32, u64)>> {
            hs.iter()
                .map(|h| {
                    h.iter_recorded()
                        .map(|v| {
                            let value = h.highest_equivalent(v.value_iterated_to());
                            (values.binary_search(&value).unwrap_or(0) as u32, v.count_at_value())
                        })
                        .collect()
                })
                .collect()
        };
        let intervals = [sparse(before), sparse(after)];
        Bootstrap { values, intervals }
    }

    /// Every one of [`QUANTILES`] in one pass over the counts.
    fn quantiles(&self, counts: &[u64]) -> [f64; QUANTILES.len()] {
        let total: u64 = counts.iter().sum();
        let mut out = [0.0; QUANTILES.len()];
        if total == 0 {
            return out;
        }
        let ranks = QUANTILES.map(|(_, q)| ((q * total as f64).ceil() as u64).max(1));
        let (mut seen, mut next) = (0u64, 0usize);
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            while next < ranks.len() && seen >= ranks[next] {
                out[next] = ms(self.values[i]);
                next += 1;
            }
            if next == ranks.len() {
                break;
            }
        }
        out
    }

    fn merged(&self, run: usize, picks: impl Iterator<Item = usize>) -> Vec<u64> {
        let mut counts = vec![0u64; self.values.len()];
        for i in picks {
            for (idx, c) in &self.intervals[run][i] {
                counts[*idx as usize] += c;
            }
        }
        counts
    }

    /// [`QUANTILES`] of a whole run.
    fn points(&self, run: usize) -> [f64; QUANTILES.len()] {
        self.quantiles(&self.merged(run, 0..self.intervals[run].len()))
    }

    fn max(&self, run: usize) -> f64 {
        let counts = self.merged(run, 0..self.intervals[run].len());
        counts.iter().rposition(|c| *c > 0).map(|i| ms(self.values[i])).unwrap_or(0.0)
    }

    /// 95% bootstrap intervals of after/before − 1 for each of [`QUANTILES`] (all from the same resamples);
    /// None with fewer than [`MIN_INTERVALS`] intervals a side.
    fn relative_cis(&self) -> Option<[(f64, f64); QUANTILES.len()]> {
        let (nb, na) = (self.intervals[0].len(), self.intervals[1].len());
        if nb < MIN_INTERVALS || na < MIN_INTERVALS {
            return None;
        }
        // Seeded: the same two runs always give the same verdict.
        let mut rng = Pcg64Mcg::seed_from_u64(0x5eed);
        let mut ratios: [Vec<f64>; QUANTILES.len()] = Default::default();
        for _ in 0..RESAMPLES {
            let b = self.quantiles(&self.merged(0, (0..nb).map(|_| rng.random_range(0..nb))));
            let a = self.quantiles(&self.merged(1, (0..na).map(|_| rng.random_range(0..na))));
            for (i, (qb, qa)) in b.iter().zip(&a).enumerate() {
                if *qb > 0.0 {
                    ratios[i].push(qa / qb - 1.0);
                }
            }
        }
        let mut out = [(0.0, 0.0); QUANTILES.len()];
        for (i, r) in ratios.iter_mut().enumerate() {
            if r.is_empty() {
                return None;
            }
            r.sort_by(f64::total_cmp);
            let at = |p: f64| r[((p * (r.len() - 1) as f64).round() as usize).min(r.len() - 1)];
            out[i] = (at(0.025), at(0.975));
        }
        Some(out)
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
    let _ = writeln!(
        out,
        "\n  {}",
        if c.regressed {
            "REGRESSED: at least one metric is worse beyond its tolerance and the noise"
        } else {
            "no regression"
        }
    );
    out
}

/// The comparison as a Markdown table.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "### slacheck compare — {}\n\nbefore: `{}`  \nafter: `{}`\n\n| {} |\n|---|---:|---:|---:|---:|---:|---|\n",
        if c.regressed { "❌ regressed" } else { "✅ no regression" },
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
}
