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

/// A local directory (the embedded default): write to a temporary file, fsync, rename into
/// place, fsync the directory. A reader never sees a partial file.
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
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
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
}
