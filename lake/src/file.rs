//! One Parquet file of one table, written as its rows arrive.

use std::io::Write;
use std::sync::{Arc, Mutex};

use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;

use crate::events::writer_properties;
use crate::{Error, SinkError, TableBuilder};

/// Rows moved from the column builders into the Parquet writer every this many rows, so a file
/// never holds all its rows as Arrow arrays at once.
pub const FLUSH_ROWS: usize = 1 << 16;

/// A table's rows for one file. Rows go into `rows` (the table's builder); every
/// [`FLUSH_ROWS`] they are encoded into the file. Row groups still hold
/// [`crate::events::ROW_GROUP_ROWS`] rows, as when the rows are written as one batch.
///
/// The file's bytes go to `W` as each row group is written: into memory for `Vec<u8>` (the
/// default), straight to the lake for a [`crate::Staged`] file, so a finished row group is not
/// held by the process until the file is stored.
pub struct FileBuilder<B, W: Write + Send = Vec<u8>> {
    rows: B,
    /// Where the file goes, until the first flush hands it to the writer.
    out: Option<W>,
    writer: Option<ArrowWriter<Out<W>>>,
    written: usize,
    /// The first error the output failed with (shared with the writer's [`Out`]).
    failed: Failed,
}

/// The first write error of a file's output.
type Failed = Arc<Mutex<Option<std::io::Error>>>;

/// A file's output, keeping the first error it fails with: parquet passes some write errors on
/// only as text (a flush as it gives the output back), and a file's error must stay the sink's
/// own.
struct Out<W> {
    w: W,
    failed: Failed,
}

impl<W> Out<W> {
    fn keep(&self, e: std::io::Error) -> std::io::Error {
        // An interrupted write is retried, not a failure.
        if e.kind() == std::io::ErrorKind::Interrupted {
            return e;
        }
        let told = std::io::Error::new(e.kind(), e.to_string());
        if let Ok(mut f) = self.failed.lock() {
            f.get_or_insert(e);
        }
        told
    }
}

impl<W: Write> Write for Out<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.w.write(b).map_err(|e| self.keep(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush().map_err(|e| self.keep(e))
    }
}

impl<B: TableBuilder + Default, W: Write + Send + Default> Default for FileBuilder<B, W> {
    fn default() -> Self {
        FileBuilder::new(W::default())
    }
}

impl<B, W: Write + Send> std::fmt::Debug for FileBuilder<B, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBuilder")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<B: TableBuilder + Default, W: Write + Send> FileBuilder<B, W> {
    /// A file written to `out`.
    pub fn new(out: W) -> Self {
        FileBuilder {
            rows: B::default(),
            out: Some(out),
            writer: None,
            written: 0,
            failed: Failed::default(),
        }
    }
}

impl<B: TableBuilder, W: Write + Send> FileBuilder<B, W> {
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
        let w = match (&mut self.writer, self.out.take()) {
            (Some(w), _) => w,
            (None, Some(w)) => {
                let out = Out {
                    w,
                    failed: self.failed.clone(),
                };
                let props = writer_properties(&batch.schema());
                let w = ArrowWriter::try_new(out, batch.schema(), Some(props))
                    .map_err(|e| out_error(&self.failed, e))?;
                self.writer.insert(w)
            }
            (None, None) => {
                return Err(Error::Parquet(ParquetError::General(
                    "the file's writer failed before".into(),
                )));
            }
        };
        w.write(&batch).map_err(|e| out_error(&self.failed, e))?;
        Ok(())
    }

    /// The finished file's output, every byte written to it (`None` when no row was pushed).
    pub fn finish(mut self) -> Result<Option<W>, Error> {
        self.flush()?;
        match self.writer {
            Some(w) => match w.into_inner() {
                Ok(out) => Ok(Some(out.w)),
                Err(e) => Err(out_error(&self.failed, e)),
            },
            None => Ok(None),
        }
    }
}

/// The [`SinkError`] the file's output failed with (a [`crate::Staged`] write carries it
/// inside an `io::Error`), or else parquet's error.
fn out_error(failed: &Failed, e: ParquetError) -> Error {
    let first = failed.lock().ok().and_then(|mut f| f.take());
    match first {
        Some(io) if io.get_ref().is_some_and(|i| i.is::<SinkError>()) => {
            Error::Sink(crate::into_sink_error("", io))
        }
        _ => Error::Parquet(e),
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
            let (a, b) = (read_all(file, n), read_all(one, n));
            assert_eq!((a.len(), b.len()), (1, 1), "one batch each");
            assert_eq!(a[0].num_rows(), n);
            assert_eq!(a[0], b[0], "n = {n}");
        }
    }

    fn read_all(bytes: Vec<u8>, n: usize) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .expect("parquet")
            .with_batch_size(n)
            .build()
            .expect("reader")
            .collect::<Result<_, _>>()
            .expect("batches")
    }

    /// The `events` table as the shipper writes it: a frame's rows at a time (12 here, so
    /// flushes fall between frames, past multiples of FLUSH_ROWS), sessions interleaved,
    /// sections changing. Read back, the rows are those written as one batch. (The bytes may
    /// differ: parquet's page boundaries follow the batches it is given.)
    #[test]
    fn events_written_frame_by_frame_hold_the_same_rows_as_one_batch() {
        use crate::{EventsBuilder, RowMeta, SessionState};
        use sentientiq_proto::{Batch, ClientFrame, Seq, kind};
        const SESSIONS: usize = 7;
        let frames = (FLUSH_ROWS + 100) / 12;
        let mut streamed = FileBuilder::<EventsBuilder>::default();
        let mut whole = EventsBuilder::default();
        let (mut st_a, mut st_b) = (
            vec![SessionState::default(); SESSIONS],
            vec![SessionState::default(); SESSIONS],
        );
        let sids: Vec<String> = (0..SESSIONS).map(|s| format!("s_flush_{s:02}")).collect();
        let mut flushed = 0;
        for f in 0..frames {
            let s = f % SESSIONS;
            let mut b = Batch {
                seq: Seq((f / SESSIONS) as u64 + 1),
                t0: 1_795_350_000_000 + f as u64 * 40,
                ..Batch::default()
            };
            for i in 0..12 {
                if i == 0 && f % 50 == 0 {
                    let a = b.intern(&format!("section-{}", f / 50 % 9));
                    b.push(kind::SECTION, 0, 0, 0, a);
                } else {
                    b.push(kind::MOVE, 8_000, (f + i) as i32, (f * 3 % 700) as i32, 0);
                }
            }
            let frame = ClientFrame::Batch(b);
            let m = RowMeta {
                tenant: "acme",
                region: "us-east-1",
                edge: "e1",
                shard: 0,
                session: &sids[s],
                user: s.is_multiple_of(2).then_some("u1"),
                account: None,
                seq: (f / SESSIONS) as u64 + 1,
                recv_ms: 1_795_350_000_000 + f as u64 * 40,
            };
            streamed.rows().push_frame(&m, &frame, &mut st_a[s]);
            let before = streamed.rows().len();
            streamed.flush_if_full().expect("flush");
            if streamed.rows().len() < before {
                flushed += 1;
                assert_ne!(
                    before % FLUSH_ROWS,
                    0,
                    "a flush between frames, off the multiple"
                );
            }
            whole.push_frame(&m, &frame, &mut st_b[s]);
        }
        assert_eq!(
            flushed, 1,
            "one flush before the last rows, which finish writes"
        );
        let n = streamed.len();
        assert_eq!(n, frames * 12);
        let file = streamed.finish().expect("finish").expect("rows");
        let one = write_parquet(&whole.finish().expect("batch")).expect("one batch");
        let (a, b) = (read_all(file, n), read_all(one, n));
        assert_eq!((a.len(), b.len()), (1, 1), "one batch each");
        assert_eq!(a[0].num_rows(), n);
        assert_eq!(a[0], b[0]);
    }

    /// An output that fails every write with `err()`.
    struct Failing(fn() -> std::io::Error);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err((self.0)())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Err((self.0)())
        }
    }

    /// A sink's error comes out of the file as that error, however parquet wraps it on the way
    /// (here as text, when the file's last bytes are flushed to its output); any other output
    /// error stays parquet's.
    #[test]
    fn an_output_failure_is_the_sinks_own_error() {
        let write = |err: fn() -> std::io::Error| {
            let mut f = FileBuilder::<ActionsBuilder, Failing>::new(Failing(err));
            for i in 0..10 {
                push(f.rows(), i);
            }
            f.finish().map(|_| ())
        };
        let r = write(|| std::io::Error::other(SinkError::Remote("k: UploadPart: refused".into())));
        assert!(
            matches!(&r, Err(Error::Sink(SinkError::Remote(m))) if m == "k: UploadPart: refused"),
            "{r:?}"
        );
        let r = write(|| std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(matches!(r, Err(Error::Parquet(_))), "{r:?}");
    }

    use arrow_array::RecordBatch;
}
