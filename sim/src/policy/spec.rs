//! Policy specifications: the `[policy]` table of a scenario file, raw and
//! validated. A tagged enum (`kind = "..."`): a file names one kind and only
//! that kind's fields are accepted, so invalid combinations cannot be
//! written; what types cannot express, validation rejects with a located
//! message.
//!
//! Every kind also takes an optional deploy window (`[policy.window]`): the
//! validated form wraps the policy in [`PolicySpec::Windowed`], which prints
//! back as the same flat table.

use crate::analysis::spec::{resolve, RawAnalysisRef, RawTemplate, TemplateContext};
use crate::analysis::{AnalysisSpec, Query};
use crate::fleet::Role;
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::ChangeMode;
pub use crate::protocol::IntOrPercent;
use crate::time::SimDuration;
use crate::traffic::Traffic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// ---- as written -------------------------------------------------------------

/// A count or a percentage, as Kubernetes writes `maxSurge`: `2` or `"25%"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawIntOrPercent {
    Int(i64),
    Str(String),
}

/// `[policy.window]`: when the rollout may act.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub days: Option<Vec<String>>,
    pub start_hour: f64,
    pub end_hour: f64,
    pub utc_offset_h: Option<f64>,
    pub start_hour_utc: Option<f64>,
    pub start_weekday: Option<String>,
}

/// A threshold check (Flagger's `thresholdRange`, a Tsunami SLO, an AWS alarm).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: Option<String>,
    pub query: Query,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Tsunami SLOs: the role it watches (default: every role).
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPause {
    pub duration: Option<SimDuration>,
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
pub struct RawPoint {
    pub at: SimDuration,
    pub pct: f64,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum RawShape {
    Linear {},
    Exponential { start_pct: Option<f64> },
    Breakpoints { points: Vec<RawPoint> },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum RawPolicy {
    AllAtOnce {
        window: Option<RawWindow>,
    },
    Rolling {
        max_surge: Option<RawIntOrPercent>,
        max_unavailable: Option<RawIntOrPercent>,
        min_ready: Option<SimDuration>,
        progress_deadline: Option<SimDuration>,
        window: Option<RawWindow>,
    },
    Staged {
        test_roles: Option<Vec<String>>,
        test_fraction: Option<f64>,
        bake: SimDuration,
        analysis: Option<RawAnalysisRef>,
        window: Option<RawWindow>,
    },
    BlueGreen {
        preview_replica_count: Option<RawIntOrPercent>,
        health_timeout: Option<SimDuration>,
        pre_promotion_analysis: Option<RawAnalysisRef>,
        auto_promotion_enabled: Option<bool>,
        auto_promotion_seconds: Option<i64>,
        post_promotion_analysis: Option<RawAnalysisRef>,
        scale_down_delay: Option<SimDuration>,
        promote_after: Option<SimDuration>,
        window: Option<RawWindow>,
    },
    Canary {
        steps: Vec<RawStep>,
        traffic_routing: Option<bool>,
        abort_scale_down_delay: Option<SimDuration>,
        skip_analysis: Option<bool>,
        max_surge: Option<RawIntOrPercent>,
        max_unavailable: Option<RawIntOrPercent>,
        promote_after: Option<SimDuration>,
        window: Option<RawWindow>,
    },
    Flagger {
        interval: Option<SimDuration>,
        step_weight: Option<i64>,
        step_weights: Option<Vec<i64>>,
        max_weight: Option<i64>,
        threshold: Option<i64>,
        iterations: Option<i64>,
        #[serde(default)]
        metrics: Vec<RawCheck>,
        max_unavailable: Option<RawIntOrPercent>,
        window: Option<RawWindow>,
    },
    Linear {
        duration: SimDuration,
        shape: Option<RawShape>,
        step: Option<SimDuration>,
        min_hosts: Option<i64>,
        max_pct: Option<f64>,
        #[serde(default)]
        slo: Vec<RawCheck>,
        slo_window: Option<SimDuration>,
        window: Option<RawWindow>,
    },
    Waves {
        one_box_pct: Option<f64>,
        bake_one_box: Option<SimDuration>,
        bake_first_wave: Option<SimDuration>,
        bake: Option<SimDuration>,
        min_requests: Option<i64>,
        #[serde(default)]
        alarms: Vec<RawCheck>,
        alarm_period: Option<SimDuration>,
        max_unavailable: Option<RawIntOrPercent>,
        waves: Option<Vec<Vec<String>>>,
        window: Option<RawWindow>,
    },
}

// ---- validated ---------------------------------------------------------------

/// Allowed hours and days, in a time zone. Outside them the policy waits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployWindow {
    /// Local days the window opens on (`mon` … `sun`).
    #[serde(serialize_with = "day_names")]
    pub days: [bool; 7],
    /// Local hour it opens, in [0, 24).
    pub start_hour: f64,
    /// Local hour it closes, in (0, 24]; at or before `start_hour`: the
    /// window runs over midnight into the next day.
    pub end_hour: f64,
    /// The window's time zone, hours from UTC.
    pub utc_offset_h: f64,
    /// UTC hour at simulated time zero (default: the traffic's).
    pub start_hour_utc: f64,
    /// UTC weekday at simulated time zero, 0 = Monday (default: the traffic's).
    #[serde(serialize_with = "day_name")]
    pub start_weekday: u8,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_names<S: serde::Serializer>(days: &[bool; 7], s: S) -> Result<S::Ok, S::Error> {
    let v: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| DAYS[d]).collect();
    v.serialize(s)
}

fn day_name<S: serde::Serializer>(d: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(DAYS[*d as usize % 7])
}

impl DeployWindow {
    /// Local (day of week 0 = Monday, hour) at `t_ms` into the run.
    pub fn local(&self, t_ms: u64) -> (u8, f64) {
        let hours = self.start_hour_utc + self.utc_offset_h + t_ms as f64 / 3_600_000.0;
        let day = (hours / 24.0).floor() as i64 + self.start_weekday as i64;
        (day.rem_euclid(7) as u8, hours.rem_euclid(24.0))
    }

    /// Whether the window is open at `t_ms` into the run.
    pub fn is_open(&self, t_ms: u64) -> bool {
        let (day, hour) = self.local(t_ms);
        if self.start_hour < self.end_hour {
            self.days[day as usize] && hour >= self.start_hour && hour < self.end_hour
        } else {
            let yesterday = (day as usize + 6) % 7;
            (self.days[day as usize] && hour >= self.start_hour)
                || (self.days[yesterday] && hour < self.end_hour)
        }
    }
}

/// A threshold check on one query: fails outside `[min, max]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckSpec {
    pub name: String,
    pub query: Query,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The group it watches; `None`: every group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip)]
    pub group: Option<usize>,
}

impl CheckSpec {
    /// Whether `v` is within the range.
    pub fn passes(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("{} in [{a}, {b}]", self.query.as_str()),
            (Some(a), None) => format!("{} ≥ {a}", self.query.as_str()),
            (None, Some(b)) => format!("{} ≤ {b}", self.query.as_str()),
            (None, None) => format!("{} (no bound)", self.query.as_str()),
        }
    }
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PauseSpec {
    /// `None`: indefinitely (a human must promote; the run counts it halted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<SimDuration>,
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
pub struct StagedSpec {
    /// Roles that form the test environment (empty: use `test_fraction`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_roles: Vec<String>,
    /// Share of every role's hosts that forms the test environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    pub bake: SimDuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
    /// `test_roles` as group indices.
    #[serde(skip)]
    pub test_groups: Vec<usize>,
}

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
    /// A human promotes (`kubectl argo rollouts promote`) this long after
    /// the rollout pauses for one; absent: nobody does, the run halts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_after: Option<SimDuration>,
}

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
}

/// How the fraction on the new version grows with time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Shape {
    Linear {},
    /// `start_pct / 100 ^ (1 − t / duration)`: from `start_pct` at the start to 100 %.
    Exponential {
        start_pct: f64,
    },
    /// Linear between `(at, pct)` points; the last reaches 100 %.
    Breakpoints {
        points: Vec<Point>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    pub at: SimDuration,
    pub pct: f64,
}

impl Shape {
    /// The target fraction (0..=1) at `t` into a rollout of `duration`.
    pub fn fraction(&self, t: SimDuration, duration: SimDuration) -> f64 {
        let x = (t.as_millis() as f64 / duration.as_millis() as f64).clamp(0.0, 1.0);
        match self {
            Shape::Linear {} => x,
            Shape::Exponential { start_pct } => (start_pct / 100.0).powf(1.0 - x),
            Shape::Breakpoints { points } => {
                let t = t.as_millis();
                let mut prev = Point {
                    at: SimDuration::ZERO,
                    pct: 0.0,
                };
                for p in points {
                    if t < p.at.as_millis() {
                        let span = (p.at.as_millis() - prev.at.as_millis()) as f64;
                        let f = (t - prev.at.as_millis()) as f64 / span;
                        return (prev.pct + f * (p.pct - prev.pct)) / 100.0;
                    }
                    prev = *p;
                }
                prev.pct / 100.0
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinearSpec {
    pub duration: SimDuration,
    pub shape: Shape,
    pub step: SimDuration,
    pub min_hosts: u32,
    pub max_pct: f64,
    pub slo: Vec<CheckSpec>,
    pub slo_window: SimDuration,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WavesSpec {
    pub one_box_pct: f64,
    pub bake_one_box: SimDuration,
    pub bake_first_wave: SimDuration,
    pub bake: SimDuration,
    pub min_requests: u64,
    pub alarms: Vec<CheckSpec>,
    pub alarm_period: SimDuration,
    pub max_unavailable: IntOrPercent,
    /// Zone names per wave, in order.
    pub waves: Vec<Vec<String>>,
    /// The same as (group, zone index) pairs.
    #[serde(skip)]
    pub wave_zones: Vec<Vec<(usize, usize)>>,
}

/// The rollout policy under test. A tagged enum: a file names one `kind` and
/// only that kind's fields are accepted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PolicySpec {
    /// Big-bang: every host at once.
    AllAtOnce {},
    /// Kubernetes Deployment `RollingUpdate`, applied per role.
    Rolling {
        max_surge: IntOrPercent,
        max_unavailable: IntOrPercent,
        min_ready: SimDuration,
        progress_deadline: SimDuration,
    },
    /// Test environment, bake, then all of production.
    Staged(StagedSpec),
    /// Argo Rollouts blue-green.
    BlueGreen(BlueGreenSpec),
    /// Argo Rollouts canary steps.
    Canary(CanarySpec),
    /// Flagger progressive delivery.
    Flagger(FlaggerSpec),
    /// Spotify's Tsunami: the new fraction per role as a function of time.
    Linear(LinearSpec),
    /// AWS waves: one-box, then zone by zone, with bakes and alarms.
    Waves(WavesSpec),
    /// Any policy restricted to a deploy window (written as `[policy.window]`).
    #[serde(untagged, serialize_with = "windowed")]
    Windowed {
        window: DeployWindow,
        policy: Box<PolicySpec>,
    },
}

/// Prints a windowed policy as the flat table it is written as: the wrapped
/// policy's keys plus `window`.
fn windowed<S: serde::Serializer>(
    window: &DeployWindow,
    policy: &PolicySpec,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::Error;
    let mut t = toml::Table::try_from(policy).map_err(S::Error::custom)?;
    t.insert(
        "window".into(),
        toml::Value::try_from(window).map_err(S::Error::custom)?,
    );
    t.serialize(s)
}

impl PolicySpec {
    pub fn kind(&self) -> &'static str {
        match self {
            PolicySpec::AllAtOnce {} => "all-at-once",
            PolicySpec::Rolling { .. } => "rolling",
            PolicySpec::Staged(_) => "staged",
            PolicySpec::BlueGreen(_) => "blue-green",
            PolicySpec::Canary(_) => "canary",
            PolicySpec::Flagger(_) => "flagger",
            PolicySpec::Linear(_) => "linear",
            PolicySpec::Waves(_) => "waves",
            PolicySpec::Windowed { policy, .. } => policy.kind(),
        }
    }
}

// ---- validation --------------------------------------------------------------

/// What policy validation needs to know about the rest of the scenario.
pub struct Context<'a> {
    pub mode: ChangeMode,
    pub roles: &'a [Role],
    pub traffic: &'a Traffic,
    /// `[analysis.NAME]` templates.
    pub templates: &'a BTreeMap<String, RawTemplate>,
}

impl Checker<'_> {
    fn int_or_percent(
        &self,
        field: &str,
        v: &RawIntOrPercent,
    ) -> Result<IntOrPercent, ScenarioError> {
        match v {
            RawIntOrPercent::Int(n) if *n >= 0 && *n <= u32::MAX as i64 => {
                Ok(IntOrPercent::Count(*n as u32))
            }
            RawIntOrPercent::Int(n) => Err(self.err(
                field,
                format!("must be a count ≥ 0 or a percentage like \"25%\", got {n}"),
            )),
            RawIntOrPercent::Str(s) => s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<u32>().ok())
                .filter(|p| *p <= 100)
                .map(IntOrPercent::Percent)
                .ok_or_else(|| {
                    self.err(
                        field,
                        format!("must be a count ≥ 0 or a percentage from \"0%\" to \"100%\", got \"{s}\""),
                    )
                }),
        }
    }

    fn pct(&self, field: &str, v: i64, min: i64) -> Result<u32, ScenarioError> {
        if (min..=100).contains(&v) {
            Ok(v as u32)
        } else {
            Err(self.err(
                field,
                format!("must be a percentage from {min} to 100, got {v}"),
            ))
        }
    }
}

fn require_mode(
    c: &Checker<'_>,
    ctx: &Context<'_>,
    kind: &str,
    want: ChangeMode,
    why: &str,
) -> Result<(), ScenarioError> {
    if ctx.mode == want {
        return Ok(());
    }
    let m = match want {
        ChangeMode::InPlace => "in-place",
        ChangeMode::Replace => "replace",
    };
    Err(c.err(
        "policy.kind",
        format!("`{kind}` needs change.mode = \"{m}\": {why}"),
    ))
}

fn checks(
    c: &Checker<'_>,
    field: &str,
    raw: &[RawCheck],
    ctx: &Context<'_>,
    roles_allowed: bool,
) -> Result<Vec<CheckSpec>, ScenarioError> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let f = |k: &str| format!("{field}[{i}].{k}");
        if r.min.is_none() && r.max.is_none() {
            return Err(c.err(
                &format!("{field}[{i}]"),
                "a check needs `min`, `max` or both (the range the value must stay in)",
            ));
        }
        for (k, v) in [("min", r.min), ("max", r.max)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(c.err(&f(k), "must be a finite number"));
            }
        }
        if let (Some(a), Some(b)) = (r.min, r.max) {
            if a > b {
                return Err(c.err(&f("max"), format!("must be ≥ min ({a}), got {b}")));
            }
        }
        let group = match &r.role {
            None => None,
            Some(_) if !roles_allowed => {
                return Err(c.err(&f("role"), "only Tsunami SLOs (`linear`) watch one role"))
            }
            Some(name) => Some(
                ctx.roles
                    .iter()
                    .position(|x| &x.name == name)
                    .ok_or_else(|| c.err(&f("role"), format!("no role `{name}` in the fleet")))?,
            ),
        };
        out.push(CheckSpec {
            name: r
                .name
                .clone()
                .unwrap_or_else(|| r.query.as_str().to_string()),
            query: r.query,
            min: r.min,
            max: r.max,
            role: r.role.clone(),
            group,
        });
    }
    Ok(out)
}

fn window(
    c: &Checker<'_>,
    w: &RawWindow,
    ctx: &Context<'_>,
) -> Result<DeployWindow, ScenarioError> {
    let f = |k: &str| format!("policy.window.{k}");
    let day = |field: &str, s: &str| -> Result<u8, ScenarioError> {
        DAYS.iter()
            .position(|d| d.eq_ignore_ascii_case(s.trim()))
            .map(|d| d as u8)
            .ok_or_else(|| {
                c.err(
                    field,
                    format!("unknown day \"{s}\"; write mon, tue, wed, thu, fri, sat or sun"),
                )
            })
    };
    let mut days = [false; 7];
    match &w.days {
        None => days = [true; 7],
        Some(list) => {
            if list.is_empty() {
                return Err(c.err(&f("days"), "the window must open on at least one day"));
            }
            for d in list {
                days[day(&f("days"), d)? as usize] = true;
            }
        }
    }
    if !(0.0..24.0).contains(&w.start_hour) {
        return Err(c.err(
            &f("start_hour"),
            format!("must be a local hour in [0, 24), got {}", w.start_hour),
        ));
    }
    if !(w.end_hour > 0.0 && w.end_hour <= 24.0) {
        return Err(c.err(
            &f("end_hour"),
            format!("must be a local hour in (0, 24], got {}", w.end_hour),
        ));
    }
    let utc = w.utc_offset_h.unwrap_or(0.0);
    if !(-12.0..=14.0).contains(&utc) {
        return Err(c.err(
            &f("utc_offset_h"),
            format!("must be a UTC offset in hours from -12 to 14, got {utc}"),
        ));
    }
    let start_hour_utc = w.start_hour_utc.unwrap_or(ctx.traffic.start_hour_utc);
    if !(0.0..24.0).contains(&start_hour_utc) {
        return Err(c.err(
            &f("start_hour_utc"),
            format!("must be an hour in [0, 24), got {start_hour_utc}"),
        ));
    }
    let start_weekday = match &w.start_weekday {
        None => ctx.traffic.start_weekday,
        Some(s) => day(&f("start_weekday"), s)?,
    };
    Ok(DeployWindow {
        days,
        start_hour: w.start_hour,
        end_hour: w.end_hour,
        utc_offset_h: utc,
        start_hour_utc,
        start_weekday,
    })
}

fn analysis(
    c: &Checker<'_>,
    path: &str,
    raw: &Option<RawAnalysisRef>,
    ctx: &Context<'_>,
    endpoints: &[String],
) -> Result<Option<AnalysisSpec>, ScenarioError> {
    let weights: Vec<f64> = ctx.traffic.endpoints.iter().map(|e| e.weight).collect();
    let tctx = TemplateContext {
        templates: ctx.templates,
        endpoints,
        endpoint_weights: &weights,
    };
    raw.as_ref().map(|r| resolve(c, path, r, &tctx)).transpose()
}

/// Validates the `[policy]` table.
pub(crate) fn validate(
    c: &Checker<'_>,
    raw: RawPolicy,
    ctx: &Context<'_>,
) -> Result<PolicySpec, ScenarioError> {
    let endpoints: Vec<String> = ctx
        .traffic
        .endpoints
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let weights: Vec<f64> = ctx.traffic.endpoints.iter().map(|e| e.weight).collect();
    crate::analysis::spec::check_templates(
        c,
        &TemplateContext {
            templates: ctx.templates,
            endpoints: &endpoints,
            endpoint_weights: &weights,
        },
    )?;
    let mode = ctx.mode;
    let win;
    let policy = match raw {
        RawPolicy::AllAtOnce { window } => {
            win = window;
            PolicySpec::AllAtOnce {}
        }
        RawPolicy::Rolling {
            max_surge,
            max_unavailable,
            min_ready,
            progress_deadline,
            window,
        } => {
            win = window;
            let default_surge = match mode {
                ChangeMode::InPlace => IntOrPercent::Count(0),
                ChangeMode::Replace => IntOrPercent::Percent(25),
            };
            let surge = match &max_surge {
                Some(v) => c.int_or_percent("policy.max_surge", v)?,
                None => default_surge,
            };
            let unavailable = match &max_unavailable {
                Some(v) => c.int_or_percent("policy.max_unavailable", v)?,
                None => IntOrPercent::Percent(25),
            };
            if surge.is_zero() && unavailable.is_zero() {
                return Err(c.err(
                    "policy.max_unavailable",
                    "max_surge and max_unavailable cannot both be 0: the rollout could never make progress",
                ));
            }
            if mode == ChangeMode::InPlace && !surge.is_zero() {
                return Err(c.err(
                    "policy.max_surge",
                    "an in-place change upgrades existing hosts and cannot surge; set max_surge = 0 or change.mode = \"replace\"",
                ));
            }
            let progress_deadline = progress_deadline.unwrap_or(SimDuration::from_secs(600));
            let min_ready = min_ready.unwrap_or(SimDuration::ZERO);
            if progress_deadline <= min_ready {
                return Err(c.err(
                    "policy.progress_deadline",
                    format!("must be longer than min_ready ({min_ready}), got {progress_deadline}"),
                ));
            }
            PolicySpec::Rolling {
                max_surge: surge,
                max_unavailable: unavailable,
                min_ready,
                progress_deadline,
            }
        }
        RawPolicy::Staged {
            test_roles,
            test_fraction,
            bake,
            analysis: a,
            window,
        } => {
            win = window;
            let test_roles = match (test_roles, test_fraction) {
                (Some(_), Some(_)) => {
                    return Err(c.err(
                        "policy.test_fraction",
                        "give either `test_roles` (whole roles) or `test_fraction` (a share of every role), not both",
                    ))
                }
                (None, None) => {
                    return Err(c.err(
                        "policy.kind",
                        "`staged` needs a test environment: `test_roles = [\"staging\"]` or `test_fraction = 0.1`",
                    ))
                }
                (Some(roles), None) => {
                    if roles.is_empty() {
                        return Err(c.err("policy.test_roles", "must name at least one role"));
                    }
                    for r in &roles {
                        if !ctx.roles.iter().any(|x| &x.name == r) {
                            let known: Vec<&str> = ctx.roles.iter().map(|r| r.name.as_str()).collect();
                            return Err(c.err(
                                "policy.test_roles",
                                format!("no role `{r}` in the fleet; roles are: {}", known.join(", ")),
                            ));
                        }
                    }
                    if roles.len() >= ctx.roles.len() {
                        return Err(c.err(
                            "policy.test_roles",
                            "the test environment cannot be every role: nothing would be left for production",
                        ));
                    }
                    roles
                }
                (None, Some(f)) => {
                    if !(f > 0.0 && f < 1.0) {
                        return Err(c.err(
                            "policy.test_fraction",
                            format!("must be a share strictly between 0 and 1, got {f}"),
                        ));
                    }
                    return finish_staged(c, ctx, win, Vec::new(), Some(f), bake, &a, &endpoints);
                }
            };
            return finish_staged(c, ctx, win, test_roles, None, bake, &a, &endpoints);
        }
        RawPolicy::BlueGreen {
            preview_replica_count,
            health_timeout,
            pre_promotion_analysis,
            auto_promotion_enabled,
            auto_promotion_seconds,
            post_promotion_analysis,
            scale_down_delay,
            promote_after,
            window,
        } => {
            win = window;
            require_mode(
                c,
                ctx,
                "blue-green",
                ChangeMode::Replace,
                "it brings up a second, full set of hosts beside the active one",
            )?;
            let preview = match &preview_replica_count {
                Some(v) => c.int_or_percent("policy.preview_replica_count", v)?,
                None => IntOrPercent::Percent(100),
            };
            if preview.is_zero() {
                return Err(c.err(
                    "policy.preview_replica_count",
                    "must be at least 1 host (or 1%): an empty preview cannot be checked",
                ));
            }
            let auto_promotion_seconds = match auto_promotion_seconds {
                None => None,
                Some(s) if s >= 0 && s <= u32::MAX as i64 => Some(s as u32),
                Some(s) => {
                    return Err(c.err(
                        "policy.auto_promotion_seconds",
                        format!("must be ≥ 0 seconds, got {s}"),
                    ))
                }
            };
            let auto_promotion_enabled = auto_promotion_enabled.unwrap_or(true);
            if !auto_promotion_enabled && auto_promotion_seconds.is_some() {
                return Err(c.err(
                    "policy.auto_promotion_seconds",
                    "is ignored when auto_promotion_enabled = false (the rollout waits for a human); remove one of them",
                ));
            }
            let health_timeout = health_timeout.unwrap_or(SimDuration::from_secs(600));
            if health_timeout.is_zero() {
                return Err(c.err("policy.health_timeout", "must be longer than 0s"));
            }
            PolicySpec::BlueGreen(BlueGreenSpec {
                preview_replica_count: preview,
                health_timeout,
                pre_promotion_analysis: analysis(
                    c,
                    "policy.pre_promotion_analysis",
                    &pre_promotion_analysis,
                    ctx,
                    &endpoints,
                )?,
                auto_promotion_enabled,
                auto_promotion_seconds,
                post_promotion_analysis: analysis(
                    c,
                    "policy.post_promotion_analysis",
                    &post_promotion_analysis,
                    ctx,
                    &endpoints,
                )?,
                scale_down_delay: scale_down_delay.unwrap_or(SimDuration::from_secs(30)),
                promote_after,
            })
        }
        RawPolicy::Canary {
            steps,
            traffic_routing,
            abort_scale_down_delay,
            skip_analysis,
            max_surge,
            max_unavailable,
            promote_after,
            window,
        } => {
            win = window;
            let traffic_routing = traffic_routing.unwrap_or(false);
            let mut out = Vec::with_capacity(steps.len());
            for (i, s) in steps.iter().enumerate() {
                let f = |k: &str| format!("policy.steps[{i}].{k}");
                out.push(match s {
                    RawStep::SetWeight(w) => CanaryStep::SetWeight(c.pct(&f("set_weight"), *w, 0)?),
                    RawStep::Pause(p) => CanaryStep::Pause(PauseSpec {
                        duration: p.duration,
                    }),
                    RawStep::Analysis(a) => CanaryStep::Analysis(
                        analysis(c, &f("analysis"), &Some(a.clone()), ctx, &endpoints)?
                            .expect("some"),
                    ),
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
            let surge = match &max_surge {
                Some(v) => c.int_or_percent("policy.max_surge", v)?,
                None => match mode {
                    ChangeMode::InPlace => IntOrPercent::Count(0),
                    ChangeMode::Replace => IntOrPercent::Percent(25),
                },
            };
            let unavailable = match &max_unavailable {
                Some(v) => c.int_or_percent("policy.max_unavailable", v)?,
                None => IntOrPercent::Percent(25),
            };
            if surge.is_zero() && unavailable.is_zero() {
                return Err(c.err(
                    "policy.max_unavailable",
                    "max_surge and max_unavailable cannot both be 0: the promotion could never make progress",
                ));
            }
            if mode == ChangeMode::InPlace && !surge.is_zero() {
                return Err(c.err(
                    "policy.max_surge",
                    "an in-place change upgrades existing hosts and cannot surge; set max_surge = 0 or change.mode = \"replace\"",
                ));
            }
            PolicySpec::Canary(CanarySpec {
                steps: out,
                traffic_routing,
                abort_scale_down_delay: abort_scale_down_delay
                    .unwrap_or(SimDuration::from_secs(30)),
                skip_analysis: skip_analysis.unwrap_or(false),
                max_surge: surge,
                max_unavailable: unavailable,
                promote_after,
            })
        }
        RawPolicy::Flagger {
            interval,
            step_weight,
            step_weights,
            max_weight,
            threshold,
            iterations,
            metrics,
            max_unavailable,
            window,
        } => {
            win = window;
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
            let weights = match (iterations, step_weight, &step_weights) {
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
            let unavailable = match &max_unavailable {
                Some(v) => c.int_or_percent("policy.max_unavailable", v)?,
                None => IntOrPercent::Percent(25),
            };
            if unavailable.is_zero() && mode == ChangeMode::InPlace {
                return Err(c.err(
                    "policy.max_unavailable",
                    "an in-place promotion needs max_unavailable > 0 to make progress",
                ));
            }
            PolicySpec::Flagger(FlaggerSpec {
                interval,
                step_weights: weights,
                threshold,
                iterations,
                metrics: checks(c, "policy.metrics", &metrics, ctx, false)?,
                max_unavailable: unavailable,
            })
        }
        RawPolicy::Linear {
            duration,
            shape,
            step,
            min_hosts,
            max_pct,
            slo,
            slo_window,
            window,
        } => {
            win = window;
            require_mode(
                c,
                ctx,
                "linear",
                ChangeMode::InPlace,
                "Tsunami tells existing hosts which version to run",
            )?;
            if duration.is_zero() {
                return Err(c.err("policy.duration", "must be longer than 0s"));
            }
            let shape = match shape {
                None | Some(RawShape::Linear {}) => Shape::Linear {},
                Some(RawShape::Exponential { start_pct }) => {
                    let s = start_pct.unwrap_or(1.0);
                    if !(s > 0.0 && s < 100.0) {
                        return Err(c.err(
                            "policy.shape.start_pct",
                            format!("must be a percentage strictly between 0 and 100, got {s}"),
                        ));
                    }
                    Shape::Exponential { start_pct: s }
                }
                Some(RawShape::Breakpoints { points }) => {
                    let mut prev = Point {
                        at: SimDuration::ZERO,
                        pct: 0.0,
                    };
                    let mut out = Vec::new();
                    for (i, p) in points.iter().enumerate() {
                        let field = format!("policy.shape.points[{i}]");
                        if !(0.0..=100.0).contains(&p.pct) || p.pct < prev.pct {
                            return Err(c.err(
                                &field,
                                format!(
                                    "pct must be in [0, 100] and never decrease, got {} after {}",
                                    p.pct, prev.pct
                                ),
                            ));
                        }
                        if i > 0 && p.at <= prev.at {
                            return Err(c.err(
                                &field,
                                format!("`at` must increase, got {} after {}", p.at, prev.at),
                            ));
                        }
                        if p.at > duration {
                            return Err(c.err(
                                &field,
                                format!(
                                    "`at` ({}) is after the rollout's duration ({duration})",
                                    p.at
                                ),
                            ));
                        }
                        prev = Point {
                            at: p.at,
                            pct: p.pct,
                        };
                        out.push(prev);
                    }
                    if prev.pct != 100.0 {
                        return Err(c.err(
                            "policy.shape.points",
                            format!("the last point must reach 100 %, got {}", prev.pct),
                        ));
                    }
                    Shape::Breakpoints { points: out }
                }
            };
            let step = step.unwrap_or(SimDuration::from_hours(1));
            if step.is_zero() || step > duration {
                return Err(c.err(
                    "policy.step",
                    format!(
                        "must be longer than 0s and at most the duration ({duration}), got {step}"
                    ),
                ));
            }
            let min_hosts = match min_hosts {
                None => 1,
                Some(n) if n >= 1 && n <= u32::MAX as i64 => n as u32,
                Some(n) => {
                    return Err(c.err(
                        "policy.min_hosts",
                        format!("must be at least 1 host per role, got {n}"),
                    ))
                }
            };
            let max_pct = max_pct.unwrap_or(100.0);
            if !(max_pct > 0.0 && max_pct <= 100.0) {
                return Err(c.err(
                    "policy.max_pct",
                    format!("must be a percentage in (0, 100], got {max_pct}"),
                ));
            }
            PolicySpec::Linear(LinearSpec {
                duration,
                shape,
                step,
                min_hosts,
                max_pct,
                slo: checks(c, "policy.slo", &slo, ctx, true)?,
                slo_window: positive(
                    c,
                    "policy.slo_window",
                    slo_window,
                    SimDuration::from_mins(5),
                )?,
            })
        }
        RawPolicy::Waves {
            one_box_pct,
            bake_one_box,
            bake_first_wave,
            bake,
            min_requests,
            alarms,
            alarm_period,
            max_unavailable,
            waves,
            window,
        } => {
            win = window;
            require_mode(
                c,
                ctx,
                "waves",
                ChangeMode::InPlace,
                "waves deploy to the hosts of each zone in place",
            )?;
            let one_box_pct = one_box_pct.unwrap_or(10.0);
            if !(one_box_pct > 0.0 && one_box_pct <= 10.0) {
                return Err(c.err(
                    "policy.one_box_pct",
                    format!("a one-box takes at most 10 % of a zone, got {one_box_pct}"),
                ));
            }
            let bake_one_box = bake_one_box.unwrap_or(SimDuration::from_hours(1));
            if bake_one_box < SimDuration::from_hours(1) {
                return Err(c.err(
                    "policy.bake_one_box",
                    format!("AWS bakes a one-box for at least 1h, got {bake_one_box}"),
                ));
            }
            let bake = bake.unwrap_or(SimDuration::from_hours(1));
            let bake_first_wave = bake_first_wave.unwrap_or(bake + bake);
            if bake_first_wave < bake {
                return Err(c.err(
                    "policy.bake_first_wave",
                    format!("the first wave bakes at least as long as the others ({bake}), got {bake_first_wave}"),
                ));
            }
            let min_requests = match min_requests {
                None => 0,
                Some(n) if n >= 0 => n as u64,
                Some(n) => {
                    return Err(c.err("policy.min_requests", format!("must be ≥ 0, got {n}")))
                }
            };
            let unavailable = match &max_unavailable {
                Some(v) => c.int_or_percent("policy.max_unavailable", v)?,
                None => IntOrPercent::Percent(25),
            };
            let all_zones: Vec<String> = {
                let mut v: Vec<String> = Vec::new();
                for r in ctx.roles {
                    for z in &r.zones {
                        if !v.contains(z) {
                            v.push(z.clone());
                        }
                    }
                }
                v
            };
            let waves = match waves {
                None => all_zones.iter().map(|z| vec![z.clone()]).collect(),
                Some(w) => {
                    let mut seen: Vec<&String> = Vec::new();
                    for (i, wave) in w.iter().enumerate() {
                        if wave.is_empty() {
                            return Err(c.err("policy.waves", format!("wave {i} lists no zone")));
                        }
                        for z in wave {
                            if !all_zones.contains(z) {
                                return Err(c.err(
                                    "policy.waves",
                                    format!(
                                        "no zone `{z}` in the fleet; zones are: {}",
                                        all_zones.join(", ")
                                    ),
                                ));
                            }
                            if seen.contains(&z) {
                                return Err(
                                    c.err("policy.waves", format!("zone `{z}` is in two waves"))
                                );
                            }
                            seen.push(z);
                        }
                    }
                    if let Some(z) = all_zones.iter().find(|z| !seen.contains(z)) {
                        return Err(c.err(
                            "policy.waves",
                            format!("zone `{z}` is in no wave: its hosts would never be upgraded"),
                        ));
                    }
                    w
                }
            };
            let wave_zones = waves
                .iter()
                .map(|wave| {
                    let mut v = Vec::new();
                    for (g, r) in ctx.roles.iter().enumerate() {
                        for (zi, z) in r.zones.iter().enumerate() {
                            if wave.contains(z) {
                                v.push((g, zi));
                            }
                        }
                    }
                    v
                })
                .collect();
            PolicySpec::Waves(WavesSpec {
                wave_zones,
                one_box_pct,
                bake_one_box,
                bake_first_wave,
                bake,
                min_requests,
                alarms: checks(c, "policy.alarms", &alarms, ctx, false)?,
                alarm_period: positive(
                    c,
                    "policy.alarm_period",
                    alarm_period,
                    SimDuration::from_mins(1),
                )?,
                max_unavailable: if unavailable.is_zero() {
                    return Err(c.err(
                        "policy.max_unavailable",
                        "an in-place wave needs max_unavailable > 0 to make progress",
                    ));
                } else {
                    unavailable
                },
                waves,
            })
        }
    };
    wrap(c, ctx, win, policy)
}

fn positive(
    c: &Checker<'_>,
    field: &str,
    v: Option<SimDuration>,
    default: SimDuration,
) -> Result<SimDuration, ScenarioError> {
    let v = v.unwrap_or(default);
    if v.is_zero() {
        return Err(c.err(field, "must be longer than 0s"));
    }
    Ok(v)
}

fn wrap(
    c: &Checker<'_>,
    ctx: &Context<'_>,
    win: Option<RawWindow>,
    policy: PolicySpec,
) -> Result<PolicySpec, ScenarioError> {
    Ok(match win {
        None => policy,
        Some(w) => PolicySpec::Windowed {
            window: window(c, &w, ctx)?,
            policy: Box::new(policy),
        },
    })
}

#[allow(clippy::too_many_arguments)]
fn finish_staged(
    c: &Checker<'_>,
    ctx: &Context<'_>,
    win: Option<RawWindow>,
    test_roles: Vec<String>,
    test_fraction: Option<f64>,
    bake: SimDuration,
    a: &Option<RawAnalysisRef>,
    endpoints: &[String],
) -> Result<PolicySpec, ScenarioError> {
    let test_groups = test_roles
        .iter()
        .filter_map(|r| ctx.roles.iter().position(|x| &x.name == r))
        .collect();
    let policy = PolicySpec::Staged(StagedSpec {
        test_groups,
        test_roles,
        test_fraction,
        bake,
        analysis: analysis(c, "policy.analysis", a, ctx, endpoints)?,
    });
    wrap(c, ctx, win, policy)
}
