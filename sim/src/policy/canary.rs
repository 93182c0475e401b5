//! Argo Rollouts canary: a list of steps run in order.
//!
//! - `set_weight = W`: the canary gets W % of traffic. With a traffic router
//!   (`traffic_routing = true`) the weight is exact: the canary is scaled
//!   to ⌈W × N / 100⌉ hosts (Argo's `trafficWeightToReplicas`: 41 % of 10 →
//!   5; or to `set_canary_scale`), the stable set keeps all N, and once the
//!   canary's hosts are available the router sends it W %. Without one the
//!   weight *is* the canary's share of replicas and traffic follows serving
//!   capacity: each reconcile runs Argo's `CalculateReplicaCountsForBasicCanary`
//!   ([`basic_canary_counts`]): the canary and stable sizes that best
//!   approximate W (they sum to N, or N + 1 with surge; for 0 < W < 100 and
//!   N ≥ 2 at least one of each: 5 % of 10 → 1 canary, 9 stable), reached
//!   within `max_surge` above N and `max_unavailable` below it. The stable
//!   set shrinks as the canary grows, so the canary's share matches W.
//! - `pause = { duration = "13m" }` waits; `pause = {}` waits for a human:
//!   the run ends `halted`, unless the scenario has a human promote after
//!   `promote_after`.
//! - `analysis` runs an analysis to completion: Successful → next step,
//!   Inconclusive → `halted`, Failed or Error → abort. `skip_analysis = true`
//!   (the hotfix lane, seed 003) records each analysis step as skipped.
//! - `set_canary_scale` sizes the canary apart from its weight (router only).
//!
//! A background analysis (`[policy.analysis]`, Argo's
//! `strategy.canary.analysis`) starts when step `starting_step` (an index,
//! default 0) is entered and runs beside the steps: Failed or Error aborts,
//! Inconclusive halts (Argo pauses for a human); it is terminated at the full
//! promotion, when Argo makes the canary the stable set.
//!
//! After the last step comes the full promotion: the router's weight is
//! released and the rest of each group rolls with Kubernetes arithmetic
//! (`max_surge` / `max_unavailable`, defaults 0 in place / 25 % replace and
//! 25 %). An abort sends all traffic back at once and scales the canary down
//! after `abort_scale_down_delay` (default 30 s) with a router, at once
//! without one; the run ends `rolled_back` when only the old version serves.
//!
//! While the policy waits for hosts (a step's scaling, the promotion) it
//! watches Kubernetes' progress ([`ProgressDeadline`]: a host created,
//! ready or available, an old host gone). Without progress for
//! `progress_deadline` (default 600 s, Argo's `progressDeadlineSeconds`) it
//! records `ProgressDeadlineExceeded` in the audit log and keeps waiting, as
//! Argo does by default; with `progress_deadline_abort = true` it aborts.

use super::common::{
    approximate_canary_stable, basic_canary_counts, new_available, roll_forward,
    routed_canary_replicas, scale_new, Deadline, Flow, ProgressCounts, ProgressDeadline,
    ProgressRule, ReplicaSetView, Rollback,
};
use super::rolling::{resolve_fenceposts, Terminating};
use super::spec::{
    analysis, background_analysis, surge_and_unavailable, Context, PolicySpec, RawIntOrPercent,
};
use super::windowed::RawWindow;
use super::{Action, Cohort, GroupView, Milestones, Observation, Outcome, Policy};
use crate::analysis::spec::{RawAnalysisRef, RawMetric};
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
    pub progress_deadline: Option<SimDuration>,
    pub progress_deadline_abort: Option<bool>,
    pub analysis: Option<RawBackgroundAnalysis>,
    pub window: Option<RawWindow>,
}

/// `[policy.analysis]`: a background analysis (Argo's
/// `strategy.canary.analysis`), an analysis reference plus the step it
/// starts at.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawBackgroundAnalysis {
    pub template: Option<String>,
    pub name: Option<String>,
    pub metrics: Option<Vec<RawMetric>>,
    pub starting_step: Option<i64>,
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
    /// canary's share of replicas (Argo's basic canary arithmetic).
    pub traffic_routing: bool,
    pub abort_scale_down_delay: SimDuration,
    pub skip_analysis: bool,
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
    /// A human promotes an indefinite pause this long after it starts;
    /// absent: nobody does, the run halts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_after: Option<SimDuration>,
    /// Argo's `progressDeadlineSeconds` (default 600 s).
    pub progress_deadline: SimDuration,
    /// Argo's `progressDeadlineAbort`: abort when the deadline passes
    /// (default false: report it and keep waiting).
    pub progress_deadline_abort: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<BackgroundAnalysis>,
}

/// A background analysis: runs from step `starting_step` until the full
/// promotion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackgroundAnalysis {
    pub starting_step: u32,
    #[serde(flatten)]
    pub analysis: AnalysisSpec,
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
        let progress_deadline = self
            .progress_deadline
            .unwrap_or(SimDuration::from_secs(600));
        if progress_deadline.is_zero() {
            return Err(c.err("policy.progress_deadline", "must be longer than 0s"));
        }
        let background = match &self.analysis {
            None => None,
            Some(b) => {
                let starting_step = match b.starting_step {
                    None => 0,
                    Some(i) if i >= 0 && (i as usize) < out.len() => i as u32,
                    Some(i) => {
                        return Err(c.err(
                            "policy.analysis.starting_step",
                            format!(
                                "must be the index of a step (0 to {}), got {i}",
                                out.len().saturating_sub(1)
                            ),
                        ))
                    }
                };
                let raw = RawAnalysisRef {
                    template: b.template.clone(),
                    name: b.name.clone(),
                    metrics: b.metrics.clone(),
                };
                Some(BackgroundAnalysis {
                    starting_step,
                    analysis: background_analysis(c, "policy.analysis", &raw, ctx)?,
                })
            }
        };
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
            progress_deadline,
            progress_deadline_abort: self.progress_deadline_abort.unwrap_or(false),
            analysis: background,
        }))
    }
}

// ---- the state machine -------------------------------------------------------

#[derive(Clone, Debug)]
enum State {
    /// About to enter step `step`.
    Enter,
    /// Waiting for the canary's hosts; then the weight (if any) is set.
    Scaling {
        weight: Option<u32>,
    },
    Paused {
        until: SimTime,
    },
    Analysing(Box<AnalysisRun>),
    Promoting,
    Aborting(Rollback),
    Done,
}

/// The background analysis, once started.
#[derive(Clone, Debug)]
enum Background {
    NotStarted,
    Running(Box<AnalysisRun>),
    /// Successful, or terminated at the full promotion.
    Over,
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
    /// Old hosts the basic canary or the promotion decommissioned that still
    /// drain.
    terminating: Vec<Terminating>,
    /// Kubernetes' progress condition while waiting for hosts.
    progress: ProgressDeadline,
    background: Background,
}

impl Canary {
    pub fn new(spec: CanarySpec, mode: ChangeMode) -> Self {
        let progress = ProgressDeadline::new(
            ProgressRule::ArgoRollouts,
            spec.progress_deadline,
            SimTime::ZERO,
        );
        Canary {
            spec,
            mode,
            step: 0,
            weight: 0,
            scale: None,
            state: State::Enter,
            milestones: Milestones::default(),
            terminating: Vec::new(),
            progress,
            background: Background::NotStarted,
        }
    }

    fn label(&self) -> String {
        format!("step {}/{}", self.step + 1, self.spec.steps.len())
    }

    /// Canary hosts of a traffic-routed group of `desired` hosts for the
    /// current weight and scale.
    fn routed_target(&self, desired: u32) -> u32 {
        match self.scale {
            Some(CanaryScale::Replicas(n)) => n.min(desired),
            Some(CanaryScale::Weight(w)) => routed_canary_replicas(w, desired),
            Some(CanaryScale::MatchTrafficWeight(_)) | None => {
                routed_canary_replicas(self.weight, desired)
            }
        }
    }

    /// The canary and stable sizes a group of `desired` hosts is heading
    /// for at the current weight (a step is done once they are reached).
    fn goal(&self, g: &GroupView) -> (u32, u32) {
        if self.spec.traffic_routing {
            return (self.routed_target(g.desired), g.desired);
        }
        let (surge, _) = self.fenceposts(g.desired);
        approximate_canary_stable(g.desired, self.weight, surge)
    }

    fn fenceposts(&self, desired: u32) -> (u32, u32) {
        resolve_fenceposts(self.spec.max_surge, self.spec.max_unavailable, desired)
    }

    /// Traffic-routed: each canary goes to its size at once.
    fn scale_routed(&self, obs: &Observation<'_>, reason: &str, out: &mut Vec<Action>) {
        let label = self.label();
        for (group, g) in obs.groups.iter().enumerate() {
            let target = self.routed_target(g.desired);
            let why = format!("{reason}: canary {target} of {} hosts", g.desired);
            scale_new(self.mode, group, g, target, &label, &why, out);
        }
    }

    /// Basic canary: one reconcile of every group towards the current
    /// weight, within `max_surge` and `max_unavailable` (Argo's
    /// `CalculateReplicaCountsForBasicCanary`). Returns true once every
    /// group is at its goal with the canary available.
    fn reconcile_basic(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> bool {
        if self.terminating.len() < obs.groups.len() {
            self.terminating
                .resize(obs.groups.len(), Terminating::default());
        }
        let label = self.label();
        let w = self.weight;
        let mut done = true;
        let issued = out.len();
        for (group, g) in obs.groups.iter().enumerate() {
            let (surge, unavailable) = self.fenceposts(g.desired);
            let (want_canary, want_stable) = approximate_canary_stable(g.desired, w, surge);
            let old = self.terminating[group].observe(g.old);
            let canary = ReplicaSetView {
                spec: g.new.total,
                available: g.new.available,
            };
            let stable = ReplicaSetView {
                spec: old.total,
                available: old.available,
            };
            let (to_canary, to_stable) =
                basic_canary_counts(g.desired, w, surge, unavailable, canary, stable);
            let why = |what: &str| {
                format!(
                    "weight {w} %: {what} (goal canary {want_canary} + stable {want_stable} of {}, max_surge {surge}, max_unavailable {unavailable})",
                    g.desired
                )
            };
            let mut stable_after = old.total;
            match self.mode {
                ChangeMode::Replace => {
                    if to_canary != g.new.total {
                        let what = format!("canary {} → {to_canary}", g.new.total);
                        scale_new(self.mode, group, g, to_canary, &label, &why(&what), out);
                    }
                    // A stable set that should grow cannot: shakedown
                    // provisions only hosts of the new version.
                    if to_stable < old.total {
                        let count = old.total - to_stable;
                        out.push(Action::Decommission {
                            group,
                            zone: None,
                            count,
                            step: label.clone(),
                            reason: why(&format!("stable {} → {to_stable}", old.total)),
                        });
                        self.terminating[group].decommissioned(count);
                        stable_after = to_stable;
                    }
                }
                ChangeMode::InPlace => {
                    // A host moved between the versions leaves one set and
                    // joins the other in the same reconcile.
                    if to_canary < g.new.total {
                        let count = g.new.total - to_canary;
                        out.push(Action::Update {
                            group,
                            zone: None,
                            to: Cohort::Old,
                            count,
                            step: label.clone(),
                            reason: why(&format!(
                                "{count} hosts back to the stable version, canary {} → {to_canary}",
                                g.new.total
                            )),
                        });
                        stable_after += count;
                    } else if to_stable < old.total && want_canary > g.new.total {
                        let count = (old.total - to_stable).min(want_canary - g.new.total);
                        out.push(Action::Update {
                            group,
                            zone: None,
                            to: Cohort::New,
                            count,
                            step: label.clone(),
                            reason: why(&format!(
                                "{count} hosts move to the canary, stable {} → {}",
                                old.total,
                                old.total - count
                            )),
                        });
                        stable_after -= count;
                    }
                }
            }
            let at_goal = g.new.total == want_canary
                && g.new.available >= want_canary
                && stable_after <= want_stable;
            done &= at_goal;
        }
        // A reconcile that moved hosts is confirmed by the next observation,
        // as a controller sees its own writes only on its next sync: the
        // step must not end (and the next one reconcile) on this tick's
        // view, which still counts the hosts just moved.
        done && out.len() == issued
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

    /// While waiting for hosts: Kubernetes' progress condition. Reports
    /// `ProgressDeadlineExceeded` once per stall; aborts with
    /// `progress_deadline_abort` (returns true then).
    fn deadline(&mut self, what: &str, obs: &Observation<'_>, out: &mut Vec<Action>) -> bool {
        if self.progress.observe(ProgressCounts::of(obs), obs.now) != Deadline::Exceeded {
            return false;
        }
        let d = self.progress.deadline();
        if self.spec.progress_deadline_abort {
            self.milestones.detected_at.get_or_insert(obs.now);
            let reason = format!(
                "{what}: ProgressDeadlineExceeded (no progress for {d}); progress_deadline_abort = true: abort"
            );
            self.abort(obs, reason, out);
            return true;
        }
        out.push(Action::Note {
            step: "progress deadline".into(),
            reason: format!(
                "{what}: ProgressDeadlineExceeded (no progress for {d}); reported, the rollout keeps waiting (progress_deadline_abort = false)"
            ),
        });
        false
    }

    /// The background analysis starts when its step is entered.
    fn start_background(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        let Some(b) = &self.spec.analysis else {
            return;
        };
        if !matches!(self.background, Background::NotStarted)
            || self.step < b.starting_step as usize
        {
            return;
        }
        out.push(Action::Note {
            step: self.label(),
            reason: format!(
                "background analysis {} starts (starting_step {}), runs until the full promotion",
                b.analysis.name, b.starting_step
            ),
        });
        self.background = Background::Running(Box::new(AnalysisRun::start(
            &b.analysis,
            Scope::All,
            obs.now,
            "background analysis",
        )));
    }

    /// One tick of the background analysis, while steps run: its verdict
    /// aborts (Failed, Error) or halts (Inconclusive). Returns true when
    /// the rollout stopped.
    fn background_tick(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> bool {
        let Background::Running(run) = &mut self.background else {
            return false;
        };
        let phase = run.observe(obs, out);
        if !phase.completed() {
            return false;
        }
        let name = run.name().to_string();
        self.background = Background::Over;
        if phase.aborts() {
            self.milestones.detected_at.get_or_insert(obs.now);
            let reason = format!(
                "{}: background analysis {name} {phase:?} at weight {}: abort",
                self.label(),
                self.weight
            );
            self.abort(obs, reason, out);
            return true;
        }
        if phase == AnalysisPhase::Inconclusive {
            out.push(Action::Finish {
                outcome: Outcome::Halted,
                reason: format!(
                    "{}: background analysis {name} Inconclusive: paused for a human",
                    self.label()
                ),
            });
            self.state = State::Done;
            return true;
        }
        out.push(Action::Note {
            step: "background analysis".into(),
            reason: format!("background analysis {name} {phase:?}"),
        });
        false
    }

    /// `Enter`: start step `step`, or the full promotion after the last.
    fn enter(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        // Argo counts a step change as progress.
        self.progress.restart(obs.now);
        let Some(step) = self.spec.steps.get(self.step).cloned() else {
            if let Background::Running(run) = &self.background {
                out.push(Action::Note {
                    step: "promote".into(),
                    reason: format!(
                        "background analysis {} terminated: full promotion",
                        run.name()
                    ),
                });
            }
            self.background = Background::Over;
            out.push(Action::Note {
                step: "promote".into(),
                reason: "every step done: full promotion (weight 100, the rest rolls)".into(),
            });
            if self.spec.traffic_routing {
                for group in 0..obs.groups.len() {
                    out.push(Action::ClearWeight { group });
                }
            }
            self.state = State::Promoting;
            return Flow::Next;
        };
        self.start_background(obs, out);
        match step {
            CanaryStep::SetWeight(w) => self.set_weight(w, obs, out),
            CanaryStep::SetCanaryScale(s) => self.set_canary_scale(s, obs, out),
            CanaryStep::Pause(p) => self.pause(p, obs, out),
            CanaryStep::Analysis(spec) => self.analysis(&spec, obs, out),
        }
    }

    fn set_weight(&mut self, w: u32, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        self.weight = w;
        if self.scale == Some(CanaryScale::MatchTrafficWeight(true)) {
            self.scale = None;
        }
        let sizing = obs
            .groups
            .first()
            .map(|g| {
                let (c, st) = self.goal(g);
                if self.spec.traffic_routing {
                    format!(": canary {c} of {} in the first group", g.desired)
                } else {
                    format!(
                        ": canary {c} + stable {st} of {} in the first group",
                        g.desired
                    )
                }
            })
            .unwrap_or_default();
        out.push(Action::Note {
            step: self.label(),
            reason: format!(
                "set_weight {w}{}{sizing}",
                if self.spec.traffic_routing {
                    " (traffic-routed: exact, canary ⌈W × N / 100⌉)"
                } else {
                    " (replica count: Argo's basic canary arithmetic)"
                }
            ),
        });
        if self.spec.traffic_routing {
            self.scale_routed(obs, &format!("weight {w} %"), out);
        }
        self.state = State::Scaling { weight: Some(w) };
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
        self.scale_routed(obs, &format!("canary scale {s:?}"), out);
        self.state = State::Scaling { weight: None };
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

    /// `Scaling`: once the canary's hosts are available (and, without a
    /// router, the stable set is down to its share) the router gets the
    /// weight and the next step starts.
    fn scaling(
        &mut self,
        weight: Option<u32>,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        let ready = if self.spec.traffic_routing {
            new_available(obs, |_, g| self.routed_target(g.desired))
        } else {
            self.reconcile_basic(obs, out)
        };
        if !ready {
            let what = self.label();
            self.deadline(&what, obs, out);
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

    /// `Promoting`: the rest of each group rolls.
    fn promoting(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
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
            return Flow::Wait;
        }
        self.deadline("promotion", obs, out);
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
        if matches!(
            self.state,
            State::Scaling { .. } | State::Paused { .. } | State::Analysing(_)
        ) && self.background_tick(obs, out)
        {
            return;
        }
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
                &mut State::Scaling { weight } => self.scaling(weight, obs, out),
                &mut State::Paused { until } => self.paused(until, obs),
                State::Analysing(run) => {
                    let phase = run.observe(obs, out);
                    let name = run.name().to_string();
                    self.analysed(&name, phase, obs, out)
                }
                State::Promoting => self.promoting(obs, out),
            };
            if flow == Flow::Wait {
                return;
            }
        }
    }
}
