//! What a provider produced for each request id (`x-request-id`), so that a client can learn how many tokens
//! were generated for a request it hung up on: the tokens it never received are what a gateway that does not pass
//! a hang-up on costs its owner.
//!
//! Generation stops when the provider's own client goes away, as a server that aborts on disconnect does (vLLM):
//! a streamed answer's tokens are counted as each chunk is made; a whole answer's when it is complete. The ledger
//! keeps the last [`LEDGER_ENTRIES`] ids; the oldest is forgotten first.

use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The request ids a provider remembers.
pub const LEDGER_ENTRIES: usize = 65_536;

/// The header a request's id is read from.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// One request id's answer as the provider made it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Produced {
    /// Tokens generated for it (over every attempt that carried the id).
    pub tokens: u64,
    /// Its generation has ended: complete, or stopped when the client went away.
    pub finished: bool,
    /// The provider's own client went away before the answer ended.
    pub client_left: bool,
}

#[derive(Default)]
struct Entries {
    by_id: HashMap<String, Produced>,
    order: VecDeque<String>,
}

/// Each request id's tokens, bounded.
#[derive(Default)]
pub struct Ledger {
    entries: Mutex<Entries>,
}

impl Ledger {
    fn update(&self, id: &str, change: impl FnOnce(&mut Produced)) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !e.by_id.contains_key(id) {
            if e.order.len() == LEDGER_ENTRIES {
                if let Some(old) = e.order.pop_front() {
                    e.by_id.remove(&old);
                }
            }
            e.order.push_back(id.to_string());
        }
        let entry = e.by_id.entry(id.to_string()).or_default();
        entry.finished = false;
        change(entry);
    }

    /// An attempt with this id began.
    pub fn began(&self, id: &str) {
        self.update(id, |_| {});
    }

    /// `tokens` more were generated for `id`.
    pub fn produced(&self, id: &str, tokens: u64) {
        self.update(id, |p| p.tokens += tokens);
    }

    /// The generation for `id` ended; `client_left`: because its client went away.
    pub fn ended(&self, id: &str, client_left: bool) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = e.by_id.get_mut(id) {
            p.finished = true;
            p.client_left |= client_left;
        }
    }

    /// What was produced for `id`, if it is remembered.
    pub fn get(&self, id: &str) -> Option<Produced> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).by_id.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_accumulates_its_tokens_and_the_oldest_is_forgotten_first() {
        let l = Ledger::default();
        l.began("a");
        l.produced("a", 3);
        l.produced("a", 2);
        assert_eq!(l.get("a"), Some(Produced { tokens: 5, finished: false, client_left: false }));
        l.ended("a", true);
        assert_eq!(l.get("a"), Some(Produced { tokens: 5, finished: true, client_left: true }));
        for i in 0..LEDGER_ENTRIES {
            l.began(&format!("r{i}"));
        }
        assert_eq!(l.get("a"), None, "pushed out by newer ids");
        assert!(l.get("r0").is_some() && l.get(&format!("r{}", LEDGER_ENTRIES - 1)).is_some());
        assert_eq!(l.entries.lock().unwrap().by_id.len(), LEDGER_ENTRIES);
    }
}
