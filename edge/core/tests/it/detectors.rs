//! Each detector: fires on its pattern, stays quiet on the look-alikes, and every threshold at
//! cap−1 / cap / cap+1.

use sentientiq_core::*;
use sentientiq_proto::kind;

use super::script::*;

fn default() -> Harness {
    Harness::new(TenantPolicy::default())
}

/// Runs a script with default policy and checks the emotions detected.
fn check(script: &Script, want: &[Emotion]) -> Vec<Output> {
    let out = default().run(script);
    assert_eq!(emotions(&out), want, "{:#?}", detections(&out));
    out
}

fn rage_chain(n: usize, gap_ms: f64, step_px: f64) -> Script {
    let mut s = Script::new(400.0, 300.0);
    s.reach(600.0, 320.0, 400.0).wait(100.0).click("button#buy");
    for _ in 1..n {
        s.click_at(step_px, 0.0, gap_ms);
    }
    s.wait(2000.0);
    s
}

#[test]
fn a_long_chain_with_no_page_report_is_detected_once_and_never_escalation_eligible() {
    // Twenty brisk clicks on one spot: rage at the fourth (past the held triple-click), below
    // the escalation confidence. However long such a chain grows it is not detected again:
    // click count alone crossed the escalation confidence 0.82 times per active hour of
    // ordinary office work (docs/CALIBRATION.md).
    let out = check(&rage_chain(20, 150.0, 2.0), &[Emotion::Rage]);
    let d = detections(&out);
    assert!(d[0].confidence < 0.85, "c = {}", d[0].confidence);
    assert!(
        matches!(d[0].evidence, Evidence::Rage { clicks: 4, .. }),
        "{:?}",
        d[0].evidence
    );
    assert_eq!(d[0].corroboration, None);
    assert!(!d[0].escalation_eligible);
}

#[test]
fn a_dead_report_makes_a_long_chain_escalation_eligible_once() {
    let mut s = rage_chain(20, 150.0, 2.0);
    s.wait(-1000.0).event(kind::DEAD, Some("button#buy"), 0);
    let out = check(&s, &[Emotion::Rage, Emotion::Rage]);
    let d = detections(&out);
    assert!(!d[0].escalation_eligible);
    assert!(d[1].escalation_eligible);
    assert_eq!(d[1].corroboration, Some(Corroboration::Dead));
    assert!(d[1].confidence >= 0.95, "c = {}", d[1].confidence);
    assert!(
        matches!(
            d[1].evidence,
            Evidence::Rage {
                clicks: 20,
                confirmed_dead: true,
                error_click: false,
                ..
            }
        ),
        "{:?}",
        d[1].evidence
    );
}

#[test]
fn rage_confidence_grows_with_the_margin() {
    // Slow, spread-out chain of 3 (not a multi-click): just over the thresholds.
    let out = check(&rage_chain(3, 800.0, 25.0), &[Emotion::Rage]);
    let weak = detections(&out)[0].confidence;
    assert!((0.5..0.7).contains(&weak), "weak {weak}");
    // Tighter and brisker: more.
    let out = check(&rage_chain(4, 120.0, 1.0), &[Emotion::Rage]);
    let tight = detections(&out)[0].confidence;
    assert!(tight > weak, "tight {tight} weak {weak}");
    // The same chain confirmed by a dead report: more again.
    let mut s = rage_chain(4, 120.0, 1.0);
    s.wait(-1000.0).event(kind::DEAD, Some("button#buy"), 0);
    let out = check(&s, &[Emotion::Rage, Emotion::Rage]);
    let strong = detections(&out)[1].confidence;
    assert!(strong > 0.85 && strong > tight, "strong {strong}");
}

#[test]
fn rage_thresholds_at_cap_minus_one_cap_plus_one() {
    // Gap between clicks: 1000 ms is the cap (inclusive).
    for (gap, want) in [(999.0, 1), (1000.0, 1), (1001.0, 0)] {
        let out = default().run(&rage_chain(3, gap, 10.0));
        assert_eq!(emotions(&out).len(), want, "gap {gap}");
    }
    // Distance between consecutive clicks: 30 px is the cap (inclusive).
    for (d, want) in [(29.0, 1), (30.0, 1), (31.0, 0)] {
        let out = default().run(&rage_chain(3, 600.0, d));
        assert_eq!(emotions(&out).len(), want, "distance {d}");
    }
    // Clicks: 3 is the threshold.
    for (n, want) in [(2, 0), (3, 1), (4, 1)] {
        let out = default().run(&rage_chain(n, 600.0, 10.0));
        assert_eq!(emotions(&out).len(), want, "clicks {n}");
    }
}

#[test]
fn triple_click_selection_is_not_rage() {
    // Three quick clicks on one spot, then a copy: selecting a paragraph.
    let mut s = rage_chain(3, 120.0, 0.0);
    s.event(kind::COPY, None, 0);
    check(&s, &[]);
    // The same three clicks with nothing after: still held as a selection.
    check(&rage_chain(3, 120.0, 0.0), &[]);
    // A fourth click makes it rage.
    check(&rage_chain(4, 120.0, 0.0), &[Emotion::Rage]);
}

#[test]
fn a_dead_report_lifts_a_detected_chain_to_escalation() {
    let mut s = rage_chain(4, 150.0, 0.0);
    let out = default().run(&s);
    assert!(detections(&out)[0].confidence < 0.85);
    s.wait(-1000.0).event(kind::DEAD, Some("button#buy"), 0);
    let out = check(&s, &[Emotion::Rage, Emotion::Rage]);
    assert!(detections(&out)[1].confidence >= 0.85);
}

#[test]
fn triple_click_confirmed_by_a_dead_report_is_rage() {
    let mut s = rage_chain(3, 120.0, 0.0);
    s.wait(-1000.0); // the dead report comes ~1 s after the clicks, not 2 s
    s.event(kind::DEAD, Some("button#buy"), 0);
    let out = check(&s, &[Emotion::Rage]);
    assert!(matches!(
        detections(&out)[0].evidence,
        Evidence::Rage {
            confirmed_dead: true,
            ..
        }
    ));
}

/// A chain of `n` clicks `gap_ms` apart on one spot, then the SDK's dead report for each of
/// them, 1000 ms after it (PROTOCOL.md §4 kind 10: no response within 1000 ms).
fn chain_reported_dead(n: usize, gap_ms: f64) -> Script {
    let mut s = Script::new(400.0, 300.0);
    s.reach(600.0, 320.0, 400.0).wait(100.0);
    for _ in 0..n {
        s.click_at(0.0, 0.0, gap_ms);
    }
    s.wait(1000.0 - gap_ms * (n - 1) as f64);
    for _ in 0..n {
        s.event(kind::DEAD, Some("button#buy"), 0).wait(gap_ms);
    }
    s.wait(2000.0);
    s
}

#[test]
fn dead_reports_on_a_rage_chain_are_its_evidence_not_frustration() {
    // The SDK reports every click that got no response. On a chain shorter than rage_clicks
    // they are dead clicks (two make frustration); from rage_clicks on they corroborate the
    // rage episode and make no frustration of their own: 2 / 3 / 4 clicks.
    check(&chain_reported_dead(2, 150.0), &[Emotion::Frustration]);
    let out = check(&chain_reported_dead(3, 150.0), &[Emotion::Rage]);
    let d = detections(&out);
    assert!(d[0].escalation_eligible, "c = {}", d[0].confidence);
    assert_eq!(d[0].corroboration, Some(Corroboration::Dead));
    let out = check(
        &chain_reported_dead(4, 150.0),
        &[Emotion::Rage, Emotion::Rage],
    );
    let d = detections(&out);
    assert!(!d[0].escalation_eligible && d[1].escalation_eligible);
}

#[test]
fn a_dead_report_corroborates_only_on_the_chains_spot_and_in_time() {
    let eligible = |out: &[Output]| detections(out).iter().any(|d| d.escalation_eligible);
    // Time after the chain's last click: max gap + 1.5 s = 2500 ms (inclusive).
    for (after, want) in [(2499.0, true), (2500.0, true), (2501.0, false)] {
        let mut s = rage_chain(4, 150.0, 0.0);
        s.wait(after - 2000.0)
            .event(kind::DEAD, Some("button#buy"), 0);
        let out = default().run(&s);
        assert_eq!(eligible(&out), want, "dead report {after} ms after");
        // Off the chain it is one dead click: nothing on its own.
        assert_eq!(emotions(&out).len(), 1 + usize::from(want), "{after} ms");
    }
    // Distance from the chain's last click: the rage radius, 30 px (inclusive).
    for (dx, want) in [(29.0, true), (30.0, true), (31.0, false)] {
        let mut s = rage_chain(4, 150.0, 0.0);
        s.wait(-1000.0).event_at(dx, kind::DEAD, Some("button#buy"));
        assert_eq!(
            eligible(&default().run(&s)),
            want,
            "dead report {dx} px away"
        );
    }
}

#[test]
fn an_error_after_a_click_of_the_chain_corroborates_it() {
    // Error click window: 1000 ms after the chain's last click (inclusive).
    for (after, want) in [(999.0, true), (1000.0, true), (1001.0, false)] {
        let mut s = rage_chain(4, 150.0, 0.0);
        s.wait(after - 2000.0)
            .event(kind::ERROR, Some("TypeError: x is undefined"), 0);
        let out = default().run(&s);
        let d = detections(&out);
        // The error is the rage episode's evidence: never a frustration episode besides.
        assert_eq!(
            emotions(&out),
            vec![Emotion::Rage; 1 + usize::from(want)],
            "error {after} ms after"
        );
        assert_eq!(d.last().map(|d| d.escalation_eligible), Some(want));
        if want {
            assert_eq!(d[1].corroboration, Some(Corroboration::Error));
            assert!(matches!(
                d[1].evidence,
                Evidence::Rage {
                    error_click: true,
                    confirmed_dead: false,
                    ..
                }
            ));
        }
    }
    // An error on a held triple-click makes it rage, eligible at once.
    let mut s = rage_chain(3, 120.0, 0.0);
    s.wait(-1500.0)
        .event(kind::ERROR, Some("TypeError: x is undefined"), 0);
    let out = check(&s, &[Emotion::Rage]);
    assert!(detections(&out)[0].escalation_eligible);
}

#[test]
fn eligibility_needs_the_escalation_confidence_too() {
    let mut s = rage_chain(4, 150.0, 0.0);
    s.wait(-1000.0).event(kind::DEAD, Some("button#buy"), 0);
    let c = detections(&default().run(&s))[1].confidence;
    // The tenant's escalation confidence just below / at / just above the chain's.
    for (level, want) in [(c - 1e-9, true), (c, true), (c + 1e-9, false)] {
        let mut h = default();
        h.tenant.thresholds.escalation_confidence = level;
        let out = h.run(&s);
        let d = detections(&out);
        assert_eq!(
            d.iter().any(|d| d.escalation_eligible),
            want,
            "escalation confidence {level} for c = {c}"
        );
        // Below it the confirmed chain is not detected again: one episode, one detection.
        assert_eq!(d.len(), 1 + usize::from(want));
    }
}

#[test]
fn an_ordinary_double_click_is_nothing() {
    check(&rage_chain(2, 150.0, 0.0), &[]);
}

fn dead_clicks(n: usize, apart_ms: f64) -> Script {
    let mut s = Script::new(100.0, 100.0);
    for i in 0..n {
        s.reach(200.0 + 100.0 * i as f64, 300.0, 300.0)
            .click("div.card")
            .wait(1000.0)
            .event(kind::DEAD, Some("div.card"), 0)
            .wait(apart_ms - 1364.0);
    }
    s
}

#[test]
fn dead_clicks_make_frustration_within_the_window() {
    check(&dead_clicks(1, 3000.0), &[]);
    check(&dead_clicks(2, 3000.0), &[Emotion::Frustration]);
    // Window 10 s: dead reports 9 999 / 10 000 / 10 001 ms apart.
    for (apart, want) in [(9_999.0, 1), (10_000.0, 1), (10_001.0, 0)] {
        let out = default().run(&dead_clicks(2, apart));
        assert_eq!(emotions(&out).len(), want, "apart {apart}");
    }
}

#[test]
fn error_click_is_frustration_and_closer_is_stronger() {
    let run = |after_ms: f64| {
        let mut s = Script::new(100.0, 100.0);
        s.reach(300.0, 300.0, 300.0)
            .click("button#pay")
            .wait(after_ms)
            .event(kind::ERROR, Some("TypeError: x is undefined"), 0);
        default().run(&s)
    };
    let near = run(50.0);
    let far = run(900.0);
    assert_eq!(emotions(&near), [Emotion::Frustration]);
    assert_eq!(emotions(&far), [Emotion::Frustration]);
    assert!(detections(&near)[0].confidence > detections(&far)[0].confidence);
    for (ms, want) in [(999.0, 1), (1000.0, 1), (1001.0, 0)] {
        assert_eq!(
            emotions(&run(ms)).len(),
            want,
            "error {ms} ms after the click"
        );
    }
}

fn shake(hz: f64, amplitude: f64, ms: f64) -> Script {
    let mut s = Script::new(500.0, 400.0);
    s.path(ms, |t| {
        (
            500.0 + amplitude * (std::f64::consts::TAU * hz * t).sin(),
            400.0 + 10.0 * (std::f64::consts::TAU * 1.3 * t).sin(),
        )
    });
    s
}

#[test]
fn thrashed_cursor_is_confusion() {
    let out = check(&shake(3.0, 150.0, 2000.0), &[Emotion::Confusion]);
    let d = detections(&out)[0];
    assert!(matches!(d.evidence, Evidence::Confusion { reversals, .. } if reversals >= 6));
    // Slow sweeps, small tremor, or slow speed are not thrash.
    check(&shake(0.5, 300.0, 4000.0), &[]);
    check(&shake(3.0, 5.0, 2000.0), &[]);
}

#[test]
fn thrash_reversal_count_at_threshold() {
    // 3 Hz shaking for 1 s gives 6 reversals (vx crosses zero every 1/6 s).
    for (threshold, want) in [(5, 1), (6, 1), (7, 0)] {
        let mut h = default();
        h.tenant.thresholds.thrash_reversals = threshold;
        let out = h.run(&shake(3.0, 150.0, 1000.0));
        assert_eq!(emotions(&out).len(), want, "threshold {threshold}");
    }
}

fn scroll_thrash(reversals: usize, every_ms: f64) -> Script {
    let mut s = Script::new(300.0, 300.0);
    let mut y = 1000;
    s.scroll_to(y);
    for i in 0..=reversals {
        y += if i % 2 == 0 { 400 } else { -400 };
        s.wait(every_ms).scroll_to(y);
    }
    s
}

#[test]
fn scroll_thrash_is_confusion() {
    // Threshold: 4 direction reversals within 2 s.
    for (n, want) in [(3, 0), (4, 1), (5, 1)] {
        let out = default().run(&scroll_thrash(n, 300.0));
        assert_eq!(emotions(&out).len(), want, "{n} reversals");
    }
    // The same reversals spread over 4 s are reading, not thrash.
    check(&scroll_thrash(4, 900.0), &[]);
}

fn hesitate(section: &'static str, returns: usize, click_between: bool) -> Script {
    let mut s = Script::new(100.0, 600.0);
    s.section(section);
    s.reach(700.0, 400.0, 500.0).wait(400.0);
    for _ in 0..returns {
        s.reach(450.0, 550.0, 400.0).wait(300.0);
        if click_between {
            s.click("a.faq");
        }
        s.reach(705.0, 402.0, 400.0).wait(400.0);
    }
    s.reach(710.0, 420.0, 100.0);
    s
}

#[test]
fn approach_and_retreat_at_a_watched_cta_is_hesitation() {
    let mut h = Harness::new(TenantPolicy {
        labels: vec![(Emotion::Hesitation, arc("pricing"), arc("price_anxiety"))],
        ..TenantPolicy::default()
    });
    let out = h.run(&hesitate("pricing", 2, false));
    assert_eq!(emotions(&out), [Emotion::Hesitation]);
    let d = detections(&out)[0];
    assert_eq!(d.label.as_deref(), Some("price_anxiety"));
    assert_eq!(d.section.as_deref(), Some("pricing"));
    // One return is not enough (threshold 2); a click in between is a decision; outside a
    // watched section it is browsing.
    check(&hesitate("pricing", 1, false), &[]);
    check(&hesitate("pricing", 2, true), &[]);
    check(&hesitate("blog", 2, false), &[]);
}

fn exit(speed_up: bool, in_checkout: bool) -> Script {
    let mut s = Script::new(600.0, 500.0);
    if in_checkout {
        s.section("checkout");
    }
    s.reach(640.0, 2.0, if speed_up { 250.0 } else { 3000.0 });
    s.event(kind::LEAVE, None, 0);
    s
}

#[test]
fn exit_intent_is_abandonment_and_speed_and_checkout_raise_it() {
    let slow = check(&exit(false, false), &[Emotion::Abandonment]);
    let fast = check(&exit(true, false), &[Emotion::Abandonment]);
    let fast_checkout = check(&exit(true, true), &[Emotion::Abandonment]);
    let c = |o: &Vec<Output>| detections(o)[0].confidence;
    assert!(c(&slow) < c(&fast) && c(&fast) < c(&fast_checkout));
    assert!(c(&fast_checkout) > 0.9);
    // Through a side or the bottom (another monitor, the taskbar): not exit intent, even
    // during checkout. 50 px from the top is still the top; 51 px is not.
    // Nor is a leave near the top whose last movement was more sideways than up (the top
    // corner on the way to another monitor).
    for (x, y) in [
        (2.0, 400.0),
        (1278.0, 400.0),
        (640.0, 718.0),
        (640.0, 51.0),
        (2.0, 30.0),
    ] {
        let mut s = Script::new(600.0, 500.0);
        s.section("checkout")
            .reach(x, y, 250.0)
            .event(kind::LEAVE, None, 0);
        check(&s, &[]);
    }
    let mut s = Script::new(600.0, 500.0);
    s.reach(640.0, 50.0, 250.0).event(kind::LEAVE, None, 0);
    check(&s, &[Emotion::Abandonment]);
}

#[test]
fn hidden_during_checkout_is_abandonment_but_not_elsewhere() {
    let hide = |section: &'static str| {
        let mut s = Script::new(600.0, 500.0);
        s.section(section)
            .wait(500.0)
            .event(kind::VISIBILITY, None, 0);
        s
    };
    check(&hide("checkout"), &[Emotion::Abandonment]);
    check(&hide("blog"), &[]);
}

#[test]
fn calm_reading_and_clicking_detects_nothing() {
    let mut s = Script::new(100.0, 100.0);
    for i in 0..20 {
        let x = 200.0 + f64::from(i % 5) * 150.0;
        let y = 150.0 + f64::from(i / 5) * 120.0;
        s.reach(x, y, 450.0)
            .wait(1200.0)
            .click("a.link")
            .wait(800.0);
        s.scroll_to(300 * i);
    }
    check(&s, &[]);
}

#[test]
fn detections_carry_seq_sample_and_physics() {
    let frames = rage_chain(6, 150.0, 2.0).frames(250);
    let mut s = Session::anonymous();
    let out = default().feed(&mut s, &frames);
    let d = detections(&out)[0];
    let sentientiq_proto::ClientFrame::Batch(b) = frames
        .iter()
        .find(|f| f.seq() == Some(d.at))
        .expect("the frame it names")
    else {
        panic!("not a batch")
    };
    assert_eq!(b.k[d.sample as usize], kind::CLICK);
    assert!(d.physics.dwell_ms >= 0.0 && d.physics.efficiency <= 1.0);
    assert_eq!(d.n, 1);
}
