//! Live mode for shakedown: real containers, a draining router and an
//! open-model load generator, driven by the sim crate's policy engine.
//!
//! - [`live`] — the scenario's `[live]` table, validated with located errors.
//! - [`clock`] — wall time scaled into the scenario time policies see.
//! - [`driver`] — the policy engine's environment for real containers.
//! - [`docker`] — containers, chaos primitives, labels and label-based cleanup.
//! - [`labels`] — labels on what a run creates, and the process that owns it.
//! - [`reaper`] — cleanup after a run whose process died (watchdog, `gc`).
pub mod clock;
pub mod docker;
pub mod driver;
pub mod image;
pub mod image_ref;
pub mod labels;
pub mod live;
pub mod load;
pub mod reaper;
pub mod router;
