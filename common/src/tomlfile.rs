//! Reading TOML files with errors that name the file, line, column and field.
//!
//! serde errors carry a byte span; this module turns it into `file:line:col`, and finds the dotted field path at
//! that span by walking toml's spanned document tree. Checks made after parsing (p99 below p50, …) name a field
//! path and get its position the same way. slacheck reads its scenarios with this too.

use serde::de::DeserializeOwned;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A problem in a TOML file, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `load.duration` or `mock.providers[0].latency.p99`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": field `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FileError {}

/// The largest configuration file read (scenarios and provider files are a few kilobytes).
pub const MAX_CONFIG_FILE: u64 = 16 << 20;

/// Reads a regular file of at most `max` bytes. A device (`/dev/zero`), a FIFO or a folder is refused before it
/// is opened, so reading can neither hang nor grow without bound; a file that grows past `max` while it is read
/// is refused too.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let too_large = || format!("{} is larger than the limit of {max} bytes", path.display());
    if meta.len() > max {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Reads and parses `file`, returning the value and the source text (for later [`error_at`] calls).
pub fn read<T: DeserializeOwned>(file: &Path) -> Result<(T, String), FileError> {
    let fail = |message: String| FileError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        field: String::new(),
        message,
    };
    let bytes = read_regular(file, MAX_CONFIG_FILE).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|_| fail("the file is not UTF-8 text".into()))?;
    let value = parse(file, &source)?;
    Ok((value, source))
}

/// Parses `source` (the text of `file`).
pub fn parse<T: DeserializeOwned>(file: &Path, source: &str) -> Result<T, FileError> {
    toml::from_str(source).map_err(|e| {
        let span = e.span();
        let field = span.as_ref().map(|s| field_at(source, s)).unwrap_or_default();
        let (line, column) = span.map(|s| line_col(source, s.start)).unzip();
        FileError { file: file.to_path_buf(), line, column, field, message: tidy(e.message()) }
    })
}

/// An error about the field at dotted `path` (`a.b[2].c`), placed where that field is written in `source`.
/// A field that is not written (a missing key) is placed at its closest written parent.
pub fn error_at(file: &Path, source: &str, path: &str, message: impl Into<String>) -> FileError {
    let place = DeTable::parse(source).ok().and_then(|root| span_of(&root, path)).map(|s| line_col(source, s.start));
    let (line, column) = place.unzip();
    FileError { file: file.to_path_buf(), line, column, field: path.to_string(), message: message.into() }
}

fn tidy(message: &str) -> String {
    let message = message.trim().replace('\n', " ");
    // serde's words for a choice that takes a value written as a bare name, e.g. `arrivals = "gamma"`.
    if message == "invalid type: unit variant, expected newtype variant" {
        return "this choice takes a value: write it as a table, `{ choice = value }`, e.g. `arrivals = { gamma = 0.5 }`".into();
    }
    with_suggestion(&message)
}

/// serde's "unknown field `durration`, expected one of `duration`, …" with the name that was probably meant
/// named first: a misspelt key is a letter or two from it, and the list can be twenty names long.
pub fn with_suggestion(message: &str) -> String {
    let rest = ["unknown field `", "unknown variant `"].iter().find_map(|p| message.strip_prefix(p));
    let Some((given, expected)) = rest.and_then(|rest| rest.split_once("`, expected ")) else {
        return message.to_string();
    };
    // The names are between backquotes: "one of `a`, `b`" or "`a` or `b`".
    let nearest = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| (strsim::damerau_levenshtein(given, name), name))
        .min_by_key(|(distance, _)| *distance);
    match nearest {
        Some((distance, name)) if distance > 0 && distance <= (given.chars().count() / 3).max(1) => {
            let kind = message.split('`').next().unwrap_or_default();
            format!("{kind}`{given}`: did you mean `{name}`? (expected {expected})")
        }
        _ => message.to_string(),
    }
}

fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    // Split on dots outside quotes: `sla."p99.9"` is two steps.
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in path.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                parts.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&path[start..]);
    let mut out = Vec::new();
    for part in parts {
        let (key, rest) = if part.starts_with('"') { (part, "") } else { part.split_once('[').unwrap_or((part, "")) };
        let key = key.trim_matches('"');
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

fn span_of(root: &Spanned<DeTable<'_>>, path: &str) -> Option<Range<usize>> {
    let mut best: Option<Range<usize>> = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for step in steps(path) {
        let next = match (step, table, value) {
            (Step::Key(k), Some(t), _) => t.get(k),
            (Step::Key(k), None, Some(v)) => v.get_ref().get(k),
            (Step::Index(i), _, Some(v)) => v.get_ref().get(i),
            _ => None,
        };
        let Some(next) = next else { break };
        best = Some(next.span());
        value = Some(next);
        table = None;
    }
    best
}

/// The dotted path of the deepest field whose key or value contains the span. An error spanning a whole table
/// (a missing field) names that table.
fn field_at(source: &str, span: &Range<usize>) -> String {
    let Ok(root) = DeTable::parse(source) else { return String::new() };
    let mut path = String::new();
    if root.span() != *span {
        walk_table(root.get_ref(), span, &mut path);
    }
    path
}

fn walk_table(table: &DeTable<'_>, span: &Range<usize>, path: &mut String) {
    let offset = span.start;
    for (key, value) in table.iter() {
        if key.span().contains(&offset) || value.span().contains(&offset) || contains_deep(value, offset) {
            if !path.is_empty() {
                path.push('.');
            }
            if key.get_ref().contains('.') {
                path.push_str(&format!("\"{}\"", key.get_ref()));
            } else {
                path.push_str(key.get_ref());
            }
            walk_value(value, span, path);
            return;
        }
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut String) {
    if value.span() == *span {
        return;
    }
    let offset = span.start;
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, span, path),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if item.span().contains(&offset) || contains_deep(item, offset) {
                    path.push_str(&format!("[{i}]"));
                    walk_value(item, span, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Header tables (`[load]`) have spans that do not cover their keys, so look inside them too.
fn contains_deep(value: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    match value.get_ref() {
        DeValue::Table(t) => {
            t.iter().any(|(k, v)| k.span().contains(&offset) || v.span().contains(&offset) || contains_deep(v, offset))
        }
        DeValue::Array(a) => a.iter().any(|v| v.span().contains(&offset) || contains_deep(v, offset)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        load: Load,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Load {
        duration: crate::units::HumanDuration,
        #[serde(default)]
        items: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        rate: crate::units::Rate,
    }

    #[test]
    fn a_bad_value_is_located_by_line_column_and_field() {
        let src = "# c\n[load]\nduration = \"3 parsecs\"\n";
        let e = parse::<Doc>(Path::new("s.toml"), src).unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(12)));
        assert_eq!(e.field, "load.duration");
        assert!(e.message.contains("expected"), "{}", e.message);
    }

    #[test]
    fn a_misspelt_name_is_suggested_and_a_foreign_one_is_not() {
        let unknown = "unknown field `durration`, expected one of `profile`, `duration`, `rate`";
        assert_eq!(
            with_suggestion(unknown),
            "unknown field `durration`: did you mean `duration`? (expected one of `profile`, `duration`, `rate`)"
        );
        // Two letters swapped are one edit (Damerau), a variant too.
        assert_eq!(
            with_suggestion("unknown variant `rmap`, expected `ramp` or `steps`"),
            "unknown variant `rmap`: did you mean `ramp`? (expected `ramp` or `steps`)"
        );
        // Too far from every name: only the list (`path` is four edits from `file`).
        assert_eq!(with_suggestion("unknown field `path`, expected `file`"), "unknown field `path`, expected `file`");
        assert_eq!(with_suggestion("invalid type: string, expected u64"), "invalid type: string, expected u64");
    }

    #[test]
    fn a_misspelt_key_in_a_file_is_suggested() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Load {
            duration: String,
            rate: String,
        }
        let e = parse::<Load>(Path::new("s.toml"), "rate = \"1/s\"\ndurration = \"1s\"\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(2), "durration"));
        assert!(e.message.contains("did you mean `duration`?"), "{}", e.message);
    }

    #[test]
    fn an_unknown_key_in_an_array_table_is_located() {
        let src = "[load]\nduration = \"1s\"\n[[load.items]]\nrate = \"1/s\"\n[[load.items]]\nrat = \"1/s\"\n";
        let e = parse::<Doc>(Path::new("s.toml"), src).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert_eq!(e.field, "load.items[1].rat");
        assert!(e.message.contains("unknown field"), "{}", e.message);
    }

    #[test]
    fn a_later_check_is_placed_at_its_field() {
        let src = "[load]\nduration = \"1s\"\n[[load.items]]\nrate = \"1/s\"\n";
        let e = error_at(Path::new("s.toml"), src, "load.items[0].rate", "too slow");
        assert_eq!(e.line, Some(4));
        assert_eq!(e.to_string(), "s.toml:4:8: field `load.items[0].rate`: too slow");
    }
}
