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

/// A path to open as a directory: a relative path's last ancestor (the empty path) is the
/// working directory.
fn as_dir(d: &Path) -> &Path {
    if d.as_os_str().is_empty() {
        Path::new(".")
    } else {
        d
    }
}

/// fsyncs directory `d` (the empty path: the working directory).
fn fsync_dir(d: &Path) -> std::io::Result<()> {
    std::fs::File::open(as_dir(d))?.sync_all()
}

/// Makes the entries from `dir` up to `root` durable: fsyncs `dir` and each directory above it,
/// up to and including `root` (`root` itself when `dir` is `root`). `dir` is `root` joined with
/// a relative path (as every caller builds it); anything else is an error, and nothing is
/// synced. Returns how many directories it synced.
///
/// Syncing a file does not make the entry naming it durable; that takes an fsync of its
/// directory (`fsync(2)`), and a directory made by `create_dir_all` is itself an entry in its
/// parent. The whole chain is synced, not only what the caller just made: a directory left by
/// a process that stopped before its syncs exists but may not be on the disk. `root`'s own
/// entry is [`make_dir`]'s to make durable.
pub fn sync_up(root: &Path, dir: &Path) -> std::io::Result<usize> {
    let below = dir.strip_prefix(root).map_err(|_| {
        std::io::Error::other(format!("{} is not under {}", dir.display(), root.display()))
    })?;
    let mut synced = 0;
    for d in dir.ancestors().take(below.components().count() + 1) {
        fsync_dir(d)?;
        synced += 1;
    }
    Ok(synced)
}

/// Creates `dir` and whatever is missing above it, and makes every entry it creates durable: it
/// fsyncs from `dir` up to the nearest directory that was already there (which holds the first
/// new entry). When `dir` is already there nothing is synced. Returns the directories synced,
/// nearest first.
pub fn make_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let Some(existing) = dir.ancestors().find(|d| as_dir(d).is_dir()) else {
        return Err(std::io::Error::other(format!(
            "{}: no directory above it",
            dir.display()
        )));
    };
    if existing == dir {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir)?;
    let mut synced = Vec::new();
    for d in dir.ancestors() {
        fsync_dir(d)?;
        synced.push(as_dir(d).to_path_buf());
        if d == existing {
            break;
        }
    }
    Ok(synced)
}

/// A local directory (the embedded default): write to a temporary file, fsync, rename into
/// place, fsync the directory and each one above it up to the root ([`sync_up`]: the date and
/// hour partitions are new directories). A root that is not there yet is made with
/// [`make_dir`], its own entry durable. A reader never sees a partial file.
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
        make_dir(&self.root).map_err(io)?;
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
        sync_up(&self.root, &dir).map_err(io)?;
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
    fn make_dir_syncs_what_it_made_up_to_the_directory_that_was_there() {
        let d = tempfile::tempdir().expect("tempdir");
        let top = d.path().to_path_buf();
        let leaf = top.join("a/b/c");
        assert_eq!(
            make_dir(&leaf).expect("make"),
            vec![leaf.clone(), top.join("a/b"), top.join("a"), top.clone()],
            "c, b and a are new; their entries are in b, a and the directory that was there"
        );
        assert!(leaf.is_dir());
        assert_eq!(make_dir(&leaf).expect("again"), Vec::<PathBuf>::new());
        assert_eq!(
            make_dir(&top.join("a/d")).expect("one more"),
            vec![top.join("a/d"), top.join("a")]
        );
        // A file in the way is an error, not a directory.
        std::fs::write(top.join("f"), b"x").expect("file");
        assert!(make_dir(&top.join("f/g")).is_err());
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
        // A sink whose root does not exist yet makes it on its first put.
        let fresh = LocalSink::new(d.path().join("new/lake"));
        fresh.put("events/x.parquet", b"x").expect("put");
        assert_eq!(
            std::fs::read(d.path().join("new/lake/events/x.parquet")).expect("read"),
            b"x"
        );
    }
}
