//! Statistics used by analysis judges: a Kayenta-style canary judge and the
//! rank statistics behind it.  Pure `f64` code: no I/O, clock, threads or
//! randomness, so every result is reproducible bit for bit.
//!
//! * [`mann_whitney_u`] — two-sided Mann-Whitney U test matching
//!   `scipy.stats.mannwhitneyu(x, y)` with SciPy's defaults (exact
//!   distribution for small tie-free samples, tie-corrected normal
//!   approximation with continuity correction otherwise).
//! * [`hodges_lehmann`] / [`shift_estimate`] — median of the pairwise
//!   differences `canary - baseline` (positive = canary higher) and its
//!   distribution-free confidence interval.
//! * [`judge()`] — Kayenta `NetflixACAJudge` semantics: NaN handling, opt-in IQR
//!   outlier removal (`outlier_strategy = remove`; default keep), Mann-Whitney/Hodges-Lehmann classification with a
//!   tolerance band and effect sizes, critical metrics, weighted group
//!   scoring, Pass/Marginal/Fail thresholds, plus a minimum-sample guard.
//! * [`judge_shape`] — the shape judge (not Kayenta's): Kolmogorov-Smirnov and
//!   tail-exceedance tests on distributions, the exact Poisson rate test on
//!   counts, the sign test on scrape-paired series; Kayenta's scoring.
//! * [`anderson_ksamp`] — the k-sample Anderson-Darling test, as SciPy's
//!   `anderson_ksamp` (Scholz & Stephens 1987; interpolated p-value).
//! * [`exact`] — exact binomial, hypergeometric, Poisson-rate and KS tails.
//! * [`parse_metric_csv`] — strict `metric,value` CSV reader (text in).
//! * [`normal`] — the normal CDF and quantile the above need.
//!
//! Each submodule's documentation states exactly which SciPy or Kayenta
//! behaviour it reproduces and where it deliberately differs.

pub mod anderson;
pub mod csv;
pub mod exact;
pub mod judge;
pub mod mannwhitney;
pub mod normal;
pub mod shape;

pub use anderson::{anderson_ksamp, AndersonKSamp};
pub use csv::{parse_metric_csv, CsvError, CSV_HEADER};
pub use judge::{
    judge, Classification, ConfigError, Direction, GroupScore, JudgeConfig, JudgeReport,
    MetricConfig, MetricResult, NanStrategy, OutlierStrategy, Verdict,
};
pub use mannwhitney::{
    hodges_lehmann, mann_whitney_u, shift_estimate, MannWhitney, Method, ShiftEstimate,
};
pub use shape::{judge_shape, SeriesKind, ShapeOptions, ShapeSeries};
