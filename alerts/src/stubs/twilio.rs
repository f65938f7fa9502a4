//! Twilio stand-in: `POST` and `GET /2010-04-01/Accounts/{AccountSid}/Messages.json`, checked
//! against `/work/shared/specs/twilio/twilio_messages.yaml` (Basic auth, form encoding, `To`
//! required, `From` or `MessagingServiceSid`, `Body` or `ContentSid`, `Body` ≤ 1,600, SID
//! patterns, `whatsapp:` on both ends of a WhatsApp message). Errors come as Twilio's JSON
//! (`code`, `message`, `more_info`, `status`).

use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Reply, Request, Vendor, is_e164};
use crate::shell::now_ms;
use crate::time::rfc2822;

/// A message Twilio created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub sid: String,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub content_sid: Option<String>,
    pub created_ms: u64,
}

#[derive(Debug)]
pub struct Twilio {
    pub account_sid: String,
    /// Accepted `user:password` pairs (AccountSid:AuthToken, or SK…:secret).
    pub credentials: Vec<(String, String)>,
    /// Numbers that answer 21211 (invalid `To`).
    pub invalid_numbers: HashSet<String>,
    pub messages: Vec<Message>,
}

impl Twilio {
    pub fn new(account_sid: &str, auth_token: &str) -> Self {
        Self {
            account_sid: account_sid.to_owned(),
            credentials: vec![(account_sid.to_owned(), auth_token.to_owned())],
            invalid_numbers: HashSet::new(),
            messages: Vec::new(),
        }
    }

    fn message_json(&self, m: &Message) -> Value {
        let uri = format!(
            "/2010-04-01/Accounts/{}/Messages/{}.json",
            self.account_sid, m.sid
        );
        let date = rfc2822(m.created_ms);
        json!({
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": m.body,
            "date_created": date,
            "date_sent": null,
            "date_updated": date,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": m.from,
            "messaging_service_sid": m.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": null,
            "price_unit": null,
            "sid": m.sid,
            "status": "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": m.to,
            "uri": uri,
        })
    }

    fn create(&mut self, req: &Request) -> Reply {
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            return error(
                400,
                20001,
                "Content-Type must be application/x-www-form-urlencoded",
            )
            .violation("twilio: content-type");
        }
        let f = req.form();
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        const KNOWN: &[&str] = &[
            "To",
            "From",
            "MessagingServiceSid",
            "Body",
            "ContentSid",
            "ContentVariables",
        ];
        if let Some((k, _)) = f.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
            return error(400, 20001, &format!("unexpected parameter {k}"))
                .violation(format!("twilio: field {k}"));
        }
        let Some(to) = get("To") else {
            return error(400, 21604, "A 'To' phone number is required.")
                .violation("twilio: no To");
        };
        let (wa_to, to_num) = match to.strip_prefix("whatsapp:") {
            Some(n) => (true, n),
            None => (false, to),
        };
        if !is_e164(to_num) {
            return error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"))
                .violation("twilio: To not E.164");
        }
        if self.invalid_numbers.contains(to_num) {
            return error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"));
        }
        let from = get("From");
        let service = get("MessagingServiceSid");
        match (from, service) {
            (None, None) => {
                return error(400, 21603, "A 'From' phone number is required.")
                    .violation("twilio: no From");
            }
            (Some(f), _) => {
                let (wa_from, n) = match f.strip_prefix("whatsapp:") {
                    Some(n) => (true, n),
                    None => (false, f),
                };
                if !is_e164(n) || wa_from != wa_to {
                    return error(400, 21212, &format!("Invalid From Number: {f}"))
                        .violation("twilio: From");
                }
            }
            (None, Some(s)) => {
                if !sid_ok(s, "MG") {
                    return error(400, 21701, "Invalid MessagingServiceSid")
                        .violation("twilio: MG sid");
                }
            }
        }
        let body = get("Body");
        let content = get("ContentSid");
        if body.is_none_or(str::is_empty) && content.is_none() {
            return error(400, 21602, "Message body is required.")
                .violation("twilio: no Body/ContentSid");
        }
        if let Some(b) = body
            && b.chars().count() > 1600
        {
            return error(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            )
            .violation("twilio: Body > 1600");
        }
        if let Some(c) = content {
            if !sid_ok(c, "HX") {
                return error(400, 21656, "Invalid ContentSid").violation("twilio: HX sid");
            }
            if get("ContentVariables").is_some_and(|v| serde_json::from_str::<Value>(v).is_err()) {
                return error(400, 21656, "ContentVariables is not valid JSON")
                    .violation("twilio: variables");
            }
        }
        let n = self.messages.len() + 1;
        let m = Message {
            sid: format!("SM{n:032x}"),
            to: to.to_owned(),
            from: from.map(str::to_owned),
            messaging_service_sid: service.map(str::to_owned),
            body: body.map_or_else(
                || get("ContentVariables").unwrap_or_default().to_owned(),
                str::to_owned,
            ),
            content_sid: content.map(str::to_owned),
            created_ms: now_ms(),
        };
        let reply = Reply::json(201, &self.message_json(&m));
        self.messages.push(m);
        reply
    }

    fn list(&self, req: &Request) -> Reply {
        let q = req.query_pairs();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let size: usize = get("PageSize").and_then(|s| s.parse().ok()).unwrap_or(50);
        if !(1..=1000).contains(&size) {
            return error(400, 20001, "PageSize must be 1..=1000").violation("twilio: PageSize");
        }
        let page: Vec<Value> = self
            .messages
            .iter()
            .rev()
            .filter(|m| get("To").is_none_or(|t| m.to == t))
            .filter(|m| get("From").is_none_or(|f| m.from.as_deref() == Some(f)))
            .take(size)
            .map(|m| self.message_json(m))
            .collect();
        let uri = format!(
            "/2010-04-01/Accounts/{}/Messages.json?{}",
            self.account_sid, req.query
        );
        Reply::json(
            200,
            &json!({
                "messages": page,
                "end": page.len().saturating_sub(1),
                "first_page_uri": uri,
                "next_page_uri": null,
                "page": 0,
                "page_size": size,
                "previous_page_uri": null,
                "start": 0,
                "uri": uri,
            }),
        )
    }
}

fn sid_ok(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

impl Vendor for Twilio {
    fn handle(&mut self, req: &Request) -> Reply {
        let path = format!("/2010-04-01/Accounts/{}/Messages.json", self.account_sid);
        if req.path != path {
            return error(404, 20404, "The requested resource was not found")
                .violation(format!("twilio: unknown path {}", req.path));
        }
        let authed = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
            .is_some_and(|c| self.credentials.contains(&c));
        if !authed {
            return error(401, 20003, "Authenticate").violation("twilio: HTTP Basic auth failed");
        }
        match req.method.as_str() {
            "POST" => self.create(req),
            "GET" => self.list(req),
            m => error(405, 20004, "Method not allowed").violation(format!("twilio: method {m}")),
        }
    }
}
