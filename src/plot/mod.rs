//! Plots, as SVG and PNG: the latency percentile spectrum, the timeline, tiers overlaid, before/after, and a
//! capacity search's p99 and availability against the offered rate.
//!
//! Text is drawn with DejaVu Sans, bundled in `assets/fonts` and registered at first use, so plots render the
//! same on a bare CI machine with no fonts installed. Legends sit beside the data ([`legend`]), log axes are
//! labelled with room between their labels ([`axes`]), and [`crowding`] finds any label that overlaps another,
//! leaves the picture or has data drawn through it.

mod axes;
mod capacity;
mod check;
mod legend;
mod scraped;
mod timeline;

pub use check::crowding;
pub use scraped::{ScrapedLine, ScrapedPanel};

use crate::measure::TimelineRow;
use axes::{fmt_ms_axis, log_ticks};
use hdrhistogram::Histogram;
use image::ImageEncoder;
use legend::{Entry, Shaded};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

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
    /// Per second: offered, sent, failed and unsent requests and failovers; below, p50 and p99; scheduled outages
    /// and the failover episodes found from the requests shaded.
    Timeline {
        rows: &'a [TimelineRow],
        /// Scheduled outages of mock providers: (start s, end s).
        outages: Vec<(f64, f64)>,
        /// Failover episodes inferred from the requests: (start s, end s).
        episodes: Vec<(f64, f64)>,
        /// The target's own metrics that `[[scrape]] show` chose, a panel each below.
        scraped: Vec<ScrapedPanel>,
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
        Chart::Timeline { rows, scraped, .. } => (1000, timeline::height(rows, scraped)),
        Chart::Capacity { .. } => (1000, 720),
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
        Chart::Timeline { rows, outages, episodes, scraped } => {
            timeline::timeline(root, rows, &Shaded { outages, episodes }, scraped)
        }
        Chart::Capacity { title, steps, p99_limit_ms, availability_target, knee } => {
            capacity::capacity(root, title, steps, *p99_limit_ms, *availability_target, *knee)
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

/// A chart's area under its caption, with its margins and label areas: what the plotting area will be is known
/// before the chart is built, so that a log axis's ticks can be spaced for it.
struct Panel<DB: DrawingBackend> {
    area: DrawingArea<DB, Shift>,
    margin: u32,
    x_labels: u32,
    y_labels: u32,
}

impl<DB: DrawingBackend> Panel<DB> {
    /// A panel of a chart with several: margins of 15 px, labels in 35 px below and 70 px to the left.
    fn titled(
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        size: u32,
    ) -> Result<Self, DrawingAreaErrorKind<DB::ErrorType>> {
        Self::titled_with(area, caption, size, (15, 35, 70))
    }

    fn titled_with(
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        size: u32,
        (margin, x_labels, y_labels): (u32, u32, u32),
    ) -> Result<Self, DrawingAreaErrorKind<DB::ErrorType>> {
        // A few pixels above the caption, so that it does not touch the picture's (or the panel above's) edge.
        let area = area.margin(6, 0, 0, 0).titled(caption, ("sans-serif", size))?;
        Ok(Panel { area, margin, x_labels, y_labels })
    }

    fn builder(&self) -> ChartBuilder<'_, '_, DB> {
        let mut builder = ChartBuilder::on(&self.area);
        builder.margin(self.margin).x_label_area_size(self.x_labels).y_label_area_size(self.y_labels);
        builder
    }

    /// The plotting area's height, in pixels.
    fn plot_height(&self) -> f64 {
        f64::from(self.area.dim_in_pixel().1) - f64::from(2 * self.margin + self.x_labels)
    }

    /// The plotting area's top, in the pixels of `column` (an area beside this one), to start a legend level
    /// with the data.
    fn plot_top(&self, column: &DrawingArea<DB, Shift>) -> i32 {
        self.area.get_base_pixel().1 + self.margin as i32 - column.get_base_pixel().1
    }
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
    let (plot, column) = legend::split(root);
    let panel = Panel::titled_with(&plot, title, 24, (20, 45, 80))?;
    let ticks = log_ticks(lo, hi, panel.plot_height(), 15.0);
    let mut chart =
        panel.builder().build_cartesian_2d(0f64..max_nines + 0.05, (lo..hi).log_scale().with_key_points(ticks))?;
    chart
        .configure_mesh()
        .x_labels(max_nines as usize + 1)
        .x_label_formatter(&|x| nines_label(*x))
        .y_label_formatter(&fmt_ms_axis)
        .x_desc("percentile")
        .y_desc("latency (ms, log scale)")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let mut entries = Vec::new();
    for (i, (name, pts)) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?;
        entries.push(Entry::line(name.as_str(), color, 2));
    }
    let drawn: Vec<Vec<(i32, i32)>> =
        lines.iter().map(|(_, pts)| pts.iter().map(|p| chart.backend_coord(p)).collect()).collect();
    for (label, q, limit) in limits {
        let x = nines(*q).min(max_nines);
        let (from, to) = (chart.backend_coord(&(x - 0.12, *limit)), chart.backend_coord(&(x + 0.12, *limit)));
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x - 0.12, *limit), (x + 0.12, *limit)],
            LIMIT.stroke_width(3),
        )))?;
        limit_label(root, &format!("{label} limit"), (from, to), &drawn)?;
    }
    if !limits.is_empty() {
        entries.push(Entry::line("SLA limit", LIMIT, 3));
    }
    legend::draw(&column, &entries, panel.plot_top(&column))
}

/// Names an SLA limit's bar (from `from` to `to`, in the root's pixels) beside it where no line of data
/// (`drawn`, in the same pixels) runs through the words: above the bar, else below it, starting at its left end
/// or ending at its right.
fn limit_label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    (from, to): ((i32, i32), (i32, i32)),
    drawn: &[Vec<(i32, i32)>],
) -> DrawResult<DB> {
    let font = ("sans-serif", 14).into_font();
    let (w, h) = root.estimate_text_size(text, &TextStyle::from(font.clone()))?;
    let (w, h) = (w as i32, h as i32);
    let (base_x, base_y) = root.get_base_pixel();
    let y = from.1;
    // (left, top) of each place tried, in the root's pixels.
    let places = [(from.0, y - 4 - h), (from.0, y + 4), (to.0 - w, y - 4 - h), (to.0 - w, y + 4)];
    let clear = |(left, top): &(i32, i32)| {
        let rect = (f64::from(*left), f64::from(*top), f64::from(left + w), f64::from(top + h));
        !drawn.iter().any(|line| {
            line.windows(2).any(|s| {
                check::crosses(rect, (f64::from(s[0].0), f64::from(s[0].1)), (f64::from(s[1].0), f64::from(s[1].1)))
            })
        })
    };
    let (left, top) = places.iter().copied().find(|p| clear(p)).unwrap_or(places[0]);
    let style = font.color(&LIMIT).pos(Pos::new(HPos::Left, VPos::Top));
    root.draw(&Text::new(text.to_string(), (left - base_x, top - base_y), style))
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
        let svg = render(
            dir.path(),
            "t",
            &Chart::Timeline { rows: &two, outages: vec![], episodes: vec![], scraped: vec![] },
            false,
            false,
        )
        .unwrap();
        assert!(svg.contains("served by primary") && svg.contains("served by fallback"));
        let one = [row(0, &[("primary", 100)]), row(1, &[("primary", 100)])];
        let svg = render(
            dir.path(),
            "t",
            &Chart::Timeline { rows: &one, outages: vec![], episodes: vec![], scraped: vec![] },
            false,
            false,
        )
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
            &Chart::Timeline { rows: &rows, outages: vec![(1.0, 2.0)], episodes: vec![(1.5, 2.5)], scraped: vec![] },
            false,
            true,
        )
        .unwrap();
        let png = std::fs::read(dir.path().join("timeline.png")).unwrap();
        assert_eq!((&png[1..4], be_of(&png, 16), be_of(&png, 20)), (&b"PNG"[..], 1000, 720));
        assert!(!dir.path().join("timeline.svg").exists());
        // With tokens, a third panel shows them per second.
        let rows: Vec<TimelineRow> = rows.into_iter().map(|r| TimelineRow { output_tokens: 900, ..r }).collect();
        let chart = Chart::Timeline { rows: &rows, outages: Vec::new(), episodes: Vec::new(), scraped: Vec::new() };
        let svg = render(dir.path(), "timeline", &chart, false, true).unwrap();
        let png = std::fs::read(dir.path().join("timeline.png")).unwrap();
        assert_eq!((be_of(&png, 16), be_of(&png, 20)), (1000, 980));
        assert!(svg.contains("Tokens per second") && svg.contains("output tokens"));
    }

    /// A minute like failover.toml's: bursts (the last at the end of the run), an outage from 20 s to 35 s
    /// that an episode covers, three upstreams, tokens, p50 about 35 ms and p99 from 300 ms to 1.1 s.
    fn failover_minute() -> Vec<TimelineRow> {
        (0..61u64)
            .map(|t| {
                let burst = (15..20).contains(&t) || (35..40).contains(&t) || t >= 55;
                let offered = if burst { 850 } else { 160 };
                let fallback = if (20..35).contains(&t) { offered - 10 } else { 5 };
                let served = [("default", offered - fallback - 10), ("fallback", fallback), ("premium", 10)];
                TimelineRow {
                    t_s: t,
                    offered,
                    ok: offered,
                    sent: offered,
                    failovers: fallback,
                    served_by: served.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
                    input_tokens: offered * 30,
                    output_tokens: offered * 16,
                    p50_ms: Some(30.0 + (t % 7) as f64 * 5.0),
                    p99_ms: Some(300.0 + (t * 137 % 800) as f64),
                    ..Default::default()
                }
            })
            .collect()
    }

    fn crowded(chart: &Chart) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        crowding(&render(dir.path(), "c", chart, false, false).unwrap())
    }

    #[test]
    fn no_label_of_a_timeline_is_crowded_whatever_its_latencies() {
        let rows = failover_minute();
        let (outages, episodes) = (vec![(20.0, 35.0)], vec![(20.004, 35.2)]);
        let chart =
            Chart::Timeline { rows: &rows, outages: outages.clone(), episodes: episodes.clone(), scraped: vec![] };
        assert_eq!(crowded(&chart), Vec::<String>::new());
        // Latencies of every scale, a single flat value, and one second only.
        for (p50, p99) in [(0.2, 3.0), (1.0, 60_000.0), (35.0, 35.0), (900.0, 1100.0), (0.001, 0.002)] {
            let rows: Vec<TimelineRow> =
                rows.iter().map(|r| TimelineRow { p50_ms: Some(p50), p99_ms: Some(p99), ..r.clone() }).collect();
            let chart =
                Chart::Timeline { rows: &rows, outages: outages.clone(), episodes: episodes.clone(), scraped: vec![] };
            assert_eq!(crowded(&chart), Vec::<String>::new(), "p50 {p50} p99 {p99}");
        }
        let one = &rows[..1];
        assert_eq!(
            crowded(&Chart::Timeline { rows: one, outages: vec![], episodes: vec![], scraped: vec![] }),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_timeline_tells_a_scheduled_outage_from_an_observed_episode() {
        let rows = failover_minute();
        let dir = tempfile::tempdir().unwrap();
        let both =
            Chart::Timeline { rows: &rows, outages: vec![(20.0, 35.0)], episodes: vec![(20.0, 35.0)], scraped: vec![] };
        let svg = render(dir.path(), "t", &both, false, false).unwrap();
        assert!(svg.contains("scheduled outage") && svg.contains("observed episode"));
        // The outage is a filled box in its own colour; the episode is hatched: lines in another.
        let outage = format!("fill=\"#{:02X}{:02X}{:02X}\"", legend::OUTAGE.0, legend::OUTAGE.1, legend::OUTAGE.2);
        let episode =
            format!("stroke=\"#{:02X}{:02X}{:02X}\"", legend::EPISODE.0, legend::EPISODE.1, legend::EPISODE.2);
        assert!(svg.matches(&outage).count() >= 3, "a box in each of the 3 panels, and the legend's");
        assert!(svg.matches(&episode).count() > 30, "hatching: {}", svg.matches(&episode).count());
        let none = Chart::Timeline { rows: &rows, outages: vec![], episodes: vec![], scraped: vec![] };
        let svg = render(dir.path(), "t", &none, false, false).unwrap();
        assert!(!svg.contains("scheduled outage") && !svg.contains("observed episode"));
        assert!(!svg.contains(&outage) && !svg.contains(&episode));
    }

    #[test]
    fn no_label_of_a_spectrum_or_a_capacity_chart_is_crowded() {
        let mut spread = crate::measure::new_histogram();
        for v in 1..=10_000u64 {
            spread.record(v * v / 50 + 2_000).unwrap(); // 2 ms … 2 s, most of it low
        }
        let mut flat = crate::measure::new_histogram();
        flat.record_n(1_000_000, 5_000).unwrap(); // every request 1 s: the line runs along the top
        let limits = vec![("p99".to_string(), 0.99, 800.0), ("p99.9".to_string(), 0.999, 500.0)];
        for h in [&spread, &flat] {
            let chart = Chart::Spectrum {
                title: "s: latency by percentile".into(),
                series: vec![("latency (from intended send)".into(), h), ("service time (from actual send)".into(), h)],
                limits: limits.clone(),
            };
            assert_eq!(crowded(&chart), Vec::<String>::new());
        }
        let steps =
            vec![(10.0, 12.0, Some(1.0), true), (160.0, 40.0, Some(0.999), true), (320.0, 2400.0, Some(0.93), false)];
        let chart = Chart::Capacity {
            title: "capacity".into(),
            steps,
            p99_limit_ms: Some(500.0),
            availability_target: Some(0.999),
            knee: Some(300.0),
        };
        assert_eq!(crowded(&chart), Vec::<String>::new());
    }

    fn be_of(png: &[u8], i: usize) -> u32 {
        u32::from_be_bytes(png[i..i + 4].try_into().unwrap())
    }
}
