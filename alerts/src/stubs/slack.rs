//! Slack stand-in: incoming webhooks under `/services/…` and `POST /api/chat.postMessage`.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Reply, Request, Vendor};

/// A message Slack accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The hook path or the channel id.
    pub to: String,
    pub text: String,
    pub ts: Option<String>,
}

#[derive(Debug, Default)]
pub struct Slack {
    /// The bot token `chat.postMessage` accepts.
    pub bot_token: Option<String>,
    /// Channels the bot is in; `None`: any.
    pub channels: Option<HashSet<String>>,
    /// Hook paths that are gone (answer 410 `channel_is_archived`).
    pub archived_hooks: HashSet<String>,
    pub posted: Vec<Posted>,
    ts: u64,
}

impl Slack {
    pub fn with_token(token: &str) -> Self {
        Self {
            bot_token: Some(token.to_owned()),
            ..Self::default()
        }
    }
}

fn text_and_blocks(v: &Value) -> Result<String, &'static str> {
    let text = v.get("text").and_then(Value::as_str).unwrap_or_default();
    let bad_block = |b: &Value| b.get("type").and_then(Value::as_str).is_none();
    match v.get("blocks") {
        None => {}
        Some(Value::Array(blocks)) if blocks.len() <= 50 && !blocks.iter().any(bad_block) => {}
        Some(_) => return Err("invalid_blocks"),
    }
    if text.is_empty() && v.get("blocks").is_none() {
        return Err("no_text");
    }
    Ok(text.to_owned())
}

impl Slack {
    fn webhook(&mut self, req: &Request) -> Reply {
        let plain = |s: u16, b: &str| Reply::new(s, "text/html", b.as_bytes().to_vec());
        if req.method != "POST" {
            return plain(405, "invalid_method").violation("webhook: method must be POST");
        }
        if self.archived_hooks.contains(&req.path) {
            return plain(410, "channel_is_archived");
        }
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return plain(400, "invalid_payload")
                .violation("webhook: content-type must be application/json");
        }
        let Some(v) = req.json().filter(Value::is_object) else {
            return plain(400, "invalid_payload").violation("webhook: body is not a JSON object");
        };
        match text_and_blocks(&v) {
            Ok(text) => {
                self.posted.push(Posted {
                    to: req.path.clone(),
                    text,
                    ts: None,
                });
                plain(200, "ok")
            }
            Err(e) => plain(400, "invalid_payload").violation(format!("webhook: {e}")),
        }
    }

    fn post_message(&mut self, req: &Request) -> Reply {
        let err = |e: &str| Reply::json(200, &json!({"ok": false, "error": e}));
        if req.method != "POST" {
            return err("invalid_request").violation("chat.postMessage: method must be POST");
        }
        let auth = req.header("authorization").unwrap_or_default();
        let Some(token) = auth.strip_prefix("Bearer ") else {
            return err("not_authed").violation("chat.postMessage: no Bearer token");
        };
        if !token.starts_with("xoxb-") || self.bot_token.as_deref() != Some(token) {
            return err("invalid_auth").violation("chat.postMessage: wrong token");
        }
        let ct = req.header("content-type").unwrap_or_default();
        if !ct.starts_with("application/json") {
            return err("invalid_post_type").violation("chat.postMessage: content-type");
        }
        // Slack takes JSON without a charset but warns `missing_charset`: we always send it.
        let missing_charset = !ct
            .to_ascii_lowercase()
            .replace(' ', "")
            .contains("charset=utf-8");
        let Some(v) = req.json().filter(Value::is_object) else {
            return err("invalid_json").violation("chat.postMessage: body is not a JSON object");
        };
        let Some(channel) = v.get("channel").and_then(Value::as_str) else {
            return err("channel_not_found").violation("chat.postMessage: no channel");
        };
        if self.channels.as_ref().is_some_and(|c| !c.contains(channel)) {
            return err("not_in_channel");
        }
        let text = match text_and_blocks(&v) {
            Ok(t) => t,
            Err(e) => return err(e).violation(format!("chat.postMessage: {e}")),
        };
        self.ts += 1;
        let ts = format!("1700000000.{:06}", self.ts);
        self.posted.push(Posted {
            to: channel.to_owned(),
            text,
            ts: Some(ts.clone()),
        });
        let mut ok = json!({"ok": true, "channel": channel, "ts": ts});
        let mut reply = Reply::json(200, &ok);
        if missing_charset {
            ok["warning"] = json!("missing_charset");
            reply = Reply::json(200, &ok)
                .violation("chat.postMessage: content-type without charset=utf-8");
        }
        reply
    }
}

impl Vendor for Slack {
    fn handle(&mut self, req: &Request) -> Reply {
        if req.path == "/api/chat.postMessage" {
            self.post_message(req)
        } else if req.path.starts_with("/services/") {
            self.webhook(req)
        } else {
            Reply::new(404, "text/html", "no_service")
                .violation(format!("slack: unknown path {}", req.path))
        }
    }
}
