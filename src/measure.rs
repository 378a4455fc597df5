//! Samples and their recording: HdrHistograms, counts and the per-second timeline.
//!
//! Every scheduled request becomes exactly one [`Sample`] with one [`Outcome`], so
//! total = ok + error + timeout + not_sent holds by construction, and it holds per timeline row too (rows
//! count outcomes by the second the request was due). Latency counts from the intended send time (no
//! coordinated omission); service time from the actual send; lag is actual minus intended.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Histogram range: 1 µs to 1 hour, 3 significant digits. Values are in microseconds.
pub const HIST_MAX_US: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
}

/// What happened to one scheduled request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a success status and a complete body.
    Ok,
    /// Answered with a failure status, or the connection or body failed.
    Error(ErrorKind),
    /// No complete answer within the scenario's timeout.
    Timeout,
    /// Never sent: the in-flight cap was reached when it was due.
    NotSent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Status(u16),
    Connect,
    /// The connection broke or the body could not be read.
    Transport,
    /// The run was interrupted while the request was in flight.
    Interrupted,
}

impl ErrorKind {
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Status(s) => format!("status {s}"),
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Transport => "transport".into(),
            ErrorKind::Interrupted => "interrupted".into(),
        }
    }
}

/// One request's times, as offsets from the start of the run.
#[derive(Debug, Clone)]
pub struct Sample {
    pub intended: Duration,
    /// When it was actually sent (absent if not sent).
    pub sent: Option<Duration>,
    /// When it finished (answered, failed, timed out or was given up).
    pub done: Duration,
    pub outcome: Outcome,
}

/// Counters a progress display reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub finished: AtomicU64,
    pub failed: AtomicU64,
    pub last_p99_us: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
    pub not_sent: u64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimelineRow {
    pub t_s: u64,
    /// Requests due in this second, and what became of them.
    pub offered: u64,
    pub ok: u64,
    pub error: u64,
    pub timeout: u64,
    pub not_sent: u64,
    /// Requests actually sent in this second: the achieved rate.
    pub sent: u64,
    /// Latency percentiles of the requests that finished in this second.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    pub service_time: Histogram<u64>,
    pub lag: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    pub timeline: Vec<TimelineRow>,
    /// Time from the start of the run to the last sample.
    pub elapsed: Duration,
}

impl RunResult {
    pub fn availability(&self) -> Option<f64> {
        (self.counts.total > 0).then(|| self.counts.ok as f64 / self.counts.total as f64)
    }
}

/// Folds samples into histograms and counters; owns all measurement state of a run.
pub struct Recorder {
    result: RunResult,
    rows: BTreeMap<u64, TimelineRow>,
    interval: Histogram<u64>,
    interval_second: u64,
    live: Arc<Live>,
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, HIST_MAX_US)
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Recorder {
    pub fn new(live: Arc<Live>) -> Self {
        Recorder {
            result: RunResult {
                counts: Counts::default(),
                latency: new_histogram(),
                service_time: new_histogram(),
                lag: new_histogram(),
                errors: BTreeMap::new(),
                timeline: Vec::new(),
                elapsed: Duration::ZERO,
            },
            rows: BTreeMap::new(),
            interval: new_histogram(),
            interval_second: 0,
            live,
        }
    }

    pub fn record(&mut self, s: &Sample) {
        let r = &mut self.result;
        r.counts.total += 1;
        r.elapsed = r.elapsed.max(s.done);
        let due_row = self
            .rows
            .entry(s.intended.as_secs())
            .or_insert_with(|| TimelineRow { t_s: s.intended.as_secs(), ..Default::default() });
        due_row.offered += 1;
        match &s.outcome {
            Outcome::Ok => {
                r.counts.ok += 1;
                due_row.ok += 1;
            }
            Outcome::Error(kind) => {
                r.counts.error += 1;
                due_row.error += 1;
                *r.errors.entry(kind.label()).or_default() += 1;
            }
            Outcome::Timeout => {
                r.counts.timeout += 1;
                due_row.timeout += 1;
            }
            Outcome::NotSent => {
                r.counts.not_sent += 1;
                due_row.not_sent += 1;
            }
        }
        if s.outcome != Outcome::Ok {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.live.finished.fetch_add(1, Ordering::Relaxed);
        let Some(sent) = s.sent else { return };
        let sent_second = sent.as_secs();
        self.rows.entry(sent_second).or_insert_with(|| TimelineRow { t_s: sent_second, ..Default::default() }).sent +=
            1;
        // Every sent request has a latency, failures and timeouts included: leaving them out would flatter the tail.
        let latency = micros(s.done.saturating_sub(s.intended));
        r.latency.saturating_record(latency);
        r.service_time.saturating_record(micros(s.done.saturating_sub(sent)));
        r.lag.saturating_record(micros(sent.saturating_sub(s.intended)));
        let done_second = s.done.as_secs();
        if done_second > self.interval_second {
            self.close_interval();
            self.interval_second = done_second;
        }
        self.interval.saturating_record(latency);
    }

    fn close_interval(&mut self) {
        if self.interval.is_empty() {
            return;
        }
        let t = self.interval_second;
        let row = self.rows.entry(t).or_insert_with(|| TimelineRow { t_s: t, ..Default::default() });
        row.p50_ms = Some(ms(self.interval.value_at_quantile(0.50)));
        let p99 = self.interval.value_at_quantile(0.99);
        row.p99_ms = Some(ms(p99));
        self.live.last_p99_us.store(p99, Ordering::Relaxed);
        self.interval.reset();
    }

    pub fn finish(mut self) -> RunResult {
        self.close_interval();
        // Fill gaps so the timeline has one row per second.
        let last = self.rows.keys().next_back().copied();
        if let Some(last) = last {
            for t in 0..=last {
                self.rows.entry(t).or_insert_with(|| TimelineRow { t_s: t, ..Default::default() });
            }
        }
        self.result.timeline = self.rows.into_values().collect();
        self.result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(intended_ms: u64, sent_ms: Option<u64>, done_ms: u64, outcome: Outcome) -> Sample {
        Sample {
            intended: Duration::from_millis(intended_ms),
            sent: sent_ms.map(Duration::from_millis),
            done: Duration::from_millis(done_ms),
            outcome,
        }
    }

    #[test]
    fn every_sample_is_counted_once_overall_and_per_row() {
        let mut r = Recorder::new(Arc::default());
        r.record(&sample(0, Some(0), 10, Outcome::Ok));
        r.record(&sample(500, Some(501), 1600, Outcome::Error(ErrorKind::Status(503))));
        r.record(&sample(900, None, 900, Outcome::NotSent));
        r.record(&sample(1200, Some(1200), 2300, Outcome::Timeout));
        let res = r.finish();
        let c = res.counts;
        assert_eq!((c.total, c.ok, c.error, c.timeout, c.not_sent), (4, 1, 1, 1, 1));
        assert_eq!(c.total, c.ok + c.error + c.timeout + c.not_sent);
        for row in &res.timeline {
            assert_eq!(row.offered, row.ok + row.error + row.timeout + row.not_sent);
        }
        assert_eq!(res.timeline[0].offered, 3);
        assert_eq!(res.errors.get("status 503"), Some(&1));
        // Latency counts from the intended time: 1,100 ms for the second request though it was sent 1 ms late.
        assert!((ms(res.latency.max()) - 1100.0).abs() < 2.0);
        assert_eq!(res.latency.len(), 3);
    }
}
