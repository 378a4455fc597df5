//! What a run records besides the counts: the sinks (the interval log, requests.parquet) and what the recorder
//! watches (scheduled outages, SLA windows, the warm-up, the episodes' rules), and the recorder's own thread.

use super::{RunError, RunOptions};
use crate::measure::{IntervalSink, Live, Recorder, RequestSink, SinkError};
use crate::profile::Profile;
use crate::requests::{Tail, TailSettings};
use crate::router::Router;
use crate::scenario::LoadedScenario;
use crate::shard::Shard;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;

/// The files the recorder writes as the run goes, each when `--format` asks for it.
pub(super) struct Sinks {
    hlog: Option<Box<dyn IntervalSink>>,
    requests: Option<Box<dyn RequestSink>>,
}

/// Where the sinks write, to name the file when one fails.
pub(super) struct SinkPaths {
    hlog: PathBuf,
    requests: PathBuf,
}

impl SinkPaths {
    /// A file the recorder could not finish: it was removed, and the verdict stands without it.
    pub(super) fn error(&self, e: SinkError) -> RunError {
        match e {
            SinkError::Intervals(source) => RunError::NotWritten { path: self.hlog.clone(), source },
            SinkError::Requests(source) => RunError::NotWritten { path: self.requests.clone(), source },
        }
    }
}

impl SinkPaths {
    /// Adds each request's failover episode to requests.parquet, now that the episodes are known, and when the
    /// run infers failovers (`infer`), marks those served by another upstream than their class's primary. A file
    /// that cannot be rewritten keeps its rows without the column, with a note: the verdict does not depend on it.
    pub(super) fn label_episodes(&self, episodes: &crate::measure::Episodes, router: &Router, infer: bool) {
        if !self.requests.exists() {
            return;
        }
        let spans: Vec<crate::requests::Span> =
            episodes.list.iter().map(|e| (e.start_ms, e.end_ms, e.recovered)).collect();
        let primaries = match (&episodes.primary, infer) {
            (Some(primary), true) => router
                .classes
                .iter()
                .enumerate()
                .filter_map(|(i, c)| primary.of_class(i).map(|p| (c.name.clone(), p.to_string())))
                .collect(),
            _ => Default::default(),
        };
        if let Err(e) = crate::requests::label_episodes(&self.requests, &spans, &primaries) {
            eprintln!("note: requests.parquet has no episode column: {e}");
        }
    }

    /// Where the tail came from, read back from requests.parquet when it was written. A file that cannot be
    /// read back leaves the attribution out, with a note: the run's verdict does not depend on it.
    pub(super) fn tail(&self, sla: &crate::scenario::Sla, result: &crate::measure::RunResult) -> Option<Tail> {
        let settings = TailSettings::of(sla, result)?;
        if !self.requests.exists() {
            return None;
        }
        crate::requests::attribute(&self.requests, &settings)
            .inspect_err(|e| eprintln!("note: no tail attribution: {}: {e}", self.requests.display()))
            .ok()
    }
}

impl Sinks {
    pub(super) fn open(
        dir: &Path,
        started_at: time::OffsetDateTime,
        router: &Router,
        opts: &RunOptions,
    ) -> Result<(Sinks, SinkPaths), RunError> {
        let paths = SinkPaths { hlog: dir.join("latency.hlog"), requests: dir.join(crate::requests::FILE_NAME) };
        let sinks = Sinks {
            hlog: open_hlog(&paths.hlog, started_at, opts)?,
            requests: open_requests(&paths.requests, router, opts)?,
        };
        Ok((sinks, paths))
    }
}

/// The interval log, when asked for.
fn open_hlog(
    path: &Path,
    started_at: time::OffsetDateTime,
    opts: &RunOptions,
) -> Result<Option<Box<dyn IntervalSink>>, RunError> {
    if !opts.formats.hlog {
        return Ok(None);
    }
    let sink = crate::hlog::HlogSink::create(path, std::time::SystemTime::from(started_at), &hlog_comments(opts.shard))
        .map_err(|source| RunError::Io { path: path.to_path_buf(), source })?;
    Ok(Some(Box::new(sink)))
}

/// requests.parquet, unless `--format` leaves it out.
fn open_requests(path: &Path, router: &Router, opts: &RunOptions) -> Result<Option<Box<dyn RequestSink>>, RunError> {
    if !opts.formats.parquet {
        return Ok(None);
    }
    let names = crate::requests::RequestNames {
        tiers: router.tiers.iter().map(|t| t.name.clone()).collect(),
        classes: router.classes.iter().map(|c| c.name.clone()).collect(),
        regions: router.regions.clone(),
        prices: router.tiers.iter().map(|t| (t.price_input, t.price_output)).collect(),
        run_id: router.request_id_header.as_ref().map(|_| router.run_id),
        captured: router.capture.iter().map(|h| format!("header.{h}")).collect(),
    };
    let log = crate::requests::RequestLog::create(path, names)
        .map_err(|e| RunError::Io { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
    Ok(Some(Box::new(log)))
}

/// What the recorder watches besides every request: scheduled outages, SLA windows, the warm-up.
pub(super) struct Watch {
    outages: Vec<(u16, String, Duration, Duration)>,
    windows: Vec<(f64, f64)>,
    warmup: Duration,
    /// `[sla] goodput`'s objectives.
    goodput: Option<crate::measure::Objectives>,
    episodes: crate::measure::EpisodeRules,
}

impl Watch {
    pub(super) fn of(
        loaded: &LoadedScenario,
        profile: &Profile,
        router: &Router,
        warmup: Duration,
        shard: Option<Shard>,
    ) -> Self {
        Watch {
            outages: scheduled_outages(loaded, profile.duration),
            windows: loaded.sla_windows(profile.duration),
            warmup,
            goodput: loaded.scenario.sla.goodput.map(|g| crate::measure::Objectives {
                ttft: g.ttft.map(|d| d.0),
                inter_token: g.inter_token.map(|d| d.0),
                latency: g.latency.map(|d| d.0),
            }),
            episodes: crate::measure::EpisodeRules {
                class_primary: class_primaries(loaded, router),
                recover_after: loaded.scenario.failover.recover_after,
                numbers: shard.map_or((0, 1), |s| (u64::from(s.index), u64::from(s.count))),
                infer_failover: loaded.scenario.infers_failover(),
            },
        }
    }
}

/// Each class's primary, and the rule that chose it: `served_by.primary` for every class, else each class's first
/// tier (unless a served-by value names the upstream; then the episodes choose it from the traffic).
fn class_primaries(loaded: &LoadedScenario, router: &Router) -> Option<(Vec<String>, &'static str)> {
    match loaded.scenario.served_by.as_ref().and_then(|s| s.primary.clone()) {
        Some(p) => Some((vec![p; router.classes.len()], "served_by.primary")),
        None => router.class_primaries().map(|names| (names, "the class's first tier")),
    }
}

/// The recorder, on its own thread, until every sender of samples is gone.
pub(super) fn spawn_recorder(
    router: &Router,
    watch: Watch,
    Sinks { hlog, requests }: Sinks,
    snapshot: Option<crate::measure::Snapshot>,
    live: Arc<Live>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Box<crate::sample::Sample>>,
) -> std::thread::JoinHandle<(crate::measure::RunResult, Vec<SinkError>)> {
    let tier_names: Vec<String> = router.tiers.iter().map(|t| t.name.clone()).collect();
    let class_names: Vec<String> = router.classes.iter().map(|c| c.name.clone()).collect();
    let region_names = router.regions.clone();
    std::thread::spawn(move || {
        let mut recorder = Recorder::new(live, &tier_names, &class_names, &region_names, hlog);
        recorder.watch_windows(&watch.windows);
        recorder.exclude_warmup(watch.warmup);
        recorder.watch_episodes(watch.episodes);
        if let Some(objectives) = watch.goodput {
            recorder.watch_goodput(objectives);
        }
        if let Some(sink) = requests {
            recorder.write_requests(sink);
        }
        if let Some(show) = snapshot {
            recorder.show_live(show);
        }
        for (tier, provider, start, end) in watch.outages {
            recorder.watch_outage(tier, &tier_names[tier as usize], &provider, start, end);
        }
        // Drains in batches every millisecond instead of waiting on each sample: a waiting receiver costs
        // every request a thread wake-up, which at 20,000 req/s was a tenth of the generator's CPU.
        loop {
            match rx.try_recv() {
                Ok(sample) => recorder.record(&sample),
                Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(1)),
                Err(TryRecvError::Disconnected) => break,
            }
        }
        recorder.finish()
    })
}

fn hlog_comments(shard: Option<Shard>) -> Vec<String> {
    shard.map(|s| vec![format!("Shard: {s}")]).unwrap_or_default()
}

/// (tier index, provider, start, end) of every scheduled outage of a mock provider behind a tier that begins
/// within the run (a `--duration` override may end the run before a window).
fn scheduled_outages(loaded: &LoadedScenario, run: Duration) -> Vec<(u16, String, Duration, Duration)> {
    let providers = loaded.mock_providers();
    let mut out = Vec::new();
    for (i, (_, mock)) in loaded.tiers().iter().enumerate() {
        let Some(p) = mock.and_then(|m| providers.iter().find(|p| &p.name == m)) else { continue };
        for o in p.outages.iter().filter(|o| o.window.start < run) {
            out.push((i as u16, p.name.clone(), o.window.start, o.window.end));
        }
    }
    out
}
