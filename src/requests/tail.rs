//! Where the tail came from: which tiers, upstreams, regions, classes and statuses are over-represented among
//! the slow requests and among the failed ones, against their share of all traffic, for the run and for its
//! worst window; and the slowest requests. It is read back from requests.parquet, so the report and the file
//! agree by construction, and memory stays that of one row group.

use super::columns::{self, text};
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};
use slacheck_common::units::fmt_ms;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The dimensions a request is attributed along, as the file's columns name them.
const DIMENSIONS: [&str; 5] = ["tier", "upstream", "region", "class", "status"];
/// How many slowest requests are listed.
pub const SLOWEST: usize = 10;
/// Findings kept per scope and kind (slow, failed).
const FINDINGS: usize = 5;
/// A value is over-represented when its share of the slow (or failed) requests is at least 3/2 of its share of
/// the traffic, and at least a quarter of them: compared in whole numbers, so a share exactly on the edge counts.
fn stands_out(count: u64, among: u64, value_requests: u64, requests: u64) -> bool {
    let (count, among, value_requests, requests) =
        (u128::from(count), u128::from(among), u128::from(value_requests), u128::from(requests));
    2 * count * requests >= 3 * value_requests * among && 4 * count >= among
}
/// Distinct (dimension, value) pairs counted: the values are the run's bounded labels, this only guards it.
const MAX_VALUES: usize = 10_000;

/// What counts as slow, and which window is the worst.
#[derive(Debug, Clone)]
pub struct TailSettings {
    /// A request slower than this (end to end, in ms) is slow.
    pub slow_over_ms: f64,
    /// Why that threshold: "the p99 limit" or "the run's p99".
    pub slow_rule: String,
    /// The worst window of intended time: (start ms, end ms, why it is the worst).
    pub window: Option<(f64, f64, String)>,
}

/// The tail's attribution, in summary.json as `tail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    pub slow_over_ms: f64,
    pub slow_rule: String,
    pub run: Scope,
    pub worst_window: Option<Scope>,
    /// The slowest requests, slowest first.
    pub slowest: Vec<SlowRequest>,
}

/// The sent requests of the run or of one window: how many were slow or failed, and what stood out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// Intended time, ms from the start (absent for the whole run).
    pub start_ms: Option<f64>,
    pub end_ms: Option<f64>,
    /// Why this window is the worst.
    pub why: Option<String>,
    pub requests: u64,
    pub slow: u64,
    pub failed: u64,
    pub findings: Vec<Finding>,
}

/// One over-represented value: e.g. 94% of the slow requests were served by upstream `mid`, which served 11% of
/// all traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// "slow" or "failed".
    pub among: String,
    /// tier, upstream, region, class or status.
    pub dimension: String,
    pub value: String,
    /// Slow (or failed) requests with this value, and their share of all slow (or failed) ones.
    pub count: u64,
    pub share: f64,
    /// This value's share of the scope's requests.
    pub traffic_share: f64,
}

/// One of the slowest requests, with what the file records of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowRequest {
    pub request: u64,
    pub intended_ms: f64,
    pub latency_ms: f64,
    pub outcome: String,
    pub status: Option<u16>,
    pub class: String,
    pub tier: Option<String>,
    pub upstream: String,
    pub region: Option<String>,
    pub attempts: u32,
    pub request_id: Option<String>,
}

impl TailSettings {
    /// Slow: over the SLA's p99 limit, or without one over the run's p99. The worst window: of the SLA's
    /// windows, or else of the seconds, the one with the most failures, or without failures the highest p99.
    /// None when nothing was measured.
    pub fn of(sla: &crate::scenario::Sla, result: &crate::measure::RunResult) -> Option<Self> {
        if result.latency.is_empty() {
            return None;
        }
        let (slow_over_ms, slow_rule) = match sla.p99 {
            Some(limit) => (limit.0.as_secs_f64() * 1000.0, "the p99 limit"),
            None => (crate::measure::ms(result.latency.value_at_quantile(0.99)), "the run's p99"),
        };
        let failures = |c: &crate::measure::Counts| c.error + c.timeout;
        let windows: Vec<(f64, f64, u64, Option<f64>)> = if result.windows.is_empty() {
            let row =
                |r: &crate::measure::TimelineRow| (r.t_s as f64, r.t_s as f64 + 1.0, r.error + r.timeout, r.p99_ms);
            // A second in which no request was due (the drain after the schedule) has answers but no traffic of
            // its own to attribute: it is never the worst window.
            result.timeline.iter().filter(|r| r.offered > 0).map(row).collect()
        } else {
            let p99 = |h: &hdrhistogram::Histogram<u64>| {
                (!h.is_empty()).then(|| crate::measure::ms(h.value_at_quantile(0.99)))
            };
            result.windows.iter().map(|w| (w.start_s, w.end_s, failures(&w.counts), p99(&w.latency))).collect()
        };
        // The first of equals: the second where it began.
        let first_max = |a: Option<(usize, f64)>, (i, v): (usize, f64)| match a {
            Some((_, best)) if best >= v => a,
            _ => Some((i, v)),
        };
        let most_failed =
            windows.iter().map(|w| w.2 as f64).enumerate().filter(|(_, n)| *n > 0.0).fold(None, first_max);
        let slowest = windows.iter().enumerate().filter_map(|(i, w)| w.3.map(|p| (i, p))).fold(None, first_max);
        let window = match (most_failed, slowest) {
            (Some((i, n)), _) => Some((windows[i].0, windows[i].1, format!("the most failures: {n}"))),
            (None, Some((i, p))) => Some((windows[i].0, windows[i].1, format!("the highest p99: {}", fmt_ms(p)))),
            (None, None) => None,
        };
        Some(TailSettings {
            slow_over_ms,
            slow_rule: slow_rule.into(),
            window: window.map(|(a, b, why)| (a * 1000.0, b * 1000.0, why)),
        })
    }
}

/// Reads requests.parquet and attributes its tail. Requests that were not sent are left out: they are the
/// generator's, not the target's. The file is read a row group at a time, column by column: a row-by-row read
/// built a record of owned strings per request and took a tenth of a closed-loop run's CPU.
pub fn attribute(path: &Path, settings: &TailSettings) -> Result<Tail, ParquetError> {
    let reader = SerializedFileReader::new(std::fs::File::open(path)?)?;
    let (mut run, mut window) = (Counter::default(), Counter::default());
    let mut slowest: Vec<SlowRequest> = Vec::new();
    // A status as text, made in one buffer instead of a new string per request.
    let mut status_text = String::new();
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g)?;
        let rows = columns::rows(&*group);
        let numbers = |name: &str| columns::numbers(&*group, name, rows);
        let texts = |name: &str| columns::texts(&*group, name, rows);
        let (request, intended, latency) = (numbers("request")?, numbers("intended_ms")?, numbers("latency_ms")?);
        let (status, attempts) = (numbers("status")?, numbers("attempts")?);
        let (outcome, class, tier) = (texts("outcome")?, texts("class")?, texts("tier")?);
        let (upstream, region, request_id) = (texts("upstream")?, texts("region")?, texts("request_id")?);
        for i in 0..rows {
            let outcome_text = text(&outcome[i]).unwrap_or_default();
            let Some(latency_ms) = latency[i].filter(|_| outcome_text != "not_sent") else { continue };
            let (slow, failed) = (latency_ms > settings.slow_over_ms, outcome_text != "ok");
            let status_of = status[i].map(|s| s as u16);
            // A failure without a status is attributed to its outcome.
            let status_value = match status_of {
                Some(s) => {
                    status_text.clear();
                    let _ = write!(status_text, "{s}");
                    status_text.as_str()
                }
                None => outcome_text,
            };
            let (class_text, upstream_text) =
                (text(&class[i]).unwrap_or_default(), text(&upstream[i]).unwrap_or_default());
            let values = [text(&tier[i]), Some(upstream_text), text(&region[i]), Some(class_text), Some(status_value)];
            let intended_ms = intended[i].unwrap_or(0.0);
            run.add(&values, slow, failed);
            if settings.window.as_ref().is_some_and(|(a, b, _)| (*a..*b).contains(&intended_ms)) {
                window.add(&values, slow, failed);
            }
            let request_number = request[i].unwrap_or(0.0) as u64;
            keep_slowest(&mut slowest, request_number, latency_ms, || SlowRequest {
                request: request_number,
                intended_ms,
                latency_ms,
                outcome: outcome_text.to_string(),
                status: status_of,
                class: class_text.to_string(),
                tier: text(&tier[i]).map(str::to_string),
                upstream: upstream_text.to_string(),
                region: text(&region[i]).map(str::to_string),
                attempts: attempts[i].unwrap_or(0.0) as u32,
                request_id: text(&request_id[i]).map(str::to_string),
            });
        }
    }
    Ok(Tail {
        slow_over_ms: settings.slow_over_ms,
        slow_rule: settings.slow_rule.clone(),
        run: run.scope(None),
        worst_window: settings.window.as_ref().map(|w| window.scope(Some(w))),
        slowest,
    })
}

/// Keeps the [`SLOWEST`] slowest, slowest first (ties: the earlier request first). `make` builds the request's
/// record only when it is kept.
fn keep_slowest(list: &mut Vec<SlowRequest>, request: u64, latency: f64, make: impl FnOnce() -> SlowRequest) {
    let before = |a: &SlowRequest| a.latency_ms > latency || (a.latency_ms == latency && a.request < request);
    let at = list.iter().take_while(|a| before(a)).count();
    if at < SLOWEST {
        list.insert(at, SlowRequest { latency_ms: latency, ..make() });
        list.truncate(SLOWEST);
    }
}

/// Counts of one scope: all, slow and failed, overall and by (dimension, value).
#[derive(Default)]
struct Counter {
    requests: u64,
    slow: u64,
    failed: u64,
    /// By dimension (in [`DIMENSIONS`]' order), value → [requests, slow, failed].
    by: [BTreeMap<String, [u64; 3]>; 5],
    /// Distinct (dimension, value) pairs counted, at most [`MAX_VALUES`].
    distinct: usize,
}

impl Counter {
    fn add(&mut self, values: &[Option<&str>; 5], slow: bool, failed: bool) {
        self.requests += 1;
        self.slow += slow as u64;
        self.failed += failed as u64;
        for (d, value) in values.iter().enumerate() {
            let Some(value) = *value else { continue };
            // Looked up by reference: a value's string is made once, when it is first seen.
            let n = match self.by[d].get_mut(value) {
                Some(n) => n,
                None if self.distinct < MAX_VALUES => {
                    self.distinct += 1;
                    self.by[d].entry(value.to_string()).or_default()
                }
                None => continue,
            };
            n[0] += 1;
            n[1] += slow as u64;
            n[2] += failed as u64;
        }
    }

    /// The over-represented values among the slow and among the failed requests, most over-represented first.
    fn scope(&self, window: Option<&(f64, f64, String)>) -> Scope {
        let mut findings = Vec::new();
        for (among, k, total) in [("slow", 1, self.slow), ("failed", 2, self.failed)] {
            let mut found: Vec<Finding> = (0..DIMENSIONS.len())
                .flat_map(|d| self.by[d].iter().map(move |(value, n)| (d, value, n)))
                .filter(|(_, _, n)| n[k] > 0 && stands_out(n[k], total, n[0], self.requests))
                .map(|(d, value, n)| Finding {
                    among: among.into(),
                    dimension: DIMENSIONS[d].into(),
                    value: value.clone(),
                    count: n[k],
                    share: n[k] as f64 / total as f64,
                    traffic_share: n[0] as f64 / self.requests as f64,
                })
                .collect();
            found.sort_by(|a, b| (b.share - b.traffic_share).total_cmp(&(a.share - a.traffic_share)));
            // A tier and the upstream of the same name (no served-by: the tier is the upstream) are one finding.
            let mut kept: Vec<Finding> = Vec::new();
            for f in found {
                let same = |k: &Finding| k.value == f.value && k.count == f.count && k.traffic_share == f.traffic_share;
                if kept.len() < FINDINGS && !kept.iter().any(same) {
                    kept.push(f);
                }
            }
            findings.extend(kept);
        }
        Scope {
            start_ms: window.map(|w| w.0),
            end_ms: window.map(|w| w.1),
            why: window.map(|w| w.2.clone()),
            requests: self.requests,
            slow: self.slow,
            failed: self.failed,
            findings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(upstream: &str) -> [Option<&str>; 5] {
        [Some("t"), Some(upstream), None, Some("c"), Some("200")]
    }

    /// `n` requests served by `upstream`, `slow` of them slow.
    fn add(c: &mut Counter, upstream: &str, n: u64, slow: u64) {
        for i in 0..n {
            c.add(&values(upstream), i < slow, false);
        }
    }

    #[test]
    fn a_value_stands_out_at_one_and_a_half_times_its_traffic_share_and_a_quarter_of_the_slow() {
        // 100 requests, 20 slow. `a` has 20% of the traffic and 6 of the 20 slow (30% = 1.5 × 20%): it stands out.
        // `b` has 20% and 5 slow (25% < 30%): it does not. `c` has 10% and 4 slow (20%, twice its share, but under
        // a quarter of the slow): it does not. `d` has 50% and 5 slow. One tier, class and status for all: 100% each.
        let mut c = Counter::default();
        add(&mut c, "a", 20, 6);
        add(&mut c, "b", 20, 5);
        add(&mut c, "c", 10, 4);
        add(&mut c, "d", 50, 5);
        let scope = c.scope(None);
        assert_eq!((scope.requests, scope.slow, scope.failed), (100, 20, 0));
        assert_eq!(scope.findings.len(), 1, "{:?}", scope.findings);
        let f = &scope.findings[0];
        assert_eq!((f.among.as_str(), f.dimension.as_str(), f.value.as_str(), f.count), ("slow", "upstream", "a", 6));
        assert_eq!((f.share, f.traffic_share), (0.3, 0.2));
    }

    #[test]
    fn findings_are_ordered_by_excess_share_and_a_tier_named_as_its_upstream_is_said_once() {
        let mut c = Counter::default();
        for i in 0..40u64 {
            // `x` (tier and upstream of the same name) has 25% of the traffic and 9 of the 10 slow; `y` 75%, 1.
            let name = if i % 4 == 0 { "x" } else { "y" };
            let slow = (name == "x" && i < 36) || i == 1;
            c.add(&[Some(name), Some(name), None, Some("c"), None], slow, false);
        }
        let scope = c.scope(Some(&(1_000.0, 2_000.0, "why".into())));
        assert_eq!(scope.findings.len(), 1, "{:?}", scope.findings);
        assert_eq!((scope.findings[0].dimension.as_str(), scope.findings[0].count), ("tier", 9));
        assert_eq!((scope.start_ms, scope.end_ms, scope.why.as_deref()), (Some(1_000.0), Some(2_000.0), Some("why")));
    }

    #[test]
    fn the_slowest_are_kept_slowest_first_and_ties_by_the_earlier_request() {
        let mut list = Vec::new();
        let request = |n: u64| SlowRequest {
            request: n,
            intended_ms: 0.0,
            latency_ms: f64::NAN,
            outcome: String::new(),
            status: None,
            class: String::new(),
            tier: None,
            upstream: String::new(),
            region: None,
            attempts: 0,
            request_id: None,
        };
        for (n, latency) in
            [(0, 5.0), (1, 9.0), (2, 7.0), (3, 9.0), (4, 1.0)].into_iter().chain((5..20).map(|n| (n, 2.0)))
        {
            keep_slowest(&mut list, n, latency, || request(n));
        }
        let kept: Vec<(u64, f64)> = list.iter().map(|r| (r.request, r.latency_ms)).collect();
        let mut expected = vec![(1, 9.0), (3, 9.0), (2, 7.0), (0, 5.0)];
        expected.extend((5..11).map(|n| (n, 2.0)));
        assert_eq!(kept, expected);
    }

    /// A result with 100 requests a second for 3 s: second 1 has `failures` 503s, second 2 is slow (300 ms).
    fn result(failures: u64) -> crate::measure::RunResult {
        use crate::sample::{ErrorKind, Outcome, Sample};
        use std::time::Duration;
        let mut r = crate::measure::Recorder::new(Default::default(), &[], &[], &[], None);
        for i in 0..300u64 {
            let intended = Duration::from_millis(i * 10);
            let took = if i >= 200 { 300 } else { 5 };
            let outcome =
                if (100..100 + failures).contains(&i) { Outcome::Error(ErrorKind::Status(503)) } else { Outcome::Ok };
            let done = intended + Duration::from_millis(took);
            r.record(&Sample { sent: Some(intended), outcome, ..Sample::not_sent(intended, done) });
        }
        r.finish().0
    }

    #[test]
    fn a_second_with_no_request_due_is_never_the_worst_window() {
        use crate::sample::{Outcome, Sample};
        use std::time::Duration;
        // 100 requests due in second 0; the last 10 take 900 ms and end in second 1, when nothing was due.
        let mut r = crate::measure::Recorder::new(Default::default(), &[], &[], &[], None);
        for i in 0..100u64 {
            let intended = Duration::from_millis(i * 10);
            let done = intended + Duration::from_millis(if i >= 90 { 900 } else { 5 });
            r.record(&Sample { sent: Some(intended), outcome: Outcome::Ok, ..Sample::not_sent(intended, done) });
        }
        let result = r.finish().0;
        assert!(result.timeline.iter().any(|row| row.t_s == 1 && row.offered == 0 && row.p99_ms > Some(800.0)));
        let (start, end, _) = TailSettings::of(&sla(""), &result).unwrap().window.unwrap();
        assert_eq!((start, end), (0.0, 1_000.0));
    }

    fn sla(text: &str) -> crate::scenario::Sla {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn slow_is_over_the_p99_limit_or_the_runs_p99_and_the_worst_window_has_the_most_failures() {
        let with_limit = TailSettings::of(&sla("p99 = \"250ms\""), &result(3)).unwrap();
        assert_eq!((with_limit.slow_over_ms, with_limit.slow_rule.as_str()), (250.0, "the p99 limit"));
        assert_eq!(with_limit.window, Some((1_000.0, 2_000.0, "the most failures: 3".into())));
        // Without a limit: the run's p99, read from the raw histogram (a third of the requests took 300 ms).
        let r = result(0);
        let run_p99 = crate::measure::ms(r.latency.value_at_quantile(0.99));
        let without = TailSettings::of(&sla(""), &r).unwrap();
        assert_eq!((without.slow_over_ms, without.slow_rule.as_str()), (run_p99, "the run's p99"));
        assert!((299.0..302.0).contains(&run_p99), "{run_p99}");
        // No failures: the window with the highest p99, the slow second.
        let (start, end, why) = without.window.unwrap();
        assert_eq!((start, end), (2_000.0, 3_000.0));
        assert!(why.starts_with("the highest p99: 30"), "{why}");
    }
}

#[cfg(test)]
mod reading {
    use super::*;
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    /// Writes a file of five requests in two row groups (rows 0–2, then 3–4), with nulls and with no tier, class,
    /// region, attempts or request-id column (as a file from an older version would be):
    /// 0: 10 ms ok from a (200); 1: not sent; 2: 500 ms ok from b (200); 3: 20 ms timeout from a; 4: 600 ms ok
    /// from b (200).
    fn write(path: &Path) {
        let schema = "message request { REQUIRED INT64 request; REQUIRED DOUBLE intended_ms; \
                      OPTIONAL DOUBLE latency_ms; REQUIRED BYTE_ARRAY outcome (UTF8); \
                      REQUIRED BYTE_ARRAY upstream (UTF8); OPTIONAL INT32 status; }";
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let mut w =
            SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, Default::default()).unwrap();
        let text = |list: &[&str]| list.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
        #[allow(clippy::type_complexity)]
        let groups: [(&[i64], &[f64], (&[f64], &[i16]), &[&str], &[&str], (&[i32], &[i16])); 2] = [
            (
                &[0, 1, 2],
                &[0.0, 10.0, 20.0],
                (&[10.0, 500.0], &[1, 0, 1]),
                &["ok", "not_sent", "ok"],
                &["a", "", "b"],
                (&[200, 200], &[1, 0, 1]),
            ),
            (&[3, 4], &[30.0, 40.0], (&[20.0, 600.0], &[1, 1]), &["timeout", "ok"], &["a", "b"], (&[200], &[0, 1])),
        ];
        for (request, intended, latency, outcome, upstream, status) in groups {
            let mut g = w.next_row_group().unwrap();
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<Int64Type>().write_batch(request, None, None).unwrap();
            c.close().unwrap();
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<DoubleType>().write_batch(intended, None, None).unwrap();
            c.close().unwrap();
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<DoubleType>().write_batch(latency.0, Some(latency.1), None).unwrap();
            c.close().unwrap();
            for list in [outcome, upstream] {
                let mut c = g.next_column().unwrap().unwrap();
                c.typed::<ByteArrayType>().write_batch(&text(list), None, None).unwrap();
                c.close().unwrap();
            }
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<Int32Type>().write_batch(status.0, Some(status.1), None).unwrap();
            c.close().unwrap();
            g.close().unwrap();
        }
        w.close().unwrap();
    }
    #[test]
    fn nulls_missing_columns_and_row_groups_are_read_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.parquet");
        write(&path);
        let settings =
            TailSettings { slow_over_ms: 100.0, slow_rule: "r".into(), window: Some((15.0, 35.0, "w".into())) };
        let tail = attribute(&path, &settings).unwrap();
        // Sent: 0, 2, 3, 4. Slow (> 100 ms): 2 and 4, both from b (half the traffic: 2 × 2 × 4 ≥ 3 × 2 × 2).
        // Failed: 3, a timeout with no status, so its status is its outcome (a quarter of the traffic).
        assert_eq!((tail.run.requests, tail.run.slow, tail.run.failed), (4, 2, 1));
        let found: Vec<(&str, &str, &str, u64, f64, f64)> = tail
            .run
            .findings
            .iter()
            .map(|f| (f.among.as_str(), f.dimension.as_str(), f.value.as_str(), f.count, f.share, f.traffic_share))
            .collect();
        assert_eq!(
            found,
            [
                ("slow", "upstream", "b", 2, 1.0, 0.5),
                ("failed", "status", "timeout", 1, 1.0, 0.25),
                ("failed", "upstream", "a", 1, 1.0, 0.5)
            ]
        );
        // The window (intended 15..35 ms) holds requests 2 and 3.
        let w = tail.worst_window.unwrap();
        assert_eq!((w.requests, w.slow, w.failed), (2, 1, 1));
        let slowest: Vec<(u64, f64, Option<u16>, &str)> =
            tail.slowest.iter().map(|r| (r.request, r.latency_ms, r.status, r.upstream.as_str())).collect();
        assert_eq!(
            slowest,
            [(4, 600.0, Some(200), "b"), (2, 500.0, Some(200), "b"), (3, 20.0, None, "a"), (0, 10.0, Some(200), "a")]
        );
        assert!(tail.slowest.iter().all(|r| r.tier.is_none() && r.class.is_empty() && r.request_id.is_none()));
    }
}
