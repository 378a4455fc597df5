//! `slacheck init`: a commented starter scenario, for the built-in mock or a gateway, with or without tiers and
//! failover, on any of OpenAI's APIs (`--endpoint`). What it writes validates, and against a healthy target it
//! passes on the first run: its load sends enough requests to decide each of its targets, and its comments say
//! how many each one needs.

use super::api::Api;
use std::fmt::Write as _;

/// What the starter is for.
#[derive(Debug, Clone, Default)]
pub struct Starter {
    /// A gateway's chat-completions URL; without it, the built-in mock.
    pub url: Option<String>,
    /// The variable that holds the gateway's API key.
    pub api_key_env: Option<String>,
    /// Client-side tiers, request classes and failover (and, on the mock, an outage to fail over from).
    pub failover: bool,
    /// The OpenAI API the requests speak: their body, the usage read, the mock's path.
    pub endpoint: Api,
}

/// Why the starter was not written.
#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    #[error("{0} exists; choose another name, or --force to replace it")]
    Exists(std::path::PathBuf),
    #[error("--api-key-env: {}", super::target::NOT_AN_ENV_NAME)]
    KeyName,
    #[error("cannot write {path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
    #[error("the starter does not validate with these options: {0}")]
    Invalid(slacheck_common::tomlfile::FileError),
}

/// The column comments start at.
const COMMENT_AT: usize = 38;

/// One line: `setting`, and a comment aligned after it when there is one.
fn line(out: &mut String, setting: &str, comment: &str) {
    if comment.is_empty() {
        let _ = writeln!(out, "{setting}");
    } else {
        let _ = writeln!(out, "{setting:<width$}# {comment}", width = COMMENT_AT.max(setting.len() + 1));
    }
}

impl Starter {
    /// The scenario's text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# A starter scenario, written by `slacheck init`. Every key is documented in scenarios/README.md of\n\
             # slacheck's repository; `slacheck validate FILE` prints this file with every default filled in.\n\
             #   slacheck run FILE    # exit 0 pass; 1 fail or undecided; 2 usage (a bad scenario);\n\
             #                          3 no-verdict or generator-bound; 130, 143, 129 interrupted\n\
             # For completion and checks in your editor: `slacheck schema > scenario.schema.json`, then make\n\
             # `#:schema ./scenario.schema.json` this file's first line.\n",
        );
        self.identity(&mut out);
        self.target(&mut out);
        if self.failover {
            self.tiers(&mut out);
        }
        self.load(&mut out);
        self.sla(&mut out);
        if self.failover && self.url.is_none() {
            mock_providers(&mut out);
        }
        out
    }

    /// Writes the starter to `path` (never over a file, unless `force`) and checks it as `validate` would; a
    /// starter that does not validate (a bad URL) is removed again.
    pub fn write(&self, path: &std::path::Path, force: bool) -> Result<(), StarterError> {
        if self.api_key_env.as_deref().is_some_and(|var| !super::target::is_env_name(var)) {
            return Err(StarterError::KeyName);
        }
        // A symbolic link counts as there even when it points nowhere: writing through it, or over it, would
        // put the scenario somewhere the user did not name.
        if path.symlink_metadata().is_ok() && !force {
            return Err(StarterError::Exists(path.to_path_buf()));
        }
        crate::outdir::write_atomic(path, self.text().as_bytes())
            .map_err(|source| StarterError::Write { path: path.to_path_buf(), source })?;
        // The load is fixed and checked by the tests; what the options bring (a URL) is checked here.
        if let Err(e) = super::LoadedScenario::read(path) {
            let _ = std::fs::remove_file(path);
            return Err(StarterError::Invalid(e));
        }
        Ok(())
    }

    fn identity(&self, out: &mut String) {
        let (name, what) = match (&self.url, self.failover) {
            (None, false) => ("starter", "Steady traffic against the built-in mock provider."),
            (None, true) => ("starter-failover", "Two tiers on the built-in mock; the primary has an outage at 8 s."),
            (Some(_), false) => ("gateway", "Steady traffic through a gateway."),
            (Some(_), true) => ("gateway-failover", "Two tiers through a gateway, failing over client-side."),
        };
        let what = match self.endpoint {
            Api::Chat => what.to_string(),
            api => format!("{}, on the {} API.", what.trim_end_matches('.'), api.name()),
        };
        let _ = writeln!(out, "name = \"{name}\"\ndescription = \"{what}\"\n\n[target]");
    }

    /// The `endpoint` line of `[target]` or a tier: commented out for chat, the default.
    fn endpoint_line(&self, out: &mut String) {
        let setting = format!("endpoint = \"{}\"", self.endpoint.name());
        match self.endpoint {
            Api::Chat => line(out, &format!("# {setting}"), "or \"completions\", \"embeddings\", \"responses\""),
            _ => line(out, &setting, "the OpenAI API of the requests: their body, the usage read"),
        }
    }

    /// A gateway's body, of the endpoint's shape.
    fn gateway_body(&self) -> String {
        let body = match self.endpoint {
            Api::Chat => {
                r#"{"model": "your-model", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 16}"#
            }
            Api::Completions => r#"{"model": "your-model", "prompt": "ping", "max_tokens": 16}"#,
            Api::Embeddings => r#"{"model": "your-embedding-model", "input": "ping"}"#,
            Api::Responses => r#"{"model": "your-model", "input": "ping", "max_output_tokens": 16}"#,
        };
        format!("body = '''{body}'''")
    }

    fn target(&self, out: &mut String) {
        match (&self.url, self.failover) {
            (None, false) => {
                line(out, "mock = \"default\"", "the built-in fake provider: a few ms, no faults");
                line(out, &format!("# url = \"https://gateway.example.com{}\"", self.endpoint.path()), "");
                self.endpoint_line(out);
            }
            (None, true) => line(out, "# Each tier names its mock provider (below).", ""),
            (Some(url), false) => {
                line(out, &format!("url = {}", toml_string(url)), "");
                self.endpoint_line(out);
                line(out, "# Sent as is: name your model.", "");
                line(out, &self.gateway_body(), "");
            }
            (Some(_), true) => {
                line(out, "# Each tier names its URL and model (below): both start as the same gateway with two", "");
                line(out, "# models; give the fallback its own URL when it is another gateway or provider.", "");
            }
        }
        if let Some(var) = &self.api_key_env {
            line(
                out,
                &format!("api_key_env = {}", toml_string(var)),
                "sent as \"Authorization: Bearer …\", written nowhere",
            );
        }
        line(out, "timeout = \"10s\"", "per request, the whole answer included");
    }

    fn tiers(&self, out: &mut String) {
        let place = |mock: &str| match &self.url {
            Some(url) => format!("url = {}", toml_string(url)),
            None => format!("mock = \"{mock}\""),
        };
        out.push_str("\n# Tiers are tried in the order of [failover] chain; each class starts at its own tier.\n");
        for (name, model, prices) in
            [("primary", "cheap-model", (0.15, 0.60)), ("fallback", "fallback-model", (0.50, 1.50))]
        {
            let _ = writeln!(out, "[[tiers]]\nname = \"{name}\"\n{}", place(name));
            line(out, &format!("model = \"{model}\""), "the model its requests name");
            if self.endpoint != Api::Chat {
                self.endpoint_line(out);
            }
            line(out, &format!("price_input = {}", prices.0), "US dollars per million tokens, for the cost report");
            let _ = writeln!(out, "price_output = {}\n", prices.1);
        }
        // Embeddings have no answer, so no answer length.
        let max_tokens = |n: u32| match self.endpoint {
            Api::Embeddings => String::new(),
            _ => format!("max_tokens = {n}\n"),
        };
        let _ = writeln!(out, "[[classes]]\nname = \"{}\"", self.endpoint.name());
        line(out, "weight = 90", "90% of the requests");
        let _ = writeln!(
            out,
            "tier = \"primary\"\nprompts = [\"ping\", \"Summarise this sentence in five words.\"]\n{}",
            max_tokens(32)
        );
        let _ = writeln!(out, "[[classes]]\nname = \"analysis\"\nweight = 10\ntier = \"primary\"\n{}", max_tokens(256));
        out.push_str("[failover]\nchain = [\"primary\", \"fallback\"]\non_status = [429, 500, 502, 503, 504]\n");
        line(out, "latency_budget = \"2s\"", "an attempt slower than this moves on to the next tier");
    }

    /// The constant rate (requests per second) and duration (seconds). The mock is free and fast, so its load
    /// decides a p99.9 target; through a gateway each request costs money and counts against its rate limit, so
    /// 5/s (300 a minute, under common rate limits) for two minutes: 600 requests.
    fn load_size(&self) -> (u64, u64) {
        if self.url.is_some() {
            (5, 120)
        } else {
            (300, 20)
        }
    }

    /// The SLA targets, each decidable from this starter's load with room for a few misses: 6,000 requests on
    /// the mock decide a p99.9 with one slow answer; through a gateway, 600 decide a 98% availability with up
    /// to 5 failures and a p95 with 19 slow answers, where a 99% or a p99 would turn undecided at the second.
    fn sla_targets(&self) -> &'static [Target] {
        const MOCK: &[Target] = &[
            Target { key: "availability", value: "99%", share: 0.99 },
            Target { key: "p99", value: "1s", share: 0.99 },
            Target { key: "\"p99.9\"", value: "3s", share: 0.999 },
        ];
        const GATEWAY: &[Target] = &[
            Target { key: "availability", value: "98%", share: 0.98 },
            Target { key: "p95", value: "2s", share: 0.95 },
        ];
        if self.url.is_some() {
            GATEWAY
        } else {
            MOCK
        }
    }

    fn load(&self, out: &mut String) {
        let (rate, seconds) = self.load_size();
        out.push_str("\n[load]\n");
        line(out, "profile = \"constant\"", "constant | ramp | steps | burst | spike | sine | trace");
        line(
            out,
            &format!("rate = \"{rate}/s\""),
            "open loop: each request goes at its time, whatever the target does",
        );
        line(
            out,
            &format!("duration = \"{}\"", minutes_or_seconds(seconds)),
            &format!("{} requests", grouped(rate * seconds)),
        );
    }

    fn sla(&self, out: &mut String) {
        let (rate, seconds) = self.load_size();
        out.push_str(
            "\n# Latency counts from each request's intended send time. A target is decided when its 95% interval\n\
             # clears it: each comment says how many requests show it held when none miss. Each nine more needs ten\n\
             # times as many; raise duration (or rate) before you tighten a target, or the run ends undecided (exit 1).\n\
             [sla]\n",
        );
        let sent = grouped(rate * seconds);
        for t in self.sla_targets() {
            let needs = format!("needs {} of the {sent} requests", grouped(requests_to_show(t.share)));
            line(out, &format!("{} = \"{}\"", t.key, t.value), &needs);
        }
        if self.url.is_some() {
            // Twice what a target needs leaves room for a few misses.
            for (key, share) in [("p99 = \"2s\"", 0.99), ("\"p99.9\" = \"5s\"", 0.999)] {
                let needed = requests_to_show(share);
                let room = minutes_or_seconds((2 * needed).div_ceil(rate * 60) * 60);
                line(
                    out,
                    &format!("# {key}"),
                    &format!("needs {} requests: first set duration = \"{room}\"", grouped(needed)),
                );
            }
        }
    }
}

/// One SLA target of the starter: its key and value, and the share of requests it promises.
struct Target {
    key: &'static str,
    value: &'static str,
    share: f64,
}

/// z of a two-sided 95% interval, as the verdict judges targets.
const Z: f64 = 1.959_964;

/// How many requests show that at least `share` of them succeed (or answer within a limit) when none miss: the
/// Wilson interval's lower bound for n of n is n / (n + z²), which reaches `share` at n = z²·share / (1 − share).
pub fn requests_to_show(share: f64) -> u64 {
    (Z * Z * share / (1.0 - share)).ceil() as u64
}

/// "2m" for 120 seconds, "20s" for 20.
fn minutes_or_seconds(seconds: u64) -> String {
    if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// 6000 as "6,000".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mock_providers(out: &mut String) {
    out.push_str(
        "\n# The fake providers behind the tiers: the primary answers 503 from 8 s to 12 s, and slacheck fails over.\n\
         [[mock.providers]]\nname = \"primary\"\nlatency = { dist = \"lognormal\", p50 = \"30ms\", p99 = \"200ms\" }\n\
         outages = [{ window = \"8s..12s\", mode = \"status\", status = 503 }]\n\n\
         [[mock.providers]]\nname = \"fallback\"\nlatency = { dist = \"lognormal\", p50 = \"60ms\", p99 = \"300ms\" }\n",
    );
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}
