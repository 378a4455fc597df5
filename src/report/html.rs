//! `report.html`: one self-contained, interactive page: the verdict and tables, then charts drawn in the browser
//! by the vendored uPlot (hover values, drag to zoom, series toggles). Everything is inlined: the page works
//! offline, from a CI artifact or a file:// URL. Marks are CSS boxes with words, so no symbol font is needed.

use super::*;
use crate::plot::{nines, NinesGrid};
use serde_json::{json, Value};

static UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");
static UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");
static REPORT_JS: &str = include_str!("../../assets/report/report.js");
static REPORT_CSS: &str = include_str!("../../assets/report/report.css");

/// `report.html` for a run: its summary's tables, and charts of the timeline and of `plots`' histograms.
pub fn html(summary: &Summary, plots: &PlotInputs) -> String {
    let data = chart_data(summary, plots);
    let mut body = tables(&markdown(summary));
    charts(&mut body, &data);
    let data = script_json(&data);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>slacheck: {title}</title>\n<style>{UPLOT_CSS}\n{REPORT_CSS}</style></head><body>\n{body}\
         <script type=\"application/json\" id=\"data\">{data}</script>\n<script>{UPLOT_JS}</script>\n\
         <script>{REPORT_JS}</script>\n</body></html>\n",
        title = xml_escape(&summary.scenario.name),
    )
}

/// JSON to put inside a `<script>` element: `</` would end the element early, and JSON allows `\/` for `/`.
fn script_json(value: &Value) -> String {
    value.to_string().replace("</", "<\\/")
}

/// The Markdown summary as HTML: its heading, tables, warnings and notes, with the marks as CSS boxes.
fn tables(md: &str) -> String {
    let mut body = String::new();
    let mut in_table = false;
    let mut in_list = false;
    // The table's columns' alignments, from the delimiter row under its header: a class on each cell.
    let mut aligns: Vec<&str> = Vec::new();
    let lines: Vec<&str> = md.lines().collect();
    for (i, line) in lines.iter().copied().enumerate() {
        let is_row = line.starts_with('|');
        if in_table && !is_row {
            body.push_str("</table>\n");
            in_table = false;
        }
        let item = line.strip_prefix("- ");
        if in_list && item.is_none() {
            body.push_str("</ul>\n");
            in_list = false;
        }
        if let Some(rest) = line.strip_prefix("### ") {
            let _ = writeln!(body, "<h1>{}</h1>", heading(rest));
        } else if let Some(rest) = line.strip_prefix("#### ") {
            let _ = writeln!(body, "<h3>{}</h3>", inline(rest));
        } else if is_row {
            let cells = row_cells(line);
            if is_delimiter(&cells) {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
                let next = lines.get(i + 1).filter(|l| l.starts_with('|')).map(|l| row_cells(l));
                aligns = next.filter(|d| is_delimiter(d)).unwrap_or_default().iter().map(|d| alignment(d)).collect();
            }
            body.push_str("<tr>");
            for (j, c) in cells.into_iter().enumerate() {
                let _ = write!(body, "<{tag}{}>{}</{tag}>", aligns.get(j).copied().unwrap_or(""), marked(c));
            }
            body.push_str("</tr>\n");
        } else if let Some(item) = item {
            if !in_list {
                body.push_str("<ul>\n");
                in_list = true;
            }
            let _ = writeln!(body, "<li>{}</li>", inline(item));
        } else if let Some(warning) = line.strip_prefix("> ⚠️ ") {
            let _ = writeln!(body, "<p class=\"warning\"><b>Warning:</b> {}</p>", inline(warning));
        } else if let Some(strong) = line.trim().strip_prefix("**").and_then(|l| l.strip_suffix("**")) {
            let _ = writeln!(body, "<p><b>{}</b></p>", inline(strong));
        } else if !line.trim().is_empty() {
            let _ = writeln!(body, "<p>{}</p>", inline(line.trim()));
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    if in_list {
        body.push_str("</ul>\n");
    }
    body
}

/// A Markdown table row's cells, trimmed.
fn row_cells(line: &str) -> Vec<&str> {
    line.trim_matches('|').split('|').map(str::trim).collect()
}

/// The row under a table's header that gives each column's alignment: `---`, `---:` or `:-:`.
fn is_delimiter(cells: &[&str]) -> bool {
    cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':')))
}

/// A cell's class attribute for its column's alignment: left is the default (as in Markdown), so it needs none.
fn alignment(delimiter: &str) -> &'static str {
    match (delimiter.starts_with(':'), delimiter.ends_with(':')) {
        (true, true) => " class=\"c\"",
        (false, true) => " class=\"r\"",
        _ => "",
    }
}

/// `slacheck: NAME — ✅ PASS: …` as the name and the verdict in a coloured box.
fn heading(text: &str) -> String {
    let Some((name, verdict)) = text.split_once(" — ") else { return xml_escape(text) };
    let (class, verdict) = [("✅ ", "pass"), ("❌ ", "fail"), ("⚠️ ", "undecided")]
        .iter()
        .find_map(|(mark, class)| verdict.strip_prefix(mark).map(|v| (*class, v)))
        .unwrap_or(("none", verdict));
    format!("{} — <span class=\"verdict {class}\">{}</span>", xml_escape(name), xml_escape(verdict))
}

/// Markdown's inline code (`` `slow` ``) as HTML's, the rest escaped.
fn inline(text: &str) -> String {
    let mut html = String::new();
    for (i, part) in text.split('`').enumerate() {
        // An odd count of backticks leaves the last one open: it is text then, as Markdown reads it.
        let closed = i % 2 == 1 && i < text.matches('`').count();
        match (i % 2, closed) {
            (1, true) => {
                let _ = write!(html, "<code>{}</code>", xml_escape(part));
            }
            (1, false) => {
                let _ = write!(html, "`{}", xml_escape(part));
            }
            _ => html.push_str(&xml_escape(part)),
        }
    }
    html
}

/// Escapes `text` (its inline code as code) and draws Markdown's emoji marks as boxes with a word.
fn marked(text: &str) -> String {
    inline(text)
        .replace("✅", "<span class=\"mark pass\">PASS</span>")
        .replace("❌", "<span class=\"mark fail\">FAIL</span>")
        .replace("⚠️", "<span class=\"mark undecided\">UNDECIDED</span>")
}

/// The chart sections, each a placeholder the script fills from the data.
fn charts(body: &mut String, data: &Value) {
    body.push_str(
        "<noscript><p class=\"warning\">The charts need JavaScript; the PNG and SVG plots beside this file show \
         the same.</p></noscript>\n",
    );
    if data["timeline"]["t"].as_array().is_some_and(|t| !t.is_empty()) {
        let present = |kind: &str| data["shaded"][kind].as_array().is_some_and(|s| !s.is_empty());
        let shades: Vec<&str> = [
            ("outages", "<span class=\"legend-shade outage\"></span>scheduled outage"),
            (
                "episodes",
                "<span class=\"legend-shade episode\"></span>observed episode (failures or failover found from the answers)",
            ),
        ]
        .into_iter()
        .filter(|(kind, _)| present(kind))
        .map(|(_, entry)| entry)
        .collect();
        let shaded = if shades.is_empty() { String::new() } else { format!(" Shaded: {}.", shades.join(" ")) };
        let _ = write!(
            body,
            "<h2>Timeline</h2>\n<p class=\"help\">Hover for values; drag to zoom, double-click to reset; click a \
             legend entry to hide or show it.{shaded}</p>\n<div class=\"chart\" id=\"chart-rate\"></div>\n\
             <div class=\"chart\" id=\"chart-latency\"></div>\n",
        );
        if data["tokens"] == true {
            body.push_str("<div class=\"chart\" id=\"chart-tokens\"></div>\n");
        }
        for i in 0..data["scraped"].as_array().map_or(0, Vec::len) {
            let _ = writeln!(body, "<div class=\"chart\" id=\"chart-scraped-{i}\"></div>");
        }
        if data["served_by"]["names"].as_array().is_some_and(|n| !n.is_empty()) {
            body.push_str("<h2>By upstream</h2>\n<div class=\"chart\" id=\"chart-served\"></div>\n");
        }
    }
    for (i, spectrum) in data["spectra"].as_array().into_iter().flatten().enumerate() {
        let heading = spectrum["heading"].as_str().unwrap_or_default();
        let _ =
            writeln!(body, "<h2>{}</h2>\n<div class=\"chart\" id=\"chart-spectrum-{i}\"></div>", xml_escape(heading));
    }
}

/// What the charts draw, as JSON: the per-second timeline, who served each second, the shaded spans, the
/// latency spectra (overall, and per tier when there are tiers), and the series `[[scrape]] show` chose.
fn chart_data(summary: &Summary, plots: &PlotInputs) -> Value {
    let rows = &summary.timeline;
    let column = |f: &dyn Fn(&TimelineRow) -> Value| Value::Array(rows.iter().map(f).collect());
    let timeline = json!({
        "t": column(&|r| json!(r.t_s)),
        "offered": column(&|r| json!(r.offered)),
        "sent": column(&|r| json!(r.sent)),
        "ok": column(&|r| json!(r.ok)),
        "failed": column(&|r| json!(r.error + r.timeout)),
        "not_sent": column(&|r| json!(r.not_sent)),
        "failovers": column(&|r| json!(r.failovers)),
        "p50_ms": column(&|r| json!(r.p50_ms)),
        "p99_ms": column(&|r| json!(r.p99_ms)),
        "good": column(&|r| json!(r.good)),
        "input_tokens": column(&|r| json!(r.input_tokens)),
        "output_tokens": column(&|r| json!(r.output_tokens)),
    });
    let names: std::collections::BTreeSet<&String> = rows.iter().flat_map(|r| r.served_by.keys()).collect();
    let served_columns: Vec<Value> =
        names.iter().map(|n| column(&|r| json!(r.served_by.get(*n).copied().unwrap_or(0)))).collect();
    let episodes = summary.failover_episodes.list.iter().filter(|e| !e.isolated);
    let limits: Vec<(String, f64, f64)> = summary
        .scenario
        .sla
        .overall()
        .latency()
        .into_iter()
        .map(|(name, q, limit)| (name.to_string(), q, limit.as_secs_f64() * 1000.0))
        .collect();
    let mut spectra = vec![spectrum(
        "Latency by percentile",
        &format!("{}: latency by percentile", summary.scenario.name),
        &[("latency (from intended send)", &plots.latency), ("service time (from actual send)", &plots.service_time)],
        &limits,
    )];
    if plots.tiers.len() > 1 {
        let series: Vec<(&str, &Histogram<u64>)> = plots.tiers.iter().map(|(n, h)| (n.as_str(), h)).collect();
        spectra.push(spectrum("By tier", "Latency by serving tier (end to end)", &series, &[]));
    }
    json!({
        "goodput": summary.goodput.is_some(),
        "tokens": summary.tokens.input + summary.tokens.output > 0,
        "timeline": timeline,
        "served_by": { "names": names, "columns": served_columns },
        "shaded": {
            "outages": summary.outages.iter().map(|o| [o.start_s, o.end_s]).collect::<Vec<_>>(),
            "episodes": episodes.map(|e| [e.start_ms / 1000.0, e.end_ms / 1000.0]).collect::<Vec<_>>(),
        },
        "spectra": spectra,
        "scraped": super::shown::chart_data(summary),
    })
}

/// One spectrum: latency (ms) of each non-empty series on the nines grid, with each SLA limit as a point at its
/// percentile (added to the grid when it falls between its steps).
fn spectrum(heading: &str, title: &str, series: &[(&str, &Histogram<u64>)], limits: &[(String, f64, f64)]) -> Value {
    let series: Vec<_> = series.iter().filter(|(_, h)| !h.is_empty()).collect();
    let grid = NinesGrid::for_largest(series.iter().map(|(_, h)| h.len()).max().unwrap_or(0));
    // 99% is 2 nines, though 1 − 0.99 is not exactly 0.01 in floating point.
    let limit_x = |q: f64| (nines(q) * 1e6).round() / 1e6;
    let mut xs: Vec<f64> = grid.xs().chain(limits.iter().map(|(_, q, _)| limit_x(*q))).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let lines: Vec<Value> = series
        .iter()
        .map(|(name, h)| json!({ "name": name, "ms": xs.iter().map(|x| grid.ms_at(h, *x)).collect::<Vec<_>>() }))
        .collect();
    let limits: Vec<Value> =
        limits.iter().map(|(name, q, ms)| json!({ "name": name, "x": limit_x(*q), "ms": ms })).collect();
    json!({ "heading": heading, "title": title, "x": xs, "series": lines, "limits": limits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_and_the_marks_are_boxes_with_words() {
        assert_eq!(
            heading("slacheck: a<b — ❌ FAIL: 1 of 2 SLA targets missed"),
            "slacheck: a&lt;b — <span class=\"verdict fail\">FAIL: 1 of 2 SLA targets missed</span>"
        );
        assert_eq!(heading("slacheck: x — no targets"), "slacheck: x — <span class=\"verdict none\">no targets</span>");
        let page =
            tables("| SLA target | |\n|---|:-:|\n| p99 | ✅ |\n| p99.9 | ⚠️ |\n\n> ⚠️ late & slow\n- one\n- two\n");
        assert_eq!(
            page,
            "<table>\n<tr><th>SLA target</th><th class=\"c\"></th></tr>\n\
             <tr><td>p99</td><td class=\"c\"><span class=\"mark pass\">PASS</span></td></tr>\n\
             <tr><td>p99.9</td><td class=\"c\"><span class=\"mark undecided\">UNDECIDED</span></td></tr>\n</table>\n\
             <p class=\"warning\"><b>Warning:</b> late &amp; slow</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        );
    }

    #[test]
    fn inline_code_is_code_and_nothing_of_markdown_is_left() {
        assert_eq!(
            tables("- Tail: 94% were served by `mid<1>`, which served 11%\n"),
            "<ul>\n<li>Tail: 94% were served by <code>mid&lt;1&gt;</code>, which served 11%</li>\n</ul>\n"
        );
        assert_eq!(inline("a `b` c `d` e"), "a <code>b</code> c <code>d</code> e");
        assert_eq!(tables("#### The gateway's <metrics>\n"), "<h3>The gateway&apos;s &lt;metrics&gt;</h3>\n");
        assert_eq!(tables("**errors: 3 < 5**\n"), "<p><b>errors: 3 &lt; 5</b></p>\n");
        assert_eq!(inline("one ` alone"), "one ` alone", "a backtick without its pair is text");
        assert_eq!(
            tables("| class `x` |\n|---|\n| `y` |\n"),
            "<table>\n<tr><th>class <code>x</code></th></tr>\n<tr><td><code>y</code></td></tr>\n</table>\n"
        );
    }

    #[test]
    fn each_column_is_aligned_as_the_delimiter_row_says() {
        assert_eq!(
            tables("| target | limit | met | note |\n|---|---:|:-:|:--|\n| p99 | 1 s | yes | a long note |\n"),
            "<table>\n<tr><th>target</th><th class=\"r\">limit</th><th class=\"c\">met</th><th>note</th></tr>\n\
             <tr><td>p99</td><td class=\"r\">1 s</td><td class=\"c\">yes</td><td>a long note</td></tr>\n</table>\n"
        );
        // A table without a delimiter row is left-aligned, and a row of empty cells is a row, not a delimiter.
        assert_eq!(
            tables("| a | b |\n| | |\n"),
            "<table>\n<tr><th>a</th><th>b</th></tr>\n<tr><td></td><td></td></tr>\n</table>\n"
        );
    }

    #[test]
    fn the_timeline_legend_names_the_shaded_kinds_the_run_has() {
        let data = |outages: Value, episodes: Value| {
            json!({ "timeline": { "t": [0, 1] }, "tokens": false, "served_by": { "names": [] }, "spectra": [],
                    "shaded": { "outages": outages, "episodes": episodes } })
        };
        let page = |d: Value| {
            let mut body = String::new();
            charts(&mut body, &d);
            body
        };
        let both = page(data(json!([[1.0, 2.0]]), json!([[1.0, 2.5]])));
        assert!(both.contains("legend-shade outage\"></span>scheduled outage"), "{both}");
        assert!(both.contains("legend-shade episode\"></span>observed episode"), "{both}");
        let outage = page(data(json!([[1.0, 2.0]]), json!([])));
        assert!(outage.contains("scheduled outage") && !outage.contains("episode"), "{outage}");
        let none = page(data(json!([]), json!([])));
        assert!(!none.contains("Shaded") && !none.contains("legend-shade"), "{none}");
    }

    #[test]
    fn a_name_cannot_end_the_data_script_early() {
        let data = json!({ "names": ["</script><script>alert(1)</script>"] });
        let text = script_json(&data);
        assert!(!text.contains("</"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), data);
    }

    #[test]
    fn a_spectrum_has_each_series_on_the_grid_and_each_limit_at_its_percentile() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap(); // 1 ms … 1000 ms
        }
        let empty = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let s = spectrum("h", "t", &[("a", &h), ("none", &empty)], &[("p99.5".into(), 0.995, 700.0)]);
        let xs: Vec<f64> = s["x"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        // 1,000 values: 3 nines at 40 steps a decade, and 99.5% (2.30103 nines) between two steps.
        assert_eq!(xs.len(), 121 + 1);
        assert_eq!(xs[0], 0.0);
        assert_eq!(*xs.last().unwrap(), 3.0);
        assert_eq!(s["series"].as_array().unwrap().len(), 1, "the empty series is left out");
        let at = |x: f64| xs.iter().position(|v| (v - x).abs() < 1e-9).unwrap();
        let ms = |i: usize| s["series"][0]["ms"][i].as_f64().unwrap();
        // The 990th of 1,000 values is 990 ms (to the histogram's 3 digits). 2.30103 nines, rounded, is a hair
        // above 99.5%: the 996th value.
        assert!((ms(at(2.0)) - 990.0).abs() <= 1.0, "{}", ms(at(2.0)));
        assert!((ms(at(2.30103)) - 996.0).abs() <= 1.0, "{}", ms(at(2.30103)));
        assert_eq!(s["limits"], json!([{ "name": "p99.5", "x": 2.30103, "ms": 700.0 }]));
    }
}
