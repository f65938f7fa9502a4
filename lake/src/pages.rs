//! Where a file's open row group keeps its finished pages: in a temporary file instead of the
//! heap.
//!
//! Parquet stores each column of a row group contiguously, while rows arrive with every column
//! at once, so the writer holds every finished page of the open row group until the group
//! closes. On the heap that is the whole compressed row group: 5.4 MB in the shipper's replay
//! (heaptrack, `bench/runs/2026-12-05-vm/README.md`, "Twenty-eighth session"). parquet's
//! [`PageStore`] lets the pages live elsewhere; here each column chunk's pages go to an
//! unnamed temporary file in a directory of the caller's (the edge's data directory), which the
//! kernel removes when the chunk is spliced into the file and the store dropped, or the process
//! ends. Its bytes stay in the page cache, which is not the process's memory, and are usually
//! read back before they ever reach the disk.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Makes one [`SpillStore`] per column chunk, each with its temporary file in `dir`. Its
/// clones share the counts of bytes spilled and of bytes kept on the heap because the disk
/// refused them.
#[derive(Debug, Clone)]
pub struct SpillPages {
    dir: PathBuf,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    spilled: AtomicU64,
    refused: AtomicU64,
}

impl SpillPages {
    pub fn new(dir: impl Into<PathBuf>) -> SpillPages {
        SpillPages {
            dir: dir.into(),
            counts: Arc::default(),
        }
    }

    /// Bytes its stores have written to their files so far.
    pub fn spilled(&self) -> u64 {
        self.counts.spilled.load(Ordering::Relaxed)
    }

    /// Bytes its stores kept on the heap because their file could not be made or written
    /// (a full disk): the file is written all the same.
    pub fn refused(&self) -> u64 {
        self.counts.refused.load(Ordering::Relaxed)
    }
}

impl PageStoreFactory for SpillPages {
    fn create(&self, _args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        Ok(Box::new(SpillStore {
            dir: self.dir.clone(),
            counts: self.counts.clone(),
            file: None,
            refused: false,
            end: 0,
            blobs: Vec::new(),
        }))
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

/// One column chunk's pages: small blobs on the heap, the rest appended to a temporary file
/// made at the first of them. Should the file not be made or written (the data directory's disk
/// full: the spool's, which the shipper must still be able to free by shipping), the store keeps
/// that blob and every later one on the heap, as parquet would, and counts them.
#[derive(Debug)]
pub struct SpillStore {
    dir: PathBuf,
    counts: Arc<Counts>,
    file: Option<File>,
    /// The disk refused a blob: the rest stay on the heap.
    refused: bool,
    end: u64,
    blobs: Vec<Blob>,
}

impl SpillStore {
    /// Appends `value` to the file (made at the first call); its offset.
    fn spill(&mut self, value: &[u8]) -> std::io::Result<u64> {
        let file = match &mut self.file {
            Some(f) => f,
            slot => slot.insert(tempfile::tempfile_in(&self.dir)?),
        };
        let at = self.end;
        file.write_all_at(value, at)?;
        self.end += value.len() as u64;
        Ok(at)
    }
}

impl PageStore for SpillStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        let key = PageKey::new(self.blobs.len() as u64);
        if value.len() < SPILL_MIN_BYTES || self.refused {
            if value.len() >= SPILL_MIN_BYTES {
                let n = value.len() as u64;
                self.counts.refused.fetch_add(n, Ordering::Relaxed);
            }
            self.blobs.push(Blob::Held(value));
            return Ok(key);
        }
        match self.spill(&value) {
            Ok(at) => {
                let n = value.len() as u64;
                self.counts.spilled.fetch_add(n, Ordering::Relaxed);
                self.blobs.push(Blob::Spilled(at, value.len()));
            }
            Err(_) => {
                self.refused = true;
                let n = value.len() as u64;
                self.counts.refused.fetch_add(n, Ordering::Relaxed);
                self.blobs.push(Blob::Held(value));
            }
        }
        Ok(key)
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        let missing = || ParquetError::General(format!("no page under key {}", key.get()));
        let blob = self.blobs.get_mut(key.get() as usize).ok_or_else(missing)?;
        match blob {
            Blob::Held(b) => Ok(std::mem::take(b)),
            &mut Blob::Spilled(at, len) => {
                let mut buf = vec![0u8; len];
                let file = self.file.as_ref().ok_or_else(missing)?;
                file.read_exact_at(&mut buf, at).map_err(|e| {
                    ParquetError::External(Box::new(std::io::Error::new(
                        e.kind(),
                        format!("reading back a page spilled in {}: {e}", self.dir.display()),
                    )))
                })?;
                Ok(Bytes::from(buf))
            }
        }
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

    fn store(dir: &std::path::Path, pages: &SpillPages) -> SpillStore {
        SpillStore {
            dir: dir.to_path_buf(),
            counts: pages.counts.clone(),
            file: None,
            refused: false,
            end: 0,
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

    /// Blobs below, at and above the spill size come back as they went in, in any order, and
    /// only those at or above it reach the file.
    #[test]
    fn blobs_come_back_as_stored_and_only_large_ones_spill() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let pages = SpillPages::new(dir.path());
        let mut s = store(dir.path(), &pages);
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
        assert_eq!(
            (s.end, pages.spilled(), pages.refused()),
            (spilled, spilled, 0)
        );
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            0,
            "the file has no name"
        );
        for i in [5, 0, 3, 2, 4, 1] {
            assert_eq!(s.take(keys[i])?, blobs[i], "blob {i}");
        }
        assert_eq!(s.memory_size(), 0, "taken blobs are released");
        assert!(s.take(PageKey::new(6)).is_err(), "an unknown key");
        Ok(())
    }

    /// Where no file can be made, or the file refuses a write, the blobs stay on the heap,
    /// counted, and come back all the same: a full disk never fails the lake file.
    #[test]
    fn a_disk_that_refuses_keeps_the_pages_on_the_heap() -> anyhow::Result<()> {
        let blobs = blobs(&[SPILL_MIN_BYTES, 50, SPILL_MIN_BYTES * 3]);
        let big = (SPILL_MIN_BYTES * 4) as u64;
        // No directory to make the file in.
        let pages = SpillPages::new("/nonexistent/sentientiq-pages");
        let mut s = store(
            std::path::Path::new("/nonexistent/sentientiq-pages"),
            &pages,
        );
        // A file that refuses writes (opened read-only).
        let dir = tempfile::tempdir()?;
        let ro = SpillPages::new(dir.path());
        let mut r = store(dir.path(), &ro);
        r.file = Some(File::open("/dev/null")?);
        for (s, pages) in [(&mut s, &pages), (&mut r, &ro)] {
            let keys = blobs
                .iter()
                .map(|b| s.put(b.clone()))
                .collect::<Result<Vec<_>>>()?;
            assert_eq!((pages.spilled(), pages.refused()), (0, big));
            assert_eq!(s.memory_size() as u64, big + 50);
            for (k, b) in keys.iter().zip(&blobs) {
                assert_eq!(&s.take(*k)?, b);
            }
        }
        Ok(())
    }
}
