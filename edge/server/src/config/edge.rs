//! `[edge]`: the node itself: identity, listener, shards, spool, timeouts and memory bounds.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{Error, http_url, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSection {
    pub id: String,
    pub region: String,
    #[serde(default = "d_listen")]
    pub listen: SocketAddr,
    /// 0 = one shard per online core.
    #[serde(default)]
    pub shards: usize,
    #[serde(default = "d_backlog")]
    pub backlog: i32,
    #[serde(default = "d_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "d_commit")]
    pub commit_interval_ms: u64,
    #[serde(default = "d_max_conns")]
    pub max_connections_per_shard: usize,
    #[serde(default = "d_header_timeout")]
    pub header_timeout_ms: u64,
    #[serde(default = "d_idle_timeout")]
    pub idle_timeout_ms: u64,
    #[serde(default = "d_write_buffer")]
    pub write_buffer_bytes: usize,
    /// A WebSocket write that cannot complete within this (the client is not reading) drops
    /// the connection: a slow reader holds at most its bounded buffers, and not for long.
    #[serde(default = "d_write_timeout")]
    pub write_timeout_ms: u64,
    #[serde(default = "d_session_idle")]
    pub session_idle_ms: u64,
    #[serde(default = "d_segment")]
    pub spool_segment_bytes: u64,
    /// io_uring registered memory per shard. The machine's memlock limit (8 MiB here) bounds
    /// the sum over shards.
    #[serde(default = "d_io_memory")]
    pub io_memory_bytes: usize,
    /// Submission-queue entries of each shard's io_uring ([`MIN_RING_DEPTH`]..=
    /// [`MAX_RING_DEPTH`], a power of two). Issue 20: the kernel sizes the table it searches on
    /// every cancellation by the completion queue (2 × this; `hash_bits = log2(cq) − 5`,
    /// at most 8), and every idle connection holds a poll there: at 256 that table has 16
    /// buckets, at 4096 it has 256. Measured in bench/runs (ws-10k) when glommio cancelled its
    /// preemption timers on every reactor turn; the copy in vendor/glommio keeps them while
    /// they are pending, so cancellations are now rare (vendor/README.md).
    #[serde(default = "d_ring_depth")]
    pub ring_depth: usize,
    /// How long a busy shard's sleeps gather completions, in µs (io_uring's min-wait, Linux
    /// 6.12): 0 never gathers. A shard gathers only while it expects at least
    /// [`EdgeSection::wait_gather_want`] frames per window (`sentientiq_core::wait`), so
    /// an idle or lightly loaded shard still wakes on every completion; a busy one returns to
    /// its reactor at most about once per window, and a completion waits up to this much
    /// longer. Unset: on, with [`DEFAULT_WAIT_GATHER_US`], where the kernel has min-wait, and
    /// off (with a warning) where it has not; set and not 0, an edge on an older kernel
    /// refuses to start.
    #[serde(default)]
    pub wait_gather_us: Option<u32>,
    /// Frames expected per window at which a shard starts gathering; it stops below half as
    /// many. 0 gathers on every sleep.
    #[serde(default = "d_wait_gather_want")]
    pub wait_gather_want: u32,
    /// Sessions that left memory (idle or shed) remembered per shard: their durable seq (so a
    /// late retry is re-acked, never stored twice) and their value (so a returning high-value
    /// session is recognised at `hello`). Oldest forgotten first.
    #[serde(default = "d_tombstones")]
    pub tombstones_per_shard: usize,
    /// Users whose stored value a shard keeps in memory, so a returning user's value is known
    /// the moment they identify (misses are read from RocksDB off the reactor).
    #[serde(default = "d_profile_cache")]
    pub profile_cache_per_shard: usize,
    /// New sessions one client address may start per second on each shard (a token bucket),
    /// and at once (its size). The write key is public, so anyone can start sessions; this keeps
    /// one address from filling a shard. Returning sessions and high-value ones do not count.
    #[serde(default = "d_new_sessions_rate")]
    pub new_sessions_per_address_per_sec: u32,
    #[serde(default = "d_new_sessions_burst")]
    pub new_session_burst_per_address: u32,
    /// This edge's URL as pages reach it (`https://use1.edge.example`), for `GET /v1/edges`
    /// (default `http://{listen}`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The other regions' edges a page may fail over to, nearest first or in any order (the
    /// SDK ranks them by its own round trips): `GET /v1/edges` lists this edge, then these.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Seed of the experiments' generator (issue 17; the only randomness in the edge, used
    /// only to assign sessions to arms). Shard i draws from the seed's stream jumped i times,
    /// and every assignment's lake row records the seed and the state it drew from. Default:
    /// the boot time in ms (a different stream per process).
    #[serde(default)]
    pub experiment_seed: Option<u64>,
    /// Serve the demo shop page at `GET /demo/shop` (issue 18: `make demo` turns it on). A
    /// static page built into the binary that loads this edge's SDK with the write key given in
    /// its URL fragment; off (404) unless set, as a production edge has no business serving it.
    #[serde(default)]
    pub demo_shop: bool,
}

/// Another region's edge, as `GET /v1/edges` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub region: String,
    pub url: String,
}

/// Most peers an edge lists (a page pings each twice).
pub const MAX_PEERS: usize = 16;

/// 20 new sessions per second per address and shard (1200 a minute: an office behind one NAT
/// opening tabs is far below it), with a burst of 200 (a page of a busy office at once). A flood
/// from one address is held to this; the fault matrix's 1,650/s beacon flood is refused past it.
fn d_new_sessions_rate() -> u32 {
    20
}
fn d_new_sessions_burst() -> u32 {
    200
}

fn d_profile_cache() -> usize {
    100_000
}

fn d_write_timeout() -> u64 {
    10_000
}

fn d_tombstones() -> usize {
    100_000
}

fn d_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7400))
}
fn d_backlog() -> i32 {
    4096
}
fn d_data_dir() -> PathBuf {
    PathBuf::from("data/edge")
}
fn d_commit() -> u64 {
    2
}
fn d_max_conns() -> usize {
    20_000
}
fn d_header_timeout() -> u64 {
    5_000
}
fn d_idle_timeout() -> u64 {
    120_000
}
fn d_write_buffer() -> usize {
    64 * 1024
}
fn d_session_idle() -> u64 {
    30 * 60 * 1000
}
fn d_segment() -> u64 {
    64 * 1024 * 1024
}
fn d_io_memory() -> usize {
    512 * 1024
}
/// Smallest ring: glommio's own default.
pub const MIN_RING_DEPTH: usize = 128;
/// Largest ring the kernel accepts for the submission queue (`IORING_MAX_ENTRIES`, 32768).
pub const MAX_RING_DEPTH: usize = 32_768;
fn d_ring_depth() -> usize {
    4096
}
/// The window the bare floor and the edge were measured with (bench/runs/2026-12-04-vm,
/// "Batched waits" and "Nineteenth session"; 2 000 µs saved nothing more at `ws-10k`; 500 µs
/// saved about half as much at `quic-10k-mux`, with the ack p50 2–3 ms earlier, and was not
/// resolved at `ws-10k`, "Twentieth session").
pub const DEFAULT_WAIT_GATHER_US: u32 = 1_000;
/// Longest window: it is added to the ack and detection latency of what arrives while a shard
/// gathers, and the ack p99 goal is 25 ms (issue 20).
pub const MAX_WAIT_GATHER_US: u32 = 10_000;
/// Largest start threshold, in frames expected per window: a shard expecting that many is far
/// past where gathering pays (the floor gained at about 6 frames, 12 completions, per 1 000 µs
/// window, issue 20's record); a larger value would only keep gathering off.
pub const MAX_WAIT_GATHER_WANT: u32 = 256;
/// 2 frames per window: the bare floor's adaptive rule was measured starting at 4 completions
/// per window (bench/runs/2026-12-04-vm, "Continuation on a new machine"), and a WebSocket
/// frame is two (its receive and its ack's send).
fn d_wait_gather_want() -> u32 {
    2
}

impl EdgeSection {
    pub fn validate(&self) -> Result<(), Error> {
        for (key, v) in [("edge.id", &self.id), ("edge.region", &self.region)] {
            if !sentientiq_proto::grpc::valid_edge_name(v) {
                return invalid(format!(
                    "{key} must be {} (it names the edge's lake files and its reports), not {v:?}",
                    sentientiq_proto::grpc::EDGE_NAME_RULE
                ));
            }
        }
        if !(1..=1000).contains(&self.commit_interval_ms) {
            return invalid("edge.commit_interval_ms must be within 1..=1000");
        }
        if self.backlog < 1 {
            return invalid("edge.backlog must be positive");
        }
        if self.io_memory_bytes < 64 * 1024 {
            return invalid("edge.io_memory_bytes must be at least 64 KiB");
        }
        if !(MIN_RING_DEPTH..=MAX_RING_DEPTH).contains(&self.ring_depth)
            || !self.ring_depth.is_power_of_two()
        {
            return invalid(format!(
                "edge.ring_depth must be a power of two in {MIN_RING_DEPTH}..={MAX_RING_DEPTH}"
            ));
        }
        if self
            .wait_gather_us
            .is_some_and(|us| us > MAX_WAIT_GATHER_US)
        {
            return invalid(format!(
                "edge.wait_gather_us must be within 0..={MAX_WAIT_GATHER_US}"
            ));
        }
        if self.wait_gather_want > MAX_WAIT_GATHER_WANT {
            return invalid(format!(
                "edge.wait_gather_want must be within 0..={MAX_WAIT_GATHER_WANT}"
            ));
        }
        if self.write_timeout_ms == 0 {
            return invalid("edge.write_timeout_ms must be positive");
        }
        if let Some(u) = &self.public_url {
            http_url("edge.public_url", u, sentientiq_url::check_base)?;
        }
        if self.peers.len() > MAX_PEERS {
            return invalid(format!("edge.peers: at most {MAX_PEERS}"));
        }
        for p in &self.peers {
            http_url("edge.peers url", &p.url, sentientiq_url::check_base)?;
            if !sentientiq_proto::grpc::valid_edge_name(&p.region) {
                return invalid(format!(
                    "edge.peers: `{}` needs a region of {}",
                    sentientiq_url::shown(&p.url),
                    sentientiq_proto::grpc::EDGE_NAME_RULE
                ));
            }
        }
        if self.new_sessions_per_address_per_sec == 0 || self.new_session_burst_per_address == 0 {
            return invalid(
                "edge.new_sessions_per_address_per_sec and edge.new_session_burst_per_address must be positive",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const EXAMPLE: &str = include_str!("../../../../deploy/edge.example.toml");

    /// The example with its `demo_shop` line replaced by `line`.
    fn with(line: &str) -> Result<Config, crate::config::Error> {
        let at = EXAMPLE
            .lines()
            .find(|l| l.starts_with("demo_shop"))
            .expect("the example documents demo_shop");
        Config::parse(&EXAMPLE.replacen(at, line, 1))
    }

    #[test]
    fn the_demo_shop_is_off_unless_turned_on_and_must_be_a_boolean() {
        assert!(!Config::parse(EXAMPLE).expect("example").edge.demo_shop);
        assert!(!with("").expect("default").edge.demo_shop);
        assert!(with("demo_shop = true").expect("on").edge.demo_shop);
        assert!(with("demo_shop = \"yes\"").is_err(), "not a boolean");
        assert!(with("demoshop = true").is_err(), "a misspelling is refused");
    }
}
