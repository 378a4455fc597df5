//! compare's unit tests: expected values are worked out by hand from the histograms and counts each test
//! builds (or by a separate calculation, quoted), never by the function under test.

use super::*;
use rand_distr::{Distribution, LogNormal};

/// A log of `seconds` intervals of `per_second` lognormal latencies (median 20 ms) times `scale`.
fn side(seed: u64, seconds: usize, per_second: usize, scale: f64) -> Side {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let dist = LogNormal::new((20_000f64).ln(), 0.6).unwrap();
    let mut log = Log::default();
    for s in 0..seconds {
        let mut h = crate::measure::new_histogram();
        for _ in 0..per_second {
            h.record((dist.sample(&mut rng) * scale) as u64).unwrap();
        }
        log.series.entry(String::new()).or_default().push(hlog::Interval {
            start: std::time::Duration::from_secs(s as u64),
            length: std::time::Duration::from_secs(1),
            histogram: h,
        });
    }
    Side { label: format!("seed {seed}"), log, summary: None }
}

fn change(c: &Comparison, metric: &str) -> Change {
    c.rows.iter().find(|r| r.metric == metric).unwrap().change
}

#[test]
fn identical_runs_show_no_change() {
    let a = side(1, 30, 400, 1.0);
    let c = compare(&a, &a, &Tolerances::default());
    assert!(!c.regressed);
    assert_eq!(c.outcome, CompareOutcome::NoRegression);
    for r in &c.rows {
        assert_eq!(r.delta, 0.0);
        assert!(matches!(r.change, Change::NoSignificantChange));
    }
}

#[test]
fn a_thirty_percent_slowdown_is_a_regression_and_the_reverse_an_improvement() {
    let (before, after) = (side(1, 30, 400, 1.0), side(2, 30, 400, 1.3));
    let c = compare(&before, &after, &Tolerances::default());
    assert!(c.regressed);
    assert_eq!(c.outcome, CompareOutcome::Regressed);
    assert_eq!(change(&c, "p99"), Change::Regressed);
    let p99 = row(&c, "p99");
    let named = format!("p99 +{:.1}% (tolerance 10%)", p99.relative.unwrap() * 100.0);
    assert!(c.conclusion().contains(&named), "{named} in {}", c.conclusion());
    assert_eq!(change(&c, "p50"), Change::Regressed);
    let r = compare(&after, &before, &Tolerances::default());
    assert_eq!(change(&r, "p99"), Change::Improved);
    assert!(!r.regressed);
}

#[test]
fn noise_between_runs_of_the_same_scenario_raises_no_alarm() {
    for seed in 0..10 {
        let c = compare(&side(100 + seed, 30, 400, 1.0), &side(200 + seed, 30, 400, 1.0), &Tolerances::default());
        assert!(!c.regressed, "false alarm at seed {seed}: {:?}", c.rows);
    }
}

#[test]
fn a_few_intervals_are_not_enough_to_judge() {
    let c = compare(&side(1, MIN_INTERVALS - 1, 400, 1.0), &side(2, 30, 400, 2.0), &Tolerances::default());
    assert_eq!(change(&c, "p99"), Change::InsufficientData);
    assert!(!c.regressed);
}

#[test]
fn availability_is_judged_with_a_proportion_test() {
    let r = availability_row((99_950.0, 100_000.0), (99_700.0, 100_000.0), 0.05);
    assert_eq!(r.change, Change::Regressed);
    let r = availability_row((999.0, 1000.0), (998.0, 1000.0), 0.05);
    assert_eq!(r.change, Change::NoSignificantChange, "1 in 1,000 more errors is within the noise");
}

#[test]
fn tolerances_parse() {
    let t = Tolerances::parse("p99=15%,availability=0.1pp").unwrap();
    assert_eq!((t.latency["p99"], t.availability_pp), (0.15, 0.1));
    assert!(Tolerances::parse("p42=1%").is_err());
    assert!(Tolerances::parse("availability=1%").is_err());
}

/// `side`, with a tier `name` whose latencies are `tier_scale` times the overall ones, and a summary.
fn with_tier(mut s: Side, name: &str, tier_scale: f64, summary: serde_json::Value) -> Side {
    let intervals: Vec<hlog::Interval> = s.log.series[""]
        .iter()
        .map(|i| {
            let mut h = crate::measure::new_histogram();
            for v in i.histogram.iter_recorded() {
                let value = (v.value_iterated_to() as f64 * tier_scale) as u64;
                h.record_n(value, v.count_at_value()).unwrap();
            }
            hlog::Interval { histogram: h, ..i.clone() }
        })
        .collect();
    s.log.series.insert(format!("tier.{name}"), intervals);
    s.summary = Some(summary);
    s
}

#[test]
fn a_tier_that_slowed_beyond_its_tolerance_regresses_even_when_the_whole_did_not() {
    let summary = serde_json::json!({ "duration_s": 30.0 });
    let before = with_tier(side(1, 30, 400, 1.0), "fallback", 1.0, summary.clone());
    // The whole is the same distribution; the tier is 25% slower.
    let after = with_tier(side(1, 30, 400, 1.0), "fallback", 1.25, summary);
    let c = compare(&before, &after, &Tolerances::default());
    let tier = &c.tiers[0];
    assert_eq!(tier.metric, "fallback p99");
    assert!((tier.relative.unwrap() - 0.25).abs() < 0.01, "{:?}", tier.relative);
    assert_eq!(tier.tolerance, Some(0.10));
    let (lo, hi) = tier.ci.unwrap();
    assert!(lo > 0.0 && lo < 0.25 && hi > 0.25, "the interval holds +25%: {lo} {hi}");
    assert_eq!(tier.change, Change::Regressed);
    assert_eq!(change(&c, "p99"), Change::NoSignificantChange);
    assert!(c.regressed);
    assert_eq!(c.exit_code(false), 1);
}

#[test]
fn a_generator_bound_side_is_not_judged_and_exits_3() {
    let overloaded = serde_json::json!({ "duration_s": 30.0, "generator": { "overloaded": true } });
    let fine = serde_json::json!({ "duration_s": 30.0, "generator": { "overloaded": false } });
    let before = with_tier(side(1, 30, 400, 1.0), "t", 1.0, fine);
    let after = with_tier(side(2, 30, 400, 1.3), "t", 1.3, overloaded);
    let c = compare(&before, &after, &Tolerances::default());
    assert_eq!(change(&c, "p99"), Change::Regressed, "the rows still show the change");
    assert!(!c.regressed, "but no regression is called");
    assert_eq!(c.generator_bound, ["after"]);
    assert_eq!(c.exit_code(false), 3);
    assert_eq!(c.outcome, CompareOutcome::NotJudged);
    assert!(c.conclusion().starts_with("NOT JUDGED"), "{}", c.conclusion());
}

#[test]
fn what_cannot_be_judged_fails_unless_the_run_lets_undecided_data_pass() {
    let c = compare(&side(1, 3, 400, 1.0), &side(2, 3, 400, 3.0), &Tolerances::default());
    assert!(c.insufficient_data && !c.regressed);
    assert_eq!(c.outcome, CompareOutcome::InsufficientData);
    assert_eq!((c.exit_code(false), c.exit_code(true)), (1, 0));
    let same = compare(&side(1, 30, 400, 1.0), &side(2, 30, 400, 1.0), &Tolerances::default());
    assert!(!same.insufficient_data);
    assert_eq!(same.exit_code(false), 0);
}

#[test]
fn a_partial_last_interval_is_not_counted_as_a_whole_one() {
    // A 4 s run whose answers ran into a fifth second: five intervals, four of them whole.
    let short = |seed| Side { summary: Some(serde_json::json!({ "duration_s": 4.01 })), ..side(seed, 5, 400, 1.0) };
    let c = compare(&short(1), &side(2, 30, 400, 2.0), &Tolerances::default());
    assert_eq!(change(&c, "p99"), Change::InsufficientData);
    // Five whole seconds are enough.
    let five = |seed| Side { summary: Some(serde_json::json!({ "duration_s": 5.0 })), ..side(seed, 5, 400, 1.0) };
    let c = compare(&five(1), &side(2, 30, 400, 2.0), &Tolerances::default());
    assert_eq!(change(&c, "p99"), Change::Regressed);
    assert_eq!(whole_intervals(&side(1, 5, 1, 1.0).log.series[""], Some(4.01)), 4);
    assert_eq!(whole_intervals(&side(1, 5, 1, 1.0).log.series[""], None), 5);
}

// ---- Hand-worked values ------------------------------------------------------------------------------------

/// A histogram of the values `scale`, 2 × `scale`, … 1,000 × `scale` µs, once each.
fn ladder(scale: u64) -> Histogram<u64> {
    let mut h = crate::measure::new_histogram();
    for v in 1..=1_000 {
        h.record(v * scale).unwrap();
    }
    h
}

/// A side of `seconds` one-second intervals, each holding `h`, and an optional summary.
fn steady(h: &Histogram<u64>, seconds: u64, summary: Option<serde_json::Value>) -> Side {
    let mut log = Log::default();
    let intervals = (0..seconds).map(|s| hlog::Interval {
        start: std::time::Duration::from_secs(s),
        length: std::time::Duration::from_secs(1),
        histogram: h.clone(),
    });
    log.series.insert(String::new(), intervals.collect());
    Side { label: format!("{seconds} s"), log, summary }
}

fn row<'a>(c: &'a Comparison, metric: &str) -> &'a MetricRow {
    c.rows.iter().find(|r| r.metric == metric).unwrap()
}

#[test]
fn percentiles_and_the_maximum_are_the_ranked_values_of_the_merged_intervals() {
    // 1..1,000 µs: p50 is the 500th value, p90 the 900th, p95 the 950th, p99 the 990th, p99.9 the 999th; the
    // max 1,000 µs.
    // The after side is the same ladder doubled (2..2,000 µs, still exact in the histogram).
    let c = compare(&steady(&ladder(1), 10, None), &steady(&ladder(2), 10, None), &Tolerances::default());
    let values: Vec<(f64, f64)> =
        ["p50", "p90", "p95", "p99", "p99.9", "max"].iter().map(|m| (row(&c, m).before, row(&c, m).after)).collect();
    assert_eq!(values, [(0.5, 1.0), (0.9, 1.8), (0.95, 1.9), (0.99, 1.98), (0.999, 1.998), (1.0, 2.0)]);
    let p99 = row(&c, "p99");
    assert_eq!(p99.delta, 1.98 - 0.99);
    assert_eq!(p99.relative, Some(1.0));
    // Every second is the same, so every resample is too: the interval of the change is exactly +100%.
    assert_eq!(p99.ci, Some((1.0, 1.0)));
    assert_eq!(p99.change, Change::Regressed);
    assert_eq!(row(&c, "max").ci, None);
}

#[test]
fn the_maximum_of_a_side_ignores_values_only_the_other_side_has() {
    let boot = Bootstrap::new(&[&ladder(1)], &[&ladder(2)]);
    assert_eq!((boot.max(0), boot.max(1)), (1.0, 2.0));
    assert_eq!(boot.points(0), [0.5, 0.9, 0.95, 0.99, 0.999]);
}

#[test]
fn the_central_95_uses_the_nearest_ranks_of_2_5_and_97_5_percent() {
    // 1,001 values 0..1,000 (shuffled): ranks round(0.025 × 1,000) = 25 and round(0.975 × 1,000) = 975.
    let mut r: Vec<f64> = (0..=1_000).rev().map(f64::from).collect();
    assert_eq!(bootstrap::central_95(&mut r), (25.0, 975.0));
    // 41 values 0..40: round(1.0) = 1 and round(39.0) = 39.
    let mut r: Vec<f64> = (0..=40).map(f64::from).collect();
    assert_eq!(bootstrap::central_95(&mut r), (1.0, 39.0));
}

#[test]
fn a_side_of_zero_latencies_gives_no_interval() {
    let mut zero = crate::measure::new_histogram();
    zero.record_n(0, 100).unwrap();
    let c = compare(&steady(&zero, 10, None), &steady(&ladder(1), 10, None), &Tolerances::default());
    let p99 = row(&c, "p99");
    assert_eq!((p99.relative, p99.ci, p99.change), (None, None, Change::InsufficientData));
}

#[test]
fn five_whole_intervals_a_side_are_the_least_that_is_judged_on_either_side() {
    let judged = |b, a| {
        let c = compare(&steady(&ladder(1), b, None), &steady(&ladder(2), a, None), &Tolerances::default());
        row(&c, "p99").change
    };
    assert_eq!(judged(5, 5), Change::Regressed);
    assert_eq!(judged(4, 30), Change::InsufficientData);
    assert_eq!(judged(30, 4), Change::InsufficientData);
    // Intervals that end after the run's length are partial: 6 intervals of a 5.5 s run are 5 whole.
    let summary = |d: f64| Some(serde_json::json!({ "duration_s": d }));
    let c = compare(&steady(&ladder(1), 6, summary(5.5)), &steady(&ladder(2), 6, summary(4.9)), &Tolerances::default());
    assert_eq!(row(&c, "p99").change, Change::InsufficientData, "4 whole intervals after");
    let c = compare(&steady(&ladder(1), 6, summary(5.5)), &steady(&ladder(2), 6, summary(5.0)), &Tolerances::default());
    assert_eq!(row(&c, "p99").change, Change::Regressed, "an interval that ends at the run's end is whole");
}

#[test]
fn latency_rows_are_judged_on_the_tolerance_and_the_interval_both() {
    // A tolerance of 25% (a power-of-two fraction, so that 125 / 100 − 1 is exactly 0.25).
    let judge = |after: f64, ci: (f64, f64)| latency_row("p99", 100.0, after, Some(ci), Some(0.25)).change;
    // +50% with an interval clear of zero: regressed. Exactly +25% (the tolerance) with the interval clear of
    // zero: a real change within tolerance. An interval from zero: no significant change.
    assert_eq!(judge(150.0, (0.05, 0.6)), Change::Regressed);
    assert_eq!(judge(125.0, (0.05, 0.6)), Change::WithinTolerance);
    assert_eq!(judge(110.0, (0.0, 0.2)), Change::NoSignificantChange);
    assert_eq!(judge(150.0, (0.0, 0.6)), Change::NoSignificantChange);
    assert_eq!(judge(150.0, (-0.05, 0.6)), Change::NoSignificantChange);
    // The mirror: −50% with an interval below zero is an improvement; −25%, or an interval up to zero, is not.
    assert_eq!(judge(50.0, (-0.6, -0.05)), Change::Improved);
    assert_eq!(judge(75.0, (-0.6, -0.05)), Change::WithinTolerance);
    assert_eq!(judge(90.0, (-0.2, 0.0)), Change::NoSignificantChange);
    assert_eq!(judge(50.0, (-0.6, 0.0)), Change::NoSignificantChange);
    // A large change the noise cannot separate from none.
    assert_eq!(judge(50.0, (-0.6, 0.2)), Change::NoSignificantChange);
    let r = latency_row("p99", 100.0, 125.0, None, Some(0.10));
    assert_eq!((r.delta, r.relative, r.change), (25.0, Some(0.25), Change::InsufficientData));
    let max = latency_row("max", 100.0, 300.0, None, None);
    assert_eq!(max.change, Change::NoSignificantChange, "no tolerance: shown, never judged");
    assert_eq!(latency_row("p99", 0.0, 5.0, Some((0.1, 0.2)), Some(0.1)).relative, None);
}

#[test]
fn availability_uses_newcombes_interval_of_the_difference() {
    // Separate calculations of Newcombe's hybrid score interval (from the two Wilson intervals):
    // 99.9% → 99.0% of 100,000 each: (−0.9660, −0.8364) pp.
    let r = availability_row((99_900.0, 100_000.0), (99_000.0, 100_000.0), 0.05);
    let (lo, hi) = r.ci.unwrap();
    assert!((lo + 0.966_014).abs() < 1e-5 && (hi + 0.836_405).abs() < 1e-5, "{lo} {hi}");
    assert_eq!((r.before, r.after, r.change), (99.9, 99.0, Change::Regressed));
    assert!((r.delta + 0.9).abs() < 1e-9);
    // The reverse is an improvement, with the mirrored interval.
    let r = availability_row((99_000.0, 100_000.0), (99_900.0, 100_000.0), 0.05);
    let (lo, hi) = r.ci.unwrap();
    assert!((lo - 0.836_405).abs() < 1e-5 && (hi - 0.966_014).abs() < 1e-5, "{lo} {hi}");
    assert_eq!(r.change, Change::Improved);
    // 1,000 clean against 995 of 1,000: (−1.1651, −0.0221) pp, where the Wald interval would give a clean
    // side no width at all.
    let r = availability_row((1_000.0, 1_000.0), (995.0, 1_000.0), 0.05);
    let (lo, hi) = r.ci.unwrap();
    assert!((lo + 1.165_096).abs() < 1e-5 && (hi + 0.022_111).abs() < 1e-5, "{lo} {hi}");
    assert_eq!(r.change, Change::Regressed);
    // 99.9% → 99.85% of 10,000: (−0.1575, +0.0527) pp holds zero: within the noise.
    let r = availability_row((9_990.0, 10_000.0), (9_985.0, 10_000.0), 0.01);
    assert_eq!(r.change, Change::NoSignificantChange);
}

#[test]
fn a_significant_availability_drop_within_the_tolerance_is_no_regression() {
    // −0.9 pp, clearly beyond the noise, against a 1 pp tolerance: not a regression, and +0.9 not an improvement;
    // each a real change within tolerance.
    let r = availability_row((99_900.0, 100_000.0), (99_000.0, 100_000.0), 1.0);
    assert_eq!(r.change, Change::WithinTolerance);
    let r = availability_row((99_000.0, 100_000.0), (99_900.0, 100_000.0), 1.0);
    assert_eq!(r.change, Change::WithinTolerance);
    assert_eq!(r.tolerance, Some(1.0));
}

#[test]
fn a_side_with_no_requests_cannot_be_judged_on_availability() {
    assert_eq!(availability_row((0.0, 0.0), (99.0, 100.0), 0.05).change, Change::InsufficientData);
    assert_eq!(availability_row((99.0, 100.0), (0.0, 0.0), 0.05).change, Change::InsufficientData);
}

#[test]
fn availability_and_error_rate_come_from_the_summaries_counts() {
    let summary = |ok: u64| Some(serde_json::json!({ "counts": { "ok": ok, "total": 100_000 } }));
    let c = compare(
        &steady(&ladder(1), 10, summary(99_900)),
        &steady(&ladder(1), 10, summary(99_000)),
        &Tolerances::default(),
    );
    let a = row(&c, "availability");
    assert_eq!((a.before, a.after, a.change), (99.9, 99.0, Change::Regressed));
    let e = row(&c, "error rate");
    assert!((e.before - 0.1).abs() < 1e-9 && (e.after - 1.0).abs() < 1e-9, "{} {}", e.before, e.after);
    assert!((e.delta - 0.9).abs() < 1e-9);
    let (lo, hi) = e.ci.unwrap();
    assert!((lo - 0.836_405).abs() < 1e-5 && (hi - 0.966_014).abs() < 1e-5, "{lo} {hi}");
    assert_eq!((e.change, e.tolerance), (Change::Regressed, a.tolerance));
    assert!(c.regressed);
    // The conclusion names what regressed, against its tolerance (the latency rows are the same ladder: unchanged).
    assert_eq!(
        c.conclusion(),
        "REGRESSED beyond tolerance and noise: availability -0.900pp (tolerance 0.05pp), error rate +0.900pp \
         (tolerance 0.05pp)"
    );
    // Hang-ups are the client's, neither ok nor failed: 222 ok of 238 with 16 cancelled is 100%, as the run said.
    let hung_up = Some(serde_json::json!({ "counts": { "ok": 222, "total": 238, "cancelled": 16 } }));
    let plain = Some(serde_json::json!({ "counts": { "ok": 238, "total": 238 } }));
    let c = compare(&steady(&ladder(1), 10, plain), &steady(&ladder(1), 10, hung_up), &Tolerances::default());
    let a = row(&c, "availability");
    assert_eq!((a.before, a.after, a.change), (100.0, 100.0, Change::NoSignificantChange));
    // Without both summaries there is no availability row.
    let c = compare(&steady(&ladder(1), 10, summary(99_900)), &steady(&ladder(1), 10, None), &Tolerances::default());
    assert!(c.rows.iter().all(|r| r.metric != "availability"));
}

#[test]
fn a_side_reads_its_own_flags_from_its_summary() {
    let side = |summary| steady(&ladder(1), 1, Some(summary));
    let overloaded = side(serde_json::json!({ "generator": { "overloaded": true }, "duration_s": 7.5 }));
    assert!(overloaded.generator_bound() && !overloaded.undecided_passes());
    assert_eq!(overloaded.duration_s(), Some(7.5));
    let lenient = side(serde_json::json!({ "scenario": { "sla": { "insufficient_data": "pass" } } }));
    assert!(lenient.undecided_passes() && !lenient.generator_bound());
    assert_eq!(lenient.duration_s(), None);
    let strict = side(serde_json::json!({ "scenario": { "sla": { "insufficient_data": "fail" } } }));
    assert!(!strict.undecided_passes());
}

#[test]
fn the_exit_code_and_the_conclusion_agree() {
    let base = compare(&steady(&ladder(1), 10, None), &steady(&ladder(1), 10, None), &Tolerances::default());
    let with = |regressed: bool, insufficient_data: bool, generator_bound: &[&str]| Comparison {
        regressed,
        insufficient_data,
        generator_bound: generator_bound.iter().map(|s| s.to_string()).collect(),
        ..base.clone()
    };
    let cases = [
        (with(false, false, &[]), (0, 0), "no regression", CompareOutcome::NoRegression),
        (with(true, false, &[]), (1, 1), "REGRESSED", CompareOutcome::Regressed),
        (with(true, true, &[]), (1, 1), "REGRESSED", CompareOutcome::Regressed),
        (with(false, true, &[]), (1, 0), "INSUFFICIENT DATA", CompareOutcome::InsufficientData),
        (
            with(false, false, &["before"]),
            (3, 3),
            "NOT JUDGED: the generator fell behind on the before run",
            CompareOutcome::NotJudged,
        ),
        (
            with(false, true, &["before", "after"]),
            (3, 3),
            "NOT JUDGED: the generator fell behind on the before and after",
            CompareOutcome::NotJudged,
        ),
    ];
    for (c, codes, starts, outcome) in cases {
        assert_eq!(c.settled(), outcome, "{}", c.conclusion());
        assert_eq!((c.exit_code(false), c.exit_code(true)), codes, "{}", c.conclusion());
        assert!(c.conclusion().starts_with(starts), "{}", c.conclusion());
    }
}

#[test]
fn the_tables_show_each_row_in_its_own_units() {
    let summary = |ok: u64| Some(serde_json::json!({ "counts": { "ok": ok, "total": 100_000 } }));
    // 1,500,159 µs is the top of its histogram bucket (1,499,136 + 1,023), so it reads back exactly.
    let mut slow = crate::measure::new_histogram();
    slow.record_n(1_500_159, 1_000).unwrap();
    let c =
        compare(&steady(&ladder(1), 10, summary(99_900)), &steady(&slow, 10, summary(99_000)), &Tolerances::default());
    let text = terminal(&c);
    let line = |m: &str| text.lines().find(|l| l.trim_start().starts_with(&format!("{m} "))).unwrap().to_string();
    let (p50_line, availability_line) = (line("p50"), line("availability"));
    let p50: Vec<&str> = p50_line.split_whitespace().collect();
    // 0.5 ms → 1,500.159 ms: +1,499.659 ms, 1,500.159 / 0.5 − 1 = +299,931.8%, an exact interval, regressed.
    assert_eq!(p50, ["p50", "0.50ms", "1.50s", "+1499.66ms", "+299931.8%", "[+299931.8%,", "+299931.8%]", "regressed"]);
    let availability: Vec<&str> = availability_line.split_whitespace().collect();
    assert_eq!(availability[..4], ["availability", "99.900%", "99.000%", "-0.900pp"]);
    assert_eq!(availability[4..6], ["[-0.966,", "-0.836]pp"]);
    assert!(line("max").ends_with("no significant change"), "{}", line("max"));
    assert!(text.trim_end().ends_with(&c.conclusion()));
    let md = markdown(&c);
    assert!(md.starts_with("### slacheck compare — ❌ REGRESSED"), "{md}");
    assert!(
        md.contains("| p50 | 0.50ms | 1.50s | +1499.66ms | +299931.8% | [+299931.8%, +299931.8%] | regressed |"),
        "{md}"
    );
    assert!(md.contains("| error rate | 0.100% | 1.000% | +0.900pp |"), "{md}");
    let same = compare(&steady(&ladder(1), 10, None), &steady(&ladder(1), 10, None), &Tolerances::default());
    assert!(markdown(&same).starts_with("### slacheck compare — ✅ no regression"));
    let short = compare(&steady(&ladder(1), 2, None), &steady(&ladder(1), 2, None), &Tolerances::default());
    assert!(markdown(&short).starts_with("### slacheck compare — ⚠️ INSUFFICIENT DATA"));
}

#[test]
fn every_change_has_its_words() {
    let words = [
        Change::Regressed,
        Change::Improved,
        Change::NoSignificantChange,
        Change::WithinTolerance,
        Change::InsufficientData,
    ]
    .map(|c| c.text());
    assert_eq!(words, ["regressed", "improved", "no significant change", "within tolerance", "insufficient data"]);
}

#[test]
fn a_side_loads_from_a_folder_its_summary_or_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink =
        crate::hlog::HlogSink::create(&dir.path().join("latency.hlog"), std::time::SystemTime::now(), &[]).unwrap();
    for s in 0..3 {
        sink.write(&ladder(1), std::time::Duration::from_secs(s), std::time::Duration::from_secs(1), hlog::OVERALL)
            .unwrap();
    }
    sink.finish().unwrap();
    std::fs::write(dir.path().join("summary.json"), r#"{"duration_s": 3.0}"#).unwrap();
    for given in [dir.path().to_path_buf(), dir.path().join("summary.json")] {
        let side = load(&given).unwrap();
        assert_eq!(side.log.series[hlog::OVERALL].len(), 3, "{given:?}");
        assert_eq!(side.duration_s(), Some(3.0), "{given:?}");
        assert_eq!(side.label, given.display().to_string());
    }
    let bare = load(&dir.path().join("latency.hlog")).unwrap();
    assert!(bare.summary.is_none() && bare.log.series[hlog::OVERALL].len() == 3);
    assert!(matches!(load(&dir.path().join("nope")), Err(LoadError::NoLog { .. })));
    std::fs::write(dir.path().join("summary.json"), "not json").unwrap();
    assert!(matches!(load(dir.path()), Err(LoadError::NotJson { .. })));
}

#[test]
fn tiers_are_compared_on_p99() {
    assert_eq!(QUANTILES[P99], ("p99", 0.99));
}

#[test]
fn the_tolerance_is_exclusive_and_one_request_a_side_is_judged() {
    // 100% → 50%: −50 pp exactly, against a 50 pp tolerance: not beyond it. The mirror is not an improvement.
    assert_eq!(availability_row((1_000.0, 1_000.0), (500.0, 1_000.0), 50.0).change, Change::WithinTolerance);
    assert_eq!(availability_row((500.0, 1_000.0), (1_000.0, 1_000.0), 50.0).change, Change::WithinTolerance);
    // Just past it, both are decided.
    assert_eq!(availability_row((1_000.0, 1_000.0), (500.0, 1_000.0), 49.0).change, Change::Regressed);
    assert_eq!(availability_row((500.0, 1_000.0), (1_000.0, 1_000.0), 49.0).change, Change::Improved);
    // One request a side is little, but it is data: judged (and here, within the noise), not "insufficient".
    assert_eq!(availability_row((1.0, 1.0), (0.0, 1.0), 0.05).change, Change::NoSignificantChange);
    assert_eq!(availability_row((0.0, 1.0), (1.0, 1.0), 0.05).change, Change::NoSignificantChange);
}

/// A summary of a whole (or interrupted) run of scenario `name` at `rate`.
fn run_summary(name: &str, rate: &str, complete: bool) -> serde_json::Value {
    serde_json::json!({
        "complete": complete,
        "duration_s": 10.0,
        "counts": { "ok": 1000, "total": 1000 },
        "scenario": { "name": name, "target": { "mock": "p" }, "load": { "profile": "constant", "rate": rate },
                      "sla": { "p99": "1s" } },
    })
}

#[test]
fn an_interrupted_side_is_not_judged_unless_allowed() {
    let (whole, stopped) = (run_summary("s", "1/s", true), run_summary("s", "1/s", false));
    // The after side is twice as slow: a regression, were it judged.
    let c =
        compare(&steady(&ladder(1), 10, Some(whole)), &steady(&ladder(2), 10, Some(stopped)), &Tolerances::default());
    assert_eq!(row(&c, "p99").change, Change::Regressed, "the rows still show the change");
    assert_eq!(c.incomplete, ["after"]);
    assert!(!c.regressed);
    assert_eq!((c.exit_code(false), c.exit_code(true)), (3, 3));
    assert!(c.conclusion().starts_with("NOT JUDGED: the after run was interrupted"), "{}", c.conclusion());
    assert!(c.conclusion().contains("--allow-incomplete"), "{}", c.conclusion());
    assert!(c.warnings().is_empty());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!((json["incomplete"].clone(), json.get("incomplete_allowed")), (serde_json::json!(["after"]), None));
    // Allowed, it is judged, and the reader is told what the numbers cover.
    let allowed = c.allowing_incomplete();
    assert!(allowed.regressed);
    assert_eq!(allowed.exit_code(false), 1);
    assert!(allowed.conclusion().starts_with("REGRESSED"), "{}", allowed.conclusion());
    assert_eq!(
        allowed.warnings(),
        ["the after run was interrupted: its numbers cover only the part that ran (judged: --allow-incomplete)"]
    );
    assert!(terminal(&allowed).contains("  WARNING: the after run was interrupted"), "{}", terminal(&allowed));
    assert_eq!(serde_json::to_value(&allowed).unwrap()["incomplete_allowed"], true);
    // Allowed, an interrupted run with nothing worse is no regression.
    let same = compare(
        &steady(&ladder(1), 10, Some(run_summary("s", "1/s", true))),
        &steady(&ladder(1), 10, Some(run_summary("s", "1/s", false))),
        &Tolerances::default(),
    )
    .allowing_incomplete();
    assert!(!same.regressed);
    assert_eq!(same.exit_code(false), 0);
    // A generator that fell behind is still not judged, allowed or not.
    let mut bound = run_summary("s", "1/s", false);
    bound["generator"] = serde_json::json!({ "overloaded": true });
    let c = compare(&steady(&ladder(1), 10, Some(bound)), &steady(&ladder(2), 10, None), &Tolerances::default())
        .allowing_incomplete();
    assert!(!c.regressed);
    assert_eq!(c.exit_code(false), 3);
    assert!(
        c.conclusion().starts_with("NOT JUDGED: the generator fell behind on the before run"),
        "{}",
        c.conclusion()
    );
}

#[test]
fn two_different_tests_are_judged_with_a_warning_that_names_what_differs() {
    let (fast, slow) = (run_summary("burst", "2000/s", true), run_summary("failover", "500/s", true));
    let c = compare(&steady(&ladder(1), 10, Some(fast)), &steady(&ladder(2), 10, Some(slow)), &Tolerances::default());
    assert!(c.regressed, "judged all the same");
    assert_eq!(c.exit_code(false), 1);
    assert_eq!(c.comparable, Some(false));
    assert_eq!(
        c.differences,
        ["scenario name (burst before, failover after)", "profile and rate (rate: 2000/s before, 500/s after)"]
    );
    let warning = "these runs are not the same test: scenario name (burst before, failover after); profile and rate \
                   (rate: 2000/s before, 500/s after)";
    assert_eq!(c.warnings(), [warning]);
    assert!(terminal(&c).contains(&format!("  WARNING: {warning}\n")), "{}", terminal(&c));
    assert!(markdown(&c).contains(&format!("> ⚠️ Warning: {warning}\n")), "{}", markdown(&c));
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["comparable"], false);
    assert_eq!(json["differences"].as_array().unwrap().len(), 2);
    // The same test: comparable, no warning; without summaries, not known.
    let same = run_summary("burst", "2000/s", true);
    let c = compare(
        &steady(&ladder(1), 10, Some(same.clone())),
        &steady(&ladder(1), 10, Some(same)),
        &Tolerances::default(),
    );
    assert_eq!((c.comparable, c.warnings().len()), (Some(true), 0));
    assert!(!terminal(&c).contains("WARNING"));
    let c = compare(&steady(&ladder(1), 10, None), &steady(&ladder(1), 10, None), &Tolerances::default());
    assert_eq!(serde_json::to_value(&c).unwrap()["comparable"], serde_json::Value::Null);
}

#[test]
fn no_figure_is_printed_as_negative_zero() {
    assert_eq!(signed(-0.0, 3), "+0.000");
    assert_eq!(signed(-0.0004, 3), "+0.000");
    assert_eq!(signed(0.0004, 3), "+0.000");
    assert_eq!(signed(-0.0005001, 3), "-0.001");
    assert_eq!(signed(-0.04, 1), "+0.0");
    assert_eq!(signed(-12.5, 2), "-12.50");
    assert_eq!(signed(3.0, 1), "+3.0");
    // Equal availability on both sides: the error rate's change is −0.0, and it reads +0.000pp.
    let summary = || Some(serde_json::json!({ "counts": { "ok": 999, "total": 1000 } }));
    let c = compare(&steady(&ladder(1), 10, summary()), &steady(&ladder(1), 10, summary()), &Tolerances::default());
    let text = terminal(&c) + &markdown(&c);
    assert!(!text.contains("-0.000") && !text.contains("-0.0%") && !text.contains("-0.00ms"), "{text}");
    assert!(text.contains("+0.000pp"), "{text}");
}
