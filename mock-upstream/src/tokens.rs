//! Answers whose time follows their tokens, for a provider that sets `tokenizer`, `prefill_per_token` or
//! `decode_per_token`: the prompt's tokens are counted with the tokenizer (the content of every message, no chat
//! template, as slacheck counts them), prefill takes `prefill_per_token` each before the first token, the answer
//! is exactly `max_tokens` long and each of its tokens takes `decode_per_token`.
//!
//! With `cached_prefill_per_token`, the longest run of opening messages this provider has seen before (among the
//! last [`CACHE_ENTRIES`] runs) prefills at that rate instead: a prompt cache's effect on time to first token. A
//! shared system prompt is such a run; so is a conversation's history, since the provider remembers each prompt's
//! messages followed by its own answer, as a server that keeps the answer's KV cache does.

use crate::config::ProviderConfig;
use crate::openai::ChatRequest;
use serde::Deserialize;
use slacheck_common::tokens::Tokenizer;
use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

/// The distinct runs of opening messages the prompt cache remembers; the oldest is forgotten first.
pub const CACHE_ENTRIES: usize = 65_536;

/// The longest answer a token-aware provider writes, whatever `max_tokens` asks.
pub const MAX_ANSWER_TOKENS: u32 = 1 << 20;

/// How a token-aware provider times its answers.
pub struct TokenModel {
    tokenizer: &'static Tokenizer,
    prefill: Duration,
    decode: Duration,
    cached_prefill: Option<Duration>,
    cache: Mutex<PrefixCache>,
}

#[derive(Default)]
struct PrefixCache {
    order: VecDeque<u64>,
    seen: HashSet<u64>,
}

impl PrefixCache {
    /// Whether `key` was seen; remembers it either way.
    fn check_and_remember(&mut self, key: u64) -> bool {
        if self.seen.contains(&key) {
            return true;
        }
        if self.order.len() == CACHE_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back(key);
        self.seen.insert(key);
        false
    }
}

/// One answer's tokens and times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shaped {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Added before the first token.
    pub prefill: Duration,
    /// Added for each token after the first chunk (and for every token of a whole answer).
    pub decode_per_token: Duration,
    /// Prompt tokens that prefilled at the cached rate.
    pub cached_tokens: u32,
}

/// A prompt as any API carries it: chat's `messages`, a legacy completion's `prompt`, or an embeddings or
/// Responses API `input` (a text, a list of texts, or, for responses, message items).
#[derive(Deserialize)]
struct Messages {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    prompt: serde_json::Value,
    #[serde(default)]
    input: serde_json::Value,
}

impl Messages {
    /// Every message, the texts of `prompt` and `input` as user messages.
    fn all(self) -> Vec<Message> {
        let mut all = self.messages;
        for value in [self.prompt, self.input] {
            let user = |content: serde_json::Value| Message { role: "user".into(), content };
            match value {
                serde_json::Value::String(_) => all.push(user(value)),
                serde_json::Value::Array(items) => all.extend(items.into_iter().filter_map(|item| match item {
                    serde_json::Value::String(_) => Some(user(item)),
                    serde_json::Value::Object(_) => serde_json::from_value(item).ok(),
                    _ => None,
                })),
                _ => {}
            }
        }
        all
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: serde_json::Value,
}

impl TokenModel {
    /// The model of a provider that asks for one; the error names a tokenizer file that cannot be used.
    pub fn of(config: &ProviderConfig) -> Result<Option<Self>, String> {
        let wanted =
            config.tokenizer.is_some() || config.prefill_per_token.is_some() || config.decode_per_token.is_some();
        if !wanted {
            return Ok(None);
        }
        Ok(Some(TokenModel {
            tokenizer: config.tokenizer.clone().unwrap_or_default().load()?,
            prefill: config.prefill_per_token.map(|d| d.0).unwrap_or_default(),
            decode: config.decode_per_token.map(|d| d.0).unwrap_or_default(),
            cached_prefill: config.cached_prefill_per_token.map(|d| d.0),
            cache: Mutex::new(PrefixCache::default()),
        }))
    }

    /// The tokens and times of the answer to `body`; `default_answer` when it asks for no length.
    pub fn shape(&self, body: &[u8], request: &ChatRequest, default_answer: u32) -> Shaped {
        let messages = serde_json::from_slice::<Messages>(body).map(Messages::all).unwrap_or_default();
        let asked = request.asked().unwrap_or(default_answer);
        let completion_tokens = asked.clamp(1, MAX_ANSWER_TOKENS);
        let mut prefill = Duration::ZERO;
        let (mut prompt_tokens, mut cached_tokens) = (0u32, 0u32);
        // Each opening run of messages is a key (chained hashes); the runs seen before are the cached prefix.
        let mut key = 0u64;
        let mut keys = Vec::with_capacity(messages.len() + 1);
        let tokens: Vec<u32> = messages.iter().map(|m| self.tokenizer.count_content(&m.content)).collect();
        for m in &messages {
            key = chain(key, &m.role, &m.content.to_string());
            keys.push(key);
        }
        let answer = serde_json::Value::from(crate::openai::answer_text(completion_tokens)).to_string();
        keys.push(chain(key, "assistant", &answer));
        let cached_runs = match self.cached_prefill {
            Some(_) => self.remember(&keys),
            None => 0,
        };
        for (i, n) in tokens.iter().enumerate() {
            prompt_tokens = prompt_tokens.saturating_add(*n);
            let per_token = match self.cached_prefill {
                Some(rate) if i < cached_runs => {
                    cached_tokens = cached_tokens.saturating_add(*n);
                    rate
                }
                _ => self.prefill,
            };
            prefill += per_token.saturating_mul(*n);
        }
        Shaped { prompt_tokens, completion_tokens, prefill, decode_per_token: self.decode, cached_tokens }
    }

    /// How many of the opening runs `keys` (the prompt's, then the prompt with this answer) were seen before: the
    /// longest such run; remembers them all.
    fn remember(&self, keys: &[u64]) -> usize {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let prompt = &keys[..keys.len().saturating_sub(1)];
        let seen = prompt.iter().rposition(|k| cache.seen.contains(k)).map_or(0, |i| i + 1);
        for k in keys {
            cache.check_and_remember(*k);
        }
        seen
    }
}

/// The key of an opening run of messages: the key of the run before it, with one more message.
fn chain(before: u64, role: &str, content: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (before, role, content).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::HumanDuration;

    fn model(cached: Option<u64>) -> TokenModel {
        let mut config = ProviderConfig::named("p");
        config.prefill_per_token = Some(HumanDuration(Duration::from_micros(100)));
        config.decode_per_token = Some(HumanDuration(Duration::from_millis(2)));
        config.cached_prefill_per_token = cached.map(|us| HumanDuration(Duration::from_micros(us)));
        TokenModel::of(&config).unwrap().unwrap()
    }

    fn body(system: &str, user: &str, max_tokens: Option<u32>) -> Vec<u8> {
        let mut b = serde_json::json!({ "model": "m", "messages": [
            { "role": "system", "content": system }, { "role": "user", "content": user }] });
        if let Some(m) = max_tokens {
            b["max_tokens"] = m.into();
        }
        b.to_string().into_bytes()
    }

    #[test]
    fn prefill_grows_with_the_prompt_and_the_answer_is_max_tokens_long() {
        let m = model(None);
        // "hello world" is 2 tokens and "be brief" 2 in o200k_base: 4 tokens, 400 µs of prefill.
        let b = body("be brief", "hello world", Some(300));
        let s = m.shape(&b, &ChatRequest::parse(&b), 16);
        assert_eq!(
            s,
            Shaped {
                prompt_tokens: 4,
                completion_tokens: 300,
                prefill: Duration::from_micros(400),
                decode_per_token: Duration::from_millis(2),
                cached_tokens: 0,
            }
        );
        let b = body("be brief", "hello world hello world", None);
        let s = m.shape(&b, &ChatRequest::parse(&b), 16);
        assert_eq!((s.prompt_tokens, s.completion_tokens, s.prefill), (6, 16, Duration::from_micros(600)));
        assert!(TokenModel::of(&ProviderConfig::named("plain")).unwrap().is_none(), "only when asked");
    }

    #[test]
    fn a_system_message_seen_before_prefills_at_the_cached_rate() {
        let m = model(Some(10));
        let first = body("be brief", "hello world", Some(5));
        let again = body("be brief", "hello", Some(5));
        let other = body("be short", "hello", Some(5));
        let prefill = |b: &[u8]| m.shape(b, &ChatRequest::parse(b), 16).prefill;
        assert_eq!(prefill(&first), Duration::from_micros(400), "a cold cache");
        // 2 cached system tokens at 10 µs, 1 user token at 100 µs.
        assert_eq!(prefill(&again), Duration::from_micros(120));
        // "be short": 2 tokens, not seen before.
        assert_eq!(prefill(&other), Duration::from_micros(300));
    }

    #[test]
    fn a_conversation_s_history_with_the_answer_given_prefills_at_the_cached_rate() {
        let m = model(Some(10));
        let first = body("be brief", "hello world", Some(3));
        let shaped = m.shape(&first, &ChatRequest::parse(&first), 16);
        assert_eq!(shaped.cached_tokens, 0);
        // The next turn carries the answer the provider gave ("ok ok ok ", as the client received it).
        let answer = crate::openai::answer_text(3);
        let next = serde_json::json!({ "model": "m", "max_tokens": 3, "messages": [
            { "role": "system", "content": "be brief" }, { "role": "user", "content": "hello world" },
            { "role": "assistant", "content": answer }, { "role": "user", "content": "hi" }] })
        .to_string();
        let s = m.shape(next.as_bytes(), &ChatRequest::parse(next.as_bytes()), 16);
        let bpe = tiktoken_rs::o200k_base_singleton();
        let answer_tokens = bpe.encode_ordinary(&answer).len() as u32;
        // Cached: "be brief" (2), "hello world" (2) and the answer; "hi" (1) at the full rate.
        assert_eq!(s.cached_tokens, 4 + answer_tokens);
        assert_eq!(s.prompt_tokens, 5 + answer_tokens);
        assert_eq!(s.prefill, Duration::from_micros(10) * (4 + answer_tokens) + Duration::from_micros(100));
        // Another answer in its place is not the provider's: only the messages before it are cached.
        let other = next.replace("ok ok ok ", "no no no ");
        let s = m.shape(other.as_bytes(), &ChatRequest::parse(other.as_bytes()), 16);
        assert_eq!(s.cached_tokens, 4);
    }

    #[test]
    fn the_cache_forgets_the_oldest_entry_first() {
        let mut cache = PrefixCache::default();
        for key in 0..CACHE_ENTRIES as u64 {
            assert!(!cache.check_and_remember(key));
        }
        assert!(cache.check_and_remember(0));
        assert!(!cache.check_and_remember(u64::MAX), "a new entry pushes out key 0");
        assert!(!cache.check_and_remember(0), "0 was the oldest");
        assert_eq!(cache.seen.len(), CACHE_ENTRIES);
    }
}
