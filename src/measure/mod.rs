//! Measurement: samples folded into HdrHistograms, counts and the per-second timeline.
//!
//! Every scheduled request becomes exactly one [`Sample`](crate::sample::Sample) with one outcome, so
//! total = ok + error + timeout + not_sent + cancelled holds by construction, and it holds per timeline row too (rows
//! count outcomes by the second the request was due). Latency counts from the intended send time (no
//! coordinated omission); service time from the actual send; lag is actual minus intended.
//!
//! - [`histogram`]: the histogram every measurement uses, and its text form.
//! - [`counts`]: every request once, by outcome, overall and per second.
//! - [`result`]: what a run measured, and the exact merge of two results.
//! - [`episodes`]: failover episodes inferred from the requests themselves, in intended-time order.
//! - [`goodput`]: requests that met every per-request objective, and the tokens delivered.
//! - [`phases`]: how attempts began: connecting, and the wait for the answer's head.
//! - [`cancellations`]: requests whose client hung up, and the tokens generated for them after it.
//! - [`mock_timing`]: how the in-process mock providers kept to their latency models (their lateness).
//! - [`sessions`]: conversations: sessions completed or broken, and latency and tokens by turn number.
//! - [`recorder`]: folds samples into a result and hands closed intervals to a sink.

pub mod cancellations;
pub mod counts;
pub mod episodes;
pub mod goodput;
pub mod histogram;
pub mod mock_timing;
pub mod phases;
pub mod recorder;
pub mod result;
pub mod sessions;

pub use cancellations::Cancellations;
pub use episodes::{served_elsewhere, Episode, EpisodeRules, Episodes, InferredFailovers, Primary};
pub use goodput::{Delivered, Goodput, Objectives};
pub(crate) use histogram::decode_with;
pub use histogram::{as_text, decode, encode, ms, new_histogram, option_as_text, HIST_MAX_US};
pub use mock_timing::MockTiming;
pub use phases::PhaseStats;
pub use recorder::{IntervalSink, Live, Recorder, RequestSink, SinkError, Snapshot, OVERALL};
pub use result::*;
pub use sessions::{SessionCounts, Sessions, TurnStats, MAX_TURN_ROWS};

/// The most served-by names tracked apart, each with its own histogram: a header that carries a pod name or
/// a request id would otherwise grow memory with every distinct value.
pub const MAX_UPSTREAMS: usize = 64;

/// Where the requests of served-by names past [`MAX_UPSTREAMS`] are counted.
pub const OTHER_UPSTREAMS: &str = "(other)";
/// Where sent requests that no one named are counted: no answer, or an answer without the served-by value. A
/// request never sent is counted under no upstream.
pub const UNKNOWN_UPSTREAM: &str = "unknown";
