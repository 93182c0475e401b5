//! An analysis run (Argo's `AnalysisRun`): a pure state machine fed one
//! observation per tick.
//!
//! ```text
//!  start(t0) ──▶ each tick t > t0: every unfinished metric
//!                  1. adds the tick's scrape to its window (from t0 + initial_delay)
//!                  2. if due, measures:  first due at t0 + initial_delay + interval,
//!                     then last + interval, or last + 10 s after an Error
//!                  3. assesses its phase from its counters (metric_phase)
//!                if a gating metric ended Failed, Error or Inconclusive, the
//!                run terminates: every unfinished metric ends Successful
//!                the run's phase (run_phase): Running until every metric,
//!                dry-run ones included, has ended; then the worst phase of
//!                the gating metrics, Successful if all are dry-run
//! ```
//!
//! A measurement summarises the scrapes since the previous one (so the first
//! comes one interval in, not at the start as a Prometheus range query
//! reaching back before the canary would). Its phase follows Argo's
//! `EvaluateResult`: no conditions → Successful; only `success_condition` →
//! Successful if it holds, else Failed; only `failure_condition` → Failed if
//! it holds, else Successful; both → Failed if the failure holds, Successful
//! if the success holds, else Inconclusive. A threshold metric with
//! `min_requests` first checks its window: fewer requests behind the value
//! is an **Inconclusive** measurement (too little traffic to judge, as the
//! judge's `min_samples`). Missing data (no scrape, or no request for a rate
//! or latency) is a measurement **Error**, which does not count towards
//! `count` and is retried after 10 s (Argo's `DefaultErrorRetryInterval`):
//! at the first tick 10 s or more after it.
//!
//! A metric's phase follows Argo's `assessMetricStatus` ([`metric_phase`]):
//! no measurement yet → Pending (Successful if the run terminates);
//! then, later checks winning, `failed > failure_limit` (unless -1) → Failed,
//! `inconclusive > inconclusive_limit` → Inconclusive, `consecutive_errors >
//! consecutive_error_limit` → Error; else `consecutive_success_limit` (when
//! ≥ 1) successes in a row → Successful; else, with `count` measurements
//! taken: Inconclusive if both the failure limit and a consecutive-success
//! limit apply (neither decided), Failed if only the consecutive-success
//! limit applies, Successful otherwise; else Running (Successful if the run
//! terminates).

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
    /// Measurements taken, errors included (Argo's `len(measurements)`).
    pub measurements: u32,
    /// Measurements that were not errors (Argo's `count`).
    pub count: u32,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub error: u32,
    pub consecutive_error: u32,
    /// Successful measurements in a row (an Error breaks the streak too).
    pub consecutive_success: u32,
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
                    Provider::Kayenta { .. } | Provider::Shape { .. } => {
                        m.series.add(&spec.provider, obs, self.scope)
                    }
                }
            }
            if obs.now >= m.next_due && obs.now >= self.started_at + spec.initial_delay {
                measure(spec, m, obs.now, &self.step, notes);
            }
        }
        for (spec, m) in self.spec.metrics.iter().zip(&mut self.metrics) {
            m.result.phase = metric_phase(&Limits::of(spec), &m.result, false);
        }
        // Argo's `IsTerminating`: a gating metric that ended Failed, Error
        // or Inconclusive ends the run; unfinished metrics end Successful.
        let terminating = self.metrics.iter().any(|m| {
            !m.result.dry_run
                && m.result.phase.completed()
                && m.result.phase != AnalysisPhase::Successful
        });
        if terminating {
            for (spec, m) in self.spec.metrics.iter().zip(&mut self.metrics) {
                m.result.phase = metric_phase(&Limits::of(spec), &m.result, true);
            }
        }
        self.phase = run_phase(
            self.metrics
                .iter()
                .map(|m| (m.result.dry_run, m.result.phase)),
            terminating,
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
            min_requests,
            ..
        } => {
            let sel = spec.provider.selector();
            let (value, from) = m.window.value(*query, &sel);
            let requests = m.window.requests(&sel);
            m.window = Window::default();
            let thin = min_requests.and_then(|n| requests.filter(|r| *r < n).map(|r| (r, n)));
            match (thin, value) {
                // The guard answers first: data, but too little to judge.
                (Some((r, n)), _) => (
                    AnalysisPhase::Inconclusive,
                    None,
                    format!(
                        "{}: too few requests for a verdict ({r} < min_requests {n}; {from})",
                        query.as_str()
                    ),
                ),
                (None, None) => (
                    AnalysisPhase::Error,
                    None,
                    format!("{}: no data ({from})", query.as_str()),
                ),
                (None, Some(v)) => {
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
        Provider::Kayenta { .. } | Provider::Shape { .. } => {
            let (phase, report, text) = judge::measure(&spec.provider, &m.series);
            (phase, Some(report.score), text)
        }
    };
    let r = &mut m.result;
    r.measurements += 1;
    // Argo's `runMeasurements` bookkeeping.
    match phase {
        AnalysisPhase::Error => {
            r.error += 1;
            r.consecutive_error += 1;
            r.consecutive_success = 0;
        }
        _ => {
            r.count += 1;
            r.consecutive_error = 0;
            if value.is_some() {
                r.last_value = value;
            }
            match phase {
                AnalysisPhase::Successful => {
                    r.successful += 1;
                    r.consecutive_success += 1;
                }
                AnalysisPhase::Failed => {
                    r.failed += 1;
                    r.consecutive_success = 0;
                }
                _ => {
                    r.inconclusive += 1;
                    r.consecutive_success = 0;
                }
            }
        }
    }
    // Argo's `generateMetricTasks`: after an Error the retry comes after
    // `DefaultErrorRetryInterval`, whatever the metric's interval.
    m.next_due = match (phase, spec.interval) {
        (AnalysisPhase::Error, _) => now + ERROR_RETRY_INTERVAL,
        (_, Some(i)) => now + i,
        (_, None) => now,
    };
    notes.push(Action::Note {
        step: step.to_string(),
        reason: format!(
            "metric `{}`{} measurement {}: {text} → {phase:?}",
            spec.name,
            if spec.dry_run { " [dry-run]" } else { "" },
            r.measurements
        ),
    });
}

/// Argo's `DefaultErrorRetryInterval` (`analysis/analysis.go`).
pub const ERROR_RETRY_INTERVAL: SimDuration = SimDuration::from_secs(10);

/// What Argo's phase rules read of a metric's spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Argo's `EffectiveCount`; `None`: measures indefinitely.
    pub count: Option<u32>,
    /// -1: not applicable.
    pub failure_limit: i64,
    pub inconclusive_limit: i64,
    pub consecutive_error_limit: i64,
    /// 0: disabled.
    pub consecutive_success_limit: u32,
}

impl Limits {
    pub fn of(spec: &MetricSpec) -> Limits {
        Limits {
            count: spec.effective_count(),
            failure_limit: spec.failure_limit,
            inconclusive_limit: spec.inconclusive_limit,
            consecutive_error_limit: spec.consecutive_error_limit,
            consecutive_success_limit: spec.consecutive_success_limit,
        }
    }
}

/// Argo's `assessMetricFailureInconclusiveOrError`: the checks run in
/// order and a later one overrides an earlier one, so Error beats
/// Inconclusive beats Failed. `None`: no limit is exceeded.
pub fn failure_inconclusive_or_error(
    l: &Limits,
    r: &MetricResult,
) -> Option<(AnalysisPhase, String)> {
    let mut out = None;
    if l.failure_limit >= 0 && i64::from(r.failed) > l.failure_limit {
        out = Some((
            AnalysisPhase::Failed,
            format!(
                "failed ({}) > failure_limit ({})",
                r.failed, l.failure_limit
            ),
        ));
    }
    if i64::from(r.inconclusive) > l.inconclusive_limit {
        out = Some((
            AnalysisPhase::Inconclusive,
            format!(
                "inconclusive ({}) > inconclusive_limit ({})",
                r.inconclusive, l.inconclusive_limit
            ),
        ));
    }
    if i64::from(r.consecutive_error) > l.consecutive_error_limit {
        out = Some((
            AnalysisPhase::Error,
            format!(
                "consecutive_errors ({}) > consecutive_error_limit ({})",
                r.consecutive_error, l.consecutive_error_limit
            ),
        ));
    }
    out
}

/// Argo's `assessMetricStatus` (see the module docs): a metric's phase from
/// its counters and limits; `terminating`: the run is ending. The model has
/// no in-flight measurement (each is taken within one tick), so Argo's
/// "last measurement still running → Running" never applies.
pub fn metric_phase(l: &Limits, r: &MetricResult, terminating: bool) -> AnalysisPhase {
    if r.phase.completed() {
        return r.phase;
    }
    if r.measurements == 0 {
        return if terminating {
            AnalysisPhase::Successful
        } else {
            AnalysisPhase::Pending
        };
    }
    if let Some((phase, _)) = failure_inconclusive_or_error(l, r) {
        return phase;
    }
    let success_applicable = l.consecutive_success_limit > 0;
    if success_applicable && r.consecutive_success >= l.consecutive_success_limit {
        return AnalysisPhase::Successful;
    }
    if l.count.is_some_and(|c| r.count >= c) {
        let failure_applicable = l.failure_limit >= 0;
        return match (failure_applicable, success_applicable) {
            // Neither the failure limit nor the streak decided.
            (true, true) => AnalysisPhase::Inconclusive,
            (false, true) => AnalysisPhase::Failed,
            _ => AnalysisPhase::Successful,
        };
    }
    if terminating {
        AnalysisPhase::Successful
    } else {
        AnalysisPhase::Running
    }
}

/// [`metric_phase`] of a metric of a running (not terminating) analysis.
pub fn assess(spec: &MetricSpec, r: &MetricResult) -> AnalysisPhase {
    metric_phase(&Limits::of(spec), r, false)
}

/// Argo's `assessRunStatus`: the run's phase from its metrics'
/// `(dry_run, phase)`. Not terminating: Running while any metric, dry-run
/// ones included, is unfinished; then the worst phase of the gating
/// metrics, Successful when every metric is dry-run. Terminating: that worst
/// phase at once (Successful if none has one).
pub fn run_phase(
    metrics: impl Iterator<Item = (bool, AnalysisPhase)>,
    terminating: bool,
) -> AnalysisPhase {
    let mut worst: Option<AnalysisPhase> = None;
    let mut everything_completed = true;
    for (dry_run, phase) in metrics {
        if !phase.completed() {
            everything_completed = false;
            continue;
        }
        // A dry-run metric's phase is never worse than Successful.
        let gating = if dry_run {
            AnalysisPhase::Successful
        } else {
            phase
        };
        worst = Some(worst.map_or(gating, |w| w.max(gating)));
    }
    if terminating {
        return worst.unwrap_or(AnalysisPhase::Successful);
    }
    match worst {
        Some(w) if everything_completed => w,
        _ => AnalysisPhase::Running,
    }
}
