//! # shakedown-reports
//!
//! Writers for the one result type, [`shakedown_sim::RunRecord`]: each format
//! is a function from records to bytes, and [`write_atomic`] puts a set of
//! rendered files into a directory so that a reader never sees half of them.
//!
//! - [`json`] — `summary.json`
//! - [`csv`] — `timeseries.csv`, `events.csv`
//! - [`markdown`] — a summary fit for a pull request
//! - [`impact`] — the users' verdict (SLO, harm due to the change) in words
//! - [`html`] — a self-contained page with plots, for design reviews
//! - [`calibrate`] — the calibration lab: power curves, the power calculator
//! - [`compare`] — experiments (`compare`, `sweep`): rows, manifest, `summary.json`, Markdown, HTML
//! - [`plots_experiment`] — plots across seeds: CDFs per group, Pareto frontiers
//! - [`gate`], [`junit`] — the CI gate's Markdown table and JUnit XML
//! - [`live`] — live mode's `summary.json`, `requests.csv`, `latency.hdr`

pub mod calibrate;
pub mod compare;
pub mod csv;
pub mod gate;
pub mod html;
pub mod impact;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod plots;
pub mod plots_experiment;
pub mod sim_vs_live;
mod write;

pub use write::{is_output_name, update_atomic, write_atomic, Output};
