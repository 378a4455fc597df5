//! The `episode` column: which failover episode each request belongs to. An episode is known only once its
//! primary has recovered, after its rows may be on disk, so the column is added when the run ends: every
//! row group's columns are copied as they are (not decoded), and the new column is computed from each row's
//! intended time. So is a failover inferred from who served (a gateway without a failover marker): the
//! primary is known only once enough requests came back, and then `failed_over` is written again.

use super::columns::{self, flags, numbers, text, texts};
use super::{properties, Buffered, Column};
use parquet::data_type::{BoolType, Int32Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

/// One episode as the column needs it: (start ms, end ms, recovered). A recovered episode ends at the first of
/// the primary's run of successes, which is not part of it.
pub type Span = (f64, f64, bool);

/// The index (in summary.json's `failover_episodes.list`) of the episode a request due at `intended_ms`
/// belongs to.
pub fn episode_of(spans: &[Span], intended_ms: f64) -> Option<i32> {
    let inside = |(start, end, recovered): &Span| {
        intended_ms >= *start && (intended_ms < *end || (!recovered && intended_ms <= *end))
    };
    spans.iter().position(inside).map(|i| i as i32)
}

/// Each class's primary upstream, by class name, when failovers are inferred from who served; empty otherwise.
pub type Primaries = BTreeMap<String, String>;

/// Adds the `episode` column to the requests' file at `path` (rewritten under a temporary name, then renamed),
/// and with `primaries`, marks `failed_over` the rows served by another named upstream than their class's
/// primary, as the episodes counted them. Requests the episodes leave out (not sent, cut short by the run's stop)
/// get neither.
pub fn label(path: &Path, spans: &[Span], primaries: &Primaries) -> Result<(), ParquetError> {
    let file = File::open(path)?;
    let metadata =
        ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Optional).parse_and_finish(&file)?;
    let old = metadata.file_metadata().schema_descr().root_schema().get_fields().to_vec();
    if old.iter().any(|f| f.name() == "episode") {
        return Ok(());
    }
    let mut episode = Column::<Int32Type>::optional("episode");
    let mut failed_over = Column::<BoolType>::required("failed_over");
    let mut fields = old.clone();
    fields.push(episode.field()?);
    let schema = Arc::new(Type::group_type_builder("request").with_fields(fields).build()?);
    let rewritten = old.iter().position(|f| f.name() == "failed_over").filter(|_| !primaries.is_empty());
    let reader = SerializedFileReader::new(File::open(path)?)?;
    let tmp = crate::outdir::temporary_name(path);
    let written = (|| -> Result<(), ParquetError> {
        let mut writer = SerializedFileWriter::new(BufWriter::new(File::create(&tmp)?), schema, properties())?;
        for g in 0..metadata.num_row_groups() {
            if spans.is_empty() && rewritten.is_none() {
                // No episode and nothing inferred: nothing to read, every row gets none.
                (0..metadata.row_group(g).num_rows()).for_each(|_| episode.push(None));
            } else {
                let group = reader.get_row_group(g)?;
                let rows = columns::rows(&*group);
                let (intended, latency) =
                    (numbers(&*group, "intended_ms", rows)?, numbers(&*group, "latency_ms", rows)?);
                let outcome = texts(&*group, "outcome", rows)?;
                // Who served is read only when `failed_over` is written again.
                let (class, upstream, was_failed_over) = match rewritten {
                    Some(_) => (
                        texts(&*group, "class", rows)?,
                        texts(&*group, "upstream", rows)?,
                        flags(&*group, "failed_over", rows)?,
                    ),
                    None => Default::default(),
                };
                for i in 0..rows {
                    // Sent, and not cut short by the run's stop: the episodes saw it.
                    let sent = latency[i].is_some() && text(&outcome[i]) != Some("interrupted");
                    episode.push(sent.then(|| episode_of(spans, intended[i].unwrap_or(0.0))).flatten());
                    if rewritten.is_some() {
                        let primary = primaries.get(text(&class[i]).unwrap_or_default()).map(String::as_str);
                        let elsewhere =
                            crate::measure::served_elsewhere(primary, text(&upstream[i]).unwrap_or_default());
                        failed_over.push(Some(was_failed_over[i].unwrap_or(false) || sent && elsewhere));
                    }
                }
            }
            let mut out = writer.next_row_group()?;
            let missing = |what: &str| ParquetError::General(format!("no {what} column"));
            for c in 0..metadata.row_group(g).num_columns() {
                if rewritten == Some(c) {
                    failed_over.write(out.next_column()?.ok_or_else(|| missing("failed_over"))?)?;
                } else {
                    super::concat::copy_column(&mut out, &file, &metadata, g, c)?;
                }
            }
            episode.write(out.next_column()?.ok_or_else(|| missing("episode"))?)?;
            out.close()?;
        }
        writer.close()?;
        Ok(())
    })();
    match written {
        Ok(()) => std::fs::rename(&tmp, path).map_err(ParquetError::from),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_belongs_to_the_episode_its_intended_time_falls_in() {
        // A recovered episode [1,000, 2,000) and one still open at the end [5,000, 6,000].
        let spans = [(1_000.0, 2_000.0, true), (5_000.0, 6_000.0, false)];
        let at = |t: f64| episode_of(&spans, t);
        assert_eq!([at(999.9), at(1_000.0), at(1_999.9), at(2_000.0)], [None, Some(0), Some(0), None]);
        assert_eq!([at(4_999.0), at(5_000.0), at(6_000.0), at(6_000.1)], [None, Some(1), Some(1), None]);
    }
}
