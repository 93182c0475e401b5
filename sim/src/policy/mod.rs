//! The policy engine: rollout strategies as pure state machines.
//!
//! ```text
//!        ┌──────────── world (simulator or live driver) ────────────┐
//!        │  hosts / containers, traffic, monitoring                  │
//!        └───────┬───────────────────────────────────▲──────────────┘
//!   Observation  │ time, per group: old/new cohort    │ Actions: update N hosts,
//!   (every tick) │ counts, last tick's metrics        │ provision, decommission,
//!                ▼                                    │ set weight, step, finish
//!        ┌──────────────────── Policy::decide ──────┴──────────────┐
//!        │ pure: no I/O, no clock, no randomness of its own          │
//!        └────────────────────────────────────────────────────────────┘
//! ```
//!
//! A *group* is what a strategy rolls independently: a role of hosts in the
//! simulator, a service's set of containers in live mode. Each group has an
//! `Old` cohort (stable) and a `New` cohort (the version being rolled out).
//! Policies speak in counts, never in host ids: the world decides which hosts
//! (deterministically, lowest index first), so the same policy code drives a
//! 23,000-host simulation and three real containers.
//!
//! | `kind` | module | after |
//! |---|---|---|
//! | `all-at-once` | [`AllAtOnce`] | big bang |
//! | `rolling` | [`Rolling`] | Kubernetes Deployment `RollingUpdate` |
//! | `staged` | [`Staged`] | test environment, bake ("wait a week"), production |
//! | `blue-green` | [`BlueGreen`] | Argo Rollouts blue-green |
//! | `canary` | [`Canary`] | Argo Rollouts canary steps |
//! | `flagger` | [`Flagger`] | Flagger canary and blue/green |
//! | `linear` | [`Linear`] | Spotify's Tsunami |
//! | `waves` | [`Waves`] | AWS one-box and zone waves |
//! | any + `[policy.window]` | [`Windowed`] | deploy windows |
//!
//! Gating policies judge with [`crate::analysis`]; every decision is an
//! [`Action::Note`] (a row of `events.csv`), and [`Policy::milestones`] gives
//! the summary its `detected_at_s` and `aborted_at_s`.

mod all_at_once;
mod blue_green;
mod canary;
pub mod common;
mod flagger;
mod linear;
mod rolling;
pub mod spec;
mod staged;
mod waves;
mod windowed;

pub use all_at_once::AllAtOnce;
pub use blue_green::BlueGreen;
pub use canary::Canary;
pub use flagger::Flagger;
pub use linear::Linear;
pub use rolling::{plan_rolling, resolve_fenceposts, Rolling, RollingPlan};
pub use staged::Staged;
pub use waves::Waves;
pub use windowed::Windowed;

pub use crate::protocol::{
    Action, ChangeMode, Cohort, CohortView, EndpointSample, GroupView, IntOrPercent, Milestones,
    Observation, Outcome, Sample, ZoneView,
};
use crate::time::SimDuration;
use spec::PolicySpec;

/// A rollout strategy: a pure state machine from observations to actions.
pub trait Policy {
    /// The strategy's name as scenario files write it (`rolling`).
    fn kind(&self) -> &'static str;

    /// How long a host must serve before it counts as available.
    fn min_ready(&self) -> SimDuration {
        SimDuration::ZERO
    }

    /// Called once per tick from the change's start until it returns a
    /// [`Action::Finish`]. Appends actions to `out`.
    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>);

    /// When the policy first saw a failing verdict and when it aborted
    /// (`summary.json`'s `detected_at_s` and `aborted_at_s`).
    fn milestones(&self) -> Milestones {
        Milestones::default()
    }
}

/// Builds the policy a scenario names, for `groups` groups.
pub fn build(spec: &PolicySpec, mode: ChangeMode, groups: usize) -> Box<dyn Policy + Send> {
    match spec {
        PolicySpec::Staged(s) => return Box::new(Staged::new(s.clone(), mode)),
        PolicySpec::BlueGreen(s) => return Box::new(BlueGreen::new(s.clone())),
        PolicySpec::Canary(s) => return Box::new(Canary::new(s.clone(), mode)),
        PolicySpec::Flagger(s) => return Box::new(Flagger::new(s.clone(), mode)),
        PolicySpec::Linear(s) => return Box::new(Linear::new(s.clone(), groups)),
        PolicySpec::Waves(s) => return Box::new(Waves::new(s.clone())),
        PolicySpec::Windowed { window, policy } => {
            return Box::new(Windowed::new(window.clone(), build(policy, mode, groups)))
        }
        _ => {}
    }
    match *spec {
        PolicySpec::AllAtOnce {} => Box::new(AllAtOnce::new(mode)),
        PolicySpec::Rolling {
            max_surge,
            max_unavailable,
            min_ready,
            progress_deadline,
        } => Box::new(Rolling::new(
            mode,
            groups,
            max_surge,
            max_unavailable,
            min_ready,
            progress_deadline,
        )),
        _ => unreachable!("built above"),
    }
}
