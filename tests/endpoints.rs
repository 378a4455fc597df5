//! More than chat, end to end with the real binary and the real mock: legacy completions, embeddings and the
//! Responses API beside chat completions, each tier on its own endpoint. Every request's tokens are known
//! beforehand: a token-aware mock counts the 50-token prompt slacheck wrote (one message, so a text body is that
//! message alone) and answers exactly the 9 tokens asked, embeddings none; and the totals are held against the
//! mock's own counters. Time to first token exists only for the streamed classes.

mod common;
use common::{f, parquet_rows, Workspace};
use serde_json::Value;
use std::sync::Arc;

const INPUT: f64 = 50.0;
const OUTPUT: f64 = 9.0;

/// A class on tier `tier`, 50-token prompts and 9-token answers (none asked of embeddings).
fn class(name: &str, tier: &str, stream: bool) -> String {
    let output = if tier == "embeddings" { String::new() } else { format!("output_tokens = {OUTPUT}\n") };
    format!(
        "[[classes]]\nname = \"{name}\"\nweight = 1\ntier = \"{tier}\"\nfallbacks = []\ninput_tokens = {INPUT}\n\
         {output}stream = {stream}\n"
    )
}

/// Four tiers, one per endpoint, each `place(endpoint)` (a `url` or a `mock`), and five classes: each API, the
/// Responses API both streamed and whole.
fn scenario(place: impl Fn(&str) -> String, extra: &str) -> String {
    let mut s = String::from("name = \"endpoints\"\n[target]\ntimeout = \"10s\"\n");
    for endpoint in ["chat", "completions", "embeddings", "responses"] {
        s.push_str(&format!(
            "[[tiers]]\nname = \"{endpoint}\"\n{}\nendpoint = \"{endpoint}\"\nmodel = \"m-{endpoint}\"\n",
            place(endpoint)
        ));
    }
    for (name, tier, stream) in [
        ("chat", "chat", true),
        ("completions", "completions", true),
        ("embeddings", "embeddings", false),
        ("responses", "responses", true),
        ("responses-whole", "responses", false),
    ] {
        s.push_str(&class(name, tier, stream));
    }
    s.push_str("[load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"2s\"\n");
    s.push_str(extra);
    s
}

/// The mock's settings: o200k counts the prompt, answers of exactly `max_tokens`, a token every 2 ms.
const MOCK: &str = "tokenizer = \"o200k_base\"\nlatency = { dist = \"fixed\", value = \"2ms\" }\n\
    stream = { ttft = { dist = \"fixed\", value = \"5ms\" }, inter_token = { dist = \"fixed\", value = \"2ms\" } }\n";

type Row = serde_json::Map<String, Value>;

/// What every run shows, row by row: all answered, with the tokens known beforehand, a first token exactly
/// when streamed. Returns the rows.
fn check_rows(r: &common::Ran) -> Vec<Row> {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    assert_eq!(rows.len() as f64, f(&s, &["counts", "total"]));
    assert_eq!(f(&s, &["counts", "ok"]), rows.len() as f64, "every request answered");
    for row in &rows {
        let class = row["class"].as_str().unwrap();
        let streamed = matches!(class, "chat" | "completions" | "responses");
        let output = if class == "embeddings" { 0.0 } else { OUTPUT };
        let tokens = |k: &str| row.get(k).and_then(Value::as_f64);
        assert_eq!((tokens("input_tokens"), tokens("tokens_in")), (Some(INPUT), Some(INPUT)), "{row:?}");
        assert_eq!(tokens("tokens_out"), Some(output), "{row:?}");
        assert_eq!(tokens("ttft_ms").is_some(), streamed, "a first token only when streamed: {row:?}");
    }
    for class in ["chat", "completions", "embeddings", "responses", "responses-whole"] {
        assert!(rows.iter().filter(|r| r["class"] == class).count() >= 5, "class {class} was sent");
    }
    let answers = rows.iter().filter(|r| r["class"] != "embeddings").count() as f64;
    assert_eq!(f(&s, &["tokens", "input"]), INPUT * rows.len() as f64);
    assert_eq!(f(&s, &["tokens", "output"]), OUTPUT * answers);
    // Inter-token figures come from the three streamed classes alone.
    let streamed = rows.iter().filter(|r| matches!(r["class"].as_str(), Some("chat" | "completions" | "responses")));
    let streamed: Vec<&Row> = streamed.collect();
    assert_eq!(f(&s, &["streaming", "requests"]), streamed.len() as f64);
    assert_eq!(f(&s, &["streaming", "ttft_ms", "count"]), streamed.len() as f64);
    assert_eq!(f(&s, &["streaming", "tokens_received"]), OUTPUT * streamed.len() as f64);
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_sends_its_body_to_the_users_url_and_reads_its_own_usage() {
    let config: mock_upstream::ProviderConfig = toml::from_str(&format!("name = \"llm\"\n{MOCK}")).unwrap();
    let upstream = mock_upstream::start(config, std::time::Instant::now()).await.unwrap();
    // A gateway's URL is used as written: each tier names its endpoint's path.
    fn paths(e: &str) -> &str {
        if e == "chat" {
            "chat/completions"
        } else {
            e
        }
    }
    let base = upstream.base_url();
    let text = scenario(|e| format!("url = \"{base}/v1/{}\"", paths(e)), "");
    let ws = Arc::new(Workspace::new());
    let path = ws.write("endpoints.toml", &text);
    let runner = ws.clone();
    let r = tokio::task::spawn_blocking(move || runner.run(&path, &[])).await.unwrap();
    let rows = check_rows(&r);
    // The mock's own counts: requests by endpoint, the prompt tokens it reported and the tokens it generated.
    let stats = upstream.provider.stats();
    let sent = |classes: &[&str]| rows.iter().filter(|r| classes.contains(&r["class"].as_str().unwrap())).count();
    let by_endpoint = |e: &str| stats.by_endpoint.get(e).copied().unwrap_or(0) as usize;
    assert_eq!(by_endpoint("chat"), sent(&["chat"]));
    assert_eq!(by_endpoint("completions"), sent(&["completions"]));
    assert_eq!(by_endpoint("embeddings"), sent(&["embeddings"]));
    assert_eq!(by_endpoint("responses"), sent(&["responses", "responses-whole"]));
    let s = r.summary();
    assert_eq!(stats.tokens_in as f64, f(&s, &["tokens", "input"]), "the mock's prompt tokens, as slacheck read them");
    assert_eq!(stats.tokens_out as f64, f(&s, &["tokens", "output"]), "the mock's generated tokens");
    // The models went to their tiers.
    for e in ["chat", "completions", "embeddings", "responses"] {
        assert_eq!(stats.by_model.get(&format!("m-{e}")).copied().unwrap_or(0) as usize, by_endpoint(e));
    }
}

#[test]
fn an_in_process_mock_serves_each_endpoint_on_its_own_path() {
    let ws = Workspace::new();
    let text = scenario(|_| "mock = \"llm\"".into(), &format!("[[mock.providers]]\nname = \"llm\"\n{MOCK}"));
    let r = ws.run(&ws.write("endpoints.toml", &text), &[]);
    check_rows(&r);
    // The terminal names what it measured: the streamed classes' time to first token.
    assert!(r.stdout.contains("ttft") || r.stdout.contains("first token"), "{}", r.stdout);
}
