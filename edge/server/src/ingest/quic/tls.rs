//! The QUIC side's TLS and transport settings: the certificate (configured, or self-signed once
//! and kept in `data_dir/quic/`), one shared rustls config (one ticket store, for 0-RTT on any
//! shard) and one token/reset key for every shard.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quinn_proto::{EndpointConfig, IdleTimeout, ServerConfig, TransportConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sentientiq_proto::Limits;
use sentientiq_proto::stream::ALPN;
use sha2::Digest;

use crate::config::{EdgeSection, QuicSection};

/// Resumption tickets remembered (shared by all shards, for 0-RTT).
pub const TICKETS: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Pem { path: PathBuf, msg: String },
    #[error("making a self-signed certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("QUIC config: {0}")]
    Config(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What all shards share: one TLS config (one ticket store, so a 0-RTT client may land on any
/// shard), one token key and one stateless-reset key.
#[derive(Clone)]
pub struct Shared {
    pub server: Arc<ServerConfig>,
    pub endpoint: EndpointConfig,
    pub listen: SocketAddr,
    /// SHA-256 of the certificate, lowercase hex.
    pub fingerprint: String,
    pub max_connections: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("listen", &self.listen)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Builds the shared QUIC config: the certificate from `[quic]`, or the self-signed one kept in
/// `data_dir/quic/` (made at first start). The fingerprint goes to `data_dir/quic/cert.sha256`.
pub fn prepare(q: &QuicSection, edge: &EdgeSection) -> Result<Shared, Error> {
    let dir = edge.data_dir.join("quic");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let (chain, key) = match (&q.cert, &q.key) {
        (Some(c), Some(k)) => (read_chain(c)?, read_key(k)?),
        _ => self_signed(&dir, &q.self_signed_names)?,
    };
    let leaf = chain.first().ok_or_else(|| Error::Pem {
        path: q.cert.clone().unwrap_or_default(),
        msg: "no certificate".into(),
    })?;
    let fingerprint = hex::encode(sha2::Sha256::digest(leaf.as_ref()));
    let fp_path = dir.join("cert.sha256");
    std::fs::write(&fp_path, format!("{fingerprint}\n")).map_err(io(&fp_path))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // 0-RTT: QUIC allows only 0 or u32::MAX here. Replayed early data is harmless: every
    // client frame is deduplicated by (tenant, sid, seq).
    tls.max_early_data_size = u32::MAX;
    tls.session_storage = rustls::server::ServerSessionMemoryCache::new(TICKETS);
    let crypto = quinn_proto::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| Error::Config(e.to_string()))?;
    let mut server = ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport(q, edge)?));
    Ok(Shared {
        server: Arc::new(server),
        endpoint: EndpointConfig::default(),
        listen: q.listen_addr(edge),
        fingerprint,
        max_connections: q.max_connections_per_shard,
    })
}

fn transport(q: &QuicSection, edge: &EdgeSection) -> Result<TransportConfig, Error> {
    let mut t = TransportConfig::default();
    t.max_concurrent_bidi_streams(q.max_streams_per_connection.into());
    t.max_concurrent_uni_streams(0u8.into());
    let idle = IdleTimeout::try_from(Duration::from_millis(edge.idle_timeout_ms))
        .map_err(|e| Error::Config(format!("edge.idle_timeout_ms: {e}")))?;
    t.max_idle_timeout(Some(idle));
    // One whole frame and its prefix fit in a stream's window; a connection's sessions share
    // 4 MiB, which bounds what one connection can make the edge buffer.
    let max_frame = Limits::DEFAULT.max_frame_bytes as u32 + 4;
    t.stream_receive_window((2 * max_frame).into());
    t.receive_window((4u32 << 20).into());
    Ok(t)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = |msg: String| Error::Pem {
        path: path.to_path_buf(),
        msg,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(pem("no certificate".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| Error::Pem {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })
}

/// The self-signed certificate in `dir` (`cert.pem`, `key.pem`), made on first use: clients pin
/// its fingerprint, so it must survive restarts.
fn self_signed(
    dir: &Path,
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((read_chain(&cert)?, read_key(&key)?));
    }
    let made = rcgen::generate_simple_self_signed(names.to_vec())?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = dir.join("key.pem.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(made.signing_key.serialize_pem().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &key).map_err(io(&key))?;
    }
    std::fs::write(&cert, made.cert.pem()).map_err(io(&cert))?;
    tracing::info!(cert = %cert.display(), "made a self-signed QUIC certificate");
    Ok((read_chain(&cert)?, read_key(&key)?))
}
