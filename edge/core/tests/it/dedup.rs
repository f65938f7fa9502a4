//! Dedup per PROTOCOL.md §6: duplicates re-acked with no new output, conflicts keep the first,
//! gaps accepted and counted; checked against a reference model.

use std::collections::HashMap;

use proptest::prelude::*;
use sentientiq_core::*;
use sentientiq_proto::{ClientFrame, Seq};

use super::script::*;

fn track(seq: u64, name: &str) -> ClientFrame {
    ClientFrame::Track(sentientiq_proto::Track {
        seq: Seq(seq),
        name: name.into(),
        props: vec![],
    })
}

fn one(h: &mut Harness, s: &mut Session, f: &ClientFrame) -> (Disposition, usize) {
    let mut out = Vec::new();
    let mut ctx = Ctx {
        now_ms: h.now_ms,
        tenant: &h.tenant,
        accounts: &mut h.accounts,
        aggregates: &mut h.aggregates,
    };
    let d = s.handle_frame(&mut ctx, f, &mut out);
    (d, out.len())
}

#[test]
fn duplicate_conflict_gap_late() {
    let mut h = Harness::new(TenantPolicy::default());
    let mut s = Session::anonymous();
    assert_eq!(one(&mut h, &mut s, &track(1, "a")).0, Disposition::Accepted);
    assert_eq!(
        one(&mut h, &mut s, &track(1, "a")).0,
        Disposition::Duplicate
    );
    assert_eq!(one(&mut h, &mut s, &track(1, "b")).0, Disposition::Conflict);
    assert_eq!(one(&mut h, &mut s, &track(4, "d")).0, Disposition::Accepted);
    assert_eq!(s.counters().gaps, 2);
    assert_eq!(s.high_seq(), Seq(4));
    // A frame that fills the gap late is new.
    assert_eq!(one(&mut h, &mut s, &track(2, "b")).0, Disposition::Accepted);
    assert_eq!(
        one(&mut h, &mut s, &track(2, "b")).0,
        Disposition::Duplicate
    );
    let c = s.counters();
    assert_eq!((c.duplicates, c.conflicts, c.late, c.frames), (2, 1, 1, 3));
}

#[test]
fn a_replayed_rage_batch_produces_no_second_detection() {
    let mut h = Harness::new(TenantPolicy::default());
    let mut s = Session::anonymous();
    let mut sc = Script::new(100.0, 100.0);
    sc.click("b");
    for _ in 0..5 {
        sc.click_at(1.0, 0.0, 150.0);
    }
    let frames = sc.frames(10_000);
    let first = h.feed(&mut s, &frames);
    assert!(!first.is_empty() && emotions(&first).iter().all(|e| *e == Emotion::Rage));
    let again = h.feed(&mut s, &frames);
    assert!(again.is_empty());
}

#[test]
fn dedup_window_edges() {
    let w = sentientiq_core::session::DEDUP_WINDOW;
    let mut h = Harness::new(TenantPolicy::default());
    let mut s = Session::anonymous();
    for seq in 1..=(w + 1) {
        one(&mut h, &mut s, &track(seq, "x"));
    }
    // high = w + 1: seq 2 is w − 1 below (compared), seq 1 is w below (stale, re-acked).
    assert_eq!(
        one(&mut h, &mut s, &track(2, "other")).0,
        Disposition::Conflict
    );
    assert_eq!(
        one(&mut h, &mut s, &track(1, "other")).0,
        Disposition::Duplicate
    );
    assert_eq!(s.counters().stale, 1);
}

#[test]
fn a_resumed_session_holds_everything_up_to_its_floor() {
    let mut h = Harness::new(TenantPolicy::default());
    let mut s = Session::anonymous();
    s.resume_after(Seq(10));
    assert_eq!(s.high_seq(), Seq(10));
    // At and below the floor (cap, cap − 1, far below): held, no output, nothing counted new.
    for seq in [10, 9, 1] {
        assert_eq!(
            one(&mut h, &mut s, &track(seq, "x")),
            (Disposition::Duplicate, 0)
        );
    }
    // Above it (cap + 1): new.
    assert_eq!(
        one(&mut h, &mut s, &track(11, "x")).0,
        Disposition::Accepted
    );
    assert_eq!((s.counters().frames, s.counters().gaps), (1, 0));
    // A lower floor never lowers what is held.
    s.resume_after(Seq(3));
    assert_eq!(
        one(&mut h, &mut s, &track(10, "y")).0,
        Disposition::Duplicate
    );
}

#[derive(Debug, Clone)]
enum Op {
    Send { seq: u64, variant: u8 },
    Restart,
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            9 => (1u64..60, 0u8..3).prop_map(|(seq, variant)| Op::Send { seq, variant }),
            1 => Just(Op::Restart),
        ],
        1..200,
    )
}

proptest! {
    /// Model: the set of held seqs with their first payload. A restart rebuilds the session by
    /// replaying the held frames in seq order, as the edge rebuilds dedup state from its spool.
    #[test]
    fn dedup_matches_the_model_across_restarts(ops in arb_ops()) {
        let mut h = Harness::new(TenantPolicy::default());
        let mut s = Session::anonymous();
        let mut model: HashMap<u64, u8> = HashMap::new();
        for op in ops {
            match op {
                Op::Send { seq, variant } => {
                    let name = format!("v{variant}");
                    let (d, _) = one(&mut h, &mut s, &track(seq, &name));
                    let want = match model.get(&seq) {
                        None => { model.insert(seq, variant); Disposition::Accepted }
                        Some(v) if *v == variant => Disposition::Duplicate,
                        Some(_) => Disposition::Conflict,
                    };
                    prop_assert_eq!(d, want, "seq {}", seq);
                }
                Op::Restart => {
                    s = Session::anonymous();
                    let mut held: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
                    held.sort_unstable();
                    for (seq, v) in held {
                        let (d, _) = one(&mut h, &mut s, &track(seq, &format!("v{v}")));
                        prop_assert_eq!(d, Disposition::Accepted);
                    }
                }
            }
            prop_assert_eq!(s.high_seq(), Seq(model.keys().copied().max().unwrap_or(0)));
        }
    }
}
