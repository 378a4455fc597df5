//! The scenario file: what to load, how hard, and which SLA must hold.
//!
//! A scenario is TOML read with serde; every table rejects unknown keys, and every problem (syntax, a bad value,
//! a missing field, values that contradict each other) is reported with the file, line, column and field.
//! The format is documented key by key in `scenarios/README.md`.

use crate::units::{HumanDuration, Rate, Ratio};
use mock_upstream::tomlfile::{self, FileError};
use mock_upstream::ProviderConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub target: Target,
    pub load: Load,
    #[serde(default)]
    pub sla: Sla,
    /// Fake providers started in-process (`[[mock.providers]]`), for `target.mock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<MockSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A real endpoint, e.g. `https://gateway.example.com/v1/chat/completions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The name of an in-process mock provider (`"default"`: a fault-free one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<String>,
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
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    Constant,
    Ramp,
    Steps,
    Burst,
    Spike,
    Sine,
    Trace,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced requests (wrk2's constant throughput).
    #[default]
    Uniform,
    /// A Poisson process with the profile's rate: independent arrivals, as real users make them.
    Poisson,
}

/// The offered load. Which keys a profile needs is listed in `scenarios/README.md`; the others must be absent.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub profile: ProfileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Rate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_every: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike_at: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplitude: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<HumanDuration>,
    /// A CSV or JSONL file of request offsets or per-second rates, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<PathBuf>,
    #[serde(default)]
    pub arrivals: Arrivals,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Requests in flight at most; a request due while the cap is reached is counted as not sent.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Closed loop with this many connections (wrk2's model): each free connection takes the next request of
    /// the schedule and waits for its answer. Latency still counts from the intended time, so a stall shows;
    /// service time is what a closed-loop tool without correction would report. Absent: open loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    /// Dispatcher lag p99 beyond which the run warns that the generator, not the target, was the bottleneck.
    #[serde(default = "default_lag_limit")]
    pub lag_limit: HumanDuration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub rate: Rate,
    #[serde(rename = "for")]
    pub lasts: HumanDuration,
}

fn default_seed() -> u64 {
    1
}
fn default_max_in_flight() -> usize {
    10_000
}
fn default_lag_limit() -> HumanDuration {
    HumanDuration(Duration::from_millis(10))
}

/// The promise to check. Absent targets are not checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<HumanDuration>,
    #[serde(default, rename = "p99.9", skip_serializing_if = "Option::is_none")]
    pub p99_9: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<HumanDuration>,
    /// Statuses that count as success: numbers (`200`) or classes (`"2xx"`). Default: `["2xx"]`.
    #[serde(default = "default_success")]
    pub success_statuses: Vec<StatusPattern>,
}

impl Default for Sla {
    fn default() -> Self {
        Sla {
            availability: None,
            p50: None,
            p90: None,
            p95: None,
            p99: None,
            p99_9: None,
            max: None,
            success_statuses: default_success(),
        }
    }
}

fn default_success() -> Vec<StatusPattern> {
    vec![StatusPattern::Class(2)]
}

/// A status code or a class of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Code(u16),
    Class(u16),
}

impl StatusPattern {
    pub fn matches(&self, status: u16) -> bool {
        match *self {
            StatusPattern::Code(c) => c == status,
            StatusPattern::Class(c) => status / 100 == c,
        }
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(i64),
            Text(String),
        }
        let bad = || serde::de::Error::custom("expected a status code such as 200 or a class such as \"2xx\"");
        match Raw::deserialize(d)? {
            Raw::Code(c) if (100..=599).contains(&c) => Ok(StatusPattern::Code(c as u16)),
            Raw::Text(t) if t.len() == 3 && t.ends_with("xx") => match t[..1].parse::<u16>() {
                Ok(c) if (1..=5).contains(&c) => Ok(StatusPattern::Class(c)),
                _ => Err(bad()),
            },
            Raw::Text(t) => {
                t.parse::<u16>().ok().filter(|c| (100..=599).contains(c)).map(StatusPattern::Code).ok_or_else(bad)
            }
            Raw::Code(_) => Err(bad()),
        }
    }
}

impl Serialize for StatusPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StatusPattern::Code(c) => s.serialize_u16(*c),
            StatusPattern::Class(c) => s.collect_str(&format_args!("{c}xx")),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MockSection {
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

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

    /// A path written in the scenario, taken relative to the scenario file's folder.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(relative)
    }

    /// The mock providers to start for this scenario (none for a real URL).
    pub fn mock_providers(&self) -> Vec<ProviderConfig> {
        match self.scenario.target.mock.as_deref() {
            None => Vec::new(),
            Some(_) => {
                let declared = self.scenario.mock.as_ref().map(|m| m.providers.clone()).unwrap_or_default();
                if declared.is_empty() {
                    vec![ProviderConfig::named("default")]
                } else {
                    declared
                }
            }
        }
    }

    fn check(&self) -> Result<(), FileError> {
        let s = &self.scenario;
        if s.name.trim().is_empty() || s.name.contains(['/', '\\']) {
            return Err(self.error("name", "give a non-empty name without slashes (it names the results folder)"));
        }
        self.check_target()?;
        crate::profile::Profile::from_scenario(self)?;
        self.check_sla()?;
        Ok(())
    }

    fn check_target(&self) -> Result<(), FileError> {
        let t = &self.scenario.target;
        match (&t.url, &t.mock) {
            (None, None) => {
                return Err(self.error("target", "set `url` (a real endpoint) or `mock` (an in-process mock provider)"))
            }
            (Some(_), Some(_)) => return Err(self.error("target.mock", "set either `url` or `mock`, not both")),
            (Some(url), None) => {
                let parsed = reqwest::Url::parse(url).map_err(|e| {
                    self.error(
                        "target.url",
                        format!(
                            "not a valid URL ({e}); expected e.g. \"https://gateway.example.com/v1/chat/completions\""
                        ),
                    )
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(self.error("target.url", "the URL must start with http:// or https://"));
                }
            }
            (None, Some(name)) => {
                let providers = self.mock_providers();
                if !providers.iter().any(|p| &p.name == name) {
                    let names: Vec<_> = providers.iter().map(|p| p.name.as_str()).collect();
                    return Err(self.error(
                        "target.mock",
                        format!("no mock provider named {name:?}; declared: {names:?} (with no [[mock.providers]], use \"default\")"),
                    ));
                }
            }
        }
        if t.mock.is_none() && self.scenario.mock.is_some() {
            return Err(
                self.error("mock", "[[mock.providers]] are only started for `target.mock`; remove them or set it")
            );
        }
        for (i, p) in self.scenario.mock.iter().flat_map(|m| m.providers.iter()).enumerate() {
            if let Err((field, message)) = p.check() {
                let field = field.split_once('.').map(|(_, f)| f.to_string()).unwrap_or(field);
                return Err(self.error(&format!("mock.providers[{i}].{field}"), message));
            }
            if p.port != 0 {
                return Err(self.error(
                    &format!("mock.providers[{i}].port"),
                    "in-process providers take a free port; remove `port`",
                ));
            }
        }
        if t.body.is_some() && t.body_file.is_some() {
            return Err(self.error("target.body_file", "set either `body` or `body_file`, not both"));
        }
        if let Some(file) = &t.body_file {
            std::fs::metadata(self.resolve(file)).map_err(|e| {
                self.error("target.body_file", format!("cannot read {}: {e}", self.resolve(file).display()))
            })?;
        }
        if reqwest::Method::from_bytes(t.method.as_bytes()).is_err() {
            return Err(self.error("target.method", format!("{:?} is not an HTTP method", t.method)));
        }
        for (name, value) in &t.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(self.error(&format!("target.headers.{name}"), "not a valid HTTP header name and value"));
            }
            if name.eq_ignore_ascii_case("authorization") {
                return Err(self.error(
                    &format!("target.headers.{name}"),
                    "do not write credentials in the scenario; name an environment variable with `api_key_env`",
                ));
            }
        }
        if let Some(var) = &t.api_key_env {
            if var.is_empty() || var.contains('=') {
                return Err(self.error(
                    "target.api_key_env",
                    "give the name of an environment variable, e.g. \"GATEWAY_API_KEY\"",
                ));
            }
        }
        if t.timeout.0.is_zero() {
            return Err(self.error("target.timeout", "must be above zero"));
        }
        let load = &self.scenario.load;
        if load.max_in_flight == 0 {
            return Err(self.error("load.max_in_flight", "must be at least 1"));
        }
        match load.connections {
            Some(0) => return Err(self.error("load.connections", "must be at least 1")),
            Some(c) if c > load.max_in_flight => {
                return Err(
                    self.error("load.connections", format!("must not exceed max_in_flight ({})", load.max_in_flight))
                )
            }
            _ => {}
        }
        Ok(())
    }

    fn check_sla(&self) -> Result<(), FileError> {
        let sla = &self.scenario.sla;
        // Written limits must not contradict each other: a higher percentile cannot have a lower limit.
        let limits = [
            ("p50", sla.p50),
            ("p90", sla.p90),
            ("p95", sla.p95),
            ("p99", sla.p99),
            ("p99.9", sla.p99_9),
            ("max", sla.max),
        ];
        let written: Vec<_> = limits.iter().filter_map(|(n, v)| v.map(|v| (*n, v))).collect();
        for pair in written.windows(2) {
            let ((lo_name, lo), (hi_name, hi)) = (pair[0], pair[1]);
            if hi < lo {
                let field = if hi_name.contains('.') { format!("sla.\"{hi_name}\"") } else { format!("sla.{hi_name}") };
                return Err(self.error(
                    &field,
                    format!(
                        "{hi_name} = {hi} is below {lo_name} = {lo}; a higher percentile cannot have a lower limit"
                    ),
                ));
            }
        }
        if sla.success_statuses.is_empty() {
            return Err(self.error("sla.success_statuses", "list at least one status that counts as success"));
        }
        Ok(())
    }
}
