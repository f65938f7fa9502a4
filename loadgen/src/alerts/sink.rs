//! The alert sink: local receivers for every channel on one address, each as strict as the
//! vendor (the `sentientiq_alerts::stubs` stand-ins), recording every request with its arrival
//! time.
//!
//! Routes, by path:
//! - `/services/…`: a Slack incoming webhook (`200 ok`).
//! - `/v2/enqueue`: PagerDuty Events API v2 (`202`; `trigger` is a page, `acknowledge` and
//!   `resolve` are not).
//! - anything else (e.g. `/hooks/siq`): a Standard-Webhooks receiver that verifies
//!   `webhook-signature` with the `whsec_` secret and refuses timestamps more than 5 minutes
//!   off (`204`; a bad signature gets `401` and is counted, never accepted).
//!
//! The arrival time is read when the request's head has been parsed, before its body is read:
//! on the monotonic clock (µs after the run's epoch, comparable with the loadgen's send times)
//! and on the wall clock (comparable with the edge's `detected_at`). The sink runs on its own
//! thread with its own runtime, so the sessions' work does not delay the reading of the clock.
//!
//! Limits: a request body of at most [`SinkConfig::max_body_bytes`] (larger: `413`, counted as
//! rejected), at most [`SinkConfig::max_records`] requests recorded (further ones are answered
//! and counted in `dropped`, never silently lost).

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sentientiq_alerts::secret::WebhookSecret;
use sentientiq_alerts::stubs::pagerduty::PagerDuty;
use sentientiq_alerts::stubs::slack::Slack;
use sentientiq_alerts::stubs::webhook::Receiver;
use sentientiq_alerts::stubs::{Reply, Request, Vendor};
use serde_json::Value;

use super::Error;

/// Largest request body by default: an alert is a few kilobytes (PagerDuty's own cap on an
/// event is 512 KB).
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Requests recorded by default: far more than any run pages (10k sessions page a few hundred).
pub const MAX_RECORDS: usize = 1_000_000;

/// The channel a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Webhook,
    Slack,
    PagerDuty,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Slack => "slack",
            Channel::PagerDuty => "pagerduty",
        }
    }

    /// The channel a path belongs to.
    pub fn of_path(path: &str) -> Channel {
        if path.starts_with("/services/") || path == "/api/chat.postMessage" {
            Channel::Slack
        } else if path == "/v2/enqueue" {
            Channel::PagerDuty
        } else {
            Channel::Webhook
        }
    }
}

/// What the receiver made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Answered 2xx, as the vendor would accept it.
    Accepted,
    /// A Standard-Webhooks signature that does not verify with the secret.
    BadSignature,
    /// Refused for another reason (the vendor's error, or the sink's body limit).
    Rejected(String),
}

/// One request as the sink received it, with what identifies the alert in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// µs after the run's epoch (monotonic clock).
    pub at_us: u64,
    /// ms since the Unix epoch (wall clock).
    pub wall_ms: u64,
    pub channel: Channel,
    pub status: u16,
    pub verdict: Verdict,
    /// A message to a person (a Slack post, a PagerDuty `trigger`, a webhook); false for
    /// PagerDuty `acknowledge`/`resolve`.
    pub page: bool,
    pub alert: Option<String>,
    /// The delivery's identity: the `webhook-id`, the Slack link's delivery (`{alert}-d{n}`),
    /// or the PagerDuty `dedup_key` with the event action.
    pub delivery: Option<String>,
    pub session: Option<String>,
    pub uid: Option<String>,
    pub account: Option<String>,
    /// The edge's `detected_at` (server time of the frame that completed the evidence).
    pub detected_at_ms: Option<u64>,
    /// The message's one-click link (webhook `link`, Slack's button, PagerDuty's `links`).
    pub link: Option<String>,
    /// The detected emotion (webhook and PagerDuty bodies carry it).
    pub emotion: Option<String>,
}

/// `2024-03-01T12:00:00.123Z` → ms since the Unix epoch (what `sentientiq_alerts::time`
/// writes; seconds without a fraction are accepted too).
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ms = match s.get(19..s.len() - 1)? {
        "" => 0,
        f => {
            let digits = f.strip_prefix('.')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let first3 = format!("{digits:0<3}");
            first3[..3].parse::<i64>().ok()?
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms).ok()
}

/// The alert id and delivery number in a one-click link's token (`…/a/{claims}.{tag}`, claims
/// `alert|contact|delivery|scope|expiry`, base64url; see `sentientiq_alerts::link`). Not
/// verified: the sink has no link key, and needs only to know which alert a message is about.
pub fn link_alert(link: &str) -> Option<(String, u32)> {
    let token = link.rsplit_once("/a/")?.1;
    let claims = token.split_once('.')?.0;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split('|');
    let alert = parts.next().filter(|a| !a.is_empty())?.to_string();
    let _contact = parts.next()?;
    let delivery = parts.next()?.parse().ok()?;
    Some((alert, delivery))
}

fn str_at(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr).and_then(Value::as_str).map(str::to_string)
}

/// What a request says about its alert, and what the receiver answered.
pub fn describe(req: &Request, reply: &Reply, at_us: u64) -> Arrival {
    let channel = Channel::of_path(&req.path);
    let verdict = if (200..300).contains(&reply.status) && reply.violation.is_none() {
        Verdict::Accepted
    } else if channel == Channel::Webhook && reply.status == 401 {
        Verdict::BadSignature
    } else {
        Verdict::Rejected(
            reply
                .violation
                .clone()
                .unwrap_or_else(|| format!("{} {}", channel.name(), reply.status)),
        )
    };
    let mut a = Arrival {
        at_us,
        wall_ms: req.at_ms,
        channel,
        status: reply.status,
        verdict,
        page: true,
        alert: None,
        delivery: None,
        session: None,
        uid: None,
        account: None,
        detected_at_ms: None,
        link: None,
        emotion: None,
    };
    let body = req.json().unwrap_or(Value::Null);
    let facts = |a: &mut Arrival, d: &Value| {
        a.alert = str_at(d, "/alert_id");
        a.session = str_at(d, "/session");
        a.uid = str_at(d, "/user");
        a.account = str_at(d, "/account");
        a.detected_at_ms = str_at(d, "/detected_at").and_then(|t| parse_rfc3339_ms(&t));
        a.link = str_at(d, "/link");
        a.emotion = str_at(d, "/emotion");
    };
    match channel {
        Channel::Webhook => {
            if let Some(d) = body.get("data") {
                facts(&mut a, d);
            }
            a.delivery = req.header("webhook-id").map(str::to_string);
        }
        Channel::PagerDuty => {
            let action = str_at(&body, "/event_action").unwrap_or_default();
            a.page = action == "trigger";
            if let Some(d) = body.pointer("/payload/custom_details") {
                facts(&mut a, d);
            }
            a.link = a.link.take().or_else(|| str_at(&body, "/links/0/href"));
            let key = str_at(&body, "/dedup_key");
            a.alert = a.alert.take().or_else(|| key.clone());
            a.delivery = key.map(|k| format!("{k}:{action}"));
        }
        Channel::Slack => {
            let link = body
                .pointer("/blocks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|b| b.pointer("/elements/0/url").and_then(Value::as_str))
                .find(|u| link_alert(u).is_some());
            if let Some(url) = link {
                if let Some((alert, n)) = link_alert(url) {
                    a.delivery = Some(format!("{alert}-d{n}"));
                    a.alert = Some(alert);
                }
                a.link = Some(url.to_string());
            }
            // The facts block: `*Rage* on *Acme* ($120,000)\nUser: u_1\n…` (mrkdwn-escaped).
            a.uid = str_at(&body, "/blocks/0/text/text").and_then(|t| {
                t.lines().find_map(|l| l.strip_prefix("User: ")).map(|u| {
                    u.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&amp;", "&")
                })
            });
        }
    }
    a
}

/// Routes a request to the vendor its path names.
#[derive(Debug)]
struct Vendors {
    webhook: Receiver,
    slack: Slack,
    pagerduty: PagerDuty,
}

impl Vendor for Vendors {
    fn handle(&mut self, req: &Request) -> Reply {
        match Channel::of_path(&req.path) {
            Channel::Slack => self.slack.handle(req),
            Channel::PagerDuty => self.pagerduty.handle(req),
            Channel::Webhook => self.webhook.handle(req),
        }
    }
}

/// Where the sink listens and what it accepts.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub addr: SocketAddr,
    pub secret: WebhookSecret,
    /// The moment `at_us` counts from (the loadgen's send times count from it too).
    pub epoch: Instant,
    pub max_body_bytes: usize,
    pub max_records: usize,
}

impl SinkConfig {
    pub fn new(addr: SocketAddr, secret: WebhookSecret, epoch: Instant) -> SinkConfig {
        SinkConfig {
            addr,
            secret,
            epoch,
            max_body_bytes: MAX_BODY_BYTES,
            max_records: MAX_RECORDS,
        }
    }
}

#[derive(Debug)]
struct State {
    vendors: Vendors,
    log: Vec<Arrival>,
    dropped: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    epoch: Instant,
    max_body_bytes: usize,
    max_records: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running sink.
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    /// Binds `cfg.addr` (an error if taken) and serves on a thread of its own.
    pub fn start(cfg: SinkConfig) -> Result<Sink, Error> {
        let listener = std::net::TcpListener::bind(cfg.addr).map_err(|source| Error::Bind {
            addr: cfg.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(Error::Runtime)?;
        listener.set_nonblocking(true).map_err(Error::Runtime)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                vendors: Vendors {
                    webhook: Receiver::new(cfg.secret),
                    slack: Slack::default(),
                    pagerduty: PagerDuty::default(),
                },
                log: Vec::new(),
                dropped: 0,
            }),
            epoch: cfg.epoch,
            max_body_bytes: cfg.max_body_bytes,
            max_records: cfg.max_records,
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("alert-sink".into())
            .spawn(move || rt.block_on(accept(listener, s, stopped)))
            .map_err(Error::Runtime)?;
        Ok(Sink {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.lock().log.clone()
    }

    /// Requests answered but not recorded (beyond `max_records`).
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Stops listening and drops open connections.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.halt();
    }
}

async fn accept(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = conn else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| serve(shared.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// The wall clock, ms since the Unix epoch.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn serve(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let at_us = u64::try_from(shared.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
    let at_ms = wall_ms();
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, shared.max_body_bytes).collect().await;
    let mut request = Request {
        at_ms,
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
        body: Vec::new(),
    };
    let mut st = shared.lock();
    let reply = match body {
        Ok(b) => {
            request.body = b.to_bytes().to_vec();
            st.vendors.handle(&request)
        }
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Reply::new(413, "text/plain", "body too large")
                .violation(format!("sink: body over {} bytes", shared.max_body_bytes))
        }
        Err(_) => Reply::new(400, "text/plain", "body unreadable")
            .violation("sink: body could not be read"),
    };
    if st.log.len() < shared.max_records {
        let arrival = describe(&request, &reply, at_us);
        st.log.push(arrival);
    } else {
        st.dropped += 1;
    }
    drop(st);
    let mut b = hyper::Response::builder().status(reply.status);
    for (n, v) in &reply.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    Ok(b.body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_default())
}

/// Delivery keys accepted more than once, with how many times.
pub fn repeated_deliveries(arrivals: &[Arrival]) -> Vec<(String, u32)> {
    let mut seen: HashSet<(Channel, &str)> = HashSet::new();
    let mut repeats: std::collections::BTreeMap<String, u32> = Default::default();
    for a in arrivals {
        if a.verdict != Verdict::Accepted {
            continue;
        }
        if let Some(d) = a.delivery.as_deref()
            && !seen.insert((a.channel, d))
        {
            *repeats.entry(d.to_string()).or_insert(1) += 1;
        }
    }
    repeats.into_iter().collect()
}

#[cfg(test)]
mod tests;
