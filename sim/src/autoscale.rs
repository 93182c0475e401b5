//! Autoscaling: a Kubernetes HorizontalPodAutoscaler per role, as a pure
//! state machine.
//!
//! ```text
//!   every sync_period (15 s):
//!     metric (offered rps per ready host, seen with the monitoring lag)
//!       └▶ replica calculator   ratio = metric / target; within tolerance
//!                               (0.1): keep; else ⌈ratio × ready⌉, hosts not
//!                               ready counted at 0 on a scale-up
//!       └▶ min/max replicas
//!       └▶ stabilisation        scale up to the lowest recommendation of the
//!                               last 0 s, down to the highest of the last 300 s
//!       └▶ rate limits          up: max(+100 %, +4 hosts) per 15 s; down:
//!                               −100 % per 15 s (selectPolicy Max)
//!     ─▶ the role's desired replicas; the harness adds or removes hosts
//! ```
//!
//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler`:
//! `horizontal.go` at 00067268 (`reconcileAutoscaler`,
//! `normalizeDesiredReplicasWithBehaviors`,
//! `stabilizeRecommendationWithBehaviors`,
//! `convertDesiredReplicasWithBehaviorRate`,
//! `calculateScaleUpLimitWithScalingRules`,
//! `calculateScaleDownLimitWithBehaviors`, `getReplicasChangePerPeriod`,
//! `storeScaleEvent`), with the scale-up and scale-down events both counted
//! in a period's start and both stabilisation windows applied at once, as
//! the newer `horizontal_test.go` (003e8629) expects;
//! `replica_calculator.go` at 00067268 (`calcPlainMetricReplicas`); the
//! defaults of `pkg/apis/autoscaling/v2/defaults.go`
//! (`GenerateHPAScaleUpRules`, `GenerateHPAScaleDownRules`). The tests port
//! `TestScalingWithRules` and `TestNormalizeDesiredReplicasWithBehavior`.
//!
//! The controller knows nothing of hosts: the harness
//! ([`crate::rollout::Rollout`]) feeds it counts and metrics and carries its
//! answer out through the environment, so the live fleet can run the same
//! controller.

use crate::time::{SimDuration, SimTime};
use serde::Serialize;

/// What the HPA targets per ready host.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Target {
    /// A share of the role's `capacity_rps` (a resource utilisation
    /// target, like `averageUtilization` of CPU).
    #[serde(rename = "target_utilization")]
    Utilization(f64),
    /// Requests per second per host (a `Pods` metric's `averageValue`).
    #[serde(rename = "target_rps_per_host")]
    RpsPerHost(f64),
}

/// One rate limit (`HPAScalingPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RatePolicy {
    #[serde(rename = "type")]
    pub kind: RateKind,
    pub value: u32,
    pub period: SimDuration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateKind {
    /// At most `value` hosts per period.
    Pods,
    /// At most `value` percent of the hosts at the period's start.
    Percent,
}

/// How several rate limits combine (`selectPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Select {
    /// The policy that allows the largest change (the default).
    Max,
    /// The one that allows the smallest.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One direction's behaviour (`HPAScalingRules`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rules {
    #[serde(rename = "stabilization_window")]
    pub stabilization: SimDuration,
    pub select: Select,
    pub policies: Vec<RatePolicy>,
}

impl Rules {
    /// `GenerateHPAScaleUpRules` with nothing set: no stabilisation, the
    /// larger of +100 % and +4 hosts per 15 s.
    pub fn default_up() -> Self {
        Rules {
            stabilization: SimDuration::ZERO,
            select: Select::Max,
            policies: vec![
                RatePolicy {
                    kind: RateKind::Pods,
                    value: 4,
                    period: SimDuration::from_secs(15),
                },
                RatePolicy {
                    kind: RateKind::Percent,
                    value: 100,
                    period: SimDuration::from_secs(15),
                },
            ],
        }
    }

    /// `GenerateHPAScaleDownRules` with nothing set: 300 s stabilisation,
    /// −100 % per 15 s.
    pub fn default_down() -> Self {
        Rules {
            stabilization: SimDuration::from_secs(300),
            select: Select::Max,
            policies: vec![RatePolicy {
                kind: RateKind::Percent,
                value: 100,
                period: SimDuration::from_secs(15),
            }],
        }
    }

    fn longest_period(&self) -> SimDuration {
        self.policies
            .iter()
            .map(|p| p.period)
            .max()
            .unwrap_or(SimDuration::ZERO)
    }
}

/// A validated `[[autoscale]]`: one role's HPA.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AutoscaleSpec {
    pub role: String,
    /// Index of the role in `fleet.roles`.
    #[serde(skip)]
    pub group: usize,
    #[serde(flatten)]
    pub target: Target,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub sync_period: SimDuration,
    pub tolerance: f64,
    pub scale_up: Rules,
    pub scale_down: Rules,
}

/// What the controller sees of its role at a sync.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoleSample {
    /// The role's offered rate (requests per second), as monitoring shows it.
    pub rps: f64,
    /// Hosts serving (with metrics).
    pub ready: u32,
    /// Live hosts not serving yet (starting, restarting, being replaced):
    /// the HPA's ignored pods, counted at 0 on a scale-up.
    pub not_ready: u32,
    /// One host's `capacity_rps` (for a utilisation target).
    pub capacity_rps: f64,
}

/// `calcPlainMetricReplicas` for an average-per-host target: the replica
/// count the metric asks for, before min/max, stabilisation and rate
/// limits. `usage` is the metric's total over ready hosts, `target` per
/// host.
pub fn metric_replicas(
    current: u32,
    ready: u32,
    not_ready: u32,
    usage: f64,
    target: f64,
    tolerance: f64,
) -> u32 {
    if ready == 0 || target <= 0.0 {
        // "did not receive metrics for any ready pods": no recommendation.
        return current;
    }
    let ratio = usage / ready as f64 / target;
    let rebalance = not_ready > 0 && ratio > 1.0;
    if !rebalance {
        if (1.0 - ratio).abs() <= tolerance {
            return current;
        }
        return ceil_u32(ratio * ready as f64);
    }
    // On a scale-up, hosts not ready count with a usage of 0.
    let n = (ready + not_ready) as f64;
    let new_ratio = usage / n / target;
    if (1.0 - new_ratio).abs() <= tolerance || new_ratio < 1.0 {
        return current;
    }
    ceil_u32(new_ratio * n)
}

fn ceil_u32(x: f64) -> u32 {
    if x.is_finite() && x > 0.0 {
        x.ceil().min(u32::MAX as f64) as u32
    } else {
        0
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Recommendation {
    replicas: u32,
    at: SimTime,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct ScaleEvent {
    change: u32,
    at: SimTime,
}

/// Why the controller chose the count it did (the HPA's `ScalingLimited`
/// and `AbleToScale` reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    DesiredWithinRange,
    TooManyReplicas,
    TooFewReplicas,
    ScaleUpLimit,
    ScaleDownLimit,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::DesiredWithinRange => "DesiredWithinRange",
            Limit::TooManyReplicas => "TooManyReplicas",
            Limit::TooFewReplicas => "TooFewReplicas",
            Limit::ScaleUpLimit => "ScaleUpLimit",
            Limit::ScaleDownLimit => "ScaleDownLimit",
        }
    }
}

/// One rescale the controller decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Rescale {
    pub from: u32,
    pub to: u32,
    /// What the metric asked for before normalisation.
    pub metric_replicas: u32,
    pub limit: Limit,
    /// The metric per ready host as the controller saw it, in the target's
    /// unit (a utilisation share or rps).
    pub metric: f64,
}

/// One role's HPA: its spec, its replica count (the Deployment's
/// `spec.replicas`), and the history its behaviours need.
#[derive(Clone, Debug)]
pub struct Hpa {
    pub spec: AutoscaleSpec,
    replicas: u32,
    next_sync: SimTime,
    recommendations: Vec<Recommendation>,
    up_events: Vec<ScaleEvent>,
    down_events: Vec<ScaleEvent>,
}

impl Hpa {
    /// A controller whose target starts at `replicas` and first syncs at
    /// `first_sync`.
    pub fn new(spec: AutoscaleSpec, replicas: u32, first_sync: SimTime) -> Self {
        Hpa {
            spec,
            replicas,
            next_sync: first_sync,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    /// The replica count the role is scaled to.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// Whether a sync is due at `now`.
    pub fn due(&self, now: SimTime) -> bool {
        now >= self.next_sync
    }

    /// One reconcile at `now` (call when [`Hpa::due`]): the rescale, if the
    /// replica count changes.
    pub fn sync(&mut self, now: SimTime, s: RoleSample) -> Option<Rescale> {
        while self.next_sync <= now {
            self.next_sync += self.spec.sync_period;
        }
        let current = self.replicas;
        if self.recommendations.is_empty() {
            // recordInitialRecommendation
            self.recommendations.push(Recommendation {
                replicas: current,
                at: now,
            });
        }
        let (usage, target) = match self.spec.target {
            Target::Utilization(u) => (s.rps / s.capacity_rps.max(1e-9), u),
            Target::RpsPerHost(r) => (s.rps, r),
        };
        let metric = if s.ready > 0 {
            usage / s.ready as f64
        } else {
            0.0
        };
        let (desired, limit, metric_replicas) = if current > self.spec.max_replicas {
            (self.spec.max_replicas, Limit::TooManyReplicas, current)
        } else if current < self.spec.min_replicas {
            (self.spec.min_replicas, Limit::TooFewReplicas, current)
        } else {
            let m = metric_replicas(
                current,
                s.ready,
                s.not_ready,
                usage,
                target,
                self.spec.tolerance,
            );
            let stabilized = self.stabilize(now, current, m);
            let (d, limit) = self.rate_limit(now, current, stabilized);
            (d, limit, m)
        };
        if desired == current {
            return None;
        }
        self.store_event(now, current, desired);
        self.replicas = desired;
        Some(Rescale {
            from: current,
            to: desired,
            metric_replicas,
            limit,
            metric,
        })
    }

    /// `stabilizeRecommendationWithBehaviors`.
    fn stabilize(&mut self, now: SimTime, current: u32, desired: u32) -> u32 {
        stabilize(
            &mut self.recommendations,
            now,
            current,
            desired,
            self.spec.scale_up.stabilization,
            self.spec.scale_down.stabilization,
        )
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn rate_limit(&self, now: SimTime, current: u32, desired: u32) -> (u32, Limit) {
        convert_with_rate(
            now,
            &self.spec,
            current,
            desired,
            &self.up_events,
            &self.down_events,
        )
    }

    /// `storeScaleEvent`: events older than the direction's longest
    /// period are dropped (the HPA marks them outdated and reuses the slot;
    /// neither is ever counted again).
    fn store_event(&mut self, now: SimTime, from: u32, to: u32) {
        let (events, rules, change) = if to > from {
            (&mut self.up_events, &self.spec.scale_up, to - from)
        } else {
            (&mut self.down_events, &self.spec.scale_down, from - to)
        };
        let cutoff = rules.longest_period();
        events.retain(|e| now.saturating_since(e.at) <= cutoff);
        events.push(ScaleEvent { change, at: now });
    }
}

/// `stabilizeRecommendationWithBehaviors` over a recommendation log: the
/// count moves from `current` toward `desired` no further than the lowest
/// recommendation of the scale-up window (going up) and the highest of the
/// scale-down window (going down); `desired` is logged, in the slot of an
/// entry older than both windows if there is one.
fn stabilize(
    log: &mut Vec<Recommendation>,
    now: SimTime,
    current: u32,
    desired: u32,
    up_window: SimDuration,
    down_window: SimDuration,
) -> u32 {
    let (mut up, mut down) = (desired, desired);
    let mut old = None;
    for (i, r) in log.iter().enumerate() {
        let age = now.saturating_since(r.at);
        // `timestamp.After(now - window)`
        if age < up_window {
            up = up.min(r.replicas);
        }
        if age < down_window {
            down = down.max(r.replicas);
        }
        // `timestamp.Before(upCutoff) && timestamp.Before(downCutoff)`
        if age > up_window && age > down_window {
            old = Some(i);
        }
    }
    let rec = current.max(up).min(down);
    let entry = Recommendation {
        replicas: desired,
        at: now,
    };
    match old {
        Some(i) => log[i] = entry,
        None => log.push(entry),
    }
    rec
}

/// Replicas changed within `period` before `now` (`getReplicasChangePerPeriod`).
fn change_in(events: &[ScaleEvent], now: SimTime, period: SimDuration) -> i64 {
    events
        .iter()
        .filter(|e| now.saturating_since(e.at) < period)
        .map(|e| e.change as i64)
        .sum()
}

/// `convertDesiredReplicasWithBehaviorRate`.
fn convert_with_rate(
    now: SimTime,
    spec: &AutoscaleSpec,
    current: u32,
    desired: u32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
) -> (u32, Limit) {
    let cur = current as i64;
    if desired > current {
        let limit = scale_up_limit(now, cur, up_events, down_events, &spec.scale_up).max(cur);
        let (max_allowed, why) = if (spec.max_replicas as i64) > limit {
            (limit, Limit::ScaleUpLimit)
        } else {
            (spec.max_replicas as i64, Limit::TooManyReplicas)
        };
        if desired as i64 > max_allowed {
            return (max_allowed as u32, why);
        }
    } else if desired < current {
        let limit = scale_down_limit(now, cur, up_events, down_events, &spec.scale_down).min(cur);
        let (min_allowed, why) = if (spec.min_replicas as i64) < limit {
            (limit, Limit::ScaleDownLimit)
        } else {
            (spec.min_replicas as i64, Limit::TooFewReplicas)
        };
        if (desired as i64) < min_allowed {
            return (min_allowed.max(0) as u32, why);
        }
    }
    (desired, Limit::DesiredWithinRange)
}

/// `calculateScaleUpLimitWithScalingRules`.
fn scale_up_limit(
    now: SimTime,
    current: i64,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &Rules,
) -> i64 {
    let pick: fn(i64, i64) -> i64 = match rules.select {
        Select::Disabled => return current,
        Select::Min => i64::min,
        Select::Max => i64::max,
    };
    let mut result = match rules.select {
        Select::Min => i64::MAX,
        _ => i64::MIN,
    };
    for p in &rules.policies {
        let start = current - change_in(up, now, p.period) + change_in(down, now, p.period);
        let proposed = match p.kind {
            RateKind::Pods => start + p.value as i64,
            RateKind::Percent => (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64,
        };
        result = pick(result, proposed);
    }
    result
}

/// `calculateScaleDownLimitWithBehaviors`.
fn scale_down_limit(
    now: SimTime,
    current: i64,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &Rules,
) -> i64 {
    let pick: fn(i64, i64) -> i64 = match rules.select {
        Select::Disabled => return current,
        Select::Min => i64::max,
        Select::Max => i64::min,
    };
    let mut result = match rules.select {
        Select::Min => i64::MIN,
        _ => i64::MAX,
    };
    for p in &rules.policies {
        let start = current + change_in(down, now, p.period) - change_in(up, now, p.period);
        let proposed = match p.kind {
            RateKind::Pods => start - p.value as i64,
            // Go's int32(float) truncates toward zero.
            RateKind::Percent => (start as f64 * (1.0 - p.value as f64 / 100.0)).trunc() as i64,
        };
        result = pick(result, proposed);
    }
    result
}

/// How Kubernetes splits a Deployment's rescale over its ReplicaSets
/// during a rollout (`DeploymentController.scale` in
/// `pkg/controller/deployment/sync.go`, `GetProportion` and
/// `getReplicaSetFraction` in `pkg/controller/deployment/util/
/// deployment_util.go` at 277391ee): each cohort gets its share of the
/// change in proportion to its size, rounded, within what is left; the
/// leftover goes to the largest (on a tie the newer when scaling up, the
/// older when scaling down). `sizes` = [old, new]; returns the change per
/// cohort. Max surge is left out (the simulator's rolling policies hold
/// their own surge).
pub fn proportional(sizes: [u32; 2], to: u32) -> [i64; 2] {
    let total: i64 = sizes.iter().map(|&s| s as i64).sum();
    let add = to as i64 - total;
    if add == 0 {
        return [0, 0];
    }
    if total == 0 {
        // Nothing to be proportional to: the newest set takes it all.
        return [0, add];
    }
    // Larger first; ties: newer first up, older first down.
    let order: [usize; 2] = if sizes[0] > sizes[1] || (sizes[0] == sizes[1] && add < 0) {
        [0, 1]
    } else {
        [1, 0]
    };
    let mut out = [0i64; 2];
    let mut added = 0i64;
    for &c in &order {
        let size = sizes[c] as i64;
        if size == 0 || added == add {
            continue;
        }
        let fraction = (size as f64 * to as f64 / total as f64).round() as i64 - size;
        let allowed = add - added;
        let p = if add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        };
        out[c] = p;
        added += p;
    }
    let first = order[0];
    out[first] += add - added;
    if sizes[first] as i64 + out[first] < 0 {
        out[first] = -(sizes[first] as i64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    /// `generateScalingRules(pods, podsPeriod, percent, percentPeriod,
    /// stabilizationWindow)` of horizontal_test.go: MaxChangePolicySelect.
    fn rules(pods: u32, pods_p: u64, pct: u32, pct_p: u64, stab: u64) -> Rules {
        let mut policies = Vec::new();
        if pods != 0 {
            policies.push(RatePolicy {
                kind: RateKind::Pods,
                value: pods,
                period: SimDuration::from_secs(pods_p),
            });
        }
        if pct != 0 {
            policies.push(RatePolicy {
                kind: RateKind::Percent,
                value: pct,
                period: SimDuration::from_secs(pct_p),
            });
        }
        Rules {
            stabilization: SimDuration::from_secs(stab),
            select: Select::Max,
            policies,
        }
    }

    /// `generateEventsUniformDistribution(raw, 120)` seen at `now` = 1000 s:
    /// events in the middle of equal segments of the last `period` seconds.
    fn events(raw: &[u32], period: u64) -> Vec<ScaleEvent> {
        let seg = period as f64 / raw.len() as f64;
        raw.iter()
            .enumerate()
            .map(|(i, &change)| {
                let ago = period as f64 - seg * (i + 1) as f64 + seg / 2.0;
                ScaleEvent {
                    change,
                    at: SimTime::from_millis(1_000_000 - (ago * 1000.0) as u64),
                }
            })
            .collect()
    }

    fn spec(min: u32, max: u32, up: Option<Rules>, down: Option<Rules>) -> AutoscaleSpec {
        AutoscaleSpec {
            role: "r".into(),
            group: 0,
            target: Target::Utilization(0.5),
            min_replicas: min,
            max_replicas: max,
            sync_period: SimDuration::from_secs(15),
            tolerance: 0.1,
            scale_up: up.unwrap_or_else(Rules::default_up),
            scale_down: down.unwrap_or_else(Rules::default_down),
        }
    }

    struct Case {
        name: &'static str,
        up_events: &'static [u32],
        down_events: &'static [u32],
        min: u32,
        max: u32,
        up: Option<Rules>,
        down: Option<Rules>,
        current: u32,
        desired: u32,
        want: u32,
        limit: Limit,
    }

    /// `TestScalingWithRules` (kubernetes/kubernetes
    /// pkg/controller/podautoscaler/horizontal_test.go at 003e8629): every
    /// case but the one the original skips (`testThis`).
    #[test]
    fn scaling_with_rules_table() {
        use Limit::*;
        let c = |name,
                 up_events: &'static [u32],
                 down_events: &'static [u32],
                 min,
                 max,
                 up,
                 down,
                 current,
                 desired,
                 want,
                 limit| Case {
            name,
            up_events,
            down_events,
            min,
            max,
            up,
            down,
            current,
            desired,
            want,
            limit,
        };
        let cases = vec![
            c(
                "within range",
                &[],
                &[],
                3,
                8,
                None,
                None,
                5,
                7,
                7,
                DesiredWithinRange,
            ),
            c(
                "< minReplicas",
                &[],
                &[],
                2,
                8,
                None,
                None,
                3,
                1,
                2,
                TooFewReplicas,
            ),
            c(
                "min 0",
                &[],
                &[],
                0,
                10,
                None,
                None,
                1,
                0,
                0,
                DesiredWithinRange,
            ),
            c(
                "maxReplicas < scaleUpLimit",
                &[],
                &[],
                1,
                10,
                None,
                None,
                20,
                1000,
                10,
                TooManyReplicas,
            ),
            c(
                "more than max",
                &[],
                &[],
                100,
                150,
                None,
                None,
                100,
                1000,
                150,
                TooManyReplicas,
            ),
            c(
                "user policies limit up",
                &[],
                &[],
                1,
                2000,
                Some(rules(0, 0, 1, 60, 0)),
                None,
                3,
                1000,
                4,
                ScaleUpLimit,
            ),
            c(
                "up default behaviour",
                &[],
                &[],
                1,
                1000,
                None,
                None,
                10,
                50,
                20,
                ScaleUpLimit,
            ),
            c(
                "up pods > percent",
                &[],
                &[],
                1,
                1000,
                Some(rules(100, 60, 100, 60, 0)),
                None,
                10,
                500,
                110,
                ScaleUpLimit,
            ),
            c(
                "up percent > pods",
                &[],
                &[],
                1,
                1000,
                Some(rules(2, 60, 100, 60, 0)),
                None,
                10,
                500,
                20,
                ScaleUpLimit,
            ),
            c(
                "up large pod policy",
                &[],
                &[],
                1,
                1000,
                Some(rules(100, 60, 0, 0, 0)),
                None,
                10,
                50,
                50,
                DesiredWithinRange,
            ),
            c(
                "up large percent policy",
                &[],
                &[],
                1,
                1000,
                Some(rules(10000, 60, 0, 0, 0)),
                None,
                10,
                50,
                50,
                DesiredWithinRange,
            ),
            c(
                "up pod policy limit",
                &[],
                &[],
                1,
                1000,
                Some(rules(30, 60, 0, 0, 0)),
                None,
                10,
                50,
                40,
                ScaleUpLimit,
            ),
            c(
                "up percent policy limit",
                &[],
                &[],
                1,
                1000,
                Some(rules(0, 0, 200, 60, 0)),
                None,
                10,
                50,
                30,
                ScaleUpLimit,
            ),
            c(
                "down percent > pods",
                &[],
                &[],
                1,
                1000,
                None,
                Some(rules(20, 60, 1, 60, 300)),
                100,
                2,
                80,
                ScaleDownLimit,
            ),
            c(
                "down pods > percent",
                &[],
                &[],
                1,
                1000,
                None,
                Some(rules(2, 60, 1, 60, 300)),
                100,
                2,
                98,
                ScaleDownLimit,
            ),
            c(
                "down min large pod policy",
                &[],
                &[],
                1,
                1000,
                None,
                Some(rules(100, 60, 0, 0, 300)),
                10,
                0,
                1,
                TooFewReplicas,
            ),
            c(
                "down min large percent",
                &[],
                &[],
                5,
                1000,
                None,
                Some(rules(0, 0, 100, 60, 300)),
                10,
                2,
                5,
                TooFewReplicas,
            ),
            c(
                "down pod policy limit",
                &[],
                &[],
                1,
                1000,
                None,
                Some(rules(5, 60, 0, 0, 300)),
                10,
                2,
                5,
                ScaleDownLimit,
            ),
            c(
                "down percent policy",
                &[],
                &[],
                1,
                1000,
                None,
                Some(rules(0, 0, 50, 60, 300)),
                10,
                5,
                5,
                DesiredWithinRange,
            ),
            c(
                "up max with pod events",
                &[1, 5, 9],
                &[],
                1,
                200,
                Some(rules(300, 60, 0, 0, 0)),
                None,
                100,
                500,
                200,
                TooManyReplicas,
            ),
            c(
                "up max with percent events",
                &[1, 5, 9],
                &[],
                1,
                200,
                Some(rules(0, 0, 10000, 60, 0)),
                None,
                100,
                500,
                200,
                TooManyReplicas,
            ),
            c(
                "up held at current by events",
                &[1, 5, 9],
                &[],
                1,
                1000,
                Some(rules(5, 120, 0, 0, 0)),
                None,
                100,
                500,
                100,
                ScaleUpLimit,
            ),
            c(
                "up pods after events",
                &[1, 5, 9],
                &[],
                1,
                1000,
                Some(rules(150, 120, 0, 0, 0)),
                None,
                100,
                500,
                235,
                ScaleUpLimit,
            ),
            c(
                "up percent after events",
                &[1, 5, 9],
                &[],
                1,
                1000,
                Some(rules(0, 0, 200, 120, 0)),
                None,
                100,
                500,
                255,
                ScaleUpLimit,
            ),
            c(
                "up percent after up and down",
                &[4],
                &[2],
                1,
                1000,
                Some(rules(0, 0, 300, 300, 0)),
                None,
                6,
                24,
                16,
                ScaleUpLimit,
            ),
            c(
                "down default with events",
                &[],
                &[1, 5, 9],
                1,
                1000,
                None,
                None,
                10,
                5,
                5,
                DesiredWithinRange,
            ),
            c(
                "down min pods with events",
                &[],
                &[1, 5, 9],
                1,
                1000,
                None,
                Some(rules(115, 120, 0, 0, 300)),
                100,
                0,
                1,
                TooFewReplicas,
            ),
            c(
                "down min 5 pods with events",
                &[],
                &[1, 5, 9],
                5,
                1000,
                None,
                Some(rules(130, 120, 0, 0, 300)),
                100,
                0,
                5,
                TooFewReplicas,
            ),
            c(
                "down min percent with events",
                &[],
                &[1, 5, 9],
                5,
                1000,
                None,
                Some(rules(0, 0, 100, 120, 300)),
                100,
                2,
                5,
                TooFewReplicas,
            ),
            c(
                "down pods with events",
                &[],
                &[1, 5, 9],
                1,
                1000,
                None,
                Some(rules(5, 120, 0, 0, 300)),
                100,
                2,
                100,
                ScaleDownLimit,
            ),
            c(
                "down percent with events",
                &[],
                &[2, 4, 6],
                1,
                1000,
                None,
                Some(rules(0, 0, 50, 120, 300)),
                100,
                0,
                56,
                ScaleDownLimit,
            ),
            c(
                "down percent after up and down",
                &[2],
                &[4],
                1,
                1000,
                None,
                Some(rules(0, 0, 50, 180, 0)),
                10,
                1,
                6,
                ScaleDownLimit,
            ),
            c(
                "down held by events",
                &[],
                &[10, 10, 10],
                1,
                1000,
                None,
                Some(rules(0, 0, 10, 120, 300)),
                100,
                0,
                100,
                ScaleDownLimit,
            ),
            c(
                "down still allowed",
                &[],
                &[10, 10, 10],
                1,
                1000,
                None,
                Some(rules(0, 0, 1000, 120, 300)),
                10,
                5,
                5,
                DesiredWithinRange,
            ),
            c(
                "outdated up, one policy",
                &[8, 12, 9, 11],
                &[],
                1,
                1000,
                Some(rules(1000, 60, 0, 0, 0)),
                None,
                100,
                200,
                200,
                DesiredWithinRange,
            ),
            c(
                "up two policies not outdated",
                &[8, 12, 9, 11],
                &[],
                1,
                1000,
                Some(rules(1000, 120, 100, 60, 0)),
                None,
                100,
                200,
                200,
                DesiredWithinRange,
            ),
            c(
                "up two policies outdated",
                &[8, 12, 9, 11],
                &[],
                1,
                1000,
                Some(rules(1000, 30, 100, 60, 0)),
                None,
                100,
                200,
                200,
                DesiredWithinRange,
            ),
            c(
                "outdated down, one policy",
                &[],
                &[8, 12, 9, 11],
                1,
                1000,
                None,
                Some(rules(1000, 60, 0, 0, 300)),
                100,
                5,
                5,
                DesiredWithinRange,
            ),
            c(
                "down two policies not outdated",
                &[],
                &[8, 12, 9, 11],
                1,
                1000,
                None,
                Some(rules(1000, 120, 100, 60, 300)),
                100,
                5,
                5,
                DesiredWithinRange,
            ),
            c(
                "down two policies outdated",
                &[],
                &[8, 12, 9, 11],
                1,
                1000,
                None,
                Some(rules(1000, 30, 100, 60, 300)),
                100,
                5,
                5,
                DesiredWithinRange,
            ),
        ];
        for k in cases {
            let s = spec(k.min, k.max, k.up, k.down);
            let (got, limit) = convert_with_rate(
                t(1000),
                &s,
                k.current,
                k.desired,
                &events(k.up_events, 120),
                &events(k.down_events, 120),
            );
            assert_eq!((got, limit), (k.want, k.limit), "{}", k.name);
        }
    }

    /// `TestNormalizeDesiredReplicasWithBehavior` (same file): the
    /// stabilised count and the log of recommendations kept.
    #[test]
    fn stabilization_table() {
        // (name, log as (replicas, minutes ago), current, desired, want,
        //  kept log, up window s, down window s)
        type Row = (
            &'static str,
            Vec<(u32, u64)>,
            u32,
            u32,
            u32,
            Option<Vec<u32>>,
            u64,
            u64,
        );
        let rows: Vec<Row> = vec![
            ("empty, down", vec![], 100, 5, 5, Some(vec![5]), 0, 0),
            (
                "simple down",
                vec![(4, 2), (5, 1)],
                100,
                3,
                5,
                Some(vec![4, 5, 3]),
                0,
                180,
            ),
            (
                "simple up",
                vec![(4, 2), (5, 1)],
                1,
                7,
                4,
                Some(vec![4, 5, 7]),
                300,
                0,
            ),
            (
                "no down stabilisation",
                vec![(1, 2), (2, 1)],
                100,
                3,
                3,
                Some(vec![1, 2, 3]),
                300,
                0,
            ),
            (
                "no up stabilisation",
                vec![(4, 2), (5, 1)],
                1,
                3,
                3,
                Some(vec![4, 5, 3]),
                0,
                300,
            ),
            (
                "reuse, down",
                vec![(10, 10), (9, 9)],
                100,
                3,
                3,
                Some(vec![10, 3]),
                0,
                0,
            ),
            (
                "reuse, up",
                vec![(10, 10), (9, 9)],
                1,
                100,
                100,
                Some(vec![10, 100]),
                0,
                0,
            ),
            (
                "reuse obsolete, down",
                vec![(10, 10), (4, 1), (5, 2), (9, 9)],
                100,
                3,
                5,
                Some(vec![10, 4, 5, 3]),
                0,
                180,
            ),
            (
                "reuse obsolete, up",
                vec![(10, 100), (6, 1), (5, 2), (9, 3)],
                1,
                100,
                5,
                Some(vec![100, 6, 5, 9]),
                300,
                0,
            ),
            (
                "no up when rec goes down",
                vec![(2, 100), (3, 3)],
                2,
                1,
                2,
                None,
                300,
                300,
            ),
            (
                "no down when rec goes up",
                vec![(2, 100), (1, 3)],
                2,
                3,
                2,
                None,
                300,
                300,
            ),
        ];
        let now = t(100_000);
        for (name, log, current, desired, want, kept, up, down) in rows {
            let mut log: Vec<Recommendation> = log
                .into_iter()
                .map(|(replicas, ago)| Recommendation {
                    replicas,
                    at: SimTime::from_millis(now.as_millis() - ago * 60_000),
                })
                .collect();
            let got = stabilize(
                &mut log,
                now,
                current,
                desired,
                SimDuration::from_secs(up),
                SimDuration::from_secs(down),
            );
            assert_eq!(got, want, "{name}");
            if let Some(kept) = kept {
                let have: Vec<u32> = log.iter().map(|r| r.replicas).collect();
                assert_eq!(have, kept, "{name}: kept log");
            }
        }
    }

    /// `calcPlainMetricReplicas` cases: within tolerance keeps the count;
    /// a scale-up counts hosts not ready at 0; a scale-up that those hosts
    /// would turn into a scale-down keeps the count.
    #[test]
    fn replica_calculator() {
        // 3 ready hosts at 90 rps each, target 30: ⌈3 × 3⌉ = 9
        assert_eq!(metric_replicas(3, 3, 0, 270.0, 30.0, 0.1), 9);
        // 1.05 × target: within tolerance
        assert_eq!(metric_replicas(4, 4, 0, 4.0 * 31.5, 30.0, 0.1), 4);
        // scale down: 4 hosts at 10 rps, target 20: 2
        assert_eq!(metric_replicas(4, 4, 0, 40.0, 20.0, 0.1), 2);
        // 2 ready at 2× target, 2 starting: (4 × target) / 4 hosts = 1× → keep
        assert_eq!(metric_replicas(4, 2, 2, 80.0, 20.0, 0.1), 4);
        // 2 ready at 3× target, 1 starting: 120 / 3 = 2× → ⌈2 × 3⌉ = 6
        assert_eq!(metric_replicas(3, 2, 1, 120.0, 20.0, 0.1), 6);
        // no ready host: no recommendation
        assert_eq!(metric_replicas(3, 0, 3, 0.0, 20.0, 0.1), 3);
    }

    #[test]
    fn the_controller_scales_up_at_once_and_down_after_five_minutes() {
        let s = spec(2, 10, None, None);
        let mut hpa = Hpa::new(s, 2, t(0));
        let sample = |rps| RoleSample {
            rps,
            ready: 2,
            not_ready: 0,
            capacity_rps: 100.0,
        };
        // 2 hosts at 100 % of capacity, target 50 %: 4 (within +100 %/+4).
        let r = hpa.sync(t(0), sample(200.0)).expect("scales up");
        assert_eq!((r.from, r.to), (2, 4));
        assert!(!hpa.due(t(14)) && hpa.due(t(15)));
        // Load gone: the recommendation (2) waits out the 300 s window.
        let ready4 = |rps| RoleSample {
            ready: 4,
            ..sample(rps)
        };
        let mut scaled_down_at = None;
        for k in 1..=30 {
            if let Some(r) = hpa.sync(t(15 * k), ready4(40.0)) {
                scaled_down_at = Some((15 * k, r.to));
                break;
            }
        }
        assert_eq!(
            scaled_down_at,
            Some((300, 2)),
            "once the first sync's 4 has left the 300 s window"
        );
    }

    /// Proportional scaling of a Deployment mid-rollout.
    #[test]
    fn proportional_scaling_follows_the_replica_sets_sizes() {
        // 6 old, 4 new, 10 → 15: +3 old, +2 new.
        assert_eq!(proportional([6, 4], 15), [3, 2]);
        // Equal sizes, +1: the newer set takes it.
        assert_eq!(proportional([5, 5], 11), [0, 1]);
        // Equal sizes, −1: the older set gives it.
        assert_eq!(proportional([5, 5], 9), [-1, 0]);
        // Only new hosts: all to the new set.
        assert_eq!(proportional([0, 4], 8), [0, 4]);
        // 10 → 4 from 7 old, 3 new: −4 old, −2 new.
        assert_eq!(proportional([7, 3], 4), [-4, -2]);
        // Sums always match.
        for (o, n, to) in [(3u32, 9u32, 20u32), (9, 2, 1), (1, 1, 7), (0, 0, 3)] {
            let [a, b] = proportional([o, n], to);
            assert_eq!(o as i64 + n as i64 + a + b, to as i64, "{o} {n} → {to}");
        }
    }
}
