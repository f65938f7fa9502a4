//! The lake shipper: a thread beside the shards (never on their reactors) that turns sealed
//! spool segments into Parquet files, stores them in the sink, and only then deletes the
//! segment. A failure leaves the segment in place and is retried; a retry rewrites the same keys
//! with the same bytes, so the lake holds every accepted frame exactly once.

pub mod destinations;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use sentientiq_lake::{
    ActionRow, ActionsBuilder, AlertRow, AlertsBuilder, DetectionMeta, DetectionRow,
    DetectionsBuilder, EventsBuilder, FileBuilder, Partition, RowMeta, SessionState, TableBuilder,
    object_key,
};
use sentientiq_proto::{Limits, decode_client};

pub use destinations::Destinations;

use crate::storage::identity::IdentityStore;
use crate::storage::{SpoolShare, spool};
use crate::telemetry::LakeMetrics;
use crate::tenants::Directory;

/// Sessions whose section/page the shipper remembers between segments.
const MAX_SESSION_STATES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("encoding: {0}")]
    Encode(#[from] sentientiq_lake::Error),
    #[error("storing: {0}")]
    Sink(#[from] sentientiq_lake::SinkError),
    #[error("lake configuration: {0}")]
    Config(String),
    #[error("deleting {path}: {source}")]
    Delete {
        path: String,
        source: std::io::Error,
    },
}

/// The non-empty partitions of one table as record batches.
/// Finishes every partition's file: (table, partition, rows, Parquet bytes).
/// A session's user and account (from the identity store) and its section and page, while one
/// segment is shipped.
type SegmentSession = (Option<String>, Option<String>, SessionState);

/// A segment's files of one table by (tenant, hour), keyed by the records' own strings so that
/// finding a row's file allocates nothing; each becomes a [`Partition`] when it is finished.
type Files<'a, B> = BTreeMap<(&'a str, u64), FileBuilder<B>>;

/// The file of `tenant`'s rows received at `recv_ms`.
fn file_of<'a, 'm, B: TableBuilder + Default>(
    files: &'m mut Files<'a, B>,
    tenant: &'a str,
    recv_ms: u64,
) -> &'m mut FileBuilder<B> {
    files
        .entry((tenant, Partition::hour_of(recv_ms)))
        .or_default()
}

fn finish_all<B: TableBuilder>(
    files: Files<'_, B>,
    out: &mut Vec<(&'static str, Partition, usize, Vec<u8>)>,
) -> Result<(), sentientiq_lake::Error> {
    for ((tenant, hour), f) in files {
        let rows = f.len();
        if let Some(bytes) = f.finish()? {
            let p = Partition {
                tenant: tenant.to_string(),
                hour,
            };
            out.push((B::TABLE, p, rows, bytes));
        }
    }
    Ok(())
}

fn older(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What one shipped segment produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub files: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
}

/// What the shipper reads of the node.
#[derive(Debug, Clone)]
pub struct Env {
    pub edge_id: String,
    pub region: String,
    pub data_dir: PathBuf,
    pub poll: Duration,
    pub tenants: Arc<Directory>,
    pub identity: Arc<IdentityStore>,
    pub spool: Arc<SpoolShare>,
    pub metrics: Arc<LakeMetrics>,
    pub shutdown: Arc<AtomicBool>,
}

#[derive(Debug)]
pub struct Shipper {
    env: Env,
    dest: Destinations,
    /// Shipped seqs per session not yet recorded in the floors (their store failed).
    pending_floors: Vec<((String, String), Vec<u64>)>,
    states: HashMap<(String, String), SessionState>,
    /// The tenant directory version `dest` was built for.
    tenants_version: u64,
}

impl Shipper {
    pub fn new(env: Env, dest: Destinations) -> Shipper {
        Shipper {
            env,
            pending_floors: Vec::new(),
            dest,
            states: HashMap::new(),
            // `dest` is built for the tenants the edge starts with: the directory's first
            // version. Any change since (the control thread runs already) rebuilds it.
            tenants_version: 0,
        }
    }

    /// Runs until shutdown, polling every `lake.poll_ms`.
    pub fn run(mut self) {
        let poll = self.env.poll;
        while !self.env.shutdown.load(Ordering::Relaxed) {
            self.pass();
            std::thread::sleep(poll);
        }
    }

    /// One pass over every shard directory: ships each sealed segment in LSN order, stopping a
    /// directory at its first failure (so segments are deleted in order).
    pub fn pass(&mut self) {
        self.write_floors();
        // Tenants' destinations follow the live directory (the control plane may change them):
        // files shipped from now on go where the tenant says now.
        let v = self.env.tenants.version();
        if v != self.tenants_version {
            let tenants = self.env.tenants.load();
            match self.dest.set_tenants(tenants.live()) {
                Ok(()) => self.tenants_version = v,
                Err(e) => tracing::error!(error = %e, "lake: tenant destinations not updated"),
            }
        }
        let root = self.env.data_dir.join("spool");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return;
        };
        let mut dirs: Vec<(usize, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                let i = p
                    .file_name()?
                    .to_str()?
                    .strip_prefix("shard-")?
                    .parse()
                    .ok()?;
                Some((i, p))
            })
            .collect();
        dirs.sort();
        let (mut backlog, mut oldest) = (0u64, None::<SystemTime>);
        for (i, dir) in dirs {
            let active = self
                .env
                .spool
                .active_segment
                .get(i)
                .map_or(u64::MAX, |a| a.load(Ordering::Acquire));
            let Ok(segs) = spool::segments(&dir) else {
                continue;
            };
            let mut failed = false;
            for (first, path) in segs {
                let meta = std::fs::metadata(&path).ok();
                let size = meta.as_ref().map_or(0, |m| m.len());
                let shipped = first < active
                    && !failed
                    && match self.ship(i, &dir, first, &path) {
                        Ok(s) => {
                            let m = &self.env.metrics;
                            m.files.fetch_add(s.files.len() as u64, Ordering::Relaxed);
                            m.rows.fetch_add(s.rows, Ordering::Relaxed);
                            m.bytes.fetch_add(s.bytes, Ordering::Relaxed);
                            m.segments.fetch_add(1, Ordering::Relaxed);
                            if let Some(b) = self.env.spool.backlog.get(i) {
                                let _ = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                                    Some(v.saturating_sub(size))
                                });
                            }
                            tracing::debug!(
                                shard = i,
                                first,
                                files = s.files.len(),
                                rows = s.rows,
                                "segment shipped"
                            );
                            true
                        }
                        Err(e) => {
                            self.env.metrics.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(shard = i, first, error = %e, "shipping failed; will retry");
                            // Later segments wait: segments are deleted in LSN order.
                            failed = true;
                            false
                        }
                    };
                if !shipped {
                    backlog += size;
                    if first < active {
                        oldest = older(oldest, meta.and_then(|m| m.modified().ok()));
                    }
                }
            }
        }
        let m = &self.env.metrics;
        m.backlog_bytes.store(backlog, Ordering::Relaxed);
        let age = oldest
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or(0, |d| d.as_secs());
        m.backlog_age_s.store(age, Ordering::Relaxed);
    }

    /// Records the pending floors; on failure they stay pending (retried every pass).
    fn write_floors(&mut self) {
        if self.pending_floors.is_empty() {
            return;
        }
        let floors: Vec<(&str, &str, &[u64])> = self
            .pending_floors
            .iter()
            .map(|((t, s), q)| (t.as_str(), s.as_str(), q.as_slice()))
            .collect();
        match self
            .env
            .identity
            .put_floors(&floors, crate::clock::now_ms())
        {
            Ok(lost) => {
                if lost > 0 {
                    self.env
                        .metrics
                        .floor_overflow
                        .fetch_add(lost, Ordering::Relaxed);
                }
                self.pending_floors.clear();
            }
            Err(e) => {
                self.env
                    .metrics
                    .floor_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, sessions = floors.len(), "shipped floors not recorded yet; retrying");
            }
        }
    }

    /// Ships one sealed segment and deletes it.
    pub fn ship(
        &mut self,
        shard: usize,
        dir: &Path,
        first: u64,
        path: &Path,
    ) -> Result<Shipped, ShipError> {
        let bytes = std::fs::read(path).map_err(|source| ShipError::Read {
            path: path.display().to_string(),
            source,
        })?;
        // The records borrow from `bytes`, which lives until the segment is shipped, and are
        // decoded again on each pass over them (no record list: see `spool::segment_records`).
        // The first pass finds the valid prefix and the records of kinds a newer binary wrote.
        let mut scan = spool::segment_records(&bytes);
        let unknown: Vec<spool::RecordRef<'_>> = scan
            .by_ref()
            .filter(|r| !spool::known_kind(r.kind))
            .collect();
        let valid = scan.valid();
        let records = || spool::segment_records(&bytes[..valid]);
        let end_lsn = first + valid.saturating_sub(spool::HEADER) as u64;
        let env = self.env.clone();
        let (edge, region) = (&env.edge_id, &env.region);
        // Each partition's file is encoded as its rows arrive (FileBuilder), so a segment's rows
        // are never all held as Arrow arrays at once.
        let mut parts: Files<'_, EventsBuilder> = BTreeMap::new();
        // Per session of this segment (keyed by the records' strings: no allocation per record):
        // its user and account, and its section and page (copied from `self.states` at the
        // session's first record, and stored back only once the segment's files are, so a
        // retried segment starts from the same state).
        let mut sessions: HashMap<(&str, &str), SegmentSession> = HashMap::new();
        if self.states.len() > MAX_SESSION_STATES {
            self.states.clear();
        }
        let mut dets: Files<'_, DetectionsBuilder> = BTreeMap::new();
        let mut acts: Files<'_, ActionsBuilder> = BTreeMap::new();
        let mut alerts: Files<'_, AlertsBuilder> = BTreeMap::new();
        // The lake holds each (tenant, session, seq) once. The spool writer never writes a
        // record twice, but should a frame appear again (in this segment, or shipped before:
        // the session's stored floor holds it), it is skipped and counted, with the rows of
        // what it produced.
        let mut shipped: HashMap<(&str, &str), sentientiq_core::Held> = HashMap::new();
        for r in records().filter(|r| r.kind == spool::KIND_FRAME) {
            if let std::collections::hash_map::Entry::Vacant(v) = shipped.entry((r.tenant, r.sid)) {
                v.insert(env.identity.floor(r.tenant, r.sid).unwrap_or_default());
            }
        }
        let mut seen: HashSet<(&str, &str, u64)> = HashSet::new();
        let mut duplicates = 0u64;
        for r in records() {
            if !spool::known_kind(r.kind) {
                continue;
            }
            // Rows with seq 0 come from no frame (a finished alert, an intervention a person
            // pushed): the session's floor says nothing about them.
            let before = r.seq != 0
                && shipped
                    .get(&(r.tenant, r.sid))
                    .is_some_and(|h| h.contains(r.seq));
            let again = r.kind == spool::KIND_FRAME && !seen.insert((r.tenant, r.sid, r.seq));
            if before || again {
                duplicates += 1;
                continue;
            }
            let meta = DetectionMeta {
                tenant: r.tenant,
                region,
                edge,
                shard: shard as u16,
                session: r.sid,
                recv_ms: r.recv_ms,
            };
            if r.kind == spool::KIND_ACTION {
                match serde_json::from_slice::<ActionRow>(r.frame) {
                    Ok(a) => {
                        let f = file_of(&mut acts, r.tenant, r.recv_ms);
                        f.rows().push(&meta, &a);
                        f.flush_if_full()?;
                    }
                    Err(e) => {
                        tracing::error!(tenant = %r.tenant, sid = %r.sid, error = %e, "spooled action does not decode; skipped");
                        env.metrics
                            .undecodable_records
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                continue;
            }
            if r.kind == spool::KIND_ALERT {
                match serde_json::from_slice::<AlertRow>(r.frame) {
                    Ok(a) => {
                        let f = file_of(&mut alerts, r.tenant, r.recv_ms);
                        f.rows().push(&meta, &a);
                        f.flush_if_full()?;
                    }
                    Err(e) => {
                        tracing::error!(tenant = %r.tenant, sid = %r.sid, error = %e, "spooled alert does not decode; skipped");
                        env.metrics
                            .undecodable_records
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                continue;
            }
            if r.kind == spool::KIND_DETECTION {
                match serde_json::from_slice::<DetectionRow>(r.frame) {
                    Ok(d) => {
                        let f = file_of(&mut dets, r.tenant, r.recv_ms);
                        f.rows().push(&meta, &d);
                        f.flush_if_full()?;
                    }
                    Err(e) => {
                        tracing::error!(tenant = %r.tenant, sid = %r.sid, error = %e, "spooled detection does not decode; skipped");
                        env.metrics
                            .undecodable_records
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                continue;
            }
            let Ok(frame) = decode_client(r.frame, &Limits::DEFAULT) else {
                tracing::error!(tenant = %r.tenant, sid = %r.sid, seq = r.seq, "spooled frame does not decode; skipped");
                env.metrics
                    .undecodable_records
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            };
            // An intervention's outcome is also a row of `actions`, joined by its id.
            if let sentientiq_proto::ClientFrame::Outcome(o) = &frame {
                let a = ActionRow {
                    id: o.iid.clone(),
                    action: "outcome".into(),
                    seq: r.seq,
                    result: Some(o.r.as_str().to_string()),
                    ..Default::default()
                };
                let f = file_of(&mut acts, r.tenant, r.recv_ms);
                f.rows().push(&meta, &a);
                f.flush_if_full()?;
            }
            let (user, account, st) = sessions.entry((r.tenant, r.sid)).or_insert_with(|| {
                let (user, account) = env.identity.user_and_account(r.tenant, r.sid);
                let st = self
                    .states
                    .get(&(r.tenant.to_string(), r.sid.to_string()))
                    .cloned()
                    .unwrap_or_default();
                (user, account, st)
            });
            let m = RowMeta {
                tenant: r.tenant,
                region,
                edge,
                shard: shard as u16,
                session: r.sid,
                user: user.as_deref(),
                account: account.as_deref(),
                seq: r.seq,
                recv_ms: r.recv_ms,
            };
            let f = file_of(&mut parts, r.tenant, r.recv_ms);
            f.rows().push_frame(&m, &frame, st);
            f.flush_if_full()?;
        }
        let mut out = Shipped::default();
        let mut files = Vec::new();
        finish_all(parts, &mut files)?;
        finish_all(dets, &mut files)?;
        finish_all(acts, &mut files)?;
        finish_all(alerts, &mut files)?;
        for (table, p, rows, file) in files {
            out.rows += rows as u64;
            let (sink, prefix) = self.dest.of(&p.tenant);
            let key = object_key(prefix, table, &p, region, edge, shard, first);
            sink.put(&key, &file)?;
            out.bytes += file.len() as u64;
            out.files.push(key);
        }
        if duplicates > 0 {
            env.metrics
                .duplicate_records
                .fetch_add(duplicates, Ordering::Relaxed);
            tracing::error!(
                shard,
                first,
                duplicates,
                "spool records already shipped; skipped"
            );
        }
        // Every file is stored: the sessions' shipped seqs are kept (so a retry of a frame
        // whose record is gone is still recognised) and the segment can go. Should the floors
        // not be writable now (their store shares the spool's full disk), they wait in memory
        // and the segment goes anyway: deleting it is what frees the disk.
        for ((tenant, sid), (_, _, st)) in sessions {
            self.states
                .insert((tenant.to_string(), sid.to_string()), st);
        }
        let mut floors: HashMap<(&str, &str), Vec<u64>> = HashMap::new();
        for r in records().filter(|r| r.kind == spool::KIND_FRAME) {
            floors.entry((r.tenant, r.sid)).or_default().push(r.seq);
        }
        self.pending_floors.extend(
            floors
                .into_iter()
                .map(|((tenant, sid), seqs)| ((tenant.to_string(), sid.to_string()), seqs)),
        );
        self.write_floors();
        // Records of kinds a newer binary wrote are kept, not deleted with the segment.
        spool::keep_unknown(dir, shard as u32, first, &unknown).map_err(|source| {
            ShipError::Delete {
                path: path.display().to_string(),
                source,
            }
        })?;
        if !unknown.is_empty() {
            env.metrics
                .unknown_records
                .fetch_add(unknown.len() as u64, Ordering::Relaxed);
            tracing::warn!(
                shard,
                first,
                records = unknown.len(),
                "spool records of an unknown kind kept beside the spool"
            );
        }
        spool::delete_shipped(dir, path, end_lsn).map_err(|source| ShipError::Delete {
            path: path.display().to_string(),
            source,
        })?;
        Ok(out)
    }
}
