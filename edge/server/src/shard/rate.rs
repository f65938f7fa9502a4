//! A session's frame rate limit: a token bucket in thousandths of a frame, refilled at the
//! tenant's `frames_per_sec` up to `frame_burst` frames.

#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens_milli: u64,
    refilled_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` frames at `now`.
    pub fn full(now: u64, burst: u32) -> TokenBucket {
        TokenBucket {
            tokens_milli: u64::from(burst) * 1000,
            refilled_ms: now,
        }
    }

    /// Takes one frame token; `Err(ms)` = empty, with the wait until the next one.
    pub fn take(&mut self, now: u64, per_sec: u32, burst: u32) -> Result<(), u32> {
        let cap = u64::from(burst) * 1000;
        let elapsed = now.saturating_sub(self.refilled_ms);
        self.tokens_milli = (self.tokens_milli + elapsed * u64::from(per_sec)).min(cap);
        self.refilled_ms = now;
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            Ok(())
        } else {
            let missing = 1000 - self.tokens_milli;
            Err(missing.div_ceil(u64::from(per_sec.max(1))).max(1) as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let mut b = TokenBucket::full(0, 3);
        for _ in 0..3 {
            b.take(0, 50, 3).expect("within the burst");
        }
        // The 4th frame at once: empty, the next token is 20 ms away at 50/s.
        assert_eq!(b.take(0, 50, 3), Err(20));
        assert_eq!(b.take(19, 50, 3), Err(1));
        b.take(20, 50, 3).expect("refilled");
        // A long pause refills only up to the burst.
        for _ in 0..3 {
            b.take(10_000, 50, 3).expect("burst again");
        }
        assert!(b.take(10_000, 50, 3).is_err());
    }
}
