//! `[quic]`: QUIC ingest (ALPN `siq/1`) on a UDP port, one socket per shard.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{EdgeSection, Error, invalid, within};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuicSection {
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Default: the TCP listen address with the next port (7401 beside the default 7400).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Certificate chain and private key, PEM. Without them the edge uses a self-signed
    /// certificate kept in `data_dir/quic/` (made at first start) and prints its SHA-256.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Names the self-signed certificate is made for.
    #[serde(default = "d_quic_names")]
    pub self_signed_names: Vec<String>,
    #[serde(default = "d_quic_conns")]
    pub max_connections_per_shard: usize,
    /// Sessions (bidirectional streams) open at once on one connection. Each allowed stream
    /// costs memory on every connection, used or not (see `d_quic_streams`).
    #[serde(default = "d_quic_streams")]
    pub max_streams_per_connection: u32,
}

/// Bounds of `[quic]`'s limits (tested at both ends).
pub const QUIC_MAX_CONNECTIONS: std::ops::RangeInclusive<usize> = 1..=1_000_000;
pub const QUIC_MAX_STREAMS: std::ops::RangeInclusive<u32> = 1..=65_536;

impl Default for QuicSection {
    fn default() -> Self {
        QuicSection {
            enabled: true,
            listen: None,
            cert: None,
            key: None,
            self_signed_names: d_quic_names(),
            max_connections_per_shard: d_quic_conns(),
            max_streams_per_connection: d_quic_streams(),
        }
    }
}

impl QuicSection {
    /// The UDP address QUIC listens on.
    pub fn listen_addr(&self, edge: &EdgeSection) -> SocketAddr {
        self.listen.unwrap_or_else(|| {
            SocketAddr::new(edge.listen.ip(), edge.listen.port().wrapping_add(1))
        })
    }

    pub fn validate(&self, edge: &EdgeSection) -> Result<(), Error> {
        if self.cert.is_some() != self.key.is_some() {
            return invalid("quic.cert and quic.key go together (or neither: self-signed)");
        }
        within(
            "quic.max_connections_per_shard",
            self.max_connections_per_shard,
            &QUIC_MAX_CONNECTIONS,
        )?;
        within(
            "quic.max_streams_per_connection",
            self.max_streams_per_connection,
            &QUIC_MAX_STREAMS,
        )?;
        if self.enabled && self.listen_addr(edge).port() == 0 {
            return invalid("quic.listen needs a port");
        }
        if self.enabled && self.self_signed_names.is_empty() && self.cert.is_none() {
            return invalid("quic.self_signed_names must name at least one host");
        }
        Ok(())
    }
}

fn d_true() -> bool {
    true
}
fn d_quic_names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}
fn d_quic_conns() -> usize {
    20_000
}
/// quinn-proto keeps state for every stream a peer may open (two hash-map entries each, made
/// when the connection opens): at 1024 that was about 100 KB per connection, measured at 10k
/// connections (1.46 GB peak against 558 MB over WebSocket). 100, as HTTP/3 servers commonly
/// allow, covers a server-side SDK's concurrent sessions.
fn d_quic_streams() -> u32 {
    100
}
