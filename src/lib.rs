//! slacheck: open-loop load testing and SLA verification for LLM API gateways.
//!
//! The map, in pipeline order (scenario → profile → engine/router → measure → sla → report), one line a module:
//!
//! - [`scenario`]: the TOML file, checked once, with file:line:column errors.
//! - [`trace`]: trace files (request offsets or rates per second) for the trace profile.
//! - [`profile`]: arrival schedules, the intended send time of every request.
//! - [`machine`]: the generator's own machine: open-files limit, CPU used, load average (a leaf).
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP stop a run with partial results (a leaf).
//! - [`engine`]: the open-loop pacer and closed-loop connections that fire each request on time.
//! - [`sse`]: reading a streamed answer as it arrives, in linear time, with a cap on one event.
//! - [`router`]: one logical request through its tiers: attempts, retries, failover, hedging, body limits.
//! - [`measure`]: samples into histograms, counts and the per-second timeline.
//! - [`hlog`]: the HdrHistogram interval log, written while recording and read back.
//! - [`sla`]: the verdict on every target, with its uncertainty, and the exit code it calls for.
//! - [`outdir`]: a results folder for exactly one run, locked, and atomic writes into it (a leaf).
//! - [`plot`]: SVG and PNG charts.
//! - [`report`]: summary.json, the terminal, Markdown, JUnit and HTML.
//! - [`run`]: one run end to end: mocks, dispatch, recording, verdict, reports.
//! - [`shard`]: one shard's share of a schedule, and the exact merge of shards.
//! - [`capacity`]: the search for the highest rate at which every target holds.
//! - [`compare`]: before and after, with a noise-aware regression verdict.
//!
//! Fake providers come from the `mock-upstream` crate.

pub mod capacity;
pub mod compare;
pub mod engine;
pub mod hlog;
pub mod machine;
pub mod measure;
pub mod outdir;
pub mod plot;
pub mod profile;
pub mod report;
pub mod router;
pub mod run;
pub mod scenario;
pub mod shard;
pub mod signals;
pub mod sla;
pub mod sse;
pub mod trace;

/// Durations, rates and ratios as people write them (shared with mock-upstream).
pub use mock_upstream::units;
