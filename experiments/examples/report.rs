//! Prints the figures of issue 17's "Proven" list: regret of the bandit against uniform
//! allocation, the best arm's share of late pulls, and the coverage of the 95 % intervals over
//! simulated experiments with known truth.
//!
//! `cargo run --release --example report`. The sizes and seeds are those of the tests in
//! `tests/it/`, so the figures printed are exactly the ones the tests assert on.
#![allow(clippy::print_stdout)] // a report binary prints its report

use sentientiq_experiments::sim::{
    BanditExperimentSpec, Coverage, RegretSpec, Visitor, bandit_experiments, fixed_coverage,
    regret, uplift_skewness,
};

fn pct(c: &Coverage) -> String {
    format!(
        "{:5.1} % ({}/{}; truth below {}, above {})",
        100.0 * c.rate(),
        c.covered,
        c.experiments,
        c.truth_below,
        c.truth_above
    )
}

/// Lai & Robbins (1985) constant Σ Δᵢ / KL(μᵢ, μ*) for Bernoulli arms: no algorithm's regret
/// grows slower than this times ln T.
fn lai_robbins(arms: &[f64]) -> f64 {
    let best = arms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let kl = |p: f64, q: f64| p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
    arms.iter()
        .filter(|&&m| m < best)
        .map(|&m| (best - m) / kl(m, best))
        .sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (reps, experiments) = (100, 1000);
    let arms = vec![0.05, 0.06, 0.08];
    let checkpoints = vec![1_000, 10_000, 100_000];

    println!("# Thompson sampling regret, arms 5 % / 6 % / 8 %, {reps} replications");
    println!("(cumulative expected conversions lost against always showing the best arm)");
    let lr = lai_robbins(&arms);
    let mut rows = Vec::new();
    for (name, burn_in, floor) in [
        ("pure TS", 0, 0.0),
        ("defaults (burn-in 100, floor 1 %)", 100, 0.01),
    ] {
        let r = regret(&RegretSpec {
            arms: arms.clone(),
            horizon: 100_000,
            checkpoints: checkpoints.clone(),
            replications: reps,
            seed: 17,
            burn_in,
            floor_weight: floor,
        })?;
        rows.push((name, r));
    }
    println!(
        "| T | {} | {} | uniform | Lai–Robbins bound {lr:.2}·ln T |",
        rows[0].0, rows[1].0
    );
    println!("|---|---|---|---|---|");
    for (i, t) in checkpoints.iter().enumerate() {
        println!(
            "| {t} | {:.1} ± {:.1} | {:.1} ± {:.1} | {:.1} | {:.1} |",
            rows[0].1.mean[i],
            rows[0].1.se[i],
            rows[1].1.mean[i],
            rows[1].1.se[i],
            rows[0].1.uniform[i],
            lr * (*t as f64).ln()
        );
    }
    for (name, r) in &rows {
        println!(
            "{name}: best arm's share of the last 10 % of pulls: mean {:.1} %, worst replication {:.1} %; mean pulls per arm {:?}",
            100.0 * r.late_best_share,
            100.0 * r.late_best_share_min,
            r.pulls.iter().map(|p| p.round()).collect::<Vec<_>>()
        );
    }

    println!();
    println!("# Coverage of the 95 % intervals, {experiments} simulated experiments each");
    println!(
        "Fixed allocation, 5000 sessions per group, revenue log-normal (median $50, log-sd 1):"
    );
    for (name, v, h) in [
        (
            "A/A, 5 % vs 5 %",
            Visitor::buyer(0.05),
            Visitor::buyer(0.05),
        ),
        (
            "effect, 8 % vs 5 %",
            Visitor::buyer(0.08),
            Visitor::buyer(0.05),
        ),
    ] {
        let (conv, rev, hall) = fixed_coverage(v, h, 5000, 5000, experiments, 99);
        println!("- {name}: conversion uplift (Newcombe) {}", pct(&conv));
        println!("  {name}: revenue uplift (Welch)       {}", pct(&rev));
        println!("  {name}: revenue uplift (Welch ∪ Hall) {}", pct(&hall));
    }
    println!();
    println!("Welch coverage of the revenue uplift against the skewness of the estimate");
    println!("(treated 9 × holdout, as with a 10 % holdout; 8 % vs 5 % buy):");
    println!("| log-sd | holdout n | skewness of uplift | Welch | Welch ∪ Hall |");
    println!("|---|---|---|---|---|");
    for log_sd in [1.0, 1.5] {
        for n in [250, 500, 1000, 2000, 4000, 8000] {
            // Seed 7, as in tests/it/coverage.rs.
            let v = Visitor {
                log_sd,
                ..Visitor::buyer(0.08)
            };
            let h = Visitor {
                log_sd,
                ..Visitor::buyer(0.05)
            };
            let skew = uplift_skewness(&v, &h, 9 * n, n);
            let (_, rev, hall) = fixed_coverage(v, h, 9 * n, n, experiments, 7);
            println!(
                "| {log_sd} | {n} | {skew:.3} | {} | {} |",
                pct(&rev),
                pct(&hall)
            );
        }
    }

    println!();
    let sessions = 10_000;
    println!(
        "Through the bandit with a 10 % holdout, {sessions} sessions per experiment, {experiments} experiments, baskets log-sd 0.5:"
    );
    let basket = |p| Visitor {
        log_sd: 0.5,
        ..Visitor::buyer(p)
    };
    for (name, rates) in [
        ("A/A (all 5 %)", vec![0.05; 3]),
        ("variants 5 / 6 / 8 %, holdout 5 %", vec![0.05, 0.06, 0.08]),
    ] {
        let r = bandit_experiments(&BanditExperimentSpec {
            variants: rates.into_iter().map(basket).collect(),
            holdout: basket(0.05),
            holdout_share: 0.10,
            sessions,
            experiments,
            seed: 5,
        })?;
        println!("- {name}:");
        println!(
            "  pooled conversion uplift (Newcombe): {}",
            pct(&r.pooled_conversion)
        );
        println!(
            "  pooled revenue uplift (Welch):       {}",
            pct(&r.pooled_revenue)
        );
        println!(
            "  pooled revenue uplift (Welch ∪ Hall): {}",
            pct(&r.pooled_revenue_corrected)
        );
        for (i, c) in r.per_variant_conversion.iter().enumerate() {
            println!(
                "  variant {i} vs holdout (adaptive, not claimed): {}",
                pct(c)
            );
        }
        println!(
            "  holdout share {:.5}; SRM alerts {} of {} checked; claims made: churn {}, revenue {}",
            r.holdout_share, r.srm_alerts, r.srm_checked, r.conversion_claims, r.revenue_claims
        );
    }
    Ok(())
}
