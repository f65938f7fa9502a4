//! The lake shipper: a thread beside the shards (never on their reactors) that turns sealed
//! spool segments into Parquet files, stores them in the sink, and only then deletes the
//! segment. A failure leaves the segment in place and is retried; a retry rewrites the same keys
//! with the same bytes, so the lake holds every accepted frame exactly once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use sentientiq_lake::{
    ActionRow, ActionsBuilder, DetectionMeta, DetectionRow, DetectionsBuilder, EventsBuilder,
    FileBuilder, LocalSink, Partition, RowMeta, S3Sink, SessionState, Sink, TableBuilder,
    object_key,
};
use sentientiq_proto::{Limits, decode_client};

use crate::config::{Config, TenantLakeSection};
use crate::shard::Node;
use crate::spool;

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
fn finish_all<B: TableBuilder>(
    parts: BTreeMap<Partition, FileBuilder<B>>,
    out: &mut Vec<(&'static str, Partition, usize, Vec<u8>)>,
) -> Result<(), sentientiq_lake::Error> {
    for (p, f) in parts {
        let rows = f.len();
        if let Some(bytes) = f.finish()? {
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

/// Where each tenant's files go: the edge's sink and prefix, or the tenant's own bucket and/or
/// prefix (`[tenant.lake]`, or the control plane's lake destination).
#[derive(Debug, Clone)]
pub struct Destinations {
    default: (Arc<dyn Sink>, String),
    tenants: HashMap<String, (Arc<dyn Sink>, String)>,
    /// The edge's S3 sink when it ships to S3: tenants' own buckets share its client.
    s3: Option<S3Sink>,
}

impl Destinations {
    /// One sink for everything (tests, tools).
    pub fn single(sink: Arc<dyn Sink>, prefix: &str) -> Destinations {
        Destinations {
            default: (sink, prefix.to_string()),
            tenants: HashMap::new(),
            s3: None,
        }
    }

    /// The sinks the configuration names. An S3 client is built once and shared by every
    /// bucket.
    pub fn from_config(cfg: &Config) -> Result<Destinations, ShipError> {
        let l = &cfg.lake;
        let mut d = match &l.s3 {
            Some(s3) if l.sink == "s3" => {
                let opts = s3.options().map_err(|e| ShipError::Config(e.to_string()))?;
                let sink = S3Sink::new(opts)?;
                Destinations {
                    default: (Arc::new(sink.clone()), l.prefix.clone()),
                    tenants: HashMap::new(),
                    s3: Some(sink),
                }
            }
            _ => Destinations::single(Arc::new(LocalSink::new(l.dir.clone())), &l.prefix),
        };
        d.set_tenants(cfg.tenants.iter())?;
        Ok(d)
    }

    /// Replaces the per-tenant destinations with those of `tenants` (the live set, when the
    /// control plane changes it). A bucket needs the edge to ship to S3; the control thread
    /// refuses such a tenant before it gets here ([`lake_usable`]).
    pub fn set_tenants<'a>(
        &mut self,
        tenants: impl Iterator<Item = &'a crate::config::Tenant>,
    ) -> Result<(), ShipError> {
        let mut map = HashMap::new();
        for t in tenants {
            if t.lake == TenantLakeSection::default() {
                continue;
            }
            let own: Arc<dyn Sink> = match (&t.lake.bucket, &self.s3) {
                (Some(b), Some(s3)) => Arc::new(s3.with_bucket(b)?),
                (Some(b), None) => {
                    return Err(ShipError::Config(format!(
                        "tenant `{}`: bucket `{b}` needs lake.sink = \"s3\"",
                        t.id
                    )));
                }
                (None, _) => self.default.0.clone(),
            };
            let prefix = t
                .lake
                .prefix
                .clone()
                .unwrap_or_else(|| self.default.1.clone());
            map.insert(t.id.to_string(), (own, prefix));
        }
        self.tenants = map;
        Ok(())
    }

    /// The sink and key prefix of a tenant's files.
    pub fn of(&self, tenant: &str) -> (&dyn Sink, &str) {
        let (s, p) = self.tenants.get(tenant).unwrap_or(&self.default);
        (s.as_ref(), p.as_str())
    }

    /// For the start-up log line.
    pub fn describe(&self) -> String {
        format!(
            "{:?} (+{} tenant destinations)",
            self.default.0,
            self.tenants.len()
        )
    }
}

/// Whether this edge can ship a tenant's files where the tenant says: a bucket needs an S3
/// sink, and a valid bucket name. `Err` says why not.
pub fn lake_usable(lake: &crate::config::LakeSection, t: &TenantLakeSection) -> Result<(), String> {
    match &t.bucket {
        Some(_) if lake.sink != "s3" => {
            Err("its own lake bucket needs this edge's lake.sink = \"s3\"".into())
        }
        Some(b) if !sentientiq_lake::s3::valid_bucket(b) => {
            Err(format!("lake bucket `{b}` is not a valid S3 bucket name"))
        }
        _ => Ok(()),
    }
}

#[derive(Debug)]
pub struct Shipper {
    node: Arc<Node>,
    dest: Destinations,
    states: HashMap<(String, String), SessionState>,
    /// The tenant directory version `dest` was built for.
    tenants_version: u64,
}

impl Shipper {
    pub fn new(node: Arc<Node>, dest: Destinations) -> Shipper {
        Shipper {
            node,
            dest,
            states: HashMap::new(),
            // `dest` is built for the tenants the edge starts with: the directory's first
            // version. Any change since (the control thread runs already) rebuilds it.
            tenants_version: 0,
        }
    }

    /// Runs until shutdown, polling every `lake.poll_ms`.
    pub fn run(mut self) {
        let poll = Duration::from_millis(self.node.lake.poll_ms);
        while !self.node.shutdown.load(Ordering::Relaxed) {
            self.pass();
            std::thread::sleep(poll);
        }
    }

    /// One pass over every shard directory: ships each sealed segment in LSN order, stopping a
    /// directory at its first failure (so segments are deleted in order).
    pub fn pass(&mut self) {
        // Tenants' destinations follow the live directory (the control plane may change them):
        // files shipped from now on go where the tenant says now.
        let v = self.node.tenants.version();
        if v != self.tenants_version {
            let tenants = self.node.tenants.load();
            match self.dest.set_tenants(tenants.live()) {
                Ok(()) => self.tenants_version = v,
                Err(e) => tracing::error!(error = %e, "lake: tenant destinations not updated"),
            }
        }
        let root = self.node.edge.data_dir.join("spool");
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
                .node
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
                            let m = &self.node.lake_metrics;
                            m.files.fetch_add(s.files.len() as u64, Ordering::Relaxed);
                            m.rows.fetch_add(s.rows, Ordering::Relaxed);
                            m.bytes.fetch_add(s.bytes, Ordering::Relaxed);
                            m.segments.fetch_add(1, Ordering::Relaxed);
                            if let Some(b) = self.node.spool_backlog.get(i) {
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
                            self.node
                                .lake_metrics
                                .errors
                                .fetch_add(1, Ordering::Relaxed);
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
        let m = &self.node.lake_metrics;
        m.backlog_bytes.store(backlog, Ordering::Relaxed);
        let age = oldest
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or(0, |d| d.as_secs());
        m.backlog_age_s.store(age, Ordering::Relaxed);
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
        let (records, valid) = spool::decode_segment(&bytes);
        drop(bytes);
        let end_lsn = first + valid.saturating_sub(spool::HEADER) as u64;
        let node = self.node.clone();
        let (edge, region) = (&node.edge.id, &node.edge.region);
        // Each partition's file is encoded as its rows arrive (FileBuilder), so a segment's rows
        // are never all held as Arrow arrays at once.
        let mut parts: BTreeMap<Partition, FileBuilder<EventsBuilder>> = BTreeMap::new();
        let mut who: HashMap<(String, String), (Option<String>, Option<String>)> = HashMap::new();
        if self.states.len() > MAX_SESSION_STATES {
            self.states.clear();
        }
        let mut dets: BTreeMap<Partition, FileBuilder<DetectionsBuilder>> = BTreeMap::new();
        let mut acts: BTreeMap<Partition, FileBuilder<ActionsBuilder>> = BTreeMap::new();
        for r in &records {
            let meta = DetectionMeta {
                tenant: &r.tenant,
                region,
                edge,
                shard: shard as u16,
                session: &r.sid,
                recv_ms: r.recv_ms,
            };
            if r.kind == spool::KIND_ACTION {
                match serde_json::from_slice::<ActionRow>(&r.frame) {
                    Ok(a) => {
                        let f = acts.entry(Partition::of(&r.tenant, r.recv_ms)).or_default();
                        f.rows().push(&meta, &a);
                        f.flush_if_full()?;
                    }
                    Err(e) => {
                        tracing::error!(tenant = %r.tenant, sid = %r.sid, error = %e, "spooled action does not decode; skipped");
                    }
                }
                continue;
            }
            if r.kind == spool::KIND_DETECTION {
                match serde_json::from_slice::<DetectionRow>(&r.frame) {
                    Ok(d) => {
                        let f = dets.entry(Partition::of(&r.tenant, r.recv_ms)).or_default();
                        f.rows().push(&meta, &d);
                        f.flush_if_full()?;
                    }
                    Err(e) => {
                        tracing::error!(tenant = %r.tenant, sid = %r.sid, error = %e, "spooled detection does not decode; skipped");
                    }
                }
                continue;
            }
            let Ok(frame) = decode_client(&r.frame, &Limits::DEFAULT) else {
                tracing::error!(tenant = %r.tenant, sid = %r.sid, seq = r.seq, "spooled frame does not decode; skipped");
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
                let f = acts.entry(Partition::of(&r.tenant, r.recv_ms)).or_default();
                f.rows().push(&meta, &a);
                f.flush_if_full()?;
            }
            let k = (r.tenant.clone(), r.sid.clone());
            let (user, account) = who
                .entry(k.clone())
                .or_insert_with(|| node.identity.user_and_account(&r.tenant, &r.sid))
                .clone();
            let st = self.states.entry(k).or_default();
            let m = RowMeta {
                tenant: &r.tenant,
                region,
                edge,
                shard: shard as u16,
                session: &r.sid,
                user: user.as_deref(),
                account: account.as_deref(),
                seq: r.seq,
                recv_ms: r.recv_ms,
            };
            let f = parts
                .entry(Partition::of(&r.tenant, r.recv_ms))
                .or_default();
            f.rows().push_frame(&m, &frame, st);
            f.flush_if_full()?;
        }
        let mut out = Shipped::default();
        let mut files = Vec::new();
        finish_all(parts, &mut files)?;
        finish_all(dets, &mut files)?;
        finish_all(acts, &mut files)?;
        for (table, p, rows, file) in files {
            out.rows += rows as u64;
            let (sink, prefix) = self.dest.of(&p.tenant);
            let key = object_key(prefix, table, &p, region, edge, shard, first);
            sink.put(&key, &file)?;
            out.bytes += file.len() as u64;
            out.files.push(key);
        }
        // Every file is stored: the sessions' highest seqs are kept (so a retry of a frame
        // whose record is gone is still recognised) and the segment can go.
        let mut floors: HashMap<(&str, &str), u64> = HashMap::new();
        for r in records.iter().filter(|r| r.kind == spool::KIND_FRAME) {
            let f = floors.entry((&r.tenant, &r.sid)).or_default();
            *f = (*f).max(r.seq);
        }
        let floors: Vec<(&str, &str, u64)> =
            floors.into_iter().map(|((t, s), q)| (t, s, q)).collect();
        if let Err(e) = node.identity.put_floors(&floors, crate::shard::now_ms()) {
            return Err(ShipError::Delete {
                path: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            });
        }
        spool::delete_shipped(dir, path, end_lsn).map_err(|source| ShipError::Delete {
            path: path.display().to_string(),
            source,
        })?;
        Ok(out)
    }
}
