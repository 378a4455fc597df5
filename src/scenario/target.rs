//! Where requests go: the target, model tiers and their endpoints, request classes, failover and served-by.

use super::prompts::{PromptOrder, PromptSpec, TokenLength};
use super::{Api, StatusPattern};
use crate::units::{ByteSize, HumanDuration, Ratio};
use serde::{Deserialize, Serialize};
use slacheck_common::tokenizer_file::TokenizerChoice;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A real endpoint, e.g. `https://gateway.example.com/v1/chat/completions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The name of an in-process mock provider (`"default"`: a fault-free one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<String>,
    /// The OpenAI API the body speaks: `"chat"` (default), `"completions"`, `"embeddings"` or `"responses"`; it
    /// decides the usage read from answers and a mock's path.
    #[serde(default, skip_serializing_if = "is_chat")]
    pub endpoint: Api,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A file whose bytes are the body, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<PathBuf>,
    /// Name of the environment variable holding the API key (sent as `Authorization: Bearer …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub http: HttpVersion,
    /// Verify the server's TLS certificate (its chain and its name); `false` accepts any certificate, as k6's
    /// `insecureSkipTLSVerify` and vegeta's `-insecure` do, and summary.json and the terminal say so.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub tls_verify: bool,
    /// A client certificate (PEM, its chain after it) for servers that require one (mTLS), relative to the
    /// scenario file; with `tls_client_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1), relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_key: Option<PathBuf>,
    /// The longest response body read; a longer one fails as `body too large` and its connection is dropped.
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
    /// The header that carries each logical request's unique id, so that a request in requests.parquet can be
    /// found in the gateway's own logs; `""` sends none.
    #[serde(default = "default_request_id_header")]
    pub request_id_header: String,
    /// Response headers kept per request in requests.parquet (e.g. `["x-litellm-call-id"]`), at most
    /// [`MAX_CAPTURE_HEADERS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capture_headers: Vec<String>,
}

/// Whether `name` can name an environment variable as a shell writes one: `[A-Za-z_][A-Za-z0-9_]*`. Anything
/// else given as `api_key_env` (a key, `Bearer sk-…`) is most likely the secret itself, and is never echoed.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What `api_key_env` (or `init --api-key-env`) says when it is not a variable's name; the value is not shown.
pub const NOT_AN_ENV_NAME: &str = "not the name of an environment variable (letters, digits and `_`, not starting \
     with a digit, e.g. \"GATEWAY_API_KEY\"); name the variable that holds the key, not the key (the value given is \
     not shown)";

/// The most response headers `capture_headers` may name: each is a column of requests.parquet.
pub const MAX_CAPTURE_HEADERS: usize = 16;

fn is_chat(api: &Api) -> bool {
    *api == Api::Chat
}

fn default_request_id_header() -> String {
    "x-request-id".into()
}

/// Bodies of LLM answers are kilobytes; 16 MiB leaves room for any real one and bounds what a broken upstream
/// can make the generator hold.
fn default_max_body() -> ByteSize {
    ByteSize(16 << 20)
}

/// A model tier: where its requests go, which model they name, what its tokens cost.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<String>,
    /// Several endpoints in regions, instead of one `url` or `mock`; requests are split by weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointSpec>,
    /// The OpenAI API its requests speak: `"chat"` (default), `"completions"`, `"embeddings"` or `"responses"`.
    /// Its classes' bodies and the usage read follow it; a mock serves it on its own path, a `url` is used as
    /// written.
    #[serde(default, skip_serializing_if = "is_chat")]
    pub endpoint: Api,
    pub model: String,
    /// Per attempt on this tier; default: `target.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// US dollars per million input (prompt) tokens.
    #[serde(default)]
    pub price_input: f64,
    /// US dollars per million output (completion) tokens.
    #[serde(default)]
    pub price_output: f64,
}

/// One endpoint of a tier, in a region.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<String>,
    /// Relative share of the tier's requests.
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// A kind of request, its share of the traffic and where it starts.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    pub name: String,
    /// Relative share of the traffic (e.g. 90 and 10).
    pub weight: f64,
    /// The tier it is sent to first.
    pub tier: String,
    /// Tiers tried after it, in order; default: the tiers after `tier` in `failover.chain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<String>>,
    /// User messages, taken in turn.
    #[serde(default = "default_prompts")]
    pub prompts: Vec<String>,
    /// The answer's length asked for (default 16); or `output_tokens` for a distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    /// Prompt length in tokens, instead of `prompts`: a number, or `{ mean, stddev, min, max }` drawn per request
    /// from the seed; slacheck writes seeded text of exactly that many tokens (by `tokenizer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<TokenLength>,
    /// The answer's length asked for (`max_tokens`), as a number or a distribution like `input_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<TokenLength>,
    /// A shared system prompt of this many tokens before each request's own text (exercises prompt caches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_tokens: Option<u32>,
    /// How many distinct shared prefixes (default 1): each request takes one, drawn from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<u32>,
    /// A JSON Lines file of prompts, relative to the scenario, instead of `prompts`: an OpenAI `messages` array
    /// per line, `{"messages": [...]}`, or `{"prompt": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts_file: Option<PathBuf>,
    /// `random` (default: drawn from the seed) or `sequential` (request k takes line k).
    #[serde(default)]
    pub order: PromptOrder,
    /// The tokenizer that counts and writes tokens: `o200k_base` (default), `cl100k_base`, or the served model's
    /// own `{ file = "tokenizer.json" }` (a Hugging Face tokenizer file, relative to the scenario).
    #[serde(default)]
    pub tokenizer: TokenizerChoice,
    /// Sessions of several turns whose history grows (`{ turns, think_time, history, session_header }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<super::conversation::ConversationSpec>,
    /// Clients that hang up: `{ share = "5%", after = "300ms" }` or `{ share = "5%", after_tokens = 20 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelSpec>,
}

/// A share of a class's requests whose client goes away before the answer ends, as a user who closes the tab:
/// after a time from the request's send, or after some tokens of a streamed answer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSpec {
    /// The share of the class's requests that hang up (e.g. `"5%"`), drawn from the seed and each request's number.
    pub share: Ratio,
    /// Hang up this long after the request was sent (an answer complete before then is not cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<HumanDuration>,
    /// Hang up once this many tokens of a streamed answer arrived (content events, as a stream without usage
    /// counts them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_tokens: Option<u32>,
}

impl CancelSpec {
    /// What is wrong with it for a class that streams or not: `(the key within it, the message)`.
    pub fn problem(&self, stream: bool) -> Option<(&'static str, String)> {
        if !(self.share.0 > 0.0 && self.share.0 <= 1.0) {
            return Some(("share", "give a share above 0% and at most 100%".into()));
        }
        match (self.after, self.after_tokens) {
            (Some(_), Some(_)) | (None, None) => {
                Some(("after", "set one of `after` (a time) or `after_tokens`".into()))
            }
            (Some(d), None) if d.0.is_zero() => Some(("after", "hang up after more than 0s".into())),
            (None, Some(0)) => Some(("after_tokens", "hang up after at least 1 token".into())),
            (None, Some(_)) if !stream => {
                Some(("after_tokens", "only a streamed answer arrives token by token: set `stream = true`".into()))
            }
            _ => None,
        }
    }
}

/// The answer length asked for when a class names none.
pub const DEFAULT_MAX_TOKENS: u32 = 16;

impl ClassSpec {
    /// The one class of a scenario without `[[classes]]`: "ping", 16 tokens, starting at the first tier.
    pub fn implicit() -> Self {
        ClassSpec {
            name: "default".into(),
            weight: 1.0,
            tier: String::new(),
            fallbacks: None,
            prompts: default_prompts(),
            max_tokens: None,
            stream: false,
            input_tokens: None,
            output_tokens: None,
            prefix_tokens: None,
            prefixes: None,
            prompts_file: None,
            order: PromptOrder::Random,
            tokenizer: TokenizerChoice::default(),
            conversation: None,
            cancel: None,
        }
    }

    /// What the `prompt` stage needs of this class; `dir` is the scenario's folder, `api` its tiers' endpoint.
    pub fn prompt_spec(&self, dir: &std::path::Path, api: Api) -> PromptSpec {
        PromptSpec {
            prompts: self.prompts.clone(),
            input_tokens: self.input_tokens,
            output_tokens: self
                .output_tokens
                .unwrap_or(TokenLength::Fixed(self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as f64)),
            prefix_tokens: self.prefix_tokens,
            prefixes: self.prefixes.unwrap_or(1),
            prompts_file: self.prompts_file.as_ref().map(|f| dir.join(f)),
            order: self.order,
            tokenizer: self.tokenizer.resolved(dir),
            stream: self.stream,
            conversation: self.conversation.clone(),
            api,
        }
    }
}

/// What the router is built from ([`LoadedScenario::routing`](super::LoadedScenario::routing)): the router stage
/// receives this part and nothing else of the scenario.
#[derive(Debug)]
pub struct RoutingSpec<'a> {
    pub target: &'a Target,
    /// The `[[tiers]]`; empty when every request goes to `target` as one implicit tier.
    pub tiers: &'a [TierSpec],
    /// The implicit tier's name (the target's mock, or "target").
    pub implicit_tier: String,
    /// The classes, never empty: without `[[classes]]`, [`ClassSpec::implicit`].
    pub classes: Vec<ClassSpec>,
    /// The tiers each class tries, in order (indices into `tiers`).
    pub class_orders: Vec<Vec<usize>>,
    pub failover: &'a FailoverSpec,
    pub served_by: Option<&'a ServedBySpec>,
    pub success_statuses: &'a [StatusPattern],
    pub max_in_flight: usize,
    /// `load.max_connections`: the most connections to each endpoint.
    pub max_connections: Option<usize>,
    /// `load.connections`: a closed loop's requests at once.
    pub closed_loop: Option<usize>,
    /// `load.streams_per_connection` (HTTP/2).
    pub streams_per_connection: Option<usize>,
    pub seed: u64,
    /// Each class's prompt settings, in the order of `classes`.
    pub prompts: Vec<PromptSpec>,
    /// How https connections are made.
    pub tls: super::tls::TlsSpec,
    /// `load.max_request_memory`, in bytes.
    pub max_request_memory: u64,
}

fn default_prompts() -> Vec<String> {
    vec!["ping".into()]
}

/// When and how a request moves on to the next tier.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Tier order for failover, e.g. `["default", "fallback"]`.
    #[serde(default)]
    pub chain: Vec<String>,
    /// Statuses that trigger a retry or failover.
    #[serde(default = "default_failover_statuses")]
    pub on_status: Vec<u16>,
    /// Fail over when an attempt times out (its tier's timeout).
    #[serde(default = "yes")]
    pub on_timeout: bool,
    /// Fail over when the connection fails or breaks.
    #[serde(default = "yes")]
    pub on_transport: bool,
    /// Give up on an attempt that takes longer than this and try the next tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_budget: Option<HumanDuration>,
    /// Extra attempts on the same tier before moving on.
    #[serde(default)]
    pub retries: u32,
    /// First backoff before a retry; doubled each time, with full jitter, up to `backoff_cap`.
    #[serde(default = "default_backoff")]
    pub backoff: HumanDuration,
    #[serde(default = "default_backoff_cap")]
    pub backoff_cap: HumanDuration,
    /// Header carrying one key per logical request, the same on each of its attempts.
    #[serde(default = "default_idempotency_header")]
    pub idempotency_header: String,
    /// Hedging: when the first tier has not answered after this long, send a duplicate to the next tier and
    /// keep the first success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_after: Option<HumanDuration>,
    /// At most this share of requests is hedged (default 10%).
    #[serde(default = "default_hedge_share")]
    pub hedge_max_share: Ratio,
    /// A failover episode ends when the primary has served this many requests in a row again (default 20).
    #[serde(default = "default_recover_after")]
    pub recover_after: u32,
}

fn default_recover_after() -> u32 {
    20
}

fn default_hedge_share() -> Ratio {
    Ratio(0.1)
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}
fn default_failover_statuses() -> Vec<u16> {
    vec![429, 500, 502, 503, 504]
}
fn default_backoff() -> HumanDuration {
    HumanDuration(Duration::from_millis(50))
}
fn default_backoff_cap() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_idempotency_header() -> String {
    "idempotency-key".into()
}

impl Default for FailoverSpec {
    fn default() -> Self {
        FailoverSpec {
            enabled: true,
            chain: Vec::new(),
            on_status: default_failover_statuses(),
            on_timeout: true,
            on_transport: true,
            latency_budget: None,
            retries: 0,
            backoff: default_backoff(),
            backoff_cap: default_backoff_cap(),
            idempotency_header: default_idempotency_header(),
            hedge_after: None,
            hedge_max_share: default_hedge_share(),
            recover_after: default_recover_after(),
        }
    }
}

/// What a gateway says about itself: where the serving upstream is read from (a header, or a JSON pointer
/// into the body), which upstream is the primary, and its own marker of an internal failover.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServedBySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// The upstream that serves when all is well; absent: the one that served most of the first successes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// A response header whose value above 0 (or `true`) says the gateway failed over internally, e.g.
    /// `x-litellm-attempted-fallbacks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_over: Option<FailoverMarker>,
}

/// A gateway's own marker of an internal failover.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverMarker {
    pub header: String,
}

/// Where the serving upstream is read from a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServedBy {
    Header(String),
    Json(String),
}

impl ServedBySpec {
    /// The source of the upstream's name: exactly one of `header` and `json` (checked with the scenario).
    pub fn source(&self) -> Option<ServedBy> {
        match (&self.header, &self.json) {
            (Some(h), None) => Some(ServedBy::Header(h.clone())),
            (None, Some(p)) => Some(ServedBy::Json(p.clone())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub enum HttpVersion {
    /// HTTP/1.1 (the default).
    #[default]
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 (over TLS by ALPN, or cleartext with prior knowledge).
    #[serde(rename = "2")]
    Http2,
}

fn default_method() -> String {
    "POST".into()
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
