//! Hedging: after a wait without an answer, a duplicate of the request on the second tier, within the hedge
//! budget; the first success wins and the other attempt is cancelled.

use super::{Asked, Exchange, Router};
use crate::prompt::RequestBody;
use crate::sample::{Attempt, ErrorKind, Outcome};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

impl Router {
    /// The first tier, and after `after` without an answer a duplicate on the second, if the hedge budget
    /// allows; the first success wins and the other is cancelled (not in `attempts`: its outcome is unknown).
    /// Returns the deciding exchange, whether a hedge was sent, and the tier whose attempt was cancelled.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn race(
        &self,
        tiers: [usize; 2],
        index: u64,
        bodies: [RequestBody; 2],
        after: Duration,
        asked: Asked<'_>,
        start: Instant,
        cancel: &CancellationToken,
        attempts: &mut Vec<Attempt>,
    ) -> (Exchange, bool, Option<usize>) {
        let [body_a, body_b] = bodies;
        let record = |attempts: &mut Vec<Attempt>, tier: usize, began: Duration, e: &Exchange| {
            attempts.push(self.attempt_of(tier, index, e, start.elapsed().saturating_sub(began)));
        };
        let interrupted = || Exchange::failed(Outcome::Error(ErrorKind::Interrupted));
        let began_a = start.elapsed();
        let first = self.attempt(&self.tiers[tiers[0]], index, body_a, asked, start);
        tokio::pin!(first);
        tokio::select! {
            e = &mut first => {
                record(attempts, tiers[0], began_a, &e);
                return (e, false, None);
            }
            _ = tokio::time::sleep(after) => {}
            _ = cancel.cancelled() => return (interrupted(), false, None),
        }
        let (sent, requests) =
            (self.hedges_sent.load(Ordering::Relaxed), self.logical_requests.load(Ordering::Relaxed));
        let allowed = (sent as f64) < self.policy.hedge_max_share * requests as f64;
        if !allowed {
            let e = tokio::select! { e = &mut first => e, _ = cancel.cancelled() => interrupted() };
            record(attempts, tiers[0], began_a, &e);
            return (e, false, None);
        }
        self.hedges_sent.fetch_add(1, Ordering::Relaxed);
        let began_b = start.elapsed();
        let second = self.attempt(&self.tiers[tiers[1]], index, body_b, asked, start);
        tokio::pin!(second);
        // Whichever answers first is recorded; a success wins and the other is dropped, else the other decides.
        let (won, e) = tokio::select! {
            e = &mut first => (0, e),
            e = &mut second => (1, e),
            _ = cancel.cancelled() => return (interrupted(), true, None),
        };
        let began = [began_a, began_b];
        record(attempts, tiers[won], began[won], &e);
        if e.outcome == Outcome::Ok {
            return (e, true, Some(tiers[1 - won]));
        }
        let other = if won == 0 { second.as_mut() } else { first.as_mut() };
        let e = tokio::select! { e = other => e, _ = cancel.cancelled() => interrupted() };
        record(attempts, tiers[1 - won], began[1 - won], &e);
        (e, true, None)
    }
}
