//! The lake shipper: a thread beside the shards (never on their reactors) that turns sealed
//! spool segments into Parquet files, stores them in the sink, and only then deletes the
//! segment. A failure leaves the segment in place and is retried; a retry rewrites the same keys
//! with the same bytes, so the lake holds every accepted frame exactly once.

pub mod destinations;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

// Arrow's own hasher, keyed at runtime, for maps looked up once or twice per record by keys
// clients sent (SipHash was 4.5 % of a replay's profile: `bench/runs/2026-12-04-vm/`).
use ahash::HashMap;
use sentientiq_lake::{
    ActionRow, ActionsBuilder, AlertRow, AlertsBuilder, DetectionMeta, DetectionRow,
    DetectionsBuilder, EventsBuilder, FileBuilder, Partition, RowMeta, SessionState, SpillPages,
    StageOnWrite, TableBuilder, object_key,
};
use sentientiq_proto::{ClientFrame, Limits, Seq, decode_client_into};

pub use destinations::Destinations;

use crate::storage::identity::IdentityStore;
use crate::storage::{SpoolShare, spool};
use crate::telemetry::LakeMetrics;
use crate::tenants::Directory;

/// How much the shipper thread lowers its priority (`nice` increment). It works in bursts (a
/// sealed 64 MiB segment is several CPU-seconds of Parquet encoding) on a core it shares with a
/// shard; at equal priority the scheduler splits that core between them and the shard's acks
/// wait. Measured with the disk taken out (it hid the effect on 2026-12-02, when this was first
/// tried and reverted), one core, 12 000 sessions: the edge's own acks over 25 ms were
/// 1 280–62 986 per run at equal priority (five runs) and 37–2 707 at nice 10 (four runs)
/// (`bench/runs/2026-12-03-vm/README.md`, "The lake shipper's priority").
/// At nice 10 its weight is 110 to a shard's 1024 (the kernel's `sched_prio_to_weight`), so a
/// waking shard runs first, and the shipper still gets about a tenth of a contended core and
/// all of an idle one. Should it fall behind, the spool's backlog grows and, past
/// `lake.spool_max_bytes`, new frames are refused with `overloaded`: visible, not lost.
/// `SCHED_IDLE` (weight 3) was tried instead and did no better: it took less from a runnable
/// shard, but the shard's waits are mostly its own work; and at saturation, by its weight (3
/// against a shard's 1024; not measured), it would leave the lake almost nothing (`bench/runs/2026-12-06-vm/README.md`, "Thirty-fourth session").
pub const SHIPPER_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`SHIPPER_NICE`] (on Linux the nice value is per
/// thread). A failure is logged, not fatal: the shipper then runs at the process's priority.
pub fn lower_priority() {
    match rustix::process::nice(SHIPPER_NICE) {
        Ok(now) => tracing::debug!(nice = now, "lake shipper priority lowered"),
        Err(e) => tracing::warn!(error = %e, "lake shipper priority not lowered"),
    }
}

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
    Encode(sentientiq_lake::Error),
    #[error("storing: {0}")]
    Sink(#[from] sentientiq_lake::SinkError),
    #[error("lake configuration: {0}")]
    Config(String),
    /// The S3 client could not be built: its options refused, or its runtime not started.
    #[error(transparent)]
    S3Setup(#[from] sentientiq_lake::s3::S3SetupError),
    #[error("deleting {path}: {source}")]
    Delete {
        path: String,
        source: std::io::Error,
    },
}

impl From<sentientiq_lake::Error> for ShipError {
    /// A file's sink failing while the file is written is a storing error, not an encoding one.
    fn from(e: sentientiq_lake::Error) -> ShipError {
        match e {
            sentientiq_lake::Error::Sink(s) => ShipError::Sink(s),
            e => ShipError::Encode(e),
        }
    }
}

/// A session's key in the shipper's maps: the tenant's length (u32 LE), the tenant, the session
/// id. Built into one reused buffer per record, so finding a record's session allocates nothing.
fn session_key(tenant: &str, sid: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(tenant.len() as u32).to_le_bytes());
    out.extend_from_slice(tenant.as_bytes());
    out.extend_from_slice(sid.as_bytes());
}

/// A session's frame seqs in one segment, as runs of consecutive seqs in record order. A
/// session's seqs rise by one from frame to frame, so a segment holds one run of them or a few:
/// as a list of seqs they were 8 bytes a frame, with the session index about 8.3 MB of the
/// shipper's peak with 10 000 sessions (heaptrack, `bench/runs/2026-12-05-vm/README.md`,
/// "Twenty-eighth session").
#[derive(Debug, Default)]
struct Seqs {
    runs: Vec<RangeInclusive<u64>>,
    /// The highest seq so far, and the run that ends with it.
    top: u64,
    top_run: usize,
}

impl Seqs {
    /// Adds `seq`; `false` when it was there already. Seqs mostly rise, so that is one
    /// comparison; only a seq at or below the highest so far is looked for among the runs.
    fn insert(&mut self, seq: u64) -> bool {
        if self.runs.is_empty() || seq > self.top {
            match self.runs.get_mut(self.top_run) {
                Some(run) if seq == self.top + 1 => *run = *run.start()..=seq,
                _ => {
                    self.top_run = self.runs.len();
                    self.runs.push(seq..=seq);
                }
            }
            self.top = seq;
            return true;
        }
        if self.runs.iter().any(|r| r.contains(&seq)) {
            return false;
        }
        self.runs.push(seq..=seq);
        true
    }
}

/// A session's (tenant, id) and the runs of seqs shipped of it, until its floor is recorded.
type PendingFloor = ((String, String), Vec<RangeInclusive<u64>>);

/// A session with frames in the segment being shipped.
#[derive(Debug, Default)]
struct SegSession {
    /// Its tenant and id, for its floors.
    tenant: String,
    sid: String,
    /// What was shipped of it before (its stored floor).
    floor: sentientiq_core::Held,
    /// The seqs of its frame records the second pass has passed.
    seqs: Seqs,
    /// Its user and account (from the identity store) and its section and page: set at its
    /// first frame in the second pass.
    rows: Option<(Option<String>, Option<String>, SessionState)>,
}

impl SegSession {
    /// Whether the frame record the second pass is at repeats one before it in this segment.
    fn again(&mut self, seq: u64) -> bool {
        !self.seqs.insert(seq)
    }
}

/// A segment's files of one table by (tenant number, hour); each goes to its sink as its row
/// groups are encoded ([`StageOnWrite`]) and is stored as soon as it is finished.
type Files<'a, B> = BTreeMap<(u32, u64), LakeFile<'a, B>>;

/// A table's file written straight to its sink.
type LakeFile<'a, B> = FileBuilder<B, StageOnWrite<'a>>;

/// The file of the rows of `tenant` (number `t`) received at `recv_ms`; `file` names a new
/// one, given the table, the tenant and the hour, whose open row group's pages wait in
/// temporary files (`pages`), not on the heap.
fn file_of<'f, 'a, B: TableBuilder + Default>(
    files: &'f mut Files<'a, B>,
    (t, tenant): (u32, &str),
    recv_ms: u64,
    (file, pages): (
        &impl Fn(&'static str, &str, u64) -> StageOnWrite<'a>,
        &SpillPages,
    ),
) -> &'f mut LakeFile<'a, B> {
    let hour = Partition::hour_of(recv_ms);
    files
        .entry((t, hour))
        .or_insert_with(|| FileBuilder::new(file(B::TABLE, tenant, hour)).with_pages(pages.clone()))
}

/// Finishes and stores every partition's file of one table, in (tenant, hour) order, one at a
/// time.
fn store_all<B: TableBuilder>(
    files: Files<'_, B>,
    tenants: &[Box<str>],
    out: &mut Shipped,
) -> Result<(), ShipError> {
    let mut files: Vec<((&str, u64), LakeFile<'_, B>)> = files
        .into_iter()
        .map(|((t, hour), f)| ((tenants.get(t as usize).map_or("", |t| &**t), hour), f))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, f) in files {
        let rows = f.len();
        if let Some(file) = f.finish()? {
            let key = file.key().to_string();
            out.bytes += file.commit()?;
            out.rows += rows as u64;
            out.files.push(key);
        }
    }
    Ok(())
}

/// The number of `tenant` among a segment's tenants (`names`, found by `index`).
fn tenant_no(index: &mut HashMap<Box<str>, u32>, names: &mut Vec<Box<str>>, tenant: &str) -> u32 {
    if let Some(&t) = index.get(tenant) {
        return t;
    }
    let t = names.len() as u32;
    names.push(tenant.into());
    index.insert(tenant.into(), t);
    t
}

/// The spool bytes of a segment (first LSN `first`; the next segment, or the one being
/// written, starts at `next`) waiting to be shipped, counted as the spool's backlog counts them
/// (`lake.spool_max_bytes`): its records, not its file. The segment being written (`first` at
/// `active`) holds space reserved past its records: what its writer wrote (`open_bytes`,
/// header included). One past it was made by a rotation after `active` and `open_bytes` were
/// read, which are still the one before's: it counts from the next pass. A sealed one by its
/// file, but never past the next segment's first LSN: a segment whose seal failed still holds
/// its reservation (64 MiB).
fn waiting_bytes(
    first: u64,
    next: u64,
    active: u64,
    open_bytes: u64,
    meta: Option<&std::fs::Metadata>,
) -> u64 {
    let header = spool::HEADER as u64;
    if first > active {
        return 0;
    }
    if first == active {
        return open_bytes.saturating_sub(header);
    }
    let records = meta.map_or(0, |m| m.len()).saturating_sub(header);
    records.min(next.saturating_sub(first))
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
    /// The segment's record bytes (its LSN span, the header not counted): what its shard
    /// counted into the spool's backlog as it appended them, or recovery at a start. Its file
    /// is longer: the header, and for a segment whose seal failed the space reserved for it.
    pub spool_bytes: u64,
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
    pending_floors: Vec<PendingFloor>,
    /// Section and page per session ([`session_key`]), carried from segment to segment.
    states: HashMap<Box<[u8]>, SessionState>,
    /// The tenant directory version `dest` was built for.
    tenants_version: u64,
    /// Where files being written keep their open row group's pages.
    pages: SpillPages,
    /// `pages.refused()` as last counted in the metrics.
    refused_noted: u64,
    /// `pages.capped()` as last logged.
    capped_noted: u64,
}

impl Shipper {
    pub fn new(env: Env, dest: Destinations) -> Shipper {
        Shipper {
            pages: SpillPages::new(&env.data_dir),
            refused_noted: 0,
            capped_noted: 0,
            env,
            pending_floors: Vec::new(),
            dest,
            states: HashMap::default(),
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
    /// directory at its first failure (so segments are deleted in order). Nothing is shipped
    /// while a shard still rebuilds its sessions from the spool (it reads the segments back);
    /// the backlog is still measured.
    pub fn pass(&mut self) {
        let replayed = self.env.spool.all_replayed();
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
            let open_bytes = self
                .env
                .spool
                .open_bytes
                .get(i)
                .map_or(0, |b| b.load(Ordering::Acquire));
            let Ok(segs) = spool::segments(&dir) else {
                continue;
            };
            // Nothing ships while a shard replays; after a failure, later segments wait.
            let mut wait = !replayed;
            let mut segs = segs.into_iter().peekable();
            while let Some((first, path)) = segs.next() {
                let meta = std::fs::metadata(&path).ok();
                let next = segs.peek().map_or(active, |(next, _)| *next);
                let size = waiting_bytes(first, next, active, open_bytes, meta.as_ref());
                let shipped = first < active
                    && !wait
                    && match self.ship(i, &dir, first, &path) {
                        Ok(s) => {
                            let m = &self.env.metrics;
                            m.files.fetch_add(s.files.len() as u64, Ordering::Relaxed);
                            m.rows.fetch_add(s.rows, Ordering::Relaxed);
                            m.bytes.fetch_add(s.bytes, Ordering::Relaxed);
                            m.segments.fetch_add(1, Ordering::Relaxed);
                            if let Some(b) = self.env.spool.backlog.get(i) {
                                // By its records, not its file: the header was never counted,
                                // and a segment whose seal failed still holds its reservation
                                // (64 MiB), which would take other segments' bytes off.
                                let _ = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                                    Some(v.saturating_sub(s.spool_bytes))
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
                            wait = true;
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
        self.note_spills();
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
        let floors: Vec<(&str, &str, &[RangeInclusive<u64>])> = self
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

    /// Counts and logs the lake pages that shipments since the last call kept in memory
    /// because the data directory refused them, whether or not they succeeded (a full disk is
    /// when both happen).
    fn note_spills(&mut self) {
        let capped = self.pages.capped();
        let held = capped.saturating_sub(std::mem::replace(&mut self.capped_noted, capped));
        if held > 0 {
            tracing::info!(
                bytes = held,
                files = sentientiq_lake::pages::MAX_SPILL_FILES,
                "lake pages kept in memory: as many lake files as may were spilling already"
            );
        }
        let refused = self.pages.refused();
        let kept = refused.saturating_sub(std::mem::replace(&mut self.refused_noted, refused));
        if kept > 0 {
            let m = &self.env.metrics;
            m.spill_refused_bytes.fetch_add(kept, Ordering::Relaxed);
            tracing::warn!(
                bytes = kept,
                dir = %self.env.data_dir.display(),
                "lake pages kept in memory: the data directory refused their temporary files"
            );
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
        let read_err = |source| ShipError::Read {
            path: path.display().to_string(),
            source,
        };
        let open = || {
            std::fs::File::open(path)
                .map(spool::SegmentReader::new)
                .map_err(read_err)
        };
        let env = self.env.clone();
        let (edge, region) = (&env.edge_id, &env.region);
        // The segment is read twice through a small buffer (`spool::SegmentReader`), never held
        // whole. The first pass finds the valid prefix, the records of kinds a newer binary
        // wrote, and every session with frames here, with its stored floor.
        let mut key = Vec::new();
        let mut index: HashMap<Box<[u8]>, usize> = HashMap::default();
        let mut sessions: Vec<SegSession> = Vec::new();
        let mut unknown: Vec<spool::Record> = Vec::new();
        let mut scan = open()?;
        while let Some(r) = scan.next_record().map_err(read_err)? {
            if !spool::known_kind(r.kind) {
                unknown.push(r.to_record());
                continue;
            }
            if r.kind != spool::KIND_FRAME {
                continue;
            }
            session_key(r.tenant, r.sid, &mut key);
            if !index.contains_key(key.as_slice()) {
                sessions.push(SegSession {
                    tenant: r.tenant.to_owned(),
                    sid: r.sid.to_owned(),
                    floor: env.identity.floor(r.tenant, r.sid).unwrap_or_default(),
                    ..SegSession::default()
                });
                index.insert(key.as_slice().into(), sessions.len() - 1);
            }
        }
        let records = (scan.valid() as u64).saturating_sub(spool::HEADER as u64);
        let end_lsn = first + records;
        drop(scan);
        if self.states.len() > MAX_SESSION_STATES {
            self.states.clear();
        }
        // Each partition's file is encoded as its rows arrive (FileBuilder), so a segment's rows
        // are never all held as Arrow arrays at once, and its row groups go to the lake as they
        // close (StageOnWrite), so a finished row group is not held either.
        let dest = &self.dest;
        let file = |table: &'static str, tenant: &str, hour: u64| {
            let (sink, prefix) = dest.of(tenant);
            let p = Partition {
                tenant: tenant.to_string(),
                hour,
            };
            StageOnWrite::new(
                sink,
                object_key(prefix, table, &p, region, edge, shard, first),
            )
        };
        let file = (&file, &self.pages);
        let (mut tenant_index, mut tenants) = (HashMap::default(), Vec::new());
        let mut parts: Files<'_, EventsBuilder> = BTreeMap::new();
        let mut dets: Files<'_, DetectionsBuilder> = BTreeMap::new();
        let mut acts: Files<'_, ActionsBuilder> = BTreeMap::new();
        let mut alerts: Files<'_, AlertsBuilder> = BTreeMap::new();
        // The lake holds each (tenant, session, seq) once. The spool writer never writes a
        // record twice, but should a frame appear again (in this segment, or shipped before:
        // the session's stored floor holds it), it is skipped and counted, with the rows of
        // what it produced.
        let mut duplicates = 0u64;
        let mut slot = ClientFrame::Bye { seq: Seq(0) };
        let mut rows = open()?;
        while let Some(r) = rows.next_record().map_err(read_err)? {
            if !spool::known_kind(r.kind) {
                continue;
            }
            session_key(r.tenant, r.sid, &mut key);
            let mut sess = index.get(key.as_slice()).and_then(|&i| sessions.get_mut(i));
            // Rows with seq 0 come from no frame (a finished alert, an intervention a person
            // pushed): the session's floor says nothing about them.
            let before = r.seq != 0 && sess.as_ref().is_some_and(|s| s.floor.contains(r.seq));
            let again =
                r.kind == spool::KIND_FRAME && sess.as_mut().is_some_and(|s| s.again(r.seq));
            if before || again {
                duplicates += 1;
                continue;
            }
            let t = tenant_no(&mut tenant_index, &mut tenants, r.tenant);
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
                        let f = file_of(&mut acts, (t, r.tenant), r.recv_ms, file);
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
                        let f = file_of(&mut alerts, (t, r.tenant), r.recv_ms, file);
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
                        let f = file_of(&mut dets, (t, r.tenant), r.recv_ms, file);
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
            // Decoded into one frame kept across records: a batch reuses the last batch's
            // columns instead of allocating its own.
            if decode_client_into(r.frame, &Limits::DEFAULT, &mut slot).is_err() {
                tracing::error!(tenant = %r.tenant, sid = %r.sid, seq = r.seq, "spooled frame does not decode; skipped");
                env.metrics
                    .undecodable_records
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let frame = &slot;
            // An intervention's outcome is also a row of `actions`, joined by its id.
            if let ClientFrame::Outcome(o) = frame {
                let a = ActionRow {
                    id: o.iid.clone(),
                    action: "outcome".into(),
                    seq: r.seq,
                    result: Some(o.r.as_str().to_string()),
                    ..Default::default()
                };
                let f = file_of(&mut acts, (t, r.tenant), r.recv_ms, file);
                f.rows().push(&meta, &a);
                f.flush_if_full()?;
            }
            // Every frame's session was found by the first pass; should the segment have
            // changed since (it must not: it is sealed), its rows are still written.
            let mut extra = SegSession::default();
            let sess = sess.unwrap_or(&mut extra);
            // Its section and page come from `self.states` at its first frame here and are
            // stored back only once the segment's files are, so a retried segment starts from
            // the same state.
            let (user, account, st) = sess.rows.get_or_insert_with(|| {
                let (user, account) = env.identity.user_and_account(r.tenant, r.sid);
                let st = self.states.get(key.as_slice()).cloned().unwrap_or_default();
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
            let f = file_of(&mut parts, (t, r.tenant), r.recv_ms, file);
            f.rows().push_frame(&m, frame, st);
            f.flush_if_full()?;
        }
        drop(rows);
        let mut out = Shipped {
            spool_bytes: records,
            ..Shipped::default()
        };
        store_all(parts, &tenants, &mut out)?;
        store_all(dets, &tenants, &mut out)?;
        store_all(acts, &tenants, &mut out)?;
        store_all(alerts, &tenants, &mut out)?;
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
        for (key, i) in index {
            let Some(sess) = sessions.get_mut(i) else {
                continue;
            };
            if let Some((_, _, st)) = sess.rows.take() {
                self.states.insert(key, st);
            }
            let who = (
                std::mem::take(&mut sess.tenant),
                std::mem::take(&mut sess.sid),
            );
            self.pending_floors
                .push((who, std::mem::take(&mut sess.seqs.runs)));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SpoolShare;
    use crate::tenants::{Directory, Tenants};
    use sentientiq_lake::{LocalSink, Sink, SinkError, Staged};
    use sentientiq_testkit::{frames, lake::lake_rows};

    const T0: u64 = 1_763_780_000_000;

    fn frame(seq: u64) -> Vec<u8> {
        let mut v = Vec::new();
        sentientiq_proto::encode_client(&frames::moves(seq, 2), &mut v);
        v
    }

    /// (session, seq) of every `events` row (each frame holds two moves).
    fn shipped(lake: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = lake_rows(lake).0.into_iter().map(|r| (r.0, r.1)).collect();
        v.sort();
        v
    }

    fn pairs(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = v
            .iter()
            .flat_map(|(s, q)| [(s.to_string(), *q), (s.to_string(), *q)])
            .collect();
        out.sort();
        out
    }

    /// A shipper of edge `e1` in region `eu` with data under `data` and no tenants, shipping
    /// to `sink`, and its metrics.
    fn test_shipper(
        data: &Path,
        sink: Arc<dyn Sink>,
        identity: Arc<IdentityStore>,
        spool: Arc<SpoolShare>,
    ) -> (Shipper, Arc<LakeMetrics>) {
        let metrics = Arc::new(LakeMetrics::default());
        let env = Env {
            edge_id: "e1".into(),
            region: "eu".into(),
            data_dir: data.to_path_buf(),
            poll: Duration::from_millis(10),
            tenants: Arc::new(Directory::new(Tenants::new(vec![]))),
            identity,
            spool,
            metrics: metrics.clone(),
            shutdown: Arc::new(AtomicBool::new(false)),
        };
        let dest = Destinations::single(sink, "");
        (Shipper::new(env, dest), metrics)
    }

    /// A data directory, a lake directory and the identity store in the first.
    fn stores() -> (tempfile::TempDir, tempfile::TempDir, Arc<IdentityStore>) {
        let data = tempfile::tempdir().expect("tempdir");
        let lake = tempfile::tempdir().expect("tempdir");
        let identity =
            Arc::new(IdentityStore::open(&data.path().join("identity")).expect("identity"));
        (data, lake, identity)
    }

    /// Shard 0's spool directory under `data`, made.
    fn shard0(data: &tempfile::TempDir) -> PathBuf {
        let dir = spool::shard_dir(data.path(), 0);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    fn local(lake: &Path) -> Arc<dyn Sink> {
        Arc::new(LocalSink::new(lake))
    }

    /// A local lake that takes `budget` bytes of the files whose key holds `only` and fails
    /// every write of them after: a store that goes away while a file is being written to it.
    #[derive(Debug)]
    struct GoesAway {
        lake: LocalSink,
        only: &'static str,
        budget: Arc<std::sync::atomic::AtomicUsize>,
    }

    struct GoesAwayFile {
        file: Box<dyn Staged>,
        budget: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Sink for GoesAway {
        fn stage(&self, key: &str) -> Result<Box<dyn Staged>, SinkError> {
            let file = self.lake.stage(key)?;
            if !key.contains(self.only) {
                return Ok(file);
            }
            Ok(Box::new(GoesAwayFile {
                file,
                budget: self.budget.clone(),
            }))
        }
    }

    impl std::io::Write for GoesAwayFile {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let left = self.budget.load(Ordering::Relaxed);
            if left == 0 && !b.is_empty() {
                return Err(std::io::Error::other(SinkError::Remote(
                    "the store went away".into(),
                )));
            }
            let n = left.min(b.len());
            self.file.write_all(&b[..n])?;
            self.budget.store(left - n, Ordering::Relaxed);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    impl Staged for GoesAwayFile {
        fn commit(self: Box<Self>) -> Result<u64, SinkError> {
            self.file.commit()
        }
    }

    /// A local lake that counts the files staged and not yet stored or dropped (each holds a
    /// descriptor, its temporary file), and the most there were at once.
    #[derive(Debug)]
    struct Counting {
        lake: LocalSink,
        open: Arc<std::sync::atomic::AtomicUsize>,
        peak: std::sync::atomic::AtomicUsize,
    }

    /// A file staged in a [`Counting`] lake: counted until it is stored or dropped.
    struct CountedFile {
        file: Option<Box<dyn Staged>>,
        open: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Sink for Counting {
        fn stage(&self, key: &str) -> Result<Box<dyn Staged>, SinkError> {
            let file = Some(self.lake.stage(key)?);
            let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
            self.peak.fetch_max(now, Ordering::Relaxed);
            Ok(Box::new(CountedFile {
                file,
                open: self.open.clone(),
            }))
        }
    }

    impl Drop for CountedFile {
        fn drop(&mut self) {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    impl CountedFile {
        fn file(&mut self) -> &mut Box<dyn Staged> {
            self.file.as_mut().expect("not stored yet")
        }
    }

    impl std::io::Write for CountedFile {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.file().write(b)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.file().flush()
        }
    }

    impl Staged for CountedFile {
        /// Stores the file; it stops being counted once stored (when `self` drops).
        fn commit(mut self: Box<Self>) -> Result<u64, SinkError> {
            self.file.take().expect("not stored yet").commit()
        }
    }

    /// Every file under `dir`, hidden ones too.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    /// Files go to the lake as they are encoded and are stored one at a time. A store that
    /// fails part-way through a file is a storing error; the segment stays, the lake holds
    /// nothing partial (no temporary file either; a file stored before the failure is whole),
    /// and the next try ships every row.
    #[test]
    fn a_store_failing_while_a_file_is_written_loses_nothing_and_leaves_nothing() {
        let (data, lake, identity) = stores();
        let share = Arc::new(SpoolShare::new(&[0], &[0]));
        let dir = shard0(&data);
        // Two tenants: two `events` files, tenant a's stored first.
        let mut v = spool::header(0).to_vec();
        let mut want = Vec::new();
        for seq in 1..=200u64 {
            let (tenant, sid) = if seq % 2 == 0 {
                ("a", "s1")
            } else {
                ("b", "s2")
            };
            spool::encode_kind(
                spool::KIND_FRAME,
                T0 + seq,
                tenant,
                sid,
                seq,
                &frame(seq),
                &mut v,
            );
            want.push((sid, seq));
        }
        let path = spool::segment_path(&dir, 0);
        std::fs::write(&path, &v).expect("write");
        for (only, budget) in [
            ("tenant=a", 0),
            ("tenant=a", 4),
            ("tenant=a", 1000),
            ("tenant=b", 1000),
        ] {
            let away = Arc::new(GoesAway {
                lake: LocalSink::new(lake.path()),
                only,
                budget: Arc::new(budget.into()),
            });
            let (mut shipper, _) = test_shipper(data.path(), away, identity.clone(), share.clone());
            match shipper.ship(0, &dir, 0, &path) {
                Err(ShipError::Sink(SinkError::Remote(m))) => {
                    assert_eq!(m, "the store went away", "{only} {budget}")
                }
                other => panic!("{only} {budget}: {other:?}"),
            }
            assert!(path.exists(), "the segment stays ({only} {budget})");
            let files = files_under(lake.path());
            if only == "tenant=a" {
                assert_eq!(files, Vec::<PathBuf>::new(), "{budget}");
            } else {
                assert_eq!(files.len(), 1, "{files:?}");
                let a = files[0].to_string_lossy();
                assert!(a.contains("/tenant=a/") && a.ends_with(".parquet"), "{a}");
            }
        }
        let (mut shipper, _) =
            test_shipper(data.path(), local(lake.path()), identity.clone(), share);
        let out = shipper.ship(0, &dir, 0, &path).expect("ship");
        assert_eq!(out.rows, 400);
        assert_eq!(out.files.len(), 2);
        assert!(
            out.bytes > 2000,
            "the 1000-byte failures came part-way through a file"
        );
        assert_eq!(shipped(lake.path()), pairs(&want));
        assert!(!path.exists());
        assert_eq!(files_under(lake.path()).len(), 2);
    }

    /// A local lake file holds a descriptor from its first byte until it is stored. A segment
    /// of many tenants and hours with no file past a row group stages one file at a time: each
    /// is staged when it is finished (its first byte) and stored at once, so the files a
    /// shipment holds open do not grow with the tenants (`node::lake_files_open`). Two of the
    /// files pass `FLUSH_ROWS`, so their Parquet writers (and page files) exist while the rest
    /// of the segment is read: a writer's start writes nothing to the lake either.
    #[test]
    fn a_segment_of_many_tenants_stages_one_lake_file_at_a_time() {
        let (data, lake, identity) = stores();
        let share = Arc::new(SpoolShare::new(&[0], &[0]));
        let dir = shard0(&data);
        let hour = 3_600_000;
        let mut v = spool::header(0).to_vec();
        let mut want: Vec<(String, u64, usize)> = Vec::new();
        let mut record = |tenant: &str, sid: &str, seq: u64, at: u64, moves: usize| {
            let mut body = Vec::new();
            sentientiq_proto::encode_client(&frames::moves(seq, moves), &mut body);
            spool::encode_kind(spool::KIND_FRAME, at, tenant, sid, seq, &body, &mut v);
            want.push((sid.to_string(), seq, moves));
        };
        // Tenants b0 and b1 first, with 16 000 rows each (past FLUSH_ROWS, below a row group).
        for (b, at) in [("b0", T0), ("b1", T0 + hour)] {
            for seq in 1..=4 {
                record(b, &format!("s{b}"), seq, at, 4000);
            }
        }
        // 150 tenants, each with a frame in two hours: 300 more `events` files.
        let tenants = 150u64;
        for t in 0..tenants {
            for (seq, at) in [(1, T0), (2, T0 + hour)] {
                record(&format!("t{t}"), &format!("s{t}"), seq, at, 2);
            }
        }
        let path = spool::segment_path(&dir, 0);
        std::fs::write(&path, &v).expect("write");
        let counting = Arc::new(Counting {
            lake: LocalSink::new(lake.path()),
            open: Arc::default(),
            peak: Default::default(),
        });
        let (mut shipper, _) = test_shipper(data.path(), counting.clone(), identity, share);
        let out = shipper.ship(0, &dir, 0, &path).expect("ship");
        assert_eq!(out.files.len() as u64, 2 * tenants + 2);
        assert_eq!(
            counting.peak.load(Ordering::Relaxed),
            1,
            "one file at a time"
        );
        assert_eq!(
            counting.open.load(Ordering::Relaxed),
            0,
            "every file stored"
        );
        let mut rows: Vec<(String, u64)> = want
            .iter()
            .flat_map(|(s, q, n)| std::iter::repeat_n((s.clone(), *q), *n))
            .collect();
        rows.sort();
        assert_eq!(shipped(lake.path()), rows);
    }

    /// A data directory that refuses the lake's page spill files (no directory here; a full
    /// disk in life) loses nothing: the pages stay in memory, every row is shipped, and the
    /// bytes kept are counted.
    #[test]
    fn pages_the_data_directory_refuses_stay_in_memory_and_are_counted() {
        use sentientiq_proto::{Batch, ClientFrame, Seq, kind};
        let (data, lake, identity) = stores();
        let share = Arc::new(SpoolShare::new(&[0], &[0]));
        let dir = shard0(&data);
        // 1 500 frames of 20 moves that do not repeat: pages of kilobytes.
        let (frames, per) = (1_500u64, 20);
        let mut v = spool::header(0).to_vec();
        let mut h = 0x9e37_79b9_7f4a_7c15u64;
        for seq in 1..=frames {
            let mut b = Batch {
                seq: Seq(seq),
                t0: T0 + seq * 250,
                ..Batch::default()
            };
            for _ in 0..per {
                h = h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                b.push(
                    kind::MOVE,
                    8_000,
                    ((h >> 33) % 1920) as i32,
                    ((h >> 45) % 1080) as i32,
                    0,
                );
            }
            let mut body = Vec::new();
            sentientiq_proto::encode_client(&ClientFrame::Batch(b), &mut body);
            spool::encode_kind(
                spool::KIND_FRAME,
                T0 + seq,
                "demo",
                "s1",
                seq,
                &body,
                &mut v,
            );
        }
        let path = spool::segment_path(&dir, 0);
        std::fs::write(&path, &v).expect("write");
        let (mut shipper, metrics) = test_shipper(data.path(), local(lake.path()), identity, share);
        shipper.pages = SpillPages::new(data.path().join("missing"));
        let out = shipper.ship(0, &dir, 0, &path).expect("ship");
        shipper.note_spills();
        assert_eq!(out.rows, frames * per as u64);
        assert_eq!(lake_rows(lake.path()).0.len() as u64, frames * per as u64);
        assert!(!path.exists(), "the segment went");
        let kept = metrics.spill_refused_bytes.load(Ordering::Relaxed);
        assert!(kept > 0, "pages were refused and counted");
        assert_eq!(kept, shipper.pages.refused());
        assert_eq!(shipper.pages.spilled(), 0);
    }

    /// Shards rebuild their sessions by reading the spool back from disk at start: until the
    /// last has, a pass ships (and deletes) nothing, then the sealed segment goes.
    #[test]
    fn no_segment_is_shipped_while_a_shard_rebuilds_from_the_spool() {
        let (data, lake, identity) = stores();
        let share = Arc::new(SpoolShare::new(&[1 << 20, 1 << 20], &[0, 0]));
        let (mut shipper, metrics) =
            test_shipper(data.path(), local(lake.path()), identity, share.clone());
        let dir = shard0(&data);
        let mut v = spool::header(0).to_vec();
        spool::encode_kind(spool::KIND_FRAME, T0, "demo", "s1", 1, &frame(1), &mut v);
        let path = spool::segment_path(&dir, 0);
        std::fs::write(&path, &v).expect("write");
        for replaying in [2, 1] {
            assert_eq!(share.replaying.load(Ordering::Acquire), replaying);
            shipper.pass();
            assert!(path.exists(), "{replaying} shards still read the spool");
            assert_eq!(
                metrics.backlog_bytes.load(Ordering::Relaxed),
                (v.len() - spool::HEADER) as u64,
                "the backlog is measured meanwhile, by its records"
            );
            share.replayed();
        }
        assert!(share.all_replayed());
        shipper.pass();
        assert!(!path.exists(), "shipped once every shard has rebuilt");
        assert_eq!(metrics.backlog_bytes.load(Ordering::Relaxed), 0);
        assert_eq!(shipped(lake.path()), pairs(&[("s1", 1)]));
        // One more shard reporting does not wrap the count.
        share.replayed();
        assert!(share.all_replayed());
    }

    /// The segment being written is counted in the backlog by the records its writer wrote, not
    /// by its file, which holds the space reserved for it; a sealed one by its records too.
    #[test]
    fn the_backlog_counts_the_open_segment_by_what_was_written_to_it() {
        let (data, lake, identity) = stores();
        let mut v = spool::header(0).to_vec();
        spool::encode_kind(spool::KIND_FRAME, T0, "demo", "s1", 1, &frame(1), &mut v);
        let sealed = v.len() as u64;
        let open_at = sealed - spool::HEADER as u64;
        let share = Arc::new(SpoolShare::new(&[open_at], &[0]));
        let (mut shipper, metrics) =
            test_shipper(data.path(), local(lake.path()), identity, share.clone());
        let dir = shard0(&data);
        std::fs::write(spool::segment_path(&dir, 0), &v).expect("write");
        // The open segment: a header and 100 bytes written, 1 MiB reserved.
        let open = spool::segment_path(&dir, open_at);
        std::fs::write(&open, vec![0u8; 1 << 20]).expect("write");
        share.open_bytes[0].store(116, Ordering::Release);
        // While a shard replays nothing ships: both are the backlog.
        shipper.pass();
        assert_eq!(metrics.backlog_bytes.load(Ordering::Relaxed), open_at + 100);
        share.replayed();
        shipper.pass();
        assert_eq!(
            metrics.backlog_bytes.load(Ordering::Relaxed),
            100,
            "the sealed one shipped"
        );
        assert!(open.exists(), "the open segment is not touched");
    }

    /// A segment whose seal failed (the committer's truncate did not hold) is below the open
    /// one, so it ships, but its file still holds the space reserved for it, zeros past its
    /// records. The backlog gauge counts it by its records while it waits, and shipping it
    /// takes its records off its shard's spool backlog, not its file's length: the bytes
    /// appended since stay counted, so `spool_max_bytes` still refuses.
    #[test]
    fn a_segment_whose_seal_failed_takes_only_its_records_off_the_backlog() {
        let (data, lake, identity) = stores();
        let mut v = spool::header(0).to_vec();
        spool::encode_kind(spool::KIND_FRAME, T0, "demo", "s1", 1, &frame(1), &mut v);
        // Its records' bytes, as appending them counted them (the header is not counted).
        let records = (v.len() - spool::HEADER) as u64;
        // Appended since into the segment being written, not shipped yet.
        let waiting = 5_000u64;
        let share = Arc::new(SpoolShare::new(&[records], &[records + waiting]));
        let (mut shipper, metrics) =
            test_shipper(data.path(), local(lake.path()), identity, share.clone());
        let dir = shard0(&data);
        let path = spool::segment_path(&dir, 0);
        let mut file = v.clone();
        file.resize(1 << 20, 0);
        std::fs::write(&path, &file).expect("write");
        // While the shard replays it waits: the gauge has its records, not its reservation.
        shipper.pass();
        assert!(path.exists(), "not shipped while the shard replays");
        assert_eq!(metrics.backlog_bytes.load(Ordering::Relaxed), records);
        share.replayed();
        shipper.pass();
        assert!(!path.exists(), "shipped");
        assert_eq!(shipped(lake.path()), pairs(&[("s1", 1)]));
        assert_eq!(
            share.backlog[0].load(Ordering::Acquire),
            waiting,
            "only its records came off"
        );
    }

    /// Each segment counts once in the backlog gauge: a pass that read the segment being written
    /// (and its bytes) just before a rotation, then listed the new segment too, counts the new
    /// one from the next pass, not with the bytes of the one before.
    #[test]
    fn a_segment_made_after_the_pass_read_the_open_one_counts_from_the_next_pass() {
        let data = tempfile::tempdir().expect("tempdir");
        let path = data.path().join("seg");
        std::fs::write(&path, vec![0u8; 4096]).expect("write");
        let meta = std::fs::metadata(&path).expect("meta");
        let header = spool::HEADER as u64;
        // The pass read `active` = 1 000 with 5 016 bytes written to it.
        let (active, open) = (1_000, 5_016);
        assert_eq!(
            waiting_bytes(active, u64::MAX, active, open, Some(&meta)),
            5_000
        );
        assert_eq!(
            waiting_bytes(6_000, u64::MAX, active, open, Some(&meta)),
            0,
            "made since"
        );
        // Sealed below it: by its records, at most up to the next segment.
        assert_eq!(waiting_bytes(0, active, active, open, Some(&meta)), 1_000);
        assert_eq!(
            waiting_bytes(0, 9_000, active, open, Some(&meta)),
            4096 - header
        );
    }

    /// A session's seqs are kept as runs: rising seqs extend the highest run, a gap starts a new
    /// one, and a seq seen before, in any run, is a repeat, whatever came between.
    #[test]
    fn seqs_are_runs_and_repeats_are_found_in_any_of_them() {
        let mut s = Seqs::default();
        let mut repeats = Vec::new();
        for q in [5, 6, 7, 7, 9, 10, 6, 3, 3, 11, 8, 8, 12] {
            if !s.insert(q) {
                repeats.push(q);
            }
        }
        assert_eq!(repeats, [7, 6, 3, 8]);
        assert_eq!(s.runs, [5..=7, 9..=12, 3..=3, 8..=8]);
        let held: Vec<u64> = s.runs.iter().flat_map(|r| r.clone()).collect();
        assert_eq!(held.len(), 9, "every distinct seq once: 3 and 5 to 12");
        // One run for a session whose seqs rise by one, however many.
        let mut s = Seqs::default();
        assert!((1..=10_000).all(|q| s.insert(q)));
        assert_eq!(s.runs, [1..=10_000]);
    }

    #[test]
    fn a_segment_is_shipped_once_its_repeats_skipped_and_unknown_records_kept() {
        let (data, lake, identity) = stores();
        // s2's seq 1 was shipped before (its stored floor).
        identity
            .put_floors(&[("demo", "s2", &[1..=1])], T0)
            .expect("floor");
        let share = Arc::new(SpoolShare::new(&[0], &[0]));
        let (mut shipper, metrics) =
            test_shipper(data.path(), local(lake.path()), identity.clone(), share);
        let dir = shard0(&data);
        let record = |kind, sid, seq, body: &[u8], v: &mut Vec<u8>| {
            spool::encode_kind(kind, T0 + seq, "demo", sid, seq, body, v);
        };
        let mut v = spool::header(0).to_vec();
        record(spool::KIND_FRAME, "s1", 1, &frame(1), &mut v);
        record(spool::KIND_FRAME, "s2", 1, &frame(1), &mut v); // shipped before
        record(spool::KIND_FRAME, "s1", 3, &frame(3), &mut v);
        record(9, "s1", 3, b"{\"future\":true}", &mut v); // a newer binary's kind
        record(spool::KIND_FRAME, "s1", 2, &frame(2), &mut v); // late, not a repeat
        record(spool::KIND_FRAME, "s1", 3, &frame(3), &mut v); // a repeat in the segment
        record(spool::KIND_FRAME, "s2", 2, &frame(2), &mut v);
        let path = spool::segment_path(&dir, 0);
        std::fs::write(&path, &v).expect("write");

        let out = shipper.ship(0, &dir, 0, &path).expect("ship");
        assert_eq!(out.rows, 8);
        assert_eq!(
            shipped(lake.path()),
            pairs(&[("s1", 1), ("s1", 2), ("s1", 3), ("s2", 2)])
        );
        assert_eq!(metrics.duplicate_records.load(Ordering::Relaxed), 2);
        assert!(!path.exists(), "a shipped segment is deleted");
        let kept = std::fs::read(dir.join(format!("unknown-{:020}.seg", 0))).expect("kept");
        let (unknown, _) = spool::decode_segment(&kept);
        assert_eq!(
            unknown
                .iter()
                .map(|r| (r.kind, r.sid.as_str(), r.seq))
                .collect::<Vec<_>>(),
            vec![(9, "s1", 3)]
        );
        let floor = identity.floor("demo", "s1").expect("floor");
        assert!((1..=3).all(|q| floor.contains(q)) && !floor.contains(4));

        // The next segment: s1's seq 3 again (shipped: its floor holds it) and a new seq 4.
        let mut w = spool::header(0).to_vec();
        record(spool::KIND_FRAME, "s1", 3, &frame(3), &mut w);
        record(spool::KIND_FRAME, "s1", 4, &frame(4), &mut w);
        let end = (v.len() - spool::HEADER) as u64;
        let next = spool::segment_path(&dir, end);
        std::fs::write(&next, &w).expect("write");
        shipper.ship(0, &dir, end, &next).expect("ship");
        assert_eq!(
            shipped(lake.path()),
            pairs(&[("s1", 1), ("s1", 2), ("s1", 3), ("s1", 4), ("s2", 2)])
        );
        assert_eq!(metrics.duplicate_records.load(Ordering::Relaxed), 3);

        // A segment that cannot be read is an error (retried later), and nothing is lost.
        let missing = spool::segment_path(&dir, 1 << 40);
        assert!(matches!(
            shipper.ship(0, &dir, 1 << 40, &missing),
            Err(ShipError::Read { .. })
        ));
    }

    #[test]
    fn session_keys_keep_tenant_and_session_apart() {
        let (mut k, mut j) = (Vec::new(), Vec::new());
        session_key("acme", "s_01", &mut k);
        session_key("acm", "es_01", &mut j);
        assert_ne!(k, j);
        session_key("acme", "s_01", &mut j);
        assert_eq!(
            k, j,
            "the same session, the same key (the buffer is reused)"
        );
    }

    #[test]
    fn the_shipper_lowers_only_its_own_threads_priority() -> anyhow::Result<()> {
        let before = rustix::process::getpriority_process(None)?;
        let on_thread = std::thread::spawn(|| {
            lower_priority();
            rustix::process::getpriority_process(None)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread panicked"))??;
        assert_eq!(on_thread, (before + SHIPPER_NICE).min(19));
        assert_eq!(
            rustix::process::getpriority_process(None)?,
            before,
            "the other threads (the shards) keep theirs"
        );
        Ok(())
    }
}
