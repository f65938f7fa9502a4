//! What every shard of this edge draws its experiment assignments from, beyond its own fresh
//! counts (issue 17, "posteriors are global"): the counts of every shard of this boot (handed
//! over every second), plus the plane's totals of every *other* edge boot (sent in the config
//! stream). The plane leaves this boot's own reports out of what it sends here, and shards hand
//! over only what they gained since their last hand-over, so each count is in a draw once.
//!
//! Without a plane, or while it is unreachable, the plane part stays what it last was (empty at
//! start) and the edge keeps drawing from what it has.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sentientiq_experiments::ExperimentCounts;
use sentientiq_proto::grpc::ExperimentTotals;

use crate::tenants::Tenants;

type Rule = (Arc<str>, Arc<str>);

#[derive(Debug, Default)]
struct Inner {
    /// (tenant, rule) → every shard's counts of this boot.
    boot: HashMap<Rule, ExperimentCounts>,
    /// (tenant, rule) → the plane's totals of every other edge boot.
    plane: HashMap<Rule, ExperimentCounts>,
}

#[derive(Debug, Default)]
pub struct Priors {
    inner: Mutex<Inner>,
}

impl Priors {
    /// A shard that panicked holding the lock left whole updates (each is one short insert or
    /// merge), so the counts are used, not dropped.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A shard's counts of `tenant`'s `rule` gained `d`.
    pub fn add(&self, tenant: &Arc<str>, rule: &Arc<str>, d: &ExperimentCounts) {
        self.lock()
            .boot
            .entry((tenant.clone(), rule.clone()))
            .or_default()
            .merge(d);
    }

    /// What a shard draws `tenant`'s `rule` from (with its own counts since its last
    /// hand-over): this boot's shards plus the plane's other boots.
    pub fn view(&self, tenant: &Arc<str>, rule: &Arc<str>) -> ExperimentCounts {
        let g = self.lock();
        let key = (tenant.clone(), rule.clone());
        let mine = g.boot.get(&key).copied().unwrap_or_default();
        g.plane.get(&key).map_or(mine, |p| mine.merged(p))
    }

    /// Sessions (assignments) in every draw's base: this boot's and the plane's, all rules.
    /// Every edge of a fleet shows the same number once the totals have gone round.
    pub fn sessions_known(&self) -> u64 {
        let g = self.lock();
        g.boot
            .values()
            .chain(g.plane.values())
            .map(|c| c.holdout.sessions.saturating_add(c.treated().sessions))
            .fold(0u64, u64::saturating_add)
    }

    /// Replaces the plane's part with `totals` (arms by variant id), mapped onto the arms of
    /// the experiments `tenants` run now; totals of a tenant or rule this edge does not run are
    /// left out. Returns how many (tenant, rule) totals were taken.
    pub fn set_plane(&self, tenants: &Tenants, totals: &[ExperimentTotals]) -> usize {
        let mut plane = HashMap::with_capacity(totals.len());
        for t in totals {
            let Some(i) = tenants.index_of(&t.tenant_id) else {
                continue;
            };
            let tenant = tenants.get(i);
            let Some((rule, x)) = tenant.experiments.get_key_value(t.rule.as_str()) else {
                continue;
            };
            let c = sentientiq_tenant::plane::counts_of(&x.experiment, &t.arms);
            plane.insert((tenant.id.clone(), rule.clone()), c);
        }
        let n = plane.len();
        self.lock().plane = plane;
        n
    }
}
