//! How attempts began: the time to open each new connection, and from sending to the answer's head. The
//! breakdown users of k6, hey and oha look at when they hunt a tail: is it the connections or the target?

use super::histogram::{micros, new_histogram};
use crate::sample::Sample;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseStats {
    /// Connections opened by requests, and the time each took (the lean path only: reqwest does not tell). Those opened before the run, at its starting rate, are not among them.
    pub opened: u64,
    /// Connections opened before the run into the pools of the tiers tried first (see `run`), untimed.
    #[serde(default)]
    pub preopened: u64,
    #[serde(with = "super::as_text")]
    pub connect: Histogram<u64>,
    /// The TLS handshake of each new https connection, after its connect.
    #[serde(with = "super::as_text", default = "new_histogram")]
    pub tls: Histogram<u64>,
    /// From an attempt's send to its answer's status line and headers (a new connection's time included).
    #[serde(with = "super::as_text")]
    pub headers: Histogram<u64>,
    /// Under `load.max_connections`: each attempt's wait for a free connection before its send.
    #[serde(with = "super::as_text", default = "new_histogram")]
    pub wait: Histogram<u64>,
}

impl Default for PhaseStats {
    fn default() -> Self {
        let h = new_histogram;
        PhaseStats { opened: 0, preopened: 0, connect: h(), tls: h(), headers: h(), wait: h() }
    }
}

impl PhaseStats {
    /// Every attempt of `s` whose answer's head came.
    pub fn observe(&mut self, s: &Sample) {
        for p in s.attempts.iter().filter_map(|a| a.phases) {
            self.headers.saturating_record(micros(p.headers));
            if let Some(connect) = p.connect {
                self.opened += 1;
                self.connect.saturating_record(micros(connect));
            }
            if let Some(tls) = p.tls {
                self.tls.saturating_record(micros(tls));
            }
            if let Some(wait) = p.wait {
                self.wait.saturating_record(micros(wait));
            }
        }
    }

    pub fn merge(&mut self, other: &PhaseStats) -> Result<(), hdrhistogram::AdditionError> {
        self.opened += other.opened;
        self.preopened += other.preopened;
        self.connect.add(&other.connect)?;
        self.tls.add(&other.tls)?;
        self.wait.add(&other.wait)?;
        self.headers.add(&other.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Attempt, Outcome, Phases};
    use std::time::Duration;

    #[test]
    fn each_attempt_with_a_head_counts_and_only_new_connections_have_a_connect_time() {
        let attempt = |phases| Attempt {
            tier: 0,
            region: None,
            outcome: Outcome::Ok,
            elapsed: Duration::ZERO,
            over_budget: false,
            phases,
        };
        let mut s = Sample::not_sent(Duration::ZERO, Duration::ZERO);
        s.attempts = vec![
            attempt(Some(Phases {
                wait: None,
                connect: Some(Duration::from_micros(300)),
                tls: Some(Duration::from_micros(900)),
                headers: Duration::from_millis(5),
            })),
            attempt(Some(Phases {
                wait: Some(Duration::from_micros(2500)),
                connect: None,
                tls: None,
                headers: Duration::from_millis(7),
            })),
            attempt(None),
        ];
        let mut p = PhaseStats::default();
        p.observe(&s);
        assert_eq!((p.opened, p.connect.len(), p.headers.len()), (1, 1, 2));
        assert_eq!((p.connect.max(), p.tls.len(), p.tls.max()), (300, 1, 900));
        assert_eq!(p.wait.len(), 1, "only an attempt under the connection cap waited");
        assert!(p.wait.equivalent(p.wait.max(), 2500));
        assert!(p.headers.equivalent(p.headers.max(), 7000) && p.headers.equivalent(p.headers.min(), 5000));
        let mut merged = PhaseStats::default();
        merged.merge(&p).unwrap();
        merged.merge(&p).unwrap();
        assert_eq!((merged.opened, merged.headers.len(), merged.tls.len(), merged.wait.len()), (2, 4, 2, 2));
    }
}
