//! Reading requests.parquet a row group at a time, column by column: each named column as one cell per row, its
//! nulls in place. A row-by-row read builds a record of owned values per request, several times the cost.

use parquet::basic::Type as PhysicalType;
use parquet::column::reader::ColumnReaderImpl;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::reader::RowGroupReader;

/// A text cell as a string (`None` for a null, or bytes that are not UTF-8).
pub(super) fn text(cell: &Option<ByteArray>) -> Option<&str> {
    cell.as_ref().and_then(|b| std::str::from_utf8(b.data()).ok())
}

/// The number of rows of a row group.
pub(super) fn rows(group: &dyn RowGroupReader) -> usize {
    usize::try_from(group.metadata().num_rows()).unwrap_or(0)
}

/// A numeric column of one row group as numbers, one per row (`None` for a null); all `None` when the file has no
/// such column (a file written before it existed) or it is not numeric.
pub(super) fn numbers(group: &dyn RowGroupReader, name: &str, rows: usize) -> Result<Vec<Option<f64>>, ParquetError> {
    fn widen<V>(cells: Vec<Option<V>>, f: impl Fn(V) -> f64) -> Vec<Option<f64>> {
        cells.into_iter().map(|c| c.map(&f)).collect()
    }
    let Some(i) = position(group, name) else { return Ok(vec![None; rows]) };
    Ok(match group.metadata().column(i).column_type() {
        PhysicalType::INT32 => widen(typed::<Int32Type>(group, name, rows)?, f64::from),
        PhysicalType::INT64 => widen(typed::<Int64Type>(group, name, rows)?, |v| v as f64),
        PhysicalType::DOUBLE => typed::<DoubleType>(group, name, rows)?,
        _ => vec![None; rows],
    })
}

/// A text column of one row group, one cell per row; all `None` when the file has no such column.
pub(super) fn texts(
    group: &dyn RowGroupReader,
    name: &str,
    rows: usize,
) -> Result<Vec<Option<ByteArray>>, ParquetError> {
    typed::<ByteArrayType>(group, name, rows)
}

/// A boolean column of one row group, one cell per row; all `None` when the file has no such column.
pub(super) fn flags(group: &dyn RowGroupReader, name: &str, rows: usize) -> Result<Vec<Option<bool>>, ParquetError> {
    typed::<BoolType>(group, name, rows)
}

/// Column `name` of one row group, of type `T`, one cell per row; all `None` when the file has no such column or
/// it is of another type.
fn typed<T: DataType>(group: &dyn RowGroupReader, name: &str, rows: usize) -> Result<Vec<Option<T::T>>, ParquetError> {
    let Some(i) = position(group, name) else { return Ok(vec![None; rows]) };
    match T::get_column_reader(group.get_column_reader(i)?) {
        Some(reader) => cells(reader, nullable(group, i), rows),
        None => Ok(vec![None; rows]),
    }
}

/// The index of the (top-level) column `name` in the row group.
fn position(group: &dyn RowGroupReader, name: &str) -> Option<usize> {
    group.metadata().columns().iter().position(|c| c.column_path().parts() == [name])
}

/// Whether column `i` may hold nulls (it has definition levels).
fn nullable(group: &dyn RowGroupReader, i: usize) -> bool {
    group.metadata().column(i).column_descr().max_def_level() > 0
}

/// Every cell of a flat column in a row group: its values put back in place between the nulls.
fn cells<T: DataType>(
    mut reader: ColumnReaderImpl<T>,
    nullable: bool,
    rows: usize,
) -> Result<Vec<Option<T::T>>, ParquetError> {
    let (mut defs, mut values) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let mut read = 0;
    while read < rows {
        match reader.read_records(rows - read, Some(&mut defs), None, &mut values)? {
            (0, _, _) => break,
            (records, _, _) => read += records,
        }
    }
    let mut values = values.into_iter();
    if !nullable {
        return Ok(values.map(Some).collect());
    }
    // A flat optional column: level 1 is a value, 0 a null.
    Ok(defs.iter().map(|&d| if d > 0 { values.next() } else { None }).collect())
}
