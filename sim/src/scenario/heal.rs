//! Validation of the self-healing and self-adapting sections:
//! `[fleet.restart]` (restart policies) and `[[autoscale]]` (a
//! HorizontalPodAutoscaler per role). Every bound names its reason.

use super::raw::{RawAutoscale, RawRatePolicy, RawRestart, RawRules, RawWarmUp};
use super::{Checker, Role, ScenarioError};
use crate::autoscale::{AutoscaleSpec, RateKind, RatePolicy, Rules, Select, Target};
use crate::restart::{RestartKind, RestartPolicy};
use crate::time::SimDuration;

/// The longest back-off: a container waiting longer is as good as left
/// down (the kubelet caps at 5 min, Docker at 1 min).
pub const MAX_BACKOFF: SimDuration = SimDuration::from_hours(24);

/// The most restarts `max_restarts` may allow: more is no limit at all over
/// any run the simulator accepts (at most a year).
pub const MAX_RESTARTS: i64 = 1_000_000;

/// The largest `max_replicas` of one role: the fleet's host limit.
pub const MAX_REPLICAS: i64 = super::MAX_HOSTS as i64;

/// The HPA's own bounds (`pkg/apis/autoscaling/validation`): a
/// stabilisation window of at most an hour, a policy period of at most 30
/// minutes.
pub const MAX_STABILIZATION: SimDuration = SimDuration::from_hours(1);
pub const MAX_POLICY_PERIOD: SimDuration = SimDuration::from_mins(30);

pub(super) fn restart(c: &Checker<'_>, r: RawRestart) -> Result<RestartPolicy, ScenarioError> {
    let f = |k: &str| format!("fleet.restart.{k}");
    let policy = match r.policy.as_deref() {
        None | Some("on-failure") => RestartKind::OnFailure,
        Some("always") => RestartKind::Always,
        Some("no") => RestartKind::No,
        Some(other) => {
            return Err(c.err(
                &f("policy"),
                format!(
                "unknown restart policy \"{other}\"; allowed: \"on-failure\", \"always\", \"no\""
            ),
            ))
        }
    };
    let backoff = r.backoff.unwrap_or(SimDuration::from_secs(10));
    if backoff.is_zero() {
        return Err(c.err(
            &f("backoff"),
            "must be longer than 0s: a back-off of 0 doubles to 0 and never backs off \
             (the kubelet starts at 10s, Docker at 100ms)",
        ));
    }
    let max_backoff = r
        .max_backoff
        .unwrap_or(SimDuration::from_mins(5).max(backoff));
    if max_backoff < backoff {
        return Err(c.err(
            &f("max_backoff"),
            format!("must be at least `backoff` ({backoff}), got {max_backoff}"),
        ));
    }
    if max_backoff > MAX_BACKOFF {
        return Err(c.err(
            &f("max_backoff"),
            format!(
                "must be at most {MAX_BACKOFF}, got {max_backoff}: a longer back-off leaves the \
                 container down for most of a run (the kubelet caps at 5m, Docker at 1m); \
                 use policy = \"no\" for a container that stays down"
            ),
        ));
    }
    let reset_after = r
        .reset_after
        .unwrap_or(SimDuration::from_millis(max_backoff.as_millis() * 2));
    if reset_after.is_zero() {
        return Err(c.err(
            &f("reset_after"),
            "must be longer than 0s (the kubelet resets after 2 × max_backoff, Docker after 10s)",
        ));
    }
    let max_restarts = match r.max_restarts {
        None => None,
        Some(_) if policy != RestartKind::OnFailure => {
            return Err(c.err(
                &f("max_restarts"),
                format!(
                    "only policy = \"on-failure\" counts restarts (Docker ignores \
                     MaximumRetryCount for \"{}\")",
                    policy.as_str()
                ),
            ))
        }
        Some(n) if !(1..=MAX_RESTARTS).contains(&n) => {
            return Err(c.err(
                &f("max_restarts"),
                format!(
                    "must be between 1 and {MAX_RESTARTS}, got {n} (Docker's 0 means no limit: \
                     leave the field out for that)"
                ),
            ))
        }
        Some(n) => Some(n as u32),
    };
    Ok(RestartPolicy {
        policy,
        backoff,
        max_backoff,
        reset_after,
        max_restarts,
        delay_first_restart: r.delay_first_restart.unwrap_or(false),
    })
}

pub(super) fn warm_up(
    c: &Checker<'_>,
    w: RawWarmUp,
) -> Result<crate::fleet::WarmUp, ScenarioError> {
    if w.duration.is_zero() || w.duration > SimDuration::from_hours(24) {
        return Err(c.err(
            "fleet.warm_up.duration",
            format!(
                "must be longer than 0s and at most 1d, got {}: a host warming for longer \
                 is slow, not warming (lower its capacity_rps instead)",
                w.duration
            ),
        ));
    }
    if !(w.capacity > 0.0 && w.capacity <= 1.0) {
        return Err(c.err(
            "fleet.warm_up.capacity",
            format!(
                "must be a share of capacity_rps in (0, 1], got {}: 0 is a host that is not \
                 serving (make it slower to start instead)",
                w.capacity
            ),
        ));
    }
    Ok(crate::fleet::WarmUp {
        duration: w.duration,
        capacity: w.capacity,
    })
}

/// Context of `[[autoscale]]` validation.
pub(super) struct Context<'a> {
    pub roles: &'a [Role],
    pub tick: SimDuration,
    pub live: bool,
}

pub(super) fn autoscale(
    c: &Checker<'_>,
    raw: Vec<RawAutoscale>,
    cx: &Context<'_>,
) -> Result<Vec<AutoscaleSpec>, ScenarioError> {
    let mut out: Vec<AutoscaleSpec> = Vec::with_capacity(raw.len());
    let mut hosts_at_most: i64 = cx.roles.iter().map(|r| r.hosts as i64).sum();
    for (i, a) in raw.into_iter().enumerate() {
        let f = |k: &str| format!("autoscale[{i}].{k}");
        let Some(group) = cx.roles.iter().position(|r| r.name == a.role) else {
            let names: Vec<&str> = cx.roles.iter().map(|r| r.name.as_str()).collect();
            return Err(c.err(
                &f("role"),
                format!(
                    "no role `{}` in the fleet; roles: {}",
                    a.role,
                    names.join(", ")
                ),
            ));
        };
        if out.iter().any(|o| o.group == group) {
            return Err(c.err(
                &f("role"),
                format!(
                    "role `{}` already has an [[autoscale]]: one HPA per role (two would fight \
                     over its replica count)",
                    a.role
                ),
            ));
        }
        let target = match (a.target_utilization, a.target_rps_per_host) {
            (Some(u), None) => {
                if !(u > 0.0 && u <= 1.0) {
                    return Err(c.err(
                        &f("target_utilization"),
                        format!(
                            "must be a share of capacity_rps in (0, 1], got {u}: beyond 1 the \
                             hosts fail requests before the target is reached"
                        ),
                    ));
                }
                Target::Utilization(u)
            }
            (None, Some(r)) => Target::RpsPerHost(c.positive(&f("target_rps_per_host"), r)?),
            (Some(_), Some(_)) => {
                return Err(c.err(
                    &f("target_rps_per_host"),
                    "give one target: `target_utilization` or `target_rps_per_host`, not both",
                ))
            }
            (None, None) => {
                return Err(c.err(
                    &f("role"),
                    "needs a target: `target_utilization` (share of capacity_rps) or \
                     `target_rps_per_host`",
                ))
            }
        };
        let min = a.min_replicas.unwrap_or(1);
        if min < 1 {
            return Err(c.err(
                &f("min_replicas"),
                format!(
                    "must be at least 1, got {min}: scaling to zero needs the HPAScaleToZero \
                     feature gate and an external metric, which the simulator does not model"
                ),
            ));
        }
        if a.max_replicas < min || a.max_replicas > MAX_REPLICAS {
            return Err(c.err(
                &f("max_replicas"),
                format!(
                    "must be between min_replicas ({min}) and {MAX_REPLICAS} (the fleet's host \
                     limit), got {}",
                    a.max_replicas
                ),
            ));
        }
        hosts_at_most += (a.max_replicas - cx.roles[group].hosts as i64).max(0);
        let live_max = super::live::MAX_REPLICAS as i64;
        if cx.live && a.max_replicas > live_max {
            return Err(c.err(
                &f("max_replicas"),
                format!(
                    "live mode runs one container per host: at most {live_max} replicas per role, \
                     got {}",
                    a.max_replicas
                ),
            ));
        }
        if hosts_at_most > MAX_REPLICAS {
            return Err(c.err(
                &f("max_replicas"),
                format!(
                    "the fleet could grow to {hosts_at_most} hosts; at most {MAX_REPLICAS} in all"
                ),
            ));
        }
        let sync_period = a.sync_period.unwrap_or(SimDuration::from_secs(15));
        let tick = cx.tick;
        if sync_period < tick
            || sync_period.as_millis() % tick.as_millis() != 0
            || sync_period > SimDuration::from_hours(1)
        {
            return Err(c.err(
                &f("sync_period"),
                format!(
                    "must be a whole number of ticks ({tick}) up to 1h, got {sync_period}: the \
                     controller syncs at tick boundaries"
                ),
            ));
        }
        let tolerance = a.tolerance.unwrap_or(0.1);
        if !(0.0..1.0).contains(&tolerance) {
            return Err(c.err(
                &f("tolerance"),
                format!("must be in [0, 1), got {tolerance} (Kubernetes: 0.1)"),
            ));
        }
        let scale_up = rules(c, &f("scale_up"), a.scale_up, Rules::default_up())?;
        let scale_down = rules(c, &f("scale_down"), a.scale_down, Rules::default_down())?;
        out.push(AutoscaleSpec {
            role: a.role,
            group,
            target,
            min_replicas: min as u32,
            max_replicas: a.max_replicas as u32,
            sync_period,
            tolerance,
            scale_up,
            scale_down,
        });
    }
    Ok(out)
}

fn rules(
    c: &Checker<'_>,
    at: &str,
    raw: Option<RawRules>,
    default: Rules,
) -> Result<Rules, ScenarioError> {
    let Some(r) = raw else {
        return Ok(default);
    };
    let stabilization = r.stabilization_window.unwrap_or(default.stabilization);
    if stabilization > MAX_STABILIZATION {
        return Err(c.err(
            &format!("{at}.stabilization_window"),
            format!(
                "must be at most {MAX_STABILIZATION} (the HPA's validation), got {stabilization}"
            ),
        ));
    }
    let select = match r.select.as_deref() {
        None | Some("max") => Select::Max,
        Some("min") => Select::Min,
        Some("disabled") => Select::Disabled,
        Some(other) => {
            return Err(c.err(
                &format!("{at}.select"),
                format!("unknown select \"{other}\"; allowed: \"max\", \"min\", \"disabled\""),
            ))
        }
    };
    let policies = match r.policies {
        None => default.policies,
        Some(ps) => {
            if ps.is_empty() {
                return Err(c.err(
                    &format!("{at}.policies"),
                    "needs at least one policy (the HPA's validation); select = \"disabled\" \
                     turns this direction off",
                ));
            }
            ps.into_iter()
                .enumerate()
                .map(|(j, p)| rate_policy(c, &format!("{at}.policies[{j}]"), p))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(Rules {
        stabilization,
        select,
        policies,
    })
}

fn rate_policy(c: &Checker<'_>, at: &str, p: RawRatePolicy) -> Result<RatePolicy, ScenarioError> {
    let kind = match p.kind.as_str() {
        "pods" => RateKind::Pods,
        "percent" => RateKind::Percent,
        other => {
            return Err(c.err(
                &format!("{at}.type"),
                format!("unknown policy type \"{other}\"; allowed: \"pods\", \"percent\""),
            ))
        }
    };
    if !(1..=MAX_REPLICAS).contains(&p.value) {
        return Err(c.err(
            &format!("{at}.value"),
            format!(
                "must be between 1 and {MAX_REPLICAS} (the HPA requires a positive value), got {}",
                p.value
            ),
        ));
    }
    if p.period.is_zero() || p.period > MAX_POLICY_PERIOD {
        return Err(c.err(
            &format!("{at}.period"),
            format!(
                "must be longer than 0s and at most {MAX_POLICY_PERIOD} (the HPA's validation), \
                 got {}",
                p.period
            ),
        ));
    }
    Ok(RatePolicy {
        kind,
        value: p.value as u32,
        period: p.period,
    })
}
