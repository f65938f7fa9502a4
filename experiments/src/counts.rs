//! Mergeable counts per arm, and the per-session bookkeeping that feeds them.
//!
//! Every field is an integer sum (revenue in cents, its square in cents²), so merging adds them
//! field by field: exact, commutative and associative. Each edge counts locally and reports;
//! the control plane merges every edge's counts and sends the totals back; an edge draws from
//! merged + its own unreported counts. Any partition of the sessions (shards, edges, regions)
//! merges to the counts of the whole, in any order.
//!
//! Semantics, per session: `sessions` counts assignments; `conversions`, `shown`, `clicked` and
//! `dismissed` count sessions with at least one such outcome inside the attribution window
//! (0 or 1 per session, so a rate is a proportion of sessions); `revenue_cents` sums the
//! purchases inside the window, and `revenue_sq` sums the squares of each session's revenue
//! total (kept exact under incremental purchases, see [`ArmCounts::add_purchase`]).

use serde::{Deserialize, Serialize};

use crate::config::{Experiment, MAX_VARIANTS};

/// Where a session went: the holdout (no intervention) or a variant, by its index in the
/// experiment's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Arm {
    Holdout,
    Variant(u8),
}

/// The counts of one arm (a variant, the holdout, or a merge of several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ArmCounts {
    /// Sessions assigned to the arm.
    pub sessions: u64,
    /// Sessions that converted within the attribution window.
    pub conversions: u64,
    /// Purchases within the window, in cents.
    pub revenue_cents: u64,
    /// Σ over sessions of (the session's revenue in cents)². A u128 holds 2¹²⁸ cents²: even
    /// sessions of $10⁷ each (10⁹ cents) need 3 × 10²⁰ of them to overflow.
    pub revenue_sq: u128,
    /// Σ over sessions of (the session's revenue in cents)³: with the two sums above it gives
    /// the skewness that decides whether a revenue interval can be trusted
    /// ([`crate::forensics::MAX_CLAIM_SKEWNESS`]). Sessions of $10⁵ (10⁷ cents) need 3 × 10¹⁷
    /// of them to overflow.
    pub revenue_cube: u128,
    /// Sessions whose intervention was shown (holdout: never; "would have shown" is
    /// `sessions`).
    pub shown: u64,
    pub clicked: u64,
    pub dismissed: u64,
}

impl ArmCounts {
    /// Adds `o` field by field (saturating: at the limits above, a merge saturates rather than
    /// wraps; below them it is exact).
    pub fn merge(&mut self, o: &ArmCounts) {
        self.sessions = self.sessions.saturating_add(o.sessions);
        self.conversions = self.conversions.saturating_add(o.conversions);
        self.revenue_cents = self.revenue_cents.saturating_add(o.revenue_cents);
        self.revenue_sq = self.revenue_sq.saturating_add(o.revenue_sq);
        self.revenue_cube = self.revenue_cube.saturating_add(o.revenue_cube);
        self.shown = self.shown.saturating_add(o.shown);
        self.clicked = self.clicked.saturating_add(o.clicked);
        self.dismissed = self.dismissed.saturating_add(o.dismissed);
    }

    /// What was added to these counts since they were `earlier` (field by field; a field
    /// below its earlier value, which sums that only grow never have, reads as 0). An edge
    /// reports these differences, so each count reaches the plane once.
    #[must_use]
    pub fn since(&self, earlier: &ArmCounts) -> ArmCounts {
        ArmCounts {
            sessions: self.sessions.saturating_sub(earlier.sessions),
            conversions: self.conversions.saturating_sub(earlier.conversions),
            revenue_cents: self.revenue_cents.saturating_sub(earlier.revenue_cents),
            revenue_sq: self.revenue_sq.saturating_sub(earlier.revenue_sq),
            revenue_cube: self.revenue_cube.saturating_sub(earlier.revenue_cube),
            shown: self.shown.saturating_sub(earlier.shown),
            clicked: self.clicked.saturating_sub(earlier.clicked),
            dismissed: self.dismissed.saturating_sub(earlier.dismissed),
        }
    }

    /// Sessions that did not convert. Conversions can exceed assignments in one edge's local
    /// counts (a session assigned elsewhere that converts here), never in complete merged
    /// counts; the difference saturates at 0.
    pub fn non_conversions(&self) -> u64 {
        self.sessions.saturating_sub(self.conversions)
    }

    /// A purchase of `amount_cents` by a session whose revenue so far (in this arm's window)
    /// was `session_total_before`. The sums of powers move by (before + amount)ᵏ − beforeᵏ, so
    /// they always equal the sums of the powers of the session totals, however the purchases
    /// are split.
    pub fn add_purchase(&mut self, session_total_before: u64, amount_cents: u64) {
        let before = u128::from(session_total_before);
        let amount = u128::from(amount_cents);
        self.revenue_cents = self.revenue_cents.saturating_add(amount_cents);
        // (b + a)² − b² = a(2b + a)
        let delta = amount.saturating_mul(before.saturating_mul(2).saturating_add(amount));
        self.revenue_sq = self.revenue_sq.saturating_add(delta);
        // (b + a)³ − b³ = a(3b² + 3ab + a²)
        let inner = before
            .saturating_mul(before)
            .saturating_mul(3)
            .saturating_add(before.saturating_mul(amount).saturating_mul(3))
            .saturating_add(amount.saturating_mul(amount));
        self.revenue_cube = self
            .revenue_cube
            .saturating_add(amount.saturating_mul(inner));
    }
}

/// The counts of one experiment: the holdout and every variant slot (unused slots stay 0).
/// Fixed-size, `Copy`, no heap: merging or summing views costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExperimentCounts {
    pub holdout: ArmCounts,
    pub variants: [ArmCounts; MAX_VARIANTS],
}

impl ExperimentCounts {
    pub fn merge(&mut self, o: &ExperimentCounts) {
        self.holdout.merge(&o.holdout);
        for (a, b) in self.variants.iter_mut().zip(&o.variants) {
            a.merge(b);
        }
    }

    /// `self` merged with `o`, by value (e.g. the plane's merged totals + this edge's unreported
    /// counts, the view an edge draws from).
    #[must_use]
    pub fn merged(mut self, o: &ExperimentCounts) -> ExperimentCounts {
        self.merge(o);
        self
    }

    /// What was added since `earlier`, arm by arm ([`ArmCounts::since`]).
    #[must_use]
    pub fn since(&self, earlier: &ExperimentCounts) -> ExperimentCounts {
        let mut d = ExperimentCounts {
            holdout: self.holdout.since(&earlier.holdout),
            ..ExperimentCounts::default()
        };
        for ((d, a), b) in d
            .variants
            .iter_mut()
            .zip(&self.variants)
            .zip(&earlier.variants)
        {
            *d = a.since(b);
        }
        d
    }

    /// Whether every count is 0.
    pub fn is_empty(&self) -> bool {
        *self == ExperimentCounts::default()
    }

    /// The counts of `arm`; a variant index past [`MAX_VARIANTS`] reads as zero counts.
    pub fn arm(&self, arm: Arm) -> ArmCounts {
        match arm {
            Arm::Holdout => self.holdout,
            Arm::Variant(i) => self
                .variants
                .get(usize::from(i))
                .copied()
                .unwrap_or_default(),
        }
    }

    /// The counts of `arm` to update, `None` for a variant index past [`MAX_VARIANTS`].
    pub fn arm_mut(&mut self, arm: Arm) -> Option<&mut ArmCounts> {
        match arm {
            Arm::Holdout => Some(&mut self.holdout),
            Arm::Variant(i) => self.variants.get_mut(usize::from(i)),
        }
    }

    /// Every variant merged: the sessions that received an intervention.
    pub fn treated(&self) -> ArmCounts {
        let mut t = ArmCounts::default();
        for v in &self.variants {
            t.merge(v);
        }
        t
    }
}

/// An outcome reported for a session in an experiment (from `out` and `tr` frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Shown,
    Clicked,
    Dismissed,
    /// The tenant's conversion goal was reached.
    Converted,
    /// A purchase (`tr purchase`); it also counts as a conversion.
    Purchase {
        amount_cents: u64,
    },
}

/// What [`Exposure::record`] did with an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Added to the counts.
    Counted,
    /// This session already had this outcome; counts are per session (a purchase is never a
    /// repeat: its amount adds up).
    Repeat,
    /// Before the assignment or after the attribution window: not the intervention's doing.
    OutsideWindow,
    /// `shown`, `clicked` or `dismissed` for a held-out session (nothing was shown).
    NotApplicable,
}

const SHOWN: u8 = 1;
const CLICKED: u8 = 2;
const DISMISSED: u8 = 4;
const CONVERTED: u8 = 8;

/// One session's membership in an experiment: which arm, since when, and which outcomes it has
/// already counted. Created once per session (the assignment is sticky: the caller keeps this
/// for the visit and never assigns the session again). 24 bytes, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    pub arm: Arm,
    pub assigned_at_ms: u64,
    flags: u8,
    revenue_cents: u64,
}

impl Exposure {
    /// Starts the exposure and counts the assignment in `counts`.
    pub fn start(arm: Arm, assigned_at_ms: u64, counts: &mut ExperimentCounts) -> Exposure {
        if let Some(c) = counts.arm_mut(arm) {
            c.sessions = c.sessions.saturating_add(1);
        }
        Exposure {
            arm,
            assigned_at_ms,
            flags: 0,
            revenue_cents: 0,
        }
    }

    /// Revenue counted for this session so far.
    pub fn revenue_cents(&self) -> u64 {
        self.revenue_cents
    }

    pub fn converted(&self) -> bool {
        self.flags & CONVERTED != 0
    }

    /// Whether an outcome at `now_ms` is attributed: assigned_at ≤ now ≤ assigned_at + window
    /// (both ends included).
    pub fn in_window(&self, exp: &Experiment, now_ms: u64) -> bool {
        now_ms >= self.assigned_at_ms && now_ms - self.assigned_at_ms <= exp.attribution_window_ms()
    }

    /// Counts `outcome` at `now_ms` into `counts`, once per session per kind.
    pub fn record(
        &mut self,
        exp: &Experiment,
        now_ms: u64,
        outcome: Outcome,
        counts: &mut ExperimentCounts,
    ) -> Recorded {
        if !self.in_window(exp, now_ms) {
            return Recorded::OutsideWindow;
        }
        let flag = match outcome {
            Outcome::Shown => SHOWN,
            Outcome::Clicked => CLICKED,
            Outcome::Dismissed => DISMISSED,
            Outcome::Converted | Outcome::Purchase { .. } => CONVERTED,
        };
        if flag & (SHOWN | CLICKED | DISMISSED) != 0 && self.arm == Arm::Holdout {
            return Recorded::NotApplicable;
        }
        let Some(c) = counts.arm_mut(self.arm) else {
            return Recorded::NotApplicable;
        };
        let first = self.flags & flag == 0;
        self.flags |= flag;
        if first {
            let field = match flag {
                SHOWN => &mut c.shown,
                CLICKED => &mut c.clicked,
                DISMISSED => &mut c.dismissed,
                _ => &mut c.conversions,
            };
            *field = field.saturating_add(1);
        }
        match outcome {
            Outcome::Purchase { amount_cents } => {
                c.add_purchase(self.revenue_cents, amount_cents);
                self.revenue_cents = self.revenue_cents.saturating_add(amount_cents);
                Recorded::Counted
            }
            _ if first => Recorded::Counted,
            _ => Recorded::Repeat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;

    fn exp() -> Experiment {
        ExperimentConfig::new("r", &["a", "b"])
            .validate()
            .expect("valid")
    }

    #[test]
    fn purchases_keep_the_sum_of_squares_of_session_totals() {
        let mut c = ArmCounts::default();
        // Session 1 buys 300 then 200 (total 500); session 2 buys 1000 once.
        c.add_purchase(0, 300);
        c.add_purchase(300, 200);
        c.add_purchase(0, 1000);
        assert_eq!(c.revenue_cents, 1500);
        assert_eq!(c.revenue_sq, 500 * 500 + 1000 * 1000);
        assert_eq!(c.revenue_cube, 500 * 500 * 500 + 1000 * 1000 * 1000);
    }

    #[test]
    fn exposure_counts_once_per_session_within_the_window() {
        let e = exp();
        let w = e.attribution_window_ms();
        let mut counts = ExperimentCounts::default();
        let mut x = Exposure::start(Arm::Variant(1), 1000, &mut counts);
        assert_eq!(counts.variants[1].sessions, 1);
        assert_eq!(
            x.record(&e, 999, Outcome::Shown, &mut counts),
            Recorded::OutsideWindow
        );
        assert_eq!(
            x.record(&e, 1000, Outcome::Shown, &mut counts),
            Recorded::Counted
        );
        assert_eq!(
            x.record(&e, 1001, Outcome::Shown, &mut counts),
            Recorded::Repeat
        );
        assert_eq!(
            x.record(&e, 1000 + w - 1, Outcome::Converted, &mut counts),
            Recorded::Counted
        );
        assert_eq!(
            x.record(
                &e,
                1000 + w,
                Outcome::Purchase { amount_cents: 250 },
                &mut counts
            ),
            Recorded::Counted
        );
        assert_eq!(
            x.record(
                &e,
                1000 + w + 1,
                Outcome::Purchase { amount_cents: 99 },
                &mut counts
            ),
            Recorded::OutsideWindow
        );
        let c = counts.variants[1];
        assert_eq!((c.sessions, c.shown, c.conversions), (1, 1, 1));
        assert_eq!((c.revenue_cents, c.revenue_sq), (250, 250 * 250));
        assert_eq!(c.revenue_cube, 250 * 250 * 250);
        assert_eq!(x.revenue_cents(), 250);
        assert!(x.converted());
    }

    #[test]
    fn holdout_sessions_convert_but_are_never_shown() {
        let e = exp();
        let mut counts = ExperimentCounts::default();
        let mut x = Exposure::start(Arm::Holdout, 0, &mut counts);
        assert_eq!(
            x.record(&e, 5, Outcome::Shown, &mut counts),
            Recorded::NotApplicable
        );
        assert_eq!(
            x.record(&e, 5, Outcome::Purchase { amount_cents: 10 }, &mut counts),
            Recorded::Counted
        );
        assert_eq!(
            x.record(&e, 6, Outcome::Converted, &mut counts),
            Recorded::Repeat
        );
        assert_eq!(counts.holdout.sessions, 1);
        assert_eq!(counts.holdout.conversions, 1);
        assert_eq!(counts.holdout.shown, 0);
        assert_eq!(counts.treated(), ArmCounts::default());
    }

    #[test]
    fn out_of_range_variant_reads_zero_and_counts_nothing() {
        let mut counts = ExperimentCounts::default();
        let bad = Arm::Variant(MAX_VARIANTS as u8);
        Exposure::start(bad, 0, &mut counts);
        assert_eq!(counts, ExperimentCounts::default());
        assert_eq!(counts.arm(bad), ArmCounts::default());
        let last = Arm::Variant(MAX_VARIANTS as u8 - 1);
        Exposure::start(last, 0, &mut counts);
        assert_eq!(counts.arm(last).sessions, 1);
    }
}
