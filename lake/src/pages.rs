//! Where a file's open row group keeps its finished pages: in a temporary file instead of the
//! heap.
//!
//! Parquet stores each column of a row group contiguously, while rows arrive with every column
//! at once, so the writer holds every finished page of the open row group until the group
//! closes. On the heap that is the whole compressed row group: 5.4 MB in the shipper's replay
//! (heaptrack, `bench/runs/2026-12-05-vm/README.md`, "Twenty-eighth session"). parquet's
//! [`PageStore`] lets the pages live elsewhere. Here every column chunk of one lake file puts its
//! pages in one unnamed temporary file in a directory of the caller's (the edge's data
//! directory): one descriptor per lake file being written, at most [`MAX_SPILL_FILES`] at once
//! (a lake file past that keeps its pages on the heap), emptied (truncated) each time every
//! page in it has been taken back, that is when a row group closes, and removed by the kernel
//! when the file is finished or the process ends. Its bytes are page cache, not the process's
//! memory (a cgroup's memory limit does count it, as reclaimable cache). Whether they reach the
//! disk before they are read back and truncated depends on the kernel's writeback (dirty pages
//! older than `vm.dirty_expire_centisecs`, 30 s by default, are written); not measured.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::errors::{ParquetError, Result};

/// Blobs shorter than this stay on the heap: a page's header (tens of bytes) is stored with
/// every page, and a syscall each way would cost more than such bytes are worth. In a shipped
/// `events` file (the recorded spool's, 1 048 576-row groups of 5.6 MB, 53 pages a column) the
/// average page of a column is 31–43 bytes for the constant columns (tenant, region, edge,
/// shard), 0.5–1.4 KB for account, recv_time, kind, label and value, and 2.5–26 KB for the rest
/// (session, user, seq, idx, the times, x, y, section, page): at 1 KiB about 97 % of the row
/// group's bytes spill, with one write and one read per page of about 11 of the 19 columns.
pub const SPILL_MIN_BYTES: usize = 1024;

/// The most temporary files a [`SpillPages`] keeps open at once (one per lake file being
/// written). Each is a descriptor, and a segment of many tenants writes many lake files at
/// once: a lake file that would be past this keeps its pages on the heap, as parquet would
/// (counted, [`SpillPages::capped`]). The edge counts these in the descriptors it keeps for
/// itself (`node::FDS_RESERVED`); 64 holds every lake file of a segment of 16 tenants, four
/// tables each, in one hour.
pub const MAX_SPILL_FILES: usize = 64;

/// Where lake files keep their open row group's pages: temporary files in `dir`, one per lake
/// file ([`SpillPages::for_file`]). Its clones share the counts of bytes spilled and of bytes
/// kept on the heap because the disk refused them.
#[derive(Debug, Clone)]
pub struct SpillPages {
    of: Arc<Shared>,
}

/// What every lake file's pages share: the directory, the files open and the counts.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    spilled: AtomicU64,
    refused: AtomicU64,
    capped: AtomicU64,
    /// Temporary files open now, and the most there may be.
    files: AtomicUsize,
    max_files: usize,
}

impl SpillPages {
    pub fn new(dir: impl Into<PathBuf>) -> SpillPages {
        SpillPages::with_max_files(dir, MAX_SPILL_FILES)
    }

    /// Keeping at most `max_files` temporary files open at once.
    pub fn with_max_files(dir: impl Into<PathBuf>, max_files: usize) -> SpillPages {
        SpillPages {
            of: Arc::new(Shared {
                dir: dir.into(),
                spilled: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                capped: AtomicU64::new(0),
                files: AtomicUsize::new(0),
                max_files,
            }),
        }
    }

    /// Bytes its stores kept on the heap because [`MAX_SPILL_FILES`] (or `max_files`) other
    /// lake files had their temporary file open.
    pub fn capped(&self) -> u64 {
        self.of.capped.load(Ordering::Relaxed)
    }

    /// Bytes its stores have written to their files so far.
    pub fn spilled(&self) -> u64 {
        self.of.spilled.load(Ordering::Relaxed)
    }

    /// Bytes its stores kept on the heap because their file could not be made or written
    /// (a full disk): the lake file is written all the same.
    pub fn refused(&self) -> u64 {
        self.of.refused.load(Ordering::Relaxed)
    }

    /// The page stores of one lake file's writer: every column chunk's share one temporary
    /// file.
    pub(crate) fn for_file(&self) -> Arc<dyn PageStoreFactory> {
        Arc::new(FilePages(self.one_file()))
    }

    fn one_file(&self) -> Arc<OneFile> {
        Arc::new(OneFile {
            of: self.of.clone(),
            spill: Mutex::default(),
        })
    }
}

/// One lake file's pages: its temporary file, and where the rest is shared.
#[derive(Debug)]
struct OneFile {
    of: Arc<Shared>,
    spill: Mutex<Spill>,
}

impl Drop for OneFile {
    /// Its temporary file closes with it: its place among the open files is free again.
    fn drop(&mut self) {
        let had = match self.spill.get_mut() {
            Ok(s) => s.file.is_some(),
            Err(poisoned) => poisoned.get_ref().file.is_some(),
        };
        if had {
            self.of.files.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl OneFile {
    fn spill(&self) -> Result<std::sync::MutexGuard<'_, Spill>> {
        self.spill
            .lock()
            .map_err(|_| ParquetError::General("page spill state poisoned".into()))
    }
}

/// The factory of one lake file's page stores, one per column chunk.
#[derive(Debug)]
struct FilePages(Arc<OneFile>);

impl PageStoreFactory for FilePages {
    fn create(&self, _args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        Ok(Box::new(SpillStore {
            file: self.0.clone(),
            blobs: Vec::new(),
        }))
    }
}

/// One lake file's temporary file, made at its first spilled page.
#[derive(Debug, Default)]
struct Spill {
    file: Option<File>,
    end: u64,
    /// Spilled pages not taken back yet; at 0 the file is emptied.
    live: usize,
    /// The disk refused a page, or no file could be open: this lake file's later pages stay
    /// on the heap.
    refused: bool,
}

/// Why a page stays on the heap.
enum NoSpill {
    /// [`Shared::max_files`] temporary files are open.
    Capped,
    /// The disk refused it.
    Io,
}

impl Spill {
    /// Appends `value` (made the file at the first call, if a place among the open files is
    /// free); its offset.
    fn append(&mut self, of: &Shared, value: &[u8]) -> std::result::Result<u64, NoSpill> {
        let file = match &mut self.file {
            Some(f) => f,
            slot => {
                of.files
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < of.max_files).then_some(n + 1)
                    })
                    .map_err(|_| NoSpill::Capped)?;
                match tempfile::tempfile_in(&of.dir) {
                    Ok(f) => slot.insert(f),
                    Err(_) => {
                        of.files.fetch_sub(1, Ordering::Relaxed);
                        return Err(NoSpill::Io);
                    }
                }
            }
        };
        let at = self.end;
        file.write_all_at(value, at).map_err(|_| NoSpill::Io)?;
        self.end += value.len() as u64;
        self.live += 1;
        Ok(at)
    }
}

/// Where a stored blob is.
#[derive(Debug)]
enum Blob {
    /// Kept on the heap (short, or refused by the disk); empty once taken.
    Held(Bytes),
    /// In the file, at this offset, this long.
    Spilled(u64, usize),
}

/// One column chunk's pages: small blobs on the heap, the rest in its lake file's temporary
/// file. Should that file not be made or written (the data directory's disk full: the spool's,
/// which the shipper must still be able to free by shipping), the blob and every later one of
/// the lake file stay on the heap, as parquet would keep them, counted.
#[derive(Debug)]
pub struct SpillStore {
    file: Arc<OneFile>,
    blobs: Vec<Blob>,
}

impl PageStore for SpillStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        let key = PageKey::new(self.blobs.len() as u64);
        if value.len() < SPILL_MIN_BYTES {
            self.blobs.push(Blob::Held(value));
            return Ok(key);
        }
        let of = &self.file.of;
        let n = value.len() as u64;
        let mut spill = self.file.spill()?;
        let at = if spill.refused {
            Err(NoSpill::Io)
        } else {
            spill.append(of, &value)
        };
        self.blobs.push(match at {
            Ok(at) => {
                of.spilled.fetch_add(n, Ordering::Relaxed);
                Blob::Spilled(at, value.len())
            }
            Err(why) => {
                // A lake file that found no place keeps looking at its next page (others may
                // have finished); one the disk refused stops trying.
                let counter = match why {
                    NoSpill::Capped => &of.capped,
                    NoSpill::Io => {
                        spill.refused = true;
                        &of.refused
                    }
                };
                counter.fetch_add(n, Ordering::Relaxed);
                Blob::Held(value)
            }
        });
        Ok(key)
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        let missing = || ParquetError::General(format!("no page under key {}", key.get()));
        let blob = self.blobs.get_mut(key.get() as usize).ok_or_else(missing)?;
        let (at, len) = match blob {
            Blob::Held(b) => return Ok(std::mem::take(b)),
            &mut Blob::Spilled(at, len) => (at, len),
        };
        let mut buf = vec![0u8; len];
        let mut spill = self.file.spill()?;
        let file = spill.file.as_ref().ok_or_else(missing)?;
        file.read_exact_at(&mut buf, at).map_err(|e| {
            ParquetError::External(Box::new(std::io::Error::new(
                e.kind(),
                format!(
                    "reading back a page spilled in {}: {e}",
                    self.file.of.dir.display()
                ),
            )))
        })?;
        spill.live = spill.live.saturating_sub(1);
        // Every page is back (a row group closed): the file is emptied for the next.
        if spill.live == 0 && spill.file.as_ref().is_some_and(|f| f.set_len(0).is_ok()) {
            spill.end = 0;
        }
        *blob = Blob::Held(Bytes::new());
        Ok(Bytes::from(buf))
    }

    fn memory_size(&self) -> usize {
        self.blobs
            .iter()
            .map(|b| match b {
                Blob::Held(b) => b.len(),
                Blob::Spilled(..) => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of a new lake file of `pages`, and that file.
    fn store(pages: &SpillPages) -> (SpillStore, Arc<OneFile>) {
        let file = pages.one_file();
        let s = SpillStore {
            file: file.clone(),
            blobs: Vec::new(),
        };
        (s, file)
    }

    /// A second store of the same lake file.
    fn sibling(s: &SpillStore) -> SpillStore {
        SpillStore {
            file: s.file.clone(),
            blobs: Vec::new(),
        }
    }

    /// Blobs of `sizes`, each its own bytes.
    fn blobs(sizes: &[usize]) -> Vec<Bytes> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Bytes::from((0..n).map(|j| (i * 31 + j) as u8).collect::<Vec<u8>>()))
            .collect()
    }

    fn file_len(file: &OneFile) -> u64 {
        let s = file.spill.lock().expect("lock");
        s.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len())
    }

    /// Blobs below, at and above the spill size come back as they went in, in any order, and
    /// only those at or above it reach the file, which has no name and is emptied once every
    /// blob in it is back.
    #[test]
    fn blobs_come_back_as_stored_and_only_large_ones_spill() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let pages = SpillPages::new(dir.path());
        let (mut s, spill) = store(&pages);
        let blobs = blobs(&[
            0,
            17,
            SPILL_MIN_BYTES - 1,
            SPILL_MIN_BYTES,
            SPILL_MIN_BYTES + 1,
            300_000,
        ]);
        let keys = blobs
            .iter()
            .map(|b| s.put(b.clone()))
            .collect::<Result<Vec<_>>>()?;
        assert_eq!(
            s.memory_size(),
            17 + SPILL_MIN_BYTES - 1,
            "held: the short ones"
        );
        let spilled = (2 * SPILL_MIN_BYTES + 1 + 300_000) as u64;
        assert_eq!((pages.spilled(), pages.refused()), (spilled, 0));
        assert_eq!(file_len(&spill), spilled);
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            0,
            "the file has no name"
        );
        for i in [5, 0, 3, 2, 4] {
            assert_eq!(s.take(keys[i])?, blobs[i], "blob {i}");
        }
        assert_eq!(file_len(&spill), 0, "emptied once all are back");
        assert_eq!(s.take(keys[1])?, blobs[1]);
        assert_eq!(s.memory_size(), 0, "taken blobs are released");
        assert!(s.take(PageKey::new(6)).is_err(), "an unknown key");
        Ok(())
    }

    /// At most `max_files` temporary files are open at once: lake files below the cap and at
    /// it spill, the one past it keeps its pages on the heap (counted as capped, not as
    /// refused), and takes a place once a lake file finishes.
    #[test]
    fn temporary_files_are_capped_and_a_finished_lake_file_frees_its_place() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cap = 3;
        let pages = SpillPages::with_max_files(dir.path(), cap);
        let page = blobs(&[5_000]).remove(0);
        let mut open: Vec<(SpillStore, Arc<OneFile>)> = Vec::new();
        for i in 0..cap {
            let (mut s, f) = store(&pages);
            s.put(page.clone())?;
            assert_eq!(
                file_len(&f),
                5_000,
                "lake file {i} (cap - {}) spills",
                cap - 1 - i
            );
            open.push((s, f));
        }
        assert_eq!(pages.of.files.load(Ordering::Relaxed), cap);
        let (mut past, past_file) = store(&pages);
        let key = past.put(page.clone())?;
        assert_eq!(file_len(&past_file), 0, "cap + 1 has no file");
        assert_eq!(past.memory_size(), 5_000, "its page is on the heap");
        assert_eq!((pages.capped(), pages.refused()), (5_000, 0));
        assert_eq!(past.take(key)?, page);
        // A lake file finishes (its stores and itself dropped): its place is free.
        drop(open.pop());
        assert_eq!(pages.of.files.load(Ordering::Relaxed), cap - 1);
        past.put(page.clone())?;
        assert_eq!(file_len(&past_file), 5_000, "it spills now");
        assert_eq!(pages.of.files.load(Ordering::Relaxed), cap);
        drop((past, past_file));
        drop(open);
        assert_eq!(pages.of.files.load(Ordering::Relaxed), 0);
        Ok(())
    }

    /// The column chunks of one lake file share its file: it is emptied only when the last
    /// spilled page of any of them is back, and then serves the next row group from 0.
    #[test]
    fn one_file_per_lake_file_emptied_when_every_chunk_is_back() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let pages = SpillPages::new(dir.path());
        let (mut a, spill) = store(&pages);
        let mut b = sibling(&a);
        let bl = blobs(&[SPILL_MIN_BYTES, 5_000, 7_000, 2_000]);
        let ka = [a.put(bl[0].clone())?, a.put(bl[1].clone())?];
        let kb = [b.put(bl[2].clone())?, b.put(bl[3].clone())?];
        assert_eq!(file_len(&spill), 14_000 + SPILL_MIN_BYTES as u64);
        assert_eq!(a.take(ka[0])?, bl[0]);
        assert_eq!(a.take(ka[1])?, bl[1]);
        assert_ne!(file_len(&spill), 0, "b's pages are still in it");
        assert_eq!(b.take(kb[1])?, bl[3]);
        assert_eq!(b.take(kb[0])?, bl[2]);
        assert_eq!(file_len(&spill), 0);
        // The next row group's chunks write from the start again.
        let mut c = sibling(&a);
        let k = c.put(bl[1].clone())?;
        assert_eq!(file_len(&spill), 5_000);
        assert_eq!(c.take(k)?, bl[1]);
        Ok(())
    }

    /// Through parquet's own writer, row group after row group: the lake file's temporary
    /// file fills while a group is open, is emptied each time one closes, and the next group
    /// fills it again from the start (the same rows: the same length mid-group); the file is
    /// the file written with its pages on the heap, byte for byte.
    #[test]
    fn row_group_after_row_group_the_file_empties_and_fills_from_the_start() -> anyhow::Result<()> {
        use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
        use parquet::arrow::ArrowWriter;
        use parquet::arrow::arrow_writer::ArrowWriterOptions;
        use parquet::file::properties::WriterProperties;
        const GROUP: usize = 2_000;
        // 500-row pages of 8-byte values, plain and uncompressed (the writer's defaults with no
        // dictionary): 4 KB each, past SPILL_MIN_BYTES, whatever the values.
        let col: ArrayRef = Arc::new(UInt64Array::from_iter_values(0..GROUP as u64 / 2));
        let batch = RecordBatch::try_from_iter([("v", col)])?;
        let options = || {
            ArrowWriterOptions::new().with_properties(
                WriterProperties::builder()
                    .set_dictionary_enabled(false)
                    .set_data_page_row_count_limit(500)
                    .set_write_batch_size(250)
                    .set_max_row_group_row_count(Some(GROUP))
                    .build(),
            )
        };
        let dir = tempfile::tempdir()?;
        let pages = SpillPages::new(dir.path());
        let file = pages.one_file();
        let mut spilled = ArrowWriter::try_new_with_options(
            Vec::new(),
            batch.schema(),
            options().with_page_store_factory(Arc::new(FilePages(file.clone()))),
        )?;
        let mut heap = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options())?;
        let mut mid_group = Vec::new();
        for _ in 0..3 {
            spilled.write(&batch)?;
            mid_group.push(file_len(&file));
            spilled.write(&batch)?;
            assert_eq!(spilled.flushed_row_groups().len(), mid_group.len());
            assert_eq!(file_len(&file), 0, "emptied when the group closed");
            heap.write(&batch)?;
            heap.write(&batch)?;
        }
        assert!(mid_group[0] >= 4 * 1_000, "{mid_group:?}");
        assert_eq!(
            mid_group,
            vec![mid_group[0]; 3],
            "each group fills it from 0"
        );
        assert_eq!(pages.spilled(), 6 * mid_group[0]);
        assert_eq!(spilled.into_inner()?, heap.into_inner()?);
        Ok(())
    }

    /// Where no file can be made, or the file refuses a write (after taking one), the blobs
    /// stay on the heap, counted, for the rest of the lake file, and all come back: a full disk
    /// never fails the lake file.
    #[test]
    fn a_disk_that_refuses_keeps_the_pages_on_the_heap() -> anyhow::Result<()> {
        let bl = blobs(&[SPILL_MIN_BYTES, 50, SPILL_MIN_BYTES * 3]);
        let big = (SPILL_MIN_BYTES * 4) as u64;
        // No directory to make the file in.
        let pages = SpillPages::new("/nonexistent/sentientiq-pages");
        let (mut s, _) = store(&pages);
        let keys = bl
            .iter()
            .map(|b| s.put(b.clone()))
            .collect::<Result<Vec<_>>>()?;
        assert_eq!((pages.spilled(), pages.refused()), (0, big));
        assert_eq!(s.memory_size() as u64, big + 50);
        for (k, b) in keys.iter().zip(&bl) {
            assert_eq!(&s.take(*k)?, b);
        }
        // A file that took one page, then refuses (swapped for one opened read-only).
        let dir = tempfile::tempdir()?;
        let pages = SpillPages::new(dir.path());
        let (mut s, spill) = store(&pages);
        let first = s.put(bl[0].clone())?;
        let mut ro = tempfile::NamedTempFile::new_in(dir.path())?;
        std::io::Write::write_all(&mut ro, &bl[0])?;
        spill.spill.lock().expect("lock").file = Some(File::open(ro.path())?);
        let keys = [s.put(bl[1].clone())?, s.put(bl[2].clone())?];
        let mut sib = sibling(&s);
        let k = sib.put(bl[0].clone())?;
        let n = SPILL_MIN_BYTES as u64;
        assert_eq!((pages.spilled(), pages.refused()), (n, 3 * n + n));
        assert_eq!(s.take(first)?, bl[0], "read back from the file");
        assert_eq!(s.take(keys[0])?, bl[1]);
        assert_eq!(s.take(keys[1])?, bl[2]);
        assert_eq!(sib.take(k)?, bl[0], "the sibling's, on the heap");
        Ok(())
    }
}
