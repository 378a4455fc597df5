//! `[[scrape]]`, end to end with the real binary: the real mock's `/metrics` scraped during a run and reconciled
//! with what the clients saw (the expected counts read back from requests.parquet, independently of the
//! reconciliation), and a hostile metrics endpoint (one that hangs, answers garbage, a huge body or a 500) that
//! never fails the run, its failed scrapes counted by why.

mod common;
use common::{f, parquet_rows, Workspace};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// A free port on 127.0.0.1 (bound and let go: the mock takes it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn reconciled<'a>(s: &'a Value, url: &str, name: &str) -> &'a Value {
    let list = s["server_metrics"]["reconcile"].as_array().unwrap();
    list.iter().find(|r| r["name"] == name && r["url"] == url).unwrap_or_else(|| panic!("no {name} for {url}"))
}

#[test]
fn the_mocks_counters_reconcile_with_what_the_clients_saw_and_a_gateway_hiding_errors_is_named() {
    let ws = Workspace::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    // The second [[scrape]] of the same endpoint maps errors to a status the mock never answers: a gateway whose
    // metrics show none of the errors its clients met.
    let text = format!(
        "name = \"scrape\"\n[target]\nmock = \"llm\"\ntimeout = \"5s\"\n\
         body = '{{\"model\": \"m\", \"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}], \"max_tokens\": 7}}'\n\
         [load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"2s\"\n\
         [[mock.providers]]\nname = \"llm\"\nport = {port}\nerrors = {{ rate = 0.1, statuses = [500] }}\n\
         [[scrape]]\nurl = \"{url}\"\nevery = \"300ms\"\n\
         reconcile = {{ requests = \"mock_upstream_requests_total\", errors = 'mock_upstream_requests_total{{status!=\"200\"}}', \
         tokens_out = \"mock_upstream_generation_tokens_total\" }}\n\
         [[scrape]]\nurl = \"{url}\"\nevery = \"1s\"\nreconcile = {{ errors = 'mock_upstream_requests_total{{status=\"503\"}}' }}\n"
    );
    let path = ws.write("scrape.toml", &text);
    let r = ws.run(&path, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["schema_version"], 9);

    // What the clients saw, from requests.parquet: sent requests, failed ones, and the output tokens received.
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    let sent = rows.iter().filter(|row| row["sent_ms"].is_number()).count() as f64;
    let failed = rows.iter().filter(|row| row["outcome"] != "ok" && row["sent_ms"].is_number()).count() as f64;
    let tokens: f64 = rows.iter().filter_map(|row| row["tokens_out"].as_f64()).sum();
    assert_eq!(sent, 100.0, "50/s for 2 s");
    assert!(failed > 0.0 && tokens == 7.0 * (sent - failed), "{failed} failed, {tokens} tokens");
    for (name, expected) in [("requests", sent), ("errors", failed), ("tokens_out", tokens)] {
        let line = reconciled(&s, &url, name);
        assert_eq!(f(line, &["gateway"]), expected, "{name}: {line}");
        assert_eq!(f(line, &["slacheck"]), expected, "{name}: {line}");
        assert_eq!(f(line, &["difference"]), 0.0, "{name}: {line}");
    }

    // The scrapes: one before the first request was due, every 300 ms, and one after the last answer.
    let scrapes = s["server_metrics"]["scrapes"].as_array().unwrap();
    let first = &scrapes[0];
    assert_eq!(f(first, &["failed"]), 0.0, "{first}");
    let last_done = rows.iter().map(|row| row["done_ms"].as_f64().unwrap()).fold(0.0, f64::max);
    assert!(f(first, &["first_s"]) < 0.0 && f(first, &["last_s"]) * 1000.0 > last_done, "{first}, {last_done} ms");
    assert!(f(first, &["ok"]) >= 2.0 / 0.3, "{first}");

    // server_metrics.parquet: the requests counter of each status rose from 0 before the run to the sent count.
    let samples = parquet_rows(&r.out.join("server_metrics.parquet"));
    let requests_at = |pick: fn(f64, f64) -> bool| -> f64 {
        let ours = samples.iter().filter(|x| x["url"] == url.as_str() && x["metric"] == "mock_upstream_requests_total");
        let time = ours.clone().map(|x| x["time_s"].as_f64().unwrap()).reduce(|a, b| if pick(a, b) { a } else { b });
        ours.filter(|x| x["time_s"].as_f64() == time).map(|x| x["value"].as_f64().unwrap()).sum()
    };
    assert_eq!(requests_at(|a, b| a < b), 0.0, "before the run");
    assert_eq!(requests_at(|a, b| a > b), sent, "after it");

    // The mis-mapped errors: named in plain words, on the terminal and in summary.md.
    let hidden = reconciled(&s, &url, "errors");
    assert_eq!(f(hidden, &["slacheck"]), failed);
    let hidden = &s["server_metrics"]["reconcile"].as_array().unwrap()[3];
    assert_eq!((f(hidden, &["gateway"]), f(hidden, &["difference"])), (0.0, -failed), "{hidden}");
    let named = format!("reports {failed} fewer errors than its clients saw (0 against {failed})");
    assert!(r.stdout.contains(&named), "{}", r.stdout);
    let md = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
    assert!(md.contains(&named) && md.contains("| tokens_out | "), "{md}");
}

/// What the hostile endpoint does with each connection, in turn.
const BEHAVIOURS: usize = 4;

/// A metrics endpoint that, connection by connection, hangs, answers garbage, sends a 20 MB body, answers 500.
fn hostile_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let head = |status: &str| {
                    format!("HTTP/1.1 {status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n")
                };
                match n % BEHAVIOURS {
                    0 => std::thread::sleep(Duration::from_secs(30)),
                    1 => {
                        let body = "\u{0}\u{1}garbage {{{\nno_value\nok_total 3\nx{a=\"1\" 2\n";
                        let _ = stream.write_all(format!("{}{body}", head("200 OK")).as_bytes());
                    }
                    2 => {
                        let _ = stream.write_all(head("200 OK").as_bytes());
                        let line =
                            "huge_total{label=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"} 1\n".repeat(1000);
                        for _ in 0..(20 << 20) / line.len() {
                            if stream.write_all(line.as_bytes()).is_err() {
                                break;
                            }
                        }
                    }
                    _ => {
                        let _ = stream.write_all(format!("{}down", head("500 Internal Server Error")).as_bytes());
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_hostile_metrics_endpoint_never_fails_the_run_and_its_failures_are_counted() {
    let ws = Workspace::new();
    let port = hostile_server();
    let text = format!(
        "name = \"hostile\"\n[target]\nmock = \"default\"\n\
         [load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"3s\"\n[sla]\navailability = \"100%\"\n\
         [[scrape]]\nurl = \"http://127.0.0.1:{port}/metrics\"\nevery = \"250ms\"\ntimeout = \"400ms\"\n\
         reconcile = {{ requests = \"ok_total\" }}\n"
    );
    let path = ws.write("hostile.toml", &text);
    let began = std::time::Instant::now();
    let r = ws.run(&path, &[]);
    let took = began.elapsed();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The last scrape after the run is bounded by its timeout, whatever the endpoint does.
    assert!(took < Duration::from_secs(10), "the run took {took:?}");
    let s = r.summary();
    let m = &s["server_metrics"];
    let scrape = &m["scrapes"][0];
    let (ok, failed) = (f(scrape, &["ok"]), f(scrape, &["failed"]));
    assert!(ok + failed >= 3.0 / 0.25, "{scrape}");
    let failures = &scrape["failures"];
    for why in ["timeout", "too large", "status 500"] {
        assert!(f(failures, &[why]) >= 1.0, "{why} missing: {scrape}");
    }
    assert_eq!(failed, failures.as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum::<f64>());
    // The garbage answers read in part: their good line kept, the others counted.
    assert!(ok >= 1.0 && f(m, &["unread_lines"]) >= 3.0 * ok, "{m}");
    assert!(
        r.stdout.contains(&format!("scraped http://127.0.0.1:{port}/metrics: {ok} ok, {failed} failed (")),
        "{}",
        r.stdout
    );
    assert_eq!(f(&reconciled(&s, &format!("http://127.0.0.1:{port}/metrics"), "requests")["gateway"], &[]), 0.0);
}

/// (time_s, summed value) of each scrape of `url` in server_metrics.parquet, for the samples of `metric` whose
/// labels contain `label` ("" for all): a scrape without any counts 0 (a labelled counter before its first event).
fn sums(samples: &[serde_json::Map<String, Value>], url: &str, metric: &str, label: &str) -> Vec<(f64, f64)> {
    let mut by_time: Vec<(f64, f64)> = Vec::new();
    for x in samples.iter().filter(|x| x["url"] == url) {
        let t = x["time_s"].as_f64().unwrap();
        if by_time.last().is_none_or(|(last, _)| *last != t) {
            by_time.push((t, 0.0));
        }
        let ours = x["metric"] == metric && x["labels"].as_str().unwrap().contains(label);
        if ours {
            by_time.last_mut().unwrap().1 += x["value"].as_f64().unwrap();
        }
    }
    by_time
}

#[test]
fn shown_counters_are_drawn_as_their_rate_between_scrapes_and_an_unknown_metric_is_a_warning() {
    let ws = Workspace::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let text = format!(
        "name = \"show\"\n[target]\nmock = \"llm\"\ntimeout = \"5s\"\n\
         body = '{{\"model\": \"m\", \"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}], \"max_tokens\": 7}}'\n\
         [load]\nprofile = \"steps\"\nsteps = [{{ rate = \"20/s\", for = \"1s\" }}, {{ rate = \"60/s\", for = \"1s\" }}]\n\
         [[mock.providers]]\nname = \"llm\"\nport = {port}\nerrors = {{ rate = 0.1, statuses = [500] }}\n\
         [[scrape]]\nurl = \"{url}\"\nevery = \"200ms\"\n\
         show = ['mock_upstream_requests_total{{status=\"200\"}}', \"mock_upstream_generation_tokens_total\", \
         \"no_such_metric_total\"]\n"
    );
    let path = ws.write("show.toml", &text);
    let r = ws.run(&path, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("WARNING: show `no_such_metric_total`: no scrape of {url} had a series of")),
        "{}",
        r.stdout
    );
    let s = r.summary();
    let shown = s["server_metrics"]["shown"].as_array().unwrap();
    assert_eq!(shown.len(), 3);
    assert_eq!((&shown[2]["kind"], &shown[2]["series_matched"]), (&Value::Null, &Value::from(0)));

    // What the clients saw, from requests.parquet: the answers that were 200, and the tokens they carried.
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    let ok = rows.iter().filter(|row| row["outcome"] == "ok").count() as f64;
    let tokens: f64 = rows.iter().filter_map(|row| row["tokens_out"].as_f64()).sum();
    assert!(ok > 60.0 && ok < 80.0 && tokens == 7.0 * ok, "{ok} ok of 80, {tokens} tokens");

    // Each line's rates, against the same sums read back from server_metrics.parquet: each scrape's time, and
    // the rise since the scrape before over the time between; added up over the run, what the clients saw.
    let samples = parquet_rows(&r.out.join("server_metrics.parquet"));
    for (line, (metric, label), total) in [
        (&shown[0], ("mock_upstream_requests_total", "status=\"200\""), ok),
        (&shown[1], ("mock_upstream_generation_tokens_total", ""), tokens),
    ] {
        assert_eq!(line["kind"], "counter", "{line}");
        let expected = sums(&samples, &url, metric, label);
        let times: Vec<f64> = line["time_s"].as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).collect();
        let values = line["value"].as_array().unwrap();
        let same = times.len() == expected.len() && times.iter().zip(&expected).all(|(a, (b, _))| (a - b).abs() < 1e-9);
        assert!(same, "{metric}: the scrapes' times {times:?}, in the file {expected:?}");
        assert!(times.len() >= 10 && times[0] < 0.0, "{metric}: every 200 ms over 2 s, one before: {times:?}");
        assert_eq!(values[0], Value::Null, "no rate before the first scrape");
        let mut drawn_total = 0.0;
        for (i, w) in expected.windows(2).enumerate() {
            let rate = (w[1].1 - w[0].1) / (w[1].0 - w[0].0);
            let drawn = values[i + 1].as_f64().unwrap();
            assert!((drawn - rate).abs() <= 1e-9 * rate.max(1.0), "{metric} at {} s: {drawn} drawn, {rate}", w[1].0);
            drawn_total += drawn * (w[1].0 - w[0].0);
        }
        assert!((drawn_total - total).abs() < 1e-6, "{metric}: {drawn_total} over the run, the clients saw {total}");
    }

    // The timeline has a panel for each metric drawn, the unit on its axis, and no label crowded.
    let svg = std::fs::read_to_string(r.out.join("timeline.svg")).unwrap();
    for words in [
        "mock_upstream_requests_total, per second between scrapes",
        "mock_upstream_generation_tokens_total, per second between scrapes",
        "requests/s",
        "tokens/s",
        "{status=&quot;200&quot;}",
    ] {
        assert!(svg.contains(words), "{words} is not drawn");
    }
    assert!(!svg.contains("no_such_metric"));
    assert_eq!(slacheck::plot::crowding(&svg), Vec::<String>::new());
    let png = std::fs::read(r.out.join("timeline.png")).unwrap();
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(height, 980 + 2 * 260, "the timeline's three panels and two of scraped metrics");
    let html = std::fs::read_to_string(r.out.join("report.html")).unwrap();
    assert!(html.contains("id=\"chart-scraped-1\"") && !html.contains("id=\"chart-scraped-2\""));
}
