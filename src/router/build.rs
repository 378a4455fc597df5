//! Building a [`Router`] from the scenario's routing part ([`RoutingSpec`]): its tiers (or the one implicit
//! target), classes with their bodies, the failover policy, the HTTP client and the request headers (the API key
//! among them, never shown).

use super::client::{LeanTarget, Protocol};
use super::{mix, Class, Endpoint, Policy, Router, Tier};
use crate::prompt::{PromptInputs, Prompts};
use crate::scenario::{Api, HttpVersion, RoutingSpec};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use std::time::Duration;

/// Why a router could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("target unreachable at start: {0}")]
    Unreachable(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("target.headers.{0}: not a valid HTTP header")]
    Header(String),
    #[error("the API key is not a valid header value (it is not shown here)")]
    ApiKey,
    /// A CA variable that trusts nothing: every handshake would fail as if the target were at fault.
    #[error("{var}={}: {message}; point it at PEM certificates, or unset it to trust the system's roots", value.to_string_lossy())]
    CaVariable { var: &'static str, value: std::ffi::OsString, message: String },
    #[error("TLS: {0}")]
    Tls(String),
}

impl BuildError {
    /// Whether the error is the scenario's or the command line's (exit 2) rather than the target's (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(self, BuildError::Header(_) | BuildError::ApiKey | BuildError::CaVariable { .. } | BuildError::Tls(_))
    }
}

/// The router for a scenario's routing part: its tiers (or the one implicit target), classes and failover policy.
/// `mock_base` gives a mock provider's base URL, to which each tier's endpoint adds its path. The API key must be
/// a valid header value (the caller checks it, to place the error in the scenario).
pub fn build_router(
    spec: &RoutingSpec,
    mock_base: &dyn Fn(&str) -> Option<String>,
    api_key: Option<&str>,
    body: Bytes,
    inputs: &PromptInputs,
) -> Result<Router, BuildError> {
    let target = spec.target;
    let url_of = |url: &Option<String>, mock: &Option<String>, api: Api| -> Result<reqwest::Url, BuildError> {
        let text = match (url, mock) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(m)) => mock_base(m).map(|base| format!("{base}{}", api.path())),
            (None, None) => None,
        };
        let text = text.ok_or_else(|| BuildError::Unreachable("no URL for the target".into()))?;
        reqwest::Url::parse(&text).map_err(|e| BuildError::Unreachable(format!("bad URL {text}: {e}")))
    };
    let tls = tls_of(spec, mock_base)?;
    let tls = tls.as_ref();
    let mut regions: Vec<String> = Vec::new();
    let (tiers, classes) = if spec.tiers.is_empty() {
        let tier = Tier {
            name: spec.implicit_tier.clone(),
            endpoints: vec![Endpoint::new(url_of(&target.url, &target.mock, target.endpoint)?, None, 1.0, spec, tls)],
            timeout: target.timeout.0,
            api: target.endpoint,
            price_input: 0.0,
            price_output: 0.0,
        };
        let class = Class {
            name: "default".into(),
            weight: 1.0,
            order: vec![0],
            prompts: Prompts::raw(body),
            conversation: None,
            cancel: None,
        };
        (vec![tier], vec![class])
    } else {
        (tiers_of(spec, &url_of, &mut regions, tls)?, classes_of(spec, inputs))
    };
    let f = spec.failover;
    let policy = Policy {
        failover: f.enabled,
        on_status: f.on_status.clone(),
        on_timeout: f.on_timeout,
        on_transport: f.on_transport,
        latency_budget: f.latency_budget.map(|d| d.0),
        retries: f.retries,
        backoff: f.backoff.0,
        backoff_cap: f.backoff_cap.0,
        idempotency_header: HeaderName::from_bytes(f.idempotency_header.as_bytes()).ok(),
        hedge_after: f.hedge_after.map(|d| d.0),
        hedge_max_share: f.hedge_max_share.0,
    };
    let shared: usize = classes.iter().map(|c| c.prompts.shared_bytes()).sum();
    let memory = crate::prompt::memory::BodyMemory::new(spec.max_request_memory.saturating_sub(shared as u64));
    Ok(Router {
        memory,
        not_sent_memory: Default::default(),
        client: build_client(
            target.http,
            target.url.is_none() && spec.tiers.iter().all(|t| t.url.is_none()),
            spec.max_in_flight,
            tls,
        )?,
        tls: tls.cloned(),
        method: reqwest::Method::from_bytes(target.method.as_bytes()).unwrap_or(reqwest::Method::POST),
        headers: headers(&target.headers, api_key)?,
        tiers,
        regions,
        classes,
        policy,
        served_by: spec.served_by.and_then(|b| b.source()),
        failed_over_marker: spec
            .served_by
            .and_then(|b| b.failed_over.as_ref())
            .and_then(|m| HeaderName::from_bytes(m.header.as_bytes()).ok()),
        success: spec.success_statuses.to_vec(),
        max_body: usize::try_from(target.max_body.0).unwrap_or(usize::MAX),
        // Checked when the scenario was read; "" sends none, and neither does a header the scenario sets itself
        // (it would go twice).
        request_id_header: HeaderName::from_bytes(target.request_id_header.as_bytes())
            .ok()
            .filter(|name| !target.headers.keys().any(|h| h.eq_ignore_ascii_case(name.as_str()))),
        capture: target.capture_headers.iter().filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()).collect(),
        run_id: mix(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)),
        seed: spec.seed,
        shapes: inputs.shapes.clone(),
        hedges_sent: Default::default(),
        logical_requests: Default::default(),
        out_of_files: Default::default(),
        turn_numbers: (0, 1),
        turns_numbered: Default::default(),
    })
}

impl Endpoint {
    /// An endpoint, with the lean path when its URL allows one.
    fn new(url: reqwest::Url, region: Option<u16>, weight: f64, spec: &RoutingSpec, tls: Option<&TlsConfig>) -> Self {
        let (protocol, at_once) = match spec.target.http {
            HttpVersion::Http1 => {
                let max_idle = spec.max_connections.unwrap_or(usize::MAX).min(spec.max_in_flight);
                (Protocol::Http1 { max_idle }, spec.max_connections)
            }
            HttpVersion::Http2 => http2_plan(spec),
        };
        let lean = LeanTarget::of(&url, protocol, tls);
        let permits = at_once.map(|n| n.min(spec.max_in_flight).min(tokio::sync::Semaphore::MAX_PERMITS));
        let slots = permits.map(|n| std::sync::Arc::new(tokio::sync::Semaphore::new(n)));
        Endpoint { url, lean, slots, region, weight }
    }
}

/// HTTP/2's connections to each endpoint and the streams on each, with the most requests at once to it when
/// that needs a limit of its own (see `load.streams_per_connection`):
/// - under `max_connections = M`, M connections of S streams (default 1): M × S at once;
/// - in a closed loop of N, N / S connections (rounded up) of S streams (default 1): its N workers are the limit;
/// - else one connection, as browsers and reqwest keep, with S at once when given, else the server's limit.
fn http2_plan(spec: &RoutingSpec) -> (Protocol, Option<usize>) {
    let streams = spec.streams_per_connection;
    match (spec.max_connections, spec.closed_loop) {
        (Some(m), _) => {
            let s = streams.unwrap_or(1);
            (Protocol::Http2 { connections: m, streams: Some(s) }, Some(m.saturating_mul(s)))
        }
        (None, Some(n)) => {
            let s = streams.unwrap_or(1);
            (Protocol::Http2 { connections: n.div_ceil(s), streams: Some(s) }, None)
        }
        (None, None) => (Protocol::Http2 { connections: 1, streams }, streams),
    }
}

type TlsConfig = std::sync::Arc<rustls::ClientConfig>;

/// The run's TLS configuration, when an endpoint is https; with certificates verified, the CA variables are
/// checked first.
fn tls_of(spec: &RoutingSpec, mock_base: &dyn Fn(&str) -> Option<String>) -> Result<Option<TlsConfig>, BuildError> {
    let urls = std::iter::once((&spec.target.url, &spec.target.mock))
        .chain(spec.tiers.iter().map(|t| (&t.url, &t.mock)))
        .chain(spec.tiers.iter().flat_map(|t| t.endpoints.iter().map(|e| (&e.url, &e.mock))));
    let https = urls
        .filter_map(|(url, mock)| url.clone().or_else(|| mock.as_deref().and_then(mock_base)))
        .any(|u| u.trim_start().get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")));
    if !https {
        return Ok(None);
    }
    if spec.tls.verify {
        super::tls::check_ca_variables(|v| std::env::var_os(v))?;
    }
    super::tls::client_config(&spec.tls, spec.target.http == HttpVersion::Http2).map(Some)
}

/// The URL of a `url` or `mock` pair, as a scenario entry gives them, for a tier of endpoint `Api`.
type UrlOf<'a> = dyn Fn(&Option<String>, &Option<String>, Api) -> Result<reqwest::Url, BuildError> + 'a;

/// The scenario's `[[tiers]]`, each with its endpoints; a region is numbered the first time it is named.
fn tiers_of(
    spec: &RoutingSpec,
    url_of: &UrlOf,
    regions: &mut Vec<String>,
    tls: Option<&TlsConfig>,
) -> Result<Vec<Tier>, BuildError> {
    let mut tiers = Vec::new();
    for t in spec.tiers {
        let endpoints = if t.endpoints.is_empty() {
            vec![Endpoint::new(url_of(&t.url, &t.mock, t.endpoint)?, None, 1.0, spec, tls)]
        } else {
            let mut list = Vec::new();
            for e in &t.endpoints {
                let region = match regions.iter().position(|r| r == &e.region) {
                    Some(i) => i,
                    None => {
                        regions.push(e.region.clone());
                        regions.len() - 1
                    }
                };
                let url = url_of(&e.url, &e.mock, t.endpoint)?;
                list.push(Endpoint::new(url, Some(region as u16), e.weight, spec, tls));
            }
            list
        };
        tiers.push(Tier {
            name: t.name.clone(),
            endpoints,
            timeout: t.timeout.unwrap_or(spec.target.timeout).0,
            api: t.endpoint,
            price_input: t.price_input,
            price_output: t.price_output,
        });
    }
    Ok(tiers)
}

/// The classes, each with its tier order and its prompts.
fn classes_of(spec: &RoutingSpec, inputs: &PromptInputs) -> Vec<Class> {
    let models: Vec<&str> = spec.tiers.iter().map(|t| t.model.as_str()).collect();
    spec.classes
        .iter()
        .zip(&spec.class_orders)
        .zip(&spec.prompts)
        .enumerate()
        .map(|(i, ((c, order), prompt))| Class {
            cancel: c.cancel.as_ref().map(|x| super::Cancel {
                share: x.share.0,
                after: x.after.map(|d| d.0),
                after_tokens: x.after_tokens.map(u64::from),
            }),
            name: c.name.clone(),
            weight: c.weight,
            order: order.clone(),
            prompts: Prompts::new(
                prompt,
                &models,
                spec.seed,
                i as u64,
                inputs.datasets.get(i).cloned().flatten(),
                inputs.shapes.is_some(),
            ),
            conversation: prompt.conversation.as_ref().map(|c| super::Conversation {
                think_time: c.think_time.clone(),
                seed: spec.seed,
                session_header: HeaderName::from_bytes(c.session_header.as_bytes()).ok(),
            }),
        })
        .collect()
}

fn build_client(
    http: HttpVersion,
    loopback_mock: bool,
    max_in_flight: usize,
    tls: Option<&TlsConfig>,
) -> Result<reqwest::Client, BuildError> {
    let mut b = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_in_flight)
        .pool_idle_timeout(Duration::from_secs(90))
        // reqwest retries some protocol-level refusals by itself (up to twice): a load tester must not hide an
        // attempt, so slacheck's own failover policy is the only one. Zero retries also spares reqwest a copy of
        // every request kept in case of a retry.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        // A redirect is an answer to judge (by `success_statuses`), not one to follow: the lean path follows
        // none either, so both paths count the same.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("slacheck/", env!("CARGO_PKG_VERSION")));
    b = match http {
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 => b.http2_prior_knowledge(),
    };
    if let Some(config) = tls {
        // The same TLS as the lean path's: verification, client certificate and ALPN alike.
        b = b.tls_backend_preconfigured(rustls::ClientConfig::clone(config));
    }
    if loopback_mock {
        // The in-process mock is on loopback: never route it through a proxy from the environment.
        b = b.no_proxy();
    }
    b.build().map_err(|e| BuildError::Client(e.to_string()))
}

/// The request headers: the target's (checked when the scenario was read), the content type, the API key.
fn headers(
    target_headers: &std::collections::BTreeMap<String, String>,
    api_key: Option<&str>,
) -> Result<HeaderMap, BuildError> {
    let mut map = HeaderMap::new();
    for (name, value) in target_headers {
        let bad = || BuildError::Header(name.clone());
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        map.insert(name, HeaderValue::from_str(value).map_err(|_| bad())?);
    }
    if !map.contains_key(CONTENT_TYPE) {
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(key) = api_key {
        // The key's value is never part of an error message.
        let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| BuildError::ApiKey)?;
        value.set_sensitive(true);
        map.insert(AUTHORIZATION, value);
    }
    Ok(map)
}
