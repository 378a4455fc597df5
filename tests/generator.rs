//! The generator's own limits and its rates: what it could not send is its failure, never the target's, and
//! the rates it reports are the ones it kept.

mod common;
use common::{assert_counts_add_up, f, parquet_rows, Workspace};
use std::time::Duration;

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
    // The target's row says why the miss is the generator's.
    assert!(
        r.stdout.contains("the generator's: it holds without the requests the generator never sent"),
        "{}",
        r.stdout
    );
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

/// The stall test's rate: `SLACHECK_STALL_RATE` (bench/stall.sh runs the 2,000/s in release), else 500/s,
/// which a debug build keeps on a busy 2-core machine.
fn stall_rate() -> f64 {
    std::env::var("SLACHECK_STALL_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(500.0)
}

#[test]
fn against_a_server_that_stalls_latency_is_the_truth_and_with_a_connection_cap_within_3_percent_of_it() {
    // 1 s of nothing every 20 s, run for one whole period: 5% of the requests wait for a stall's end, uniformly
    // 0..1 s, so the truth is p99 800 ms and p99.9 980 ms (1 - q = 5% × (1 - x / 1 s)); computed below from the
    // schedule's own requests, and checked against that closed form.
    let stalls = common::stall::Stalls { period: Duration::from_secs(20), stall: Duration::from_secs(1) };
    let (rate, duration) = (stall_rate(), Duration::from_secs(20));
    let truth = [0.99, 0.999].map(|q| stalls.truth(rate, duration, q).as_secs_f64() * 1000.0);
    assert!((truth[0] - 800.0).abs() <= 2000.0 / rate && (truth[1] - 980.0).abs() <= 2000.0 / rate, "{truth:?}");
    // A cap well below the requests that arrive in one stall (as oha's -c 256 at 2,000/s): most of them wait for a
    // connection, the earliest on the cap's connections, the rest in turn.
    let cap = (rate / 8.0).round() as u64;
    let ws = Workspace::new();
    for max_connections in [Some(cap), None] {
        let server = common::stall::serve(stalls);
        let name = if max_connections.is_some() { "capped" } else { "uncapped" };
        let s = ws.write(
            &format!("{name}.toml"),
            &format!(
                "name = \"{name}\"\n[target]\nurl = \"http://127.0.0.1:{}/v1/chat/completions\"\nbody = '{{}}'\n\
                 [load]\nprofile = \"constant\"\nrate = \"{rate}/s\"\nduration = \"20s\"\n{}",
                server.port,
                max_connections.map(|n| format!("max_connections = {n}\n")).unwrap_or_default()
            ),
        );
        let r = ws.run(&s, &["--format", "md"]);
        let summary = r.summary();
        assert_counts_add_up(&summary);
        assert_eq!(f(&summary, &["counts", "ok"]), rate * 20.0, "{name}: {}", summary["errors"]);
        let measured = [f(&summary, &["latency_ms", "p99"]), f(&summary, &["latency_ms", "p99.9"])];
        let (opened, preopened) = (f(&summary, &["connections_opened"]), f(&summary, &["connections_preopened"]));
        // What this machine added, measured in this run: the generator's own lateness, and under the cap, how long
        // after the stall's end the first connections came free (the server's timer waking late, and the answers'
        // way back): the request due just after the cap's connections filled in the stall waited that much more
        // than the stall's rest. Each later round of waiting requests takes about as long again.
        let lag = f(&summary, &["lag_ms", "p99.9"]);
        let late = server.late().as_secs_f64() * 1000.0;
        let filled = max_connections.map_or(0.0, |cap| cap as f64 / rate * 1000.0);
        let waited = summary.get("connection_wait_ms").map(|_| f(&summary, &["connection_wait_ms", "max"]));
        let round = waited.map_or(late, |w| (w - (1000.0 - filled)).max(late));
        eprintln!(
            "{name} at {rate}/s: p99 {:.1} ms, p99.9 {:.1} ms (truth {:.1}, {:.1}); lag p99.9 {lag:.2} ms, server late \
             {late:.2} ms, first connection free {round:.2} ms after the stall; connections {opened} + {preopened} \
             before the run, {} accepted",
            measured[0],
            measured[1],
            truth[0],
            truth[1],
            server.accepted()
        );
        for (m, t) in measured.iter().zip(truth) {
            // No coordinated omission: the waits of the requests due in a stall count from when they were due.
            assert!(*m >= 0.97 * t, "{name}: {m:.1} ms measured, the truth is {t:.1} ms");
            let Some(cap) = max_connections else { continue };
            // The request with this truth came (1 s - t) into the stall: it went out in this round after its end.
            let rounds = (((1000.0 - t) / 1000.0 * rate) / cap as f64).floor() + 1.0;
            let limit = 1.03 * t + lag + rounds * round;
            assert!(
                *m <= limit,
                "{name}: {m:.1} ms, truth {t:.1} ms: over {limit:.1} (lag {lag:.2}, {rounds} × {round:.2})"
            );
        }
        let markdown = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
        let note = "connections (wait p99";
        let Some(cap) = max_connections else {
            assert!(waited.is_none() && !markdown.contains(note), "{name}: no cap, no wait");
            continue;
        };
        assert_eq!(summary["scenario"]["load"]["max_connections"], cap, "summary.json shows the cap");
        assert!(markdown.contains(&format!("load.max_connections' {cap} {note}")), "{markdown}");
        // The server also accepted the reach check's connection, closed before the run.
        assert!(opened + preopened <= cap as f64, "{opened} + {preopened} connections > {cap}");
        assert!(server.accepted() <= cap + 1, "the server accepted {} connections, over {cap} + 1", server.accepted());
        // The request due just after the cap's connections filled in a stall waits for one until the stall ends.
        let waited = waited.unwrap_or_default();
        assert!(waited >= 0.9 * (1000.0 - filled), "longest wait for a connection {waited:.1} ms");
    }
}

/// The in-process mocks' timing from a run's measurements.json: (answers modelled, their least and most modelled
/// ms, answers whose lateness was counted), the modelled ones `None` when the run left them out.
fn mock_timing(out: &std::path::Path) -> (Option<(u64, f64, f64)>, u64) {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("measurements.json")).unwrap()).unwrap();
    let timing = &m["result"]["mock_timing"];
    let histogram = |field: &str| timing[field].as_str().map(|t| slacheck::measure::decode(t).unwrap());
    let modelled = histogram("modelled").map(|h| (h.len(), h.min() as f64 / 1000.0, h.max() as f64 / 1000.0));
    (modelled, histogram("lateness").map_or(0, |h| h.len()))
}

#[test]
fn the_in_process_mocks_time_every_answer_by_their_model_and_count_how_late_it_left() {
    let ws = Workspace::new();
    let scenario = |name: &str, tiers: &str| {
        format!(
            "name = \"{name}\"\n[target]\ntimeout = \"5s\"\n[load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"1s\"\n\
             {tiers}[sla]\navailability = \"50%\"\n{}",
            slow_mock("30ms")
        )
    };
    let direct = ws.run(
        &ws.write("direct.toml", &scenario("direct", "[[tiers]]\nname = \"a\"\nmock = \"slow\"\nmodel = \"m\"\n")),
        &[],
    );
    assert_eq!(direct.code, 0, "{}\n{}", direct.stdout, direct.stderr);
    let (modelled, late) = mock_timing(&direct.out);
    let (answers, least, most) = modelled.expect("the mock was the target: its model times the answers");
    assert_eq!((answers, late), (50, 50), "every answer once");
    // A fixed 30 ms, kept to two significant figures.
    assert!(least >= 29.7 && most <= 30.3, "modelled {least}..{most} ms");

    // A second tier that is not an in-process mock (a listener that never answers, never reached: the first tier
    // serves every request): the model no longer times the whole answer, only the lateness counts.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = format!(
        "[[tiers]]\nname = \"a\"\nmock = \"slow\"\nmodel = \"m\"\n[[tiers]]\nname = \"b\"\nurl = \"http://{}\"\nmodel = \"m\"\n\
         [failover]\nchain = [\"a\", \"b\"]\n",
        listener.local_addr().unwrap()
    );
    let mixed = ws.run(&ws.write("mixed.toml", &scenario("mixed", &other)), &[]);
    assert_eq!(mixed.code, 0, "{}\n{}", mixed.stdout, mixed.stderr);
    assert_eq!(mock_timing(&mixed.out), (None, 50));
}
