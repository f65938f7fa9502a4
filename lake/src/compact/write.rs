//! The compacted file: the partition's files read in key order, batch by batch, the dropped
//! rows left out, the rest written as they come into one Parquet file with the lake's writer
//! settings. Nothing here depends on hash order or the clock: the same files give the same
//! bytes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::{RecordBatch, new_null_array};
use arrow_schema::{Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;

use super::{CompactError, Dropped, LocalFile, open_reader};
use crate::events::writer_properties;

/// The output schema of a table: its schema as this version knows it, then every column an
/// input file has that this version does not know (from a newer edge), in the order first
/// seen, nullable. Readers keep what they do not understand: such a column is carried over,
/// with nulls for the rows of files without it. A column this version knows must have its
/// known type; a known non-nullable column may not be missing; a known nullable one may (an
/// older edge's file), and is null for its rows.
pub(crate) fn output_schema(
    base: &Schema,
    files: &[(String, SchemaRef)],
) -> Result<SchemaRef, CompactError> {
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (key, s) in files {
        for f in s.fields() {
            match fields.iter().position(|o| o.name() == f.name()) {
                Some(i) => {
                    let known = &fields[i];
                    let nullable_ok = known.is_nullable() || !f.is_nullable();
                    if known.data_type() != f.data_type() || !nullable_ok {
                        return Err(CompactError::schema(
                            key,
                            format!(
                                "column `{}` is {}{} here, {}{} in the table",
                                f.name(),
                                f.data_type(),
                                if f.is_nullable() { " null" } else { "" },
                                known.data_type(),
                                if known.is_nullable() { " null" } else { "" },
                            ),
                        ));
                    }
                }
                None => fields.push(f.as_ref().clone().with_nullable(true)),
            }
        }
        for known in base.fields() {
            if !known.is_nullable() && s.field_with_name(known.name()).is_err() {
                return Err(CompactError::schema(
                    key,
                    format!("column `{}` (not null) is missing", known.name()),
                ));
            }
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// `batch` with `out`'s columns, by name; a column it lacks is all null.
fn conform(batch: &RecordBatch, out: &SchemaRef, key: &str) -> Result<RecordBatch, CompactError> {
    let n = batch.num_rows();
    let cols = out
        .fields()
        .iter()
        .map(|f| {
            batch
                .column_by_name(f.name())
                .cloned()
                .unwrap_or_else(|| new_null_array(f.data_type(), n))
        })
        .collect();
    RecordBatch::try_new(out.clone(), cols).map_err(|e| CompactError::arrow(key, e))
}

/// Rows dropped, by (kept region, dropped region).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub dropped: BTreeMap<(String, String), Dropped>,
    /// The frames of the current file already counted.
    frames: HashSet<(String, String, u32, u64)>,
}

impl Tally {
    /// One dropped row of frame `frame` (session id, seq): its kept copy is in `kept`, it was
    /// stored in `dropped`.
    pub fn drop_row(&mut self, kept: &str, dropped: &str, frame: (u32, u64)) {
        let first = self
            .frames
            .insert((kept.to_string(), dropped.to_string(), frame.0, frame.1));
        let d = self
            .dropped
            .entry((kept.to_string(), dropped.to_string()))
            .or_default();
        d.rows += 1;
        d.frames += u64::from(first);
    }
}

/// What [`write_filtered`] made.
#[derive(Debug)]
pub(crate) struct Written {
    /// `None` when there was no input file.
    pub bytes: Option<Vec<u8>>,
    pub schema: SchemaRef,
    pub rows_in: u64,
    pub rows_out: u64,
    pub dropped: BTreeMap<(String, String), Dropped>,
}

/// Reads `files` in order and writes the rows `decide` keeps into one file. `decide` gets
/// the file's number, a batch (conformed to the output schema), the tally for drops, and
/// pushes one flag per row (true: kept).
pub(crate) fn write_filtered(
    base: &Schema,
    files: &[LocalFile],
    batch_rows: usize,
    mut decide: impl FnMut(usize, &RecordBatch, &mut Tally, &mut Vec<bool>) -> Result<(), CompactError>,
) -> Result<Written, CompactError> {
    let mut schemas = Vec::with_capacity(files.len());
    for f in files {
        let (schema, _) = open_reader(&f.path, &f.key, None, batch_rows)?;
        schemas.push((f.key.clone(), schema));
    }
    let out = output_schema(base, &schemas)?;
    drop(schemas);
    let mut w = Written {
        bytes: None,
        schema: out.clone(),
        rows_in: 0,
        rows_out: 0,
        dropped: BTreeMap::new(),
    };
    if files.is_empty() {
        return Ok(w);
    }
    let parquet = |e| CompactError::Parquet {
        key: "(the compacted file)".into(),
        source: e,
    };
    let mut writer = ArrowWriter::try_new(Vec::new(), out.clone(), Some(writer_properties(&out)))
        .map_err(parquet)?;
    let mut tally = Tally::default();
    let mut keep = Vec::with_capacity(batch_rows);
    for (i, f) in files.iter().enumerate() {
        tally.frames.clear();
        let (_, reader) = open_reader(&f.path, &f.key, None, batch_rows)?;
        for batch in reader {
            let batch = batch.map_err(|e| CompactError::arrow(&f.key, e))?;
            let batch = conform(&batch, &out, &f.key)?;
            keep.clear();
            decide(i, &batch, &mut tally, &mut keep)?;
            if keep.len() != batch.num_rows() {
                return Err(CompactError::schema(&f.key, "internal: a verdict per row"));
            }
            w.rows_in += batch.num_rows() as u64;
            // Runs of kept rows, written as slices (no copy; usually the whole batch).
            let mut row = 0;
            while row < keep.len() {
                let start = row;
                while row < keep.len() && keep[row] == keep[start] {
                    row += 1;
                }
                if keep[start] {
                    writer
                        .write(&batch.slice(start, row - start))
                        .map_err(parquet)?;
                    w.rows_out += (row - start) as u64;
                }
            }
        }
    }
    w.bytes = Some(writer.into_inner().map_err(parquet)?);
    w.dropped = tally.dropped;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::DataType;

    fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
                .collect::<Vec<_>>(),
        ))
    }

    /// A newer edge's extra column is kept (nullable); an older edge's file may lack a known
    /// nullable column, never a not-null one; a known column's type may not change.
    #[test]
    fn the_output_schema_keeps_unknown_columns_and_refuses_conflicts() {
        let base = schema(&[("a", DataType::UInt64, false), ("b", DataType::Utf8, true)]);
        let same = (String::from("same"), base.clone());
        let newer = (
            String::from("newer"),
            schema(&[
                ("a", DataType::UInt64, false),
                ("b", DataType::Utf8, true),
                ("c", DataType::Int32, false),
            ]),
        );
        let older = (
            String::from("older"),
            schema(&[("a", DataType::UInt64, false)]),
        );
        let out = output_schema(&base, &[same.clone(), older.clone(), newer]).expect("union");
        assert_eq!(
            out,
            schema(&[
                ("a", DataType::UInt64, false),
                ("b", DataType::Utf8, true),
                ("c", DataType::Int32, true),
            ])
        );
        assert_eq!(
            output_schema(&base, std::slice::from_ref(&same)).expect("same"),
            base
        );
        let no_a = (String::from("no_a"), schema(&[("b", DataType::Utf8, true)]));
        let e = output_schema(&base, &[same.clone(), no_a]).expect_err("missing a");
        assert!(e.to_string().starts_with("no_a: column `a`"), "{e}");
        let a_i64 = (
            String::from("a_i64"),
            schema(&[("a", DataType::Int64, false)]),
        );
        let e = output_schema(&base, &[a_i64]).expect_err("a's type");
        assert!(e.to_string().contains("column `a` is Int64"), "{e}");
        let a_null = (
            String::from("a_null"),
            schema(&[("a", DataType::UInt64, true)]),
        );
        assert!(
            output_schema(&base, &[a_null]).is_err(),
            "a may not become nullable"
        );
    }
}
