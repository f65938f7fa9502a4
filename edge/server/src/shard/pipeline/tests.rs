//! The per-frame pipeline alone: no sockets, no RocksDB, no clock. A harness feeds frames with
//! a test clock, "commits" the spool when told (durable up to what was appended), and reads the
//! effects.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sentientiq_core::Held;
use sentientiq_core::identity::AccountInfo;
use sentientiq_proto::{
    ClientFrame, EdgeFrame, ErrorCode, Identify, Limits, Seq, Sid, decode_edge,
};
use sentientiq_tenant::{
    AccountSpec, ContactSpec, EscalateSpec, InterveneSpec, RuleSpec, TenantSpec,
};
use sentientiq_testkit::frames::{hello, identify_as, moves, rage, track};

use super::{Effect, Env, Lookup, Pipeline};
use crate::shard::msg::{ConnRef, Inbound, Out};
use crate::storage::spool;
use crate::telemetry::ShardMetrics;
use crate::tenants::Tenants;

const KEY: &str = "siq_pk_test_0000000000000000";

/// The identity store's in-memory answers.
#[derive(Default)]
struct Directory {
    forgotten: HashSet<String>,
    accounts: Vec<(String, i64)>,
}

impl Lookup for Directory {
    fn is_forgotten(&self, _tenant: &str, uid: &str) -> bool {
        self.forgotten.contains(uid)
    }

    /// By uid, else by the email's domain (as the identity store's directory).
    fn account_for(&self, _tenant: &str, id: &Identify) -> Option<AccountInfo> {
        let domain = id.email.as_deref().and_then(|e| e.split('@').nth(1));
        self.accounts
            .iter()
            .find(|(d, _)| *d == id.uid || Some(d.as_str()) == domain)
            .map(|(d, v)| AccountInfo {
                key: Arc::from(d.as_str()),
                company: None,
                value_cents: *v,
                tier: None,
            })
    }
}

struct Harness {
    p: Pipeline,
    tenants: Tenants,
    backlog: AtomicU64,
    spool_max: u64,
    spool_writable: bool,
    dir: Directory,
    now: u64,
    /// The address frames come from.
    peer: std::net::IpAddr,
    new_sessions_per_sec: u32,
    new_session_burst: u32,
    /// Whether detections go to the live feed (the edge reports to a plane).
    live_feed: bool,
}

/// A tenant that emits detections, helps on rage and pages for $100k accounts.
fn spec() -> TenantSpec {
    let mut t = TenantSpec::new("acme");
    t.key_sha256 = vec![hex::encode(sentientiq_tenant::key_hash(KEY))];
    t.allowed_origins = vec!["*".into()];
    t.emit = true;
    t.contacts.push(ContactSpec {
        id: "csm".into(),
        name: "CSM".into(),
        channel: "webhook".into(),
        address: "https://hooks.example/csm".into(),
    });
    t.rules.push(RuleSpec {
        id: "help".into(),
        emotions: vec!["rage".into()],
        min_confidence: 0.5,
        sections: vec![],
        require_identified: false,
        min_value_cents: 0,
        intervene: Some(InterveneSpec {
            kind: "chat".into(),
            variant: "a".into(),
            payload: None,
        }),
        escalate: None,
        experiment: None,
        session_cooldown_s: 60,
        account_cooldown_s: 0,
    });
    t.rules.push(RuleSpec {
        id: "page".into(),
        emotions: vec!["rage".into()],
        min_confidence: 0.0,
        sections: vec![],
        require_identified: true,
        min_value_cents: 10_000_000,
        intervene: None,
        escalate: Some(EscalateSpec {
            contacts: vec!["csm".into()],
            chain: None,
        }),
        experiment: None,
        session_cooldown_s: 0,
        account_cooldown_s: 600,
    });
    t.accounts.push(AccountSpec {
        matches: "@acme.example".into(),
        company: None,
        value_cents: 12_000_000,
        tier: None,
    });
    t
}

impl Harness {
    fn new(edit: impl FnOnce(&mut TenantSpec)) -> Harness {
        let mut t = spec();
        edit(&mut t);
        let dir = Directory {
            accounts: vec![("acme.example".into(), 12_000_000)],
            ..Directory::default()
        };
        Harness {
            p: Pipeline::new(
                Arc::new(ShardMetrics::default()),
                0,
                1000,
                1000,
                crate::shard::experiment::Lab::new(42, 0),
            ),
            tenants: Tenants::new(vec![t.validate().expect("valid")]),
            backlog: AtomicU64::new(0),
            spool_max: 1 << 30,
            spool_writable: true,
            dir,
            now: 1_000_000,
            peer: std::net::IpAddr::from([10, 0, 0, 1]),
            new_sessions_per_sec: 1000,
            new_session_burst: 1000,
            live_feed: true,
        }
    }

    /// A harness whose tenant allows `per_sec` frames a second per session, `burst` at once.
    fn rate_limited(per_sec: u32, burst: u32) -> Harness {
        Harness::new(|t| {
            t.limits.frames_per_sec = Some(per_sec);
            t.limits.frame_burst = Some(burst);
        })
    }

    /// One frame from connection `conn` for `sid`.
    fn send(&mut self, conn: u64, sid: &str, frame: ClientFrame) -> Vec<Effect> {
        let raw = sentientiq_proto::client_to_vec(&frame);
        let inb = Inbound {
            conn: ConnRef { shard: 0, id: conn },
            tenant: 0,
            sid: Sid::parse(sid).expect("sid"),
            peer: self.peer,
            recv_ms: self.now,
            raw,
            frame,
        };
        let mut fx = Vec::new();
        let env = Env {
            now_ms: self.now,
            tenants: &self.tenants,
            edge_id: "e1",
            region: "r1",
            spool_backlog: &self.backlog,
            spool_max: self.spool_max,
            spool_writable: self.spool_writable,
            new_sessions_per_sec: self.new_sessions_per_sec,
            new_session_burst: self.new_session_burst,
            lookup: &self.dir,
            live_feed: self.live_feed,
        };
        self.p.handle(&env, inb, &mut fx);
        fx
    }

    fn hello(&mut self, conn: u64, sid: &str) -> sentientiq_proto::Welcome {
        let fx = self.send(conn, sid, ClientFrame::Hello(hello(KEY, sid, None)));
        match frames(&fx).as_slice() {
            [EdgeFrame::Welcome(w)] => w.clone(),
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// The committer's turn: everything appended becomes durable. Returns the records written
    /// and the effects (acks).
    fn commit(&mut self) -> (Vec<spool::Record>, Vec<Effect>) {
        let (data, upto) = self.p.take_spool();
        let mut seg = spool::header(0).to_vec();
        seg.extend_from_slice(&data);
        let (records, _) = spool::decode_segment(&seg);
        let mut fx = Vec::new();
        self.p.durable(self.now, upto, &mut fx);
        (records, fx)
    }
}

/// The edge frames among effects (welcome, det, iv), decoded.
fn frames(fx: &[Effect]) -> Vec<EdgeFrame> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Deliver(_, Out::Frame(b)) => decode_edge(b, &Limits::DEFAULT).ok(),
            _ => None,
        })
        .collect()
}

fn acks(fx: &[Effect]) -> Vec<(u64, u64)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Deliver(c, Out::Ack { ack, .. }) => Some((c.id, ack.0)),
            _ => None,
        })
        .collect()
}

fn errs(fx: &[Effect]) -> Vec<(ErrorCode, bool)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Deliver(_, Out::Err(e)) => Some((e.code, e.fatal)),
            _ => None,
        })
        .collect()
}

/// Rebuilds `p` from spooled records as a restarted shard does; returns the frames replayed.
fn replay(p: &mut Pipeline, tenants: &Tenants, records: &[spool::Record]) -> usize {
    let n = records
        .iter()
        .filter(|r| p.replay_record(tenants, r.as_ref()))
        .count();
    p.replay_done();
    n
}

fn frame_records(r: &[spool::Record]) -> Vec<u64> {
    r.iter()
        .filter(|r| r.kind == spool::KIND_FRAME)
        .map(|r| r.seq)
        .collect()
}

#[test]
fn a_frame_is_acked_only_once_its_record_is_durable() {
    let mut h = Harness::new(|_| {});
    let w = h.hello(1, "s_pipeline_0000001");
    assert_eq!((w.ack, w.region.as_str(), w.emit), (Seq(0), "r1", true));
    let fx = h.send(1, "s_pipeline_0000001", moves(1, 10));
    assert!(acks(&fx).is_empty(), "nothing is acked before the sync");
    assert!(matches!(fx.as_slice(), [Effect::WakeCommitter]), "{fx:?}");
    assert!(h.backlog.load(Ordering::Relaxed) > 0);
    let (records, fx) = h.commit();
    assert_eq!(frame_records(&records), vec![1]);
    assert_eq!(acks(&fx), vec![(1, 1)]);
    // A retry of a held frame is re-acked after everything before it is durable, and stored
    // nowhere.
    let fx = h.send(1, "s_pipeline_0000001", moves(1, 10));
    assert!(acks(&fx).is_empty());
    let (records, fx) = h.commit();
    assert!(records.is_empty());
    assert_eq!(acks(&fx), vec![(1, 1)]);
    assert_eq!(h.p.metrics().duplicates.load(Ordering::Relaxed), 1);
    // A welcome after a reconnect carries the durable seq.
    assert_eq!(h.hello(2, "s_pipeline_0000001").ack, Seq(1));
}

#[test]
fn acks_are_cumulative_per_connection_and_session() {
    let mut h = Harness::new(|_| {});
    h.hello(1, "s_pipeline_ack_0001");
    h.hello(2, "s_pipeline_ack_0002");
    for seq in 1..=3 {
        h.send(1, "s_pipeline_ack_0001", moves(seq, 2));
    }
    h.send(2, "s_pipeline_ack_0002", moves(1, 2));
    let (records, fx) = h.commit();
    assert_eq!(frame_records(&records), vec![1, 2, 3, 1]);
    let mut a = acks(&fx);
    a.sort_unstable();
    assert_eq!(a, vec![(1, 3), (2, 1)], "one ack per (connection, session)");
}

#[test]
fn over_the_frame_rate_a_frame_is_refused_not_acked_and_a_retry_later_is_accepted() {
    let mut h = Harness::rate_limited(10, 3);
    h.hello(1, "s_pipeline_rate_001");
    // cap − 1, cap: accepted; cap + 1: refused with the wait until the next token.
    for seq in 1..=3 {
        assert!(errs(&h.send(1, "s_pipeline_rate_001", moves(seq, 1))).is_empty());
    }
    let fx = h.send(1, "s_pipeline_rate_001", moves(4, 1));
    assert_eq!(errs(&fx), vec![(ErrorCode::RateLimited, false)]);
    let retry = fx.iter().find_map(|e| match e {
        Effect::Deliver(_, Out::Err(e)) => e.retry_ms,
        _ => None,
    });
    assert_eq!(retry, Some(100), "10 frames/s: the next token in 100 ms");
    let (records, _) = h.commit();
    assert_eq!(frame_records(&records), vec![1, 2, 3]);
    // A re-sent held frame spends no token; after the wait, the refused one goes in.
    assert!(errs(&h.send(1, "s_pipeline_rate_001", moves(2, 1))).is_empty());
    h.now += 100;
    assert!(errs(&h.send(1, "s_pipeline_rate_001", moves(4, 1))).is_empty());
    let (records, _) = h.commit();
    assert_eq!(frame_records(&records), vec![4]);
}

/// What the shard's sleep policy counts (`shard/gather.rs`): every frame handed to the
/// pipeline, so a shard refusing frames (rate limits, a full spool) still counts its work.
#[test]
fn every_frame_handed_to_the_pipeline_is_counted_whatever_became_of_it() {
    let mut h = Harness::rate_limited(10, 1);
    h.hello(1, "s_pipeline_work_001");
    assert!(errs(&h.send(1, "s_pipeline_work_001", moves(1, 1))).is_empty());
    let fx = h.send(1, "s_pipeline_work_001", moves(2, 1));
    assert_eq!(errs(&fx), vec![(ErrorCode::RateLimited, false)]);
    h.commit();
    h.send(1, "s_pipeline_work_001", moves(1, 1));
    let m = h.p.metrics();
    assert_eq!(m.duplicates.load(Ordering::Relaxed), 1);
    assert_eq!(m.frames.load(Ordering::Relaxed), 1, "one accepted");
    assert_eq!(
        m.handled.load(Ordering::Relaxed),
        4,
        "the hello, the accepted, the refused and the duplicate"
    );
}

#[test]
fn at_the_session_cap_newcomers_are_refused_unless_they_are_worth_more() {
    let mut h = Harness::new(|t| t.limits.max_sessions_per_shard = Some(2));
    h.hello(1, "s_pipeline_cap_0001");
    h.hello(2, "s_pipeline_cap_0002");
    h.commit();
    // cap + 1 with no known value: refused, fatal; the live ones stay.
    let fx = h.send(
        3,
        "s_pipeline_cap_0003",
        ClientFrame::Hello(hello(KEY, "s_pipeline_cap_0003", None)),
    );
    assert_eq!(errs(&fx), vec![(ErrorCode::Overloaded, true)]);
    assert_eq!(h.p.len(), 2);
    // A session that identified as a $120k user and left memory comes back: known by value, it
    // sheds the cheapest live one.
    h.send(
        1,
        "s_pipeline_cap_0001",
        identify_as(1, "u_dana", "dana@acme.example"),
    );
    h.commit();
    h.p.evict_idle(h.now + 10_000, 5_000);
    assert_eq!(h.p.len(), 0, "both idle sessions left memory");
    h.hello(4, "s_pipeline_cap_0004");
    h.hello(5, "s_pipeline_cap_0005");
    let fx = h.send(
        6,
        "s_pipeline_cap_0001",
        ClientFrame::Hello(hello(KEY, "s_pipeline_cap_0001", Some(1))),
    );
    let e = errs(&fx);
    assert_eq!(
        e,
        vec![(ErrorCode::Overloaded, true)],
        "one low-value session shed: {fx:?}"
    );
    assert!(
        frames(&fx)
            .iter()
            .any(|f| matches!(f, EdgeFrame::Welcome(w) if w.ack == Seq(1))),
        "the returning high-value session is admitted, resuming after its durable seq"
    );
    assert_eq!(h.p.len(), 2);
    assert_eq!(h.p.metrics().shed.load(Ordering::Relaxed), 2);
}

#[test]
fn a_shipped_sessions_floor_makes_a_late_retry_a_duplicate() {
    let mut h = Harness::new(|_| {});
    let tenants = h.tenants.clone();
    h.p.seed_floors(
        &tenants,
        vec![("acme".into(), "s_pipeline_floor01".into(), Held::upto(5))],
    );
    let w = h.hello(1, "s_pipeline_floor01");
    assert_eq!(w.ack, Seq(5), "resumes after the shipped floor");
    h.send(1, "s_pipeline_floor01", moves(5, 3));
    h.send(1, "s_pipeline_floor01", moves(6, 3));
    let (records, fx) = h.commit();
    assert_eq!(
        frame_records(&records),
        vec![6],
        "seq 5 was shipped already"
    );
    assert_eq!(acks(&fx), vec![(1, 6)]);
}

#[test]
fn rage_by_a_high_value_user_answers_det_and_iv_and_escalates_once() {
    let mut h = Harness::new(|_| {});
    h.hello(1, "s_pipeline_rage_001");
    let fx = h.send(
        1,
        "s_pipeline_rage_001",
        identify_as(1, "u_dana", "dana@acme.example"),
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Bind { uid, reply: true, .. } if &**uid == "u_dana")),
        "{fx:?}"
    );
    let fx = h.send(1, "s_pipeline_rage_001", rage(2));
    let f = frames(&fx);
    assert!(
        f.iter()
            .any(|f| matches!(f, EdgeFrame::Det(d) if d.e == "rage" && d.at == Seq(2))),
        "{f:?}"
    );
    assert_eq!(
        f.iter().filter(|f| matches!(f, EdgeFrame::Iv(_))).count(),
        1,
        "{f:?}"
    );
    let esc: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Escalate(e) => Some(e.value_cents),
            _ => None,
        })
        .collect();
    assert_eq!(esc, vec![12_000_000]);
    // The detection and both actions are spooled with the frame, before its ack.
    let (records, fx) = h.commit();
    let kinds: Vec<u8> = records.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds[..2],
        [spool::KIND_FRAME, spool::KIND_FRAME],
        "{kinds:?}"
    );
    assert!(
        kinds[2..]
            .iter()
            .all(|k| *k == spool::KIND_DETECTION || *k == spool::KIND_ACTION),
        "{kinds:?}"
    );
    let n = |k| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(
        n(spool::KIND_ACTION),
        2,
        "the intervention and the escalation"
    );
    assert!(n(spool::KIND_DETECTION) >= 1);
    assert_eq!(acks(&fx), vec![(1, 2)]);
    // A purchase by the bound user is identity work too.
    let fx = h.send(
        1,
        "s_pipeline_rage_001",
        sentientiq_testkit::frames::purchase(3, 25.0),
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Purchase { cents: 2500, .. })),
        "{fx:?}"
    );
}

#[test]
fn dropped_sessions_are_acked_and_nothing_is_spooled() {
    // A user deleted through the control plane: from their `id` on, acked and dropped.
    let mut h = Harness::new(|_| {});
    h.dir.forgotten.insert("u_gone".into());
    h.hello(1, "s_pipeline_gdpr_001");
    h.send(1, "s_pipeline_gdpr_001", moves(1, 2));
    let fx = h.send(
        1,
        "s_pipeline_gdpr_001",
        identify_as(2, "u_gone", "gone@x.example"),
    );
    assert!(
        acks(&fx).is_empty(),
        "acked behind seq 1, once that is durable"
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::Bind { .. })));
    h.send(1, "s_pipeline_gdpr_001", track(3, "x"));
    let (records, fx) = h.commit();
    assert_eq!(
        frame_records(&records),
        vec![1],
        "only what came before the id"
    );
    assert_eq!(acks(&fx), vec![(1, 3)]);
    // Do-Not-Track under `dnt = "drop"`: nothing at all.
    let mut h = Harness::new(|t| t.dnt = sentientiq_tenant::Dnt::Drop);
    let mut hl = hello(KEY, "s_pipeline_dnt_0001", None);
    hl.dnt = Some(true);
    h.send(1, "s_pipeline_dnt_0001", ClientFrame::Hello(hl));
    h.send(1, "s_pipeline_dnt_0001", moves(1, 2));
    let (records, fx) = h.commit();
    assert!(records.is_empty());
    assert_eq!(acks(&fx), vec![(1, 1)]);
}

#[test]
fn a_full_spool_refuses_new_frames_and_keeps_the_reserve_for_high_value() {
    let mut h = Harness::new(|_| {});
    h.spool_max = 1000;
    h.hello(1, "s_pipeline_full_001");
    // 90 % of the headroom: a low-value session's new frame is refused (not acked, not fatal).
    h.backlog.store(900, Ordering::Relaxed);
    let fx = h.send(1, "s_pipeline_full_001", moves(1, 2));
    assert_eq!(errs(&fx), vec![(ErrorCode::Overloaded, false)]);
    // Its `id` frame may use the reserve: it may be what makes the session high-value.
    let fx = h.send(
        1,
        "s_pipeline_full_001",
        identify_as(1, "u_dana", "dana@acme.example"),
    );
    assert!(errs(&fx).is_empty(), "{fx:?}");
    // Now worth $120k: its frames use the reserve up to 100 %.
    h.backlog.store(999, Ordering::Relaxed);
    assert!(errs(&h.send(1, "s_pipeline_full_001", moves(2, 2))).is_empty());
    h.backlog.store(2000, Ordering::Relaxed);
    let fx = h.send(1, "s_pipeline_full_001", moves(3, 2));
    assert_eq!(errs(&fx), vec![(ErrorCode::Overloaded, false)]);
}

#[test]
fn replay_rebuilds_dedup_and_the_durable_seq_without_effects() {
    let mut h = Harness::new(|_| {});
    h.hello(1, "s_pipeline_replay01");
    for seq in 1..=3 {
        h.send(1, "s_pipeline_replay01", moves(seq, 4));
    }
    let (records, _) = h.commit();
    let mut fresh = Harness::new(|_| {});
    let tenants = fresh.tenants.clone();
    assert_eq!(replay(&mut fresh.p, &tenants, &records), 3);
    assert_eq!(fresh.hello(1, "s_pipeline_replay01").ack, Seq(3));
    fresh.send(1, "s_pipeline_replay01", moves(3, 4));
    let (records, fx) = fresh.commit();
    assert!(records.is_empty(), "a replayed frame is held");
    assert_eq!(acks(&fx), vec![(1, 3)]);
}

/// Issue 19 §1, the fault matrix's finding: a client sending faster than its frame rate got
/// `rate_limited` for some frames, went on, and later received a cumulative ack above them,
/// so it forgot frames that were never stored. An ack may only cover a durable prefix.
#[test]
fn regression_an_ack_never_covers_a_rate_limited_frame() {
    let mut h = Harness::rate_limited(10, 2);
    h.hello(1, "s_regress_rate_0001");
    let mut refused = Vec::new();
    for seq in 1..=6 {
        if !errs(&h.send(1, "s_regress_rate_0001", moves(seq, 1))).is_empty() {
            refused.push(seq);
        }
        h.now += 60; // 6 tokens per 100 ms at 10/s: some frames find the bucket empty
    }
    assert!(!refused.is_empty());
    let (records, fx) = h.commit();
    let stored = frame_records(&records);
    let ack = acks(&fx).iter().map(|a| a.1).max().unwrap_or(0);
    for seq in 1..=ack {
        assert!(
            stored.contains(&seq),
            "ack {ack} covers seq {seq}, not stored: {stored:?}"
        );
    }
    assert!(
        ack < refused[0],
        "the ack stops before the first refused frame"
    );
    // The client resends what was not acked; the gap fills and the ack runs to the end.
    h.now += 1000;
    for seq in (ack + 1)..=6 {
        h.send(1, "s_regress_rate_0001", moves(seq, 1));
        h.now += 200;
    }
    let (records, fx) = h.commit();
    assert_eq!(acks(&fx).last().map(|a| a.1), Some(6));
    let mut all = stored;
    all.extend(frame_records(&records));
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3, 4, 5, 6], "each frame stored once");
}

#[test]
fn a_frame_past_the_window_above_a_gap_is_refused_until_the_gap_fills() {
    let w = sentientiq_core::session::DEDUP_WINDOW;
    let mut h = Harness::new(|_| {});
    h.hello(1, "s_pipeline_window01");
    // Seq 1 is missing; w is within the window, w + 1 is not.
    assert!(errs(&h.send(1, "s_pipeline_window01", moves(w, 1))).is_empty());
    let fx = h.send(1, "s_pipeline_window01", moves(w + 1, 1));
    assert_eq!(errs(&fx), vec![(ErrorCode::RateLimited, false)]);
    let (records, fx) = h.commit();
    assert_eq!(frame_records(&records), vec![w]);
    assert_eq!(acks(&fx), vec![(1, 0)], "nothing contiguous yet");
}

#[test]
fn a_hello_resumes_after_the_ack_the_client_was_given() {
    // Another region (or a forgotten tombstone) acknowledged up to 40: this edge holds those as
    // durable and acks from there, so the client is never stuck behind seqs it dropped.
    let mut h = Harness::new(|_| {});
    let fx = h.send(
        1,
        "s_pipeline_resume01",
        ClientFrame::Hello(hello(KEY, "s_pipeline_resume01", Some(40))),
    );
    assert!(matches!(frames(&fx).as_slice(), [EdgeFrame::Welcome(w)] if w.ack == Seq(40)));
    h.send(1, "s_pipeline_resume01", moves(41, 2));
    h.send(1, "s_pipeline_resume01", moves(40, 2));
    let (records, fx) = h.commit();
    assert_eq!(frame_records(&records), vec![41]);
    assert_eq!(acks(&fx), vec![(1, 41)]);
}

#[test]
fn a_high_value_newcomer_is_admitted_at_the_cap_by_its_hello_hint() {
    let mut h = Harness::new(|t| t.limits.max_sessions_per_shard = Some(2));
    h.hello(1, "s_pipeline_hint_001");
    h.hello(2, "s_pipeline_hint_002");
    // A low-value newcomer: refused.
    let fx = h.send(
        3,
        "s_pipeline_hint_003",
        ClientFrame::Hello(hello(KEY, "s_pipeline_hint_003", None)),
    );
    assert_eq!(errs(&fx), vec![(ErrorCode::Overloaded, true)]);
    // A $250k user, known by the account directory from the uid in `hello`: admitted, the
    // cheapest session shed.
    h.dir.accounts.push(("u_whale".into(), 25_000_000));
    let mut hl = hello(KEY, "s_pipeline_hint_004", None);
    hl.uid = Some("u_whale".into());
    let fx = h.send(4, "s_pipeline_hint_004", ClientFrame::Hello(hl));
    assert!(
        frames(&fx)
            .iter()
            .any(|f| matches!(f, EdgeFrame::Welcome(_))),
        "{fx:?}"
    );
    assert_eq!(
        errs(&fx),
        vec![(ErrorCode::Overloaded, true)],
        "one low-value session shed"
    );
    assert_eq!(h.p.len(), 2);
    // And it is never the one shed: another low-value newcomer is refused, not it.
    let fx = h.send(
        5,
        "s_pipeline_hint_005",
        ClientFrame::Hello(hello(KEY, "s_pipeline_hint_005", None)),
    );
    assert_eq!(errs(&fx), vec![(ErrorCode::Overloaded, true)]);
    assert!(frames(&fx).is_empty());
}

#[test]
fn new_sessions_from_one_address_are_limited_and_established_ones_stay() {
    let mut h = Harness::new(|_| {});
    h.new_sessions_per_sec = 2;
    h.new_session_burst = 3;
    // Established from another address.
    h.peer = std::net::IpAddr::from([10, 0, 0, 9]);
    h.hello(1, "s_pipeline_estab_01");
    // A flood from one address: the burst (cap), then refusals (cap + 1 on).
    h.peer = std::net::IpAddr::from([203, 0, 113, 7]);
    let mut admitted = 0;
    for i in 0..20 {
        let sid = format!("s_pipeline_flood_{i:03}");
        let fx = h.send(100 + i, &sid, ClientFrame::Hello(hello(KEY, &sid, None)));
        if frames(&fx)
            .iter()
            .any(|f| matches!(f, EdgeFrame::Welcome(_)))
        {
            admitted += 1;
        } else {
            assert_eq!(errs(&fx), vec![(ErrorCode::Overloaded, true)]);
        }
    }
    assert_eq!(
        admitted, 3,
        "the burst, then nothing within the same millisecond"
    );
    // Half a second later one more token (2/s); the established session never noticed.
    h.now += 500;
    let fx = h.send(
        200,
        "s_pipeline_flood_new",
        ClientFrame::Hello(hello(KEY, "s_pipeline_flood_new", None)),
    );
    assert!(
        frames(&fx)
            .iter()
            .any(|f| matches!(f, EdgeFrame::Welcome(_)))
    );
    h.send(1, "s_pipeline_estab_01", moves(1, 2));
    let (_, fx) = h.commit();
    assert_eq!(acks(&fx), vec![(1, 1)]);
    // Another address has its own budget.
    h.peer = std::net::IpAddr::from([198, 51, 100, 1]);
    assert!(
        frames(&h.send(
            300,
            "s_pipeline_other01",
            ClientFrame::Hello(hello(KEY, "s_pipeline_other01", None))
        ))
        .iter()
        .any(|f| matches!(f, EdgeFrame::Welcome(_)))
    );
}

#[test]
fn while_the_spool_cannot_be_written_new_frames_are_refused_and_held_ones_reacked() {
    let mut h = Harness::new(|_| {});
    h.hello(1, "s_pipeline_disk_001");
    h.send(1, "s_pipeline_disk_001", moves(1, 2));
    h.commit();
    h.spool_writable = false;
    let fx = h.send(1, "s_pipeline_disk_001", moves(2, 2));
    assert_eq!(errs(&fx), vec![(ErrorCode::Overloaded, false)]);
    let fx = h.send(1, "s_pipeline_disk_001", moves(1, 2));
    assert!(errs(&fx).is_empty(), "a held frame needs no write");
    let (records, fx) = h.commit();
    assert!(records.is_empty());
    assert_eq!(acks(&fx), vec![(1, 1)]);
    h.spool_writable = true;
    assert!(errs(&h.send(1, "s_pipeline_disk_001", moves(2, 2))).is_empty());
}

mod model {
    //! Model-based: random interleavings of sends, refusals (a tight frame rate), commits,
    //! reconnects, evictions and crashes (the unsynced spool lost, the edge rebuilt from what was
    //! synced). The conservation property: every seq the client was told is acknowledged is in
    //! the store, each exactly once.

    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Send,
        Resend,
        Wait(u64),
        Commit,
        Reconnect,
        Evict,
        Crash,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                8 => Just(Op::Send),
                2 => Just(Op::Resend),
                3 => (1u64..400).prop_map(Op::Wait),
                4 => Just(Op::Commit),
                1 => Just(Op::Reconnect),
                1 => Just(Op::Evict),
                1 => Just(Op::Crash),
            ],
            1..120,
        )
    }

    const SID: &str = "s_model_session_0001";

    fn edge() -> Harness {
        Harness::rate_limited(5, 3)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn every_acked_seq_is_stored_exactly_once(ops in ops()) {
            let mut h = edge();
            // The store: what reached disk (frame records), in order.
            let mut store: Vec<spool::Record> = Vec::new();
            let mut unacked: BTreeMap<u64, ClientFrame> = BTreeMap::new();
            let (mut next, mut acked, mut conn) = (1u64, 0u64, 1u64);
            h.send(conn, SID, ClientFrame::Hello(hello(KEY, SID, None)));
            for op in ops {
                match op {
                    Op::Send => {
                        let f = moves(next, 1);
                        unacked.insert(next, f.clone());
                        next += 1;
                        h.send(conn, SID, f);
                    }
                    Op::Resend => {
                        for f in unacked.values().cloned().collect::<Vec<_>>() {
                            h.send(conn, SID, f);
                        }
                    }
                    Op::Wait(ms) => h.now += ms,
                    Op::Commit => {
                        let (records, fx) = h.commit();
                        store.extend(records.into_iter().filter(|r| r.kind == spool::KIND_FRAME));
                        for (c, a) in acks(&fx) {
                            if c == conn {
                                acked = acked.max(a);
                                unacked.retain(|s, _| *s > a);
                            }
                        }
                    }
                    Op::Reconnect => {
                        conn += 1;
                        let fx = h.send(conn, SID, ClientFrame::Hello(hello(KEY, SID, Some(acked))));
                        if let [EdgeFrame::Welcome(w)] = frames(&fx).as_slice() {
                            acked = acked.max(w.ack.0);
                            unacked.retain(|s, _| *s > w.ack.0);
                        }
                        for f in unacked.values().cloned().collect::<Vec<_>>() {
                            h.send(conn, SID, f);
                        }
                    }
                    Op::Evict => {
                        let later = h.now + 10_000;
                        h.p.evict_idle(later, 5_000);
                    }
                    Op::Crash => {
                        // What was not synced is lost; the edge comes back from the spool.
                        let mut fresh = edge();
                        fresh.now = h.now;
                        let tenants = fresh.tenants.clone();
                        replay(&mut fresh.p, &tenants, &store);
                        h = fresh;
                        conn += 1;
                        let fx = h.send(conn, SID, ClientFrame::Hello(hello(KEY, SID, Some(acked))));
                        if let [EdgeFrame::Welcome(w)] = frames(&fx).as_slice() {
                            acked = acked.max(w.ack.0);
                            unacked.retain(|s, _| *s > w.ack.0);
                        }
                    }
                }
                let mut seqs: Vec<u64> = store.iter().map(|r| r.seq).collect();
                seqs.sort_unstable();
                let n = seqs.len();
                seqs.dedup();
                prop_assert_eq!(seqs.len(), n, "a frame stored twice: {:?}", seqs);
                for s in 1..=acked {
                    prop_assert!(seqs.binary_search(&s).is_ok(), "ack {} covers seq {}, not stored ({:?})", acked, s, seqs);
                }
            }
        }
    }
}

/// The `help` rule as an experiment: variants `chat` and `offer`, the given holdout share.
fn experiment(holdout: f64) -> impl FnOnce(&mut TenantSpec) {
    move |t: &mut TenantSpec| {
        let mut x = sentientiq_tenant::ExperimentSpec::new(&["chat", "offer"]);
        x.variants[1].kind = "offer".into();
        x.holdout_share = holdout;
        t.rules[0].intervene = None;
        t.rules[0].experiment = Some(x);
    }
}

/// The `actions` rows among spooled records.
fn action_rows(records: &[spool::Record]) -> Vec<sentientiq_lake::ActionRow> {
    records
        .iter()
        .filter(|r| r.kind == spool::KIND_ACTION)
        .map(|r| serde_json::from_slice(&r.frame).expect("action row"))
        .collect()
}

/// A rage batch `after_ms` later on the client clock than [`rage`]'s.
fn rage_later(seq: u64, after_ms: u64) -> ClientFrame {
    let ClientFrame::Batch(mut b) = rage(seq) else {
        unreachable!("rage is a batch")
    };
    b.t0 += after_ms;
    ClientFrame::Batch(b)
}

fn outcome(seq: u64, iid: &str, r: sentientiq_proto::OutcomeKind) -> ClientFrame {
    ClientFrame::Outcome(sentientiq_proto::Outcome {
        seq: Seq(seq),
        iid: iid.into(),
        r,
    })
}

#[test]
fn an_experiment_assigns_each_session_from_the_seeded_stream_and_holds_out_without_an_iv() {
    use crate::shard::experiment::AssignmentRecord;
    use sentientiq_experiments::{Arm, ExperimentCounts, Rng, assign};
    let mut h = Harness::new(experiment(0.5));
    let exp = h.tenants.get(0).experiments["help"].experiment.clone();
    // What the edge must do: shard 0 draws from seed 42's stream, one assignment per session in
    // arrival order, from the counts so far.
    let mut rng = Rng::seed_from_u64(42);
    let mut counts = ExperimentCounts::default();
    let (mut held, mut shown) = (0u64, 0u64);
    for i in 0..60 {
        let sid = format!("s_pipeline_exp_{i:04}");
        h.hello(1, &sid);
        let expected = assign(&exp, &counts, &mut rng).expect("active");
        sentientiq_experiments::Exposure::start(expected.arm, h.now, &mut counts);
        let f = frames(&h.send(1, &sid, rage(1)));
        let ivs: Vec<_> = f
            .iter()
            .filter_map(|f| match f {
                EdgeFrame::Iv(iv) => Some(iv.clone()),
                _ => None,
            })
            .collect();
        let (records, _) = h.commit();
        let rows = action_rows(&records);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        let rec: AssignmentRecord =
            serde_json::from_str(row.assignment.as_deref().expect("the assigning row"))
                .expect("json");
        assert_eq!((rec.seed, rec.shard), (42, 0));
        assert_eq!(rec.assignment, expected, "session {i}");
        assert_eq!(rec.assignment.replay(&exp).expect("replay"), expected);
        match expected.arm {
            Arm::Holdout => {
                held += 1;
                assert!(
                    ivs.is_empty(),
                    "a held-out session is shown nothing: {ivs:?}"
                );
                assert_eq!(row.action, "holdout");
                assert_eq!((row.kind.as_deref(), row.variant.as_deref()), (None, None));
                assert_eq!(row.rule.as_deref(), Some("help"));
            }
            Arm::Variant(v) => {
                shown += 1;
                let (kind, id) = [("chat", "chat"), ("offer", "offer")][usize::from(v)];
                assert_eq!(ivs.len(), 1, "{ivs:?}");
                assert_eq!((ivs[0].kind.as_str(), ivs[0].variant.as_str()), (kind, id));
                assert_eq!(row.action, "intervene");
                assert_eq!(row.variant.as_deref(), Some(id));
                assert_eq!(row.id, ivs[0].id);
            }
        }
    }
    let c = h.p.lab().counts(0, "help").expect("counts");
    assert_eq!(*c, counts, "the shard's counts are the assignments'");
    assert_eq!((c.holdout.sessions, c.treated().sessions), (held, shown));
    // Seed 42 holds out 24 of 60 (binomial(60, ½): 30 ± 3.9, so 1.5 σ low).
    assert_eq!(held, 24);
    let m = h.p.metrics();
    assert_eq!(
        (
            m.held_out.load(Ordering::Relaxed),
            m.interventions.load(Ordering::Relaxed)
        ),
        (held, shown)
    );
}

#[test]
fn an_assignment_is_sticky_for_the_visit_and_its_outcomes_are_counted_once() {
    use sentientiq_proto::OutcomeKind;
    let mut h = Harness::new(experiment(0.0));
    let sid = "s_pipeline_exp_sticky";
    h.hello(1, sid);
    let iv = |fx: &[Effect]| {
        frames(fx).into_iter().find_map(|f| match f {
            EdgeFrame::Iv(iv) => Some(iv),
            _ => None,
        })
    };
    let first = iv(&h.send(1, sid, rage(1))).expect("an intervention");
    let (records, _) = h.commit();
    assert!(action_rows(&records)[0].assignment.is_some());
    // The page reports what happened to it; a `shown` for another id is not this one's.
    h.now += 1000;
    h.send(1, sid, outcome(2, &first.id, OutcomeKind::Shown));
    h.send(1, sid, outcome(3, "i99", OutcomeKind::Clicked));
    h.send(1, sid, outcome(4, &first.id, OutcomeKind::Clicked));
    h.send(1, sid, sentientiq_testkit::frames::purchase(5, 25.0));
    // A re-sent frame (same seq) is a duplicate: not counted again.
    h.send(1, sid, sentientiq_testkit::frames::purchase(5, 25.0));
    h.commit();
    // After the rule's cooldown the rule acts again: the same variant, no new assignment.
    h.now += 61_000;
    let second = iv(&h.send(1, sid, rage_later(6, 62_000))).expect("an intervention again");
    assert_eq!(
        (second.variant.as_str(), second.kind.as_str()),
        (first.variant.as_str(), first.kind.as_str())
    );
    assert_ne!(second.id, first.id);
    let (records, _) = h.commit();
    let rows = action_rows(&records);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].assignment, None, "assigned once");
    // A purchase after the attribution window (30 min) is not the intervention's doing.
    h.now += 31 * 60 * 1000;
    h.send(1, sid, sentientiq_testkit::frames::purchase(7, 100.0));
    let c = h.p.lab().counts(0, "help").expect("counts");
    let v = if first.variant == "chat" { 0 } else { 1 };
    let arm = c.variants[v];
    assert_eq!(
        (
            arm.sessions,
            arm.shown,
            arm.clicked,
            arm.conversions,
            arm.revenue_cents
        ),
        (1, 1, 1, 1, 2500)
    );
    assert_eq!(c.holdout, Default::default());
    assert_eq!(c.variants[1 - v], Default::default());
}

#[test]
fn a_held_out_sessions_purchase_counts_for_the_holdout() {
    let mut h = Harness::new(experiment(0.5));
    // Sessions until one is held out (seed 42: the first few decide it).
    for i in 0..20 {
        let sid = format!("s_pipeline_hold_{i:03}");
        h.hello(1, &sid);
        let f = frames(&h.send(1, &sid, rage(1)));
        if f.iter().any(|f| matches!(f, EdgeFrame::Iv(_))) {
            continue;
        }
        h.send(1, &sid, sentientiq_testkit::frames::purchase(2, 40.0));
        let c = h.p.lab().counts(0, "help").expect("counts");
        assert_eq!(
            (
                c.holdout.conversions,
                c.holdout.revenue_cents,
                c.holdout.shown
            ),
            (1, 4000, 0)
        );
        return;
    }
    panic!("no session was held out at a 50 % share");
}

#[test]
fn a_stopped_experiment_shows_nothing_and_records_nothing() {
    let mut h = Harness::new(|t| {
        experiment(0.1)(t);
        if let Some(x) = &mut t.rules[0].experiment {
            x.variants.iter_mut().for_each(|v| v.paused = true);
        }
    });
    h.hello(1, "s_pipeline_exp_stop");
    let f = frames(&h.send(1, "s_pipeline_exp_stop", rage(1)));
    assert!(!f.iter().any(|f| matches!(f, EdgeFrame::Iv(_))), "{f:?}");
    let (records, _) = h.commit();
    assert!(action_rows(&records).is_empty());
    assert!(
        h.p.lab()
            .counts(0, "help")
            .is_none_or(|c| c.holdout.sessions == 0)
    );
}

#[test]
fn after_a_crash_the_recovered_spool_keeps_each_session_in_its_arm_and_its_counts() {
    use sentientiq_proto::OutcomeKind;
    let mut h = Harness::new(experiment(0.0));
    let sid = "s_pipeline_exp_crash";
    h.hello(1, sid);
    let first = frames(&h.send(1, sid, rage(1)))
        .into_iter()
        .find_map(|f| match f {
            EdgeFrame::Iv(iv) => Some(iv),
            _ => None,
        })
        .expect("an intervention");
    let (mut spooled, _) = h.commit();
    h.now += 1000;
    h.send(1, sid, outcome(2, &first.id, OutcomeKind::Shown));
    h.send(1, sid, sentientiq_testkit::frames::purchase(3, 10.0));
    spooled.extend(h.commit().0);
    let before = *h.p.lab().counts(0, "help").expect("counts");
    // A new process recovers the spool: the enrolment and the counts come back from it.
    let mut after = Harness::new(experiment(0.0));
    after.now = h.now + 61_000;
    replay(&mut after.p, &after.tenants, &spooled);
    assert_eq!(after.p.lab().counts(0, "help"), Some(&before));
    after.hello(2, sid);
    let again = frames(&after.send(2, sid, rage_later(4, 62_000)))
        .into_iter()
        .find_map(|f| match f {
            EdgeFrame::Iv(iv) => Some(iv),
            _ => None,
        })
        .expect("an intervention again");
    assert_eq!(again.variant, first.variant, "the same arm");
    let rows = action_rows(&after.commit().0);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].assignment, None, "not assigned again");
    // The `shown` already counted before the crash is not counted twice.
    after.send(2, sid, outcome(5, &first.id, OutcomeKind::Shown));
    assert_eq!(after.p.lab().counts(0, "help"), Some(&before));
}

fn err_text(fx: &[Effect]) -> Option<(String, Option<u32>)> {
    fx.iter().find_map(|e| match e {
        Effect::Deliver(_, Out::Err(e)) => Some((e.msg.clone(), e.retry_ms)),
        _ => None,
    })
}

#[test]
fn past_the_hard_quota_frames_are_refused_unless_the_session_is_high_value() {
    let mut h = Harness::new(|t| t.limits.events_per_month_hard = Some(10));
    let sid = "s_pipeline_quota_01";
    h.hello(1, sid);
    // Five events counted elsewhere (other shards, other edges) as of the last hand-over.
    h.p.set_quota_base(0, 5);
    // cap − 1, then cap: taken.
    assert!(errs(&h.send(1, sid, moves(1, 4))).is_empty(), "5 + 4 = 9");
    assert!(errs(&h.send(1, sid, moves(2, 1))).is_empty(), "10, the cap");
    // cap + 1: refused, not acknowledged, with a clear message and a minute's wait.
    let fx = h.send(1, sid, moves(3, 1));
    assert_eq!(errs(&fx), vec![(ErrorCode::RateLimited, false)]);
    let (msg, retry) = err_text(&fx).expect("an err frame");
    assert!(
        msg.contains("past its monthly quota of 10 events (10 counted)"),
        "{msg}"
    );
    assert!(msg.contains("$100000 or more are still taken"), "{msg}");
    assert_eq!(retry, Some(super::QUOTA_RETRY_MS));
    let (records, fx) = h.commit();
    assert_eq!(frame_records(&records), vec![1, 2]);
    assert_eq!(acks(&fx), vec![(1, 2)], "the refused frame is not acked");
    // A frame already held is acked again, not refused.
    assert!(errs(&h.send(1, sid, moves(2, 1))).is_empty());
    // The `id` that makes the session a $120k account is taken past the cap, and so is
    // everything after it.
    assert!(errs(&h.send(1, sid, identify_as(3, "u_dana", "dana@acme.example"))).is_empty());
    let (records, _) = h.commit();
    assert_eq!(frame_records(&records), vec![3]);
    assert!(errs(&h.send(1, sid, moves(4, 30))).is_empty(), "high-value");
    let (records, _) = h.commit();
    assert_eq!(frame_records(&records), vec![4]);
    // Every event taken is handed over once: 4 + 1 + 1 (the id) + 30.
    assert_eq!(h.p.drain_quota(), vec![(0, 36)]);
    assert_eq!(h.p.drain_quota(), vec![]);
    // Another anonymous session stays refused; with a new month's base (0) it is taken.
    h.hello(2, "s_pipeline_quota_02");
    h.p.set_quota_base(0, 36);
    assert_eq!(
        errs(&h.send(2, "s_pipeline_quota_02", moves(1, 1))),
        vec![(ErrorCode::RateLimited, false)]
    );
    h.p.set_quota_base(0, 0);
    assert!(errs(&h.send(2, "s_pipeline_quota_02", moves(1, 10))).is_empty());
    assert_eq!(h.p.metrics().quota_refused.load(Ordering::Relaxed), 2);
}

#[test]
fn a_tenant_without_a_hard_quota_is_never_refused_for_it() {
    let mut h = Harness::new(|t| t.limits.events_per_month_soft = Some(1));
    h.hello(1, "s_pipeline_quota_03");
    h.p.set_quota_base(0, u64::MAX);
    assert!(errs(&h.send(1, "s_pipeline_quota_03", moves(1, 50))).is_empty());
    assert_eq!(h.p.drain_quota(), vec![(0, 50)]);
}

fn feed(fx: &[Effect]) -> Vec<sentientiq_proto::grpc::DetectionEvent> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Detected(d) => Some((**d).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn each_detection_goes_to_the_live_feed_with_who_it_was_and_what_was_done() {
    let mut h = Harness::new(|_| {});
    let sid = "s_pipeline_feed_001";
    h.hello(1, sid);
    h.send(1, sid, identify_as(1, "u_dana", "dana@acme.example"));
    let fx = h.send(1, sid, rage(2));
    let mut got = feed(&fx);
    let (_, more) = h.commit();
    got.extend(feed(&more));
    // Two detections of the burst: the first showed the help rule's chat; the second, surer
    // one escalated the $120k account by the page rule.
    assert_eq!(got.len(), 2, "{got:?}");
    let d = &got[0];
    assert_eq!((d.tenant_id.as_str(), d.sid.as_str()), ("acme", sid));
    assert_eq!(
        (d.uid.as_str(), d.account.as_str()),
        ("u_dana", "acme.example")
    );
    assert_eq!(d.value_cents, 12_000_000);
    assert_eq!(d.emotion, "rage");
    assert!(d.confidence > 0.0 && d.confidence < got[1].confidence && got[1].confidence <= 1.0);
    assert_eq!(d.done, ["intervention chat/a".to_string()]);
    assert_eq!(got[1].done, ["escalated (rule page)".to_string()]);
    // An edge that reports to no plane builds nothing for a feed nobody reads.
    h.live_feed = false;
    h.hello(2, "s_pipeline_feed_002");
    let mut fx = h.send(2, "s_pipeline_feed_002", rage(1));
    fx.extend(h.commit().1);
    assert!(!frames(&fx).is_empty(), "the page is still answered");
    assert!(feed(&fx).is_empty());
    assert_eq!(d.at_ms, h.now as i64);
}
