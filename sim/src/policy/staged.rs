//! Staged: the test environment first, a bake ("wait a week"), then all of
//! production at once — how Spotify upgraded Docker in 2014.
//!
//! The test environment is a set of roles (`test_roles`) or a share of every
//! role (`test_fraction`, rounded up, at least one host). Its hosts move at
//! once; once they serve, the bake starts. An optional `analysis` runs over
//! the new version during the bake (only test hosts run it): Failed or Error
//! moves the test environment back (`rolled_back`), Inconclusive halts. When
//! the bake is over and the analysis (if any) has passed, every remaining
//! host moves at once.

use super::common::Rollback;
use super::spec::{analysis, Context, PolicySpec};
use super::windowed::RawWindow;
use super::{Action, Cohort, Milestones, Observation, Outcome, Policy};
use crate::analysis::spec::RawAnalysisRef;
use crate::analysis::{AnalysisPhase, AnalysisRun, AnalysisSpec, Scope};
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::protocol::ChangeMode;
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

// ---- as written -------------------------------------------------------------

/// `kind = "staged"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaged {
    pub test_roles: Option<Vec<String>>,
    pub test_fraction: Option<f64>,
    pub bake: SimDuration,
    pub analysis: Option<RawAnalysisRef>,
    pub window: Option<RawWindow>,
}

// ---- validated ---------------------------------------------------------------

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

impl RawStaged {
    /// The test environment is either whole roles or a share of every role.
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<PolicySpec, ScenarioError> {
        let (test_roles, test_fraction) = match (&self.test_roles, self.test_fraction) {
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
                for r in roles {
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
                (roles.clone(), None)
            }
            (None, Some(f)) => {
                if !(f > 0.0 && f < 1.0) {
                    return Err(c.err(
                        "policy.test_fraction",
                        format!("must be a share strictly between 0 and 1, got {f}"),
                    ));
                }
                (Vec::new(), Some(f))
            }
        };
        let test_groups = test_roles
            .iter()
            .filter_map(|r| ctx.roles.iter().position(|x| &x.name == r))
            .collect();
        Ok(PolicySpec::Staged(StagedSpec {
            test_groups,
            test_roles,
            test_fraction,
            bake: self.bake,
            analysis: self
                .analysis
                .as_ref()
                .map(|a| analysis(c, "policy.analysis", a, ctx))
                .transpose()?,
        }))
    }
}

// ---- the state machine -------------------------------------------------------

#[derive(Clone, Debug)]
enum State {
    Start,
    Test(Vec<u32>),
    Bake {
        until: SimTime,
        run: Option<Box<AnalysisRun>>,
    },
    Production,
    Aborting(Rollback),
    Done,
}

/// The staged strategy.
pub struct Staged {
    spec: StagedSpec,
    mode: ChangeMode,
    state: State,
    milestones: Milestones,
}

impl Staged {
    pub fn new(spec: StagedSpec, mode: ChangeMode) -> Self {
        Staged {
            spec,
            mode,
            state: State::Start,
            milestones: Milestones::default(),
        }
    }

    /// Test hosts of `group` (of `desired`).
    pub fn test_hosts(&self, group: usize, desired: u32) -> u32 {
        match self.spec.test_fraction {
            Some(f) => ((f * desired as f64 - 1e-9).ceil() as u32).clamp(1, desired),
            None if self.spec.test_groups.contains(&group) => desired,
            None => 0,
        }
    }

    fn move_hosts(
        &self,
        group: usize,
        count: u32,
        step: &str,
        reason: &str,
        out: &mut Vec<Action>,
    ) {
        if count == 0 {
            return;
        }
        match self.mode {
            ChangeMode::InPlace => out.push(Action::Update {
                group,
                zone: None,
                to: Cohort::New,
                count,
                step: step.into(),
                reason: reason.into(),
            }),
            ChangeMode::Replace => {
                out.push(Action::Provision {
                    group,
                    count,
                    step: step.into(),
                    reason: reason.into(),
                });
                out.push(Action::Decommission {
                    group,
                    zone: None,
                    count,
                    step: step.into(),
                    reason: reason.into(),
                });
            }
        }
    }

    /// `Start`: the test environment moves at once.
    fn start(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        let env = if self.spec.test_roles.is_empty() {
            format!("{} of every role", self.spec.test_fraction.unwrap_or(0.0))
        } else {
            format!("roles {}", self.spec.test_roles.join(", "))
        };
        out.push(Action::Note {
            step: "test".into(),
            reason: format!(
                "test environment ({env}) first, then bake {}",
                self.spec.bake
            ),
        });
        let mut counts = Vec::new();
        for (group, g) in obs.groups.iter().enumerate() {
            let n = self.test_hosts(group, g.desired);
            self.move_hosts(
                group,
                n,
                "test",
                &format!("test environment: {n} of {} hosts", g.desired),
                out,
            );
            counts.push(n);
        }
        self.state = State::Test(counts);
    }

    /// `Test`: once the test environment serves, the bake (and its analysis)
    /// starts.
    fn test(&mut self, serving: bool, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if !serving {
            return;
        }
        out.push(Action::Note {
            step: "bake".into(),
            reason: format!(
                "test environment serves the new version: bake {}",
                self.spec.bake
            ),
        });
        let run = self
            .spec
            .analysis
            .as_ref()
            .map(|a| Box::new(AnalysisRun::start(a, Scope::All, obs.now, "bake")));
        self.state = State::Bake {
            until: obs.now + self.spec.bake,
            run,
        };
    }

    /// `Bake`, once its analysis (if any) has seen this tick: back on a
    /// failure, a halt when inconclusive, production once baked.
    fn bake(
        &mut self,
        until: SimTime,
        phase: AnalysisPhase,
        obs: &Observation<'_>,
        out: &mut Vec<Action>,
    ) {
        if phase.aborts() {
            self.milestones.detected_at.get_or_insert(obs.now);
            self.milestones.aborted_at = Some(obs.now);
            let reason = format!("bake analysis {phase:?}: the test environment goes back");
            let mut rb =
                Rollback::begin(obs, self.mode, false, SimDuration::ZERO, None, reason, out);
            rb.step(obs, out);
            self.state = State::Aborting(rb);
            return;
        }
        if phase == AnalysisPhase::Inconclusive {
            out.push(Action::Finish {
                outcome: Outcome::Halted,
                reason: "bake analysis Inconclusive: production waits for a human".into(),
            });
            self.state = State::Done;
            return;
        }
        if obs.now < until || phase != AnalysisPhase::Successful {
            return;
        }
        out.push(Action::Note {
            step: "production".into(),
            reason: format!(
                "bake of {} passed: all of production at once",
                self.spec.bake
            ),
        });
        for (group, g) in obs.groups.iter().enumerate() {
            let n = g.desired.saturating_sub(g.new.total);
            self.move_hosts(
                group,
                n,
                "production",
                "production: every remaining host",
                out,
            );
        }
        self.state = State::Production;
    }

    /// `Production`: done once every host serves the new version.
    fn production(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        if obs
            .groups
            .iter()
            .all(|g| g.old.total == 0 && g.new.available >= g.desired)
        {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: "test environment baked, then all of production".into(),
            });
            self.state = State::Done;
        }
    }
}

impl Policy for Staged {
    fn kind(&self) -> &'static str {
        "staged"
    }

    fn milestones(&self) -> Milestones {
        self.milestones
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        match &mut self.state {
            State::Done => {}
            State::Aborting(rb) => rb.step(obs, out),
            State::Start => self.start(obs, out),
            State::Test(counts) => {
                let serving = obs
                    .groups
                    .iter()
                    .zip(counts.iter())
                    .all(|(g, n)| g.new.available >= *n);
                self.test(serving, obs, out);
            }
            State::Bake { until, run } => {
                let until = *until;
                let phase = match run {
                    Some(r) => r.observe(obs, out),
                    None => AnalysisPhase::Successful,
                };
                self.bake(until, phase, obs, out);
            }
            State::Production => self.production(obs, out),
        }
    }
}
