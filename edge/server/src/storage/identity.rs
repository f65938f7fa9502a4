//! Identity in RocksDB: one database per node, column families
//! - `sessions`: `tenant \0 sid` → uid (the binding from `id` frames),
//! - `users`: `tenant \0 uid` → profile (JSON: email, company, tier, lifetime value),
//! - `accounts`: `tenant \0 match` → account (match = a uid or `@domain`),
//! - `floors`: `tenant \0 sid` → the seqs shipped (a held set: prefix and bitmap) and when,
//! - `forgotten`: `tenant \0 uid` → when the control plane deleted the user (GDPR); such a
//!   user's profile and bindings are purged and never written again.
//!
//! Writes run on glommio's blocking-thread pool (`spawn_blocking`), never on a shard's reactor.
//! The account directory is also held in memory (built at open, replaced on update) so the hot
//! path looks accounts up without touching RocksDB.

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rocksdb::DB;
use sentientiq_core::Held;
use sentientiq_core::identity::{AccountInfo, cents, company_domain};
use sentientiq_proto::{Identify, Value, frame::get};
use serde::{Deserialize, Serialize};

use sentientiq_tenant::AccountSpec;

pub(crate) const CFS: [&str; 5] = ["sessions", "users", "accounts", "floors", "forgotten"];

/// A user's profile as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub email: Option<String>,
    pub company: Option<String>,
    pub tier: Option<String>,
    pub ltv_cents: i64,
    pub purchases_cents: i64,
    pub sessions: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAccount {
    company: Option<String>,
    value_cents: i64,
    tier: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("stored value is not valid: {0}")]
    Corrupt(#[from] serde_json::Error),
}

pub struct IdentityStore {
    db: Arc<DB>,
    /// (tenant, match) → account.
    accounts: RwLock<Arc<HashMap<(String, String), AccountInfo>>>,
    /// Serialises read-modify-write of user profiles (blocking threads only).
    rmw: Arc<Mutex<()>>,
    /// Writes submitted to blocking threads and not finished (shutdown waits for them).
    in_flight: Arc<AtomicUsize>,
    /// (tenant, uid) of users deleted through the control plane (loaded at open).
    forgotten: RwLock<Arc<std::collections::HashSet<(String, String)>>>,
}

impl std::fmt::Debug for IdentityStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityStore").finish_non_exhaustive()
    }
}

/// The lock's contents even when a panicking holder poisoned it: everything behind these locks
/// is an `Arc` replaced whole, so it is never seen half-written.
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn key(tenant: &str, k: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(tenant.len() + 1 + k.len());
    v.extend_from_slice(tenant.as_bytes());
    v.push(0);
    v.extend_from_slice(k.as_bytes());
    v
}

impl IdentityStore {
    pub fn open(path: &Path) -> Result<IdentityStore, Error> {
        let mut opts = super::rocksdb_options();
        opts.create_missing_column_families(true);
        // A small node-local store: keep memory modest and the background work light.
        opts.set_max_background_jobs(2);
        // Every column family, the default one included (`rocksdb_column_family`).
        let cfs = std::iter::once(rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
            .chain(CFS)
            .map(super::rocksdb_column_family);
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let s = IdentityStore {
            db: Arc::new(db),
            accounts: RwLock::new(Arc::new(HashMap::new())),
            rmw: Arc::new(Mutex::new(())),
            in_flight: Arc::new(AtomicUsize::new(0)),
            forgotten: RwLock::new(Arc::new(std::collections::HashSet::new())),
        };
        s.reload_accounts()?;
        if let Some(cf) = s.cf("forgotten") {
            let mut set = std::collections::HashSet::new();
            for item in s.db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
                let (k, _) = item?;
                if let Some(split) = k.iter().position(|b| *b == 0) {
                    set.insert((
                        String::from_utf8_lossy(&k[..split]).into_owned(),
                        String::from_utf8_lossy(&k[split + 1..]).into_owned(),
                    ));
                }
            }
            *write(&s.forgotten) = Arc::new(set);
        }
        Ok(s)
    }

    fn cf(&self, name: &str) -> Option<&rocksdb::ColumnFamily> {
        self.db.cf_handle(name)
    }

    /// Upserts accounts (bootstrap from the config file; later, the control plane).
    pub fn put_accounts(&self, tenant: &str, accounts: &[AccountSpec]) -> Result<(), Error> {
        let Some(cf) = self.cf("accounts") else {
            return Ok(());
        };
        for a in accounts {
            let v = serde_json::to_vec(&StoredAccount {
                company: a.company.clone(),
                value_cents: a.value_cents,
                tier: a.tier.clone(),
            })?;
            self.db
                .put_cf(cf, key(tenant, &a.matches.to_ascii_lowercase()), v)?;
        }
        self.reload_accounts()
    }

    fn reload_accounts(&self) -> Result<(), Error> {
        let Some(cf) = self.cf("accounts") else {
            return Ok(());
        };
        let mut m = HashMap::new();
        for item in self.db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            let Some(split) = k.iter().position(|b| *b == 0) else {
                continue;
            };
            let tenant = String::from_utf8_lossy(&k[..split]).into_owned();
            let matches = String::from_utf8_lossy(&k[split + 1..]).into_owned();
            let a: StoredAccount = serde_json::from_slice(&v)?;
            let info = AccountInfo {
                key: Arc::from(matches.trim_start_matches('@')),
                company: a.company.map(|c| Arc::from(c.as_str())),
                value_cents: a.value_cents,
                tier: a.tier.map(|t| Arc::from(t.as_str())),
            };
            m.insert((tenant, matches), info);
        }
        *write(&self.accounts) = Arc::new(m);
        Ok(())
    }

    /// The account of the user an `id` frame names: by uid, else by email domain.
    pub fn account_for(&self, tenant: &str, id: &Identify) -> Option<AccountInfo> {
        let m = self
            .accounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(a) = m.get(&(tenant.to_string(), id.uid.to_ascii_lowercase())) {
            return Some(a.clone());
        }
        let domain = id.email.as_deref().and_then(company_domain)?;
        m.get(&(
            tenant.to_string(),
            format!("@{}", domain.to_ascii_lowercase()),
        ))
        .cloned()
    }

    /// Records the binding and updates the profile on a blocking thread, then calls `loaded`
    /// back on the calling shard's thread with the profile as it was before this binding.
    pub fn bind_later(
        &self,
        tenant: &str,
        sid: &str,
        id: &Identify,
        loaded: impl FnOnce(Profile) + 'static,
    ) {
        let (db, rmw, n) = (self.db.clone(), self.rmw.clone(), self.in_flight.clone());
        let (tenant, sid, id) = (tenant.to_string(), sid.to_string(), id.clone());
        n.fetch_add(1, Ordering::AcqRel);
        let work = glommio::executor().spawn_blocking(move || {
            let r = bind(&db, &rmw, &tenant, &sid, &id);
            n.fetch_sub(1, Ordering::AcqRel);
            r
        });
        glommio::spawn_local(async move {
            match work.await {
                Ok(before) => loaded(before),
                Err(e) => tracing::error!(error = %e, "identity write failed"),
            }
        })
        .detach();
    }

    /// Adds a `purchase` to the user's stored lifetime purchases, on a blocking thread.
    pub fn purchase_later(&self, tenant: &str, uid: &str, cents: i64) {
        let (db, rmw, n) = (self.db.clone(), self.rmw.clone(), self.in_flight.clone());
        let (tenant, uid) = (tenant.to_string(), uid.to_string());
        n.fetch_add(1, Ordering::AcqRel);
        let work = glommio::executor().spawn_blocking(move || {
            let r = add_purchase(&db, &rmw, &tenant, &uid, cents);
            n.fetch_sub(1, Ordering::AcqRel);
            r
        });
        glommio::spawn_local(async move {
            if let Err(e) = work.await {
                tracing::error!(error = %e, "purchase write failed");
            }
        })
        .detach();
    }

    /// GDPR delete: purges the user's profile and every session binding to them, and records
    /// the deletion so nothing about them is stored again (idempotent).
    pub fn forget_user(&self, tenant: &str, uid: &str) -> Result<(), Error> {
        let (Some(users), Some(sessions), Some(forgotten)) =
            (self.cf("users"), self.cf("sessions"), self.cf("forgotten"))
        else {
            return Ok(());
        };
        let _guard = self.rmw.lock();
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_cf(users, key(tenant, uid));
        let prefix = key(tenant, "");
        for item in self.db.iterator_cf(
            sessions,
            rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        ) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            if *v == *uid.as_bytes() {
                batch.delete_cf(sessions, k);
            }
        }
        batch.put_cf(
            forgotten,
            key(tenant, uid),
            crate::clock::now_ms().to_le_bytes(),
        );
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        let mut w = write(&self.forgotten);
        let mut set = (**w).clone();
        set.insert((tenant.to_string(), uid.to_string()));
        *w = Arc::new(set);
        Ok(())
    }

    /// Whether the user was deleted through the control plane. Fails closed: a lock poisoned
    /// by a panicking writer still answers from the set (it is swapped whole, so it is never
    /// half-written), so a deleted user is never taken for a kept one.
    pub fn is_forgotten(&self, tenant: &str, uid: &str) -> bool {
        let set = self.forgotten.read().unwrap_or_else(|p| p.into_inner());
        // Most tenants never delete anyone: skip the key allocation then.
        !set.is_empty() && set.contains(&(tenant.to_string(), uid.to_string()))
    }

    /// Makes every write so far durable (the control plane's versions wait for this).
    pub fn sync(&self) -> Result<(), Error> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Identity writes submitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Adds a purchase on the calling thread (tools, tests).
    pub fn purchase_now(&self, tenant: &str, uid: &str, cents: i64) -> Result<(), Error> {
        add_purchase(&self.db, &self.rmw, tenant, uid, cents)
    }

    /// Records the binding and updates the profile on the calling thread (tools, benches;
    /// shards use [`IdentityStore::bind_later`]).
    pub fn bind_now(&self, tenant: &str, sid: &str, id: &Identify) -> Result<Profile, Error> {
        bind(&self.db, &self.rmw, tenant, sid, id)
    }

    /// Reads a user's profile (used by tools, tests and the lookup bench).
    pub fn user(&self, tenant: &str, uid: &str) -> Result<Option<Profile>, Error> {
        let Some(cf) = self.cf("users") else {
            return Ok(None);
        };
        match self.db.get_pinned_cf(cf, key(tenant, uid))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// The uid bound to a session and the account directory key of that user, for lake rows.
    pub fn user_and_account(&self, tenant: &str, sid: &str) -> (Option<String>, Option<String>) {
        let Ok(Some(uid)) = self.session_user(tenant, sid) else {
            return (None, None);
        };
        let email = self.user(tenant, &uid).ok().flatten().and_then(|p| p.email);
        let id = Identify {
            seq: sentientiq_proto::Seq(0),
            uid: uid.clone(),
            email,
            traits: Vec::new(),
        };
        let account = self.account_for(tenant, &id).map(|a| a.key.to_string());
        (Some(uid), account)
    }

    /// Records what was shipped of sessions whose spool records are about to be deleted: each
    /// session's held set (`Held`) becomes the union of what was stored and `seqs` (runs of
    /// seqs, in any order). The held set keeps a window of 128 seqs above its prefix, and the
    /// prefix moves only as the seqs just above it are filled, so the runs are added lowest
    /// first: a gap filled late (a run of its own after the runs above it) then lets the prefix
    /// pass before the seqs above the window are added. Returns how
    /// many seqs lay beyond the window above the stored prefix and could not be kept (a late
    /// retry of one of those would be stored again: never expected, counted).
    ///
    /// Value format (`floors` column family), little-endian: prefix u64, written-at ms u64,
    /// then, since session 7, the seqs held above the prefix as a u128 bitmap (bit i = prefix +
    /// 1 + i). Readers take the first 16 bytes when that is all there is (an older value:
    /// nothing held above), and ignore bytes past 32 (a newer writer's). An older binary reads
    /// the prefix and the time and ignores the rest, so rolling back never loses a frame; it
    /// may store again a late retry of a frame held above the prefix.
    pub fn put_floors(
        &self,
        floors: &[(&str, &str, &[RangeInclusive<u64>])],
        now_ms: u64,
    ) -> Result<u64, Error> {
        let Some(cf) = self.cf("floors") else {
            return Ok(0);
        };
        let _guard = self.rmw.lock();
        let mut batch = rocksdb::WriteBatch::default();
        let mut lost = 0u64;
        // A session may come more than once (the floors a failed write kept, then the next
        // segment's): its runs are gathered first, all added to its one stored value. Read one
        // entry at a time, the second would not see the first's put in this batch.
        let mut sessions: BTreeMap<Vec<u8>, Vec<&RangeInclusive<u64>>> = BTreeMap::new();
        for (tenant, sid, seqs) in floors {
            sessions
                .entry(key(tenant, sid))
                .or_default()
                .extend(seqs.iter());
        }
        for (k, mut runs) in sessions {
            let mut held = self
                .db
                .get_pinned_cf(cf, &k)?
                .and_then(|v| decode_floor(&v))
                .map_or(Held::default(), |(h, _)| h);
            runs.sort_unstable_by_key(|r| *r.start());
            for q in runs.into_iter().flat_map(|r| r.clone()) {
                if !held.insert(q) {
                    lost += 1;
                }
            }
            batch.put_cf(cf, k, encode_floor(held, now_ms));
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(lost)
    }

    /// The held set shipped for one session (empty when none was recorded).
    pub fn floor(&self, tenant: &str, sid: &str) -> Result<Held, Error> {
        let Some(cf) = self.cf("floors") else {
            return Ok(Held::default());
        };
        Ok(self
            .db
            .get_pinned_cf(cf, key(tenant, sid))?
            .and_then(|v| decode_floor(&v))
            .map_or(Held::default(), |(h, _)| h))
    }

    /// Floors recorded within `keep_ms` of `now_ms` (older ones are deleted): (tenant, sid,
    /// held set).
    pub fn floors(&self, now_ms: u64, keep_ms: u64) -> Result<Vec<(String, String, Held)>, Error> {
        let Some(cf) = self.cf("floors") else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut stale = Vec::new();
        for item in self.db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            let Some((held, at)) = decode_floor(&v) else {
                stale.push(k);
                continue;
            };
            if now_ms.saturating_sub(at) > keep_ms {
                stale.push(k);
                continue;
            }
            let Some(split) = k.iter().position(|b| *b == 0) else {
                continue;
            };
            out.push((
                String::from_utf8_lossy(&k[..split]).into_owned(),
                String::from_utf8_lossy(&k[split + 1..]).into_owned(),
                held,
            ));
        }
        for k in stale {
            self.db.delete_cf(cf, k)?;
        }
        Ok(out)
    }

    /// The uid bound to a session, if any.
    pub fn session_user(&self, tenant: &str, sid: &str) -> Result<Option<String>, Error> {
        let Some(cf) = self.cf("sessions") else {
            return Ok(None);
        };
        Ok(self
            .db
            .get_cf(cf, key(tenant, sid))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}

/// A `floors` value (format in [`IdentityStore::put_floors`]).
pub fn encode_floor(held: Held, now_ms: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(32);
    v.extend_from_slice(&held.prefix.to_le_bytes());
    v.extend_from_slice(&now_ms.to_le_bytes());
    v.extend_from_slice(&held.above.to_le_bytes());
    v
}

/// Reads a `floors` value of any version: (held set, written at ms).
pub fn decode_floor(v: &[u8]) -> Option<(Held, u64)> {
    let prefix = u64::from_le_bytes(v.get(..8)?.try_into().ok()?);
    let at = u64::from_le_bytes(v.get(8..16)?.try_into().ok()?);
    let above = match v.get(16..32) {
        Some(b) => u128::from_le_bytes(b.try_into().ok()?),
        None => 0,
    };
    Some((Held { prefix, above }, at))
}

/// Whether the user was deleted (GDPR); checked under the read-modify-write lock, which
/// [`IdentityStore::forget_user`] also holds, so no write for them can slip in after it.
fn is_forgotten(db: &DB, tenant: &str, uid: &str) -> Result<bool, Error> {
    Ok(match db.cf_handle("forgotten") {
        Some(cf) => db.get_pinned_cf(cf, key(tenant, uid))?.is_some(),
        None => false,
    })
}

fn add_purchase(
    db: &DB,
    rmw: &Mutex<()>,
    tenant: &str,
    uid: &str,
    cents: i64,
) -> Result<(), Error> {
    let Some(users) = db.cf_handle("users") else {
        return Ok(());
    };
    let _guard = rmw.lock();
    if is_forgotten(db, tenant, uid)? {
        return Ok(());
    }
    let k = key(tenant, uid);
    let mut p: Profile = match db.get_pinned_cf(users, &k)? {
        Some(v) => serde_json::from_slice(&v)?,
        None => Profile::default(),
    };
    p.purchases_cents = p.purchases_cents.saturating_add(cents);
    db.put_cf(users, &k, serde_json::to_vec(&p)?)?;
    Ok(())
}

impl Profile {
    /// What the profile says the user is worth: its stored `ltv` trait plus the purchases
    /// recorded by earlier sessions.
    pub fn value_cents(&self) -> i64 {
        self.ltv_cents
            .max(0)
            .saturating_add(self.purchases_cents.max(0))
    }
}

/// Binds a session to a user and updates the profile. Returns the profile as it was before.
fn bind(
    db: &DB,
    rmw: &Mutex<()>,
    tenant: &str,
    sid: &str,
    id: &Identify,
) -> Result<Profile, Error> {
    let (Some(sessions), Some(users)) = (db.cf_handle("sessions"), db.cf_handle("users")) else {
        return Ok(Profile::default());
    };
    let _guard = rmw.lock();
    if is_forgotten(db, tenant, &id.uid)? {
        return Ok(Profile::default());
    }
    db.put_cf(sessions, key(tenant, sid), id.uid.as_bytes())?;
    let k = key(tenant, &id.uid);
    let mut p: Profile = match db.get_pinned_cf(users, &k)? {
        Some(v) => serde_json::from_slice(&v)?,
        None => Profile::default(),
    };
    let before = p.clone();
    if let Some(e) = &id.email {
        p.email = Some(e.clone());
        if let Some(d) = company_domain(e) {
            p.company.get_or_insert_with(|| d.to_string());
        }
    }
    let t = &id.traits;
    if let Some(c) = get(t, "company").and_then(Value::as_str) {
        p.company = Some(c.to_string());
    }
    if let Some(tier) = get(t, "tier")
        .or_else(|| get(t, "plan"))
        .and_then(Value::as_str)
    {
        p.tier = Some(tier.to_string());
    }
    if let Some(v) = get(t, "ltv").and_then(cents) {
        p.ltv_cents = v;
    }
    p.sessions += 1;
    db.put_cf(users, &k, serde_json::to_vec(&p)?)?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::Seq;

    /// Runs of shipped seqs are added to a session's floor lowest first, whatever their order:
    /// a gap filled late (seq 2 after 3..=200) still lets the prefix reach 200, nothing lost.
    /// Without a gap, the window above the prefix (128 seqs) keeps seqs up to prefix + 128:
    /// at cap − 1, cap and cap + 1 above it, 0, 0 and 1 seq lost.
    #[test]
    fn floors_take_runs_in_any_order_and_keep_the_window() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = IdentityStore::open(dir.path())?;
        let lost = s.put_floors(&[("demo", "late", &[1..=1, 3..=200, 2..=2])], 1)?;
        assert_eq!(lost, 0);
        assert_eq!(s.floor("demo", "late")?, Held::upto(200));
        // The same session twice in one write (a failed write's floors kept, then the next
        // segment's): both entries' runs reach its floor.
        let lost = s.put_floors(
            &[("demo", "twice", &[4..=9]), ("demo", "twice", &[1..=3])],
            1,
        )?;
        assert_eq!(lost, 0);
        assert_eq!(s.floor("demo", "twice")?, Held::upto(9));
        for (sid, top, lost) in [("w127", 128, 0), ("w128", 129, 0), ("w129", 130, 1)] {
            // 1, then 3..=top: the prefix stays at 1 (2 is missing), the window holds 2..=129.
            let got = s.put_floors(&[("demo", sid, &[3..=top, 1..=1])], 1)?;
            assert_eq!(got, lost, "{sid}");
            let held = s.floor("demo", sid)?;
            assert_eq!(held.prefix, 1, "{sid}");
            assert!(held.contains(129.min(top)), "{sid}");
            assert!(!held.contains(130), "{sid}");
        }
        Ok(())
    }

    #[test]
    fn accounts_by_uid_and_email_domain_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let s = IdentityStore::open(dir.path()).expect("open");
            s.put_accounts(
                "demo",
                &[AccountSpec {
                    matches: "@Acme.example".into(),
                    company: Some("Acme".into()),
                    value_cents: 12_000_000,
                    tier: Some("enterprise".into()),
                }],
            )
            .expect("put");
        }
        let s = IdentityStore::open(dir.path()).expect("reopen");
        let id = Identify {
            seq: Seq(1),
            uid: "u1".into(),
            email: Some("dana@acme.example".into()),
            traits: vec![],
        };
        let a = s.account_for("demo", &id).expect("account");
        assert_eq!(a.value_cents, 12_000_000);
        assert_eq!(a.company.as_deref(), Some("Acme"));
        assert_eq!(s.account_for("other", &id), None);
        // Free mail never maps to a company account.
        let free = Identify {
            email: Some("x@gmail.com".into()),
            ..id.clone()
        };
        assert_eq!(s.account_for("demo", &free), None);
        // A user id as long as an `id` frame's may be has its account.
        let long = "u".repeat(sentientiq_tenant::MAX_UID_BYTES);
        s.put_accounts(
            "demo",
            &[AccountSpec {
                matches: long.clone(),
                company: None,
                value_cents: 7,
                tier: None,
            }],
        )
        .expect("put");
        let by_uid = Identify {
            uid: long,
            email: None,
            ..id.clone()
        };
        let a = s
            .account_for("demo", &by_uid)
            .expect("the long uid's account");
        assert_eq!(a.value_cents, 7);
        // Binding and profile.
        bind(
            &s.db,
            &s.rmw,
            "demo",
            "s_0123456789abcdef",
            &Identify {
                traits: vec![
                    ("ltv".into(), Value::Int(5000)),
                    ("plan".into(), Value::Str("pro".into())),
                ],
                ..id.clone()
            },
        )
        .expect("bind");
        assert_eq!(
            s.session_user("demo", "s_0123456789abcdef")
                .expect("get")
                .as_deref(),
            Some("u1")
        );
        let p = s.user("demo", "u1").expect("get").expect("profile");
        assert_eq!(
            (p.ltv_cents, p.tier.as_deref(), p.company.as_deref()),
            (500_000, Some("pro"), Some("acme.example"))
        );
        // Purchases accumulate across sessions; a later binding returns the profile as it was
        // before it (what the returning user was worth).
        s.purchase_now("demo", "u1", 2_500).expect("purchase");
        s.purchase_now("demo", "u1", 500).expect("purchase");
        let before = s
            .bind_now(
                "demo",
                "s_0123456789abcdee",
                &Identify {
                    traits: vec![],
                    ..id
                },
            )
            .expect("bind");
        assert_eq!((before.purchases_cents, before.sessions), (3_000, 1));
        assert_eq!(before.value_cents(), 503_000);
        assert_eq!(s.user("demo", "u1").expect("get").expect("p").sessions, 2);
    }
}
