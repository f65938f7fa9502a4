//! The gRPC services over the [`Store`]: `TenantAdmin`, `Accounts`, `EdgeSync`, `Analytics`,
//! and `Alerts` (with `EdgeSync.ReportAlerts` and the alerting config, in [`alerts`]).
//! Authentication is an interceptor per service ([`crate::auth`]); this module assumes it passed.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use sentientiq_core::WindowAgg;
use sentientiq_core::evi;
use sentientiq_proto::grpc::{
    self, Account, AggregateAck, AggregateBatch, ConfigUpdate, DeleteUserRequest, Empty, EviPoint,
    EviRequest, EviResponse, ImportSummary, IssueKeyResponse, ListTenantsRequest,
    ListTenantsResponse, RegisterEdge, RevokeKeyRequest, RotateKeyRequest, Tenant, TenantId,
    WindowAggregate,
};
use sentientiq_tenant::origin;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::keys;
use crate::store::{Store, StoreError};
use crate::{now_minute, now_ms};

pub mod alerts;

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Status {
        match e {
            StoreError::NotFound(m) => Status::not_found(format!("{m} not found")),
            StoreError::Exists(m) => Status::already_exists(format!("{m} already exists")),
            StoreError::Invalid(m) => Status::invalid_argument(m),
            e @ (StoreError::Db(_) | StoreError::Corrupt(_) | StoreError::Random(_)) => {
                tracing::error!(error = %e, "storage");
                Status::internal(e.to_string())
            }
        }
    }
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("store task: {e}")))?
        .map_err(Status::from)
}

#[derive(Debug, Clone)]
pub struct Services {
    pub store: Arc<Store>,
    /// How often `WatchEvi` reads its range again and sends the recent minutes' changes.
    pub evi_poll: Duration,
    /// How often a config stream is sent the other edges' experiment counts (if changed).
    pub experiment_totals: Duration,
    /// The rate card: millicents per 1000 billable events.
    pub rate: u64,
    pub metrics: Arc<crate::telemetry::Metrics>,
    /// Becomes true when the plane stops: its streams then end ([`Services::until_stopping`]).
    stopping: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Services {
    /// The services over `store`, with the plane's intervals (ms) and rate card: what `serve`
    /// answers gRPC with and the dashboard's setup wizard calls in-process.
    pub fn new(
        store: Arc<Store>,
        metrics: Arc<crate::telemetry::Metrics>,
        evi_poll_ms: u64,
        experiment_totals_ms: u64,
        rate: u64,
    ) -> Services {
        Services {
            store,
            evi_poll: Duration::from_millis(evi_poll_ms),
            experiment_totals: Duration::from_millis(experiment_totals_ms),
            rate,
            metrics,
            stopping: None,
        }
    }

    /// Ending every stream it answers with when `stopping` becomes true.
    pub fn stopping_on(mut self, stopping: tokio::sync::watch::Receiver<bool>) -> Services {
        self.stopping = Some(stopping);
        self
    }

    /// `s`, ended with `UNAVAILABLE` ("the control plane is stopping") when the plane stops.
    /// A config watch, a live EVI and the edges' report streams never end by themselves, and
    /// the server's graceful shutdown waits for every stream: a plane told to stop with an
    /// edge connected did not, until killed. Edges reconnect on `UNAVAILABLE`.
    fn until_stopping<T: Send + 'static>(&self, s: BoxStream<T>) -> BoxStream<T> {
        let Some(mut stopping) = self.stopping.clone() else {
            return s;
        };
        let stopped = async move {
            // A sender gone (the server's task ended) is no stop: the stream goes on.
            if stopping.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        Box::pin(UntilStopping {
            inner: s,
            stopped: Some(Box::pin(stopped)),
        })
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The stream of [`Services::until_stopping`].
struct UntilStopping<T> {
    inner: BoxStream<T>,
    /// `None` once the plane stopped: the stream has ended.
    stopped: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl<T> Stream for UntilStopping<T> {
    type Item = Result<T, Status>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(stopped) = this.stopped.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        if stopped.as_mut().poll(cx).is_ready() {
            this.stopped = None;
            return std::task::Poll::Ready(Some(Err(Status::unavailable(
                "the control plane is stopping",
            ))));
        }
        this.inner.as_mut().poll_next(cx)
    }
}

// ------------------------------------------------------------------------ TenantAdmin

/// A tenant's lake destination is a bucket and a prefix, reached through each edge's own
/// `[lake.s3]` endpoint, region and credentials: no edge uses `LakeDestination.region` or
/// `.endpoint`, so a write that sets either to anything but empty or what `stored` holds is
/// refused rather than stored and ignored (a bucket meant for another store would be looked
/// up on the edge's). A tenant stored with them before this check can still be edited as read,
/// and each can be cleared.
fn refuse_unused_lake_fields(
    new: &Tenant,
    stored: Option<&grpc::LakeDestination>,
) -> Result<(), StoreError> {
    let Some(l) = &new.lake else { return Ok(()) };
    for (field, value, was) in [
        ("lake.region", &l.region, stored.map(|s| &s.region)),
        ("lake.endpoint", &l.endpoint, stored.map(|s| &s.endpoint)),
    ] {
        if !value.is_empty() && Some(value) != was {
            return Err(StoreError::Invalid(format!(
                "{field} `{}`: not used by any edge (a tenant's bucket is reached through each \
                 edge's [lake.s3] endpoint and region); leave it empty and set only lake.bucket \
                 and lake.prefix",
                sentientiq_url::shown(value)
            )));
        }
    }
    Ok(())
}

/// A tenant's allowed origins are what browsers send in `Origin`
/// ([`origin::not_an_origin`]). One that is not would be stored and never match, and the SDK
/// would be refused on that site with nothing said at the time; so a write adding one is
/// refused, with the origin to write instead where one can be told. Those in `stored` are kept
/// as they are (an edge only checks the prefix, and a tenant stored with one can still be
/// edited), so only origins this write adds are checked.
fn refuse_new_bad_origins(new: &Tenant, stored: &[String]) -> Result<(), StoreError> {
    for o in &new.allowed_origins {
        if o == "*" || stored.contains(o) {
            continue;
        }
        if let Some(why) = origin::not_an_origin(o) {
            let shown = sentientiq_url::shown(o);
            let instead = origin::origin_of(o).map_or(String::new(), |w| format!("; write `{w}`"));
            return Err(StoreError::Invalid(format!(
                "allowed origin `{shown}` {why}: an origin is scheme://host[:port] as browsers \
                 send it, an app's scheme://host (capacitor://localhost) or `*`{instead}"
            )));
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl grpc::tenant_admin_server::TenantAdmin for Services {
    /// Validates the tenant with this alerting config, stores the TOML as written (one config
    /// version: edges get it), and answers it redacted. An empty `toml` removes the config.
    async fn set_alerts(
        &self,
        req: Request<grpc::SetAlertsRequest>,
    ) -> Result<Response<grpc::AlertsConfig>, Status> {
        alerts::set_alerts(self, req.into_inner())
            .await
            .map(Response::new)
    }

    /// The alerting config with every secret shown as `[redacted]`.
    async fn get_alerts(
        &self,
        req: Request<TenantId>,
    ) -> Result<Response<grpc::AlertsConfig>, Status> {
        alerts::get_alerts(self, req.into_inner().id)
            .await
            .map(Response::new)
    }

    async fn create_tenant(&self, req: Request<Tenant>) -> Result<Response<Tenant>, Status> {
        let t = req.into_inner();
        // Keys are issued by IssueKey only, so that each is shown once to whoever issued it.
        if !t.key_hashes.is_empty() {
            return Err(Status::invalid_argument(
                "key_hashes: keys are issued with IssueKey, not set",
            ));
        }
        alerts::refuse_alerts_fields(&t)?;
        refuse_unused_lake_fields(&t, None)?;
        refuse_new_bad_origins(&t, &[])?;
        let s = self.store.clone();
        let (t, version) = blocking(move || s.create_tenant(t)).await?;
        tracing::info!(tenant = %t.id, version, "tenant created");
        Ok(Response::new(t))
    }

    async fn get_tenant(&self, req: Request<TenantId>) -> Result<Response<Tenant>, Status> {
        let id = req.into_inner().id;
        let s = self.store.clone();
        let t = blocking(move || {
            s.tenant(&id)?
                .ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))
        })
        .await?;
        Ok(Response::new(t))
    }

    /// Every tenant (an older client), or a page of them: at most [`LIST_PAGE_TENANTS`] and
    /// [`crate::store::CONFIG_MESSAGE_BYTES`] encoded.
    async fn list_tenants(
        &self,
        req: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        let r = req.into_inner();
        let s = self.store.clone();
        if !r.paged {
            let tenants = blocking(move || s.tenants()).await?;
            return Ok(Response::new(ListTenantsResponse {
                tenants,
                next_after: String::new(),
            }));
        }
        let limit = page_limit(r.limit);
        let bytes = s.config_message_bytes();
        let (tenants, more) = blocking(move || s.tenants_page(&r.after, limit, bytes)).await?;
        let next_after = match tenants.last() {
            Some(t) if more => t.id.clone(),
            _ => String::new(),
        };
        Ok(Response::new(ListTenantsResponse {
            tenants,
            next_after,
        }))
    }

    /// Replaces everything but the id, the keys (which only the key calls change) and the
    /// alerting config (`SetAlerts`'s); the rules are validated with the stored alerting config.
    async fn update_tenant(&self, req: Request<Tenant>) -> Result<Response<Tenant>, Status> {
        let new = req.into_inner();
        alerts::refuse_alerts_fields(&new)?;
        let s = self.store.clone();
        let (t, (), version) = blocking(move || {
            let id = new.id.clone();
            s.modify_tenant(&id, move |t| {
                refuse_unused_lake_fields(&new, t.lake.as_ref())?;
                refuse_new_bad_origins(&new, &t.allowed_origins)?;
                let keys = std::mem::take(&mut t.key_hashes);
                let alerts_toml = std::mem::take(&mut t.alerts_toml);
                *t = Tenant {
                    key_hashes: keys,
                    alerts_toml,
                    ..new
                };
                Ok(())
            })
        })
        .await?;
        tracing::info!(tenant = %t.id, version, "tenant updated");
        Ok(Response::new(t))
    }

    async fn delete_tenant(&self, req: Request<TenantId>) -> Result<Response<Empty>, Status> {
        let id = req.into_inner().id;
        let s = self.store.clone();
        let version = blocking(move || s.delete_tenant(&id)).await?;
        tracing::info!(version, "tenant deleted");
        Ok(Response::new(Empty {}))
    }

    async fn issue_key(
        &self,
        req: Request<TenantId>,
    ) -> Result<Response<IssueKeyResponse>, Status> {
        let issued = self.change_keys(req.into_inner().id, None, true).await?;
        issued
            .map(Response::new)
            .ok_or_else(|| Status::internal("no key issued"))
    }

    async fn revoke_key(&self, req: Request<RevokeKeyRequest>) -> Result<Response<Empty>, Status> {
        let r = req.into_inner();
        self.change_keys(r.tenant_id, Some(r.key_hash), false)
            .await?;
        Ok(Response::new(Empty {}))
    }

    async fn rotate_key(
        &self,
        req: Request<RotateKeyRequest>,
    ) -> Result<Response<IssueKeyResponse>, Status> {
        let r = req.into_inner();
        let issued = self
            .change_keys(r.tenant_id, Some(r.key_hash), true)
            .await?;
        issued
            .map(Response::new)
            .ok_or_else(|| Status::internal("no key issued"))
    }
}

impl Services {
    /// One config version that revokes `revoke` (which must exist) and/or issues a new key
    /// (returned once; only its hash is stored), within [`keys::MAX_KEYS_PER_TENANT`].
    async fn change_keys(
        &self,
        tenant: String,
        revoke: Option<String>,
        issue: bool,
    ) -> Result<Option<IssueKeyResponse>, Status> {
        let new = if issue {
            let key = keys::generate().map_err(|e| Status::internal(format!("randomness: {e}")))?;
            let key_hash = keys::hash(&key);
            Some(IssueKeyResponse { key, key_hash })
        } else {
            None
        };
        let s = self.store.clone();
        let added = new.as_ref().map(|k| k.key_hash.clone());
        let (_, (), version) = blocking(move || {
            s.modify_tenant(&tenant, |t| {
                if let Some(old) = &revoke {
                    let before = t.key_hashes.len();
                    t.key_hashes.retain(|h| !h.eq_ignore_ascii_case(old));
                    if t.key_hashes.len() == before {
                        return Err(StoreError::NotFound(format!("key {old}")));
                    }
                }
                if let Some(h) = added {
                    if t.key_hashes.len() >= keys::MAX_KEYS_PER_TENANT {
                        return Err(StoreError::Invalid(format!(
                            "a tenant has at most {} keys; revoke one first",
                            keys::MAX_KEYS_PER_TENANT
                        )));
                    }
                    t.key_hashes.push(h);
                }
                Ok(())
            })
        })
        .await?;
        tracing::info!(
            issued = ?new.as_ref().map(|k| k.key_hash.as_str()),
            version,
            "keys changed"
        );
        Ok(new)
    }
}

// ------------------------------------------------------------------------ Accounts

/// Tenants in one page of `ListTenants` at most (and at most
/// [`crate::store::CONFIG_MESSAGE_BYTES`] of them encoded): a page of small tenants stays a few
/// hundred KB.
pub const LIST_PAGE_TENANTS: usize = 1_000;

/// The tenants a `ListTenants` page asking for `limit` holds at most: that many, up to
/// [`LIST_PAGE_TENANTS`] (0: as many).
fn page_limit(limit: u32) -> usize {
    match limit as usize {
        0 => LIST_PAGE_TENANTS,
        n => n.min(LIST_PAGE_TENANTS),
    }
}

/// Accounts per committed version during an import, at most (and at most
/// [`crate::store::CONFIG_MESSAGE_BYTES`] of them encoded: [`Chunk`]).
pub const IMPORT_CHUNK: usize = 1_000;

/// An import's accounts gathered into one version (pure): at most `max` accounts and
/// `max_bytes` as they go out in the version's message (a `ConfigUpdate` of accounts; its
/// version and flags take fewer than [`DELTA_HEAD_BYTES`]).
#[derive(Debug)]
struct Chunk {
    accounts: Vec<Account>,
    bytes: usize,
    max: usize,
    max_bytes: usize,
}

/// A delta's bytes besides its accounts, at most: its version (a key and up to 10 bytes; an
/// accounts delta sets no flag): 11, and 5 to spare.
const DELTA_HEAD_BYTES: usize = 16;

impl Chunk {
    fn new(max: usize, max_bytes: usize) -> Chunk {
        Chunk {
            accounts: Vec::new(),
            bytes: DELTA_HEAD_BYTES,
            max,
            max_bytes,
        }
    }

    /// Adds `a`; returns the accounts gathered before it when it does not fit with them (a
    /// version to commit first). An account alone always fits (its size is the store's check).
    fn push(&mut self, a: Account) -> Option<Vec<Account>> {
        let field = crate::store::config_field_bytes(a.encoded_len());
        let full = self.accounts.len() >= self.max || self.bytes + field > self.max_bytes;
        let out = (full && !self.accounts.is_empty()).then(|| self.take());
        self.accounts.push(a);
        self.bytes += field;
        out
    }

    /// What is gathered, emptied.
    fn take(&mut self) -> Vec<Account> {
        self.bytes = DELTA_HEAD_BYTES;
        std::mem::take(&mut self.accounts)
    }
}

#[tonic::async_trait]
impl grpc::accounts_server::Accounts for Services {
    /// Commits a version every [`IMPORT_CHUNK`] accounts or [`crate::store::CONFIG_MESSAGE_BYTES`]
    /// of them ([`Chunk`]); on a bad account, what came before it stays stored and the error
    /// says how many that is.
    async fn import(
        &self,
        req: Request<Streaming<Account>>,
    ) -> Result<Response<ImportSummary>, Status> {
        let mut stream = req.into_inner();
        let mut chunk = Chunk::new(IMPORT_CHUNK, crate::store::CONFIG_MESSAGE_BYTES);
        let mut stored = 0u64;
        let flush = |buf: Vec<Account>| {
            let s = self.store.clone();
            async move { blocking(move || s.upsert_accounts(&buf)).await }
        };
        loop {
            let next = match stream.next().await {
                None => break,
                Some(Ok(a)) => a,
                Some(Err(e)) => {
                    let buf = chunk.take();
                    if !buf.is_empty() {
                        let n = buf.len() as u64;
                        flush(buf).await?;
                        stored += n;
                    }
                    return Err(Status::aborted(format!(
                        "import stream broke after {stored} accounts were stored: {e}"
                    )));
                }
            };
            if let Some(full) = chunk.push(next) {
                let n = full.len() as u64;
                if let Err(e) = flush(full.clone()).await {
                    return Err(partial(e, stored, &full, self).await);
                }
                stored += n;
            }
        }
        let buf = chunk.take();
        if !buf.is_empty() {
            let n = buf.len() as u64;
            if let Err(e) = flush(buf.clone()).await {
                return Err(partial(e, stored, &buf, self).await);
            }
            stored += n;
        }
        tracing::info!(accounts = stored, "accounts imported");
        Ok(Response::new(ImportSummary { upserted: stored }))
    }

    async fn delete_user(
        &self,
        req: Request<DeleteUserRequest>,
    ) -> Result<Response<Empty>, Status> {
        let r = req.into_inner();
        let s = self.store.clone();
        let version = blocking(move || s.delete_user(&r)).await?;
        tracing::info!(version, "user deletion recorded");
        Ok(Response::new(Empty {}))
    }
}

/// A chunk failed: store the accounts before the first bad one, so nothing accepted before the
/// bad input is lost, and say which one it was.
async fn partial(e: Status, stored: u64, chunk: &[Account], svc: &Services) -> Status {
    let s = svc.store.clone();
    let owned = chunk.to_vec();
    let good = blocking(move || {
        let i = owned
            .iter()
            .position(|a| s.check_account(a).is_err())
            .unwrap_or(owned.len());
        if i > 0 && i < owned.len() {
            s.upsert_accounts(&owned[..i])?;
            return Ok(i as u64);
        }
        Ok(0)
    })
    .await
    .unwrap_or(0);
    let total = stored + good;
    Status::new(
        e.code(),
        format!(
            "account #{}: {}; the {total} accounts before it are stored",
            total + 1,
            e.message()
        ),
    )
}

// ------------------------------------------------------------------------ EdgeSync

#[tonic::async_trait]
impl grpc::edge_sync_server::EdgeSync for Services {
    type WatchConfigStream = BoxStream<ConfigUpdate>;
    type ReportAggregatesStream = BoxStream<AggregateAck>;
    type ReportAlertsStream = BoxStream<grpc::AlertBatchAck>;

    /// Upserts each batch's records (synced) and answers it with the commands pending for
    /// the alerts the reporting edge holds ([`alerts::report_alerts`]).
    async fn report_alerts(
        &self,
        req: Request<Streaming<grpc::AlertBatch>>,
    ) -> Result<Response<Self::ReportAlertsStream>, Status> {
        alerts::report_alerts(self, req).map(|s| Response::new(self.until_stopping(s)))
    }

    /// A full snapshot, or the deltas after `resume_from_version` when the log still holds
    /// them, then every change as it is committed.
    async fn watch_config(
        &self,
        req: Request<RegisterEdge>,
    ) -> Result<Response<Self::WatchConfigStream>, Status> {
        let peer = crate::standing::peer_addr(&req);
        let r = req.into_inner();
        if !grpc::valid_edge_name(&r.edge_id) || !grpc::valid_edge_name(&r.region) {
            let (edge, region) = (
                sentientiq_proto::shown_name(&r.edge_id),
                sentientiq_proto::shown_name(&r.region),
            );
            let what = format!("{edge} {region}");
            if let Some(not_logged) = self.metrics.refusal_due("config", &what, peer) {
                tracing::warn!(
                    %edge,
                    %region,
                    ?peer,
                    not_logged,
                    "config stream refused: the edge's id or region breaks the rule"
                );
            }
            return Err(Status::invalid_argument(format!(
                "edge_id and region: each {} (the edge's [edge] id and region)",
                grpc::EDGE_NAME_RULE
            )));
        }
        // Empty from an edge older than experiments (it is sent every total, its own too).
        if !r.report_id.is_empty() && !grpc::valid_report_id(&r.report_id) {
            let report_id = sentientiq_proto::shown_name(&r.report_id);
            let what = format!("{} {report_id}", r.edge_id);
            if let Some(not_logged) = self.metrics.refusal_due("config", &what, peer) {
                tracing::warn!(
                    edge = %r.edge_id,
                    %report_id,
                    ?peer,
                    not_logged,
                    "config stream refused: the edge's report id breaks the rule"
                );
            }
            return Err(Status::invalid_argument(format!(
                "report_id: {}",
                grpc::REPORT_ID_RULE
            )));
        }
        // Subscribe before reading, so nothing committed in between is missed.
        let mut rx = self.store.subscribe();
        let store = self.store.clone();
        let (tx, out) = mpsc::channel::<Result<ConfigUpdate, Status>>(64);
        tracing::info!(edge = %r.edge_id, region = %r.region, from = r.resume_from_version, "edge watching");
        let metrics = self.metrics.clone();
        let every = self.experiment_totals;
        tokio::spawn(async move {
            metrics
                .watchers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Counted down however the stream ends.
            struct Watching(Arc<crate::telemetry::Metrics>);
            impl Drop for Watching {
                fn drop(&mut self) {
                    self.0
                        .watchers
                        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let _watching = Watching(metrics.clone());
            let sent = |n: usize| {
                metrics
                    .updates_sent
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed)
            };
            let initial = catch_up(&store, r.resume_from_version).await;
            let mut at = match initial {
                Ok((msgs, at)) => {
                    for m in msgs {
                        if tx.send(Ok(m)).await.is_err() {
                            return;
                        }
                        sent(1);
                    }
                    at
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            // Other edges' experiment counts, on the current version, whenever they changed.
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // And their events of the month, for the tenants' quotas (the first tick always
            // sends them, so an edge knows the month's count from its start).
            let mut last_totals = Vec::new();
            let mut last_usage = None;
            loop {
                let got = tokio::select! {
                    got = rx.recv() => got,
                    // The watcher gone (or its stream ended at a stop): nothing to wait for.
                    () = tx.closed() => return,
                    _ = tick.tick(), if !r.report_id.is_empty() => {
                        // Each set in messages an edge decodes (`counts_more` on all but
                        // the last part); whole to an edge that cannot gather parts.
                        let bytes = if r.counts_in_parts {
                            store.config_message_bytes()
                        } else {
                            usize::MAX
                        };
                        let mut parts = Vec::new();
                        let totals = store.experiment_totals_for(&r.report_id);
                        if totals != last_totals {
                            let base = ConfigUpdate {
                                version: at,
                                ..ConfigUpdate::default()
                            };
                            parts.extend(crate::store::count_parts(
                                &base,
                                totals.clone(),
                                bytes,
                                |u, t| u.experiment_totals.push(t),
                            ));
                            last_totals = totals;
                        }
                        let month = crate::store::usage::month_of_minute(now_minute());
                        let usage = (month, store.quota_usage_for(&r.report_id, month));
                        if last_usage.as_ref() != Some(&usage) {
                            let base = ConfigUpdate {
                                version: at,
                                quota_month: usage.0,
                                ..ConfigUpdate::default()
                            };
                            parts.extend(crate::store::count_parts(
                                &base,
                                usage.1.clone(),
                                bytes,
                                |u, q| u.quota_usage.push(q),
                            ));
                            last_usage = Some(usage);
                        }
                        for u in parts {
                            if tx.send(Ok(u)).await.is_err() {
                                return;
                            }
                            sent(1);
                        }
                        continue;
                    }
                };
                let next = match got {
                    Ok(u) if u.version <= at => continue,
                    Ok(u) if u.version == at + 1 => Ok(vec![(*u).clone()]),
                    // A gap or a lagging receiver: start over from what is stored.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        catch_up(&store, at).await.map(|(m, _)| m)
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                match next {
                    Ok(msgs) => {
                        for m in msgs {
                            at = at.max(m.version);
                            if tx.send(Ok(m)).await.is_err() {
                                return;
                            }
                            sent(1);
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(
            self.until_stopping(Box::pin(ReceiverStream::new(out))),
        ))
    }

    /// Stores each batch (synced) before acknowledging it.
    async fn report_aggregates(
        &self,
        req: Request<Streaming<AggregateBatch>>,
    ) -> Result<Response<Self::ReportAggregatesStream>, Status> {
        let peer = crate::standing::peer_addr(&req);
        let mut stream = req.into_inner();
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let out = async_stream_acks(move |tx| async move {
            while let Some(b) = stream.next().await {
                let b = match b {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "aggregate stream broke");
                        return;
                    }
                };
                if let Some(h) = b.health {
                    let (edge, region) = (
                        sentientiq_proto::shown_name(&h.edge_id),
                        sentientiq_proto::shown_name(&h.region),
                    );
                    if let Err(e) = store.put_health(h, now_ms()) {
                        tracing::warn!(error = %e, %edge, %region, ?peer, "edge health not kept");
                    }
                }
                if !b.detections.is_empty() {
                    let (s, ds) = (store.clone(), b.detections);
                    match blocking(move || s.put_detections(ds)).await {
                        Ok(0) => {}
                        Ok(skipped) => tracing::info!(
                            skipped,
                            ?peer,
                            "live detections not kept (tenants deleted, or an edge or region \
                             named outside the rule)"
                        ),
                        Err(e) => tracing::warn!(error = %e, "live detections not kept"),
                    }
                }
                let s = store.clone();
                let (windows, experiments) = (b.windows, b.experiments);
                let n = windows.len() as u64;
                let crossings = metrics.clone();
                let r = blocking(move || {
                    let month = crate::store::usage::month_of_minute(now_minute());
                    let mut tenants: Vec<&str> =
                        windows.iter().map(|w| w.tenant_id.as_str()).collect();
                    tenants.sort_unstable();
                    tenants.dedup();
                    let before: Vec<u64> =
                        tenants.iter().map(|t| s.month_events(t, month)).collect();
                    // Both lists' edge names before either is written.
                    crate::store::experiments::check_boots(&experiments)?;
                    let skipped = s.put_aggregates(&windows)?;
                    let stored =
                        n.saturating_sub((skipped.unknown_tenant + skipped.invalid) as u64);
                    let skipped = skipped.and(s.put_experiments(&experiments)?);
                    for (t, before) in tenants.iter().zip(before) {
                        warn_quota(&s, &crossings, t, month, before)?;
                    }
                    Ok((stored, skipped))
                })
                .await;
                let msg = r.map(|(stored, skipped)| {
                    metrics
                        .windows_stored
                        .fetch_add(stored, std::sync::atomic::Ordering::Relaxed);
                    metrics.windows_refused.fetch_add(
                        skipped.invalid as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    if skipped.unknown_tenant > 0 {
                        tracing::info!(
                            skipped = skipped.unknown_tenant,
                            ?peer,
                            "windows (or experiment windows) of deleted tenants not stored"
                        );
                    }
                    if skipped.invalid > 0 {
                        // Acknowledged all the same: re-sent, they would be refused again.
                        tracing::warn!(
                            skipped = skipped.invalid,
                            first = skipped.reason.as_deref().unwrap_or(""),
                            ?peer,
                            "reported windows this plane refuses not stored (an edge newer than the plane?)"
                        );
                    }
                    AggregateAck {
                        batch_id: b.batch_id,
                    }
                });
                let stop = msg.is_err();
                if let Err(e) = &msg
                    && e.code() == tonic::Code::InvalidArgument
                {
                    // The edge keeps the batch and sends it again; its log says the same.
                    if let Some(not_logged) = metrics.refusal_due("aggregates", e.message(), peer) {
                        tracing::warn!(
                            error = %e.message(),
                            ?peer,
                            not_logged,
                            "aggregate batch refused"
                        );
                    }
                }
                if tx.send(msg).await.is_err() || stop {
                    return;
                }
            }
        });
        Ok(Response::new(self.until_stopping(out)))
    }
}

/// Logs (and counts) a tenant whose events of `month` went past its soft or hard quota with
/// the windows just stored: once per crossing, by whichever report made it.
fn warn_quota(
    s: &Store,
    metrics: &crate::telemetry::Metrics,
    tenant: &str,
    month: i64,
    before: u64,
) -> Result<(), StoreError> {
    let Some(t) = s.tenant(tenant)? else {
        return Ok(());
    };
    let q = crate::metering::quota_of(&t);
    let after = s.month_events(tenant, month);
    let (was, is) = (q.state(before), q.state(after));
    if is > was {
        metrics
            .quota_crossings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            tenant,
            events = after,
            soft = ?q.soft,
            hard = ?q.hard,
            state = is.as_str(),
            "tenant past its monthly quota of events"
        );
    }
    Ok(())
}

/// The messages that bring an edge at version `from` (0: nothing) to the current version,
/// and that version.
async fn catch_up(store: &Arc<Store>, from: u64) -> Result<(Vec<ConfigUpdate>, u64), Status> {
    let s = store.clone();
    blocking(move || {
        if from > 0
            && let Some(d) = s.deltas_since(from)?
        {
            if d.is_empty() {
                // Current already: say so, so the edge knows its config is fresh.
                let v = s.version()?;
                return Ok((
                    vec![ConfigUpdate {
                        version: v,
                        ..ConfigUpdate::default()
                    }],
                    v,
                ));
            }
            let v = d.last().map_or(from, |u| u.version);
            return Ok((d, v));
        }
        let snap = s.snapshot()?;
        let v = snap.first().map_or(0, |u| u.version);
        Ok((snap, v))
    })
    .await
}

fn async_stream_acks<F, Fut>(f: F) -> BoxStream<AggregateAck>
where
    F: FnOnce(mpsc::Sender<Result<AggregateAck, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(f(tx));
    Box::pin(ReceiverStream::new(rx))
}

// ------------------------------------------------------------------------ Analytics

/// EVI points per region and global for `from <= minute < to`, each minute against the
/// baseline of the [`evi::BASELINE_MINUTES`] before it (read from the store as well).
pub fn evi_points(windows: &[WindowAggregate], from: i64) -> Vec<EviPoint> {
    let mut by_region: BTreeMap<&str, Vec<WindowAgg>> = BTreeMap::new();
    for w in windows {
        by_region
            .entry(w.region.as_str())
            .or_default()
            .push(to_core(w));
    }
    let mut points = Vec::new();
    let mut all = Vec::new();
    for (region, ws) in &by_region {
        let merged = evi::merge(ws.iter());
        push_points(&mut points, region, &merged, from);
        all.extend(merged);
    }
    let global = evi::merge(all.iter());
    push_points(&mut points, "", &global, from);
    points
}

fn push_points(out: &mut Vec<EviPoint>, region: &str, merged: &[WindowAgg], from: i64) {
    for e in evi::series(merged) {
        let minute = e.minute as i64;
        if minute < from {
            continue; // baseline only
        }
        out.push(EviPoint {
            region: region.to_string(),
            minute,
            evi: e.value,
            active_sessions: e.active_sessions,
            intensity: e.intensity,
            z: e.z,
        });
    }
}

/// A reported window as the core's type (minutes before the epoch do not occur).
pub fn to_core(w: &WindowAggregate) -> WindowAgg {
    let mut a = WindowAgg {
        minute: w.minute.max(0) as u64,
        active_sessions: w.active_sessions,
        value_at_risk_cents: w.value_at_risk_cents,
        affected_sessions: w.affected_sessions,
        usage: sentientiq_core::Usage {
            new_sessions: w.new_sessions,
            frames: w.frames,
            samples: w.samples,
            events: w.events,
            bytes: w.bytes,
            interventions: w.interventions,
            escalations: w.escalations,
        },
        ..WindowAgg::default()
    };
    for (i, d) in w.detections.iter().take(5).enumerate() {
        a.detections[i] = *d;
    }
    for (i, m) in w.intensity_milli.iter().take(5).enumerate() {
        a.intensity_milli[i] = *m;
    }
    a
}

/// Minutes before a watch's previous read whose points it sends again when they change: a
/// point of an older minute changed by a window arriving later still (an edge reporting after
/// a plane outage of over an hour) shows in `Evi`, not in a watch. An hour: edges report every
/// minute by default and re-send what was not acknowledged at the next report.
pub const WATCH_RECHECK_MINUTES: i64 = 60;

/// What a `WatchEvi` poll does ([`EviWatch::next_read`]).
#[derive(Debug, PartialEq)]
enum Read {
    /// Read the minutes `[from, to)`.
    Range(i64, i64),
    /// Nothing to read yet (an open watch starting later).
    Wait,
    /// A closed range with nothing left that may change: the stream ends.
    Done,
}

/// What a `WatchEvi` stream reads at each poll and which points it sends (pure: the clock is a
/// parameter). Every read starts at the asked start (at most 366 days before its end), so a
/// point's value is `Evi`'s over the same start (its baseline is the previous active minutes
/// read); after the first, only points from [`WATCH_RECHECK_MINUTES`] before the previous read
/// on are sent when new or changed, and only those are remembered, so a watch's memory stays
/// bounded however long it runs.
#[derive(Debug)]
struct EviWatch {
    from: i64,
    /// 0: no end.
    to: i64,
    /// The first read's end, checked when the watch was asked for; `None` once read.
    first_end: Option<i64>,
    /// The clock at the previous read.
    last: Option<i64>,
    /// Points of minutes before it are not sent after the first read; the value sent of each
    /// at or after it.
    since: i64,
    sent: BTreeMap<(String, i64), f64>,
    sent_first: bool,
}

impl EviWatch {
    fn new(from: i64, to: i64, now: i64) -> Result<EviWatch, String> {
        // An open watch may start later (nothing to read until then).
        let end = if to > 0 {
            to
        } else {
            now.saturating_add(1).max(from.saturating_add(1))
        };
        crate::forensics::check_range(from, end)?;
        Ok(EviWatch {
            from,
            to,
            first_end: Some(end),
            last: None,
            since: from,
            sent: BTreeMap::new(),
            sent_first: false,
        })
    }

    fn next_read(&mut self, now: i64) -> Read {
        // From the recheck before the previous read (or this one: a clock gone back), so that
        // no minute between two reads far apart (a long `evi_poll_ms`, a slow client) is missed.
        let prev = self.last.replace(now).unwrap_or(now).min(now);
        let since = self.from.max(prev.saturating_sub(WATCH_RECHECK_MINUTES));
        self.since = since;
        self.sent.retain(|(_, m), _| *m >= since);
        if let Some(end) = self.first_end.take() {
            return Read::Range(self.from, end);
        }
        let end = if self.to > 0 {
            self.to
        } else {
            now.saturating_add(1)
        };
        if self.to > 0 && since >= end {
            return Read::Done;
        }
        if end <= self.from {
            return Read::Wait;
        }
        Read::Range(
            self.from
                .max(end.saturating_sub(crate::forensics::MAX_RANGE_MINUTES)),
            end,
        )
    }

    /// The points of a read to send: all of the first read's; later, those at or after
    /// `since` that are new or changed.
    fn changed(&mut self, points: Vec<EviPoint>) -> Vec<EviPoint> {
        let all = !std::mem::replace(&mut self.sent_first, true);
        points
            .into_iter()
            .filter(|p| {
                if p.minute < self.since {
                    return all;
                }
                let k = (p.region.clone(), p.minute);
                if self.sent.get(&k) == Some(&p.evi) {
                    return false;
                }
                self.sent.insert(k, p.evi);
                true
            })
            .collect()
    }
}

/// Minutes of history read before `from` so that its first minutes have a baseline (`Evi`,
/// `WatchEvi` and the dashboard's live chart read the same).
pub const BASELINE_LOOKBACK_MINUTES: i64 = 4 * evi::BASELINE_MINUTES as i64;

/// The EVI of a range of at most [`crate::forensics::MAX_RANGE_MINUTES`] (366 days, as
/// Forensics and Usage: a range is read whole, its windows and their baseline's).
fn evi_response(store: &Store, r: &EviRequest) -> Result<EviResponse, StoreError> {
    if store.tenant(&r.tenant_id)?.is_none() {
        return Err(StoreError::NotFound(format!("tenant {}", r.tenant_id)));
    }
    crate::forensics::check_range(r.from_minute, r.to_minute).map_err(StoreError::Invalid)?;
    let windows = store.aggregates(
        &r.tenant_id,
        r.from_minute.saturating_sub(BASELINE_LOOKBACK_MINUTES),
        r.to_minute,
    )?;
    let points = evi_points(&windows, r.from_minute);
    let global = points
        .iter()
        .filter(|p| p.region.is_empty())
        .max_by_key(|p| p.minute)
        .map_or(-1.0, |p| p.evi);
    Ok(EviResponse { points, global })
}

#[tonic::async_trait]
impl grpc::analytics_server::Analytics for Services {
    type WatchEviStream = BoxStream<EviPoint>;

    /// Usage per UTC day, priced ([`crate::metering`]).
    async fn usage(
        &self,
        req: Request<grpc::UsageRequest>,
    ) -> Result<Response<grpc::UsageResponse>, Status> {
        let r = req.into_inner();
        crate::metering::check_range(r.from_day, r.to_day).map_err(Status::invalid_argument)?;
        let (s, rate) = (self.store.clone(), self.rate);
        let resp = blocking(move || {
            let t = s
                .tenant(&r.tenant_id)?
                .ok_or_else(|| StoreError::NotFound(format!("tenant {}", r.tenant_id)))?;
            let (from, to) = (
                r.from_day.saturating_mul(1440),
                r.to_day.saturating_mul(1440),
            );
            let windows = s.aggregates(&t.id, from, to)?;
            let alerts = s.alerts_opened_in_minutes(&t.id, from, to)?;
            let mut u = crate::metering::usage(&windows, &alerts, r.from_day, r.to_day, rate);
            let month = crate::store::usage::month_of_minute(now_minute());
            crate::metering::quota_status(&mut u, &t, s.month_events(&t.id, month));
            Ok(u)
        })
        .await?;
        Ok(Response::new(resp))
    }

    /// Experiments and failures of a tenant over a minute range ([`crate::forensics`]).
    async fn forensics(
        &self,
        req: Request<grpc::ForensicsRequest>,
    ) -> Result<Response<grpc::ForensicsResponse>, Status> {
        let r = req.into_inner();
        crate::forensics::check_range(r.from_minute, r.to_minute)
            .map_err(Status::invalid_argument)?;
        let s = self.store.clone();
        let resp = blocking(move || {
            let t = s
                .tenant(&r.tenant_id)?
                .ok_or_else(|| StoreError::NotFound(format!("tenant {}", r.tenant_id)))?;
            let (from, to) = (r.from_minute, r.to_minute);
            let windows = s.experiment_windows(&t.id, from, to)?;
            let alerts = s.alerts_opened_in_minutes(&t.id, from, to)?;
            let f = crate::forensics::tenant_forensics(&t, from, to, &windows, &alerts);
            let report_json = serde_json::to_string(&f)
                .map_err(|e| StoreError::Corrupt(format!("forensics report: {e}")))?;
            Ok(grpc::ForensicsResponse {
                totals: crate::forensics::totals(&t.id, &windows).0,
                report_json,
            })
        })
        .await?;
        Ok(Response::new(resp))
    }

    async fn evi(&self, req: Request<EviRequest>) -> Result<Response<EviResponse>, Status> {
        let r = req.into_inner();
        let s = self.store.clone();
        Ok(Response::new(blocking(move || evi_response(&s, &r)).await?))
    }

    /// Every point of the range, then each new or changed point as edges report (a point is
    /// sent again when a late window changes it, within [`WATCH_RECHECK_MINUTES`] of the
    /// previous poll). `to_minute` 0: no end. The range is at most 366 days, as `Evi`'s.
    async fn watch_evi(
        &self,
        req: Request<EviRequest>,
    ) -> Result<Response<Self::WatchEviStream>, Status> {
        let r = req.into_inner();
        let s = self.store.clone();
        let t = r.tenant_id.clone();
        if blocking(move || s.tenant(&t)).await?.is_none() {
            return Err(Status::not_found(format!(
                "tenant {} not found",
                r.tenant_id
            )));
        }
        let mut watch = EviWatch::new(r.from_minute, r.to_minute, now_minute())
            .map_err(Status::invalid_argument)?;
        let (tx, rx) = mpsc::channel(256);
        let store = self.store.clone();
        let every = self.evi_poll;
        tokio::spawn(async move {
            loop {
                // A client gone: a watch with nothing to send would not learn it otherwise.
                if tx.is_closed() {
                    return;
                }
                let (from, to) = match watch.next_read(now_minute()) {
                    Read::Range(from, to) => (from, to),
                    Read::Wait => {
                        tokio::time::sleep(every).await;
                        continue;
                    }
                    Read::Done => return,
                };
                let req = EviRequest {
                    tenant_id: r.tenant_id.clone(),
                    from_minute: from,
                    to_minute: to,
                };
                let s = store.clone();
                let resp = match blocking(move || evi_response(&s, &req)).await {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                for p in watch.changed(resp.points) {
                    if tx.send(Ok(p)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(every).await;
            }
        });
        Ok(Response::new(
            self.until_stopping(Box::pin(ReceiverStream::new(rx))),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(region: &str, minute: i64, evi: f64) -> EviPoint {
        EviPoint {
            region: region.into(),
            minute,
            evi,
            ..EviPoint::default()
        }
    }

    #[test]
    fn an_evi_watch_sends_its_range_then_the_last_hours_changes_and_remembers_only_those() {
        let max = crate::forensics::MAX_RANGE_MINUTES;
        let now = 10_000_000;
        // Ranges: a closed one of at most 366 days and after its start; an open one from at
        // most 366 days ago (or from later); no overflow past i64.
        for (from, to, ok) in [
            (now - max, now, true),
            (now - max - 1, now, false),
            (now, now, false),
            (now - max, 0, false),
            (now - max + 1, 0, true),
            (now + 50, 0, true),
            (-2, i64::MAX, false),
            (i64::MIN, 0, false),
            (i64::MAX, 0, false),
        ] {
            assert_eq!(EviWatch::new(from, to, now).is_ok(), ok, "{from}..{to}");
        }
        let r = WATCH_RECHECK_MINUTES;
        // Open: the range as checked (a minute later too), then from the start to the next
        // minute at each poll.
        let mut w = EviWatch::new(now - max + 1, 0, now).expect("open");
        assert_eq!(w.next_read(now + 1), Read::Range(now - max + 1, now + 1));
        assert_eq!(w.next_read(now + 2), Read::Range(now - max + 3, now + 3));
        let mut w = EviWatch::new(now - 500, 0, now).expect("open");
        assert_eq!(w.next_read(now), Read::Range(now - 500, now + 1));
        let first = vec![point("", now - 400, 10.0), point("", now - 5, 20.0)];
        assert_eq!(w.changed(first.clone()), first, "the first read whole");
        assert_eq!(w.next_read(now), Read::Range(now - 500, now + 1));
        // Later: an old point is not sent again, nor a recent one unchanged; a change is, and
        // a new region's point.
        let again = vec![
            point("", now - 400, 11.0),
            point("", now - 5, 20.0),
            point("", now - 4, 1.0),
        ];
        assert_eq!(w.changed(again), [point("", now - 4, 1.0)]);
        assert_eq!(
            w.changed(vec![point("", now - 5, 21.0), point("eu", now - 5, 1.0)]),
            [point("", now - 5, 21.0), point("eu", now - 5, 1.0)]
        );
        // Polls far apart: the minutes from the recheck before the previous poll are sent.
        assert_eq!(w.next_read(now + 1440), Read::Range(now - 500, now + 1441));
        assert_eq!(w.since, now - r);
        assert_eq!(w.sent.len(), 3, "the last hour's");
        assert_eq!(w.next_read(now + 1441), Read::Range(now - 500, now + 1442));
        assert!(w.sent.is_empty(), "a day later, nothing of then is kept");
        // An open watch starting later waits, then reads.
        let mut w = EviWatch::new(now + 50, 0, now).expect("later");
        assert_eq!(w.next_read(now), Read::Range(now + 50, now + 51));
        assert_eq!(w.next_read(now + 1), Read::Wait);
        assert_eq!(w.next_read(now + 51), Read::Range(now + 50, now + 52));
        // Closed: the range, again while its end is within the recheck of the previous poll,
        // then done.
        let mut w = EviWatch::new(now - 100, now - 30, now).expect("closed");
        assert_eq!(w.next_read(now), Read::Range(now - 100, now - 30));
        assert_eq!(w.next_read(now + 29), Read::Range(now - 100, now - 30));
        assert_eq!(w.next_read(now + 30), Read::Range(now - 100, now - 30));
        assert_eq!(
            w.next_read(now + 31),
            Read::Done,
            "nothing left that may change"
        );
        // An old closed range: read once, then done.
        let mut w = EviWatch::new(now - 1000, now - 900, now).expect("old");
        assert_eq!(w.next_read(now), Read::Range(now - 1000, now - 900));
        assert_eq!(w.next_read(now), Read::Done);
    }

    /// An account of `bytes` encoded bytes (its company padded).
    fn account(i: usize, bytes: usize) -> Account {
        let mut a = Account {
            tenant_id: "acme".into(),
            r#match: format!("u{i:05}"),
            ..Account::default()
        };
        let base = a.encoded_len();
        // The company's key and a one-byte length (bytes < 130).
        a.company = "c".repeat(bytes - base - 2);
        assert_eq!(a.encoded_len(), bytes);
        a
    }

    /// The versions an import of `accounts` commits (the last gathered at the stream's end).
    fn versions(mut c: Chunk, accounts: Vec<Account>) -> Vec<usize> {
        let mut out = Vec::new();
        for a in accounts {
            out.extend(c.push(a).map(|v| v.len()));
        }
        out.push(c.take().len());
        out
    }

    #[test]
    fn a_tenant_page_holds_what_is_asked_up_to_its_cap() {
        assert_eq!(LIST_PAGE_TENANTS, 1000);
        for (asked, held) in [(0, 1000), (1, 1), (999, 999), (1000, 1000), (1001, 1000)] {
            assert_eq!(page_limit(asked), held, "{asked}");
        }
        assert_eq!(page_limit(u32::MAX), 1000);
    }

    #[test]
    fn an_import_commits_a_version_at_its_count_or_its_bytes() {
        // Count: 3 a version, accounts far below the bytes.
        for (n, want) in [
            (2, vec![2]),
            (3, vec![3]),
            (4, vec![3, 1]),
            (7, vec![3, 3, 1]),
        ] {
            let all = (0..n).map(|i| account(i, 40)).collect();
            assert_eq!(versions(Chunk::new(3, 1 << 20), all), want, "{n} accounts");
        }
        // And at the default count, small accounts: cap - 1, cap and cap + 1.
        assert_eq!(IMPORT_CHUNK, 1000);
        for (n, want) in [(999, vec![999]), (1000, vec![1000]), (1001, vec![1000, 1])] {
            let all = (0..n).map(|i| account(i, 40)).collect();
            let c = Chunk::new(IMPORT_CHUNK, crate::store::CONFIG_MESSAGE_BYTES);
            assert_eq!(versions(c, all), want, "{n} accounts");
        }
        // Bytes: 100-byte accounts take 102 each in the message; a head of 16 and two accounts
        // fill 220 exactly: at 219 only one fits, at 221 two.
        for (max_bytes, want) in [(219, vec![1, 1, 1]), (220, vec![2, 1]), (221, vec![2, 1])] {
            let all = (0..3).map(|i| account(i, 100)).collect();
            assert_eq!(
                versions(Chunk::new(10, max_bytes), all),
                want,
                "{max_bytes} bytes"
            );
        }
        // An account larger than the bytes alone is a version of its own (the store judges it).
        let all = vec![account(0, 40), account(1, 120), account(2, 40)];
        assert_eq!(versions(Chunk::new(10, 100), all), [1, 1, 1]);
        // At the defaults, the largest accounts the store takes: 63 a version (64 would pass
        // the bytes), every version within them.
        let big = crate::store::MAX_ACCOUNT_BYTES;
        let field = crate::store::config_field_bytes(big);
        let per = (crate::store::CONFIG_MESSAGE_BYTES - DELTA_HEAD_BYTES) / field;
        assert_eq!(per, 63);
        let mut c = Chunk::new(IMPORT_CHUNK, crate::store::CONFIG_MESSAGE_BYTES);
        let mut a = account(0, 40);
        // 14 bytes of tenant and match, the company's key and a two-byte length.
        a.company = "c".repeat(big - 17);
        assert_eq!(a.encoded_len(), big);
        let mut committed = Vec::new();
        for _ in 0..=per {
            committed.extend(c.push(a.clone()).into_iter().flatten());
        }
        assert_eq!(committed.len(), per);
        let delta = ConfigUpdate {
            version: u64::MAX,
            accounts: committed,
            ..ConfigUpdate::default()
        };
        assert!(delta.encoded_len() <= crate::store::CONFIG_MESSAGE_BYTES);
    }

    fn lake(region: &str, endpoint: &str) -> Option<grpc::LakeDestination> {
        Some(grpc::LakeDestination {
            bucket: "acme-own".into(),
            prefix: "p".into(),
            region: region.into(),
            endpoint: endpoint.into(),
        })
    }

    #[test]
    fn unused_lake_fields_are_refused_when_set_and_kept_when_stored() {
        let with = |l| Tenant {
            id: "acme".into(),
            lake: l,
            ..Tenant::default()
        };
        let refused = |new: &Tenant, stored: Option<grpc::LakeDestination>| {
            refuse_unused_lake_fields(new, stored.as_ref()).map_err(|e| e.to_string())
        };
        let stored = || lake("eu-west-1", "https://r2.example");
        // Bucket and prefix alone, or nothing: taken.
        assert_eq!(refused(&with(lake("", "")), None), Ok(()));
        assert_eq!(refused(&with(None), stored()), Ok(()));
        // Set on a create or on an update, or changed from what is stored: refused, naming the
        // field and its value.
        for (new, stored, field) in [
            (lake("eu-west-1", ""), None, "lake.region `eu-west-1`"),
            (
                lake("", "https://r2.example"),
                lake("", ""),
                "lake.endpoint `https://r2.example`",
            ),
            (lake("us-east-2", ""), stored(), "lake.region `us-east-2`"),
            (
                lake("eu-west-1", "https://u:hunter2@s3.example"),
                stored(),
                "lake.endpoint `https://<credentials>@s3.example`",
            ),
        ] {
            let e = refused(&with(new), stored).expect_err(field);
            assert!(
                e.contains(field) && e.contains("not used by any edge"),
                "{e}"
            );
        }
        // As stored (an edit of something else), or either cleared: taken.
        for (region, endpoint) in [
            ("eu-west-1", "https://r2.example"),
            ("", "https://r2.example"),
            ("eu-west-1", ""),
            ("", ""),
        ] {
            assert_eq!(refused(&with(lake(region, endpoint)), stored()), Ok(()));
        }
    }

    /// The "kept as stored" halves, through the service: a tenant written before these checks
    /// (straight to the store, as an older plane did) with a lake region and endpoint and an
    /// origin with a path stays editable; only what a write adds or changes is refused.
    #[tokio::test]
    async fn a_tenant_stored_before_the_checks_can_still_be_edited() {
        use grpc::tenant_admin_server::TenantAdmin;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        store
            .create_tenant(Tenant {
                id: "acme".into(),
                allowed_origins: vec!["https://shop.example/app".into()],
                lake: lake("eu-west-1", "https://r2.example"),
                ..Tenant::default()
            })
            .expect("stored as an older plane would");
        let svc = Services::new(
            store,
            Arc::new(crate::telemetry::Metrics::default()),
            1_000,
            1_000,
            0,
        );
        let read = || async {
            svc.get_tenant(Request::new(TenantId { id: "acme".into() }))
                .await
                .expect("get")
                .into_inner()
        };
        let update = |t: Tenant| svc.update_tenant(Request::new(t));
        // An edit of something else (siqctl reads, changes one thing and writes it all back).
        let mut t = read().await;
        t.name = "Acme".into();
        update(t.clone()).await.expect("an edit of the name");
        assert_eq!(read().await.name, "Acme");
        // What a write adds or changes is checked.
        let mut bad = t.clone();
        bad.allowed_origins.push("https://new.example/app".into());
        let e = update(bad).await.expect_err("a new origin with a path");
        assert!(e.message().contains("new.example/app"), "{}", e.message());
        let mut bad = t.clone();
        bad.lake = lake("us-east-2", "https://r2.example");
        let e = update(bad).await.expect_err("a changed region");
        assert!(
            e.message().contains("lake.region `us-east-2`"),
            "{}",
            e.message()
        );
        // Either may be cleared; nothing refused was stored.
        let mut t = read().await;
        assert_eq!(t.lake, lake("eu-west-1", "https://r2.example"));
        t.lake = lake("", "https://r2.example");
        update(t).await.expect("the region cleared");
        assert_eq!(read().await.lake, lake("", "https://r2.example"));
    }

    #[test]
    fn only_origins_a_write_adds_must_be_origins() {
        let with = |origins: &[&str]| Tenant {
            id: "acme".into(),
            allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..Tenant::default()
        };
        let refused = |origins: &[&str], stored: &[&str]| {
            let stored: Vec<String> = stored.iter().map(|o| o.to_string()).collect();
            refuse_new_bad_origins(&with(origins), &stored).map_err(|e| e.to_string())
        };
        // What the edge matches (`origin_allowed`: whole origins, any case, a trailing `/`).
        for ok in [
            "*",
            "https://shop.example",
            "https://shop.example/",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "https://www.example.co.uk",
            "https://Shop.Example",
            "https://shop.example:8443",
            "capacitor://localhost",
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
            "app://my.app:1234",
        ] {
            assert_eq!(refused(&[ok], &[]), Ok(()), "{ok}");
        }
        // What it never matches: each with its reason and, where one can be told, what to
        // write instead; credentials never repeated.
        for (bad, why, instead) in [
            (
                "https://shop.example/products?id=1",
                "has a path",
                Some("https://shop.example"),
            ),
            (
                "https://shop.example?x=1",
                "query or fragment",
                Some("https://shop.example"),
            ),
            (
                "https://shop.example:8443/app/",
                "has a path",
                Some("https://shop.example:8443"),
            ),
            ("shop.example", "must start with http://", None),
            ("https://u:hunter2@shop.example", "holds an @", None),
            ("https://*.shop.example", "wildcard", None),
            ("https://shop.example:443", "default port", None),
            ("http://shop.example:80/", "default port", None),
            ("https://shop.example:", "empty port", None),
            ("null", "sandboxed frames", None),
            ("file:///index.html", "file://", None),
            ("wss://use1.edge.example", "WebSocket address", None),
            ("htps://shop.example", "mistyped", None),
            (
                "moz-extension://0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                "every browser",
                None,
            ),
            ("chrome-extension://*", "wildcard", None),
            (
                "chrome-extension://abcdef/popup.html",
                "path, @",
                Some("chrome-extension://abcdef"),
            ),
            ("capacitor://k:s3cret@localhost", "path, @", None),
            ("HTTPS://shop.example", "must start with http://", None),
            ("https://bücher.example", "punycode", None),
        ] {
            let e = refused(&["https://ok.example", bad], &[]).expect_err(bad);
            assert!(e.contains("allowed origin") && e.contains(why), "{e}");
            assert!(!e.contains("hunter2") && !e.contains("s3cret"), "{e}");
            match instead {
                Some(w) => assert!(e.ends_with(&format!("; write `{w}`")), "{e}"),
                None => assert!(!e.contains("; write"), "{e}"),
            }
        }
        // Stored before this check: kept through an edit (in any order), not re-checked.
        assert_eq!(
            refused(
                &["https://new.example", "https://shop.example/app"],
                &["https://shop.example/app"]
            ),
            Ok(())
        );
    }
}
