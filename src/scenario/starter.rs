//! `slacheck init`: a commented starter scenario, for the built-in mock or a gateway, with or without tiers and
//! failover. What it writes validates, and against the mock it passes.

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
             #   slacheck run FILE    # exit 0: every SLA target held; 1: one missed; 2: a bad scenario; 3: no verdict\n\
             # For completion and checks in your editor: `slacheck schema > scenario.schema.json`, then make\n\
             # `#:schema ./scenario.schema.json` this file's first line.\n",
        );
        self.identity(&mut out);
        self.target(&mut out);
        if self.failover {
            self.tiers(&mut out);
        }
        self.load(&mut out);
        sla(&mut out);
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
        let _ = writeln!(out, "name = \"{name}\"\ndescription = \"{what}\"\n\n[target]");
    }

    fn target(&self, out: &mut String) {
        match (&self.url, self.failover) {
            (None, false) => {
                line(out, "mock = \"default\"", "the built-in fake provider: a few ms, no faults");
                line(out, "# url = \"https://gateway.example.com/v1/chat/completions\"", "");
            }
            (None, true) => line(out, "# Each tier names its mock provider (below).", ""),
            (Some(url), false) => {
                line(out, &format!("url = {}", toml_string(url)), "");
                let body = r#"body = '''{"model": "your-model", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 16}'''"#;
                line(out, "# Sent as is: name your model.", "");
                line(out, body, "");
            }
            (Some(_), true) => line(out, "# Each tier names its URL and model (below).", ""),
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
            line(out, &format!("price_input = {}", prices.0), "US dollars per million tokens, for the cost report");
            let _ = writeln!(out, "price_output = {}\n", prices.1);
        }
        out.push_str("[[classes]]\nname = \"chat\"\n");
        line(out, "weight = 90", "90% of the requests");
        out.push_str(
            "tier = \"primary\"\nprompts = [\"ping\", \"Summarise this sentence in five words.\"]\nmax_tokens = 32\n\n",
        );
        out.push_str("[[classes]]\nname = \"analysis\"\nweight = 10\ntier = \"primary\"\nmax_tokens = 256\n\n");
        out.push_str("[failover]\nchain = [\"primary\", \"fallback\"]\non_status = [429, 500, 502, 503, 504]\n");
        line(out, "latency_budget = \"2s\"", "an attempt slower than this moves on to the next tier");
    }

    fn load(&self, out: &mut String) {
        // Enough requests to show the availability target with 95% confidence when none fail: 99% needs about
        // 380. Through a gateway each request costs money, so the rate stays low.
        let (rate, duration) = if self.url.is_some() { ("5/s", "2m") } else { ("200/s", "20s") };
        out.push_str("\n[load]\n");
        line(out, "profile = \"constant\"", "constant | ramp | steps | burst | spike | sine | trace");
        line(out, &format!("rate = \"{rate}\""), "open loop: each request goes at its time, whatever the target does");
        let _ = writeln!(out, "duration = \"{duration}\"");
    }
}

fn sla(out: &mut String) {
    out.push_str("\n[sla]\n");
    line(out, "availability = \"99%\"", "judged with its 95% interval: more requests show more nines");
    line(out, "p99 = \"1s\"", "latency from each request's intended send time");
    line(out, "\"p99.9\" = \"3s\"", "");
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
