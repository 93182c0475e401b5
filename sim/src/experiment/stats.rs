//! Descriptive statistics and 95 % confidence intervals over seeds.
//!
//! Which interval for which statistic (each is the standard choice for it):
//!
//! | statistic | estimate | 95 % interval |
//! |---|---|---|
//! | mean | arithmetic mean | **percentile bootstrap**: [`BOOTSTRAP_RESAMPLES`] resamples of the seeds drawn from a fixed ChaCha8 stream ([`BOOTSTRAP_SEED`]), 2.5th and 97.5th percentiles of the resampled means |
//! | median, p90, p99 | Hyndman–Fan type 7 (linear interpolation, numpy's default) | **exact, distribution-free**: order statistics `[x(l), x(u)]` chosen from the Binomial(n, q) law so each tail has at most 2.5 % ([`quantile_ci`]); a bound that n seeds cannot give is `None` (e.g. p99 from fewer than ~300 seeds has no upper bound) |
//! | a probability (share of seeds) | successes / n | **exact Clopper–Pearson** ([`clopper_pearson`]) |
//! | paired difference of means | mean of per-seed differences | percentile bootstrap of the seeds, as for the mean |
//!
//! The bootstrap resamples *seeds*, the experimental unit: every group and
//! every paired difference uses the same resamples, so intervals do not depend
//! on the order they are computed in, nor on how a run was sharded.

use crate::rng::{Rng, Streams};

/// How many bootstrap resamples each interval uses.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// The seed of the bootstrap's ChaCha8 stream (fixed: the same data always
/// gives the same interval).
pub const BOOTSTRAP_SEED: u64 = 0x5EED_B007;
/// Two-sided error rate of every interval (95 % confidence).
pub const ALPHA: f64 = 0.05;

/// An interval; a bound is `None` when the data cannot give it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Interval {
    pub fn new(low: f64, high: f64) -> Self {
        Interval {
            low: Some(low),
            high: Some(high),
        }
    }
}

/// The sample's quantile `q` (0 ≤ q ≤ 1) by linear interpolation between
/// order statistics (Hyndman–Fan type 7). `sorted` must be sorted ascending
/// and non-empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of no values");
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = h - lo as f64;
    if frac == 0.0 {
        sorted[lo]
    } else {
        sorted[lo] + frac * (sorted[hi] - sorted[lo])
    }
}

/// A sorted copy (total order: NaN last).
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n − 1 in the denominator; 0 for one value).
pub fn std_dev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    (ss / (values.len() - 1) as f64).sqrt()
}

/// The bootstrap's resamples of `n` seeds, as a reusable generator of index
/// draws: resample `b` of `n` seeds is always the same, whoever asks.
fn bootstrap_rng(n: usize) -> Rng {
    Streams::new(BOOTSTRAP_SEED).keyed("bootstrap", n as u64)
}

/// Percentile-bootstrap 95 % intervals of the mean of each column. Every
/// column must have the same length `n` (the seeds, in one order); the same
/// resampled seeds are used for every column.
pub fn bootstrap_mean_ci(columns: &[&[f64]]) -> Vec<Interval> {
    let Some(n) = columns.first().map(|c| c.len()) else {
        return vec![];
    };
    assert!(
        columns.iter().all(|c| c.len() == n),
        "columns differ in length"
    );
    if n == 0 {
        return vec![
            Interval {
                low: None,
                high: None
            };
            columns.len()
        ];
    }
    let mut rng = bootstrap_rng(n);
    let mut means = vec![Vec::with_capacity(BOOTSTRAP_RESAMPLES); columns.len()];
    let mut sums = vec![0.0; columns.len()];
    for _ in 0..BOOTSTRAP_RESAMPLES {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for _ in 0..n {
            let i = rng.below(n as u64) as usize;
            for (s, c) in sums.iter_mut().zip(columns) {
                *s += c[i];
            }
        }
        for (m, s) in means.iter_mut().zip(&sums) {
            m.push(s / n as f64);
        }
    }
    means
        .iter()
        .map(|m| {
            let m = sorted(m);
            Interval::new(
                quantile_sorted(&m, ALPHA / 2.0),
                quantile_sorted(&m, 1.0 - ALPHA / 2.0),
            )
        })
        .collect()
}

/// Exact distribution-free 95 % interval of the population quantile `q` from
/// a sorted sample: `[x(l), x(u)]` (1-based order statistics) with
/// `P(B ≤ l−1) ≤ 2.5 %` and `P(B ≥ u) ≤ 2.5 %` for `B ~ Binomial(n, q)`, `l`
/// as large and `u` as small as that allows. Coverage is at least 95 % for
/// any continuous distribution. A bound is `None` when no order statistic
/// satisfies it (too few seeds for that tail).
pub fn quantile_ci(sorted: &[f64], q: f64) -> Interval {
    let n = sorted.len();
    if n == 0 {
        return Interval {
            low: None,
            high: None,
        };
    }
    let cdf = |k: usize| binomial_cdf(k as u64, n as u64, q);
    // l = max { j in 1..=n : F(j-1) ≤ α/2 }; F increases with j.
    let low = if cdf(0) > ALPHA / 2.0 {
        None
    } else {
        let (mut lo, mut hi) = (1usize, n); // F(lo-1) ≤ α/2 holds at lo
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if cdf(mid - 1) <= ALPHA / 2.0 {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(sorted[lo - 1])
    };
    // u = min { j in 1..=n : F(j-1) ≥ 1 − α/2 }.
    let high = if cdf(n - 1) < 1.0 - ALPHA / 2.0 {
        None
    } else {
        let (mut lo, mut hi) = (1usize, n); // holds at hi
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cdf(mid - 1) >= 1.0 - ALPHA / 2.0 {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(sorted[hi - 1])
    };
    Interval { low, high }
}

/// Exact (Clopper–Pearson) 95 % interval of a probability from `k` successes
/// in `n` trials.
pub fn clopper_pearson(k: u64, n: u64) -> Interval {
    if n == 0 {
        return Interval {
            low: None,
            high: None,
        };
    }
    let (k_f, n_f) = (k as f64, n as f64);
    let low = if k == 0 {
        0.0
    } else {
        beta_ppf(ALPHA / 2.0, k_f, n_f - k_f + 1.0)
    };
    let high = if k == n {
        1.0
    } else {
        beta_ppf(1.0 - ALPHA / 2.0, k_f + 1.0, n_f - k_f)
    };
    Interval::new(low, high)
}

/// `P(B ≤ k)` for `B ~ Binomial(n, p)`.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    // P(B ≤ k) = I_{1−p}(n − k, k + 1)
    beta_inc((n - k) as f64, (k + 1) as f64, 1.0 - p)
}

/// The `p` quantile of Beta(a, b), by bisection on [`beta_inc`] (monotone).
pub fn beta_ppf(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if beta_inc(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

pub use crate::stats::exact::{beta_inc, ln_gamma};

/// Everything reported about one metric's distribution over seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Describe {
    pub n: usize,
    pub mean: f64,
    pub mean_ci: Interval,
    pub std: f64,
    pub min: f64,
    pub median: f64,
    pub median_ci: Interval,
    pub p90: f64,
    pub p90_ci: Interval,
    pub p99: f64,
    pub p99_ci: Interval,
    pub max: f64,
}

/// Describes `values` (no value: every statistic NaN, `n` 0); `mean_ci` comes from the caller (the
/// bootstrap runs over every column at once, see [`bootstrap_mean_ci`]).
pub fn describe(values: &[f64], mean_ci: Interval) -> Describe {
    if values.is_empty() {
        let none = Interval {
            low: None,
            high: None,
        };
        return Describe {
            n: 0,
            mean: f64::NAN,
            mean_ci: none,
            std: f64::NAN,
            min: f64::NAN,
            median: f64::NAN,
            median_ci: none,
            p90: f64::NAN,
            p90_ci: none,
            p99: f64::NAN,
            p99_ci: none,
            max: f64::NAN,
        };
    }
    let s = sorted(values);
    Describe {
        n: s.len(),
        mean: mean(values),
        mean_ci,
        std: std_dev(values),
        min: s[0],
        median: quantile_sorted(&s, 0.5),
        median_ci: quantile_ci(&s, 0.5),
        p90: quantile_sorted(&s, 0.9),
        p90_ci: quantile_ci(&s, 0.9),
        p99: quantile_sorted(&s, 0.99),
        p99_ci: quantile_ci(&s, 0.99),
        max: s[s.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn type7_quantiles_match_numpy() {
        let v = sorted(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]);
        // numpy.quantile([3,1,4,1,5,9,2,6], [0.5, 0.9, 0.99]) = 3.5, 6.9, 8.79
        assert_eq!(quantile_sorted(&v, 0.5), 3.5);
        assert!(close(quantile_sorted(&v, 0.9), 6.9, 1e-12));
        assert!(close(quantile_sorted(&v, 0.99), 8.79, 1e-12));
        assert_eq!(quantile_sorted(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn special_functions_match_scipy() {
        // scipy.special.gammaln(10.5), betainc(2, 3, 0.4), binom.cdf(3, 10, 0.5)
        assert!(close(ln_gamma(10.5), 13.940_625_219_403_763, 1e-12));
        assert!(close(beta_inc(2.0, 3.0, 0.4), 0.5248, 1e-12));
        assert!(close(binomial_cdf(3, 10, 0.5), 0.171_875, 1e-12));
        assert!(close(
            binomial_cdf(990, 1000, 0.99),
            0.542_699_407_825_110_4,
            1e-9
        ));
    }

    #[test]
    fn clopper_pearson_matches_scipy() {
        // statsmodels proportion_confint(7, 20, method="beta")
        let ci = clopper_pearson(7, 20);
        assert!(close(ci.low.unwrap(), 0.153_909_204_784_541_2, 1e-9));
        assert!(close(ci.high.unwrap(), 0.592_188_534_532_828_2, 1e-9));
        let all = clopper_pearson(20, 20);
        assert_eq!(all.high, Some(1.0));
        assert!(close(all.low.unwrap(), 0.025f64.powf(1.0 / 20.0), 1e-9));
    }

    #[test]
    fn quantile_intervals_are_order_statistics() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        // Median of 100: Binomial(100, .5) gives x(40) and x(61).
        let ci = quantile_ci(&v, 0.5);
        assert_eq!(ci, Interval::new(40.0, 61.0));
        // p99 from 100 seeds has no upper bound.
        assert_eq!(quantile_ci(&v, 0.99).high, None);
        // Ten seeds bound p90 from below only.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let p90 = quantile_ci(&ten, 0.9);
        assert!(p90.low.is_some() && p90.high.is_none());
    }

    #[test]
    fn bootstrap_is_fixed_and_brackets_the_mean() {
        let x: Vec<f64> = (0..200).map(|i| (i % 17) as f64).collect();
        let a = bootstrap_mean_ci(&[&x]);
        let b = bootstrap_mean_ci(&[&x]);
        assert_eq!(a, b);
        let m = mean(&x);
        let (lo, hi) = (a[0].low.unwrap(), a[0].high.unwrap());
        assert!(lo < m && m < hi, "{lo} {m} {hi}");
        // Roughly ±1.96 standard errors.
        let se = std_dev(&x) / (x.len() as f64).sqrt();
        assert!(
            close(hi - lo, 2.0 * 1.96 * se, 0.25 * se),
            "{} vs {}",
            hi - lo,
            se
        );
        // A constant column has a point interval.
        let c = vec![3.0; 50];
        assert_eq!(bootstrap_mean_ci(&[&c])[0], Interval::new(3.0, 3.0));
    }
}
