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
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), SinkError> {
        put_staged(self.stage(key)?, key, bytes)
    }

    /// Starts the file `key`, to be written in pieces as it is encoded ([`Staged`]): the sink
    /// holds a bounded part of it in memory (none for a local file, at most
    /// `multipart_threshold_bytes` for S3), whatever the file's size.
    fn stage(&self, key: &str) -> Result<Box<dyn Staged>, SinkError>;
}

/// Writes all of `bytes` to the staged file `f` of `key` and commits it.
pub fn put_staged(mut f: Box<dyn Staged>, key: &str, bytes: &[u8]) -> Result<(), SinkError> {
    f.write_all(bytes).map_err(|e| into_sink_error(key, e))?;
    f.commit().map(|_| ())
}

/// The file `key` of `sink`, staged only when its first byte is written. A Parquet writer
/// emits nothing until a row group closes or the file ends, so a file being filled holds no
/// descriptor, temporary file or upload until then: a segment with rows of many tenants and
/// hours has at most the files that passed a row group staged at once, not one per partition.
pub struct StageOnWrite<'a> {
    sink: &'a dyn Sink,
    key: String,
    file: Option<Box<dyn Staged>>,
}

impl std::fmt::Debug for StageOnWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageOnWrite")
            .field("key", &self.key)
            .field("staged", &self.file.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> StageOnWrite<'a> {
    pub fn new(sink: &'a dyn Sink, key: String) -> StageOnWrite<'a> {
        StageOnWrite {
            sink,
            key,
            file: None,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Stores the file ([`Staged::commit`]); one nothing was written to is stored empty.
    pub fn commit(self) -> Result<u64, SinkError> {
        match self.file {
            Some(f) => f.commit(),
            None => self.sink.stage(&self.key)?.commit(),
        }
    }
}

impl Write for StageOnWrite<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let f = match self.file.take() {
            Some(f) => f,
            None => self.sink.stage(&self.key).map_err(std::io::Error::other)?,
        };
        self.file.insert(f).write(b)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

/// A lake file being written to its sink. Its bytes go out as they are written; the object
/// appears under its key only at [`Staged::commit`], whole and durable, as with
/// [`Sink::put`]. Dropped before that, it leaves nothing a reader sees (a local temporary file
/// is removed, an S3 multipart upload aborted).
///
/// A write fails with an [`std::io::Error`] that carries the [`SinkError`] (see
/// [`into_sink_error`]).
pub trait Staged: Write + Send {
    /// Stores the file under its key and returns its length in bytes. Storing a key again is
    /// not an error.
    fn commit(self: Box<Self>) -> Result<u64, SinkError>;
}

/// The [`SinkError`] a [`Staged`] write failed with (anything else as [`SinkError::Io`] of
/// `key`).
pub fn into_sink_error(key: &str, e: std::io::Error) -> SinkError {
    if !e.get_ref().is_some_and(|i| i.is::<SinkError>()) {
        return SinkError::Io {
            key: key.into(),
            source: e,
        };
    }
    match e.into_inner().map(|i| i.downcast::<SinkError>()) {
        Some(Ok(s)) => *s,
        // Not reached: the error was checked to carry a SinkError.
        _ => SinkError::Remote(format!("{key}: a write failed")),
    }
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
    fn stage(&self, key: &str) -> Result<Box<dyn Staged>, SinkError> {
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
        let file = std::fs::File::create(&tmp).map_err(io)?;
        Ok(Box::new(LocalStaged {
            key: key.into(),
            root: self.root.clone(),
            dir,
            tmp,
            path,
            file,
            len: 0,
            renamed: false,
        }))
    }
}

/// A [`LocalSink`] file being written: a temporary file beside its final name (`.NAME.tmp`,
/// which no `*.parquet` glob matches), renamed into place at commit. The bytes go to the file
/// as they come; the page cache holds them, not the process.
#[derive(Debug)]
struct LocalStaged {
    key: String,
    root: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    len: u64,
    /// Set once the temporary file is renamed into place; until then dropping removes it.
    renamed: bool,
}

impl LocalStaged {
    fn io(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            key: self.key.clone(),
            source,
        }
    }
}

impl Write for LocalStaged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.file.write(buf) {
            Ok(n) => {
                self.len += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(std::io::Error::other(self.io(e))),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Staged for LocalStaged {
    fn commit(mut self: Box<Self>) -> Result<u64, SinkError> {
        // A failure before the rename leaves the temporary file to `Drop`, which removes it.
        self.file.sync_data().map_err(|e| self.io(e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| self.io(e))?;
        self.renamed = true;
        sync_up(&self.root, &self.dir).map_err(|e| self.io(e))?;
        Ok(self.len)
    }
}

impl Drop for LocalStaged {
    /// A file not renamed into place is removed: a failed or abandoned write leaves nothing
    /// behind.
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.tmp);
        }
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
    fn a_staged_file_appears_whole_at_commit_and_a_dropped_one_leaves_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = LocalSink::new(d.path().join("lake"));
        let dir = d.path().join("lake/events/tenant=a");
        let key = "events/tenant=a/x.parquet";
        let mut f = s.stage(key).expect("stage");
        f.write_all(b"one ").expect("write");
        f.write_all(b"two").expect("write");
        assert!(!dir.join("x.parquet").exists(), "nothing under the key yet");
        assert_eq!(f.commit().expect("commit"), 7);
        assert_eq!(
            std::fs::read(dir.join("x.parquet")).expect("read"),
            b"one two"
        );
        // A staged file dropped before its commit (a failed shipment) is removed; what was
        // stored under its key before stays.
        let mut again = s.stage(key).expect("stage again");
        again.write_all(b"partial").expect("write");
        drop(again);
        let mut other = s.stage("events/tenant=a/y.parquet").expect("stage");
        other.write_all(b"partial").expect("write");
        drop(other);
        assert_eq!(
            std::fs::read(dir.join("x.parquet")).expect("read"),
            b"one two"
        );
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["x.parquet".to_string()]);
        assert!(matches!(s.stage("a/../b"), Err(SinkError::BadKey { .. })));
    }

    /// A commit that cannot rename the file into place (here a directory holds the name) is
    /// an error of the key, and the temporary file goes.
    #[test]
    fn a_commit_that_fails_leaves_no_temporary_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = LocalSink::new(d.path());
        std::fs::create_dir_all(d.path().join("events/x.parquet/in-the-way")).expect("dir");
        let mut f = s.stage("events/x.parquet").expect("stage");
        f.write_all(b"rows").expect("write");
        assert!(matches!(
            f.commit(),
            Err(SinkError::Io { key, .. }) if key == "events/x.parquet"
        ));
        let names: Vec<String> = std::fs::read_dir(d.path().join("events"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["x.parquet".to_string()],
            "only the directory in the way"
        );
    }

    #[test]
    fn a_staged_write_error_comes_back_as_the_sinks_error() {
        let carried = std::io::Error::other(SinkError::Remote("k: UploadPart: refused".into()));
        assert!(matches!(
            into_sink_error("k", carried),
            SinkError::Remote(m) if m == "k: UploadPart: refused"
        ));
        let plain = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(matches!(
            into_sink_error("k", plain),
            SinkError::Io { key, source } if key == "k" && source.kind() == std::io::ErrorKind::StorageFull
        ));
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
