//! Tiers, failover, retries and served-by, with the real binary against mock providers and wiremock stand-ins.

mod common;
use common::{assert_counts_add_up, f, Workspace};
use std::sync::atomic::{AtomicU64, Ordering};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// 200 requests/s, evenly spaced, for 3 s; the primary fails from 1 s to 2 s in the given mode.
fn outage_scenario(mode: &str, extra: &str) -> String {
    format!(
        "name = \"outage\"\n[target]\ntimeout = \"5s\"\n\
         [load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"3s\"\n\
         [[tiers]]\nname = \"default\"\nmock = \"primary\"\nmodel = \"cheap\"\ntimeout = \"200ms\"\nprice_input = 0.25\nprice_output = 0.5\n\
         [[tiers]]\nname = \"fallback\"\nmock = \"fallback\"\nmodel = \"other\"\nprice_input = 1.0\nprice_output = 2.0\n\
         [failover]\nchain = [\"default\", \"fallback\"]\n{extra}\n\
         [sla]\navailability = \"99%\"\n\
         [[mock.providers]]\nname = \"primary\"\nlatency = {{ dist = \"fixed\", value = \"2ms\" }}\n\
         outages = [{{ window = \"1s..2s\", mode = \"{mode}\" }}]\n\
         [[mock.providers]]\nname = \"fallback\"\nlatency = {{ dist = \"fixed\", value = \"5ms\" }}\n"
    )
}

#[test]
fn failover_hides_an_outage_and_its_numbers_match_the_schedule() {
    let ws = Workspace::new();
    let r = ws.run(&ws.write("status.toml", &outage_scenario("status", "")), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_counts_add_up(&s);
    assert_eq!(f(&s, &["availability"]), 1.0);
    // 200 requests are due in the 1 s window. The mock judges by arrival, so a request sent late can cross the
    // window's edge: at 200/s, one for every 5 ms of the worst lag this run measured (and 3 for the network
    // between the generator and the mock); every other count is held to it exactly.
    let o = &s["outages"][0];
    assert_eq!(f(o, &["requests_due"]), 200.0);
    let hit = f(&s, &["failover", "failed_over"]);
    let crossed = 3.0 + (f(&s, &["lag_ms", "max"]) / 5.0).ceil();
    assert!((hit - 200.0).abs() <= crossed, "{hit} requests met the outage (allowed 200 ± {crossed})");
    assert_eq!(f(o, &["user_errors"]), 0.0);
    assert_eq!(f(&s, &["failover", "rescued"]), hit);
    assert_eq!(s["failover"]["reasons"]["status 503"].as_f64(), Some(hit));
    assert!(f(o, &["first_failover_after_s"]) < 0.1, "{o}");
    assert!(f(o, &["back_to_tier_after_s"]) < 0.1, "{o}");
    let tiers = s["tiers"].as_array().unwrap();
    assert_eq!((f(&tiers[0], &["attempts", "total"]), f(&tiers[0], &["served"])), (600.0, 600.0 - hit));
    assert_eq!(f(&tiers[1], &["served"]), hit);
    assert!((f(&s, &["availability_before_failover"]) - (600.0 - hit) / 600.0).abs() < 1e-9);
    // Cost is the tiers' token counts at their prices.
    for t in tiers {
        let (p, c) = (f(t, &["prompt_tokens"]), f(t, &["completion_tokens"]));
        assert!(p > 0.0 && c > 0.0);
    }
    let expected = (f(&tiers[0], &["prompt_tokens"]) * 0.25
        + f(&tiers[0], &["completion_tokens"]) * 0.5
        + f(&tiers[1], &["prompt_tokens"]) * 1.0
        + f(&tiers[1], &["completion_tokens"]) * 2.0)
        / 1e6;
    assert!((f(&s, &["cost", "total_usd"]) - expected).abs() < 1e-12);

    // The same run without failover: the outage reaches the users.
    let off = ["--set", "failover.enabled=false", "--set", "sla.window=1s", "--format", "json,md,junit,html"];
    let r = ws.run(&ws.write("off.toml", &outage_scenario("status", "")), &off);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let s = r.summary();
    let errors = f(&s, &["counts", "error"]);
    assert!((errors - 200.0).abs() <= 3.0, "{errors} errors");
    assert_eq!(f(&s, &["failover", "failed_over"]), 0.0);
    let burst = f(&s["outages"][0], &["user_errors_span_s"]);
    assert!((burst - 0.995).abs() < 0.02, "the errors span the window: {burst}");

    // Every report names the worst window; summary.md and report.html also give the outage and the error
    // budget: 1% of 600 requests is 6 failures allowed.
    let md = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
    let window = "worst of 3 windows: 1s..2s; 1 missed";
    assert!(md.contains("| availability in every window | ≥ 99% |") && md.contains(window), "{md}");
    // The outage's own count: requests due in its window that failed (a request due just before it, sent late
    // on a busy machine, can meet the outage too, and counts in `errors` only).
    let user_errors = f(&s["outages"][0], &["user_errors"]);
    let outage = format!(
        "- Scheduled outage of primary (tier default) 1s..2s: 200 requests due, none sent to another tier, {user_errors} failed"
    );
    assert!(md.contains(&outage), "{md}");
    let budget = format!(
        "- Error budget: {errors} failures of 6 allowed ({:.0}% used), burn rate {:.2}× the allowed pace",
        errors / 6.0 * 100.0,
        errors / 6.0
    );
    assert!(md.contains(&budget), "{budget}\n{md}");
    let html = std::fs::read_to_string(r.out.join("report.html")).unwrap();
    assert!(html.contains(window) && html.contains(&outage[2..]) && html.contains(&budget[2..]), "{html}");
    let junit = std::fs::read_to_string(r.out.join("junit.xml")).unwrap();
    assert!(junit.contains("availability in every window measured") && junit.contains(window), "{junit}");
}

#[test]
fn a_hanging_provider_fails_over_after_the_tier_timeout_and_that_is_the_added_latency() {
    let ws = Workspace::new();
    let s = ws.run(&ws.write("hang.toml", &outage_scenario("hang", "")), &[]).summary();
    assert_counts_add_up(&s);
    assert_eq!(f(&s, &["availability"]), 1.0);
    // As above, a request sent a few milliseconds late can cross the window's edge.
    let timeouts = s["failover"]["reasons"]["timeout"].as_f64().unwrap();
    assert!((timeouts - 200.0).abs() <= 3.0, "{timeouts}");
    // Each rescued request first waited out the default tier's 200 ms timeout.
    let added = f(&s, &["failover", "added_latency_ms", "p50"]);
    assert!((200.0..260.0).contains(&added), "added latency p50 {added} ms");
    // With failover no user saw an error, so the error burst (bounded by the tier timeout) is empty.
    assert!(f(&s["outages"][0], &["user_errors_span_s"]) <= 0.2);
}

#[test]
fn retries_back_off_and_are_counted_per_attempt() {
    let ws = Workspace::new();
    let text = "name = \"retry\"\n[target]\nmock = \"bad\"\n[load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"1s\"\n\
                [failover]\nretries = 2\nbackoff = \"10ms\"\nbackoff_cap = \"20ms\"\n\
                [[mock.providers]]\nname = \"bad\"\nerrors = { rate = \"100%\", statuses = [503] }\n";
    let s = ws.run(&ws.write("retry.toml", text), &[]).summary();
    assert_eq!(f(&s, &["counts", "error"]), 50.0);
    assert_eq!(f(&s["tiers"][0], &["attempts", "total"]), 150.0);
    assert_eq!(s["failover"]["reasons"]["status 503"], 100);
    assert_eq!(f(&s, &["failover", "failed_over"]), 0.0, "one tier: retries are not failovers");
    assert_eq!(f(&s, &["failover", "retry_rescued"]), 0.0, "no retry succeeded");

    // Half the answers fail: a request that failed first and then succeeded was saved by a retry. Every
    // request that still failed had retried too, so the saved ones are the retried ones less the failures.
    let half = text.replace("rate = \"100%\"", "rate = \"50%\"");
    let r = ws.run(&ws.write("half.toml", &half), &["--verbose"]);
    let s = r.summary();
    let (retried, failed) = (f(&s, &["failover", "retried"]), f(&s, &["counts", "error"]));
    let saved = f(&s, &["failover", "retry_rescued"]);
    assert!(saved > 0.0 && saved == retried - failed, "{saved} saved of {retried} retried, {failed} failed");
    assert_eq!(f(&s, &["failover", "rescued"]), 0.0, "a retry on the same tier is not a rescue by another");
    assert!(r.stdout.contains(&format!("{saved} saved by a retry on the same tier")), "{}", r.stdout);
}

/// Answers 503 and remembers nothing; wiremock's journal keeps the requests for the test to read.
#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_are_unique_per_request_and_shared_by_its_attempts() {
    let start = |status: u16| async move {
        let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(status).set_body_string("{}"))
            .mount(&server)
            .await;
        server
    };
    let (primary, fallback) = (start(503).await, start(200).await);
    let ws = Workspace::new();
    let text = format!(
        "name = \"keys\"\n[target]\n[load]\nprofile = \"constant\"\nrate = \"40/s\"\nduration = \"1s\"\n\
         [[tiers]]\nname = \"a\"\nurl = \"{}/v1/chat/completions\"\nmodel = \"m\"\n\
         [[tiers]]\nname = \"b\"\nurl = \"{}/v1/chat/completions\"\nmodel = \"m\"\n\
         [failover]\nchain = [\"a\", \"b\"]\n",
        primary.uri(),
        fallback.uri()
    );
    let file = ws.write("keys.toml", &text);
    let code = tokio::task::spawn_blocking(move || ws.run(&file, &[]).code).await.unwrap();
    assert_eq!(code, 0);
    let keys = |requests: Vec<Request>| -> Vec<String> {
        requests.iter().map(|r| r.headers.get("idempotency-key").unwrap().to_str().unwrap().to_string()).collect()
    };
    let mut a = keys(primary.received_requests().await.unwrap());
    let mut b = keys(fallback.received_requests().await.unwrap());
    assert_eq!(a.len(), 40);
    a.sort();
    b.sort();
    let mut unique = a.clone();
    unique.dedup();
    assert_eq!(unique.len(), 40, "one key per logical request");
    assert_eq!(a, b, "each request's second attempt carries its first attempt's key");
}

/// A gateway stand-in: it fails over internally and says which upstream answered, alternately; one answer in
/// eight is a 503 from the primary, which still names it.
struct Gateway(AtomicU64);
impl Respond for Gateway {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let upstream = if n.is_multiple_of(4) { "fallback" } else { "primary" };
        ResponseTemplate::new(if n % 8 == 1 { 503 } else { 200 })
            .insert_header("x-upstream", upstream)
            .set_body_string(format!("{{\"model\": \"{upstream}-model\"}}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn served_by_is_read_from_a_gateway_header_or_json_field() {
    let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
    Mock::given(method("POST")).respond_with(Gateway(AtomicU64::new(0))).mount(&server).await;
    let ws = Workspace::new();
    let scenario = |served_by: &str| {
        format!(
            "name = \"gw\"\nserved_by = {served_by}\n[target]\nurl = \"{}/v1/chat/completions\"\nbody = '{{}}'\n\
             [load]\nprofile = \"constant\"\nrate = \"40/s\"\nduration = \"1s\"\n",
            server.uri()
        )
    };
    let header = ws.write("header.toml", &scenario("{ header = \"x-upstream\" }"));
    let json = ws.write("json.toml", &scenario("{ json = \"/model\" }"));
    let misspelled = ws.write("misspelled.toml", &scenario("{ header = \"x-upstreams\" }"));
    // The workspace comes back with the runs: its folder lives as long as `_ws` does.
    let (_ws, h, j, m) = tokio::task::spawn_blocking(move || {
        let runs = (ws.run(&header, &[]), ws.run(&json, &[]), ws.run(&misspelled, &[]));
        (ws, runs.0, runs.1, runs.2)
    })
    .await
    .unwrap();
    let (h_summary, j_summary) = (h.summary(), j.summary());
    let by = |s: &serde_json::Value, name: &str| {
        s["upstreams"].as_array().unwrap().iter().find(|u| u["name"] == name).map(|u| u["counts"].clone())
    };
    let total = |s: &serde_json::Value, name: &str| by(s, name).map(|c| f(&c, &["total"]));
    // 40 requests: every fourth from the fallback, and the 5 failures (n = 1, 9, 17, …) named with the primary.
    assert_eq!((total(&h_summary, "primary"), total(&h_summary, "fallback")), (Some(30.0), Some(10.0)));
    assert_eq!(f(&by(&h_summary, "primary").unwrap(), &["error"]), 5.0);
    assert_eq!((f(&h_summary, &["counts", "error"]), f(&h_summary, &["served_by_missing"])), (5.0, 0.0));
    assert!(h.stdout.contains("served by primary 75.0%, fallback 25.0%"), "{}", h.stdout);
    // The JSON field is read from failures too.
    assert_eq!((total(&j_summary, "primary-model"), total(&j_summary, "fallback-model")), (Some(30.0), Some(10.0)));
    assert_eq!((total(&j_summary, "unknown"), f(&j_summary, &["served_by_missing"])), (None, 0.0));
    // A misspelled header names no one: all 40 are unknown, never the target's name, and the run says so.
    let m_summary = m.summary();
    assert_eq!(m_summary["upstreams"].as_array().unwrap().len(), 1);
    assert_eq!((total(&m_summary, "unknown"), f(&m_summary, &["served_by_missing"])), (Some(40.0), 40.0));
    assert!(
        m.stdout.contains("WARNING: 40 answers (of 40 requests) carried no served-by value (header `x-upstreams`)"),
        "{}",
        m.stdout
    );
    let md = std::fs::read_to_string(m.out.join("summary.md")).unwrap();
    assert!(
        md.contains("> ⚠️ 40 answers (of 40 requests) carried no served-by value")
            && md.contains("- Served by: unknown 40 (100.0%)"),
        "{md}"
    );
}

#[test]
fn targets_scoped_to_a_tier_or_class_and_on_failover_pass_and_fail_as_they_should() {
    let ws = Workspace::new();
    let with_sla = |mode: &str, sla: &str| outage_scenario(mode, "").replace("[sla]\navailability = \"99%\"\n", sla);
    // Failover hides the outage from users, not from the tier's own availability (400 of 600 attempts).
    let sla = "[sla]\navailability = \"99%\"\nmax_error_burst = \"0s\"\n[sla.tier.default]\navailability = \"90%\"\n\
               [sla.tier.fallback]\np90 = \"1s\"\np99 = \"1s\"\n[sla.class.default]\np99 = \"2s\"\n";
    let r = ws.run(&ws.write("scoped.toml", &with_sla("status", sla)), &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let targets = r.summary()["verdict"]["targets"].as_array().unwrap().clone();
    let passed =
        |name: &str| targets.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name}"))["passed"].clone();
    assert_eq!(passed("availability"), true);
    assert_eq!(passed("max_error_burst"), true);
    assert_eq!(passed("tier default availability"), false);
    assert_eq!(passed("tier fallback p90"), true);
    // About 200 fallback attempts cannot show a p99: at most two of them lie beyond it.
    let judgement = |name: &str| targets.iter().find(|t| t["name"] == name).unwrap()["judgement"].clone();
    assert_eq!(judgement("tier fallback p99"), "insufficient_data");
    assert_eq!(passed("class default p99"), true);
    // A hanging primary makes each rescued request wait out the 200 ms tier timeout.
    let sla = "[sla]\nfailover_added_p99 = \"50ms\"\n";
    let r = ws.run(&ws.write("added.toml", &with_sla("hang", sla)), &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.summary()["verdict"]["targets"][0]["passed"], false);
    // Without failover the outage is a burst of errors about one second long: every request that arrived in
    // the 1 s window failed.
    let sla = "[sla]\nmax_error_burst = \"500ms\"\n";
    let r = ws.run(&ws.write("burst.toml", &with_sla("status", sla)), &["--set", "failover.enabled=false"]);
    assert_eq!(r.code, 1);
    let s = r.summary();
    let measured = f(&s["verdict"]["targets"][0], &["measured_ms"]);
    // At most the span of all the failed rows (first intended send to last completion), from requests.parquet.
    let rows = common::parquet_rows(&r.out.join("requests.parquet"));
    let failed: Vec<_> = rows.iter().filter(|row| row["outcome"] != "ok").collect();
    let first = failed.iter().map(|row| row["intended_ms"].as_f64().unwrap()).fold(f64::MAX, f64::min);
    let last = failed.iter().map(|row| row["done_ms"].as_f64().unwrap()).fold(0.0, f64::max);
    assert!(measured <= last - first + 0.01, "{measured} > {}", last - first);
    // At least the window less what the lag can move across its edges (a request due before it that arrived in
    // it, or one due in it that arrived after): a success in between splits the run only there.
    let lag = f(&s, &["lag_ms", "max"]);
    assert!(measured >= 1000.0 - 2.0 * lag - 10.0, "{measured} with lag up to {lag} ms");
}

#[test]
fn hedging_sends_at_most_its_share_and_the_faster_answer_wins() {
    let ws = Workspace::new();
    let text = "name = \"hedge\"\n[target]\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"2s\"\n\
                [[tiers]]\nname = \"slow\"\nmock = \"slow\"\nmodel = \"m\"\n\
                [[tiers]]\nname = \"fast\"\nmock = \"fast\"\nmodel = \"m\"\n\
                [failover]\nchain = [\"slow\", \"fast\"]\nhedge_after = \"30ms\"\nhedge_max_share = \"20%\"\n\
                [[mock.providers]]\nname = \"slow\"\nlatency = { dist = \"fixed\", value = \"150ms\" }\n\
                [[mock.providers]]\nname = \"fast\"\nlatency = { dist = \"fixed\", value = \"5ms\" }\n";
    let s = ws.run(&ws.write("hedge.toml", text), &[]).summary();
    assert_counts_add_up(&s);
    assert_eq!(f(&s, &["availability"]), 1.0);
    let hedged = f(&s, &["failover", "hedged"]);
    // Every request waits past 30 ms, so only the budget limits hedges: at most 20% of 200 (+1 for rounding).
    assert!((30.0..=41.0).contains(&hedged), "{hedged} hedges for 200 requests at a 20% budget");
    assert_eq!(f(&s, &["failover", "hedge_won"]), hedged, "the 5 ms tier always beats the 150 ms one");
    let tiers = s["tiers"].as_array().unwrap();
    assert_eq!(f(&tiers[1], &["served"]), hedged);
    assert_eq!(f(&tiers[0], &["served"]), 200.0 - hedged);
    // Every request was sent to the slow tier. The hedged ones' slow attempts were cancelled when the fast
    // answer came: they reached the provider, so they count as attempts, apart, and not in its availability.
    assert_eq!((f(&tiers[0], &["hedged_away"]), f(&tiers[0], &["attempts", "total"])), (hedged, 200.0 - hedged));
    assert_eq!((f(&tiers[1], &["hedged_away"]), f(&tiers[1], &["attempts", "total"])), (0.0, hedged));
    assert_eq!(f(&tiers[0], &["availability"]), 1.0);
    let table = std::fs::read_to_string(ws.path().join("out-hedge/summary.md")).unwrap();
    assert!(table.contains(&format!("| slow | 200 ({hedged} hedged away) |")), "{table}");
    // A hedged answer takes the 30 ms wait plus the fast tier's few milliseconds, not 150 ms.
    let fast_p99 = f(&tiers[1], &["served_latency_ms", "p99"]);
    assert!(fast_p99 < 100.0, "hedged answers p99 {fast_p99} ms");
}

#[test]
fn a_tier_split_across_regions_is_reported_by_region() {
    let ws = Workspace::new();
    let text = "name = \"regions\"\n[target]\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"2s\"\n\
                [[tiers]]\nname = \"default\"\nmodel = \"m\"\n\
                endpoints = [{ region = \"us-east\", mock = \"us\", weight = 3 }, { region = \"eu-west\", mock = \"eu\", weight = 1 }]\n\
                [[mock.providers]]\nname = \"us\"\nlatency = { dist = \"fixed\", value = \"5ms\" }\n\
                [[mock.providers]]\nname = \"eu\"\nlatency = { dist = \"fixed\", value = \"40ms\" }\n\
                errors = { rate = \"10%\", statuses = [503] }\n";
    let s = ws.run(&ws.write("regions.toml", text), &[]).summary();
    assert_counts_add_up(&s);
    let regions = s["regions"].as_array().unwrap();
    let region = |name: &str| regions.iter().find(|r| r["name"] == name).unwrap();
    let (us, eu) = (region("us-east"), region("eu-west"));
    let (n_us, n_eu) = (f(us, &["counts", "total"]), f(eu, &["counts", "total"]));
    assert_eq!(n_us + n_eu, 400.0);
    // A 3:1 split of 400: sd √(400 · 0.75 · 0.25) ≈ 8.7; allow four of them.
    assert!((n_us - 300.0).abs() < 35.0, "us-east {n_us}");
    assert!(f(eu, &["latency_ms", "p50"]) >= 40.0 && f(us, &["latency_ms", "p50"]) < 20.0);
    assert_eq!(f(us, &["availability"]), 1.0);
    assert!(f(eu, &["availability"]) < 0.97, "eu-west's errors are its own");
    assert_eq!(f(eu, &["counts", "error"]), f(&s, &["counts", "error"]));
}

#[test]
fn a_target_on_a_tier_that_no_request_reached_is_an_error_not_a_pass() {
    let ws = Workspace::new();
    // No outage: the fallback tier is never tried, so a target on it has nothing to judge.
    let text = outage_scenario("status", "")
        .replace("outages = [{ window = \"1s..2s\", mode = \"status\" }]\n", "")
        .replace("[sla]\navailability = \"99%\"\n", "[sla]\n[sla.tier.fallback]\np50 = \"1s\"\n");
    let r = ws.run(&ws.write("unreached.toml", &text), &[]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("sla.tier.fallback") && r.stdout.contains("matched no request"), "{}", r.stdout);
    assert_eq!(r.summary()["verdict"]["unmatched_scopes"][0], "sla.tier.fallback");
}

#[test]
fn the_outage_line_shows_the_window_as_configured() {
    let ws = Workspace::new();
    let text = outage_scenario("status", "")
        .replace("window = \"1s..2s\"", "window = \"1.2s..1.6s\"")
        .replace("duration = \"3s\"", "duration = \"2s\"");
    let r = ws.run(&ws.write("fraction.toml", &text), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("outage of primary (tier default) 1.2s..1.6s:"), "{}", r.stdout);
}
