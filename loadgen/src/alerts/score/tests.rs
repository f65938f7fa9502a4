use std::sync::Arc;

use super::*;
use crate::alerts::expect::{Escalation, ExpectedAlert, Planned};

const WALL0: u64 = 1_700_000_000_000;

fn planned(sid: &str, uid: Option<&str>, account: &str, value: i64, escs: &[u64]) -> Planned {
    Planned {
        sid: sid.into(),
        uid: uid.map(str::to_string),
        account: uid.map(|_| account.to_string()),
        value_cents: value,
        escalations: escs
            .iter()
            .map(|seq| Escalation {
                seq: *seq,
                at_us: 0,
                rule: Arc::from("page"),
            })
            .collect(),
        must_page: false,
    }
}

fn expected(account: &str, session: usize, seq: u64) -> ExpectedAlert {
    ExpectedAlert {
        account: account.into(),
        session,
        seq,
        at_us: 0,
        folded: 0,
    }
}

/// Big (two sessions, one alert), Other, Third expected; an anonymous session and a $50k
/// account expected to page nobody.
fn plan() -> Plan {
    Plan {
        sessions: vec![
            planned("s0", Some("u_lg_0"), "Big", 12_000_000, &[5, 12]),
            planned("s1", Some("u_lg_1"), "Big", 12_000_000, &[7]),
            planned("s2", Some("u_lg_2"), "Other", 20_000_000, &[4]),
            planned("s3", None, "", 0, &[]),
            planned("s4", Some("u_lg_4"), "Small", 5_000_000, &[]),
            planned("s5", Some("u_lg_5"), "Third", 30_000_000, &[9]),
        ],
        alerts: vec![
            expected("Big", 0, 5),
            expected("Other", 2, 4),
            expected("Third", 5, 9),
        ],
        folded: 1,
        undeliverable: 0,
        exact: true,
        truth_accounts: ["Big", "Other", "Third", "Fourth"]
            .into_iter()
            .map(str::to_string)
            .collect(),
        min_value_cents: Some(10_000_000),
    }
}

fn sent(session: usize, seq: u64, sent_us: u64, intended_us: u64) -> Sent {
    Sent {
        session,
        seq,
        sent_us,
        intended_us,
    }
}

struct A(Arrival);

impl A {
    fn new(channel: Channel, at_us: u64) -> A {
        A(Arrival {
            at_us,
            wall_ms: WALL0 + at_us / 1000,
            channel,
            status: 204,
            verdict: Verdict::Accepted,
            page: true,
            alert: None,
            delivery: None,
            session: None,
            uid: None,
            account: None,
            detected_at_ms: None,
            link: None,
            emotion: None,
        })
    }
    fn hook(alert: &str, n: u32, sid: &str, account: &str, detected_ms: u64, at_us: u64) -> A {
        let mut a = A::new(Channel::Webhook, at_us);
        a.0.alert = Some(alert.into());
        a.0.delivery = Some(format!("{alert}-d{n}"));
        a.0.session = Some(sid.into());
        a.0.account = Some(account.into());
        a.0.detected_at_ms = Some(WALL0 + detected_ms);
        a
    }
    fn verdict(mut self, v: Verdict, status: u16) -> A {
        self.0.verdict = v;
        self.0.status = status;
        self
    }
}

#[test]
fn alerts_are_matched_per_account_and_every_fault_is_counted() {
    let p = plan();
    let mut slack = A::new(Channel::Slack, 1_900_100);
    slack.0.alert = Some("al_A".into());
    slack.0.delivery = Some("al_A-d2".into());
    slack.0.uid = Some("u_lg_0".into());
    let mut ack = A::new(Channel::PagerDuty, 5_000_000);
    ack.0.page = false;
    ack.0.alert = Some("al_A".into());
    let arrivals: Vec<Arrival> = [
        A::hook("al_A", 1, "s0", "Big", 1_002, 1_250_100),
        slack,
        // The same delivery again: a duplicated delivery.
        A::hook("al_A", 1, "s0", "Big", 1_002, 1_300_000),
        A::hook("al_B", 1, "s2", "Other", 3_001, 3_500_200),
        // A second alert for Big: a duplicated alert.
        A::hook("al_C", 1, "s1", "Big", 2_001, 2_400_000),
        A::hook("al_D", 1, "s3", "u_anon", 2_500, 2_600_000),
        A::hook("al_E", 1, "s4", "Small", 2_700, 2_800_000),
        A::hook("al_F", 1, "s9", "Big", 2_900, 3_000_000).verdict(Verdict::BadSignature, 401),
        A::new(Channel::Slack, 3_100_000)
            .verdict(Verdict::Rejected("sink: body over 64 bytes".into()), 413),
        ack,
        // An accepted Slack post with no link in it.
        A::new(Channel::Slack, 3_200_000),
    ]
    .into_iter()
    .map(|a| a.0)
    .collect();
    let sends = [
        sent(0, 5, 1_000_100, 1_000_000),
        // A later escalating frame of s0: not the one alert A is about (detected_at says).
        sent(0, 12, 20_000_000, 20_000_000),
        sent(1, 7, 2_000_050, 2_000_000),
        sent(2, 4, 3_000_200, 3_000_000),
    ];
    let s = score(&p, &arrivals, &sends, WALL0);
    assert_eq!((s.expected, s.received, s.matched), (3, 5, 2));
    assert_eq!(
        s.missing,
        vec![Missing {
            account: "Third".into(),
            session: "s5".into()
        }]
    );
    let dup: Vec<(&str, Option<&str>)> = s
        .duplicated_alerts
        .iter()
        .map(|o| (o.alert.as_str(), o.account.as_deref()))
        .collect();
    assert_eq!(dup, vec![("al_C", Some("Big"))]);
    assert_eq!(s.duplicated_deliveries, vec![("al_A-d1".to_string(), 2)]);
    assert_eq!(s.duplicated(), 2);
    let odd: Vec<(&str, &str)> = s
        .unexpected
        .iter()
        .map(|o| (o.alert.as_str(), o.why.as_str()))
        .collect();
    assert_eq!(
        odd,
        vec![
            ("", "a slack page that names no alert"),
            (
                "al_E",
                "an account worth 5000000 cents, below the rule's 10000000"
            ),
            ("al_D", "an anonymous session"),
        ]
    );
    assert_eq!(s.signature_failures, 1);
    assert_eq!(
        s.rejected,
        BTreeMap::from([("sink: body over 64 bytes".to_string(), 1)])
    );
    assert_eq!(s.other_events, 1);
    assert!(!s.clean());
    // Latency: A 1.2501 s − 1.0001 s, B 3.5002 s − 3.0002 s; never from s0's later frame.
    assert_eq!(s.latency.len(), 2);
    assert!(s.latency.equivalent(s.latency.min(), 250_000));
    assert!(s.latency.equivalent(s.latency.max(), 500_000));
    assert!(s.from_intended.equivalent(s.from_intended.max(), 500_200));
    assert!(s.from_intended.equivalent(s.from_intended.min(), 250_100));
    // The edge's view: 1250 − 1002 ms and 3500 − 3001 ms.
    assert_eq!(s.edge.len(), 2);
    assert!(s.edge.equivalent(s.edge.min(), 248_000));
    assert!(s.edge.equivalent(s.edge.max(), 499_000));
    assert_eq!(s.untimed, 0);
    let hook = &s.by_channel["webhook"];
    assert_eq!((hook.accepted, hook.alerts, hook.latency.len()), (6, 2, 2));
    let sl = &s.by_channel["slack"];
    assert_eq!((sl.accepted, sl.alerts, sl.latency.len()), (2, 1, 1));
    assert!(sl.latency.equivalent(sl.latency.max(), 900_000));
    assert_eq!(s.truth_not_expected, vec!["Fourth".to_string()]);
    assert!(s.expected_not_truth.is_empty());
}

#[test]
fn a_clean_run_is_clean_and_an_untimed_alert_is_counted() {
    let p = plan();
    let arrivals: Vec<Arrival> = [
        A::hook("al_A", 1, "s1", "Big", 2_001, 2_100_000),
        A::hook("al_B", 1, "s2", "Other", 3_001, 3_100_000),
        A::hook("al_C", 1, "s5", "Third", 4_001, 4_100_000),
    ]
    .into_iter()
    .map(|a| a.0)
    .collect();
    // Big's alert came from s1 (the plan named s0: the score matches by account); s5's frame
    // was never timed.
    let sends = [
        sent(0, 5, 1_000_000, 1_000_000),
        sent(1, 7, 2_000_000, 2_000_000),
        sent(2, 4, 3_000_000, 3_000_000),
    ];
    let s = score(&p, &arrivals, &sends, WALL0);
    assert_eq!((s.expected, s.received, s.matched), (3, 3, 3));
    assert!(s.missing.is_empty() && s.unexpected.is_empty());
    assert_eq!(s.duplicated(), 0);
    assert!(s.clean());
    assert_eq!(s.untimed, 1);
    assert_eq!(s.latency.len(), 2);
    assert!(s.latency.equivalent(s.latency.max(), 100_000));
    assert!(s.latency.equivalent(s.latency.min(), 100_000));
    // Nothing arrived: everything expected is missing, nothing else is wrong.
    let s = score(&p, &[], &sends, WALL0);
    assert_eq!(s.missing.len(), 3);
    assert_eq!((s.received, s.matched, s.duplicated()), (0, 0, 0));
    assert!(!s.clean());
}

#[test]
fn received_without_a_plan_lists_each_alert_once_with_its_first_page() {
    let mut slack = A::new(Channel::Slack, 900_000);
    slack.0.alert = Some("al_1".into());
    slack.0.delivery = Some("al_1-d2".into());
    let mut bad = A::new(Channel::Webhook, 950_000);
    bad.0.verdict = Verdict::BadSignature;
    let arrivals = vec![
        A::hook("al_1", 1, "s0", "Big", 100, 400_000).0,
        slack.0,
        // The same delivery accepted twice: a duplicated delivery, still one alert.
        A::hook("al_2", 1, "s2", "Other", 200, 700_000).0,
        A::hook("al_2", 1, "s2", "Other", 200, 800_000).0,
        bad.0,
    ];
    let r = received(&arrivals);
    assert_eq!(r.accepted, 4);
    assert_eq!(
        r.alerts
            .iter()
            .map(|a| a.alert.as_deref())
            .collect::<Vec<_>>(),
        [Some("al_1"), Some("al_2")]
    );
    assert_eq!(
        r.alerts[0].channel,
        Channel::Webhook,
        "the first page of al_1"
    );
    assert_eq!(r.duplicated_deliveries, vec![("al_2-d1".to_string(), 2)]);
    assert_eq!(r.signature_failures, 1);
    // Edge view: al_1 detected at +100 ms, first page at +400 ms; al_2 at +200 → +700.
    assert_eq!(r.edge.len(), 2);
    assert_eq!(r.edge.max() / 1000, 500);
    assert_eq!(received(&[]).alerts.len(), 0);
}
