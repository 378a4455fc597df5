//! The served model's own tokenizer (`tokenizer = { file = "tokenizer.json" }`), end to end with the real binary
//! and the real mock: a hand-made word-level tokenizer (tests/fixtures/tokenizer-wordlevel.json) counts a
//! dataset's prompts as this test counts them by splitting the text itself, slacheck and the mock agree, and
//! prompts written to a drawn length have that length by the file's tokenizer.

mod common;
use common::{f, parquet_rows, Workspace};
use serde_json::Value;

/// The fixture's count, by hand: its `Whitespace` pre-tokenizer's pieces (runs of word characters, runs of other
/// characters that are not spaces), each one token (a known word, punctuation or `[UNK]`).
fn pieces(text: &str) -> u64 {
    let kind = |c: char| {
        if c.is_whitespace() {
            0
        } else if c.is_alphanumeric() || c == '_' {
            1
        } else {
            2
        }
    };
    let mut last = 0;
    text.chars().filter(|c| std::mem::replace(&mut last, kind(*c)) != kind(*c) && kind(*c) != 0).count() as u64
}

/// Prompts whose counts differ from o200k's: long words the vocabulary lacks are one `[UNK]` each, runs of
/// punctuation one token.
const LINES: [&str; 5] = [
    "the river and the ocean.",
    "internationalization, electroencephalography!!! and the model",
    "winter summer autumn",
    "a b c d e f g h i j k l m n o p",
    "Qwen counts differently from o200k_base... doesn't it?",
];

/// A dataset class and a class of made prompts of 23 tokens, both counted by the file's tokenizer; the mock counts
/// with the same file. The scenario sits in a folder of its own, with the tokenizer beside it.
const SCENARIO: &str = "name = \"own-tokenizer\"\n[target]\n\
    [[tiers]]\nname = \"t\"\nmock = \"llm\"\nmodel = \"m\"\n\
    [[classes]]\nname = \"data\"\nweight = 1\ntier = \"t\"\nprompts_file = \"prompts.jsonl\"\norder = \"sequential\"\n\
    tokenizer = { file = \"tokenizer.json\" }\nmax_tokens = 4\n\
    [[classes]]\nname = \"made\"\nweight = 1\ntier = \"t\"\ninput_tokens = 23\nmax_tokens = 4\n\
    tokenizer = { file = \"tokenizer.json\" }\n\
    [load]\nprofile = \"constant\"\nrate = \"40/s\"\nduration = \"1s\"\n\
    [[mock.providers]]\nname = \"llm\"\ntokenizer = { file = \"tokenizer.json\" }\n";

#[test]
fn a_hand_made_tokenizer_file_counts_as_the_test_computes_in_slacheck_and_in_the_mock() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.path().join("sub")).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer-wordlevel.json");
    std::fs::copy(fixture, ws.path().join("sub/tokenizer.json")).unwrap();
    let lines: Vec<String> = LINES.iter().map(|l| serde_json::json!({ "prompt": l }).to_string() + "\n").collect();
    ws.write("sub/prompts.jsonl", &lines.concat());
    // Run from the workspace's root: the files are found beside the scenario, not in the working folder.
    let r = ws.run(&ws.write("sub/tokens.toml", SCENARIO), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = parquet_rows(&r.out.join("requests.parquet"));
    assert_eq!(rows.len(), 40);
    let n = |row: &serde_json::Map<String, Value>, key: &str| row[key].as_u64();
    let (mut data, mut made, mut input) = (0, 0, 0);
    for row in &rows {
        assert_eq!(row["outcome"], "ok", "{row:?}");
        let expected = match row["class"].as_str() {
            Some("data") => {
                data += 1;
                pieces(LINES[(n(row, "request").unwrap() % LINES.len() as u64) as usize])
            }
            _ => {
                made += 1;
                23
            }
        };
        // slacheck's count of what it sent, and the mock's usage.prompt_tokens, both the hand count.
        assert_eq!((n(row, "input_tokens"), n(row, "tokens_in")), (Some(expected), Some(expected)), "{row:?}");
        input += expected;
    }
    assert!(data > 5 && made > 5, "{data} dataset and {made} made prompts");
    assert_eq!(f(&r.summary(), &["tokens", "input"]), input as f64);
    // The hand counts are not o200k's: 7 pieces for the second line, where o200k splits its long words.
    let o200k = tiktoken_rs::o200k_base_singleton().encode_ordinary(LINES[1]).len() as u64;
    assert!(pieces(LINES[1]) == 7 && o200k > 7, "{o200k}");
}
