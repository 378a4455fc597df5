//! Trace files for the `trace` profile: traffic exported from production logs.
//!
//! Three shapes, as CSV (with a header line) or JSON Lines:
//! - one row per request: `offset_ms` (milliseconds from the start), e.g. `{"offset_ms": 12.5}`;
//! - one row per request with its lengths, as Mooncake's traces (JSON Lines): `timestamp` in milliseconds,
//!   `input_length` and `output_length` in tokens, and optional `hash_ids`, blocks of [`BLOCK_TOKENS`] tokens
//!   that requests naming the same id share, e.g. `{"timestamp": 27, "input_length": 6955, "output_length": 52,
//!   "hash_ids": [46, 47]}`;
//! - one row per interval: `t_s,rate` (from second `t_s`, `rate` requests per second until the next row;
//!   the last row lasts one second), e.g. `{"t_s": 0, "rate": 833}`.

use std::path::Path;
use std::time::Duration;

/// The tokens of one shared-prefix block of a Mooncake trace's `hash_ids`.
pub const BLOCK_TOKENS: u32 = 512;

/// What a traced request sent: its prompt's and answer's lengths, and the shared blocks its prompt opens with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestShape {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub hash_ids: Vec<u64>,
}

pub enum Trace {
    Offsets(Vec<Duration>),
    /// (start s, length s, rate per second)
    Rates(Vec<(f64, f64, f64)>),
}

/// The largest trace file read: about 10 million rows.
pub const MAX_TRACE_FILE: u64 = 256 << 20;

/// Why a trace could not be read: the file, or a line of it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TraceError(String);

/// Reads a trace; errors name the line.
pub fn read(path: &Path) -> Result<Trace, TraceError> {
    read_rows(path).and_then(|rows| build(rows).map_err(|e| format!("{}: {e}", path.display()))).map_err(TraceError)
}

/// The shapes of a trace's requests, in the order the schedule sends them (by offset; rows with equal offsets
/// in file order); `None` when its rows carry no lengths.
pub fn read_shapes(path: &Path) -> Result<Option<Vec<RequestShape>>, TraceError> {
    let rows = read_rows(path).map_err(TraceError)?;
    let mut shaped: Vec<(f64, RequestShape)> = Vec::with_capacity(rows.len());
    for row in rows {
        match row {
            Row::Offset(_, ms, Some(shape)) => shaped.push((ms, shape)),
            _ => return Ok(None),
        }
    }
    shaped.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Some(shaped.into_iter().map(|(_, shape)| shape).collect()))
}

fn read_rows(path: &Path) -> Result<Vec<Row>, String> {
    let bytes = slacheck_common::tomlfile::read_regular(path, MAX_TRACE_FILE).map_err(|e| format!("trace: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("trace {} is not UTF-8 text", path.display()))?;
    let jsonl = path.extension().is_some_and(|e| e == "jsonl" || e == "json");
    let rows = if jsonl { rows_jsonl(&text) } else { rows_csv(&text) };
    rows.and_then(one_shape).map_err(|e| format!("{}: {e}", path.display()))
}

/// The rows, when every request row has the first row's shape: with lengths (Mooncake) or without. A row of
/// the other shape would drop every row's lengths, or send one request without its own.
fn one_shape(rows: Vec<Row>) -> Result<Vec<Row>, String> {
    let shaped = |row: &Row| matches!(row, Row::Offset(_, _, Some(_)));
    let Some(first) = rows.first() else { return Ok(rows) };
    let differs = rows.iter().find(|r| matches!(r, Row::Offset(..)) && shaped(r) != shaped(first));
    match (differs, first) {
        (Some(Row::Offset(line, ..)), Row::Offset(first_line, ..)) => {
            let (what, first_what) = match shaped(first) {
                true => ("has no `timestamp`, `input_length` and `output_length`", "a Mooncake row"),
                false => ("is a Mooncake row (`timestamp`, `input_length`, `output_length`)", "an `offset_ms` row"),
            };
            Err(format!("line {line}: this row {what}, but line {first_line} is {first_what}: every row of a trace has the first row's shape"))
        }
        _ => Ok(rows),
    }
}

/// The latest moment a trace may name: a week, far past any load test and far below what a `Duration` holds.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// The bound of a column's values: milliseconds for `offset_ms`, seconds for `t_s`, requests per second for
/// `rate` (a million per second, past what one process can send).
fn max_of(column: &str) -> f64 {
    match column {
        "offset_ms" | "timestamp" => MAX_SECONDS * 1000.0,
        "t_s" => MAX_SECONDS,
        _ => 1e6,
    }
}

fn in_range(column: &str, v: f64) -> bool {
    v.is_finite() && v >= 0.0 && v <= max_of(column)
}

enum Row {
    /// (line, offset ms, the request's lengths when the trace gives them)
    Offset(usize, f64, Option<RequestShape>),
    Rate(usize, f64, f64),
}

fn rows_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let (_, header) = lines.next().ok_or("the trace is empty")?;
    let cols: Vec<_> = header.split(',').map(|c| c.trim().trim_matches('"')).collect();
    let find = |name: &str| cols.iter().position(|c| *c == name);
    let num = |line: usize, fields: &[&str], i: usize, name: &str| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.trim().parse::<f64>().ok())
            .filter(|v| in_range(name, *v))
            .ok_or_else(|| format!("line {}: `{name}` must be a number from 0 to {}", line + 1, max_of(name)))
    };
    let mut rows = Vec::new();
    match (find("offset_ms"), find("t_s"), find("rate")) {
        (Some(o), _, _) => {
            for (n, l) in lines {
                let f: Vec<_> = l.split(',').collect();
                rows.push(Row::Offset(n + 1, num(n, &f, o, "offset_ms")?, None));
            }
        }
        (None, Some(t), Some(r)) => {
            for (n, l) in lines {
                let f: Vec<_> = l.split(',').collect();
                rows.push(Row::Rate(n + 1, num(n, &f, t, "t_s")?, num(n, &f, r, "rate")?));
            }
        }
        _ => return Err("line 1: the header must name `offset_ms`, or `t_s` and `rate`".into()),
    }
    Ok(rows)
}

fn rows_jsonl(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not a JSON object ({e})", n + 1))?;
        let get = |k: &str| -> Result<Option<f64>, String> {
            match v.get(k).map(|x| x.as_f64().filter(|x| in_range(k, *x))) {
                None => Ok(None),
                Some(Some(x)) => Ok(Some(x)),
                Some(None) => Err(format!("line {}: `{k}` must be a number from 0 to {}", n + 1, max_of(k))),
            }
        };
        if let Some(ms) = get("timestamp")? {
            rows.push(Row::Offset(n + 1, ms, Some(shape_of(&v).map_err(|e| format!("line {}: {e}", n + 1))?)));
            continue;
        }
        match (get("offset_ms")?, get("t_s")?, get("rate")?) {
            (Some(o), _, _) => rows.push(Row::Offset(n + 1, o, None)),
            (None, Some(t), Some(r)) => rows.push(Row::Rate(n + 1, t, r)),
            _ => {
                return Err(format!(
                    "line {}: expected {{\"offset_ms\": …}} or {{\"t_s\": …, \"rate\": …}} with numbers ≥ 0",
                    n + 1
                ))
            }
        }
    }
    Ok(rows)
}

/// A Mooncake row's lengths: `input_length` and `output_length` whole token counts (the answer at least one),
/// `hash_ids` (optional) whole numbers, no more blocks than the prompt fills.
fn shape_of(v: &serde_json::Value) -> Result<RequestShape, String> {
    let tokens = |key: &str, least: u64| -> Result<u32, String> {
        v.get(key)
            .and_then(serde_json::Value::as_u64)
            .filter(|n| *n >= least && *n as f64 <= crate::scenario::prompts::MAX_TOKENS)
            .map(|n| n as u32)
            .ok_or_else(|| {
                format!(
                    "`{key}` must be a whole number of tokens from {least} to {}",
                    crate::scenario::prompts::MAX_TOKENS
                )
            })
    };
    let (input_tokens, output_tokens) = (tokens("input_length", 0)?, tokens("output_length", 1)?);
    let hash_ids = match v.get("hash_ids") {
        None => Vec::new(),
        Some(serde_json::Value::Array(ids)) => ids
            .iter()
            .map(|id| id.as_u64().ok_or("`hash_ids` must hold whole numbers"))
            .collect::<Result<Vec<u64>, _>>()?,
        Some(_) => return Err("`hash_ids` must be an array of whole numbers".into()),
    };
    if hash_ids.len() as u64 > (input_tokens as u64).div_ceil(BLOCK_TOKENS as u64) {
        return Err(format!(
            "{} `hash_ids` of {BLOCK_TOKENS} tokens are more than an input of {input_tokens} tokens fills",
            hash_ids.len()
        ));
    }
    Ok(RequestShape { input_tokens, output_tokens, hash_ids })
}

fn build(rows: Vec<Row>) -> Result<Trace, String> {
    match rows.first() {
        None => Err("the trace holds no rows".into()),
        Some(Row::Offset(..)) => {
            let mut offsets = Vec::with_capacity(rows.len());
            for row in rows {
                match row {
                    Row::Offset(_, ms, _) => offsets.push(Duration::from_secs_f64(ms / 1000.0)),
                    Row::Rate(line, ..) => return Err(format!("line {line}: mixes rate rows with offset rows")),
                }
            }
            offsets.sort();
            Ok(Trace::Offsets(offsets))
        }
        Some(Row::Rate(..)) => {
            let mut points = Vec::with_capacity(rows.len());
            for row in rows {
                match row {
                    Row::Rate(line, t, r) => {
                        if let Some((prev, _)) = points.last() {
                            if t <= *prev {
                                return Err(format!("line {line}: t_s must increase from row to row"));
                            }
                        }
                        points.push((t, r));
                    }
                    Row::Offset(line, ..) => return Err(format!("line {line}: mixes offset rows with rate rows")),
                }
            }
            let mut segments = Vec::with_capacity(points.len());
            for (i, (t, r)) in points.iter().enumerate() {
                let end = points.get(i + 1).map(|(n, _)| *n).unwrap_or(t + 1.0);
                segments.push((*t, end - t, *r));
            }
            if segments[0].0 > 0.0 {
                segments.insert(0, (0.0, segments[0].0, 0.0));
            }
            Ok(Trace::Rates(segments))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes_and_names_bad_lines() {
        let Ok(Trace::Rates(r)) = rows_csv("t_s,rate\n0,10\n2,20\n").and_then(build) else { panic!() };
        assert_eq!(r, vec![(0.0, 2.0, 10.0), (2.0, 1.0, 20.0)]);
        let Ok(Trace::Offsets(o)) = rows_jsonl("{\"offset_ms\": 5}\n{\"offset_ms\": 1.5}\n").and_then(build) else {
            panic!()
        };
        assert_eq!(o, vec![Duration::from_micros(1500), Duration::from_millis(5)]);
        assert!(rows_csv("t_s,rate\n0,10\n1,x\n").err().unwrap().contains("line 3"));
        assert!(rows_csv("t_s,rate\n2,10\n1,1\n").and_then(build).err().unwrap().contains("line 3"));
    }

    #[test]
    fn a_mooncake_trace_gives_offsets_and_each_requests_lengths_in_send_order() {
        let text = "{\"timestamp\": 30, \"input_length\": 1100, \"output_length\": 52, \"hash_ids\": [1, 2, 3]}\n\
                    {\"timestamp\": 0, \"input_length\": 600, \"output_length\": 10, \"hash_ids\": [1, 2]}\n\
                    {\"timestamp\": 30, \"input_length\": 7, \"output_length\": 1}\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mooncake.jsonl");
        std::fs::write(&path, text).unwrap();
        let Ok(Trace::Offsets(offsets)) = read(&path) else { panic!() };
        assert_eq!(offsets, [0, 30, 30].map(Duration::from_millis));
        let shapes = read_shapes(&path).unwrap().unwrap();
        let lengths: Vec<(u32, u32, usize)> =
            shapes.iter().map(|s| (s.input_tokens, s.output_tokens, s.hash_ids.len())).collect();
        assert_eq!(lengths, [(600, 10, 2), (1100, 52, 3), (7, 1, 0)], "by time, equal times in file order");
    }

    #[test]
    fn a_row_of_another_shape_than_the_first_is_named() {
        let rows = |text: &str| rows_jsonl(text).and_then(one_shape).map(|r| r.len());
        let mooncake = "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 2}\n";
        let offset = "{\"offset_ms\": 3}\n";
        let e = rows(&format!("{mooncake}{mooncake}\n{offset}{mooncake}")).unwrap_err();
        assert!(e.starts_with("line 4: ") && e.contains("line 1 is a Mooncake row"), "{e}");
        let e = rows(&format!("{offset}{offset}{mooncake}")).unwrap_err();
        assert!(e.starts_with("line 3: ") && e.contains("line 1 is an `offset_ms` row"), "{e}");
        assert_eq!(rows(&format!("{mooncake}{mooncake}")), Ok(2));
        assert_eq!(rows(&format!("{offset}{offset}")), Ok(2));
    }

    #[test]
    fn bad_mooncake_rows_are_named() {
        let e = |row: &str| rows_jsonl(row).err().unwrap();
        assert!(e("{\"timestamp\": 1, \"output_length\": 5}").contains("input_length"));
        assert!(e("{\"timestamp\": 1, \"input_length\": -3, \"output_length\": 5}").contains("input_length"));
        assert!(e("{\"timestamp\": 1, \"input_length\": 3, \"output_length\": 0}").contains("output_length"));
        assert!(e("{\"timestamp\": 1, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [\"a\"]}")
            .contains("hash_ids"));
        // 513 tokens fill two blocks of 512, not three.
        assert!(
            rows_jsonl("{\"timestamp\": 1, \"input_length\": 513, \"output_length\": 1, \"hash_ids\": [1, 2]}").is_ok()
        );
        assert!(e("{\"timestamp\": 1, \"input_length\": 513, \"output_length\": 1, \"hash_ids\": [1, 2, 3]}")
            .contains("more than"));
    }

    #[test]
    fn offsets_and_times_past_a_week_are_refused_with_their_line() {
        let e = rows_jsonl("{\"offset_ms\": 5}\n{\"offset_ms\": 1e300}\n").err().unwrap();
        assert!(e.contains("line 2") && e.contains("offset_ms"), "{e}");
        let e = rows_csv("t_s,rate\n0,10\n1e300,1\n").err().unwrap();
        assert!(e.contains("line 3") && e.contains("t_s"), "{e}");
        // A week is 604,800 s: the last offset allowed, and the first refused.
        assert!(rows_csv("offset_ms\n604800000\n").and_then(build).is_ok());
        assert!(rows_csv("offset_ms\n604800001\n").is_err());
        assert!(rows_jsonl("{\"t_s\": 0, \"rate\": 2e6}\n").err().unwrap().contains("rate"));
    }
}
