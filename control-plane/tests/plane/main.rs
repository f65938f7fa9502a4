//! The control plane's integration tests, one binary: the real `sentientiq-control` process
//! (RocksDB in a temporary directory) over real sockets, driven with tonic clients as edges and
//! admins, and with the real `siqctl`.

mod alerts;
mod kit;
mod siqctl;
