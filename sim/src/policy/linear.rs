//! Spotify's Tsunami: "upgrade Docker from A to B over two weeks".
//!
//! The share of each role's hosts on the new version is a function of time
//! since the start — `linear` by default, `exponential` (from `start_pct`
//! up to 100 % at `duration`) or explicit `breakpoints` — recomputed every
//! `step` (default 1 h). Per role and step:
//!
//! ```text
//!  target = ceil(f(t) × hosts), at least `min_hosts` (default 1) once f(t) > 0
//!  move   = min(target − on new, ceil(max_pct % × hosts))   (max_pct default 100)
//! ```
//!
//! so a 40-host role at 30 % gets 12 hosts, a 3-host role at 1 % still gets
//! one ("30 % of hosts per role, but at least one host"). Every instruction
//! is a row of the audit log with the step and the reason.
//!
//! SLO monitors (`[[policy.slo]]`, optionally for one `role`) are evaluated
//! per role on the new version every `slo_window` (default 5 m); a violated
//! SLO halts the rollout (Tsunami stops; it does not roll back). A window
//! without data is not a violation.

use super::spec::{checks, positive, require_mode, CheckSpec, Context, PolicySpec, RawCheck};
use super::windowed::RawWindow;
use super::{Action, Cohort, Milestones, Observation, Outcome, Policy};
use crate::analysis::measure::{Scope, Window};
use crate::analysis::Selector;
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::ChangeMode;
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

// ---- as written -------------------------------------------------------------

/// `kind = "linear"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLinear {
    pub duration: SimDuration,
    pub shape: Option<RawShape>,
    pub step: Option<SimDuration>,
    pub min_hosts: Option<i64>,
    pub max_pct: Option<f64>,
    #[serde(default)]
    pub slo: Vec<RawCheck>,
    pub slo_window: Option<SimDuration>,
    pub window: Option<RawWindow>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum RawShape {
    Linear {},
    Exponential { start_pct: Option<f64> },
    Breakpoints { points: Vec<RawPoint> },
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPoint {
    pub at: SimDuration,
    pub pct: f64,
}

// ---- validated ---------------------------------------------------------------

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

impl RawLinear {
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<PolicySpec, ScenarioError> {
        let RawLinear {
            duration,
            ref shape,
            step,
            min_hosts,
            max_pct,
            ref slo,
            slo_window,
            window: _,
        } = *self;
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
                format!("must be longer than 0s and at most the duration ({duration}), got {step}"),
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
        Ok(PolicySpec::Linear(LinearSpec {
            duration,
            shape,
            step,
            min_hosts,
            max_pct,
            slo: checks(c, "policy.slo", slo, ctx, true)?,
            slo_window: positive(
                c,
                "policy.slo_window",
                slo_window,
                SimDuration::from_mins(5),
            )?,
        }))
    }
}

// ---- the state machine -------------------------------------------------------

/// The Tsunami strategy.
pub struct Linear {
    spec: LinearSpec,
    started: Option<SimTime>,
    next_step: SimTime,
    steps: u32,
    /// Per SLO and group: the window being accumulated.
    windows: Vec<Vec<Window>>,
    next_slo: SimTime,
    milestones: Milestones,
    done: bool,
}

impl Linear {
    pub fn new(spec: LinearSpec, groups: usize) -> Self {
        let windows = vec![vec![Window::default(); groups]; spec.slo.len()];
        Linear {
            spec,
            started: None,
            next_step: SimTime::ZERO,
            steps: 0,
            windows,
            next_slo: SimTime::ZERO,
            milestones: Milestones::default(),
            done: false,
        }
    }

    /// Hosts of a role of `desired` that should be on the new version at
    /// `elapsed`.
    pub fn target(&self, elapsed: SimDuration, desired: u32) -> u32 {
        let f = self.spec.shape.fraction(elapsed, self.spec.duration);
        if f <= 0.0 {
            return 0;
        }
        let t = (f * desired as f64 - 1e-9).ceil().max(0.0) as u32;
        t.max(self.spec.min_hosts).min(desired)
    }

    fn slo_check(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> bool {
        for (si, slo) in self.spec.slo.iter().enumerate() {
            for (g, w) in self.windows[si].iter_mut().enumerate() {
                if slo.group.is_some_and(|x| x != g) {
                    continue;
                }
                w.add(obs, Scope::Group(g), Cohort::New, &Selector::All);
            }
        }
        if obs.now < self.next_slo {
            return false;
        }
        self.next_slo = obs.now + self.spec.slo_window;
        for (si, slo) in self.spec.slo.iter().enumerate() {
            for g in 0..obs.groups.len() {
                if slo.group.is_some_and(|x| x != g) {
                    continue;
                }
                let w = std::mem::take(&mut self.windows[si][g]);
                let (v, from) = w.value(slo.query, &Selector::All);
                let Some(v) = v else { continue };
                if !slo.passes(v) {
                    self.milestones.detected_at.get_or_insert(obs.now);
                    out.push(Action::Note {
                        step: "slo".into(),
                        reason: format!(
                            "SLO `{}` violated on group {g}: {} = {v} ({from}), wants {}",
                            slo.name,
                            slo.query.as_str(),
                            slo.describe()
                        ),
                    });
                    out.push(Action::Finish {
                        outcome: Outcome::Halted,
                        reason: format!(
                            "Tsunami halted: SLO `{}` violated on group {g} ({} = {v}, wants {})",
                            slo.name,
                            slo.query.as_str(),
                            slo.describe()
                        ),
                    });
                    self.done = true;
                    return true;
                }
            }
        }
        false
    }
}

impl Policy for Linear {
    fn kind(&self) -> &'static str {
        "linear"
    }

    fn milestones(&self) -> Milestones {
        self.milestones
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if self.done {
            return;
        }
        let start = *self.started.get_or_insert_with(|| {
            self.next_step = obs.now;
            obs.now
        });
        if self.next_slo == SimTime::ZERO {
            self.next_slo = obs.now + self.spec.slo_window;
        }
        if self.slo_check(obs, out) {
            return;
        }
        if obs.now >= self.next_step {
            self.next_step = obs.now + self.spec.step;
            let elapsed = obs.now.saturating_since(start);
            let f = self.spec.shape.fraction(elapsed, self.spec.duration);
            let mut moved = false;
            for (group, g) in obs.groups.iter().enumerate() {
                let target = self.target(elapsed, g.desired);
                if target <= g.new.total || g.old.total == 0 {
                    continue;
                }
                let cap = ((self.spec.max_pct / 100.0 * g.desired as f64) - 1e-9)
                    .ceil()
                    .max(1.0) as u32;
                let count = (target - g.new.total).min(cap).min(g.old.total);
                if !moved {
                    self.steps += 1;
                    moved = true;
                }
                out.push(Action::Update {
                    group,
                    zone: None,
                    to: Cohort::New,
                    count,
                    step: format!("linear step {}", self.steps),
                    reason: format!(
                        "t = {elapsed}: target {:.4} % → {target} of {} hosts (min_hosts {}); {} on new, moving {count} (max {cap} per step)",
                        f * 100.0,
                        g.desired,
                        self.spec.min_hosts,
                        g.new.total
                    ),
                });
            }
        }
        let all = obs
            .groups
            .iter()
            .all(|g| g.old.total == 0 && g.new.available >= g.desired);
        if all {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: format!(
                    "every role on the new version ({} steps over {})",
                    self.steps, self.spec.duration
                ),
            });
            self.done = true;
        }
    }
}
