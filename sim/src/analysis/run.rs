//! An analysis run (Argo's `AnalysisRun`): a pure state machine fed one
//! observation per tick.
//!
//! ```text
//!  start(t0) ──▶ each tick t > t0: every unfinished metric
//!                  1. adds the tick's scrape to its window (from t0 + initial_delay)
//!                  2. if due, measures:  due_k = t0 + initial_delay + k × interval
//!                     (no interval: one measurement at the first tick with data)
//!                  3. assesses its phase from its counters
//!                the run's phase = the worst phase of its gating metrics
//! ```
//!
//! A measurement summarises the scrapes since the previous one (so the first
//! comes one interval in, not at the start as a Prometheus range query
//! reaching back before the canary would). Its phase follows Argo's
//! `EvaluateResult`: no conditions → Successful; only `success_condition` →
//! Successful if it holds, else Failed; only `failure_condition` → Failed if
//! it holds, else Successful; both → Failed if the failure holds, Successful
//! if the success holds, else Inconclusive. Missing data (no scrape, or no
//! request for a rate or latency) is a measurement **Error**, which does not
//! count towards `count` and is retried at the next interval (the next tick
//! without an interval).
//!
//! A metric's phase follows Argo's `assessMetricStatus`, checked in order:
//! no measurement yet → Pending; `failed > failure_limit` → Failed;
//! `inconclusive > inconclusive_limit` → Inconclusive;
//! `consecutive_errors > consecutive_error_limit` → Error (a limit of -1
//! disables its check); `count` measurements taken → Successful; otherwise
//! Running. A metric without an interval is done after its one measurement.
//!
//! The run ends as soon as a gating (non-`dry_run`) metric ends Failed, Error
//! or Inconclusive — with the worst phase of its gating metrics — or when
//! every gating metric is Successful. Dry-run metrics are measured and
//! reported alongside but never change the run's phase.

use super::judge::{self, Series};
use super::measure::{Scope, Window};
use super::spec::{AnalysisSpec, CohortName, MetricSpec, Provider};
use super::AnalysisPhase;
use crate::protocol::{Action, Cohort, Observation};
use crate::time::{SimDuration, SimTime};

/// Counters of one metric (Argo's `MetricResult`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricResult {
    pub name: String,
    pub phase: AnalysisPhase,
    /// Measurements that were not errors (Argo's `count`).
    pub count: u32,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub error: u32,
    pub consecutive_error: u32,
    /// The last measured value (the judge's score for a Kayenta metric).
    pub last_value: Option<f64>,
    pub dry_run: bool,
}

#[derive(Clone, Debug)]
struct MetricRun {
    window: Window,
    series: Series,
    next_due: SimTime,
    result: MetricResult,
}

/// One run of an analysis.
#[derive(Clone, Debug)]
pub struct AnalysisRun {
    spec: AnalysisSpec,
    scope: Scope,
    started_at: SimTime,
    metrics: Vec<MetricRun>,
    phase: AnalysisPhase,
    /// Audit-log step name of this run (`analysis fail-fast`).
    step: String,
}

impl AnalysisRun {
    /// Starts a run at `now`; `label` names the policy step that runs it.
    pub fn start(spec: &AnalysisSpec, scope: Scope, now: SimTime, label: &str) -> Self {
        let metrics = spec
            .metrics
            .iter()
            .map(|m| MetricRun {
                window: Window::default(),
                series: Series::default(),
                next_due: now + m.initial_delay + m.interval.unwrap_or(SimDuration::ZERO),
                result: MetricResult {
                    name: m.name.clone(),
                    dry_run: m.dry_run,
                    ..MetricResult::default()
                },
            })
            .collect();
        AnalysisRun {
            spec: spec.clone(),
            scope,
            started_at: now,
            metrics,
            phase: AnalysisPhase::Pending,
            step: if label.is_empty() {
                format!("analysis {}", spec.name)
            } else {
                format!("{label}: analysis {}", spec.name)
            },
        }
    }

    pub fn phase(&self) -> AnalysisPhase {
        self.phase
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn started_at(&self) -> SimTime {
        self.started_at
    }

    /// Every metric's counters, in the analysis's order.
    pub fn results(&self) -> impl Iterator<Item = &MetricResult> {
        self.metrics.iter().map(|m| &m.result)
    }

    /// Feeds one tick's observation; measurements taken are described in
    /// `notes` (audit rows). Returns the run's phase after this tick.
    pub fn observe(&mut self, obs: &Observation<'_>, notes: &mut Vec<Action>) -> AnalysisPhase {
        if self.phase.completed() || obs.now <= self.started_at {
            return self.phase;
        }
        for (spec, m) in self.spec.metrics.iter().zip(&mut self.metrics) {
            if m.result.phase.completed() {
                continue;
            }
            if obs.now >= self.started_at + spec.initial_delay {
                match &spec.provider {
                    Provider::Prometheus { cohort, .. } => {
                        let c = match cohort {
                            CohortName::New => Cohort::New,
                            CohortName::Old => Cohort::Old,
                        };
                        m.window.add(obs, self.scope, c, &spec.provider.selector());
                    }
                    Provider::Kayenta { .. } => m.series.add(&spec.provider, obs, self.scope),
                }
            }
            if obs.now >= m.next_due && obs.now >= self.started_at + spec.initial_delay {
                measure(spec, m, obs.now, &self.step, notes);
            }
            m.result.phase = assess(spec, &m.result);
        }
        self.phase = run_phase(
            self.metrics
                .iter()
                .map(|m| (m.result.dry_run, m.result.phase)),
        );
        if self.phase.completed() {
            let parts: Vec<String> = self
                .metrics
                .iter()
                .map(|m| {
                    format!(
                        "{}{} {:?} ({} measured: {} ok, {} failed, {} inconclusive, {} errors)",
                        m.result.name,
                        if m.result.dry_run { " [dry-run]" } else { "" },
                        m.result.phase,
                        m.result.count,
                        m.result.successful,
                        m.result.failed,
                        m.result.inconclusive,
                        m.result.error
                    )
                })
                .collect();
            notes.push(Action::Note {
                step: self.step.clone(),
                reason: format!("verdict {:?}: {}", self.phase, parts.join("; ")),
            });
        }
        self.phase
    }
}

/// Argo's `EvaluateResult` for one value.
pub fn evaluate(spec: &Provider, value: f64) -> AnalysisPhase {
    let Provider::Prometheus {
        success_condition,
        failure_condition,
        ..
    } = spec
    else {
        return AnalysisPhase::Successful;
    };
    let (ok, fail) = match (success_condition, failure_condition) {
        (None, None) => return AnalysisPhase::Successful,
        (Some(s), None) => {
            let ok = s.holds(value);
            (ok, !ok)
        }
        (None, Some(f)) => {
            let fail = f.holds(value);
            (!fail, fail)
        }
        (Some(s), Some(f)) => (s.holds(value), f.holds(value)),
    };
    if fail {
        AnalysisPhase::Failed
    } else if ok {
        AnalysisPhase::Successful
    } else {
        AnalysisPhase::Inconclusive
    }
}

fn measure(
    spec: &MetricSpec,
    m: &mut MetricRun,
    now: SimTime,
    step: &str,
    notes: &mut Vec<Action>,
) {
    let (phase, value, text) = match &spec.provider {
        Provider::Prometheus {
            query,
            success_condition,
            failure_condition,
            ..
        } => {
            let (value, from) = m.window.value(*query, &spec.provider.selector());
            m.window = Window::default();
            match value {
                None => (
                    AnalysisPhase::Error,
                    None,
                    format!("{}: no data ({from})", query.as_str()),
                ),
                Some(v) => {
                    let conds: Vec<String> = [
                        ("success", success_condition),
                        ("failure", failure_condition),
                    ]
                    .iter()
                    .filter_map(|(k, c)| c.map(|c| format!("{k} when {c}")))
                    .collect();
                    (
                        evaluate(&spec.provider, v),
                        Some(v),
                        format!(
                            "{} = {v} ({from}; {})",
                            query.as_str(),
                            if conds.is_empty() {
                                "no conditions".to_string()
                            } else {
                                conds.join(", ")
                            }
                        ),
                    )
                }
            }
        }
        Provider::Kayenta { .. } => {
            let (phase, report, text) = judge::measure(&spec.provider, &m.series);
            (phase, Some(report.score), text)
        }
    };
    let r = &mut m.result;
    match phase {
        AnalysisPhase::Error => {
            r.error += 1;
            r.consecutive_error += 1;
        }
        _ => {
            r.count += 1;
            r.consecutive_error = 0;
            r.last_value = value;
            match phase {
                AnalysisPhase::Successful => r.successful += 1,
                AnalysisPhase::Failed => r.failed += 1,
                _ => r.inconclusive += 1,
            }
        }
    }
    m.next_due = match spec.interval {
        Some(i) => now + i,
        None => now,
    };
    notes.push(Action::Note {
        step: step.to_string(),
        reason: format!(
            "metric `{}`{} measurement {}: {text} → {phase:?}",
            spec.name,
            if spec.dry_run { " [dry-run]" } else { "" },
            r.count + r.error
        ),
    });
}

/// Argo's `assessMetricStatus` (see the module docs).
pub fn assess(spec: &MetricSpec, r: &MetricResult) -> AnalysisPhase {
    if r.count + r.error == 0 {
        return AnalysisPhase::Pending;
    }
    let over = |n: u32, limit: i64| limit >= 0 && n as i64 > limit;
    if over(r.failed, spec.failure_limit) {
        AnalysisPhase::Failed
    } else if over(r.inconclusive, spec.inconclusive_limit) {
        AnalysisPhase::Inconclusive
    } else if over(r.consecutive_error, spec.consecutive_error_limit) {
        AnalysisPhase::Error
    } else if spec.count.is_some_and(|c| r.count >= c) || (spec.interval.is_none() && r.count >= 1)
    {
        AnalysisPhase::Successful
    } else {
        AnalysisPhase::Running
    }
}

/// The run's phase from its metrics' `(dry_run, phase)` (see the module docs).
pub fn run_phase(metrics: impl Iterator<Item = (bool, AnalysisPhase)> + Clone) -> AnalysisPhase {
    let gating: Vec<AnalysisPhase> = {
        let g: Vec<_> = metrics.clone().filter(|m| !m.0).map(|m| m.1).collect();
        if g.is_empty() {
            metrics.map(|m| m.1).collect()
        } else {
            g
        }
    };
    let worst_done = gating.iter().filter(|p| p.completed()).max().copied();
    if let Some(w) = worst_done.filter(|w| *w != AnalysisPhase::Successful) {
        return w;
    }
    if gating.iter().all(|p| p.completed()) {
        return AnalysisPhase::Successful;
    }
    if gating.iter().all(|p| *p == AnalysisPhase::Pending) {
        AnalysisPhase::Pending
    } else {
        AnalysisPhase::Running
    }
}
