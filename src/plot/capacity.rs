//! capacity.svg/png: a capacity search's p99 (above) and availability (below) against each step's offered rate,
//! with the SLA's limits, the knee, and whether each step held every target.

use super::axes::{self, fmt_ms_axis};
use super::legend::{self, Entry, Swatch};
use super::{DrawResult, Panel, COLORS, LIMIT};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(super) fn capacity<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    steps: &[(f64, f64, Option<f64>, bool)],
    p99_limit: Option<f64>,
    availability_target: Option<f64>,
    knee: Option<f64>,
) -> DrawResult<DB> {
    let mut sorted = steps.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let x_hi = sorted.iter().map(|s| s.0).fold(1.0, f64::max) * 1.1;
    let (top, bottom) = root.split_vertically(380);
    let marker = |held: bool| if held { COLORS[2] } else { LIMIT };

    // Linear: past the knee p99 climbs steeply, and that is the shape to see.
    let (lo, hi) = (0.0, sorted.iter().map(|s| s.1).chain(p99_limit).fold(1.0, f64::max) * 1.15);
    let (plot, column) = legend::split(&top);
    let panel = Panel::titled(&plot, &format!("{title}: p99 by offered rate"), 22)?;
    let mut chart = panel.builder().build_cartesian_2d(0f64..x_hi, lo..hi)?;
    chart
        .configure_mesh()
        .y_labels(10)
        .y_label_formatter(&fmt_ms_axis)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("offered requests/s")
        .y_desc("p99")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    let mut entries = vec![Entry::line("p99 of each step", COLORS[0], 2)];
    if let Some(limit) = p99_limit {
        chart.draw_series(LineSeries::new([(0.0, limit), (x_hi, limit)], LIMIT.stroke_width(2)))?;
        entries.push(Entry::line(format!("p99 limit {}", fmt_ms_axis(&limit)), LIMIT, 2));
    }
    if let Some(k) = knee {
        chart.draw_series(LineSeries::new([(k, lo), (k, hi)], BLACK.mix(0.5).stroke_width(1)))?;
        entries.push(Entry::line(format!("knee {k:.0}/s"), RGBColor(128, 128, 128), 1));
    }
    chart.draw_series(LineSeries::new(sorted.iter().map(|s| (s.0, s.1)), COLORS[0].stroke_width(2)))?;
    chart.draw_series(sorted.iter().map(|s| Circle::new((s.0, s.1), 5, marker(s.3).filled())))?;
    entries.push(Entry { label: "every target held".into(), swatch: Swatch::Dot(marker(true)) });
    entries.push(Entry { label: "a target missed".into(), swatch: Swatch::Dot(marker(false)) });
    legend::draw(&column, &entries, panel.plot_top(&column))?;

    let pct: Vec<(f64, f64)> = sorted.iter().filter_map(|s| s.2.map(|a| (s.0, a * 100.0))).collect();
    let a_min = pct.iter().map(|p| p.1).chain(availability_target.map(|t| t * 100.0)).fold(100.0, f64::min);
    let a_lo = (a_min - (100.0 - a_min).max(1.0) * 0.2).max(0.0);
    let (plot, column) = legend::split(&bottom);
    let panel = Panel::titled(&plot, "availability by offered rate", 20)?;
    let mut chart = panel.builder().build_cartesian_2d(0f64..x_hi, a_lo..100.0 + (100.0 - a_lo) * 0.05)?;
    chart
        .configure_mesh()
        .y_label_formatter(&|y| format!("{y:.2}%"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("offered requests/s")
        .y_desc("availability")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    let mut entries = vec![Entry::line("availability of each step", COLORS[1], 2)];
    if let Some(t) = availability_target {
        chart.draw_series(LineSeries::new([(0.0, t * 100.0), (x_hi, t * 100.0)], LIMIT.stroke_width(2)))?;
        entries.push(Entry::line(format!("target {}%", axes::significant(t * 100.0, 4)), LIMIT, 2));
    }
    if let Some(k) = knee {
        chart.draw_series(LineSeries::new([(k, a_lo), (k, 100.0)], BLACK.mix(0.5).stroke_width(1)))?;
    }
    chart.draw_series(LineSeries::new(pct.iter().copied(), COLORS[1].stroke_width(2)))?;
    let held: Vec<bool> = sorted.iter().filter(|s| s.2.is_some()).map(|s| s.3).collect();
    chart.draw_series(pct.iter().zip(held).map(|(p, h)| Circle::new(*p, 5, marker(h).filled())))?;
    legend::draw(&column, &entries, panel.plot_top(&column))?;
    Ok(())
}
