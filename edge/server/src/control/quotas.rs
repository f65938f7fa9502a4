//! This month's events per tenant, as the edge knows them, for the tenants' quotas (issue 18,
//! docs/METERING.md). Like [`super::Priors`]: every shard hands over what it accepted each
//! second, and the plane sends every *other* edge boot's count in the config stream; a shard
//! refuses against both plus its own count since its last hand-over, so each event is counted
//! once.
//!
//! Each part is kept with the month it is for (months since 1970-01): a part of another month
//! counts as zero, so a new month starts every tenant from nothing. Without a plane, only this
//! boot's count is known (a restart forgets it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sentientiq_proto::grpc::QuotaUsage;

#[derive(Debug, Default, Clone, Copy)]
struct Part {
    month: i64,
    events: u64,
}

impl Part {
    fn of(&self, month: i64) -> u64 {
        if self.month == month { self.events } else { 0 }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Tenant → this boot's shards' events.
    boot: HashMap<Arc<str>, Part>,
    /// Tenant → every other edge boot's, from the plane.
    plane: HashMap<Arc<str>, Part>,
}

#[derive(Debug, Default)]
pub struct Quotas {
    inner: Mutex<Inner>,
}

impl Quotas {
    /// A shard that panicked holding the lock left whole updates: the counts are used.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A shard accepted `events` more of `tenant`'s in `month`.
    pub fn add(&self, tenant: &Arc<str>, month: i64, events: u64) {
        let mut g = self.lock();
        let p = g.boot.entry(tenant.clone()).or_default();
        if p.month != month {
            *p = Part { month, events: 0 };
        }
        p.events = p.events.saturating_add(events);
    }

    /// `tenant`'s events in `month` that a shard refuses against (with its own since its last
    /// hand-over): this boot's shards and the plane's other boots.
    pub fn view(&self, tenant: &Arc<str>, month: i64) -> u64 {
        let g = self.lock();
        let mine = g.boot.get(tenant).map_or(0, |p| p.of(month));
        let others = g.plane.get(tenant).map_or(0, |p| p.of(month));
        mine.saturating_add(others)
    }

    /// Replaces the plane's part with `usage` of `month` (a tenant left out has none).
    pub fn set_plane(&self, month: i64, usage: &[QuotaUsage]) {
        let plane = usage
            .iter()
            .map(|u| {
                (
                    Arc::from(u.tenant_id.as_str()),
                    Part {
                        month,
                        events: u.events,
                    },
                )
            })
            .collect();
        self.lock().plane = plane;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_adds_this_boot_and_the_plane_of_the_same_month_only() {
        let q = Quotas::default();
        let acme: Arc<str> = Arc::from("acme");
        let other: Arc<str> = Arc::from("globex");
        q.add(&acme, 683, 10);
        q.add(&acme, 683, 5);
        assert_eq!(q.view(&acme, 683), 15);
        assert_eq!(q.view(&other, 683), 0);
        q.set_plane(
            683,
            &[QuotaUsage {
                tenant_id: "acme".into(),
                events: 100,
            }],
        );
        assert_eq!(q.view(&acme, 683), 115);
        // The plane's next figure replaces its last (it is a total, not a gain).
        q.set_plane(
            683,
            &[QuotaUsage {
                tenant_id: "acme".into(),
                events: 120,
            }],
        );
        assert_eq!(q.view(&acme, 683), 135);
        // A new month: the old counts are not this month's.
        assert_eq!(q.view(&acme, 684), 0);
        q.add(&acme, 684, 3);
        assert_eq!(q.view(&acme, 684), 3, "the boot part restarted");
        assert_eq!(q.view(&acme, 683), 120, "only the plane's November is left");
        q.set_plane(684, &[]);
        assert_eq!(q.view(&acme, 684), 3);
    }
}
