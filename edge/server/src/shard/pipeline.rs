//! The owner's per-frame pipeline, sans I/O: what a shard decides for every frame of the
//! sessions it owns.
//!
//! ```text
//! pipeline.handle(&env, inbound, &mut effects)     env.now_ms: the server clock
//! pipeline.durable(now_ms, lsn, &mut effects)      the spool is synced up to lsn
//! ```
//! In quinn-proto's shape: state in, effects out. Admission and shedding, the frame rate, the
//! spool headroom, Do-Not-Track and GDPR drops, dedup (the core's), spool records, acks queued
//! behind the LSN they need, identity work, escalations and experiments (the session's arm and
//! outcomes, [`super::experiment`]) all happen here; the glommio shell
//! ([`super::Shard`]) carries the effects out (sockets, the mesh, the committer, RocksDB on the
//! blocking pool). Nothing here reads a clock, touches a socket or a file, or spawns.
//!
//! Records are appended to an in-memory buffer the committer takes ([`Pipeline::take_spool`]);
//! the LSN of a record is the spool's byte count after it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sentientiq_core::identity::AccountInfo;
use sentientiq_core::session::DEDUP_WINDOW;
use sentientiq_core::{
    AccountCooldowns, Action, ActionKind, Aggregates, Ctx, Disposition, DntPolicy, Held, Output,
    Session, WindowAgg,
};
use sentientiq_experiments::ExperimentCounts;
use sentientiq_proto::{
    ClientFrame, Det, EdgeFrame, ErrorCode, Identify, Iv, Limits, Seq, Sid, Value, Welcome,
    decode_client, edge_to_vec,
};
use sentientiq_tenant::Tenant;

#[cfg(test)]
mod tests;

use super::bounded::BoundedMap;
use super::experiment::{AssignmentRecord, Enrolled, Enrolment, Lab};
use super::msg::{ConnRef, Inbound, Out};
use super::rate::TokenBucket;
use crate::storage::spool;
use crate::telemetry::{Dropped, ShardMetrics};
use crate::tenants::Tenants;

/// What the pipeline asks of the identity store, answered from memory (no I/O on the hot path).
pub trait Lookup {
    /// Whether the user was deleted through the control plane (GDPR). Must fail closed.
    fn is_forgotten(&self, tenant: &str, uid: &str) -> bool;
    /// The account directory's entry for the user an `id` frame names.
    fn account_for(&self, tenant: &str, id: &Identify) -> Option<AccountInfo>;
}

/// The world as one frame sees it.
pub struct Env<'a> {
    /// Server time, ms since the Unix epoch.
    pub now_ms: u64,
    pub tenants: &'a Tenants,
    pub edge_id: &'a str,
    pub region: &'a str,
    /// This shard's unshipped spool bytes (appends add to it, the shipper subtracts).
    pub spool_backlog: &'a AtomicU64,
    /// `lake.spool_max_bytes`.
    pub spool_max: u64,
    /// Whether the spool could be written the last time it was tried (a full or failing disk
    /// refuses new frames with `overloaded` until it can).
    pub spool_writable: bool,
    /// New sessions one client address may start per second on this shard, and at once.
    pub new_sessions_per_sec: u32,
    pub new_session_burst: u32,
    pub lookup: &'a dyn Lookup,
    /// Whether detections go to the dashboard's live feed ([`Effect::Detected`]): only when
    /// the edge reports to a plane (otherwise nothing would read them).
    pub live_feed: bool,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("now_ms", &self.now_ms)
            .finish_non_exhaustive()
    }
}

/// What the shell must carry out.
#[derive(Debug)]
pub enum Effect {
    /// Send to a connection, on this shard or another.
    Deliver(ConnRef, Out),
    /// Records were appended or an ack is queued: the committer has work.
    WakeCommitter,
    /// Record a session's binding to a user and update the user's profile (off the reactor).
    /// With `reply`, the user's stored value comes back as [`Loaded`].
    Bind {
        tenant: u32,
        tenant_id: Arc<str>,
        sid: Sid,
        uid: Arc<str>,
        id: Identify,
        reply: bool,
    },
    /// Add a purchase to a user's stored lifetime value.
    Purchase {
        tenant_id: Arc<str>,
        uid: Arc<str>,
        cents: i64,
    },
    /// A person must be told.
    Escalate(Box<crate::alerts::Escalation>),
    /// A session reported the outcome of an intervention a person pushed from an alert's
    /// link page (ids `h…`).
    HumanOutcome {
        iid: String,
        r: sentientiq_proto::OutcomeKind,
    },
    /// A detection, for the dashboard's live feed.
    Detected(Box<sentientiq_proto::grpc::DetectionEvent>),
}

/// A user's stored value, read from the identity store after an `id` frame.
#[derive(Debug)]
pub struct Loaded {
    pub tenant: u32,
    pub sid: Sid,
    pub uid: Arc<str>,
    pub value_cents: i64,
}

type Key = (u32, Sid);

#[derive(Debug)]
struct Sess {
    core: Session,
    durable_high: Seq,
    conn: Option<ConnRef>,
    last_ms: u64,
    rate: TokenBucket,
    /// Value known before the session identified (from its tombstone).
    known_cents: i64,
    /// The session identified as a user deleted through the control plane (GDPR): from then
    /// on its frames are acknowledged and dropped.
    forgotten: bool,
    /// Its arms in the tenant's experiments, sticky for the visit (usually none).
    enrolled: Vec<Enrolment>,
}

impl Sess {
    fn new(core: Session, now: u64, burst: u32) -> Sess {
        Sess {
            core,
            durable_high: Seq(0),
            conn: None,
            last_ms: now,
            rate: TokenBucket::full(now, burst),
            known_cents: 0,
            forgotten: false,
            enrolled: Vec::new(),
        }
    }

    /// The session's lifetime value as far as the edge knows it.
    fn value_cents(&self) -> i64 {
        self.core.identity().value_cents().max(self.known_cents)
    }
}

/// What a shard remembers of a session that left memory: the seqs it held (all durable: a
/// session leaves memory only with no ack pending) and its value.
#[derive(Debug, Clone, Copy)]
struct Tombstone {
    held: Held,
    value_cents: i64,
}

/// One pending acknowledgement: released when the spool is durable up to `lsn`.
#[derive(Debug)]
struct PendingAck {
    lsn: u64,
    conn: ConnRef,
    key: Key,
    /// The frame's own seq.
    seq: Seq,
    /// The session's contiguous held prefix once this frame was taken: durable, with
    /// everything below it, once `lsn` is (records are appended in the order they are taken).
    prefix: Seq,
    /// When the frame was received (server ms), for `siq_ack_seconds`.
    recv_ms: u64,
}

/// The sessions one shard owns, its spool buffer and its pending acks.
#[derive(Debug)]
pub struct Pipeline {
    /// Boxed: a `Sess` is a few KB, and a map holding them inline keeps up to twice their
    /// size in empty slots and moves them all on every resize (heaptrack: 27 MB of map at
    /// 4 000 sessions).
    sessions: HashMap<Key, Box<Sess>>,
    spool_buf: Vec<u8>,
    appended: u64,
    durable: u64,
    pending: VecDeque<PendingAck>,
    accounts: Vec<AccountCooldowns>,
    aggregates: Vec<Aggregates>,
    /// Live sessions per tenant (kept with `sessions`, so the cap check is O(1)).
    per_tenant: Vec<usize>,
    tombstones: BoundedMap<Key, Tombstone>,
    /// (tenant, uid) → the user's stored value (cents), bounded; see `on_profile`.
    profiles: BoundedMap<(u32, Arc<str>), i64>,
    /// Client address → its budget of new sessions, bounded (oldest forgotten first).
    newcomers: BoundedMap<std::net::IpAddr, TokenBucket>,
    scratch: Vec<Output>,
    /// Experiments: the shard's seeded generator and local counts.
    lab: Lab,
    /// Per tenant, this month's events for its quota.
    quota: Vec<QuotaCount>,
    metrics: Arc<ShardMetrics>,
}

/// A tenant's events this month as a shard knows them: everyone else's (this boot's other
/// shards and the plane's other boots, as of the last hand-over) and its own since.
#[derive(Debug, Default, Clone, Copy)]
struct QuotaCount {
    base: u64,
    pending: u64,
}

/// How long a client refused for its tenant's quota is told to wait before trying again.
pub const QUOTA_RETRY_MS: u32 = 60_000;

/// What an experiment made of one of a frame's actions (`n`).
#[derive(Debug)]
struct ExpAction {
    n: u32,
    holdout: bool,
    record: Option<AssignmentRecord>,
}

impl Pipeline {
    /// A shard whose spool continues at `next_lsn`, remembering at most `tombstones` sessions
    /// that left memory and `profiles` users' stored values, and running experiments with
    /// `lab`.
    pub fn new(
        metrics: Arc<ShardMetrics>,
        next_lsn: u64,
        tombstones: usize,
        profiles: usize,
        lab: Lab,
    ) -> Pipeline {
        Pipeline {
            sessions: HashMap::new(),
            spool_buf: Vec::new(),
            appended: next_lsn,
            durable: next_lsn,
            pending: VecDeque::new(),
            accounts: Vec::new(),
            aggregates: Vec::new(),
            per_tenant: Vec::new(),
            quota: Vec::new(),
            tombstones: BoundedMap::new(tombstones),
            profiles: BoundedMap::new(profiles),
            newcomers: BoundedMap::new(tombstones),
            scratch: Vec::new(),
            lab,
            metrics,
        }
    }

    pub fn metrics(&self) -> &Arc<ShardMetrics> {
        &self.metrics
    }

    /// The shard's experiments (counts, for tests and reports).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// Makes room for per-tenant state of `n` tenants (the directory only grows).
    fn grow(&mut self, n: usize) {
        if self.per_tenant.len() < n {
            self.accounts.resize_with(n, AccountCooldowns::default);
            self.aggregates.resize_with(n, Aggregates::default);
            self.per_tenant.resize(n, 0);
            self.quota.resize(n, QuotaCount::default());
        }
    }

    /// Per tenant, the events accepted since the last call (for the edge's quota count).
    pub fn drain_quota(&mut self) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for (i, q) in self.quota.iter_mut().enumerate() {
            if q.pending > 0 {
                out.push((i, std::mem::take(&mut q.pending)));
            }
        }
        out
    }

    /// Everyone else's events of `tenant` this month, as of the last [`Self::drain_quota`].
    pub fn set_quota_base(&mut self, tenant: usize, base: u64) {
        self.grow(tenant + 1);
        self.quota[tenant].base = base;
    }

    /// Every window (open ones too: counts, summed downstream), by tenant index.
    pub fn drain_windows(&mut self) -> Vec<(usize, WindowAgg)> {
        let mut out = Vec::new();
        for (i, a) in self.aggregates.iter_mut().enumerate() {
            out.extend(a.drain_closed(u64::MAX).into_iter().map(|w| (i, w)));
        }
        out
    }

    /// Rebuilds sessions (dedup, physics, identity) from one recovered spool record. Records
    /// come in spool order; call [`Pipeline::replay_done`] after the last. Nothing is emitted
    /// and nothing is spooled again. True when it was a frame of a known session.
    pub fn replay_record(&mut self, tenants: &Tenants, r: spool::RecordRef<'_>) -> bool {
        self.grow(tenants.len());
        if r.kind == spool::KIND_ACTION {
            self.restore_enrolment(tenants, r);
            return false;
        }
        if r.kind != spool::KIND_FRAME {
            return false;
        }
        let Some(t) = tenants.index_of(r.tenant) else {
            return false;
        };
        let (Ok(sid), Ok(frame)) = (Sid::parse(r.sid), decode_client(r.frame, &Limits::DEFAULT))
        else {
            return false;
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
            .or_insert_with(|| Box::new(Sess::new(Session::anonymous(), r.recv_ms, burst)));
        let mut ctx = Ctx {
            now_ms: r.recv_ms,
            tenant: &tenant.policy,
            accounts: &mut AccountCooldowns::default(),
            aggregates: &mut Aggregates::default(),
        };
        self.scratch.clear();
        let d = sess.core.handle_frame(&mut ctx, &frame, &mut self.scratch);
        if d == Disposition::Accepted && !sess.enrolled.is_empty() {
            self.lab
                .outcome(t, tenant, &mut sess.enrolled, &frame, r.recv_ms);
        }
        // Every replayed record is durable: its contiguous part may be acked.
        sess.durable_high = sess.core.held_prefix();
        sess.last_ms = r.recv_ms;
        true
    }

    /// Ends a replay ([`Pipeline::replay_record`]).
    pub fn replay_done(&mut self) {
        self.scratch.clear();
        // The previous boot reported (or lost) these counts; this boot must not report them.
        self.lab.settle();
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
    }

    /// What the shard's experiment counts gained since the last call (see [`Lab::drain`]).
    pub fn drain_experiments(&mut self) -> Vec<(usize, Arc<str>, ExperimentCounts, i64)> {
        self.lab.drain()
    }

    /// Everyone else's counts of a rule (see [`Lab::set_base`]).
    pub fn set_experiment_base(&mut self, tenant: usize, rule: &Arc<str>, c: ExperimentCounts) {
        self.lab.set_base(tenant, rule, c);
    }

    /// A recovered `actions` record: the session's experiment enrolment, if it is one of a rule
    /// with an experiment (see [`Lab::restore`]). Its frames were replayed before it.
    fn restore_enrolment(&mut self, tenants: &Tenants, r: spool::RecordRef<'_>) {
        let (Some(t), Ok(sid)) = (tenants.index_of(r.tenant), Sid::parse(r.sid)) else {
            return;
        };
        let tenant = tenants.get(t);
        if tenant.experiments.is_empty() {
            return;
        }
        let Ok(row) = serde_json::from_slice::<sentientiq_lake::ActionRow>(r.frame) else {
            return;
        };
        let Some(rule) = row
            .rule
            .as_deref()
            .and_then(|id| tenant.experiments.get_key_value(id))
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        let Some(sess) = self.sessions.get_mut(&(t as u32, sid)) else {
            return;
        };
        self.lab
            .restore(t, &rule, &row, &mut sess.enrolled, r.recv_ms);
    }

    /// Seeds tombstones from the floors of shipped sessions (their held sets); a session the
    /// spool rebuilt holds them too.
    pub fn seed_floors(&mut self, tenants: &Tenants, floors: Vec<(String, String, Held)>) {
        for (t, s, held) in floors {
            let (Some(ti), Ok(sid)) = (tenants.index_of(&t), Sid::parse(&s)) else {
                continue;
            };
            let key = (ti as u32, sid);
            if let Some(sess) = self.sessions.get_mut(&key) {
                sess.core.resume_held(held);
                sess.durable_high = sess.durable_high.max(sess.core.held_prefix());
                continue;
            }
            self.tombstone(key, held, 0);
        }
    }

    /// Remembers a session that left memory (merging with what was already remembered).
    fn tombstone(&mut self, key: Key, held: Held, value_cents: i64) {
        let t = match self.tombstones.get(&key) {
            Some(p) => Tombstone {
                held: p.held.merge(held),
                value_cents: p.value_cents.max(value_cents),
            },
            None => Tombstone { held, value_cents },
        };
        self.tombstones.insert(key, t);
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

    /// The owner's handling of one frame.
    pub fn handle(&mut self, env: &Env<'_>, inb: Inbound, fx: &mut Vec<Effect>) {
        ShardMetrics::inc(&self.metrics.handled);
        let now = env.now_ms;
        self.grow(env.tenants.len());
        let tenant = env.tenants.get(inb.tenant as usize);
        let key: Key = (inb.tenant, inb.sid);
        if !self.sessions.contains_key(&key)
            && !self.admit(env, tenant, &key, &inb.frame, inb.conn, inb.peer, fx)
        {
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
        if let ClientFrame::Hello(h) = &inb.frame {
            sess.core
                .handle_frame(&mut ctx, &inb.frame, &mut self.scratch);
            // The client was told (by this edge or another region's) that everything up to its
            // `ack` is durable, and has forgotten it: it is held, never waited for.
            if let Some(a) = h.ack {
                sess.core.resume_after(a);
                sess.durable_high = sess.durable_high.max(a);
            }
            sess.conn = Some(inb.conn);
            let w = EdgeFrame::Welcome(Welcome {
                edge: env.edge_id.to_string(),
                region: env.region.to_string(),
                ack: sess.durable_high,
                flush_ms: tenant.flush_ms,
                max_batch: tenant.max_batch,
                emit: tenant.emit,
            });
            fx.push(Effect::Deliver(inb.conn, Out::Frame(edge_to_vec(&w))));
            return;
        }
        let Some(seq) = inb.frame.seq() else { return };
        // The connection that sent the latest frame receives the session's outputs.
        sess.conn = Some(inb.conn);
        // Beyond the window above the first seq not delivered: not taken until the gap is
        // filled (an ack may only cover what is durable, so frames past a gap wait).
        let prefix = sess.core.held_prefix();
        if seq.0 > prefix.0 + DEDUP_WINDOW {
            let msg = format!(
                "seq {} is more than {DEDUP_WINDOW} ahead of seq {}, the first this session has not delivered; send from there",
                seq.0,
                prefix.0 + 1
            );
            self.refuse(fx, inb.conn, ErrorCode::RateLimited, msg, false, 250);
            return;
        }
        // A user deleted through the control plane (GDPR): nothing more is kept for them.
        if let ClientFrame::Identify(id) = &inb.frame
            && env.lookup.is_forgotten(&tenant.id, &id.uid)
        {
            sess.forgotten = true;
        }
        // Do-Not-Track under `dnt = "drop"`, or a deleted user: acknowledged (the SDK may forget
        // it) and dropped: nothing is processed, spooled or shipped. Taken into the dedup, so
        // its ack waits for everything before it like any other.
        let drop = if sess.forgotten {
            Some(Dropped::ForgottenUser)
        } else if tenant.policy.dnt == DntPolicy::Drop && sess.core.dnt() {
            Some(Dropped::Dnt)
        } else {
            None
        };
        if let Some(why) = drop {
            self.metrics.dropped(why);
            sess.core.hold(&inb.frame);
            let prefix = sess.core.held_prefix();
            self.queue_ack(inb.conn, key, seq, prefix, inb.recv_ms, fx);
            return;
        }
        let held = sess.core.holds(seq);
        // Spool headroom: while the lake is behind, new frames are refused (not acked, so the
        // client keeps them) once the shard's unshipped spool passes its share; high-value
        // sessions keep the last 10 %. While the spool cannot be written at all (a full disk),
        // every new frame is refused.
        if !held {
            let backlog = env.spool_backlog.load(Ordering::Relaxed);
            let max = env.spool_max;
            // An `id` frame may be what makes the session high-value, so it may use the reserve
            // too (it is small, and refusing it would keep a $100k user anonymous).
            let high = sess.value_cents() >= tenant.high_value_cents
                || matches!(inb.frame, ClientFrame::Identify(_));
            let why = if !env.spool_writable {
                Some("the edge cannot write its spool (disk full or failing); retry later")
            } else if backlog >= max || (!high && backlog >= max / 10 * 9) {
                Some("the edge's spool is full while the lake catches up; retry later")
            } else {
                None
            };
            if let Some(why) = why {
                self.refuse(fx, inb.conn, ErrorCode::Overloaded, why.into(), false, 5000);
                return;
            }
        }
        // The tenant's hard monthly quota: a frame that would take the month past it is
        // refused (not acked; the client keeps it), unless the session is high-value or the
        // frame is an `id` (which may make it so). A frame already held is re-acked.
        let samples = match &inb.frame {
            ClientFrame::Batch(b) => Some(b.len() as u64),
            _ => None,
        };
        if !held && tenant.quota.hard.is_some() {
            let events = sentientiq_core::aggregate::billable_events(samples);
            let q = self.quota[inb.tenant as usize];
            let used = q.base.saturating_add(q.pending);
            let high = sess.value_cents() >= tenant.high_value_cents
                || matches!(inb.frame, ClientFrame::Identify(_));
            if !tenant.quota.admits(used, events, high) {
                ShardMetrics::inc(&self.metrics.quota_refused);
                let msg = format!(
                    "tenant {} is past its monthly quota of {} events ({used} counted); seq {} not accepted. Sessions of accounts worth ${} or more are still taken",
                    tenant.id,
                    tenant.quota.hard.unwrap_or(0),
                    seq.0,
                    tenant.high_value_cents / 100
                );
                self.refuse(
                    fx,
                    inb.conn,
                    ErrorCode::RateLimited,
                    msg,
                    false,
                    QUOTA_RETRY_MS,
                );
                return;
            }
        }
        // Only frames the session does not hold spend a token: a retry of frames already
        // accepted (a re-sent beacon) is re-acked, not refused.
        if !held
            && let Err(wait_ms) = sess
                .rate
                .take(now, tenant.frames_per_sec, tenant.frame_burst)
        {
            // Not accepted, not acked: the client keeps the frame and sends it again later.
            let msg = format!(
                "over {} frames/s for this session; seq {} not accepted",
                tenant.frames_per_sec, seq.0
            );
            self.refuse(fx, inb.conn, ErrorCode::RateLimited, msg, false, wait_ms);
            return;
        }
        let uid_before = match &inb.frame {
            ClientFrame::Identify(_) => sess.core.identity().uid.clone(),
            _ => None,
        };
        let d = sess
            .core
            .handle_frame(&mut ctx, &inb.frame, &mut self.scratch);
        let prefix = sess.core.held_prefix();
        let m = &self.metrics;
        ShardMetrics::add(&m.bytes, inb.raw.len() as u64);
        if d == Disposition::Accepted && !sess.enrolled.is_empty() {
            let t = inb.tenant as usize;
            let (label, n) = self
                .lab
                .outcome(t, tenant, &mut sess.enrolled, &inb.frame, now);
            ShardMetrics::add(&self.metrics.experiment_outcomes[label], n as u64);
        }
        match d {
            Disposition::Accepted => {
                ShardMetrics::inc(&m.frames);
                self.aggregates[inb.tenant as usize].accepted(
                    now / 60_000,
                    samples,
                    inb.raw.len() as u64,
                );
                self.quota[inb.tenant as usize].pending +=
                    sentientiq_core::aggregate::billable_events(samples);
                if let ClientFrame::Outcome(o) = &inb.frame
                    && o.iid.starts_with('h')
                {
                    fx.push(Effect::HumanOutcome {
                        iid: o.iid.clone(),
                        r: o.r,
                    });
                }
                if let ClientFrame::Batch(b) = &inb.frame {
                    ShardMetrics::add(&m.samples, b.len() as u64);
                }
                self.spool_append(
                    env,
                    spool::KIND_FRAME,
                    inb.recv_ms,
                    &tenant.id,
                    key.1.as_str(),
                    seq.0,
                    &inb.raw,
                );
            }
            Disposition::Duplicate => ShardMetrics::inc(&m.duplicates),
            Disposition::Conflict => ShardMetrics::inc(&m.conflicts),
            // Checked above: within the window.
            Disposition::Ahead => return,
        }
        // The frame's detections and actions go to the spool (for the lake) before its ack is
        // queued, so they are durable together.
        let mut outputs = std::mem::take(&mut self.scratch);
        let exps = self.experiments(tenant, &key, now, &mut outputs);
        for o in &outputs {
            let (kind, at, json) = match o {
                Output::Detection(det) => (
                    spool::KIND_DETECTION,
                    det.at.0,
                    serde_json::to_vec(&detection_row(det)),
                ),
                Output::Action(a) => {
                    let mut row = action_row(a, seq.0);
                    if let Some(e) = exps.iter().find(|e| e.n == a.n) {
                        if e.holdout {
                            row.action = "holdout".into();
                            row.kind = None;
                            row.variant = None;
                        }
                        row.assignment = e
                            .record
                            .as_ref()
                            .and_then(|r| serde_json::to_string(r).ok());
                    }
                    // Metering: what was decided (a held-out "would have shown" is not shown).
                    match row.action.as_str() {
                        "intervene" => {
                            self.aggregates[inb.tenant as usize].acted(now / 60_000, false)
                        }
                        "escalate" => {
                            self.aggregates[inb.tenant as usize].acted(now / 60_000, true)
                        }
                        _ => {}
                    }
                    (spool::KIND_ACTION, seq.0, serde_json::to_vec(&row))
                }
            };
            match json {
                Ok(json) => {
                    self.spool_append(env, kind, now, &tenant.id, key.1.as_str(), at, &json)
                }
                // A row that cannot be serialised is counted (never expected: the rows are
                // plain structs); the frame itself is kept.
                Err(_) => ShardMetrics::inc(&self.metrics.unserialisable),
            }
        }
        self.queue_ack(inb.conn, key.clone(), seq, prefix, inb.recv_ms, fx);
        self.identity_work(env, tenant, &key, inb.frame, d, uid_before, fx);
        self.answer(
            tenant,
            &key,
            seq,
            inb.recv_ms,
            inb.conn,
            &outputs,
            &exps,
            env.live_feed,
            fx,
        );
        self.scratch = outputs;
        self.scratch.clear();
    }

    /// Interventions of rules with an experiment: the session's arm (assigned at its first),
    /// the variant's intervention in place of the rule's, and which actions are held out
    /// (shown nothing). An action whose experiment enrols nobody (every variant paused) is
    /// removed. Allocates only when a rule with an experiment acted.
    fn experiments(
        &mut self,
        tenant: &Tenant,
        key: &Key,
        now: u64,
        outputs: &mut Vec<Output>,
    ) -> Vec<ExpAction> {
        let mut exps = Vec::new();
        if tenant.experiments.is_empty() {
            return exps;
        }
        let Some(sess) = self.sessions.get_mut(key) else {
            return exps;
        };
        let mut off = Vec::new();
        for o in outputs.iter_mut() {
            let Output::Action(a) = o else { continue };
            if !matches!(a.kind, ActionKind::Intervene { .. }) {
                continue;
            }
            let Some(x) = tenant.experiments.get(&a.rule) else {
                continue;
            };
            let t = key.0 as usize;
            match self.lab.enrol(t, &a.rule, x, &mut sess.enrolled, a.n, now) {
                Enrolled::Variant { iv, record, .. } => {
                    if record.is_some() {
                        ShardMetrics::inc(&self.metrics.experiment_assignments[1]);
                        self.lab.add_value(t, &a.rule, a.priority_cents);
                    }
                    a.kind = ActionKind::Intervene {
                        kind: iv.kind,
                        variant: iv.variant,
                        payload: iv.payload,
                    };
                    exps.push(ExpAction {
                        n: a.n,
                        holdout: false,
                        record,
                    });
                }
                Enrolled::Holdout { record } => {
                    ShardMetrics::inc(&self.metrics.held_out);
                    if record.is_some() {
                        ShardMetrics::inc(&self.metrics.experiment_assignments[0]);
                        self.lab.add_value(t, &a.rule, a.priority_cents);
                    }
                    exps.push(ExpAction {
                        n: a.n,
                        holdout: true,
                        record,
                    });
                }
                Enrolled::Off => off.push(a.n),
            }
        }
        if !off.is_empty() {
            outputs.retain(|o| !matches!(o, Output::Action(a) if off.contains(&a.n)));
        }
        exps
    }

    /// Queues the ack of a frame behind everything appended so far (its record, or the held
    /// one's): released, as the session's durable prefix, once that is synced.
    fn queue_ack(
        &mut self,
        conn: ConnRef,
        key: Key,
        seq: Seq,
        prefix: Seq,
        recv_ms: u64,
        fx: &mut Vec<Effect>,
    ) {
        self.pending.push_back(PendingAck {
            lsn: self.appended,
            conn,
            key,
            seq,
            prefix,
            recv_ms,
        });
        // Wake the committer for every pending ack: new records need a durable write; a
        // duplicate of a durable frame needs only the release (an empty commit).
        fx.push(Effect::WakeCommitter);
    }

    /// Bindings and purchases for the identity store.
    #[allow(clippy::too_many_arguments)]
    fn identity_work(
        &mut self,
        env: &Env<'_>,
        tenant: &Tenant,
        key: &Key,
        frame: ClientFrame,
        d: Disposition,
        uid_before: Option<Arc<str>>,
        fx: &mut Vec<Effect>,
    ) {
        if !d.is_new() {
            return;
        }
        match frame {
            // Only what the core bound is stored: a Do-Not-Track session under the `anonymous`
            // policy keeps no identity, here or in RocksDB.
            ClientFrame::Identify(id) => {
                let Some(s) = self.sessions.get_mut(key) else {
                    return;
                };
                let Some(uid) = s.core.identity().uid.clone() else {
                    return;
                };
                if *uid != *id.uid {
                    return;
                }
                // Answered from memory (the directory is held in RAM).
                s.core.set_account(env.lookup.account_for(&tenant.id, &id));
                // A newly bound user: their stored value applies now if cached, else when the
                // identity store answers (off the reactor). A repeated `id` only updates the
                // store (its history already counts this session's purchases).
                let first = uid_before.as_deref() != Some(&*uid);
                if first && let Some(v) = self.profiles.get(&(key.0, uid.clone())) {
                    s.core.set_history(&uid, *v);
                }
                fx.push(Effect::Bind {
                    tenant: key.0,
                    tenant_id: tenant.id.clone(),
                    sid: key.1.clone(),
                    uid,
                    id,
                    reply: first,
                });
            }
            // A purchase by a bound user counts toward their stored lifetime value.
            ClientFrame::Track(tr) => {
                let Some(s) = self.sessions.get(key) else {
                    return;
                };
                let (Some(uid), Some(cents)) = (
                    s.core.identity().uid.clone(),
                    sentientiq_core::identity::purchase_cents(&tr),
                ) else {
                    return;
                };
                if let Some(v) = self.profiles.get_mut(&(key.0, uid.clone())) {
                    *v = v.saturating_add(cents);
                }
                fx.push(Effect::Purchase {
                    tenant_id: tenant.id.clone(),
                    uid,
                    cents,
                });
            }
            _ => {}
        }
    }

    /// What the live feed shows of `det`: who (the session's identity and value), what, where,
    /// and what its actions did (`exps`: which interventions were held out).
    fn feed_item(
        &self,
        tenant: &Tenant,
        key: &Key,
        recv_ms: u64,
        det: &sentientiq_core::Detection,
        outputs: &[Output],
        exps: &[ExpAction],
    ) -> sentientiq_proto::grpc::DetectionEvent {
        let sess = self.sessions.get(key);
        let id = sess.map(|s| s.core.identity());
        let account = id.and_then(|i| i.account.as_ref());
        let done = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Action(a) if a.detection == det.n => Some(a),
                _ => None,
            })
            .map(|a| match &a.kind {
                ActionKind::Intervene { kind, variant, .. }
                    if exps.iter().any(|e| e.n == a.n && e.holdout) =>
                {
                    format!("held out (would have shown {kind}/{variant})")
                }
                ActionKind::Intervene { kind, variant, .. } => {
                    format!("intervention {kind}/{variant}")
                }
                ActionKind::Escalate { .. } => format!("escalated (rule {})", a.rule),
            })
            .collect();
        sentientiq_proto::grpc::DetectionEvent {
            tenant_id: tenant.id.to_string(),
            sid: key.1.as_str().to_string(),
            uid: det.uid.as_deref().unwrap_or_default().to_string(),
            account: account.map(|a| a.key.to_string()).unwrap_or_default(),
            company: id
                .and_then(|i| {
                    i.company
                        .as_deref()
                        .or(account.and_then(|a| a.company.as_deref()))
                })
                .unwrap_or_default()
                .to_string(),
            value_cents: sess.map_or(0, |s| s.value_cents()),
            emotion: shown_label(det).to_string(),
            confidence: shown_confidence(det),
            section: det.section.as_deref().unwrap_or_default().to_string(),
            page: det.page.as_deref().unwrap_or_default().to_string(),
            at_ms: recv_ms as i64,
            done,
            ..Default::default()
        }
    }

    /// Detections and interventions back to the page; escalations out.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        tenant: &Tenant,
        key: &Key,
        seq: Seq,
        recv_ms: u64,
        conn: ConnRef,
        outputs: &[Output],
        exps: &[ExpAction],
        live_feed: bool,
        fx: &mut Vec<Effect>,
    ) {
        for o in outputs {
            match o {
                Output::Detection(det) => {
                    self.metrics.detection(det.emotion);
                    if live_feed {
                        fx.push(Effect::Detected(Box::new(
                            self.feed_item(tenant, key, recv_ms, det, outputs, exps),
                        )));
                    }
                    if tenant.emit {
                        let f = EdgeFrame::Det(Det {
                            id: format!("d{}", det.n),
                            e: shown_label(det).to_string(),
                            c: shown_confidence(det),
                            sec: det.section.as_deref().map(str::to_string),
                            at: det.at,
                        });
                        fx.push(Effect::Deliver(conn, Out::Frame(edge_to_vec(&f))));
                    }
                }
                Output::Action(a) => match &a.kind {
                    // Held out: nothing is shown (its spooled `holdout` row records that an
                    // intervention would have been).
                    ActionKind::Intervene { .. }
                        if exps.iter().any(|e| e.n == a.n && e.holdout) => {}
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
                        fx.push(Effect::Deliver(conn, Out::Frame(edge_to_vec(&f))));
                    }
                    ActionKind::Escalate { .. } => {
                        ShardMetrics::inc(&self.metrics.escalations);
                        let det = outputs.iter().find_map(|o| match o {
                            Output::Detection(d) if d.n == a.detection => Some(d),
                            _ => None,
                        });
                        fx.push(Effect::Escalate(Box::new(crate::alerts::Escalation {
                            tenant: tenant.id.clone(),
                            sid: key.1.as_str().to_string(),
                            seq: seq.0,
                            n: a.n,
                            rule: a.rule.clone(),
                            account: a.account.clone(),
                            company: self
                                .sessions
                                .get(key)
                                .and_then(|s| s.core.identity().account.as_ref())
                                .and_then(|x| x.company.clone()),
                            uid: a.uid.clone(),
                            value_cents: a.priority_cents,
                            emotion: a.emotion.as_str().to_string(),
                            confidence: a.confidence,
                            section: a.section.clone(),
                            page: det.and_then(|d| d.page.clone()),
                            evidence: det.map_or_else(Vec::new, |d| {
                                crate::alerts::escalation::evidence_lines(
                                    &d.evidence,
                                    d.physics.speed,
                                    d.physics.dwell_ms,
                                )
                            }),
                            at_ms: recv_ms,
                        })));
                    }
                },
            }
        }
    }

    /// Spools a finished alert's lake row under its session (the alerts thread hands it over;
    /// the shipper writes it to the `alerts` table).
    pub fn spool_alert(
        &mut self,
        env: &Env<'_>,
        tenant: &str,
        sid: &str,
        json: &[u8],
        fx: &mut Vec<Effect>,
    ) {
        self.spool_append(env, spool::KIND_ALERT, env.now_ms, tenant, sid, 0, json);
        fx.push(Effect::WakeCommitter);
    }

    /// Sends an encoded edge frame to a session's live connection (an intervention a person
    /// pushed from an alert's link page) and spools its `actions` row; `false` when the session
    /// is not here or has no connection.
    pub fn push_to_session(
        &mut self,
        env: &Env<'_>,
        tenant: &str,
        sid: &str,
        frame: Vec<u8>,
        row: &[u8],
        fx: &mut Vec<Effect>,
    ) -> bool {
        let (Some(t), Ok(sid)) = (env.tenants.index_of(tenant), Sid::parse(sid)) else {
            return false;
        };
        let key = (t as u32, sid);
        let Some(conn) = self.sessions.get(&key).and_then(|s| s.conn) else {
            return false;
        };
        fx.push(Effect::Deliver(conn, Out::Frame(frame)));
        // seq 0: no frame led to it.
        self.spool_append(
            env,
            spool::KIND_ACTION,
            env.now_ms,
            tenant,
            key.1.as_str(),
            0,
            row,
        );
        fx.push(Effect::WakeCommitter);
        true
    }

    /// Appends one record to the spool buffer; the committer writes and syncs it.
    #[allow(clippy::too_many_arguments)]
    fn spool_append(
        &mut self,
        env: &Env<'_>,
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
        env.spool_backlog.fetch_add(n, Ordering::Relaxed);
        ShardMetrics::add(&self.metrics.spool_bytes, n);
    }

    /// Creates the session for `key`, or refuses it (`false`). At the tenant's per-shard session
    /// limit the lowest-value session goes first: a newcomer worth more than some live session
    /// displaces the cheapest one; a newcomer at or above the tenant's high-value mark is always
    /// admitted (shedding the cheapest session below the mark if there is one); a high-value
    /// session is never shed. A newcomer's value is known before it identifies from its
    /// tombstone (a session that identified earlier and left memory) or from the identity hint
    /// in its `hello` (`uid`: the user the SDK believes is signed in), looked up in memory (the
    /// shard's profile cache, the account directory). A brand-new session also spends one of its
    /// client address's new-session tokens, so one address cannot fill the shard.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &mut self,
        env: &Env<'_>,
        tenant: &Tenant,
        key: &Key,
        frame: &ClientFrame,
        conn: ConnRef,
        peer: std::net::IpAddr,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let now = env.now_ms;
        let tomb = self.tombstones.get(key).copied();
        let hinted = match frame {
            ClientFrame::Hello(h) => h
                .uid
                .as_deref()
                .map_or(0, |uid| self.hinted_value(env, tenant, key.0, uid)),
            _ => 0,
        };
        let value = tomb.map_or(0, |t| t.value_cents).max(hinted);
        let high = value >= tenant.high_value_cents;
        // Newcomers per address: a returning session (tombstone) and a high-value one do not
        // spend from it.
        if tomb.is_none() && !high {
            let (rate, burst) = (env.new_sessions_per_sec, env.new_session_burst);
            let ok = match self.newcomers.get_mut(&peer) {
                Some(b) => b.take(now, rate, burst).is_ok(),
                None => {
                    let mut b = TokenBucket::full(now, burst);
                    let ok = b.take(now, rate, burst).is_ok();
                    self.newcomers.insert(peer, b);
                    ok
                }
            };
            if !ok {
                ShardMetrics::inc(&self.metrics.shed);
                self.refuse(
                    fx,
                    conn,
                    ErrorCode::Overloaded,
                    "too many new sessions from this address; retry later".into(),
                    true,
                    5000,
                );
                return false;
            }
        }
        if self.per_tenant[key.0 as usize] >= tenant.max_sessions_per_shard {
            match self.cheapest(key.0, tenant.high_value_cents) {
                Some((victim, v)) if v < value || high => self.shed(&victim, fx),
                _ if high => {} // every live session is high-value: admitted over the limit
                _ => {
                    ShardMetrics::inc(&self.metrics.shed);
                    self.refuse(
                        fx,
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
        sess.known_cents = value;
        if let Some(t) = tomb {
            self.tombstones.remove(key);
            sess.core.resume_held(t.held);
            sess.durable_high = sess.core.held_prefix();
        } else {
            // Metering: a session back from a tombstone is the same session, not a new one.
            self.aggregates[key.0 as usize].session_started(now / 60_000);
        }
        // The key is copied only when a session is created, not per frame.
        self.sessions.insert(key.clone(), Box::new(sess));
        self.per_tenant[key.0 as usize] += 1;
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        true
    }

    /// What the edge already knows a user is worth, from memory only: the shard's cache of
    /// stored values, or the account directory's entry for the uid.
    fn hinted_value(&self, env: &Env<'_>, tenant: &Tenant, t: u32, uid: &str) -> i64 {
        let cached = self
            .profiles
            .get(&(t, Arc::from(uid)))
            .copied()
            .unwrap_or(0);
        let id = Identify {
            seq: Seq(0),
            uid: uid.to_string(),
            email: None,
            traits: Vec::new(),
        };
        let account = env
            .lookup
            .account_for(&tenant.id, &id)
            .map_or(0, |a| a.value_cents);
        cached.max(account)
    }

    /// The tenant's lowest-value live session below `high` with no ack pending (a session
    /// waiting for its ack is never dropped), oldest activity first among equals.
    fn cheapest(&self, tenant: u32, high: i64) -> Option<(Key, i64)> {
        let pending: HashSet<&Key> = self.pending.iter().map(|p| &p.key).collect();
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
    fn shed(&mut self, key: &Key, fx: &mut Vec<Effect>) {
        let Some(conn) = self.remove_session(key) else {
            return;
        };
        ShardMetrics::inc(&self.metrics.shed);
        if let Some(conn) = conn {
            self.refuse(
                fx,
                conn,
                ErrorCode::Overloaded,
                "shed: this edge is at its session limit; reconnect later".into(),
                true,
                5000,
            );
        }
    }

    /// Answers a frame or session with an error (counted by code).
    fn refuse(
        &self,
        fx: &mut Vec<Effect>,
        conn: ConnRef,
        code: ErrorCode,
        msg: String,
        fatal: bool,
        retry_ms: u32,
    ) {
        self.metrics.error(code);
        let e = sentientiq_proto::Err {
            code,
            msg,
            fatal,
            retry_ms: Some(retry_ms),
        };
        fx.push(Effect::Deliver(conn, Out::Err(e)));
    }

    /// Removes a session, leaving a tombstone. Returns its connection, `None` if absent.
    fn remove_session(&mut self, key: &Key) -> Option<Option<ConnRef>> {
        let s = self.sessions.remove(key)?;
        self.per_tenant[key.0 as usize] -= 1;
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        let value = s.value_cents();
        self.tombstone(key.clone(), s.core.held(), value);
        Some(s.conn)
    }

    /// Takes what the committer must write: the buffered records and the LSN they end at.
    pub fn take_spool(&mut self) -> (Vec<u8>, u64) {
        (std::mem::take(&mut self.spool_buf), self.appended)
    }

    /// The spool is durable up to `lsn`: release the acks it covers. One ack per (connection,
    /// session): the session's durable prefix (every seq up to it is durable), and the highest
    /// of this connection's frames released.
    pub fn durable(&mut self, now: u64, lsn: u64, fx: &mut Vec<Effect>) {
        self.durable = self.durable.max(lsn);
        let mut acks: Vec<(ConnRef, Key, Seq, Seq)> = Vec::new();
        while self.pending.front().is_some_and(|p| p.lsn <= self.durable) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.metrics.ack_latency(now.saturating_sub(p.recv_ms));
            let ack = match self.sessions.get_mut(&p.key) {
                Some(s) => {
                    s.durable_high = s.durable_high.max(p.prefix);
                    s.durable_high
                }
                None => p.prefix,
            };
            match acks
                .iter_mut()
                .find(|(c, k, _, _)| *c == p.conn && *k == p.key)
            {
                Some(e) => {
                    e.2 = e.2.max(ack);
                    e.3 = e.3.max(p.seq);
                }
                None => acks.push((p.conn, p.key, ack, p.seq)),
            }
        }
        for (conn, _, ack, upto) in acks {
            ShardMetrics::inc(&self.metrics.acks);
            fx.push(Effect::Deliver(conn, Out::Ack { ack, upto }));
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.spool_buf.is_empty()
    }

    /// Drops sessions idle for longer than `idle_ms` (their records stay in the spool).
    /// Returns how many left memory.
    pub fn evict_idle(&mut self, now: u64, idle_ms: u64) -> usize {
        let pending: HashSet<&Key> = self.pending.iter().map(|p| &p.key).collect();
        let idle: Vec<Key> = self
            .sessions
            .iter()
            .filter(|(k, s)| now.saturating_sub(s.last_ms) > idle_ms && !pending.contains(k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &idle {
            self.remove_session(k);
        }
        idle.len()
    }

    /// Live sessions (tests, tools).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
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
        corroboration: d.corroboration.map(|c| {
            match c {
                sentientiq_core::Corroboration::Dead => "dead",
                sentientiq_core::Corroboration::Error => "error",
                sentientiq_core::Corroboration::Exit => "exit",
            }
            .to_string()
        }),
        escalation_eligible: Some(d.escalation_eligible),
    }
}

/// An action as the lake stores it.
fn action_row(a: &Action, seq: u64) -> sentientiq_lake::ActionRow {
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

/// The name a page (`det.e`) and the live feed show for a detection: the tenant's label for
/// it, else the emotion's.
fn shown_label(det: &sentientiq_core::Detection) -> &str {
    det.label.as_deref().unwrap_or(det.emotion.as_str())
}

/// A detection's confidence as the page and the live feed show it: three decimals.
fn shown_confidence(det: &sentientiq_core::Detection) -> f64 {
    (det.confidence * 1000.0).round() / 1000.0
}
