//! One run, end to end: start mock providers if asked, pace the schedule, record, judge and report.

mod hang_ups;
mod metrics;
mod progress;
mod recording;
mod scraping;

use crate::engine::{self, Controls};
use crate::measure::{Live, MockTiming};
use crate::outdir::{OutDirError, ResultsDir};
use crate::profile::Profile;
use crate::report::{self, Summary};
use crate::router::{self, Router};
use crate::scenario::{InsufficientData, LoadedScenario, ProfileKind};
use crate::shard::{self, Measurements, Shard, StartAt};
use crate::signals::{Signals, Stop};
use crate::sla;
use crate::units::Rate;
use bytes::Bytes;
pub use metrics::LiveMetrics;
pub use progress::Progress;
use recording::{spawn_recorder, Sinks, Watch};
use slacheck_common::tomlfile::FileError;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings from the command line that change a scenario for one run.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub duration: Option<Duration>,
    /// Replaces the profile with a constant rate.
    pub rate: Option<Rate>,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub out: Option<PathBuf>,
    /// Where default result folders go (`results/`).
    pub results_root: PathBuf,
    /// A bar, lines or nothing while the run goes.
    pub progress: Progress,
    /// Which report files to write.
    pub formats: report::Formats,
    /// Send only this shard's share of the schedule (`--shard I/N`).
    pub shard: Option<Shard>,
    /// Start the run's clock at this moment rather than now (`--start-at`), so that shards line up.
    pub start_at: Option<StartAt>,
    /// Requests due in this first part of the run are counted but not measured (capacity steps).
    pub warmup: Duration,
    /// Serve the Prometheus exposition here while the run goes (`--metrics-addr`).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// And for this long after it ends (`--metrics-linger`).
    pub metrics_linger: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Scenario(#[from] FileError),
    #[error(
        "{file}: field `target.api_key_env`: the environment variable {var} is not set (export it with the API key)"
    )]
    MissingApiKey { file: PathBuf, var: String },
    #[error("target unreachable at start: {0}")]
    Unreachable(String),
    #[error("cannot start the mock upstream: {0}")]
    Mock(#[from] mock_upstream::ServeError),
    #[error("cannot write results to {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A result file that could not be written after the run: none of it is left, and the verdict stands.
    #[error("cannot write {path}: {source}; it is left out (no part of it was kept), and the verdict stands")]
    NotWritten { path: PathBuf, source: std::io::Error },
    #[error("cannot write results: {0}")]
    Output(#[from] report::ReportError),
    #[error("cannot write results: {0}")]
    Plot(#[from] crate::plot::PlotError),
    #[error("cannot write results: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("--start-at {at} passed {late:.1} s ago: start every shard with a time still ahead")]
    StartPassed { at: String, late: f64 },
    #[error(transparent)]
    Folder(#[from] OutDirError),
    #[error(transparent)]
    Router(#[from] router::BuildError),
    #[error("--metrics-addr {addr}: cannot listen: {source}")]
    Metrics { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot catch signals: {0}")]
    Signals(std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl RunError {
    /// The process exit code for this error: 2 for a bad scenario or usage, 3 when the run could not be made.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Scenario(_)
            | RunError::MissingApiKey { .. }
            | RunError::StartPassed { .. }
            | RunError::Metrics { .. }
            | RunError::Folder(OutDirError::InUse(_)) => 2,
            RunError::Router(e) if e.is_usage() => 2,
            _ => 3,
        }
    }
}

pub struct RunOutcome {
    pub summary: Summary,
    pub dir: PathBuf,
    /// The signal that stopped the run early.
    pub interrupted: Option<Stop>,
    /// An earlier run's files that were removed from the folder first.
    pub replaced: Vec<String>,
    /// The result files that could not be written; the verdict stands, and is printed all the same.
    pub write_errors: Vec<RunError>,
    /// The live metrics' server, still answering with the final numbers until [`LiveMetrics::linger`] ends.
    pub metrics: Option<LiveMetrics>,
}

impl RunOutcome {
    /// The verdict's exit code ([`crate::sla::Verdict::exit_code`]), unless a signal stopped the run (130, 143
    /// or 129 for SIGINT, SIGTERM or SIGHUP). A result file that could not be written makes a passing run exit 3,
    /// and never hides a miss.
    pub fn exit_code(&self) -> u8 {
        let verdict = self.verdict_code();
        match self.write_errors.first() {
            Some(e) if verdict == 0 => e.exit_code(),
            _ => verdict,
        }
    }

    fn verdict_code(&self) -> u8 {
        let undecided_passes = self.summary.scenario.sla.insufficient_data == InsufficientData::Pass;
        match self.interrupted {
            Some(stop) => stop.exit_code(),
            None => self.summary.verdict.exit_code(undecided_passes),
        }
    }
}

/// A scenario checked for a run, with its load's rate curve built once (a trace is read here, and only here).
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub loaded: LoadedScenario,
    pub profile: Profile,
    /// The classes' datasets and the trace's per-request lengths, read and checked.
    pub prompt_inputs: crate::prompt::PromptInputs,
}

impl LoadedScenario {
    /// Checks what needs the load shape built: the profile's keys and values, and the number of SLA windows.
    pub fn with_load_checked(self) -> Result<RunPlan, FileError> {
        self.with_overrides(&Overrides::default())
    }

    /// The schedule's rate curve, from the `[load]` table's typed shape; an error names the file, line and key.
    pub fn profile(&self) -> Result<Profile, FileError> {
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        Profile::from_load(&self.scenario.load, dir).map_err(|e| self.error(&format!("load.{}", e.field), e.message))
    }

    /// Applies command-line overrides and checks the result again.
    pub fn with_overrides(mut self, o: &Overrides) -> Result<RunPlan, FileError> {
        let load = &mut self.scenario.load;
        if let Some(rate) = o.rate {
            let refuse = |message: String| FileError {
                file: "--rate".into(),
                line: None,
                column: None,
                field: String::new(),
                message,
            };
            if rate.per_second <= 0.0 {
                return Err(refuse("the rate must be above zero".into()));
            }
            if rate.per_second > crate::profile::MAX_RATE {
                return Err(refuse(crate::profile::max_rate_message()));
            }
            let duration = load.duration;
            let keep = load.clone();
            *load = crate::scenario::Load {
                profile: ProfileKind::Constant,
                rate: Some(rate),
                duration,
                from: None,
                to: None,
                steps: Vec::new(),
                base: None,
                peak: None,
                burst_every: None,
                burst_for: None,
                spike_at: None,
                spike_for: None,
                mean: None,
                amplitude: None,
                period: None,
                trace: None,
                ..keep
            };
        }
        if let Some(d) = o.duration {
            load.duration = Some(crate::units::HumanDuration(d));
        }
        let profile = self.profile()?;
        self.check_windows(profile.duration)?;
        let trace = self.scenario.load.trace.as_ref().map(|t| self.resolve(t));
        let place = |field: &str, message: String| self.error(field, message);
        let prompt_inputs = crate::prompt::PromptInputs::read(&self.routing().prompts, trace.as_deref(), &place)?;
        self.check_memory(&prompt_inputs)?;
        Ok(RunPlan { loaded: self, profile, prompt_inputs })
    }

    /// Refuses prompts that need more memory than `load.max_request_memory` holds, naming the field that asks
    /// for it: shared prefixes or datasets, or requests in flight at `max_in_flight` (or `connections`).
    fn check_memory(&self, inputs: &crate::prompt::PromptInputs) -> Result<(), FileError> {
        let routing = self.routing();
        let weights: Vec<f64> = routing.classes.iter().map(|c| c.weight).collect();
        let fields: Vec<String> = (0..routing.classes.len()).map(|i| format!("classes[{i}]")).collect();
        let need = crate::prompt::memory::need(&routing.prompts, &weights, &fields, inputs);
        let load = &self.scenario.load;
        let (in_flight, field) = match load.connections {
            Some(n) if n < load.max_in_flight => (n, "load.connections"),
            _ => (load.max_in_flight, "load.max_in_flight"),
        };
        need.check(load.max_request_memory.0, in_flight, field).map_err(|(field, message)| self.error(&field, message))
    }
}

/// Runs a scenario and writes its results. SIGINT, SIGTERM or SIGHUP stops it early; the partial results are
/// written and marked.
pub async fn run(plan: &RunPlan, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let (loaded, profile) = (&plan.loaded, &plan.profile);
    let mut signals = Signals::catch().map_err(RunError::Signals)?;
    let scenario = &loaded.scenario;
    let open_files = open_files_for(loaded);
    // Enough for the result files (a temporary file and its folder at a time), whatever the sockets took.
    let reserve = crate::machine::Reserve::hold(8);
    let (api_key, body) = (api_key(loaded)?, request_body(loaded)?);
    check_start_at(opts.start_at)?;
    let (bound, mut router) = prepare_target(plan, api_key.as_deref(), body).await?;
    let scraper = scraping::prepare(loaded)?;
    // The clock starts once the slow set-up is done (a tokenizer, prompts, TLS roots took up to 0.5 s, and the
    // first requests were due before the pacer began). Outage windows of mock providers count from the moment
    // the first request is due.
    let (start, started_at) = clock_start(opts.start_at, scraping::lead(loaded));
    let providers: Vec<_> = bound.into_iter().map(|p| p.serve(start)).collect();
    router.turn_numbers = opts.shard.map_or((0, 1), |s| (u64::from(s.index), u64::from(s.count)));
    let preopened = preconnect(&router, preconnect_count(profile, opts.shard, &scenario.load), start).await;
    let controls = Controls::new(scenario.load.max_in_flight);
    let metrics = LiveMetrics::start(opts, scenario, &controls).await?;
    let folder = match &opts.out {
        Some(d) => ResultsDir::take(d)?,
        None => ResultsDir::create_unique(&opts.results_root, &scenario.name, &utc_stamp_of(started_at))?,
    };
    let dir = folder.path.clone();
    let (sinks, sink_paths) = Sinks::open(&dir, started_at, &router, opts)?;
    let scraping = scraping::start(scraper, &dir, start)?;
    let router = Arc::new(router);
    let live = Arc::new(Live::default());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::of(loaded, profile, &router, opts.warmup, opts.shard);
    let recorder = spawn_recorder(&router, watch, sinks, metrics.as_ref().map(LiveMetrics::snapshot), live.clone(), rx);
    let dispatch = engine::Dispatch { router: router.clone(), start, controls: controls.clone(), samples: tx };
    let mut dispatched = dispatch_schedule(profile, loaded, opts.shard, dispatch);
    let share = opts.shard.map_or(1, |s| u64::from(s.count));
    let progress =
        progress::Shown::start(opts.progress, live.clone(), profile.uniform_count() / share, profile.duration);

    let cpu_before = crate::machine::cpu_seconds();
    let interrupted = tokio::select! {
        _ = async { let _ = (&mut dispatched).await; controls.drained().await } => None,
        stop = signals.next() => Some(stop),
    };
    // The schedule was offered until the stop (if any): the offered rate is counted over that time.
    let offered_for = match interrupted {
        Some(_) => start.elapsed().saturating_sub(opts.warmup),
        None => profile.duration.saturating_sub(opts.warmup),
    };
    if let Some(stop) = interrupted {
        signals.exit_on_next(stop);
        wind_down(&controls, dispatched).await;
    }
    if let Some(shown) = progress {
        shown.finish();
    }
    let (mut result, sink_errors) =
        tokio::task::spawn_blocking(move || recorder.join().expect("the recorder does not panic"))
            .await
            .expect("the recorder thread is joined");
    let mut write_errors: Vec<RunError> = sink_errors.into_iter().map(|e| sink_paths.error(e)).collect();
    result.phases.preopened = preopened;
    if let Some(m) = &metrics {
        m.last(&result, interrupted.is_none());
    }
    let usage = crate::machine::Usage {
        cpu_s: crate::machine::cpu_seconds() - cpu_before,
        wall_s: start.elapsed().as_secs_f64(),
        cores: crate::machine::cores(),
        load_average: crate::machine::load_average(),
        open_files,
        not_sent_open_files: router.out_of_files.load(Ordering::Relaxed),
        not_sent_memory: router.not_sent_memory.load(Ordering::Relaxed),
    };
    hang_ups::count_after_hang_ups(&mut result.cancellations, &providers, &router).await;
    result.mock_timing = mock_timing(&providers, &router);
    let scraped = scraping::finish(scraping, &dir, &mut write_errors).await;
    drop(providers);

    let facts = run_facts(loaded, profile, &router, opts, started_at, interrupted.is_none(), offered_for, usage);
    let mut summary = Summary::new(scenario, &result, sla::evaluate(&scenario.sla, &result), facts.clone());
    scraping::put(&mut summary, scraped);
    sink_paths.label_episodes(&result.episodes, &router, scenario.infers_failover());
    summary.tail = sink_paths.tail(&scenario.sla, &result);
    reserve.release();
    write_errors.extend(write_results(&dir, &summary, result, facts, opts).err());
    let replaced = folder.replaced.clone();
    drop(folder);
    Ok(RunOutcome { summary, dir, interrupted, replaced, write_errors, metrics })
}

/// How the in-process mock providers kept to their models, all together; `None` without one. Their models
/// time the whole answer only when every endpoint is one of them (no gateway between).
fn mock_timing(providers: &[mock_upstream::RunningProvider], router: &Router) -> Option<MockTiming> {
    let bases: Vec<String> = providers.iter().map(|p| p.base_url()).collect();
    let mut endpoints = router.tiers.iter().flat_map(|t| &t.endpoints);
    let direct = endpoints.all(|e| bases.contains(&e.url.origin().ascii_serialization()));
    MockTiming::of(providers.iter().map(|p| p.provider.timing()), direct)
}

/// The API key from the variable the scenario names; it must be fit for an HTTP header.
fn api_key(loaded: &LoadedScenario) -> Result<Option<String>, RunError> {
    let Some(var) = &loaded.scenario.target.api_key_env else { return Ok(None) };
    let key =
        std::env::var(var).map_err(|_| RunError::MissingApiKey { file: loaded.path.clone(), var: var.clone() })?;
    if reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).is_err() {
        // The key's value is never part of an error message.
        let why = "the variable's value is not a valid header value (it is not shown here)";
        return Err(loaded.error("target.api_key_env", why).into());
    }
    Ok(Some(key))
}

/// The body of the implicit target: `body`, the bytes of `body_file`, or none.
fn request_body(loaded: &LoadedScenario) -> Result<Bytes, RunError> {
    let target = &loaded.scenario.target;
    Ok(match (&target.body, &target.body_file) {
        (Some(b), _) => Bytes::from(b.clone()),
        (None, Some(f)) => Bytes::from(loaded.body_file_bytes(f)?),
        (None, None) => Bytes::new(),
    })
}

/// Binds the in-process mock providers (they serve once the run's clock is set), builds the router and checks
/// that every endpoint listens (and shakes hands, for https), so that an unreachable target fails before
/// anything is sent.
async fn prepare_target(
    plan: &RunPlan,
    api_key: Option<&str>,
    body: Bytes,
) -> Result<(Vec<mock_upstream::BoundProvider>, Router), RunError> {
    let loaded = &plan.loaded;
    let mut providers = Vec::new();
    for config in loaded.mock_providers() {
        providers.push(mock_upstream::bind(config).await?);
    }
    let mock_base = |mock: &str| providers.iter().find(|p| p.name() == mock).map(|p| p.base_url());
    let router = router::build_router(&loaded.routing(), &mock_base, api_key, body, &plan.prompt_inputs)?;
    // A bound provider's listener accepts the connection into its backlog: the check holds before it serves.
    for tier in &router.tiers {
        for endpoint in &tier.endpoints {
            router::reach::check(&endpoint.url, router.tls.as_ref())
                .await
                .map_err(|e| RunError::Unreachable(format!("tier {}: {e}", tier.name)))?;
        }
    }
    Ok((providers, router))
}

/// Connections opened before the run per endpoint: as many as requests are due in this long at the starting rate.
const PRECONNECT_FOR: Duration = Duration::from_millis(5);

/// Connections to open per endpoint: all of `load.max_connections` (as oha opens its `-c` connections), else
/// the requests due in [`PRECONNECT_FOR`] at this process's starting rate; in a closed loop no more than its
/// connections (it never has more requests out).
fn preconnect_count(profile: &Profile, shard: Option<Shard>, load: &crate::scenario::Load) -> usize {
    let due = profile.rate_at(0.0) * PRECONNECT_FOR.as_secs_f64() / shard.map_or(1.0, |s| f64::from(s.count));
    let count = load.max_connections.unwrap_or(due.ceil() as usize);
    count.min(load.connections.unwrap_or(usize::MAX))
}

/// Opens `count` connections to each lean endpoint of the tiers that classes try first, until shortly before
/// `start` (the run's clock does not wait for them). Returns how many opened.
async fn preconnect(router: &Router, count: usize, start: Instant) -> u64 {
    let Some(by) = start.checked_sub(Duration::from_millis(5)).filter(|by| *by > Instant::now()) else { return 0 };
    let first_tiers: std::collections::BTreeSet<usize> = router.classes.iter().map(|c| c.order[0]).collect();
    let targets = first_tiers.iter().flat_map(|t| &router.tiers[*t].endpoints).filter_map(|e| e.lean.as_ref());
    let mut opened = 0;
    for lean in targets {
        opened += lean.preconnect(count, by).await as u64;
    }
    opened
}

/// Fires the schedule (this shard's share of it): open loop on the pacer thread, or closed loop over
/// `load.connections`. The handle ends when the last request has been fired.
fn dispatch_schedule(
    profile: &Profile,
    loaded: &LoadedScenario,
    shard: Option<Shard>,
    dispatch: engine::Dispatch,
) -> tokio::task::JoinHandle<()> {
    let load = &loaded.scenario.load;
    let all = profile.schedule(load.arrivals, load.seed).enumerate().map(|(i, t)| (i as u64, t));
    let schedule: engine::Arrivals = match shard {
        Some(shard) => Box::new(all.filter(move |(i, _)| shard.keeps(*i))),
        None => Box::new(all),
    };
    match load.connections {
        None => {
            let pacer = engine::spawn_pacer(schedule, dispatch, tokio::runtime::Handle::current());
            tokio::task::spawn_blocking(move || {
                let _ = pacer.join();
            })
        }
        Some(n) => {
            let workers = engine::spawn_connections(schedule, n, dispatch);
            tokio::spawn(async move {
                for w in workers {
                    let _ = w.await;
                }
            })
        }
    }
}

/// After a signal: no new requests, a second for those in flight, then they are given up (each is still
/// counted, as interrupted).
async fn wind_down(controls: &Controls, dispatched: tokio::task::JoinHandle<()>) {
    controls.stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(1), controls.drained()).await;
    controls.cancel.cancel();
    if !dispatched.is_finished() {
        let _ = dispatched.await;
    }
    controls.drained().await;
}

/// What the summary needs to know of the run besides its measurements.
#[allow(clippy::too_many_arguments)]
fn run_facts(
    loaded: &LoadedScenario,
    profile: &Profile,
    router: &Router,
    opts: &RunOptions,
    started_at: time::OffsetDateTime,
    complete: bool,
    offered_for: Duration,
    usage: crate::machine::Usage,
) -> report::RunFacts {
    let share = opts.shard.map_or(1, |s| u64::from(s.count));
    let length = profile.duration.as_secs_f64();
    report::RunFacts {
        started_at: started_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        complete,
        lag_limit_ms: loaded.scenario.load.lag_limit.0.as_secs_f64() * 1000.0,
        prices: router.tiers.iter().map(|t| (t.price_input, t.price_output)).collect(),
        mean_rate: profile.expected_by(length) / length.max(1e-9) / share as f64,
        shard: opts.shard,
        offered_s: offered_for.as_secs_f64(),
        machine: Some(usage),
    }
}

/// summary.json first (the verdict, whatever else fails), then measurements.json, then the other reports.
fn write_results(
    dir: &Path,
    summary: &Summary,
    result: crate::measure::RunResult,
    facts: report::RunFacts,
    opts: &RunOptions,
) -> Result<(), RunError> {
    let plots = report::PlotInputs::of_run(&result);
    report::write_summary_json(dir, summary)
        .map_err(|source| RunError::NotWritten { path: dir.join("summary.json"), source })?;
    let measurements = Measurements { schema_version: 1, shard: opts.shard, facts, result };
    shard::write_measurements(dir, &measurements)
        .map_err(|source| RunError::NotWritten { path: dir.join(shard::MEASUREMENTS), source })?;
    report::write_reports(dir, summary, &plots, &opts.formats).map_err(RunError::Output)
}

/// Raises the open-files limit as far as it goes, and warns when it is still below what the run may need.
fn open_files_for(loaded: &LoadedScenario) -> Option<crate::machine::OpenFiles> {
    let limits = crate::machine::raise_open_files().ok()?;
    let max_in_flight = loaded.scenario.load.max_in_flight;
    let needed = crate::machine::files_needed(max_in_flight);
    if limits.soft < needed {
        eprintln!(
            "warning: the open-files limit is {} (hard limit {}), below the {needed} that load.max_in_flight = \
             {max_in_flight} needs; requests that cannot open a socket are counted as not sent (the \
             generator's limit). Raise it with `ulimit -n`.",
            limits.soft, limits.hard
        );
    }
    Some(limits)
}

/// Refuses a `--start-at` already more than a second past, before anything is set up: the shard would open with
/// a burst of late requests that the others do not have.
fn check_start_at(at: Option<StartAt>) -> Result<(), RunError> {
    let Some(StartAt(at)) = at else { return Ok(()) };
    let ahead = at - time::OffsetDateTime::now_utc();
    if ahead < -time::Duration::SECOND {
        let text = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        return Err(RunError::StartPassed { at: text, late: -ahead.as_seconds_f64() });
    }
    Ok(())
}

/// When the first request is due: `lead` from now, or at `--start-at` (a start that the set-up made pass is
/// kept: the requests due before now go out at once, late, and their lag says so).
fn clock_start(at: Option<StartAt>, lead: Duration) -> (Instant, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    let Some(StartAt(at)) = at else {
        let started_at = (now + lead).replace_nanosecond(0).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        return (Instant::now() + lead, started_at);
    };
    let ahead = at - now;
    let start = if ahead.is_negative() {
        Instant::now().checked_sub(ahead.unsigned_abs()).unwrap_or_else(Instant::now)
    } else {
        Instant::now() + ahead.unsigned_abs()
    };
    (start, at)
}

/// A UTC timestamp for folder names, e.g. `20261125T141305Z`.
pub fn utc_stamp_of(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
        .unwrap_or_default()
}

/// Now, as [`utc_stamp_of`].
pub fn utc_stamp() -> String {
    utc_stamp_of(time::OffsetDateTime::now_utc())
}

/// Where default result folders go, relative to the working directory.
pub fn default_results_root() -> &'static Path {
    Path::new("results")
}

#[cfg(test)]
mod tests;
