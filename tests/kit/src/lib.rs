//! The one test kit: real `sentientiq-edge` and `sentientiq-control` processes ([`Edge`],
//! [`Plane`]), clients for each transport ([`ws::Client`], [`quic`], HTTP in [`net`], the
//! plane's gRPC in [`grpc`], TLS in [`tls`]), the frames tests send ([`frames`]), vendor
//! stand-ins and alerting configs ([`alerts`]), lake readers ([`lake`]), RocksDB's options
//! files ([`rocks`]), small filesystems that fill ([`disk`]) and waiting helpers ([`wait`]).
//!
//! Binaries are the workspace's own, found beside the running test executable
//! (`cargo test --workspace --all-targets` builds them with the tests; see [`bins`]).

pub mod alerts;
pub mod bins;
pub mod disk;
pub mod drive;
pub mod edge;
pub mod frames;
pub mod grpc;
pub mod kernel;
pub mod lake;
pub mod net;
pub mod plane;
pub mod proc;
pub mod quic;
pub mod rocks;
pub mod tls;
pub mod wait;
pub mod ws;

pub use edge::Edge;
pub use plane::Plane;

/// The documented demo tenant's key (`deploy/edge.example.toml`).
pub const DEMO_KEY: &str = "siq_pk_demo_00000000000000000000";

/// Runs `f` to its end on a current-thread tokio runtime, inside a `LocalSet`, as the loadgen's
/// `main` runs its sessions (they are not `Send`).
pub fn block_on_local<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// The repository's root (for `deploy/` and other files tests read). The manifest dir of this
/// run, not of the build: a test binary cached in a shared target dir may have been built from
/// another clone.
pub fn repo_root() -> std::path::PathBuf {
    let here =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let mut p = std::path::PathBuf::from(here);
    while !p.join("deploy/edge.example.toml").exists() {
        assert!(
            p.pop(),
            "the repository root (with deploy/) is above the test's manifest dir"
        );
    }
    p
}
