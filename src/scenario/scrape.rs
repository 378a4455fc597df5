//! `[[scrape]]`: a Prometheus endpoint (the gateway's own `/metrics`) scraped before, during and after the run,
//! and `reconcile`, which holds a counter of it against what slacheck's clients saw.

use super::LoadedScenario;
use crate::units::HumanDuration;
use serde::{Deserialize, Serialize};
use slacheck_common::tomlfile::FileError;
use std::time::Duration;

/// The shortest `every`: a scrape a tenth of a second keeps a long run's file and the endpoint's load modest.
pub const MIN_EVERY: Duration = Duration::from_millis(100);

/// The longest `timeout`: a scrape that takes longer is counted as failed.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// The most `show` selectors over every `[[scrape]]`: each is a line on the timeline, in a colour of its own.
pub const MAX_SHOWN: usize = 8;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSpec {
    /// The endpoint, e.g. `"http://gateway:4000/metrics"` (http or https), answering in the Prometheus text format.
    pub url: String,
    /// Between the starts of two scrapes (default 5s, at least 100ms).
    #[serde(default = "default_every")]
    pub every: HumanDuration,
    /// A scrape that has not answered in full by then is counted as failed (default 2s, or `every` if shorter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Counters of this endpoint to hold against slacheck's own counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileSpec>,
    /// Series drawn on the timeline, each a selector `metric{label="value",…}` whose series are added up: a
    /// counter as its rate per second between two scrapes, a gauge as its value (at most 8 over every scrape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub show: Vec<String>,
}

fn default_every() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

impl ScrapeSpec {
    /// How long one scrape may take.
    pub fn timeout(&self) -> Duration {
        self.timeout.map_or(self.every.0.min(Duration::from_secs(2)), |t| t.0)
    }
}

/// Which series of the endpoint count what slacheck counted: each a selector, `metric{label="value",…}`, whose
/// series' increases over the run are added up (`!=` excludes a value).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSpec {
    /// Requests the gateway received: slacheck's requests sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<String>,
    /// Requests the gateway failed: slacheck's errors and timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<String>,
    /// Requests the gateway sent to a fallback: slacheck's failed-over requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<String>,
    /// Output (completion) tokens: the tokens slacheck's clients received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<String>,
}

impl ReconcileSpec {
    /// (slacheck's count, selector) of each mapping given, in a fixed order.
    pub fn entries(&self) -> Vec<(&'static str, &str)> {
        let all = [
            ("requests", &self.requests),
            ("errors", &self.errors),
            ("fallbacks", &self.fallbacks),
            ("tokens_out", &self.tokens_out),
        ];
        all.into_iter().filter_map(|(name, s)| s.as_deref().map(|s| (name, s))).collect()
    }
}

/// A series selector: a metric name and label matchers (`=` or `!=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub metric: String,
    /// (label, value, equal): `equal` false for `!=`.
    pub matchers: Vec<(String, String, bool)>,
}

impl Selector {
    /// Reads `metric` or `metric{a="x",b!="y"}`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let (metric, rest) = match text.find('{') {
            Some(at) => (&text[..at], Some(&text[at..])),
            None => (text, None),
        };
        if !is_metric_name(metric) {
            return Err(format!("{metric:?} is not a metric name (letters, digits, `_` and `:`)"));
        }
        let mut matchers = Vec::new();
        if let Some(rest) = rest {
            let inner = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}'));
            let inner = inner.ok_or("a selector's labels end with `}`, and nothing follows it")?;
            for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (label, value, equal) = match part.split_once("!=") {
                    Some((l, v)) => (l, v, false),
                    None => part.split_once('=').map(|(l, v)| (l, v, true)).ok_or("each label is `name=\"value\"`")?,
                };
                let value = value.trim().strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                let value = value.ok_or("a label's value is written in double quotes")?;
                if !is_metric_name(label.trim()) || label.contains(':') {
                    return Err(format!("{:?} is not a label name", label.trim()));
                }
                matchers.push((label.trim().to_string(), value.to_string(), equal));
            }
        }
        Ok(Selector { metric: metric.to_string(), matchers })
    }

    /// Whether a series (its metric and label pairs) is selected.
    pub fn matches(&self, metric: &str, labels: &[(String, String)]) -> bool {
        let value = |name: &str| labels.iter().find(|(l, _)| l == name).map_or("", |(_, v)| v.as_str());
        metric == self.metric && self.matchers.iter().all(|(l, v, equal)| (value(l) == v) == *equal)
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl LoadedScenario {
    /// Each `[[scrape]]`: an http(s) URL, `every` and `timeout` in range, selectors that read.
    pub(super) fn check_scrapes(&self) -> Result<(), FileError> {
        for (i, s) in self.scenario.scrape.iter().enumerate() {
            let at = |f: &str| format!("scrape[{i}].{f}");
            match reqwest::Url::parse(&s.url) {
                Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {}
                Ok(_) => return Err(self.error(&at("url"), "give an http:// or https:// URL with a host")),
                Err(e) => return Err(self.error(&at("url"), format!("not a valid URL ({e})"))),
            }
            if s.every.0 < MIN_EVERY {
                return Err(
                    self.error(&at("every"), format!("give at least {} between scrapes", HumanDuration(MIN_EVERY)))
                );
            }
            if s.timeout().is_zero() || s.timeout() > MAX_TIMEOUT {
                return Err(self.error(
                    &at("timeout"),
                    format!("give a timeout above 0s, at most {}", HumanDuration(MAX_TIMEOUT)),
                ));
            }
            for (name, selector) in s.reconcile.iter().flat_map(ReconcileSpec::entries) {
                Selector::parse(selector).map_err(|e| self.error(&at(&format!("reconcile.{name}")), e))?;
            }
            for (j, selector) in s.show.iter().enumerate() {
                Selector::parse(selector).map_err(|e| self.error(&at(&format!("show[{j}]")), e))?;
            }
        }
        let shown: Vec<usize> = self.scenario.scrape.iter().map(|s| s.show.len()).collect();
        if shown.iter().sum::<usize>() > MAX_SHOWN {
            let last = shown.iter().rposition(|n| *n > 0).unwrap_or_default();
            return Err(self.error(
                &format!("scrape[{last}].show"),
                format!("show at most {MAX_SHOWN} series over every [[scrape]] (a line each, in a colour of its own)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_reads_its_labels_and_matches_by_them() {
        let s = Selector::parse(r#"litellm_requests_total{status!="200", model="m"}"#).unwrap();
        assert_eq!(s.metric, "litellm_requests_total");
        let labels = |status: &str| vec![("model".to_string(), "m".to_string()), ("status".into(), status.into())];
        assert!(s.matches("litellm_requests_total", &labels("500")));
        assert!(!s.matches("litellm_requests_total", &labels("200")));
        assert!(!s.matches("other", &labels("500")));
        assert!(Selector::parse("vllm:generation_tokens_total").unwrap().matchers.is_empty());
        for bad in ["", "9x", "a{b=c}", "a{b=\"c\"", "a{=\"c\"}"] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
    }
}
