//! # shakedown-sim
//!
//! A deterministic discrete-event simulator of fleets under rollout, and the
//! policy engine that both the simulator and the live driver run.
//!
//! A tour, in the order data flows:
//!
//! - [`scenario`] — TOML text → validated [`scenario::Scenario`], with located errors.
//! - [`time`] — integer virtual time ([`time::SimTime`], [`time::SimDuration`]).
//! - [`rng`] — ChaCha streams forked per concern, keyed draws for common random numbers.
//! - [`dist`] — duration distributions (fixed, uniform, log-normal).
//! - [`traffic`] — offered load: curves, regions, spikes, replay, endpoint mix.
//! - [`faults`] — the fault catalogue: rules keyed on host attributes.
//! - [`sched`] — the (time, sequence)-ordered event queue.
//! - [`policy`] — rollout strategies as pure state machines (observations in, actions out).
//! - [`analysis`] — the judges policies gate on: Argo-style threshold analysis
//!   runs and the Kayenta statistical judge over observed scrapes.
//! - [`world`] — the fleet, its traffic and the policy, advanced tick by tick.
//! - [`record`] — the one result type every exporter writes from.
//! - [`stats`] — statistics for analysis judges.
//!
//! This crate is pure: no I/O, no wall clock, no threads, no global RNG
//! (enforced by `clippy.toml` and a test on `cargo tree`). Time is passed in;
//! randomness comes from the seed.

pub mod analysis;
pub mod chaos;
pub mod dist;
pub mod experiment;
pub mod faults;
pub mod fleet;
pub mod located;
pub mod policy;
pub mod protocol;
pub mod record;
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
