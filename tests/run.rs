//! The real binary against real servers on loopback: the in-process mock upstream, or wiremock.

mod common;
use common::{assert_counts_add_up, f, Workspace};

const MOCK_TARGET: &str = "[target]\nmock = \"default\"\nbody = '{\"model\": \"m\", \"messages\": []}'\n";

#[test]
fn a_passing_run_prints_the_verdict_writes_summary_and_exits_0() {
    let ws = Workspace::new();
    let s = ws.write(
        "ok.toml",
        &format!("name = \"ok\"\n{MOCK_TARGET}[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"2s\"\n[sla]\navailability = \"99%\"\np99 = \"2s\"\n"),
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PASS: all 2 SLA targets held"), "{}", r.stdout);
    assert!(r.stdout.contains("✓"));
    let summary = r.summary();
    assert_eq!(summary["schema_version"], 9);
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["outcome"], "pass");
    assert_eq!(summary["verdict"]["passed"], true);
    assert_eq!(f(&summary, &["counts", "total"]), 400.0);
    assert_counts_add_up(&summary);
    let junit = std::fs::read_to_string(r.out.join("junit.xml")).unwrap();
    assert!(junit.contains("tests=\"2\" failures=\"0\"") && !junit.contains("<failure"), "{junit}");
    assert!(std::fs::read_to_string(r.out.join("summary.md")).unwrap().contains("✅ PASS: all 2 SLA targets held"));
}

#[test]
fn an_impossible_p99_exits_1_and_says_which_target_failed() {
    let ws = Workspace::new();
    let s = ws.write(
        "tight.toml",
        &format!("name = \"tight\"\n{MOCK_TARGET}[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"1s\"\n[sla]\np99 = \"1us\"\n"),
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("✗  p99"), "{}", r.stdout);
    assert!(r.stdout.contains("FAIL: 1 of 1"), "{}", r.stdout);
    assert_eq!(r.summary()["verdict"]["targets"][0]["passed"], false);
    // The CI reports say the same: a JUnit failure naming the target, and a failing Markdown table row.
    let junit = std::fs::read_to_string(r.out.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuite name=\"slacheck.tight\" tests=\"1\" failures=\"1\""), "{junit}");
    assert!(junit.contains("<testcase classname=\"slacheck.tight.sla\" name=\"p99 ≤ 1us\""), "{junit}");
    assert!(junit.contains("<failure type=\"sla\" message=\"p99 measured "), "{junit}");
    let md = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
    assert!(md.contains("❌ FAIL: 1 of 1 SLA targets missed") && md.contains("| p99 | ≤ 1us |"), "{md}");
}

/// A target that stalls every response for S = 1 s, from 1 s to 2 s of a D = 4 s run at a constant rate
/// (250/s, so that the 250 requests released together when the stall ends are served within milliseconds).
/// Requests due during the stall wait on average S/2; a share S/D of all requests is affected, with latency
/// spread evenly over (0, S]. So P(latency > x) = (S/D)(1 − x/S): p99 = S − 0.01·D = 0.96 s and
/// p99.9 = S − 0.001·D = 0.996 s (plus the mock's few milliseconds).
fn stall_scenario(extra_load: &str) -> String {
    format!(
        "name = \"stall\"\n[target]\nmock = \"stalls\"\n[load]\nprofile = \"constant\"\nrate = \"250/s\"\nduration = \"4s\"\n{extra_load}\n\
         [[mock.providers]]\nname = \"stalls\"\nlatency = {{ dist = \"fixed\", value = \"1ms\" }}\noutages = [{{ window = \"1s..2s\", mode = \"stall\" }}]\n"
    )
}

#[test]
fn coordinated_omission_a_stall_shows_in_latency_from_the_intended_time() {
    let ws = Workspace::new();
    // Open loop: every request goes out on time, so latency reflects the stall.
    let open = ws.run(&ws.write("open.toml", &stall_scenario("")), &[]).summary();
    let (p99, p999) = (f(&open, &["latency_ms", "p99"]), f(&open, &["latency_ms", "p99.9"]));
    // The requests held by the stall are released together when it ends, and served in a burst that takes
    // longer on a busy machine. The longest wait (the request due when the stall began) is S plus that delay,
    // so the delay is measured from this run: max − S. It can only add to the expected values.
    let release = (f(&open, &["latency_ms", "max"]) - 1000.0).max(0.0);
    let near = |v: f64, expected: f64| v > expected - 60.0 && v < expected + 60.0 + release;
    assert!(near(p99, 960.0), "open-loop p99 {p99} ms, expected about 960 (+ release {release:.0} ms)");
    assert!(near(p999, 996.0), "open-loop p99.9 {p999} ms, expected about 996 (+ release {release:.0} ms)");
    // Mean wait of the stalled quarter of requests is S/2 = 500 ms: the overall mean is about 125 ms.
    let mean = f(&open, &["latency_ms", "mean"]);
    assert!(mean > 95.0 && mean < 155.0 + release, "mean {mean} ms, expected about 125 (+ release {release:.0} ms)");

    // Closed loop with 8 connections (wrk2's model): the requests due during the stall are sent late, so
    // time measured from the actual send (service time) hides the stall, while latency from the intended
    // send time still shows it.
    let closed = ws.run(&ws.write("closed.toml", &stall_scenario("connections = 8")), &[]).summary();
    let (lat, svc) = (f(&closed, &["latency_ms", "p99"]), f(&closed, &["service_time_ms", "p99"]));
    let release = (f(&closed, &["latency_ms", "max"]) - 1000.0).max(0.0);
    assert!(lat > 900.0 && lat < 1020.0 + release, "closed-loop latency p99 {lat} ms, expected about 960");
    assert!(svc < 100.0, "closed-loop service-time p99 {svc} ms should hide the 1 s stall");
    assert_counts_add_up(&closed);
}

#[test]
fn too_few_requests_to_judge_a_tail_target_is_insufficient_data_not_a_pass() {
    let ws = Workspace::new();
    // 200 fast requests cannot show that 99.9% of requests are under 1 s: about 3,800 are needed.
    let text = format!(
        "name = \"few\"\n{MOCK_TARGET}[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"1s\"\n[sla]\n\"p99.9\" = \"1s\"\n"
    );
    let r = ws.run(&ws.write("few.toml", &text), &[]);
    assert_eq!(r.code, 1, "undecided fails by default: {}", r.stdout);
    assert!(r.stdout.contains("UNDECIDED: 1 of 1") && r.stdout.contains("insufficient data"), "{}", r.stdout);
    assert_eq!(r.summary()["outcome"], "undecided");
    let t = &r.summary()["verdict"]["targets"][0];
    assert_eq!(t["judgement"], "insufficient_data");
    let more = f(t, &["more_requests"]);
    assert!((3_000.0..4_000.0).contains(&more), "{more} more requests");
    // A longer run settles it: 4,000 fast requests show 99.9% under 1 s.
    let long = text.replace("rate = \"200/s\"\nduration = \"1s\"", "rate = \"500/s\"\nduration = \"8s\"");
    let r = ws.run(&ws.write("long.toml", &long), &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.summary()["verdict"]["targets"][0]["judgement"], "pass");
    // The scenario may let an undecided target pass, with the same message.
    let r = ws.run(&ws.write("few2.toml", &format!("{text}insufficient_data = \"pass\"\n")), &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("UNDECIDED"), "{}", r.stdout);
    assert_eq!(r.summary()["outcome"], "pass", "the scenario's policy makes it a pass");
}

#[test]
fn achieved_rate_matches_the_profile_for_constant_and_burst() {
    let ws = Workspace::new();
    let constant = ws.write(
        "constant.toml",
        &format!(
            "name = \"constant\"\n{MOCK_TARGET}[load]\nprofile = \"constant\"\nrate = \"400/s\"\nduration = \"3s\"\n"
        ),
    );
    let s = ws.run(&constant, &[]).summary();
    let sent = f(&s, &["counts", "total"]) - f(&s, &["counts", "not_sent"]);
    assert!((sent - 1200.0).abs() <= 12.0, "constant: sent {sent} of 1,200");

    // Every 2 s: 1.5 s at 120/s, then 0.5 s at 600/s: 480 requests a period, 960 in 4 s.
    let burst = ws.write(
        "burst.toml",
        &format!(
            "name = \"burst\"\n{MOCK_TARGET}[load]\nprofile = \"burst\"\nbase = \"120/s\"\npeak = \"600/s\"\n\
             burst_every = \"2s\"\nburst_for = \"500ms\"\nduration = \"4s\"\n"
        ),
    );
    let s = ws.run(&burst, &[]).summary();
    let sent = f(&s, &["counts", "total"]) - f(&s, &["counts", "not_sent"]);
    assert!((sent - 960.0).abs() <= 9.6, "burst: sent {sent} of 960");
    // Second 0 is all base (120); second 1 is half base, half peak (60 + 300).
    let offered: Vec<f64> = s["timeline"].as_array().unwrap().iter().take(4).map(|r| f(r, &["offered"])).collect();
    for (got, want) in offered.iter().zip([120.0, 360.0, 120.0, 360.0]) {
        assert!((got - want).abs() <= 2.0, "offered per second {offered:?}");
    }
}

#[test]
fn every_request_is_counted_once_under_errors_timeouts_and_a_full_cap() {
    let ws = Workspace::new();
    let s = ws.write(
        "mixed.toml",
        "name = \"mixed\"\n[target]\nmock = \"flaky\"\ntimeout = \"300ms\"\n\
         [load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"3s\"\nmax_in_flight = 12\n\
         [[mock.providers]]\nname = \"flaky\"\nerrors = { rate = \"20%\", statuses = [500, 503] }\ntail = { one_in = 5, latency = \"2s\" }\n",
    );
    let r = ws.run(&s, &[]);
    let summary = r.summary();
    let c = &summary["counts"];
    assert_eq!(f(c, &["total"]), 600.0, "every scheduled request is counted: {c}");
    for k in ["ok", "error", "timeout", "not_sent"] {
        assert!(f(c, &[k]) > 0.0, "expected some {k}: {c}");
    }
    assert_counts_add_up(&summary);
    let availability = f(&summary, &["availability"]);
    assert!((availability - f(c, &["ok"]) / 600.0).abs() < 1e-12);
    // A request not sent went to no upstream: none is `unknown` for it, in the summary or in its row.
    assert!(!summary["upstreams"].to_string().contains("unknown"), "{}", summary["upstreams"]);
    let rows = common::parquet_rows(&r.out.join("requests.parquet"));
    let unsent: Vec<_> = rows.iter().filter(|row| row["outcome"] == "not_sent").collect();
    assert_eq!(unsent.len() as f64, f(c, &["not_sent"]));
    assert!(unsent.iter().all(|row| row["upstream"].is_null()), "{:?}", unsent[0]);
    assert!(rows.iter().filter(|row| row["outcome"] != "not_sent").all(|row| row["upstream"] == "flaky"));
}

#[cfg(unix)]
#[test]
fn ctrl_c_exits_130_and_leaves_partial_results_marked_incomplete() {
    let ws = Workspace::new();
    let s = ws.write(
        "long.toml",
        &format!("name = \"long\"\n{MOCK_TARGET}[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"60s\"\n[sla]\np99 = \"1s\"\n"),
    );
    let out = ws.path().join("out-long");
    let child = std::process::Command::new(common::bin())
        .arg("run")
        .arg(&s)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let r = common::ran(child.wait_with_output().expect("wait"), out);
    assert_eq!(r.code, 130, "{}", r.stderr);
    let summary = r.summary();
    assert_eq!(summary["complete"], false);
    let total = f(&summary, &["counts", "total"]);
    assert!(total > 50.0 && total < 1000.0, "about 1.5 s of a 100/s run: {total}");
    assert_counts_add_up(&summary);
}

#[test]
fn an_unreachable_target_exits_3() {
    let ws = Workspace::new();
    // Port 9 (discard) on loopback: nothing listens there on a test machine.
    let s = ws.write(
        "gone.toml",
        "name = \"gone\"\n[target]\nurl = \"http://127.0.0.1:9/v1/chat/completions\"\n[load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"1s\"\n",
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("unreachable") && r.stderr.contains("127.0.0.1:9"), "{}", r.stderr);
}

#[test]
fn duration_and_rate_overrides_apply() {
    let ws = Workspace::new();
    let s = ws.write(
        "over.toml",
        &format!("name = \"over\"\n{MOCK_TARGET}[load]\nprofile = \"ramp\"\nfrom = \"1/s\"\nto = \"10/s\"\nduration = \"1h\"\n"),
    );
    let r = ws.run(&s, &["--duration", "1s", "--rate", "150/s", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let printed: serde_json::Value = serde_json::from_str(&r.stdout).expect("--json prints the summary");
    assert_eq!(f(&printed, &["counts", "total"]), 150.0);
    assert_eq!(printed["scenario"]["load"]["profile"], "constant");
}

#[test]
fn targets_per_window_name_the_worst_window_and_the_error_budget_is_reported() {
    let ws = Workspace::new();
    // 5 ms answers, except that everything due in 2 s..3 s waits for that window to end.
    let text = "name = \"windows\"\n[target]\nmock = \"p\"\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"4s\"\n\
                [sla]\np50 = \"100ms\"\navailability = \"95%\"\nwindow = \"1s\"\n\
                [[mock.providers]]\nname = \"p\"\nlatency = { dist = \"fixed\", value = \"5ms\" }\n\
                outages = [{ window = \"2s..3s\", mode = \"stall\" }]\n";
    let r = ws.run(&ws.write("windows.toml", text), &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let s = r.summary();
    let target =
        |name: &str| s["verdict"]["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!(target("p50")["judgement"], "pass", "over the whole run the median is fast");
    let windowed = target("p50 in every window");
    assert_eq!(windowed["judgement"], "fail");
    assert!(windowed["note"].as_str().unwrap().contains("2s..3s"), "{windowed}");
    assert!(f(&windowed, &["measured_ms"]) > 300.0, "{windowed}");
    assert_eq!(target("availability in every window")["judgement"], "pass");
    let budget = &s["error_budget"];
    assert_eq!((f(budget, &["failures"]), f(budget, &["consumed"])), (0.0, 0.0));
    assert!((f(budget, &["allowed_failures"]) - 40.0).abs() < 1e-9, "5% of 800");

    // Per burst: passes on the whole run, fails in its worst burst (the second, stalled).
    let bursts = "name = \"bursts\"\n[target]\nmock = \"p\"\n[load]\nprofile = \"burst\"\nbase = \"100/s\"\npeak = \"400/s\"\n\
                  burst_every = \"2s\"\nburst_for = \"1s\"\nduration = \"4s\"\n[sla]\np50 = \"100ms\"\nwindow = \"burst\"\n\
                  [[mock.providers]]\nname = \"p\"\nlatency = { dist = \"fixed\", value = \"5ms\" }\n\
                  outages = [{ window = \"3s..4s\", mode = \"stall\" }]\n";
    let s = ws.run(&ws.write("bursts.toml", bursts), &[]).summary();
    let targets = s["verdict"]["targets"].as_array().unwrap();
    assert_eq!(targets[0]["judgement"], "pass", "{}", targets[0]);
    assert_eq!(targets[1]["judgement"], "fail", "{}", targets[1]);
    assert!(targets[1]["note"].as_str().unwrap().contains("worst of 2 windows: 3s..4s"), "{}", targets[1]);

    let bad = "name = \"bad\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"1s\"\n\
               [sla]\nwindow = \"burst\"\n";
    let r = ws.run(&ws.write("bad-window.toml", bad), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("sla.window"), "{}", r.stderr);
}
