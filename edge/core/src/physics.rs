//! Pointer kinematics, incremental and O(1) amortised per sample.
//!
//! # Differentiation method
//! Browsers deliver pointer samples at irregular times (coalesced events, 60–240 Hz, jitter of
//! a few ms, pauses when the pointer rests). Differencing raw samples divides pixel
//! quantisation by tiny, noisy time steps. Instead:
//!
//! 1. **Resample** the path onto a uniform grid of `GRID_US` (8 ms) by linear interpolation
//!    between consecutive samples. A gap longer than `MAX_GAP_US` (100 ms) with no sample is a
//!    rest, not slow motion: the estimator restarts there instead of interpolating across it.
//!    A timestamp that goes backwards (client clock step) also restarts it.
//! 2. **Differentiate** on the grid with stride differences over `STRIDE` (4) steps (32 ms):
//!    `v[n] = (p[n] − p[n−4]) / 32 ms`, then the same on `v` for acceleration and on `a` for
//!    jerk. A stride difference equals the mean of the single-step differences it spans, i.e.
//!    each level is a first difference smoothed by a 32 ms boxcar, which keeps 1 px
//!    quantisation noise near 31 px/s, 1 000 px/s² and 30 000 px/s³ while passing the
//!    0–8 Hz band of human movement. Each level is centred 2 steps (16 ms) behind the previous.
//! 3. **Curvature** `κ = |v × a| / |v|³` uses the velocity aligned with the acceleration's
//!    centre (two grid steps back).
//!
//! Shape measures use **steps**: the path is cut into displacements of at least `STEP_PX`
//! (3 px), which makes them independent of the sampling rate and blind to sub-pixel jitter.
//! Over the last `WINDOW` (32) steps we keep the direction-change histogram (8 bins of 45°,
//! centred so that "straight on" is one bin) for the normalised Shannon **entropy** (0 for a
//! straight line, ≈1 for a random walk), and the sums for **path efficiency**
//! (|Σ step| / Σ |step|: 1 for a straight line).
//!
//! Units: time in µs on the client's clock, positions in CSS px, derivatives per second.

/// Grid step of the resampled path.
pub const GRID_US: i64 = 8_000;
/// Stride of the differences, in grid steps.
pub const STRIDE: usize = 4;
/// A longer gap between samples restarts the estimator.
pub const MAX_GAP_US: i64 = 100_000;
/// Minimum displacement of one step of the shape measures.
pub const STEP_PX: f64 = 3.0;
/// Steps in the shape window.
pub const WINDOW: usize = 32;
/// Direction-change bins.
pub const BINS: usize = 8;

/// Ring length per derivative level: a power of two ≥ STRIDE + 1, so indexing is a mask.
const RING: usize = 16;
const H: f64 = (STRIDE as f64) * (GRID_US as f64) / 1e6; // seconds per stride

/// `c·ln c` for c = 0..=WINDOW, so the entropy is updated without transcendental calls:
/// H = ln n − (Σ c·ln c) / n, normalised by ln BINS.
const C_LN_C: [f64; WINDOW + 1] = [
    0.0,
    0.0,
    1.3862943611198906,
    3.295836866004329,
    5.545177444479562,
    8.047189562170502,
    10.75055681536833,
    13.621371043387192,
    16.635532333438686,
    19.775021196025975,
    23.02585092994046,
    26.376848000782076,
    29.818879797456006,
    33.34434164699998,
    36.94680261461362,
    40.62075301653315,
    44.3614195558365,
    48.16462684895568,
    52.02669164213096,
    55.94434060416236,
    59.914645471079815,
    63.93497119219188,
    68.00293397388296,
    72.11636696637044,
    76.2732919283507,
    80.47189562170502,
    84.71050998855854,
    88.9875953821169,
    93.30172628490571,
    97.65157906960775,
    102.03592144986466,
    106.45360333903953,
    110.90354888959125,
];

/// The octant (0..8, counter-clockwise from +x) of a non-zero vector, by comparisons only.
fn octant(x: f64, y: f64) -> usize {
    if y >= 0.0 && x > 0.0 {
        usize::from(y >= x)
    } else if y > 0.0 {
        2 + usize::from(-x >= y)
    } else if x < 0.0 {
        4 + usize::from(-y >= -x)
    } else {
        6 + usize::from(x >= -y)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct V2 {
    x: f64,
    y: f64,
}

impl V2 {
    fn sub(self, o: V2) -> V2 {
        V2 {
            x: self.x - o.x,
            y: self.y - o.y,
        }
    }
    fn scale(self, k: f64) -> V2 {
        V2 {
            x: self.x * k,
            y: self.y * k,
        }
    }
    fn norm(self) -> f64 {
        (self.x * self.x + self.y * self.y).sqrt()
    }
    fn cross(self, o: V2) -> f64 {
        self.x * o.y - self.y * o.x
    }
    fn dot(self, o: V2) -> f64 {
        self.x * o.x + self.y * o.y
    }
}

/// A fixed ring of the last `RING` values of one derivative level.
#[derive(Debug, Clone, Copy, Default)]
struct Level {
    ring: [V2; RING],
    /// Values pushed since the last restart.
    n: usize,
}

impl Level {
    fn push(&mut self, v: V2) {
        self.ring[self.n & (RING - 1)] = v;
        self.n += 1;
    }
    /// The value pushed `back` pushes ago (0 = the latest).
    fn back(&self, back: usize) -> Option<V2> {
        (self.n > back).then(|| self.ring[(self.n - 1 - back) & (RING - 1)])
    }
    /// Stride difference of the latest value, per second.
    fn diff(&self) -> Option<V2> {
        Some(self.back(0)?.sub(self.back(STRIDE)?).scale(1.0 / H))
    }
}

/// A copy of the kinematic state, for detections and the lake.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    /// px/s
    pub speed: f64,
    /// px/s²
    pub accel: f64,
    /// px/s³
    pub jerk: f64,
    /// 1/px
    pub curvature: f64,
    /// 0..=1
    pub entropy: f64,
    /// 0..=1
    pub efficiency: f64,
    /// ms the pointer has stayed within `STEP_PX` of where it is (up to the latest sample).
    pub dwell_ms: f64,
}

/// Incremental kinematics of one pointer.
#[derive(Debug, Clone)]
pub struct Physics {
    last: Option<(i64, V2)>,
    next_grid: i64,
    pos: Level,
    vel: Level,
    acc: Level,
    jerk: V2,
    curvature: f64,
    // shape window
    anchor: Option<V2>,
    last_step: Option<V2>,
    /// Σ c·ln c over the direction-change bins.
    c_ln_c: f64,
    steps: [V2; WINDOW],
    turns: [u8; WINDOW],
    n_steps: usize,
    n_turns: usize,
    sum: V2,
    path: f64,
    bins: [u16; BINS],
    // dwell
    still_since: i64,
    /// Grid points produced since creation (for callers that react per grid step).
    grid_points: u64,
}

impl Default for Physics {
    fn default() -> Self {
        Physics::new()
    }
}

/// One grid point, as seen by callers that react to the trajectory (e.g. the thrash detector).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridPoint {
    /// µs, client clock.
    pub t: i64,
    pub vx: f64,
    pub vy: f64,
    pub ax: f64,
    pub speed: f64,
}

impl Physics {
    pub fn new() -> Physics {
        Physics {
            last: None,
            next_grid: 0,
            pos: Level::default(),
            vel: Level::default(),
            acc: Level::default(),
            jerk: V2::default(),
            curvature: 0.0,
            anchor: None,
            last_step: None,
            c_ln_c: 0.0,
            steps: [V2::default(); WINDOW],
            turns: [0; WINDOW],
            n_steps: 0,
            n_turns: 0,
            sum: V2::default(),
            path: 0.0,
            bins: [0; BINS],
            still_since: 0,
            grid_points: 0,
        }
    }

    /// Adds a pointer sample at client time `t` (µs). `on_grid` sees every grid point that has
    /// a velocity and acceleration estimate.
    pub fn push(&mut self, t: i64, x: f64, y: f64, mut on_grid: impl FnMut(&GridPoint)) {
        let p = V2 { x, y };
        let restart = match self.last {
            None => true,
            Some((lt, _)) => t < lt || t - lt > MAX_GAP_US,
        };
        if restart {
            self.restart(t, p);
        } else if let Some((lt, lp)) = self.last {
            while self.next_grid <= t {
                let f = if t == lt {
                    1.0
                } else {
                    (self.next_grid - lt) as f64 / (t - lt) as f64
                };
                let g = V2 {
                    x: lp.x + (p.x - lp.x) * f,
                    y: lp.y + (p.y - lp.y) * f,
                };
                let gt = self.next_grid;
                self.grid(gt, g, &mut on_grid);
                self.next_grid += GRID_US;
            }
        }
        self.shape(t, p);
        self.last = Some((t, p));
    }

    fn restart(&mut self, t: i64, p: V2) {
        self.pos = Level::default();
        self.vel = Level::default();
        self.acc = Level::default();
        self.jerk = V2::default();
        self.curvature = 0.0;
        self.pos.push(p);
        self.next_grid = t + GRID_US;
    }

    fn grid(&mut self, t: i64, p: V2, on_grid: &mut impl FnMut(&GridPoint)) {
        self.grid_points += 1;
        self.pos.push(p);
        let Some(v) = self.pos.diff() else { return };
        self.vel.push(v);
        let Some(a) = self.vel.diff() else { return };
        self.acc.push(a);
        // Velocity centred where this acceleration is centred.
        let va = self.vel.back(STRIDE / 2).unwrap_or(v);
        let s = va.norm();
        self.curvature = if s > 1e-6 {
            (va.x * a.y - va.y * a.x).abs() / (s * s * s)
        } else {
            0.0
        };
        if let Some(j) = self.acc.diff() {
            self.jerk = j;
        }
        on_grid(&GridPoint {
            t,
            vx: v.x,
            vy: v.y,
            ax: a.x,
            speed: v.norm(),
        });
    }

    fn shape(&mut self, t: i64, p: V2) {
        let Some(anchor) = self.anchor else {
            self.anchor = Some(p);
            self.still_since = t;
            return;
        };
        if t < self.still_since {
            self.still_since = t;
        }
        let d = p.sub(anchor);
        let len = d.norm();
        if len < STEP_PX {
            return;
        }
        self.anchor = Some(p);
        self.still_since = t;
        // path window
        let slot = self.n_steps % WINDOW;
        if self.n_steps >= WINDOW {
            let old = self.steps[slot];
            self.sum = self.sum.sub(old);
            self.path -= old.norm();
        }
        self.steps[slot] = d;
        self.sum = V2 {
            x: self.sum.x + d.x,
            y: self.sum.y + d.y,
        };
        self.path += len;
        self.n_steps += 1;
        // Direction change between consecutive steps, binned without trigonometry: rotate
        // (dot, cross) by +22.5° so that bin 0 is centred on "straight on", then take the
        // octant.
        if let Some(prev) = self.last_step {
            let (c, dt) = (prev.cross(d), prev.dot(d));
            const COS: f64 = 0.923_879_532_511_286_7; // cos 22.5°
            const SIN: f64 = 0.382_683_432_365_089_8; // sin 22.5°
            let bin = octant(dt * COS - c * SIN, dt * SIN + c * COS);
            let tslot = self.n_turns % WINDOW;
            if self.n_turns >= WINDOW {
                let old = self.turns[tslot] as usize;
                self.bin_add(old, false);
            }
            self.turns[tslot] = bin as u8;
            self.bin_add(bin, true);
            self.n_turns += 1;
        }
        self.last_step = Some(d);
    }

    fn bin_add(&mut self, bin: usize, add: bool) {
        let c = self.bins[bin] as usize;
        let n = if add { c + 1 } else { c - 1 };
        self.c_ln_c += C_LN_C[n.min(WINDOW)] - C_LN_C[c.min(WINDOW)];
        self.bins[bin] = n as u16;
    }

    /// Drops the trajectory state (e.g. after the page changed); shape windows restart too.
    pub fn reset(&mut self) {
        *self = Physics::new();
    }

    pub fn velocity(&self) -> (f64, f64) {
        self.vel.back(0).map_or((0.0, 0.0), |v| (v.x, v.y))
    }

    pub fn speed(&self) -> f64 {
        self.vel.back(0).map_or(0.0, V2::norm)
    }

    pub fn accel(&self) -> f64 {
        self.acc.back(0).map_or(0.0, V2::norm)
    }

    pub fn jerk(&self) -> f64 {
        self.jerk.norm()
    }

    pub fn curvature(&self) -> f64 {
        self.curvature
    }

    /// Normalised Shannon entropy of the direction changes in the window (0..=1); 0 until two
    /// direction changes exist.
    pub fn entropy(&self) -> f64 {
        let n = self.n_turns.min(WINDOW);
        if n < 2 {
            return 0.0;
        }
        let nf = n as f64;
        let h = C_LN_C[n] / nf - self.c_ln_c / nf; // ln n − Σ c ln c / n
        (h / (BINS as f64).ln()).clamp(0.0, 1.0)
    }

    /// |Σ steps| / Σ |steps| over the window (1 for a straight path; 1 when there is no path).
    pub fn efficiency(&self) -> f64 {
        if self.path <= 0.0 {
            1.0
        } else {
            (self.sum.norm() / self.path).clamp(0.0, 1.0)
        }
    }

    /// How long the pointer has stayed put, as of client time `t` (µs).
    pub fn dwell_ms(&self, t: i64) -> f64 {
        if self.anchor.is_none() {
            return 0.0;
        }
        (t - self.still_since).max(0) as f64 / 1000.0
    }

    /// The position of the latest sample.
    pub fn position(&self) -> Option<(f64, f64)> {
        self.last.map(|(_, p)| (p.x, p.y))
    }

    /// Client time of the latest sample, µs.
    pub fn last_time(&self) -> Option<i64> {
        self.last.map(|(t, _)| t)
    }

    pub fn snapshot(&self, t: i64) -> Snapshot {
        Snapshot {
            speed: self.speed(),
            accel: self.accel(),
            jerk: self.jerk(),
            curvature: self.curvature(),
            entropy: self.entropy(),
            efficiency: self.efficiency(),
            dwell_ms: self.dwell_ms(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    /// Feeds `f(t_seconds) -> (x, y)` at irregular times (mean 8.3 ms ± 3 ms jitter, i.e. a
    /// 120 Hz browser with jitter), calling `probe` after each sample.
    fn drive(
        duration_s: f64,
        seed: u64,
        f: impl Fn(f64) -> (f64, f64),
        mut probe: impl FnMut(f64, &Physics),
    ) -> Physics {
        let mut ph = Physics::new();
        let mut rng = Rng::new(seed);
        let mut t_us: i64 = 0;
        while (t_us as f64) / 1e6 <= duration_s {
            let (x, y) = f(t_us as f64 / 1e6);
            ph.push(t_us, x, y, |_| {});
            probe(t_us as f64 / 1e6, &ph);
            t_us += 5_300 + (rng.next_f64() * 6_000.0) as i64;
        }
        ph
    }

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(1e-9)
    }

    #[test]
    fn constant_velocity_has_zero_acceleration_and_jerk() {
        let (vx, vy) = (300.0, -400.0); // 500 px/s
        let mut checked = 0;
        drive(
            1.0,
            1,
            |t| (10.0 + vx * t, 800.0 + vy * t),
            |t, ph| {
                if t > 0.15 {
                    assert!(close(ph.speed(), 500.0, 1e-9), "speed {}", ph.speed());
                    assert!(ph.accel() < 1e-6, "accel {}", ph.accel());
                    assert!(ph.jerk() < 1e-3, "jerk {}", ph.jerk());
                    assert!(ph.curvature() < 1e-9);
                    checked += 1;
                }
            },
        );
        assert!(checked > 50);
    }

    #[test]
    fn minimum_jerk_reach_peaks_at_1_875_d_over_t_at_half_time() {
        // x(τ) = D (10τ³ − 15τ⁴ + 6τ⁵), τ = t/T (Flash & Hogan 1985).
        let (d, t_total) = (600.0, 0.8);
        let f = |t: f64| {
            let tau = (t / t_total).clamp(0.0, 1.0);
            (
                100.0 + d * (10.0 * tau.powi(3) - 15.0 * tau.powi(4) + 6.0 * tau.powi(5)),
                300.0,
            )
        };
        let mut peak = (0.0f64, 0.0f64);
        drive(t_total, 7, f, |t, ph| {
            if ph.speed() > peak.0 {
                peak = (ph.speed(), t);
            }
        });
        let want = 1.875 * d / t_total;
        assert!(close(peak.0, want, 0.01), "peak {} want {want}", peak.0);
        // The velocity estimate is centred 16 ms behind the newest sample.
        let centre = peak.1 - 0.016;
        assert!((centre - t_total / 2.0).abs() < 0.02, "peak at {centre}");
    }

    #[test]
    fn uniform_circular_motion() {
        // Speed rω, centripetal acceleration rω², jerk rω³, curvature 1/r. Jittered sampling
        // makes the interpolated grid points fall on chords (sagitta ≤ 0.1 px here), which is
        // noise on the second and third differences, not bias: the means are tight, each
        // instant is within the noise band.
        let (r, w) = (150.0, std::f64::consts::TAU); // one turn per second
        let (mut n, mut sums) = (0.0, [0.0f64; 4]);
        drive(
            2.0,
            3,
            |t| (500.0 + r * (w * t).cos(), 400.0 + r * (w * t).sin()),
            |t, ph| {
                if t > 0.2 {
                    assert!(close(ph.speed(), r * w, 0.01), "speed {}", ph.speed());
                    assert!(close(ph.accel(), r * w * w, 0.06), "accel {}", ph.accel());
                    assert!(close(ph.jerk(), r * w * w * w, 0.25), "jerk {}", ph.jerk());
                    assert!(close(ph.curvature(), 1.0 / r, 0.06), "κ {}", ph.curvature());
                    n += 1.0;
                    for (s, v) in
                        sums.iter_mut()
                            .zip([ph.speed(), ph.accel(), ph.jerk(), ph.curvature()])
                    {
                        *s += v;
                    }
                }
            },
        );
        assert!(n > 100.0);
        let want = [r * w, r * w * w, r * w * w * w, 1.0 / r];
        for (i, (s, w)) in sums.iter().zip(want).enumerate() {
            assert!(
                close(s / n, w, 0.01),
                "mean of measure {i}: {} want {w}",
                s / n
            );
        }
    }

    #[test]
    fn random_walk_has_high_entropy_and_a_straight_line_near_zero() {
        let mut rng = Rng::new(42);
        let mut walk = Physics::new();
        let (mut x, mut y) = (500.0, 500.0);
        for i in 0..400 {
            let a = rng.next_f64() * std::f64::consts::TAU;
            x += 6.0 * a.cos();
            y += 6.0 * a.sin();
            walk.push(i * 8_000, x, y, |_| {});
        }
        assert!(walk.entropy() > 0.8, "walk entropy {}", walk.entropy());
        assert!(
            walk.efficiency() < 0.5,
            "walk efficiency {}",
            walk.efficiency()
        );

        let line = drive(1.0, 5, |t| (10.0 + 700.0 * t, 20.0 + 150.0 * t), |_, _| {});
        assert!(line.entropy() < 0.05, "line entropy {}", line.entropy());
        assert!(
            line.efficiency() > 0.999,
            "line efficiency {}",
            line.efficiency()
        );
    }

    #[test]
    fn integer_pixels_and_jitter_keep_a_straight_reach_plausible() {
        // Real browsers report integer CSS px: quantisation must not explode the estimates.
        let ph = drive(
            1.0,
            9,
            |t| ((10.0 + 400.0 * t).round(), (50.0 + 100.0 * t).round()),
            |_, _| {},
        );
        assert!(close(ph.speed(), 412.3, 0.1), "speed {}", ph.speed());
        assert!(ph.accel() < 3_000.0, "accel {}", ph.accel());
        assert!(ph.entropy() < 0.5, "entropy {}", ph.entropy());
    }

    #[test]
    fn a_long_gap_is_a_rest_not_slow_motion() {
        let mut ph = Physics::new();
        for i in 0..20 {
            ph.push(i * 8_000, f64::from(i as i32) * 4.0, 0.0, |_| {});
        }
        // 2 s later the pointer is somewhere else: no interpolated creep across the gap.
        let mut grid = 0;
        ph.push(2_160_000, 900.0, 900.0, |_| grid += 1);
        assert_eq!(grid, 0);
        assert_eq!(ph.speed(), 0.0);
        // A clock step backwards restarts the estimator instead of producing negative dt.
        ph.push(1_000_000, 901.0, 900.0, |_| grid += 1);
        assert_eq!(grid, 0);
    }

    #[test]
    fn dwell_counts_time_without_displacement() {
        let mut ph = Physics::new();
        ph.push(0, 100.0, 100.0, |_| {});
        ph.push(50_000, 101.0, 100.0, |_| {}); // 1 px: still
        assert_eq!(ph.dwell_ms(1_500_000), 1500.0);
        ph.push(1_600_000, 140.0, 100.0, |_| {});
        assert_eq!(ph.dwell_ms(1_700_000), 100.0);
    }

    #[test]
    fn octants_and_turn_bins() {
        for (deg, want) in [
            (10.0, 0),
            (50.0, 1),
            (100.0, 2),
            (150.0, 3),
            (190.0, 4),
            (240.0, 5),
            (280.0, 6),
            (330.0, 7),
        ] {
            let r: f64 = f64::to_radians(deg);
            assert_eq!(octant(r.cos(), r.sin()), want, "{deg}°");
        }
        // Turning by θ lands in bin round(θ / 45°) mod 8.
        for (turn_deg, want) in [
            (0.0, 0),
            (20.0, 0),
            (-20.0, 0),
            (45.0, 1),
            (90.0, 2),
            (180.0, 4),
            (-90.0, 6),
            (-45.0, 7),
        ] {
            let mut ph = Physics::new();
            let r: f64 = f64::to_radians(turn_deg);
            ph.push(0, 0.0, 0.0, |_| {});
            ph.push(8_000, 10.0, 0.0, |_| {});
            ph.push(16_000, 10.0 + 10.0 * r.cos(), 10.0 * r.sin(), |_| {});
            assert_eq!(ph.bins[want], 1, "turn {turn_deg}°: {:?}", ph.bins);
        }
    }

    #[test]
    fn incremental_entropy_equals_the_direct_formula() {
        let mut rng = Rng::new(5);
        let mut ph = Physics::new();
        let (mut x, mut y) = (0.0, 0.0);
        for i in 0..300 {
            let a = rng.next_f64() * 2.0;
            x += 5.0 * a.cos();
            y += 5.0 * a.sin();
            ph.push(i * 8_000, x, y, |_| {});
            let n = ph.n_turns.min(WINDOW) as f64;
            if n >= 2.0 {
                let direct: f64 = ph
                    .bins
                    .iter()
                    .filter(|c| **c > 0)
                    .map(|c| {
                        let p = f64::from(*c) / n;
                        -p * p.ln()
                    })
                    .sum::<f64>()
                    / (BINS as f64).ln();
                assert!(
                    (ph.entropy() - direct).abs() < 1e-9,
                    "{} vs {direct}",
                    ph.entropy()
                );
            }
        }
    }

    #[test]
    fn work_per_sample_is_bounded() {
        // However far apart two samples are, at most MAX_GAP_US / GRID_US grid points follow.
        let mut ph = Physics::new();
        ph.push(0, 0.0, 0.0, |_| {});
        let mut grid = 0;
        ph.push(MAX_GAP_US, 10.0, 0.0, |_| grid += 1);
        assert!(grid <= (MAX_GAP_US / GRID_US) as usize);
    }
}
