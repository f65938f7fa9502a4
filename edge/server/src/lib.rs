//! The SentientIQ edge: the glommio shell around the pure core.
//!
//! - [`shard`]: per-core state — owned sessions, spool buffer, acks, routing over the mesh.
//! - [`conn`]: the per-shard `SO_REUSEPORT` listener, HTTP routes, WebSocket sessions, beacons.
//! - [`quic`]: QUIC ingest: quinn-proto driven from each shard's UDP socket.
//! - [`mesh`]: the shard-to-shard channels.
//! - [`spool`]: the durable, checksummed, group-committed log every ack waits for.
//! - [`identity`]: RocksDB identity and account directory.
//! - [`control`]: following the control plane (live tenants, last-known-good, aggregates).
//! - [`config`], [`tenants`], [`metrics`], [`http`].

pub mod bounded;
pub mod config;
pub mod conn;
pub mod control;
pub mod http;
pub mod identity;
pub mod lake;
pub mod mesh;
pub mod metrics;
pub mod quic;
pub mod run;
pub mod shard;
pub mod spool;
pub mod tenants;
