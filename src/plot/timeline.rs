//! timeline.png/svg: per second, the requests (offered, sent, failed, not sent, failed over, who served), their p50 and
//! p99 latency on a log scale, and the tokens when answers carried them; scheduled outages and observed
//! failover episodes shaded behind every panel, each kind its own way; legends beside the panels; below, the
//! target's own metrics that `[[scrape]] show` chose ([`scraped`](super::scraped)).

use super::axes::{fmt_ms_axis, log_ticks};
use super::legend::{self, Entry, Shaded};
use super::scraped::{self, ScrapedPanel};
use super::{DrawResult, Panel, COLORS};
use crate::measure::TimelineRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// The picture's height: two panels, or three with tokens, and a panel for each of `scraped`.
pub(super) fn height(rows: &[TimelineRow], scraped: &[ScrapedPanel]) -> u32 {
    let own = if has_tokens(rows) { 980 } else { 720 };
    own + scraped::HEIGHT * scraped.len() as u32
}

pub(super) fn timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[TimelineRow],
    shaded: &Shaded,
    scraped: &[ScrapedPanel],
) -> DrawResult<DB> {
    let own = height(rows, &[]);
    let (root, mut below) = root.split_vertically(own);
    let (top, rest) = root.split_vertically(400);
    rates(&top, rows, shaded)?;
    if has_tokens(rows) {
        let (middle, bottom) = rest.split_vertically(320);
        latency(&middle, rows, shaded)?;
        tokens(&bottom, rows, shaded)?;
    } else {
        latency(&rest, rows, shaded)?;
    }
    let mut color = 0;
    for panel in scraped {
        let (area, rest) = below.split_vertically(scraped::HEIGHT);
        scraped::draw(&area, panel, color, rows.len(), shaded)?;
        color += panel.lines.len();
        below = rest;
    }
    Ok(())
}

/// Some answer in the run carried tokens (its usage, or slacheck's own count).
fn has_tokens(rows: &[TimelineRow]) -> bool {
    rows.iter().any(|r| r.input_tokens + r.output_tokens > 0)
}

/// Points at the middle of each second.
fn per_second(rows: &[TimelineRow], f: &dyn Fn(&TimelineRow) -> u64) -> Vec<(f64, f64)> {
    rows.iter().map(|r| (r.t_s as f64 + 0.5, f(r) as f64)).collect()
}

/// The upper panel: offered, sent, failed, not sent (when any was) and failed-over requests per second, and who
/// served them when more than one upstream did (the four that served most); its legend names the shaded spans
/// too. Each is counted in the second its request was due, but "sent", in the second it went out: the achieved
/// rate, which trails the offered one when the generator falls behind.
fn rates<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, rows: &[TimelineRow], shaded: &Shaded) -> DrawResult<DB> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = vec![
        ("offered".into(), per_second(rows, &|r| r.offered)),
        ("sent (by send second)".into(), per_second(rows, &|r| r.sent)),
        ("failed (error or timeout)".into(), per_second(rows, &|r| r.error + r.timeout)),
        ("failovers".into(), per_second(rows, &|r| r.failovers)),
    ];
    // The generator's, never the target's failures: drawn apart, and only when it happened.
    if rows.iter().any(|r| r.not_sent > 0) {
        series.push(("not sent".into(), per_second(rows, &|r| r.not_sent)));
    }
    let totals = series.len();
    let mut served: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, n) in rows.iter().flat_map(|r| &r.served_by) {
        *served.entry(name.as_str()).or_default() += n;
    }
    if served.len() > 1 {
        let mut names: Vec<(&str, u64)> = served.into_iter().collect();
        names.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (name, _) in names.into_iter().take(4) {
            series.push((
                format!("served by {name}"),
                per_second(rows, &|r| r.served_by.get(name).copied().unwrap_or(0)),
            ));
        }
    }
    // Who served is drawn thinner, under the totals it splits.
    let style = |i: usize| (COLORS[i % COLORS.len()], if i < totals { 2 } else { 1 });
    counts_panel(
        area,
        ("Requests per second, by the second each was due", 22),
        "requests/s",
        rows.len(),
        &series,
        &style,
        shaded,
        true,
    )
}

/// The third panel, when answers carried tokens: input and output tokens per second (of the requests due in
/// each second that were answered).
fn tokens<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, rows: &[TimelineRow], shaded: &Shaded) -> DrawResult<DB> {
    let series = vec![
        ("input tokens".to_string(), per_second(rows, &|r| r.input_tokens)),
        ("output tokens".to_string(), per_second(rows, &|r| r.output_tokens)),
    ];
    let style = |i: usize| (COLORS[(i + 4) % COLORS.len()], 2);
    counts_panel(area, ("Tokens per second", 20), "tokens/s", rows.len(), &series, &style, shaded, false)
}

/// A panel of counts per second (`series`, drawn in `style(i)`: colour and width) with the shaded spans;
/// `names_spans` puts the spans in its legend.
#[allow(clippy::too_many_arguments)]
fn counts_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (caption, caption_size): (&str, u32),
    y_desc: &str,
    seconds: usize,
    series: &[(String, Vec<(f64, f64)>)],
    style: &dyn Fn(usize) -> (RGBColor, u32),
    shaded: &Shaded,
    names_spans: bool,
) -> DrawResult<DB> {
    let (plot, column) = legend::split(area);
    let panel = Panel::titled(&plot, caption, caption_size)?;
    let hi = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).fold(1.0, f64::max) * 1.15;
    let mut chart = panel.builder().build_cartesian_2d(0f64..seconds.max(1) as f64, 0f64..hi)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("seconds")
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    shaded.draw(&chart)?;
    let mut entries = Vec::new();
    for (i, (name, pts)) in series.iter().enumerate() {
        let (color, width) = style(i);
        chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(width)))?;
        entries.push(Entry::line(name.as_str(), color, 2));
    }
    if names_spans {
        entries.extend(shaded.entries());
    }
    legend::draw(&column, &entries, panel.plot_top(&column))
}

/// The latency panel: p50 and p99 per second, on a log scale labelled from its bottom to its top.
fn latency<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, rows: &[TimelineRow], shaded: &Shaded) -> DrawResult<DB> {
    let (plot, column) = legend::split(area);
    let panel = Panel::titled(&plot, "Latency per second (from the intended send time)", 20)?;
    let end = rows.len().max(1) as f64;
    let points = |f: &dyn Fn(&TimelineRow) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| f(r).map(|v| (r.t_s as f64 + 0.5, v.max(0.001)))).collect()
    };
    let (p50, p99) = (points(&|r| r.p50_ms), points(&|r| r.p99_ms));
    let hi = p99.iter().chain(&p50).map(|(_, y)| *y).fold(1.0, f64::max) * 1.5;
    let lo = p50.iter().chain(&p99).map(|(_, y)| *y).fold(hi, f64::min).max(0.001) / 1.5;
    let ticks = log_ticks(lo, hi, panel.plot_height(), 14.0);
    let mut chart = panel.builder().build_cartesian_2d(0f64..end, (lo..hi).log_scale().with_key_points(ticks))?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&fmt_ms_axis)
        .x_desc("seconds")
        .y_desc("latency (log scale)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    shaded.draw(&chart)?;
    let mut entries = Vec::new();
    for (i, (name, pts)) in [("p50", p50), ("p99", p99)].into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
        entries.push(Entry::line(name, color, 2));
    }
    legend::draw(&column, &entries, panel.plot_top(&column))
}
