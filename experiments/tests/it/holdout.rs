//! The holdout share and its sample-ratio-mismatch check.

use sentientiq_experiments::stats::{SRM_ALERT_P, srm};
use sentientiq_experiments::*;

#[test]
fn the_holdout_share_holds_while_the_bandit_learns_and_passes_the_srm_check() {
    // 10⁵ sessions, three variants learning from their outcomes, default 10 % holdout.
    let e = ExperimentConfig::new("r", &["a", "b", "c"])
        .validate()
        .expect("valid");
    let rates = [0.05, 0.06, 0.08];
    let mut alloc = Rng::seed_from_u64(77);
    let mut env = Rng::seed_from_u64(78);
    let mut counts = ExperimentCounts::default();
    let n = 100_000u64;
    for t in 0..n {
        let a = assign(&e, &counts, &mut alloc).expect("assigned");
        let mut x = Exposure::start(a.arm, t, &mut counts);
        let p = match a.arm {
            Arm::Holdout => 0.05,
            Arm::Variant(i) => rates[usize::from(i)],
        };
        if env.uniform() < p {
            x.record(&e, t, Outcome::Converted, &mut counts);
        }
    }
    let held = counts.holdout.sessions;
    assert_eq!(held + counts.treated().sessions, n);
    // Binomial(10⁵, 0.1): sd 94.9 sessions; within 4 sd.
    assert!((held as f64 - 10_000.0).abs() < 4.0 * 94.9, "{held}");
    let Srm::Checked(check) = srm(held, n, e.holdout_share()) else {
        panic!("enough sessions to check");
    };
    assert!(!check.alert && check.p_value > SRM_ALERT_P, "{check:?}");
    // The report agrees.
    assert_eq!(forensics(&e, &counts, 0).srm, Srm::Checked(check));
}

#[test]
fn srm_p_values_are_uniform_under_correct_randomization() {
    // 2000 experiments of 10⁴ sessions at a 10 % holdout (one variant, so each session costs
    // one draw). Under a correct split the p-value is uniform: about 5 % of them fall below
    // 0.05 (sd 0.49 points) and 0.1 % below the alert threshold (2 expected; Poisson(2) > 8
    // has probability 2·10⁻⁴).
    let e = ExperimentConfig::new("r", &["only"])
        .validate()
        .expect("valid");
    let counts = ExperimentCounts::default();
    let (mut below_05, mut alerts) = (0u32, 0u32);
    let experiments = 2000u32;
    for x in 0..experiments {
        let mut rng = Rng::seed_from_u64(1000 + u64::from(x));
        let mut held = 0u64;
        for _ in 0..10_000 {
            if assign(&e, &counts, &mut rng).expect("assigned").arm == Arm::Holdout {
                held += 1;
            }
        }
        let Srm::Checked(c) = srm(held, 10_000, 0.1) else {
            panic!("checked");
        };
        below_05 += u32::from(c.p_value < 0.05);
        alerts += u32::from(c.alert);
    }
    let share = f64::from(below_05) / f64::from(experiments);
    assert!((share - 0.05).abs() < 3.0 * 0.0049, "{share}");
    assert!(alerts <= 8, "{alerts}");
}

#[test]
fn srm_alerts_on_a_broken_split() {
    // An edge that loses 5 % of its holdout reports: 9.5 % observed instead of 10 % over 10⁵
    // sessions is 5.3 sd off; the check alerts. Over 10⁴ sessions the same loss is 1.7 sd:
    // not detectable yet, and not flagged.
    let Srm::Checked(big) = srm(9_500, 100_000, 0.1) else {
        panic!("checked");
    };
    assert!(big.alert && big.p_value < 1e-6, "{big:?}");
    let Srm::Checked(small) = srm(950, 10_000, 0.1) else {
        panic!("checked");
    };
    assert!(!small.alert, "{small:?}");
}
