//! What a chart's colours mean, kept off its data: legends in a column right of the plotting area, one entry a
//! line; and the spans a timeline shades, each kind its own way (scheduled outages filled, observed failover
//! episodes hatched), so that where both fall each still shows.

use super::DrawResult;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The legend column's width, in pixels: room for "observed episode" at the legend's size.
pub(super) const WIDTH: u32 = 215;
const FONT_SIZE: u32 = 13;
const ROW: i32 = 20;

pub(super) const OUTAGE: RGBColor = RGBColor(255, 150, 150);
pub(super) const EPISODE: RGBColor = RGBColor(60, 80, 170);
/// Pixels between the episodes' hatch lines.
const HATCH: i32 = 7;

/// How an entry shows what it names.
pub(super) enum Swatch {
    Line(RGBColor, u32),
    Dot(RGBColor),
    /// A filled span (a scheduled outage).
    Fill(RGBColor),
    /// A hatched span (an observed failover episode).
    Hatch(RGBColor),
}

pub(super) struct Entry {
    pub label: String,
    pub swatch: Swatch,
}

impl Entry {
    pub fn line(label: impl Into<String>, color: RGBColor, width: u32) -> Self {
        Entry { label: label.into(), swatch: Swatch::Line(color, width) }
    }
}

/// `area` split into the chart's part and the legend column on its right.
pub(super) fn split<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let width = area.dim_in_pixel().0;
    area.split_horizontally(width.saturating_sub(WIDTH))
}

/// Draws `entries` one a line in the legend column, from `top` pixels down (the plotting area's top, so that the
/// legend starts level with the data).
pub(super) fn draw<DB: DrawingBackend>(column: &DrawingArea<DB, Shift>, entries: &[Entry], top: i32) -> DrawResult<DB> {
    let text = TextStyle::from(("sans-serif", FONT_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, entry) in entries.iter().enumerate() {
        let y = top + ROW / 2 + i as i32 * ROW;
        let (x0, x1) = (8, 32);
        match entry.swatch {
            Swatch::Line(color, width) => {
                column.draw(&PathElement::new([(x0, y), (x1, y)], color.stroke_width(width)))?
            }
            Swatch::Dot(color) => column.draw(&Circle::new(((x0 + x1) / 2, y), 5, color.filled()))?,
            Swatch::Fill(color) => {
                column.draw(&Rectangle::new([(x0, y - 6), (x1, y + 6)], color.mix(0.45).filled()))?
            }
            Swatch::Hatch(color) => {
                for (a, b) in hatch((x0, y - 6), (x1, y + 6), 5) {
                    column.draw(&PathElement::new([a, b], color.mix(0.8).stroke_width(1)))?;
                }
                column.draw(&Rectangle::new([(x0, y - 6), (x1, y + 6)], color.mix(0.8).stroke_width(1)))?;
            }
        }
        column.draw(&Text::new(entry.label.clone(), (x1 + 8, y), text.clone()))?;
    }
    Ok(())
}

/// Diagonal lines ("/", 45°) `spacing` pixels apart, clipped to the rectangle from `(x0, y0)` to `(x1, y1)`.
pub(super) fn hatch((x0, y0): (i32, i32), (x1, y1): (i32, i32), spacing: i32) -> Vec<((i32, i32), (i32, i32))> {
    let (x0, x1, y0, y1) = (x0.min(x1), x0.max(x1), y0.min(y1), y0.max(y1));
    // Each line is x + y = c; within the rectangle, x runs from max(x0, c − y1) to min(x1, c − y0).
    (0..)
        .map(|k| x0 + y0 + spacing.max(1) * k)
        .take_while(|c| *c <= x1 + y1)
        .filter_map(|c| {
            let (from, to) = ((c - y1).max(x0), (c - y0).min(x1));
            (from <= to).then_some(((from, c - from), (to, c - to)))
        })
        .collect()
}

/// The spans a timeline shades: scheduled outages of mock providers, and the failover episodes found from the
/// requests, each as (start s, end s).
pub(super) struct Shaded<'a> {
    pub outages: &'a [(f64, f64)],
    pub episodes: &'a [(f64, f64)],
}

impl Shaded<'_> {
    /// Their legend entries, for the kinds this run has.
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        if !self.outages.is_empty() {
            entries.push(Entry { label: "scheduled outage".into(), swatch: Swatch::Fill(OUTAGE) });
        }
        if !self.episodes.is_empty() {
            entries.push(Entry { label: "observed episode".into(), swatch: Swatch::Hatch(EPISODE) });
        }
        entries
    }

    /// Shades the spans over the whole height of `chart`'s plotting area, behind what is drawn next.
    pub fn draw<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
        &self,
        chart: &ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    ) -> DrawResult<DB> {
        let area = chart.plotting_area();
        let (width, height) = area.dim_in_pixel();
        let (base_x, _) = area.get_base_pixel();
        let y = area.get_y_range().start;
        let column = |s: f64| (chart.backend_coord(&(s, y)).0 - base_x).clamp(0, width as i32);
        let pixels = area.strip_coord_spec();
        for (a, b) in self.outages {
            let (x0, x1) = (column(*a), column(*b));
            pixels.draw(&Rectangle::new([(x0, 0), (x1, height as i32)], OUTAGE.mix(0.45).filled()))?;
        }
        for (a, b) in self.episodes {
            for (from, to) in hatch((column(*a), 0), (column(*b), height as i32), HATCH) {
                pixels.draw(&PathElement::new([from, to], EPISODE.mix(0.55).stroke_width(1)))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hatch_lines_are_clipped_to_their_rectangle_and_evenly_spaced() {
        // A 10 × 4 rectangle at (0, 0), lines every 4 px: c = 0, 4, 8, 12 (x + y ≤ 14).
        let lines = hatch((0, 0), (10, 4), 4);
        assert_eq!(lines, [((0, 0), (0, 0)), ((0, 4), (4, 0)), ((4, 4), (8, 0)), ((8, 4), (10, 2))]);
        for ((a, b), (c, d)) in &lines {
            assert_eq!(a + b, c + d, "each is one line x + y = c");
            for (x, y) in [(a, b), (c, d)] {
                assert!((0..=10).contains(x) && (0..=4).contains(y));
            }
        }
        // Corners given in any order make the same lines.
        assert_eq!(hatch((10, 4), (0, 0), 4), lines);
        assert!(hatch((5, 5), (5, 5), 4).len() == 1, "a point is one degenerate line");
    }

    #[test]
    fn only_the_kinds_a_run_has_are_in_its_legend() {
        let spans = [(1.0, 2.0)];
        let labels = |s: Shaded| s.entries().into_iter().map(|e| e.label).collect::<Vec<_>>();
        assert_eq!(labels(Shaded { outages: &spans, episodes: &spans }), ["scheduled outage", "observed episode"]);
        assert_eq!(labels(Shaded { outages: &[], episodes: &spans }), ["observed episode"]);
        assert!(labels(Shaded { outages: &[], episodes: &[] }).is_empty());
    }
}
