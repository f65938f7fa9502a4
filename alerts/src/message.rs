//! What an alert says, per channel, within each vendor's size limits. Pure.
//!
//! Every message names the account and its value, the user, the emotion and its confidence,
//! the section and page, the physics evidence, and ends with the one-click link. When a text
//! must be cut, it is cut at a character boundary with an ellipsis and the link is kept whole.
//!
//! Limits (from each vendor's documentation):
//! - Twilio `Body`: 1,600 characters (Messages API, `Body`). Counted here in UTF-16 code
//!   units, which is never fewer than characters, so the limit holds either way.
//! - Slack: a section block's text is at most 3,000 characters, a button's text 75, a button's
//!   url 3,000 (Block Kit reference); top-level `text` should stay under 40,000
//!   (chat.postMessage: "no more than 40,000 characters or risk truncation").
//! - PagerDuty: `payload.summary` at most 1,024 characters (Events API v2, "Send an Alert
//!   Event"); the whole event at most 512 KB.
//! - Slack text is mrkdwn: `&`, `<`, `>` in customer data are escaped so a page name cannot
//!   mention `<!channel>` or forge a link.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ids::AlertId;
use crate::time::rfc3339_ms;

/// What the edge detected, as the alert shows it. Plain values: no edge types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    pub tenant: String,
    /// The account's display name (or id when it has none).
    pub account: String,
    /// The account's lifetime value, cents.
    pub value_cents: i64,
    pub user: Option<String>,
    pub session: String,
    /// e.g. `rage`.
    pub emotion: String,
    /// 0..=1.
    pub confidence: f64,
    pub section: Option<String>,
    pub page: Option<String>,
    /// The physics that made the detection, in display order, e.g. `("clicks", "7 in 2.1 s")`.
    pub evidence: Vec<(String, String)>,
    /// Server time of the frame that completed the evidence, ms since the epoch.
    pub at_ms: u64,
    /// The tenant's rule that escalated (for records; messages do not show it).
    #[serde(default)]
    pub rule: Option<String>,
}

/// One alert as a message renders it.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub alert: &'a AlertId,
    /// The first detection (what paged).
    pub detection: &'a Detection,
    /// Detections folded into this alert so far (1 for the first).
    pub count: u32,
    /// Server time of the latest detection.
    pub last_ms: u64,
    /// The one-click link for this message.
    pub link: &'a str,
}

pub const SMS_MAX_UTF16: usize = 1600;
pub const SLACK_SECTION_MAX: usize = 3000;
pub const SLACK_TEXT_MAX: usize = 40_000;
pub const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// `12_000_000` cents → `$120,000`; `123_456` → `$1,234.56`.
pub fn dollars(cents: i64) -> String {
    let neg = cents < 0;
    let c = cents.unsigned_abs();
    let (whole, frac) = (c / 100, c % 100);
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if neg { "-" } else { "" };
    if frac == 0 {
        format!("{sign}${grouped}")
    } else {
        format!("{sign}${grouped}.{frac:02}")
    }
}

fn percent(confidence: f64) -> String {
    format!("{:.0}%", (confidence.clamp(0.0, 1.0) * 100.0).round())
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Cuts `s` to at most `max` UTF-16 code units at a character boundary, ending with `…`
/// when cut.
pub fn truncate_utf16(s: &str, max: usize) -> String {
    if s.encode_utf16().count() <= max {
        return s.to_owned();
    }
    let budget = max.saturating_sub(1); // the ellipsis is one unit
    let mut used = 0;
    let mut out = String::new();
    for ch in s.chars() {
        if used + ch.len_utf16() > budget {
            break;
        }
        used += ch.len_utf16();
        out.push(ch);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

fn evidence_line(d: &Detection, sep: &str) -> String {
    d.evidence
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(sep)
}

fn where_line(d: &Detection) -> String {
    let mut parts = vec![format!("confidence {}", percent(d.confidence))];
    if let Some(s) = &d.section {
        parts.push(format!("section {s}"));
    }
    if let Some(p) = &d.page {
        parts.push(format!("page {p}"));
    }
    parts.join(", ")
}

fn repeats(v: &View<'_>) -> Option<String> {
    (v.count > 1).then(|| format!("{} detections, last at {}", v.count, rfc3339_ms(v.last_ms)))
}

/// The plain text of an SMS or WhatsApp message: at most 1,600 UTF-16 units, link whole.
pub fn sms(v: &View<'_>) -> String {
    let d = v.detection;
    let mut head = format!(
        "SentientIQ: {} on {} ({})\nUser: {}\n{}",
        d.emotion,
        d.account,
        dollars(d.value_cents),
        d.user.as_deref().unwrap_or("anonymous"),
        capitalized(&where_line(d)),
    );
    if !d.evidence.is_empty() {
        head.push_str("\nEvidence: ");
        head.push_str(&evidence_line(d, "; "));
    }
    if let Some(r) = repeats(v) {
        head.push('\n');
        head.push_str(&r);
    }
    let tail = format!("\nAct: {}", v.link);
    let room = SMS_MAX_UTF16.saturating_sub(tail.encode_utf16().count());
    let mut out = truncate_utf16(&head, room);
    out.push_str(&tail);
    out
}

/// Escapes customer data for Slack mrkdwn.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack's top-level `text` (the notification and the fallback when blocks do not render).
pub fn slack_text(v: &View<'_>) -> String {
    let d = v.detection;
    let head = format!(
        "{} on {} ({}), user {}, {}",
        capitalized(&slack_escape(&d.emotion)),
        slack_escape(&d.account),
        dollars(d.value_cents),
        slack_escape(d.user.as_deref().unwrap_or("anonymous")),
        slack_escape(&where_line(d)),
    );
    let tail = format!(": <{}|act now>", v.link);
    let mut out = truncate_chars(&head, SLACK_TEXT_MAX - tail.chars().count());
    out.push_str(&tail);
    out
}

/// Slack blocks: the facts, the evidence, and a button to the link page.
pub fn slack_blocks(v: &View<'_>) -> Value {
    let d = v.detection;
    let mut facts = format!(
        "*{}* on *{}* ({})\nUser: {}\n{}",
        capitalized(&slack_escape(&d.emotion)),
        slack_escape(&d.account),
        dollars(d.value_cents),
        slack_escape(d.user.as_deref().unwrap_or("anonymous")),
        capitalized(&slack_escape(&where_line(d))),
    );
    if let Some(r) = repeats(v) {
        facts.push('\n');
        facts.push_str(&r);
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate_chars(&facts, SLACK_SECTION_MAX)}
    })];
    if !d.evidence.is_empty() {
        let ev = format!("Evidence: {}", slack_escape(&evidence_line(d, " · ")));
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": truncate_chars(&ev, SLACK_SECTION_MAX)}]
        }));
    }
    blocks.push(json!({
        "type": "actions",
        "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "I'm on it / Intervene / False alarm"},
            "url": v.link,
            "style": "primary"
        }]
    }));
    Value::Array(blocks)
}

/// PagerDuty `payload.summary`: at most 1,024 characters.
pub fn pagerduty_summary(v: &View<'_>) -> String {
    let d = v.detection;
    let s = format!(
        "{} on {} ({}): user {}, {}",
        capitalized(&d.emotion),
        d.account,
        dollars(d.value_cents),
        d.user.as_deref().unwrap_or("anonymous"),
        where_line(d),
    );
    truncate_chars(&s, PAGERDUTY_SUMMARY_MAX)
}

/// The facts as a JSON object (PagerDuty `custom_details`, the webhook's `data`).
pub fn details(v: &View<'_>) -> Value {
    let d = v.detection;
    let evidence: serde_json::Map<String, Value> = d
        .evidence
        .iter()
        .map(|(k, val)| (k.clone(), Value::String(val.clone())))
        .collect();
    json!({
        "alert_id": v.alert.as_str(),
        "tenant": d.tenant,
        "account": d.account,
        "value_cents": d.value_cents,
        "value": dollars(d.value_cents),
        "user": d.user,
        "session": d.session,
        "emotion": d.emotion,
        "confidence": d.confidence,
        "section": d.section,
        "page": d.page,
        "evidence": evidence,
        "detections": v.count,
        "detected_at": rfc3339_ms(d.at_ms),
        "link": v.link,
    })
}

/// The Twilio Content template variables (`ContentVariables`): a tenant's template uses
/// `{{1}}` account, `{{2}}` value, `{{3}}` emotion, `{{4}}` user, `{{5}}` link.
pub fn template_variables(v: &View<'_>) -> String {
    let d = v.detection;
    json!({
        "1": d.account,
        "2": dollars(d.value_cents),
        "3": d.emotion,
        "4": d.user.as_deref().unwrap_or("anonymous"),
        "5": v.link,
    })
    .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn detection() -> Detection {
        Detection {
            tenant: "acme-tenant".into(),
            account: "Globex Corp".into(),
            value_cents: 12_000_000,
            user: Some("hank@globex.example".into()),
            session: "s-42".into(),
            emotion: "rage".into(),
            confidence: 0.92,
            section: Some("checkout".into()),
            page: Some("/billing/pay".into()),
            evidence: vec![
                ("clicks".into(), "7 in 2.1 s on one button".into()),
                ("jerk".into(), "41,000 px/s³".into()),
            ],
            at_ms: 1_700_000_000_000,
            rule: None,
        }
    }

    #[test]
    fn dollars_group_thousands() {
        assert_eq!(dollars(12_000_000), "$120,000");
        assert_eq!(dollars(123_456), "$1,234.56");
        assert_eq!(dollars(5), "$0.05");
        assert_eq!(dollars(-100_000), "-$1,000");
        assert_eq!(dollars(100_000_000_000), "$1,000,000,000");
    }

    #[test]
    fn sms_says_everything_and_ends_with_the_link() {
        let id = AlertId::new("al_1").expect("id");
        let d = detection();
        let v = View {
            alert: &id,
            detection: &d,
            count: 1,
            last_ms: d.at_ms,
            link: "https://x/a/T",
        };
        assert_eq!(
            sms(&v),
            "SentientIQ: rage on Globex Corp ($120,000)\nUser: hank@globex.example\n\
             Confidence 92%, section checkout, page /billing/pay\n\
             Evidence: clicks 7 in 2.1 s on one button; jerk 41,000 px/s³\nAct: https://x/a/T"
        );
    }

    #[test]
    fn sms_cut_at_cap_keeps_the_link() {
        let id = AlertId::new("al_1").expect("id");
        let link = "https://alerts.example.com/a/abcdefghijklmnopqrstuvwxyz0123456789";
        for extra in [0usize, 1, 2, 5000] {
            let mut d = detection();
            // Fill with emoji (2 UTF-16 units each) so a cut could split a surrogate pair.
            d.page = Some("😡".repeat(extra));
            let v = View {
                alert: &id,
                detection: &d,
                count: 1,
                last_ms: d.at_ms,
                link,
            };
            let s = sms(&v);
            assert!(s.encode_utf16().count() <= SMS_MAX_UTF16, "{extra}");
            assert!(s.ends_with(&format!("\nAct: {link}")), "{extra}");
        }
    }

    #[test]
    fn truncation_at_cap_minus_one_cap_cap_plus_one() {
        let s = "a".repeat(10);
        assert_eq!(truncate_utf16(&s, 11), s);
        assert_eq!(truncate_utf16(&s, 10), s);
        assert_eq!(truncate_utf16(&s, 9), format!("{}…", "a".repeat(8)));
        assert_eq!(
            truncate_utf16("😡😡😡", 4),
            "😡…",
            "never splits a surrogate pair"
        );
        assert_eq!(truncate_chars(&s, 10), s);
        assert_eq!(truncate_chars(&s, 9).chars().count(), 9);
        assert_eq!(truncate_chars("ééé", 2), "é…");
    }

    #[test]
    fn slack_escapes_customer_data() {
        let id = AlertId::new("al_1").expect("id");
        let mut d = detection();
        d.page = Some("<!channel> & <https://evil|click>".into());
        let v = View {
            alert: &id,
            detection: &d,
            count: 1,
            last_ms: d.at_ms,
            link: "https://x/a/T",
        };
        let t = slack_text(&v);
        assert!(!t.contains("<!channel>"));
        assert!(t.contains("&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"));
        assert!(t.ends_with(": <https://x/a/T|act now>"));
        let b = slack_blocks(&v).to_string();
        assert!(!b.contains("<!channel>"));
    }

    #[test]
    fn slack_section_stays_within_its_block_limit() {
        let id = AlertId::new("al_1").expect("id");
        let mut d = detection();
        d.page = Some("p".repeat(5000));
        let v = View {
            alert: &id,
            detection: &d,
            count: 1,
            last_ms: d.at_ms,
            link: "https://x/a/T",
        };
        let blocks = slack_blocks(&v);
        let section = blocks[0]["text"]["text"].as_str().expect("text");
        assert_eq!(section.chars().count(), SLACK_SECTION_MAX);
        assert!(slack_text(&v).ends_with(": <https://x/a/T|act now>"));
    }

    #[test]
    fn pagerduty_summary_at_cap() {
        let id = AlertId::new("al_1").expect("id");
        let mut d = detection();
        d.page = Some("x".repeat(2000));
        let v = View {
            alert: &id,
            detection: &d,
            count: 1,
            last_ms: d.at_ms,
            link: "l",
        };
        assert_eq!(pagerduty_summary(&v).chars().count(), PAGERDUTY_SUMMARY_MAX);
    }
}
