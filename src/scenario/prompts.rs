//! What a class's requests say: token lengths drawn from a distribution, shared prefixes, a dataset of prompts,
//! and the tokenizer that counts them. `prompt` turns these into each request's messages.

use serde::{Deserialize, Serialize};
use slacheck_common::tokenizer_file::TokenizerChoice;
use std::path::PathBuf;

/// The longest prompt or answer a scenario may ask for, in tokens: past any model's context today, and a bound on
/// what one request in flight holds (about 7 bytes a token).
pub const MAX_TOKENS: f64 = 1_048_576.0;

/// The most distinct shared prefixes a class may have: each is kept for the whole run.
pub const MAX_PREFIXES: u32 = 4096;

/// A token count: a fixed number (`512`), or a normal distribution clamped to `[min, max]`
/// (`{ mean = 512, stddev = 128, min = 16, max = 4096 }`), drawn per request from the seed.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum TokenLength {
    Fixed(f64),
    Normal(NormalLength),
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NormalLength {
    pub mean: f64,
    #[serde(default)]
    pub stddev: f64,
    /// Draws below are raised to it (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Draws above are lowered to it (default: the largest allowed, 1,048,576).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl TokenLength {
    /// What is wrong with it, if anything: `(the key within it, the message)`.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let whole = |v: f64| v.is_finite() && v.fract() == 0.0;
        match *self {
            TokenLength::Fixed(n) if !(whole(n) && (1.0..=MAX_TOKENS).contains(&n)) => {
                Some(("", format!("{n} is not a whole number of tokens from 1 to {MAX_TOKENS}")))
            }
            TokenLength::Fixed(_) => None,
            TokenLength::Normal(d) => {
                let (min, max) = d.bounds();
                if !(d.mean.is_finite() && d.mean >= 1.0 && d.mean <= MAX_TOKENS) {
                    Some(("mean", format!("{} is not a token count from 1 to {MAX_TOKENS}", d.mean)))
                } else if !(d.stddev.is_finite() && d.stddev >= 0.0) {
                    Some(("stddev", format!("{} is negative or not a number", d.stddev)))
                } else if !(whole(min) && (1.0..=MAX_TOKENS).contains(&min)) {
                    Some(("min", format!("{min} is not a whole number of tokens from 1 to {MAX_TOKENS}")))
                } else if !(whole(max) && (1.0..=MAX_TOKENS).contains(&max)) {
                    Some(("max", format!("{max} is not a whole number of tokens from 1 to {MAX_TOKENS}")))
                } else if min > max {
                    Some(("min", format!("min {min} is above max {max}")))
                } else {
                    None
                }
            }
        }
    }

    /// The draw for a standard normal value `z`: `mean + z·stddev`, rounded and clamped (a fixed length ignores
    /// `z`). The caller draws `z`, so that every request draws the same number of values whatever the lengths.
    pub fn at(&self, z: f64) -> u32 {
        match *self {
            TokenLength::Fixed(n) => n as u32,
            TokenLength::Normal(d) => {
                let (min, max) = d.bounds();
                (d.mean + z * d.stddev).round().clamp(min, max) as u32
            }
        }
    }
}

impl TokenLength {
    /// The largest value a draw can take.
    pub fn upper(&self) -> f64 {
        match self {
            TokenLength::Fixed(n) => *n,
            TokenLength::Normal(d) => d.bounds().1,
        }
    }
}

impl NormalLength {
    fn bounds(&self) -> (f64, f64) {
        (self.min.unwrap_or(1.0), self.max.unwrap_or(MAX_TOKENS))
    }
}

/// In which order a dataset's prompts are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PromptOrder {
    /// Each request takes a prompt drawn from the seed (reproducible, independent of timing).
    #[default]
    Random,
    /// Request k takes line k (modulo the file's length).
    Sequential,
}

/// A class's prompt settings, as the `prompt` stage receives them ([`ClassSpec::prompt_spec`](super::ClassSpec)).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSpec {
    pub prompts: Vec<String>,
    pub input_tokens: Option<TokenLength>,
    /// `output_tokens`, or the fixed `max_tokens` (default 16).
    pub output_tokens: TokenLength,
    pub prefix_tokens: Option<u32>,
    pub prefixes: u32,
    /// Resolved against the scenario's folder.
    pub prompts_file: Option<PathBuf>,
    pub order: PromptOrder,
    /// Its file, if any, resolved against the scenario's folder.
    pub tokenizer: TokenizerChoice,
    pub stream: bool,
    /// Sessions of several turns, when the class is conversational.
    pub conversation: Option<super::conversation::ConversationSpec>,
    /// The API of the class's tiers (they share one), which shapes the body.
    pub api: super::Api,
}

impl PromptSpec {
    /// The class asks for generated or file prompts (and so for a tokenizer), not just fixed `prompts`.
    pub fn is_tokenized(&self) -> bool {
        self.input_tokens.is_some() || self.prefix_tokens.is_some() || self.prompts_file.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(mean: f64, stddev: f64, min: Option<f64>, max: Option<f64>) -> TokenLength {
        TokenLength::Normal(NormalLength { mean, stddev, min, max })
    }

    #[test]
    fn bad_lengths_name_their_key() {
        let key = |l: TokenLength| l.problem().map(|(k, _)| k);
        assert_eq!(key(TokenLength::Fixed(-5.0)), Some(""));
        assert_eq!(key(TokenLength::Fixed(0.0)), Some(""));
        assert_eq!(key(TokenLength::Fixed(2.5)), Some(""));
        assert_eq!(key(TokenLength::Fixed(1.0)), None);
        assert_eq!(key(TokenLength::Fixed(MAX_TOKENS)), None);
        assert_eq!(key(TokenLength::Fixed(MAX_TOKENS + 1.0)), Some(""));
        assert_eq!(key(normal(-1.0, 1.0, None, None)), Some("mean"));
        assert_eq!(key(normal(100.0, -1.0, None, None)), Some("stddev"));
        assert_eq!(key(normal(100.0, f64::NAN, None, None)), Some("stddev"));
        assert_eq!(key(normal(100.0, 10.0, Some(0.0), None)), Some("min"));
        assert_eq!(key(normal(100.0, 10.0, None, Some(0.5))), Some("max"));
        assert_eq!(key(normal(100.0, 10.0, Some(200.0), Some(50.0))), Some("min"));
        assert_eq!(key(normal(100.0, 10.0, Some(50.0), Some(50.0))), None);
    }

    #[test]
    fn a_draw_is_the_rounded_normal_value_within_its_bounds() {
        let d = normal(512.0, 128.0, Some(16.0), Some(600.0));
        assert_eq!(d.at(0.0), 512);
        assert_eq!(d.at(0.5), 576);
        assert_eq!(d.at(0.504), 577); // 512 + 64.512 rounds up
        assert_eq!(d.at(1.0), 600, "clamped at max");
        assert_eq!(d.at(-4.0), 16, "clamped at min");
        assert_eq!(TokenLength::Fixed(64.0).at(3.0), 64);
        assert_eq!(normal(5.0, 10.0, None, None).at(-3.0), 1, "never below one token");
    }
}
