//! The personas against the real core (no network): what the edge's detectors make of them at
//! the default thresholds. Deterministic (seeded); the figures are printed with --nocapture.

use sentientiq_core::TenantPolicy;
use sentientiq_loadgen::offline::score;
use sentientiq_loadgen::synth::Mix;
use sentientiq_loadgen::truth::EMOTIONS;

#[test]
fn personas_scored_against_the_core_at_default_thresholds() {
    let s = score(1, 600, 60.0, &Mix::default(), &TenantPolicy::default());
    for e in EMOTIONS {
        let c = s.by_emotion.get(e).copied().unwrap_or_default();
        eprintln!(
            "{e:<12} precision {:?} recall {:?} {c:?}",
            c.precision(),
            c.recall()
        );
        // Every persona injected episodes of its emotion, and the detectors found them.
        assert!(c.tp >= 50, "{e}: {c:?}");
        assert!(c.recall().is_some_and(|r| r >= 0.95), "{e}: {c:?}");
        assert!(c.precision().is_some_and(|p| p >= 0.99), "{e}: {c:?}");
    }
    let f = s.false_per_calm_hour().expect("calm sessions ran");
    eprintln!(
        "false per calm session-hour {f:.3} ({} over {:.1} h); false by persona {:?}",
        s.calm_false,
        s.calm_seconds / 3600.0,
        s.false_by_persona
    );
    assert!(f <= 1.0, "{f}");
    // Every rage episode of an identified $120k session pages once (its clicks got no response
    // and the SDK said so); nothing else pages, and no anonymous session ever does.
    let e = s.escalations;
    eprintln!("escalations {e:?}");
    assert!(e.expected >= 25, "{e:?}");
    assert_eq!(e.escalated, e.expected, "{e:?}");
    assert_eq!((e.repeats, e.unexpected, e.anonymous), (0, 0, 0), "{e:?}");
}

#[test]
fn the_same_seed_gives_the_same_traffic_and_score() {
    let a = score(7, 40, 30.0, &Mix::default(), &TenantPolicy::default());
    let b = score(7, 40, 30.0, &Mix::default(), &TenantPolicy::default());
    assert_eq!(a, b);
}
