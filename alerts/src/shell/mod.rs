//! The shell: the only module that reads a clock or does I/O. Thin by design: what to send,
//! when, and what an answer means are decided in the pure modules.
//!
//! - [`http`]: performs one built request (hyper-util's client over rustls with the `ring`
//!   provider, HTTP/1.1, a connect timeout and a per-attempt timeout) and returns the answer
//!   or which kind of transport failure it was.
//! - [`lanes`]: one queue and task per destination (a Slack channel, a PagerDuty routing key,
//!   a Twilio sender, a webhook endpoint). A destination's rate limit and `Retry-After` only
//!   ever hold its own lane, and a vendor that hangs only delays its own messages.
//! - [`runner`]: drives a [`crate::Book`]: commands in (detections, acknowledgements, false
//!   alarms), the clock, the lanes' results; effects out (persist through a [`runner::Store`],
//!   send through the lanes, report through an event channel).

pub mod http;
pub mod lanes;
pub mod runner;

pub use http::{HttpConfig, HttpSender, SendError};
pub use lanes::Lanes;
pub use runner::{Command, Event, MemoryStore, Runner, RunnerConfig, Store, StoreError};

/// Milliseconds since the Unix epoch, from the system clock: the shell's one clock read.
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sleeps until the epoch-ms instant `at_ms` (returns at once if it has passed).
pub async fn sleep_until_ms(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        tokio::time::sleep(std::time::Duration::from_millis(at_ms - now)).await;
    }
}
