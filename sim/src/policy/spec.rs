//! Policy specifications: the `[policy]` table of a scenario file, raw and
//! validated. A tagged enum (`kind = "..."`): a file names one kind and only
//! that kind's fields are accepted, so invalid combinations cannot be
//! written; what types cannot express, validation rejects with a located
//! message.
//!
//! ```text
//!   [policy] ──serde──▶ RawPolicy::Canary(RawCanary) ──RawCanary::validate──▶ PolicySpec::Canary
//!                       one variant per kind             in the kind's own file
//! ```
//!
//! This module is the registry: [`RawPolicy`] and [`PolicySpec`] list the
//! kinds, [`validate`] hands each raw table to its kind's `validate`. Each
//! kind's raw and validated fields and its checks live beside its state
//! machine (`canary.rs`, `waves.rs`, …); what several kinds share is here: the
//! [`Context`], counts and percentages, threshold checks and analysis
//! references.
//!
//! Every kind also takes an optional deploy window (`[policy.window]`): the
//! validated form wraps the policy in [`PolicySpec::Windowed`], which prints
//! back as the same flat table.

use super::all_at_once::RawAllAtOnce;
use super::blue_green::RawBlueGreen;
use super::canary::RawCanary;
use super::flagger::RawFlagger;
use super::linear::RawLinear;
use super::rolling::RawRolling;
use super::staged::RawStaged;
use super::waves::RawWaves;
use crate::analysis::spec::{resolve, RawAnalysisRef, RawTemplate, TemplateContext};
use crate::analysis::{AnalysisSpec, Query};
use crate::fleet::Role;
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::ChangeMode;
use crate::time::SimDuration;
use crate::traffic::Traffic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use super::blue_green::BlueGreenSpec;
pub use super::canary::{BackgroundAnalysis, CanaryScale, CanarySpec, CanaryStep, PauseSpec};
pub use super::flagger::FlaggerSpec;
pub use super::linear::{LinearSpec, OnBreach, Point, Shape};
pub use super::staged::StagedSpec;
pub use super::waves::WavesSpec;
pub use super::windowed::{DeployWindow, RawWindow};
pub use crate::protocol::IntOrPercent;

// ---- the registry -------------------------------------------------------------

/// The `[policy]` table as written: one variant per kind, each kind's fields
/// (and its optional `window`) in the kind's own file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum RawPolicy {
    AllAtOnce(RawAllAtOnce),
    Rolling(RawRolling),
    Staged(RawStaged),
    BlueGreen(RawBlueGreen),
    Canary(RawCanary),
    Flagger(RawFlagger),
    Linear(RawLinear),
    Waves(RawWaves),
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

/// Validates the `[policy]` table: the analysis templates first, then the
/// kind's own fields, then its deploy window.
pub(crate) fn validate(
    c: &Checker<'_>,
    raw: RawPolicy,
    ctx: &Context<'_>,
) -> Result<PolicySpec, ScenarioError> {
    ctx.with_templates(|t| crate::analysis::spec::check_templates(c, t))?;
    let (policy, window) = match &raw {
        RawPolicy::AllAtOnce(k) => (PolicySpec::AllAtOnce {}, &k.window),
        RawPolicy::Rolling(k) => (k.validate(c, ctx)?, &k.window),
        RawPolicy::Staged(k) => (k.validate(c, ctx)?, &k.window),
        RawPolicy::BlueGreen(k) => (k.validate(c, ctx)?, &k.window),
        RawPolicy::Canary(k) => (k.validate(c, ctx)?, &k.window),
        RawPolicy::Flagger(k) => (k.validate(c, ctx)?, &k.window),
        RawPolicy::Linear(k) => (k.validate(c, ctx)?, &k.window),
        RawPolicy::Waves(k) => (k.validate(c, ctx)?, &k.window),
    };
    Ok(match window {
        None => policy,
        Some(w) => PolicySpec::Windowed {
            window: w.validate(c, ctx)?,
            policy: Box::new(policy),
        },
    })
}

// ---- shared by several kinds ----------------------------------------------------

/// What policy validation needs to know about the rest of the scenario.
pub struct Context<'a> {
    pub mode: ChangeMode,
    pub roles: &'a [Role],
    pub traffic: &'a Traffic,
    /// `[analysis.NAME]` templates.
    pub templates: &'a BTreeMap<String, RawTemplate>,
}

impl Context<'_> {
    /// Runs `f` with the analysis templates and the traffic's endpoint names
    /// and weights.
    fn with_templates<R>(&self, f: impl FnOnce(&TemplateContext<'_>) -> R) -> R {
        let endpoints: Vec<String> = self
            .traffic
            .endpoints
            .iter()
            .map(|e| e.name.clone())
            .collect();
        let weights: Vec<f64> = self.traffic.endpoints.iter().map(|e| e.weight).collect();
        f(&TemplateContext {
            templates: self.templates,
            endpoints: &endpoints,
            endpoint_weights: &weights,
        })
    }
}

/// A count or a percentage, as Kubernetes writes `maxSurge`: `2` or `"25%"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawIntOrPercent {
    Int(i64),
    Str(String),
}

impl Checker<'_> {
    /// A count, or a percentage from 0 % to 100 % (`maxUnavailable` and
    /// every other share of a fleet).
    pub(super) fn int_or_percent(
        &self,
        field: &str,
        v: &RawIntOrPercent,
    ) -> Result<IntOrPercent, ScenarioError> {
        self.int_or_percent_capped(field, v, Some(100))
    }

    /// A `maxSurge`: a count, or any percentage ≥ 0 %. Kubernetes caps only
    /// `maxUnavailable` at 100 % (`ValidateRollingUpdateDeployment`,
    /// pkg/apis/apps/validation/validation.go); `"200%"` surges two new
    /// hosts per replica, rounded up, as the controller does.
    pub(super) fn surge(
        &self,
        field: &str,
        v: &RawIntOrPercent,
    ) -> Result<IntOrPercent, ScenarioError> {
        self.int_or_percent_capped(field, v, None)
    }

    fn int_or_percent_capped(
        &self,
        field: &str,
        v: &RawIntOrPercent,
        max_pct: Option<u32>,
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
                .filter(|p| max_pct.is_none_or(|m| *p <= m))
                .map(IntOrPercent::Percent)
                .ok_or_else(|| {
                    let range = match max_pct {
                        Some(m) => format!("a percentage from \"0%\" to \"{m}%\""),
                        None => "a percentage like \"25%\" (≥ 0 %)".to_string(),
                    };
                    self.err(
                        field,
                        format!("must be a count ≥ 0 or {range}, got \"{s}\""),
                    )
                }),
        }
    }

    pub(super) fn pct(&self, field: &str, v: i64, min: i64) -> Result<u32, ScenarioError> {
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

/// Kubernetes' `maxSurge` and `maxUnavailable` of a rolling plan (a
/// Deployment's rollout, a canary's promotion): surge defaults to 0 in place
/// and 25 % when replacing, unavailable to 25 %; never both 0, and no surge
/// in place.
pub(super) fn surge_and_unavailable(
    c: &Checker<'_>,
    mode: ChangeMode,
    (surge, unavailable): (&Option<RawIntOrPercent>, &Option<RawIntOrPercent>),
    what: &str,
) -> Result<(IntOrPercent, IntOrPercent), ScenarioError> {
    let surge = match surge {
        Some(v) => c.surge("policy.max_surge", v)?,
        None => match mode {
            ChangeMode::InPlace => IntOrPercent::Count(0),
            ChangeMode::Replace => IntOrPercent::Percent(25),
        },
    };
    let unavailable = match unavailable {
        Some(v) => c.int_or_percent("policy.max_unavailable", v)?,
        None => IntOrPercent::Percent(25),
    };
    if surge.is_zero() && unavailable.is_zero() {
        return Err(c.err(
            "policy.max_unavailable",
            format!("max_surge and max_unavailable cannot both be 0: the {what} could never make progress"),
        ));
    }
    if mode == ChangeMode::InPlace && !surge.is_zero() {
        return Err(c.err(
            "policy.max_surge",
            "an in-place change upgrades existing hosts and cannot surge; set max_surge = 0 or change.mode = \"replace\"",
        ));
    }
    Ok((surge, unavailable))
}

/// Rejects a kind that cannot run under the scenario's `change.mode`.
pub(super) fn require_mode(
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

/// A duration that defaults to `default` and must not be zero.
pub(super) fn positive(
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

/// Resolves an analysis reference (a template name or inline metrics) at `path`.
pub(super) fn analysis(
    c: &Checker<'_>,
    path: &str,
    raw: &RawAnalysisRef,
    ctx: &Context<'_>,
) -> Result<AnalysisSpec, ScenarioError> {
    let spec = background_analysis(c, path, raw, ctx)?;
    let indefinite = spec
        .metrics
        .iter()
        .enumerate()
        .find(|(_, m)| m.effective_count().is_none());
    if let Some((i, m)) = indefinite {
        let (field, what) = match &raw.template {
            Some(t) => (
                path.to_string(),
                format!("template `{t}`: metric `{}`", m.name),
            ),
            None => (
                format!("{path}.metrics[{i}].interval"),
                format!("metric `{}`", m.name),
            ),
        };
        return Err(c.err(
            &field,
            format!(
                "{what} has an `interval` and no `count`, so it runs indefinitely: an analysis that gates a step or a promotion must end (Argo allows indefinite metrics only in a background analysis, a canary's `[policy.analysis]`); give it a `count`"
            ),
        ));
    }
    Ok(spec)
}

/// An analysis that runs beside the steps (a canary's background analysis):
/// its metrics may run indefinitely.
pub(super) fn background_analysis(
    c: &Checker<'_>,
    path: &str,
    raw: &RawAnalysisRef,
    ctx: &Context<'_>,
) -> Result<AnalysisSpec, ScenarioError> {
    ctx.with_templates(|t| resolve(c, path, raw, t))
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

/// Validates the list of checks at `field` (`policy.metrics`, `policy.slo`,
/// `policy.alarms`); only Tsunami SLOs may watch one role.
pub(super) fn checks(
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
