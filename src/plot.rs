//! Plots, as SVG and PNG: the latency percentile spectrum, the timeline, tiers overlaid, before/after, and a
//! capacity search's p99 and availability against the offered rate.
//!
//! Text is drawn with DejaVu Sans, bundled in `assets/fonts` and registered at first use, so plots render the
//! same on a bare CI machine with no fonts installed.

use crate::measure::TimelineRow;
use hdrhistogram::Histogram;
use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled font is valid; if registration ever failed, text would be missing, not the plot.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// What to draw.
pub enum Chart<'a> {
    /// Latency against percentile on a "nines" axis, one line per series, with SLA limits marked.
    Spectrum {
        title: String,
        series: Vec<(String, &'a Histogram<u64>)>,
        /// (label, quantile, limit in ms)
        limits: Vec<(String, f64, f64)>,
    },
    /// Per second: offered, achieved and failed requests and failovers; below, p50 and p99; scheduled outages
    /// and the failover episodes found from the requests shaded.
    Timeline {
        rows: &'a [TimelineRow],
        /// Scheduled outages of mock providers: (start s, end s).
        outages: Vec<(f64, f64)>,
        /// Failover episodes inferred from the requests: (start s, end s).
        episodes: Vec<(f64, f64)>,
    },
    /// A capacity search: each step's p99 (above) and availability (below) against its offered rate, with the
    /// SLA's limits and the knee marked.
    Capacity {
        title: String,
        /// (offered req/s, p99 ms, availability 0..1, held)
        steps: Vec<(f64, f64, Option<f64>, bool)>,
        p99_limit_ms: Option<f64>,
        availability_target: Option<f64>,
        knee: Option<f64>,
    },
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
];
const LIMIT: RGBColor = RGBColor(214, 39, 40);
const OUTAGE: RGBColor = RGBColor(255, 190, 190);
const EPISODE: RGBColor = RGBColor(255, 215, 120);

/// Why a plot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{file}: cannot draw the chart: {message}")]
    Draw { file: String, message: String },
    #[error("{path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
}

/// Draws `chart` and writes `<name>.svg` and/or `<name>.png` into `dir` (each through a temporary file and a
/// rename). Returns the SVG text, for pages that embed it.
pub fn render(dir: &Path, name: &str, chart: &Chart, write_svg: bool, write_png: bool) -> Result<String, PlotError> {
    let drawing = |file: String| move |message: String| PlotError::Draw { file, message };
    register_font();
    let size = match chart {
        Chart::Spectrum { .. } => (1000, 600),
        Chart::Timeline { rows, .. } if has_tokens(rows) => (1000, 980),
        Chart::Timeline { .. } | Chart::Capacity { .. } => (1000, 720),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root, chart).map_err(drawing(format!("{name}.svg")))?;
        root.present().map_err(|e| drawing(format!("{name}.svg"))(e.to_string()))?;
    }
    if write_svg {
        let path = dir.join(format!("{name}.svg"));
        crate::outdir::write_atomic(&path, svg.as_bytes()).map_err(|source| PlotError::Write { path, source })?;
    }
    if write_png {
        let path = dir.join(format!("{name}.png"));
        let png = png_bytes(chart, size).map_err(drawing(format!("{name}.png")))?;
        crate::outdir::write_atomic(&path, &png).map_err(|source| PlotError::Write { path, source })?;
    }
    Ok(svg)
}

/// The chart as a PNG file's bytes: drawn into memory and encoded there, so that writing it is one atomic write
/// whose error is the plain I/O error.
fn png_bytes(chart: &Chart, size: (u32, u32)) -> Result<Vec<u8>, String> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(png)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    match chart {
        Chart::Spectrum { title, series, limits } => spectrum(root, title, series, limits),
        Chart::Timeline { rows, outages, episodes } => timeline(root, rows, &Shaded { outages, episodes }),
        Chart::Capacity { title, steps, p99_limit_ms, availability_target, knee } => {
            capacity(root, title, steps, *p99_limit_ms, *availability_target, *knee)
        }
    }
    .map_err(|e| format!("{e:?}"))
}

/// x = −log10(1 − q): 0 is the median's left edge (0%), 1 is 90%, 2 is 99%, 3 is 99.9% …
pub fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-9).log10()
}

/// The percentiles a spectrum is drawn at: x in nines, 40 steps a decade, as many nines as the data supports
/// (about one sample beyond the last percentile; 1 to 5).
pub struct NinesGrid {
    pub max_nines: f64,
}

impl NinesGrid {
    /// The grid for series whose largest holds `count` values.
    pub fn for_largest(count: u64) -> Self {
        NinesGrid { max_nines: (count.max(10) as f64).log10().floor().clamp(1.0, 5.0) }
    }

    pub fn xs(&self) -> impl Iterator<Item = f64> {
        (0..=(self.max_nines * 40.0) as usize).map(|i| i as f64 / 40.0)
    }

    /// The latency in ms at `x` nines (beyond the grid's last percentile, that percentile's), at least 1 µs for
    /// a log axis.
    pub fn ms_at(&self, h: &Histogram<u64>, x: f64) -> f64 {
        let q = (1.0 - 10f64.powf(-x)).min(1.0 - 10f64.powf(-self.max_nines));
        (h.value_at_quantile(q) as f64 / 1000.0).max(0.001)
    }
}

fn fmt_ms_axis(y: &f64) -> String {
    match *y {
        y if y >= 1000.0 => format!("{}s", (y / 1000.0 * 100.0).round() / 100.0),
        y if y >= 1.0 => format!("{}ms", y.round()),
        y => format!("{}ms", (y * 1000.0).round() / 1000.0),
    }
}

fn nines_label(x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 {
        return String::new();
    }
    let n = x.round() as i32;
    if n == 0 {
        "0%".into()
    } else {
        let pct = 100.0 * (1.0 - 10f64.powi(-n));
        format!("{pct:.*}%", (n - 2).max(0) as usize)
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One panel of a two-panel chart: its caption, margins and label areas.
fn panel<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: impl AsRef<str>,
    caption_size: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder.caption(caption, ("sans-serif", caption_size)).margin(15).x_label_area_size(35).y_label_area_size(70);
    builder
}

/// The series legend, in a white box at `position`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", font_size))
        .draw()
}

fn spectrum<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[(String, &Histogram<u64>)],
    limits: &[(String, f64, f64)],
) -> DrawResult<DB> {
    let grid = NinesGrid::for_largest(series.iter().map(|(_, h)| h.len()).max().unwrap_or(0));
    let max_nines = grid.max_nines;
    let points = |h: &Histogram<u64>| -> Vec<(f64, f64)> { grid.xs().map(|x| (x, grid.ms_at(h, x))).collect() };
    let lines: Vec<(String, Vec<(f64, f64)>)> =
        series.iter().filter(|(_, h)| !h.is_empty()).map(|(n, h)| (n.clone(), points(h))).collect();
    let ys = lines.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).chain(limits.iter().map(|l| l.2));
    let (lo, hi) = ys.fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if hi <= 0.0 { (0.1, 10.0) } else { (lo.max(0.001) / 1.5, hi * 1.5) };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..max_nines + 0.05, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(max_nines as usize + 1)
        .x_label_formatter(&|x| nines_label(*x))
        .y_labels(8)
        .y_label_formatter(&fmt_ms_axis)
        .x_desc("percentile")
        .y_desc("latency (ms, log scale)")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (i, (name, pts)) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    for (label, q, limit) in limits {
        let x = nines(*q).min(max_nines);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x - 0.12, *limit), (x + 0.12, *limit)],
            LIMIT.stroke_width(3),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{label} limit"),
            (x - 0.12, *limit * 1.45),
            ("sans-serif", 14).into_font().color(&LIMIT),
        )))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 15)?;
    Ok(())
}

/// The spans shaded on the timeline: scheduled outages, and the failover episodes found from the requests.
struct Shaded<'a> {
    outages: &'a [(f64, f64)],
    episodes: &'a [(f64, f64)],
}

impl Shaded<'_> {
    /// Draws both kinds of span from `lo` to `hi`; the first panel (`labelled`) names them in its legend.
    fn draw<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
        (lo, hi): (f64, f64),
        labelled: bool,
    ) -> DrawResult<DB> {
        for (spans, color, label) in
            [(self.episodes, EPISODE, "failover episode (found)"), (self.outages, OUTAGE, "scheduled outage")]
        {
            let rects = spans.iter().map(|(a, b)| Rectangle::new([(*a, lo), (*b, hi)], color.mix(0.5).filled()));
            let drawn = chart.draw_series(rects)?;
            if labelled && !spans.is_empty() {
                drawn
                    .label(label)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.mix(0.5).filled()));
            }
        }
        Ok(())
    }
}

fn timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[TimelineRow],
    shaded: &Shaded,
) -> DrawResult<DB> {
    let (top, rest) = root.split_vertically(400);
    timeline_rates(&top, rows, shaded)?;
    if !has_tokens(rows) {
        return timeline_latency(&rest, rows, shaded);
    }
    let (middle, bottom) = rest.split_vertically(320);
    timeline_latency(&middle, rows, shaded)?;
    timeline_tokens(&bottom, rows, shaded)
}

/// Some answer in the run carried tokens (its usage, or slacheck's own count).
fn has_tokens(rows: &[TimelineRow]) -> bool {
    rows.iter().any(|r| r.input_tokens + r.output_tokens > 0)
}

/// The third panel, when answers carried tokens: input and output tokens per second (of the requests due in
/// each second that were answered).
fn timeline_tokens<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[TimelineRow],
    shaded: &Shaded,
) -> DrawResult<DB> {
    let series: Vec<(String, Vec<(f64, f64)>)> = [("input tokens", 0usize), ("output tokens", 1)]
        .into_iter()
        .map(|(name, i)| {
            let pts = rows.iter().map(|r| (r.t_s as f64 + 0.5, [r.input_tokens, r.output_tokens][i] as f64));
            (name.to_string(), pts.collect())
        })
        .collect();
    let style = |i: usize| (COLORS[(i + 4) % COLORS.len()], 2);
    per_second_panel(area, ("Tokens per second", 20), "tokens/s", rows.len(), &series, &style, shaded, false)
}

/// A panel of counts per second (`series`, drawn in `style(i)`: colour and width) with the shaded spans;
/// `labelled` names the spans in its legend.
#[allow(clippy::too_many_arguments)]
fn per_second_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (caption, caption_size): (&str, u32),
    y_desc: &str,
    seconds: usize,
    series: &[(String, Vec<(f64, f64)>)],
    style: &dyn Fn(usize) -> (RGBColor, u32),
    shaded: &Shaded,
    labelled: bool,
) -> DrawResult<DB> {
    let hi = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).fold(1.0, f64::max) * 1.15;
    let mut chart = panel(area, caption, caption_size).build_cartesian_2d(0f64..seconds.max(1) as f64, 0f64..hi)?;
    chart
        .configure_mesh()
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("seconds")
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    shaded.draw(&mut chart, (0.0, hi), labelled)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let (color, width) = style(i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(width)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 14)
}

/// The upper panel: offered, sent, failed and failed-over requests per second, and who served them when more
/// than one upstream did (the four that served most).
fn timeline_rates<DB: DrawingBackend>(
    top: &DrawingArea<DB, Shift>,
    rows: &[TimelineRow],
    shaded: &Shaded,
) -> DrawResult<DB> {
    let per_second = |f: &dyn Fn(&TimelineRow) -> u64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (r.t_s as f64 + 0.5, f(r) as f64)).collect()
    };
    let mut rate_series: Vec<(String, Vec<(f64, f64)>)> = vec![
        ("offered".into(), per_second(&|r| r.offered)),
        ("achieved (sent)".into(), per_second(&|r| r.sent)),
        ("failed".into(), per_second(&|r| r.error + r.timeout + r.not_sent)),
        ("failovers".into(), per_second(&|r| r.failovers)),
    ];
    let mut served: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, n) in rows.iter().flat_map(|r| &r.served_by) {
        *served.entry(name.as_str()).or_default() += n;
    }
    if served.len() > 1 {
        let mut names: Vec<(&str, u64)> = served.into_iter().collect();
        names.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (name, _) in names.into_iter().take(4) {
            let pts = per_second(&|r| r.served_by.get(name).copied().unwrap_or(0));
            rate_series.push((format!("served by {name}"), pts));
        }
    }
    // Who served is drawn thinner, under the totals it splits.
    let style = |i: usize| (COLORS[i % COLORS.len()], if i < 4 { 2 } else { 1 });
    per_second_panel(top, ("Requests per second", 22), "requests/s", rows.len(), &rate_series, &style, shaded, true)
}

/// The lower panel: p50 and p99 per second, on a log scale.
fn timeline_latency<DB: DrawingBackend>(
    bottom: &DrawingArea<DB, Shift>,
    rows: &[TimelineRow],
    shaded: &Shaded,
) -> DrawResult<DB> {
    let end = rows.len().max(1) as f64;
    let latency = |f: &dyn Fn(&TimelineRow) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| f(r).map(|v| (r.t_s as f64 + 0.5, v.max(0.001)))).collect()
    };
    let (p50, p99) = (latency(&|r| r.p50_ms), latency(&|r| r.p99_ms));
    let hi = p99.iter().chain(&p50).map(|(_, y)| *y).fold(1.0, f64::max) * 1.5;
    let lo = p50.iter().map(|(_, y)| *y).fold(hi, f64::min).max(0.001) / 1.5;
    let mut chart = panel(bottom, "Latency per second (from the intended send time)", 20)
        .build_cartesian_2d(0f64..end, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .y_labels(10)
        .y_label_formatter(&fmt_ms_axis)
        .x_desc("seconds")
        .y_desc("latency (log scale)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    shaded.draw(&mut chart, (lo, hi), false)?;
    for (i, (name, pts)) in [("p50", p50), ("p99", p99)].into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 14)
}

fn capacity<DB: DrawingBackend>(
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
    let mut chart = panel(&top, format!("{title}: p99 by offered rate"), 22).build_cartesian_2d(0f64..x_hi, lo..hi)?;
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
    if let Some(limit) = p99_limit {
        chart
            .draw_series(LineSeries::new([(0.0, limit), (x_hi, limit)], LIMIT.stroke_width(2)))?
            .label(format!("p99 limit {}", fmt_ms_axis(&limit)))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], LIMIT.stroke_width(2)));
    }
    if let Some(k) = knee {
        chart.draw_series(LineSeries::new([(k, lo), (k, hi)], BLACK.mix(0.5).stroke_width(1)))?;
    }
    chart.draw_series(LineSeries::new(sorted.iter().map(|s| (s.0, s.1)), COLORS[0].stroke_width(2)))?;
    chart.draw_series(sorted.iter().map(|s| Circle::new((s.0, s.1), 5, marker(s.3).filled())))?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)?;

    let pct: Vec<(f64, f64)> = sorted.iter().filter_map(|s| s.2.map(|a| (s.0, a * 100.0))).collect();
    let a_min = pct.iter().map(|p| p.1).chain(availability_target.map(|t| t * 100.0)).fold(100.0, f64::min);
    let a_lo = (a_min - (100.0 - a_min).max(1.0) * 0.2).max(0.0);
    let mut chart = panel(&bottom, "availability by offered rate (green: every target held)", 20)
        .build_cartesian_2d(0f64..x_hi, a_lo..100.0 + (100.0 - a_lo) * 0.05)?;
    chart
        .configure_mesh()
        .y_label_formatter(&|y| format!("{y:.2}%"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("offered requests/s")
        .y_desc("availability")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    if let Some(t) = availability_target {
        chart.draw_series(LineSeries::new([(0.0, t * 100.0), (x_hi, t * 100.0)], LIMIT.stroke_width(2)))?;
    }
    if let Some(k) = knee {
        chart.draw_series(LineSeries::new([(k, a_lo), (k, 100.0)], BLACK.mix(0.5).stroke_width(1)))?;
    }
    chart.draw_series(LineSeries::new(pct.iter().copied(), COLORS[1].stroke_width(2)))?;
    let held: Vec<bool> = sorted.iter().filter(|s| s.2.is_some()).map(|s| s.3).collect();
    chart.draw_series(pct.iter().zip(held).map(|(p, h)| Circle::new(*p, 5, marker(h).filled())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spectrum_draws_its_title_series_and_limits_and_writes_only_what_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = crate::measure::new_histogram();
        for v in 1..=1_000u64 {
            h.record(v * 100).unwrap();
        }
        let chart = Chart::Spectrum {
            title: "burst: latency".into(),
            series: vec![("overall".into(), &h)],
            limits: vec![("p99 ≤ 80ms".into(), 0.99, 80.0)],
        };
        let svg = render(dir.path(), "spectrum", &chart, true, false).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("width=\"1000\"") && svg.contains("height=\"600\""));
        for text in ["burst: latency", "overall", "p99 ≤ 80ms"] {
            assert!(svg.contains(text), "{text} is not drawn");
        }
        assert_eq!(std::fs::read_to_string(dir.path().join("spectrum.svg")).unwrap(), svg);
        assert!(!dir.path().join("spectrum.png").exists());
    }

    #[test]
    fn a_timeline_shows_who_served_when_more_than_one_did() {
        let dir = tempfile::tempdir().unwrap();
        let row = |t: u64, served: &[(&str, u64)]| TimelineRow {
            t_s: t,
            offered: 100,
            ok: 100,
            sent: 100,
            served_by: served.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            ..Default::default()
        };
        let two = [row(0, &[("primary", 100)]), row(1, &[("fallback", 100)]), row(2, &[("primary", 100)])];
        let svg =
            render(dir.path(), "t", &Chart::Timeline { rows: &two, outages: vec![], episodes: vec![] }, false, false)
                .unwrap();
        assert!(svg.contains("served by primary") && svg.contains("served by fallback"));
        let one = [row(0, &[("primary", 100)]), row(1, &[("primary", 100)])];
        let svg =
            render(dir.path(), "t", &Chart::Timeline { rows: &one, outages: vec![], episodes: vec![] }, false, false)
                .unwrap();
        assert!(!svg.contains("served by"), "one upstream adds nothing to the totals");
        assert!(!dir.path().join("t.svg").exists() && !dir.path().join("t.png").exists());
    }

    #[test]
    fn a_timeline_is_a_png_of_its_size_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<TimelineRow> =
            (0..5).map(|t| TimelineRow { t_s: t, offered: 100, ok: 100, sent: 100, ..Default::default() }).collect();
        render(
            dir.path(),
            "timeline",
            &Chart::Timeline { rows: &rows, outages: vec![(1.0, 2.0)], episodes: vec![(1.5, 2.5)] },
            false,
            true,
        )
        .unwrap();
        let png = std::fs::read(dir.path().join("timeline.png")).unwrap();
        assert_eq!((&png[1..4], be_of(&png, 16), be_of(&png, 20)), (&b"PNG"[..], 1000, 720));
        assert!(!dir.path().join("timeline.svg").exists());
        // With tokens, a third panel shows them per second.
        let rows: Vec<TimelineRow> = rows.into_iter().map(|r| TimelineRow { output_tokens: 900, ..r }).collect();
        let chart = Chart::Timeline { rows: &rows, outages: Vec::new(), episodes: Vec::new() };
        let svg = render(dir.path(), "timeline", &chart, false, true).unwrap();
        let png = std::fs::read(dir.path().join("timeline.png")).unwrap();
        assert_eq!((be_of(&png, 16), be_of(&png, 20)), (1000, 980));
        assert!(svg.contains("Tokens per second") && svg.contains("output tokens"));
    }

    fn be_of(png: &[u8], i: usize) -> u32 {
        u32::from_be_bytes(png[i..i + 4].try_into().unwrap())
    }
}
