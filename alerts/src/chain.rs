//! The escalation state machine of one alert. Pure: no I/O, no clock (`now_ms` is a
//! parameter), effects are values.
//!
//! ```text
//!             open(now)                       acknowledge(by)
//!   ───────────────▶ Open{step 1} ─────────────────────────────▶ Acknowledged ──┐
//!                     │  wait elapsed, or every page of the step   │ false_alarm  │ group window
//!                     │  failed for good: next step (CSM→VP→CEO)    ▼              │ passed
//!                     │─────────────────────────────────────▶ FalseAlarm (closed) │
//!                     │ last step's wait elapsed: exhausted          ▲             ▼
//!                     └── group window passed since the last detection ──▶ closed (Unacknowledged)
//! ```
//!
//! - Opening fires step 1 at once: the first message of an alert is never held back.
//! - A step pages every address of every contact in it (a contact in quiet hours is routed to
//!   its fallback contact, or held until the window ends: see [`crate::limits`]). If nobody
//!   acknowledges within the step's wait (default 60 s) the next step fires.
//! - `acknowledge` stops the chain everywhere: pages not yet sent are cancelled, and every
//!   PagerDuty trigger that went out gets an `acknowledge` event (a trigger still in flight gets
//!   it when its answer comes, so the acknowledge never overtakes the trigger).
//! - `false_alarm` labels and closes the alert, and resolves it in PagerDuty.
//! - `on_repeat`: a detection for the same account while the alert is open updates the alert
//!   (count, last detection) and pages nobody.
//! - Results: `Delivered`; `Retry` (backoff, or the vendor's `Retry-After`) up to
//!   `max_attempts`, then `GaveUp`; `Permanent` fails the delivery (and reports a broken
//!   address); `LookupFirst` makes the next attempt a lookup (Twilio).
//!
//! Durability: every effect list that holds a [`Effect::Send`] starts with [`Effect::Persist`];
//! the caller stores the chain (it is `Serialize`, and holds no secret) before sending. After a
//! restart, [`Chain::recover`] turns attempts that were in flight into a lookup (Twilio) or a
//! resend with the same id (the receivers dedupe), counting resends that may duplicate
//! (Slack: no idempotency key).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::channels::{Address, ChannelKind, Lookup, Outcome, Purpose};
use crate::ids::{AlertId, ContactId, DeliveryId};
use crate::limits::{QuietHours, Rate};
use crate::message::{Detection, View};

/// Whether a failed attempt may still have posted its message: everything but a connection
/// that was never made and a rate limit (Slack's 429 / `ratelimited` are refusals). A Slack
/// timeout, broken connection, 5xx, `internal_error` or `fatal_error` ("it's possible some
/// aspect of the operation succeeded") may have posted it.
fn may_have_landed(reason: &str) -> bool {
    !(reason == "refused"
        || reason.contains("429")
        || reason.contains("ratelimited")
        || reason.contains("rate_limited"))
}

/// A person who can be paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    /// At most one address per channel kind.
    pub addresses: Vec<Address>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Who is paged instead during quiet hours.
    #[serde(default)]
    pub fallback: Option<ContactId>,
    /// Messages to this person across channels; default [`crate::limits::CONTACT`].
    #[serde(default)]
    pub rate: Option<Rate>,
}

impl Contact {
    pub fn address(&self, kind: ChannelKind) -> Option<&Address> {
        self.addresses.iter().find(|a| a.kind() == kind)
    }

    fn quiet_until(&self, now_ms: u64) -> Option<u64> {
        self.quiet_hours.and_then(|q| q.ends_at(now_ms))
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("contact {0}: two addresses for {1:?}")]
    DuplicateChannel(ContactId, ChannelKind),
    #[error("contact {0} is defined twice")]
    DuplicateContact(ContactId),
    #[error("contact {0}: fallback {1} is not a contact (or is itself)")]
    Fallback(ContactId, ContactId),
    #[error("contact {0}: invalid quiet hours")]
    QuietHours(ContactId),
    #[error("chain: {0}")]
    Chain(&'static str),
    #[error("chain names unknown contact {0}")]
    UnknownContact(ContactId),
    /// A vendor's base URL that is not one requests can be sent to
    /// ([`sentientiq_url::check_base`]), named by its key and shown with credentials hidden.
    #[error(transparent)]
    BaseUrl(sentientiq_url::Refused),
}

/// A tenant's contacts, validated.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    contacts: HashMap<ContactId, Contact>,
}

impl Roster {
    pub fn new(contacts: Vec<Contact>) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for c in contacts {
            let mut kinds: Vec<ChannelKind> = c.addresses.iter().map(Address::kind).collect();
            kinds.sort();
            if let Some(w) = kinds.windows(2).find(|w| w[0] == w[1]) {
                return Err(ConfigError::DuplicateChannel(c.id.clone(), w[0]));
            }
            if c.quiet_hours.is_some_and(|q| !q.valid()) {
                return Err(ConfigError::QuietHours(c.id.clone()));
            }
            if let Some(old) = map.insert(c.id.clone(), c) {
                return Err(ConfigError::DuplicateContact(old.id));
            }
        }
        for c in map.values() {
            if let Some(f) = &c.fallback
                && (f == &c.id || !map.contains_key(f))
            {
                return Err(ConfigError::Fallback(c.id.clone(), f.clone()));
            }
        }
        Ok(Self { contacts: map })
    }

    pub fn get(&self, id: &ContactId) -> Option<&Contact> {
        self.contacts.get(id)
    }
}

fn default_wait_ms() -> u64 {
    60_000
}

/// One step: who is paged, and how long to wait for an acknowledgement before the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub contacts: Vec<ContactId>,
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u64,
}

/// Retries of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Requests per delivery (lookups included) before giving up.
    pub max_attempts: u32,
    /// Backoff after attempt k: `base_ms · 2^(k−1)`, at most `max_backoff_ms`.
    pub base_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    /// 10 attempts over about six minutes (1, 2, 4 … 60 s): a vendor outage shorter than
    /// that delays a page, a longer one gives up and says so.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_ms: 1000,
            max_backoff_ms: 60_000,
        }
    }
}

impl RetryPolicy {
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(20);
        self.base_ms
            .saturating_mul(1 << shift)
            .min(self.max_backoff_ms)
    }
}

fn default_group_window_ms() -> u64 {
    30 * 60_000
}

/// An escalation chain (per rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub steps: Vec<Step>,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// An alert stays open for repeat detections of its account until this long after the
    /// last one (and until it is acknowledged or its chain is exhausted).
    #[serde(default = "default_group_window_ms")]
    pub group_window_ms: u64,
}

impl Policy {
    /// One step paging `contacts`, every other setting at its default (a rule that names
    /// contacts rather than a chain).
    pub fn one_step(contacts: Vec<ContactId>) -> Self {
        Self {
            steps: vec![Step {
                contacts,
                wait_ms: default_wait_ms(),
            }],
            retry: RetryPolicy::default(),
            group_window_ms: default_group_window_ms(),
        }
    }

    /// Every contact the chain may page, in step order, each once.
    pub fn contacts(&self) -> Vec<ContactId> {
        let mut v: Vec<ContactId> = Vec::new();
        for c in self.steps.iter().flat_map(|s| &s.contacts) {
            if !v.contains(c) {
                v.push(c.clone());
            }
        }
        v
    }

    pub fn validate(&self, roster: &Roster) -> Result<(), ConfigError> {
        if self.steps.is_empty() {
            return Err(ConfigError::Chain("needs at least one step"));
        }
        for s in &self.steps {
            if s.contacts.is_empty() {
                return Err(ConfigError::Chain("every step needs a contact"));
            }
            if s.wait_ms == 0 || s.wait_ms > 24 * 3_600_000 {
                return Err(ConfigError::Chain("a step's wait must be 1 ms ..= 24 h"));
            }
            if let Some(c) = s.contacts.iter().find(|c| roster.get(c).is_none()) {
                return Err(ConfigError::UnknownContact(c.clone()));
            }
        }
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::Chain("max_attempts must be at least 1"));
        }
        Ok(())
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its next attempt (first, retry, or the end of quiet hours).
    Pending,
    /// An attempt is in flight: its answer has not come.
    Sent,
    /// The vendor accepted it.
    Delivered,
    /// A permanent failure.
    Failed,
    /// Retries exhausted.
    GaveUp,
    /// No longer needed (acknowledged or closed before it went out).
    Cancelled,
}

impl Status {
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Pending | Status::Sent)
    }
}

/// One message to one address, over all its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub n: u32,
    pub contact: ContactId,
    /// The contact this one stands in for (quiet-hours fallback).
    pub instead_of: Option<ContactId>,
    pub channel: ChannelKind,
    pub purpose: Purpose,
    /// The chain step (1-based) that made it.
    pub step: u32,
    /// For an acknowledge/resolve: the trigger delivery's number.
    pub trigger: Option<u32>,
    pub status: Status,
    pub attempts: u32,
    /// The next attempt is a lookup (Twilio, after an unanswered create).
    pub lookup: bool,
    /// Held for quiet hours.
    pub held: bool,
    pub next_at_ms: Option<u64>,
    pub created_ms: u64,
    pub first_attempt_ms: Option<u64>,
    pub done_ms: Option<u64>,
    pub provider_id: Option<String>,
    pub error: Option<String>,
    /// Resends after an attempt whose answer never came, on a channel with no way to dedupe
    /// (Slack): each may have produced a duplicate message.
    pub possible_duplicates: u32,
}

/// A request to make: the shell resolves the address, renders, builds, sends, classifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub alert: AlertId,
    pub delivery: DeliveryId,
    pub n: u32,
    pub contact: ContactId,
    pub channel: ChannelKind,
    pub purpose: Purpose,
    /// 1 for the first request.
    pub attempt: u32,
    /// Look the message up (Twilio `ListMessage`) instead of creating it.
    pub lookup: bool,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Store the alert's state (`Chain` is `Serialize`) before doing what follows.
    Persist(AlertId),
    Send(Job),
    /// The address is dead (Slack hook gone, webhook 410, invalid number): mark the contact's
    /// channel failed and tell the tenant.
    AddressFailed {
        alert: AlertId,
        contact: ContactId,
        channel: ChannelKind,
        reason: String,
    },
    /// The alert closed: write its record (the lake's `alerts` row).
    Closed(AlertId),
    /// Closed and every delivery settled: nothing more will happen; the state may be archived.
    Finished(AlertId),
}

/// Who acted on the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Open,
    Acknowledged { by: String, at_ms: u64 },
    FalseAlarm { by: String, at_ms: u64 },
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    pub id: AlertId,
    pub detection: Detection,
    pub policy: Policy,
    pub opened_ms: u64,
    pub state: State,
    /// Index of the step fired last.
    pub step: usize,
    pub step_deadline_ms: u64,
    /// The last step's wait has passed with no acknowledgement.
    pub exhausted: bool,
    pub closed_ms: Option<u64>,
    /// Detections folded into this alert (1 for the first).
    pub count: u32,
    pub last_detection_ms: u64,
    /// The latest repeat detection (the link page shows it beside the first).
    pub latest: Option<Detection>,
    pub deliveries: Vec<Delivery>,
    finished: bool,
}

/// Collects a call's effects so `Persist` can go first.
#[derive(Default)]
struct Out {
    changed: bool,
    effects: Vec<Effect>,
}

impl Out {
    fn flush(self, id: &AlertId, out: &mut Vec<Effect>) {
        if self.changed || !self.effects.is_empty() {
            out.push(Effect::Persist(id.clone()));
        }
        out.extend(self.effects);
    }
}

impl Chain {
    /// Opens an alert and fires its first step at once.
    pub fn open(
        now_ms: u64,
        id: AlertId,
        detection: Detection,
        policy: Policy,
        roster: &Roster,
        out: &mut Vec<Effect>,
    ) -> Self {
        let mut c = Chain {
            id,
            detection,
            policy,
            opened_ms: now_ms,
            state: State::Open,
            step: 0,
            step_deadline_ms: now_ms,
            exhausted: false,
            closed_ms: None,
            count: 1,
            last_detection_ms: now_ms,
            latest: None,
            deliveries: Vec::new(),
            finished: false,
        };
        let mut o = Out {
            changed: true,
            ..Out::default()
        };
        c.fire_step(now_ms, 0, roster, &mut o);
        c.advance(now_ms, roster, &mut o);
        o.flush(&c.id.clone(), out);
        c
    }

    pub fn is_open(&self) -> bool {
        self.closed_ms.is_none()
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn delivery(&self, id: &DeliveryId) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| &d.id == id)
    }

    /// What a message about this alert shows (with the message's own link).
    pub fn view<'a>(&'a self, link: &'a str) -> View<'a> {
        View {
            alert: &self.id,
            detection: &self.detection,
            count: self.count,
            last_ms: self.last_detection_ms,
            link,
        }
    }

    /// Detection to vendor acceptance, for a delivered page.
    pub fn latency_ms(&self, d: &Delivery) -> Option<u64> {
        (d.status == Status::Delivered)
            .then(|| d.done_ms.map(|t| t.saturating_sub(self.detection.at_ms)))
            .flatten()
    }

    /// Resends that may have duplicated a message, over all deliveries.
    pub fn possible_duplicates(&self) -> u32 {
        self.deliveries.iter().map(|d| d.possible_duplicates).sum()
    }

    /// When [`Chain::on_tick`] next has something to do.
    pub fn next_wake(&self) -> Option<u64> {
        let mut t = self
            .deliveries
            .iter()
            .filter(|d| d.status == Status::Pending)
            .filter_map(|d| d.next_at_ms)
            .min();
        let mut at = |x: u64| t = Some(t.map_or(x, |y: u64| y.min(x)));
        if self.state == State::Open && !self.exhausted {
            at(self.step_deadline_ms);
        }
        if self.is_open() && self.closable() {
            at(self.last_detection_ms + self.policy.group_window_ms);
        }
        t
    }

    fn closable(&self) -> bool {
        matches!(self.state, State::Acknowledged { .. }) || self.exhausted
    }

    pub fn on_tick(&mut self, now_ms: u64, roster: &Roster, out: &mut Vec<Effect>) {
        let mut o = Out::default();
        self.advance(now_ms, roster, &mut o);
        o.flush(&self.id.clone(), out);
    }

    /// Everything time makes happen: due attempts, the next step, closing.
    fn advance(&mut self, now_ms: u64, roster: &Roster, o: &mut Out) {
        for i in 0..self.deliveries.len() {
            let d = &self.deliveries[i];
            if d.status == Status::Pending && d.next_at_ms.is_some_and(|t| t <= now_ms) {
                if d.purpose == Purpose::Page && self.state != State::Open {
                    self.settle(i, now_ms, Status::Cancelled, None, o);
                } else {
                    self.start(i, now_ms, o);
                }
            }
        }
        // Next steps: at the deadline, or at once when every page of this step failed.
        while self.state == State::Open && !self.exhausted {
            if now_ms >= self.step_deadline_ms || self.step_failed() {
                if self.step + 1 < self.policy.steps.len() {
                    self.fire_step(now_ms, self.step + 1, roster, o);
                } else if now_ms >= self.step_deadline_ms {
                    self.exhausted = true;
                    o.changed = true;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        if self.is_open()
            && self.closable()
            && now_ms >= self.last_detection_ms + self.policy.group_window_ms
        {
            self.close(now_ms, o);
        }
        self.check_finished(o);
    }

    fn close(&mut self, now_ms: u64, o: &mut Out) {
        self.closed_ms = Some(now_ms);
        o.changed = true;
        o.effects.push(Effect::Closed(self.id.clone()));
    }

    fn check_finished(&mut self, o: &mut Out) {
        if !self.finished
            && !self.is_open()
            && self.deliveries.iter().all(|d| d.status.is_terminal())
        {
            self.finished = true;
            o.changed = true;
            o.effects.push(Effect::Finished(self.id.clone()));
        }
    }

    /// Every page of the current step ended without reaching anyone (none held or pending).
    /// A step that paged no one new (its contacts were paged by an earlier step) has failed
    /// only when no page of the whole alert can still reach anyone.
    fn step_failed(&self) -> bool {
        let step = self.step as u32 + 1;
        let dead = |d: &&Delivery| matches!(d.status, Status::Failed | Status::GaveUp);
        let pages = || {
            self.deliveries
                .iter()
                .filter(|d| d.purpose == Purpose::Page)
        };
        if pages().any(|d| d.step == step) {
            pages().filter(|d| d.step == step).all(|d| dead(&d))
        } else {
            pages().all(|d| dead(&d))
        }
    }

    fn fire_step(&mut self, now_ms: u64, idx: usize, roster: &Roster, o: &mut Out) {
        self.step = idx;
        self.step_deadline_ms = now_ms + self.policy.steps[idx].wait_ms;
        o.changed = true;
        let contacts = self.policy.steps[idx].contacts.clone();
        for cid in &contacts {
            let Some(c) = roster.get(cid) else { continue };
            // Quiet hours: the fallback when it is awake, else hold until the window ends.
            let (target, instead_of, held_until) = match c.quiet_until(now_ms) {
                None => (c, None, None),
                Some(until) => match c.fallback.as_ref().and_then(|f| roster.get(f)) {
                    Some(f) if f.quiet_until(now_ms).is_none() => (f, Some(c.id.clone()), None),
                    _ => (c, None, Some(until)),
                },
            };
            for a in &target.addresses {
                let kind = a.kind();
                let taken = self.deliveries.iter().any(|d| {
                    d.purpose == Purpose::Page
                        && d.contact == target.id
                        && d.channel == kind
                        && !matches!(d.status, Status::Cancelled)
                });
                if taken {
                    continue; // paged on this address already (or it is known broken)
                }
                let i = self.push(now_ms, target.id.clone(), kind, Purpose::Page, None);
                self.deliveries[i].instead_of = instead_of.clone();
                match held_until {
                    Some(t) => {
                        self.deliveries[i].held = true;
                        self.deliveries[i].next_at_ms = Some(t);
                    }
                    None => self.start(i, now_ms, o),
                }
            }
        }
    }

    fn push(
        &mut self,
        now_ms: u64,
        contact: ContactId,
        channel: ChannelKind,
        purpose: Purpose,
        trigger: Option<u32>,
    ) -> usize {
        let n = self.deliveries.len() as u32 + 1;
        self.deliveries.push(Delivery {
            id: DeliveryId::of(&self.id, n),
            n,
            contact,
            instead_of: None,
            channel,
            purpose,
            step: self.step as u32 + 1,
            trigger,
            status: Status::Pending,
            attempts: 0,
            lookup: false,
            held: false,
            next_at_ms: Some(now_ms),
            created_ms: now_ms,
            first_attempt_ms: None,
            done_ms: None,
            provider_id: None,
            error: None,
            possible_duplicates: 0,
        });
        self.deliveries.len() - 1
    }

    /// Starts an attempt now.
    fn start(&mut self, i: usize, now_ms: u64, o: &mut Out) {
        let d = &mut self.deliveries[i];
        d.attempts += 1;
        d.status = Status::Sent;
        d.next_at_ms = None;
        d.held = false;
        d.first_attempt_ms.get_or_insert(now_ms);
        o.changed = true;
        o.effects.push(Effect::Send(Job {
            alert: self.id.clone(),
            delivery: d.id.clone(),
            n: d.n,
            contact: d.contact.clone(),
            channel: d.channel,
            purpose: d.purpose,
            attempt: d.attempts,
            lookup: d.lookup,
        }));
    }

    fn settle(
        &mut self,
        i: usize,
        now_ms: u64,
        status: Status,
        error: Option<String>,
        o: &mut Out,
    ) {
        let d = &mut self.deliveries[i];
        d.status = status;
        d.done_ms = Some(now_ms);
        d.next_at_ms = None;
        if error.is_some() {
            d.error = error;
        }
        o.changed = true;
    }

    /// Schedules another attempt, or gives up.
    fn again(&mut self, i: usize, now_ms: u64, after_ms: Option<u64>, reason: String, o: &mut Out) {
        let d = &self.deliveries[i];
        if d.purpose == Purpose::Page && self.state != State::Open {
            return self.settle(i, now_ms, Status::Cancelled, Some(reason), o);
        }
        if d.attempts >= self.policy.retry.max_attempts {
            return self.settle(i, now_ms, Status::GaveUp, Some(reason), o);
        }
        let wait = after_ms.unwrap_or_else(|| self.policy.retry.backoff_ms(d.attempts));
        let d = &mut self.deliveries[i];
        d.status = Status::Pending;
        d.next_at_ms = Some(now_ms + wait);
        d.error = Some(reason);
        o.changed = true;
    }

    fn find_in_flight(&self, id: &DeliveryId) -> Option<usize> {
        self.deliveries
            .iter()
            .position(|d| &d.id == id && d.status == Status::Sent)
    }

    /// The answer to a create/send attempt. Answers for deliveries not in flight are ignored.
    pub fn on_result(
        &mut self,
        now_ms: u64,
        id: &DeliveryId,
        outcome: Outcome,
        roster: &Roster,
        out: &mut Vec<Effect>,
    ) {
        let Some(i) = self.find_in_flight(id) else {
            return;
        };
        let mut o = Out::default();
        match outcome {
            Outcome::Delivered { provider_id } => {
                self.deliveries[i].provider_id = provider_id;
                self.deliveries[i].lookup = false;
                self.settle(i, now_ms, Status::Delivered, None, &mut o);
                self.follow_up_if_needed(i, now_ms, &mut o);
            }
            Outcome::Retry { after_ms, reason } => {
                if !self.deliveries[i].channel.resend_is_safe() && may_have_landed(&reason) {
                    self.deliveries[i].possible_duplicates += 1;
                }
                self.again(i, now_ms, after_ms, reason, &mut o);
            }
            Outcome::Permanent {
                reason,
                address_broken,
            } => {
                let d = &self.deliveries[i];
                if address_broken {
                    o.effects.push(Effect::AddressFailed {
                        alert: self.id.clone(),
                        contact: d.contact.clone(),
                        channel: d.channel,
                        reason: reason.clone(),
                    });
                }
                self.settle(i, now_ms, Status::Failed, Some(reason), &mut o);
            }
            Outcome::LookupFirst { reason } => {
                self.deliveries[i].lookup = true;
                self.again(i, now_ms, None, reason, &mut o);
            }
        }
        self.advance(now_ms, roster, &mut o);
        o.flush(&self.id.clone(), out);
    }

    /// The answer to a lookup attempt (Twilio).
    pub fn on_lookup(
        &mut self,
        now_ms: u64,
        id: &DeliveryId,
        found: Lookup,
        roster: &Roster,
        out: &mut Vec<Effect>,
    ) {
        let Some(i) = self
            .find_in_flight(id)
            .filter(|&i| self.deliveries[i].lookup)
        else {
            return;
        };
        let mut o = Out::default();
        match found {
            Lookup::Found {
                provider_id,
                failed,
            } => {
                self.deliveries[i].provider_id = Some(provider_id);
                self.deliveries[i].lookup = false;
                if failed {
                    let e = Some("created, but the vendor reports it failed".to_owned());
                    self.settle(i, now_ms, Status::Failed, e, &mut o);
                } else {
                    self.settle(i, now_ms, Status::Delivered, None, &mut o);
                }
            }
            Lookup::NotFound => {
                // Never created: sending is safe, and goes now.
                self.deliveries[i].lookup = false;
                self.deliveries[i].status = Status::Pending;
                if self.deliveries[i].purpose == Purpose::Page && self.state != State::Open {
                    self.settle(i, now_ms, Status::Cancelled, None, &mut o);
                } else if self.deliveries[i].attempts >= self.policy.retry.max_attempts {
                    let e = Some("not created; attempts exhausted".to_owned());
                    self.settle(i, now_ms, Status::GaveUp, e, &mut o);
                } else {
                    self.start(i, now_ms, &mut o);
                }
            }
            Lookup::Retry { after_ms, reason } => self.again(i, now_ms, after_ms, reason, &mut o),
            Lookup::Permanent { reason } => {
                self.settle(i, now_ms, Status::Failed, Some(reason), &mut o)
            }
        }
        self.advance(now_ms, roster, &mut o);
        o.flush(&self.id.clone(), out);
    }

    /// A PagerDuty trigger that is (now) delivered gets the acknowledge/resolve its alert's
    /// state calls for.
    fn follow_up_if_needed(&mut self, i: usize, now_ms: u64, o: &mut Out) {
        let d = &self.deliveries[i];
        if d.purpose != Purpose::Page
            || d.channel != ChannelKind::Pagerduty
            || d.status != Status::Delivered
        {
            return;
        }
        let purpose = match self.state {
            State::Open => return,
            State::Acknowledged { .. } => Purpose::Acknowledge,
            State::FalseAlarm { .. } => Purpose::Resolve,
        };
        let (n, contact) = (d.n, d.contact.clone());
        if self
            .deliveries
            .iter()
            .any(|f| f.trigger == Some(n) && f.purpose == purpose)
        {
            return;
        }
        let j = self.push(now_ms, contact, ChannelKind::Pagerduty, purpose, Some(n));
        self.start(j, now_ms, o);
    }

    fn stop_paging(&mut self, now_ms: u64, o: &mut Out) {
        for i in 0..self.deliveries.len() {
            let d = &self.deliveries[i];
            if d.purpose == Purpose::Page && d.status == Status::Pending {
                self.settle(i, now_ms, Status::Cancelled, None, o);
            }
        }
        for i in 0..self.deliveries.len() {
            self.follow_up_if_needed(i, now_ms, o);
        }
    }

    /// "I'm on it". Idempotent; ignored once the alert is acknowledged or a false alarm.
    pub fn acknowledge(&mut self, now_ms: u64, by: &str, roster: &Roster, out: &mut Vec<Effect>) {
        if self.state != State::Open {
            return;
        }
        let mut o = Out::default();
        self.state = State::Acknowledged {
            by: by.to_owned(),
            at_ms: now_ms,
        };
        o.changed = true;
        self.stop_paging(now_ms, &mut o);
        self.advance(now_ms, roster, &mut o);
        o.flush(&self.id.clone(), out);
    }

    /// Labels the detection a false positive and closes the alert. Allowed after an
    /// acknowledgement (someone looked and it was nothing); ignored when already labelled.
    pub fn false_alarm(&mut self, now_ms: u64, by: &str, roster: &Roster, out: &mut Vec<Effect>) {
        if matches!(self.state, State::FalseAlarm { .. }) {
            return;
        }
        let mut o = Out::default();
        self.state = State::FalseAlarm {
            by: by.to_owned(),
            at_ms: now_ms,
        };
        o.changed = true;
        self.stop_paging(now_ms, &mut o);
        if self.is_open() {
            self.close(now_ms, &mut o);
        }
        self.advance(now_ms, roster, &mut o);
        o.flush(&self.id.clone(), out);
    }

    /// Another detection for this alert's account. Returns false when the alert is closed
    /// (the caller opens a new one). Pages nobody.
    pub fn on_repeat(&mut self, now_ms: u64, d: &Detection, out: &mut Vec<Effect>) -> bool {
        if !self.is_open() {
            return false;
        }
        self.count += 1;
        self.last_detection_ms = self.last_detection_ms.max(now_ms);
        self.latest = Some(d.clone());
        out.push(Effect::Persist(self.id.clone()));
        true
    }

    /// After a restart from stored state: attempts that were in flight have an unknown fate.
    /// Twilio creates are looked up first; every other channel is resent with the same id
    /// (PagerDuty dedupes on `dedup_key`, webhook receivers on `webhook-id`); a Slack resend is
    /// counted in `possible_duplicates`.
    pub fn recover(&mut self, now_ms: u64, roster: &Roster, out: &mut Vec<Effect>) {
        let mut o = Out::default();
        for d in &mut self.deliveries {
            if d.status != Status::Sent {
                continue;
            }
            d.status = Status::Pending;
            d.next_at_ms = Some(now_ms);
            if matches!(d.channel, ChannelKind::Sms | ChannelKind::Whatsapp) {
                d.lookup = true;
            } else if !d.channel.resend_is_safe() {
                d.possible_duplicates += 1;
            }
            o.changed = true;
        }
        self.advance(now_ms, roster, &mut o);
        o.flush(&self.id.clone(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::{E164, Severity};
    use crate::message::tests::detection;
    use crate::secret::{PagerDutyRoutingKey, SlackWebhookUrl};

    const T0: u64 = 1_700_000_000_000;

    fn cid(s: &str) -> ContactId {
        ContactId::new(s).expect("id")
    }

    fn slack(n: &str) -> Address {
        Address::SlackWebhook {
            url: SlackWebhookUrl::new(format!("https://hooks.slack.com/services/{n}"))
                .expect("url"),
        }
    }

    fn pd() -> Address {
        Address::Pagerduty {
            routing_key: PagerDutyRoutingKey::new("a".repeat(32)).expect("key"),
            severity: Severity::Critical,
        }
    }

    fn sms(n: &str) -> Address {
        Address::Sms {
            to: E164::new(n).expect("number"),
        }
    }

    fn contact(id: &str, addresses: Vec<Address>) -> Contact {
        Contact {
            id: cid(id),
            name: id.to_uppercase(),
            addresses,
            quiet_hours: None,
            fallback: None,
            rate: None,
        }
    }

    fn roster() -> Roster {
        Roster::new(vec![
            contact("csm", vec![slack("csm"), sms("+15550000001")]),
            contact("vp", vec![pd()]),
            contact("ceo", vec![sms("+15550000003")]),
        ])
        .expect("roster")
    }

    fn policy() -> Policy {
        Policy {
            steps: vec![
                Step {
                    contacts: vec![cid("csm")],
                    wait_ms: 60_000,
                },
                Step {
                    contacts: vec![cid("vp")],
                    wait_ms: 60_000,
                },
                Step {
                    contacts: vec![cid("ceo")],
                    wait_ms: 60_000,
                },
            ],
            retry: RetryPolicy::default(),
            group_window_ms: 30 * 60_000,
        }
    }

    fn open(out: &mut Vec<Effect>) -> Chain {
        Chain::open(
            T0,
            AlertId::new("al_1").expect("id"),
            detection(),
            policy(),
            &roster(),
            out,
        )
    }

    fn sends(out: &[Effect]) -> Vec<(String, ChannelKind, Purpose, u32, bool)> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Send(j) => Some((
                    j.contact.to_string(),
                    j.channel,
                    j.purpose,
                    j.attempt,
                    j.lookup,
                )),
                _ => None,
            })
            .collect()
    }

    fn id(n: u32) -> DeliveryId {
        DeliveryId::new(format!("al_1-d{n}")).expect("id")
    }

    fn delivered() -> Outcome {
        Outcome::Delivered { provider_id: None }
    }

    /// The durability invariant: any Send is preceded by a Persist in the same list.
    fn assert_persist_first(out: &[Effect]) {
        if let Some(first_send) = out.iter().position(|e| matches!(e, Effect::Send(_))) {
            assert!(
                out[..first_send]
                    .iter()
                    .any(|e| matches!(e, Effect::Persist(_))),
                "Send before Persist: {out:?}"
            );
        }
    }

    #[test]
    fn opening_pages_step_one_at_once_then_escalates_on_the_clock() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        assert_persist_first(&out);
        assert_eq!(
            sends(&out),
            vec![
                (
                    "csm".into(),
                    ChannelKind::SlackWebhook,
                    Purpose::Page,
                    1,
                    false
                ),
                ("csm".into(), ChannelKind::Sms, Purpose::Page, 1, false),
            ]
        );
        c.on_result(T0 + 300, &id(1), delivered(), &r, &mut out);
        c.on_result(T0 + 400, &id(2), delivered(), &r, &mut out);
        assert_eq!(
            c.latency_ms(&c.deliveries[0]),
            Some(T0 + 300 - detection().at_ms)
        );
        // Wait − 1: nothing; wait: the VP.
        out.clear();
        c.on_tick(T0 + 59_999, &r, &mut out);
        assert!(sends(&out).is_empty());
        assert_eq!(c.next_wake(), Some(T0 + 60_000));
        c.on_tick(T0 + 60_000, &r, &mut out);
        assert_persist_first(&out);
        assert_eq!(
            sends(&out),
            vec![("vp".into(), ChannelKind::Pagerduty, Purpose::Page, 1, false)]
        );
        out.clear();
        c.on_tick(T0 + 120_000, &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![("ceo".into(), ChannelKind::Sms, Purpose::Page, 1, false)]
        );
        // The last step's wait: exhausted, nothing more is sent; it closes after the window.
        out.clear();
        c.on_tick(T0 + 180_000, &r, &mut out);
        assert!(c.exhausted && sends(&out).is_empty() && c.is_open());
        c.on_tick(T0 + 30 * 60_000, &r, &mut out);
        assert!(!c.is_open());
        assert!(out.contains(&Effect::Closed(c.id.clone())));
    }

    #[test]
    fn acknowledge_stops_the_chain_and_acknowledges_pagerduty() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        c.on_tick(T0 + 60_000, &r, &mut out); // VP's PagerDuty trigger, d3
        c.on_result(T0 + 60_500, &id(3), delivered(), &r, &mut out);
        out.clear();
        c.acknowledge(T0 + 61_000, "csm", &r, &mut out);
        assert_persist_first(&out);
        assert_eq!(
            sends(&out),
            vec![(
                "vp".into(),
                ChannelKind::Pagerduty,
                Purpose::Acknowledge,
                1,
                false
            )]
        );
        assert!(
            matches!(c.state, State::Acknowledged { ref by, at_ms } if by == "csm" && at_ms == T0 + 61_000)
        );
        // No CEO step, ever; a second acknowledge does nothing.
        out.clear();
        c.on_tick(T0 + 10 * 60_000, &r, &mut out);
        assert!(sends(&out).is_empty());
        c.acknowledge(T0 + 10 * 60_000, "vp", &r, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn acknowledge_waits_for_a_trigger_in_flight() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        c.on_tick(T0 + 60_000, &r, &mut out); // d3 in flight
        out.clear();
        c.acknowledge(T0 + 60_100, "csm", &r, &mut out);
        assert!(
            sends(&out).is_empty(),
            "the acknowledge must not overtake the trigger"
        );
        c.on_result(T0 + 60_200, &id(3), delivered(), &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![(
                "vp".into(),
                ChannelKind::Pagerduty,
                Purpose::Acknowledge,
                1,
                false
            )]
        );
        assert_eq!(c.deliveries[3].trigger, Some(3));
    }

    #[test]
    fn false_alarm_resolves_pagerduty_and_closes() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        c.on_tick(T0 + 60_000, &r, &mut out);
        c.on_result(T0 + 60_100, &id(3), delivered(), &r, &mut out);
        c.acknowledge(T0 + 61_000, "vp", &r, &mut out);
        out.clear();
        c.false_alarm(T0 + 62_000, "vp", &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![(
                "vp".into(),
                ChannelKind::Pagerduty,
                Purpose::Resolve,
                1,
                false
            )]
        );
        assert!(out.contains(&Effect::Closed(c.id.clone())));
        assert!(!c.is_open());
        let mut d = detection();
        d.at_ms += 1;
        assert!(
            !c.on_repeat(T0 + 63_000, &d, &mut out),
            "closed alerts take no repeats"
        );
    }

    #[test]
    fn repeats_update_the_alert_and_page_nobody() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        out.clear();
        for k in 1..=5u64 {
            assert!(c.on_repeat(T0 + k * 1000, &detection(), &mut out));
        }
        assert!(sends(&out).is_empty());
        assert_eq!(c.count, 6);
        assert_eq!(c.last_detection_ms, T0 + 5000);
        assert_eq!(c.latest, Some(detection()));
        let link = "https://x/a/T";
        assert_eq!(c.view(link).count, 6);
        let _ = r;
    }

    #[test]
    fn retries_back_off_honour_retry_after_and_give_up() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        out.clear();
        let retry = |after| Outcome::Retry {
            after_ms: after,
            reason: "slack 500".into(),
        };
        c.on_result(T0 + 100, &id(1), retry(None), &r, &mut out);
        assert_eq!(
            c.deliveries[0].next_at_ms,
            Some(T0 + 1100),
            "backoff 1 s after attempt 1"
        );
        c.on_tick(T0 + 1099, &r, &mut out);
        assert!(sends(&out).is_empty());
        c.on_tick(T0 + 1100, &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![(
                "csm".into(),
                ChannelKind::SlackWebhook,
                Purpose::Page,
                2,
                false
            )]
        );
        c.on_result(T0 + 1200, &id(1), retry(Some(30_000)), &r, &mut out);
        assert_eq!(
            c.deliveries[0].next_at_ms,
            Some(T0 + 31_200),
            "Retry-After wins"
        );
        // Exhaust: max_attempts − 1, max_attempts, then no more.
        let max = c.policy.retry.max_attempts;
        let mut now = T0 + 31_200;
        while c.deliveries[0].status != Status::GaveUp {
            c.on_tick(now, &r, &mut out);
            assert!(c.deliveries[0].attempts <= max);
            c.on_result(now, &id(1), retry(Some(1)), &r, &mut out);
            now += 1;
        }
        assert_eq!(c.deliveries[0].attempts, max);
        assert_eq!(c.policy.retry.backoff_ms(1), 1000);
        assert_eq!(c.policy.retry.backoff_ms(7), 60_000);
        assert_eq!(c.policy.retry.backoff_ms(40), 60_000);
    }

    #[test]
    fn a_step_whose_pages_all_fail_escalates_at_once() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        out.clear();
        let gone = Outcome::Permanent {
            reason: "slack 410: channel_is_archived".into(),
            address_broken: true,
        };
        c.on_result(T0 + 100, &id(1), gone, &r, &mut out);
        assert!(out.iter().any(|e| matches!(
            e,
            Effect::AddressFailed {
                channel: ChannelKind::SlackWebhook,
                ..
            }
        )));
        assert!(
            sends(&out).is_empty(),
            "the SMS to the CSM is still pending"
        );
        let bad = Outcome::Permanent {
            reason: "twilio 400".into(),
            address_broken: false,
        };
        c.on_result(T0 + 200, &id(2), bad, &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![("vp".into(), ChannelKind::Pagerduty, Purpose::Page, 1, false)]
        );
        assert_eq!(c.step_deadline_ms, T0 + 200 + 60_000);
    }

    #[test]
    fn twilio_unanswered_is_looked_up_not_resent() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        out.clear();
        c.on_result(
            T0 + 100,
            &id(2),
            Outcome::LookupFirst {
                reason: "twilio 500".into(),
            },
            &r,
            &mut out,
        );
        c.on_tick(T0 + 1100, &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![("csm".into(), ChannelKind::Sms, Purpose::Page, 2, true)]
        );
        out.clear();
        let found = Lookup::Found {
            provider_id: "SM1".into(),
            failed: false,
        };
        c.on_lookup(T0 + 1200, &id(2), found, &r, &mut out);
        assert_eq!(c.deliveries[1].status, Status::Delivered);
        assert!(sends(&out).is_empty());
        // And when the lookup finds nothing, it is sent at once.
        let mut out = vec![];
        let mut c = open(&mut out);
        c.on_result(
            T0 + 100,
            &id(2),
            Outcome::LookupFirst {
                reason: "timeout".into(),
            },
            &r,
            &mut out,
        );
        c.on_tick(T0 + 1100, &r, &mut out);
        out.clear();
        c.on_lookup(T0 + 1200, &id(2), Lookup::NotFound, &r, &mut out);
        assert_persist_first(&out);
        assert_eq!(
            sends(&out),
            vec![("csm".into(), ChannelKind::Sms, Purpose::Page, 3, false)]
        );
    }

    #[test]
    fn slack_retries_that_may_have_posted_are_counted() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        let retry = |reason: &str| Outcome::Retry {
            after_ms: Some(1),
            reason: reason.into(),
        };
        let mut now = T0;
        for (reason, counted) in [
            ("refused", 0),
            ("slack 429", 0),
            ("slack error ratelimited", 0),
            ("timeout", 1),
            ("slack 500: rollup_error", 2),
            ("slack error fatal_error", 3),
        ] {
            c.on_result(now, &id(1), retry(reason), &r, &mut out);
            assert_eq!(c.deliveries[0].possible_duplicates, counted, "{reason}");
            now += 1;
            c.on_tick(now, &r, &mut out);
        }
        // Twilio and the rest are never counted: they are looked up or deduped.
        c.on_result(now, &id(2), retry("timeout"), &r, &mut out);
        assert_eq!(c.deliveries[1].possible_duplicates, 0);
    }

    #[test]
    fn stale_and_duplicate_results_are_ignored() {
        let r = roster();
        let mut out = vec![];
        let mut c = open(&mut out);
        c.on_result(T0 + 100, &id(1), delivered(), &r, &mut out);
        let before = c.clone();
        out.clear();
        c.on_result(
            T0 + 200,
            &id(1),
            Outcome::Permanent {
                reason: "x".into(),
                address_broken: true,
            },
            &r,
            &mut out,
        );
        c.on_result(T0 + 200, &id(99), delivered(), &r, &mut out);
        c.on_lookup(T0 + 200, &id(2), Lookup::NotFound, &r, &mut out);
        assert!(out.is_empty());
        assert_eq!(c, before);
    }

    #[test]
    fn quiet_hours_route_to_the_fallback_or_hold() {
        // The CSM is quiet all day but the last minute; the deputy is awake.
        let quiet = QuietHours {
            utc_offset_min: 0,
            start_min: 0,
            end_min: 1439,
        };
        let mut csm = contact("csm", vec![slack("csm")]);
        csm.quiet_hours = Some(quiet);
        csm.fallback = Some(cid("deputy"));
        let deputy = contact("deputy", vec![slack("deputy")]);
        let r = Roster::new(vec![csm.clone(), deputy, contact("vp", vec![pd()])]).expect("roster");
        let day = (T0 / 86_400_000) * 86_400_000;
        let now = day + 3_600_000;
        let p = Policy {
            steps: vec![Step {
                contacts: vec![cid("csm")],
                wait_ms: 60_000,
            }],
            ..policy()
        };
        let mut out = vec![];
        let c = Chain::open(
            now,
            AlertId::new("al_1").expect("id"),
            detection(),
            p.clone(),
            &r,
            &mut out,
        );
        assert_eq!(
            sends(&out),
            vec![(
                "deputy".into(),
                ChannelKind::SlackWebhook,
                Purpose::Page,
                1,
                false
            )]
        );
        assert_eq!(c.deliveries[0].instead_of, Some(cid("csm")));
        // No fallback: held until the window ends, and the step still times out on schedule.
        csm.fallback = None;
        let r = Roster::new(vec![csm, contact("vp", vec![pd()])]).expect("roster");
        let p2 = Policy {
            steps: vec![
                Step {
                    contacts: vec![cid("csm")],
                    wait_ms: 60_000,
                },
                Step {
                    contacts: vec![cid("vp")],
                    wait_ms: 60_000,
                },
            ],
            ..policy()
        };
        let mut out = vec![];
        let mut c = Chain::open(
            now,
            AlertId::new("al_1").expect("id"),
            detection(),
            p2,
            &r,
            &mut out,
        );
        assert!(sends(&out).is_empty());
        assert!(c.deliveries[0].held);
        assert_eq!(c.deliveries[0].next_at_ms, Some(day + 1439 * 60_000));
        c.on_tick(now + 60_000, &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![("vp".into(), ChannelKind::Pagerduty, Purpose::Page, 1, false)]
        );
        // Acknowledged before the window ends: the held message is cancelled.
        c.acknowledge(now + 70_000, "vp", &r, &mut out);
        assert_eq!(c.deliveries[0].status, Status::Cancelled);
    }

    #[test]
    fn recovery_looks_up_twilio_and_counts_possible_slack_duplicates() {
        let r = roster();
        let mut out = vec![];
        let c = open(&mut out);
        // Stored after the Persist, then the process died with both attempts in flight.
        let stored = serde_json::to_string(&c).expect("serialize");
        assert!(
            !stored.contains("hooks.slack.com"),
            "no address (secret) in the state"
        );
        let mut c: Chain = serde_json::from_str(&stored).expect("deserialize");
        out.clear();
        c.recover(T0 + 5_000, &r, &mut out);
        assert_persist_first(&out);
        assert_eq!(
            sends(&out),
            vec![
                (
                    "csm".into(),
                    ChannelKind::SlackWebhook,
                    Purpose::Page,
                    2,
                    false
                ),
                ("csm".into(), ChannelKind::Sms, Purpose::Page, 2, true),
            ]
        );
        assert_eq!(c.possible_duplicates(), 1);
        // Delivered ones are not sent again.
        c.on_result(T0 + 5_100, &id(1), delivered(), &r, &mut out);
        let stored = serde_json::to_string(&c).expect("serialize");
        let mut c: Chain = serde_json::from_str(&stored).expect("deserialize");
        out.clear();
        c.recover(T0 + 6_000, &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![("csm".into(), ChannelKind::Sms, Purpose::Page, 3, true)]
        );
    }

    #[test]
    fn a_contact_in_two_steps_is_paged_once_per_address() {
        let r = roster();
        let p = Policy {
            steps: vec![
                Step {
                    contacts: vec![cid("csm")],
                    wait_ms: 1000,
                },
                Step {
                    contacts: vec![cid("csm"), cid("vp")],
                    wait_ms: 1000,
                },
            ],
            ..policy()
        };
        let mut out = vec![];
        let mut c = Chain::open(
            T0,
            AlertId::new("al_1").expect("id"),
            detection(),
            p,
            &r,
            &mut out,
        );
        out.clear();
        c.on_tick(T0 + 1000, &r, &mut out);
        assert_eq!(
            sends(&out),
            vec![("vp".into(), ChannelKind::Pagerduty, Purpose::Page, 1, false)]
        );
    }

    /// A model run: seeded random answers, acknowledgements and clock steps; invariants
    /// checked after every call. Invariants: `Persist` precedes any `Send`; a delivery never
    /// has two attempts in flight; no delivery exceeds `max_attempts`; no page is sent after
    /// an acknowledgement; a PagerDuty acknowledge/resolve only follows a delivered trigger;
    /// and with every answer eventually "delivered", everything settles.
    #[test]
    fn model_invariants_hold_under_random_answers() {
        let r = roster();
        for seed in 1..=300u64 {
            let mut rng = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let mut next = |n: u64| {
                rng = rng
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (rng >> 33) % n
            };
            let mut out = vec![];
            let mut c = open(&mut out);
            let mut now = T0;
            let mut in_flight: Vec<DeliveryId> = vec![];
            let mut acked = false;
            for round in 0..400 {
                for e in &out {
                    if let Effect::Send(j) = e {
                        assert!(
                            !in_flight.contains(&j.delivery),
                            "seed {seed}: two attempts in flight"
                        );
                        assert!(
                            !(acked && j.purpose == Purpose::Page),
                            "seed {seed}: paged after ack"
                        );
                        if j.purpose != Purpose::Page {
                            let d = c.delivery(&j.delivery).expect("delivery");
                            let t = d.trigger.expect("trigger");
                            assert_eq!(c.deliveries[t as usize - 1].status, Status::Delivered);
                        }
                        in_flight.push(j.delivery.clone());
                    }
                }
                assert_persist_first(&out);
                assert!(
                    c.deliveries
                        .iter()
                        .all(|d| d.attempts <= c.policy.retry.max_attempts)
                );
                out.clear();
                let settle = round > 300; // then only successes, to check everything settles
                match next(6) {
                    0..=2 if !in_flight.is_empty() => {
                        let id = in_flight.remove(next(in_flight.len() as u64) as usize);
                        let d = c.delivery(&id).expect("delivery").clone();
                        if d.lookup {
                            let l = match if settle { 0 } else { next(3) } {
                                0 => Lookup::Found {
                                    provider_id: "SM1".into(),
                                    failed: false,
                                },
                                1 => Lookup::NotFound,
                                _ => Lookup::Retry {
                                    after_ms: None,
                                    reason: "x".into(),
                                },
                            };
                            c.on_lookup(now, &id, l, &r, &mut out);
                        } else {
                            let o = match if settle { 0 } else { next(5) } {
                                0 | 1 => delivered(),
                                2 => Outcome::Retry {
                                    after_ms: Some(next(5000)),
                                    reason: "timeout".into(),
                                },
                                3 => Outcome::LookupFirst {
                                    reason: "timeout".into(),
                                },
                                _ => Outcome::Permanent {
                                    reason: "x".into(),
                                    address_broken: next(2) == 0,
                                },
                            };
                            c.on_result(now, &id, o, &r, &mut out);
                        }
                    }
                    3 if !acked && next(20) == 0 => {
                        acked = true;
                        c.acknowledge(now, "someone", &r, &mut out);
                    }
                    4 if next(50) == 0 => c.false_alarm(now, "someone", &r, &mut out),
                    _ => {
                        now += next(30_000);
                        c.on_tick(now, &r, &mut out);
                    }
                }
                acked |= !matches!(c.state, State::Open);
            }
            // Drain: answer everything, let time pass.
            for _ in 0..200 {
                for e in &out {
                    if let Effect::Send(j) = e {
                        in_flight.push(j.delivery.clone());
                    }
                }
                out.clear();
                if let Some(id) = in_flight.pop() {
                    if c.delivery(&id).is_some_and(|d| d.lookup) {
                        let found = Lookup::Found {
                            provider_id: "SM1".into(),
                            failed: false,
                        };
                        c.on_lookup(now, &id, found, &r, &mut out);
                    } else {
                        c.on_result(now, &id, delivered(), &r, &mut out);
                    }
                } else {
                    now += 3_600_000;
                    c.on_tick(now, &r, &mut out);
                }
            }
            assert!(
                c.deliveries.iter().all(|d| d.status.is_terminal()),
                "seed {seed}: unsettled"
            );
            assert!(c.is_finished(), "seed {seed}: not finished");
        }
    }

    #[test]
    fn config_is_validated() {
        assert!(matches!(
            Roster::new(vec![contact("a", vec![slack("1"), slack("2")])]),
            Err(ConfigError::DuplicateChannel(..))
        ));
        let mut a = contact("a", vec![]);
        a.fallback = Some(cid("nobody"));
        assert!(matches!(
            Roster::new(vec![a]),
            Err(ConfigError::Fallback(..))
        ));
        let r = roster();
        assert_eq!(policy().validate(&r), Ok(()));
        let mut p = policy();
        p.steps[1].contacts.push(cid("ghost"));
        assert_eq!(
            p.validate(&r),
            Err(ConfigError::UnknownContact(cid("ghost")))
        );
        p.steps.clear();
        assert!(p.validate(&r).is_err());
        let step: Step = serde_json::from_str(r#"{"contacts":["csm"]}"#).expect("step");
        assert_eq!(step.wait_ms, 60_000, "the documented default wait");
    }
}
