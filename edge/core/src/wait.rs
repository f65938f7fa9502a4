//! When a server's waits should gather completions (io_uring's min-wait) and when they should
//! return on the first: a pure decision, fed the shell's clock and a count of the work that
//! arrives (the caller's unit: completions on the bare floor, frames in the edge).
//!
//! Gathering pays only when several completions arrive within the window; otherwise the
//! min-wait timer wakes the thread anyway and the wait costs more than it saves. The bench
//! record measured both sides on the bare floor (`bench/runs/2026-12-04-vm/README.md`,
//! "Batched waits"): a fixed 1 000 µs window cut the floor's CPU per frame by 15 % at about
//! 12 completions per window per thread (`ws-10k`) and more than doubled it at about 1.2
//! (`ws-1k`); those rates are estimated from frames per second, one receive and one send each.

/// How long a rate is measured before the decision is taken again: long enough to hold
/// many windows at any load where batching pays, short enough to follow a ramp.
pub const PERIOD_US: u64 = 100_000;

/// Whether the next wait gathers completions, from the rate of arrivals over the last
/// [`PERIOD_US`]. Gathering starts when at least `want` arrivals are expected within the
/// window and stops when fewer than half as many are (the gap keeps it from flapping at the
/// boundary).
///
/// The count must not depend on the decision, or the rule feeds itself. Completions are such
/// a count on the bare floor (one per receive and per send either way), but not in the edge:
/// its QUIC path reads several datagrams per completion, so gathering lowered the count and
/// the shards switched on and off every period under QUIC traffic (bench/runs/2026-12-04-vm,
/// "Nineteenth session"). The edge counts frames instead.
#[derive(Debug, Clone)]
pub struct WaitBatcher {
    window_us: u32,
    want: u64,
    start_us: Option<u64>,
    count: u64,
    on: bool,
}

impl WaitBatcher {
    /// `window_us`: the min-wait when gathering. `want`: arrivals expected per window at
    /// which gathering starts; 0 gathers on every wait.
    pub fn new(window_us: u32, want: u32) -> WaitBatcher {
        WaitBatcher {
            window_us,
            want: u64::from(want),
            start_us: None,
            count: 0,
            on: want == 0 && window_us > 0,
        }
    }

    /// The min-wait when gathering, in µs (0: never gathers).
    pub fn window_us(&self) -> u32 {
        self.window_us
    }

    /// Whether the waits gather now.
    pub fn gathering(&self) -> bool {
        self.on
    }

    /// The next wait's min-wait in µs, 0 to return on the first completion.
    pub fn min_wait_us(&self) -> u32 {
        if self.on { self.window_us } else { 0 }
    }

    /// After a wait that returned at `now_us` (a monotonic clock), with `arrived` arrivals
    /// since the last call: the next wait's min-wait ([`WaitBatcher::min_wait_us`]).
    pub fn after_wait(&mut self, now_us: u64, arrived: usize) -> u32 {
        if self.want == 0 || self.window_us == 0 {
            return self.min_wait_us();
        }
        let start = *self.start_us.get_or_insert(now_us);
        self.count = self.count.saturating_add(arrived as u64);
        let elapsed = now_us.saturating_sub(start);
        if elapsed >= PERIOD_US {
            // Arrivals expected within one window at the measured rate, scaled to avoid a
            // division that rounds a busy period down to nothing.
            let expected_x2 = self.count.saturating_mul(2 * u64::from(self.window_us)) / elapsed;
            let want_x2 = 2 * self.want;
            self.on = if self.on {
                expected_x2 >= self.want
            } else {
                expected_x2 >= want_x2
            };
            self.start_us = Some(now_us);
            self.count = 0;
        }
        self.min_wait_us()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batcher with a 1 000 µs window that starts at 4 completions per window, its first
    /// period begun at time 0 (returned as the test clock).
    fn started() -> (WaitBatcher, u64) {
        let mut b = WaitBatcher::new(1_000, 4);
        b.after_wait(0, 0);
        (b, 0)
    }

    /// Feeds `per_period` completions spread over one period's waits, from `t`; returns the
    /// decision after the period closes.
    fn period(b: &mut WaitBatcher, t: &mut u64, per_period: usize) -> u32 {
        const WAITS: usize = 10;
        let mut last = 0;
        for i in 0..WAITS {
            *t += PERIOD_US / WAITS as u64;
            let n = per_period / WAITS + usize::from(i < per_period % WAITS);
            last = b.after_wait(*t, n);
        }
        last
    }

    #[test]
    fn gathers_from_the_expected_count_per_window_at_cap_minus_one_cap_and_cap_plus_one() {
        // Window 1 000 µs, want 4 per window: 4 per ms is 400 per 100 ms period.
        for (per_period, gathers) in [(399, false), (400, true), (401, true)] {
            let (mut b, mut t) = started();
            let next = period(&mut b, &mut t, per_period);
            assert_eq!(next != 0, gathers, "{per_period} per period");
            assert_eq!(b.gathering(), gathers);
            if gathers {
                assert_eq!(next, 1_000);
            }
        }
    }

    #[test]
    fn stops_below_half_the_start_rate_and_not_before() {
        let (mut b, mut t) = started();
        assert_ne!(period(&mut b, &mut t, 1_000), 0);
        // Between half and the start rate it keeps gathering (200 per period is 2 per window).
        assert_ne!(period(&mut b, &mut t, 200), 0);
        assert_ne!(period(&mut b, &mut t, 399), 0);
        assert_eq!(period(&mut b, &mut t, 199), 0);
        // And does not start again until the start rate.
        assert_eq!(period(&mut b, &mut t, 399), 0);
        assert_ne!(period(&mut b, &mut t, 400), 0);
    }

    #[test]
    fn a_wait_after_a_long_idle_stops_gathering() {
        let (mut b, mut t) = started();
        assert_ne!(period(&mut b, &mut t, 5_000), 0);
        // No traffic for ten seconds: the first completion ends the wait.
        t += 10_000_000;
        assert_eq!(b.after_wait(t, 1), 0);
    }

    #[test]
    fn the_decision_holds_within_a_period() {
        let (mut b, _) = started();
        // A burst inside the period does not switch it on early.
        assert_eq!(b.after_wait(PERIOD_US - 1, 10_000), 0);
        assert_eq!(b.after_wait(PERIOD_US, 0), 1_000);
    }

    #[test]
    fn want_zero_always_gathers_and_a_zero_window_never_does() {
        let mut always = WaitBatcher::new(500, 0);
        assert!(always.gathering());
        assert_eq!(always.after_wait(0, 0), 500);
        assert_eq!(always.after_wait(10_000_000, 1), 500);
        let mut never = WaitBatcher::new(0, 0);
        assert!(!never.gathering());
        assert_eq!(never.after_wait(0, 1_000_000), 0);
        let mut never = WaitBatcher::new(0, 4);
        assert_eq!(never.after_wait(PERIOD_US, 1_000_000), 0);
    }
}
