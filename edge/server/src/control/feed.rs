//! Config versions from the plane, applied in order (pure): a snapshot's parts are held until
//! its last part, deltas must follow the version held, and the edge's tenants are built from
//! the synced set through the one tenant validator.

use std::collections::BTreeMap;

use sentientiq_proto::grpc::{ConfigUpdate, RefusedTenant, Tenant as PlaneTenant};
use sentientiq_tenant::Tenant;

use super::Error;
use crate::config::LakeSection;
use crate::tenants::Tenants;

/// The plane's tenant set as of `version`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Synced {
    pub version: u64,
    pub tenants: BTreeMap<String, PlaneTenant>,
}

/// What one applied version changes besides the version.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// The tenant set changed (rebuild the directory).
    pub tenants: bool,
    pub accounts: Vec<sentientiq_proto::grpc::Account>,
    pub deleted_users: Vec<sentientiq_proto::grpc::DeleteUserRequest>,
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
            state.tenants = whole
                .upserted
                .into_iter()
                .map(|t| (t.id.clone(), t))
                .collect();
            return Ok(Some(Changes {
                tenants: true,
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
        for t in u.upserted {
            state.tenants.insert(t.id.clone(), t);
        }
        for id in &u.deleted_tenant_ids {
            state.tenants.remove(id);
        }
        state.version = u.version;
        Ok(Some(Changes {
            tenants,
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

/// The edge tenants of a synced set. A tenant the edge cannot use (the plane validates less
/// than the edge does, and cannot know where this edge ships) is reported and, so one bad
/// tenant never blocks the others, replaced by its version in `current` when it has one there
/// (else left out).
pub fn edge_tenants(
    s: &Synced,
    current: Option<&Tenants>,
    lake: &LakeSection,
) -> (Vec<Tenant>, Vec<RefusedTenant>) {
    let mut ok = Vec::with_capacity(s.tenants.len());
    let mut bad = Vec::new();
    for t in s.tenants.values() {
        let usable = validate_or_record_only(t)
            .map_err(|e| e.to_string())
            .and_then(|e| lake.usable_for(&e.lake).map(|()| e));
        match usable {
            Ok(t) => ok.push(t),
            Err(e) => {
                let kept = current.and_then(|c| {
                    c.index_of(&t.id)
                        .filter(|i| !c.is_retired(*i))
                        .map(|i| c.get(i).clone())
                });
                bad.push(RefusedTenant {
                    tenant_id: t.id.clone(),
                    reason: e,
                    kept: kept.is_some(),
                });
                ok.extend(kept);
            }
        }
    }
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
        let mut s = Synced::default();
        s.tenants.insert("a".into(), good("a"));
        s.tenants.insert("b".into(), good("b"));
        let lake = LakeSection::default();
        let (list, bad) = edge_tenants(&s, None, &lake);
        assert_eq!((list.len(), bad.len()), (2, 0));
        let current = Tenants::new(list);
        // An update the edge cannot use (a key hash that is not hex) for `a`, a new bad `c`.
        let mut broken = good("a");
        broken.key_hashes = vec!["zz".into()];
        s.tenants.insert("a".into(), broken);
        let mut c = good("c");
        c.key_hashes = vec!["zz".into()];
        s.tenants.insert("c".into(), c);
        let (list, bad) = edge_tenants(&s, Some(&current), &lake);
        let ids: Vec<&str> = list.iter().map(|t| &*t.id).collect();
        assert_eq!(ids, vec!["a", "b"], "a as it was, b, and no c");
        assert_eq!(list[0].key_hashes, current.get(0).key_hashes);
        let kept: Vec<(&str, bool)> = bad.iter().map(|b| (&*b.tenant_id, b.kept)).collect();
        assert_eq!(kept, [("a", true), ("c", false)], "{bad:?}");
        // A bucket of its own, on an edge that ships to local disk: b keeps its old version.
        let mut own = good("b");
        own.lake = Some(sentientiq_proto::grpc::LakeDestination {
            bucket: "acme-lake".into(),
            ..Default::default()
        });
        s.tenants.insert("b".into(), own);
        let (list, bad) = edge_tenants(&s, Some(&current), &lake);
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
        // A prefix only is fine anywhere.
        let mut own = good("b");
        own.lake = Some(sentientiq_proto::grpc::LakeDestination {
            prefix: "tenants/b".into(),
            ..Default::default()
        });
        s.tenants.insert("b".into(), own);
        let (list, _) = edge_tenants(&s, Some(&current), &lake);
        let b = list.iter().find(|t| &*t.id == "b").expect("b");
        assert_eq!(b.lake.prefix.as_deref(), Some("tenants/b"));
    }
}
