//! How slacheck's in-process mock providers kept to their own latency models. They share the generator's
//! process, so when it is starved of CPU they answer late, and the run's service time grows with them: that
//! part of a latency miss is the generator's, not the target's (see `sla::mock_lateness`).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The in-process mocks' answers, all providers together (µs, one value per answer that ended).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MockTiming {
    /// How late answers left against their models: from when each was due to end to when its task ran.
    #[serde(with = "super::as_text")]
    pub lateness: Histogram<u64>,
    /// The answers' times by their models (a queue's wait included), when the mocks were the target itself;
    /// `None` when something stood between (a gateway), whose own time no model knows.
    #[serde(default, with = "super::option_as_text", skip_serializing_if = "Option::is_none")]
    pub modelled: Option<Histogram<u64>>,
}

impl MockTiming {
    /// The providers' timing together; `None` without a provider. `direct`: the run's requests went to the
    /// providers themselves.
    pub fn of(providers: impl IntoIterator<Item = mock_upstream::Timing>, direct: bool) -> Option<MockTiming> {
        let mut all = providers.into_iter();
        let mut merged = all.next()?;
        for t in all {
            // Both resize to fit, so adding cannot run out of room.
            let _ = merged.lateness.add(&t.lateness);
            let _ = merged.modelled.add(&t.modelled);
        }
        Some(MockTiming { lateness: merged.lateness, modelled: direct.then_some(merged.modelled) })
    }

    /// Adds another shard's; the modelled times stay only if both shards had them.
    pub fn merge(&mut self, other: &MockTiming) -> Result<(), hdrhistogram::AdditionError> {
        self.lateness.add(&other.lateness)?;
        self.modelled = match (self.modelled.take(), &other.modelled) {
            (Some(mut a), Some(b)) => {
                a.add(b)?;
                Some(a)
            }
            _ => None,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(modelled: &[u64], late: &[u64]) -> mock_upstream::Timing {
        let mut t = mock_upstream::Timing::default();
        modelled.iter().for_each(|v| t.modelled.record(*v).unwrap());
        late.iter().for_each(|v| t.lateness.record(*v).unwrap());
        t
    }

    #[test]
    fn providers_add_up_and_the_models_count_only_when_the_mocks_were_the_target() {
        let two = || [timing(&[20_000, 30_000], &[100, 5_000]), timing(&[40_000], &[900_000])];
        let direct = MockTiming::of(two(), true).unwrap();
        assert_eq!((direct.lateness.len(), direct.modelled.as_ref().unwrap().len()), (3, 3));
        assert!(direct.lateness.max() >= 900_000 && direct.modelled.as_ref().unwrap().min() <= 20_000);
        let behind_a_gateway = MockTiming::of(two(), false).unwrap();
        assert!(behind_a_gateway.modelled.is_none() && behind_a_gateway.lateness.len() == 3);
        assert!(MockTiming::of([], true).is_none());

        let mut shards = direct.clone();
        shards.merge(&direct).unwrap();
        assert_eq!((shards.lateness.len(), shards.modelled.as_ref().map(|m| m.len())), (6, Some(6)));
        shards.merge(&behind_a_gateway).unwrap();
        assert_eq!((shards.lateness.len(), shards.modelled.is_none()), (9, true));
    }
}
