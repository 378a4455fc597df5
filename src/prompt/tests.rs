//! Prompts made from the seed: lengths by the real tokenizer, reproducibility, shared bytes, bodies.

use super::*;
use crate::scenario::prompts::NormalLength;
use serde_json::Value;
use slacheck_common::tokenizer_file::TokenizerChoice;
use slacheck_common::tokens::TokenizerName;

pub(super) fn spec() -> PromptSpec {
    PromptSpec {
        prompts: vec!["ping".into()],
        input_tokens: None,
        output_tokens: TokenLength::Fixed(16.0),
        prefix_tokens: None,
        prefixes: 1,
        prompts_file: None,
        order: PromptOrder::Random,
        tokenizer: TokenizerChoice::Named(TokenizerName::O200kBase),
        stream: false,
        conversation: None,
        api: crate::scenario::Api::Chat,
    }
}

fn body_of(prompts: &Prompts, index: u64, shape: Option<&RequestShape>, tier: usize) -> Value {
    serde_json::from_slice(&prompts.body(&prompts.prepare(index, shape), tier).to_bytes()).unwrap()
}

/// Tokens of every message's content, by tiktoken itself.
fn content_tokens(body: &Value) -> usize {
    let bpe = tiktoken_rs::o200k_base_singleton();
    body["messages"].as_array().unwrap().iter().map(|m| bpe.encode_ordinary(m["content"].as_str().unwrap()).len()).sum()
}

fn mean_and_stddev(xs: &[f64]) -> (f64, f64) {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
    (mean, var.sqrt())
}

#[test]
fn input_and_output_lengths_follow_their_distributions_by_the_real_tokenizer() {
    let mut s = spec();
    s.input_tokens = Some(TokenLength::Normal(NormalLength { mean: 200.0, stddev: 50.0, min: Some(16.0), max: None }));
    s.output_tokens = TokenLength::Normal(NormalLength { mean: 100.0, stddev: 20.0, min: Some(1.0), max: None });
    let prompts = Prompts::new(&s, &["m"], 7, 0, None, false);
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    for index in 0..3000 {
        let prepared = prompts.prepare(index, None);
        let body: Value = serde_json::from_slice(&prompts.body(&prepared, 0).to_bytes()).unwrap();
        let counted = content_tokens(&body);
        assert_eq!(prepared.input_tokens(), Some(counted as u32), "request {index}: recorded = tokenizer's count");
        inputs.push(counted as f64);
        outputs.push(body["max_tokens"].as_f64().unwrap());
    }
    // The standard error of a mean of 3,000 draws is σ/√3000 ≈ 0.9 tokens for the input; ±3% is over six of them.
    let (mean, sd) = mean_and_stddev(&inputs);
    assert!((mean - 200.0).abs() < 6.0 && (sd - 50.0).abs() < 3.0, "input mean {mean}, stddev {sd}");
    let (mean, sd) = mean_and_stddev(&outputs);
    assert!((mean - 100.0).abs() < 3.0 && (sd - 20.0).abs() < 1.5, "output mean {mean}, stddev {sd}");
    assert!(inputs.iter().all(|n| *n >= 16.0), "min holds");
}

#[test]
fn the_same_seed_and_number_give_the_same_bytes_and_another_seed_others() {
    let mut s = spec();
    s.input_tokens = Some(TokenLength::Fixed(64.0));
    let a = Prompts::new(&s, &["m"], 7, 0, None, false);
    let again = Prompts::new(&s, &["m"], 7, 0, None, false);
    let other_seed = Prompts::new(&s, &["m"], 8, 0, None, false);
    let other_class = Prompts::new(&s, &["m"], 7, 1, None, false);
    let body = |p: &Prompts, i| p.body(&p.prepare(i, None), 0);
    assert_eq!(body(&a, 5), body(&again, 5));
    assert_ne!(body(&a, 5), body(&a, 6), "never the same text for every request");
    assert_ne!(body(&a, 5), body(&other_seed, 5));
    assert_ne!(body(&a, 5), body(&other_class, 5));
}

#[test]
fn shared_prefixes_are_byte_identical_within_a_group_and_distinct_across_groups() {
    let mut s = spec();
    s.input_tokens = Some(TokenLength::Fixed(30.0));
    s.prefix_tokens = Some(100);
    s.prefixes = 3;
    let prompts = Prompts::new(&s, &["m"], 1, 0, None, false);
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for index in 0..60 {
        let body = body_of(&prompts, index, None, 0);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(content_tokens(&body), 130, "prefix 100 + own 30");
        groups.entry(messages[0]["content"].as_str().unwrap().to_string()).or_default().push(messages[1].to_string());
    }
    assert_eq!(groups.len(), 3, "three distinct prefixes");
    let bpe = tiktoken_rs::o200k_base_singleton();
    for (prefix, own) in &groups {
        assert_eq!(bpe.encode_ordinary(prefix).len(), 100);
        assert!(own.len() >= 5, "each group is used: {}", own.len());
        let distinct: std::collections::BTreeSet<_> = own.iter().collect();
        assert_eq!(distinct.len(), own.len(), "each request's own text differs");
    }
}

#[test]
fn traced_requests_share_their_hash_blocks_and_have_their_lengths() {
    let prompts = Prompts::new(&spec(), &["m"], 1, 0, None, true);
    let shape = |input, ids: &[u64]| RequestShape { input_tokens: input, output_tokens: 40, hash_ids: ids.to_vec() };
    let (a, b, c) = (shape(1100, &[1, 2, 3]), shape(1030, &[1, 2, 9]), shape(300, &[]));
    let content =
        |s: &RequestShape, i| body_of(&prompts, i, Some(s), 0)["messages"][0]["content"].as_str().unwrap().to_string();
    let (text_a, text_b, text_c) = (content(&a, 0), content(&b, 1), content(&c, 2));
    let bpe = tiktoken_rs::o200k_base_singleton();
    assert_eq!(bpe.encode_ordinary(&text_a).len(), 1100);
    assert_eq!(bpe.encode_ordinary(&text_b).len(), 1030);
    assert_eq!(bpe.encode_ordinary(&text_c).len(), 300);
    // Blocks 1 and 2 (1,024 tokens) are the same bytes; blocks 3 and 9 differ (a shared word or two at most).
    let (tokens_a, tokens_b) = (bpe.encode_ordinary(&text_a), bpe.encode_ordinary(&text_b));
    let shared = tokens_a.iter().zip(&tokens_b).take_while(|(x, y)| x == y).count();
    assert!((1024..1030).contains(&shared), "{shared} tokens shared");
    let bytes = String::from_utf8(bpe.decode_bytes(&tokens_a[..1024]).unwrap()).unwrap();
    assert!(text_b.starts_with(&bytes), "the shared blocks are the same bytes");
    assert!(!text_c.starts_with(&bytes[..50]), "no blocks, no shared opening");
    assert_eq!(body_of(&prompts, 0, Some(&a), 0)["max_tokens"], 40);
}

#[test]
fn a_dataset_is_sent_in_order_or_drawn_and_counted() {
    let d = Dataset {
        prompts: vec![
            (r#"[{"content":"one","role":"user"}]"#.into(), 1),
            (r#"[{"content":"two two","role":"user"}]"#.into(), 2),
        ],
        ..Dataset::default()
    };
    let d = Arc::new(d);
    let mut s = spec();
    s.order = PromptOrder::Sequential;
    s.prefix_tokens = Some(10);
    let prompts = Prompts::new(&s, &["m"], 1, 0, Some(d.clone()), false);
    let contents: Vec<String> =
        (0..4).map(|i| body_of(&prompts, i, None, 0)["messages"][1]["content"].as_str().unwrap().to_string()).collect();
    assert_eq!(contents, ["one", "two two", "one", "two two"]);
    assert_eq!(prompts.prepare(1, None).input_tokens(), Some(12), "prefix 10 + line 2");
    s.order = PromptOrder::Random;
    let drawn = Prompts::new(&s, &["m"], 1, 0, Some(d), false);
    let picked: std::collections::BTreeSet<String> =
        (0..40).map(|i| body_of(&drawn, i, None, 0)["messages"][1]["content"].to_string()).collect();
    assert_eq!(picked.len(), 2, "both lines drawn");
}

#[test]
fn bodies_name_each_tiers_model_and_ask_for_a_stream_with_usage() {
    let mut s = spec();
    s.input_tokens = Some(TokenLength::Fixed(5.0));
    s.stream = true;
    let prompts = Prompts::new(&s, &["small", "big \"quoted\""], 1, 0, None, false);
    let prepared = prompts.prepare(3, None);
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&prompts.body(&prepared, 0).to_bytes()).unwrap(),
        serde_json::from_slice(&prompts.body(&prepared, 1).to_bytes()).unwrap(),
    );
    assert_eq!((a["model"].as_str(), b["model"].as_str()), (Some("small"), Some("big \"quoted\"")));
    assert_eq!(a["messages"], b["messages"], "the same content on every tier");
    assert_eq!((a["stream"].as_bool(), a["stream_options"]["include_usage"].as_bool()), (Some(true), Some(true)));
    assert_eq!(a["max_tokens"], 16);
    // Fixed prompts keep their bodies built once, taken in turn by request number.
    let fixed = Prompts::new(&spec(), &["m"], 1, 0, None, false);
    let body = body_of(&fixed, 0, None, 0);
    assert_eq!((body["messages"][0]["content"].as_str(), body["max_tokens"].as_u64()), (Some("ping"), Some(16)));
    assert_eq!(fixed.prepare(0, None).input_tokens(), None);
}

#[test]
fn fixed_prompts_keep_their_text_when_only_the_answer_length_is_drawn() {
    let mut s = spec();
    s.prompts = vec!["hello world".into(), "be brief".into()];
    s.output_tokens = TokenLength::Normal(NormalLength { mean: 50.0, stddev: 10.0, min: None, max: None });
    let prompts = Prompts::new(&s, &["m"], 1, 0, None, false);
    let fixed =
        Prompts::new(&PromptSpec { output_tokens: TokenLength::Fixed(50.0), ..s.clone() }, &["m"], 1, 0, None, false);
    for index in 0..20 {
        let (drawn, kept) = (body_of(&prompts, index, None, 0), body_of(&fixed, index, None, 0));
        assert_eq!(drawn["messages"], kept["messages"], "the same prompt in turn, request {index}");
        // "hello world" and "be brief" are two tokens each in o200k_base.
        assert_eq!(prompts.prepare(index, None).input_tokens(), Some(2));
    }
    let lengths: std::collections::BTreeSet<u64> =
        (0..50).map(|i| body_of(&prompts, i, None, 0)["max_tokens"].as_u64().unwrap()).collect();
    assert!(lengths.len() > 5, "answer lengths are drawn: {lengths:?}");
}

#[test]
fn a_hash_block_is_the_same_bytes_in_every_class() {
    let prompts = |salt| Prompts::new(&spec(), &["m"], 1, salt, None, true);
    let shape = RequestShape { input_tokens: 600, output_tokens: 1, hash_ids: vec![77] };
    let content = |p: &Prompts| body_of(p, 3, Some(&shape), 0)["messages"][0]["content"].as_str().unwrap().to_string();
    let (a, b) = (content(&prompts(0)), content(&prompts(5)));
    let block = |t: &str| t.split(' ').take(400).collect::<Vec<_>>().join(" ");
    assert_eq!(block(&a), block(&b), "block 77 opens both");
    assert_ne!(a, b, "each class's own text after the block differs");
}

#[test]
fn each_api_carries_the_same_drawn_prompt_in_its_own_envelope() {
    let tokenized = PromptSpec { input_tokens: Some(TokenLength::Fixed(30.0)), prefix_tokens: Some(8), ..spec() };
    let of = |api: crate::scenario::Api, stream: bool| {
        let p = Prompts::new(&PromptSpec { api, stream, ..tokenized.clone() }, &["m"], 3, 0, None, false);
        body_of(&p, 5, None, 0)
    };
    let chat = of(crate::scenario::Api::Chat, true);
    let messages = chat["messages"].as_array().unwrap();
    let (system, user) = (messages[0]["content"].as_str().unwrap(), messages[1]["content"].as_str().unwrap());
    // Responses: the same items as `input`, its own length key, no stream_options.
    let responses = of(crate::scenario::Api::Responses, true);
    assert_eq!(responses["input"], chat["messages"]);
    assert_eq!(responses["max_output_tokens"], chat["max_tokens"]);
    assert_eq!((responses["stream"].as_bool(), responses.get("stream_options")), (Some(true), None));
    // Completions: the contents joined by a blank line as `prompt`.
    let completions = of(crate::scenario::Api::Completions, true);
    assert_eq!(completions["prompt"].as_str().unwrap(), format!("{system}\n\n{user}"));
    assert_eq!(completions["stream_options"]["include_usage"], true);
    // Embeddings: the same text as `input`, and nothing about an answer.
    let embeddings = of(crate::scenario::Api::Embeddings, false);
    assert_eq!(embeddings, serde_json::json!({ "model": "m", "input": format!("{system}\n\n{user}") }));
}
