//! slacheck: open-loop load testing and SLA verification for LLM API gateways.
//!
//! The map, in pipeline order (scenario → profile → engine/router → measure → sla → report), one line a module.
//!
//! Leaves, which import nothing of slacheck:
//! - [`outdir`]: a results folder for exactly one run, locked, and atomic writes into it.
//! - [`machine`]: the generator's own machine: open-files limit, CPU used, load average, hints.
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP stop a run with partial results.
//!
//! The pipeline:
//! - [`scenario`]: the TOML file, checked once, with file:line:column errors; typed settings of each command.
//! - [`trace`]: trace files (request offsets or rates per second) for the trace profile.
//! - [`profile`]: arrival schedules, the intended send time of every request, and shards of a schedule.
//! - [`sample`]: the record every request ends as: times, outcome, attempts, stream timing.
//! - [`sse`]: reading a streamed answer as it arrives, in linear time, with a cap on one event.
//! - [`prompt`]: what each request says: fixed prompts, token lengths, prefixes, datasets; its body per tier.
//! - [`router`]: one logical request through its tiers: attempts, retries, failover, hedging, body limits.
//! - [`engine`]: the open-loop pacer and closed-loop connections that fire each request on time.
//! - [`measure`]: samples folded into histograms, counts and the per-second timeline; closed intervals to a sink.
//! - [`hlog`]: the HdrHistogram interval log: a sink for the recorder, and a reader.
//! - [`requests`]: requests.parquet, every request's record: a sink for the recorder, and the shards' concatenation.
//! - [`scrape`]: the target's own Prometheus metrics, scraped during the run: server_metrics.parquet, increases.
//! - [`sla`]: the verdict on every target, with its uncertainty, and the exit code it calls for.
//! - [`plot`]: SVG and PNG charts.
//! - [`report`]: summary.json, the terminal, Markdown, JUnit, HTML and the Prometheus exposition.
//! - [`compare`]: before and after, with a noise-aware regression verdict.
//! - [`shard`]: the exact merge of shards' results.
//! - [`run`]: one run end to end: mocks, dispatch, recording, verdict, reports.
//! - [`capacity`]: the search for the highest rate at which every target holds.
//!
//! A module imports only modules above it in this list (`tests/architecture.rs` checks it).
//!
//! Fake providers come from the `mock-upstream` crate. The command line belongs to the binary, outside this map:
//! `src/main.rs` acts on the definitions in `src/cli.rs` (module `cli`).

pub mod capacity;
pub mod compare;
pub mod engine;
pub mod hlog;
pub mod machine;
pub mod measure;
pub mod outdir;
pub mod plot;
pub mod profile;
pub mod prompt;
pub mod report;
pub mod requests;
pub mod router;
pub mod run;
pub mod sample;
pub mod scenario;
pub mod scrape;
pub mod shard;
pub mod signals;
pub mod sla;
pub mod sse;
pub mod trace;

/// Durations, rates and ratios as people write them (shared with mock-upstream).
pub use slacheck_common::units;
