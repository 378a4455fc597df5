//! Failover episodes, inferred from what the client sees: no outage schedule is needed, so this works against a
//! real gateway that nobody tells slacheck about.
//!
//! Requests are taken in intended-time order: a reorder buffer holds each until every request scheduled before
//! it has ended (the schedule is in intended order, so a request's number is its place in that order). The
//! buffer spans the requests that ended while the oldest one still out was in flight: at most the rate times the
//! longest a request can take, and nearly nothing while answers come back in order.
//!
//! An episode begins at the first request that failed, was served by an upstream other than its class's
//! primary, or needed another attempt; it ends when the primary has served `recover_after` requests in a row
//! again, at the first of them. A lone anomaly is an episode of one request, labelled `isolated`.
//!
//! A gateway that fails over internally and says nothing about it (no failover marker, no list of the upstreams
//! it tried) still shows it: a request served by another upstream than its class's primary has failed over.
//! With [`EpisodeRules::infer_failover`], those requests are counted here, as inferred failovers.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Successes counted before a primary is chosen by majority, when none is given.
const PRIMARY_SAMPLE: usize = 100;
/// Requests held at most while the primary is being chosen: the choice is made with what is there by then.
const MAX_PENDING: usize = 10_000;
/// Episodes kept in full; past them (a run with scattered errors) only their number is kept.
pub const MAX_EPISODES: usize = 1_000;

/// One failover episode, in milliseconds from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Intended time of its first anomalous request.
    pub start_ms: f64,
    /// Intended time of the first request of the primary's run of successes that ended it (or of the last
    /// request, when the run ended first).
    pub end_ms: f64,
    /// False when the run ended before the primary recovered.
    pub recovered: bool,
    /// Requests due within it, and how many of them failed (what users saw).
    pub requests: u64,
    pub failed: u64,
    /// Who served its requests (`unknown` for those no one named).
    pub served_by: BTreeMap<String, u64>,
    /// Of its requests, those its class's own primary served at the first attempt: untouched by the episode
    /// (another class's primary was the one in trouble, or the outage had not reached them).
    #[serde(default)]
    pub by_primary: u64,
    /// From the first anomaly to the first success served by another upstream (by its completion).
    pub time_to_failover_ms: Option<f64>,
    /// The longest stretch in which every request failed: from the first one's intended time to the last
    /// one's completion.
    pub error_burst_ms: f64,
    /// From the last anomalous request to the primary serving again.
    pub time_to_recover_ms: Option<f64>,
    /// A single anomalous request: noise rather than an outage.
    pub isolated: bool,
}

/// Which upstream counts as each class's primary, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Primary {
    /// By class, in the scenario's order.
    pub names: Vec<Option<String>>,
    /// "the class's first tier", "served_by.primary", or "most served of the first 100 successes".
    pub chosen_by: String,
}

impl Primary {
    /// The primary of class `class` (a class the first successes did not show takes the last one chosen).
    pub fn of_class(&self, class: usize) -> Option<&str> {
        self.names.get(class).or(self.names.last()).and_then(|n| n.as_deref())
    }
}

/// What the episodes of a run are judged with.
#[derive(Debug, Clone)]
pub struct EpisodeRules {
    /// Each class's primary upstream, when the scenario says it, and the rule that says it; None: the majority
    /// of the first successes.
    pub class_primary: Option<(Vec<String>, &'static str)>,
    /// Consecutive successes of the primary that end an episode.
    pub recover_after: u32,
    /// The request numbers this process sends: every `.1`-th from `.0` (a shard's), else (0, 1).
    pub numbers: (u64, u64),
    /// Count a request served by another upstream than its class's primary as failed over, when nothing else
    /// said so (a gateway without a failover marker).
    pub infer_failover: bool,
}

/// Failovers seen only in who served: requests served by a named upstream other than their class's primary,
/// that neither slacheck's own tiers nor the gateway reported as failed over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferredFailovers {
    pub failed_over: u64,
    /// …of which succeeded: at the first attempt slacheck saw, or after slacheck retried it.
    pub rescued: u64,
    pub rescued_first_attempt: u64,
    pub rescued_on_retry: u64,
    /// By the second they were due in.
    pub by_second: BTreeMap<u64, u64>,
    /// Intended times of the first and the last.
    pub first_at: Option<Duration>,
    pub last_at: Option<Duration>,
}

impl InferredFailovers {
    fn add(&mut self, o: &Observation) {
        self.failed_over += 1;
        self.rescued += u64::from(o.ok);
        self.rescued_first_attempt += u64::from(o.ok && !o.retried);
        self.rescued_on_retry += u64::from(o.ok && o.retried);
        *self.by_second.entry(o.intended.as_secs()).or_default() += 1;
        self.first_at = Some(self.first_at.map_or(o.intended, |t| t.min(o.intended)));
        self.last_at = Some(self.last_at.map_or(o.intended, |t| t.max(o.intended)));
    }
}

impl super::FailoverStats {
    /// Counts the failovers only the episodes saw. What [`super::FailoverStats::observe`] counted of those
    /// requests is moved: a rescued one was a first-attempt success, or a retry's, as far as it could tell.
    pub(super) fn add_inferred(&mut self, i: &InferredFailovers) {
        self.failed_over += i.failed_over;
        self.inferred += i.failed_over;
        self.rescued += i.rescued;
        self.first_attempt_ok = self.first_attempt_ok.saturating_sub(i.rescued_first_attempt);
        self.retry_rescued = self.retry_rescued.saturating_sub(i.rescued_on_retry);
        self.first_at = self.first_at.into_iter().chain(i.first_at).min();
        self.last_at = self.last_at.into_iter().chain(i.last_at).max();
    }
}

/// Whether a request served by `upstream` failed over from `primary`: it was served by someone named, and not
/// by the primary. Neither `unknown` (no one named) nor the upstreams past the cap (`(other)`) can tell.
pub fn served_elsewhere(primary: Option<&str>, upstream: &str) -> bool {
    primary.is_some_and(|p| p != upstream) && upstream != super::UNKNOWN_UPSTREAM && upstream != super::OTHER_UPSTREAMS
}

/// One request, as the episodes see it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub intended: Duration,
    pub done: Duration,
    pub class: u16,
    pub ok: bool,
    /// It took more than one attempt.
    pub retried: bool,
    /// slacheck's tiers or the gateway already said it failed over.
    pub failed_over: bool,
    /// Its upstream, as [`EpisodeTracker::name`] numbered it.
    pub upstream: u16,
}

/// The episodes found so far, fed one completed request at a time.
#[derive(Debug)]
pub struct EpisodeTracker {
    rules: EpisodeRules,
    primary: Option<Primary>,
    /// The requests from place `next` in the schedule on, as they end; the front is released once it is in.
    /// Its length is the number of requests that ended while the oldest one still out was in flight.
    waiting: VecDeque<Slot>,
    next: u64,
    /// Released while the primary is being chosen.
    pending: Vec<Observation>,
    open: Option<Open>,
    episodes: Episodes,
    /// Upstream names, numbered as they first come: an observation carries a number, not a copy of its name.
    names: Vec<String>,
    inferred: InferredFailovers,
}

/// The episodes found, the first [`MAX_EPISODES`] in full.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Episodes {
    pub primary: Option<Primary>,
    pub list: Vec<Episode>,
    /// Episodes past [`MAX_EPISODES`], counted only.
    pub beyond_cap: u64,
}

impl Episodes {
    fn push(&mut self, e: Episode) {
        if self.list.len() < MAX_EPISODES {
            self.list.push(e);
        } else {
            self.beyond_cap += 1;
        }
    }
}

/// A place of the reorder buffer.
#[derive(Debug)]
enum Slot {
    /// The request has not ended yet.
    Out,
    /// It ended and says nothing about the target (not sent, warm-up, cut short by the run's stop).
    Passed,
    Ended(Observation),
}

#[derive(Debug)]
struct Open {
    episode: Episode,
    anomalies: u64,
    last_anomaly_ms: f64,
    /// The current run of the primaries' successes: its start, length, and who served it (by upstream
    /// number; with several classes, several primaries).
    clean_start_ms: f64,
    clean: u32,
    clean_served: BTreeMap<u16, u64>,
    /// The current stretch of failures: (first intended, last done).
    burst: Option<(f64, f64)>,
}

/// Milliseconds, exact to the microsecond.
fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

impl EpisodeTracker {
    pub fn new(rules: EpisodeRules) -> Self {
        let primary = rules.class_primary.as_ref().map(|(names, rule)| Primary {
            names: names.iter().cloned().map(Some).collect(),
            chosen_by: rule.to_string(),
        });
        EpisodeTracker {
            rules,
            primary,
            waiting: VecDeque::new(),
            next: 0,
            pending: Vec::new(),
            open: None,
            episodes: Episodes::default(),
            names: Vec::new(),
            inferred: InferredFailovers::default(),
        }
    }

    /// The number of an upstream's name. Names are the recorder's capped labels, so there are a few dozen at
    /// most, and a look along them costs less than a copy of the name per request.
    pub fn name(&mut self, name: &str) -> u16 {
        match self.names.iter().position(|n| n == name) {
            Some(i) => i as u16,
            None => {
                self.names.push(name.to_string());
                (self.names.len() - 1) as u16
            }
        }
    }

    /// Request number `request` (numbered in intended order) ended as `o`; None: it says nothing about the
    /// target. Every request of the schedule is given once; each is released as soon as all before it are in.
    /// (A number given twice cannot come from a run: it is released at once.)
    pub fn ended(&mut self, request: u64, o: Option<Observation>) {
        let (first, step) = self.rules.numbers;
        let place = request.saturating_sub(first) / step.max(1);
        let Some(offset) = place.checked_sub(self.next).map(|d| d as usize) else {
            return self.release_some(o);
        };
        if offset >= self.waiting.len() {
            self.waiting.resize_with(offset + 1, || Slot::Out);
        }
        match &self.waiting[offset] {
            Slot::Out => self.waiting[offset] = o.map_or(Slot::Passed, Slot::Ended),
            _ => return self.release_some(o),
        }
        while let Some(front) = self.waiting.front() {
            if matches!(front, Slot::Out) {
                break;
            }
            if let Some(Slot::Ended(o)) = self.waiting.pop_front() {
                self.release(o);
            }
            self.next += 1;
        }
    }

    fn release_some(&mut self, o: Option<Observation>) {
        if let Some(o) = o {
            self.release(o);
        }
    }

    /// An episode is open: two failures or failovers or more, not yet followed by `recover_after` clean
    /// requests (a lone one, which closes as an isolated failure, is not counted).
    pub fn open(&self) -> bool {
        self.open.as_ref().is_some_and(|o| o.anomalies > 1)
    }

    /// Requests waiting for an earlier one.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.waiting.iter().filter(|s| matches!(s, Slot::Ended(_))).count()
    }

    /// Every request is in: releases the rest and closes an episode still open. Returns the episodes, and the
    /// failovers inferred (none unless [`EpisodeRules::infer_failover`]).
    pub fn finish(mut self) -> (Episodes, InferredFailovers) {
        for slot in std::mem::take(&mut self.waiting) {
            if let Slot::Ended(o) = slot {
                self.release(o);
            }
        }
        if self.primary.is_none() {
            self.choose_primary();
        }
        if let Some(open) = self.open.take() {
            let mut e = open.episode;
            e.end_ms = e.end_ms.max(open.last_anomaly_ms);
            close_burst(&mut e, open.burst);
            e.isolated = open.anomalies == 1;
            self.episodes.push(e);
        }
        self.episodes.primary = self.primary;
        (self.episodes, self.inferred)
    }

    fn release(&mut self, o: Observation) {
        if self.primary.is_some() {
            return self.step(o);
        }
        self.pending.push(o);
        let successes = self.pending.iter().filter(|o| o.ok).count();
        if successes >= PRIMARY_SAMPLE || self.pending.len() >= MAX_PENDING {
            self.choose_primary();
        }
    }

    /// The upstream that served most of the first successes, for every class.
    fn choose_primary(&mut self) {
        let mut served: BTreeMap<&str, usize> = BTreeMap::new();
        for o in self.pending.iter().filter(|o| o.ok) {
            *served.entry(self.names[o.upstream as usize].as_str()).or_default() += 1;
        }
        let top = served.iter().max_by_key(|(_, n)| **n).map(|(name, _)| name.to_string());
        let classes = self.pending.iter().map(|o| o.class as usize + 1).max().unwrap_or(1);
        self.primary = Some(Primary {
            names: vec![top; classes],
            chosen_by: format!("most served of the first {PRIMARY_SAMPLE} successes"),
        });
        for o in std::mem::take(&mut self.pending) {
            self.step(o);
        }
    }

    /// One request in intended order.
    fn step(&mut self, o: Observation) {
        let primary = self.primary.as_ref().and_then(|p| p.of_class(o.class as usize));
        let upstream = &self.names[o.upstream as usize];
        let by_primary = primary.is_none_or(|p| p == upstream);
        if self.rules.infer_failover && !o.failed_over && served_elsewhere(primary, upstream) {
            self.inferred.add(&o);
        }
        let anomaly = !o.ok || o.retried || !by_primary;
        let (at, done) = (ms(o.intended), ms(o.done));
        if self.open.is_none() {
            if !anomaly {
                return;
            }
            self.open = Some(Open {
                episode: Episode {
                    start_ms: at,
                    end_ms: at,
                    recovered: false,
                    requests: 0,
                    failed: 0,
                    served_by: BTreeMap::new(),
                    by_primary: 0,
                    time_to_failover_ms: None,
                    error_burst_ms: 0.0,
                    time_to_recover_ms: None,
                    isolated: false,
                },
                anomalies: 0,
                last_anomaly_ms: at,
                clean_start_ms: at,
                clean: 0,
                clean_served: BTreeMap::new(),
                burst: None,
            });
        }
        let Some(open) = self.open.as_mut() else { return };
        let e = &mut open.episode;
        e.requests += 1;
        e.failed += !o.ok as u64;
        match e.served_by.get_mut(upstream) {
            Some(n) => *n += 1,
            None => _ = e.served_by.insert(upstream.clone(), 1),
        }
        if o.ok && !by_primary && e.time_to_failover_ms.is_none() {
            e.time_to_failover_ms = Some(done - e.start_ms);
        }
        if o.ok {
            close_burst(e, open.burst.take());
        } else {
            let first = open.burst.map_or(at, |(first, _)| first);
            open.burst = Some((first, done));
        }
        e.by_primary += u64::from(!anomaly);
        if anomaly {
            open.anomalies += 1;
            open.last_anomaly_ms = at;
            open.clean = 0;
            open.clean_served.clear();
            return;
        }
        if open.clean == 0 {
            open.clean_start_ms = at;
        }
        open.clean += 1;
        *open.clean_served.entry(o.upstream).or_default() += 1;
        if open.clean < self.rules.recover_after {
            return;
        }
        if let Some(open) = self.open.take() {
            self.close_recovered(open);
        }
    }

    /// Ends an episode at the first of the primaries' run of successes, which is what ended it, not part of it.
    fn close_recovered(&mut self, mut open: Open) {
        let e = &mut open.episode;
        e.requests -= u64::from(open.clean);
        e.by_primary -= u64::from(open.clean);
        for (upstream, clean) in &open.clean_served {
            if let Some(n) = e.served_by.get_mut(&self.names[*upstream as usize]) {
                *n -= clean;
            }
        }
        e.served_by.retain(|_, n| *n > 0);
        e.end_ms = open.clean_start_ms;
        e.recovered = true;
        e.time_to_recover_ms = Some(open.clean_start_ms - open.last_anomaly_ms);
        e.isolated = open.anomalies == 1;
        self.episodes.push(open.episode);
    }
}

fn close_burst(e: &mut Episode, burst: Option<(f64, f64)>) {
    if let Some((first, last)) = burst {
        e.error_burst_ms = e.error_burst_ms.max(last - first);
    }
}

#[cfg(test)]
mod tests;
