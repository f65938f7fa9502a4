//! Drives a [`Book`] with the system clock: commands and lane answers in, effects out.
//!
//! Effects are applied in order, so an alert's state is handed to the [`Store`] before any of
//! its sends go to a lane. If the store fails the send still goes (a page that is delivered
//! but not recorded beats one that is recorded but not delivered) and the failure is reported
//! as [`Event::PersistFailed`]; a crash before the next successful write can then resend.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::http::HttpSender;
use super::lanes::{Answer, Done, Lanes, Read, Task};
use super::{now_ms, sleep_until_ms};
use crate::book::{Book, Detected};
use crate::chain::{Chain, Effect, Job, Policy, Roster};
use crate::channels::{self, Address, ChannelKind, Lookup, Outcome, Providers, Purpose, Send};
use crate::ids::{AlertId, DeliveryId};
use crate::limits;
use crate::link::Links;
use crate::message::Detection;

/// Durable storage of alert state (the edge's RocksDB, a file, the plane).
pub trait Store: std::marker::Send + 'static {
    /// Stores the chain (it is `Serialize` and holds no secret). Must be durable on return.
    fn persist(&mut self, chain: &Chain) -> Result<(), StoreError>;
    /// The alert finished: its state may be archived or deleted.
    fn finished(&mut self, alert: &AlertId) -> Result<(), StoreError> {
        let _ = alert;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// A [`Store`] in memory (tests, the demo): chains as JSON by alert id.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    pub saved: Arc<Mutex<BTreeMap<AlertId, String>>>,
    pub writes: Arc<Mutex<u64>>,
}

impl MemoryStore {
    /// The stored chains, as a restart would read them.
    pub fn load(&self) -> Vec<Chain> {
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        saved
            .values()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect()
    }
}

impl Store for MemoryStore {
    fn persist(&mut self, chain: &Chain) -> Result<(), StoreError> {
        let json = serde_json::to_string(chain).map_err(|e| StoreError(e.to_string()))?;
        self.saved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chain.id.clone(), json);
        *self.writes.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Ok(())
    }
}

/// What the runner is told.
#[derive(Debug)]
pub enum Command {
    Detect {
        id: AlertId,
        detection: Detection,
        policy: Policy,
    },
    Acknowledge {
        alert: AlertId,
        by: String,
    },
    FalseAlarm {
        alert: AlertId,
        by: String,
    },
    /// Stored chains after a restart.
    Restore(Vec<Chain>),
    /// A tenant's contacts and vendor accounts (new or changed).
    Configure {
        tenant: String,
        roster: Roster,
        providers: Providers,
    },
    Shutdown,
}

/// What the runner reports (metrics, the lake, the tenant's view, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Detected(Detected),
    /// One attempt's classified answer.
    Attempt {
        alert: AlertId,
        delivery: DeliveryId,
        channel: ChannelKind,
        answer: Answer,
        sent_ms: u64,
        done_ms: u64,
    },
    /// `AddressFailed`, `Closed`, `Finished`.
    Effect(Effect),
    PersistFailed {
        alert: AlertId,
        error: String,
    },
    UnknownAlert(AlertId),
}

/// What the runner needs besides a store.
#[derive(Debug)]
pub struct RunnerConfig {
    pub rosters: HashMap<String, Roster>,
    pub providers: HashMap<String, Providers>,
    pub links: Links,
}

#[derive(Debug, Clone)]
struct Tag {
    alert: AlertId,
    delivery: DeliveryId,
    channel: ChannelKind,
}

#[derive(Debug)]
pub struct Runner<S> {
    book: Book,
    cfg: RunnerConfig,
    store: S,
    lanes: Lanes<Tag>,
    done_tx: mpsc::UnboundedSender<Done<Tag>>,
    done_rx: mpsc::UnboundedReceiver<Done<Tag>>,
    events: Option<mpsc::UnboundedSender<Event>>,
    /// Reported once the effects of the turn are applied (so a reader of the store sees what
    /// an event announces).
    pending: Vec<Event>,
}

impl<S: Store> Runner<S> {
    pub fn new(
        cfg: RunnerConfig,
        http: HttpSender,
        store: S,
        events: Option<mpsc::UnboundedSender<Event>>,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            book: Book::new(),
            cfg,
            store,
            lanes: Lanes::new(http, done_tx.clone()),
            done_tx,
            done_rx,
            events,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, e: Event) {
        self.pending.push(e);
    }

    fn flush_events(&mut self) {
        for e in self.pending.drain(..) {
            if let Some(tx) = &self.events {
                let _ = tx.send(e);
            }
        }
    }

    /// Runs until [`Command::Shutdown`] or the command channel closes; returns the book and
    /// the store.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> (Book, S) {
        let mut out = Vec::new();
        loop {
            let wake = self.book.next_wake();
            tokio::select! {
                biased;
                c = commands.recv() => match c {
                    None | Some(Command::Shutdown) => break,
                    Some(c) => self.command(c, &mut out),
                },
                Some(d) = self.done_rx.recv() => self.done(d, &mut out),
                () = async { match wake { Some(t) => sleep_until_ms(t).await, None => std::future::pending().await } } => {
                    self.book.tick(now_ms(), &self.cfg.rosters, &mut out);
                }
            }
            self.apply(&mut out);
            self.flush_events();
        }
        (self.book, self.store)
    }

    fn command(&mut self, c: Command, out: &mut Vec<Effect>) {
        let now = now_ms();
        let r = &self.cfg.rosters;
        let unknown = match c {
            Command::Detect {
                id,
                detection,
                policy,
            } => {
                let d = self.book.detect(now, id, detection, &policy, r, out);
                self.emit(Event::Detected(d));
                None
            }
            Command::Acknowledge { alert, by } => self
                .book
                .acknowledge(now, &alert, &by, r, out)
                .err()
                .map(|_| alert),
            Command::FalseAlarm { alert, by } => self
                .book
                .false_alarm(now, &alert, &by, r, out)
                .err()
                .map(|_| alert),
            Command::Restore(chains) => {
                self.book.restore(now, chains, r, out);
                None
            }
            Command::Configure {
                tenant,
                roster,
                providers,
            } => {
                self.cfg.rosters.insert(tenant.clone(), roster);
                self.cfg.providers.insert(tenant, providers);
                None
            }
            Command::Shutdown => None,
        };
        if let Some(a) = unknown {
            self.emit(Event::UnknownAlert(a));
        }
    }

    fn done(&mut self, d: Done<Tag>, out: &mut Vec<Effect>) {
        let now = now_ms();
        let Tag {
            alert,
            delivery,
            channel,
        } = d.tag;
        let r = &self.cfg.rosters;
        let known = match d.answer.clone() {
            Answer::Sent(o) => self.book.on_result(now, &alert, &delivery, o, r, out),
            Answer::Looked(l) => self.book.on_lookup(now, &alert, &delivery, l, r, out),
        };
        if known.is_ok() {
            self.emit(Event::Attempt {
                alert,
                delivery,
                channel,
                answer: d.answer,
                sent_ms: d.sent_ms,
                done_ms: d.done_ms,
            });
        }
    }

    fn apply(&mut self, out: &mut Vec<Effect>) {
        for e in std::mem::take(out) {
            match e {
                Effect::Persist(id) => {
                    if let Some(c) = self.book.get(&id)
                        && let Err(err) = self.store.persist(c)
                    {
                        tracing::error!(alert = %id, %err, "alert state not stored; sending anyway");
                        self.emit(Event::PersistFailed {
                            alert: id,
                            error: err.0,
                        });
                    }
                }
                Effect::Send(job) => self.dispatch(job),
                Effect::Finished(id) => {
                    if let Err(err) = self.store.finished(&id) {
                        tracing::warn!(alert = %id, %err, "finished alert not archived");
                    }
                    self.emit(Event::Effect(Effect::Finished(id)));
                }
                other => self.emit(Event::Effect(other)),
            }
        }
        self.book.clear_finished();
    }

    /// Reports an attempt that could not be made as its answer, through the lanes' channel
    /// (so the book sees it like any other answer, on the next turn of the loop).
    fn answer_now(&self, job: &Job, answer: Answer) {
        let now = now_ms();
        let tag = Tag {
            alert: job.alert.clone(),
            delivery: job.delivery.clone(),
            channel: job.channel,
        };
        let _ = self.done_tx.send(Done {
            tag,
            answer,
            sent_ms: now,
            done_ms: now,
        });
    }

    fn dispatch(&self, job: Job) {
        let fail = |reason: &str| {
            let reason = reason.to_owned();
            if job.lookup {
                Answer::Looked(Lookup::Permanent { reason })
            } else {
                Answer::Sent(Outcome::Permanent {
                    reason,
                    address_broken: false,
                })
            }
        };
        let Some(chain) = self.book.get(&job.alert) else {
            return;
        };
        let tenant = chain.detection.tenant.as_str();
        let contact = self
            .cfg
            .rosters
            .get(tenant)
            .and_then(|r| r.get(&job.contact));
        let Some((contact, addr)) = contact.and_then(|c| c.address(job.channel).map(|a| (c, a)))
        else {
            return self.answer_now(&job, fail("the address is no longer configured"));
        };
        let default_providers = Providers::default();
        let providers = self.cfg.providers.get(tenant).unwrap_or(&default_providers);
        let link = self
            .cfg
            .links
            .url(&job.alert, &job.contact, job.n, chain.opened_ms);
        let built = if job.lookup {
            match (addr, &providers.twilio) {
                (Address::Sms { to } | Address::Whatsapp { to }, Some(t)) => Ok((
                    channels::twilio::lookup_request(t, job.channel, to),
                    Read::Lookup(link.clone()),
                )),
                _ => Err("lookup needs a Twilio address and account".to_owned()),
            }
        } else {
            let send = Send {
                delivery: &job.delivery,
                purpose: job.purpose,
                view: chain.view(&link),
                now_ms: now_ms(),
            };
            channels::build(providers, addr, &send)
                .map(|r| (r, Read::Send(job.channel)))
                .map_err(|e| e.to_string())
        };
        let (req, read) = match built {
            Ok(b) => b,
            Err(e) => return self.answer_now(&job, fail(&e)),
        };
        // Lookups are API reads, not messages: they go to their own lane and spend nothing of
        // the sender's pace or the contact's.
        let (dest, rate) = channels::destination(providers, addr);
        let keys = if job.lookup {
            vec![(format!("lookup:{dest}"), limits::WEBHOOK, 1)]
        } else {
            let mut keys = vec![(dest, rate, channels::cost(job.channel, &req))];
            if job.purpose == Purpose::Page && job.attempt == 1 {
                let key = format!("contact:{tenant}:{}", contact.id);
                keys.push((key, contact.rate.unwrap_or(limits::CONTACT), 1));
            }
            keys
        };
        let tag = Tag {
            alert: job.alert.clone(),
            delivery: job.delivery.clone(),
            channel: job.channel,
        };
        self.lanes.submit(Task {
            req,
            read,
            limits: keys,
            tag,
        });
    }
}
