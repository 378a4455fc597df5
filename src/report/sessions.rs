//! summary.json's `conversations`: what became of the sessions, and each turn number's latency, time to first
//! token and input tokens (a prefix cache shows as turns 2+ answering sooner).

use super::summary::Percentiles;
use crate::measure::{RunResult, SessionCounts, MAX_TURN_ROWS};
use serde::Serialize;

/// Sessions and turns, for a run with conversational classes.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ConversationSummary {
    pub sessions: SessionCounts,
    /// By turn number, from 1.
    pub turns: Vec<TurnSummary>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TurnSummary {
    /// The turn's number, from 1; with `and_later`, this row holds every later turn too.
    pub turn: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub and_later: bool,
    pub requests: u64,
    pub ok: u64,
    /// From each turn's due time (the previous answer's end plus the think time).
    pub latency_ms: Percentiles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Percentiles>,
    /// The mean input tokens slacheck sent per turn, the history included (when it counted them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_mean: Option<f64>,
}

impl ConversationSummary {
    /// The run's conversations, when it had any.
    pub fn of(result: &RunResult) -> Option<Self> {
        let s = &result.sessions;
        if s.counts.started == 0 {
            return None;
        }
        let turns = s
            .turns
            .iter()
            .enumerate()
            .map(|(i, t)| TurnSummary {
                turn: i as u32 + 1,
                and_later: i + 1 == MAX_TURN_ROWS,
                requests: t.requests,
                ok: t.ok,
                latency_ms: Percentiles::of(&t.latency),
                ttft_ms: t.ttft.as_ref().map(Percentiles::of),
                input_tokens_mean: (t.counted > 0).then(|| t.input_tokens as f64 / t.counted as f64),
            })
            .collect();
        Some(ConversationSummary { sessions: s.counts, turns })
    }
}
