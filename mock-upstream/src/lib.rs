//! mock-upstream: fake OpenAI-compatible LLM providers with fault injection.
//!
//! - [`config`]: what a provider serves and which faults it injects (TOML, serde).
//! - [`provider`]: the fault logic as plain code: one decision per request, stats, run-time control.
//! - [`tokens`]: answers whose time follows their tokens: prefill per prompt token, decode per answer token.
//! - [`ledger`]: the tokens produced for each request id, and whether its client went away first.
//! - [`generation`]: one answer's life: its tokens as they are made, and its time by the model, counted once.
//! - [`metrics`]: `GET /metrics`: a provider's counters in the Prometheus text format, for scrapers.
//! - [`server`]: a hyper server over a provider (streams SSE token by token; flat memory).
//! - `wiremock_support` (feature `wiremock`): the same fault logic as a wiremock responder, for tests.
//! - [`openai`]: the OpenAI chat-completions shapes the providers answer with.
//! - [`apis`]: legacy completions, embeddings and the Responses API, answered beside chat.
//! - [`cli`]: the `mock-upstream` command line (its binary is built by the `slacheck` package).
//!
//! This crate depends on nothing of slacheck but the shared leaf `slacheck-common` (units, TOML files); slacheck starts its providers in-process.

pub mod apis;
pub mod cli;
pub mod config;
pub mod generation;
pub mod ledger;
pub mod metrics;
pub mod openai;
pub mod provider;
pub mod server;
pub mod tokens;
#[cfg(feature = "wiremock")]
pub mod wiremock_support;

pub use config::{MockConfig, ProviderConfig};
pub use provider::{Provider, Stats, Timing};
pub use server::{bind, start, BoundProvider, RunningProvider, ServeError};
/// Units and located TOML errors come from the leaf both crates share.
pub use slacheck_common::{tomlfile, units};
