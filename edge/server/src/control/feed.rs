//! Config versions from the plane, applied in order (pure): a snapshot's parts are held until
//! its last part, deltas must follow the version held, and the edge's tenants are built from
//! the synced set through the one tenant validator.

use std::collections::BTreeMap;

use sentientiq_proto::grpc::{
    ConfigUpdate, ExperimentTotals, QuotaUsage, RefusedTenant, Tenant as PlaneTenant,
};
use sentientiq_tenant::Tenant;

use super::Error;
use crate::config::LakeSection;

/// The plane's tenant set as of `version`, and what this edge serves instead where it
/// refuses the plane's version of a tenant.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Synced {
    pub version: u64,
    pub tenants: BTreeMap<String, PlaneTenant>,
    /// The version in force of each tenant whose plane version this edge refuses: its previous
    /// one, kept (set by [`edge_tenants`]; kept in the last-known-good file, so a restart
    /// serves it too).
    pub kept: BTreeMap<String, PlaneTenant>,
}

/// What one applied version changes besides the version.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// The tenant set changed (rebuild the directory).
    pub tenants: bool,
    /// The versions the update replaced or removed, by tenant: where this edge refuses a
    /// tenant's new version, the one it served may be among them.
    pub replaced: BTreeMap<String, PlaneTenant>,
    pub accounts: Vec<sentientiq_proto::grpc::Account>,
    pub deleted_users: Vec<sentientiq_proto::grpc::DeleteUserRequest>,
}

/// The plane's counts gathered from an update's parts (`counts_more`), whole.
#[derive(Debug, Default, PartialEq)]
pub struct Counts {
    /// Other edges' experiment totals, when this set replaces the edge's (`None`: not sent).
    pub totals: Option<Vec<ExperimentTotals>>,
    /// Other edges' events of the month (`quota_month`), when sent.
    pub usage: Option<(i64, Vec<QuotaUsage>)>,
}

/// Whether `u` carries other edges' counts (totals, or usage: its month is set whenever it is
/// sent, the list may be empty).
pub fn carries_counts(u: &ConfigUpdate) -> bool {
    !u.experiment_totals.is_empty() || u.quota_month != 0
}

/// Encoded bytes of a set's parts held at most: 64 times the plane's 1 MiB part, some 40 000
/// experiments of nine arms. A set past it is dropped whole (counted), never applied in part.
/// A chosen bound, not a measured one: it keeps a plane that never ends a set from growing
/// the edge without end.
pub const MAX_HELD_BYTES: usize = 64 << 20;

/// Takes the counts off each update; a set sent in parts is held until its last part, so the
/// edge never replaces its counts with a part of them.
#[derive(Debug)]
pub struct Gather {
    held: Counts,
    bytes: usize,
    max_bytes: usize,
    /// Past the bytes: the rest of this set is taken off and dropped.
    skipping: bool,
    /// Sets dropped whole for their bytes.
    pub dropped: u64,
}

impl Default for Gather {
    fn default() -> Gather {
        Gather::with_max(MAX_HELD_BYTES)
    }
}

impl Gather {
    pub fn with_max(max_bytes: usize) -> Gather {
        Gather {
            held: Counts::default(),
            bytes: 0,
            max_bytes,
            skipping: false,
            dropped: 0,
        }
    }

    /// The counts `u` completes, taken out of it (`u` keeps everything else); `None` while a
    /// set's parts are held, or when it carried none. A set's parts come in a row: an update
    /// without counts after a part drops the parts held (the set was cut short).
    pub fn take(&mut self, u: &mut ConfigUpdate) -> Option<Counts> {
        use prost::Message;
        if !carries_counts(u) {
            (self.held, self.bytes, self.skipping) = (Counts::default(), 0, false);
            return None;
        }
        let t = std::mem::take(&mut u.experiment_totals);
        let q = std::mem::take(&mut u.quota_usage);
        self.bytes += t.iter().map(Message::encoded_len).sum::<usize>()
            + q.iter().map(Message::encoded_len).sum::<usize>();
        if self.bytes > self.max_bytes && !self.skipping {
            (self.held, self.skipping) = (Counts::default(), true);
            self.dropped += 1;
        }
        if !self.skipping {
            if !t.is_empty() {
                self.held.totals.get_or_insert_default().extend(t);
            }
            if u.quota_month != 0 {
                let (month, usage) = self.held.usage.get_or_insert_default();
                *month = u.quota_month;
                usage.extend(q);
            }
        }
        if u.counts_more {
            return None;
        }
        let skipped = std::mem::replace(&mut self.skipping, false);
        self.bytes = 0;
        let whole = std::mem::take(&mut self.held);
        (!skipped).then_some(whole)
    }
}

/// Applies updates in order. The parts of a snapshot are held until its last part arrives.
#[derive(Debug, Default)]
pub struct Feed {
    partial: Option<ConfigUpdate>,
}

impl Feed {
    /// `Ok(None)`: a snapshot part was held. `Ok(Some(c))`: `state` moved to the update's
    /// version. `Err(Gap)`: the update does not follow `state` (resume from scratch).
    pub fn push(&mut self, state: &mut Synced, u: ConfigUpdate) -> Result<Option<Changes>, Error> {
        if u.full_snapshot {
            let whole = match self.partial.take() {
                Some(mut p) if p.version == u.version => {
                    p.upserted.extend(u.upserted);
                    p.deleted_tenant_ids.extend(u.deleted_tenant_ids);
                    p.accounts.extend(u.accounts);
                    p.deleted_users.extend(u.deleted_users);
                    p.more = u.more;
                    p
                }
                _ => u,
            };
            if whole.more {
                self.partial = Some(whole);
                return Ok(None);
            }
            state.version = whole.version;
            let replaced = std::mem::replace(
                &mut state.tenants,
                whole
                    .upserted
                    .into_iter()
                    .map(|t| (t.id.clone(), t))
                    .collect(),
            );
            return Ok(Some(Changes {
                tenants: true,
                replaced,
                accounts: whole.accounts,
                deleted_users: whole.deleted_users,
            }));
        }
        if self.partial.take().is_some() {
            return Err(Error::Gap {
                have: state.version,
                got: u.version,
            });
        }
        let empty = u.upserted.is_empty()
            && u.deleted_tenant_ids.is_empty()
            && u.accounts.is_empty()
            && u.deleted_users.is_empty();
        if empty && u.version == state.version {
            return Ok(Some(Changes::default()));
        }
        if u.version != state.version + 1 {
            return Err(Error::Gap {
                have: state.version,
                got: u.version,
            });
        }
        let tenants = !u.upserted.is_empty() || !u.deleted_tenant_ids.is_empty();
        let mut replaced = BTreeMap::new();
        for t in u.upserted {
            let id = t.id.clone();
            if let Some(old) = state.tenants.insert(id.clone(), t) {
                replaced.entry(id).or_insert(old);
            }
        }
        for id in &u.deleted_tenant_ids {
            if let Some(old) = state.tenants.remove(id) {
                replaced.entry(id.clone()).or_insert(old);
            }
        }
        state.version = u.version;
        Ok(Some(Changes {
            tenants,
            replaced,
            accounts: u.accounts,
            deleted_users: u.deleted_users,
        }))
    }
}

/// A plane tenant, validated. One whose alerting config is missing here (a last-known-good
/// file written without `SIQ_SECRETS_KEY`, or one that did not unseal) while its rules page
/// chains of it is served without those rules (logged): its traffic is taken and its
/// detections recorded, and nobody is paged until the plane sends the config again.
fn validate_or_record_only(
    t: &sentientiq_proto::grpc::Tenant,
) -> Result<sentientiq_tenant::Tenant, sentientiq_tenant::Error> {
    use sentientiq_proto::grpc::rule::Action;
    let first = sentientiq_tenant::plane::validate(t);
    if first.is_ok() || !t.alerts_toml.is_empty() {
        return first;
    }
    let pages_a_chain = |r: &sentientiq_proto::grpc::Rule| matches!(&r.action, Some(Action::Escalation(e)) if !e.chain.is_empty());
    if !t.rules.iter().any(pages_a_chain) {
        return first;
    }
    let mut without = t.clone();
    without.rules.retain(|r| !pages_a_chain(r));
    let v = sentientiq_tenant::plane::validate(&without)?;
    tracing::error!(tenant = %t.id, "its alerting config is not available on this edge: escalation rules that page a chain are off until the plane sends it");
    Ok(v)
}

/// A plane tenant as this edge serves it, or why it cannot (the plane validates less than the
/// edge does, and cannot know where this edge ships).
fn usable(t: &PlaneTenant, lake: &LakeSection) -> Result<Tenant, String> {
    validate_or_record_only(t)
        .map_err(|e| e.to_string())
        .and_then(|e| lake.usable_for(&e.lake).map(|()| e))
}

/// The edge tenants of a synced set, and its `kept` brought up to date. A tenant whose plane
/// version the edge cannot use is reported and, so one bad tenant never blocks the others,
/// served as the version it served before when there is one (`s.kept`, else its version in
/// `replaced` when the edge could use that; each only with the plane version's incarnation),
/// else left out. `replaced`: what the update just
/// applied replaced ([`Changes::replaced`]; nothing at start, where `s.kept` comes from the
/// last-known-good file).
pub fn edge_tenants(
    s: &mut Synced,
    replaced: &BTreeMap<String, PlaneTenant>,
    lake: &LakeSection,
) -> (Vec<Tenant>, Vec<RefusedTenant>) {
    let mut ok = Vec::with_capacity(s.tenants.len());
    let mut bad = Vec::new();
    let mut kept = BTreeMap::new();
    for t in s.tenants.values() {
        match usable(t, lake) {
            Ok(t) => ok.push(t),
            Err(reason) => {
                // Of the same tenant only: an id deleted and created again is another one.
                let same = |p: &PlaneTenant| p.incarnation == t.incarnation;
                let before = s
                    .kept
                    .remove(&t.id)
                    .filter(same)
                    .or_else(|| replaced.get(&t.id).filter(|p| same(p)).cloned())
                    .and_then(|p| usable(&p, lake).ok().map(|e| (p, e)));
                bad.push(RefusedTenant {
                    tenant_id: t.id.clone(),
                    reason,
                    kept: before.is_some(),
                });
                if let Some((p, e)) = before {
                    kept.insert(t.id.clone(), p);
                    ok.push(e);
                }
            }
        }
    }
    s.kept = kept;
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::grpc::{Account, DeleteUserRequest};

    fn t(id: &str, key: &str) -> PlaneTenant {
        PlaneTenant {
            id: id.into(),
            key_hashes: vec![key.into()],
            allowed_origins: vec!["*".into()],
            ..PlaneTenant::default()
        }
    }

    #[test]
    fn counts_sent_in_parts_are_taken_whole_at_their_last_part() {
        let totals = |rule: &str| ExperimentTotals {
            tenant_id: "acme".into(),
            rule: rule.into(),
            ..ExperimentTotals::default()
        };
        let usage = |t: &str| QuotaUsage {
            tenant_id: t.into(),
            events: 5,
        };
        let part = |x: Vec<ExperimentTotals>, q: Option<Vec<QuotaUsage>>, more: bool| {
            let (quota_month, quota_usage) = q.map_or((0, Vec::new()), |q| (683, q));
            ConfigUpdate {
                version: 3,
                experiment_totals: x,
                quota_month,
                quota_usage,
                counts_more: more,
                ..ConfigUpdate::default()
            }
        };
        let mut g = Gather::default();
        // One message: taken at once, and out of the update.
        let mut u = part(vec![totals("r1")], None, false);
        let got = g.take(&mut u).expect("whole");
        assert_eq!(got.totals, Some(vec![totals("r1")]));
        assert_eq!(got.usage, None);
        assert!(u.experiment_totals.is_empty());
        // Three parts: nothing until the last, then all of them in order.
        assert_eq!(g.take(&mut part(vec![totals("a")], None, true)), None);
        assert_eq!(g.take(&mut part(vec![totals("b")], None, true)), None);
        let got = g.take(&mut part(vec![totals("c")], None, false));
        let rules = |c: Option<Counts>| {
            c.and_then(|c| c.totals)
                .map(|t| t.into_iter().map(|t| t.rule).collect::<Vec<_>>())
        };
        assert_eq!(rules(got), Some(vec!["a".into(), "b".into(), "c".into()]));
        // Usage likewise, with its month; an empty list of a month is a set (none used).
        assert_eq!(
            g.take(&mut part(vec![], Some(vec![usage("t1")]), true)),
            None
        );
        let got = g.take(&mut part(vec![], Some(vec![usage("t2")]), false));
        assert_eq!(
            got.and_then(|c| c.usage),
            Some((683, vec![usage("t1"), usage("t2")]))
        );
        let got = g.take(&mut part(vec![], Some(vec![]), false));
        assert_eq!(got.and_then(|c| c.usage), Some((683, vec![])));
        // An update without counts completes nothing and holds nothing; after a part, it
        // drops the part (its set was cut short) rather than take it as whole.
        assert_eq!(g.take(&mut part(vec![], None, false)), None);
        assert_eq!(g.held, Counts::default());
        assert_eq!(g.take(&mut part(vec![totals("a")], None, true)), None);
        assert_eq!(g.take(&mut part(vec![], None, false)), None);
        assert_eq!(g.held, Counts::default());
        let got = g.take(&mut part(vec![totals("c")], None, false));
        assert_eq!(rules(got), Some(vec!["c".into()]));

        // At most MAX_HELD_BYTES held: a set of three one-total parts at cap - 1 (dropped
        // whole, its later parts too, never applied in part), cap and cap + 1 (taken).
        use prost::Message;
        let one = totals("a").encoded_len();
        assert_eq!(MAX_HELD_BYTES, 64 << 20);
        // (At one, the set is dropped at its second part and its third is not taken as a set.)
        for (max, whole) in [
            (one, false),
            (3 * one - 1, false),
            (3 * one, true),
            (3 * one + 1, true),
        ] {
            let mut g = Gather::with_max(max);
            assert_eq!(g.take(&mut part(vec![totals("a")], None, true)), None);
            assert_eq!(g.take(&mut part(vec![totals("b")], None, true)), None);
            let got = g.take(&mut part(vec![totals("c")], None, false));
            if whole {
                assert_eq!(rules(got), Some(vec!["a".into(), "b".into(), "c".into()]));
                assert_eq!(g.dropped, 0);
            } else {
                assert_eq!(got, None, "{max}");
                assert_eq!(g.dropped, 1);
            }
            // The next set starts afresh.
            let got = g.take(&mut part(vec![totals("d")], None, false));
            assert_eq!(rules(got), Some(vec!["d".into()]), "{max}");
        }
    }

    /// `counts_more` is field 11, a varint: its bytes on the wire.
    #[test]
    fn counts_more_is_field_eleven() {
        use prost::Message;
        let u = ConfigUpdate {
            counts_more: true,
            ..ConfigUpdate::default()
        };
        assert_eq!(u.encode_to_vec(), vec![0x58, 0x01]);
    }

    fn snap(version: u64, tenants: Vec<PlaneTenant>, more: bool) -> ConfigUpdate {
        ConfigUpdate {
            version,
            full_snapshot: true,
            upserted: tenants,
            more,
            ..ConfigUpdate::default()
        }
    }

    #[test]
    fn a_snapshot_in_parts_applies_at_its_last_part_then_deltas_follow_in_order() {
        let (mut s, mut f) = (Synced::default(), Feed::default());
        assert_eq!(
            f.push(&mut s, snap(4, vec![t("a", "1")], true))
                .expect("part"),
            None
        );
        assert_eq!(s.version, 0, "nothing applied before the last part");
        let mut last = snap(4, vec![t("b", "2")], false);
        last.accounts.push(Account {
            tenant_id: "a".into(),
            r#match: "u1".into(),
            ..Account::default()
        });
        let c = f.push(&mut s, last).expect("last").expect("applied");
        assert!(c.tenants);
        assert_eq!(c.accounts.len(), 1);
        assert_eq!((s.version, s.tenants.len()), (4, 2));
        let delta = ConfigUpdate {
            version: 5,
            deleted_tenant_ids: vec!["a".into()],
            deleted_users: vec![DeleteUserRequest {
                tenant_id: "b".into(),
                uid: "u9".into(),
            }],
            ..ConfigUpdate::default()
        };
        let c = f.push(&mut s, delta).expect("delta").expect("applied");
        assert!(c.tenants);
        assert_eq!(c.deleted_users.len(), 1);
        assert_eq!(s.tenants.keys().collect::<Vec<_>>(), vec!["b"]);
        // "You are current" at the same version changes nothing.
        let c = f
            .push(
                &mut s,
                ConfigUpdate {
                    version: 5,
                    ..ConfigUpdate::default()
                },
            )
            .expect("current")
            .expect("applied");
        assert_eq!(c, Changes::default());
        assert_eq!(s.version, 5);
    }

    #[test]
    fn a_delta_that_skips_or_repeats_a_version_is_a_gap() {
        let mut s = Synced {
            version: 7,
            ..Synced::default()
        };
        let mut f = Feed::default();
        for v in [6, 7, 9] {
            let u = ConfigUpdate {
                version: v,
                upserted: vec![t("a", "1")],
                ..ConfigUpdate::default()
            };
            assert!(matches!(f.push(&mut s, u), Err(Error::Gap { .. })), "v{v}");
        }
        assert_eq!(s.version, 7);
        assert!(s.tenants.is_empty());
        // A snapshot cut off after a part (its stream broke) then a delta: a gap, and the
        // held part is dropped, not applied later.
        assert_eq!(
            f.push(&mut s, snap(9, vec![t("b", "2")], true))
                .expect("part"),
            None
        );
        let d = ConfigUpdate {
            version: 8,
            upserted: vec![t("c", "3")],
            ..ConfigUpdate::default()
        };
        assert!(matches!(f.push(&mut s, d), Err(Error::Gap { .. })));
        let last = snap(10, vec![t("d", "4")], false);
        f.push(&mut s, last)
            .expect("a new snapshot")
            .expect("applied");
        assert_eq!(s.tenants.keys().collect::<Vec<_>>(), vec!["d"]);
    }

    #[test]
    fn a_tenant_this_edge_refuses_keeps_its_previous_version_and_blocks_no_other() {
        let good = |id: &str| t(id, &"ab".repeat(32));
        let delta = |v: u64, upserted: Vec<PlaneTenant>| ConfigUpdate {
            version: v,
            upserted,
            ..ConfigUpdate::default()
        };
        let (mut s, mut f) = (Synced::default(), Feed::default());
        let lake = LakeSection::default();
        let c = f
            .push(&mut s, snap(1, vec![good("a"), good("b")], false))
            .expect("snapshot")
            .expect("applied");
        let (list, bad) = edge_tenants(&mut s, &c.replaced, &lake);
        assert_eq!((list.len(), bad.len(), s.kept.len()), (2, 0, 0));
        // An update the edge cannot use (a key hash that is not hex) for `a`, a new bad `c`.
        let mut broken = good("a");
        broken.key_hashes = vec!["zz".into()];
        let mut c = good("c");
        c.key_hashes = vec!["zz".into()];
        let ch = f
            .push(&mut s, delta(2, vec![broken.clone(), c]))
            .expect("delta")
            .expect("applied");
        assert_eq!(ch.replaced.keys().collect::<Vec<_>>(), ["a"]);
        let (list, bad) = edge_tenants(&mut s, &ch.replaced, &lake);
        let ids: Vec<&str> = list.iter().map(|t| &*t.id).collect();
        assert_eq!(ids, vec!["a", "b"], "a as it was, b, and no c");
        assert_eq!(list[0].key_hashes, [[0xab; 32]]);
        let kept: Vec<(&str, bool)> = bad.iter().map(|b| (&*b.tenant_id, b.kept)).collect();
        assert_eq!(kept, [("a", true), ("c", false)], "{bad:?}");
        assert_eq!(s.kept.get("a"), Some(&good("a")), "what a restart serves");
        assert_eq!(
            s.tenants["a"], broken,
            "the plane's version is still the plane's"
        );
        // Refused again (another bad version of `a`, a second bad `c`): still the version
        // served before, never a refused one.
        let mut worse = good("a");
        worse.key_hashes = vec!["yy".into()];
        let mut c2 = good("c");
        c2.key_hashes = vec!["xx".into()];
        let ch = f
            .push(&mut s, delta(3, vec![worse, c2]))
            .expect("delta")
            .expect("applied");
        let (list, bad) = edge_tenants(&mut s, &ch.replaced, &lake);
        assert_eq!(list.iter().map(|t| &*t.id).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(list[0].key_hashes, [[0xab; 32]]);
        assert_eq!(bad.len(), 2);
        assert_eq!(s.kept.keys().collect::<Vec<_>>(), ["a"]);
        // From the last-known-good file alone (a restart): the same.
        let mut restarted = s.clone();
        let (list, bad) = edge_tenants(&mut restarted, &BTreeMap::new(), &lake);
        assert_eq!(list.iter().map(|t| &*t.id).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(list[0].key_hashes, [[0xab; 32]]);
        assert_eq!(bad.iter().filter(|b| b.kept).count(), 1);
        assert_eq!(restarted, s);
        // A version the edge can use again replaces the kept one.
        let mut fixed = good("a");
        fixed.key_hashes = vec!["cd".repeat(32)];
        let ch = f
            .push(&mut s, delta(4, vec![fixed]))
            .expect("delta")
            .expect("applied");
        let (list, _) = edge_tenants(&mut s, &ch.replaced, &lake);
        assert_eq!(list[0].key_hashes, [[0xcd; 32]]);
        assert!(s.kept.is_empty());
        // A bucket of its own, on an edge that ships to local disk: b keeps its old version.
        let mut own = good("b");
        own.lake = Some(sentientiq_proto::grpc::LakeDestination {
            bucket: "acme-lake".into(),
            ..Default::default()
        });
        let ch = f
            .push(&mut s, delta(5, vec![own]))
            .expect("delta")
            .expect("applied");
        let (list, bad) = edge_tenants(&mut s, &ch.replaced, &lake);
        assert_eq!(
            list.iter()
                .find(|t| &*t.id == "b")
                .map(|t| t.lake.bucket.clone()),
            Some(None)
        );
        assert!(
            bad.iter()
                .any(|b| b.tenant_id == "b" && b.kept && b.reason.contains("lake.sink")),
            "{bad:?}"
        );
        assert_eq!(s.kept.keys().collect::<Vec<_>>(), ["b"]);
        // Deleted while refused: nothing of it is kept.
        let ch = f
            .push(
                &mut s,
                ConfigUpdate {
                    version: 6,
                    deleted_tenant_ids: vec!["b".into()],
                    ..ConfigUpdate::default()
                },
            )
            .expect("delta")
            .expect("applied");
        let (list, _) = edge_tenants(&mut s, &ch.replaced, &lake);
        assert!(list.iter().all(|t| &*t.id != "b"));
        assert!(s.kept.is_empty());
        // A prefix only is fine anywhere.
        let mut own = good("b");
        own.lake = Some(sentientiq_proto::grpc::LakeDestination {
            prefix: "tenants/b".into(),
            ..Default::default()
        });
        let ch = f
            .push(&mut s, delta(7, vec![own]))
            .expect("delta")
            .expect("applied");
        let (list, _) = edge_tenants(&mut s, &ch.replaced, &lake);
        let b = list.iter().find(|t| &*t.id == "b").expect("b");
        assert_eq!(b.lake.prefix.as_deref(), Some("tenants/b"));
    }

    /// A tenant deleted and created again under the same id (a resync's snapshot brings the
    /// new one, refused here) is another tenant: the old one's version is not served for it.
    #[test]
    fn an_id_created_again_never_gets_the_deleted_tenants_version() {
        let good = |id: &str, incarnation: u64| PlaneTenant {
            incarnation,
            ..t(id, &"ab".repeat(32))
        };
        let (mut s, mut f) = (Synced::default(), Feed::default());
        let lake = LakeSection::default();
        let c = f
            .push(&mut s, snap(3, vec![good("a", 3)], false))
            .expect("snapshot")
            .expect("applied");
        edge_tenants(&mut s, &c.replaced, &lake);
        let mut again = good("a", 9);
        again.key_hashes = vec!["zz".into()];
        let c = f
            .push(&mut s, snap(9, vec![again.clone()], false))
            .expect("snapshot")
            .expect("applied");
        let (list, bad) = edge_tenants(&mut s, &c.replaced, &lake);
        assert!(list.is_empty(), "the deleted tenant's keys are not served");
        assert!(!bad[0].kept);
        assert!(s.kept.is_empty());
        // Nor from a kept version: a refused `a` (created by 3) kept, then `a` created again.
        let mut refused = good("a", 3);
        refused.key_hashes = vec!["yy".into()];
        let mut s = Synced::default();
        s.tenants.insert("a".into(), refused);
        s.kept.insert("a".into(), good("a", 3));
        let (list, _) = edge_tenants(&mut s.clone(), &BTreeMap::new(), &lake);
        assert_eq!(list.len(), 1, "the same tenant's kept version is served");
        s.tenants.insert("a".into(), again.clone());
        let (list, _) = edge_tenants(&mut s, &BTreeMap::new(), &lake);
        assert!(list.is_empty());
        assert!(s.kept.is_empty());
        // Both at once: the kept version is the deleted tenant's (3), and the update replaced
        // a usable version of the new one (9). The new one's is served and kept, not the old.
        let mut s = Synced::default();
        s.tenants.insert("a".into(), again);
        s.kept.insert("a".into(), good("a", 3));
        let mut usable9 = good("a", 9);
        usable9.key_hashes = vec!["cd".repeat(32)];
        let replaced = BTreeMap::from([("a".to_string(), usable9.clone())]);
        let (list, bad) = edge_tenants(&mut s, &replaced, &lake);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].key_hashes, [[0xcd; 32]], "the new tenant's version");
        assert!(bad[0].kept);
        assert_eq!(s.kept.get("a"), Some(&usable9));
    }

    /// The reason an edge gives for refusing a tenant (logged, and sent to the plane's Regions
    /// page) names the key and never repeats a credential of the wrong type.
    #[test]
    fn a_refusal_never_repeats_a_credential() {
        let mut bad = t("a", &"ab".repeat(32));
        bad.alerts_toml = format!(
            "[providers.twilio]\naccount_sid = \"AC{}\"\nauth = \"tw-SECRET-token\"\n\
             [[contacts]]\nid = \"c\"\nname = \"C\"\naddresses = []\n[chains]\n",
            "0".repeat(32)
        );
        let mut s = Synced::default();
        s.tenants.insert("a".into(), bad);
        let (list, refused) = edge_tenants(&mut s, &BTreeMap::new(), &LakeSection::default());
        assert!(list.is_empty());
        let why = &refused[0].reason;
        assert!(
            why.contains("providers.twilio.auth: invalid type: a string"),
            "{why}"
        );
        assert!(!why.contains("SECRET"), "{why}");
    }

    /// A resync (a full snapshot) replaces everything: what it replaced is where a refused
    /// tenant's served version comes from.
    #[test]
    fn a_snapshot_that_brings_a_refused_version_keeps_the_one_served() {
        let good = |id: &str| t(id, &"ab".repeat(32));
        let (mut s, mut f) = (Synced::default(), Feed::default());
        let lake = LakeSection::default();
        let c = f
            .push(&mut s, snap(1, vec![good("a")], false))
            .expect("snapshot")
            .expect("applied");
        edge_tenants(&mut s, &c.replaced, &lake);
        let mut broken = good("a");
        broken.key_hashes = vec!["zz".into()];
        let c = f
            .push(&mut s, snap(9, vec![broken], false))
            .expect("snapshot")
            .expect("applied");
        assert_eq!(c.replaced.get("a"), Some(&good("a")));
        let (list, bad) = edge_tenants(&mut s, &c.replaced, &lake);
        assert_eq!(list.len(), 1);
        assert!(bad[0].kept);
        assert_eq!(s.kept.get("a"), Some(&good("a")));
    }
}
