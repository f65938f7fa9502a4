//! Rate limits, `Retry-After`, quiet hours. Pure: time is a parameter (ms since the epoch).
//!
//! ## Rates
//! A [`Rate`] is a token bucket in its virtual-time form (GCRA): one unit is earned every
//! `interval_ms`, at most `burst` units can be spent at once, and a send of `cost` units (an SMS
//! of three segments costs three) is admitted when the bucket holds them. A send that is not
//! admitted is not dropped: [`Limits::admit`] says when it will be, and the caller waits.
//!
//! Vendor defaults, each from the vendor's documentation:
//! - Slack, per channel / per incoming webhook: [`SLACK`], 1 message per second with short
//!   bursts ("Posting messages: 1 per second. Short bursts >1 allowed", Slack API docs, *Rate
//!   limits*; chat.postMessage "generally allows posting one message per second per channel").
//! - PagerDuty Events API v2, per routing key: [`PAGERDUTY`]. The docs (*Events API Rate
//!   Limits*) give "approximately 120 calls/minute per integration key", counted over the last
//!   60 s. A burst of 10 then one per 600 ms keeps any 60 s window at ≤ 110 calls.
//! - Twilio, per sender: long code 1 message segment per second, US/CA toll-free 3 segments per
//!   second, short code 30 per second (Twilio support, *How quickly can I send SMS messages?*
//!   and *Understanding Twilio Rate Limits and Message Queues*). Twilio queues, rather than
//!   refuses, what exceeds this; pacing here keeps our own queue, not Twilio's, in charge of
//!   the order (a page for a $100k account is not stuck behind Twilio's backlog). WhatsApp
//!   senders are paced like a short code (30/s): WhatsApp is not paced per segment.
//! - Standard Webhooks endpoints: no vendor limit; [`WEBHOOK`] is a courtesy default.
//! - Per contact, across channels: [`CONTACT`], against alert fatigue: a burst of 5 then one
//!   message a minute. The first message of a *new* alert is paced like any other (never held
//!   for grouping); repeat detections do not message at all (see [`crate::chain`]).
//!
//! ## Quiet hours
//! A contact's quiet window is local time (a fixed UTC offset, so DST changes need the plane
//! to push the new offset). Decision: during quiet hours a page goes to the contact's fallback
//! contact when one is configured and is not quiet itself; otherwise it is **held** until the
//! window ends while the chain's step timer keeps running, so the next step (a person who is
//! awake) is reached on time, and a held message is cancelled if the alert is acknowledged or
//! closed before the window ends. Holding rather than dropping: the person still learns of it
//! in the morning.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A token bucket: `burst` units, one more every `interval_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub interval_ms: u64,
}

pub const SLACK: Rate = Rate {
    burst: 2,
    interval_ms: 1000,
};
pub const PAGERDUTY: Rate = Rate {
    burst: 10,
    interval_ms: 600,
};
pub const TWILIO_LONG_CODE: Rate = Rate {
    burst: 1,
    interval_ms: 1000,
};
pub const TWILIO_TOLL_FREE: Rate = Rate {
    burst: 3,
    interval_ms: 334,
};
pub const TWILIO_SHORT_CODE: Rate = Rate {
    burst: 30,
    interval_ms: 34,
};
pub const WEBHOOK: Rate = Rate {
    burst: 10,
    interval_ms: 100,
};
pub const CONTACT: Rate = Rate {
    burst: 5,
    interval_ms: 60_000,
};

/// The state of one bucket: the theoretical arrival time of the next unit (GCRA's TAT).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    tat_ms: u64,
    /// Until when the destination asked us to stay away (`Retry-After`).
    blocked_until_ms: u64,
}

impl Bucket {
    /// When a send of `cost` units can go: `now_ms` if it can go now.
    pub fn ready_at(&self, rate: Rate, now_ms: u64, cost: u32) -> u64 {
        let cost = u64::from(cost.max(1));
        let tau = u64::from(rate.burst.max(1)) * rate.interval_ms;
        let tat = self.tat_ms.max(now_ms);
        // Admit when the bucket holds `cost` units (capped at `burst`: a message larger than
        // the bucket goes when the bucket is full and leaves it in debt).
        let need = cost.min(u64::from(rate.burst.max(1))) * rate.interval_ms;
        let at = (tat + need).saturating_sub(tau).max(now_ms);
        at.max(self.blocked_until_ms)
    }

    /// Spends `cost` units at `now_ms`, which must be at or after [`Bucket::ready_at`].
    pub fn take(&mut self, rate: Rate, now_ms: u64, cost: u32) {
        self.tat_ms = self.tat_ms.max(now_ms) + u64::from(cost.max(1)) * rate.interval_ms;
    }

    pub fn block_until(&mut self, until_ms: u64) {
        self.blocked_until_ms = self.blocked_until_ms.max(until_ms);
    }

    fn idle(&self, now_ms: u64) -> bool {
        self.tat_ms <= now_ms && self.blocked_until_ms <= now_ms
    }
}

/// The buckets of one process, keyed by destination or contact (non-secret keys: see
/// [`crate::secret::fingerprint`]).
#[derive(Debug, Default)]
pub struct Limits {
    buckets: HashMap<String, Bucket>,
}

impl Limits {
    /// Admits a send that spends `cost` units in each of `keys` (an SMS spends its segments
    /// in its sender's bucket but one message in its contact's), or says when it can go. On
    /// admission the units are spent in every bucket; otherwise in none.
    pub fn admit(&mut self, now_ms: u64, keys: &[(&str, Rate, u32)]) -> Result<(), u64> {
        let mut at = now_ms;
        for (k, rate, cost) in keys {
            let b = self.buckets.get(*k).copied().unwrap_or_default();
            at = at.max(b.ready_at(*rate, now_ms, *cost));
        }
        if at > now_ms {
            return Err(at);
        }
        for (k, rate, cost) in keys {
            self.buckets
                .entry((*k).to_owned())
                .or_default()
                .take(*rate, now_ms, *cost);
        }
        if self.buckets.len() > 4096 {
            self.buckets.retain(|_, b| !b.idle(now_ms));
        }
        Ok(())
    }

    /// The destination said `Retry-After`: nothing goes to it before `until_ms`.
    pub fn block_until(&mut self, key: &str, until_ms: u64) {
        self.buckets
            .entry(key.to_owned())
            .or_default()
            .block_until(until_ms);
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// The longest `Retry-After` honoured: a page that cannot go within 15 minutes is better
/// retried on our schedule (and counted) than parked for hours.
pub const MAX_RETRY_AFTER_MS: u64 = 15 * 60 * 1000;

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns the delay in
/// ms from `now_ms` (0 for a date in the past), capped at [`MAX_RETRY_AFTER_MS`].
pub fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let v = value.trim();
    let ms = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<u64>().ok().map(|s| s.saturating_mul(1000))?
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        let at_ms = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis();
        u64::try_from(at_ms)
            .unwrap_or(u64::MAX)
            .saturating_sub(now_ms)
    };
    Some(ms.min(MAX_RETRY_AFTER_MS))
}

/// A contact's quiet window in local time. `start_min == end_min` means no quiet hours; a
/// window may wrap midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Local time minus UTC, minutes (e.g. -300 for US Eastern standard time).
    pub utc_offset_min: i16,
    /// Minute of the local day the window starts (inclusive), 0..1440.
    pub start_min: u16,
    /// Minute of the local day the window ends (exclusive), 0..1440.
    pub end_min: u16,
}

const DAY_MS: i64 = 86_400_000;

impl QuietHours {
    pub fn valid(&self) -> bool {
        self.start_min < 1440 && self.end_min < 1440 && self.utc_offset_min.abs() <= 14 * 60
    }

    /// Local ms since local midnight.
    fn local_ms_of_day(&self, now_ms: u64) -> i64 {
        let local = now_ms as i64 + i64::from(self.utc_offset_min) * 60_000;
        local.rem_euclid(DAY_MS)
    }

    pub fn is_quiet(&self, now_ms: u64) -> bool {
        self.ends_at(now_ms).is_some()
    }

    /// When the current quiet window ends, if `now_ms` is inside one.
    pub fn ends_at(&self, now_ms: u64) -> Option<u64> {
        if self.start_min == self.end_min || !self.valid() {
            return None;
        }
        let t = self.local_ms_of_day(now_ms);
        let start = i64::from(self.start_min) * 60_000;
        let end = i64::from(self.end_min) * 60_000;
        let until_end = if start < end {
            (start <= t && t < end).then_some(end - t)
        } else if t >= start {
            Some(DAY_MS - t + end)
        } else {
            (t < end).then_some(end - t)
        }?;
        Some(now_ms + until_end as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends at `now` until one is refused; returns how many went.
    fn burst(rate: Rate, now: u64, cost: u32) -> (u32, u64) {
        let mut l = Limits::default();
        let mut n = 0;
        loop {
            match l.admit(now, &[("k", rate, cost)]) {
                Ok(()) => n += 1,
                Err(at) => return (n, at),
            }
        }
    }

    #[test]
    fn buckets_admit_exactly_burst_then_pace() {
        for rate in [
            SLACK,
            PAGERDUTY,
            TWILIO_LONG_CODE,
            TWILIO_TOLL_FREE,
            WEBHOOK,
            CONTACT,
        ] {
            let (n, at) = burst(rate, 1_000_000, 1);
            assert_eq!(n, rate.burst, "{rate:?}");
            assert_eq!(at, 1_000_000 + rate.interval_ms, "{rate:?}");
        }
    }

    #[test]
    fn cap_minus_one_cap_cap_plus_one() {
        let rate = Rate {
            burst: 3,
            interval_ms: 1000,
        };
        let mut l = Limits::default();
        let now = 50_000;
        assert_eq!(l.admit(now, &[("k", rate, 1)]), Ok(())); // cap-2 left
        assert_eq!(l.admit(now, &[("k", rate, 1)]), Ok(())); // cap-1 used
        assert_eq!(l.admit(now, &[("k", rate, 1)]), Ok(())); // cap used
        assert_eq!(l.admit(now, &[("k", rate, 1)]), Err(now + 1000)); // cap+1 waits
        assert_eq!(l.admit(now + 999, &[("k", rate, 1)]), Err(now + 1000));
        assert_eq!(l.admit(now + 1000, &[("k", rate, 1)]), Ok(()));
    }

    #[test]
    fn pagerduty_never_exceeds_its_documented_window() {
        // Greedy sender over 5 minutes: no 60 s window holds more than 120 (≈ documented).
        let mut l = Limits::default();
        let mut sent = Vec::new();
        let mut now = 0u64;
        while now < 300_000 {
            match l.admit(now, &[("pd", PAGERDUTY, 1)]) {
                Ok(()) => sent.push(now),
                Err(at) => now = at,
            }
        }
        for (i, &t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|&&u| u < t + 60_000).count();
            assert!(
                in_window <= 110,
                "{in_window} events in the minute from {t}"
            );
        }
    }

    #[test]
    fn costs_spend_several_units_and_large_messages_still_go() {
        // A 3-segment SMS on a long code: the next one goes 3 s later.
        let mut l = Limits::default();
        assert_eq!(l.admit(0, &[("n", TWILIO_LONG_CODE, 3)]), Ok(()));
        assert_eq!(l.admit(0, &[("n", TWILIO_LONG_CODE, 1)]), Err(3000));
        assert_eq!(l.admit(3000, &[("n", TWILIO_LONG_CODE, 1)]), Ok(()));
    }

    #[test]
    fn each_key_spends_its_own_cost() {
        // A 5-segment SMS: five units of its sender, one message of its contact.
        let mut l = Limits::default();
        let keys = [("sender", TWILIO_SHORT_CODE, 5), ("contact", CONTACT, 1)];
        assert_eq!(l.admit(0, &keys), Ok(()));
        assert_eq!(
            l.admit(1, &[("other", SLACK, 1), ("contact", CONTACT, 1)]),
            Ok(())
        );
    }

    #[test]
    fn every_key_must_admit_and_only_then_spends() {
        let mut l = Limits::default();
        let one = Rate {
            burst: 1,
            interval_ms: 10_000,
        };
        assert_eq!(l.admit(0, &[("dest", one, 1)]), Ok(()));
        // The contact bucket is fresh but the destination is not: nothing is spent.
        assert_eq!(
            l.admit(0, &[("contact", one, 1), ("dest", one, 1)]),
            Err(10_000)
        );
        assert_eq!(l.admit(0, &[("contact", one, 1)]), Ok(()));
    }

    #[test]
    fn retry_after_blocks_the_destination() {
        let mut l = Limits::default();
        l.block_until("slack", 7_000);
        assert_eq!(l.admit(1_000, &[("slack", SLACK, 1)]), Err(7_000));
        assert_eq!(l.admit(7_000, &[("slack", SLACK, 1)]), Ok(()));
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        assert_eq!(retry_after_ms("30", 0), Some(30_000));
        assert_eq!(retry_after_ms(" 0 ", 0), Some(0));
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(retry_after_ms(date, 784_111_777_000 - 5_000), Some(5_000));
        assert_eq!(
            retry_after_ms(date, 784_111_777_000 + 5_000),
            Some(0),
            "past date"
        );
        assert_eq!(retry_after_ms("99999999", 0), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(retry_after_ms("-1", 0), None);
        assert_eq!(retry_after_ms("soon", 0), None);
        assert_eq!(retry_after_ms("", 0), None);
    }

    const MIN: u64 = 60_000;

    #[test]
    fn quiet_hours_boundaries() {
        // 22:00–07:00 at UTC-5. Local 22:00 = 03:00 UTC.
        let q = QuietHours {
            utc_offset_min: -300,
            start_min: 22 * 60,
            end_min: 7 * 60,
        };
        let day = 20_000 * DAY_MS as u64; // a UTC midnight
        let local = |h: u64, m: u64| day + (h * 60 + m) * MIN + 5 * 60 * MIN;
        assert!(!q.is_quiet(local(21, 59)));
        assert_eq!(
            q.ends_at(local(22, 0)),
            Some(local(31, 0)),
            "start is inclusive"
        );
        assert!(q.is_quiet(local(23, 59)));
        assert!(q.is_quiet(local(24, 0)), "wraps midnight");
        assert_eq!(q.ends_at(local(30, 59)), Some(local(31, 0)));
        assert!(!q.is_quiet(local(31, 0)), "end is exclusive");
        // A window that does not wrap, and an empty one.
        let q = QuietHours {
            utc_offset_min: 0,
            start_min: 60,
            end_min: 120,
        };
        assert!(!q.is_quiet(day + 59 * MIN));
        assert_eq!(q.ends_at(day + 60 * MIN), Some(day + 120 * MIN));
        assert!(!q.is_quiet(day + 120 * MIN));
        let none = QuietHours {
            utc_offset_min: 0,
            start_min: 60,
            end_min: 60,
        };
        assert!(!none.is_quiet(day + 60 * MIN));
        let bad = QuietHours {
            utc_offset_min: 0,
            start_min: 1440,
            end_min: 60,
        };
        assert!(!bad.valid() && !bad.is_quiet(day));
    }
}
