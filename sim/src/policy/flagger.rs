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
//! **Blue/green mode** (`iterations`, replace mode): a full copy comes up
//! beside the primary without user traffic; after `iterations` successful
//! checks it is promoted (all traffic to it, the primary terminated). The
//! copy sees no user traffic in the simulator (Flagger would drive it with
//! a load tester), so its checks have no data and only host health gates:
//! a check without data passes in this mode.

use super::common::{new_available, replicas_for_weight, roll_forward, scale_new, Rollback};
use super::spec::FlaggerSpec;
use super::{Action, Milestones, Observation, Outcome, Policy};
use crate::analysis::measure::{Scope, Window};
use crate::analysis::Selector;
use crate::protocol::Cohort;
use crate::protocol::{ChangeMode, IntOrPercent};
use crate::time::{SimDuration, SimTime};

const PROGRESS_DEADLINE: SimDuration = SimDuration::from_secs(600);

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
        self.milestones.aborted_at = Some(obs.now);
        let reason = format!(
            "rolling back: {} failed checks reached threshold {}",
            self.failed_checks, self.spec.threshold
        );
        let mut rb = Rollback::begin(obs, self.mode, true, SimDuration::ZERO, None, reason, out);
        rb.step(obs, out);
        self.state = State::Aborting(rb);
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
            match &mut self.state {
                State::Done => return,
                State::Aborting(rb) => {
                    rb.step(obs, out);
                    return;
                }
                State::Start => {
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
                                    self.spec.interval.as_millis()
                                        * self.spec.step_weights.len() as u64
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
                    return;
                }
                State::Scaling { since, idx } => {
                    let (since, idx) = (*since, *idx);
                    if !new_available(obs, |_, g| self.target(idx, g.desired)) {
                        if obs.now.saturating_since(since) > PROGRESS_DEADLINE {
                            out.push(Action::Finish {
                                outcome: Outcome::Halted,
                                reason: format!("canary not available after {PROGRESS_DEADLINE} (progressDeadlineSeconds)"),
                            });
                            self.state = State::Done;
                        }
                        return;
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
                    return;
                }
                State::Checking { idx, next, passed } => {
                    if obs.now < *next {
                        return;
                    }
                    let (idx, passed) = (*idx, *passed);
                    *next = obs.now + self.spec.interval;
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
                        return;
                    }
                    if verdict.is_none() {
                        return;
                    }
                    if let Some(n) = self.spec.iterations {
                        if passed + 1 < n {
                            self.state = State::Checking {
                                idx,
                                next: obs.now + self.spec.interval,
                                passed: passed + 1,
                            };
                            return;
                        }
                        out.push(Action::Note {
                            step: "promote".into(),
                            reason: format!(
                                "{n} iterations passed: switch all traffic and retire the primary"
                            ),
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
                        return;
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
                        continue;
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
                    continue;
                }
                State::Promoting {
                    last_progress,
                    last_new,
                } => {
                    if super::common::promotion_stalled(
                        obs,
                        last_progress,
                        last_new,
                        PROGRESS_DEADLINE,
                    ) {
                        out.push(Action::Finish {
                            outcome: Outcome::Halted,
                            reason: "promotion: primary rollout made no progress for 10m".into(),
                        });
                        self.state = State::Done;
                        return;
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
                        "promote",
                        out,
                    ) {
                        out.push(Action::Finish {
                            outcome: Outcome::Completed,
                            reason: "promoted: the primary runs the new version".into(),
                        });
                        self.state = State::Done;
                    }
                    return;
                }
                State::Draining => {
                    if obs.groups.iter().all(|g| g.old.total == 0) {
                        out.push(Action::Finish {
                            outcome: Outcome::Completed,
                            reason: "blue/green promoted: the copy serves all traffic".into(),
                        });
                        self.state = State::Done;
                    }
                    return;
                }
            }
        }
    }
}
