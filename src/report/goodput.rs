//! summary.json's `goodput` and `tokens`: the share and rate of requests that met `[sla] goodput`, and the input
//! and output tokens delivered per second, overall, by class and by serving tier.

use crate::measure::{Delivered, RunResult};
use crate::scenario::GoodputSpec;
use serde::Serialize;
use std::collections::BTreeMap;

/// Good requests, of the scheduled ones.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GoodputSummary {
    /// The objectives a good request met (besides succeeding).
    pub objectives: GoodputSpec,
    pub good: u64,
    /// Scheduled requests, less those whose client hung up on purpose (the denominator, as availability's).
    pub total: u64,
    /// good / total.
    pub ratio: Option<f64>,
    /// Good requests per second of the run.
    pub per_s: f64,
    /// By class: good of its requests; by tier: good of those it served.
    pub classes: BTreeMap<String, SliceGoodput>,
    pub tiers: BTreeMap<String, SliceGoodput>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SliceGoodput {
    pub good: u64,
    pub of: u64,
    pub ratio: Option<f64>,
    pub per_s: f64,
}

impl GoodputSummary {
    /// The goodput of a run of `duration_s`, when `[sla] goodput` set objectives.
    pub fn of(result: &RunResult, objectives: Option<GoodputSpec>, duration_s: f64) -> Option<Self> {
        let objectives = objectives.filter(|_| result.goodput.judged)?;
        let slice = |good: u64, of: u64| SliceGoodput {
            good,
            of,
            ratio: (of > 0).then(|| good as f64 / of as f64),
            per_s: good as f64 / duration_s,
        };
        let g = &result.goodput;
        let classes =
            result.classes.iter().zip(&g.classes).map(|((n, c), d)| (n.clone(), slice(d.good, c.counts.judged())));
        let tiers =
            result.tiers.iter().zip(&g.tiers).map(|((n, t), d)| (n.clone(), slice(d.good, t.served.counts.total)));
        let overall = slice(g.overall.good, result.counts.judged());
        Some(GoodputSummary {
            objectives,
            good: overall.good,
            total: overall.of,
            ratio: overall.ratio,
            per_s: overall.per_s,
            classes: classes.collect(),
            tiers: tiers.collect(),
        })
    }
}

/// Tokens delivered: of answered requests, slacheck's count of the content it sent (else `usage.prompt_tokens`)
/// and the answer's `usage.completion_tokens` (else the tokens counted in the stream). Apart, those of the
/// requests sent that got no successful answer: the prompts slacheck made for them, and the answer tokens that
/// came before they failed (a stream cut short by a timeout).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct TokensSummary {
    pub input: u64,
    pub output: u64,
    #[serde(default)]
    pub input_unanswered: u64,
    #[serde(default)]
    pub output_unanswered: u64,
    pub input_per_s: f64,
    pub output_per_s: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, SliceTokens>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tiers: BTreeMap<String, SliceTokens>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SliceTokens {
    pub input: u64,
    pub output: u64,
    pub input_per_s: f64,
    pub output_per_s: f64,
}

impl TokensSummary {
    pub fn of(result: &RunResult, duration_s: f64) -> Self {
        let slice = |d: &Delivered| SliceTokens {
            input: d.input_tokens,
            output: d.output_tokens,
            input_per_s: d.input_tokens as f64 / duration_s,
            output_per_s: d.output_tokens as f64 / duration_s,
        };
        let g = &result.goodput;
        let overall = slice(&g.overall);
        TokensSummary {
            input: overall.input,
            output: overall.output,
            input_unanswered: g.unanswered.input_tokens,
            output_unanswered: g.unanswered.output_tokens,
            input_per_s: overall.input_per_s,
            output_per_s: overall.output_per_s,
            classes: result.classes.iter().zip(&g.classes).map(|((n, _), d)| (n.clone(), slice(d))).collect(),
            tiers: result.tiers.iter().zip(&g.tiers).map(|((n, _), d)| (n.clone(), slice(d))).collect(),
        }
    }
}
