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
use crate::detect::{Detection, Detectors, Found, escalation_eligible};
use crate::identity::{AccountInfo, Identity};
use crate::physics::Physics;
use crate::policy::{AccountCooldowns, Action, SessionCooldowns, decide};
use crate::{Emotion, confidence};

/// How far above the contiguous prefix a frame may arrive and still be accepted (a gap the
/// client will fill). 128 seqs is 32 s of frames at the SDK's 4 per second, far more than a
/// refused frame's retry takes; a frame further ahead is refused until the gap is filled.
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
    /// More than [`DEDUP_WINDOW`] seqs above the first one the session has not delivered:
    /// not accepted (not held, not acked); the client sends it again after the gap is filled.
    Ahead,
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

/// The seqs a session holds: every seq up to `floor` (the contiguous prefix), the ones above it
/// marked in `above` (bit i = seq floor + 1 + i), and the fingerprints of the last
/// [`DEDUP_WINDOW`] seqs for telling a duplicate from a conflict. 1 KiB + 40 bytes per session.
#[derive(Debug, Clone)]
struct Dedup {
    floor: u64,
    above: u128,
    high: u64,
    /// (seq, fingerprint low bits) at index seq % DEDUP_WINDOW.
    ring: Box<[(u32, u32); DEDUP_WINDOW as usize]>,
}

impl Dedup {
    fn new() -> Dedup {
        Dedup {
            floor: 0,
            above: 0,
            high: 0,
            ring: Box::new([(0, 0); DEDUP_WINDOW as usize]),
        }
    }

    /// Without the fingerprint ring: for merging held sets only.
    fn new_bare() -> Dedup {
        Dedup {
            floor: 0,
            above: 0,
            high: 0,
            ring: Box::new([(0, 0); DEDUP_WINDOW as usize]),
        }
    }

    fn slot(seq: u64) -> usize {
        (seq % DEDUP_WINDOW) as usize
    }

    /// Compares a held seq's fingerprint, when it is still in the ring.
    fn held(&self, seq: u64, fp: u64, c: &mut SessionCounters) -> Disposition {
        let (s, f) = self.ring[Self::slot(seq)];
        if s == seq as u32 && f != fp as u32 {
            c.conflicts += 1;
            return Disposition::Conflict;
        }
        if s != seq as u32 {
            c.stale += 1;
        }
        c.duplicates += 1;
        Disposition::Duplicate
    }

    fn check(&mut self, seq: u64, fp: u64, c: &mut SessionCounters) -> Disposition {
        if seq <= self.floor {
            return self.held(seq, fp, c);
        }
        let i = seq - self.floor - 1;
        if i >= DEDUP_WINDOW {
            return Disposition::Ahead;
        }
        if self.above & (1u128 << i) != 0 {
            return self.held(seq, fp, c);
        }
        if seq > self.high {
            c.gaps += seq - self.high - 1;
            self.high = seq;
        } else {
            c.late += 1;
        }
        self.ring[Self::slot(seq)] = (seq as u32, fp as u32);
        self.above |= 1u128 << i;
        self.advance();
        Disposition::Accepted
    }

    /// Moves the floor over every held seq right above it.
    fn advance(&mut self) {
        let run = self.above.trailing_ones();
        if run == 0 {
            return;
        }
        self.floor += u64::from(run);
        self.above = if run >= 128 { 0 } else { self.above >> run };
    }

    /// Holds everything up to `floor` and the seqs `above` marks over it (merged with what is
    /// held already).
    fn resume(&mut self, floor: u64, above: u128) {
        if floor > self.floor {
            let shift = floor - self.floor;
            self.above = if shift >= 128 { 0 } else { self.above >> shift };
            self.floor = floor;
        }
        // `above` is relative to `floor`; rebase it onto ours.
        let delta = self.floor - floor.min(self.floor);
        let rebased = if delta >= 128 { 0 } else { above >> delta };
        self.above |= rebased;
        self.high = self.high.max(self.floor).max(top(self.floor, self.above));
        self.advance();
    }
}

/// A set of held seqs as it travels outside a session (tombstones, shipped floors): every seq up
/// to `prefix`, and those `above` marks over it (bit i = seq prefix + 1 + i). Merging two is a
/// union, exact for seqs within [`DEDUP_WINDOW`] of the merged prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub prefix: u64,
    pub above: u128,
}

impl Held {
    /// Everything up to `prefix`.
    pub fn upto(prefix: u64) -> Held {
        Held { prefix, above: 0 }
    }

    /// The union of both.
    pub fn merge(self, other: Held) -> Held {
        let mut d = Dedup::new_bare();
        d.resume(self.prefix, self.above);
        d.resume(other.prefix, other.above);
        Held {
            prefix: d.floor,
            above: d.above,
        }
    }

    /// Adds `seq`; `false` when it lies beyond the window above the prefix and cannot be kept.
    pub fn insert(&mut self, seq: u64) -> bool {
        if seq <= self.prefix {
            return true;
        }
        let i = seq - self.prefix - 1;
        if i >= DEDUP_WINDOW {
            return false;
        }
        self.above |= 1u128 << i;
        let run = self.above.trailing_ones();
        self.prefix += u64::from(run);
        self.above = if run >= 128 { 0 } else { self.above >> run };
        true
    }

    /// Whether `seq` is in the set.
    pub fn contains(&self, seq: u64) -> bool {
        seq <= self.prefix
            || (seq - self.prefix - 1 < DEDUP_WINDOW
                && self.above & (1u128 << (seq - self.prefix - 1)) != 0)
    }
}

/// The highest seq `above` marks over `floor` (or `floor`).
fn top(floor: u64, above: u128) -> u64 {
    if above == 0 {
        floor
    } else {
        floor + 128 - u64::from(above.leading_zeros())
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

    /// Every seq up to this one is held (the contiguous prefix an ack may cover once durable).
    pub fn held_prefix(&self) -> Seq {
        Seq(self.dedup.floor)
    }

    /// The seqs held above [`Session::held_prefix`]: bit i is seq prefix + 1 + i.
    pub fn held_above(&self) -> u128 {
        self.dedup.above
    }

    /// Whether `seq` is held.
    pub fn holds(&self, seq: Seq) -> bool {
        self.held().contains(seq.0)
    }

    /// The held set, as tombstones and floors keep it.
    pub fn held(&self) -> Held {
        Held {
            prefix: self.dedup.floor,
            above: self.dedup.above,
        }
    }

    /// Takes a frame into the dedup only, without processing it (frames a session's policy
    /// drops unseen: they are still acknowledged in order).
    pub fn hold(&mut self, frame: &ClientFrame) -> Disposition {
        match frame.seq() {
            Some(seq) => self
                .dedup
                .check(seq.0, frame.fingerprint(), &mut self.counters),
            None => Disposition::Accepted,
        }
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

    /// Resumes a session that left memory (idle or shed), or that a client says was
    /// acknowledged up to `held` (`hello.ack`): every seq up to it is held, re-acknowledged as a
    /// duplicate, never stored again.
    pub fn resume_after(&mut self, held: Seq) {
        self.dedup.resume(held.0, 0);
    }

    /// Resumes with a held set (a tombstone's or a shipped floor's exact set).
    pub fn resume_held(&mut self, held: Held) {
        self.dedup.resume(held.prefix, held.above);
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
            corroboration: f.evidence.corroboration(),
            escalation_eligible: escalation_eligible(c, &f.evidence, &ctx.tenant.thresholds),
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
