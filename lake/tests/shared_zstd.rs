//! The Parquet writer's zstd codecs share their thread's compression context
//! (`vendor/parquet.patch`, `src/compression.rs`). Two files written at once on one thread, at
//! two levels, page by page in turn, must be the same bytes as each written alone on a thread of
//! its own, and read back as written. (That the shared context writes what a context per codec
//! wrote is checked by the lake's golden files, `lake/tests/fixtures/*.parquet`, written before
//! the patch and compared byte for byte by `lake/tests/lake.rs`.)
//! A file written while the thread's storage is torn down, after its context is gone, gets a
//! context of its own and the same bytes.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

const ROWS: usize = 40_000;

/// Columns that compress to pages of a few hundred bytes to kilobytes.
fn batch() -> Result<RecordBatch> {
    let mut h = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        h
    };
    let ints: Vec<i64> = (0..ROWS).map(|_| (next() % 100_000) as i64).collect();
    let strs: Vec<String> = (0..ROWS)
        .map(|i| format!("s_{:06}_{}", next() % 5_000, i % 7))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ints)),
        Arc::new(StringArray::from(strs)),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

fn writer(level: i32) -> Result<ArrowWriter<Vec<u8>>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(level)?))
        .set_dictionary_enabled(false)
        .set_data_page_row_count_limit(1_000)
        .set_write_batch_size(500)
        .set_max_row_group_row_count(Some(15_000))
        .build();
    Ok(ArrowWriter::try_new(
        Vec::new(),
        batch()?.schema(),
        Some(props),
    )?)
}

/// The file of `batch` at `level`, written alone on a new thread.
fn alone(level: i32) -> Result<Vec<u8>> {
    std::thread::spawn(move || -> Result<Vec<u8>> {
        let mut w = writer(level)?;
        w.write(&batch()?)?;
        Ok(w.into_inner()?)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("writer thread panicked"))?
}

#[test]
fn files_written_in_turn_on_one_thread_are_the_files_written_alone() -> Result<()> {
    let b = batch()?;
    let (mut three, mut nine) = (writer(3)?, writer(9)?);
    // 2 000 rows at a time: each write closes two pages of each column, alternating levels.
    for at in (0..ROWS).step_by(2_000) {
        let part = b.slice(at, 2_000);
        three.write(&part)?;
        nine.write(&part)?;
    }
    let (three, nine) = (three.into_inner()?, nine.into_inner()?);
    assert_eq!(three, alone(3)?, "level 3");
    assert_eq!(nine, alone(9)?, "level 9");
    assert_ne!(three, nine, "the levels differ");
    for file in [three, nine] {
        let read: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file))?
                .with_batch_size(ROWS)
                .build()?
                .collect::<Result<_, _>>()
                .context("reading back")?;
        assert_eq!(read.len(), 1);
        assert_eq!(read[0], b);
    }
    Ok(())
}

/// A file written while its thread is being torn down, after the thread's shared context is
/// gone (a writer finished by another thread-local's destructor), is compressed with a context
/// of its own: the same bytes as written alone. A thread's thread-locals are destroyed in the
/// reverse order of their first use (std on Linux registers each destructor with glibc's
/// `__cxa_thread_atexit_impl`, which runs them last in, first out), so `LATE`, used first, is
/// dropped after the context the thread's first file made. `PROBE`, first used after that
/// context, checks the order as it happens: were it ever first in, first out, the probe would
/// still be alive when `LATE` writes, and the test fails instead of passing on the shared path.
#[test]
fn a_file_written_during_thread_teardown_is_the_file_written_alone() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    type Late = (bool, Result<Vec<u8>>);
    struct WriteOnDrop(std::sync::mpsc::Sender<Late>, Arc<AtomicBool>);
    impl Drop for WriteOnDrop {
        fn drop(&mut self) {
            let probe_gone = self.1.load(Ordering::SeqCst);
            let file = (|| -> Result<Vec<u8>> {
                let mut w = writer(3)?;
                w.write(&batch()?)?;
                Ok(w.into_inner()?)
            })();
            let _ = self.0.send((probe_gone, file));
        }
    }
    struct Probe(Arc<AtomicBool>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<WriteOnDrop>> =
            const { std::cell::RefCell::new(None) };
        static PROBE: std::cell::RefCell<Option<Probe>> = const { std::cell::RefCell::new(None) };
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let gone = Arc::new(AtomicBool::new(false));
    let probe = gone.clone();
    let first = std::thread::spawn(move || -> Result<Vec<u8>> {
        LATE.with(|l| *l.borrow_mut() = Some(WriteOnDrop(tx, gone)));
        let mut w = writer(3)?;
        w.write(&batch()?)?;
        let file = w.into_inner()?;
        PROBE.with(|p| *p.borrow_mut() = Some(Probe(probe)));
        Ok(file)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    let (probe_gone, late) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .context("the destructor's file")?;
    assert!(
        probe_gone,
        "thread-locals were not destroyed last in, first out: the shared context may still have been alive"
    );
    let want = alone(3)?;
    assert_eq!(first, want, "with the shared context");
    assert_eq!(late?, want, "during teardown");
    Ok(())
}
