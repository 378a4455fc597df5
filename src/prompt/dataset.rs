//! A class's `prompts_file`: JSON Lines of prompts, read once, each line checked and its tokens counted.
//!
//! A line is an OpenAI `messages` array, `{"messages": [...]}`, `{"prompt": "..."}` (one user message), or a
//! ShareGPT record `{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", …}]}` (`human` and
//! `user` are user messages, `gpt`, `chatgpt`, `bing`, `bard` and `assistant` the assistant's, `system` a system
//! message). Blank lines are skipped. Errors name the file and the line.
//!
//! For a conversational class, each line is a whole conversation: its messages before the first user message
//! open every turn, and each user message is a turn; the assistant's messages in the file are left out, since each
//! turn carries the answers actually received.

use serde_json::Value;
use slacheck_common::tokens::Tokenizer;
use std::path::Path;

/// The largest prompts file read: its prompts are held for the whole run.
pub const MAX_DATASET_FILE: u64 = 256 << 20;

/// The prompts of a file, as compact JSON `messages` arrays, with the tokens of their content; or, read for a
/// conversational class, its conversations.
#[derive(Debug, Default)]
pub struct Dataset {
    pub prompts: Vec<(bytes::Bytes, u32)>,
    pub conversations: Vec<Conversation>,
}

impl Dataset {
    /// The bytes its prompts (or conversations) hold, for the whole run.
    pub fn bytes(&self) -> usize {
        let conversations =
            self.conversations.iter().map(|c| c.opening.0.len() + c.turns.iter().map(|t| t.0.len()).sum::<usize>());
        self.prompts.iter().map(|(p, _)| p.len()).sum::<usize>() + conversations.sum::<usize>()
    }
}

/// One line of a dataset read for a conversational class.
#[derive(Debug, Default, PartialEq)]
pub struct Conversation {
    /// The messages before the first user message (JSON objects joined by commas), and their tokens.
    pub opening: (String, u32),
    /// Each turn's messages (its user message, after any non-assistant message that came before it), and their
    /// tokens.
    pub turns: Vec<(String, u32)>,
}

/// Why a prompts file could not be used: a line of it (1-based), or the file as a whole (`line` none).
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetError {
    pub line: Option<usize>,
    pub message: String,
}

/// Reads `path`, counting each prompt's content tokens with `tokenizer`; `conversational`: each line is a
/// conversation whose user messages are turns.
pub fn read(path: &Path, tokenizer: &Tokenizer, conversational: bool) -> Result<Dataset, DatasetError> {
    let whole = |message: String| DatasetError { line: None, message };
    let bytes = slacheck_common::tomlfile::read_regular(path, MAX_DATASET_FILE).map_err(whole)?;
    let text = String::from_utf8(bytes).map_err(|_| whole(format!("{} is not UTF-8 text", path.display())))?;
    let mut dataset = Dataset::default();
    let tokens_of = |m: &Value| tokenizer.count_content(&m["content"]);
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let messages = messages_of(line).map_err(|message| DatasetError { line: Some(n + 1), message })?;
        if conversational {
            let c = conversation_of(&messages, &tokens_of);
            if c.turns.is_empty() {
                return Err(DatasetError { line: Some(n + 1), message: "the conversation has no user message".into() });
            }
            dataset.conversations.push(c);
        } else {
            let tokens = messages.iter().map(tokens_of).fold(0u32, u32::saturating_add);
            dataset.prompts.push((bytes::Bytes::from(Value::Array(messages).to_string()), tokens));
        }
    }
    if dataset.prompts.is_empty() && dataset.conversations.is_empty() {
        return Err(whole(format!("{} holds no prompts", path.display())));
    }
    Ok(dataset)
}

/// A line's messages as a conversation: the opening, then a turn per user message; the file's own assistant
/// messages are left out.
fn conversation_of(messages: &[Value], tokens_of: &dyn Fn(&Value) -> u32) -> Conversation {
    let mut c = Conversation::default();
    let mut pending = (String::new(), 0u32);
    for m in messages {
        let add = |to: &mut (String, u32)| {
            if !to.0.is_empty() {
                to.0.push(',');
            }
            to.0.push_str(&m.to_string());
            to.1 = to.1.saturating_add(tokens_of(m));
        };
        match m["role"].as_str() {
            Some("assistant") => {}
            Some("user") => {
                add(&mut pending);
                c.turns.push(std::mem::take(&mut pending));
            }
            _ if c.turns.is_empty() => add(&mut c.opening),
            _ => add(&mut pending),
        }
    }
    c
}

const EXPECTED: &str = "expected a messages array, {\"messages\": [...]}, {\"prompt\": \"...\"} or ShareGPT's \
                        {\"conversations\": [{\"from\": ..., \"value\": ...}]}";

/// A ShareGPT record's turns as OpenAI messages.
fn sharegpt(turns: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut messages = Vec::with_capacity(turns.len());
    for (i, t) in turns.into_iter().enumerate() {
        let role = match t["from"].as_str() {
            Some("human" | "user") => "user",
            Some("gpt" | "chatgpt" | "bing" | "bard" | "assistant") => "assistant",
            Some("system") => "system",
            other => return Err(format!("conversations[{i}]: `from` {other:?} is not human, gpt or system")),
        };
        let Some(value) = t["value"].as_str() else {
            return Err(format!("conversations[{i}] has no string `value`"));
        };
        messages.push(serde_json::json!({ "role": role, "content": value }));
    }
    Ok(messages)
}

/// One line's messages, each an object with a string `role`.
fn messages_of(line: &str) -> Result<Vec<Value>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let messages = match value {
        Value::Array(messages) => messages,
        Value::Object(mut o) => match (o.remove("messages"), o.remove("prompt"), o.remove("conversations")) {
            (Some(Value::Array(messages)), _, _) => messages,
            (None, Some(Value::String(prompt)), _) => vec![serde_json::json!({ "role": "user", "content": prompt })],
            (None, None, Some(Value::Array(turns))) => sharegpt(turns)?,
            _ => return Err(EXPECTED.into()),
        },
        _ => return Err(EXPECTED.into()),
    };
    if messages.is_empty() {
        return Err("the messages array is empty".into());
    }
    for (i, message) in messages.iter().enumerate() {
        message_problem(message).map_err(|e| format!("message {}: {e}", i + 1))?;
    }
    Ok(messages)
}

/// The roles of OpenAI's chat-completions messages.
const ROLES: [&str; 6] = ["system", "developer", "user", "assistant", "tool", "function"];

/// What no OpenAI-compatible server accepts in one message: a role it does not know, or content that is neither
/// text nor an array of content parts (an assistant's may be absent or null, when it calls tools).
fn message_problem(message: &Value) -> Result<(), String> {
    let role = match &message["role"] {
        Value::String(role) if ROLES.contains(&role.as_str()) => role,
        Value::String(_) => return Err(format!("`role` must be one of {}", ROLES.join(", "))),
        _ => return Err("no string `role`".into()),
    };
    match &message["content"] {
        Value::String(_) => Ok(()),
        Value::Null if role == "assistant" => Ok(()),
        Value::Array(parts) if parts.iter().all(|p| p["type"].is_string()) => Ok(()),
        Value::Array(_) => Err("every part of an array `content` must be an object with a string `type`".into()),
        _ => Err("`content` must be a string or an array of content parts".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slacheck_common::tokens::TokenizerName;

    fn read_text(text: &str) -> Result<Dataset, DatasetError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.jsonl");
        std::fs::write(&path, text).unwrap();
        read(&path, Tokenizer::get(TokenizerName::O200kBase), false)
    }

    fn read_conversations(text: &str) -> Result<Dataset, DatasetError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.jsonl");
        std::fs::write(&path, text).unwrap();
        read(&path, Tokenizer::get(TokenizerName::O200kBase), true)
    }

    #[test]
    fn a_conversation_line_opens_with_its_system_messages_and_has_a_turn_per_user_message() {
        // "be brief" is 2 tokens, "hello world" 2, "hi" 1 and "bye" 1 in o200k_base; the assistant's message is
        // left out (each turn carries the answers received).
        let d = read_conversations(
            "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hello world\"}, \
             {\"role\": \"assistant\", \"content\": \"an answer in the file\"}, {\"role\": \"user\", \"content\": \"hi\"}]}\n\
             {\"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}, {\"from\": \"gpt\", \"value\": \"x\"}, {\"from\": \"human\", \"value\": \"bye\"}]}\n",
        )
        .unwrap();
        assert!(d.prompts.is_empty());
        let first = &d.conversations[0];
        assert_eq!(first.opening, (r#"{"content":"be brief","role":"system"}"#.to_string(), 2));
        assert_eq!(
            first.turns,
            [
                (r#"{"content":"hello world","role":"user"}"#.to_string(), 2),
                (r#"{"content":"hi","role":"user"}"#.to_string(), 1)
            ]
        );
        let second = &d.conversations[1];
        assert_eq!(second.opening, (String::new(), 0));
        assert_eq!(second.turns.len(), 2);
        assert_eq!(second.turns[1], (r#"{"content":"bye","role":"user"}"#.to_string(), 1));
        let e = read_conversations("[{\"role\": \"system\", \"content\": \"alone\"}]\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = read_conversations("{\"conversations\": [{\"from\": \"robot\", \"value\": \"x\"}]}\n").unwrap_err();
        assert!(e.message.contains("robot"), "{}", e.message);
    }

    #[test]
    fn every_line_shape_is_read_and_counted() {
        let d = read_text(
            "[{\"role\": \"user\", \"content\": \"hello world\"}]\n\n\
             {\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hi\"}]}\n\
             {\"prompt\": \"hello world\"}\n",
        )
        .unwrap();
        assert_eq!(d.prompts.len(), 3);
        // "hello world" is two tokens; "be brief" two and "hi" one, in o200k_base.
        assert_eq!(d.prompts.iter().map(|p| p.1).collect::<Vec<_>>(), [2, 3, 2]);
        assert_eq!(d.prompts[2].0, r#"[{"content":"hello world","role":"user"}]"#);
    }

    #[test]
    fn what_openai_accepts_is_read() {
        let d = read_text(
            "[{\"role\": \"developer\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \
             [{\"type\": \"text\", \"text\": \"hello world\"}]}, {\"role\": \"assistant\", \"content\": null, \
             \"tool_calls\": []}, {\"role\": \"tool\", \"content\": \"hi\", \"tool_call_id\": \"1\"}]\n",
        )
        .unwrap();
        // "be brief" 2 tokens, "hello world" 2, "hi" 1 (o200k_base); the null content none.
        assert_eq!(d.prompts[0].1, 5);
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = read_text("{\"prompt\": \"ok\"}\nnot json\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.starts_with("not JSON"), "{}", e.message);
        let e = read_text("{\"prompt\": 5}\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = read_text("[{\"content\": \"no role\"}]\n").unwrap_err();
        assert!(e.message.contains("role"), "{}", e.message);
        let e = read_text("{\"prompt\": \"ok\"}\n[{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"wizard\", \"content\": \"y\"}]\n")
            .unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.starts_with("message 2: `role` must be one of system,"), "{}", e.message);
        for content in ["5", "{\"text\": \"x\"}", "true", "[\"text\"]", "null"] {
            let e = read_text(&format!("[{{\"role\": \"user\", \"content\": {content}}}]\n")).unwrap_err();
            assert!(
                e.line == Some(1) && e.message.starts_with("message 1: ") && e.message.contains("content"),
                "{content}: {e:?}"
            );
        }
        let e = read_text("[{\"role\": \"user\"}]\n").unwrap_err();
        assert!(e.message.contains("`content` must be"), "absent content: {}", e.message);
        let e = read_text("\n\n").unwrap_err();
        assert!(e.line.is_none() && e.message.contains("no prompts"), "{}", e.message);
    }
}
