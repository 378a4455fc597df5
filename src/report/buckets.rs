//! The Prometheus histograms' bucket bounds, derived from the scenario's limits: a bound at each limit (so that
//! the share of requests within it is read at a bound, not interpolated) and log-spaced bounds no more than 10%
//! apart around the limits (so that `histogram_quantile` near a limit is off by at most one narrow bucket), with
//! the coarse bounds elsewhere; at most [`MAX_BUCKETS`] in all.

use crate::scenario::Sla;
use std::time::Duration;

/// Bounds in seconds without a limit to refine: from a fast gateway's milliseconds to an LLM answer's tens of
/// seconds.
pub const COARSE: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];
/// The widest ratio of two neighbouring bounds near a limit.
pub const STEP: f64 = 1.1;
/// The most bounds of one histogram (besides `+Inf`), unless the scenario has so many limits that even one
/// narrow bucket on each side of each takes more (then each limit keeps its own bound all the same).
pub const MAX_BUCKETS: usize = 40;
/// The most steps of [`STEP`] on each side of a limit: about 3.1 times the limit above it, a third below.
const MAX_REACH: i32 = 12;

/// The bounds of each histogram of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// End-to-end latency (and service time): around `[sla]` p50 … max and goodput's latency.
    pub latency: Vec<f64>,
    /// Time to first token: around `[sla]` ttft_p50, ttft_p99 and goodput's ttft.
    pub ttft: Vec<f64>,
}

impl Buckets {
    pub fn of(sla: &Sla) -> Self {
        let goodput = sla.goodput.as_ref();
        let latency = [sla.p50, sla.p90, sla.p95, sla.p99, sla.p99_9, sla.max, goodput.and_then(|g| g.latency)];
        let ttft = [sla.ttft_p50, sla.ttft_p99, goodput.and_then(|g| g.ttft)];
        let durations = |list: &[Option<crate::units::HumanDuration>]| -> Vec<Duration> {
            list.iter().flatten().map(|d| d.0).collect()
        };
        Buckets { latency: around(&durations(&latency)), ttft: around(&durations(&ttft)) }
    }
}

/// Bounds in seconds, ascending: each limit, and [`STEP`]-spaced bounds around it, as far on each side as
/// [`MAX_BUCKETS`] allows; the coarse bounds outside. Without limits, the coarse bounds.
pub fn around(limits: &[Duration]) -> Vec<f64> {
    let mut limits: Vec<f64> = limits.iter().map(seconds).filter(|l| *l > 0.0).collect();
    limits.sort_by(f64::total_cmp);
    limits.dedup();
    if limits.is_empty() {
        return COARSE.to_vec();
    }
    let mut reach = MAX_REACH;
    loop {
        let bounds = with_reach(&limits, reach);
        if bounds.len() <= MAX_BUCKETS || reach == 1 {
            return bounds;
        }
        reach -= 1;
    }
}

/// A duration in seconds, exact to the microsecond (as the histograms count).
fn seconds(d: &Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// Dense zones of `reach` steps on each side of the limits (limits whose zones overlap share one, with a bound
/// at each), the coarse bounds more than a step outside every zone.
fn with_reach(limits: &[f64], reach: i32) -> Vec<f64> {
    let span = STEP.powi(reach);
    let (mut bounds, mut zones) = (Vec::new(), Vec::new());
    let mut first = 0;
    while first < limits.len() {
        let mut last = first;
        while last + 1 < limits.len() && limits[last] * span >= limits[last + 1] / span {
            last += 1;
        }
        let (low, high) = (limits[first] / span, limits[last] * span);
        let anchors: Vec<f64> =
            std::iter::once(low).chain(limits[first..=last].iter().copied()).chain([high]).collect();
        for pair in anchors.windows(2) {
            let (a, ratio) = (pair[0], pair[1] / pair[0]);
            // Equal steps of at most STEP from one anchor to the next (the tolerance keeps an exact power whole).
            let steps = ((ratio.ln() / STEP.ln()) - 1e-9).ceil().max(1.0);
            bounds.extend((0..steps as i32).map(|k| a * ratio.powf(f64::from(k) / steps)));
        }
        bounds.push(high);
        zones.push((low, high));
        first = last + 1;
    }
    let outside = |c: &&f64| zones.iter().all(|(low, high)| **c < low / STEP || **c > high * STEP);
    bounds.extend(COARSE.iter().filter(outside));
    // Whole microseconds: what the histograms count in, and what the exposition prints briefly.
    let mut bounds: Vec<f64> = bounds.into_iter().map(|b| (b * 1e6).round() / 1e6).collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    /// Ascending, each limit a bound, at most MAX_BUCKETS, and no two neighbours more than STEP apart from a
    /// third below the lowest limit to three times the highest.
    fn check(limits_ms: &[u64]) -> Vec<f64> {
        let b = around(&ms(limits_ms));
        assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
        assert!(b.len() <= MAX_BUCKETS, "{} bounds: {b:?}", b.len());
        for l in limits_ms {
            assert!(b.contains(&(*l as f64 / 1000.0)), "{l} ms in {b:?}");
        }
        b
    }

    #[test]
    fn one_limit_is_a_bound_with_narrow_buckets_around_it() {
        let b = check(&[90]);
        // By hand: 1.1^12 = 3.138, so the dense zone runs from 28.7 ms to 282.4 ms; inside it, no ratio over 1.1.
        let dense: Vec<&[f64]> = b.windows(2).filter(|w| w[0] >= 0.0286 && w[1] <= 0.2825).collect();
        assert!(dense.len() >= 24, "{b:?}");
        assert!(dense.iter().all(|w| w[1] / w[0] <= STEP + 1e-3), "{b:?}");
        // The coarse bounds stay outside it: 5 ms, 10 ms below; 0.5 s … 120 s above.
        assert_eq!(b[..2], [0.005, 0.01]);
        assert_eq!(b.last(), Some(&120.0));
        assert!(!b.contains(&0.1) && !b.contains(&0.25), "{b:?}");
    }

    #[test]
    fn no_limit_keeps_the_coarse_bounds_and_many_limits_stay_bounded() {
        assert_eq!(around(&[]), COARSE.to_vec());
        assert_eq!(around(&ms(&[0])), COARSE.to_vec());
        let b = check(&[60, 90, 200, 1_000, 5_000, 20_000]);
        // Each limit has a neighbour within STEP on each side, however many limits share the budget.
        for l in [0.06, 0.09, 0.2, 1.0, 5.0, 20.0] {
            let i = b.iter().position(|x| *x == l).unwrap();
            assert!(b[i + 1] / l <= STEP + 1e-3 && l / b[i - 1] <= STEP + 1e-3, "around {l}: {b:?}");
        }
    }
}
