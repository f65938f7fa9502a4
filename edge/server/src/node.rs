//! What every shard of one edge process shares: settings, the tenant directory, the identity
//! store, the spool's shared counters, metrics and the control link. Read-only but for atomics
//! each writer owns (a shard its metrics, the control thread the directory and its status).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::{EdgeSection, LakeSection};
use crate::control::{Priors, Quotas, Reports, Status};
use crate::storage::SpoolShare;
use crate::storage::identity::IdentityStore;
use crate::telemetry::{Exposition, LakeMetrics, ShardMetrics};
use crate::tenants::Directory;

#[derive(Debug)]
pub struct Node {
    pub edge: EdgeSection,
    pub lake: LakeSection,
    pub tenants: Arc<Directory>,
    pub nshards: usize,
    pub metrics: Vec<Arc<ShardMetrics>>,
    pub identity: Arc<IdentityStore>,
    pub shutdown: Arc<AtomicBool>,
    pub ready: AtomicUsize,
    pub spool: Arc<SpoolShare>,
    pub lake_metrics: Arc<LakeMetrics>,
    /// The control-plane link's state (all zero without `[control]`).
    pub control: Arc<Status>,
    /// Window aggregates waiting to be reported (`None` without a control plane: shards drop
    /// their windows as they close).
    pub reports: Option<Arc<Reports>>,
    /// Every shard's experiment counts of this boot and the plane's totals of other boots:
    /// what shards draw assignments from (always kept: shards share it even without a plane).
    pub priors: Arc<Priors>,
    /// This month's events per tenant (this boot's shards and the plane's other boots): what
    /// shards check tenants' hard quotas against.
    pub quotas: Arc<Quotas>,
    /// When this process started (ms): part of the id it reports aggregates under.
    pub boot_ms: u64,
    /// The experiments' seed: `[edge] experiment_seed`, else `boot_ms`.
    pub experiment_seed: u64,
    /// Set once every shard has stopped (their last windows are handed over by then).
    pub shards_stopped: Arc<AtomicBool>,
    /// Alert delivery (the `alerts` thread, the link page's state).
    pub alerts: Option<Arc<crate::alerts::Handle>>,
}

/// One connection counted in a shard's open connections (`siq_open_connections{transport="tcp"}`,
/// the gauge the connection cap is checked against) for as long as this lives. A connection has
/// one, moved along with it: from its accept into its session. It is given back when dropped,
/// however its holder ends: a future that finishes or is dropped mid-way, a hand-off no shard
/// adopts.
#[derive(Debug)]
pub struct Room(Arc<ShardMetrics>);

impl Room {
    /// Counts a connection whatever the cap (one being refused at the cap is open too).
    pub fn count(m: &Arc<ShardMetrics>) -> Room {
        m.connections.fetch_add(1, Ordering::Relaxed);
        Room(m.clone())
    }

    /// Counts a connection if fewer than `cap` are open; `None` at the cap. The check and the
    /// count are one step, so two takers never both get the last place.
    pub fn take(m: &Arc<ShardMetrics>, cap: usize) -> Option<Room> {
        let cap = cap as u64;
        m.connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()?;
        Some(Room(m.clone()))
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Descriptors the edge keeps for itself whatever its connections: its two RocksDB stores'
/// open tables (at most [`crate::storage::ROCKSDB_MAX_OPEN_FILES`] each), the lake shipper's
/// segment, lake and temporary files, the alerts' and the control plane's sockets, the
/// blocking pool's files, logging, and what the process opened at start. Measured
/// (`bench/runs/2026-12-05-vm/README.md`, "Thirty-first session"): an idle one-shard edge
/// holds 32 descriptors (25 besides its shard's), and at most 37 that are not connections
/// through a `ws-1k` run and its lake shipment. Of the rest:
/// - 256: the stores' table caches;
/// - 64: the lake pages' temporary files (`sentientiq_lake::pages::MAX_SPILL_FILES`);
/// - about 410 left, not measured: room for what grows with the configuration rather than the
///   load, the alerts' HTTP connections (one lane per destination delivering at once, and idle
///   ones kept 60 s) and the control plane's. No run here has used more than the 37 above.
///
/// The lake files a shipment holds open grow with the spool's segment size, and are kept
/// beside these ([`lake_files_open`]).
pub const FDS_RESERVED: u64 = 768;
/// The fewest bytes one input sample takes in a spooled frame: a `b` frame's `k`, `dt`, `x` and
/// `y` are MessagePack arrays, one byte each for a small value (PROTOCOL.md §3, positive
/// fixint), and `a` and `s` are optional.
pub const MIN_SAMPLE_BYTES: u64 = 4;

/// The most lake files a shipment to a local lake holds open at once for a spool segment of
/// `segment_bytes`. A file is staged (a temporary file opened) at its first byte, which is its
/// first row group's close (every `sentientiq_lake::events::ROW_GROUP_ROWS` rows, for every
/// table) or its end, and the shipper stores the segment's files one at a time as it finishes
/// them. So at most one file per row group's worth of the segment's samples is staged during
/// the scan, plus the one being stored, however many tenants and hours the segment holds
/// (`ship::tests::a_segment_of_many_tenants_stages_one_lake_file_at_a_time`). 17 for the
/// default 64 MiB segment, 129 for 512 MiB. A shipment to S3 stages in memory.
pub fn lake_files_open(segment_bytes: u64) -> u64 {
    segment_bytes / MIN_SAMPLE_BYTES / sentientiq_lake::events::ROW_GROUP_ROWS as u64 + 1
}

/// Every descriptor an edge of `shards` shards with spool segments of `segment_bytes` keeps
/// for itself before any connection: [`FDS_RESERVED`], [`lake_files_open`] and
/// [`FDS_PER_SHARD`] for each shard.
pub fn kept_descriptors(shards: usize, segment_bytes: u64) -> u64 {
    FDS_PER_SHARD
        .saturating_mul(shards.max(1) as u64)
        .saturating_add(FDS_RESERVED)
        .saturating_add(lake_files_open(segment_bytes))
}

/// Connections a shard may be refusing at once at its cap (each holds its descriptor while
/// it is told 503); past this, one more is closed without an answer.
pub const SHED_IN_FLIGHT: usize = 64;
/// Descriptors each shard keeps for itself: its io_uring ring and event descriptors, its TCP
/// listener and QUIC socket, its open spool segment and the segment a directory sync holds,
/// and its connections being refused ([`SHED_IN_FLIGHT`]). Measured: 7 per shard idle (a
/// two-shard edge holds 39, a one-shard edge 32); 16 leaves room for the rest.
pub const FDS_PER_SHARD: u64 = 16 + SHED_IN_FLIGHT as u64;

/// The per-shard connection cap the process's open-file limit allows (`RLIMIT_NOFILE`).
///
/// Every TCP connection holds a descriptor for its life, so `max_connections_per_shard` is a
/// descriptor budget too: past the limit the edge could not open its next spool segment, and
/// a full edge would refuse every frame rather than the next connection (measured: with a
/// limit of 20 000 and a cap of 20 000 on one shard, acks stopped at the first segment's end for
/// 45 s; `bench/runs/2026-12-05-vm/README.md`, "Thirty-first session").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// The cap each shard keeps.
    pub per_shard: usize,
    /// The configured cap, when the limit made it lower.
    pub lowered_from: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this process may open {limit} files (RLIMIT_NOFILE), and {shards} shards keep {kept} for themselves before any connection: raise the limit (systemd `LimitNOFILE=`, `ulimit -n`, a container's `nofile`) or run fewer shards"
)]
pub struct FdLimitError {
    pub limit: u64,
    pub shards: usize,
    pub kept: u64,
}

/// The connection cap per shard that leaves the edge its own descriptors under `limit`
/// ([`kept_descriptors`], with spool segments of `segment_bytes`): `asked` when `shards ×
/// asked` fits beside them, else the most that fits (at least one connection per shard, or an
/// error).
pub fn connection_budget(
    limit: u64,
    shards: usize,
    asked: usize,
    segment_bytes: u64,
) -> Result<ConnectionBudget, FdLimitError> {
    let shards_n = shards.max(1) as u64;
    let kept = kept_descriptors(shards, segment_bytes);
    let fits = limit.saturating_sub(kept) / shards_n;
    if fits == 0 {
        return Err(FdLimitError {
            limit,
            shards,
            kept,
        });
    }
    Ok(if asked as u64 <= fits {
        ConnectionBudget {
            per_shard: asked,
            lowered_from: None,
        }
    } else {
        ConnectionBudget {
            per_shard: usize::try_from(fits).unwrap_or(usize::MAX),
            lowered_from: Some(asked),
        }
    })
}

impl Node {
    /// A place for one more connection on shard `shard` (accepted there, or handed to it),
    /// taken at once when it holds fewer than `max_connections_per_shard`; `None` at the cap.
    /// The check and the count are one step ([`Room::take`]), so connections accepted in a
    /// burst, or handed over from several shards at once, never take the cap's last place
    /// twice.
    pub fn room(&self, shard: usize) -> Option<Room> {
        Room::take(
            self.metrics.get(shard)?,
            self.edge.max_connections_per_shard,
        )
    }

    /// Every shard serves, and every shard's spool can be written.
    pub fn all_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) == self.nshards
            && self
                .spool
                .writable
                .iter()
                .all(|w| w.load(Ordering::Relaxed))
    }

    /// The edge id aggregates are reported under: `id@boot_ms`. The plane keeps one window per
    /// (tenant, region, edge, minute), so a restarted edge must not overwrite what the previous
    /// process reported for the same minute; with its own id, both are kept and summed.
    pub fn report_edge_id(&self) -> String {
        sentientiq_proto::grpc::report_id(&self.edge.id, self.boot_ms)
    }

    /// `/metrics`: every family of this edge.
    pub fn render_metrics(&self) -> String {
        let mut e = Exposition::new(&[("edge", &self.edge.id), ("region", &self.edge.region)]);
        crate::telemetry::render_shards(&mut e, &self.metrics);
        crate::telemetry::render_lake(&mut e, &self.lake_metrics);
        self.control.render(&mut e, self.reports.as_deref());
        e.single(
            "siq_connection_cap",
            "Connections each shard takes (max_connections_per_shard, as lowered at start to fit \
             the open-file limit beside the edge's own files).",
            crate::telemetry::Kind::Gauge,
            self.edge.max_connections_per_shard as u64,
        );
        e.single(
            "siq_experiment_sessions_known",
            "Experiment assignments the draws know of: every shard's of this boot plus the \
             plane's totals of every other edge boot.",
            crate::telemetry::Kind::Gauge,
            self.priors.sessions_known(),
        );
        // Tenants with a hard quota: this month's events as shards check them (without the
        // events shards accepted since their last hand-over, at most a second's).
        let tenants = self.tenants.load();
        let month = sentientiq_proto::month_of_day((crate::clock::now_ms() / 86_400_000) as i64);
        e.family(
            "siq_quota_month_events",
            "A tenant with a hard quota: its events this UTC month, this boot's and the plane's \
             count of every other edge boot.",
            crate::telemetry::Kind::Gauge,
        );
        for t in tenants.list.iter().filter(|t| t.quota.hard.is_some()) {
            e.sample(
                "siq_quota_month_events",
                &[("tenant", &t.id)],
                self.quotas.view(&t.id, month),
            );
        }
        if let Some(a) = &self.alerts {
            a.metrics.render(&mut e);
        }
        e.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(m: &ShardMetrics) -> u64 {
        m.connections.load(Ordering::Relaxed)
    }

    /// The cap at cap − 1, cap and cap + 1; a place dropped is a place free again; a counted
    /// connection (one being refused) is open whatever the cap.
    #[test]
    fn a_place_is_taken_below_the_cap_and_given_back_when_dropped() {
        let m = Arc::new(ShardMetrics::default());
        let cap = 3;
        let mut held: Vec<Room> = (0..cap - 1)
            .map(|_| Room::take(&m, cap).expect("below the cap"))
            .collect();
        assert_eq!(open(&m), 2, "cap - 1 open");
        held.push(Room::take(&m, cap).expect("the last place"));
        assert_eq!(open(&m), 3, "cap open");
        assert!(Room::take(&m, cap).is_none(), "cap + 1 refused");
        assert_eq!(open(&m), 3, "a refusal takes nothing");
        let refused = Room::count(&m);
        assert_eq!(open(&m), 4, "a connection being refused is open too");
        drop(refused);
        drop(held.pop());
        assert_eq!(open(&m), 2);
        held.push(Room::take(&m, cap).expect("the freed place"));
        drop(held);
        assert_eq!(open(&m), 0);
    }

    /// The budget at its edges: `shards × asked` beside the kept descriptors fits exactly
    /// (cap), one descriptor short lowers the cap by one (cap − 1 of the limit), one more is
    /// room to spare (cap + 1); a limit that leaves no connection per shard is an error.
    #[test]
    fn the_connection_cap_fits_the_open_file_limit() {
        const SEG: u64 = 64 << 20;
        // One more file for each row group's worth of the fewest bytes a sample takes:
        // 2^20 samples of 4 bytes are 4 MiB.
        assert_eq!(lake_files_open(SEG), 17);
        assert_eq!(lake_files_open((4 << 20) - 1), 1);
        assert_eq!(lake_files_open(4 << 20), 2);
        assert_eq!(lake_files_open(512 << 20), 129);
        assert_eq!(
            kept_descriptors(1, 512 << 20) - kept_descriptors(1, SEG),
            112
        );
        for shards in [1usize, 2, 8] {
            let kept = FDS_RESERVED + FDS_PER_SHARD * shards as u64 + 17;
            assert_eq!(kept_descriptors(shards, SEG), kept);
            let asked = 1000usize;
            let exact = kept + (shards * asked) as u64;
            let keep = ConnectionBudget {
                per_shard: asked,
                lowered_from: None,
            };
            assert_eq!(connection_budget(exact, shards, asked, SEG), Ok(keep));
            assert_eq!(connection_budget(exact + 1, shards, asked, SEG), Ok(keep));
            assert_eq!(
                connection_budget(exact - 1, shards, asked, SEG),
                Ok(ConnectionBudget {
                    per_shard: asked - 1,
                    lowered_from: Some(asked),
                }),
                "{shards} shards, one descriptor short"
            );
            // One connection per shard is the least an edge serves with.
            let least = kept + shards as u64;
            assert_eq!(
                connection_budget(least, shards, asked, SEG).map(|b| b.per_shard),
                Ok(1)
            );
            let e = connection_budget(least - 1, shards, asked, SEG).expect_err("no room");
            assert_eq!((e.limit, e.shards, e.kept), (least - 1, shards, kept));
            assert!(e.to_string().contains("RLIMIT_NOFILE"), "{e}");
        }
        // A limit far above the ask keeps the ask.
        assert_eq!(
            connection_budget(1 << 20, 2, 20_000, SEG).map(|b| b.per_shard),
            Ok(20_000)
        );
    }

    /// Takers on several threads at once (shards handing connections to one owner) get the
    /// cap's places and no more.
    #[test]
    fn takers_at_once_never_pass_the_cap() {
        let m = Arc::new(ShardMetrics::default());
        let cap = 50;
        let got: Vec<Vec<Room>> = std::thread::scope(|s| {
            let takers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).filter_map(|_| Room::take(&m, cap)).collect()))
                .collect();
            takers
                .into_iter()
                .map(|t| t.join().expect("a taker"))
                .collect()
        });
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), cap);
        assert_eq!(open(&m), cap as u64);
        drop(got);
        assert_eq!(open(&m), 0);
    }
}
