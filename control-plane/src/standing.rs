//! What a gRPC connection's requests tell it (`crate::incoming` closes one that no request
//! with a token has used once it idles): whether a request on it carried a valid token
//! (`crate::auth` marks it) and how many requests started on it (`crate::telemetry`'s layer
//! counts every service's). Requests see it, with the transport's own connection info, in
//! their [`Peer`].

use std::sync::Arc;

/// What the connection's requests tell it: whether one carried a valid token, and how many
/// have started (shared by the connection and its requests' [`Peer`]).
#[derive(Debug, Clone, Default)]
pub struct Standing(Arc<StandingInner>);

#[derive(Debug, Default)]
struct StandingInner {
    authed: std::sync::atomic::AtomicBool,
    requests: std::sync::atomic::AtomicU64,
}

impl Standing {
    /// A request on it carried a valid token.
    pub fn authed(&self) {
        self.0
            .authed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_authed(&self) -> bool {
        self.0.authed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A request started on it.
    pub fn request(&self) {
        self.0
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.0.requests.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What a request knows of its connection: the transport's own (the peer's address; over TLS
/// the session too) and its [`Standing`].
#[derive(Debug, Clone)]
pub struct Peer<C> {
    pub info: C,
    pub standing: Standing,
}

pub type TcpInfo = tonic::transport::server::TcpConnectInfo;
pub type TlsInfo = tonic::transport::server::TlsConnectInfo<TcpInfo>;

/// The peer's address of a request on this port, over TLS or not.
pub fn peer_addr<T>(req: &tonic::Request<T>) -> Option<std::net::SocketAddr> {
    let ext = req.extensions();
    ext.get::<Peer<TcpInfo>>()
        .and_then(|p| p.info.remote_addr())
        .or_else(|| {
            ext.get::<Peer<TlsInfo>>()
                .and_then(|p| p.info.get_ref().remote_addr())
        })
}

/// The standing of a request's connection, from its extensions (`tonic::Extensions` is
/// `http::Extensions`).
fn standing(ext: &::http::Extensions) -> Option<&Standing> {
    ext.get::<Peer<TcpInfo>>()
        .map(|p| &p.standing)
        .or_else(|| ext.get::<Peer<TlsInfo>>().map(|p| &p.standing))
}

/// Marks the connection of `req` as having made a request with a token.
pub fn mark_authed<T>(req: &tonic::Request<T>) {
    if let Some(s) = standing(req.extensions()) {
        s.authed();
    }
}

/// Counts a request started on its connection (every service's, `crate::telemetry::Count`).
pub fn request_started<B>(req: &::http::Request<B>) {
    if let Some(s) = standing(req.extensions()) {
        s.request();
    }
}
