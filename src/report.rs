//! What a run tells: the terminal summary and `summary.json`, written atomically.

use crate::measure::{ms, Counts, RunResult, TimelineRow};
use crate::scenario::Scenario;
use crate::sla::Verdict;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    #[serde(rename = "p99.99")]
    pub p99_99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |x| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(x)) };
        Percentiles {
            count: h.len(),
            min: if h.is_empty() { 0.0 } else { ms(h.min()) },
            mean: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: if h.is_empty() { 0.0 } else { ms(h.max()) },
        }
    }
}

/// Whether the generator kept its schedule.
#[derive(Debug, Clone, Serialize)]
pub struct Generator {
    pub lag_limit_ms: f64,
    /// Dispatcher lag p99 went past the limit: the generator, not the target, may have been the bottleneck.
    pub overloaded: bool,
}

/// The content of `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema_version: u32,
    /// False when the run was interrupted: the numbers cover only the part that ran.
    pub complete: bool,
    pub scenario: Scenario,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    pub duration_s: f64,
    pub counts: Counts,
    pub availability: Option<f64>,
    /// Requests per second the profile asked for, and the rate actually sent.
    pub offered_rate_per_s: f64,
    pub achieved_rate_per_s: f64,
    /// Latency of every sent request (failures and timeouts included), from its intended send time.
    pub latency_ms: Percentiles,
    /// From the actual send: what a closed-loop tool would report.
    pub service_time_ms: Percentiles,
    /// Actual minus intended send time.
    pub lag_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
    pub generator: Generator,
    pub verdict: Verdict,
    pub timeline: Vec<TimelineRow>,
}

impl Summary {
    pub fn new(
        scenario: &Scenario,
        started_at: String,
        result: &RunResult,
        verdict: Verdict,
        complete: bool,
        lag_limit_ms: f64,
    ) -> Self {
        let duration_s = result.elapsed.as_secs_f64().max(1e-9);
        let sent = result.counts.total - result.counts.not_sent;
        let lag = Percentiles::of(&result.lag);
        let planned_s = scenario.load.duration.map(|d| d.0.as_secs_f64()).unwrap_or(duration_s).min(duration_s);
        Summary {
            schema_version: SCHEMA_VERSION,
            complete,
            scenario: scenario.clone(),
            started_at,
            duration_s,
            counts: result.counts,
            availability: result.availability(),
            offered_rate_per_s: result.counts.total as f64 / planned_s.max(1e-9),
            achieved_rate_per_s: sent as f64 / planned_s.max(1e-9),
            latency_ms: Percentiles::of(&result.latency),
            service_time_ms: Percentiles::of(&result.service_time),
            // In closed-loop mode lag is a busy connection waiting for the target, not a slow generator.
            generator: Generator {
                lag_limit_ms,
                overloaded: scenario.load.connections.is_none() && lag.count > 0 && lag.p99 > lag_limit_ms,
            },
            lag_ms: lag,
            errors: result.errors.clone(),
            verdict,
            timeline: result.timeline.clone(),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so readers never see half
/// a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

pub fn write_summary_json(dir: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("summary.json"), &json)
}

fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

fn percentile_line(label: &str, p: &Percentiles) -> String {
    format!(
        "  {label:<9} p50 {:>9}  p90 {:>9}  p99 {:>9}  p99.9 {:>9}  max {:>9}\n",
        fmt_ms(p.p50),
        fmt_ms(p.p90),
        fmt_ms(p.p99),
        fmt_ms(p.p99_9),
        fmt_ms(p.max)
    )
}

/// The human-readable summary printed at the end of a run.
pub fn terminal(summary: &Summary, results_dir: &Path) -> String {
    let mut out = String::new();
    let c = &summary.counts;
    let _ = writeln!(
        out,
        "\nslacheck: {} — {} requests in {:.1}s (offered {:.1}/s, achieved {:.1}/s){}",
        summary.scenario.name,
        c.total,
        summary.duration_s,
        summary.offered_rate_per_s,
        summary.achieved_rate_per_s,
        if summary.complete { "" } else { "  [INCOMPLETE: interrupted]" }
    );
    let _ = writeln!(
        out,
        "  requests  ok {}  error {}  timeout {}  not sent {}  availability {}",
        c.ok,
        c.error,
        c.timeout,
        c.not_sent,
        summary.availability.map(|a| format!("{:.3}%", a * 100.0)).unwrap_or_else(|| "n/a".into())
    );
    if !summary.errors.is_empty() {
        let list: Vec<_> = summary.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "  errors    {}", list.join(", "));
    }
    out.push_str(&percentile_line("latency", &summary.latency_ms));
    out.push_str(&percentile_line("service", &summary.service_time_ms));
    out.push_str(&percentile_line("lag", &summary.lag_ms));
    out.push_str("  (latency counts from each request's intended send time; service time from the actual send)\n");
    if summary.generator.overloaded {
        let _ = writeln!(
            out,
            "  WARNING: dispatcher lag p99 {} is above {}: the generator fell behind its schedule; failures may be its own",
            fmt_ms(summary.lag_ms.p99),
            fmt_ms(summary.generator.lag_limit_ms)
        );
    }
    if !summary.verdict.targets.is_empty() {
        let _ = writeln!(out, "\n  {:<3}{:<14}{:>12}{:>14}", "", "SLA target", "limit", "measured");
        for t in &summary.verdict.targets {
            let mark = if t.passed { "✓" } else { "✗" };
            let (limit, measured) = match (t.measured_ratio, t.measured_ms) {
                (Some(r), _) => (format!("≥ {}", t.limit), format!("{:.3}%", r * 100.0)),
                (_, Some(m)) => (format!("≤ {}", t.limit), fmt_ms(m)),
                _ => (t.limit.clone(), "no data".into()),
            };
            let _ = writeln!(out, "  {mark:<3}{:<14}{limit:>12}{measured:>14}", t.name);
        }
    }
    let failed = summary.verdict.failed().count();
    let verdict = if summary.verdict.targets.is_empty() {
        "NO TARGETS: the scenario's [sla] sets none".to_string()
    } else if failed == 0 {
        format!("PASS: all {} SLA targets held", summary.verdict.targets.len())
    } else {
        format!("FAIL: {failed} of {} SLA targets missed", summary.verdict.targets.len())
    };
    let _ = writeln!(out, "\n  {verdict}\n  results: {}", results_dir.display());
    out
}
