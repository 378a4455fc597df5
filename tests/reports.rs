//! Report files: the interval log's round trip and compatibility, JUnit and Markdown.

mod common;
use common::{f, Workspace};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use std::time::Duration;

#[test]
fn the_interval_log_holds_exactly_what_the_summary_reports() {
    let ws = Workspace::new();
    let s = ws.write(
        "log.toml",
        "name = \"log\"\n[target]\nmock = \"p\"\n[load]\nprofile = \"constant\"\nrate = \"300/s\"\nduration = \"3s\"\n\
         [[mock.providers]]\nname = \"p\"\nlatency = { dist = \"lognormal\", p50 = \"5ms\", p99 = \"40ms\" }\n",
    );
    let r = ws.run(&s, &[]);
    let summary = r.summary();
    let log = slacheck::hlog::read(&r.out.join("latency.hlog")).unwrap();
    assert!(log.start_time.is_some());
    let overall = log.total(slacheck::hlog::OVERALL).unwrap();
    assert_eq!(overall.len() as f64, f(&summary, &["latency_ms", "count"]));
    for (q, key) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")] {
        assert_eq!(overall.value_at_quantile(q) as f64 / 1000.0, f(&summary, &["latency_ms", key]), "{key}");
    }
    assert_eq!(log.total("service").unwrap().len(), overall.len());
    assert_eq!(log.total("tier.p").unwrap().len(), overall.len());
    assert_eq!(log.total("class.default").unwrap().len(), overall.len());
    // One interval per second of the run, each a second long.
    let intervals = &log.series[slacheck::hlog::OVERALL];
    assert!((3..=5).contains(&intervals.len()), "{} intervals", intervals.len());
    assert!(intervals.iter().all(|i| i.length == Duration::from_secs(1)));
}

#[test]
fn logs_written_by_other_hdrhistogram_implementations_are_read() {
    // jHiccup (Java): 38 intervals, 30,874 values in nanoseconds, the longest pause about 986 ms.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jHiccup-2.0.7S.logV2.hlog");
    let log = slacheck::hlog::read(&path).unwrap();
    let intervals = &log.series[slacheck::hlog::OVERALL];
    assert_eq!(intervals.len(), 38);
    let total = log.total(slacheck::hlog::OVERALL).unwrap();
    assert_eq!(total.len(), 30_874);
    assert!((950_000_000..1_000_000_000).contains(&total.max()), "max {}", total.max());

    // The Rust crate's own writer, with tags slacheck does not use.
    let mut bytes = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut bytes, &mut serializer).unwrap();
        for (i, tag) in ["read", "write", "read"].iter().enumerate() {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
            h.record_n(1000 * (i as u64 + 1), 10).unwrap();
            writer.write_histogram(&h, Duration::from_secs(i as u64), Duration::from_secs(1), Tag::new(tag)).unwrap();
        }
    }
    let log = slacheck::hlog::parse(&bytes).unwrap();
    assert_eq!(log.series.keys().collect::<Vec<_>>(), ["read", "write"]);
    assert_eq!(log.total("read").unwrap().len(), 20);
    assert_eq!(log.total("write").unwrap().max(), 2000);
    assert!(slacheck::hlog::parse(b"not a log\n").is_err());

    // The same log without its final newline (as some writers and editors leave it) reads the same.
    let cut = bytes.strip_suffix(b"\n").expect("the crate ends its log with a newline");
    let log = slacheck::hlog::parse(cut).unwrap();
    assert_eq!(log.total("read").unwrap().len(), 20);
    assert_eq!(log.total("write").unwrap().len(), 10);
}

/// Writes an interval log of `seconds` one-second intervals of lognormal latencies (median 20 ms) × `scale`.
fn synthetic_log(path: &std::path::Path, seed: u64, scale: f64) {
    use rand::SeedableRng;
    use rand_distr::{Distribution, LogNormal};
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let dist = LogNormal::new(20_000f64.ln(), 0.6).unwrap();
    let mut sink = slacheck::hlog::HlogSink::create(path, std::time::SystemTime::UNIX_EPOCH, &[]).unwrap();
    for s in 0..20 {
        let mut h = slacheck::measure::new_histogram();
        for _ in 0..500 {
            h.record((dist.sample(&mut rng) * scale) as u64).unwrap();
        }
        sink.write(&h, Duration::from_secs(s), Duration::from_secs(1), slacheck::hlog::OVERALL).unwrap();
    }
    sink.finish().unwrap();
}

fn compare(ws: &Workspace, before: &std::path::Path, after: &std::path::Path) -> (i32, String, String) {
    let o = std::process::Command::new(common::bin())
        .args(["compare"])
        .arg(before)
        .arg(after)
        .arg("--out")
        .arg(ws.path().join("cmp"))
        .output()
        .unwrap();
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

#[test]
fn compare_calls_a_real_regression_and_not_noise() {
    let ws = Workspace::new();
    let (base, noisy, slow) = (ws.path().join("base.hlog"), ws.path().join("noisy.hlog"), ws.path().join("slow.hlog"));
    synthetic_log(&base, 1, 1.0);
    synthetic_log(&noisy, 2, 1.0);
    synthetic_log(&slow, 3, 1.3);
    let (code, out, _) = compare(&ws, &base, &noisy);
    assert_eq!(code, 0, "the same distribution with another seed is noise: {out}");
    assert!(out.contains("no regression"), "{out}");
    let (code, out, _) = compare(&ws, &base, &slow);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("REGRESSED"), "{out}");
    let p99 = out.lines().find(|l| l.trim_start().starts_with("p99 ")).unwrap();
    assert!(p99.ends_with("regressed"), "{p99}");
    // The 95% interval of the relative change covers the true +30%.
    let ci = &p99[p99.find('[').unwrap() + 1..p99.find(']').unwrap()];
    let bounds: Vec<f64> = ci.split(',').map(|b| b.trim().trim_end_matches('%').parse().unwrap()).collect();
    assert!(bounds[0] > 0.0 && bounds[0] <= 30.0 && bounds[1] >= 30.0, "{p99}");
    assert_png(&ws.path().join("cmp/compare.png"), 1000, 600);
    let md = std::fs::read_to_string(ws.path().join("cmp/compare.md")).unwrap();
    assert!(md.contains("❌ REGRESSED") && md.contains("| p99 |"), "{md}");
    let (code, _, err) = compare(&ws, &ws.path().join("missing"), &base);
    assert_eq!(code, 2);
    assert!(err.contains("no interval log"), "{err}");
}

#[test]
fn compare_reads_results_folders_and_their_summaries() {
    let ws = Workspace::new();
    let text = "name = \"twice\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"2s\"\n";
    // Two runs of one scenario, the first read from its folder and the second from its summary.json.
    let (first, second) = (ws.run(&ws.write("first.toml", text), &[]), ws.run(&ws.write("second.toml", text), &[]));
    let (code, out, err) = compare(&ws, &first.out, &second.out.join("summary.json"));
    if [&first, &second].iter().any(|run| run.summary()["generator"]["overloaded"] == true) {
        // A machine too busy for 200/s: the pair is not judged, exit 3, for the reason the conclusion names.
        assert_eq!(code, 3, "{out}{err}");
        assert!(out.contains("NOT JUDGED: the generator fell behind"), "{out}");
    } else {
        // Two seconds give too few whole intervals to judge latency: as for an SLA verdict, that is exit 1.
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains("INSUFFICIENT DATA"), "{out}");
    }
    assert!(out.contains("availability") && out.contains("100.000%"), "{out}");
}

/// compare questions the pair: an interrupted run is not judged unless allowed, and two different tests are
/// judged with a warning naming what differs.
#[test]
fn compare_refuses_an_interrupted_run_and_names_what_makes_two_runs_different_tests() {
    let ws = Workspace::new();
    let text = |rate: &str| {
        format!(
            "name = \"pair\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"{rate}\"\nduration = \"6s\"\n\
             [sla]\navailability = \"99%\"\n"
        )
    };
    let (first, second) =
        (ws.run(&ws.write("a.toml", &text("100/s")), &[]), ws.run(&ws.write("b.toml", &text("100/s")), &[]));
    // The second run, as a signal would have left it: marked incomplete.
    let mut summary = second.summary();
    summary["complete"] = serde_json::json!(false);
    std::fs::write(second.out.join("summary.json"), serde_json::to_vec(&summary).unwrap()).unwrap();
    let (code, out, err) = compare(&ws, &first.out, &second.out);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("NOT JUDGED: the after run was interrupted"), "{out}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path().join("cmp/compare.json")).unwrap()).unwrap();
    assert_eq!((json["incomplete"].clone(), json["comparable"].clone()), (serde_json::json!(["after"]), true.into()));
    assert_eq!(json["outcome"], "not-judged", "the one field a script reads");
    let o = std::process::Command::new(common::bin())
        .args(["compare", "--allow-incomplete", "--out"])
        .arg(ws.path().join("cmp2"))
        .args([&first.out, &second.out])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    // Judged now, unless the generator fell behind on a machine too busy for 100/s: that is exit 3 for its own
    // reason, which the conclusion names.
    let busy = |runs: &[&common::Ran]| runs.iter().any(|r| r.summary()["generator"]["overloaded"] == true);
    if busy(&[&first, &second]) {
        assert!(o.status.code() == Some(3) && out.contains("NOT JUDGED: the generator fell behind"), "{out}");
    } else {
        assert_ne!(o.status.code(), Some(3), "judged: {out}");
    }
    assert!(out.contains("WARNING: the after run was interrupted"), "{out}");
    // Another rate is another test: judged, with the warning, and compare.json says so.
    let third = ws.run(&ws.write("c.toml", &text("50/s")), &[]);
    let (code, out, err) = compare(&ws, &first.out, &third.out);
    let judged = if busy(&[&first, &third]) { [3, 3] } else { [0, 1] };
    assert!(judged.contains(&code), "{code} {out}{err}");
    assert!(
        out.contains("WARNING: these runs are not the same test: profile and rate (rate: 100/s before, 50/s after)"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path().join("cmp/compare.json")).unwrap()).unwrap();
    assert_eq!(json["comparable"], false);
    let md = std::fs::read_to_string(ws.path().join("cmp/compare.md")).unwrap();
    assert!(md.contains("> ⚠️ Warning: these runs are not the same test"), "{md}");
    // A negative zero is "-0.00ms" or "-0.0%" alone; "-0.02ms" is a real change.
    let negative_zero = |word: &&str| {
        let number = word.trim_matches(|c: char| "[],%".contains(c)).trim_end_matches("ms").trim_end_matches("pp");
        number.strip_prefix('-').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c == '0' || c == '.'))
    };
    assert!(!out.split_whitespace().any(|w| negative_zero(&w)), "no negative zero: {out}");
}

/// A PNG file of the given size: the signature, then the IHDR chunk's width and height.
fn assert_png(path: &std::path::Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (width, height), "{}", path.display());
    assert!(bytes.len() > 10_000, "{} is suspiciously small: nothing drawn?", path.display());
}

#[test]
fn plots_render_as_svg_and_png_with_their_labels() {
    let ws = Workspace::new();
    let s = ws.write(
        "plots.toml",
        "name = \"plots\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"2s\"\n\
         [sla]\np99 = \"500ms\"\n",
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let spectrum = std::fs::read_to_string(r.out.join("spectrum.svg")).unwrap();
    assert!(spectrum.starts_with("<svg") && spectrum.trim_end().ends_with("</svg>"));
    for label in ["percentile", "latency (from intended send)", "p99 limit", "99%"] {
        assert!(spectrum.contains(label), "spectrum.svg lacks {label:?}");
    }
    let timeline = std::fs::read_to_string(r.out.join("timeline.svg")).unwrap();
    for label in ["Requests per second", "offered", "sent (by send second)", "seconds"] {
        assert!(timeline.contains(label), "timeline.svg lacks {label:?}");
    }
    assert_png(&r.out.join("spectrum.png"), 1000, 600);
    // The mock's answers carry usage: a third panel shows tokens per second.
    assert_png(&r.out.join("timeline.png"), 1000, 980);
    assert!(!r.out.join("tiers.svg").exists(), "one tier: no tier overlay");
}

#[test]
fn report_rerenders_identical_plots_and_a_self_contained_page() {
    let ws = Workspace::new();
    let s = ws.write(
        "again.toml",
        "name = \"again\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"2s\"\n\
         [sla]\np99 = \"1s\"\navailability = \"99%\"\n",
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before: Vec<_> = ["spectrum.svg", "timeline.svg", "junit.xml", "summary.md", "report.html"]
        .iter()
        .map(|f| std::fs::read(r.out.join(f)).unwrap())
        .collect();
    let summary_before = std::fs::read(r.out.join("summary.json")).unwrap();
    for f in ["spectrum.svg", "timeline.svg", "report.html"] {
        std::fs::remove_file(r.out.join(f)).unwrap();
    }
    let o = std::process::Command::new(common::bin()).arg("report").arg(&r.out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    for (i, f) in ["spectrum.svg", "timeline.svg", "junit.xml", "summary.md", "report.html"].iter().enumerate() {
        assert!(std::fs::read(r.out.join(f)).unwrap() == before[i], "{f} differs after `slacheck report`");
    }
    assert!(std::fs::read(r.out.join("summary.json")).unwrap() == summary_before, "report leaves summary.json alone");
    let page = String::from_utf8(before[4].clone()).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("uPlot"), "the charting library is inlined");
    for external in ["src=", "href=", "@import", "url("] {
        assert!(!page.contains(external), "the page loads nothing from outside ({external:?})");
    }
    let without_licence_link = page.replace("https://github.com/leeoniya/uPlot", "");
    assert!(!without_licence_link.contains("://"), "no address but uPlot's licence comment");
    assert!(page.contains("<td>availability</td>") && page.contains("<span class=\"mark pass\">PASS</span>"));
    assert!(page.contains("<span class=\"verdict pass\">PASS: all 2 SLA targets held</span>"));
    assert!(!page.contains('✅') && !page.contains('❌'), "marks need no symbol font");
    // The data the charts draw: the timeline's seconds and the spectrum at 99% against summary.json's p99.
    let data = page.split("<script type=\"application/json\" id=\"data\">").nth(1).unwrap();
    let data: serde_json::Value = serde_json::from_str(data.split("</script>").next().unwrap()).unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&summary_before).unwrap();
    // A row per second of summary.json's timeline (a third appears when answers finish after 2 s, on a busy
    // machine); 200 due in each of the first two seconds.
    let seconds: Vec<serde_json::Value> =
        summary["timeline"].as_array().unwrap().iter().map(|r| r["t_s"].clone()).collect();
    assert_eq!(data["timeline"]["t"], serde_json::Value::Array(seconds));
    assert_eq!(data["timeline"]["offered"][0], 200);
    assert_eq!(data["timeline"]["offered"][1], 200);
    let offered: u64 = data["timeline"]["offered"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(offered, 400);
    let spectrum = &data["spectra"][0];
    let at_99 = spectrum["x"].as_array().unwrap().iter().position(|x| x.as_f64() == Some(2.0)).unwrap();
    let p99 = spectrum["series"][0]["ms"][at_99].as_f64().unwrap();
    assert!((p99 - summary["latency_ms"]["p99"].as_f64().unwrap()).abs() < 1e-9, "spectrum p99 {p99}");
    assert_eq!(spectrum["limits"], serde_json::json!([{ "name": "p99", "x": 2.0, "ms": 1000.0 }]));
}

#[test]
fn format_chooses_the_files_and_baseline_compares_after_the_run() {
    let ws = Workspace::new();
    let s = ws.write(
        "fmt.toml",
        "name = \"fmt\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"2s\"\n",
    );
    let r = ws.run(&s, &["--format", "md,hlog"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut files: Vec<String> =
        std::fs::read_dir(&r.out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["latency.hlog", "measurements.json", "summary.json", "summary.md"]);
    let (base, first) = (r.out.clone(), r);
    let second = ws.write("fmt2.toml", &std::fs::read_to_string(&s).unwrap());
    let r = ws.run(&second, &["--baseline", base.to_str().unwrap()]);
    assert!(r.stdout.contains("slacheck compare") && r.out.join("compare/compare.md").exists(), "{}", r.stdout);
    let busy = [&first, &r].iter().any(|run| run.summary()["generator"]["overloaded"] == true);
    if busy {
        // A machine too busy for 200/s: the pair is not judged, exit 3, for the reason the conclusion names.
        assert!(r.stdout.contains("NOT JUDGED: the generator fell behind"), "{}", r.stdout);
        assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    } else {
        // Two seconds are too few to tell a change from noise: the comparison says so rather than guessing, and
        // what it cannot judge fails the gate, as an undecided SLA target does.
        assert!(r.stdout.contains("insufficient data") && r.stdout.contains("INSUFFICIENT DATA"), "{}", r.stdout);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    }
    let bad = ws.run(&second, &["--format", "pdf"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn junit_has_the_shape_ci_systems_read() {
    let ws = Workspace::new();
    let s = ws.write(
        "junit.toml",
        "name = \"junit\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"1s\"\n\
         [sla]\navailability = \"90%\"\np99 = \"1us\"\n",
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 1);
    let text = std::fs::read_to_string(r.out.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("junit.xml is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    assert_eq!((suite.attribute("tests"), suite.attribute("failures")), (Some("2"), Some("1")));
    // The suite's time is the run's length as its summary gives it, to the millisecond.
    let time: f64 = suite.attribute("time").unwrap().parse().unwrap();
    assert_eq!(time, (f(&r.summary(), &["duration_s"]) * 1000.0).round() / 1000.0);
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 2);
    for case in &cases {
        assert!(case.attribute("classname").is_some() && case.attribute("name").is_some());
    }
    let failures: Vec<_> = cases.iter().filter_map(|c| c.children().find(|n| n.has_tag_name("failure"))).collect();
    assert_eq!(failures.len(), 1);
    assert!(failures[0].attribute("message").unwrap().starts_with("p99 measured "));
}

/// Two real runs against the mock, the second with a p99 30% higher (lognormal p99 50 ms → 65 ms).
#[test]
fn compare_of_two_real_runs_flags_a_thirty_percent_p99_regression() {
    let ws = Workspace::new();
    let scenario = |p99: &str| {
        format!(
            "name = \"real\"\n[target]\nmock = \"p\"\n[load]\nprofile = \"constant\"\nrate = \"400/s\"\nduration = \"8s\"\n\
             [[mock.providers]]\nname = \"p\"\nlatency = {{ dist = \"lognormal\", p50 = \"10ms\", p99 = \"{p99}\" }}\n"
        )
    };
    let before = ws.run(&ws.write("before.toml", &scenario("50ms")), &[]);
    let after = ws.run(&ws.write("after.toml", &scenario("65ms")), &[]);
    let (code, out, err) = compare(&ws, &before.out, &after.out);
    // On a machine too busy for 400/s the generator falls behind, and then no regression may be called: the
    // comparison must say so (exit 3). Otherwise the 30% is a regression (exit 1), and the rows show it.
    let busy = [&before, &after].iter().any(|r| r.summary()["generator"]["overloaded"] == true);
    if busy {
        // The rows then hold the machine's stalls as much as the mock's latency: only the conclusion is asserted.
        assert_eq!(code, 3, "{out}{err}");
        assert!(out.contains("NOT JUDGED"), "{out}");
        return;
    }
    assert_eq!(code, 1, "{out}{err}");
    let p99 = out.lines().find(|l| l.trim_start().starts_with("p99 ")).unwrap();
    assert!(p99.ends_with("regressed"), "{p99}");
    let p50 = out.lines().find(|l| l.trim_start().starts_with("p50 ")).unwrap();
    assert!(p50.ends_with("no significant change"), "the median did not move: {p50}");
}

#[test]
fn a_bad_baseline_is_refused_before_sending_and_json_output_stays_one_document() {
    let ws = Workspace::new();
    let s = ws.write(
        "base.toml",
        "name = \"base\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"1s\"\n",
    );
    // A missing baseline: exit 2 at once, and no run (no results folder).
    let missing = ws.path().join("no-such-run");
    let r = ws.run(&s, &["--baseline", missing.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--baseline") && r.stderr.contains("no interval log"), "{}", r.stderr);
    assert!(!r.out.exists(), "nothing was run");
    // A good baseline with --json: stdout is exactly one JSON document (the comparison goes to compare/).
    let first = ws.run(&s, &["--quiet"]);
    let base = ws.path().join("base-run");
    std::fs::rename(&first.out, &base).unwrap();
    let r = ws.run(&s, &["--json", "--baseline", base.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    assert_eq!(doc["scenario"]["name"], "base");
    assert!(r.out.join("compare/compare.json").exists());
    // --quiet with --baseline: the verdict line and the comparison's conclusion, not its table.
    let r = ws.run(&s, &["--quiet", "--baseline", base.to_str().unwrap()]);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(r.stdout.lines().nth(1).unwrap().starts_with("compare: "), "{}", r.stdout);
}

#[test]
fn junit_counts_undecided_targets_as_the_failures_it_lists() {
    let ws = Workspace::new();
    // 200 requests: a 99.9% availability cannot be decided from them, and a p99 of 1 µs fails.
    let s = ws.write(
        "mixed.toml",
        "name = \"mixed\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"2s\"\n\
         [sla]\navailability = \"99.9%\"\np99 = \"1us\"\n",
    );
    let r = ws.run(&s, &["--quiet"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let junit = std::fs::read_to_string(r.out.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    let listed = doc.descendants().filter(|n| n.has_tag_name("failure")).count();
    assert_eq!(listed, 2, "{junit}");
    assert_eq!(suite.attribute("failures"), Some("2"), "the attribute counts what the body lists: {junit}");
}

#[test]
fn a_reader_that_goes_away_ends_nothing_early_and_panics_nothing() {
    let ws = Workspace::new();
    let (base, slow) = (ws.path().join("base.hlog"), ws.path().join("slow.hlog"));
    synthetic_log(&base, 1, 1.0);
    synthetic_log(&slow, 3, 1.3);
    let out = ws.path().join("piped");
    // As `slacheck compare … | head -0`: the reading end is closed before anything is written.
    let mut child = std::process::Command::new(common::bin())
        .arg("compare")
        .arg(&base)
        .arg(&slow)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked") && stderr.is_empty(), "{stderr}");
    assert_eq!(o.status.code(), Some(1), "the regression still decides the exit code");
    assert!(out.join("compare.md").exists(), "and the files are still written");
}
