//! This month's billable events per tenant and edge boot, kept in memory beside the stored
//! windows, for the tenants' quotas (issue 18, docs/METERING.md).
//!
//! [`Store::put_aggregates`] adds what each window gained over the stored window it replaces
//! (a re-sent window gains nothing), so the sums are the stored windows' sums, exactly. At open
//! they are rebuilt from the stored windows of the current and the previous month. An edge is
//! sent every other boot's sum ([`Store::quota_usage_for`]) and counts its own.

use std::collections::HashMap;

use sentientiq_proto::grpc::{QuotaUsage, WindowAggregate};
use sentientiq_proto::{month_first_day, month_of_day};

use super::{Store, StoreError, decode};

/// (tenant, month) → edge boot (`region \0 edge`) → events.
pub(super) type MonthSums = HashMap<(String, i64), HashMap<String, u64>>;

/// The month (months since 1970-01) of a window's minute.
pub fn month_of_minute(minute: i64) -> i64 {
    month_of_day(minute.div_euclid(1440))
}

pub(super) fn boot(w: &WindowAggregate) -> String {
    format!("{}\0{}", w.region, w.edge_id)
}

/// Adds what `w` gained over `before` (the window of the same key it replaces).
pub(super) fn add_gain(sums: &mut MonthSums, w: &WindowAggregate, before: Option<u64>) {
    let gain = w.events.saturating_sub(before.unwrap_or(0));
    if gain == 0 && before.is_some() {
        return;
    }
    let e = sums
        .entry((w.tenant_id.clone(), month_of_minute(w.minute)))
        .or_default()
        .entry(boot(w))
        .or_default();
    *e = e.saturating_add(gain);
}

impl Store {
    /// The sums of the stored windows of `month` and the month before.
    pub(super) fn load_month_sums(&self, month: i64) -> Result<MonthSums, StoreError> {
        let mut sums = MonthSums::new();
        let (from, to) = (
            month_first_day(month - 1) * 1440,
            month_first_day(month + 1) * 1440,
        );
        for t in self.stored_tenants()? {
            for w in self.aggregates(&t.id, from, to)? {
                add_gain(&mut sums, &w, None);
            }
        }
        Ok(sums)
    }

    pub(super) fn lock_month_sums(&self) -> std::sync::MutexGuard<'_, MonthSums> {
        self.month_sums.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `tenant`'s events in `month`, every edge boot.
    pub fn month_events(&self, tenant: &str, month: i64) -> u64 {
        self.lock_month_sums()
            .get(&(tenant.to_string(), month))
            .map_or(0, |b| b.values().fold(0, |a, n| a.saturating_add(*n)))
    }

    /// Every tenant's events in `month` from every edge boot but `report_id` (the asking
    /// boot's `edge@boot_ms`), sorted by tenant.
    pub fn quota_usage_for(&self, report_id: &str, month: i64) -> Vec<QuotaUsage> {
        let sums = self.lock_month_sums();
        let mut out: Vec<QuotaUsage> = sums
            .iter()
            .filter(|((_, m), _)| *m == month)
            .filter_map(|((tenant, _), boots)| {
                let events = boots
                    .iter()
                    .filter(|(b, _)| b.rsplit('\0').next() != Some(report_id))
                    .fold(0u64, |a, (_, n)| a.saturating_add(*n));
                (events > 0).then(|| QuotaUsage {
                    tenant_id: tenant.clone(),
                    events,
                })
            })
            .collect();
        out.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        out
    }

    /// The stored window of `w`'s key: its events.
    pub(super) fn stored_events(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf("aggregates"), key)?
            .map(|v| decode::<WindowAggregate>("window", &v))
            .transpose()?
            .map(|w| w.events))
    }
}

/// The first minute of `month`.
pub fn month_first_minute(month: i64) -> i64 {
    month_first_day(month) * 1440
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::grpc::Tenant;

    fn window(edge: &str, minute: i64, events: u64) -> WindowAggregate {
        WindowAggregate {
            tenant_id: "acme".into(),
            region: "us-east-1".into(),
            edge_id: edge.into(),
            minute,
            events,
            ..WindowAggregate::default()
        }
    }

    fn usage(s: &Store, report_id: &str, month: i64) -> Vec<(String, u64)> {
        s.quota_usage_for(report_id, month)
            .into_iter()
            .map(|u| (u.tenant_id, u.events))
            .collect()
    }

    #[test]
    fn month_sums_count_each_window_once_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
            / 60;
        let month = month_of_minute(now);
        let first = month_first_minute(month);
        {
            let s = Store::open(dir.path()).expect("open");
            s.create_tenant(Tenant {
                id: "acme".into(),
                ..Tenant::default()
            })
            .expect("tenant");
            // e1 reports a minute, then a larger total of it (and a repeat, and the same key
            // twice in one call); e2 reports once; a window of last month counts there.
            s.put_aggregates(&[window("e1@1", first, 10)]).expect("put");
            s.put_aggregates(&[window("e1@1", first, 15), window("e2@1", first, 7)])
                .expect("put");
            s.put_aggregates(&[window("e1@1", first, 15)])
                .expect("repeat");
            s.put_aggregates(&[window("e1@1", first + 1, 1), window("e1@1", first + 1, 3)])
                .expect("put");
            s.put_aggregates(&[window("e1@1", first - 1, 100)])
                .expect("last month");
            // A tenant that does not exist is not counted.
            let mut ghost = window("e1@1", first, 5);
            ghost.tenant_id = "ghost".into();
            s.put_aggregates(&[ghost]).expect("skipped");
            assert_eq!(s.month_events("acme", month), 25);
            assert_eq!(s.month_events("acme", month - 1), 100);
            assert_eq!(s.month_events("ghost", month), 0);
            // An edge boot is sent everyone else's count, not its own.
            assert_eq!(usage(&s, "", month), [("acme".to_string(), 25)]);
            assert_eq!(usage(&s, "e1@1", month), [("acme".to_string(), 7)]);
            assert_eq!(usage(&s, "e2@1", month), [("acme".to_string(), 18)]);
            assert_eq!(usage(&s, "e3@1", month + 1), []);
        }
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            s.month_events("acme", month),
            25,
            "rebuilt from the windows"
        );
        assert_eq!(s.month_events("acme", month - 1), 100);
        assert_eq!(usage(&s, "e1@1", month), [("acme".to_string(), 7)]);
    }
}
