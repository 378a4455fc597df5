//! Sharded runs: which share of the schedule one process sends, when all shards start, and the lossless merge
//! of their results into one run.
//!
//! Shard I of N sends the requests whose number is I modulo N. Every shard draws the same schedule (same
//! profile, same seed), so the shards' requests are exactly the unsharded run's, with the same intended times and
//! request classes; each shard's arrivals are a thinning of the profile. With a shared `--start-at`, the shards'
//! per-second timelines and interval logs line up, and [`merge`] adds them: HdrHistograms add without loss.

use crate::hlog;
use crate::measure::{ms, RunResult};
use crate::report::{self, RunFacts, Summary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

pub use crate::profile::Shard;

/// When the run's clock starts: an RFC 3339 time (`2026-11-25T18:00:00Z`) or seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAt(pub OffsetDateTime);

impl std::str::FromStr for StartAt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
            return Ok(StartAt(t));
        }
        match s.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => {
                let nanos = (secs * 1e9).round() as i128;
                OffsetDateTime::from_unix_timestamp_nanos(nanos).map(StartAt).map_err(|e| format!("`{s}`: {e}"))
            }
            _ => Err(format!(
                "`{s}`: expected an RFC 3339 time such as 2026-11-25T18:00:00Z, or seconds since the Unix epoch"
            )),
        }
    }
}

/// `measurements.json`: everything a run measured, histograms included, so that runs can be merged exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurements {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub facts: RunFacts,
    pub result: RunResult,
}

pub const MEASUREMENTS: &str = "measurements.json";

/// Writes `measurements.json` into a results folder, atomically.
pub fn write_measurements(dir: &Path, m: &Measurements) -> std::io::Result<()> {
    let json = serde_json::to_vec(m).map_err(std::io::Error::other)?;
    report::write_atomic(&dir.join(MEASUREMENTS), &json)
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(transparent)]
    Log(hlog::LogError),
    #[error(transparent)]
    Report(report::ReportError),
    #[error("{0}: not a shard (run it with --shard I/N)")]
    NotSharded(PathBuf),
    #[error("{a} and {b} are shards of different runs: {what} differ")]
    Mismatch { a: PathBuf, b: PathBuf, what: &'static str },
    #[error("shard {shard} is given twice: {a} and {b}")]
    Duplicate { shard: Shard, a: PathBuf, b: PathBuf },
    #[error("missing shard{} {} of {count}", if .missing.len() > 1 { "s" } else { "" }, list(.missing))]
    Missing { missing: Vec<u32>, count: u32 },
    #[error("cannot merge: {0}")]
    Merge(String),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// One shard's results folder, read back.
struct ShardDir {
    dir: PathBuf,
    summary: Summary,
    measurements: Measurements,
    shard: Shard,
}

fn read_shard(dir: &Path) -> Result<ShardDir, MergeError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| MergeError::Read { path: path.clone(), message: format!("cannot read: {e}") })
    };
    let bad = |name: &str, e: serde_json::Error| MergeError::Read {
        path: dir.join(name),
        message: format!("not what slacheck writes ({e})"),
    };
    let summary: Summary = serde_json::from_slice(&read("summary.json")?).map_err(|e| bad("summary.json", e))?;
    let measurements: Measurements = serde_json::from_slice(&read(MEASUREMENTS)?).map_err(|e| bad(MEASUREMENTS, e))?;
    let shard = measurements.shard.ok_or_else(|| MergeError::NotSharded(dir.to_path_buf()))?;
    Ok(ShardDir { dir: dir.to_path_buf(), summary, measurements, shard })
}

/// What [`merge`] produced: the merged summary (judged on the whole run) and the folder it wrote.
pub struct Merged {
    pub summary: Summary,
    pub dir: PathBuf,
    pub shards: u32,
}

/// Merges the results folders of shards 0..N-1 of one run into `out`, judges the SLA on the whole, and writes the
/// usual reports there. Refuses shards of different scenarios or start times, a missing shard and a duplicate.
pub fn merge(dirs: &[PathBuf], out: &Path, formats: &report::Formats) -> Result<Merged, MergeError> {
    let shards = dirs.iter().map(|d| read_shard(d)).collect::<Result<Vec<_>, _>>()?;
    let Some(first) = shards.first() else {
        return Err(MergeError::Merge("no shards given".into()));
    };
    let scenario_of = |s: &ShardDir| serde_json::to_value(&s.summary.scenario).unwrap_or_default();
    let count = first.shard.count;
    let mut by_index: BTreeMap<u32, &ShardDir> = BTreeMap::new();
    for s in &shards {
        let mismatch = |what| MergeError::Mismatch { a: first.dir.clone(), b: s.dir.clone(), what };
        if s.shard.count != count {
            return Err(mismatch("their numbers of shards"));
        }
        if scenario_of(s) != scenario_of(first) {
            return Err(mismatch("their scenarios"));
        }
        if s.summary.started_at != first.summary.started_at {
            return Err(mismatch("their start times (give every shard the same --start-at)"));
        }
        if let Some(other) = by_index.insert(s.shard.index, s) {
            return Err(MergeError::Duplicate { shard: s.shard, a: other.dir.clone(), b: s.dir.clone() });
        }
    }
    let missing: Vec<u32> = (0..count).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing, count });
    }

    let mut ordered = by_index.into_values();
    let base = ordered.next().expect("shard 0 is present");
    let mut result = base.measurements.result.clone();
    let mut facts = base.measurements.facts.clone();
    for s in ordered {
        result.merge(&s.measurements.result).map_err(|e| MergeError::Merge(e.to_string()))?;
        facts.complete &= s.measurements.facts.complete;
        facts.mean_rate += s.measurements.facts.mean_rate;
        if let (Some(m), Some(other)) = (&mut facts.machine, &s.measurements.facts.machine) {
            m.not_sent_open_files += other.not_sent_open_files;
            m.not_sent_memory += other.not_sent_memory;
        }
    }
    // The merged whole is not a shard: it says `merged_shards` instead.
    facts.shard = None;
    std::fs::create_dir_all(out).map_err(|e| MergeError::Write { path: out.to_path_buf(), message: e.to_string() })?;

    // The interval logs add interval by interval; the timeline's per-second percentiles come from the sum.
    let logs: Vec<PathBuf> = shards.iter().map(|s| s.dir.join("latency.hlog")).collect();
    if logs.iter().all(|p| p.exists()) {
        let merged = merge_logs(&logs)?;
        if let Some(overall) = merged.series.get(hlog::OVERALL) {
            let by_second: BTreeMap<u64, _> = overall.iter().map(|i| (i.start.as_secs(), &i.histogram)).collect();
            for row in &mut result.timeline {
                if let Some(h) = by_second.get(&row.t_s).filter(|h| !h.is_empty()) {
                    row.p50_ms = Some(ms(h.value_at_quantile(0.50)));
                    row.p99_ms = Some(ms(h.value_at_quantile(0.99)));
                }
            }
        }
        let start = first_start(&first.summary.started_at);
        write_log(&out.join("latency.hlog"), &merged, start, count)?;
    }

    let tail = merge_requests(&shards, out, formats, &first.summary.scenario.sla, &result)?;
    let scenario = &first.summary.scenario;
    let verdict = crate::sla::evaluate(&scenario.sla, &result);
    let mut summary = Summary::new(scenario, &result, verdict, facts.clone());
    summary.merged_shards = Some(count);
    summary.tail = tail;
    let plots = report::PlotInputs::of_run(&result);
    let mut formats = formats.clone();
    formats.hlog = false; // written above
    report::write_summary_json(out, &summary)
        .map_err(|e| MergeError::Write { path: out.join("summary.json"), message: e.to_string() })?;
    report::write_reports(out, &summary, &plots, &formats).map_err(MergeError::Report)?;
    let measurements = Measurements { schema_version: 1, shard: None, facts, result };
    write_measurements(out, &measurements)
        .map_err(|e| MergeError::Write { path: out.join(MEASUREMENTS), message: e.to_string() })?;
    Ok(Merged { summary, dir: out.to_path_buf(), shards: count })
}

/// Every request's row, shard after shard (each keeps the request ids its own run sent), and the tail's
/// attribution read from the merged file.
fn merge_requests(
    shards: &[ShardDir],
    out: &Path,
    formats: &report::Formats,
    sla: &crate::scenario::Sla,
    result: &RunResult,
) -> Result<Option<crate::requests::Tail>, MergeError> {
    let files: Vec<PathBuf> = shards.iter().map(|s| s.dir.join(crate::requests::FILE_NAME)).collect();
    if !formats.parquet || !files.iter().all(|p| p.exists()) {
        return Ok(None);
    }
    let merged = out.join(crate::requests::FILE_NAME);
    crate::requests::concat(&files, &merged)
        .map_err(|e| MergeError::Write { path: merged.clone(), message: e.to_string() })?;
    let settings = crate::requests::TailSettings::of(sla, result);
    Ok(settings.and_then(|s| crate::requests::attribute(&merged, &s).ok()))
}

fn first_start(started_at: &str) -> SystemTime {
    OffsetDateTime::parse(started_at, &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The shards' interval logs added: intervals of the same series and start are summed.
fn merge_logs(paths: &[PathBuf]) -> Result<hlog::Log, MergeError> {
    // By series, then by (start, length): the shards' intervals of the same second meet in one entry.
    let mut sums: BTreeMap<String, BTreeMap<(Duration, Duration), hlog::Interval>> = BTreeMap::new();
    let mut start_time = None;
    for path in paths {
        let log = hlog::read(path).map_err(MergeError::Log)?;
        start_time = start_time.or(log.start_time);
        for (tag, intervals) in log.series {
            let series = sums.entry(tag).or_default();
            for i in intervals {
                match series.get_mut(&(i.start, i.length)) {
                    Some(m) => m.histogram.add(&i.histogram).map_err(|e| MergeError::Merge(format!("{e:?}")))?,
                    None => {
                        series.insert((i.start, i.length), i);
                    }
                }
            }
        }
    }
    let series = sums.into_iter().map(|(tag, s)| (tag, s.into_values().collect())).collect();
    Ok(hlog::Log { start_time, series })
}

fn write_log(path: &Path, log: &hlog::Log, start: SystemTime, shards: u32) -> Result<(), MergeError> {
    let fail = |e: std::io::Error| MergeError::Write { path: path.to_path_buf(), message: e.to_string() };
    let mut sink = hlog::HlogSink::create(path, start, &[format!("Merged from {shards} shards")]).map_err(fail)?;
    // Interval by interval in time order, overall series first, as a run writes them.
    let mut all: Vec<(Duration, &str, &hlog::Interval)> = log
        .series
        .iter()
        .flat_map(|(tag, intervals)| intervals.iter().map(move |i| (i.start, tag.as_str(), i)))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| (!a.1.is_empty()).cmp(&!b.1.is_empty())));
    for (_, tag, i) in all {
        sink.write(&i.histogram, i.start, i.length, tag).map_err(fail)?;
    }
    sink.finish().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_schedule() {
        let shards: Vec<Shard> = (0..7).map(|i| format!("{i}/7").parse().unwrap()).collect();
        for request in 0..10_000u64 {
            assert_eq!(shards.iter().filter(|s| s.keeps(request)).count(), 1, "request {request}");
        }
        assert!("0/1".parse::<Shard>().unwrap().keeps(12345));
    }

    #[test]
    fn bad_shards_are_refused_with_the_reason() {
        for (text, says) in [("3/3", "numbered 0 to 2"), ("1/0", "at least 1"), ("a/4", "expected I/N"), ("2", "I/N")] {
            let e = text.parse::<Shard>().unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn start_times_are_rfc3339_or_epoch_seconds() {
        let a: StartAt = "2026-11-25T18:00:00Z".parse().unwrap();
        let b: StartAt = "1795629600".parse().unwrap();
        assert_eq!(a, b);
        let c: StartAt = "1795629600.5".parse().unwrap();
        assert_eq!((c.0 - a.0).whole_milliseconds(), 500);
        assert!("tomorrow".parse::<StartAt>().unwrap_err().contains("RFC 3339"));
    }
}
