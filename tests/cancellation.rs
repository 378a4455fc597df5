//! Clients that hang up, end to end with the real binary and the real mock: cancelled requests are their own
//! outcome (counted once, never a failure, without latency), and the tokens generated after the hang-up are the
//! mock's own count beyond what the client received. Directly against the mock, and through a proxy that passes
//! the hang-up on, almost nothing is generated after it; through a proxy that keeps reading the upstream (a gateway
//! that does not pass it on), the rest of every answer is, as the proxy itself counted.

mod common;
use common::proxy::Proxy;
use common::{assert_counts_add_up, f, parquet_rows, Workspace};
use serde_json::Value;
use std::sync::Arc;

/// A streamed class of 100-token answers at 4 ms a token (about 0.4 s each); 40% of its clients hang up `cancel`.
fn scenario(target: &str, cancel: &str, port: u16) -> String {
    format!(
        "name = \"hang-ups\"\n[target]\ntimeout = \"10s\"\n\
         [[tiers]]\nname = \"t\"\n{target}\nmodel = \"m\"\n\
         [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"t\"\ninput_tokens = 20\noutput_tokens = 100\nstream = true\n\
         cancel = {{ share = \"40%\", {cancel} }}\n\
         [load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"2s\"\n\
         [[mock.providers]]\nname = \"llm\"\nport = {port}\n\
         stream = {{ ttft = {{ dist = \"fixed\", value = \"10ms\" }}, inter_token = {{ dist = \"fixed\", value = \"4ms\" }} }}\n\
         decode_per_token = \"0ms\"\n"
    )
}

/// A free port on 127.0.0.1 (bound and let go: the mock takes it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn run(ws: &Arc<Workspace>, name: &str, text: String) -> common::Ran {
    let path = ws.write(name, &text);
    let ws = ws.clone();
    tokio::task::spawn_blocking(move || ws.run(&path, &[])).await.unwrap()
}

fn cancelled_rows(r: &common::Ran) -> Vec<serde_json::Map<String, Value>> {
    parquet_rows(&r.out.join("requests.parquet")).into_iter().filter(|row| row["outcome"] == "cancelled").collect()
}

/// What every run with hang-ups shows: the counts add up with `cancelled`, availability leaves them out, they have
/// no latency, and none hung up before 150 ms after its send.
fn check_counts(r: &common::Ran) -> Value {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_counts_add_up(&s);
    let cancelled = f(&s, &["counts", "cancelled"]);
    let total = f(&s, &["counts", "total"]);
    // 40% of 40 requests: the binomial's sd is 3.1; four of them either way.
    assert!((cancelled - 16.0).abs() <= 12.5, "{cancelled} of {total} cancelled");
    assert_eq!(f(&s, &["counts", "ok"]) + cancelled, total, "none failed");
    assert_eq!(f(&s, &["availability"]), 1.0, "a hang-up is no failure of the target");
    assert_eq!(f(&s, &["latency_ms", "count"]), total - cancelled, "no latency for a hang-up");
    assert_eq!(f(&s, &["cancellations", "requests"]), cancelled);
    let md = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
    let counts = format!("{} ok, 0 errors, 0 timeouts, 0 not sent, {cancelled} hung up on purpose", total - cancelled);
    assert!(md.contains(&counts), "summary.md's counts add up to the total: {counts}\n{md}");
    let rows = cancelled_rows(r);
    assert_eq!(rows.len() as f64, cancelled);
    for row in &rows {
        let held = row["done_ms"].as_f64().unwrap() - row["sent_ms"].as_f64().unwrap();
        // A timer never fires early (and the answers take 0.4 s at least, so none ended before it).
        assert!(held >= 150.0, "hung up {held} ms after its send: {row:?}");
        assert!(row["latency_ms"].is_null() && row["service_ms"].is_null(), "no latency: {row:?}");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_up_passed_on_stops_the_tokens_and_one_that_is_not_costs_the_rest_of_the_answer() {
    let ws = Arc::new(Workspace::new());
    let after = "after = \"150ms\"";

    // Directly against the mock: it stops generating when its client goes away.
    let port = free_port();
    let direct = run(&ws, "direct.toml", scenario("mock = \"llm\"", after, port)).await;
    let s = check_counts(&direct);
    let c = &s["cancellations"];
    let n = f(c, &["requests"]);
    assert_eq!(f(c, &["measured"]), n, "the mock knew every cancelled request by its id");
    // At most a token or two per request was in flight when the client hung up (made, not yet read).
    let direct_after = f(c, &["tokens_after_cancel"]);
    assert!(direct_after <= 2.0 * n, "{direct_after} tokens after {n} hang-ups");
    // 150 ms into answers of one token per 4 ms after a 10 ms first token: at most 1 + 140 / 4 = 36 each (a sleep
    // never ends early; a busy machine makes it fewer), and never the whole answer.
    let received = f(c, &["tokens_received"]) / n;
    assert!(received > 1.0 && received <= 36.0, "{received} tokens received per hang-up");

    // Through a proxy that keeps reading the upstream after its client left.
    let port = free_port();
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let keeps = Proxy::start(upstream, true).await;
    let through = run(&ws, "kept.toml", scenario(&format!("url = \"{}\"", keeps.url()), after, port)).await;
    let s = check_counts(&through);
    let c = &s["cancellations"];
    let n = f(c, &["requests"]);
    assert_eq!(f(c, &["measured"]), n);
    let kept_after = f(c, &["tokens_after_cancel"]);
    // Every answer was generated to its end (100 tokens): what the clients did not receive was generated anyway.
    assert_eq!(kept_after, 100.0 * n - f(c, &["tokens_received"]));
    // The proxy's own count of content events read after its client left, one token each: the same but for the
    // tokens in flight between the proxy and slacheck when it hung up, which the proxy passed on before it could
    // see the hang-up (its one-frame channel, hyper's write, the socket's buffers): a lower bound, near.
    let passed = keeps.passed();
    let left: Vec<_> = passed.iter().filter(|p| p.client_left).collect();
    assert_eq!(left.len() as f64, n, "the proxy saw each hang-up");
    assert!(left.iter().all(|p| p.finished), "and read each answer to its end");
    let proxy_count: u64 = left.iter().map(|p| p.events_after_client_left).sum();
    assert!(
        kept_after >= proxy_count as f64 && kept_after <= proxy_count as f64 + 20.0 * n,
        "slacheck {kept_after}, the proxy {proxy_count} after {n} hang-ups"
    );
    assert!(kept_after > 40.0 * n && kept_after > 10.0 * direct_after.max(1.0), "{kept_after} vs {direct_after}");

    // Through a proxy that passes the hang-up on: as direct.
    let port = free_port();
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let passes = Proxy::start(upstream, false).await;
    let passed_on = run(&ws, "passed.toml", scenario(&format!("url = \"{}\"", passes.url()), after, port)).await;
    let s = check_counts(&passed_on);
    let n = f(&s, &["cancellations", "requests"]);
    assert!(f(&s, &["cancellations", "tokens_after_cancel"]) <= 3.0 * n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hangs_up_after_exactly_its_tokens() {
    let ws = Arc::new(Workspace::new());
    let text = scenario("mock = \"llm\"", "after_tokens = 7", free_port());
    let r = run(&ws, "tokens.toml", text).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_counts_add_up(&s);
    let n = f(&s, &["cancellations", "requests"]);
    assert!(n > 5.0);
    // The mock sends one token a chunk: each client read exactly 7 before hanging up.
    assert_eq!(f(&s, &["cancellations", "tokens_received"]), 7.0 * n);
    assert_eq!(f(&s, &["cancellations", "before_first_token"]), 0.0);
    assert!(f(&s, &["cancellations", "tokens_after_cancel"]) <= 2.0 * n);
    // Their time to first token counts (it came before the hang-up); their latency does not.
    assert_eq!(f(&s, &["streaming", "ttft_ms", "count"]), f(&s, &["counts", "total"]));
    assert_eq!(f(&s, &["latency_ms", "count"]), f(&s, &["counts", "total"]) - n);
}
