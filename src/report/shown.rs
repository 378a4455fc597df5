//! The series `[[scrape]] show` chose, as the reports show them: the timeline's panels (a metric a panel, a
//! selector a line, the unit on the axis), report.html's charts of the same, and a warning for each selector
//! that drew nothing (a metric the endpoint never had, or labels no series of it matched).

use super::Summary;
use crate::plot::{ScrapedLine, ScrapedPanel};
use crate::scrape::shown::{Kind, Shown};
use serde_json::{json, Value};

/// Words a metric's name may end in that are its unit (Prometheus names end with their unit, then `_total` for
/// a counter).
const UNITS: [&str; 6] = ["seconds", "bytes", "tokens", "requests", "errors", "messages"];

/// The lines that draw something, a panel for each endpoint's metric, in the order `show` names them.
pub fn panels(summary: &Summary) -> Vec<ScrapedPanel> {
    let Some(m) = &summary.server_metrics else { return Vec::new() };
    let drawn: Vec<&Shown> = m.shown.iter().filter(|s| s.kind.is_some() && s.series_matched > 0).collect();
    let urls: std::collections::BTreeSet<&str> = drawn.iter().map(|s| s.url.as_str()).collect();
    let mut panels: Vec<(&str, &str, ScrapedPanel)> = Vec::new();
    for s in drawn {
        let line = ScrapedLine { name: line_name(s), time_s: s.time_s.clone(), value: s.value.clone() };
        if let Some((_, _, panel)) = panels.iter_mut().find(|(url, metric, _)| *url == s.url && *metric == s.metric) {
            panel.lines.push(line);
            continue;
        }
        let counter = s.kind == Some(Kind::Counter);
        let what = if counter { "per second between scrapes" } else { "as scraped" };
        let at = if urls.len() > 1 { format!(" at {}", s.url) } else { String::new() };
        let caption = format!("{}{at}, {what}", s.metric);
        let panel = ScrapedPanel { caption, y_desc: y_desc(&s.metric, counter), stepped: counter, lines: vec![line] };
        panels.push((&s.url, &s.metric, panel));
    }
    panels.into_iter().map(|(_, _, p)| p).collect()
}

/// A line's name beside its panel, which names the metric: the selector's labels, or every series.
fn line_name(s: &Shown) -> String {
    let labels = s.selector.trim().strip_prefix(s.metric.as_str()).unwrap_or_default().trim();
    if labels.is_empty() || labels == "{}" {
        "every series".to_string()
    } else {
        labels.to_string()
    }
}

/// The y axis: the unit the metric's name ends in (`tokens/s`), else what the value is (`per second`, `value`).
fn y_desc(metric: &str, counter: bool) -> String {
    let base = metric.strip_suffix("_total").unwrap_or(metric);
    let unit = UNITS.into_iter().find(|u| base.ends_with(&format!("_{u}")) || base.ends_with(&format!(":{u}")));
    match (unit, counter) {
        (Some(unit), true) => format!("{unit}/s"),
        (Some(unit), false) => unit.to_string(),
        (None, true) => "per second".to_string(),
        (None, false) => "value".to_string(),
    }
}

/// report.html's charts of the same panels: each its title, axis, whether stepped, and its lines' columns over
/// the first line's times (the lines of a panel come from one endpoint's scrapes, so share their times).
pub fn chart_data(summary: &Summary) -> Value {
    let panels: Vec<Value> = panels(summary)
        .into_iter()
        .map(|p| {
            let x = p.lines.first().map(|l| l.time_s.clone()).unwrap_or_default();
            let names: Vec<&str> = p.lines.iter().map(|l| l.name.as_str()).collect();
            let columns: Vec<&Vec<Option<f64>>> = p.lines.iter().map(|l| &l.value).collect();
            json!({ "title": p.caption, "y_label": p.y_desc, "stepped": p.stepped, "names": names, "x": x,
                    "columns": columns })
        })
        .collect();
    Value::Array(panels)
}

/// A warning for each `show` selector that drew nothing.
pub fn warnings(summary: &Summary) -> Vec<String> {
    let Some(m) = &summary.server_metrics else { return Vec::new() };
    m.shown
        .iter()
        .filter_map(|s| match (s.kind, s.series_matched) {
            (None, _) => Some(format!(
                "show `{}`: no scrape of {} had a series of {} (nothing drawn; the series it had are in {})",
                s.selector,
                s.url,
                s.metric,
                crate::scrape::FILE_NAME
            )),
            (Some(_), 0) => Some(format!(
                "show `{}`: {} has series of {}, but none matched the labels (nothing drawn)",
                s.selector, s.url, s.metric
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_names_the_unit_a_metric_ends_in() {
        assert_eq!(y_desc("mock_upstream_generation_tokens_total", true), "tokens/s");
        assert_eq!(y_desc("mock_upstream_requests_total", true), "requests/s");
        assert_eq!(y_desc("vllm:num_requests_running", false), "value");
        assert_eq!(y_desc("process_resident_memory_bytes", false), "bytes");
        assert_eq!(y_desc("litellm_proxy_total_requests_metric_total", true), "per second");
    }
}
