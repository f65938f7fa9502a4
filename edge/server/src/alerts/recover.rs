//! Escalations in the spool at start: each is an `actions` row (`action = "escalate"`),
//! durable with the frame that made it. One that no stored alert took (the edge stopped
//! between the frame's ack and the alert's first write) is paged now; the store recognises the
//! others by id ([`super::Escalation::alert_id`]). Pure.

use std::collections::HashMap;
use std::sync::Arc;

use sentientiq_lake::{ActionRow, DetectionRow};

use super::Escalation;
use crate::storage::spool::{self, RecordRef};

/// What an escalation takes from its detection.
#[derive(Debug)]
struct Det {
    page: Option<String>,
    speed: f64,
    dwell_ms: f64,
}

/// The escalations among the spool's records, given one at a time in spool order
/// ([`Escalations::push`]), with what their detections add (page, physics). It keeps only
/// detections and escalations, never the spool's frames.
#[derive(Debug, Default)]
pub struct Escalations {
    /// By (tenant, session, detection number).
    dets: HashMap<(Box<str>, Box<str>, u32), Det>,
    /// The escalate rows in order: tenant, session, when received, the row and its number.
    rows: Vec<(Box<str>, String, u64, ActionRow, u32)>,
}

impl Escalations {
    pub fn push(&mut self, r: RecordRef<'_>) {
        match r.kind {
            spool::KIND_DETECTION => {
                if let Ok(d) = serde_json::from_slice::<DetectionRow>(r.frame) {
                    let det = Det {
                        page: d.page,
                        speed: d.speed,
                        dwell_ms: d.dwell_ms,
                    };
                    self.dets.insert((r.tenant.into(), r.sid.into(), d.n), det);
                }
            }
            spool::KIND_ACTION => {
                let Ok(a) = serde_json::from_slice::<ActionRow>(r.frame) else {
                    return;
                };
                if a.action != "escalate" {
                    return;
                }
                let Some(n) = a.id.strip_prefix('i').and_then(|n| n.parse::<u32>().ok()) else {
                    return;
                };
                self.rows
                    .push((r.tenant.into(), r.sid.to_owned(), r.recv_ms, a, n));
            }
            _ => {}
        }
    }

    pub fn finish(self) -> Vec<Escalation> {
        let mut out = Vec::with_capacity(self.rows.len());
        for (tenant, sid, recv_ms, a, n) in self.rows {
            let det = a
                .detection
                .and_then(|d| self.dets.get(&(tenant.clone(), sid.as_str().into(), d)));
            let arc = |s: &Option<String>| s.as_deref().map(Arc::from);
            let mut evidence = Vec::new();
            if let Some(d) = det {
                evidence.push(("pointer speed".into(), format!("{:.0} px/s", d.speed)));
                evidence.push(("dwell".into(), format!("{:.0} ms", d.dwell_ms)));
            }
            evidence.push((
                "note".into(),
                "recovered from the spool after the edge restarted".into(),
            ));
            out.push(Escalation {
                tenant: Arc::from(&*tenant),
                sid,
                seq: a.seq,
                n,
                rule: Arc::from(a.rule.as_deref().unwrap_or("")),
                account: arc(&a.account),
                company: None,
                uid: arc(&a.user),
                value_cents: a.value_cents.unwrap_or(0),
                emotion: a.emotion.clone().unwrap_or_default(),
                confidence: a.confidence.unwrap_or(0.0),
                section: arc(&a.section),
                page: det.and_then(|d| d.page.as_deref().map(Arc::from)),
                evidence,
                at_ms: recv_ms,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::spool::Record;

    fn rec(kind: u8, sid: &str, seq: u64, body: &impl serde::Serialize) -> Record {
        Record {
            kind,
            recv_ms: 1_000 + seq,
            tenant: "acme".into(),
            sid: sid.into(),
            seq,
            frame: serde_json::to_vec(body).expect("json"),
        }
    }

    #[test]
    fn escalate_rows_become_escalations_with_their_detections_page() {
        let esc = ActionRow {
            id: "i2".into(),
            action: "escalate".into(),
            seq: 9,
            rule: Some("page".into()),
            emotion: Some("rage".into()),
            confidence: Some(0.9),
            detection: Some(3),
            user: Some("u1".into()),
            account: Some("Globex".into()),
            value_cents: Some(12_000_000),
            ..Default::default()
        };
        let iv = ActionRow {
            id: "i1".into(),
            action: "intervene".into(),
            ..esc.clone()
        };
        let det = DetectionRow {
            n: 3,
            emotion: "rage".into(),
            page: Some("/cart".into()),
            speed: 12.0,
            dwell_ms: 400.0,
            ..Default::default()
        };
        let records = vec![
            rec(spool::KIND_DETECTION, "s1", 9, &det),
            rec(spool::KIND_ACTION, "s1", 9, &iv),
            rec(spool::KIND_ACTION, "s1", 9, &esc),
            rec(spool::KIND_ACTION, "s2", 4, &esc),
        ];
        let mut e = Escalations::default();
        for r in &records {
            e.push(r.as_ref());
        }
        let v = e.finish();
        assert_eq!(v.len(), 2, "interventions are not escalations");
        assert_eq!((v[0].sid.as_str(), v[0].seq, v[0].n), ("s1", 9, 2));
        assert_eq!(v[0].page.as_deref(), Some("/cart"));
        assert_eq!(v[0].value_cents, 12_000_000);
        assert_eq!(v[0].at_ms, 1_009);
        assert_eq!(v[1].page, None, "s2 has no detection row");
        // The same escalation the shard would have made has the same id.
        let live = Escalation {
            evidence: vec![],
            page: None,
            ..v[0].clone()
        };
        assert_eq!(live.alert_id("e"), v[0].alert_id("e"));
    }
}
