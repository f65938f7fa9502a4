//! What every shard of one edge process shares: settings, the tenant directory, the identity
//! store, the spool's shared counters, metrics and the control link. Read-only but for atomics
//! each writer owns (a shard its metrics, the control thread the directory and its status).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::{EdgeSection, LakeSection};
use crate::control::{Priors, Reports, Status};
use crate::storage::SpoolShare;
use crate::storage::identity::IdentityStore;
use crate::telemetry::{Exposition, LakeMetrics, ShardMetrics};
use crate::tenants::Directory;

#[derive(Debug)]
pub struct Node {
    pub edge: EdgeSection,
    pub lake: LakeSection,
    pub tenants: Arc<Directory>,
    pub nshards: usize,
    pub metrics: Vec<Arc<ShardMetrics>>,
    pub identity: Arc<IdentityStore>,
    pub shutdown: Arc<AtomicBool>,
    pub ready: AtomicUsize,
    pub spool: Arc<SpoolShare>,
    pub lake_metrics: Arc<LakeMetrics>,
    /// The control-plane link's state (all zero without `[control]`).
    pub control: Arc<Status>,
    /// Window aggregates waiting to be reported (`None` without a control plane: shards drop
    /// their windows as they close).
    pub reports: Option<Arc<Reports>>,
    /// Every shard's experiment counts of this boot and the plane's totals of other boots:
    /// what shards draw assignments from (always kept: shards share it even without a plane).
    pub priors: Arc<Priors>,
    /// When this process started (ms): part of the id it reports aggregates under.
    pub boot_ms: u64,
    /// The experiments' seed: `[edge] experiment_seed`, else `boot_ms`.
    pub experiment_seed: u64,
    /// Set once every shard has stopped (their last windows are handed over by then).
    pub shards_stopped: Arc<AtomicBool>,
    /// Alert delivery (the `alerts` thread, the link page's state).
    pub alerts: Option<Arc<crate::alerts::Handle>>,
}

impl Node {
    /// Every shard serves, and every shard's spool can be written.
    pub fn all_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) == self.nshards
            && self
                .spool
                .writable
                .iter()
                .all(|w| w.load(Ordering::Relaxed))
    }

    /// The edge id aggregates are reported under: `id@boot_ms`. The plane keeps one window per
    /// (tenant, region, edge, minute), so a restarted edge must not overwrite what the previous
    /// process reported for the same minute; with its own id, both are kept and summed.
    pub fn report_edge_id(&self) -> String {
        format!("{}@{}", self.edge.id, self.boot_ms)
    }

    /// `/metrics`: every family of this edge.
    pub fn render_metrics(&self) -> String {
        let mut e = Exposition::new(&[("edge", &self.edge.id), ("region", &self.edge.region)]);
        crate::telemetry::render_shards(&mut e, &self.metrics);
        crate::telemetry::render_lake(&mut e, &self.lake_metrics);
        self.control.render(&mut e, self.reports.as_deref());
        e.single(
            "siq_experiment_sessions_known",
            "Experiment assignments the draws know of: every shard's of this boot plus the \
             plane's totals of every other edge boot.",
            crate::telemetry::Kind::Gauge,
            self.priors.sessions_known(),
        );
        if let Some(a) = &self.alerts {
            a.metrics.render(&mut e);
        }
        e.finish()
    }
}
