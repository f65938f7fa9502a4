//! Golden fixtures: the exact HTTP/1.1 bytes of every vendor request for one fixed alert
//! (`tests/fixtures/*.http`). Regenerate with `UPDATE_GOLDEN=1` and review the diff: a change
//! here is a change on the wire.

use sentientiq_alerts::channels::twilio::{Sender, SenderKind, TwilioAuth, lookup_request};
use sentientiq_alerts::channels::{
    Address, ChannelKind, E164, HttpRequest, Providers, Purpose, Send, Severity, TwilioConfig,
    build,
};
use sentientiq_alerts::ids::{ContactId, DeliveryId};
use sentientiq_alerts::message::View;
use sentientiq_alerts::secret::{
    PagerDutyRoutingKey, SlackBotToken, SlackWebhookUrl, TwilioSecret, WebhookSecret, WebhookUrl,
};

use crate::{alert_id, detection, links};

const NOW_MS: u64 = 1_700_000_001_234;

fn twilio(template: bool) -> TwilioConfig {
    TwilioConfig {
        base: "https://api.twilio.com".into(),
        account_sid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        auth: TwilioAuth::AuthToken {
            token: TwilioSecret::new("test-auth-token").expect("token"),
        },
        sms_from: Some(Sender::Number(E164::new("+14155552345").expect("from"))),
        whatsapp_from: Some(Sender::MessagingServiceSid(
            "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        )),
        sms_template: None,
        whatsapp_template: template.then(|| "HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into()),
        sender_kind: SenderKind::LongCode,
    }
}

fn providers(template: bool) -> Providers {
    Providers {
        slack_bot_token: Some(SlackBotToken::new("xoxb-0000-test").expect("token")),
        twilio: Some(twilio(template)),
        ..Providers::default()
    }
}

fn request(a: &Address, purpose: Purpose, template: bool) -> HttpRequest {
    let id = alert_id("al_golden");
    let d = detection();
    let link = links().url(&id, &ContactId::new("csm").expect("id"), 1, d.at_ms);
    let delivery = DeliveryId::of(&id, 1);
    let view = View {
        alert: &id,
        detection: &d,
        count: 1,
        last_ms: d.at_ms,
        link: &link,
    };
    build(
        &providers(template),
        a,
        &Send {
            delivery: &delivery,
            purpose,
            view,
            now_ms: NOW_MS,
        },
    )
    .expect("build")
}

fn check(name: &str, req: &HttpRequest) {
    let path = format!("{}/tests/fixtures/{name}.http", env!("CARGO_MANIFEST_DIR"));
    let wire = req.to_wire();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &wire).expect("write fixture");
    }
    let want = std::fs::read(&path).expect("fixture exists (UPDATE_GOLDEN=1 writes it)");
    assert!(
        wire == want,
        "{name} changed on the wire:\n--- want\n{}\n--- got\n{}",
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(&wire)
    );
}

fn e164(s: &str) -> E164 {
    E164::new(s).expect("number")
}

#[test]
fn slack_webhook() {
    let url = SlackWebhookUrl::new("https://hooks.slack.com/services/T000/B000/XXXX").expect("url");
    check(
        "slack_webhook",
        &request(&Address::SlackWebhook { url }, Purpose::Page, false),
    );
}

#[test]
fn slack_post_message() {
    let a = Address::SlackChat {
        channel: "C0123456789".into(),
    };
    check("slack_post_message", &request(&a, Purpose::Page, false));
}

#[test]
fn twilio_sms() {
    let r = request(
        &Address::Sms {
            to: e164("+14155550100"),
        },
        Purpose::Page,
        false,
    );
    check("twilio_sms", &r);
}

#[test]
fn twilio_whatsapp_template() {
    let r = request(
        &Address::Whatsapp {
            to: e164("+14155550100"),
        },
        Purpose::Page,
        true,
    );
    check("twilio_whatsapp_template", &r);
}

#[test]
fn twilio_lookup() {
    check(
        "twilio_lookup",
        &lookup_request(&twilio(false), ChannelKind::Sms, &e164("+14155550100")),
    );
}

fn pd() -> Address {
    Address::Pagerduty {
        routing_key: PagerDutyRoutingKey::new("R0123456789abcdef0123456789abcde").expect("key"),
        severity: Severity::Critical,
    }
}

#[test]
fn pagerduty_trigger_acknowledge_resolve() {
    check("pagerduty_trigger", &request(&pd(), Purpose::Page, false));
    check(
        "pagerduty_acknowledge",
        &request(&pd(), Purpose::Acknowledge, false),
    );
    check(
        "pagerduty_resolve",
        &request(&pd(), Purpose::Resolve, false),
    );
}

#[test]
fn standard_webhook() {
    let a = Address::Webhook {
        url: WebhookUrl::new("https://hooks.example.com/sentientiq?token=abc").expect("url"),
        secret: WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret"),
    };
    check("standard_webhook", &request(&a, Purpose::Page, false));
}
