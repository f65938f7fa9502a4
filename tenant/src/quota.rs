//! A tenant's monthly quota of billable events (issue 18, docs/METERING.md): pure decisions,
//! the count and the time are parameters.
//!
//! Events are what the rate card prices (each sample, and each accepted frame that is not a
//! batch), summed over the fleet for the UTC calendar month. Past the soft limit the plane warns;
//! a frame whose events would take the month past the hard limit is refused, unless its session
//! is high-value (or the frame is an `id`, which may make it so): the product never turns away
//! the accounts it exists to protect.

/// A tenant's limits, events per month; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Where a month's count stands against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaState {
    Under,
    /// At or past the soft limit: warned, nothing refused.
    Soft,
    /// At or past the hard limit: frames of sessions below the high-value mark are refused.
    Hard,
}

impl QuotaState {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaState::Under => "under",
            QuotaState::Soft => "soft",
            QuotaState::Hard => "hard",
        }
    }
}

impl Quota {
    /// The one check of a tenant's limits: each positive, the soft one not above the hard one.
    pub fn new(soft: Option<u64>, hard: Option<u64>) -> Result<Quota, String> {
        if soft == Some(0) || hard == Some(0) {
            return Err("limits.events_per_month_soft and _hard must be positive".into());
        }
        if let (Some(s), Some(h)) = (soft, hard)
            && s > h
        {
            return Err(format!(
                "limits.events_per_month_soft ({s}) must not be above events_per_month_hard ({h})"
            ));
        }
        Ok(Quota { soft, hard })
    }

    /// Where `used` events this month stand.
    pub fn state(&self, used: u64) -> QuotaState {
        if self.hard.is_some_and(|h| used >= h) {
            QuotaState::Hard
        } else if self.soft.is_some_and(|s| used >= s) {
            QuotaState::Soft
        } else {
            QuotaState::Under
        }
    }

    /// Whether a frame of `events` is taken with `used` counted this month: always for a
    /// high-value session, else only if the month stays within the hard limit.
    pub fn admits(&self, used: u64, events: u64, high_value: bool) -> bool {
        high_value || self.hard.is_none_or(|h| used.saturating_add(events) <= h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: u64 = 1_000;

    #[test]
    fn the_hard_limit_admits_up_to_the_cap_and_not_one_event_past_it() {
        let q = Quota::new(None, Some(CAP)).expect("valid");
        // A one-event frame with cap-1, cap and cap+1 - 1 already counted.
        assert!(q.admits(CAP - 2, 1, false), "ends at cap-1");
        assert!(q.admits(CAP - 1, 1, false), "ends at cap");
        assert!(!q.admits(CAP, 1, false), "would end at cap+1");
        // A batch is taken whole or not at all.
        assert!(q.admits(CAP - 10, 10, false));
        assert!(!q.admits(CAP - 10, 11, false));
        // High-value sessions are never refused, however far past.
        assert!(q.admits(CAP, 1, true));
        assert!(q.admits(u64::MAX, u64::MAX, true));
        // No overflow at the top of the range.
        assert!(!q.admits(u64::MAX, 1, false));
    }

    #[test]
    fn states_change_at_each_limit() {
        let q = Quota::new(Some(800), Some(CAP)).expect("valid");
        assert_eq!(q.state(799), QuotaState::Under);
        assert_eq!(q.state(800), QuotaState::Soft);
        assert_eq!(q.state(801), QuotaState::Soft);
        assert_eq!(q.state(CAP - 1), QuotaState::Soft);
        assert_eq!(q.state(CAP), QuotaState::Hard);
        assert_eq!(q.state(CAP + 1), QuotaState::Hard);
        let none = Quota::default();
        assert_eq!(none.state(u64::MAX), QuotaState::Under);
        assert!(none.admits(u64::MAX, 1, false));
        assert_eq!(QuotaState::Soft.as_str(), "soft");
    }

    #[test]
    fn limits_are_checked_once() {
        assert!(Quota::new(Some(0), None).is_err());
        assert!(Quota::new(None, Some(0)).is_err());
        assert!(
            Quota::new(Some(CAP + 1), Some(CAP))
                .expect_err("soft above hard")
                .contains("must not be above")
        );
        assert_eq!(
            Quota::new(Some(CAP), Some(CAP)),
            Ok(Quota {
                soft: Some(CAP),
                hard: Some(CAP)
            })
        );
        assert!(Quota::new(Some(5), None).is_ok());
    }
}
