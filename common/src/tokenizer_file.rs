//! Which tokenizer counts and writes tokens, as a scenario or a provider file names it: one of tiktoken's
//! embedded encodings (`"o200k_base"`), or a served model's own Hugging Face `tokenizer.json`
//! (`{ file = "tokenizer.json" }`, relative to the file that names it), read once per process and bounded in size.

use crate::tokens::{Tokenizer, TokenizerName};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A tokenizer's name, or a tokenizer file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum TokenizerChoice {
    /// `"o200k_base"` (GPT-4o and later) or `"cl100k_base"` (GPT-4): tiktoken's, embedded.
    Named(TokenizerName),
    /// `{ file = "tokenizer.json" }`: the served model's own Hugging Face tokenizer.
    File(TokenizerFile),
}

/// A Hugging Face tokenizer file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerFile {
    /// A Hugging Face `tokenizer.json` (as a model's repository ships it), relative to the file that names it;
    /// at most 64 MiB.
    pub file: PathBuf,
}

/// The largest tokenizer file read: today's models ship a few to a few tens of megabytes, and parsing one holds
/// several times its size.
pub const MAX_TOKENIZER_FILE: u64 = 64 << 20;

impl Default for TokenizerChoice {
    fn default() -> Self {
        TokenizerChoice::Named(TokenizerName::default())
    }
}

impl TokenizerChoice {
    /// The same choice with a relative file taken from `dir` (the folder of the file that names it).
    pub fn resolved(&self, dir: &Path) -> Self {
        match self {
            TokenizerChoice::File(f) if f.file.is_relative() => {
                TokenizerChoice::File(TokenizerFile { file: dir.join(&f.file) })
            }
            other => other.clone(),
        }
    }

    /// The tokenizer: an embedded one, or the file's, read and parsed the first time this process asks for it
    /// and kept for the process's life (a run asks once per class and provider; each distinct file is held once).
    /// The error names the file and says what is wrong with it.
    pub fn load(&self) -> Result<&'static Tokenizer, String> {
        match self {
            TokenizerChoice::Named(name) => Ok(Tokenizer::get(*name)),
            TokenizerChoice::File(f) => load_file(&f.file),
        }
    }
}

fn load_file(path: &Path) -> Result<&'static Tokenizer, String> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, &'static Tokenizer>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut files = FILES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tokenizer) = files.get(&key) {
        return Ok(tokenizer);
    }
    let bytes = crate::tomlfile::read_regular(path, MAX_TOKENIZER_FILE)?;
    let parsed = tokenizers::Tokenizer::from_bytes(&bytes)
        .map_err(|e| format!("{} is not a Hugging Face tokenizer.json: {e}", path.display()))?;
    drop(bytes);
    let tokenizer = Tokenizer::from_file_tokenizer(parsed).map_err(|e| format!("{}: {e}", path.display()))?;
    let tokenizer: &'static Tokenizer = Box::leak(Box::new(tokenizer));
    files.insert(key, tokenizer);
    Ok(tokenizer)
}

const EXPECTED: &str = "\"o200k_base\", \"cl100k_base\" or { file = \"tokenizer.json\" }";

impl<'de> Deserialize<'de> for TokenizerChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Choice;
        impl<'de> Visitor<'de> for Choice {
            type Value = TokenizerChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "o200k_base" => Ok(TokenizerChoice::Named(TokenizerName::O200kBase)),
                    "cl100k_base" => Ok(TokenizerChoice::Named(TokenizerName::Cl100kBase)),
                    _ => Err(E::custom(format!("unknown tokenizer {v:?}; expected {EXPECTED}"))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                TokenizerFile::deserialize(de::value::MapAccessDeserializer::new(map)).map(TokenizerChoice::File)
            }
        }
        deserializer.deserialize_any(Choice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, serde::Serialize)]
    struct Holder {
        tokenizer: TokenizerChoice,
    }

    fn parse(text: &str) -> Result<TokenizerChoice, String> {
        toml::from_str::<Holder>(text).map(|h| h.tokenizer).map_err(|e| e.message().to_string())
    }

    #[test]
    fn a_name_or_a_file_is_read_and_anything_else_is_named_in_the_error() {
        assert_eq!(parse("tokenizer = \"cl100k_base\"").unwrap(), TokenizerChoice::Named(TokenizerName::Cl100kBase));
        let file = TokenizerChoice::File(TokenizerFile { file: "t/tokenizer.json".into() });
        assert_eq!(parse("tokenizer = { file = \"t/tokenizer.json\" }").unwrap(), file);
        assert!(parse("tokenizer = \"gpt2\"").unwrap_err().contains("o200k_base"));
        assert!(parse("tokenizer = { path = \"x\" }").unwrap_err().contains("unknown field `path`"));
        assert!(parse("tokenizer = 3").unwrap_err().contains("file ="));
        // Written back as it was read (the resolved scenario that `validate` prints).
        assert_eq!(
            toml::to_string(&Holder { tokenizer: file.clone() }).unwrap().trim(),
            "[tokenizer]\nfile = \"t/tokenizer.json\""
        );
        assert_eq!(
            file.resolved(Path::new("/s")),
            TokenizerChoice::File(TokenizerFile { file: "/s/t/tokenizer.json".into() })
        );
    }

    #[test]
    fn a_missing_a_foreign_and_a_huge_file_are_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("slacheck-tokfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let load = |name: &str| TokenizerChoice::File(TokenizerFile { file: dir.join(name) }).load().map(|_| ());
        let missing = load("missing.json").unwrap_err();
        assert!(missing.contains("missing.json"), "{missing}");
        std::fs::write(dir.join("foreign.json"), r#"{"model": "llama"}"#).unwrap();
        let foreign = load("foreign.json").unwrap_err();
        assert!(foreign.contains("foreign.json") && foreign.contains("not a Hugging Face tokenizer.json"), "{foreign}");
        let huge = std::fs::File::create(dir.join("huge.json")).unwrap();
        huge.set_len(MAX_TOKENIZER_FILE + 1).unwrap();
        let huge = load("huge.json").unwrap_err();
        assert!(huge.contains("huge.json") && huge.contains("larger than the limit"), "{huge}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
