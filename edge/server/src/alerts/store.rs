//! Alert state in RocksDB (`data_dir/alerts`), durable before any message leaves: the runner
//! persists a chain before it sends (the WAL is synced on every write), and a restart restores
//! every chain that had not finished.
//!
//! Keys (UTF-8): `c/{alert}` → the chain as JSON (`sentientiq_alerts::Chain`, no secrets in it);
//! `s/{alert}` → u64 LE ms: an escalation id already taken (a finished alert, or a repeat
//! folded into an open one), so one recovered from the spool after a crash is not paged again.
//! Seen ids are kept [`SEEN_KEEP_MS`]. Unknown keys are left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rocksdb::{DB, IteratorMode, WriteBatch, WriteOptions};
use sentientiq_alerts::shell::{Store, StoreError};
use sentientiq_alerts::{AlertId, Chain};

/// A week: longer than any spool is kept unshipped, so a recovered escalation always finds its
/// mark.
pub const SEEN_KEEP_MS: u64 = 7 * 24 * 3_600_000;

/// Every alert this edge holds, as last stored: what the link page and the plane see.
#[derive(Debug, Default)]
pub struct Views {
    inner: Mutex<ViewsInner>,
}

#[derive(Debug, Default)]
struct ViewsInner {
    chains: BTreeMap<AlertId, Arc<Chain>>,
    /// Changed since the plane last acknowledged them.
    dirty: BTreeSet<AlertId>,
}

impl Views {
    fn lock(&self) -> std::sync::MutexGuard<'_, ViewsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &AlertId) -> Option<Arc<Chain>> {
        self.lock().chains.get(id).cloned()
    }

    pub fn put(&self, c: &Chain) {
        let mut g = self.lock();
        g.dirty.insert(c.id.clone());
        g.chains.insert(c.id.clone(), Arc::new(c.clone()));
    }

    /// Finished alerts stay visible (the link page of a closed alert still shows it) until
    /// the plane has them, then leave memory.
    pub fn finished(&self, id: &AlertId) {
        self.lock().dirty.insert(id.clone());
    }

    /// Up to `max` changed alerts, oldest id first.
    pub fn dirty(&self, max: usize) -> Vec<Arc<Chain>> {
        let g = self.lock();
        g.dirty
            .iter()
            .filter_map(|id| g.chains.get(id).cloned())
            .take(max)
            .collect()
    }

    /// The plane has these versions: clean unless changed since; finished ones leave memory.
    pub fn reported(&self, sent: &[Arc<Chain>]) {
        let mut g = self.lock();
        for c in sent {
            let same = g.chains.get(&c.id).is_some_and(|now| Arc::ptr_eq(now, c));
            if same {
                g.dirty.remove(&c.id);
                if c.is_finished() {
                    g.chains.remove(&c.id);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().chains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Open alerts (not closed), for metrics.
    pub fn open(&self) -> usize {
        self.lock().chains.values().filter(|c| c.is_open()).count()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("alert store: {0}")]
pub struct Error(String);

/// The RocksDB store; clones share the database.
#[derive(Clone)]
pub struct RocksStore {
    db: Arc<DB>,
    views: Arc<Views>,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore").finish_non_exhaustive()
    }
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl RocksStore {
    pub fn open(path: &Path, views: Arc<Views>) -> Result<Self, Error> {
        let mut o = crate::storage::rocksdb_options();
        // A small database: a few KB per alert.
        o.set_max_background_jobs(1);
        o.set_keep_log_file_num(2);
        let db = DB::open(&o, path).map_err(|e| Error(e.to_string()))?;
        Ok(Self {
            db: Arc::new(db),
            views,
        })
    }

    /// The chains stored and not finished (what a restart restores). A chain that does not
    /// decode is skipped and counted (its key is kept for a person to look at).
    pub fn load(&self) -> Result<(Vec<Chain>, usize), Error> {
        let mut out = Vec::new();
        let mut bad = 0;
        for kv in self.db.prefix_iterator(b"c/") {
            let (k, v) = kv.map_err(|e| Error(e.to_string()))?;
            if !k.starts_with(b"c/") {
                break;
            }
            match serde_json::from_slice::<Chain>(&v) {
                Ok(c) => out.push(c),
                Err(e) => {
                    bad += 1;
                    tracing::error!(key = %String::from_utf8_lossy(&k), error = %e, "stored alert does not decode; left as is");
                }
            }
        }
        Ok((out, bad))
    }

    /// Whether this escalation id was already taken (an alert stored or finished under it, or
    /// a repeat folded).
    pub fn known(&self, id: &AlertId) -> bool {
        let c = format!("c/{id}");
        let s = format!("s/{id}");
        matches!(self.db.get_pinned(c.as_bytes()), Ok(Some(_)))
            || matches!(self.db.get_pinned(s.as_bytes()), Ok(Some(_)))
    }

    /// Marks an escalation id taken (a repeat folded into an open alert).
    pub fn seen(&self, id: &AlertId, now_ms: u64) -> Result<(), Error> {
        self.db
            .put_opt(
                format!("s/{id}").as_bytes(),
                now_ms.to_le_bytes(),
                &synced(),
            )
            .map_err(|e| Error(e.to_string()))
    }

    /// Forgets seen marks older than [`SEEN_KEEP_MS`]; returns how many.
    pub fn prune(&self, now_ms: u64) -> Result<usize, Error> {
        let mut batch = WriteBatch::default();
        let mut n = 0;
        for kv in self
            .db
            .iterator(IteratorMode::From(b"s/", rocksdb::Direction::Forward))
        {
            let (k, v) = kv.map_err(|e| Error(e.to_string()))?;
            if !k.starts_with(b"s/") {
                break;
            }
            let at = <[u8; 8]>::try_from(&v[..]).map_or(0, u64::from_le_bytes);
            if at.saturating_add(SEEN_KEEP_MS) < now_ms {
                batch.delete(&k);
                n += 1;
            }
        }
        self.db.write(batch).map_err(|e| Error(e.to_string()))?;
        Ok(n)
    }
}

impl Store for RocksStore {
    fn persist(&mut self, chain: &Chain) -> Result<(), StoreError> {
        let json = serde_json::to_vec(chain).map_err(|e| StoreError(e.to_string()))?;
        self.db
            .put_opt(format!("c/{}", chain.id).as_bytes(), json, &synced())
            .map_err(|e| StoreError(e.to_string()))?;
        self.views.put(chain);
        Ok(())
    }

    fn finished(&mut self, alert: &AlertId) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        b.delete(format!("c/{alert}").as_bytes());
        b.put(
            format!("s/{alert}").as_bytes(),
            crate::clock::now_ms().to_le_bytes(),
        );
        self.db
            .write_opt(b, &synced())
            .map_err(|e| StoreError(e.to_string()))?;
        self.views.finished(alert);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The alerts store keeps at most `ROCKSDB_MAX_OPEN_FILES` tables open, as RocksDB records
    /// it (RocksDB's own default, -1, keeps every one).
    #[test]
    fn the_alerts_store_caps_its_open_tables() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let _a = super::RocksStore::open(dir.path(), Default::default())?;
        assert_eq!(
            sentientiq_testkit::rocks::option(dir.path(), "max_open_files"),
            Some(crate::storage::ROCKSDB_MAX_OPEN_FILES.to_string())
        );
        Ok(())
    }

    /// Its write buffer is `ROCKSDB_WRITE_BUFFER_BYTES`, and the WAL's reservation at its first
    /// write follows it (`crate::storage::ROCKSDB_WRITE_BUFFER_BYTES` says why).
    #[test]
    fn the_alerts_stores_wal_reserves_little_disk() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let a = super::RocksStore::open(dir.path(), Default::default())?;
        a.seen(&sentientiq_alerts::AlertId::new("al_1")?, 1)?;
        sentientiq_testkit::rocks::assert_wal_bounded(
            dir.path(),
            1,
            crate::storage::ROCKSDB_WRITE_BUFFER_BYTES,
            crate::storage::ROCKSDB_MAX_TOTAL_WAL_BYTES,
        );
        Ok(())
    }
}
