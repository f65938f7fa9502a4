//! The control plane's state, in embedded RocksDB under the data directory.
//!
//! Every configuration change is one **version**: the changed entities, the change itself (a
//! `ConfigUpdate` delta, kept in the `log` column family for edges that resume) and the new
//! version number are written in one synced batch before the caller is answered, so an
//! acknowledged change survives a crash, and an edge that resumes from version v gets exactly
//! the changes after v. Changes are serialised by one writer lock; readers do not take it.
//!
//! Column families: `tenants` (id → Tenant), `accounts` (tenant \0 match → Account),
//! `deleted_users` (tenant \0 uid → DeletedUser), `log` (version, big-endian → ConfigUpdate),
//! `meta` (`version`), `aggregates` (tenant \0 minute region \0 edge → WindowAggregate),
//! `alerts` (tenant \0 alert → AlertRecord) and `alert_commands` (tenant \0 alert \0 action →
//! AlertCommand), both in [`alerts`]; `dashboard` (tenant \0 `token`|`public`, in [`dashboard`]).
//!
//! **Three views of a tenant.** The stored tenant holds everything, its alerting config
//! (`alerts_toml`, secrets included, as the owner wrote it) too. Admins get [`admin_view`]
//! ([`Store::tenant`], [`Store::tenants`] and every tenant a change returns): never the alerting
//! config, which `GetAlerts` shows redacted. Edges get [`edge_view`] (snapshots and deltas):
//! the alerting config, since edges deliver alerts, and legacy contacts reduced to their ids,
//! since edges need nothing else of them. The stored tenant itself leaves this module only
//! through [`Store::alerts_toml`] and the closure of [`Store::modify_tenant`].
//!
//! Secrets at rest: the alerting config's credentials are stored in the clear in RocksDB, as
//! the rest of the plane's state is (protect `data_dir` as you would the admin token: file
//! permissions, an encrypted volume). Edges seal them in their last-known-good file.

use std::path::Path;
use std::sync::{Arc, Mutex};

use prost::Message;
use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch};
use sentientiq_proto::grpc::{
    Account, ConfigUpdate, Contact, DeleteUserRequest, Tenant, WindowAggregate,
};
use tokio::sync::broadcast;

pub mod alerts;
pub mod dashboard;
pub mod experiments;
pub mod fleet;
pub mod live;
pub mod usage;

const CFS: [&str; 10] = [
    "tenants",
    "accounts",
    "deleted_users",
    "log",
    "meta",
    "aggregates",
    "alerts",
    "alert_commands",
    "experiments",
    "dashboard",
];

/// Deltas kept for resuming edges; an edge further behind gets a full snapshot.
pub const LOG_KEEP: u64 = 10_000;
/// Accounts per snapshot message (a snapshot of a large directory spans several messages).
pub const SNAPSHOT_ACCOUNTS_PER_MESSAGE: usize = 5_000;
/// Encoded bytes of a config message at most (a snapshot's part, an import's version): a
/// quarter of the 4 MiB a gRPC peer decodes by default (tonic's `max_decoding_message_size`,
/// which every edge keeps). A snapshot put tenants and GDPR deletions in its first message
/// whatever their size, and an import committed 1000 accounts a version whatever theirs: a
/// directory past 4 MiB there made every edge that needed it fail to decode it, at each retry.
/// Room to spare, not a measured bound: a message may pass it by its last item only when that
/// item alone is larger (a tenant; accounts are at most [`MAX_ACCOUNT_BYTES`]).
pub const CONFIG_MESSAGE_BYTES: usize = 1 << 20;
/// Bytes of a uid a GDPR deletion names at most: the most an `id` frame's uid can be
/// ([`sentientiq_tenant::MAX_UID_BYTES`]), so that every user an edge identified can be erased.
/// Was 256, which left users with longer ids (an edge takes up to 2 KiB) beyond erasure.
pub const MAX_UID_BYTES: usize = sentientiq_tenant::MAX_UID_BYTES;
/// Encoded bytes of one tenant at most, as edges get it ([`edge_view`]): what leaves room in
/// one [`CONFIG_MESSAGE_BYTES`] message for the message's version and flags and the tenant's
/// key and length (under 20 bytes), so that a version changing one tenant, or a snapshot part
/// holding it, is a message an edge decodes. A tenant stored larger before this was a limit
/// may still be changed without growing (a key revoked): its versions are as large as it (a
/// logged one past the message bytes sends edges behind it a snapshot instead).
pub const MAX_TENANT_BYTES: usize = CONFIG_MESSAGE_BYTES - 64;
/// Encoded bytes of one account at most (match, company, tier, owners): room for a 2 KiB match
/// (`sentientiq_tenant::MAX_UID_BYTES`), a company's name and a hundred owners, so that
/// a version of accounts stays within [`CONFIG_MESSAGE_BYTES`] however they were imported. A
/// chosen bound, not a measured one.
pub const MAX_ACCOUNT_BYTES: usize = 16 * 1024;

/// The store's size limits (the defaults above; tests use small ones to reach them).
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub log_keep: u64,
    pub snapshot_accounts_per_message: usize,
    pub config_message_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> StoreLimits {
        StoreLimits {
            log_keep: LOG_KEEP,
            snapshot_accounts_per_message: SNAPSHOT_ACCOUNTS_PER_MESSAGE,
            config_message_bytes: CONFIG_MESSAGE_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("the OS random source failed: {0}")]
    Random(String),
}

/// The store; clone the `Arc` to share it between services.
pub struct Store {
    db: DB,
    limits: StoreLimits,
    writer: Mutex<()>,
    /// Serialises alert upserts (a record never replaces a newer one) and command changes.
    alerts_writer: Mutex<()>,
    /// Serialises experiment puts (each reads the window it replaces).
    experiments_writer: Mutex<()>,
    /// Every edge boot's experiment counts, summed ([`experiments`]).
    experiment_sums: Mutex<experiments::Sums>,
    /// Serialises window puts (each reads the window it replaces, for the month sums).
    usage_writer: Mutex<()>,
    /// Every edge boot's events per tenant and month ([`usage`]).
    month_sums: Mutex<usage::MonthSums>,
    /// Every edge's latest health report, in memory ([`fleet`]).
    fleet: Mutex<fleet::Fleet>,
    /// The newest detections per tenant for the live feed ([`live`]), and its bell.
    live: Mutex<live::Live>,
    live_bell: tokio::sync::watch::Sender<u64>,
    updates: broadcast::Sender<Arc<ConfigUpdate>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn decode<M: Message + Default>(what: &str, b: &[u8]) -> Result<M, StoreError> {
    M::decode(b).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The most table files the store keeps open (its column families share one table cache).
/// RocksDB's default (−1) keeps every table open, so a store that grows would take the
/// descriptors the plane's connections need; a table evicted is reopened on a miss. 128 tables
/// of the 64 MiB RocksDB writes by default are 8 GiB, past any plane's store (the edge's
/// stores keep the same number). Counted in [`crate::http::FDS_KEPT`].
pub const MAX_OPEN_TABLES: i32 = 128;

/// The write buffer (memtable) of every column family, and so what a write-ahead log reserves
/// on disk (`fallocate`) at its first write: 1.1 times the largest write buffer, 70 MiB at
/// RocksDB's default of 64 MiB, which on ext4 keeps what it got when the disk has less room
/// (the edge's stores had the same setting: `ROCKSDB_WRITE_BUFFER_BYTES` there, found by its
/// fault matrix on ext4, 2026-12-07). Eleven families at RocksDB's default could also hold
/// 1.4 GiB of memtables. A config store's writes are small: 8 MiB, the edge's value.
pub const WRITE_BUFFER_BYTES: usize = 8 << 20;

/// The write-ahead log kept at most, all files together (past it RocksDB flushes the families
/// holding the oldest back): four write buffers' worth, where RocksDB's own bound is four times
/// the sum of every family's (5.5 GiB at its defaults for eleven).
pub const MAX_TOTAL_WAL_BYTES: u64 = 4 * WRITE_BUFFER_BYTES as u64;

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreLimits::default())
    }

    /// Encoded bytes of a config message at most ([`StoreLimits::config_message_bytes`]).
    pub fn config_message_bytes(&self) -> usize {
        self.limits.config_message_bytes
    }

    pub fn open_with(path: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_open_files(MAX_OPEN_TABLES);
        opts.create_missing_column_families(true);
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        // Every family's options, the default one's included (the binding opens an unlisted
        // default family with RocksDB's defaults).
        let cfs = std::iter::once(rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
            .chain(CFS)
            .map(|n| {
                let mut cf = Options::default();
                cf.set_write_buffer_size(WRITE_BUFFER_BYTES);
                ColumnFamilyDescriptor::new(n, cf)
            });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let (updates, _) = broadcast::channel(1024);
        let store = Store {
            db,
            limits,
            writer: Mutex::new(()),
            alerts_writer: Mutex::new(()),
            experiments_writer: Mutex::new(()),
            experiment_sums: Mutex::new(experiments::Sums::new()),
            usage_writer: Mutex::new(()),
            month_sums: Mutex::new(usage::MonthSums::new()),
            fleet: Mutex::new(fleet::Fleet::new()),
            live: Mutex::new(live::Live::default()),
            live_bell: tokio::sync::watch::Sender::new(0),
            updates,
        };
        let month = store.load_month_sums(usage::month_of_minute(crate::now_minute()))?;
        *store.lock_month_sums() = month;
        let sums = store.load_experiment_sums()?;
        *store
            .experiment_sums
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = sums;
        Ok(store)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        // Every name used is in CFS, created at open.
        self.db
            .cf_handle(name)
            .unwrap_or_else(|| unreachable!("column family {name} is created at open"))
    }

    /// Subscribes to every committed change, in version order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ConfigUpdate>> {
        self.updates.subscribe()
    }

    /// The current config version (0: nothing configured yet).
    pub fn version(&self) -> Result<u64, StoreError> {
        Ok(match self.db.get_cf(self.cf("meta"), b"version")? {
            Some(b) => u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("version".into()))?,
            ),
            None => 0,
        })
    }

    /// A tenant as admins see it ([`admin_view`]: no alerting config).
    pub fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        Ok(self.stored_tenant(id)?.map(admin_view))
    }

    /// Every tenant as admins see them ([`admin_view`]).
    pub fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        Ok(self.stored_tenants()?.into_iter().map(admin_view).collect())
    }

    /// A page of tenants as admins see them: those whose ids come after `after` (byte order),
    /// at most `limit` and `bytes` encoded (at least one), and whether more follow.
    pub fn tenants_page(
        &self,
        after: &str,
        limit: usize,
        bytes: usize,
    ) -> Result<(Vec<Tenant>, bool), StoreError> {
        let mut out = Vec::new();
        let mut used = 0;
        let mut it = self.db.raw_iterator_cf(self.cf("tenants"));
        it.seek(after.as_bytes());
        if it.valid() && it.key() == Some(after.as_bytes()) {
            it.next();
        }
        while let Some(v) = it.valid().then(|| it.value()).flatten() {
            if out.len() >= limit {
                return Ok((out, true));
            }
            let t = admin_view(decode("tenant", v)?);
            let n = config_field_bytes(t.encoded_len());
            if !out.is_empty() && used + n > bytes {
                return Ok((out, true));
            }
            used += n;
            out.push(t);
            it.next();
        }
        it.status()?;
        Ok((out, false))
    }

    /// The stored tenants this version's checks refuse, with why: those stored by an earlier
    /// version under looser rules. Edges of this version refuse them too, and any change to
    /// one is refused until what is named is fixed. The plane logs them at start.
    pub fn refused_tenants(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .stored_tenants()?
            .iter()
            .filter_map(|t| {
                validate_change(t, Some(t))
                    .err()
                    .map(|e| (t.id.clone(), e.to_string()))
            })
            .collect())
    }

    /// How many tenants are stored: their keys counted, none decoded (each scrape of
    /// `/metrics` asks; a tenant may be 1 MiB).
    pub fn tenant_count(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        // Values share blocks with keys: read them past the cache, not into it.
        let mut ro = rocksdb::ReadOptions::default();
        ro.fill_cache(false);
        let mut it = self.db.raw_iterator_cf_opt(self.cf("tenants"), ro);
        it.seek_to_first();
        while it.valid() {
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(n)
    }

    /// The tenant as stored: its alerting config included. Never for an admin's answer.
    fn stored_tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        self.db
            .get_cf(self.cf("tenants"), id.as_bytes())?
            .map(|b| decode("tenant", &b))
            .transpose()
    }

    fn stored_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.db
            .iterator_cf(self.cf("tenants"), IteratorMode::Start)
            .map(|r| decode("tenant", &r?.1))
            .collect()
    }

    /// A tenant's alerting config as its owner wrote it, secrets included (`None`: it has
    /// none). For redaction before it is shown; [`NotFound`](StoreError::NotFound) without the
    /// tenant.
    pub fn alerts_toml(&self, id: &str) -> Result<Option<String>, StoreError> {
        let t = self
            .stored_tenant(id)?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))?;
        Ok(Some(t.alerts_toml).filter(|a| !a.is_empty()))
    }

    /// Sets (or, with an empty `toml`, removes) a tenant's alerting config as one version,
    /// after validating the tenant with it: its rules' chains and contacts must resolve
    /// against it, so removing a config a rule still pages is refused.
    pub fn set_alerts(&self, id: &str, toml: String) -> Result<u64, StoreError> {
        let (_, (), version) = self.modify_tenant(id, |t| {
            t.alerts_toml = toml;
            Ok(())
        })?;
        Ok(version)
    }

    fn prefixed<M: Message + Default>(
        &self,
        cf: &str,
        prefix: &[u8],
    ) -> Result<Vec<M>, StoreError> {
        let mut out = Vec::new();
        for r in self
            .db
            .iterator_cf(self.cf(cf), IteratorMode::From(prefix, Direction::Forward))
        {
            let (k, v) = r?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push(decode(cf, &v)?);
        }
        Ok(out)
    }

    /// The account directory of one tenant (all tenants with `None`).
    pub fn accounts(&self, tenant: Option<&str>) -> Result<Vec<Account>, StoreError> {
        let p = tenant.map(|t| key2(t, "")).unwrap_or_default();
        self.prefixed("accounts", &p)
    }

    /// The recorded GDPR deletions of one tenant (all tenants with `None`).
    pub fn deleted_users(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<DeleteUserRequest>, StoreError> {
        let p = tenant.map(|t| key2(t, "")).unwrap_or_default();
        self.prefixed("deleted_users", &p)
    }

    /// Commits one change as the next version: `stage` adds the entities to `batch`, fills in
    /// the delta and returns what the caller needs from it. Synced before it returns.
    fn commit<R>(
        &self,
        stage: impl FnOnce(&Store, &mut WriteBatch, &mut ConfigUpdate) -> Result<R, StoreError>,
    ) -> Result<(ConfigUpdate, R), StoreError> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| StoreError::Corrupt("a writer panicked".into()))?;
        let version = self.version()? + 1;
        let mut batch = WriteBatch::default();
        let mut delta = ConfigUpdate {
            version,
            ..ConfigUpdate::default()
        };
        let r = stage(self, &mut batch, &mut delta)?;
        batch.put_cf(self.cf("log"), version.to_be_bytes(), delta.encode_to_vec());
        batch.put_cf(self.cf("meta"), b"version", version.to_be_bytes());
        let keep = self.limits.log_keep;
        if version > keep {
            batch.delete_range_cf(
                self.cf("log"),
                0u64.to_be_bytes(),
                (version - keep + 1).to_be_bytes(),
            );
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        // No subscriber is not an error: edges catch up from the log when they connect.
        let _ = self.updates.send(Arc::new(delta.clone()));
        Ok((delta, r))
    }

    /// Creates a tenant with a new [`incarnation`]; fails if it exists. Returns it as admins
    /// see it.
    pub fn create_tenant(&self, mut t: Tenant) -> Result<(Tenant, u64), StoreError> {
        t.incarnation = incarnation()?;
        // Edges' sealed copies never come from here.
        t.alerts_sealed.clear();
        validate_tenant(&t)?;
        let (d, t) = self.commit(|s, b, d| {
            if s.stored_tenant(&t.id)?.is_some() {
                return Err(StoreError::Exists(format!("tenant {}", t.id)));
            }
            b.put_cf(s.cf("tenants"), t.id.as_bytes(), t.encode_to_vec());
            d.upserted.push(edge_view(&t));
            Ok(t)
        })?;
        Ok((admin_view(t), d.version))
    }

    /// Changes a tenant with `f` (read, modify, write under the writer lock); `f` may fail.
    /// `f` sees the tenant as stored (its alerting config included); the tenant returned is
    /// what admins see of the result.
    pub fn modify_tenant<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Tenant) -> Result<R, StoreError>,
    ) -> Result<(Tenant, R, u64), StoreError> {
        let (d, (t, r)) = self.commit(|s, b, d| {
            let mut t = s
                .stored_tenant(id)?
                .ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))?;
            let incarnation = t.incarnation;
            let was = t.clone();
            let r = f(&mut t)?;
            if t.id != id {
                return Err(StoreError::Invalid("a tenant's id cannot change".into()));
            }
            // The plane's record, whatever an admin's copy of the tenant says.
            t.incarnation = incarnation;
            t.alerts_sealed.clear();
            validate_change(&t, Some(&was))?;
            b.put_cf(s.cf("tenants"), t.id.as_bytes(), t.encode_to_vec());
            d.upserted.push(edge_view(&t));
            Ok((t, r))
        })?;
        Ok((admin_view(t), r, d.version))
    }

    /// Deletes a tenant with its accounts, deletion records, EVI windows, alert records and
    /// pending alert commands.
    pub fn delete_tenant(&self, id: &str) -> Result<u64, StoreError> {
        // No alert record of it is being stored meanwhile.
        let _alerts = self.alerts_lock()?;
        let (d, ()) = self.commit(|s, b, d| {
            if s.stored_tenant(id)?.is_none() {
                return Err(StoreError::NotFound(format!("tenant {id}")));
            }
            b.delete_cf(s.cf("tenants"), id.as_bytes());
            let (lo, mut hi) = (key2(id, ""), key2(id, ""));
            if let Some(last) = hi.last_mut() {
                *last = 1; // "id\x01" sorts after every "id\0…"
            }
            b.delete_range_cf(s.cf("accounts"), &lo, &hi);
            b.delete_range_cf(s.cf("deleted_users"), &lo, &hi);
            // Its EVI windows, alert records and pending commands go with it (keys start
            // "id\0" too).
            b.delete_range_cf(s.cf("aggregates"), &lo, &hi);
            b.delete_range_cf(s.cf("alerts"), &lo, &hi);
            b.delete_range_cf(s.cf("alert_commands"), &lo, &hi);
            // Its dashboard token and publication ([`dashboard`]).
            b.delete_range_cf(s.cf("dashboard"), &lo, &hi);
            d.deleted_tenant_ids.push(id.to_string());
            Ok(())
        })?;
        Ok(d.version)
    }

    /// Upserts accounts (one version for the whole slice).
    pub fn upsert_accounts(&self, accounts: &[Account]) -> Result<u64, StoreError> {
        for a in accounts {
            validate_account(a)?;
        }
        let (d, ()) = self.commit(|s, b, d| {
            for a in accounts {
                if s.stored_tenant(&a.tenant_id)?.is_none() {
                    return Err(StoreError::NotFound(format!("tenant {}", a.tenant_id)));
                }
                b.put_cf(
                    s.cf("accounts"),
                    key2(&a.tenant_id, &a.r#match),
                    a.encode_to_vec(),
                );
            }
            d.accounts = accounts.to_vec();
            Ok(())
        })?;
        Ok(d.version)
    }

    /// Why `a` would be refused, if it would: invalid, or its tenant does not exist.
    pub fn check_account(&self, a: &Account) -> Result<(), StoreError> {
        validate_account(a)?;
        if self.stored_tenant(&a.tenant_id)?.is_none() {
            return Err(StoreError::NotFound(format!("tenant {}", a.tenant_id)));
        }
        Ok(())
    }

    /// Records a GDPR deletion of a user; edges purge the identity and suppress the user. Any
    /// uid a session can carry (1 to [`MAX_UID_BYTES`]) can be erased.
    pub fn delete_user(&self, r: &DeleteUserRequest) -> Result<u64, StoreError> {
        if r.uid.is_empty() || r.uid.len() > MAX_UID_BYTES {
            return Err(StoreError::Invalid(format!(
                "uid must be 1 to {MAX_UID_BYTES} bytes (the most a session's uid can be)"
            )));
        }
        let (d, ()) = self.commit(|s, b, d| {
            if s.stored_tenant(&r.tenant_id)?.is_none() {
                return Err(StoreError::NotFound(format!("tenant {}", r.tenant_id)));
            }
            b.put_cf(
                s.cf("deleted_users"),
                key2(&r.tenant_id, &r.uid),
                r.encode_to_vec(),
            );
            d.deleted_users.push(r.clone());
            Ok(())
        })?;
        Ok(d.version)
    }

    /// Everything as of the current version, as one or more messages (all but the last with
    /// `more`), tenants as edges see them ([`edge_view`]). Tenants, then GDPR deletions, then
    /// accounts fill each message up to `config_message_bytes` encoded (an item larger than
    /// that alone gets a message to itself) and `snapshot_accounts_per_message` accounts; an
    /// edge merges the parts (every edge has: `upserted`, `deleted_users` and `accounts` of
    /// each part). Taken under the writer lock so it is one consistent version.
    pub fn snapshot(&self) -> Result<Vec<ConfigUpdate>, StoreError> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| StoreError::Corrupt("a writer panicked".into()))?;
        let version = self.version()?;
        let mut parts = Parts::new(version, self.limits);
        for t in self.stored_tenants()? {
            let t = edge_view(&t);
            parts.add(t.encoded_len(), false, |u| u.upserted.push(t));
        }
        for d in self.deleted_users(None)? {
            parts.add(d.encoded_len(), false, |u| u.deleted_users.push(d));
        }
        for a in self.accounts(None)? {
            parts.add(a.encoded_len(), true, |u| u.accounts.push(a));
        }
        Ok(parts.done())
    }

    /// The deltas after `from` up to the current version, or `None` when the log no longer
    /// holds all of them (or `from` is ahead of this store: a store restored from an older
    /// backup), or when one is larger than `config_message_bytes` (logged before versions were
    /// bounded: an edge could not decode it, and would ask again for ever), and the edge needs
    /// a snapshot (which comes in parts).
    pub fn deltas_since(&self, from: u64) -> Result<Option<Vec<ConfigUpdate>>, StoreError> {
        let current = self.version()?;
        if from > current {
            return Ok(None);
        }
        let mut out = Vec::with_capacity((current - from) as usize);
        for v in from + 1..=current {
            match self.db.get_cf(self.cf("log"), v.to_be_bytes())? {
                Some(b) => {
                    let mut u: ConfigUpdate = decode("log entry", &b)?;
                    // Entries logged before edges got their own view carry the admin's.
                    for t in &mut u.upserted {
                        *t = edge_view(t);
                    }
                    if u.encoded_len() > self.limits.config_message_bytes {
                        return Ok(None);
                    }
                    out.push(u);
                }
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Stores windows (idempotent: one per tenant, region, edge and minute), synced. A window
    /// named outside the edge rules (`check_boot`: a misnamed edge's) refuses the whole batch;
    /// one of a tenant that does not exist (an edge's late report after the tenant was
    /// deleted) or whose content this version refuses (more emotions than it knows: a newer
    /// edge's) is not stored, and counted in what is returned, so that it never holds back the
    /// edge's other windows, which it would re-send with it for ever.
    pub fn put_aggregates(&self, windows: &[WindowAggregate]) -> Result<Skipped, StoreError> {
        for w in windows {
            check_boot(&w.region, &w.edge_id)
                .map_err(|e| StoreError::Invalid(format!("a window's {e}")))?;
        }
        let _w = self.usage_writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = WriteBatch::default();
        let mut known = std::collections::HashMap::new();
        let mut skipped = Skipped::default();
        let mut gains = Vec::with_capacity(windows.len());
        for w in windows {
            if let Err(e) = validate_window(w) {
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
            if exists {
                let k = agg_key(w);
                let old = self.stored_events(&k)?;
                b.put_cf(self.cf("aggregates"), &k, w.encode_to_vec());
                gains.push((k, w, old));
            } else {
                skipped.unknown_tenant += 1;
            }
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(b, &wo)?;
        // Two windows of one key in the same call: the second gains over the first.
        let mut sums = self.lock_month_sums();
        let mut last: std::collections::HashMap<&[u8], u64> = std::collections::HashMap::new();
        for (k, w, old) in &gains {
            let before = last.get(k.as_slice()).copied().or(*old);
            usage::add_gain(&mut sums, w, before);
            last.insert(k, w.events);
        }
        Ok(skipped)
    }

    /// A tenant's windows from every region and edge with `from <= minute < to`: a range
    /// read (keys sort by tenant, then minute).
    pub fn aggregates(
        &self,
        tenant: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowAggregate>, StoreError> {
        let (lo, hi) = (agg_prefix(tenant, from), agg_prefix(tenant, to));
        let mut out = Vec::new();
        for r in self.db.iterator_cf(
            self.cf("aggregates"),
            IteratorMode::From(&lo, Direction::Forward),
        ) {
            let (k, v) = r?;
            if *k >= *hi {
                break;
            }
            out.push(decode("window", &v)?);
        }
        Ok(out)
    }
}

/// The bytes an item of `len` encoded bytes adds to a `ConfigUpdate` as an element of one of
/// its repeated fields: its key (one byte: every such field's number is below 16), its length,
/// itself.
pub fn config_field_bytes(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// One tick's counts (experiment totals or quota usage) as config messages of at most `bytes`
/// encoded each, in order: `base` is every message without the counts, `put` adds one count.
/// All but the last have `counts_more` set (an edge applies the parts together when the last
/// arrives). A count larger alone than `bytes` goes in a message of its own; no counts: `base`
/// alone (for quota usage, a month with none used; an edge takes an empty list of totals as
/// nothing sent and keeps the totals it had).
pub fn count_parts<T: prost::Message>(
    base: &ConfigUpdate,
    counts: Vec<T>,
    bytes: usize,
    put: impl Fn(&mut ConfigUpdate, T),
) -> Vec<ConfigUpdate> {
    // With `counts_more` set: its key and a byte.
    let empty = base.encoded_len() + 2;
    let mut out = vec![base.clone()];
    let mut used = empty;
    let mut items = 0usize;
    for c in counts {
        let field = config_field_bytes(c.encoded_len());
        if items > 0 && used + field > bytes {
            if let Some(last) = out.last_mut() {
                last.counts_more = true;
            }
            out.push(base.clone());
            (used, items) = (empty, 0);
        }
        if let Some(last) = out.last_mut() {
            put(last, c);
        }
        used += field;
        items += 1;
    }
    out
}

/// A snapshot's messages as they fill ([`Store::snapshot`]).
struct Parts {
    limits: StoreLimits,
    out: Vec<ConfigUpdate>,
    /// The last message's encoded bytes as it would go out (with `more` set; the last part's
    /// flag cleared only makes it smaller).
    bytes: usize,
    items: usize,
    accounts: usize,
}

impl Parts {
    fn new(version: u64, limits: StoreLimits) -> Parts {
        let mut p = Parts {
            limits,
            out: Vec::new(),
            bytes: 0,
            items: 0,
            accounts: 0,
        };
        p.open(version);
        p
    }

    fn open(&mut self, version: u64) {
        let u = ConfigUpdate {
            version,
            full_snapshot: true,
            more: true,
            ..ConfigUpdate::default()
        };
        self.bytes = u.encoded_len();
        self.out.push(u);
        (self.items, self.accounts) = (0, 0);
    }

    /// Adds an item of `len` encoded bytes with `put`, in a new message when this one is full.
    fn add(&mut self, len: usize, account: bool, put: impl FnOnce(&mut ConfigUpdate)) {
        let field = config_field_bytes(len);
        let full = self.bytes + field > self.limits.config_message_bytes
            || (account && self.accounts >= self.limits.snapshot_accounts_per_message.max(1));
        if full && self.items > 0 {
            let version = self.out[0].version;
            self.open(version);
        }
        if let Some(u) = self.out.last_mut() {
            put(u);
        }
        self.bytes += field;
        self.items += 1;
        self.accounts += usize::from(account);
    }

    fn done(mut self) -> Vec<ConfigUpdate> {
        if let Some(last) = self.out.last_mut() {
            last.more = false;
        }
        self.out
    }
}

/// Minutes as order-preserving bytes (sign bit flipped, big-endian).
fn minute_key(m: i64) -> [u8; 8] {
    ((m as u64) ^ (1 << 63)).to_be_bytes()
}

fn agg_prefix(tenant: &str, minute: i64) -> Vec<u8> {
    let mut k = key2(tenant, "");
    k.extend_from_slice(&minute_key(minute));
    k
}

fn agg_key(w: &WindowAggregate) -> Vec<u8> {
    let mut k = agg_prefix(&w.tenant_id, w.minute);
    k.extend_from_slice(w.region.as_bytes());
    k.push(0);
    k.extend_from_slice(w.edge_id.as_bytes());
    k
}

/// What an edge gets of a tenant: everything it runs with, the alerting config included (edges
/// deliver alerts, so they need its credentials), and legacy contacts reduced to their ids
/// (an edge only names them in its `actions` rows). Never a sealed copy.
pub fn edge_view(t: &Tenant) -> Tenant {
    let mut e = t.clone();
    for c in &mut e.contacts {
        *c = Contact {
            id: std::mem::take(&mut c.id),
            ..Contact::default()
        };
    }
    e.alerts_sealed.clear();
    e
}

/// A tenant's incarnation: a random number from the OS generator, 1 to 2^53 - 1 (exact as a
/// JSON number, which siqctl --json and the dashboard print). Random rather than the store's
/// version, which starts again at 1 in a rebuilt store: an edge compares it across both.
fn incarnation() -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(incarnation_of(u64::from_le_bytes(b)))
}

/// 64 random bits as an incarnation: the top 53, never 0 (0 is "drawn before incarnations").
fn incarnation_of(bits: u64) -> u64 {
    (bits >> 11).max(1)
}

/// What an admin gets of a tenant: everything but its alerting config (`GetAlerts` shows that
/// redacted).
pub fn admin_view(mut t: Tenant) -> Tenant {
    t.alerts_toml.clear();
    t.alerts_sealed.clear();
    t
}

/// Why a window's `region` and `edge_id` (the boot's report id, `edge@boot_ms`) cannot be
/// stored, if they cannot: both are parts of its key, and of the per-boot sums' (`region \0
/// report id`), so each keeps to its rule (`grpc::valid_edge_name`, `grpc::valid_report_id`).
/// An edge's config refuses any other name at start; one breaking it here is not an edge's.
pub(crate) fn check_boot(region: &str, report_id: &str) -> Result<(), String> {
    use sentientiq_proto::grpc;
    if !grpc::valid_edge_name(region) {
        return Err(format!(
            "region {}: {}",
            sentientiq_proto::shown_name(region),
            grpc::EDGE_NAME_RULE
        ));
    }
    if !grpc::valid_report_id(report_id) {
        return Err(format!(
            "edge_id {}: {}",
            sentientiq_proto::shown_name(report_id),
            grpc::REPORT_ID_RULE
        ));
    }
    Ok(())
}

/// What an edge would refuse is refused here, before it reaches any edge: the tenant goes
/// through the same validator (`sentientiq_tenant`) edges build their tenants with.
pub fn validate_tenant(t: &Tenant) -> Result<(), StoreError> {
    validate_change(t, None)
}

/// [`validate_tenant`] for a change of tenant `was` as stored: what it was stored with before
/// a limit existed may stay. One larger than [`MAX_TENANT_BYTES`] may still be changed (a key
/// revoked, an origin removed) as long as it does not grow; a frame or body limit below its
/// floor may be kept, not set ([`sentientiq_tenant::TenantSpec::validate_write`]).
fn validate_change(t: &Tenant, was: Option<&Tenant>) -> Result<(), StoreError> {
    let invalid = |e: sentientiq_tenant::Error| StoreError::Invalid(e.to_string());
    let spec = sentientiq_tenant::TenantSpec::from_plane(t).map_err(invalid)?;
    let before = was.and_then(|w| sentientiq_tenant::TenantSpec::from_plane(w).ok());
    spec.validate_write(before.as_ref())
        .map(drop)
        .map_err(invalid)?;
    let n = edge_view(t).encoded_len();
    let was = was.map_or(0, |w| edge_view(w).encoded_len());
    if n > MAX_TENANT_BYTES && n > was {
        return Err(StoreError::Invalid(format!(
            "tenant {}: {n} bytes as edges get it (its rules, contacts, origins, labels and \
             alerting config); at most {MAX_TENANT_BYTES}",
            t.id
        )));
    }
    Ok(())
}

fn validate_account(a: &Account) -> Result<(), StoreError> {
    sentientiq_tenant::check_account(&a.r#match, a.lifetime_value_cents)
        .map_err(StoreError::Invalid)?;
    let n = a.encoded_len();
    if n > MAX_ACCOUNT_BYTES {
        return Err(StoreError::Invalid(format!(
            "account {}: {n} bytes encoded (its company, tier and owners); at most \
             {MAX_ACCOUNT_BYTES}",
            a.r#match
        )));
    }
    Ok(())
}

/// Reported windows not stored: of tenants that do not exist, and refused by their content
/// (the first one's reason kept, for the log).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Skipped {
    pub unknown_tenant: usize,
    pub invalid: usize,
    pub reason: Option<String>,
}

impl Skipped {
    fn invalid(&mut self, e: StoreError) {
        self.invalid += 1;
        self.reason.get_or_insert_with(|| e.to_string());
    }

    /// Both counts of `self` and `other`; the first reason.
    pub fn and(mut self, other: Skipped) -> Skipped {
        self.unknown_tenant += other.unknown_tenant;
        self.invalid += other.invalid;
        self.reason = self.reason.or(other.reason);
        self
    }
}

/// Emotions a window counts at most: one count an emotion, in the core's order
/// (`Emotion::ALL`, 5 today), and room for those a newer edge detects, whose windows are
/// stored whole (the EVI reads the emotions it knows; usage counts every detection) rather
/// than lost while edges are upgraded before the plane. A chosen bound, not a measured one: a
/// window stays small (each count a u64).
pub const MAX_WINDOW_EMOTIONS: usize = 32;

/// A window's content (its boot's names are checked first, by the batch).
fn validate_window(w: &WindowAggregate) -> Result<(), StoreError> {
    if w.tenant_id.is_empty() {
        return Err(StoreError::Invalid("a window needs a tenant".into()));
    }
    if w.detections.len() > MAX_WINDOW_EMOTIONS || w.intensity_milli.len() > MAX_WINDOW_EMOTIONS {
        return Err(StoreError::Invalid(format!(
            "at most {MAX_WINDOW_EMOTIONS} emotions per window"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(limits: StoreLimits) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_with(dir.path(), limits).expect("open");
        (dir, s)
    }

    /// The store keeps at most `MAX_OPEN_TABLES` tables open, as RocksDB records it: the
    /// descriptors `http::FDS_KEPT` counts for it.
    #[test]
    fn the_store_caps_its_open_tables() {
        let (dir, _s) = store(StoreLimits::default());
        assert_eq!(
            sentientiq_testkit::rocks::option(dir.path(), "max_open_files"),
            Some(MAX_OPEN_TABLES.to_string())
        );
    }

    /// Every column family's write buffer is `WRITE_BUFFER_BYTES` and the log is bounded, so
    /// the write-ahead log's reservation at its first write follows it.
    #[test]
    fn the_stores_wal_reserves_little_disk() {
        let (dir, s) = store(StoreLimits::default());
        s.create_tenant(tenant("acme")).expect("create");
        sentientiq_testkit::rocks::assert_wal_bounded(
            dir.path(),
            CFS.len() + 1,
            WRITE_BUFFER_BYTES,
            MAX_TOTAL_WAL_BYTES,
        );
    }

    /// Accounts `u000`… of `tenant`, each with a company of `company` bytes.
    fn accounts(tenant: &str, n: usize, company: usize) -> Vec<Account> {
        (0..n)
            .map(|i| Account {
                tenant_id: tenant.into(),
                r#match: format!("u{i:03}"),
                company: "c".repeat(company),
                ..Account::default()
            })
            .collect()
    }

    fn tenant(id: &str) -> Tenant {
        Tenant {
            id: id.into(),
            ..Tenant::default()
        }
    }

    #[test]
    fn the_log_keeps_exactly_log_keep_deltas_then_edges_need_a_snapshot() {
        let (_d, s) = store(StoreLimits {
            log_keep: 3,
            ..StoreLimits::default()
        });
        for i in 0..5 {
            s.create_tenant(tenant(&format!("t{i}"))).expect("create");
        }
        assert_eq!(s.version().expect("version"), 5);
        // Versions 3, 4 and 5 are kept: an edge at 2 resumes, one at 1 cannot.
        let d = s.deltas_since(2).expect("read").expect("in the log");
        assert_eq!(d.iter().map(|u| u.version).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(s.deltas_since(1).expect("read").is_none());
        assert_eq!(s.deltas_since(5).expect("read"), Some(vec![]));
        assert!(
            s.deltas_since(6).expect("read").is_none(),
            "ahead of the store"
        );
    }

    /// A frame limit below the floor is refused when set, kept when it was stored before
    /// the floor existed (so the tenant's other changes, a key revoked, still go through).
    #[test]
    fn a_frame_limit_below_its_floor_may_be_kept_not_set() {
        let (_d, s) = store(StoreLimits::default());
        let low = |n: u32| {
            Some(sentientiq_proto::grpc::Limits {
                max_frame_bytes: Some(n),
                ..sentientiq_proto::grpc::Limits::default()
            })
        };
        let floor = sentientiq_tenant::MIN_FRAME_BYTES as u32;
        let mut t = Tenant {
            id: "acme".into(),
            limits: low(floor - 1),
            ..Tenant::default()
        };
        let e = s.create_tenant(t.clone()).expect_err("below the floor");
        assert!(
            e.to_string().contains("at least 8192 bytes, not 8191"),
            "{e}"
        );
        t.limits = low(floor);
        s.create_tenant(t.clone()).expect("at the floor");
        let set = s.modify_tenant("acme", |t| {
            t.limits = low(100);
            Ok(())
        });
        assert!(matches!(set, Err(StoreError::Invalid(_))), "{set:?}");
        // Stored with 100 before the floor: other changes go through, the 100 stays.
        t.limits = low(100);
        s.db.put_cf(s.cf("tenants"), b"acme", t.encode_to_vec())
            .expect("stored before the floor");
        let (changed, _, _) = s
            .modify_tenant("acme", |t| {
                t.allowed_origins = vec!["https://acme.example".into()];
                Ok(())
            })
            .expect("kept, not set");
        assert_eq!(changed.limits, low(100));
        let lower = s.modify_tenant("acme", |t| {
            t.limits = low(99);
            Ok(())
        });
        assert!(matches!(lower, Err(StoreError::Invalid(_))), "{lower:?}");
        // Kept below the floor is not a refused tenant; one stored under looser rules is,
        // named with why (the plane logs it at start).
        assert_eq!(s.refused_tenants().expect("read"), vec![]);
        let loose = Tenant {
            id: "loose".into(),
            thresholds: Some(sentientiq_proto::grpc::Thresholds {
                rage_clicks: Some(0),
                ..Default::default()
            }),
            ..Tenant::default()
        };
        s.db.put_cf(s.cf("tenants"), b"loose", loose.encode_to_vec())
            .expect("stored by an earlier version");
        let refused = s.refused_tenants().expect("read");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, "loose");
        assert!(refused[0].1.contains("tenant `loose`"), "{refused:?}");
    }

    #[test]
    fn tenants_come_in_pages_by_count_and_bytes_in_id_order() {
        let (_d, s) = store(StoreLimits::default());
        for id in ["t0", "t1", "t2", "t3", "t4"] {
            s.create_tenant(tenant(id)).expect("create");
        }
        let ids = |(page, more): (Vec<Tenant>, bool)| {
            (page.into_iter().map(|t| t.id).collect::<Vec<_>>(), more)
        };
        let page = |after: &str, limit: usize, bytes: usize| {
            ids(s.tenants_page(after, limit, bytes).expect("page"))
        };
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // By count: a limit of all but one, all, and one more.
        assert_eq!(page("", 4, 1 << 20), (v(&["t0", "t1", "t2", "t3"]), true));
        assert_eq!(
            page("", 5, 1 << 20),
            (v(&["t0", "t1", "t2", "t3", "t4"]), false)
        );
        assert_eq!(
            page("", 6, 1 << 20),
            (v(&["t0", "t1", "t2", "t3", "t4"]), false)
        );
        // After an id, stored or not; past the last, nothing.
        assert_eq!(page("t1", 2, 1 << 20), (v(&["t2", "t3"]), true));
        assert_eq!(page("t3", 2, 1 << 20), (v(&["t4"]), false));
        assert_eq!(page("t1x", 1, 1 << 20), (v(&["t2"]), true));
        assert_eq!(page("t4", 2, 1 << 20), (v(&[]), false));
        // By bytes: two tenants' exactly, one byte less, and a page too small for any (one).
        // (Each tenant's size is its own: its random incarnation is 7 or 8 bytes.)
        let b = |id: &str| config_field_bytes(s.tenant(id).expect("get").expect(id).encoded_len());
        let two = b("t0") + b("t1");
        assert_eq!(page("", 10, two), (v(&["t0", "t1"]), true));
        assert_eq!(page("", 10, two - 1), (v(&["t0"]), true));
        assert_eq!(page("", 10, 1), (v(&["t0"]), true));
    }

    /// A tenant carries a random incarnation, to edges too; an admin's copy cannot change it,
    /// and an id deleted and created again gets another.
    #[test]
    fn a_tenant_gets_an_incarnation_when_created() {
        let (_d, s) = store(StoreLimits::default());
        assert_eq!(s.tenant_count().expect("count"), 0);
        s.create_tenant(tenant("other")).expect("create");
        assert_eq!(s.tenant_count().expect("count"), 1);
        let mut forged = tenant("acme");
        forged.incarnation = 77;
        let (t, _) = s.create_tenant(forged).expect("create");
        let first = t.incarnation;
        assert!((1..1 << 53).contains(&first) && first != 77, "{first}");
        let (t, (), _) = s
            .modify_tenant("acme", |t| {
                t.incarnation = 1;
                t.name = "Acme".into();
                Ok(())
            })
            .expect("modify");
        assert_eq!((t.incarnation, t.name.as_str()), (first, "Acme"));
        assert_eq!(s.tenant_count().expect("count"), 2);
        s.delete_tenant("acme").expect("delete");
        assert_eq!(s.tenant_count().expect("count"), 1);
        let (t, v) = s.create_tenant(tenant("acme")).expect("again");
        assert_ne!(t.incarnation, first);
        let d = s.deltas_since(v - 1).expect("read").expect("in the log");
        assert_eq!(d[0].upserted[0].incarnation, t.incarnation, "edges get it");
        let snap = s.snapshot().expect("snapshot");
        let acme = snap[0]
            .upserted
            .iter()
            .find(|x| x.id == "acme")
            .expect("acme");
        assert_eq!(acme.incarnation, t.incarnation);
        // The range's ends, then draws: a hundred distinct, within it, and spread over it. Of
        // a hundred uniform draws, all in one half of the range has odds of 2^-99: a source
        // short of bits (the top bytes never filled, say) puts every draw in the lower half.
        assert_eq!(incarnation_of(0), 1);
        assert_eq!(incarnation_of((1 << 11) - 1), 1);
        assert_eq!(incarnation_of(1 << 11), 1);
        assert_eq!(incarnation_of(2 << 11), 2);
        assert_eq!(incarnation_of(u64::MAX), (1 << 53) - 1);
        let drawn: std::collections::BTreeSet<u64> =
            (0..100).map(|_| incarnation().expect("random")).collect();
        assert_eq!(drawn.len(), 100);
        assert!(drawn.iter().all(|i| (1..1 << 53).contains(i)));
        assert!(drawn.iter().any(|&i| i >= 1 << 52), "{drawn:?}");
        assert!(drawn.iter().any(|&i| i < 1 << 52), "{drawn:?}");
    }

    #[test]
    fn snapshot_parts_stay_within_their_bytes_and_carry_everything_once() {
        let fill = |limit: usize| {
            let (d, s) = store(StoreLimits {
                config_message_bytes: limit,
                ..StoreLimits::default()
            });
            for i in 0..30 {
                s.create_tenant(Tenant {
                    id: format!("t{i:02}"),
                    name: "n".repeat(200),
                    ..Tenant::default()
                })
                .expect("create");
            }
            for i in 0..40 {
                s.delete_user(&DeleteUserRequest {
                    tenant_id: "t00".into(),
                    uid: format!("u{i:03}{}", "x".repeat(100)),
                })
                .expect("delete");
            }
            s.upsert_accounts(&accounts("t01", 50, 80))
                .expect("accounts");
            (d, s)
        };
        // The first item of a part, as it adds to a message.
        let first = |u: &ConfigUpdate| {
            let len = u.upserted.first().map(Message::encoded_len);
            let len = len.or(u.deleted_users.first().map(Message::encoded_len));
            config_field_bytes(
                len.or(u.accounts.first().map(Message::encoded_len))
                    .unwrap_or(0),
            )
        };
        // Everything in one part at the default; 120 parts (one item each) at 100 bytes.
        for (limit, parts) in [
            (CONFIG_MESSAGE_BYTES, Some(1)),
            (4096, None),
            (100, Some(120)),
        ] {
            let (_d, s) = fill(limit);
            let snap = s.snapshot().expect("snapshot");
            if let Some(p) = parts {
                assert_eq!(snap.len(), p, "{limit}");
            }
            for (i, u) in snap.iter().enumerate() {
                // Full: the next part's first item would not have fitted in this one.
                if let Some(next) = snap.get(i + 1) {
                    assert!(u.encoded_len() + first(next) > limit, "{limit}: part {i}");
                }
                let items = u.upserted.len() + u.deleted_users.len() + u.accounts.len();
                // Within the bytes, or one item larger than them alone (each item is over 100).
                assert!(
                    u.encoded_len() <= limit || items == 1,
                    "{limit}: part {i} is {} bytes with {items} items",
                    u.encoded_len()
                );
                assert!(items >= 1, "{limit}: part {i} is empty");
                assert_eq!(u.more, i + 1 < snap.len());
                assert!(u.full_snapshot && u.version == snap[0].version);
            }
            let ids: Vec<&str> = snap
                .iter()
                .flat_map(|u| u.upserted.iter().map(|t| t.id.as_str()))
                .collect();
            assert_eq!(ids, (0..30).map(|i| format!("t{i:02}")).collect::<Vec<_>>());
            let n = |f: fn(&ConfigUpdate) -> usize| snap.iter().map(f).sum::<usize>();
            assert_eq!(n(|u| u.deleted_users.len()), 40, "{limit}");
            assert_eq!(n(|u| u.accounts.len()), 50, "{limit}");
        }
    }

    #[test]
    fn a_ticks_counts_go_in_parts_within_the_message_bytes() {
        use sentientiq_proto::grpc::QuotaUsage;
        let base = ConfigUpdate {
            version: 7,
            quota_month: 683,
            ..ConfigUpdate::default()
        };
        let usage = |n: usize| -> Vec<QuotaUsage> {
            (0..n)
                .map(|i| QuotaUsage {
                    tenant_id: format!("t{i:03}"),
                    events: 1_000_000 + i as u64,
                })
                .collect()
        };
        let field = config_field_bytes(usage(1)[0].encoded_len());
        // A message with the flag set and three counts: exactly `three` bytes.
        let three = base.encoded_len() + 2 + 3 * field;
        let put = |u: &mut ConfigUpdate, q: QuotaUsage| u.quota_usage.push(q);
        for (bytes, sizes) in [
            (three - 1, vec![2, 2, 2, 1]),
            (three, vec![3, 3, 1]),
            (three + 1, vec![3, 3, 1]),
            (CONFIG_MESSAGE_BYTES, vec![7]),
        ] {
            let parts = count_parts(&base, usage(7), bytes, put);
            let got: Vec<usize> = parts.iter().map(|u| u.quota_usage.len()).collect();
            assert_eq!(got, sizes, "{bytes}");
            for (i, u) in parts.iter().enumerate() {
                assert!(u.encoded_len() <= bytes, "{bytes}: part {i}");
                assert_eq!(u.counts_more, i + 1 < parts.len(), "{bytes}: part {i}");
                assert_eq!((u.version, u.quota_month), (7, 683));
                assert!(!u.more && !u.full_snapshot && u.experiment_totals.is_empty());
            }
            let all: Vec<QuotaUsage> = parts.into_iter().flat_map(|u| u.quota_usage).collect();
            assert_eq!(all, usage(7), "{bytes}: every count once, in order");
        }
        // A count larger than the bytes alone goes alone; none: the base alone.
        let parts = count_parts(&base, usage(3), field, put);
        let got: Vec<usize> = parts.iter().map(|u| u.quota_usage.len()).collect();
        assert_eq!(got, vec![1, 1, 1]);
        assert_eq!(count_parts(&base, usage(0), 100, put), vec![base.clone()]);
        // A message of one count with the flag: the accounting above is exact.
        let mut one = count_parts(&base, usage(1), 100, put).remove(0);
        one.counts_more = true;
        assert_eq!(one.encoded_len(), base.encoded_len() + 2 + field);
    }

    #[test]
    fn a_logged_version_larger_than_a_message_sends_an_edge_behind_it_a_snapshot() {
        let (_d, s) = store(StoreLimits {
            config_message_bytes: 4096,
            ..StoreLimits::default()
        });
        s.create_tenant(tenant("acme")).expect("create");
        let before = s.version().expect("version");
        // One version of accounts past the message bytes, as an import committed before
        // versions were bounded (the store takes any count; the import now splits them).
        let accounts = accounts("acme", 60, 80);
        s.upsert_accounts(&accounts).expect("accounts");
        s.upsert_accounts(&accounts[..1])
            .expect("a small version after it");
        assert!(s.deltas_since(before).expect("read").is_none(), "snapshot");
        // Resuming after it: the small version alone, as a delta.
        assert_eq!(
            s.deltas_since(before + 1).expect("read").map(|d| d.len()),
            Some(1)
        );
        // The snapshot an edge gets instead comes in parts within the bytes.
        let snap = s.snapshot().expect("snapshot");
        assert!(snap.len() > 1 && snap.iter().all(|u| u.encoded_len() <= 4096));
    }

    #[test]
    fn a_tenant_is_at_most_its_bytes_as_edges_get_it() {
        let (_d, s) = store(StoreLimits::default());
        // Sized with its origins (each at most 256 bytes: many of them).
        let sized = |n: usize| {
            let mut t = tenant("acme");
            // `https://` + a host of labels of at most 51 + `.example`: `len` bytes.
            let origin = |i: usize, len: usize| {
                let want = len - "https://.example".len();
                let mut host = format!("o{i:05}");
                while host.len() < want {
                    match (want - host.len()).min(51) {
                        1 => host.push('x'),
                        n => host.push_str(&format!(".{}", "x".repeat(n - 1))),
                    }
                }
                format!("https://{host}.example")
            };
            // k origins of 200 bytes and a last one taking exactly the rest: its key, its
            // length (one byte up to 127, two from 128) and itself. One key's bytes, measured.
            let base = edge_view(&t).encoded_len();
            t.allowed_origins.push(origin(0, 100));
            let key = edge_view(&t).encoded_len() - base - 1 - 100;
            let field = |len: usize| key + if len <= 127 { 1 } else { 2 } + len;
            let mut k = (n - base) / field(200);
            loop {
                t.allowed_origins = (0..k).map(|i| origin(i, 200)).collect();
                let rest = n.saturating_sub(edge_view(&t).encoded_len());
                let last = match rest.saturating_sub(key + 1) {
                    l if l <= 127 => l,
                    _ => rest.saturating_sub(key + 2),
                };
                if last >= 25 && field(last) == rest {
                    t.allowed_origins.push(origin(k, last));
                    break;
                }
                k -= 1;
            }
            assert_eq!(edge_view(&t).encoded_len(), n, "sized");
            t
        };
        for (n, ok) in [
            (MAX_TENANT_BYTES - 1, true),
            (MAX_TENANT_BYTES, true),
            (MAX_TENANT_BYTES + 1, false),
        ] {
            let t = sized(n);
            assert_eq!(validate_tenant(&t).is_ok(), ok, "{n} bytes");
        }
        let e = s
            .create_tenant(sized(MAX_TENANT_BYTES + 1))
            .expect_err("too large");
        assert!(
            e.to_string()
                .contains(&format!("at most {MAX_TENANT_BYTES}")),
            "{e}"
        );
        // One stored past the cap before it was a limit can still be changed without growing
        // (a key revoked, an origin removed), not grown.
        let mut big = sized(MAX_TENANT_BYTES + 100);
        big.id = "big".into();
        s.db.put_cf(s.cf("tenants"), b"big", big.encode_to_vec())
            .expect("stored before the limit");
        s.modify_tenant("big", |t| {
            t.allowed_origins.swap(0, 1);
            Ok(())
        })
        .expect("as large as it was");
        s.modify_tenant("big", |t| {
            t.allowed_origins.pop();
            Ok(())
        })
        .expect("shrunk");
        let grown = s.modify_tenant("big", |t| {
            let o = t.allowed_origins[0].replacen("https://o", "https://p", 1);
            t.allowed_origins.push(o.clone());
            t.allowed_origins
                .push(o.replacen("https://p", "https://q", 1));
            Ok(())
        });
        let Err(StoreError::Invalid(e)) = grown else {
            panic!("grown past the cap: {grown:?}");
        };
        assert!(e.contains(&format!("at most {MAX_TENANT_BYTES}")), "{e}");
        // At the cap with its incarnation (drawn at create: up to 10 bytes with its key), a
        // version of it is one message within the bytes.
        let (_, v) = s
            .create_tenant(sized(MAX_TENANT_BYTES - 10))
            .expect("at the cap");
        let d = s.deltas_since(v - 1).expect("read").expect("logged");
        assert!(
            d[0].encoded_len() <= CONFIG_MESSAGE_BYTES,
            "{}",
            d[0].encoded_len()
        );
    }

    #[test]
    fn any_uid_a_session_can_carry_can_be_erased() {
        let (_d, s) = store(StoreLimits::default());
        s.create_tenant(tenant("acme")).expect("create");
        assert_eq!(MAX_UID_BYTES, 2048);
        for (n, ok) in [
            (0, false),
            (1, true),
            (MAX_UID_BYTES - 1, true),
            (MAX_UID_BYTES, true),
            (MAX_UID_BYTES + 1, false),
        ] {
            let r = s.delete_user(&DeleteUserRequest {
                tenant_id: "acme".into(),
                uid: "u".repeat(n),
            });
            match r {
                Ok(_) => assert!(ok, "{n} bytes taken"),
                Err(StoreError::Invalid(e)) => {
                    assert!(!ok, "{n}: {e}");
                    assert_eq!(
                        e,
                        "uid must be 1 to 2048 bytes (the most a session's uid can be)"
                    );
                }
                Err(e) => panic!("{n}: {e}"),
            }
        }
        assert_eq!(s.deleted_users(Some("acme")).expect("read").len(), 3);
    }

    #[test]
    fn an_account_is_at_most_its_bytes_encoded() {
        let (_d, s) = store(StoreLimits::default());
        s.create_tenant(tenant("acme")).expect("create");
        let sized = |n: usize| {
            let mut a = Account {
                tenant_id: "acme".into(),
                r#match: "u1".into(),
                ..Account::default()
            };
            // 10 bytes of tenant and match, the company's key and a two-byte length.
            a.company = "c".repeat(n - 13);
            assert_eq!(a.encoded_len(), n);
            a
        };
        for (n, ok) in [
            (MAX_ACCOUNT_BYTES - 1, true),
            (MAX_ACCOUNT_BYTES, true),
            (MAX_ACCOUNT_BYTES + 1, false),
        ] {
            match s.upsert_accounts(&[sized(n)]) {
                Ok(_) => assert!(ok, "{n} bytes taken"),
                Err(StoreError::Invalid(e)) => {
                    assert!(!ok, "{n} bytes: {e}");
                    assert_eq!(
                        e,
                        format!(
                            "account u1: {n} bytes encoded (its company, tier and owners); \
                             at most {MAX_ACCOUNT_BYTES}"
                        )
                    );
                }
                Err(e) => panic!("{n}: {e}"),
            }
        }
    }

    #[test]
    fn snapshots_split_accounts_at_the_per_message_cap() {
        let per = 4;
        let (_d, s) = store(StoreLimits {
            snapshot_accounts_per_message: per,
            ..StoreLimits::default()
        });
        s.create_tenant(tenant("acme")).expect("create");
        for (n, messages) in [(per - 1, 1), (per, 1), (per + 1, 2)] {
            // Upserts are by match: accounts 0..n, whatever was there before.
            let batch = accounts("acme", n, 0);
            s.upsert_accounts(&batch).expect("upsert");
            let snap = s.snapshot().expect("snapshot");
            assert_eq!(snap.len(), messages, "{n} accounts");
            assert_eq!(snap.iter().map(|u| u.accounts.len()).sum::<usize>(), n);
            assert!(snap.iter().all(|u| u.full_snapshot));
            assert_eq!(
                snap.iter().map(|u| u.more).collect::<Vec<_>>(),
                (0..messages).map(|i| i + 1 < messages).collect::<Vec<_>>()
            );
            assert_eq!(snap[0].upserted.len(), 1, "tenants come first");
        }
    }

    #[test]
    fn windows_are_read_by_minute_range_and_stored_once_per_edge_and_minute() {
        let (_d, s) = store(StoreLimits::default());
        let w = |minute: i64, region: &str, active: u64| WindowAggregate {
            tenant_id: "acme".into(),
            region: region.into(),
            edge_id: "e1@1".into(),
            minute,
            active_sessions: active,
            ..WindowAggregate::default()
        };
        s.create_tenant(tenant("acme")).expect("tenant");
        s.put_aggregates(&[w(-1, "a", 1), w(0, "a", 1), w(9, "a", 1), w(10, "b", 1)])
            .expect("put");
        // Re-sent with new content: replaced, not added.
        s.put_aggregates(&[w(9, "a", 7)]).expect("put");
        let got = s.aggregates("acme", 0, 10).expect("read");
        assert_eq!(
            got.iter()
                .map(|w| (w.minute, w.active_sessions))
                .collect::<Vec<_>>(),
            [(0, 1), (9, 7)]
        );
        assert_eq!(s.aggregates("acme", -5, 11).expect("read").len(), 4);
        assert!(s.aggregates("acm", -5, 11).expect("read").is_empty());
        // A deleted tenant's windows go with it, and a late report does not bring them back.
        s.delete_tenant("acme").expect("delete");
        assert!(s.aggregates("acme", -5, 11).expect("read").is_empty());
        assert_eq!(
            s.put_aggregates(&[w(9, "a", 1)])
                .expect("late report")
                .unknown_tenant,
            1
        );
        assert!(s.aggregates("acme", -5, 11).expect("read").is_empty());
    }

    #[test]
    fn a_batch_with_a_window_under_a_name_outside_the_rules_is_refused_whole() {
        let (_d, s) = store(StoreLimits::default());
        s.create_tenant(tenant("acme")).expect("tenant");
        let w = |region: &str, edge: &str| WindowAggregate {
            tenant_id: "acme".into(),
            region: region.into(),
            edge_id: edge.into(),
            minute: 1,
            active_sessions: 1,
            ..WindowAggregate::default()
        };
        let good = w("us-east-1", "e1@1733000000000");
        for (bad, field) in [
            (w("", "e1@1"), "region"),
            (w("us\0x", "e1@1"), "region"),
            (w("us/x", "e1@1"), "region"),
            (w("us-east-1", ""), "edge_id"),
            // An edge's id without its boot, as no edge sends it.
            (w("us-east-1", "e1"), "edge_id"),
            // It would key beside e1@1's boot as `us-east-1 \0 x \0 e1@1`.
            (w("us-east-1", "x\0e1@1"), "edge_id"),
            (w("us-east-1", &format!("e1@{}", "1".repeat(21))), "edge_id"),
        ] {
            let e = s.put_aggregates(&[good.clone(), bad.clone()]);
            let Err(StoreError::Invalid(e)) = e else {
                panic!("{bad:?}: {e:?}");
            };
            let name = if field == "region" {
                &bad.region
            } else {
                &bad.edge_id
            };
            assert!(
                e.starts_with(&format!("a window's {field} {name:?}: ")),
                "{e}"
            );
            assert!(
                s.aggregates("acme", 0, 5).expect("read").is_empty(),
                "{bad:?}"
            );
        }
        // One count an emotion: the core's and a newer edge's, up to the cap (stored whole);
        // past it skipped with its reason, the batch taken, nothing of it stored.
        let cap = MAX_WINDOW_EMOTIONS;
        assert!(cap > sentientiq_core::Emotion::ALL.len());
        for (n, ok) in [
            (sentientiq_core::Emotion::ALL.len() + 1, true),
            (cap - 1, true),
            (cap, true),
            (cap + 1, false),
        ] {
            for intensity in [false, true] {
                let mut x = w("us-east-1", &format!("e{n}-{}@1", u8::from(intensity)));
                // Apart from the minutes the rest of the test reads.
                x.minute = 100;
                x.events = 3;
                let counts = vec![1; n];
                match intensity {
                    false => x.detections = counts,
                    true => x.intensity_milli = counts,
                }
                let month = usage::month_of_minute(100);
                let before = s.month_events("acme", month);
                let r = s.put_aggregates(std::slice::from_ref(&x)).expect("taken");
                assert_eq!(r.invalid == 0, ok, "{n} {intensity}: {r:?}");
                let stored = s.aggregates("acme", 100, 101).expect("read");
                assert_eq!(stored.contains(&x), ok, "{n} {intensity}");
                let counted = s.month_events("acme", month) - before;
                assert_eq!(counted, if ok { 3 } else { 0 }, "{n} {intensity}");
                if !ok {
                    assert_eq!(
                        r.reason.as_deref(),
                        Some(format!("invalid: at most {cap} emotions per window").as_str())
                    );
                }
            }
        }
        // The longest names each rule allows.
        let longest = w(
            &"r".repeat(64),
            &sentientiq_proto::grpc::report_id(&"e".repeat(64), u64::MAX),
        );
        assert_eq!(
            s.put_aggregates(&[good, longest]).expect("put"),
            Skipped::default()
        );
        assert_eq!(s.aggregates("acme", 0, 5).expect("read").len(), 2);
        // A window without its tenant beside a good one: skipped, the good one stored.
        let mut none = w("us-east-1", "e2@1");
        none.tenant_id.clear();
        let r = s
            .put_aggregates(&[none, w("us-east-1", "e3@1")])
            .expect("taken");
        assert_eq!((r.invalid, r.unknown_tenant), (1, 0));
        assert_eq!(s.aggregates("acme", 0, 5).expect("read").len(), 3);
    }
}
