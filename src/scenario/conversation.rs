//! A conversational class (`conversation = { … }`): sessions of several turns whose history grows, a think time
//! between an answer and the next question, how much of the history each turn sends, and the session id header.

use super::prompts::TokenLength;
use crate::units::HumanDuration;
use serde::{Deserialize, Serialize};

/// The most turns a session may have: each turn's question and answer are held until the session ends.
pub const MAX_TURNS: f64 = 1000.0;

/// The longest think time allowed: a session is held open (and counted in flight) while its user thinks.
pub const MAX_THINK_TIME: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationSpec {
    /// Turns per session: a number, or `{ mean, stddev, min, max }` drawn per session from the seed. With a
    /// `prompts_file`, each line's user messages are its turns and this must be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<TokenLength>,
    /// From the end of one turn's answer to the next turn's send (default 0s).
    #[serde(default)]
    pub think_time: HumanDuration,
    /// How much of the earlier turns each turn sends: `"full"` (default), `{ turns = N }` (the last N turns)
    /// or `{ tokens = N }` (the latest turns whose questions and answers fit in N tokens).
    #[serde(default)]
    pub history: History,
    /// The request header that carries the session's id, the same on each of its turns, so that a gateway can
    /// send a session to the same upstream or prefix cache; `""` sends none.
    #[serde(default = "default_session_header")]
    pub session_header: String,
}

fn default_session_header() -> String {
    "x-session-id".into()
}

/// How much of a session's earlier turns a turn carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum History {
    /// `"full"`: every earlier question and answer.
    Named(HistoryWord),
    /// `{ turns = N }`: the last N earlier turns.
    Turns { turns: u32 },
    /// `{ tokens = N }`: the latest earlier turns whose questions and answers fit in N tokens, whole turns only.
    Tokens { tokens: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HistoryWord {
    Full,
}

impl History {
    pub const FULL: History = History::Named(HistoryWord::Full);
}

impl Default for History {
    fn default() -> Self {
        History::FULL
    }
}

impl ConversationSpec {
    /// What is wrong with it, if anything: `(the key within it, the message)`.
    pub fn problem(&self, has_dataset: bool) -> Option<(String, String)> {
        if let Some(turns) = &self.turns {
            if has_dataset {
                return Some(("turns".into(), "a prompts_file's lines give the turns: leave `turns` out".into()));
            }
            if let Some((inner, message)) = turns.problem() {
                let key = if inner.is_empty() { "turns".to_string() } else { format!("turns.{inner}") };
                return Some((key, message.replace("tokens", "turns")));
            }
            if turns.upper() > MAX_TURNS {
                return Some(("turns".into(), format!("at most {MAX_TURNS} turns a session")));
            }
        } else if !has_dataset {
            return Some(("turns".into(), "say how many turns a session has, e.g. turns = 4".into()));
        }
        if self.think_time.0 > MAX_THINK_TIME {
            return Some(("think_time".into(), "at most 1h".into()));
        }
        match self.history {
            History::Turns { turns: 0 } => Some(("history.turns".into(), "keep at least one turn".into())),
            History::Tokens { tokens: 0 } => {
                Some(("history.tokens".into(), "give a budget of at least 1 token".into()))
            }
            _ => {
                let bad = !self.session_header.is_empty()
                    && reqwest::header::HeaderName::from_bytes(self.session_header.as_bytes()).is_err();
                bad.then(|| ("session_header".into(), "not a valid HTTP header name (\"\" sends none)".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<ConversationSpec, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn history_reads_its_three_forms() {
        assert_eq!(spec("turns = 3").unwrap().history, History::FULL);
        assert_eq!(spec("turns = 3\nhistory = \"full\"").unwrap().history, History::FULL);
        assert_eq!(spec("turns = 3\nhistory = { turns = 2 }").unwrap().history, History::Turns { turns: 2 });
        assert_eq!(spec("turns = 3\nhistory = { tokens = 500 }").unwrap().history, History::Tokens { tokens: 500 });
        assert!(spec("turns = 3\nhistory = \"all\"").is_err());
        let s = spec("turns = 3").unwrap();
        assert_eq!(s.session_header, "x-session-id");
        assert_eq!(s.think_time.0, std::time::Duration::ZERO);
    }

    #[test]
    fn problems_name_their_key() {
        let key = |text: &str, dataset: bool| spec(text).unwrap().problem(dataset).map(|(k, _)| k);
        assert_eq!(key("turns = 3", false), None);
        assert_eq!(key("think_time = \"1s\"", false).as_deref(), Some("turns"));
        assert_eq!(key("think_time = \"1s\"", true), None);
        assert_eq!(key("turns = 3", true).as_deref(), Some("turns"));
        assert_eq!(key("turns = 0", false).as_deref(), Some("turns"));
        assert_eq!(key("turns = 1001", false).as_deref(), Some("turns"));
        assert_eq!(key("turns = { mean = 4, max = 2000 }", false).as_deref(), Some("turns"));
        assert_eq!(key("turns = { mean = 4, min = 1, max = 10 }", false), None);
        assert_eq!(key("turns = 2\nthink_time = \"2h\"", false).as_deref(), Some("think_time"));
        assert_eq!(key("turns = 2\nhistory = { turns = 0 }", false).as_deref(), Some("history.turns"));
        assert_eq!(key("turns = 2\nhistory = { tokens = 0 }", false).as_deref(), Some("history.tokens"));
        assert_eq!(key("turns = 2\nsession_header = \"a b\"", false).as_deref(), Some("session_header"));
        assert_eq!(key("turns = 2\nsession_header = \"\"", false), None);
    }
}
