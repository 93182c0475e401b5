//! # shakedown-sim
//!
//! A deterministic discrete-event simulator of fleets under rollout, and the
//! policy engine that both the simulator and the live driver run.
//!
//! A tour, bottom layer first (each module uses only those above it in
//! this list; `tests/layers.rs` checks it):
//!
//! - [`time`], [`located`], [`restart`], [`fleet`], [`protocol`] —
//!   vocabulary: integer virtual time; errors that name file, line, column
//!   and field; restart policies (crash-loop back-off); the fleet's shape;
//!   what a policy observes and the actions it answers with.
//! - [`rng`] — ChaCha streams forked per concern, keyed draws for common random numbers.
//! - [`dist`] — duration distributions (fixed, uniform, log-normal).
//! - [`record`] — the one result type every exporter writes from.
//! - [`sched`] — the (time, sequence)-ordered event queue.
//! - [`stats`] — statistics for analysis judges.
//! - [`traffic`], [`faults`], [`chaos`] — offered load; the fault
//!   catalogue keyed on host attributes; scheduled chaos.
//! - [`autoscale`] — a HorizontalPodAutoscaler per role, as a pure state
//!   machine the harness drives.
//! - [`analysis`] — the judges policies gate on: Argo-style threshold analysis
//!   runs and the Kayenta statistical judge over observed scrapes.
//! - [`policy`] — rollout strategies as pure state machines, one file per kind.
//! - [`scenario`] — TOML text → validated [`scenario::Scenario`], with located errors.
//! - [`rollout`] — the harness: the policy, its actions, the audit log,
//!   monitoring and the summary, over any [`rollout::Environment`].
//! - [`world`] — the simulated environment: hosts, events, traffic, faults.
//! - [`experiment`] — Monte Carlo comparisons and sweeps over seeds, and the
//!   calibration lab for analysis gates.
//!
//! This crate is pure: no I/O, no wall clock, no threads, no global RNG
//! (enforced by `clippy.toml` and a test on `cargo tree`). Time is passed in;
//! randomness comes from the seed.

pub mod analysis;
pub mod autoscale;
pub mod chaos;
pub mod dist;
pub mod experiment;
pub mod faults;
pub mod fleet;
pub mod located;
pub mod policy;
pub mod protocol;
pub mod record;
pub mod restart;
pub mod rng;
pub mod rollout;
pub mod scenario;
pub mod sched;
pub mod stats;
pub mod time;
pub mod traffic;
pub mod world;

/// The version written into every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use record::RunRecord;
pub use scenario::{Scenario, ScenarioError};
pub use world::{run, run_with_chaos, run_with_policy, RunOptions};
