//! Vendors, each as a pure request builder and a pure response classifier.
//!
//! A builder turns (providers, address, what to send, now) into an [`HttpRequest`]: method,
//! URL, headers, body bytes, exactly as the vendor documents them. A classifier turns the
//! answer (status, headers, body) or a transport failure into an [`Outcome`]. The shell only
//! moves bytes between the two. Every base URL is configurable ([`Providers`]).
//!
//! | channel | module | contract |
//! |---|---|---|
//! | Slack incoming webhook | [`slack`] | `POST` JSON `{text, blocks}`; `200 ok` |
//! | Slack `chat.postMessage` | [`slack`] | Bearer `xoxb-`; `{"ok":false}` is a failure |
//! | Twilio SMS, WhatsApp | [`twilio`] | form-encoded, Basic; `201`; look up before resend |
//! | PagerDuty Events v2 | [`pagerduty`] | `/v2/enqueue`; `202`; dedup_key = alert id |
//! | Standard Webhooks | [`webhook`] | `webhook-id/-timestamp/-signature` |

pub mod pagerduty;
pub mod slack;
pub mod twilio;
pub mod webhook;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::DeliveryId;
use crate::limits::{self, Rate};
use crate::message::View;
use crate::secret::{
    PagerDutyRoutingKey, SlackBotToken, SlackWebhookUrl, WebhookSecret, WebhookUrl, fingerprint,
};

pub use twilio::{E164, TwilioConfig};

/// Sent with every request.
pub const USER_AGENT: &str = concat!("sentientiq-alerts/", env!("CARGO_PKG_VERSION"));

/// A request as it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: http::Method,
    pub url: String,
    /// Names in lowercase, in the order they are sent.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `(authority, path-and-query)` of the URL.
    pub fn split_url(&self) -> Option<(&str, &str)> {
        let rest = self.url.split_once("://")?.1;
        Some(match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        })
    }

    /// The HTTP/1.1 bytes of this request as the golden fixtures pin them: `host` first, the
    /// headers in order, then `content-length` when there is a body. These are the headers the
    /// vendor receives: hyper adds exactly `host` and `content-length` (a shell test checks).
    pub fn to_wire(&self) -> Vec<u8> {
        let (host, path) = self.split_url().unwrap_or(("", "/"));
        let mut out = format!("{} {path} HTTP/1.1\r\nhost: {host}\r\n", self.method);
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if !self.body.is_empty() {
            out.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Never prints the URL's path (a Slack webhook URL is a credential), header values or body.
impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.split_url().map(|(h, _)| h).unwrap_or("?");
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("host", &host)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// An answer: status, headers (names lowercase), body (the shell caps it at 64 KiB).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn retry_after(&self, now_ms: u64) -> Option<u64> {
        self.header("retry-after")
            .and_then(|v| limits::retry_after_ms(v, now_ms))
    }

    fn body_text(&self, max: usize) -> String {
        crate::message::truncate_chars(&String::from_utf8_lossy(&self.body), max)
    }
}

/// A request that got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The connection was never made (refused, DNS, connect timeout): the vendor never saw
    /// the request.
    Refused,
    /// No complete answer within the attempt's timeout: the vendor may have acted on it.
    Timeout,
    /// The connection broke after the request may have been sent.
    Broken,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The vendor accepted the message (its id when it gives one: Twilio `SM…`, Slack `ts`,
    /// PagerDuty `dedup_key`).
    Delivered { provider_id: Option<String> },
    /// Try again, after `after_ms` when the vendor said so (`Retry-After`).
    Retry {
        after_ms: Option<u64>,
        reason: String,
    },
    /// Never retry. `address_broken`: the address itself is dead (a Slack hook gone, a webhook
    /// endpoint that answered 410, an invalid phone number): mark the contact's channel failed.
    Permanent {
        reason: String,
        address_broken: bool,
    },
    /// The vendor may have created the message (Twilio after a timeout or 5xx): look it up
    /// before any resend.
    LookupFirst { reason: String },
}

impl Outcome {
    pub(crate) fn retry(after_ms: Option<u64>, reason: impl Into<String>) -> Self {
        Outcome::Retry {
            after_ms,
            reason: reason.into(),
        }
    }

    pub(crate) fn permanent(reason: impl Into<String>, address_broken: bool) -> Self {
        Outcome::Permanent {
            reason: reason.into(),
            address_broken,
        }
    }
}

/// What a Twilio lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The message exists: it was created, do not send it again.
    Found {
        provider_id: String,
        failed: bool,
    },
    /// Twilio has no such message: sending is safe.
    NotFound,
    Retry {
        after_ms: Option<u64>,
        reason: String,
    },
    Permanent {
        reason: String,
    },
}

/// The kinds of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    SlackWebhook,
    SlackChat,
    Sms,
    Whatsapp,
    Pagerduty,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::SlackWebhook => "slack_webhook",
            ChannelKind::SlackChat => "slack_chat",
            ChannelKind::Sms => "sms",
            ChannelKind::Whatsapp => "whatsapp",
            ChannelKind::Pagerduty => "pagerduty",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// Whether the vendor dedupes a resend by our id (PagerDuty `dedup_key`, Standard
    /// Webhooks `webhook-id`) or we can look it up (Twilio). Slack has neither: a resend after
    /// an unanswered attempt may duplicate.
    pub fn resend_is_safe(self) -> bool {
        !matches!(self, ChannelKind::SlackWebhook | ChannelKind::SlackChat)
    }
}

/// PagerDuty severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Critical,
    Error,
    Warning,
    Info,
}

/// Where a contact is reached on one channel. Credentials inside are [`crate::secret`] types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Address {
    SlackWebhook {
        url: SlackWebhookUrl,
    },
    /// A channel or user id for `chat.postMessage` with the tenant's bot token.
    SlackChat {
        channel: String,
    },
    Sms {
        to: E164,
    },
    Whatsapp {
        to: E164,
    },
    Pagerduty {
        routing_key: PagerDutyRoutingKey,
        #[serde(default)]
        severity: Severity,
    },
    Webhook {
        url: WebhookUrl,
        secret: WebhookSecret,
    },
}

impl Address {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Address::SlackWebhook { .. } => ChannelKind::SlackWebhook,
            Address::SlackChat { .. } => ChannelKind::SlackChat,
            Address::Sms { .. } => ChannelKind::Sms,
            Address::Whatsapp { .. } => ChannelKind::Whatsapp,
            Address::Pagerduty { .. } => ChannelKind::Pagerduty,
            Address::Webhook { .. } => ChannelKind::Webhook,
        }
    }
}

/// The tenant's vendor accounts and every base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Providers {
    /// `https://slack.com` (chat.postMessage is `{base}/api/chat.postMessage`).
    pub slack_api_base: String,
    pub slack_bot_token: Option<SlackBotToken>,
    pub twilio: Option<TwilioConfig>,
    /// `https://events.pagerduty.com` (events go to `{base}/v2/enqueue`).
    pub pagerduty_base: String,
    /// PagerDuty `payload.source` and `client`.
    pub source: String,
}

impl Default for Providers {
    fn default() -> Self {
        Self {
            slack_api_base: "https://slack.com".into(),
            slack_bot_token: None,
            twilio: None,
            pagerduty_base: "https://events.pagerduty.com".into(),
            source: "sentientiq".into(),
        }
    }
}

/// Why a request could not be built (configuration, never the network).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("{0} is not configured for this tenant")]
    NotConfigured(&'static str),
    #[error("{0:?} does not carry {1}")]
    Unsupported(ChannelKind, &'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The page itself (PagerDuty `trigger`).
    Page,
    /// PagerDuty `acknowledge` after someone acknowledged in SentientIQ.
    Acknowledge,
    /// PagerDuty `resolve` after a false alarm.
    Resolve,
}

/// One attempt to build.
#[derive(Debug, Clone, Copy)]
pub struct Send<'a> {
    pub delivery: &'a DeliveryId,
    pub purpose: Purpose,
    pub view: View<'a>,
    pub now_ms: u64,
}

/// Builds the request for one attempt.
pub fn build(p: &Providers, a: &Address, s: &Send<'_>) -> Result<HttpRequest, BuildError> {
    if s.purpose != Purpose::Page && a.kind() != ChannelKind::Pagerduty {
        return Err(BuildError::Unsupported(
            a.kind(),
            "acknowledge/resolve events",
        ));
    }
    match a {
        Address::SlackWebhook { url } => Ok(slack::webhook_request(url, &s.view)),
        Address::SlackChat { channel } => {
            let token = p
                .slack_bot_token
                .as_ref()
                .ok_or(BuildError::NotConfigured("slack"))?;
            Ok(slack::post_message_request(
                &p.slack_api_base,
                token,
                channel,
                &s.view,
            ))
        }
        Address::Sms { to } | Address::Whatsapp { to } => {
            let t = p
                .twilio
                .as_ref()
                .ok_or(BuildError::NotConfigured("twilio"))?;
            twilio::create_request(t, a.kind(), to, &s.view)
        }
        Address::Pagerduty {
            routing_key,
            severity,
        } => Ok(pagerduty::enqueue_request(p, routing_key, *severity, s)),
        Address::Webhook { url, secret } => Ok(webhook::request(url, secret, s)),
    }
}

/// Classifies an answer.
pub fn classify(kind: ChannelKind, r: &HttpResponse, now_ms: u64) -> Outcome {
    match kind {
        ChannelKind::SlackWebhook => slack::classify_webhook(r, now_ms),
        ChannelKind::SlackChat => slack::classify_post_message(r, now_ms),
        ChannelKind::Sms | ChannelKind::Whatsapp => twilio::classify_create(r, now_ms),
        ChannelKind::Pagerduty => pagerduty::classify(r, now_ms),
        ChannelKind::Webhook => webhook::classify(r, now_ms),
    }
}

/// Classifies a request that got no answer.
pub fn classify_transport(kind: ChannelKind, t: Transport) -> Outcome {
    match (kind, t) {
        // Twilio creates are not idempotent: only a request that never left may be resent
        // blindly.
        (ChannelKind::Sms | ChannelKind::Whatsapp, Transport::Timeout | Transport::Broken) => {
            Outcome::LookupFirst {
                reason: format!("{t:?}").to_lowercase(),
            }
        }
        _ => Outcome::retry(None, format!("{t:?}").to_lowercase()),
    }
}

/// The rate-limit key and rate of an address's destination (non-secret: fingerprints).
pub fn destination(p: &Providers, a: &Address) -> (String, Rate) {
    match a {
        Address::SlackWebhook { url } => (
            format!("slack-hook:{}", fingerprint(url.secret())),
            limits::SLACK,
        ),
        Address::SlackChat { channel } => {
            let team = p.slack_bot_token.as_ref().map(|t| fingerprint(t.secret()));
            (
                format!("slack-chat:{}:{channel}", team.unwrap_or_default()),
                limits::SLACK,
            )
        }
        Address::Sms { .. } | Address::Whatsapp { .. } => {
            let (sender, rate) = match &p.twilio {
                Some(t) => t.sender_and_rate(a.kind()),
                None => (String::new(), limits::TWILIO_LONG_CODE),
            };
            (format!("twilio:{sender}"), rate)
        }
        Address::Pagerduty { routing_key, .. } => (
            format!("pagerduty:{}", fingerprint(routing_key.secret())),
            limits::PAGERDUTY,
        ),
        Address::Webhook { url, .. } => (
            format!("webhook:{}", fingerprint(url.secret())),
            limits::WEBHOOK,
        ),
    }
}

/// What a message costs in its destination's bucket: SMS segments, else one.
pub fn cost(kind: ChannelKind, req: &HttpRequest) -> u32 {
    match kind {
        ChannelKind::Sms => twilio::segments_of_request(req),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_debug_hides_secrets() {
        let r = HttpRequest {
            method: http::Method::POST,
            url: "https://hooks.slack.com/services/T0/B0/SECRETPART".into(),
            headers: vec![("authorization", "Bearer xoxb-SECRET".into())],
            body: b"{}".to_vec(),
        };
        let s = format!("{r:?}");
        assert!(!s.contains("SECRET"), "{s}");
        assert!(s.contains("hooks.slack.com"));
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        let mut r = HttpRequest {
            method: http::Method::GET,
            url: "http://127.0.0.1:80/a/b?c=d".into(),
            headers: vec![],
            body: vec![],
        };
        assert_eq!(r.split_url(), Some(("127.0.0.1:80", "/a/b?c=d")));
        r.url = "https://h".into();
        assert_eq!(r.split_url(), Some(("h", "/")));
        r.url = "https://h?x=1".into();
        assert_eq!(r.split_url(), Some(("h", "?x=1")));
    }

    #[test]
    fn only_twilio_looks_up_after_an_unanswered_attempt() {
        for k in [ChannelKind::Sms, ChannelKind::Whatsapp] {
            assert!(matches!(
                classify_transport(k, Transport::Timeout),
                Outcome::LookupFirst { .. }
            ));
            assert!(matches!(
                classify_transport(k, Transport::Broken),
                Outcome::LookupFirst { .. }
            ));
            assert!(matches!(
                classify_transport(k, Transport::Refused),
                Outcome::Retry { .. }
            ));
        }
        for k in [
            ChannelKind::SlackWebhook,
            ChannelKind::Pagerduty,
            ChannelKind::Webhook,
        ] {
            assert!(matches!(
                classify_transport(k, Transport::Timeout),
                Outcome::Retry { .. }
            ));
        }
    }
}
