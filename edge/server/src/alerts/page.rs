//! The one-click link page: `GET /a/{token}` shows the alert, `POST /a/{token}` with
//! `do=ack|intervene|false_alarm` acts on it. What the page says and which form it accepts; the
//! HTTP shell that serves it is `ingest::alert_page`.
//!
//! The token is the capability (signed, expiring, per contact and message: `sentientiq_alerts::
//! link`); a refused token gets one page for every reason (no oracle). [`render`] is pure.
//! Pages are never cached, never framed, send no referrer (the URL is the credential), and load
//! nothing: one inline stylesheet.

use std::fmt::Write as _;

use sentientiq_alerts::Chain;
use sentientiq_alerts::chain::State;
use sentientiq_alerts::link::{Action, Claims};
use sentientiq_alerts::message::dollars;

use super::report::state;

/// Longest form body, bytes (`do=false_alarm` is 14).
pub const MAX_FORM: usize = 256;

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `2026-12-01 14:03:07 UTC`.
fn utc(ms: u64) -> String {
    let t = sentientiq_alerts::time::rfc3339_ms(ms);
    format!("{} UTC", t.get(..19).unwrap_or(&t).replace('T', " "))
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}\
main{max-width:640px;margin:24px auto;background:#fff;border-radius:12px;padding:24px;box-shadow:0 1px 3px #0002}\
h1{font-size:22px;margin:0 0 4px}.sub{color:#52525b;margin:0 0 16px}\
.badge{display:inline-block;padding:2px 10px;border-radius:99px;font-size:13px;font-weight:600}\
.open{background:#fee2e2;color:#991b1b}.acknowledged{background:#dcfce7;color:#166534}\
.false_alarm{background:#e4e4e7;color:#3f3f46}.closed{background:#e4e4e7;color:#3f3f46}\
table{border-collapse:collapse;width:100%;margin:8px 0 16px}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e4e7;font-size:14px}\
th{color:#52525b;font-weight:500;width:38%}form{display:inline}\
button{font:inherit;font-weight:600;border:0;border-radius:8px;padding:10px 16px;margin:4px 8px 4px 0;cursor:pointer}\
.ack{background:#16a34a;color:#fff}.iv{background:#2563eb;color:#fff}.fa{background:#e4e4e7;color:#18181b}\
.notice{background:#eff6ff;border-left:4px solid #2563eb;padding:10px 14px;margin:0 0 16px;border-radius:6px}\
h2{font-size:16px;margin:16px 0 4px}";

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><meta name=robots content=noindex><title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// The page of an alert, for the contact the link was made for; `name` gives a contact's
/// display name from its id.
pub fn render(
    c: &Chain,
    claims: &Claims,
    name: &dyn Fn(&str) -> String,
    notice: Option<&str>,
) -> String {
    let contact_name = name(claims.contact.as_str());
    let d = &c.detection;
    let st = state(c);
    let mut b = String::new();
    let emotion = {
        let mut e = d.emotion.clone();
        if let Some(f) = e.get_mut(..1) {
            f.make_ascii_uppercase();
        }
        e
    };
    let _ = write!(
        b,
        "<h1>{} — {} ({})</h1><p class=sub>{} · <span class=\"badge {st}\">{}</span></p>",
        escape(&emotion),
        escape(&d.account),
        dollars(d.value_cents),
        escape(d.user.as_deref().unwrap_or("anonymous")),
        match &c.state {
            State::Acknowledged { by, at_ms } =>
                format!("{} is on it since {}", escape(&name(by)), utc(*at_ms)),
            State::FalseAlarm { by, at_ms } =>
                format!("false alarm, said {} at {}", escape(&name(by)), utc(*at_ms)),
            State::Open if c.closed_ms.is_some() => "closed".into(),
            State::Open => "open: nobody has acknowledged it yet".into(),
        }
    );
    if let Some(n) = notice {
        let _ = write!(b, "<p class=notice role=status>{}</p>", escape(n));
    }
    let open = matches!(c.state, State::Open) && c.closed_ms.is_none();
    let can = |a: Action| claims.scope.allows(a);
    if open || !matches!(c.state, State::FalseAlarm { .. }) {
        b.push_str("<form method=post>");
        if open && can(Action::Acknowledge) {
            b.push_str("<button class=ack name=do value=ack>I'm on it</button>");
        }
        if can(Action::Intervene) && c.closed_ms.is_none() {
            b.push_str("<button class=iv name=do value=intervene>Intervene now</button>");
        }
        if can(Action::FalseAlarm) && !matches!(c.state, State::FalseAlarm { .. }) {
            b.push_str("<button class=fa name=do value=false_alarm>False alarm</button>");
        }
        b.push_str("</form>");
    }
    b.push_str("<h2>What was detected</h2><table>");
    let mut row = |k: &str, v: &str| {
        let _ = write!(b, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    };
    row(
        "Account",
        &format!("{} · lifetime value {}", d.account, dollars(d.value_cents)),
    );
    row("User", d.user.as_deref().unwrap_or("anonymous"));
    row(
        "Emotion",
        &format!("{} (confidence {:.2})", d.emotion, d.confidence),
    );
    row("Section", d.section.as_deref().unwrap_or("—"));
    row("Page", d.page.as_deref().unwrap_or("—"));
    row("Detected", &utc(d.at_ms));
    for (k, v) in &d.evidence {
        row(k, v);
    }
    if c.count > 1 {
        row(
            "Since then",
            &format!(
                "{} more detections, the latest at {}",
                c.count - 1,
                utc(c.last_detection_ms)
            ),
        );
    }
    row("Session", &d.session);
    b.push_str("</table><h2>Who was told</h2><table>");
    for x in &c.deliveries {
        let status = serde_json::to_value(x.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let lat = c.latency_ms(x).map_or(String::new(), |ms| {
            format!(" in {:.1} s", ms as f64 / 1000.0)
        });
        let purpose = serde_json::to_value(x.purpose)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .filter(|p| p != "page")
            .map_or(String::new(), |p| format!(" ({p})"));
        let _ = write!(
            b,
            "<tr><th>step {} · {}</th><td>{}{} {}{}{}</td></tr>",
            x.step,
            escape(&name(x.contact.as_str())),
            escape(x.channel.as_str()),
            escape(&purpose),
            escape(&status),
            lat,
            if x.attempts > 1 {
                format!(" ({} attempts)", x.attempts)
            } else {
                String::new()
            }
        );
    }
    let _ = write!(
        b,
        "</table><p class=sub>Alert {} · this link is for {} and expires {}.</p>",
        escape(c.id.as_str()),
        escape(&contact_name),
        utc(claims.expires_s.saturating_mul(1000))
    );
    shell(&format!("{emotion}: {}", d.account), &b)
}

/// The page for a link that cannot be used (one text for every reason).
pub fn refused() -> String {
    shell(
        "Link not valid",
        "<h1>This link is not valid</h1><p class=sub>It may have expired (links last a day) or been copied incompletely. The alert is still visible to your team in SentientIQ.</p>",
    )
}

/// The `do` field of a form body.
pub fn form_action(body: &[u8]) -> Option<Action> {
    let s = std::str::from_utf8(body).ok()?;
    let v = s
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "do")?
        .1;
    match v {
        "ack" => Some(Action::Acknowledge),
        "intervene" => Some(Action::Intervene),
        "false_alarm" => Some(Action::FalseAlarm),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_alerts::chain::{Policy, Roster};
    use sentientiq_alerts::ids::{AlertId, ContactId};
    use sentientiq_alerts::link::Scope;
    use sentientiq_alerts::message::Detection;

    fn chain() -> Chain {
        let d = Detection {
            tenant: "acme".into(),
            account: "Globex <script>".into(),
            value_cents: 12_000_000,
            user: Some("u1".into()),
            session: "s1".into(),
            emotion: "rage".into(),
            confidence: 0.91,
            section: None,
            page: Some("/cart?a=1&b=2".into()),
            evidence: vec![("clicks".into(), "7 in 2.1 s".into())],
            at_ms: 1_700_000_000_000,
            rule: None,
        };
        let policy = Policy::one_step(vec![ContactId::new("csm").expect("id")]);
        let mut out = vec![];
        Chain::open(
            1_700_000_000_100,
            AlertId::new("al_x").expect("id"),
            d,
            policy,
            &Roster::default(),
            &mut out,
        )
    }

    fn claims(scope: Scope) -> Claims {
        Claims {
            alert: AlertId::new("al_x").expect("id"),
            contact: ContactId::new("csm").expect("id"),
            delivery: 1,
            scope,
            expires_s: 1_700_086_400,
        }
    }

    #[test]
    fn the_page_escapes_customer_data_and_offers_what_the_link_allows() {
        let c = chain();
        let ana = |_: &str| "Ana".to_string();
        let p = render(&c, &claims(Scope::Respond), &ana, Some("done <b>"));
        assert!(
            p.contains("Globex &lt;script&gt;") && !p.contains("<script>"),
            "{p}"
        );
        assert!(p.contains("/cart?a=1&amp;b=2"));
        assert!(p.contains("done &lt;b&gt;"));
        for b in ["value=ack", "value=intervene", "value=false_alarm"] {
            assert!(p.contains(b), "{b}");
        }
        let p = render(&c, &claims(Scope::Acknowledge), &ana, None);
        assert!(p.contains("value=ack"));
        assert!(!p.contains("value=intervene") && !p.contains("value=false_alarm"));
        assert!(refused().contains("not valid"));
    }

    #[test]
    fn form_bodies_name_one_action() {
        assert_eq!(form_action(b"do=ack"), Some(Action::Acknowledge));
        assert_eq!(form_action(b"x=1&do=intervene"), Some(Action::Intervene));
        assert_eq!(form_action(b"do=false_alarm"), Some(Action::FalseAlarm));
        assert_eq!(form_action(b"do=view"), None);
        assert_eq!(form_action(b"do"), None);
        assert_eq!(form_action(&[0xff, 0xfe]), None);
    }
}
