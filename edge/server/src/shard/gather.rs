//! How long a shard's sleeps gather completions: the core's [`WaitBatcher`] as glommio's
//! [`SleepPolicy`] (io_uring's min-wait, in `vendor/glommio`; vendor/README.md, change 5).
//!
//! A shard that sleeps until its first completion pays a wake-up and a reactor pass per
//! socket read. While it is busy enough that several frames arrive within the window, it
//! lets their completions gather instead; below half that rate it wakes on every completion
//! again, so an idle or lightly loaded edge keeps its latency. The decision is the core's, fed
//! the reactor's clock and the frames handed to the shard's pipeline ([`watch`]).
//!
//! Frames, not the ring's completions: gathering lowers the completion count of the QUIC path
//! (several datagrams per completion), and a rule fed that count switched on and off every
//! period under QUIC traffic (bench/runs/2026-12-04-vm, "Nineteenth session"; with frames, 4
//! switches a run, "Twentieth session"). Every frame handed over counts, whatever became of it,
//! so a shard refusing frames (rate limits, a full spool) does not stop gathering while busy.
//! Frames are counted on the shard that owns their session, not on the one whose socket read
//! them: a frame that crossed the mesh (a beacon's, a QUIC datagram that reached the other
//! shard's socket; half of them at `quic-10k-mux`) counts on its owner, which woke for the
//! mesh's message. On the bench's two shards the traffic is symmetric and this evens out; a
//! shard that mostly forwards would gather later than its reads alone would say.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use glommio::SleepPolicy;
use sentientiq_core::LogEvery;
use sentientiq_core::wait::WaitBatcher;

use crate::config::edge::{DEFAULT_WAIT_GATHER_US, EdgeSection};
use crate::telemetry::ShardMetrics;

thread_local! {
    /// The metrics of the shard this thread runs, whose handled frames its sleep policy counts.
    static WATCHED: RefCell<Option<Arc<ShardMetrics>>> = const { RefCell::new(None) };
}

/// Gives this thread's sleep policy the shard's frame count: called by the shard at its start,
/// on its executor's thread (glommio builds the policy before the shard exists, on another
/// thread). Until then the policy counts no frames, so it does not start gathering.
pub fn watch(metrics: Arc<ShardMetrics>) {
    WATCHED.with(|w| *w.borrow_mut() = Some(metrics));
}

/// Frames handed to the watched shard's pipeline so far, `None` before [`watch`].
fn frames() -> Option<u64> {
    WATCHED.with(|w| w.borrow().as_ref().map(|m| m.handled.load(Relaxed)))
}

/// How the shards sleep, from the config and whether the kernel has io_uring min-wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sleeps {
    /// Busy shards gather completions for `window_us` while they expect `want` frames in it.
    Gather { window_us: u32, want: u32 },
    /// Gathering is configured off (`wait_gather_us = 0`): every completion wakes a shard.
    Off,
    /// Gathering was left to the default, and this kernel cannot (no min-wait before Linux
    /// 6.12): every completion wakes a shard, which the operator is told once at start.
    NoMinWait,
}

/// How the shards sleep: a gathering configured explicitly on a kernel without min-wait is an
/// error (the config asks for what cannot be done), a default one is [`Sleeps::NoMinWait`].
pub fn sleeps(edge: &EdgeSection, supported: bool) -> Result<Sleeps, String> {
    match edge.wait_gather_us {
        Some(0) => Ok(Sleeps::Off),
        Some(us) if supported => Ok(Sleeps::Gather {
            window_us: us,
            want: edge.wait_gather_want,
        }),
        Some(us) => Err(format!(
            "edge.wait_gather_us = {us} needs io_uring min-wait (IORING_FEAT_MIN_TIMEOUT, Linux \
             6.12), which this kernel does not have: set it to 0 or remove it"
        )),
        None if supported => Ok(Sleeps::Gather {
            window_us: DEFAULT_WAIT_GATHER_US,
            want: edge.wait_gather_want,
        }),
        None => Ok(Sleeps::NoMinWait),
    }
}

/// Least time between two log lines about a shard's switches: where a shard's rate sits at the
/// threshold it may switch up to ten times a second (the rule counting completions did, under
/// QUIC: bench/runs/2026-12-04-vm, "Nineteenth session").
const LOG_EVERY_US: u64 = 10_000_000;

/// One shard's policy.
#[derive(Debug)]
pub struct Gather {
    batcher: WaitBatcher,
    origin: Instant,
    /// The frame count at the last sleep (`None` before the shard is watched).
    seen: Option<u64>,
    /// The log line about switches (µs since `origin`).
    switches: LogEvery,
}

impl Gather {
    pub fn new(window_us: u32, want: u32) -> Gather {
        Gather {
            batcher: WaitBatcher::new(window_us, want),
            origin: Instant::now(),
            seen: None,
            switches: LogEvery::new(LOG_EVERY_US),
        }
    }
}

impl SleepPolicy for Gather {
    fn min_wait_us(&mut self, now: Instant, _completions: u64) -> u32 {
        let us = u64::try_from(now.saturating_duration_since(self.origin).as_micros())
            .unwrap_or(u64::MAX);
        let frames = frames();
        // The first count seen is where counting starts: frames handled between `watch` and
        // this thread's first sleep are not counted.
        let arrived = match (self.seen, frames) {
            (Some(seen), Some(now)) => now.saturating_sub(seen),
            _ => 0,
        };
        self.seen = frames.or(self.seen);
        let was = self.batcher.gathering();
        let next = self
            .batcher
            .after_wait(us, usize::try_from(arrived).unwrap_or(usize::MAX));
        if was != self.batcher.gathering()
            && let Some(switches) = self.switched(us)
        {
            tracing::info!(
                min_wait_us = next,
                switches,
                "shard sleeps: gathering switched"
            );
        }
        next
    }
}

impl Gather {
    /// Counts a switch at `us`; returns the switches to log now (this one and those since the
    /// last line), or `None` within [`LOG_EVERY_US`] of it.
    fn switched(&mut self, us: u64) -> Option<u64> {
        self.switches.due(us).map(|quiet| quiet + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn edge(lines: &str) -> EdgeSection {
        Config::parse(&format!("[edge]\nid = \"e\"\nregion = \"r\"\n{lines}\n"))
            .expect("config")
            .edge
    }

    #[test]
    fn unset_gathers_where_the_kernel_can_and_set_insists() {
        let gather = |window_us, want| Ok(Sleeps::Gather { window_us, want });
        assert_eq!(sleeps(&edge(""), true), gather(DEFAULT_WAIT_GATHER_US, 2));
        assert_eq!(sleeps(&edge(""), false), Ok(Sleeps::NoMinWait));
        assert_eq!(sleeps(&edge("wait_gather_us = 0"), true), Ok(Sleeps::Off));
        assert_eq!(sleeps(&edge("wait_gather_us = 0"), false), Ok(Sleeps::Off));
        assert_eq!(
            sleeps(&edge("wait_gather_us = 500\nwait_gather_want = 2"), true),
            gather(500, 2)
        );
        let e = sleeps(&edge("wait_gather_us = 500"), false).expect_err("old kernel");
        assert!(e.contains("edge.wait_gather_us = 500"), "{e}");
    }

    #[test]
    fn switches_are_logged_at_most_once_per_interval_with_their_count() {
        let mut g = Gather::new(1_000, 4);
        assert_eq!(g.switched(5), Some(1), "the first is logged");
        assert_eq!(g.switched(6), None);
        // cap − 1, cap, cap + 1 after the last line.
        assert_eq!(g.switched(5 + LOG_EVERY_US - 1), None);
        assert_eq!(g.switched(5 + LOG_EVERY_US), Some(3));
        assert_eq!(g.switched(5 + LOG_EVERY_US + 1), None);
        assert_eq!(g.switched(5 + 2 * LOG_EVERY_US + 1), Some(2));
    }

    /// A policy on this test's thread watching a fresh shard's metrics (each test runs on a
    /// thread of its own), and a clock from its origin.
    fn watched() -> (Gather, Arc<ShardMetrics>, impl Fn(u64) -> Instant) {
        let m = Arc::new(ShardMetrics::default());
        watch(m.clone());
        let g = Gather::new(1_000, 4);
        let t0 = g.origin;
        (g, m, move |us| t0 + std::time::Duration::from_micros(us))
    }

    #[test]
    fn the_policy_gathers_once_a_period_is_busy_and_stops_when_idle() {
        let (mut g, m, at) = watched();
        assert_eq!(g.min_wait_us(at(0), 0), 0);
        // 1 000 frames in the first 100 ms period: 10 per window.
        m.handled.fetch_add(500, Relaxed);
        assert_eq!(g.min_wait_us(at(50_000), 0), 0, "decided per period");
        m.handled.fetch_add(500, Relaxed);
        assert_eq!(g.min_wait_us(at(100_000), 0), 1_000);
        // Ten seconds without a frame: the next sleep wakes on the first completion.
        m.handled.fetch_add(1, Relaxed);
        assert_eq!(g.min_wait_us(at(10_100_000), 0), 0);
    }

    /// Each handled frame is one arrival: at a 1 000 µs window and a want of 4, 400 frames in a
    /// 100 ms period is 4 per window (cap), 399 is below it.
    #[test]
    fn one_handled_frame_is_one_arrival_at_cap_minus_one_cap_and_cap_plus_one() {
        for (n, gathers) in [(399, false), (400, true), (401, true)] {
            let (mut g, m, at) = watched();
            g.min_wait_us(at(0), 0);
            m.handled.fetch_add(n, Relaxed);
            let next = g.min_wait_us(at(100_000), 0);
            assert_eq!(next == 1_000, gathers, "{n} frames");
        }
    }

    /// The rule counts frames, not completions: what gathering does to the completion count
    /// (QUIC reads several datagrams per completion) cannot switch it, which is what made it
    /// flap every period under QUIC traffic.
    #[test]
    fn completions_neither_start_nor_stop_gathering_frames_do() {
        let (mut g, m, at) = watched();
        g.min_wait_us(at(0), 0);
        // A million completions and no frame: no gathering.
        assert_eq!(g.min_wait_us(at(100_000), 1_000_000), 0);
        // 600 frames a period (6 per window, `ws-10k`'s rate per shard) with few completions,
        // as when gathering merges reads: it starts, and holds period after period.
        for p in 2..12 {
            m.handled.fetch_add(600, Relaxed);
            assert_eq!(g.min_wait_us(at(p * 100_000), 1), 1_000, "period {p}");
        }
        assert!(g.batcher.gathering());
    }

    #[test]
    fn frames_before_the_first_sleep_that_sees_them_are_not_counted() {
        let m = Arc::new(ShardMetrics::default());
        // Frames the shard handled before its policy first saw the count.
        m.handled.fetch_add(1_000_000, Relaxed);
        let mut g = Gather::new(1_000, 4);
        let t0 = g.origin;
        let at = |us| t0 + std::time::Duration::from_micros(us);
        // Unwatched: nothing counted, however many completions.
        assert_eq!(g.min_wait_us(at(0), 5_000), 0);
        assert_eq!(g.seen, None);
        watch(m.clone());
        assert_eq!(g.min_wait_us(at(100_000), 0), 0, "those are not arrivals");
        m.handled.fetch_add(500, Relaxed);
        assert_eq!(g.min_wait_us(at(200_000), 0), 1_000, "new ones are");
    }
}
