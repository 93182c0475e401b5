//! Flagger progressive delivery.
//!
//! **Canary mode** (`step_weight` + `max_weight`, or `step_weights`): the
//! canary is sized for its weight (nearest count, at least one host) and,
//! once available, the mesh routes it the first weight. Every `interval`
//! (default 60 s, at least 10 s) Flagger checks each metric (`[min, max]`,
//! its `thresholdRange`) over the last interval:
//!
//! - a metric without data halts advancement (the weight stays, no failure
//!   counted, as Flagger's "no values found");
//! - a metric out of range is a failed check; when failed checks reach
//!   `threshold` (default 1; cumulative, never reset) the canary is rolled
//!   back: weight 0, canary scaled to zero, run ends `rolled_back`;
//! - all in range: the weight advances to the next step, or, at the last
//!   one, the canary is **promoted**: the new version is copied to the
//!   primary — in a fleet, the primary's hosts roll to it with
//!   `max_unavailable` (default 25 %) — and the weight is released.
//!
//! Timing falls out of this: with `n = max_weight / step_weight` steps, the
//! canary passes n checks, one per interval, before promotion starts, so the
//! **minimum promotion time is `interval × max_weight / step_weight`**
//! (60 s × 50 / 10 = 5 min by default) plus the time to size the canary, and
//! a failing version is rolled back after `threshold` intervals at most.
//!
//! A canary not ready within `progress_deadline` (Flagger's
//! `progressDeadlineSeconds`, default 600 s) after it was scaled is rolled
//! back, as Flagger does in its Progressing phase; a promotion whose primary
//! stops making progress is noted once in the audit log and waited for, as
//! Flagger keeps waiting (a promotion that never finishes ends `timed_out`).
//!
//! **Blue/green mode** (`iterations`, replace mode): a full copy comes up
//! beside the primary without user traffic; after `iterations` successful
//! checks it is promoted (all traffic to it, the primary terminated). The
//! copy sees no user traffic in the simulator (Flagger would drive it with
//! a load tester), so its checks have no data and only host health gates:
//! a check without data passes in this mode.

use super::common::{
    new_available, promotion_stalled, replicas_for_weight, roll_forward, scale_new, Flow, Rollback,
};
use super::rolling::Terminating;
use super::spec::{
    checks, require_mode, CheckSpec, Context, PolicySpec, RawCheck, RawIntOrPercent,
};
use super::windowed::RawWindow;
use super::{Action, Milestones, Observation, Outcome, Policy};
use crate::analysis::measure::{Scope, Window};
use crate::analysis::Selector;
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::Cohort;
use crate::protocol::{ChangeMode, IntOrPercent};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

// ---- as written -------------------------------------------------------------

/// `kind = "flagger"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlagger {
    pub interval: Option<SimDuration>,
    pub step_weight: Option<i64>,
    pub step_weights: Option<Vec<i64>>,
    pub max_weight: Option<i64>,
    pub threshold: Option<i64>,
    pub iterations: Option<i64>,
    #[serde(default)]
    pub metrics: Vec<RawCheck>,
    pub max_unavailable: Option<RawIntOrPercent>,
    /// Flagger's `progressDeadlineSeconds` (default 600 s).
    pub progress_deadline: Option<SimDuration>,
    pub window: Option<RawWindow>,
}

// ---- validated ---------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlaggerSpec {
    pub interval: SimDuration,
    /// Weights to step through (from `step_weight` up to `max_weight`, or
    /// `step_weights`); empty in blue/green mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub step_weights: Vec<u32>,
    pub threshold: u32,
    /// Blue/green mode: successful checks before promotion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    pub metrics: Vec<CheckSpec>,
    pub max_unavailable: IntOrPercent,
    /// A canary not ready this long after it was scaled is rolled back
    /// (Flagger's `progressDeadlineSeconds`, default 600 s).
    pub progress_deadline: SimDuration,
}

impl RawFlagger {
    /// Canary mode (step weights) or blue/green mode (`iterations`), never both.
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<PolicySpec, ScenarioError> {
        let mode = ctx.mode;
        let RawFlagger {
            interval,
            step_weight,
            ref step_weights,
            max_weight,
            threshold,
            iterations,
            ref metrics,
            ref max_unavailable,
            progress_deadline,
            window: _,
        } = *self;
        let interval = interval.unwrap_or(SimDuration::from_secs(60));
        if interval < SimDuration::from_secs(10) {
            return Err(c.err(
                "policy.interval",
                format!("must be at least 10s (Flagger's minimum), got {interval}"),
            ));
        }
        let threshold = match threshold {
            None => 1,
            Some(n) if n >= 1 && n <= u32::MAX as i64 => n as u32,
            Some(n) => {
                return Err(c.err(
                    "policy.threshold",
                    format!("must be at least 1 failed check, got {n}"),
                ))
            }
        };
        let weights = match (iterations, step_weight, step_weights) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(c.err(
                    "policy.iterations",
                    "`iterations` is Flagger's blue/green mode and takes no step weights; remove step_weight / step_weights",
                ))
            }
            (Some(_), None, None) => {
                if max_weight.is_some() {
                    return Err(c.err(
                        "policy.max_weight",
                        "blue/green mode (`iterations`) shifts no weights; remove max_weight",
                    ));
                }
                Vec::new()
            }
            (None, Some(_), Some(_)) => {
                return Err(c.err(
                    "policy.step_weights",
                    "give either `step_weight` (with max_weight) or the list `step_weights`, not both",
                ))
            }
            (None, None, None) => {
                return Err(c.err(
                    "policy.kind",
                    "`flagger` needs `step_weight` (canary), `step_weights` (canary) or `iterations` (blue/green)",
                ))
            }
            (None, Some(step), None) => {
                let step = c.pct("policy.step_weight", step, 1)?;
                let max = c.pct("policy.max_weight", max_weight.unwrap_or(50), 1)?;
                if step > max {
                    return Err(c.err(
                        "policy.step_weight",
                        format!("must be at most max_weight ({max}), got {step}"),
                    ));
                }
                (1..=max / step).map(|k| k * step).collect()
            }
            (None, None, Some(list)) => {
                if list.is_empty() {
                    return Err(c.err("policy.step_weights", "must list at least one weight"));
                }
                let mut v = Vec::new();
                for w in list {
                    let w = c.pct("policy.step_weights", *w, 1)?;
                    if v.last().is_some_and(|p| *p >= w) {
                        return Err(c.err(
                            "policy.step_weights",
                            format!("weights must increase, got {w} after {}", v.last().unwrap()),
                        ));
                    }
                    v.push(w);
                }
                if let Some(m) = max_weight {
                    let m = c.pct("policy.max_weight", m, 1)?;
                    v.retain(|w| *w <= m);
                }
                v
            }
        };
        let iterations = match iterations {
            None => None,
            Some(n) if n >= 1 && n <= u32::MAX as i64 => {
                require_mode(
                    c,
                    ctx,
                    "flagger` with `iterations",
                    ChangeMode::Replace,
                    "blue/green brings up a full copy beside the primary",
                )?;
                Some(n as u32)
            }
            Some(n) => {
                return Err(c.err("policy.iterations", format!("must be at least 1, got {n}")))
            }
        };
        let unavailable = match max_unavailable {
            Some(v) => c.int_or_percent("policy.max_unavailable", v)?,
            None => IntOrPercent::Percent(25),
        };
        if unavailable.is_zero() && mode == ChangeMode::InPlace {
            return Err(c.err(
                "policy.max_unavailable",
                "an in-place promotion needs max_unavailable > 0 to make progress",
            ));
        }
        Ok(PolicySpec::Flagger(FlaggerSpec {
            interval,
            step_weights: weights,
            threshold,
            iterations,
            metrics: checks(c, "policy.metrics", metrics, ctx, false)?,
            max_unavailable: unavailable,
            progress_deadline: match progress_deadline {
                None => SimDuration::from_secs(600),
                Some(d) if d.is_zero() => {
                    return Err(c.err("policy.progress_deadline", "must be longer than 0s"))
                }
                Some(d) => d,
            },
        }))
    }
}

// ---- the state machine -------------------------------------------------------

#[derive(Clone, Debug)]
enum State {
    Start,
    /// Sizing the canary for weight index `idx` (or the full copy).
    Scaling {
        since: SimTime,
        idx: usize,
    },
    /// Routed `idx`; next check at `next`.
    Checking {
        idx: usize,
        next: SimTime,
        passed: u32,
    },
    Promoting {
        last_progress: SimTime,
        last_new: u32,
    },
    Draining,
    Aborting(Rollback),
    Done,
}

/// The Flagger strategy.
pub struct Flagger {
    spec: FlaggerSpec,
    mode: ChangeMode,
    state: State,
    failed_checks: u32,
    windows: Vec<Window>,
    milestones: Milestones,
    /// Old hosts the promotion decommissioned that still drain.
    terminating: Vec<Terminating>,
    /// The current promotion stall has been noted in the audit log.
    stall_reported: bool,
}

impl Flagger {
    pub fn new(spec: FlaggerSpec, mode: ChangeMode) -> Self {
        let windows = vec![Window::default(); spec.metrics.len()];
        Flagger {
            spec,
            mode,
            state: State::Start,
            failed_checks: 0,
            windows,
            milestones: Milestones::default(),
            terminating: Vec::new(),
            stall_reported: false,
        }
    }

    fn blue_green(&self) -> bool {
        self.spec.iterations.is_some()
    }

    fn target(&self, idx: usize, desired: u32) -> u32 {
        if self.blue_green() {
            desired
        } else {
            replicas_for_weight(self.spec.step_weights[idx], desired, true)
        }
    }

    fn weight(&self, idx: usize) -> u32 {
        self.spec.step_weights.get(idx).copied().unwrap_or(0)
    }

    /// Runs the checks over the last interval: `Some(true)` all pass,
    /// `Some(false)` one failed, `None` no data (halt advancement).
    fn check(&mut self, out: &mut Vec<Action>, label: &str) -> Option<bool> {
        let mut failed = Vec::new();
        let mut no_data = Vec::new();
        let mut parts = Vec::new();
        for (m, w) in self.spec.metrics.iter().zip(&mut self.windows) {
            let (v, _) = w.value(m.query, &Selector::All);
            *w = Window::default();
            match v {
                None => no_data.push(m.name.clone()),
                Some(v) if m.passes(v) => {
                    parts.push(format!("{} = {v} ok ({})", m.name, m.describe()))
                }
                Some(v) => {
                    parts.push(format!("{} = {v} FAILED ({})", m.name, m.describe()));
                    failed.push(m.name.clone());
                }
            }
        }
        if !no_data.is_empty() && !self.blue_green() && failed.is_empty() {
            out.push(Action::Note {
                step: label.to_string(),
                reason: format!(
                    "halt advancement: no values found for {} ({})",
                    no_data.join(", "),
                    parts.join("; ")
                ),
            });
            return None;
        }
        if !failed.is_empty() {
            self.failed_checks += 1;
        }
        out.push(Action::Note {
            step: label.to_string(),
            reason: format!(
                "check {}: {}{} (failed checks {}/{})",
                if failed.is_empty() {
                    "passed"
                } else {
                    "failed"
                },
                if parts.is_empty() {
                    "no metrics".to_string()
                } else {
                    parts.join("; ")
                },
                if no_data.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; no data for {} (blue/green: host health only)",
                        no_data.join(", ")
                    )
                },
                self.failed_checks,
                self.spec.threshold
            ),
        });
        Some(failed.is_empty())
    }

    fn rollback(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        let reason = format!(
            "rolling back: {} failed checks reached threshold {}",
            self.failed_checks, self.spec.threshold
        );
        self.roll_back(obs, reason, out);
    }

    /// All traffic to the primary, the canary scaled to zero.
    fn roll_back(&mut self, obs: &Observation<'_>, reason: String, out: &mut Vec<Action>) {
        self.milestones.aborted_at = Some(obs.now);
        let mut rb = Rollback::begin(obs, self.mode, true, SimDuration::ZERO, None, reason, out);
        rb.step(obs, out);
        self.state = State::Aborting(rb);
    }

    /// `Start`: the canary (or the full copy) is sized for the first weight.
    fn start(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        let label = if self.blue_green() {
            "blue/green"
        } else {
            "initialise"
        };
        out.push(Action::Note {
            step: label.into(),
            reason: if self.blue_green() {
                format!(
                    "full copy beside the primary, no traffic; {} iterations every {}",
                    self.spec.iterations.unwrap_or(0),
                    self.spec.interval
                )
            } else {
                format!(
                    "weights {:?} every {} (minimum promotion time {})",
                    self.spec.step_weights,
                    self.spec.interval,
                    SimDuration::from_millis(
                        self.spec.interval.as_millis() * self.spec.step_weights.len() as u64
                    )
                )
            },
        });
        for (group, g) in obs.groups.iter().enumerate() {
            if self.blue_green() {
                out.push(Action::SetWeight {
                    group,
                    new_pct: 0.0,
                });
            }
            let target = self.target(0, g.desired);
            let why = format!("canary {target} of {} hosts", g.desired);
            scale_new(self.mode, group, g, target, label, &why, out);
        }
        self.state = State::Scaling {
            since: obs.now,
            idx: 0,
        };
        Flow::Wait
    }

    /// `Scaling`: once the canary's hosts are available the mesh routes it
    /// weight `idx` and the checks start.
    fn scaling(
        &mut self,
        since: SimTime,
        idx: usize,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        if !new_available(obs, |_, g| self.target(idx, g.desired)) {
            let deadline = self.spec.progress_deadline;
            if obs.now.saturating_since(since) > deadline {
                // Flagger: "Rolling back … progress deadline exceeded".
                let reason = format!(
                    "rolling back: progress deadline exceeded (canary not ready after {deadline}, progress_deadline)"
                );
                self.roll_back(obs, reason, out);
            }
            return Flow::Wait;
        }
        if !self.blue_green() {
            let w = self.weight(idx);
            for group in 0..obs.groups.len() {
                out.push(Action::SetWeight {
                    group,
                    new_pct: w as f64,
                });
            }
            out.push(Action::Note {
                step: format!("weight {w}"),
                reason: format!("advance canary weight {w}"),
            });
        }
        for w in &mut self.windows {
            *w = Window::default();
        }
        self.state = State::Checking {
            idx,
            next: obs.now + self.spec.interval,
            passed: 0,
        };
        Flow::Wait
    }

    /// `Checking`: every `interval` the metrics decide between rollback,
    /// holding, the next weight and promotion.
    fn checking(
        &mut self,
        idx: usize,
        next: SimTime,
        passed: u32,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        if obs.now < next {
            return Flow::Wait;
        }
        self.state = State::Checking {
            idx,
            next: obs.now + self.spec.interval,
            passed,
        };
        let label = if self.blue_green() {
            format!("iteration {}", passed + 1)
        } else {
            format!("weight {}", self.weight(idx))
        };
        let verdict = self.check(out, &label);
        if verdict == Some(false) {
            self.milestones.detected_at.get_or_insert(obs.now);
            if self.failed_checks >= self.spec.threshold {
                self.rollback(obs, out);
            }
            return Flow::Wait;
        }
        if verdict.is_none() {
            return Flow::Wait;
        }
        if let Some(n) = self.spec.iterations {
            if passed + 1 < n {
                self.state = State::Checking {
                    idx,
                    next: obs.now + self.spec.interval,
                    passed: passed + 1,
                };
                return Flow::Wait;
            }
            out.push(Action::Note {
                step: "promote".into(),
                reason: format!("{n} iterations passed: switch all traffic and retire the primary"),
            });
            for (group, g) in obs.groups.iter().enumerate() {
                out.push(Action::SetWeight {
                    group,
                    new_pct: 100.0,
                });
                out.push(Action::Decommission {
                    group,
                    zone: None,
                    count: g.old.total,
                    step: "promote".into(),
                    reason: "promotion: the primary's old hosts go".into(),
                });
            }
            self.state = State::Draining;
            return Flow::Wait;
        }
        if idx + 1 < self.spec.step_weights.len() {
            let label = format!("weight {}", self.weight(idx + 1));
            for (group, g) in obs.groups.iter().enumerate() {
                let target = self.target(idx + 1, g.desired);
                let why = format!("canary {target} of {} hosts", g.desired);
                scale_new(self.mode, group, g, target, &label, &why, out);
            }
            self.state = State::Scaling {
                since: obs.now,
                idx: idx + 1,
            };
            return Flow::Next;
        }
        out.push(Action::Note {
            step: "promote".into(),
            reason: "max weight passed: copy the canary to the primary (the primary's hosts roll), then route all traffic to it".into(),
        });
        for group in 0..obs.groups.len() {
            out.push(Action::ClearWeight { group });
        }
        self.state = State::Promoting {
            last_progress: obs.now,
            last_new: 0,
        };
        Flow::Next
    }

    /// `Promoting`: the primary's hosts roll to the new version, unless the
    /// rollout has stalled.
    fn promoting(&mut self, stalled: bool, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        if stalled && !self.stall_reported {
            // Flagger keeps waiting for the primary (its rollback applies
            // to the Progressing phase only): say so once and go on; a
            // promotion that never finishes ends `timed_out`.
            self.stall_reported = true;
            out.push(Action::Note {
                step: "promote".into(),
                reason: format!(
                    "promotion: the primary made no progress for {} (progress_deadline); Flagger keeps waiting for it",
                    self.spec.progress_deadline
                ),
            });
        } else if !stalled {
            self.stall_reported = false;
        }
        let surge = match self.mode {
            ChangeMode::InPlace => IntOrPercent::Count(0),
            ChangeMode::Replace => IntOrPercent::Percent(25),
        };
        if roll_forward(
            self.mode,
            surge,
            self.spec.max_unavailable,
            obs,
            &mut self.terminating,
            "promote",
            out,
        ) {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: "promoted: the primary runs the new version".into(),
            });
            self.state = State::Done;
        }
        Flow::Wait
    }

    /// `Draining` (blue/green): done once the primary's old hosts are gone.
    fn draining(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        if obs.groups.iter().all(|g| g.old.total == 0) {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: "blue/green promoted: the copy serves all traffic".into(),
            });
            self.state = State::Done;
        }
        Flow::Wait
    }
}

impl Policy for Flagger {
    fn kind(&self) -> &'static str {
        "flagger"
    }

    fn milestones(&self) -> Milestones {
        self.milestones
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if let State::Checking { .. } = self.state {
            for (m, w) in self.spec.metrics.iter().zip(&mut self.windows) {
                let scope = m.group.map_or(Scope::All, Scope::Group);
                w.add(obs, scope, Cohort::New, &Selector::All);
            }
        }
        for _ in 0..4 {
            let flow = match &mut self.state {
                State::Done => Flow::Wait,
                State::Aborting(rb) => {
                    rb.step(obs, out);
                    Flow::Wait
                }
                State::Start => self.start(obs, out),
                &mut State::Scaling { since, idx } => self.scaling(since, idx, obs, out),
                &mut State::Checking { idx, next, passed } => {
                    self.checking(idx, next, passed, obs, out)
                }
                State::Promoting {
                    last_progress,
                    last_new,
                } => {
                    let stalled = promotion_stalled(
                        obs,
                        last_progress,
                        last_new,
                        self.spec.progress_deadline,
                    );
                    self.promoting(stalled, obs, out)
                }
                State::Draining => self.draining(obs, out),
            };
            if flow == Flow::Wait {
                return;
            }
        }
    }
}
