//! Analysis judges shared by every policy that gates: pure state machines fed
//! the same observations as the policy (no I/O, no clock), so the live driver
//! runs them unchanged.
//!
//! ```text
//!  [analysis.NAME] / inline ──validate──▶ AnalysisSpec ──start(t0)──▶ AnalysisRun
//!                                                       observe(obs) each tick
//!    metrics: prometheus (threshold) │ kayenta (statistical) │ shape (not Kayenta's)
//!                                                       ▼
//!              run phase, once every metric (dry-run ones too) has ended or
//!              a gating one ended badly: the worst gating metric phase,
//!              Successful < Running < Pending < Inconclusive < Error < Failed
//!              (all dry-run: Successful)
//!              policies: Successful → go on, Inconclusive → halt,
//!                        Error / Failed → abort
//! ```
//!
//! - [`spec`] — templates as written and validated (Argo's `AnalysisTemplate`
//!   vocabulary: `interval`, `count`, `initial_delay`, `success_condition`,
//!   `failure_condition`, `failure_limit`, `inconclusive_limit`,
//!   `consecutive_error_limit`, `consecutive_success_limit`, `dry_run`; and
//!   shakedown's `min_requests` guard), validated as Argo's `ValidateMetric`.
//! - [`run`] — the `AnalysisRun` state machine and Argo's phase rules
//!   (`metric_phase`, `run_phase`: pure, checked against Argo's unit-test
//!   cases in `sim/tests/conformance_analysis.rs`).
//! - [`measure`] — what a metric reads from scrapes: success rate, error rate
//!   and count, requests, latency quantiles; whole cohort, one endpoint, or a
//!   weighted per-endpoint rate (Σ weight_e × rate_e).
//! - [`judge`] — the statistical judges ([`crate::stats::judge()`], and the
//!   shape judge [`crate::stats::judge_shape`]) over per-scrape series, with
//!   their minimum-sample guard.
//! - [`condition`] — `result >= 0.95` comparisons.

pub mod condition;
pub mod judge;
pub mod measure;
pub mod run;
pub mod spec;

pub use condition::{CmpOp, Condition};
pub use measure::{Query, Scope, Selector};
pub use run::{AnalysisRun, MetricResult};
pub use spec::{AnalysisSpec, MetricSpec, Provider};

use serde::Serialize;

/// The phase of a measurement, a metric or a run (Argo's `AnalysisPhase`),
/// declared from best to worst: `Ord` is "worse than", so the run's phase is
/// the `max` of its metrics'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AnalysisPhase {
    Successful,
    Running,
    #[default]
    Pending,
    Inconclusive,
    Error,
    Failed,
}

impl AnalysisPhase {
    /// Successful, Inconclusive, Error or Failed: nothing more will change it.
    pub fn completed(self) -> bool {
        !matches!(self, AnalysisPhase::Running | AnalysisPhase::Pending)
    }

    /// Error or Failed: the rollout aborts.
    pub fn aborts(self) -> bool {
        matches!(self, AnalysisPhase::Error | AnalysisPhase::Failed)
    }
}
