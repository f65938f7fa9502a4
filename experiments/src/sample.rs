//! Variates for Thompson sampling, drawn from [`Rng`] only: standard normal, gamma, beta.
//!
//! No state is cached between calls (the polar method's second variate is discarded), so a
//! recorded [`crate::RngState`] alone replays a draw. The functions use `ln` and `sqrt`; `sqrt`
//! is correctly rounded everywhere, `ln` comes from the platform's libm, so bit-exact replay is
//! guaranteed on the same platform (a different libm may differ in the last bit of a draw).

use crate::rng::Rng;

/// A standard normal variate by Marsaglia's polar method (Marsaglia & Bray, "A convenient
/// method for generating normal variables", SIAM Review 6(3), 1964): accept a point uniform in
/// the unit disc (probability π/4), return x·√(−2 ln s / s).
pub fn standard_normal(rng: &mut Rng) -> f64 {
    loop {
        let x = 2.0 * rng.uniform() - 1.0;
        let y = 2.0 * rng.uniform() - 1.0;
        let s = x * x + y * y;
        if s > 0.0 && s < 1.0 {
            return x * (-2.0 * s.ln() / s).sqrt();
        }
    }
}

/// A Gamma(shape, 1) variate for shape > 0, by Marsaglia & Tsang, "A simple method for
/// generating gamma variables", ACM TOMS 26(3), 2000: d = shape − ⅓, c = 1/√(9d); draw
/// x ~ N(0, 1), v = (1 + cx)³; accept d·v if u < 1 − 0.0331x⁴ (the squeeze) or
/// ln u < x²/2 + d(1 − v + ln v). Acceptance is ≥ 95 % for shape ≥ 1 (their Table 1).
/// Shapes below 1 use their boost: Gamma(shape + 1) · U^(1/shape).
///
/// A non-positive or non-finite shape returns NaN (it is never called with one: Beta
/// parameters here are 1 + a count).
pub fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape.is_nan() || shape <= 0.0 || shape.is_infinite() {
        return f64::NAN;
    }
    if shape < 1.0 {
        let g = gamma(rng, shape + 1.0);
        return g * rng.uniform_open().powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = standard_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = rng.uniform_open();
        let x2 = x * x;
        if u < 1.0 - 0.0331 * x2 * x2 {
            return d * v;
        }
        if u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

/// A Beta(a, b) variate as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (Devroye,
/// *Non-Uniform Random Variate Generation*, 1986, ch. IX.4). Both gammas are always drawn, in
/// the order a then b, so the number of generator steps depends only on the acceptances.
pub fn beta(rng: &mut Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample mean, variance, and the third and fourth central moments.
    fn moments(xs: &[f64]) -> (f64, f64, f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
        for &x in xs {
            let d = x - mean;
            m2 += d * d;
            m3 += d * d * d;
            m4 += d * d * d * d;
        }
        (mean, m2 / (n - 1.0), m3 / n, m4 / n)
    }

    /// Checks the sample mean and variance against theory. The tolerance is 5 standard errors:
    /// SE(mean) = σ/√n and SE(s²) = σ²√(2/(n−1) + κ/n) with κ the excess kurtosis (Cramér,
    /// *Mathematical Methods of Statistics*, 1946, ch. 27). The seeds are fixed, so a pass is
    /// reproducible; 5 SE makes an unlucky seed a 1-in-10⁶ event.
    fn check_mean_var(xs: &[f64], mean: f64, var: f64, kurt: f64, what: &str) {
        let n = xs.len() as f64;
        let (m, v, _, _) = moments(xs);
        let se_m = (var / n).sqrt();
        let se_v = var * (2.0 / (n - 1.0) + kurt / n).sqrt();
        assert!(
            (m - mean).abs() < 5.0 * se_m,
            "{what}: mean {m} vs {mean} (se {se_m})"
        );
        assert!(
            (v - var).abs() < 5.0 * se_v,
            "{what}: var {v} vs {var} (se {se_v})"
        );
    }

    #[test]
    fn normal_has_mean_0_variance_1_skew_0_kurtosis_3() {
        let mut rng = Rng::seed_from_u64(11);
        let xs: Vec<f64> = (0..200_000).map(|_| standard_normal(&mut rng)).collect();
        check_mean_var(&xs, 0.0, 1.0, 0.0, "normal");
        let (_, _, m3, m4) = moments(&xs);
        let n = xs.len() as f64;
        // SE of the skewness ≈ √(6/n), of the kurtosis ≈ √(24/n).
        assert!(m3.abs() < 5.0 * (6.0 / n).sqrt(), "skew {m3}");
        assert!((m4 - 3.0).abs() < 5.0 * (24.0 / n).sqrt(), "kurtosis {m4}");
    }

    #[test]
    fn gamma_matches_theory_across_shapes() {
        // Gamma(k, 1): mean k, variance k, excess kurtosis 6/k.
        let mut rng = Rng::seed_from_u64(12);
        for k in [0.3, 1.0, 2.5, 30.0, 5000.0] {
            let xs: Vec<f64> = (0..100_000).map(|_| gamma(&mut rng, k)).collect();
            assert!(xs.iter().all(|x| *x >= 0.0 && x.is_finite()));
            check_mean_var(&xs, k, k, 6.0 / k, &format!("gamma({k})"));
        }
        assert!(gamma(&mut rng, 0.0).is_nan());
        assert!(gamma(&mut rng, -1.0).is_nan());
        assert!(gamma(&mut rng, f64::NAN).is_nan());
    }

    #[test]
    fn beta_matches_theory_across_parameters() {
        let mut rng = Rng::seed_from_u64(13);
        for (a, b) in [
            (1.0, 1.0),
            (2.0, 5.0),
            (6.0, 95.0),
            (51.0, 951.0),
            (5001.0, 95001.0),
        ] {
            let xs: Vec<f64> = (0..100_000).map(|_| beta(&mut rng, a, b)).collect();
            assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
            let s = a + b;
            let mean = a / s;
            let var = a * b / (s * s * (s + 1.0));
            let kurt = 6.0 * ((a - b).powi(2) * (s + 1.0) - a * b * (s + 2.0))
                / (a * b * (s + 2.0) * (s + 3.0));
            check_mean_var(&xs, mean, var, kurt, &format!("beta({a}, {b})"));
        }
    }

    #[test]
    fn beta_passes_kolmogorov_smirnov_against_the_exact_cdf() {
        // D_n = sup |F_n − F|; P(√n·D_n > 1.95) ≈ 0.001 (Kolmogorov's limit distribution).
        let mut rng = Rng::seed_from_u64(14);
        for (a, b) in [(1.0, 1.0), (3.0, 40.0), (60.0, 940.0)] {
            let n = 20_000;
            let mut xs: Vec<f64> = (0..n).map(|_| beta(&mut rng, a, b)).collect();
            xs.sort_by(f64::total_cmp);
            let mut d = 0.0f64;
            for (i, &x) in xs.iter().enumerate() {
                let f = crate::special::reg_inc_beta(a, b, x);
                let lo = i as f64 / n as f64;
                let hi = (i + 1) as f64 / n as f64;
                d = d.max((f - lo).abs()).max((hi - f).abs());
            }
            let stat = d * (n as f64).sqrt();
            assert!(stat < 1.95, "beta({a}, {b}): √n·D = {stat}");
        }
    }

    #[test]
    fn draws_replay_from_the_recorded_state() {
        let mut rng = Rng::seed_from_u64(15);
        let state = rng.state();
        let first: Vec<f64> = (0..50).map(|_| beta(&mut rng, 3.0, 17.0)).collect();
        let mut again = Rng::from_state(state).expect("nonzero");
        let second: Vec<f64> = (0..50).map(|_| beta(&mut again, 3.0, 17.0)).collect();
        assert_eq!(first, second);
    }
}
