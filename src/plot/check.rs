//! Whether a chart's words can be read: no two labels overlap, every label is inside the picture, and no line of
//! data runs through a label (so legends and notes stay off the data). Read from the chart's SVG, each label's
//! box measured in the bundled font at the size the PNG draws it. The tests run it on every kind of chart, and
//! on a real run's.

/// Everything crowded in `svg`, one sentence each; empty when every label is clear.
pub fn crowding(svg: &str) -> Vec<String> {
    super::register_font();
    let labels: Vec<Label> = elements(svg, "text").filter_map(|(attrs, content)| Label::of(attrs, content)).collect();
    let (width, height) = elements(svg, "svg")
        .next()
        .map(|(a, _)| (number(a, "width").unwrap_or(f64::MAX), number(a, "height").unwrap_or(f64::MAX)))
        .unwrap_or((f64::MAX, f64::MAX));
    let mut problems = Vec::new();
    for (i, a) in labels.iter().enumerate() {
        if a.left < -0.5 || a.top < -0.5 || a.right > width + 0.5 || a.bottom > height + 0.5 {
            problems.push(format!("«{}» reaches out of the {width}×{height} picture", a.text));
        }
        for b in &labels[i + 1..] {
            if overlap(a.left, a.right, b.left, b.right) > 0.5 && overlap(a.top, a.bottom, b.top, b.bottom) > 0.5 {
                problems.push(format!("«{}» overlaps «{}»", a.text, b.text));
            }
        }
    }
    // A line of data is a polyline of three points or more (axes, ticks and legend swatches have two).
    for (attrs, _) in elements(svg, "polyline") {
        let points = points(attrs);
        if points.len() < 3 {
            continue;
        }
        for label in &labels {
            if points.windows(2).any(|w| label.crossed_by(w[0], w[1])) {
                problems.push(format!("a line of data runs through «{}»", label.text));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

fn overlap(a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    a1.min(b1) - a0.max(b0)
}

/// A label's text and the box it covers, in the picture's pixels.
struct Label {
    text: String,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Label {
    fn of(attrs: &str, content: &str) -> Option<Self> {
        let text = unescape(content.trim());
        if text.is_empty() {
            return None;
        }
        let (x, y, svg_size) = (number(attrs, "x")?, number(attrs, "y")?, number(attrs, "font-size")?);
        // plotters writes a font of size s as font-size s ÷ 1.24, and lays text out at s (plotters-svg).
        let font = plotters::style::FontDesc::new(
            plotters::style::FontFamily::SansSerif,
            svg_size * 1.24,
            plotters::style::FontStyle::Normal,
        );
        let (w, h) = font.box_size(&text).ok()?;
        let (w, h) = (f64::from(w), f64::from(h));
        let left = match attribute(attrs, "text-anchor") {
            Some("middle") => x - w / 2.0,
            Some("end") => x - w,
            _ => x,
        };
        let top = match attribute(attrs, "dy") {
            Some("0.76em") => y,
            Some("0.5ex") => y - h / 2.0,
            Some("-0.5ex") => y - h,
            _ => y - 0.8 * h,
        };
        let mut corners = [(left, top), (left + w, top), (left, top + h), (left + w, top + h)];
        if let Some((angle, cx, cy)) = rotation(attrs) {
            let (sin, cos) = angle.to_radians().sin_cos();
            for (px, py) in &mut corners {
                let (dx, dy) = (*px - cx, *py - cy);
                (*px, *py) = (cx + dx * cos - dy * sin, cy + dx * sin + dy * cos);
            }
        }
        let xs = corners.map(|c| c.0);
        let ys = corners.map(|c| c.1);
        let min = |v: [f64; 4]| v.into_iter().fold(f64::MAX, f64::min);
        let max = |v: [f64; 4]| v.into_iter().fold(f64::MIN, f64::max);
        Some(Label { text, left: min(xs), right: max(xs), top: min(ys), bottom: max(ys) })
    }

    fn crossed_by(&self, a: (f64, f64), b: (f64, f64)) -> bool {
        crosses((self.left, self.top, self.right, self.bottom), a, b)
    }
}

/// Whether the segment from `a` to `b` passes through the box (left, top, right, bottom), its edges aside
/// (tried every pixel of the segment).
pub(super) fn crosses((left, top, right, bottom): (f64, f64, f64, f64), a: (f64, f64), b: (f64, f64)) -> bool {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    (0..=steps).any(|i| {
        let t = i as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        x > left + 1.0 && x < right - 1.0 && y > top + 1.0 && y < bottom - 1.0
    })
}

/// Each `<tag …>content</tag>` (or `<tag …/>`) in `svg`: its attributes' text and its content.
fn elements<'a>(svg: &'a str, tag: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let close = format!("</{tag}>");
    let starts = svg
        .match_indices('<')
        .map(|(at, _)| at)
        .filter(move |at| svg[at + 1..].starts_with(tag) && svg[at + 1 + tag.len()..].starts_with(' '));
    starts.filter_map(move |at| {
        let rest = &svg[at + tag.len() + 2..];
        let end = rest.find('>')?;
        let attrs = rest[..end].trim_end_matches('/');
        let content = match rest[..end].ends_with('/') {
            true => "",
            false => rest[end + 1..].find(close.as_str()).map(|c| &rest[end + 1..end + 1 + c]).unwrap_or(""),
        };
        Some((attrs, content))
    })
}

fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = format!(" {attrs}").find(&key)?;
    let rest = &attrs[at + key.len() - 1..];
    rest.split('"').next()
}

fn number(attrs: &str, name: &str) -> Option<f64> {
    attribute(attrs, name)?.parse().ok()
}

/// `rotate(angle, cx, cy)` of a `transform` attribute.
fn rotation(attrs: &str) -> Option<(f64, f64, f64)> {
    let inner = attribute(attrs, "transform")?.strip_prefix("rotate(")?.strip_suffix(')')?;
    let v: Vec<f64> = inner.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    match v[..] {
        [angle, cx, cy] => Some((angle, cx, cy)),
        [angle] => Some((angle, 0.0, 0.0)),
        _ => None,
    }
}

fn points(attrs: &str) -> Vec<(f64, f64)> {
    let Some(text) = attribute(attrs, "points") else { return Vec::new() };
    text.split_whitespace()
        .filter_map(|p| p.split_once(',').and_then(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?))))
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: i32, y: i32, anchor: &str, dy: &str, content: &str) -> String {
        format!(
            "<text x=\"{x}\" y=\"{y}\" dy=\"{dy}\" text-anchor=\"{anchor}\" font-family=\"sans-serif\" \
             font-size=\"11.29\" opacity=\"1\" fill=\"#000000\">\n{content}\n</text>"
        )
    }

    fn svg(body: &str) -> String {
        format!("<svg width=\"400\" height=\"300\" viewBox=\"0 0 400 300\" xmlns=\"http://www.w3.org/2000/svg\">\n{body}</svg>")
    }

    #[test]
    fn labels_stacked_closer_than_their_height_overlap() {
        // Right-aligned axis labels, centred on their ticks, 4 px apart: "700ms" and "800ms" collide.
        let crowded = svg(&(text(80, 100, "end", "0.5ex", "700ms") + &text(80, 96, "end", "0.5ex", "800ms")));
        assert_eq!(crowding(&crowded), ["«700ms» overlaps «800ms»"]);
        // 30 px apart, they do not.
        let clear = svg(&(text(80, 100, "end", "0.5ex", "700ms") + &text(80, 70, "end", "0.5ex", "800ms")));
        assert!(crowding(&clear).is_empty(), "{:?}", crowding(&clear));
    }

    #[test]
    fn a_label_out_of_the_picture_and_a_line_through_a_label_are_found() {
        let out = svg(&text(395, 20, "start", "0.76em", "observed failover episode"));
        assert_eq!(crowding(&out), ["«observed failover episode» reaches out of the 400×300 picture"]);
        let legend = text(200, 50, "start", "0.5ex", "offered");
        let through = "<polyline fill=\"none\" points=\"150,50 220,50 300,50 \"/>\n";
        assert_eq!(crowding(&svg(&(legend.clone() + through))), ["a line of data runs through «offered»"]);
        // A two-point line (an axis, a tick, a legend's swatch) is not data.
        let swatch = "<polyline fill=\"none\" points=\"150,50 300,50 \"/>\n";
        assert!(crowding(&svg(&(legend.clone() + swatch))).is_empty());
        let below = "<polyline fill=\"none\" points=\"150,80 220,80 300,80 \"/>\n";
        assert!(crowding(&svg(&(legend + below))).is_empty());
    }

    #[test]
    fn a_rotated_label_covers_its_turned_box() {
        // An axis title turned 270°: it runs up the left edge, so a label to its right is clear of it, and one
        // along the same column is not.
        let title = "<text x=\"15\" y=\"150\" dy=\"0.76em\" text-anchor=\"middle\" font-size=\"12.1\" \
                     transform=\"rotate(270, 15, 150)\">\nlatency (log scale)\n</text>\n";
        let beside = text(90, 150, "end", "0.5ex", "100ms");
        assert!(
            crowding(&svg(&format!("{title}{beside}"))).is_empty(),
            "{:?}",
            crowding(&svg(&format!("{title}{beside}")))
        );
        let on = text(60, 150, "end", "0.5ex", "100ms");
        assert_eq!(crowding(&svg(&format!("{title}{on}"))), ["«latency (log scale)» overlaps «100ms»"]);
    }

    #[test]
    fn escaped_text_is_read_as_written() {
        assert_eq!(unescape("p99 &lt; 1s &amp; ok"), "p99 < 1s & ok");
        assert_eq!(attribute("x=\"1\" y=\"2\" text-anchor=\"end\"", "y"), Some("2"));
        assert_eq!(attribute("dy=\"0.5ex\" y=\"7\"", "y"), Some("7"), "not the y of dy");
        assert_eq!(rotation("transform=\"rotate(270, 15, 196)\""), Some((270.0, 15.0, 196.0)));
    }
}
