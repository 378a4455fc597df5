//! What both slacheck crates share, and nothing else: a leaf that imports neither.
//!
//! - [`units`]: durations, rates, ratios, windows and sizes written as people write them.
//! - [`tomlfile`]: reading TOML (and any bounded regular file) with errors that name file, line, column and field.
//! - [`tokens`]: token counts as a model makes them (tiktoken's encodings, or a tokenizer file), and synthetic text
//!   of an exact token count.
//! - [`tokenizer_file`]: which tokenizer a scenario names: an encoding's name, or a Hugging Face `tokenizer.json`.

pub mod tokenizer_file;
pub mod tokens;
pub mod tomlfile;
pub mod units;
