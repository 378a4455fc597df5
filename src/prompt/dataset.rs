//! A class's `prompts_file`: JSON Lines of prompts, read once, each line checked and its tokens counted.
//!
//! A line is an OpenAI `messages` array, `{"messages": [...]}`, or `{"prompt": "..."}` (one user message).
//! Blank lines are skipped. Errors name the file and the line.

use serde_json::Value;
use slacheck_common::tokens::Tokenizer;
use std::path::Path;

/// The largest prompts file read: its prompts are held for the whole run.
pub const MAX_DATASET_FILE: u64 = 256 << 20;

/// The prompts of a file, as compact JSON `messages` arrays, with the tokens of their content.
#[derive(Debug)]
pub struct Dataset {
    pub prompts: Vec<(bytes::Bytes, u32)>,
}

impl Dataset {
    /// The bytes its prompts hold, for the whole run.
    pub fn bytes(&self) -> usize {
        self.prompts.iter().map(|(p, _)| p.len()).sum()
    }
}

/// Why a prompts file could not be used: a line of it (1-based), or the file as a whole (`line` none).
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetError {
    pub line: Option<usize>,
    pub message: String,
}

/// Reads `path`, counting each prompt's content tokens with `tokenizer`.
pub fn read(path: &Path, tokenizer: &Tokenizer) -> Result<Dataset, DatasetError> {
    let whole = |message: String| DatasetError { line: None, message };
    let bytes = slacheck_common::tomlfile::read_regular(path, MAX_DATASET_FILE).map_err(whole)?;
    let text = String::from_utf8(bytes).map_err(|_| whole(format!("{} is not UTF-8 text", path.display())))?;
    let mut prompts = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let messages = messages_of(line).map_err(|message| DatasetError { line: Some(n + 1), message })?;
        let tokens = messages.iter().map(|m| tokenizer.count_content(&m["content"])).fold(0u32, u32::saturating_add);
        prompts.push((bytes::Bytes::from(Value::Array(messages).to_string()), tokens));
    }
    if prompts.is_empty() {
        return Err(whole(format!("{} holds no prompts", path.display())));
    }
    Ok(Dataset { prompts })
}

/// One line's messages, each an object with a string `role`.
fn messages_of(line: &str) -> Result<Vec<Value>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let messages = match value {
        Value::Array(messages) => messages,
        Value::Object(mut o) => match (o.remove("messages"), o.remove("prompt")) {
            (Some(Value::Array(messages)), _) => messages,
            (None, Some(Value::String(prompt))) => vec![serde_json::json!({ "role": "user", "content": prompt })],
            _ => return Err("expected a messages array, {\"messages\": [...]} or {\"prompt\": \"...\"}".into()),
        },
        _ => return Err("expected a messages array, {\"messages\": [...]} or {\"prompt\": \"...\"}".into()),
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
        read(&path, Tokenizer::get(TokenizerName::O200kBase))
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
