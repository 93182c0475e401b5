//! Argo Rollouts canary: a list of steps run in order.
//!
//! - `set_weight = W`: the canary gets W % of traffic. With a traffic router
//!   (`traffic_routing = true`) the weight is exact: the canary is scaled
//!   to the hosts W % needs (or to `set_canary_scale`) and, once they are
//!   available, the router sends it W %. Without one the weight *is* the
//!   canary's share of replicas: W % of each group's hosts, nearest count,
//!   ties up (41 % of 10 → 4), and traffic follows serving capacity.
//! - `pause = { duration = "13m" }` waits; `pause = {}` waits for a human:
//!   the run ends `halted`, unless the scenario has a human promote after
//!   `promote_after`.
//! - `analysis` runs an analysis to completion: Successful → next step,
//!   Inconclusive → `halted`, Failed or Error → abort. `skip_analysis = true`
//!   (the hotfix lane, seed 003) records each analysis step as skipped.
//! - `set_canary_scale` sizes the canary apart from its weight (router only).
//!
//! After the last step comes the full promotion: the router's weight is
//! released and the rest of each group rolls with Kubernetes arithmetic
//! (`max_surge` / `max_unavailable`, defaults 0 in place / 25 % replace and
//! 25 %). An abort sends all traffic back at once and scales the canary down
//! after `abort_scale_down_delay` (default 30 s) with a router, at once
//! without one; the run ends `rolled_back` when only the old version serves.
//!
//! In replace mode the canary's hosts are added beside the stable ones (the
//! stable set keeps its size until the promotion), so without a router the
//! canary's traffic share is `canary / (stable + canary)`, a little under W.
//! Steps scaling hosts that never become available end the run `halted` after
//! 10 minutes (Argo's `progressDeadlineSeconds`). Argo's background analysis
//! (`strategy.canary.analysis`) is not modelled: analyses are steps.

use super::common::{
    new_available, promotion_stalled, replicas_for_weight, roll_forward, scale_new, Flow, Rollback,
};
use super::rolling::Terminating;
use super::spec::{analysis, surge_and_unavailable, Context, PolicySpec, RawIntOrPercent};
use super::windowed::RawWindow;
use super::{Action, Milestones, Observation, Outcome, Policy};
use crate::analysis::spec::RawAnalysisRef;
use crate::analysis::{AnalysisPhase, AnalysisRun, AnalysisSpec, Scope};
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::{ChangeMode, IntOrPercent};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

// ---- as written -------------------------------------------------------------

/// `kind = "canary"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    pub steps: Vec<RawStep>,
    pub traffic_routing: Option<bool>,
    pub abort_scale_down_delay: Option<SimDuration>,
    pub skip_analysis: Option<bool>,
    pub max_surge: Option<RawIntOrPercent>,
    pub max_unavailable: Option<RawIntOrPercent>,
    pub promote_after: Option<SimDuration>,
    pub window: Option<RawWindow>,
}

/// One Argo canary step: a table with exactly one of these keys.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum RawStep {
    SetWeight(i64),
    Pause(RawPause),
    Analysis(RawAnalysisRef),
    SetCanaryScale(CanaryScale),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPause {
    pub duration: Option<SimDuration>,
}

// ---- validated ---------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CanarySpec {
    pub steps: Vec<CanaryStep>,
    /// Exact weights through a traffic router; `false`: the weight is the
    /// canary's share of replicas (nearest count, ties up).
    pub traffic_routing: bool,
    pub abort_scale_down_delay: SimDuration,
    pub skip_analysis: bool,
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
    /// A human promotes an indefinite pause this long after it starts;
    /// absent: nobody does, the run halts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_after: Option<SimDuration>,
}

/// One Argo canary step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryStep {
    SetWeight(u32),
    Pause(PauseSpec),
    Analysis(AnalysisSpec),
    SetCanaryScale(CanaryScale),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PauseSpec {
    /// `None`: indefinitely (a human must promote; the run counts it halted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<SimDuration>,
}

/// `set_canary_scale`: the canary's size apart from its traffic weight
/// (needs traffic routing, as in Argo).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum CanaryScale {
    /// An absolute number of hosts per group.
    Replicas(u32),
    /// A percentage of each group's hosts.
    Weight(u32),
    /// Back to the default: as many hosts as the traffic weight needs.
    MatchTrafficWeight(bool),
}

impl RawCanary {
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<PolicySpec, ScenarioError> {
        let mode = ctx.mode;
        let traffic_routing = self.traffic_routing.unwrap_or(false);
        let mut out = Vec::with_capacity(self.steps.len());
        for (i, s) in self.steps.iter().enumerate() {
            let f = |k: &str| format!("policy.steps[{i}].{k}");
            out.push(match s {
                RawStep::SetWeight(w) => CanaryStep::SetWeight(c.pct(&f("set_weight"), *w, 0)?),
                RawStep::Pause(p) => CanaryStep::Pause(PauseSpec {
                    duration: p.duration,
                }),
                RawStep::Analysis(a) => CanaryStep::Analysis(analysis(c, &f("analysis"), a, ctx)?),
                RawStep::SetCanaryScale(scale) => {
                    if !traffic_routing {
                        return Err(c.err(
                            &f("set_canary_scale"),
                            "set_canary_scale needs traffic_routing = true: without a router the canary's share of replicas is its traffic weight",
                        ));
                    }
                    if let CanaryScale::Weight(w) = scale {
                        c.pct(&f("set_canary_scale"), *w as i64, 0)?;
                    }
                    CanaryStep::SetCanaryScale(*scale)
                }
            });
        }
        let (surge, unavailable) = surge_and_unavailable(
            c,
            mode,
            (&self.max_surge, &self.max_unavailable),
            "promotion",
        )?;
        Ok(PolicySpec::Canary(CanarySpec {
            steps: out,
            traffic_routing,
            abort_scale_down_delay: self
                .abort_scale_down_delay
                .unwrap_or(SimDuration::from_secs(30)),
            skip_analysis: self.skip_analysis.unwrap_or(false),
            max_surge: surge,
            max_unavailable: unavailable,
            promote_after: self.promote_after,
        }))
    }
}

// ---- the state machine -------------------------------------------------------

const PROGRESS_DEADLINE: SimDuration = SimDuration::from_secs(600);

#[derive(Clone, Debug)]
enum State {
    /// About to enter step `step`.
    Enter,
    /// Waiting for the canary's hosts; then the weight (if any) is set.
    Scaling {
        since: SimTime,
        weight: Option<u32>,
    },
    Paused {
        until: SimTime,
    },
    Analysing(Box<AnalysisRun>),
    Promoting {
        last_progress: SimTime,
        last_new: u32,
    },
    Aborting(Rollback),
    Done,
}

/// The canary strategy.
pub struct Canary {
    spec: CanarySpec,
    mode: ChangeMode,
    step: usize,
    weight: u32,
    scale: Option<CanaryScale>,
    state: State,
    milestones: Milestones,
    /// Old hosts the promotion decommissioned that still drain.
    terminating: Vec<Terminating>,
}

impl Canary {
    pub fn new(spec: CanarySpec, mode: ChangeMode) -> Self {
        Canary {
            spec,
            mode,
            step: 0,
            weight: 0,
            scale: None,
            state: State::Enter,
            milestones: Milestones::default(),
            terminating: Vec::new(),
        }
    }

    fn label(&self) -> String {
        format!("step {}/{}", self.step + 1, self.spec.steps.len())
    }

    /// Canary hosts of a group of `desired` hosts for the current weight and
    /// scale.
    fn target(&self, desired: u32) -> u32 {
        let routed = self.spec.traffic_routing;
        match self.scale {
            Some(CanaryScale::Replicas(n)) => n.min(desired),
            Some(CanaryScale::Weight(w)) => replicas_for_weight(w, desired, routed),
            Some(CanaryScale::MatchTrafficWeight(_)) | None => {
                replicas_for_weight(self.weight, desired, routed)
            }
        }
    }

    fn scale_all(&self, obs: &Observation<'_>, reason: &str, out: &mut Vec<Action>) {
        let label = self.label();
        for (group, g) in obs.groups.iter().enumerate() {
            let target = self.target(g.desired);
            let why = format!("{reason}: canary {target} of {} hosts", g.desired);
            scale_new(self.mode, group, g, target, &label, &why, out);
        }
    }

    fn abort(&mut self, obs: &Observation<'_>, reason: String, out: &mut Vec<Action>) {
        self.milestones.aborted_at = Some(obs.now);
        let routed = self.spec.traffic_routing;
        let delay = if routed {
            self.spec.abort_scale_down_delay
        } else {
            SimDuration::ZERO
        };
        let mut rb = Rollback::begin(obs, self.mode, routed, delay, None, reason, out);
        rb.step(obs, out);
        self.state = State::Aborting(rb);
    }

    /// `Enter`: start step `step`, or the full promotion after the last.
    fn enter(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        let Some(step) = self.spec.steps.get(self.step).cloned() else {
            out.push(Action::Note {
                step: "promote".into(),
                reason: "every step done: full promotion (weight 100, the rest rolls)".into(),
            });
            if self.spec.traffic_routing {
                for group in 0..obs.groups.len() {
                    out.push(Action::ClearWeight { group });
                }
            }
            self.state = State::Promoting {
                last_progress: obs.now,
                last_new: 0,
            };
            return Flow::Next;
        };
        match step {
            CanaryStep::SetWeight(w) => self.set_weight(w, obs, out),
            CanaryStep::SetCanaryScale(s) => self.set_canary_scale(s, obs, out),
            CanaryStep::Pause(p) => self.pause(p, obs, out),
            CanaryStep::Analysis(spec) => self.analysis(&spec, obs, out),
        }
    }

    fn set_weight(&mut self, w: u32, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        out.push(Action::Note {
            step: self.label(),
            reason: format!(
                "set_weight {w}{}",
                if self.spec.traffic_routing {
                    " (traffic-routed: exact)"
                } else {
                    " (replica count: nearest, ties up)"
                }
            ),
        });
        self.weight = w;
        if self.scale == Some(CanaryScale::MatchTrafficWeight(true)) {
            self.scale = None;
        }
        self.scale_all(obs, &format!("weight {w} %"), out);
        self.state = State::Scaling {
            since: obs.now,
            weight: Some(w),
        };
        Flow::Next
    }

    fn set_canary_scale(
        &mut self,
        s: CanaryScale,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        out.push(Action::Note {
            step: self.label(),
            reason: format!("set_canary_scale {s:?}"),
        });
        self.scale = match s {
            CanaryScale::MatchTrafficWeight(true) => None,
            other => Some(other),
        };
        self.scale_all(obs, &format!("canary scale {s:?}"), out);
        self.state = State::Scaling {
            since: obs.now,
            weight: None,
        };
        Flow::Next
    }

    /// A pause of its own duration; without one, `promote_after` or a halt.
    fn pause(&mut self, p: PauseSpec, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        let label = self.label();
        match p.duration.or(self.spec.promote_after) {
            Some(d) if p.duration.is_none() => {
                out.push(Action::Note {
                    step: label,
                    reason: format!(
                        "paused without a duration at weight {}: a human promotes after {d} (promote_after)",
                        self.weight
                    ),
                });
                self.state = State::Paused { until: obs.now + d };
                Flow::Next
            }
            None => {
                out.push(Action::Note {
                    step: label.clone(),
                    reason: "pause without a duration: waits for a human to promote".into(),
                });
                out.push(Action::Finish {
                    outcome: Outcome::Halted,
                    reason: format!(
                        "{label}: paused indefinitely at weight {} (needs a human)",
                        self.weight
                    ),
                });
                self.state = State::Done;
                Flow::Wait
            }
            Some(d) => {
                out.push(Action::Note {
                    step: label,
                    reason: format!("pause {d} at weight {}", self.weight),
                });
                self.state = State::Paused { until: obs.now + d };
                Flow::Next
            }
        }
    }

    fn analysis(
        &mut self,
        spec: &AnalysisSpec,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        let label = self.label();
        if self.spec.skip_analysis {
            out.push(Action::Note {
                step: label,
                reason: format!("analysis {} skipped (skip_analysis = true)", spec.name),
            });
            self.step += 1;
            return Flow::Next;
        }
        out.push(Action::Note {
            step: label.clone(),
            reason: format!("analysis {} starts at weight {}", spec.name, self.weight),
        });
        self.state = State::Analysing(Box::new(AnalysisRun::start(
            spec,
            Scope::All,
            obs.now,
            &label,
        )));
        Flow::Wait
    }

    /// `Scaling`: once the canary's hosts are available the router gets the
    /// weight and the next step starts.
    fn scaling(
        &mut self,
        since: SimTime,
        weight: Option<u32>,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        let ready = new_available(obs, |_, g| self.target(g.desired));
        if !ready {
            if obs.now.saturating_since(since) > PROGRESS_DEADLINE {
                out.push(Action::Finish {
                    outcome: Outcome::Halted,
                    reason: format!(
                        "{}: ProgressDeadlineExceeded (canary hosts not available after {PROGRESS_DEADLINE})",
                        self.label()
                    ),
                });
                self.state = State::Done;
            }
            return Flow::Wait;
        }
        if let (Some(w), true) = (weight, self.spec.traffic_routing) {
            for group in 0..obs.groups.len() {
                out.push(Action::SetWeight {
                    group,
                    new_pct: w as f64,
                });
            }
        }
        self.next_step()
    }

    fn paused(&mut self, until: SimTime, obs: &Observation<'_>) -> Flow {
        if obs.now < until {
            return Flow::Wait;
        }
        self.next_step()
    }

    /// `Analysing`, once the run has seen this tick: the verdict, when there
    /// is one, decides between the next step, a halt and an abort.
    fn analysed(
        &mut self,
        name: &str,
        phase: AnalysisPhase,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        if !phase.completed() {
            return Flow::Wait;
        }
        if phase.aborts() {
            self.milestones.detected_at.get_or_insert(obs.now);
            let reason = format!(
                "{}: analysis {name} {phase:?} at weight {}: abort",
                self.label(),
                self.weight
            );
            self.abort(obs, reason, out);
            return Flow::Wait;
        }
        if phase == AnalysisPhase::Inconclusive {
            out.push(Action::Finish {
                outcome: Outcome::Halted,
                reason: format!(
                    "{}: analysis {name} Inconclusive: paused for a human",
                    self.label()
                ),
            });
            self.state = State::Done;
            return Flow::Wait;
        }
        self.next_step()
    }

    fn next_step(&mut self) -> Flow {
        self.step += 1;
        self.state = State::Enter;
        Flow::Next
    }

    /// `Promoting`: the rest of each group rolls, unless it has stalled.
    fn promoting(&mut self, stalled: bool, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        if stalled {
            out.push(Action::Finish {
                outcome: Outcome::Halted,
                reason: format!(
                    "promotion: ProgressDeadlineExceeded (no progress for {PROGRESS_DEADLINE})"
                ),
            });
            self.state = State::Done;
            return Flow::Wait;
        }
        let done = roll_forward(
            self.mode,
            self.spec.max_surge,
            self.spec.max_unavailable,
            obs,
            &mut self.terminating,
            "promote",
            out,
        );
        if done {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: "canary promoted: every host on the new version".into(),
            });
            self.state = State::Done;
        }
        Flow::Wait
    }
}

impl Policy for Canary {
    fn kind(&self) -> &'static str {
        "canary"
    }

    fn milestones(&self) -> Milestones {
        self.milestones
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        // Steps that finish at once (a weight already in place, a skipped
        // analysis, a zero pause) run back to back within one tick.
        for _ in 0..=self.spec.steps.len() + 1 {
            let flow = match &mut self.state {
                State::Done => Flow::Wait,
                State::Aborting(rb) => {
                    rb.step(obs, out);
                    Flow::Wait
                }
                State::Enter => self.enter(obs, out),
                &mut State::Scaling { since, weight } => self.scaling(since, weight, obs, out),
                &mut State::Paused { until } => self.paused(until, obs),
                State::Analysing(run) => {
                    let phase = run.observe(obs, out);
                    let name = run.name().to_string();
                    self.analysed(&name, phase, obs, out)
                }
                State::Promoting {
                    last_progress,
                    last_new,
                } => {
                    let stalled =
                        promotion_stalled(obs, last_progress, last_new, PROGRESS_DEADLINE);
                    self.promoting(stalled, obs, out)
                }
            };
            if flow == Flow::Wait {
                return;
            }
        }
    }
}
