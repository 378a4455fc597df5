//! The `episode` column: which failover episode each request belongs to. An episode is known only once its
//! primary has recovered, after its rows may be on disk, so the column is added when the run ends: every
//! row group's columns are copied as they are (not decoded), and the new column is computed from each row's
//! intended time.

use super::{properties, Buffered, Column};
use parquet::data_type::Int32Type;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::types::Type;
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

/// Adds the `episode` column to the requests' file at `path` (rewritten under a temporary name, then renamed).
/// Requests the episodes leave out (not sent, cut short by the run's stop) get none.
pub fn label(path: &Path, spans: &[Span]) -> Result<(), ParquetError> {
    let file = File::open(path)?;
    let metadata =
        ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Optional).parse_and_finish(&file)?;
    let old = metadata.file_metadata().schema_descr().root_schema().get_fields().to_vec();
    if old.iter().any(|f| f.name() == "episode") {
        return Ok(());
    }
    let mut episode = Column::<Int32Type>::optional("episode");
    let mut fields = old.clone();
    fields.push(episode.field()?);
    let schema = Arc::new(Type::group_type_builder("request").with_fields(fields).build()?);
    let wanted: Vec<_> =
        old.iter().filter(|f| matches!(f.name(), "intended_ms" | "latency_ms" | "outcome")).cloned().collect();
    let projection = Type::group_type_builder("request").with_fields(wanted).build()?;
    let reader = SerializedFileReader::new(File::open(path)?)?;
    let tmp = crate::outdir::temporary_name(path);
    let written = (|| -> Result<(), ParquetError> {
        let mut writer = SerializedFileWriter::new(BufWriter::new(File::create(&tmp)?), schema, properties())?;
        for g in 0..metadata.num_row_groups() {
            if spans.is_empty() {
                // No episode: nothing to read, every row gets none.
                (0..metadata.row_group(g).num_rows()).for_each(|_| episode.push(None));
            } else {
                for row in reader.get_row_group(g)?.get_row_iter(Some(projection.clone()))? {
                    episode.push(episode_in(row?.get_column_iter(), spans));
                }
            }
            let mut out = writer.next_row_group()?;
            super::concat::copy_columns(&mut out, &file, &metadata, g)?;
            let Some(w) = out.next_column()? else { return Err(ParquetError::General("no episode column".into())) };
            episode.write(w)?;
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

/// The episode of one row: none when it was not sent (no latency) or was cut short by the run's stop, as the
/// episodes themselves leave those out.
fn episode_in<'a>(fields: impl Iterator<Item = (&'a String, &'a Field)>, spans: &[Span]) -> Option<i32> {
    let (mut intended, mut sent, mut interrupted) = (None, false, false);
    for (name, field) in fields {
        match (name.as_str(), field) {
            ("intended_ms", Field::Double(v)) => intended = Some(*v),
            ("latency_ms", Field::Double(_)) => sent = true,
            ("outcome", Field::Str(s)) => interrupted = s == "interrupted",
            _ => {}
        }
    }
    intended.filter(|_| sent && !interrupted).and_then(|t| episode_of(spans, t))
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
