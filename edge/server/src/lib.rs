//! The SentientIQ edge: the glommio shell around the pure core. Folders are roles:
//!
//! - [`ingest`]: what takes SDK traffic in — each shard's listener and HTTP routes, WebSocket
//!   sessions, beacons, QUIC, the session-start checks they share, the route to a session's
//!   owner shard.
//! - [`shard`]: one shard per core — the owner's pure per-frame pipeline (admission, rate,
//!   dedup, spool records, acks, identity work, escalations as effects), the glommio shell that
//!   carries the effects out, the mesh between shards, the spool writer.
//! - [`storage`]: the spool format and recovery; the RocksDB identity store.
//! - [`ship`]: the lake shipper (sealed spool segments → Parquet → local disk or S3).
//! - [`alerts`]: alert delivery — escalations to people through the tenant's channels, the
//!   one-click link page, alert state to the plane and the lake.
//! - [`control`]: following the control plane (config feed, last-known-good, window reports).
//! - [`config`]: the config file, one module per section; tenants are `sentientiq_tenant`'s.
//! - [`telemetry`]: counters and their Prometheus text.
//! - [`tenants`]: the live tenant directory; [`node`]: what shards share; [`clock`]: the one
//!   wall-clock read; [`run`]: startup and shutdown.

pub mod alerts;
pub mod clock;
pub mod config;
pub mod control;
pub mod ingest;
pub mod malloc;
pub mod node;
pub mod placement;
pub mod run;
pub mod shard;
pub mod ship;
pub mod storage;
pub mod telemetry;
pub mod tenants;
