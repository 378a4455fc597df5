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
    assert_eq!(f(st, &["tokens"]), 1000.0);
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
    assert_eq!(f(st, &["tokens"]), 1000.0, "ten tokens per answer, from usage");
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
