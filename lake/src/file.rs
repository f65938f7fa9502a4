//! One Parquet file of one table, written as its rows arrive.

use std::io::Write;
use std::sync::{Arc, Mutex};

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::errors::ParquetError;

use crate::events::writer_properties;
use crate::pages::SpillPages;
use crate::{Error, SinkError, TableBuilder};

/// The most rows one push into a table's builder adds: a frame's samples, at most the
/// protocol's `max_samples` (the shipper decodes spooled frames with the default limits, which a
/// tenant's can only tighten). Other tables add one row per push.
pub const MAX_PUSH_ROWS: usize = sentientiq_proto::Limits::DEFAULT.max_samples;

/// The column builders' capacity in rows. A new builder has room for 1 024 rows and grows as
/// its `Vec` does, by doubling, so it reaches 16 384 exactly; after a flush the builders are
/// given room for this many ([`TableBuilder::reserve`]), where Arrow's would start again from
/// the first frame's rows and double past it. The `events` builders take about 95 bytes a row:
/// 1.6 MB at 16 384 rows, where 65 536 rows took 6 MB, or 12 MB once a frame had pushed them
/// past it. At `ws-5k` the edge's peak RSS was 88.8 MB against 94.6–94.8 MB with 65 536, with
/// CPU per frame within the pairs' spread (`bench/runs/2026-12-05-vm/README.md`, "Twenty-eighth
/// session"; 8 192 had cost 4–10 % at `ws-10k` in the twenty-sixth session's three pairs).
pub const BUILDER_ROWS: usize = 1 << 14;

/// Rows moved from the column builders into the Parquet writer once there are this many, so a
/// file never holds all its rows as Arrow arrays at once. The flush comes a whole push before
/// [`BUILDER_ROWS`]: had a push crossed it, every builder would double.
pub const FLUSH_ROWS: usize = BUILDER_ROWS - MAX_PUSH_ROWS;

/// A table's rows for one file. Rows go into `rows` (the table's builder); past [`FLUSH_ROWS`]
/// they are encoded into the file. Row groups still hold
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
    /// Where the open row group's finished pages wait: the heap when `None`.
    pages: Option<SpillPages>,
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
            pages: None,
            written: 0,
            failed: Failed::default(),
        }
    }
}

impl<B: TableBuilder, W: Write + Send> FileBuilder<B, W> {
    /// Keeps the open row group's finished pages in temporary files ([`SpillPages`]) instead
    /// of on the heap. The file's bytes are the same.
    #[must_use]
    pub fn with_pages(mut self, pages: SpillPages) -> Self {
        self.pages = Some(pages);
        self
    }

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

    /// Encodes the buffered rows into the file once there are [`FLUSH_ROWS`] of them; the
    /// builders then get room for [`BUILDER_ROWS`], as a file this large likely fills them again.
    pub fn flush_if_full(&mut self) -> Result<(), Error> {
        if self.rows.len() >= FLUSH_ROWS {
            self.flush()?;
            self.rows.reserve(BUILDER_ROWS);
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
                let mut options =
                    ArrowWriterOptions::new().with_properties(writer_properties(&batch.schema()));
                if let Some(p) = &self.pages {
                    options = options.with_page_store_factory(p.for_file());
                }
                let w = ArrowWriter::try_new_with_options(out, batch.schema(), options)
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

    /// A frame of `samples` moves at the edge's shape, `seq` in session `s_cap`.
    fn frame_of(samples: usize, seq: u64) -> sentientiq_proto::ClientFrame {
        use sentientiq_proto::{Batch, ClientFrame, Seq, kind};
        let mut b = Batch {
            seq: Seq(seq),
            t0: 1_795_350_000_000 + seq * 40,
            ..Batch::default()
        };
        // Positions that do not repeat, so pages compress as the loadgen's do, to kilobytes.
        let mut h = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for _ in 0..samples {
            h = h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (x, y) = ((h >> 33) % 1920, (h >> 45) % 1080);
            b.push(kind::MOVE, 8_000 + (h >> 60) as u32, x as i32, y as i32, 0);
        }
        ClientFrame::Batch(b)
    }

    /// The flush comes a whole frame before the column builders would double: with the file
    /// one row short of FLUSH_ROWS, the largest frame (MAX_PUSH_ROWS samples) takes it to
    /// BUILDER_ROWS − 1, within the builders' capacity, and then it flushes. Had it flushed only
    /// at BUILDER_ROWS, the builders would hold twice that. The same after the flush, whose
    /// builders first take a 17-row frame (without room given, they double from 17 to 17 408).
    /// The session column's index keeps the room its 500 sessions took through the flush.
    #[test]
    fn the_largest_frame_before_a_flush_fits_the_builders() {
        use crate::{EventsBuilder, RowMeta, SessionState};
        let mut f = FileBuilder::<EventsBuilder>::default();
        let mut st = SessionState::default();
        let sessions: Vec<String> = (0..500).map(|i| format!("s_cap_{i}")).collect();
        let m = |seq: u64| RowMeta {
            tenant: "acme",
            region: "us-east-1",
            edge: "e1",
            shard: 0,
            session: &sessions[seq as usize % sessions.len()],
            user: None,
            account: None,
            seq,
            recv_ms: 1_795_350_000_000 + seq * 40,
        };
        let mut seq = 0;
        for fill in 1..=2 {
            let mut first = 17;
            while f.rows().len() < FLUSH_ROWS - 1 {
                seq += 1;
                let n = (FLUSH_ROWS - 1 - f.rows().len()).min(first);
                first = 7;
                f.rows().push_frame(&m(seq), &frame_of(n, seq), &mut st);
                f.flush_if_full().expect("flush");
            }
            assert_eq!(f.rows().len(), FLUSH_ROWS - 1, "no flush below FLUSH_ROWS");
            seq += 1;
            let big = frame_of(MAX_PUSH_ROWS, seq);
            f.rows().push_frame(&m(seq), &big, &mut st);
            assert_eq!(f.rows().len(), BUILDER_ROWS - 1);
            assert_eq!(
                f.rows().capacity(),
                BUILDER_ROWS,
                "no builder doubled, fill {fill}"
            );
            let room = f.rows().session_index_capacity();
            assert!(room >= sessions.len());
            f.flush_if_full().expect("flush");
            assert_eq!(f.rows().len(), 0, "flushed past FLUSH_ROWS");
            assert_eq!(f.rows().session_index_capacity(), room, "fill {fill}");
            assert_eq!(f.len(), fill * (BUILDER_ROWS - 1));
        }
    }

    /// With its pages spilled to temporary files, the same file, byte for byte; and pages did
    /// spill.
    #[test]
    fn a_file_with_spilled_pages_is_the_same_file() {
        use crate::{EventsBuilder, RowMeta, SessionState};
        let dir = tempfile::tempdir().expect("dir");
        let pages = SpillPages::new(dir.path());
        let mut heap = FileBuilder::<EventsBuilder>::default();
        let mut spilled = FileBuilder::<EventsBuilder>::default().with_pages(pages.clone());
        let (mut a, mut b) = (SessionState::default(), SessionState::default());
        // Past two flushes and parquet's 20 000 rows a page: pages wait in the file across
        // flushes, and a column chunk has several.
        for seq in 1..=(3 * FLUSH_ROWS as u64 + 999) / 12 {
            let sid = format!("s_spill_{}", seq % 37);
            let m = RowMeta {
                tenant: "acme",
                region: "us-east-1",
                edge: "e1",
                shard: 0,
                session: &sid,
                user: None,
                account: None,
                seq,
                recv_ms: 1_795_350_000_000 + seq * 40,
            };
            let f = frame_of(12, seq);
            heap.rows().push_frame(&m, &f, &mut a);
            heap.flush_if_full().expect("flush");
            spilled.rows().push_frame(&m, &f, &mut b);
            spilled.flush_if_full().expect("flush");
        }
        let heap = heap.finish().expect("finish").expect("rows");
        let spilled = spilled.finish().expect("finish").expect("rows");
        assert!(pages.spilled() > 0, "some pages went to files");
        assert_eq!(heap, spilled);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "nothing left in the directory"
        );
    }

    /// The `events` table as the shipper writes it: a frame's rows at a time (11 here, so
    /// flushes fall between frames, past multiples of FLUSH_ROWS), sessions interleaved,
    /// sections changing. Read back, the rows are those written as one batch. (The bytes may
    /// differ: parquet's page boundaries follow the batches it is given.)
    #[test]
    fn events_written_frame_by_frame_hold_the_same_rows_as_one_batch() {
        use crate::{EventsBuilder, RowMeta, SessionState};
        use sentientiq_proto::{Batch, ClientFrame, Seq, kind};
        const SESSIONS: usize = 7;
        let frames = (FLUSH_ROWS + 100) / 11;
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
            for i in 0..11 {
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
        assert_eq!(n, frames * 11);
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
