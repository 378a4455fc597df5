//! HdrHistogram interval logs (`latency.hlog`): written during a run, read back for reports and comparison.
//!
//! The format is the HdrHistogram project's interval log (V2 compressed histograms, base64, one line per
//! interval), readable by the Java `HistogramLogProcessor` and the HdrHistogram plotter. slacheck's values
//! are in microseconds (pass `-outputValueUnitRatio 1000` to the Java tools for milliseconds). The untagged
//! series is the overall latency; tagged series are `service`, `lag`, `tier.<name>` and `class.<name>`.

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, IntervalLogWriterError, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializeError, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The key of the untagged (overall latency) series.
pub use crate::measure::OVERALL;

/// Writes interval histograms to a temporary file, renamed into place by [`HlogSink::finish`].
pub struct HlogSink {
    path: PathBuf,
    tmp: PathBuf,
    file: BufWriter<std::fs::File>,
    serializer: V2DeflateSerializer,
}

impl HlogSink {
    /// Starts a log at `path` whose interval timestamps count from `start` (seconds since the epoch);
    /// `comments` (e.g. `Shard: 1/4`) go into its header, each in brackets.
    pub fn create(path: &Path, start: SystemTime, comments: &[String]) -> std::io::Result<Self> {
        let tmp = crate::outdir::temporary_name(path);
        let mut file = BufWriter::new(std::fs::File::create(&tmp)?);
        let mut serializer = V2DeflateSerializer::new();
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(concat!("[Logged with slacheck ", env!("CARGO_PKG_VERSION"), "]"))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("[Values in microseconds; timestamps in seconds since StartTime]");
        for c in comments {
            builder.add_comment(&format!("[{c}]"));
        }
        builder.with_start_time(start).begin_log_with(&mut file, &mut serializer)?;
        writeln!(file, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")?;
        Ok(HlogSink { path: path.to_path_buf(), tmp, file, serializer })
    }

    /// Appends one interval of one series (`tag` = [`OVERALL`] for the untagged series).
    pub fn write(&mut self, h: &Histogram<u64>, start: Duration, length: Duration, tag: &str) -> std::io::Result<()> {
        let clean = encode_tag(tag);
        let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut self.file, &mut self.serializer)?;
        writer.write_histogram(h, start, length, if clean.is_empty() { None } else { Tag::new(&clean) }).map_err(io)
    }

    /// Flushes the log and moves it into place; on an error the temporary file is removed (by `Drop`).
    pub fn finish(mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        std::fs::rename(&self.tmp, &self.path)?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

/// The error of writing one interval, as the file's own error when it is one (a full disk says so, in words).
fn io(e: IntervalLogWriterError<V2DeflateSerializeError>) -> std::io::Error {
    match e {
        IntervalLogWriterError::IoError(e)
        | IntervalLogWriterError::SerializeError(V2DeflateSerializeError::IoError(e)) => e,
        IntervalLogWriterError::SerializeError(other) => std::io::Error::other(other.to_string()),
    }
}

impl crate::measure::IntervalSink for HlogSink {
    fn write(&mut self, h: &Histogram<u64>, start: Duration, length: Duration, tag: &str) -> std::io::Result<()> {
        HlogSink::write(self, h, start, length, tag)
    }

    fn finish(self: Box<Self>) -> std::io::Result<()> {
        HlogSink::finish(*self)
    }
}

impl Drop for HlogSink {
    /// A log that was not finished (an error, a panic) leaves no temporary file behind.
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// One interval of one series.
#[derive(Debug, Clone)]
pub struct Interval {
    /// From the log's StartTime (or its first interval, when it has none).
    pub start: Duration,
    pub length: Duration,
    pub histogram: Histogram<u64>,
}

/// An interval log, by series.
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub start_time: Option<Duration>,
    pub series: BTreeMap<String, Vec<Interval>>,
}

impl Log {
    /// All intervals of a series added together.
    pub fn total(&self, tag: &str) -> Option<Histogram<u64>> {
        let intervals = self.series.get(tag)?;
        let mut total = crate::measure::new_histogram();
        total.auto(true);
        for i in intervals {
            total.add(&i.histogram).ok()?;
        }
        Some(total)
    }
}

/// Why an interval log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("not an HdrHistogram interval log ({0})")]
    Format(String),
    #[error("bad histogram in an interval: {0}")]
    Histogram(String),
    #[error("the log holds no intervals")]
    Empty,
    #[error("{path}: {source}")]
    In { path: PathBuf, source: Box<LogError> },
}

/// Reads an interval log written by slacheck or by another HdrHistogram implementation.
pub fn read(path: &Path) -> Result<Log, LogError> {
    let bytes = std::fs::read(path).map_err(|source| LogError::Read { path: path.to_path_buf(), source })?;
    parse(&bytes).map_err(|e| LogError::In { path: path.to_path_buf(), source: Box::new(e) })
}

pub fn parse(bytes: &[u8]) -> Result<Log, LogError> {
    // The crate's reader needs every line, the last one too, to end with a newline; other readers do not.
    let bytes: std::borrow::Cow<[u8]> = match bytes.last() {
        Some(b'\n') | None => bytes.into(),
        Some(_) => [bytes, b"\n"].concat().into(),
    };
    let mut log = Log::default();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.map_err(|e| LogError::Format(format!("{e:?}")))? {
            LogEntry::StartTime(t) => log.start_time = Some(t),
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(i) => {
                let histogram = crate::measure::decode_with(&mut deserializer, i.encoded_histogram())
                    .map_err(LogError::Histogram)?;
                let tag = i.tag().map(|t| decode_tag(t.as_str())).unwrap_or_default();
                log.series.entry(tag).or_default().push(Interval {
                    start: i.start_timestamp(),
                    length: i.duration(),
                    histogram,
                });
            }
        }
    }
    if log.series.is_empty() {
        return Err(LogError::Empty);
    }
    Ok(log)
}

/// A series name as a log tag, which may not hold a comma, a space or a line break: those and `%` are written
/// as `%2C`, `%20`, `%0D`, `%0A` and `%25`, so that two names never share a tag (`a b` and `a,b` once both
/// became `a_b`). Other readers see the escapes; [`read`] turns them back.
pub fn encode_tag(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    for c in tag.chars() {
        match c {
            '%' | ',' | ' ' | '\r' | '\n' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The name [`encode_tag`] wrote. A `%` not followed by one of its five escapes is kept as it is.
pub fn decode_tag(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    let mut rest = tag;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escaped = match rest.get(at + 1..at + 3) {
            Some("25") => Some('%'),
            Some("2C") => Some(','),
            Some("20") => Some(' '),
            Some("0D") => Some('\r'),
            Some("0A") => Some('\n'),
            _ => None,
        };
        match escaped {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_that_once_collided_stay_apart_and_read_back() {
        let names = ["tier.a b", "tier.a,b", "tier.a_b", "tier.100%", "tier.%2C", "class.x\ny"];
        let tags: Vec<String> = names.iter().map(|n| encode_tag(n)).collect();
        assert_eq!(tags[0], "tier.a%20b");
        assert_eq!(tags[1], "tier.a%2Cb");
        assert_eq!(tags[3], "tier.100%25");
        for t in &tags {
            assert!(!t.contains([',', ' ', '\n', '\r']), "{t}");
        }
        let distinct: std::collections::BTreeSet<_> = tags.iter().collect();
        assert_eq!(distinct.len(), names.len());
        for (n, t) in names.iter().zip(&tags) {
            assert_eq!(&decode_tag(t), n);
        }
        assert_eq!(decode_tag("50%off"), "50%off", "a stray % is kept");
    }
}
