//! Merging counts is exact, commutative and associative, and any partition of the sessions
//! merges to the counts of the whole: a property test over seeded random cases (our own
//! generator, so the crate needs no property-testing dependency).

use sentientiq_experiments::*;

fn random_arm(rng: &mut Rng) -> ArmCounts {
    // Up to 2³² per counter and 2⁴⁰ per sum: far from saturation, so merging must be exact.
    let small = |rng: &mut Rng| rng.next_u64() >> 32;
    ArmCounts {
        sessions: small(rng),
        conversions: small(rng),
        revenue_cents: rng.next_u64() >> 24,
        revenue_sq: u128::from(rng.next_u64() >> 8),
        revenue_cube: u128::from(rng.next_u64()) << 8,
        shown: small(rng),
        clicked: small(rng),
        dismissed: small(rng),
    }
}

fn random_counts(rng: &mut Rng) -> ExperimentCounts {
    let mut c = ExperimentCounts {
        holdout: random_arm(rng),
        ..ExperimentCounts::default()
    };
    for v in &mut c.variants {
        *v = random_arm(rng);
    }
    c
}

#[test]
fn merge_is_commutative_and_associative() {
    let mut rng = Rng::seed_from_u64(404);
    for _ in 0..500 {
        let (a, b, c) = (
            random_counts(&mut rng),
            random_counts(&mut rng),
            random_counts(&mut rng),
        );
        assert_eq!(a.merged(&b), b.merged(&a));
        assert_eq!(a.merged(&b).merged(&c), a.merged(&b.merged(&c)));
        assert_eq!(a.merged(&ExperimentCounts::default()), a);
    }
}

#[test]
fn reported_differences_add_back_up_to_the_totals() {
    // An edge reports `now.since(reported)` at every tick: the reports merge to its total,
    // whatever the ticks, and a tick with nothing new reports nothing.
    let mut rng = Rng::seed_from_u64(406);
    for _ in 0..200 {
        let mut total = ExperimentCounts::default();
        let mut reported = ExperimentCounts::default();
        let mut sum_of_reports = ExperimentCounts::default();
        for _ in 0..1 + rng.below(8) {
            total.merge(&random_counts(&mut rng));
            let d = total.since(&reported);
            sum_of_reports.merge(&d);
            reported = total;
            assert!(total.since(&reported).is_empty());
        }
        assert_eq!(sum_of_reports, total);
        assert_eq!(total.since(&ExperimentCounts::default()), total);
    }
}

#[test]
fn any_partition_of_the_sessions_merges_to_the_whole() {
    let e = ExperimentConfig::new("r", &["a", "b", "c"])
        .validate()
        .expect("valid");
    let mut rng = Rng::seed_from_u64(405);
    for case in 0..200 {
        let edges = 1 + rng.below(6) as usize;
        let mut parts = vec![ExperimentCounts::default(); edges];
        let mut whole = ExperimentCounts::default();
        let sessions = rng.below(400);
        for t in 0..sessions {
            let arm = match rng.below(4) {
                0 => Arm::Holdout,
                i => Arm::Variant((i - 1) as u8),
            };
            let edge = rng.below(edges as u64) as usize;
            let events: Vec<Outcome> = (0..rng.below(4))
                .map(|_| match rng.below(5) {
                    0 => Outcome::Shown,
                    1 => Outcome::Clicked,
                    2 => Outcome::Dismissed,
                    3 => Outcome::Converted,
                    _ => Outcome::Purchase {
                        amount_cents: rng.below(100_000),
                    },
                })
                .collect();
            for counts in [&mut parts[edge], &mut whole] {
                let mut x = Exposure::start(arm, t, counts);
                for &o in &events {
                    x.record(&e, t, o, counts);
                }
            }
        }
        // Merge the parts in a random order.
        let mut order: Vec<usize> = (0..edges).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut merged = ExperimentCounts::default();
        for i in order {
            merged.merge(&parts[i]);
        }
        assert_eq!(merged, whole, "case {case}");
        // And the report is a function of the counts alone.
        assert_eq!(forensics(&e, &merged, 7), forensics(&e, &whole, 7));
    }
}
