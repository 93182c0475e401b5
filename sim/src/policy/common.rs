//! Pieces several strategies share: canary sizing, moving a cohort's size to
//! a target, rolling promotion and the way back after an abort.

use super::rolling::{plan_rolling, resolve_fenceposts, Terminating};
use super::{Action, Cohort, GroupView, Observation, Outcome};
use crate::protocol::{ChangeMode, IntOrPercent};
use crate::time::{SimDuration, SimTime};

/// What one state's handler leaves for the rest of the tick: the state it
/// moved to runs at once (`Next`: a step that finishes immediately), or the
/// policy waits for the next observation (`Wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Next,
    Wait,
}

/// Hosts a canary of `weight` percent of `desired` needs: the nearest count,
/// ties rounding up (41 % of 10 → 4, 45 % of 10 → 5, 5 % of 10 → 1). With
/// a traffic router a non-zero weight needs at least one host to route to.
pub fn replicas_for_weight(weight_pct: u32, desired: u32, routed: bool) -> u32 {
    let n = ((weight_pct as u64 * desired as u64 + 50) / 100) as u32;
    if routed && weight_pct > 0 {
        n.max(1)
    } else {
        n
    }
}

/// Actions that bring `group`'s new cohort to `target` hosts: in place by
/// moving hosts between cohorts, in replace mode by provisioning new hosts
/// or decommissioning new ones.
pub fn scale_new(
    mode: ChangeMode,
    group: usize,
    g: &GroupView,
    target: u32,
    step: &str,
    reason: &str,
    out: &mut Vec<Action>,
) {
    let have = g.new.total;
    if target > have {
        let count = target - have;
        out.push(match mode {
            ChangeMode::InPlace => Action::Update {
                group,
                zone: None,
                to: Cohort::New,
                count: count.min(g.old.total),
                step: step.to_string(),
                reason: reason.to_string(),
            },
            ChangeMode::Replace => Action::Provision {
                group,
                count,
                step: step.to_string(),
                reason: reason.to_string(),
            },
        });
    } else if target < have {
        let count = have - target;
        out.push(match mode {
            ChangeMode::InPlace => Action::Update {
                group,
                zone: None,
                to: Cohort::Old,
                count,
                step: step.to_string(),
                reason: reason.to_string(),
            },
            ChangeMode::Replace => Action::DecommissionNew {
                group,
                zone: None,
                count,
                step: step.to_string(),
                reason: reason.to_string(),
            },
        });
    }
}

/// One rolling reconcile of every group towards all-new (Kubernetes
/// arithmetic). `terminating` keeps, per group, the old hosts this roll has
/// decommissioned that still drain (the caller keeps it across ticks; it
/// grows to the number of groups). Returns true when every group is fully
/// on the new version and available.
pub fn roll_forward(
    mode: ChangeMode,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
    obs: &Observation<'_>,
    terminating: &mut Vec<Terminating>,
    step: &str,
    out: &mut Vec<Action>,
) -> bool {
    if terminating.len() < obs.groups.len() {
        terminating.resize(obs.groups.len(), Terminating::default());
    }
    let mut done = true;
    for (group, g) in obs.groups.iter().enumerate() {
        if g.old.total == 0 && g.new.available >= g.desired {
            continue;
        }
        done = false;
        let (s, u) = resolve_fenceposts(surge, unavailable, g.desired);
        let old = terminating[group].observe(g.old);
        let plan = plan_rolling(mode, g.desired, s, u, old, g.new);
        terminating[group].planned(&plan);
        let reason = format!(
            "promotion: rolling the rest ({} of {} on the new version, max_surge {s}, max_unavailable {u})",
            g.new.total, g.desired
        );
        plan.push_actions(group, step, reason, out);
    }
    done
}

/// Whether every group's new cohort has at least `target(group)` available
/// hosts.
pub fn new_available(obs: &Observation<'_>, target: impl Fn(usize, &GroupView) -> u32) -> bool {
    obs.groups
        .iter()
        .enumerate()
        .all(|(i, g)| g.new.available >= target(i, g))
}

/// How long a rollback may wait for hosts to serve the old version again
/// before it is reported as done anyway (Kubernetes' progress deadline).
pub const ROLLBACK_DEADLINE: SimDuration = SimDuration::from_secs(600);

/// The way back after an abort: traffic returns to the old version at once,
/// the new cohort is scaled down after `delay` (all at once, or in rolling
/// batches when `batch` is given), and the rollout finishes `rolled_back`
/// once every group serves only the old version again.
#[derive(Clone, Debug)]
pub struct Rollback {
    pub started: SimTime,
    delay: SimDuration,
    batch: Option<IntOrPercent>,
    mode: ChangeMode,
    scaled: bool,
    reason: String,
}

impl Rollback {
    /// Starts the way back at `now`: an audit row, and every group's traffic
    /// weight to 0 when `routed`.
    pub fn begin(
        obs: &Observation<'_>,
        mode: ChangeMode,
        routed: bool,
        delay: SimDuration,
        batch: Option<IntOrPercent>,
        reason: String,
        out: &mut Vec<Action>,
    ) -> Self {
        out.push(Action::Note {
            step: "abort".into(),
            reason: reason.clone(),
        });
        if routed {
            for group in 0..obs.groups.len() {
                out.push(Action::SetWeight {
                    group,
                    new_pct: 0.0,
                });
            }
        }
        Rollback {
            started: obs.now,
            delay,
            batch,
            mode,
            scaled: false,
            reason,
        }
    }

    /// One tick of the way back.
    pub fn step(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if obs.now < self.started + self.delay {
            return;
        }
        let step = "abort: scale down";
        match self.batch {
            None if !self.scaled => {
                self.scaled = true;
                for (group, g) in obs.groups.iter().enumerate() {
                    if g.new.total > 0 {
                        let reason = format!(
                            "aborted: {} new hosts of group {group} go back (after {})",
                            g.new.total, self.delay
                        );
                        scale_new(self.mode, group, g, 0, step, &reason, out);
                    }
                }
            }
            None => {}
            Some(batch) => {
                for (group, g) in obs.groups.iter().enumerate() {
                    if g.new.total == 0 {
                        continue;
                    }
                    let (_, u) = resolve_fenceposts(IntOrPercent::Count(0), batch, g.desired);
                    // The same arithmetic with the cohorts swapped: new hosts
                    // go back in batches while enough hosts stay available.
                    let plan = plan_rolling(ChangeMode::InPlace, g.desired, 0, u, g.new, g.old);
                    if plan.update > 0 {
                        out.push(Action::Update {
                            group,
                            zone: None,
                            to: Cohort::Old,
                            count: plan.update,
                            step: step.to_string(),
                            reason: format!(
                                "rolling back: {} of {} still on the new version, max_unavailable {u}",
                                g.new.total, g.desired
                            ),
                        });
                    }
                }
            }
        }
        let back = obs
            .groups
            .iter()
            .all(|g| g.new.total == 0 && g.old.available >= g.old.total.min(g.desired));
        let gone = obs.groups.iter().all(|g| g.new.total == 0);
        if back || (gone && obs.now.saturating_since(self.started) > ROLLBACK_DEADLINE) {
            out.push(Action::Finish {
                outcome: Outcome::RolledBack,
                reason: format!(
                    "rolled back after {}: {}",
                    obs.now.saturating_since(self.started),
                    self.reason
                ),
            });
        }
    }
}

/// Tracks a promotion's progress (hosts updated plus hosts available, over
/// every group) and says whether none was made for longer than `deadline`.
pub fn promotion_stalled(
    obs: &Observation<'_>,
    last_progress: &mut crate::time::SimTime,
    last_new: &mut u32,
    deadline: crate::time::SimDuration,
) -> bool {
    let new_now: u32 = obs
        .groups
        .iter()
        .map(|g| g.new.total + g.new.available)
        .sum();
    if new_now > *last_new {
        *last_new = new_now;
        *last_progress = obs.now;
    }
    obs.now.saturating_since(*last_progress) > deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replica-count canaries: the nearest count, ties up (Argo's weight to
    /// replicas for a basic canary).
    #[test]
    fn canary_replicas_round_to_nearest_with_ties_up() {
        for (w, n, routed, want) in [
            (41, 10, false, 4),
            (45, 10, false, 5),
            (44, 10, false, 4),
            (5, 10, false, 1),
            (4, 10, false, 0),
            (4, 10, true, 1),
            (0, 10, true, 0),
            (100, 10, false, 10),
            (33, 3, false, 1),
            (50, 3, false, 2),
            (25, 40, false, 10),
            (1, 1000, false, 10),
        ] {
            assert_eq!(
                replicas_for_weight(w, n, routed),
                want,
                "{w}% of {n} (routed {routed})"
            );
        }
    }
}
