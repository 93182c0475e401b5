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

/// Hosts a traffic-routed Argo canary of `weight_pct` of `desired` needs:
/// `⌈weight × desired / 100⌉` (Argo's `trafficWeightToReplicas`, rounding
/// up: 41 % of 10 → 5, 1 % of 10 → 1).
pub fn routed_canary_replicas(weight_pct: u32, desired: u32) -> u32 {
    (weight_pct as u64 * desired as u64).div_ceil(100) as u32
}

/// The canary and stable sizes that best approximate `weight_pct` of
/// `replicas` for a basic (replica-count) canary: Argo's
/// `approximateWeightedCanaryStableReplicaCounts`. The two sum to `replicas`,
/// or to `replicas + 1` when `max_surge > 0` brings the share closer; for
/// `0 < weight < 100` and two or more replicas (surge included) both are at
/// least 1; ties between floor and ceiling go to the larger canary.
pub fn approximate_canary_stable(replicas: u32, weight_pct: u32, max_surge: u32) -> (u32, u32) {
    if replicas == 0 {
        return (0, 0);
    }
    let (w, n) = (weight_pct as u64, replicas as u64);
    let ceil = (w * n).div_ceil(100) as u32;
    let floor = (w * n / 100) as u32;
    // `frac == 0.5` exactly, in integers: 2·w·total ≡ 100 (mod 200).
    let tied = |total: u64| (2 * w * total) % 200 == 100;
    let zero_allowed = weight_pct == 100 || weight_pct == 0 || (replicas == 1 && max_surge == 0);
    let mut options: Vec<(u32, u32)> = Vec::with_capacity(4);
    if ceil < replicas || zero_allowed {
        options.push((ceil, replicas));
    }
    if !tied(n) && (floor != 0 || zero_allowed) {
        options.push((floor, replicas));
    }
    if max_surge > 0 {
        options.push((ceil, replicas + 1));
        if !tied(n + 1) && (floor != 0 || zero_allowed) {
            options.push((floor, replicas + 1));
        }
    }
    // |canary/total − w/100|, compared exactly as |100·canary − w·total| / total.
    let delta = |(c, t): (u32, u32)| {
        let diff = (100 * c as i64 - w as i64 * t as i64).unsigned_abs() as u128;
        (diff, t as u128)
    };
    let worse = |a: (u128, u128), b: (u128, u128)| a.0 * b.1 > b.0 * a.1;
    let Some(&first) = options.first() else {
        return (0, replicas);
    };
    let mut best = first;
    for &o in &options[1..] {
        // Strictly better only: the first of equals wins, as in Argo.
        if worse(delta(best), delta(o)) {
            best = o;
        }
    }
    (best.0, best.1 - best.0)
}

/// One ReplicaSet as Argo's canary arithmetic reads it: `spec.replicas`
/// (hosts that exist and are not terminating) and `status.availableReplicas`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicaSetView {
    pub spec: u32,
    pub available: u32,
}

/// Argo's `GetReplicasForScaleDown`: what a ReplicaSet counts towards the
/// hosts that may go, its size when availability is ignored or when it is
/// already shrinking, its available hosts otherwise.
fn replicas_for_scale_down(rs: ReplicaSetView, ignore_availability: bool) -> u32 {
    if rs.spec < rs.available || ignore_availability {
        rs.spec
    } else {
        rs.available
    }
}

/// One reconcile of a basic (replica-count) Argo canary of `replicas` hosts
/// at `weight_pct`: the canary and stable sizes to scale to now, within
/// `max_surge` above and `max_unavailable` below `replicas` (both absolute,
/// as [`resolve_fenceposts`] gives them). Argo's
/// `CalculateReplicaCountsForBasicCanary` with a stable set that exists and
/// no older ReplicaSets: the stable grows first, then the canary, by what
/// the surge leaves; then whichever set is shrinking goes down by what
/// availability allows. A full promotion is `weight_pct = 100`.
pub fn basic_canary_counts(
    replicas: u32,
    weight_pct: u32,
    max_surge: u32,
    max_unavailable: u32,
    canary: ReplicaSetView,
    stable: ReplicaSetView,
) -> (u32, u32) {
    let (want_canary, want_stable) = approximate_canary_stable(replicas, weight_pct, max_surge);
    let (mut canary_n, mut stable_n) = (canary.spec, stable.spec);
    let max_total = replicas + max_surge;
    let mut up = max_total as i64 - (canary.spec + stable.spec) as i64;
    if stable.spec < want_stable && up > 0 {
        let need = (want_stable - stable.spec) as i64;
        stable_n = stable.spec + need.min(up) as u32;
        up -= need.min(up);
    }
    if canary.spec < want_canary && up > 0 {
        canary_n = canary.spec + ((want_canary - canary.spec) as i64).min(up) as u32;
    }
    let min_available = replicas.saturating_sub(max_unavailable.min(replicas));
    let increasing = want_canary >= canary.spec;
    let scalable =
        replicas_for_scale_down(canary, !increasing) + replicas_for_scale_down(stable, increasing);
    if scalable <= min_available {
        return (canary_n, stable_n);
    }
    let down = scalable - min_available;
    let shrink = |rs: ReplicaSetView, want: u32, n: u32| {
        if rs.spec > want {
            want.max(rs.spec.saturating_sub(down))
        } else {
            n
        }
    };
    if !increasing {
        canary_n = shrink(canary, want_canary, canary_n);
        let (c, s) = within_limits(canary, stable, canary_n, stable_n, max_total, min_available);
        (c, s)
    } else {
        stable_n = shrink(stable, want_stable, stable_n);
        let (s, c) = within_limits(stable, canary, stable_n, canary_n, max_total, min_available);
        (c, s)
    }
}

/// Argo's `adjustReplicaWithinLimits`: brings the set whose availability
/// counts (`adjust`) within the surge, gives back what that would cost in
/// availability, and takes the rest off the set being drained (`drain`).
/// Returns `(drain, adjust)` sizes.
fn within_limits(
    drain: ReplicaSetView,
    adjust: ReplicaSetView,
    drain_n: u32,
    adjust_n: u32,
    max_total: u32,
    min_available: u32,
) -> (u32, u32) {
    let over = |a: i64, d: i64| (a + d - max_total as i64).max(0);
    let (drain_n, mut adjust_n) = (drain_n as i64, adjust_n as i64);
    let mut available = (drain.available as i64).min(drain_n);
    adjust_n -= over(adjust_n, drain_n);
    available += (adjust.available as i64).min(adjust_n);
    let extra = (adjust.available as i64 - adjust_n).max(0);
    let short = (min_available as i64 - available).max(0);
    adjust_n += extra.min(short);
    let drain_n = drain_n - over(adjust_n, drain_n);
    (drain_n.max(0) as u32, adjust_n.max(0) as u32)
}

/// Whose progress test a [`ProgressDeadline`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressRule {
    /// Kubernetes' `DeploymentProgressing`
    /// (`pkg/controller/deployment/util/deployment_util.go`): the updated
    /// count grew.
    Kubernetes,
    /// Argo Rollouts' `RolloutProgressing` (`utils/conditions/conditions.go`):
    /// the updated count changed (a canary scaled down counts too).
    ArgoRollouts,
}

/// The counts Kubernetes compares between two reconciles to decide whether
/// a rollout progresses, summed over the groups it watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgressCounts {
    /// `status.replicas`: every host of either version.
    pub replicas: u32,
    /// `status.updatedReplicas`: hosts on the new version.
    pub updated: u32,
    pub ready: u32,
    pub available: u32,
}

impl ProgressCounts {
    pub fn of_group(g: &GroupView) -> Self {
        ProgressCounts {
            replicas: g.old.total + g.new.total,
            updated: g.new.total,
            ready: g.old.ready + g.new.ready,
            available: g.old.available + g.new.available,
        }
    }

    pub fn of(obs: &Observation<'_>) -> Self {
        obs.groups
            .iter()
            .map(Self::of_group)
            .fold(Self::default(), |a, b| ProgressCounts {
                replicas: a.replicas + b.replicas,
                updated: a.updated + b.updated,
                ready: a.ready + b.ready,
                available: a.available + b.available,
            })
    }

    /// The controller's test: the updated count grew (Argo: changed), fewer
    /// old hosts remain, or more hosts are ready or available than at the
    /// last reconcile.
    pub fn progressed_since(&self, last: &ProgressCounts, rule: ProgressRule) -> bool {
        let old = |c: &ProgressCounts| c.replicas.saturating_sub(c.updated);
        let updated = match rule {
            ProgressRule::Kubernetes => self.updated > last.updated,
            ProgressRule::ArgoRollouts => self.updated != last.updated,
        };
        updated
            || old(self) < old(last)
            || self.ready > last.ready
            || self.available > last.available
    }
}

/// What a [`ProgressDeadline`] says at one reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Progress within `progressDeadlineSeconds`.
    Progressing,
    /// The deadline just passed without progress: report
    /// `ProgressDeadlineExceeded` (once per stall).
    Exceeded,
    /// Still past the deadline, already reported.
    StillExceeded,
}

/// Kubernetes' `Progressing` condition: the time of the last progress, and
/// whether the current stall has been reported. Kubernetes only reports a
/// stall (`Progressing=False`, reason `ProgressDeadlineExceeded`) and keeps
/// reconciling; Argo aborts only with `progressDeadlineAbort`.
#[derive(Clone, Copy, Debug)]
pub struct ProgressDeadline {
    rule: ProgressRule,
    deadline: SimDuration,
    last: Option<ProgressCounts>,
    since: SimTime,
    reported: bool,
}

impl ProgressDeadline {
    pub fn new(rule: ProgressRule, deadline: SimDuration, now: SimTime) -> Self {
        ProgressDeadline {
            rule,
            deadline,
            last: None,
            since: now,
            reported: false,
        }
    }

    /// Counts as progress by itself (Argo: a step index change, a new
    /// ReplicaSet): the clock restarts at `now`.
    pub fn restart(&mut self, now: SimTime) {
        self.since = now;
        self.reported = false;
    }

    /// One reconcile with `counts`.
    pub fn observe(&mut self, counts: ProgressCounts, now: SimTime) -> Deadline {
        if self
            .last
            .is_some_and(|last| counts.progressed_since(&last, self.rule))
        {
            self.restart(now);
        }
        self.last = Some(counts);
        if now.saturating_since(self.since) <= self.deadline {
            Deadline::Progressing
        } else if !self.reported {
            self.reported = true;
            Deadline::Exceeded
        } else {
            Deadline::StillExceeded
        }
    }

    pub fn deadline(&self) -> SimDuration {
        self.deadline
    }

    /// When the last progress was seen.
    pub fn since(&self) -> SimTime {
        self.since
    }
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

    /// Kubernetes' `DeploymentProgressing`: a host becoming ready is
    /// progress (issue 10 item 2: only updated and available counts were
    /// watched, so a long `min_ready` read as a stall); a canary scaled
    /// down is progress for Argo (`!=`) but not for Kubernetes (`>`).
    #[test]
    fn progress_counts_follow_the_controllers() {
        let c = |replicas, updated, ready, available| ProgressCounts {
            replicas,
            updated,
            ready,
            available,
        };
        use ProgressRule::{ArgoRollouts, Kubernetes};
        let last = c(10, 2, 8, 8);
        for rule in [Kubernetes, ArgoRollouts] {
            assert!(c(10, 2, 9, 8).progressed_since(&last, rule), "ready grew");
            assert!(
                c(10, 2, 8, 9).progressed_since(&last, rule),
                "available grew"
            );
            assert!(c(11, 3, 8, 8).progressed_since(&last, rule), "updated grew");
            assert!(
                c(9, 2, 8, 8).progressed_since(&last, rule),
                "an old host went"
            );
            assert!(
                !c(10, 2, 8, 8).progressed_since(&last, rule),
                "nothing moved"
            );
            assert!(!c(10, 2, 7, 7).progressed_since(&last, rule), "hosts lost");
        }
        assert!(!c(9, 1, 8, 8).progressed_since(&last, Kubernetes));
        assert!(c(9, 1, 8, 8).progressed_since(&last, ArgoRollouts));
    }

    /// The deadline is reported once per stall and re-armed by progress.
    #[test]
    fn progress_deadline_reports_once_per_stall() {
        let t = |s: u64| SimTime::from_millis(s * 1000);
        let still = ProgressCounts::default();
        let moved = ProgressCounts { ready: 1, ..still };
        let mut p =
            ProgressDeadline::new(ProgressRule::Kubernetes, SimDuration::from_secs(60), t(0));
        assert_eq!(p.observe(still, t(0)), Deadline::Progressing);
        assert_eq!(p.observe(still, t(60)), Deadline::Progressing);
        assert_eq!(p.observe(still, t(61)), Deadline::Exceeded);
        assert_eq!(p.observe(still, t(90)), Deadline::StillExceeded);
        assert_eq!(p.observe(moved, t(100)), Deadline::Progressing);
        assert_eq!(p.since(), t(100));
        assert_eq!(p.observe(moved, t(161)), Deadline::Exceeded);
    }
}
