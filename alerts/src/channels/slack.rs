//! Slack: incoming webhooks and `chat.postMessage`.
//!
//! Incoming webhook (Slack API docs, *Sending messages using incoming webhooks*, and the
//! changelog *Improving error conditions for Incoming Webhooks*): `POST` the hook URL with
//! `Content-type: application/json` and `{"text", "blocks"}`. Success is HTTP 200 with the
//! plain body `ok`. Errors come as a status and a plain-text code: 400 `invalid_payload` /
//! `user_not_found`, 403 `action_prohibited` (also `invalid_token`), 404 `channel_not_found`
//! (also `no_service`), 410 `channel_is_archived`: the hook is broken, so the contact's channel
//! is marked failed and nothing is retried. 429 carries `Retry-After`; 5xx is retried. A hook
//! has no idempotency key: a resend after an unanswered attempt can duplicate.
//!
//! `chat.postMessage` (Slack API docs, method `chat.postMessage`): `POST
//! https://slack.com/api/chat.postMessage`, `Authorization: Bearer xoxb-…`, `Content-type:
//! application/json; charset=utf-8`, `{"channel", "text", "blocks"}`. The answer is HTTP 200
//! with `{"ok": true, "ts": …}` or `{"ok": false, "error": …}`: the latter is a failure even
//! with 200. `ratelimited` (HTTP 429 with `Retry-After`) is retried; a bad token or a channel
//! the bot cannot post to is permanent.

use serde_json::{Value, json};

use super::{HttpRequest, HttpResponse, Outcome};
use crate::message::{View, slack_blocks, slack_text};
use crate::secret::{SlackBotToken, SlackWebhookUrl};

fn body(channel: Option<&str>, v: &View<'_>) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    if let Some(c) = channel {
        m.insert("channel".into(), Value::String(c.to_owned()));
    }
    m.insert("text".into(), Value::String(slack_text(v)));
    m.insert("blocks".into(), slack_blocks(v));
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

pub fn webhook_request(url: &SlackWebhookUrl, v: &View<'_>) -> HttpRequest {
    HttpRequest {
        method: http::Method::POST,
        url: url.secret().expose().to_owned(),
        headers: vec![
            ("content-type", "application/json".into()),
            ("user-agent", super::USER_AGENT.into()),
        ],
        body: body(None, v),
    }
}

pub fn post_message_request(
    base: &str,
    token: &SlackBotToken,
    channel: &str,
    v: &View<'_>,
) -> HttpRequest {
    HttpRequest {
        method: http::Method::POST,
        url: format!("{}/api/chat.postMessage", base.trim_end_matches('/')),
        headers: vec![
            (
                "authorization",
                format!("Bearer {}", token.secret().expose()),
            ),
            ("content-type", "application/json; charset=utf-8".into()),
            ("user-agent", super::USER_AGENT.into()),
        ],
        body: body(Some(channel), v),
    }
}

pub fn classify_webhook(r: &HttpResponse, now_ms: u64) -> Outcome {
    let text = r.body_text(200);
    match r.status {
        200 if text.trim() == "ok" => Outcome::Delivered { provider_id: None },
        // A 2xx with another body came from something in between (a proxy); the message may
        // well be posted, and resending risks a duplicate.
        200..=299 => Outcome::Delivered { provider_id: None },
        400 | 403 | 404 | 410 => Outcome::permanent(format!("slack {}: {text}", r.status), true),
        429 => Outcome::retry(r.retry_after(now_ms), "slack 429"),
        500..=599 => Outcome::retry(r.retry_after(now_ms), format!("slack {}: {text}", r.status)),
        s => Outcome::permanent(format!("slack {s}: {text}"), false),
    }
}

/// Errors that mean "this channel cannot be posted to": the contact's channel is marked failed.
const ADDRESS_ERRORS: &[&str] = &["channel_not_found", "not_in_channel", "is_archived"];
/// Errors about the tenant's token or workspace: permanent, but not the contact's fault.
const AUTH_ERRORS: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_permission",
    "ekm_access_denied",
    "restricted_action",
    "org_login_required",
];
/// Transient errors: retried. (`fatal_error` says "it's possible some aspect of the operation
/// succeeded": a retry may duplicate, as with any unanswered Slack attempt.)
const TRANSIENT_ERRORS: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

pub fn classify_post_message(r: &HttpResponse, now_ms: u64) -> Outcome {
    if r.status == 429 {
        return Outcome::retry(r.retry_after(now_ms), "slack 429 ratelimited");
    }
    if (500..=599).contains(&r.status) {
        return Outcome::retry(r.retry_after(now_ms), format!("slack {}", r.status));
    }
    let parsed: Option<Value> = serde_json::from_slice(&r.body).ok();
    let Some(v) = parsed.filter(|_| r.status == 200) else {
        return Outcome::permanent(format!("slack {}: {}", r.status, r.body_text(200)), false);
    };
    if v.get("ok").and_then(Value::as_bool) == Some(true) {
        let ts = v.get("ts").and_then(Value::as_str).map(str::to_owned);
        return Outcome::Delivered { provider_id: ts };
    }
    let error = v
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error");
    let reason = format!("slack error {error}");
    if TRANSIENT_ERRORS.contains(&error) {
        Outcome::retry(r.retry_after(now_ms), reason)
    } else if ADDRESS_ERRORS.contains(&error) {
        Outcome::permanent(reason, true)
    } else if AUTH_ERRORS.contains(&error) {
        Outcome::permanent(reason, false)
    } else {
        // msg_too_long, no_text, invalid_arguments, invalid_blocks…: our request is wrong;
        // sending it again would fail the same way.
        Outcome::permanent(reason, false)
    }
}

/// A `{"ok": …}` body as the stub answers it.
pub fn ok_body(ts: &str, channel: &str) -> Vec<u8> {
    json!({"ok": true, "channel": channel, "ts": ts})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(r: HttpResponse, expected: Outcome) {
        assert_eq!(classify_post_message(&r, 0), expected);
    }

    #[test]
    fn webhook_statuses() {
        let c = |s: u16, b: &str| classify_webhook(&HttpResponse::new(s, b), 0);
        assert_eq!(c(200, "ok"), Outcome::Delivered { provider_id: None });
        for (s, b) in [
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (404, "channel_not_found"),
            (410, "channel_is_archived"),
        ] {
            assert!(
                matches!(
                    c(s, b),
                    Outcome::Permanent {
                        address_broken: true,
                        ..
                    }
                ),
                "{s} {b}"
            );
        }
        assert!(matches!(
            c(500, "rollup_error"),
            Outcome::Retry { after_ms: None, .. }
        ));
        let r = HttpResponse::new(429, "").with_header("Retry-After", "3");
        assert!(matches!(
            classify_webhook(&r, 0),
            Outcome::Retry {
                after_ms: Some(3000),
                ..
            }
        ));
        assert!(matches!(
            c(401, ""),
            Outcome::Permanent {
                address_broken: false,
                ..
            }
        ));
    }

    #[test]
    fn post_message_ok_false_is_a_failure_even_with_200() {
        check(
            HttpResponse::new(
                200,
                &br#"{"ok":true,"channel":"C1","ts":"1503435956.000247"}"#[..],
            ),
            Outcome::Delivered {
                provider_id: Some("1503435956.000247".into()),
            },
        );
        check(
            HttpResponse::new(200, &br#"{"ok":false,"error":"channel_not_found"}"#[..]),
            Outcome::permanent("slack error channel_not_found", true),
        );
        check(
            HttpResponse::new(200, &br#"{"ok":false,"error":"not_in_channel"}"#[..]),
            Outcome::permanent("slack error not_in_channel", true),
        );
        check(
            HttpResponse::new(200, &br#"{"ok":false,"error":"invalid_auth"}"#[..]),
            Outcome::permanent("slack error invalid_auth", false),
        );
        check(
            HttpResponse::new(200, &br#"{"ok":false,"error":"account_inactive"}"#[..]),
            Outcome::permanent("slack error account_inactive", false),
        );
        check(
            HttpResponse::new(429, &br#"{"ok":false,"error":"ratelimited"}"#[..])
                .with_header("retry-after", "30"),
            Outcome::retry(Some(30_000), "slack 429 ratelimited"),
        );
        check(
            HttpResponse::new(200, &br#"{"ok":false,"error":"ratelimited"}"#[..]),
            Outcome::retry(None, "slack error ratelimited"),
        );
        check(
            HttpResponse::new(503, ""),
            Outcome::retry(None, "slack 503"),
        );
        check(
            HttpResponse::new(200, &b"<html>"[..]),
            Outcome::permanent("slack 200: <html>", false),
        );
    }
}
