//! What a shard hands to the alerts thread when a rule escalates, and how that becomes the
//! alert a person reads. Pure: plain values in, plain values out.

use std::sync::Arc;

use sentientiq_alerts::AlertId;
use sentientiq_alerts::message::Detection;
use sentientiq_core::Evidence;
use sha2::{Digest, Sha256};

/// One escalation, as the shard saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub tenant: Arc<str>,
    pub sid: String,
    /// The frame that completed the evidence.
    pub seq: u64,
    /// The action's number in its session.
    pub n: u32,
    pub rule: Arc<str>,
    /// The account's key in the directory (e.g. its domain).
    pub account: Option<Arc<str>>,
    /// The account's display name, when the directory has one.
    pub company: Option<Arc<str>>,
    pub uid: Option<Arc<str>>,
    pub value_cents: i64,
    pub emotion: String,
    pub confidence: f64,
    pub section: Option<Arc<str>>,
    pub page: Option<Arc<str>>,
    pub evidence: Vec<(String, String)>,
    /// Server time of that frame, ms since the epoch.
    pub at_ms: u64,
}

impl Escalation {
    /// The alert's id, a function of where the escalation came from: the same escalation seen
    /// again (recovered from the spool after a crash) has the same id, so it is recognised and
    /// not paged twice. A frame is taken once per session (the core's held set), and `n`
    /// tells its actions apart; the edge id keeps two edges' ids apart.
    pub fn alert_id(&self, edge: &str) -> AlertId {
        let mut h = Sha256::new();
        for part in [
            b"siq-alert/1".as_slice(),
            edge.as_bytes(),
            self.tenant.as_bytes(),
            self.sid.as_bytes(),
        ] {
            h.update((part.len() as u32).to_le_bytes());
            h.update(part);
        }
        h.update(self.seq.to_le_bytes());
        h.update(self.n.to_le_bytes());
        let d = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        AlertId::from_random(b)
    }

    /// The alert's detection; `None` for an anonymous session (the core never escalates one;
    /// this is the second lock on that door).
    pub fn detection(&self) -> Option<Detection> {
        let uid = self.uid.as_deref()?;
        Some(Detection {
            tenant: self.tenant.to_string(),
            // Repeat detections of one account fold into its open alert (by this name): a user
            // without an account is their own account.
            account: self
                .company
                .as_deref()
                .or(self.account.as_deref())
                .unwrap_or(uid)
                .to_string(),
            value_cents: self.value_cents,
            user: Some(uid.to_string()),
            session: self.sid.clone(),
            emotion: self.emotion.clone(),
            confidence: self.confidence,
            section: self.section.as_deref().map(str::to_string),
            page: self.page.as_deref().map(str::to_string),
            evidence: self.evidence.clone(),
            at_ms: self.at_ms,
            rule: Some(self.rule.to_string()),
        })
    }
}

/// The physics that made a detection, as a person reads it, in display order. Keys are unique
/// (webhooks and PagerDuty carry them as a JSON object).
pub fn evidence_lines(e: &Evidence, speed_px_s: f64, dwell_ms: f64) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, s: String| v.push((k.to_string(), s));
    match *e {
        Evidence::Rage {
            clicks,
            span_ms,
            mean_gap_ms,
            max_dist_px,
            confirmed_dead,
            error_click,
        } => {
            put("clicks", format!("{clicks} in {:.1} s", span_ms / 1000.0));
            put("gap", format!("{mean_gap_ms:.0} ms between clicks"));
            put("spread", format!("within {max_dist_px:.0} px"));
            if confirmed_dead {
                put(
                    "page reported",
                    "the clicks got no response (dead click)".into(),
                );
            }
            if error_click {
                put("error", "a JavaScript error after a click".into());
            }
        }
        Evidence::Frustration {
            dead_clicks,
            error_click_ms,
        } => {
            put("dead clicks", dead_clicks.to_string());
            if let Some(ms) = error_click_ms {
                put(
                    "error",
                    format!("a JavaScript error {ms:.0} ms after a click"),
                );
            }
        }
        Evidence::Hesitation { returns, span_ms } => {
            put("returns", format!("{returns} in {:.1} s", span_ms / 1000.0));
        }
        Evidence::Confusion {
            reversals,
            scroll_reversals,
            entropy,
            peak_speed,
        } => {
            put("reversals", reversals.to_string());
            put("scroll reversals", scroll_reversals.to_string());
            put("entropy", format!("{entropy:.2}"));
            put("peak speed", format!("{peak_speed:.0} px/s"));
        }
        Evidence::Abandonment {
            leave,
            upward_speed,
            hidden_in_checkout,
        } => {
            if leave {
                put(
                    "left",
                    format!("pointer left the page at {upward_speed:.0} px/s upward"),
                );
            }
            if hidden_in_checkout {
                put("hidden", "tab hidden during checkout".into());
            }
        }
    }
    put("pointer speed", format!("{speed_px_s:.0} px/s"));
    put("dwell", format!("{dwell_ms:.0} ms"));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc() -> Escalation {
        Escalation {
            tenant: Arc::from("acme"),
            sid: "s1".into(),
            seq: 42,
            n: 1,
            rule: Arc::from("page"),
            account: Some(Arc::from("globex.example")),
            company: Some(Arc::from("Globex")),
            uid: Some(Arc::from("u1")),
            value_cents: 12_000_000,
            emotion: "rage".into(),
            confidence: 0.93,
            section: Some(Arc::from("checkout")),
            page: Some(Arc::from("/cart")),
            evidence: vec![("clicks".into(), "7 in 2.1 s".into())],
            at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn the_alert_id_is_a_function_of_where_the_escalation_came_from() {
        let a = esc();
        let id = a.alert_id("edge-1");
        assert_eq!(id, esc().alert_id("edge-1"), "same escalation, same id");
        assert!(
            id.as_str().starts_with("al_") && id.as_str().len() == 25,
            "{id}"
        );
        let mut b = esc();
        b.seq = 43;
        assert_ne!(b.alert_id("edge-1"), id);
        let mut b = esc();
        b.n = 2;
        assert_ne!(b.alert_id("edge-1"), id);
        assert_ne!(a.alert_id("edge-2"), id);
        let mut b = esc();
        b.sid = "s".into();
        b.tenant = Arc::from("acmes1");
        assert_ne!(b.alert_id("edge-1"), id, "parts are length-prefixed");
        // A golden value: an id must not change across releases (recovery compares them).
        assert_eq!(id.as_str(), GOLDEN_ID);
    }

    const GOLDEN_ID: &str = "al_mukTBck8hTkfdQOHmOhQfQ";

    #[test]
    fn anonymous_sessions_never_make_an_alert() {
        let mut a = esc();
        let d = a.detection().expect("identified");
        assert_eq!((d.account.as_str(), d.value_cents), ("Globex", 12_000_000));
        a.company = None;
        assert_eq!(a.detection().expect("no name").account, "globex.example");
        a.account = None;
        assert_eq!(a.detection().expect("no account").account, "u1");
        a.uid = None;
        assert!(a.detection().is_none());
    }

    #[test]
    fn rage_evidence_reads_as_a_person_would_say_it() {
        let e = Evidence::Rage {
            clicks: 7,
            span_ms: 2100.0,
            mean_gap_ms: 350.0,
            max_dist_px: 14.2,
            confirmed_dead: true,
            error_click: false,
        };
        let v = evidence_lines(&e, 12.0, 800.0);
        let s: Vec<String> = v.iter().map(|(k, x)| format!("{k}: {x}")).collect();
        assert_eq!(
            s,
            [
                "clicks: 7 in 2.1 s",
                "gap: 350 ms between clicks",
                "spread: within 14 px",
                "page reported: the clicks got no response (dead click)",
                "pointer speed: 12 px/s",
                "dwell: 800 ms"
            ]
        );
    }
}
