//! One shard: the sessions it owns ([`pipeline`], pure) and the glommio shell around them —
//! its connections, the mesh to the other shards, the spool writer ([`committer`]), and the
//! identity store's blocking pool. All state is owned by the shard's thread
//! (`Rc<RefCell<_>>`, never borrowed across an await); other shards are reached only through
//! the glommio channel mesh, in batches.

pub mod bounded;
pub mod committer;
pub mod experiment;
pub mod gather;
pub mod mesh;
pub mod msg;

pub mod pipeline;
pub mod rate;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use glommio::channels::local_channel::LocalSender;
use sentientiq_core::identity::AccountInfo;
use sentientiq_proto::Identify;

pub use crate::placement::owner;
pub use msg::{ConnRef, Handoff, Inbound, Msg, Out};
pub use pipeline::{Effect, Env, Loaded, Lookup, Pipeline};

use crate::clock::now_ms;
use crate::node::Node;
use crate::storage::identity::IdentityStore;
use crate::storage::spool;
use crate::telemetry::ShardMetrics;
use experiment::Lab;
use mesh::{Item, Outbox};

impl Lookup for IdentityStore {
    fn is_forgotten(&self, tenant: &str, uid: &str) -> bool {
        IdentityStore::is_forgotten(self, tenant, uid)
    }

    fn account_for(&self, tenant: &str, id: &Identify) -> Option<AccountInfo> {
        IdentityStore::account_for(self, tenant, id)
    }
}

/// The state of one shard.
#[derive(Debug)]
pub struct Shard {
    pub id: usize,
    pub node: Arc<Node>,
    pipeline: Pipeline,
    conns: HashMap<u64, LocalSender<Out>>,
    next_conn: u64,
    spool_bell: Option<LocalSender<()>>,
    loaded_tx: Option<Rc<LocalSender<Loaded>>>,
    outboxes: Vec<Option<Rc<Outbox>>>,
    /// Reused for every frame's effects.
    effects: Vec<Effect>,
}

pub type ShardRef = Rc<RefCell<Shard>>;

impl Shard {
    pub fn new(id: usize, node: Arc<Node>, next_lsn: u64) -> Shard {
        let pipeline = Pipeline::new(
            node.metrics[id].clone(),
            next_lsn,
            node.edge.tombstones_per_shard,
            node.edge.profile_cache_per_shard,
            Lab::new(node.experiment_seed, id as u16),
        );
        Shard {
            id,
            node,
            pipeline,
            conns: HashMap::new(),
            next_conn: 1,
            spool_bell: None,
            loaded_tx: None,
            outboxes: Vec::new(),
            effects: Vec::new(),
        }
    }

    pub fn metrics(&self) -> &Arc<ShardMetrics> {
        self.pipeline.metrics()
    }

    /// Hands every window (open ones too: counts, summed downstream) to the reporter, or drops
    /// them when nothing reports. Called every second.
    ///
    /// Experiments too: what the shard's counts gained goes to the edge's [`Priors`] (and to
    /// the reporter, in this minute's window), and the shard takes back everyone else's counts
    /// of every rule with an experiment, to draw from until the next second.
    ///
    /// And quotas: the events the shard accepted go to the edge's [`Quotas`], and it takes
    /// back everyone's count of the month.
    ///
    /// [`Priors`]: crate::control::Priors
    /// [`Quotas`]: crate::control::Quotas
    pub fn publish_aggregates(&mut self) {
        let windows = self.pipeline.drain_windows();
        let tenants = self.node.tenants.load();
        if let Some(r) = &self.node.reports {
            for (i, w) in &windows {
                if let Some(t) = tenants.list.get(*i) {
                    r.add(&t.id, w);
                }
            }
        }
        let minute = crate::clock::now_ms() / 60_000;
        for (i, rule, d, value) in self.pipeline.drain_experiments() {
            let Some(t) = tenants.list.get(i) else {
                continue;
            };
            self.node.priors.add(&t.id, &rule, &d);
            if let Some(r) = &self.node.reports {
                r.add_experiment(&t.id, &rule, minute, &d, value);
            }
        }
        // Quotas: this shard's events since its last hand-over go to the edge's count, and it
        // takes back everyone's, for each tenant with a hard limit.
        let month = sentientiq_proto::month_of_day((minute / 1440) as i64);
        for (i, n) in self.pipeline.drain_quota() {
            if let Some(t) = tenants.list.get(i) {
                self.node.quotas.add(&t.id, month, n);
            }
        }
        for (i, t) in tenants.list.iter().enumerate() {
            if t.quota.hard.is_some() {
                let used = self.node.quotas.view(&t.id, month);
                self.pipeline.set_quota_base(i, used);
            }
            for rule in t.experiments.keys() {
                let base = self.node.priors.view(&t.id, rule);
                self.pipeline.set_experiment_base(i, rule, base);
            }
        }
    }

    /// Rebuilds sessions from the recovered spool (nothing emitted or spooled again), reading
    /// this shard's records back from disk. Returns the frames replayed.
    pub fn replay(&mut self, from: &spool::Replay) -> std::io::Result<usize> {
        let tenants = self.node.tenants.load();
        let mut n = 0;
        let pipeline = &mut self.pipeline;
        let read = from.read(self.id, self.node.nshards, &mut |rec| {
            if pipeline.replay_record(&tenants, rec) {
                n += 1;
            }
        });
        pipeline.replay_done();
        read.map(|_| n)
    }

    /// Seeds tombstones from the floors of shipped sessions.
    pub fn seed_floors(&mut self, floors: Vec<(String, String, sentientiq_core::Held)>) {
        let tenants = self.node.tenants.load();
        self.pipeline.seed_floors(&tenants, floors);
    }

    pub fn set_outboxes(&mut self, o: Vec<Option<Rc<Outbox>>>) {
        self.outboxes = o;
    }

    pub fn set_loaded_sender(&mut self, tx: LocalSender<Loaded>) {
        self.loaded_tx = Some(Rc::new(tx));
    }

    pub fn on_profile(&mut self, l: Loaded) {
        self.pipeline.on_profile(l);
    }

    pub fn set_spool_bell(&mut self, bell: LocalSender<()>) {
        self.spool_bell = Some(bell);
    }

    /// Closes the spool writer's bell: it writes what is buffered, seals its segment and stops
    /// ([`committer::committer`]). At a stop, once no new records come.
    pub fn stop_spool(&mut self) {
        self.spool_bell = None;
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
            mesh::push(ob, Item::Out(conn.id, out));
        }
    }

    /// Delivers to a local connection. A connection whose bounded queue is full is a slow
    /// reader: it is told to close instead of growing server memory.
    pub fn deliver_local(&mut self, id: u64, out: Out) {
        let Some(tx) = self.conns.get(&id) else {
            return;
        };
        if !msg::offer(tx, out) {
            // The queue is full: free one slot's worth by closing the connection.
            self.conns.remove(&id);
        }
    }

    /// Routes a frame to its owner: handled here, or queued for the mesh.
    pub fn route(&mut self, owner: usize, inb: Inbound) {
        if owner == self.id {
            self.handle(inb);
        } else if let Some(Some(ob)) = self.outboxes.get(owner) {
            ShardMetrics::inc(&self.metrics().forwarded);
            mesh::push(ob, Item::In(Box::new(inb)));
        }
    }

    /// Whether frames and connections can reach shard `peer` over the mesh.
    pub fn reaches(&self, peer: usize) -> bool {
        matches!(self.outboxes.get(peer), Some(Some(_)))
    }

    /// Gives a WebSocket connection to `owner`, the shard that owns its session (see
    /// [`Shard::reaches`]); without a way there the connection closes, before any ack.
    pub fn hand_over(&mut self, owner: usize, h: Handoff) {
        if let Some(Some(ob)) = self.outboxes.get(owner) {
            ShardMetrics::inc(&self.metrics().handed_over);
            mesh::push(ob, Item::Conn(Box::new(h)));
        }
    }

    /// Handles a batch that arrived over the mesh. Connections handed to this shard are
    /// returned for the caller to serve.
    pub fn on_msg(&mut self, m: Msg) -> Vec<Handoff> {
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
            Msg::Conn(v) => return v,
        }
        Vec::new()
    }

    /// The owner's handling of one frame: the pipeline decides, the shell carries it out.
    pub fn handle(&mut self, inb: Inbound) {
        self.with_env(|p, env, fx| p.handle(env, inb, fx));
    }

    /// Runs `f` on the pipeline with the current environment, then carries out its effects.
    fn with_env<R>(&mut self, f: impl FnOnce(&mut Pipeline, &Env<'_>, &mut Vec<Effect>) -> R) -> R {
        let node = self.node.clone();
        let tenants = node.tenants.load();
        let env = Env {
            now_ms: now_ms(),
            tenants: &tenants,
            edge_id: &node.edge.id,
            region: &node.edge.region,
            spool_backlog: &node.spool.backlog[self.id],
            spool_max: node.lake.spool_max_bytes,
            spool_writable: node.spool.writable[self.id].load(std::sync::atomic::Ordering::Relaxed),
            new_sessions_per_sec: node.edge.new_sessions_per_address_per_sec,
            new_session_burst: node.edge.new_session_burst_per_address,
            lookup: &*node.identity,
            live_feed: node.reports.is_some(),
        };
        let mut fx = std::mem::take(&mut self.effects);
        let r = f(&mut self.pipeline, &env, &mut fx);
        self.apply(&mut fx);
        self.effects = fx;
        r
    }

    /// What the alerts thread asked of this shard: lake rows of finished alerts to spool,
    /// interventions to push to live sessions.
    pub fn alert_work(&mut self) {
        let Some(h) = self.node.alerts.clone() else {
            return;
        };
        for w in h.take_work(self.id) {
            match w {
                crate::alerts::ShardWork::Row { tenant, sid, json } => {
                    self.with_env(|p, env, fx| p.spool_alert(env, &tenant, &sid, &json, fx));
                }
                crate::alerts::ShardWork::Intervene {
                    tenant,
                    sid,
                    frame,
                    row,
                    reply,
                } => {
                    let live = self.with_env(|p, env, fx| {
                        p.push_to_session(env, &tenant, &sid, frame, &row, fx)
                    });
                    let _ = reply.send(live);
                }
            }
        }
    }

    /// Carries out effects, leaving `fx` empty.
    fn apply(&mut self, fx: &mut Vec<Effect>) {
        for e in fx.drain(..) {
            match e {
                Effect::Deliver(conn, out) => self.deliver(conn, out),
                Effect::WakeCommitter => {
                    if let Some(bell) = &self.spool_bell {
                        let _ = bell.try_send(());
                    }
                }
                Effect::Bind {
                    tenant,
                    tenant_id,
                    sid,
                    uid,
                    id,
                    reply,
                } => {
                    let reply = self.loaded_tx.clone().filter(|_| reply);
                    let sid_str = sid.as_str().to_string();
                    self.node
                        .identity
                        .bind_later(&tenant_id, &sid_str, &id, move |before| {
                            if let Some(tx) = reply {
                                let _ = tx.try_send(Loaded {
                                    tenant,
                                    sid,
                                    uid,
                                    value_cents: before.value_cents(),
                                });
                            }
                        });
                }
                Effect::Purchase {
                    tenant_id,
                    uid,
                    cents,
                } => self.node.identity.purchase_later(&tenant_id, &uid, cents),
                Effect::Escalate(e) => {
                    tracing::info!(
                        tenant = %e.tenant,
                        rule = %e.rule,
                        emotion = %e.emotion,
                        confidence = e.confidence,
                        value_usd = e.value_cents as f64 / 100.0,
                        account = e.account.as_deref().unwrap_or("-"),
                        user = e.uid.as_deref().unwrap_or("-"),
                        "escalation"
                    );
                    if let Some(h) = &self.node.alerts {
                        h.escalate(*e);
                    }
                }
                Effect::HumanOutcome { iid, r } => {
                    if let Some(h) = &self.node.alerts {
                        h.outcome(&iid, r);
                    }
                }
                Effect::Detected(d) => {
                    if let Some(r) = &self.node.reports {
                        r.add_detection(*d);
                    }
                }
            }
        }
    }

    /// Takes what the committer must write: the buffered records and the LSN they end at.
    pub fn take_spool(&mut self) -> (Vec<u8>, u64) {
        self.pipeline.take_spool()
    }

    /// The spool is durable up to `lsn`: release the acks it covers.
    pub fn durable(&mut self, lsn: u64) {
        let mut fx = std::mem::take(&mut self.effects);
        self.pipeline.durable(now_ms(), lsn, &mut fx);
        self.apply(&mut fx);
        self.effects = fx;
    }

    pub fn has_pending(&self) -> bool {
        self.pipeline.has_pending()
    }

    /// Drops sessions idle for longer than `idle_ms` (their records stay in the spool).
    pub fn evict_idle(&mut self, now: u64, idle_ms: u64) {
        let evicted = self.pipeline.evict_idle(now, idle_ms);
        if evicted > 0 {
            tracing::debug!(shard = self.id, evicted, "idle sessions left memory");
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
