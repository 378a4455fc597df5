//! Conversations end to end, with the real binary and the real mock: each turn's body carries the earlier questions
//! and the answers as they came (seen by a recording proxy between slacheck and the mock), the think time between
//! an answer and the next turn, the session id header, sessions completed or broken (counted again from
//! requests.parquet), a ShareGPT dataset replayed turn by turn, and the mock's prompt cache making turn 2 faster by
//! exactly the prefill it saves.

mod common;
use common::proxy::{Passed, Proxy};
use common::{f, parquet_rows, Workspace};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

type Row = serde_json::Map<String, Value>;

fn tokens(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len() as u64
}

/// The answer's text as the proxy read it: a chat completion's message, or a stream's content deltas.
fn answer_text(p: &Passed) -> String {
    let text = String::from_utf8_lossy(&p.answer);
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
    }
    let mut out = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            out.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or_default());
        }
    }
    out
}

/// The requests the proxy passed, by the session id header each carried, in the order it saw them.
fn by_session(passed: &[Passed]) -> BTreeMap<String, Vec<&Passed>> {
    let mut sessions: BTreeMap<String, Vec<&Passed>> = BTreeMap::new();
    for p in passed {
        sessions.entry(p.header("x-session-id").expect("a session id").to_string()).or_default().push(p);
    }
    sessions
}

/// What a third turn should send: the first question, the first answer as received, the second question, the
/// second answer, then its own question (each question as the turn that asked it sent it).
fn history(first: &[Value], second: &[Value], third: &[Value], answers: &[String; 2]) -> Vec<Value> {
    vec![
        first[0].clone(),
        serde_json::json!({ "role": "assistant", "content": answers[0] }),
        second[2].clone(),
        serde_json::json!({ "role": "assistant", "content": answers[1] }),
        third[4].clone(),
    ]
}

fn messages(p: &Passed) -> Vec<Value> {
    let body: Value = serde_json::from_slice(&p.body).unwrap();
    body["messages"].as_array().unwrap().clone()
}

async fn mock(config: &str) -> mock_upstream::RunningProvider {
    let config: mock_upstream::ProviderConfig = toml::from_str(config).unwrap();
    mock_upstream::start(config, std::time::Instant::now()).await.unwrap()
}

/// Runs the binary on a blocking thread, so that the mock and the proxy of the test go on answering.
async fn run(ws: &Arc<Workspace>, name: &str, scenario: String) -> common::Ran {
    let path = ws.write(name, &scenario);
    let ws = ws.clone();
    tokio::task::spawn_blocking(move || ws.run(&path, &[])).await.unwrap()
}

/// Two conversational classes (one streamed, one not) of three turns through the proxy.
fn three_turns(url: &str) -> String {
    format!(
        "name = \"sessions\"\n[target]\ntimeout = \"10s\"\n\
         [[tiers]]\nname = \"p\"\nurl = \"{url}\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"streamed\"\nweight = 1\ntier = \"p\"\ninput_tokens = 20\n\
         output_tokens = {{ mean = 30, stddev = 12, min = 3, max = 80 }}\nstream = true\n\
         conversation = {{ turns = 3, think_time = \"150ms\" }}\n\
         [[classes]]\nname = \"whole\"\nweight = 1\ntier = \"p\"\ninput_tokens = 20\n\
         output_tokens = {{ mean = 30, stddev = 12, min = 3, max = 80 }}\n\
         conversation = {{ turns = 3, think_time = \"150ms\" }}\n\
         [load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"1s\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_turn_carries_exactly_the_two_earlier_questions_and_answers() {
    let upstream =
        mock("name = \"m\"\ncompletion_tokens = 100\nlatency = { dist = \"fixed\", value = \"2ms\" }\n").await;
    let proxy = Proxy::start(upstream.addr, false).await;
    let ws = Arc::new(Workspace::new());
    let r = run(&ws, "sessions.toml", three_turns(&proxy.url())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    let passed = proxy.passed();
    // Every turn went through the proxy, grouped by the session id header it carried.
    let sessions = by_session(&passed);
    assert_eq!(sessions.len() as f64, f(&s, &["conversations", "sessions", "started"]));
    assert_eq!(f(&s, &["conversations", "sessions", "completed"]), sessions.len() as f64);
    assert_eq!(passed.len() as f64, f(&s, &["counts", "total"]));
    assert!(sessions.len() >= 8, "{} sessions", sessions.len());
    for (id, turns) in &sessions {
        assert_eq!(turns.len(), 3, "session {id}");
        // A session's turns go one after another: the proxy saw them in order.
        let (first, second, third) = (messages(turns[0]), messages(turns[1]), messages(turns[2]));
        assert_eq!((first.len(), second.len(), third.len()), (1, 3, 5), "session {id}");
        let answers = [answer_text(turns[0]), answer_text(turns[1])];
        assert_ne!(answers[0], answers[1], "answers of drawn lengths tell the turns apart");
        assert_eq!(third, history(&first, &second, &third, &answers), "session {id}");
        assert_eq!(second[..2], third[..2]);
        assert_eq!(third[4]["role"], "user");
    }
    // requests.parquet: a session and a turn on every row; turn k+1 was due when turn k ended plus the think time,
    // and its input tokens are the tokenizer's count of everything it sent.
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    let by_id: BTreeMap<&str, &Passed> = passed.iter().map(|p| (p.header("x-request-id").unwrap(), p)).collect();
    let mut by_session: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        by_session.entry(row["session"].as_i64().unwrap()).or_default().push(row);
    }
    assert_eq!(by_session.len(), sessions.len());
    for turns in by_session.values_mut() {
        turns.sort_by_key(|r| r["turn"].as_i64());
        let numbers: Vec<i64> = turns.iter().map(|r| r["turn"].as_i64().unwrap()).collect();
        assert_eq!(numbers, [1, 2, 3]);
        for pair in turns.windows(2) {
            let due = pair[0]["done_ms"].as_f64().unwrap() + 150.0;
            let intended = pair[1]["intended_ms"].as_f64().unwrap();
            assert!((intended - due).abs() < 0.01, "due {due}, intended {intended}");
            assert!(pair[1]["sent_ms"].as_f64().unwrap() >= intended);
        }
        for row in turns.iter() {
            let p = by_id[row["request_id"].as_str().unwrap()];
            let sent: u64 = messages(p).iter().map(|m| tokens(m["content"].as_str().unwrap())).sum();
            assert_eq!(row["input_tokens"].as_u64(), Some(sent), "{row:?}");
        }
    }
    // Input tokens grow by turn: each turn adds its question (20) and the answer before it.
    let turns = s["conversations"]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    let mean = |i: usize| f(&turns[i], &["input_tokens_mean"]);
    assert_eq!(mean(0), 20.0);
    assert!(mean(1) > mean(0) + 20.0 && mean(2) > mean(1) + 20.0, "{turns:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_that_fails_breaks_its_session_and_the_counts_match_the_rows() {
    let ws = Arc::new(Workspace::new());
    let scenario = "name = \"broken\"\n[target]\ntimeout = \"10s\"\n\
        [[tiers]]\nname = \"default\"\nmock = \"flaky\"\nmodel = \"m\"\n\
        [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"default\"\ninput_tokens = 10\noutput_tokens = 5\n\
        conversation = { turns = 4, think_time = \"20ms\" }\n\
        [load]\nprofile = \"constant\"\nrate = \"40/s\"\nduration = \"2s\"\n\
        [[mock.providers]]\nname = \"flaky\"\nlatency = { dist = \"fixed\", value = \"1ms\" }\n\
        errors = { rate = \"20%\", statuses = [500] }\n";
    let r = run(&ws, "broken.toml", scenario.to_string()).await;
    let s = r.summary();
    common::assert_counts_add_up(&s);
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    let mut by_session: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        by_session.entry(row["session"].as_i64().unwrap()).or_default().push(row);
    }
    let (mut completed, mut broken) = (0, 0);
    let mut per_turn = [0u64; 4];
    for turns in by_session.values_mut() {
        turns.sort_by_key(|r| r["turn"].as_i64());
        let n = turns.len();
        for (i, row) in turns.iter().enumerate() {
            assert_eq!(row["turn"].as_i64(), Some(i as i64 + 1), "turns are consecutive from 1");
            per_turn[i] += 1;
            if i + 1 < n {
                assert_eq!(row["outcome"], "ok", "only a session's last turn may fail");
            }
        }
        match turns[n - 1]["outcome"].as_str() {
            Some("ok") => {
                assert_eq!(n, 4, "a session without a failure has all its turns");
                completed += 1;
            }
            _ => broken += 1,
        }
    }
    let sessions = &s["conversations"]["sessions"];
    assert_eq!(f(sessions, &["started"]), by_session.len() as f64);
    assert_eq!((f(sessions, &["completed"]), f(sessions, &["broken"])), (completed as f64, broken as f64));
    assert_eq!(f(sessions, &["cut"]), 0.0);
    // With 20% of turns failing, about 1 − 0.8⁴ = 59% of 80 sessions break: at least a few, never all.
    assert!(broken >= 10 && completed >= 5, "{completed} completed, {broken} broken");
    let turns = s["conversations"]["turns"].as_array().unwrap();
    for (i, t) in turns.iter().enumerate() {
        assert_eq!(f(t, &["requests"]), per_turn[i] as f64, "turn {}", i + 1);
    }
    // A failed turn is the target's failure: the verdict's counts hold every turn, once.
    assert_eq!(f(&s, &["counts", "total"]), rows.len() as f64);
    assert_eq!(f(&s, &["counts", "error"]), broken as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharegpt_line_is_replayed_turn_by_turn_with_the_answers_received() {
    let upstream = mock("name = \"m\"\nlatency = { dist = \"fixed\", value = \"1ms\" }\n").await;
    let proxy = Proxy::start(upstream.addr, false).await;
    let ws = Arc::new(Workspace::new());
    ws.write(
        "chats.jsonl",
        "{\"conversations\": [{\"from\": \"system\", \"value\": \"be brief\"}, {\"from\": \"human\", \"value\": \"hello world\"}, \
         {\"from\": \"gpt\", \"value\": \"an answer in the file\"}, {\"from\": \"human\", \"value\": \"and again\"}]}\n",
    );
    let scenario = format!(
        "name = \"sharegpt\"\n[target]\ntimeout = \"10s\"\n\
         [[tiers]]\nname = \"p\"\nurl = \"{}\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"p\"\nprompts_file = \"chats.jsonl\"\noutput_tokens = 7\n\
         conversation = {{ think_time = \"10ms\" }}\n\
         [load]\nprofile = \"constant\"\nrate = \"5/s\"\nduration = \"1s\"\n",
        proxy.url()
    );
    let r = run(&ws, "sharegpt.toml", scenario).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let passed = proxy.passed();
    assert_eq!(passed.len(), 10, "5 sessions of the line's 2 user turns");
    let mut sessions: BTreeMap<String, Vec<&Passed>> = BTreeMap::new();
    for p in &passed {
        sessions.entry(p.header("x-session-id").unwrap().to_string()).or_default().push(p);
    }
    for turns in sessions.values() {
        let contents =
            |p: &Passed| messages(p).iter().map(|m| m["content"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(contents(turns[0]), ["be brief", "hello world"]);
        let answer = answer_text(turns[0]);
        assert_eq!(answer, "ok ".repeat(7), "the mock's answer of 7 tokens");
        assert_eq!(contents(turns[1]), ["be brief", "hello world", answer.as_str(), "and again"]);
    }
}

/// One conversational class of two turns against a token-aware mock: 400-token questions, 100-token answers,
/// 500 µs of prefill a token, and with `cached` a prompt cache at 10 µs a token.
fn cache_scenario(cached: bool) -> String {
    let cache = if cached { "cached_prefill_per_token = \"10us\"\n" } else { "" };
    format!(
        "name = \"cache\"\n[target]\ntimeout = \"10s\"\n\
         [[tiers]]\nname = \"default\"\nmock = \"llm\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"default\"\ninput_tokens = 400\noutput_tokens = 100\n\
         stream = true\nconversation = {{ turns = 2 }}\n\
         [load]\nprofile = \"constant\"\nrate = \"4/s\"\nduration = \"2s\"\n\
         [[mock.providers]]\nname = \"llm\"\nstream = {{ ttft = {{ dist = \"fixed\", value = \"5ms\" }}, \
         inter_token = {{ dist = \"fixed\", value = \"0ms\" }} }}\nprefill_per_token = \"500us\"\n{cache}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_two_answers_sooner_by_exactly_the_prefill_the_cache_saves() {
    let ws = Arc::new(Workspace::new());
    let answer = tokens(&"ok ".repeat(100));
    let mut first_token = Vec::new();
    for cached in [false, true] {
        let r = run(&ws, &format!("cache-{cached}.toml"), cache_scenario(cached)).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let s = r.summary();
        let turns = s["conversations"]["turns"].as_array().unwrap().clone();
        let min = |i: usize| f(&turns[i], &["ttft_ms", "min"]);
        first_token.push((min(0), min(1)));
    }
    // A sleep never ends early, and the fastest of eight answers is late by the machine's overhead only. Turn 1
    // sends 400 tokens: 5 ms + 400 × 0.5 ms = 205 ms either way. Turn 2 sends 400 + the answer + 400 tokens:
    // uncached, 5 + (800 + answer) × 0.5 ms; cached, the first 400 and the answer at 10 µs and the new 400 at 0.5 ms.
    let expected_uncached = 5.0 + (800.0 + answer as f64) * 0.5;
    let expected_cached = 5.0 + 200.0 + (400.0 + answer as f64) * 0.01;
    let [(turn1_plain, turn2_plain), (turn1_cached, turn2_cached)] = [first_token[0], first_token[1]];
    // The overhead measured on turn 1 (its expected time is known) bounds the tolerance of turn 2; 10 ms more is
    // a fifth of what caching the question without the answer would save (the answer's ~100 tokens at 0.5 ms).
    let overhead = (turn1_plain - 205.0).max(turn1_cached - 205.0);
    assert!(turn1_plain >= 205.0 && turn1_cached >= 205.0, "{first_token:?}");
    assert!(
        turn2_plain >= expected_uncached && turn2_plain <= expected_uncached + overhead + 10.0,
        "uncached turn 2: {turn2_plain} ms, expected {expected_uncached} (overhead {overhead})"
    );
    assert!(
        turn2_cached >= expected_cached && turn2_cached <= expected_cached + overhead + 10.0,
        "cached turn 2: {turn2_cached} ms, expected {expected_cached} (overhead {overhead})"
    );
}

#[test]
fn shards_of_a_conversational_run_add_up_to_the_unsharded_run() {
    let ws = Workspace::new();
    let file = ws.write(
        "sharded.toml",
        "name = \"sharded\"\n[target]\ntimeout = \"5s\"\n\
         [[tiers]]\nname = \"default\"\nmock = \"default\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"default\"\ninput_tokens = 10\noutput_tokens = 5\n\
         conversation = { turns = { mean = 3, stddev = 2, min = 1, max = 6 }, think_time = \"10ms\" }\n\
         [load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"2s\"\narrivals = \"poisson\"\nseed = 5\n",
    );
    let began = std::time::Instant::now();
    let whole = ws.run(&file, &["--quiet"]);
    // The shards must be set up before their shared start (a start more than 1 s past is refused): on a busy
    // machine that takes as long as the whole run did here, its own set-up included.
    let ahead = began.elapsed().max(std::time::Duration::from_secs(3));
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + ahead;
    let start = format!("{:.3}", start.as_secs_f64());
    let shards: Vec<_> = (0..2)
        .map(|i| {
            let out = ws.path().join(format!("shard-{i}"));
            let child = std::process::Command::new(common::bin())
                .arg("run")
                .arg(&file)
                .args(["--quiet", "--shard", &format!("{i}/2"), "--start-at", &start, "--out"])
                .arg(&out)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let dirs: Vec<_> = shards
        .into_iter()
        .map(|(c, out)| {
            let r = common::ran(c.wait_with_output().unwrap(), out);
            // A shard's own verdict covers half the sessions and may be undecided (exit 1).
            assert!(r.code == 0 || r.code == 1, "{}\n{}", r.stdout, r.stderr);
            r.out
        })
        .collect();
    let merged_out = ws.path().join("merged");
    let o = std::process::Command::new(common::bin())
        .arg("merge")
        .args(&dirs)
        .arg("--out")
        .arg(&merged_out)
        .arg("--quiet")
        .output()
        .unwrap();
    let merged = common::ran(o, merged_out);
    let (w, m) = (whole.summary(), merged.summary());
    // The same sessions with the same turns, split between the shards: the sessions' numbers and turn counts come
    // from the seed, whatever the timing.
    assert!(f(&w, &["conversations", "sessions", "started"]) > 20.0);
    for key in ["started", "completed", "broken", "cut"] {
        assert_eq!(f(&m, &["conversations", "sessions", key]), f(&w, &["conversations", "sessions", key]), "{key}");
    }
    assert_eq!(f(&m, &["counts", "total"]), f(&w, &["counts", "total"]));
    let turns = |s: &Value| {
        s["conversations"]["turns"].as_array().unwrap().iter().map(|t| f(t, &["requests"])).collect::<Vec<_>>()
    };
    assert_eq!(turns(&m), turns(&w));
    // Request numbers are unique across the shards (each numbers its turns with its own stride).
    let mut numbers: Vec<i64> = dirs
        .iter()
        .flat_map(|d| parquet_rows(&d.join("requests.parquet")))
        .map(|r| r["request"].as_i64().unwrap())
        .collect();
    let n = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), n);
}

/// A think time drawn per turn, uniform between 100 and 300 ms: every gap between a turn's end and the next turn's
/// due time lies in that range, and the gaps differ (a fixed think time would give one value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drawn_think_time_puts_each_turn_due_within_its_range() {
    let ws = Arc::new(Workspace::new());
    let scenario = "name = \"thinking\"\n[target]\ntimeout = \"10s\"\n\
        [[tiers]]\nname = \"default\"\nmock = \"m\"\nmodel = \"m\"\n\
        [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"default\"\ninput_tokens = 10\noutput_tokens = 5\n\
        conversation = { turns = 3, think_time = { dist = \"uniform\", min = \"100ms\", max = \"300ms\" } }\n\
        [load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"1s\"\n\
        [[mock.providers]]\nname = \"m\"\nlatency = { dist = \"fixed\", value = \"1ms\" }\n";
    let r = run(&ws, "thinking.toml", scenario.to_string()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    let mut by_session: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        by_session.entry(row["session"].as_i64().unwrap()).or_default().push(row);
    }
    let mut gaps = Vec::new();
    for turns in by_session.values_mut() {
        turns.sort_by_key(|r| r["turn"].as_i64());
        for pair in turns.windows(2) {
            gaps.push(pair[1]["intended_ms"].as_f64().unwrap() - pair[0]["done_ms"].as_f64().unwrap());
        }
    }
    // 20 sessions of 3 turns: 40 gaps.
    assert_eq!(gaps.len(), 2 * by_session.len(), "{gaps:?}");
    assert!(gaps.len() >= 30, "{} gaps", gaps.len());
    // The file keeps times to the microsecond: 0.01 ms of rounding either side.
    assert!(gaps.iter().all(|g| (99.99..=300.01).contains(g)), "{gaps:?}");
    // Uniform on 100..300 ms: mean 200 ms, standard deviation 57.7 ms; the mean of 40 gaps has a standard
    // deviation of 9.1 ms, so 40 ms is over four of them.
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!((mean - 200.0).abs() < 40.0, "mean gap {mean} ms of {gaps:?}");
    let spread = gaps.iter().cloned().fold(f64::MIN, f64::max) - gaps.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 50.0, "drawn think times differ: {gaps:?}");
    // The later turns were due after the 1 s schedule: the offered rate is over the time until the last was due.
    let s = r.summary();
    let last_due_s = rows.iter().map(|r| r["intended_ms"].as_f64().unwrap()).fold(0.0, f64::max) / 1000.0;
    assert!(last_due_s > 1.1, "the last turn was due at {last_due_s} s");
    let offered = rows.len() as f64 / last_due_s;
    let reported = f(&s, &["offered_rate_per_s"]);
    assert!((reported - offered).abs() < 0.01 * offered, "offered {reported}/s, expected {offered}/s");
    // summary.md carries the sessions and a row per turn number, as summary.json counts them.
    let md = std::fs::read_to_string(r.out.join("summary.md")).unwrap();
    let started = by_session.len();
    assert!(md.contains(&format!("Sessions: {started} started; {started} completed")), "{md}");
    for turn in 1..=3 {
        let n = rows.iter().filter(|r| r["turn"].as_i64() == Some(turn)).count();
        assert!(md.contains(&format!("\n| {turn} | {n} | {n} | ")), "turn {turn}, {n} requests:\n{md}");
    }
}

/// A Responses API answer's text as the proxy read it: the `output_text` parts of its message items, or a
/// stream's `response.output_text.delta` events.
fn response_text(p: &Passed) -> String {
    let text = String::from_utf8_lossy(&p.answer);
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        let items = v["output"].as_array().unwrap().iter().filter(|i| i["type"] == "message");
        let parts = items.flat_map(|i| i["content"].as_array().unwrap().iter()).filter(|c| c["type"] == "output_text");
        return parts.map(|c| c["text"].as_str().unwrap()).collect();
    }
    let events = text.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|l| serde_json::from_str(l).ok());
    let deltas = events.filter(|e: &Value| e["type"] == "response.output_text.delta");
    deltas.map(|e| e["delta"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responses_api_third_turn_holds_exactly_the_two_earlier_answers_as_input_items() {
    let upstream =
        mock("name = \"m\"\ncompletion_tokens = 100\nlatency = { dist = \"fixed\", value = \"2ms\" }\n").await;
    let proxy = Proxy::start(upstream.addr, false).await;
    let url = format!("http://{}/v1/responses", proxy.addr);
    let scenario = three_turns(&url).replace("model = \"m\"\n", "model = \"m\"\nendpoint = \"responses\"\n");
    let ws = Arc::new(Workspace::new());
    let r = run(&ws, "responses.toml", scenario).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    let passed = proxy.passed();
    let sessions = by_session(&passed);
    assert!(sessions.len() >= 8, "{} sessions", sessions.len());
    assert_eq!(f(&s, &["conversations", "sessions", "completed"]), sessions.len() as f64);
    let input = |p: &Passed| -> Vec<Value> {
        let body: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(body.get("messages").is_none() && body["max_output_tokens"].is_u64(), "{body}");
        body["input"].as_array().unwrap().clone()
    };
    let mut streamed = 0;
    for (id, turns) in &sessions {
        assert_eq!(turns.len(), 3, "session {id}");
        streamed += usize::from(String::from_utf8_lossy(&turns[0].answer).starts_with("event:"));
        let (first, second, third) = (input(turns[0]), input(turns[1]), input(turns[2]));
        assert_eq!((first.len(), second.len(), third.len()), (1, 3, 5), "session {id}");
        let answers = [response_text(turns[0]), response_text(turns[1])];
        assert!(!answers[0].is_empty() && answers[0] != answers[1], "session {id}: {answers:?}");
        assert_eq!(third, history(&first, &second, &third, &answers), "session {id}");
        assert_eq!(
            (&first[0]["role"], &second[2]["role"], &third[4]["role"]),
            (&"user".into(), &"user".into(), &"user".into())
        );
    }
    assert!(streamed > 0 && streamed < sessions.len(), "both classes: {streamed} of {} streamed", sessions.len());
}
