//! The verdict's unit tests: every expected value is worked out by hand (or by a separate Wilson
//! calculation, quoted) from the data each test builds, never by the function under test.

use super::*;

/// The share rule, worked out by hand.
mod shares;

#[test]
fn a_percentile_target_is_judged_on_the_share_within_its_limit() {
    let mut h = crate::measure::new_histogram();
    // 10,000 requests: 9,950 at 10 ms, 50 at 900 ms. p99 = 10 ms; p99.9 = 900 ms.
    h.record_n(10_000, 9_950).unwrap();
    h.record_n(900_000, 50).unwrap();
    let p99 = percentile_target("p99".into(), 0.99, Duration::from_millis(100), &h, "");
    assert_eq!(p99.judgement, Judgement::Pass);
    let p999 = percentile_target("p99.9".into(), 0.999, Duration::from_millis(100), &h, "");
    assert_eq!(p999.judgement, Judgement::Fail);
    // 100 requests all fast: p99.9 ≤ 100 ms cannot be shown from them.
    let mut few = crate::measure::new_histogram();
    few.record_n(10_000, 100).unwrap();
    let t = percentile_target("p99.9".into(), 0.999, Duration::from_millis(100), &few, "");
    assert_eq!(t.judgement, Judgement::InsufficientData);
    assert!(t.more_requests.unwrap() > 3_000);
}

/// A run of `n` requests due 10 ms apart: each lags `lag_ms` before it is sent and takes `service_ms`;
/// the first `not_sent` are never sent, and the next `errors` fail with a 503.
fn run(n: u64, lag_ms: u64, service_ms: u64, not_sent: u64, errors: u64) -> RunResult {
    use crate::measure::Recorder;
    use crate::sample::{ErrorKind, Outcome, Sample};
    let mut r = Recorder::new(std::sync::Arc::default(), &["t".to_string()], &["c".to_string()], &[], None);
    for i in 0..n {
        let intended = Duration::from_millis(10 * i);
        let sample = if i < not_sent {
            Sample::not_sent(intended, intended)
        } else {
            let sent = intended + Duration::from_millis(lag_ms);
            let outcome = if i < not_sent + errors { Outcome::Error(ErrorKind::Status(503)) } else { Outcome::Ok };
            Sample {
                sent: Some(sent),
                done: sent + Duration::from_millis(service_ms),
                outcome,
                ..Sample::not_sent(intended, intended)
            }
        };
        r.record(&sample);
    }
    r.finish().0
}

fn sla(text: &str) -> Sla {
    toml::from_str(text).unwrap()
}

#[test]
fn a_latency_miss_that_holds_on_service_time_is_the_generators() {
    // Every request lagged 500 ms and was served in 5 ms: p99 of 505 ms against 100 ms misses, but the
    // target alone answered in 5 ms.
    let v = evaluate(&sla("p99 = \"100ms\""), &run(1_000, 500, 5, 0, 0));
    let t = &v.targets[0];
    assert_eq!((t.judgement, t.generator_bound), (Judgement::Fail, true));
    assert!(t.note.as_deref().unwrap().contains("service time"));
    assert!(v.generator_bound());
    assert_eq!(v.exit_code(false), 3);
    assert_eq!(v.outcome(false), Outcome::GeneratorBound);
    // Served in 200 ms: it misses on service time too, so the miss is the target's, whatever the lag.
    let v = evaluate(&sla("p99 = \"100ms\""), &run(1_000, 500, 200, 0, 0));
    assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Fail, false));
    assert!(!v.generator_bound());
    assert_eq!(v.exit_code(false), 1);
    // No lag and a fast target: nothing to explain.
    let v = evaluate(&sla("p99 = \"100ms\""), &run(1_000, 0, 5, 0, 0));
    assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Pass, false));
    assert_eq!(v.exit_code(false), 0);
}

#[test]
fn an_availability_miss_from_unsent_requests_is_the_generators_and_from_errors_the_targets() {
    // 100 of 20,000 never sent, the rest all fine: 99.5% against 99.9% misses; without them it is 19,900 of
    // 19,900, whose Wilson lower bound (0.9998) clears 99.9%.
    let v = evaluate(&sla("availability = \"99.9%\""), &run(20_000, 0, 5, 100, 0));
    assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Fail, true));
    assert_eq!(v.exit_code(false), 3);
    // 100 unsent and 100 errors: 99.9% fails even without the unsent (1,800 of 1,900 = 94.7%).
    let v = evaluate(&sla("availability = \"99.9%\""), &run(2_000, 0, 5, 100, 100));
    assert_eq!((v.targets[0].judgement, v.targets[0].generator_bound), (Judgement::Fail, false));
    assert_eq!(v.exit_code(false), 1);
    // One real miss among generator-bound ones decides: exit 1.
    let v = evaluate(&sla("availability = \"99.9%\"\np99 = \"100ms\""), &run(20_000, 500, 200, 100, 0));
    assert_eq!(v.targets.iter().map(|t| t.generator_bound).collect::<Vec<_>>(), [true, false]);
    assert_eq!(v.exit_code(false), 1);
    // A class counts its requests never sent, as the run does, and its miss from them is the generator's too.
    use Judgement::Fail;
    let class = |r: &RunResult| evaluate(&sla("[class.c]\navailability = \"99.9%\""), r).targets[0].clone();
    let (unsent, failed) = (class(&run(20_000, 0, 5, 100, 0)), class(&run(2_000, 0, 5, 100, 100)));
    assert_eq!((unsent.name.as_str(), unsent.judgement, unsent.generator_bound), ("class c availability", Fail, true));
    assert_eq!((failed.judgement, failed.generator_bound), (Judgement::Fail, false));
}

#[test]
fn the_exit_code_follows_the_verdict_and_the_undecided_policy() {
    // 200 requests without failure cannot show 99.9%: undecided.
    let undecided = evaluate(&sla("availability = \"99.9%\""), &run(200, 0, 5, 0, 0));
    assert!(undecided.insufficient_data && !undecided.passed);
    assert_eq!((undecided.exit_code(false), undecided.exit_code(true)), (1, 0));
    assert_eq!((undecided.outcome(false), undecided.outcome(true)), (Outcome::Undecided, Outcome::Pass));
    // A failed target next to an undecided one: the policy for undecided data never turns it into a pass.
    let mixed = evaluate(&sla("availability = \"99.9%\"\np99 = \"1ms\""), &run(200, 0, 5, 0, 0));
    assert_eq!(
        mixed.targets.iter().map(|t| t.judgement).collect::<Vec<_>>(),
        [Judgement::InsufficientData, Judgement::Fail]
    );
    assert!(!mixed.insufficient_data, "a failure is not insufficient data");
    assert_eq!((mixed.exit_code(false), mixed.exit_code(true)), (1, 1));
    assert_eq!(mixed.outcome(true), Outcome::Fail);
    let mut unmatched = evaluate(&sla("p90 = \"1s\""), &run(200, 0, 5, 0, 0));
    assert_eq!(unmatched.exit_code(false), 0);
    unmatched.unmatched_scopes.push("sla.tier.nope".into());
    assert_eq!(unmatched.exit_code(true), 2);
    assert_eq!(unmatched.outcome(false), Outcome::Usage);
}

#[test]
fn a_100_percent_target_is_judged_on_the_count_and_never_asks_for_more() {
    let clean = evaluate(&sla("availability = \"100%\""), &run(40, 0, 5, 0, 0));
    assert_eq!((clean.targets[0].judgement, clean.targets[0].more_requests), (Judgement::Pass, None));
    let one_error = evaluate(&sla("availability = \"100%\""), &run(40, 0, 5, 0, 1));
    assert_eq!((one_error.targets[0].judgement, one_error.targets[0].more_requests), (Judgement::Fail, None));
    for v in [&clean, &one_error] {
        assert_eq!(v.targets[0].note.as_deref(), Some("100% allows no failure: judged on the count"));
    }
    assert_eq!(one_error.targets[0].measured_ratio, Some(39.0 / 40.0));
}

#[test]
fn a_window_target_that_clearly_failed_asks_for_no_more_requests_and_names_the_worst_window() {
    use crate::measure::Recorder;
    use crate::sample::{ErrorKind, Outcome, Sample};
    let mut r = Recorder::new(std::sync::Arc::default(), &["t".to_string()], &["c".to_string()], &[], None);
    r.watch_windows(&[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]);
    // 100 requests a window; window 1..2 has 30 errors, window 2..3 has 2, window 0..1 none.
    for w in 0..3u64 {
        for i in 0..100u64 {
            let intended = Duration::from_millis(1000 * w + 10 * i);
            let failed = (w == 1 && i < 30) || (w == 2 && i < 2);
            let outcome = if failed { Outcome::Error(ErrorKind::Status(500)) } else { Outcome::Ok };
            let sent = intended;
            r.record(&Sample {
                sent: Some(sent),
                done: sent + Duration::from_millis(5),
                outcome,
                ..Sample::not_sent(intended, intended)
            });
        }
    }
    let v = evaluate(&sla("availability = \"90%\"\nwindow = \"1s\""), &r.finish().0);
    let t = v.targets.iter().find(|t| t.name == "availability in every window").unwrap();
    assert_eq!(t.judgement, Judgement::Fail);
    assert_eq!(t.more_requests, None, "a clear failure is not settled by more requests");
    assert_eq!(t.measured_ratio, Some(0.70), "the worst window's availability");
    assert!(t.note.as_deref().unwrap().contains("1s..2s") && t.note.as_deref().unwrap().contains("1 missed"));
}

// ---- Percentile and availability targets -------------------------------------------------------------------

/// A histogram of the values 1 µs, 2 µs, … `n` µs, once each: its k-th smallest value is k µs.
fn one_to(n: u64) -> Histogram<u64> {
    let mut h = crate::measure::new_histogram();
    for v in 1..=n {
        h.record(v).unwrap();
    }
    h
}

#[test]
fn a_percentile_target_reports_its_value_its_order_statistic_interval_and_the_share_within() {
    // 1,000 values 1..1,000 µs; p99 is the 990th (0.990 ms). The interval's ranks are 990 ∓ 1.96 √(1000 × 0.99
    // × 0.01) = 990 ∓ 6.17: floor(983.8) = 983 below, ceil(996.2) + 1 = 998 above.
    let h = one_to(1_000);
    let t = percentile_target("p99".into(), 0.99, Duration::from_micros(1_000), &h, "");
    assert_eq!(t.measured_ms, Some(0.990));
    assert_eq!(t.interval, Some((0.983, Some(0.998))));
    assert_eq!((t.samples, t.judgement, t.passed, t.note.as_deref()), (1_000, Judgement::Pass, true, None));
    assert_eq!(t.limit, "1ms");
    // p50 of the same: ranks 500 ∓ 1.96 √(1000 × 0.5 × 0.5) = 500 ∓ 30.99: floor(469.01) = 469 and
    // ceil(530.99) + 1 = 532.
    let t = percentile_target("p50".into(), 0.5, Duration::from_micros(1_000), &h, "");
    assert_eq!((t.measured_ms, t.interval), (Some(0.5), Some((0.469, Some(0.532)))));
    // A limit of 980 µs leaves 980 of 1,000 within: Wilson's upper bound 0.98702 is under 99%.
    let t = percentile_target("p99".into(), 0.99, Duration::from_micros(980), &h, "");
    assert_eq!((t.judgement, t.passed, t.more_requests), (Judgement::Fail, false, None));
    // A limit of 990 µs: exactly 99% within, which no number of requests could settle; 10 lie beyond.
    let t = percentile_target("p99".into(), 0.99, Duration::from_micros(990), &h, "");
    assert_eq!((t.judgement, t.more_requests), (Judgement::InsufficientData, None));
    assert_eq!(t.note.as_deref(), Some("10 of 1000 requests beyond the percentile: too few to tell"));
}

#[test]
fn the_interval_has_no_upper_bound_when_the_data_cannot_give_one() {
    // 100 values: ranks 99 ∓ 1.95; the upper one, ceil(100.95) + 1 = 102, is beyond the data. The lower,
    // floor(97.05) = 97, is 97 µs.
    let t = percentile_target("p99".into(), 0.99, Duration::from_secs(1), &one_to(100), "");
    assert_eq!(t.interval, Some((0.097, None)));
    // One beyond the percentile of 100 at p99.9: 100 − floor(99.9) = 1.
    let t = percentile_target("p99.9".into(), 0.999, Duration::from_secs(1), &one_to(100), "");
    assert_eq!(t.note.as_deref(), Some("1 of 100 requests beyond the percentile: too few to tell"));
}

#[test]
fn the_maximum_is_a_fact_judged_inclusively() {
    let h = one_to(100);
    let at = percentile_target("max".into(), 1.0, Duration::from_micros(100), &h, "");
    assert_eq!((at.judgement, at.passed, at.measured_ms, at.samples), (Judgement::Pass, true, Some(0.1), 100));
    assert_eq!((at.interval, at.more_requests), (None, None));
    let over = percentile_target("max".into(), 1.0, Duration::from_micros(99), &h, "");
    assert_eq!((over.judgement, over.passed), (Judgement::Fail, false));
}

#[test]
fn a_target_without_data_fails_and_says_why() {
    let empty = crate::measure::new_histogram();
    let t = percentile_target("p99".into(), 0.99, Duration::from_secs(1), &empty, "nothing came back");
    assert_eq!(
        (t.judgement, t.passed, t.samples, t.note.as_deref()),
        (Judgement::Fail, false, 0, Some("nothing came back"))
    );
    assert_eq!((t.measured_ms, t.interval), (None, None));
    let a = availability_target("availability".into(), crate::units::Ratio(0.99), 0, 0);
    assert_eq!((a.judgement, a.note.as_deref()), (Judgement::Fail, Some("no requests were scheduled")));
}

#[test]
fn an_availability_target_carries_its_ratio_interval_and_verdict() {
    let t = availability_target("availability".into(), crate::units::Ratio(0.98), 990, 1_000);
    assert_eq!((t.judgement, t.passed, t.measured_ratio, t.samples), (Judgement::Pass, true, Some(0.99), 1_000));
    let (lo, hi) = t.interval.map(|(lo, hi)| (lo, hi.unwrap())).unwrap();
    assert!((lo - 0.981_691).abs() < 1e-6 && (hi - 0.994_559).abs() < 1e-6, "{lo} {hi}");
    assert_eq!((t.note, t.measured_ms), (None, None));
    let t = availability_target("availability".into(), crate::units::Ratio(0.99), 990, 1_000);
    assert_eq!((t.judgement, t.note.as_deref()), (Judgement::InsufficientData, Some("too few requests to tell")));
    let t = availability_target("availability".into(), crate::units::Ratio(0.995), 980, 1_000);
    assert_eq!((t.judgement, t.passed), (Judgement::Fail, false));
}

#[test]
fn scoped_targets_are_named_by_their_scope_availability_first() {
    let limits: Limits = toml::from_str("p99 = \"1ms\"\navailability = \"50%\"\nmax = \"1s\"").unwrap();
    let counts = crate::measure::Counts { total: 1_000, ok: 1_000, ..Default::default() };
    let names = |prefix| scope_targets(prefix, &limits, counts, &one_to(1_000)).into_iter().map(|t| t.name);
    assert_eq!(names("").collect::<Vec<_>>(), ["availability", "p99", "max"]);
    assert_eq!(
        names("class chat").collect::<Vec<_>>(),
        ["class chat availability", "class chat p99", "class chat max"]
    );
}

// ---- Windows, bursts and the whole verdict -----------------------------------------------------------------

/// A request due at `at_ms`, sent on time and answered `service_ms` later with `outcome`.
fn request(at_ms: u64, service_ms: u64, outcome: crate::sample::Outcome) -> crate::sample::Sample {
    let intended = Duration::from_millis(at_ms);
    crate::sample::Sample {
        sent: Some(intended),
        done: intended + Duration::from_millis(service_ms),
        outcome,
        ..crate::sample::Sample::not_sent(intended, intended)
    }
}

fn recorder() -> crate::measure::Recorder {
    crate::measure::Recorder::new(std::sync::Arc::default(), &["t".to_string()], &["c".to_string()], &[], None)
}

#[test]
fn a_latency_window_target_names_the_slowest_window_and_counts_the_ones_that_missed() {
    use crate::sample::Outcome;
    let mut r = recorder();
    r.watch_windows(&[(0.0, 1.5), (1.5, 3.0), (3.0, 4.5)]);
    // 100 requests a window, all at one latency: 10 ms, then 300 ms, then 200 ms.
    for (w, service) in [(0, 10), (1, 300), (2, 200)] {
        for i in 0..100 {
            r.record(&request(1_500 * w + 10 * i, service, Outcome::Ok));
        }
    }
    let v = evaluate(&sla("p99 = \"100ms\"\nwindow = \"1500ms\""), &r.finish().0);
    let t = v.targets.iter().find(|t| t.name == "p99 in every window").unwrap();
    assert_eq!((t.judgement, t.passed), (Judgement::Fail, false));
    assert!((t.measured_ms.unwrap() - 300.0).abs() < 0.5, "the slowest window's p99: {:?}", t.measured_ms);
    assert_eq!(t.note.as_deref(), Some("worst of 3 windows: 1.5s..3s; 2 missed"));
}

#[test]
fn a_window_target_is_undecided_when_a_window_is_and_none_failed() {
    use crate::sample::Outcome;
    let mut r = recorder();
    r.watch_windows(&[(0.0, 1.0), (1.0, 2.0)]);
    // Window 0..1: 1,999 of 2,000 (Wilson's lower bound 0.9972 clears 99%); window 1..2: 100 clean requests,
    // which cannot.
    for i in 0..2_000 {
        let outcome = if i == 0 { Outcome::Timeout } else { Outcome::Ok };
        r.record(&request(i / 2, 5, outcome));
    }
    for i in 0..100 {
        r.record(&request(1_000 + 10 * i, 5, Outcome::Ok));
    }
    let v = evaluate(&sla("availability = \"99%\"\nwindow = \"1s\""), &r.finish().0);
    let t = v.targets.iter().find(|t| t.name == "availability in every window").unwrap();
    assert_eq!(
        (t.judgement, t.passed),
        (Judgement::InsufficientData, false),
        "the worst window passed, the target did not"
    );
    // 100 of 100: 0.99 × 3.841459 / 0.01 = 380.3, so 381 in all, 281 more. The decided window asks for none.
    assert_eq!(t.more_requests, Some(281));
    // The window shown is the undecided one, whose interval straddles 99%, not the one of lower availability
    // that passed: the row's figures bear out its verdict.
    assert_eq!(t.measured_ratio, Some(1.0));
    assert_eq!(t.note.as_deref(), Some("worst undecided of 2 windows: 1s..2s; 0 missed"));
    assert!(v.insufficient_data && !v.passed);
}

#[test]
fn the_error_burst_target_is_the_longest_run_of_failed_requests_and_never_the_generators_unsent_ones() {
    use crate::sample::{ErrorKind, Outcome, Sample};
    let mut r = recorder();
    let rules =
        crate::measure::EpisodeRules { class_primary: None, recover_after: 3, numbers: (0, 1), infer_failover: false };
    r.watch_episodes(rules);
    let mut n = 0;
    let mut record = |s: Sample| {
        r.record(&Sample { request: n, ..s });
        n += 1;
    };
    let ok = |at_ms| request(at_ms, 5, Outcome::Ok);
    (0..10).for_each(|i| record(ok(100 * i)));
    // Three failures in a row: from the first's intended send (1,000 ms) to the last's end (1,205 ms).
    (10..13).for_each(|i| record(request(100 * i, 5, Outcome::Error(ErrorKind::Status(503)))));
    (13..20).for_each(|i| record(ok(100 * i)));
    // Ten requests the generator never sent: the target's burst they are not.
    (20..30).for_each(|i| record(Sample::not_sent(Duration::from_millis(100 * i), Duration::from_millis(100 * i))));
    (30..40).for_each(|i| record(ok(100 * i)));
    // One request that waited out a 400 ms timeout: the longest burst, though alone.
    record(request(4_000, 400, Outcome::Timeout));
    (41..50).for_each(|i| record(ok(100 * i)));
    let result = r.finish().0;
    let bursts: Vec<f64> = result.episodes.list.iter().map(|e| e.error_burst_ms).collect();
    assert_eq!(bursts, [205.0, 400.0]);
    let judged = |limit: &str| {
        let v = evaluate(&sla(&format!("max_error_burst = \"{limit}\"")), &result);
        let t = &v.targets[0];
        assert_eq!(t.name, "max_error_burst");
        (t.judgement, t.measured_ms, v.passed)
    };
    assert_eq!(judged("400ms"), (Judgement::Pass, Some(400.0), true));
    assert_eq!(judged("399ms"), (Judgement::Fail, Some(400.0), false));
}

#[test]
fn class_and_tier_targets_are_judged_on_their_own_traffic_and_unreached_scopes_are_errors() {
    let mut result = run(1_000, 0, 5, 0, 0);
    let group = |ok: u64, total: u64, latency_us: u64| {
        let counts = crate::measure::Counts { total, ok, error: total - ok, ..Default::default() };
        let mut g = crate::measure::Group { counts, ..Default::default() };
        g.latency.record_n(latency_us, total).unwrap();
        g
    };
    result.classes = vec![("chat".into(), group(1_000, 1_000, 50_000)), ("idle".into(), group(0, 0, 1))];
    result.tiers[0].1.attempts = group(900, 1_000, 20_000);
    result.tiers.push(("unused".into(), Default::default()));
    let text = "[class.chat]\np99 = \"40ms\"\n[class.idle]\np99 = \"1s\"\n[class.gone]\np99 = \"1s\"\n\
                [tier.t]\navailability = \"99%\"\n[tier.unused]\navailability = \"99%\"";
    let v = evaluate(&sla(text), &result);
    let names: Vec<_> = v.targets.iter().map(|t| (t.name.as_str(), t.judgement)).collect();
    assert_eq!(names, [("class chat p99", Judgement::Fail), ("tier t availability", Judgement::Fail)]);
    assert_eq!(v.unmatched_scopes, ["sla.class.gone", "sla.class.idle", "sla.tier.unused"]);
    assert_eq!(v.exit_code(true), 2);
    // The class at 50 ms meets 60 ms; the tier's 90% meets 80%.
    let v = evaluate(&sla("[class.chat]\np99 = \"60ms\"\n[tier.t]\navailability = \"80%\""), &result);
    assert!(v.passed && v.unmatched_scopes.is_empty(), "{:?}", v.targets);
}

#[test]
fn stream_and_failover_targets_read_their_own_histograms() {
    let mut result = run(1_000, 0, 5, 0, 0);
    // No stream reached a first token: the TTFT target fails with the reason. Nothing was added by failover:
    // its target holds, and says why.
    let v = evaluate(&sla("ttft_p99 = \"1s\"\nfailover_added_p99 = \"100ms\""), &result);
    let by_name = |v: &Verdict, n: &str| v.targets.iter().find(|t| t.name == n).cloned().unwrap();
    let ttft = by_name(&v, "ttft_p99");
    assert_eq!(
        (ttft.judgement, ttft.note.as_deref()),
        (Judgement::Fail, Some("no streamed answer reached its first token"))
    );
    let added = by_name(&v, "failover_added_p99");
    assert_eq!((added.judgement, added.measured_ms, added.samples), (Judgement::Pass, Some(0.0), 0));
    // 1,000 first tokens at 300 ms; 1,000 failovers that added 150 ms each.
    result.stream.ttft.record_n(300_000, 1_000).unwrap();
    result.failover.added.record_n(150_000, 1_000).unwrap();
    let v = evaluate(&sla("ttft_p50 = \"400ms\"\nttft_p99 = \"200ms\"\nfailover_added_p99 = \"100ms\""), &result);
    let judged: Vec<_> = v.targets.iter().map(|t| (t.name.as_str(), t.judgement)).collect();
    assert_eq!(
        judged,
        [("ttft_p50", Judgement::Pass), ("ttft_p99", Judgement::Fail), ("failover_added_p99", Judgement::Fail)]
    );
    assert!((by_name(&v, "ttft_p50").measured_ms.unwrap() - 300.0).abs() < 0.5);
    assert!((by_name(&v, "failover_added_p99").measured_ms.unwrap() - 150.0).abs() < 0.5);
}

// ---- The exit code -----------------------------------------------------------------------------------------

fn verdict(targets: &[(Judgement, bool)]) -> Verdict {
    let targets: Vec<TargetResult> = targets
        .iter()
        .map(|(judgement, generator_bound)| TargetResult {
            judgement: *judgement,
            passed: *judgement == Judgement::Pass,
            generator_bound: *generator_bound,
            ..TargetResult::without_data("t".into(), "1s".into(), "")
        })
        .collect();
    let failed = targets.iter().any(|t| t.judgement == Judgement::Fail);
    let undecided = targets.iter().any(|t| t.judgement == Judgement::InsufficientData);
    Verdict {
        passed: !failed && !undecided,
        insufficient_data: undecided && !failed,
        unmatched_scopes: vec![],
        targets,
    }
}

#[test]
fn every_exit_code_branch() {
    use Judgement::*;
    let codes = |v: &Verdict| (v.exit_code(false), v.exit_code(true));
    assert_eq!(codes(&verdict(&[(Pass, false)])), (0, 0));
    assert_eq!(codes(&verdict(&[])), (0, 0));
    assert_eq!(codes(&verdict(&[(Pass, false), (InsufficientData, false)])), (1, 0));
    assert_eq!(codes(&verdict(&[(Fail, false), (InsufficientData, false)])), (1, 1));
    assert_eq!(codes(&verdict(&[(Fail, true)])), (3, 3));
    assert_eq!(codes(&verdict(&[(Fail, true), (Fail, false)])), (1, 1));
    assert_eq!(codes(&verdict(&[(Fail, true), (InsufficientData, false)])), (3, 3));
    let mut unmatched = verdict(&[(Pass, false)]);
    unmatched.unmatched_scopes.push("sla.tier.x".into());
    assert_eq!(codes(&unmatched), (2, 2));
    // Which targets the helpers pick.
    let v = verdict(&[(Fail, true), (InsufficientData, false), (Pass, false), (Fail, true)]);
    assert_eq!((v.failed().count(), v.undecided().count()), (2, 1));
    assert!(v.generator_bound());
    assert!(!verdict(&[(Fail, true), (Fail, false)]).generator_bound());
    assert!(!verdict(&[(Pass, false)]).generator_bound(), "nothing missed: nothing to explain");
}

#[test]
fn evaluate_sets_passed_and_insufficient_data_from_its_targets() {
    // 200 clean requests at 5 ms: p50 ≤ 1 s passes, 99.9% cannot be shown, p50 ≤ 1 ms fails.
    let result = run(200, 0, 5, 0, 0);
    let v = evaluate(&sla("p50 = \"1s\""), &result);
    assert!(v.passed && !v.insufficient_data);
    let v = evaluate(&sla("availability = \"99.9%\""), &result);
    assert!(!v.passed && v.insufficient_data);
    let v = evaluate(&sla("availability = \"99.9%\"\np50 = \"1ms\""), &result);
    assert!(!v.passed && !v.insufficient_data);
    assert_eq!(v.exit_code(true), 1, "a failure is never excused as undecided");
    let v = evaluate(&sla("[class.nope]\np50 = \"1s\""), &result);
    assert!(!v.passed && v.targets.is_empty());
}

#[test]
fn goodput_min_is_judged_on_good_of_scheduled_requests_and_unsent_ones_are_the_generators() {
    let goodput = |good: u64, result: &mut RunResult| {
        result.goodput.judged = true;
        result.goodput.overall.good = good;
    };
    let target = |v: &Verdict| v.targets.iter().find(|t| t.name == "goodput").cloned().unwrap();
    let limit = sla("goodput = { latency = \"1s\" }\ngoodput_min = \"99.9%\"");
    // 19,990 good of 20,000: Wilson (0.99908, 0.99973), clear of 99.9%.
    let mut r = run(20_000, 0, 5, 0, 0);
    goodput(19_990, &mut r);
    let t = target(&evaluate(&limit, &r));
    assert_eq!((t.judgement, t.measured_ratio, t.samples), (Judgement::Pass, Some(0.9995), 20_000));
    // 19,900 good of 20,000 (99.5%, Wilson upper 0.99589) misses; the 100 not sent explain it: 19,900 of the
    // 19,900 sent is Wilson (0.99981, 1).
    let mut r = run(20_000, 0, 5, 100, 0);
    goodput(19_900, &mut r);
    let v = evaluate(&limit, &r);
    let t = target(&v);
    assert_eq!((t.judgement, t.generator_bound), (Judgement::Fail, true));
    assert!(t.note.as_deref().unwrap().contains("never sent"));
    assert_eq!(v.exit_code(false), 3);
    // 18,000 good: 90.5% even of the sent ones; the miss is the target's.
    goodput(18_000, &mut r);
    let v = evaluate(&limit, &r);
    assert_eq!((target(&v).judgement, target(&v).generator_bound), (Judgement::Fail, false));
    assert_eq!(v.exit_code(false), 1);
    // Without unsent requests a miss is never the generator's.
    let mut r = run(20_000, 0, 5, 0, 0);
    goodput(19_000, &mut r);
    assert_eq!(
        (target(&evaluate(&limit, &r)).judgement, target(&evaluate(&limit, &r)).generator_bound),
        (Judgement::Fail, false)
    );
    // No goodput_min, no target.
    assert!(evaluate(&sla("goodput = { latency = \"1s\" }"), &r).targets.iter().all(|t| t.name != "goodput"));
}

#[test]
fn each_outcome_has_its_word_and_code() {
    // The README's exit-code table, row by row.
    let table = [
        (Outcome::Pass, "pass", 0),
        (Outcome::Fail, "fail", 1),
        (Outcome::Undecided, "undecided", 1),
        (Outcome::Usage, "usage", 2),
        (Outcome::NoVerdict, "no-verdict", 3),
        (Outcome::GeneratorBound, "generator-bound", 3),
        (Outcome::Interrupted, "interrupted", 130),
    ];
    for (outcome, word, code) in table {
        assert_eq!((outcome.word(), outcome.exit_code()), (word, code));
        assert_eq!(serde_json::to_value(outcome).unwrap(), word, "summary.json writes the same word");
    }
}

#[test]
fn a_window_target_shows_the_worst_window_judged_as_it_is_and_asks_for_what_any_window_needs() {
    use crate::sample::Outcome;
    let judged = |windows: &[(u64, u64)]| {
        let mut r = recorder();
        let bounds: Vec<(f64, f64)> = (0..windows.len()).map(|w| (w as f64, w as f64 + 1.0)).collect();
        r.watch_windows(&bounds);
        for (w, (ok, total)) in windows.iter().enumerate() {
            for i in 0..*total {
                let outcome = if i < *ok { Outcome::Ok } else { Outcome::Error(crate::sample::ErrorKind::Status(503)) };
                r.record(&request(1_000 * w as u64 + i * 900 / total, 5, outcome));
            }
        }
        let v = evaluate(&sla("availability = \"99%\"\nwindow = \"1s\""), &r.finish().0);
        v.targets.into_iter().find(|t| t.name == "availability in every window").unwrap()
    };
    // Both fail (95% and 98% of 2,000, each Wilson interval below 99%): the lower one is shown.
    let t = judged(&[(1_960, 2_000), (1_900, 2_000)]);
    assert_eq!((t.judgement, t.measured_ratio), (Judgement::Fail, Some(0.95)));
    assert_eq!(t.note.as_deref(), Some("worst of 2 windows: 1s..2s; 2 missed"));
    // Both undecided: 98 of 100 (Wilson 0.930..0.9945) and 199 of 200 (0.9722..0.9991). The lower is shown,
    // but the target asks for what the other needs, 1,322 more (the share rule's test works it out).
    let t = judged(&[(98, 100), (199, 200)]);
    assert_eq!((t.judgement, t.measured_ratio), (Judgement::InsufficientData, Some(0.98)));
    assert_eq!(
        (t.more_requests, t.note.as_deref()),
        (Some(1_322), Some("worst undecided of 2 windows: 0s..1s; 0 missed"))
    );
}
