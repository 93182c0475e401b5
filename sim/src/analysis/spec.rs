//! Analysis templates as written (`[analysis.NAME]` at the top of a scenario,
//! or inline in a policy) and as validated.
//!
//! ```toml
//! [analysis.fail-fast]
//! [[analysis.fail-fast.metrics]]
//! name = "success-rate"
//! provider = "prometheus"           # a query over scrapes with conditions
//! query = "success-rate"            # success-rate | error-rate | error-count | requests | latency-p50 | latency-p95 | latency-p99
//! interval = "1m"
//! count = 13
//! success_condition = "result >= 0.95"
//! failure_limit = 0                 # default 0; -1 disables (needs consecutive_success_limit)
//! inconclusive_limit = 0            # default 0
//! consecutive_error_limit = 4       # default 4
//! consecutive_success_limit = 0     # default 0 (off); K: Successful after K in a row
//! min_requests = 100                # guard: fewer requests in the window → Inconclusive
//! # initial_delay = "2m", dry_run = true (measured and reported, never gates)
//!
//! [[analysis.fail-fast.metrics]]
//! name = "judge"
//! provider = "kayenta"              # the statistical judge, canary vs baseline
//! interval = "13m"
//! count = 1
//! series = [{ query = "success-rate", direction = "decrease", critical = true }]
//! # provider = "shape": the same keys (and `quantile`, default 0.95) for the
//! # shape judge, which is not Kayenta's (`docs/CALIBRATE.md`)
//! # per series: outlier_strategy = "keep" | "remove" (default keep, as
//! # Kayenta), outlier_factor (default: the metric's outlier_factor, else 3)
//! ```
//!
//! Validation follows Argo's `ValidateMetric` (`utils/analysis/factory.go`):
//! limits are counts ≥ 0 (only `failure_limit` takes -1, and only beside a
//! `consecutive_success_limit` ≥ 1); a `count` must be ≥ `failure_limit +
//! consecutive_success_limit` (≥ `consecutive_success_limit` when the
//! failure limit is off) and ≥ `inconclusive_limit`; `count` > 1 needs an
//! `interval`; `count = 0` means no count. Every analysis here gates a step
//! or a promotion, so, as Argo's `ValidateAnalysisTemplateWithType` requires
//! of those, no metric may run indefinitely (an `interval` needs a `count`).
//! Each rejection names the field and its line.

use super::condition::Condition;
use super::measure::{Query, Selector};
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::stats::{Direction, OutlierStrategy};
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// ---- as written -------------------------------------------------------------

/// An endpoint named in the scenario's endpoint mix, or its index.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawEndpoint {
    Index(i64),
    Name(String),
}

/// Per-endpoint weights: by name (`{ "/get" = 0.2, "/put" = 0.8 }`), by
/// index (`[0.2, 0.8]`), or `"endpoints"`: the `weight` of each endpoint of
/// the scenario's endpoint mix.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawWeights {
    ByIndex(Vec<f64>),
    ByName(BTreeMap<String, f64>),
    Keyword(String),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSeries {
    pub query: Query,
    pub name: Option<String>,
    pub group: Option<String>,
    pub direction: Option<Direction>,
    pub critical: Option<bool>,
    pub must_have_data: Option<bool>,
    pub allowed_increase: Option<f64>,
    pub allowed_decrease: Option<f64>,
    pub outlier_strategy: Option<OutlierStrategy>,
    pub outlier_factor: Option<f64>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, tag = "provider", rename_all = "kebab-case")]
pub enum RawMetric {
    Prometheus {
        name: String,
        interval: Option<SimDuration>,
        count: Option<i64>,
        initial_delay: Option<SimDuration>,
        failure_limit: Option<i64>,
        inconclusive_limit: Option<i64>,
        consecutive_error_limit: Option<i64>,
        consecutive_success_limit: Option<i64>,
        dry_run: Option<bool>,
        query: Query,
        cohort: Option<String>,
        endpoint: Option<RawEndpoint>,
        weights: Option<RawWeights>,
        success_condition: Option<String>,
        failure_condition: Option<String>,
        min_requests: Option<i64>,
    },
    Kayenta {
        name: String,
        interval: Option<SimDuration>,
        count: Option<i64>,
        initial_delay: Option<SimDuration>,
        failure_limit: Option<i64>,
        inconclusive_limit: Option<i64>,
        consecutive_error_limit: Option<i64>,
        consecutive_success_limit: Option<i64>,
        dry_run: Option<bool>,
        series: Vec<RawSeries>,
        pass: Option<f64>,
        marginal: Option<f64>,
        min_samples: Option<i64>,
        confidence: Option<f64>,
        tolerance: Option<f64>,
        outlier_factor: Option<f64>,
    },
    /// The shape judge (not Kayenta's): `quantile` besides the judge's keys.
    Shape {
        name: String,
        interval: Option<SimDuration>,
        count: Option<i64>,
        initial_delay: Option<SimDuration>,
        failure_limit: Option<i64>,
        inconclusive_limit: Option<i64>,
        consecutive_error_limit: Option<i64>,
        consecutive_success_limit: Option<i64>,
        dry_run: Option<bool>,
        series: Vec<RawSeries>,
        pass: Option<f64>,
        marginal: Option<f64>,
        min_samples: Option<i64>,
        confidence: Option<f64>,
        tolerance: Option<f64>,
        outlier_factor: Option<f64>,
        quantile: Option<f64>,
    },
}

/// A template (`[analysis.NAME]`), or an inline analysis in a policy.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawTemplate {
    /// Only in inline analyses (a template's name is its key).
    pub name: Option<String>,
    pub metrics: Vec<RawMetric>,
}

/// Where a policy names an analysis: `{ template = "NAME" }` or inline
/// `{ metrics = [...] }`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawAnalysisRef {
    pub template: Option<String>,
    pub name: Option<String>,
    pub metrics: Option<Vec<RawMetric>>,
}

// ---- validated ---------------------------------------------------------------

/// A validated analysis: a name and its metrics (templates are resolved into
/// the policy that uses them, so `--print-resolved` shows them inline).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalysisSpec {
    pub name: String,
    pub metrics: Vec<MetricSpec>,
}

/// One metric of an analysis (Argo's `Metric`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricSpec {
    pub name: String,
    /// Time between measurements; absent: a single measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<SimDuration>,
    /// Measurements to take; absent with an interval: indefinitely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    pub initial_delay: SimDuration,
    /// Failed measurements tolerated (fails when failed > limit); -1: never
    /// fails (only with a `consecutive_success_limit`).
    pub failure_limit: i64,
    /// Inconclusive measurements tolerated (≥ 0).
    pub inconclusive_limit: i64,
    /// Consecutive measurement errors (missing data) tolerated (≥ 0).
    pub consecutive_error_limit: i64,
    /// Consecutive successful measurements that end the metric Successful
    /// (Argo's `consecutiveSuccessLimit`); 0: disabled.
    #[serde(skip_serializing_if = "is_zero")]
    pub consecutive_success_limit: u32,
    /// Evaluated and reported, never gates.
    pub dry_run: bool,
    #[serde(flatten)]
    pub provider: Provider,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl MetricSpec {
    /// Argo's `EffectiveCount`: the measurements to take; absent count and
    /// interval: 1; an interval without a count: `None` (indefinitely).
    pub fn effective_count(&self) -> Option<u32> {
        match (self.count, self.interval) {
            (Some(n), _) => Some(n),
            (None, None) => Some(1),
            (None, Some(_)) => None,
        }
    }
}

/// How a metric measures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "provider", rename_all = "kebab-case")]
pub enum Provider {
    /// A query over the scrapes of one cohort, compared with conditions.
    Prometheus {
        query: Query,
        cohort: CohortName,
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        weights: Option<Vec<f64>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        success_condition: Option<Condition>,
        #[serde(skip_serializing_if = "Option::is_none")]
        failure_condition: Option<Condition>,
        /// The minimum-sample guard: a window with fewer requests behind the
        /// value is an Inconclusive measurement.
        #[serde(skip_serializing_if = "Option::is_none")]
        min_requests: Option<u64>,
    },
    /// The statistical judge (Kayenta's NetflixACAJudge) over per-scrape
    /// series of the new cohort (canary) against the old one (baseline).
    Kayenta {
        series: Vec<SeriesSpec>,
        pass: f64,
        marginal: f64,
        min_samples: usize,
        confidence: f64,
        tolerance: f64,
        outlier_factor: f64,
    },
    /// The shape judge ([`crate::stats::judge_shape`], not Kayenta's): the
    /// judge's keys and series, compared by their tails and counts.
    Shape {
        series: Vec<SeriesSpec>,
        pass: f64,
        marginal: f64,
        min_samples: usize,
        confidence: f64,
        tolerance: f64,
        outlier_factor: f64,
        quantile: f64,
    },
}

impl Provider {
    /// The selector of a Prometheus metric.
    pub fn selector(&self) -> Selector {
        match self {
            Provider::Prometheus {
                endpoint, weights, ..
            } => match (endpoint, weights) {
                (Some(e), _) => Selector::Endpoint(*e),
                (None, Some(w)) => Selector::Weighted(w.clone()),
                _ => Selector::All,
            },
            Provider::Kayenta { .. } | Provider::Shape { .. } => Selector::All,
        }
    }
}

impl Provider {
    /// A Kayenta judge's settings as a shape judge's.
    pub fn into_shape(self, quantile: f64) -> Provider {
        match self {
            Provider::Kayenta {
                series,
                pass,
                marginal,
                min_samples,
                confidence,
                tolerance,
                outlier_factor,
            } => Provider::Shape {
                series,
                pass,
                marginal,
                min_samples,
                confidence,
                tolerance,
                outlier_factor,
                quantile,
            },
            other => other,
        }
    }
}

/// Which cohort a Prometheus metric reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CohortName {
    New,
    Old,
}

/// One series the statistical judge compares.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesSpec {
    pub query: Query,
    pub name: String,
    pub group: String,
    pub direction: Direction,
    pub critical: bool,
    pub must_have_data: bool,
    pub allowed_increase: f64,
    pub allowed_decrease: f64,
    /// Kayenta's `outliers.strategy`: `keep` (default) or `remove`.
    pub outlier_strategy: OutlierStrategy,
    /// The IQR factor of `remove`: the series' own, else the metric's, else 3.
    pub outlier_factor: f64,
}

// ---- validation --------------------------------------------------------------

/// What validation needs to know about the scenario.
pub struct TemplateContext<'a> {
    pub templates: &'a BTreeMap<String, RawTemplate>,
    /// Endpoint names of the scenario's endpoint mix, by index (empty when it
    /// has none).
    pub endpoints: &'a [String],
    /// Their `weight`s, by index.
    pub endpoint_weights: &'a [f64],
}

/// A limit that must be a count ≥ 0 (`-1` allowed where `minus_one` says
/// what it means).
fn limit(
    c: &Checker<'_>,
    field: &str,
    v: Option<i64>,
    default: i64,
    minus_one: Option<&str>,
) -> Result<i64, ScenarioError> {
    match (v, minus_one) {
        (None, _) => Ok(default),
        (Some(n), _) if n >= 0 => Ok(n),
        (Some(-1), Some(_)) => Ok(-1),
        (Some(n), Some(m)) => {
            Err(c.err(field, format!("must be a count ≥ 0, or -1 to {m}, got {n}")))
        }
        (Some(n), None) => Err(c.err(field, format!("must be a count ≥ 0, got {n}"))),
    }
}

/// Resolves a policy's analysis reference into a validated analysis. `path`
/// is where the reference is written (e.g. `policy.steps[2].analysis`).
pub(crate) fn resolve(
    c: &Checker<'_>,
    path: &str,
    raw: &RawAnalysisRef,
    ctx: &TemplateContext<'_>,
) -> Result<AnalysisSpec, ScenarioError> {
    match (&raw.template, &raw.metrics) {
        (Some(_), Some(_)) => Err(c.err(
            &format!("{path}.template"),
            "give either `template` (a name from [analysis.NAME]) or inline `metrics`, not both",
        )),
        (None, None) => Err(c.err(
            path,
            "needs `template = \"NAME\"` (an [analysis.NAME] table) or inline `metrics = [...]`",
        )),
        (Some(t), None) => {
            if raw.name.is_some() {
                return Err(c.err(
                    &format!("{path}.name"),
                    "`name` is only for inline analyses; a template's name is its key",
                ));
            }
            let tpl = ctx.templates.get(t).ok_or_else(|| {
                let known: Vec<&str> = ctx.templates.keys().map(String::as_str).collect();
                c.err(
                    &format!("{path}.template"),
                    if known.is_empty() {
                        format!("no analysis template `{t}`: the scenario defines none (add an [analysis.{t}] table)")
                    } else {
                        format!("no analysis template `{t}`; defined: {}", known.join(", "))
                    },
                )
            })?;
            template(c, &format!("analysis.{t}"), t, &tpl.metrics, ctx)
        }
        (None, Some(metrics)) => {
            let name = raw.name.clone().unwrap_or_else(|| "inline".to_string());
            template(c, path, &name, metrics, ctx)
        }
    }
}

/// Validates every template, so an unused one with a mistake is still an
/// error.
pub(crate) fn check_templates(
    c: &Checker<'_>,
    ctx: &TemplateContext<'_>,
) -> Result<(), ScenarioError> {
    for (name, t) in ctx.templates {
        if t.name.is_some() {
            return Err(c.err(
                &format!("analysis.{name}.name"),
                "a template's name is its key: remove `name`",
            ));
        }
        template(c, &format!("analysis.{name}"), name, &t.metrics, ctx)?;
    }
    Ok(())
}

fn template(
    c: &Checker<'_>,
    path: &str,
    name: &str,
    metrics: &[RawMetric],
    ctx: &TemplateContext<'_>,
) -> Result<AnalysisSpec, ScenarioError> {
    if metrics.is_empty() {
        return Err(c.err(
            &format!("{path}.metrics"),
            "an analysis needs at least one metric",
        ));
    }
    let mut out = Vec::with_capacity(metrics.len());
    let mut names = std::collections::BTreeSet::new();
    for (i, m) in metrics.iter().enumerate() {
        let spec = metric(c, &format!("{path}.metrics[{i}]"), m, ctx)?;
        if !names.insert(spec.name.clone()) {
            return Err(c.err(
                &format!("{path}.metrics[{i}].name"),
                format!("metric `{}` is defined twice in this analysis", spec.name),
            ));
        }
        out.push(spec);
    }
    Ok(AnalysisSpec {
        name: name.to_string(),
        metrics: out,
    })
}

/// The fields every metric has, validated as Argo's `ValidateMetric`
/// (`utils/analysis/factory.go`) and, since every analysis here gates a step
/// or a promotion, `ValidateAnalysisTemplateWithType` (no metric may run
/// indefinitely). Limits are `[failure, inconclusive, consecutive_error,
/// consecutive_success]`.
#[allow(clippy::too_many_arguments)]
fn common(
    c: &Checker<'_>,
    path: &str,
    name: &str,
    interval: Option<SimDuration>,
    count: Option<i64>,
    initial_delay: Option<SimDuration>,
    limits: [Option<i64>; 4],
    dry_run: Option<bool>,
    provider: Provider,
) -> Result<MetricSpec, ScenarioError> {
    let f = |k: &str| format!("{path}.{k}");
    if name.trim().is_empty() {
        return Err(c.err(&f("name"), "must not be empty"));
    }
    if interval.is_some_and(|d| d.is_zero()) {
        return Err(c.err(&f("interval"), "must be longer than 0s"));
    }
    let consecutive_success_limit = limit(c, &f("consecutive_success_limit"), limits[3], 0, None)?;
    let failure_limit = limit(
        c,
        &f("failure_limit"),
        limits[0],
        0,
        Some("disable the limit"),
    )?;
    if consecutive_success_limit == 0 && failure_limit == -1 {
        return Err(c.err(
            &f("failure_limit"),
            "failure_limit = -1 needs a consecutive_success_limit ≥ 1 to decide the metric \
             (Argo: failureLimit and consecutiveSuccessLimit cannot both be disabled)",
        ));
    }
    let inconclusive_limit = limit(c, &f("inconclusive_limit"), limits[1], 0, None)?;
    let consecutive_error_limit = limit(c, &f("consecutive_error_limit"), limits[2], 4, None)?;
    let count = match count {
        // Argo's EffectiveCount reads 0 as "not given".
        None | Some(0) => None,
        Some(n) if (1..=1_000_000).contains(&n) => Some(n as u32),
        Some(n) => {
            return Err(c.err(
                &f("count"),
                format!("must be between 1 and 1000000 measurements, got {n}"),
            ))
        }
    };
    if let Some(n) = count.map(i64::from) {
        if failure_limit >= 0 && n < failure_limit + consecutive_success_limit {
            return Err(c.err(
                &f("count"),
                format!(
                    "count ({n}) must be ≥ failure_limit + consecutive_success_limit \
                     ({failure_limit} + {consecutive_success_limit})"
                ),
            ));
        }
        if failure_limit < 0 && n < consecutive_success_limit {
            return Err(c.err(
                &f("count"),
                format!(
                    "count ({n}) must be ≥ consecutive_success_limit ({consecutive_success_limit})"
                ),
            ));
        }
        if n < inconclusive_limit {
            return Err(c.err(
                &f("count"),
                format!("count ({n}) must be ≥ inconclusive_limit ({inconclusive_limit})"),
            ));
        }
    }
    if interval.is_none() && count.is_some_and(|n| n > 1) {
        return Err(c.err(
            &f("count"),
            "more than one measurement needs an `interval` between them",
        ));
    }
    // An `interval` without a `count` runs indefinitely: valid in a
    // background analysis, an error where an analysis must end (a step, a
    // promotion), which the policy checks where it uses the analysis
    // (`policy::spec::analysis`), as Argo's `ValidateAnalysisTemplateWithType`.
    Ok(MetricSpec {
        name: name.to_string(),
        interval,
        count,
        initial_delay: initial_delay.unwrap_or(SimDuration::ZERO),
        failure_limit,
        inconclusive_limit,
        consecutive_error_limit,
        consecutive_success_limit: consecutive_success_limit.min(i64::from(u32::MAX)) as u32,
        dry_run: dry_run.unwrap_or(false),
        provider,
    })
}

fn endpoint_index(
    c: &Checker<'_>,
    field: &str,
    e: &RawEndpoint,
    ctx: &TemplateContext<'_>,
) -> Result<usize, ScenarioError> {
    match e {
        RawEndpoint::Index(i) if *i >= 0 && (ctx.endpoints.is_empty() || (*i as usize) < ctx.endpoints.len()) => {
            Ok(*i as usize)
        }
        RawEndpoint::Index(i) => Err(c.err(
            field,
            format!(
                "endpoint index {i} is out of range: the scenario has {} endpoints",
                ctx.endpoints.len()
            ),
        )),
        RawEndpoint::Name(n) => ctx.endpoints.iter().position(|x| x == n).ok_or_else(|| {
            c.err(
                field,
                if ctx.endpoints.is_empty() {
                    format!("no endpoint `{n}`: the scenario defines no endpoint mix (or give an index)")
                } else {
                    format!("no endpoint `{n}`; the scenario's endpoints are: {}", ctx.endpoints.join(", "))
                },
            )
        }),
    }
}

fn metric(
    c: &Checker<'_>,
    path: &str,
    m: &RawMetric,
    ctx: &TemplateContext<'_>,
) -> Result<MetricSpec, ScenarioError> {
    let f = |k: &str| format!("{path}.{k}");
    if let RawMetric::Shape {
        name,
        interval,
        count,
        initial_delay,
        failure_limit,
        inconclusive_limit,
        consecutive_error_limit,
        consecutive_success_limit,
        dry_run,
        series,
        pass,
        marginal,
        min_samples,
        confidence,
        tolerance,
        outlier_factor,
        quantile,
    } = m
    {
        let as_judge = RawMetric::Kayenta {
            name: name.clone(),
            interval: *interval,
            count: *count,
            initial_delay: *initial_delay,
            failure_limit: *failure_limit,
            inconclusive_limit: *inconclusive_limit,
            consecutive_error_limit: *consecutive_error_limit,
            consecutive_success_limit: *consecutive_success_limit,
            dry_run: *dry_run,
            series: series.clone(),
            pass: *pass,
            marginal: *marginal,
            min_samples: *min_samples,
            confidence: *confidence,
            tolerance: *tolerance,
            outlier_factor: *outlier_factor,
        };
        let mut spec = metric(c, path, &as_judge, ctx)?;
        let quantile = quantile.unwrap_or(crate::stats::ShapeOptions::DEFAULT_QUANTILE);
        if !(quantile > 0.5 && quantile < 1.0) {
            return Err(c.err(
                &f("quantile"),
                format!("must be between 0.5 and 1 (exclusive), got {quantile}"),
            ));
        }
        spec.provider = spec.provider.into_shape(quantile);
        return Ok(spec);
    }
    match m {
        RawMetric::Shape { .. } => unreachable!("handled above"),
        RawMetric::Prometheus {
            name,
            interval,
            count,
            initial_delay,
            failure_limit,
            inconclusive_limit,
            consecutive_error_limit,
            consecutive_success_limit,
            dry_run,
            query,
            cohort,
            endpoint,
            weights,
            success_condition,
            failure_condition,
            min_requests,
        } => {
            let cohort = match cohort.as_deref() {
                None | Some("new") => CohortName::New,
                Some("old") => CohortName::Old,
                Some(o) => {
                    return Err(c.err(
                        &f("cohort"),
                        format!("unknown cohort \"{o}\"; allowed: \"new\" (the canary), \"old\" (the stable version)"),
                    ))
                }
            };
            if endpoint.is_some() && weights.is_some() {
                return Err(c.err(
                    &f("weights"),
                    "give either one `endpoint` or per-endpoint `weights`, not both",
                ));
            }
            let endpoint = match endpoint {
                Some(e) => Some(endpoint_index(c, &f("endpoint"), e, ctx)?),
                None => None,
            };
            if *query == Query::ReadyRatio && (endpoint.is_some() || weights.is_some()) {
                return Err(c.err(
                    &f("query"),
                    "ready-ratio counts hosts of the whole cohort; it has no per-endpoint form",
                ));
            }
            let weights = match weights {
                None => None,
                Some(w) => {
                    if !query.is_rate() {
                        return Err(c.err(
                            &f("weights"),
                            format!(
                                "per-endpoint weights apply to success-rate and error-rate, not {}",
                                query.as_str()
                            ),
                        ));
                    }
                    let dense = match w {
                        RawWeights::ByIndex(v) => v.clone(),
                        RawWeights::Keyword(k) if k == "endpoints" => {
                            if ctx.endpoint_weights.is_empty() {
                                return Err(c.err(
                                    &f("weights"),
                                    "weights = \"endpoints\" needs an endpoint mix ([[traffic.endpoints]])",
                                ));
                            }
                            let sum: f64 = ctx.endpoint_weights.iter().sum();
                            ctx.endpoint_weights.iter().map(|w| w / sum).collect()
                        }
                        RawWeights::Keyword(k) => {
                            return Err(c.err(
                                &f("weights"),
                                format!("unknown weights \"{k}\": write \"endpoints\" (the scenario's endpoint weights), a list by index or a table by endpoint name"),
                            ))
                        }
                        RawWeights::ByName(m) => {
                            let mut v = vec![0.0; ctx.endpoints.len()];
                            for (name, w) in m {
                                let i = endpoint_index(
                                    c,
                                    &f("weights"),
                                    &RawEndpoint::Name(name.clone()),
                                    ctx,
                                )?;
                                v[i] = *w;
                            }
                            v
                        }
                    };
                    let sum: f64 = dense.iter().sum();
                    if dense.iter().any(|w| !(w.is_finite() && *w >= 0.0))
                        || (sum - 1.0).abs() > 1e-9
                    {
                        return Err(c.err(
                            &f("weights"),
                            format!("weights must be ≥ 0 and sum to 1, got a sum of {sum}"),
                        ));
                    }
                    Some(dense)
                }
            };
            let cond = |k: &str, v: &Option<String>| -> Result<Option<Condition>, ScenarioError> {
                v.as_deref()
                    .map(|s| Condition::parse(s).map_err(|e| c.err(&f(k), e)))
                    .transpose()
            };
            let min_requests = match *min_requests {
                None | Some(0) => None,
                Some(n) if n < 0 => {
                    return Err(c.err(
                        &f("min_requests"),
                        format!("must be a count of requests ≥ 0 (0: no guard), got {n}"),
                    ))
                }
                Some(_) if *query == Query::ReadyRatio => {
                    return Err(c.err(
                        &f("min_requests"),
                        "ready-ratio counts hosts, not requests: it has no request guard",
                    ))
                }
                Some(n) => Some(n as u64),
            };
            let provider = Provider::Prometheus {
                query: *query,
                cohort,
                endpoint,
                weights,
                success_condition: cond("success_condition", success_condition)?,
                failure_condition: cond("failure_condition", failure_condition)?,
                min_requests,
            };
            common(
                c,
                path,
                name,
                *interval,
                *count,
                *initial_delay,
                [
                    *failure_limit,
                    *inconclusive_limit,
                    *consecutive_error_limit,
                    *consecutive_success_limit,
                ],
                *dry_run,
                provider,
            )
        }
        RawMetric::Kayenta {
            name,
            interval,
            count,
            initial_delay,
            failure_limit,
            inconclusive_limit,
            consecutive_error_limit,
            consecutive_success_limit,
            dry_run,
            series,
            pass,
            marginal,
            min_samples,
            confidence,
            tolerance,
            outlier_factor,
        } => {
            if series.is_empty() {
                return Err(c.err(&f("series"), "the judge needs at least one series"));
            }
            let mut out = Vec::new();
            for s in series {
                let name = s
                    .name
                    .clone()
                    .unwrap_or_else(|| s.query.as_str().to_string());
                if out.iter().any(|o: &SeriesSpec| o.name == name) {
                    return Err(c.err(
                        &f("series"),
                        format!("series `{name}` is listed twice; give each a distinct `name`"),
                    ));
                }
                out.push(SeriesSpec {
                    query: s.query,
                    group: s.group.clone().unwrap_or_else(|| name.clone()),
                    name,
                    direction: s.direction.unwrap_or_default(),
                    critical: s.critical.unwrap_or(false),
                    must_have_data: s.must_have_data.unwrap_or(false),
                    allowed_increase: s.allowed_increase.unwrap_or(1.0),
                    allowed_decrease: s.allowed_decrease.unwrap_or(1.0),
                    outlier_strategy: s.outlier_strategy.unwrap_or_default(),
                    outlier_factor: s
                        .outlier_factor
                        .or(*outlier_factor)
                        .unwrap_or(crate::stats::JudgeConfig::DEFAULT_OUTLIER_FACTOR),
                });
            }
            let min_samples = match min_samples {
                None => crate::stats::JudgeConfig::DEFAULT_MIN_SAMPLES,
                Some(n) if *n >= 0 => *n as usize,
                Some(n) => return Err(c.err(&f("min_samples"), format!("must be ≥ 0, got {n}"))),
            };
            let provider = Provider::Kayenta {
                series: out,
                pass: pass.unwrap_or(crate::stats::JudgeConfig::DEFAULT_PASS),
                marginal: marginal.unwrap_or(crate::stats::JudgeConfig::DEFAULT_MARGINAL),
                min_samples,
                confidence: confidence.unwrap_or(crate::stats::JudgeConfig::DEFAULT_CONFIDENCE),
                tolerance: tolerance.unwrap_or(crate::stats::JudgeConfig::DEFAULT_TOLERANCE),
                outlier_factor: outlier_factor
                    .unwrap_or(crate::stats::JudgeConfig::DEFAULT_OUTLIER_FACTOR),
            };
            let spec = common(
                c,
                path,
                name,
                *interval,
                *count,
                *initial_delay,
                [
                    *failure_limit,
                    *inconclusive_limit,
                    *consecutive_error_limit,
                    *consecutive_success_limit,
                ],
                *dry_run,
                provider,
            )?;
            if let Err(e) = super::judge::judge_config(&spec.provider).validate() {
                return Err(c.err(path, e.message));
            }
            Ok(spec)
        }
    }
}
