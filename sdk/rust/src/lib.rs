//! A Rust client for SentientIQ edges over QUIC (`siq/1`, PROTOCOL.md §2).
//!
//! One QUIC connection carries any number of sessions, one bidirectional stream each, every
//! frame prefixed by its length as a u32 big-endian. A server-side SDK opens many sessions on
//! one [`Connection`]; a browser-like client opens one connection per session. The loadgen and
//! the edge's tests use this crate.
//!
//! ```no_run
//! # async fn f(hello: sentientiq_proto::Hello) -> Result<(), sentientiq_client::Error> {
//! use sentientiq_client::{Client, Trust};
//! let client = Client::new("0.0.0.0:0".parse().unwrap(), Trust::Pin("ab12…".into()))?;
//! let conn = client.connect("127.0.0.1:7401".parse().unwrap(), "localhost").await?;
//! let (mut session, welcome) = conn.open_session(&hello).await?;
//! # Ok(()) }
//! ```
//!
//! Trust is either a pinned SHA-256 fingerprint of the edge's certificate (what an edge with a
//! self-signed certificate prints and writes to `data_dir/quic/cert.sha256`) or CA
//! certificates in PEM.
//!
//! 0-RTT: a client that has talked to an edge before holds a session ticket, and
//! [`Client::connect_0rtt`] sends its first frames in the first flight. 0-RTT data can be
//! replayed by an attacker; every `siq/1` client frame is idempotent (the edge dedups by
//! `(tenant, sid, seq)`), so a replay changes nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sentientiq_proto::stream::{Deframer, encode_prefixed};
use sentientiq_proto::{
    ClientFrame, DecodeError, EdgeFrame, Hello, Limits, Welcome, client_to_vec, decode_edge,
};
use sha2::{Digest, Sha256};

pub use sentientiq_proto::stream::ALPN;
/// QUIC application error codes: the WebSocket close codes (PROTOCOL.md §6); a refusal's is
/// its [`sentientiq_proto::ErrorCode::ws_close_code`].
pub use sentientiq_proto::stream::close as code;

/// How the client trusts the edge's certificate.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The certificate's SHA-256 fingerprint, hex (colons and case ignored).
    Pin(String),
    /// Any of these fingerprints (several edges, each with its own self-signed certificate).
    Pins(Vec<String>),
    /// CA certificates, PEM.
    CaPem(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("certificate pin `{0}` is not 64 hex digits")]
    BadPin(String),
    #[error("no certificate in the CA PEM")]
    NoCa,
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("read: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("the edge sent {0}")]
    TooBig(#[from] sentientiq_proto::stream::TooBig),
    #[error("undecodable edge frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("refused: {} ({})", .0.code.as_str(), .0.msg)]
    Refused(sentientiq_proto::Err),
    #[error("the stream ended before the edge answered hello")]
    NoWelcome,
    #[error("no welcome within {0:?}")]
    Timeout(Duration),
}

/// quinn's tokio runtime, on a given runtime rather than the caller's ([`Client::with_socket_on`]).
#[derive(Debug)]
struct OnRuntime(tokio::runtime::Handle);

impl quinn::Runtime for OnRuntime {
    fn new_timer(&self, at: std::time::Instant) -> std::pin::Pin<Box<dyn quinn::AsyncTimer>> {
        let _in = self.0.enter();
        quinn::TokioRuntime.new_timer(at)
    }

    fn spawn(&self, future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) {
        self.0.spawn(future);
    }

    fn wrap_udp_socket(
        &self,
        socket: std::net::UdpSocket,
    ) -> std::io::Result<Arc<dyn quinn::AsyncUdpSocket>> {
        // Registered with `io`'s reactor, where the endpoint's driver polls it.
        let _in = self.0.enter();
        quinn::TokioRuntime.wrap_udp_socket(socket)
    }

    fn now(&self) -> std::time::Instant {
        quinn::TokioRuntime.now()
    }
}

/// A QUIC endpoint for talking to edges: one UDP socket, any number of connections.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: quinn::Endpoint,
}

impl Client {
    /// A client endpoint on `bind` (e.g. `0.0.0.0:0`). Needs a tokio runtime.
    pub fn new(bind: SocketAddr, trust: Trust) -> Result<Client, Error> {
        Client::with_socket(std::net::UdpSocket::bind(bind)?, trust)
    }

    /// A client endpoint on an existing socket.
    pub fn with_socket(socket: std::net::UdpSocket, trust: Trust) -> Result<Client, Error> {
        Client::with_receive_window(socket, trust, None)
    }

    /// As [`Client::with_socket`], with each stream's receive window set to `bytes` (quinn's
    /// default when `None`): what the edge may send on one session before the client reads.
    pub fn with_receive_window(
        socket: std::net::UdpSocket,
        trust: Trust,
        bytes: Option<u32>,
    ) -> Result<Client, Error> {
        let runtime = quinn::default_runtime()
            .ok_or_else(|| std::io::Error::other("no tokio runtime for the QUIC client"))?;
        Client::build(socket, trust, bytes, runtime)
    }

    /// As [`Client::with_socket`], with the client's I/O (its socket, its connections' QUIC
    /// state and timers) driven by the tokio runtime behind `io` instead of the caller's. A
    /// caller whose own thread is busy keeps its connections read and acknowledged on another:
    /// the loadgen's one session thread, reading 10 000 connections' datagrams as well, fell
    /// behind by seconds (`bench/runs/2026-12-02-vm/quic-10k-tail/`).
    pub fn with_socket_on(
        socket: std::net::UdpSocket,
        trust: Trust,
        io: tokio::runtime::Handle,
    ) -> Result<Client, Error> {
        Client::build(socket, trust, None, Arc::new(OnRuntime(io)))
    }

    fn build(
        socket: std::net::UdpSocket,
        trust: Trust,
        bytes: Option<u32>,
        runtime: Arc<dyn quinn::Runtime>,
    ) -> Result<Client, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?;
        let pins = match &trust {
            Trust::Pin(hex) => vec![parse_pin(hex)?],
            Trust::Pins(v) => v.iter().map(|h| parse_pin(h)).collect::<Result<_, _>>()?,
            Trust::CaPem(_) => Vec::new(),
        };
        let mut tls = match trust {
            Trust::Pin(_) | Trust::Pins(_) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { pins, provider }))
                .with_no_client_auth(),
            Trust::CaPem(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(&pem) {
                    let c = c.map_err(|_| Error::NoCa)?;
                    roots.add(c)?;
                }
                if roots.is_empty() {
                    return Err(Error::NoCa);
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        tls.alpn_protocols = vec![ALPN.to_vec()];
        tls.enable_early_data = true;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(Duration::from_secs(10)));
        transport.max_concurrent_uni_streams(0u8.into());
        if let Some(b) = bytes {
            transport.stream_receive_window(b.into());
        }
        cfg.transport_config(Arc::new(transport));
        let mut endpoint =
            quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)?;
        endpoint.set_default_client_config(cfg);
        Ok(Client { endpoint })
    }

    /// Connects with a full handshake (or 1-RTT resumption).
    pub async fn connect(&self, edge: SocketAddr, server_name: &str) -> Result<Connection, Error> {
        let c = self.endpoint.connect(edge, server_name)?.await?;
        Ok(Connection {
            inner: c,
            zero_rtt: None,
        })
    }

    /// Connects and, when a ticket from an earlier connection to this edge is held, returns at
    /// once so that the first frames go as 0-RTT data. [`Connection::zero_rtt`] tells whether
    /// 0-RTT was attempted; [`Connection::zero_rtt_accepted`] whether the edge took it (if not,
    /// the streams opened before are void and [`Connection::open_session`] fails; reconnect).
    pub async fn connect_0rtt(
        &self,
        edge: SocketAddr,
        server_name: &str,
    ) -> Result<Connection, Error> {
        let connecting = self.endpoint.connect(edge, server_name)?;
        match connecting.into_0rtt() {
            Ok((c, accepted)) => Ok(Connection {
                inner: c,
                zero_rtt: Some(tokio::sync::Mutex::new(Some(accepted))),
            }),
            Err(connecting) => Ok(Connection {
                inner: connecting.await?,
                zero_rtt: None,
            }),
        }
    }

    /// Moves every connection to a new local socket (a phone changing networks): the edge sees
    /// the same connections arrive from a new address.
    pub fn rebind(&self, socket: std::net::UdpSocket) -> Result<(), Error> {
        Ok(self.endpoint.rebind(socket)?)
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.endpoint.local_addr()?)
    }

    /// Waits until every connection is closed and its close is sent.
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

/// One QUIC connection to an edge.
pub struct Connection {
    inner: quinn::Connection,
    zero_rtt: Option<tokio::sync::Mutex<Option<quinn::ZeroRttAccepted>>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("remote", &self.inner.remote_address())
            .field("zero_rtt", &self.zero_rtt.is_some())
            .finish()
    }
}

impl Connection {
    /// Opens a session: a new stream, `hello`, then waits (up to 10 s) for `welcome`. A refusal
    /// (`err`) is [`Error::Refused`].
    pub async fn open_session(&self, hello: &Hello) -> Result<(Session, Welcome), Error> {
        let mut s = self.open_stream().await?;
        s.send(&ClientFrame::Hello(hello.clone())).await?;
        let wait = Duration::from_secs(10);
        let w = tokio::time::timeout(wait, async {
            loop {
                match s.recv().await? {
                    Some(EdgeFrame::Welcome(w)) => return Ok(w),
                    Some(EdgeFrame::Err(e)) => return Err(Error::Refused(e)),
                    Some(_) => {}
                    None => return Err(Error::NoWelcome),
                }
            }
        })
        .await
        .map_err(|_| Error::Timeout(wait))??;
        Ok((s, w))
    }

    /// Opens a bare stream (nothing sent yet).
    pub async fn open_stream(&self) -> Result<Session, Error> {
        let (send, recv) = self.inner.open_bi().await?;
        Ok(Session {
            tx: SendHalf { send },
            rx: RecvHalf {
                recv,
                deframer: Deframer::new(Limits::DEFAULT.max_frame_bytes),
            },
        })
    }

    /// Whether this connection attempted 0-RTT.
    pub fn zero_rtt(&self) -> bool {
        self.zero_rtt.is_some()
    }

    /// Whether the edge accepted this connection's 0-RTT data (waits for the handshake);
    /// false when 0-RTT was not attempted.
    pub async fn zero_rtt_accepted(&self) -> bool {
        let Some(m) = &self.zero_rtt else {
            return false;
        };
        let Some(f) = m.lock().await.take() else {
            return true;
        };
        f.await
    }

    /// Closes the connection with an application error code (see [`code`]).
    pub fn close(&self, code: u32, reason: &str) {
        self.inner.close(code.into(), reason.as_bytes());
    }

    /// Whether the connection has closed (for any reason).
    pub fn is_closed(&self) -> bool {
        self.inner.close_reason().is_some()
    }

    /// Why the connection closed, once it has.
    pub async fn closed(&self) -> quinn::ConnectionError {
        self.inner.closed().await
    }

    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// Round-trip time and packet counters.
    pub fn stats(&self) -> quinn::ConnectionStats {
        self.inner.stats()
    }
}

/// One session: a bidirectional stream of length-prefixed frames.
#[derive(Debug)]
pub struct Session {
    tx: SendHalf,
    rx: RecvHalf,
}

/// The sending side of a session (see [`Session::split`]).
#[derive(Debug)]
pub struct SendHalf {
    send: quinn::SendStream,
}

/// The receiving side of a session (see [`Session::split`]).
#[derive(Debug)]
pub struct RecvHalf {
    recv: quinn::RecvStream,
    deframer: Deframer,
}

impl Session {
    /// Separate halves, to send and receive from different tasks.
    pub fn split(self) -> (SendHalf, RecvHalf) {
        (self.tx, self.rx)
    }

    /// Sends one frame.
    pub async fn send(&mut self, f: &ClientFrame) -> Result<(), Error> {
        self.tx.send(f).await
    }

    /// Sends one encoded frame with its length prefix.
    pub async fn send_frame(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.tx.send_frame(frame).await
    }

    /// Sends bytes as they are (no prefix): for testing how the edge handles bad framing.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.tx.send_raw(bytes).await
    }

    /// The next edge frame; `None` when the edge finished the stream. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<EdgeFrame>, Error> {
        self.rx.recv().await
    }

    /// The next edge frame's bytes; `None` when the edge finished the stream. Cancel-safe.
    pub async fn recv_frame(&mut self) -> Result<Option<Vec<u8>>, Error> {
        self.rx.recv_frame().await
    }

    /// Ends the client's side: no more frames. The edge ends the session once everything sent
    /// is acknowledged.
    pub fn finish(&mut self) {
        self.tx.finish();
    }

    /// Abandons the stream without ending the session (the edge keeps what was acked).
    pub fn reset(&mut self, code: u32) {
        let _ = self.tx.send.reset(code.into());
        let _ = self.rx.recv.stop(code.into());
    }
}

impl SendHalf {
    /// Sends one frame.
    pub async fn send(&mut self, f: &ClientFrame) -> Result<(), Error> {
        self.send_frame(&client_to_vec(f)).await
    }

    /// Sends one encoded frame with its length prefix.
    pub async fn send_frame(&mut self, frame: &[u8]) -> Result<(), Error> {
        let mut b = Vec::with_capacity(4 + frame.len());
        encode_prefixed(frame, &mut b);
        self.send_raw(&b).await
    }

    /// Sends bytes as they are (no prefix): for testing how the edge handles bad framing.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.send.write_all(bytes).await.map_err(|e| match e {
            quinn::WriteError::ConnectionLost(c) => Error::Connection(c),
            e => Error::Write(e),
        })
    }

    /// Ends the client's side: no more frames.
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }

    /// Waits until the edge stops reading this stream, and returns its error code (see
    /// [`code`]). `None` if the stream ended normally, or its state is already gone: call it
    /// before reading the stream to its end.
    pub async fn stopped(&mut self) -> Option<u32> {
        match self.send.stopped().await {
            Ok(Some(c)) => u32::try_from(c.into_inner()).ok(),
            _ => None,
        }
    }
}

impl RecvHalf {
    /// The next edge frame; `None` when the edge finished the stream. Cancel-safe: dropping it
    /// loses nothing (partial frames stay buffered).
    pub async fn recv(&mut self) -> Result<Option<EdgeFrame>, Error> {
        loop {
            if let Some(f) = self.deframer.next_frame()? {
                return Ok(Some(decode_edge(f, &Limits::DEFAULT)?));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next edge frame's bytes; `None` when the edge finished the stream. Cancel-safe.
    pub async fn recv_frame(&mut self) -> Result<Option<Vec<u8>>, Error> {
        loop {
            if let Some(f) = self.deframer.next_frame()? {
                return Ok(Some(f.to_vec()));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Reads what arrived into the deframer; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, Error> {
        match self.recv.read_chunk(64 * 1024, true).await? {
            Some(c) => {
                self.deframer.push(&c.bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

fn parse_pin(s: &str) -> Result<[u8; 32], Error> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    let v = hex::decode(clean.trim()).map_err(|_| Error::BadPin(s.to_string()))?;
    v.try_into().map_err(|_| Error::BadPin(s.to_string()))
}

/// The SHA-256 fingerprint of a DER certificate, lowercase hex: what a pin compares.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Accepts exactly the certificates whose SHA-256 is pinned (the handshake signature is still
/// verified with its key, so only the holder of that key passes).
#[derive(Debug)]
struct Pinned {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Sha256::digest(end_entity.as_ref());
        if self.pins.iter().any(|p| got.as_slice() == p) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_64_hex_digits_with_optional_colons() {
        let h = "ab".repeat(32);
        assert_eq!(parse_pin(&h).expect("pin"), [0xab; 32]);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&colons).expect("pin"), [0xab; 32]);
        assert!(matches!(parse_pin(&"ab".repeat(31)), Err(Error::BadPin(_))));
        assert!(matches!(parse_pin(&"ab".repeat(33)), Err(Error::BadPin(_))));
        assert!(matches!(parse_pin("zz"), Err(Error::BadPin(_))));
    }

    #[test]
    fn a_ca_pem_without_certificates_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let _g = rt.enter();
        let bind: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        assert!(matches!(
            Client::new(bind, Trust::CaPem(b"not a pem".to_vec())),
            Err(Error::NoCa)
        ));
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        assert!(Client::new(bind, Trust::CaPem(c.cert.pem().into_bytes())).is_ok());
    }
}
