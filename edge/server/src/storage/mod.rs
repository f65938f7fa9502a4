//! What the edge keeps on its own disks: the spool (the durable log every ack waits for) and
//! the identity store (RocksDB: users, sessions, accounts, shipped floors, GDPR deletions).

pub mod identity;
pub mod spool;

/// The most table files each of the edge's RocksDB stores (identities, alerts) keeps open.
/// RocksDB's default (−1) keeps every table open, so a store that grows would take descriptors
/// from connections; a table evicted from this cache is reopened on a miss. Both count in the
/// descriptors the edge keeps for itself (`node::FDS_RESERVED`). 128 tables of the 64 MiB
/// RocksDB writes by default are 8 GiB of identities.
pub const ROCKSDB_MAX_OPEN_FILES: i32 = 128;

/// The write buffer (memtable) of every column family of the edge's RocksDB stores (identity,
/// alerts), and so what their write-ahead logs preallocate: RocksDB reserves a WAL's space
/// (`fallocate`, keeping its size) at 1.1 times the largest write buffer of the database, 70 MiB
/// at RocksDB's default of 64 MiB. On ext4 a reservation that runs out of room keeps what it
/// got: on a data disk with less free than that, the alerts store's WAL took every free block
/// at its first write and the spool could store nothing (found by the fault matrix's full-disk
/// row on ext4, 2026-12-07; on tmpfs a failed reservation is undone). 8 MiB is what the
/// identity store already asked for its default column family ("keep memory modest"); its
/// other column families had RocksDB's default.
pub const ROCKSDB_WRITE_BUFFER_BYTES: usize = 8 << 20;

/// The write-ahead log those stores keep at most, all files together: past it RocksDB flushes
/// the column families that hold the oldest log back, so it can go. Four write buffers' worth.
/// Without it RocksDB allows four times the sum of every family's write buffers (384 MiB for
/// the identity store's six), which a family written rarely (accounts, forgotten users) could
/// keep alive. It also caps a log's reservation.
pub const ROCKSDB_MAX_TOTAL_WAL_BYTES: u64 = 4 * ROCKSDB_WRITE_BUFFER_BYTES as u64;

/// What every RocksDB store of the edge opens with, before its own settings: created if
/// missing, [`ROCKSDB_MAX_OPEN_FILES`], [`ROCKSDB_WRITE_BUFFER_BYTES`] for its default column
/// family and [`ROCKSDB_MAX_TOTAL_WAL_BYTES`].
pub fn rocksdb_options() -> rocksdb::Options {
    let mut o = rocksdb::Options::default();
    o.create_if_missing(true);
    o.set_max_open_files(ROCKSDB_MAX_OPEN_FILES);
    o.set_write_buffer_size(ROCKSDB_WRITE_BUFFER_BYTES);
    o.set_max_total_wal_size(ROCKSDB_MAX_TOTAL_WAL_BYTES);
    o
}

/// A column family of those stores, listed when the database is opened: its own options,
/// with [`ROCKSDB_WRITE_BUFFER_BYTES`] (the binding gives a family RocksDB's defaults, not the
/// database's, so the default family is listed too).
pub fn rocksdb_column_family(name: &str) -> rocksdb::ColumnFamilyDescriptor {
    let mut cf = rocksdb::Options::default();
    cf.set_write_buffer_size(ROCKSDB_WRITE_BUFFER_BYTES);
    rocksdb::ColumnFamilyDescriptor::new(name, cf)
}

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// What each shard's spool writer shares with the lake shipper.
#[derive(Debug)]
pub struct SpoolShare {
    /// Per shard: the first LSN of the segment its writer writes (segments below it are sealed
    /// and may be shipped). Set before the segment file is created.
    pub active_segment: Vec<AtomicU64>,
    /// Per shard: spool bytes not yet shipped (appends add, the shipper subtracts).
    pub backlog: Vec<AtomicU64>,
    /// Per shard: the bytes written to the segment at `active_segment` (its header and
    /// records; 0 from when a segment is published until its first commit, and after it is
    /// sealed for its age). Its file is larger while it is written (its reserved space, zeros
    /// ahead), so the shipper's backlog gauge counts this for it.
    pub open_bytes: Vec<AtomicU64>,
    /// Per shard: whether the last write and sync of the spool succeeded (a full or failing
    /// disk makes it false until a retry succeeds; new frames are refused meanwhile and
    /// `/readyz` answers 503).
    pub writable: Vec<AtomicBool>,
    /// Shards still rebuilding their sessions from the spool at start. Each reads its
    /// segments back from disk (`spool::Replay::read`), so the shipper ships (and deletes) no
    /// segment until this is 0.
    pub replaying: AtomicUsize,
}

impl SpoolShare {
    /// Shards starting at these LSNs with these backlogs, each about to rebuild its sessions
    /// from the spool ([`SpoolShare::replayed`] when it has).
    pub fn new(next_lsn: &[u64], backlog: &[u64]) -> SpoolShare {
        SpoolShare {
            active_segment: next_lsn.iter().map(|l| AtomicU64::new(*l)).collect(),
            backlog: backlog.iter().map(|b| AtomicU64::new(*b)).collect(),
            open_bytes: next_lsn.iter().map(|_| AtomicU64::new(0)).collect(),
            writable: next_lsn.iter().map(|_| AtomicBool::new(true)).collect(),
            replaying: AtomicUsize::new(next_lsn.len()),
        }
    }

    /// A shard has rebuilt its sessions from the spool.
    pub fn replayed(&self) {
        let _ = self
            .replaying
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Whether every shard has rebuilt its sessions (segments may be shipped and deleted).
    pub fn all_replayed(&self) -> bool {
        self.replaying.load(Ordering::Acquire) == 0
    }
}

#[cfg(test)]
mod tests {
    /// The identity store keeps at most `ROCKSDB_MAX_OPEN_FILES` tables open, as RocksDB
    /// records it: descriptors the edge counts in what it keeps for itself (the alerts store's
    /// test is beside it, `alerts::store`).
    #[test]
    fn the_identity_store_caps_its_open_tables() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let _s = super::identity::IdentityStore::open(dir.path())?;
        assert_eq!(
            sentientiq_testkit::rocks::option(dir.path(), "max_open_files"),
            Some(super::ROCKSDB_MAX_OPEN_FILES.to_string())
        );
        Ok(())
    }

    /// Every column family's write buffer is `ROCKSDB_WRITE_BUFFER_BYTES`, and the WAL's
    /// reservation at its first write follows it (1.1 times; 70 MiB with RocksDB's default).
    #[test]
    fn the_identity_stores_wal_reserves_little_disk() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::identity::IdentityStore::open(dir.path())?;
        s.purchase_now("demo", "u_1", 100)?;
        sentientiq_testkit::rocks::assert_wal_bounded(
            dir.path(),
            super::identity::CFS.len() + 1,
            super::ROCKSDB_WRITE_BUFFER_BYTES,
            super::ROCKSDB_MAX_TOTAL_WAL_BYTES,
        );
        Ok(())
    }
}
