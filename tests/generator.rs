//! The generator's own limits and its rates: what it could not send is its failure, never the target's, and
//! the rates it reports are the ones it kept.

mod common;
use common::{assert_counts_add_up, f, parquet_rows, Workspace};

/// A mock provider that answers every request in `latency`.
fn slow_mock(latency: &str) -> String {
    format!("[[mock.providers]]\nname = \"slow\"\nlatency = {{ dist = \"fixed\", value = \"{latency}\" }}\n")
}

#[test]
fn requests_left_unsent_by_max_in_flight_make_a_generator_bound_exit_3_with_a_hint_that_says_so() {
    let ws = Workspace::new();
    // 200/s at 200 ms each needs about 40 requests in flight; only 5 may be.
    let s = ws.write(
        "cap.toml",
        &format!(
            "name = \"cap\"\n[target]\nmock = \"slow\"\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"2s\"\nmax_in_flight = 5\n\
             [sla]\navailability = \"90%\"\n{}",
            slow_mock("200ms")
        ),
    );
    let r = ws.run(&s, &["--format", "json"]);
    let summary = r.summary();
    assert_counts_add_up(&summary);
    let (total, not_sent, ok) =
        (f(&summary, &["counts", "total"]), f(&summary, &["counts", "not_sent"]), f(&summary, &["counts", "ok"]));
    assert_eq!(total, 400.0);
    // At most 5 at a time for 200 ms each over the 2 s (plus the last ones finishing): about 50 sent.
    assert!(not_sent >= 300.0 && ok == total - not_sent, "{summary}");
    assert_eq!(summary["verdict"]["targets"][0]["generator_bound"], true, "{summary}");
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("GENERATOR-BOUND"), "{}", r.stdout);
    let hint = summary["generator"]["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("{not_sent} requests were not sent")) && hint.contains("max_in_flight (5)"),
        "{hint}"
    );
    assert!(r.stdout.contains(hint), "the terminal shows the hint: {}", r.stdout);
}

#[test]
fn closed_loop_achieved_rate_is_over_the_time_the_run_really_took() {
    let ws = Workspace::new();
    // One connection at 50 ms a request can do about 20/s, far below the offered 100/s: 100 requests take ~5 s.
    let s = ws.write(
        "closed.toml",
        &format!(
            "name = \"closed\"\n[target]\nmock = \"slow\"\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"1s\"\nconnections = 1\n{}",
            slow_mock("50ms")
        ),
    );
    let began = std::time::Instant::now();
    let r = ws.run(&s, &["--json"]);
    let wall = began.elapsed().as_secs_f64();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let (ok, duration) = (f(&summary, &["counts", "ok"]), f(&summary, &["duration_s"]));
    assert_eq!(ok, 100.0);
    // The requests ran one after another, 50 ms or more each: the run lasted at least 5 s, and no longer than
    // the whole process.
    assert!(duration >= 5.0 && duration <= wall, "duration {duration} s, process {wall} s");
    assert_eq!(f(&summary, &["offered_rate_per_s"]), 100.0, "100 requests offered over the 1 s schedule");
    let achieved = f(&summary, &["achieved_rate_per_s"]);
    assert!((achieved - 100.0 / duration).abs() < 1e-9 && achieved <= 20.0, "achieved {achieved}");
}

#[test]
fn a_short_constant_run_offers_exactly_its_rate() {
    let ws = Workspace::new();
    let s = ws.write(
        "five.toml",
        "name = \"five\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"5/s\"\nduration = \"3s\"\n",
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // 15 requests due at 0, 0.2, …, 2.8 s: offered over the 3 s schedule, not over the 2.8 s until the last.
    let summary = r.summary();
    assert_eq!(f(&summary, &["counts", "total"]), 15.0);
    assert_eq!(f(&summary, &["offered_rate_per_s"]), 5.0);
    assert!(r.stdout.contains("15 requests in 3.0s (offered 5.0/s, achieved 5.0/s)"), "{}", r.stdout);
}

#[test]
fn a_closed_loop_opens_no_more_connections_than_it_has() {
    let ws = Workspace::new();
    // At 10,000/s the open loop would open 50 connections before the run (the requests due in 5 ms); two
    // connections never have more than two requests out, so no more than two are ever opened, before or during.
    let s = ws.write(
        "closed.toml",
        "name = \"closed\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"10000/s\"\nduration = \"100ms\"\nconnections = 2\n",
    );
    let r = ws.run(&s, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(f(&summary, &["counts", "ok"]), 1000.0);
    let (opened, preopened) = (f(&summary, &["connections_opened"]), f(&summary, &["connections_preopened"]));
    assert!(preopened <= 2.0 && opened + preopened >= 1.0 && opened + preopened <= 2.0, "{opened} + {preopened}");
}

#[test]
fn the_first_request_is_as_punctual_as_the_rest() {
    let ws = Workspace::new();
    // Prompts of drawn token lengths and a token-aware mock: the run loads a tokenizer and makes prompts before
    // it starts, which once took longer than the clock's lead, so request 0 went out hundreds of ms late.
    let s = ws.write(
        "first.toml",
        "name = \"first\"\n[target]\ntimeout = \"5s\"\n\
         [[tiers]]\nname = \"t\"\nmock = \"llm\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"c\"\nweight = 1\ntier = \"t\"\ninput_tokens = 50\noutput_tokens = 5\nprefix_tokens = 200\n\
         [load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"4s\"\n\
         [[mock.providers]]\nname = \"llm\"\nlatency = { dist = \"fixed\", value = \"2ms\" }\ndecode_per_token = \"100us\"\n",
    );
    let r = ws.run(&s, &["--format", "json,parquet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut rows = parquet_rows(&r.out.join("requests.parquet"));
    rows.sort_by_key(|row| row["request"].as_u64());
    let lag = |row: &serde_json::Map<String, serde_json::Value>| {
        row["sent_ms"].as_f64().expect("every request was sent") - row["intended_ms"].as_f64().unwrap()
    };
    assert_eq!((rows.len(), rows[0]["request"].as_u64()), (200, Some(0)));
    // The p99 by rank of the requests due in the last two seconds, computed here from the rows: a start that is
    // late makes every request due before the pacer began late (hundreds of them in a debug build), while the
    // pacer has caught up long before the second half.
    let mut settled: Vec<f64> =
        rows.iter().filter(|row| row["intended_ms"].as_f64().unwrap() >= 2000.0).map(lag).collect();
    settled.sort_by(f64::total_cmp);
    let p99 = settled[(0.99 * settled.len() as f64).ceil() as usize - 1];
    let first = lag(&rows[0]);
    eprintln!("request 0's lag {first:.3} ms; the last 2 s: p99 {p99:.3} ms, max {:.3} ms", settled[settled.len() - 1]);
    // A machine busy enough to delay request 0 delays the others too: twice their p99, plus a millisecond for the
    // timer's step, is room for that and far below a start that is late.
    assert!(first <= 2.0 * p99 + 1.0, "request 0 went out {first:.3} ms late; the last 2 s's p99 is {p99:.3} ms");
}
