//! The link's health, for `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

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
    /// The tenants of the version served that this edge could not use, as logged
    /// (`id: why (…)`), replaced whenever the tenants are applied.
    pub refused: Mutex<Vec<String>>,
}

/// Refused tenants named in one health report, at most (the rest are counted): a fleet with
/// many is told to read the edge's log, and a report stays small (16 × 300 bytes).
pub const MAX_REFUSED_REPORTED: usize = 16;
/// Bytes of one refused tenant's line in a report, at most (an id of up to 64 bytes and a
/// reason; longer reasons are cut on a character boundary, ending in `…`).
pub const MAX_REFUSED_LINE: usize = 300;

/// What one health report says of the refused tenants: the first [`MAX_REFUSED_REPORTED`]
/// lines, each cut at [`MAX_REFUSED_LINE`] bytes, and how many there are.
pub fn reported_refusals(refused: &[String]) -> (Vec<String>, u32) {
    let lines = refused
        .iter()
        .take(MAX_REFUSED_REPORTED)
        .map(|l| {
            if l.len() <= MAX_REFUSED_LINE {
                return l.clone();
            }
            let mut end = MAX_REFUSED_LINE - '…'.len_utf8();
            while !l.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &l[..end])
        })
        .collect();
    (lines, u32::try_from(refused.len()).unwrap_or(u32::MAX))
}

impl Status {
    /// Replaces the refused tenants (after the tenants are applied).
    pub fn set_refused(&self, bad: &[String]) {
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = bad.to_vec();
    }

    fn refused(&self) -> Vec<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Status {
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
                "Updates of other edges' experiment counts received from the plane.",
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
    let (refused_tenants, refused_tenant_count) = reported_refusals(&link.status.refused());
    sentientiq_proto::grpc::EdgeHealth {
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
        refused_tenants,
        refused_tenant_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_at_most_16_refused_tenants_and_counts_them_all() {
        let lines = |n: usize| -> Vec<String> {
            (0..n).map(|i| format!("t{i}: why (not served)")).collect()
        };
        for n in [
            0,
            MAX_REFUSED_REPORTED - 1,
            MAX_REFUSED_REPORTED,
            MAX_REFUSED_REPORTED + 1,
        ] {
            let (shown, count) = reported_refusals(&lines(n));
            assert_eq!(shown.len(), n.min(MAX_REFUSED_REPORTED), "{n}");
            assert_eq!(count as usize, n);
            assert_eq!(shown, lines(n)[..shown.len()], "the first, as logged");
        }
    }

    #[test]
    fn a_long_line_is_cut_on_a_character_boundary() {
        let at = |len: usize| "é".repeat(len / 2) + &"x".repeat(len % 2);
        for len in [MAX_REFUSED_LINE - 1, MAX_REFUSED_LINE] {
            let (shown, _) = reported_refusals(&[at(len)]);
            assert_eq!(shown, [at(len)], "{len}: kept whole");
        }
        for len in [MAX_REFUSED_LINE + 1, MAX_REFUSED_LINE + 2, 5000] {
            let (shown, _) = reported_refusals(&[at(len)]);
            assert!(shown[0].len() <= MAX_REFUSED_LINE, "{len}");
            assert!(shown[0].ends_with('…'), "{len}");
            assert!(
                shown[0].len() >= MAX_REFUSED_LINE - 4,
                "{len}: cut no shorter than needed"
            );
        }
    }

    #[test]
    fn the_refused_tenants_are_replaced_not_added() {
        let s = Status::default();
        s.set_refused(&["a: x (not served)".into(), "b: y (not served)".into()]);
        s.set_refused(&["b: y (not served)".into()]);
        assert_eq!(s.refused(), ["b: y (not served)"]);
        s.set_refused(&[]);
        assert!(s.refused().is_empty());
    }
}
