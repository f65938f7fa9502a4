//! Dedup per PROTOCOL.md §6: duplicates re-acked with no new output, conflicts keep the first,
//! gaps accepted and counted; checked against a reference model.

use std::collections::HashMap;

use proptest::prelude::*;
use sentientiq_core::session;
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

#[test]
fn the_prefix_is_contiguous_and_a_frame_past_the_window_is_not_taken() {
    let w = sentientiq_core::session::DEDUP_WINDOW;
    let mut h = Harness::new(TenantPolicy::default());
    let mut s = Session::anonymous();
    // Seq 1 never arrives (refused and not yet resent): nothing above it joins the prefix.
    for seq in 2..=5 {
        assert_eq!(
            one(&mut h, &mut s, &track(seq, "x")).0,
            Disposition::Accepted
        );
    }
    assert_eq!((s.held_prefix(), s.high_seq()), (Seq(0), Seq(5)));
    assert!(s.holds(Seq(3)) && !s.holds(Seq(1)) && !s.holds(Seq(6)));
    // The window is counted from the prefix: w − 1 and w above it are taken, w + 1 is not.
    assert_eq!(one(&mut h, &mut s, &track(w, "x")).0, Disposition::Accepted);
    assert_eq!(
        one(&mut h, &mut s, &track(w + 1, "x")).0,
        Disposition::Ahead
    );
    assert!(!s.holds(Seq(w + 1)), "refused, not held");
    assert_eq!(
        one(&mut h, &mut s, &track(w - 1, "x")).0,
        Disposition::Accepted
    );
    // The gap is filled: the prefix runs over everything held right above it.
    assert_eq!(one(&mut h, &mut s, &track(1, "x")).0, Disposition::Accepted);
    assert_eq!(s.held_prefix(), Seq(5));
    assert_eq!(s.held().above.count_ones(), 2, "w − 1 and w");
    // Now w + 1 is within the window.
    assert_eq!(
        one(&mut h, &mut s, &track(w + 1, "x")).0,
        Disposition::Accepted
    );
    assert_eq!(
        one(&mut h, &mut s, &track(w + 1, "x")).0,
        Disposition::Duplicate
    );
}

#[test]
fn a_resumed_session_keeps_the_seqs_held_above_its_prefix() {
    let mut h = Harness::new(TenantPolicy::default());
    let mut s = Session::anonymous();
    for seq in [1, 2, 4, 7] {
        one(&mut h, &mut s, &track(seq, "x"));
    }
    let held = s.held();
    assert_eq!((held.prefix, held.above), (2, 0b10010));
    let mut back = Session::anonymous();
    back.resume_held(held);
    for seq in [1, 2, 4, 7] {
        assert_eq!(
            one(&mut h, &mut back, &track(seq, "x")).0,
            Disposition::Duplicate,
            "{seq}"
        );
    }
    assert_eq!(
        one(&mut h, &mut back, &track(3, "x")).0,
        Disposition::Accepted
    );
    assert_eq!(back.held_prefix(), Seq(4));
    // A client's word (`hello.ack`) moves the prefix further and drops what it covers.
    back.resume_after(Seq(6));
    assert_eq!(back.held(), session::Held::upto(7));
    // Held without being processed: a dropped session's frames are still taken in order.
    let mut d = Session::anonymous();
    assert_eq!(d.hold(&track(2, "x")), Disposition::Accepted);
    assert_eq!(d.hold(&track(1, "x")), Disposition::Accepted);
    assert_eq!((d.held_prefix(), d.counters().frames), (Seq(2), 0));
}

#[derive(Debug, Clone)]
enum Op2 {
    Send(u64),
    Resume(u64),
}

proptest! {
    /// The held set is exactly what was accepted (and what resumes said), the prefix is its
    /// contiguous start, and nothing beyond prefix + window is ever taken.
    #[test]
    fn the_held_set_and_its_prefix_match_a_model(ops in prop::collection::vec(
        prop_oneof![
            12 => (1u64..400).prop_map(Op2::Send),
            1 => (0u64..300).prop_map(Op2::Resume),
        ],
        1..300,
    )) {
        let w = sentientiq_core::session::DEDUP_WINDOW;
        let mut h = Harness::new(TenantPolicy::default());
        let mut s = Session::anonymous();
        let mut held = std::collections::BTreeSet::new();
        let prefix = |held: &std::collections::BTreeSet<u64>| {
            let mut p = 0;
            while held.contains(&(p + 1)) { p += 1; }
            p
        };
        for op in ops {
            match op {
                Op2::Send(seq) => {
                    let p = prefix(&held);
                    let (d, _) = one(&mut h, &mut s, &track(seq, "x"));
                    let want = if held.contains(&seq) {
                        Disposition::Duplicate
                    } else if seq > p + w {
                        Disposition::Ahead
                    } else {
                        held.insert(seq);
                        Disposition::Accepted
                    };
                    prop_assert_eq!(d, want, "seq {}", seq);
                }
                Op2::Resume(to) => {
                    s.resume_after(Seq(to));
                    for q in 1..=to { held.insert(q); }
                }
            }
            prop_assert_eq!(s.held_prefix(), Seq(prefix(&held)));
            for q in 1..420 {
                prop_assert_eq!(s.holds(Seq(q)), held.contains(&q), "seq {}", q);
            }
        }
    }
}

proptest! {
    /// Merging held sets is their union (within the window), in any order.
    #[test]
    fn held_sets_merge_as_unions(a in prop::collection::btree_set(1u64..100, 0..40), b in prop::collection::btree_set(1u64..100, 0..40)) {
        let mk = |s: &std::collections::BTreeSet<u64>| {
            let mut h = session::Held::default();
            for q in s { h.insert(*q); }
            h
        };
        let (ha, hb) = (mk(&a), mk(&b));
        let m = ha.merge(hb);
        prop_assert_eq!(m, hb.merge(ha));
        for q in 1..130 {
            prop_assert_eq!(m.contains(q), a.contains(&q) || b.contains(&q), "{}", q);
        }
    }
}
