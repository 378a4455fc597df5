//! Shards' requests.parquet files, one after the other in one file: each row group's encoded columns are
//! copied without being decoded.

use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Why shards' requests.parquet files could not be concatenated.
#[derive(Debug, thiserror::Error)]
pub enum ConcatError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: its columns differ from the first shard's (a shard of another scenario?)")]
    Schema { path: PathBuf },
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// Writes the rows of `inputs` (shards of one run, same columns) into `out`, one after the other, copying each
/// row group's encoded columns without decoding them.
pub fn concat(inputs: &[PathBuf], out: &Path) -> Result<(), ConcatError> {
    let read_error =
        |path: &Path, e: &dyn std::fmt::Display| ConcatError::Read { path: path.to_path_buf(), message: e.to_string() };
    let mut opened = Vec::new();
    for path in inputs {
        let file = File::open(path).map_err(|e| read_error(path, &e))?;
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .parse_and_finish(&file)
            .map_err(|e| read_error(path, &e))?;
        opened.push((path, file, metadata));
    }
    let Some((_, _, first)) = opened.first() else { return Ok(()) };
    let schema = first.file_metadata().schema_descr().root_schema_ptr();
    if let Some((path, _, _)) =
        opened.iter().find(|(_, _, m)| m.file_metadata().schema() != first.file_metadata().schema())
    {
        return Err(ConcatError::Schema { path: path.to_path_buf() });
    }
    let tmp = crate::outdir::temporary_name(out);
    let write_error =
        |e: &dyn std::fmt::Display| ConcatError::Write { path: out.to_path_buf(), message: e.to_string() };
    let written = (|| -> Result<(), ParquetError> {
        let mut writer = SerializedFileWriter::new(BufWriter::new(File::create(&tmp)?), schema, super::properties())?;
        for (_, file, metadata) in &opened {
            for g in 0..metadata.num_row_groups() {
                let mut out_group = writer.next_row_group()?;
                copy_columns(&mut out_group, file, metadata, g)?;
                out_group.close()?;
            }
        }
        writer.close()?;
        Ok(())
    })();
    match written {
        Ok(()) => std::fs::rename(&tmp, out).map_err(|e| write_error(&e)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(write_error(&e))
        }
    }
}

/// Appends every column of row group `g` of `file` to `out`, as encoded (no decoding, no re-encoding).
pub(super) fn copy_columns<W: std::io::Write + Send>(
    out: &mut SerializedRowGroupWriter<'_, W>,
    file: &File,
    metadata: &ParquetMetaData,
    g: usize,
) -> Result<(), ParquetError> {
    for c in 0..metadata.row_group(g).num_columns() {
        copy_column(out, file, metadata, g, c)?;
    }
    Ok(())
}

/// Appends column `c` of row group `g` of `file` to `out`, as encoded.
pub(super) fn copy_column<W: std::io::Write + Send>(
    out: &mut SerializedRowGroupWriter<'_, W>,
    file: &File,
    metadata: &ParquetMetaData,
    g: usize,
    c: usize,
) -> Result<(), ParquetError> {
    let (group, page_index) = (metadata.row_group(g), metadata.page_index());
    let column = group.column(c);
    let close = ColumnCloseResult {
        bytes_written: column.compressed_size() as u64,
        rows_written: group.num_rows() as u64,
        metadata: column.clone(),
        bloom_filter: None,
        column_index: page_index.and_then(|p| p.column_index(g, c)).cloned(),
        offset_index: page_index.and_then(|p| p.offset_index(g, c)).cloned(),
    };
    out.append_column(file, close)
}
