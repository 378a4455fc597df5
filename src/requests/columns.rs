//! Reading requests.parquet a row group at a time, column by column: each named column as one cell per row, its
//! nulls in place. A row-by-row read builds a record of owned values per request, several times the cost.

use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType};
use parquet::errors::ParquetError;
use parquet::file::reader::RowGroupReader;

/// A text cell as a string (`None` for a null, or bytes that are not UTF-8).
pub(super) fn text(cell: &Option<ByteArray>) -> Option<&str> {
    cell.as_ref().and_then(|b| std::str::from_utf8(b.data()).ok())
}

/// A numeric column of one row group as numbers, one per row (`None` for a null); all `None` when the file has no
/// such column (a file written before it existed) or it is not numeric.
pub(super) fn numbers(group: &dyn RowGroupReader, name: &str, rows: usize) -> Result<Vec<Option<f64>>, ParquetError> {
    fn widen<V>(cells: Vec<Option<V>>, f: impl Fn(V) -> f64) -> Vec<Option<f64>> {
        cells.into_iter().map(|c| c.map(&f)).collect()
    }
    let Some(i) = position(group, name) else { return Ok(vec![None; rows]) };
    Ok(match group.get_column_reader(i)? {
        ColumnReader::Int32ColumnReader(r) => widen(cells(r, nullable(group, i), rows)?, |v: i32| f64::from(v)),
        ColumnReader::Int64ColumnReader(r) => widen(cells(r, nullable(group, i), rows)?, |v: i64| v as f64),
        ColumnReader::DoubleColumnReader(r) => cells(r, nullable(group, i), rows)?,
        _ => vec![None; rows],
    })
}

/// A text column of one row group, one cell per row; all `None` when the file has no such column.
pub(super) fn texts(
    group: &dyn RowGroupReader,
    name: &str,
    rows: usize,
) -> Result<Vec<Option<ByteArray>>, ParquetError> {
    let Some(i) = position(group, name) else { return Ok(vec![None; rows]) };
    Ok(match group.get_column_reader(i)? {
        ColumnReader::ByteArrayColumnReader(r) => cells(r, nullable(group, i), rows)?,
        _ => vec![None; rows],
    })
}

/// A boolean column of one row group, one cell per row; all `None` when the file has no such column.
pub(super) fn flags(group: &dyn RowGroupReader, name: &str, rows: usize) -> Result<Vec<Option<bool>>, ParquetError> {
    let Some(i) = position(group, name) else { return Ok(vec![None; rows]) };
    Ok(match group.get_column_reader(i)? {
        ColumnReader::BoolColumnReader(r) => cells(r, nullable(group, i), rows)?,
        _ => vec![None; rows],
    })
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
