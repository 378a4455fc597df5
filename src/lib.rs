//! slacheck: open-loop load testing and SLA verification for LLM API gateways.
//!
//! The pipeline flows one way:
//! [`scenario`] (TOML) → [`profile`] (intended send times) → [`engine`] (open-loop dispatch over HTTP)
//! → [`measure`] (samples into histograms and a timeline) → [`sla`] (the verdict) → [`report`] (what is written).
//! [`run`] ties them together for one run. Fake providers come from the `mock-upstream` crate.

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
