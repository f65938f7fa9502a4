//! Policy: rules, identity and value → actions, cooldowns per session and per account,
//! escalation gated by confidence and value, priority by value, aggregates.

use std::sync::Arc;

use sentientiq_core::*;
use sentientiq_proto::{Value, kind};

use super::script::*;

fn rage_by(uid: &str, email: &str, ltv: i64) -> Script {
    // Five clicks on a save button that does nothing; the SDK reports the dead click ~1 s
    // after the first ones.
    let mut s = Script::new(100.0, 100.0);
    s.identify(uid, email, ltv)
        .reach(300.0, 300.0, 300.0)
        .click("button#save");
    for _ in 0..4 {
        s.click_at(1.0, 0.0, 150.0);
    }
    s.wait(400.0).event(kind::DEAD, Some("button#save"), 0);
    s.wait(500.0);
    s
}

fn tenant() -> TenantPolicy {
    TenantPolicy {
        rules: vec![
            Rule {
                id: arc("help-on-rage"),
                emotions: vec![Emotion::Rage],
                min_confidence: 0.5,
                sections: vec![],
                require_identified: true,
                min_value_cents: 0,
                action: RuleAction::Intervene {
                    kind: arc("chat"),
                    variant: arc("a"),
                    payload: Arc::new(Value::Str("Can we help?".into())),
                },
                session_cooldown_ms: 60_000,
                account_cooldown_ms: 0,
            },
            Rule {
                id: arc("escalate-big-accounts"),
                emotions: vec![Emotion::Rage, Emotion::Frustration],
                min_confidence: 0.0,
                sections: vec![],
                require_identified: true,
                min_value_cents: 10_000_000, // $100k
                action: RuleAction::Escalate {
                    contacts: Arc::from(vec![arc("csm-oncall")]),
                },
                session_cooldown_ms: 0,
                account_cooldown_ms: 600_000,
            },
        ],
        ..TenantPolicy::default()
    }
}

#[test]
fn a_100k_customer_raging_gets_an_intervention_then_an_escalation() {
    let mut h = Harness::new(tenant());
    let out = h.run(&rage_by("u1", "dana@acme.example", 120_000));
    let d = detections(&out);
    assert_eq!(d.len(), 2, "detected, then escalated: {d:#?}");
    assert_eq!(d[0].uid.as_deref(), Some("u1"));
    assert_eq!(d[0].account.as_deref(), Some("acme.example"));
    assert_eq!(d[0].value_cents, 12_000_000);
    let a = actions(&out);
    assert_eq!(a.len(), 2);
    assert!(matches!(a[0].kind, ActionKind::Intervene { .. }));
    assert_eq!(a[0].detection, 1);
    assert!(matches!(a[1].kind, ActionKind::Escalate { .. }));
    assert_eq!(a[1].detection, 2);
    assert_eq!(a[1].priority_cents, 12_000_000);
}

#[test]
fn escalations_come_before_interventions_for_one_detection() {
    let mut t = tenant();
    t.rules[0].min_confidence = 0.85;
    let out = Harness::new(t).run(&rage_by("u1", "dana@acme.example", 120_000));
    let a = actions(&out);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].detection, a[1].detection);
    assert!(
        matches!(a[0].kind, ActionKind::Escalate { .. }),
        "escalation first"
    );
}

#[test]
fn small_accounts_and_anonymous_users_are_not_escalated() {
    let mut h = Harness::new(tenant());
    let out = h.run(&rage_by("u2", "sam@small.example", 99_999));
    let a = actions(&out);
    assert_eq!(a.len(), 1);
    assert!(matches!(a[0].kind, ActionKind::Intervene { .. }));
    // The value cap at cap−1 / cap / cap+1 dollars.
    for (ltv, escalated) in [(99_999, false), (100_000, true), (100_001, true)] {
        let mut h = Harness::new(tenant());
        let out = h.run(&rage_by("u", "x@corp.example", ltv));
        let esc = actions(&out)
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Escalate { .. }));
        assert_eq!(esc, escalated, "ltv {ltv}");
    }
    // Anonymous: the detection happens, no rule requiring identity acts.
    let mut s = Script::new(100.0, 100.0);
    s.click("b");
    for _ in 0..5 {
        s.click_at(1.0, 0.0, 150.0);
    }
    let out = Harness::new(tenant()).run(&s);
    assert_eq!(emotions(&out), [Emotion::Rage]);
    assert!(actions(&out).is_empty());
}

fn escalates(out: &[Output]) -> bool {
    actions(out)
        .iter()
        .any(|a| matches!(a.kind, ActionKind::Escalate { .. }))
}

#[test]
fn a_long_chain_alone_is_not_escalated_a_page_report_makes_it_so() {
    // Twenty brisk clicks by a $120k user with no dead or error report: someone stepping
    // through a spreadsheet or a pager looks like this. An intervention, no page.
    let chain = |s: &mut Script| {
        s.identify("u1", "dana@acme.example", 120_000)
            .reach(300.0, 300.0, 300.0)
            .click("button#next");
        for _ in 0..19 {
            s.click_at(1.0, 0.0, 150.0);
        }
    };
    let mut s = Script::new(100.0, 100.0);
    chain(&mut s);
    s.wait(2000.0);
    let out = Harness::new(tenant()).run(&s);
    assert_eq!(emotions(&out), [Emotion::Rage]);
    assert!(!escalates(&out));
    assert_eq!(actions(&out).len(), 1);
    // The same chain, then a JS error right after the last click: escalated.
    let mut s = Script::new(100.0, 100.0);
    chain(&mut s);
    s.wait(200.0)
        .event(kind::ERROR, Some("TypeError: cart is undefined"), 0)
        .wait(2000.0);
    let out = Harness::new(tenant()).run(&s);
    assert!(escalates(&out));
    let d = detections(&out);
    assert_eq!(d[1].corroboration, Some(Corroboration::Error));
}

#[test]
fn anonymous_sessions_are_never_escalated_even_by_a_rule_that_allows_them() {
    // A rule that does not require identity and asks no value: its intervention reaches
    // anonymous sessions, its escalation never does, eligible detection or not.
    let mut t = tenant();
    for r in &mut t.rules {
        r.require_identified = false;
        r.min_value_cents = 0;
    }
    let mut s = Script::new(100.0, 100.0);
    s.reach(300.0, 300.0, 300.0).click("button#save");
    for _ in 0..4 {
        s.click_at(1.0, 0.0, 150.0);
    }
    s.wait(400.0).event(kind::DEAD, Some("button#save"), 0);
    s.wait(500.0);
    let out = Harness::new(t.clone()).run(&s);
    let d = detections(&out);
    assert_eq!(d.len(), 2);
    assert!(d[1].escalation_eligible && d[1].uid.is_none());
    assert!(!escalates(&out));
    assert!(
        actions(&out)
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Intervene { .. }))
    );
    // The same session identified: escalated (the rule itself is not what stopped it).
    let out = Harness::new(t).run(&rage_by("u1", "dana@acme.example", 0));
    assert!(escalates(&out));
}

#[test]
fn escalation_needs_the_escalation_confidence() {
    let mut t = tenant();
    t.thresholds.escalation_confidence = 0.99;
    let out = Harness::new(t).run(&rage_by("u1", "dana@acme.example", 120_000));
    assert!(
        actions(&out)
            .iter()
            .all(|a| !matches!(a.kind, ActionKind::Escalate { .. }))
    );
}

#[test]
fn account_cooldown_spans_sessions_and_session_cooldown_spans_episodes() {
    let mut h = Harness::new(tenant());
    let first = h.run(&rage_by("u1", "dana@acme.example", 120_000));
    assert_eq!(actions(&first).len(), 2);
    // Another user of the same account, a minute later: the intervention fires for the new
    // session, the escalation is within the account's 10 min cooldown.
    h.now_ms += 60_000;
    let second = h.run(&rage_by("u3", "lee@acme.example", 120_000));
    let a = actions(&second);
    assert_eq!(a.len(), 1);
    assert!(matches!(a[0].kind, ActionKind::Intervene { .. }));
    // After the cooldown, escalation again.
    h.now_ms += 600_000;
    let third = h.run(&rage_by("u4", "kim@acme.example", 120_000));
    assert_eq!(actions(&third).len(), 2);
}

#[test]
fn dnt_sessions_stay_anonymous_under_either_policy() {
    for policy in [DntPolicy::Anonymous, DntPolicy::Drop] {
        dnt_session_stays_anonymous(policy);
    }
}

/// Under either policy the core never binds an identity to a DNT session (under `Drop` the
/// shell also keeps none of its frames).
fn dnt_session_stays_anonymous(policy: DntPolicy) {
    let mut h = Harness::new(TenantPolicy {
        dnt: policy,
        ..tenant()
    });
    let hello = sentientiq_proto::Hello {
        key: sentientiq_proto::WriteKey::parse("siq_pk_demo_0000").expect("key"),
        sid: sentientiq_proto::Sid::parse("s_0123456789abcdef").expect("sid"),
        aid: None,
        url: "https://x.example/".into(),
        referrer: None,
        title: None,
        vw: 1000,
        vh: 800,
        dpr: None,
        tz: None,
        ptr: None,
        sdk: "js/1".into(),
        ack: None,
        dnt: Some(true),
        uid: None,
    };
    let mut s = Session::new(&hello);
    let out = h.feed(
        &mut s,
        &rage_by("u1", "dana@acme.example", 120_000).frames(250),
    );
    assert_eq!(emotions(&out), [Emotion::Rage, Emotion::Rage]);
    assert!(actions(&out).is_empty());
    assert_eq!(s.identity().uid, None);
    assert_eq!(s.counters().dnt_ignored, 1);
}

#[test]
fn aggregates_count_active_sessions_detections_and_value_at_risk() {
    let mut h = Harness::new(tenant());
    h.run(&rage_by("u1", "dana@acme.example", 120_000));
    let minute = NOW_MS / 60_000;
    let w = h.aggregates.get(minute).expect("window");
    assert_eq!(w.active_sessions, 1);
    assert_eq!(w.detections[Emotion::Rage.index()], 2);
    assert_eq!(w.value_at_risk_cents, 12_000_000);
    assert_eq!(w.affected_sessions, 1);
}
