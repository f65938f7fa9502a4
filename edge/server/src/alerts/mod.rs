//! Alert delivery on the edge: when a rule escalates, the right people are paged through the
//! tenant's channels, with a one-click link to act.
//!
//! The decisions are `sentientiq_alerts`' (a pure escalation state machine per alert, pure
//! vendor request builders and classifiers); this module is the shell around them:
//!
//! - **Shards → alerts thread.** A shard hands each escalation over as an [`Escalation`]
//!   (plain values, a channel send: the shard never waits). One thread, `alerts`, runs a
//!   single-threaded tokio runtime with the crate's `Runner` (one HTTP lane per destination, so
//!   a slow vendor delays only itself).
//! - **Durable before the first send.** The runner stores an alert's state in RocksDB
//!   (`data_dir/alerts`, WAL synced) before any of its messages leaves; at start every stored
//!   alert that had not finished is restored (attempts in flight are looked up or resent with
//!   the same id). An alert's id is a function of the escalation ([`Escalation::alert_id`]), and
//!   the escalation is also in the spool (an `actions` row, durable with its frame's ack): at
//!   start, escalations in the spool that no stored alert took are paged ([`recover`]).
//! - **The link page** is served by every shard's HTTP listener (`GET`/`POST /a/{token}`,
//!   [`page`]): the token is verified with the link key (`data_dir/alerts/link.key`), the page
//!   reads the alert from [`store::Views`], and its buttons become runner commands or an
//!   intervention routed to the shard that owns the customer's session.
//! - **Records.** A finished alert becomes a row of the lake's `alerts` table, spooled by the
//!   shard that owns its session; alert state goes to the control plane as it changes
//!   ([`report`]), and acknowledgements given there come back.

pub mod escalation;
mod metrics;
pub mod page;
pub mod recover;
pub mod report;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentientiq_alerts::book::Detected;
use sentientiq_alerts::channels::{Lookup, Outcome};
use sentientiq_alerts::link::{Action, Claims, LinkError, LinkKey, Links};
use sentientiq_alerts::shell::lanes::Answer;
use sentientiq_alerts::shell::{Command, Event, HttpConfig, HttpSender, Runner, RunnerConfig};
use sentientiq_alerts::{AlertId, Chain, Effect};
use sentientiq_proto::OutcomeKind;
use tokio::sync::{mpsc, oneshot};

pub use escalation::Escalation;
pub use metrics::AlertMetrics;
use store::{RocksStore, Views};

use crate::config::{AlertsSection, ControlSection};
use crate::tenants::Directory;

/// Bytes of the link key (HMAC-SHA256): 32, the hash's size.
pub const LINK_KEY_BYTES: usize = 32;

/// What the alerts thread is told.
#[derive(Debug)]
pub enum Work {
    Escalate(Escalation),
    /// From the link page or the control plane.
    Command(Command),
}

/// What a shard is asked to do for the alerts thread (drained every tick).
#[derive(Debug)]
pub enum ShardWork {
    /// Spool a finished alert's lake row (kind `spool::KIND_ALERT`) under its session.
    Row {
        tenant: String,
        sid: String,
        json: Vec<u8>,
    },
    /// Push an `iv` to a live session; `reply` says whether the session had a connection.
    Intervene {
        tenant: String,
        sid: String,
        frame: Vec<u8>,
        /// The `actions` row recording it (JSON).
        row: Vec<u8>,
        reply: oneshot::Sender<bool>,
    },
}

/// What shards and the link page share with the alerts thread.
pub struct Handle {
    pub edge_id: String,
    pub region: String,
    tx: mpsc::UnboundedSender<Work>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Work>>>,
    pub views: Arc<Views>,
    key: LinkKey,
    key_bytes: Vec<u8>,
    inbox: Vec<Mutex<Vec<ShardWork>>>,
    waiters: Mutex<HashMap<String, oneshot::Sender<OutcomeKind>>>,
    pub metrics: AlertMetrics,
    pub intervene_wait: Duration,
    next_iv: AtomicU64,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("alerts::Handle")
            .field("edge_id", &self.edge_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("link key {path}: {why}")]
    Key { path: String, why: String },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Reads the link key, or makes one (32 bytes from the OS, file mode 0600) on first start.
/// Every link this edge ever signed stays valid while the file is kept.
pub fn link_key(dir: &Path) -> Result<Vec<u8>, Error> {
    let path = dir.join("link.key");
    let err = |why: String| Error::Key {
        path: path.display().to_string(),
        why,
    };
    match std::fs::read(&path) {
        Ok(b) if b.len() >= LINK_KEY_BYTES => return Ok(b),
        Ok(b) => return Err(err(format!("{} bytes; at least {LINK_KEY_BYTES}", b.len()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    use ring::rand::SecureRandom;
    let mut b = vec![0u8; LINK_KEY_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| err("the OS gave no random bytes".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    let tmp = dir.join("link.key.tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err(e.to_string()))?;
        f.write_all(&b).map_err(|e| err(e.to_string()))?;
        f.sync_all().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))?;
    Ok(b)
}

impl Handle {
    pub fn new(
        edge_id: &str,
        region: &str,
        nshards: usize,
        key: Vec<u8>,
        intervene_wait: Duration,
    ) -> Result<Self, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = LinkKey::new(&key).map_err(|e| Error::Key {
            path: "link.key".into(),
            why: e.to_string(),
        })?;
        Ok(Self {
            edge_id: edge_id.to_string(),
            region: region.to_string(),
            tx,
            rx: Mutex::new(Some(rx)),
            views: Arc::new(Views::default()),
            key: link,
            key_bytes: key,
            inbox: (0..nshards).map(|_| Mutex::new(Vec::new())).collect(),
            waiters: Mutex::new(HashMap::new()),
            metrics: AlertMetrics::default(),
            intervene_wait,
            next_iv: AtomicU64::new(1),
        })
    }

    /// A shard's escalation (never blocks).
    pub fn escalate(&self, e: Escalation) {
        self.metrics.escalations.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Work::Escalate(e));
    }

    pub fn command(&self, c: Command) {
        let _ = self.tx.send(Work::Command(c));
    }

    /// What the alerts thread asked of shard `i`.
    pub fn take_work(&self, i: usize) -> Vec<ShardWork> {
        match self.inbox.get(i) {
            Some(m) => std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner())),
            None => Vec::new(),
        }
    }

    fn to_shard(&self, i: usize, w: ShardWork) {
        if let Some(m) = self.inbox.get(i) {
            m.lock().unwrap_or_else(|e| e.into_inner()).push(w);
        }
    }

    /// A session reported the outcome of an intervention; if a link page waits for it, it is
    /// told.
    pub fn outcome(&self, iid: &str, r: OutcomeKind) {
        let w = self
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(iid);
        if let Some(tx) = w {
            let _ = tx.send(r);
        }
    }

    pub fn verify(&self, token: &str, now_s: u64, action: Action) -> Result<Claims, LinkError> {
        self.key.verify(token, now_s, action)
    }

    /// Pushes an intervention to the customer's live page and waits (up to
    /// `intervene_wait`) for the page to say it showed it. Returns what the person is told.
    pub async fn intervene(
        &self,
        chain: &Chain,
        by: &str,
        by_name: &str,
        nshards: usize,
    ) -> String {
        let d = &chain.detection;
        let n = self.next_iv.fetch_add(1, Ordering::Relaxed);
        let iid = format!("h{n}-{}", &chain.id.as_str()[3..11]);
        let text = format!(
            "{by_name} from our team saw that something went wrong here and is looking into it right now."
        );
        let frame =
            sentientiq_proto::edge_to_vec(&sentientiq_proto::EdgeFrame::Iv(sentientiq_proto::Iv {
                id: iid.clone(),
                kind: "help".into(),
                variant: "human".into(),
                e: d.emotion.clone(),
                payload: sentientiq_proto::Value::Map(vec![
                    (
                        "title".into(),
                        sentientiq_proto::Value::Str("We're on it".into()),
                    ),
                    ("text".into(), sentientiq_proto::Value::Str(text)),
                ]),
            }));
        let row = sentientiq_lake::ActionRow {
            id: iid.clone(),
            action: "intervene".into(),
            rule: Some(format!("alert:{}", chain.id)),
            emotion: Some(d.emotion.clone()),
            confidence: Some(d.confidence),
            kind: Some("help".into()),
            variant: Some("human".into()),
            contacts: Some(by.to_string()),
            user: d.user.clone(),
            account: Some(d.account.clone()),
            value_cents: Some(d.value_cents),
            section: d.section.clone(),
            ..Default::default()
        };
        let (shown_tx, shown_rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(iid.clone(), shown_tx);
        let (live_tx, live_rx) = oneshot::channel();
        let owner = crate::placement::owner(&d.tenant, &d.session, nshards);
        self.to_shard(
            owner,
            ShardWork::Intervene {
                tenant: d.tenant.clone(),
                sid: d.session.clone(),
                frame,
                row: serde_json::to_vec(&row).unwrap_or_default(),
                reply: live_tx,
            },
        );
        self.metrics.interventions.fetch_add(1, Ordering::Relaxed);
        let forget = || {
            self.waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&iid);
        };
        match live_rx.await {
            Ok(true) => {}
            _ => {
                forget();
                return "The customer's page is no longer connected: nothing was shown. Reach them another way.".into();
            }
        }
        let wait = self.intervene_wait;
        let shown = futures_lite::future::or(async { shown_rx.await.ok() }, async {
            // Runtime-neutral: the link page runs on a shard (glommio).
            glommio::timer::sleep(wait).await;
            None
        })
        .await;
        forget();
        match shown {
            Some(OutcomeKind::Shown | OutcomeKind::Clicked) => {
                self.metrics
                    .interventions_shown
                    .fetch_add(1, Ordering::Relaxed);
                "Shown on the customer's page: they now see that someone is on it.".into()
            }
            Some(OutcomeKind::Dismissed) => {
                "Shown on the customer's page, and they dismissed it.".into()
            }
            Some(_) | None => format!(
                "Sent to the customer's page; it has not confirmed showing it within {} s (a background tab shows it when it comes back).",
                wait.as_secs()
            ),
        }
    }
}

/// What the alerts thread needs besides the handle.
#[derive(Debug)]
pub struct Ctx {
    pub tenants: Arc<Directory>,
    pub dir: PathBuf,
    pub cfg: AlertsSection,
    pub control: ControlSection,
    pub base_url: String,
    /// Escalations found in the spool at start.
    pub recovered: Vec<Escalation>,
    pub nshards: usize,
    /// Set once every shard has stopped.
    pub stopped: Arc<AtomicBool>,
}

/// Opens the store (failing start if it cannot) and starts the `alerts` thread.
pub fn spawn(h: Arc<Handle>, ctx: Ctx) -> Result<std::thread::JoinHandle<()>, Error> {
    let store = RocksStore::open(&ctx.dir.join("db"), h.views.clone())?;
    let pruned = store.prune(crate::clock::now_ms())?;
    let (chains, bad) = store.load()?;
    tracing::info!(
        restored = chains.len(),
        undecodable = bad,
        pruned,
        "alerts: stored state loaded"
    );
    std::thread::Builder::new()
        .name("alerts".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "alerts: cannot start its runtime");
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, run(h, ctx, store, chains));
        })
        .map_err(|e| Error::Key {
            path: "alerts thread".into(),
            why: e.to_string(),
        })
}

fn attempt_label(a: &Answer) -> &'static str {
    match a {
        Answer::Sent(Outcome::Delivered { .. }) => "delivered",
        Answer::Sent(Outcome::Retry { .. }) => "retry",
        Answer::Sent(Outcome::Permanent { .. }) => "permanent",
        Answer::Sent(Outcome::LookupFirst { .. }) => "lookup_first",
        Answer::Looked(Lookup::Found { .. }) => "found",
        Answer::Looked(Lookup::NotFound) => "not_found",
        Answer::Looked(Lookup::Retry { .. }) => "retry",
        Answer::Looked(Lookup::Permanent { .. }) => "permanent",
    }
}

/// The tenants' contacts and vendor accounts, for the runner.
fn configure(tenants: &Directory, cmd: &mpsc::UnboundedSender<Command>) {
    for t in tenants.load().live() {
        if let Some(a) = &t.alerts {
            let _ = cmd.send(Command::Configure {
                tenant: t.id.to_string(),
                roster: a.roster.clone(),
                providers: a.providers.clone(),
            });
        }
    }
}

async fn run(h: Arc<Handle>, mut ctx: Ctx, store: RocksStore, chains: Vec<Chain>) {
    let recovered = std::mem::take(&mut ctx.recovered);
    let Some(mut work) = h.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let http = match HttpSender::new(HttpConfig {
        connect_timeout: Duration::from_millis(ctx.cfg.connect_timeout_ms),
        attempt_timeout: Duration::from_millis(ctx.cfg.attempt_timeout_ms),
        ..HttpConfig::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "alerts: no HTTP client; nothing will be delivered");
            return;
        }
    };
    let Ok(link_key) = LinkKey::new(&h.key_bytes) else {
        return;
    };
    let (ev_tx, mut events) = mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let runner = Runner::new(
        RunnerConfig {
            rosters: HashMap::new(),
            providers: HashMap::new(),
            links: Links::new(link_key, ctx.base_url.clone()),
        },
        http,
        store.clone(),
        Some(ev_tx),
    );
    configure(&ctx.tenants, &cmd_tx);
    let mut seen_version = ctx.tenants.version();
    for c in &chains {
        h.views.put(c);
    }
    h.metrics.open.store(
        chains.iter().filter(|c| c.is_open()).count() as u64,
        Ordering::Relaxed,
    );
    let _ = cmd_tx.send(Command::Restore(chains));
    let runner = tokio::task::spawn_local(runner.run(cmd_rx));
    // The escalation ids of Detect commands in order: the runner answers each with a
    // `Detected` event, in the same order.
    let mut detects: VecDeque<AlertId> = VecDeque::new();
    let escalate = |e: Escalation, recovered: bool, detects: &mut VecDeque<AlertId>| {
        let tenants = ctx.tenants.load();
        let policy = tenants
            .list
            .iter()
            .find(|t| *t.id == *e.tenant)
            .and_then(|t| t.escalations.get(&e.rule).cloned());
        let Some(policy) = policy else {
            h.metrics.undeliverable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(tenant = %e.tenant, rule = %e.rule, "escalation with nowhere to go: the rule names no [tenant.alerts] chain or contacts (recorded in the lake only)");
            return;
        };
        let Some(detection) = e.detection() else {
            return;
        };
        let id = e.alert_id(&h.edge_id);
        if store.known(&id) {
            return;
        }
        if recovered {
            h.metrics.recovered.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(alert = %id, tenant = %e.tenant, "alerts: escalation recovered from the spool (the edge stopped before storing it)");
        }
        detects.push_back(id.clone());
        let _ = cmd_tx.send(Command::Detect {
            id,
            detection,
            policy: (*policy).clone(),
        });
    };
    for e in recovered {
        escalate(e, true, &mut detects);
    }
    let reporter = ctx.control.endpoint.is_some().then(|| {
        tokio::task::spawn_local(report::run(
            h.clone(),
            ctx.control.clone(),
            Duration::from_millis(ctx.cfg.report_interval_ms),
        ))
    });
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            w = work.recv() => match w {
                Some(Work::Escalate(e)) => {
                    // A config version applied since the last tick may hold the contacts this
                    // escalation pages: the runner learns them first (its commands are taken in
                    // order), or it would find no address and fail the page permanently.
                    let v = ctx.tenants.version();
                    if v != seen_version {
                        seen_version = v;
                        configure(&ctx.tenants, &cmd_tx);
                    }
                    escalate(e, false, &mut detects)
                }
                Some(Work::Command(c)) => { let _ = cmd_tx.send(c); }
                None => break,
            },
            Some(ev) = events.recv() => on_event(&h, &store, &ctx, ev, &mut detects),
            _ = tick.tick() => {
                if ctx.stopped.load(Ordering::Acquire) {
                    break;
                }
                let v = ctx.tenants.version();
                if v != seen_version {
                    seen_version = v;
                    configure(&ctx.tenants, &cmd_tx);
                }
                h.metrics.open.store(h.views.open() as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = cmd_tx.send(Command::Shutdown);
    let _ = runner.await;
    if let Some(r) = reporter {
        r.abort();
    }
}

fn on_event(h: &Handle, store: &RocksStore, ctx: &Ctx, ev: Event, detects: &mut VecDeque<AlertId>) {
    let m = &h.metrics;
    match ev {
        Event::Detected(d) => {
            let seed = detects.pop_front();
            match d {
                Detected::Opened(id) => {
                    m.opened.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(alert = %id, "alert opened: first step paged");
                }
                Detected::Updated(id) => {
                    m.folded.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(alert = %id, "repeat detection folded into the open alert");
                    if let Some(s) = seed
                        && let Err(e) = store.seen(&s, crate::clock::now_ms())
                    {
                        tracing::warn!(error = %e, "alerts: a folded escalation's mark was not stored (a restart may fold it again)");
                    }
                }
            }
        }
        Event::Attempt {
            alert,
            delivery,
            channel,
            answer,
            ..
        } => {
            m.attempt(channel.as_str(), attempt_label(&answer));
            if matches!(
                answer,
                Answer::Sent(Outcome::Delivered { .. }) | Answer::Looked(Lookup::Found { .. })
            ) && let Some(c) = h.views.get(&alert)
                && let Some(d) = c.delivery(&delivery)
                && let Some(ms) = c.latency_ms(d)
            {
                m.delivered_after(ms);
            }
        }
        Event::Effect(Effect::AddressFailed {
            alert,
            contact,
            channel,
            reason,
        }) => {
            m.address_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%alert, %contact, channel = channel.as_str(), %reason, "a contact's address is dead: fix it in the tenant's alerting config");
        }
        Event::Effect(Effect::Finished(id)) => {
            if let Some(c) = h.views.get(&id) {
                let row = report::lake_row(&c);
                match serde_json::to_vec(&row) {
                    Ok(json) => {
                        let d = &c.detection;
                        h.to_shard(
                            crate::placement::owner(&d.tenant, &d.session, ctx.nshards),
                            ShardWork::Row {
                                tenant: d.tenant.clone(),
                                sid: d.session.clone(),
                                json,
                            },
                        );
                        m.lake_rows.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::error!(alert = %id, error = %e, "alert row not serialisable")
                    }
                }
            }
        }
        Event::Effect(_) => {}
        Event::PersistFailed { alert, error } => {
            m.persist_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%alert, %error, "alert state not stored");
        }
        Event::UnknownAlert(id) => {
            tracing::info!(alert = %id, "a command for an alert this edge no longer holds");
        }
    }
}
