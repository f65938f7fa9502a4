use std::io::{Read, Write};
use std::time::Instant;

use sentientiq_alerts::channels::{self, Address, HttpRequest, Providers, Purpose, Send};
use sentientiq_alerts::ids::{AlertId, ContactId, DeliveryId};
use sentientiq_alerts::link::{LinkKey, Links};
use sentientiq_alerts::message::{Detection, View};
use sentientiq_alerts::time::rfc3339_ms;

use super::*;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn start(max_body_bytes: usize, max_records: usize) -> Sink {
    let mut cfg = SinkConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        WebhookSecret::new(WHSEC).expect("secret"),
        Instant::now(),
    );
    cfg.max_body_bytes = max_body_bytes;
    cfg.max_records = max_records;
    Sink::start(cfg).expect("sink")
}

/// Sends `method path` with `headers` and `body` over a fresh connection; the status.
fn raw(sink: &Sink, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> u16 {
    let mut c = std::net::TcpStream::connect(sink.addr()).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: sink\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    c.write_all(head.as_bytes()).expect("head");
    c.write_all(body).expect("body");
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("answer");
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// A request the edge's own builders made, sent to the sink.
fn send(sink: &Sink, r: &HttpRequest) -> u16 {
    let path = r
        .url
        .strip_prefix(&format!("http://{}", sink.addr()))
        .unwrap_or_else(|| panic!("{} is not the sink's", r.url));
    let headers: Vec<(&str, String)> = r.headers.iter().map(|(n, v)| (*n, v.clone())).collect();
    raw(sink, r.method.as_str(), path, &headers, &r.body)
}

fn detection(at_ms: u64) -> Detection {
    Detection {
        tenant: "demo".into(),
        account: "Acme Corp".into(),
        value_cents: 12_000_000,
        user: Some("u_lg_7".into()),
        session: "s_lg00000001_00000007".into(),
        emotion: "rage".into(),
        confidence: 0.93,
        section: Some("checkout".into()),
        page: Some("https://shop.example/".into()),
        evidence: vec![("clicks".into(), "5 in 1.2 s".into())],
        at_ms,
        rule: Some("page".into()),
    }
}

fn address(v: serde_json::Value) -> Address {
    serde_json::from_value(v).expect("address")
}

/// The request the edge sends for delivery `n` of an alert to `to`, at `now_ms`.
fn request(sink: &Sink, to: &Address, n: u32, purpose: Purpose, now_ms: u64) -> HttpRequest {
    let alert = AlertId::from_random([7; 16]);
    let d = detection(now_ms - 40);
    let links = Links::new(LinkKey::new(&[9; 32]).expect("key"), "http://edge:7460");
    let link = links.url(&alert, &ContactId::new("ops").expect("id"), n, d.at_ms);
    let providers = Providers {
        pagerduty_base: format!("http://{}", sink.addr()),
        ..Providers::default()
    };
    channels::build(
        &providers,
        to,
        &Send {
            delivery: &DeliveryId::of(&alert, n),
            purpose,
            view: View {
                alert: &alert,
                detection: &d,
                count: 1,
                last_ms: d.at_ms,
                link: &link,
            },
            now_ms,
        },
    )
    .expect("request")
}

fn hook(sink: &Sink, secret: &str) -> Address {
    address(serde_json::json!({
        "kind": "webhook", "url": format!("http://{}/hooks/siq", sink.addr()), "secret": secret
    }))
}

fn now_ms() -> u64 {
    sentientiq_alerts::shell::now_ms()
}

#[test]
fn signed_webhooks_are_verified_and_a_bad_signature_is_counted_never_accepted() {
    let sink = start(MAX_BODY_BYTES, MAX_RECORDS);
    let now = now_ms();
    let good = request(&sink, &hook(&sink, WHSEC), 1, Purpose::Page, now);
    assert_eq!(send(&sink, &good), 204);
    // Signed with another secret.
    let other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let forged = request(&sink, &hook(&sink, other), 2, Purpose::Page, now);
    assert_eq!(send(&sink, &forged), 401);
    // The right signature over another body.
    let mut tampered = good.clone();
    tampered.body = tampered.body.replace_first("Acme Corp", "Acme Corq");
    assert_eq!(send(&sink, &tampered), 401);
    // Signed ten minutes ago: outside the spec's tolerance.
    let stale = request(&sink, &hook(&sink, WHSEC), 3, Purpose::Page, now - 600_000);
    assert_eq!(send(&sink, &stale), 400);
    // The same delivery again: accepted (the receiver dedupes), and counted.
    assert_eq!(send(&sink, &good), 204);
    let a = sink.arrivals();
    let verdicts: Vec<&Verdict> = a.iter().map(|a| &a.verdict).collect();
    assert_eq!(
        verdicts,
        [
            &Verdict::Accepted,
            &Verdict::BadSignature,
            &Verdict::BadSignature,
            &Verdict::Rejected("webhook: webhook-timestamp outside the tolerance".into()),
            &Verdict::Accepted,
        ]
    );
    let alert = AlertId::from_random([7; 16]).to_string();
    let first = &a[0];
    assert_eq!(first.channel, Channel::Webhook);
    assert_eq!(first.alert.as_deref(), Some(alert.as_str()));
    assert_eq!(first.delivery, Some(format!("{alert}-d1")));
    assert_eq!(first.session.as_deref(), Some("s_lg00000001_00000007"));
    assert_eq!(first.uid.as_deref(), Some("u_lg_7"));
    assert_eq!(first.account.as_deref(), Some("Acme Corp"));
    assert_eq!(first.detected_at_ms, Some(now - 40));
    assert!(first.page);
    assert!(a.windows(2).all(|w| w[0].at_us <= w[1].at_us));
    assert_eq!(repeated_deliveries(&a), vec![(format!("{alert}-d1"), 2)]);
    assert_eq!(sink.dropped(), 0);
    sink.stop();
}

trait ReplaceFirst {
    fn replace_first(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(self)
            .replacen(from, to, 1)
            .into_bytes()
    }
}

#[test]
fn slack_and_pagerduty_pages_name_their_alert() {
    let sink = start(MAX_BODY_BYTES, MAX_RECORDS);
    let now = now_ms();
    let slack = address(serde_json::json!({
        "kind": "slack_webhook", "url": format!("http://{}/services/T000/B000/XXXX", sink.addr())
    }));
    let pd = address(serde_json::json!({
        "kind": "pagerduty", "routing_key": "R0123456789abcdef0123456789abcde"
    }));
    assert_eq!(
        send(&sink, &request(&sink, &slack, 2, Purpose::Page, now)),
        200
    );
    assert_eq!(
        send(&sink, &request(&sink, &pd, 3, Purpose::Page, now)),
        202
    );
    assert_eq!(
        send(&sink, &request(&sink, &pd, 3, Purpose::Acknowledge, now)),
        202
    );
    let alert = AlertId::from_random([7; 16]).to_string();
    let a = sink.arrivals();
    assert!(a.iter().all(|a| a.verdict == Verdict::Accepted), "{a:?}");
    /// (channel, page, alert, delivery, uid)
    type Row<'a> = (
        Channel,
        bool,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let got: Vec<Row<'_>> = a
        .iter()
        .map(|a| {
            (
                a.channel,
                a.page,
                a.alert.as_deref(),
                a.delivery.as_deref(),
                a.uid.as_deref(),
            )
        })
        .collect();
    let (d2, trig, ack) = (
        format!("{alert}-d2"),
        format!("{alert}:trigger"),
        format!("{alert}:acknowledge"),
    );
    assert_eq!(
        got,
        vec![
            (
                Channel::Slack,
                true,
                Some(&*alert),
                Some(&*d2),
                Some("u_lg_7")
            ),
            (
                Channel::PagerDuty,
                true,
                Some(&*alert),
                Some(&*trig),
                Some("u_lg_7")
            ),
            (Channel::PagerDuty, false, Some(&*alert), Some(&*ack), None),
        ]
    );
    // PagerDuty carries the facts (custom_details); Slack only the link and the user.
    assert_eq!(a[1].session.as_deref(), Some("s_lg00000001_00000007"));
    assert_eq!(a[1].detected_at_ms, Some(now - 40));
    assert_eq!((a[0].session.as_deref(), a[0].detected_at_ms), (None, None));
    // A Slack body the vendor refuses is rejected, with the vendor's reason.
    let bad = raw(
        &sink,
        "POST",
        "/services/T000/B000/XXXX",
        &[("content-type", "text/plain".into())],
        b"hello",
    );
    assert_eq!(bad, 400);
    assert_eq!(
        sink.arrivals()[3].verdict,
        Verdict::Rejected("webhook: content-type must be application/json".into())
    );
}

/// A Slack body of exactly `n` bytes.
fn body_of(n: usize) -> Vec<u8> {
    let pad = n - r#"{"text":""}"#.len();
    format!(r#"{{"text":"{}"}}"#, "a".repeat(pad)).into_bytes()
}

#[test]
fn bodies_are_capped_at_cap_minus_one_cap_cap_plus_one() {
    let cap = 64;
    let sink = start(cap, MAX_RECORDS);
    let json = [("content-type", "application/json".to_string())];
    for (n, want) in [(cap - 1, 200), (cap, 200), (cap + 1, 413)] {
        let body = body_of(n);
        assert_eq!(body.len(), n);
        assert_eq!(
            raw(&sink, "POST", "/services/T/B/X", &json, &body),
            want,
            "{n} bytes"
        );
    }
    let a = sink.arrivals();
    assert_eq!(a.len(), 3, "the refused one is recorded too");
    assert_eq!(a[1].verdict, Verdict::Accepted);
    assert_eq!(
        a[2].verdict,
        Verdict::Rejected("sink: body over 64 bytes".into())
    );
}

#[test]
fn records_are_capped_and_what_is_not_recorded_is_counted() {
    let sink = start(MAX_BODY_BYTES, 2);
    let json = [("content-type", "application/json".to_string())];
    for i in 0..3 {
        assert_eq!(
            raw(&sink, "POST", "/services/T/B/X", &json, &body_of(40)),
            200,
            "{i}"
        );
        assert_eq!(sink.arrivals().len(), (i + 1).min(2));
        assert_eq!(sink.dropped(), i.saturating_sub(1) as u64);
    }
}

#[test]
fn a_taken_address_is_an_error() {
    let sink = start(MAX_BODY_BYTES, MAX_RECORDS);
    let cfg = SinkConfig::new(
        sink.addr(),
        WebhookSecret::new(WHSEC).expect("secret"),
        Instant::now(),
    );
    assert!(matches!(Sink::start(cfg), Err(Error::Bind { .. })));
}

#[test]
fn rfc3339_timestamps_parse_to_what_the_alerts_crate_writes() {
    for ms in [
        0,
        951_782_400_123, // 2000-02-29
        1_700_000_000_999,
        4_102_444_800_000, // 2100-01-01
        1_709_251_199_500, // 2024-02-29T23:59:59.500Z
    ] {
        assert_eq!(
            parse_rfc3339_ms(&rfc3339_ms(ms)),
            Some(ms),
            "{}",
            rfc3339_ms(ms)
        );
    }
    assert_eq!(
        parse_rfc3339_ms("2024-03-01T12:00:00Z"),
        Some(1_709_294_400_000)
    );
    assert_eq!(
        parse_rfc3339_ms("2024-03-01T12:00:00.5Z"),
        Some(1_709_294_400_500)
    );
    for bad in [
        "",
        "2024-03-01 12:00:00.000Z",
        "2024-13-01T12:00:00.000Z",
        "2024-03-01T24:00:00.000Z",
        "2024-03-01T12:00:00.000",
        "2024-03-01T12:00:00.Z",
        "2024-03-01T12:00:00,000Z",
        "2024-03-01T12:00:00.0é0Z",
        "+024-03-01T12:00:00.000Z",
    ] {
        assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
    }
}

#[test]
fn a_links_token_names_its_alert_and_delivery() {
    let alert = AlertId::from_random([3; 16]);
    let links = Links::new(LinkKey::new(&[1; 32]).expect("key"), "https://x.example/");
    let url = links.url(
        &alert,
        &ContactId::new("csm").expect("id"),
        4,
        1_700_000_000_000,
    );
    assert_eq!(link_alert(&url), Some((alert.to_string(), 4)));
    assert_eq!(link_alert("https://x.example/a/!!!.tag"), None);
    assert_eq!(link_alert("https://x.example/other"), None);
}
