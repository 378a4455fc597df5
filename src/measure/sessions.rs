//! Conversations: sessions started, completed and broken, and each turn number's latency, time to first token
//! and input tokens, so that a prefix cache's effect shows as turns 2+ being faster.
//!
//! Turns past [`MAX_TURN_ROWS`] share the last row: each row keeps two histograms.

use super::histogram::{micros, new_histogram};
use crate::sample::{ErrorKind, Outcome, Sample};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Turn numbers kept apart; later turns are counted in the last row.
pub const MAX_TURN_ROWS: usize = 16;

/// What became of the sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCounts {
    /// Sessions whose first turn was due.
    pub started: u64,
    /// Every turn answered.
    pub completed: u64,
    /// Ended by a turn the target failed (an error or a timeout): the turns after it were never sent.
    pub broken: u64,
    /// Ended by the generator: a turn not sent (`max_in_flight`), or cut short by the run's stop.
    pub cut: u64,
    /// Ended by its user, who hung up during an answer (the class's `cancel`).
    #[serde(default)]
    pub cancelled: u64,
}

/// One turn number: its requests, latency, time to first token and input tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TurnStats {
    pub requests: u64,
    pub ok: u64,
    #[serde(with = "super::as_text")]
    pub latency: Histogram<u64>,
    #[serde(with = "super::option_as_text")]
    pub ttft: Option<Histogram<u64>>,
    /// Input tokens slacheck sent (the history included), over the turns that counted them.
    pub input_tokens: u64,
    pub counted: u64,
}

impl Default for TurnStats {
    fn default() -> Self {
        TurnStats { requests: 0, ok: 0, latency: new_histogram(), ttft: None, input_tokens: 0, counted: 0 }
    }
}

/// Sessions and turns of a run's conversational classes (empty without any).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sessions {
    pub counts: SessionCounts,
    /// By turn number, from the first; the last row also holds every later turn.
    pub turns: Vec<TurnStats>,
}

impl Sessions {
    /// One turn of a session: counted by its number, and its session's fate when it is the session's last.
    pub(super) fn observe(&mut self, s: &Sample) {
        let Some(t) = s.session else { return };
        let c = &mut self.counts;
        c.started += u64::from(t.turn == 0);
        match &s.outcome {
            Outcome::Ok if t.turn + 1 >= t.turns => c.completed += 1,
            Outcome::Ok => {}
            Outcome::NotSent | Outcome::Error(ErrorKind::Interrupted) => c.cut += 1,
            Outcome::Error(_) | Outcome::Timeout => c.broken += 1,
            Outcome::Cancelled => c.cancelled += 1,
        }
        let row = (t.turn as usize).min(MAX_TURN_ROWS - 1);
        if self.turns.len() <= row {
            self.turns.resize_with(row + 1, TurnStats::default);
        }
        let r = &mut self.turns[row];
        r.requests += 1;
        r.ok += u64::from(s.outcome == Outcome::Ok);
        if s.sent.is_some() {
            r.latency.saturating_record(micros(s.done.saturating_sub(s.intended)));
        }
        if let Some(first) = s.stream.and_then(|st| st.first_token) {
            r.ttft.get_or_insert_with(new_histogram).saturating_record(micros(first.saturating_sub(s.intended)));
        }
        if let Some(n) = s.input_tokens {
            r.input_tokens += u64::from(n);
            r.counted += 1;
        }
    }

    /// Adds another shard's sessions.
    pub(super) fn merge(&mut self, o: &Sessions) -> Result<(), hdrhistogram::AdditionError> {
        let (a, b) = (&mut self.counts, &o.counts);
        a.started += b.started;
        a.completed += b.completed;
        a.broken += b.broken;
        a.cut += b.cut;
        a.cancelled += b.cancelled;
        if self.turns.len() < o.turns.len() {
            self.turns.resize_with(o.turns.len(), TurnStats::default);
        }
        for (a, b) in self.turns.iter_mut().zip(&o.turns) {
            a.requests += b.requests;
            a.ok += b.ok;
            a.latency.add(&b.latency)?;
            match (a.ttft.as_mut(), &b.ttft) {
                (Some(x), Some(y)) => x.add(y)?,
                (None, Some(y)) => a.ttft = Some(y.clone()),
                _ => {}
            }
            a.input_tokens += b.input_tokens;
            a.counted += b.counted;
        }
        Ok(())
    }
}
