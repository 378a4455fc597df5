//! mock-upstream: fake OpenAI-compatible LLM providers with fault injection.
//!
//! - [`config`]: what a provider serves and which faults it injects (TOML, serde).
//! - [`provider`]: the fault logic as plain code: one decision per request, stats, run-time control.
//! - [`server`]: a hyper server over a provider (streams SSE token by token; flat memory).
//! - `wiremock_support` (feature `wiremock`): the same fault logic as a wiremock responder, for tests.
//! - [`units`]: durations, rates, ratios, windows and sizes written as people write them.
//! - [`tomlfile`]: reading TOML (and any bounded regular file) with errors that name file, line, column and field.
//! - [`openai`]: the OpenAI chat-completions shapes the providers answer with.
//!
//! This crate depends on nothing of slacheck; slacheck starts its providers in-process.

pub mod config;
pub mod openai;
pub mod provider;
pub mod server;
pub mod tomlfile;
pub mod units;
#[cfg(feature = "wiremock")]
pub mod wiremock_support;

pub use config::{MockConfig, ProviderConfig};
pub use provider::{Provider, Stats};
pub use server::{start, RunningProvider, ServeError};
