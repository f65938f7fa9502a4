//! One shard: the sessions it owns, its spool, and the routing of frames and outputs between
//! connections and owners. All state is owned by the shard's thread (`Rc<RefCell<_>>`, never
//! borrowed across an await); other shards are reached only through the glommio channel mesh,
//! in batches.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use glommio::channels::local_channel::{self, LocalSender};
use sentientiq_core::{AccountCooldowns, ActionKind, Aggregates, Ctx, Output, Session};
use sentientiq_proto::{
    ClientFrame, Det, EdgeFrame, ErrorCode, Iv, Limits, Seq, Sid, Value, Welcome, decode_client,
    edge_to_vec,
};

use crate::bounded::BoundedMap;
use crate::config::EdgeSection;
use crate::identity::IdentityStore;
use crate::metrics::ShardMetrics;
use crate::spool;
use crate::tenants::Directory;

/// What every shard shares, read-only (plus counters each shard writes only for itself).
#[derive(Debug)]
pub struct Node {
    pub edge: EdgeSection,
    pub tenants: Directory,
    pub nshards: usize,
    pub metrics: Vec<Arc<ShardMetrics>>,
    pub identity: Arc<IdentityStore>,
    pub shutdown: Arc<AtomicBool>,
    pub ready: AtomicUsize,
    pub lake: crate::config::LakeSection,
    /// Per shard: the first LSN of the segment its committer writes (segments below it are
    /// sealed and may be shipped). Set before the segment file is created.
    pub active_segment: Vec<std::sync::atomic::AtomicU64>,
    /// Per shard: spool bytes not yet shipped (appends add, the shipper subtracts).
    pub spool_backlog: Vec<std::sync::atomic::AtomicU64>,
    pub lake_metrics: crate::metrics::LakeMetrics,
    /// The control-plane link's state (all zero without `[control]`).
    pub control: crate::control::Status,
    /// Window aggregates waiting to be reported (`None` without a control plane: shards drop
    /// their windows as they close).
    pub reports: Option<crate::control::Reports>,
    /// When this process started (ms): part of the id it reports aggregates under.
    pub boot_ms: u64,
    /// Set once every shard has stopped (their last windows are handed over by then).
    pub shards_stopped: Arc<AtomicBool>,
}

impl Node {
    pub fn all_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) == self.nshards
    }

    /// The edge id aggregates are reported under: `id@boot_ms`. The plane keeps one window per
    /// (tenant, region, edge, minute), so a restarted edge must not overwrite what the previous
    /// process reported for the same minute; with its own id, both are kept and summed.
    pub fn report_edge_id(&self) -> String {
        format!("{}@{}", self.edge.id, self.boot_ms)
    }
}

/// The shard that owns a session: a hash of (tenant, sid).
pub fn owner(tenant: &str, sid: &str, nshards: usize) -> usize {
    // FNV-1a: stable across processes and versions (the spool is re-partitioned with it).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tenant.bytes().chain([0u8]).chain(sid.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % nshards.max(1) as u64) as usize
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A connection, wherever it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub shard: u16,
    pub id: u64,
}

/// What is sent to a connection.
#[derive(Debug)]
pub enum Out {
    Ack(Seq),
    /// An encoded edge frame (welcome, det, iv).
    Frame(Vec<u8>),
    /// A refusal. WebSocket sends it as `err` and, when fatal, closes with its code's close
    /// code; the beacon path answers with its HTTP status (and `Retry-After`).
    Err(sentientiq_proto::Err),
    /// Close with a WebSocket close code.
    Close(u16, String),
}

/// A frame on its way to its owner shard.
#[derive(Debug)]
pub struct Inbound {
    pub conn: ConnRef,
    pub tenant: u32,
    pub sid: Sid,
    pub recv_ms: u64,
    /// The frame's bytes as received (what the spool keeps).
    pub raw: Vec<u8>,
    pub frame: ClientFrame,
}

/// Cross-shard traffic, batched.
#[derive(Debug)]
pub enum Msg {
    In(Vec<Inbound>),
    Out(Vec<(u64, Out)>),
}

#[derive(Debug)]
enum Item {
    In(Box<Inbound>),
    Out(u64, Out),
}

/// Items waiting for one peer, and the doorbell that wakes its flusher.
#[derive(Debug)]
pub struct Outbox {
    items: RefCell<Vec<Item>>,
    bell: LocalSender<()>,
}

type Key = (u32, Sid);

#[derive(Debug)]
struct Sess {
    core: Session,
    durable_high: Seq,
    conn: Option<ConnRef>,
    last_ms: u64,
    /// Rate limit: frame tokens in thousandths, refilled at the tenant's `frames_per_sec`.
    tokens_milli: u64,
    refilled_ms: u64,
    /// Value known before the session identified (from its tombstone).
    known_cents: i64,
    /// The session identified as a user deleted through the control plane (GDPR): from then
    /// on its frames are acknowledged and dropped.
    forgotten: bool,
}

impl Sess {
    fn new(core: Session, now: u64, burst: u32) -> Sess {
        Sess {
            core,
            durable_high: Seq(0),
            conn: None,
            last_ms: now,
            tokens_milli: u64::from(burst) * 1000,
            refilled_ms: now,
            known_cents: 0,
            forgotten: false,
        }
    }

    /// The session's lifetime value as far as the edge knows it.
    fn value_cents(&self) -> i64 {
        self.core.identity().value_cents().max(self.known_cents)
    }

    /// Takes one frame token; `Err(ms)` = empty, with the wait until the next one.
    fn take_token(&mut self, now: u64, per_sec: u32, burst: u32) -> Result<(), u32> {
        let cap = u64::from(burst) * 1000;
        let elapsed = now.saturating_sub(self.refilled_ms);
        self.tokens_milli = (self.tokens_milli + elapsed * u64::from(per_sec)).min(cap);
        self.refilled_ms = now;
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            Ok(())
        } else {
            let missing = 1000 - self.tokens_milli;
            Err(missing.div_ceil(u64::from(per_sec.max(1))).max(1) as u32)
        }
    }
}

/// A user's stored value, read from the identity store after an `id` frame.
#[derive(Debug)]
pub struct Loaded {
    pub tenant: u32,
    pub sid: Sid,
    pub uid: Arc<str>,
    pub value_cents: i64,
}

/// What a shard remembers of a session that left memory.
#[derive(Debug, Clone, Copy)]
struct Tombstone {
    durable_high: Seq,
    value_cents: i64,
}

/// One pending acknowledgement: released when the spool is durable up to `lsn`.
#[derive(Debug)]
struct PendingAck {
    lsn: u64,
    conn: ConnRef,
    key: Key,
    seq: Seq,
    /// When the frame was received (server ms), for `siq_ack_seconds`.
    recv_ms: u64,
}

/// The state of one shard.
#[derive(Debug)]
pub struct Shard {
    pub id: usize,
    pub node: Arc<Node>,
    sessions: HashMap<Key, Sess>,
    conns: HashMap<u64, LocalSender<Out>>,
    next_conn: u64,
    spool_buf: Vec<u8>,
    appended: u64,
    durable: u64,
    pending: VecDeque<PendingAck>,
    spool_bell: Option<LocalSender<()>>,
    accounts: Vec<AccountCooldowns>,
    aggregates: Vec<Aggregates>,
    /// Live sessions per tenant (kept with `sessions`, so the cap check is O(1)).
    per_tenant: Vec<usize>,
    tombstones: BoundedMap<Key, Tombstone>,
    /// (tenant, uid) → the user's stored value (cents), bounded; see `on_profile`.
    profiles: BoundedMap<(u32, Arc<str>), i64>,
    loaded_tx: Option<Rc<LocalSender<Loaded>>>,
    outboxes: Vec<Option<Rc<Outbox>>>,
    scratch: Vec<Output>,
    metrics: Arc<ShardMetrics>,
}

pub type ShardRef = Rc<RefCell<Shard>>;

impl Shard {
    pub fn new(id: usize, node: Arc<Node>, next_lsn: u64) -> Shard {
        let n = node.tenants.load().len();
        let (tombstones_cap, profiles_cap) = (
            node.edge.tombstones_per_shard,
            node.edge.profile_cache_per_shard,
        );
        Shard {
            id,
            metrics: node.metrics[id].clone(),
            node,
            sessions: HashMap::new(),
            conns: HashMap::new(),
            next_conn: 1,
            spool_buf: Vec::new(),
            appended: next_lsn,
            durable: next_lsn,
            pending: VecDeque::new(),
            spool_bell: None,
            accounts: (0..n).map(|_| AccountCooldowns::default()).collect(),
            aggregates: (0..n).map(|_| Aggregates::default()).collect(),
            per_tenant: vec![0; n],
            tombstones: BoundedMap::new(tombstones_cap),
            profiles: BoundedMap::new(profiles_cap),
            loaded_tx: None,
            outboxes: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Hands every window (open ones too: counts, summed downstream) to the reporter, or drops
    /// them when nothing reports. Called every second.
    pub fn publish_aggregates(&mut self) {
        let tenants = self.node.tenants.load();
        for (i, a) in self.aggregates.iter_mut().enumerate() {
            let ws = a.drain_closed(u64::MAX);
            if let (Some(r), Some(t)) = (&self.node.reports, tenants.list.get(i)) {
                for w in &ws {
                    r.add(&t.id, w);
                }
            }
        }
    }

    /// Makes room for per-tenant state of `n` tenants (the directory only grows).
    fn grow(&mut self, n: usize) {
        if self.per_tenant.len() < n {
            self.accounts.resize_with(n, AccountCooldowns::default);
            self.aggregates.resize_with(n, Aggregates::default);
            self.per_tenant.resize(n, 0);
        }
    }

    pub fn metrics(&self) -> &Arc<ShardMetrics> {
        &self.metrics
    }

    /// Rebuilds sessions (dedup, physics, identity) from recovered spool records, in order.
    /// Nothing is emitted and nothing is spooled again.
    pub fn replay(&mut self, records: Vec<spool::Record>) -> usize {
        let mut n = 0;
        let tenants = self.node.tenants.load();
        self.grow(tenants.len());
        for r in records {
            if r.kind != spool::KIND_FRAME {
                continue;
            }
            let Some(t) = tenants.index_of(&r.tenant) else {
                continue;
            };
            let (Ok(sid), Ok(frame)) = (
                Sid::parse(&r.sid),
                decode_client(&r.frame, &Limits::DEFAULT),
            ) else {
                continue;
            };
            let key = (t as u32, sid);
            let tenant = tenants.get(t);
            if !self.sessions.contains_key(&key) {
                self.per_tenant[t] += 1;
            }
            let burst = tenant.frame_burst;
            let sess = self
                .sessions
                .entry(key)
                .or_insert_with(|| Sess::new(Session::anonymous(), r.recv_ms, burst));
            let mut ctx = Ctx {
                now_ms: r.recv_ms,
                tenant: &tenant.policy,
                accounts: &mut AccountCooldowns::default(),
                aggregates: &mut Aggregates::default(),
            };
            self.scratch.clear();
            sess.core.handle_frame(&mut ctx, &frame, &mut self.scratch);
            sess.durable_high = sess.durable_high.max(Seq(r.seq));
            sess.last_ms = r.recv_ms;
            n += 1;
        }
        self.scratch.clear();
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        n
    }

    /// Seeds tombstones from the floors of shipped sessions not rebuilt from the spool.
    pub fn seed_floors(&mut self, floors: Vec<(String, String, u64)>) {
        for (t, s, seq) in floors {
            let (Some(ti), Ok(sid)) = (self.node.tenants.load().index_of(&t), Sid::parse(&s))
            else {
                continue;
            };
            let key = (ti as u32, sid);
            if self.sessions.contains_key(&key) {
                continue;
            }
            self.tombstone(key, Seq(seq), 0);
        }
    }

    /// Remembers a session that left memory (merging with what was already remembered).
    fn tombstone(&mut self, key: Key, durable_high: Seq, value_cents: i64) {
        let t = match self.tombstones.get(&key) {
            Some(p) => Tombstone {
                durable_high: p.durable_high.max(durable_high),
                value_cents: p.value_cents.max(value_cents),
            },
            None => Tombstone {
                durable_high,
                value_cents,
            },
        };
        self.tombstones.insert(key, t);
    }

    pub fn set_outboxes(&mut self, o: Vec<Option<Rc<Outbox>>>) {
        self.outboxes = o;
    }

    pub fn set_loaded_sender(&mut self, tx: LocalSender<Loaded>) {
        self.loaded_tx = Some(Rc::new(tx));
    }

    /// A user's stored value arrived from the identity store: cached, and applied to the
    /// session if it is still bound to that user.
    pub fn on_profile(&mut self, l: Loaded) {
        ShardMetrics::inc(&self.metrics.profiles_loaded);
        let tenant = l.tenant;
        if let Some(s) = self.sessions.get_mut(&(l.tenant, l.sid)) {
            s.core.set_history(&l.uid, l.value_cents);
        }
        self.profiles.insert((tenant, l.uid), l.value_cents);
    }

    pub fn set_spool_bell(&mut self, bell: LocalSender<()>) {
        self.spool_bell = Some(bell);
    }

    pub fn register(&mut self, tx: LocalSender<Out>) -> ConnRef {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(id, tx);
        ConnRef {
            shard: self.id as u16,
            id,
        }
    }

    pub fn unregister(&mut self, id: u64) {
        self.conns.remove(&id);
    }

    /// Sends an output to a connection on this shard or another.
    fn deliver(&mut self, conn: ConnRef, out: Out) {
        if conn.shard as usize == self.id {
            self.deliver_local(conn.id, out);
        } else if let Some(Some(ob)) = self.outboxes.get(conn.shard as usize) {
            push(ob, Item::Out(conn.id, out));
        }
    }

    /// Delivers to a local connection. A connection whose bounded queue is full is a slow
    /// reader: it is told to close instead of growing server memory.
    pub fn deliver_local(&mut self, id: u64, out: Out) {
        let Some(tx) = self.conns.get(&id) else {
            return;
        };
        if tx.try_send(out).is_err() {
            // The queue is full: free one slot's worth by closing the connection.
            self.conns.remove(&id);
        }
    }

    /// Routes a frame to its owner: handled here, or queued for the mesh.
    pub fn route(&mut self, owner: usize, inb: Inbound) {
        if owner == self.id {
            self.handle(inb);
        } else if let Some(Some(ob)) = self.outboxes.get(owner) {
            ShardMetrics::inc(&self.metrics.forwarded);
            push(ob, Item::In(Box::new(inb)));
        }
    }

    /// Handles a batch that arrived over the mesh.
    pub fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::In(v) => {
                for inb in v {
                    self.handle(inb);
                }
            }
            Msg::Out(v) => {
                for (id, out) in v {
                    self.deliver_local(id, out);
                }
            }
        }
    }

    /// The owner's handling of one frame.
    pub fn handle(&mut self, inb: Inbound) {
        let now = now_ms();
        let node = self.node.clone();
        let tenants = node.tenants.load();
        self.grow(tenants.len());
        let tenant = tenants.get(inb.tenant as usize);
        let key: Key = (inb.tenant, inb.sid);
        if !self.sessions.contains_key(&key) && !self.admit(tenant, &key, inb.conn, now) {
            return;
        }
        let Some(sess) = self.sessions.get_mut(&key) else {
            return;
        };
        sess.last_ms = now;
        let mut ctx = Ctx {
            now_ms: now,
            tenant: &tenant.policy,
            accounts: &mut self.accounts[inb.tenant as usize],
            aggregates: &mut self.aggregates[inb.tenant as usize],
        };
        self.scratch.clear();
        if let ClientFrame::Hello(_) = &inb.frame {
            sess.core
                .handle_frame(&mut ctx, &inb.frame, &mut self.scratch);
            sess.conn = Some(inb.conn);
            let w = EdgeFrame::Welcome(Welcome {
                edge: node.edge.id.clone(),
                region: node.edge.region.clone(),
                ack: sess.durable_high,
                flush_ms: tenant.flush_ms,
                max_batch: tenant.max_batch,
                emit: tenant.emit,
            });
            self.deliver(inb.conn, Out::Frame(edge_to_vec(&w)));
            return;
        }
        let Some(seq) = inb.frame.seq() else { return };
        // The connection that sent the latest frame receives the session's outputs.
        sess.conn = Some(inb.conn);
        // A user deleted through the control plane (GDPR): nothing more is kept for them.
        if let ClientFrame::Identify(id) = &inb.frame
            && node.identity.is_forgotten(&tenant.id, &id.uid)
        {
            sess.forgotten = true;
        }
        if sess.forgotten {
            ShardMetrics::inc(&self.metrics.forgotten_dropped);
            self.deliver(inb.conn, Out::Ack(seq));
            return;
        }
        // Do-Not-Track under `dnt = "drop"`: acknowledged (the SDK may forget it) and dropped:
        // nothing is processed, spooled or shipped.
        if tenant.policy.dnt == sentientiq_core::DntPolicy::Drop && sess.core.dnt() {
            ShardMetrics::inc(&self.metrics.dnt_dropped);
            self.deliver(inb.conn, Out::Ack(seq));
            return;
        }
        // Spool headroom: while the lake is behind, new frames are refused (not acked, so the
        // client keeps them) once the shard's unshipped spool passes its share; high-value
        // sessions keep the last 10 %.
        if seq > sess.core.high_seq() {
            let backlog = node.spool_backlog[self.id].load(Ordering::Relaxed);
            let max = node.lake.spool_max_bytes;
            // An `id` frame may be what makes the session high-value, so it may use the reserve
            // too (it is small, and refusing it would keep a $100k user anonymous).
            let high = sess.value_cents() >= tenant.high_value_cents
                || matches!(inb.frame, ClientFrame::Identify(_));
            if backlog >= max || (!high && backlog >= max / 10 * 9) {
                self.refuse(
                    inb.conn,
                    ErrorCode::Overloaded,
                    "the edge's spool is full while the lake catches up; retry later".into(),
                    false,
                    5000,
                );
                return;
            }
        }
        // Only frames beyond what the session holds spend a token: a retry of frames already
        // accepted (a re-sent beacon) is re-acked, not refused.
        let charged = seq > sess.core.high_seq();
        if charged
            && let Err(wait_ms) = sess.take_token(now, tenant.frames_per_sec, tenant.frame_burst)
        {
            // Not accepted, not acked: the client keeps the frame and sends it again later.
            let msg = format!(
                "over {} frames/s for this session; seq {} not accepted",
                tenant.frames_per_sec, seq.0
            );
            self.refuse(inb.conn, ErrorCode::RateLimited, msg, false, wait_ms);
            return;
        }
        let uid_before = match &inb.frame {
            ClientFrame::Identify(_) => sess.core.identity().uid.clone(),
            _ => None,
        };
        let d = sess
            .core
            .handle_frame(&mut ctx, &inb.frame, &mut self.scratch);
        let m = &self.metrics;
        ShardMetrics::add(&m.bytes, inb.raw.len() as u64);
        match d {
            sentientiq_core::Disposition::Accepted => {
                ShardMetrics::inc(&m.frames);
                if let ClientFrame::Batch(b) = &inb.frame {
                    ShardMetrics::add(&m.samples, b.len() as u64);
                }
                self.spool_append(
                    spool::KIND_FRAME,
                    inb.recv_ms,
                    &tenant.id,
                    key.1.as_str(),
                    seq.0,
                    &inb.raw,
                );
            }
            sentientiq_core::Disposition::Duplicate => ShardMetrics::inc(&m.duplicates),
            sentientiq_core::Disposition::Conflict => ShardMetrics::inc(&m.conflicts),
        }
        // The frame's detections and actions go to the spool (for the lake) before its ack is
        // queued, so they are durable together.
        let outputs = std::mem::take(&mut self.scratch);
        for o in &outputs {
            let (kind, at, json) = match o {
                Output::Detection(det) => (
                    spool::KIND_DETECTION,
                    det.at.0,
                    serde_json::to_vec(&detection_row(det)),
                ),
                Output::Action(a) => (
                    spool::KIND_ACTION,
                    seq.0,
                    serde_json::to_vec(&action_row(a, seq.0)),
                ),
            };
            let Ok(json) = json else { continue };
            self.spool_append(kind, now, &tenant.id, key.1.as_str(), at, &json);
        }
        // Acked once everything appended so far (this record included, or the held one) is durable.
        self.pending.push_back(PendingAck {
            lsn: self.appended,
            conn: inb.conn,
            key: key.clone(),
            seq,
            recv_ms: inb.recv_ms,
        });
        // Wake the committer for every pending ack: new records need a write and fdatasync; a
        // duplicate of a durable frame needs only the release (an empty commit).
        if let Some(bell) = &self.spool_bell {
            let _ = bell.try_send(());
        }
        // Only what the core bound is stored: a Do-Not-Track session under the `anonymous`
        // policy keeps no identity, here or in RocksDB.
        if let ClientFrame::Identify(id) = &inb.frame
            && d.is_new()
            && let Some(s) = self.sessions.get_mut(&key)
            && let Some(uid) = s.core.identity().uid.clone()
            && *uid == *id.uid
        {
            s.core
                .set_account(self.node.identity.account_for(&tenant.id, id));
            // A newly bound user: their stored value applies now if cached, else when the
            // identity store answers (off the reactor). A repeated `id` only updates the store
            // (its history already counts this session's purchases).
            let first = uid_before.as_deref() != Some(&*uid);
            if first && let Some(v) = self.profiles.get(&(inb.tenant, uid.clone())) {
                s.core.set_history(&uid, *v);
            }
            let reply = self.loaded_tx.clone().filter(|_| first);
            let (t, sid) = (inb.tenant, key.1.clone());
            self.node
                .identity
                .bind_later(&tenant.id, key.1.as_str(), id, move |before| {
                    if let Some(tx) = reply {
                        let _ = tx.try_send(Loaded {
                            tenant: t,
                            sid,
                            uid,
                            value_cents: before.value_cents(),
                        });
                    }
                });
        }
        // A purchase by a bound user counts toward their stored lifetime value.
        if let ClientFrame::Track(tr) = &inb.frame
            && d.is_new()
            && let Some(s) = self.sessions.get(&key)
            && let Some(uid) = s.core.identity().uid.clone()
            && let Some(cents) = sentientiq_core::identity::purchase_cents(tr)
        {
            self.node.identity.purchase_later(&tenant.id, &uid, cents);
            if let Some(v) = self.profiles.get_mut(&(inb.tenant, uid)) {
                *v = v.saturating_add(cents);
            }
        }
        for o in &outputs {
            match o {
                Output::Detection(det) => {
                    self.metrics.detection(det.emotion);
                    if tenant.emit {
                        let f = EdgeFrame::Det(Det {
                            id: format!("d{}", det.n),
                            e: det
                                .label
                                .as_deref()
                                .unwrap_or(det.emotion.as_str())
                                .to_string(),
                            c: (det.confidence * 1000.0).round() / 1000.0,
                            sec: det.section.as_deref().map(str::to_string),
                            at: det.at,
                        });
                        self.deliver(inb.conn, Out::Frame(edge_to_vec(&f)));
                    }
                }
                Output::Action(a) => match &a.kind {
                    ActionKind::Intervene {
                        kind,
                        variant,
                        payload,
                    } => {
                        ShardMetrics::inc(&self.metrics.interventions);
                        let f = EdgeFrame::Iv(Iv {
                            id: format!("i{}", a.n),
                            kind: kind.to_string(),
                            variant: variant.to_string(),
                            e: a.emotion.as_str().to_string(),
                            payload: Value::clone(payload),
                        });
                        self.deliver(inb.conn, Out::Frame(edge_to_vec(&f)));
                    }
                    ActionKind::Escalate { contacts } => {
                        ShardMetrics::inc(&self.metrics.escalations);
                        tracing::info!(
                            tenant = %tenant.id,
                            rule = %a.rule,
                            emotion = a.emotion.as_str(),
                            confidence = a.confidence,
                            value_usd = a.priority_cents as f64 / 100.0,
                            account = a.account.as_deref().unwrap_or("-"),
                            user = a.uid.as_deref().unwrap_or("-"),
                            contacts = ?contacts.iter().map(|c| &**c).collect::<Vec<_>>(),
                            "escalation"
                        );
                    }
                },
            }
        }
        self.scratch = outputs;
        self.scratch.clear();
    }

    /// Appends one record to the spool buffer; the committer writes and syncs it.
    fn spool_append(
        &mut self,
        kind: u8,
        recv_ms: u64,
        tenant: &str,
        sid: &str,
        seq: u64,
        body: &[u8],
    ) {
        let before = self.spool_buf.len();
        spool::encode_kind(kind, recv_ms, tenant, sid, seq, body, &mut self.spool_buf);
        let n = (self.spool_buf.len() - before) as u64;
        self.appended += n;
        self.node.spool_backlog[self.id].fetch_add(n, Ordering::Relaxed);
        ShardMetrics::add(&self.metrics.spool_bytes, n);
    }

    /// Creates the session for `key`, or refuses it (`false`). At the tenant's per-shard session
    /// limit the lowest-value session goes first: a newcomer worth more than some live session
    /// displaces the cheapest one; a newcomer at or above the tenant's high-value mark is always
    /// admitted (shedding the cheapest session below the mark if there is one); a high-value
    /// session is never shed. A newcomer's value is what its tombstone remembers (a session
    /// that identified earlier and left memory), else 0 until it identifies.
    /// `tenant` is the session's tenant as the caller's directory snapshot has it.
    fn admit(
        &mut self,
        tenant: &crate::config::Tenant,
        key: &Key,
        conn: ConnRef,
        now: u64,
    ) -> bool {
        let tomb = self.tombstones.get(key).copied();
        let value = tomb.map_or(0, |t| t.value_cents);
        if self.per_tenant[key.0 as usize] >= tenant.max_sessions_per_shard {
            let high = value >= tenant.high_value_cents;
            match self.cheapest(key.0, tenant.high_value_cents) {
                Some((victim, v)) if v < value || high => self.shed(&victim),
                _ if high => {} // every live session is high-value: admitted over the limit
                _ => {
                    ShardMetrics::inc(&self.metrics.shed);
                    self.refuse(
                        conn,
                        ErrorCode::Overloaded,
                        "this edge is at its session limit for the tenant".into(),
                        true,
                        5000,
                    );
                    return false;
                }
            }
        }
        let mut sess = Sess::new(Session::anonymous(), now, tenant.frame_burst);
        if let Some(t) = tomb {
            self.tombstones.remove(key);
            sess.core.resume_after(t.durable_high);
            sess.durable_high = t.durable_high;
            sess.known_cents = t.value_cents;
        }
        // The key is copied only when a session is created, not per frame.
        self.sessions.insert(key.clone(), sess);
        self.per_tenant[key.0 as usize] += 1;
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        true
    }

    /// The tenant's lowest-value live session below `high` with no ack pending (a session
    /// waiting for its ack is never dropped), oldest activity first among equals.
    fn cheapest(&self, tenant: u32, high: i64) -> Option<(Key, i64)> {
        let pending: std::collections::HashSet<&Key> =
            self.pending.iter().map(|p| &p.key).collect();
        self.sessions
            .iter()
            .filter(|(k, _)| k.0 == tenant && !pending.contains(k))
            .map(|(k, s)| (k, s.value_cents(), s.last_ms))
            .filter(|(_, v, _)| *v < high)
            .min_by_key(|(_, v, last)| (*v, *last))
            .map(|(k, v, _)| (k.clone(), v))
    }

    /// Sheds a live session: its connection is told `overloaded` (WS 1013, HTTP 503) and the
    /// session leaves memory. Everything it sent that was acked stays in the spool.
    fn shed(&mut self, key: &Key) {
        let Some(conn) = self.remove_session(key) else {
            return;
        };
        ShardMetrics::inc(&self.metrics.shed);
        if let Some(conn) = conn {
            self.refuse(
                conn,
                ErrorCode::Overloaded,
                "shed: this edge is at its session limit; reconnect later".into(),
                true,
                5000,
            );
        }
    }

    /// Answers a frame or session with an error (counted by code).
    fn refuse(&mut self, conn: ConnRef, code: ErrorCode, msg: String, fatal: bool, retry_ms: u32) {
        self.metrics.error(code);
        let e = sentientiq_proto::Err {
            code,
            msg,
            fatal,
            retry_ms: Some(retry_ms),
        };
        self.deliver(conn, Out::Err(e));
    }

    /// Removes a session, leaving a tombstone. Returns its connection, `None` if absent.
    fn remove_session(&mut self, key: &Key) -> Option<Option<ConnRef>> {
        let s = self.sessions.remove(key)?;
        self.per_tenant[key.0 as usize] -= 1;
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        let value = s.value_cents();
        self.tombstone(key.clone(), s.durable_high, value);
        Some(s.conn)
    }

    /// Takes what the committer must write: the buffered records and the LSN they end at.
    pub fn take_spool(&mut self) -> (Vec<u8>, u64) {
        (std::mem::take(&mut self.spool_buf), self.appended)
    }

    /// The spool is durable up to `lsn`: release the acks it covers, one cumulative ack per
    /// (connection, session).
    pub fn durable(&mut self, lsn: u64) {
        self.durable = self.durable.max(lsn);
        let mut acks: Vec<(ConnRef, Key, Seq)> = Vec::new();
        let now = now_ms();
        while self.pending.front().is_some_and(|p| p.lsn <= self.durable) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.metrics.ack_latency(now.saturating_sub(p.recv_ms));
            if let Some(s) = self.sessions.get_mut(&p.key) {
                s.durable_high = s.durable_high.max(p.seq);
            }
            match acks
                .iter_mut()
                .find(|(c, k, _)| *c == p.conn && *k == p.key)
            {
                Some(e) => e.2 = e.2.max(p.seq),
                None => acks.push((p.conn, p.key, p.seq)),
            }
        }
        for (conn, _, seq) in acks {
            ShardMetrics::inc(&self.metrics.acks);
            self.deliver(conn, Out::Ack(seq));
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.spool_buf.is_empty()
    }

    /// Drops sessions idle for longer than `idle_ms` (their records stay in the spool).
    pub fn evict_idle(&mut self, now: u64, idle_ms: u64) {
        let pending: std::collections::HashSet<&Key> =
            self.pending.iter().map(|p| &p.key).collect();
        let before = self.sessions.len();
        let keep: Vec<Key> = self
            .sessions
            .iter()
            .filter(|(k, s)| now.saturating_sub(s.last_ms) > idle_ms && !pending.contains(k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keep {
            self.remove_session(&k);
        }
        if self.sessions.len() != before {
            tracing::debug!(
                shard = self.id,
                evicted = before - self.sessions.len(),
                "idle sessions left memory"
            );
        }
    }

    /// Closes every connection with `code` (shutdown).
    pub fn close_all(&mut self, code: u16, why: &str) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.deliver_local(id, Out::Close(code, why.to_string()));
        }
    }
}

/// A detection as the lake stores it.
fn detection_row(d: &sentientiq_core::Detection) -> sentientiq_lake::DetectionRow {
    let p = &d.physics;
    sentientiq_lake::DetectionRow {
        n: d.n,
        emotion: d.emotion.as_str().to_string(),
        label: d.label.as_deref().map(str::to_string),
        confidence: d.confidence,
        section: d.section.as_deref().map(str::to_string),
        page: d.page.as_deref().map(str::to_string),
        at_seq: d.at.0,
        sample: d.sample,
        client_ms: d.client_ms,
        user: d.uid.as_deref().map(str::to_string),
        account: d.account.as_deref().map(str::to_string),
        value_cents: d.value_cents,
        speed: p.speed,
        accel: p.accel,
        jerk: p.jerk,
        curvature: p.curvature,
        entropy: p.entropy,
        efficiency: p.efficiency,
        dwell_ms: p.dwell_ms,
    }
}

/// An action as the lake stores it.
fn action_row(a: &sentientiq_core::Action, seq: u64) -> sentientiq_lake::ActionRow {
    let s = |v: &Option<Arc<str>>| v.as_deref().map(str::to_string);
    let mut row = sentientiq_lake::ActionRow {
        id: format!("i{}", a.n),
        seq,
        rule: Some(a.rule.to_string()),
        emotion: Some(a.emotion.as_str().to_string()),
        confidence: Some(a.confidence),
        detection: Some(a.detection),
        user: s(&a.uid),
        account: s(&a.account),
        value_cents: Some(a.priority_cents),
        section: s(&a.section),
        ..Default::default()
    };
    match &a.kind {
        ActionKind::Intervene { kind, variant, .. } => {
            row.action = "intervene".into();
            row.kind = Some(kind.to_string());
            row.variant = Some(variant.to_string());
        }
        ActionKind::Escalate { contacts } => {
            row.action = "escalate".into();
            row.contacts = Some(contacts.join(","));
        }
    }
    row
}

fn push(ob: &Outbox, item: Item) {
    let was_empty = {
        let mut v = ob.items.borrow_mut();
        let e = v.is_empty();
        v.push(item);
        e
    };
    if was_empty {
        let _ = ob.bell.try_send(());
    }
}

/// Creates the outbox for one peer and the task that flushes it over the mesh in batches.
pub fn outbox_for(
    peer: usize,
    tx: glommio::channels::shared_channel::ConnectedSender<Msg>,
) -> Rc<Outbox> {
    let (bell, ring) = local_channel::new_bounded::<()>(1);
    let ob = Rc::new(Outbox {
        items: RefCell::new(Vec::new()),
        bell,
    });
    let o = ob.clone();
    glommio::spawn_local(async move {
        while ring.recv().await.is_some() {
            let items = std::mem::take(&mut *o.items.borrow_mut());
            let (mut ins, mut outs) = (Vec::new(), Vec::new());
            for it in items {
                match it {
                    Item::In(i) => ins.push(*i),
                    Item::Out(id, out) => outs.push((id, out)),
                }
            }
            if !ins.is_empty() && tx.send(Msg::In(ins)).await.is_err() {
                tracing::error!(peer, "mesh send failed");
            }
            if !outs.is_empty() && tx.send(Msg::Out(outs)).await.is_err() {
                tracing::error!(peer, "mesh send failed");
            }
        }
    })
    .detach();
    ob
}

/// The shard's spool writer: waits for appends, groups them for `interval`, writes and
/// fdatasyncs, then releases the acks the sync covers. On a write error nothing is acked and
/// the data is retried; the shard reports not ready meanwhile.
pub async fn committer(
    shard: ShardRef,
    dir: PathBuf,
    bell: local_channel::LocalReceiver<()>,
    interval: Duration,
    segment_bytes: u64,
    healthy: Rc<std::cell::Cell<bool>>,
) {
    let (shard_id, node) = {
        let s = shard.borrow();
        (s.id as u32, s.node.clone())
    };
    let max_age = Duration::from_secs(node.lake.max_age_s);
    let active = &node.active_segment[shard_id as usize];
    // (file, first lsn, offset, opened)
    let mut file: Option<(glommio::io::BufferedFile, u64, u64, Instant)> = None;
    let mut retry: Vec<u8> = Vec::new();
    let mut retry_upto = 0u64;
    let mut synced_upto = 0u64;
    loop {
        if retry.is_empty() {
            // Idle: wait for appends, but seal an open segment once it is `max_age` old so
            // the lake gets it without waiting for more traffic.
            let woke = match &file {
                Some((_, _, _, opened)) => {
                    let left = max_age.saturating_sub(opened.elapsed());
                    futures_lite::future::or(async { Some(bell.recv().await) }, async {
                        glommio::timer::sleep(left).await;
                        None
                    })
                    .await
                }
                None => Some(bell.recv().await),
            };
            match woke {
                Some(None) => return,
                Some(Some(())) => {}
                None => {
                    if let Some((f, _, _, _)) = file.take() {
                        if let Err(e) = f.close().await {
                            tracing::error!(error = %e, "closing a spool segment");
                        }
                        // Everything written so far is in sealed segments.
                        active.store(synced_upto, Ordering::Release);
                    }
                    continue;
                }
            }
        }
        glommio::timer::sleep(interval).await;
        let (mut data, upto) = shard.borrow_mut().take_spool();
        if !retry.is_empty() {
            retry.extend_from_slice(&data);
            data = std::mem::take(&mut retry);
        }
        let upto = upto.max(retry_upto);
        if data.is_empty() {
            shard.borrow_mut().durable(upto);
            continue;
        }
        let start_lsn = upto - data.len() as u64;
        let t0 = Instant::now();
        let r: std::io::Result<()> = async {
            let rotate = match &file {
                None => true,
                Some((_, _, off, opened)) => {
                    (*off + data.len() as u64 > segment_bytes || opened.elapsed() >= max_age)
                        && *off > spool::HEADER as u64
                }
            };
            if rotate {
                if let Some((f, _, _, _)) = file.take() {
                    f.close().await?;
                }
                // Published before the file exists: the shipper never touches a segment at or
                // above it, and everything below it is closed.
                active.store(start_lsn, Ordering::Release);
                std::fs::create_dir_all(&dir)?;
                let f =
                    glommio::io::BufferedFile::create(spool::segment_path(&dir, start_lsn)).await?;
                f.write_at(spool::header(shard_id).to_vec(), 0).await?;
                file = Some((f, start_lsn, spool::HEADER as u64, Instant::now()));
            }
            let Some((f, _, off, _)) = file.as_mut() else {
                return Err(std::io::Error::other("no segment"));
            };
            let n = data.len() as u64;
            let written = f.write_at(data.clone(), *off).await?;
            if written as u64 != n {
                return Err(std::io::Error::other("short write to the spool"));
            }
            f.fdatasync().await?;
            *off += n;
            Ok(())
        }
        .await;
        match r {
            Ok(()) => {
                synced_upto = upto;
                healthy.set(true);
                let us = t0.elapsed().as_micros() as u64;
                let mut s = shard.borrow_mut();
                s.metrics().fsync(us);
                s.durable(upto);
            }
            Err(e) => {
                healthy.set(false);
                tracing::error!(error = %e, "spool write failed; nothing is acked until it succeeds");
                file = None;
                retry = data;
                retry_upto = upto;
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
