//! Argo Rollouts blue-green, per group (replace mode: the preview is a second
//! set of hosts beside the active one).
//!
//! ```text
//!  preview up (preview_replica_count, default 100 %, no user traffic)
//!    └─ health gate: every preview host available within health_timeout ─✗─▶ abort
//!  pre_promotion_analysis (optional)                                    ─✗─▶ abort
//!  promotion: auto_promotion_enabled = false → halted (or a human promotes
//!             after promote_after);
//!             auto_promotion_seconds → wait that long; else at once
//!  scale the preview to full size, then switch: all traffic to the new set
//!  post_promotion_analysis (optional)                                    ─✗─▶ abort: traffic back
//!  scale_down_delay (default 30 s), then the old set is terminated
//! ```
//!
//! An abort keeps (or returns) all traffic on the old set and terminates the
//! new one after `abort_scale_down_delay` (default 30 s, Argo's
//! `abortScaleDownDelaySeconds`; `scale_down_delay` is only for the old set
//! after a successful switch). The old set is only scaled down once the
//! post-promotion analysis has passed, so traffic can still go back.
//!
//! While the new set comes up the policy watches Kubernetes' progress (a
//! host created, ready or available): without progress for
//! `progress_deadline` (default 600 s, `progressDeadlineSeconds`) it records
//! `ProgressDeadlineExceeded` and keeps waiting, or, with
//! `progress_deadline_abort = true`, aborts. `health_timeout` is
//! shakedown's own gate on top (the whole set available in time, else
//! abort).
//!
//! The preview receives no user traffic (Argo's preview service is for
//! smoke tests): a pre-promotion analysis of request metrics sees no data
//! and errors out after `consecutive_error_limit`. That is seed 002's gap: a
//! version that passes health checks but falls over under load is only
//! caught after the switch — by the post-promotion analysis if there is one.

use super::common::{
    new_available, Deadline, Flow, ProgressCounts, ProgressDeadline, ProgressRule, Rollback,
};
use super::spec::{analysis, require_mode, Context, PolicySpec, RawIntOrPercent};
use super::windowed::RawWindow;
use super::{Action, Milestones, Observation, Outcome, Policy};
use crate::analysis::spec::RawAnalysisRef;
use crate::analysis::{AnalysisPhase, AnalysisRun, AnalysisSpec, Scope};
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::{ChangeMode, IntOrPercent};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

// ---- as written -------------------------------------------------------------

/// `kind = "blue-green"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlueGreen {
    pub preview_replica_count: Option<RawIntOrPercent>,
    pub health_timeout: Option<SimDuration>,
    pub pre_promotion_analysis: Option<RawAnalysisRef>,
    pub auto_promotion_enabled: Option<bool>,
    pub auto_promotion_seconds: Option<i64>,
    pub post_promotion_analysis: Option<RawAnalysisRef>,
    pub scale_down_delay: Option<SimDuration>,
    pub abort_scale_down_delay: Option<SimDuration>,
    pub progress_deadline: Option<SimDuration>,
    pub progress_deadline_abort: Option<bool>,
    pub promote_after: Option<SimDuration>,
    pub window: Option<RawWindow>,
}

// ---- validated ---------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlueGreenSpec {
    pub preview_replica_count: IntOrPercent,
    pub health_timeout: SimDuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<AnalysisSpec>,
    pub auto_promotion_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<AnalysisSpec>,
    pub scale_down_delay: SimDuration,
    /// How long the new set stays after an abort (Argo's
    /// `abortScaleDownDelaySeconds`, default 30 s).
    pub abort_scale_down_delay: SimDuration,
    /// Argo's `progressDeadlineSeconds` (default 600 s).
    pub progress_deadline: SimDuration,
    /// Argo's `progressDeadlineAbort` (default false: report and wait).
    pub progress_deadline_abort: bool,
    /// A human promotes (`kubectl argo rollouts promote`) this long after
    /// the rollout pauses for one; absent: nobody does, the run halts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_after: Option<SimDuration>,
}

impl RawBlueGreen {
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<PolicySpec, ScenarioError> {
        require_mode(
            c,
            ctx,
            "blue-green",
            ChangeMode::Replace,
            "it brings up a second, full set of hosts beside the active one",
        )?;
        let preview = match &self.preview_replica_count {
            Some(v) => c.int_or_percent("policy.preview_replica_count", v)?,
            None => IntOrPercent::Percent(100),
        };
        if preview.is_zero() {
            return Err(c.err(
                "policy.preview_replica_count",
                "must be at least 1 host (or 1%): an empty preview cannot be checked",
            ));
        }
        let auto_promotion_seconds = match self.auto_promotion_seconds {
            None => None,
            Some(s) if s >= 0 && s <= u32::MAX as i64 => Some(s as u32),
            Some(s) => {
                return Err(c.err(
                    "policy.auto_promotion_seconds",
                    format!("must be ≥ 0 seconds, got {s}"),
                ))
            }
        };
        let auto_promotion_enabled = self.auto_promotion_enabled.unwrap_or(true);
        if !auto_promotion_enabled && auto_promotion_seconds.is_some() {
            return Err(c.err(
                "policy.auto_promotion_seconds",
                "is ignored when auto_promotion_enabled = false (the rollout waits for a human); remove one of them",
            ));
        }
        let health_timeout = self.health_timeout.unwrap_or(SimDuration::from_secs(600));
        if health_timeout.is_zero() {
            return Err(c.err("policy.health_timeout", "must be longer than 0s"));
        }
        let progress_deadline = self
            .progress_deadline
            .unwrap_or(SimDuration::from_secs(600));
        if progress_deadline.is_zero() {
            return Err(c.err("policy.progress_deadline", "must be longer than 0s"));
        }
        Ok(PolicySpec::BlueGreen(BlueGreenSpec {
            preview_replica_count: preview,
            health_timeout,
            pre_promotion_analysis: self
                .pre_promotion_analysis
                .as_ref()
                .map(|a| analysis(c, "policy.pre_promotion_analysis", a, ctx))
                .transpose()?,
            auto_promotion_enabled,
            auto_promotion_seconds,
            post_promotion_analysis: self
                .post_promotion_analysis
                .as_ref()
                .map(|a| analysis(c, "policy.post_promotion_analysis", a, ctx))
                .transpose()?,
            scale_down_delay: self.scale_down_delay.unwrap_or(SimDuration::from_secs(30)),
            abort_scale_down_delay: self
                .abort_scale_down_delay
                .unwrap_or(SimDuration::from_secs(30)),
            progress_deadline,
            progress_deadline_abort: self.progress_deadline_abort.unwrap_or(false),
            promote_after: self.promote_after,
        }))
    }
}

// ---- the state machine -------------------------------------------------------

#[derive(Clone, Debug)]
enum State {
    Start,
    /// Waiting for `target` hosts per group to be available.
    Health {
        since: SimTime,
        full: bool,
    },
    PrePromotion(Box<AnalysisRun>),
    AutoPromote {
        at: SimTime,
    },
    PostPromotion(Box<AnalysisRun>),
    ScaleDown {
        at: SimTime,
    },
    Draining,
    Aborting(Rollback),
    Done,
}

/// The blue-green strategy.
pub struct BlueGreen {
    spec: BlueGreenSpec,
    state: State,
    milestones: Milestones,
    /// Kubernetes' progress condition while the new set comes up.
    progress: ProgressDeadline,
}

impl BlueGreen {
    pub fn new(spec: BlueGreenSpec) -> Self {
        let progress = ProgressDeadline::new(
            ProgressRule::ArgoRollouts,
            spec.progress_deadline,
            SimTime::ZERO,
        );
        BlueGreen {
            spec,
            state: State::Start,
            milestones: Milestones::default(),
            progress,
        }
    }

    fn preview(&self, desired: u32) -> u32 {
        self.spec
            .preview_replica_count
            .resolve(desired, true)
            .clamp(1, desired)
    }

    fn abort(&mut self, obs: &Observation<'_>, reason: String, out: &mut Vec<Action>) {
        self.milestones.detected_at.get_or_insert(obs.now);
        self.milestones.aborted_at = Some(obs.now);
        let mut rb = Rollback::begin(
            obs,
            ChangeMode::Replace,
            true,
            self.spec.abort_scale_down_delay,
            None,
            reason,
            out,
        );
        rb.step(obs, out);
        self.state = State::Aborting(rb);
    }

    fn switch(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        out.push(Action::Note {
            step: "switch".into(),
            reason: "promotion: the active service now selects the new set (all traffic)".into(),
        });
        for group in 0..obs.groups.len() {
            out.push(Action::SetWeight {
                group,
                new_pct: 100.0,
            });
        }
        self.state = match &self.spec.post_promotion_analysis {
            Some(a) => {
                out.push(Action::Note {
                    step: "post-promotion".into(),
                    reason: format!("post_promotion_analysis {} starts", a.name),
                });
                State::PostPromotion(Box::new(AnalysisRun::start(
                    a,
                    Scope::All,
                    obs.now,
                    "post-promotion",
                )))
            }
            None => State::ScaleDown {
                at: obs.now + self.spec.scale_down_delay,
            },
        };
    }

    /// After the gate and pre-promotion analysis: wait for a human, for
    /// `auto_promotion_seconds`, or promote now.
    fn promote(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if !self.spec.auto_promotion_enabled {
            if let Some(d) = self.spec.promote_after {
                out.push(Action::Note {
                    step: "promote".into(),
                    reason: format!("auto_promotion_enabled = false: a human promotes after {d} (promote_after)"),
                });
                self.state = State::AutoPromote { at: obs.now + d };
                return;
            }
            out.push(Action::Finish {
                outcome: Outcome::Halted,
                reason:
                    "preview healthy; auto_promotion_enabled = false: waits for a human to promote"
                        .into(),
            });
            self.state = State::Done;
            return;
        }
        let wait = SimDuration::from_secs(self.spec.auto_promotion_seconds.unwrap_or(0) as u64);
        out.push(Action::Note {
            step: "promote".into(),
            reason: format!("auto-promotion after {wait}"),
        });
        self.state = State::AutoPromote { at: obs.now + wait };
    }

    /// `Start`: the preview comes up beside the active set, without traffic.
    fn start(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        out.push(Action::Note {
            step: "preview".into(),
            reason: format!(
                "bring up the preview set ({} of each group), no user traffic",
                self.spec.preview_replica_count
            ),
        });
        for (group, g) in obs.groups.iter().enumerate() {
            out.push(Action::SetWeight {
                group,
                new_pct: 0.0,
            });
            let n = self.preview(g.desired);
            out.push(Action::Provision {
                group,
                count: n,
                step: "preview".into(),
                reason: format!("preview: {n} of {} hosts", g.desired),
            });
        }
        self.progress.restart(obs.now);
        self.state = State::Health {
            since: obs.now,
            full: false,
        };
        Flow::Wait
    }

    /// `Health`: the preview (or, `full`, the whole new set) must be
    /// available within `health_timeout`.
    fn health(
        &mut self,
        since: SimTime,
        full: bool,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        let ready = new_available(obs, |_, g| {
            if full {
                g.desired
            } else {
                self.preview(g.desired)
            }
        });
        if !ready {
            if obs.now.saturating_since(since) > self.spec.health_timeout {
                let reason = format!(
                    "health gate: the {} set was not available after {}: traffic stays on the old set",
                    if full { "new" } else { "preview" },
                    self.spec.health_timeout
                );
                self.abort(obs, reason, out);
                return Flow::Wait;
            }
            if self.progress.observe(ProgressCounts::of(obs), obs.now) == Deadline::Exceeded {
                let d = self.spec.progress_deadline;
                let set = if full { "new" } else { "preview" };
                if self.spec.progress_deadline_abort {
                    let reason = format!(
                        "the {set} set: ProgressDeadlineExceeded (no progress for {d}); progress_deadline_abort = true: abort"
                    );
                    self.abort(obs, reason, out);
                } else {
                    out.push(Action::Note {
                        step: "progress deadline".into(),
                        reason: format!(
                            "the {set} set: ProgressDeadlineExceeded (no progress for {d}); reported, the rollout keeps waiting (progress_deadline_abort = false)"
                        ),
                    });
                }
            }
            return Flow::Wait;
        }
        if full {
            self.switch(obs, out);
            return Flow::Wait;
        }
        out.push(Action::Note {
            step: "health".into(),
            reason: "health gate passed: every preview host is available".into(),
        });
        match &self.spec.pre_promotion_analysis {
            Some(a) => {
                out.push(Action::Note {
                    step: "pre-promotion".into(),
                    reason: format!("pre_promotion_analysis {} starts", a.name),
                });
                self.state = State::PrePromotion(Box::new(AnalysisRun::start(
                    a,
                    Scope::All,
                    obs.now,
                    "pre-promotion",
                )));
                Flow::Wait
            }
            None => {
                self.promote(obs, out);
                Flow::Next
            }
        }
    }

    /// `PrePromotion`, once the run has seen this tick.
    fn pre_promotion(
        &mut self,
        phase: AnalysisPhase,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        if !phase.completed() {
            return Flow::Wait;
        }
        match phase {
            AnalysisPhase::Successful => {
                self.promote(obs, out);
                Flow::Next
            }
            AnalysisPhase::Inconclusive => {
                out.push(Action::Finish {
                    outcome: Outcome::Halted,
                    reason: "pre_promotion_analysis Inconclusive: paused for a human".into(),
                });
                self.state = State::Done;
                Flow::Wait
            }
            _ => {
                let reason =
                    format!("pre_promotion_analysis {phase:?}: traffic stays on the old set");
                self.abort(obs, reason, out);
                Flow::Wait
            }
        }
    }

    /// `AutoPromote`: at `at` the preview is scaled to full size (back to
    /// `Health`), or, already full, the switch happens.
    fn auto_promote(&mut self, at: SimTime, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        if obs.now < at {
            return Flow::Wait;
        }
        let short: Vec<(usize, u32)> = obs
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.new.total < g.desired)
            .map(|(i, g)| (i, g.desired - g.new.total))
            .collect();
        if short.is_empty() {
            self.switch(obs, out);
            return Flow::Wait;
        }
        for (group, count) in short {
            out.push(Action::Provision {
                group,
                count,
                step: "promote".into(),
                reason: "scale the preview to full size before the switch".into(),
            });
        }
        self.progress.restart(obs.now);
        self.state = State::Health {
            since: obs.now,
            full: true,
        };
        Flow::Wait
    }

    /// `PostPromotion`, once the run has seen this tick: traffic can still
    /// go back.
    fn post_promotion(
        &mut self,
        phase: AnalysisPhase,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        if !phase.completed() {
            return Flow::Wait;
        }
        match phase {
            AnalysisPhase::Successful => {
                self.state = State::ScaleDown {
                    at: obs.now + self.spec.scale_down_delay,
                };
                Flow::Next
            }
            AnalysisPhase::Inconclusive => {
                out.push(Action::Finish {
                    outcome: Outcome::Halted,
                    reason:
                        "post_promotion_analysis Inconclusive: both sets kept, waits for a human"
                            .into(),
                });
                self.state = State::Done;
                Flow::Wait
            }
            _ => {
                let reason =
                    format!("post_promotion_analysis {phase:?}: traffic returns to the old set");
                self.abort(obs, reason, out);
                Flow::Wait
            }
        }
    }

    /// `ScaleDown`: after `scale_down_delay` the old set goes.
    fn scale_down(&mut self, at: SimTime, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        if obs.now < at {
            return Flow::Wait;
        }
        for (group, g) in obs.groups.iter().enumerate() {
            out.push(Action::Decommission {
                group,
                zone: None,
                count: g.old.total,
                step: "scale-down".into(),
                reason: format!(
                    "scale_down_delay {} passed: the old set goes",
                    self.spec.scale_down_delay
                ),
            });
        }
        self.state = State::Draining;
        Flow::Wait
    }

    /// `Draining`: done once the old set is gone.
    fn draining(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        if obs.groups.iter().all(|g| g.old.total == 0) {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: "blue-green: switched and the old set terminated".into(),
            });
            self.state = State::Done;
        }
        Flow::Wait
    }
}

impl Policy for BlueGreen {
    fn kind(&self) -> &'static str {
        "blue-green"
    }

    fn milestones(&self) -> Milestones {
        self.milestones
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        for _ in 0..8 {
            let flow = match &mut self.state {
                State::Done => Flow::Wait,
                State::Aborting(rb) => {
                    rb.step(obs, out);
                    Flow::Wait
                }
                State::Start => self.start(obs, out),
                &mut State::Health { since, full } => self.health(since, full, obs, out),
                State::PrePromotion(run) => {
                    let phase = run.observe(obs, out);
                    self.pre_promotion(phase, obs, out)
                }
                &mut State::AutoPromote { at } => self.auto_promote(at, obs, out),
                State::PostPromotion(run) => {
                    let phase = run.observe(obs, out);
                    self.post_promotion(phase, obs, out)
                }
                &mut State::ScaleDown { at } => self.scale_down(at, obs, out),
                State::Draining => self.draining(obs, out),
            };
            if flow == Flow::Wait {
                return;
            }
        }
    }
}
