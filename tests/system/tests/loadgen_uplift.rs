//! The loadgen's `--uplift` personas against the real edge binary (issue 17, "Interventions that
//! learn"): a rule with an experiment (two variants and a holdout), sessions that answer with
//! known per-arm conversion probabilities, and what the edge recorded — the arm of every session
//! (the `actions` table's assigning rows), the `out` frames it received (`outcome` rows) and the
//! conversions it counted (`siq_experiment_outcomes_total`) — against what the loadgen sent.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use sentientiq_loadgen::run::{Opts, Stats, Watch, run_with, sid_of};
use sentientiq_loadgen::synth::Mix;
use sentientiq_loadgen::uplift::{Seen, Uplift};
use sentientiq_testkit::lake::{dict_str, parquet_batches, table_files};
use sentientiq_testkit::wait::poll;
use sentientiq_testkit::{DEMO_KEY, Edge};

const INTERVENE: &str = r#"intervene = { kind = "chat", variant = "a", payload = { text = "Something not working? We're here to help." } }"#;
const EXPERIMENT: &str = r#"experiment = { holdout_share = 0.5, variants = [{ id = "chat", kind = "chat" }, { id = "offer", kind = "offer", payload = { pct = 10 } }] }"#;

/// What the edge's lake says of the run: per session its arm (`holdout` or the variant) from
/// its assigning row, the sessions with an `outcome` row `converted`, and how many `outcome`
/// rows there are.
struct Recorded {
    arm: BTreeMap<String, String>,
    converted: BTreeSet<String>,
    outcomes: usize,
}

fn recorded(lake: &std::path::Path) -> Recorded {
    let mut r = Recorded {
        arm: BTreeMap::new(),
        converted: BTreeSet::new(),
        outcomes: 0,
    };
    for (_, f) in table_files(lake, "actions") {
        for b in parquet_batches(&f) {
            let assignment = b
                .column_by_name("assignment")
                .expect("assignment column")
                .as_string::<i32>()
                .clone();
            for i in 0..b.num_rows() {
                let session = dict_str(&b, "session", i).expect("session");
                let action = dict_str(&b, "action", i).expect("action");
                if action == "outcome" {
                    r.outcomes += 1;
                    if dict_str(&b, "result", i).as_deref() == Some("converted") {
                        r.converted.insert(session.clone());
                    }
                }
                if assignment.is_valid(i) {
                    let arm = match action.as_str() {
                        "holdout" => "holdout".to_string(),
                        _ => dict_str(&b, "variant", i).expect("an assigned variant"),
                    };
                    let before = r.arm.insert(session.clone(), arm);
                    assert!(before.is_none(), "{session} assigned twice");
                }
            }
        }
    }
    r
}

#[test]
fn the_edge_counts_per_arm_exactly_the_conversions_the_loadgen_sent() {
    let edge = Edge::start_edited(2, |c| {
        let c = c
            .replace(
                "io_memory_bytes = 524288 ",
                "experiment_seed = 17\nio_memory_bytes = 524288 ",
            )
            .replace(INTERVENE, EXPERIMENT)
            .replace("max_age_s = 60", "max_age_s = 1")
            .replace("poll_ms = 1000", "poll_ms = 100");
        assert!(
            c.contains(EXPERIMENT),
            "the example's help-on-rage rule moved"
        );
        c
    });
    let (sessions, seed) = (160, 5);
    let mix = Mix::parse("calm=0.4,rage=0.6").expect("mix");
    let uplift = Uplift::parse("holdout=0.3,chat=0.7,offer=0.5")
        .and_then(|u| u.with_emotions(&["rage"]))
        .expect("uplift");
    let opts = Opts {
        ramp: Duration::from_secs(3),
        mix,
        // The rule helps identified users only.
        identified: 1.0,
        account_domains: vec!["acme.example".into()],
        labels: vec![("price_anxiety".into(), "hesitation".into())],
        ..Opts::ws(
            format!("ws://127.0.0.1:{}/v1/ws", edge.port),
            DEMO_KEY,
            sessions,
            Duration::from_secs(15),
            seed,
        )
    };
    let stats = Rc::new(RefCell::new(Stats::default()));
    sentientiq_testkit::block_on_local(run_with(
        opts,
        stats.clone(),
        Watch::default(),
        Some(uplift),
    ))
    .expect("run");
    let st = stats.borrow();
    assert!(st.errors.is_empty(), "{:?}", st.errors);
    assert_eq!(st.acked, st.frames_sent, "every frame acked");
    assert_eq!(st.unacked_at_end, 0);
    let t = st.uplift.as_ref().expect("the experiment truth");
    assert_eq!(t.sessions.len(), sessions);
    assert!(
        t.sessions.iter().all(|o| o.sent),
        "every session's outcomes sent"
    );
    let report = sentientiq_loadgen::report::report(
        &st,
        sessions,
        Duration::from_secs(18),
        seed,
        &[String::new()],
    );
    eprint!("{}", sentientiq_loadgen::report::summary(&report));
    // The loadgen's view, by sid: its arm and whether it sent a conversion.
    let sent: BTreeMap<String, (Seen, bool)> = t
        .sessions
        .iter()
        .map(|o| (sid_of(seed, o.session), (o.arm.clone(), o.converts)))
        .collect();
    let out_frames =
        t.shown_sent + t.sessions.iter().filter(|o| o.converts && o.sent).count() as u64;
    // The edge's view, once its lake holds every assignment it counted and every `out` frame
    // the loadgen sent.
    let assigned = edge.metric("siq_experiment_assignments_total") as usize;
    let lake = edge.dir.path().join("lake");
    let rec = poll("every assignment and outcome in the actions table", || {
        let r = recorded(&lake);
        (r.arm.len() == assigned && r.outcomes as u64 == out_frames).then_some(r)
    });
    // Arms: the sessions the edge put in a variant are exactly those that got its `iv`; its
    // holdout got none.
    for (sid, arm) in &rec.arm {
        let (seen, _) = &sent[sid];
        match (arm.as_str(), seen) {
            ("holdout", Seen::Baseline | Seen::Neither) => {}
            (v, Seen::Variant(s)) if v == s => {}
            _ => panic!("{sid}: the edge's arm {arm}, the loadgen's {seen:?}"),
        }
    }
    for (sid, (seen, _)) in &sent {
        if let Seen::Variant(v) = seen {
            assert_eq!(rec.arm.get(sid), Some(v), "{sid} got an iv of {v}");
        }
    }
    // Conversions: the same sessions on both sides, and per arm the same number.
    let loadgen_converted: BTreeSet<String> = sent
        .iter()
        .filter(|(_, (_, c))| *c)
        .map(|(sid, _)| sid.clone())
        .collect();
    assert_eq!(rec.converted, loadgen_converted);
    let mut edge_arms: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (sid, arm) in &rec.arm {
        let e = edge_arms.entry(arm.as_str()).or_default();
        e.0 += 1;
        e.1 += u64::from(rec.converted.contains(sid));
    }
    eprintln!("the edge's arms (sessions, conversions): {edge_arms:?}");
    for (v, a) in &t.variants {
        assert_eq!(
            edge_arms.get(v.as_str()).copied().unwrap_or_default(),
            (a.sessions, a.conversions),
            "variant {v}"
        );
    }
    let held_converted = rec
        .arm
        .iter()
        .filter(|(sid, arm)| *arm == "holdout" && rec.converted.contains(*sid))
        .count() as u64;
    assert_eq!(edge_arms.get("holdout").map_or(0, |a| a.1), held_converted);
    // Every holdout conversion the edge has is a baseline conversion the loadgen sent; the
    // loadgen's other baseline conversions come from qualifying sessions the edge never enrolled
    // (their episode not detected, or not acted on).
    let baseline_sent = t.baseline.conversions;
    let unenrolled = sent
        .iter()
        .filter(|(sid, (seen, c))| *seen == Seen::Baseline && *c && !rec.arm.contains_key(*sid))
        .count() as u64;
    assert_eq!(held_converted + unenrolled, baseline_sent);
    // The edge counted exactly the conversions of the sessions it enrolled.
    let enrolled_converted = rec
        .converted
        .iter()
        .filter(|sid| rec.arm.contains_key(*sid))
        .count() as f64;
    assert_eq!(
        edge.metric_with("siq_experiment_outcomes_total", "outcome=\"converted\""),
        enrolled_converted
    );
    // A real experiment: both variants and the holdout reached, conversions in it.
    assert!(edge_arms.len() == 3, "{edge_arms:?}");
    assert!(enrolled_converted > 0.0);
    // The report prints the truth beside it.
    let x = &report["experiment_truth"];
    assert_eq!(x["arms"][0]["arm"], "holdout");
    assert_eq!(x["arms"][0]["p"], 0.3);
    assert_eq!(x["uplift"]["chat"]["true"], 0.4);
    assert!(x["pooled"]["true"].as_f64().is_some());
}
