//! QUIC ingest (ALPN `siq/1`, PROTOCOL.md §2) inside the shards.
//!
//! Each shard binds its own `SO_REUSEPORT` UDP socket on the QUIC port and drives its own
//! `quinn-proto` [`Endpoint`] from it: no runtime beside the shard, no locks. The kernel spreads
//! datagrams over the shards' sockets by 4-tuple hash, so a connection's packets keep reaching
//! the shard that accepted it, until the client's address changes (migration, NAT rebinding).
//! Then they may land on another shard: every connection ID the edge issues starts with the
//! owning shard's index ([`ShardCids`]), and a shard hands any datagram whose destination ID
//! names another shard to that shard over the mesh ([`owner_of`]). Replies leave from the
//! owner's socket, which shares the port.
//!
//! Sessions are the WebSocket's: one bidirectional stream per session, the first frame `hello`,
//! frames routed to the session's owner shard through [`Route`], outputs (`ack`, `det`, `iv`,
//! `err`) written back length-prefixed. A refusal sends `err` and ends the stream with the
//! WebSocket close code as the QUIC application error code (STOP_SENDING, then FIN).

mod cids;
mod tls;

pub use cids::{CID_LEN, ShardCids, owner_of};
pub use tls::{Error, Shared, TICKETS, prepare};

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::ConnectedSender;
use quinn_proto::{
    ConnectionHandle, DatagramEvent, Dir, Endpoint, Event, ReadError, StreamEvent, StreamId,
    VarInt, WriteError,
};
use sentientiq_proto::stream::{Deframer, close as code, encode_prefixed};
use sentientiq_proto::{
    ClientFrame, DecodeError, EdgeFrame, ErrorCode, Limits, decode_client, edge_to_vec,
};

use super::hello::{self, From};
use super::route::{Route, err_frame};
use crate::clock::now_ms;
use crate::node::Node;
use crate::shard::msg::conn_queue;
use crate::shard::{Out, ShardRef};
use crate::telemetry::{QuicMetrics, ShardMetrics};

/// Datagrams a shard's receive loop handles before it lets the shard's other tasks run.
pub const RECV_BURST: u32 = 8;
/// Datagrams queued from one shard to another at most; more are dropped (QUIC resends).
pub const FORWARD_QUEUE: usize = 1024;

/// A datagram handed to the shard that owns its connection.
#[derive(Debug)]
pub struct Datagram {
    pub remote: SocketAddr,
    pub data: Vec<u8>,
}

struct Conn {
    c: quinn_proto::Connection,
    streams: HashMap<StreamId, Stream>,
    /// The deadline this connection has in the timer heap.
    timer: Option<Instant>,
    lost_seen: u64,
    connected: bool,
}

struct Stream {
    deframer: Deframer,
    sess: Option<Sess>,
    /// Framed output the stream's send window did not take yet.
    pending: Vec<u8>,
    /// The session is over; nothing more is read, the send side finishes once `pending` is out.
    done: bool,
    finish_after_flush: bool,
    /// When the stream opened: without a `hello` by `header_timeout_ms` it is closed.
    opened: Instant,
}

struct Sess {
    route: Route,
    key_h: [u8; 32],
    tenant: usize,
    limits: Limits,
    seen_version: u64,
    /// Highest seq routed, highest acknowledged, and whether the client finished its side: the
    /// stream ends once everything routed is acknowledged.
    last_seq: u64,
    acked: u64,
    fin: bool,
}

/// One shard's QUIC endpoint and connections.
pub struct QuicShard {
    id: usize,
    endpoint: Endpoint,
    conns: HashMap<ConnectionHandle, Box<Conn>>,
    /// The shard's socket, for sends (non-blocking; a full socket buffer drops the datagram,
    /// which QUIC's loss recovery resends).
    tx: std::net::UdpSocket,
    peers: Vec<Option<ConnectedSender<Datagram>>>,
    timers: BinaryHeap<Reverse<(Instant, ConnectionHandle)>>,
    timer_bell: LocalSender<()>,
    armed: Option<Instant>,
    buf: Vec<u8>,
    shard: ShardRef,
    node: Arc<Node>,
    m: Arc<ShardMetrics>,
    max_connections: usize,
    me: Weak<RefCell<QuicShard>>,
}

impl std::fmt::Debug for QuicShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicShard")
            .field("id", &self.id)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

fn qm(m: &ShardMetrics) -> &QuicMetrics {
    &m.quic
}

/// Binds shard `id`'s socket and starts its receive and timer tasks. Returns the shard's QUIC
/// state (for shutdown) once bound.
pub fn start(
    id: usize,
    shared: &Shared,
    shard: ShardRef,
    node: Arc<Node>,
    peers: Vec<Option<ConnectedSender<Datagram>>>,
    forwarded: Vec<glommio::channels::shared_channel::ConnectedReceiver<Datagram>>,
) -> Result<Rc<RefCell<QuicShard>>, Error> {
    let addr = shared.listen;
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let bind = || -> std::io::Result<(socket2::Socket, std::net::UdpSocket)> {
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        s.set_reuse_port(true)?;
        s.set_nonblocking(true)?;
        // Bursts of datagrams from thousands of clients: room for them between reads.
        let _ = s.set_recv_buffer_size(4 << 20);
        let _ = s.set_send_buffer_size(4 << 20);
        s.bind(&addr.into())?;
        let tx: std::net::UdpSocket = s.try_clone()?.into();
        Ok((s, tx))
    };
    let (rx, tx) = bind().map_err(|source| Error::Io {
        path: PathBuf::from(format!("udp {addr}")),
        source,
    })?;
    let rx = {
        use std::os::fd::{FromRawFd, IntoRawFd};
        let fd = rx.into_raw_fd();
        #[allow(unsafe_code)]
        // SAFETY: `fd` is a valid, owned, bound UDP socket we just created and released.
        unsafe {
            glommio::net::UdpSocket::from_raw_fd(fd)
        }
    };
    let mut ep_cfg = shared.endpoint.clone();
    let shard_byte = u8::try_from(id).map_err(|_| Error::Config("more than 256 shards".into()))?;
    ep_cfg.cid_generator(move || Box::new(ShardCids::new(shard_byte)));
    let endpoint = Endpoint::new(Arc::new(ep_cfg), Some(shared.server.clone()), true, None);
    let m = node.metrics[id].clone();
    let (timer_bell, timer_ring) = local_channel::new_bounded::<()>(1);
    let q = Rc::new_cyclic(|me| {
        RefCell::new(QuicShard {
            id,
            endpoint,
            conns: HashMap::new(),
            tx,
            peers,
            timers: BinaryHeap::new(),
            timer_bell,
            armed: None,
            buf: Vec::with_capacity(2048),
            shard,
            node,
            m,
            max_connections: shared.max_connections,
            me: me.clone(),
        })
    });
    let qr = q.clone();
    glommio::spawn_local(async move {
        let mut buf = vec![0u8; 65_536];
        let mut handled = 0u32;
        loop {
            // A receive that finds a datagram waiting completes without yielding: under steady
            // load this loop would hold the shard and starve its other tasks (the spool
            // committer, session outputs) until the socket ran dry. In a 10k-session QUIC run
            // that showed as frames waiting up to 1 s inside the edge for their ack.
            handled = handled.wrapping_add(1);
            if handled.is_multiple_of(RECV_BURST) {
                futures_lite::future::yield_now().await;
            }
            match rx.recv_from(&mut buf).await {
                Ok((n, from)) => qr.borrow_mut().on_datagram(from, &buf[..n], false),
                Err(e) => {
                    tracing::warn!(error = %e, "QUIC receive failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
    .detach();
    for rx in forwarded {
        let qr = q.clone();
        glommio::spawn_local(async move {
            let mut handled = 0u32;
            while let Some(d) = rx.recv().await {
                qr.borrow_mut().on_datagram(d.remote, &d.data, true);
                handled = handled.wrapping_add(1);
                if handled.is_multiple_of(RECV_BURST) {
                    futures_lite::future::yield_now().await;
                }
            }
        })
        .detach();
    }
    glommio::spawn_local(timer_loop(Rc::downgrade(&q), timer_ring)).detach();
    let (qr, every) = (Rc::downgrade(&q), Duration::from_millis(250));
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(every).await;
            let Some(q) = qr.upgrade() else { return };
            q.borrow_mut().sweep(Instant::now());
        }
    })
    .detach();
    Ok(q)
}

async fn timer_loop(q: Weak<RefCell<QuicShard>>, ring: LocalReceiver<()>) {
    loop {
        let next = {
            let Some(q) = q.upgrade() else { return };
            let mut q = q.borrow_mut();
            q.fire_timers(Instant::now());
            q.next_deadline()
        };
        match next {
            Some(t) => {
                let wait = t.saturating_duration_since(Instant::now());
                futures_lite::future::or(
                    async {
                        glommio::timer::sleep(wait).await;
                        Some(())
                    },
                    ring.recv(),
                )
                .await;
            }
            None => {
                if ring.recv().await.is_none() {
                    return;
                }
            }
        }
    }
}

impl QuicShard {
    /// A datagram from this shard's socket (`forwarded` = handed over by another shard, which
    /// already routed it).
    pub fn on_datagram(&mut self, remote: SocketAddr, data: &[u8], forwarded: bool) {
        let m = self.m.clone();
        let qm = qm(&m);
        ShardMetrics::inc(&qm.rx_datagrams);
        ShardMetrics::add(&qm.rx_bytes, data.len() as u64);
        if forwarded {
            ShardMetrics::inc(&qm.forwarded_in);
        } else if let Some(o) = owner_of(data, self.peers.len()).filter(|o| *o != self.id)
            && let Some(Some(tx)) = self.peers.get(o)
        {
            let d = Datagram {
                remote,
                data: data.to_vec(),
            };
            match tx.try_send(d) {
                Ok(()) => ShardMetrics::inc(&qm.forwarded_out),
                Err(_) => ShardMetrics::inc(&qm.forward_dropped),
            }
            return;
        }
        let now = Instant::now();
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let ev = self
            .endpoint
            .handle(now, remote, None, None, BytesMut::from(data), &mut buf);
        match ev {
            Some(DatagramEvent::ConnectionEvent(ch, ev)) => {
                self.buf = buf;
                if let Some(c) = self.conns.get_mut(&ch) {
                    c.c.handle_event(ev);
                    self.drive(ch, now);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                if self.conns.len() >= self.max_connections {
                    ShardMetrics::inc(&qm.refused);
                    let t = self.endpoint.refuse(incoming, &mut buf);
                    self.send(&t, &buf);
                    self.buf = buf;
                    return;
                }
                match self.endpoint.accept(incoming, now, &mut buf, None) {
                    Ok((ch, c)) => {
                        self.buf = buf;
                        ShardMetrics::inc(&qm.connections_total);
                        ShardMetrics::add(&qm.connections, 1);
                        self.conns.insert(
                            ch,
                            Box::new(Conn {
                                c,
                                streams: HashMap::new(),
                                timer: None,
                                lost_seen: 0,
                                connected: false,
                            }),
                        );
                        self.drive(ch, now);
                    }
                    Err(e) => {
                        ShardMetrics::inc(&qm.handshake_failures);
                        tracing::debug!(error = %e.cause, "QUIC connection not accepted");
                        if let Some(t) = e.response {
                            self.send(&t, &buf);
                        }
                        self.buf = buf;
                    }
                }
            }
            Some(DatagramEvent::Response(t)) => {
                self.send(&t, &buf);
                self.buf = buf;
            }
            None => self.buf = buf,
        }
    }

    fn send(&self, t: &quinn_proto::Transmit, data: &[u8]) {
        let qm = qm(&self.m);
        let seg = t.segment_size.unwrap_or(t.size).max(1);
        for d in data[..t.size.min(data.len())].chunks(seg) {
            match self.tx.send_to(d, t.destination) {
                Ok(n) => {
                    ShardMetrics::inc(&qm.tx_datagrams);
                    ShardMetrics::add(&qm.tx_bytes, n as u64);
                }
                Err(_) => ShardMetrics::inc(&qm.send_errors),
            }
        }
    }

    /// Runs a connection's state machine after anything happened to it: endpoint events, its
    /// application events, its datagrams out, its next deadline.
    fn drive(&mut self, ch: ConnectionHandle, now: Instant) {
        let Some(mut conn) = self.conns.remove(&ch) else {
            return;
        };
        loop {
            let mut progress = false;
            while let Some(ev) = conn.c.poll_endpoint_events() {
                progress = true;
                if let Some(cev) = self.endpoint.handle_event(ch, ev) {
                    conn.c.handle_event(cev);
                }
            }
            while let Some(ev) = conn.c.poll() {
                progress = true;
                self.on_event(ch, &mut conn, ev);
            }
            if !progress {
                break;
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        loop {
            buf.clear();
            match conn.c.poll_transmit(now, 1, &mut buf) {
                Some(t) => self.send(&t, &buf),
                None => break,
            }
        }
        self.buf = buf;
        while let Some(ev) = conn.c.poll_endpoint_events() {
            if let Some(cev) = self.endpoint.handle_event(ch, ev) {
                conn.c.handle_event(cev);
            }
        }
        if conn.c.is_drained() {
            self.gone(&mut conn);
            return;
        }
        let t = conn.c.poll_timeout();
        if t != conn.timer {
            conn.timer = t;
            if let Some(t) = t {
                self.timers.push(Reverse((t, ch)));
                if self.armed.is_none_or(|a| t < a) {
                    self.armed = Some(t);
                    let _ = self.timer_bell.try_send(());
                }
            }
        }
        self.conns.insert(ch, conn);
    }

    /// Adds the packets a connection declared lost since last asked to the shard's counter.
    /// Not per datagram: on the sweep and when the connection goes.
    fn count_lost(m: &ShardMetrics, conn: &mut Conn) {
        let lost = conn.c.stats().path.lost_packets;
        ShardMetrics::add(&m.quic.lost_packets, lost.saturating_sub(conn.lost_seen));
        conn.lost_seen = lost;
    }

    /// A connection is over: its sessions leave the shard.
    fn gone(&mut self, conn: &mut Conn) {
        Self::count_lost(&self.m, conn);
        let qm = qm(&self.m);
        qm.connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        for (_, s) in conn.streams.drain() {
            qm.streams
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(sess) = s.sess {
                self.shard.borrow_mut().unregister(sess.route.conn.id);
            }
        }
    }

    fn on_event(&mut self, ch: ConnectionHandle, conn: &mut Conn, ev: Event) {
        let m = self.m.clone();
        let qm = qm(&m);
        match ev {
            Event::HandshakeDataReady => {}
            Event::Connected => {
                conn.connected = true;
                ShardMetrics::inc(&qm.handshakes);
                // Server side: 0-RTT keys exist only when the edge accepted early data.
                if conn.c.has_0rtt() {
                    ShardMetrics::inc(&qm.zero_rtt_accepted);
                }
            }
            Event::ConnectionLost { reason } => {
                if !conn.connected {
                    ShardMetrics::inc(&qm.handshake_failures);
                }
                tracing::debug!(reason = %reason, "QUIC connection lost");
                for s in conn.streams.values_mut() {
                    s.done = true;
                    if let Some(sess) = s.sess.take() {
                        self.shard.borrow_mut().unregister(sess.route.conn.id);
                    }
                }
            }
            Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                while let Some(id) = conn.c.streams().accept(Dir::Bi) {
                    ShardMetrics::inc(&qm.streams_total);
                    ShardMetrics::add(&qm.streams, 1);
                    conn.streams.insert(
                        id,
                        Stream {
                            deframer: Deframer::new(Limits::DEFAULT.max_frame_bytes),
                            sess: None,
                            pending: Vec::new(),
                            done: false,
                            finish_after_flush: false,
                            opened: Instant::now(),
                        },
                    );
                    self.read(ch, conn, id);
                }
            }
            Event::Stream(StreamEvent::Opened { dir: Dir::Uni }) => {
                // The edge allows none; a peer that opens one anyway gets it stopped.
                while let Some(id) = conn.c.streams().accept(Dir::Uni) {
                    let _ = conn.c.recv_stream(id).stop(VarInt::from_u32(1007));
                }
            }
            Event::Stream(StreamEvent::Readable { id }) => self.read(ch, conn, id),
            Event::Stream(StreamEvent::Writable { id }) => self.flush(conn, id),
            Event::Stream(StreamEvent::Finished { id }) => {
                if conn.streams.get(&id).is_some_and(|s| s.done) {
                    self.remove_stream(conn, id);
                }
            }
            Event::Stream(StreamEvent::Stopped { id, .. }) => {
                // The client will not read this session's outputs any more: it is over.
                self.end(conn, id, None);
                self.remove_stream(conn, id);
            }
            Event::Stream(StreamEvent::Available { .. })
            | Event::DatagramReceived
            | Event::DatagramsUnblocked => {}
        }
    }

    fn remove_stream(&mut self, conn: &mut Conn, id: StreamId) {
        if let Some(s) = conn.streams.remove(&id) {
            qm(&self.m)
                .streams
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(sess) = s.sess {
                self.shard.borrow_mut().unregister(sess.route.conn.id);
            }
        }
    }

    /// Reads what arrived on a stream and handles every whole frame.
    fn read(&mut self, ch: ConnectionHandle, conn: &mut Conn, id: StreamId) {
        let Conn { c, streams, .. } = conn;
        let Some(s) = streams.get_mut(&id) else {
            return;
        };
        let mut rs = c.recv_stream(id);
        let Ok(mut chunks) = rs.read(true) else {
            return;
        };
        let (mut fin, mut reset) = (false, false);
        loop {
            match chunks.next(usize::MAX) {
                Ok(Some(chunk)) => {
                    if !s.done {
                        ShardMetrics::add(&qm(&self.m).stream_bytes_in, chunk.bytes.len() as u64);
                        s.deframer.push(&chunk.bytes);
                    }
                }
                Ok(None) => {
                    fin = true;
                    break;
                }
                Err(ReadError::Blocked) => break,
                Err(ReadError::Reset(_)) => {
                    reset = true;
                    break;
                }
            }
        }
        let _ = chunks.finalize();
        loop {
            let Some(s) = conn.streams.get_mut(&id) else {
                return;
            };
            if s.done {
                break;
            }
            let frame = match s.deframer.next_frame() {
                Ok(Some(f)) => f.to_vec(),
                Ok(None) => break,
                Err(e) => {
                    self.refuse(conn, id, ErrorCode::TooBig, &e.to_string());
                    break;
                }
            };
            self.on_frame(ch, conn, id, frame);
        }
        let Some(s) = conn.streams.get_mut(&id) else {
            return;
        };
        if reset {
            // The client abandoned the stream: the session ends here (what was acked is kept).
            self.end(conn, id, None);
        } else if fin && !s.done {
            if s.deframer.buffered() > 0 {
                self.refuse(
                    conn,
                    id,
                    ErrorCode::BadFrame,
                    "the stream ended inside a frame",
                );
            } else {
                match s.sess.as_mut() {
                    // Finish once everything sent is acknowledged.
                    Some(sess) if sess.acked < sess.last_seq => sess.fin = true,
                    _ => self.end(conn, id, Some(code::NORMAL)),
                }
            }
        }
    }

    fn on_frame(&mut self, ch: ConnectionHandle, conn: &mut Conn, id: StreamId, bytes: Vec<u8>) {
        let node = self.node.clone();
        let Some(s) = conn.streams.get_mut(&id) else {
            return;
        };
        let Some(sess) = s.sess.as_mut() else {
            return self.hello(ch, conn, id, bytes);
        };
        // The directory changed (control plane): a session whose key was revoked is refused at
        // its next frame, as on WebSocket.
        let v = node.tenants.version();
        if v != sess.seen_version {
            sess.seen_version = v;
            if !hello::still_valid(&node.tenants.load(), &sess.key_h, sess.tenant) {
                return self.refuse(conn, id, ErrorCode::BadKey, "write key revoked");
            }
        }
        match decode_client(&bytes, &sess.limits) {
            Ok(ClientFrame::Hello(_)) => {
                self.m.error(ErrorCode::BadFrame);
                let e = err_frame(ErrorCode::BadFrame, "hello was already sent", false);
                self.write(conn, id, &e);
            }
            Ok(frame) => {
                sess.last_seq = sess.last_seq.max(frame.seq().map_or(0, |q| q.0));
                sess.route.send(Some(bytes), frame, now_ms());
            }
            Err(e @ DecodeError::UnknownType(_)) => {
                self.m.error(e.code());
                let f = err_frame(e.code(), &e.to_string(), false);
                self.write(conn, id, &f);
            }
            Err(e) => self.refuse(conn, id, e.code(), &e.to_string()),
        }
    }

    fn hello(&mut self, ch: ConnectionHandle, conn: &mut Conn, id: StreamId, bytes: Vec<u8>) {
        let hello = match decode_client(&bytes, &Limits::DEFAULT) {
            Ok(ClientFrame::Hello(h)) => h,
            Ok(_) => {
                return self.refuse(
                    conn,
                    id,
                    ErrorCode::BadFrame,
                    "the first frame must be hello",
                );
            }
            Err(e) => return self.refuse(conn, id, e.code(), &e.to_string()),
        };
        let tenants = self.node.tenants.load();
        let seen_version = self.node.tenants.version();
        let key_h = sentientiq_tenant::key_hash(hello.key.as_str());
        // No origin check: allowed origins guard browsers, and page scripts cannot open a raw
        // QUIC connection (WebTransport is another protocol).
        let ti = match hello::tenant_for(&tenants, &key_h, From::Quic) {
            Ok(ti) => ti,
            Err(r) => return self.refuse(conn, id, r.code, r.msg),
        };
        let limits = tenants.get(ti).limits;
        let (tx, rx) = conn_queue();
        let peer = conn.c.remote_address().ip();
        let route = Route::open(&self.shard, ti, hello.sid.clone(), peer, tx);
        route.send(None, ClientFrame::Hello(hello), now_ms());
        let Some(s) = conn.streams.get_mut(&id) else {
            self.shard.borrow_mut().unregister(route.conn.id);
            return;
        };
        s.deframer.set_max(limits.max_frame_bytes);
        s.sess = Some(Sess {
            route,
            key_h,
            tenant: ti,
            limits,
            seen_version,
            last_seq: 0,
            acked: 0,
            fin: false,
        });
        let me = self.me.clone();
        glommio::spawn_local(async move {
            // glommio may poll a new task inside `spawn_local`, i.e. while this shard's QUIC
            // state is borrowed by the caller: never touch it before the first yield.
            futures_lite::future::yield_now().await;
            loop {
                let out = rx.recv().await;
                let end = out.is_none();
                let Some(q) = me.upgrade() else { return };
                let more = q.borrow_mut().on_out(ch, id, out);
                if end || !more {
                    return;
                }
            }
        })
        .detach();
    }

    /// An output for a session (`None`: the shard dropped its queue). False when the stream is
    /// gone (the task stops).
    fn on_out(&mut self, ch: ConnectionHandle, id: StreamId, out: Option<Out>) -> bool {
        let Some(mut conn) = self.conns.remove(&ch) else {
            return false;
        };
        let live = conn
            .streams
            .get(&id)
            .is_some_and(|s| s.sess.is_some() && !s.done);
        if live {
            match out {
                Some(Out::Ack { ack, upto }) => {
                    self.write(&mut conn, id, &edge_to_vec(&EdgeFrame::Ack { seq: ack }));
                    // Finished once every frame this stream carried is handled durably (the
                    // ack itself may stay below a gap the client must fill on a new stream).
                    let ended = conn
                        .streams
                        .get_mut(&id)
                        .and_then(|s| s.sess.as_mut())
                        .is_some_and(|s| {
                            s.acked = s.acked.max(upto.0).max(ack.0);
                            s.fin && s.acked >= s.last_seq
                        });
                    if ended {
                        self.end(&mut conn, id, Some(code::NORMAL));
                    }
                }
                Some(Out::Frame(b)) => self.write(&mut conn, id, &b),
                Some(Out::Err(e)) => {
                    let (fatal, code) = (e.fatal, e.code);
                    self.write(&mut conn, id, &edge_to_vec(&EdgeFrame::Err(e)));
                    if fatal {
                        self.end(&mut conn, id, Some(u32::from(code.ws_close_code())));
                    }
                }
                Some(Out::Close(code, _)) => self.end(&mut conn, id, Some(u32::from(code))),
                None => {
                    ShardMetrics::inc(&self.m.slow_readers);
                    self.end(&mut conn, id, Some(code::OVERLOADED));
                }
            }
        }
        self.conns.insert(ch, conn);
        self.drive(ch, Instant::now());
        live
    }

    /// Writes one frame, length-prefixed. What the stream's window does not take waits in
    /// `pending`; a client that lets more than `write_buffer_bytes` wait is dropped (1013).
    fn write(&mut self, conn: &mut Conn, id: StreamId, frame: &[u8]) {
        let Conn { c, streams, .. } = conn;
        let Some(s) = streams.get_mut(&id) else {
            return;
        };
        if s.pending.is_empty() {
            let mut b = Vec::with_capacity(4 + frame.len());
            encode_prefixed(frame, &mut b);
            match c.send_stream(id).write(&b) {
                Ok(n) => {
                    ShardMetrics::add(&qm(&self.m).stream_bytes_out, n as u64);
                    if n < b.len() {
                        s.pending = b.split_off(n);
                    }
                }
                Err(WriteError::Blocked) => s.pending = b,
                Err(_) => {
                    self.end(conn, id, None);
                    return;
                }
            }
        } else {
            encode_prefixed(frame, &mut s.pending);
        }
        if s.pending.len() > self.node.edge.write_buffer_bytes {
            ShardMetrics::inc(&self.m.slow_readers);
            s.pending = Vec::new();
            let _ = c.send_stream(id).reset(VarInt::from_u32(code::OVERLOADED));
            self.end(conn, id, Some(code::OVERLOADED));
            // A reset send side gets no `Finished` event: the stream goes now.
            self.remove_stream(conn, id);
        }
    }

    fn flush(&mut self, conn: &mut Conn, id: StreamId) {
        let Conn { c, streams, .. } = conn;
        let Some(s) = streams.get_mut(&id) else {
            return;
        };
        if !s.pending.is_empty() {
            match c.send_stream(id).write(&s.pending) {
                Ok(n) => {
                    ShardMetrics::add(&qm(&self.m).stream_bytes_out, n as u64);
                    s.pending.drain(..n);
                }
                Err(WriteError::Blocked) => {}
                Err(_) => s.pending = Vec::new(),
            }
        }
        if s.pending.is_empty() && s.finish_after_flush {
            s.finish_after_flush = false;
            let _ = c.send_stream(id).finish();
        }
    }

    /// Sends a fatal `err` and ends the stream with the code's close code.
    fn refuse(&mut self, conn: &mut Conn, id: StreamId, code: ErrorCode, msg: &str) {
        self.m.error(code);
        self.write(conn, id, &err_frame(code, msg, true));
        self.end(conn, id, Some(u32::from(code.ws_close_code())));
    }

    /// Ends a session: it leaves the shard, the client's side is stopped with `code`, ours is
    /// finished once pending output is out. `None`: the stream is already dead.
    fn end(&mut self, conn: &mut Conn, id: StreamId, code: Option<u32>) {
        let Conn { c, streams, .. } = conn;
        let Some(s) = streams.get_mut(&id) else {
            return;
        };
        if s.done {
            return;
        }
        s.done = true;
        s.deframer = Deframer::new(0);
        if let Some(sess) = s.sess.take() {
            self.shard.borrow_mut().unregister(sess.route.conn.id);
        }
        let Some(code) = code else {
            return;
        };
        if code != code::NORMAL {
            let _ = c.recv_stream(id).stop(VarInt::from_u32(code));
        }
        if s.pending.is_empty() {
            let _ = c.send_stream(id).finish();
        } else {
            s.finish_after_flush = true;
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        self.armed = None;
        while let Some(Reverse((t, ch))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(&ch) else {
                continue;
            };
            if conn.timer != Some(t) {
                continue;
            }
            conn.timer = None;
            conn.c.handle_timeout(now);
            self.drive(ch, now);
        }
        // Superseded deadlines stay in the heap until they pass; rebuild it when they dominate.
        if self.timers.len() > 4 * self.conns.len() + 1024 {
            self.timers = self
                .conns
                .iter()
                .filter_map(|(ch, c)| c.timer.map(|t| Reverse((t, *ch))))
                .collect();
        }
    }

    /// The earliest live deadline (what the timer task sleeps until).
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((t, ch))) = self.timers.peek().copied() {
            if self.conns.get(&ch).is_some_and(|c| c.timer == Some(t)) {
                self.armed = Some(t);
                return Some(t);
            }
            self.timers.pop();
        }
        self.armed = None;
        None
    }

    /// Every 250 ms: counts lost packets, and ends (1008, as a WebSocket without hello) the
    /// streams open longer than `header_timeout_ms` without a `hello`.
    fn sweep(&mut self, now: Instant) {
        for c in self.conns.values_mut() {
            Self::count_lost(&self.m, c);
        }
        let limit = Duration::from_millis(self.node.edge.header_timeout_ms);
        let late: Vec<(ConnectionHandle, StreamId)> = self
            .conns
            .iter()
            .flat_map(|(ch, c)| {
                c.streams
                    .iter()
                    .filter(|(_, s)| {
                        s.sess.is_none() && !s.done && now.duration_since(s.opened) >= limit
                    })
                    .map(|(id, _)| (*ch, *id))
            })
            .collect();
        for (ch, id) in late {
            if let Some(mut conn) = self.conns.remove(&ch) {
                self.end(&mut conn, id, Some(1008));
                self.conns.insert(ch, conn);
                self.drive(ch, now);
            }
        }
    }

    /// Shutdown: every connection is closed with 1001 (its sessions were closed by the shard).
    pub fn close_all(&mut self) {
        let now = Instant::now();
        let chs: Vec<_> = self.conns.keys().copied().collect();
        for ch in chs {
            if let Some(c) = self.conns.get_mut(&ch) {
                c.c.close(
                    now,
                    VarInt::from_u32(code::GOING_AWAY),
                    bytes::Bytes::from_static(b"edge shutting down"),
                );
            }
            self.drive(ch, now);
        }
    }
}
