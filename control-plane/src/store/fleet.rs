//! The latest health report of every edge (issue 18's regions page), in memory: edges send one
//! with every report (`AggregateBatch.health`, every `report_interval_ms`), so after a plane
//! restart each is back within one of its report intervals. Keyed by the edge's id, so a restarted edge (a new boot) replaces itself.

use std::collections::BTreeMap;

use sentientiq_proto::grpc::{EDGE_NAME_RULE, EdgeHealth, valid_edge_name};

use super::{Store, StoreError};

/// Edges kept at most: a report from a new edge past this is refused (a typo guard against a
/// misconfigured fleet inventing ids, not a business limit).
pub const MAX_EDGES: usize = 1_000;

/// An edge is shown stale after this many of its report intervals without a report (one late
/// report is normal: a report waits for the plane's acknowledgement).
pub const STALE_REPORTS: i64 = 3;
/// The interval assumed of an edge that does not say: the edges' default `report_interval_ms`.
pub const DEFAULT_REPORT_INTERVAL_MS: i64 = 60_000;

/// How long after its last report an edge is stale: [`STALE_REPORTS`] of its intervals.
pub fn stale_after_ms(h: &EdgeHealth) -> i64 {
    let every = match i64::try_from(h.report_interval_ms) {
        Ok(0) | Err(_) => DEFAULT_REPORT_INTERVAL_MS,
        Ok(ms) => ms,
    };
    every.saturating_mul(STALE_REPORTS)
}

/// Why [`Store::forget_edge`] forgot nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgetError {
    #[error("no report from edge {0} is held here")]
    NotHeld(String),
    /// Its last report is not stale: the edge is likely running (or its last report was just
    /// read), and would be back with its next report.
    #[error(
        "edge {edge} reported {} s ago and is not stale until {} s after its report: stop it \
         and wait, or force it (siqctl edges --forget {edge} --force)",
        age_ms / 1000,
        stale_after_ms / 1000
    )]
    Fresh {
        edge: String,
        age_ms: i64,
        stale_after_ms: i64,
    },
}

/// One edge's last report and when the plane received it (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub health: EdgeHealth,
    pub received_ms: i64,
}

pub(super) type Fleet = BTreeMap<String, Seen>;

impl Store {
    /// Keeps `h` as its edge's latest report.
    pub fn put_health(&self, mut h: EdgeHealth, received_ms: i64) -> Result<(), StoreError> {
        // An edge caps it before sending; one that did not (a bug, or not ours) is capped here.
        h.cap();
        if !valid_edge_name(&h.edge_id) || !valid_edge_name(&h.region) {
            return Err(StoreError::Invalid(format!(
                "an edge's health needs its edge id and region, each {EDGE_NAME_RULE}"
            )));
        }
        let mut f = self.fleet.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() >= MAX_EDGES && !f.contains_key(&h.edge_id) {
            return Err(StoreError::Invalid(format!(
                "the plane keeps the health of at most {MAX_EDGES} edges"
            )));
        }
        f.insert(
            h.edge_id.clone(),
            Seen {
                health: h,
                received_ms,
            },
        );
        Ok(())
    }

    /// Forgets `edge_id`'s last report (an edge decommissioned or renamed), and returns it: it
    /// is no longer listed, nor stale. Only a stale one unless `force`: a fresh report means a
    /// running edge (or one whose last report was just read), which would be back with its next
    /// report. Should it report again it is listed again, if there is room (`MAX_EDGES`).
    pub fn forget_edge(
        &self,
        edge_id: &str,
        now_ms: i64,
        force: bool,
    ) -> Result<Seen, ForgetError> {
        let mut f = self.fleet.lock().unwrap_or_else(|p| p.into_inner());
        let std::collections::btree_map::Entry::Occupied(x) = f.entry(edge_id.to_string()) else {
            return Err(ForgetError::NotHeld(edge_id.to_string()));
        };
        let age_ms = now_ms.saturating_sub(x.get().received_ms);
        let stale_after_ms = stale_after_ms(&x.get().health);
        if !force && age_ms <= stale_after_ms {
            return Err(ForgetError::Fresh {
                edge: edge_id.to_string(),
                age_ms,
                stale_after_ms,
            });
        }
        Ok(x.remove())
    }

    /// Every edge's last report, by region then edge id.
    pub fn fleet(&self) -> Vec<Seen> {
        let f = self.fleet.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<Seen> = f.values().cloned().collect();
        v.sort_by(|a, b| {
            (&a.health.region, &a.health.edge_id).cmp(&(&b.health.region, &b.health.edge_id))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(edge: &str, boot: u64) -> EdgeHealth {
        EdgeHealth {
            edge_id: edge.into(),
            region: if edge.starts_with("eu") {
                "eu-west-1".into()
            } else {
                "us-east-1".into()
            },
            report_id: sentientiq_proto::grpc::report_id(edge, boot),
            ..EdgeHealth::default()
        }
    }

    /// What an edge says it refuses is kept as capped, whatever it sent.
    #[test]
    fn refused_tenants_are_capped_on_receipt() -> anyhow::Result<()> {
        use sentientiq_proto::grpc::{MAX_HEALTH_TEXT, MAX_REFUSED_REPORTED, RefusedTenant};
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let mut h = health("use1", 1);
        h.refused_tenants = (0..MAX_REFUSED_REPORTED + 5)
            .map(|i| RefusedTenant {
                tenant_id: format!("t{i}"),
                reason: "x".repeat(10_000),
                kept: true,
            })
            .collect();
        h.refused_tenant_count = Some(21);
        store.put_health(h, 1)?;
        let kept = &store.fleet()[0].health;
        assert_eq!(kept.refused_tenants.len(), MAX_REFUSED_REPORTED);
        assert!(
            kept.refused_tenants
                .iter()
                .all(|r| r.reason.len() <= MAX_HEALTH_TEXT)
        );
        assert_eq!(kept.refused_tenant_count, Some(21));
        Ok(())
    }

    /// An edge's id and region key its report and show on the regions page: a report naming
    /// either out of the one rule is refused whole, and nothing of it is kept.
    #[test]
    fn a_report_whose_edge_id_or_region_breaks_the_rule_is_refused() -> anyhow::Result<()> {
        use sentientiq_proto::grpc::MAX_EDGE_NAME_LEN;
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let bad = [
            String::new(),
            "a".repeat(MAX_EDGE_NAME_LEN + 1),
            "a/b".into(),
            "a\u{1b}[2Jb".into(),
            "<b>".into(),
        ];
        for name in &bad {
            let mut h = health("use1", 1);
            h.edge_id.clone_from(name);
            let e = store.put_health(h, 1).expect_err("a bad id");
            assert!(e.to_string().contains(EDGE_NAME_RULE), "{e}");
            let mut h = health("use1", 1);
            h.region.clone_from(name);
            assert!(store.put_health(h, 1).is_err(), "a bad region {name:?}");
        }
        assert!(store.fleet().is_empty());
        let mut h = health(&"a".repeat(MAX_EDGE_NAME_LEN), 1);
        h.region = "b".repeat(MAX_EDGE_NAME_LEN);
        store.put_health(h, 1)?;
        assert_eq!(store.fleet().len(), 1, "at the cap");
        Ok(())
    }

    /// What an edge writes as text reaches the page and the terminal without its control
    /// characters, however it was sent.
    #[test]
    fn control_characters_in_an_edges_text_are_shown_as_question_marks() -> anyhow::Result<()> {
        use sentientiq_proto::grpc::RefusedTenant;
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let mut h = health("use1", 1);
        h.report_id = "use1@1\u{7}".into();
        h.build = "0.1\u{1b}[31m\u{85}".into();
        h.refused_tenants = vec![RefusedTenant {
            tenant_id: "t\r\n".into(),
            reason: "bad\u{0}\ttab é…".into(),
            kept: false,
        }];
        store.put_health(h, 1)?;
        let kept = &store.fleet()[0].health;
        assert_eq!(kept.report_id, "use1@1?");
        assert_eq!(kept.build, "0.1?[31m?");
        assert_eq!(kept.refused_tenants[0].tenant_id, "t??");
        assert_eq!(kept.refused_tenants[0].reason, "bad??tab é…");
        Ok(())
    }

    #[test]
    fn the_latest_report_per_edge_is_kept_up_to_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        s.put_health(health("us-1", 1), 10).expect("put");
        s.put_health(health("eu-1", 1), 11).expect("put");
        // A restart: the new boot replaces the old one's report.
        s.put_health(health("us-1", 2), 12).expect("put");
        let f = s.fleet();
        let ids: Vec<(&str, &str, i64)> = f
            .iter()
            .map(|x| {
                (
                    x.health.region.as_str(),
                    x.health.report_id.as_str(),
                    x.received_ms,
                )
            })
            .collect();
        assert_eq!(
            ids,
            [("eu-west-1", "eu-1@1", 11), ("us-east-1", "us-1@2", 12)]
        );
        assert!(s.put_health(EdgeHealth::default(), 1).is_err(), "no id");
        // Up to the cap: cap − 1 and cap edges are kept, cap + 1 is refused, and a known
        // edge still reports at the cap.
        for i in 2..MAX_EDGES - 1 {
            s.put_health(health(&format!("us-{i}"), 1), 13)
                .expect("under the cap");
        }
        assert_eq!(s.fleet().len(), MAX_EDGES - 1);
        s.put_health(health("us-last", 1), 14).expect("the cap");
        assert_eq!(s.fleet().len(), MAX_EDGES);
        assert!(s.put_health(health("us-over", 1), 15).is_err(), "cap + 1");
        s.put_health(health("us-1", 3), 16).expect("a known edge");
        assert_eq!(s.fleet().len(), MAX_EDGES);
        // Forgotten: only once stale (its interval is the default, 60 s: stale past 180 s)
        // unless forced; it makes room, and is listed again with its next report if there is
        // room then, not if another edge took it.
        let stale = 16 + 180_000;
        assert_eq!(
            s.forget_edge("us-1", stale, false),
            Err(ForgetError::Fresh {
                edge: "us-1".into(),
                age_ms: 180_000,
                stale_after_ms: 180_000
            })
        );
        let gone = s.forget_edge("us-1", stale + 1, false).expect("stale");
        assert_eq!(gone.health.report_id, "us-1@3");
        assert_eq!(
            s.forget_edge("us-1", stale + 1, false),
            Err(ForgetError::NotHeld("us-1".into()))
        );
        assert_eq!(s.fleet().len(), MAX_EDGES - 1);
        assert!(s.fleet().iter().all(|x| x.health.edge_id != "us-1"));
        s.put_health(health("us-1", 4), 17)
            .expect("back with its next report");
        s.forget_edge("us-1", 17, true).expect("forced: fresh");
        s.put_health(health("us-over", 1), 18).expect("room again");
        assert!(s.put_health(health("us-1", 5), 19).is_err(), "no room now");
    }
}
