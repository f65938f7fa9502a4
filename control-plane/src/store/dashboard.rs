//! The web dashboard's state in the plane (issue 18): per tenant, the SHA-256 of its one
//! dashboard token (the token itself is shown once, never stored) and whether its failures
//! page is public.
//!
//! Column family `dashboard`: tenant \0 `token` → lowercase hex SHA-256 of the token;
//! tenant \0 `public` → `1`. Keys start with the tenant, so deleting a tenant deletes them
//! (`Store::delete_tenant`'s range delete).

use rocksdb::{Direction, IteratorMode};
use subtle::ConstantTimeEq;

use super::{Store, StoreError, key2};

const TOKEN: &str = "token";
const PUBLIC: &str = "public";

impl Store {
    fn dashboard_tenant_exists(&self, tenant: &str) -> Result<(), StoreError> {
        if self.stored_tenant(tenant)?.is_none() {
            return Err(StoreError::NotFound(format!("tenant {tenant}")));
        }
        Ok(())
    }

    /// Stores `hash` as the tenant's dashboard token (replacing any earlier one), synced.
    pub fn set_dashboard_token(&self, tenant: &str, hash: &str) -> Result<(), StoreError> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(
                "a dashboard token hash is 64 hex digits".into(),
            ));
        }
        // Serialised with tenant deletion (which takes the alert writers' lock as well).
        let _w = self.alerts_lock()?;
        self.dashboard_tenant_exists(tenant)?;
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.put_cf_opt(
            self.cf("dashboard"),
            key2(tenant, TOKEN),
            hash.to_ascii_lowercase().as_bytes(),
            &wo,
        )?;
        Ok(())
    }

    /// Removes the tenant's dashboard token; whether there was one.
    pub fn revoke_dashboard_token(&self, tenant: &str) -> Result<bool, StoreError> {
        let _w = self.alerts_lock()?;
        self.dashboard_tenant_exists(tenant)?;
        let k = key2(tenant, TOKEN);
        let had = self.db.get_cf(self.cf("dashboard"), &k)?.is_some();
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.delete_cf_opt(self.cf("dashboard"), &k, &wo)?;
        Ok(had)
    }

    /// The hash of the tenant's dashboard token, if it has one.
    pub fn dashboard_token_hash(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf("dashboard"), key2(tenant, TOKEN))?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The tenant whose dashboard token hashes to `hash` (compared in constant time, every
    /// stored hash looked at).
    pub fn dashboard_tenant_of(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let mut found = None;
        for r in self
            .db
            .iterator_cf(self.cf("dashboard"), IteratorMode::Start)
        {
            let (k, v) = r?;
            let Some(tenant) = k
                .strip_suffix(format!("\0{TOKEN}").as_bytes())
                .map(|t| String::from_utf8_lossy(t).into_owned())
            else {
                continue;
            };
            if bool::from(v.as_ref().ct_eq(hash.as_bytes())) {
                found = Some(tenant);
            }
        }
        Ok(found)
    }

    /// The tenant's alert commands still pending (asked, not yet shown applied by the edge
    /// holding the alert), as (alert id, action); read from `alert_commands`
    /// (tenant \0 alert \0 action, [`super::alerts`]).
    pub fn pending_alert_actions(&self, tenant: &str) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = key2(tenant, "");
        let mut out = Vec::new();
        for r in self.db.iterator_cf(
            self.cf("alert_commands"),
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (k, _) = r?;
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let mut parts = rest.splitn(2, |b| *b == 0);
            if let (Some(alert), Some(action)) = (parts.next(), parts.next()) {
                out.push((
                    String::from_utf8_lossy(alert).into_owned(),
                    String::from_utf8_lossy(action).into_owned(),
                ));
            }
        }
        Ok(out)
    }

    /// Publishes (or withdraws) the tenant's failures page, synced.
    pub fn set_failures_public(&self, tenant: &str, on: bool) -> Result<(), StoreError> {
        let _w = self.alerts_lock()?;
        self.dashboard_tenant_exists(tenant)?;
        let k = key2(tenant, PUBLIC);
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        if on {
            self.db.put_cf_opt(self.cf("dashboard"), k, b"1", &wo)?;
        } else {
            self.db.delete_cf_opt(self.cf("dashboard"), k, &wo)?;
        }
        Ok(())
    }

    /// Whether the tenant published its failures page.
    pub fn failures_public(&self, tenant: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf("dashboard"), key2(tenant, PUBLIC))?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Store, StoreLimits};
    use sentientiq_proto::grpc::Tenant;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_with(dir.path(), StoreLimits::default()).expect("open");
        for id in ["acme", "acme2"] {
            s.create_tenant(Tenant {
                id: id.into(),
                ..Tenant::default()
            })
            .expect("tenant");
        }
        (dir, s)
    }

    #[test]
    fn tokens_are_found_by_hash_replaced_revoked_and_deleted_with_the_tenant() {
        let (_d, s) = store();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        s.set_dashboard_token("acme", &a).expect("set");
        s.set_dashboard_token("acme2", &b).expect("set");
        assert_eq!(
            s.dashboard_tenant_of(&a).expect("read").as_deref(),
            Some("acme")
        );
        // "acme" is a prefix of "acme2": each finds only its own.
        assert_eq!(
            s.dashboard_tenant_of(&b).expect("read").as_deref(),
            Some("acme2")
        );
        assert_eq!(s.dashboard_tenant_of(&"c".repeat(64)).expect("read"), None);
        // A new token replaces the old one.
        s.set_dashboard_token("acme", &"d".repeat(64)).expect("set");
        assert_eq!(s.dashboard_tenant_of(&a).expect("read"), None);
        assert!(s.revoke_dashboard_token("acme").expect("revoke"));
        assert!(!s.revoke_dashboard_token("acme").expect("revoke"));
        assert_eq!(s.dashboard_token_hash("acme").expect("read"), None);
        assert!(s.set_dashboard_token("nope", &a).is_err(), "unknown tenant");
        assert!(s.set_dashboard_token("acme", "xyz").is_err(), "not a hash");
        // Pending commands of one tenant only ("acme" is a prefix of "acme2").
        use sentientiq_proto::grpc::{AlertCommand, AlertRecord};
        let rec = |t: &str, id: &str| AlertRecord {
            alert_id: id.into(),
            tenant_id: t.into(),
            edge_id: "e1".into(),
            region: "us-east-1".into(),
            state: "open".into(),
            ..AlertRecord::default()
        };
        s.put_alerts(&[rec("acme", "al_1"), rec("acme2", "al_2")])
            .expect("alerts");
        for (t, id) in [("acme", "al_1"), ("acme2", "al_2")] {
            s.queue_command(&AlertCommand {
                alert_id: id.into(),
                action: "acknowledge".into(),
                by: "ana".into(),
                tenant_id: t.into(),
            })
            .expect("queued");
        }
        assert_eq!(
            s.pending_alert_actions("acme").expect("read"),
            [("al_1".to_string(), "acknowledge".to_string())]
        );
        s.set_failures_public("acme2", true).expect("publish");
        assert!(s.failures_public("acme2").expect("read"));
        assert!(!s.failures_public("acme").expect("read"));
        s.delete_tenant("acme2").expect("delete");
        assert_eq!(s.dashboard_tenant_of(&b).expect("read"), None);
        assert!(!s.failures_public("acme2").expect("read"));
    }
}
