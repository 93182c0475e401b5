//! A Kayenta-style canary judge (Spinnaker Kayenta's `NetflixACAJudge`).
//!
//! Every configured metric is compared canary-vs-baseline and classified;
//! the classifications are scored per group, the group scores are combined
//! with weights into a 0..100 score, and the score is compared with the
//! `marginal` and `pass` thresholds.  What follows mirrors Kayenta's
//! `NetflixACAJudge`, `MannWhitneyClassifier`, `IQRDetector`,
//! `WeightedSumScorer` and `ThresholdScoreClassifier`; deliberate
//! differences are called out.
//!
//! # Per metric
//!
//! 1. **Missing values** (`nan_strategy`, Kayenta's `nanStrategy`): `remove`
//!    (default) drops NaN samples, `replace` turns them into `0.0`.
//!    *Difference:* infinities are treated like NaN here.
//! 2. **Outliers** (`outlier_strategy`, Kayenta's per-metric
//!    `outliers.strategy`): `keep` (default) uses every sample; `remove`
//!    applies Kayenta's `IQRDetector(factor, reduceSensitivity = true)` to
//!    each side separately: with R-7 (linear interpolation) percentiles, a
//!    value is dropped when it is below `min(P1, Q1 - f * IQR)` or above
//!    `max(P99, Q3 + f * IQR)`, `f` = the metric's `outlier_factor`, else the
//!    judge's (Kayenta's `outliers.outlierFactor`, default 3.0).  As in
//!    spinnaker/kayenta `NetflixACAJudge.scala` and `OutlierStrategy` in
//!    `BaseMetricClassifier.scala` (commit a69573be9d8f).
//!    *Difference:* Kayenta reads an unknown strategy as `keep`; here it is
//!    a configuration error.
//! 3. **No data** (either side empty after 1-2): with `nan_strategy = remove`
//!    the metric is `NodataFailure` when `must_have_data && !critical`,
//!    otherwise `Nodata`; with `replace` it is `Pass` — all as Kayenta.
//! 4. **Minimum-sample guard** (not in Kayenta): fewer than `min_samples`
//!    (default 50) samples on either side makes the metric `Inconclusive`:
//!    it is neither a pass nor a failure and is **scored exactly like
//!    Kayenta's `Nodata`** (left out of its group's score, counted by the
//!    "too many Nodata" rule, and a critical failure on a critical metric).
//!    `min_samples = 0` disables the guard.
//! 5. Identical samples (as multisets), or one single value shared by both
//!    sides, are a `Pass`, as in Kayenta.
//! 6. **Comparison** (`MannWhitneyClassifier`): the Hodges-Lehmann shift
//!    `HL = median(canary[i] - baseline[j])` and its `confidence`-level
//!    interval `[lo, hi]` (default 0.98; see
//!    [`shift_estimate`]) are compared with the
//!    tolerance band `+-tolerance * |HL|` (default 0.25), and the effect size
//!    is Kayenta's default `meanRatio = mean(canary) / mean(baseline)` (NaN
//!    when either mean is 0, in which case the effect check is skipped):
//!    * `High` if direction is `increase` or `either`, `lo > tolerance*|HL|`
//!      and `meanRatio >= allowed_increase` (default 1.0);
//!    * else `Low` if direction is `decrease` or `either`,
//!      `hi < -tolerance*|HL|` and `meanRatio <= allowed_decrease` (default 1.0);
//!    * else `Pass`.
//!
//!    A shift in the direction that does not matter is therefore a `Pass`.
//!    *Difference:* Kayenta breaks the all-ties case of two different
//!    constants with random Gaussian noise; here no noise is needed because
//!    the interval of the pairwise differences is then exactly `[HL, HL]`.
//!    The Mann-Whitney `u` and `p_value` (SciPy defaults, `x` = canary) are
//!    reported for information; as in Kayenta the decision uses the interval.
//! 7. **Critical** metrics: a critical metric classified `High` or `Low` (or
//!    `Nodata`/`Inconclusive`) is a critical failure.  (Kayenta has separate
//!    `criticalIncrease`/`criticalDecrease` effect sizes, defaulting to the
//!    same 1.0 as the allowed ones; here they are the allowed ones.)
//!
//! # Scoring (`WeightedSumScorer`)
//!
//! * Group score = `100 * Pass / (Pass + High + Low + NodataFailure)`; a group
//!   with none of those has no data: it reports 0 but counts as 100 in the
//!   total.
//! * Weights come from `groups = { name = weight }` (percent).  Groups that
//!   have metrics but no weight share `100 - sum(weights)` equally.
//! * Any critical failure → score 0.  Otherwise, if 50% or more of the
//!   metrics are `Nodata` or `Inconclusive` → score 0.  Otherwise score =
//!   `sum(group score * weight / 100)`, rounded half-up to 2 decimals.
//! * Verdict: `score >= pass` (default 95) → `Pass`, `score >= marginal`
//!   (default 75) → `Marginal`, else `Fail`.
//!
//! # Configuration
//!
//! [`JudgeConfig`] deserialises (TOML via [`JudgeConfig::from_toml_str`], or
//! any serde format) with unknown keys rejected:
//!
//! ```toml
//! marginal = 75          # default 75
//! pass = 95              # default 95
//! confidence = 0.98      # default 0.98, interval level for the shift
//! tolerance = 0.25       # default 0.25, fraction of |HL|
//! outlier_factor = 3.0   # default 3.0, IQR multiplier of metrics that remove outliers
//! min_samples = 50       # default 50, per side, after cleaning
//!
//! [groups]               # default: no weights (all groups share equally)
//! latency = 60
//! errors = 40
//!
//! [[metrics]]
//! name = "p99_latency_ms"   # required, unique; the key in the sample maps
//! group = "latency"         # required
//! direction = "increase"    # increase | decrease | either (default either)
//! critical = false          # default false
//! must_have_data = false    # default false
//! allowed_increase = 1.1    # default 1.0 (mean ratio canary/baseline)
//! allowed_decrease = 1.0    # default 1.0
//! nan_strategy = "remove"   # remove | replace (default remove)
//! outlier_strategy = "keep" # keep | remove (default keep, as Kayenta)
//! outlier_factor = 3.0      # default: the judge's outlier_factor
//! ```
//!
//! [`JudgeConfig::validate`] additionally requires: at least one metric,
//! unique non-empty names, non-empty groups, finite effect sizes, weights
//! finite and `>= 0` summing to at most 100 (exactly 100 when every group
//! has a weight), every weighted group used by some metric,
//! `0 <= marginal <= pass <= 100`, `0 < confidence < 1`, `tolerance >= 0`
//! and every `outlier_factor > 0`.

use super::mannwhitney::{mann_whitney_u, shift_estimate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Which change of the metric is a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Only an increase can fail (latency, errors).
    Increase,
    /// Only a decrease can fail (throughput, success rate).
    Decrease,
    /// Both directions can fail (Kayenta's default).
    #[default]
    Either,
}

/// What to do with NaN (and infinite) samples, as Kayenta's `nanStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NanStrategy {
    /// Drop them (default).
    #[default]
    Remove,
    /// Replace them with `0.0`.
    Replace,
}

/// What to do with outliers, as Kayenta's per-metric `outliers.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlierStrategy {
    /// Use every sample (default, as Kayenta).
    #[default]
    Keep,
    /// Drop the samples the IQR detector flags.
    Remove,
}

fn default_effect() -> f64 {
    1.0
}

/// One metric to judge.  See the module docs for defaults and meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// Metric name: the key in the baseline/canary sample maps.
    pub name: String,
    /// Scoring group.
    pub group: String,
    /// Which direction of change fails (default `either`).
    #[serde(default)]
    pub direction: Direction,
    /// A High/Low/Nodata/Inconclusive result fails the whole canary.
    #[serde(default)]
    pub critical: bool,
    /// Missing data counts as a failure in the group (`NodataFailure`).
    #[serde(default)]
    pub must_have_data: bool,
    /// Minimum mean ratio canary/baseline for `High` (default 1.0).
    #[serde(default = "default_effect")]
    pub allowed_increase: f64,
    /// Maximum mean ratio canary/baseline for `Low` (default 1.0).
    #[serde(default = "default_effect")]
    pub allowed_decrease: f64,
    /// NaN handling (default `remove`).
    #[serde(default)]
    pub nan_strategy: NanStrategy,
    /// Outlier handling (default `keep`).
    #[serde(default)]
    pub outlier_strategy: OutlierStrategy,
    /// IQR factor of `outlier_strategy = remove`; absent: the judge's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_factor: Option<f64>,
}

impl MetricConfig {
    /// A metric with every optional field at its default.
    pub fn new(name: impl Into<String>, group: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            group: group.into(),
            direction: Direction::Either,
            critical: false,
            must_have_data: false,
            allowed_increase: default_effect(),
            allowed_decrease: default_effect(),
            nan_strategy: NanStrategy::Remove,
            outlier_strategy: OutlierStrategy::Keep,
            outlier_factor: None,
        }
    }
}

fn default_marginal() -> f64 {
    JudgeConfig::DEFAULT_MARGINAL
}
fn default_pass() -> f64 {
    JudgeConfig::DEFAULT_PASS
}
fn default_confidence() -> f64 {
    JudgeConfig::DEFAULT_CONFIDENCE
}
fn default_tolerance() -> f64 {
    JudgeConfig::DEFAULT_TOLERANCE
}
fn default_outlier_factor() -> f64 {
    JudgeConfig::DEFAULT_OUTLIER_FACTOR
}
fn default_min_samples() -> usize {
    JudgeConfig::DEFAULT_MIN_SAMPLES
}

/// Judge configuration.  See the module docs for the TOML layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeConfig {
    /// The metrics to judge (at least one).
    pub metrics: Vec<MetricConfig>,
    /// Group weights in percent; groups without one share the rest.
    #[serde(default)]
    pub groups: BTreeMap<String, f64>,
    /// Scores `>= marginal` (and `< pass`) are `Marginal` (default 75).
    #[serde(default = "default_marginal")]
    pub marginal: f64,
    /// Scores `>= pass` are `Pass` (default 95).
    #[serde(default = "default_pass")]
    pub pass: f64,
    /// Confidence level of the shift interval (default 0.98).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Tolerance band as a fraction of `|HL|` (default 0.25).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// IQR outlier factor of the metrics that remove outliers and set no
    /// factor of their own (default 3.0).
    #[serde(default = "default_outlier_factor")]
    pub outlier_factor: f64,
    /// Minimum samples per side after cleaning (default 50; 0 disables).
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
}

/// An invalid [`JudgeConfig`] (or TOML that does not parse into one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid judge config: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

fn config_err(message: impl Into<String>) -> ConfigError {
    ConfigError {
        message: message.into(),
    }
}

impl JudgeConfig {
    /// Default `marginal` threshold.
    pub const DEFAULT_MARGINAL: f64 = 75.0;
    /// Default `pass` threshold.
    pub const DEFAULT_PASS: f64 = 95.0;
    /// Default confidence level (Kayenta's `confLevel = 0.98`).
    pub const DEFAULT_CONFIDENCE: f64 = 0.98;
    /// Default tolerance (Kayenta's `tolerance = 0.25`).
    pub const DEFAULT_TOLERANCE: f64 = 0.25;
    /// Default IQR outlier factor (Kayenta's `outlierFactor = 3.0`).
    pub const DEFAULT_OUTLIER_FACTOR: f64 = 3.0;
    /// Default minimum number of samples per side.
    pub const DEFAULT_MIN_SAMPLES: usize = 50;

    /// A configuration with these metrics and every other field at its default.
    pub fn new(metrics: Vec<MetricConfig>) -> Self {
        Self {
            metrics,
            groups: BTreeMap::new(),
            marginal: Self::DEFAULT_MARGINAL,
            pass: Self::DEFAULT_PASS,
            confidence: Self::DEFAULT_CONFIDENCE,
            tolerance: Self::DEFAULT_TOLERANCE,
            outlier_factor: Self::DEFAULT_OUTLIER_FACTOR,
            min_samples: Self::DEFAULT_MIN_SAMPLES,
        }
    }

    /// Parse TOML text and [`validate`](Self::validate) it.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| config_err(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Check the rules listed in the module docs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.metrics.is_empty() {
            return Err(config_err("at least one [[metrics]] entry is required"));
        }
        let mut names = BTreeSet::new();
        for m in &self.metrics {
            if m.name.is_empty() {
                return Err(config_err("metric name must not be empty"));
            }
            if !names.insert(m.name.as_str()) {
                return Err(config_err(format!(
                    "metric `{}` is listed twice; names must be unique",
                    m.name
                )));
            }
            if m.group.is_empty() {
                return Err(config_err(format!(
                    "metric `{}`: group must not be empty",
                    m.name
                )));
            }
            for (key, v) in [
                ("allowed_increase", m.allowed_increase),
                ("allowed_decrease", m.allowed_decrease),
            ] {
                if !v.is_finite() {
                    return Err(config_err(format!(
                        "metric `{}`: {key} must be a finite number (a mean ratio, default 1.0), got {v}",
                        m.name
                    )));
                }
            }
            if let Some(f) = m.outlier_factor {
                if !(f.is_finite() && f > 0.0) {
                    return Err(config_err(format!(
                        "metric `{}`: outlier_factor must be a finite number > 0, got {f}",
                        m.name
                    )));
                }
            }
        }
        let used: BTreeSet<&str> = self.metrics.iter().map(|m| m.group.as_str()).collect();
        let mut sum = 0.0;
        for (g, &w) in &self.groups {
            if !(w.is_finite() && w >= 0.0) {
                return Err(config_err(format!(
                    "group `{g}`: weight must be a finite number >= 0 (percent), got {w}"
                )));
            }
            if !used.contains(g.as_str()) {
                return Err(config_err(format!(
                    "group `{g}` has a weight but no metric uses it"
                )));
            }
            sum += w;
        }
        const EPS: f64 = 1e-9;
        if sum > 100.0 + EPS {
            return Err(config_err(format!(
                "group weights sum to {sum}; they must sum to at most 100"
            )));
        }
        let unweighted = used
            .iter()
            .filter(|g| !self.groups.contains_key(**g))
            .count();
        if unweighted == 0 && (sum - 100.0).abs() > EPS {
            return Err(config_err(format!(
                "every group has a weight but the weights sum to {sum}; they must sum to 100"
            )));
        }
        if !(self.marginal.is_finite()
            && self.pass.is_finite()
            && 0.0 <= self.marginal
            && self.marginal <= self.pass
            && self.pass <= 100.0)
        {
            return Err(config_err(format!(
                "thresholds must satisfy 0 <= marginal <= pass <= 100, got marginal = {}, pass = {}",
                self.marginal, self.pass
            )));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(config_err(format!(
                "confidence must be strictly between 0 and 1, got {}",
                self.confidence
            )));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(config_err(format!(
                "tolerance must be a finite number >= 0, got {}",
                self.tolerance
            )));
        }
        if !(self.outlier_factor.is_finite() && self.outlier_factor > 0.0) {
            return Err(config_err(format!(
                "outlier_factor must be a finite number > 0, got {}",
                self.outlier_factor
            )));
        }
        Ok(())
    }

    /// Effective weight (percent) of every group that has a metric.
    pub fn group_weights(&self) -> BTreeMap<String, f64> {
        let used: BTreeSet<&str> = self.metrics.iter().map(|m| m.group.as_str()).collect();
        let weighted_sum: f64 = self.groups.values().sum();
        let unweighted = used
            .iter()
            .filter(|g| !self.groups.contains_key(**g))
            .count();
        let share = if unweighted > 0 {
            (100.0 - weighted_sum) / unweighted as f64
        } else {
            0.0
        };
        used.into_iter()
            .map(|g| (g.to_string(), self.groups.get(g).copied().unwrap_or(share)))
            .collect()
    }
}

/// Per-metric outcome (Kayenta's classification labels plus `Inconclusive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No regression detected.
    Pass,
    /// Canary significantly higher than baseline.
    High,
    /// Canary significantly lower than baseline.
    Low,
    /// No data on at least one side (Kayenta `Nodata`).
    Nodata,
    /// No data on a `must_have_data` metric (Kayenta `NodataFailMetric`):
    /// counts as a failure inside its group.
    NodataFailure,
    /// Fewer than `min_samples` on a side: no verdict for this metric.
    Inconclusive,
}

/// The judgement of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    /// Metric name.
    pub metric: String,
    /// Its group.
    pub group: String,
    /// Baseline samples used (after NaN handling and outlier removal).
    pub n_baseline: usize,
    /// Canary samples used (after NaN handling and outlier removal).
    pub n_canary: usize,
    /// Mann-Whitney U of the canary (`x` = canary, `y` = baseline).
    pub u: Option<f64>,
    /// Two-sided Mann-Whitney p-value (SciPy defaults); informational.
    pub p_value: Option<f64>,
    /// Hodges-Lehmann shift, canary - baseline (positive = canary higher).
    pub hodges_lehmann: Option<f64>,
    /// Lower bound of the shift's `confidence` interval.
    pub ci_lower: Option<f64>,
    /// Upper bound of the shift's `confidence` interval.
    pub ci_upper: Option<f64>,
    /// mean(canary) / mean(baseline), `None` if undefined (a mean is 0).
    pub mean_ratio: Option<f64>,
    /// The classification.
    pub classification: Classification,
    /// True when this result is a critical failure (fails the canary).
    pub critical: bool,
    /// Human-readable explanation.
    pub reason: String,
}

/// The score of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupScore {
    /// Group name.
    pub name: String,
    /// Effective weight in percent.
    pub weight: f64,
    /// `100 * pass / (pass + high + low + nodata_failure)`, 0 when no data.
    pub score: f64,
    /// No metric of the group had a Pass/High/Low/NodataFailure result (the
    /// group then counts as 100 in the total, as in Kayenta).
    pub no_data: bool,
    /// Number of metrics in the group.
    pub metrics: usize,
    /// Count of `Pass` results.
    pub pass: usize,
    /// Count of `High` results.
    pub high: usize,
    /// Count of `Low` results.
    pub low: usize,
    /// Count of `Nodata` results.
    pub nodata: usize,
    /// Count of `NodataFailure` results.
    pub nodata_failure: usize,
    /// Count of `Inconclusive` results.
    pub inconclusive: usize,
}

/// Final outcome of the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// `score >= pass`.
    Pass,
    /// `marginal <= score < pass`.
    Marginal,
    /// `score < marginal`.
    Fail,
}

/// Everything [`judge`] decided, serialisable for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeReport {
    /// One result per configured metric, in configuration order.
    pub metrics: Vec<MetricResult>,
    /// One score per group, by name.
    pub groups: Vec<GroupScore>,
    /// Final score, 0..=100, rounded to 2 decimals.
    pub score: f64,
    /// Score compared with the thresholds.
    pub verdict: Verdict,
    /// Why the score was forced to 0 (critical failure / too many Nodata).
    pub reason: Option<String>,
    /// Series present in the sample maps but not configured (not judged).
    pub ignored_series: Vec<String>,
}

/// Apply the NaN strategy; infinities are treated like NaN.
pub(crate) fn clean(values: &[f64], strategy: NanStrategy) -> Vec<f64> {
    match strategy {
        NanStrategy::Remove => values.iter().copied().filter(|v| v.is_finite()).collect(),
        NanStrategy::Replace => values
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 })
            .collect(),
    }
}

/// R-7 percentile (`p` in percent) of sorted, non-empty data, as Apache
/// Commons Math `Percentile` with `EstimationType.R_7` (Kayenta's choice).
pub(crate) fn percentile_r7(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let h = (n - 1) as f64 * (p / 100.0);
    let lo = h.floor() as usize;
    if lo + 1 >= n {
        return sorted[n - 1];
    }
    sorted[lo] + (h - lo as f64) * (sorted[lo + 1] - sorted[lo])
}

/// Kayenta's `IQRDetector(factor, reduceSensitivity = true)` + `removeOutliers`.
pub(crate) fn remove_outliers(values: Vec<f64>, factor: f64) -> Vec<f64> {
    if values.is_empty() {
        return values;
    }
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let q1 = percentile_r7(&sorted, 25.0);
    let q3 = percentile_r7(&sorted, 75.0);
    let iqr = q3 - q1;
    let lower = percentile_r7(&sorted, 1.0).min(q1 - factor * iqr);
    let upper = percentile_r7(&sorted, 99.0).max(q3 + factor * iqr);
    values
        .into_iter()
        .filter(|&v| !(v > upper || v < lower))
        .collect()
}

pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn classify_metric(
    config: &JudgeConfig,
    mc: &MetricConfig,
    baseline_raw: &[f64],
    canary_raw: &[f64],
) -> MetricResult {
    let outliers = |v: Vec<f64>| match mc.outlier_strategy {
        OutlierStrategy::Keep => v,
        OutlierStrategy::Remove => {
            remove_outliers(v, mc.outlier_factor.unwrap_or(config.outlier_factor))
        }
    };
    let baseline = outliers(clean(baseline_raw, mc.nan_strategy));
    let canary = outliers(clean(canary_raw, mc.nan_strategy));
    let (mut result, no_data) = unjudged(mc, baseline.len(), canary.len());
    if no_data {
        return result;
    }

    let mw = mann_whitney_u(&canary, &baseline);
    let shift = shift_estimate(&canary, &baseline, config.confidence);
    let (mean_b, mean_c) = (mean(&baseline), mean(&canary));
    let ratio = if mean_b == 0.0 || mean_c == 0.0 {
        f64::NAN
    } else {
        mean_c / mean_b
    };
    result.u = finite(mw.u1);
    result.p_value = finite(mw.p_value);
    result.hodges_lehmann = finite(shift.estimate);
    result.ci_lower = finite(shift.lower);
    result.ci_upper = finite(shift.upper);
    result.mean_ratio = finite(ratio);

    if baseline.len() < config.min_samples || canary.len() < config.min_samples {
        result.classification = Classification::Inconclusive;
        result.critical = mc.critical;
        result.reason = format!(
            "too few samples: baseline {}, canary {}, min_samples {}",
            baseline.len(),
            canary.len(),
            config.min_samples
        );
        return result;
    }

    let mut sorted_b = baseline.clone();
    let mut sorted_c = canary.clone();
    sorted_b.sort_by(f64::total_cmp);
    sorted_c.sort_by(f64::total_cmp);
    if sorted_b == sorted_c {
        result.reason = "baseline and canary data are identical".to_string();
        return result;
    }
    let first = sorted_b[0];
    if sorted_b.iter().chain(&sorted_c).all(|&v| v == first) {
        result.reason = format!("every baseline and canary sample equals {first}");
        return result;
    }

    let bound = config.tolerance * shift.estimate.abs();
    let pct = config.confidence * 100.0;
    let interval = format!(
        "{pct}% interval of the shift [{}, {}], HL {}",
        shift.lower, shift.upper, shift.estimate
    );
    let ratio_text = if ratio.is_nan() {
        "mean ratio undefined (a mean is 0), effect size not checked".to_string()
    } else {
        format!("mean ratio {ratio}")
    };
    let up_allowed = matches!(mc.direction, Direction::Increase | Direction::Either);
    let down_allowed = matches!(mc.direction, Direction::Decrease | Direction::Either);
    let shifted_up = shift.lower > bound;
    let shifted_down = shift.upper < -bound;
    let big_up = ratio.is_nan() || ratio >= mc.allowed_increase;
    let big_down = ratio.is_nan() || ratio <= mc.allowed_decrease;

    if up_allowed && shifted_up && big_up {
        result.classification = Classification::High;
        result.reason = format!(
            "canary higher: {interval} lies above +{bound} (tolerance {} x |HL|); {ratio_text} >= allowed_increase {}",
            config.tolerance, mc.allowed_increase
        );
    } else if down_allowed && shifted_down && big_down {
        result.classification = Classification::Low;
        result.reason = format!(
            "canary lower: {interval} lies below -{bound} (tolerance {} x |HL|); {ratio_text} <= allowed_decrease {}",
            config.tolerance, mc.allowed_decrease
        );
    } else if shifted_up && !up_allowed {
        result.reason = format!("canary higher ({interval}) but only a decrease fails this metric");
    } else if shifted_down && !down_allowed {
        result.reason = format!("canary lower ({interval}) but only an increase fails this metric");
    } else if shifted_up {
        result.reason = format!(
            "canary higher ({interval}) but {ratio_text} < allowed_increase {}",
            mc.allowed_increase
        );
    } else if shifted_down {
        result.reason = format!(
            "canary lower ({interval}) but {ratio_text} > allowed_decrease {}",
            mc.allowed_decrease
        );
    } else {
        result.reason = format!(
            "no significant shift: {interval} overlaps +-{bound} (tolerance {} x |HL|)",
            config.tolerance
        );
    }
    if mc.critical
        && matches!(
            result.classification,
            Classification::High | Classification::Low
        )
    {
        result.critical = true;
        result.reason.push_str(" (critical metric)");
    }
    result
}

/// Round half-up (away from zero) to 2 decimals on the shortest decimal
/// representation, like Apache Commons `Precision.round(x, 2)` in Kayenta.
fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let text = format!("{}", x.abs());
    let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
    if frac_part.len() <= 2 || int_part.len() > 15 {
        return x;
    }
    let (Ok(int), Ok(cents)) = (int_part.parse::<u64>(), frac_part[..2].parse::<u64>()) else {
        return x;
    };
    let mut total = int * 100 + cents;
    if frac_part.as_bytes()[2] >= b'5' {
        total += 1;
    }
    (total as f64 / 100.0).copysign(x)
}

/// A metric's result before its samples are judged, and whether it is
/// already final: a side without samples is classified as Kayenta does
/// (no data); otherwise every statistic is still empty. Shared by both
/// judges.
pub(crate) fn unjudged(
    mc: &MetricConfig,
    n_baseline: usize,
    n_canary: usize,
) -> (MetricResult, bool) {
    let mut result = MetricResult {
        metric: mc.name.clone(),
        group: mc.group.clone(),
        n_baseline,
        n_canary,
        u: None,
        p_value: None,
        hodges_lehmann: None,
        ci_lower: None,
        ci_upper: None,
        mean_ratio: None,
        classification: Classification::Pass,
        critical: false,
        reason: String::new(),
    };
    if n_baseline == 0 || n_canary == 0 {
        let side = match (n_baseline == 0, n_canary == 0) {
            (true, true) => "baseline and canary",
            (true, false) => "baseline",
            _ => "canary",
        };
        if mc.nan_strategy == NanStrategy::Replace {
            result.reason = format!("no {side} data; nan_strategy = replace treats this as a pass");
        } else if mc.must_have_data && !mc.critical {
            result.classification = Classification::NodataFailure;
            result.reason = format!("no {side} data for a must_have_data metric");
        } else {
            result.classification = Classification::Nodata;
            result.critical = mc.critical;
            result.reason = format!("no {side} data");
        }
        return (result, true);
    }
    (result, false)
}

/// Judge a canary against its baseline.
///
/// `baseline` and `canary` map metric names to samples (e.g. from
/// [`parse_metric_csv`](super::parse_metric_csv)).  A configured metric
/// missing from a map has no data on that side; series that are not
/// configured are listed in [`JudgeReport::ignored_series`].  Fails only when
/// the configuration does not [`validate`](JudgeConfig::validate).
pub fn judge(
    config: &JudgeConfig,
    baseline: &BTreeMap<String, Vec<f64>>,
    canary: &BTreeMap<String, Vec<f64>>,
) -> Result<JudgeReport, ConfigError> {
    config.validate()?;
    let empty: Vec<f64> = Vec::new();
    let metrics: Vec<MetricResult> = config
        .metrics
        .iter()
        .map(|mc| {
            classify_metric(
                config,
                mc,
                baseline.get(&mc.name).unwrap_or(&empty),
                canary.get(&mc.name).unwrap_or(&empty),
            )
        })
        .collect();

    let ignored_series = ignored(config, baseline, canary);
    Ok(score(config, metrics, ignored_series))
}

/// Series present in the sample maps but not configured.
pub(crate) fn ignored(
    config: &JudgeConfig,
    baseline: &BTreeMap<String, Vec<f64>>,
    canary: &BTreeMap<String, Vec<f64>>,
) -> Vec<String> {
    let configured: BTreeSet<&str> = config.metrics.iter().map(|m| m.name.as_str()).collect();
    baseline
        .keys()
        .chain(canary.keys())
        .filter(|k| !configured.contains(k.as_str()))
        .cloned()
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect()
}

/// Kayenta's `WeightedSumScorer` and `ThresholdScoreClassifier` over
/// classified metrics (shared by every judge kind).
pub(crate) fn score(
    config: &JudgeConfig,
    metrics: Vec<MetricResult>,
    ignored_series: Vec<String>,
) -> JudgeReport {
    // Group scores.
    let weights = config.group_weights();
    let mut groups: BTreeMap<&str, GroupScore> = BTreeMap::new();
    for r in &metrics {
        let g = groups
            .entry(r.group.as_str())
            .or_insert_with(|| GroupScore {
                name: r.group.clone(),
                weight: weights.get(&r.group).copied().unwrap_or(0.0),
                score: 0.0,
                no_data: true,
                metrics: 0,
                pass: 0,
                high: 0,
                low: 0,
                nodata: 0,
                nodata_failure: 0,
                inconclusive: 0,
            });
        g.metrics += 1;
        match r.classification {
            Classification::Pass => g.pass += 1,
            Classification::High => g.high += 1,
            Classification::Low => g.low += 1,
            Classification::Nodata => g.nodata += 1,
            Classification::NodataFailure => g.nodata_failure += 1,
            Classification::Inconclusive => g.inconclusive += 1,
        }
    }
    for g in groups.values_mut() {
        let scored = g.pass + g.high + g.low + g.nodata_failure;
        g.no_data = scored == 0;
        g.score = if g.no_data {
            0.0
        } else {
            g.pass as f64 / scored as f64 * 100.0
        };
    }
    let groups: Vec<GroupScore> = groups.into_values().collect();

    // Summary score.
    let no_data = metrics
        .iter()
        .filter(|r| {
            matches!(
                r.classification,
                Classification::Nodata | Classification::Inconclusive
            )
        })
        .count();
    let no_data_percent = no_data as f64 / metrics.len() as f64 * 100.0;
    let (score, reason) = if let Some(failure) = metrics.iter().find(|r| r.critical) {
        (
            0.0,
            Some(format!(
                "canary failed: critical metric `{}` is {:?}: {}",
                failure.metric, failure.classification, failure.reason
            )),
        )
    } else if no_data_percent >= 50.0 {
        (
            0.0,
            Some(format!(
                "canary failed: {no_data} of {} metrics ({no_data_percent}%) had no data or too few samples; 50% or more fails",
                metrics.len()
            )),
        )
    } else {
        let total: f64 = groups
            .iter()
            .map(|g| {
                let effective = if g.no_data { 100.0 } else { g.score };
                effective * (g.weight / 100.0)
            })
            .sum();
        (round2(total), None)
    };
    let verdict = if score >= config.pass {
        Verdict::Pass
    } else if score >= config.marginal {
        Verdict::Marginal
    } else {
        Verdict::Fail
    };
    JudgeReport {
        metrics,
        groups,
        score,
        verdict,
        reason,
        ignored_series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round2_is_half_up_on_decimal_text() {
        assert_eq!(round2(66.666_666_666_666_67), 66.67);
        assert_eq!(round2(1.005), 1.01);
        assert_eq!(round2(12.344), 12.34);
        assert_eq!(round2(100.0), 100.0);
        assert_eq!(round2(0.0), 0.0);
        assert_eq!(round2(-2.675), -2.68);
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        let s = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile_r7(&s, 25.0), 2.0);
        assert_eq!(percentile_r7(&s, 75.0), 4.0);
        assert!((percentile_r7(&s, 99.0) - 9.76).abs() < 1e-12);
        assert_eq!(percentile_r7(&[7.0], 1.0), 7.0);
    }

    #[test]
    fn iqr_detector_drops_far_values_only() {
        let mut v: Vec<f64> = (0..100).map(|i| i as f64 / 10.0).collect();
        v.push(1000.0);
        let kept = remove_outliers(v, 3.0);
        assert_eq!(kept.len(), 100);
        assert!(kept.iter().all(|&x| x < 1000.0));
    }
}
