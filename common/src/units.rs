//! Values written the way people write them: durations (`"250ms"`, `"30s"`), rates (`"50000/min"`, `"833/s"`),
//! ratios (`"99.9%"`), windows (`"20s..35s"`) and sizes (`"16MiB"`).
//!
//! Each type deserializes from its string form with an error that says what was expected, so a TOML
//! reader can point at the exact value. slacheck reuses these types for its scenario files.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as text, parsed by `humantime` (`"250ms"`, `"1m 30s"`, `"2h"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| format!("invalid duration {s:?} ({e}); expected e.g. \"250ms\", \"30s\", \"5m\""))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// Seconds as a scenario writes them: `7s`, `7.2s`, `7.25s` (to the millisecond, never rounded to whole seconds).
pub fn fmt_seconds(s: f64) -> String {
    let text = format!("{s:.3}");
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Milliseconds as people read them: `2.35s`, `148.7ms`, `0.36ms`.
pub fn fmt_ms(v: f64) -> String {
    if v == 0.0 {
        // An exact zero (nothing failed, nothing added) reads as one, not as a rounded "0.00ms".
        "0ms".into()
    } else if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

/// A rate of events per second, written `"<count>/<unit>"`: `"50000/min"`, `"833/s"`, `"10/ms"`, `"3600/h"`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Rate {
    pub per_second: f64,
}

impl Rate {
    pub fn per_second(per_second: f64) -> Self {
        Rate { per_second }
    }
    pub fn per_minute(&self) -> f64 {
        self.per_second * 60.0
    }
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "expected \"<count>/<unit>\" with unit s, min or h, e.g. \"50000/min\" or \"833/s\"";
        let (count, unit) = s.split_once('/').ok_or_else(|| format!("invalid rate {s:?}: {expected}"))?;
        let count: f64 =
            count.trim().replace('_', "").parse().map_err(|_| format!("invalid rate {s:?}: {expected}"))?;
        if !count.is_finite() || count < 0.0 {
            return Err(format!("invalid rate {s:?}: the count must be zero or positive"));
        }
        let unit = unit.trim();
        let seconds = match unit {
            "ms" => 0.001,
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => {
                // "10s" as a unit: count per ten seconds.
                humantime::parse_duration(unit)
                    .map_err(|_| format!("invalid rate {s:?}: unknown unit {unit:?}; {expected}"))?
                    .as_secs_f64()
            }
        };
        if seconds <= 0.0 {
            return Err(format!("invalid rate {s:?}: {expected}"));
        }
        Ok(Rate { per_second: count / seconds })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per_second >= 1.0 && (self.per_second - self.per_second.round()).abs() < 1e-9 {
            write!(f, "{}/s", self.per_second.round())
        } else {
            write!(f, "{}/min", round_to(self.per_minute(), 6))
        }
    }
}

/// A ratio in [0, 1], written as a percentage (`"99.9%"`) or a plain fraction (`0.999`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Ratio(pub f64);

impl FromStr for Ratio {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let value = if let Some(p) = t.strip_suffix('%') {
            p.trim().parse::<f64>().map(|v| v / 100.0)
        } else {
            t.parse::<f64>()
        }
        .map_err(|_| format!("invalid ratio {s:?}: expected a percentage like \"99.9%\" or a fraction like 0.999"))?;
        if !(0.0..=1.0).contains(&value) {
            return Err(format!("invalid ratio {s:?}: must lie between 0% and 100%"));
        }
        Ok(Ratio(value))
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", round_to(self.0 * 100.0, 6))
    }
}

/// A window of time relative to the start of a run: `"20s..35s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Duration,
    pub end: Duration,
}

impl Window {
    pub fn contains(&self, t: Duration) -> bool {
        t >= self.start && t < self.end
    }
}

impl FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "expected \"<start>..<end>\" relative to the start, e.g. \"20s..35s\"";
        let (a, b) = s.split_once("..").ok_or_else(|| format!("invalid window {s:?}: {expected}"))?;
        let start = HumanDuration::from_str(a).map_err(|e| format!("invalid window {s:?}: {e}"))?.0;
        let end = HumanDuration::from_str(b).map_err(|e| format!("invalid window {s:?}: {e}"))?.0;
        if end <= start {
            return Err(format!("invalid window {s:?}: the end must come after the start"));
        }
        Ok(Window { start, end })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", HumanDuration(self.start), HumanDuration(self.end))
    }
}

/// A number of bytes, written `"16MiB"`, `"512KiB"`, `"1MB"` or a plain count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => {
                return Err(format!("invalid size {s:?}: expected e.g. \"16MiB\", \"512KiB\", \"1MB\" or a byte count"))
            }
        };
        let value: f64 =
            number.parse().map_err(|_| format!("invalid size {s:?}: expected a number before the unit"))?;
        let bytes = value * scale as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(format!("invalid size {s:?}: out of range"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}B", self.0)
    }
}

fn round_to(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// Serde glue: these types are read from strings (or, for ratios, numbers) and written back as strings.
macro_rules! text_serde {
    ($t:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> de::Visitor<'de> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

text_serde!(HumanDuration, "a duration such as \"250ms\" or \"30s\"");
text_serde!(Rate, "a rate such as \"50000/min\" or \"833/s\"");
text_serde!(Ratio, "a percentage such as \"99.9%\"");
text_serde!(Window, "a window such as \"20s..35s\"");
text_serde!(ByteSize, "a size such as \"16MiB\"");

/// The JSON Schema of a text type: its own name, a description, and a pattern loose enough never to flag a value
/// the parser takes (the parser's error stays the authority; the schema is for editors).
macro_rules! text_schema {
    ($t:ty, $name:literal, $schema:tt) => {
        impl schemars::JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

const NUMBER: &str = r"[0-9][0-9_]*(\.[0-9]+)?";
const DURATION_PATTERN: &str = r"^\s*([0-9]+(\.[0-9]+)?\s*[a-zA-Zµ]+\s*)+$";

text_schema!(HumanDuration, "Duration", {
    "description": "A duration: a number and a unit, e.g. \"250ms\", \"30s\", \"5m\", \"1m 30s\".",
    "type": "string",
    "pattern": DURATION_PATTERN,
    "examples": ["250ms", "30s", "5m"],
});
text_schema!(Rate, "Rate", {
    "description": "A rate: \"<count>/<unit>\" with unit ms, s, min, h or a duration, e.g. \"50000/min\", \"833/s\".",
    "type": "string",
    "pattern": format!(r"^\s*{NUMBER}\s*/\s*[0-9a-zA-Z. ]+$"),
    "examples": ["50000/min", "833/s"],
});
text_schema!(Ratio, "Ratio", {
    "description": "A ratio between 0 and 1: a percentage such as \"99.9%\", or a fraction such as 0.999.",
    "anyOf": [
        { "type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*%?\s*$" },
        { "type": "number", "minimum": 0, "maximum": 1 },
    ],
    "examples": ["99.9%", "95%"],
});
text_schema!(Window, "Window", {
    "description": "A window relative to the start of the run: \"<start>..<end>\", e.g. \"20s..35s\".",
    "type": "string",
    "pattern": r"^.+\.\..+$",
    "examples": ["20s..35s"],
});
text_schema!(ByteSize, "ByteSize", {
    "description": "A size in bytes: a count, or a number with B, KB, MB, GB, KiB, MiB or GiB, e.g. \"16MiB\".",
    "anyOf": [
        { "type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|kB|MB|GB|KiB|MiB|GiB)?\s*$" },
        { "type": "integer", "minimum": 0 },
    ],
    "examples": ["16MiB", "512KiB"],
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_keep_their_fraction() {
        assert_eq!(
            [fmt_seconds(7.0), fmt_seconds(7.2), fmt_seconds(7.25), fmt_seconds(0.6), fmt_seconds(1.5004)],
            ["7s", "7.2s", "7.25s", "0.6s", "1.5s"]
        );
    }

    #[test]
    fn milliseconds_read_at_their_scale_and_an_exact_zero_as_zero() {
        assert_eq!(
            [fmt_ms(2345.0), fmt_ms(148.74), fmt_ms(0.364), fmt_ms(0.004), fmt_ms(0.0), fmt_ms(-0.0)],
            ["2.35s", "148.7ms", "0.36ms", "0.00ms", "0ms", "0ms"]
        );
    }

    #[test]
    fn rates_parse_in_every_unit() {
        assert_eq!("50000/min".parse::<Rate>().unwrap().per_second, 50000.0 / 60.0);
        assert_eq!("833/s".parse::<Rate>().unwrap().per_second, 833.0);
        assert_eq!("3600/h".parse::<Rate>().unwrap().per_second, 1.0);
        assert_eq!("50/10s".parse::<Rate>().unwrap().per_second, 5.0);
        assert!("-5/s".parse::<Rate>().is_err());
        assert!("5".parse::<Rate>().is_err());
        assert!("5/fortnight".parse::<Rate>().is_err());
    }

    #[test]
    fn ratios_and_windows_parse() {
        assert!(("99.9%".parse::<Ratio>().unwrap().0 - 0.999).abs() < 1e-12);
        assert!("101%".parse::<Ratio>().is_err());
        let w: Window = "20s..35s".parse().unwrap();
        assert!(w.contains(Duration::from_secs(20)) && !w.contains(Duration::from_secs(35)));
        assert!("35s..20s".parse::<Window>().is_err());
        assert!("3x".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn sizes_parse_in_binary_and_decimal_units_and_print_back() {
        assert_eq!("16MiB".parse::<ByteSize>().unwrap().0, 16 * 1024 * 1024);
        assert_eq!("1MB".parse::<ByteSize>().unwrap().0, 1_000_000);
        assert_eq!("1.5KiB".parse::<ByteSize>().unwrap().0, 1536);
        assert_eq!("4096".parse::<ByteSize>().unwrap().0, 4096);
        assert!("5 parsecs".parse::<ByteSize>().is_err());
        assert!("MiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(16 << 20).to_string(), "16MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }
}
