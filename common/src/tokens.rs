//! Tokens as OpenAI's models count them, offline: tiktoken's `o200k_base` and `cl100k_base`, embedded by
//! `tiktoken-rs`; and synthetic text of an exact token count, drawn from a random source.
//!
//! Synthetic text is lowercase words, each a single token with its leading space (` model`, ` water`), with a
//! full stop (one token) every 8 to 15 words. The tokenizers split text into words before merging, so such text
//! has exactly one token per word and per stop: a prompt of N tokens costs N table lookups, not a tokenizer pass.

use rand::Rng;
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
    bpe: &'static CoreBPE,
    /// Words that are one token with a leading space (` water`).
    spaced: Vec<String>,
    /// Of those, the ones that are also one token without it, to open a text.
    bare: Vec<String>,
}

/// The most words kept: enough for varied text, few enough to build in milliseconds.
const MAX_WORDS: usize = 4096;

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
        let mut spaced = Vec::new();
        // Low ranks are the most frequent merges: real, common words first.
        for rank in 0..200_000u32 {
            let Ok(bytes) = bpe.decode_bytes(&[rank]) else { continue };
            let Some(word) = bytes.strip_prefix(b" ") else { continue };
            if (3..=10).contains(&word.len()) && word.iter().all(u8::is_ascii_lowercase) {
                let word = String::from_utf8_lossy(word).into_owned();
                if bpe.encode_ordinary(&format!(" {word}")).len() == 1 {
                    spaced.push(word);
                }
            }
            if spaced.len() == MAX_WORDS {
                break;
            }
        }
        let bare = spaced.iter().filter(|w| bpe.encode_ordinary(w).len() == 1).cloned().collect();
        Tokenizer { bpe, spaced, bare }
    }

    /// The number of tokens of `text`, as the model's tokenizer counts plain text (no chat template).
    pub fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
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
            if out.is_empty() {
                out.push_str(&self.bare[rng.random_range(0..self.bare.len())]);
            } else {
                out.push(' ');
                out.push_str(&self.spaced[rng.random_range(0..self.spaced.len())]);
            }
            words_in_sentence += 1;
        }
    }
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
    fn appended_text_adds_exactly_its_tokens() {
        let tokenizer = Tokenizer::get(TokenizerName::O200kBase);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let mut text = String::new();
        tokenizer.synthesize(40, &mut rng, &mut text);
        tokenizer.synthesize(25, &mut rng, &mut text);
        assert_eq!(tokenizer.count(&text), 65);
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
}
