//! Every scheduled request counted once, by outcome: the run's counts and each second's timeline row.

use crate::sample::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every scheduled request once: `total = ok + error + timeout + not_sent + cancelled`.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
    pub not_sent: u64,
    /// The client hung up on purpose (a class's `cancel`): neither a success nor a failure of the target.
    #[serde(default)]
    pub cancelled: u64,
}

impl Counts {
    /// Counts one request with this outcome: the one place where an outcome becomes a count.
    pub fn add(&mut self, outcome: &Outcome) {
        self.total += 1;
        *match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Error(_) => &mut self.error,
            Outcome::Timeout => &mut self.timeout,
            Outcome::NotSent => &mut self.not_sent,
            Outcome::Cancelled => &mut self.cancelled,
        } += 1;
    }

    /// The requests availability is judged on: all but those whose client hung up on purpose.
    pub fn judged(&self) -> u64 {
        self.total - self.cancelled
    }

    /// `ok / judged`, when any request was judged.
    pub fn availability(&self) -> Option<f64> {
        let judged = self.judged();
        (judged > 0).then(|| self.ok as f64 / judged as f64)
    }
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimelineRow {
    pub t_s: u64,
    /// Requests due in this second, and what became of them.
    pub offered: u64,
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
    pub not_sent: u64,
    #[serde(default)]
    pub cancelled: u64,
    /// Requests actually sent in this second: the achieved rate.
    pub sent: u64,
    /// Requests due in this second that failed over (as `failover.failed_over` counts them).
    pub failovers: u64,
    /// Requests due in this second by who served them (as `upstreams`, `unknown` included; those never sent are
    /// under no one): when traffic moved to a fallback, and when it came back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub served_by: BTreeMap<String, u64>,
    /// Of the requests due in this second: those that met `[sla] goodput`, and the tokens of the answered.
    #[serde(default)]
    pub good: u64,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    /// Latency percentiles of the requests that finished in this second.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl TimelineRow {
    /// A request due in this second, with its outcome.
    pub(super) fn add(&mut self, outcome: &Outcome) {
        self.offered += 1;
        *match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Error(_) => &mut self.error,
            Outcome::Timeout => &mut self.timeout,
            Outcome::NotSent => &mut self.not_sent,
            Outcome::Cancelled => &mut self.cancelled,
        } += 1;
    }
}

/// Adds `b`'s counts into `a` (shards, windows).
pub(super) fn add_counts(a: &mut Counts, b: &Counts) {
    a.total += b.total;
    a.ok += b.ok;
    a.error += b.error;
    a.timeout += b.timeout;
    a.not_sent += b.not_sent;
    a.cancelled += b.cancelled;
}
