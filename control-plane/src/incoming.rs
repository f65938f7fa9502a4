//! The gRPC port's accepted connections: each must send its first bytes in time.
//!
//! hyper's server reads a connection's first bytes (HTTP/2's 24-byte preface) with no deadline,
//! and HTTP/2's keepalive pings only start after them, so a client that opened TCP
//! connections and sent nothing held each one, a task and a file descriptor, for ever. Now a
//! connection that has not sent [`FIRST_BYTES`] within `grpc_handshake_timeout_ms` of its
//! accept fails its read and is closed.
//!
//! With `[tls]` the TLS is done here ([`tls`]), not by tonic: below TLS the preface cannot be
//! seen, and tonic's own handshake timeout let a client that finished its handshake and then
//! sent nothing hold its connection for ever. Here the handshake and then the preface, read
//! through the TLS, are due by the same deadline.
//!
//! After its preface a client's HTTP/2 stack answers the server's keepalive pings by itself, so
//! a client that never sent a request held its connection, and its place under the port's cap,
//! for ever too. Now a connection on which no request has carried a token (the bearer check,
//! `crate::auth`, marks it: [`Standing`]) is closed once `grpc_unauthenticated_idle_ms` passes
//! with no request started on it (counted from its accept, then from each such check: so
//! after one to two periods of silence). Health checks and reflection need no token: a prober
//! that checks more often than that keeps its connection, as with grpc-go's
//! `MaxConnectionIdle`; a health watch on a connection of its own ends after one to two periods
//! (its client opens it again). Every client that keeps a connection for its work (an edge's
//! streams, siqctl) sends its token in its first request, and such a connection is never
//! closed for being idle.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;
use tonic::transport::server::Connected;

use crate::http;
use crate::standing::{Peer, Standing};
use crate::telemetry::Metrics;

/// Bytes a connection must send within the deadline: HTTP/2's connection preface
/// (RFC 9113 §3.4, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`), every gRPC client's first bytes.
pub const FIRST_BYTES: usize = 24;
/// The deadline by default: ten seconds, far past a TLS handshake across the world (a few
/// round trips of at most ~300 ms) and the time an edge takes to send its preface.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// How long a connection on which no request has carried a token may go without starting a
/// request, by default: thirty seconds, three times the preface's deadline. An edge and
/// siqctl send their token in their first request; a health prober checking every 10 s (a
/// common default) keeps its connection.
pub const DEFAULT_UNAUTHENTICATED_IDLE_MS: u64 = 30_000;

/// Open gRPC connections from one address at most, by default. An edge keeps two connections
/// to the plane (its config and reports, and its alerts) and siqctl one a command, so this is
/// 64 edges behind one address (a NAT gateway); behind a proxy or load balancer that hides the
/// peers' addresses, raise it to the port's cap. One address cannot then fill the port and
/// lock the edges out.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 128;

/// The gRPC port's caps on open connections, handshakes included: in all, the half of the
/// open-file limit's room that is the port's (`http::connection_budget`), and from one address
/// (`grpc_max_per_address`; IPv6 by its /64, as the HTTP port's). Past either a connection is
/// closed at its accept, before anything is read, counted and logged: the descriptors it would
/// take are the store's. The open count is the `siq_control_grpc_connections` gauge.
pub fn cap(max: usize, max_per_address: usize, metrics: Arc<Metrics>) -> http::Cap {
    http::Cap::new(http::Port::Grpc, max, max_per_address, metrics)
}

/// A connection that fails its reads if it has not sent [`FIRST_BYTES`] by its deadline, or
/// (if watched: [`FirstBytes::idle_unless_authed`]) once it goes a period without starting a
/// request while none of its requests has carried a token.
#[derive(Debug)]
pub struct FirstBytes<IO> {
    io: IO,
    /// Bytes still owed; 0 once they came (then nothing is timed here).
    owed: usize,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// What its requests tell; and until one carries a token, the end of its current period,
    /// the period, and the requests started when that period began.
    standing: Standing,
    idle: Option<(Pin<Box<tokio::time::Sleep>>, Duration, u64)>,
    /// Its place under the port's cap ([`cap`]), for as long as it is open.
    held: Option<http::Held>,
}

impl<IO> FirstBytes<IO> {
    pub fn new(io: IO, timeout: Duration) -> FirstBytes<IO> {
        FirstBytes::until(io, tokio::time::Instant::now() + timeout)
    }

    /// Owing its first bytes by `deadline`.
    pub fn until(io: IO, deadline: tokio::time::Instant) -> FirstBytes<IO> {
        FirstBytes {
            io,
            owed: FIRST_BYTES,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            standing: Standing::default(),
            idle: None,
            held: None,
        }
    }

    /// Closed (its reads fail) at the end of a `period` in which it started no request, the
    /// first from `from`, unless a request on it has carried a token.
    pub fn idle_unless_authed(
        mut self,
        from: tokio::time::Instant,
        period: Duration,
    ) -> FirstBytes<IO> {
        self.idle = Some((Box::pin(tokio::time::sleep_until(from + period)), period, 0));
        self
    }

    /// Holding `held` until it is dropped.
    pub fn holding(mut self, held: http::Held) -> FirstBytes<IO> {
        self.held = Some(held);
        self
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FirstBytes<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.owed > 0 {
            match &r {
                Poll::Ready(Ok(())) => {
                    let got = buf.filled().len() - before;
                    this.owed = this.owed.saturating_sub(got);
                }
                Poll::Pending if this.sleep.as_mut().poll(cx).is_ready() => {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the connection's first bytes did not arrive in time",
                    )));
                }
                _ => {}
            }
        }
        // Polled whether or not the read is ready: a client's answers to pings are reads too.
        if let Some((end, period, seen)) = this.idle.as_mut() {
            if this.standing.is_authed() {
                this.idle = None;
            } else {
                while end.as_mut().poll(cx).is_ready() {
                    let now = this.standing.requests();
                    if now == *seen {
                        return Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no request started on the connection for a period, and none carried a token",
                        )));
                    }
                    // A request started in the period: another one.
                    *seen = now;
                    let next = end.deadline() + *period;
                    end.as_mut().reset(next.max(tokio::time::Instant::now()));
                }
            }
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FirstBytes<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<IO: Connected> Connected for FirstBytes<IO> {
    type ConnectInfo = Peer<IO::ConnectInfo>;

    fn connect_info(&self) -> Self::ConnectInfo {
        Peer {
            info: self.io.connect_info(),
            standing: self.standing.clone(),
        }
    }
}

/// A connection's deadlines: its first bytes (over TLS, its handshake and then them) from its
/// accept, and the period it may go without starting a request until one carries a token.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub first_bytes: Duration,
    pub unauthenticated_idle: Duration,
}

/// `listener`'s connections under `cap`, each owing its first bytes, and requests, by its
/// `deadlines`.
pub fn first_bytes(
    listener: tokio::net::TcpListener,
    deadlines: Deadlines,
    cap: http::Cap,
) -> impl tokio_stream::Stream<Item = std::io::Result<FirstBytes<tokio::net::TcpStream>>> {
    use tokio_stream::StreamExt;
    http::accepted(listener, http::Port::Grpc).filter_map(move |c| match c {
        // Past the cap the connection is dropped: closed.
        Ok(s) => cap.admit(&s).map(|(held, _)| {
            let now = tokio::time::Instant::now();
            Ok(FirstBytes::until(s, now + deadlines.first_bytes)
                .idle_unless_authed(now, deadlines.unauthenticated_idle)
                .holding(held))
        }),
        Err(e) => Some(Err(e)),
    })
}

/// What is wrong with `[tls]`'s files ([`tls_config`]): which file, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsFilesError {
    #[error("the certificate file {0}")]
    Certificate(String),
    #[error("the key file {0}")]
    Key(String),
    #[error("the certificate and key: {0}")]
    Pair(String),
}

/// A PEM reader's error in words (its own `Display` prints markers as lists of bytes).
fn pem_fault(e: &rustls::pki_types::pem::Error, wanted: &str) -> String {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "is cut short: a PEM section has no END line".into(),
        E::IllegalSectionStart { .. } => "has a broken PEM BEGIN line".into(),
        E::Base64Decode(_) => "has a PEM section that is not base64".into(),
        E::NoItemsFound => format!("holds no {wanted} (an encrypted one cannot be used)"),
        other => format!("cannot be read as PEM: {other}"),
    }
}

/// The rustls server config of `[tls]`, as tonic's own was: the certificate chain and key
/// (PEM), no client certificates, ALPN `h2`.
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig, TlsFilesError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsFilesError::Certificate(pem_fault(&e, "certificate")))?;
    if certs.is_empty() {
        return Err(TlsFilesError::Certificate("holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsFilesError::Key(pem_fault(&e, "private key")))?;
    let provider = rustls::crypto::ring::default_provider();
    // The key alone first, so that a key ring cannot use is said to be the key file's fault.
    provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| TlsFilesError::Key(format!("holds a key that cannot be used: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFilesError::Pair(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsFilesError::Pair(match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    "the key is not the certificate's".into()
                }
                e => e.to_string(),
            })
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A connection served over TLS.
pub type TlsConn = FirstBytes<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

/// `listener`'s connections over TLS: each owes its handshake, and then [`FIRST_BYTES`]
/// through the TLS, by its first deadline from its accept, and then requests by the other. Handshakes run side by side (a slow one holds no other back); one that fails or is
/// late closes its connection and is logged at debug, as tonic did.
pub fn tls(
    listener: tokio::net::TcpListener,
    deadlines: Deadlines,
    config: Arc<rustls::ServerConfig>,
    cap: http::Cap,
) -> Handshakes<http::Paced<tonic::transport::server::TcpIncoming>> {
    Handshakes::over(
        http::accepted(listener, http::Port::Grpc),
        deadlines,
        config,
        cap,
    )
}

/// Accepts taken in one poll at most, before the stream yields to its task: finished
/// handshakes are looked at before each accept, and a flood of connections then cannot keep
/// the stream from the rest of its task's work (tonic's own TLS picks between the two at
/// random, `select!`).
const ACCEPTS_PER_POLL: usize = 16;

/// The stream of [`tls`]: accepted connections whose handshakes have finished.
pub struct Handshakes<S> {
    incoming: S,
    acceptor: tokio_rustls::TlsAcceptor,
    deadlines: Deadlines,
    cap: http::Cap,
    /// Handshakes under way; dropped (aborted) with the stream when the server stops.
    handshakes: tokio::task::JoinSet<std::io::Result<TlsConn>>,
}

impl<S> Handshakes<S> {
    /// Over the connections of `incoming` (a listener's accepts), under `cap`.
    pub fn over(
        incoming: S,
        deadlines: Deadlines,
        config: Arc<rustls::ServerConfig>,
        cap: http::Cap,
    ) -> Handshakes<S> {
        Handshakes {
            incoming,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            deadlines,
            cap,
            handshakes: tokio::task::JoinSet::new(),
        }
    }
}

impl<S> std::fmt::Debug for Handshakes<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshakes")
            .field("deadlines", &self.deadlines)
            .field("under_way", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl<S> tokio_stream::Stream for Handshakes<S>
where
    S: tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Unpin,
{
    type Item = std::io::Result<TlsConn>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut accepts = 0;
        loop {
            // Finished handshakes first: neither new connections nor a listener failing
            // (out of descriptors, say) hold back those that are ready. Polled again after
            // each start, so a new handshake's end wakes this stream.
            loop {
                match this.handshakes.poll_join_next(cx) {
                    Poll::Ready(Some(Ok(Ok(conn)))) => return Poll::Ready(Some(Ok(conn))),
                    Poll::Ready(Some(Ok(Err(e)))) => {
                        tracing::debug!(error = %e, "tls accept error")
                    }
                    Poll::Ready(Some(Err(e))) => tracing::debug!(error = %e, "tls accept task"),
                    Poll::Ready(None) | Poll::Pending => break,
                }
            }
            if accepts == ACCEPTS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match Pin::new(&mut this.incoming).poll_next(cx) {
                Poll::Ready(Some(Ok(tcp))) => {
                    accepts += 1;
                    // Past the cap the connection is dropped: closed.
                    let Some((held, _)) = this.cap.admit(&tcp) else {
                        continue;
                    };
                    let now = tokio::time::Instant::now();
                    let deadline = now + this.deadlines.first_bytes;
                    let idle = this.deadlines.unauthenticated_idle;
                    let acceptor = this.acceptor.clone();
                    this.handshakes.spawn(async move {
                        let tls = tokio::time::timeout_at(deadline, acceptor.accept(tcp))
                            .await
                            .map_err(|_| {
                                std::io::Error::new(
                                    std::io::ErrorKind::TimedOut,
                                    "the TLS handshake did not finish in time",
                                )
                            })??;
                        Ok(FirstBytes::until(tls, deadline)
                            .idle_unless_authed(now, idle)
                            .holding(held))
                    });
                }
                // Passed on as tonic's own stream would; from `Paced` none come (it logs and
                // pauses), but `Handshakes` takes any accepts.
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Deadlines with only the preface's in reach of a test: a request with a token is owed in
    /// an hour.
    fn preface_only(first_bytes: Duration) -> Deadlines {
        Deadlines {
            first_bytes,
            unauthenticated_idle: Duration::from_secs(3600),
        }
    }

    fn unbounded() -> http::Cap {
        cap(usize::MAX, usize::MAX, Arc::new(Metrics::default()))
    }

    /// A connected pair: the server's side wrapped.
    async fn pair(timeout: Duration) -> (FirstBytes<tokio::net::TcpStream>, tokio::net::TcpStream) {
        let (l, addr) = bound().await;
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (server, _) = l.accept().await.expect("accept");
        (FirstBytes::new(server, timeout), client)
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_fails_at_its_deadline() {
        let deadline = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let (mut server, _client) = pair(deadline).await;
        fails_at(&mut server, started, deadline).await;
    }

    #[tokio::test]
    async fn one_byte_short_of_the_preface_still_fails_and_the_preface_frees_it() {
        let deadline = Duration::from_millis(300);
        // cap - 1 bytes: still owed one at the deadline.
        let (mut server, mut client) = pair(deadline).await;
        client
            .write_all(&[b'P'; FIRST_BYTES - 1])
            .await
            .expect("write");
        let mut buf = [0u8; 64];
        let mut got = 0;
        let e = loop {
            let read = tokio::time::timeout(Duration::from_secs(10), server.read(&mut buf));
            match read.await.expect("an answer within 10 s") {
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert_eq!(
            (got, e.kind()),
            (FIRST_BYTES - 1, std::io::ErrorKind::TimedOut)
        );
        // The preface (cap) in two writes: read, and no deadline after it, however long the
        // connection then idles.
        let (mut server, mut client) = pair(deadline).await;
        client.write_all(&[b'P'; 10]).await.expect("write");
        client
            .write_all(&[b'P'; FIRST_BYTES - 10])
            .await
            .expect("write");
        let mut got = 0;
        while got < FIRST_BYTES {
            got += server.read(&mut buf).await.expect("the preface");
        }
        let idle = tokio::time::timeout(2 * deadline, server.read(&mut buf)).await;
        assert!(idle.is_err(), "still waiting past the deadline: {idle:?}");
        client.write_all(b"x").await.expect("write");
        assert_eq!(server.read(&mut buf).await.expect("read"), 1);
        // Writes pass through, and the peer's address is the connection's.
        server.write_all(b"ok").await.expect("write");
        let mut two = [0u8; 2];
        client.read_exact(&mut two).await.expect("read");
        assert_eq!(&two, b"ok");
        let info = server.connect_info();
        assert_eq!(info.info.remote_addr(), client.local_addr().ok());
    }

    /// After its preface a connection on which no request has carried a token is closed (its
    /// read fails) at the end of a period in which it started no request, idle or reading (a
    /// client's HTTP/2 stack answers the server's pings, which are reads too); a request
    /// started in a period earns it the next; one carrying a token ends the watch.
    #[tokio::test]
    async fn a_connection_without_a_token_is_closed_after_a_period_without_requests() {
        let period = Duration::from_millis(800);
        let mut buf = [0u8; 64];
        let watched = |started: std::time::Instant, server: FirstBytes<tokio::net::TcpStream>| {
            server.idle_unless_authed(tokio::time::Instant::from_std(started), period)
        };
        async fn preface(
            server: &mut FirstBytes<tokio::net::TcpStream>,
            client: &mut tokio::net::TcpStream,
        ) {
            client.write_all(&[b'P'; FIRST_BYTES]).await.expect("write");
            let mut buf = [0u8; FIRST_BYTES];
            server.read_exact(&mut buf).await.expect("the preface");
        }
        // Idle after its preface: closed at the end of the first period.
        let started = std::time::Instant::now();
        let (server, mut client) = pair(Duration::from_secs(10)).await;
        let mut server = watched(started, server);
        preface(&mut server, &mut client).await;
        fails_at(&mut server, started, period).await;
        // Sending bytes (pings' answers), no request: read until the period ends, then closed.
        let started = std::time::Instant::now();
        let (server, mut client) = pair(Duration::from_secs(10)).await;
        let mut server = watched(started, server);
        preface(&mut server, &mut client).await;
        client.write_all(b"x").await.expect("write");
        assert_eq!(server.read(&mut buf).await.expect("within the period"), 1);
        tokio::time::sleep_until(tokio::time::Instant::from_std(started) + period).await;
        client.write_all(b"y").await.expect("write");
        let e = server.read(&mut buf).await.expect_err("past the period");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        // A request (no token) in the first period earns a second: closed at its end, not
        // before.
        let started = std::time::Instant::now();
        let (server, mut client) = pair(Duration::from_secs(10)).await;
        let mut server = watched(started, server);
        preface(&mut server, &mut client).await;
        server.connect_info().standing.request();
        fails_at(&mut server, started, 2 * period).await;
        // A request with a token: read past any period, idle or not.
        let started = std::time::Instant::now();
        let (server, mut client) = pair(Duration::from_secs(10)).await;
        let mut server = watched(started, server);
        preface(&mut server, &mut client).await;
        server.connect_info().standing.authed();
        let idle = tokio::time::timeout(3 * period, server.read(&mut buf)).await;
        assert!(idle.is_err(), "still waiting past the periods: {idle:?}");
        client.write_all(b"x").await.expect("write");
        assert_eq!(server.read(&mut buf).await.expect("read"), 1);
    }

    /// A listener on 127.0.0.1 and its address.
    async fn bound() -> (tokio::net::TcpListener, std::net::SocketAddr) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        (l, addr)
    }

    /// A listener, a server config for a fresh `localhost` certificate, and a client trusting
    /// it that offers h2.
    struct TlsSetup {
        l: tokio::net::TcpListener,
        addr: std::net::SocketAddr,
        config: Arc<rustls::ServerConfig>,
        h2: tokio_rustls::TlsConnector,
        /// The certificate (PEM).
        ca: String,
    }

    async fn tls_setup() -> TlsSetup {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let config = tls_config(
            ck.cert.pem().as_bytes(),
            ck.signing_key.serialize_pem().as_bytes(),
        )
        .expect("config");
        let (l, addr) = bound().await;
        let ca = ck.cert.pem();
        let h2 = sentientiq_testkit::tls::connector(ca.as_bytes(), &[b"h2"]);
        TlsSetup {
            l,
            addr,
            config: Arc::new(config),
            h2,
            ca,
        }
    }

    /// A TLS listener at `deadline`, its address and a client trusting it that offers h2.
    async fn tls_listener(
        deadline: Duration,
    ) -> (
        Handshakes<http::Paced<tonic::transport::server::TcpIncoming>>,
        std::net::SocketAddr,
        tokio_rustls::TlsConnector,
        String,
    ) {
        let t = tls_setup().await;
        (
            tls(t.l, preface_only(deadline), t.config, unbounded()),
            t.addr,
            t.h2,
            t.ca,
        )
    }

    async fn handshake(
        addr: std::net::SocketAddr,
        connector: &tokio_rustls::TlsConnector,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        sentientiq_testkit::tls::connect(addr, connector)
            .await
            .expect("handshake")
    }

    /// `server`'s read fails as timed out, not before `deadline` from `started`.
    async fn fails_at(
        server: &mut (impl AsyncRead + Unpin),
        started: std::time::Instant,
        deadline: Duration,
    ) {
        let mut buf = [0u8; 64];
        let e = tokio::time::timeout(Duration::from_secs(10), server.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .expect_err("timed out");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= deadline, "{:?}", started.elapsed());
    }

    /// Over TLS the preface is owed through the TLS: a client that finishes its handshake and
    /// sends nothing fails at the deadline counted from its accept (it held its connection for
    /// ever when tonic did the TLS), and one that sends the preface is then left alone.
    #[tokio::test]
    async fn over_tls_a_client_silent_after_its_handshake_fails_at_its_deadline() {
        let deadline = Duration::from_secs(2);
        let (mut incoming, addr, h2, _) = tls_listener(deadline).await;
        // Its ClientHello at 0.6 of the deadline, then nothing: closed at the deadline from
        // the accept, not a deadline's length after the handshake.
        let started = std::time::Instant::now();
        let client = async {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tokio::time::sleep(deadline * 3 / 5).await;
            sentientiq_testkit::tls::over(tcp, &h2)
                .await
                .expect("handshake")
        };
        let (client, mut server) = tokio::join!(client, taken(&mut incoming));
        assert_eq!(server.io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        assert_eq!(
            server.connect_info().info.get_ref().remote_addr(),
            client.get_ref().0.local_addr().ok()
        );
        fails_at(&mut server, started, deadline).await;
        assert!(
            started.elapsed() < deadline * 3 / 2,
            "{:?}",
            started.elapsed()
        );

        // The preface (cap) through the TLS in two writes, the first cap - 1 bytes: read, and
        // then no deadline however long the connection idles past it.
        let mut buf = [0u8; 64];
        let started = std::time::Instant::now();
        let (mut client, mut server) = tokio::join!(handshake(addr, &h2), taken(&mut incoming));
        client
            .write_all(&[b'P'; FIRST_BYTES - 1])
            .await
            .expect("write");
        client.flush().await.expect("flush");
        let mut got = 0;
        while got < FIRST_BYTES - 1 {
            got += server.read(&mut buf).await.expect("cap - 1 bytes");
        }
        client.write_all(b"P").await.expect("write");
        client.flush().await.expect("flush");
        assert_eq!(server.read(&mut buf).await.expect("the last byte"), 1);
        let past = tokio::time::Instant::from_std(started) + deadline + Duration::from_millis(500);
        let idle = tokio::time::timeout_at(past, server.read(&mut buf)).await;
        assert!(idle.is_err(), "still waiting past the deadline: {idle:?}");
        server.write_all(b"ok").await.expect("write");
        server.flush().await.expect("flush");
        let mut two = [0u8; 2];
        client.read_exact(&mut two).await.expect("read");
        assert_eq!(&two, b"ok");
    }

    /// A client that never starts its handshake holds no other back, and is closed at the
    /// deadline; one that does not offer h2 is refused.
    #[tokio::test]
    async fn over_tls_a_silent_handshake_holds_no_other_back_and_is_closed() {
        use tokio_stream::StreamExt;
        let deadline = Duration::from_secs(2);
        let (mut incoming, addr, h2, ca) = tls_listener(deadline).await;
        let started = std::time::Instant::now();
        let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // The stream is polled by its own task, as the server does.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            while let Some(c) = incoming.next().await {
                if tx.send(c).is_err() {
                    break;
                }
            }
        });
        let _client = handshake(addr, &h2).await;
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the second client's connection, while the first is silent")
            .expect("a connection")
            .expect("handshake done");
        drop(first);
        assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf))
            .await
            .expect("closed within 10 s");
        assert!(
            matches!(closed, Ok(0)) || closed.is_err(),
            "closed, not {closed:?}"
        );
        assert!(started.elapsed() >= deadline, "{:?}", started.elapsed());
        // No h2 offered: no common protocol, no connection.
        let http1 = sentientiq_testkit::tls::connector(ca.as_bytes(), &[b"http/1.1"]);
        let refused = sentientiq_testkit::tls::connect(addr, &http1).await;
        assert!(refused.is_err(), "http/1.1 only was served");
        let none = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(none.is_err(), "no connection: {none:?}");
        server.abort();
    }

    /// A listener that fails at every accept after one (out of descriptors, say) does not hold
    /// back the connection whose handshake has finished: it is handed on between the errors.
    #[tokio::test]
    async fn a_failing_listener_holds_no_finished_handshake_back() {
        use tokio_stream::StreamExt;
        let TlsSetup {
            l,
            addr,
            config,
            h2,
            ..
        } = tls_setup().await;
        let client = tokio::spawn(async move { handshake(addr, &h2).await });
        let (tcp, _) = l.accept().await.expect("accept");
        // EMFILE for ever after the one connection.
        let accepts =
            tokio_stream::iter(std::iter::once(Ok(tcp)).chain(std::iter::repeat_with(|| {
                Err(std::io::Error::from_raw_os_error(24))
            })));
        let mut incoming = Handshakes::over(
            accepts,
            preface_only(Duration::from_secs(10)),
            config,
            unbounded(),
        );
        let handed = tokio::time::timeout(Duration::from_secs(10), async {
            let mut errors = 0u64;
            loop {
                match incoming.next().await.expect("no end") {
                    Ok(conn) => break (conn, errors),
                    Err(_) => errors += 1,
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the finished handshake, within 10 s");
        assert!(handed.1 > 0, "the listener's errors were passed on");
        let _client = client.await.expect("the client");
    }

    /// The next connection `incoming` hands on, within 10 s.
    async fn taken<S, T>(incoming: &mut S) -> T
    where
        S: tokio_stream::Stream<Item = std::io::Result<T>> + Unpin,
    {
        use tokio_stream::StreamExt;
        tokio::time::timeout(Duration::from_secs(10), incoming.next())
            .await
            .expect("a connection within 10 s")
            .expect("a connection")
            .expect("its accept")
    }

    /// Over TLS the same period runs from the accept: a client that finishes its handshake and
    /// sends its preface through the TLS, then no request, fails its read at the period's end;
    /// its requests find the connection's standing in a `Peer` of TLS's connection info.
    #[tokio::test]
    async fn over_tls_a_connection_without_a_token_is_closed_after_a_period_without_requests() {
        let period = Duration::from_millis(800);
        let t = tls_setup().await;
        let deadlines = Deadlines {
            first_bytes: Duration::from_secs(10),
            unauthenticated_idle: period,
        };
        let mut incoming = tls(t.l, deadlines, t.config, unbounded());
        let started = std::time::Instant::now();
        let (mut client, mut server) = tokio::join!(handshake(t.addr, &t.h2), taken(&mut incoming));
        client.write_all(&[b'P'; FIRST_BYTES]).await.expect("write");
        client.flush().await.expect("flush");
        let mut buf = [0u8; FIRST_BYTES];
        server.read_exact(&mut buf).await.expect("the preface");
        let info = server.connect_info();
        assert_eq!(
            info.info.get_ref().remote_addr(),
            client.get_ref().0.local_addr().ok()
        );
        assert_eq!(info.standing.requests(), 0);
        fails_at(&mut server, started, period).await;
    }

    /// At the cap (2 here) a connection is closed at its accept and counted; a close frees a
    /// place. Over TLS the same, before any handshake; and a handshake that fails gives its
    /// place back. From one address at most `max_per_address`.
    #[tokio::test]
    async fn connections_past_the_cap_are_closed_at_their_accept() {
        use tokio_stream::StreamExt;
        let metrics = Arc::new(Metrics::default());
        let (l, addr) = bound().await;
        let mut incoming = Box::pin(first_bytes(
            l,
            preface_only(Duration::from_secs(10)),
            cap(2, 2, metrics.clone()),
        ));
        let connect = || tokio::net::TcpStream::connect(addr);
        // cap - 1 and cap: taken.
        let mut clients = vec![connect().await.expect("connect")];
        let first = taken(&mut incoming).await;
        clients.push(connect().await.expect("connect"));
        let second = taken(&mut incoming).await;
        assert_eq!(metrics.grpc_connections.load(Relaxed), 2);
        // cap + 1: accepted, closed, nothing handed on.
        let mut third = connect().await.expect("connect");
        let nothing = tokio::time::timeout(Duration::from_secs(1), incoming.next()).await;
        assert!(nothing.is_err(), "nothing handed on past the cap");
        assert_eq!(metrics.grpc_refused_all.load(Relaxed), 1);
        let mut buf = [0u8; 8];
        let closed = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf))
            .await
            .expect("closed within 10 s");
        assert!(matches!(closed, Ok(0)) || closed.is_err(), "{closed:?}");
        // A close frees a place.
        drop(first);
        assert_eq!(metrics.grpc_connections.load(Relaxed), 1);
        clients.push(connect().await.expect("connect"));
        let fourth = taken(&mut incoming).await;
        assert_eq!(metrics.grpc_connections.load(Relaxed), 2);
        drop((second, fourth));
        assert_eq!(metrics.grpc_connections.load(Relaxed), 0);

        // Over TLS, at a cap of 1: the second connection is closed before its handshake.
        let TlsSetup {
            l,
            addr,
            config,
            h2,
            ..
        } = tls_setup().await;
        let metrics = Arc::new(Metrics::default());
        let mut incoming = tls(
            l,
            preface_only(Duration::from_secs(10)),
            config,
            cap(1, 1, metrics.clone()),
        );
        let (_client, held) = tokio::join!(handshake(addr, &h2), taken(&mut incoming));
        let (refused, nothing) = tokio::join!(
            sentientiq_testkit::tls::connect(addr, &h2),
            tokio::time::timeout(Duration::from_secs(1), incoming.next())
        );
        assert!(refused.is_err(), "a handshake past the cap");
        assert!(nothing.is_err(), "nothing handed on past the cap");
        assert_eq!(
            (
                metrics.grpc_connections.load(Relaxed),
                metrics.grpc_refused_all.load(Relaxed)
            ),
            (1, 1)
        );
        drop(held);
        assert_eq!(metrics.grpc_connections.load(Relaxed), 0);
        // A client gone before its handshake ends: its place comes back.
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let _ = tokio::time::timeout(Duration::from_millis(300), incoming.next()).await;
        assert_eq!(metrics.grpc_connections.load(Relaxed), 1);
        drop(tcp);
        let mut back = false;
        for _ in 0..100 {
            let _ = tokio::time::timeout(Duration::from_millis(100), incoming.next()).await;
            back = metrics.grpc_connections.load(Relaxed) == 0;
            if back {
                break;
            }
        }
        assert!(back, "the failed handshake's place given back");

        // Per address, at 1 of a cap of 10: a second connection from 127.0.0.1 is closed, one
        // from 127.0.0.2 is not.
        let l = tokio::net::TcpListener::bind("0.0.0.0:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let metrics = Arc::new(Metrics::default());
        let mut incoming = Box::pin(first_bytes(
            l,
            preface_only(Duration::from_secs(10)),
            cap(10, 1, metrics.clone()),
        ));
        let from = |ip: [u8; 4]| async move {
            let s = tokio::net::TcpSocket::new_v4().expect("socket");
            s.bind((ip, 0).into()).expect("bind");
            s.connect(([127, 0, 0, 1], port).into())
                .await
                .expect("connect")
        };
        let _one = from([127, 0, 0, 1]).await;
        let one = taken(&mut incoming).await;
        let _again = from([127, 0, 0, 1]).await;
        let nothing = tokio::time::timeout(Duration::from_secs(1), incoming.next()).await;
        assert!(nothing.is_err(), "nothing handed on past the address's cap");
        let _other = from([127, 0, 0, 2]).await;
        let other = taken(&mut incoming).await;
        assert_eq!(
            (
                metrics.grpc_connections.load(Relaxed),
                metrics.grpc_refused_address.load(Relaxed),
                metrics.grpc_refused_all.load(Relaxed)
            ),
            (2, 1, 0)
        );
        drop((one, other));
    }

    /// One poll of [`Handshakes`] takes at most [`ACCEPTS_PER_POLL`] accepts, then wakes its
    /// task to come back: at cap − 1 every ready connection is taken in one poll and the stream
    /// ends; at cap the first poll takes them all and the next sees the end; at cap + 1 the
    /// last waits for the next poll.
    #[tokio::test]
    async fn one_poll_takes_at_most_accepts_per_poll_connections() {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        use tokio_stream::Stream;
        struct Woken(AtomicBool);
        impl std::task::Wake for Woken {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Relaxed);
            }
        }
        let t = tls_setup().await;
        for n in [ACCEPTS_PER_POLL - 1, ACCEPTS_PER_POLL, ACCEPTS_PER_POLL + 1] {
            // n accepted connections, ready at once; their handshakes never start.
            let mut ready = Vec::new();
            let mut clients = Vec::new();
            for _ in 0..n {
                clients.push(
                    tokio::net::TcpStream::connect(t.addr)
                        .await
                        .expect("connect"),
                );
                ready.push(Ok(t.l.accept().await.expect("accept").0));
            }
            let taken = Arc::new(AtomicUsize::new(0));
            let counted = taken.clone();
            let incoming = tokio_stream::StreamExt::map(tokio_stream::iter(ready), move |c| {
                counted.fetch_add(1, Relaxed);
                c
            });
            let mut s = Handshakes::over(
                incoming,
                preface_only(Duration::from_secs(60)),
                t.config.clone(),
                unbounded(),
            );
            let woken = Arc::new(Woken(AtomicBool::new(false)));
            let waker = std::task::Waker::from(woken.clone());
            let polled = Pin::new(&mut s).poll_next(&mut Context::from_waker(&waker));
            match n >= ACCEPTS_PER_POLL {
                true => {
                    assert!(polled.is_pending(), "{n}");
                    assert_eq!(taken.load(Relaxed), ACCEPTS_PER_POLL, "{n}");
                    assert!(woken.0.load(Relaxed), "{n}: its task woken to come back");
                    let polled = Pin::new(&mut s).poll_next(&mut Context::from_waker(&waker));
                    assert!(polled.is_ready(), "{n}: the stream ends");
                }
                false => {
                    assert!(polled.is_ready(), "{n}: the stream ends");
                    assert!(!woken.0.load(Relaxed), "{n}");
                }
            }
            assert_eq!(taken.load(Relaxed), n);
            drop((s, clients));
        }
    }

    #[test]
    fn tls_config_says_what_is_wrong_with_its_files() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
        assert!(tls_config(cert.as_bytes(), key.as_bytes()).is_ok());
        let fault = |cert: &str, key: &str| {
            tls_config(cert.as_bytes(), key.as_bytes())
                .expect_err("refused")
                .to_string()
        };
        let broken = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        let cut = &cert[..cert.len() / 2];
        // The key of another certificate.
        let other = rcgen::generate_simple_self_signed(vec!["x".to_string()]).expect("cert");
        let other_key = other.signing_key.serialize_pem();
        // A PKCS#8 block of bytes that are not a key.
        let nonsense_key =
            "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
        for (cert, key, want) in [
            (
                "",
                key.as_str(),
                "the certificate file holds no certificate",
            ),
            (
                "no PEM here",
                key.as_str(),
                "the certificate file holds no certificate",
            ),
            (
                broken,
                key.as_str(),
                "the certificate file has a PEM section that is not base64",
            ),
            (
                cut,
                key.as_str(),
                "the certificate file is cut short: a PEM section has no END line",
            ),
            (cert.as_str(), "", "the key file holds no private key"),
            (
                cert.as_str(),
                &key[..key.len() / 2],
                "the key file is cut short",
            ),
            (
                cert.as_str(),
                nonsense_key,
                "the key file holds a key that cannot be used: ",
            ),
            (
                cert.as_str(),
                other_key.as_str(),
                "the certificate and key: the key is not the certificate's",
            ),
        ] {
            let e = fault(cert, key);
            assert!(e.starts_with(want), "{want}: {e}");
        }
    }
}
