//! The bootstrap over one-second intervals: both runs' interval histograms as sparse counts over one shared,
//! sorted list of values, resampled with replacement (seeded) to put a 95% interval on each percentile's change.

use super::*;

/// Interval histograms of both runs as sparse counts over one shared, sorted list of values, so that a
/// resample is a sum of small vectors rather than of whole histograms.
pub(super) struct Bootstrap {
    values: Vec<u64>,
    /// [run][interval] → (value index, count)
    intervals: [Vec<Vec<(u32, u64)>>; 2],
    /// Intervals that lie wholly within each run (the last one of a run may be partial).
    whole: [usize; 2],
}

impl Bootstrap {
    /// The bootstrap of one series (`tag`) of both sides.
    pub(super) fn of_series(before: &Side, after: &Side, tag: &str) -> Self {
        let (b, a) = (series(before, tag), series(after, tag));
        let mut boot = Bootstrap::new(&histograms(b), &histograms(a));
        boot.whole = [whole_intervals(b, before.duration_s()), whole_intervals(a, after.duration_s())];
        boot
    }

    pub(super) fn new(before: &[&Histogram<u64>], after: &[&Histogram<u64>]) -> Self {
        let mut values: Vec<u64> = before
            .iter()
            .chain(after)
            .flat_map(|h| h.iter_recorded().map(|v| h.highest_equivalent(v.value_iterated_to())))
            .collect();
        values.sort_unstable();
        values.dedup();
        let sparse = |hs: &[&Histogram<u64>]| -> Vec<Vec<(u32, u64)>> {
            hs.iter()
                .map(|h| {
                    h.iter_recorded()
                        .map(|v| {
                            let value = h.highest_equivalent(v.value_iterated_to());
                            (values.binary_search(&value).unwrap_or(0) as u32, v.count_at_value())
                        })
                        .collect()
                })
                .collect()
        };
        let intervals = [sparse(before), sparse(after)];
        let whole = [before.len(), after.len()];
        Bootstrap { values, intervals, whole }
    }

    /// Every one of [`QUANTILES`] in one pass over the counts.
    fn quantiles(&self, counts: &[u64]) -> [f64; QUANTILES.len()] {
        let total: u64 = counts.iter().sum();
        let mut out = [0.0; QUANTILES.len()];
        if total == 0 {
            return out;
        }
        let ranks = QUANTILES.map(|(_, q)| ((q * total as f64).ceil() as u64).max(1));
        let (mut seen, mut next) = (0u64, 0usize);
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            while next < ranks.len() && seen >= ranks[next] {
                out[next] = ms(self.values[i]);
                next += 1;
            }
            if next == ranks.len() {
                break;
            }
        }
        out
    }

    fn merged(&self, run: usize, picks: impl Iterator<Item = usize>) -> Vec<u64> {
        let mut counts = vec![0u64; self.values.len()];
        for i in picks {
            for (idx, c) in &self.intervals[run][i] {
                counts[*idx as usize] += c;
            }
        }
        counts
    }

    /// [`QUANTILES`] of a whole run.
    pub(super) fn points(&self, run: usize) -> [f64; QUANTILES.len()] {
        self.quantiles(&self.merged(run, 0..self.intervals[run].len()))
    }

    pub(super) fn max(&self, run: usize) -> f64 {
        let counts = self.merged(run, 0..self.intervals[run].len());
        counts.iter().rposition(|c| *c > 0).map(|i| ms(self.values[i])).unwrap_or(0.0)
    }

    /// 95% bootstrap intervals of after/before − 1 for each of [`QUANTILES`] (all from the same resamples);
    /// None with fewer than [`MIN_INTERVALS`] intervals a side.
    pub(super) fn relative_cis(&self) -> Option<[(f64, f64); QUANTILES.len()]> {
        let (nb, na) = (self.intervals[0].len(), self.intervals[1].len());
        if self.whole[0] < MIN_INTERVALS || self.whole[1] < MIN_INTERVALS {
            return None;
        }
        // Seeded: the same two runs always give the same verdict.
        let mut rng = Pcg64Mcg::seed_from_u64(0x5eed);
        let mut ratios: [Vec<f64>; QUANTILES.len()] = Default::default();
        for _ in 0..RESAMPLES {
            let b = self.quantiles(&self.merged(0, (0..nb).map(|_| rng.random_range(0..nb))));
            let a = self.quantiles(&self.merged(1, (0..na).map(|_| rng.random_range(0..na))));
            for (i, (qb, qa)) in b.iter().zip(&a).enumerate() {
                if *qb > 0.0 {
                    ratios[i].push(qa / qb - 1.0);
                }
            }
        }
        let mut out = [(0.0, 0.0); QUANTILES.len()];
        for (i, r) in ratios.iter_mut().enumerate() {
            if r.is_empty() {
                return None;
            }
            out[i] = central_95(r);
        }
        Some(out)
    }
}

/// The 2.5% and 97.5% points of a non-empty sample (sorted here), by the nearest rank on (len − 1), which is
/// never past the last.
pub(super) fn central_95(r: &mut [f64]) -> (f64, f64) {
    r.sort_by(f64::total_cmp);
    let at = |p: f64| r[(p * (r.len() - 1) as f64).round() as usize];
    (at(0.025), at(0.975))
}
