//! requests.parquet: one row per scheduled request, agreeing with summary.json and with what the target saw;
//! the request id reaches the target, and captured response headers come back in the row.

mod common;
use common::{parquet_rows, Workspace};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Every 7th request it receives fails with 503; each answer takes 40 ms and names the request id it got in its
/// own call-id header, as a gateway's log line would.
#[derive(Clone, Default)]
struct Gateway {
    received: Arc<AtomicU64>,
}

impl Respond for Gateway {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = self.received.fetch_add(1, Ordering::Relaxed);
        let id = request.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("none");
        let status = if n % 7 == 6 { 503 } else { 200 };
        ResponseTemplate::new(status)
            .insert_header("x-call-id", format!("call-{id}").as_str())
            .set_delay(Duration::from_millis(40))
            .set_body_raw(r#"{"usage":{"prompt_tokens":7,"completion_tokens":3}}"#, "application/json")
    }
}

type Row = serde_json::Map<String, Value>;

fn text<'a>(row: &'a Row, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

fn number(row: &Row, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

/// 100/s for 2 s with at most 3 requests in flight: at 40 ms each, 4 are due per 40 ms, so some are not sent.
async fn run_against(server: &MockServer, ws: &Workspace) -> common::Ran {
    let scenario = format!(
        "name = \"rows\"\n[target]\ncapture_headers = [\"x-call-id\"]\ntimeout = \"2s\"\n\
         [[tiers]]\nname = \"main\"\nurl = \"{}/v1/chat/completions\"\nmodel = \"m\"\n\
         price_input = 2.0\nprice_output = 8.0\n\
         [load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"2s\"\nmax_in_flight = 3\n",
        server.uri()
    );
    let file = ws.write("rows.toml", &scenario);
    let ws_path = ws.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let o = std::process::Command::new(common::bin())
            .arg("run")
            .arg(&file)
            .args(["--out", "out", "--quiet"])
            .current_dir(&ws_path)
            .output()
            .unwrap();
        common::ran(o, ws_path.join("out"))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_scheduled_request_is_one_row_that_agrees_with_the_summary_and_the_target() {
    let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
    let gateway = Gateway::default();
    Mock::given(method("POST")).respond_with(gateway.clone()).mount(&server).await;
    let ws = Workspace::new();
    let r = run_against(&server, &ws).await;
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let s = r.summary();
    let rows = parquet_rows(&r.out.join("requests.parquet"));

    // One row per scheduled request, each outcome counted as summary.json counts it.
    let counts = &s["counts"];
    assert_eq!(rows.len() as u64, counts["total"].as_u64().unwrap());
    let mut by_outcome: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &rows {
        *by_outcome.entry(text(row, "outcome").unwrap()).or_default() += 1;
    }
    assert_eq!(by_outcome.get("ok").copied().unwrap_or(0), counts["ok"].as_u64().unwrap());
    assert_eq!(by_outcome.get("not_sent").copied().unwrap_or(0), counts["not_sent"].as_u64().unwrap());
    assert_eq!(by_outcome.get("status 503").copied(), s["errors"]["status 503"].as_u64());
    assert!(counts["not_sent"].as_u64().unwrap() > 0 && by_outcome.contains_key("status 503"), "{by_outcome:?}");
    let numbers: BTreeSet<u64> = rows.iter().map(|r| number(r, "request").unwrap() as u64).collect();
    assert_eq!(numbers.len(), rows.len(), "request numbers are distinct");

    // Who served: the same groups as summary.json's upstreams; a request not sent went to none (null).
    let mut by_upstream: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        let unsent = text(row, "outcome") == Some("not_sent");
        assert_eq!(row["upstream"].is_null(), unsent, "{row:?}");
        if let Some(upstream) = text(row, "upstream") {
            *by_upstream.entry(upstream.to_string()).or_default() += 1;
        }
    }
    let summary_upstreams: BTreeMap<String, u64> = s["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap().to_string(), u["counts"]["total"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_upstream, summary_upstreams);

    // The ids the target received are exactly the sent rows' ids, and each answer's call id names its row's.
    let received: BTreeSet<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|q| q.headers.get("x-request-id").expect("every request carries an id").to_str().unwrap().to_string())
        .collect();
    let sent: Vec<&Row> = rows.iter().filter(|r| number(r, "sent_ms").is_some()).collect();
    let ids: BTreeSet<String> = sent.iter().map(|r| text(r, "request_id").unwrap().to_string()).collect();
    assert_eq!(ids.len(), sent.len(), "ids are unique");
    assert_eq!(ids, received);
    for row in &rows {
        match text(row, "outcome").unwrap() {
            "not_sent" => {
                assert!(row["request_id"].is_null() && row["status"].is_null() && row["latency_ms"].is_null());
                assert_eq!(number(row, "attempts"), Some(0.0));
            }
            outcome => {
                let id = text(row, "request_id").unwrap();
                assert_eq!(text(row, "header.x-call-id"), Some(format!("call-{id}").as_str()), "{row:?}");
                let status = if outcome == "ok" { 200.0 } else { 503.0 };
                assert_eq!(number(row, "status"), Some(status), "{row:?}");
                assert_eq!(text(row, "tier"), Some("main"));
            }
        }
    }

    // Times: latency from the intended time, service time from the send (microsecond resolution).
    for row in &sent {
        let [intended, sent_at, done] = ["intended_ms", "sent_ms", "done_ms"].map(|k| number(row, k).unwrap());
        assert!((number(row, "latency_ms").unwrap() - (done - intended)).abs() < 0.0015, "{row:?}");
        assert!((number(row, "service_ms").unwrap() - (done - sent_at)).abs() < 0.0015, "{row:?}");
        assert!(intended <= sent_at && sent_at <= done, "{row:?}");
    }

    // Cost: 7 input tokens at $2 and 3 output tokens at $8 per million, for each success; none for failures.
    let each = (7.0 * 2.0 + 3.0 * 8.0) / 1e6;
    let mut total = 0.0;
    for row in &rows {
        let ok = text(row, "outcome") == Some("ok");
        assert_eq!(number(row, "cost_usd").is_some(), ok, "{row:?}");
        if ok {
            assert!((number(row, "cost_usd").unwrap() - each).abs() < 1e-15, "{row:?}");
            assert_eq!((number(row, "tokens_in"), number(row, "tokens_out")), (Some(7.0), Some(3.0)));
            total += each;
        }
    }
    assert!((total - s["cost"]["total_usd"].as_f64().unwrap()).abs() < 1e-9, "{total} vs {}", s["cost"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_id_header_can_be_renamed_or_turned_off() {
    // (setting, the header that carries the id, what the target sees in x-request-id)
    let cases = [
        ("request_id_header = \"x-correlation-id\"\n", Some("x-correlation-id"), None),
        ("request_id_header = \"\"\n", None, None),
        // A header the scenario sets itself is sent once, as written, and no id is added.
        ("headers = { \"x-request-id\" = \"fixed\" }\n", None, Some("fixed")),
    ];
    for (setting, header, fixed) in cases {
        let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        let ws = Workspace::new();
        let scenario = format!(
            "name = \"ids\"\n[target]\nurl = \"{}/v1/chat/completions\"\nbody = '{{}}'\n{setting}\
             [load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"1s\"\n",
            server.uri()
        );
        let file = ws.write("ids.toml", &scenario);
        let (ws, r) = tokio::task::spawn_blocking(move || {
            let r = ws.run(&file, &["--quiet"]);
            (ws, r)
        })
        .await
        .unwrap();
        assert_eq!(r.code, 0, "{}", r.stderr);
        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 20);
        for q in &received {
            let ids: Vec<&str> = q.headers.get_all("x-request-id").iter().map(|v| v.to_str().unwrap()).collect();
            assert_eq!(ids, fixed.into_iter().collect::<Vec<_>>(), "{setting}");
            if let Some(h) = header {
                assert!(q.headers.get(h).unwrap().to_str().unwrap().starts_with("slacheck-"), "{setting}");
            }
        }
        let rows = parquet_rows(&r.out.join("requests.parquet"));
        assert_eq!(rows.len(), 20);
        assert!(rows.iter().all(|row| row["request_id"].is_null() == header.is_none()), "{setting}: {:?}", rows[0]);
        drop(ws);
    }
}

/// One request in four is served by `slow`, which takes 150 ms; the others by `fast` in 5 ms.
#[derive(Clone, Default)]
struct OneSlowUpstream {
    received: Arc<AtomicU64>,
}

impl Respond for OneSlowUpstream {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.received.fetch_add(1, Ordering::Relaxed);
        let (upstream, delay) = if n.is_multiple_of(4) { ("slow", 150) } else { ("fast", 5) };
        ResponseTemplate::new(200)
            .insert_header("x-upstream", upstream)
            .set_delay(Duration::from_millis(delay))
            .set_body_string("{}")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tail_is_attributed_to_the_one_slow_upstream_as_the_file_shows() {
    let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
    Mock::given(method("POST")).respond_with(OneSlowUpstream::default()).mount(&server).await;
    let ws = Workspace::new();
    let scenario = format!(
        "name = \"tail\"\nserved_by = {{ header = \"x-upstream\" }}\n[target]\nurl = \"{}/v1/chat/completions\"\n\
         body = '{{}}'\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"2s\"\n[sla]\np99 = \"100ms\"\n",
        server.uri()
    );
    let file = ws.write("tail.toml", &scenario);
    let (ws, r) = tokio::task::spawn_blocking(move || {
        let r = ws.run(&file, &["--verbose"]);
        (ws, r)
    })
    .await
    .unwrap();
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let s = r.summary();
    let tail = &s["tail"];
    assert_eq!(tail["slow_over_ms"], 100.0);
    assert_eq!(tail["slow_rule"], "the p99 limit");

    // What the file says, counted here from its rows.
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    let sent: Vec<&Row> = rows.iter().filter(|r| number(r, "latency_ms").is_some()).collect();
    let slow: Vec<&Row> = sent.iter().copied().filter(|r| number(r, "latency_ms").unwrap() > 100.0).collect();
    let by_slow_upstream = sent.iter().filter(|r| text(r, "upstream") == Some("slow")).count();
    let slow_from_slow = slow.iter().filter(|r| text(r, "upstream") == Some("slow")).count();
    assert!(slow.len() >= 40, "the slow upstream's 150 ms answers are over 100 ms: {} slow", slow.len());
    assert_eq!(tail["run"]["requests"].as_u64(), Some(sent.len() as u64));
    assert_eq!(tail["run"]["slow"].as_u64(), Some(slow.len() as u64));

    // The first finding names the slow upstream, with the shares the rows give.
    let first = &tail["run"]["findings"][0];
    assert_eq!((first["among"].as_str(), first["dimension"].as_str()), (Some("slow"), Some("upstream")), "{tail}");
    assert_eq!(first["value"], "slow", "{tail}");
    assert_eq!(first["count"].as_u64(), Some(slow_from_slow as u64));
    assert!((first["share"].as_f64().unwrap() - slow_from_slow as f64 / slow.len() as f64).abs() < 1e-12);
    assert!((first["traffic_share"].as_f64().unwrap() - by_slow_upstream as f64 / sent.len() as f64).abs() < 1e-12);
    let fast_named = tail["run"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["among"] == "slow" && f["dimension"] == "upstream" && f["value"] == "fast");
    assert!(!fast_named, "the fast upstream is not over-represented among the slow: {tail}");

    // The slowest requests are the file's ten largest latencies, with their ids.
    let mut by_latency: Vec<&Row> = sent.clone();
    by_latency.sort_by(|a, b| number(b, "latency_ms").unwrap().total_cmp(&number(a, "latency_ms").unwrap()));
    let listed = tail["slowest"].as_array().unwrap();
    assert_eq!(listed.len(), 10);
    for (l, row) in listed.iter().zip(&by_latency) {
        assert_eq!(l["latency_ms"].as_f64(), number(row, "latency_ms"));
        assert_eq!(l["upstream"], "slow");
    }
    let ids: BTreeSet<&str> = listed.iter().map(|l| l["request_id"].as_str().unwrap()).collect();
    let file_ids: BTreeSet<&str> = by_latency[..10].iter().map(|r| text(r, "request_id").unwrap()).collect();
    assert_eq!(ids, file_ids);

    // Said in the terminal, summary.md and report.html.
    let md = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(r.out.join("report.html")).unwrap();
    assert!(r.stdout.contains("were served by `slow`"), "{}", r.stdout);
    assert!(md.contains("were served by `slow`") && md.contains("| slowest requests |"), "{md}");
    let slowest_id = listed[0]["request_id"].as_str().unwrap();
    assert!(md.contains(slowest_id) && html.contains(slowest_id));
    drop(ws);
}
