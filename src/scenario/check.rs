//! The checks made once a scenario is read: each problem is an error placed at its field.

use super::prompts::TokenLength;
use super::*;
use crate::units::HumanDuration;
use slacheck_common::tomlfile::FileError;

impl LoadedScenario {
    pub(super) fn check(&self) -> Result<(), FileError> {
        let s = &self.scenario;
        if s.name.trim().is_empty() || s.name.contains(['/', '\\']) {
            return Err(self.error("name", "give a non-empty name without slashes (it names the results folder)"));
        }
        self.check_target()?;
        self.check_routing()?;
        self.check_policies()?;
        self.check_sla()?;
        self.check_scrapes()?;
        Ok(())
    }

    /// `[sla] window` must not cut a run of `duration` into more than [`MAX_WINDOWS`] windows: each holds a
    /// histogram for the whole run.
    pub fn check_windows(&self, duration: Duration) -> Result<(), FileError> {
        if let Some(WindowSpec::Every(w)) = self.scenario.sla.window {
            let count = (duration.as_secs_f64() / w.as_secs_f64()).ceil();
            if count > MAX_WINDOWS as f64 {
                return Err(self.error(
                    "sla.window",
                    format!(
                        "a run of {} in windows of {} makes {count} windows; at most {MAX_WINDOWS} are judged (each \
                         keeps a histogram): give a longer window",
                        HumanDuration(duration),
                        HumanDuration(w)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_routing(&self) -> Result<(), FileError> {
        let s = &self.scenario;
        let providers: Vec<String> = self.mock_providers().into_iter().map(|p| p.name).collect();
        let tier_names: Vec<&str> = s.tiers.iter().map(|t| t.name.as_str()).collect();
        if s.tiers.is_empty() {
            if !s.classes.is_empty() {
                return Err(self.error("classes", "[[classes]] route to [[tiers]]; declare the tiers too"));
            }
            if !s.failover.chain.is_empty() {
                return Err(self.error("failover.chain", "a failover chain needs [[tiers]]"));
            }
        }
        for (i, t) in s.tiers.iter().enumerate() {
            let at = |f: &str| format!("tiers[{i}].{f}");
            if tier_names.iter().filter(|n| **n == t.name).count() > 1 {
                return Err(self.error(&at("name"), format!("two tiers are named {:?}", t.name)));
            }
            if t.endpoints.is_empty() {
                self.check_place(&format!("tiers[{i}]"), &t.url, &t.mock, &providers)?;
            } else if t.url.is_some() || t.mock.is_some() {
                return Err(self.error(&at("endpoints"), "set `endpoints` or a single `url`/`mock`, not both"));
            }
            for (j, e) in t.endpoints.iter().enumerate() {
                let at = format!("tiers[{i}].endpoints[{j}]");
                self.check_place(&at, &e.url, &e.mock, &providers)?;
                if e.region.trim().is_empty() {
                    return Err(self.error(&format!("{at}.region"), "name the region, e.g. \"us-east\""));
                }
                if !(e.weight > 0.0 && e.weight.is_finite()) {
                    return Err(self.error(&format!("{at}.weight"), "must be above zero"));
                }
            }
            if t.price_input < 0.0 || t.price_output < 0.0 {
                return Err(self.error(&at("price_input"), "prices cannot be negative"));
            }
        }
        if !s.tiers.is_empty() && (s.target.url.is_some() || s.target.mock.is_some()) {
            return Err(
                self.error("target", "with [[tiers]], each tier names its `url` or `mock`; remove them from [target]")
            );
        }
        for (i, name) in s.failover.chain.iter().enumerate() {
            if !tier_names.contains(&name.as_str()) {
                return Err(self
                    .error(&format!("failover.chain[{i}]"), format!("no tier named {name:?}; tiers: {tier_names:?}")));
            }
        }
        let orders = self.class_orders();
        for (i, c) in s.classes.iter().enumerate() {
            if !tier_names.contains(&c.tier.as_str()) {
                return Err(self.error(
                    &format!("classes[{i}].tier"),
                    format!("no tier named {:?}; tiers: {tier_names:?}", c.tier),
                ));
            }
            for (j, f) in c.fallbacks.iter().flatten().enumerate() {
                if !tier_names.contains(&f.as_str()) {
                    return Err(self.error(&format!("classes[{i}].fallbacks[{j}]"), format!("no tier named {f:?}")));
                }
            }
            if !(c.weight > 0.0 && c.weight.is_finite()) {
                return Err(self.error(&format!("classes[{i}].weight"), "must be above zero"));
            }
            if c.prompts.is_empty() {
                return Err(self.error(&format!("classes[{i}].prompts"), "list at least one prompt"));
            }
            self.check_class_prompts(i, c)?;
            self.check_class_api(i, c, &orders[i])?;
        }
        Ok(())
    }

    /// A class's tiers speak one endpoint (`tiers[].endpoint`), and the class asks only what it can answer: a
    /// stream where it streams, a conversation where answers come back as history, answer lengths where there
    /// is an answer.
    fn check_class_api(&self, i: usize, c: &ClassSpec, order: &[usize]) -> Result<(), FileError> {
        let tiers = &self.scenario.tiers;
        let at = |key: &str| format!("classes[{i}].{key}");
        let first = &tiers[order[0]];
        let api = first.endpoint;
        if let Some(other) = order.iter().map(|t| &tiers[*t]).find(|t| t.endpoint != api) {
            let key = if c.fallbacks.is_some() { "fallbacks" } else { "tier" };
            let why = format!(
                "tier {:?} has endpoint = {:?} and tier {:?} has {:?}: a class's tiers (`tier`, then its fallbacks) \
                 must share one endpoint; set `fallbacks` to tiers of endpoint {:?}",
                first.name,
                api.name(),
                other.name,
                other.endpoint.name(),
                api.name()
            );
            return Err(self.error(&at(key), why));
        }
        let on = |what: &str| format!("tier {:?} has endpoint = {:?}, {what}", first.name, api.name());
        if c.stream && !api.streams() {
            return Err(self.error(&at("stream"), on("which never streams: remove `stream = true`")));
        }
        if c.conversation.is_some() && !api.converses() {
            let why = on("whose requests carry no history: a conversation needs \"chat\" or \"responses\"");
            return Err(self.error(&at("conversation"), why));
        }
        if api == Api::Embeddings {
            if let Some(key) = [("output_tokens", c.output_tokens.is_some()), ("max_tokens", c.max_tokens.is_some())]
                .into_iter()
                .find_map(|(key, set)| set.then_some(key))
            {
                return Err(self.error(&at(key), on("whose answers have no output tokens: remove it")));
            }
        }
        Ok(())
    }

    /// A class's token lengths, shared prefixes and prompt file: each value in range, no two ways of saying one
    /// thing. The file's lines are read with the run's plan (`prompt::dataset`), where a bad line is placed.
    fn check_class_prompts(&self, i: usize, c: &ClassSpec) -> Result<(), FileError> {
        let at = |key: &str| format!("classes[{i}].{key}");
        for (key, length) in [("input_tokens", &c.input_tokens), ("output_tokens", &c.output_tokens)] {
            if let Some((inner, message)) = length.as_ref().and_then(TokenLength::problem) {
                let field = if inner.is_empty() { at(key) } else { at(&format!("{key}.{inner}")) };
                return Err(self.error(&field, message));
            }
        }
        if c.output_tokens.is_some() && c.max_tokens.is_some() {
            return Err(self.error(&at("output_tokens"), "set `output_tokens` or `max_tokens`, not both"));
        }
        if c.max_tokens == Some(0) {
            return Err(self.error(&at("max_tokens"), "ask for at least one token"));
        }
        if c.input_tokens.is_some() && c.prompts_file.is_some() {
            return Err(self.error(&at("prompts_file"), "set `input_tokens` or `prompts_file`, not both"));
        }
        if let Some(n) = c.prefix_tokens {
            if !(1.0..=prompts::MAX_TOKENS).contains(&(n as f64)) {
                return Err(self.error(&at("prefix_tokens"), format!("give 1 to {} tokens", prompts::MAX_TOKENS)));
            }
        }
        if let Some((key, message)) = c.conversation.as_ref().and_then(|v| v.problem(c.prompts_file.is_some())) {
            return Err(self.error(&at(&format!("conversation.{key}")), message));
        }
        if let Some((key, message)) = c.cancel.as_ref().and_then(|x| x.problem(c.stream)) {
            return Err(self.error(&at(&format!("cancel.{key}")), message));
        }
        if c.conversation.is_some() && self.scenario.load.connections.is_some() {
            let why = "a closed loop (`load.connections`) has no place for sessions that wait between turns";
            return Err(self.error(&at("conversation"), why));
        }
        match c.prefixes {
            Some(_) if c.prefix_tokens.is_none() => {
                Err(self.error(&at("prefixes"), "`prefixes` counts shared prefixes: set `prefix_tokens` too"))
            }
            Some(k) if !(1..=prompts::MAX_PREFIXES).contains(&k) => {
                Err(self.error(&at("prefixes"), format!("give 1 to {} prefixes", prompts::MAX_PREFIXES)))
            }
            _ => Ok(()),
        }
    }

    /// The failover policy's own keys, and the `[compare]` and `[capacity]` settings.
    /// `request_id_header` and `capture_headers`: header names, the captured ones distinct and few.
    fn check_request_headers(&self) -> Result<(), FileError> {
        let t = &self.scenario.target;
        let valid = |name: &str| reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok();
        if !t.request_id_header.is_empty() && !valid(&t.request_id_header) {
            return Err(self.error("target.request_id_header", "not a valid HTTP header name (\"\" sends none)"));
        }
        if t.capture_headers.len() > MAX_CAPTURE_HEADERS {
            let why = format!("at most {MAX_CAPTURE_HEADERS} headers: each is a column of requests.parquet");
            return Err(self.error("target.capture_headers", why));
        }
        for (i, name) in t.capture_headers.iter().enumerate() {
            if !valid(name) {
                return Err(self.error("target.capture_headers", format!("{name:?} is not a valid HTTP header name")));
            }
            if t.capture_headers[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(self.error("target.capture_headers", format!("{name:?} is named twice")));
            }
        }
        Ok(())
    }

    fn check_policies(&self) -> Result<(), FileError> {
        let s = &self.scenario;
        if let Some(c) = &s.compare {
            Tolerances::parse(&c.max_regression).map_err(|e| self.error("compare.max_regression", e.to_string()))?;
        }
        if let Some(c) = &s.capacity {
            CapacitySettings::default().with_spec(c).check().map_err(|(field, e)| self.error(field, e))?;
        }
        if reqwest::header::HeaderName::from_bytes(s.failover.idempotency_header.as_bytes()).is_err() {
            return Err(self.error("failover.idempotency_header", "not a valid header name"));
        }
        if s.failover.backoff_cap < s.failover.backoff {
            return Err(self.error("failover.backoff_cap", "must not be below `backoff`"));
        }
        if s.failover.recover_after == 0 {
            return Err(self.error("failover.recover_after", "must be at least 1"));
        }
        if let Some(b) = &s.served_by {
            if b.source().is_none() {
                return Err(
                    self.error("served_by", "set one of `header` (a response header) or `json` (a JSON pointer)")
                );
            }
            let valid = |h: &str| reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_ok();
            if b.header.as_deref().is_some_and(|h| !valid(h)) {
                return Err(self.error("served_by.header", "not a valid header name"));
            }
            if b.failed_over.as_ref().is_some_and(|m| !valid(&m.header)) {
                return Err(self.error("served_by.failed_over.header", "not a valid header name"));
            }
            if b.primary.as_deref().is_some_and(|p| p.trim().is_empty()) {
                return Err(self.error("served_by.primary", "name the upstream, as the gateway does"));
            }
        }
        Ok(())
    }

    /// Checks that a place requests go to (`at` = `tiers[0]` or `tiers[0].endpoints[1]`) has one valid `url`
    /// or names a declared mock provider.
    fn check_place(
        &self,
        at: &str,
        url: &Option<String>,
        mock: &Option<String>,
        providers: &[String],
    ) -> Result<(), FileError> {
        match (url, mock) {
            (None, None) => Err(self.error(at, "set `url` or `mock`")),
            (Some(_), Some(_)) => Err(self.error(&format!("{at}.mock"), "set either `url` or `mock`, not both")),
            (Some(u), None) => reqwest::Url::parse(u)
                .map(|_| ())
                .map_err(|e| self.error(&format!("{at}.url"), format!("not a valid URL ({e})"))),
            (None, Some(m)) if !providers.contains(m) => {
                Err(self.error(&format!("{at}.mock"), format!("no mock provider named {m:?}; declared: {providers:?}")))
            }
            _ => Ok(()),
        }
    }

    fn check_target(&self) -> Result<(), FileError> {
        let t = &self.scenario.target;
        match (&t.url, &t.mock) {
            (None, None) if !self.scenario.tiers.is_empty() => {}
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
        self.check_mock_providers()?;
        if t.body.is_some() && t.body_file.is_some() {
            return Err(self.error("target.body_file", "set either `body` or `body_file`, not both"));
        }
        if let Some(file) = &t.body_file {
            self.body_file_bytes(file)?;
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
        self.check_request_headers()?;
        if t.api_key_env.as_deref().is_some_and(|var| !super::target::is_env_name(var)) {
            return Err(self.error("target.api_key_env", super::target::NOT_AN_ENV_NAME));
        }
        match (&t.tls_client_cert, &t.tls_client_key) {
            (Some(_), None) => return Err(self.error("target.tls_client_cert", "set `tls_client_key` with it")),
            (None, Some(_)) => return Err(self.error("target.tls_client_key", "set `tls_client_cert` with it")),
            _ => {}
        }
        if let Err((field, message)) = self.tls().check() {
            return Err(self.error(&format!("target.{field}"), message));
        }
        if t.timeout.0.is_zero() {
            return Err(self.error("target.timeout", "must be above zero"));
        }
        self.check_generator_limits()
    }

    /// `[[mock.providers]]`: only with a mock target, each valid, its outages within the run, no fixed port.
    fn check_mock_providers(&self) -> Result<(), FileError> {
        if self.mock_providers().is_empty() && self.scenario.mock.is_some() {
            return Err(
                self.error("mock", "[[mock.providers]] are only started for `target.mock`; remove them or set it")
            );
        }
        let declared = match &self.scenario.mock {
            Some(m) if !m.providers.is_empty() => self.mock_providers(),
            _ => Vec::new(),
        };
        for (i, p) in declared.iter().enumerate() {
            if let Err((field, message)) = p.check() {
                let field = field.split_once('.').map(|(_, f)| f.to_string()).unwrap_or(field);
                return Err(self.error(&format!("mock.providers[{i}].{field}"), message));
            }
            let run = self.scenario.load.duration.map(|d| d.0);
            if let Some((j, o)) = p.outages.iter().enumerate().find(|(_, o)| run.is_some_and(|d| o.window.start >= d)) {
                return Err(self.error(
                    &format!("mock.providers[{i}].outages[{j}]"),
                    format!("the window {} starts after the run ends (load.duration)", o.window),
                ));
            }
        }
        Ok(())
    }

    /// What the generator may hold open: requests in flight and connections.
    fn check_generator_limits(&self) -> Result<(), FileError> {
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
        if load.max_connections == Some(0) {
            return Err(self.error("load.max_connections", "must be at least 1"));
        }
        if load.max_connections.is_some() && load.connections.is_some() {
            return Err(self.error(
                "load.max_connections",
                "caps an open loop's connections; a closed loop (`connections`) already has that many",
            ));
        }
        match load.streams_per_connection {
            Some(0) => return Err(self.error("load.streams_per_connection", "must be at least 1")),
            Some(_) if self.scenario.target.http != super::HttpVersion::Http2 => {
                return Err(self.error(
                    "load.streams_per_connection",
                    "only HTTP/2 carries several requests on a connection: set target.http = \"2\", or remove it",
                ))
            }
            _ => {}
        }
        Ok(())
    }

    fn check_sla(&self) -> Result<(), FileError> {
        let sla = &self.scenario.sla;
        let (tiers, classes) = self.tier_and_class_names();
        let mut scopes = vec![("sla".to_string(), sla.overall())];
        for (kind, map, names) in [("class", &sla.class, &classes), ("tier", &sla.tier, &tiers)] {
            for (name, limits) in map {
                // A target on a scope that no request can match would pass silently: refuse it.
                if !names.contains(name) {
                    return Err(self.error(
                        &format!("sla.{kind}.{name}"),
                        format!("no {kind} is named {name:?}; the run has {names:?}"),
                    ));
                }
                scopes.push((format!("sla.{kind}.{name}"), limits.clone()));
            }
        }
        // Written limits must not contradict each other: a higher percentile cannot have a lower limit.
        for (path, limits) in &scopes {
            let written = limits.latency();
            for pair in written.windows(2) {
                let ((lo_name, _, lo), (hi_name, _, hi)) = (pair[0], pair[1]);
                if hi < lo {
                    let key = if hi_name.contains('.') { format!("\"{hi_name}\"") } else { hi_name.to_string() };
                    return Err(self.error(
                        &format!("{path}.{key}"),
                        format!(
                            "{hi_name} = {} is below {lo_name} = {}; a higher percentile cannot have a lower limit",
                            HumanDuration(hi),
                            HumanDuration(lo)
                        ),
                    ));
                }
            }
        }
        // A target on a metric the run cannot produce would pass or fail on nothing: refuse it.
        let streams = s_streams(&self.scenario);
        for (key, set) in [("ttft_p50", sla.ttft_p50.is_some()), ("ttft_p99", sla.ttft_p99.is_some())] {
            if set && !streams {
                return Err(self.error(
                    &format!("sla.{key}"),
                    "time to first token needs streamed requests: a class with `stream = true`, or \"stream\": true in target.body",
                ));
            }
        }
        self.check_goodput(streams)?;
        if sla.window == Some(WindowSpec::Burst) && self.scenario.load.profile != ProfileKind::Burst {
            return Err(
                self.error("sla.window", "\"burst\" windows need `load.profile = \"burst\"`; give a duration instead")
            );
        }
        if sla.success_statuses.is_empty() {
            return Err(self.error("sla.success_statuses", "list at least one status that counts as success"));
        }
        Ok(())
    }

    /// `[sla] goodput` names at least one objective, the stream ones only when the run streams, and
    /// `goodput_min` needs it.
    fn check_goodput(&self, streams: bool) -> Result<(), FileError> {
        let sla = &self.scenario.sla;
        match sla.goodput {
            None if sla.goodput_min.is_some() => Err(self.error(
                "sla.goodput_min",
                "`goodput_min` needs `goodput = { … }`: which requests are good (ttft, inter_token, latency)",
            )),
            Some(GoodputSpec { ttft: None, inter_token: None, latency: None }) => {
                Err(self.error("sla.goodput", "name at least one objective: ttft, inter_token or latency"))
            }
            Some(GoodputSpec { inter_token: Some(_), .. }) if !streams => Err(self.error(
                "sla.goodput.inter_token",
                "the gap between tokens needs streamed requests: a class with `stream = true`",
            )),
            _ => Ok(()),
        }
    }
}

/// Whether a scenario sends streamed requests.
fn s_streams(s: &Scenario) -> bool {
    let body_streams = s
        .target
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .is_some_and(|v| v["stream"] == serde_json::Value::Bool(true));
    body_streams || s.classes.iter().any(|c| c.stream)
}
