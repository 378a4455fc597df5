//! Upstreams that misbehave: the real binary against small hostile servers on 127.0.0.1, written here.
//!
//! Each server answers every connection the same way until the client goes away; the scenarios send one or two
//! requests, so that what is checked is how one request ends, whatever the upstream sends.

mod common;
use common::{assert_counts_add_up, f, Workspace};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Starts a server on a free loopback port that hands each connection, once its request head has arrived, to
/// `answer`. Returns the URL.
fn hostile(answer: fn(&mut TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                read_head(&mut conn);
                answer(&mut conn);
            });
        }
    });
    format!("http://127.0.0.1:{port}/v1/chat/completions")
}

/// Reads up to the end of the request's head and its small body (every request here is a short POST).
fn read_head(conn: &mut TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 8192];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `piece` every `every` until the client goes away or `limit` passes (a bound on the test's traffic).
fn write_for(conn: &mut TcpStream, piece: &[u8], every: Duration, limit: Duration) {
    let began = Instant::now();
    while began.elapsed() < limit {
        if conn.write_all(piece).is_err() {
            return;
        }
        if !every.is_zero() {
            std::thread::sleep(every);
        }
    }
}

fn scenario(url: &str, target_extra: &str, requests: u32, timeout: &str) -> String {
    format!(
        "name = \"hostile\"\n[target]\nurl = \"{url}\"\ntimeout = \"{timeout}\"\nbody = '{{\"model\": \"m\", \"messages\": []}}'\n{target_extra}\n\
         [load]\nprofile = \"constant\"\nrate = \"{requests}/s\"\nduration = \"1s\"\n[sla]\navailability = \"50%\"\n"
    )
}

/// Runs the scenario; returns what slacheck wrote and how long the whole process took.
fn run(ws: &Workspace, text: &str) -> (common::Ran, Duration) {
    let s = ws.write("hostile.toml", text);
    let began = Instant::now();
    let r = ws.run(&s, &["--quiet", "--format", "json"]);
    (r, began.elapsed())
}

fn errors(summary: &serde_json::Value, label: &str) -> f64 {
    summary["errors"][label].as_f64().unwrap_or(0.0)
}

#[test]
fn a_body_past_max_body_fails_as_body_too_large_without_being_read_whole() {
    // 200 MB announced, and sent as fast as the socket takes it.
    let url = hostile(|conn| {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200000000\r\n\r\n";
        if conn.write_all(head).is_ok() {
            write_for(conn, &[b' '; 65536], Duration::ZERO, Duration::from_secs(20));
        }
    });
    let ws = Workspace::new();
    let (r, _) = run(&ws, &scenario(&url, "max_body = \"1MiB\"", 4, "10s"));
    let s = r.summary();
    assert_counts_add_up(&s);
    assert_eq!(f(&s, &["counts", "total"]), 4.0, "{}", r.stderr);
    assert_eq!(errors(&s, "body too large"), 4.0, "{s}");
    // A 10 s timeout was not needed: each request stopped at the 1 MiB mark.
    assert_eq!(f(&s, &["counts", "timeout"]), 0.0);
}

#[test]
fn an_endless_stream_of_valid_events_ends_at_its_timeout() {
    let url = hostile(|conn| {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let event = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
        let chunk = [format!("{:x}\r\n", event.len()).as_bytes(), event, b"\r\n"].concat();
        if conn.write_all(head).is_ok() {
            write_for(conn, &chunk, Duration::from_millis(1), Duration::from_secs(60));
        }
    });
    let ws = Workspace::new();
    let (r, took) = run(&ws, &scenario(&url, "", 1, "1s"));
    let s = r.summary();
    assert_eq!(f(&s, &["counts", "timeout"]), 1.0, "{s}");
    // Before the fix the request ran until the server gave up (60 s here).
    assert!(took < Duration::from_secs(30), "the run took {took:?}");
    // The request was given up at its timeout, not later: its latency is the timeout plus the dispatch delay,
    // which is at most the whole process's time less the second it was due after.
    let max = f(&s, &["latency_ms", "max"]);
    assert!(max >= 1000.0 && max < 1000.0 + took.as_secs_f64() * 1000.0, "latency {max} ms, process {took:?}");
}

#[test]
fn a_stream_that_never_separates_its_events_is_malformed_long_before_its_timeout() {
    // The reproduction from the issue: 4 KB of `x` every millisecond, never a blank line.
    let url = hostile(|conn| {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let chunk = [b"1000\r\n".as_slice(), &[b'x'; 4096], b"\r\n"].concat();
        if conn.write_all(head).is_ok() {
            write_for(conn, &chunk, Duration::from_millis(1), Duration::from_secs(60));
        }
    });
    let ws = Workspace::new();
    let (r, took) = run(&ws, &scenario(&url, "", 1, "30s"));
    let s = r.summary();
    assert_eq!(errors(&s, "stream malformed chunk before first token"), 1.0, "{s}");
    // One event is capped at 1 MiB, which arrives in about 0.3 s; the 30 s timeout was never reached.
    assert!(took < Duration::from_secs(30), "the run took {took:?}");
}

#[test]
fn a_stream_trickled_a_byte_at_a_time_ends_at_its_timeout() {
    let url = hostile(|conn| {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
        if conn.write_all(head).is_ok() {
            let body = b"data: {\"choices\":[{\"delta\":{\"content\":\"slow\"}}]}\n\n".repeat(100);
            for byte in body {
                if conn.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let ws = Workspace::new();
    let (r, took) = run(&ws, &scenario(&url, "", 1, "1s"));
    let s = r.summary();
    assert_eq!(f(&s, &["counts", "timeout"]), 1.0, "{s}");
    // The 5,100 bytes take 25 s at this pace; the request ended at its 1 s timeout.
    assert!(took < Duration::from_secs(20), "the run took {took:?}");
}

#[test]
fn endless_response_headers_fail_the_request_and_the_run_ends() {
    let url = hostile(|conn| {
        if conn.write_all(b"HTTP/1.1 200 OK\r\n").is_ok() {
            let line = format!("x-filler: {}\r\n", "a".repeat(1000));
            write_for(conn, line.as_bytes(), Duration::ZERO, Duration::from_secs(60));
        }
    });
    let ws = Workspace::new();
    let (r, took) = run(&ws, &scenario(&url, "", 2, "5s"));
    let s = r.summary();
    assert_counts_add_up(&s);
    assert_eq!(f(&s, &["counts", "ok"]), 0.0, "{s}");
    assert_eq!(f(&s, &["counts", "error"]) + f(&s, &["counts", "timeout"]), 2.0, "{s}");
    assert!(took < Duration::from_secs(30), "the run took {took:?}");
}

#[test]
fn a_body_file_that_is_a_device_or_a_fifo_is_refused_with_exit_2() {
    let ws = Workspace::new();
    let fifo = ws.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    let mut cases = vec![("/dev/zero".to_string(), "not a regular file")];
    if made {
        cases.push((fifo.display().to_string(), "not a regular file"));
    }
    let big = ws.path().join("big.json");
    std::fs::File::create(&big).unwrap().set_len((64 << 20) + 1).unwrap();
    cases.push((big.display().to_string(), "larger than the limit"));
    for (path, says) in cases {
        let text = format!(
            "name = \"b\"\n[target]\nmock = \"default\"\nbody_file = \"{path}\"\n[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n"
        );
        let s = ws.write("body.toml", &text);
        for command in ["validate", "run"] {
            let o = std::process::Command::new(common::bin()).arg(command).arg(&s).output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{command} {path}: {stderr}");
            assert!(stderr.contains("target.body_file") && stderr.contains(says), "{command} {path}: {stderr}");
        }
    }
}

/// A server that answers every request with a small JSON 200 after `delay`.
fn slow_ok(conn: &mut TcpStream, delay: Duration) {
    loop {
        std::thread::sleep(delay);
        let body = b"{\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}";
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        if conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(body)).is_err() {
            return;
        }
        // Keep-alive: wait for the next request on this connection, or its end.
        let _ = conn.set_read_timeout(None);
        if conn.peek(&mut [0u8; 1]).map(|n| n == 0).unwrap_or(true) {
            return;
        }
        read_head(conn);
    }
}

#[test]
fn running_out_of_file_descriptors_is_the_generators_limit_not_the_targets_failure() {
    let url = hostile(|conn| slow_ok(conn, Duration::from_millis(500)));
    let ws = Workspace::new();
    let text = scenario(&url, "", 200, "5s")
        .replace("availability = \"50%\"", "availability = \"90%\"")
        .replace("duration = \"1s\"", "duration = \"1s\"\nmax_in_flight = 500");
    let s = ws.write("fds.toml", &text);
    let out = ws.path().join("out-fds");
    // A hard limit of 64 open files: the generator cannot raise it, and most of the 200 connections fail to open.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(common::bin())
        .args(["run", s.to_str().unwrap(), "--quiet", "--format", "json", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let r = common::ran(o, out);
    assert!(r.stderr.contains("open-files limit is 64"), "the limit is reported up front: {}", r.stderr);
    let s = r.summary();
    assert_counts_add_up(&s);
    let not_sent = f(&s, &["counts", "not_sent"]);
    assert!(not_sent > 0.0, "{s}");
    assert_eq!(f(&s, &["generator", "machine", "not_sent_open_files"]), not_sent, "every unsent one was for files");
    assert_eq!(errors(&s, "connect"), 0.0, "nothing is blamed on the target: {s}");
    assert_eq!(f(&s, &["counts", "error"]) + f(&s, &["counts", "timeout"]), 0.0, "{s}");
    assert!(s["generator"]["hint"].as_str().unwrap().contains("open-files limit (64)"), "{s}");
    // Every request that was sent succeeded: the miss is the generator's, exit 3.
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("GENERATOR-BOUND"), "{}", r.stdout);
}

#[test]
fn distinct_served_by_values_past_64_share_one_group() {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // Every answer names another pod, as a header carrying a pod name or a request id does.
    let url = hostile(|conn| loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let head = format!("HTTP/1.1 200 OK\r\nx-upstream: pod-{n}\r\ncontent-length: 2\r\n\r\n{{}}");
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        let _ = conn.set_read_timeout(None);
        if conn.peek(&mut [0u8; 1]).map(|n| n == 0).unwrap_or(true) {
            return;
        }
        read_head(conn);
    });
    let ws = Workspace::new();
    let text = format!("served_by = {{ header = \"x-upstream\" }}\n{}", scenario(&url, "", 200, "5s"));
    let (r, _) = run(&ws, &text);
    let s = r.summary();
    assert_eq!(f(&s, &["counts", "ok"]), 200.0, "{}", r.stderr);
    let upstreams = s["upstreams"].as_array().unwrap();
    assert_eq!(upstreams.len(), 65, "64 names and one group for the rest");
    let other = upstreams.iter().find(|u| u["name"] == "(other)").expect("an (other) group");
    assert_eq!(f(other, &["counts", "total"]), 200.0 - 64.0);
    assert_eq!(f(&s, &["upstreams_beyond_cap"]), 136.0);
    let per_name: f64 = upstreams.iter().map(|u| f(u, &["counts", "total"])).sum();
    assert_eq!(per_name, 200.0, "every request is in exactly one group");
}

/// Answers one request on a keep-alive connection (no `Connection: close`), then closes it at once.
fn answer_then_close(conn: &mut TcpStream) {
    let body = r#"{"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
    let _ = conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(body.as_bytes()));
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

#[test]
fn a_kept_alive_connection_the_server_closed_is_not_blamed_on_the_target() {
    // Every answer leaves a pooled connection that is already closed: a client that reused it blindly would
    // count a transport error the target never made. Both client paths must open a new one instead.
    let url = hostile(answer_then_close);
    let ws = Workspace::new();
    for client in ["lean", "reqwest"] {
        let file = ws.write(&format!("close-{client}.toml"), &scenario(&url, "", 20, "2s"));
        let o = std::process::Command::new(common::bin())
            .arg("run")
            .arg(&file)
            .args(["--out", &format!("out-{client}"), "--quiet"])
            .env("SLACHECK_HTTP_CLIENT", client)
            .current_dir(ws.path())
            .output()
            .unwrap();
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ws.path().join(format!("out-{client}/summary.json"))).unwrap())
                .unwrap();
        assert_counts_add_up(&summary);
        assert_eq!(f(&summary, &["counts", "ok"]), 20.0, "{client}: {}", String::from_utf8_lossy(&o.stderr));
        // On the lean path every request needs a new connection, but the first may take the one opened before
        // the run (at 20/s, one; none when the run's 100 ms lead was gone by then, on a very busy machine).
        let opened = f(&summary, &["connections_opened"]);
        let preopened = f(&summary, &["connections_preopened"]);
        if client == "lean" {
            assert!(preopened <= 1.0, "{preopened}");
            assert_eq!(opened, 20.0 - preopened, "lean: one new connection per request");
        } else {
            assert_eq!((opened, preopened), (0.0, 0.0), "reqwest does not tell");
        }
    }
}

/// Bytes received by [`swallow`] on every connection, and the connections still open.
static SWALLOWED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static SWALLOWING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Reads all a client sends and never answers, counting the bytes (what the client held in flight).
fn swallow(conn: &mut TcpStream) {
    use std::sync::atomic::Ordering::Relaxed;
    SWALLOWING.fetch_add(1, Relaxed);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let mut buf = [0u8; 65536];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        SWALLOWED.fetch_add(n as u64, Relaxed);
    }
    SWALLOWING.fetch_sub(1, Relaxed);
}

#[test]
fn request_bodies_in_flight_stay_within_max_request_memory_and_the_rest_are_not_sent() {
    use std::sync::atomic::Ordering::Relaxed;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || swallow(&mut conn));
        }
    });
    // Prompts of 20,000 tokens on average (about 0.1 MiB) pass the check at start (30 × 0.1 MiB < 4 MiB), but
    // the draws reach 200,000 tokens (about 1.2 MiB): a silent target keeps every one in flight until its
    // timeout, after the last is due, so the bodies sent add up to what was ever in flight at once.
    let ws = Workspace::new();
    let text = format!(
        "name = \"memory\"\n[target]\ntimeout = \"4s\"\n[[tiers]]\nname = \"t\"\nurl = \"{url}\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"c\"\nweight = 1\ntier = \"t\"\n\
         input_tokens = {{ mean = 20000, stddev = 60000, min = 1000, max = 200000 }}\n\
         [load]\nprofile = \"constant\"\nrate = \"30/s\"\nduration = \"1s\"\nmax_in_flight = 30\n\
         max_request_memory = \"4MiB\"\n[sla]\navailability = \"50%\"\n"
    );
    let r = ws.run(&ws.write("memory.toml", &text), &["--quiet", "--format", "json"]);
    let s = r.summary();
    assert_counts_add_up(&s);
    let not_sent = f(&s, &["counts", "not_sent"]);
    assert!(not_sent > 0.0 && not_sent < 30.0, "{}", s["counts"]);
    assert_eq!(f(&s, &["generator", "machine", "not_sent_memory"]), not_sent, "every unsent one was for memory");
    assert_eq!(f(&s, &["counts", "timeout"]), 30.0 - not_sent, "the others went out, and were never answered");
    assert!(s["generator"]["hint"].as_str().unwrap().contains("load.max_request_memory"), "{}", s["generator"]);
    assert_eq!(r.code, 1, "the sent requests timed out: the target's failure: {}", r.stderr);
    // What the target received, heads (about 250 bytes each) included.
    let deadline = Instant::now() + Duration::from_secs(20);
    while SWALLOWING.load(Relaxed) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let received = SWALLOWED.load(Relaxed);
    assert!(received <= (4 << 20) + 30 * 1024, "{received} bytes in flight at once");
    assert!(received > 2 << 20, "the cap was filled before requests were refused: {received}");
}
