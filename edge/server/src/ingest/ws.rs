//! WebSocket sessions (`GET /v1/ws`): one binary message is one frame.

use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use sentientiq_proto::{
    ClientFrame, DecodeError, EdgeFrame, ErrorCode, Limits, decode_client, edge_to_vec,
};

use super::hello::{self, From};
use super::http::{self, Request, Response};
use super::route::{CONN_QUEUE, Route, err_frame};
use crate::clock::now_ms;
use crate::shard::{Out, ShardRef};
use crate::telemetry::ShardMetrics;

type Ws = WebSocketStream<TcpStream>;

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

/// A WebSocket session: upgrade, `hello`, then frames in and acks, detections and
/// interventions out until either side ends it.
pub async fn serve(shard: ShardRef, mut stream: TcpStream, req: Request) {
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
            &Response::refusal(426, "WebSocket upgrade required"),
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
    let peer = stream
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
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
    let key_h = sentientiq_tenant::key_hash(hello.key.as_str());
    let ti = match hello::tenant_for(&tenants, &key_h, From::Web(origin.as_deref())) {
        Ok(ti) => ti,
        Err(r) => return refuse(&mut ws, &m, r.code, r.msg).await,
    };
    let tenant = tenants.get(ti);
    let (tx, rx) = local_channel::new_bounded::<Out>(CONN_QUEUE);
    let route = Route::open(&shard, ti, hello.sid.clone(), peer, tx);
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
            if !hello::still_valid(&node.tenants.load(), &key_h, ti) {
                refuse(&mut ws, &m, ErrorCode::BadKey, "write key revoked").await;
                break;
            }
        }
        match ev {
            Ev::Out(Some(out)) => {
                let msg = match out {
                    Out::Ack { ack, .. } => edge_to_vec(&EdgeFrame::Ack { seq: ack }),
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
