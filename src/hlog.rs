//! HdrHistogram interval logs (`latency.hlog`): written during a run, read back for reports and comparison.
//!
//! The format is the HdrHistogram project's interval log (V2 compressed histograms, base64, one line per
//! interval), readable by the Java `HistogramLogProcessor` and the HdrHistogram plotter. slacheck's values
//! are in microseconds (pass `-outputValueUnitRatio 1000` to the Java tools for milliseconds). The untagged
//! series is the overall latency; tagged series are `service`, `lag`, `tier.<name>` and `class.<name>`.

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The key of the untagged (overall latency) series.
pub const OVERALL: &str = "";

/// Writes interval histograms to a temporary file, renamed into place by [`HlogSink::finish`].
pub struct HlogSink {
    path: PathBuf,
    tmp: PathBuf,
    file: BufWriter<std::fs::File>,
    serializer: V2DeflateSerializer,
}

impl HlogSink {
    /// Starts a log at `path` whose interval timestamps count from `start` (seconds since the epoch).
    pub fn create(path: &Path, start: SystemTime) -> std::io::Result<Self> {
        let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("hlog")));
        let mut file = BufWriter::new(std::fs::File::create(&tmp)?);
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(concat!("[Logged with slacheck ", env!("CARGO_PKG_VERSION"), "]"))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("[Values in microseconds; timestamps in seconds since StartTime]")
            .with_start_time(start)
            .begin_log_with(&mut file, &mut serializer)?;
        writeln!(file, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")?;
        Ok(HlogSink { path: path.to_path_buf(), tmp, file, serializer })
    }

    /// Appends one interval of one series (`tag` = [`OVERALL`] for the untagged series).
    pub fn write(&mut self, h: &Histogram<u64>, start: Duration, length: Duration, tag: &str) -> std::io::Result<()> {
        let clean: String = tag.chars().map(|c| if matches!(c, ',' | ' ' | '\r' | '\n') { '_' } else { c }).collect();
        let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut self.file, &mut self.serializer)?;
        writer
            .write_histogram(h, start, length, if clean.is_empty() { None } else { Tag::new(&clean) })
            .map_err(|e| std::io::Error::other(format!("{e:?}")))
    }

    /// Flushes the log and moves it into place.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        std::fs::rename(&self.tmp, &self.path)
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

/// Reads an interval log written by slacheck or by another HdrHistogram implementation.
pub fn read(path: &Path) -> Result<Log, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(bytes: &[u8]) -> Result<Log, String> {
    let mut log = Log::default();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        match entry.map_err(|e| format!("not an HdrHistogram interval log ({e:?})"))? {
            LogEntry::StartTime(t) => log.start_time = Some(t),
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(i) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .map_err(|e| format!("bad base64 in an interval: {e}"))?;
                let decoded: Histogram<u64> = deserializer
                    .deserialize(&mut &raw[..])
                    .map_err(|e| format!("bad histogram in an interval: {e:?}"))?;
                // Widen to slacheck's range so that logs of any range add together.
                let mut histogram = crate::measure::new_histogram();
                histogram.auto(true);
                histogram.add(&decoded).map_err(|e| format!("an interval does not fit 1 µs..1 h: {e:?}"))?;
                let tag = i.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
                log.series.entry(tag).or_default().push(Interval {
                    start: i.start_timestamp(),
                    length: i.duration(),
                    histogram,
                });
            }
        }
    }
    if log.series.is_empty() {
        return Err("the log holds no intervals".into());
    }
    Ok(log)
}
