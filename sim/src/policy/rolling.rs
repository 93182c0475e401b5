//! Kubernetes Deployment `RollingUpdate`, one Deployment per group.
//!
//! The arithmetic is the controller's (`pkg/controller/deployment/rolling.go`):
//!
//! - `maxSurge` resolves from a percentage of `replicas` **rounding up**,
//!   `maxUnavailable` **rounding down**; if both resolve to 0, unavailable
//!   becomes 1 (writing both as literal 0 is rejected by validation);
//!   only `maxUnavailable` is capped at 100 %: a `maxSurge` of `"200%"` is
//!   valid, as in Kubernetes' `ValidateRollingUpdateDeployment`;
//! - scale up the new ReplicaSet to at most `replicas + maxSurge` pods in all;
//! - old pods may go while `all − minAvailable − newUnavailable > 0`, unhealthy
//!   old pods first, then available ones down to `minAvailable = replicas −
//!   maxUnavailable`;
//! - a pod is *available* once it has been ready for `minReadySeconds`;
//! - a terminating pod counts neither as a replica nor as available
//!   (`FilterActivePods`): an old host this controller decommissioned that
//!   is still draining is left out of the old cohort's total
//!   ([`Terminating`]), so it is neither "cleaned up" again as an unhealthy
//!   old host nor counted towards `replicas + maxSurge`;
//! - progress is what `DeploymentProgressing` counts: the updated count
//!   changes, fewer old hosts remain, or more hosts are ready or available
//!   than at the last reconcile ([`ProgressCounts`]); a new host that
//!   becomes ready counts, so a long `min_ready` is not a stall. Without
//!   progress for `progressDeadlineSeconds` (default 600) the group is
//!   reported `ProgressDeadlineExceeded` (an audit note, once per stall) and
//!   the controller **keeps reconciling**, as Kubernetes does: it neither
//!   stops nor rolls back. A rollout that never completes ends `timed_out`
//!   at the scenario's end.
//!
//! With an in-place change (a Docker upgrade on a host) a host that leaves the
//! old cohort joins the new one at once, unavailable until it serves again:
//! scale-down and scale-up happen in the same reconcile, and `maxSurge` must be
//! 0 (validation enforces it).

use super::common::{Deadline, ProgressCounts, ProgressDeadline, ProgressRule};
use super::spec::{surge_and_unavailable, Context, PolicySpec, RawIntOrPercent};
use super::windowed::RawWindow;
use super::{Action, Cohort, CohortView, Observation, Outcome, Policy};
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::{ChangeMode, IntOrPercent};
use crate::time::{SimDuration, SimTime};
use serde::Deserialize;

// ---- as written -------------------------------------------------------------

/// `kind = "rolling"`. Validated, it is [`PolicySpec::Rolling`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRolling {
    pub max_surge: Option<RawIntOrPercent>,
    pub max_unavailable: Option<RawIntOrPercent>,
    pub min_ready: Option<SimDuration>,
    pub progress_deadline: Option<SimDuration>,
    pub window: Option<RawWindow>,
}

impl RawRolling {
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<PolicySpec, ScenarioError> {
        let mode = ctx.mode;
        let (surge, unavailable) =
            surge_and_unavailable(c, mode, (&self.max_surge, &self.max_unavailable), "rollout")?;
        let progress_deadline = self
            .progress_deadline
            .unwrap_or(SimDuration::from_secs(600));
        let min_ready = self.min_ready.unwrap_or(SimDuration::ZERO);
        if progress_deadline <= min_ready {
            return Err(c.err(
                "policy.progress_deadline",
                format!("must be longer than min_ready ({min_ready}), got {progress_deadline}"),
            ));
        }
        Ok(PolicySpec::Rolling {
            max_surge: surge,
            max_unavailable: unavailable,
            min_ready,
            progress_deadline,
        })
    }
}

// ---- the controller: its arithmetic, then the reconcile loop ----------------

/// Absolute `(maxSurge, maxUnavailable)` for `replicas`
/// (Kubernetes' `ResolveFenceposts`).
pub fn resolve_fenceposts(
    surge: IntOrPercent,
    unavailable: IntOrPercent,
    replicas: u32,
) -> (u32, u32) {
    let s = surge.resolve(replicas, true);
    let u = unavailable.resolve(replicas, false).min(replicas);
    if s == 0 && u == 0 {
        (0, 1)
    } else {
        (s, u)
    }
}

/// What one reconcile of one group does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollingPlan {
    /// New hosts to bring up (replace mode).
    pub provision: u32,
    /// Old hosts to move to the new version in place (in-place mode).
    pub update: u32,
    /// Old hosts to drain and terminate (replace mode).
    pub decommission: u32,
    /// `replicas − maxUnavailable`.
    pub min_available: u32,
    /// `replicas + maxSurge`.
    pub max_total: u32,
}

impl RollingPlan {
    /// The plan as actions for `group` (provision, update in place,
    /// decommission), each carrying `step` and `reason` to the audit log.
    pub fn push_actions(&self, group: usize, step: &str, reason: String, out: &mut Vec<Action>) {
        if self.provision > 0 {
            out.push(Action::Provision {
                group,
                count: self.provision,
                step: step.to_string(),
                reason: reason.clone(),
            });
        }
        if self.update > 0 {
            out.push(Action::Update {
                group,
                zone: None,
                to: Cohort::New,
                count: self.update,
                step: step.to_string(),
                reason: reason.clone(),
            });
        }
        if self.decommission > 0 {
            out.push(Action::Decommission {
                group,
                zone: None,
                count: self.decommission,
                step: step.to_string(),
                reason,
            });
        }
    }
}

/// The old hosts of one group that a rolling controller decommissioned and
/// that still drain: Kubernetes' terminating pods. The world's view counts
/// them in `old.total` (every non-terminated host) but not as ready or
/// available; the controller must count them as neither replicas nor
/// unhealthy old pods, or it decommissions more serving hosts every tick of
/// the drain (issue 10 item 1).
///
/// Kept by the policy itself, so the simulated world and the live fleet need
/// no extra field: a host the plan decommissions is pending until the old
/// cohort's total has shrunk by one (it finished draining, or it was down
/// and terminated at once). Old hosts leave the old cohort only through the
/// controller's decommissions; pending hosts are never ready, so the count
/// is also capped by `old.total − old.ready`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Terminating {
    pending: u32,
    last_old_total: Option<u32>,
}

impl Terminating {
    /// The old cohort as the controller counts it at this reconcile: the
    /// view without the hosts still draining.
    pub fn observe(&mut self, old: CohortView) -> CohortView {
        if let Some(last) = self.last_old_total {
            self.pending = self.pending.saturating_sub(last.saturating_sub(old.total));
        }
        self.last_old_total = Some(old.total);
        self.pending = self.pending.min(old.total.saturating_sub(old.ready));
        CohortView {
            total: old.total - self.pending,
            ..old
        }
    }

    /// Records the plan this reconcile carries out.
    pub fn planned(&mut self, plan: &RollingPlan) {
        self.decommissioned(plan.decommission);
    }

    /// Records `count` old hosts this reconcile decommissions.
    pub fn decommissioned(&mut self, count: u32) {
        self.pending += count;
    }

    /// Old hosts still draining (as of the last [`observe`](Self::observe)
    /// and [`planned`](Self::planned)).
    pub fn pending(&self) -> u32 {
        self.pending
    }
}

/// `reconcileNewReplicaSet` in replace mode: new hosts to bring up so that
/// all hosts stay within `replicas + maxSurge` and the new cohort within
/// `replicas` (`NewRSNewReplicas` for `RollingUpdate`).
pub fn new_replicas_to_add(desired: u32, max_surge: u32, old_total: u32, new_total: u32) -> u32 {
    (desired + max_surge)
        .saturating_sub(old_total + new_total)
        .min(desired.saturating_sub(new_total))
}

/// `reconcileOldReplicaSets`' budget: `all − minAvailable − newUnavailable`,
/// `None` when nothing old may go.
pub fn max_scaled_down(all: u32, min_available: u32, new_unavailable: u32) -> Option<u32> {
    let budget = all as i64 - min_available as i64 - new_unavailable as i64;
    (budget > 0).then_some(budget as u32)
}

/// `cleanupUnhealthyReplicas`: old hosts that are not available go first,
/// at most `max_cleanup` of them.
pub fn cleanup_unhealthy(old: CohortView, max_cleanup: u32) -> u32 {
    old.total.saturating_sub(old.available).min(max_cleanup)
}

/// `scaleDownOldReplicaSetsForRollingUpdate`: available old hosts that may
/// go while every cohort's available hosts stay at `min_available` or more.
/// `old` is the old cohort after the clean-up of unhealthy hosts.
pub fn scale_down_old(old: CohortView, new_available: u32, min_available: u32) -> u32 {
    let available_all = old.available + new_available;
    if available_all > min_available {
        (available_all - min_available)
            .min(old.total)
            .min(old.available)
    } else {
        0
    }
}

/// One reconcile of the rolling-update controller for one group. `old` must
/// not count old hosts that are terminating (see [`Terminating`]).
pub fn plan_rolling(
    mode: ChangeMode,
    desired: u32,
    max_surge: u32,
    max_unavailable: u32,
    old: CohortView,
    new: CohortView,
) -> RollingPlan {
    let max_total = desired + max_surge;
    let min_available = desired.saturating_sub(max_unavailable);
    let mut new_total = new.total;
    let mut new_unavailable = new.total.saturating_sub(new.available);

    // reconcileNewReplicaSet
    let mut provision = 0;
    if mode == ChangeMode::Replace {
        provision = new_replicas_to_add(desired, max_surge, old.total, new.total);
        new_total += provision;
        new_unavailable += provision;
    }

    // reconcileOldReplicaSets
    let all = old.total + new_total;
    let mut down = 0;
    if let Some(budget) = max_scaled_down(all, min_available, new_unavailable) {
        if old.total > 0 {
            let cleanup = cleanup_unhealthy(old, budget);
            let after_cleanup = CohortView {
                total: old.total - cleanup,
                ..old
            };
            down = cleanup + scale_down_old(after_cleanup, new.available, min_available);
        }
    }
    let (update, decommission) = match mode {
        ChangeMode::InPlace => (down, 0),
        ChangeMode::Replace => (0, down),
    };
    RollingPlan {
        provision,
        update,
        decommission,
        min_available,
        max_total,
    }
}

#[derive(Clone, Copy, Debug)]
struct GroupProgress {
    terminating: Terminating,
    progress: ProgressDeadline,
    batches: u32,
    done: bool,
}

/// The rolling-update strategy.
pub struct Rolling {
    mode: ChangeMode,
    max_surge: IntOrPercent,
    max_unavailable: IntOrPercent,
    min_ready: SimDuration,
    progress_deadline: SimDuration,
    groups: Vec<GroupProgress>,
    started: bool,
}

impl Rolling {
    pub fn new(
        mode: ChangeMode,
        groups: usize,
        max_surge: IntOrPercent,
        max_unavailable: IntOrPercent,
        min_ready: SimDuration,
        progress_deadline: SimDuration,
    ) -> Self {
        Rolling {
            mode,
            max_surge,
            max_unavailable,
            min_ready,
            progress_deadline,
            groups: vec![
                GroupProgress {
                    terminating: Terminating::default(),
                    progress: ProgressDeadline::new(
                        ProgressRule::Kubernetes,
                        progress_deadline,
                        SimTime::ZERO
                    ),
                    batches: 0,
                    done: false,
                };
                groups
            ],
            started: false,
        }
    }
}

fn describe(v: IntOrPercent, abs: u32, replicas: u32, rounding: &str) -> String {
    match v {
        IntOrPercent::Count(_) => format!("{abs}"),
        IntOrPercent::Percent(p) => format!("{abs} ({p}% of {replicas}, rounded {rounding})"),
    }
}

impl Policy for Rolling {
    fn kind(&self) -> &'static str {
        "rolling"
    }

    fn min_ready(&self) -> SimDuration {
        self.min_ready
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if !self.started {
            self.started = true;
            for p in &mut self.groups {
                p.progress = ProgressDeadline::new(
                    ProgressRule::Kubernetes,
                    self.progress_deadline,
                    obs.now,
                );
            }
        }
        for (group, g) in obs.groups.iter().enumerate() {
            let p = &mut self.groups[group];
            if p.done {
                continue;
            }
            let deadline = p.progress.observe(ProgressCounts::of_group(g), obs.now);
            if g.old.total == 0 && g.new.total == g.desired && g.new.available >= g.desired {
                p.done = true;
                continue;
            }
            if deadline == Deadline::Exceeded {
                out.push(Action::Note {
                    step: "progress deadline".into(),
                    reason: format!(
                        "group {group}: ProgressDeadlineExceeded (no progress for {}); Kubernetes reports it and keeps rolling",
                        self.progress_deadline
                    ),
                });
            }
            let (surge, unavailable) =
                resolve_fenceposts(self.max_surge, self.max_unavailable, g.desired);
            let old = p.terminating.observe(g.old);
            let plan = plan_rolling(self.mode, g.desired, surge, unavailable, old, g.new);
            p.terminating.planned(&plan);
            if plan.provision + plan.update + plan.decommission == 0 {
                continue;
            }
            p.batches += 1;
            let step = format!("rolling batch {}", p.batches);
            let reason = format!(
                "maxSurge={} maxUnavailable={}: {} of {} available, minAvailable {}",
                describe(self.max_surge, surge, g.desired, "up"),
                describe(self.max_unavailable, unavailable, g.desired, "down"),
                g.old.available + g.new.available,
                g.desired,
                plan.min_available
            );
            plan.push_actions(group, &step, reason, out);
        }
        if self.groups.iter().all(|p| p.done) {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: "every group rolled: all replicas updated and available".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntOrPercent::{Count, Percent};

    fn all_old(n: u32) -> (CohortView, CohortView) {
        (
            CohortView {
                total: n,
                ready: n,
                available: n,
            },
            CohortView::default(),
        )
    }

    /// replicas × maxSurge × maxUnavailable → resolved fenceposts, the first
    /// reconcile's batch, and minAvailable — checked against the Kubernetes
    /// controller's arithmetic by hand.
    #[test]
    fn kubernetes_rolling_arithmetic_table() {
        use ChangeMode::*;
        type Row = (
            u32,
            IntOrPercent,
            IntOrPercent,
            ChangeMode,
            (u32, u32),
            u32,
            u32,
            u32,
            u32,
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            // replicas surge       unavail      mode     (s, u)  prov  upd  decom minAvail
            (10, Percent(25), Percent(25), Replace, (3, 2), 3, 0, 2, 8),
            (4,  Percent(25), Percent(25), Replace, (1, 1), 1, 0, 1, 3),
            (3,  Percent(25), Percent(25), Replace, (1, 0), 1, 0, 0, 3),
            (1,  Percent(25), Percent(25), Replace, (1, 0), 1, 0, 0, 1),
            (10, Count(0),    Percent(25), InPlace, (0, 2), 0, 2, 0, 8),
            (10, Count(0),    Percent(5),  InPlace, (0, 1), 0, 1, 0, 9), // both round to 0 → unavailable 1
            (3,  Count(0),    Count(1),    InPlace, (0, 1), 0, 1, 0, 2),
            (100,Count(0),    Percent(33), InPlace, (0, 33),0, 33, 0, 67),
            (10, Count(2),    Count(0),    Replace, (2, 0), 2, 0, 0, 10),
            (10, Percent(100),Count(0),    Replace, (10, 0),10, 0, 0, 10),
            (5,  Count(0),    Percent(100),InPlace, (0, 5), 0, 5, 0, 0),
            (7,  Percent(10), Percent(10), Replace, (1, 0), 1, 0, 0, 7),
            // Issue 10 item 3: maxSurge above 100 % is valid (only
            // maxUnavailable is capped); the surge is capped by what is
            // missing from `replicas`, so 200 % of 10 brings up all 10.
            (10, Percent(200),Count(0),    Replace, (20, 0),10, 0, 0, 10),
            (3,  Percent(150),Percent(25), Replace, (5, 0), 3, 0, 0, 3),
        ];
        for &(replicas, s, u, mode, fence, prov, upd, decom, min_avail) in table {
            let (ms, mu) = resolve_fenceposts(s, u, replicas);
            assert_eq!((ms, mu), fence, "fenceposts for {replicas} {s:?} {u:?}");
            let (old, new) = all_old(replicas);
            let plan = plan_rolling(mode, replicas, ms, mu, old, new);
            assert_eq!(
                (
                    plan.provision,
                    plan.update,
                    plan.decommission,
                    plan.min_available
                ),
                (prov, upd, decom, min_avail),
                "plan for {replicas} {s:?} {u:?} {mode:?}"
            );
        }
    }

    /// Kubernetes' own table: `TestResolveFenceposts` in
    /// kubernetes/kubernetes pkg/controller/deployment/util/deployment_util_test.go
    /// at 977e6e96df24a5f9f81978c18afb97c72cc545f9 (its rows with an
    /// unparsable value, "oops" and "urg", are validation errors here:
    /// `sim/tests/policies.rs` `rolling_surge_and_unavailable_validation`).
    #[test]
    fn kubernetes_resolve_fenceposts_table() {
        #[rustfmt::skip]
        let table: &[(IntOrPercent, IntOrPercent, u32, (u32, u32))] = &[
            // maxSurge    maxUnavailable desired (surge, unavailable)
            (Percent(0),  Percent(0),  0,  (0, 1)),
            (Percent(39), Percent(39), 10, (4, 3)),
        ];
        for &(s, u, desired, expect) in table {
            assert_eq!(
                resolve_fenceposts(s, u, desired),
                expect,
                "{s:?} {u:?} {desired}"
            );
        }
    }

    #[test]
    fn waits_while_new_hosts_are_unavailable() {
        // 10 replicas, 2 already updated but not yet available: no more may go.
        let old = CohortView {
            total: 8,
            ready: 8,
            available: 8,
        };
        let new = CohortView {
            total: 2,
            ready: 0,
            available: 0,
        };
        let plan = plan_rolling(ChangeMode::InPlace, 10, 0, 2, old, new);
        assert_eq!(plan.update, 0);
        // Once they serve, the next batch of 2 goes.
        let new = CohortView {
            total: 2,
            ready: 2,
            available: 2,
        };
        assert_eq!(
            plan_rolling(ChangeMode::InPlace, 10, 0, 2, old, new).update,
            2
        );
    }

    #[test]
    fn unhealthy_old_hosts_are_cleaned_up_first() {
        // 3 of 10 old hosts are down (e.g. crashed): they may be replaced
        // without touching availability, even below minAvailable.
        let old = CohortView {
            total: 10,
            ready: 7,
            available: 7,
        };
        let plan = plan_rolling(ChangeMode::InPlace, 10, 0, 2, old, CohortView::default());
        assert_eq!(
            plan.update, 2,
            "cleanup is capped by all - minAvailable - newUnavailable"
        );
    }

    /// Issue 10 item 1: hosts this plan decommissioned that still drain are
    /// terminating pods: neither replicas nor unhealthy old hosts to clean
    /// up. Without that the second reconcile below decommissioned 2 more
    /// serving hosts (the 2 draining ones read as unhealthy).
    #[test]
    fn draining_old_hosts_are_not_cleaned_up_again() {
        let view = |total, ready| CohortView {
            total,
            ready,
            available: ready,
        };
        let mut t = Terminating::default();
        let plan = |t: &mut Terminating, old| {
            let old = t.observe(old);
            let plan = plan_rolling(ChangeMode::Replace, 10, 0, 2, old, CohortView::default());
            t.planned(&plan);
            plan
        };
        assert_eq!(plan(&mut t, view(10, 10)).decommission, 2);
        assert_eq!(t.pending(), 2);
        // Still draining: 10 old hosts exist, 8 serve. Nothing more may go
        // (no new host serves yet: all 8 serving hosts are needed).
        assert_eq!(t.observe(view(10, 8)), view(8, 8));
        let mut t2 = Terminating::default();
        t2.observe(view(10, 10));
        t2.planned(&RollingPlan {
            provision: 0,
            update: 0,
            decommission: 2,
            min_available: 8,
            max_total: 10,
        });
        assert_eq!(plan(&mut t2, view(10, 8)).decommission, 0);
        // Drained and terminated: gone from the view, nothing pending.
        assert_eq!(t2.observe(view(8, 8)), view(8, 8));
        assert_eq!(t2.pending(), 0);
        // Without the tracker, the draining hosts read as unhealthy old hosts.
        let naive = plan_rolling(
            ChangeMode::Replace,
            10,
            0,
            2,
            view(10, 8),
            CohortView::default(),
        );
        assert_eq!(naive.decommission, 2);
        // A host that crashes while others drain is still cleaned up.
        let mut t3 = Terminating::default();
        t3.observe(view(10, 10));
        t3.planned(&plan_rolling(
            ChangeMode::Replace,
            10,
            0,
            2,
            view(10, 10),
            CohortView::default(),
        ));
        assert_eq!(t3.observe(view(10, 7)), view(8, 7));
    }

    #[test]
    fn surge_then_scale_down_in_replace_mode() {
        // After the first surge of 3 became available: 10 old + 3 new.
        let old = CohortView {
            total: 8,
            ready: 8,
            available: 8,
        };
        let new = CohortView {
            total: 3,
            ready: 3,
            available: 3,
        };
        let plan = plan_rolling(ChangeMode::Replace, 10, 3, 2, old, new);
        // total 11 → may add 2 more (13 max); available 11 → may remove 3 (to 8).
        assert_eq!((plan.provision, plan.decommission), (2, 3));
    }
}
