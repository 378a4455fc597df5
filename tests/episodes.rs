//! Failover episodes seen from outside: a gateway stand-in fails over internally on a schedule slacheck is not
//! told, and the run finds the episode from the requests alone.

mod common;
use common::{f, Workspace};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// From 1 s to 2 s after its first request, the primary is down: for the first 50 ms of that the gateway
/// answers 503, then it serves from the fallback. It counts what it did.
#[derive(Clone, Default)]
struct FailingOverGateway {
    first: Arc<OnceLock<Instant>>,
    errors: Arc<AtomicU64>,
    fallback: Arc<AtomicU64>,
}

impl Respond for FailingOverGateway {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let since = self.first.get_or_init(Instant::now).elapsed();
        let (status, upstream) = if since < Duration::from_secs(1) || since >= Duration::from_secs(2) {
            (200, "primary")
        } else if since < Duration::from_millis(1_050) {
            self.errors.fetch_add(1, Ordering::Relaxed);
            (503, "primary")
        } else {
            self.fallback.fetch_add(1, Ordering::Relaxed);
            (200, "fallback")
        };
        // Its own marker, as LiteLLM's `x-litellm-attempted-fallbacks`: how many fallbacks it tried.
        let tried = if upstream == "fallback" { "1" } else { "0" };
        ResponseTemplate::new(status)
            .insert_header("x-upstream", upstream)
            .insert_header("x-attempted-fallbacks", tried)
            .set_body_string("{}")
    }
}

/// `slacheck run FILE --verbose` off the async runtime (the stand-in answers on it meanwhile).
async fn run_verbose(ws: Workspace, file: std::path::PathBuf) -> (Workspace, common::Ran) {
    tokio::task::spawn_blocking(move || {
        let r = ws.run(&file, &["--verbose"]);
        (ws, r)
    })
    .await
    .unwrap()
}

/// Runs 3 s at 200/s against a fresh stand-in, with this `served_by`; returns the stand-in and the run.
async fn run_against_gateway(served_by: &str) -> (FailingOverGateway, common::Ran, Workspace) {
    let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
    let gateway = FailingOverGateway::default();
    Mock::given(method("POST")).respond_with(gateway.clone()).mount(&server).await;
    let ws = Workspace::new();
    let text = format!(
        "name = \"gw\"\nserved_by = {served_by}\n[target]\nurl = \"{}/v1/chat/completions\"\n\
         body = '{{}}'\n[load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"3s\"\n\
         [sla]\nmax_time_to_failover = \"30s\"\nmax_episode_errors = 0\nmax_time_to_recover = \"30s\"\n",
        server.uri()
    );
    let file = ws.write("gw.toml", &text);
    let (ws, r) = run_verbose(ws, file).await;
    (gateway, r, ws)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_internal_failover_is_one_episode_found_from_the_requests_alone() {
    let (gateway, r, _ws) = run_against_gateway("{ header = \"x-upstream\" }").await;
    let s = r.summary();
    let found = &s["failover_episodes"];
    assert_eq!(found["primary"]["names"][0], "primary", "{found}");
    assert_eq!(found["primary"]["chosen_by"], "most served of the first 100 successes");
    let episodes = found["list"].as_array().unwrap();
    assert_eq!(episodes.len(), 1, "{found}");
    let e = &episodes[0];
    // What users saw, and who served, exactly as the stand-in counted.
    let (errors, fallback) = (gateway.errors.load(Ordering::Relaxed), gateway.fallback.load(Ordering::Relaxed));
    assert!(errors > 0 && fallback > 150, "{errors} errors, {fallback} from the fallback");
    assert_eq!(f(e, &["failed"]), errors as f64);
    assert_eq!(f(e, &["served_by", "fallback"]), fallback as f64);
    assert_eq!(f(e, &["requests"]), (errors + fallback) as f64);
    // Its edges: the stand-in's clock starts when the first request arrives, which is late by that request's
    // lag and travel; each edge request is late by its own. So each edge is within the largest lag plus the
    // slowest answer of the gateway's 1 s and 2 s, plus one request's spacing (5 ms).
    let tolerance = f(&s, &["lag_ms", "max"]) + f(&s, &["service_time_ms", "max"]) + 5.0;
    let (start, end) = (f(e, &["start_ms"]), f(e, &["end_ms"]));
    assert!((start - 1_000.0).abs() <= tolerance, "start {start} ms, tolerance {tolerance} ms");
    assert!((end - 2_000.0).abs() <= tolerance, "end {end} ms, tolerance {tolerance} ms");
    assert_eq!((e["recovered"].as_bool(), e["isolated"].as_bool()), (Some(true), Some(false)));
    // The gateway's failover is internal and unmarked, but who served shows it: every request the fallback served
    // failed over, as the stand-in counted, and summary.json says the count was inferred. Availability before
    // failover leaves out the errors and the requests the fallback saved.
    let failover = &s["failover"];
    assert_eq!(
        (f(failover, &["failed_over"]), f(failover, &["rescued"]), f(failover, &["inferred"])),
        (fallback as f64, fallback as f64, fallback as f64),
        "{failover}"
    );
    assert_eq!(failover["source"], "inferred");
    let total = f(&s, &["counts", "total"]);
    assert_eq!(f(&s, &["availability_before_failover"]), (total - (errors + fallback) as f64) / total);
    let timeline_failovers: f64 = s["timeline"].as_array().unwrap().iter().map(|row| f(row, &["failovers"])).sum();
    assert_eq!(timeline_failovers, fallback as f64, "the timeline's failovers add up to the count");
    let said =
        "observed failover episodes: 1, 0 of them isolated anomalies; judged against the primary upstream, `primary`";
    assert!(r.stdout.contains(said), "{}", r.stdout);
    let said = format!("failed over: {fallback} requests ({fallback} rescued), {fallback} of them inferred");
    assert!(r.stdout.contains(&said), "{}", r.stdout);
    // The episode targets are judged on it: the users' errors miss `max_episode_errors = 0` (exit 1); the times
    // are the episode's own.
    let target =
        |name: &str| s["verdict"]["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(
        (target("max_episode_errors")["judgement"].as_str(), target("max_episode_errors")["measured_count"].as_u64()),
        (Some("fail"), Some(errors))
    );
    assert_eq!(target("max_time_to_failover")["measured_ms"], e["time_to_failover_ms"]);
    assert_eq!(target("max_time_to_recover")["measured_ms"], e["time_to_recover_ms"]);
    assert_eq!(
        (target("max_time_to_failover")["judgement"].as_str(), target("max_time_to_recover")["judgement"].as_str()),
        (Some("pass"), Some("pass"))
    );
    // Second by second, who served: every row's counts add up to its requests, and the fallback's to the
    // stand-in's own count, nearly all of it in second 1.
    let rows = s["timeline"].as_array().unwrap();
    let served = |row: &serde_json::Value, name: &str| row["served_by"][name].as_f64().unwrap_or(0.0);
    for row in rows {
        let sum: f64 = row["served_by"].as_object().map_or(0.0, |m| m.values().map(|v| v.as_f64().unwrap()).sum());
        assert_eq!(sum, f(row, &["offered"]), "{row}");
    }
    assert_eq!(rows.iter().map(|row| served(row, "fallback")).sum::<f64>(), fallback as f64);
    assert_eq!(served(&rows[0], "fallback"), 0.0);
    assert!(served(&rows[1], "fallback") >= 150.0, "{}", rows[1]);
    // requests.parquet says which requests were the episode's: exactly its `requests`, every one of them due
    // within it.
    let rows = common::parquet_rows(&r.out.join("requests.parquet"));
    let in_episode: Vec<_> = rows.iter().filter(|row| row["episode"].as_u64() == Some(0)).collect();
    assert_eq!(in_episode.len() as f64, f(e, &["requests"]));
    assert!(in_episode.iter().all(|row| (start..end).contains(&row["intended_ms"].as_f64().unwrap())));
    assert!(rows.iter().all(|row| row["episode"].is_null() || row["episode"].as_u64() == Some(0)));
    // …and which failed over: exactly the fallback's, as the stand-in counted them.
    let failed_over: Vec<_> = rows.iter().filter(|row| row["failed_over"] == true).collect();
    assert_eq!(failed_over.len() as u64, fallback);
    assert!(failed_over.iter().all(|row| row["upstream"] == "fallback" && row["episode"].as_u64() == Some(0)));
    // And in the interval log, one latency series per upstream.
    let log = slacheck::hlog::read(&r.out.join("latency.hlog")).unwrap();
    let count = |tag: &str| log.total(tag).map_or(0, |h| h.len());
    assert_eq!(count("upstream.fallback"), fallback);
    assert_eq!(count("upstream.fallback") + count("upstream.primary"), f(&s, &["counts", "total"]) as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateways_own_marker_counts_its_failovers_and_gives_availability_before_them() {
    let served_by =
        "{ header = \"x-upstream\", primary = \"primary\", failed_over = { header = \"x-attempted-fallbacks\" } }";
    let (gateway, r, _ws) = run_against_gateway(served_by).await;
    let s = r.summary();
    let (errors, fallback) = (gateway.errors.load(Ordering::Relaxed), gateway.fallback.load(Ordering::Relaxed));
    let total = f(&s, &["counts", "total"]);
    // Every answer the gateway marked is a failover, and a rescue; the first attempts that held are the rest.
    assert_eq!(
        (f(&s, &["failover", "failed_over"]), f(&s, &["failover", "rescued"])),
        (fallback as f64, fallback as f64)
    );
    let before = f(&s, &["availability_before_failover"]);
    assert_eq!(before, (total - errors as f64 - fallback as f64) / total);
    assert_eq!(s["failover_episodes"]["primary"]["chosen_by"], "served_by.primary");
    let episodes = s["failover_episodes"]["list"].as_array().unwrap();
    assert_eq!(episodes.len(), 1, "{}", s["failover_episodes"]);
    assert_eq!(f(&episodes[0], &["served_by", "fallback"]), fallback as f64);
}

/// Against the mock, whose outage schedule is known: the episode found from the requests starts and ends where
/// the schedule says, within one inter-arrival time (10 ms at 100/s) plus the run's own largest lag.
#[test]
fn against_the_mock_the_episode_agrees_with_its_outage_schedule() {
    let ws = Workspace::new();
    let text = "name = \"sched\"\n[target]\ntimeout = \"2s\"\n\
                [[tiers]]\nname = \"primary\"\nmock = \"primary\"\nmodel = \"m\"\n\
                [[tiers]]\nname = \"fallback\"\nmock = \"fallback\"\nmodel = \"m\"\n\
                [failover]\nchain = [\"primary\", \"fallback\"]\n\
                [load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"3s\"\n\
                [[mock.providers]]\nname = \"primary\"\noutages = [{ window = \"1s..2s\", mode = \"status\", status = 503 }]\n\
                [[mock.providers]]\nname = \"fallback\"\n";
    let r = ws.run(&ws.write("sched.toml", text), &["--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    let list = s["failover_episodes"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", s["failover_episodes"]);
    let e = &list[0];
    let tolerance = 10.0 + f(&s, &["lag_ms", "max"]);
    let (start, end) = (f(e, &["start_ms"]), f(e, &["end_ms"]));
    assert!((start - 1_000.0).abs() <= tolerance, "start {start} ms, tolerance {tolerance} ms");
    assert!((end - 2_000.0).abs() <= tolerance, "end {end} ms, tolerance {tolerance} ms");
    // Every request due in the outage went to the fallback, and users saw no failure.
    assert_eq!(f(e, &["failed"]), 0.0);
    assert_eq!(f(e, &["served_by", "fallback"]), f(e, &["requests"]));
    assert!((f(e, &["requests"]) - 100.0).abs() <= 1.0 + tolerance / 10.0, "{e}");
}

/// nginx with a `backup` server, as its `$upstream_addr` says it: every 5th request was refused by the primary
/// and retried on the backup (`"A, B"`), the rest served by the primary. It counts the retried ones.
#[derive(Clone, Default)]
struct RetryingNginx {
    seen: Arc<AtomicU64>,
    retried: Arc<AtomicU64>,
}

impl Respond for RetryingNginx {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let upstream = if self.seen.fetch_add(1, Ordering::Relaxed) % 5 == 4 {
            self.retried.fetch_add(1, Ordering::Relaxed);
            "127.0.0.1:19201, 127.0.0.1:19202"
        } else {
            "127.0.0.1:19201"
        };
        ResponseTemplate::new(200).insert_header("x-upstream", upstream).set_body_string("{}")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listed_served_by_counts_the_last_upstream_and_a_failover() {
    let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
    let nginx = RetryingNginx::default();
    Mock::given(method("POST")).respond_with(nginx.clone()).mount(&server).await;
    let ws = Workspace::new();
    let text = format!(
        "name = \"nginx\"\nserved_by = {{ header = \"x-upstream\" }}\n[target]\nurl = \"{}/v1/chat/completions\"\n\
         body = '{{}}'\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"2s\"\n[sla]\navailability = \"90%\"\n",
        server.uri()
    );
    let file = ws.write("nginx.toml", &text);
    let (_ws, r) = run_verbose(ws, file).await;
    let s = r.summary();
    let (seen, retried) = (nginx.seen.load(Ordering::Relaxed), nginx.retried.load(Ordering::Relaxed));
    assert_eq!(f(&s, &["counts", "total"]), seen as f64, "every request reached the stand-in once");
    let served = |name: &str| {
        let rows = s["upstreams"].as_array().unwrap();
        rows.iter().find(|u| u["name"] == name).map_or(0.0, |u| f(u, &["counts", "total"]))
    };
    // The backup is an upstream of its own, with exactly the retried requests; no name is a list.
    assert_eq!(served("127.0.0.1:19202"), retried as f64, "{}", s["upstreams"]);
    assert_eq!(served("127.0.0.1:19201"), (seen - retried) as f64, "{}", s["upstreams"]);
    assert!(s["upstreams"].as_array().unwrap().iter().all(|u| !u["name"].as_str().unwrap().contains(',')));
    // A list longer than one is a failover, as the gateway reported it.
    assert_eq!(f(&s, &["failover", "failed_over"]), retried as f64, "{}", s["failover"]);
    assert!(!r.stdout.contains("19201, 127.0.0.1"), "the terminal never prints a list as a name:\n{}", r.stdout);
    // Each earlier item is a failed attempt on that upstream: the primary refused every retried request, so its
    // availability is its successes over its successes and refusals, and the backup failed none.
    let row = |name: &str| s["upstreams"].as_array().unwrap().iter().find(|u| u["name"] == name).unwrap().clone();
    let (primary, backup) = (row("127.0.0.1:19201"), row("127.0.0.1:19202"));
    assert_eq!(f(&primary, &["failed_attempts"]), retried as f64, "{primary}");
    assert_eq!(f(&backup, &["failed_attempts"]), 0.0, "{backup}");
    let expected = (seen - retried) as f64 / seen as f64;
    assert!((f(&primary, &["availability"]) - expected).abs() < 1e-9, "{primary} against {expected}");
    assert_eq!(f(&backup, &["availability"]), 1.0, "{backup}");
    let said = format!("failed attempts before another upstream served: 127.0.0.1:19201 {retried}");
    assert!(r.stdout.contains(&said), "the terminal names the refusals ({said}):\n{}", r.stdout);
}
