//! What a run tells, one output per file behind one entry point ([`write_reports`]), as ripgrep's printer:
//!
//! - [`summary`] — summary.json, the schema every other output reads from;
//! - [`goodput`] — summary.json's goodput and token throughput;
//! - [`sessions`] — summary.json's conversations: sessions, and latency by turn number;
//! - [`reconcile`] — the gateway's own counters (`[[scrape]]`) against slacheck's counts;
//! - [`shown`] — the series `[[scrape]] show` chose: the timeline's panels and charts of them;
//! - [`text`] — how numbers, targets and the verdict read, shared by the text outputs;
//! - [`failover`] — how scheduled outages, observed episodes and isolated errors read (one vocabulary);
//! - [`terminal`] — the terminal summary;
//! - [`markdown`] — summary.md, with `measured`'s tables of streams, goodput and tokens;
//! - [`junit`] — junit.xml;
//! - [`html`] — report.html, self-contained and interactive (charts by the vendored uPlot);
//! - [`prometheus`] — the live metrics' text exposition (`run --metrics-addr`).
//!
//! Plots are drawn by `plot`, the interval log by `hlog`; atomic writes come from `outdir`.

pub mod buckets;
pub mod failover;
pub mod goodput;
pub mod html;
pub mod junit;
pub mod markdown;
mod measured;
pub mod prometheus;
pub mod reconcile;
pub mod sessions;
pub mod shown;
pub mod summary;
pub mod terminal;
pub mod text;

#[allow(unused_imports)]
use failover::*;
pub use html::html;
pub use junit::junit;
pub use markdown::markdown;
pub(crate) use slacheck_common::units::fmt_ms;
pub use summary::*;
pub use terminal::{terminal, warnings, Detail};
pub use text::verdict_text;
#[allow(unused_imports)]
use text::*;

use crate::measure::{ms, Counts, Group, OutageStats, RunResult, TimelineRow};
use crate::scenario::Scenario;
use crate::sla::Verdict;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use crate::outdir::write_atomic;

/// Which report files to write (`--format json,hlog,parquet,svg,png,junit,md,html`); summary.json and
/// measurements.json are always written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats {
    pub hlog: bool,
    /// requests.parquet, every request's record.
    pub parquet: bool,
    pub svg: bool,
    pub png: bool,
    pub junit: bool,
    pub md: bool,
    pub html: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats { hlog: true, parquet: true, svg: true, png: true, junit: true, md: true, html: true }
    }
}

impl std::str::FromStr for Formats {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut f =
            Formats { hlog: false, parquet: false, svg: false, png: false, junit: false, md: false, html: false };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "json" => {}
                "hlog" => f.hlog = true,
                "parquet" => f.parquet = true,
                "svg" => f.svg = true,
                "png" => f.png = true,
                "junit" => f.junit = true,
                "md" => f.md = true,
                "html" => f.html = true,
                "all" => f = Formats::default(),
                other => {
                    return Err(format!(
                        "unknown format {other:?}; use json, hlog, parquet, svg, png, junit, md, html or all"
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// The histograms the plots need, from a finished run or from a saved interval log.
pub struct PlotInputs {
    pub latency: Histogram<u64>,
    pub service_time: Histogram<u64>,
    /// Each tier's served requests, end to end.
    pub tiers: Vec<(String, Histogram<u64>)>,
}

impl PlotInputs {
    pub fn of_run(result: &RunResult) -> Self {
        PlotInputs {
            latency: result.latency.clone(),
            service_time: result.service_time.clone(),
            tiers: result.tiers.iter().map(|(n, t)| (n.clone(), t.served.latency.clone())).collect(),
        }
    }

    /// From a run's latency.hlog (the same histograms, added up from its intervals).
    pub fn of_log(log: &crate::hlog::Log, summary: &Summary) -> Self {
        let total = |tag: &str| log.total(tag).unwrap_or_else(crate::measure::new_histogram);
        PlotInputs {
            latency: total(crate::hlog::OVERALL),
            service_time: total("service"),
            tiers: summary.tiers.iter().map(|t| (t.name.clone(), total(&format!("tier.{}", t.name)))).collect(),
        }
    }
}

/// Why a report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

/// Writes a run's report files into `dir`, as `formats` says. summary.json is written by the caller, first, and
/// never again by this (so `slacheck report DIR` leaves it byte for byte as the run wrote it).
pub fn write_reports(dir: &Path, summary: &Summary, plots: &PlotInputs, formats: &Formats) -> Result<(), ReportError> {
    let io = |name: &'static str| move |source| ReportError::Write { path: dir.join(name), source };
    if formats.junit {
        write_atomic(&dir.join("junit.xml"), junit(summary).as_bytes()).map_err(io("junit.xml"))?;
    }
    if formats.md {
        write_atomic(&dir.join("summary.md"), markdown(summary).as_bytes()).map_err(io("summary.md"))?;
    }
    if formats.svg || formats.png {
        use crate::plot::{render, Chart};
        let scenario = &summary.scenario;
        let limits = scenario
            .sla
            .overall()
            .latency()
            .into_iter()
            .map(|(n, q, l)| (n.to_string(), q, l.as_secs_f64() * 1000.0))
            .collect();
        let series = vec![
            ("latency (from intended send)".to_string(), &plots.latency),
            ("service time (from actual send)".to_string(), &plots.service_time),
        ];
        let mut charts = vec![(
            "spectrum",
            Chart::Spectrum { title: format!("{}: latency by percentile", scenario.name), series, limits },
        )];
        let outages = summary.outages.iter().map(|o| (o.start_s, o.end_s)).collect();
        // Failover episodes found from the requests, outages only (an isolated anomaly is one request).
        let episodes = summary.failover_episodes.list.iter().filter(|e| !e.isolated);
        let episodes = episodes.map(|e| (e.start_ms / 1000.0, e.end_ms / 1000.0)).collect();
        let scraped = shown::panels(summary);
        charts.push(("timeline", Chart::Timeline { rows: &summary.timeline, outages, episodes, scraped }));
        if plots.tiers.len() > 1 {
            let series = plots.tiers.iter().map(|(n, h)| (n.clone(), h)).collect();
            let title = format!("{}: latency by serving tier", scenario.name);
            charts.push(("tiers", Chart::Spectrum { title, series, limits: Vec::new() }));
        }
        for (name, chart) in &charts {
            render(dir, name, chart, formats.svg, formats.png)?;
        }
    }
    if formats.html {
        write_atomic(&dir.join("report.html"), html(summary, plots).as_bytes()).map_err(io("report.html"))?;
    }
    Ok(())
}

#[cfg(test)]
mod terminal_tests;

#[cfg(test)]
mod tests {
    use super::cost;

    #[test]
    fn the_seed_cost_table_is_reproduced() {
        // 5M tokens at $0.25/M is $1.25; the same at $10/M is $50.
        assert!((cost(5_000_000, 0, 0.25, 0.25) - 1.25).abs() < 1e-9);
        assert!((cost(2_000_000, 3_000_000, 10.0, 10.0) - 50.0).abs() < 1e-9);
        assert!((cost(1_000, 500, 1.0, 4.0) - 0.003).abs() < 1e-12);
    }
}
