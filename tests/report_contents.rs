//! What the shared files show of a streamed run: summary.md and report.html carry its time to first token,
//! inter-token latency, decoding rate, goodput and tokens with the figures summary.json has; no table has an
//! empty column, no Markdown leaks into the HTML, and no label of a plot is crowded.

mod common;
use common::{f, Workspace};
use serde_json::Value;

/// Two streaming tiers (a fast one and a slow one), a class on each, goodput on time to first token.
const SCENARIO: &str = r#"name = "shown"
[target]
timeout = "10s"
[[tiers]]
name = "a"
mock = "fast"
model = "m"
[[tiers]]
name = "b"
mock = "slow"
model = "m"
[[classes]]
name = "chat"
weight = 3
tier = "a"
input_tokens = 20
output_tokens = 12
stream = true
[[classes]]
name = "long"
weight = 1
tier = "b"
input_tokens = 20
output_tokens = 12
stream = true
[load]
profile = "constant"
rate = "40/s"
duration = "3s"
[sla]
availability = "90%"
goodput = { ttft = "500ms" }
[[mock.providers]]
name = "fast"
stream = { ttft = { dist = "fixed", value = "5ms" }, inter_token = { dist = "fixed", value = "1ms" } }
[[mock.providers]]
name = "slow"
stream = { ttft = { dist = "fixed", value = "300ms" }, inter_token = { dist = "fixed", value = "10ms" } }
"#;

/// Milliseconds as the reports write them: `2.35s`, `148.7ms`, `0.36ms` (worked out here, not by slacheck).
fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

fn percentile_row(label: &str, p: &Value) -> String {
    let cells: Vec<String> = ["p50", "p90", "p99", "p99.9", "max"].iter().map(|k| ms(f(p, &[k]))).collect();
    format!("| {label} | {} |", cells.join(" | "))
}

/// Each Markdown table of `md`: its rows of cells, the heading first (the rule line left out).
fn tables(md: &str) -> Vec<Vec<Vec<String>>> {
    let mut all: Vec<Vec<Vec<String>>> = Vec::new();
    let mut current: Vec<Vec<String>> = Vec::new();
    for line in md.lines().chain(std::iter::once("")) {
        if line.starts_with('|') {
            let cells: Vec<String> = line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect();
            if !cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':'))) {
                current.push(cells);
            }
        } else if !current.is_empty() {
            all.push(std::mem::take(&mut current));
        }
    }
    all
}

#[test]
fn a_streamed_runs_reports_carry_what_the_terminal_measured_and_nothing_empty() {
    let ws = Workspace::new();
    let r = ws.run(&ws.write("shown.toml", SCENARIO), &["--set", "failover.enabled=false"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let s = r.summary();
    let md = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(r.out.join("report.html")).unwrap();

    // Streams: the terminal's percentiles of time to first token and between tokens, and the decoding rate,
    // overall and for each of the two tiers.
    let st = &s["streaming"];
    for row in [
        percentile_row("time to first token", &st["ttft_ms"]),
        percentile_row("time to first token, from the actual send", &st["ttft_from_send_ms"]),
        percentile_row("inter-token latency", &st["inter_token_ms"]),
    ] {
        assert!(md.contains(&row), "{row}\n{md}");
    }
    let rate = |v: &Value| format!("{:.0}", v.as_f64().unwrap());
    let all = format!(
        "| all answers | {} | {} | {} | {} | {} |",
        ms(f(st, &["ttft_ms", "p50"])),
        ms(f(st, &["ttft_ms", "p99"])),
        ms(f(st, &["inter_token_ms", "p50"])),
        ms(f(st, &["inter_token_ms", "p99"])),
        rate(&st["tokens_per_s"])
    );
    assert!(md.contains(&all), "{all}\n{md}");
    for tier in s["tiers"].as_array().unwrap() {
        let row = format!(
            "| tier {} | {} | {} | {} | {} | {} |",
            tier["name"].as_str().unwrap(),
            ms(f(tier, &["ttft_ms", "p50"])),
            ms(f(tier, &["ttft_ms", "p99"])),
            ms(f(tier, &["inter_token_ms", "p50"])),
            ms(f(tier, &["inter_token_ms", "p99"])),
            rate(&tier["tokens_per_s"])
        );
        assert!(md.contains(&row), "{row}\n{md}");
    }
    // Goodput and tokens, overall and by class.
    let g = &s["goodput"];
    let good = format!("| all requests | {} | {} |", g["good"], g["total"]);
    assert!(md.contains(&good), "{good}\n{md}");
    assert!(md.contains("A good request succeeded with time to first token ≤ 500ms; a tier's share is of"), "{md}");
    for class in ["chat", "long"] {
        let c = &g["classes"][class];
        let row = format!("| class {class} | {} | {} |", c["good"], c["of"]);
        assert!(md.contains(&row), "{row}\n{md}");
    }
    let t = &s["tokens"];
    let tokens = format!("| all requests | {} | {:.0}/s | {} |", t["input"], f(t, &["input_per_s"]), t["output"]);
    assert!(md.contains(&tokens), "{tokens}\n{md}");

    // No column of any table is empty (or all "-").
    let found = tables(&md);
    assert!(found.len() >= 6, "targets, latency, streams, decoding, goodput, tokens…: {}", found.len());
    for table in &found {
        for column in 0..table[0].len() {
            let filled = table[1..].iter().any(|row| row.get(column).is_some_and(|c| !c.is_empty() && c != "-"));
            assert!(filled, "column {:?} of {:?} is empty", table[0][column], table[0]);
        }
    }

    // The same tables in report.html, and no Markdown syntax in its text: inline code is code.
    let page = &html[..html.find("<script").unwrap()];
    let ttft = format!("<td>time to first token</td><td class=\"r\">{}</td>", ms(f(st, &["ttft_ms", "p50"])));
    assert!(page.contains(&ttft), "{ttft}");
    assert!(page.contains("<th>goodput</th>") && page.contains("<th>tokens</th>"), "{page}");
    // The tail names what stands out (here the slow tier b and its class) in code; on a machine so busy that
    // the generator's lag, not the tier, makes the slowest requests, nothing may stand out.
    if md.contains("were of class `long`") {
        assert!(page.contains("were of class <code>long</code>"), "{page}");
    }
    for syntax in ["`", "### ", "| ", "|---", "**"] {
        assert!(!page.contains(syntax), "{syntax:?} in the page's text: {page}");
    }
    let empty_heads = ["<th></th>", "<th class=\"r\"></th>", "<th class=\"c\"></th>"].map(|h| page.matches(h).count());
    let empty_heads: usize = empty_heads.iter().sum();
    assert!(empty_heads <= 1, "only the percentile table's first heading is blank: {empty_heads}");

    // The plots: no label overlaps another, leaves the picture, or has data drawn through it.
    for name in ["timeline.svg", "spectrum.svg", "tiers.svg"] {
        let svg = std::fs::read_to_string(r.out.join(name)).unwrap();
        assert_eq!(slacheck::plot::crowding(&svg), Vec::<String>::new(), "{name}");
    }
}
