//! The per-frame pipeline alone: no sockets, no RocksDB, no clock. A harness feeds frames with
//! a test clock, "commits" the spool when told (durable up to what was appended), and reads the
//! effects.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

    fn account_for(&self, _tenant: &str, id: &Identify) -> Option<AccountInfo> {
        let domain = id.email.as_deref()?.split('@').nth(1)?;
        self.accounts
            .iter()
            .find(|(d, _)| d == domain)
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
    dir: Directory,
    now: u64,
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
        }),
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
            p: Pipeline::new(Arc::new(ShardMetrics::default()), 0, 1000, 1000),
            tenants: Tenants::new(vec![t.validate().expect("valid")]),
            backlog: AtomicU64::new(0),
            spool_max: 1 << 30,
            dir,
            now: 1_000_000,
        }
    }

    /// One frame from connection `conn` for `sid`.
    fn send(&mut self, conn: u64, sid: &str, frame: ClientFrame) -> Vec<Effect> {
        let raw = sentientiq_proto::client_to_vec(&frame);
        let inb = Inbound {
            conn: ConnRef { shard: 0, id: conn },
            tenant: 0,
            sid: Sid::parse(sid).expect("sid"),
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
            lookup: &self.dir,
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
            Effect::Deliver(c, Out::Ack(s)) => Some((c.id, s.0)),
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
    let mut h = Harness::new(|t| {
        t.limits.frames_per_sec = Some(10);
        t.limits.frame_burst = Some(3);
    });
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
        vec![("acme".into(), "s_pipeline_floor01".into(), 5)],
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
            Effect::Escalate { action, .. } => Some(action.priority_cents),
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
    assert_eq!(acks(&fx), vec![(1, 2)]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Bind { .. })));
    h.send(1, "s_pipeline_gdpr_001", track(3, "x"));
    let (records, _) = h.commit();
    assert_eq!(
        frame_records(&records),
        vec![1],
        "only what came before the id"
    );
    // Do-Not-Track under `dnt = "drop"`: nothing at all.
    let mut h = Harness::new(|t| t.dnt = sentientiq_tenant::Dnt::Drop);
    let mut hl = hello(KEY, "s_pipeline_dnt_0001", None);
    hl.dnt = Some(true);
    h.send(1, "s_pipeline_dnt_0001", ClientFrame::Hello(hl));
    let fx = h.send(1, "s_pipeline_dnt_0001", moves(1, 2));
    assert_eq!(acks(&fx), vec![(1, 1)]);
    let (records, _) = h.commit();
    assert!(records.is_empty());
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
    assert_eq!(fresh.p.replay(&tenants, records), 3);
    assert_eq!(fresh.hello(1, "s_pipeline_replay01").ack, Seq(3));
    fresh.send(1, "s_pipeline_replay01", moves(3, 4));
    let (records, fx) = fresh.commit();
    assert!(records.is_empty(), "a replayed frame is held");
    assert_eq!(acks(&fx), vec![(1, 3)]);
}
