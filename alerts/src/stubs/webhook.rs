//! A Standard Webhooks receiver: verifies `webhook-signature` over `{id}.{timestamp}.{body}`,
//! refuses timestamps more than 5 minutes off, and dedupes on `webhook-id`.

use std::collections::HashMap;

use super::{Reply, Request, Vendor};
use crate::channels::webhook::verify;
use crate::secret::WebhookSecret;
use crate::shell::now_ms;

#[derive(Debug)]
pub struct Receiver {
    pub secret: WebhookSecret,
    /// webhook-id → deliveries received (more than one: a retry the receiver deduped).
    pub ids: HashMap<String, u32>,
    /// First-seen bodies, in order.
    pub accepted: Vec<Vec<u8>>,
}

impl Receiver {
    pub fn new(secret: WebhookSecret) -> Self {
        Self {
            secret,
            ids: HashMap::new(),
            accepted: Vec::new(),
        }
    }
}

/// The spec's recommended tolerance.
const TOLERANCE_S: u64 = 5 * 60;

impl Vendor for Receiver {
    fn handle(&mut self, req: &Request) -> Reply {
        let bad = |why: &str| {
            Reply::new(400, "text/plain", why.to_owned()).violation(format!("webhook: {why}"))
        };
        if req.method != "POST" {
            return bad("method must be POST");
        }
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return bad("content-type must be application/json");
        }
        let (Some(id), Some(ts), Some(sig)) = (
            req.header("webhook-id"),
            req.header("webhook-timestamp"),
            req.header("webhook-signature"),
        ) else {
            return bad("missing webhook-id, webhook-timestamp or webhook-signature");
        };
        let Ok(ts) = ts.parse::<u64>() else {
            return bad("webhook-timestamp is not an integer");
        };
        if ts.abs_diff(now_ms() / 1000) > TOLERANCE_S {
            return bad("webhook-timestamp outside the tolerance");
        }
        if !verify(&self.secret, id, ts, &req.body, sig) {
            return Reply::new(401, "text/plain", "bad signature")
                .violation("webhook: bad signature");
        }
        if serde_json::from_slice::<serde_json::Value>(&req.body).is_err() {
            return bad("body is not JSON");
        }
        let n = self.ids.entry(id.to_owned()).or_insert(0);
        *n += 1;
        if *n == 1 {
            self.accepted.push(req.body.clone());
        }
        Reply::new(204, "text/plain", "")
    }
}
