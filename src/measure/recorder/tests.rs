//! The recorder from hand-made samples: every expected count and histogram is worked out from the samples.

use super::*;
use crate::sample::{Attempt, ErrorKind};

fn sample(intended_ms: u64, sent_ms: Option<u64>, done_ms: u64, outcome: Outcome) -> Sample {
    Sample {
        sent: sent_ms.map(Duration::from_millis),
        outcome,
        ..Sample::not_sent(Duration::from_millis(intended_ms), Duration::from_millis(done_ms))
    }
}

#[test]
fn merging_two_halves_gives_the_whole_exactly() {
    let tiers = ["a".to_string(), "b".to_string()];
    let recorder = || Recorder::new(Arc::default(), &tiers, &["c".to_string()], &[], None);
    let (mut whole, mut even, mut odd) = (recorder(), recorder(), recorder());
    for i in 0..2_000u64 {
        let outcome = match i % 17 {
            0 => Outcome::Error(ErrorKind::Status(503)),
            1 => Outcome::Timeout,
            2 => Outcome::NotSent,
            3 => Outcome::Cancelled,
            _ => Outcome::Ok,
        };
        let sent = (outcome != Outcome::NotSent).then_some(i * 3);
        let done = i * 3 + 1 + (i * 7919) % 400;
        let mut s = sample(i * 3, sent, done, outcome.clone());
        if sent.is_some() {
            let tier = (i % 3 == 0) as u16;
            s.attempts = vec![Attempt {
                tier,
                region: None,
                outcome: outcome.clone(),
                elapsed: Duration::from_millis(done - i * 3),
                over_budget: false,
                phases: None,
            }];
            s.served = (outcome == Outcome::Ok).then_some(tier);
            s.tokens = Some((10, i % 50));
        }
        whole.record(&s);
        if i % 2 == 0 { &mut even } else { &mut odd }.record(&s);
    }
    let whole = whole.finish().0;
    let mut merged = even.finish().0;
    merged.merge(&odd.finish().0).unwrap();
    assert_eq!(merged.counts, whole.counts);
    assert!(whole.counts.cancelled > 100, "the mix has cancelled requests");
    assert_eq!(merged.cancellations.requests, whole.cancellations.requests);
    assert_eq!(merged.latency, whole.latency);
    assert_eq!(merged.service_time, whole.service_time);
    assert_eq!(merged.errors, whole.errors);
    for ((_, m), (_, w)) in merged.tiers.iter().zip(&whole.tiers) {
        assert_eq!((m.attempts.counts, m.served.counts), (w.attempts.counts, w.served.counts));
        assert_eq!(m.attempts.latency, w.attempts.latency);
        assert_eq!((m.prompt_tokens, m.completion_tokens), (w.prompt_tokens, w.completion_tokens));
    }
    assert_eq!(merged.classes[0].1.latency, whole.classes[0].1.latency);
    let rows = |r: &RunResult| r.timeline.iter().map(|t| (t.t_s, t.offered, t.ok, t.sent)).collect::<Vec<_>>();
    assert_eq!(rows(&merged), rows(&whole));
    // And the measurements survive their JSON form unchanged.
    let back: RunResult = serde_json::from_str(&serde_json::to_string(&merged).unwrap()).unwrap();
    assert_eq!((back.counts, &back.latency, &back.lag), (merged.counts, &merged.latency, &merged.lag));
}

#[test]
fn every_sample_is_counted_once_overall_and_per_row() {
    let mut r = Recorder::new(Arc::default(), &[], &[], &[], None);
    r.record(&sample(0, Some(0), 10, Outcome::Ok));
    r.record(&sample(500, Some(501), 1600, Outcome::Error(ErrorKind::Status(503))));
    r.record(&sample(900, None, 900, Outcome::NotSent));
    r.record(&sample(1200, Some(1200), 2300, Outcome::Timeout));
    r.record(&sample(1300, Some(1300), 1450, Outcome::Cancelled));
    let res = r.finish().0;
    let c = res.counts;
    assert_eq!((c.total, c.ok, c.error, c.timeout, c.not_sent, c.cancelled), (5, 1, 1, 1, 1, 1));
    assert_eq!(c.total, c.ok + c.error + c.timeout + c.not_sent + c.cancelled);
    for row in &res.timeline {
        assert_eq!(row.offered, row.ok + row.error + row.timeout + row.not_sent + row.cancelled);
    }
    // Availability leaves out the request whose client hung up: 1 ok of the 4 judged.
    assert_eq!(res.availability(), Some(0.25));
    assert_eq!(res.cancellations.requests, 1);
    assert_eq!(res.timeline[0].offered, 3);
    // Who served: the 4 sent, none named, under `unknown`; the one never sent went to no one.
    let served: Vec<(&str, u64)> = res.upstreams.iter().map(|(n, g)| (n.as_str(), g.counts.total)).collect();
    assert_eq!(served, [("unknown", 4)]);
    assert_eq!(res.timeline[0].served_by, BTreeMap::from([("unknown".to_string(), 2)]));
    assert_eq!(res.errors.get("status 503"), Some(&1));
    // Latency counts from the intended time: 1,100 ms for the second request though it was sent 1 ms late.
    assert!((ms(res.latency.max()) - 1100.0).abs() < 2.0);
    // The cancelled request has no latency (its lag is counted: the generator's).
    assert_eq!((res.latency.len(), res.service_time.len(), res.lag.len()), (3, 3, 4));
}

/// A sink that fails at its `fail_at`-th write (1-based), counting the writes it was given.
struct Failing {
    writes: Arc<AtomicU64>,
    fail_at: u64,
}

impl Failing {
    fn write(&mut self) -> std::io::Result<()> {
        let n = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        match n >= self.fail_at {
            true => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
            false => Ok(()),
        }
    }
}

impl RequestSink for Failing {
    fn write(&mut self, _: &Sample, _: Option<&str>) -> std::io::Result<()> {
        Failing::write(self)
    }
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}

impl IntervalSink for Failing {
    fn write(&mut self, _: &Histogram<u64>, _: Duration, _: Duration, _: &str) -> std::io::Result<()> {
        Failing::write(self)
    }
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_sink_that_fails_is_dropped_and_the_result_is_whole() {
    let (hlog_writes, request_writes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let hlog = Failing { writes: hlog_writes.clone(), fail_at: 2 };
    let mut r = Recorder::new(Arc::default(), &[], &[], &[], Some(Box::new(hlog)));
    r.write_requests(Box::new(Failing { writes: request_writes.clone(), fail_at: 3 }));
    for i in 0..10u64 {
        r.record(&sample(i * 400, Some(i * 400), i * 400 + 5, Outcome::Ok));
    }
    let (res, errors) = r.finish();
    assert_eq!(res.counts.total, 10);
    assert_eq!(res.counts.ok, 10);
    assert_eq!(res.timeline.len(), 4, "seconds 0 to 3");
    assert_eq!(request_writes.load(Ordering::Relaxed), 3, "no write after the failed one");
    assert_eq!(hlog_writes.load(Ordering::Relaxed), 2, "the interval log is dropped at its failure too");
    // The third request (at 800 ms) fails requests.parquet before the second interval closes (at 1 s).
    assert!(matches!(errors[..], [SinkError::Requests(_), SinkError::Intervals(_)]), "{errors:?}");
    assert!(errors[0].to_string().contains("No space left on device"), "{}", errors[0]);
}

/// Requests across four seconds, built so that each run-wide histogram's expected values can be listed by hand:
/// a second with only a cancelled request (a lag and no latency), requests never sent, two tiers, two classes.
#[test]
fn the_run_wide_histograms_hold_each_measured_request_once() {
    let tiers = ["cheap".to_string(), "premium".to_string()];
    let classes = ["chat".to_string(), "batch".to_string()];
    let mut r = Recorder::new(Arc::default(), &tiers, &classes, &[], None);
    // (intended, sent, done, outcome, served by, class), in ms.
    let requests = [
        (0, Some(2), 40, Outcome::Ok, Some(0), 0),
        (100, None, 101, Outcome::NotSent, None, 0),
        (900, Some(900), 1_300, Outcome::Error(ErrorKind::Status(503)), None, 1),
        (1_500, Some(1_504), 1_700, Outcome::Ok, Some(1), 1),
        (1_600, None, 1_600, Outcome::NotSent, None, 1),
        (2_100, Some(2_103), 2_400, Outcome::Cancelled, None, 0),
        (3_000, Some(3_000), 3_010, Outcome::Ok, Some(0), 0),
        (3_050, Some(3_051), 4_050, Outcome::Timeout, None, 0),
    ];
    for (intended, sent, done, outcome, served, class) in requests.clone() {
        let mut s = sample(intended, sent, done, outcome);
        (s.served, s.class) = (served, class);
        r.record(&s);
    }
    let res = r.finish().0;
    let hist = |values_ms: &[u64]| {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        values_ms.iter().for_each(|v| h.record(v * 1000).unwrap());
        h
    };
    // Latency from the intended time, of every request sent but the cancelled one.
    assert_eq!(res.latency, hist(&[40, 400, 200, 10, 1_000]));
    assert_eq!(res.service_time, hist(&[38, 400, 196, 10, 999]));
    // The lag of every request sent, the cancelled one's included.
    // A lag of 0 is counted as 1 µs, the histograms' lowest value.
    let mut lag = hist(&[2, 4, 3, 1]);
    lag.record_n(1, 2).unwrap();
    assert_eq!(res.lag, lag);
    assert_eq!(res.tiers[0].1.served.latency, hist(&[40, 10]));
    assert_eq!(res.tiers[1].1.served.latency, hist(&[200]));
    // A class's latency holds its requests sent, as the run's does: a request never sent has none.
    assert_eq!(res.classes[0].1.latency, hist(&[40, 10, 1_000]));
    assert_eq!(res.classes[1].1.latency, hist(&[400, 200]));
    // Its counts hold every request of the class, the ones never sent too: the classes add up to the run.
    let counts = |c: &Counts| (c.total, c.ok, c.error, c.timeout, c.not_sent, c.cancelled);
    assert_eq!(counts(&res.classes[0].1.counts), (5, 2, 0, 1, 1, 1));
    assert_eq!(counts(&res.classes[1].1.counts), (3, 1, 1, 0, 1, 0));
}
