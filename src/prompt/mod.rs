//! What each request says, and the body it is sent as on each tier: chat completions, or another API ([`envelope`]).
//!
//! A class either sends its fixed `prompts` (bodies built once per tier, taken in turn by request number), or
//! makes each request's messages from the seed and the request's number alone, so a run is reproducible whatever
//! its timing:
//! - `input_tokens`: seeded text of exactly the drawn number of tokens (see `slacheck_common::tokens`);
//! - `prefix_tokens` and `prefixes`: a system message shared, byte for byte, by every request of its group;
//! - `prompts_file`: a line of a dataset ([`dataset`]), drawn from the seed or in order;
//! - a Mooncake trace's row: its lengths, with its `hash_ids` blocks shared by every request that names them.
//!
//! A conversational class makes sessions instead ([`conversation`]): each turn carries the earlier questions and
//! the answers received.
//!
//! `max_tokens` is `output_tokens`' draw (or the trace row's length). The recorded input tokens are the
//! tokenizer's count of the message content, without the chat template a provider adds to `usage.prompt_tokens`.

mod body;
pub mod conversation;
pub mod dataset;
mod envelope;
pub mod memory;

pub use body::RequestBody;

use crate::scenario::conversation::History;
use crate::scenario::prompts::{PromptOrder, PromptSpec, TokenLength};
use crate::scenario::Api;
use crate::trace::{RequestShape, BLOCK_TOKENS};
use bytes::Bytes;
pub use conversation::Session;
use dataset::Dataset;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use slacheck_common::tokenizer_file::TokenizerChoice;
use slacheck_common::tokens::{Tokenizer, TokenizerName};
use slacheck_common::tomlfile::FileError;
use std::sync::Arc;

/// What the prompts read from files: each class's dataset, and a trace's per-request lengths.
#[derive(Debug, Clone, Default)]
pub struct PromptInputs {
    /// By class: its `prompts_file`, read.
    pub datasets: Vec<Option<Arc<Dataset>>>,
    /// By request number: a trace's lengths, when its rows carry them.
    pub shapes: Option<Arc<[RequestShape]>>,
}

impl PromptInputs {
    /// Reads every class's `prompts_file` and the trace's lengths (`trace` is a trace profile's file). A bad line
    /// of a prompts file is named by the file and line; a file that cannot be used at all, by `place`, which puts
    /// the message at the scenario's key.
    pub fn read(
        specs: &[PromptSpec],
        trace: Option<&std::path::Path>,
        place: &dyn Fn(&str, String) -> FileError,
    ) -> Result<Self, FileError> {
        let mut datasets = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            if let TokenizerChoice::File(_) = spec.tokenizer {
                spec.tokenizer.load().map_err(|m| place(&format!("classes[{i}].tokenizer"), m))?;
            }
            let Some(path) = spec.prompts_file.as_deref() else {
                datasets.push(None);
                continue;
            };
            let field = format!("classes[{i}].prompts_file");
            let conversational = spec.conversation.is_some();
            let read = dataset::read(path, tokenizer_of(spec), conversational).map_err(|e| match e.line {
                Some(line) => FileError {
                    file: path.to_path_buf(),
                    line: Some(line),
                    column: Some(1),
                    field: field.clone(),
                    message: e.message,
                },
                None => place(&field, e.message),
            })?;
            datasets.push(Some(Arc::new(read)));
        }
        let shapes = match trace {
            None => None,
            Some(path) => {
                crate::trace::read_shapes(path).map_err(|e| place("load.trace", e.to_string()))?.map(Arc::<[_]>::from)
            }
        };
        if let (Some(_), Some(i)) = (&shapes, specs.iter().position(|s| s.conversation.is_some())) {
            let why = format!(
                "the trace gives each request's lengths, and classes[{i}] is a conversation: a trace with lengths \
                 replays single requests"
            );
            return Err(place("load.trace", why));
        }
        Ok(PromptInputs { datasets, shapes })
    }
}

/// The messages a class's requests carry, and how each tier's body is made of them.
pub struct Prompts {
    kind: Kind,
}

enum Kind {
    /// Bodies built once: by tier, then by prompt.
    Fixed(Vec<Vec<Bytes>>),
    Made(Box<Maker>),
}

/// Makes each request's messages from the seed and its number.
struct Maker {
    tokenizer: &'static Tokenizer,
    /// The run's seed mixed with the class's: each class draws its own values.
    seed: u64,
    /// The run's seed alone: a trace's hash-id blocks are the same bytes in every class.
    run_seed: u64,
    /// The class's fixed `prompts` as user messages, with their tokens, for a class that draws only lengths
    /// of answers (or a prefix).
    fixed: Vec<(Bytes, u32)>,
    input: Option<TokenLength>,
    output: TokenLength,
    /// The shared system prompts, as JSON message objects followed by a comma, with their tokens: each request
    /// of a group sends its group's bytes, never a copy of them.
    prefixes: Vec<(Bytes, u32)>,
    dataset: Option<Arc<Dataset>>,
    order: PromptOrder,
    /// Each tier's body tail: the messages array's end, `"model"` and the stream keys, made once.
    tails: Vec<Bytes>,
    /// The API of the class's tiers, and each tier's model and whether the class streams (for a text body,
    /// made per attempt).
    api: Api,
    models: Vec<String>,
    stream: bool,
    /// A conversational class's turns per session (none with a dataset of conversations) and history.
    turns: Option<TokenLength>,
    history: History,
}

/// One request's content, made once and sent to every tier it tries.
pub enum Prepared {
    /// The index of a fixed prompt.
    Fixed(usize),
    Made {
        /// Its group's shared prefix (a system message and a comma), if the class has prefixes.
        prefix: Option<Bytes>,
        /// Its own messages, as JSON objects separated by commas: made for it, or a dataset's line (shared).
        own: Bytes,
        /// Whether `own` was made for this request alone (it is then memory this request holds in flight).
        made: bool,
        max_tokens: u32,
        input_tokens: u32,
    },
}

impl Prepared {
    /// The tokens of its message content, when slacheck made or counted them.
    pub fn input_tokens(&self) -> Option<u32> {
        match self {
            Prepared::Fixed(_) => None,
            Prepared::Made { input_tokens, .. } => Some(*input_tokens),
        }
    }

    /// The bytes made for this request alone, held while it is in flight (shared prefixes, dataset lines and
    /// fixed bodies are held once for the whole run, whatever the requests in flight).
    pub fn own_bytes(&self) -> usize {
        match self {
            Prepared::Made { own, made: true, .. } => own.len(),
            _ => 0,
        }
    }
}

impl Prompts {
    /// One body sent as it is to the one implicit tier (`target.body`).
    pub fn raw(body: Bytes) -> Self {
        Prompts { kind: Kind::Fixed(vec![vec![body]]) }
    }

    /// The prompts of a class sent to tiers whose models are `models`; `salt` tells classes apart, `dataset` is
    /// the class's `prompts_file`, read, and `traced` says the trace gives each request's lengths.
    pub fn new(
        spec: &PromptSpec,
        models: &[&str],
        seed: u64,
        salt: u64,
        dataset: Option<Arc<Dataset>>,
        traced: bool,
    ) -> Self {
        if !spec.is_tokenized() && dataset.is_none() && !traced && spec.conversation.is_none() {
            let max_tokens = spec.output_tokens;
            if let TokenLength::Fixed(n) = max_tokens {
                let bodies = models
                    .iter()
                    .map(|m| {
                        let body = |p: &String| envelope::whole(spec.api, m, p, n as u32, spec.stream);
                        spec.prompts.iter().map(body).collect()
                    })
                    .collect();
                return Prompts { kind: Kind::Fixed(bodies) };
            }
        }
        let tokenizer = tokenizer_of(spec);
        let run_seed = seed;
        let seed = seed ^ salt.wrapping_mul(0xA076_1D64_78BD_642F);
        let fixed = spec
            .prompts
            .iter()
            .map(|p| {
                let message = serde_json::json!({ "role": "user", "content": p }).to_string();
                (Bytes::from(message), u32::try_from(tokenizer.count(p)).unwrap_or(u32::MAX))
            })
            .collect();
        let prefixes = match spec.prefix_tokens {
            None => Vec::new(),
            Some(tokens) => (0..spec.prefixes as u64)
                .map(|group| {
                    let mut rng = Pcg64::seed_from_u64(seed ^ 0x5052_4546 ^ group.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    let mut message = String::from(r#"{"role":"system","content":""#);
                    tokenizer.synthesize(tokens as usize, &mut rng, &mut message);
                    message.push_str(r#""},"#);
                    (Bytes::from(message), tokens)
                })
                .collect(),
        };
        let tails = models.iter().map(|m| envelope::tail(spec.api, m, spec.stream)).collect();
        let maker = Maker {
            tokenizer,
            seed,
            run_seed,
            fixed,
            input: spec.input_tokens,
            output: spec.output_tokens,
            prefixes,
            dataset,
            order: spec.order,
            tails,
            api: spec.api,
            models: models.iter().map(|m| m.to_string()).collect(),
            stream: spec.stream,
            turns: spec.conversation.as_ref().and_then(|c| c.turns),
            history: spec.conversation.as_ref().map_or_else(History::default, |c| c.history),
        };
        Prompts { kind: Kind::Made(Box::new(maker)) }
    }

    /// Request `index`'s content; `shape` is its row of a trace with lengths.
    pub fn prepare(&self, index: u64, shape: Option<&RequestShape>) -> Prepared {
        match &self.kind {
            Kind::Fixed(bodies) => {
                let count = bodies.first().map_or(1, Vec::len).max(1) as u64;
                Prepared::Fixed((mix(index ^ 0x5151) % count) as usize)
            }
            Kind::Made(maker) => maker.prepare(index, shape),
        }
    }

    /// Session `number`'s plan, for a conversational class.
    pub fn session(&self, number: u64) -> Option<Session> {
        match &self.kind {
            Kind::Made(maker) => Some(maker.session(number)),
            Kind::Fixed(_) => None,
        }
    }

    /// Turn `turn` (from 0) of `session`: its messages, with the history the class keeps.
    pub fn turn(&self, session: &mut Session, turn: u32) -> Prepared {
        match &self.kind {
            Kind::Made(maker) => maker.turn(session, turn, maker.history),
            Kind::Fixed(_) => Prepared::Fixed(0),
        }
    }

    /// Records the answer `content` received for `session`'s last turn, counted by the class's tokenizer.
    pub fn answered(&self, session: &mut Session, content: &str) {
        if let Kind::Made(maker) = &self.kind {
            session.answered(content, |text| u32::try_from(maker.tokenizer.count(text)).unwrap_or(u32::MAX));
        }
    }

    /// The body of `prepared` for tier `tier`: `{"max_tokens":…,"messages":[…],"model":…}` and the stream keys,
    /// in the order serde_json writes them, its prefix and messages shared, not copied (or another API's
    /// envelope: see [`envelope`]).
    pub fn body(&self, prepared: &Prepared, tier: usize) -> RequestBody {
        match (&self.kind, prepared) {
            (Kind::Fixed(bodies), Prepared::Fixed(i)) => bodies[tier].get(*i).cloned().unwrap_or_default().into(),
            (Kind::Made(maker), Prepared::Made { prefix, own, max_tokens, .. }) => match maker.api {
                Api::Chat | Api::Responses => RequestBody::of([
                    envelope::head(maker.api, *max_tokens),
                    prefix.clone().unwrap_or_default(),
                    own.clone(),
                    maker.tails[tier].clone(),
                ]),
                Api::Completions | Api::Embeddings => {
                    let messages = [prefix.as_deref().unwrap_or_default(), own];
                    envelope::text(maker.api, &messages, &maker.models[tier], *max_tokens, maker.stream).into()
                }
            },
            _ => RequestBody::default(),
        }
    }

    /// The bytes held for the whole run whatever the requests in flight: shared prefixes and a dataset's lines.
    pub fn shared_bytes(&self) -> usize {
        match &self.kind {
            Kind::Fixed(_) => 0,
            Kind::Made(maker) => {
                let prefixes: usize = maker.prefixes.iter().map(|(p, _)| p.len()).sum();
                prefixes + maker.dataset.as_ref().map_or(0, |d| d.bytes())
            }
        }
    }
}

impl Maker {
    fn prepare(&self, index: u64, shape: Option<&RequestShape>) -> Prepared {
        let mut rng = Pcg64::seed_from_u64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // The same draws for every request, whichever are used, so one setting never shifts another's values.
        let (z_in, z_out): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
        let (group, line): (u64, u64) = (rng.random(), rng.random());
        let (mut prefix, mut input_tokens) = (None, 0u32);
        if !self.prefixes.is_empty() {
            let (bytes, tokens) = &self.prefixes[(group % self.prefixes.len() as u64) as usize];
            prefix = Some(bytes.clone());
            input_tokens += tokens;
        }
        let (own, tokens, made, max_tokens) = match shape {
            Some(shape) => {
                let (own, tokens) = self.traced_user(shape, &mut rng);
                (own, tokens, true, shape.output_tokens)
            }
            None => {
                let (own, tokens, made) = self.user(index, z_in, line, &mut rng);
                (own, tokens, made, self.output.at(z_out))
            }
        };
        Prepared::Made { prefix, own, made, max_tokens, input_tokens: input_tokens + tokens }
    }

    /// The request's own messages (a dataset line, or a user message of drawn length), their tokens, and
    /// whether they were made for it (a dataset's line or a fixed prompt is shared).
    fn user(&self, index: u64, z: f64, line: u64, rng: &mut Pcg64) -> (Bytes, u32, bool) {
        if let Some(d) = &self.dataset {
            let n = d.prompts.len() as u64;
            let i = match self.order {
                PromptOrder::Sequential => index % n,
                PromptOrder::Random => line % n,
            };
            let (array, tokens) = &d.prompts[i as usize];
            // The line's messages without their brackets, after the prefix (if any).
            return (array.slice(1..array.len() - 1), *tokens, false);
        }
        let Some(length) = self.input else {
            // Fixed prompts, taken in turn by request number as a class without drawn lengths takes them.
            let (message, tokens) = &self.fixed[(mix(index ^ 0x5151) % self.fixed.len().max(1) as u64) as usize];
            return (message.clone(), *tokens, false);
        };
        let tokens = length.at(z);
        let mut out = String::from(r#"{"role":"user","content":""#);
        self.tokenizer.synthesize(tokens as usize, rng, &mut out);
        out.push_str(r#""}"#);
        (Bytes::from(out), tokens, true)
    }

    /// A traced request's user message: its `hash_ids` blocks (each block's text from its id alone, so that
    /// requests naming the same ids open with the same bytes), then text of its own up to its length.
    fn traced_user(&self, shape: &RequestShape, rng: &mut Pcg64) -> (Bytes, u32) {
        let mut content = String::from(r#"{"role":"user","content":""#);
        let opening = content.len();
        let mut left = shape.input_tokens;
        for id in &shape.hash_ids {
            let block = left.min(BLOCK_TOKENS);
            let mut block_rng =
                Pcg64::seed_from_u64(self.run_seed ^ 0x4841_5348 ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut text = String::new();
            // A block opens with a word that is one token with or without the space before it.
            self.tokenizer.synthesize(block as usize, &mut block_rng, &mut text);
            if content.len() > opening && !text.is_empty() {
                content.push(' ');
            }
            content.push_str(&text);
            left -= block;
        }
        match content.len() == opening {
            true => self.tokenizer.synthesize_opening(left as usize, rng, &mut content),
            false => self.tokenizer.synthesize(left as usize, rng, &mut content),
        }
        content.push_str(r#""}"#);
        (Bytes::from(content), shape.input_tokens)
    }
}

/// A class's tokenizer: an embedded encoding (built on first use), or its file's, read once for the process when
/// [`PromptInputs::read`] checked it. A file that cannot be read (only a caller that skipped that check can meet
/// one) counts as the default encoding.
pub fn tokenizer_of(spec: &PromptSpec) -> &'static Tokenizer {
    spec.tokenizer.load().unwrap_or_else(|_| Tokenizer::get(TokenizerName::default()))
}

/// A fast, well-mixed hash of request numbers (splitmix64), for choices that must not depend on timing.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
