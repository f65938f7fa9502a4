//! The edge's side of the control plane.
//!
//! One thread beside the shards (`control-sync`, a single-threaded tokio runtime; never a
//! shard's reactor) does two things:
//! - **Config.** `WatchConfig` is subscribed at start and stays subscribed: on any break it
//!   reconnects (backoff 100 ms doubling to 5 s) and resumes from the version it has. Each
//!   version is made durable first (accounts and forgotten users in RocksDB, synced; the tenant
//!   set in the last-known-good file) and then swapped into the live tenant directory, so a
//!   change reaches connections within milliseconds of the plane committing it.
//! - **Aggregates.** Shards hand their per-minute windows over every second ([`Reports`]).
//!   Every `report_interval_ms` the windows that changed since their last acknowledgement are
//!   sent as totals; the plane keeps one per (tenant, region, edge, minute), so sending a
//!   window again replaces it with the same or a larger total. What was not acknowledged stays
//!   marked and goes again next time.
//!
//! When the plane is unreachable the edge keeps serving what it has. At start that is the
//! last-known-good file when there is one (so keys revoked before an outage stay revoked), else
//! the tenants of the config file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use sentientiq_core::WindowAgg;
use sentientiq_proto::grpc::{
    AggregateBatch, ConfigUpdate, RegisterEdge, Tenant as PlaneTenant, WindowAggregate,
    edge_sync_client::EdgeSyncClient,
};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::{AccountSection, ControlSection};
use crate::shard::Node;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config version {got} does not follow {have}")]
    Gap { have: u64, got: u64 },
    #[error("last-known-good file {path}: {why}")]
    Lkg { path: String, why: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

// ------------------------------------------------------------------ config versions (pure)

/// The plane's tenant set as of `version`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Synced {
    pub version: u64,
    pub tenants: BTreeMap<String, PlaneTenant>,
}

/// What one applied version changes besides the version.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// The tenant set changed (rebuild the directory).
    pub tenants: bool,
    pub accounts: Vec<sentientiq_proto::grpc::Account>,
    pub deleted_users: Vec<sentientiq_proto::grpc::DeleteUserRequest>,
}

/// Applies updates in order. The parts of a snapshot are held until its last part arrives.
#[derive(Debug, Default)]
pub struct Feed {
    partial: Option<ConfigUpdate>,
}

impl Feed {
    /// `Ok(None)`: a snapshot part was held. `Ok(Some(c))`: `state` moved to the update's
    /// version. `Err(Gap)`: the update does not follow `state` (resume from scratch).
    pub fn push(&mut self, state: &mut Synced, u: ConfigUpdate) -> Result<Option<Changes>, Error> {
        if u.full_snapshot {
            let whole = match self.partial.take() {
                Some(mut p) if p.version == u.version => {
                    p.upserted.extend(u.upserted);
                    p.deleted_tenant_ids.extend(u.deleted_tenant_ids);
                    p.accounts.extend(u.accounts);
                    p.deleted_users.extend(u.deleted_users);
                    p.more = u.more;
                    p
                }
                _ => u,
            };
            if whole.more {
                self.partial = Some(whole);
                return Ok(None);
            }
            state.version = whole.version;
            state.tenants = whole
                .upserted
                .into_iter()
                .map(|t| (t.id.clone(), t))
                .collect();
            return Ok(Some(Changes {
                tenants: true,
                accounts: whole.accounts,
                deleted_users: whole.deleted_users,
            }));
        }
        if self.partial.take().is_some() {
            return Err(Error::Gap {
                have: state.version,
                got: u.version,
            });
        }
        let empty = u.upserted.is_empty()
            && u.deleted_tenant_ids.is_empty()
            && u.accounts.is_empty()
            && u.deleted_users.is_empty();
        if empty && u.version == state.version {
            return Ok(Some(Changes::default()));
        }
        if u.version != state.version + 1 {
            return Err(Error::Gap {
                have: state.version,
                got: u.version,
            });
        }
        let tenants = !u.upserted.is_empty() || !u.deleted_tenant_ids.is_empty();
        for t in u.upserted {
            state.tenants.insert(t.id.clone(), t);
        }
        for id in &u.deleted_tenant_ids {
            state.tenants.remove(id);
        }
        state.version = u.version;
        Ok(Some(Changes {
            tenants,
            accounts: u.accounts,
            deleted_users: u.deleted_users,
        }))
    }
}

/// The edge tenants of a synced set. A tenant the edge cannot use (the plane validates less
/// than the edge does, and cannot know where this edge ships) is reported and, so one bad tenant never blocks the others, replaced by
/// its version in `current` when it has one there (else left out).
pub fn edge_tenants(
    s: &Synced,
    current: Option<&crate::tenants::Tenants>,
    lake: &crate::config::LakeSection,
) -> (Vec<crate::config::Tenant>, Vec<String>) {
    let mut ok = Vec::with_capacity(s.tenants.len());
    let mut bad = Vec::new();
    for t in s.tenants.values() {
        let usable = crate::config::tenant_from_plane(t).and_then(|e| {
            crate::lake::lake_usable(lake, &e.lake)
                .map(|()| e)
                .map_err(crate::config::Error::Invalid)
        });
        match usable {
            Ok(t) => ok.push(t),
            Err(e) => {
                let kept = current.and_then(|c| {
                    c.index_of(&t.id)
                        .filter(|i| !c.is_retired(*i))
                        .map(|i| c.get(i).clone())
                });
                bad.push(format!(
                    "{}: {e} ({})",
                    t.id,
                    if kept.is_some() {
                        "its previous version stays"
                    } else {
                        "not served"
                    }
                ));
                ok.extend(kept);
            }
        }
    }
    (ok, bad)
}

// ------------------------------------------------------------------ last-known-good file

/// File name of the last-known-good tenant set under `data_dir/control/`.
pub const LKG_FILE: &str = "last-known-good.bin";
const LKG_MAGIC: &[u8; 8] = b"SIQLKG\x00\x01";

/// The file's bytes: magic `SIQLKG\0\x01`, CRC-32 (IEEE, u32 LE) of the body, body length
/// (u32 LE), body = a protobuf `ConfigUpdate` {version, full_snapshot = true, upserted = the
/// tenants in id order}.
pub fn encode_lkg(s: &Synced) -> Vec<u8> {
    let body = ConfigUpdate {
        version: s.version,
        full_snapshot: true,
        upserted: s.tenants.values().cloned().collect(),
        ..ConfigUpdate::default()
    }
    .encode_to_vec();
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(LKG_MAGIC);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

pub fn decode_lkg(bytes: &[u8]) -> Result<Synced, String> {
    if bytes.len() < 16 || &bytes[..8] != LKG_MAGIC {
        return Err("not a last-known-good file (magic)".into());
    }
    let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    let body = &bytes[16..];
    if body.len() != len {
        return Err(format!("body is {} bytes, header says {len}", body.len()));
    }
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let u = ConfigUpdate::decode(body).map_err(|e| format!("body: {e}"))?;
    Ok(Synced {
        version: u.version,
        tenants: u.upserted.into_iter().map(|t| (t.id.clone(), t)).collect(),
    })
}

/// Reads `dir/last-known-good.bin`; `Ok(None)` when there is none.
pub fn load_lkg(dir: &Path) -> Result<Option<Synced>, Error> {
    let path = dir.join(LKG_FILE);
    match std::fs::read(&path) {
        Ok(b) => decode_lkg(&b).map(Some).map_err(|why| Error::Lkg {
            path: path.display().to_string(),
            why,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the file durably: temporary file, fsync, rename, fsync of the directory.
pub fn save_lkg(dir: &Path, s: &Synced) -> Result<(), Error> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{LKG_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&encode_lkg(s))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(LKG_FILE))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

// ------------------------------------------------------------------ aggregates

/// Windows kept for reporting at most (oldest minutes dropped first, counted).
pub const MAX_WINDOWS: usize = 100_000;
/// Windows per `AggregateBatch`.
pub const BATCH_WINDOWS: usize = 1_000;
/// Acknowledged windows are forgotten once this many minutes old.
const KEEP_MINUTES: u64 = 120;

#[derive(Debug, Clone, Copy)]
struct Kept {
    w: WindowAgg,
    /// Bumped on every change; an acknowledgement clears `dirty` only for the generation sent.
    generation: u64,
    dirty: bool,
}

/// Every shard's window totals, per (minute, tenant), and which are not yet acknowledged.
#[derive(Debug, Default)]
pub struct Reports {
    inner: Mutex<BTreeMap<(u64, Arc<str>), Kept>>,
    generation: AtomicU64,
    dropped: AtomicU64,
}

/// One window as sent: its key and the generation it had.
#[derive(Debug, Clone)]
pub struct Sent {
    pub tenant: Arc<str>,
    pub minute: u64,
    pub generation: u64,
}

impl Reports {
    /// Adds a shard's drained counts for `tenant` (counts, not totals: they are summed).
    pub fn add(&self, tenant: &Arc<str>, w: &WindowAgg) {
        let g = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        m.entry((w.minute, tenant.clone()))
            .and_modify(|k| {
                k.w.merge(w);
                k.generation = g;
                k.dirty = true;
            })
            .or_insert(Kept {
                w: *w,
                generation: g,
                dirty: true,
            });
        while m.len() > MAX_WINDOWS {
            m.pop_first();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The windows not yet acknowledged, oldest first, at most `max`.
    pub fn pending(&self, max: usize) -> Vec<(Sent, WindowAgg)> {
        let Ok(m) = self.inner.lock() else {
            return Vec::new();
        };
        m.iter()
            .filter(|(_, k)| k.dirty)
            .take(max)
            .map(|((minute, t), k)| {
                (
                    Sent {
                        tenant: t.clone(),
                        minute: *minute,
                        generation: k.generation,
                    },
                    k.w,
                )
            })
            .collect()
    }

    /// How many windows wait for an acknowledgement.
    pub fn pending_len(&self) -> usize {
        self.inner
            .lock()
            .map_or(0, |m| m.values().filter(|k| k.dirty).count())
    }

    /// The plane stored these: clear them unless they changed since they were sent.
    pub fn acked(&self, sent: &[Sent]) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        for s in sent {
            if let Some(k) = m.get_mut(&(s.minute, s.tenant.clone()))
                && k.generation == s.generation
            {
                k.dirty = false;
            }
        }
    }

    /// Forgets acknowledged windows older than two hours before `now_minute`.
    pub fn prune(&self, now_minute: u64) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        let floor = now_minute.saturating_sub(KEEP_MINUTES);
        m.retain(|(minute, _), k| k.dirty || *minute >= floor);
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Windows dropped because `MAX_WINDOWS` were waiting.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The wire form of one window.
pub fn window_message(tenant: &str, region: &str, edge: &str, w: &WindowAgg) -> WindowAggregate {
    WindowAggregate {
        tenant_id: tenant.to_string(),
        region: region.to_string(),
        edge_id: edge.to_string(),
        minute: w.minute as i64,
        active_sessions: w.active_sessions,
        detections: w.detections.to_vec(),
        value_at_risk_cents: w.value_at_risk_cents,
        intensity_milli: w.intensity_milli.to_vec(),
        affected_sessions: w.affected_sessions,
    }
}

// ------------------------------------------------------------------ the thread

/// Health of the link, for `/metrics`.
#[derive(Debug, Default)]
pub struct Status {
    pub connected: std::sync::atomic::AtomicBool,
    pub version: AtomicU64,
    pub applied: AtomicU64,
    pub rejected_tenants: AtomicU64,
    pub reports_acked: AtomicU64,
    pub report_failures: AtomicU64,
}

/// Starts the `control-sync` thread. `synced` is what the edge starts from (the last-known-good
/// file, or empty at version 0).
pub fn spawn(
    node: Arc<Node>,
    cfg: ControlSection,
    dir: PathBuf,
    synced: Synced,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("control-sync".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "control: cannot start its runtime");
                    return;
                }
            };
            rt.block_on(run(node, cfg, dir, synced));
        })
}

fn channel(cfg: &ControlSection) -> Result<Channel, String> {
    let ep = cfg.endpoint.clone().unwrap_or_default();
    let mut e = Endpoint::from_shared(ep.clone())
        .map_err(|e| format!("endpoint `{ep}`: {e}"))?
        .connect_timeout(Duration::from_secs(2))
        // A plane that vanishes without closing (a killed host) is noticed within ~15 s.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    if ep.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        e = e.tls_config(tls).map_err(|e| format!("tls: {e}"))?;
    }
    Ok(e.connect_lazy())
}

fn authed<T>(
    msg: T,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", token.clone());
    r
}

async fn run(node: Arc<Node>, cfg: ControlSection, dir: PathBuf, synced: Synced) {
    let ch = match channel(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "control: not following the control plane");
            return;
        }
    };
    let Ok(token) = format!("Bearer {}", cfg.token.clone().unwrap_or_default()).parse() else {
        tracing::error!("control: the edge token must be printable ASCII");
        return;
    };
    // Followed until the shards have stopped, so their last windows make the last report.
    let shutdown = {
        let node = node.clone();
        async move {
            while !node.shards_stopped.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    tokio::select! {
        () = watch(node.clone(), ch.clone(), &token, dir, synced) => {}
        () = report(node.clone(), ch, &token, Duration::from_millis(cfg.report_interval_ms)) => {}
        () = shutdown => {}
    }
    // A last report on the way out, so the minutes served are not lost with the process.
    if let Some(r) = &node.reports
        && !r.is_empty()
        && let Ok(ch) = channel(&cfg)
    {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            report_once(&node, &mut EdgeSyncClient::new(ch), &token),
        )
        .await;
    }
}

async fn watch(
    node: Arc<Node>,
    ch: Channel,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    dir: PathBuf,
    mut synced: Synced,
) {
    let mut client = EdgeSyncClient::new(ch);
    let mut backoff = Duration::from_millis(100);
    let mut resume = synced.version;
    loop {
        let reg = RegisterEdge {
            edge_id: node.edge.id.clone(),
            region: node.edge.region.clone(),
            resume_from_version: resume,
        };
        match client.watch_config(authed(reg, token)).await {
            Ok(resp) => {
                node.control.connected.store(true, Ordering::Relaxed);
                tracing::info!(from = resume, "control: following the control plane");
                let mut stream = resp.into_inner();
                let mut feed = Feed::default();
                loop {
                    match stream.message().await {
                        Ok(Some(u)) => match feed.push(&mut synced, u) {
                            Ok(None) => {}
                            Ok(Some(c)) => {
                                backoff = Duration::from_millis(100);
                                if let Err(e) = apply(&node, &dir, &synced, c) {
                                    // Not durable: do not move on; resume from what is stored.
                                    tracing::error!(error = %e, "control: applying a version failed");
                                    synced = load_lkg(&dir).ok().flatten().unwrap_or_default();
                                    resume = 0;
                                    break;
                                }
                                resume = synced.version;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "control: resyncing from a snapshot");
                                resume = 0;
                                break;
                            }
                        },
                        Ok(None) => break,
                        Err(s) => {
                            tracing::warn!(code = ?s.code(), message = s.message(), "control: watch broke");
                            break;
                        }
                    }
                }
            }
            Err(s) => {
                tracing::warn!(code = ?s.code(), message = s.message(), "control: cannot watch config");
            }
        }
        node.control.connected.store(false, Ordering::Relaxed);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Makes one version durable, then live.
fn apply(node: &Node, dir: &Path, synced: &Synced, c: Changes) -> Result<(), String> {
    if !c.accounts.is_empty() {
        let mut by_tenant: BTreeMap<&str, Vec<AccountSection>> = BTreeMap::new();
        for a in &c.accounts {
            by_tenant
                .entry(a.tenant_id.as_str())
                .or_default()
                .push(AccountSection {
                    matches: a.r#match.clone(),
                    company: Some(a.company.clone()).filter(|c| !c.is_empty()),
                    value_cents: a.lifetime_value_cents,
                    tier: Some(a.tier.clone()).filter(|t| !t.is_empty()),
                });
        }
        for (t, accounts) in by_tenant {
            node.identity
                .put_accounts(t, &accounts)
                .map_err(|e| format!("accounts of {t}: {e}"))?;
        }
    }
    for d in &c.deleted_users {
        node.identity
            .forget_user(&d.tenant_id, &d.uid)
            .map_err(|e| format!("forgetting a user of {}: {e}", d.tenant_id))?;
    }
    node.identity
        .sync()
        .map_err(|e| format!("syncing the identity store: {e}"))?;
    save_lkg(dir, synced).map_err(|e| e.to_string())?;
    if c.tenants {
        let current = node.tenants.load();
        let (tenants, bad) = edge_tenants(synced, Some(&current), &node.lake);
        for b in &bad {
            tracing::error!(tenant = %b, "control: tenant refused by this edge");
        }
        node.control
            .rejected_tenants
            .fetch_add(bad.len() as u64, Ordering::Relaxed);
        node.tenants.store(current.replaced_by(tenants));
    }
    node.control
        .version
        .store(synced.version, Ordering::Relaxed);
    node.control.applied.fetch_add(1, Ordering::Relaxed);
    tracing::info!(version = synced.version, "control: config version applied");
    Ok(())
}

async fn report(
    node: Arc<Node>,
    ch: Channel,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    every: Duration,
) {
    let mut client = EdgeSyncClient::new(ch);
    loop {
        tokio::time::sleep(every).await;
        if let Err(s) = report_once(&node, &mut client, token).await {
            node.control.report_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(code = ?s.code(), message = s.message(), "control: report not acknowledged (kept for the next one)");
        }
        if let Some(r) = &node.reports {
            r.prune(crate::shard::now_ms() / 60_000);
        }
    }
}

/// The pending windows as `AggregateBatch`es of at most [`BATCH_WINDOWS`] (ids from 1), and
/// what each batch id carries (cleared when its ack comes back).
fn batches(
    pending: &[(Sent, WindowAgg)],
    region: &str,
    edge: &str,
) -> (Vec<AggregateBatch>, BTreeMap<u64, Vec<Sent>>) {
    pending
        .chunks(BATCH_WINDOWS)
        .zip(1u64..)
        .map(|(chunk, id)| {
            let batch = AggregateBatch {
                batch_id: id,
                windows: chunk
                    .iter()
                    .map(|(s, w)| window_message(&s.tenant, region, edge, w))
                    .collect(),
            };
            (batch, (id, chunk.iter().map(|(s, _)| s.clone()).collect()))
        })
        .unzip()
}

/// Sends every pending window (in batches) and marks what the plane acknowledged.
async fn report_once(
    node: &Node,
    client: &mut EdgeSyncClient<Channel>,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
) -> Result<(), tonic::Status> {
    let Some(reports) = &node.reports else {
        return Ok(());
    };
    let pending = reports.pending(MAX_WINDOWS);
    if pending.is_empty() {
        return Ok(());
    }
    let (batches, mut sent) = batches(&pending, &node.edge.region, &node.report_edge_id());
    let n = batches.len();
    let mut acks = client
        .report_aggregates(authed(futures_util::stream::iter(batches), token))
        .await?
        .into_inner();
    while !sent.is_empty()
        && let Some(a) = acks.message().await?
    {
        if let Some(s) = sent.remove(&a.batch_id) {
            reports.acked(&s);
            node.control
                .reports_acked
                .fetch_add(s.len() as u64, Ordering::Relaxed);
        }
    }
    if !sent.is_empty() {
        return Err(tonic::Status::unavailable(format!(
            "{} of {n} batches acknowledged",
            n - sent.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::grpc::{Account, DeleteUserRequest};

    fn t(id: &str, key: &str) -> PlaneTenant {
        PlaneTenant {
            id: id.into(),
            key_hashes: vec![key.into()],
            allowed_origins: vec!["*".into()],
            ..PlaneTenant::default()
        }
    }

    fn snap(version: u64, tenants: Vec<PlaneTenant>, more: bool) -> ConfigUpdate {
        ConfigUpdate {
            version,
            full_snapshot: true,
            upserted: tenants,
            more,
            ..ConfigUpdate::default()
        }
    }

    #[test]
    fn a_snapshot_in_parts_applies_at_its_last_part_then_deltas_follow_in_order() {
        let (mut s, mut f) = (Synced::default(), Feed::default());
        assert_eq!(
            f.push(&mut s, snap(4, vec![t("a", "1")], true))
                .expect("part"),
            None
        );
        assert_eq!(s.version, 0, "nothing applied before the last part");
        let mut last = snap(4, vec![t("b", "2")], false);
        last.accounts.push(Account {
            tenant_id: "a".into(),
            r#match: "u1".into(),
            ..Account::default()
        });
        let c = f.push(&mut s, last).expect("last").expect("applied");
        assert!(c.tenants);
        assert_eq!(c.accounts.len(), 1);
        assert_eq!((s.version, s.tenants.len()), (4, 2));
        let delta = ConfigUpdate {
            version: 5,
            deleted_tenant_ids: vec!["a".into()],
            deleted_users: vec![DeleteUserRequest {
                tenant_id: "b".into(),
                uid: "u9".into(),
            }],
            ..ConfigUpdate::default()
        };
        let c = f.push(&mut s, delta).expect("delta").expect("applied");
        assert!(c.tenants);
        assert_eq!(c.deleted_users.len(), 1);
        assert_eq!(s.tenants.keys().collect::<Vec<_>>(), vec!["b"]);
        // "You are current" at the same version changes nothing.
        let c = f
            .push(
                &mut s,
                ConfigUpdate {
                    version: 5,
                    ..ConfigUpdate::default()
                },
            )
            .expect("current")
            .expect("applied");
        assert_eq!(c, Changes::default());
        assert_eq!(s.version, 5);
    }

    #[test]
    fn a_delta_that_skips_or_repeats_a_version_is_a_gap() {
        let mut s = Synced {
            version: 7,
            ..Synced::default()
        };
        let mut f = Feed::default();
        for v in [6, 7, 9] {
            let u = ConfigUpdate {
                version: v,
                upserted: vec![t("a", "1")],
                ..ConfigUpdate::default()
            };
            assert!(matches!(f.push(&mut s, u), Err(Error::Gap { .. })), "v{v}");
        }
        assert_eq!(s.version, 7);
        assert!(s.tenants.is_empty());
        // A snapshot cut off after a part (its stream broke) then a delta: a gap, and the
        // held part is dropped, not applied later.
        assert_eq!(
            f.push(&mut s, snap(9, vec![t("b", "2")], true))
                .expect("part"),
            None
        );
        let d = ConfigUpdate {
            version: 8,
            upserted: vec![t("c", "3")],
            ..ConfigUpdate::default()
        };
        assert!(matches!(f.push(&mut s, d), Err(Error::Gap { .. })));
        let last = snap(10, vec![t("d", "4")], false);
        f.push(&mut s, last)
            .expect("a new snapshot")
            .expect("applied");
        assert_eq!(s.tenants.keys().collect::<Vec<_>>(), vec!["d"]);
    }

    #[test]
    fn a_tenant_this_edge_refuses_keeps_its_previous_version_and_blocks_no_other() {
        let good = |id: &str| t(id, &"ab".repeat(32));
        let mut s = Synced::default();
        s.tenants.insert("a".into(), good("a"));
        s.tenants.insert("b".into(), good("b"));
        let lake = crate::config::LakeSection::default();
        let (list, bad) = edge_tenants(&s, None, &lake);
        assert_eq!((list.len(), bad.len()), (2, 0));
        let current = crate::tenants::Tenants::new(list);
        // An update the edge cannot use (a key hash that is not hex) for `a`, a new bad `c`.
        let mut broken = good("a");
        broken.key_hashes = vec!["zz".into()];
        s.tenants.insert("a".into(), broken);
        let mut c = good("c");
        c.key_hashes = vec!["zz".into()];
        s.tenants.insert("c".into(), c);
        let (list, bad) = edge_tenants(&s, Some(&current), &lake);
        let ids: Vec<&str> = list.iter().map(|t| &*t.id).collect();
        assert_eq!(ids, vec!["a", "b"], "a as it was, b, and no c");
        assert_eq!(list[0].key_hashes, current.get(0).key_hashes);
        assert_eq!(bad.len(), 2, "{bad:?}");
        // A bucket of its own, on an edge that ships to local disk: b keeps its old version.
        let mut own = good("b");
        own.lake = Some(sentientiq_proto::grpc::LakeDestination {
            bucket: "acme-lake".into(),
            ..Default::default()
        });
        s.tenants.insert("b".into(), own);
        let (list, bad) = edge_tenants(&s, Some(&current), &lake);
        assert_eq!(
            list.iter()
                .find(|t| &*t.id == "b")
                .map(|t| t.lake.bucket.clone()),
            Some(None)
        );
        assert!(
            bad.iter()
                .any(|b| b.starts_with("b: ") && b.contains("lake.sink")),
            "{bad:?}"
        );
        // A prefix only is fine anywhere.
        let mut own = good("b");
        own.lake = Some(sentientiq_proto::grpc::LakeDestination {
            prefix: "tenants/b".into(),
            ..Default::default()
        });
        s.tenants.insert("b".into(), own);
        let (list, _) = edge_tenants(&s, Some(&current), &lake);
        let b = list.iter().find(|t| &*t.id == "b").expect("b");
        assert_eq!(b.lake.prefix.as_deref(), Some("tenants/b"));
    }

    #[test]
    fn the_last_known_good_file_round_trips_and_refuses_damage() {
        let mut s = Synced {
            version: 42,
            ..Synced::default()
        };
        s.tenants.insert("a".into(), t("a", &"ab".repeat(32)));
        let bytes = encode_lkg(&s);
        assert_eq!(decode_lkg(&bytes).expect("decode"), s);
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decode_lkg(&bad).expect_err("crc").contains("checksum"));
        assert!(decode_lkg(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(
            decode_lkg(b"SIQLKG\x00\x02xxxxxxxx").is_err(),
            "other version"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load_lkg(dir.path()).expect("none"), None);
        save_lkg(dir.path(), &s).expect("save");
        assert_eq!(load_lkg(dir.path()).expect("load"), Some(s));
    }

    #[test]
    fn the_last_known_good_format_matches_its_golden_fixture() {
        let mut s = Synced {
            version: 3,
            ..Synced::default()
        };
        let mut a = t(
            "acme",
            "fd201facda5fb5fba65e6c90d80657ff6cbf5fb220890c8f950233a9982e579d",
        );
        a.emit = true;
        s.tenants.insert("acme".into(), a);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lkg-v1.bin");
        if std::env::var_os("SIQ_BLESS").is_some() {
            std::fs::write(path, encode_lkg(&s)).expect("bless");
        }
        let golden = std::fs::read(path).expect("fixture (SIQ_BLESS=1 writes it)");
        assert_eq!(encode_lkg(&s), golden);
        assert_eq!(decode_lkg(&golden).expect("decode"), s);
    }

    proptest::proptest! {
        /// Any bytes: an error or a set, never a panic; a set only from intact bytes.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_lkg(&bytes);
            let mut framed = LKG_MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = decode_lkg(&framed);
        }

        /// Round trip for any tenant ids, keys and version; any single flipped bit is refused.
        #[test]
        fn round_trip_and_every_flipped_bit_is_refused(
            version in 0u64..u64::MAX,
            ids in proptest::collection::btree_set("[a-z0-9_-]{1,12}", 0..5),
            flip in 0usize..4096,
        ) {
            let mut s = Synced { version, ..Synced::default() };
            for id in ids {
                s.tenants.insert(id.clone(), t(&id, &"cd".repeat(32)));
            }
            let bytes = encode_lkg(&s);
            proptest::prop_assert_eq!(decode_lkg(&bytes), Ok(s));
            let mut bad = bytes.clone();
            let bit = flip % (bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            proptest::prop_assert!(decode_lkg(&bad).is_err());
        }
    }

    fn w(minute: u64, active: u64) -> WindowAgg {
        WindowAgg {
            minute,
            active_sessions: active,
            ..WindowAgg::default()
        }
    }

    #[test]
    fn reports_sum_shard_counts_and_an_ack_clears_only_what_did_not_change_since() {
        let r = Reports::default();
        let a: Arc<str> = Arc::from("a");
        r.add(&a, &w(10, 2));
        r.add(&a, &w(10, 3));
        r.add(&a, &w(11, 1));
        let p = r.pending(10);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].1.active_sessions, 5, "two shards' counts summed");
        // Minute 10 changes after it was sent: its ack must not clear it.
        r.add(&a, &w(10, 1));
        r.acked(&p.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>());
        let p = r.pending(10);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].0.minute, p[0].1.active_sessions), (10, 6));
        r.acked(&[p[0].0.clone()]);
        assert!(r.pending(10).is_empty());
        // Acknowledged windows leave after two hours; pending ones never do.
        r.add(&a, &w(12, 1));
        r.prune(12 + KEEP_MINUTES + 5);
        assert_eq!(r.len(), 1);
        assert_eq!(r.pending(10)[0].0.minute, 12);
    }

    #[test]
    fn pending_windows_go_in_batches_of_at_most_batch_windows() {
        let a: Arc<str> = Arc::from("a");
        let pending = |n: usize| -> Vec<(Sent, WindowAgg)> {
            (0..n as u64)
                .map(|m| {
                    let s = Sent {
                        tenant: a.clone(),
                        minute: m,
                        generation: m,
                    };
                    (s, w(m, 1))
                })
                .collect()
        };
        for (n, want) in [
            (0, vec![]),
            (BATCH_WINDOWS - 1, vec![BATCH_WINDOWS - 1]),
            (BATCH_WINDOWS, vec![BATCH_WINDOWS]),
            (BATCH_WINDOWS + 1, vec![BATCH_WINDOWS, 1]),
        ] {
            let (b, sent) = batches(&pending(n), "us-east-1", "e@1");
            assert_eq!(
                b.iter().map(|b| b.windows.len()).collect::<Vec<_>>(),
                want,
                "n = {n}"
            );
            assert_eq!(
                b.iter().map(|b| b.batch_id).collect::<Vec<_>>(),
                sent.keys().copied().collect::<Vec<_>>()
            );
            for b in &b {
                assert_eq!(sent[&b.batch_id].len(), b.windows.len());
                assert!(
                    b.windows
                        .iter()
                        .all(|w| w.region == "us-east-1" && w.edge_id == "e@1")
                );
            }
        }
    }

    #[test]
    fn reports_keep_at_most_max_windows_dropping_the_oldest() {
        let r = Reports::default();
        let a: Arc<str> = Arc::from("a");
        for m in 0..MAX_WINDOWS as u64 - 1 {
            r.add(&a, &w(m, 1));
        }
        assert_eq!((r.len(), r.dropped()), (MAX_WINDOWS - 1, 0), "cap - 1");
        r.add(&a, &w(MAX_WINDOWS as u64 - 1, 1));
        assert_eq!((r.len(), r.dropped()), (MAX_WINDOWS, 0), "at the cap");
        r.add(&a, &w(MAX_WINDOWS as u64, 1));
        assert_eq!((r.len(), r.dropped()), (MAX_WINDOWS, 1), "cap + 1");
        assert_eq!(r.pending(1)[0].0.minute, 1, "minute 0 went first");
    }
}
