//! An in-process mock's lateness as the generator's: slacheck's mock providers share the generator's process,
//! so when it is starved of CPU they answer later than their own latency models say, and the run's service
//! time grows with them. Whether that can explain a latency target's miss: when the mocks were the target
//! itself, by judging the target on their models; behind a gateway, by the answers late enough to account for
//! the whole miss.

use super::{judge_share, percentile_target, Judgement};
use crate::measure::{ms, MockTiming};
use crate::units::fmt_ms;
use hdrhistogram::Histogram;
use std::time::Duration;

/// Why the miss of latency target `name` ("quantile `q` ≤ `limit`", missed on `service` time) is the
/// generator's, when the in-process mocks' timing explains it; `None` when the miss is the target's.
pub(super) fn explains(
    name: &str,
    q: f64,
    limit: Duration,
    service: &Histogram<u64>,
    mocks: &MockTiming,
) -> Option<String> {
    let late = &mocks.lateness;
    match &mocks.modelled {
        Some(modelled) => holds_on_the_model(q, limit, modelled, late).then(|| {
            format!(
                "on the in-process mock's own model it holds ({name} {}); the mock shares the generator's busy \
                 process and answered late ({name} of its lateness {})",
                fmt_ms(ms(at_quantile(modelled, q))),
                fmt_ms(ms(at_quantile(late, q)))
            )
        }),
        None => late_by_the_excess(q, limit, service, late).map(|count| {
            let floor = floor(q, limit, service);
            format!(
                "it holds without the in-process mock's lateness: {count} of its answers left {} or more late, \
                 held up by the generator's busy process, which the mock shares",
                fmt_ms(floor.as_secs_f64() * 1000.0)
            )
        }),
    }
}

/// The target holds on the answers' modelled times, and the mock was late at the target's quantile (beyond the
/// timer's tick): the time the requests took past their model was the generator's process.
fn holds_on_the_model(q: f64, limit: Duration, modelled: &Histogram<u64>, late: &Histogram<u64>) -> bool {
    !late.is_empty()
        && Duration::from_micros(at_quantile(late, q)) >= TIMER_GRANULARITY
        && percentile_target(String::new(), q, limit.mul_f64(1.0 - MODEL_RESOLUTION), modelled, "").judgement
            == Judgement::Pass
}

/// The value at quantile `q`; the maximum for 1.
fn at_quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if q >= 1.0 {
        h.max()
    } else {
        h.value_at_quantile(q)
    }
}

/// The mocks keep their models' times to two significant figures: a value reads back up to 1% above it, so the
/// model is judged against a limit 1% lower, never in its favour.
const MODEL_RESOLUTION: f64 = 0.01;

/// Lateness under this is the timer's granularity (tokio's wheel ticks each millisecond), not a starved process.
const TIMER_GRANULARITY: Duration = Duration::from_millis(1);

/// How late an answer must have been to explain the miss of "quantile `q` ≤ `limit`" on `service`: by the
/// whole excess of the measured value over the limit, and at least the timer's granularity.
fn floor(q: f64, limit: Duration, service: &Histogram<u64>) -> Duration {
    Duration::from_micros(at_quantile(service, q).saturating_sub(limit.as_micros() as u64)).max(TIMER_GRANULARITY)
}

/// Behind a gateway: whether the mock's lateness can explain a latency miss on service time. The answers late
/// by the whole excess (see [`floor`]) are taken off the requests over the limit, as if each had been one of
/// them, and the target judged again. Returns how many answers were that late when it then holds. The late
/// answers need not have been the slow requests, so this says the generator *can* explain the miss; fewer late
/// answers than the miss needs leave it the target's.
fn late_by_the_excess(q: f64, limit: Duration, service: &Histogram<u64>, lateness: &Histogram<u64>) -> Option<u64> {
    let n = service.len();
    if n == 0 {
        return None;
    }
    let within = service.count_between(0, limit.as_micros() as u64);
    let floor = floor(q, limit, service).as_micros() as u64;
    let late = lateness.len() - lateness.count_between(0, floor - 1);
    let moved = late.min(n - within);
    let holds = match q >= 1.0 {
        true => within + moved == n,
        false => judge_share(within + moved, n, q).0 == Judgement::Pass,
    };
    (holds && late > 0).then_some(late)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{new_histogram, Recorder};
    use crate::sample::{Outcome, Sample};

    /// A histogram of `count` values of `us` µs each, for each pair.
    fn of(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = new_histogram();
        values.iter().for_each(|&(us, count)| h.record_n(us, count).unwrap());
        h
    }

    const MS: u64 = 1_000;

    #[test]
    fn enough_answers_late_by_the_whole_excess_explain_a_percentile_miss() {
        // 980 requests in 10 ms and 20 in 50 ms: p99 is 50 ms against 20, 30 ms over; 980 of 1,000 within the
        // limit fails 99% (Wilson's interval tops out at 0.987).
        let service = of(&[(10 * MS, 980), (50 * MS, 20)]);
        let p99 = |lateness: &Histogram<u64>| late_by_the_excess(0.99, Duration::from_millis(20), &service, lateness);
        // 30 ms, read back at the top of 50 ms's bucket (three significant figures: within 0.1%).
        let over = floor(0.99, Duration::from_millis(20), &service);
        assert!(over >= Duration::from_millis(30) && over <= Duration::from_micros(30_050), "{over:?}");
        // 20 answers 35 ms late: all 1,000 within, whose interval's low end is 0.996.
        assert_eq!(p99(&of(&[(200, 980), (35 * MS, 20)])), Some(20));
        // Late, but by less than the 30 ms the miss needs.
        assert_eq!(p99(&of(&[(200, 980), (25 * MS, 20)])), None);
        // Late enough, but too few: 985 of 1,000 within still misses.
        assert_eq!(p99(&of(&[(200, 995), (35 * MS, 5)])), None);
        // Nothing late at all.
        assert_eq!(p99(&of(&[(200, 1_000)])), None);
        // Nor when the target held anyway: no late answer explains anything.
        let held = of(&[(10 * MS, 1_000)]);
        assert_eq!(late_by_the_excess(0.99, Duration::from_millis(20), &held, &of(&[(200, 1_000)])), None);
    }

    #[test]
    fn an_answer_late_by_exactly_the_excess_is_late_enough() {
        // Values under 2,048 µs are kept exactly: a maximum of 2,000 µs against 1 ms is 1,000 µs over.
        let service = of(&[(500, 999), (2_000, 1)]);
        let max = |lateness: &Histogram<u64>| late_by_the_excess(1.0, Duration::from_millis(1), &service, lateness);
        assert_eq!(max(&of(&[(1_000, 1)])), Some(1));
        assert_eq!(max(&of(&[(999, 1)])), None);
    }

    #[test]
    fn lateness_within_the_timers_tick_explains_nothing() {
        // p99 of 20.5 ms against 20: half a millisecond over, and every answer 0.8 ms late, which is the timer's
        // rounding, not a starved process.
        let service = of(&[(20_500, 1_000)]);
        assert_eq!(floor(0.99, Duration::from_millis(20), &service), TIMER_GRANULARITY);
        assert_eq!(late_by_the_excess(0.99, Duration::from_millis(20), &service, &of(&[(800, 1_000)])), None);
        // 1.2 ms late each: enough.
        assert_eq!(late_by_the_excess(0.99, Duration::from_millis(20), &service, &of(&[(1_200, 1_000)])), Some(1_000));
    }

    #[test]
    fn a_maximum_needs_every_request_over_it_explained() {
        let service = of(&[(10 * MS, 998), (50 * MS, 2)]);
        let max = |lateness: &Histogram<u64>| late_by_the_excess(1.0, Duration::from_millis(20), &service, lateness);
        assert_eq!(max(&of(&[(41 * MS, 2)])), Some(2));
        // More late answers than requests over the limit: the two are all it takes.
        assert_eq!(max(&of(&[(41 * MS, 5)])), Some(5));
        assert_eq!(max(&of(&[(41 * MS, 1)])), None, "one of the two slow requests is left");
        assert_eq!(max(&of(&[(29 * MS, 2)])), None, "the maximum is 30 ms over");
        assert_eq!(late_by_the_excess(1.0, Duration::from_millis(20), &new_histogram(), &of(&[(41 * MS, 2)])), None);
    }

    #[test]
    fn on_the_mocks_own_model_a_miss_is_the_generators_only_if_the_model_holds_and_the_mock_was_late() {
        let (limit, service) = (Duration::from_millis(30), of(&[(20 * MS, 900), (900 * MS, 100)]));
        let direct = |modelled: &[(u64, u64)], late: &[(u64, u64)]| MockTiming {
            lateness: of(late),
            modelled: Some(of(modelled)),
        };
        let p99 = |m: &MockTiming| explains("p99", 0.99, limit, &service, m);
        // Every answer modelled at 20 ms; 100 of 1,000 late by 600 ms: p99 of the lateness is 600 ms.
        let why = p99(&direct(&[(20 * MS, 1_000)], &[(100, 900), (600 * MS, 100)])).unwrap();
        assert!(why.contains("own model it holds (p99 20.0ms)") && why.contains("lateness 60"), "{why}");
        // A model within 1% of the limit is not given the benefit of its two significant figures.
        let busy = [(100, 900), (600 * MS, 100)];
        assert_eq!(p99(&direct(&[(29_900, 1_000)], &busy)), None);
        assert!(p99(&direct(&[(29_500, 1_000)], &busy)).is_some());
        // The model itself misses: 2% of answers modelled at 100 ms.
        assert_eq!(p99(&direct(&[(20 * MS, 980), (100 * MS, 20)], &[(100, 900), (600 * MS, 100)])), None);
        // The mock was on time (within the timer's tick) at p99: the miss is not its lateness.
        assert_eq!(p99(&direct(&[(20 * MS, 1_000)], &[(100, 995), (600 * MS, 5)])), None);
        assert_eq!(p99(&direct(&[(20 * MS, 1_000)], &[])), None);
        // A maximum: the latest answer must have been late.
        let max = |m: &MockTiming| explains("max", 1.0, limit, &service, m);
        assert!(max(&direct(&[(20 * MS, 1_000)], &[(100, 999), (2 * MS, 1)])).is_some());
        assert_eq!(max(&direct(&[(20 * MS, 1_000)], &[(100, 1_000)])), None);
    }

    /// 1,000 requests served in 10 ms, 20 of them (the last) in 50 ms, sent when due.
    fn run() -> crate::measure::RunResult {
        let mut r = Recorder::new(std::sync::Arc::default(), &[], &[], &[], None);
        for i in 0..1_000u64 {
            let intended = Duration::from_millis(10 * i);
            let took = Duration::from_millis(if i >= 980 { 50 } else { 10 });
            let sample =
                Sample { sent: Some(intended), outcome: Outcome::Ok, ..Sample::not_sent(intended, intended + took) };
            r.record(&sample);
        }
        r.finish().0
    }

    #[test]
    fn a_miss_the_in_process_mock_was_late_for_is_the_generators_and_exits_3() {
        let sla: crate::scenario::Sla = toml::from_str("availability = \"99%\"\np99 = \"20ms\"").unwrap();
        let mut result = run();
        assert_eq!(
            super::super::evaluate(&sla, &result).exit_code(false),
            1,
            "without the mock's timing the miss is the target's"
        );
        // Behind a gateway: 20 answers late by more than the 30 ms miss.
        result.mock_timing = Some(MockTiming { lateness: of(&[(200, 980), (35 * MS, 20)]), modelled: None });
        let v = super::super::evaluate(&sla, &result);
        let p99 = v.targets.iter().find(|t| t.name == "p99").unwrap();
        assert!(p99.generator_bound && !p99.passed, "{p99:?}");
        assert!(p99.note.as_deref().unwrap().contains("20 of its answers"), "{:?}", p99.note);
        assert_eq!(v.exit_code(false), 3);
        // Too few late answers: the miss stays the target's.
        result.mock_timing = Some(MockTiming { lateness: of(&[(200, 995), (35 * MS, 5)]), modelled: None });
        assert_eq!(super::super::evaluate(&sla, &result).exit_code(false), 1);
        // The mocks were the target, their model holds, and they were late at p99.
        let late = of(&[(200, 980), (5 * MS, 20)]);
        result.mock_timing = Some(MockTiming { lateness: late.clone(), modelled: Some(of(&[(10 * MS, 1_000)])) });
        assert_eq!(super::super::evaluate(&sla, &result).exit_code(false), 3);
        // Their model misses too: the target's.
        result.mock_timing = Some(MockTiming { lateness: late, modelled: Some(of(&[(10 * MS, 980), (50 * MS, 20)])) });
        assert_eq!(super::super::evaluate(&sla, &result).exit_code(false), 1);
    }
}
