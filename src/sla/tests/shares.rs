//! Judging a share: the Wilson interval, the verdict it gives and the requests it asks for, against textbook
//! values and separate calculations (quoted).

use super::super::*;

#[test]
fn wilson_matches_a_textbook_value() {
    // 81 of 263: Wilson 95% interval ≈ (0.2553, 0.3662).
    let (lo, hi) = wilson(81, 263);
    assert!((lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4, "{lo} {hi}");
}

#[test]
fn wilson_intervals_cover_the_true_share_about_95_percent_of_the_time() {
    use rand::{Rng, SeedableRng};
    // Binomial draws with a fixed seed: n = 2,000 trials at p = 0.99, 4,000 times.
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(42);
    let covered = (0..4_000)
        .filter(|_| {
            let k = (0..2_000).filter(|_| rng.random::<f64>() < 0.99).count() as u64;
            let (lo, hi) = wilson(k, 2_000);
            lo <= 0.99 && 0.99 <= hi
        })
        .count();
    let coverage = covered as f64 / 4_000.0;
    // Wilson's coverage at these n and p is close to nominal; the sd of the estimate is 0.0034.
    assert!((0.93..=0.97).contains(&coverage), "coverage {coverage}");
}

#[test]
fn shares_pass_fail_or_need_more_data() {
    // 99.97% of 100,000 against 99.9%: clearly above.
    assert_eq!(judge_share(99_970, 100_000, 0.999).0, Judgement::Pass);
    // 99.5% of 100,000: clearly below.
    assert_eq!(judge_share(99_500, 100_000, 0.999).0, Judgement::Fail);
    // 1,000 requests without an error cannot show 99.9%: about 3,800 are needed, so ~2,800 more.
    let (j, more) = judge_share(1_000, 1_000, 0.999);
    assert_eq!(j, Judgement::InsufficientData);
    let more = more.unwrap();
    assert!((2_700..2_900).contains(&more), "{more}");
}

#[test]
fn wilson_of_nothing_is_everything_and_of_all_successes_is_n_over_n_plus_z_squared() {
    assert_eq!(wilson(0, 0), (0.0, 1.0));
    // 10 of 10: the lower bound is 10 / (10 + 1.959964²) = 10 / 13.841459 = 0.722467; the upper is 1.
    let (lo, hi) = wilson(10, 10);
    assert!((lo - 0.722_467).abs() < 1e-6 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
    // 990 of 1,000 (a separate calculation of the Wilson formula): (0.981691, 0.994559).
    let (lo, hi) = wilson(990, 1_000);
    assert!((lo - 0.981_691).abs() < 1e-6 && (hi - 0.994_559).abs() < 1e-6, "{lo} {hi}");
}

#[test]
fn more_requests_is_what_the_wilson_rule_itself_needs_at_the_observed_share() {
    // All successes: n / (n + z²) ≥ t needs n ≥ t z² / (1 − t). For 99.9%: 0.999 × 3.841459 / 0.001 = 3,837.6,
    // so 3,838 in all: 2,838 more than 1,000.
    assert_eq!(judge_share(1_000, 1_000, 0.999), (Judgement::InsufficientData, Some(2_838)));
    // No trial yet, 90%: 0.9 × 3.841459 / 0.1 = 34.6, so 35.
    assert_eq!(judge_share(0, 0, 0.9), (Judgement::InsufficientData, Some(35)));
    // 199 of 200 (99.5%) against 99%: Wilson (0.9722, 0.9991) straddles it. At 99.5% the lower bound first
    // reaches 99% at n = 1,522 (a separate calculation), so 1,322 more. (The normal approximation's
    // z² p (1 − p) / (p − t)² = 765 would have asked for 565, and left the target undecided at 765.)
    assert_eq!(judge_share(199, 200, 0.99), (Judgement::InsufficientData, Some(1_322)));
    // 97 of 100 against 98%: Wilson (0.9155, 0.9897) straddles it; the upper bound first falls below 98% at
    // n = 753, so 653 more.
    assert_eq!(judge_share(97, 100, 0.98), (Judgement::InsufficientData, Some(653)));
    // Exactly on the target: no number of requests at this share could settle it.
    assert_eq!(judge_share(99, 100, 0.99), (Judgement::InsufficientData, None));
    // A hair from it: about z² p (1 − p) / (p − t)² = 3.8 × 10¹⁶ requests, past the 2⁴⁰ asked about.
    assert_eq!(trials_to_settle(0.99 + 1e-9, 0.99), None);
}

#[test]
fn trials_to_settle_is_the_first_n_that_settles_and_no_earlier_one() {
    for (p, t) in [(0.995, 0.99), (0.97, 0.98), (1.0, 0.999), (0.9999, 0.999), (0.5, 0.6)] {
        let n = trials_to_settle(p, t).unwrap();
        let (lo, hi) = wilson_at(p, n as f64);
        let (lo_before, hi_before) = wilson_at(p, (n - 1) as f64);
        if p > t {
            assert!(lo >= t && lo_before < t, "{p} vs {t}: n = {n}");
        } else {
            assert!(hi < t && hi_before >= t, "{p} vs {t}: n = {n}");
        }
    }
}
