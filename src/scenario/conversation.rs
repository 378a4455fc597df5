//! A conversational class (`conversation = { … }`): sessions of several turns whose history grows, a think time
//! between an answer and the next question, how much of the history each turn sends, and the session id header.

use super::prompts::TokenLength;
use crate::units::HumanDuration;
use mock_upstream::config::Latency;
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
    /// From the end of one turn's answer to the next turn's send (default 0s): a duration, or a distribution
    /// drawn per turn from the seed, as the mock's latencies are written (`{ dist = "lognormal", p50 = "2s",
    /// p99 = "20s" }`, `uniform`, `normal`, `fixed`).
    #[serde(default)]
    pub think_time: ThinkTime,
    /// How much of the earlier turns each turn sends: `"full"` (default), `{ turns = N }` (the last N turns)
    /// or `{ tokens = N }` (the latest turns whose questions and answers fit in N tokens).
    #[serde(default)]
    pub history: History,
    /// The request header that carries the session's id, the same on each of its turns, so that a gateway can
    /// send a session to the same upstream or prefix cache; `""` sends none.
    #[serde(default = "default_session_header")]
    pub session_header: String,
}

/// A think time: fixed, or drawn for each turn.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ThinkTime {
    /// The same before every turn: `"2s"`.
    Fixed(HumanDuration),
    /// Drawn before each turn: `{ dist = "uniform", min = "1s", max = "3s" }`.
    Drawn(Latency),
}

/// Read by hand rather than `untagged`, whose one message ("data did not match any variant") says neither what
/// was expected nor what was wrong inside a distribution.
impl<'de> Deserialize<'de> for ThinkTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(text) => text.parse().map(ThinkTime::Fixed).map_err(D::Error::custom),
            table @ toml::Value::Table(_) => {
                Latency::deserialize(table).map(ThinkTime::Drawn).map_err(|e| D::Error::custom(e.message()))
            }
            other => Err(D::Error::custom(format!(
                "expected a duration (\"2s\") or a distribution ({{ dist = \"uniform\", min = \"1s\", max = \"3s\" }}), \
                 found {}",
                other.type_str()
            ))),
        }
    }
}

impl Default for ThinkTime {
    fn default() -> Self {
        ThinkTime::Fixed(HumanDuration(std::time::Duration::ZERO))
    }
}

impl ThinkTime {
    /// The think time before turn `turn` (from 1) of session `session`: the same for the same seed, session and
    /// turn, whatever else the run did, and at most [`MAX_THINK_TIME`].
    pub fn draw(&self, seed: u64, session: u64, turn: u32) -> std::time::Duration {
        use rand::SeedableRng;
        match self {
            ThinkTime::Fixed(d) => d.0,
            ThinkTime::Drawn(model) => {
                let mixed =
                    session.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(turn).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                let mut rng = rand_pcg::Pcg64::seed_from_u64(seed ^ 0x54_4849_4E4B ^ mixed);
                mock_upstream::provider::sample(model, &mut rng).min(MAX_THINK_TIME)
            }
        }
    }

    /// The longest it is written to take (a lognormal's p99, a normal's mean plus three deviations), checked
    /// against [`MAX_THINK_TIME`]; a draw past that is cut to it.
    fn written_upper(&self) -> std::time::Duration {
        match self {
            ThinkTime::Fixed(d) | ThinkTime::Drawn(Latency::Fixed { value: d }) => d.0,
            ThinkTime::Drawn(Latency::Uniform { max, .. }) => max.0,
            ThinkTime::Drawn(Latency::Normal { mean, stddev }) => mean.0.saturating_add(stddev.0 * 3),
            ThinkTime::Drawn(Latency::Lognormal { p99, .. }) => p99.0,
        }
    }
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
        if let ThinkTime::Drawn(model) = &self.think_time {
            if let Err(message) = model.check() {
                return Some(("think_time".into(), message));
            }
        }
        if self.think_time.written_upper() > MAX_THINK_TIME {
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
        assert_eq!(s.think_time, ThinkTime::default());
        let drawn = spec("turns = 3\nthink_time = { dist = \"uniform\", min = \"1s\", max = \"3s\" }").unwrap();
        let (min, max) =
            (HumanDuration(std::time::Duration::from_secs(1)), HumanDuration(std::time::Duration::from_secs(3)));
        assert_eq!(drawn.think_time, ThinkTime::Drawn(Latency::Uniform { min, max }));
        // What is wrong is said, not "did not match any variant".
        let wrong = |t: &str| spec(&format!("turns = 3\nthink_time = {t}")).unwrap_err().message().to_string();
        assert!(wrong("{ dist = \"gamma\", p50 = \"1s\" }").contains("unknown variant `gamma`"));
        assert!(wrong("\"soon\"").contains("soon"), "{}", wrong("\"soon\""));
        assert!(wrong("3").contains("expected a duration"));
    }

    #[test]
    fn a_drawn_think_time_repeats_for_its_seed_session_and_turn_and_stops_at_an_hour() {
        let t =
            spec("turns = 3\nthink_time = { dist = \"lognormal\", p50 = \"30m\", p99 = \"1h\" }").unwrap().think_time;
        assert_eq!(t.draw(7, 3, 2), t.draw(7, 3, 2));
        let draws: Vec<_> = (1..=1000).map(|turn| t.draw(7, 3, turn)).collect();
        assert!(draws.iter().all(|d| *d <= MAX_THINK_TIME));
        // 1% of a lognormal lies past its p99: about 10 of 1,000 draws are cut to the hour, never none or most.
        let cut = draws.iter().filter(|d| **d == MAX_THINK_TIME).count();
        assert!((1..=40).contains(&cut), "{cut} of 1000 cut");
        let fixed = spec("turns = 3\nthink_time = \"2s\"").unwrap().think_time;
        assert_eq!(fixed.draw(7, 3, 2), std::time::Duration::from_secs(2));
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
        let drawn = |t: &str| key(&format!("turns = 2\nthink_time = {t}"), false);
        assert_eq!(drawn("{ dist = \"lognormal\", p50 = \"2s\", p99 = \"2h\" }").as_deref(), Some("think_time"));
        assert_eq!(drawn("{ dist = \"normal\", mean = \"50m\", stddev = \"5m\" }").as_deref(), Some("think_time"));
        assert_eq!(drawn("{ dist = \"uniform\", min = \"3s\", max = \"1s\" }").as_deref(), Some("think_time"));
        assert_eq!(drawn("{ dist = \"lognormal\", p50 = \"2s\", p99 = \"20s\" }"), None);
        assert_eq!(key("turns = 2\nhistory = { turns = 0 }", false).as_deref(), Some("history.turns"));
        assert_eq!(key("turns = 2\nhistory = { tokens = 0 }", false).as_deref(), Some("history.tokens"));
        assert_eq!(key("turns = 2\nsession_header = \"a b\"", false).as_deref(), Some("session_header"));
        assert_eq!(key("turns = 2\nsession_header = \"\"", false), None);
    }
}
