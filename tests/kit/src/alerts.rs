//! Alert delivery in tests: local stand-ins for every vendor (`sentientiq_alerts::stubs`,
//! strict about request shapes) on their own runtime, and the demo tenant's `[tenant.alerts]`
//! pointing at them.

use std::time::Duration;

use sentientiq_alerts::secret::WebhookSecret;
use sentientiq_alerts::stubs::pagerduty::PagerDuty;
use sentientiq_alerts::stubs::slack::Slack;
use sentientiq_alerts::stubs::twilio::Twilio;
use sentientiq_alerts::stubs::webhook::Receiver;
use sentientiq_alerts::stubs::{Recorded, Stub};

pub const TWILIO_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const TWILIO_TOKEN: &str = "tw-secret-token-0000";
pub const SLACK_TOKEN: &str = "xoxb-test-token";
pub const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PD_KEY: &str = "R0123456789abcdef0123456789abcde";
/// The Slack incoming webhook's path.
pub const HOOK_PATH: &str = "/services/T000/B000/XXXX";

/// Every vendor, listening on loopback.
#[derive(Debug)]
pub struct Vendors {
    pub rt: tokio::runtime::Runtime,
    pub slack: Stub<Slack>,
    pub twilio: Stub<Twilio>,
    pub pagerduty: Stub<PagerDuty>,
    pub webhook: Stub<Receiver>,
}

impl Vendors {
    pub fn start() -> Vendors {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (slack, twilio, pagerduty, webhook) = rt.block_on(async {
            (
                Stub::start(Slack::with_token(SLACK_TOKEN))
                    .await
                    .expect("slack"),
                Stub::start(Twilio::new(TWILIO_SID, TWILIO_TOKEN))
                    .await
                    .expect("twilio"),
                Stub::start(PagerDuty::default()).await.expect("pagerduty"),
                Stub::start(Receiver::new(WebhookSecret::new(WHSEC).expect("secret")))
                    .await
                    .expect("webhook"),
            )
        });
        Vendors {
            rt,
            slack,
            twilio,
            pagerduty,
            webhook,
        }
    }

    /// The demo tenant's alerting config as a `[tenant.alerts]` table of an edge's file.
    pub fn tenant_alerts(&self, wait_ms: u64) -> String {
        self.alerts_toml(wait_ms)
            .replace("[providers", "[tenant.alerts.providers")
            .replace("[[contacts]]", "[[tenant.alerts.contacts]]")
            .replace("[chains.", "[tenant.alerts.chains.")
    }

    /// The alerting config (`siqctl alerts set`'s file): `csm-oncall` (Slack webhook + signed
    /// webhook) is paged first; `vp` (PagerDuty + SMS) after `wait_ms` without an
    /// acknowledgement.
    pub fn alerts_toml(&self, wait_ms: u64) -> String {
        format!(
            r#"
[providers]
slack_api_base = "{slack}"
slack_bot_token = "{SLACK_TOKEN}"
pagerduty_base = "{pd}"

[providers.twilio]
base = "{twilio}"
account_sid = "{TWILIO_SID}"
auth = {{ kind = "auth_token", token = "{TWILIO_TOKEN}" }}
sms_from = {{ number = "+14155552345" }}

[[contacts]]
id = "csm-oncall"
name = "Casey (CSM)"
addresses = [
  {{ kind = "slack_webhook", url = "{slack}{HOOK_PATH}" }},
  {{ kind = "webhook", url = "{hook}/hooks/siq", secret = "{WHSEC}" }},
]

[[contacts]]
id = "vp"
name = "Vera (VP Customer Success)"
addresses = [
  {{ kind = "pagerduty", routing_key = "{PD_KEY}" }},
  {{ kind = "sms", to = "+14155550101" }},
]

[chains.enterprise]
steps = [{{ contacts = ["csm-oncall"], wait_ms = {wait_ms} }}, {{ contacts = ["vp"] }}]
"#,
            slack = self.slack.url(),
            pd = self.pagerduty.url(),
            twilio = self.twilio.url(),
            hook = self.webhook.url(),
        )
    }

    /// Every request any vendor found malformed.
    pub fn violations(&self) -> Vec<String> {
        let mut v = self.slack.violations();
        v.extend(self.twilio.violations());
        v.extend(self.pagerduty.violations());
        v.extend(self.webhook.violations());
        v
    }

    /// Requests the signed-webhook receiver answered 2xx.
    pub fn webhooks_accepted(&self) -> Vec<Recorded> {
        self.webhook
            .requests()
            .into_iter()
            .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
            .collect()
    }

    /// Waits until `f` holds (polling every 20 ms), up to `within`.
    pub fn wait(&self, what: &str, within: Duration, f: impl FnMut() -> bool) -> Duration {
        crate::wait::wait_for(what, within, f)
    }
}

/// The example config with its escalation rule paging the `enterprise` chain of `alerts`
/// (appended to the demo tenant, the file's last table).
pub fn paging(config: String, alerts: &str) -> String {
    let c = config.replace(
        r#"escalate = { contacts = ["csm-oncall"] }"#,
        r#"escalate = { chain = "enterprise" }"#,
    );
    assert!(
        c.contains("chain = \"enterprise\""),
        "the example's escalation rule moved"
    );
    format!("{c}\n{alerts}")
}

/// The one-click link in a signed webhook's body (`data.link`).
pub fn link_of(r: &Recorded) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.request.body).expect("webhook json");
    v.pointer("/data/link")
        .and_then(|l| l.as_str())
        .unwrap_or_else(|| panic!("no data.link in {v}"))
        .to_string()
}
/// A tenant's alerting config whose every credential looks real. [`SECRETS`] are its secret
/// values: none may ever be shown to an admin.
pub const SECRET_ALERTS: &str = r#"
[providers]
slack_bot_token = "xoxb-2041-7733-SlackBotSecretValue"

[providers.twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth = { kind = "auth_token", token = "TwilioAuthTokenSecret0123456789" }
sms_from = { number = "+14155552345" }

[[contacts]]
id = "csm"
name = "Ana (CSM)"
addresses = [
  { kind = "slack_webhook", url = "https://hooks.slack.com/services/T0SECRET/B0SECRET/HookSecretValue" },
  { kind = "sms", to = "+14155550100" },
]

[[contacts]]
id = "vp"
name = "VP Customer Success"
addresses = [{ kind = "pagerduty", routing_key = "R0ut1ngKeySecret0123456789abcdef" }]

[[contacts]]
id = "ceo"
name = "CEO"
addresses = [
  { kind = "webhook", url = "https://ops.example.com/hooks/siq?token=UrlTokenSecret", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
]

[chains.enterprise]
steps = [{ contacts = ["csm"] }, { contacts = ["vp"], wait_ms = 120000 }, { contacts = ["ceo"] }]
"#;

/// The secret values of [`SECRET_ALERTS`] (each a distinctive part of one).
pub const SECRETS: [&str; 7] = [
    "xoxb-2041",
    "SlackBotSecretValue",
    "TwilioAuthTokenSecret",
    "HookSecretValue",
    "R0ut1ngKeySecret",
    "UrlTokenSecret",
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
];

/// Panics unless the plane's `log` recorded an alerting config being set (so it is the log of
/// a plane that handled [`SECRET_ALERTS`], not an empty file) without showing any of
/// [`SECRETS`].
pub fn assert_plane_log_has_no_secret(log: &str) {
    assert!(
        log.contains("alerting config set"),
        "the plane's log never recorded an alerting config being set:\n{log}"
    );
    assert_no_secret("the plane's log", log);
}

/// Panics if `text` shows any of [`SECRETS`].
pub fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}
