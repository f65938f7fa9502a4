//! WebSocket sessions (`GET /v1/ws`): one binary message is one frame.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::FrameHeader;
use async_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use glommio::channels::local_channel::LocalReceiver;
use glommio::net::TcpStream;
use sentientiq_proto::{
    ClientFrame, DecodeError, EdgeFrame, ErrorCode, Limits, decode_client, edge_to_vec,
};

use super::hello::{self, From};
use super::http::{self, Request, Response};
use super::route::{Route, err_frame};
use crate::clock::now_ms;
use crate::node::Room;
use crate::shard::msg::{Handoff, conn_queue};
use crate::shard::{Out, ShardRef, owner};
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
        // Rare (the socket's buffer is full): boxed, so the timer's room is not part of every
        // session's future.
        None => Box::pin(within(timeout, send)).await,
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

/// The first WebSocket message, as far as the edge reads it itself (RFC 6455 §5.2).
#[derive(Debug, PartialEq, Eq)]
enum FirstMsg {
    /// More bytes are needed.
    Need,
    /// One complete, unfragmented, masked binary message of at most `max` bytes, unmasked,
    /// and how many bytes of the input it took.
    Binary { payload: Vec<u8>, used: usize },
    /// Anything else (text, a control frame, fragments, no mask, reserved bits, over `max`):
    /// the WebSocket library reads it from the start and answers as it always has.
    Other,
}

/// Parses the first client message at the start of `buf`. Only what a conforming SDK sends
/// first, a hello in one masked binary frame, is taken; everything else is left to the
/// library, so this reader adds no rules of its own. The header is the library's own parser's
/// (`FrameHeader::parse`); unmasking is not public there, so it is done here.
fn first_message(buf: &[u8], max: usize) -> FirstMsg {
    let mut at = std::io::Cursor::new(buf);
    let (h, len) = match FrameHeader::parse(&mut at) {
        Ok(Some(h)) => h,
        Ok(None) => return FirstMsg::Need,
        Err(_) => return FirstMsg::Other,
    };
    // FIN, no reserved bits, binary; masked, as every client frame must be.
    let (true, false, false, false, OpCode::Data(Data::Binary), Some(mask)) =
        (h.is_final, h.rsv1, h.rsv2, h.rsv3, h.opcode, h.mask)
    else {
        return FirstMsg::Other;
    };
    let Some(len) = usize::try_from(len).ok().filter(|l| *l <= max) else {
        return FirstMsg::Other;
    };
    let start = at.position() as usize;
    let Some(body) = buf.get(start..start + len) else {
        return FirstMsg::Need;
    };
    let payload = body
        .iter()
        .zip(mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect();
    FirstMsg::Binary {
        payload,
        used: start + len,
    }
}

/// What reading the first message gave.
enum First {
    /// A binary message, and the bytes read after it.
    Binary(Vec<u8>, Vec<u8>),
    /// Something for the WebSocket library (every byte read so far).
    Other(Vec<u8>),
    /// No complete message in time (every byte read so far).
    Late(Vec<u8>),
    /// The connection closed or failed.
    Gone,
}

/// Reads the first message from the socket (after `buf`, bytes already read) by `until`.
/// At most the message's header, `max` bytes and one read's worth past them are held.
async fn read_first(stream: &mut TcpStream, mut buf: Vec<u8>, until: Instant, max: usize) -> First {
    use futures_lite::AsyncReadExt;
    let mut chunk = vec![0u8; 4096];
    loop {
        match first_message(&buf, max) {
            FirstMsg::Binary { payload, used } => {
                buf.drain(..used);
                return First::Binary(payload, buf);
            }
            FirstMsg::Other => return First::Other(buf),
            FirstMsg::Need => {}
        }
        let left = until.saturating_duration_since(Instant::now());
        let read = within(left, stream.read(&mut chunk)).await;
        match read {
            Some(Ok(0) | Err(_)) => return First::Gone,
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            None => return First::Late(buf),
        }
    }
}

/// Closes with `code`, giving up (the connection is dropped without its close handshake) when
/// the client does not take the close frame within `timeout`: a client that does not read must
/// not hold its connection, and the task serving it, for as long as it likes.
async fn close(ws: &mut Ws, code: u16, reason: &str, timeout: Duration) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    };
    let _ = within(timeout, ws.close(Some(frame))).await;
}

/// `f`'s output, or `None` when `timeout` passes first (`f` is then dropped).
async fn within<T>(timeout: Duration, f: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        glommio::timer::sleep(timeout).await;
        None
    })
    .await
}

/// Sends a fatal `err` and closes with the code PROTOCOL.md §6 gives it, each step bounded by
/// `timeout` as [`close`] is.
async fn refuse(ws: &mut Ws, m: &ShardMetrics, code: ErrorCode, msg: &str, timeout: Duration) {
    m.error(code);
    let err = Message::Binary(err_frame(code, msg, true).into());
    if let Some(Ok(())) = within(timeout, ws.send(err)).await {
        close(ws, code.ws_close_code(), code.as_str(), timeout).await;
    }
}

/// Refuses a session whose write key was revoked (or whose tenant was removed) since its hello.
async fn revoked(ws: &mut Ws, m: &ShardMetrics, timeout: Duration) {
    refuse(ws, m, ErrorCode::BadKey, "write key revoked", timeout).await;
}

/// A WebSocket connection's start: the upgrade and the `hello`. The session then goes to the
/// shard that owns it ([`hand_over`]), or comes back to be run here ([`start_session`]).
/// `room` is the connection's place on this shard: it goes into the session, or back when the
/// connection is handed over (the owner's place is taken first) or ends here.
pub async fn serve(
    shard: ShardRef,
    mut stream: TcpStream,
    req: Request,
    room: Room,
) -> Option<Session> {
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
        return None;
    };
    let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = Response::new(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept);
    if http::write(&mut stream, &resp, false).await.is_err() {
        return None;
    }
    let peer = stream
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let origin = req.header("origin").map(str::to_string);
    let until = Instant::now() + Duration::from_millis(node.edge.header_timeout_ms);
    let cfg = ws_config(&node);
    let write_timeout = Duration::from_millis(node.edge.write_timeout_ms);

    // The first message must be `hello`. The edge reads it itself while the socket is still
    // its own to give away: once the hello names the session, the connection goes to the
    // shard that owns the session, so its frames and acks never cross the mesh.
    let max = Limits::DEFAULT.max_frame_bytes;
    let (start, bytes) = match read_first(&mut stream, req.rest.clone(), until, max).await {
        First::Binary(payload, rest) => (Start::Raw(stream, rest), payload),
        First::Other(read) => {
            let mut ws = ws_over(stream, read, cfg).await;
            match first_by_library(&mut ws, &m, until, write_timeout).await {
                Some(b) => (Start::Ws(ws), b),
                None => return None,
            }
        }
        First::Late(read) => {
            let mut ws = ws_over(stream, read, cfg).await;
            close(&mut ws, 1008, "no hello in time", write_timeout).await;
            return None;
        }
        First::Gone => return None,
    };
    let mut hello = match decode_client(&bytes, &Limits::DEFAULT) {
        Ok(ClientFrame::Hello(h)) => h,
        Ok(_) => {
            let mut ws = start.ws(cfg).await;
            refuse(
                &mut ws,
                &m,
                ErrorCode::BadFrame,
                "the first frame must be hello",
                write_timeout,
            )
            .await;
            return None;
        }
        Err(e) => {
            let mut ws = start.ws(cfg).await;
            refuse(&mut ws, &m, e.code(), &e.to_string(), write_timeout).await;
            return None;
        }
    };
    let key_h = sentientiq_tenant::key_hash(hello.key.as_str());
    let tenants = node.tenants.load();
    let ti = match hello::tenant_for(&tenants, &key_h, From::Web(origin.as_deref())) {
        Ok(ti) => ti,
        Err(r) => {
            let mut ws = start.ws(cfg).await;
            refuse(&mut ws, &m, r.code, r.msg, write_timeout).await;
            return None;
        }
    };
    let own = owner(&tenants.get(ti).id, hello.sid.as_str(), node.nshards);
    drop(tenants);
    let ws = match start {
        Start::Raw(stream, rest) => {
            match hand_over(&shard, own, stream, rest, hello, ti, key_h, peer) {
                Ok(()) => return None,
                Err((stream, rest, h)) => {
                    hello = *h;
                    ws_over(stream, rest, cfg).await
                }
            }
        }
        Start::Ws(ws) => ws,
    };
    Some(start_session(shard, ws, hello, ti, key_h, peer, room))
}

/// What the WebSocket library reads into, per connection, for its whole life: its read
/// buffer's first capacity and the most one read takes. 1 KiB holds a frame of the loadgen's
/// average size (about 180 bytes: `bench/runs/2026-12-05-vm/README.md`, "Twenty-seventh
/// session") five times over. A larger frame grows the buffer to its length once its header is
/// in, and is read a KiB at a time (a full 512-sample batch, about 8 KiB at the loadgen's 15
/// bytes a sample, in about eight reads).
/// It was 4 KiB: 8.0 MB of the edge's heap at 1 960 sessions (heaptrack), the largest single
/// part of a session's memory. The bench's comparison servers read the same
/// (`sentientiq_bench::servers::READ_BUFFER`; `tests/system/tests/bench_servers.rs` holds the
/// two equal).
pub const WS_READ_BYTES: usize = 1024;

/// The WebSocket settings of every session.
fn ws_config(node: &crate::node::Node) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(node.edge.write_buffer_bytes)
        .max_message_size(Some(Limits::DEFAULT.max_frame_bytes))
        .max_frame_size(Some(Limits::DEFAULT.max_frame_bytes))
}

/// A connection after its first message: the socket with the bytes read past that message, or
/// already the library's stream. One per connection, for its first moments only.
#[allow(clippy::large_enum_variant)]
enum Start {
    Raw(TcpStream, Vec<u8>),
    Ws(Ws),
}

impl Start {
    async fn ws(self, cfg: WebSocketConfig) -> Ws {
        match self {
            Start::Raw(stream, rest) => ws_over(stream, rest, cfg).await,
            Start::Ws(ws) => ws,
        }
    }
}

/// The library's stream over a connection whose first `read` bytes were read already.
async fn ws_over(stream: TcpStream, read: Vec<u8>, cfg: WebSocketConfig) -> Ws {
    WebSocketStream::from_partially_read(stream, read, Role::Server, Some(cfg)).await
}

/// The first message read by the WebSocket library (whatever the edge's own reader left to
/// it), answered as the protocol says when it is not a binary message in time.
async fn first_by_library(
    ws: &mut Ws,
    m: &ShardMetrics,
    until: Instant,
    write_timeout: Duration,
) -> Option<Vec<u8>> {
    let left = until.saturating_duration_since(Instant::now());
    let first = within(left, ws.next()).await;
    match first {
        Some(Some(Ok(Message::Binary(b)))) => Some(b.to_vec()),
        None => {
            close(ws, 1008, "no hello in time", write_timeout).await;
            None
        }
        Some(Some(Err(WsError::Capacity(_)))) => {
            refuse(
                ws,
                m,
                ErrorCode::TooBig,
                "frame over 128 KiB",
                write_timeout,
            )
            .await;
            None
        }
        Some(Some(Ok(_))) => {
            refuse(
                ws,
                m,
                ErrorCode::BadFrame,
                "the first frame must be a binary hello",
                write_timeout,
            )
            .await;
            None
        }
        Some(_) => None,
    }
}

/// Gives the connection to `own`, the shard that owns its session, with the bytes read past
/// the hello. It stays here (and its frames cross the mesh, as a beacon's or a QUIC stream's
/// do) when this shard is the owner, when the owner is at its connection cap, or when the
/// socket cannot be duplicated; then the arguments come back.
// The `Err` path gives the connection back to be served here: once per connection.
#[allow(
    clippy::type_complexity,
    clippy::too_many_arguments,
    clippy::result_large_err
)]
fn hand_over(
    shard: &ShardRef,
    own: usize,
    stream: TcpStream,
    rest: Vec<u8>,
    hello: sentientiq_proto::Hello,
    ti: usize,
    key_h: [u8; 32],
    peer: std::net::IpAddr,
) -> Result<(), (TcpStream, Vec<u8>, Box<sentientiq_proto::Hello>)> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    let s = shard.borrow();
    if own == s.id || !s.reaches(own) {
        return Err((stream, rest, Box::new(hello)));
    }
    let Some(room) = s.node.room(own) else {
        return Err((stream, rest, Box::new(hello)));
    };
    drop(s);
    #[allow(unsafe_code)]
    // SAFETY: `stream` owns this open descriptor for the whole borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) }.try_clone_to_owned();
    let Ok(fd) = fd else {
        return Err((stream, rest, Box::new(hello)));
    };
    // Our descriptor closes here; the socket lives on in the duplicate, now the owner's.
    drop(stream);
    shard.borrow_mut().hand_over(
        own,
        Handoff {
            fd,
            rest,
            hello,
            tenant: ti,
            key_h,
            peer,
            room,
        },
    );
    Ok(())
}

/// Serves a connection another shard handed over ([`hand_over`]): this shard owns its session.
///
/// The task holds this future for the connection's whole life, so it keeps only pointers: the
/// hand-off is taken apart at once (its box freed), what the session needs after the
/// WebSocket layer is set up waits in a box of its own, freed when the session starts, and
/// the steps are boxed (an `async` block, not an `async fn`, for the reason [`session`]
/// gives).
#[allow(clippy::manual_async_fn)]
pub fn adopt(shard: ShardRef, h: Box<Handoff>) -> impl Future<Output = ()> {
    async move {
        use std::os::fd::{FromRawFd, IntoRawFd};
        // Moved out whole, so the hand-off's box is freed here; a box moved out of field by
        // field would live until the end of this block, that is the session's.
        let Handoff {
            fd,
            rest,
            hello,
            tenant,
            key_h,
            peer,
            room,
        } = *h;
        let later = Box::new((hello, tenant, key_h, peer, room));
        #[allow(unsafe_code)]
        // SAFETY: the handoff owns this open TCP socket's descriptor and gives it up here.
        let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
        let cfg = ws_config(&shard.borrow().node);
        let ws = Box::pin(ws_over(stream, rest, cfg)).await;
        let (hello, tenant, key_h, peer, room) = *later;
        // The place taken in transit is the session's.
        start_session(shard, ws, hello, tenant, key_h, peer, room).await;
    }
}

/// A session's future, boxed: what a connection's task awaits once its start is done.
pub type Session = Pin<Box<dyn Future<Output = ()>>>;

/// Starts a session after its hello: checks its key again (the directory may have changed
/// since the hello was checked, or while the connection travelled to this shard) and routes
/// the hello, synchronously; the rest is the future this returns, which holds `room` (the
/// connection's place in the shard's open connections) until it ends.
///
/// A task holds its future's largest state for its whole life. The upgrade and the hello
/// (reading the request and the first frame, the refusals) take several times a session's
/// state, so the connection's task runs them boxed and then awaits this, boxed too: a
/// connection keeps only the session's own future (its budget is a test's) for its life.
fn start_session(
    shard: ShardRef,
    mut ws: Ws,
    hello: sentientiq_proto::Hello,
    ti: usize,
    key_h: [u8; 32],
    peer: std::net::IpAddr,
    room: Room,
) -> Session {
    let (node, m) = {
        let s = shard.borrow();
        (s.node.clone(), s.metrics().clone())
    };
    let seen_version = node.tenants.version();
    let tenants = node.tenants.load();
    if !hello::still_valid(&tenants, &key_h, ti) {
        let timeout = Duration::from_millis(node.edge.write_timeout_ms);
        return Box::pin(async move {
            let _room = room;
            revoked(&mut ws, &m, timeout).await;
        });
    }
    let (tx, rx) = conn_queue();
    let route = Route::open(&shard, ti, hello.sid.clone(), peer, tx);
    route.send(None, ClientFrame::Hello(hello), now_ms());
    let live = Live {
        key_h,
        ti,
        seen_version,
        limits: tenants.get(ti).limits,
        _room: room,
    };
    drop(tenants);
    Box::pin(session(shard, ws, route, rx, live))
}

/// What a session keeps of its start: what its key is checked against on every event, and its
/// tenant's limits.
struct Live {
    key_h: [u8; 32],
    ti: usize,
    /// The directory version its key was last checked at.
    seen_version: u64,
    /// Its tenant's limits, as they were at its start.
    limits: Limits,
    /// Its place in the shard's open connections, given back when the session ends or its
    /// future is dropped.
    _room: Room,
}

/// How a session's loop turn ends, when it does not simply go on.
enum End {
    /// The connection is gone or unusable: nothing more to send.
    Gone,
    /// Close with this code and reason.
    Close(u16, String),
    /// Refuse (a fatal `err`, then its close) with this code and message.
    Refuse(ErrorCode, String),
    /// Send this fatal `err` frame from the shard, then close with its code's close code.
    Fatal(Vec<u8>, ErrorCode),
}

/// A session's loop: frames in and acks, detections and interventions out until either side
/// ends it. Its rare ends run in a boxed future ([`finish`]), so that they take no room in the
/// future every connection holds.
// A function returning an `async move` block rather than an `async fn`: an `async fn` moves
// each argument into a local of its body, and its future keeps room for both copies (`ws`
// alone is 400 bytes); a block's captures are used where they are.
#[allow(clippy::manual_async_fn)]
fn session(
    shard: ShardRef,
    mut ws: Ws,
    route: Route,
    rx: LocalReceiver<Out>,
    mut live: Live,
) -> impl Future<Output = ()> {
    async move {
        let (node, m) = {
            let s = shard.borrow();
            (s.node.clone(), s.metrics().clone())
        };
        let m = &*m;
        let write_timeout = Duration::from_millis(node.edge.write_timeout_ms);
        // Anything from the client (frames, pongs) counts as life; the edge pings every third of
        // the idle timeout so that idle-but-alive clients answer, and closes (1001) after a full
        // idle timeout of silence.
        let idle = Duration::from_millis(node.edge.idle_timeout_ms);
        let ping_every = idle / 3;
        let mut last_seen = Instant::now();
        // One ping timer for the connection's life; every loop turn restarts its quiet spell.
        let mut quiet = Quiet::new(ping_every);
        enum Ev {
            Ws(Option<Result<Message, WsError>>),
            Out(Option<Out>),
            Tick,
        }
        let end = loop {
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
            if v != live.seen_version {
                live.seen_version = v;
                if !hello::still_valid(&node.tenants.load(), &live.key_h, live.ti) {
                    break End::Refuse(ErrorCode::BadKey, "write key revoked".into());
                }
            }
            // The one message this turn sends, if any.
            let msg = match ev {
                Ev::Out(Some(out)) => match out {
                    Out::Ack { ack, .. } => binary(edge_to_vec(&EdgeFrame::Ack { seq: ack })),
                    Out::Frame(b) => binary(b),
                    Out::Err(e) if e.fatal => {
                        let code = e.code;
                        break End::Fatal(edge_to_vec(&EdgeFrame::Err(e)), code);
                    }
                    Out::Err(e) => binary(edge_to_vec(&EdgeFrame::Err(e))),
                    Out::Close(code, why) => break End::Close(code, why),
                },
                // The shard dropped our queue: it was full (`shard::msg::CONN_QUEUE`), a slow
                // reader as surely as a send past the write timeout; or the shard is going away.
                Ev::Out(None) => {
                    if !node.shutdown.load(std::sync::atomic::Ordering::Relaxed) {
                        ShardMetrics::inc(&m.slow_readers);
                    }
                    break End::Close(1013, "slow reader".into());
                }
                Ev::Tick => {
                    if last_seen.elapsed() >= idle {
                        break End::Close(1001, "idle".into());
                    }
                    Message::Ping(Vec::new().into())
                }
                Ev::Ws(None | Some(Ok(Message::Close(_)))) => break End::Gone,
                Ev::Ws(Some(Err(WsError::Capacity(_)))) => {
                    break End::Refuse(ErrorCode::TooBig, "frame over 128 KiB".into());
                }
                Ev::Ws(Some(Err(_))) => break End::Gone,
                Ev::Ws(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => {
                    continue;
                }
                Ev::Ws(Some(Ok(Message::Text(_)))) => {
                    break End::Refuse(ErrorCode::BadFrame, "frames are binary MessagePack".into());
                }
                Ev::Ws(Some(Ok(Message::Binary(b)))) => match decode_client(&b, &live.limits) {
                    Ok(ClientFrame::Hello(_)) => {
                        m.error(ErrorCode::BadFrame);
                        binary(err_frame(
                            ErrorCode::BadFrame,
                            "hello was already sent",
                            false,
                        ))
                    }
                    Ok(frame) => {
                        route.send(Some(b.to_vec()), frame, now_ms());
                        continue;
                    }
                    Err(e @ DecodeError::UnknownType(_)) => {
                        m.error(e.code());
                        binary(err_frame(e.code(), &e.to_string(), false))
                    }
                    Err(e) => break End::Refuse(e.code(), e.to_string()),
                },
            };
            if !send_within(&mut ws, msg, write_timeout, m).await {
                break End::Gone;
            }
        };
        Box::pin(finish(&mut ws, m, end, write_timeout)).await;
        shard.borrow_mut().unregister(route.conn.id);
        // Its place in the shard's open connections goes back last. Used whole here, `live`
        // is the block's own: a block that used only its fields would hold only those, and
        // its `_room` would be dropped with `session`'s arguments, before the session ran.
        drop(live);
    }
}

/// A binary WebSocket message of an encoded frame.
fn binary(frame: Vec<u8>) -> Message {
    Message::Binary(frame.into())
}

/// A session's end: its close or refusal, each step bounded by `timeout`.
async fn finish(ws: &mut Ws, m: &ShardMetrics, end: End, timeout: Duration) {
    match end {
        End::Gone => {}
        End::Close(code, why) => close(ws, code, &why, timeout).await,
        End::Refuse(code, msg) => refuse(ws, m, code, &msg, timeout).await,
        End::Fatal(frame, code) => {
            if send_within(ws, binary(frame), timeout, m).await {
                close(ws, code.ws_close_code(), code.as_str(), timeout).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::LocalExecutorBuilder;

    /// A client frame laid out as RFC 6455 §5.2 says: `b0` (FIN, reserved bits, opcode), the
    /// shortest length encoding, then the mask and the masked payload when `mask` is given.
    fn client_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let m = if mask.is_some() { 0x80 } else { 0 };
        let mut f = vec![b0];
        match payload.len() {
            n @ 0..=125 => f.push(m | n as u8),
            n @ 126..=0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(k) => {
                f.extend_from_slice(&k);
                f.extend(payload.iter().zip(k.iter().cycle()).map(|(b, k)| b ^ k));
            }
            None => f.extend_from_slice(payload),
        }
        f
    }

    const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);
    const MAX: usize = Limits::DEFAULT.max_frame_bytes;

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// The most a session's future may hold: with its connection task's own (a few hundred
    /// bytes), the memory every connection keeps for its whole life besides its buffers and the
    /// shard's session state. It is 1 192 bytes (a test build, 2026-12-05: 1 184 before it held
    /// its connection's `Room`); it was 3 152
    /// bytes (7 632 in the task that also did the upgrade) before the session's start and its
    /// rare ends (refusals, closes, a send's timeout) left the loop's own state. The figure
    /// depends on the compiler's layout of futures: a new toolchain may move it.
    const SESSION_FUTURE_BYTES: usize = 1200;

    /// A session's future, and the task of a connection handed over, stay within their
    /// budgets.
    #[test]
    fn a_sessions_future_stays_within_its_budget() {
        fn output_size<A, B, C, D, E, R>(_: fn(A, B, C, D, E) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        let n = output_size::<ShardRef, Ws, Route, LocalReceiver<Out>, Live, _>(session);
        assert!(n <= SESSION_FUTURE_BYTES, "{n} bytes");
        fn output_size2<A, B, R>(_: fn(A, B) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        // A handed-over connection's task: pointers to the boxed steps (48 bytes on
        // 2026-12-05; the hand-off's own box is freed before the session starts).
        let a = output_size2::<ShardRef, Box<Handoff>, _>(adopt);
        assert!(a <= 64, "{a} bytes");
    }

    #[test]
    fn a_masked_binary_message_is_read_whole_and_the_bytes_past_it_are_left() {
        // Each length encoding: 7-bit, 16-bit, 64-bit.
        for n in [0, 5, 125, 126, 300, 0xffff, 0x1_0000, 70_000] {
            let p = payload(n);
            let mut bytes = client_frame(0x82, &p, MASK);
            let len = bytes.len();
            assert_eq!(
                first_message(&bytes, MAX),
                FirstMsg::Binary {
                    payload: p.clone(),
                    used: len
                },
                "{n} bytes"
            );
            // A frame sent right behind it stays for the library.
            bytes.extend_from_slice(&client_frame(0x82, b"next", MASK));
            assert_eq!(
                first_message(&bytes, MAX),
                FirstMsg::Binary {
                    payload: p,
                    used: len
                },
                "{n} bytes and the next frame"
            );
        }
    }

    #[test]
    fn every_part_of_a_message_needs_the_rest() {
        for n in [3, 200, 70_000] {
            let bytes = client_frame(0x82, &payload(n), MASK);
            for cut in [0, 1, 2, 3, 5, 9, 11, 13, bytes.len() - 1]
                .into_iter()
                .filter(|c| *c < bytes.len())
            {
                assert_eq!(
                    first_message(&bytes[..cut], MAX),
                    FirstMsg::Need,
                    "{n} bytes cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_message_of_max_bytes_is_read_and_one_byte_more_is_left_to_the_library() {
        for (n, read) in [(MAX - 1, true), (MAX, true), (MAX + 1, false)] {
            let bytes = client_frame(0x82, &payload(n), MASK);
            let got = first_message(&bytes, MAX);
            assert_eq!(matches!(got, FirstMsg::Binary { .. }), read, "{n} bytes");
            if !read {
                assert_eq!(got, FirstMsg::Other, "known from the header alone");
                // The header: 2 bytes, the 64-bit length, the mask.
                assert_eq!(first_message(&bytes[..14], MAX), FirstMsg::Other);
            }
        }
    }

    #[test]
    fn anything_but_one_masked_binary_frame_is_left_to_the_library() {
        for (what, b0, mask) in [
            ("text", 0x81, MASK),
            ("a first fragment", 0x02, MASK),
            ("a continuation", 0x80, MASK),
            ("a ping", 0x89, MASK),
            ("a close", 0x88, MASK),
            ("a reserved bit", 0xc2, MASK),
            ("no mask", 0x82, None),
        ] {
            let bytes = client_frame(b0, b"hello", mask);
            assert_eq!(first_message(&bytes, MAX), FirstMsg::Other, "{what}");
        }
        // A 64-bit length past what memory could hold.
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(first_message(&huge, MAX), FirstMsg::Other);
    }

    /// A client that never reads: once the edge's sends stop draining, a send gives up within
    /// the write timeout and counts a slow reader, and a close or a refusal sent to that client
    /// afterwards gives up within it too, instead of holding the connection and its task until
    /// the client goes away. (The watchdog is for liveness: without the bound, a close waits
    /// for a reader that never comes.)
    #[test]
    fn sends_closes_and_refusals_to_a_client_that_never_reads_give_up_within_the_timeout() {
        LocalExecutorBuilder::default()
            .spawn(|| async {
                let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                // Loopback connects complete from the listen backlog, before the accept.
                let client = std::net::TcpStream::connect(addr).expect("connect");
                let stream = listener.accept().await.expect("accept");
                let mut ws = ws_over(stream, Vec::new(), WebSocketConfig::default()).await;
                let m = ShardMetrics::default();
                let timeout = Duration::from_millis(200);
                let watchdog = Duration::from_secs(30);
                let ended = futures_lite::future::or(
                    async {
                        let big = vec![7u8; 1 << 20];
                        let mut sent = 0;
                        while send_within(&mut ws, Message::Binary(big.clone().into()), timeout, &m)
                            .await
                        {
                            sent += 1;
                            assert!(sent < 1_000, "1 GiB sent to a client that never reads");
                        }
                        assert_eq!(m.slow_readers.load(std::sync::atomic::Ordering::Relaxed), 1);
                        close(&mut ws, 1013, "slow reader", timeout).await;
                        refuse(&mut ws, &m, ErrorCode::BadKey, "write key revoked", timeout).await;
                        true
                    },
                    async {
                        glommio::timer::sleep(watchdog).await;
                        false
                    },
                )
                .await;
                assert!(ended, "still sending or closing after {watchdog:?}");
                drop(client);
            })
            .expect("executor")
            .join()
            .expect("join");
    }

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
