//! `POST /v1/batch`: a beacon of frames (sendBeacon, fetch keepalive, or the fallback when
//! WebSocket is blocked), answered only after its frames are durable.

use std::time::Duration;

use glommio::net::TcpStream;
use sentientiq_proto::{ClientFrame, EdgeFrame, ErrorCode, Limits, decode_edge, decode_http_batch};

use super::hello::{self, From};
use super::http::{self, Request, Response};
use super::route::Route;
use crate::clock::now_ms;
use crate::shard::msg::conn_queue;
use crate::shard::{Out, ShardRef};

/// How long a beacon waits for its frames to become durable.
pub const BATCH_DEADLINE: Duration = Duration::from_secs(10);

/// One beacon: answered only once its frames are durable (or refused).
pub async fn serve(shard: &ShardRef, stream: &mut TcpStream, req: Request) -> Response {
    let (node, m) = {
        let s = shard.borrow();
        (s.node.clone(), s.metrics().clone())
    };
    let origin = req.header("origin").map(str::to_string);
    let resp = |r: Response| r.cors(origin.as_deref());
    let max = Limits::DEFAULT.max_http_body_bytes;
    let deadline = Duration::from_millis(node.edge.header_timeout_ms);
    let body = match http::framing(&req) {
        Err(http::BadFraming(status, why)) => {
            m.error(ErrorCode::BadFrame);
            return resp(Response::refusal(status, why));
        }
        Ok(http::Framing::Length(len)) if len > max => {
            m.error(ErrorCode::TooBig);
            http::drain(stream, req.rest.len(), len, Duration::from_secs(2)).await;
            return resp(Response::error(ErrorCode::TooBig, "body over 256 KiB"));
        }
        Ok(http::Framing::Length(len)) => {
            match http::read_body(stream, req.rest.clone(), len, deadline).await {
                Ok(b) => b,
                Err(_) => return resp(Response::refusal(408, "body not received in time")),
            }
        }
        Ok(http::Framing::Chunked) => {
            match http::read_chunked(stream, req.rest.clone(), max, deadline).await {
                Ok(b) => b,
                Err(http::ChunkError::Bad(http::BadFraming(status, why))) => {
                    m.error(if status == 413 {
                        ErrorCode::TooBig
                    } else {
                        ErrorCode::BadFrame
                    });
                    // Read (briefly) what is left, so the client sees the answer, not a reset.
                    http::drain(stream, 0, http::MAX_DRAIN, Duration::from_millis(500)).await;
                    return resp(Response::refusal(status, why));
                }
                Err(_) => return resp(Response::refusal(408, "body not received in time")),
            }
        }
    };
    let b = match decode_http_batch(&body, &Limits::DEFAULT) {
        Ok(b) => b,
        Err(e) => {
            m.error(e.code());
            return resp(Response::error(e.code(), &e.to_string()));
        }
    };
    let tenants = node.tenants.load();
    let key_h = sentientiq_tenant::key_hash(b.key.as_str());
    let ti = match hello::tenant_for(&tenants, &key_h, From::Web(origin.as_deref())) {
        Ok(ti) => ti,
        Err(r) => {
            m.error(r.code);
            return resp(Response::error(r.code, r.msg));
        }
    };
    let tenant = tenants.get(ti);
    if body.len() > tenant.limits.max_http_body_bytes {
        m.error(ErrorCode::TooBig);
        return resp(Response::error(
            ErrorCode::TooBig,
            "body over the tenant's limit",
        ));
    }
    let (tx, rx) = conn_queue();
    let peer = stream
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let route = Route::open(shard, ti, b.sid.clone(), peer, tx);
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
            // The answer waits until every frame of the body is handled durably (`upto`); it
            // carries the session's durable prefix (`ack`), which a gap below may keep lower.
            let mut acked = None;
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Ack { ack, upto } => {
                        acked = acked.max(Some(ack));
                        if Some(upto) >= want {
                            return Ok(acked);
                        }
                    }
                    // Counted by the shard that refused.
                    Out::Err(e) => return Err((e.code, e.msg, e.retry_ms, false)),
                    Out::Close(1013, why) => {
                        return Err((ErrorCode::Overloaded, why, None, true));
                    }
                    Out::Close(_, why) => return Err((ErrorCode::Internal, why, None, true)),
                    // A body with a hello and no frames is answered with the welcome's ack.
                    Out::Frame(f) => {
                        if want.is_none() {
                            return Ok(match decode_edge(&f, &Limits::DEFAULT) {
                                Ok(EdgeFrame::Welcome(w)) => Some(w.ack),
                                _ => None,
                            });
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
