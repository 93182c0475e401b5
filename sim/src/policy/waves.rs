//! AWS-style safe deployments in waves (the Builders' Library practice).
//!
//! ```text
//!  one-box: ≤ one_box_pct (default 10 %) of the first zone of the first wave, ≥ 1 host
//!    bake ≥ bake_one_box (default and minimum 1 h)
//!  wave 1 … n: the zones of each wave (default: one zone per wave, in fleet order),
//!    rolled per zone with max_unavailable (default 25 %)
//!    bake after each wave but the last: bake_first_wave after the first
//!    (default 2 × bake), bake (default 1 h) after the others
//! ```
//!
//! A bake ends only when its time has passed **and** the new version has
//! served at least `min_requests` since the bake began (the minimum-requests
//! guard: a quiet night does not count as a bake). Alarms
//! (`[[policy.alarms]]`, `[min, max]` of a query over the new version) are
//! evaluated every `alarm_period` (default 1 m) for the whole rollout; a
//! period without data does not breach (CloudWatch's "not breaching"). A
//! breach rolls back: every new host returns to the old version in batches
//! of `max_unavailable`, and the run ends `rolled_back`.

use super::common::{Flow, Rollback};
use super::rolling::{plan_rolling, resolve_fenceposts};
use super::spec::{
    checks, positive, require_mode, CheckSpec, Context, PolicySpec, RawCheck, RawIntOrPercent,
};
use super::windowed::RawWindow;
use super::{Action, Cohort, Milestones, Observation, Outcome, Policy, ZoneView};
use crate::analysis::measure::{Scope, Window};
use crate::analysis::Selector;
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::{ChangeMode, IntOrPercent};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

// ---- as written -------------------------------------------------------------

/// `kind = "waves"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWaves {
    pub one_box_pct: Option<f64>,
    pub bake_one_box: Option<SimDuration>,
    pub bake_first_wave: Option<SimDuration>,
    pub bake: Option<SimDuration>,
    pub min_requests: Option<i64>,
    #[serde(default)]
    pub alarms: Vec<RawCheck>,
    pub alarm_period: Option<SimDuration>,
    pub max_unavailable: Option<RawIntOrPercent>,
    pub waves: Option<Vec<Vec<String>>>,
    pub window: Option<RawWindow>,
}

// ---- validated ---------------------------------------------------------------

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

impl RawWaves {
    /// Every zone of the fleet is in exactly one wave.
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<PolicySpec, ScenarioError> {
        let RawWaves {
            one_box_pct,
            bake_one_box,
            bake_first_wave,
            bake,
            min_requests,
            ref alarms,
            alarm_period,
            ref max_unavailable,
            ref waves,
            window: _,
        } = *self;
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
            Some(n) => return Err(c.err("policy.min_requests", format!("must be ≥ 0, got {n}"))),
        };
        let unavailable = match max_unavailable {
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
                w.clone()
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
        Ok(PolicySpec::Waves(WavesSpec {
            wave_zones,
            one_box_pct,
            bake_one_box,
            bake_first_wave,
            bake,
            min_requests,
            alarms: checks(c, "policy.alarms", alarms, ctx, false)?,
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
        }))
    }
}

// ---- the state machine -------------------------------------------------------

#[derive(Clone, Debug)]
enum State {
    Start,
    /// Waiting for the one-box hosts (count per group) to serve.
    OneBox(Vec<(usize, usize, u32)>),
    /// Rolling wave `k`.
    Wave(usize),
    /// Baking after stage `after` (0 = one-box, k + 1 = wave k).
    Bake {
        after: usize,
        until: SimTime,
        requests: u64,
        extended: bool,
    },
    Aborting(Rollback),
    Done,
}

/// The waves strategy.
pub struct Waves {
    spec: WavesSpec,
    state: State,
    alarm_windows: Vec<Window>,
    next_alarm: Option<SimTime>,
    milestones: Milestones,
}

fn zone<'a>(obs: &'a Observation<'_>, g: usize, z: usize) -> Option<&'a ZoneView> {
    obs.zones.iter().find(|v| v.group == g && v.zone == z)
}

impl Waves {
    pub fn new(spec: WavesSpec) -> Self {
        let alarm_windows = vec![Window::default(); spec.alarms.len()];
        Waves {
            spec,
            state: State::Start,
            alarm_windows,
            next_alarm: None,
            milestones: Milestones::default(),
        }
    }

    fn bake_for(&self, after: usize) -> SimDuration {
        match after {
            0 => self.spec.bake_one_box,
            1 => self.spec.bake_first_wave,
            _ => self.spec.bake,
        }
    }

    fn stage_name(after: usize) -> String {
        if after == 0 {
            "one-box".into()
        } else {
            format!("wave {after}")
        }
    }

    fn alarms(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> bool {
        if self.spec.alarms.is_empty() {
            return false;
        }
        for w in &mut self.alarm_windows {
            w.add(obs, Scope::All, Cohort::New, &Selector::All);
        }
        let next = *self
            .next_alarm
            .get_or_insert(obs.now + self.spec.alarm_period);
        if obs.now < next {
            return false;
        }
        self.next_alarm = Some(obs.now + self.spec.alarm_period);
        for (a, w) in self.spec.alarms.iter().zip(&mut self.alarm_windows) {
            let (v, from) = std::mem::take(w).value(a.query, &Selector::All);
            let Some(v) = v else { continue };
            if a.passes(v) {
                continue;
            }
            self.milestones.detected_at.get_or_insert(obs.now);
            self.milestones.aborted_at = Some(obs.now);
            out.push(Action::Note {
                step: "alarm".into(),
                reason: format!(
                    "alarm `{}` in ALARM: {} = {v} ({from}), wants {}",
                    a.name,
                    a.query.as_str(),
                    a.describe()
                ),
            });
            let reason = format!("alarm `{}` breached: roll back every wave", a.name);
            let mut rb = Rollback::begin(
                obs,
                ChangeMode::InPlace,
                false,
                SimDuration::ZERO,
                Some(self.spec.max_unavailable),
                reason,
                out,
            );
            rb.step(obs, out);
            self.state = State::Aborting(rb);
            return true;
        }
        false
    }

    /// `Start`: the one-box, a share of the first wave's first zone in every
    /// group that has it.
    fn start(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        let mut boxes = Vec::new();
        let first_zone = &self.spec.waves[0][0];
        for &(g, z) in &self.spec.wave_zones[0] {
            if boxes.iter().any(|b: &(usize, usize, u32)| b.0 == g) {
                continue;
            }
            let Some(v) = zone(obs, g, z) else { continue };
            let hosts = v.old.total + v.new.total;
            let count = ((self.spec.one_box_pct / 100.0 * hosts as f64 + 1e-9).floor() as u32)
                .max(1)
                .min(hosts);
            out.push(Action::Update {
                group: g,
                zone: Some(z),
                to: Cohort::New,
                count,
                step: "one-box".into(),
                reason: format!(
                    "one-box: {count} of {hosts} hosts in zone {first_zone} (≤ {} %)",
                    self.spec.one_box_pct
                ),
            });
            boxes.push((g, z, count));
        }
        self.state = State::OneBox(boxes);
        Flow::Wait
    }

    /// `OneBox`: once its hosts serve, the one-box bakes.
    fn one_box(&mut self, serving: bool, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        if !serving {
            return Flow::Wait;
        }
        self.state = State::Bake {
            after: 0,
            until: obs.now + self.spec.bake_one_box,
            requests: 0,
            extended: false,
        };
        out.push(Action::Note {
            step: "bake".into(),
            reason: format!("one-box serving: bake {}", self.spec.bake_one_box),
        });
        Flow::Wait
    }

    /// `Bake` after stage `after`: over once `until` has passed and the new
    /// version has served `min_requests`; then the next wave starts.
    fn bake(
        &mut self,
        after: usize,
        until: SimTime,
        requests: u64,
        extended: bool,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) -> Flow {
        let requests = requests
            + obs
                .groups
                .iter()
                .map(|g| g.new_metrics.requests)
                .sum::<u64>();
        if obs.now < until {
            self.state = State::Bake {
                after,
                until,
                requests,
                extended,
            };
            return Flow::Wait;
        }
        if requests < self.spec.min_requests {
            if !extended {
                out.push(Action::Note {
                    step: "bake".into(),
                    reason: format!(
                        "bake after {} extended: {} requests on the new version, min_requests {}",
                        Self::stage_name(after),
                        requests,
                        self.spec.min_requests
                    ),
                });
            }
            self.state = State::Bake {
                after,
                until,
                requests,
                extended: true,
            };
            return Flow::Wait;
        }
        out.push(Action::Note {
            step: format!("wave {}", after + 1),
            reason: format!(
                "bake after {} passed ({} requests on the new version): wave {} of {}: zones {}",
                Self::stage_name(after),
                requests,
                after + 1,
                self.spec.waves.len(),
                self.spec.waves[after].join(", ")
            ),
        });
        self.state = State::Wave(after);
        Flow::Next
    }

    /// `Wave(k)`: its zones roll with `max_unavailable`; when they are done,
    /// a bake, or the end after the last wave.
    fn wave(&mut self, k: usize, obs: &Observation<'_>, out: &mut Vec<Action>) -> Flow {
        let mut done = true;
        for &(g, z) in &self.spec.wave_zones[k] {
            let Some(v) = zone(obs, g, z) else { continue };
            let hosts = v.old.total + v.new.total;
            if v.old.total == 0 && v.new.available >= hosts {
                continue;
            }
            done = false;
            let (_, u) =
                resolve_fenceposts(IntOrPercent::Count(0), self.spec.max_unavailable, hosts);
            let plan = plan_rolling(ChangeMode::InPlace, hosts, 0, u, v.old, v.new);
            if plan.update > 0 {
                out.push(Action::Update {
                    group: g,
                    zone: Some(z),
                    to: Cohort::New,
                    count: plan.update,
                    step: format!("wave {}", k + 1),
                    reason: format!(
                        "zone {}: {} of {hosts} on the new version, max_unavailable {u}",
                        self.spec.waves[k].join("+"),
                        v.new.total
                    ),
                });
            }
        }
        if !done {
            return Flow::Wait;
        }
        if k + 1 == self.spec.waves.len() {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: format!("all {} waves deployed", self.spec.waves.len()),
            });
            self.state = State::Done;
            return Flow::Wait;
        }
        let bake = self.bake_for(k + 1);
        out.push(Action::Note {
            step: "bake".into(),
            reason: format!("wave {} done: bake {bake}", k + 1),
        });
        self.state = State::Bake {
            after: k + 1,
            until: obs.now + bake,
            requests: 0,
            extended: false,
        };
        Flow::Wait
    }
}

impl Policy for Waves {
    fn kind(&self) -> &'static str {
        "waves"
    }

    fn milestones(&self) -> Milestones {
        self.milestones
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if let State::Aborting(rb) = &mut self.state {
            rb.step(obs, out);
            return;
        }
        if matches!(self.state, State::Done) || self.alarms(obs, out) {
            return;
        }
        for _ in 0..4 {
            let flow = match &mut self.state {
                State::Done | State::Aborting(_) => Flow::Wait,
                State::Start => self.start(obs, out),
                State::OneBox(boxes) => {
                    let serving = boxes
                        .iter()
                        .all(|&(g, z, n)| zone(obs, g, z).is_some_and(|v| v.new.available >= n));
                    self.one_box(serving, obs, out)
                }
                &mut State::Bake {
                    after,
                    until,
                    requests,
                    extended,
                } => self.bake(after, until, requests, extended, obs, out),
                &mut State::Wave(k) => self.wave(k, obs, out),
            };
            if flow == Flow::Wait {
                return;
            }
        }
    }
}
