//! One browser session: the sans-IO state machine every shell drives.
//!
//! ```text
//! session.handle_frame(&mut ctx, &frame, &mut out) -> Disposition
//! ```
//! `ctx.now_ms` is the server's clock (cooldowns, aggregates); sample times come from the
//! frame (client clock, used only as differences). Outputs are values: detections and actions
//! appended to `out`, which the caller owns and reuses. Acknowledgement is the shell's job: it
//! acks a seq once the frame is durable, and re-acks a [`Disposition::Duplicate`].

use std::sync::Arc;

use sentientiq_proto::{Batch, ClientFrame, Hello, Seq, kind};

use crate::aggregate::Aggregates;
use crate::config::TenantPolicy;
use crate::detect::{Detection, Detectors, Found};
use crate::identity::{AccountInfo, Identity};
use crate::physics::Physics;
use crate::policy::{AccountCooldowns, Action, SessionCooldowns, decide};
use crate::{Emotion, confidence};

/// Seqs below the highest one seen by more than this are not compared any more: they are
/// re-acked as duplicates (a client resends only frames it has not seen acked, which are far
/// fewer). 128 entries × 8 bytes = 1 KiB per session.
pub const DEDUP_WINDOW: u64 = 128;

/// Interned section/page strings kept per session (further ones are allocated per use).
const MAX_INTERNED: usize = 32;

/// What the shell passes in with every frame.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Server time, ms since the Unix epoch.
    pub now_ms: u64,
    pub tenant: &'a TenantPolicy,
    pub accounts: &'a mut AccountCooldowns,
    pub aggregates: &'a mut Aggregates,
}

/// What the session made of a frame (PROTOCOL.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// New: store it, then ack it once durable.
    Accepted,
    /// Already held with the same content: ack again, store nothing.
    Duplicate,
    /// Already held with different content: the first is kept; ack again, store nothing.
    Conflict,
}

impl Disposition {
    pub fn is_new(self) -> bool {
        self == Disposition::Accepted
    }
}

/// What the session emits.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Detection(Detection),
    Action(Action),
}

/// Per-session counters (summed into shard metrics by the shell).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    pub frames: u64,
    pub samples: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    /// Seqs skipped over (missing when a higher seq arrived).
    pub gaps: u64,
    /// Frames that arrived after a higher seq (filling a gap).
    pub late: u64,
    /// Frames too far below the highest seq to compare, re-acked as duplicates.
    pub stale: u64,
    pub unknown_kinds: u64,
    pub detections: u64,
    pub actions: u64,
    /// `id` frames ignored because of the tenant's Do-Not-Track policy.
    pub dnt_ignored: u64,
}

#[derive(Debug, Clone)]
struct Dedup {
    high: u64,
    /// Every seq at or below this is held (a session resumed from a tombstone: its frames up to
    /// here were durable and acknowledged before it left memory).
    floor: u64,
    /// (seq, fingerprint low bits) at index seq % DEDUP_WINDOW.
    ring: Box<[(u32, u32); DEDUP_WINDOW as usize]>,
}

impl Dedup {
    fn new() -> Dedup {
        Dedup {
            high: 0,
            floor: 0,
            ring: Box::new([(0, 0); DEDUP_WINDOW as usize]),
        }
    }

    fn slot(seq: u64) -> usize {
        (seq % DEDUP_WINDOW) as usize
    }

    fn check(&mut self, seq: u64, fp: u64, c: &mut SessionCounters) -> Disposition {
        let entry = (seq as u32, fp as u32);
        if seq <= self.floor {
            c.stale += 1;
            c.duplicates += 1;
            return Disposition::Duplicate;
        }
        if seq > self.high {
            c.gaps += seq - self.high - 1;
            self.high = seq;
            self.ring[Self::slot(seq)] = entry;
            return Disposition::Accepted;
        }
        if self.high - seq >= DEDUP_WINDOW {
            c.stale += 1;
            c.duplicates += 1;
            return Disposition::Duplicate;
        }
        let held = self.ring[Self::slot(seq)];
        if held.0 == seq as u32 && seq != 0 {
            if held.1 == fp as u32 {
                c.duplicates += 1;
                Disposition::Duplicate
            } else {
                c.conflicts += 1;
                Disposition::Conflict
            }
        } else {
            c.late += 1;
            self.ring[Self::slot(seq)] = entry;
            Disposition::Accepted
        }
    }
}

/// One session's state.
#[derive(Debug, Clone)]
pub struct Session {
    dedup: Dedup,
    base_ms: Option<i64>,
    physics: Physics,
    det: Detectors,
    identity: Identity,
    dnt: bool,
    section: Option<Arc<str>>,
    page: Option<Arc<str>>,
    in_checkout: bool,
    /// Whether hesitation is watched in the current section: computed on first use, dropped
    /// when the section, page or tenant config changes.
    watched: Option<bool>,
    interned: Vec<Arc<str>>,
    last_move: Option<(i64, f64, f64)>,
    counters: SessionCounters,
    cooldowns: SessionCooldowns,
    actions: Vec<Action>,
    last_active_minute: Option<u64>,
    last_detection_minute: Option<u64>,
    ended: bool,
}

impl Session {
    /// A session started by `hello`.
    pub fn new(hello: &Hello) -> Session {
        let mut s = Session::anonymous();
        s.dnt = hello.dnt.unwrap_or(false);
        s.page = Some(Arc::from(hello.url.as_str()));
        s
    }

    /// A session with no hello (replay tools, benches).
    pub fn anonymous() -> Session {
        Session {
            dedup: Dedup::new(),
            base_ms: None,
            physics: Physics::new(),
            det: Detectors::default(),
            identity: Identity::default(),
            dnt: false,
            section: None,
            page: None,
            in_checkout: false,
            watched: None,
            interned: Vec::new(),
            last_move: None,
            counters: SessionCounters::default(),
            cooldowns: SessionCooldowns::default(),
            actions: Vec::new(),
            last_active_minute: None,
            last_detection_minute: None,
            ended: false,
        }
    }

    pub fn counters(&self) -> &SessionCounters {
        &self.counters
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn physics(&self) -> &Physics {
        &self.physics
    }

    /// The highest seq accepted.
    pub fn high_seq(&self) -> Seq {
        Seq(self.dedup.high)
    }

    pub fn section(&self) -> Option<&Arc<str>> {
        self.section.as_ref()
    }

    /// Sets what the identity store knew of the bound user before this session (cents), if the
    /// session is still bound to `uid`. Returns whether it applied.
    pub fn set_history(&mut self, uid: &str, cents: i64) -> bool {
        if self.identity.uid.as_deref() != Some(uid) {
            return false;
        }
        self.identity.history_cents = cents.max(0);
        true
    }

    /// Resumes a session that left memory (idle or shed) with every seq up to `held` durable:
    /// those are re-acknowledged as duplicates, never stored again.
    pub fn resume_after(&mut self, held: Seq) {
        self.dedup.floor = self.dedup.floor.max(held.0);
        self.dedup.high = self.dedup.high.max(held.0);
    }

    /// Whether the page sent Do-Not-Track / GPC.
    pub fn dnt(&self) -> bool {
        self.dnt
    }

    /// Whether `bye` was received.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Attaches what the account directory knows about the bound user (the shell looks it up
    /// when an `id` frame binds a user).
    pub fn set_account(&mut self, account: Option<AccountInfo>) {
        self.identity.account = account;
    }

    /// Handles one client frame. Frames the dedup finds already held produce no outputs.
    pub fn handle_frame(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &ClientFrame,
        out: &mut Vec<Output>,
    ) -> Disposition {
        let Some(seq) = frame.seq() else {
            // A hello on an existing session (reconnect): the page may have changed.
            if let ClientFrame::Hello(h) = frame {
                self.page = Some(self.intern(&h.url));
                self.update_checkout(ctx.tenant);
                self.dnt = h.dnt.unwrap_or(self.dnt);
            }
            return Disposition::Accepted;
        };
        let d = self
            .dedup
            .check(seq.0, frame.fingerprint(), &mut self.counters);
        if !d.is_new() {
            return d;
        }
        self.counters.frames += 1;
        let minute = ctx.now_ms / 60_000;
        if self.last_active_minute != Some(minute) {
            self.last_active_minute = Some(minute);
            ctx.aggregates.active(minute);
        }
        match frame {
            ClientFrame::Batch(b) => self.batch(ctx, b, out),
            ClientFrame::Identify(id) => {
                // Under either policy a Do-Not-Track session never gets an identity.
                if self.dnt {
                    self.counters.dnt_ignored += 1;
                } else {
                    self.identity.apply(id);
                }
            }
            ClientFrame::Track(tr) => {
                self.identity.track(tr);
            }
            ClientFrame::Outcome(_) => {}
            ClientFrame::Bye { .. } => self.ended = true,
            ClientFrame::Hello(_) => {}
        }
        d
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.interned.iter().find(|a| &***a == s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.interned.len() < MAX_INTERNED {
            self.interned.push(a.clone());
        }
        a
    }

    /// Recomputes what depends on the section and page (on change only, not per sample).
    fn update_checkout(&mut self, tenant: &TenantPolicy) {
        let is = |v: &Option<Arc<str>>| {
            v.as_deref()
                .is_some_and(|s| tenant.checkout_markers.iter().any(|m| s.contains(&**m)))
        };
        self.in_checkout = is(&self.section) || is(&self.page);
        self.watched = None;
    }

    /// The tenant's config changed (the shell calls this when it applies a new version).
    pub fn config_changed(&mut self, tenant: &TenantPolicy) {
        self.update_checkout(tenant);
    }

    fn batch(&mut self, ctx: &mut Ctx<'_>, b: &Batch, out: &mut Vec<Output>) {
        let th = &ctx.tenant.thresholds;
        let t0 = i64::try_from(b.t0).unwrap_or(i64::MAX / 2);
        let base = *self.base_ms.get_or_insert(t0);
        // Client µs since the session's first t0.
        let mut t = (t0 - base).saturating_mul(1000);
        self.counters.samples += b.len() as u64;
        for i in 0..b.len() {
            t = t.saturating_add(i64::from(b.dt[i]));
            let (x, y) = (f64::from(b.x[i]), f64::from(b.y[i]));
            let found = match b.k[i] {
                kind::MOVE | kind::DOWN | kind::UP => self.pointer(ctx.tenant, t, x, y),
                kind::CLICK => {
                    let f = self.pointer(ctx.tenant, t, x, y);
                    let c = self.det.click(t, x, y, th);
                    f.or(c)
                }
                kind::SCROLL => self.det.scroll(t, b.x[i], b.y[i], th),
                kind::VISIBILITY => {
                    if b.a(i) == 0 {
                        self.det.hidden(t, self.in_checkout, th)
                    } else {
                        None
                    }
                }
                kind::SECTION => {
                    self.section = b.label(i).map(|s| self.intern(s));
                    self.update_checkout(ctx.tenant);
                    self.pointer(ctx.tenant, t, x, y)
                }
                kind::PAGE => {
                    self.page = b.label(i).map(|s| self.intern(s));
                    self.section = None;
                    self.update_checkout(ctx.tenant);
                    None
                }
                kind::DEAD => self.det.dead(t, x, y, th),
                kind::ERROR => self.det.error(t, th),
                kind::COPY => {
                    self.det.copy();
                    None
                }
                kind::LEAVE => {
                    let v = self.physics.velocity();
                    self.det.leave(t, y, v, self.in_checkout, th)
                }
                kind::KEY | kind::RESIZE | kind::FORM => None,
                _ => {
                    self.counters.unknown_kinds += 1;
                    None
                }
            };
            if let Some(f) = found {
                self.emit(ctx, f, b.seq, i as u32, base + t / 1000, t, out);
            }
        }
    }

    fn pointer(&mut self, tenant: &TenantPolicy, t: i64, x: f64, y: f64) -> Option<Found> {
        let th = &tenant.thresholds;
        let rested_from = match self.last_move {
            Some((lt, lx, ly)) if t - lt >= i64::from(th.stop_ms) * 1000 => Some((lx, ly)),
            _ => None,
        };
        let entropy = self.physics.entropy();
        let mut thrash = None;
        let det = &mut self.det;
        self.physics.push(t, x, y, |g| {
            if let Some(f) = det.grid(g, th, entropy) {
                thrash = Some(f);
            }
        });
        self.last_move = Some((t, x, y));
        let section = &self.section;
        let watched = *self.watched.get_or_insert_with(|| {
            tenant.hesitation_sections.is_empty()
                || section
                    .as_ref()
                    .is_some_and(|s| tenant.hesitation_sections.iter().any(|w| w == s))
        });
        let hes = self.det.pointer(t, x, y, rested_from, watched, th);
        thrash.or(hes)
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        ctx: &mut Ctx<'_>,
        f: Found,
        seq: Seq,
        sample: u32,
        client_ms: i64,
        t_us: i64,
        out: &mut Vec<Output>,
    ) {
        self.counters.detections += 1;
        let c = confidence(f.margin);
        let label = ctx
            .tenant
            .label(f.emotion, self.section.as_deref())
            .cloned();
        let det = Detection {
            emotion: f.emotion,
            label,
            confidence: c,
            section: self.section.clone(),
            page: self.page.clone(),
            at: seq,
            sample,
            client_ms,
            physics: self.physics.snapshot(t_us),
            evidence: f.evidence,
            n: self.counters.detections as u32,
            uid: self.identity.uid.clone(),
            account: self.identity.account_key().cloned(),
            value_cents: self.identity.value_cents(),
        };
        let minute = ctx.now_ms / 60_000;
        let first = self.last_detection_minute != Some(minute);
        self.last_detection_minute = Some(minute);
        ctx.aggregates
            .detection(minute, f.emotion, c, first, det.value_cents);
        let mut n = self.counters.actions as u32;
        decide(
            ctx.now_ms,
            &det,
            self.identity.identified(),
            ctx.tenant,
            &mut self.cooldowns,
            ctx.accounts,
            &mut n,
            &mut self.actions,
        );
        self.counters.actions = u64::from(n);
        out.push(Output::Detection(det));
        out.extend(self.actions.drain(..).map(Output::Action));
    }

    /// Which emotions were detected, for tests and tools.
    pub fn detected(out: &[Output]) -> Vec<Emotion> {
        out.iter()
            .filter_map(|o| match o {
                Output::Detection(d) => Some(d.emotion),
                Output::Action(_) => None,
            })
            .collect()
    }
}
