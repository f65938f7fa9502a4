//! TLS clients (rustls with ring, as the plane's own) for tests that speak to a TLS port byte by
//! byte, below gRPC.

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// A fresh self-signed certificate for `localhost` and its key, written as PEM to
/// `dir/{name}.pem` and `dir/{name}-key.pem`; their paths.
pub fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&cert, ck.cert.pem()).expect("cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key");
    (cert, key)
}

/// A client trusting the certificates of `ca_pem` (PEM), offering `alpn` (e.g. `[b"h2"]`).
pub fn connector(ca_pem: &[u8], alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.expect("a PEM certificate")).expect("a root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `localhost` at `addr`, its handshake done (or its failure).
pub async fn connect(
    addr: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    over(tokio::net::TcpStream::connect(addr).await?, connector).await
}

/// A TLS connection to `localhost` over `tcp`, its handshake done (or its failure).
pub async fn over(
    tcp: tokio::net::TcpStream,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    connector.connect(name, tcp).await
}
