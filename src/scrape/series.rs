//! Scrapes folded into series: each series' last value and its increase over the run, bounded to
//! [`MAX_SERIES`] series of at most [`MAX_NAME`] bytes each (the samples of any more are counted, not kept).
//!
//! A counter's increase adds up the rises between consecutive scrapes; a value below the one before is a
//! reset (the process restarted), after which the counter rose from zero. A series that appears after the
//! endpoint's first successful scrape rose from zero, as a labelled counter does when its first event comes.

use super::parse::{self, Line};
use std::collections::{HashMap, HashSet};

/// The most distinct series kept, over every endpoint.
pub const MAX_SERIES: usize = 10_000;

/// The longest series name kept (metric and labels): a longer one is counted as a line that did not read.
pub const MAX_NAME: usize = 4_096;

/// One series' state.
#[derive(Debug, Clone)]
pub struct Series {
    pub scrape: usize,
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub counter: bool,
    pub last: f64,
    pub increase: f64,
    /// The endpoint's exposition it was last in (see [`Fold::expositions`]): a gauge that has gone is not summed.
    pub seen: u64,
}

/// A sample as it is written to the file.
pub struct Row<'a> {
    pub metric: &'a str,
    pub labels: &'a str,
    pub value: f64,
}

/// Every endpoint's series.
#[derive(Default)]
pub struct Fold {
    series: HashMap<(usize, String, String), Series>,
    /// Families typed `counter`, by endpoint (bounded as the series are).
    counters: HashSet<(usize, String)>,
    /// Expositions read, by endpoint.
    answered: HashMap<usize, u64>,
    /// Samples of series beyond [`MAX_SERIES`], and lines that did not read.
    pub beyond_cap: u64,
    pub unread_lines: u64,
}

impl Fold {
    /// Folds one exposition of endpoint `scrape`, handing each kept sample to `row`.
    pub fn add(&mut self, scrape: usize, body: &str, mut row: impl FnMut(Row<'_>)) {
        let exposition = self.answered.entry(scrape).or_default();
        *exposition += 1;
        let (first, seen) = (*exposition == 1, *exposition);
        for text in body.lines() {
            let sample = match parse::line(text) {
                Line::Sample(s) => s,
                Line::Counter(name) => {
                    if self.counters.len() < MAX_SERIES {
                        self.counters.insert((scrape, name.to_string()));
                    }
                    continue;
                }
                Line::Other => continue,
                Line::Bad => {
                    self.unread_lines += 1;
                    continue;
                }
            };
            let labels = parse::labels_text(&sample.labels);
            if sample.metric.len() + labels.len() > MAX_NAME {
                self.unread_lines += 1;
                continue;
            }
            let key = (scrape, sample.metric.to_string(), labels);
            let counter = self.is_counter(scrape, sample.metric);
            let value = sample.value;
            let full = self.series.len() >= MAX_SERIES;
            match self.series.get_mut(&key) {
                Some(s) => {
                    if value.is_finite() && s.last.is_finite() {
                        s.increase += if value >= s.last { value - s.last } else { value };
                    }
                    s.last = value;
                    s.seen = seen;
                }
                None if full => {
                    self.beyond_cap += 1;
                    continue;
                }
                None => {
                    let increase = if first || !value.is_finite() { 0.0 } else { value };
                    let (metric, labels) = (key.1.clone(), sample.labels);
                    let s = Series { scrape, metric, labels, counter, last: value, increase, seen };
                    self.series.insert(key.clone(), s);
                }
            }
            row(Row { metric: &key.1, labels: &key.2, value });
        }
    }

    /// A counter family by its `# TYPE` (under its own name, or without `_total` as OpenMetrics names it), or
    /// by the `_total` suffix the format's conventions give counters.
    fn is_counter(&self, scrape: usize, metric: &str) -> bool {
        let typed = |name: &str| self.counters.contains(&(scrape, name.to_string()));
        typed(metric) || metric.strip_suffix("_total").is_some_and(typed) || metric.ends_with("_total")
    }

    /// Every series kept, in no particular order.
    pub fn series(&self) -> impl Iterator<Item = &Series> {
        self.series.values()
    }

    /// How many expositions of endpoint `scrape` have been read (the latest one's number).
    pub fn expositions(&self, scrape: usize) -> u64 {
        self.answered.get(&scrape).copied().unwrap_or_default()
    }

    /// How many series are kept.
    pub fn count(&self) -> usize {
        self.series.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn increase(f: &Fold, metric: &str) -> f64 {
        f.series().find(|s| s.metric == metric).map(|s| s.increase).unwrap()
    }

    #[test]
    fn increases_add_the_rises_count_resets_from_zero_and_start_late_series_at_zero() {
        let mut f = Fold::default();
        let mut rows = 0;
        f.add(0, "# TYPE a counter\na 10\ng 5\n", |_| rows += 1);
        let long = format!("long{{x=\"{}\"}} 1\n", "y".repeat(MAX_NAME));
        f.add(0, &format!("a 15\ng 2\nlate_total{{x=\"1\"}} 4\nnot a line\n{long}"), |_| rows += 1);
        // 15 → 3: a restart; the counter rose 3 from zero.
        f.add(0, "a 3\ng 7\nlate_total{x=\"1\"} 6\n", |_| rows += 1);
        assert_eq!(rows, 2 + 3 + 3, "every sample line kept");
        assert_eq!(increase(&f, "a"), 5.0 + 3.0);
        assert_eq!(increase(&f, "late_total"), 6.0, "appeared at 4 after the first scrape, then rose 2");
        assert!(f.series().find(|s| s.metric == "a").unwrap().counter);
        assert!(!f.series().find(|s| s.metric == "g").unwrap().counter);
        assert_eq!(f.unread_lines, 2, "the line that did not read, and the series name too long to keep");
    }

    #[test]
    fn series_beyond_the_cap_are_counted_not_kept() {
        let mut f = Fold::default();
        let body: String = (0..MAX_SERIES + 5).map(|i| format!("s{{i=\"{i}\"}} 1\n")).collect();
        f.add(0, &body, |_| {});
        f.add(0, &body, |_| {});
        assert_eq!((f.count(), f.beyond_cap), (MAX_SERIES, 10));
    }
}
