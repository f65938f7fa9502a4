//! Special functions, implemented here so that the crate needs no numerics dependency. Each
//! cites its method and is tested against published values.

/// Φ⁻¹(0.975), the two-sided 95 % normal quantile, to double precision (√2·erf⁻¹(0.95),
/// computed with mpmath at 30 digits: 1.95996398454005424). Checked against [`erfc`] in the
/// tests.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The complementary error function erfc(x) = 1 − erf(x).
///
/// Chebyshev-fitted approximation `erfcc` of Press, Teukolsky, Vetterling & Flannery,
/// *Numerical Recipes in C*, 2nd ed. (1992), §6.2: fractional error below 1.2 × 10⁻⁷ for every
/// x (the tests check it against values of the exact function).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * (-z * z + poly).exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// The upper tail of the chi-square distribution with one degree of freedom:
/// P(χ²₁ ≥ x) = erfc(√(x / 2)) (χ²₁ is the square of a standard normal).
pub fn chi2_1_sf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    // erfc's approximation gives 1 + 3·10⁻⁸ at 0; a probability stays ≤ 1.
    erfc((x.max(0.0) / 2.0).sqrt()).min(1.0)
}

/// ln Γ(x) for x > 0: the Lanczos approximation with g = 5 and six coefficients of *Numerical
/// Recipes in C*, 2nd ed., §6.1 (`gammln`), absolute error below 2 × 10⁻¹⁰.
pub fn ln_gamma(x: f64) -> f64 {
    const COF: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let mut y = x;
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for c in COF {
        y += 1.0;
        ser += c / y;
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Iterations of the continued fraction in [`reg_inc_beta`]. It converges in
/// O(√max(a, b)) steps (*Numerical Recipes* §6.4), so 10 000 covers parameters up to ~10⁷,
/// far beyond any count the experiments reach before their intervals are decisive.
const BETACF_MAX_ITER: u32 = 10_000;

/// Continued fraction for the incomplete beta function by the modified Lentz method
/// (*Numerical Recipes in C*, 2nd ed., §6.4, `betacf`).
fn betacf(a: f64, b: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-15;
    const FPMIN: f64 = 1e-300;
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < FPMIN {
        d = FPMIN;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=BETACF_MAX_ITER {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b) (the Beta(a, b) CDF at x), for a, b > 0
/// (*Numerical Recipes in C*, 2nd ed., §6.4, `betai`: the continued fraction where it converges
/// fast, the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) elsewhere).
pub fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_bt = -ln_beta(a, b) + a * x.ln() + b * (-x).ln_1p();
    let bt = ln_bt.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        bt * betacf(a, b, x) / a
    } else {
        1.0 - bt * betacf(b, a, 1.0 - x) / b
    }
}

/// ln of the Beta(a, b) density at x in (0, 1).
pub fn beta_ln_pdf(a: f64, b: f64, x: f64) -> f64 {
    // (a − 1) ln x is 0 when a = 1, also at x → 0 (avoid 0 · −∞).
    let left = if a == 1.0 { 0.0 } else { (a - 1.0) * x.ln() };
    let right = if b == 1.0 {
        0.0
    } else {
        (b - 1.0) * (-x).ln_1p()
    };
    left + right - ln_beta(a, b)
}

/// The CDF of Student's t distribution with `df` > 0 degrees of freedom:
/// P(T ≤ t) = 1 − ½ I_{df/(df+t²)}(df/2, ½) for t ≥ 0 (Abramowitz & Stegun,
/// *Handbook of Mathematical Functions*, 1964, 26.7.1).
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * reg_inc_beta(df / 2.0, 0.5, x);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// Above this many degrees of freedom the t quantile is the normal one to better than 10⁻⁶
/// (t₀.₉₇₅ − z₀.₉₇₅ ≈ (z³ + z)/(4 df), Abramowitz & Stegun 26.7.5: 2.4 × 10⁻⁷ at 10⁷).
const T_NORMAL_DF: f64 = 1e7;

/// The 0.975 quantile of Student's t with `df` ≥ 1 degrees of freedom (smaller `df` is treated
/// as 1, the widest), by bisection on [`student_t_cdf`] to 10⁻¹² (deterministic: no starting
/// guess depends on anything but `df`). Welch intervals use it with the Welch–Satterthwaite
/// degrees of freedom.
pub fn t975(df: f64) -> f64 {
    if df.is_nan() || df >= T_NORMAL_DF {
        return Z95;
    }
    let df = df.max(1.0);
    // t₀.₉₇₅ decreases in df: 12.7062 at 1 (the Cauchy quantile tan(0.475π)), z at ∞.
    let (mut lo, mut hi) = (Z95, 12.71);
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < 0.975 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(got: f64, want: f64) -> f64 {
        ((got - want) / want).abs()
    }

    #[test]
    fn erfc_is_within_its_documented_error() {
        // Exact values (Abramowitz & Stegun Table 7.1; mpmath.erfc to 16 digits).
        let cases = [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (1.5, 0.033_894_853_524_689_27),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (4.0, 1.541_725_790_028_002e-8),
            (5.0, 1.537_459_794_428_035e-12),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (x, want) in cases {
            assert!(rel(erfc(x), want) < 1.2e-7, "erfc({x}) = {}", erfc(x));
        }
    }

    #[test]
    fn z95_is_the_975_normal_quantile() {
        let phi = 0.5 * erfc(-Z95 / std::f64::consts::SQRT_2);
        assert!((phi - 0.975).abs() < 1e-8, "{phi}");
    }

    #[test]
    fn chi2_tail_matches_the_table() {
        // χ²₁ critical values: 3.841459 (p = 0.05), 6.634897 (0.01), 10.827566 (0.001).
        for (x, p) in [(3.841_459, 0.05), (6.634_897, 0.01), (10.827_566, 0.001)] {
            assert!(rel(chi2_1_sf(x), p) < 2e-6, "{x}: {}", chi2_1_sf(x));
        }
        assert_eq!(chi2_1_sf(0.0), 1.0);
    }

    #[test]
    fn ln_gamma_matches_factorials_and_half_integers() {
        let mut fact = 1.0f64;
        for n in 1..30u32 {
            // Γ(n) = (n − 1)!
            assert!((ln_gamma(f64::from(n)) - fact.ln()).abs() < 1e-9, "{n}");
            fact *= f64::from(n);
        }
        // Γ(½) = √π
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-9);
    }

    #[test]
    fn incomplete_beta_matches_closed_forms() {
        // I_x(1, b) = 1 − (1 − x)^b; I_x(a, 1) = x^a; I_x(a, b) + I_{1−x}(b, a) = 1.
        for x in [0.01, 0.2, 0.5, 0.9] {
            for k in [1.0, 2.0, 7.5, 40.0] {
                assert!((reg_inc_beta(1.0, k, x) - (1.0 - (1.0 - x).powf(k))).abs() < 1e-12);
                assert!((reg_inc_beta(k, 1.0, x) - x.powf(k)).abs() < 1e-12);
                let s = reg_inc_beta(k, 3.0, x) + reg_inc_beta(3.0, k, 1.0 - x);
                assert!((s - 1.0).abs() < 1e-12);
            }
        }
        // Binomial identity: P(Bin(n, p) ≥ k) = I_p(k, n − k + 1).
        let (n, k, p) = (20u32, 7u32, 0.3f64);
        let mut tail = 0.0;
        for j in k..=n {
            let ln_c = ln_gamma(f64::from(n + 1))
                - ln_gamma(f64::from(j + 1))
                - ln_gamma(f64::from(n - j + 1));
            tail += (ln_c + f64::from(j) * p.ln() + f64::from(n - j) * (1.0 - p).ln()).exp();
        }
        let ib = reg_inc_beta(f64::from(k), f64::from(n - k + 1), p);
        assert!((ib - tail).abs() < 1e-10, "{ib} vs {tail}");
        // Large parameters (10⁵ sessions) converge: Beta(5001, 95001) at its mean is ≈ ½.
        let (a, b) = (5001.0, 95001.0);
        let mid = reg_inc_beta(a, b, a / (a + b));
        assert!((mid - 0.5).abs() < 0.01, "{mid}");
    }

    #[test]
    fn t_quantiles_match_the_table() {
        // Student t 0.975 quantiles (Fisher & Yates tables; computed with mpmath).
        let table = [
            (1.0, 12.706_204_736_174_7),
            (2.0, 4.302_652_729_749_46),
            (5.0, 2.570_581_835_636_31),
            (10.0, 2.228_138_851_986_27),
            (30.0, 2.042_272_456_301_24),
            (120.0, 1.979_930_405_082_44),
            (1e6, 1.959_966_356_814_1),
        ];
        for (df, want) in table {
            assert!(rel(t975(df), want) < 1e-7, "df {df}: {}", t975(df));
        }
        assert_eq!(t975(1e8), Z95);
        assert_eq!(t975(0.5), t975(1.0));
    }
}
