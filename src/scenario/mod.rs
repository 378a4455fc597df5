//! The scenario file: what to load, how hard, and which SLA must hold.
//!
//! A scenario is TOML read with serde; every table rejects unknown keys, and every problem (syntax, a bad value,
//! a missing field, values that contradict each other) is reported with the file, line, column and field.
//! The format is documented key by key in `scenarios/README.md`.
//!
//! - [`target`]: where requests go: the target, tiers, classes, failover and served-by.
//! - [`prompts`]: what a class's requests say: token lengths, shared prefixes, a dataset, the tokenizer.
//! - [`conversation`]: a conversational class's sessions: turns, think time, history, session id header.
//! - [`load`]: the `[load]` table, from which `profile` builds the schedule.
//! - [`sla`]: the `[sla]` table: limits, windows, success statuses.
//! - [`commands`]: settings of the commands above `run` (capacity search, compare tolerances), as plain data.
//! - [`scrape`]: `[[scrape]]`: a Prometheus endpoint scraped during the run, and what its counters reconcile with.
//! - [`check`]: the checks made once a file is read, each error placed at its field.
//! - [`overrides`]: `--set KEY=VALUE`.
//! - [`starter`]: the commented starter scenario `slacheck init` writes.
//! - [`schema`]: the format's JSON Schema, for editors.

pub mod api;
mod check;
pub mod commands;
pub mod conversation;
pub mod load;
mod overrides;
pub mod prompts;
pub mod schema;
pub mod scrape;
pub mod sla;
pub mod starter;
pub mod target;
pub mod tls;

pub use api::Api;
pub use commands::*;
pub use load::*;
pub use sla::*;
pub use target::*;

use mock_upstream::ProviderConfig;
use serde::{Deserialize, Serialize};
use slacheck_common::tomlfile::{self, FileError};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub target: Target,
    pub load: Load,
    #[serde(default)]
    pub sla: Sla,
    /// Model tiers routed client-side (`[[tiers]]`); without them every request goes to `target`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierSpec>,
    /// Request classes and their share of the traffic (`[[classes]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassSpec>,
    #[serde(default)]
    pub failover: FailoverSpec,
    /// Where a gateway says which upstream served a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<ServedBySpec>,
    /// Defaults for `slacheck compare` and `run --baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareSpec>,
    /// Defaults for `slacheck capacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacitySpec>,
    /// Fake providers started in-process (`[[mock.providers]]`), for `target.mock` or a tier's `mock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<MockSection>,
    /// Prometheus endpoints scraped before, during and after the run (`[[scrape]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape: Vec<scrape::ScrapeSpec>,
}

impl Scenario {
    /// A gateway (served-by, no tiers of slacheck's own) without a failover marker: its internal first attempts
    /// cannot be seen, so a failover is inferred from who served (another upstream than the class's primary).
    pub fn infers_failover(&self) -> bool {
        self.tiers.is_empty() && self.served_by.as_ref().is_some_and(|s| s.failed_over.is_none())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockSection {
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

/// The most windows `[sla] window` may cut a run into: each keeps a full-range histogram (about 190 KB).
pub const MAX_WINDOWS: usize = 1_000;

/// The largest request body file: every request carries a copy, and real prompts are far smaller.
pub const MAX_BODY_FILE: u64 = 64 << 20;

/// A scenario read from disk, with what is needed to report problems against its text.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    pub path: PathBuf,
    pub source: String,
}

impl LoadedScenario {
    /// Reads, parses and checks a scenario file.
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let (scenario, source) = tomlfile::read::<Scenario>(path)?;
        let loaded = LoadedScenario { scenario, path: path.to_path_buf(), source };
        loaded.check()?;
        Ok(loaded)
    }

    /// An error about `field`, placed where it is written in this file.
    pub fn error(&self, field: &str, message: impl Into<String>) -> FileError {
        tomlfile::error_at(&self.path, &self.source, field, message)
    }

    /// The bytes of `target.body_file`: a regular file of at most [`MAX_BODY_FILE`] bytes.
    pub fn body_file_bytes(&self, file: &Path) -> Result<Vec<u8>, FileError> {
        tomlfile::read_regular(&self.resolve(file), MAX_BODY_FILE).map_err(|e| self.error("target.body_file", e))
    }

    /// A path written in the scenario, taken relative to the scenario file's folder.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(relative)
    }

    /// The windows `[sla] window` asks for, as (start s, end s) within a run of `duration`.
    pub fn sla_windows(&self, duration: Duration) -> Vec<(f64, f64)> {
        let end = duration.as_secs_f64();
        let load = &self.scenario.load;
        match self.scenario.sla.window {
            None => Vec::new(),
            Some(WindowSpec::Every(w)) => {
                let w = w.as_secs_f64();
                (0..).map(|k| k as f64 * w).take_while(|s| *s < end).map(|s| (s, (s + w).min(end))).collect()
            }
            Some(WindowSpec::Burst) => {
                let (every, lasts) = match (load.burst_every, load.burst_for) {
                    (Some(e), Some(f)) => (e.0.as_secs_f64(), f.0.as_secs_f64()),
                    _ => return Vec::new(),
                };
                (0..)
                    .map(|k| k as f64 * every + every - lasts)
                    .take_while(|s| *s < end)
                    .map(|s| (s, (s + lasts).min(end)))
                    .collect()
            }
        }
    }

    /// The mock providers to start for this scenario, their files taken relative to the scenario: every declared
    /// one (even when the targets are URLs, so that a gateway or proxy on this machine can be pointed at one on its
    /// `port`), or "default" when a target names a mock and none is declared.
    pub fn mock_providers(&self) -> Vec<ProviderConfig> {
        let s = &self.scenario;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let declared = s.mock.iter().flat_map(|m| m.providers.iter().map(|p| p.clone().resolved(dir)));
        let declared: Vec<ProviderConfig> = declared.collect();
        if !declared.is_empty() {
            return declared;
        }
        let tier_mocks = s.tiers.iter().any(|t| t.mock.is_some() || t.endpoints.iter().any(|e| e.mock.is_some()));
        if s.target.mock.is_none() && !tier_mocks {
            return Vec::new();
        }
        vec![ProviderConfig::named("default")]
    }

    /// The tiers each class tries, in order (indices into `tiers`). Without classes: one class starting at the
    /// first tier of the chain (or the first tier).
    pub fn class_orders(&self) -> Vec<Vec<usize>> {
        let s = &self.scenario;
        let index = |name: &str| s.tiers.iter().position(|t| t.name == name);
        let chain: Vec<usize> = s.failover.chain.iter().filter_map(|n| index(n)).collect();
        let order_from = |first: usize, fallbacks: Option<&Vec<String>>| -> Vec<usize> {
            let rest: Vec<usize> = match fallbacks {
                Some(list) => list.iter().filter_map(|n| index(n)).collect(),
                None => chain.iter().skip_while(|t| **t != first).skip(1).copied().collect(),
            };
            std::iter::once(first).chain(rest).collect()
        };
        if s.classes.is_empty() {
            return vec![order_from(chain.first().copied().unwrap_or(0), None)];
        }
        s.classes.iter().map(|c| order_from(index(&c.tier).unwrap_or(0), c.fallbacks.as_ref())).collect()
    }

    /// The endpoint each class's requests speak: its first tier's (the check makes its other tiers agree), or
    /// `[target]`'s without tiers.
    pub fn class_apis(&self) -> Vec<Api> {
        let s = &self.scenario;
        let api =
            |order: &Vec<usize>| order.first().and_then(|t| s.tiers.get(*t)).map_or(s.target.endpoint, |t| t.endpoint);
        self.class_orders().iter().map(api).collect()
    }

    /// The run's tiers as (name, mock provider): the `[[tiers]]`, or without them one implicit tier, named
    /// after the target's mock (or "target"). The one place where that rule is written.
    pub fn tiers(&self) -> Vec<(String, Option<&String>)> {
        let s = &self.scenario;
        if s.tiers.is_empty() {
            vec![(s.target.mock.clone().unwrap_or_else(|| "target".into()), s.target.mock.as_ref())]
        } else {
            s.tiers.iter().map(|t| (t.name.clone(), t.mock.as_ref())).collect()
        }
    }

    /// The part of the scenario the router is built from, with the implicit tier and class filled in.
    pub fn routing(&self) -> RoutingSpec<'_> {
        let s = &self.scenario;
        let classes = if s.classes.is_empty() { vec![ClassSpec::implicit()] } else { s.classes.clone() };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let apis = self.class_apis();
        let prompts = classes.iter().zip(apis).map(|(c, api)| c.prompt_spec(dir, api)).collect();
        RoutingSpec {
            target: &s.target,
            tiers: &s.tiers,
            implicit_tier: self.tiers().swap_remove(0).0,
            classes,
            class_orders: self.class_orders(),
            failover: &s.failover,
            served_by: s.served_by.as_ref(),
            success_statuses: &s.sla.success_statuses,
            max_in_flight: s.load.max_in_flight,
            max_connections: s.load.max_connections,
            closed_loop: s.load.connections,
            streams_per_connection: s.load.streams_per_connection,
            seed: s.load.seed,
            prompts,
            tls: self.tls(),
            max_request_memory: s.load.max_request_memory.0,
        }
    }

    /// `[target]`'s TLS settings, its files' paths resolved against the scenario's folder.
    pub fn tls(&self) -> tls::TlsSpec {
        let t = &self.scenario.target;
        let client_auth = match (&t.tls_client_cert, &t.tls_client_key) {
            (Some(cert), Some(key)) => Some((self.resolve(cert), self.resolve(key))),
            _ => None,
        };
        tls::TlsSpec { verify: t.tls_verify, client_auth }
    }

    /// Names of the tiers and classes a run will have (the implicit ones without `[[tiers]]` / `[[classes]]`).
    pub fn tier_and_class_names(&self) -> (Vec<String>, Vec<String>) {
        let s = &self.scenario;
        let tiers = self.tiers().into_iter().map(|(name, _)| name).collect();
        let classes = if s.classes.is_empty() {
            vec!["default".into()]
        } else {
            s.classes.iter().map(|c| c.name.clone()).collect()
        };
        (tiers, classes)
    }
}

#[cfg(test)]
mod tests;
