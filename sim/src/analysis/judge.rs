//! The statistical judge as an analysis metric: [`crate::stats::judge()`] over
//! per-scrape series of the new cohort (canary) against the old one
//! (baseline), collected from observations.
//!
//! Each tick adds one point per series and side (a side without data for a
//! query adds none); each measurement judges every point collected since the
//! metric's `initial_delay` (Kayenta's cumulative "lifetime" window). The
//! score maps to a measurement phase as Argo's Kayenta provider does:
//! `score ≥ pass` → Successful, `score ≥ marginal` → Inconclusive, else
//! Failed. A `provider = "shape"` metric judges the same series with
//! [`crate::stats::judge_shape`] (not Kayenta's): request ratios and error
//! counts as failures per request (the conditional Poisson rate test; a
//! success rate's `decrease` is tested as the failure rate's increase, with
//! effect thresholds 1), latencies and other values paired by scrape (the
//! sign test of the log ratios). The minimum-sample guard comes first: while any series has fewer
//! than `min_samples` points (default 50: 50 scrapes at 15 s ≈ 12.5 min) on
//! either side, the measurement is Inconclusive, never a pass or a failure.

use super::measure::{Acc, Query, Scope};
use super::spec::{Provider, SeriesSpec};
use super::AnalysisPhase;
use crate::protocol::{Cohort, Observation};
use crate::stats::{
    judge, judge_shape, Classification, Direction, JudgeConfig, JudgeReport, MetricConfig,
    SeriesKind, ShapeOptions, ShapeSeries,
};
use std::collections::BTreeMap;

/// The judge configuration of a `provider = "kayenta"` metric.
pub fn judge_config(p: &Provider) -> JudgeConfig {
    let (Provider::Kayenta {
        series,
        pass,
        marginal,
        min_samples,
        confidence,
        tolerance,
        outlier_factor,
    }
    | Provider::Shape {
        series,
        pass,
        marginal,
        min_samples,
        confidence,
        tolerance,
        outlier_factor,
        ..
    }) = p
    else {
        panic!("judge_config of a metric that is not a judge");
    };
    let metrics = series
        .iter()
        .map(|s| MetricConfig {
            name: s.name.clone(),
            group: s.group.clone(),
            direction: s.direction,
            critical: s.critical,
            must_have_data: s.must_have_data,
            allowed_increase: s.allowed_increase,
            allowed_decrease: s.allowed_decrease,
            nan_strategy: Default::default(),
            outlier_strategy: s.outlier_strategy,
            outlier_factor: Some(s.outlier_factor),
        })
        .collect();
    JudgeConfig {
        metrics,
        groups: BTreeMap::new(),
        marginal: *marginal,
        pass: *pass,
        confidence: *confidence,
        tolerance: *tolerance,
        outlier_factor: *outlier_factor,
        min_samples: *min_samples,
    }
}

/// Per-scrape samples of every series, baseline and canary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub baseline: BTreeMap<String, Vec<f64>>,
    pub canary: BTreeMap<String, Vec<f64>>,
    /// The shape judge's data: failures and requests per scrape for rate
    /// queries, scrape-paired values for the others.
    pub shape: BTreeMap<String, ShapeSeries>,
}

/// The shape judge's kind for a query: counts for the request ratios and
/// error counts, scrape-paired values otherwise.
pub fn shape_kind(q: Query) -> SeriesKind {
    match q {
        Query::SuccessRate | Query::ErrorRate | Query::ErrorCount => SeriesKind::Rate,
        _ => SeriesKind::Paired,
    }
}

impl Series {
    /// Adds this tick's point of every series of `p`.
    pub fn add(&mut self, p: &Provider, obs: &Observation<'_>, scope: Scope) {
        let (Provider::Kayenta { series, .. } | Provider::Shape { series, .. }) = p else {
            return;
        };
        if matches!(p, Provider::Shape { .. }) {
            self.add_shape(series, obs, scope);
            return;
        }
        for (cohort, map) in [
            (Cohort::Old, &mut self.baseline),
            (Cohort::New, &mut self.canary),
        ] {
            let mut acc = Acc {
                scrapes: 1,
                ..Acc::default()
            };
            for (g, view) in obs.groups.iter().enumerate() {
                if scope == Scope::All || scope == Scope::Group(g) {
                    acc.add_group(view, cohort);
                }
            }
            for s in series {
                if let Some(v) = acc.value(s.query) {
                    map.entry(s.name.clone()).or_default().push(v);
                }
            }
        }
    }
}

impl Series {
    fn add_shape(&mut self, series: &[SeriesSpec], obs: &Observation<'_>, scope: Scope) {
        let acc = |cohort: Cohort| {
            let mut acc = Acc {
                scrapes: 1,
                ..Acc::default()
            };
            for (g, view) in obs.groups.iter().enumerate() {
                if scope == Scope::All || scope == Scope::Group(g) {
                    acc.add_group(view, cohort);
                }
            }
            acc
        };
        let (old, new) = (acc(Cohort::Old), acc(Cohort::New));
        for s in series {
            let entry = self.shape.entry(s.name.clone()).or_default();
            entry.kind = shape_kind(s.query);
            match entry.kind {
                SeriesKind::Rate => {
                    // Failures per request; a success rate's decrease is a
                    // failure rate's increase (the direction flips in
                    // `measure`).
                    entry.baseline.push(old.failed as f64);
                    entry.baseline_exposure.push(old.requests as f64);
                    entry.canary.push(new.failed as f64);
                    entry.canary_exposure.push(new.requests as f64);
                }
                _ => {
                    if let (Some(b), Some(c)) = (old.value(s.query), new.value(s.query)) {
                        entry.baseline.push(b);
                        entry.canary.push(c);
                    }
                }
            }
        }
    }
}

/// Judges the series collected so far: the measurement's phase, its report,
/// and a one-line account for the audit log.
pub fn measure(p: &Provider, series: &Series) -> (AnalysisPhase, JudgeReport, String) {
    let mut config = judge_config(p);
    let report = if let Provider::Shape {
        quantile,
        series: specs,
        ..
    } = p
    {
        for (mc, s) in config.metrics.iter_mut().zip(specs) {
            if s.query == Query::SuccessRate {
                mc.direction = match mc.direction {
                    Direction::Increase => Direction::Decrease,
                    Direction::Decrease => Direction::Increase,
                    Direction::Either => Direction::Either,
                };
                (mc.allowed_increase, mc.allowed_decrease) = (1.0, 1.0);
            }
        }
        let opts = ShapeOptions {
            quantile: *quantile,
        };
        judge_shape(&config, &opts, &series.shape)
    } else {
        judge(&config, &series.baseline, &series.canary)
    }
    .expect("validated judge configurations always judge");
    let per_metric: Vec<String> = report
        .metrics
        .iter()
        .map(|m| {
            let p_value = m.p_value.map_or("-".into(), |p| format!("{p:.4}"));
            if matches!(p, Provider::Shape { .. }) {
                // The shape judge has no Hodges-Lehmann shift; its p is the
                // smallest of its tests'.
                format!(
                    "{} {:?} (n {}/{}, p {p_value})",
                    m.metric, m.classification, m.n_baseline, m.n_canary,
                )
            } else {
                format!(
                    "{} {:?} (n {}/{}, p {p_value}, HL {})",
                    m.metric,
                    m.classification,
                    m.n_baseline,
                    m.n_canary,
                    m.hodges_lehmann.map_or("-".into(), |h| format!("{h:.6}")),
                )
            }
        })
        .collect();
    let guard = report
        .metrics
        .iter()
        .any(|m| m.classification == Classification::Inconclusive);
    let phase = if guard {
        AnalysisPhase::Inconclusive
    } else if report.score >= config.pass {
        AnalysisPhase::Successful
    } else if report.score >= config.marginal {
        AnalysisPhase::Inconclusive
    } else {
        AnalysisPhase::Failed
    };
    let text = if guard {
        format!(
            "judge: too few samples for a verdict (min_samples {}): {}",
            config.min_samples,
            per_metric.join("; ")
        )
    } else {
        format!(
            "judge score {} ({:?}; pass {}, marginal {}): {}",
            report.score,
            report.verdict,
            config.pass,
            config.marginal,
            per_metric.join("; ")
        )
    };
    (phase, report, text)
}
