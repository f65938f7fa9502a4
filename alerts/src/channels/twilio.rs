//! Twilio Programmable Messaging: SMS and WhatsApp through the Messages resource
//! (`/work/shared/specs/twilio/twilio_messages.yaml`, Twilio's own OpenAPI description).
//!
//! Create (`CreateMessage`): `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! `application/x-www-form-urlencoded`, HTTP Basic (`AccountSid:AuthToken`, or an API key
//! `SK…:secret`), fields `To` (E.164, or `whatsapp:+E164`), `From` (a Twilio number) or
//! `MessagingServiceSid` (`MG…`), and `Body` (≤ 1,600 characters) or a Content template
//! (`ContentSid` `HX…` + `ContentVariables` JSON). `201 Created` returns the message with its
//! `sid` (`SM…`).
//!
//! Creates are not idempotent (no idempotency key exists). After a timeout, a broken
//! connection or a 5xx, the message may exist, so it is **looked up before any resend**
//! (`ListMessage`: `GET …/Messages.json?To=…&From=…&PageSize=50`) and matched on its body,
//! which holds the delivery's link (unique per delivery, see [`crate::link`]). A `DateSent`
//! filter is deliberately not used: `date_sent` is null until Twilio sends the message, and a
//! message created seconds ago may still be `queued`, so such a filter would miss exactly the
//! message we are looking for. Only a 429 (Twilio error 20429: "never processed and always
//! safe to retry") and a connection that was never made are retried blindly.
//!
//! Pacing: per sender (see [`crate::limits`]); an SMS costs its segment count.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BuildError, ChannelKind, HttpRequest, HttpResponse, Lookup, Outcome};
use crate::limits::{self, Rate};
use crate::message::{View, sms, template_variables};
use crate::secret::TwilioSecret;

/// A phone number in E.164: `+`, a non-zero digit, at most 15 digits in all.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(Box<str>);

impl E164 {
    pub fn new(s: impl Into<String>) -> Result<Self, BuildError> {
        let s: String = s.into();
        let digits = s.strip_prefix('+').unwrap_or("");
        let ok = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(s.into_boxed_str()))
        } else {
            Err(BuildError::Invalid("E.164 number"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for E164 {
    type Error = BuildError;
    fn try_from(s: String) -> Result<Self, BuildError> {
        Self::new(s)
    }
}

impl From<E164> for String {
    fn from(e: E164) -> String {
        e.0.into()
    }
}

/// Phone numbers are personal data: Debug shows the country code and the last two digits.
impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        let tail = &s[s.len().saturating_sub(2)..];
        write!(f, "E164({}…{tail})", &s[..s.len().min(3)])
    }
}

/// How requests authenticate (HTTP Basic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TwilioAuth {
    /// `AccountSid:AuthToken`.
    AuthToken { token: TwilioSecret },
    /// `SK…:secret` (an API key; recommended by Twilio for production).
    ApiKey { sid: String, secret: TwilioSecret },
}

/// Who a message comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Sender {
    Number(E164),
    MessagingServiceSid(String),
}

/// The sender's number type, for pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    #[default]
    LongCode,
    TollFree,
    ShortCode,
}

/// A tenant's Twilio account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `https://api.twilio.com`.
    #[serde(default = "default_base")]
    pub base: String,
    /// `AC` + 32 hex digits.
    pub account_sid: String,
    pub auth: TwilioAuth,
    pub sms_from: Option<Sender>,
    pub whatsapp_from: Option<Sender>,
    /// A Content template (`HX…`) for SMS, with variables as in
    /// [`crate::message::template_variables`].
    #[serde(default)]
    pub sms_template: Option<String>,
    /// WhatsApp needs an approved template to open a conversation outside a 24-hour session.
    #[serde(default)]
    pub whatsapp_template: Option<String>,
    #[serde(default)]
    pub sender_kind: SenderKind,
}

fn default_base() -> String {
    "https://api.twilio.com".into()
}

fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl TwilioConfig {
    pub fn validate(&self) -> Result<(), BuildError> {
        if !is_sid(&self.account_sid, "AC") {
            return Err(BuildError::Invalid("Twilio AccountSid (AC + 32 hex)"));
        }
        if let TwilioAuth::ApiKey { sid, .. } = &self.auth
            && !is_sid(sid, "SK")
        {
            return Err(BuildError::Invalid("Twilio API key SID (SK + 32 hex)"));
        }
        for s in [&self.sms_from, &self.whatsapp_from].into_iter().flatten() {
            if let Sender::MessagingServiceSid(m) = s
                && !is_sid(m, "MG")
            {
                return Err(BuildError::Invalid("MessagingServiceSid (MG + 32 hex)"));
            }
        }
        for t in [&self.sms_template, &self.whatsapp_template]
            .into_iter()
            .flatten()
        {
            if !is_sid(t, "HX") {
                return Err(BuildError::Invalid("ContentSid (HX + 32 hex)"));
            }
        }
        Ok(())
    }

    fn basic(&self) -> String {
        let (user, pass) = match &self.auth {
            TwilioAuth::AuthToken { token } => (self.account_sid.as_str(), token.secret()),
            TwilioAuth::ApiKey { sid, secret } => (sid.as_str(), secret.secret()),
        };
        let raw = format!("{user}:{}", pass.expose());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base.trim_end_matches('/'),
            self.account_sid
        )
    }

    fn from(&self, kind: ChannelKind) -> Option<&Sender> {
        match kind {
            ChannelKind::Whatsapp => self.whatsapp_from.as_ref(),
            _ => self.sms_from.as_ref(),
        }
    }

    /// The pacing key (the sender) and rate.
    pub fn sender_and_rate(&self, kind: ChannelKind) -> (String, Rate) {
        let sender = match self.from(kind) {
            Some(Sender::Number(n)) => n.as_str().to_owned(),
            Some(Sender::MessagingServiceSid(m)) => m.clone(),
            None => String::new(),
        };
        let rate = match (kind, self.sender_kind) {
            (ChannelKind::Whatsapp, _) => limits::TWILIO_SHORT_CODE,
            (_, SenderKind::LongCode) => limits::TWILIO_LONG_CODE,
            (_, SenderKind::TollFree) => limits::TWILIO_TOLL_FREE,
            (_, SenderKind::ShortCode) => limits::TWILIO_SHORT_CODE,
        };
        (format!("{}:{sender}", kind.as_str()), rate)
    }
}

fn address(kind: ChannelKind, n: &str) -> String {
    if kind == ChannelKind::Whatsapp {
        format!("whatsapp:{n}")
    } else {
        n.to_owned()
    }
}

fn form(fields: &[(&str, String)]) -> Vec<u8> {
    serde_urlencoded::to_string(fields)
        .unwrap_or_default()
        .into_bytes()
}

/// `CreateMessage` for one SMS or WhatsApp message.
pub fn create_request(
    t: &TwilioConfig,
    kind: ChannelKind,
    to: &E164,
    v: &View<'_>,
) -> Result<HttpRequest, BuildError> {
    t.validate()?;
    let from = t
        .from(kind)
        .ok_or(BuildError::NotConfigured("twilio sender"))?;
    let mut fields: Vec<(&str, String)> = vec![("To", address(kind, to.as_str()))];
    match from {
        Sender::Number(n) => fields.push(("From", address(kind, n.as_str()))),
        Sender::MessagingServiceSid(m) => fields.push(("MessagingServiceSid", m.clone())),
    }
    let template = if kind == ChannelKind::Whatsapp {
        &t.whatsapp_template
    } else {
        &t.sms_template
    };
    match template {
        Some(sid) => {
            fields.push(("ContentSid", sid.clone()));
            fields.push(("ContentVariables", template_variables(v)));
        }
        None => fields.push(("Body", sms(v))),
    }
    Ok(HttpRequest {
        method: http::Method::POST,
        url: t.messages_url(),
        headers: vec![
            ("authorization", t.basic()),
            ("content-type", "application/x-www-form-urlencoded".into()),
            ("accept", "application/json".into()),
            ("user-agent", super::USER_AGENT.into()),
        ],
        body: form(&fields),
    })
}

/// `ListMessage` filtered to this recipient (and sender, when it is a number), newest first.
pub fn lookup_request(t: &TwilioConfig, kind: ChannelKind, to: &E164) -> HttpRequest {
    let mut q: Vec<(&str, String)> = vec![("To", address(kind, to.as_str()))];
    if let Some(Sender::Number(n)) = t.from(kind) {
        q.push(("From", address(kind, n.as_str())));
    }
    q.push(("PageSize", "50".into()));
    let query = serde_urlencoded::to_string(&q).unwrap_or_default();
    HttpRequest {
        method: http::Method::GET,
        url: format!("{}?{query}", t.messages_url()),
        headers: vec![
            ("authorization", t.basic()),
            ("accept", "application/json".into()),
            ("user-agent", super::USER_AGENT.into()),
        ],
        body: Vec::new(),
    }
}

/// Twilio error codes that mean the recipient's address cannot be messaged: 21211 invalid
/// `To`, 21612 not reachable, 21614 not a mobile number, 21610 the recipient replied STOP.
const ADDRESS_ERRORS: &[i64] = &[21211, 21610, 21612, 21614];

fn error_code(r: &HttpResponse) -> (Option<i64>, String) {
    let v: Option<Value> = serde_json::from_slice(&r.body).ok();
    let code = v
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_i64);
    let msg = v
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| r.body_text(200));
    (code, msg)
}

pub fn classify_create(r: &HttpResponse, now_ms: u64) -> Outcome {
    match r.status {
        200..=299 => {
            let v: Option<Value> = serde_json::from_slice(&r.body).ok();
            let sid = v
                .as_ref()
                .and_then(|v| v.get("sid"))
                .and_then(Value::as_str);
            Outcome::Delivered {
                provider_id: sid.map(str::to_owned),
            }
        }
        429 => Outcome::retry(r.retry_after(now_ms), "twilio 429 (20429)"),
        500..=599 => Outcome::LookupFirst {
            reason: format!("twilio {}", r.status),
        },
        s => {
            let (code, msg) = error_code(r);
            let broken = code.is_some_and(|c| ADDRESS_ERRORS.contains(&c));
            let code = code.map(|c| c.to_string()).unwrap_or_default();
            Outcome::permanent(format!("twilio {s} {code}: {msg}"), broken)
        }
    }
}

/// Finds the message whose body holds `key` (the delivery's link) in a `ListMessage` answer.
pub fn classify_lookup(r: &HttpResponse, key: &str, now_ms: u64) -> Lookup {
    match r.status {
        200 => {
            let v: Option<Value> = serde_json::from_slice(&r.body).ok();
            let Some(msgs) = v
                .as_ref()
                .and_then(|v| v.get("messages"))
                .and_then(Value::as_array)
            else {
                return Lookup::Retry {
                    after_ms: None,
                    reason: "twilio list: no messages".into(),
                };
            };
            let found = msgs.iter().find(|m| {
                m.get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| !key.is_empty() && b.contains(key))
            });
            match found {
                Some(m) => {
                    let sid = m
                        .get("sid")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let status = m.get("status").and_then(Value::as_str).unwrap_or_default();
                    let failed = matches!(status, "failed" | "undelivered" | "canceled");
                    Lookup::Found {
                        provider_id: sid,
                        failed,
                    }
                }
                None => Lookup::NotFound,
            }
        }
        429 | 500..=599 => Lookup::Retry {
            after_ms: r.retry_after(now_ms),
            reason: format!("twilio list {}", r.status),
        },
        s => {
            let (_, msg) = error_code(r);
            Lookup::Permanent {
                reason: format!("twilio list {s}: {msg}"),
            }
        }
    }
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXT: &str = "^{}\\[~]|€\u{c}";

/// SMS segments of `body`: GSM-7 160 per single / 153 per concatenated segment (extension
/// characters count two), else UCS-2 70 / 67 (Twilio, *What the heck is a segment?*).
pub fn segments(body: &str) -> u32 {
    let mut septets = 0usize;
    let mut gsm = true;
    for ch in body.chars() {
        if GSM7_BASIC.contains(ch) {
            septets += 1;
        } else if GSM7_EXT.contains(ch) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    let (units, single, multi) = if gsm {
        (septets, 160, 153)
    } else {
        (body.encode_utf16().count(), 70, 67)
    };
    let n = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Segments of a built create request (one for a template).
pub fn segments_of_request(req: &HttpRequest) -> u32 {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    fields
        .iter()
        .find(|(k, _)| k == "Body")
        .map_or(1, |(_, b)| segments(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_validation() {
        assert!(E164::new("+14155552345").is_ok());
        assert!(E164::new("+123456789012345").is_ok(), "15 digits");
        assert!(E164::new("+1234567890123456").is_err(), "16 digits");
        assert!(E164::new("+1").is_err());
        assert!(E164::new("14155552345").is_err());
        assert!(E164::new("+04155552345").is_err());
        assert!(E164::new("+1 415 555").is_err());
        assert!(E164::new("whatsapp:+14155552345").is_err());
        let n = E164::new("+14155552345").expect("valid");
        assert_eq!(format!("{n:?}"), "E164(+14…45)");
    }

    #[test]
    fn create_statuses() {
        let c = |r: HttpResponse| classify_create(&r, 0);
        assert_eq!(
            c(HttpResponse::new(
                201,
                &br#"{"sid":"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"queued"}"#[..]
            )),
            Outcome::Delivered {
                provider_id: Some("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into())
            }
        );
        assert!(matches!(
            c(HttpResponse::new(500, "")),
            Outcome::LookupFirst { .. }
        ));
        assert!(matches!(
            c(HttpResponse::new(429, "").with_header("retry-after", "2")),
            Outcome::Retry {
                after_ms: Some(2000),
                ..
            }
        ));
        let invalid_to = br#"{"code":21211,"message":"Invalid 'To' Phone Number","status":400}"#;
        assert!(matches!(
            c(HttpResponse::new(400, &invalid_to[..])),
            Outcome::Permanent {
                address_broken: true,
                ..
            }
        ));
        let auth = br#"{"code":20003,"message":"Authenticate","status":401}"#;
        assert!(matches!(
            c(HttpResponse::new(401, &auth[..])),
            Outcome::Permanent {
                address_broken: false,
                ..
            }
        ));
    }

    #[test]
    fn lookup_matches_on_the_key() {
        let body = br#"{"messages":[
            {"sid":"SM1","body":"other alert https://x/a/K2","status":"sent"},
            {"sid":"SM2","body":"this one https://x/a/K1","status":"queued"}]}"#;
        let r = HttpResponse::new(200, &body[..]);
        assert_eq!(
            classify_lookup(&r, "https://x/a/K1", 0),
            Lookup::Found {
                provider_id: "SM2".into(),
                failed: false
            }
        );
        assert_eq!(classify_lookup(&r, "https://x/a/K3", 0), Lookup::NotFound);
        assert_eq!(classify_lookup(&r, "", 0), Lookup::NotFound);
        assert!(matches!(
            classify_lookup(&HttpResponse::new(503, ""), "k", 0),
            Lookup::Retry { .. }
        ));
        assert!(matches!(
            classify_lookup(&HttpResponse::new(401, "{}"), "k", 0),
            Lookup::Permanent { .. }
        ));
    }

    #[test]
    fn segments_at_the_boundaries() {
        assert_eq!(segments(&"a".repeat(159)), 1);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        assert_eq!(
            segments(&"€".repeat(80)),
            1,
            "extension characters count two"
        );
        assert_eq!(segments(&"€".repeat(81)), 2);
        assert_eq!(segments(&"é".repeat(70)), 1, "é is GSM-7");
        assert_eq!(segments(&"ü".repeat(161)), 2);
        assert_eq!(segments(&"³".repeat(70)), 1, "UCS-2");
        assert_eq!(segments(&"³".repeat(71)), 2);
        assert_eq!(segments(&"😡".repeat(35)), 1, "two UTF-16 units each");
        assert_eq!(segments(&"😡".repeat(36)), 2);
    }

    #[test]
    fn config_validation() {
        let mut t = TwilioConfig {
            base: default_base(),
            account_sid: format!("AC{}", "a".repeat(32)),
            auth: TwilioAuth::AuthToken {
                token: TwilioSecret::new("tok").expect("tok"),
            },
            sms_from: Some(Sender::Number(E164::new("+15005550006").expect("n"))),
            whatsapp_from: None,
            sms_template: None,
            whatsapp_template: None,
            sender_kind: SenderKind::LongCode,
        };
        assert_eq!(t.validate(), Ok(()));
        t.account_sid = "AC123".into();
        assert!(t.validate().is_err());
        t.account_sid = format!("AC{}", "a".repeat(32));
        t.sms_template = Some("HX123".into());
        assert!(t.validate().is_err());
    }
}
