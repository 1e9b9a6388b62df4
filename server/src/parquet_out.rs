//! A small Parquet writer for exports: named, nullable columns of strings, 64-bit integers or
//! booleans, written as one row group. Readers (pyarrow, `datasets`, DuckDB) see UTF-8 strings.

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// One column's values; `None` is a null.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// UTF-8 text.
    Str(Vec<Option<String>>),
    /// 64-bit integers.
    Int(Vec<Option<i64>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Self::Str(v) => v.len(),
            Self::Int(v) => v.len(),
            Self::Bool(v) => v.len(),
        }
    }

    fn schema_type(&self) -> &'static str {
        match self {
            Self::Str(_) => "binary",
            Self::Int(_) => "int64",
            Self::Bool(_) => "boolean",
        }
    }
}

/// Definition levels (1 = present) and the present values.
fn split<T: Clone>(values: &[Option<T>]) -> (Vec<i16>, Vec<T>) {
    let levels = values.iter().map(|v| i16::from(v.is_some())).collect();
    let present = values.iter().flatten().cloned().collect();
    (levels, present)
}

/// Writes `columns` (all the same length) as a Parquet file named `message` in its schema.
///
/// # Errors
/// If the columns differ in length, a name is not a plain identifier, or encoding fails.
pub fn write(message: &str, columns: Vec<(&str, Column)>) -> Result<Vec<u8>> {
    let rows = columns.first().map_or(0, |(_, c)| c.len());
    let mut fields = String::new();
    for (name, col) in &columns {
        ensure!(
            col.len() == rows,
            "column {name} has {} rows, not {rows}",
            col.len()
        );
        ensure!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "column name {name:?} is not an identifier"
        );
        let annotation = if matches!(col, Column::Str(_)) {
            " (UTF8)"
        } else {
            ""
        };
        fields.push_str(&format!(
            "optional {} {name}{annotation}; ",
            col.schema_type()
        ));
    }
    let schema = Arc::new(
        parse_message_type(&format!("message {message} {{ {fields}}}"))
            .context("building the Parquet schema")?,
    );
    let props = Arc::new(WriterProperties::builder().build());
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, props)?;
    let mut group = writer.next_row_group()?;
    let mut values = columns.into_iter();
    while let Some(mut col) = group.next_column()? {
        let (_, data) = values.next().context("schema and columns disagree")?;
        match data {
            Column::Str(v) => {
                let (levels, present) = split(&v);
                let present: Vec<ByteArray> = present
                    .into_iter()
                    .map(|s| ByteArray::from(s.into_bytes()))
                    .collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&present, Some(&levels), None)?;
            }
            Column::Int(v) => {
                let (levels, present) = split(&v);
                col.typed::<Int64Type>()
                    .write_batch(&present, Some(&levels), None)?;
            }
            Column::Bool(v) => {
                let (levels, present) = split(&v);
                col.typed::<BoolType>()
                    .write_batch(&present, Some(&levels), None)?;
            }
        }
        col.close()?;
    }
    group.close()?;
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::*;

    #[test]
    fn round_trips_nullable_columns() {
        let bytes = write(
            "t",
            vec![
                (
                    "name",
                    Column::Str(vec![Some("é ✓".into()), None, Some(String::new())]),
                ),
                ("n", Column::Int(vec![None, Some(-7), Some(i64::MAX)])),
                ("ok", Column::Bool(vec![Some(true), Some(false), None])),
            ],
        )
        .unwrap();
        assert_eq!(&bytes[..4], b"PAR1");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let rows: Vec<Vec<(String, Field)>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .get_column_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect();
        assert_eq!(rows[0][0], ("name".into(), Field::Str("é ✓".into())));
        assert_eq!(rows[0][1], ("n".into(), Field::Null));
        assert_eq!(rows[1][0].1, Field::Null);
        assert_eq!(rows[1][1].1, Field::Long(-7));
        assert_eq!(rows[1][2].1, Field::Bool(false));
        assert_eq!(rows[2][0].1, Field::Str(String::new()));
        assert_eq!(rows[2][1].1, Field::Long(i64::MAX));
        assert_eq!(rows[2][2].1, Field::Null);
    }

    #[test]
    fn refuses_ragged_columns() {
        let err = write(
            "t",
            vec![
                ("a", Column::Int(vec![Some(1)])),
                ("b", Column::Int(vec![Some(1), Some(2)])),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("column b has 2 rows"), "{err}");
    }
}
