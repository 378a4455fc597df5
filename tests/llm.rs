//! LLM-shaped load, end to end with the real binary and the real mock: prompts of drawn token lengths, a mock
//! whose time follows tokens, goodput against a count made from requests.parquet, a dataset's bad line, and a
//! Mooncake-style trace replayed with its times and lengths.

mod common;
use common::{f, parquet_rows, Workspace};
use serde_json::Value;

type Row = serde_json::Map<String, Value>;

fn number(row: &Row, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

fn tier<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["tiers"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()
}

/// Two classes on two tiers of one token-aware mock: 100-token and 2,000-token prompts at 200 µs of prefill a
/// token, 37-token answers.
const TOKENS: &str = "name = \"tokens\"\n[target]\ntimeout = \"10s\"\n\
    [[tiers]]\nname = \"short\"\nmock = \"llm\"\nmodel = \"m\"\n\
    [[tiers]]\nname = \"long\"\nmock = \"llm\"\nmodel = \"m\"\n\
    [[classes]]\nname = \"short\"\nweight = 1\ntier = \"short\"\nfallbacks = []\ninput_tokens = 100\noutput_tokens = 37\nstream = true\n\
    [[classes]]\nname = \"long\"\nweight = 1\ntier = \"long\"\nfallbacks = []\ninput_tokens = 2000\noutput_tokens = 37\nstream = true\n\
    [load]\nprofile = \"constant\"\nrate = \"40/s\"\nduration = \"2s\"\n\
    [[mock.providers]]\nname = \"llm\"\nstream = { ttft = { dist = \"fixed\", value = \"5ms\" } }\nprefill_per_token = \"200us\"\n";

#[test]
fn the_mocks_first_token_waits_for_the_prompt_and_answers_are_max_tokens_long() {
    let ws = Workspace::new();
    let r = ws.run(&ws.write("tokens.toml", TOKENS), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    let ok: Vec<&Row> = rows.iter().filter(|row| row["outcome"] == "ok").collect();
    assert_eq!(ok.len() as f64, f(&s, &["counts", "total"]), "every request answered");
    // A sleep never ends early: a 2,000-token prompt waits at least 2,000 × 200 µs = 400 ms (plus 5 ms) for its
    // first token, whatever the machine is doing; a 100-token one needs 25 ms, so its fastest is far below that.
    let ttft = |class: &str| -> Vec<f64> {
        ok.iter().filter(|row| row["class"] == class).map(|row| number(row, "ttft_ms").unwrap()).collect()
    };
    let (short, long) = (ttft("short"), ttft("long"));
    let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    assert!(short.len() > 20 && long.len() > 20, "{} short, {} long", short.len(), long.len());
    assert!(min(&long) >= 405.0, "long prompts' first token after {} ms", min(&long));
    assert!(min(&short) < 405.0 && min(&short) >= 25.0, "short prompts' fastest first token {} ms", min(&short));
    for row in &ok {
        // The answer is exactly max_tokens long, by the mock's own usage.
        assert_eq!(number(row, "tokens_out"), Some(37.0), "{row:?}");
        // slacheck's count of what it sent, and the mock's count from the same tokenizer, agree.
        let sent = if row["class"] == "long" { 2000.0 } else { 100.0 };
        assert_eq!((number(row, "input_tokens"), number(row, "tokens_in")), (Some(sent), Some(sent)), "{row:?}");
    }
    let input = 100.0 * short.len() as f64 + 2000.0 * long.len() as f64;
    assert_eq!(f(&s, &["tokens", "input"]), input);
    assert_eq!(f(&s, &["tokens", "output"]), 37.0 * ok.len() as f64);
    assert_eq!(f(tier(&s, "long"), &["prompt_tokens"]), 2000.0 * long.len() as f64);
}

#[test]
fn goodput_is_the_count_of_successful_requests_within_every_objective() {
    let ws = Workspace::new();
    // Fast answers take about 10 ms; slow ones decode 60 tokens at 20 ms each, at least 1.2 s. One in ten fails.
    let scenario = "name = \"good\"\n[target]\ntimeout = \"10s\"\n\
        [[tiers]]\nname = \"t\"\nmock = \"llm\"\nmodel = \"m\"\n\
        [[classes]]\nname = \"fast\"\nweight = 3\ntier = \"t\"\ninput_tokens = 10\noutput_tokens = 2\n\
        [[classes]]\nname = \"slow\"\nweight = 1\ntier = \"t\"\ninput_tokens = 10\noutput_tokens = 60\n\
        [load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"2s\"\n\
        [sla]\ngoodput = { latency = \"1s\" }\ngoodput_min = \"30%\"\n\
        [[mock.providers]]\nname = \"llm\"\nlatency = { dist = \"fixed\", value = \"10ms\" }\ndecode_per_token = \"20ms\"\n\
        errors = { rate = \"10%\", statuses = [500] }\n";
    let r = ws.run(&ws.write("good.toml", scenario), &["--set", "failover.enabled=false"]);
    let s = r.summary();
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    // The hand count, from each request's own row: it succeeded and took at most 1 s.
    let good = |class: Option<&str>| {
        rows.iter()
            .filter(|row| class.is_none_or(|c| row["class"] == c))
            .filter(|row| row["outcome"] == "ok" && number(row, "latency_ms").unwrap() <= 1000.0)
            .count() as f64
    };
    assert!(good(None) > 0.0 && good(Some("slow")) == 0.0, "slow answers take 1.2 s at least");
    assert_eq!(f(&s, &["goodput", "good"]), good(None));
    assert_eq!(f(&s, &["goodput", "total"]), rows.len() as f64);
    assert_eq!(f(&s, &["goodput", "classes", "fast", "good"]), good(Some("fast")));
    assert_eq!(f(&s, &["goodput", "classes", "slow", "good"]), 0.0);
    let timeline_good: f64 = s["timeline"].as_array().unwrap().iter().map(|row| f(row, &["good"])).sum();
    assert_eq!(timeline_good, good(None), "the timeline's seconds add up to the whole");
    let target = s["verdict"]["targets"].as_array().unwrap().iter().find(|t| t["name"] == "goodput").unwrap();
    assert_eq!(target["measured_ratio"].as_f64(), Some(good(None) / rows.len() as f64));
    // About 3 in 4 requests are fast and 9 in 10 of those succeed: about 67% good, far above 30% with 100
    // requests. On a machine so busy that fast answers took over a second, the verdict follows the count: the
    // Wilson 95% interval of the hand count, computed here, against 30%.
    let (k, n, z) = (good(None), rows.len() as f64, 1.959_963_984_540_054_f64);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    let expected = match (centre - half, centre + half) {
        (lo, _) if lo >= 0.3 => ("pass", 0),
        (_, hi) if hi < 0.3 => ("fail", 1),
        _ => ("insufficient_data", 1),
    };
    assert_eq!((target["judgement"].as_str(), r.code), (Some(expected.0), expected.1), "{}", r.stderr);
}

#[test]
fn a_prompts_file_line_that_is_not_json_is_named_by_file_and_line() {
    let ws = Workspace::new();
    ws.write("chat.jsonl", "{\"prompt\": \"hello\"}\n[{\"role\": \"user\", \"content\": \"hi\"}]\nnot json at all\n");
    let scenario = "name = \"data\"\n[target]\n[[tiers]]\nname = \"t\"\nmock = \"default\"\nmodel = \"m\"\n\
        [[classes]]\nname = \"c\"\nweight = 1\ntier = \"t\"\nprompts_file = \"chat.jsonl\"\n\
        [load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"1s\"\n";
    let file = ws.write("data.toml", scenario);
    let o = std::process::Command::new(common::bin()).arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let dataset = ws.path().join("chat.jsonl").display().to_string();
    assert!(stderr.contains(&format!("{dataset}:3:1: field `classes[0].prompts_file`: not JSON")), "{stderr}");
}

#[test]
fn a_dataset_is_sent_line_by_line_with_its_tokens_counted() {
    let ws = Workspace::new();
    // "hello world" is 2 tokens, "be brief" 2 and "hi" 1 in o200k_base (tiktoken's own counts in src tests).
    ws.write(
        "chat.jsonl",
        "{\"prompt\": \"hello world\"}\n{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hi\"}]}\n",
    );
    let scenario = "name = \"data\"\n[target]\n[[tiers]]\nname = \"t\"\nmock = \"llm\"\nmodel = \"m\"\n\
        [[classes]]\nname = \"c\"\nweight = 1\ntier = \"t\"\nprompts_file = \"chat.jsonl\"\norder = \"sequential\"\n\
        [load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"1s\"\n\
        [[mock.providers]]\nname = \"llm\"\ntokenizer = \"o200k_base\"\n";
    let r = ws.run(&ws.write("data.toml", scenario), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut rows = parquet_rows(&r.out.join("requests.parquet"));
    rows.sort_by_key(|row| number(row, "request").unwrap() as u64);
    let counts: Vec<(f64, f64)> =
        rows.iter().map(|row| (number(row, "input_tokens").unwrap(), number(row, "tokens_in").unwrap())).collect();
    let expected: Vec<(f64, f64)> = (0..rows.len()).map(|i| if i % 2 == 0 { (2.0, 2.0) } else { (3.0, 3.0) }).collect();
    assert_eq!(counts, expected, "line k for request k, counted alike by slacheck and by the mock");
}

#[test]
fn a_mooncake_trace_replays_its_times_and_lengths() {
    let ws = Workspace::new();
    let rows: Vec<(u64, u64, u64)> = vec![(0, 600, 3), (150, 1100, 9), (150, 40, 1), (420, 2000, 5), (800, 513, 2)];
    let trace: String = rows
        .iter()
        .enumerate()
        .map(|(i, (t, input, output))| {
            let ids: Vec<u64> = (0..input.div_ceil(512).min(2)).map(|b| b + i as u64 % 2).collect();
            format!("{{\"timestamp\": {t}, \"input_length\": {input}, \"output_length\": {output}, \"hash_ids\": {ids:?}}}\n")
        })
        .collect();
    ws.write("mooncake.jsonl", &trace);
    let scenario = "name = \"moon\"\n[target]\n[[tiers]]\nname = \"t\"\nmock = \"llm\"\nmodel = \"m\"\n\
        [[classes]]\nname = \"c\"\nweight = 1\ntier = \"t\"\n\
        [load]\nprofile = \"trace\"\ntrace = \"mooncake.jsonl\"\n\
        [[mock.providers]]\nname = \"llm\"\ntokenizer = \"o200k_base\"\n";
    let r = ws.run(&ws.write("moon.toml", scenario), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got = parquet_rows(&r.out.join("requests.parquet"));
    got.sort_by_key(|row| number(row, "request").unwrap() as u64);
    let seen: Vec<(f64, f64, f64)> = got
        .iter()
        .map(|row| {
            (
                number(row, "intended_ms").unwrap(),
                number(row, "input_tokens").unwrap(),
                number(row, "tokens_out").unwrap(),
            )
        })
        .collect();
    let expected: Vec<(f64, f64, f64)> = rows.iter().map(|(t, i, o)| (*t as f64, *i as f64, *o as f64)).collect();
    assert_eq!(seen, expected, "each request at its time, with its prompt and answer lengths");
    for row in &got {
        assert_eq!(row["tokens_in"], row["input_tokens"], "the mock counted what slacheck sent");
    }
}
