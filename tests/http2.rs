//! `http = "2"` on the lean path: the real binary against HTTP/2-only servers on 127.0.0.1 (tests/common/h2.rs),
//! cleartext (h2c, prior knowledge) and over TLS (ALPN `h2`, the test CA in tests/fixtures/tls), and against the
//! in-process mock. Every request is answered and counted once, over as many connections as configured (not
//! one per request), several requests sharing a connection as streams; a server's stream limit makes requests
//! wait, never fail; a server that goes away (GOAWAY) is connected to again, each new connection timed.

mod common;

use common::h2::{serve, Options, Seen};
use common::{assert_counts_add_up, f, Workspace};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

/// The fixture's certificate (for localhost and 127.0.0.1, from the fixture's CA).
fn tls_config() -> std::sync::Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("cert.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(fixture("key.pem")).unwrap();
    let id = common::tls::Identity { certs, key, cert_pem: String::new(), key_pem: String::new() };
    common::tls::server_config(&id, None)
}

/// `requests` requests at `rate`/s over HTTP/2 to `url`, with `load` added to `[load]`.
fn scenario(url: &str, rate: u32, requests: u32, load: &str) -> String {
    format!(
        "name = \"h2\"\n[target]\nurl = \"{url}\"\nhttp = \"2\"\ntimeout = \"5s\"\n\
         body = '{{\"model\": \"m\", \"messages\": []}}'\n[load]\nprofile = \"constant\"\nrate = \"{rate}/s\"\n\
         duration = \"{}ms\"\n{load}[sla]\navailability = \"50%\"\n",
        requests * 1000 / rate
    )
}

/// Connections opened during the run (timed) and before it.
fn connections(s: &serde_json::Value) -> (f64, f64) {
    (f(s, &["connections_opened"]), f(s, &["connections_preopened"]))
}

fn get(counter: &std::sync::atomic::AtomicU64) -> u64 {
    Seen::get(counter)
}

/// Runs a scenario of 200 requests and checks what every case must hold: each request answered once, over
/// HTTP/2, and every connection that carried requests counted by slacheck (opened in the run or before it).
/// Returns the summary and the connections that carried requests.
fn run_200(ws: &Workspace, file: &Path, env: &[(&str, &str)], name: &str, seen: &Seen) -> (serde_json::Value, u64) {
    let r = ws.run_env(file, &["--quiet", "--format", "json"], env);
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    let s = r.summary();
    assert_counts_add_up(&s);
    assert_eq!(f(&s, &["counts", "ok"]), 200.0, "{name}: {}", r.stderr);
    assert_eq!((get(&seen.requests), get(&seen.http2_requests)), (200, 200), "{name}: each once, over HTTP/2");
    let used = get(&seen.used_connections);
    let (opened, preopened) = connections(&s);
    assert_eq!(opened + preopened, used as f64, "{name}: slacheck counts the connections the server saw");
    (s, used)
}

#[test]
fn h2c_requests_share_the_connections_configured_as_streams() {
    let ws = Workspace::new();
    // 100 ms answers at 100/s: about 10 requests out at once.
    let cases = [
        ("one connection by default", "", 1, None),
        ("three of four streams", "max_connections = 3\nstreams_per_connection = 4\n", 3, Some(4)),
    ];
    for (name, load, configured, streams) in cases {
        let server = serve(Options { delay: Duration::from_millis(100), ..Options::default() });
        let url = format!("http://127.0.0.1:{}/v1/chat/completions", server.port);
        let file = ws.write(&format!("{}.toml", configured), &scenario(&url, 100, 200, load));
        let (_, used) = run_200(&ws, &file, &[], name, &server.seen);
        assert_eq!(used, configured, "{name}: the connections configured, not one per request");
        let seen = &server.seen;
        let most = get(&seen.most_on_a_connection);
        assert!(most >= 2, "{name}: several streams shared a connection (at most {most} at once)");
        if let Some(streams) = streams {
            assert!(most <= streams, "{name}: no more than {streams} streams on a connection, saw {most}");
        }
    }
}

#[test]
fn a_server_stream_limit_makes_requests_wait_and_none_is_lost() {
    // One stream at a time, 20 ms each, for requests due 25 ms apart on average (Poisson arrivals): more than
    // half are due while another is out, and wait for the stream.
    let server = serve(Options { delay: Duration::from_millis(20), max_streams: Some(1), ..Options::default() });
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", server.port);
    let ws = Workspace::new();
    let file = ws.write("limited.toml", &scenario(&url, 40, 80, "arrivals = \"poisson\"\n"));
    let r = ws.run(&file, &["--quiet", "--format", "json"]);
    let s = r.summary();
    assert_counts_add_up(&s);
    let total = f(&s, &["counts", "total"]);
    assert!(total > 40.0, "{total} requests");
    assert_eq!(f(&s, &["counts", "ok"]), total, "{}", r.stderr);
    let seen = &server.seen;
    assert_eq!(get(&seen.requests) as f64, total, "each request answered once");
    assert_eq!(get(&seen.most_on_a_connection), 1, "the server's limit held");
    assert_eq!(get(&seen.used_connections), 1);
}

#[test]
fn streams_per_connection_alone_caps_the_one_connection_and_the_wait_is_told() {
    // Two streams of 50 ms answers can carry 40/s; 100 requests due at 100/s wait for one (about 1.5 s at the
    // end), within their 5 s timeout.
    let server = serve(Options { delay: Duration::from_millis(50), ..Options::default() });
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", server.port);
    let ws = Workspace::new();
    let file = ws.write("two.toml", &scenario(&url, 100, 100, "streams_per_connection = 2\n"));
    let r = ws.run(&file, &["--format", "json"]);
    let s = r.summary();
    assert_counts_add_up(&s);
    assert_eq!(f(&s, &["counts", "ok"]), 100.0, "{}", r.stderr);
    let seen = &server.seen;
    assert_eq!(get(&seen.requests), 100, "each request answered once");
    assert_eq!((get(&seen.used_connections), get(&seen.most_on_a_connection)), (1, 2), "one connection, 2 at once");
    // The last requests waited about 100 / 40 - 1 = 1.5 s for a stream: in the wait and in their latency.
    let (wait, latency) = (f(&s, &["connection_wait_ms", "max"]), f(&s, &["latency_ms", "max"]));
    assert!(wait > 1000.0 && latency >= wait, "wait max {wait} ms, latency max {latency} ms");
    assert!(
        r.stdout.contains("requests waited for one of load.streams_per_connection's 2 streams on its connection"),
        "{}",
        r.stdout
    );
}

#[test]
fn h2_over_tls_is_chosen_by_alpn_and_a_server_that_goes_away_is_connected_to_again() {
    let ca = fixture("ca.pem");
    let env = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let ws = Workspace::new();
    // Each connection goes away (GOAWAY) after 25 requests: 200 requests need about 8 connections, opened as
    // the run goes and timed; the requests the server did not take are sent again, never lost nor doubled.
    for goaway_after in [None, Some(25)] {
        let server = serve(Options {
            tls: Some(tls_config()),
            goaway_after,
            delay: Duration::from_millis(20),
            ..Options::default()
        });
        let url = format!("https://127.0.0.1:{}/v1/chat/completions", server.port);
        let name = format!("tls-{}", goaway_after.unwrap_or(0));
        let file = ws.write(
            &format!("{name}.toml"),
            &scenario(&url, 100, 200, "max_connections = 2\nstreams_per_connection = 4\n"),
        );
        let (s, used) = run_200(&ws, &file, &env, &name, &server.seen);
        let opened = f(&s, &["connections_opened"]);
        let Some(goaway_after) = goaway_after else {
            assert_eq!(used, 2, "{name}: the two configured");
            continue;
        };
        assert!(used >= 200 / goaway_after, "{name}: {used} connections");
        assert!(opened > 0.0, "{name}: connections opened during the run");
        // Each connection opened during the run had its connect and its handshake timed once.
        assert_eq!(f(&s, &["tls_ms", "count"]), opened, "{name}");
        assert_eq!(f(&s, &["connect_ms", "count"]), opened, "{name}");
        assert!(f(&s, &["tls_ms", "min"]) > 0.0);
    }
}

#[test]
fn the_mock_upstream_speaks_h2c() {
    let ws = Workspace::new();
    let text = "name = \"h2-mock\"\n[target]\nmock = \"default\"\nhttp = \"2\"\n\
                body = '{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}'\n\
                [load]\nprofile = \"constant\"\nrate = \"200/s\"\nduration = \"1s\"\n[sla]\navailability = \"50%\"\n";
    let file = ws.write("mock.toml", text);
    let r = ws.run(&file, &["--quiet", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(f(&s, &["counts", "ok"]), 200.0);
    let (opened, preopened) = connections(&s);
    assert_eq!(opened + preopened, 1.0, "one connection by default");
}
