//! PagerDuty Events API v2 (PagerDuty developer docs, *Send an Alert Event* and *Events API v2
//! Overview*).
//!
//! `POST {base}/v2/enqueue` (`https://events.pagerduty.com`), `Content-Type:
//! application/json`, no auth header (the `routing_key` in the body is the credential):
//! `{routing_key, event_action: trigger|acknowledge|resolve, dedup_key, payload: {summary
//! (≤ 1,024), source, severity: critical|error|warning|info, timestamp, custom_details},
//! links: [{href, text}], client}`. `dedup_key` is the alert id, so every event of one alert
//! lands on one PagerDuty alert, a resent trigger is folded into it, and acknowledging or
//! resolving it needs nothing but the alert id. `acknowledge`/`resolve` carry only
//! `routing_key`, `dedup_key` and `event_action`, as the docs' examples do.
//!
//! Answers: `202` accepted (`{"status":"success","dedup_key":…}`); `400` invalid event: never
//! retried; `429` and `5xx`: retried (the docs: "retry after some time"; `Retry-After` is
//! honoured when present); a network error: retried (safe: the dedup_key dedupes).

use serde_json::{Value, json};

use super::{HttpRequest, HttpResponse, Outcome, Providers, Purpose, Send, Severity};
use crate::message::{details, pagerduty_summary};
use crate::secret::PagerDutyRoutingKey;
use crate::time::rfc3339_ms;

pub fn enqueue_request(
    p: &Providers,
    key: &PagerDutyRoutingKey,
    severity: Severity,
    s: &Send<'_>,
) -> HttpRequest {
    let routing_key = key.secret().expose();
    let dedup_key = s.view.alert.as_str();
    let event = match s.purpose {
        Purpose::Page => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": pagerduty_summary(&s.view),
                "source": p.source,
                "severity": severity,
                "timestamp": rfc3339_ms(s.view.detection.at_ms),
                "component": s.view.detection.section.as_deref().unwrap_or("page"),
                "group": s.view.detection.account,
                "class": s.view.detection.emotion,
                "custom_details": details(&s.view),
            },
            "links": [{"href": s.view.link, "text": "Act on this alert (I'm on it / intervene / false alarm)"}],
            "client": "SentientIQ",
        }),
        Purpose::Acknowledge | Purpose::Resolve => json!({
            "routing_key": routing_key,
            "event_action": if s.purpose == Purpose::Acknowledge { "acknowledge" } else { "resolve" },
            "dedup_key": dedup_key,
        }),
    };
    HttpRequest {
        method: http::Method::POST,
        url: format!("{}/v2/enqueue", p.pagerduty_base.trim_end_matches('/')),
        headers: vec![
            ("content-type", "application/json".into()),
            ("user-agent", super::USER_AGENT.into()),
        ],
        body: serde_json::to_vec(&event).unwrap_or_default(),
    }
}

pub fn classify(r: &HttpResponse, now_ms: u64) -> Outcome {
    let v: Option<Value> = serde_json::from_slice(&r.body).ok();
    let dedup = v
        .as_ref()
        .and_then(|v| v.get("dedup_key"))
        .and_then(Value::as_str);
    match r.status {
        200..=299 => Outcome::Delivered {
            provider_id: dedup.map(str::to_owned),
        },
        400 => {
            let errors = v
                .as_ref()
                .and_then(|v| v.get("errors"))
                .map(Value::to_string)
                .unwrap_or_else(|| r.body_text(200));
            Outcome::permanent(format!("pagerduty 400: {errors}"), false)
        }
        429 => Outcome::retry(r.retry_after(now_ms), "pagerduty 429"),
        500..=599 => Outcome::retry(r.retry_after(now_ms), format!("pagerduty {}", r.status)),
        s => Outcome::permanent(format!("pagerduty {s}: {}", r.body_text(200)), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let ok = br#"{"status":"success","message":"Event processed","dedup_key":"al_1"}"#;
        assert_eq!(
            classify(&HttpResponse::new(202, &ok[..]), 0),
            Outcome::Delivered {
                provider_id: Some("al_1".into())
            }
        );
        let bad = br#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#;
        assert!(matches!(
            classify(&HttpResponse::new(400, &bad[..]), 0),
            Outcome::Permanent {
                address_broken: false,
                ..
            }
        ));
        assert!(matches!(
            classify(&HttpResponse::new(429, ""), 0),
            Outcome::Retry { after_ms: None, .. }
        ));
        assert!(matches!(
            classify(
                &HttpResponse::new(503, "").with_header("Retry-After", "7"),
                0
            ),
            Outcome::Retry {
                after_ms: Some(7000),
                ..
            }
        ));
    }
}
