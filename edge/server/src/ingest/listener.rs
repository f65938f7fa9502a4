//! Connections: the per-shard listener, HTTP routing, the WebSocket session loop and the
//! `POST /v1/batch` beacon path.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use sentientiq_proto::{
    ClientFrame, DecodeError, EdgeFrame, ErrorCode, Limits, Sid, client_to_vec, decode_client,
    decode_http_batch, edge_to_vec,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::http::{self, HeadError, Request, Response};
use crate::metrics::{self, ShardMetrics};
use crate::shard::{ConnRef, Inbound, Out, ShardRef, now_ms, owner};
use crate::tenants::origin_allowed;

/// Frames queued for one connection at most; a reader slower than this is closed.
pub const CONN_QUEUE: usize = 256;
/// How long a beacon waits for its frames to become durable.
pub const BATCH_DEADLINE: Duration = Duration::from_secs(10);

/// Binds the shard's own `SO_REUSEPORT` listener with the configured backlog.
pub fn bind(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    // SAFETY-free handover: glommio takes ownership of the listening descriptor.
    let fd = s.into_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: `fd` is a valid, owned, listening TCP socket we just created and released.
    let l = unsafe { TcpListener::from_raw_fd(fd) };
    Ok(l)
}

/// Accepts connections until shutdown.
pub async fn accept_loop(shard: ShardRef, listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (node, m) = {
            let s = shard.borrow();
            (s.node.clone(), s.metrics().clone())
        };
        if node.shutdown.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        ShardMetrics::inc(&m.connections_total);
        let open = m.connections.load(std::sync::atomic::Ordering::Relaxed) as usize;
        let over = open >= node.edge.max_connections_per_shard;
        let sh = shard.clone();
        glommio::spawn_local(async move {
            ShardMetrics::add(&m.connections, 1);
            if over {
                ShardMetrics::inc(&m.shed);
                m.error(ErrorCode::Overloaded);
                let mut stream = stream;
                // Read the request first (briefly): closing with unread input would make the
                // kernel reset the connection and the client would never see the 503.
                let _ = http::read_head(&mut stream, Duration::from_millis(200)).await;
                let _ = http::write(
                    &mut stream,
                    &Response::error(
                        ErrorCode::Overloaded,
                        "this shard is at its connection limit",
                    ),
                    true,
                )
                .await;
            } else {
                serve(sh, stream).await;
            }
            m.connections
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        })
        .detach();
    }
}

async fn serve(shard: ShardRef, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let node = shard.borrow().node.clone();
    let req = match http::read_head(
        &mut stream,
        Duration::from_millis(node.edge.header_timeout_ms),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            let r = match e {
                HeadError::Closed | HeadError::Io(_) => return,
                HeadError::Timeout => Response::text(408, "request head not received in time"),
                HeadError::TooBig => Response::text(431, "request head too large"),
                HeadError::Malformed(m) => Response::text(400, m),
            };
            let _ = http::write(&mut stream, &r, true).await;
            return;
        }
    };
    let origin = req.header("origin").map(str::to_string);
    let path = req.path.split('?').next().unwrap_or("").to_string();
    let resp = match (req.method.as_str(), path.as_str()) {
        ("GET", "/v1/ws") => return ws(shard, stream, req).await,
        ("POST", "/v1/batch") => batch(&shard, &mut stream, req).await,
        ("OPTIONS", _) => Response::new(204).cors(origin.as_deref()),
        ("GET", "/v1/ping") => Response::new(204)
            .header("x-siq-region", node.edge.region.clone())
            .header("cache-control", "no-store")
            .cors(origin.as_deref()),
        ("GET", "/healthz") => Response::text(200, "ok\n"),
        ("GET", "/readyz") => {
            if node.all_ready() {
                Response::text(200, "ready\n")
            } else {
                Response::text(503, "not ready\n")
            }
        }
        ("GET", "/metrics") => {
            let mut r = Response::text(
                200,
                metrics::render(&node.metrics, &node.edge.id, &node.edge.region)
                    + &metrics::render_lake(&node.lake_metrics, &node.edge.id, &node.edge.region)
                    + &metrics::render_quic(&node.metrics, &node.edge.id, &node.edge.region)
                    + &metrics::render_control(
                        &node.control,
                        node.reports.as_ref(),
                        &node.edge.id,
                        &node.edge.region,
                    ),
            );
            r.headers[0].1 = "text/plain; version=0.0.4".into();
            r
        }
        (_, "/v1/ws" | "/v1/batch" | "/v1/ping" | "/healthz" | "/readyz" | "/metrics") => {
            Response::text(405, "method not allowed")
        }
        _ => Response::text(404, "not found"),
    };
    let _ = http::write(&mut stream, &resp, true).await;
}

pub(crate) fn err_frame(code: ErrorCode, msg: &str, fatal: bool) -> Vec<u8> {
    edge_to_vec(&EdgeFrame::Err(sentientiq_proto::Err {
        code,
        msg: msg.to_string(),
        fatal,
        retry_ms: None,
    }))
}

type Ws = WebSocketStream<TcpStream>;

/// Where one session's frames go from this connection: registered with the shard, owner
/// computed once. (QUIC streams use it too.)
#[derive(Debug)]
pub(crate) struct Route {
    shard: ShardRef,
    own: usize,
    pub(crate) conn: ConnRef,
    tenant: u32,
    sid: Sid,
}

impl Route {
    pub(crate) fn open(shard: &ShardRef, tenant: usize, sid: Sid, tx: LocalSender<Out>) -> Route {
        let mut s = shard.borrow_mut();
        let own = owner(
            &s.node.tenants.load().get(tenant).id,
            sid.as_str(),
            s.node.nshards,
        );
        let conn = s.register(tx);
        drop(s);
        Route {
            shard: shard.clone(),
            own,
            conn,
            tenant: tenant as u32,
            sid,
        }
    }

    /// Routes one decoded frame to its owner. Emails and card numbers are redacted here, so
    /// neither the core nor the spool ever sees them; `raw` (the bytes as received) is kept
    /// when nothing changed, otherwise the frame is re-encoded.
    pub(crate) fn send(&self, raw: Option<Vec<u8>>, mut frame: ClientFrame, recv_ms: u64) {
        let mut s = self.shard.borrow_mut();
        let redacted = sentientiq_core::privacy::redact(&mut frame);
        if redacted {
            ShardMetrics::inc(&s.metrics().redacted);
        }
        let raw = match raw {
            // A hello is never spooled: its bytes are not kept.
            _ if matches!(frame, ClientFrame::Hello(_)) => Vec::new(),
            Some(r) if !redacted => r,
            _ => client_to_vec(&frame),
        };
        s.route(
            self.own,
            Inbound {
                conn: self.conn,
                tenant: self.tenant,
                sid: self.sid.clone(),
                recv_ms,
                raw,
                frame,
            },
        );
    }
}

/// Sends within `timeout`. A write the client does not drain in time drops the connection (no
/// close handshake is possible on a socket that does not drain): a slow reader holds at most
/// its bounded buffers, and not for long.
async fn send_within(ws: &mut Ws, msg: Message, timeout: Duration, m: &ShardMetrics) -> bool {
    let r = futures_lite::future::or(async { Some(ws.send(msg).await) }, async {
        glommio::timer::sleep(timeout).await;
        None
    })
    .await;
    match r {
        Some(Ok(())) => true,
        Some(Err(_)) => false,
        None => {
            ShardMetrics::inc(&m.slow_readers);
            false
        }
    }
}

async fn close(ws: &mut Ws, code: u16, reason: &str) {
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        }))
        .await;
}

/// Sends a fatal `err` and closes with the code PROTOCOL.md §6 gives it.
async fn refuse(ws: &mut Ws, m: &ShardMetrics, code: ErrorCode, msg: &str) {
    m.error(code);
    let _ = ws
        .send(Message::Binary(err_frame(code, msg, true).into()))
        .await;
    close(ws, code.ws_close_code(), code.as_str()).await;
}

async fn ws(shard: ShardRef, mut stream: TcpStream, req: Request) {
    let (node, m) = {
        let s = shard.borrow();
        (s.node.clone(), s.metrics().clone())
    };
    let upgrade = req
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.header("sec-websocket-key").filter(|_| upgrade) else {
        let _ = http::write(
            &mut stream,
            &Response::text(426, "WebSocket upgrade required"),
            true,
        )
        .await;
        return;
    };
    let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = Response::new(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept);
    if http::write(&mut stream, &resp, false).await.is_err() {
        return;
    }
    let cfg = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(node.edge.write_buffer_bytes)
        .max_message_size(Some(Limits::DEFAULT.max_frame_bytes))
        .max_frame_size(Some(Limits::DEFAULT.max_frame_bytes));
    let mut ws =
        WebSocketStream::from_partially_read(stream, req.rest.clone(), Role::Server, Some(cfg))
            .await;
    let origin = req.header("origin").map(str::to_string);
    let header_deadline = Duration::from_millis(node.edge.header_timeout_ms);

    // The first message must be `hello`.
    let first = futures_lite::future::or(async { Some(ws.next().await) }, async {
        glommio::timer::sleep(header_deadline).await;
        None
    })
    .await;
    let bytes = match first {
        Some(Some(Ok(Message::Binary(b)))) => b,
        None => return close(&mut ws, 1008, "no hello in time").await,
        Some(Some(Err(WsError::Capacity(_)))) => {
            return refuse(&mut ws, &m, ErrorCode::TooBig, "frame over 128 KiB").await;
        }
        Some(Some(Ok(_))) => {
            return refuse(
                &mut ws,
                &m,
                ErrorCode::BadFrame,
                "the first frame must be a binary hello",
            )
            .await;
        }
        Some(_) => return,
    };
    let hello = match decode_client(&bytes, &Limits::DEFAULT) {
        Ok(ClientFrame::Hello(h)) => h,
        Ok(_) => {
            return refuse(
                &mut ws,
                &m,
                ErrorCode::BadFrame,
                "the first frame must be hello",
            )
            .await;
        }
        Err(e) => return refuse(&mut ws, &m, e.code(), &e.to_string()).await,
    };
    let tenants = node.tenants.load();
    let mut seen_version = node.tenants.version();
    let key_h = crate::config::key_hash(hello.key.as_str());
    let Some(ti) = tenants.by_key_hash(&key_h) else {
        return refuse(
            &mut ws,
            &m,
            ErrorCode::BadKey,
            "unknown or revoked write key",
        )
        .await;
    };
    let tenant = tenants.get(ti);
    if !origin_allowed(tenant, origin.as_deref()) {
        return refuse(
            &mut ws,
            &m,
            ErrorCode::Origin,
            "origin not allowed for this key",
        )
        .await;
    }
    let (tx, rx) = local_channel::new_bounded::<Out>(CONN_QUEUE);
    let route = Route::open(&shard, ti, hello.sid.clone(), tx);
    let conn = route.conn;
    route.send(None, ClientFrame::Hello(hello), now_ms());
    let limits = tenant.limits;
    // Anything from the client (frames, pongs) counts as life; the edge pings every third of
    // the idle timeout so that idle-but-alive clients answer, and closes (1001) after a full
    // idle timeout of silence.
    let idle = Duration::from_millis(node.edge.idle_timeout_ms);
    let ping_every = idle / 3;
    let write_timeout = Duration::from_millis(node.edge.write_timeout_ms);
    let mut last_seen = std::time::Instant::now();
    enum Ev {
        Ws(Option<Result<Message, WsError>>),
        Out(Option<Out>),
        Tick,
    }
    loop {
        let ev = futures_lite::future::or(
            async { Ev::Out(rx.recv().await) },
            futures_lite::future::or(async { Ev::Ws(ws.next().await) }, async {
                glommio::timer::sleep(ping_every).await;
                Ev::Tick
            }),
        )
        .await;
        if matches!(ev, Ev::Ws(Some(Ok(_)))) {
            last_seen = std::time::Instant::now();
        }
        // The directory changed (control plane): a session whose key was revoked, or whose
        // tenant was removed, is refused at its next event, as a new hello would be.
        let v = node.tenants.version();
        if v != seen_version {
            seen_version = v;
            if node.tenants.load().by_key_hash(&key_h) != Some(ti) {
                refuse(&mut ws, &m, ErrorCode::BadKey, "write key revoked").await;
                break;
            }
        }
        match ev {
            Ev::Out(Some(out)) => {
                let msg = match out {
                    Out::Ack(seq) => edge_to_vec(&EdgeFrame::Ack { seq }),
                    Out::Frame(b) => b,
                    Out::Err(e) => {
                        let (fatal, code) = (e.fatal, e.code);
                        let sent = send_within(
                            &mut ws,
                            Message::Binary(edge_to_vec(&EdgeFrame::Err(e)).into()),
                            write_timeout,
                            &m,
                        )
                        .await;
                        if !sent {
                            break;
                        }
                        if fatal {
                            close(&mut ws, code.ws_close_code(), code.as_str()).await;
                            break;
                        }
                        continue;
                    }
                    Out::Close(code, why) => {
                        close(&mut ws, code, &why).await;
                        break;
                    }
                };
                if !send_within(&mut ws, Message::Binary(msg.into()), write_timeout, &m).await {
                    break;
                }
            }
            // The shard dropped our queue (slow reader) or is shutting down.
            Ev::Out(None) => {
                close(&mut ws, 1013, "slow reader").await;
                break;
            }
            Ev::Tick => {
                if last_seen.elapsed() >= idle {
                    close(&mut ws, 1001, "idle").await;
                    break;
                }
                if !send_within(&mut ws, Message::Ping(Vec::new().into()), write_timeout, &m).await
                {
                    break;
                }
            }
            Ev::Ws(None | Some(Ok(Message::Close(_)))) => break,
            Ev::Ws(Some(Err(WsError::Capacity(_)))) => {
                refuse(&mut ws, &m, ErrorCode::TooBig, "frame over 128 KiB").await;
                break;
            }
            Ev::Ws(Some(Err(_))) => break,
            Ev::Ws(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => {}
            Ev::Ws(Some(Ok(Message::Text(_)))) => {
                refuse(
                    &mut ws,
                    &m,
                    ErrorCode::BadFrame,
                    "frames are binary MessagePack",
                )
                .await;
                break;
            }
            Ev::Ws(Some(Ok(Message::Binary(b)))) => match decode_client(&b, &limits) {
                Ok(ClientFrame::Hello(_)) => {
                    m.error(ErrorCode::BadFrame);
                    let _ = ws
                        .send(Message::Binary(
                            err_frame(ErrorCode::BadFrame, "hello was already sent", false).into(),
                        ))
                        .await;
                }
                Ok(frame) => route.send(Some(b.to_vec()), frame, now_ms()),
                Err(e @ DecodeError::UnknownType(_)) => {
                    m.error(e.code());
                    let _ = ws
                        .send(Message::Binary(
                            err_frame(e.code(), &e.to_string(), false).into(),
                        ))
                        .await;
                }
                Err(e) => {
                    refuse(&mut ws, &m, e.code(), &e.to_string()).await;
                    break;
                }
            },
        }
    }
    shard.borrow_mut().unregister(conn.id);
}

async fn batch(shard: &ShardRef, stream: &mut TcpStream, req: Request) -> Response {
    let (node, m) = {
        let s = shard.borrow();
        (s.node.clone(), s.metrics().clone())
    };
    let origin = req.header("origin").map(str::to_string);
    let resp = |r: Response| r.cors(origin.as_deref());
    let Some(len) = req
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
    else {
        return resp(Response::text(411, "content-length required"));
    };
    if len > Limits::DEFAULT.max_http_body_bytes {
        m.error(ErrorCode::TooBig);
        http::drain(stream, req.rest.len(), len, Duration::from_secs(2)).await;
        return resp(Response::error(ErrorCode::TooBig, "body over 256 KiB"));
    }
    let body = match http::read_body(
        stream,
        req.rest.clone(),
        len,
        Duration::from_millis(node.edge.header_timeout_ms),
    )
    .await
    {
        Ok(b) => b,
        Err(_) => return resp(Response::text(408, "body not received in time")),
    };
    let b = match decode_http_batch(&body, &Limits::DEFAULT) {
        Ok(b) => b,
        Err(e) => {
            m.error(e.code());
            return resp(Response::error(e.code(), &e.to_string()));
        }
    };
    let tenants = node.tenants.load();
    let Some(ti) = tenants.by_key(&b.key) else {
        m.error(ErrorCode::BadKey);
        return resp(Response::error(
            ErrorCode::BadKey,
            "unknown or revoked write key",
        ));
    };
    let tenant = tenants.get(ti);
    if !origin_allowed(tenant, origin.as_deref()) {
        m.error(ErrorCode::Origin);
        return resp(Response::error(
            ErrorCode::Origin,
            "origin not allowed for this key",
        ));
    }
    if body.len() > tenant.limits.max_http_body_bytes {
        m.error(ErrorCode::TooBig);
        return resp(Response::error(
            ErrorCode::TooBig,
            "body over the tenant's limit",
        ));
    }
    let (tx, rx) = local_channel::new_bounded::<Out>(CONN_QUEUE);
    let route = Route::open(shard, ti, b.sid.clone(), tx);
    let conn = route.conn;
    let mut want = None;
    let recv_ms = now_ms();
    if let Some(h) = b.hello {
        route.send(None, ClientFrame::Hello(h), recv_ms);
    }
    for f in b.frames {
        want = want.max(f.seq());
        route.send(None, f, recv_ms);
    }
    let result = futures_lite::future::or(
        async {
            let mut acked = None;
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Ack(seq) => {
                        acked = acked.max(Some(seq));
                        if acked >= want {
                            return Ok(acked);
                        }
                    }
                    // Counted by the shard that refused.
                    Out::Err(e) => return Err((e.code, e.msg, e.retry_ms, false)),
                    Out::Close(1013, why) => {
                        return Err((ErrorCode::Overloaded, why, None, true));
                    }
                    Out::Close(_, why) => return Err((ErrorCode::Internal, why, None, true)),
                    Out::Frame(_) => {
                        if want.is_none() {
                            return Ok(None);
                        }
                    }
                }
            }
            Err((
                ErrorCode::Overloaded,
                "connection queue dropped".to_string(),
                None,
                true,
            ))
        },
        async {
            glommio::timer::sleep(BATCH_DEADLINE).await;
            Err((
                ErrorCode::Overloaded,
                "frames not durable in time".to_string(),
                None,
                true,
            ))
        },
    )
    .await;
    shard.borrow_mut().unregister(conn.id);
    match result {
        Ok(ack) => resp(Response::json(
            200,
            &serde_json::json!({"ack": ack.map_or(0, |s| s.0)}),
        )),
        Err((code, why, retry_ms, count)) => {
            if count {
                m.error(code);
            }
            resp(Response::error_retry(code, &why, retry_ms))
        }
    }
}
