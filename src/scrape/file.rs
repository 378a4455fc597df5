//! server_metrics.parquet: one row per sample scraped (`time_s`, `url`, `metric`, `labels`, `value`), written
//! in row groups as the scrapes come, under a temporary name moved into place when the run ends.

use parquet::basic::{Compression, LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file's name in a results folder.
pub const FILE_NAME: &str = "server_metrics.parquet";

/// Rows buffered before they are written as one row group.
const ROW_GROUP: usize = 32_768;

/// The file being written.
pub struct SampleFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<SerializedFileWriter<BufWriter<File>>>,
    time_s: Vec<f64>,
    url: Vec<ByteArray>,
    metric: Vec<ByteArray>,
    labels: Vec<ByteArray>,
    value: Vec<f64>,
}

impl SampleFile {
    pub fn create(dir: &Path) -> Result<Self, ParquetError> {
        let path = dir.join(FILE_NAME);
        let tmp = crate::outdir::temporary_name(&path);
        let column = |name: &str, physical: Physical| {
            let string = (physical == Physical::BYTE_ARRAY).then_some(LogicalType::String);
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(string)
                .build()
                .map(Arc::new)
        };
        let fields = vec![
            column("time_s", Physical::DOUBLE)?,
            column("url", Physical::BYTE_ARRAY)?,
            column("metric", Physical::BYTE_ARRAY)?,
            column("labels", Physical::BYTE_ARRAY)?,
            column("value", Physical::DOUBLE)?,
        ];
        let schema = Arc::new(Type::group_type_builder("sample").with_fields(fields).build()?);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("slacheck ", env!("CARGO_PKG_VERSION")).into())
            .build();
        let writer = SerializedFileWriter::new(BufWriter::new(File::create(&tmp)?), schema, Arc::new(props))?;
        let (url, metric, labels) = (Vec::new(), Vec::new(), Vec::new());
        Ok(SampleFile { path, tmp, writer: Some(writer), time_s: Vec::new(), url, metric, labels, value: Vec::new() })
    }

    /// One sample; a full row group is written out.
    pub fn push(
        &mut self,
        time_s: f64,
        url: &ByteArray,
        metric: &str,
        labels: &str,
        value: f64,
    ) -> Result<(), ParquetError> {
        self.time_s.push(time_s);
        self.url.push(url.clone());
        self.metric.push(ByteArray::from(metric));
        self.labels.push(ByteArray::from(labels));
        self.value.push(value);
        if self.time_s.len() >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ParquetError> {
        let Some(writer) = &mut self.writer else { return Ok(()) };
        if self.time_s.is_empty() {
            return Ok(());
        }
        let mut group = writer.next_row_group()?;
        for i in 0..5 {
            let Some(mut column) = group.next_column()? else { break };
            match i {
                0 => column.typed::<DoubleType>().write_batch(&self.time_s, None, None)?,
                1 => column.typed::<ByteArrayType>().write_batch(&self.url, None, None)?,
                2 => column.typed::<ByteArrayType>().write_batch(&self.metric, None, None)?,
                3 => column.typed::<ByteArrayType>().write_batch(&self.labels, None, None)?,
                _ => column.typed::<DoubleType>().write_batch(&self.value, None, None)?,
            };
            column.close()?;
        }
        group.close()?;
        self.time_s.clear();
        self.url.clear();
        self.metric.clear();
        self.labels.clear();
        self.value.clear();
        Ok(())
    }

    /// Writes what is left, closes the file and moves it into place.
    pub fn finish(mut self) -> Result<(), ParquetError> {
        self.flush()?;
        if let Some(writer) = self.writer.take() {
            writer.close()?;
        }
        std::fs::rename(&self.tmp, &self.path)?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for SampleFile {
    /// A file that was not finished leaves no temporary file behind.
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
