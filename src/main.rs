//! The `slacheck` command line: parse arguments, call the library, map outcomes to exit codes.
//!
//! Exit codes (README "Exit codes", `slacheck::sla::Outcome`): 0 pass; 1 fail or undecided; 2 usage; 3
//! no-verdict or generator-bound; 130, 143 or 129 interrupted by SIGINT, SIGTERM or SIGHUP (partial results
//! written, marked incomplete).

use anyhow::Context;
use clap::Parser;
use slacheck::capacity;
use slacheck::report::Formats;
use slacheck::run::{self, Overrides, RunOptions};
use slacheck::scenario::{InsufficientData, LoadedScenario};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Writes to stdout. A reader that went away (`slacheck compare … | head`) stops the printing, quietly: no
/// panic, and the command still finishes its work and exits with its own code.
fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {e}");
        }
    }
}

macro_rules! out {
    ($($arg:tt)*) => { emit(&format!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { emit(&format!("{}\n", format_args!($($arg)*))) };
}

mod cli;

use cli::{CapacityArgs, Cli, Command, RunArgs};

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Validate { file, settings } => match LoadedScenario::read(&file)
            .and_then(|l| l.with_settings(&settings))
            .and_then(|l| l.with_load_checked())
        {
            Ok(plan) => {
                out!("{}", toml::to_string_pretty(&plan.loaded.scenario).unwrap_or_default());
                eprintln!("{}: valid", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Compare { before, after, max_regression, out, allow_incomplete } => {
            let judging = Judging { undecided_passes: None, allow_incomplete };
            match compare(&before, &after, &max_regression.unwrap_or_default(), out, Shown::Table, judging) {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Report { dir, format } => match rerender(&dir, &format) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Capacity(args) => ExitCode::from(capacity_command(args)),
        Command::Merge { dirs, out, format, quiet, verbose } => match slacheck::shard::merge(&dirs, &out, &format) {
            Ok(merged) => {
                let outcome = run::RunOutcome {
                    summary: merged.summary,
                    dir: merged.dir,
                    interrupted: None,
                    replaced: Vec::new(),
                    write_errors: Vec::new(),
                    metrics: None,
                };
                print_outcome(&outcome, shown(quiet, false, verbose));
                ExitCode::from(outcome.exit_code())
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run(args) => ExitCode::from(run_command(args)),
        Command::Init { file, url, api_key_env, failover, endpoint, force } => {
            let endpoint = slacheck::scenario::api::Api::named(&endpoint).unwrap_or_default();
            let starter = slacheck::scenario::starter::Starter { url, api_key_env, failover, endpoint };
            let written = starter.write(&file, force);
            print_or_usage_error(
                written.map(|()| format!("wrote {0}; run it with: slacheck run {0}\n", file.display())),
            )
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "slacheck", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        Command::Schema => {
            out!("{}", slacheck::scenario::schema::json_schema());
            ExitCode::SUCCESS
        }
        Command::Man { command } => print_or_usage_error(man_page(command.as_deref())),
    }
}

/// `slacheck run`.
fn run_command(args: RunArgs) -> u8 {
    let RunArgs {
        file,
        out,
        duration,
        rate,
        settings,
        quiet,
        verbose,
        json,
        format,
        baseline,
        max_regression,
        shard,
        start_at,
        metrics_addr,
        metrics_linger,
    } = args;
    let overrides = Overrides { duration: duration.map(|d| d.0), rate };
    let loaded = LoadedScenario::read(&file).and_then(|l| l.with_settings(&settings));
    let plan = match loaded.and_then(|l| l.with_overrides(&overrides)) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // A baseline that cannot be read is found before anything is sent.
    if let Some(base) = &baseline {
        if let Err(e) = slacheck::compare::load(base) {
            eprintln!("error: --baseline: {e}");
            return 2;
        }
    }
    let options = RunOptions {
        out,
        results_root: run::default_results_root().to_path_buf(),
        progress: run::Progress::wanted(quiet || json),
        formats: format,
        shard,
        start_at,
        warmup: std::time::Duration::ZERO,
        metrics_addr,
        metrics_linger: metrics_linger.map_or(std::time::Duration::ZERO, |d| d.0),
    };
    match run_scenario(&plan, &options, shown(quiet, json, verbose)) {
        Ok((code, dir)) => match baseline {
            // A missed target stays the verdict; a regression against the baseline fails too, and a
            // baseline that fails to compare never hides a miss.
            Some(base) => {
                let shown = if json {
                    Shown::Nothing
                } else if quiet {
                    Shown::Line
                } else {
                    Shown::Table
                };
                let tolerances = tolerances_for(&plan.loaded, max_regression);
                let policy = plan.loaded.scenario.sla.insufficient_data == InsufficientData::Pass;
                let judging = Judging { undecided_passes: Some(policy), allow_incomplete: false };
                match compare(&base, &dir, &tolerances, Some(dir.join("compare")), shown, judging) {
                    Ok(compared) => worst(code, compared),
                    Err(e) => {
                        eprintln!("error: --baseline: {e:#}");
                        if code != 0 {
                            code
                        } else {
                            2
                        }
                    }
                }
            }
            None => code,
        },
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// `slacheck capacity`.
fn capacity_command(args: CapacityArgs) -> u8 {
    let CapacityArgs { file, min, max, step_duration, warmup, precision, settings, out, quiet } = args;
    let loaded = LoadedScenario::read(&file).and_then(|l| l.with_settings(&settings));
    let loaded = match loaded.and_then(|l| l.with_load_checked()) {
        Ok(plan) => plan.loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let spec = loaded.scenario.capacity.clone().unwrap_or_default();
    let mut search = capacity::Settings::default().with_spec(&spec);
    search.min = min.map_or(search.min, |r| r.per_second);
    search.max = max.map_or(search.max, |r| r.per_second);
    search.step_duration = step_duration.map_or(search.step_duration, |d| d.0);
    search.warmup = warmup.map_or(search.warmup, |d| d.0);
    search.precision = precision.map_or(search.precision, |p| p.0);
    if let Err((key, message)) = search.check() {
        let flag = key.trim_start_matches("capacity.").replace('_', "-");
        eprintln!("error: --{flag} (or [capacity] {}): {message}", key.trim_start_matches("capacity."));
        return 2;
    }
    match capacity_search(&loaded, &search, out, quiet) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// The exit code of a run and its comparison together: a miss (1) is never hidden by a generator-bound
/// comparison (3), and a signal's code stays.
fn worst(run: u8, compared: u8) -> u8 {
    match (run, compared) {
        (0, c) => c,
        (r, _) => r,
    }
}

/// How much of a comparison goes to stdout.
#[derive(Clone, Copy, PartialEq)]
enum Shown {
    Table,
    /// The conclusion only (`--quiet`).
    Line,
    /// Nothing (`--json`: stdout is one JSON document).
    Nothing,
}

/// How a comparison is judged.
#[derive(Clone, Copy)]
struct Judging {
    /// The policy for metrics that cannot be judged (default: the after run's own `[sla] insufficient_data`).
    undecided_passes: Option<bool>,
    /// Judge an interrupted run too (`compare --allow-incomplete`).
    allow_incomplete: bool,
}

/// Compares two runs and writes compare.md/json and the plot; returns the exit code.
fn compare(
    before: &Path,
    after: &Path,
    tolerances: &str,
    out: Option<PathBuf>,
    shown: Shown,
    judging: Judging,
) -> anyhow::Result<u8> {
    use slacheck::compare;
    let tolerances = compare::Tolerances::parse(tolerances).map_err(|e| anyhow::anyhow!("--max-regression: {e}"))?;
    let (b, a) = (compare::load(before)?, compare::load(after)?);
    let mut comparison = compare::compare(&b, &a, &tolerances);
    if judging.allow_incomplete {
        comparison = comparison.allowing_incomplete();
    }
    match shown {
        Shown::Table => out!("{}", compare::terminal(&comparison)),
        // The table carries the warnings; without it they go to stderr, so that stdout keeps its shape.
        Shown::Line | Shown::Nothing => {
            for warning in comparison.warnings() {
                eprintln!("compare: warning: {warning}");
            }
            if shown == Shown::Line {
                outln!("compare: {}", comparison.conclusion());
            }
        }
    }
    let dir = out.unwrap_or_else(|| run::default_results_root().join(format!("compare-{}", run::utc_stamp())));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    slacheck::report::write_atomic(&dir.join("compare.md"), compare::markdown(&comparison).as_bytes())?;
    slacheck::report::write_atomic(&dir.join("compare.json"), &serde_json::to_vec_pretty(&comparison)?)?;
    let (tb, ta) = (b.log.total(slacheck::hlog::OVERALL), a.log.total(slacheck::hlog::OVERALL));
    if let (Some(tb), Some(ta)) = (&tb, &ta) {
        let series = vec![("before".to_string(), tb), ("after".to_string(), ta)];
        let chart = slacheck::plot::Chart::Spectrum {
            title: "before and after: latency by percentile".into(),
            series,
            limits: vec![],
        };
        slacheck::plot::render(&dir, "compare", &chart, true, true).map_err(anyhow::Error::msg)?;
    }
    if shown == Shown::Table {
        outln!("  written: {}", dir.display());
    }
    Ok(comparison.exit_code(judging.undecided_passes.unwrap_or_else(|| a.undecided_passes())))
}

/// `--max-regression` if given, else the scenario's `[compare] max_regression`.
fn tolerances_for(loaded: &LoadedScenario, flag: Option<String>) -> String {
    match (&loaded.scenario.compare, flag) {
        (_, Some(flag)) => flag,
        (Some(c), None) => c.max_regression.clone(),
        (None, None) => String::new(),
    }
}

/// Reads a results folder back and writes its reports again.
fn rerender(dir: &Path, formats: &Formats) -> anyhow::Result<()> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let summary: slacheck::report::Summary =
        serde_json::from_str(&text).with_context(|| format!("{}: not a slacheck summary", path.display()))?;
    let log = slacheck::hlog::read(&dir.join("latency.hlog"))?;
    let plots = slacheck::report::PlotInputs::of_log(&log, &summary);
    slacheck::report::write_reports(dir, &summary, &plots, formats).map_err(anyhow::Error::msg)?;
    outln!("reports written to {}", dir.display());
    Ok(())
}

/// Prints what a command made to stdout (exit 0), or its error (exit 2).
fn print_or_usage_error(made: Result<String, impl std::fmt::Display>) -> ExitCode {
    match made {
        Ok(text) => {
            out!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The man page of slacheck, or of one of its commands (named `slacheck-<command>`, as git's are).
fn man_page(command: Option<&str>) -> anyhow::Result<String> {
    let mut cli = <Cli as clap::CommandFactory>::command();
    // Propagates the version to the commands, for their pages' footers.
    cli.build();
    let cmd = match command {
        None => cli,
        Some(name) => {
            let sub = cli.find_subcommand(name).with_context(|| format!("no command {name:?}; see slacheck --help"))?;
            // clap_mangen's own synopsis leaves out the options' values ("[--out]"): give it one that has them.
            let synopsis = cli::synopsis(sub, &format!("slacheck {name}"));
            sub.clone().name(format!("slacheck-{name}")).override_usage(synopsis)
        }
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page).context("cannot render the man page")?;
    Ok(String::from_utf8_lossy(&page).into_owned())
}

fn run_scenario(plan: &run::RunPlan, options: &RunOptions, shown: Printed) -> Result<(u8, PathBuf), run::RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(run::RunError::Runtime)?;
    let mut outcome = runtime.block_on(run::run(plan, options))?;
    if !outcome.replaced.is_empty() {
        eprintln!(
            "note: removed an earlier run's files from {}: {}",
            outcome.dir.display(),
            outcome.replaced.join(", ")
        );
    }
    print_outcome(&outcome, shown);
    for (label, count) in &outcome.summary.errors {
        if let Some(reason) = label.strip_prefix("tls: ") {
            eprintln!("error: {count} requests failed their TLS handshake: {reason}");
        }
    }
    for e in &outcome.write_errors {
        eprintln!("error: {e}");
    }
    if let Some(stop) = outcome.interrupted {
        let written = if outcome.write_errors.is_empty() { "written" } else { "partly written" };
        eprintln!(
            "stopped by {}: partial results {written} to {} (marked incomplete)",
            stop.name(),
            outcome.dir.display()
        );
    }
    if let Some(metrics) = outcome.metrics.take() {
        runtime.block_on(metrics.linger());
    }
    // Stop at once: requests to a hung target may still hold runtime tasks, and they are already counted.
    runtime.shutdown_background();
    Ok((outcome.exit_code(), outcome.dir))
}

// glibc's malloc was a seventh of the generator's CPU at 20,000 req/s (each request is a task, a future and a
// sample, allocated on one thread and freed on another); mimalloc's per-thread free lists cost a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its place in mimalloc 3's `mi_option_e` (the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory the run freed stays with the allocator, in small pages, instead of going back to the OS. Given back at
/// once (as until 2026-12-05), every burst of requests in flight faulted its pages in again, and with transparent
/// huge pages each fault zeroed 2 MB: at 40,000 req/s the pacer spent 50 ms at a time zeroing pages, the lag p99
/// was 178 ms and 50,000/s left requests unsent. Kept, in 4 kB pages: lag p99 7.9 ms at 40,000/s and 1.8 ms at
/// 50,000/s, nothing unsent, and 17% less CPU per request (bench/results.md). The resident memory is the run's
/// high-water mark, which the in-flight cap bounds; it does not grow with the run's length.
fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores the value (-1: never purge); the option number is checked by a test.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    // mimalloc reads its own THP switch before main, so the process's is set here: it applies to every later
    // fault. A kernel without it leaves THP as configured, which is only slower.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn capacity_search(
    loaded: &LoadedScenario,
    settings: &capacity::Settings,
    out: Option<PathBuf>,
    quiet: bool,
) -> Result<u8, run::RunError> {
    let dir = out.unwrap_or_else(|| {
        run::default_results_root().join(format!("{}-capacity-{}", loaded.scenario.name, run::utc_stamp()))
    });
    let begin = match capacity::start(loaded, settings) {
        Ok(begin) => begin,
        Err(refused) => {
            eprintln!("error: {refused}");
            return Ok(2);
        }
    };
    // Said even with --quiet, on stderr: a search that starts above --min, or whose steps are long, says why.
    eprintln!("capacity: {}", capacity::start_line(&begin, settings));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(run::RunError::Runtime)?;
    if !quiet {
        outln!("capacity search: {} (results: {})", loaded.scenario.name, dir.display());
    }
    let show = |step: &capacity::Step| {
        if !quiet {
            outln!("{}", capacity::step_line(step));
        }
    };
    let report = runtime.block_on(capacity::search(loaded, settings, &begin, &dir, &show))?;
    if quiet {
        outln!("{}; results: {}", capacity::conclusion(&report), dir.display());
    } else {
        outln!(
            "\n{}  results: {} (capacity.md, capacity.json, capacity.png)",
            capacity::terminal(&report),
            dir.display()
        );
    }
    runtime.shutdown_background();
    Ok(report.exit_code())
}

/// What a run prints to stdout.
#[derive(Clone, Copy)]
enum Printed {
    /// summary.json (`--json`).
    Json,
    /// The verdict line only (`--quiet`).
    Verdict,
    /// The terminal summary, brief or verbose.
    Summary(slacheck::report::Detail),
}

fn shown(quiet: bool, json: bool, verbose: bool) -> Printed {
    match (json, quiet, verbose) {
        (true, _, _) => Printed::Json,
        (_, true, _) => Printed::Verdict,
        (_, _, true) => Printed::Summary(slacheck::report::Detail::Verbose),
        _ => Printed::Summary(slacheck::report::Detail::Brief),
    }
}

/// The summary, the verdict line only, or summary.json.
fn print_outcome(outcome: &run::RunOutcome, shown: Printed) {
    let summary = &outcome.summary;
    match shown {
        Printed::Json => outln!("{}", serde_json::to_string_pretty(summary).unwrap_or_default()),
        Printed::Verdict => {
            let verdict = slacheck::report::verdict_text(summary);
            outln!("{}: {verdict}; results: {}", summary.scenario.name, outcome.dir.display());
            for warning in slacheck::report::warnings(summary) {
                eprintln!("{warning}");
            }
        }
        Printed::Summary(detail) => out!("{}", slacheck::report::terminal(summary, &outcome.dir, detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_of_every_command_is_described_in_help() {
        let mut cli = <Cli as clap::CommandFactory>::command();
        cli.build();
        cli.clone().debug_assert();
        let mut undescribed = Vec::new();
        for cmd in cli.get_subcommands() {
            for arg in cmd.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
                if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    undescribed.push(format!("{} {}", cmd.get_name(), arg.get_id()));
                }
            }
        }
        assert!(undescribed.is_empty(), "without a description in --help: {undescribed:?}");
    }

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_documents() {
        // mimalloc 3's options.c: `{ 1000, …, MI_OPTION_LEGACY(purge_delay,reset_delay) }`, the only option
        // that defaults to 1000 (unless MIMALLOC_PURGE_DELAY is set for the tests).
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(before, 1000);
        }
        keep_freed_memory();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, -1);
        #[cfg(target_os = "linux")]
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) }, 1, "THP off for the process");
    }
}
