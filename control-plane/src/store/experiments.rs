//! Experiment counts as edges report them (issue 17), and their merge.
//!
//! - `experiments`: tenant \0 minute rule \0 region \0 edge → [`ExperimentWindow`], one per
//!   (tenant, minute, rule, region, edge boot). An edge re-sends a window with a larger total;
//!   the stored one is replaced, so a repeat changes nothing (idempotent per window) and the
//!   order of arrival does not matter.
//! - In memory: per (tenant, rule) and edge boot, the sum of that boot's windows, arms by
//!   variant id. Rebuilt from the column family at open; kept in step on every put by adding
//!   what a window gained over the one it replaces. Integer sums: exact and order-free.
//!
//! What edges draw from ([`Store::experiment_totals_for`]) is every boot's sum but the asking
//! boot's own (it counts those itself). Forensics read a minute range from disk
//! ([`Store::experiment_windows`]).

use std::collections::{BTreeMap, HashMap};

use prost::Message;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use sentientiq_experiments::ArmCounts;
use sentientiq_proto::grpc::{ArmTally, ExperimentTotals, ExperimentWindow};
use sentientiq_tenant::plane::{arm_counts, arm_tally};

use super::{Skipped, Store, StoreError, decode, key2, minute_key};

/// Arms per reported window at most: the holdout and `sentientiq_experiments::MAX_VARIANTS`
/// variants (a window naming more is refused).
pub const MAX_ARMS: usize = 1 + sentientiq_experiments::MAX_VARIANTS;

/// (tenant, rule) → edge boot (`region \0 edge`) → variant id ("" holdout) → counts.
pub(super) type Sums = HashMap<(String, String), HashMap<String, BTreeMap<String, ArmCounts>>>;

fn window_key(w: &ExperimentWindow) -> Vec<u8> {
    let mut k = key2(&w.tenant_id, "");
    k.extend_from_slice(&minute_key(w.minute));
    k.extend_from_slice(w.rule.as_bytes());
    k.push(0);
    k.extend_from_slice(w.region.as_bytes());
    k.push(0);
    k.extend_from_slice(w.edge_id.as_bytes());
    k
}

fn boot(w: &ExperimentWindow) -> String {
    format!("{}\0{}", w.region, w.edge_id)
}

/// The names of every window's edge boot (`check_boot`): one outside the edge rules refuses
/// the batch (a misnamed edge's), before anything of it is written.
pub fn check_boots(windows: &[ExperimentWindow]) -> Result<(), StoreError> {
    for w in windows {
        super::check_boot(&w.region, &w.edge_id)
            .map_err(|e| StoreError::Invalid(format!("an experiment window's {e}")))?;
    }
    Ok(())
}

/// The one check of a reported window. Its tenant and rule are ids as tenants name them, its
/// arms the holdout (`""`) or variant ids (`sentientiq_experiments::check_id`): so a window, and
/// the totals edges are sent of it, is bounded (ids of at most 64 bytes, [`MAX_ARMS`] arms).
pub fn check_window(w: &ExperimentWindow) -> Result<(), StoreError> {
    let shown = sentientiq_proto::shown_name;
    for (field, id) in [("tenant", &w.tenant_id), ("rule", &w.rule)] {
        if !sentientiq_tenant::valid_id(id) {
            return Err(StoreError::Invalid(format!(
                "an experiment window's {field} {}: 1 to {} of a-z 0-9 _ -",
                shown(id),
                sentientiq_tenant::MAX_ID_LEN
            )));
        }
    }
    if let Some((a, e)) = w
        .arms
        .iter()
        .filter(|a| !a.variant.is_empty())
        .find_map(|a| {
            sentientiq_experiments::check_id(&a.variant)
                .err()
                .map(|e| (a, e))
        })
    {
        return Err(StoreError::Invalid(format!(
            "an experiment window's variant {} {e}",
            shown(&a.variant)
        )));
    }
    if w.arms.len() > MAX_ARMS {
        return Err(StoreError::Invalid(format!(
            "an experiment window has at most {MAX_ARMS} arms, not {}",
            w.arms.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if !w.arms.iter().all(|a| seen.insert(a.variant.as_str())) {
        return Err(StoreError::Invalid(
            "an experiment window names an arm twice".into(),
        ));
    }
    Ok(())
}

/// Adds `w`'s arms minus `old`'s (what the window gained) to `sums`.
fn add_gain(sums: &mut Sums, w: &ExperimentWindow, old: Option<&ExperimentWindow>) {
    let arms = sums
        .entry((w.tenant_id.clone(), w.rule.clone()))
        .or_default()
        .entry(boot(w))
        .or_default();
    for a in &w.arms {
        let before = old
            .and_then(|o| o.arms.iter().find(|b| b.variant == a.variant))
            .map(arm_counts)
            .unwrap_or_default();
        arms.entry(a.variant.clone())
            .or_default()
            .merge(&arm_counts(a).since(&before));
    }
}

/// Sums arms by variant id into tallies (holdout first, then variants by id).
pub fn to_tallies(arms: &BTreeMap<String, ArmCounts>) -> Vec<ArmTally> {
    arms.iter().map(|(v, c)| arm_tally(v, c)).collect()
}

impl Store {
    /// Reads every stored window into the in-memory sums (at open).
    pub(super) fn load_experiment_sums(&self) -> Result<Sums, StoreError> {
        let mut sums = Sums::new();
        for r in self
            .db
            .iterator_cf(self.cf("experiments"), IteratorMode::Start)
        {
            let (_, v) = r?;
            let w: ExperimentWindow = decode("experiment window", &v)?;
            add_gain(&mut sums, &w, None);
        }
        Ok(sums)
    }

    /// Stores windows (synced), replacing the stored window of each key, and keeps the sums.
    /// As [`Store::put_aggregates`]: a window named outside the edge rules refuses the batch;
    /// one of a tenant that does not exist, or that [`check_window`] refuses, is skipped and
    /// counted in what is returned.
    pub fn put_experiments(&self, windows: &[ExperimentWindow]) -> Result<Skipped, StoreError> {
        check_boots(windows)?;
        let _w = self
            .experiments_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut b = WriteBatch::default();
        let mut gains = Vec::with_capacity(windows.len());
        let mut known = HashMap::new();
        let mut skipped = Skipped::default();
        for w in windows {
            if let Err(e) = check_window(w) {
                skipped.invalid(e);
                continue;
            }
            let exists = match known.get(&w.tenant_id) {
                Some(e) => *e,
                None => {
                    let e = self.stored_tenant(&w.tenant_id)?.is_some();
                    known.insert(w.tenant_id.clone(), e);
                    e
                }
            };
            if !exists {
                skipped.unknown_tenant += 1;
                continue;
            }
            let k = window_key(w);
            let old: Option<ExperimentWindow> = self
                .db
                .get_cf(self.cf("experiments"), &k)?
                .map(|v| decode("experiment window", &v))
                .transpose()?;
            b.put_cf(self.cf("experiments"), &k, w.encode_to_vec());
            gains.push((w, old));
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(b, &wo)?;
        // Two windows of one key in the same call: the second gains over the first.
        let mut sums = self.lock_sums();
        let mut last: HashMap<Vec<u8>, &ExperimentWindow> = HashMap::new();
        for (w, old) in &gains {
            let k = window_key(w);
            let before = last.get(&k).copied().or(old.as_ref());
            add_gain(&mut sums, w, before);
            last.insert(k, w);
        }
        Ok(skipped)
    }

    fn lock_sums(&self) -> std::sync::MutexGuard<'_, Sums> {
        self.experiment_sums
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Every (tenant, rule)'s counts from every edge boot but `report_id` (the asking boot's
    /// `edge@boot_ms`), arms by id, sorted by tenant and rule.
    pub fn experiment_totals_for(&self, report_id: &str) -> Vec<ExperimentTotals> {
        let sums = self.lock_sums();
        let mut out: Vec<ExperimentTotals> = sums
            .iter()
            .filter_map(|((tenant, rule), boots)| {
                let mut arms: BTreeMap<String, ArmCounts> = BTreeMap::new();
                for (b, by_arm) in boots {
                    if b.rsplit('\0').next() == Some(report_id) {
                        continue;
                    }
                    for (v, c) in by_arm {
                        arms.entry(v.clone()).or_default().merge(c);
                    }
                }
                (!arms.is_empty()).then(|| ExperimentTotals {
                    tenant_id: tenant.clone(),
                    rule: rule.clone(),
                    arms: to_tallies(&arms),
                    value_at_risk_cents: 0,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.tenant_id, &a.rule).cmp(&(&b.tenant_id, &b.rule)));
        out
    }

    /// A tenant's windows with `from <= minute < to`, every rule, region and edge: a range
    /// read (keys sort by tenant, then minute).
    pub fn experiment_windows(
        &self,
        tenant: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<ExperimentWindow>, StoreError> {
        let mut lo = key2(tenant, "");
        lo.extend_from_slice(&minute_key(from));
        let mut hi = key2(tenant, "");
        hi.extend_from_slice(&minute_key(to));
        let mut out = Vec::new();
        for r in self.db.iterator_cf(
            self.cf("experiments"),
            IteratorMode::From(&lo, Direction::Forward),
        ) {
            let (k, v) = r?;
            if *k >= *hi {
                break;
            }
            out.push(decode("experiment window", &v)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::grpc::Tenant;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        s.create_tenant(Tenant {
            id: "acme".into(),
            name: "Acme".into(),
            ..Tenant::default()
        })
        .expect("tenant");
        (dir, s)
    }

    fn window(edge: &str, minute: i64, holdout: u64, chat: u64) -> ExperimentWindow {
        let arm = |sessions| ArmCounts {
            sessions,
            conversions: sessions / 2,
            revenue_cents: 100 * sessions,
            revenue_sq: u128::from(sessions) << 70,
            ..ArmCounts::default()
        };
        ExperimentWindow {
            tenant_id: "acme".into(),
            region: "us-east-1".into(),
            edge_id: edge.into(),
            minute,
            rule: "help".into(),
            arms: vec![arm_tally("", &arm(holdout)), arm_tally("chat", &arm(chat))],
            value_at_risk_cents: 0,
        }
    }

    fn sessions(t: &[ExperimentTotals]) -> Vec<(String, u64)> {
        t.iter()
            .flat_map(|t| t.arms.iter().map(|a| (a.variant.clone(), a.sessions)))
            .collect()
    }

    #[test]
    fn windows_merge_once_per_key_whatever_the_order_and_repeats() {
        let (dir, s) = store();
        // e1 reports minute 5 twice (the second a larger total), e2 once; a repeat of e1's
        // first total arrives late in the same call as a newer one.
        s.put_experiments(&[window("e1@1", 5, 1, 4)]).expect("put");
        s.put_experiments(&[window("e2@1", 5, 2, 3), window("e1@1", 5, 2, 9)])
            .expect("put");
        s.put_experiments(&[window("e1@1", 5, 2, 9)])
            .expect("repeat");
        s.put_experiments(&[window("e1@1", 6, 1, 1)]).expect("put");
        let all = s.experiment_totals_for("");
        assert_eq!(sessions(&all), [("".into(), 5), ("chat".into(), 13)]);
        // An edge boot is sent everyone else's counts, not its own.
        assert_eq!(
            sessions(&s.experiment_totals_for("e1@1")),
            [("".into(), 2), ("chat".into(), 3)]
        );
        // The u128 sums survive the trip and the merge exactly.
        let sq = |t: &[ExperimentTotals]| {
            let a = &t[0].arms[1];
            arm_counts(a).revenue_sq
        };
        assert_eq!(sq(&all), 13u128 << 70);
        // The range read for forensics sees the stored windows of each minute.
        assert_eq!(s.experiment_windows("acme", 5, 6).expect("read").len(), 2);
        assert_eq!(s.experiment_windows("acme", 5, 7).expect("read").len(), 3);
        assert!(
            s.experiment_windows("other", 0, 10)
                .expect("read")
                .is_empty()
        );
        // Reopened: the sums are rebuilt from disk to the same totals.
        drop(s);
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(s.experiment_totals_for(""), all);
    }

    #[test]
    fn misnamed_edges_are_refused_and_bad_or_unknown_windows_skipped() {
        let (_dir, s) = store();
        // A window's content this version refuses is skipped, counted with its reason, and
        // holds back none of the batch (its edge would send them all again for ever).
        let mut bad = window("e1@1", 5, 1, 1);
        bad.rule.clear();
        let skipped = s
            .put_experiments(&[bad, window("e1@1", 7, 1, 1)])
            .expect("taken");
        assert_eq!((skipped.invalid, skipped.unknown_tenant), (1, 0));
        assert!(
            skipped
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("an experiment window's rule \"\"")),
            "{skipped:?}"
        );
        assert_eq!(s.experiment_windows("acme", 0, 10).expect("read").len(), 1);
        // A misnamed edge's batch is refused whole.
        for (region, edge, field) in [
            ("", "e1@1", "region"),
            ("us/1", "e1@1", "region"),
            ("us-east-1", "e1", "edge_id"),
            ("us-east-1", "x\0e1@1", "edge_id"),
        ] {
            let mut w = window(edge, 5, 1, 1);
            w.region = region.into();
            // Beside a good window: nothing of the batch is stored.
            let good = window("e3@1", 8, 1, 1);
            let Err(StoreError::Invalid(e)) = s.put_experiments(&[good, w]) else {
                panic!("{region:?} {edge:?}");
            };
            let name = if field == "region" { region } else { edge };
            assert!(
                e.starts_with(&format!("an experiment window's {field} {name:?}: ")),
                "{e}"
            );
        }
        assert_eq!(s.experiment_windows("acme", 0, 10).expect("read").len(), 1);
        let totals = s.experiment_totals_for("");
        let put = |f: &dyn Fn(&mut ExperimentWindow)| -> Result<(), String> {
            let mut w = window("e1@1", 5, 1, 1);
            f(&mut w);
            match s.put_experiments(&[w]).expect("taken").reason {
                Some(why) => Err(why),
                None => Ok(()),
            }
        };
        assert!(
            put(&|w| w.arms.push(w.arms[1].clone())).is_err(),
            "an arm named twice"
        );
        // What was skipped counts nowhere.
        assert_eq!(s.experiment_totals_for(""), totals);
        // Ids as tenants name them: rules at 63/64/65 bytes and outside the alphabet, the
        // tenant likewise, variants by the experiments' rule (64 bytes, `A-Z a-z 0-9 _ - . :`).
        for (rule, ok) in [
            ("r".repeat(63), true),
            ("r".repeat(64), true),
            ("r".repeat(65), false),
            ("Help".into(), false),
            (String::new(), false),
        ] {
            assert_eq!(put(&|w| w.rule = rule.clone()).is_ok(), ok, "{rule}");
        }
        assert_eq!(
            put(&|w| w.tenant_id = "a\0b".into()),
            Err("invalid: an experiment window's tenant \"a\\0b\": 1 to 64 of a-z 0-9 _ -".into())
        );
        for (variant, ok) in [
            ("v".repeat(64), true),
            ("v".repeat(65), false),
            ("Chat.v2:a".into(), true),
            ("chat v2".into(), false),
        ] {
            let got = put(&|w| w.arms[1].variant = variant.clone());
            assert_eq!(got.is_ok(), ok, "{variant}: {got:?}");
        }
        assert_eq!(
            put(&|w| w.arms[1].variant = "chat v2".into()),
            Err("invalid: an experiment window's variant \"chat v2\" has a character outside A-Z a-z 0-9 _ - . :".into())
        );
        // MAX_ARMS at cap - 1, cap and cap + 1 (the holdout and then distinct ids).
        for (n, ok) in [
            (MAX_ARMS - 1, true),
            (MAX_ARMS, true),
            (MAX_ARMS + 1, false),
        ] {
            let arms: Vec<ArmTally> = (0..n)
                .map(|i| {
                    arm_tally(
                        &if i == 0 {
                            String::new()
                        } else {
                            format!("v{i}")
                        },
                        &ArmCounts::default(),
                    )
                })
                .collect();
            assert_eq!(put(&|w| w.arms = arms.clone()).is_ok(), ok, "{n} arms");
        }
        let mut w = window("e1@1", 5, 1, 1);
        w.tenant_id = "gone".into();
        let skipped = s.put_experiments(&[w]).expect("put");
        assert_eq!((skipped.unknown_tenant, skipped.invalid), (1, 0));
        assert!(
            s.experiment_windows("gone", 0, 10)
                .expect("read")
                .is_empty()
        );
    }
}
