//! After a run whose clients hung up on purpose: the tokens the in-process mock providers generated for those
//! requests beyond what their clients received, from each provider's ledger by request id. A provider behind a
//! gateway that does not pass a hang-up on goes on generating after the client left; the wait for those answers
//! to end is bounded by the tiers' timeout (at most 30 s).

use crate::measure::Cancellations;
use crate::router::{request_id, Router};
use mock_upstream::ledger::REQUEST_ID_HEADER;
use mock_upstream::RunningProvider;
use std::time::{Duration, Instant};

/// The longest wait for the providers to finish the answers of cancelled requests.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Fills `c.tokens_after` from the providers' ledgers (left unknown when no provider knows the requests: a real
/// target, or requests that carried no `x-request-id`).
pub(super) async fn count_after_hang_ups(c: &mut Cancellations, providers: &[RunningProvider], router: &Router) {
    let ids_reach_the_mock = router.request_id_header.as_ref().is_some_and(|h| h.as_str() == REQUEST_ID_HEADER);
    if c.pending.is_empty() || providers.is_empty() || !ids_reach_the_mock {
        c.pending.clear();
        return;
    }
    let id = |request: u64| request_id(router.run_id, request);
    let longest = router.tiers.iter().map(|t| t.timeout).max().unwrap_or_default().min(MAX_WAIT);
    let until = Instant::now() + longest;
    let unfinished = |c: &Cancellations| {
        c.pending.iter().any(|(r, _)| {
            let id = id(*r);
            providers.iter().any(|p| p.provider.ledger.get(&id).is_some_and(|x| !x.finished))
        })
    };
    while unfinished(c) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.count_after(|request| {
        let id = id(request);
        let found: Vec<u64> = providers.iter().filter_map(|p| p.provider.ledger.get(&id)).map(|x| x.tokens).collect();
        (!found.is_empty()).then(|| found.iter().sum())
    });
}
