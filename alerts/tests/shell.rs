//! The runner and its lanes against the stand-ins, over real sockets on loopback.

// Shell tests run on the real clock (deadlines for waiting), as the shell does.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::time::Duration;

use sentientiq_alerts::book::Book;
use sentientiq_alerts::chain::{Contact, Effect, Policy, RetryPolicy, Roster, Status, Step};
use sentientiq_alerts::channels::twilio::{Sender, SenderKind, TwilioAuth};
use sentientiq_alerts::channels::{Address, ChannelKind, E164, Providers, Severity, TwilioConfig};
use sentientiq_alerts::ids::{AlertId, ContactId};
use sentientiq_alerts::secret::{
    PagerDutyRoutingKey, SlackBotToken, SlackWebhookUrl, TwilioSecret, WebhookSecret, WebhookUrl,
};
use sentientiq_alerts::shell::lanes::Answer;
use sentientiq_alerts::shell::{
    Command, Event, HttpConfig, HttpSender, MemoryStore, Runner, RunnerConfig,
};
use sentientiq_alerts::stubs::pagerduty::{AlertState, PagerDuty};
use sentientiq_alerts::stubs::slack::Slack;
use sentientiq_alerts::stubs::twilio::Twilio;
use sentientiq_alerts::stubs::webhook::Receiver;
use sentientiq_alerts::stubs::{Scripted, Stub};
use sentientiq_alerts::{Chain, Outcome};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{alert_id, detection, links};

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "xoxb-test-token";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PD_KEY: &str = "R0123456789abcdef0123456789abcde";

fn cid(s: &str) -> ContactId {
    ContactId::new(s).expect("id")
}

/// Every vendor, a runner, and the handles to watch them.
struct World {
    slack: Stub<Slack>,
    twilio: Stub<Twilio>,
    pd: Stub<PagerDuty>,
    hook: Stub<Receiver>,
    tx: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    store: MemoryStore,
    runner: JoinHandle<(Book, MemoryStore)>,
    /// Events read but not yet waited for.
    seen: Vec<Event>,
}

struct Vendors {
    slack: Stub<Slack>,
    twilio: Stub<Twilio>,
    pd: Stub<PagerDuty>,
    hook: Stub<Receiver>,
}

impl Vendors {
    async fn start() -> Self {
        Self {
            slack: Stub::start(Slack::with_token(TOKEN)).await.expect("slack"),
            twilio: Stub::start(Twilio::new(SID, "tw-token"))
                .await
                .expect("twilio"),
            pd: Stub::start(PagerDuty::default()).await.expect("pagerduty"),
            hook: Stub::start(Receiver::new(WebhookSecret::new(WHSEC).expect("secret")))
                .await
                .expect("hook"),
        }
    }

    fn slack_hook(&self, name: &str) -> Address {
        Address::SlackWebhook {
            url: SlackWebhookUrl::new(format!("{}/services/T0/B0/{name}", self.slack.url()))
                .expect("url"),
        }
    }

    fn pagerduty(&self) -> Address {
        Address::Pagerduty {
            routing_key: PagerDutyRoutingKey::new(PD_KEY).expect("key"),
            severity: Severity::Critical,
        }
    }

    fn webhook(&self) -> Address {
        Address::Webhook {
            url: WebhookUrl::new(format!("{}/hooks/siq", self.hook.url())).expect("url"),
            secret: WebhookSecret::new(WHSEC).expect("secret"),
        }
    }

    fn providers(&self) -> Providers {
        Providers {
            slack_api_base: self.slack.url(),
            slack_bot_token: Some(SlackBotToken::new(TOKEN).expect("token")),
            twilio: Some(TwilioConfig {
                base: self.twilio.url(),
                account_sid: SID.into(),
                auth: TwilioAuth::AuthToken {
                    token: TwilioSecret::new("tw-token").expect("token"),
                },
                sms_from: Some(Sender::Number(E164::new("+14155552345").expect("from"))),
                whatsapp_from: None,
                sms_template: None,
                whatsapp_template: None,
                // Pacing is tested in `limits`; here it would only slow the tests.
                sender_kind: SenderKind::ShortCode,
            }),
            pagerduty_base: self.pd.url(),
            source: "sentientiq-test".into(),
        }
    }
}

fn contact(id: &str, addresses: Vec<Address>) -> Contact {
    Contact {
        id: cid(id),
        name: id.into(),
        addresses,
        quiet_hours: None,
        fallback: None,
        rate: None,
    }
}

fn policy(steps: &[(&[&str], u64)]) -> Policy {
    Policy {
        steps: steps
            .iter()
            .map(|(c, w)| Step {
                contacts: c.iter().map(|s| cid(s)).collect(),
                wait_ms: *w,
            })
            .collect(),
        retry: RetryPolicy {
            max_attempts: 6,
            base_ms: 100,
            max_backoff_ms: 400,
        },
        group_window_ms: 600_000,
    }
}

fn sms(n: &str) -> Address {
    Address::Sms {
        to: E164::new(n).expect("number"),
    }
}

fn http() -> HttpSender {
    HttpSender::new(HttpConfig {
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_millis(800),
        max_body: 64 * 1024,
    })
    .expect("client")
}

impl World {
    fn start(v: Vendors, contacts: Vec<Contact>, store: MemoryStore) -> Self {
        let roster = Roster::new(contacts).expect("roster");
        let cfg = RunnerConfig {
            rosters: HashMap::from([("acme".to_owned(), roster)]),
            providers: HashMap::from([("acme".to_owned(), v.providers())]),
            links: links(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (etx, events) = mpsc::unbounded_channel();
        let runner = tokio::spawn(Runner::new(cfg, http(), store.clone(), Some(etx)).run(rx));
        let Vendors {
            slack,
            twilio,
            pd,
            hook,
        } = v;
        Self {
            slack,
            twilio,
            pd,
            hook,
            tx,
            events,
            store,
            runner,
            seen: Vec::new(),
        }
    }

    fn detect(&self, id: &str, p: &Policy) {
        let cmd = Command::Detect {
            id: alert_id(id),
            detection: detection(),
            policy: p.clone(),
        };
        self.tx.send(cmd).expect("runner alive");
    }

    /// Waits for an event matching `f` (10 s at most), earlier unmatched events included.
    async fn wait_for(&mut self, what: &str, f: impl Fn(&Event) -> bool) -> Event {
        if let Some(i) = self.seen.iter().position(&f) {
            return self.seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) if f(&e) => return e,
                Ok(Some(e)) => self.seen.push(e),
                Ok(None) => panic!("runner ended while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    async fn delivered(&mut self, channel: ChannelKind) -> Event {
        self.wait_for(&format!("{channel:?} delivered"), |e| {
            matches!(e, Event::Attempt { channel: c, answer: Answer::Sent(Outcome::Delivered { .. }), .. } if *c == channel)
                || matches!(e, Event::Attempt { channel: c, answer: Answer::Looked(sentientiq_alerts::channels::Lookup::Found { .. }), .. } if *c == channel)
        })
        .await
    }

    fn stored(&self, id: &str) -> Chain {
        self.store
            .load()
            .into_iter()
            .find(|c| c.id.as_str() == id)
            .expect("stored alert")
    }

    fn violations(&self) -> Vec<String> {
        [
            self.slack.violations(),
            self.twilio.violations(),
            self.pd.violations(),
            self.hook.violations(),
        ]
        .concat()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_500_then_200_is_one_delivery_and_the_wire_is_as_built() {
    let v = Vendors::start().await;
    let c = vec![contact("csm", vec![v.slack_hook("csm")])];
    v.slack.script(1, Scripted::status(500));
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["csm"], 60_000)]));
    w.delivered(ChannelKind::SlackWebhook).await;
    let reqs = w.slack.requests();
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![Some(500), Some(200)]
    );
    assert_eq!(w.slack.vendor(|s| s.posted.len()), 1);
    let d = &w.stored("al_1").deliveries[0];
    assert_eq!((d.status, d.attempts), (Status::Delivered, 2));
    // What arrived is what was built, plus host and content-length, nothing else.
    let names: Vec<&str> = reqs[1]
        .request
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["content-type", "user-agent", "host", "content-length"]
    );
    assert_eq!(
        reqs[0].request.body, reqs[1].request.body,
        "a retry sends the same bytes"
    );
    assert!(w.violations().is_empty(), "{:?}", w.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_waited() {
    let v = Vendors::start().await;
    let c = vec![contact("csm", vec![v.slack_hook("csm")])];
    v.slack.script(1, Scripted::retry_after(429, "1"));
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["csm"], 60_000)]));
    w.delivered(ChannelKind::SlackWebhook).await;
    let reqs = w.slack.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].request.at_ms - reqs[0].request.at_ms;
    assert!(
        waited >= 1000,
        "Retry-After: 1 honoured, waited {waited} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_500_after_the_message_was_created_is_looked_up_not_sent_twice() {
    let v = Vendors::start().await;
    let c = vec![contact("csm", vec![sms("+14155550100")])];
    v.twilio.script(1, Scripted::ActThen { status: 500 });
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["csm"], 60_000)]));
    w.delivered(ChannelKind::Sms).await;
    let methods: Vec<String> = w
        .twilio
        .requests()
        .iter()
        .map(|r| r.request.method.clone())
        .collect();
    assert_eq!(
        methods,
        vec!["POST", "GET"],
        "created, looked up, not resent"
    );
    assert_eq!(w.twilio.vendor(|t| t.messages.len()), 1);
    let d = &w.stored("al_1").deliveries[0];
    assert_eq!(d.status, Status::Delivered);
    assert_eq!(
        d.provider_id.as_deref(),
        Some("SM00000000000000000000000000000001")
    );
    assert!(w.violations().is_empty(), "{:?}", w.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_timeout_then_not_found_is_sent_once() {
    let v = Vendors::start().await;
    let c = vec![contact("csm", vec![sms("+14155550100")])];
    v.twilio.script(1, Scripted::Hang); // never reached Twilio's store, never answered
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["csm"], 60_000)]));
    w.delivered(ChannelKind::Sms).await;
    let methods: Vec<String> = w
        .twilio
        .requests()
        .iter()
        .map(|r| r.request.method.clone())
        .collect();
    assert_eq!(
        methods,
        vec!["POST", "GET", "POST"],
        "timeout, lookup found nothing, sent"
    );
    assert_eq!(w.twilio.vendor(|t| t.messages.len()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_refused_connection_is_retried_blindly() {
    let v = Vendors::start().await;
    let c = vec![contact("csm", vec![sms("+14155550100")])];
    v.twilio.stop();
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["csm"], 60_000)]));
    w.wait_for("a refused attempt", |e| {
        matches!(e, Event::Attempt { answer: Answer::Sent(Outcome::Retry { reason, .. }), .. } if reason == "refused")
    })
    .await;
    w.twilio.resume().await.expect("resume");
    w.delivered(ChannelKind::Sms).await;
    let methods: Vec<String> = w
        .twilio
        .requests()
        .iter()
        .map(|r| r.request.method.clone())
        .collect();
    assert_eq!(
        methods,
        vec!["POST"],
        "no lookup needed: the refused request never left"
    );
    assert_eq!(w.twilio.vendor(|t| t.messages.len()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_410_marks_the_contact_failed_and_is_not_retried() {
    let v = Vendors::start().await;
    v.slack
        .vendor(|s| s.archived_hooks.insert("/services/T0/B0/csm".into()));
    let c = vec![
        contact("csm", vec![v.slack_hook("csm")]),
        contact("vp", vec![v.slack_hook("vp")]),
    ];
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["csm"], 60_000), (&["vp"], 60_000)]));
    let e = w
        .wait_for("address failed", |e| {
            matches!(e, Event::Effect(Effect::AddressFailed { .. }))
        })
        .await;
    assert!(
        matches!(e, Event::Effect(Effect::AddressFailed { contact, channel: ChannelKind::SlackWebhook, .. }) if contact == cid("csm"))
    );
    // Nobody at step 1 can be reached: the VP is paged at once, not after 60 s.
    w.delivered(ChannelKind::SlackWebhook).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paths: Vec<String> = w
        .slack
        .requests()
        .iter()
        .map(|r| r.request.path.clone())
        .collect();
    assert_eq!(
        paths,
        vec!["/services/T0/B0/csm", "/services/T0/B0/vp"],
        "410 never retried"
    );
    assert_eq!(w.stored("al_1").deliveries[0].status, Status::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_400_is_not_retried() {
    let v = Vendors::start().await;
    v.pd.script(
        1,
        Scripted::body(
            400,
            r#"{"status":"invalid event","message":"Event object is invalid","errors":["x"]}"#,
        ),
    );
    let c = vec![contact("vp", vec![v.pagerduty()])];
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["vp"], 60_000)]));
    w.wait_for("a permanent failure", |e| {
        matches!(
            e,
            Event::Attempt {
                answer: Answer::Sent(Outcome::Permanent { .. }),
                ..
            }
        )
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.pd.requests().len(), 1);
    let d = &w.stored("al_1").deliveries[0];
    assert_eq!((d.status, d.attempts), (Status::Failed, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_pagerduty_does_not_delay_slack() {
    let v = Vendors::start().await;
    v.pd.script(1, Scripted::Hang);
    let c = vec![contact("csm", vec![v.pagerduty(), v.slack_hook("csm")])];
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["csm"], 60_000)]));
    w.delivered(ChannelKind::SlackWebhook).await;
    let slack_at = w.slack.requests()[0].request.at_ms;
    // The hang times out (800 ms) and PagerDuty is retried with the same dedup_key.
    w.delivered(ChannelKind::Pagerduty).await;
    let pd = w.pd.requests();
    assert_eq!(pd.len(), 2, "the hung attempt and its retry");
    assert_eq!(pd[0].status, None, "the first attempt was never answered");
    // The lanes are independent: PagerDuty was dispatched first, and Slack still went out
    // while that attempt hung, before its 800 ms attempt timeout ended it (a shared lane would
    // have sent Slack only after the timeout).
    assert!(
        slack_at < pd[0].request.at_ms + 800,
        "Slack ({slack_at}) waited for PagerDuty's hung attempt ({} + 800 ms)",
        pd[0].request.at_ms
    );
    let keys: Vec<String> =
        w.pd.requests()
            .iter()
            .filter_map(|r| r.request.json())
            .map(|j| j["dedup_key"].to_string())
            .collect();
    assert_eq!(keys, vec!["\"al_1\"", "\"al_1\""]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledgement_escalates_and_acknowledge_stops_it_everywhere() {
    let v = Vendors::start().await;
    let c = vec![
        contact("csm", vec![v.slack_hook("csm")]),
        contact("vp", vec![v.pagerduty(), v.webhook()]),
        contact("ceo", vec![sms("+14155550199")]),
    ];
    let mut w = World::start(v, c, MemoryStore::default());
    let t0 = sentientiq_alerts::shell::now_ms();
    w.detect(
        "al_1",
        &policy(&[(&["csm"], 300), (&["vp"], 400), (&["ceo"], 60_000)]),
    );
    w.delivered(ChannelKind::SlackWebhook).await;
    w.delivered(ChannelKind::Pagerduty).await;
    let pd_at = w.pd.requests()[0].request.at_ms;
    assert!(
        pd_at - t0 >= 300,
        "the VP after the CSM's wait: {} ms",
        pd_at - t0
    );
    w.tx.send(Command::Acknowledge {
        alert: alert_id("al_1"),
        by: "vp".into(),
    })
    .expect("runner");
    w.wait_for("PagerDuty acknowledge", |e| {
        matches!(e, Event::Attempt { channel: ChannelKind::Pagerduty, answer: Answer::Sent(Outcome::Delivered { .. }), delivery, .. } if delivery.as_str() != "al_1-d2")
    })
    .await;
    assert_eq!(
        w.pd.vendor(|p| p.alerts.get("al_1").map(|a| a.0)),
        Some(AlertState::Acknowledged)
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(w.twilio.requests().is_empty(), "the CEO is never paged");
    let chain = w.stored("al_1");
    assert!(
        matches!(chain.state, sentientiq_alerts::chain::State::Acknowledged { ref by, .. } if by == "vp")
    );
    // The webhook went out signed and was accepted once.
    assert_eq!(w.hook.vendor(|h| h.ids.get("al_1-d3").copied()), Some(1));
    assert!(w.violations().is_empty(), "{:?}", w.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_retry_keeps_its_id_and_the_receiver_dedupes() {
    let v = Vendors::start().await;
    v.hook.script(1, Scripted::ActThen { status: 500 });
    let c = vec![contact("ops", vec![v.webhook()])];
    let mut w = World::start(v, c, MemoryStore::default());
    w.detect("al_1", &policy(&[(&["ops"], 60_000)]));
    w.delivered(ChannelKind::Webhook).await;
    let reqs = w.hook.requests();
    let ids: Vec<&str> = reqs
        .iter()
        .filter_map(|r| r.request.header("webhook-id"))
        .collect();
    assert_eq!(ids, vec!["al_1-d1", "al_1-d1"]);
    assert_eq!(
        w.hook.vendor(|h| (h.ids["al_1-d1"], h.accepted.len())),
        (2, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_send_and_answer_delivers_exactly_once_after_restart() {
    // First life: Twilio creates the message and never answers; Slack hangs; the process dies.
    let v = Vendors::start().await;
    v.twilio.script(1, Scripted::ActThenHang);
    v.slack.script(1, Scripted::Hang);
    let contacts = |v: &Vendors| {
        vec![contact(
            "csm",
            vec![v.slack_hook("csm"), sms("+14155550100")],
        )]
    };
    let c = contacts(&v);
    let store = MemoryStore::default();
    let w = World::start(v, c, store.clone());
    w.detect("al_1", &policy(&[(&["csm"], 60_000)]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while w.twilio.requests().is_empty() || w.slack.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "requests did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.runner.abort(); // kill -9: nothing after this point is stored
    let stored = store.load();
    assert_eq!(
        stored.len(),
        1,
        "the alert was durable before its first send"
    );
    assert!(
        stored[0]
            .deliveries
            .iter()
            .all(|d| d.status == Status::Sent)
    );
    let World {
        slack,
        twilio,
        pd,
        hook,
        ..
    } = w;
    slack.stop();
    slack.resume().await.expect("resume"); // drop the hanging connection
    let v = Vendors {
        slack,
        twilio,
        pd,
        hook,
    };
    // Second life: restore from the store.
    let c = contacts(&v);
    let mut w = World::start(v, c, store.clone());
    w.tx.send(Command::Restore(stored)).expect("runner");
    w.delivered(ChannelKind::Sms).await;
    w.delivered(ChannelKind::SlackWebhook).await;
    assert_eq!(
        w.twilio.vendor(|t| t.messages.len()),
        1,
        "Twilio looked up, not sent twice"
    );
    let methods: Vec<String> = w
        .twilio
        .requests()
        .iter()
        .map(|r| r.request.method.clone())
        .collect();
    assert_eq!(methods, vec!["POST", "GET"]);
    assert_eq!(
        w.slack.vendor(|s| s.posted.len()),
        1,
        "the hanging Slack post never landed"
    );
    let chain = w.stored("al_1");
    assert_eq!(
        chain.possible_duplicates(),
        1,
        "the Slack resend is counted as a possible duplicate"
    );
    assert!(
        chain
            .deliveries
            .iter()
            .all(|d| d.status == Status::Delivered)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_detections_update_the_open_alert() {
    let v = Vendors::start().await;
    let c = vec![contact("csm", vec![v.slack_hook("csm")])];
    let mut w = World::start(v, c, MemoryStore::default());
    let p = policy(&[(&["csm"], 60_000)]);
    w.detect("al_1", &p);
    w.delivered(ChannelKind::SlackWebhook).await;
    w.detect("al_2", &p);
    w.detect("al_3", &p);
    w.wait_for("update", |e| matches!(e, Event::Detected(sentientiq_alerts::book::Detected::Updated(a)) if a.as_str() == "al_1")).await;
    w.wait_for("update", |e| {
        matches!(
            e,
            Event::Detected(sentientiq_alerts::book::Detected::Updated(_))
        )
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.slack.requests().len(), 1, "repeats page nobody");
    assert_eq!(w.stored("al_1").count, 3);
    let _: AlertId = alert_id("al_1");
}
