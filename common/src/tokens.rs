//! Tokens as a model counts them, offline: tiktoken's `o200k_base` and `cl100k_base`, embedded by `tiktoken-rs`,
//! or a served model's own Hugging Face `tokenizer.json` (read by [`crate::tokenizer_file`]); and synthetic text of
//! an exact token count, drawn from a random source.
//!
//! Synthetic text is lowercase words, each a single token with its leading space (` model`, ` water`), with a
//! full stop (one token) every 8 to 15 words. The tokenizers split text into words before merging, so such text
//! has exactly one token per word and per stop: a prompt of N tokens costs N table lookups, not a tokenizer pass.
//! A tokenizer file makes no such promise (its pre-tokenizer may keep a stop with its word, or split nothing), so
//! with one the text written is counted, and words are added or dropped until the count is exactly N: one
//! tokenizer pass per text when the file splits words as the tiktoken encodings do (byte-level BPE as Llama 3's
//! and Qwen's, word-level), a few more otherwise (at most [`MAX_PASSES`]).

use rand::Rng;
use std::collections::HashSet;
use std::sync::OnceLock;
use tiktoken_rs::CoreBPE;

/// Which tokenizer counts tokens.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerName {
    /// GPT-4o, GPT-4.1, o-series and most recent OpenAI models.
    #[default]
    O200kBase,
    /// GPT-4, GPT-3.5 and OpenAI's embeddings.
    Cl100kBase,
}

/// A tokenizer and the one-token words synthetic text is made of.
pub struct Tokenizer {
    backend: Backend,
    /// Words that are one token with a leading space (` water`).
    spaced: Vec<String>,
    /// Of those, the ones that are also one token without it, to open a text.
    bare: Vec<String>,
}

/// Who counts: an embedded encoding, or a tokenizer file's model.
enum Backend {
    Tiktoken(&'static CoreBPE),
    File(Box<tokenizers::Tokenizer>),
}

impl Backend {
    /// The tokens of `text` as plain text: no special tokens (a file's BOS), no chat template. A file's tokenizer
    /// that fails on a text (it cannot, once truncation and padding are off) counts it as 0.
    fn count(&self, text: &str) -> usize {
        match self {
            Backend::Tiktoken(bpe) => bpe.encode_ordinary(text).len(),
            Backend::File(t) => t.encode_fast(text, false).map_or(0, |e| e.len()),
        }
    }
}

/// The most words kept: enough for varied text, few enough to build in milliseconds.
const MAX_WORDS: usize = 4096;

/// The most counting passes that correct a text written for a tokenizer file (see the module's doc).
pub const MAX_PASSES: usize = 8;

impl Tokenizer {
    /// The tokenizer `name`, built once per process (parsing the embedded vocabulary takes a fraction of a second).
    pub fn get(name: TokenizerName) -> &'static Tokenizer {
        static O200K: OnceLock<Tokenizer> = OnceLock::new();
        static CL100K: OnceLock<Tokenizer> = OnceLock::new();
        match name {
            TokenizerName::O200kBase => O200K.get_or_init(|| Tokenizer::new(tiktoken_rs::o200k_base_singleton())),
            TokenizerName::Cl100kBase => CL100K.get_or_init(|| Tokenizer::new(tiktoken_rs::cl100k_base_singleton())),
        }
    }

    fn new(bpe: &'static CoreBPE) -> Self {
        // Low ranks are the most frequent merges: real, common words first.
        let candidates = (0..200_000u32).filter_map(|rank| {
            let bytes = bpe.decode_bytes(&[rank]).ok()?;
            Some(String::from_utf8_lossy(bytes.strip_prefix(b" ")?).into_owned())
        });
        Self::with_words(Backend::Tiktoken(bpe), candidates)
    }

    /// The tokenizer of a parsed `tokenizer.json`, with its words: the vocabulary's entries (in id order, most
    /// frequent first in a BPE) that decode to a word of 3 to 10 lowercase letters that is one token.
    pub(crate) fn from_file_tokenizer(mut parsed: tokenizers::Tokenizer) -> Result<Self, String> {
        parsed.with_truncation(None).map_err(|e| e.to_string())?;
        parsed.with_padding(None);
        let mut vocab: Vec<u32> = parsed.get_vocab(false).into_values().collect();
        vocab.sort_unstable();
        let candidates: Vec<String> =
            vocab.into_iter().filter_map(|id| parsed.decode(&[id], true).ok().map(|w| w.trim().to_string())).collect();
        let tokenizer = Self::with_words(Backend::File(Box::new(parsed)), candidates.into_iter());
        if tokenizer.spaced.is_empty() {
            return Err("no word of 3 to 10 lowercase letters is one token in this tokenizer; slacheck writes its \
                        prompts from such words"
                .into());
        }
        Ok(tokenizer)
    }

    /// Keeps the `candidates` that are words of 3 to 10 lowercase letters and one token with a leading space (at
    /// most [`MAX_WORDS`]); of those, the ones also one token without it open a text (all of them when none is).
    fn with_words(backend: Backend, candidates: impl Iterator<Item = String>) -> Self {
        let mut seen = HashSet::new();
        let mut spaced = Vec::new();
        for word in candidates {
            let is_word = (3..=10).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_lowercase());
            if is_word && !seen.contains(&word) && backend.count(&format!(" {word}")) == 1 {
                seen.insert(word.clone());
                spaced.push(word);
                if spaced.len() == MAX_WORDS {
                    break;
                }
            }
        }
        let mut bare: Vec<String> = spaced.iter().filter(|w| backend.count(w) == 1).cloned().collect();
        if bare.is_empty() {
            bare = spaced.clone();
        }
        Tokenizer { backend, spaced, bare }
    }

    /// The number of tokens of `text`, as the model's tokenizer counts plain text (no chat template). Text is
    /// counted in segments of at most [`SEGMENT`] bytes (see [`segments`]), so memory stays bounded whatever one
    /// "word" of it is.
    pub fn count(&self, text: &str) -> usize {
        segments(text, SEGMENT).map(|s| self.backend.count(s)).sum()
    }

    /// The mean bytes of a token of synthetic text: a word and its space, or a full stop (one token in 12.5: a
    /// sentence is 8 to 15 words). What a prompt of N drawn tokens weighs, for the memory a scenario asks for.
    pub fn synthetic_bytes_per_token(&self) -> f64 {
        let words = self.spaced.iter().map(|w| w.len() as f64 + 1.0).sum::<f64>() / self.spaced.len().max(1) as f64;
        let stop = 1.0 / 12.5;
        (1.0 - stop) * words + stop
    }

    /// The tokens of one chat message's `content`, as slacheck and the mock both count them: a string, or the
    /// text parts of an array of content parts (no chat template).
    pub fn count_content(&self, content: &serde_json::Value) -> u32 {
        let tokens = match content {
            serde_json::Value::String(s) => self.count(s),
            serde_json::Value::Array(parts) => {
                parts.iter().filter_map(|p| p["text"].as_str()).map(|t| self.count(t)).sum()
            }
            _ => 0,
        };
        u32::try_from(tokens).unwrap_or(u32::MAX)
    }

    /// Appends text of exactly `tokens` tokens to `out`. It opens without a space when `out` is empty, and with one
    /// after other text; words and sentence lengths come from `rng`.
    pub fn synthesize(&self, tokens: usize, rng: &mut impl Rng, out: &mut String) {
        let opening = out.is_empty();
        self.append(tokens, rng, out, opening);
    }

    /// As [`Tokenizer::synthesize`], but the text opens without a space whatever `out` already holds (text
    /// that opens a JSON string, say).
    pub fn synthesize_opening(&self, tokens: usize, rng: &mut impl Rng, out: &mut String) {
        self.append(tokens, rng, out, true);
    }

    fn append(&self, tokens: usize, rng: &mut impl Rng, out: &mut String, opening: bool) {
        let start = out.len();
        self.write(tokens, rng, out, opening);
        if let Backend::File(_) = self.backend {
            self.correct(tokens, rng, out, start, opening);
        }
    }

    /// Makes the text written from `start` count exactly `tokens` by the tokenizer file: drops its last words
    /// while it counts more, adds words while it counts fewer, for at most [`MAX_PASSES`] counts.
    fn correct(&self, tokens: usize, rng: &mut impl Rng, out: &mut String, start: usize, opening: bool) {
        for _ in 0..MAX_PASSES {
            let counted = self.count(&out[start..]);
            if counted > tokens {
                for _ in tokens..counted {
                    let cut = out[start..].rfind(' ').unwrap_or(0);
                    out.truncate(start + cut);
                }
            } else if counted < tokens {
                self.write(tokens - counted, rng, out, opening && out.len() == start);
            } else {
                return;
            }
        }
    }

    fn write(&self, tokens: usize, rng: &mut impl Rng, out: &mut String, mut opening: bool) {
        out.reserve(tokens * 8);
        let mut words_in_sentence = 0;
        let mut sentence = rng.random_range(8..16);
        for i in 0..tokens {
            if words_in_sentence == sentence && i + 1 < tokens {
                out.push('.');
                words_in_sentence = 0;
                sentence = rng.random_range(8..16);
                continue;
            }
            if opening {
                out.push_str(&self.bare[rng.random_range(0..self.bare.len())]);
                opening = false;
            } else {
                out.push(' ');
                out.push_str(&self.spaced[rng.random_range(0..self.spaced.len())]);
            }
            words_in_sentence += 1;
        }
    }
}

/// The longest text handed to the tokenizer at once. Byte-pair merging of one piece (a run the tokenizer's
/// pattern does not split: letters, spaces or punctuation) takes about 55 bytes of memory per byte of it: a
/// 30 MB letters-only line took 1.6 GB and 21 s; 64 KiB takes about 3.5 MB.
pub const SEGMENT: usize = 64 << 10;

/// `text` cut into segments of at most `max` bytes. A cut goes before a single space between two characters
/// that are not spaces, where the tokenizers' pattern splits too (a piece starts with at most one space, and
/// none ends with one), so counting the segments apart gives exactly the whole text's count. A longer run
/// without such a space (one "word" of more than `max` bytes) is cut at a character boundary: no token spans
/// the cut, so such a run counts about one token more per cut than the tokenizer would.
pub fn segments(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = if rest.len() <= max { rest.len() } else { cut_point(rest, max.max(4)) };
        let (segment, tail) = rest.split_at(cut);
        rest = tail;
        Some(segment)
    })
}

/// Where to cut `text`, longer than `max` bytes: before the last space within its first `max` bytes that has
/// a non-space on each side, else at the last character boundary at or before `max`.
fn cut_point(text: &str, max: usize) -> usize {
    let bytes = text.as_bytes();
    let space = |b: u8| b.is_ascii_whitespace();
    let at_space = (1..max).rev().find(|&i| bytes[i] == b' ' && !space(bytes[i - 1]) && !space(bytes[i + 1]));
    at_space.unwrap_or_else(|| (1..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn synthetic_text_has_exactly_the_tokens_asked_for_by_the_real_tokenizer() {
        for name in [TokenizerName::O200kBase, TokenizerName::Cl100kBase] {
            let tokenizer = Tokenizer::get(name);
            assert!(tokenizer.spaced.len() > 1000 && tokenizer.bare.len() > 100, "{name:?}");
            let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
            for tokens in [0, 1, 2, 3, 15, 16, 17, 100, 511, 512, 4096] {
                let mut text = String::new();
                tokenizer.synthesize(tokens, &mut rng, &mut text);
                // Counted by tiktoken itself, not by the synthesizer's own arithmetic.
                let counted = tiktoken_rs::o200k_base_singleton();
                let counted = match name {
                    TokenizerName::O200kBase => counted.encode_ordinary(&text).len(),
                    TokenizerName::Cl100kBase => tiktoken_rs::cl100k_base_singleton().encode_ordinary(&text).len(),
                };
                assert_eq!(counted, tokens, "{name:?}: {text:?}");
            }
        }
    }

    #[test]
    fn a_cut_at_a_space_between_words_changes_no_count() {
        // Words, numbers, punctuation, line breaks, runs of spaces, contractions and non-Latin text, cut into
        // segments of at most 40 bytes: at every cut before a space between two non-spaces, the two sides'
        // counts add up to tiktoken's count of the two together; the other cuts (inside a run longer than a
        // segment, rare at any real segment's length) are the approximation.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let pieces = [
            "hello", "world", "it's", "1234567", "  ", "\n", "—", "naïve", "東京", "!!", "x", "\t", "(a/b)", "ok.",
            "   ", "don't", "9", "\r\n", "émigré", "🙂",
        ];
        let mut text = String::new();
        for _ in 0..3000 {
            text.push_str(pieces[rng.random_range(0..pieces.len())]);
            if rng.random_bool(0.7) {
                text.push(' ');
            }
        }
        for bpe in [tiktoken_rs::o200k_base_singleton(), tiktoken_rs::cl100k_base_singleton()] {
            let parts: Vec<&str> = segments(&text, 40).collect();
            assert!(parts.iter().all(|p| p.len() <= 40) && parts.concat() == text);
            let count = |t: &str| bpe.encode_ordinary(t).len();
            let mut at_spaces = 0;
            for pair in parts.windows(2) {
                let (left, right) = (pair[0], pair[1]);
                let at_space = right.starts_with(' ')
                    && !left.ends_with(char::is_whitespace)
                    && !right[1..].starts_with(char::is_whitespace);
                if at_space {
                    at_spaces += 1;
                    assert_eq!(count(left) + count(right), count(&format!("{left}{right}")), "{left:?} | {right:?}");
                }
            }
            assert!(at_spaces * 10 > parts.len() * 9, "{at_spaces} of {} cuts at a space", parts.len() - 1);
        }
    }

    #[test]
    fn a_word_longer_than_a_segment_is_cut_and_counted_within_a_token_a_cut() {
        let tokenizer = Tokenizer::get(TokenizerName::O200kBase);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        // 300 KB of letters without a space: one piece for the tokenizer, five segments here.
        let word: String = (0..300_000).map(|_| rng.random_range(b'a'..=b'z') as char).collect();
        let whole = tiktoken_rs::o200k_base_singleton().encode_ordinary(&word).len();
        let cuts = word.len().div_ceil(SEGMENT) - 1;
        let counted = tokenizer.count(&word);
        assert!(counted >= whole && counted <= whole + cuts, "{counted} vs {whole}, {cuts} cuts");
        // A multi-byte character is never split.
        let wide = "é".repeat(50);
        assert!(segments(&wide, 7).all(|s| s.len() <= 7 && s.chars().all(|c| c == 'é')));
    }

    #[test]
    fn appended_text_adds_exactly_its_tokens() {
        let tokenizer = Tokenizer::get(TokenizerName::O200kBase);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let mut text = String::new();
        tokenizer.synthesize(40, &mut rng, &mut text);
        tokenizer.synthesize(25, &mut rng, &mut text);
        assert_eq!(tokenizer.count(&text), 65);
        // Longer than two segments (about 250 KB): counted in pieces, exactly.
        let mut long = String::new();
        tokenizer.synthesize(40_000, &mut rng, &mut long);
        assert!(long.len() > 2 * SEGMENT);
        assert_eq!(tokenizer.count(&long), 40_000);
    }

    #[test]
    fn synthetic_text_weighs_its_mean_bytes_per_token() {
        for name in [TokenizerName::O200kBase, TokenizerName::Cl100kBase] {
            let tokenizer = Tokenizer::get(name);
            let mut text = String::new();
            tokenizer.synthesize(200_000, &mut rand_pcg::Pcg64::seed_from_u64(9), &mut text);
            // Measured on the text itself: within 1% of the expectation (200,000 draws).
            let measured = text.len() as f64 / 200_000.0;
            let expected = tokenizer.synthetic_bytes_per_token();
            assert!((measured / expected - 1.0).abs() < 0.01, "{name:?}: {measured} vs {expected}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_text_and_another_seed_another() {
        let tokenizer = Tokenizer::get(TokenizerName::O200kBase);
        let text = |seed| {
            let mut out = String::new();
            tokenizer.synthesize(200, &mut rand_pcg::Pcg64::seed_from_u64(seed), &mut out);
            out
        };
        assert_eq!(text(3), text(3));
        assert_ne!(text(3)[..40], text(4)[..40]);
        assert!(text(3).contains(". "), "sentences end");
    }

    /// The hand-written word-level tokenizer of the tests (tests/fixtures/tokenizer-wordlevel.json).
    fn wordlevel() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tokenizer-wordlevel.json")
    }

    /// Its count, by hand: the Whitespace pre-tokenizer's pieces, runs of word characters and runs of others.
    fn pieces(text: &str) -> usize {
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
        text.chars().filter(|c| std::mem::replace(&mut last, kind(*c)) != kind(*c) && kind(*c) != 0).count()
    }

    #[test]
    fn a_word_level_tokenizer_file_counts_its_pieces_and_synthetic_text_has_the_length_asked_for() {
        let file = crate::tokenizer_file::TokenizerFile { file: wordlevel() };
        let tokenizer = crate::tokenizer_file::TokenizerChoice::File(file).load().unwrap();
        let raw = tokenizers::Tokenizer::from_file(wordlevel()).unwrap();
        assert_eq!(pieces("hello, world... it's 42!"), 9);
        for text in ["hello, world... it's 42!", "the model. unknown words count too", "", "  a  b  "] {
            assert_eq!(tokenizer.count(text), pieces(text), "{text:?}");
            assert_eq!(raw.encode(text, false).unwrap().len(), pieces(text), "{text:?}");
        }
        assert_eq!(tokenizer.spaced.len(), 40, "every word of the vocabulary is a one-token word");
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        for tokens in [0, 1, 2, 15, 16, 100, 1000] {
            let mut text = String::new();
            tokenizer.synthesize(tokens, &mut rng, &mut text);
            assert_eq!(pieces(&text), tokens, "{text:?}");
            assert_eq!(raw.encode(text.as_str(), false).unwrap().len(), tokens);
        }
    }

    /// A byte-level BPE without a pre-tokenizer's split (as a SentencePiece-style file may be), written here:
    /// each word is one token with or without its leading space, and " the river" is one token too, so text of
    /// N words counts fewer than N and the writer must correct it.
    fn merging_bpe() -> String {
        let alphabet: std::collections::BTreeSet<char> =
            tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet().into_iter().collect();
        let mut vocab: Vec<String> = alphabet.iter().map(char::to_string).collect();
        let mut merges: Vec<String> = Vec::new();
        let chain = |word: &str, vocab: &mut Vec<String>, merges: &mut Vec<String>| {
            let mut chars = word.chars();
            let mut left = chars.next().unwrap().to_string();
            for c in chars {
                merges.push(format!("{left} {c}"));
                left.push(c);
                vocab.push(left.clone());
            }
        };
        let words = ["the", "river", "water", "stone", "light", "green", "house", "music"];
        for w in words {
            chain(&format!("Ġ{w}"), &mut vocab, &mut merges);
        }
        for w in words {
            chain(w, &mut vocab, &mut merges);
        }
        merges.push("Ġthe Ġriver".into());
        vocab.push("ĠtheĠriver".into());
        let vocab: serde_json::Map<String, serde_json::Value> =
            vocab.into_iter().enumerate().map(|(i, t)| (t, i.into())).collect();
        serde_json::json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
            "pre_tokenizer": { "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false },
            "post_processor": null,
            "decoder": { "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false },
            "model": { "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                       "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": vocab,
                       "merges": merges }
        })
        .to_string()
    }

    #[test]
    fn text_for_a_bpe_file_that_merges_across_words_is_corrected_to_the_length_asked_for() {
        let json = merging_bpe();
        let raw = tokenizers::Tokenizer::from_bytes(json.as_bytes()).unwrap();
        // By hand: a word or a stop is a token, except that " the river" is one.
        let by_hand = |text: &str| {
            text.split([' ', '.']).filter(|w| !w.is_empty()).count() + text.matches('.').count()
                - text.matches(" the river").count()
        };
        assert_eq!(raw.encode("the river. the river water", false).unwrap().len(), 5);
        assert_eq!(by_hand("the river. the river water"), 5);
        let tokenizer = Tokenizer::from_file_tokenizer(raw.clone()).unwrap();
        // The 8 words and their merges' prefixes of 3 letters or more ("riv", "rive"): 1 + 7 · 3.
        assert_eq!(tokenizer.spaced.len(), 22);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
        let mut merged = 0;
        for tokens in [1, 2, 3, 16, 100, 1000, 5000] {
            let mut text = String::from("[");
            tokenizer.synthesize(tokens, &mut rng, &mut text);
            let text = &text[1..];
            merged += text.matches(" the river").count();
            assert_eq!(raw.encode(text, false).unwrap().len(), tokens, "{text:?}");
            assert_eq!(by_hand(text), tokens, "{text:?}");
        }
        assert!(merged > 10, "the merge happened {merged} times: the correction was exercised");
    }
}
