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
//!
//! ## One file per kind
//!
//! A kind's file reads top to bottom as what a scenario writes, what it
//! means, and what it does:
//!
//! 1. *as written*: the serde struct of its `[policy]` fields (`RawCanary`;
//!    unknown keys rejected), with the `window` every kind takes;
//! 2. *validated*: its spec (`CanarySpec`, every default resolved, printable
//!    back as TOML) and `validate`, which rejects what types cannot express
//!    with a located message;
//! 3. *the state machine*: a `State` enum, and a [`Policy::decide`] that only
//!    dispatches on the state to one method per state. A method returns
//!    [`common::Flow`]: `Next` runs the new state within the same tick (a
//!    step that finishes at once), `Wait` ends the tick.
//!
//! What several kinds share lives in [`spec`] (validation: the context,
//! counts and percentages, threshold checks, analysis references) and
//! [`common`] (mechanics: canary sizing, scaling a cohort, rolling promotion,
//! the way back after an abort). [`spec`] is also the registry of kinds:
//! [`spec::RawPolicy`] and [`PolicySpec`] list them and `spec::validate`
//! hands each raw table to its kind.
//!
//! ## Adding a policy kind
//!
//! 1. Write `NAME.rs`: `RawName`, `NameSpec`, `RawName::validate`, the state
//!    machine and its `Policy` impl; declare it below (`mod NAME;`, and
//!    `pub use` the strategy).
//! 2. Register it: a variant in [`spec::RawPolicy`] and in [`PolicySpec`], an
//!    arm in `spec::validate`, in [`PolicySpec::kind`] and in [`build`].
//!    The compiler points at each match that misses it.
//! 3. Document it: the table above, the kinds listed by the scenario
//!    loader's "missing field `kind`" message (`scenario/mod.rs`), the
//!    README's list of policies, and an example in `scenarios/policies/`
//!    (added to the outcomes `sim/tests/policies.rs` expects of each).

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
pub use rolling::{
    cleanup_unhealthy, max_scaled_down, new_replicas_to_add, plan_rolling, resolve_fenceposts,
    scale_down_old, Rolling, RollingPlan, Terminating,
};
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

/// Builds the policy a scenario names, for `groups` groups: the registry of
/// state machines, one arm per kind.
pub fn build(spec: &PolicySpec, mode: ChangeMode, groups: usize) -> Box<dyn Policy + Send> {
    match spec {
        PolicySpec::AllAtOnce {} => Box::new(AllAtOnce::new(mode)),
        &PolicySpec::Rolling {
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
        PolicySpec::Staged(s) => Box::new(Staged::new(s.clone(), mode)),
        PolicySpec::BlueGreen(s) => Box::new(BlueGreen::new(s.clone())),
        PolicySpec::Canary(s) => Box::new(Canary::new(s.clone(), mode)),
        PolicySpec::Flagger(s) => Box::new(Flagger::new(s.clone(), mode)),
        PolicySpec::Linear(s) => Box::new(Linear::new(s.clone(), groups)),
        PolicySpec::Waves(s) => Box::new(Waves::new(s.clone())),
        PolicySpec::Windowed { window, policy } => {
            Box::new(Windowed::new(window.clone(), build(policy, mode, groups)))
        }
    }
}
