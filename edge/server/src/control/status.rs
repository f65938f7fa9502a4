//! The link's health, for `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use sentientiq_proto::grpc::RefusedTenant;

use super::reports::Reports;
use crate::telemetry::{Exposition, Kind};

/// Health of the link, written by the control thread.
#[derive(Debug, Default)]
pub struct Status {
    pub connected: AtomicBool,
    pub version: AtomicU64,
    pub applied: AtomicU64,
    pub rejected_tenants: AtomicU64,
    pub reports_acked: AtomicU64,
    pub report_failures: AtomicU64,
    /// Experiment totals received from the plane.
    pub priors: AtomicU64,
    /// The tenants of the version served that this edge could not use, replaced whenever the
    /// tenants are applied.
    pub refused: Mutex<Vec<RefusedTenant>>,
}

impl Status {
    /// After tenants are applied (`when`: the log's message): logs each refused tenant,
    /// counts them (`siq_control_tenants_refused_total`) and replaces the list the health
    /// report names.
    pub fn record_refused(&self, bad: &[RefusedTenant], when: &str) {
        for r in bad {
            let served = match r.kept {
                true => "its previous version stays",
                false => "not served",
            };
            tracing::error!(tenant = %r.tenant_id, reason = %r.reason, served, "{when}");
        }
        self.rejected_tenants.fetch_add(bad.len() as u64, Relaxed);
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = bad.to_vec();
    }

    fn refused(&self) -> Vec<RefusedTenant> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The link's families (`reports`: `None` without a control plane).
    pub fn render(&self, e: &mut Exposition, reports: Option<&Reports>) {
        let pending = reports.map_or(0, |r| r.pending_len() as u64);
        let dropped = reports.map_or(0, |r| r.dropped());
        for (name, help, kind, v) in [
            (
                "siq_control_connected",
                "1 while the edge follows the control plane's config stream.",
                Kind::Gauge,
                u64::from(self.connected.load(Relaxed)),
            ),
            (
                "siq_control_config_version",
                "The control-plane config version this edge serves.",
                Kind::Gauge,
                self.version.load(Relaxed),
            ),
            (
                "siq_control_versions_applied_total",
                "Config versions made durable and live.",
                Kind::Counter,
                self.applied.load(Relaxed),
            ),
            (
                "siq_control_tenants_refused_total",
                "Tenants from the plane this edge could not use (logged).",
                Kind::Counter,
                self.rejected_tenants.load(Relaxed),
            ),
            (
                "siq_control_windows_acked_total",
                "Aggregate windows the plane acknowledged.",
                Kind::Counter,
                self.reports_acked.load(Relaxed),
            ),
            (
                "siq_control_report_failures_total",
                "Aggregate reports not (fully) acknowledged; their windows go again.",
                Kind::Counter,
                self.report_failures.load(Relaxed),
            ),
            (
                "siq_control_experiment_totals_received_total",
                "Sets of other edges' experiment counts received from the plane (each whole, its parts gathered).",
                Kind::Counter,
                self.priors.load(Relaxed),
            ),
            (
                "siq_control_windows_pending",
                "Aggregate windows waiting for an acknowledgement.",
                Kind::Gauge,
                pending,
            ),
            (
                "siq_control_windows_dropped_total",
                "Aggregate windows dropped because too many were waiting.",
                Kind::Counter,
                dropped,
            ),
        ] {
            e.single(name, help, kind, v);
        }
    }
}

/// The edge's health as the plane's regions page shows it ([`EdgeHealth`]).
///
/// [`EdgeHealth`]: sentientiq_proto::grpc::EdgeHealth
pub fn health(
    link: &super::Link,
    now_ms: u64,
    report_interval: std::time::Duration,
) -> sentientiq_proto::grpc::EdgeHealth {
    let sum = |f: &dyn Fn(&crate::telemetry::ShardMetrics) -> u64| -> u64 {
        link.shard_metrics.iter().map(|m| f(m)).sum()
    };
    let lake = &link.lake_metrics;
    let mut h = sentientiq_proto::grpc::EdgeHealth {
        edge_id: link.edge_id.clone(),
        region: link.region.clone(),
        report_id: link.report_id.clone(),
        config_version: link.status.version.load(Relaxed),
        following: link.status.connected.load(Relaxed),
        sent_ms: now_ms as i64,
        live_sessions: sum(&|m| m.sessions.load(Relaxed)),
        frames: sum(&|m| m.frames.load(Relaxed)),
        errors: sum(&|m| m.errors.iter().map(|e| e.load(Relaxed)).sum()),
        spool_backlog_bytes: link.spool.backlog.iter().map(|b| b.load(Relaxed)).sum(),
        lake_backlog_age_s: lake.backlog_age_s.load(Relaxed),
        lake_files: lake.files.load(Relaxed),
        lake_errors: lake.errors.load(Relaxed),
        spool_writable: link.spool.writable.iter().all(|w| w.load(Relaxed)),
        windows_pending: link.reports.pending_len() as u64,
        build: env!("CARGO_PKG_VERSION").to_string(),
        report_interval_ms: report_interval.as_millis() as u64,
        refused_tenants: link.status.refused(),
        // This edge reports refusals: `cap` counts the list, then keeps its first 16.
        refused_tenant_count: Some(0),
    };
    h.cap();
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refused_tenants_are_replaced_not_added_and_counted() {
        let r = |id: &str| RefusedTenant {
            tenant_id: id.into(),
            reason: "why".into(),
            kept: false,
        };
        let s = Status::default();
        s.record_refused(&[r("a"), r("b")], "test");
        s.record_refused(&[r("b")], "test");
        assert_eq!(s.refused(), [r("b")]);
        s.record_refused(&[], "test");
        assert!(s.refused().is_empty());
        assert_eq!(s.rejected_tenants.load(Relaxed), 3, "every refusal made");
    }
}
