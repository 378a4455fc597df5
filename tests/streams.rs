//! Streamed answers: time to first token, inter-token gaps, and broken streams counted as failures.

mod common;
use common::{assert_counts_add_up, f, Workspace};

fn stream_scenario(provider_extra: &str, sla: &str) -> String {
    format!(
        "name = \"streams\"\n[target]\ntimeout = \"5s\"\n[load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"2s\"\n\
         [[tiers]]\nname = \"llm\"\nmock = \"p\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"llm\"\nmax_tokens = 10\nstream = true\n{sla}\n\
         [[mock.providers]]\nname = \"p\"\n\
         stream = {{ ttft = {{ dist = \"fixed\", value = \"50ms\" }}, inter_token = {{ dist = \"fixed\", value = \"5ms\" }} }}\n{provider_extra}\n"
    )
}

#[test]
fn time_to_first_token_and_inter_token_gaps_are_measured() {
    let ws = Workspace::new();
    let r = ws.run(&ws.write("ok.toml", &stream_scenario("", "[sla]\nttft_p50 = \"500ms\"\n")), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_counts_add_up(&s);
    let st = &s["streaming"];
    assert_eq!(f(st, &["requests"]), 100.0);
    let ttft = f(st, &["ttft_ms", "p50"]);
    assert!((50.0..90.0).contains(&ttft), "ttft p50 {ttft} ms for a 50 ms first token");
    // Headers come at once; the first token 50 ms later.
    assert!(f(st, &["headers_ms", "p50"]) < ttft - 30.0, "{st}");
    let gap = f(st, &["inter_token_ms", "p50"]);
    // The mock keeps each chunk's absolute deadline: a gap after a chunk that woke late is a little shorter.
    assert!((4.0..9.0).contains(&gap), "inter-token p50 {gap} ms for 5 ms gaps");
    // Ten tokens each, from the stream's usage chunk; decoding at one token per 5+ ms.
    assert_eq!(f(st, &["tokens_received"]), 1000.0);
    // tokens/s is Σ tokens after the first ÷ Σ decode time; each answer's mean gap is its decode time ÷ the same
    // tokens, and all answers have nine: so the rate is 1,000 ÷ the mean gap in ms, to the histogram's 0.1%. An
    // answer's first chunk can wake late while its last one is on time, so its mean gap can be a little under
    // 5 ms: about 200, well under the 250 of 4 ms gaps.
    let rate = f(st, &["tokens_per_s"]);
    let from_gaps = 1000.0 / f(st, &["inter_token_ms", "mean"]);
    assert!((rate - from_gaps).abs() / from_gaps < 0.01 && rate < 250.0, "{rate} tokens/s, gaps say {from_gaps}");
    let tier_ttft = f(&s["tiers"][0], &["ttft_ms", "p50"]);
    assert_eq!(tier_ttft, ttft, "one tier served every stream");
    assert_eq!(s["verdict"]["targets"][0]["name"], "ttft_p50");
    assert_eq!(s["verdict"]["passed"], true);
}

#[test]
fn broken_streams_and_bodies_are_failures_told_apart() {
    let ws = Workspace::new();
    let truncated = stream_scenario("stream_faults = { rate = \"100%\", kind = \"truncate\" }", "");
    let s = ws.run(&ws.write("trunc.toml", &truncated), &[]).summary();
    assert_eq!(f(&s, &["counts", "ok"]), 0.0);
    assert_eq!(s["errors"]["stream truncated after first token"], 100, "{}", s["errors"]);
    assert_eq!(s["streaming"]["failures"]["stream truncated after first token"], 100);

    let malformed = stream_scenario("stream_faults = { rate = \"100%\", kind = \"malformed\" }", "");
    let s = ws.run(&ws.write("malformed.toml", &malformed), &[]).summary();
    assert_eq!(s["errors"]["stream malformed chunk after first token"], 100, "{}", s["errors"]);

    let error_event = stream_scenario("stream_faults = { rate = \"100%\", kind = \"error\" }", "");
    let s = ws.run(&ws.write("error.toml", &error_event), &[]).summary();
    assert_eq!(s["errors"]["stream error event after first token"], 100, "{}", s["errors"]);

    let body = "name = \"bad-json\"\n[target]\nmock = \"p\"\nbody = '{}'\n[load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"1s\"\n\
                [[mock.providers]]\nname = \"p\"\nmalformed_rate = \"100%\"\n";
    let s = ws.run(&ws.write("body.toml", body), &[]).summary();
    assert_eq!(s["errors"]["malformed body"], 50, "{}", s["errors"]);
    assert_counts_add_up(&s);
}

#[test]
fn a_first_chunk_of_several_tokens_does_not_inflate_the_decode_rate() {
    let ws = Workspace::new();
    // 10 tokens: 5 in the first chunk, then one every 5 ms. Counting all 10 over the 25 ms after the first
    // chunk would claim 400 tokens/s; the 5 that were decoded in that time make 200.
    let text = stream_scenario("", "").replace("inter_token = {", "first_chunk_tokens = 5, inter_token = {");
    let s = ws.run(&ws.write("multi.toml", &text), &[]).summary();
    let st = &s["streaming"];
    assert_eq!(f(st, &["tokens_received"]), 1000.0, "ten tokens per answer, from usage");
    // Five tokens after the first chunk in each answer, one per gap: 1,000 ÷ the mean gap, about 200. The mock
    // keeps each chunk's absolute deadline, so a gap after a chunk that woke late is a little shorter than 5 ms:
    // the rate can come out slightly above 200, and 300 is halfway to the inflated figure.
    let rate = f(st, &["tokens_per_s"]);
    let from_gaps = 1000.0 / f(st, &["inter_token_ms", "mean"]);
    assert!(
        (rate - from_gaps).abs() / from_gaps < 0.01 && rate < 300.0,
        "{rate} tokens/s; 400 would be the inflated figure"
    );
    let gap = f(st, &["inter_token_ms", "p50"]);
    assert!((4.0..9.0).contains(&gap), "inter-token p50 {gap} ms");
    let ttft = f(st, &["ttft_ms", "p50"]);
    assert!((50.0..90.0).contains(&ttft), "the first token arrives with the first chunk: {ttft}");
}

#[test]
fn a_ttft_target_without_streams_is_an_error_not_a_pass() {
    let ws = Workspace::new();
    let text = "name = \"plain\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"1s\"\n\
                [sla]\nttft_p99 = \"1s\"\n";
    let r = ws.run(&ws.write("plain.toml", text), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("sla.ttft_p99") && r.stderr.contains("streamed"), "{}", r.stderr);
}

#[test]
fn each_tier_has_its_own_token_timing() {
    // Two providers, one decoding at 5 ms a token and one at 20 ms; a class for each.
    let text = "name = \"two\"\n[target]\ntimeout = \"5s\"\n[load]\nprofile = \"constant\"\nrate = \"40/s\"\nduration = \"2s\"\n\
        [[tiers]]\nname = \"fast\"\nmock = \"f\"\nmodel = \"m\"\n\
        [[tiers]]\nname = \"slow\"\nmock = \"s\"\nmodel = \"m\"\n\
        [[classes]]\nname = \"a\"\nweight = 1\ntier = \"fast\"\nmax_tokens = 10\nstream = true\nfallbacks = []\n\
        [[classes]]\nname = \"b\"\nweight = 1\ntier = \"slow\"\nmax_tokens = 10\nstream = true\nfallbacks = []\n\
        [[mock.providers]]\nname = \"f\"\n\
        stream = { ttft = { dist = \"fixed\", value = \"20ms\" }, inter_token = { dist = \"fixed\", value = \"5ms\" } }\n\
        [[mock.providers]]\nname = \"s\"\n\
        stream = { ttft = { dist = \"fixed\", value = \"80ms\" }, inter_token = { dist = \"fixed\", value = \"20ms\" } }\n";
    let ws = Workspace::new();
    let r = ws.run(&ws.write("two.toml", text), &["--verbose"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    let tier = |i: usize, key: &[&str]| f(&s["tiers"][i], key);
    let (fast_gap, slow_gap) = (tier(0, &["inter_token_ms", "p50"]), tier(1, &["inter_token_ms", "p50"]));
    assert!((4.0..9.0).contains(&fast_gap), "fast tier: {fast_gap} ms between tokens");
    assert!((19.0..25.0).contains(&slow_gap), "slow tier: {slow_gap} ms between tokens");
    let (fast_rate, slow_rate) = (tier(0, &["tokens_per_s"]), tier(1, &["tokens_per_s"]));
    assert!(fast_rate > 2.5 * slow_rate, "{fast_rate} vs {slow_rate} tokens/s");
    assert!(tier(1, &["ttft_ms", "p50"]) - tier(0, &["ttft_ms", "p50"]) > 50.0);
    // The run-wide gap lies between the two.
    let all = f(&s["streaming"], &["inter_token_ms", "p50"]);
    assert!(all >= fast_gap && all <= slow_gap, "{all}");
    assert!(r.stdout.contains("slow      ttft p50/p99"), "{}", r.stdout);
}

/// 40-token answers streamed 5 ms apart after 20 ms, with 50-token prompts; one stream in five stalls for 300 ms
/// before its 21st chunk.
fn stalling(timeout: &str, sla: &str) -> String {
    format!(
        "name = \"stalls\"\n[target]\ntimeout = \"{timeout}\"\n[load]\nprofile = \"constant\"\nrate = \"50/s\"\nduration = \"2s\"\n\
         [[tiers]]\nname = \"llm\"\nmock = \"p\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"chat\"\nweight = 1\ntier = \"llm\"\nfallbacks = []\ninput_tokens = 50\noutput_tokens = 40\nstream = true\n{sla}\n\
         [[mock.providers]]\nname = \"p\"\ncompletion_tokens = 40\n\
         stream = {{ ttft = {{ dist = \"fixed\", value = \"20ms\" }}, inter_token = {{ dist = \"fixed\", value = \"5ms\" }}, usage = false }}\n\
         stream_faults = {{ rate = \"20%\", kind = \"stall\", stall = \"300ms\" }}\n"
    )
}

type Row = serde_json::Map<String, serde_json::Value>;

fn number(row: &Row, key: &str) -> Option<f64> {
    row.get(key).and_then(serde_json::Value::as_f64)
}

/// Σ of a column over the rows that pass `keep`.
fn sum(rows: &[Row], key: &str, keep: impl Fn(&Row) -> bool) -> f64 {
    rows.iter().filter(|row| keep(row)).filter_map(|row| number(row, key)).sum()
}

#[test]
fn tokens_of_streams_cut_short_are_counted_apart_and_agree_with_the_rows() {
    let ws = Workspace::new();
    // A stalled stream sends chunks 0..19 (due by 115 ms), then waits until 420 ms: the 400 ms timeout cuts it
    // with exactly 20 tokens received (no usage chunk: the tokens are the chunks counted). The others end at
    // 220 ms with their 40.
    let r = ws.run(&ws.write("cut.toml", &stalling("400ms", "")), &["--set", "failover.enabled=false"]);
    let s = r.summary();
    let rows = common::parquet_rows(&r.out.join("requests.parquet"));
    let ok = |row: &Row| row["outcome"] == "ok";
    let timed_out: Vec<&Row> = rows.iter().filter(|row| row["outcome"] == "timeout").collect();
    assert!(!timed_out.is_empty() && timed_out.len() < rows.len(), "{} of {} timed out", timed_out.len(), rows.len());
    assert!(timed_out.iter().all(|row| number(row, "tokens_out") == Some(20.0)), "{timed_out:?}");
    assert!(rows.iter().filter(|row| ok(row)).all(|row| number(row, "tokens_out") == Some(40.0)));
    // summary.json and the rows agree, and name the difference: answered, unanswered, and every token received.
    let tokens = &s["tokens"];
    let n_ok = rows.iter().filter(|row| ok(row)).count() as f64;
    assert_eq!(f(tokens, &["output"]), 40.0 * n_ok);
    assert_eq!(f(tokens, &["output_unanswered"]), 20.0 * timed_out.len() as f64);
    assert_eq!(f(tokens, &["output"]), sum(&rows, "tokens_out", ok));
    assert_eq!(f(tokens, &["output_unanswered"]), sum(&rows, "tokens_out", |row| !ok(row)));
    assert_eq!(f(&s["streaming"], &["tokens_received"]), sum(&rows, "tokens_out", |row| row["ttft_ms"].is_number()));
    // Input: the prompts slacheck made, 50 tokens each, answered or not.
    assert_eq!(f(tokens, &["input"]), 50.0 * n_ok);
    assert_eq!(f(tokens, &["input_unanswered"]), 50.0 * timed_out.len() as f64);
    assert_eq!(
        f(tokens, &["input_unanswered"]),
        sum(&rows, "input_tokens", |row| !ok(row) && row["sent_ms"].is_number())
    );
}

#[test]
fn each_request_s_inter_token_gaps_are_on_its_row_and_goodput_can_be_counted_from_them() {
    let ws = Workspace::new();
    // With a 2 s timeout every stream ends. A stalled one: first token at 20 ms, its last at 20 + 19 × 5 + 300 +
    // 20 × 5 = 515 ms, so 495 ms over 39 tokens, a 12.7 ms mean gap, and one gap of about 305 ms; the others
    // have 5 ms gaps (on a quiet machine). `inter_token = "10ms"` tells them apart.
    let sla = "[sla]\ngoodput = { inter_token = \"10ms\" }\ngoodput_min = \"10%\"\n";
    let r = ws.run(&ws.write("gaps.toml", &stalling("2s", sla)), &["--set", "failover.enabled=false"]);
    let s = r.summary();
    let rows = common::parquet_rows(&r.out.join("requests.parquet"));
    assert!(rows.iter().all(|row| row["outcome"] == "ok"), "every stream ended");
    let stalled = rows.iter().filter(|row| number(row, "inter_token_max_ms").unwrap() >= 250.0).count();
    assert!(stalled > 0 && stalled < rows.len(), "{stalled} of {} stalled", rows.len());
    for row in &rows {
        // The mean is the decode time (the sum of the chunks' gaps) over the 39 tokens after the first: at least
        // the largest gap's share, and at most the largest gap.
        let (mean, max) = (number(row, "inter_token_ms").unwrap(), number(row, "inter_token_max_ms").unwrap());
        assert!(max >= mean && mean * 39.0 >= max - 0.01, "{row:?}");
    }
    // Goodput's objective, checked from the rows: a good request succeeded with a mean gap of at most 10 ms.
    let good =
        rows.iter().filter(|row| row["outcome"] == "ok" && number(row, "inter_token_ms").unwrap() <= 10.0).count();
    assert_eq!(f(&s, &["goodput", "good"]), good as f64);
    // The run's inter-token histogram holds the same per-request means.
    let mean_of_rows = sum(&rows, "inter_token_ms", |_| true) / rows.len() as f64;
    let summary_mean = f(&s["streaming"], &["inter_token_ms", "mean"]);
    assert!((summary_mean - mean_of_rows).abs() / mean_of_rows < 0.002, "{summary_mean} vs {mean_of_rows}");
}
