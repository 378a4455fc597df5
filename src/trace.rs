//! Trace files for the `trace` profile: traffic exported from production logs.
//!
//! Two shapes, as CSV (with a header line) or JSON Lines:
//! - one row per request: `offset_ms` (milliseconds from the start), e.g. `{"offset_ms": 12.5}`;
//! - one row per interval: `t_s,rate` (from second `t_s`, `rate` requests per second until the next row;
//!   the last row lasts one second), e.g. `{"t_s": 0, "rate": 833}`.

use std::path::Path;
use std::time::Duration;

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
    read_text(path).map_err(TraceError)
}

fn read_text(path: &Path) -> Result<Trace, String> {
    let bytes = slacheck_common::tomlfile::read_regular(path, MAX_TRACE_FILE).map_err(|e| format!("trace: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("trace {} is not UTF-8 text", path.display()))?;
    let jsonl = path.extension().is_some_and(|e| e == "jsonl" || e == "json");
    let rows =
        if jsonl { rows_jsonl(&text) } else { rows_csv(&text) }.map_err(|e| format!("{}: {e}", path.display()))?;
    build(rows).map_err(|e| format!("{}: {e}", path.display()))
}

/// The latest moment a trace may name: a week, far past any load test and far below what a `Duration` holds.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// The bound of a column's values: milliseconds for `offset_ms`, seconds for `t_s`, requests per second for
/// `rate` (a million per second, past what one process can send).
fn max_of(column: &str) -> f64 {
    match column {
        "offset_ms" => MAX_SECONDS * 1000.0,
        "t_s" => MAX_SECONDS,
        _ => 1e6,
    }
}

fn in_range(column: &str, v: f64) -> bool {
    v.is_finite() && v >= 0.0 && v <= max_of(column)
}

enum Row {
    Offset(usize, f64),
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
                rows.push(Row::Offset(n + 1, num(n, &f, o, "offset_ms")?));
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
        match (get("offset_ms")?, get("t_s")?, get("rate")?) {
            (Some(o), _, _) => rows.push(Row::Offset(n + 1, o)),
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

fn build(rows: Vec<Row>) -> Result<Trace, String> {
    match rows.first() {
        None => Err("the trace holds no rows".into()),
        Some(Row::Offset(..)) => {
            let mut offsets = Vec::with_capacity(rows.len());
            for row in rows {
                match row {
                    Row::Offset(_, ms) => offsets.push(Duration::from_secs_f64(ms / 1000.0)),
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
                    Row::Offset(line, _) => return Err(format!("line {line}: mixes offset rows with rate rows")),
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
