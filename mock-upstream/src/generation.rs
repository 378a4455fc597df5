//! One answer's life on the provider's side: its tokens, counted in the ledger and the stats as they are
//! made, and its time by the model, counted once; each settled when it ends or when it is dropped first (its
//! client went away).

use crate::provider::Provider;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ends an id's generation when dropped: at the answer's end, or when the server drops it because the client
/// went away (then `client_left`).
pub struct Generation {
    pub(crate) provider: Arc<Provider>,
    pub(crate) id: Option<String>,
    pub(crate) complete: bool,
    /// Tokens generated for this answer so far.
    pub(crate) tokens: u64,
    /// The answer's time by its model, counted when the model settles it (or as never, if it is dropped first).
    pub(crate) model: ModelledAnswer,
}

impl Generation {
    /// The answer ended on the provider's side (complete, or failed on purpose): not a client that went away.
    pub fn complete(&mut self) {
        self.complete = true;
    }

    pub fn produced(&mut self, tokens: u64) {
        self.tokens += tokens;
        if let Some(id) = &self.id {
            self.provider.ledger.produced(id, tokens);
        }
        self.provider.count_tokens(tokens);
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if !self.complete {
            self.provider.count_hang_up(self.tokens);
        }
        if let Some(id) = &self.id {
            self.provider.ledger.ended(id, !self.complete);
        }
    }
}

/// How long a model that never answers takes: a hang's own wait.
pub const NEVER: Duration = Duration::from_secs(24 * 3600);

/// One answer's time by its model, counted once in the provider's [`Timing`]: when the model has settled when it
/// ends, or, when the answer is dropped first (its client left while it waited its turn or streamed), as a model
/// that never answers, so that no answer the client gave up on is missing from the model's times.
pub struct ModelledAnswer {
    provider: Arc<Provider>,
    queued: Instant,
    counted: bool,
}

impl ModelledAnswer {
    /// An answer to a request that began to wait its turn at `queued`.
    pub fn new(provider: Arc<Provider>, queued: Instant) -> Self {
        ModelledAnswer { provider, queued, counted: false }
    }

    /// The model has this answer end at `due`.
    pub fn ends_at(&mut self, due: Instant) {
        if !std::mem::replace(&mut self.counted, true) {
            self.provider.count_modelled(due.saturating_duration_since(self.queued));
        }
    }
}

impl Drop for ModelledAnswer {
    fn drop(&mut self) {
        if !self.counted {
            self.provider.count_modelled(NEVER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderConfig;

    #[test]
    fn an_answer_counts_its_modelled_time_from_its_queue_once_and_its_lateness_from_when_it_was_due() {
        let p = Arc::new(Provider::new(ProviderConfig::named("t")).unwrap());
        let queued = Instant::now();
        let mut answer = ModelledAnswer::new(p.clone(), queued);
        answer.ends_at(queued + Duration::from_millis(30));
        answer.ends_at(queued + Duration::from_millis(90));
        drop(answer);
        // Dropped before its model settled it: its client gave up on it.
        drop(ModelledAnswer::new(p.clone(), queued));
        p.count_late(queued + Duration::from_millis(30), queued + Duration::from_millis(35));
        // Ready before it was due (a clock read out of order) is not late, and does not wrap.
        p.count_late(queued + Duration::from_millis(10), queued + Duration::from_millis(9));
        let t = p.timing();
        let within_1_percent = |v: u64, want: u64| v.abs_diff(want) <= want / 100;
        assert_eq!((t.modelled.len(), t.lateness.len()), (2, 2), "each answer's model counted once");
        assert!(within_1_percent(t.modelled.min(), 30_000), "{t:?}");
        assert!(within_1_percent(t.modelled.max(), NEVER.as_micros() as u64), "{t:?}");
        assert!(within_1_percent(t.lateness.max(), 5_000) && t.lateness.min() == 0, "{t:?}");
    }
}
