//! Seeded simulations with known truth, shared by the tests (which assert on them) and
//! `examples/report.rs` (which prints the figures). Every session goes through the same code
//! the edge runs: [`assign`], [`Exposure`], [`forensics`].
//!
//! Two generators per replication: one for allocation (the bandit's, as on the edge) and one
//! for the simulated visitors' behaviour, so the environment never shares draws with the
//! decision it is testing.

use crate::assign::{AssignError, assign};
use crate::config::{ConfigError, ExperimentConfig};
use crate::counts::{Arm, ExperimentCounts, Exposure, Outcome};
use crate::forensics::forensics;
use crate::rng::{Rng, splitmix64};
use crate::sample::standard_normal;
use crate::stats::{Estimate, Moments, Srm, newcombe, welch, welch_skew_corrected};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Assign(#[from] AssignError),
    #[error("{0}")]
    Spec(&'static str),
}

/// An independent seed for (seed, replication, stream).
fn sub_seed(seed: u64, rep: u64, stream: u64) -> u64 {
    let mut s = seed ^ rep.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ stream.rotate_left(32);
    splitmix64(&mut s)
}

/// How a simulated visitor of one arm behaves: converts (buys) with probability `p`, spending
/// round(exp(N(log_mean, log_sd²))) cents (at least 1). With `log_sd = 0` and `log_mean = 0`
/// every purchase is 1 cent, i.e. a pure conversion model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Visitor {
    pub p: f64,
    pub log_mean: f64,
    pub log_sd: f64,
}

impl Visitor {
    /// A visitor with a typical basket: log-normal with median $50 and log-sd 1.
    pub fn buyer(p: f64) -> Visitor {
        Visitor {
            p,
            log_mean: 5000f64.ln(),
            log_sd: 1.0,
        }
    }

    /// Expected revenue per session in cents, p·exp(μ + σ²/2) (the rounding to cents moves it
    /// by far less than 10⁻³ cent at these amounts).
    pub fn mean_revenue(&self) -> f64 {
        self.p * (self.log_mean + 0.5 * self.log_sd * self.log_sd).exp()
    }

    /// Mean, variance and third cumulant of revenue per session, from the raw moments
    /// E(Xᵏ) = p·exp(kμ + k²σ²/2) of the zero-inflated log-normal.
    pub fn revenue_cumulants(&self) -> (f64, f64, f64) {
        let raw =
            |k: f64| self.p * (k * self.log_mean + 0.5 * k * k * self.log_sd * self.log_sd).exp();
        let (m1, m2, m3) = (raw(1.0), raw(2.0), raw(3.0));
        (m1, m2 - m1 * m1, m3 - 3.0 * m1 * m2 + 2.0 * m1 * m1 * m1)
    }

    /// One session: `None` (no conversion) or the purchase amount.
    pub fn visit(&self, rng: &mut Rng) -> Option<u64> {
        if rng.uniform() >= self.p {
            return None;
        }
        let x = (self.log_mean + self.log_sd * standard_normal(rng)).exp();
        Some((x.round() as u64).max(1))
    }
}

/// A bandit run with known Bernoulli arms and no holdout.
#[derive(Debug, Clone, PartialEq)]
pub struct RegretSpec {
    pub arms: Vec<f64>,
    pub horizon: u64,
    /// Rounds at which the cumulative regret is recorded (ascending, ≤ horizon).
    pub checkpoints: Vec<u64>,
    pub replications: u32,
    pub seed: u64,
    pub burn_in: u64,
    pub floor_weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegretResult {
    pub checkpoints: Vec<u64>,
    /// Mean over replications of the cumulative pseudo-regret Σₜ (μ* − μ_{aₜ}) (in expected
    /// conversions lost against always showing the best variant).
    pub mean: Vec<f64>,
    /// Standard error of that mean.
    pub se: Vec<f64>,
    /// The same for uniform allocation, exactly: t · (μ* − mean μ).
    pub uniform: Vec<f64>,
    /// Share of the last 10 % of rounds that went to the best arm: mean and minimum over
    /// replications.
    pub late_best_share: f64,
    pub late_best_share_min: f64,
    /// Mean pulls per arm over the whole horizon.
    pub pulls: Vec<f64>,
}

/// Runs Thompson sampling ([`assign`]) on Bernoulli arms, outcomes fed back immediately.
pub fn regret(spec: &RegretSpec) -> Result<RegretResult, SimError> {
    let k = spec.arms.len();
    let ids: Vec<String> = (0..k).map(|i| format!("v{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut cfg = ExperimentConfig::new("sim", &refs);
    cfg.holdout_share = 0.0;
    cfg.burn_in_min_samples = spec.burn_in;
    cfg.floor_weight = spec.floor_weight;
    let exp = cfg.validate()?;
    if spec.replications == 0
        || spec.checkpoints.windows(2).any(|w| w[0] >= w[1])
        || spec.checkpoints.last().is_some_and(|&c| c > spec.horizon)
    {
        return Err(SimError::Spec(
            "replications must be positive; checkpoints ascending and within the horizon",
        ));
    }
    let best = spec.arms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let best_idx: Vec<bool> = spec.arms.iter().map(|&m| m == best).collect();
    let mean_mu = spec.arms.iter().sum::<f64>() / k as f64;
    let late_from = spec.horizon - spec.horizon / 10;

    let m = spec.checkpoints.len();
    let (mut sum, mut sum_sq) = (vec![0.0; m], vec![0.0; m]);
    let mut pulls = vec![0.0; k];
    let (mut late_sum, mut late_min) = (0.0, f64::INFINITY);
    for rep in 0..u64::from(spec.replications) {
        let mut alloc = Rng::seed_from_u64(sub_seed(spec.seed, rep, 0));
        let mut env = Rng::seed_from_u64(sub_seed(spec.seed, rep, 1));
        let mut counts = ExperimentCounts::default();
        let (mut regret, mut late_best, mut cp) = (0.0, 0u64, 0);
        for t in 1..=spec.horizon {
            let a = assign(&exp, &counts, &mut alloc)?;
            let Arm::Variant(i) = a.arm else {
                return Err(SimError::Spec("holdout with share 0"));
            };
            let i = usize::from(i);
            let c = &mut counts.variants[i];
            c.sessions += 1;
            if env.uniform() < spec.arms[i] {
                c.conversions += 1;
            }
            regret += best - spec.arms[i];
            if t > late_from && best_idx[i] {
                late_best += 1;
            }
            if cp < m && t == spec.checkpoints[cp] {
                sum[cp] += regret;
                sum_sq[cp] += regret * regret;
                cp += 1;
            }
        }
        for (p, c) in pulls.iter_mut().zip(&counts.variants) {
            *p += c.sessions as f64;
        }
        let share = late_best as f64 / (spec.horizon - late_from).max(1) as f64;
        late_sum += share;
        late_min = late_min.min(share);
    }
    let r = f64::from(spec.replications);
    let mean: Vec<f64> = sum.iter().map(|s| s / r).collect();
    let se = sum_sq
        .iter()
        .zip(&mean)
        .map(|(q, mu)| {
            if r > 1.0 {
                ((q - r * mu * mu).max(0.0) / (r - 1.0) / r).sqrt()
            } else {
                f64::NAN
            }
        })
        .collect();
    Ok(RegretResult {
        checkpoints: spec.checkpoints.clone(),
        mean,
        se,
        uniform: spec
            .checkpoints
            .iter()
            .map(|&t| t as f64 * (best - mean_mu))
            .collect(),
        late_best_share: late_sum / r,
        late_best_share_min: late_min,
        pulls: pulls.iter().map(|p| p / r).collect(),
    })
}

/// The true skewness of the revenue-uplift estimator x̄ᵥ − x̄ₕ with `n_variant` and
/// `n_holdout` sessions: (κ₃ᵥ/nᵥ² − κ₃ₕ/nₕ²) / (σ²ᵥ/nᵥ + σ²ₕ/nₕ)^{3/2}.
pub fn uplift_skewness(
    variant: &Visitor,
    holdout: &Visitor,
    n_variant: u64,
    n_holdout: u64,
) -> f64 {
    let (_, vv, kv) = variant.revenue_cumulants();
    let (_, vh, kh) = holdout.revenue_cumulants();
    let (nv, nh) = (n_variant as f64, n_holdout as f64);
    (kv / (nv * nv) - kh / (nh * nh)) / (vv / nv + vh / nh).powf(1.5)
}

/// How often intervals covered the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    pub experiments: u32,
    pub covered: u32,
    /// The truth was below the interval.
    pub truth_below: u32,
    /// The truth was above the interval.
    pub truth_above: u32,
}

impl Coverage {
    pub fn add(&mut self, interval: Option<Estimate>, truth: f64) {
        self.experiments += 1;
        match interval {
            Some(e) if e.covers(truth) => self.covered += 1,
            Some(e) if truth < e.lo => self.truth_below += 1,
            _ => self.truth_above += 1,
        }
    }

    pub fn rate(&self) -> f64 {
        f64::from(self.covered) / f64::from(self.experiments.max(1))
    }
}

/// A fixed-allocation experiment (no bandit): `n_variant` sessions of `variant` and
/// `n_holdout` of `holdout`, repeated `experiments` times. Returns the coverage of the true
/// conversion uplift by Newcombe's interval and of the true revenue uplift by Welch's, and
/// by Welch's corrected for skewness ([`crate::stats::welch_skew_corrected`]).
pub fn fixed_coverage(
    variant: Visitor,
    holdout: Visitor,
    n_variant: u64,
    n_holdout: u64,
    experiments: u32,
    seed: u64,
) -> (Coverage, Coverage, Coverage) {
    let true_conv = variant.p - holdout.p;
    let true_rev = variant.mean_revenue() - holdout.mean_revenue();
    let (mut conv, mut rev, mut hall) = (
        Coverage::default(),
        Coverage::default(),
        Coverage::default(),
    );
    for e in 0..u64::from(experiments) {
        let mut env = Rng::seed_from_u64(sub_seed(seed, e, 2));
        let mut run = |who: &Visitor, n: u64| {
            let (mut s, mut m) = (0u64, Moments::default());
            m.n = n;
            for _ in 0..n {
                if let Some(cents) = who.visit(&mut env) {
                    s += 1;
                    m.sum += cents;
                    m.sum_sq += u128::from(cents).pow(2);
                    m.sum_cube += u128::from(cents).pow(3);
                }
            }
            (s, m)
        };
        let (sv, mv) = run(&variant, n_variant);
        let (sh, mh) = run(&holdout, n_holdout);
        conv.add(newcombe(sv, n_variant, sh, n_holdout), true_conv);
        rev.add(welch(&mv, &mh).map(|t| t.estimate), true_rev);
        hall.add(welch_skew_corrected(&mv, &mh).map(|t| t.estimate), true_rev);
    }
    (conv, rev, hall)
}

/// Experiments run end to end through the bandit with a holdout.
#[derive(Debug, Clone, PartialEq)]
pub struct BanditExperimentSpec {
    pub variants: Vec<Visitor>,
    pub holdout: Visitor,
    pub holdout_share: f64,
    pub sessions: u64,
    pub experiments: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BanditExperimentResult {
    /// Pooled treated − holdout conversion uplift (the headline) covering its truth: the mean
    /// of the true rates of the arms the treated sessions got, minus the holdout's rate.
    pub pooled_conversion: Coverage,
    /// The same for revenue per session (Welch).
    pub pooled_revenue: Coverage,
    /// And with Hall's skewness correction (the interval revenue claims use).
    pub pooled_revenue_corrected: Coverage,
    /// Per variant: variant − holdout conversion uplift covering μᵢ − μ₀ (adaptively
    /// collected; reported, not asserted: see [`mod@crate::forensics`]).
    pub per_variant_conversion: Vec<Coverage>,
    /// Experiments whose sample-ratio-mismatch check alerted.
    pub srm_alerts: u32,
    /// Experiments whose SRM check ran.
    pub srm_checked: u32,
    /// Held-out sessions over all sessions, pooled over experiments.
    pub holdout_share: f64,
    /// Experiments where prevented churn or attributed revenue was claimed.
    pub conversion_claims: u32,
    pub revenue_claims: u32,
}

/// Runs whole experiments: each session is assigned by [`assign`] (the bandit learns from the
/// outcomes as they come), counted through [`Exposure`], and the result read from
/// [`forensics`].
pub fn bandit_experiments(spec: &BanditExperimentSpec) -> Result<BanditExperimentResult, SimError> {
    let k = spec.variants.len();
    let ids: Vec<String> = (0..k).map(|i| format!("v{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut cfg = ExperimentConfig::new("sim", &refs);
    cfg.holdout_share = spec.holdout_share;
    let exp = cfg.validate()?;
    let mut out = BanditExperimentResult {
        per_variant_conversion: vec![Coverage::default(); k],
        ..BanditExperimentResult::default()
    };
    let (mut held, mut total) = (0u64, 0u64);
    for e in 0..u64::from(spec.experiments) {
        let mut alloc = Rng::seed_from_u64(sub_seed(spec.seed, e, 3));
        let mut env = Rng::seed_from_u64(sub_seed(spec.seed, e, 4));
        let mut counts = ExperimentCounts::default();
        let (mut sum_p, mut sum_rev) = (0.0, 0.0);
        for t in 0..spec.sessions {
            let a = assign(&exp, &counts, &mut alloc)?;
            let who = match a.arm {
                Arm::Holdout => &spec.holdout,
                Arm::Variant(i) => {
                    let v = &spec.variants[usize::from(i)];
                    sum_p += v.p;
                    sum_rev += v.mean_revenue();
                    v
                }
            };
            let mut x = Exposure::start(a.arm, t, &mut counts);
            if let Some(cents) = who.visit(&mut env) {
                x.record(
                    &exp,
                    t,
                    Outcome::Purchase {
                        amount_cents: cents,
                    },
                    &mut counts,
                );
            }
        }
        let report = forensics(&exp, &counts, 0);
        let n_t = report.treated.counts.sessions as f64;
        out.pooled_conversion
            .add(report.uplift.conversion, sum_p / n_t - spec.holdout.p);
        let true_rev = sum_rev / n_t - spec.holdout.mean_revenue();
        out.pooled_revenue.add(
            report.uplift.revenue_per_session.map(|t| t.estimate),
            true_rev,
        );
        out.pooled_revenue_corrected.add(
            report
                .uplift
                .revenue_per_session_corrected
                .map(|t| t.estimate),
            true_rev,
        );
        for (i, v) in report.variants.iter().enumerate() {
            out.per_variant_conversion[i].add(
                v.uplift_vs_holdout.conversion,
                spec.variants[i].p - spec.holdout.p,
            );
        }
        if let Srm::Checked(c) = report.srm {
            out.srm_checked += 1;
            out.srm_alerts += u32::from(c.alert);
        }
        out.conversion_claims += u32::from(report.prevented_churn.supported().is_some());
        out.revenue_claims += u32::from(report.attributed_revenue_cents.supported().is_some());
        held += report.holdout.counts.sessions;
        total += report.holdout.counts.sessions + report.treated.counts.sessions;
    }
    out.holdout_share = held as f64 / total.max(1) as f64;
    Ok(out)
}
