//! Log lines that would repeat at every retry, throttled per key (pure: time is a parameter).
//!
//! A misnamed edge is refused its config stream, its alert stream and its reports at every
//! attempt (its backoff reaches one each 5 s, reports one each interval): logged each time,
//! one such edge wrote tens of thousands of lines a day. Now the first refusal of a key is
//! logged, then at most one each [`EVERY_MS`] with how many were not.

use std::collections::HashMap;

use sentientiq_core::LogEvery;

/// Ten minutes between lines of one key: an operator watching the log sees a refusal within
/// minutes of it starting and a few lines an hour while it lasts.
pub const EVERY_MS: i64 = 10 * 60 * 1000;
/// Keys remembered at most; past it the one logged longest ago is forgotten (its next refusal
/// is logged as a first one).
pub const MAX_KEYS: usize = 1000;

#[derive(Debug)]
pub struct Throttle {
    every_ms: i64,
    max_keys: usize,
    /// Key → its line ([`LogEvery`], ms).
    seen: HashMap<String, LogEvery>,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(EVERY_MS, MAX_KEYS)
    }
}

impl Throttle {
    pub fn new(every_ms: i64, max_keys: usize) -> Throttle {
        Throttle {
            every_ms,
            max_keys: max_keys.max(1),
            seen: HashMap::new(),
        }
    }

    /// Whether the line of `key` at `now_ms` is logged: `Some(n)` with the `n` lines of it
    /// not logged since the last, `None` when it is not. A clock gone back counts as due.
    pub fn due(&mut self, key: &str, now_ms: i64) -> Option<u64> {
        let now = u64::try_from(now_ms).unwrap_or(0);
        if let Some(line) = self.seen.get_mut(key) {
            return line.due(now);
        }
        if self.seen.len() >= self.max_keys
            && let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, line)| line.last())
                .map(|(k, _)| k.clone())
        {
            self.seen.remove(&oldest);
        }
        let mut line = LogEvery::new(u64::try_from(self.every_ms).unwrap_or(0));
        let first = line.due(now);
        self.seen.insert(key.to_string(), line);
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_logged_first_then_once_each_interval_with_what_was_not() {
        let mut t = Throttle::new(1000, 10);
        assert_eq!(t.due("a", 0), Some(0));
        assert_eq!(t.due("a", 1), None);
        assert_eq!(t.due("a", 999), None);
        assert_eq!(t.due("b", 999), Some(0), "another key is its own");
        assert_eq!(
            t.due("a", 1000),
            Some(2),
            "at the interval, with the two not logged"
        );
        assert_eq!(t.due("a", 1001), None);
        assert_eq!(t.due("a", 5000), Some(1));
        // A clock gone back logs at once (and the interval runs from there), rather than
        // silencing the key until the clock catches up.
        assert_eq!(t.due("a", 10), Some(0));
        assert_eq!(t.due("a", 11), None);
    }

    #[test]
    fn keys_are_remembered_up_to_the_cap_and_the_oldest_forgotten_past_it() {
        let mut t = Throttle::new(1000, 3);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            assert_eq!(t.due(k, i as i64), Some(0));
        }
        // At the cap, all remembered: each quiet within the interval.
        for k in ["a", "b", "c"] {
            assert_eq!(t.due(k, 10), None, "{k}");
        }
        // One more key: the one logged longest ago (a) is forgotten, the rest kept.
        assert_eq!(t.due("d", 11), Some(0));
        assert_eq!(t.seen.len(), 3);
        assert_eq!(t.due("a", 12), Some(0), "forgotten: logged as a first");
        assert_eq!(t.due("c", 13), None, "kept");
        assert_eq!(MAX_KEYS, 1000);
        assert_eq!(Throttle::default().every_ms, 600_000);
    }
}
