//! Signed webhooks per the Standard Webhooks specification (standard-webhooks/standard-webhooks,
//! `spec/standard-webhooks.md`, version 1.0.0).
//!
//! `POST` the endpoint with `content-type: application/json` and three headers:
//! `webhook-id` (the delivery id: the same on every retry, the receiver's idempotency key),
//! `webhook-timestamp` (the attempt's Unix seconds: a retry carries a new one) and
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being
//! the base64-decoded part of the `whsec_` secret. The body is the spec's recommended shape,
//! `{"type": "alert.triggered", "timestamp": …, "data": {…}}`, and is the same bytes on every
//! retry. Answers (the spec, *Delivery success and failure*): `2xx` success; `410 Gone`
//! disables the endpoint (permanent); everything else, `3xx` included, is retried with backoff,
//! honouring `Retry-After`.

use base64::Engine as _;
use ring::hmac;
use serde_json::json;

use super::{HttpRequest, HttpResponse, Outcome, Send};
use crate::message::details;
use crate::secret::{WebhookSecret, WebhookUrl};
use crate::time::rfc3339_ms;

/// `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp_s: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.key());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp_s.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

/// Checks a `webhook-signature` header (space-separated list) in constant time. For receivers
/// and the stub; senders only sign.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp_s: u64,
    body: &[u8],
    header: &str,
) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.key());
    let mut msg = format!("{id}.{timestamp_s}.").into_bytes();
    msg.extend_from_slice(body);
    header.split(' ').any(|sig| {
        sig.strip_prefix("v1,")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|tag| hmac::verify(&key, &msg, &tag).is_ok())
    })
}

pub fn body(s: &Send<'_>) -> Vec<u8> {
    let event = json!({
        "type": "alert.triggered",
        "timestamp": rfc3339_ms(s.view.detection.at_ms),
        "data": details(&s.view),
    });
    serde_json::to_vec(&event).unwrap_or_default()
}

pub fn request(url: &WebhookUrl, secret: &WebhookSecret, s: &Send<'_>) -> HttpRequest {
    let body = body(s);
    let ts = s.now_ms / 1000;
    let id = s.delivery.as_str();
    HttpRequest {
        method: http::Method::POST,
        url: url.secret().expose().to_owned(),
        headers: vec![
            ("content-type", "application/json".into()),
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sign(secret, id, ts, &body)),
            ("user-agent", super::USER_AGENT.into()),
        ],
        body,
    }
}

pub fn classify(r: &HttpResponse, now_ms: u64) -> Outcome {
    match r.status {
        200..=299 => Outcome::Delivered { provider_id: None },
        410 => Outcome::permanent("webhook 410 Gone: endpoint disabled", true),
        s => Outcome::retry(r.retry_after(now_ms), format!("webhook {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published test vector: `TestWebhookSign` in the spec repository's Go library
    /// (`libraries/go/webhook_test.go`), the same in its other libraries' tests.
    #[test]
    fn standard_webhooks_published_vector() {
        let secret = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let body = br#"{"test": 2432232314}"#;
        assert!(verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
            &sig
        ));
        // The spec's rotation form: several signatures, space-separated; one valid is enough.
        let multi = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {sig}");
        assert!(verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
            &multi
        ));
        assert!(!verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_331,
            body,
            &sig
        ));
        assert!(!verify(&secret, "msg_other", 1_614_265_330, body, &sig));
    }

    #[test]
    fn statuses() {
        assert_eq!(
            classify(&HttpResponse::new(204, ""), 0),
            Outcome::Delivered { provider_id: None }
        );
        assert!(matches!(
            classify(&HttpResponse::new(410, ""), 0),
            Outcome::Permanent {
                address_broken: true,
                ..
            }
        ));
        for s in [301, 400, 404, 500, 502] {
            assert!(
                matches!(
                    classify(&HttpResponse::new(s, ""), 0),
                    Outcome::Retry { .. }
                ),
                "{s}"
            );
        }
        let r = HttpResponse::new(503, "").with_header("retry-after", "12");
        assert!(matches!(
            classify(&r, 0),
            Outcome::Retry {
                after_ms: Some(12_000),
                ..
            }
        ));
    }
}
