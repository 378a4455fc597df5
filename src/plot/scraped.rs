//! The timeline's panels of the target's own metrics (`[[scrape]] show`): one panel a metric, a line a selector;
//! a counter's rate per second drawn as steps (each value holds over the time between its scrape and the one
//! before), a gauge's value through its scrapes. Only the run's seconds are drawn, so the panels line up with
//! the timeline's others; summary.json has every point.

use super::legend::{self, Entry, Shaded};
use super::{DrawResult, Panel, COLORS};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One panel's height, in pixels.
pub(super) const HEIGHT: u32 = 260;

/// The longest line name in the legend column, and the longest caption (longer ones end in `…`).
const MAX_NAME: usize = 24;
const MAX_CAPTION: usize = 80;

/// A panel of scraped series.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedPanel {
    pub caption: String,
    /// The y axis: the unit, e.g. `requests/s`.
    pub y_desc: String,
    /// Each value holds from the time before it to its own (a counter's rate), rather than being a point.
    pub stepped: bool,
    pub lines: Vec<ScrapedLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedLine {
    pub name: String,
    /// Seconds from the run's start, and the value at each (none: a gap).
    pub time_s: Vec<f64>,
    pub value: Vec<Option<f64>>,
}

impl ScrapedLine {
    /// The runs of points to draw within 0..`end` seconds, broken where a value is missing.
    fn runs(&self, stepped: bool, end: f64) -> Vec<Vec<(f64, f64)>> {
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (i, (t, v)) in self.time_s.iter().zip(&self.value).enumerate() {
            let points = match (v, stepped) {
                (None, _) => Vec::new(),
                (Some(v), true) => {
                    let from = i.checked_sub(1).map(|b| self.time_s[b].max(0.0));
                    from.filter(|from| *from < t.min(end)).map_or(Vec::new(), |from| vec![(from, *v), (t.min(end), *v)])
                }
                (Some(v), false) => [(*t, *v)].into_iter().filter(|(t, _)| (0.0..=end).contains(t)).collect(),
            };
            match (points.is_empty(), runs.last_mut()) {
                (false, Some(run)) => run.extend(points),
                (true, Some(run)) if !run.is_empty() => runs.push(Vec::new()),
                _ => {}
            }
        }
        runs.retain(|r| !r.is_empty());
        runs
    }
}

/// `text` in at most `max` characters.
fn short(text: &str, max: usize) -> String {
    match text.chars().count() > max {
        true => text.chars().take(max - 1).chain(['…']).collect(),
        false => text.to_string(),
    }
}

/// An axis value in three significant figures at most, large ones with k, M or G.
fn fmt_value(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = match a {
        _ if a >= 1e9 => (v / 1e9, "G"),
        _ if a >= 1e6 => (v / 1e6, "M"),
        _ if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let digits =
        if scaled.abs() >= 100.0 || scaled == 0.0 { 0 } else { (2 - scaled.abs().log10().floor() as i32) as usize };
    let text = format!("{scaled:.digits$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    format!("{text}{suffix}")
}

/// Draws `panel` over the run's `seconds`, its lines in the colours after the timeline's own.
pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &ScrapedPanel,
    first_color: usize,
    seconds: usize,
    shaded: &Shaded,
) -> DrawResult<DB> {
    let end = seconds.max(1) as f64;
    let lines: Vec<Vec<Vec<(f64, f64)>>> = panel.lines.iter().map(|l| l.runs(panel.stepped, end)).collect();
    let ys = || lines.iter().flatten().flatten().map(|(_, y)| *y);
    let (lo, hi) = (ys().fold(0.0, f64::min), ys().fold(0.0, f64::max));
    let hi = if hi - lo > 0.0 { hi + (hi - lo) * 0.15 } else { lo + 1.0 };
    let (plot, column) = legend::split(area);
    let chart_panel = Panel::titled(&plot, &short(&panel.caption, MAX_CAPTION), 18)?;
    let mut chart = chart_panel.builder().build_cartesian_2d(0f64..end, lo..hi)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| fmt_value(*y))
        .x_desc("seconds")
        .y_desc(panel.y_desc.as_str())
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    shaded.draw(&chart)?;
    let mut entries = Vec::new();
    for (i, (line, runs)) in panel.lines.iter().zip(&lines).enumerate() {
        let color = COLORS[(first_color + i) % COLORS.len()];
        for run in runs {
            chart.draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))?;
        }
        entries.push(Entry::line(short(&line.name, MAX_NAME), color, 2));
    }
    legend::draw(&column, &entries, chart_panel.plot_top(&column))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(time_s: &[f64], value: &[Option<f64>]) -> ScrapedLine {
        ScrapedLine { name: "l".into(), time_s: time_s.to_vec(), value: value.to_vec() }
    }

    #[test]
    fn steps_hold_from_the_scrape_before_and_are_cut_to_the_run() {
        // Scrapes at −1, 2, 4, 7 s of a 6-second run; rates 5 (over −1..2), 3 (2..4), 9 (4..7).
        let l = line(&[-1.0, 2.0, 4.0, 7.0], &[None, Some(5.0), Some(3.0), Some(9.0)]);
        assert_eq!(l.runs(true, 6.0), [vec![(0.0, 5.0), (2.0, 5.0), (2.0, 3.0), (4.0, 3.0), (4.0, 9.0), (6.0, 9.0)]]);
        // A gauge: its points within the run, broken where a scrape had no value.
        let g = line(&[-1.0, 1.0, 2.0, 3.0, 4.0, 7.0], &[Some(1.0), Some(2.0), None, Some(4.0), Some(5.0), Some(6.0)]);
        assert_eq!(g.runs(false, 6.0), [vec![(1.0, 2.0)], vec![(3.0, 4.0), (4.0, 5.0)]]);
    }

    #[test]
    fn no_label_of_a_timeline_with_scraped_panels_is_crowded() {
        use crate::measure::TimelineRow;
        use crate::plot::{crowding, render, Chart};
        let rows: Vec<TimelineRow> = (0..30)
            .map(|t| TimelineRow { t_s: t, offered: 50, ok: 50, sent: 50, p50_ms: Some(5.0), ..Default::default() })
            .collect();
        let times: Vec<f64> = (0..17).map(|i| i as f64 * 2.0 - 1.0).collect();
        let rate = |k: f64| ScrapedLine {
            name: format!("{{status=\"{k}\", model=\"meta-llama/Llama-3.1-8B\"}}"),
            time_s: times.clone(),
            value: times.iter().enumerate().map(|(i, _)| (i > 0).then_some(k * (i % 5) as f64 + 0.25)).collect(),
        };
        let panels = vec![
            ScrapedPanel {
                caption: format!("litellm_deployment_latency_per_output_token_count_{}, per second", "x".repeat(40)),
                y_desc: "per second".into(),
                stepped: true,
                lines: vec![rate(0.5), rate(2.0)],
            },
            ScrapedPanel {
                caption: "process_resident_memory_bytes, as scraped".into(),
                y_desc: "bytes".into(),
                stepped: false,
                lines: vec![ScrapedLine {
                    name: "every series".into(),
                    time_s: times.clone(),
                    value: times.iter().map(|t| Some(2.5e9 + t * 1e7)).collect(),
                }],
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let outages = vec![(10.0, 14.0)];
        let chart = Chart::Timeline { rows: &rows, outages, episodes: vec![], scraped: panels };
        let svg = render(dir.path(), "t", &chart, false, true).unwrap();
        assert_eq!(crowding(&svg), Vec::<String>::new());
        assert!(svg.contains("height=\"1240\""), "720 and two panels of 260");
        assert!(svg.contains(">\n2.5G\n<") && svg.contains(">\n{status=&quot;0.5&quot;, model=&quot;m…\n<"));
    }

    #[test]
    fn axis_values_and_names_stay_short() {
        let cases = [(0.0, "0"), (0.5, "0.5"), (1.25, "1.25"), (12.5, "12.5"), (150.0, "150"), (12_000.0, "12k")];
        for (v, text) in cases.into_iter().chain([(2.5e6, "2.5M"), (3e9, "3G"), (-4.0, "-4")]) {
            assert_eq!(fmt_value(v), text, "{v}");
        }
        assert_eq!(short("{status=\"200\"}", MAX_NAME), "{status=\"200\"}");
        assert_eq!(short(&"x".repeat(30), MAX_NAME).chars().count(), MAX_NAME);
    }
}
