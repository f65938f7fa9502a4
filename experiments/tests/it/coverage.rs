//! 95 % intervals against known truth, over ≥ 1000 simulated experiments per scenario.
//!
//! The acceptance band is 93–97 % (issue 17). With 1000 experiments the standard error of a
//! coverage of 95 % is √(0.95·0.05/1000) = 0.69 points, so the band is ±2.9 SE around nominal:
//! an interval with correct coverage fails it 1 time in 270, and the seeds are fixed.

use sentientiq_experiments::forensics::MAX_CLAIM_SKEWNESS;
use sentientiq_experiments::sim::{
    BanditExperimentResult, BanditExperimentSpec, Coverage, Visitor, bandit_experiments,
    fixed_coverage, uplift_skewness,
};

const EXPERIMENTS: u32 = 1000;

fn in_band(c: &Coverage, what: &str) {
    assert_eq!(c.experiments, EXPERIMENTS, "{what}");
    let r = c.rate();
    assert!(
        (0.93..=0.97).contains(&r),
        "{what}: coverage {r:.3} ({} below, {} above)",
        c.truth_below,
        c.truth_above
    );
}

#[test]
fn newcombe_and_welch_cover_the_true_uplift_with_fixed_allocation() {
    // Revenue: 5 % or 8 % buy, baskets log-normal with a $50 median and log-sd 1.
    for (name, variant) in [
        ("A/A", Visitor::buyer(0.05)),
        ("+3 points", Visitor::buyer(0.08)),
    ] {
        let (conv, rev, _) =
            fixed_coverage(variant, Visitor::buyer(0.05), 5000, 5000, EXPERIMENTS, 99);
        in_band(&conv, &format!("{name}: conversion uplift (Newcombe)"));
        in_band(&rev, &format!("{name}: revenue uplift (Welch)"));
    }
    // Small groups and a rare outcome: where Wald intervals fail, the score intervals hold.
    let (conv, _, _) = fixed_coverage(
        Visitor::buyer(0.03),
        Visitor::buyer(0.01),
        300,
        300,
        EXPERIMENTS,
        98,
    );
    in_band(
        &conv,
        "1 % vs 3 %, 300 per group: conversion uplift (Newcombe)",
    );
}

#[test]
fn welch_coverage_holds_up_to_the_skewness_gate() {
    // A 10 % holdout (treated = 9 × holdout): the holdout's skewed mean dominates. At the gate
    // (true skewness of the uplift estimate ≈ MAX_CLAIM_SKEWNESS) coverage is in the band; at
    // four times the skewness it is not, which is why revenue is not claimed there.
    let (v, h) = (Visitor::buyer(0.08), Visitor::buyer(0.05));
    let at_gate = 4000;
    let skew = uplift_skewness(&v, &h, 9 * at_gate, at_gate);
    assert!((skew.abs() - MAX_CLAIM_SKEWNESS).abs() < 0.01, "{skew}");
    let (_, rev, corrected) = fixed_coverage(v, h, 9 * at_gate, at_gate, EXPERIMENTS, 7);
    in_band(&rev, "revenue uplift at the skewness gate");
    in_band(&corrected, "corrected revenue uplift at the skewness gate");
    // Claims use the corrected interval: it overstates less often than Welch's (the nominal
    // one-sided rate is 2.5 %, sd 0.5 points).
    assert!(
        corrected.truth_below < rev.truth_below,
        "{corrected:?} vs {rev:?}"
    );
    assert!(corrected.truth_below <= 35, "{corrected:?}");

    let far = 250;
    let skew = uplift_skewness(&v, &h, 9 * far, far);
    assert!(skew.abs() > 3.5 * MAX_CLAIM_SKEWNESS, "{skew}");
    let (_, rev, _) = fixed_coverage(v, h, 9 * far, far, EXPERIMENTS, 7);
    assert!(
        rev.rate() < 0.93,
        "coverage {} at skewness {skew}",
        rev.rate()
    );
    // The misses are one-sided: the truth is below the interval (overstated revenue).
    assert!(rev.truth_below > 5 * rev.truth_above.max(1), "{rev:?}");
}

/// Whole experiments: Thompson sampling over three variants with a 10 % holdout, every session
/// through assign → Exposure → forensics, 10⁴ sessions each. The pooled (treated − holdout)
/// uplift's truth is the mean true rate of the arms the treated sessions actually got, minus the
/// holdout's. Baskets here are log-normal with log-sd 0.5 (the skewness of revenue is the
/// subject of the test above; this one is about adaptivity).
fn through_the_bandit(variants: Vec<f64>, name: &str) -> BanditExperimentResult {
    let basket = |p| Visitor {
        log_sd: 0.5,
        ..Visitor::buyer(p)
    };
    let r = bandit_experiments(&BanditExperimentSpec {
        variants: variants.into_iter().map(basket).collect(),
        holdout: basket(0.05),
        holdout_share: 0.10,
        sessions: 10_000,
        experiments: EXPERIMENTS,
        seed: 5,
    })
    .expect("valid spec");
    in_band(
        &r.pooled_conversion,
        &format!("{name}: pooled conversion uplift"),
    );
    in_band(&r.pooled_revenue, &format!("{name}: pooled revenue uplift"));
    in_band(
        &r.pooled_revenue_corrected,
        &format!("{name}: pooled revenue uplift, corrected"),
    );
    // The holdout share holds: 10⁷ sessions at 10 %, sd 9.5·10⁻⁵.
    assert!(
        (r.holdout_share - 0.10).abs() < 5.0 * 9.5e-5,
        "{}",
        r.holdout_share
    );
    // SRM alerts at its false-alarm rate (0.1 %: 1 expected; Poisson(1) > 5 is 6·10⁻⁴).
    assert_eq!(r.srm_checked, EXPERIMENTS);
    assert!(r.srm_alerts <= 5, "{name}: {} SRM alerts", r.srm_alerts);
    r
}

#[test]
fn through_the_bandit_an_aa_experiment_covers_and_false_claims_stay_rare() {
    let r = through_the_bandit(vec![0.05; 3], "A/A");
    // No effect: any claim is false. A one-sided 2.5 % tail: 25 expected of 1000, sd 5;
    // assert ≤ 40 (3 sd).
    assert!(
        r.conversion_claims <= 40,
        "{} false churn claims",
        r.conversion_claims
    );
    assert!(
        r.revenue_claims <= 40,
        "{} false revenue claims",
        r.revenue_claims
    );
}

#[test]
fn through_the_bandit_a_known_effect_is_covered_and_claimed() {
    let r = through_the_bandit(vec![0.05, 0.06, 0.08], "5 / 6 / 8 % vs 5 %");
    // The bandit moves most of the 9000 treated sessions to the 8 % arm: a ≈ +2.4-point effect
    // against 1000 held-out sessions (se ≈ 0.8 points) is claimed in most experiments.
    assert!(
        r.conversion_claims >= 800,
        "{} churn claims",
        r.conversion_claims
    );
    assert!(
        r.revenue_claims >= 700,
        "{} revenue claims",
        r.revenue_claims
    );
}
