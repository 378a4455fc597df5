//! The mock over real HTTP on loopback: wire format, faults, control and stats, and the wiremock responder. (The
//! `mock-upstream` command is built by the slacheck package: its test is tests/mock_upstream_command.rs there.)

use mock_upstream::config::{Errors, Latency, Outage, OutageMode, RateLimit, StreamFaultKind, StreamFaults};
use mock_upstream::units::{HumanDuration, Rate, Ratio};
use mock_upstream::{Provider, ProviderConfig};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Strict OpenAI schema types: any unexpected or missing field fails the test.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Completion {
    id: String,
    object: String,
    created: u64,
    model: String,
    choices: Vec<Choice>,
    usage: Usage,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Choice {
    index: u32,
    message: Message,
    finish_reason: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Message {
    role: String,
    content: String,
}
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Chunk {
    id: String,
    object: String,
    created: u64,
    model: String,
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ChunkChoice {
    index: u32,
    delta: Delta,
    finish_reason: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Delta {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

fn ms(v: u64) -> HumanDuration {
    HumanDuration(Duration::from_millis(v))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn chat(c: &reqwest::Client, url: &str, body: &str) -> reqwest::Response {
    c.post(url).header("content-type", "application/json").body(body.to_string()).send().await.unwrap()
}

#[tokio::test]
async fn completions_match_the_openai_schema_and_echo_the_model() {
    let p = mock_upstream::start(ProviderConfig::named("primary"), Instant::now()).await.unwrap();
    let r = chat(&client(), &p.chat_url(), r#"{"model": "gpt-x", "messages": [], "max_tokens": 5}"#).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-upstream"], "primary");
    let c: Completion = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!((c.object.as_str(), c.model.as_str()), ("chat.completion", "gpt-x"));
    assert_eq!(c.usage.completion_tokens, 5);
    assert_eq!(c.usage.total_tokens, c.usage.prompt_tokens + 5);
    assert_eq!(c.choices[0].finish_reason, "stop");

    let models = json(client().get(format!("{}/v1/models", p.base_url())).send().await.unwrap()).await;
    assert_eq!(models["data"][0]["id"], "mock-small");
    let health = client().get(format!("{}/healthz", p.base_url())).send().await.unwrap();
    assert_eq!((health.status().as_u16(), health.headers()["x-upstream"].to_str().unwrap()), (200, "primary"));
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

async fn stream_events(url: &str, body: &str) -> Vec<String> {
    let text = chat(&client(), url, body).await.text().await.unwrap();
    text.split("\n\n").filter(|e| !e.trim().is_empty()).map(|e| e.trim_start_matches("data: ").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_are_sse_chunks_ending_in_done_unless_truncated() {
    let mut cfg = ProviderConfig::named("s");
    cfg.stream.inter_token = Latency::Fixed { value: ms(2) };
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let events = stream_events(&p.chat_url(), r#"{"model": "m", "stream": true, "max_tokens": 4}"#).await;
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Chunk> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let content: String =
        chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.delta.content.clone()).collect();
    assert_eq!(content, "ok ok ok ok ");
    assert!(chunks.iter().all(|c| c.object == "chat.completion.chunk"));
    assert_eq!(chunks.last().unwrap().usage.as_ref().unwrap().completion_tokens, 4);

    let mut cfg = ProviderConfig::named("t");
    cfg.stream_faults = Some(StreamFaults { rate: Ratio(1.0), kind: StreamFaultKind::Truncate, stall: ms(0) });
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let events = stream_events(&p.chat_url(), r#"{"model": "m", "stream": true, "max_tokens": 6}"#).await;
    assert!(!events.iter().any(|e| e == "[DONE]"), "a truncated stream has no [DONE]");
    assert_eq!(events.len(), 3, "it stops halfway through 6 tokens");

    let mut cfg = ProviderConfig::named("m");
    cfg.stream_faults = Some(StreamFaults { rate: Ratio(1.0), kind: StreamFaultKind::Malformed, stall: ms(0) });
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let events = stream_events(&p.chat_url(), r#"{"model": "m", "stream": true, "max_tokens": 6}"#).await;
    let bad = events.iter().filter(|e| *e != "[DONE]" && serde_json::from_str::<Chunk>(e).is_err()).count();
    assert_eq!(bad, 1, "one malformed chunk: {events:?}");
    assert_eq!(events.last().unwrap(), "[DONE]");

    let mut cfg = ProviderConfig::named("st");
    cfg.stream.inter_token = Latency::Fixed { value: ms(1) };
    cfg.stream_faults = Some(StreamFaults { rate: Ratio(1.0), kind: StreamFaultKind::Stall, stall: ms(300) });
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let began = Instant::now();
    let events = stream_events(&p.chat_url(), r#"{"model": "m", "stream": true, "max_tokens": 4}"#).await;
    assert!(began.elapsed() >= Duration::from_millis(300), "the stream stalls for 300 ms");
    assert_eq!(events.last().unwrap(), "[DONE]", "a stalled stream still ends");
}

#[tokio::test(flavor = "multi_thread")]
async fn error_rate_and_latency_match_the_config_over_http() {
    let mut cfg = ProviderConfig::named("e");
    cfg.seed = 11;
    cfg.latency = Latency::Fixed { value: ms(3) };
    cfg.errors = Some(Errors { rate: Ratio(0.2), statuses: vec![503, 429] });
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let c = client();
    let n = 1000;
    let (mut errors, mut with_retry_after, mut fastest_ok) = (0, 0, Duration::MAX);
    for _ in 0..n {
        let t = Instant::now();
        let r = chat(&c, &p.chat_url(), "{}").await;
        let elapsed = t.elapsed();
        if r.status() == 200 {
            fastest_ok = fastest_ok.min(elapsed);
        } else {
            errors += 1;
            if r.status() == 429 {
                assert_eq!(r.headers()["retry-after"], "1");
                with_retry_after += 1;
            }
        }
        r.bytes().await.unwrap();
    }
    // Binomial sd at n = 1,000 and p = 0.2 is 0.0126; allow four of them.
    let rate = errors as f64 / n as f64;
    assert!((rate - 0.2).abs() < 0.05, "error rate {rate}");
    // Each error draws its status uniformly from the two: 429 is Binomial(errors, ½), sd √errors / 2; allow 4 sd.
    let half = errors as f64 / 2.0;
    assert!((with_retry_after as f64 - half).abs() <= 2.0 * (errors as f64).sqrt(), "{with_retry_after} of {errors}");
    // Only a wait can be asserted on a busy machine: no answer comes before its fixed 3 ms.
    assert!(fastest_ok >= Duration::from_millis(3), "fixed 3 ms latency, fastest answer took {fastest_ok:?}");
    let stats = p.provider.stats();
    assert_eq!(stats.requests, n);
    assert_eq!(stats.faults["error"], errors);
    assert_eq!((stats.by_status["429"], stats.by_status["503"]), (with_retry_after, errors - with_retry_after));
}

#[tokio::test(flavor = "multi_thread")]
async fn outage_windows_and_the_token_bucket_fail_what_they_should() {
    let mut cfg = ProviderConfig::named("o");
    cfg.outages = vec![Outage { window: "0s..400ms".parse().unwrap(), mode: OutageMode::Status, status: 502 }];
    let start = Instant::now();
    let p = mock_upstream::start(cfg, start).await.unwrap();
    let c = client();
    assert_eq!(chat(&c, &p.chat_url(), "{}").await.status(), 502);
    tokio::time::sleep_until((start + Duration::from_millis(500)).into()).await;
    assert_eq!(chat(&c, &p.chat_url(), "{}").await.status(), 200);

    let mut cfg = ProviderConfig::named("reset");
    cfg.outages = vec![Outage { window: "0s..10s".parse().unwrap(), mode: OutageMode::Reset, status: 503 }];
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let err = c.post(p.chat_url()).body("{}").send().await.expect_err("a reset connection gives no response");
    assert!(!err.is_status());

    let mut cfg = ProviderConfig::named("limited");
    cfg.rate_limit = Some(RateLimit { rate: Rate::per_second(50.0), burst: Some(5) });
    let start = Instant::now();
    let p = mock_upstream::start(cfg, start).await.unwrap();
    // The bucket holds 5 and refills 50 a second from `start`. Requests go back to back, so every token is
    // taken soon after it appears, except while no request arrives for longer than the bucket takes to fill
    // (100 ms, on a busy machine): tokens that overflow then are lost. The bounds come from the times measured
    // here, not from the plan.
    // Two decisions of the server lie at most from the send of one request to the answer of the next apart.
    let (mut admitted, mut lost, mut last_sent, mut previous_sent) = (0u32, 0.0f64, start, start);
    let mut left = 5.0;
    for _ in 0..300 {
        let sent = Instant::now();
        if chat(&c, &p.chat_url(), "{}").await.status() == 200 {
            admitted += 1;
        }
        // At most this many overflowed since the last decision: the bucket held at most `left` then (full at
        // the start; after a decision at most 4, as it took one if there was one), and holds 5.
        lost += (left + 50.0 * previous_sent.elapsed().as_secs_f64() - 5.0).max(0.0);
        (previous_sent, last_sent, left) = (sent, sent, 4.0);
    }
    // The last decision fell between the last send and now; one token of slack for rounding at each end.
    let most = 5.0 + 50.0 * start.elapsed().as_secs_f64() + 1.0;
    let least = 5.0 + 50.0 * (last_sent - start).as_secs_f64() - lost - 1.0;
    let admitted = f64::from(admitted);
    assert!(least <= admitted && admitted <= most, "admitted {admitted}, bucket allows {least:.1}..{most:.1}");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_starts_and_stops_an_outage_and_stats_count_it() {
    let p = mock_upstream::start(ProviderConfig::named("c"), Instant::now()).await.unwrap();
    let c = client();
    let control = format!("{}/__control", p.base_url());
    let r = c.post(&control).body(r#"{"outage": "start", "status": 503}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(chat(&c, &p.chat_url(), r#"{"model": "a"}"#).await.status(), 503);
    c.post(&control).body(r#"{"outage": "stop"}"#).send().await.unwrap();
    assert_eq!(chat(&c, &p.chat_url(), r#"{"model": "b"}"#).await.status(), 200);
    let bad = c.post(&control).body(r#"{"outage": "maybe"}"#).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let stats: mock_upstream::Stats =
        serde_json::from_value(json(c.get(format!("{}/__stats", p.base_url())).send().await.unwrap()).await).unwrap();
    assert_eq!(stats.requests, 2);
    assert_eq!((stats.by_status["503"], stats.by_status["200"]), (1, 1));
    assert_eq!((stats.by_model["a"], stats.by_model["b"]), (1, 1));
    assert_eq!(stats.faults["outage"], 1);
    // The same counters in the Prometheus text format, beside the provider's own paths.
    let r = c.get(format!("{}/metrics", p.base_url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    for line in [
        r#"mock_upstream_requests_total{provider="c",status="200"} 1"#,
        r#"mock_upstream_requests_total{provider="c",status="503"} 1"#,
        r#"mock_upstream_faults_total{provider="c",kind="outage"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
    }
    assert_eq!(chat(&c, &p.chat_url(), r#"{"model": "a"}"#).await.status(), 200, "chat still answers");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wiremock_responder_serves_the_same_faults() {
    let server = wiremock::MockServer::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .disable_request_recording()
        .start()
        .await;
    let mut cfg = ProviderConfig::named("wm");
    cfg.errors = Some(Errors { rate: Ratio(0.5), statuses: vec![500] });
    let provider = Arc::new(Provider::new(cfg).unwrap());
    mock_upstream::wiremock_support::mount(&server, provider.clone()).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", server.uri());
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let r = chat(&c, &url, r#"{"model": "w"}"#).await;
        assert_eq!(r.headers()["x-upstream"], "wm");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if status == 200 {
            let _: Completion = serde_json::from_str(&text).unwrap();
        }
        statuses.push(status);
    }
    let errors = statuses.iter().filter(|s| **s == 500).count();
    // sd at n = 200, p = 0.5 is 7; allow four of them.
    assert!((errors as i64 - 100).abs() < 28, "{errors} errors of 200");
    assert_eq!(provider.stats().requests, 200);
}

#[test]
fn the_example_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("providers.toml");
    let (config, _): (mock_upstream::MockConfig, String) = mock_upstream::tomlfile::read(&path).unwrap();
    assert_eq!(config.providers.len(), 3);
    for p in &config.providers {
        p.check().unwrap();
    }
}

/// Reads a stream and returns, for each SSE event, when it arrived after `sent` (events that came in one read
/// share its time).
async fn event_arrivals(url: &str, body: &str) -> (Instant, Vec<Duration>) {
    let sent = Instant::now();
    let mut r = chat(&client(), url, body).await;
    let (mut arrivals, mut pending) = (Vec::new(), String::new());
    while let Some(bytes) = r.chunk().await.unwrap() {
        let at = sent.elapsed();
        pending.push_str(std::str::from_utf8(&bytes).unwrap());
        while let Some(end) = pending.find("\n\n") {
            arrivals.push(at);
            pending.drain(..end + 2);
        }
    }
    (sent, arrivals)
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_chunks_keep_their_absolute_schedule() {
    // 200 tokens at 5 ms, no time to first token: chunk i is due 5·i ms after the answer began, and the closing
    // events (finish, usage, [DONE]) 1 s after it. A mock that sleeps a relative 5 ms per chunk falls behind by
    // the timer's granularity at every chunk (about 1.1 ms each, 220 ms by the end); one that sleeps until each
    // deadline is as late at the end as at the start.
    let mut cfg = ProviderConfig::named("clock");
    cfg.stream.ttft = Latency::Fixed { value: ms(0) };
    cfg.stream.inter_token = Latency::Fixed { value: ms(5) };
    cfg.completion_tokens = 200;
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let (_, arrivals) = event_arrivals(&p.chat_url(), r#"{"model": "m", "stream": true, "max_tokens": 200}"#).await;
    assert_eq!(arrivals.len(), 200 + 3, "200 token chunks, then finish, usage and [DONE]");
    // Lateness of chunk i against its deadline, as the client sees it (it includes the request's own trip, the
    // same for every chunk). The floor over the first and over the last 20 chunks: a busy machine can delay a
    // few chunks, but a chunk that wakes late does not delay the ones after it, so the floor cannot drift.
    let lateness: Vec<f64> = (0..=200).map(|i| arrivals[i].as_secs_f64() * 1e3 - 5.0 * i as f64).collect();
    let floor = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
    let (first, last) = (floor(&lateness[..20]), floor(&lateness[181..]));
    let total = (arrivals[200] - arrivals[0]).as_secs_f64() * 1e3;
    eprintln!("first chunk {first:.2} ms late, last 20 chunks at least {last:.2} ms late; first to last {total:.2} ms");
    assert!(
        last - first <= 2.0,
        "the stream drifted from its schedule: the first chunks were {first:.2} ms late, the last ones at least \
         {last:.2} ms (first to last took {total:.2} ms, planned 1000 ms)"
    );
}

#[tokio::test]
async fn an_answer_held_up_by_a_blocked_runtime_is_counted_late_by_at_least_the_block() {
    // One thread runs both the client and the provider (tokio's current-thread test runtime): blocking it keeps
    // the provider's 20 ms timer from firing, as a starved generator process does to its in-process mock.
    let mut cfg = ProviderConfig::named("late");
    cfg.latency = Latency::Fixed { value: ms(20) };
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let (c, url) = (client(), p.chat_url());
    let answer = tokio::spawn(async move { chat(&c, &url, "{}").await.bytes().await.unwrap() });
    while p.provider.stats().requests == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The answer was due at most 20 ms after now: it began before its request was counted.
    let due_by = Instant::now() + Duration::from_millis(20);
    std::thread::sleep(Duration::from_millis(100));
    let unblocked = Instant::now();
    answer.await.unwrap();
    let timing = p.provider.timing();
    let lateness = &timing.lateness;
    assert_eq!(lateness.len(), 1, "one answer, one lateness");
    // Its model said 20 ms (two significant figures: read back within 1%).
    assert!((timing.modelled.max() as f64 - 20_000.0).abs() <= 200.0, "modelled {} µs", timing.modelled.max());
    let at_least = u64::try_from((unblocked - due_by).as_micros()).unwrap();
    // Two significant figures: a recorded value reads back within 1% below it.
    assert!(
        lateness.max() as f64 >= at_least as f64 * 0.99,
        "late by {} µs, blocked past the due time {at_least} µs",
        lateness.max()
    );
    // An answer on a free runtime is counted too (how late it is depends on the machine; it is not asserted).
    chat(&client(), &p.chat_url(), "{}").await.bytes().await.unwrap();
    assert_eq!(p.provider.timing().lateness.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_counts_its_model_once_a_stream_at_its_end_and_a_hang_as_never() {
    let mut cfg = ProviderConfig::named("m");
    cfg.latency = Latency::Fixed { value: ms(5) };
    let p = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let events = stream_events(&p.chat_url(), r#"{"model": "m", "stream": true, "max_tokens": 3}"#).await;
    assert_eq!(events.last().unwrap(), "[DONE]");
    let t = p.provider.timing();
    assert_eq!((t.modelled.len(), t.lateness.len()), (1, 1), "a stream counts once, at its end");
    // Its model had it end at least its 5 ms time to first token after it came (two significant figures).
    assert!(t.modelled.max() >= 4_950, "modelled {} µs", t.modelled.max());

    // A provider whose requests hang: the model never answers, and no answer is late.
    let mut cfg = ProviderConfig::named("h");
    cfg.outages = vec![Outage { window: "0s..1h".parse().unwrap(), mode: OutageMode::Hang, status: 503 }];
    let h = mock_upstream::start(cfg, Instant::now()).await.unwrap();
    let c = reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(200)).build().unwrap();
    assert!(c.post(h.chat_url()).body("{}").send().await.is_err(), "a hang ends in the client's timeout");
    let t = h.provider.timing();
    assert_eq!((t.modelled.len(), t.lateness.len()), (1, 0));
    assert!(t.modelled.max() >= mock_upstream::generation::NEVER.as_micros() as u64 * 99 / 100);
}
