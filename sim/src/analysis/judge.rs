//! The statistical judge as an analysis metric: [`crate::stats::judge()`] over
//! per-scrape series of the new cohort (canary) against the old one
//! (baseline), collected from observations.
//!
//! Each tick adds one point per series and side (a side without data for a
//! query adds none); each measurement judges every point collected since the
//! metric's `initial_delay` (Kayenta's cumulative "lifetime" window). The
//! score maps to a measurement phase as Argo's Kayenta provider does:
//! `score ≥ pass` → Successful, `score ≥ marginal` → Inconclusive, else
//! Failed. The minimum-sample guard comes first: while any series has fewer
//! than `min_samples` points (default 50: 50 scrapes at 15 s ≈ 12.5 min) on
//! either side, the measurement is Inconclusive, never a pass or a failure.

use super::measure::{Acc, Scope};
use super::spec::Provider;
use super::AnalysisPhase;
use crate::protocol::{Cohort, Observation};
use crate::stats::{judge, Classification, JudgeConfig, JudgeReport, MetricConfig};
use std::collections::BTreeMap;

/// The judge configuration of a `provider = "kayenta"` metric.
pub fn judge_config(p: &Provider) -> JudgeConfig {
    let Provider::Kayenta {
        series,
        pass,
        marginal,
        min_samples,
        confidence,
        tolerance,
        outlier_factor,
    } = p
    else {
        panic!("judge_config of a non-kayenta metric");
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
}

impl Series {
    /// Adds this tick's point of every series of `p`.
    pub fn add(&mut self, p: &Provider, obs: &Observation<'_>, scope: Scope) {
        let Provider::Kayenta { series, .. } = p else {
            return;
        };
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

/// Judges the series collected so far: the measurement's phase, its report,
/// and a one-line account for the audit log.
pub fn measure(p: &Provider, series: &Series) -> (AnalysisPhase, JudgeReport, String) {
    let config = judge_config(p);
    let report = judge(&config, &series.baseline, &series.canary)
        .expect("validated judge configurations always judge");
    let per_metric: Vec<String> = report
        .metrics
        .iter()
        .map(|m| {
            format!(
                "{} {:?} (n {}/{}, p {}, HL {})",
                m.metric,
                m.classification,
                m.n_baseline,
                m.n_canary,
                m.p_value.map_or("-".into(), |p| format!("{p:.4}")),
                m.hodges_lehmann.map_or("-".into(), |h| format!("{h:.6}")),
            )
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
