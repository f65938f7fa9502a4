//! The assignment decision for one qualifying session: holdout, or a variant by Thompson
//! sampling, with the posterior it was drawn from and the generator state before the draw.
//!
//! # The scheme, exactly
//!
//! With `k` active (unpaused) variants, counts `nᵢ` sessions and `cᵢ` conversions per variant:
//!
//! 1. **Holdout.** One 64-bit draw `u`; if `u < ⌊h · 2⁶⁴⌋` the session is held out (so
//!    P(holdout) = h exactly, for the configured binary `h`). Nothing else is drawn. This
//!    happens first and does not depend on the counts, so the holdout is a fixed-probability
//!    randomization whatever the bandit does (that is what makes it a valid control).
//! 2. **Single arm.** If `k = 1`, that variant; nothing is drawn.
//! 3. **Burn-in.** If some active variants have `nᵢ < burn_in`, one of *those* uniformly
//!    (`Rng::below`, unbiased).
//! 4. **Floor.** One 64-bit draw `v`; if `v < k · ⌊f · 2⁶⁴⌋` (probability k·f), an active
//!    variant uniformly.
//! 5. **Thompson.** Otherwise θᵢ ~ Beta(1 + cᵢ, 1 + nᵢ − cᵢ) for each active variant, in index
//!    order, and the largest θ wins (ties, of probability 0, go to the lower index). Thompson,
//!    "On the likelihood that one unknown probability exceeds another", Biometrika 25, 1933;
//!    Beta(1, 1) prior and regret bound: Agrawal & Goyal, COLT 2012; Kaufmann, Korda & Munos,
//!    ALT 2012 (asymptotically optimal).
//!
//! After burn-in, variant i is therefore chosen with probability f + (1 − k·f) · P(i is best
//! under the posterior) ≥ f.
//!
//! # Cost on the hot path
//!
//! No heap allocation at all (the [`Assignment`] is a fixed-size value; `tests/alloc.rs`
//! measures 0 allocations per call). Work: one 64-bit draw for the holdout, and after burn-in
//! 2k gamma variates (≈ 2.1 normal + 1 uniform each, Marsaglia & Tsang's acceptance ≥ 95 %).

use serde::{Deserialize, Serialize};

use crate::config::{Experiment, MAX_VARIANTS};
use crate::counts::{Arm, ExperimentCounts};
use crate::rng::{Rng, RngState};
use crate::sample;

/// Why the arm was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    Holdout,
    /// The only active variant.
    Single,
    BurnIn,
    Floor,
    Thompson,
}

/// The counts a variant's posterior was built from: Beta(1 + conversions, 1 + sessions −
/// conversions), the conjugate update of the uniform Beta(1, 1) prior on Bernoulli outcomes
/// (Gelman et al., *Bayesian Data Analysis*, 3rd ed., §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Posterior {
    pub sessions: u64,
    pub conversions: u64,
}

impl Posterior {
    pub fn alpha(&self) -> f64 {
        1.0 + self.conversions as f64
    }
    pub fn beta(&self) -> f64 {
        1.0 + self.sessions.saturating_sub(self.conversions) as f64
    }
}

/// A decision, with everything needed to replay it: the generator state before it, and the
/// posterior of every variant at the time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub arm: Arm,
    pub reason: Reason,
    /// The generator state before the first draw of this decision.
    pub rng_before: RngState,
    /// Number of variants in the experiment (the valid prefix of the arrays below).
    pub n_variants: u8,
    /// Which variants were paused (and so could not be chosen), bit i for variant i.
    pub paused_mask: u8,
    /// The counts behind each variant's posterior at decision time.
    pub posteriors: [Posterior; MAX_VARIANTS],
    /// The Thompson draws θᵢ, for `Reason::Thompson` only (`None` for paused variants and for
    /// every other reason).
    pub draws: [Option<f64>; MAX_VARIANTS],
}

/// Why no assignment could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// Every variant is paused: the experiment is stopped, the session is not enrolled (and is
    /// not counted in the holdout either, which would break its share).
    #[error("every variant is paused")]
    AllPaused,
    /// A replayed assignment was recorded for a different experiment shape.
    #[error("the recorded assignment does not match the experiment's variants")]
    Mismatch,
}

/// Decides the arm of one qualifying session. `counts` is the view to draw from (the plane's
/// merged counts + this edge's unreported ones). Deterministic given `rng`'s state: the same
/// state, experiment and counts give the same [`Assignment`]. The caller keeps the result for
/// the session (sticky) and counts it with [`crate::Exposure::start`].
pub fn assign(
    exp: &Experiment,
    counts: &ExperimentCounts,
    rng: &mut Rng,
) -> Result<Assignment, AssignError> {
    let n = exp.n_variants();
    let mut paused_mask = 0u8;
    let mut posteriors = [Posterior::default(); MAX_VARIANTS];
    for (i, v) in exp.variants().iter().enumerate() {
        if v.paused {
            paused_mask |= 1 << i;
        }
        let c = &counts.variants[i];
        posteriors[i] = Posterior {
            sessions: c.sessions,
            conversions: c.conversions,
        };
    }
    decide(exp, n, paused_mask, posteriors, rng)
}

impl Assignment {
    /// Re-runs the decision from the recorded state and posteriors (e.g. from the lake) and
    /// returns what it gives; equal to `self` when the record is genuine.
    pub fn replay(&self, exp: &Experiment) -> Result<Assignment, AssignError> {
        let n = exp.n_variants();
        if usize::from(self.n_variants) != n {
            return Err(AssignError::Mismatch);
        }
        let mut rng = Rng::from_state(self.rng_before).map_err(|_| AssignError::Mismatch)?;
        decide(exp, n, self.paused_mask, self.posteriors, &mut rng)
    }
}

fn decide(
    exp: &Experiment,
    n: usize,
    paused_mask: u8,
    posteriors: [Posterior; MAX_VARIANTS],
    rng: &mut Rng,
) -> Result<Assignment, AssignError> {
    let active = |i: usize| paused_mask & (1 << i) == 0;
    let k = (0..n).filter(|&i| active(i)).count();
    if k == 0 {
        return Err(AssignError::AllPaused);
    }
    let mut out = Assignment {
        arm: Arm::Holdout,
        reason: Reason::Holdout,
        rng_before: rng.state(),
        n_variants: n as u8,
        paused_mask,
        posteriors,
        draws: [None; MAX_VARIANTS],
    };
    if rng.next_u64() < exp.holdout_threshold() {
        return Ok(out);
    }
    // The j-th active variant (0-based), as a variant index.
    let nth_active = |j: u64| (0..n).filter(|&i| active(i)).nth(j as usize).unwrap_or(0);
    let (index, reason) = if k == 1 {
        (nth_active(0), Reason::Single)
    } else {
        let burn_in = exp.burn_in();
        let under = |i: usize| active(i) && posteriors[i].sessions < burn_in;
        let n_under = (0..n).filter(|&i| under(i)).count();
        if n_under > 0 {
            let j = rng.below(n_under as u64) as usize;
            let i = (0..n).filter(|&i| under(i)).nth(j).unwrap_or(0);
            (i, Reason::BurnIn)
        } else if u128::from(rng.next_u64()) < exp.floor_threshold() * k as u128 {
            (nth_active(rng.below(k as u64)), Reason::Floor)
        } else {
            let mut best = (0, f64::NEG_INFINITY);
            for i in (0..n).filter(|&i| active(i)) {
                let p = &posteriors[i];
                let theta = sample::beta(rng, p.alpha(), p.beta());
                out.draws[i] = Some(theta);
                if theta > best.1 {
                    best = (i, theta);
                }
            }
            (best.0, Reason::Thompson)
        }
    };
    out.arm = Arm::Variant(index as u8);
    out.reason = reason;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;

    fn exp(edit: impl FnOnce(&mut ExperimentConfig)) -> Experiment {
        let mut c = ExperimentConfig::new("r", &["a", "b", "c"]);
        edit(&mut c);
        c.validate().expect("valid")
    }

    fn counts(per_arm: &[(u64, u64)]) -> ExperimentCounts {
        let mut c = ExperimentCounts::default();
        for (i, &(n, conv)) in per_arm.iter().enumerate() {
            c.variants[i].sessions = n;
            c.variants[i].conversions = conv;
        }
        c
    }

    #[test]
    fn paused_variants_are_never_chosen() {
        let e = exp(|c| {
            c.variants[1].paused = true;
            c.holdout_share = 0.0;
            c.floor_weight = 0.3;
        });
        // Variant 1 looks best by far; it is paused.
        let cs = counts(&[(1000, 10), (1000, 900), (1000, 20)]);
        let mut rng = Rng::seed_from_u64(1);
        for _ in 0..5000 {
            let a = assign(&e, &cs, &mut rng).expect("assigned");
            assert_ne!(a.arm, Arm::Variant(1));
            assert_eq!(a.draws[1], None);
        }
        let all = exp(|c| c.variants.iter_mut().for_each(|v| v.paused = true));
        assert_eq!(assign(&all, &cs, &mut rng), Err(AssignError::AllPaused));
    }

    #[test]
    fn burn_in_is_uniform_over_arms_below_the_minimum_at_cap_minus_1_cap_cap_plus_1() {
        let e = exp(|c| {
            c.holdout_share = 0.0;
            c.burn_in_min_samples = 100;
        });
        let mut rng = Rng::seed_from_u64(2);
        // Arm 0 at burn_in − 1 is still in burn-in; arms at burn_in and burn_in + 1 are out.
        let cs = counts(&[(99, 0), (100, 90), (101, 95)]);
        for _ in 0..1000 {
            let a = assign(&e, &cs, &mut rng).expect("assigned");
            assert_eq!((a.arm, a.reason), (Arm::Variant(0), Reason::BurnIn));
        }
        // Two arms below: both, about equally (Binomial(4000, ½): sd 31.6, 5 sd = 158).
        let cs = counts(&[(99, 0), (0, 0), (100, 95)]);
        let mut hits = [0u32; 3];
        for _ in 0..4000 {
            let a = assign(&e, &cs, &mut rng).expect("assigned");
            assert_eq!(a.reason, Reason::BurnIn);
            if let Arm::Variant(i) = a.arm {
                hits[usize::from(i)] += 1;
            }
        }
        assert_eq!(hits[2], 0);
        assert!((i64::from(hits[0]) - 2000).abs() < 158, "{hits:?}");
        // All at the minimum: burn-in is over.
        let cs = counts(&[(100, 0), (100, 0), (100, 0)]);
        let a = assign(&e, &cs, &mut rng).expect("assigned");
        assert_ne!(a.reason, Reason::BurnIn);
    }

    #[test]
    fn floor_gives_every_arm_at_least_its_weight() {
        // Arm 2 is hopeless under the posterior (P(best) ≈ 0): only the floor reaches it.
        let e = exp(|c| {
            c.holdout_share = 0.0;
            c.floor_weight = 0.05;
        });
        let cs = counts(&[(10_000, 900), (10_000, 1000), (10_000, 10)]);
        let mut rng = Rng::seed_from_u64(3);
        let n = 40_000;
        let mut hits = [0u32; 3];
        let mut floor = 0u32;
        for _ in 0..n {
            let a = assign(&e, &cs, &mut rng).expect("assigned");
            if a.reason == Reason::Floor {
                floor += 1;
            }
            if let Arm::Variant(i) = a.arm {
                hits[usize::from(i)] += 1;
            }
        }
        // P(floor) = 3 × 0.05 = 0.15: sd √(n·0.15·0.85) = 71; arm 2 gets 0.05·n = 2000, sd 44.
        assert!(
            (f64::from(floor) - 0.15 * f64::from(n)).abs() < 5.0 * 71.4,
            "{floor}"
        );
        assert!((f64::from(hits[2]) - 2000.0).abs() < 5.0 * 43.6, "{hits:?}");
    }

    #[test]
    fn single_active_arm_draws_nothing_after_the_holdout() {
        let e = exp(|c| {
            c.variants[0].paused = true;
            c.variants[2].paused = true;
            c.holdout_share = 0.0;
        });
        let mut rng = Rng::seed_from_u64(4);
        let before = rng.clone();
        let a = assign(&e, &ExperimentCounts::default(), &mut rng).expect("assigned");
        assert_eq!((a.arm, a.reason), (Arm::Variant(1), Reason::Single));
        let mut one = before;
        one.next_u64();
        assert_eq!(rng, one, "exactly one draw: the holdout's");
    }

    #[test]
    fn every_decision_replays_exactly() {
        let e = exp(|c| c.burn_in_min_samples = 5);
        let mut rng = Rng::seed_from_u64(5);
        let mut cs = ExperimentCounts::default();
        let mut reasons = std::collections::BTreeSet::new();
        for t in 0..3000u64 {
            let a = assign(&e, &cs, &mut rng).expect("assigned");
            assert_eq!(a.replay(&e), Ok(a));
            reasons.insert(format!("{:?}", a.reason));
            if let Some(c) = cs.arm_mut(a.arm) {
                c.sessions += 1;
                c.conversions += u64::from(t % 7 == 0);
            }
        }
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        let other = exp(|c| c.variants.truncate(2));
        let a = assign(&e, &cs, &mut rng).expect("assigned");
        assert_eq!(a.replay(&other), Err(AssignError::Mismatch));
    }
}
