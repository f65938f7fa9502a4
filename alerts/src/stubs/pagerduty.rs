//! PagerDuty Events API v2 stand-in: `POST /v2/enqueue`, with alert state per `dedup_key`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Reply, Request, Vendor};

/// An alert's state as PagerDuty would hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Triggered,
    Acknowledged,
    Resolved,
}

#[derive(Debug, Default)]
pub struct PagerDuty {
    /// Accepted events, in order.
    pub events: Vec<Value>,
    /// dedup_key → (state, triggers received).
    pub alerts: HashMap<String, (AlertState, u32)>,
    /// Acknowledge/resolve events for no open alert (PagerDuty drops them).
    pub dropped: u32,
}

fn invalid(why: &str) -> Reply {
    Reply::json(
        400,
        &json!({"status": "invalid event", "message": "Event object is invalid", "errors": [why]}),
    )
    .violation(format!("pagerduty: {why}"))
}

impl Vendor for PagerDuty {
    fn handle(&mut self, req: &Request) -> Reply {
        if req.path != "/v2/enqueue" || req.method != "POST" {
            return Reply::json(404, &json!({"status": "not found"}))
                .violation("pagerduty: not POST /v2/enqueue");
        }
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return invalid("Content-Type must be application/json");
        }
        let Some(v) = req.json().filter(Value::is_object) else {
            return invalid("invalid JSON");
        };
        let key = v
            .get("routing_key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if key.len() != 32 {
            return invalid("Length of 'routing_key' is incorrect (should be 32 characters)");
        }
        let action = v
            .get("event_action")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let dedup = v.get("dedup_key").and_then(Value::as_str);
        if dedup.is_some_and(|d| d.len() > 255) {
            return invalid("'dedup_key' is too long (255 characters at most)");
        }
        match action {
            "trigger" => {
                let p = v.get("payload");
                let s = |k: &str| p.and_then(|p| p.get(k)).and_then(Value::as_str);
                match s("summary") {
                    Some(x) if !x.is_empty() && x.chars().count() <= 1024 => {}
                    _ => return invalid("'payload.summary' is missing or longer than 1024"),
                }
                if s("source").is_none_or(str::is_empty) {
                    return invalid("'payload.source' is missing");
                }
                if !matches!(
                    s("severity"),
                    Some("critical" | "error" | "warning" | "info")
                ) {
                    return invalid("'payload.severity' is invalid");
                }
                if let Some(links) = v.get("links") {
                    let ok = links.as_array().is_some_and(|l| {
                        l.iter()
                            .all(|x| x.get("href").and_then(Value::as_str).is_some())
                    });
                    if !ok {
                        return invalid("'links' must be objects with 'href'");
                    }
                }
                let key =
                    dedup.map_or_else(|| format!("auto-{}", self.events.len()), str::to_owned);
                let e = self
                    .alerts
                    .entry(key.clone())
                    .or_insert((AlertState::Triggered, 0));
                if e.0 == AlertState::Resolved {
                    *e = (AlertState::Triggered, 0);
                }
                e.1 += 1;
                self.events.push(v.clone());
                accepted(&key)
            }
            "acknowledge" | "resolve" => {
                let Some(key) = dedup else {
                    return invalid("'dedup_key' is required");
                };
                match self.alerts.get_mut(key) {
                    Some(a) if a.0 != AlertState::Resolved => {
                        a.0 = if action == "resolve" {
                            AlertState::Resolved
                        } else {
                            AlertState::Acknowledged
                        };
                    }
                    _ => self.dropped += 1,
                }
                self.events.push(v.clone());
                accepted(key)
            }
            _ => invalid("'event_action' must be trigger, acknowledge or resolve"),
        }
    }
}

fn accepted(key: &str) -> Reply {
    Reply::json(
        202,
        &json!({"status": "success", "message": "Event processed", "dedup_key": key}),
    )
}
