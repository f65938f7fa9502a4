//! Compaction in an S3 lake (feature `s3`): the window's objects are downloaded, one at a
//! time, into a scratch directory and read from there (Parquet readers seek; a local file
//! reads only the columns needed), and removed once the window moves past them. The compacted
//! file is stored with one unconditional PUT ([`S3Sink::put_replacing`]), since a compacted
//! file is replaced when its inputs changed; originals are only read.

use std::path::PathBuf;

use super::{CompactError, Lake};
use crate::s3::S3Sink;

/// An S3 bucket (the edge's S3 sink's options) seen as a lake to compact in.
#[derive(Debug)]
pub struct S3Lake {
    sink: S3Sink,
    scratch: PathBuf,
}

impl S3Lake {
    /// `scratch` holds the downloads (at most one window of one tenant's `events` plus one
    /// hour's derived files); it is created if missing.
    pub fn new(sink: S3Sink, scratch: impl Into<PathBuf>) -> S3Lake {
        S3Lake {
            sink,
            scratch: scratch.into(),
        }
    }

    fn local(&self, key: &str) -> Result<PathBuf, CompactError> {
        crate::check_key(key)?;
        Ok(self.scratch.join(key))
    }
}

impl Lake for S3Lake {
    fn list(&self, prefix: &str) -> Result<Vec<String>, CompactError> {
        let mut keys = self.sink.list_keys(prefix)?;
        keys.retain(|k| k.ends_with(".parquet") && crate::check_key(k).is_ok());
        Ok(keys)
    }

    fn open(&self, key: &str) -> Result<PathBuf, CompactError> {
        let path = self.local(key)?;
        let io = |source| CompactError::Io {
            path: path.clone(),
            source,
        };
        let Some(bytes) = self.sink.get_bytes(key)? else {
            return Err(CompactError::Invalid(format!(
                "{key}: listed, then gone (lake files are never deleted by the edge)"
            )));
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&path, &bytes).map_err(io)?;
        Ok(path)
    }

    fn release(&self, key: &str) {
        if let Ok(path) = self.local(key) {
            let _ = std::fs::remove_file(path);
        }
    }

    fn holds(&self, key: &str, bytes: &[u8]) -> Result<Option<bool>, CompactError> {
        Ok(self.sink.get_bytes(key)?.map(|old| old == bytes))
    }

    fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), CompactError> {
        Ok(self.sink.put_replacing(key, bytes)?)
    }
}
