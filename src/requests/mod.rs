//! requests.parquet: one row per scheduled request (not-sent ones included), written in row groups as the run
//! goes, so memory stays flat and an interrupted run keeps every row so far. DuckDB, pandas and polars read it
//! with no code; `slacheck merge` concatenates the shards' files row group by row group.
//!
//! The recorder hands each request to [`RequestLog`] through the [`RequestSink`] trait; this module knows the
//! file format, the recorder does not.

mod columns;
mod concat;
mod episodes;
mod tail;

pub use concat::{concat, ConcatError};
pub use episodes::{episode_of, label as label_episodes, Primaries, Span};
pub use tail::{attribute, Finding, Scope, SlowRequest, Tail, TailSettings, SLOWEST};

use crate::measure::{cost_usd, ms, RequestSink};
use crate::router::request_id;
use crate::sample::{Outcome, Sample};
use parquet::basic::{Compression, LogicalType, Repetition};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::types::{ColumnPath, Type, TypePtr};
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file's name in a results folder.
pub const FILE_NAME: &str = "requests.parquet";

/// Rows buffered before they are written as one row group: a few MB, whatever the run's length.
const ROW_GROUP: usize = 32_768;

/// What a row names by index in a [`Sample`], and how its id and cost are made.
#[derive(Debug, Clone, Default)]
pub struct RequestNames {
    pub tiers: Vec<String>,
    pub classes: Vec<String>,
    pub regions: Vec<String>,
    /// US dollars per million input and output tokens, by tier.
    pub prices: Vec<(f64, f64)>,
    /// The run's id, when each request carried a request-id header (the column is empty otherwise).
    pub run_id: Option<u64>,
    /// The response headers kept per request (`target.capture_headers`), one column each.
    pub captured: Vec<String>,
}

/// Writes requests.parquet under a temporary name; [`RequestSink::finish`] moves it into place.
pub struct RequestLog {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<SerializedFileWriter<BufWriter<File>>>,
    rows: Rows,
    names: RequestNames,
    /// Each distinct string once (tier, class, outcome, upstream): a row holds a cheap reference to it.
    interned: HashMap<String, ByteArray>,
    tiers: Vec<ByteArray>,
    regions: Vec<ByteArray>,
    classes: Vec<ByteArray>,
}

impl RequestLog {
    pub fn create(path: &Path, names: RequestNames) -> Result<Self, ParquetError> {
        let tmp = crate::outdir::temporary_name(path);
        let mut rows = Rows::new(&names.captured);
        let fields = rows.columns().iter().map(|c| c.field()).collect::<Result<Vec<_>, _>>()?;
        let schema = Arc::new(Type::group_type_builder("request").with_fields(fields).build()?);
        let file = BufWriter::new(File::create(&tmp)?);
        let writer = SerializedFileWriter::new(file, schema, properties())?;
        let bytes = |list: &[String]| list.iter().map(|n| ByteArray::from(n.as_str())).collect();
        let (tiers, regions, classes) = (bytes(&names.tiers), bytes(&names.regions), bytes(&names.classes));
        let interned = HashMap::new();
        Ok(RequestLog {
            path: path.to_path_buf(),
            tmp,
            writer: Some(writer),
            rows,
            names,
            interned,
            tiers,
            regions,
            classes,
        })
    }

    fn intern(&mut self, text: &str) -> ByteArray {
        if let Some(b) = self.interned.get(text) {
            return b.clone();
        }
        let b = ByteArray::from(text);
        // Names are bounded (tiers, classes, error kinds, at most 65 upstream labels); the guard keeps it so.
        if self.interned.len() < 4_096 {
            self.interned.insert(text.to_string(), b.clone());
        }
        b
    }

    fn push(&mut self, s: &Sample, upstream: Option<&str>) {
        // Tier, region and class names were made into byte arrays once: a row holds a reference, not a copy.
        let name = |list: &[ByteArray], i: Option<u16>| i.and_then(|i| list.get(i as usize)).cloned();
        let last = s.attempts.last();
        let tier = name(&self.tiers, last.map(|a| a.tier));
        let region = name(&self.regions, last.and_then(|a| a.region));
        let class = name(&self.classes, Some(s.class)).unwrap_or_else(|| ByteArray::from(""));
        let outcome = match &s.outcome {
            Outcome::Ok => self.intern("ok"),
            Outcome::Timeout => self.intern("timeout"),
            Outcome::NotSent => self.intern("not_sent"),
            Outcome::Cancelled => self.intern("cancelled"),
            Outcome::Error(kind) => self.intern(&kind.label()),
        };
        let upstream = upstream.map(|u| self.intern(u));
        let cost = match (s.served, s.tokens) {
            (Some(t), Some((input, output))) => {
                self.names.prices.get(t as usize).map(|(pi, po)| cost_usd(input, output, *pi, *po))
            }
            _ => None,
        };
        let id = self
            .names
            .run_id
            .filter(|_| s.sent.is_some())
            .map(|run| ByteArray::from(request_id(run, s.request).as_str()));
        let r = &mut self.rows;
        r.request.push(Some(s.request as i64));
        r.intended_ms.push(Some(ms_of(s.intended)));
        r.sent_ms.push(s.sent.map(ms_of));
        r.done_ms.push(Some(ms_of(s.done)));
        // A request whose client hung up has no latency (its `done_ms` says when it hung up).
        let timed = s.sent.filter(|_| s.outcome != Outcome::Cancelled);
        r.latency_ms.push(timed.map(|_| ms_of(s.done.saturating_sub(s.intended))));
        r.service_ms.push(timed.map(|sent| ms_of(s.done.saturating_sub(sent))));
        r.outcome.push(Some(outcome));
        r.status.push(s.status.map(i32::from));
        r.class.push(Some(class));
        r.tier.push(tier);
        r.upstream.push(upstream);
        r.region.push(region);
        r.attempts.push(Some(s.attempts.len() as i32));
        r.failed_over.push(Some(s.failed_over()));
        r.hedged.push(Some(s.hedge.is_some()));
        r.ttft_ms.push(s.stream.and_then(|t| t.first_token).map(|t| ms_of(t.saturating_sub(s.intended))));
        r.inter_token_ms.push(s.inter_token().map(ms_of));
        r.inter_token_max_ms.push(s.stream.and_then(|t| t.largest_gap).map(ms_of));
        r.tokens_in.push(s.tokens.map(|(i, _)| i as i64));
        r.tokens_out.push(s.output_tokens().map(|o| o as i64));
        r.input_tokens.push(s.input_tokens.map(i64::from));
        r.cost_usd.push(cost);
        r.request_id.push(id);
        r.session.push(s.session.map(|t| t.session as i64));
        r.turn.push(s.session.map(|t| t.turn as i32 + 1));
        for (i, column) in r.captured.iter_mut().enumerate() {
            column.push(s.captured.get(i).and_then(|v| v.as_deref()).map(ByteArray::from));
        }
        r.len += 1;
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> Result<(), ParquetError> {
        let Some(writer) = &mut self.writer else { return Ok(()) };
        if self.rows.len == 0 {
            return Ok(());
        }
        let mut group = writer.next_row_group()?;
        for column in self.rows.columns() {
            let Some(w) = group.next_column()? else { break };
            column.write(w)?;
        }
        group.close()?;
        self.rows.len = 0;
        Ok(())
    }
}

/// Columns whose values are nearly all distinct (numbers, times, ids): a dictionary would hold every value once
/// and index it again, so they are written plain. Building those dictionaries (a hash of every value) was a
/// third of the file's cost.
const PLAIN_COLUMNS: [&str; 10] = [
    "request",
    "intended_ms",
    "sent_ms",
    "done_ms",
    "latency_ms",
    "service_ms",
    "ttft_ms",
    "inter_token_ms",
    "inter_token_max_ms",
    "request_id",
];

/// How the file is written: Snappy, which every Parquet reader has, and slacheck's name.
fn properties() -> Arc<WriterProperties> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(concat!("slacheck ", env!("CARGO_PKG_VERSION")).into());
    for name in PLAIN_COLUMNS {
        props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    Arc::new(props.build())
}

fn ms_of(d: std::time::Duration) -> f64 {
    ms(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn io(e: ParquetError) -> std::io::Error {
    match e {
        ParquetError::External(e) => std::io::Error::other(e),
        other => std::io::Error::other(other.to_string()),
    }
}

impl RequestSink for RequestLog {
    fn write(&mut self, s: &Sample, upstream: Option<&str>) -> std::io::Result<()> {
        self.push(s, upstream);
        if self.rows.len >= ROW_GROUP {
            self.flush().map_err(io)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.flush().map_err(io)?;
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(io)?;
        }
        std::fs::rename(&self.tmp, &self.path)?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for RequestLog {
    /// A log that was not finished (an error on the way, or while closing it) leaves no temporary file behind.
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The buffered rows, one typed column each, in the file's column order.
struct Rows {
    len: usize,
    request: Column<Int64Type>,
    intended_ms: Column<DoubleType>,
    sent_ms: Column<DoubleType>,
    done_ms: Column<DoubleType>,
    latency_ms: Column<DoubleType>,
    service_ms: Column<DoubleType>,
    outcome: Column<ByteArrayType>,
    status: Column<Int32Type>,
    class: Column<ByteArrayType>,
    tier: Column<ByteArrayType>,
    upstream: Column<ByteArrayType>,
    region: Column<ByteArrayType>,
    attempts: Column<Int32Type>,
    failed_over: Column<BoolType>,
    hedged: Column<BoolType>,
    ttft_ms: Column<DoubleType>,
    inter_token_ms: Column<DoubleType>,
    inter_token_max_ms: Column<DoubleType>,
    tokens_in: Column<Int64Type>,
    tokens_out: Column<Int64Type>,
    input_tokens: Column<Int64Type>,
    cost_usd: Column<DoubleType>,
    request_id: Column<ByteArrayType>,
    session: Column<Int64Type>,
    turn: Column<Int32Type>,
    captured: Vec<Column<ByteArrayType>>,
}

impl Rows {
    fn new(captured: &[String]) -> Self {
        use Column as C;
        Rows {
            len: 0,
            request: C::required("request"),
            intended_ms: C::required("intended_ms"),
            sent_ms: C::optional("sent_ms"),
            done_ms: C::required("done_ms"),
            latency_ms: C::optional("latency_ms"),
            service_ms: C::optional("service_ms"),
            outcome: C::required("outcome"),
            status: C::optional("status"),
            class: C::required("class"),
            tier: C::optional("tier"),
            upstream: C::optional("upstream"),
            region: C::optional("region"),
            attempts: C::required("attempts"),
            failed_over: C::required("failed_over"),
            hedged: C::required("hedged"),
            ttft_ms: C::optional("ttft_ms"),
            inter_token_ms: C::optional("inter_token_ms"),
            inter_token_max_ms: C::optional("inter_token_max_ms"),
            tokens_in: C::optional("tokens_in"),
            tokens_out: C::optional("tokens_out"),
            input_tokens: C::optional("input_tokens"),
            cost_usd: C::optional("cost_usd"),
            request_id: C::optional("request_id"),
            session: C::optional("session"),
            turn: C::optional("turn"),
            captured: captured.iter().map(|h| C::optional(h)).collect(),
        }
    }

    /// Every column, in the schema's order: the one list both the schema and the writing follow.
    fn columns(&mut self) -> Vec<&mut dyn Buffered> {
        let mut list: Vec<&mut dyn Buffered> = vec![
            &mut self.request,
            &mut self.intended_ms,
            &mut self.sent_ms,
            &mut self.done_ms,
            &mut self.latency_ms,
            &mut self.service_ms,
            &mut self.outcome,
            &mut self.status,
            &mut self.class,
            &mut self.tier,
            &mut self.upstream,
            &mut self.region,
            &mut self.attempts,
            &mut self.failed_over,
            &mut self.hedged,
            &mut self.ttft_ms,
            &mut self.inter_token_ms,
            &mut self.inter_token_max_ms,
            &mut self.tokens_in,
            &mut self.tokens_out,
            &mut self.input_tokens,
            &mut self.cost_usd,
            &mut self.request_id,
            &mut self.session,
            &mut self.turn,
        ];
        list.extend(self.captured.iter_mut().map(|c| c as &mut dyn Buffered));
        list
    }
}

/// One column's values of the rows not yet written, with definition levels when it may be null.
struct Column<T: DataType> {
    name: String,
    optional: bool,
    values: Vec<T::T>,
    /// 1 for a value, 0 for a null (optional columns only).
    defs: Vec<i16>,
}

impl<T: DataType> Column<T> {
    fn required(name: &str) -> Self {
        Column { name: name.into(), optional: false, values: Vec::new(), defs: Vec::new() }
    }

    fn optional(name: &str) -> Self {
        Column { optional: true, ..Self::required(name) }
    }

    /// A required column always gets `Some`.
    fn push(&mut self, value: Option<T::T>) {
        if self.optional {
            self.defs.push(value.is_some() as i16);
        }
        self.values.extend(value);
    }
}

/// A column of any type, as the schema and the row-group writer see it.
trait Buffered {
    fn field(&self) -> Result<TypePtr, ParquetError>;
    /// Writes the buffered values into the row group's next column and empties the buffer.
    fn write(&mut self, w: SerializedColumnWriter<'_>) -> Result<(), ParquetError>;
}

impl<T: DataType> Buffered for Column<T> {
    fn field(&self) -> Result<TypePtr, ParquetError> {
        let repetition = if self.optional { Repetition::OPTIONAL } else { Repetition::REQUIRED };
        let string = (T::get_physical_type() == parquet::basic::Type::BYTE_ARRAY).then_some(LogicalType::String);
        let field = Type::primitive_type_builder(&self.name, T::get_physical_type())
            .with_repetition(repetition)
            .with_logical_type(string)
            .build()?;
        Ok(Arc::new(field))
    }

    fn write(&mut self, mut w: SerializedColumnWriter<'_>) -> Result<(), ParquetError> {
        let defs = self.optional.then_some(&self.defs[..]);
        w.typed::<T>().write_batch(&self.values, defs, None)?;
        w.close()?;
        self.values.clear();
        self.defs.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use std::time::Duration;

    #[test]
    fn distinct_valued_columns_are_written_plain_and_labels_with_a_dictionary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let names = RequestNames { run_id: Some(7), ..Default::default() };
        let mut log: Box<dyn RequestSink> = Box::new(RequestLog::create(&path, names).unwrap());
        for i in 0..100u64 {
            let intended = Duration::from_micros(i * 1_037);
            let s = Sample {
                request: i,
                sent: Some(intended),
                outcome: Outcome::Ok,
                ..Sample::not_sent(intended, intended * 2)
            };
            log.write(&s, Some("up")).unwrap();
        }
        log.finish().unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let group = reader.metadata().row_group(0);
        let dictionary = |name: &str| {
            let c = group.columns().iter().find(|c| c.column_path().string() == name).unwrap();
            c.encodings().any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY))
        };
        for name in PLAIN_COLUMNS {
            assert!(!dictionary(name), "{name}");
        }
        assert!(dictionary("outcome") && dictionary("upstream"));
    }
}
