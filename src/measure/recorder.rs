//! The recorder: folds each [`Sample`] into a [`RunResult`] and hands every closed one-second interval to an
//! [`IntervalSink`]. It knows no file format: the interval log is one sink (see `hlog`).

use super::episodes::{EpisodeRules, EpisodeTracker, Observation};
use super::histogram::{micros, ms, new_histogram};
use super::result::*;
use super::{MAX_UPSTREAMS, OTHER_UPSTREAMS, UNKNOWN_UPSTREAM};
use crate::sample::{Outcome, Sample};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The untagged series' tag: overall latency.
pub const OVERALL: &str = "";

/// Where closed intervals go: one histogram of one series for one second.
pub trait IntervalSink: Send {
    /// Takes one interval of one series (`tag` = [`OVERALL`] for the untagged one).
    fn write(&mut self, h: &Histogram<u64>, start: Duration, length: Duration, tag: &str) -> std::io::Result<()>;
    /// After the last interval.
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

/// Where every request goes, one by one, with the upstream it was counted under, none when it was never sent
/// (requests.parquet).
pub trait RequestSink: Send {
    fn write(&mut self, s: &Sample, upstream: Option<&str>) -> std::io::Result<()>;
    /// After the last request.
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

/// A sink that could not be written. The sink is dropped at its first error (a sink leaves no unfinished file
/// behind when dropped), and the run goes on: the measurements do not depend on it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the interval log: {0}")]
    Intervals(std::io::Error),
    #[error("the requests' file: {0}")]
    Requests(std::io::Error),
}

/// Called with the result so far once a second (as each interval closes), and whether a failover episode is
/// open: a live view of the run, such as the Prometheus exposition.
pub type Snapshot = Box<dyn FnMut(&RunResult, bool) + Send>;

/// Counters a progress display reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub finished: AtomicU64,
    /// Errors and timeouts: the target's failures (not a request not sent, nor a hang-up).
    pub failed: AtomicU64,
    pub last_p99_us: AtomicU64,
}

/// Folds samples into histograms and counters; owns all measurement state of a run.
pub struct Recorder {
    result: RunResult,
    rows: BTreeMap<u64, TimelineRow>,
    /// This second's histograms, by interval-log tag: overall latency first, then service, lag, tiers, classes.
    interval: Vec<(String, Histogram<u64>)>,
    interval_second: u64,
    /// Where each closed interval goes (latency.hlog).
    hlog: Option<Box<dyn IntervalSink>>,
    /// Where each request's record goes (requests.parquet).
    requests: Option<Box<dyn RequestSink>>,
    /// The sinks that failed, each dropped at its first error.
    sink_errors: Vec<SinkError>,
    snapshot: Option<Snapshot>,
    live: Arc<Live>,
    /// Tier of each watched outage in `result.outages`.
    watched: Vec<u16>,
    /// Requests due before this are warm-up: counted apart, not measured.
    warmup: Duration,
    episodes: Option<EpisodeTracker>,
    /// `[sla] goodput`, when it sets objectives.
    objectives: Option<super::Objectives>,
}

impl Recorder {
    /// A recorder for a run with these tier and class names (indices as in [`Sample`]); each second's
    /// histograms go to `hlog` if given.
    pub fn new(
        live: Arc<Live>,
        tiers: &[String],
        classes: &[String],
        regions: &[String],
        hlog: Option<Box<dyn IntervalSink>>,
    ) -> Self {
        let tags = [OVERALL.to_string(), "service".into(), "lag".into()]
            .into_iter()
            .chain(tiers.iter().map(|t| format!("tier.{t}")))
            .chain(classes.iter().map(|c| format!("class.{c}")));
        Recorder {
            result: RunResult {
                counts: Counts::default(),
                latency: new_histogram(),
                service_time: new_histogram(),
                lag: new_histogram(),
                errors: BTreeMap::new(),
                timeline: Vec::new(),
                elapsed: Duration::ZERO,
                last_due: Duration::ZERO,
                tiers: tiers.iter().map(|t| (t.clone(), TierStats::default())).collect(),
                classes: classes.iter().map(|c| (c.clone(), Group::default())).collect(),
                upstreams: BTreeMap::new(),
                upstreams_beyond_cap: 0,
                served_by_missing: 0,
                regions: regions.iter().map(|r| (r.clone(), Group::default())).collect(),
                failover: FailoverStats::default(),
                outages: Vec::new(),
                episodes: Default::default(),
                stream: StreamStats::default(),
                goodput: super::Goodput::new(false, classes.len(), tiers.len()),
                phases: super::PhaseStats::default(),
                sessions: super::Sessions::default(),
                cancellations: super::Cancellations::default(),
                windows: Vec::new(),
                warmup: Counts::default(),
                warmup_time: Duration::ZERO,
                mock_timing: None,
            },
            rows: BTreeMap::new(),
            interval: tags.map(|t| (t, new_histogram())).collect(),
            interval_second: 0,
            hlog,
            requests: None,
            sink_errors: Vec::new(),
            snapshot: None,
            live,
            watched: Vec::new(),
            warmup: Duration::ZERO,
            episodes: None,
            objectives: None,
        }
    }

    /// Leaves requests due in the first `warmup` of the run out of every measurement (they are only counted, in
    /// [`RunResult::warmup`]): a capacity step judges the steady state, not the target's or the client's start.
    pub fn exclude_warmup(&mut self, warmup: Duration) {
        self.warmup = warmup;
        self.result.warmup_time = warmup;
    }

    /// Also counts each request in the window (start s, end s) its intended time falls in.
    pub fn watch_windows(&mut self, windows: &[(f64, f64)]) {
        self.result.windows = windows
            .iter()
            .map(|(a, b)| WindowStats { start_s: *a, end_s: *b, counts: Counts::default(), latency: new_histogram() })
            .collect();
    }

    /// Also hands every measured request to `sink` (warm-up requests are only counted, as everywhere).
    pub fn write_requests(&mut self, sink: Box<dyn RequestSink>) {
        self.requests = Some(sink);
    }

    /// Also shows the result so far to `snapshot` once a second.
    pub fn show_live(&mut self, snapshot: Snapshot) {
        self.snapshot = Some(snapshot);
    }

    /// Also finds failover episodes in the requests, by these rules.
    pub fn watch_episodes(&mut self, rules: EpisodeRules) {
        self.episodes = Some(EpisodeTracker::new(rules));
    }

    /// Also counts the requests that meet `objectives` (goodput).
    pub fn watch_goodput(&mut self, objectives: super::Objectives) {
        self.objectives = Some(objectives);
        self.result.goodput.judged = true;
    }

    /// Watches a scheduled outage of `provider`, tier `tier`'s mock, from `start` to `end` (offsets from the start
    /// of the run).
    pub fn watch_outage(&mut self, tier: u16, name: &str, provider: &str, start: Duration, end: Duration) {
        self.watched.push(tier);
        self.result.outages.push(OutageStats {
            failures: None,
            tier: name.to_string(),
            provider: provider.to_string(),
            start_s: start.as_secs_f64(),
            end_s: end.as_secs_f64(),
            requests_due: 0,
            failed_over: 0,
            user_errors: 0,
            first_failover_after_s: None,
            error_burst_s: 0.0,
            back_to_tier_after_s: None,
        });
    }

    pub fn record(&mut self, s: &Sample) {
        if s.intended < self.warmup {
            if let Some(tracker) = &mut self.episodes {
                tracker.ended(s.request, None);
            }
            self.result.warmup.add(&s.outcome);
            self.live.finished.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The second closes before this request is counted anywhere: the live view it shows (one Prometheus
        // scrape) then holds every counter at the same request, its total equal to its tiers' and classes' sums.
        if s.sent.is_some() && s.done.as_secs() > self.interval_second {
            self.close_interval();
            self.interval_second = s.done.as_secs();
        }
        let r = &mut self.result;
        r.counts.add(&s.outcome);
        // Its latency comes from its interval series (fold_interval).
        if let Some((_, class)) = r.classes.get_mut(s.class as usize) {
            class.add(&s.outcome, None);
        }
        r.elapsed = r.elapsed.max(s.done);
        r.last_due = r.last_due.max(s.intended);
        r.sessions.observe(s);
        r.cancellations.observe(s);
        if let Outcome::Error(kind) = &s.outcome {
            *r.errors.entry(kind.label()).or_default() += 1;
        }
        let due_row = self
            .rows
            .entry(s.intended.as_secs())
            .or_insert_with(|| TimelineRow { t_s: s.intended.as_secs(), ..Default::default() });
        due_row.add(&s.outcome);
        let good = self.objectives.is_some_and(|o| o.met_by(s));
        let (input_tokens, output_tokens) = r.goodput.add(s, good);
        due_row.good += u64::from(good);
        due_row.input_tokens += input_tokens;
        due_row.output_tokens += output_tokens;
        // The target's failures only: a request not sent is the generator's, a hang-up the client's.
        if matches!(s.outcome, Outcome::Error(_) | Outcome::Timeout) {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.live.finished.fetch_add(1, Ordering::Relaxed);
        // A request whose client hung up on purpose has no latency: it is counted, and its lag is the generator's.
        let measured = s.outcome != Outcome::Cancelled;
        let t = s.intended.as_secs_f64();
        let window = r.windows.partition_point(|w| w.start_s <= t).checked_sub(1).filter(|i| t < r.windows[*i].end_s);
        if let Some(w) = window.map(|i| &mut r.windows[i]) {
            w.counts.add(&s.outcome);
            if s.sent.is_some() && measured {
                w.latency.saturating_record(micros(s.done.saturating_sub(s.intended)));
            }
        }
        let upstream = count_upstream(r, s);
        if let Some(upstream) = upstream {
            match due_row.served_by.get_mut(upstream) {
                Some(n) => *n += 1,
                None => _ = due_row.served_by.insert(upstream.to_string(), 1),
            }
        }
        if let Some(tracker) = &mut self.episodes {
            observe_episode(tracker, s, upstream);
        }
        if let Some(Err(e)) = self.requests.as_mut().map(|sink| sink.write(s, upstream)) {
            // Dropped at once: its unfinished file goes, and with it the space a full disk needs for the rest.
            self.requests = None;
            self.sink_errors.push(SinkError::Requests(e));
        }
        let Some(sent) = s.sent else { return };
        let sent_second = sent.as_secs();
        self.rows.entry(sent_second).or_insert_with(|| TimelineRow { t_s: sent_second, ..Default::default() }).sent +=
            1;
        // Every sent request has a latency, failures and timeouts included: leaving them out would flatter the tail.
        let latency = micros(s.done.saturating_sub(s.intended));
        let service = micros(s.done.saturating_sub(sent));
        let lag = micros(sent.saturating_sub(s.intended));
        // Into this second's series only: the run-wide latency, service time, lag, tier and class histograms take
        // them as the second closes (fold_interval), one record a request instead of two.
        let tiers = self.result.tiers.len();
        let series = [Some(0), Some(1), Some(2), s.served.map(|t| 3 + t as usize), Some(3 + tiers + s.class as usize)];
        for ((i, value), is_latency) in
            series.into_iter().zip([latency, service, lag, latency, latency]).zip([true, true, false, true, true])
        {
            if let Some((_, h)) = i.and_then(|i| self.interval.get_mut(i)).filter(|_| measured || !is_latency) {
                h.saturating_record(value);
            }
        }
        if let Some(upstream) = upstream.filter(|_| measured) {
            self.record_upstream_interval(upstream, latency);
        }
        self.record_routing(s);
    }

    /// This second's latency by upstream, as `upstream.<name>` series of the interval log. The names are those
    /// the upstream counts use, so there are at most [`MAX_UPSTREAMS`] and `(other)`.
    fn record_upstream_interval(&mut self, name: &str, latency: u64) {
        let fixed = 3 + self.result.tiers.len() + self.result.classes.len();
        let found = self.interval[fixed..].iter().position(|(tag, _)| tag.strip_prefix(UPSTREAM_TAG) == Some(name));
        let i = found.map(|i| fixed + i).unwrap_or_else(|| {
            self.interval.push((format!("{UPSTREAM_TAG}{name}"), new_histogram()));
            self.interval.len() - 1
        });
        self.interval[i].1.saturating_record(latency);
    }

    /// Per tier, class and upstream, and failover.
    fn record_routing(&mut self, s: &Sample) {
        let r = &mut self.result;
        let e2e = s.done.saturating_sub(s.intended);
        r.phases.observe(s);
        if let Some((_, tier)) = s.hedged_away.and_then(|t| r.tiers.get_mut(t as usize)) {
            tier.hedged_away += 1;
        }
        for a in &s.attempts {
            let elapsed = (a.outcome != Outcome::Cancelled).then_some(a.elapsed);
            if let Some((_, tier)) = r.tiers.get_mut(a.tier as usize) {
                tier.attempts.add(&a.outcome, elapsed);
            }
            if let Some((_, region)) = a.region.and_then(|i| r.regions.get_mut(i as usize)) {
                region.add(&a.outcome, elapsed);
            }
        }
        if let Some((_, tier)) = s.served.and_then(|t| r.tiers.get_mut(t as usize)) {
            tier.serve(s);
        }
        if let (Some(t), Some(sent)) = (&s.stream, s.sent) {
            r.stream.observe(t, s.intended, sent);
        }
        if let Some(sent) = s.sent {
            for (outage, tier) in r.outages.iter_mut().zip(&self.watched) {
                outage.observe(*tier, s, sent);
            }
        }
        if r.failover.observe(s, e2e) {
            let second = s.intended.as_secs();
            self.rows.entry(second).or_insert_with(|| TimelineRow { t_s: second, ..Default::default() }).failovers += 1;
        }
    }

    fn close_interval(&mut self) {
        self.fold_interval();
        let t = self.interval_second;
        let overall = &self.interval[0].1;
        if !overall.is_empty() {
            if let Some(show) = &mut self.snapshot {
                show(&self.result, self.episodes.as_ref().is_some_and(|e| e.open()));
            }
            let row = self.rows.entry(t).or_insert_with(|| TimelineRow { t_s: t, ..Default::default() });
            row.p50_ms = Some(ms(overall.value_at_quantile(0.50)));
            let p99 = overall.value_at_quantile(0.99);
            row.p99_ms = Some(ms(p99));
            self.live.last_p99_us.store(p99, Ordering::Relaxed);
        }
        for (tag, h) in &mut self.interval {
            if let (Some(sink), false) = (&mut self.hlog, h.is_empty()) {
                if let Err(e) = sink.write(h, Duration::from_secs(t), Duration::from_secs(1), tag) {
                    self.hlog = None;
                    self.sink_errors.push(SinkError::Intervals(e));
                }
            }
            h.reset();
        }
    }

    /// Adds this second's series to the run-wide histograms they are a part of: overall latency, service time and
    /// lag, each tier's served latency and each class's latency. The upstreams' series are left: their groups
    /// record each request themselves (an upstream's row can be `(other)`).
    fn fold_interval(&mut self) {
        let r = &mut self.result;
        let (tiers, classes) = (r.tiers.len(), r.classes.len());
        for (i, (_, h)) in self.interval.iter().enumerate().filter(|(_, (_, h))| !h.is_empty()) {
            let whole = match i {
                0 => &mut r.latency,
                1 => &mut r.service_time,
                2 => &mut r.lag,
                i if i < 3 + tiers => &mut r.tiers[i - 3].1.served.latency,
                i if i < 3 + tiers + classes => &mut r.classes[i - 3 - tiers].1.latency,
                _ => break,
            };
            whole.add(h).expect("the series and the run's histograms have one range");
        }
    }

    /// Closes the last interval and the sinks. The result is whole whatever the sinks did; the sinks that could
    /// not be written (their files left out) come with it.
    pub fn finish(mut self) -> (RunResult, Vec<SinkError>) {
        self.close_interval();
        if let Some(Err(e)) = self.hlog.take().map(|sink| sink.finish()) {
            self.sink_errors.push(SinkError::Intervals(e));
        }
        if let Some(Err(e)) = self.requests.take().map(|sink| sink.finish()) {
            self.sink_errors.push(SinkError::Requests(e));
        }
        if let Some(tracker) = self.episodes.take() {
            let (episodes, inferred) = tracker.finish();
            self.result.episodes = episodes;
            self.result.failover.add_inferred(&inferred);
            for (second, n) in inferred.by_second {
                self.rows
                    .entry(second)
                    .or_insert_with(|| TimelineRow { t_s: second, ..Default::default() })
                    .failovers += n;
            }
        }
        // Fill gaps so the timeline has one row per second.
        let last = self.rows.keys().next_back().copied();
        if let Some(last) = last {
            for t in 0..=last {
                self.rows.entry(t).or_insert_with(|| TimelineRow { t_s: t, ..Default::default() });
            }
        }
        self.result.timeline = self.rows.into_values().collect();
        (self.result, self.sink_errors)
    }
}

/// A request as the episodes see it. What the generator did not send, what the run's own stop cut short, and what
/// the client hung up on, say nothing about the target.
fn observe_episode(tracker: &mut EpisodeTracker, s: &Sample, upstream: Option<&str>) {
    let silent = matches!(s.outcome, Outcome::Error(crate::sample::ErrorKind::Interrupted) | Outcome::Cancelled);
    let Some(upstream) = upstream.filter(|_| !silent) else {
        return tracker.ended(s.request, None);
    };
    let upstream = tracker.name(upstream);
    let observation = Observation {
        intended: s.intended,
        done: s.done,
        class: s.class,
        ok: s.outcome == Outcome::Ok,
        retried: s.attempts.len() > 1 || s.gateway_failed_over,
        failed_over: s.failed_over(),
        upstream,
    };
    tracker.ended(s.request, Some(observation));
}

/// Where an upstream's series is in the interval log: `upstream.<name>`.
pub const UPSTREAM_TAG: &str = "upstream.";

/// Counts a sent request under its upstream: every sent request under one, `unknown` when none was named, so
/// that the counts add up to the requests sent, failures included. A request never sent went to no one, and is
/// counted under none: served-by would otherwise name `unknown` for the generator's limit. Look up before
/// inserting: a new key is a copy of the name, once per upstream rather than per sample. Past MAX_UPSTREAMS names
/// (a header carrying a pod name or a request id), the rest share one group.
///
/// Returns the name it was counted under, for the request's timeline row; none when it was never sent.
fn count_upstream<'a>(r: &mut RunResult, s: &'a Sample) -> Option<&'a str> {
    for tried in &s.gateway_tried {
        upstream_row(r, tried).failed_attempts += 1;
    }
    s.sent?;
    let latency = s.sent.filter(|_| s.outcome != Outcome::Cancelled).map(|_| s.done.saturating_sub(s.intended));
    r.served_by_missing += s.served_by_missing as u64;
    let u = s.upstream.as_deref().unwrap_or(UNKNOWN_UPSTREAM);
    let beyond_cap = !r.upstreams.contains_key(u) && r.upstreams.len() >= MAX_UPSTREAMS;
    r.upstreams_beyond_cap += u64::from(beyond_cap);
    upstream_row(r, u).add(&s.outcome, latency);
    Some(if beyond_cap { OTHER_UPSTREAMS } else { u })
}

/// The row of an upstream by name, made on first sight, or `(other)` once [`MAX_UPSTREAMS`] are named.
fn upstream_row<'r>(r: &'r mut RunResult, name: &str) -> &'r mut Group {
    if !r.upstreams.contains_key(name) {
        let name = if r.upstreams.len() >= MAX_UPSTREAMS { OTHER_UPSTREAMS } else { name };
        return r.upstreams.entry(name.to_string()).or_default();
    }
    r.upstreams.get_mut(name).expect("just checked")
}

#[cfg(test)]
mod tests;
