//! Which OpenAI API a tier's requests speak (`endpoint`): the body slacheck builds, the usage it reads, whether
//! the answer may stream, and the path an in-process mock serves it on.
//!
//! It is a tier's field (and `[target]`'s), not a class's: a tier is one upstream API, its URL and its `model`
//! both belong to one endpoint (an embedding model serves no chat), and a class that failed over from a chat
//! tier to an embeddings tier would be sending another request, so a class's tiers must share their endpoint.

use serde::{Deserialize, Serialize};

/// An OpenAI request shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `/v1/chat/completions`: `messages`, `max_tokens`; usage `prompt_tokens` and `completion_tokens`.
    #[default]
    Chat,
    /// `/v1/completions` (legacy): `prompt`, `max_tokens`; the answer in `choices[].text`.
    Completions,
    /// `/v1/embeddings`: `input`; usage `prompt_tokens` only; never streams.
    Embeddings,
    /// `/v1/responses`: `input`, `max_output_tokens`; usage `input_tokens` and `output_tokens`; streamed as typed
    /// events (`response.output_text.delta` … `response.completed`).
    Responses,
}

impl Api {
    /// Its path under a provider's base URL, as OpenAI serves it (and the mock does).
    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Completions => "/v1/completions",
            Api::Embeddings => "/v1/embeddings",
            Api::Responses => "/v1/responses",
        }
    }

    /// Whether its answers can stream.
    pub fn streams(self) -> bool {
        self != Api::Embeddings
    }

    /// Whether its answers are text that a conversation's next turn can carry back as history in `messages`
    /// (chat) or `input` (responses).
    pub fn converses(self) -> bool {
        matches!(self, Api::Chat | Api::Responses)
    }

    /// The API of a name as a scenario writes it.
    pub fn named(name: &str) -> Option<Api> {
        [Api::Chat, Api::Completions, Api::Embeddings, Api::Responses].into_iter().find(|a| a.name() == name)
    }

    /// Its name in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Completions => "completions",
            Api::Embeddings => "embeddings",
            Api::Responses => "responses",
        }
    }
}
