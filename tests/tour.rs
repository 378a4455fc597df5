//! The README's short tour is a real run of scenarios/burst.toml: this runs it and checks that the tour lists
//! the same lines in the same order, figures aside, and that the terminal summary stays short (16 lines at
//! most by default, when the machine let the generator keep its schedule).

mod common;
use std::path::Path;
use std::process::Command;

/// A line with its figures replaced by `#` (a number with its unit: `31.4ms`, `30.1s`, `429.6/s`, `99.977%`)
/// and its runs of spaces by one, so that only its words, marks and order remain.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '.') {
                chars.next();
            }
            // A unit right after the number belongs to the figure ("ms", "s"), not a word ("seconds").
            let rest: String = chars.clone().take(3).collect();
            let unit = ["ms", "s"]
                .into_iter()
                .find(|u| rest.starts_with(u) && !rest[u.len()..].chars().next().is_some_and(|n| n.is_alphabetic()));
            for _ in 0..unit.map_or(0, str::len) {
                chars.next();
            }
            out.push('#');
        } else if c == ' ' && out.ends_with(' ') {
        } else {
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

/// What a run's summary says, shaped; the results folder's name left out. On a machine too busy for the
/// generator to keep its schedule or for the mock to answer in time (`busy`), what only that adds is left out too (its warning, where the tail came
/// from), and the marks and the verdict's word, which a busy machine can turn from a pass to a miss.
fn shaped(text: &str, busy: bool) -> Vec<String> {
    let verdicts = ["  PASS:", "  FAIL:", "  UNDECIDED:", "  GENERATOR-BOUND:"];
    text.lines()
        .filter(|l| !busy || !(l.starts_with("  WARNING: the generator fell behind") || l.starts_with("  tail, ")))
        .map(|l| l.replace("; the generator fell behind (the warning below)", ""))
        .map(|l| match l {
            l if l.starts_with("  results: ") => "  results: …".to_string(),
            l if busy && verdicts.iter().any(|v| l.starts_with(v)) => "  (the verdict)".to_string(),
            l if busy => shape(&l.replace(['✓', '✗', '?'], "·")),
            l => shape(&l),
        })
        .collect()
}

#[test]
fn a_figure_is_its_shape_and_words_stay() {
    assert_eq!(shape("  latency   p50    31.4ms  p99.9   240.0ms"), " latency p# # p# #");
    assert_eq!(shape("12888 requests in 30.1s (offered 429.6/s)"), "# requests in # (offered #/s)");
    assert_eq!(shape("99.977% [99.932%, 99.992%] 3 seconds"), "#% [#%, #%] # seconds");
}

#[test]
fn the_readme_tour_is_what_burst_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = "$ cargo run --release -- run scenarios/burst.toml\n";
    let tour = readme.split(command).nth(1).expect("the tour's command").split("```").next().unwrap();

    let ws = common::Workspace::new();
    let out = ws.path().join("burst");
    let o = Command::new(common::bin())
        .args(["run", "scenarios/burst.toml", "--out"])
        .arg(&out)
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The mock's answers take 30 ms at the median and 150 ms at p99: a miss here is the machine's, as is a
    // generator that fell behind.
    let busy = summary["generator"]["overloaded"] == true || summary["outcome"] != "pass";
    if !busy {
        assert!(stdout.lines().count() <= 16, "burst prints {} lines:\n{stdout}", stdout.lines().count());
    }
    assert_eq!(shaped(tour, busy), shaped(&stdout, busy), "README tour:\n{tour}\nthe run:\n{stdout}");
    progress_lines_count_what_the_summary_counts(&String::from_utf8_lossy(&o.stderr), &summary);
}

/// stderr is a pipe here, not a terminal: a 30 s run prints a progress line at 10 s and 20 s (and perhaps at
/// 30 s), whose counts only grow and never pass the summary's.
fn progress_lines_count_what_the_summary_counts(stderr: &str, summary: &serde_json::Value) {
    let number_before = |line: &str, words: &str| -> u64 {
        let head = line.split(words).next().unwrap();
        head.rsplit([' ', '(']).next().unwrap().parse().unwrap_or_else(|_| panic!("a count before {words:?}: {line}"))
    };
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("slacheck: ") && l.contains(" s of 30 s")).collect();
    assert!(lines.len() >= 2, "a progress line every 10 s:\n{stderr}");
    let ended: Vec<u64> = lines.iter().map(|l| number_before(l, " requests ended")).collect();
    let failed: Vec<u64> = lines.iter().map(|l| number_before(l, " errors or timeouts")).collect();
    let requests = summary["counts"]["total"].as_u64().unwrap();
    let target_failures = summary["counts"]["error"].as_u64().unwrap() + summary["counts"]["timeout"].as_u64().unwrap();
    assert!(ended.windows(2).all(|w| w[0] <= w[1]) && ended[0] > 0, "{ended:?}");
    assert!(*ended.last().unwrap() <= requests, "{ended:?} of {requests}");
    assert!(failed.windows(2).all(|w| w[0] <= w[1]), "{failed:?}");
    assert!(*failed.last().unwrap() <= target_failures, "{failed:?} of {target_failures}");
}
