//! Sessions of a conversational class: how many turns each has, what each turn asks, and the history it carries.
//!
//! A session's plan comes from the seed and its number alone (its turns, its shared prefix, its dataset line), and
//! each turn's question and answer length from the seed, the session and the turn: a run is reproducible whatever
//! its timing. The answers are the ones received: each turn's body carries the earlier questions and the
//! assistant's answers as they came, cut to the class's `history` (`full`, the last N turns, or a token budget).

use super::{Maker, Prepared};
use crate::scenario::conversation::History;
use crate::scenario::prompts::PromptOrder;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

/// One session: its plan, and its questions and answers so far.
#[derive(Debug)]
pub struct Session {
    /// Its number in the schedule.
    pub number: u64,
    /// Turns it will have unless one fails.
    pub turns: u32,
    /// Its group's shared system prompt (a message and a comma, shared by every session of the group), and its
    /// tokens.
    prefix: Option<(Bytes, u32)>,
    /// The messages of its dataset line before the first user message, as JSON objects joined by commas, and
    /// their tokens.
    opening: (String, u32),
    /// The dataset line it replays, when the class has a `prompts_file`.
    line: Option<usize>,
    /// The earlier turns: (question, its tokens, answer, its tokens), the messages as JSON objects.
    history: Vec<Turn>,
    /// This turn's question and its tokens, until its answer comes.
    asked: Option<(String, u32)>,
}

#[derive(Debug)]
struct Turn {
    question: String,
    question_tokens: u32,
    answer: String,
    answer_tokens: u32,
}

impl Session {
    /// Records the answer to the question last asked (`content` as received), for the turns after it.
    pub fn answered(&mut self, content: &str, maker_tokens: impl Fn(&str) -> u32) {
        let Some((question, question_tokens)) = self.asked.take() else { return };
        let answer = serde_json::json!({ "role": "assistant", "content": content }).to_string();
        self.history.push(Turn { question, question_tokens, answer, answer_tokens: maker_tokens(content) });
    }

    /// The earlier turns a turn carries under `history`: the newest first to go when the budget is short.
    fn window(&self, history: History) -> &[Turn] {
        let keep = match history {
            History::Named(_) => self.history.len(),
            History::Turns { turns } => (turns as usize).min(self.history.len()),
            History::Tokens { tokens } => {
                let mut used = 0u64;
                self.history
                    .iter()
                    .rev()
                    .take_while(|t| {
                        used += u64::from(t.question_tokens) + u64::from(t.answer_tokens);
                        used <= u64::from(tokens)
                    })
                    .count()
            }
        };
        &self.history[self.history.len() - keep..]
    }
}

impl Maker {
    /// Session `number`'s plan: its turns (from `turns`, or its dataset line's user messages) and its opening.
    pub(super) fn session(&self, number: u64) -> Session {
        let mut rng = Pcg64::seed_from_u64(self.seed ^ 0x5345_5353 ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (z_turns, group, line): (f64, u64, u64) = (rng.sample(StandardNormal), rng.random(), rng.random());
        let mut opening = (String::new(), 0);
        let prefix =
            (!self.prefixes.is_empty()).then(|| self.prefixes[(group % self.prefixes.len() as u64) as usize].clone());
        let conversations = self.dataset.as_ref().map(|d| &d.conversations).filter(|c| !c.is_empty());
        let (turns, line) = match conversations {
            Some(all) => {
                let n = all.len() as u64;
                let i = match self.order {
                    PromptOrder::Sequential => number % n,
                    PromptOrder::Random => line % n,
                } as usize;
                let c = &all[i];
                opening = c.opening.clone();
                (c.turns.len() as u32, Some(i))
            }
            None => (self.turns.map_or(1, |t| t.at(z_turns).max(1)), None),
        };
        Session { number, turns, prefix, opening, line, history: Vec::new(), asked: None }
    }

    /// Turn `turn` (from 0) of `session`: the opening, the history its class keeps, and this turn's question.
    pub(super) fn turn(&self, session: &mut Session, turn: u32, history: History) -> Prepared {
        let mut rng = Pcg64::seed_from_u64(
            self.seed ^ 0x5455_524E ^ session.number.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(turn) << 40,
        );
        let (z_in, z_out): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
        let (question, question_tokens) = match session.line.and_then(|i| self.dataset.as_ref()?.conversations.get(i)) {
            Some(c) => c.turns.get(turn as usize).cloned().unwrap_or_default(),
            None => {
                let index = session.number.wrapping_mul(0x1_0000).wrapping_add(u64::from(turn));
                let line = rng.random();
                let (message, tokens, _) = self.user(index, z_in, line, &mut rng);
                (String::from_utf8_lossy(&message).into_owned(), tokens)
            }
        };
        // The shared prefix goes as it is (its bytes shared by the group); the rest is this turn's own.
        let mut messages = String::new();
        let mut input_tokens = session.prefix.as_ref().map_or(0, |p| p.1) + session.opening.1;
        join(&mut messages, &session.opening.0);
        for t in session.window(history) {
            join(&mut messages, &t.question);
            join(&mut messages, &t.answer);
            input_tokens = input_tokens.saturating_add(t.question_tokens).saturating_add(t.answer_tokens);
        }
        join(&mut messages, &question);
        input_tokens = input_tokens.saturating_add(question_tokens);
        session.asked = Some((question, question_tokens));
        Prepared::Made {
            prefix: session.prefix.as_ref().map(|p| p.0.clone()),
            own: Bytes::from(messages),
            made: true,
            max_tokens: self.output.at(z_out),
            input_tokens,
        }
    }
}

/// Appends `item` to a comma-separated list of JSON values (nothing when it is empty).
fn join(list: &mut String, item: &str) {
    if item.is_empty() {
        return;
    }
    if !list.is_empty() {
        list.push(',');
    }
    list.push_str(item);
}

#[cfg(test)]
mod tests {
    use super::super::dataset::{Conversation, Dataset};
    use super::super::Prompts;
    use crate::scenario::conversation::{ConversationSpec, History};
    use crate::scenario::prompts::{NormalLength, PromptSpec, TokenLength};
    use serde_json::Value;
    use std::sync::Arc;

    fn spec(turns: TokenLength, history: History) -> PromptSpec {
        let session_header = "x-session-id".into();
        PromptSpec {
            input_tokens: Some(TokenLength::Fixed(12.0)),
            conversation: Some(ConversationSpec {
                turns: Some(turns),
                think_time: Default::default(),
                history,
                session_header,
            }),
            ..super::super::tests::spec()
        }
    }

    fn tokens(text: &str) -> u32 {
        tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len() as u32
    }

    /// Plays a session of `prompts` with the given answers; returns each turn's messages and input tokens.
    fn play(prompts: &Prompts, number: u64, answers: &[&str]) -> Vec<(Vec<Value>, u32)> {
        let mut session = prompts.session(number).unwrap();
        let mut out = Vec::new();
        for (turn, answer) in answers.iter().enumerate() {
            let prepared = prompts.turn(&mut session, turn as u32);
            let body: Value = serde_json::from_slice(&prompts.body(&prepared, 0).to_bytes()).unwrap();
            out.push((body["messages"].as_array().unwrap().clone(), prepared.input_tokens().unwrap()));
            prompts.answered(&mut session, answer);
        }
        out
    }

    #[test]
    fn each_turn_carries_the_earlier_questions_and_the_answers_received() {
        let prompts = Prompts::new(&spec(TokenLength::Fixed(3.0), History::FULL), &["m"], 7, 0, None, false);
        let turns = play(&prompts, 4, &["first answer", "second answer", "third"]);
        let (third, input) = &turns[2];
        let roles: Vec<&str> = third.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
        assert_eq!(
            (third[1]["content"].as_str(), third[3]["content"].as_str()),
            (Some("first answer"), Some("second answer"))
        );
        // The questions are the ones asked before, byte for byte, each 12 tokens.
        assert_eq!(third[0], turns[0].0[0]);
        assert_eq!(third[2], turns[1].0[2]);
        assert_ne!(third[0], third[2], "each turn asks something new");
        let counted: u32 = third.iter().map(|m| tokens(m["content"].as_str().unwrap())).sum();
        assert_eq!(*input, counted);
        assert_eq!(*input, 3 * 12 + tokens("first answer") + tokens("second answer"));
        // The same session again asks the same questions: reproducible whatever the timing.
        assert_eq!(play(&prompts, 4, &["x", "y", "z"])[2].0[2], third[2]);
    }

    #[test]
    fn history_keeps_the_last_turns_or_what_fits_the_token_budget() {
        let last_one =
            Prompts::new(&spec(TokenLength::Fixed(3.0), History::Turns { turns: 1 }), &["m"], 7, 0, None, false);
        let (third, input) = play(&last_one, 4, &["first answer", "second answer", "x"]).swap_remove(2);
        assert_eq!(third.len(), 3, "the second turn and this one");
        assert_eq!(third[1]["content"], "second answer");
        assert_eq!(input, 2 * 12 + tokens("second answer"));
        // A budget that holds the last turn (12 + its answer) but not the two before.
        let budget = 12 + tokens("second answer");
        let fits =
            Prompts::new(&spec(TokenLength::Fixed(3.0), History::Tokens { tokens: budget }), &["m"], 7, 0, None, false);
        let (third, _) = play(&fits, 4, &["first answer", "second answer", "x"]).swap_remove(2);
        assert_eq!(third.len(), 3);
        assert_eq!(third[1]["content"], "second answer");
        let short = Prompts::new(
            &spec(TokenLength::Fixed(3.0), History::Tokens { tokens: budget - 1 }),
            &["m"],
            7,
            0,
            None,
            false,
        );
        let (third, _) = play(&short, 4, &["first answer", "second answer", "x"]).swap_remove(2);
        assert_eq!(third.len(), 1, "nothing earlier fits: only this turn's question");
    }

    #[test]
    fn turns_per_session_follow_their_distribution_within_bounds() {
        let turns = TokenLength::Normal(NormalLength { mean: 4.0, stddev: 2.0, min: Some(1.0), max: Some(10.0) });
        let prompts = Prompts::new(&spec(turns, History::FULL), &["m"], 7, 0, None, false);
        let drawn: Vec<u32> = (0..2000).map(|n| prompts.session(n).unwrap().turns).collect();
        assert!(drawn.iter().all(|t| (1..=10).contains(t)));
        // Rounded and clamped to [1, 10], N(4, 2) has the mean Σ k·P(round(X) = k) = 4.0553 (1 takes
        // P(X < 1.5), 10 takes P(X ≥ 9.5)); the standard error of 2,000 draws is about 0.044.
        let mean = drawn.iter().sum::<u32>() as f64 / drawn.len() as f64;
        assert!((mean - 4.0553).abs() < 0.18, "mean {mean}");
        assert!(drawn.contains(&1) && drawn.contains(&10));
    }

    #[test]
    fn a_dataset_conversation_is_replayed_turn_by_turn_after_its_opening() {
        let c = Conversation {
            opening: (r#"{"content":"be brief","role":"system"}"#.into(), 2),
            turns: vec![
                (r#"{"content":"hello world","role":"user"}"#.into(), 2),
                (r#"{"content":"hi","role":"user"}"#.into(), 1),
            ],
        };
        let d = Arc::new(Dataset { conversations: vec![c], ..Dataset::default() });
        let mut s = spec(TokenLength::Fixed(1.0), History::FULL);
        s.input_tokens = None;
        if let Some(c) = &mut s.conversation {
            c.turns = None;
        }
        let prompts = Prompts::new(&s, &["m"], 7, 0, Some(d), false);
        assert_eq!(prompts.session(0).unwrap().turns, 2, "the line's user messages");
        let played = play(&prompts, 0, &["ok", "fine"]);
        let contents: Vec<&str> = played[1].0.iter().map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(contents, ["be brief", "hello world", "ok", "hi"]);
        assert_eq!(played[1].1, 2 + 2 + tokens("ok") + 1);
    }
}
