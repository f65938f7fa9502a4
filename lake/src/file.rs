//! One Parquet file of one table, written as its rows arrive.

use parquet::arrow::ArrowWriter;

use crate::events::writer_properties;
use crate::{Error, TableBuilder};

/// Rows moved from the column builders into the Parquet writer every this many rows, so a file
/// never holds all its rows as Arrow arrays at once.
pub const FLUSH_ROWS: usize = 1 << 16;

/// A table's rows for one file. Rows go into `rows` (the table's builder); every
/// [`FLUSH_ROWS`] they are encoded into the file. Row groups still hold
/// [`crate::events::ROW_GROUP_ROWS`] rows, as when the rows are written as one batch.
pub struct FileBuilder<B> {
    rows: B,
    writer: Option<ArrowWriter<Vec<u8>>>,
    written: usize,
}

impl<B: TableBuilder + Default> Default for FileBuilder<B> {
    fn default() -> Self {
        FileBuilder {
            rows: B::default(),
            writer: None,
            written: 0,
        }
    }
}

impl<B> std::fmt::Debug for FileBuilder<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBuilder")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<B: TableBuilder> FileBuilder<B> {
    /// The builder to push rows into; call [`FileBuilder::flush_if_full`] after pushing.
    pub fn rows(&mut self) -> &mut B {
        &mut self.rows
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.written + self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encodes the buffered rows into the file once there are [`FLUSH_ROWS`] of them.
    pub fn flush_if_full(&mut self) -> Result<(), Error> {
        if self.rows.len() >= FLUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = self.rows.finish()?;
        self.written += batch.num_rows();
        let w = match &mut self.writer {
            Some(w) => w,
            None => self.writer.insert(ArrowWriter::try_new(
                Vec::new(),
                batch.schema(),
                Some(writer_properties(&batch.schema())),
            )?),
        };
        w.write(&batch)?;
        Ok(())
    }

    /// The finished file's bytes (`None` when no row was pushed).
    pub fn finish(mut self) -> Result<Option<Vec<u8>>, Error> {
        self.flush()?;
        match self.writer {
            Some(w) => Ok(Some(w.into_inner()?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActionRow, ActionsBuilder, DetectionMeta, write_parquet};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn push(b: &mut ActionsBuilder, i: usize) {
        let meta = DetectionMeta {
            tenant: "acme",
            region: "us-east-1",
            edge: "e1",
            shard: 0,
            session: "s_file_test_00000001",
            recv_ms: 1_764_000_000_000 + i as u64,
        };
        let row = ActionRow {
            id: format!("a{i}"),
            action: "intervene".into(),
            seq: i as u64,
            ..Default::default()
        };
        b.push(&meta, &row);
    }

    /// Rows written as they come (in flushes of FLUSH_ROWS) read back as the same rows, in
    /// order, as rows written in one batch; the count is checked at FLUSH_ROWS − 1, FLUSH_ROWS
    /// and FLUSH_ROWS + 1, and across several flushes.
    #[test]
    fn a_file_written_in_flushes_holds_the_same_rows_as_one_batch() {
        for n in [
            0,
            FLUSH_ROWS - 1,
            FLUSH_ROWS,
            FLUSH_ROWS + 1,
            2 * FLUSH_ROWS + 7,
        ] {
            let mut streamed = FileBuilder::<ActionsBuilder>::default();
            let mut whole = ActionsBuilder::default();
            for i in 0..n {
                push(streamed.rows(), i);
                streamed.flush_if_full().expect("flush");
                push(&mut whole, i);
            }
            assert_eq!(streamed.len(), n);
            let Some(file) = streamed.finish().expect("finish") else {
                assert_eq!(n, 0);
                continue;
            };
            let one = write_parquet(&whole.finish().expect("batch")).expect("one batch");
            let read = |bytes: Vec<u8>| -> Vec<RecordBatch> {
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                    .expect("parquet")
                    .with_batch_size(n)
                    .build()
                    .expect("reader")
                    .collect::<Result<_, _>>()
                    .expect("batches")
            };
            let (a, b) = (read(file), read(one));
            assert_eq!((a.len(), b.len()), (1, 1), "one batch each");
            assert_eq!(a[0].num_rows(), n);
            assert_eq!(a[0], b[0], "n = {n}");
        }
    }

    use arrow_array::RecordBatch;
}
