//! Escalations in the spool at start: each is an `actions` row (`action = "escalate"`),
//! durable with the frame that made it. One that no stored alert took (the edge stopped
//! between the frame's ack and the alert's first write) is paged now; the store recognises the
//! others by id ([`super::Escalation::alert_id`]). Pure.

use std::collections::HashMap;
use std::sync::Arc;

use sentientiq_lake::{ActionRow, DetectionRow};

use super::Escalation;
use crate::storage::spool::{self, Record};

/// The escalations among `records`, with what their detections add (page, physics).
pub fn escalations(records: &[Record]) -> Vec<Escalation> {
    let mut dets: HashMap<(&str, &str, u32), DetectionRow> = HashMap::new();
    for r in records.iter().filter(|r| r.kind == spool::KIND_DETECTION) {
        if let Ok(d) = serde_json::from_slice::<DetectionRow>(&r.frame) {
            dets.insert((r.tenant.as_str(), r.sid.as_str(), d.n), d);
        }
    }
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.kind == spool::KIND_ACTION) {
        let Ok(a) = serde_json::from_slice::<ActionRow>(&r.frame) else {
            continue;
        };
        if a.action != "escalate" {
            continue;
        }
        let Some(n) = a.id.strip_prefix('i').and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let det = a
            .detection
            .and_then(|n| dets.get(&(r.tenant.as_str(), r.sid.as_str(), n)));
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
            tenant: Arc::from(r.tenant.as_str()),
            sid: r.sid.clone(),
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
            at_ms: r.recv_ms,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let v = escalations(&records);
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
