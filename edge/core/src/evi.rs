//! The Emotional Volatility Index: 0..100 per tenant and minute, for one region or any set of
//! them, from merged [`WindowAgg`]s. `docs/EVI.md` gives the formula and where each constant
//! comes from; this is its only implementation (the control plane calls it).
//!
//! EVI = 100 · L · (1 + S) / 2, where
//! - x = Σₑ wₑ · Iₑ / A: weighted negative-emotion intensity per active session (Iₑ the sum of
//!   emotion e's detection confidences in the minute, A the active sessions);
//! - L = x / (x + [`HALF_SCALE`]): the level, 0 at no detections, ½ at `HALF_SCALE`;
//! - S = 1 / (1 + e^(−z)), z = (x − μ) / max(σ, [`SIGMA_FLOOR`]): how far this minute is above
//!   the tenant's own baseline (μ, σ of x over the previous [`BASELINE_MINUTES`] active minutes
//!   of the same scope); S = ½ until [`MIN_BASELINE`] such minutes exist.
//!
//! Every input is an exact integer sum, so the EVI of merged windows does not depend on how the
//! data was split between shards, edges or regions, nor on the order of merging.

use crate::aggregate::WindowAgg;

/// Weight of each emotion's intensity, indexed by [`crate::Emotion::index`] (rage,
/// frustration, hesitation, confusion, abandonment). A product choice, not a measurement: rage
/// counts fully; frustration (dead and error clicks) nearly so; abandonment is a lost visit
/// rather than an outburst; confusion and hesitation are milder states that often resolve.
pub const WEIGHTS: [f64; 5] = [1.0, 0.8, 0.4, 0.6, 0.7];

/// Weighted intensity per active session at which the level is ½: one full-confidence rage
/// per 20 active sessions in a minute. A product choice that puts ordinary sites (a few
/// detections per hundred sessions) in the lower third of the scale.
pub const HALF_SCALE: f64 = 0.05;

/// Baseline length, in minutes with active sessions, before the minute being scored.
pub const BASELINE_MINUTES: usize = 60;

/// Fewer baseline minutes than this: no baseline yet (S = ½).
pub const MIN_BASELINE: usize = 10;

/// Smallest σ used for z, in x units, so that a perfectly flat baseline does not turn one
/// detection into an infinite z: 1/5 of [`HALF_SCALE`].
pub const SIGMA_FLOOR: f64 = 0.01;

/// x: weighted negative-emotion intensity per active session, or `None` without active
/// sessions (no EVI for an empty minute).
pub fn intensity(w: &WindowAgg) -> Option<f64> {
    if w.active_sessions == 0 {
        return None;
    }
    let weighted: f64 = w
        .intensity_milli
        .iter()
        .zip(WEIGHTS)
        .map(|(m, wt)| *m as f64 / 1000.0 * wt)
        .sum();
    Some(weighted / w.active_sessions as f64)
}

/// The tenant's own baseline: mean and standard deviation of x over earlier minutes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Baseline {
    /// Minutes it was computed from (those with active sessions).
    pub minutes: usize,
    pub mean: f64,
    pub sd: f64,
}

impl Baseline {
    /// From earlier windows of the same scope, oldest first; only the last
    /// [`BASELINE_MINUTES`] with active sessions count.
    pub fn of<'a>(earlier: impl DoubleEndedIterator<Item = &'a WindowAgg>) -> Baseline {
        let xs: Vec<f64> = earlier
            .rev()
            .filter_map(intensity)
            .take(BASELINE_MINUTES)
            .collect();
        if xs.is_empty() {
            return Baseline::default();
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Baseline {
            minutes: xs.len(),
            mean,
            sd: var.sqrt(),
        }
    }
}

/// One minute's index with its terms, so a reader can see why it is what it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evi {
    pub minute: u64,
    /// A, the window's active sessions.
    pub active_sessions: u64,
    /// 0..100.
    pub value: f64,
    /// x.
    pub intensity: f64,
    /// L in [0, 1).
    pub level: f64,
    /// z against the baseline (0 when there is none yet).
    pub z: f64,
    pub baseline: Baseline,
}

/// The index of `w` against `baseline`, or `None` without active sessions.
pub fn evi(w: &WindowAgg, baseline: &Baseline) -> Option<Evi> {
    let x = intensity(w)?;
    let level = x / (x + HALF_SCALE);
    let z = if baseline.minutes >= MIN_BASELINE {
        (x - baseline.mean) / baseline.sd.max(SIGMA_FLOOR)
    } else {
        0.0
    };
    let s = 1.0 / (1.0 + (-z).exp());
    Some(Evi {
        minute: w.minute,
        active_sessions: w.active_sessions,
        value: (100.0 * level * (1.0 + s) / 2.0).clamp(0.0, 100.0),
        intensity: x,
        level,
        z,
        baseline: *baseline,
    })
}

/// The index of every window of one scope (sorted by minute, one window per minute), each
/// against the windows before it.
pub fn series(windows: &[WindowAgg]) -> Vec<Evi> {
    debug_assert!(windows.windows(2).all(|p| p[0].minute < p[1].minute));
    windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| evi(w, &Baseline::of(windows[..i].iter())))
        .collect()
}

/// Merges windows of several sources (shards, edges, regions) into one window per minute,
/// sorted by minute.
pub fn merge<'a>(windows: impl IntoIterator<Item = &'a WindowAgg>) -> Vec<WindowAgg> {
    let mut by_minute = std::collections::BTreeMap::<u64, WindowAgg>::new();
    for w in windows {
        by_minute
            .entry(w.minute)
            .and_modify(|m| m.merge(w))
            .or_insert(*w);
    }
    by_minute.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Aggregates, Emotion};
    use proptest::prelude::*;

    fn window(active: u64, rage_milli: u64) -> WindowAgg {
        let mut w = WindowAgg {
            minute: 100,
            active_sessions: active,
            ..WindowAgg::default()
        };
        w.intensity_milli[Emotion::Rage.index()] = rage_milli;
        w
    }

    fn baseline(mean: f64, sd: f64) -> Baseline {
        Baseline {
            minutes: BASELINE_MINUTES,
            mean,
            sd,
        }
    }

    #[test]
    fn no_detections_is_zero_and_half_scale_is_a_level_of_one_half() {
        let quiet = evi(&window(100, 0), &Baseline::default()).expect("active");
        assert_eq!(quiet.value, 0.0);
        // 100 sessions, 5 full-confidence rages: x = 0.05 = HALF_SCALE, L = ½, no baseline
        // (S = ½): 100 · ½ · 1.5 / 2 = 37.5.
        let e = evi(&window(100, 5000), &Baseline::default()).expect("active");
        assert!((e.intensity - 0.05).abs() < 1e-12);
        assert!((e.level - 0.5).abs() < 1e-12);
        assert!((e.value - 37.5).abs() < 1e-9);
        assert_eq!(evi(&window(0, 0), &Baseline::default()), None);
    }

    #[test]
    fn the_baseline_needs_min_baseline_minutes() {
        let mk = |n: usize| -> Vec<WindowAgg> {
            (0..n as u64)
                .map(|m| WindowAgg {
                    minute: m,
                    ..window(100, 1000)
                })
                .collect()
        };
        assert_eq!(Baseline::of(mk(MIN_BASELINE - 1).iter()).minutes, 9);
        let below = evi(
            &window(100, 9000),
            &Baseline::of(mk(MIN_BASELINE - 1).iter()),
        );
        assert_eq!(below.expect("active").z, 0.0);
        let at = evi(&window(100, 9000), &Baseline::of(mk(MIN_BASELINE).iter()));
        // x = 0.09 against a flat 0.01: z = 0.08 / SIGMA_FLOOR = 8.
        assert!((at.expect("active").z - 8.0).abs() < 1e-9);
        // Only the last BASELINE_MINUTES active minutes count.
        let long = mk(BASELINE_MINUTES + 1);
        assert_eq!(Baseline::of(long.iter()).minutes, BASELINE_MINUTES);
        assert_eq!(
            Baseline::of(long[..BASELINE_MINUTES - 1].iter()).minutes,
            59
        );
    }

    #[test]
    fn the_same_minute_scores_higher_against_a_calmer_baseline() {
        let w = window(100, 3000);
        let calm = evi(&w, &baseline(0.005, 0.005)).expect("active").value;
        let usual = evi(&w, &baseline(0.03, 0.005)).expect("active").value;
        let stormy = evi(&w, &baseline(0.2, 0.05)).expect("active").value;
        assert!(calm > usual && usual > stormy, "{calm} {usual} {stormy}");
        // L = 0.375: the spread is 50·L to 100·L.
        assert!(calm < 37.5 && stormy > 18.75);
    }

    /// A session's activity: (session, minute offset, region, detections (emotion, confidence)).
    type Activity = (u16, u8, u8, Vec<(u8, f64)>);

    fn activities() -> impl Strategy<Value = Vec<Activity>> {
        prop::collection::vec(
            (
                0u16..400,
                0u8..90,
                0u8..3,
                prop::collection::vec((0u8..5, 0.0f64..=1.0), 0..4),
            ),
            0..400,
        )
    }

    fn aggregate<'a>(acts: impl Iterator<Item = &'a Activity>) -> Aggregates {
        let mut a = Aggregates::default();
        for (_, minute, _, dets) in acts {
            let minute = 1_000 + u64::from(*minute);
            a.active(minute);
            for (i, (e, c)) in dets.iter().enumerate() {
                a.detection(minute, Emotion::ALL[*e as usize], *c, i == 0, 10_000);
            }
        }
        a
    }

    proptest! {
        #[test]
        fn global_equals_the_union_of_the_regions(acts in activities()) {
            let regions: Vec<Aggregates> = (0..3u8)
                .map(|r| aggregate(acts.iter().filter(|a| a.2 == r)))
                .collect();
            let merged = merge(regions.iter().flat_map(Aggregates::windows));
            let union = aggregate(acts.iter());
            let union: Vec<WindowAgg> = union.windows().copied().collect();
            prop_assert_eq!(&merged, &union);
            prop_assert_eq!(series(&merged), series(&union));
            // Merging in another order gives the same windows.
            let reversed = merge(regions.iter().rev().flat_map(Aggregates::windows));
            prop_assert_eq!(reversed, merged);
        }

        #[test]
        fn bounded_and_monotone_in_intensity(
            active in 1u64..10_000,
            milli in prop::array::uniform5(0u64..2_000_000),
            more in 0usize..5,
            extra in 1u64..100_000,
            mean in 0.0f64..5.0,
            sd in 0.0f64..5.0,
            minutes in 0usize..=BASELINE_MINUTES,
        ) {
            let b = Baseline { minutes, mean, sd };
            let mut w = WindowAgg { minute: 1, active_sessions: active, ..WindowAgg::default() };
            w.intensity_milli = milli;
            let e = evi(&w, &b).expect("active");
            prop_assert!((0.0..=100.0).contains(&e.value), "{e:?}");
            let mut w2 = w;
            w2.intensity_milli[more] += extra;
            let e2 = evi(&w2, &b).expect("active");
            prop_assert!(e2.value >= e.value, "{e:?} -> {e2:?}");
        }
    }
}
