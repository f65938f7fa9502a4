//! Detection-to-provider latency (issue 15, "Measured"): the loadgen knows which sessions must
//! page a person, receives the pages itself, and sets the two side by side.
//!
//! - [`expect`] (pure): which alerts the edge must send for this run. The tenant comes from the
//!   edge's own config file and is validated by the edge's own validator; every identified
//!   session's frames go through the detection core exactly as an edge shard drives them, so the
//!   frame that completes each escalation's evidence is known by its seq; escalations are then
//!   grouped per account as the edge's alert book groups them (a repeat within the open alert's
//!   window pages nobody). The generator's ground truth is kept beside it, so a page the core
//!   does not give (or gives wrongly) shows as such and is not taken for a delivery fault.
//! - [`sink`] (I/O): local receivers for every channel on one address (Standard Webhooks with
//!   signature checks, Slack incoming webhooks, PagerDuty Events v2: the strict stand-ins of
//!   `sentientiq_alerts::stubs`), recording every request with its arrival time.
//! - [`score`] (pure): expected, received, missing, duplicated, unexpected; the latency from the
//!   moment the loadgen sent the completing frame to the moment the request arrived, and the
//!   edge's own view (`detected_at` → arrival).

pub mod expect;
pub mod score;
pub mod sink;

use std::time::{Duration, Instant};

use crate::run::WatchedSend;

/// The moment the sink's arrival times and the loadgen's send times count from, on both
/// clocks: monotonic (latencies) and wall (to compare with the edge's `detected_at`).
#[derive(Debug, Clone, Copy)]
pub struct Epoch {
    pub at: Instant,
    pub wall_ms: u64,
}

impl Epoch {
    pub fn now() -> Epoch {
        Epoch {
            at: Instant::now(),
            wall_ms: sink::wall_ms(),
        }
    }

    /// µs from the epoch to `t` (0 before it).
    pub fn us(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.at).as_micros()).unwrap_or(u64::MAX)
    }

    /// The driver's watched sends on this epoch's clock.
    pub fn sent(&self, watched: &[WatchedSend]) -> Vec<score::Sent> {
        watched
            .iter()
            .map(|w| score::Sent {
                session: w.session,
                seq: w.seq,
                sent_us: self.us(w.sent.into_std()),
                intended_us: self.us(w.intended.into_std()),
            })
            .collect()
    }
}

/// After the run: waits up to `max` for late alerts, less once every expected alert came (any
/// count without a plan) and nothing new arrived for a second. Returns how long it waited.
pub fn drain(
    sink: &sink::Sink,
    plan: Option<&expect::Plan>,
    sent: &[score::Sent],
    epoch: &Epoch,
    max: Duration,
) -> Duration {
    let started = Instant::now();
    let mut seen = usize::MAX;
    let mut quiet_since = Instant::now();
    loop {
        let arrivals = sink.arrivals();
        if arrivals.len() != seen {
            seen = arrivals.len();
            quiet_since = Instant::now();
        }
        let waited = started.elapsed();
        let all = plan.is_none_or(|plan| {
            score::score(plan, &arrivals, sent, epoch.wall_ms)
                .missing
                .is_empty()
        });
        if waited >= max || (all && quiet_since.elapsed() >= Duration::from_secs(1)) {
            return waited;
        }
        std::thread::sleep(Duration::from_millis(100).min(max.saturating_sub(waited)));
    }
}

/// Why the alert sink or its expectations could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {why}")]
    Config { path: String, why: String },
    #[error(
        "no tenant in {path} accepts the key given with --key (its SHA-256 is in no `key_sha256`)"
    )]
    NoTenant { path: String },
    #[error("alert sink on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("alert sink: {0}")]
    Runtime(std::io::Error),
}
