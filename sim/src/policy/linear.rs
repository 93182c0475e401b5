//! Spotify's Tsunami ("upgrade Docker from A to B over two weeks") and AWS
//! AppConfig's deployment strategies: a duration-based ramp.
//!
//! The share of each role's hosts on the new version is a function of time
//! since the start, recomputed every `step` (default 1 h, at most the
//! duration; with a `growth_factor` shape, `duration / N`) and at each of a
//! stepped shape's step times. The `shape`:
//!
//! | `shape` | share at `t` of `duration` | after |
//! |---|---|---|
//! | `linear` (default) | `t / duration` | Tsunami's linear interpolation |
//! | `{ kind = "linear", growth_factor = G }` | `k · G %` from `k · duration / N`, `N = ⌈100 / G⌉` | AppConfig `LINEAR` |
//! | `{ kind = "exponential", growth_factor = G }` | `G · 2^(k−1) %` from `k · duration / N`, `N` the first step at ≥ 100 % | AppConfig `EXPONENTIAL` (`G·2^N`) |
//! | `{ kind = "geometric", start_pct = s }` | `s / 100 ^ (1 − t / duration)` | (before issue 10 item 12 this was `exponential`) |
//! | `{ kind = "breakpoints", points = [...] }` | linear between `(at, pct)` points | |
//!
//! A stepped shape's share is capped at 100 % and reaches it at `duration`
//! (at once when `duration = "0s"`: `AppConfig.AllAtOnce`). Per role and
//! recomputation:
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
//! per role on the new version every `slo_window` (default 5 m); a window
//! without data is not a violation. They are AppConfig's CloudWatch alarms.
//! Once every role is on the new version and available, they keep running
//! for `bake` (AppConfig's `FinalBakeTimeInMinutes`; default 0 s) and the
//! rollout completes only after it. A violated SLO, during the ramp or the
//! bake, does what `on_slo_breach` says:
//!
//! - `"halt"` (default, Tsunami): the rollout stops where it is (`halted`);
//! - `"rollback"` (AppConfig): every host goes back to the old version at
//!   once and the run ends `rolled_back`.
//!
//! `docs/FIDELITY.md` ("Duration-based ramps") lists what is AppConfig's and
//! what differs; `scenarios/policies/appconfig/` holds its four predefined
//! strategies.

use super::common::Rollback;
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
    pub bake: Option<SimDuration>,
    /// `"halt"` or `"rollback"`, read as a string so that a bad value is
    /// located at its key (inside the tagged `[policy]` table serde loses
    /// the span).
    pub on_slo_breach: Option<String>,
    pub window: Option<RawWindow>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum RawShape {
    Linear {
        growth_factor: Option<f64>,
    },
    Exponential {
        growth_factor: Option<f64>,
        /// The old meaning of `exponential`: rejected with a pointer to
        /// `geometric`.
        start_pct: Option<f64>,
    },
    Geometric {
        start_pct: Option<f64>,
    },
    Breakpoints {
        points: Vec<RawPoint>,
    },
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
    /// How long the SLOs keep watching once every role is on the new
    /// version, before the rollout counts as completed.
    pub bake: SimDuration,
    pub on_slo_breach: OnBreach,
}

/// What a violated SLO does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnBreach {
    /// Tsunami: stop where the rollout is; a human decides.
    Halt,
    /// AppConfig: every host back to the old version.
    Rollback,
}

/// How the fraction on the new version grows with time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Shape {
    /// Without `growth_factor`: `t / duration`. With it: AppConfig's
    /// `LINEAR`, `k · G %` from step `k` of `⌈100 / G⌉`.
    Linear {
        #[serde(skip_serializing_if = "Option::is_none")]
        growth_factor: Option<f64>,
    },
    /// AppConfig's `EXPONENTIAL`: `G · 2^(k−1) %` from step `k`, until a
    /// step reaches 100 %.
    Exponential { growth_factor: f64 },
    /// `start_pct / 100 ^ (1 − t / duration)`: from `start_pct` at the start to 100 %.
    Geometric { start_pct: f64 },
    /// Linear between `(at, pct)` points; the last reaches 100 %.
    Breakpoints { points: Vec<Point> },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    pub at: SimDuration,
    pub pct: f64,
}

impl Shape {
    /// The target fraction (0..=1) at `t` into a rollout of `duration`
    /// (1 from the start when `duration` is zero).
    pub fn fraction(&self, t: SimDuration, duration: SimDuration) -> f64 {
        if duration.is_zero() {
            return 1.0;
        }
        let x = (t.as_millis() as f64 / duration.as_millis() as f64).clamp(0.0, 1.0);
        match self {
            Shape::Linear {
                growth_factor: None,
            } => x,
            Shape::Linear {
                growth_factor: Some(_),
            }
            | Shape::Exponential { .. } => {
                let k = self.step_at(t, duration);
                self.step_pct(k) / 100.0
            }
            Shape::Geometric { start_pct } => (start_pct / 100.0).powf(1.0 - x),
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

    /// A stepped (AppConfig) shape's number of steps `N`; `None` for the
    /// continuous shapes.
    pub fn steps(&self) -> Option<u32> {
        match *self {
            Shape::Linear {
                growth_factor: Some(g),
            } => Some((100.0 / g - 1e-9).ceil().max(1.0) as u32),
            Shape::Exponential { growth_factor: g } => {
                // At most 8 steps for AppConfig's smallest factor, 1 %; the
                // bound only guards a hand-built shape with a factor of 0.
                let mut n = 1;
                while n < 64 && g * 2f64.powi(n as i32 - 1) < 100.0 {
                    n += 1;
                }
                Some(n)
            }
            _ => None,
        }
    }

    /// The percentage on the new version from step `k` (1-based) of a
    /// stepped shape; 0 before the first.
    pub fn step_pct(&self, k: u32) -> f64 {
        if k == 0 {
            return 0.0;
        }
        let pct = match *self {
            Shape::Linear {
                growth_factor: Some(g),
            } => g * k as f64,
            Shape::Exponential { growth_factor: g } => g * 2f64.powi(k as i32 - 1),
            _ => 100.0,
        };
        pct.min(100.0)
    }

    /// When step `k` of a stepped shape starts: `⌈k · duration / N⌉` ms.
    pub fn step_time(&self, k: u32, duration: SimDuration) -> Option<SimDuration> {
        let n = self.steps()?;
        let d = duration.as_millis() as u128;
        let ms = (k as u128 * d).div_ceil(n as u128);
        Some(SimDuration::from_millis(ms as u64))
    }

    /// The last step of a stepped shape that has started at `t`.
    fn step_at(&self, t: SimDuration, duration: SimDuration) -> u32 {
        let n = self.steps().unwrap_or(1);
        let d = duration.as_millis() as u128;
        if d == 0 {
            return n;
        }
        ((t.as_millis() as u128 * n as u128 / d) as u32).min(n)
    }

    /// The next step time after `t` of a stepped shape, if any is left.
    fn next_step_time(&self, t: SimDuration, duration: SimDuration) -> Option<SimDuration> {
        let n = self.steps()?;
        let k = self.step_at(t, duration);
        if k >= n {
            return None;
        }
        self.step_time(k + 1, duration)
    }
}

/// AppConfig's `GrowthFactor` range (API reference, `DeploymentStrategy`).
fn growth_factor_in_range(c: &Checker<'_>, g: f64) -> Result<f64, ScenarioError> {
    if (1.0..=100.0).contains(&g) {
        return Ok(g);
    }
    Err(c.err(
        "policy.shape.growth_factor",
        format!("must be a percentage from 1 to 100 (AppConfig's GrowthFactor), got {g}"),
    ))
}

fn growth_factor_required(
    c: &Checker<'_>,
    g: Option<f64>,
    kind: &str,
) -> Result<f64, ScenarioError> {
    match g {
        Some(g) => growth_factor_in_range(c, g),
        None => Err(c.err(
            "policy.shape.growth_factor",
            format!(
                "missing: `{kind}` needs the percentage of its first step (AppConfig's GrowthFactor, 1 to 100)"
            ),
        )),
    }
}

fn geometric(c: &Checker<'_>, start_pct: Option<f64>) -> Result<Shape, ScenarioError> {
    let s = start_pct.unwrap_or(1.0);
    if !(s > 0.0 && s < 100.0) {
        return Err(c.err(
            "policy.shape.start_pct",
            format!("must be a percentage strictly between 0 and 100, got {s}"),
        ));
    }
    Ok(Shape::Geometric { start_pct: s })
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
            bake,
            ref on_slo_breach,
            window: _,
        } = *self;
        require_mode(
            c,
            ctx,
            "linear",
            ChangeMode::InPlace,
            "Tsunami tells existing hosts which version to run",
        )?;
        let shape = match shape {
            None => Shape::Linear {
                growth_factor: None,
            },
            Some(RawShape::Linear { growth_factor }) => Shape::Linear {
                growth_factor: match *growth_factor {
                    None => None,
                    Some(g) => Some(growth_factor_in_range(c, g)?),
                },
            },
            Some(RawShape::Exponential {
                start_pct: Some(_), ..
            }) => {
                return Err(c.err(
                    "policy.shape.start_pct",
                    "`exponential` is AWS AppConfig's G·2^N steps since issue 10 item 12 and takes `growth_factor`; the curve from `start_pct` to 100 % is now `kind = \"geometric\"`",
                ))
            }
            Some(RawShape::Exponential {
                growth_factor,
                start_pct: None,
            }) => Shape::Exponential {
                growth_factor: growth_factor_required(c, *growth_factor, "exponential")?,
            },
            Some(RawShape::Geometric { start_pct }) => geometric(c, *start_pct)?,
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
        // Hourly by default (at most the duration); a stepped shape
        // recomputes at its own steps, `duration / N`, or every minute when
        // it moves everything at once.
        let default_step = match shape.step_time(1, duration) {
            None if duration.is_zero() => SimDuration::from_hours(1),
            None => SimDuration::from_hours(1).min(duration),
            Some(s) if s.is_zero() => SimDuration::from_mins(1),
            Some(s) => s,
        };
        let step = step.unwrap_or(default_step);
        if step.is_zero() || (!duration.is_zero() && step > duration) {
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
        let on_slo_breach = match on_slo_breach.as_deref() {
            None | Some("halt") => OnBreach::Halt,
            Some("rollback") => OnBreach::Rollback,
            Some(other) => {
                return Err(c.err(
                    "policy.on_slo_breach",
                    format!(
                        "unknown value `{other}`: \"halt\" (Tsunami: stop where the rollout is) or \"rollback\" (AppConfig: every host back to the old version)"
                    ),
                ))
            }
        };
        let slo = checks(c, "policy.slo", slo, ctx, true)?;
        if on_slo_breach == OnBreach::Rollback && slo.is_empty() {
            return Err(c.err(
                "policy.on_slo_breach",
                "\"rollback\" needs at least one [[policy.slo]] (AppConfig rolls back on a CloudWatch alarm; without a monitor nothing can fire)",
            ));
        }
        Ok(PolicySpec::Linear(LinearSpec {
            duration,
            shape,
            step,
            min_hosts,
            max_pct,
            slo,
            slo_window: positive(
                c,
                "policy.slo_window",
                slo_window,
                SimDuration::from_mins(5),
            )?,
            bake: bake.unwrap_or(SimDuration::ZERO),
            on_slo_breach,
        }))
    }
}

// ---- the state machine -------------------------------------------------------

/// Where the ramp is.
enum State {
    /// Moving hosts as the shape says.
    Ramping,
    /// Every role on the new version since `since`; the SLOs keep watching.
    Baking { since: SimTime },
    /// An SLO was violated and `on_slo_breach = "rollback"`.
    RollingBack(Rollback),
    /// Finished (completed or halted).
    Done,
}

/// The Tsunami / AppConfig strategy.
pub struct Linear {
    spec: LinearSpec,
    state: State,
    started: Option<SimTime>,
    next_step: SimTime,
    steps: u32,
    /// Per SLO and group: the window being accumulated.
    windows: Vec<Vec<Window>>,
    next_slo: SimTime,
    milestones: Milestones,
}

impl Linear {
    pub fn new(spec: LinearSpec, groups: usize) -> Self {
        let windows = vec![vec![Window::default(); groups]; spec.slo.len()];
        Linear {
            spec,
            state: State::Ramping,
            started: None,
            next_step: SimTime::ZERO,
            steps: 0,
            windows,
            next_slo: SimTime::ZERO,
            milestones: Milestones::default(),
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

    /// Accumulates the SLO windows and, at the end of a window, returns the
    /// first violation as `(note, verdict)`.
    fn slo_check(&mut self, obs: &Observation<'_>) -> Option<(String, String)> {
        for (si, slo) in self.spec.slo.iter().enumerate() {
            for (g, w) in self.windows[si].iter_mut().enumerate() {
                if slo.group.is_some_and(|x| x != g) {
                    continue;
                }
                w.add(obs, Scope::Group(g), Cohort::New, &Selector::All);
            }
        }
        if obs.now < self.next_slo {
            return None;
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
                    let note = format!(
                        "SLO `{}` violated on group {g}: {} = {v} ({from}), wants {}",
                        slo.name,
                        slo.query.as_str(),
                        slo.describe()
                    );
                    let verdict = format!(
                        "SLO `{}` violated on group {g} ({} = {v}, wants {})",
                        slo.name,
                        slo.query.as_str(),
                        slo.describe()
                    );
                    return Some((note, verdict));
                }
            }
        }
        None
    }

    /// Watches the SLOs; on a violation halts or starts the way back.
    /// Returns true when the rollout stopped ramping.
    fn watch(&mut self, obs: &Observation<'_>, baking: bool, out: &mut Vec<Action>) -> bool {
        let Some((note, verdict)) = self.slo_check(obs) else {
            return false;
        };
        let during = if baking { " during the bake" } else { "" };
        out.push(Action::Note {
            step: "slo".into(),
            reason: note,
        });
        match self.spec.on_slo_breach {
            OnBreach::Halt => {
                out.push(Action::Finish {
                    outcome: Outcome::Halted,
                    reason: format!("Tsunami halted: {verdict}{during}"),
                });
                self.state = State::Done;
            }
            OnBreach::Rollback => {
                self.milestones.aborted_at = Some(obs.now);
                let reason = format!("rolling back every host: {verdict}{during}");
                let mut rb = Rollback::begin(
                    obs,
                    ChangeMode::InPlace,
                    false,
                    SimDuration::ZERO,
                    None,
                    reason,
                    out,
                );
                rb.step(obs, out);
                self.state = State::RollingBack(rb);
            }
        }
        true
    }

    /// `Ramping`: one recomputation when due, then whether every role is on
    /// the new version.
    fn ramp(&mut self, obs: &Observation<'_>, start: SimTime, out: &mut Vec<Action>) {
        if self.watch(obs, false, out) {
            return;
        }
        if obs.now >= self.next_step {
            let elapsed = obs.now.saturating_since(start);
            self.next_step = obs.now + self.spec.step;
            if let Some(at) = self.spec.shape.next_step_time(elapsed, self.spec.duration) {
                self.next_step = self.next_step.min(start + at);
            }
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
        if !all {
            return;
        }
        if self.spec.bake.is_zero() {
            self.complete(out);
        } else {
            out.push(Action::Note {
                step: "bake".into(),
                reason: format!(
                    "every role on the new version ({} steps over {}): the SLOs watch for {} more",
                    self.steps, self.spec.duration, self.spec.bake
                ),
            });
            self.state = State::Baking { since: obs.now };
        }
    }

    /// `Baking`: the SLOs keep watching until `bake` has passed.
    fn bake(&mut self, obs: &Observation<'_>, since: SimTime, out: &mut Vec<Action>) {
        if self.watch(obs, true, out) {
            return;
        }
        if obs.now.saturating_since(since) >= self.spec.bake {
            self.complete(out);
        }
    }

    fn complete(&mut self, out: &mut Vec<Action>) {
        let bake = if self.spec.bake.is_zero() {
            String::new()
        } else {
            format!(
                ", then a bake of {} without an SLO violation",
                self.spec.bake
            )
        };
        out.push(Action::Finish {
            outcome: Outcome::Completed,
            reason: format!(
                "every role on the new version ({} steps over {}{bake})",
                self.steps, self.spec.duration
            ),
        });
        self.state = State::Done;
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
        let start = *self.started.get_or_insert_with(|| {
            self.next_step = obs.now;
            obs.now
        });
        if self.next_slo == SimTime::ZERO {
            self.next_slo = obs.now + self.spec.slo_window;
        }
        match &mut self.state {
            State::Ramping => self.ramp(obs, start, out),
            &mut State::Baking { since } => self.bake(obs, since, out),
            State::RollingBack(rb) => rb.step(obs, out),
            State::Done => {}
        }
    }
}
