//! The edge's side of the control plane.
//!
//! One thread beside the shards (`control-sync`, a single-threaded tokio runtime; never a
//! shard's reactor) does two things:
//! - **Config.** `WatchConfig` is subscribed at start and stays subscribed: on any break it
//!   reconnects (backoff 100 ms doubling to 5 s) and resumes from the version it has. Each
//!   version is made durable first (accounts and forgotten users in RocksDB, synced; the tenant
//!   set in the last-known-good file) and then swapped into the live tenant directory, so a
//!   change reaches connections within milliseconds of the plane committing it.
//! - **Aggregates.** Shards hand their per-minute windows over every second ([`Reports`]).
//!   Every `report_interval_ms` the windows that changed since their last acknowledgement are
//!   sent as totals; the plane keeps one per (tenant, region, edge, minute), so sending a
//!   window again replaces it with the same or a larger total. What was not acknowledged stays
//!   marked and goes again next time.
//!
//! - **Experiments.** Shards hand over what their experiment counts gained every second, with
//!   their windows; they are reported per (tenant, rule, minute) in the same batches. The plane
//!   answers in the config stream with every other edge boot's totals ([`Priors`]), sent with
//!   the current version and no change, which this thread takes without touching the config.
//!
//! - **Quotas.** Shards hand over their events each second too ([`Quotas`]); the plane sends
//!   every other edge boot's events of the month the same way as the experiment totals.
//!
//! When the plane is unreachable the edge keeps serving what it has. At start that is the
//! last-known-good file when there is one (so keys revoked before an outage stay revoked), else
//! the tenants of the config file.

pub mod feed;
pub mod lkg;
pub mod priors;
pub mod quotas;
pub mod reports;
pub mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sentientiq_proto::grpc::{RegisterEdge, edge_sync_client::EdgeSyncClient};
use sentientiq_tenant::AccountSpec;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

pub use feed::{Changes, Feed, Synced, edge_tenants};
pub use lkg::{LKG_FILE, decode_lkg, encode_lkg, load_lkg, save_lkg};
pub use priors::Priors;
pub use quotas::Quotas;
pub use reports::{Reports, Sent, Tally};
pub use status::Status;

use crate::config::{ControlSection, LakeSection};
use crate::storage::identity::IdentityStore;
use crate::tenants::Directory;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config version {got} does not follow {have}")]
    Gap { have: u64, got: u64 },
    #[error("last-known-good file {path}: {why}")]
    Lkg { path: String, why: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// What the control thread reads and writes of the node.
#[derive(Debug, Clone)]
pub struct Link {
    pub edge_id: String,
    pub region: String,
    /// The id windows are reported under (`edge@boot_ms`).
    pub report_id: String,
    pub tenants: Arc<Directory>,
    pub identity: Arc<IdentityStore>,
    pub lake: LakeSection,
    pub status: Arc<Status>,
    pub reports: Arc<Reports>,
    /// What shards draw experiment assignments from; the plane's totals go in here.
    pub priors: Arc<Priors>,
    /// This month's events per tenant; the plane's counts of other boots go in here.
    pub quotas: Arc<Quotas>,
    /// What the edge's health report reads (every shard's metrics, the lake's, the spool's).
    pub shard_metrics: Vec<Arc<crate::telemetry::ShardMetrics>>,
    pub lake_metrics: Arc<crate::telemetry::LakeMetrics>,
    pub spool: Arc<crate::storage::SpoolShare>,
    /// Set once every shard has stopped (their last windows are handed over by then).
    pub shards_stopped: Arc<AtomicBool>,
    /// Seals tenants' alerting secrets in the last-known-good file (`SIQ_SECRETS_KEY`).
    pub secrets: Option<Arc<sentientiq_alerts::secret::SealingKey>>,
}

/// The first wait before the plane's config stream (and an edge's alert stream,
/// `alerts::report`) is opened again, doubling at each failure up to [`LAST_RETRY`]; it starts
/// over once a stream works.
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(100);
pub(crate) const LAST_RETRY: Duration = Duration::from_secs(5);

/// When a control-plane stream is opened again (pure): a step of [`FIRST_RETRY`], doubling at
/// each wait up to [`LAST_RETRY`], and from [`FIRST_RETRY`] again once a stream was answered.
/// Without the start-over a few breaks (a plane's restarts) made every later reconnect wait
/// 5 s, and what the stream carries waited with it. The config watch and the alert stream each
/// keep one, seeded apart ([`retry_seed`]).
///
/// Each wait is half its step plus a part of the other half set by the edge's id and the
/// attempt ("equal jitter": M. Brooker, "Exponential Backoff And Jitter", AWS Architecture
/// Blog, 2015): every edge of a fleet loses its streams at the same moment when the plane
/// restarts, and with the steps alone they all came back at the same moments too. A hash, not
/// a random number: an edge's waits are the same in every run, and edges' differ.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    next: Duration,
    seed: u64,
    attempt: u64,
}

/// The control-plane streams an edge keeps open, each with its own waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    /// The config watch (`Sync`).
    Config,
    /// The alert report stream (`ReportAlerts`).
    Alerts,
}

/// The seed of one stream's waits: the edge's id and the stream, hashed
/// ([`crate::placement::fnv1a`]). Both streams of an edge break together when the plane
/// restarts; with one seed they also came back together.
pub(crate) fn retry_seed(edge_id: &str, stream: Stream) -> u64 {
    let name: &[u8] = match stream {
        Stream::Config => b"config",
        Stream::Alerts => b"alerts",
    };
    crate::placement::fnv1a(edge_id.bytes().chain([0]).chain(name.iter().copied()))
}

/// SplitMix64's output for state `x`: the bits of `x` spread over the whole word.
fn mix(x: u64) -> u64 {
    sentientiq_experiments::rng::splitmix64(&mut { x })
}

impl Retry {
    pub(crate) fn new(seed: u64) -> Retry {
        Retry {
            next: FIRST_RETRY,
            seed,
            attempt: 0,
        }
    }

    /// The plane answered the stream: the next step is the first again.
    pub(crate) fn answered(&mut self) {
        self.next = FIRST_RETRY;
    }

    /// The wait before the next attempt: between half its step and the step; the next step
    /// doubles.
    pub(crate) fn wait(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(LAST_RETRY);
        self.attempt = self.attempt.wrapping_add(1);
        // 53 bits: a fraction in [0, 1) an f64 holds exactly.
        let part = (mix(self.seed ^ mix(self.attempt)) >> 11) as f64 / (1u64 << 53) as f64;
        step / 2 + (step / 2).mul_f64(part)
    }
}

/// Starts the `control-sync` thread. `synced` is what the edge starts from (the last-known-good
/// file, or empty at version 0).
pub fn spawn(
    link: Link,
    cfg: ControlSection,
    dir: PathBuf,
    synced: Synced,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("control-sync".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "control: cannot start its runtime");
                    return;
                }
            };
            rt.block_on(run(link, cfg, dir, synced));
        })
}

pub(crate) fn channel(cfg: &ControlSection) -> Result<Channel, String> {
    let ep = cfg.endpoint.clone().unwrap_or_default();
    let mut e = Endpoint::from_shared(ep.clone())
        .map_err(|e| format!("endpoint `{}`: {e}", sentientiq_url::shown(&ep)))?
        .connect_timeout(Duration::from_secs(2))
        // A plane that vanishes without closing (a killed host) is noticed within ~15 s.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    if ep.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        e = e.tls_config(tls).map_err(|e| format!("tls: {e}"))?;
    }
    Ok(e.connect_lazy())
}

fn authed<T>(
    msg: T,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", token.clone());
    r
}

async fn run(link: Link, cfg: ControlSection, dir: PathBuf, synced: Synced) {
    let ch = match channel(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "control: not following the control plane");
            return;
        }
    };
    let Ok(token) = cfg.bearer().parse() else {
        tracing::error!("control: the edge token must be printable ASCII");
        return;
    };
    // Followed until the shards have stopped, so their last windows make the last report.
    let shutdown = {
        let stopped = link.shards_stopped.clone();
        async move {
            while !stopped.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    tokio::select! {
        () = watch(&link, ch.clone(), &token, dir, synced) => {}
        () = report(&link, ch, &token, Duration::from_millis(cfg.report_interval_ms)) => {}
        () = shutdown => {}
    }
    // A last report on the way out, so the minutes served are not lost with the process.
    if !link.reports.is_empty()
        && let Ok(ch) = channel(&cfg)
    {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            report_once(
                &link,
                &mut EdgeSyncClient::new(ch),
                &token,
                Duration::from_millis(cfg.report_interval_ms),
            ),
        )
        .await;
    }
}

async fn watch(
    link: &Link,
    ch: Channel,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    dir: PathBuf,
    mut synced: Synced,
) {
    let mut client = EdgeSyncClient::new(ch);
    let mut retry = Retry::new(retry_seed(&link.edge_id, Stream::Config));
    let mut resume = synced.version;
    loop {
        let reg = RegisterEdge {
            edge_id: link.edge_id.clone(),
            region: link.region.clone(),
            resume_from_version: resume,
            report_id: link.report_id.clone(),
            counts_in_parts: true,
        };
        match client.watch_config(authed(reg, token)).await {
            Ok(resp) => {
                link.status.connected.store(true, Ordering::Relaxed);
                tracing::info!(from = resume, "control: following the control plane");
                let mut stream = resp.into_inner();
                let mut feed = Feed::default();
                let mut gather = feed::Gather::default();
                loop {
                    match stream.message().await {
                        Ok(Some(mut u)) => {
                            let counts = feed::carries_counts(&u);
                            let dropped = gather.dropped;
                            if let Some(c) = gather.take(&mut u) {
                                if let Some(totals) = c.totals {
                                    link.priors.set_plane(&link.tenants.load(), &totals);
                                    link.status.priors.fetch_add(1, Ordering::Relaxed);
                                }
                                if let Some((month, usage)) = c.usage {
                                    link.quotas.set_plane(month, &usage);
                                }
                            }
                            if gather.dropped > dropped {
                                tracing::error!(
                                    max_bytes = feed::MAX_HELD_BYTES,
                                    "control: a set of other edges' counts past the bytes held is dropped; the counts kept are the last whole set's"
                                );
                            }
                            // Counts ride on an update of the current version with nothing
                            // else in it: taking them is all there is to do.
                            if counts && priors_only(&u, synced.version) {
                                continue;
                            }
                            match feed.push(&mut synced, u) {
                                Ok(None) => {}
                                Ok(Some(c)) => {
                                    retry.answered();
                                    if let Err(e) = apply(link, &dir, &mut synced, c) {
                                        // Not durable: do not move on; resume from what is stored.
                                        tracing::error!(error = %e, "control: applying a version failed");
                                        synced = load_lkg(&dir, link.secrets.as_deref())
                                            .ok()
                                            .flatten()
                                            .unwrap_or_default();
                                        resume = 0;
                                        break;
                                    }
                                    resume = synced.version;
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "control: resyncing from a snapshot");
                                    resume = 0;
                                    break;
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(s) => {
                            tracing::warn!(code = ?s.code(), message = s.message(), "control: watch broke");
                            break;
                        }
                    }
                }
            }
            Err(s) => {
                tracing::warn!(code = ?s.code(), message = s.message(), "control: cannot watch config");
            }
        }
        link.status.connected.store(false, Ordering::Relaxed);
        tokio::time::sleep(retry.wait()).await;
    }
}

/// An update that only carries experiment totals or quota usage: the current version, not a
/// snapshot, nothing else.
fn priors_only(u: &sentientiq_proto::grpc::ConfigUpdate, version: u64) -> bool {
    u.version == version
        && !u.full_snapshot
        && u.upserted.is_empty()
        && u.deleted_tenant_ids.is_empty()
        && u.accounts.is_empty()
        && u.deleted_users.is_empty()
}

/// Makes one version durable, then live. What this edge serves of each tenant is decided
/// first, so the file keeps the versions kept in force too.
fn apply(link: &Link, dir: &Path, synced: &mut Synced, c: Changes) -> Result<(), String> {
    if !c.accounts.is_empty() {
        let mut by_tenant: BTreeMap<&str, Vec<AccountSpec>> = BTreeMap::new();
        for a in &c.accounts {
            by_tenant
                .entry(a.tenant_id.as_str())
                .or_default()
                .push(AccountSpec {
                    matches: a.r#match.clone(),
                    company: Some(a.company.clone()).filter(|c| !c.is_empty()),
                    value_cents: a.lifetime_value_cents,
                    tier: Some(a.tier.clone()).filter(|t| !t.is_empty()),
                });
        }
        for (t, accounts) in by_tenant {
            link.identity
                .put_accounts(t, &accounts)
                .map_err(|e| format!("accounts of {t}: {e}"))?;
        }
    }
    for d in &c.deleted_users {
        link.identity
            .forget_user(&d.tenant_id, &d.uid)
            .map_err(|e| format!("forgetting a user of {}: {e}", d.tenant_id))?;
    }
    link.identity
        .sync()
        .map_err(|e| format!("syncing the identity store: {e}"))?;
    let served = c
        .tenants
        .then(|| edge_tenants(synced, &c.replaced, &link.lake));
    save_lkg(dir, synced, link.secrets.as_deref()).map_err(|e| e.to_string())?;
    if let Some((tenants, bad)) = served {
        link.status
            .record_refused(&bad, "control: tenant refused by this edge");
        let current = link.tenants.load();
        link.tenants.store(current.replaced_by(tenants));
    }
    link.status.version.store(synced.version, Ordering::Relaxed);
    link.status.applied.fetch_add(1, Ordering::Relaxed);
    tracing::info!(version = synced.version, "control: config version applied");
    Ok(())
}

async fn report(
    link: &Link,
    ch: Channel,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    every: Duration,
) {
    let mut client = EdgeSyncClient::new(ch);
    loop {
        tokio::time::sleep(every).await;
        if let Err(s) = report_once(link, &mut client, token, every).await {
            link.status.report_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(code = ?s.code(), message = s.message(), "control: report not acknowledged (kept for the next one)");
        }
        link.reports.prune(crate::clock::now_ms() / 60_000);
    }
}

/// Sends every pending window (in batches) and marks what the plane acknowledged.
async fn report_once(
    link: &Link,
    client: &mut EdgeSyncClient<Channel>,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    every: Duration,
) -> Result<(), tonic::Status> {
    let reports = &link.reports;
    let pending = reports.pending(reports::MAX_WINDOWS);
    let (mut batches, mut sent) = reports::batches(
        &pending,
        &link.tenants.load(),
        &link.region,
        &link.report_id,
    );
    // The edge's health rides on the first batch; an idle edge sends it alone (a batch whose
    // ack clears nothing, waited for so the plane has read it).
    let health = status::health(link, crate::clock::now_ms(), every);
    if batches.is_empty() {
        batches.push(sentientiq_proto::grpc::AggregateBatch {
            batch_id: 1,
            ..Default::default()
        });
        sent.insert(1, Vec::new());
    }
    if let Some(b) = batches.first_mut() {
        b.health = Some(health);
        // The live feed's detections, with where they come from.
        b.detections = reports.take_detections();
        for d in &mut b.detections {
            d.region.clone_from(&link.region);
            d.edge_id.clone_from(&link.edge_id);
        }
    }
    let n = batches.len();
    let mut acks = client
        .report_aggregates(authed(futures_util::stream::iter(batches), token))
        .await?
        .into_inner();
    while !sent.is_empty()
        && let Some(a) = acks.message().await?
    {
        if let Some(s) = sent.remove(&a.batch_id) {
            reports.acked(&s);
            link.status
                .reports_acked
                .fetch_add(s.len() as u64, Ordering::Relaxed);
        }
    }
    if !sent.is_empty() {
        return Err(tonic::Status::unavailable(format!(
            "{} of {n} batches acknowledged",
            n - sent.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether every wait lies in its step's upper half.
    fn within(waits: &[Duration], steps_ms: &[u64]) -> bool {
        waits.len() == steps_ms.len()
            && waits.iter().zip(steps_ms).all(|(w, &s)| {
                let s = Duration::from_millis(s);
                *w >= s / 2 && *w <= s
            })
    }

    #[test]
    fn the_wait_doubles_to_five_seconds_and_starts_over_after_an_answered_stream() {
        // Unanswered streams: steps of 100 ms, 200, 400, … up to 5 s (cap − 1 step, cap,
        // cap + 1), each wait in its step's upper half.
        let mut retry = Retry::new(retry_seed("edge-1", Stream::Config));
        let waits: Vec<_> = (0..8).map(|_| retry.wait()).collect();
        assert!(
            within(&waits, &[100, 200, 400, 800, 1600, 3200, 5000, 5000]),
            "{waits:?}"
        );
        // A stream the plane answered, then broke: a step of 100 ms again, whatever came
        // before, then doubling again.
        retry.answered();
        let again = [retry.wait(), retry.wait()];
        assert!(within(&again, &[100, 200]), "{again:?}");
    }

    /// Edges that lose the plane together do not come back together: a hundred edges' waits
    /// spread over their step's upper half, and one edge's waits are the same every run.
    #[test]
    fn edges_waits_are_spread_by_their_ids_and_repeat_for_one_edge() {
        let waits = |id: &str| {
            let mut r = Retry::new(retry_seed(id, Stream::Config));
            (0..8).map(|_| r.wait()).collect::<Vec<_>>()
        };
        assert_eq!(waits("edge-use1-a"), waits("edge-use1-a"));
        let fleet: Vec<Vec<Duration>> = (0..100).map(|i| waits(&format!("edge-{i}"))).collect();
        for (attempt, step_ms) in [100, 200, 400, 800, 1600, 3200, 5000, 5000]
            .iter()
            .enumerate()
        {
            let mut at: Vec<Duration> = fleet.iter().map(|w| w[attempt]).collect();
            assert!(within(&at, &[*step_ms; 100]), "attempt {attempt}");
            at.sort_unstable();
            at.dedup();
            assert!(
                at.len() >= 95,
                "attempt {attempt}: {} distinct waits",
                at.len()
            );
            // Spread over most of the upper half, not bunched at one point of it.
            let (lo, hi) = (at[0], at[at.len() - 1]);
            assert!(
                hi - lo > Duration::from_millis(*step_ms) * 2 / 5,
                "attempt {attempt}: {lo:?}..{hi:?}"
            );
        }
    }

    /// One edge's config watch and alert stream break together when the plane restarts, and
    /// do not come back together: their waits differ at every attempt.
    #[test]
    fn an_edges_two_streams_wait_apart() {
        let waits = |stream| {
            let mut r = Retry::new(retry_seed("edge-use1-a", stream));
            (0..8).map(|_| r.wait()).collect::<Vec<_>>()
        };
        let (config, alerts) = (waits(Stream::Config), waits(Stream::Alerts));
        for (attempt, (c, a)) in config.iter().zip(&alerts).enumerate() {
            assert_ne!(c, a, "attempt {attempt}");
        }
    }
}
