//! `GET /metrics`: a provider's counters in the Prometheus text format (version 0.0.4), so that a load test can
//! scrape the mock as it would a gateway or a model server and hold its counts against what its clients saw.
//!
//! The path is the one Prometheus scrapes by default; a provider's own paths are `/v1/…`, `/healthz` and the
//! `/__…` controls, so it takes nothing from them. Every series carries the provider's name as `provider`.

use crate::provider::Stats;
use std::fmt::Write as _;

/// Where the exposition is served.
pub const PATH: &str = "/metrics";

/// The text format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition of one provider's counters.
pub fn exposition(s: &Stats) -> String {
    let mut out = String::new();
    let provider = escape(&s.provider);
    let mut family = |name: &str, help: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{{provider=\"{provider}\"{labels}}} {value}");
        }
    };
    let mut statuses: Vec<(String, u64)> =
        s.by_status.iter().map(|(status, n)| (format!(",status=\"{}\"", escape(status)), *n)).collect();
    statuses.push((",status=\"reset\"".into(), s.resets));
    statuses.push((",status=\"hang\"".into(), s.hangs));
    family(
        "mock_upstream_requests_total",
        "Chat requests, by the answer's status (reset and hang: connections closed or held on purpose).",
        statuses,
    );
    let one = |value: u64| vec![(String::new(), value)];
    family(
        "mock_upstream_generation_tokens_total",
        "Answer tokens generated (a stream's as each chunk is made, whether or not its client still reads).",
        one(s.tokens_out),
    );
    family(
        "mock_upstream_hung_up_total",
        "Answers whose client went away before they ended (generation stopped then).",
        one(s.hung_up),
    );
    family(
        "mock_upstream_hung_up_generation_tokens_total",
        "Answer tokens generated for answers whose client went away before they ended.",
        one(s.tokens_hung_up),
    );
    let faults = s.faults.iter().map(|(kind, n)| (format!(",kind=\"{}\"", escape(kind)), *n)).collect();
    family("mock_upstream_faults_total", "Requests given a fault on purpose, by fault.", faults);
    out
}

/// A label value as the text format wants it: backslash, quote and line break escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_one_line_with_the_provider_and_its_labels() {
        let mut s =
            Stats { provider: "a\"b".into(), tokens_out: 40, hung_up: 2, tokens_hung_up: 7, ..Stats::default() };
        s.by_status.insert("200".into(), 9);
        s.by_status.insert("503".into(), 1);
        s.resets = 3;
        s.faults.insert("error".into(), 1);
        let text = exposition(&s);
        for line in [
            r#"mock_upstream_requests_total{provider="a\"b",status="200"} 9"#,
            r#"mock_upstream_requests_total{provider="a\"b",status="503"} 1"#,
            r#"mock_upstream_requests_total{provider="a\"b",status="reset"} 3"#,
            r#"mock_upstream_requests_total{provider="a\"b",status="hang"} 0"#,
            r#"mock_upstream_generation_tokens_total{provider="a\"b"} 40"#,
            r#"mock_upstream_hung_up_total{provider="a\"b"} 2"#,
            r#"mock_upstream_hung_up_generation_tokens_total{provider="a\"b"} 7"#,
            r#"mock_upstream_faults_total{provider="a\"b",kind="error"} 1"#,
            "# TYPE mock_upstream_faults_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }
}
