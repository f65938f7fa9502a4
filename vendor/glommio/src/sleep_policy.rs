// Added by SentientIQ (vendor/glommio.patch): see vendor/README.md, change 5.
//! Whether a sleeping executor returns on its main ring's first completion or
//! lets completions gather first.

use std::time::Instant;

/// Decides how long an executor's sleeps gather completions on its main ring.
///
/// glommio's reactor sleeps until the main ring has one completion. Under a
/// steady stream of small socket reads that is one wake-up, and one pass of
/// the reactor, per completion. A policy can ask instead for io_uring's
/// *min-wait* (Linux 6.12, `IORING_FEAT_MIN_TIMEOUT`): the sleep waits up to
/// N µs for completions to gather, then returns as soon as there is one. An
/// idle executor still sleeps until its first completion; a busy one returns
/// to the reactor at most about once per N µs, and what a pass of the reactor
/// costs is shared by the completions it finds (completions that the kernel
/// delivers as task work may still wake the thread inside the kernel). The
/// price is latency: a completion (a socket read, a timer, a message from
/// another executor) waits up to N µs longer.
///
/// Set one with [`LocalExecutorBuilder::sleep_policy`] or
/// [`LocalExecutorPoolBuilder::sleep_policy`]. It runs on the executor's
/// thread and must not block.
///
/// [`LocalExecutorBuilder::sleep_policy`]: crate::LocalExecutorBuilder::sleep_policy
/// [`LocalExecutorPoolBuilder::sleep_policy`]: crate::LocalExecutorPoolBuilder::sleep_policy
pub trait SleepPolicy: std::fmt::Debug + Send {
    /// Called before each sleep with the time and the number of completions
    /// the main ring has had since the previous call. Returns the sleep's
    /// min-wait in µs; 0 returns on the first completion, as glommio does
    /// without a policy.
    fn min_wait_us(&mut self, now: Instant, completions: u64) -> u32;
}

/// Whether this kernel can run a [`SleepPolicy`]: its io_uring has min-wait
/// (`IORING_FEAT_MIN_TIMEOUT`, Linux 6.12). Without it, an executor with a
/// policy fails to start.
pub fn sleep_policy_supported() -> bool {
    crate::sys::min_wait_supported()
}
