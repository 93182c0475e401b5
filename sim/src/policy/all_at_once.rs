//! Big-bang: every host of every group is told to move at once.

use super::windowed::RawWindow;
use super::{Action, Cohort, Observation, Outcome, Policy};
use crate::protocol::ChangeMode;
use serde::Deserialize;

/// `kind = "all-at-once"`: no fields of its own, nothing to validate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAllAtOnce {
    pub window: Option<RawWindow>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Every host is told to move at the first tick.
    Start,
    /// Waiting until every host serves the new version.
    Upgrading,
}

/// Upgrades everything at the first tick, then waits until every host serves
/// the new version.
pub struct AllAtOnce {
    mode: ChangeMode,
    state: State,
}

impl AllAtOnce {
    pub fn new(mode: ChangeMode) -> Self {
        AllAtOnce {
            mode,
            state: State::Start,
        }
    }

    fn start(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        self.state = State::Upgrading;
        out.push(Action::Note {
            step: "all-at-once".into(),
            reason: "big-bang: every host at once".into(),
        });
        for (group, g) in obs.groups.iter().enumerate() {
            let step = "all-at-once".to_string();
            match self.mode {
                ChangeMode::InPlace => out.push(Action::Update {
                    group,
                    zone: None,
                    to: Cohort::New,
                    count: g.old.total,
                    step,
                    reason: "upgrade every host".into(),
                }),
                ChangeMode::Replace => {
                    out.push(Action::Provision {
                        group,
                        count: g.desired.saturating_sub(g.new.total),
                        step: step.clone(),
                        reason: "replace every host".into(),
                    });
                    out.push(Action::Decommission {
                        group,
                        zone: None,
                        count: g.old.total,
                        step,
                        reason: "replace every host".into(),
                    });
                }
            }
        }
    }

    fn upgrading(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        let done = obs
            .groups
            .iter()
            .all(|g| g.old.total == 0 && g.new.available >= g.desired);
        if done {
            out.push(Action::Finish {
                outcome: Outcome::Completed,
                reason: "every host serves the new version".into(),
            });
        }
    }
}

impl Policy for AllAtOnce {
    fn kind(&self) -> &'static str {
        "all-at-once"
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        match self.state {
            State::Start => self.start(obs, out),
            State::Upgrading => self.upgrading(obs, out),
        }
    }
}
