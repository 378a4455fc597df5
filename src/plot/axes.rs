//! Axis ticks that never crowd their labels: a log axis is labelled at the densest of the usual steps (every
//! digit, 1-2-5, 1-3, once a decade, or once every few decades) whose closest two labels still have room, so
//! that labels reach across the whole range, the bottom decades included.

/// The label sets tried on a log axis, densest first: the mantissas labelled in each labelled decade.
const MANTISSAS: [&[f64]; 4] = [&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[1.0, 2.0, 5.0], &[1.0, 3.0], &[1.0]];

/// Room between two labels' centres, in label heights: a label and half a label of space.
const SPACING: f64 = 1.5;

/// Tick values for a log axis from `lo` to `hi` (both > 0) drawn over `pixels`, whose labels are `label_px`
/// tall. When the range is too narrow for three of the usual steps (say 30 to 45 ms), evenly spaced ticks.
pub(super) fn log_ticks(lo: f64, hi: f64, pixels: f64, label_px: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && pixels > 0.0) {
        return Vec::new();
    }
    let px_per_decade = pixels / (hi / lo).log10();
    let fits = |ticks: &[f64]| ticks.windows(2).all(|w| (w[1] / w[0]).log10() * px_per_decade >= label_px * SPACING);
    let decades = (1..).map(|every| (&[1.0][..], every));
    let sets = MANTISSAS.iter().map(|m| (*m, 1)).chain(decades.skip(1).take(20));
    let chosen = sets.map(|(m, every)| decade_ticks(lo, hi, m, every)).find(|t| fits(t)).unwrap_or_default();
    if chosen.len() >= 3 {
        return chosen;
    }
    let even = even_ticks(lo, hi, |t| fits(t));
    if even.len() > chosen.len() {
        even
    } else {
        chosen
    }
}

/// m × 10^k for each mantissa m, in every `every`-th decade, within [lo, hi].
fn decade_ticks(lo: f64, hi: f64, mantissas: &[f64], every: i32) -> Vec<f64> {
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let within = |v: f64| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    (first..=last)
        .filter(|k| k.rem_euclid(every) == 0)
        .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
        .filter(|v| within(*v))
        .collect()
}

/// Multiples of the smallest step (1, 2 or 5 × 10^k) whose ticks within [lo, hi] `fit`.
fn even_ticks(lo: f64, hi: f64, fit: impl Fn(&[f64]) -> bool) -> Vec<f64> {
    let start = 10f64.powi((hi - lo).log10().floor() as i32 - 2);
    for step in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0].map(|m| m * start) {
        let ticks: Vec<f64> = ((lo / step).ceil() as i64..=(hi / step).floor() as i64)
            .map(|i| i as f64 * step)
            .filter(|v| *v > 0.0)
            .collect();
        if fit(&ticks) {
            return ticks;
        }
    }
    Vec::new()
}

/// Milliseconds on an axis, to three significant digits without trailing zeros: `35ms`, `1.5ms`, `0.3ms`,
/// `1s`, `1.25s`.
pub(super) fn fmt_ms_axis(y: &f64) -> String {
    let (value, unit) = if *y >= 1000.0 { (y / 1000.0, "s") } else { (*y, "ms") };
    format!("{}{unit}", significant(value, 3))
}

/// `v` to `digits` significant digits, trailing zeros dropped.
pub(super) fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decades between neighbours in [lo, ticks…, hi]: the widest stretch of the axis without a label.
    fn widest_gap(lo: f64, hi: f64, ticks: &[f64]) -> f64 {
        let mut all = vec![lo];
        all.extend_from_slice(ticks);
        all.push(hi);
        all.windows(2).map(|w| (w[1] / w[0]).log10()).fold(0.0, f64::max)
    }

    #[test]
    fn the_failover_latency_panel_is_labelled_at_1_2_5_from_its_bottom_to_its_top() {
        // p50 about 35 ms and p99 up to 1.1 s, drawn as the timeline draws them (lo ÷ 1.5, hi × 1.5) over
        // 230 px with 14 px labels: 1.5 labels need 21 px, and a factor of 2 is 0.301 of a decade: at
        // 230 / log10(1650 / 16.7) = 115 px a decade, 35 px. So 1-2-5 fits, every digit (0.046 decade: 5 px) not.
        let ticks = log_ticks(25.0 / 1.5, 1100.0 * 1.5, 230.0, 14.0);
        assert_eq!(
            ticks.iter().map(fmt_ms_axis).collect::<Vec<_>>(),
            ["20ms", "50ms", "100ms", "200ms", "500ms", "1s"]
        );
    }

    #[test]
    fn labels_keep_their_room_and_reach_across_any_range() {
        for (lo, hi) in [(0.01, 100.0), (0.5, 40.0), (3.0, 9000.0), (20.0, 25_000.0), (1e-3, 6e5), (100.0, 130.0)] {
            for pixels in [120.0, 230.0, 307.0, 600.0] {
                let ticks = log_ticks(lo, hi, pixels, 14.0);
                let px = |a: f64, b: f64| (b / a).log10() * pixels / (hi / lo).log10();
                assert!(ticks.len() >= 2, "{lo}..{hi} over {pixels}: {ticks:?}");
                for w in ticks.windows(2) {
                    assert!(px(w[0], w[1]) >= 21.0 - 1e-9, "{lo}..{hi} over {pixels}: {} too close to {}", w[0], w[1]);
                }
                // No stretch without a label longer than a step of the chosen set allows (a decade, or the
                // sparser steps' own), and every label reads differently.
                let step = ticks.windows(2).map(|w| (w[1] / w[0]).log10()).fold(0.0, f64::max);
                assert!(widest_gap(lo, hi, &ticks) <= step.max(1.0) + 1e-9, "{lo}..{hi} over {pixels}: {ticks:?}");
                let mut labels: Vec<String> = ticks.iter().map(fmt_ms_axis).collect();
                labels.dedup();
                assert_eq!(labels.len(), ticks.len(), "{lo}..{hi}: {labels:?}");
            }
        }
    }

    #[test]
    fn a_narrow_range_gets_even_ticks() {
        // 30 to 45 ms holds no 1-2-5 value but 40, and no 1-3 value: even steps. Over 100 px (568 px a decade),
        // steps of 2 ms put 42 and 44 log10(44/42) × 568 = 11.5 px apart, under the 21 px needed; steps of 5 ms
        // put 40 and 45 at log10(45/40) × 568 = 29 px.
        assert_eq!(log_ticks(30.0, 45.0, 100.0, 14.0), [30.0, 35.0, 40.0, 45.0]);
        // Over 300 px (1,703 px a decade), 2 ms steps fit: 42 and 44 are 34 px apart.
        assert_eq!(log_ticks(30.0, 45.0, 300.0, 14.0), [30.0, 32.0, 34.0, 36.0, 38.0, 40.0, 42.0, 44.0]);
        assert!(log_ticks(5.0, 5.0, 300.0, 14.0).is_empty());
    }

    #[test]
    fn axis_labels_have_three_significant_digits_at_most() {
        let labels: Vec<String> =
            [0.3, 1.5, 35.0, 700.0, 999.0, 1000.0, 1250.0, 20_000.0, 0.0125].iter().map(fmt_ms_axis).collect();
        assert_eq!(labels, ["0.3ms", "1.5ms", "35ms", "700ms", "999ms", "1s", "1.25s", "20s", "0.0125ms"]);
    }
}
