//! Exact tail probabilities for the shape judge and the calibration lab:
//! binomial and hypergeometric tails, the conditional Poisson rate test, and
//! the two-sample Kolmogorov-Smirnov distribution. Pure `f64`; every p-value
//! here is exact unless its documentation says "asymptotic".
//!
//! * [`binomial_sf`] / [`binomial_cdf`] — `P(X ≥ k)` / `P(X ≤ k)` for
//!   `X ~ Binomial(n, p)`, through the regularised incomplete beta function
//!   (`P(X ≥ k) = I_p(k, n − k + 1)`).
//! * [`hypergeom_sf`] — `P(X ≥ a)` for the number of marked items in a draw
//!   without replacement: the one-sided Fisher exact test of a 2×2 table.
//! * [`poisson_rate_test`] — the conditional test of two Poisson rates
//!   (Przyborowski and Wileński 1940): given `c + b` events, `c ~
//!   Binomial(c + b, e_c / (e_c + e_b))` under equal rates.
//! * [`ks_2samp`] — two-sample Kolmogorov-Smirnov `D`, `D+`, `D-` with the
//!   exact null distribution by lattice-path counting (Hodges 1957) while
//!   `n + m ≤ 1000`, the asymptotic Smirnov formulas past that.

/// `ln Γ(x)` for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function `I_x(a, b)`, by its continued
/// fraction (modified Lentz), using the symmetry `I_x(a,b) = 1 − I_{1−x}(b,a)`
/// where the fraction converges faster.
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-16;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
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

/// `P(X ≥ k)` for `X ~ Binomial(n, p)`.
pub fn binomial_sf(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    beta_inc(k as f64, (n - k + 1) as f64, p)
}

/// `P(X ≤ k)` for `X ~ Binomial(n, p)`.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    1.0 - binomial_sf(k + 1, n, p)
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// `P(X ≥ a)` where `X` is the number of marked items among `draws` taken
/// without replacement from `total` items of which `marked` are marked (the
/// one-sided Fisher exact test: `a` = marked items in the canary's row).
pub fn hypergeom_sf(a: u64, total: u64, marked: u64, draws: u64) -> f64 {
    let lo = (marked + draws).saturating_sub(total);
    let hi = marked.min(draws);
    if a <= lo {
        return 1.0;
    }
    if a > hi {
        return 0.0;
    }
    let denom = ln_choose(total, draws);
    let mut p = 0.0;
    for x in a..=hi {
        p += (ln_choose(marked, x) + ln_choose(total - marked, draws - x) - denom).exp();
    }
    p.min(1.0)
}

/// The conditional test of two Poisson rates: `canary` events over exposure
/// `e_canary` against `baseline` events over `e_baseline`. Returns the
/// one-sided p-values `(P(canary rate higher by chance), P(lower by chance))`:
/// `P(X ≥ c)` and `P(X ≤ c)` for `X ~ Binomial(c + b, e_c / (e_c + e_b))`.
pub fn poisson_rate_test(canary: u64, e_canary: f64, baseline: u64, e_baseline: f64) -> (f64, f64) {
    let n = canary + baseline;
    if n == 0 || !(e_canary > 0.0 && e_baseline > 0.0) {
        return (1.0, 1.0);
    }
    let p = e_canary / (e_canary + e_baseline);
    (binomial_sf(canary, n, p), binomial_cdf(canary, n, p))
}

/// Two-sample Kolmogorov-Smirnov statistics of `canary` against `baseline`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KolmogorovSmirnov {
    /// `max (F_baseline − F_canary)`: the canary is larger somewhere.
    pub d_plus: f64,
    /// `max (F_canary − F_baseline)`: the canary is smaller somewhere.
    pub d_minus: f64,
    /// One-sided p-value of `d_plus`.
    pub p_plus: f64,
    /// One-sided p-value of `d_minus`.
    pub p_minus: f64,
    /// Two-sided p-value of `max(d_plus, d_minus)`.
    pub p_two_sided: f64,
    /// Whether the p-values are exact (lattice paths) or asymptotic.
    pub exact: bool,
}

/// Largest `n + m` with exact p-values (path counts stay below `f64::MAX`).
pub const KS_EXACT_MAX: usize = 1000;

/// Two-sample Kolmogorov-Smirnov test (`scipy.stats.ks_2samp` statistics;
/// the exact null distribution assumes no ties, so with ties the p-value is
/// conservative). Both samples must be non-empty.
pub fn ks_2samp(canary: &[f64], baseline: &[f64]) -> KolmogorovSmirnov {
    let (m, n) = (canary.len(), baseline.len());
    assert!(m > 0 && n > 0, "ks_2samp needs two non-empty samples");
    let mut c = canary.to_vec();
    let mut b = baseline.to_vec();
    c.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    // Integer statistics: F_b − F_c at a point is (i·m − j·n) / (n·m).
    let (mut i, mut j) = (0usize, 0usize);
    let (mut plus, mut minus) = (0i64, 0i64);
    while i < n || j < m {
        let v = match (b.get(i), c.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => unreachable!(),
        };
        while i < n && b[i] <= v {
            i += 1;
        }
        while j < m && c[j] <= v {
            j += 1;
        }
        let diff = (i * m) as i64 - (j * n) as i64;
        plus = plus.max(diff);
        minus = minus.max(-diff);
    }
    let nm = (n * m) as f64;
    let (d_plus, d_minus) = (plus as f64 / nm, minus as f64 / nm);
    let exact = n + m <= KS_EXACT_MAX;
    let (p_plus, p_minus, p_two_sided) = if exact {
        (
            1.0 - paths_inside(n, m, plus, None),
            // D− is D+ with the samples' roles swapped.
            1.0 - paths_inside(m, n, minus, None),
            1.0 - paths_inside(n, m, plus.max(minus), Some(plus.max(minus))),
        )
    } else {
        let ne = nm / (n + m) as f64;
        let one = |d: f64| (-2.0 * ne * d * d).exp().min(1.0);
        let d = d_plus.max(d_minus);
        (one(d_plus), one(d_minus), kolmogorov_sf(ne.sqrt() * d))
    };
    KolmogorovSmirnov {
        d_plus,
        d_minus,
        p_plus: p_plus.clamp(0.0, 1.0),
        p_minus: p_minus.clamp(0.0, 1.0),
        p_two_sided: p_two_sided.clamp(0.0, 1.0),
        exact,
    }
}

/// The share of the `C(n+m, n)` monotone lattice paths from (0,0) to (n,m)
/// whose every point has `i·m − j·n < upper` (and `> −lower` when given):
/// the null probability that the statistic stays below the observed one.
fn paths_inside(n: usize, m: usize, upper: i64, lower: Option<i64>) -> f64 {
    if upper <= 0 {
        return 0.0;
    }
    let inside = |i: usize, j: usize| {
        let d = (i * m) as i64 - (j * n) as i64;
        d < upper && lower.is_none_or(|l| d > -l)
    };
    // Path counts in f64, divided by C(n+m, n) at the end: n + m ≤ 1000
    // keeps every count below 2^1000 ≈ 1e301.
    let mut row = vec![0.0f64; m + 1];
    for i in 0..=n {
        for j in 0..=m {
            let v = if i == 0 && j == 0 {
                1.0
            } else {
                let up = if i > 0 { row[j] } else { 0.0 };
                let left = if j > 0 { row[j - 1] } else { 0.0 };
                up + left
            };
            row[j] = if inside(i, j) { v } else { 0.0 };
        }
    }
    let total = (ln_choose((n + m) as u64, n as u64)).exp();
    row[m] / total
}

/// The Kolmogorov distribution's survival function `Q(λ) = 2 Σ (−1)^(k−1)
/// exp(−2k²λ²)` (asymptotic two-sided p-value).
fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut s = 0.0;
    for k in 1..=100 {
        let k = k as f64;
        let term = (-2.0 * k * k * lambda * lambda).exp();
        s += if k as i64 % 2 == 1 { term } else { -term };
        if term < 1e-16 {
            break;
        }
    }
    (2.0 * s).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tails_match_sums() {
        // Binomial(10, 0.3): P(X ≥ 4) = 1 − Σ_{x≤3} C(10,x) 0.3^x 0.7^(10−x).
        let pmf = |x: u64| {
            (ln_choose(10, x) + x as f64 * 0.3f64.ln() + (10 - x) as f64 * 0.7f64.ln()).exp()
        };
        let sf: f64 = (4..=10).map(pmf).sum();
        assert!((binomial_sf(4, 10, 0.3) - sf).abs() < 1e-12);
        assert!((binomial_cdf(3, 10, 0.3) - (1.0 - sf)).abs() < 1e-12);
        assert_eq!(binomial_sf(0, 5, 0.5), 1.0);
        assert_eq!(binomial_sf(6, 5, 0.5), 0.0);
    }

    #[test]
    fn fisher_matches_the_hand_count() {
        // 7 of 10 canary samples above the threshold, 0 of 10 baseline:
        // P = C(10,7) C(10,0) / C(20,7) = 120 / 77520.
        let p = hypergeom_sf(7, 20, 7, 10);
        assert!((p - 120.0 / 77520.0).abs() < 1e-12, "{p}");
        assert_eq!(hypergeom_sf(0, 20, 7, 10), 1.0);
    }

    #[test]
    fn poisson_rate_test_is_a_conditional_binomial() {
        // 7 canary events, 0 baseline, equal exposure: 0.5^7.
        let (hi, lo) = poisson_rate_test(7, 25.0, 0, 25.0);
        assert!((hi - 0.5f64.powi(7)).abs() < 1e-12);
        assert_eq!(lo, 1.0);
    }

    #[test]
    fn ks_exact_matches_scipy() {
        // scipy.stats.ks_2samp([1,2,3,4,5], [6,7,8,9,10], method="exact"):
        // D = 1, p = 2 / C(10,5) = 0.007936507936507936 (two-sided);
        // one-sided 'less' (canary larger): 1 / C(10,5).
        let k = ks_2samp(&[6.0, 7.0, 8.0, 9.0, 10.0], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(k.d_plus, 1.0);
        assert_eq!(k.d_minus, 0.0);
        assert!((k.p_two_sided - 2.0 / 252.0).abs() < 1e-12, "{k:?}");
        assert!((k.p_plus - 1.0 / 252.0).abs() < 1e-12, "{k:?}");
        assert_eq!(k.p_minus, 1.0);
        // Identical samples: D = 0, p = 1.
        let k = ks_2samp(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
        assert_eq!((k.d_plus, k.p_two_sided), (0.0, 1.0));
    }

    #[test]
    fn ks_equal_sizes_match_gnedenko_korolyuk() {
        // n = m: P(D+ ≥ k/n) = C(2n, n−k) / C(2n, n), and
        // P(D ≥ k/n) = 2 Σ_j (−1)^(j+1) C(2n, n−jk) / C(2n, n).
        let c = |n: u64, k: u64| ln_choose(n, k).exp();
        for (n, k) in [(10u64, 7u64), (10, 3), (25, 9), (40, 12)] {
            let canary: Vec<f64> = (0..n).map(|i| i as f64 + k as f64 - 0.5).collect();
            let baseline: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let r = ks_2samp(&canary, &baseline);
            assert!((r.d_plus - k as f64 / n as f64).abs() < 1e-12, "{r:?}");
            let one = c(2 * n, n - k) / c(2 * n, n);
            assert!(
                (r.p_plus - one).abs() < 1e-9 * one.max(1e-300),
                "n {n} k {k}: {} vs {one}",
                r.p_plus
            );
            let mut two = 0.0;
            let mut j = 1;
            while j * k <= n {
                let t = c(2 * n, n - j * k) / c(2 * n, n);
                two += if j % 2 == 1 { 2.0 * t } else { -2.0 * t };
                j += 1;
            }
            assert!(
                (r.p_two_sided - two.min(1.0)).abs() < 1e-9,
                "n {n} k {k}: {} vs {two}",
                r.p_two_sided
            );
        }
    }

    #[test]
    fn ks_exact_and_asymptotic_agree_at_the_boundary() {
        // n = m = 400 (exact) vs the Smirnov limit for the same D.
        let c: Vec<f64> = (0..400).map(|i| i as f64 + 40.0).collect();
        let b: Vec<f64> = (0..400).map(|i| i as f64).collect();
        let k = ks_2samp(&c, &b);
        let ne = 200.0f64;
        let asym = (-2.0 * ne * k.d_plus * k.d_plus).exp();
        assert!(k.exact);
        assert!(
            (k.p_plus - asym).abs() < 0.3 * asym,
            "{} vs {asym}",
            k.p_plus
        );
    }
}
