//! The one place the shell reads the wall clock. Everything below it (the core, the shard's
//! per-frame pipeline, the control feed) takes time as a parameter, so tests drive it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
