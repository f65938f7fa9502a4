//! The driver: N sessions over WebSocket, QUIC or both on one thread (tokio, current-thread),
//! open-loop.
//!
//! Every frame has an intended send time (session start + the end of its flush window); it is
//! sent then, whatever happened before, and every latency is measured from that intended time,
//! so a stalled edge shows as latency instead of silently slowing the load (coordinated
//! omission). Unacknowledged frames are kept and re-sent after an `err` with a retry hint or
//! after a reconnect, as the SDK does; the edge's dedup makes re-sends harmless.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use sentientiq_proto::{
    ClientFrame, EdgeFrame, Hello, Limits, Seq, Sid, WriteKey, client_to_vec, decode_edge,
};
use tokio::time::Instant;

use crate::synth::{Mix, Planned, SessionGen};
use crate::truth::Score;
use crate::uplift::{Responder, Tally, Uplift};

#[derive(Debug, Clone)]
pub struct Opts {
    /// `ws://host:port/v1/ws` URLs; sessions are spread over them round-robin.
    pub edges: Vec<String>,
    pub sessions: usize,
    pub duration: Duration,
    pub ramp: Duration,
    pub seed: u64,
    pub mix: Mix,
    pub key: String,
    /// Share of sessions that identify (`id` frame) as a user of a known account.
    pub identified: f64,
    /// Email domains of accounts the edge knows (the first is used for high-value users).
    pub account_domains: Vec<String>,
    /// The tenant's contextual labels as (label, emotion): a `det` carries the label instead
    /// of the emotion when the tenant maps (emotion, section) to one.
    pub labels: Vec<(String, String)>,
    /// How long to wait for outstanding acks at the end.
    pub drain: Duration,
    pub progress: bool,
    /// Source addresses: session i connects from 127.0.0.(1 + i mod n), so that more than
    /// one ephemeral port range of connections can reach one edge (1 = the OS's choice).
    pub source_ips: u8,
    pub transport: Transport,
    /// Needed when `transport` is not `Ws`.
    pub quic: Option<QuicOpts>,
}

impl Opts {
    /// `sessions` sessions of `duration` over WebSocket to `edge` with the write key `key`:
    /// the default mix, no identified users or labels, no ramp, a 10 s drain, quiet. Change
    /// the rest with struct update syntax.
    pub fn ws(edge: String, key: &str, sessions: usize, duration: Duration, seed: u64) -> Opts {
        Opts {
            edges: vec![edge],
            sessions,
            duration,
            ramp: Duration::ZERO,
            seed,
            mix: Mix::default(),
            key: key.into(),
            identified: 0.0,
            account_domains: Vec::new(),
            labels: Vec::new(),
            drain: Duration::from_secs(10),
            progress: false,
            source_ips: 1,
            transport: Transport::Ws,
            quic: None,
        }
    }
}

/// Which transport sessions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ws,
    Quic,
    /// Even sessions over WebSocket, odd over QUIC: both measured in the same run.
    Mixed,
}

impl Transport {
    pub fn parse(s: &str) -> Result<Transport, String> {
        match s {
            "ws" => Ok(Transport::Ws),
            "quic" => Ok(Transport::Quic),
            "mixed" => Ok(Transport::Mixed),
            _ => Err(format!("--transport `{s}`: use ws, quic or mixed")),
        }
    }

    /// The transport of session `i`.
    pub fn of(self, i: usize) -> Kind {
        match self {
            Transport::Ws => Kind::Ws,
            Transport::Quic => Kind::Quic,
            Transport::Mixed if i.is_multiple_of(2) => Kind::Ws,
            Transport::Mixed => Kind::Quic,
        }
    }
}

/// One session's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Ws,
    Quic,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ws => "ws",
            Kind::Quic => "quic",
        }
    }
}

/// QUIC settings: where each edge listens, the certificate pin, how sessions share connections.
#[derive(Debug, Clone)]
pub struct QuicOpts {
    /// One per `edges` entry, same order.
    pub addrs: Vec<std::net::SocketAddr>,
    /// SHA-256 of the edges' certificates (hex), any of which is accepted.
    pub pins: Vec<String>,
    /// Sessions multiplexed on one connection (1: one connection per session, as a browser-like
    /// client; more: as a server-side SDK).
    pub sessions_per_connection: usize,
    /// Client UDP sockets the connections are spread over (each its own 4-tuple, so the edge's
    /// kernel spreads them over its shards).
    pub sockets: usize,
    /// Threads that drive the sockets and connections (the sockets spread over them); 0: the
    /// sessions' own thread.
    pub io_threads: usize,
}

/// Per-transport counts, for comparing transports within one run.
#[derive(Debug)]
pub struct PerTransport {
    pub sessions_connected: u64,
    pub frames_sent: u64,
    pub samples_sent: u64,
    pub acked: u64,
    pub reconnects: u64,
    pub connect: Histogram<u64>,
    pub ack: Histogram<u64>,
}

impl Default for PerTransport {
    fn default() -> Self {
        PerTransport {
            sessions_connected: 0,
            frames_sent: 0,
            samples_sent: 0,
            acked: 0,
            reconnects: 0,
            connect: hist(),
            ack: hist(),
        }
    }
}

/// Latency histograms in µs.
#[derive(Debug)]
pub struct Hists {
    pub connect: Histogram<u64>,
    pub ack: Histogram<u64>,
    pub detection: Histogram<u64>,
    pub intervention: Histogram<u64>,
    /// The loadgen's own lateness: how late a frame's bytes reached its socket after the
    /// frame's intended send time, for first sends that succeeded (re-sends are not counted).
    /// The ack and detection latencies above count from that intended time, so a loadgen that
    /// falls behind shows up in them too; this tells the two apart.
    pub send_lag: Histogram<u64>,
    /// How late the sessions' thread ran a timer that asked for it every [`LAG_TICK`]: a stall
    /// of the loadgen's own loop (busy, or not given a CPU) delays every frame and ack it holds.
    pub loop_lag: Histogram<u64>,
}

/// The loop-lag probe's period ([`Hists::loop_lag`]); tokio's timer has 1 ms resolution, so
/// lags under about 1 ms are the timer's, not the loop's.
pub const LAG_TICK: Duration = Duration::from_millis(5);

pub(crate) fn hist() -> Histogram<u64> {
    // 1 µs .. 10 min at 3 significant digits; values beyond are clamped.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant, valid bounds")
}

#[derive(Debug)]
pub struct Stats {
    pub sessions_started: u64,
    pub sessions_connected: u64,
    pub sessions_active: u64,
    pub frames_sent: u64,
    pub resent: u64,
    pub samples_sent: u64,
    pub acked: u64,
    pub unacked_at_end: u64,
    pub reconnects: u64,
    pub connect_failures: u64,
    pub errors: BTreeMap<String, u64>,
    pub detections: BTreeMap<String, u64>,
    pub interventions: u64,
    pub hists: Hists,
    pub score: Score,
    pub by_persona: BTreeMap<&'static str, u64>,
    pub by_transport: BTreeMap<&'static str, PerTransport>,
    /// First sends of the frames [`run_watching`] was asked to watch.
    pub watched: Vec<WatchedSend>,
    /// The experiment truth of a run with `--uplift` ([`run_with`]).
    pub uplift: Option<Tally>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sessions_started: 0,
            sessions_connected: 0,
            sessions_active: 0,
            frames_sent: 0,
            resent: 0,
            samples_sent: 0,
            acked: 0,
            unacked_at_end: 0,
            reconnects: 0,
            connect_failures: 0,
            errors: BTreeMap::new(),
            detections: BTreeMap::new(),
            interventions: 0,
            hists: Hists {
                connect: hist(),
                ack: hist(),
                detection: hist(),
                intervention: hist(),
                send_lag: hist(),
                loop_lag: hist(),
            },
            score: Score::default(),
            by_persona: BTreeMap::new(),
            by_transport: BTreeMap::new(),
            watched: Vec::new(),
            uplift: None,
        }
    }
}

pub(crate) fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, 600_000_000);
    let _ = h.record(us);
}

/// Splits `ws://host:port/path`.
pub fn parse_ws_url(u: &str) -> Result<(String, String), String> {
    let rest = u.strip_prefix("ws://").ok_or_else(|| {
        format!(
            "edge URL `{}` must start with ws://",
            sentientiq_url::shown(u)
        )
    })?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/v1/ws"),
    };
    if !host.contains(':') {
        return Err(format!(
            "edge URL `{}` needs a port",
            sentientiq_url::shown(u)
        ));
    }
    Ok((host.to_string(), path.to_string()))
}

/// The sessions' ids: seeded, so a rerun with the same seed sends the same sessions.
pub fn sid_of(seed: u64, i: usize) -> String {
    format!("s_lg{seed:08x}_{i:08}")
}

/// Whether session `i` identifies, and as whom: `(uid, email)` of a user of one of `domains`,
/// drawn from the seed (a share `identified` of the sessions). The alert sink's expectations
/// ([`crate::alerts::expect`]) call the same function, so they name the same users.
pub fn identity_of(
    seed: u64,
    i: usize,
    identified: f64,
    domains: &[String],
) -> Option<(String, String)> {
    let mut rng = crate::rng::Rng::stream(seed ^ 0x1d, i as u64);
    (rng.chance(identified) && !domains.is_empty()).then(|| {
        let d = rng.pick(domains).clone();
        (format!("u_lg_{i}"), format!("user{i}@{d}"))
    })
}

/// The frames whose send time the alert sink needs: per session, the seqs of the frames that
/// complete an escalation's evidence ([`crate::alerts::expect::Plan::watch`]).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    seqs: Vec<Vec<u64>>,
}

impl Watch {
    pub fn new(seqs: Vec<Vec<u64>>) -> Watch {
        Watch { seqs }
    }

    /// Session `i`'s watched seqs.
    pub fn of(&self, i: usize) -> &[u64] {
        self.seqs.get(i).map_or(&[], Vec::as_slice)
    }
}

/// When a watched frame was first sent: session, seq, the moment its bytes were handed to the
/// connection, and its intended send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedSend {
    pub session: usize,
    pub seq: u64,
    pub sent: Instant,
    pub intended: Instant,
}

type Ws = async_tungstenite::WebSocketStream<
    async_tungstenite::tokio::TokioAdapter<tokio::net::TcpStream>,
>;

/// Runs the whole load; returns the stats when every session has finished.
pub async fn run(opts: Opts, stats: Rc<RefCell<Stats>>) -> Result<(), String> {
    run_watching(opts, stats, Watch::default()).await
}

/// [`run`], also recording in [`Stats::watched`] when each frame `watch` names was first sent.
pub async fn run_watching(
    opts: Opts,
    stats: Rc<RefCell<Stats>>,
    watch: Watch,
) -> Result<(), String> {
    run_with(opts, stats, watch, None).await
}

/// [`run_watching`], with sessions answering interventions as `uplift` says (see
/// [`crate::uplift`]); their outcomes go to [`Stats::uplift`].
pub async fn run_with(
    opts: Opts,
    stats: Rc<RefCell<Stats>>,
    watch: Watch,
    uplift: Option<Uplift>,
) -> Result<(), String> {
    if let Some(u) = &uplift {
        stats.borrow_mut().uplift = Some(Tally::new(u.clone()));
    }
    let uplift = uplift.map(Rc::new);
    let t0 = Instant::now();
    let n = opts.sessions;
    let pool = match (&opts.quic, opts.transport) {
        (_, Transport::Ws) => None,
        (Some(q), _) => Some(Rc::new(QuicPool::new(q)?)),
        (None, _) => return Err("QUIC sessions need QUIC settings (edge addresses, pin)".into()),
    };
    let opts = Rc::new(opts);
    let watch = Rc::new(watch);
    let probe = spawn_lag_probe(stats.clone());
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let start = t0 + opts.ramp.mul_f64(i as f64 / n.max(1) as f64);
        let (opts, stats, pool, watch) = (opts.clone(), stats.clone(), pool.clone(), watch.clone());
        let uplift = uplift.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let (pool, uplift) = (pool.as_deref(), uplift.as_deref());
            session(i, start, &opts, &stats, pool, watch.of(i), uplift).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    probe.abort();
    if let Some(p) = pool {
        p.close().await;
    }
    Ok(())
}

/// Starts the loop-lag probe ([`Hists::loop_lag`]) on the current `LocalSet`; abort it when
/// the run is over.
fn spawn_lag_probe(stats: Rc<RefCell<Stats>>) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_local(async move {
        let mut due = Instant::now() + LAG_TICK;
        loop {
            tokio::time::sleep_until(due).await;
            let now = Instant::now();
            record(
                &mut stats.borrow_mut().hists.loop_lag,
                now.saturating_duration_since(due),
            );
            // After a stall the next tick is one period on, not a burst of missed ticks.
            due = (due + LAG_TICK).max(now + Duration::from_micros(1));
        }
    })
}

/// One connection group's connection, opened by the first session that needs it.
type Slot = tokio::sync::Mutex<Option<Rc<sentientiq_client::Connection>>>;

/// QUIC connections shared by sessions: session `i` of edge `e` uses connection group
/// `i / sessions_per_connection`, opened on client socket `group % sockets`.
struct QuicPool {
    opts: QuicOpts,
    clients: Vec<sentientiq_client::Client>,
    groups: RefCell<std::collections::HashMap<usize, Rc<Slot>>>,
    /// Declared last: stopped once the clients are gone.
    _io: IoThreads,
}

/// Threads, each a current-thread tokio runtime, that drive the QUIC clients' sockets and
/// connections ([`QuicOpts::io_threads`]). With 10 000 connections on the sessions' one thread,
/// that thread fell behind reading its sockets (165 MB queued in them at the end of a run,
/// ack p50 10.8 s: `bench/runs/2026-12-02-vm/quic-10k-tail/`).
struct IoThreads {
    handles: Vec<tokio::runtime::Handle>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl IoThreads {
    fn start(n: usize) -> Result<IoThreads, String> {
        let mut io = IoThreads {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("QUIC I/O runtime: {e}"))?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            io.handles.push(rt.handle().clone());
            io.stops.push(stop);
            io.threads.push(
                std::thread::Builder::new()
                    .name(format!("quic-io-{i}"))
                    .spawn(move || {
                        rt.block_on(async {
                            let _ = stopped.await;
                        });
                    })
                    .map_err(|e| format!("QUIC I/O thread: {e}"))?,
            );
        }
        Ok(io)
    }
}

impl Drop for IoThreads {
    fn drop(&mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl QuicPool {
    fn new(q: &QuicOpts) -> Result<QuicPool, String> {
        let io = IoThreads::start(q.io_threads)?;
        let mut clients = Vec::new();
        for s in 0..q.sockets.max(1) {
            let socket = client_socket().map_err(|e| format!("QUIC client socket: {e}"))?;
            let trust = sentientiq_client::Trust::Pins(q.pins.clone());
            let client = match io.handles.get(s % io.handles.len().max(1)) {
                Some(h) => sentientiq_client::Client::with_socket_on(socket, trust, h.clone()),
                None => sentientiq_client::Client::with_socket(socket, trust),
            };
            clients.push(client.map_err(|e| format!("QUIC client: {e}"))?);
        }
        Ok(QuicPool {
            opts: q.clone(),
            clients,
            groups: RefCell::new(std::collections::HashMap::new()),
            _io: io,
        })
    }

    /// The session's connection: the group's, opened (again) if it has none or it closed.
    async fn conn(
        &self,
        i: usize,
        edge: usize,
    ) -> Result<Rc<sentientiq_client::Connection>, String> {
        let g = i / self.opts.sessions_per_connection.max(1);
        let slot = self.groups.borrow_mut().entry(g).or_default().clone();
        let mut held = slot.lock().await;
        if let Some(c) = held.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let client = &self.clients[g % self.clients.len()];
        let addr = self.opts.addrs[edge % self.opts.addrs.len()];
        let c = Rc::new(
            client
                .connect(addr, "localhost")
                .await
                .map_err(|e| format!("quic connect: {e}"))?,
        );
        *held = Some(c.clone());
        Ok(c)
    }

    async fn close(&self) {
        for slot in self.groups.borrow().values() {
            if let Ok(g) = slot.try_lock()
                && let Some(c) = g.as_ref()
            {
                c.close(sentientiq_client::code::NORMAL, "done");
            }
        }
        // One 2 s deadline for all of them, not 2 s each: with the 64 sockets of a 10k run
        // whose connections still held data, waiting in turn took over 100 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        for c in &self.clients {
            let _ = tokio::time::timeout_at(deadline, c.wait_idle()).await;
        }
    }
}

/// A client UDP socket with room for bursts: at the default 208 KiB receive buffer, 10k QUIC
/// sessions over 64 sockets overflowed it (16 594 datagrams dropped in one run, each a
/// retransmission later: the tail showed in ack latency while the edge's own stayed ≤ 10 ms).
fn client_socket() -> std::io::Result<std::net::UdpSocket> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    // Capped by net.core.rmem_max / wmem_max; a smaller buffer is not an error.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&std::net::SocketAddr::from(([0, 0, 0, 0], 0)).into())?;
    Ok(s.into())
}

/// A session's link to its edge.
enum Link {
    Ws(Box<Ws>),
    Quic(sentientiq_client::Session),
}

impl Link {
    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        match self {
            Link::Ws(ws) => ws
                .send(Message::Binary(bytes.into()))
                .await
                .map_err(|e| e.to_string()),
            Link::Quic(s) => s.send_frame(&bytes).await.map_err(|e| e.to_string()),
        }
    }

    /// The next edge frame, decoded where it was received; `None` when the link is gone.
    /// Cancel-safe.
    async fn next(&mut self) -> Option<Result<EdgeFrame, sentientiq_proto::DecodeError>> {
        match self {
            Link::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => return Some(decode_edge(&b, &Limits::DEFAULT)),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => {}
                }
            },
            Link::Quic(s) => match s.recv().await {
                Ok(f) => f.map(Ok),
                Err(sentientiq_client::Error::Decode(e)) => Some(Err(e)),
                Err(_) => None,
            },
        }
    }

    async fn close(self) {
        match self {
            Link::Ws(mut ws) => {
                let _ = ws.close(None).await;
            }
            Link::Quic(mut s) => s.finish(),
        }
    }
}

struct Sent {
    seq: u64,
    intended: Instant,
    frame: ClientFrame,
}

/// The loopback source address of session `i` when spreading over `n` addresses.
pub fn source_ip(i: usize, n: u8) -> Option<std::net::Ipv4Addr> {
    (n > 1).then(|| std::net::Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(n)) as u8))
}

async fn tcp(
    host: &str,
    from: Option<std::net::Ipv4Addr>,
) -> std::io::Result<tokio::net::TcpStream> {
    let Some(ip) = from else {
        return tokio::net::TcpStream::connect(host).await;
    };
    let to = tokio::net::lookup_host(host)
        .await?
        .find(std::net::SocketAddr::is_ipv4)
        .ok_or_else(|| std::io::Error::other(format!("{host}: no IPv4 address")))?;
    source_socket(ip)?.connect(to).await
}

/// A TCP socket bound to source address `ip`, its port left for `connect` to choose
/// (`IP_BIND_ADDRESS_NO_PORT`, `ip(7)`).
///
/// A plain `bind(ip, 0)` picks the port at bind time, before the destination is known, so each
/// port it hands out is taken on that address whatever the destination. Left to `connect`, the
/// port is chosen for the whole 4-tuple, as `connect` does without a bind: each address has
/// the whole range for the edge's port. Why it matters past 14 000 connections from one
/// address: `bench/runs/2026-12-03-vm/README.md`, "Thirteenth session".
fn source_socket(ip: std::net::Ipv4Addr) -> std::io::Result<tokio::net::TcpSocket> {
    use std::os::fd::AsRawFd;
    let sock = tokio::net::TcpSocket::new_v4()?;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket descriptor this function owns, and a pointer to a `c_int` that
    // outlives the call, with its size; the kernel only reads it.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const one).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    sock.bind((ip, 0).into())?;
    Ok(sock)
}

/// Opens the session over its transport and waits for `welcome`.
async fn connect(
    i: usize,
    opts: &Opts,
    pool: Option<&QuicPool>,
    hello: &Hello,
) -> Result<(Link, sentientiq_proto::Welcome), String> {
    let edge = i % opts.edges.len();
    match (opts.transport.of(i), pool) {
        (Kind::Quic, Some(p)) => {
            let c = p.conn(i, edge).await?;
            let (s, w) = c.open_session(hello).await.map_err(|e| match e {
                sentientiq_client::Error::Refused(e) => format!("refused: {}", e.code.as_str()),
                e => e.to_string(),
            })?;
            Ok((Link::Quic(s), w))
        }
        (Kind::Quic, None) => Err("no QUIC settings".into()),
        (Kind::Ws, _) => {
            let url = &opts.edges[edge];
            let (host, _) = parse_ws_url(url)?;
            let (ws, w) = connect_ws(url, &host, source_ip(i, opts.source_ips), hello).await?;
            Ok((Link::Ws(Box::new(ws)), w))
        }
    }
}

async fn connect_ws(
    url: &str,
    host: &str,
    from: Option<std::net::Ipv4Addr>,
    hello: &Hello,
) -> Result<(Ws, sentientiq_proto::Welcome), String> {
    let stream = tcp(host, from).await.map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    // tungstenite's default read buffer is 128 KiB, zeroed on every read: at 10k sessions that
    // memset was 28 % of the loadgen's CPU (perf). Edge frames are small; 4 KiB as the edge's.
    let cfg = async_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = async_tungstenite::tokio::client_async_with_config(url, stream, Some(cfg))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    ws.send(Message::Binary(
        client_to_vec(&ClientFrame::Hello(hello.clone())).into(),
    ))
    .await
    .map_err(|e| format!("hello: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| "no welcome within 10 s".to_string())?;
        match m {
            Some(Ok(Message::Binary(b))) => match decode_edge(&b, &Limits::DEFAULT) {
                Ok(EdgeFrame::Welcome(w)) => return Ok((ws, w)),
                Ok(EdgeFrame::Err(e)) => return Err(format!("refused: {}", e.code.as_str())),
                Ok(_) => {}
                Err(e) => return Err(format!("undecodable frame: {e}")),
            },
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("closed".into()),
        }
    }
}

async fn session(
    i: usize,
    start: Instant,
    opts: &Opts,
    stats: &RefCell<Stats>,
    pool: Option<&QuicPool>,
    watch: &[u64],
    uplift: Option<&Uplift>,
) {
    tokio::time::sleep_until(start).await;
    let persona = opts.mix.persona_of(i);
    let kind = opts.transport.of(i).name();
    let sid = sid_of(opts.seed, i);
    let (Ok(key), Ok(sid_v)) = (WriteKey::parse(&opts.key), Sid::parse(&sid)) else {
        stats.borrow_mut().connect_failures += 1;
        return;
    };
    {
        let mut s = stats.borrow_mut();
        s.sessions_started += 1;
        *s.by_persona.entry(persona.name()).or_default() += 1;
    }
    let identify = identity_of(opts.seed, i, opts.identified, &opts.account_domains);
    let mut hello = Hello {
        key,
        sid: sid_v,
        aid: None,
        url: "https://shop.example/".into(),
        referrer: None,
        title: Some("Shop".into()),
        vw: 1440,
        vh: 900,
        dpr: Some(1.0),
        tz: Some(0),
        ptr: Some("mouse".into()),
        sdk: concat!("sentientiq-loadgen/", env!("CARGO_PKG_VERSION")).into(),
        ack: None,
        dnt: None,
        uid: None,
    };
    // The SDK's default flush interval until the welcome gives the tenant's; the session's
    // viewport goes in its hello.
    let duration_us = opts.duration.as_micros() as i64;
    let mut script = SessionGen::new(opts.seed, i as u64, persona, duration_us, 250, identify);
    hello.vw = script.vw;
    hello.vh = script.vh;
    let (mut link, welcome) = match connect(i, opts, pool, &hello).await {
        Ok(x) => x,
        Err(e) => {
            let mut s = stats.borrow_mut();
            s.connect_failures += 1;
            *s.errors.entry(format!("connect: {e}")).or_default() += 1;
            return;
        }
    };
    {
        let mut s = stats.borrow_mut();
        s.sessions_connected += 1;
        s.sessions_active += 1;
        record(&mut s.hists.connect, start.elapsed());
        let t = s.by_transport.entry(kind).or_default();
        t.sessions_connected += 1;
        record(&mut t.connect, start.elapsed());
    }
    // Batch as the edge says (the tenant's flush_ms and max_batch), as the SDK does.
    script.follow(welcome.flush_ms, welcome.max_batch);
    // Intended send time of every frame by seq (index seq − 1), for latencies.
    let mut intended: Vec<Instant> = Vec::new();
    let mut unacked: VecDeque<Sent> = VecDeque::new();
    let mut acked_seq = 0u64;
    let mut dets: Vec<(String, u64)> = Vec::new();
    let mut last_det_at: Option<u64> = None;
    let mut next = script.next_frame();
    let mut drain_deadline: Option<Instant> = None;
    let mut resend_at: Option<Instant> = None;
    let mut reconnects = 0;
    // With `--uplift`: the session's responses, and its outcome frames once its script is over
    // and acked (numbered on from the script's last seq, so scripted seqs are as without).
    let mut responder = uplift.map(|_| Responder::new(opts.seed, i));
    let mut last_seq = 0u64;
    let mut tail: Option<VecDeque<Planned>> = None;
    let mut outcome = None;
    loop {
        if next.is_none() && unacked.is_empty() {
            match (uplift, responder.as_ref(), tail.is_none()) {
                (Some(u), Some(r), true) => {
                    let qualified = u.qualifies(script.episodes());
                    let (frames, mut o) = r.finish(u, qualified, last_seq + 1);
                    o.sent = true;
                    outcome = Some(o);
                    let at = start.elapsed().as_micros() as i64;
                    let mut q: VecDeque<Planned> = frames
                        .into_iter()
                        .filter_map(|frame| {
                            let seq = frame.seq()?.0;
                            Some(Planned {
                                frame,
                                seq,
                                send_at_us: at,
                                samples: 0,
                            })
                        })
                        .collect();
                    next = q.pop_front();
                    tail = Some(q);
                    // The outcome frames get their own time to be acked.
                    drain_deadline = None;
                    if next.is_none() {
                        break;
                    }
                }
                _ => break,
            }
        }
        if next.is_none() && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + opts.drain);
        }
        let send_at = next
            .as_ref()
            .map(|p| start + Duration::from_micros(p.send_at_us.max(0) as u64));
        let wake = [send_at, resend_at, drain_deadline]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let mut broken = false;
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if drain_deadline.is_some_and(|d| now >= d) {
                    break;
                }
                if resend_at.is_some_and(|r| now >= r) {
                    resend_at = None;
                    for s in &unacked {
                        if link.send(client_to_vec(&s.frame)).await.is_err() {
                            broken = true;
                            break;
                        }
                        stats.borrow_mut().resent += 1;
                    }
                }
                if !broken && send_at.is_some_and(|t| now >= t)
                    && let Some(p) = next.take()
                {
                    let when = send_at.unwrap_or(now);
                    if intended.len() < p.seq as usize {
                        intended.resize(p.seq as usize, when);
                    }
                    intended[p.seq as usize - 1] = when;
                    let bytes = client_to_vec(&p.frame);
                    {
                        let mut s = stats.borrow_mut();
                        s.frames_sent += 1;
                        s.samples_sent += p.samples as u64;
                        let t = s.by_transport.entry(kind).or_default();
                        t.frames_sent += 1;
                        t.samples_sent += p.samples as u64;
                    }
                    unacked.push_back(Sent { seq: p.seq, intended: when, frame: p.frame });
                    if watch.contains(&p.seq) {
                        stats.borrow_mut().watched.push(WatchedSend {
                            session: i,
                            seq: p.seq,
                            sent: Instant::now(),
                            intended: when,
                        });
                    }
                    if link.send(bytes).await.is_err() {
                        broken = true;
                    } else {
                        let lag = Instant::now().saturating_duration_since(when);
                        record(&mut stats.borrow_mut().hists.send_lag, lag);
                    }
                    last_seq = last_seq.max(p.seq);
                    next = match tail.as_mut() {
                        Some(q) => q.pop_front(),
                        None => script.next_frame(),
                    };
                }
            }
            m = link.next() => {
                match m {
                    Some(f) => match f {
                        Ok(EdgeFrame::Ack { seq: Seq(a) }) => {
                            let now = Instant::now();
                            let mut s = stats.borrow_mut();
                            while unacked.front().is_some_and(|f| f.seq <= a) {
                                if let Some(f) = unacked.pop_front() {
                                    record(&mut s.hists.ack, now - f.intended);
                                    s.acked += 1;
                                    let t = s.by_transport.entry(kind).or_default();
                                    record(&mut t.ack, now - f.intended);
                                    t.acked += 1;
                                }
                            }
                            acked_seq = acked_seq.max(a);
                        }
                        Ok(EdgeFrame::Det(d)) => {
                            let now = Instant::now();
                            let mut s = stats.borrow_mut();
                            let e = opts
                                .labels
                                .iter()
                                .find(|(l, _)| *l == d.e)
                                .map_or(d.e, |(_, e)| e.clone());
                            *s.detections.entry(e.clone()).or_default() += 1;
                            if let Some(t) = intended.get(d.at.0.saturating_sub(1) as usize) {
                                record(&mut s.hists.detection, now - *t);
                            }
                            last_det_at = Some(d.at.0);
                            dets.push((e, d.at.0));
                        }
                        Ok(EdgeFrame::Iv(iv)) => {
                            if tail.is_none() && let Some(r) = responder.as_mut() {
                                r.on_iv(&iv.id, &iv.variant);
                            }
                            let now = Instant::now();
                            let mut s = stats.borrow_mut();
                            s.interventions += 1;
                            if let Some(t) = last_det_at.and_then(|a| intended.get(a.saturating_sub(1) as usize)) {
                                record(&mut s.hists.intervention, now - *t);
                            }
                        }
                        Ok(EdgeFrame::Err(e)) => {
                            *stats.borrow_mut().errors.entry(e.code.as_str().to_string()).or_default() += 1;
                            if e.fatal {
                                broken = true;
                            } else {
                                let wait = u64::from(e.retry_ms.unwrap_or(250));
                                resend_at = Some(Instant::now() + Duration::from_millis(wait));
                            }
                        }
                        Ok(EdgeFrame::Welcome(_)) => {}
                        Err(_) => {
                            *stats.borrow_mut().errors.entry("undecodable".into()).or_default() += 1;
                        }
                    },
                    None => broken = true,
                }
            }
        }
        if broken {
            // Reconnect and resume from the edge's ack; unacked frames are re-sent.
            reconnects += 1;
            {
                let mut s = stats.borrow_mut();
                s.reconnects += 1;
                s.by_transport.entry(kind).or_default().reconnects += 1;
            }
            if reconnects > 5 {
                *stats
                    .borrow_mut()
                    .errors
                    .entry("gave_up".into())
                    .or_default() += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 * reconnects)).await;
            hello.ack = (acked_seq > 0).then_some(Seq(acked_seq));
            match connect(i, opts, pool, &hello).await {
                Ok((l, welcome)) => {
                    link = l;
                    script.follow(welcome.flush_ms, welcome.max_batch);
                    let a = welcome.ack.0;
                    let now = Instant::now();
                    let mut s = stats.borrow_mut();
                    while unacked.front().is_some_and(|f| f.seq <= a) {
                        if let Some(f) = unacked.pop_front() {
                            record(&mut s.hists.ack, now - f.intended);
                            s.acked += 1;
                            let t = s.by_transport.entry(kind).or_default();
                            record(&mut t.ack, now - f.intended);
                            t.acked += 1;
                        }
                    }
                    resend_at = Some(now);
                }
                Err(e) => {
                    *stats
                        .borrow_mut()
                        .errors
                        .entry(format!("reconnect: {e}"))
                        .or_default() += 1;
                }
            }
        }
    }
    link.close().await;
    let mut s = stats.borrow_mut();
    if let (Some(u), Some(r)) = (uplift, responder.as_ref()) {
        // Outcome frames not all sent and acked (the script's frames were not all acked in
        // time, or the session gave up): the session's arm, without a conversion.
        let o = match outcome {
            Some(o)
                if next.is_none()
                    && unacked.is_empty()
                    && tail.as_ref().is_some_and(VecDeque::is_empty) =>
            {
                o
            }
            _ => r.finish(u, u.qualifies(script.episodes()), last_seq + 1).1,
        };
        if let Some(t) = s.uplift.as_mut() {
            t.add(o);
        }
    }
    s.unacked_at_end += unacked.len() as u64;
    s.sessions_active = s.sessions_active.saturating_sub(1);
    let secs = opts.duration.as_secs_f64();
    let eps = script.episodes().to_vec();
    s.score.add_session(persona, &eps, &dets, secs);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe sees a stall of the sessions' thread: 100 ms of blocking shows as a lag of
    /// at least 90 ms (a tick falls due within 5 ms of the stall's start), while the ticks
    /// around it are on time (under the stall's length).
    #[test]
    fn the_lag_probe_sees_a_stalled_loop() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let stats = Rc::new(RefCell::new(Stats::default()));
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let probe = spawn_lag_probe(stats.clone());
            tokio::time::sleep(Duration::from_millis(30)).await;
            std::thread::sleep(Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(30)).await;
            probe.abort();
        });
        let s = stats.borrow();
        let h = &s.hists.loop_lag;
        assert!(h.len() >= 5, "ticks recorded: {}", h.len());
        assert!(h.max() >= 90_000, "max lag {} µs", h.max());
        assert!(
            h.value_at_quantile(0.5) < 90_000,
            "median lag {} µs",
            h.value_at_quantile(0.5)
        );
    }

    #[test]
    fn source_addresses_cycle_over_127_0_0_x() {
        assert_eq!(source_ip(5, 1), None);
        assert_eq!(source_ip(0, 2), Some(std::net::Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(source_ip(3, 2), Some(std::net::Ipv4Addr::new(127, 0, 0, 2)));
        // The CLI's cap is 254: the last address is 127.0.0.254, never .255 or a wrap to .0.
        assert_eq!(
            source_ip(253, 254),
            Some(std::net::Ipv4Addr::new(127, 0, 0, 254))
        );
        assert_eq!(
            source_ip(254, 254),
            Some(std::net::Ipv4Addr::new(127, 0, 0, 1))
        );
    }

    /// A session's source address is bound without taking a port: the port is chosen when it
    /// connects (for the whole 4-tuple), and the connection comes from that address.
    #[test]
    fn a_source_address_is_bound_without_taking_a_port_until_connect() -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let to = listener.local_addr()?;
            let from = std::net::Ipv4Addr::new(127, 0, 0, 3);
            let sock = source_socket(from)?;
            // A plain bind(ip, 0) would have taken an ephemeral port here.
            assert_eq!(sock.local_addr()?, std::net::SocketAddr::from((from, 0)));
            let stream = sock.connect(to).await?;
            let (_, peer) = listener.accept().await?;
            assert_eq!(peer.ip(), std::net::IpAddr::V4(from));
            assert_ne!(peer.port(), 0);
            assert_eq!(stream.local_addr()?, peer);
            Ok(())
        })
    }
}
