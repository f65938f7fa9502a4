//! Where lake files go. A sink's `put` is idempotent per key (keys are deterministic, and a
//! repeated upload of a key is the same file), and returns only once the object is durable.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{key}: {source}")]
    Io { key: String, source: std::io::Error },
    #[error("{key}: not a relative key under the sink's root")]
    BadKey { key: String },
    #[error("{0}")]
    Remote(String),
    /// A conditional write found the key already complete (handled inside the sinks).
    #[error("already stored")]
    AlreadyStored,
}

/// Keys are relative, `/`-separated, with no empty, `.` or `..` component.
pub fn check_key(key: &str) -> Result<(), SinkError> {
    if key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(SinkError::BadKey { key: key.into() });
    }
    Ok(())
}

/// A destination for lake files.
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `key`; returns once durable. Storing a key again is not an error.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), SinkError>;
}

/// Makes the entries from `dir` up to `root` durable: fsyncs `dir` and each directory above it,
/// up to and including `root` (`root` itself when `dir` is `root`). Returns how many it synced.
///
/// Syncing a file does not make the entry naming it durable; that takes an fsync of its
/// directory (`fsync(2)`), and a directory made by `create_dir_all` is itself an entry in its
/// parent. The whole chain is synced, not only what the caller just made: a directory left by
/// a process that stopped before its syncs exists but may not be on the disk. A `dir` outside
/// `root` is an error, and nothing is synced.
pub fn sync_up(root: &Path, dir: &Path) -> std::io::Result<usize> {
    let below = dir.strip_prefix(root).map_err(|_| {
        std::io::Error::other(format!("{} is not under {}", dir.display(), root.display()))
    })?;
    let levels = below.components().count() + 1;
    for d in dir.ancestors().take(levels) {
        // A relative path's last ancestor is the empty path: the working directory.
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        std::fs::File::open(d)?.sync_all()?;
    }
    Ok(levels)
}

/// A local directory (the embedded default): write to a temporary file, fsync, rename into
/// place, fsync the directory and each one above it up to the root's parent ([`sync_up`]: the
/// date and hour partitions, and the root itself on the first put, are new directories). A
/// reader never sees a partial file.
#[derive(Debug, Clone)]
pub struct LocalSink {
    root: PathBuf,
}

impl LocalSink {
    pub fn new(root: impl Into<PathBuf>) -> LocalSink {
        LocalSink { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Sink for LocalSink {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), SinkError> {
        check_key(key)?;
        let io = |source| SinkError::Io {
            key: key.into(),
            source,
        };
        let path = self.root.join(key);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io)?;
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("part")
        ));
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_data().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io)?;
        let top = self.root.parent().unwrap_or(&self.root);
        sync_up(top, &dir).map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_puts_are_atomic_idempotent_and_confined() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = LocalSink::new(d.path());
        s.put("events/tenant=a/x.parquet", b"one").expect("put");
        s.put("events/tenant=a/x.parquet", b"one").expect("again");
        assert_eq!(
            std::fs::read(d.path().join("events/tenant=a/x.parquet")).expect("read"),
            b"one"
        );
        for bad in ["", "/abs", "a/../b", "a//b", "./a"] {
            assert!(
                matches!(s.put(bad, b"x"), Err(SinkError::BadKey { .. })),
                "{bad}"
            );
        }
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(d.path().join("events/tenant=a"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn sync_up_syncs_from_the_directory_to_the_root_and_nothing_outside_it() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("lake");
        let leaf = root.join("events/tenant=a/date=2026-12-03/hour=17");
        std::fs::create_dir_all(&leaf).expect("mkdir");
        assert_eq!(
            sync_up(&root, &leaf).expect("sync"),
            5,
            "hour, date, tenant, events, lake"
        );
        assert_eq!(sync_up(&root, &root).expect("sync"), 1);
        assert!(
            sync_up(&leaf, &root).is_err(),
            "the root is above the directory"
        );
        assert!(sync_up(&root, &d.path().join("other")).is_err());
        // A directory that is not there cannot be made durable: an error, not a silent success.
        assert!(sync_up(&root, &root.join("events/gone")).is_err());
        // A sink whose root does not exist yet makes it on its first put, and syncs up to the
        // root's parent (which holds the root's new entry).
        let fresh = LocalSink::new(d.path().join("new/lake"));
        fresh.put("events/x.parquet", b"x").expect("put");
        assert_eq!(
            std::fs::read(d.path().join("new/lake/events/x.parquet")).expect("read"),
            b"x"
        );
    }
}
