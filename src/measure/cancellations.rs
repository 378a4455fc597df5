//! Requests whose client hung up on purpose (a class's `cancel`): how many, how many before their first token,
//! the tokens they received, and (once the run has asked the providers) the tokens generated for them after the
//! hang-up, which is what a gateway that does not pass a hang-up on costs its owner.

use crate::sample::{Outcome, Sample};
use serde::{Deserialize, Serialize};

/// The cancelled requests kept by number for the providers' count after the run; past it they are only counted.
pub const MAX_PENDING: usize = 65_536;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cancellations {
    pub requests: u64,
    /// Of those, hung up before their first token came.
    pub before_first_token: u64,
    /// Tokens their clients received before hanging up (content events of the streams).
    pub tokens_received: u64,
    /// Tokens the providers generated for them that their clients never received: after the hang-up, or in
    /// flight when it came. Known only from the providers' own count (slacheck's in-process mocks): `None` else.
    #[serde(rename = "tokens_after_cancel")]
    pub tokens_after: Option<u64>,
    /// Cancelled requests whose provider's count was found (the others are in `requests` only).
    pub measured: u64,
    /// (request number, tokens received) of the cancelled requests, for the providers' count after the run.
    #[serde(skip)]
    pub pending: Vec<(u64, u64)>,
}

impl Cancellations {
    pub(super) fn observe(&mut self, s: &Sample) {
        if s.outcome != Outcome::Cancelled {
            return;
        }
        let received = s.stream.map_or(0, |t| t.tokens);
        self.requests += 1;
        self.before_first_token += u64::from(s.stream.and_then(|t| t.first_token).is_none());
        self.tokens_received += received;
        if self.pending.len() < MAX_PENDING {
            self.pending.push((s.request, received));
        }
    }

    pub(super) fn merge(&mut self, o: &Cancellations) {
        self.tokens_after = match (self.tokens_after, o.tokens_after) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) if self.requests == 0 => b.or(a),
            (a, _) if o.requests == 0 => a,
            _ => None,
        };
        self.requests += o.requests;
        self.before_first_token += o.before_first_token;
        self.tokens_received += o.tokens_received;
        self.measured += o.measured;
    }

    /// The providers' count: `produced(request number)` is what they generated for it (none: not known). Each
    /// cancelled request adds what was generated beyond what its client received.
    pub fn count_after(&mut self, produced: impl Fn(u64) -> Option<u64>) {
        let mut after = None;
        for (request, received) in std::mem::take(&mut self.pending) {
            if let Some(p) = produced(request) {
                *after.get_or_insert(0) += p.saturating_sub(received);
                self.measured += 1;
            }
        }
        self.tokens_after = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::StreamTiming;
    use std::time::Duration;

    fn cancelled(request: u64, received: u64, first_token: bool) -> Sample {
        let stream = StreamTiming {
            headers: Duration::ZERO,
            first_token: first_token.then_some(Duration::from_millis(5)),
            last_token: None,
            tokens: received,
            tokens_after_first: 0.0,
            largest_gap: None,
        };
        Sample {
            request,
            outcome: Outcome::Cancelled,
            stream: Some(stream),
            ..Sample::not_sent(Duration::ZERO, Duration::ZERO)
        }
    }

    #[test]
    fn the_tokens_after_a_hang_up_are_what_was_generated_beyond_what_was_received() {
        let mut c = Cancellations::default();
        c.observe(&cancelled(3, 10, true));
        c.observe(&cancelled(8, 0, false));
        c.observe(&cancelled(9, 4, true));
        c.observe(&Sample { outcome: Outcome::Ok, ..cancelled(10, 50, true) });
        assert_eq!((c.requests, c.before_first_token, c.tokens_received), (3, 1, 14));
        // Request 3: 25 generated, 10 received; request 8: 0 and 0; request 9 is not known to any provider.
        c.count_after(|r| match r {
            3 => Some(25),
            8 => Some(0),
            _ => None,
        });
        assert_eq!((c.tokens_after, c.measured), (Some(15), 2));
        let mut none = Cancellations::default();
        none.observe(&cancelled(1, 3, true));
        none.count_after(|_| None);
        assert_eq!((none.tokens_after, none.measured), (None, 0), "unknown, never zero");
    }
}
