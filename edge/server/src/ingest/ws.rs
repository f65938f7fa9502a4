//! WebSocket sessions (`GET /v1/ws`): one binary message is one frame.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use glommio::net::TcpStream;
use sentientiq_proto::{
    ClientFrame, DecodeError, EdgeFrame, ErrorCode, Limits, decode_client, edge_to_vec,
};

use super::hello::{self, From};
use super::http::{self, Request, Response};
use super::route::{Route, err_frame};
use crate::clock::now_ms;
use crate::shard::msg::conn_queue;
use crate::shard::{Out, ShardRef};
use crate::telemetry::ShardMetrics;

type Ws = WebSocketStream<TcpStream>;

/// Sends within `timeout`. A write the client does not drain in time drops the connection (no
/// close handshake is possible on a socket that does not drain): a slow reader holds at most
/// its bounded buffers, and not for long.
///
/// Most sends complete on their first poll (glommio tries the socket's `send(2)` before going
/// through io_uring), and those need no timer: the timeout's timer is made only for a send that
/// is still pending after it, and then measures from there.
async fn send_within(ws: &mut Ws, msg: Message, timeout: Duration, m: &ShardMetrics) -> bool {
    let mut send = std::pin::pin!(ws.send(msg));
    let r = match futures_lite::future::poll_once(send.as_mut()).await {
        Some(r) => Some(r),
        None => {
            futures_lite::future::or(async { Some(send.await) }, async {
                glommio::timer::sleep(timeout).await;
                None
            })
            .await
        }
    };
    match r {
        Some(Ok(())) => true,
        Some(Err(_)) => false,
        None => {
            ShardMetrics::inc(&m.slow_readers);
            false
        }
    }
}

/// A connection's ping timer: due `every` after the start of the connection loop's current
/// wait, that is after `every` without any event (a client message, or anything from the shard
/// to send), as a fresh timer per wait used to say, but with one glommio timer for the
/// connection's life.
///
/// A fresh timer per wait cost a reactor timer insert and remove (a `BTreeMap` holding every
/// connection's timer) and an allocation on nearly every loop turn, about two turns per frame.
/// Here a turn only forgets when the quiet spell began ([`Quiet::restart`]); the next poll
/// notes the time. The timer stays armed for the due time it was set to: if events moved the
/// due time on, it fires early (at most once per `every` for a busy connection), and is then
/// re-armed for the new due time; it is re-registered too if the task's waker changed.
struct Quiet {
    every: Duration,
    /// When the current quiet spell began: `None` until the first poll after a restart.
    since: Option<Instant>,
    timer: glommio::timer::Timer,
    /// When the timer fires and the waker it wakes, while it is registered with the reactor.
    armed: Option<(Instant, Waker)>,
    /// How often the timer was (re)armed (tests).
    #[cfg(test)]
    arms: u32,
}

impl Quiet {
    fn new(every: Duration) -> Quiet {
        Quiet {
            every,
            since: None,
            timer: glommio::timer::Timer::new(every),
            armed: None,
            #[cfg(test)]
            arms: 0,
        }
    }

    /// An event happened: a new quiet spell begins (at the next poll). No timer operation.
    fn restart(&mut self) {
        self.since = None;
    }

    /// Ready once `every` has passed since the quiet spell began.
    fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        let due = *self.since.get_or_insert(now) + self.every;
        if now >= due {
            return Poll::Ready(());
        }
        // An armed timer fires at or before `due` (due times only move on) and wakes this task:
        // it will be polled again by then.
        if let Some((at, waker)) = &self.armed
            && *at > now
            && waker.will_wake(cx.waker())
        {
            return Poll::Pending;
        }
        #[cfg(test)]
        {
            self.arms += 1;
        }
        self.timer.reset(due - now);
        match Pin::new(&mut self.timer).poll(cx) {
            // `due` passed between the two clock readings.
            Poll::Ready(_) => {
                self.armed = None;
                Poll::Ready(())
            }
            Poll::Pending => {
                self.armed = Some((due, cx.waker().clone()));
                Poll::Pending
            }
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
    let (tx, rx) = conn_queue();
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
    let mut last_seen = Instant::now();
    // One ping timer for the connection's life; every loop turn restarts its quiet spell.
    let mut quiet = Quiet::new(ping_every);
    enum Ev {
        Ws(Option<Result<Message, WsError>>),
        Out(Option<Out>),
        Tick,
    }
    loop {
        quiet.restart();
        let ev = futures_lite::future::or(
            async { Ev::Out(rx.recv().await) },
            futures_lite::future::or(async { Ev::Ws(ws.next().await) }, async {
                std::future::poll_fn(|cx| quiet.poll_due(cx)).await;
                Ev::Tick
            }),
        )
        .await;
        if matches!(ev, Ev::Ws(Some(Ok(_)))) {
            last_seen = Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::LocalExecutorBuilder;

    /// Busy turns keep the ping from being due and do not re-arm the timer each turn; once
    /// the turns stop, it is due a full `every` later, woken by its one timer.
    #[test]
    fn quiet_is_due_after_a_quiet_spell_and_busy_turns_do_not_rearm_it() {
        LocalExecutorBuilder::default()
            .spawn(|| async {
                let every = Duration::from_millis(300);
                let mut q = Quiet::new(every);
                let turns = 100;
                for _ in 0..turns {
                    q.restart();
                    let due = futures_lite::future::or(
                        async {
                            std::future::poll_fn(|cx| q.poll_due(cx)).await;
                            true
                        },
                        async {
                            glommio::timer::sleep(Duration::from_millis(5)).await;
                            false
                        },
                    )
                    .await;
                    assert!(!due, "due while busy");
                }
                // About 0.5 s of turns: armed once, then once per early fire (one per `every`),
                // not once per turn (the margin is for a loaded machine's late sleeps).
                assert!(q.arms < turns / 4, "{} arms for {turns} turns", q.arms);
                q.restart();
                let t0 = Instant::now();
                let woke = futures_lite::future::or(
                    async {
                        std::future::poll_fn(|cx| q.poll_due(cx)).await;
                        true
                    },
                    async {
                        glommio::timer::sleep(Duration::from_secs(5)).await;
                        false
                    },
                )
                .await;
                assert!(woke, "never due");
                let waited = t0.elapsed();
                assert!(waited >= every, "due after {waited:?}");
                assert!(waited < Duration::from_secs(2), "due after {waited:?}");
            })
            .expect("executor")
            .join()
            .expect("join");
    }
}
