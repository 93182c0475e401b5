//! The shape judge: a second judge kind with Kayenta's scores, groups and
//! classifications, whose per-metric comparison looks at what the
//! Mann-Whitney/Hodges-Lehmann classifier cannot — tails, shape and sparse
//! counts. It is **not** Kayenta's judge (`docs/FIDELITY.md`), and
//! `docs/CALIBRATE.md` documents its statistics.
//!
//! Each series has a kind:
//!
//! * [`SeriesKind::Distribution`] — exchangeable samples (a canary and a
//!   baseline of the same size, as Kayenta prescribes). Two exact tests per
//!   direction: the one-sided two-sample Kolmogorov-Smirnov test
//!   ([`ks_2samp`]: any shift of the distribution function, a variance
//!   increase, a second mode) and a tail-exceedance test (Fisher's exact test
//!   of the 2×2 table canary/baseline × above/not above a threshold `t` read
//!   from the pooled sample: the largest pooled value with at least `1 −
//!   quantile` of the pooled samples above it; for a decrease, the mirror
//!   image below). Effect size: the ratio of the canary's to the baseline's
//!   `quantile` must reach `allowed_increase` (a decrease: the
//!   `1 − quantile` ratio at most `allowed_decrease`).
//! * [`SeriesKind::Rate`] — event counts per sample with their exposure
//!   (requests; or 1 per sample when no exposure is given): the exact
//!   conditional test of two Poisson rates ([`poisson_rate_test`]) on the
//!   totals. Effect size: the rate ratio.
//! * [`SeriesKind::Paired`] — per-scrape values of two cohorts taken at the
//!   same instants (baseline\[i\] and canary\[i\] from one scrape), which need
//!   not be exchangeable (a 5 % canary's per-scrape quantiles are noisier
//!   than the rest of the fleet's): the exact sign test on the log ratios
//!   `ln(canary[i] / baseline[i])`, which is symmetric around 0 for a good
//!   version whatever the cohorts' sizes. Effect size: `exp(median)`.
//!
//! A metric is High (Low) when a test of its direction has a p-value below
//! its share of `(1 − confidence) / 2` — the tail Kayenta's two-sided
//! `confidence` interval leaves on each side: 0.01 by default — split
//! (Bonferroni) over the judge's metrics and over the tests each runs on
//! that side (2 for a distribution, 1 for a rate or pairs), and its effect
//! size reaches the allowed change. So a good version fails some metric of
//! the judge with probability at most `(1 − confidence) / 2` per
//! measurement and side (at most `1 − confidence` with `direction =
//! "either"`). Missing data, outliers (distributions only), the
//! minimum-sample guard, identical samples, critical metrics and the scoring
//! are Kayenta's ([`super::judge`]).

use super::exact::{binomial_sf, hypergeom_sf, ks_2samp, poisson_rate_test};
use super::judge::{
    clean, ignored, mean, percentile_r7, remove_outliers, score, Classification, ConfigError,
    Direction, JudgeConfig, JudgeReport, MetricConfig, MetricResult, NanStrategy, OutlierStrategy,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a series' samples are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeriesKind {
    /// Exchangeable samples: Kolmogorov-Smirnov and a tail-exceedance test.
    #[default]
    Distribution,
    /// Event counts with exposures: the conditional Poisson rate test.
    Rate,
    /// Values paired by scrape: the sign test on log ratios.
    Paired,
}

/// One series' data for [`judge_shape`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShapeSeries {
    pub kind: SeriesKind,
    pub baseline: Vec<f64>,
    pub canary: Vec<f64>,
    /// Rate series: the exposure of each sample (empty: 1 each).
    pub baseline_exposure: Vec<f64>,
    pub canary_exposure: Vec<f64>,
}

impl ShapeSeries {
    pub fn samples(kind: SeriesKind, baseline: Vec<f64>, canary: Vec<f64>) -> Self {
        ShapeSeries {
            kind,
            baseline,
            canary,
            ..ShapeSeries::default()
        }
    }
}

/// The shape judge's own settings (the rest is the [`JudgeConfig`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ShapeOptions {
    /// The tail a distribution's exceedance test and effect size read
    /// (default 0.95).
    pub quantile: f64,
}

impl ShapeOptions {
    pub const DEFAULT_QUANTILE: f64 = 0.95;
}

impl Default for ShapeOptions {
    fn default() -> Self {
        ShapeOptions {
            quantile: Self::DEFAULT_QUANTILE,
        }
    }
}

/// One side's test outcome: (p-value, tests run, effect size, description).
struct Side {
    p: f64,
    tests: usize,
    effect: f64,
    text: String,
}

fn ratio(c: f64, b: f64) -> f64 {
    if b == 0.0 {
        if c == 0.0 {
            1.0
        } else if c > 0.0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        }
    } else {
        c / b
    }
}

/// The exceedance test of the canary's upper tail (`upper`) or lower tail.
fn exceedance(b: &[f64], c: &[f64], q: f64, upper: bool) -> (f64, String) {
    let mut pooled: Vec<f64> = b.iter().chain(c).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let n = pooled.len();
    let need = ((1.0 - q) * n as f64).ceil().max(1.0) as usize;
    // Upper: the largest pooled t with at least `need` pooled values > t;
    // lower: the smallest with at least `need` values < t.
    let above = |t: f64| n - pooled.partition_point(|v| *v <= t);
    let below = |t: f64| pooled.partition_point(|v| *v < t);
    let (t, marked_c, marked_b) = if upper {
        let Some(&t) = pooled.iter().rev().find(|&&t| above(t) >= need) else {
            return (1.0, "no pooled value has enough samples above it".into());
        };
        let count = |s: &[f64]| s.iter().filter(|&&v| v > t).count() as u64;
        (t, count(c), count(b))
    } else {
        let Some(&t) = pooled.iter().find(|&&t| below(t) >= need) else {
            return (1.0, "no pooled value has enough samples below it".into());
        };
        let count = |s: &[f64]| s.iter().filter(|&&v| v < t).count() as u64;
        (t, count(c), count(b))
    };
    let p = hypergeom_sf(marked_c, n as u64, marked_c + marked_b, c.len() as u64);
    let side = if upper { "above" } else { "below" };
    (
        p,
        format!(
            "{marked_c}/{} canary vs {marked_b}/{} baseline {side} {t} (Fisher p {p:.4})",
            c.len(),
            b.len()
        ),
    )
}

fn distribution_side(b: &[f64], c: &[f64], q: f64, up: bool) -> Side {
    let ks = ks_2samp(c, b);
    let (p_ks, d) = if up {
        (ks.p_plus, ks.d_plus)
    } else {
        (ks.p_minus, ks.d_minus)
    };
    let (p_tail, tail) = exceedance(b, c, q, up);
    let mut sb = b.to_vec();
    let mut sc = c.to_vec();
    sb.sort_by(f64::total_cmp);
    sc.sort_by(f64::total_cmp);
    let level = if up { q } else { 1.0 - q };
    let (qc, qb) = (
        percentile_r7(&sc, level * 100.0),
        percentile_r7(&sb, level * 100.0),
    );
    let effect = ratio(qc, qb);
    Side {
        p: p_ks.min(p_tail),
        tests: 2,
        effect,
        text: format!(
            "KS D{} {d:.4} (p {p_ks:.4}{}); {tail}; q{} canary {qc} / baseline {qb} = {effect}",
            if up { "+" } else { "-" },
            if ks.exact { ", exact" } else { ", asymptotic" },
            level
        ),
    }
}

fn rate_sides(s: &ShapeSeries, b: &[f64], c: &[f64]) -> (Side, Side) {
    let total = |v: &[f64]| v.iter().map(|x| x.max(0.0).round()).sum::<f64>() as u64;
    let exposure = |e: &[f64], v: &[f64]| {
        if e.is_empty() {
            v.len() as f64
        } else {
            e.iter().sum::<f64>()
        }
    };
    let (kc, kb) = (total(c), total(b));
    let (ec, eb) = (
        exposure(&s.canary_exposure, c),
        exposure(&s.baseline_exposure, b),
    );
    let (p_hi, p_lo) = poisson_rate_test(kc, ec, kb, eb);
    let effect = ratio(kc as f64 / ec, kb as f64 / eb);
    let text = format!("canary {kc} events / {ec} vs baseline {kb} / {eb}: rate ratio {effect}");
    (
        Side {
            p: p_hi,
            tests: 1,
            effect,
            text: format!("{text} (Poisson rate test p {p_hi:.4})"),
        },
        Side {
            p: p_lo,
            tests: 1,
            effect,
            text: format!("{text} (Poisson rate test p {p_lo:.4})"),
        },
    )
}

fn paired_sides(b: &[f64], c: &[f64]) -> (Side, Side) {
    let mut d: Vec<f64> = b
        .iter()
        .zip(c)
        .filter(|(x, y)| **x > 0.0 && **y > 0.0)
        .map(|(x, y)| (y / x).ln())
        .collect();
    d.sort_by(f64::total_cmp);
    let up = d.iter().filter(|v| **v > 0.0).count() as u64;
    let down = d.iter().filter(|v| **v < 0.0).count() as u64;
    let n = up + down;
    let effect = if d.is_empty() {
        1.0
    } else {
        percentile_r7(&d, 50.0).exp()
    };
    let text = format!("{up} of {n} paired scrapes higher on the canary, median ratio {effect}");
    let (p_up, p_down) = (binomial_sf(up, n, 0.5), binomial_sf(down, n, 0.5));
    (
        Side {
            p: p_up,
            tests: 1,
            effect,
            text: format!("{text} (sign test p {p_up:.4})"),
        },
        Side {
            p: p_down,
            tests: 1,
            effect,
            text: format!("{text} (sign test p {p_down:.4})"),
        },
    )
}

fn classify(
    config: &JudgeConfig,
    opts: &ShapeOptions,
    mc: &MetricConfig,
    s: &ShapeSeries,
) -> MetricResult {
    // Pairs and exposures stay aligned: drop a pair when either side is not
    // finite (or replace it, with `nan_strategy = replace`).
    let (b, c): (Vec<f64>, Vec<f64>) = match s.kind {
        SeriesKind::Distribution => {
            let outliers = |v: Vec<f64>| match mc.outlier_strategy {
                OutlierStrategy::Keep => v,
                OutlierStrategy::Remove => {
                    remove_outliers(v, mc.outlier_factor.unwrap_or(config.outlier_factor))
                }
            };
            (
                outliers(clean(&s.baseline, mc.nan_strategy)),
                outliers(clean(&s.canary, mc.nan_strategy)),
            )
        }
        SeriesKind::Rate => (
            clean(&s.baseline, NanStrategy::Replace),
            clean(&s.canary, NanStrategy::Replace),
        ),
        SeriesKind::Paired => s
            .baseline
            .iter()
            .zip(&s.canary)
            .filter(|(x, y)| {
                mc.nan_strategy == NanStrategy::Replace || (x.is_finite() && y.is_finite())
            })
            .map(|(x, y)| {
                let f = |v: f64| if v.is_finite() { v } else { 0.0 };
                (f(*x), f(*y))
            })
            .unzip(),
    };
    let (mut r, no_data) = super::judge::unjudged(mc, b.len(), c.len());
    if no_data {
        return r;
    }
    let (mb, mcn) = (mean(&b), mean(&c));
    r.mean_ratio = (mb != 0.0 && mcn != 0.0)
        .then(|| mcn / mb)
        .filter(|x| x.is_finite());
    if b.len() < config.min_samples || c.len() < config.min_samples {
        r.classification = Classification::Inconclusive;
        r.critical = mc.critical;
        r.reason = format!(
            "too few samples: baseline {}, canary {}, min_samples {}",
            b.len(),
            c.len(),
            config.min_samples
        );
        return r;
    }
    if s.kind == SeriesKind::Distribution {
        let mut sb = b.clone();
        let mut sc = c.clone();
        sb.sort_by(f64::total_cmp);
        sc.sort_by(f64::total_cmp);
        if sb == sc {
            r.reason = "baseline and canary data are identical".to_string();
            return r;
        }
    }
    let up_allowed = matches!(mc.direction, Direction::Increase | Direction::Either);
    let down_allowed = matches!(mc.direction, Direction::Decrease | Direction::Either);
    // Each tail gets what Kayenta's two-sided interval leaves it.
    let alpha = (1.0 - config.confidence) / 2.0 / config.metrics.len().max(1) as f64;
    let (up, down) = match s.kind {
        SeriesKind::Distribution => (
            distribution_side(&b, &c, opts.quantile, true),
            distribution_side(&b, &c, opts.quantile, false),
        ),
        SeriesKind::Rate => rate_sides(s, &b, &c),
        SeriesKind::Paired => paired_sides(&b, &c),
    };
    let level = |side: &Side| alpha / side.tests as f64;
    let high = up_allowed && up.p < level(&up) && up.effect >= mc.allowed_increase;
    let low = down_allowed && down.p < level(&down) && down.effect <= mc.allowed_decrease;
    let p_up = if up_allowed { up.p } else { 1.0 };
    let p_down = if down_allowed { down.p } else { 1.0 };
    r.p_value = Some(p_up.min(p_down));
    if high {
        r.classification = Classification::High;
        r.reason = format!(
            "canary higher: {} (p < {:.4}; effect ≥ allowed_increase {})",
            up.text,
            level(&up),
            mc.allowed_increase
        );
    } else if low {
        r.classification = Classification::Low;
        r.reason = format!(
            "canary lower: {} (p < {:.4}; effect ≤ allowed_decrease {})",
            down.text,
            level(&down),
            mc.allowed_decrease
        );
    } else {
        let mut parts = Vec::new();
        if up_allowed {
            parts.push(format!("up: {}", up.text));
        }
        if down_allowed {
            parts.push(format!("down: {}", down.text));
        }
        r.reason = format!(
            "no significant change at alpha {alpha:.4} (per metric): {}",
            parts.join("; ")
        );
    }
    if mc.critical && matches!(r.classification, Classification::High | Classification::Low) {
        r.critical = true;
        r.reason.push_str(" (critical metric)");
    }
    r
}

/// Judges a canary against its baseline with the shape tests. `series` maps
/// metric names to their data; a configured metric missing from it has no
/// data. Scored exactly as [`super::judge()`]. Fails only when the
/// configuration does not validate.
pub fn judge_shape(
    config: &JudgeConfig,
    opts: &ShapeOptions,
    series: &BTreeMap<String, ShapeSeries>,
) -> Result<JudgeReport, ConfigError> {
    config.validate()?;
    if !(opts.quantile > 0.5 && opts.quantile < 1.0) {
        return Err(ConfigError {
            message: format!(
                "quantile must be between 0.5 and 1 (exclusive), got {}",
                opts.quantile
            ),
        });
    }
    let empty = ShapeSeries::default();
    let metrics = config
        .metrics
        .iter()
        .map(|mc| classify(config, opts, mc, series.get(&mc.name).unwrap_or(&empty)))
        .collect();
    let as_samples = |side: fn(&ShapeSeries) -> &Vec<f64>| -> BTreeMap<String, Vec<f64>> {
        series
            .iter()
            .map(|(k, v)| (k.clone(), side(v).clone()))
            .collect()
    };
    let ignored_series = ignored(
        config,
        &as_samples(|s| &s.baseline),
        &as_samples(|s| &s.canary),
    );
    Ok(score(config, metrics, ignored_series))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(direction: Direction) -> JudgeConfig {
        let mut m = MetricConfig::new("m", "g");
        m.direction = direction;
        let mut c = JudgeConfig::new(vec![m]);
        c.min_samples = 0;
        c
    }

    fn one(kind: SeriesKind, b: Vec<f64>, c: Vec<f64>, d: Direction) -> MetricResult {
        let series = BTreeMap::from([("m".to_string(), ShapeSeries::samples(kind, b, c))]);
        judge_shape(&config(d), &ShapeOptions::default(), &series)
            .unwrap()
            .metrics
            .remove(0)
    }

    #[test]
    fn a_shift_in_the_direction_that_does_not_matter_passes() {
        let b: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let c: Vec<f64> = (0..30).map(|i| i as f64 + 100.0).collect();
        let r = one(
            SeriesKind::Distribution,
            b.clone(),
            c.clone(),
            Direction::Decrease,
        );
        assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
        let r = one(SeriesKind::Distribution, b, c, Direction::Increase);
        assert_eq!(r.classification, Classification::High, "{}", r.reason);
    }

    #[test]
    fn paired_scrapes_ignore_the_canary_noise() {
        // Same median, canary 3× noisier: the sign test sees half up, half down.
        let b: Vec<f64> = (0..60).map(|i| 100.0 + (i % 2) as f64).collect();
        let c: Vec<f64> = (0..60)
            .map(|i| 100.5 + if i % 2 == 0 { 30.0 } else { -30.0 })
            .collect();
        let r = one(SeriesKind::Paired, b.clone(), c, Direction::Increase);
        assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
        let c: Vec<f64> = b.iter().map(|x| x * 1.2).collect();
        let r = one(SeriesKind::Paired, b, c, Direction::Increase);
        assert_eq!(r.classification, Classification::High, "{}", r.reason);
    }

    #[test]
    fn rate_exposure_scales_the_expected_share() {
        // 30 canary events over 1,000 requests vs 300 over 100,000: a tenfold rate.
        let s = ShapeSeries {
            kind: SeriesKind::Rate,
            baseline: vec![300.0],
            canary: vec![30.0],
            baseline_exposure: vec![100_000.0],
            canary_exposure: vec![1_000.0],
        };
        let series = BTreeMap::from([("m".to_string(), s)]);
        let r = judge_shape(
            &config(Direction::Increase),
            &ShapeOptions::default(),
            &series,
        )
        .unwrap();
        assert_eq!(r.metrics[0].classification, Classification::High);
        assert_eq!(r.score, 0.0);
    }
}
