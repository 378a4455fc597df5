//! The Prometheus text format (0.0.4, and the OpenMetrics text that follows it), read line by line: a sample
//! line gives a metric, its labels and a value; `# TYPE` says which families are counters. A line that does not
//! read is skipped and counted, never the end of the scrape. Written here rather than taken from a crate:
//! `prometheus-parse` (which the tests use to check the mock's exposition independently) builds every sample's
//! labels into a map at once and gives up on the whole body at its first bad line.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub metric: &'a str,
    /// Label pairs as written, unescaped, sorted by name.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A line of the exposition.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    Sample(Sample<'a>),
    /// `# TYPE name counter` (OpenMetrics names a counter's family without `_total`).
    Counter(&'a str),
    /// A comment, another `# TYPE`, `# HELP`, or an empty line.
    Other,
    /// A line that does not read as the format.
    Bad,
}

/// Reads one line.
pub fn line(text: &str) -> Line<'_> {
    let text = text.trim();
    if text.is_empty() {
        return Line::Other;
    }
    if let Some(comment) = text.strip_prefix('#') {
        let mut words = comment.split_whitespace();
        return match (words.next(), words.next(), words.next()) {
            (Some("TYPE"), Some(name), Some("counter")) => Line::Counter(name),
            _ => Line::Other,
        };
    }
    sample(text).map_or(Line::Bad, Line::Sample)
}

fn sample(text: &str) -> Option<Sample<'_>> {
    let name_end = text.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(text.len());
    let metric = &text[..name_end];
    if metric.is_empty() || !metric.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return None;
    }
    let mut rest = &text[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (pairs, after) = label_pairs(inner)?;
        labels = pairs;
        rest = after;
    }
    let mut words = rest.split_whitespace();
    let value = number(words.next()?)?;
    // A timestamp may follow; anything after it does not read.
    if words.nth(1).is_some() {
        return None;
    }
    labels.sort();
    Some(Sample { metric, labels, value })
}

/// The label pairs up to the closing brace, and what follows it.
fn label_pairs(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut pairs = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Some((pairs, after));
        }
        let eq = text.find('=')?;
        let name = text[..eq].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let quoted = text[eq + 1..].trim_start().strip_prefix('"')?;
        let (value, after) = quoted_value(quoted)?;
        pairs.push((name.to_string(), value));
        text = after.trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// A label value up to its closing quote, with `\\`, `\"` and `\n` unescaped; and what follows the quote.
fn quoted_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

/// Labels as one text, `{a="x",b="y"}` (sorted, escaped as the format writes them), `""` without any.
pub fn labels_text(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let escape = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let pairs: Vec<String> = labels.iter().map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(n: &str, v: &str) -> (String, String) {
        (n.into(), v.into())
    }

    #[test]
    fn samples_comments_and_bad_lines() {
        let s = |metric, labels, value| Line::Sample(Sample { metric, labels, value });
        assert_eq!(line("up 1"), s("up", vec![], 1.0));
        assert_eq!(
            line("vllm:generation_tokens_total{model_name=\"m\"} 12.5 1700000000"),
            s("vllm:generation_tokens_total", vec![pair("model_name", "m")], 12.5)
        );
        assert_eq!(
            line(r#"x{b="a\"q\\",a="1",} +Inf"#),
            s("x", vec![pair("a", "1"), pair("b", "a\"q\\")], f64::INFINITY)
        );
        assert_eq!(line("# TYPE litellm_requests counter"), Line::Counter("litellm_requests"));
        assert_eq!(line("# HELP x y"), Line::Other);
        assert_eq!(line(""), Line::Other);
        for bad in ["x", "x{a=\"1\" 2", "x{a=1} 2", "x 1 2 3", "x one", "\u{0}\u{1} 2", "{a=\"b\"} 1"] {
            assert_eq!(line(bad), Line::Bad, "{bad:?}");
        }
        assert_eq!(labels_text(&[pair("a", "x\"y")]), r#"{a="x\"y"}"#);
    }
}
