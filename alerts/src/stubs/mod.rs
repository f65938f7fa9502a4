//! Local stand-ins for every vendor (feature `stubs`): HTTP/1.1 servers on loopback, port 0.
//!
//! Each one checks the vendor's documented request shape strictly (method, path, auth,
//! content type, required fields and their formats). A wrong request gets the vendor's own
//! error answer and is recorded as a violation, so a test can assert "no violations". Every
//! request is recorded with its arrival time. Answers can be scripted ahead
//! ([`Stub::script`]): a status (500, 429 with `Retry-After`, 410…), "do the work, then
//! answer 500" (Twilio created the message but the client saw an error), a hang (no answer
//! until the stub stops), and [`Stub::stop`]/[`Stub::resume`] for refused connections.
//!
//! - [`slack::Slack`] answers incoming webhooks (`/services/…`) and `/api/chat.postMessage`.
//! - [`twilio::Twilio`] answers Messages create and list.
//! - [`pagerduty::PagerDuty`] answers `/v2/enqueue`.
//! - [`webhook::Receiver`] is a Standard Webhooks receiver (signature, tolerance, dedupe).

pub mod pagerduty;
pub mod slack;
pub mod twilio;
pub mod webhook;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::shell::now_ms;

/// A request as the stub received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub at_ms: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Form or query fields.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.query).unwrap_or_default()
    }
}

/// A recorded request and what the stub answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub request: Request,
    /// `None` while the answer is pending (a hang).
    pub status: Option<u16>,
    pub violation: Option<String>,
}

/// A vendor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The request broke the vendor's contract.
    pub violation: Option<String>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            violation: None,
        }
    }

    pub fn json(status: u16, v: &serde_json::Value) -> Self {
        Self::new(status, "application/json", v.to_string())
    }

    pub fn violation(mut self, why: impl Into<String>) -> Self {
        self.violation = Some(why.into());
        self
    }
}

/// A vendor: answers a request as the vendor would, checking it strictly.
pub trait Vendor: Send + 'static {
    fn handle(&mut self, req: &Request) -> Reply;
}

/// A scripted answer for the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scripted {
    /// Answer this without doing anything (the vendor never acted).
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Do the work, then answer `status` (e.g. Twilio created the message, answered 500).
    ActThen { status: u16 },
    /// Never answer (until the stub stops).
    Hang,
    /// Do the work, then never answer.
    ActThenHang,
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Scripted::Status {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn retry_after(status: u16, value: &str) -> Self {
        Scripted::Status {
            status,
            headers: vec![("retry-after".into(), value.into())],
            body: String::new(),
        }
    }

    pub fn body(status: u16, body: &str) -> Self {
        Scripted::Status {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

struct State<V> {
    vendor: V,
    log: Vec<Recorded>,
    script: VecDeque<Scripted>,
}

struct Inner<V> {
    state: Mutex<State<V>>,
    closed: watch::Sender<bool>,
}

impl<V> Inner<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running stub.
pub struct Stub<V> {
    inner: Arc<Inner<V>>,
    addr: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl<V> std::fmt::Debug for Stub<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub").field("addr", &self.addr).finish()
    }
}

impl<V: Vendor> Stub<V> {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(vendor: V) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (closed, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                vendor,
                log: Vec::new(),
                script: VecDeque::new(),
            }),
            closed,
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone()));
        Ok(Self {
            inner,
            addr,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `n` requests get `s`.
    pub fn script(&self, n: usize, s: Scripted) {
        let mut st = self.inner.lock();
        for _ in 0..n {
            st.script.push_back(s.clone());
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().log.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner
            .lock()
            .log
            .iter()
            .filter_map(|r| r.violation.clone())
            .collect()
    }

    /// Reads or changes the vendor's state.
    pub fn vendor<R>(&self, f: impl FnOnce(&mut V) -> R) -> R {
        f(&mut self.inner.lock().vendor)
    }

    /// Closes the listening socket (new connections are refused) and ends hanging answers.
    pub fn stop(&self) {
        if let Some(h) = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
        self.inner.closed.send_replace(true);
    }

    /// Listens again on the same port.
    pub async fn resume(&self) -> std::io::Result<()> {
        self.stop();
        // The aborted accept task drops its listener when it next runs; retry briefly.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.inner.closed.send_replace(false);
        let h = tokio::spawn(accept_loop(listener, self.inner.clone()));
        *self.accept.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
        Ok(())
    }
}

impl<V> Drop for Stub<V> {
    fn drop(&mut self) {
        if let Some(h) = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
        self.inner.closed.send_replace(true);
    }
}

async fn accept_loop<V: Vendor>(listener: TcpListener, inner: Arc<Inner<V>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let mut closed = inner.closed.subscribe();
            let svc = service_fn(move |req| serve(inner.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = closed.wait_for(|c| *c) => {}
            }
        });
    }
}

async fn serve<V: Vendor>(
    inner: Arc<Inner<V>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let request = Request {
        at_ms: now_ms(),
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let (reply, hang) = {
        let mut st = inner.lock();
        let action = st.script.pop_front();
        let (reply, hang) = match action {
            None => (Some(st.vendor.handle(&request)), false),
            Some(Scripted::Status {
                status,
                headers,
                body,
            }) => {
                let mut r = Reply::new(status, "text/plain", body);
                r.headers.extend(headers);
                (Some(r), false)
            }
            Some(Scripted::ActThen { status }) => {
                let mut r = st.vendor.handle(&request);
                r.status = status;
                r.body = b"scripted failure".to_vec();
                (Some(r), false)
            }
            Some(Scripted::Hang) => (None, true),
            Some(Scripted::ActThenHang) => {
                let r = st.vendor.handle(&request);
                (Some(Reply { status: 0, ..r }), true)
            }
        };
        let violation = reply.as_ref().and_then(|r| r.violation.clone());
        let status = reply.as_ref().map(|r| r.status).filter(|_| !hang);
        st.log.push(Recorded {
            request,
            status,
            violation,
        });
        (reply, hang)
    };
    if hang {
        let mut closed = inner.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
        return Ok(hyper::Response::builder()
            .status(503)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default());
    }
    let reply = reply.unwrap_or_else(|| Reply::new(500, "text/plain", ""));
    let mut b = hyper::Response::builder().status(reply.status);
    for (n, v) in &reply.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    Ok(b.body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_default())
}

/// Whether `s` is `+` and 2..=15 digits, not starting with 0 (E.164).
pub(crate) fn is_e164(s: &str) -> bool {
    let d = s.strip_prefix('+').unwrap_or("");
    (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
}
