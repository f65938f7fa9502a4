//! Each shard's own `SO_REUSEPORT` listener, the connection cap, and HTTP routing.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::Duration;

use glommio::net::{TcpListener, TcpStream};
use sentientiq_proto::ErrorCode;
use socket2::{Domain, Protocol, Socket, Type};

use super::http::{self, HeadError, Response};
use crate::node::Room;
use crate::shard::ShardRef;
use crate::telemetry::ShardMetrics;

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
    // Connections being refused at the cap right now: each holds a descriptor while it is
    // answered, so they are bounded too (`node::SHED_IN_FLIGHT`, kept in the descriptor budget).
    let shedding = std::rc::Rc::new(std::cell::Cell::new(0usize));
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
        // Taken here, before the task runs: a burst of accepts (glommio accepts what waits in
        // the backlog without yielding) sees every one before it, for the cap's places and for
        // the refusals in flight alike.
        let place = match node.room(shard.borrow().id) {
            Some(room) => Ok(room),
            None if shedding.get() >= crate::node::SHED_IN_FLIGHT => {
                // Past the cap and past the refusals in flight: closed unanswered (counted as
                // shed, not as an error answered).
                ShardMetrics::inc(&m.shed);
                drop(stream);
                continue;
            }
            None => Err((Room::count(&m), Refusing::count(shedding.clone()))),
        };
        let sh = shard.clone();
        // The task holds its future's largest state for the connection's whole life: what
        // comes before a WebSocket session (the request, the upgrade, the hello) runs boxed,
        // and the session (boxed too) is awaited once that is done. The connection's place
        // goes with it: into its session if it becomes one here, else given back at its end.
        glommio::spawn_local(async move {
            let session = match place {
                Err(refusing) => {
                    Box::pin(shed(stream, &m)).await;
                    drop(refusing);
                    None
                }
                Ok(room) => Box::pin(serve(sh, stream, room)).await,
            };
            if let Some(session) = session {
                session.await;
            }
        })
        .detach();
    }
}

/// One connection counted among a shard's refusals in flight while this lives.
struct Refusing(std::rc::Rc<std::cell::Cell<usize>>);

impl Refusing {
    fn count(n: std::rc::Rc<std::cell::Cell<usize>>) -> Refusing {
        n.set(n.get() + 1);
        Refusing(n)
    }
}

impl Drop for Refusing {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Answers a connection over the shard's connection cap with 503.
async fn shed(mut stream: TcpStream, m: &ShardMetrics) {
    ShardMetrics::inc(&m.shed);
    m.error(ErrorCode::Overloaded);
    // Read the request first (briefly): closing with unread input would make the kernel reset
    // the connection and the client would never see the 503.
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
}

/// Serves one connection: a WebSocket upgrade takes it over; the small GETs pages make again
/// and again (`/v1/ping`, the SDK, `/v1/edges`) keep it alive for the next request (the SDK's
/// warm ping must not pay a new connection); anything else, a beacon too, is answered and
/// closed.
/// A WebSocket session to be run on this shard comes back, for the connection's task to await.
async fn serve(shard: ShardRef, mut stream: TcpStream, room: Room) -> Option<super::ws::Session> {
    let _ = stream.set_nodelay(true);
    let node = shard.borrow().node.clone();
    let mut first = true;
    loop {
        let req = match http::read_head(
            &mut stream,
            Duration::from_millis(node.edge.header_timeout_ms),
        )
        .await
        {
            Ok(r) => r,
            // A kept-alive connection that goes quiet or closes just ends.
            Err(_) if !first => return None,
            Err(e) => {
                let r = match e {
                    HeadError::Closed | HeadError::Io(_) => return None,
                    HeadError::Timeout => {
                        Response::refusal(408, "request head not received in time")
                    }
                    HeadError::TooBig => Response::refusal(431, "request head too large"),
                    HeadError::Malformed(m) => Response::refusal(400, &m),
                };
                let _ = http::write(&mut stream, &r, true).await;
                return None;
            }
        };
        first = false;
        let origin = req.header("origin").map(str::to_string);
        let path = req.path.split('?').next().unwrap_or("").to_string();
        let reusable = req.method == "GET"
            && req.rest.is_empty()
            && !req
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let mut keep = false;
        let resp = match (req.method.as_str(), path.as_str()) {
            ("GET", "/v1/ws") => return super::ws::serve(shard, stream, req, room).await,
            ("POST", "/v1/batch") => super::beacon::serve(&shard, &mut stream, req).await,
            ("OPTIONS", _) => Response::new(204).cors(origin.as_deref()),
            ("GET", "/v1/ping") => {
                keep = reusable;
                Response::new(204)
                    .header("x-siq-region", node.edge.region.clone())
                    .header("cache-control", "no-store")
                    .header("timing-allow-origin", "*")
                    .cors(origin.as_deref())
            }
            ("GET", "/v1/edges") => {
                keep = reusable;
                super::sdk::edges(&node.edge)
            }
            ("GET", p) if p.starts_with("/v1/sdk") => match super::sdk::serve(&req, p) {
                Some(r) => {
                    keep = reusable;
                    r
                }
                None => Response::refusal(404, "no such SDK version"),
            },
            // The demo shop, only where `[edge] demo_shop = true` (404 otherwise).
            ("GET", p) if node.edge.demo_shop && p.starts_with("/demo/") => {
                match super::demo_shop::serve(p) {
                    Some(r) => {
                        keep = reusable;
                        r
                    }
                    None => Response::refusal(404, "not found"),
                }
            }
            ("GET", "/healthz") => Response::text(200, "ok\n"),
            ("GET", "/readyz") => {
                if node.all_ready() {
                    Response::text(200, "ready\n")
                } else {
                    Response::text(503, "not ready\n")
                }
            }
            ("GET", "/metrics") => {
                let mut r = Response::text(200, node.render_metrics());
                r.headers[0].1 = "text/plain; version=0.0.4".into();
                r
            }
            ("GET", p) if p.starts_with("/a/") => {
                super::alert_page::serve(&node, &p[3..], None).await
            }
            ("POST", p) if p.starts_with("/a/") => {
                let token = p[3..].to_string();
                let len = match http::framing(&req) {
                    Ok(http::Framing::Length(n)) if n <= crate::alerts::page::MAX_FORM => n,
                    Ok(_) => {
                        let r = Response::refusal(413, "form too large");
                        let _ = http::write(&mut stream, &r, true).await;
                        return None;
                    }
                    Err(http::BadFraming(status, msg)) => {
                        let _ =
                            http::write(&mut stream, &Response::refusal(status, msg), true).await;
                        return None;
                    }
                };
                let deadline = Duration::from_millis(node.edge.header_timeout_ms);
                match http::read_body(&mut stream, req.rest.clone(), len, deadline).await {
                    Ok(body) => super::alert_page::serve(&node, &token, Some(&body)).await,
                    Err(_) => return None,
                }
            }
            (
                _,
                "/v1/ws" | "/v1/batch" | "/v1/ping" | "/v1/edges" | "/healthz" | "/readyz"
                | "/metrics",
            ) => Response::refusal(405, "method not allowed"),
            _ => Response::refusal(404, "not found"),
        };
        if http::write(&mut stream, &resp, !keep).await.is_err() || !keep {
            return None;
        }
    }
}
