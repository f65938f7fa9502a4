//! A log line that would repeat, written at most once an interval with how many times it was
//! not (pure: time is a parameter, in whatever unit its caller counts).
//!
//! Three lines of the shells are throttled this way: the spool writer's failures (a full disk
//! is retried about ten times a second), a shard's switches of how its sleeps gather, and the
//! control plane's refusals of one edge (at every retry of its streams). Each used to count it
//! its own way.

/// At most one line each `every` units of its caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEvery {
    every: u64,
    /// When the last line was written.
    last: Option<u64>,
    /// Occurrences not written since it.
    quiet: u64,
}

impl LogEvery {
    pub const fn new(every: u64) -> LogEvery {
        LogEvery {
            every,
            last: None,
            quiet: 0,
        }
    }

    /// An occurrence at `now`: `Some(n)` when it is to be written, `n` the occurrences not
    /// written since the last line (0 for the first); `None` within `every` of the last line. A
    /// clock gone back counts as due: it must not silence the line until it catches up.
    pub fn due(&mut self, now: u64) -> Option<u64> {
        if let Some(last) = self.last
            && now
                .checked_sub(last)
                .is_some_and(|since| since < self.every)
        {
            self.quiet += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.quiet))
    }

    /// When the last line was written.
    pub fn last(&self) -> Option<u64> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_due_then_one_each_interval_with_the_count_not_written() {
        let mut l = LogEvery::new(1000);
        assert_eq!(l.last(), None);
        assert_eq!(l.due(5), Some(0), "the first");
        assert_eq!(l.due(6), None);
        // cap − 1, cap, cap + 1 after the last line.
        assert_eq!(l.due(5 + 999), None);
        assert_eq!(l.due(5 + 1000), Some(2), "the two not written");
        assert_eq!(l.due(5 + 1001), None);
        assert_eq!(l.last(), Some(1005));
        assert_eq!(l.due(9000), Some(1));
        // A clock gone back is due at once, and the interval runs from there.
        assert_eq!(l.due(10), Some(0));
        assert_eq!(l.due(11), None);
        // At the end of the clock the interval cannot overflow.
        assert_eq!(l.due(u64::MAX - 1), Some(1));
        assert_eq!(l.due(u64::MAX), None);
    }
}
