//! What travels between connections and the shard that owns a session, and between shards.

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use sentientiq_proto::{ClientFrame, Seq, Sid};

/// A connection, wherever it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub shard: u16,
    pub id: u64,
}

/// What is sent to a connection.
#[derive(Debug)]
pub enum Out {
    /// `ack`: every seq of the session up to it is durable (the contiguous durable prefix:
    /// what the client may forget). `upto`: the highest seq of this connection's frames that
    /// this release made durable (a beacon is answered once it covers all of its frames, even
    /// when a gap below keeps `ack` lower).
    Ack { ack: Seq, upto: Seq },
    /// An encoded edge frame (welcome, det, iv).
    Frame(Vec<u8>),
    /// A refusal. WebSocket sends it as `err` and, when fatal, closes with its code's close
    /// code; the beacon path answers with its HTTP status (and `Retry-After`).
    Err(sentientiq_proto::Err),
    /// Close with a WebSocket close code.
    Close(u16, String),
}

/// Frames queued for one connection at most; a reader slower than this is closed.
pub const CONN_QUEUE: usize = 256;

/// A connection's outbound queue. It holds at most [`CONN_QUEUE`] items ([`offer`] refuses the
/// next), but grows only as items wait: a bounded glommio channel allocates its whole capacity
/// when made, 256 × `size_of::<Out>()` ≈ 10 KB for every connection, nearly all of it never
/// used (a connection rarely has more than a few acks waiting). Measured with heaptrack at
/// 4 000 WebSocket sessions: 40.7 MB of the edge's heap.
pub fn conn_queue() -> (LocalSender<Out>, LocalReceiver<Out>) {
    local_channel::new_unbounded()
}

/// Queues `out` for a connection; `false` when its queue already holds [`CONN_QUEUE`] items
/// (a reader that slow is closed) or the connection is gone.
pub fn offer(tx: &LocalSender<Out>, out: Out) -> bool {
    tx.len() < CONN_QUEUE && tx.try_send(out).is_ok()
}

/// A frame on its way to its owner shard.
#[derive(Debug)]
pub struct Inbound {
    pub conn: ConnRef,
    pub tenant: u32,
    pub sid: Sid,
    /// The client's address (per-address limits on new sessions).
    pub peer: std::net::IpAddr,
    pub recv_ms: u64,
    /// The frame's bytes as received (what the spool keeps).
    pub raw: Vec<u8>,
    pub frame: ClientFrame,
}

/// A WebSocket connection given to the shard that owns its session, right after its hello.
#[derive(Debug)]
pub struct Handoff {
    /// The connection's socket (a duplicate; the giving shard closed its own descriptor).
    pub fd: std::os::fd::OwnedFd,
    /// Bytes the giving shard read past the hello.
    pub rest: Vec<u8>,
    pub hello: sentientiq_proto::Hello,
    /// The tenant's index and the SHA-256 of the write key the hello was checked with.
    pub tenant: usize,
    pub key_h: [u8; 32],
    pub peer: std::net::IpAddr,
    /// Its place under the owner's connection cap, taken by the giving shard: a connection in
    /// transit is counted by the owner, and its session there keeps the place.
    pub room: crate::node::Room,
}

/// Cross-shard traffic, batched.
#[derive(Debug)]
pub enum Msg {
    In(Vec<Inbound>),
    Out(Vec<(u64, Out)>),
    Conn(Vec<Handoff>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(n: u64) -> Out {
        Out::Ack {
            ack: Seq(n),
            upto: Seq(n),
        }
    }

    #[test]
    fn a_connection_queue_takes_conn_queue_items_and_refuses_the_next() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let (tx, rx) = conn_queue();
                for n in 0..CONN_QUEUE as u64 - 1 {
                    assert!(offer(&tx, ack(n)), "item {n} (below the cap)");
                }
                assert!(offer(&tx, ack(9_999)), "the cap-th item");
                assert_eq!(tx.len(), CONN_QUEUE);
                assert!(!offer(&tx, ack(10_000)), "cap + 1 is refused");
                assert_eq!(tx.len(), CONN_QUEUE, "and not queued");
                // Once the reader takes one, there is room for one again.
                assert!(rx.recv().await.is_some());
                assert!(offer(&tx, ack(10_001)));
                drop(rx);
                assert!(
                    !offer(&tx, ack(10_002)),
                    "a closed connection takes nothing"
                );
            })
            .expect("executor")
            .join()
            .expect("test");
    }
}
