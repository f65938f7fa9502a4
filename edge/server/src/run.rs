//! Starting an edge: recovery, executors, mesh, lifecycle.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use glommio::channels::local_channel;
use glommio::{CpuSet, LocalExecutorPoolBuilder, PoolPlacement};

use crate::clock::now_ms;
use crate::config::Config;
use crate::ingest::quic;
use crate::node::Node;
use crate::shard::{self, Msg, Shard, mesh, owner};
use crate::storage::identity::IdentityStore;
use crate::storage::{SpoolShare, spool};
use crate::telemetry::{LakeMetrics, ShardMetrics};
use crate::tenants::{Directory, Tenants};

/// Items handed to each shard once, at start (taken by the shard with its index).
type PerShard<T> = PerShard1<Vec<T>>;
/// One item per shard, taken by the shard with its index.
type PerShard1<T> = Arc<Mutex<Vec<Option<T>>>>;

/// Sets the edge's shutdown flag when dropped before `done`: a shard that fails or panics
/// before it has rebuilt its sessions from the spool stops the edge, since the shipper ships
/// nothing until every shard has.
struct StopUnlessReplayed<'a> {
    shutdown: &'a AtomicBool,
    done: bool,
}

impl Drop for StopUnlessReplayed<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shutdown.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs an edge until SIGTERM/SIGINT; returns after a clean shutdown.
pub fn run(mut cfg: Config) -> Result<()> {
    let nshards = if cfg.edge.shards == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.edge.shards
    };
    // The connection cap is a descriptor budget too: it must leave the spool, the identity
    // store and the lake theirs under the process's open-file limit.
    let nofile = open_file_limit();
    let budget = crate::node::connection_budget(
        nofile,
        nshards,
        cfg.edge.max_connections_per_shard,
        cfg.edge.spool_segment_bytes,
    )?;
    match budget.lowered_from {
        Some(asked) => tracing::warn!(
            asked,
            cap = budget.per_shard,
            shards = nshards,
            open_file_limit = nofile,
            "max_connections_per_shard lowered to fit the open-file limit (RLIMIT_NOFILE) beside the descriptors the edge keeps for its spool, identity store and lake; raise the limit to serve more"
        ),
        None => tracing::info!(
            cap = budget.per_shard,
            shards = nshards,
            open_file_limit = nofile,
            "connection cap per shard"
        ),
    }
    cfg.edge.max_connections_per_shard = budget.per_shard;
    let data = cfg.edge.data_dir.clone();
    // Made with its entries durable: the committer's syncs of the spool go up to `data`.
    sentientiq_lake::make_dir(&data).with_context(|| format!("creating {}", data.display()))?;
    room_to_start(&data)?;
    let identity =
        IdentityStore::open(&data.join("identity")).context("opening the identity store")?;
    for t in &cfg.tenants {
        identity
            .put_accounts(&t.id, &t.accounts)
            .context("loading the account directory")?;
    }

    // Recover every shard directory that exists (the shard count may have changed): cut torn
    // tails and find where each shard's LSNs continue. Nothing is kept but the escalations:
    // each shard reads its records back from disk when it starts (`spool::Replay`), so a
    // restart needs memory for one read buffer, not for the spool.
    let t0 = Instant::now();
    let mut escalations: Vec<crate::alerts::recover::Escalations> =
        (0..nshards).map(|_| Default::default()).collect();
    let recovered = spool::recover_spool(&data.join("spool"), nshards, |o, rec| {
        escalations[o].push(rec)
    })?;
    tracing::info!(
        records = recovered.records(),
        truncated_bytes = recovered.truncated_bytes,
        zero_bytes = recovered.zero_bytes,
        ms = t0.elapsed().as_millis() as u64,
        "spool recovered"
    );
    let spool::RecoveredSpool {
        next_lsn,
        backlog,
        replay,
        ..
    } = recovered;
    let replay = Arc::new(replay);

    // Sessions whose spool records were shipped and deleted: their highest seq, so a late retry
    // is re-acked, never stored twice. Kept for a week.
    let mut floors: Vec<Vec<(String, String, sentientiq_core::Held)>> =
        (0..nshards).map(|_| Vec::new()).collect();
    for (t, s, q) in identity
        .floors(now_ms(), 7 * 24 * 3_600_000)
        .context("reading session floors")?
    {
        floors[owner(&t, &s, nshards)].push((t, s, q));
    }
    let floors: PerShard<(String, String, sentientiq_core::Held)> =
        Arc::new(Mutex::new(floors.into_iter().map(Some).collect()));

    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, shutdown.clone())?;
    }
    // With a control plane, start from the last version it gave (keys revoked before an
    // outage stay revoked), else from the file's tenants until the plane sends a snapshot.
    let control_dir = data.join("control");
    let mut synced = crate::control::Synced::default();
    let mut tenants = Tenants::new(cfg.tenants.clone());
    let control_status = Arc::new(crate::control::Status::default());
    let secrets = match &cfg.alerts.secrets_key {
        Some(k) => Some(Arc::new(
            sentientiq_alerts::secret::SealingKey::parse(k.expose())
                .map_err(|_| anyhow::anyhow!("SIQ_SECRETS_KEY is not a 32-byte key"))?,
        )),
        None => None,
    };
    if cfg.control.endpoint.is_some()
        && let Some(mut s) = crate::control::load_lkg(&control_dir, secrets.as_deref())?
    {
        let (list, bad) =
            crate::control::edge_tenants(&mut s, &std::collections::BTreeMap::new(), &cfg.lake);
        control_status.record_refused(&bad, "last-known-good tenant refused");
        tracing::info!(
            version = s.version,
            tenants = list.len(),
            "starting from the last-known-good config"
        );
        tenants = Tenants::new(list);
        synced = s;
    }
    // Every shard binds its port with SO_REUSEPORT, which another process of the same user may
    // also do: two edges on one port would silently split its traffic. A plain bind first
    // fails if anyone holds the port.
    probe_port(cfg.edge.listen, false)?;
    if cfg.quic.enabled {
        probe_port(cfg.quic.listen_addr(&cfg.edge), true)?;
    }
    let quic = match cfg.quic.enabled {
        true => {
            let q = quic::prepare(&cfg.quic, &cfg.edge).context("preparing QUIC")?;
            tracing::info!(
                listen = %q.listen,
                sha256 = %q.fingerprint,
                file = %data.join("quic/cert.sha256").display(),
                "QUIC certificate (pin this SHA-256 in clients)"
            );
            Some(Arc::new(q))
        }
        false => None,
    };
    let mut dest = crate::ship::Destinations::from_config(&cfg)?;
    // The tenants served may be the last-known-good set, not the file's.
    dest.set_tenants(tenants.live())?;
    tracing::info!(sink = %dest.describe(), "lake");
    let alerts_dir = data.join("alerts");
    let alerts = Arc::new(
        crate::alerts::Handle::new(
            &cfg.edge.id,
            &cfg.edge.region,
            nshards,
            crate::alerts::link_key(&alerts_dir).context("the alerts' link key")?,
            Duration::from_millis(cfg.alerts.intervene_wait_ms),
        )
        .context("starting alert delivery")?,
    );
    let recovered: Vec<crate::alerts::Escalation> =
        escalations.into_iter().flat_map(|e| e.finish()).collect();
    let spool_share = Arc::new(SpoolShare::new(&next_lsn, &backlog));
    let boot_ms = now_ms();
    let node = Arc::new(Node {
        edge: cfg.edge.clone(),
        lake: cfg.lake.clone(),
        tenants: Arc::new(Directory::new(tenants)),
        nshards,
        metrics: (0..nshards)
            .map(|_| Arc::new(ShardMetrics::default()))
            .collect(),
        identity: Arc::new(identity),
        shutdown,
        ready: AtomicUsize::new(0),
        spool: spool_share,
        lake_metrics: Arc::new(LakeMetrics::default()),
        control: control_status,
        reports: cfg
            .control
            .endpoint
            .is_some()
            .then(|| Arc::new(crate::control::Reports::default())),
        priors: Arc::new(crate::control::Priors::default()),
        quotas: Arc::new(crate::control::Quotas::default()),
        boot_ms,
        experiment_seed: cfg.edge.experiment_seed.unwrap_or(boot_ms),
        shards_stopped: Arc::new(AtomicBool::new(false)),
        alerts: Some(alerts.clone()),
    });
    let alerts_thread = crate::alerts::spawn(
        alerts,
        crate::alerts::Ctx {
            tenants: node.tenants.clone(),
            dir: alerts_dir,
            cfg: cfg.alerts.clone(),
            control: cfg.control.clone(),
            base_url: cfg.alerts.base_url(cfg.edge.listen),
            recovered,
            nshards,
            stopped: node.shards_stopped.clone(),
        },
    )
    .context("starting alert delivery")?;
    let control = match &node.reports {
        Some(reports) => {
            let link = crate::control::Link {
                edge_id: node.edge.id.clone(),
                region: node.edge.region.clone(),
                report_id: node.report_edge_id(),
                tenants: node.tenants.clone(),
                identity: node.identity.clone(),
                lake: node.lake.clone(),
                status: node.control.clone(),
                reports: reports.clone(),
                priors: node.priors.clone(),
                quotas: node.quotas.clone(),
                shard_metrics: node.metrics.clone(),
                lake_metrics: node.lake_metrics.clone(),
                spool: node.spool.clone(),
                shards_stopped: node.shards_stopped.clone(),
                secrets: secrets.clone(),
            };
            Some(crate::control::spawn(
                link,
                cfg.control.clone(),
                control_dir,
                synced,
            )?)
        }
        None => None,
    };
    let stop = node.shutdown.clone();
    let shards_stopped = node.shards_stopped.clone();
    let shipper = {
        let node = node.clone();
        std::thread::Builder::new()
            .name("lake-shipper".into())
            .spawn(move || {
                crate::ship::lower_priority();
                let env = crate::ship::Env {
                    edge_id: node.edge.id.clone(),
                    region: node.edge.region.clone(),
                    data_dir: node.edge.data_dir.clone(),
                    poll: Duration::from_millis(node.lake.poll_ms),
                    tenants: node.tenants.clone(),
                    identity: node.identity.clone(),
                    spool: node.spool.clone(),
                    metrics: node.lake_metrics.clone(),
                    shutdown: node.shutdown.clone(),
                };
                crate::ship::Shipper::new(env, dest).run()
            })?
    };
    let next_lsn = Arc::new(next_lsn);
    // Each shard's ends of the mesh, taken once by the shard that claims index i.
    let mesh: PerShard1<mesh::Ends<Msg>> = Arc::new(Mutex::new(
        mesh::full(nshards, 1024).into_iter().map(Some).collect(),
    ));
    // QUIC datagrams that reached another shard's socket go to their connection's owner.
    let dgram_mesh: Option<PerShard1<mesh::Ends<quic::Datagram>>> = quic.as_ref().map(|_| {
        Arc::new(Mutex::new(
            mesh::full(nshards, quic::FORWARD_QUEUE)
                .into_iter()
                .map(Some)
                .collect(),
        ))
    });
    let next_index = Arc::new(AtomicUsize::new(0));
    let placement = PoolPlacement::MaxSpread(nshards, shard_cpus());
    let mut pool = LocalExecutorPoolBuilder::new(placement)
        .io_memory(cfg.edge.io_memory_bytes)
        .ring_depth(cfg.edge.ring_depth);
    match shard::gather::sleeps(&cfg.edge, glommio::sleep_policy_supported())
        .map_err(anyhow::Error::msg)?
    {
        shard::gather::Sleeps::Gather { window_us, want } => {
            tracing::info!(
                window_us,
                want,
                "busy shards' sleeps gather completions (io_uring min-wait)"
            );
            pool = pool.sleep_policy(Box::new(move || {
                Box::new(shard::gather::Gather::new(window_us, want))
            }));
        }
        shard::gather::Sleeps::NoMinWait => tracing::warn!(
            "this kernel's io_uring has no min-wait (Linux 6.12): shards wake on every completion"
        ),
        shard::gather::Sleeps::Off => {}
    }
    let handles = pool
        .on_all_shards(move || {
            let (node, mesh, replay, next_lsn, floors) = (
                node.clone(),
                mesh.clone(),
                replay.clone(),
                next_lsn.clone(),
                floors.clone(),
            );
            let quic = quic.clone().zip(dgram_mesh.clone());
            let id = next_index.fetch_add(1, Ordering::AcqRel);
            async move {
                if let Err(e) =
                    shard_main(id, node.clone(), mesh, replay, next_lsn, floors, quic).await
                {
                    tracing::error!(error = %e, "shard failed");
                    node.shutdown.store(true, Ordering::Relaxed);
                    return Err(e.to_string());
                }
                Ok(())
            }
        })
        .map_err(|e| anyhow::anyhow!("starting executors: {e}"))?;
    let mut failed = None;
    for r in handles.join_all() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(e) => failed = Some(e.to_string()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    shards_stopped.store(true, Ordering::Release);
    if let Some(c) = control
        && c.join().is_err()
    {
        tracing::error!("the control-plane thread panicked");
    }
    if shipper.join().is_err() {
        tracing::error!("the lake shipper panicked");
    }
    if alerts_thread.join().is_err() {
        tracing::error!("the alerts thread panicked");
    }
    match failed {
        Some(e) => Err(anyhow::anyhow!("a shard failed: {e}")),
        None => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
    }
}

/// How long a stopping shard waits for its spool writer to write what it holds and seal its
/// segment. A writer not done by then (retrying a failed write on a full or failing disk, or a
/// disk that slow) is cancelled: what it held was never acked (acks follow a write that
/// succeeded), and the next start's recovery reads its segment as it is.
const SPOOL_STOP_WAIT: Duration = Duration::from_secs(2);

/// Bytes an edge must be able to write in its data directory to start: a spool segment's first
/// records and the identity store's log and manifest (RocksDB writes a few MiB when it opens).
pub const START_ROOM_BYTES: usize = 8 << 20;

/// Refuses to start on a disk too full to write what starting needs: an edge that came up on
/// such a disk could accept nothing (every frame must be spooled before it is acked) and would
/// fail in RocksDB with a less clear error. Written, synced and removed: the probe proves the
/// space is writable, not just reported free.
fn room_to_start(data: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let probe = data.join(".start-room");
    let r = (|| {
        let mut f = std::fs::File::create(&probe)?;
        f.write_all(&vec![0u8; START_ROOM_BYTES])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    r.with_context(|| {
        format!(
            "{} has no room to start (writing {} MiB failed): free space on its disk and start again; nothing was lost (what was acknowledged is in the spool)",
            data.display(),
            START_ROOM_BYTES >> 20
        )
    })
}

/// The process's open-file limit (`RLIMIT_NOFILE`), its soft limit first raised to its hard
/// limit. The soft limit is often 1 024, kept low for programs that use select(2), which the
/// edge does not; servers raise it the same way (Go's runtime does at start). Unknown (the
/// call failed) counts as no limit.
fn open_file_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: getrlimit(2) and setrlimit(2) read and write only the struct passed, which
    // lives here.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return u64::MAX;
        }
        if r.rlim_cur < r.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
    }
    r.rlim_cur
}

/// Fails when `addr` is already bound (TCP listener, or UDP socket).
fn probe_port(addr: std::net::SocketAddr, udp: bool) -> Result<()> {
    let r = match udp {
        true => std::net::UdpSocket::bind(addr).map(drop),
        false => std::net::TcpListener::bind(addr).map(drop),
    };
    r.with_context(|| {
        format!(
            "{} {addr} is in use (another edge on the same port?)",
            if udp { "UDP" } else { "TCP" }
        )
    })
}

async fn shard_main(
    id: usize,
    node: Arc<Node>,
    mesh: PerShard1<mesh::Ends<Msg>>,
    replay: Arc<spool::Replay>,
    next_lsn: Arc<Vec<u64>>,
    floors: PerShard<(String, String, sentientiq_core::Held)>,
    quic: Option<(Arc<quic::Shared>, PerShard1<mesh::Ends<quic::Datagram>>)>,
) -> Result<()> {
    let ends = mesh
        .lock()
        .ok()
        .and_then(|mut v| v.get_mut(id).and_then(Option::take))
        .ok_or_else(|| anyhow::anyhow!("shard {id} has no mesh ends"))?;
    let mesh::Connected { senders, receivers } = ends.connect().await;
    let shard = Rc::new(RefCell::new(Shard::new(id, node.clone(), next_lsn[id])));
    // This thread's sleep policy counts the frames its shard handles.
    shard::gather::watch(shard.borrow().metrics().clone());
    // The spool is read back from disk, one buffer at a time; the shipper deletes no segment
    // until every shard has. A shard that unwinds before then stops the edge (the guard): the
    // shipper would otherwise wait for it while the spool fills.
    let mut stop = StopUnlessReplayed {
        shutdown: &node.shutdown,
        done: false,
    };
    let replayed = shard
        .borrow_mut()
        .replay(&replay)
        .with_context(|| format!("shard {id}: rebuilding sessions from the spool"))?;
    node.spool.replayed();
    stop.done = true;
    let my_floors = floors
        .lock()
        .ok()
        .and_then(|mut v| v.get_mut(id).and_then(Option::take))
        .unwrap_or_default();
    shard.borrow_mut().seed_floors(my_floors);
    if replayed > 0 {
        tracing::info!(
            shard = id,
            frames = replayed,
            "sessions rebuilt from the spool"
        );
    }
    let outboxes = senders
        .into_iter()
        .enumerate()
        .map(|(p, tx)| tx.map(|tx| mesh::outbox_for(p, tx)))
        .collect();
    shard.borrow_mut().set_outboxes(outboxes);
    for rx in receivers.into_iter().flatten() {
        let sh = shard.clone();
        glommio::spawn_local(async move {
            while let Some(m) = rx.recv().await {
                let conns = sh.borrow_mut().on_msg(m);
                for h in conns {
                    glommio::spawn_local(crate::ingest::ws::adopt(sh.clone(), Box::new(h)))
                        .detach();
                }
            }
        })
        .detach();
    }
    // Profiles read from the identity store come back here (bounded: a full queue drops the
    // cache update, never blocks the shard).
    let (loaded_tx, loaded_rx) = local_channel::new_bounded::<shard::Loaded>(4096);
    shard.borrow_mut().set_loaded_sender(loaded_tx);
    {
        let sh = shard.clone();
        glommio::spawn_local(async move {
            while let Some(l) = loaded_rx.recv().await {
                sh.borrow_mut().on_profile(l);
            }
        })
        .detach();
    }
    let (bell_tx, bell_rx) = local_channel::new_bounded::<()>(1);
    shard.borrow_mut().set_spool_bell(bell_tx);
    let committer = glommio::spawn_local(shard::committer::committer(
        shard.clone(),
        spool::shard_dir(&node.edge.data_dir, id),
        bell_rx,
        Duration::from_millis(node.edge.commit_interval_ms),
        node.edge.spool_segment_bytes,
    ));
    let listener = crate::ingest::listener::bind(node.edge.listen, node.edge.backlog)
        .with_context(|| format!("binding {}", node.edge.listen))?;
    if id == 0 {
        tracing::info!(listen = %node.edge.listen, shards = node.nshards, edge = %node.edge.id, region = %node.edge.region, "edge listening");
    }
    let accept = glommio::spawn_local(crate::ingest::listener::accept_loop(
        shard.clone(),
        listener,
    ));
    let quic = match quic {
        Some((shared, ends)) => {
            let ends = ends
                .lock()
                .ok()
                .and_then(|mut v| v.get_mut(id).and_then(Option::take))
                .ok_or_else(|| anyhow::anyhow!("shard {id} has no QUIC mesh ends"))?;
            let mesh::Connected { senders, receivers } = ends.connect().await;
            let q = quic::start(
                id,
                &shared,
                shard.clone(),
                node.clone(),
                senders,
                receivers.into_iter().flatten().collect(),
            )
            .with_context(|| format!("binding QUIC on {}", shared.listen))?;
            if id == 0 {
                tracing::info!(listen = %shared.listen, alpn = "siq/1", "QUIC listening");
            }
            Some(q)
        }
        None => None,
    };
    node.ready.fetch_add(1, Ordering::AcqRel);

    let mut last_evict = Instant::now();
    let mut last_publish = Instant::now();
    while !node.shutdown.load(Ordering::Relaxed) {
        glommio::timer::sleep(Duration::from_millis(50)).await;
        shard.borrow_mut().alert_work();
        if last_publish.elapsed() >= Duration::from_secs(1) {
            last_publish = Instant::now();
            shard.borrow_mut().publish_aggregates();
        }
        // Often enough that a session leaves memory within 1.5 × its idle limit.
        let every = Duration::from_millis((node.edge.session_idle_ms / 2).clamp(50, 10_000));
        if last_evict.elapsed() > every {
            last_evict = Instant::now();
            shard
                .borrow_mut()
                .evict_idle(now_ms(), node.edge.session_idle_ms);
        }
    }
    // Shutdown: stop accepting, flush and fsync what was accepted, close sessions with 1001.
    node.ready.fetch_sub(1, Ordering::AcqRel);
    let _ = accept.cancel().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while (shard.borrow().has_pending() || node.identity.in_flight() > 0)
        && Instant::now() < deadline
    {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    shard.borrow_mut().close_all(1001, "edge shutting down");
    if let Some(q) = &quic {
        // Let the sessions' closes reach their streams, then close the connections.
        glommio::yield_if_needed().await;
        q.borrow_mut().close_all();
    }
    shard.borrow_mut().publish_aggregates();
    // The spool writer seals its segment, giving back the space reserved past its records
    // (a restart finds nothing to cut), and stops; a disk failing now leaves that to recovery.
    shard.borrow_mut().stop_spool();
    let sealed = futures_lite::future::or(
        async {
            committer.await;
            true
        },
        async {
            glommio::timer::sleep(SPOOL_STOP_WAIT).await;
            false
        },
    )
    .await;
    if !sealed {
        tracing::warn!(
            shard = id,
            wait_ms = SPOOL_STOP_WAIT.as_millis() as u64,
            "spool writer cancelled at the stop before it finished (a failing or slow disk): what it held was never acked; the next start's recovery reads its segment as it is"
        );
    }
    glommio::timer::sleep(Duration::from_millis(200)).await;
    Ok(())
}

/// The CPUs shards are spread over: the online ones this process may run on. Without the
/// affinity filter every edge on a host would pin its shards from CPU 0 up, whatever `taskset`
/// or a cgroup's cpuset said, so several edges on one machine shared the first cores.
fn shard_cpus() -> Option<CpuSet> {
    let online = CpuSet::online().ok()?;
    let Some(allowed) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(allowed_cpus)
    else {
        return Some(online);
    };
    let set = online.clone().filter(|l| allowed.contains(&l.cpu));
    Some(if set.is_empty() { online } else { set })
}

/// `Cpus_allowed_list:` of a `/proc/<pid>/status` text (e.g. `0-3,8,10-11`) as CPU numbers.
fn allowed_cpus(status: &str) -> Option<Vec<usize>> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::allowed_cpus;

    #[test]
    fn the_allowed_cpu_list_is_read_from_proc_status() {
        let st = |l: &str| {
            format!("Name:\tx\nCpus_allowed:\tf\nCpus_allowed_list:\t{l}\nMems_allowed:\t1\n")
        };
        assert_eq!(allowed_cpus(&st("0-1")), Some(vec![0, 1]));
        assert_eq!(allowed_cpus(&st("1")), Some(vec![1]));
        assert_eq!(allowed_cpus(&st("0-2,5,7-8")), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(allowed_cpus(&st("")), None);
        assert_eq!(allowed_cpus(&st("3-1")), None);
        assert_eq!(allowed_cpus(&st("x")), None);
        assert_eq!(allowed_cpus("Name:\tx\n"), None);
    }
}
