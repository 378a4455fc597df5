//! What both slacheck crates share, and nothing else: a leaf that imports neither.
//!
//! - [`units`]: durations, rates, ratios, windows and sizes written as people write them.
//! - [`tomlfile`]: reading TOML (and any bounded regular file) with errors that name file, line, column and field.
//! - [`tokens`]: token counts as OpenAI models make them, and synthetic text of an exact token count.

pub mod tokens;
pub mod tomlfile;
pub mod units;
