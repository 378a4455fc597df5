//! The memory a scenario's prompts ask for, known before it runs: the shared prefixes and datasets held for the
//! whole run, and the request bodies in flight at `max_in_flight`; and, while it runs, the cap on the bytes of
//! bodies in flight (`load.max_request_memory`), past which a request is not sent rather than held.

use super::PromptInputs;
use crate::scenario::prompts::{PromptSpec, TokenLength};
use std::sync::atomic::{AtomicU64, Ordering};

/// The JSON around one message's content (`{"role":"user","content":""}` and a comma).
const MESSAGE_ENVELOPE: f64 = 32.0;

/// What a scenario's prompts hold, estimated from its settings (synthetic text's mean bytes per token) and
/// the files it reads (their exact bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// Bytes held for the whole run: every class's shared prefixes and dataset lines.
    pub shared: f64,
    /// The field of the class that holds the most of them, and how much it holds.
    pub shared_by: Option<(String, f64)>,
    /// Bytes a request holds while in flight, on average over the classes' weights (its own messages: a
    /// prefix or a dataset's line is shared, a fixed body made once).
    pub per_request: f64,
    /// The field of the class whose requests hold the most, and how much each holds.
    pub per_request_by: Option<(String, f64)>,
}

/// The memory the classes' prompts ask for (`specs` and `weights` in class order, `fields` each class's key
/// prefix, e.g. `classes[0]`).
pub fn need(specs: &[PromptSpec], weights: &[f64], fields: &[String], inputs: &PromptInputs) -> Need {
    let traced = inputs.shapes.as_ref().map(|shapes| {
        let tokens: f64 = shapes.iter().map(|s| f64::from(s.input_tokens)).sum();
        tokens / shapes.len().max(1) as f64
    });
    let mut need = Need { shared: 0.0, shared_by: None, per_request: 0.0, per_request_by: None };
    let total_weight: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    for (i, spec) in specs.iter().enumerate() {
        // Built only for a class that makes text (building a tokenizer takes a fraction of a second).
        let makes_text = traced.is_some() || spec.input_tokens.is_some() || spec.prefix_tokens.is_some();
        let per_token = if makes_text { super::tokenizer_of(spec).synthetic_bytes_per_token() } else { 0.0 };
        let dataset = inputs.datasets.get(i).cloned().flatten().map_or(0, |d| d.bytes()) as f64;
        let prefixes = spec
            .prefix_tokens
            .map_or(0.0, |t| f64::from(spec.prefixes) * (f64::from(t) * per_token + MESSAGE_ENVELOPE));
        let shared = prefixes + dataset;
        let field = &fields[i];
        if shared > need.shared_by.as_ref().map_or(0.0, |(_, b)| *b) {
            let key = if prefixes >= dataset { "prefix_tokens" } else { "prompts_file" };
            need.shared_by = Some((format!("{field}.{key}"), shared));
        }
        need.shared += shared;
        // A dataset's line is shared; a drawn prompt or a trace's row is made for its request. A session holds
        // its history (each turn's question and answer) for its whole life, in one of the places in flight: its
        // last turn's body, at the typical number of turns.
        let own = match (traced, spec.input_tokens, dataset > 0.0, &spec.conversation) {
            (_, input, _, Some(c)) => {
                let turns = c.turns.as_ref().map_or(1.0, typical);
                let question = input.as_ref().map_or(0.0, typical);
                Some((format!("{field}.conversation"), turns * (question + typical(&spec.output_tokens))))
            }
            (Some(tokens), _, _, None) => Some(("load.trace".to_string(), tokens)),
            (None, Some(length), false, None) => Some((format!("{field}.input_tokens"), typical(&length))),
            _ => None,
        };
        if let Some((key, tokens)) = own {
            let bytes = tokens * per_token + MESSAGE_ENVELOPE;
            need.per_request += bytes * weights[i] / total_weight;
            if bytes > need.per_request_by.as_ref().map_or(0.0, |(_, b)| *b) {
                need.per_request_by = Some((key, bytes));
            }
        }
    }
    need
}

/// A length's typical draw: a fixed length, or the normal's mean held within its bounds.
fn typical(length: &TokenLength) -> f64 {
    match *length {
        TokenLength::Fixed(n) => n,
        TokenLength::Normal(d) => d.mean.clamp(d.min.unwrap_or(1.0), d.max.unwrap_or(f64::MAX)),
    }
}

impl Need {
    /// Whether `budget` bytes hold what the prompts need with `in_flight` requests out; else the field to name
    /// (`in_flight_field`, e.g. `load.max_in_flight`, when the requests in flight are what passes it) and why.
    pub fn check(&self, budget: u64, in_flight: usize, in_flight_field: &str) -> Result<(), (String, String)> {
        let limit = format!("load.max_request_memory ({})", crate::units::ByteSize(budget));
        let budget = budget as f64;
        if let Some((field, bytes)) = self.shared_by.as_ref().filter(|_| self.shared > budget) {
            return Err((
                field.clone(),
                format!(
                    "the shared prompts would hold about {} for the whole run ({} of it here), past {limit}: \
                     fewer or shorter prefixes, a smaller dataset, or raise load.max_request_memory",
                    about(self.shared),
                    about(*bytes)
                ),
            ));
        }
        let in_flight_bytes = in_flight as f64 * self.per_request;
        if self.shared + in_flight_bytes <= budget {
            return Ok(());
        }
        let (source, each) = self.per_request_by.clone().unwrap_or_default();
        let fits = ((budget - self.shared) / self.per_request).floor().max(0.0);
        let shared = match self.shared > 0.0 {
            true => format!(" beside {} of shared prompts", about(self.shared)),
            false => String::new(),
        };
        Err((
            in_flight_field.to_string(),
            format!(
                "{in_flight} requests in flight would hold about {} of prompts (about {} a request; {source} asks \
                 for {} each){shared}, past {limit}: lower {in_flight_field} to at most {fits}, or raise \
                 load.max_request_memory",
                about(in_flight_bytes),
                about(self.per_request),
                about(each),
            ),
        ))
    }
}

/// A size to a few digits, in binary units: `7.4 MiB`.
pub fn about(bytes: f64) -> String {
    let (scale, unit) = [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        .into_iter()
        .find(|(scale, _)| bytes >= *scale as f64)
        .unwrap_or((1, "B"));
    match scale {
        1 => format!("{bytes:.0} B"),
        _ => format!("{:.1} {unit}", bytes / scale as f64),
    }
}

/// The bytes of request bodies in flight, held within a cap: a request whose own messages would pass it is not
/// sent (the generator's limit, counted as not sent), rather than held.
#[derive(Debug)]
pub struct BodyMemory {
    cap: u64,
    used: AtomicU64,
}

/// Bytes taken from a [`BodyMemory`], given back when dropped (when the request ends, however it ends).
#[derive(Debug)]
pub struct Reservation<'a> {
    memory: &'a BodyMemory,
    bytes: u64,
}

impl BodyMemory {
    pub fn new(cap: u64) -> Self {
        BodyMemory { cap, used: AtomicU64::new(0) }
    }

    /// Takes `bytes` for a request in flight; `None` when they would pass the cap (a request that holds nothing
    /// of its own always passes).
    pub fn reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        let bytes = bytes as u64;
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if bytes > 0 && before + bytes > self.cap {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        }
        Some(Reservation { memory: self, bytes })
    }

    /// The bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.memory.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::prompts::{NormalLength, PromptOrder};
    use slacheck_common::tokenizer_file::TokenizerChoice;
    use slacheck_common::tokens::{Tokenizer, TokenizerName};

    fn spec(input: Option<TokenLength>, prefix: Option<(u32, u32)>) -> PromptSpec {
        PromptSpec {
            prompts: vec!["ping".into()],
            input_tokens: input,
            output_tokens: TokenLength::Fixed(16.0),
            prefix_tokens: prefix.map(|p| p.0),
            prefixes: prefix.map_or(1, |p| p.1),
            prompts_file: None,
            order: PromptOrder::Random,
            tokenizer: TokenizerChoice::Named(TokenizerName::O200kBase),
            stream: false,
            conversation: None,
            api: crate::scenario::Api::Chat,
        }
    }

    #[test]
    fn prefixes_are_shared_and_drawn_prompts_are_each_requests_own() {
        let b = Tokenizer::get(TokenizerName::O200kBase).synthetic_bytes_per_token();
        // 4096 prefixes of 2^20 tokens; a class of 1,000-token prompts (weight 3) and one of fixed prompts
        // (weight 1), which hold nothing of their own.
        let specs = [spec(None, Some((1 << 20, 4096))), spec(Some(TokenLength::Fixed(1000.0)), None)];
        let fields = ["classes[0]".to_string(), "classes[1]".to_string()];
        let need = need(&specs, &[1.0, 3.0], &fields, &PromptInputs::default());
        let prefixes = 4096.0 * ((1u64 << 20) as f64 * b + MESSAGE_ENVELOPE);
        assert!((need.shared - prefixes).abs() < 1.0, "{need:?}");
        assert_eq!(need.shared_by.as_ref().map(|(f, _)| f.as_str()), Some("classes[0].prefix_tokens"));
        let own = 1000.0 * b + MESSAGE_ENVELOPE;
        assert!((need.per_request - own * 0.75).abs() < 1e-6, "{need:?}");
        assert_eq!(need.per_request_by.as_ref().map(|(f, _)| f.as_str()), Some("classes[1].input_tokens"));
        let (field, message) = need.check(1 << 30, 10, "load.max_in_flight").unwrap_err();
        assert_eq!(field, "classes[0].prefix_tokens");
        assert!(message.contains("past load.max_request_memory (1GiB)"), "{message}");
    }

    #[test]
    fn requests_in_flight_past_the_budget_name_how_many_fit() {
        let b = Tokenizer::get(TokenizerName::O200kBase).synthetic_bytes_per_token();
        let normal = TokenLength::Normal(NormalLength { mean: 1e6, stddev: 1e5, min: None, max: Some(2e5) });
        let need = need(&[spec(Some(normal), None)], &[1.0], &["classes[0]".into()], &PromptInputs::default());
        // The mean is held within max: 200,000 tokens a request.
        let each = 200_000.0 * b + MESSAGE_ENVELOPE;
        assert!((need.per_request - each).abs() < 1e-6);
        let budget = 100 << 20;
        let fits = (budget as f64 / each).floor();
        assert!(need.check(budget, fits as usize, "load.max_in_flight").is_ok());
        let (field, message) = need.check(budget, fits as usize + 1, "load.connections").unwrap_err();
        assert_eq!(field, "load.connections");
        assert!(message.contains(&format!("lower load.connections to at most {fits},")), "{message}");
    }

    #[test]
    fn a_reservation_past_the_cap_is_refused_and_each_is_given_back() {
        let memory = BodyMemory::new(100);
        let a = memory.reserve(60).unwrap();
        assert!(memory.reserve(41).is_none(), "60 + 41 passes 100");
        let b = memory.reserve(40).unwrap();
        assert_eq!(memory.used(), 100);
        assert!(memory.reserve(0).is_some(), "nothing of its own always passes");
        drop(a);
        assert_eq!(memory.used(), 40);
        drop(b);
        assert_eq!(memory.used(), 0);
        assert_eq!(about(7.4 * (1 << 20) as f64), "7.4 MiB");
    }
}
