//! `show`: chosen series of an endpoint followed scrape by scrape, for the timeline. Each selector's matching
//! series are added up: a counter's sum is its increase since the first scrape (resets counted from zero, as in
//! [`series`](super::series)), drawn as a rate per second between two scrapes; a gauge's is the sum of the
//! values in that scrape. At most [`MAX_POINTS`] points a line: past that, every other point is let go, so a
//! counter's rate then spans two intervals (still exact over them) and a gauge keeps every other value.

use super::series::Fold;
use crate::scenario::scrape::{ScrapeSpec, Selector};
use serde::{Deserialize, Serialize};

/// The most points kept of one line (about 7 minutes at every 100 ms, 5.7 hours at every 5 s, before thinning).
pub const MAX_POINTS: usize = 4_096;

/// One `show` selector's line, in summary.json (`server_metrics.shown`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    pub url: String,
    pub selector: String,
    pub metric: String,
    /// `counter` (drawn as a rate per second) or `gauge` (drawn as its value); absent when the endpoint never
    /// had a series of the metric.
    pub kind: Option<Kind>,
    /// The most series the selector matched in one scrape (0: it never matched one, and nothing is drawn).
    pub series_matched: u64,
    /// Each successful scrape's time, in seconds from the run's start (negative: before it).
    pub time_s: Vec<f64>,
    /// At each time: a counter's rate per second since the scrape before (none at the first), or a gauge's
    /// summed value (none when no series matched in that scrape).
    pub value: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Counter,
    Gauge,
}

/// Every `show` selector's points as the scrapes come.
pub struct Lines {
    lines: Vec<Line>,
}

struct Line {
    scrape: usize,
    selector: Selector,
    text: String,
    url: String,
    kind: Option<Kind>,
    series_matched: u64,
    time_s: Vec<f64>,
    /// Matched counters' increase since the first scrape, and matched gauges' values present in that scrape.
    increase: Vec<f64>,
    value: Vec<Option<f64>>,
}

impl Lines {
    /// A line for each `show` selector of `specs` that reads (the scenario's checks have read them all).
    pub fn new(specs: &[ScrapeSpec]) -> Self {
        let lines = specs
            .iter()
            .enumerate()
            .flat_map(|(scrape, spec)| spec.show.iter().map(move |text| (scrape, spec, text)))
            .filter_map(|(scrape, spec, text)| {
                Some(Line {
                    scrape,
                    selector: Selector::parse(text).ok()?,
                    text: text.clone(),
                    url: spec.url.clone(),
                    kind: None,
                    series_matched: 0,
                    time_s: Vec::new(),
                    increase: Vec::new(),
                    value: Vec::new(),
                })
            })
            .collect();
        Lines { lines }
    }

    /// Adds a point to each line of endpoint `scrape`, from `fold` just after it read that endpoint's exposition
    /// of `time_s`.
    pub fn observe(&mut self, scrape: usize, time_s: f64, fold: &Fold) {
        let now = fold.expositions(scrape);
        for line in self.lines.iter_mut().filter(|l| l.scrape == scrape) {
            let family = fold.series().filter(|s| s.scrape == scrape && s.metric == line.selector.metric);
            let (mut increase, mut value, mut matched) = (0.0, None::<f64>, 0);
            for s in family {
                line.kind.get_or_insert(if s.counter { Kind::Counter } else { Kind::Gauge });
                if !line.selector.matches(&s.metric, &s.labels) {
                    continue;
                }
                increase += s.increase;
                if s.seen == now {
                    matched += 1;
                    value = Some(value.unwrap_or(0.0) + s.last);
                }
            }
            line.series_matched = line.series_matched.max(matched);
            if line.time_s.len() >= MAX_POINTS {
                line.thin();
            }
            line.time_s.push(time_s);
            line.increase.push(increase);
            line.value.push(value);
        }
    }

    /// Each line as summary.json gives it.
    pub fn finish(self) -> Vec<Shown> {
        self.lines.into_iter().map(Line::shown).collect()
    }
}

impl Line {
    /// Lets every other point go, the first kept.
    fn thin(&mut self) {
        fn halve<T: Copy>(v: &mut Vec<T>) {
            *v = v.iter().copied().step_by(2).collect();
        }
        halve(&mut self.time_s);
        halve(&mut self.increase);
        halve(&mut self.value);
    }

    fn shown(self) -> Shown {
        let value = match self.kind {
            Some(Kind::Counter) => (0..self.time_s.len())
                .map(|i| {
                    let span = i.checked_sub(1).map(|b| (b, self.time_s[i] - self.time_s[b]));
                    span.filter(|(_, dt)| *dt > 0.0).map(|(b, dt)| (self.increase[i] - self.increase[b]) / dt)
                })
                .collect(),
            Some(Kind::Gauge) => self.value,
            None => vec![None; self.time_s.len()],
        };
        Shown {
            url: self.url,
            metric: self.selector.metric,
            selector: self.text,
            kind: self.kind,
            series_matched: self.series_matched,
            time_s: self.time_s,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(show: &[&str]) -> ScrapeSpec {
        let text = format!("url = \"http://h/metrics\"\nshow = {show:?}\n");
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn a_counter_is_a_rate_between_scrapes_and_a_gauge_the_sum_of_the_values_present() {
        let specs = [spec(&["req_total{code!=\"500\"}", "running", "absent_total"])];
        let (mut fold, mut lines) = (Fold::default(), Lines::new(&specs));
        let scrapes = [
            (-1.0, "req_total{code=\"200\"} 10\nrunning{m=\"a\"} 3\nrunning{m=\"b\"} 4\n"),
            // 2 s later: 200 rose by 30, a 500 appeared (left out), b went away.
            (1.0, "req_total{code=\"200\"} 40\nreq_total{code=\"500\"} 5\nrunning{m=\"a\"} 6\n"),
            // A restart: 200 starts again from 0 and reads 8 half a second later; a 201 appears at 2.
            (1.5, "req_total{code=\"200\"} 8\nreq_total{code=\"201\"} 2\n"),
        ];
        for (t, body) in scrapes {
            fold.add(0, body, |_| {});
            lines.observe(0, t, &fold);
        }
        let [counter, gauge, absent] = <[Shown; 3]>::try_from(lines.finish()).unwrap();
        assert_eq!(counter.kind, Some(Kind::Counter));
        assert_eq!(counter.time_s, [-1.0, 1.0, 1.5]);
        // 30 over 2 s; then 8 (from zero) + 2 (a new series, from zero) over 0.5 s.
        assert_eq!(counter.value, [None, Some(15.0), Some(20.0)]);
        assert_eq!(counter.series_matched, 2);
        assert_eq!((gauge.kind, gauge.value), (Some(Kind::Gauge), vec![Some(7.0), Some(6.0), None]));
        assert_eq!((absent.kind, absent.series_matched, absent.value), (None, 0, vec![None, None, None]));
    }

    #[test]
    fn past_the_cap_every_other_point_goes_and_a_counters_rate_stays_exact() {
        let (mut fold, mut lines) = (Fold::default(), Lines::new(&[spec(&["c_total"])]));
        // c rises by t² at t = 0, 1, 2 …: the rate between scrapes a and b is (b² − a²) / (b − a) = a + b.
        for t in 0..MAX_POINTS as u64 + 3 {
            fold.add(0, &format!("c_total {}\n", t * t), |_| {});
            lines.observe(0, t as f64, &fold);
        }
        let line = &lines.finish()[0];
        assert!(line.time_s.len() <= MAX_POINTS, "{}", line.time_s.len());
        for (i, (t, rate)) in line.time_s.iter().zip(&line.value).enumerate().skip(1) {
            let before = line.time_s[i - 1];
            assert_eq!(rate.unwrap(), before + t, "from {before} to {t}");
        }
        assert_eq!(line.time_s[..3], [0.0, 2.0, 4.0], "thinned once");
        assert_eq!(*line.time_s.last().unwrap(), (MAX_POINTS + 2) as f64, "the latest kept");
    }
}
