//! The loadgen's alert sink against the real edge binary (issue 15, "Measured"): every alert the
//! edge must send for a seeded run arrives once, signed, and is timed from the frame that
//! completed its evidence.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use sentientiq_alerts::secret::WebhookSecret;
use sentientiq_loadgen::alerts::expect::{Directory, Plan, Run, tenant_for_key};
use sentientiq_loadgen::alerts::score::score;
use sentientiq_loadgen::alerts::sink::{Sink, SinkConfig};
use sentientiq_loadgen::alerts::{Epoch, drain};
use sentientiq_loadgen::run::{Opts, Stats, run_watching};
use sentientiq_loadgen::synth::Mix;
use sentientiq_testkit::{DEMO_KEY, Edge};

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The example tenant, its escalation rule paging a one-step chain whose contact is the sink's
/// signed webhook; six accounts of $100k and more (the minimum exactly among them) and two
/// below it.
fn paging_the_sink(config: String, sink_port: u16) -> String {
    let c = config.replace(
        r#"escalate = { contacts = ["csm-oncall"] }"#,
        r#"escalate = { chain = "oncall" }"#,
    );
    assert!(
        c.contains(r#"chain = "oncall""#),
        "the example's escalation rule moved"
    );
    let mut extra = String::new();
    for (i, cents) in [
        10_000_000, 12_000_000, 25_000_000, 50_000_000, 10_000_000, 30_000_000, 9_999_999, 100,
    ]
    .iter()
    .enumerate()
    {
        extra += &format!(
            "[[tenant.accounts]]\nmatch = \"@co-{i}.example\"\ncompany = \"Co {i}\"\nvalue_cents = {cents}\n\n"
        );
    }
    format!(
        r#"{c}
{extra}
[[tenant.alerts.contacts]]
id = "oncall-hook"
name = "On-call webhook"
addresses = [{{ kind = "webhook", url = "http://127.0.0.1:{sink_port}/hooks/siq", secret = "{WHSEC}" }}]
rate = {{ burst = 100000, interval_ms = 1 }}

[tenant.alerts.chains.oncall]
steps = [{{ contacts = ["oncall-hook"] }}]
"#
    )
}

#[test]
fn every_expected_alert_arrives_once_signed_and_timed_from_its_completing_frame() {
    let epoch = Epoch::now();
    let secret = WebhookSecret::new(WHSEC).expect("secret");
    let sink = Sink::start(SinkConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        secret,
        epoch.at,
    ))
    .expect("sink");
    let edge = Edge::start_edited(2, |c| paging_the_sink(c, sink.addr().port()));
    let tenant = tenant_for_key(&edge.config, DEMO_KEY, "the edge's config").expect("tenant");
    let domains: Vec<String> = Directory::of(&tenant)
        .domains()
        .iter()
        .filter(|d| d.starts_with("co-"))
        .cloned()
        .collect();
    assert_eq!(domains.len(), 8);
    let (sessions, secs, seed) = (80, 15, 11);
    let mix = Mix::parse("calm=0.5,rage=0.5").expect("mix");
    let (duration, ramp, identified) = (Duration::from_secs(secs), Duration::from_secs(1), 0.9);
    let plan = Plan::new(
        &Run {
            seed,
            sessions,
            duration,
            ramp,
            mix: &mix,
            identified,
            domains: &domains,
        },
        &tenant,
    );
    // Several accounts page, several escalations fold into their alerts, and the $99,999.99
    // and $1 accounts page nobody.
    for (i, p) in plan.sessions.iter().enumerate() {
        eprintln!(
            "{i} {:?} {:?} must {} esc {:?} persona {:?}",
            p.uid,
            p.account,
            p.must_page,
            p.escalations,
            mix.persona_of(i)
        );
    }
    let expected = plan.alerts.len();
    assert!((4..=6).contains(&expected), "{:?}", plan.alerts);
    assert!(plan.folded >= 2, "{}", plan.folded);
    assert!(plan.exact);
    assert!(
        plan.alerts
            .iter()
            .all(|a| a.account != "Co 6" && a.account != "Co 7")
    );
    assert_eq!(plan.accounts().len(), expected, "one alert per account");
    let opts = Opts {
        ramp,
        mix: mix.clone(),
        identified,
        account_domains: domains.clone(),
        labels: vec![("price_anxiety".into(), "hesitation".into())],
        ..Opts::ws(
            format!("ws://127.0.0.1:{}/v1/ws", edge.port),
            DEMO_KEY,
            sessions,
            duration,
            seed,
        )
    };
    let stats = Rc::new(RefCell::new(Stats::default()));
    sentientiq_testkit::block_on_local(run_watching(opts, stats.clone(), plan.watch()))
        .expect("run");
    let st = stats.borrow();
    assert!(st.errors.is_empty(), "{:?}", st.errors);
    assert_eq!(st.acked, st.frames_sent);
    // Every escalating frame the plan named was sent (and timed) once.
    let watched: usize = plan.sessions.iter().map(|s| s.escalations.len()).sum();
    assert_eq!(st.watched.len(), watched);
    let sent = epoch.sent(&st.watched);
    drain(&sink, Some(&plan), &sent, &epoch, Duration::from_secs(5));
    let arrivals = sink.arrivals();
    let s = score(&plan, &arrivals, &sent, epoch.wall_ms);
    eprintln!(
        "alerts: expected {} received {} missing {:?} duplicated {} unexpected {:?}; latency p50 {} µs max {} µs; edge view max {} µs",
        s.expected,
        s.received,
        s.missing,
        s.duplicated(),
        s.unexpected,
        s.latency.value_at_quantile(0.5),
        s.latency.max(),
        s.edge.max(),
    );
    assert!(s.clean(), "{s:?}");
    assert_eq!((s.received, s.matched), (expected as u64, expected as u64));
    assert_eq!(s.signature_failures, 0);
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    // Every alert was timed, from the frame the loadgen sent and from the edge's detected_at.
    assert_eq!(s.untimed, 0);
    assert_eq!(s.latency.len(), expected as u64);
    assert_eq!(s.edge.len(), expected as u64);
    // The edge agrees: as many alerts opened as arrived, every other escalation folded or was
    // held back by the rule's account cooldown.
    assert_eq!(edge.metric("siq_alert_opened_total"), expected as f64);
    assert_eq!(edge.metric("siq_alert_undeliverable_total"), 0.0);
}
