//! Deterministic interval estimates and tests, from counts alone (no randomness).
//!
//! - a proportion: Wilson's score interval (Wilson, "Probable inference, the law of succession,
//!   and statistical inference", JASA 22, 1927), recommended over the Wald interval by Brown, Cai
//!   & DasGupta, "Interval estimation for a binomial proportion", Statistical Science 16, 2001;
//! - a difference of proportions: Newcombe's hybrid score interval, method 10 of Newcombe,
//!   "Interval estimation for the difference between independent proportions: comparison of
//!   eleven methods", Statistics in Medicine 17, 1998;
//! - a mean and a difference of means: Student's t and Welch's interval with the
//!   Welch–Satterthwaite degrees of freedom (Welch, "The generalization of Student's problem
//!   when several different population variances are involved", Biometrika 34, 1947), from
//!   exact integer sums and sums of squares;
//! - sample-ratio mismatch: Pearson's chi-square goodness of fit with one degree of freedom.

use serde::{Deserialize, Serialize};

use crate::special::{Z95, beta_ln_pdf, chi2_1_sf, reg_inc_beta, t975};

/// A point estimate with a 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub point: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Estimate {
    /// Whether `x` lies in the closed interval.
    pub fn covers(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    /// The estimate and interval multiplied by `k` ≥ 0 (e.g. a per-session uplift times the
    /// sessions it applies to).
    pub fn scale(&self, k: f64) -> Estimate {
        Estimate {
            point: self.point * k,
            lo: self.lo * k,
            hi: self.hi * k,
        }
    }
}

/// Wilson's score interval for `successes` of `n` at normal quantile `z`; `None` when n = 0.
/// Successes above n are taken as n.
pub fn wilson_z(successes: u64, n: u64, z: f64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let p = successes.min(n) as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let center = (p + z2 / (2.0 * nf)) / denom;
    let half = z / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // At p = 0 (or 1) the lower (upper) limit is 0 (1) exactly; rounding could leave ±1e-17.
    let lo = if successes == 0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let hi = if successes >= n {
        1.0
    } else {
        (center + half).min(1.0)
    };
    Some(Estimate { point: p, lo, hi })
}

/// [`wilson_z`] at 95 %.
pub fn wilson(successes: u64, n: u64) -> Option<Estimate> {
    wilson_z(successes, n, Z95)
}

/// Newcombe's method 10 for p₁ − p₂: with Wilson limits (l₁, u₁) and (l₂, u₂),
/// [d − √((p₁ − l₁)² + (u₂ − p₂)²), d + √((u₁ − p₁)² + (p₂ − l₂)²)]. `None` when either n is 0.
pub fn newcombe_z(s1: u64, n1: u64, s2: u64, n2: u64, z: f64) -> Option<Estimate> {
    let a = wilson_z(s1, n1, z)?;
    let b = wilson_z(s2, n2, z)?;
    let d = a.point - b.point;
    let delta = ((a.point - a.lo).powi(2) + (b.hi - b.point).powi(2)).sqrt();
    let eps = ((a.hi - a.point).powi(2) + (b.point - b.lo).powi(2)).sqrt();
    Some(Estimate {
        point: d,
        lo: (d - delta).max(-1.0),
        hi: (d + eps).min(1.0),
    })
}

/// [`newcombe_z`] at 95 %.
pub fn newcombe(s1: u64, n1: u64, s2: u64, n2: u64) -> Option<Estimate> {
    newcombe_z(s1, n1, s2, n2, Z95)
}

/// Exact power sums of a sample of integers: n, Σx, Σx² and Σx³.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Moments {
    pub n: u64,
    pub sum: u64,
    pub sum_sq: u128,
    pub sum_cube: u128,
}

impl Moments {
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum as f64 / self.n as f64)
    }

    /// The unbiased sample variance, computed as (nΣx² − (Σx)²) / (n(n − 1)) with the
    /// numerator in exact integer arithmetic (no cancellation); `None` for n < 2. If nΣx²
    /// overflows u128 (beyond any real experiment) the numerator is computed in f64.
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = u128::from(self.n);
        let s = u128::from(self.sum);
        let num = match (n.checked_mul(self.sum_sq), s.checked_mul(s)) {
            // Σx² ≥ (Σx)²/n for consistent data; inconsistent (partial) counts clamp at 0.
            (Some(nq), Some(s2)) => nq.saturating_sub(s2) as f64,
            _ => (n as f64 * self.sum_sq as f64 - (s as f64).powi(2)).max(0.0),
        };
        let nf = self.n as f64;
        Some(num / (nf * (nf - 1.0)))
    }

    /// The unbiased estimate k₃ of the third cumulant, n/((n − 1)(n − 2)) · Σ(x − x̄)³ with
    /// Σ(x − x̄)³ = Σx³ − 3 Σx Σx² / n + 2 (Σx)³ / n² (Cramér, *Mathematical Methods of Statistics*, 1946, ch. 27); `None` for n < 3.
    /// In f64: it only gates claims, and for the skewed samples where it matters Σx³ dominates.
    pub fn k3(&self) -> Option<f64> {
        if self.n < 3 {
            return None;
        }
        let n = self.n as f64;
        let (s1, s2, s3) = (self.sum as f64, self.sum_sq as f64, self.sum_cube as f64);
        let m3 = s3 - 3.0 * s1 * s2 / n + 2.0 * s1 * s1 * s1 / (n * n);
        Some(n / ((n - 1.0) * (n - 2.0)) * m3)
    }
}

/// A mean or a difference of means with its 95 % t interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TEstimate {
    pub estimate: Estimate,
    /// Standard error of the point estimate.
    pub se: f64,
    /// Degrees of freedom of the t quantile (n − 1, or Welch–Satterthwaite); infinite when
    /// both samples are constant. JSON has no infinity: it is written as the string `"inf"`.
    #[serde(with = "df_text")]
    pub df: f64,
    /// Estimated skewness of the point estimate's sampling distribution (κ₃ / se³ from the
    /// samples' k₃); `None` below 3 sessions in a group or with se = 0. The t interval assumes
    /// it is near 0: see [`crate::forensics::MAX_CLAIM_SKEWNESS`].
    pub skewness: Option<f64>,
}

/// `df` in JSON: a number, or `"inf"` (JSON numbers cannot be infinite, and serde_json would
/// write `null`, which no reader could take back as a number).
mod df_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else if *x > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("nan")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Df {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Df::deserialize(d)? {
            Df::Number(x) => Ok(x),
            Df::Text(t) if t == "inf" => Ok(f64::INFINITY),
            Df::Text(t) if t == "nan" => Ok(f64::NAN),
            Df::Text(t) => Err(serde::de::Error::custom(format!(
                "df `{t}`: a number, \"inf\" or \"nan\""
            ))),
        }
    }
}

/// The mean with its t interval on n − 1 degrees of freedom; `None` for n < 2.
pub fn mean_interval(m: &Moments) -> Option<TEstimate> {
    let mean = m.mean()?;
    let var = m.variance()?;
    let se = (var / m.n as f64).sqrt();
    let df = (m.n - 1) as f64;
    let half = t975(df) * se;
    let n = m.n as f64;
    let skewness = m
        .k3()
        .filter(|_| se > 0.0)
        .map(|k3| k3 / (n * n) / se.powi(3));
    Some(TEstimate {
        estimate: Estimate {
            point: mean,
            lo: mean - half,
            hi: mean + half,
        },
        se,
        df,
        skewness,
    })
}

/// Welch's interval for mean(a) − mean(b): se² = s²ₐ/nₐ + s²_b/n_b and
/// df = se⁴ / ((s²ₐ/nₐ)²/(nₐ − 1) + (s²_b/n_b)²/(n_b − 1)). `None` when either n < 2. When
/// both samples are constant (se = 0) the interval is the point and df is infinite.
pub fn welch(a: &Moments, b: &Moments) -> Option<TEstimate> {
    let (ma, mb) = (a.mean()?, b.mean()?);
    let (va, vb) = (a.variance()?, b.variance()?);
    let (na, nb) = (a.n as f64, b.n as f64);
    let (wa, wb) = (va / na, vb / nb);
    let se2 = wa + wb;
    let d = ma - mb;
    if se2 == 0.0 {
        return Some(TEstimate {
            estimate: Estimate {
                point: d,
                lo: d,
                hi: d,
            },
            se: 0.0,
            df: f64::INFINITY,
            skewness: None,
        });
    }
    let df = se2 * se2 / (wa * wa / (na - 1.0) + wb * wb / (nb - 1.0));
    let se = se2.sqrt();
    let half = t975(df) * se;
    // κ₃(x̄ₐ − x̄_b) = κ₃ₐ/nₐ² − κ₃_b/n_b² (cumulants of independent sums add).
    let skewness = match (a.k3(), b.k3()) {
        (Some(ka), Some(kb)) => Some((ka / (na * na) - kb / (nb * nb)) / se.powi(3)),
        _ => None,
    };
    Some(TEstimate {
        estimate: Estimate {
            point: d,
            lo: d - half,
            hi: d + half,
        },
        se,
        df,
        skewness,
    })
}

/// Welch's interval corrected for the skewness of the estimate by Hall's transformation
/// (Hall, "On the removal of skewness by transformation", JRSS B 54, 1992): with
/// T = (d̂ − d)/se and a = κ₃(d̂)/se³, g(T) = T + aT²/3 + a²T³/27 + a/6 is monotone and
/// removes the first-order (1/√n) skewness term of T's Edgeworth expansion, so
/// [d̂ − se·g⁻¹(q), d̂ − se·g⁻¹(−q)] with g⁻¹(y) = (3/a)((1 + a(y − a/6))^{1/3} − 1) has
/// one-sided errors correct to O(1/n) where Welch's are only O(1/√n). The expansion of the
/// two-sample studentized difference has the same form as the one-sample mean's because
/// cov(d̂, se²) = κ₃(d̂) in both. q is Welch's t quantile.
///
/// The result is the union of Hall's interval and Welch's: where the true skewness is ≈ 0 (e.g.
/// equal groups from one distribution) the estimated a is noise and Hall's shift alone loses
/// coverage (92.7 % in the balanced A/A of `examples/report.rs`); the union never covers less
/// than either. Without a skewness estimate (a group below 3 sessions) or with a = 0 it is
/// Welch's interval.
pub fn welch_skew_corrected(a: &Moments, b: &Moments) -> Option<TEstimate> {
    let w = welch(a, b)?;
    let g = match w.skewness {
        Some(g) if g != 0.0 && g.is_finite() && w.se > 0.0 => g,
        _ => return Some(w),
    };
    let q = t975(w.df);
    let inv = |y: f64| 3.0 / g * ((1.0 + g * (y - g / 6.0)).cbrt() - 1.0);
    let d = w.estimate.point;
    Some(TEstimate {
        estimate: Estimate {
            point: d,
            lo: (d - w.se * inv(q)).min(w.estimate.lo),
            hi: (d - w.se * inv(-q)).max(w.estimate.hi),
        },
        ..w
    })
}

/// Alert when the sample-ratio-mismatch p-value is below this: issue 17. (Fabijan et al.,
/// "Diagnosing sample ratio mismatch in online controlled experiments", KDD 2019, use 0.0005 on
/// Microsoft's platform; 0.001 alerts a little more readily.)
pub const SRM_ALERT_P: f64 = 0.001;

/// The chi-square approximation is trusted when every expected count is at least 5 (Cochran,
/// "Some methods for strengthening the common χ² tests", Biometrics 10, 1954).
pub const SRM_MIN_EXPECTED: f64 = 5.0;

/// Result of the sample-ratio-mismatch check of the holdout share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Srm {
    /// No holdout configured (share 0): nothing to check.
    NoHoldout,
    /// An expected count is below [`SRM_MIN_EXPECTED`].
    TooFewSessions {
        sessions: u64,
    },
    Checked(SrmCheck),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SrmCheck {
    pub holdout_sessions: u64,
    pub total_sessions: u64,
    pub expected_share: f64,
    pub observed_share: f64,
    pub chi2: f64,
    /// P(χ²₁ ≥ chi2) = erfc(√(chi2/2)).
    pub p_value: f64,
    /// `p_value < SRM_ALERT_P`.
    pub alert: bool,
}

/// Pearson's goodness-of-fit test of `holdout` of `total` sessions against the configured
/// `share`: χ² = (O_h − E_h)²/E_h + (O_t − E_t)²/E_t = (O_h − sN)² / (N s (1 − s)), one degree of
/// freedom.
pub fn srm(holdout: u64, total: u64, share: f64) -> Srm {
    if share <= 0.0 {
        return Srm::NoHoldout;
    }
    let n = total as f64;
    let (eh, et) = (share * n, (1.0 - share) * n);
    if eh < SRM_MIN_EXPECTED || et < SRM_MIN_EXPECTED {
        return Srm::TooFewSessions { sessions: total };
    }
    let diff = holdout as f64 - eh;
    let chi2 = diff * diff / (n * share * (1.0 - share));
    let p_value = chi2_1_sf(chi2);
    Srm::Checked(SrmCheck {
        holdout_sessions: holdout,
        total_sessions: total,
        expected_share: share,
        observed_share: holdout as f64 / n,
        chi2,
        p_value,
        alert: p_value < SRM_ALERT_P,
    })
}

/// Grid points of [`prob_best`] per standard deviation of the narrowest posterior: the
/// midpoint rule's error is O((h/σ)²) (Davis & Rabinowitz, *Methods of Numerical Integration*,
/// 2nd ed., 1984, ch. 2), below 10⁻⁵ at 40 points per σ (checked against the closed form in the tests).
const PROB_BEST_POINTS_PER_SD: f64 = 40.0;
/// Bounds of the grid size: the minimum resolves wide posteriors, the maximum bounds the work
/// (points × arms incomplete-beta evaluations).
const PROB_BEST_MIN_POINTS: usize = 4_000;
const PROB_BEST_MAX_POINTS: usize = 400_000;
/// The grid spans each posterior's mean ± 15 σ (clipped to [0, 1]); beyond that a Beta's mass
/// is far below the rule's error.
const PROB_BEST_SPAN_SD: f64 = 15.0;

/// P(arm i has the largest rate) under independent Beta(αᵢ, βᵢ) posteriors:
/// ∫ fᵢ(x) Πⱼ≠ᵢ Fⱼ(x) dx by the midpoint rule on a grid that resolves the narrowest posterior,
/// with exact Beta CDFs ([`reg_inc_beta`]). Deterministic (no Monte Carlo). Not for the hot
/// path: a report computes it once. Empty input gives an empty result.
pub fn prob_best(params: &[(f64, f64)]) -> Vec<f64> {
    let k = params.len();
    let mut out = vec![0.0; k];
    if k == 0 {
        return out;
    }
    if k == 1 {
        out[0] = 1.0;
        return out;
    }
    let (mut lo, mut hi, mut min_sd) = (1.0f64, 0.0f64, f64::INFINITY);
    for &(a, b) in params {
        let s = a + b;
        let mean = a / s;
        let sd = (a * b / (s * s * (s + 1.0))).sqrt();
        lo = lo.min(mean - PROB_BEST_SPAN_SD * sd);
        hi = hi.max(mean + PROB_BEST_SPAN_SD * sd);
        min_sd = min_sd.min(sd);
    }
    let (lo, hi) = (lo.max(0.0), hi.min(1.0));
    let points = ((hi - lo) / min_sd * PROB_BEST_POINTS_PER_SD).ceil();
    let points = if points.is_finite() {
        (points as usize).clamp(PROB_BEST_MIN_POINTS, PROB_BEST_MAX_POINTS)
    } else {
        PROB_BEST_MAX_POINTS
    };
    let h = (hi - lo) / points as f64;
    let mut cdf = vec![0.0; k];
    let mut pdf = vec![0.0; k];
    for m in 0..points {
        let x = lo + (m as f64 + 0.5) * h;
        for (j, &(a, b)) in params.iter().enumerate() {
            cdf[j] = reg_inc_beta(a, b, x);
            pdf[j] = beta_ln_pdf(a, b, x).exp();
        }
        for i in 0..k {
            let mut prod = pdf[i];
            for (j, c) in cdf.iter().enumerate() {
                if j != i {
                    prod *= c;
                }
            }
            out[i] += prod * h;
        }
    }
    out
}

/// Sum of account values (cents) behind the detections that qualified for the experiment:
/// the money at risk. Saturating, so a hostile value cannot wrap it.
pub fn value_at_risk(values_cents: impl IntoIterator<Item = i64>) -> i64 {
    values_cents
        .into_iter()
        .fold(0i64, |acc, v| acc.saturating_add(v.max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) {
        assert!((got - want).abs() < tol, "{got} is not {want} ± {tol}");
    }

    #[test]
    fn wilson_matches_newcombe_1998_table_i() {
        // Newcombe, "Two-sided confidence intervals for the single proportion: comparison of
        // seven methods", Statistics in Medicine 17, 1998, Table I, method 3 (4 decimals).
        for (x, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let w = wilson(x, n).expect("n > 0");
            close(w.lo, lo, 5e-5);
            close(w.hi, hi, 5e-5);
        }
        assert_eq!(wilson(0, 0), None);
        assert_eq!(wilson(5, 5).map(|w| w.hi), Some(1.0));
        assert_eq!(wilson(7, 5), wilson(5, 5));
    }

    #[test]
    fn newcombe_matches_newcombe_1998_table_ii_method_10() {
        // Newcombe 1998 (eleven methods), Table II, method 10. The paper's z is 1.959964: z = 1.96
        // misses row (c)'s upper limit in the 4th decimal (0.80625), Z95 matches all rows.
        for (s1, n1, s2, n2, lo, hi) in [
            (56, 70, 48, 80, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.1705, 0.8090),
            (6, 7, 2, 7, 0.0582, 0.8062),
            (5, 56, 0, 29, -0.0381, 0.1926),
            (0, 10, 0, 20, -0.1611, 0.2775),
            (0, 10, 0, 10, -0.2775, 0.2775),
            (10, 10, 0, 20, 0.6791, 1.0),
            (10, 10, 0, 10, 0.6075, 1.0),
        ] {
            let d = newcombe(s1, n1, s2, n2).expect("n > 0");
            close(d.lo, lo, 5e-5);
            close(d.hi, hi, 5e-5);
        }
        assert_eq!(newcombe(1, 1, 0, 0), None);
    }

    #[test]
    fn moments_variance_is_exact_from_integer_sums() {
        let xs: [u64; 6] = [0, 0, 1999, 0, 5000, 123];
        let m = Moments {
            n: xs.len() as u64,
            sum: xs.iter().sum(),
            sum_sq: xs.iter().map(|&x| u128::from(x).pow(2)).sum(),
            sum_cube: xs.iter().map(|&x| u128::from(x).pow(3)).sum(),
        };
        let mean = m.mean().expect("n > 0");
        let two_pass = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 5.0;
        close(m.variance().expect("n ≥ 2"), two_pass, 1e-6);
        // k₃ = n/((n−1)(n−2)) Σ(x − x̄)³, two-pass.
        let m3 = xs.iter().map(|&x| (x as f64 - mean).powi(3)).sum::<f64>();
        let k3 = 6.0 / (5.0 * 4.0) * m3;
        assert!((m.k3().expect("n ≥ 3") / k3 - 1.0).abs() < 1e-9);
        // Huge and nearly constant values: the f64 formula would cancel, the integer one does not.
        let big = 4_000_000_000u64;
        let m = Moments {
            n: 2,
            sum: 2 * big + 1,
            sum_sq: u128::from(big).pow(2) + u128::from(big + 1).pow(2),
            sum_cube: 0,
        };
        assert_eq!(m.variance(), Some(0.5));
        assert_eq!(
            Moments {
                n: 1,
                sum: 5,
                sum_sq: 25,
                sum_cube: 125
            }
            .variance(),
            None
        );
    }

    #[test]
    fn welch_matches_a_hand_computation() {
        // a: 1, 2, 3, 4 (mean 2.5, s² 5/3); b: 2, 4, 6, 8, 10, 12 (mean 7, s² 14).
        let a = Moments {
            n: 4,
            sum: 10,
            sum_sq: 30,
            sum_cube: 100,
        };
        let b = Moments {
            n: 6,
            sum: 42,
            sum_sq: 364,
            sum_cube: 3528,
        };
        let w = welch(&a, &b).expect("n ≥ 2");
        let (wa, wb) = (5.0 / 3.0 / 4.0, 14.0 / 6.0);
        let se2: f64 = wa + wb;
        let df = se2 * se2 / (wa * wa / 3.0 + wb * wb / 5.0);
        close(w.df, df, 1e-12);
        close(w.estimate.point, -4.5, 1e-12);
        close(
            w.estimate.hi - w.estimate.point,
            t975(df) * se2.sqrt(),
            1e-12,
        );
        // Both samples are symmetric (k₃ = 0): the difference is not skewed.
        close(w.skewness.expect("n ≥ 3"), 0.0, 1e-9);
        // Constant samples: a point interval.
        let c = Moments::default();
        let c = Moments { n: 3, ..c };
        let z = welch(&c, &c).expect("n ≥ 2");
        assert_eq!((z.estimate.lo, z.estimate.hi, z.se), (0.0, 0.0, 0.0));
        assert_eq!(
            welch(
                &Moments {
                    n: 1,
                    sum: 1,
                    sum_sq: 1,
                    sum_cube: 1
                },
                &c
            ),
            None
        );
    }

    #[test]
    fn srm_p_value_and_alert_threshold() {
        // 10 000 sessions at 10 %: expected 1000, sd √(10⁴·0.1·0.9) = 30.
        let Srm::Checked(ok) = srm(1000, 10_000, 0.1) else {
            panic!("checked");
        };
        assert_eq!((ok.chi2, ok.p_value, ok.alert), (0.0, 1.0, false));
        // 1100 held out is 3.33 sd: χ² = 11.11, p = 0.00086 → alert; 1090 is 3 sd: p = 0.0027.
        let Srm::Checked(bad) = srm(1100, 10_000, 0.1) else {
            panic!("checked");
        };
        close(bad.chi2, 100.0 * 100.0 / 900.0, 1e-9);
        close(bad.p_value, 8.581e-4, 1e-6);
        assert!(bad.alert);
        let Srm::Checked(edge) = srm(1090, 10_000, 0.1) else {
            panic!("checked");
        };
        close(edge.p_value, 0.0027, 1e-4);
        assert!(!edge.alert);
        assert_eq!(srm(0, 10, 0.0), Srm::NoHoldout);
        // Expected holdout count at 49 sessions × 10 % = 4.9 < 5: too few; at 50 it is 5.
        assert_eq!(srm(5, 49, 0.1), Srm::TooFewSessions { sessions: 49 });
        assert!(matches!(srm(5, 50, 0.1), Srm::Checked(_)));
        assert!(matches!(srm(5, 51, 0.1), Srm::Checked(_)));
    }

    /// P(θ_B > θ_A) for integer Beta parameters in closed form (Evan Miller, "Formulas for
    /// Bayesian A/B testing", 2015; Cook, "Exact calculation of beta inequalities", 2005):
    /// Σ_{i=0}^{α_B−1} B(α_A + i, β_A + β_B) / ((β_B + i) B(1 + i, β_B) B(α_A, β_A)).
    fn p_b_beats_a(aa: u32, ba: u32, ab: u32, bb: u32) -> f64 {
        use crate::special::ln_beta;
        let (aa, ba, bb) = (f64::from(aa), f64::from(ba), f64::from(bb));
        (0..ab)
            .map(|i| {
                let i = f64::from(i);
                (ln_beta(aa + i, ba + bb) - (bb + i).ln() - ln_beta(1.0 + i, bb) - ln_beta(aa, ba))
                    .exp()
            })
            .sum()
    }

    #[test]
    fn prob_best_matches_the_closed_form_for_two_arms() {
        for (aa, ba, ab, bb) in [
            (1, 1, 1, 1),
            (3, 20, 5, 18),
            (11, 191, 16, 186),
            (51, 951, 61, 941),
        ] {
            let exact = p_b_beats_a(aa, ba, ab, bb);
            let p = prob_best(&[
                (f64::from(aa), f64::from(ba)),
                (f64::from(ab), f64::from(bb)),
            ]);
            close(p[1], exact, 1e-5);
            close(p[0] + p[1], 1.0, 1e-5);
        }
        assert_eq!(prob_best(&[]), Vec::<f64>::new());
        assert_eq!(prob_best(&[(2.0, 3.0)]), vec![1.0]);
    }

    #[test]
    fn value_at_risk_sums_and_saturates() {
        assert_eq!(value_at_risk([100, 250, -5]), 350);
        assert_eq!(value_at_risk([i64::MAX, 1]), i64::MAX);
    }
}
