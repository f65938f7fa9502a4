//! The plane's HTTP listener (`/metrics`, `/healthz`, the dashboard): hyper's HTTP/1 with a
//! deadline on reading each request's head and then its body, caps on open connections (in all
//! and per address), and a bounded drain at shutdown.
//!
//! `axum::serve` set none of these: it gives hyper no timer, so hyper's header-read timeout
//! never ran, it read bodies for as long as they took, and it accepts every connection. A
//! client that opened connections and sent a request head a byte at a time (or nothing, or a
//! `Content-Length` and no body) held each one, a task and a file descriptor, for ever: enough
//! of them and the plane ran out of descriptors (the ones RocksDB and gRPC need too), and its
//! graceful shutdown waited on them for ever.
//!
//! Not kept from `axum::serve`: HTTP/2 without TLS (h2c) and connection upgrades, which nothing
//! here uses (browsers speak HTTP/2 only over TLS; the dashboard has no WebSocket).
//!
//! [`Admission`] decides (pure); [`serve`] is the shell. A connection over a cap is closed at
//! once, unanswered, counted (`siq_control_http_connections_refused_total`) and logged.
//!
//! Both ports take their connections through this module: [`accepted`] ([`Paced`]: a failed
//! accept pauses the port) and [`Cap`] (a place under [`Admission`], counted on the port's own
//! metrics); the gRPC port's are `crate::incoming::cap`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::telemetry::Metrics;

/// How long a client may take to send a request's head, then again its body, and how long a
/// kept-alive connection may wait for its next request, by default: hyper's own default for
/// `http1::Builder::header_read_timeout` (30 s), which `axum::serve` never switched on. The
/// dashboard's largest body, an alerting config of at most 256 KiB
/// (`sentientiq_tenant::MAX_ALERTS_TOML`; up to about three times that as a form encodes it),
/// needs about 26 KB/s to arrive in that time.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 30_000;
/// Open connections at most, by default: chosen as half of Debian's default soft limit on a
/// process's open files (`ulimit -n`: 1024). At start the plane raises its soft limit to its
/// hard one and lowers a cap the limit cannot hold ([`connection_budget`]): 512 needs a limit
/// of at least 1216 (a hard limit of 1024 lowers it to 416).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Open connections from one address at most, by default. A browser keeps at most six
/// connections to one host over HTTP/1.1, shared by all its tabs (Chrome's and Firefox's
/// limit), one of them held by each open live feed: 64 is ten people behind one office or NAT
/// address, and room for scripts. IPv6 addresses count by their /64 (one host's share of a
/// network). Behind a reverse proxy every connection comes from the proxy's address: raise it
/// to `http_max_connections` there.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 64;
/// How long a stopping plane waits for the requests in flight to finish before it drops their
/// connections, on each port (`crate::serve`'s gRPC too): well within the 30 s a Kubernetes
/// pod and the 90 s a systemd unit are given to stop by default.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Descriptors the plane keeps for itself beside its connections: its store's table cache
/// ([`crate::store::MAX_OPEN_TABLES`]) and 64 for the rest. Measured: 19 open at start (two
/// listeners and three other sockets, the runtime's epoll and event descriptors, RocksDB's
/// WAL, MANIFEST, LOG, LOCK and directory, the standard streams); the rest leaves room for a
/// compaction's and a flush's new tables and a WAL switch.
pub const FDS_KEPT: u64 = 64 + crate::store::MAX_OPEN_TABLES as u64;

/// The connection caps the open-file limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// The HTTP cap to keep.
    pub cap: usize,
    /// The configured HTTP cap, when the limit made it lower.
    pub lowered_from: Option<usize>,
    /// The gRPC port's cap: the other half ([`crate::incoming::cap`]).
    pub grpc: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this process may open {limit} files (RLIMIT_NOFILE) and the plane keeps {FDS_KEPT} for itself, leaving none for connections: raise the limit (systemd `LimitNOFILE=`, `ulimit -n`, a container's `nofile`)"
)]
pub struct FdLimitError {
    pub limit: u64,
}

/// The connection caps under an open-file `limit`. Each port gets half of what the limit
/// leaves beside [`FDS_KEPT`]: every connection holds a descriptor, and past the limit
/// accepts fail and RocksDB cannot open its next file, so a port full of connections would
/// stop the store taking what edges report. The HTTP cap is `asked` unless that is more than
/// its half; the gRPC port's is its half. An error when not one connection fits.
pub fn connection_budget(limit: u64, asked: usize) -> Result<ConnectionBudget, FdLimitError> {
    let room = limit.saturating_sub(FDS_KEPT) / 2;
    if room == 0 {
        return Err(FdLimitError { limit });
    }
    let half = usize::try_from(room).unwrap_or(usize::MAX);
    Ok(match asked > half {
        true => ConnectionBudget {
            cap: half,
            lowered_from: Some(asked),
            grpc: half,
        },
        false => ConnectionBudget {
            cap: asked,
            lowered_from: None,
            grpc: half,
        },
    })
}

/// The listener's limits (`http_read_timeout_ms`, `http_max_connections`,
/// `http_max_per_address` in the plane's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub read_timeout: Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
    /// [`SHUTDOWN_GRACE`] (tests shorten it).
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            read_timeout: Duration::from_millis(DEFAULT_READ_TIMEOUT_MS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_address: DEFAULT_MAX_PER_ADDRESS,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `max_connections` are open.
    All,
    /// `max_per_address` are open from its address.
    Address,
}

/// Open connections, in all and per address (pure).
#[derive(Debug)]
pub struct Admission {
    max_all: usize,
    max_per: usize,
    all: usize,
    by_addr: HashMap<IpAddr, usize>,
}

impl Admission {
    /// At most `max_all` open, `max_per` of them from one address ([`Cap`]'s, both ports').
    pub fn with_caps(max_all: usize, max_per: usize) -> Admission {
        Admission {
            max_all,
            max_per,
            all: 0,
            by_addr: HashMap::new(),
        }
    }

    /// Counts a connection from `ip` as open, unless a cap is reached.
    pub fn admit(&mut self, ip: IpAddr) -> Result<(), Full> {
        if self.all >= self.max_all {
            return Err(Full::All);
        }
        let n = self.by_addr.entry(counted(ip)).or_default();
        if *n >= self.max_per {
            return Err(Full::Address);
        }
        *n += 1;
        self.all += 1;
        Ok(())
    }

    /// A connection from `ip` that [`Admission::admit`] admitted has closed.
    pub fn release(&mut self, ip: IpAddr) {
        let ip = counted(ip);
        if let Some(n) = self.by_addr.get_mut(&ip) {
            *n -= 1;
            self.all -= 1;
            if *n == 0 {
                self.by_addr.remove(&ip);
            }
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.all
    }
}

/// The address a client counts under, for the connection caps and the sign-in limiter: an
/// IPv4 address itself, and so one mapped into IPv6 or translated by NAT64 (`64:ff9b::/96`,
/// RFC 6052: an IPv6-only plane behind an IPv4 front sees every IPv4 client so); any other
/// IPv6 address its /64 (one host's share of a network).
pub(crate) fn counted(ip: IpAddr) -> IpAddr {
    const NAT64: u128 = 0x0064_ff9b << 96;
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None if bits >> 32 == NAT64 >> 32 => IpAddr::V4((bits as u32).into()),
                None => IpAddr::V6((bits & !((1u128 << 64) - 1)).into()),
            }
        }
        v4 => v4,
    }
}

/// The error of a request body that did not all arrive within the read timeout
/// ([`timed_out`] finds it under the extractors' rejections).
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request's body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `e`, or an error under it, is a [`BodyTimeout`].
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(x) = at {
        if x.is::<BodyTimeout>() {
            return true;
        }
        at = x.source();
    }
    false
}

/// A request body that fails if it has not all arrived by its deadline: hyper times only the
/// head, so a `Content-Length` and a body that never comes would hold the request (and a
/// stopping plane) for ever. The handler sees a body error (a form reads as empty and is
/// refused by its checks).
struct Deadline<B> {
    body: B,
    at: tokio::time::Instant,
    /// Made when a read first waits (most bodies are empty or arrive with their head).
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> http_body::Body for Deadline<B>
where
    B: http_body::Body + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, axum::BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(f) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(f.map(|r| r.map_err(Into::into)));
        }
        let at = this.at;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// How long a port waits after an accept failed for another reason than its peer being gone
/// (out of descriptors, mostly), as `axum::serve` does ([`Paced`]).
pub const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Whether an accept error is the peer's (a connection reset before it was taken), not the
/// listener's: as `axum::serve` judges it.
fn peer_gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// A connection's task, ended: logged if it panicked.
fn reaped(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "http: a connection's task panicked");
    }
}

/// The port a [`Cap`] guards: which of [`Metrics`]' counters it keeps and what its refusals'
/// log lines say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// This module's (`siq_control_http_connections`, `…_refused_total`).
    Http,
    /// The gRPC port's ([`crate::incoming`]; `siq_control_grpc_connections`, `…_refused_total`).
    Grpc,
}

impl Port {
    /// Its name in log lines.
    fn name(self) -> &'static str {
        match self {
            Port::Http => "http",
            Port::Grpc => "grpc",
        }
    }

    /// Its open-connection gauge and its refusal counters, by the cap refusing.
    fn counters(self, m: &Metrics) -> (&AtomicU64, &AtomicU64, &AtomicU64) {
        match self {
            Port::Http => (
                &m.http_connections,
                &m.http_refused_all,
                &m.http_refused_address,
            ),
            Port::Grpc => (
                &m.grpc_connections,
                &m.grpc_refused_all,
                &m.grpc_refused_address,
            ),
        }
    }

    /// A refusal's log line: what happened, which connections are open, what to raise.
    fn refusal(self, full: Full) -> (&'static str, &'static str, &'static str) {
        match (self, full) {
            (Port::Http, Full::All) => (
                "an HTTP connection closed unanswered",
                "http_max_connections",
                "raise http_max_connections, and the open-file limit (RLIMIT_NOFILE) if it lowered it",
            ),
            (Port::Http, Full::Address) => (
                "an HTTP connection closed unanswered",
                "http_max_per_address from one address",
                "behind a reverse proxy, raise http_max_per_address",
            ),
            (Port::Grpc, Full::All) => (
                "a gRPC connection closed at its accept",
                "as many as the open-file limit leaves the port",
                "raise the open-file limit (RLIMIT_NOFILE) to take more",
            ),
            (Port::Grpc, Full::Address) => (
                "a gRPC connection closed at its accept",
                "grpc_max_per_address from one address",
                "behind a proxy that hides its clients' addresses, raise grpc_max_per_address",
            ),
        }
    }
}

/// A port's caps on open connections ([`Admission`]), with its gauge and refusal counters. A
/// refusal is counted and logged, at most once per 10 minutes ([`crate::throttle`]): for the
/// cap in all whatever the address (a flood from many addresses is one line), for the cap per
/// address once per address as the cap counts it (an IPv6 /64 once).
#[derive(Debug, Clone)]
pub struct Cap {
    admission: Arc<Mutex<Admission>>,
    metrics: Arc<Metrics>,
    port: Port,
}

impl Cap {
    pub fn new(port: Port, max: usize, max_per_address: usize, metrics: Arc<Metrics>) -> Cap {
        Cap {
            admission: Arc::new(Mutex::new(Admission::with_caps(max, max_per_address))),
            metrics,
            port,
        }
    }

    /// A place for one more connection from `ip`, or `None` (counted, logged) at a cap.
    pub fn take(&self, ip: IpAddr) -> Option<Held> {
        let admitted = self
            .admission
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(ip);
        let (open, refused_all, refused_address) = self.port.counters(&self.metrics);
        let Err(full) = admitted else {
            open.fetch_add(1, Relaxed);
            return Some(Held {
                cap: self.clone(),
                ip,
            });
        };
        let (counter, peer) = match full {
            Full::All => (refused_all, None),
            // Keyed as the cap counts it.
            Full::Address => (refused_address, Some(SocketAddr::new(counted(ip), 0))),
        };
        counter.fetch_add(1, Relaxed);
        let (what, setting, raise) = self.port.refusal(full);
        let kind = format!("{}-cap", self.port.name());
        if let Some(not_logged) = self.metrics.refusal_due(&kind, setting, peer) {
            tracing::warn!(%ip, not_logged, "{what}: {setting} are open ({raise})");
        }
        None
    }

    /// `tcp`'s place and its peer's address, or `None` (the connection to be dropped: closed)
    /// at a cap or when its peer is already gone.
    pub fn admit(&self, tcp: &tokio::net::TcpStream) -> Option<(Held, SocketAddr)> {
        let peer = tcp.peer_addr().ok()?;
        Some((self.take(peer.ip())?, peer))
    }
}

/// A connection's place under its [`Cap`], given back when it is dropped.
#[derive(Debug)]
pub struct Held {
    cap: Cap,
    ip: IpAddr,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.cap
            .admission
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release(self.ip);
        let (open, _, _) = self.cap.port.counters(&self.cap.metrics);
        open.fetch_sub(1, Relaxed);
    }
}

/// Accepts that pause [`ACCEPT_PAUSE`] after a failure, logged, instead of passing it on, as
/// `axum::serve` does: out of descriptors, the connection waiting in the backlog fails the
/// next accept again, and a port retrying at once spins a core (tonic's did, logged only at
/// trace). A peer gone before its accept is skipped. Both ports' listeners go through it.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    port: Port,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Paced<S> {
    pub fn new(inner: S, port: Port) -> Paced<S> {
        Paced {
            inner,
            port,
            pause: None,
        }
    }
}

impl<S, T> tokio_stream::Stream for Paced<S>
where
    S: tokio_stream::Stream<Item = std::io::Result<T>> + Unpin,
{
    type Item = std::io::Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = this.pause.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Err(e))) if peer_gone(&e) => {}
                Poll::Ready(Some(Err(e))) => {
                    tracing::error!(error = %e, "{}: accept failed", this.port.name());
                    this.pause = Some(Box::pin(tokio::time::sleep(ACCEPT_PAUSE)));
                }
                other => return other,
            }
        }
    }
}

/// `listener`'s connections (TCP_NODELAY set: both ports' answers are small writes), pausing
/// after an accept that fails ([`Paced`]).
pub fn accepted(
    listener: tokio::net::TcpListener,
    port: Port,
) -> Paced<tonic::transport::server::TcpIncoming> {
    Paced::new(
        tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
        port,
    )
}

/// Serves `app` on `listener` within `limits` until `shutdown`; then stops accepting, lets
/// each connection finish its request (hyper's graceful shutdown) for up to
/// `limits.shutdown_grace`, drops those still open, and returns. Handlers see the peer's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    app: axum::Router,
    listener: tokio::net::TcpListener,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tokio_stream::StreamExt;
    let cap = Cap::new(
        Port::Http,
        limits.max_connections,
        limits.max_per_address,
        metrics,
    );
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut incoming = accepted(listener, Port::Http);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                reaped(done);
                continue;
            }
            got = incoming.next() => match got {
                Some(Ok(stream)) => stream,
                // `Paced` passes no error on (it logs and pauses).
                Some(Err(_)) => continue,
                None => {
                    tracing::error!("http: the listener ended; the port stops");
                    break;
                }
            },
        };
        // Past a cap, or its peer gone, the connection is dropped: closed unanswered.
        let Some((guard, peer)) = cap.admit(&stream) else {
            continue;
        };
        let app = app.clone();
        let mut closed = closed.clone();
        conns.spawn(async move {
            let _guard = guard;
            let read = limits.read_timeout;
            let svc = app.map_request(move |r: axum::http::Request<hyper::body::Incoming>| {
                let mut r = r.map(|body| Deadline {
                    body,
                    at: tokio::time::Instant::now() + read,
                    sleep: None,
                });
                r.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                r
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(read);
            let conn = builder.serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(svc),
            );
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, %peer, "http: connection ended");
                    }
                    return;
                }
                _ = closed.wait_for(|c| *c) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(incoming);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while let Some(done) = conns.join_next().await {
            reaped(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = conns.len(),
            "http: connections still open after the shutdown grace are dropped"
        );
        conns.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    /// A cap's places: counted on its own port's gauge and refusal counters, given back when
    /// dropped; a refusal's log line keyed per cap in all, and per address as the cap counts
    /// it (two hosts of one IPv6 /64 are one line).
    #[test]
    fn a_cap_counts_on_its_port_and_keys_its_refusal_lines_as_it_counts_addresses() {
        let metrics = Arc::new(Metrics::default());
        let http = Cap::new(Port::Http, 3, 1, metrics.clone());
        let grpc = Cap::new(Port::Grpc, 1, 1, metrics.clone());
        let v6 = |host: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, host]);
        let held = http.take(v6(1)).expect("a place");
        assert!(http.take(v6(2)).is_none(), "the same /64");
        let other = http.take(ip(1)).expect("another address");
        let one = grpc.take(ip(1)).expect("its own port's cap");
        assert!(grpc.take(ip(2)).is_none(), "the gRPC cap in all");
        let read = |a: &AtomicU64| a.load(Relaxed);
        assert_eq!(
            (
                read(&metrics.http_connections),
                read(&metrics.http_refused_address),
                read(&metrics.http_refused_all),
                read(&metrics.grpc_connections),
                read(&metrics.grpc_refused_address),
                read(&metrics.grpc_refused_all),
            ),
            (2, 1, 0, 1, 0, 1)
        );
        // The lines the refusals logged are throttled now; the same refusal from the other
        // host of the /64 is not due, from another /64 it is.
        let (_, per_address, _) = Port::Http.refusal(Full::Address);
        let key = |ip| Some(SocketAddr::new(ip, 0));
        let net = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, 0]);
        assert_eq!(metrics.refusal_due("http-cap", per_address, key(net)), None);
        let (_, in_all, _) = Port::Grpc.refusal(Full::All);
        assert_eq!(metrics.refusal_due("grpc-cap", in_all, None), None);
        let elsewhere = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 0]);
        assert_eq!(
            metrics.refusal_due("http-cap", per_address, key(elsewhere)),
            Some(0)
        );
        drop((held, other, one));
        assert_eq!(read(&metrics.http_connections), 0);
        assert_eq!(read(&metrics.grpc_connections), 0);
        assert!(http.take(v6(2)).is_some(), "its place given back");
    }

    #[test]
    fn connections_are_capped_per_address_and_in_all_at_cap_minus_one_cap_and_cap_plus_one() {
        let mut a = Admission::with_caps(5, 3);
        // Per address: cap - 1 and cap admitted, cap + 1 refused; another address is not.
        assert_eq!(a.admit(ip(1)), Ok(()));
        assert_eq!(a.admit(ip(1)), Ok(()));
        assert_eq!(a.admit(ip(1)), Ok(()));
        assert_eq!(a.admit(ip(1)), Err(Full::Address));
        assert_eq!(a.admit(ip(2)), Ok(()));
        // In all: the fifth admitted, the sixth refused whatever its address.
        assert_eq!(a.admit(ip(3)), Ok(()));
        assert_eq!(a.open(), 5);
        assert_eq!(a.admit(ip(4)), Err(Full::All));
        // A refusal counts nothing; a close frees its place, in all and for its address.
        a.release(ip(1));
        assert_eq!(a.open(), 4);
        assert_eq!(a.admit(ip(1)), Ok(()));
        assert_eq!(a.admit(ip(4)), Err(Full::All));
        a.release(ip(2));
        assert_eq!(a.admit(ip(4)), Ok(()));
        // An address with nothing open is forgotten; releasing it again changes nothing.
        for _ in 0..3 {
            a.release(ip(1));
        }
        a.release(ip(1));
        assert_eq!(a.open(), 2);
        assert!(!a.by_addr.contains_key(&ip(1)));
    }

    /// A failed accept (out of descriptors) is logged and pauses the port for
    /// [`ACCEPT_PAUSE`] instead of being retried at once; a peer gone before its accept is
    /// skipped without a pause; neither is passed on.
    #[tokio::test(start_paused = true)]
    async fn a_failed_accept_pauses_the_port_and_a_peer_gone_is_skipped() {
        use tokio_stream::StreamExt;
        let emfile = || Err(std::io::Error::from_raw_os_error(24));
        let reset = || Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let mut s = Paced::new(
            tokio_stream::iter(vec![emfile(), Ok(1), reset(), Ok(2)]),
            Port::Grpc,
        );
        let started = tokio::time::Instant::now();
        assert_eq!(s.next().await.map(|r| r.ok()), Some(Some(1)));
        assert_eq!(started.elapsed(), ACCEPT_PAUSE);
        let after = tokio::time::Instant::now();
        assert_eq!(s.next().await.map(|r| r.ok()), Some(Some(2)));
        assert_eq!(after.elapsed(), Duration::ZERO);
        assert!(s.next().await.is_none());
    }

    #[test]
    fn the_connection_cap_fits_half_of_what_the_open_file_limit_leaves() {
        // A limit leaving room for 100 connections on each port: asked at cap - 1 and cap
        // kept, cap + 1 lowered to it; the gRPC port has its half whatever was asked.
        let limit = FDS_KEPT + 200;
        let kept = |cap| ConnectionBudget {
            cap,
            lowered_from: None,
            grpc: 100,
        };
        assert_eq!(connection_budget(limit, 99), Ok(kept(99)));
        assert_eq!(connection_budget(limit, 100), Ok(kept(100)));
        assert_eq!(
            connection_budget(limit, 101),
            Ok(ConnectionBudget {
                cap: 100,
                lowered_from: Some(101),
                grpc: 100,
            })
        );
        // Half of an odd remainder rounds down; room for one connection is enough.
        assert_eq!(
            connection_budget(FDS_KEPT + 201, 512).map(|b| (b.cap, b.grpc)),
            Ok((100, 100))
        );
        assert_eq!(
            connection_budget(FDS_KEPT + 2, 512).map(|b| (b.cap, b.grpc)),
            Ok((1, 1))
        );
        for limit in [0, FDS_KEPT, FDS_KEPT + 1] {
            assert_eq!(connection_budget(limit, 1), Err(FdLimitError { limit }));
        }
        // A hard limit of 1024 (Debian's default soft limit): the default cap is lowered; the
        // hard limit systemd gives services (524 288) holds it. No limit: no cap to speak of.
        assert_eq!(
            connection_budget(1024, DEFAULT_MAX_CONNECTIONS),
            Ok(ConnectionBudget {
                cap: 416,
                lowered_from: Some(DEFAULT_MAX_CONNECTIONS),
                grpc: 416,
            })
        );
        assert_eq!(
            connection_budget(524_288, DEFAULT_MAX_CONNECTIONS).map(|b| (b.cap, b.lowered_from)),
            Ok((DEFAULT_MAX_CONNECTIONS, None))
        );
        assert!(connection_budget(u64::MAX, 512).is_ok_and(|b| b.grpc > 1 << 40));
        // The default needs 1216 open files (the doc's number): one under lowers it.
        assert_eq!(
            connection_budget(1216, DEFAULT_MAX_CONNECTIONS).map(|b| (b.cap, b.lowered_from)),
            Ok((DEFAULT_MAX_CONNECTIONS, None))
        );
        assert_eq!(
            connection_budget(1215, DEFAULT_MAX_CONNECTIONS).map(|b| b.cap),
            Ok(DEFAULT_MAX_CONNECTIONS - 1)
        );
    }

    /// A server of `limits` on a real socket: `/ip` answers the peer's address as handlers
    /// see it. Returns its port, its metrics, the stop switch and the server's task.
    async fn server(
        limits: HttpLimits,
        started: Arc<tokio::sync::Notify>,
    ) -> (
        u16,
        Arc<Metrics>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        use axum::routing::{get, post};
        let app = axum::Router::new()
            .route(
                "/ip",
                get(|ConnectInfo(a): ConnectInfo<SocketAddr>| async move { a.ip().to_string() }),
            )
            .route("/echo", post(|body: String| async move { body }))
            .route(
                "/hang",
                get(move || {
                    let started = started.clone();
                    async move {
                        started.notify_one();
                        std::future::pending::<String>().await
                    }
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slow".to_string()
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(app, l, limits, metrics.clone(), async move {
            let _ = stopped.await;
        }));
        (port, metrics, stop, task)
    }

    /// What the server sends on `c` until it closes it (within 10 s; a reset, as when it
    /// closes with what was sent unread, is a close).
    async fn rest(c: &mut tokio::net::TcpStream) -> String {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
            .await
            .expect("closed within 10 s");
        match read {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            r => {
                r.expect("read");
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    async fn get_ip(port: u16) -> String {
        let c = send(
            port,
            b"GET /ip HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        rest(&mut c.await).await
    }

    #[tokio::test]
    async fn a_slow_request_head_is_cut_off_and_a_whole_one_answered_with_the_peer() {
        let limits = HttpLimits {
            read_timeout: Duration::from_millis(300),
            ..HttpLimits::default()
        };
        let (port, metrics, stop, task) = server(limits, Arc::default()).await;
        let answer = get_ip(port).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n127.0.0.1"), "{answer}");
        // Half a head, then nothing: closed at the deadline (not before), unanswered but for
        // hyper's 408.
        let asked = std::time::Instant::now();
        let mut slow = send(port, b"GET /ip HTTP/1.1\r\nHost: h\r\n").await;
        let got = rest(&mut slow).await;
        assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(
            asked.elapsed() >= Duration::from_millis(300),
            "{:?}",
            asked.elapsed()
        );
        // A connection that sends nothing is closed too.
        let mut idle = send(port, b"").await;
        let got = rest(&mut idle).await;
        assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got}");
        let _ = stop.send(());
        task.await.expect("task").expect("served");
        assert_eq!(metrics.http_connections.load(Relaxed), 0);
    }

    #[tokio::test]
    async fn connections_past_the_cap_of_an_address_are_closed_unanswered() {
        use tokio::io::AsyncWriteExt;
        let limits = HttpLimits {
            max_per_address: 2,
            ..HttpLimits::default()
        };
        let (port, metrics, stop, task) = server(limits, Arc::default()).await;
        let open = || tokio::net::TcpStream::connect(("127.0.0.1", port));
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(open().await.expect("connect"));
        }
        // Both counted open before the third arrives: it is closed at once.
        until_open(&metrics, 2).await;
        let mut third = open().await.expect("connect");
        let _ = third
            .write_all(b"GET /ip HTTP/1.1\r\nHost: h\r\n\r\n")
            .await;
        assert_eq!(rest(&mut third).await, "", "closed unanswered");
        assert_eq!(metrics.http_refused_address.load(Relaxed), 1);
        assert_eq!(metrics.http_refused_all.load(Relaxed), 0);
        // One closes: its place is free again.
        drop(held.pop());
        until_open(&metrics, 1).await;
        let answered = get_ip(port).await;
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
        // Stopping closes the one still open and returns.
        let _ = stop.send(());
        task.await.expect("task").expect("served");
        assert_eq!(rest(&mut held[0]).await, "");
        assert_eq!(metrics.http_connections.load(Relaxed), 0);
    }

    /// Waits (up to 2 s) until the server counts `n` connections open.
    async fn until_open(metrics: &Metrics, n: u64) {
        for _ in 0..100 {
            if metrics.http_connections.load(Relaxed) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{n} connections open within 2 s");
    }

    async fn send(port: u16, request: &[u8]) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        c.write_all(request).await.expect("write");
        c
    }

    #[tokio::test]
    async fn a_body_that_never_comes_is_cut_off_and_an_idle_connection_closed() {
        use tokio::io::AsyncWriteExt;
        let read = Duration::from_millis(1000);
        let limits = HttpLimits {
            read_timeout: read,
            ..HttpLimits::default()
        };
        let (port, metrics, stop, task) = server(limits, Arc::default()).await;
        // A body in pieces within the deadline is read whole.
        let head = "POST /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n";
        let mut c = send(
            port,
            format!("{head}Content-Length: 3\r\n\r\nab").as_bytes(),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.write_all(b"c").await.expect("write");
        let got = rest(&mut c).await;
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("abc"),
            "{got}"
        );
        // Three bytes of a hundred: the handler's read fails at the deadline (not before),
        // answered 400 by axum's extractor (the dashboard's forms answer 408).
        let asked = std::time::Instant::now();
        let mut c = send(
            port,
            format!("{head}Content-Length: 100\r\n\r\nabc").as_bytes(),
        )
        .await;
        let got = rest(&mut c).await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
        assert!(asked.elapsed() >= read, "{:?}", asked.elapsed());
        // Kept alive after an answer, then idle: closed at the deadline.
        let mut c = send(port, b"GET /ip HTTP/1.1\r\nHost: h\r\n\r\n").await;
        let got = rest(&mut c).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        let _ = stop.send(());
        task.await.expect("task").expect("served");
        assert_eq!(metrics.http_connections.load(Relaxed), 0);
    }

    #[tokio::test]
    async fn a_stopping_server_finishes_requests_within_its_grace_and_drops_the_rest() {
        let grace = Duration::from_millis(1000);
        let limits = HttpLimits {
            shutdown_grace: grace,
            ..HttpLimits::default()
        };
        let started = Arc::new(tokio::sync::Notify::new());
        let (port, metrics, stop, task) = server(limits, started.clone()).await;
        let mut hung = send(port, b"GET /hang HTTP/1.1\r\nHost: h\r\n\r\n").await;
        tokio::time::timeout(Duration::from_secs(10), started.notified())
            .await
            .expect("the hanging request runs");
        let mut slow = send(port, b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n").await;
        until_open(&metrics, 2).await;
        let stopped = std::time::Instant::now();
        let _ = stop.send(());
        // The slow one is answered during the drain; the hanging one is dropped at the grace.
        let got = rest(&mut slow).await;
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("slow"),
            "{got}"
        );
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("returned after the grace")
            .expect("task")
            .expect("served");
        assert!(stopped.elapsed() >= grace, "{:?}", stopped.elapsed());
        assert_eq!(rest(&mut hung).await, "", "dropped unanswered");
        assert_eq!(metrics.http_connections.load(Relaxed), 0);
    }

    #[test]
    fn an_ipv6_address_counts_by_its_64_and_an_ipv4_one_as_itself() {
        let mut a = Admission::with_caps(DEFAULT_MAX_CONNECTIONS, 2);
        let addr = |s: &str| -> IpAddr { s.parse().expect("address") };
        assert_eq!(a.admit(addr("2001:db8:1:2::1")), Ok(()));
        assert_eq!(a.admit(addr("2001:db8:1:2:ffff::9")), Ok(()));
        let same = a.admit(addr("2001:db8:1:2::3"));
        assert_eq!(same, Err(Full::Address), "same /64");
        assert_eq!(a.admit(addr("2001:db8:1:3::1")), Ok(()), "another /64");
        assert_eq!(a.admit(addr("10.0.0.1")), Ok(()));
        assert_eq!(a.admit(addr("::ffff:10.0.0.1")), Ok(()));
        let mapped = a.admit(addr("10.0.0.1"));
        assert_eq!(mapped, Err(Full::Address), "mapped: the same address");
        // NAT64's prefix carries an IPv4 client: counted as that address, not as one /64.
        assert_eq!(a.admit(addr("64:ff9b::a00:2")), Ok(()));
        assert_eq!(a.admit(addr("64:ff9b::a00:3")), Ok(()));
        assert_eq!(a.admit(addr("10.0.0.2")), Ok(()));
        let nat64 = a.admit(addr("64:ff9b::a00:2"));
        assert_eq!(nat64, Err(Full::Address), "10.0.0.2 a third time");
        a.release(addr("2001:db8:1:2::7"));
        let freed = a.admit(addr("2001:db8:1:2::3"));
        assert_eq!(freed, Ok(()), "a place of its /64 freed");
    }

    #[test]
    fn the_defaults_are_hypers_timeout_and_half_the_default_descriptor_limit() {
        let d = HttpLimits::default();
        assert_eq!(d.read_timeout, Duration::from_secs(30));
        assert_eq!(d.shutdown_grace, Duration::from_secs(10));
        assert_eq!((d.max_connections, d.max_per_address), (512, 64));
    }
}
