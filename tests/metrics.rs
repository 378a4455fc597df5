//! `run --metrics-addr`: a Prometheus exposition during the run that a Prometheus text parser reads, whose
//! counters at the end are summary.json's.

mod common;
use common::{bin, f, Workspace};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// 200/s for 3 s through two tiers: the first fails 10% with 503 and fails over to the second, which refuses
/// 20% with 429 (about 12 requests fail on both, 2%: availability misses its 99.9%).
const SCENARIO: &str = "name = \"live\"\n\
    [target]\ntimeout = \"2s\"\n\
    [[tiers]]\nname = \"main\"\nmock = \"flaky\"\nmodel = \"m\"\n\
    [[tiers]]\nname = \"backup\"\nmock = \"busy\"\nmodel = \"m\"\n\
    [failover]\nchain = [\"main\", \"backup\"]\n\
    [sla]\navailability = \"99.9%\"\n\
    [load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"3s\"\n\
    [[mock.providers]]\nname = \"flaky\"\nerrors = { rate = \"10%\", statuses = [503] }\n\
    [[mock.providers]]\nname = \"busy\"\nerrors = { rate = \"20%\", statuses = [429] }\n";

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// One scrape: the status line's code and the body.
fn scrape(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Samples by metric name and labels (sorted `k=v` pairs), parsed with the prometheus-parse crate.
fn parse(body: &str) -> BTreeMap<(String, String), f64> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    let mut out = BTreeMap::new();
    for s in scrape.samples {
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => {
                for b in buckets {
                    out.insert((format!("{}_bucket", s.metric), format!("le={}", b.less_than)), b.count);
                }
                continue;
            }
            prometheus_parse::Value::Summary(quantiles) => {
                for q in quantiles {
                    out.insert((s.metric.clone(), format!("quantile={}", q.quantile)), q.count);
                }
                continue;
            }
        };
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        out.insert((s.metric, labels.join(",")), value);
    }
    out
}

fn wait_for(path: &Path, deadline: Instant) {
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the run with live metrics on a free port and waits for a scrape that counts a success. The port is
/// free when chosen, but another process (a mock, an outgoing connection) may take it before slacheck binds it:
/// then slacheck exits with "cannot listen", and the run starts again on another port.
fn live_run(
    file: &Path,
    out: &Path,
    extra: &[&str],
) -> (std::process::Child, SocketAddr, BTreeMap<(String, String), f64>) {
    for _ in 0..5 {
        let addr = free_addr();
        let mut child = Command::new(bin())
            .arg("run")
            .arg(file)
            .args(["--quiet", "--out"])
            .arg(out)
            .args(["--metrics-addr", &addr.to_string(), "--metrics-linger", "30s"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, body)) = scrape(addr, "/metrics") {
                let parsed = parse(&body);
                if parsed.get(&("slacheck_requests_total".into(), "outcome=ok".into())).is_some_and(|v| *v > 0.0) {
                    return (child, addr, parsed);
                }
            }
            if let Ok(Some(_)) = child.try_wait() {
                let mut stderr = String::new();
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
                assert!(stderr.contains("cannot listen"), "the run ended before its metrics were seen: {stderr}");
                break;
            }
            assert!(Instant::now() < deadline, "no live metrics within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("five free ports were taken before slacheck could listen on them");
}

#[test]
fn the_live_exposition_parses_and_ends_equal_to_the_summary() {
    let ws = Workspace::new();
    let file = ws.write("live.toml", SCENARIO);
    let out = ws.path().join("out");
    let started = Instant::now();
    let (child, addr, during) = live_run(&file, &out, &[]);
    assert!(during.contains_key(&("slacheck_in_flight".into(), String::new())), "{during:?}");
    assert_eq!(scrape(addr, "/other").map(|(code, _)| code), Some(404));

    // After it: summary.json is written before the final metrics linger; they agree.
    wait_for(&out.join("summary.json"), Instant::now() + Duration::from_secs(60));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let (_, body) = scrape(addr, "/metrics").expect("the final metrics are served while they linger");
    let m = parse(&body);
    let get = |metric: &str, labels: &str| {
        *m.get(&(metric.to_string(), labels.to_string())).unwrap_or_else(|| panic!("{metric}{{{labels}}} in {body}"))
    };
    for outcome in ["ok", "error", "timeout", "not_sent", "cancelled"] {
        assert_eq!(
            get("slacheck_requests_total", &format!("outcome={outcome}")),
            f(&summary, &["counts", outcome]),
            "{outcome}"
        );
    }
    assert!(f(&summary, &["counts", "total"]) > 500.0);
    assert_eq!(get("slacheck_not_sent_total", ""), f(&summary, &["counts", "not_sent"]));
    for u in summary["upstreams"].as_array().unwrap() {
        let name = u["name"].as_str().unwrap();
        assert_eq!(
            get("slacheck_upstream_requests_total", &format!("outcome=ok,upstream={name}")),
            f(u, &["counts", "ok"])
        );
    }
    for t in summary["tiers"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let attempts_error = get("slacheck_tier_attempts_total", &format!("outcome=error,tier={name}"));
        assert_eq!(attempts_error, f(t, &["attempts", "error"]), "{name}");
    }
    assert!(get("slacheck_tier_attempts_total", "outcome=error,tier=main") > 0.0, "the flaky tier failed some");
    assert_eq!(get("slacheck_failovers_total", ""), f(&summary, &["failover", "failed_over"]));
    // Each error kind is a series; an HTTP status is also its own label, the code as summary.json's key has it.
    let errors = summary["errors"].as_object().unwrap();
    assert!(errors.get("status 429").is_some_and(|n| n.as_f64() > Some(0.0)), "{errors:?}");
    for (kind, n) in errors {
        let labels = match kind.strip_prefix("status ") {
            Some(code) => format!("kind={kind},status={code}"),
            None => format!("kind={kind}"),
        };
        assert_eq!(get("slacheck_errors_total", &labels), n.as_f64().unwrap(), "{labels}");
    }
    let sent = f(&summary, &["counts", "total"]) - f(&summary, &["counts", "not_sent"]);
    // Requests whose client hung up on purpose have no latency.
    let sent = sent - f(&summary, &["counts", "cancelled"]);
    assert_eq!(get("slacheck_latency_seconds_count", ""), sent);
    assert_eq!(get("slacheck_latency_seconds_bucket", "le=inf"), sent);
    // The dispatcher's lag is a histogram (shards' buckets add up): each bucket counts requests.parquet's rows
    // sent at most `le` after their intended time, to HdrHistogram's precision (3 significant digits).
    let rows = common::parquet_rows(&out.join("requests.parquet"));
    let lags_ms: Vec<f64> =
        rows.iter().filter_map(|r| Some(r["sent_ms"].as_f64()? - r["intended_ms"].as_f64()?)).collect();
    assert_eq!(lags_ms.len() as f64, sent);
    assert_eq!(get("slacheck_dispatcher_lag_seconds_count", ""), sent);
    let lag_buckets: Vec<(f64, f64)> = m
        .iter()
        .filter(|((name, _), _)| name == "slacheck_dispatcher_lag_seconds_bucket")
        .filter_map(|((_, labels), n)| Some((labels.strip_prefix("le=")?.parse::<f64>().ok()?, *n)))
        .collect();
    assert!(lag_buckets.len() >= 10, "{lag_buckets:?}");
    for (le, n) in lag_buckets {
        let up_to = |ms: f64| lags_ms.iter().filter(|l| **l <= ms + 1e-9).count() as f64;
        let le_ms = le * 1000.0;
        assert!(up_to(le_ms * 0.999) <= n && n <= up_to(le_ms * 1.001), "lag bucket le={le}: {n}");
    }

    // The run's labels, and the verdict as summary.json's outcome: availability missed (about 2% failed).
    assert_eq!(get("slacheck_run_info", "scenario=live,shard="), 1.0);
    assert_eq!(summary["outcome"], "fail");
    assert_verdict(&m, "fail");
    assert_eq!(get("slacheck_failover_episode_open", ""), 0.0, "every episode is closed at the end");

    // Ctrl-C ends the linger at once.
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(28), "the linger ended early");
    assert_eq!(o.status.code(), Some(1), "the verdict's exit code: {}", String::from_utf8_lossy(&o.stderr));
}

/// The verdict state set has one series per verdict, `expected` at 1 and every other at 0.
fn assert_verdict(m: &BTreeMap<(String, String), f64>, expected: &str) {
    let states: BTreeMap<&str, f64> = m
        .iter()
        .filter(|((name, _), _)| name == "slacheck_verdict")
        .map(|((_, labels), v)| (labels.strip_prefix("verdict=").unwrap(), *v))
        .collect();
    let words = ["fail", "generator-bound", "interrupted", "pass", "undecided", "usage"];
    assert_eq!(states.keys().copied().collect::<Vec<_>>(), words, "{states:?}");
    for (word, v) in &states {
        assert_eq!(*v, f64::from(u8::from(*word == expected)), "verdict {word} (expected {expected}): {states:?}");
    }
}

/// The sum of `metric`'s samples whose labels include `outcome=<outcome>` (over every other label).
fn sum_of(m: &BTreeMap<(String, String), f64>, metric: &str, outcome: &str) -> f64 {
    let wanted = format!("outcome={outcome}");
    m.iter()
        .filter(|((name, labels), _)| name == metric && labels.split(',').any(|l| l == wanted))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn every_scrape_is_one_snapshot() {
    let ws = Workspace::new();
    let file = ws.write("snap.toml", SCENARIO);
    let out = ws.path().join("out-snap");
    let (mut child, addr, first) = live_run(&file, &out, &["--shard", "1/2"]);
    // Scrape as fast as the run answers until its summary is written: each scrape's counters must hold every
    // request at the same point. Before, a snapshot was taken while one request was half counted (in the
    // total, not yet in its class or tier), and every mid-run scrape read one more than its parts.
    let mut scrapes = vec![first];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.join("summary.json").exists() {
        assert!(Instant::now() < deadline, "the run did not end within 60 s");
        if let Some((200, body)) = scrape(addr, "/metrics") {
            scrapes.push(parse(&body));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut totals: Vec<f64> = Vec::new();
    for m in &scrapes {
        let get = |metric: &str, labels: &str| m.get(&(metric.to_string(), labels.to_string())).copied();
        let mut total = 0.0;
        for outcome in ["ok", "error", "timeout", "not_sent"] {
            let overall = get("slacheck_requests_total", &format!("outcome={outcome}")).expect("requests_total");
            total += overall;
            for parts in ["slacheck_class_requests_total", "slacheck_upstream_requests_total"] {
                assert_eq!(sum_of(m, parts, outcome), overall, "{parts} {outcome} in one scrape");
            }
        }
        // Two tiers in a chain, no hedging: each answered request has exactly one successful attempt.
        assert_eq!(
            sum_of(m, "slacheck_tier_attempts_total", "ok"),
            get("slacheck_requests_total", "outcome=ok").unwrap(),
            "successful attempts against answered requests in one scrape"
        );
        let errors: f64 = m.iter().filter(|((n, _), _)| n == "slacheck_errors_total").map(|(_, v)| v).sum();
        assert_eq!(errors, get("slacheck_requests_total", "outcome=error").unwrap());
        let sent = total - get("slacheck_requests_total", "outcome=not_sent").unwrap();
        assert_eq!(get("slacheck_latency_seconds_count", ""), Some(sent), "latency observations in one scrape");
        assert_eq!(get("slacheck_run_info", "scenario=live,shard=1/2"), Some(1.0), "the run's labels");
        let current: Vec<_> = m.iter().filter(|((n, _), v)| n == "slacheck_verdict" && **v == 1.0).collect();
        assert_eq!(current.len(), 1, "one verdict at a time: {current:?}");
        totals.push(total);
    }
    totals.dedup();
    assert!(totals.len() >= 2, "at least two distinct mid-run snapshots were checked: {totals:?}");
}

/// The primary is down from 1 s to 3 s of a 4 s run: every request due then fails over to the fallback.
#[test]
fn an_outage_shows_as_an_open_episode_while_it_lasts() {
    let ws = Workspace::new();
    let text = "name = \"outage\"\n[target]\ntimeout = \"2s\"\n\
                [[tiers]]\nname = \"primary\"\nmock = \"primary\"\nmodel = \"m\"\n\
                [[tiers]]\nname = \"fallback\"\nmock = \"fallback\"\nmodel = \"m\"\n\
                [failover]\nchain = [\"primary\", \"fallback\"]\n\
                [load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"4s\"\n\
                [[mock.providers]]\nname = \"primary\"\noutages = [{ window = \"1s..3s\", mode = \"status\", status = 503 }]\n\
                [[mock.providers]]\nname = \"fallback\"\n";
    let file = ws.write("outage.toml", text);
    let out = ws.path().join("out-outage");
    let (mut child, addr, _) = live_run(&file, &out, &[]);
    let mut open = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.join("summary.json").exists() {
        assert!(Instant::now() < deadline, "the run did not end within 60 s");
        if let Some((200, body)) = scrape(addr, "/metrics") {
            open.extend(parse(&body).get(&("slacheck_failover_episode_open".into(), String::new())).copied());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let last = scrape(addr, "/metrics").map(|(_, body)| parse(&body));
    let _ = child.kill();
    let _ = child.wait();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["failover_episodes"]["list"].as_array().map(Vec::len), Some(1), "one episode: the outage");
    // The recorder shows a snapshot as each second closes: those of seconds 2 and 3 fall inside the outage.
    assert!(open.contains(&1.0), "no scrape saw the episode open: {open:?}");
    let last = last.expect("the final metrics are served while they linger");
    assert_eq!(last.get(&("slacheck_failover_episode_open".into(), String::new())), Some(&0.0), "closed at the end");
    assert_verdict(&last, "pass");
}

/// A histogram's finite buckets from a scrape: (upper bound in seconds, cumulative count), ascending, and the
/// `+Inf` bucket's count.
fn buckets(m: &BTreeMap<(String, String), f64>, metric: &str) -> (Vec<(f64, f64)>, f64) {
    let name = format!("{metric}_bucket");
    let mut finite: Vec<(f64, f64)> = m
        .iter()
        .filter(|((n, labels), _)| *n == name && labels != "le=inf")
        .map(|((_, labels), v)| (labels.strip_prefix("le=").unwrap().parse::<f64>().unwrap(), *v))
        .collect();
    finite.sort_by(|a, b| a.0.total_cmp(&b.0));
    (finite, m[&(name, "le=inf".to_string())])
}

/// Prometheus's `histogram_quantile`, written out: the bucket where the rank `q × count` falls, interpolated
/// linearly between its lower bound (0 for the first) and its upper bound. Returns the estimate and that
/// bucket's (lower, upper) bounds.
fn histogram_quantile(q: f64, finite: &[(f64, f64)], total: f64) -> (f64, f64, f64) {
    let rank = q * total;
    let i = finite.iter().position(|(_, n)| *n >= rank).expect("the quantile falls in a finite bucket");
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { finite[i - 1] };
    let (upper, count) = finite[i];
    (lower + (upper - lower) * (rank - below) / (count - below), lower, upper)
}

/// Streams whose latency (about 40..80 ms: a first token at 20..60 ms, then 7 gaps of 3 ms) lies around the
/// limits 60 ms (p50) and 90 ms (p99), and whose TTFT lies below its limit of 70 ms.
#[test]
fn buckets_have_a_bound_at_each_limit_and_the_quantile_agrees_with_the_summary() {
    let ws = Workspace::new();
    let text = "name = \"limits\"\n[target]\ntimeout = \"5s\"\n\
                [load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"3s\"\n\
                [sla]\np50 = \"60ms\"\np99 = \"90ms\"\nttft_p99 = \"70ms\"\n\
                [[tiers]]\nname = \"llm\"\nmock = \"p\"\nmodel = \"m\"\n\
                [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"llm\"\nmax_tokens = 8\nstream = true\n\
                [[mock.providers]]\nname = \"p\"\n\
                stream = { ttft = { dist = \"uniform\", min = \"20ms\", max = \"60ms\" }, \
                inter_token = { dist = \"fixed\", value = \"3ms\" } }\n";
    let file = ws.write("limits.toml", text);
    let out = ws.path().join("out-limits");
    let (mut child, addr, _) = live_run(&file, &out, &[]);
    wait_for(&out.join("summary.json"), Instant::now() + Duration::from_secs(60));
    let scraped = scrape(addr, "/metrics");
    let _ = child.kill();
    let _ = child.wait();
    let (_, body) = scraped.expect("the final metrics are served while they linger");
    let m = parse(&body);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let rows = common::parquet_rows(&out.join("requests.parquet"));
    for (metric, limits, p99_ms, column) in [
        ("slacheck_latency_seconds", vec![0.06, 0.09], f(&summary, &["latency_ms", "p99"]), "latency_ms"),
        ("slacheck_ttft_seconds", vec![0.07], f(&summary, &["streaming", "ttft_ms", "p99"]), "ttft_ms"),
    ] {
        let (finite, total) = buckets(&m, metric);
        assert!(finite.len() <= 40, "{metric}: {} buckets", finite.len());
        assert!(total > 500.0, "{metric}: {total} observations");
        // Each limit is a bound, and the share within it is read there: requests.parquet's rows at most the
        // limit, to HdrHistogram's precision (3 significant digits).
        let values: Vec<f64> = rows.iter().filter_map(|r| r[column].as_f64()).collect();
        assert_eq!(values.len() as f64, total, "{metric}");
        let up_to = |ms: f64| values.iter().filter(|v| **v <= ms).count() as f64;
        for limit in &limits {
            let (_, n) = *finite.iter().find(|(le, _)| le == limit).unwrap_or_else(|| panic!("{metric}: {limit} s"));
            let ms = limit * 1000.0;
            assert!(up_to(ms * 0.999) <= n && n <= up_to(ms * 1.001), "{metric} within {limit} s: {n}");
        }
        // A dashboard's p99 is summary.json's within the width of the bucket it falls in; and near the limits
        // (from a third of the lowest to three times the highest), a bucket is at most 10% wide.
        let (estimate, lower, upper) = histogram_quantile(0.99, &finite, total);
        let p99 = p99_ms / 1000.0;
        assert!((estimate - p99).abs() <= upper - lower, "{metric}: {estimate} against {p99} in ({lower}, {upper}]");
        if p99 > limits[0] / 3.0 && p99 < limits[limits.len() - 1] * 3.0 {
            assert!(upper / lower <= 1.1 + 1e-3, "{metric}: the p99 {p99} s fell in ({lower}, {upper}]");
        }
        eprintln!("{metric}: p99 {p99} s, histogram_quantile {estimate} s in ({lower}, {upper}]");
    }
}

#[test]
fn an_address_in_use_is_refused_before_sending() {
    let ws = Workspace::new();
    let file = ws.write("live.toml", SCENARIO);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = ws.run(&file, &["--quiet", "--metrics-addr", &addr]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--metrics-addr") && r.stderr.contains("cannot listen"), "{}", r.stderr);
    assert!(!r.out.join("summary.json").exists());
}

#[test]
fn idle_connections_do_not_keep_a_scrape_out() {
    let ws = Workspace::new();
    let file = ws.write("idle.toml", SCENARIO);
    let (mut child, addr, _) = live_run(&file, &ws.path().join("out-idle"), &[]);
    // More connections that say nothing than there are scrape slots (16), all kept open: without room for a
    // scrape, it would wait behind them (5 s each, 16 at a time) past its own read timeout of 5 s.
    let idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let scraped = scrape(addr, "/metrics");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(scraped.map(|(code, _)| code), Some(200), "a scrape behind 40 idle connections");
    // The slot it took was an idle connection's: the oldest were closed by the server.
    let mut first = &idle[0];
    first.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(first.read(&mut [0u8; 16]).ok(), Some(0), "the oldest idle connection was closed");
}
