//! The control plane's integration tests, one binary: the real `sentientiq-control` process
//! (RocksDB in a temporary directory) over real sockets, driven with tonic clients as edges and
//! admins, and with the real `siqctl`; the plane and its clients are the test kit's
//! (`sentientiq_testkit::{plane, grpc}`).

mod alerts;
mod siqctl;
