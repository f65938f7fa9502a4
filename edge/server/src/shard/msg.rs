//! What travels between connections and the shard that owns a session, and between shards.

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

/// Cross-shard traffic, batched.
#[derive(Debug)]
pub enum Msg {
    In(Vec<Inbound>),
    Out(Vec<(u64, Out)>),
}
