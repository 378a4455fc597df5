//! mock-upstream: fake OpenAI-compatible LLM providers with fault injection.
//!
//! - [`config`]: what a provider serves and which faults it injects (TOML, serde).
//! - [`provider`]: the fault logic as plain code: one decision per request, stats, run-time control.
//! - [`server`]: a hyper server over a provider (streams SSE token by token; flat memory).
//! - [`wiremock_support`]: the same fault logic as a wiremock responder, for wiremock-based tests.
//! - [`units`]: durations, rates, ratios and windows written as people write them.
//!
//! This crate depends on nothing of slacheck; slacheck starts its providers in-process.

pub mod config;
pub mod openai;
pub mod provider;
pub mod server;
pub mod tomlfile;
pub mod units;
pub mod wiremock_support;

pub use config::{MockConfig, ProviderConfig};
pub use provider::{Provider, Stats};
pub use server::{start, RunningProvider, ServeError};
