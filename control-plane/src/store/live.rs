//! The newest detections per tenant, in memory, for the dashboard's live feed (issue 18): edges
//! send them with each report (every `report_interval_ms`) (`AggregateBatch.detections`); each gets a sequence number, and
//! a feed asks for those after the last it showed. Nothing here is counted anywhere: the
//! counts are the windows'. A plane restart starts the feed empty.

use std::collections::{HashMap, VecDeque};

use sentientiq_proto::grpc::{DetectionEvent, valid_edge_name};

use super::{Store, StoreError};

/// Detections kept per tenant: the newest ones (a feed shows at most 200 rows).
pub const MAX_RECENT: usize = 200;

#[derive(Debug, Default)]
pub(super) struct Live {
    next: u64,
    by_tenant: HashMap<String, VecDeque<(u64, DetectionEvent)>>,
}

impl Store {
    /// Keeps `ds` (of tenants that exist, from an edge and region named as an edge's config
    /// names them: `grpc::valid_edge_name`) as their tenants' newest detections and rings the
    /// bell; returns how many were not kept (unknown tenants, names outside the rule).
    pub fn put_detections(&self, ds: Vec<DetectionEvent>) -> Result<usize, StoreError> {
        if ds.is_empty() {
            return Ok(0);
        }
        let mut known: HashMap<String, bool> = HashMap::new();
        for d in &ds {
            if !known.contains_key(&d.tenant_id) {
                let e = self.stored_tenant(&d.tenant_id)?.is_some();
                known.insert(d.tenant_id.clone(), e);
            }
        }
        let mut skipped = 0;
        let last = {
            let mut l = self.live.lock().unwrap_or_else(|p| p.into_inner());
            for d in ds {
                if !known.get(&d.tenant_id).copied().unwrap_or(false)
                    || !valid_edge_name(&d.edge_id)
                    || !valid_edge_name(&d.region)
                {
                    skipped += 1;
                    continue;
                }
                l.next += 1;
                let n = l.next;
                let q = l.by_tenant.entry(d.tenant_id.clone()).or_default();
                if q.len() >= MAX_RECENT {
                    q.pop_front();
                }
                q.push_back((n, d));
            }
            l.next
        };
        self.live_bell.send_replace(last);
        Ok(skipped)
    }

    /// `tenant`'s kept detections numbered above `after`, oldest first.
    pub fn detections_after(&self, tenant: &str, after: u64) -> Vec<(u64, DetectionEvent)> {
        let l = self.live.lock().unwrap_or_else(|p| p.into_inner());
        l.by_tenant.get(tenant).map_or_else(Vec::new, |q| {
            q.iter().filter(|(n, _)| *n > after).cloned().collect()
        })
    }

    /// Changes whenever detections are kept.
    pub fn detection_bell(&self) -> tokio::sync::watch::Receiver<u64> {
        self.live_bell.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::grpc::Tenant;

    fn det(tenant: &str, sid: &str) -> DetectionEvent {
        DetectionEvent {
            tenant_id: tenant.into(),
            sid: sid.into(),
            emotion: "rage".into(),
            region: "us-east-1".into(),
            edge_id: "use1-a".into(),
            ..DetectionEvent::default()
        }
    }

    #[test]
    fn a_detection_from_an_edge_or_region_named_outside_the_rule_is_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        s.create_tenant(Tenant {
            id: "acme".into(),
            ..Tenant::default()
        })
        .expect("tenant");
        let named = |region: &str, edge: &str| DetectionEvent {
            region: region.into(),
            edge_id: edge.into(),
            ..det("acme", &format!("{region}/{edge}"))
        };
        let sent = vec![
            named("us-east-1", "use1-a"),
            named("", "use1-a"),
            named("us-east-1", ""),
            named("us/east", "use1-a"),
            named("us-east-1", "use1-a@1"),
            named("us-east-1", "use1\u{1b}a"),
        ];
        assert_eq!(s.put_detections(sent).expect("put"), 5);
        let kept: Vec<String> = s
            .detections_after("acme", 0)
            .into_iter()
            .map(|(_, d)| d.sid)
            .collect();
        assert_eq!(kept, ["us-east-1/use1-a"]);
    }

    #[test]
    fn a_tenant_keeps_its_newest_detections_numbered_and_others_see_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        for t in ["acme", "globex"] {
            s.create_tenant(Tenant {
                id: t.into(),
                ..Tenant::default()
            })
            .expect("tenant");
        }
        let bell = s.detection_bell();
        assert_eq!(
            s.put_detections(vec![
                det("acme", "a1"),
                det("ghost", "g1"),
                det("globex", "x1")
            ])
            .expect("put"),
            1,
            "an unknown tenant's is not kept"
        );
        assert!(bell.has_changed().expect("bell"));
        let got = s.detections_after("acme", 0);
        assert_eq!(got.len(), 1);
        assert_eq!(s.detections_after("acme", got[0].0), []);
        assert_eq!(s.detections_after("ghost", 0), []);
        // At the cap the oldest goes: cap − 1, cap and cap + 1 detections kept as 199, 200, 200.
        let more: Vec<DetectionEvent> = (0..MAX_RECENT - 2)
            .map(|i| det("acme", &format!("b{i}")))
            .collect();
        s.put_detections(more).expect("put");
        assert_eq!(s.detections_after("acme", 0).len(), MAX_RECENT - 1);
        s.put_detections(vec![det("acme", "c")]).expect("put");
        assert_eq!(s.detections_after("acme", 0).len(), MAX_RECENT);
        s.put_detections(vec![det("acme", "d")]).expect("put");
        let all = s.detections_after("acme", 0);
        assert_eq!(all.len(), MAX_RECENT);
        assert_eq!(all[0].1.sid, "b0", "the first one went");
        assert_eq!(all.last().map(|x| x.1.sid.as_str()), Some("d"));
        assert_eq!(s.detections_after("globex", 0).len(), 1);
    }
}
