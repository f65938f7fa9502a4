//! Thompson sampling with known arms: conjugate updates, selection frequencies, regret.

use sentientiq_experiments::sim::{RegretResult, RegretSpec, regret};
use sentientiq_experiments::special::beta_ln_pdf;
use sentientiq_experiments::stats::prob_best;
use sentientiq_experiments::*;

fn experiment(k: usize, edit: impl FnOnce(&mut ExperimentConfig)) -> Experiment {
    let ids: Vec<String> = (0..k).map(|i| format!("v{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut c = ExperimentConfig::new("r", &refs);
    edit(&mut c);
    c.validate().expect("valid")
}

#[test]
fn conjugate_updates_are_exact() {
    // Sessions counted through Exposure (as on the edge) on three "edges", merged in two
    // orders: the posterior is Beta(1 + conversions, 1 + sessions − conversions) exactly, the
    // same as one edge seeing every session, and the same as updating one observation at a time.
    let e = experiment(2, |c| c.holdout_share = 0.0);
    let mut env = Rng::seed_from_u64(31);
    let mut edges = [ExperimentCounts::default(); 3];
    let mut one = ExperimentCounts::default();
    let (mut a, mut b) = (1u64, 1u64); // sequential Beta(a, b) for variant 0
    for t in 0..3000u64 {
        let arm = Arm::Variant((t % 2) as u8);
        let edge = env.below(3) as usize;
        let converts = env.uniform() < 0.07;
        for counts in [&mut edges[edge], &mut one] {
            let mut x = Exposure::start(arm, t, counts);
            if converts {
                x.record(&e, t, Outcome::Converted, counts);
            }
        }
        if arm == Arm::Variant(0) {
            if converts {
                a += 1;
            } else {
                b += 1;
            }
        }
    }
    let forward = edges[0].merged(&edges[1]).merged(&edges[2]);
    let backward = edges[2].merged(&edges[1]).merged(&edges[0]);
    assert_eq!(forward, one);
    assert_eq!(backward, one);
    let mut rng = Rng::seed_from_u64(1);
    let asg = assign(&e, &forward, &mut rng).expect("assigned");
    let p = asg.posteriors[0];
    assert_eq!((p.alpha(), p.beta()), (a as f64, b as f64));
    assert_eq!(p.sessions, one.variants[0].sessions);

    // Bayes' rule on the density: Beta(1 + s, 1 + f) ∝ x^s (1 − x)^f (uniform prior × binomial
    // likelihood), so log-density differences equal log-likelihood differences.
    let (s, f) = (a as f64 - 1.0, b as f64 - 1.0);
    for (x1, x2) in [(0.05, 0.07), (0.02, 0.2), (0.5, 0.9)] {
        let lhs = beta_ln_pdf(a as f64, b as f64, x1) - beta_ln_pdf(a as f64, b as f64, x2);
        let rhs = s * (x1 / x2).ln() + f * ((1.0 - x1) / (1.0 - x2)).ln();
        assert!(
            (lhs - rhs).abs() < 1e-9 * rhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}

#[test]
fn selection_frequencies_match_the_probability_each_arm_is_best() {
    // With fixed counts (no learning), no floor, burn-in or holdout, Thompson sampling picks
    // each arm with exactly its posterior probability of being best. That probability is
    // computed independently of the sampler, by numerical integration of
    // ∫ fᵢ(x) Πⱼ≠ᵢ Fⱼ(x) dx with exact Beta CDFs (error < 10⁻⁵, checked against the closed form in
    // stats.rs). Tolerance: a frequency over N draws has standard error √(p(1 − p)/N) ≤ 0.0016 at
    // N = 10⁵; 4.5 SE makes a false failure a 1-in-10⁵ event per arm (the seed is fixed, so the
    // outcome is reproducible either way).
    let e = experiment(4, |c| {
        c.holdout_share = 0.0;
        c.burn_in_min_samples = 0;
        c.floor_weight = 0.0;
    });
    let mut counts = ExperimentCounts::default();
    for (i, (n, conv)) in [(200, 10), (220, 14), (150, 12), (90, 4)]
        .into_iter()
        .enumerate()
    {
        counts.variants[i].sessions = n;
        counts.variants[i].conversions = conv;
    }
    let params: Vec<(f64, f64)> = (0..4)
        .map(|i| {
            let c = counts.variants[i];
            (1.0 + c.conversions as f64, 1.0 + c.non_conversions() as f64)
        })
        .collect();
    let p = prob_best(&params);
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-5);

    let n = 100_000u32;
    let mut hits = [0u32; 4];
    let mut rng = Rng::seed_from_u64(2024);
    for _ in 0..n {
        let a = assign(&e, &counts, &mut rng).expect("assigned");
        assert_eq!(a.reason, Reason::Thompson);
        if let Arm::Variant(i) = a.arm {
            hits[usize::from(i)] += 1;
        }
    }
    for i in 0..4 {
        let freq = f64::from(hits[i]) / f64::from(n);
        let se = (p[i] * (1.0 - p[i]) / f64::from(n)).sqrt();
        assert!(
            (freq - p[i]).abs() < 4.5 * se + 1e-5,
            "arm {i}: frequency {freq:.4}, P(best) {:.4} (se {se:.4})",
            p[i]
        );
    }
}

const ARMS: [f64; 3] = [0.05, 0.06, 0.08];
const HORIZON: u64 = 100_000;
/// Replications of the 10⁵-round runs. The standard error of the mean regret at 10⁵ is then
/// ≈ 2.5 conversions (measured), small beside every margin asserted below.
const REPLICATIONS: u32 = 100;

/// Pure Thompson sampling (no burn-in, no floor), shared by the tests that need it.
fn pure() -> &'static RegretResult {
    static PURE: std::sync::OnceLock<RegretResult> = std::sync::OnceLock::new();
    PURE.get_or_init(|| run(0, 0.0))
}

fn run(burn_in: u64, floor_weight: f64) -> RegretResult {
    regret(&RegretSpec {
        arms: ARMS.to_vec(),
        horizon: HORIZON,
        checkpoints: vec![1_000, 10_000, 100_000],
        replications: REPLICATIONS,
        seed: 17,
        burn_in,
        floor_weight,
    })
    .expect("valid spec")
}

/// Lai & Robbins, "Asymptotically efficient adaptive allocation rules", Adv. Appl. Math. 6,
/// 1985: every consistent policy has regret ≥ (C + o(1)) ln T with C = Σ Δᵢ / KL(μᵢ, μ*);
/// Thompson sampling attains it (Kaufmann, Korda & Munos, ALT 2012).
fn lai_robbins_constant() -> f64 {
    let best = 0.08f64;
    let kl = |p: f64, q: f64| p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
    ARMS.iter()
        .filter(|&&m| m < best)
        .map(|&m| (best - m) / kl(m, best))
        .sum()
}

#[test]
fn regret_grows_like_log_t_and_stays_far_below_uniform() {
    let pure = pure();
    let [r3, r4, r5] = [pure.mean[0], pure.mean[1], pure.mean[2]];
    // Far below uniform allocation: uniform loses T·(μ* − mean μ) = 1667 conversions at 10⁵.
    assert!((pure.uniform[2] - 1666.67).abs() < 0.01);
    assert!(
        r5 < 0.1 * pure.uniform[2],
        "regret {r5} vs uniform {}",
        pure.uniform[2]
    );
    // Log growth: between 10⁴ and 10⁵ the regret grows by a factor 10^x with x < 0.3. A linear
    // regret has x = 1, √T has x = 0.5; C·ln(T/T₀) has x = log₁₀(ln(10⁵/T₀) / ln(10⁴/T₀)),
    // 0.10 for T₀ = 1 and 0.22 for T₀ = 300 rounds of initial exploration.
    let x = (r5 / r4).log10();
    assert!(x < 0.3, "growth exponent {x} (regret {r4} → {r5})");
    // The regret added per decade does not grow (it is constant for C·ln T), and stays within
    // 1.5× the asymptotically optimal increment C·ln 10.
    assert!(r5 - r4 <= (r4 - r3) + 3.0 * pure.se[2], "{r3} {r4} {r5}");
    let optimal = lai_robbins_constant() * 10f64.ln();
    assert!(
        r5 - r4 < 1.5 * optimal,
        "decade increment {} vs C·ln 10 = {optimal}",
        r5 - r4
    );

    // The best arm gets ≥ 90 % of the last 10 % of pulls, in every replication.
    assert!(
        pure.late_best_share_min >= 0.9,
        "{}",
        pure.late_best_share_min
    );
    assert!(pure.late_best_share >= 0.95, "{}", pure.late_best_share);
}

#[test]
fn burn_in_and_floor_costs_are_as_documented() {
    // Defaults: burn-in 100 per arm, floor 1 % per arm. The floor costs f·ΣΔ per round in
    // expectation (k·f of the rounds are uniform, each losing μ* − mean μ = ΣΔ/k), i.e. 50
    // conversions over 10⁵ rounds; the burn-in at most B·ΣΔ = 5 more. Floor pulls also teach the
    // bandit for free, so Thompson's own exploration shrinks: the total is at most
    // pure + 50 + 5, at least the floor's own 50.
    let pure = pure();
    let guarded = run(100, 0.01);
    let sum_gap: f64 = ARMS.iter().map(|m| 0.08 - m).sum();
    let floor_cost = 0.01 * sum_gap * HORIZON as f64;
    let burn_cost = 100.0 * sum_gap;
    let (p, g, se) = (pure.mean[2], guarded.mean[2], pure.se[2] + guarded.se[2]);
    assert!(
        g >= floor_cost - 3.0 * se,
        "guarded {g} < floor cost {floor_cost}"
    );
    assert!(
        g <= p + floor_cost + burn_cost + 3.0 * se,
        "guarded {g} vs pure {p}"
    );
    assert!(g < 0.1 * guarded.uniform[2]);
    // The floor caps the best arm's late share at 1 − (k − 1)·f = 98 %; it stays ≥ 90 %.
    assert!(
        guarded.late_best_share_min >= 0.9,
        "{}",
        guarded.late_best_share_min
    );
    assert!(guarded.late_best_share <= 0.98 + 0.005);
}
