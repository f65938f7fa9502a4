//! One request, one answer: hyper-util's pooled HTTP/1.1 client over rustls (`ring` provider,
//! the OS's root certificates).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::channels::{HttpRequest, HttpResponse, Transport};

#[derive(Debug, Clone, Copy)]
pub struct HttpConfig {
    /// TCP + TLS connect. A connect that fails or times out never reached the vendor.
    pub connect_timeout: Duration,
    /// The whole attempt: connect, send, answer, body.
    pub attempt_timeout: Duration,
    /// Bytes of an answer's body kept for classification.
    pub max_body: usize,
}

impl Default for HttpConfig {
    /// 10 s per attempt: the spec of Standard Webhooks recommends receivers get 15–30 s, but a
    /// page that waits 30 s for one vendor has already missed the 3 s promise; a retry (or a
    /// lookup) is the better use of the time.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("transport: {0:?}")]
    Transport(Transport),
    /// The request could not even be formed (a malformed configured URL).
    #[error("invalid request: {0}")]
    Invalid(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("TLS roots: {0}")]
    Tls(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct HttpSender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    cfg: HttpConfig,
}

impl std::fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSender")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl HttpSender {
    /// The OS's root certificates, rustls with the `ring` provider.
    pub fn new(cfg: HttpConfig) -> Result<Self, ShellError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder =
            hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider)?;
        Ok(Self::from_builder(builder, cfg))
    }

    /// With a given rustls configuration (private roots, pinned certificates).
    pub fn with_tls(tls: rustls::ClientConfig, cfg: HttpConfig) -> Self {
        Self::from_builder(
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls),
            cfg,
        )
    }

    fn from_builder(
        b: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
        cfg: HttpConfig,
    ) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(cfg.connect_timeout));
        let https = b.https_or_http().enable_http1().wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Self { client, cfg }
    }

    pub fn config(&self) -> HttpConfig {
        self.cfg
    }

    /// Performs `req` once.
    pub async fn execute(&self, req: &HttpRequest) -> Result<HttpResponse, SendError> {
        let uri: http::Uri = req
            .url
            .parse()
            .map_err(|_| SendError::Invalid("url".into()))?;
        let mut b = http::Request::builder().method(req.method.clone()).uri(uri);
        for (n, v) in &req.headers {
            b = b.header(*n, v.as_str());
        }
        let request = b
            .body(Full::new(Bytes::from(req.body.clone())))
            .map_err(|_| SendError::Invalid("header".into()))?;
        let max = self.cfg.max_body;
        let attempt = async {
            let resp = self.client.request(request).await.map_err(|e| {
                SendError::Transport(if e.is_connect() {
                    Transport::Refused
                } else {
                    Transport::Broken
                })
            })?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = resp.into_body();
            let mut bytes = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| SendError::Transport(Transport::Broken))?;
                if let Some(d) = frame.data_ref() {
                    let room = max.saturating_sub(bytes.len());
                    bytes.extend_from_slice(&d[..d.len().min(room)]);
                }
            }
            Ok(HttpResponse {
                status,
                headers,
                body: bytes,
            })
        };
        match tokio::time::timeout(self.cfg.attempt_timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Transport(Transport::Timeout)),
        }
    }
}
