//! The command line's definitions: every command, flag and help text, as clap reads them. `main` acts on them;
//! `completions` and `man` are generated from them.

use clap::{Parser, Subcommand};
use slacheck::report::Formats;
use slacheck::shard::{Shard, StartAt};
use slacheck::units::{HumanDuration, Rate, Ratio};
use std::path::PathBuf;

/// Open-loop load testing and SLA verification for LLM API gateways.
///
/// slacheck replays a traffic profile against a gateway (or its built-in mock upstream), measures latency from
/// each request's intended send time (no coordinated omission), and says whether every SLA target held.
#[derive(Parser)]
#[command(version, propagate_version = true, after_long_help = EXIT_CODES_AND_ENVIRONMENT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a scenario, print the verdict, and write results; the exit code says whether the SLA held.
    ///
    /// Results go to results/<scenario>-<UTC timestamp>/ (or --out): summary.json with counts, percentiles,
    /// the per-second timeline and the verdict. Ctrl-C stops early and writes partial results marked
    /// "complete": false.
    #[command(after_long_help = EXIT_CODES_AND_ENVIRONMENT)]
    Run(RunArgs),
    /// Find the highest offered rate at which every SLA target still holds: the knee.
    ///
    /// Keeps the scenario's target, request mix, failover and [sla]; replaces its [load] rate with constant-rate
    /// steps (open loop, the scenario's arrival process): doubling from --min until a step misses a target, then
    /// bisecting until the last rate that held and the first that did not are within --precision. Each step's
    /// warm-up is not judged. Writes capacity.json, capacity.md, capacity.svg/png and a folder per step. Exit 0
    /// pass: a knee was found (or everything up to --max held); 1 fail: even --min missed; 3 generator-bound:
    /// the generator could not keep a step's rate; 130, 143, 129 interrupted. Defaults come from the scenario's
    /// [capacity] table.
    #[command(after_long_help = ENVIRONMENT)]
    Capacity(CapacityArgs),
    /// Merge the results folders of shards 0..N-1 of one run, judge the SLA on the whole, write the reports.
    ///
    /// Histograms add exactly, so the merged percentiles are those of all the shards' requests together. Refuses
    /// (exit 2) shards of different scenarios or start times, a missing shard and a shard given twice.
    /// Otherwise exits as `run` does: 0 pass, 1 fail or undecided, 3 generator-bound.
    Merge {
        /// The shards' results folders.
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Where the merged results go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Report files to write besides summary.json: hlog,parquet,svg,png,junit,md,html (default: all).
        #[arg(long, value_name = "LIST", default_value = "all")]
        format: Formats,
        /// Only the verdict line.
        #[arg(long, short)]
        quiet: bool,
        /// Every detail in the terminal: connection phases, tier tables, every episode, the tail, the error
        /// budget, cost and the machine.
        #[arg(long, short, conflicts_with = "quiet")]
        verbose: bool,
    },
    /// Re-render every report (plots, JUnit, Markdown, HTML) from a saved results folder, without re-running.
    Report {
        /// A results folder with summary.json and latency.hlog.
        dir: PathBuf,
        /// Report files to write: svg,png,junit,md,html (default: all).
        #[arg(long, value_name = "LIST", default_value = "all")]
        format: Formats,
    },
    /// Compare two runs' latency and availability; exit 1 if AFTER regressed beyond tolerance and noise.
    ///
    /// BEFORE and AFTER are results folders, summary.json files or .hlog interval logs. Each percentile's
    /// change gets a 95% bootstrap interval over the runs' one-second intervals; a metric "regressed" only
    /// when its change is past the tolerance and the interval excludes zero. Writes compare.md and
    /// compare.json into --out (default results/compare-<UTC timestamp>/).
    ///
    /// A run that was interrupted ("complete": false) is not judged (exit 3) unless --allow-incomplete, nor is
    /// a pair in which a side's generator fell behind (exit 3: a busy machine makes its own change). Two
    /// runs that are not the same test (scenario name, profile and rate, target or SLA targets differ) are
    /// judged with a warning that names what differs, and compare.json says "comparable": false.
    Compare {
        /// The earlier run: a results folder, its summary.json, or an .hlog interval log.
        #[arg(value_name = "BEFORE")]
        before: PathBuf,
        /// The run judged against it, in the same forms.
        #[arg(value_name = "AFTER")]
        after: PathBuf,
        /// Tolerances, e.g. "p99=10%,p99.9=20%,availability=0.05pp" (defaults: p50/p90/p99 10%, p99.9 20%,
        /// availability 0.05 percentage points).
        #[arg(long, value_name = "LIMITS")]
        max_regression: Option<String>,
        /// Where compare.md, compare.json and compare.svg/png go (default results/compare-<UTC timestamp>/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Judge a run that was interrupted too (its numbers cover only the part that ran).
        #[arg(long)]
        allow_incomplete: bool,
    },
    /// Parse and check a scenario, print it with every default filled in; exit 0 if valid, 2 if not.
    ///
    /// With --set, the scenario as `run --set …` would run it.
    Validate {
        /// The scenario file.
        file: PathBuf,
        /// Change a scenario setting before checking it, as for `run` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Write a commented starter scenario: for the built-in mock (the default), or with --url for a gateway.
    ///
    /// The file validates, and against a healthy target it passes on the first run (`slacheck init && slacheck
    /// run slacheck.toml`): its load sends enough requests to decide each target, and a comment beside each target
    /// says how many it needs.
    Init {
        /// Where to write it.
        #[arg(default_value = "slacheck.toml")]
        file: PathBuf,
        /// A gateway's URL instead of the mock: the full URL of the endpoint's API, e.g. …/v1/chat/completions.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The OpenAI API the requests speak: its body, the usage read from answers, the mock's path.
        #[arg(long, value_name = "API", default_value = "chat", value_parser = ["chat", "completions", "embeddings", "responses"])]
        endpoint: String,
        /// The environment variable that holds the gateway's API key.
        #[arg(long, value_name = "NAME", requires = "url")]
        api_key_env: Option<String>,
        /// Two tiers, two request classes and client-side failover (on the mock, with an outage to fail over from).
        #[arg(long)]
        failover: bool,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script, e.g. `slacheck completions bash > ~/.local/share/bash-completion/completions/slacheck`.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the scenario format's JSON Schema (draft-07), for editors: save it beside your scenarios
    /// (`slacheck schema > scenario.schema.json`) and start each with `#:schema ./scenario.schema.json`.
    Schema,
    /// Print the man page (roff), e.g. `slacheck man > slacheck.1 && man ./slacheck.1`; with a command, that
    /// command's page (`slacheck man run` is slacheck-run(1)).
    Man {
        /// run, capacity, merge, report, compare, validate or completions.
        command: Option<String>,
    },
}

/// The exit codes and their words, as the README's table, summary.json's `outcome` and the action's `verdict`
/// name them, for `--help`.
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0             pass: every SLA target held
  1             fail: a target was missed (or regressed against --baseline);
                undecided: a target could not be decided from the data
  2             usage: a bad command line or scenario
  3             no-verdict: the run could not be carried out or written;
                generator-bound: every miss is the generator's own
  130, 143, 129 interrupted: stopped by SIGINT, SIGTERM or SIGHUP"
    };
}

macro_rules! environment {
    () => {
        "\
Environment:
  SSL_CERT_FILE, SSL_CERT_DIR
      Trust a private CA for https targets: a PEM file of certificates, or
      directories of PEM files (colon-separated). Either one replaces the
      system's roots; to add a CA to them, give a file that holds both:
      cat /etc/ssl/certs/ca-certificates.crt my-ca.pem > bundle.pem
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY
      A proxy for the targets' requests, which then go through reqwest (a
      target on 127.0.0.1 or localhost is reached directly).
  SLACHECK_HTTP_CLIENT=reqwest
      Send every request through reqwest instead of slacheck's lean path
      (HTTP/1.1 and HTTP/2; proxied requests always go through reqwest).
  The variable a scenario names in api_key_env holds its API key; it is
  never printed."
    };
}

/// The exit codes, then the environment.
const EXIT_CODES_AND_ENVIRONMENT: &str = concat!(exit_codes!(), "\n\n", environment!());

/// The environment variables slacheck reads, for `--help`.
const ENVIRONMENT: &str = environment!();

#[derive(clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML; see scenarios/README.md).
    pub file: PathBuf,
    /// Write results into this folder instead of results/<scenario>-<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override the scenario's duration, e.g. "5s" or "2m".
    #[arg(long, value_name = "D")]
    pub duration: Option<HumanDuration>,
    /// Replace the load profile with a constant rate, e.g. "833/s" or "50000/min".
    #[arg(long, value_name = "R")]
    pub rate: Option<Rate>,
    /// Change a scenario setting for this run, e.g. --set failover.enabled=false (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// No progress (a bar on a terminal, otherwise a line on stderr every 10 s) and only the verdict line (and on
    /// stderr the warnings: a generator that fell behind, certificates not verified).
    #[arg(long, short)]
    pub quiet: bool,
    /// Every detail in the terminal: connection phases, tier tables, every episode, the tail, the error budget,
    /// cost and the machine (summary.json has them all either way).
    #[arg(long, short, conflicts_with_all = ["quiet", "json"])]
    pub verbose: bool,
    /// Print summary.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Report files to write besides summary.json and measurements.json:
    /// json,hlog,parquet,svg,png,junit,md,html (default: all).
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub format: Formats,
    /// Compare with this earlier run (a results folder) after running; exit 1 if it regressed.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Tolerances for --baseline, as for `compare --max-regression` (default: the scenario's [compare]).
    #[arg(long, value_name = "LIMITS")]
    pub max_regression: Option<String>,
    /// Send only shard I of N: every N-th request of the schedule, starting with request I (from 0). Merge
    /// the shards' results folders with `slacheck merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Start the run's clock at this moment, e.g. 2026-11-25T18:00:00Z or seconds since the epoch: give every
    /// shard the same one so that their timelines line up.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<StartAt>,
    /// Serve live Prometheus metrics at http://ADDR/metrics while the run goes, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Keep serving the final metrics this long after the run, so a last scrape sees them (e.g. "15s").
    #[arg(long, value_name = "D", requires = "metrics_addr")]
    pub metrics_linger: Option<HumanDuration>,
}

#[derive(clap::Args)]
pub struct CapacityArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// The first rate tried, e.g. "100/s" (default 10/s).
    #[arg(long, value_name = "R")]
    pub min: Option<Rate>,
    /// The highest rate tried (default 1000000/min).
    #[arg(long, value_name = "R")]
    pub max: Option<Rate>,
    /// How long each step is judged, after its warm-up (default 10s).
    #[arg(long, value_name = "D")]
    pub step_duration: Option<HumanDuration>,
    /// The start of each step that is not judged (default 2s).
    #[arg(long, value_name = "D")]
    pub warmup: Option<HumanDuration>,
    /// Stop when the held and missed rates are this close, relative (default 5%).
    #[arg(long, value_name = "P")]
    pub precision: Option<Ratio>,
    /// Change a scenario setting, as for `run` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Write into this folder instead of results/<scenario>-capacity-<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only the conclusion.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A command's synopsis with every option's value, e.g. `slacheck run [--out DIR] [--set KEY=VALUE]… FILE`:
/// options first, as they are defined (help and version left out), then the positional arguments.
pub fn synopsis(cmd: &clap::Command, invoked_as: &str) -> String {
    let mut words = vec![invoked_as.to_string()];
    let value = |arg: &clap::Arg| match arg.get_value_names() {
        Some(names) => names.join(" "),
        None => arg.get_id().as_str().to_uppercase(),
    };
    let hidden = |arg: &clap::Arg| arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version");
    for arg in cmd.get_arguments().filter(|a| !a.is_positional() && !hidden(a)) {
        let mut flag = match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => format!("-{short}|--{long}"),
            (None, Some(long)) => format!("--{long}"),
            (Some(short), None) => format!("-{short}"),
            (None, None) => continue,
        };
        if arg.get_action().takes_values() {
            flag = format!("{flag} {}", value(arg));
        }
        let repeated = if matches!(arg.get_action(), clap::ArgAction::Append) { "…" } else { "" };
        words.push(if arg.is_required_set() { format!("{flag}{repeated}") } else { format!("[{flag}]{repeated}") });
    }
    for arg in cmd.get_positionals().filter(|a| !hidden(a)) {
        let repeated = if matches!(arg.get_action(), clap::ArgAction::Append) { "…" } else { "" };
        let name = format!("{}{repeated}", value(arg));
        words.push(if arg.is_required_set() { name } else { format!("[{name}]") });
    }
    words.join(" ")
}
