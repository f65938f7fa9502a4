//! What every shard of one edge process shares: settings, the tenant directory, the identity
//! store, the spool's shared counters, metrics and the control link. Read-only but for atomics
//! each writer owns (a shard its metrics, the control thread the directory and its status).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::{EdgeSection, LakeSection};
use crate::control::{Priors, Quotas, Reports, Status};
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
    /// This month's events per tenant (this boot's shards and the plane's other boots): what
    /// shards check tenants' hard quotas against.
    pub quotas: Arc<Quotas>,
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
    /// Whether shard `shard` holds fewer open connections than `max_connections_per_shard`:
    /// what a new connection (accepted there, or handed to it) needs.
    pub fn has_room(&self, shard: usize) -> bool {
        self.metrics.get(shard).is_some_and(|m| {
            (m.connections.load(Ordering::Relaxed) as usize) < self.edge.max_connections_per_shard
        })
    }

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
        // Tenants with a hard quota: this month's events as shards check them (without the
        // events shards accepted since their last hand-over, at most a second's).
        let tenants = self.tenants.load();
        let month = sentientiq_proto::month_of_day((crate::clock::now_ms() / 86_400_000) as i64);
        e.family(
            "siq_quota_month_events",
            "A tenant with a hard quota: its events this UTC month, this boot's and the plane's \
             count of every other edge boot.",
            crate::telemetry::Kind::Gauge,
        );
        for t in tenants.list.iter().filter(|t| t.quota.hard.is_some()) {
            e.sample(
                "siq_quota_month_events",
                &[("tenant", &t.id)],
                self.quotas.view(&t.id, month),
            );
        }
        if let Some(a) = &self.alerts {
            a.metrics.render(&mut e);
        }
        e.finish()
    }
}
